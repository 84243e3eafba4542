/* preprocess_internal.h -- what the preprocessing's steps share.
 *
 * The pipeline (preprocess.c drives it; see the overview there) is split
 * by step: preprocess_paper (compositing, polarity), preprocess_contrast
 * (background, contrast, thresholds), preprocess_components (which ink is
 * the digit), preprocess_crop (the intensity crop, stroke widening),
 * preprocess_ring (a ring or box drawn round the digit) and
 * preprocess_render (deskewing, scaling, placing in 28x28). This header
 * holds the few tuning constants more than one step reads, so that each
 * is set in one place. Nothing here is for use outside the pipeline.
 *
 * Conventions of the steps' functions. An int result is a status unless
 * its comment calls it a level, a factor or a flag; a status is 0, or -1
 * when out of memory. Flags that allocate meet out-of-memory one of two
 * ways: skip_shaded_field, find_ring and find_frame return -1;
 * encloses_strokes, holds_written_sheet and ink_is_dark return 0, as if the
 * test failed. Every buffer comes from the call's arena, so nothing is left
 * to free on any path. Pictures are row-major bytes, w x h, with no padding
 * between rows.
 *
 * All levels are on a 0..255 scale. What the steps compute must stay the
 * same bit for bit under work on their speed: see "A note on speed" in
 * preprocess.c.
 */
#ifndef DIGITS_PREPROCESS_INTERNAL_H
#define DIGITS_PREPROCESS_INTERNAL_H

#include "arena.h"
#include "histogram.h"
#include "preprocess.h"
#include "rect.h"

#include <stddef.h>
#include <stdint.h>

/* The digit's longest side in the MNIST frame. */
#define BOX_SIDE 20

/* Ink must stand at least this far above the paper (grey levels) somewhere
 * to be read by default: faint sensor noise and JPEG-ish mush stay under. */
#define MIN_CONTRAST 40

/* Polarity from the border median: clearly light paper at LIGHT_PAPER and
 * above (preprocess_paper.c has the rest of the rule). */
#define LIGHT_PAPER 160

/* Below this size (either side) a picture is a crop of the digit, as
 * MNIST's are: a background map would have too few pixels per tile to mean
 * anything, and the rules for desks, sheets, ruled lines, margins and
 * specks do not apply. */
#define MIN_SIDE_FOR_MAP 48

/* Anti-aliasing fringe kept around the thresholded strokes (source px). */
#define FRINGE_PX 2

/* Steps most pictures never take are kept out of line: inlined into the
 * pipeline, they slowed ordinary uploads by 5-12% (code layout, in
 * tests/bench/preprocess_speed). A step in a file of its own is out of
 * line anyway; this marks the rare helpers within a file. GCC and clang
 * both know the attribute. */
#define RARELY_TAKEN __attribute__((noinline))

/* M_PI is not ISO C. */
#define PI 3.14159265358979323846

#endif
