/* preprocess_components.h -- step 4: which ink is the digit.
 *
 * The seeds (d above the threshold) less a ruled page's lines, as
 * 8-connected components found on runs; then what is not the digit is
 * marked: the desk, margins and cut-off neighbours at the picture's edge, a
 * printed box round the digit, an underline, and specks far smaller than
 * the digit and not near it; and whether faint seeds are written strokes
 * (faint_ink_is_strokes).
 */
#ifndef DIGITS_PREPROCESS_COMPONENTS_H
#define DIGITS_PREPROCESS_COMPONENTS_H

#include "preprocess_internal.h"

/* Components are found on runs (maximal horizontal spans of seed pixels,
 * d > threshold) joined with a union-find when they touch a run of the row
 * above, 8-connected. The set of components and their mass, size and box
 * are what a pixel flood fill gives; only their numbering could differ, and
 * nothing downstream depends on it. */
typedef struct {
    int y, x0, x1;    /* seed pixels x0..x1 (inclusive) of row y */
    uint32_t comp;    /* union-find parent while labelling, then component */
} run;

/* keep: 0 until select_components; then 2 = big (part of the digit), 1 = a
 * smaller piece near them, 0 = not kept. clutter: nonzero when not the
 * digit (2: an edge fragment, unless it comes near the clear ink). */
typedef struct {
    double mass;    /* sum of contrast over the component */
    size_t pixels;
    size_t edge_pixels;   /* of them, on the picture's outermost rows and columns */
    rect box;
    int keep;
    int clutter;    /* not the digit: a desk, a margin, a neighbour, a printed box */
} component;

typedef struct {
    run *runs;
    size_t n_runs;
    component *comp;    /* comp[0] unused; components are 1-based */
    size_t n_comp;
    uint8_t *seeds;     /* 1 where d > threshold, less a ruled page's lines:
                           the pixels the runs cover, over the whole image */
} components;

/* The seeds of d (d > threshold), less a ruled page's lines (on pictures
 * of at least MIN_SIDE_FOR_MAP a side), as 8-connected components with
 * their mass, size, edge contact and box; none kept yet. */
int label_components(const uint8_t *d, int w, int h, int threshold, arena *mem,
                     components *c);

/* First marks comp[].clutter (on pictures of at least MIN_SIDE_FOR_MAP a
 * side: a frame round other ink, an underline, a desk or margin at the
 * edge), then decides comp[].keep among the rest: 2 = big (part of the
 * digit), 1 = kept small piece. Several big strokes are all kept (a "4" or
 * "5" drawn in two strokes); smaller pieces only when close to them, so far
 * specks cannot stretch the bounding box. *kept_out receives the box of all
 * kept ink. */
int select_components(components *c, int w, int h, arena *mem, rect *kept_out);

/* The pixel count of the largest component by pixels, clutter included
 * (0 when there is none); select_components ranks by mass instead. */
size_t largest_component_pixels(const components *c);

/* Whether faint seeds are written strokes rather than the lighting or a
 * mark on the paper:
 * - they hang together: the largest component holds FAINT_LARGEST_SHARE of
 *   the seed pixels outside clutter (grain and specks scattered over the
 *   page do not);
 * - they stand clear of the picture's edges (a vignette's corners, a crease
 *   or a shadow across the page do not) and span FAINT_MIN_SPAN of its
 *   shorter side (dust does not);
 * - they are wider than a drawn line: at most FAINT_MAX_BOUNDARY_SHARE of
 *   the kept seeds have a 4-neighbour outside them, which takes strokes
 *   about 3 px wide or more (in the working picture). All of a 1 or 2 px
 *   line is boundary: a screenshot's rules and boxes, a form's printed
 *   fields, a hair. Counting only pixels with paper on two opposite sides
 *   instead (1 px lines) let through 44 more marks, 37 of them form fields
 *   and screen outlines, in a review of 600 pictures, for no more faint
 *   digits read;
 * - they have edges: FAINT_EDGE_PX outside a stroke the paper is back,
 *   where a smudge, a ghost or what is left of uneven light fades over many
 *   pixels. The contrast there must average under FAINT_MAX_EDGE_RATIO of
 *   the seeds'. */
int faint_ink_is_strokes(const uint8_t *d, int w, int h, const components *c, rect kept);

#endif
