/* preprocess.h -- turn any user picture into what MNIST looks like.
 *
 * MNIST digits are light ink on a black background, size-normalised so the
 * longest side of the digit fits a 20x20 box (aspect ratio kept, anti-aliased)
 * and centred by centre of mass in a 28x28 frame. A photo or a canvas export
 * is none of that, so every image, in training and in serving alike, goes
 * through preprocess_to_mnist() before the network sees it.
 */
#ifndef DIGITS_PREPROCESS_H
#define DIGITS_PREPROCESS_H

#include <stdint.h>

#include "image.h"

#define MNIST_SIDE 28
#define MNIST_PIXELS (MNIST_SIDE * MNIST_SIDE)

typedef enum {
    PREPROCESS_OK = 0,
    PREPROCESS_BLANK,      /* no ink found: nothing to classify */
    PREPROCESS_BAD_INPUT,  /* unsupported channel count or empty image */
    PREPROCESS_NO_MEMORY,
    PREPROCESS_FAINT,      /* only ink fainter than 40 grey levels, which read_faint would
                              read, and it was not set */
} preprocess_status;

/* What the pipeline decided, for observability (?explain=1, --dump). Only
 * PREPROCESS_OK fills it all; on other statuses its fields mean nothing. */
typedef struct {
    int inverted;          /* 1 when the source had dark ink on a light background */
    int box_x, box_y;      /* the digit's bounding box in source pixels */
    int box_w, box_h;
    float background;      /* estimated paper level, 0..255 grey (after compositing) */
    float threshold;       /* the ink/paper threshold chosen, 0..255 */
    float skew;            /* horizontal shear removed by deskewing (dx per dy), 0 if off */
    int shadow;            /* 1 when the background followed a hard shadow's edge */
    int faint;             /* 1 when faint ink was read (see read_faint) */
    int ring;              /* 1 when a ring or box drawn round the digit was taken out */
    int field;             /* 1 when a shaded field behind the ink was taken for paper */
} preprocess_info;

/* Choices that change what the network sees. deskew is the model's: a model
 * is trained with it on or off and must be served the same way, so models
 * record it by name. read_faint is the caller's, per picture, and no part of
 * the name.
 *
 * read_faint: ink must normally stand 40 grey levels above the paper. With
 * read_faint, ink down to 12 levels (pencil in a dim photo, yellow ink) is
 * read where the paper is quiet and the ink has the shape of written strokes;
 * without it such a picture is PREPROCESS_FAINT, so that the caller can say
 * what to do. It is not the default because at that depth a faint ring, a
 * printed box, a stray line or a logo has the shape of strokes too, and a
 * picture holding one and no digit would be read as a digit. */
typedef struct {
    int deskew;            /* shear the digit upright by its second moments */
    int read_faint;        /* read ink down to 12 grey levels (see above) */
} preprocess_options;

/* The options a model's "input_pipeline" metadata stands for: "preprocess"
 * (no deskew) or "preprocess-deskew". NULL (no entry) and "raw" (trained on
 * MNIST as it comes) give the defaults, since user pictures must still be
 * made to look like MNIST. Returns -1 for a name this build does not know. */
int preprocess_options_from_name(const char *name, preprocess_options *opts);
const char *preprocess_options_name(const preprocess_options *opts);

const char *preprocess_status_text(preprocess_status status);

/* Converts a decoded image (1 to 4 channels, as image.h) into a 28x28 MNIST-
 * style image: out[y * 28 + x] in 0..255, 0 = background, 255 = full ink.
 * info may be NULL. */
preprocess_status preprocess_to_mnist(const image *src, uint8_t out[MNIST_PIXELS],
                                      preprocess_info *info);

/* The same with explicit options (preprocess_to_mnist uses none set). */
preprocess_status preprocess_to_mnist_with(const image *src, const preprocess_options *opts,
                                           uint8_t out[MNIST_PIXELS], preprocess_info *info);

#endif
