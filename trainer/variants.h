/* variants.h -- user-style renderings of MNIST test digits.
 *
 * MNIST digits are white-on-black, 28x28 and centred; uploads are not. To
 * measure how the service copes with what users actually send, each MNIST
 * *test* digit (never a training digit, so the measure stays honest) can be
 * redrawn in one of several styles -- dark ink on paper, a thin pen, a fat
 * marker, a small digit off in a corner, a transparent canvas export,
 * coloured ink, a badly lit photo, chalk on a board -- and saved as a PNG.
 * The styles between them save eight PNG layouts (grey 8 and 16-bit, grey
 * with alpha, RGB 8 and 16-bit, Adam7, RGBA, 4-bit palette), so the set
 * also exercises the decoder.
 *
 * Rendering is deterministic: the same digit, style and seed always give the
 * same PNG bytes.
 */
#ifndef DIGITS_VARIANTS_H
#define DIGITS_VARIANTS_H

#include <stddef.h>
#include <stdint.h>

#include "idx.h"
#include "variant_styles.h"

#define VARIANTS_MAX_COUNT 10000   /* per style: the size of the MNIST test set */

/* The styles (variants_style_count, _name, _find) and one digit's
 * rendering (variants_render_png) are declared, with their contracts, in
 * variant_styles.h; the set of them is this header's own. */

/* Writes count renderings per style of test digits chosen by the seed
 * (without repeats within a style) into out_dir/<style>/<style>_NNNN.png and
 * out_dir/labels.csv (file,label,source,t10k_index), and each digit as MNIST
 * has it (28x28 grey) under the same name in out_dir/mnist/, with its own
 * labels.csv: what the model reads before any restyling. A smaller count
 * gives a prefix of a larger one; run into the folder of a larger one, it
 * removes that run's pictures past its own count (in both folders), so
 * each folder holds what its labels.csv lists. Returns 0, or -1 with a
 * message in err. */
int variants_write_set(const idx_images *images, const idx_labels *labels, const char *out_dir,
                       int count, uint64_t seed, char *err, size_t err_len);

#endif
