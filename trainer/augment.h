/* augment.h -- fresh distortions of the training digits, every epoch.
 *
 * Users do not write like MNIST's writers: their digits lean, stretch, wobble
 * and come from pens much thinner or much thicker than MNIST's. Each epoch,
 * every training digit is redrawn with a random affine transform (rotation,
 * anisotropic scale, shear), a smooth elastic displacement field (after
 * Simard et al. 2003) and a random change of stroke thickness, at 1.5
 * times MNIST's resolution, and some are made coarse, as a low-resolution
 * capture would show them. Then each is sent through
 * preprocess_to_mnist() -- the very code the server runs on uploads, so
 * training and serving inputs come out of one pipeline.
 *
 * Randomness is drawn from an RNG seeded by (seed, epoch, sample index), so
 * the result does not depend on how the work is split across threads.
 */
#ifndef DIGITS_AUGMENT_H
#define DIGITS_AUGMENT_H

#include <stdint.h>

#include "preprocess.h"
#include "train.h"

#define AUGMENT_SIDE 42                 /* working resolution: 1.5x MNIST */

typedef enum {
    AUGMENT_NONE = 0,       /* raw MNIST pixels, as the seed tutorial did */
    AUGMENT_PREPROCESS,     /* MNIST through preprocess_to_mnist(), no distortion */
    AUGMENT_FULL,           /* affine + elastic + thickness (+ coarse), then preprocess */
} augment_mode;

typedef struct {
    float rotate_degrees;   /* rotation uniform in +-this */
    float scale;            /* x and y scale each uniform in 1 +- this */
    float shear;            /* horizontal shear uniform in +-this */
    float elastic_pixels;   /* elastic displacement amplitude, in MNIST pixels */
    int elastic_grid;       /* control points per side of the displacement field */
    float thin_probability; /* chance of eroding strokes by one working pixel */
    float thick_probability;/* chance of dilating strokes... */
    int max_thicken;        /* ...by 1..max_thicken working pixels */
    float fill_probability; /* chance of stretching the digit towards a square box */
    float max_fill_stretch; /* largest stretch of one axis when filling */
    float cross_seven_probability; /* chance of giving a 7 a European crossbar */
    float slash_zero_probability;  /* chance of slashing a 0 */
    float hook_nine_probability;   /* chance of hooking a 9's tail to the left */
    float flag_one_probability;    /* chance of giving a 1 a long flag, down to the left */
    float coarse_probability;      /* chance of a half-resolution capture, pixels doubled */
} augment_config;

void augment_config_defaults(augment_config *cfg);

/* "none", "preprocess" or "full"; returns -1 for anything else. */
int augment_parse_mode(const char *text, augment_mode *mode);
const char *augment_mode_name(augment_mode mode);

/* Draws one distorted copy of a 28x28 MNIST digit (ink bright) as an
 * AUGMENT_SIDE^2 grey image, ink bright. label is the digit's class: the
 * only class-specific changes are the crossbar some 7s get, the slash
 * some 0s get, the hook some 9s get and the flag some 1s get. */
void augment_digit(const uint8_t *mnist28, int label, const augment_config *cfg, uint64_t seed,
                   uint8_t *out);

/* Writes count images of 784 bytes to out: src sent through the pipeline of
 * `mode` for the given epoch, using `threads` threads. Images for which
 * preprocessing finds no ink (never for real MNIST digits) are copied raw.
 * Returns 0, or -1 when memory runs out. */
int augment_dataset(const dataset *src, augment_mode mode, const augment_config *cfg,
                    const preprocess_options *popts, uint64_t seed, int epoch, int threads,
                    uint8_t *out);

/* Background production of the next epoch's images while the current epoch
 * trains (double buffering). */
typedef struct augmenter augmenter;

augmenter *augmenter_start(const dataset *src, augment_mode mode, const augment_config *cfg,
                           const preprocess_options *popts, uint64_t seed, int threads);
/* Blocks until the images of `epoch` (1-based, called in order) are ready and
 * starts on epoch + 1 in the background. The dataset stays valid until the
 * next call. Returns NULL on failure. */
const dataset *augmenter_epoch(augmenter *a, int epoch);
void augmenter_stop(augmenter *a);

#endif
