/* check_preprocess_steps.c -- unit tests for the preprocessing's steps, each
 * through the contract its header states (common/preprocess_*.h, arena.h,
 * histogram.h, rect.h), on small pictures built for the purpose.
 *
 * check_png_preprocess drives the whole pipeline on realistic pictures;
 * these pin down what each step promises the next, so that a change which
 * breaks a step is caught where it happens, not only as a different digit
 * at the end.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "histogram.h"
#include "preprocess_components.h"
#include "preprocess_contrast.h"
#include "preprocess_crop.h"
#include "preprocess_internal.h"
#include "preprocess_paper.h"
#include "preprocess_render.h"
#include "rect.h"

/* ---- arena ------------------------------------------------------------- */

START_TEST(test_arena_alignment_and_zeroing)
{
    arena mem = {NULL, 0};
    /* Sizes that straddle the first block's end and the large-buffer
     * cut-off, so small and own-block buffers both come out. */
    for (size_t size = 1; size < 40000; size = size * 3 + 1) {
        uint8_t *p = arena_alloc(&mem, size);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        memset(p, 0xa5, size);   /* writable to its end (ASan checks) */
    }
    arena_free(&mem);
    ck_assert_ptr_null(mem.head);
    /* Reused after arena_free: zalloc must still zero what malloc hands
     * back, dirty from the buffers above. */
    for (int round = 0; round < 3; round++) {
        uint8_t *z = arena_zalloc(&mem, 3000);
        ck_assert_ptr_nonnull(z);
        for (size_t i = 0; i < 3000; i++)
            ck_assert_uint_eq(z[i], 0);
        memset(z, 0xff, 3000);
    }
    uint8_t *big = arena_alloc(&mem, (size_t)1 << 20);
    ck_assert_ptr_nonnull(big);
    big[((size_t)1 << 20) - 1] = 1;
    ck_assert_ptr_null(arena_alloc(&mem, SIZE_MAX / 4 + 1));
    ck_assert_ptr_null(arena_zalloc(&mem, SIZE_MAX));
    arena_free(&mem);
    ck_assert_ptr_null(mem.head);
}
END_TEST

/* ---- histogram and rect ------------------------------------------------ */

START_TEST(test_histogram_counts_and_quantiles)
{
    /* n not a multiple of four: the interleaved counts' tail. */
    uint8_t bytes[1003];
    uint32_t want[256] = {0}, got[256];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof bytes; i++) {
        x = x * 1103515245u + 12345u;
        bytes[i] = (uint8_t)(i % 7 == 0 ? 0 : x >> 24);   /* runs of 0 among noise */
        want[bytes[i]]++;
    }
    histogram_count(bytes, sizeof bytes, got);
    ck_assert_mem_eq(got, want, sizeof want);

    uint32_t hist[256] = {0};
    hist[10] = 3;
    hist[20] = 3;
    hist[40] = 4;
    ck_assert_int_eq(histogram_quantile(hist, 10, 0.0), 10);   /* at least one pixel */
    ck_assert_int_eq(histogram_quantile(hist, 10, 0.3), 10);   /* exactly 3 of 10 */
    ck_assert_int_eq(histogram_quantile(hist, 10, 0.31), 20);
    ck_assert_int_eq(histogram_quantile(hist, 10, 0.6), 20);
    ck_assert_int_eq(histogram_quantile(hist, 10, 0.61), 40);
    ck_assert_int_eq(histogram_quantile(hist, 10, 1.0), 40);
    ck_assert_int_eq(histogram_quantile(hist, 0, 0.5), 0);
}
END_TEST

START_TEST(test_rect_helpers)
{
    rect r = rect_empty();
    ck_assert(rect_is_empty(r));
    rect_add(&r, 5, 7);
    ck_assert(!rect_is_empty(r));
    ck_assert_int_eq(rect_long_side(r), 1);
    rect_add(&r, 2, 9);
    ck_assert(r.x0 == 2 && r.y0 == 7 && r.x1 == 5 && r.y1 == 9);
    rect before = r;
    rect_union(&r, rect_empty());
    ck_assert_mem_eq(&r, &before, sizeof r);
    ck_assert(rect_contains(r, 2, 9) && !rect_contains(r, 6, 9));
    rect overlapping = {5, 9, 8, 12}, diagonal = {6, 10, 8, 12}, apart = {9, 1, 9, 2};
    ck_assert_int_eq(rect_gap(r, overlapping), 0);
    ck_assert_int_eq(rect_gap(r, diagonal), 1);   /* neighbouring pixels */
    ck_assert_int_eq(rect_gap(r, apart), 5);      /* Chebyshev: max(4, 5) */
    ck_assert_int_eq(clampi(-3, 0, 9), 0);
    ck_assert(clampd(2.5, 0.0, 1.0) == 1.0);
}
END_TEST

/* ---- step 1 and 2: paper ----------------------------------------------- */

START_TEST(test_composite_every_layout)
{
    uint8_t out[2];
    /* Grey passes through; a paper level is only for alpha. */
    const uint8_t grey[2] = {0, 200};
    composite_pixels(grey, 2, 1, 255, out);
    ck_assert(out[0] == 0 && out[1] == 200);
    /* Grey + alpha: transparent is the paper whatever its grey says. */
    const uint8_t ga[4] = {0, 0, 0, 255};
    composite_pixels(ga, 2, 2, 255, out);
    ck_assert(out[0] == 255 && out[1] == 0);
    composite_pixels(ga, 2, 2, 0, out);
    ck_assert(out[0] == 0 && out[1] == 0);
    /* RGB: luma weights green most and blue least. */
    const uint8_t rgb[6] = {255, 0, 0, 0, 0, 255};
    composite_pixels(rgb, 2, 3, 255, out);
    ck_assert_int_eq(out[0], 76);
    ck_assert_int_eq(out[1], 29);
    /* RGBA: a fully transparent red is paper; half-opaque black on white
     * is mid-grey. */
    const uint8_t rgba[8] = {255, 0, 0, 0, 0, 0, 0, 128};
    composite_pixels(rgba, 2, 4, 255, out);
    ck_assert_int_eq(out[0], 255);
    ck_assert_int_ge(out[1], 126);
    ck_assert_int_le(out[1], 128);
}
END_TEST

/* A 60x60 transparent canvas with one opaque stroke of the given grey. */
static void canvas_with_stroke(image *img, uint8_t level)
{
    ck_assert_int_eq(image_alloc(img, 60, 60, 4), 0);
    for (int y = 20; y < 40; y++)
        for (int x = 28; x < 32; x++) {
            uint8_t *p = img->pixels + ((size_t)y * 60 + (size_t)x) * 4;
            p[0] = p[1] = p[2] = level;
            p[3] = 255;
        }
}

START_TEST(test_choose_paper_keeps_strokes_visible)
{
    image img;
    canvas_with_stroke(&img, 0);
    ck_assert_uint_eq(choose_paper(&img), 255);   /* black ink: onto white */
    image_free(&img);
    canvas_with_stroke(&img, 255);
    ck_assert_uint_eq(choose_paper(&img), 0);     /* white ink: onto black */
    image_free(&img);
}
END_TEST

START_TEST(test_work_factor_bounds_pixels)
{
    ck_assert_int_eq(work_factor(28, 28), 1);
    ck_assert_int_eq(work_factor(1448, 1448), 1);   /* 2,096,704 <= 2^21 */
    ck_assert_int_eq(work_factor(1449, 1449), 2);
    ck_assert_int_eq(work_factor(4096, 4096), 3);
    ck_assert_int_eq(work_factor(32768, 1), 1);
    for (int w = 1000; w <= 9000; w += 1337) {
        int f = work_factor(w, 3000);
        size_t n = (size_t)((w + f - 1) / f) * (size_t)((3000 + f - 1) / f);
        ck_assert_uint_le(n, (size_t)1 << 21);
        if (f > 1) {   /* and the smallest such factor */
            int g = f - 1;
            ck_assert_uint_gt((size_t)((w + g - 1) / g) * (size_t)((3000 + g - 1) / g),
                              (size_t)1 << 21);
        }
    }
}
END_TEST

START_TEST(test_measure_border_levels)
{
    uint8_t v[20 * 10];
    memset(v, 200, sizeof v);
    border_levels b = measure_border(v, 20, 10);
    ck_assert(b.median == 200 && b.low == 200 && b.high == 200);
    /* The interior never counts; a tenth of the border dark shows in low. */
    memset(v + 3 * 20 + 3, 0, 10);
    for (int x = 0; x < 6; x++)
        v[x] = 0;
    b = measure_border(v, 20, 10);
    ck_assert_int_eq(b.median, 200);
    ck_assert_int_eq(b.low, 0);
    ck_assert_int_eq(b.high, 200);
}
END_TEST

/* ---- step 3: contrast -------------------------------------------------- */

START_TEST(test_contrast_flat_matches_its_histogram)
{
    enum { N = 4096 };
    static uint8_t v[N], orig[N];
    uint32_t x = 99;
    for (size_t i = 0; i < N; i++) {
        x = x * 1664525u + 1013904223u;
        orig[i] = (uint8_t)(x >> 24);
    }
    for (int flip = 0; flip <= 255; flip += 255) {
        for (int level = 0; level <= 255; level += 85) {
            memcpy(v, orig, N);
            uint32_t vhist[256], dhist[256], want[256];
            histogram_count(v, N, vhist);
            contrast_flat(v, (uint8_t)flip, N, level, vhist, dhist);
            for (size_t i = 0; i < N; i++) {
                int bright = orig[i] ^ flip;
                ck_assert_int_eq(v[i], bright > level ? bright - level : 0);
            }
            histogram_count(v, N, want);
            ck_assert_mem_eq(dhist, want, sizeof want);
        }
    }
}
END_TEST

START_TEST(test_choose_levels_threshold_between_paper_and_ink)
{
    uint32_t hist[256] = {0};
    hist[0] = 900;
    hist[3] = 50;    /* paper noise */
    hist[180] = 30;  /* anti-aliased edges */
    hist[230] = 100;
    contrast_levels lv = choose_levels(hist, 1080, MIN_CONTRAST / 2);
    ck_assert_int_eq(lv.peak, 230);
    ck_assert_int_ge(lv.threshold, 230 / 4);
    ck_assert_int_le(lv.threshold, 230 * 3 / 5);
    /* A sliver of ink on a huge page: Otsu alone would sit in the noise;
     * the threshold stays at a quarter of the peak or more. */
    uint32_t sliver[256] = {0};
    sliver[0] = 3000000;
    sliver[8] = 1000000;
    sliver[250] = 200;
    lv = choose_levels(sliver, 4000200, MIN_CONTRAST / 2);
    ck_assert_int_eq(lv.peak, 250);
    ck_assert_int_ge(lv.threshold, 250 / 4);
}
END_TEST

START_TEST(test_faint_levels_refuse_noise)
{
    uint32_t noise[256] = {0};
    for (int v = 0; v < 8; v++)
        noise[v] = 1000;
    contrast_levels lv = choose_levels(noise, 8000, MIN_CONTRAST / 2);
    ck_assert_int_lt(lv.peak, MIN_CONTRAST);
    ck_assert_int_eq(faint_levels(noise, 8000, &lv), 0);
    /* Faint strokes well above quiet paper are read. */
    uint32_t faint[256] = {0};
    faint[0] = 7000;
    faint[1] = 500;
    faint[25] = 500;
    lv = choose_levels(faint, 8000, MIN_CONTRAST / 2);
    ck_assert_int_eq(faint_levels(faint, 8000, &lv), 1);
    ck_assert_int_eq(lv.peak, 25);
    ck_assert_int_lt(lv.threshold, 25);
    ck_assert_int_ge(lv.threshold, 1);
}
END_TEST

/* ---- step 4: components ------------------------------------------------ */

static const component *component_with_box(const components *c, rect box)
{
    for (size_t k = 1; k <= c->n_comp; k++)
        if (memcmp(&c->comp[k].box, &box, sizeof box) == 0)
            return &c->comp[k];
    return NULL;
}

START_TEST(test_label_components_eight_connected)
{
    enum { W = 12, H = 10 };
    uint8_t d[W * H] = {0};
    /* A 2x2 blob and a pixel touching its corner diagonally: one. */
    d[1 * W + 1] = 100, d[1 * W + 2] = 100, d[2 * W + 1] = 100, d[2 * W + 2] = 100;
    d[3 * W + 3] = 50;
    /* A bar of three, apart from it. */
    d[7 * W + 7] = 10, d[7 * W + 8] = 20, d[7 * W + 9] = 30;
    /* A pixel on the right edge, and one at the threshold (not a seed). */
    d[0 * W + 11] = 90;
    d[5 * W + 5] = 5;
    arena mem = {NULL, 0};
    components c;
    ck_assert_int_eq(label_components(d, W, H, 5, &mem, &c), 0);
    ck_assert_uint_eq(c.n_comp, 3);
    const component *blob = component_with_box(&c, (rect){1, 1, 3, 3});
    const component *bar = component_with_box(&c, (rect){7, 7, 9, 7});
    const component *edge = component_with_box(&c, (rect){11, 0, 11, 0});
    ck_assert(blob && bar && edge);
    ck_assert_uint_eq(blob->pixels, 5);
    ck_assert(blob->mass == 450.0);
    ck_assert_uint_eq(blob->edge_pixels, 0);
    ck_assert_uint_eq(bar->pixels, 3);
    ck_assert(bar->mass == 60.0);
    ck_assert_uint_eq(edge->edge_pixels, 1);
    ck_assert_uint_eq(largest_component_pixels(&c), 5);
    ck_assert_uint_eq(c.seeds[5 * W + 5], 0);
    ck_assert_uint_eq(c.seeds[3 * W + 3], 1);
    arena_free(&mem);
}
END_TEST

START_TEST(test_label_components_takes_out_ruled_lines)
{
    enum { W = 60, H = 60 };
    static uint8_t d[W * H];
    memset(d, 0, sizeof d);
    const int lines[] = {10, 25, 40, 55};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        memset(d + (size_t)lines[i] * W, 120, W);
    for (int y = 28; y <= 36; y++)
        for (int x = 20; x <= 30; x++)
            d[y * W + x] = 200;
    arena mem = {NULL, 0};
    components c;
    ck_assert_int_eq(label_components(d, W, H, 60, &mem, &c), 0);
    ck_assert_uint_eq(c.n_comp, 1);   /* the blob alone: the lines are gone */
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        for (int x = 0; x < W; x++)
            ck_assert_uint_eq(c.seeds[(size_t)lines[i] * W + (size_t)x], 0);
    arena_free(&mem);
    /* Two full-width bars are a tightly cropped digit's, not a page's. */
    memset(d, 0, sizeof d);
    memset(d + 10 * W, 120, W);
    memset(d + 40 * W, 120, W);
    ck_assert_int_eq(label_components(d, W, H, 60, &mem, &c), 0);
    ck_assert_uint_eq(c.n_comp, 2);
    arena_free(&mem);
}
END_TEST

/* ---- step 5: the crop -------------------------------------------------- */

START_TEST(test_fringe_mask_is_chebyshev_dilation)
{
    arena mem = {NULL, 0};
    crop cr;
    ck_assert_int_eq(crop_alloc(&cr, 0, 0, 13, 11, 1, &mem), 0);
    cr.seed[5 * 13 + 6] = 1;
    uint8_t *near = arena_alloc(&mem, 13 * 11);
    ck_assert_ptr_nonnull(near);
    ck_assert_int_eq(fringe_mask(&cr, near, &mem), 0);
    for (int y = 0; y < 11; y++)
        for (int x = 0; x < 13; x++) {
            int dist = abs(x - 6) > abs(y - 5) ? abs(x - 6) : abs(y - 5);
            ck_assert_uint_eq(near[y * 13 + x], dist <= FRINGE_PX);
        }
    arena_free(&mem);
}
END_TEST

START_TEST(test_crop_ink_box_and_seed_edges)
{
    arena mem = {NULL, 0};
    crop cr;
    ck_assert_int_eq(crop_alloc(&cr, 0, 0, 20, 30, 1, &mem), 0);
    rect box;
    ck_assert_int_eq(crop_ink_box(&cr, &mem, &box), 0);
    ck_assert(rect_is_empty(box));
    /* A 3 x 20 bar: its outline has 2 * 20 + 2 * 3 edges. */
    for (int y = 5; y < 25; y++)
        for (int x = 8; x < 11; x++) {
            cr.v[y * 20 + x] = 1.0f;
            cr.seed[y * 20 + x] = 1;
        }
    cr.v[0 * 20 + 19] = 0.25f;   /* a faint fringe pixel counts for the box */
    ck_assert_int_eq(crop_ink_box(&cr, &mem, &box), 0);
    ck_assert(box.x0 == 8 && box.y0 == 0 && box.x1 == 19 && box.y1 == 24);
    ck_assert_uint_eq(seed_edges(&cr), 46);
    /* The same bar against the crop's frame: the frame is non-seed. */
    crop edge;
    ck_assert_int_eq(crop_alloc(&edge, 0, 0, 3, 20, 1, &mem), 0);
    memset(edge.seed, 1, 60);
    ck_assert_uint_eq(seed_edges(&edge), 46);
    arena_free(&mem);
}
END_TEST

START_TEST(test_widen_radius_reaches_min_stroke)
{
    for (int box_long = 20; box_long <= 2000; box_long += 97)
        for (double width = 0.5; width < 40; width *= 1.7) {
            double r = widen_radius(width, box_long);
            double out = width * BOX_SIDE / box_long;   /* as scaled without widening */
            if (r > 0) {
                /* Widened by r a side, the box grows by 2r too. */
                double widened = (width + 2 * r) * BOX_SIDE / (box_long + 2 * r);
                ck_assert_double_eq_tol(widened, 2.0, 1e-9);
                ck_assert(out < 2.0);
            } else {
                ck_assert(r == 0);
                /* Not widened: thick enough, or short of it by a sliver. */
                ck_assert(out > 1.4);
            }
        }
}
END_TEST

/* ---- step 6: render and deskew ----------------------------------------- */

/* A crop holding a bar of width 3 along x = x0 + slope * y, y in 0..h-1. */
static void slanted_bar(crop *cr, int w, int h, double x0, double slope, arena *mem)
{
    ck_assert_int_eq(crop_alloc(cr, 0, 0, w, h, 1, mem), 0);
    for (int y = 0; y < h; y++)
        for (int dx = 0; dx < 3; dx++) {
            int x = (int)lround(x0 + slope * y) + dx;
            cr->v[y * w + x] = 1.0f;
            cr->seed[y * w + x] = 1;
        }
}

START_TEST(test_render_mnist_size_and_centre)
{
    arena mem = {NULL, 0};
    crop cr;
    slanted_bar(&cr, 30, 60, 12, 0.0, &mem);
    rect box;
    ck_assert_int_eq(crop_ink_box(&cr, &mem, &box), 0);
    uint8_t out[MNIST_PIXELS];
    ck_assert_int_eq(render_mnist(&cr, box, out, &mem), PREPROCESS_OK);
    rect ink = rect_empty();
    double m = 0, mx = 0, my = 0;
    for (int y = 0; y < MNIST_SIDE; y++)
        for (int x = 0; x < MNIST_SIDE; x++) {
            double v = out[y * MNIST_SIDE + x];
            if (v > 0)
                rect_add(&ink, x, y);
            m += v, mx += v * x, my += v * y;
        }
    ck_assert_int_eq(ink.y1 - ink.y0 + 1, BOX_SIDE);   /* the long side fits 20 */
    ck_assert_int_le(ink.x1 - ink.x0 + 1, 2);          /* 3 of 60 becomes 1 of 20 */
    ck_assert_double_le(fabs(mx / m - 14.0), 0.5);
    ck_assert_double_le(fabs(my / m - 14.0), 0.5);
    /* No ink in the box: blank, not a guess. */
    memset(cr.v, 0, 30 * 60 * sizeof *cr.v);
    ck_assert_int_eq(render_mnist(&cr, box, out, &mem), PREPROCESS_BLANK);
    arena_free(&mem);
}
END_TEST

START_TEST(test_deskew_sets_a_slanted_bar_upright)
{
    arena mem = {NULL, 0};
    crop cr;
    slanted_bar(&cr, 60, 40, 5, 0.5, &mem);
    rect box;
    ck_assert_int_eq(crop_ink_box(&cr, &mem, &box), 0);
    int slanted_width = box.x1 - box.x0 + 1;
    float skew = 0;
    ck_assert_int_eq(deskew_crop(&cr, &box, &skew, &mem), PREPROCESS_OK);
    ck_assert_double_eq_tol(skew, 0.5, 0.03);
    ck_assert_ptr_null(cr.seed);
    rect upright;
    ck_assert_int_eq(crop_ink_box(&cr, &mem, &upright), 0);
    ck_assert_mem_eq(&upright, &box, sizeof box);   /* *box is the new ink box */
    ck_assert_int_ge(slanted_width, 22);
    ck_assert_int_le(box.x1 - box.x0 + 1, 6);
    ck_assert_int_eq(box.y1 - box.y0 + 1, 40);
    /* Already upright: the crop is left as it was. */
    crop straight;
    slanted_bar(&straight, 20, 40, 8, 0.0, &mem);
    const float *before = straight.v;
    ck_assert_int_eq(crop_ink_box(&straight, &mem, &box), 0);
    ck_assert_int_eq(deskew_crop(&straight, &box, &skew, &mem), PREPROCESS_OK);
    ck_assert_double_lt(fabs(skew), 0.02);
    ck_assert_ptr_eq(straight.v, before);
    arena_free(&mem);
}
END_TEST

static Suite *steps_suite(void)
{
    Suite *s = suite_create("preprocess_steps");
    TCase *tc = tcase_create("shared");
    tcase_add_test(tc, test_arena_alignment_and_zeroing);
    tcase_add_test(tc, test_histogram_counts_and_quantiles);
    tcase_add_test(tc, test_rect_helpers);
    suite_add_tcase(s, tc);
    tc = tcase_create("paper");
    tcase_add_test(tc, test_composite_every_layout);
    tcase_add_test(tc, test_choose_paper_keeps_strokes_visible);
    tcase_add_test(tc, test_work_factor_bounds_pixels);
    tcase_add_test(tc, test_measure_border_levels);
    suite_add_tcase(s, tc);
    tc = tcase_create("contrast");
    tcase_add_test(tc, test_contrast_flat_matches_its_histogram);
    tcase_add_test(tc, test_choose_levels_threshold_between_paper_and_ink);
    tcase_add_test(tc, test_faint_levels_refuse_noise);
    suite_add_tcase(s, tc);
    tc = tcase_create("components");
    tcase_add_test(tc, test_label_components_eight_connected);
    tcase_add_test(tc, test_label_components_takes_out_ruled_lines);
    suite_add_tcase(s, tc);
    tc = tcase_create("crop");
    tcase_add_test(tc, test_fringe_mask_is_chebyshev_dilation);
    tcase_add_test(tc, test_crop_ink_box_and_seed_edges);
    tcase_add_test(tc, test_widen_radius_reaches_min_stroke);
    suite_add_tcase(s, tc);
    tc = tcase_create("render");
    tcase_add_test(tc, test_render_mnist_size_and_centre);
    tcase_add_test(tc, test_deskew_sets_a_slanted_bar_upright);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(steps_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
