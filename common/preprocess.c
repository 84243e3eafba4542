/* preprocess.c -- turn an arbitrary digit picture into an MNIST-style 28x28.
 *
 * MNIST was made by taking a binary scan, scaling the digit so its longest
 * side fits 20 px (aspect kept, anti-aliased) and shifting it so the centre of
 * mass of the grey levels sits at the centre of a 28x28 frame. User pictures
 * differ in every respect MNIST normalised away, plus some MNIST never had:
 * dark ink, transparent canvases, uneven lighting, noise specks, thin pens.
 * The pipeline, in order:
 *
 *   0. block-average photos over ~2 Mpx down to that size, which bounds the
 *      time and memory every later step takes;
 *   1. composite onto white paper and take luma (so a transparent canvas
 *      with black strokes is black-on-white, not a black square; light
 *      strokes on a transparent background go onto black instead);
 *   2. decide polarity from the border (or, when the border is a desk or a
 *      scanner's lid around the sheet, from the whole picture or from a
 *      convex written sheet in it; when a shadow splits it, from the side
 *      of its range the ink lies on) and flip so ink is bright ("v");
 *   3. subtract a coarse local background (uneven lighting), raised to the
 *      paper's level under a hard shadow, giving the ink contrast "d" (0 =
 *      paper); refuse low-contrast pictures as blank, or as faint when the
 *      faint ink has the shape of strokes (read only when asked); Otsu on
 *      d gives the ink threshold, above a shaded field or highlighter band
 *      behind the digit, which is paper (3b);
 *   4. the seeds (d above the threshold) less a ruled page's lines; of
 *      their 8-connected components, what is not the digit is dropped:
 *      the desk, margins and cut-off neighbours at the picture's edge, a
 *      printed box round the digit, and specks far smaller than the digit
 *      and not near it;
 *   5. the kept ink plus its anti-aliased fringe becomes a 0..1 intensity
 *      crop; strokes too thin to survive the reduction to 20 px (a 2 px pen
 *      on a 600 px canvas) are widened to a thin MNIST pen with a distance
 *      transform, so they do not fade to a faint 1 px trace; 5b. a ring or
 *      a box drawn round the digit and touching it is cut out;
 *   6. optionally shear the digit upright by its second moments (deskew);
 *      area-average (or bilinearly enlarge) to 20 px on the longest side,
 *      then place by centre of mass in the 28x28 frame.
 *
 * All thresholds are on a 0..255 scale. preprocess_info.threshold is the ink
 * threshold in contrast units (grey levels above the local background), the
 * quantity the decision is actually made on; background is the paper grey
 * level measured on the border after compositing.
 *
 * This file drives the steps in that order; each step's mechanics are in
 * its own file (preprocess_paper, _contrast, _components, _crop, _ring and
 * _render), which preprocess_internal.h introduces.
 */
#include "preprocess.h"

#include "preprocess_components.h"
#include "preprocess_contrast.h"
#include "preprocess_crop.h"
#include "preprocess_internal.h"
#include "preprocess_paper.h"
#include "preprocess_render.h"
#include "preprocess_ring.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Far beyond any sane upload; keeps the int32 label and index maths safe. */
#define MAX_PIXELS ((size_t)1 << 30)
/* The most pixels a crop may have for its strokes to be widened (see
 * build_crop): the widening pads the crop by about a ninth of the digit's
 * long side on every side, so a hairline along a 40000 x 16 picture (640 k
 * pixels, a 745-byte PNG) would take L * L / 9 pixels, gigabytes. A hairline
 * across a picture of WORK_PIXELS (1450 x 1450, preprocess_paper.c) needs
 * 2.6 M. */
#define MAX_WIDEN_PIXELS ((size_t)4 << 20)

const char *preprocess_status_text(preprocess_status status)
{
    switch (status) {
    case PREPROCESS_OK: return "ok";
    case PREPROCESS_BLANK: return "no digit found (blank image)";
    case PREPROCESS_BAD_INPUT: return "unsupported or empty image";
    case PREPROCESS_NO_MEMORY: return "out of memory";
    case PREPROCESS_FAINT:
        return "only faint ink found (under 40 grey levels above the paper)";
    }
    return "unknown preprocess status";
}

/* A note on speed. The pipeline runs on every upload and on every augmented
 * training digit of every epoch, so it is written to do little per pixel:
 * one arena for all buffers, per-layout loops the compiler vectorises,
 * connected components on runs rather than pixels, and no per-pixel libm
 * rounding calls. Its output must not change with such work, bit for bit
 * (tests/bench/preprocess_speed checks a digest against an older version),
 * so the floating-point expressions that reach the output are written
 * exactly as before, in the same order, and the shortcuts taken elsewhere
 * are exact: each says why where it is made. */

int preprocess_options_from_name(const char *name, preprocess_options *opts)
{
    memset(opts, 0, sizeof *opts);
    if (!name || strcmp(name, "raw") == 0 || strcmp(name, "preprocess") == 0)
        return 0;
    if (strcmp(name, "preprocess-deskew") == 0) {
        opts->deskew = 1;
        return 0;
    }
    return -1;
}

const char *preprocess_options_name(const preprocess_options *opts)
{
    return opts->deskew ? "preprocess-deskew" : "preprocess";
}

/* ---- the pipeline ------------------------------------------------------ */

static int valid_input(const image *src)
{
    if (!src || !src->pixels || src->width <= 0 || src->height <= 0)
        return 0;
    if (src->channels < 1 || src->channels > 4)
        return 0;
    return (size_t)src->width <= MAX_PIXELS / (size_t)src->height;
}

/* Builds the crop for the kept ink: intensities with fringe, then stroke
 * widening when needed. *src_box receives the ink box in source pixels,
 * *box the same in crop pixels. */
static preprocess_status build_crop(const uint8_t *d, const components *c, int w, int h,
                                    rect kept, ink_ramp ramp, int look_for_ring, arena *mem,
                                    crop *cr, rect *src_box, rect *box, int *ringed)
{
    rect grow = {kept.x0 - FRINGE_PX, kept.y0 - FRINGE_PX, kept.x1 + FRINGE_PX,
                 kept.y1 + FRINGE_PX};
    crop base;
    if (crop_alloc(&base, grow.x0, grow.y0, grow.x1 - grow.x0 + 1, grow.y1 - grow.y0 + 1, 1,
                   mem) != 0)
        return PREPROCESS_NO_MEMORY;
    double area;
    rect ink;
    if (fill_crop(&base, d, c, w, h, ramp, mem, &area, &ink) != 0)
        return PREPROCESS_NO_MEMORY;
    if (rect_is_empty(ink))
        return PREPROCESS_BLANK;
    /* A box first: where the digit fills one, its sides would pass for a
     * ring too, cut as an ellipse through the digit's corners. A box the
     * digit sticks out of comes last: a wobbly hand-drawn box that passes
     * for a ring is taken out whole as one. */
    ring_fit fit;
    int ring = look_for_ring ? find_frame(&base, ink, 0, mem, &fit) : 0;
    if (ring == 0 && look_for_ring)
        ring = find_ring(&base, ink, mem, &fit);
    if (ring == 0 && look_for_ring)
        ring = find_frame(&base, ink, 1, mem, &fit);
    if (ring < 0)
        return PREPROCESS_NO_MEMORY;
    if (ring) {
        if (erase_ring(&base, &fit, mem, &area, &ink) != 0)
            return PREPROCESS_NO_MEMORY;
        if (rect_is_empty(ink))
            return PREPROCESS_BLANK;
        *ringed = 1;
    }
    *src_box = (rect){ink.x0 + base.x0, ink.y0 + base.y0, ink.x1 + base.x0, ink.y1 + base.y0};

    double r = widen_radius(stroke_width(area, seed_edges(&base)), rect_long_side(ink));
    if (r <= 0) {
        *cr = base;
        *box = ink;
        return PREPROCESS_OK;
    }
    /* Room for the wider strokes: r plus the anti-aliased edge pixel. Not
     * past MAX_WIDEN_PIXELS: such a crop is a hairline along a very long,
     * thin picture, whose strokes stay as they are. */
    int pad = (int)ceil(r) + 1;
    if ((double)(base.w + 2 * pad) * (double)(base.h + 2 * pad) > (double)MAX_WIDEN_PIXELS) {
        *cr = base;
        *box = ink;
        return PREPROCESS_OK;
    }
    if (crop_alloc(cr, base.x0 - pad, base.y0 - pad, base.w + 2 * pad, base.h + 2 * pad, 1,
                   mem) != 0)
        return PREPROCESS_NO_MEMORY;
    for (int y = 0; y < base.h; y++) {
        size_t from = (size_t)y * (size_t)base.w;
        size_t to = (size_t)(y + pad) * (size_t)cr->w + (size_t)pad;
        memcpy(cr->v + to, base.v + from, (size_t)base.w * sizeof *cr->v);
        memcpy(cr->seed + to, base.seed + from, (size_t)base.w);
    }
    if (widen_strokes(cr, r, mem) != 0 || crop_ink_box(cr, mem, box) != 0)
        return PREPROCESS_NO_MEMORY;
    return PREPROCESS_OK;
}

/* Steps 3-5 on the composited grey image v (overwritten by the contrast).
 * vhist is v's histogram. */
static preprocess_status find_ink(uint8_t *v, int w, int h, int paper, int ink, int inverted,
                                  int flat, int read_faint, const uint32_t *vhist,
                                  preprocess_info *info, arena *mem, crop *cr, rect *box)
{
    size_t n = (size_t)w * (size_t)h;
    uint8_t flip = inverted ? 255 : 0;
    int flat_level = inverted ? 255 - paper : paper;
    uint32_t dhist[256];
    if (flat) {
        /* Evenly lit paper, or too few pixels per tile for a map. */
        contrast_flat(v, flip, n, flat_level, vhist, dhist);
    } else {
        bg_map map;
        if (build_bg_map(v, flip, w, h, &map, mem) != 0)
            return PREPROCESS_NO_MEMORY;
        const uint8_t *floor;
        if (shadow_floor(v, flip, w, h, &map, ink ^ flip, mem, &floor) != 0 ||
            subtract_background(v, flip, w, h, &map, floor, mem) != 0)
            return PREPROCESS_NO_MEMORY;
        info->shadow = floor != NULL;
        histogram_count(v, n, dhist);
    }

    contrast_levels lv = choose_levels(dhist, n, MIN_CONTRAST / 2);
    info->threshold = (float)lv.threshold;
    int faint = lv.peak < MIN_CONTRAST;
    if (faint && !faint_levels(dhist, n, &lv))
        return PREPROCESS_BLANK;
    int field_top = -1;
    if (!faint && w >= MIN_SIDE_FOR_MAP && h >= MIN_SIDE_FOR_MAP) {
        int found = skip_shaded_field(v, w, h, dhist, mem, &lv, &field_top);
        if (found < 0)
            return PREPROCESS_NO_MEMORY;
        if (found) {
            info->threshold = (float)lv.threshold;
            info->field = 1;
        }
    }

    components c;
    if (label_components(v, w, h, lv.threshold, mem, &c) != 0)
        return PREPROCESS_NO_MEMORY;
    /* A digit is more than a few specks: salt noise alone is blank. */
    size_t min_pixels = n / 50000 > 4 ? n / 50000 : 4;
    if (c.n_comp == 0 || largest_component_pixels(&c) < min_pixels)
        return PREPROCESS_BLANK;
    rect kept;
    if (select_components(&c, w, h, mem, &kept) != 0)
        return PREPROCESS_NO_MEMORY;
    if (faint) {
        if (!faint_ink_is_strokes(v, w, h, &c, kept))
            return PREPROCESS_BLANK;
        if (!read_faint)
            return PREPROCESS_FAINT;
        info->faint = 1;
        info->threshold = (float)lv.threshold;
    }
    ink_ramp ramp = choose_ramp(v, w, &c, dhist, lv.threshold);
    if (field_top >= 0) {
        ramp.floor = field_top;
        ramp.core = ramp.core > ramp.floor + 1.0 ? ramp.core : ramp.floor + 1.0;
    }
    rect src_box;
    int map_sized = w >= MIN_SIDE_FOR_MAP && h >= MIN_SIDE_FOR_MAP;
    preprocess_status st =
        build_crop(v, &c, w, h, kept, ramp, map_sized, mem, cr, &src_box, box, &info->ring);
    if (st == PREPROCESS_OK) {
        info->box_x = src_box.x0 < 0 ? 0 : src_box.x0;
        info->box_y = src_box.y0 < 0 ? 0 : src_box.y0;
        info->box_w = (src_box.x1 < w ? src_box.x1 : w - 1) - info->box_x + 1;
        info->box_h = (src_box.y1 < h ? src_box.y1 : h - 1) - info->box_y + 1;
    }
    return st;
}

/* Maps the box found at working resolution back to source pixels. */
static void scale_info_box(preprocess_info *info, int f, int src_w, int src_h)
{
    int x0 = info->box_x * f, y0 = info->box_y * f;
    int x1 = (info->box_x + info->box_w) * f, y1 = (info->box_y + info->box_h) * f;
    info->box_x = x0;
    info->box_y = y0;
    info->box_w = (x1 < src_w ? x1 : src_w) - x0;
    info->box_h = (y1 < src_h ? y1 : src_h) - y0;
}

static preprocess_status run_pipeline(const image *src, const preprocess_options *opts,
                                      uint8_t out[MNIST_PIXELS], preprocess_info *info,
                                      arena *mem)
{
    /* Work on a reduced copy of very large photos: a digit needs nowhere
     * near millions of pixels, and this bounds time and memory. */
    int f = work_factor(src->width, src->height);
    int w = (src->width + f - 1) / f, h = (src->height + f - 1) / f;
    size_t n = (size_t)w * (size_t)h;
    uint8_t *v = arena_alloc(mem, n);
    if (!v)
        return PREPROCESS_NO_MEMORY;
    unsigned under = choose_paper(src);
    if (f == 1)
        composite_pixels(src->pixels, n, src->channels, under, v);
    else if (composite_reduce(src, under, f, v, w, h, mem) != 0)
        return PREPROCESS_NO_MEMORY;

    border_levels border = measure_border(v, w, h);
    int paper = border.median;
    enclosure_scratch scratch = {NULL, NULL};
    /* The histogram of v: for the polarity of a mid-grey border, the ink
     * level the border test needs, and a flat background's contrast. */
    uint32_t vhist[256];
    histogram_count(v, n, vhist);
    /* A photo of a sheet on a darker desk, or a scan with black margins,
     * has a border that is not the paper. The paper is most of the picture
     * (ink rarely covers a fifth of it), so a light median over a border
     * that is not clearly light is the paper, if it holds dark strokes (a
     * fat light digit need not). Not in a small picture, which is a crop of
     * the digit (MNIST's size). */
    int map_sized = w >= MIN_SIDE_FOR_MAP && h >= MIN_SIDE_FOR_MAP;
    int median = histogram_quantile(vhist, n, 0.5);
    if (paper < LIGHT_PAPER && map_sized && median >= LIGHT_PAPER &&
        encloses_strokes(v, 0, w, h, LIGHT_PAPER, 1, &scratch, mem))
        paper = median;
    info->inverted = ink_is_dark(v, w, h, vhist, paper, border, &scratch, mem);
    /* A smaller sheet, under half the picture: only where the ink would
     * otherwise be light, and then the sheet is the paper. */
    if (!info->inverted && map_sized && median < LIGHT_PAPER) {
        int sheet = histogram_quantile(vhist, n, 1.0 - SHEET_MIN_SHARE);
        if (sheet >= LIGHT_PAPER &&
            holds_written_sheet(v, w, h, (paper + sheet + 1) / 2, &scratch, mem)) {
            paper = sheet;
            info->inverted = 1;
        }
    }
    info->background = (float)paper;
    int ink = ink_extreme_level(vhist, n, w, h, info->inverted);
    int flat = w < MIN_SIDE_FOR_MAP || h < MIN_SIDE_FOR_MAP ||
               border_is_even(v, w, h, paper, ink, info->inverted);

    crop cr;
    rect box;
    preprocess_status st =
        find_ink(v, w, h, paper, ink, info->inverted, flat, opts && opts->read_faint, vhist, info,
                 mem, &cr, &box);
    if (st != PREPROCESS_OK)
        return st;
    if (f > 1)
        scale_info_box(info, f, src->width, src->height);
    if (opts && opts->deskew) {
        st = deskew_crop(&cr, &box, &info->skew, mem);
        if (st != PREPROCESS_OK)
            return st;
    }
    return render_mnist(&cr, box, out, mem);
}

preprocess_status preprocess_to_mnist(const image *src, uint8_t out[MNIST_PIXELS],
                                      preprocess_info *info)
{
    preprocess_options none = {0};
    return preprocess_to_mnist_with(src, &none, out, info);
}

preprocess_status preprocess_to_mnist_with(const image *src, const preprocess_options *opts,
                                           uint8_t out[MNIST_PIXELS], preprocess_info *info)
{
    preprocess_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    if (!out)
        return PREPROCESS_BAD_INPUT;
    memset(out, 0, MNIST_PIXELS);
    if (!valid_input(src))
        return PREPROCESS_BAD_INPUT;
    arena mem = {NULL, 0};
    preprocess_status st = run_pipeline(src, opts, out, info, &mem);
    arena_free(&mem);
    if (st != PREPROCESS_OK)
        memset(out, 0, MNIST_PIXELS);
    return st;
}