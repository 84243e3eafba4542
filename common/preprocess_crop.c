/* preprocess_crop.c -- step 5: the digit as a crop of ink intensities.
 * See preprocess_crop.h. */
#include "preprocess_crop.h"

#include <math.h>
#include <string.h>

/* Thinnest stroke, in output pixels, a digit may have after scaling. By the
 * same estimator MNIST's median stroke is about 2.5 px and its 15th
 * percentile 2.0. Widening by less than MIN_WIDEN_OUT per side is skipped,
 * so only strokes under 1.5 px are touched: about 3% of MNIST, and any thin
 * pen on a large canvas. */
#define MIN_STROKE_OUT 2.0
#define MIN_WIDEN_OUT 0.25

/* ---- step 5: the intensity crop ---------------------------------------- */

int crop_alloc(crop *c, int x0, int y0, int w, int h, int with_seed, arena *mem)
{
    c->x0 = x0;
    c->y0 = y0;
    c->w = w;
    c->h = h;
    size_t n = (size_t)w * (size_t)h;
    c->v = arena_zalloc(mem, n * sizeof *c->v);
    c->seed = with_seed ? arena_zalloc(mem, n) : NULL;
    return !c->v || (with_seed && !c->seed) ? -1 : 0;
}

ink_ramp choose_ramp(const uint8_t *d, int w, const components *c,
                     const uint32_t dhist[256], int threshold)
{
    uint32_t paper[256] = {0}, ink[256] = {0};
    size_t n_paper = 0, n_ink = 0;
    for (int v = 0; v <= threshold; v++) {
        paper[v] = dhist[v];
        n_paper += dhist[v];
    }
    for (size_t r = 0; r < c->n_runs; r++) {
        const run *u = &c->runs[r];
        if (!c->comp[u->comp].keep)
            continue;
        const uint8_t *row = d + (size_t)u->y * (size_t)w;
        for (int x = u->x0; x <= u->x1; x++)
            ink[row[x]]++;
        n_ink += (size_t)(u->x1 - u->x0 + 1);
    }
    ink_ramp r;
    r.floor = 2.0 * histogram_quantile(paper, n_paper, 0.5);
    if (r.floor > threshold / 2.0)
        r.floor = threshold / 2.0;
    r.core = histogram_quantile(ink, n_ink, 0.90);
    if (r.core < r.floor + 1.0)
        r.core = r.floor + 1.0;
    return r;
}

int crop_ink_box(const crop *cr, arena *mem, rect *box)
{
    /* Locals: stores through col could otherwise alias *cr. */
    const int w = cr->w, h = cr->h;
    const float *v = cr->v;
    uint8_t *col = arena_zalloc(mem, (size_t)w);
    if (!col)
        return -1;
    int y0 = -1, y1 = -1;
    for (int y = 0; y < h; y++) {
        const float *row = v + (size_t)y * (size_t)w;
        uint8_t any = 0;
        for (int x = 0; x < w; x++) {
            uint8_t ink = row[x] > 0.0f;
            col[x] |= ink;
            any |= ink;
        }
        if (any) {
            y1 = y;
            if (y0 < 0)
                y0 = y;
        }
    }
    *box = rect_empty();
    if (y0 < 0)
        return 0;
    int x0 = 0, x1 = w - 1;
    while (!col[x0])
        x0++;
    while (!col[x1])
        x1--;
    *box = (rect){x0, y0, x1, y1};
    return 0;
}

int fringe_mask(const crop *cr, uint8_t *out, arena *mem)
{
    size_t w = (size_t)cr->w, n = w * (size_t)cr->h, pad_rows = FRINGE_PX * w;
    uint8_t *rows = arena_alloc(mem, n + 2 * pad_rows);
    uint8_t *cols = arena_alloc(mem, n + 2 * FRINGE_PX);
    if (!rows || !cols)
        return -1;
    memset(rows, 0, pad_rows);
    memcpy(rows + pad_rows, cr->seed, n);
    memset(rows + pad_rows + n, 0, pad_rows);
    memset(cols, 0, FRINGE_PX);
    memset(cols + FRINGE_PX + n, 0, FRINGE_PX);
    uint8_t *mid = cols + FRINGE_PX;
    for (size_t i = 0; i < n; i++) {
        uint8_t any = 0;
        for (size_t k = 0; k <= 2 * FRINGE_PX; k++)
            any |= rows[i + k * w];
        mid[i] = any;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t any = 0;
        for (size_t k = 0; k <= 2 * FRINGE_PX; k++)
            any |= cols[i + k];
        out[i] = any;
    }
    return 0;
}

int fill_crop(crop *cr, const uint8_t *d, const components *c, int src_w, int src_h,
              ink_ramp ramp, arena *mem, double *area_out, rect *ink_out)
{
    int xa = cr->x0 < 0 ? -cr->x0 : 0;
    int xb = cr->x0 + cr->w > src_w ? src_w - cr->x0 : cr->w;
    int all_kept = 1;
    for (size_t k = 1; k <= c->n_comp; k++)
        all_kept &= c->comp[k].keep != 0;
    if (all_kept) {
        /* Then every seed pixel in the crop is kept ink. */
        for (int y = 0; y < cr->h; y++) {
            int sy = cr->y0 + y;
            if (sy >= 0 && sy < src_h)
                memcpy(cr->seed + (size_t)y * (size_t)cr->w + xa,
                       c->seeds + (size_t)sy * (size_t)src_w + (cr->x0 + xa), (size_t)(xb - xa));
        }
    } else {
        for (size_t r = 0; r < c->n_runs; r++) {
            const run *u = &c->runs[r];
            if (c->comp[u->comp].keep)
                memset(cr->seed + (size_t)(u->y - cr->y0) * (size_t)cr->w +
                           (size_t)(u->x0 - cr->x0),
                       1, (size_t)(u->x1 - u->x0 + 1));
        }
    }
    uint8_t *near = arena_alloc(mem, (size_t)cr->w * (size_t)cr->h);
    if (!near || fringe_mask(cr, near, mem) != 0)
        return -1;
    /* The intensity of each contrast level, as computed per pixel before
     * (the division in a loop of its own, which vectorises). */
    double ratio[256];
    float level[256];
    for (int dv = 0; dv < 256; dv++)
        ratio[dv] = (dv - ramp.floor) / (ramp.core - ramp.floor);
    for (int dv = 0; dv < 256; dv++)
        level[dv] = (float)clampd(ratio[dv], 0.0, 1.0);
    /* The area, a double sum of these floats in row-major order, is exact
     * when every partial sum is: the levels are all multiples of the
     * smallest one's unit in the last place, 2^-unit, so a sum of at most
     * n of them (each <= 1) is exact when n < 2^(53 - unit). It is then an
     * integer number of those units, which can be summed in any order and
     * without a chain of dependent floating-point adds. */
    uint64_t units[256];
    int unit = 0;
    for (int dv = 0; dv < 256; dv++)
        if (level[dv] > 0.0f) {
            frexpf(level[dv], &unit);
            unit = 24 - unit;   /* level = m * 2^-unit, m an integer < 2^24 */
            break;
        }
    size_t n = (size_t)cr->w * (size_t)cr->h;
    int exact = unit <= 52 && n < (size_t)1 << (53 - unit);
    if (exact) {
        double scale = ldexp(1.0, unit);   /* a power of two: exact */
        for (int dv = 0; dv < 256; dv++)
            units[dv] = (uint64_t)(level[dv] * scale);
    }
    uint64_t area_units = 0;
    double area = 0;
    for (int y = 0; y < cr->h; y++) {
        int sy = cr->y0 + y;
        if (sy < 0 || sy >= src_h)
            continue;
        const uint8_t *drow = d + (size_t)sy * (size_t)src_w + (cr->x0 + xa);
        const uint8_t *nrow = near + (size_t)y * (size_t)cr->w + xa;
        float *vrow = cr->v + (size_t)y * (size_t)cr->w;
        if (exact) {
            for (int x = 0; x < xb - xa; x++) {
                float val = level[drow[x]];
                uint64_t u = units[drow[x]];
                vrow[xa + x] = nrow[x] ? val : 0.0f;
                area_units += nrow[x] ? u : 0;
            }
        } else {
            for (int x = 0; x < xb - xa; x++) {
                float val = level[drow[x]];
                vrow[xa + x] = nrow[x] ? val : 0.0f;
            }
            for (int x = xa; x < xb; x++)
                if (vrow[x] > 0.0f)
                    area += vrow[x];
        }
    }
    if (exact)
        area = ldexp((double)area_units, -unit);
    *area_out = area;
    return crop_ink_box(cr, mem, ink_out);
}

size_t seed_edges(const crop *cr)
{
    const uint8_t *s = cr->seed;
    size_t w = (size_t)cr->w, n = w * (size_t)cr->h;
    size_t edges = 0;
    for (size_t i = 0; i + 1 < n; i++)       /* right neighbours */
        edges += s[i] != s[i + 1];
    for (size_t i = 0; i + w < n; i++)       /* neighbours below */
        edges += s[i] != s[i + w];
    for (size_t x = 0; x < w; x++)           /* top and bottom frame */
        edges += (size_t)s[x] + s[n - w + x];
    for (size_t first = 0; first < n; first += w) {   /* left and right frame */
        size_t last = first + w - 1;
        edges += (size_t)s[first] + s[last];
        if (last + 1 < n)                    /* not a neighbour: undo */
            edges -= s[last] != s[last + 1];
    }
    return edges;
}

double stroke_width(double area, size_t edges)
{
    if (edges == 0)
        return 0.0;
    return 8.0 * area / (PI * (double)edges);
}

/* One row or column of Felzenszwalb and Huttenlocher's squared Euclidean
 * distance transform (lower envelope of parabolas). v, z are scratch. */
static void edt_1d(const double *f, int n, double *out, int *v, double *z)
{
    int k = 0;
    v[0] = 0;
    z[0] = -HUGE_VAL;
    z[1] = HUGE_VAL;
    for (int q = 1; q < n; q++) {
        double s;
        /* z[0] is -inf and every s is finite, so this stops at k == 0. */
        for (;;) {
            int p = v[k];
            s = ((f[q] + (double)q * q) - (f[p] + (double)p * p)) / (2.0 * (q - p));
            if (s > z[k])
                break;
            k--;
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = HUGE_VAL;
    }
    k = 0;
    for (int q = 0; q < n; q++) {
        while (z[k + 1] < q)
            k++;
        double dq = q - v[k];
        out[q] = dq * dq + f[v[k]];
    }
}

/* edt_1d in integers, without its divisions, for rows of up to
 * EDT_INT_SIDE pixels whose f are integers (squared distances) or
 * EDT_INT_FAR. For such input edt_1d is exact: its intersections are
 * ratios of small integers, distinct ones far apart compared with the
 * rounding, so every comparison comes out as in exact arithmetic, and the
 * result is the exact lower envelope, which this computes too (comparing
 * the ratios by cross-multiplication, well within 64 bits). */
#define EDT_INT_SIDE 4096
#define EDT_INT_FAR ((int64_t)1 << 40)

static void edt_1d_int(const int64_t *f, int n, int64_t *out, int *v, int64_t *zn, int64_t *zd)
{
    int k = 0;
    v[0] = 0;
    for (int q = 1; q < n; q++) {
        int64_t num, den;
        for (;;) {
            int p = v[k];
            num = (f[q] + (int64_t)q * q) - (f[p] + (int64_t)p * p);
            den = 2 * (int64_t)(q - p);
            /* num / den > z[k] = zn[k] / zd[k], z[0] being -infinity */
            if (k == 0 || num * zd[k] > zn[k] * den)
                break;
            k--;
        }
        k++;
        v[k] = q;
        zn[k] = num;
        zd[k] = den;
    }
    int top = k;   /* z[top + 1] is +infinity */
    k = 0;
    for (int q = 0; q < n; q++) {
        while (k < top && zn[k + 1] < (int64_t)q * zd[k + 1])
            k++;
        int64_t dq = q - v[k];
        out[q] = dq * dq + f[v[k]];
    }
}

/* Reach up to which seed_distance_sq takes the windowed row pass: it
 * costs a pass per column of reach, the transform a fixed few. Measured on
 * hairline digits through the whole pipeline, the window is 1.2-1.3x
 * faster up to a reach of 16 with -O3 (AVX-512 or x86-64-v2 alike), and
 * past that its lead shrinks to nothing in an x86-64-v2 build (and in one
 * without -O3's vectorising, turns into a loss from about 10). */
#define ROW_WINDOW_MAX_REACH 16

/* Squared distance from every crop pixel to the nearest seed pixel, exact
 * up to reach^2 and above reach^2 beyond it (reach < 0: exact everywhere):
 * along columns, then along rows over those. The column pass used to be
 * edt_1d too; on its 0 / far input that gives exactly the squared distance
 * to the column's nearest seed (all integers, exact), which two sweeps over
 * all columns at once compute much faster. A column without seeds gave
 * about "far" (1e20 plus rounding noise); any huge value serves the same:
 * in the row pass such a parabola never beats one of a seeded column within
 * the crop (there is at least one), so the result is the same exact
 * integer either way. */
static double *seed_distance_sq(const crop *cr, int reach, arena *mem)
{
    size_t w = (size_t)cr->w, total = w * (size_t)cr->h;
    double *dist = arena_alloc(mem, total * sizeof *dist);
    int32_t *gap = arena_alloc(mem, total * sizeof *gap);
    if (!dist || !gap)
        return NULL;
    /* Rows from a seed, down then up; "none" stays above any real gap. */
    const int32_t none = INT32_MAX / 2;
    for (size_t x = 0; x < w; x++)
        gap[x] = cr->seed[x] ? 0 : none;
    for (int y = 1; y < cr->h; y++) {
        const uint8_t *seed = cr->seed + (size_t)y * w;
        const int32_t *above = gap + (size_t)(y - 1) * w;
        int32_t *g = gap + (size_t)y * w;
        for (size_t x = 0; x < w; x++)
            g[x] = seed[x] ? 0 : (above[x] < none ? above[x] + 1 : none);
    }
    for (int y = cr->h - 2; y >= 0; y--) {
        const int32_t *below = gap + (size_t)(y + 1) * w;
        int32_t *g = gap + (size_t)y * w;
        for (size_t x = 0; x < w; x++)
            g[x] = below[x] + 1 < g[x] ? below[x] + 1 : g[x];
    }
    if (reach >= 0 && reach <= ROW_WINDOW_MAX_REACH) {
        /* The caller needs distances up to reach only, and such a distance
         * comes from a seed at most reach columns away: the minimum over
         * that window, column distances capped at reach + 1 (a capped term
         * exceeds reach^2 whatever its column), is exact up to reach^2 and
         * stays above it otherwise. For the few pixels a thin stroke is
         * widened by, that is faster than the transform. */
        int32_t cap = reach + 1, far_sq = cap * cap;
        int32_t *padded = arena_alloc(mem, (w + 2 * (size_t)reach) * sizeof *padded);
        int32_t *best = arena_alloc(mem, w * sizeof *best);
        if (!padded || !best)
            return NULL;
        for (int i = 0; i < reach; i++)
            padded[i] = padded[(size_t)reach + w + (size_t)i] = far_sq;
        int32_t *centre = padded + reach;
        for (int y = 0; y < cr->h; y++) {
            const int32_t *g = gap + (size_t)y * w;
            for (size_t x = 0; x < w; x++)
                centre[x] = g[x] < cap ? g[x] * g[x] : far_sq;
            memcpy(best, centre, w * sizeof *best);
            for (int dx = 1; dx <= reach; dx++) {
                const int32_t *left = centre - dx, *right = centre + dx;
                int32_t dx_sq = dx * dx;
                for (size_t x = 0; x < w; x++) {
                    int32_t a = left[x] < right[x] ? left[x] : right[x];
                    best[x] = a + dx_sq < best[x] ? a + dx_sq : best[x];
                }
            }
            double *row = dist + (size_t)y * w;
            for (size_t x = 0; x < w; x++)
                row[x] = (double)best[x];
        }
        return dist;
    }
    /* The transform's parabola indices, for either version of it. */
    int n = cr->w > cr->h ? cr->w : cr->h;
    int *v = arena_alloc(mem, (size_t)n * sizeof *v);
    if (!v)
        return NULL;
    if (cr->w <= EDT_INT_SIDE && cr->h <= EDT_INT_SIDE) {
        int64_t *f = arena_alloc(mem, w * sizeof *f);
        int64_t *o = arena_alloc(mem, w * sizeof *o);
        int64_t *zn = arena_alloc(mem, (w + 1) * sizeof *zn);
        int64_t *zd = arena_alloc(mem, (w + 1) * sizeof *zd);
        if (!f || !o || !zn || !zd)
            return NULL;
        for (int y = 0; y < cr->h; y++) {
            const int32_t *g = gap + (size_t)y * w;
            for (size_t x = 0; x < w; x++)
                f[x] = g[x] < none ? (int64_t)g[x] * g[x] : EDT_INT_FAR;
            edt_1d_int(f, cr->w, o, v, zn, zd);
            double *row = dist + (size_t)y * w;
            for (size_t x = 0; x < w; x++)
                row[x] = (double)o[x];
        }
        return dist;
    }
    /* A large finite "infinity": real infinities would give inf - inf. */
    const double far = 1e20;
    double *f = arena_alloc(mem, (size_t)n * sizeof *f);
    double *z = arena_alloc(mem, ((size_t)n + 1) * sizeof *z);
    if (!f || !z)
        return NULL;
    for (size_t i = 0; i < total; i++)
        dist[i] = gap[i] < none ? (double)gap[i] * (double)gap[i] : far;
    for (int y = 0; y < cr->h; y++) {
        double *row = dist + (size_t)y * w;
        memcpy(f, row, w * sizeof *f);
        edt_1d(f, cr->w, row, v, z);
    }
    return dist;
}

int widen_strokes(crop *cr, double r, arena *mem)
{
    /* Coverage is 0 from r + 1 out: no distance beyond that matters. (r
     * is under the picture's side, which an int holds.) */
    double *dist = seed_distance_sq(cr, (int)ceil(r + 1.0), mem);
    if (!dist)
        return -1;
    size_t n = (size_t)cr->w * (size_t)cr->h;
    float *v = cr->v;
    for (size_t i = 0; i < n; i++) {
        double cover = clampd(r + 1.0 - sqrt(dist[i]), 0.0, 1.0);
        v[i] = cover > v[i] ? (float)cover : v[i];
    }
    return 0;
}

double widen_radius(double width, int box_long)
{
    double k = MIN_STROKE_OUT / BOX_SIDE;
    double r = (k * box_long - width) / (2.0 * (1.0 - k));
    if (r <= 0)
        return 0;   /* wide enough (and r_out below would change sign past -box_long / 2) */
    /* A sliver of widening would only add a faint halo that enlarges the box
     * by a pixel and blurs everything in the rescale; not worth it. */
    double r_out = r * BOX_SIDE / (box_long + 2.0 * r);
    return r_out >= MIN_WIDEN_OUT ? r : 0;
}
