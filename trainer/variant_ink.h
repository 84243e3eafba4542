/* variant_ink.h -- what the variant styles draw with: ink maps and canvases.
 *
 * An ink map is a digit as single-channel coverage, 0 = no ink, 1 = full
 * ink: the styles (variant_styles.c) enlarge, threshold, thicken, thin and
 * place the 28x28 MNIST digit as one. A canvas is the picture a style ends
 * with, straight-alpha RGBA in 0..1: ink painted over paper, then ruled
 * lines, light and noise; variant_png.h encodes it. Part of
 * "digits-trainer variants" (variants.h); nothing here is for use outside
 * the variant modules.
 *
 * Maps and canvases are row-major, w x h, with no padding between rows.
 * Functions that fill a map or canvas of their own (dst, out, c) allocate
 * it and return 0, or -1 when out of memory with nothing allocated; the
 * caller frees it with ink_free / canvas_free. Functions that change a map
 * in place and return int return 0, or -1 when out of memory with the map
 * unchanged.
 */
#ifndef DIGITS_VARIANT_INK_H
#define DIGITS_VARIANT_INK_H

#include <stddef.h>

#include "rng.h"

/* ---- values ------------------------------------------------------------ */

/* v limited to [lo, hi]. */
double variant_clamp(double v, double lo, double hi);

/* v rounded to a multiple of 2^-24. Whether the compiler fuses a * b + c
 * into one FMA changes results in the last bit; snapping every value that
 * is later compared with a threshold or quantised makes the PNGs the same
 * bytes from gcc and clang, -O1 and -O3, not only from one binary. */
double variant_snap(double v);

/* The luma (0.299 R + 0.587 G + 0.114 B) of the colour p[0..2], snapped:
 * a canvas pixel's or a paper or pen colour's grey level. */
double variant_luma(const double *p);

/* ---- ink maps ---------------------------------------------------------- */

typedef struct {
    int w, h;
    double *v;      /* w * h coverages, 0..1 */
} inkmap;

/* A w x h map with no ink. */
int ink_alloc(inkmap *m, int w, int h);

/* Frees m's pixels; m->v becomes NULL, so a second call does nothing. */
void ink_free(inkmap *m);

/* Maps the source rectangle [x0, x0 + sw) x [y0, y0 + sh) (pixel edges) of
 * src onto a new dw x dh map, dst, by bilinear interpolation, with no ink
 * outside the source; every value is snapped. Only ever used to enlarge,
 * where bilinear is what a photo or a canvas scaling gives anyway. */
int ink_resize(const inkmap *src, double x0, double y0, double sw, double sh, int dw,
               int dh, inkmap *dst);

/* Every value at t or above becomes 1, every other 0. */
void ink_threshold(inkmap *m, double t);

/* Grey-level dilation (max, dilate != 0) or erosion (min, dilate == 0) of
 * src over a disc of radius r (dx^2 + dy^2 <= r^2 + r), into a new map of
 * src's size, dst; outside src counts as no ink. What a fatter or thinner
 * round pen would have drawn along the same path. */
int ink_morph(const inkmap *src, int r, int dilate, inkmap *dst);

/* A [1 2 1] / 4 blur in each direction, in place, outside the map counting
 * as no ink: thresholded strokes get the one-pixel anti-aliased edge every
 * real drawing program or scanner gives them. */
int ink_soften(inkmap *m);

/* The bounding box (inclusive) of every pixel with any ink. Returns 0, or
 * -1 for a blank map. */
int ink_bbox(const inkmap *m, int *x0, int *y0, int *x1, int *y1);

/* The digit's ink box scaled into a new map, out, so its longest side is
 * `side` pixels (each side at least 1), aspect kept: how a user draws a
 * digit of a given size. -1 also for a digit with no ink. */
int ink_scaled_digit(const inkmap *digit, int side, inkmap *out);

/* A new w x h map, dst, holding src with its top left at (ox, oy); what
 * falls outside is cut off. */
int ink_place(const inkmap *src, int w, int h, int ox, int oy, inkmap *dst);

/* Zhang-Suen thinning of a 0/1 map, in place: strokes are peeled one pixel
 * at a time from alternate sides, never removing a pixel that joins two
 * parts of a stroke or ends one, until every stroke is one pixel wide --
 * the path the pen took, still connected wherever the strokes were. (Its
 * one known loss: a speck of 2x2 pixels or a 2-pixel-thick diagonal dash
 * vanishes whole, which at 4x is a dot under a pixel of MNIST's.) */
int ink_skeleton(inkmap *m);

/* dst becomes the pixelwise maximum of dst and src, which has dst's size. */
void ink_max_into(inkmap *dst, const inkmap *src);

/* ---- canvases ---------------------------------------------------------- */

typedef struct {
    int w, h;
    double *px;     /* w * h * 4: straight-alpha RGBA, 0..1 but for added
                       noise (the encoder clamps) */
} canvas;

/* A w x h canvas of transparent black (0, 0, 0, 0). */
int canvas_alloc(canvas *c, int w, int h);

/* Frees c's pixels; c->px becomes NULL, so a second call does nothing. */
void canvas_free(canvas *c);

/* A new canvas of ink's size, c: opaque paper with the pen's colour laid
 * over it by coverage (clamped to 0..1). */
int canvas_paint(canvas *c, const inkmap *ink, const double paper[3], const double pen[3]);

/* Sensor noise: one normal draw of the given sigma per pixel from r, added
 * to all three colour channels alike (grey grain, not colour speckle);
 * alpha is untouched and nothing is clamped (the encoder clamps). */
void canvas_add_grey_noise(canvas *c, double sigma, rng *r);

#endif
