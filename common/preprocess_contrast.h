/* preprocess_contrast.h -- step 3: how far each pixel stands above the paper.
 *
 * Turns the composited grey picture v into the ink contrast d (0 = paper):
 * over a flat paper level when the paper is evenly lit, else over a coarse
 * background map, raised to follow the edge of a hard shadow. Then the
 * levels read off d's histogram: the ink's peak and Otsu's threshold for
 * the seeds, for faint ink too, and above a shaded field or highlighter
 * band behind the digit. On entry v is grey with the ink dark or light
 * (flip 0 or 255: v ^ flip is the picture with the ink bright).
 */
#ifndef DIGITS_PREPROCESS_CONTRAST_H
#define DIGITS_PREPROCESS_CONTRAST_H

#include "preprocess_internal.h"

/* The paper's level (ink-bright scale) over a grid of square tiles. */
typedef struct {
    int cols, rows, tile;
    float *level;   /* cols * rows, paper level at each tile centre */
} bg_map;

/* Contrast levels derived from the histogram of d. */
typedef struct {
    int peak;       /* robust maximum contrast */
    int threshold;  /* seeds are d > threshold */
} contrast_levels;

/* Fills *m (m->level from mem): tiles of max(MIN_TILE, longer side /
 * TILES_ACROSS) px, each at the TILE_PAPER_QUANTILE level of v ^ flip
 * there, then a 3x3 median over neighbouring tiles. Only for images of at
 * least MIN_SIDE_FOR_MAP on both sides: smaller ones have a flat
 * background (see contrast_flat). 0, or -1 when out of memory. */
int build_bg_map(const uint8_t *v, uint8_t flip, int w, int h, bg_map *m, arena *mem);

/* 1 when the paper is evenly lit, so that a flat level serves and a map
 * would only hollow out thick strokes (see preprocess_contrast.c); 1 also
 * when no border run is a quarter paper. paper: the paper level decided
 * (the border median, or the picture's or a sheet's); ink: the ink's
 * extreme grey level; ink_dark: the polarity decided (1 for dark ink on
 * light paper). */
int border_is_even(const uint8_t *v, int w, int h, int paper, int ink, int ink_dark);

/* The ink's extreme level: the level of the darkest (or lightest) pixels,
 * as many as half the picture's longer side. Any digit has more pixels than
 * that (its strokes alone are taller), while a shadow across a big photo
 * can have far more than a fixed fraction of the picture: a thin digit in
 * a 1600 x 1200 photo is under 0.1% of it, and a fraction-based level would
 * land on the shadow and take the shadow for ink. */
int ink_extreme_level(const uint32_t hist[256], size_t n, int w, int h, int ink_dark);

/* The opening of the ink-bright picture v ^ flip by a square of 2 *
 * m->tile + 1 px, in *floor; NULL there when it reaches SHADOW_MAX_SHARE of
 * the way from the lightest paper of the map to the ink (ink-bright
 * level), and also, without computing anything, when no two neighbouring
 * tiles differ by SHADOW_MIN_STEP. -1 when out of memory. */
int shadow_floor(const uint8_t *v, uint8_t flip, int w, int h, const bg_map *m, int ink,
                 arena *mem, const uint8_t **floor);

/* Replaces v by its contrast over the bilinearly interpolated tile levels,
 * raised to the shadow floor where that is higher (floor NULL: none).
 * The interpolation is computed with the same expressions in the same
 * operand order as the former per-pixel version, but its per-column and
 * per-row parts once, and along runs of columns between the same two tile
 * centres, which lets the compiler vectorise it. */
int subtract_background(uint8_t *v, uint8_t flip, int w, int h, const bg_map *m,
                        const uint8_t *floor, arena *mem);

/* Where the background is flat (under MIN_SIDE_FOR_MAP a side, or
 * border_is_even), replaces v by max(v ^ flip - level, 0), level being the
 * paper level on the ink-bright scale, and fills dhist from vhist. (The old
 * one-tile map interpolated to exactly (float)level everywhere, and with
 * an integer pixel and level the rounding is exact, so the contrast is a
 * saturating byte difference.) */
void contrast_flat(uint8_t *v, uint8_t flip, size_t n, int level,
                   const uint32_t vhist[256], uint32_t dhist[256]);

/* From d's histogram (n pixels): the peak, ignoring the few hottest
 * pixels, and Otsu's threshold kept between max(floor, peak / 4) and 3/5 of
 * the peak (Otsu drifts into the paper's noise when the ink is a sliver). */
contrast_levels choose_levels(const uint32_t hist[256], size_t n, int floor);

/* Levels for ink under MIN_CONTRAST, or 0 when there is none to read: the
 * peak is within the paper's noise. Seeds then start at twice the noise
 * quantile or above, where noise alone gives isolated pixels at most. lv:
 * choose_levels' result on the same histogram; replaced on 1, unchanged
 * on 0. */
int faint_levels(const uint32_t hist[256], size_t n, contrast_levels *lv);

/* When d holds a shaded field behind the ink (a form's grey box, a
 * highlighter band: see step 3b in preprocess_contrast.c), raises the seed
 * threshold above it, sets *ramp_floor to the field's top level and returns 1;
 * else returns 0 and changes nothing; -1 when out of memory. */
int skip_shaded_field(const uint8_t *d, int w, int h, const uint32_t dhist[256], arena *mem,
                      contrast_levels *lv, int *ramp_floor);

#endif
