/* preprocess_crop.h -- step 5: the digit as a crop of ink intensities.
 *
 * The kept ink plus its anti-aliased fringe becomes a 0..1 intensity
 * crop, mapped from the contrast by a ramp (paper at its floor, the full
 * stroke at its core). Strokes too thin to survive the reduction to 20 px
 * (a 2 px pen on a 600 px canvas) are widened to a thin MNIST pen with a
 * distance transform, so they do not fade to a faint 1 px trace.
 */
#ifndef DIGITS_PREPROCESS_CROP_H
#define DIGITS_PREPROCESS_CROP_H

#include "preprocess_internal.h"
#include "preprocess_components.h"

/* A float image with its placement in source coordinates. */
typedef struct {
    int x0, y0;      /* source coordinates of pixel (0, 0) */
    int w, h;
    float *v;        /* 0..1 ink intensity */
    uint8_t *seed;   /* 1 where a kept seed pixel lies (NULL after deskewing) */
} crop;

/* Levels mapping contrast to intensity: at or below floor is paper, at or
 * above core is the full stroke, anti-aliased edges fall in between. */
typedef struct {
    double floor, core;
} ink_ramp;

/* A zeroed crop; seed only when with_seed. */
int crop_alloc(crop *c, int x0, int y0, int w, int h, int with_seed, arena *mem);

/* The ramp for the kept ink (reads comp[].keep). floor: twice the median
 * contrast of non-ink pixels, at most threshold / 2, i.e. just above the
 * paper noise (zero for clean images such as MNIST, whose faint fringes are
 * then kept). core: the 90th percentile of the kept strokes, so a pencil's
 * uneven core still reaches full intensity; at least floor + 1. Non-ink
 * pixels are exactly
 * those with d <= threshold, so their histogram is part of d's. */
ink_ramp choose_ramp(const uint8_t *d, int w, const components *c,
                     const uint32_t dhist[256], int threshold);

/* The box of the pixels with ink (v > 0), empty when there are none. Rows
 * are ORed into per-column flags, and each row into one flag, in loops
 * without branches. */
int crop_ink_box(const crop *cr, arena *mem, rect *box);

/* Chebyshev dilation of the seed mask by FRINGE_PX: columns, then rows,
 * each pass ORing shifted copies of the whole mask held between zero
 * padding, in loops that vectorise. A row shift reads into the neighbouring
 * row at the ends, which is harmless here: the crop keeps a FRINGE_PX
 * margin around every seed, so those pixels are never seeds. */
int fringe_mask(const crop *cr, uint8_t *out, arena *mem);

/* Fills cr (already placed over the kept ink plus the fringe margin) with
 * intensities: seeds, and fringe pixels within FRINGE_PX (Chebyshev) of a
 * seed. Also returns what the stroke width needs: the sum of the
 * intensities in row-major order (zeros, which cannot change it, skipped)
 * and the box of the pixels with ink. Also writes cr->seed with the kept
 * seeds (cr allocated with_seed). */
int fill_crop(crop *cr, const uint8_t *d, const components *c, int src_w, int src_h,
              ink_ramp ramp, arena *mem, double *area_out, rect *ink_out);

/* Number of 4-neighbour seed/non-seed edges, the crop's frame counting as
 * non-seed. Counted over the whole mask at once, as long byte loops that
 * vectorise: horizontal neighbours pair across row ends too, which the
 * frame term per row then corrects. */
size_t seed_edges(const crop *cr);

/* Mean stroke width in pixels: twice the ink area over the outline length.
 * The outline is counted as 4-neighbour seed/non-seed edges, which over-
 * counts a curve's length by 4/pi on average, hence the correction. */
double stroke_width(double area, size_t edges);

/* Widens every stroke by r pixels on each side with a round pen, anti-
 * aliased: a pixel's coverage falls from 1 to 0 over the pixel at distance
 * r + 0.5 beyond the seed outline. */
int widen_strokes(crop *cr, double r, arena *mem);

/* The widening radius (source px) needed so the strokes come out at least
 * MIN_STROKE_OUT wide once the box's long side, itself grown by 2r, is
 * scaled to BOX_SIDE. Solved for r in closed form. 0 when the strokes are
 * wide enough, or would gain under MIN_WIDEN_OUT output px a side. */
double widen_radius(double width, int box_long);

#endif
