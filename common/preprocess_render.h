/* preprocess_render.h -- step 6: the crop into the 28x28 frame.
 *
 * Optionally shears the digit upright by its second moments (deskewing),
 * then scales its box to BOX_SIDE px on the longest side by exact area
 * averaging (bilinear when enlarging) and places it by centre of mass in
 * the 28x28 frame, as MNIST was made.
 */
#ifndef DIGITS_PREPROCESS_RENDER_H
#define DIGITS_PREPROCESS_RENDER_H

#include "preprocess_internal.h"
#include "preprocess_crop.h"

/* The ink of cr inside box (non-empty, in crop pixels), its longest side
 * scaled to BOX_SIDE, placed by centre of mass in out (MNIST_PIXELS bytes,
 * ink bright). PREPROCESS_OK; PREPROCESS_BLANK when no pixel is left above
 * 0 after scaling and rounding; PREPROCESS_NO_MEMORY. out is meaningful
 * only on OK. */
preprocess_status render_mnist(const crop *cr, rect box, uint8_t out[MNIST_PIXELS],
                               arena *mem);

/* Shears cr's ink upright (mu11 = 0) about its centre of mass, replacing cr
 * (whose seed mask is then NULL) and *box. *skew_out: the slant found,
 * mu11 / mu02 in pixels across per pixel down, within +-MAX_SKEW; it is
 * set even under MIN_SKEW, when cr and *box are left as they were, but not
 * on the BLANK returns. PREPROCESS_OK; PREPROCESS_BLANK when the box holds
 * no ink, before or after shearing; PREPROCESS_NO_MEMORY. */
preprocess_status deskew_crop(crop *cr, rect *box, float *skew_out, arena *mem);

#endif
