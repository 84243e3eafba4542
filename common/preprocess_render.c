/* preprocess_render.c -- step 6: the crop into the 28x28 frame.
 * See preprocess_render.h. */
#include "preprocess_render.h"

#include <math.h>
#include <string.h>

/* MNIST's centre of mass, in pixel-index coordinates, is (14.0, 14.0). */
#define COM_TARGET 14.0

/* ---- step 6: scaling and placement ------------------------------------- */

/* Sparse 1-D resampling: output j = sum of weight * source[first[j] + t],
 * for t < count[j]; every tap lies inside the source. */
typedef struct {
    int per;  /* weights stored per output */
    int *first;
    int *count;
    float *weight;
} resample_plan;

/* Shrinking (s <= 1): each output pixel is the mean over its exact source
 * footprint, partial pixels weighted by coverage, so a 600 px digit does not
 * alias. Enlarging: bilinear, with zero ink outside the box (the taps that
 * fall outside are left out, which is how they were skipped before). */
static int plan_build(resample_plan *p, int n_src, double s, int n_out, arena *mem)
{
    p->per = s <= 1.0 ? (int)ceil(1.0 / s) + 2 : 2;
    p->first = arena_zalloc(mem, (size_t)n_out * sizeof *p->first);
    p->count = arena_zalloc(mem, (size_t)n_out * sizeof *p->count);
    p->weight = arena_zalloc(mem, (size_t)n_out * (size_t)p->per * sizeof *p->weight);
    if (!p->first || !p->count || !p->weight)
        return -1;
    for (int j = 0; j < n_out; j++) {
        float *wt = p->weight + (size_t)j * (size_t)p->per;
        if (s <= 1.0) {
            double a = j / s, b = (j + 1) / s;
            int i0 = (int)floor(a), i1 = (int)ceil(b) - 1;
            i0 = i0 < 0 ? 0 : i0;
            i1 = i1 >= n_src ? n_src - 1 : i1;
            p->first[j] = i0;
            for (int i = i0; i <= i1 && i - i0 < p->per; i++) {
                double lo = a > i ? a : i, hi = b < i + 1 ? b : i + 1;
                wt[i - i0] = hi > lo ? (float)((hi - lo) * s) : 0.0f;
                p->count[j] = i - i0 + 1;
            }
        } else {
            double u = (j + 0.5) / s - 0.5;
            int i0 = (int)floor(u);
            double f = u - i0;
            float w0 = (float)(1.0 - f), w1 = (float)f;
            if (i0 < 0) {
                p->first[j] = i0 + 1;
                p->count[j] = 1;
                wt[0] = w1;
            } else {
                p->first[j] = i0;
                p->count[j] = i0 + 1 < n_src ? 2 : 1;
                wt[0] = w0;
                wt[1] = w1;
            }
        }
    }
    return 0;
}

/* The products are rounded to float and summed in double in tap order,
 * exactly as before. */
static float plan_apply(const resample_plan *p, int j, const float *src, size_t stride)
{
    const float *wt = p->weight + (size_t)j * (size_t)p->per;
    const float *s = src + (size_t)p->first[j] * stride;
    double acc = 0;
    for (int t = 0; t < p->count[j]; t++)
        acc += wt[t] * s[(size_t)t * stride];
    return (float)acc;
}

/* Scales the box of cr to out_w x out_h (longest side BOX_SIDE). */
static int scale_box(const crop *cr, rect box, double s, float *out, int out_w, int out_h,
                     arena *mem)
{
    int bw = box.x1 - box.x0 + 1, bh = box.y1 - box.y0 + 1;
    if (s == 1.0) {
        /* A box already BOX_SIDE long: every output pixel is the one source
         * pixel under it with weight 1, i.e. a copy (out_w == bw here). */
        for (int y = 0; y < out_h; y++)
            memcpy(out + (size_t)y * (size_t)out_w,
                   cr->v + (size_t)(box.y0 + y) * (size_t)cr->w + (size_t)box.x0,
                   (size_t)out_w * sizeof *out);
        return 0;
    }
    resample_plan px, py;
    if (plan_build(&px, bw, s, out_w, mem) != 0 || plan_build(&py, bh, s, out_h, mem) != 0)
        return -1;
    float *tmp = arena_alloc(mem, (size_t)bh * (size_t)out_w * sizeof *tmp);
    if (!tmp)
        return -1;
    for (int y = 0; y < bh; y++) {
        const float *row = cr->v + (size_t)(box.y0 + y) * (size_t)cr->w + (size_t)box.x0;
        for (int x = 0; x < out_w; x++)
            tmp[(size_t)y * (size_t)out_w + (size_t)x] = plan_apply(&px, x, row, 1);
    }
    /* The column pass as plan_apply would do it for each pixel (same
     * products, summed in the same order), but a whole output row at a
     * time, which vectorises across x. */
    double acc[BOX_SIDE];
    for (int y = 0; y < out_h; y++) {
        const float *wt = py.weight + (size_t)y * (size_t)py.per;
        const float *src = tmp + (size_t)py.first[y] * (size_t)out_w;
        for (int x = 0; x < out_w; x++)
            acc[x] = 0;
        for (int t = 0; t < py.count[y]; t++) {
            const float *row = src + (size_t)t * (size_t)out_w;
            float wv = wt[t];
            for (int x = 0; x < out_w; x++)
                acc[x] += wv * row[x];
        }
        for (int x = 0; x < out_w; x++)
            out[(size_t)y * (size_t)out_w + (size_t)x] = (float)acc[x];
    }
    return 0;
}

/* Integer shift putting the centre of mass at COM_TARGET, clamped so the
 * whole digit stays in the frame. Returns -1 when there is no ink at all. */
static int place_by_mass(const float *img, int w, int h, int *ox, int *oy)
{
    double m = 0, mx = 0, my = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = img[(size_t)y * (size_t)w + (size_t)x];
            m += v;
            mx += v * x;
            my += v * y;
        }
    if (m <= 0)
        return -1;
    *ox = clampi((int)lround(COM_TARGET - mx / m), 0, MNIST_SIDE - w);
    *oy = clampi((int)lround(COM_TARGET - my / m), 0, MNIST_SIDE - h);
    return 0;
}

preprocess_status render_mnist(const crop *cr, rect box, uint8_t out[MNIST_PIXELS],
                               arena *mem)
{
    int bw = box.x1 - box.x0 + 1, bh = box.y1 - box.y0 + 1;
    int longest = bw > bh ? bw : bh;
    double s = (double)BOX_SIDE / longest;
    /* The short side is fractional; the canvas holds its partial last pixel.
     * The epsilon keeps 20.0000001 from becoming 21. */
    int out_w = bw == longest ? BOX_SIDE : (int)ceil(bw * s - 1e-6);
    int out_h = bh == longest ? BOX_SIDE : (int)ceil(bh * s - 1e-6);
    out_w = clampi(out_w, 1, BOX_SIDE);
    out_h = clampi(out_h, 1, BOX_SIDE);
    float canvas[BOX_SIDE * BOX_SIDE];
    if (scale_box(cr, box, s, canvas, out_w, out_h, mem) != 0)
        return PREPROCESS_NO_MEMORY;
    int ox, oy;
    if (place_by_mass(canvas, out_w, out_h, &ox, &oy) != 0)
        return PREPROCESS_BLANK;
    memset(out, 0, MNIST_PIXELS);
    int any = 0;
    for (int y = 0; y < out_h; y++) {
        /* Row pointers, so that the loop over x vectorises. */
        const float *src = canvas + (size_t)y * (size_t)out_w;
        uint8_t *dst = out + (size_t)(oy + y) * MNIST_SIDE + (size_t)ox;
        for (int x = 0; x < out_w; x++) {
            /* lround(), without the call: v * 255 is exact in double (24-bit
             * times 8-bit mantissa) and so is adding 0.5 to it for every
             * float in 0..1, so truncation rounds half up as lround does.
             * Checked for every float. */
            int q = (int)(clampd(src[x], 0.0, 1.0) * 255.0 + 0.5);
            dst[x] = (uint8_t)q;
            any |= q;
        }
    }
    return any ? PREPROCESS_OK : PREPROCESS_BLANK;
}

/* ---- optional: deskewing ----------------------------------------------- */

/* Slanted handwriting is the largest variation left after size and position
 * are normalised. The shear that makes the ink's second moments uncorrelated
 * (mu11 = 0) sets the digit upright; MNIST results for MLPs improve markedly
 * with it, and it helps most on users' italic writing. */
#define MAX_SKEW 1.0
#define MIN_SKEW 0.02

/* The deskew's moments are chains of dependent double adds, one per pixel,
 * whose order fixes their rounding. A zero pixel adds an exact zero to
 * them, which changes no sum (none can be -0: they start at +0, and in
 * round-to-nearest only -0 plus -0 gives -0). Summed over a list of the
 * ink alone, about a third of a digit's box, they come out the same bit
 * for bit in two thirds of the time. The list holds whole rows of the box,
 * INK_BAND pixels' worth at a time, so a large photo's box needs no list
 * of its size. (Not worth it for the centre of mass after the scaling,
 * whose anti-aliased canvas is mostly ink.) */
#define INK_BAND 16384

typedef struct {
    float *v;
    int *x, *y;
    size_t n, room;   /* listed, and room for */
} ink_list;

static int ink_list_alloc(ink_list *l, rect r, arena *mem)
{
    size_t w = (size_t)(r.x1 - r.x0 + 1), area = w * (size_t)(r.y1 - r.y0 + 1);
    l->room = area < INK_BAND ? area : (w > INK_BAND ? w : INK_BAND);
    l->n = 0;
    l->v = arena_alloc(mem, l->room * sizeof *l->v);
    l->x = arena_alloc(mem, l->room * sizeof *l->x);
    l->y = arena_alloc(mem, l->room * sizeof *l->y);
    return l->v && l->x && l->y ? 0 : -1;
}

/* Lists the ink of the rows of r from y on, as many whole rows as fit;
 * returns the row after the last one listed. */
static int list_ink_rows(const float *img, size_t stride, rect r, int y, ink_list *l)
{
    size_t w = (size_t)(r.x1 - r.x0 + 1), n = 0, room = l->room;
    float *lv = l->v;
    int *lx = l->x, *ly = l->y;
    for (; y <= r.y1 && n + w <= room; y++) {
        const float *row = img + (size_t)y * stride;
        /* Branch-free: whether a pixel is ink is a coin toss to the predictor. */
        for (int x = r.x0; x <= r.x1; x++) {
            lv[n] = row[x];
            lx[n] = x;
            ly[n] = y;
            n += row[x] != 0.0f;
        }
    }
    l->n = n;
    return y;
}

preprocess_status deskew_crop(crop *cr, rect *box, float *skew_out, arena *mem)
{
    if (rect_is_empty(*box))
        return PREPROCESS_BLANK;
    ink_list ink;
    if (ink_list_alloc(&ink, *box, mem) != 0)
        return PREPROCESS_NO_MEMORY;
    double m = 0, mx = 0, my = 0;
    for (int next = box->y0; next <= box->y1;) {
        next = list_ink_rows(cr->v, (size_t)cr->w, *box, next, &ink);
        for (size_t i = 0; i < ink.n; i++) {
            double v = ink.v[i];
            int x = ink.x[i], y = ink.y[i];
            m += v;
            mx += v * x;
            my += v * y;
        }
    }
    if (m <= 0)
        return PREPROCESS_BLANK;
    double cx = mx / m, cy = my / m, mu11 = 0, mu02 = 0;
    /* A box of up to INK_BAND pixels (a 28x28 upload's) is listed already. */
    int listed = ink.room == (size_t)(box->x1 - box->x0 + 1) * (size_t)(box->y1 - box->y0 + 1);
    for (int next = box->y0; next <= box->y1;) {
        next = listed ? box->y1 + 1 : list_ink_rows(cr->v, (size_t)cr->w, *box, next, &ink);
        for (size_t i = 0; i < ink.n; i++) {
            double v = ink.v[i];
            int x = ink.x[i], y = ink.y[i];
            mu11 += v * (x - cx) * (y - cy);
            mu02 += v * (y - cy) * (y - cy);
        }
    }
    double skew = mu02 > 0 ? clampd(mu11 / mu02, -MAX_SKEW, MAX_SKEW) : 0.0;
    *skew_out = (float)skew;
    if (fabs(skew) < MIN_SKEW)
        return PREPROCESS_OK;
    /* Output pixel (x, y) reads the source at x + skew * (y - cy) - shift,
     * with linear interpolation along the row; the new crop is wide enough
     * for the most displaced row. */
    int bh = box->y1 - box->y0 + 1;
    double reach = fabs(skew) * (bh + 2);
    int extra = (int)ceil(reach) + 2;
    crop out;
    if (crop_alloc(&out, cr->x0 - extra, cr->y0, cr->w + 2 * extra, cr->h, 0, mem) != 0)
        return PREPROCESS_NO_MEMORY;
    /* Only rows inside the box have ink, and only the output pixels that
     * read a source column of the box (or its left neighbour, through the
     * interpolation's right tap) can get any: the rest stay 0, which is
     * what 0 * (1 - t) + 0 * t gives. The column range is widened by a
     * pixel each way against the rounding of x + shift.
     *
     * The source row is read from a copy with zeros on both sides (the 0.0
     * an out-of-range tap gave), so that the loop has no bounds tests. And
     * x0 = floor(x + shift) is x + floor(shift) unless shift is within
     * rounding of an integer (x + shift is rounded to a double, off by far
     * less than 1e-6 for any crop); with x0 known the taps are contiguous
     * and the loop vectorises. t is computed per pixel as before. */
    enum { PAD = 8 };
    float *padded = arena_zalloc(mem, ((size_t)cr->w + 2 * PAD) * sizeof *padded);
    if (!padded)
        return PREPROCESS_NO_MEMORY;
    const int last_tap = cr->w + 2 * PAD - 2;
    /* The new box, from the pixels written (the rest of the crop is 0):
     * what crop_ink_box() finds, without scanning a crop widened for the
     * most displaced row. */
    rect ink_box = rect_empty();
    for (int y = box->y0; y <= box->y1; y++) {
        double shift = skew * (y - cy) - extra;
        int xa = (int)floor(box->x0 - 1 - shift) - 1, xb = (int)ceil(box->x1 - shift) + 1;
        xa = xa < 0 ? 0 : xa;
        xb = xb > out.w - 1 ? out.w - 1 : xb;
        memcpy(padded + PAD, cr->v + (size_t)y * (size_t)cr->w, (size_t)cr->w * sizeof *padded);
        float *dst = out.v + (size_t)y * (size_t)out.w;
        double whole = floor(shift), part = shift - whole;
        if (part > 1e-6 && part < 1.0 - 1e-6) {
            int k = (int)whole;
            /* Taps outside the padded row would read zeros anyway. */
            xa = xa > -PAD - k ? xa : -PAD - k;
            xb = xb < last_tap - PAD - k ? xb : last_tap - PAD - k;
            for (int x = xa; x <= xb; x++) {
                double sx = x + shift;
                int x0 = x + k;
                double t = sx - x0;
                double a = padded[PAD + x0], b = padded[PAD + x0 + 1];
                dst[x] = (float)(a * (1 - t) + b * t);
            }
        } else {
            for (int x = xa; x <= xb; x++) {
                double sx = x + shift;
                int x0 = (int)floor(sx);
                double t = sx - x0;
                int i = clampi(x0 + PAD, 0, last_tap);
                double a = padded[i], b = padded[i + 1];
                dst[x] = (float)(a * (1 - t) + b * t);
            }
        }
        int first = xa;
        while (first <= xb && !(dst[first] > 0.0f))
            first++;
        if (first <= xb) {
            int last = xb;
            while (!(dst[last] > 0.0f))
                last--;
            rect_add(&ink_box, first, y);
            rect_add(&ink_box, last, y);
        }
    }
    *cr = out;
    *box = ink_box;
    return rect_is_empty(*box) ? PREPROCESS_BLANK : PREPROCESS_OK;
}
