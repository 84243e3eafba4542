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
 *   2. decide polarity from the border and flip so ink is bright ("v");
 *   3. subtract a coarse local background (uneven lighting), giving the ink
 *      contrast "d" (0 = paper); refuse low-contrast pictures as blank;
 *   4. Otsu on d gives the ink seeds; 8-connected components far smaller
 *      than the largest and not near it are specks and are dropped;
 *   5. the kept ink plus its anti-aliased fringe becomes a 0..1 intensity
 *      crop; strokes too thin to survive the reduction to 20 px (a 2 px pen
 *      on a 600 px canvas) are widened to a thin MNIST pen with a distance
 *      transform, so they do not fade to a faint 1 px trace;
 *   6. area-average (or bilinearly enlarge) to 20 px on the longest side,
 *      then place by centre of mass in the 28x28 frame.
 *
 * All thresholds are on a 0..255 scale. preprocess_info.threshold is the ink
 * threshold in contrast units (grey levels above the local background), the
 * quantity the decision is actually made on; background is the paper grey
 * level measured on the border after compositing.
 */
#include "preprocess.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Geometry of the MNIST frame. */
#define BOX_SIDE 20
/* MNIST's centre of mass, in pixel-index coordinates, is (14.0, 14.0). */
#define COM_TARGET 14.0

/* Ink must stand at least this far above the paper (grey levels) somewhere,
 * or the picture is blank: faint sensor noise and JPEG-ish mush stay under. */
#define MIN_CONTRAST 40
/* Polarity from the border median: clearly light or clearly dark paper. In
 * between (dim photos of paper), the side the extreme pixels lie on decides. */
#define LIGHT_PAPER 160
#define DARK_PAPER 95
/* Below this size a background map has too few pixels per tile to be
 * meaningful; the border median is used as a flat background instead. */
#define MIN_SIDE_FOR_MAP 48
#define MIN_TILE 16
#define TILES_ACROSS 8
/* Per-tile percentile taken as paper: a tile need only be 20% paper. */
#define TILE_PAPER_QUANTILE 0.20
/* Component filter: relative masses (sum of contrast) against the largest. */
#define BIG_COMPONENT 0.05
#define MEDIUM_COMPONENT 0.01
#define MEDIUM_NEAR_FRACTION 0.10   /* of the digit's longest side */
#define TINY_NEAR_PX 2              /* tiny pieces must nearly touch a stroke */
/* Anti-aliasing fringe kept around the thresholded strokes (source px). */
#define FRINGE_PX 2
/* Thinnest stroke, in output pixels, a digit may have after scaling. By the
 * same estimator MNIST's median stroke is about 2.5 px and its 15th
 * percentile 2.0. Widening by less than MIN_WIDEN_OUT per side is skipped,
 * so only strokes under 1.5 px are touched: about 3% of MNIST, and any thin
 * pen on a large canvas. */
#define MIN_STROKE_OUT 2.0
#define MIN_WIDEN_OUT 0.25
/* Far beyond any sane upload; keeps the int32 label and index maths safe. */
#define MAX_PIXELS ((size_t)1 << 30)
/* Images above this many pixels are block-averaged first (see
 * work_factor): about 1450 x 1450, far more than a 20 px digit needs. */
#define WORK_PIXELS ((size_t)1 << 21)
/* M_PI is not ISO C. */
#define PI 3.14159265358979323846

const char *preprocess_status_text(preprocess_status status)
{
    switch (status) {
    case PREPROCESS_OK: return "ok";
    case PREPROCESS_BLANK: return "no digit found (blank image)";
    case PREPROCESS_BAD_INPUT: return "unsupported or empty image";
    case PREPROCESS_NO_MEMORY: return "out of memory";
    }
    return "unknown preprocess status";
}

typedef struct {
    int x0, y0, x1, y1;   /* inclusive */
} rect;

static rect rect_empty(void)
{
    rect r = {INT32_MAX, INT32_MAX, -1, -1};
    return r;
}

static int rect_is_empty(rect r)
{
    return r.x1 < r.x0 || r.y1 < r.y0;
}

static void rect_add(rect *r, int x, int y)
{
    if (x < r->x0) r->x0 = x;
    if (y < r->y0) r->y0 = y;
    if (x > r->x1) r->x1 = x;
    if (y > r->y1) r->y1 = y;
}

static void rect_union(rect *r, rect o)
{
    if (rect_is_empty(o))
        return;
    rect_add(r, o.x0, o.y0);
    rect_add(r, o.x1, o.y1);
}

static int rect_long_side(rect r)
{
    int w = r.x1 - r.x0 + 1, h = r.y1 - r.y0 + 1;
    return w > h ? w : h;
}

/* Chebyshev gap between two rectangles, 0 when they overlap or touch. */
static int rect_gap(rect a, rect b)
{
    int gx = a.x0 > b.x1 ? a.x0 - b.x1 : (b.x0 > a.x1 ? b.x0 - a.x1 : 0);
    int gy = a.y0 > b.y1 ? a.y0 - b.y1 : (b.y0 > a.y1 ? b.y0 - a.y1 : 0);
    return gx > gy ? gx : gy;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* ---- step 1: compositing ----------------------------------------------- */

static uint8_t luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((299u * r + 587u * g + 114u * b + 500u) / 1000u);
}

/* Straight alpha over the paper: a fully transparent pixel is paper,
 * whatever colour its (meaningless) RGB holds. */
static uint8_t over_paper(unsigned grey, unsigned alpha, unsigned paper)
{
    return (uint8_t)((grey * alpha + paper * (255u - alpha) + 127u) / 255u);
}

static unsigned pixel_grey(const uint8_t *p, int channels)
{
    return channels >= 3 ? luma(p[0], p[1], p[2]) : p[0];
}

static int is_border(int x, int y, int w, int h)
{
    return x == 0 || y == 0 || x == w - 1 || y == h - 1;
}

/* The paper to composite onto. White, as a canvas export is shown on a page,
 * unless the background (border) is transparent and the opaque strokes are
 * themselves light: white ink drawn over a dark page would vanish on white. */
static unsigned choose_paper(const image *src)
{
    int ch = src->channels;
    if (ch != 2 && ch != 4)
        return 255;
    size_t border = 0, clear = 0, opaque = 0;
    double grey_sum = 0;
    for (int y = 0; y < src->height; y++)
        for (int x = 0; x < src->width; x++) {
            const uint8_t *p = src->pixels + ((size_t)y * (size_t)src->width + (size_t)x) * (size_t)ch;
            unsigned a = p[ch - 1];
            if (is_border(x, y, src->width, src->height)) {
                border++;
                clear += a < 128;
            }
            if (a >= 128) {
                opaque++;
                grey_sum += pixel_grey(p, ch);
            }
        }
    if (2 * clear <= border || opaque == 0)
        return 255;
    return grey_sum / (double)opaque > 127.5 ? 0 : 255;
}

static uint8_t composited_grey(const image *src, size_t i, unsigned paper)
{
    int ch = src->channels;
    const uint8_t *p = src->pixels + i * (size_t)ch;
    unsigned grey = pixel_grey(p, ch);
    return (ch == 2 || ch == 4) ? over_paper(grey, p[ch - 1], paper) : (uint8_t)grey;
}

/* Smallest integer reduction that brings the image within WORK_PIXELS. */
static int work_factor(int w, int h)
{
    int f = 1;
    while ((size_t)((w + f - 1) / f) * (size_t)((h + f - 1) / f) > WORK_PIXELS)
        f++;
    return f;
}

/* Composites and takes luma, averaging f x f blocks (partial blocks at the
 * right and bottom edges average what they have). sums is ww scratch. */
static void composite_reduce(const image *src, unsigned paper, int f, uint8_t *lum, int ww,
                             int wh, uint32_t *sums)
{
    for (int ry = 0; ry < wh; ry++) {
        memset(sums, 0, (size_t)ww * sizeof *sums);
        int y0 = ry * f, y1 = y0 + f < src->height ? y0 + f : src->height;
        for (int y = y0; y < y1; y++)
            for (int x = 0; x < src->width; x++)
                sums[x / f] += composited_grey(src, (size_t)y * (size_t)src->width + (size_t)x, paper);
        for (int rx = 0; rx < ww; rx++) {
            int x0 = rx * f, x1 = x0 + f < src->width ? x0 + f : src->width;
            uint32_t count = (uint32_t)((x1 - x0) * (y1 - y0));
            lum[(size_t)ry * (size_t)ww + (size_t)rx] = (uint8_t)((sums[rx] + count / 2) / count);
        }
    }
}

/* ---- histograms -------------------------------------------------------- */

/* Smallest value v such that at least q of the counted pixels are <= v. */
static int hist_quantile(const size_t hist[256], size_t total, double q)
{
    if (total == 0)
        return 0;
    double want = q * (double)total;
    size_t acc = 0;
    for (int v = 0; v < 256; v++) {
        acc += hist[v];
        if ((double)acc >= want && acc > 0)
            return v;
    }
    return 255;
}

static int border_median(const uint8_t *lum, int w, int h)
{
    size_t hist[256] = {0}, total = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (is_border(x, y, w, h)) {
                hist[lum[(size_t)y * (size_t)w + (size_t)x]]++;
                total++;
            }
    return hist_quantile(hist, total, 0.5);
}

/* ---- step 2: polarity -------------------------------------------------- */

/* 1 when the ink is darker than the paper. The border median decides when
 * it is clearly light or dark; a mid-grey border (a dim photo of paper) is
 * settled by which side of it the most extreme pixels reach furthest. */
static int ink_is_dark(const uint8_t *lum, size_t n, int paper)
{
    if (paper >= LIGHT_PAPER)
        return 1;
    if (paper <= DARK_PAPER)
        return 0;
    size_t hist[256] = {0};
    for (size_t i = 0; i < n; i++)
        hist[lum[i]]++;
    int darkest = hist_quantile(hist, n, 0.001);
    int lightest = hist_quantile(hist, n, 0.999);
    return paper - darkest >= lightest - paper;
}

/* ---- step 3: background and contrast ----------------------------------- */

typedef struct {
    int cols, rows, tile;
    float *level;   /* cols * rows, paper level at each tile centre */
} bg_map;

static int tile_paper_level(const uint8_t *v, int w, int h, int tx, int ty, int tile)
{
    size_t hist[256] = {0}, total = 0;
    int x_end = tx * tile + tile < w ? tx * tile + tile : w;
    int y_end = ty * tile + tile < h ? ty * tile + tile : h;
    for (int y = ty * tile; y < y_end; y++)
        for (int x = tx * tile; x < x_end; x++) {
            hist[v[(size_t)y * (size_t)w + (size_t)x]]++;
            total++;
        }
    return hist_quantile(hist, total, TILE_PAPER_QUANTILE);
}

/* Tile level with linear extrapolation past the grid's edge, so that a
 * window centred on an edge tile still sees a symmetric ramp. */
static float tile_level_ext(const bg_map *m, int x, int y)
{
    int cx = clampi(x, 0, m->cols - 1), cy = clampi(y, 0, m->rows - 1);
    float v = m->level[(size_t)cy * (size_t)m->cols + (size_t)cx];
    if (cx != x && m->cols > 1) {
        int in = cx == 0 ? 1 : cx - 1;
        v = 2 * v - m->level[(size_t)cy * (size_t)m->cols + (size_t)in];
    }
    if (cy != y && m->rows > 1) {
        int in = cy == 0 ? 1 : cy - 1;
        float edge = m->level[(size_t)cy * (size_t)m->cols + (size_t)cx];
        v += edge - m->level[(size_t)in * (size_t)m->cols + (size_t)cx];
    }
    return v;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* 3x3 median over the tile grid: a tile that is mostly stroke (thick
 * marker) is outvoted by its paper neighbours, while a lighting ramp, being
 * linear across the window, passes through unchanged. */
static int smooth_tiles(bg_map *m)
{
    size_t n = (size_t)m->cols * (size_t)m->rows;
    float *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return -1;
    for (int y = 0; y < m->rows; y++)
        for (int x = 0; x < m->cols; x++) {
            float win[9];
            int k = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                    win[k++] = tile_level_ext(m, x + dx, y + dy);
            qsort(win, 9, sizeof win[0], cmp_float);
            tmp[(size_t)y * (size_t)m->cols + (size_t)x] = win[4];
        }
    memcpy(m->level, tmp, n * sizeof *tmp);
    free(tmp);
    return 0;
}

static int build_bg_map(const uint8_t *v, int w, int h, int flat_level, bg_map *m)
{
    int longest = w > h ? w : h;
    int small = w < MIN_SIDE_FOR_MAP || h < MIN_SIDE_FOR_MAP;
    m->tile = small ? longest : (longest + TILES_ACROSS - 1) / TILES_ACROSS;
    if (m->tile < MIN_TILE)
        m->tile = MIN_TILE;
    m->cols = (w + m->tile - 1) / m->tile;
    m->rows = (h + m->tile - 1) / m->tile;
    m->level = malloc((size_t)m->cols * (size_t)m->rows * sizeof *m->level);
    if (!m->level)
        return -1;
    if (small) {
        /* One tile: flat background at the border's level. */
        for (int i = 0; i < m->cols * m->rows; i++)
            m->level[i] = (float)flat_level;
        return 0;
    }
    for (int ty = 0; ty < m->rows; ty++)
        for (int tx = 0; tx < m->cols; tx++)
            m->level[ty * m->cols + tx] = (float)tile_paper_level(v, w, h, tx, ty, m->tile);
    return smooth_tiles(m);
}

/* Bilinear interpolation between tile centres, clamped at the edges. */
static float bg_at(const bg_map *m, int x, int y)
{
    double fx = ((double)x + 0.5) / m->tile - 0.5;
    double fy = ((double)y + 0.5) / m->tile - 0.5;
    fx = clampd(fx, 0.0, (double)(m->cols - 1));
    fy = clampd(fy, 0.0, (double)(m->rows - 1));
    int x0 = (int)fx, y0 = (int)fy;
    int x1 = x0 + 1 < m->cols ? x0 + 1 : x0;
    int y1 = y0 + 1 < m->rows ? y0 + 1 : y0;
    double ax = fx - x0, ay = fy - y0;
    const float *L = m->level;
    double top = L[y0 * m->cols + x0] * (1 - ax) + L[y0 * m->cols + x1] * ax;
    double bot = L[y1 * m->cols + x0] * (1 - ax) + L[y1 * m->cols + x1] * ax;
    return (float)(top * (1 - ay) + bot * ay);
}

/* Replaces v (ink bright) by its contrast over the local background. */
static void subtract_background(uint8_t *v, int w, int h, const bg_map *m)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            int d = (int)lroundf((float)v[i] - bg_at(m, x, y));
            v[i] = (uint8_t)clampi(d, 0, 255);
        }
}

/* Otsu's threshold: the split maximising between-class variance. */
static int otsu(const size_t hist[256], size_t total)
{
    double sum_all = 0;
    for (int v = 0; v < 256; v++)
        sum_all += (double)v * (double)hist[v];
    double w0 = 0, sum0 = 0, best = -1;
    int best_t = 0;
    for (int t = 0; t < 255; t++) {
        w0 += (double)hist[t];
        sum0 += (double)t * (double)hist[t];
        double w1 = (double)total - w0;
        if (w0 <= 0 || w1 <= 0)
            continue;
        double m0 = sum0 / w0, m1 = (sum_all - sum0) / w1;
        double between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if (between > best) {
            best = between;
            best_t = t;
        }
    }
    return best_t;
}

/* Contrast levels derived from the histogram of d. */
typedef struct {
    int peak;       /* robust maximum contrast */
    int threshold;  /* seeds are d > threshold */
} contrast_levels;

static contrast_levels choose_levels(const uint8_t *d, size_t n)
{
    size_t hist[256] = {0};
    for (size_t i = 0; i < n; i++)
        hist[d[i]]++;
    /* The peak ignores the very top few pixels (isolated hot pixels) but
     * must still see a thin digit that covers a tiny part of a big canvas. */
    size_t keep_top = n / 20000;
    keep_top = keep_top < 4 ? 4 : (keep_top > 64 ? 64 : keep_top);
    contrast_levels lv = {0, 0};
    size_t above = 0;
    for (int v = 255; v >= 0; v--) {
        above += hist[v];
        if (above >= keep_top) {
            lv.peak = v;
            break;
        }
    }
    /* Otsu is reliable when ink is a fair share of the picture; when it is a
     * sliver it drifts into the paper noise, hence the clamp to the peak. */
    int t = otsu(hist, n);
    int lo = lv.peak / 4 > MIN_CONTRAST / 2 ? lv.peak / 4 : MIN_CONTRAST / 2;
    int hi = lv.peak * 3 / 5;
    lv.threshold = clampi(t, lo, hi > lo ? hi : lo);
    return lv;
}

/* ---- step 4: connected components -------------------------------------- */

typedef struct {
    double mass;    /* sum of contrast over the component */
    size_t pixels;
    rect box;
    int keep;
} component;

typedef struct {
    uint32_t *label;    /* 0 = not ink, else index into comp (1-based) */
    component *comp;    /* comp[0] unused */
    size_t n_comp;
    size_t cap_comp;
} components;

static void components_free(components *c)
{
    free(c->label);
    free(c->comp);
    memset(c, 0, sizeof *c);
}

static int push_component(components *c)
{
    if (c->n_comp + 1 >= c->cap_comp) {
        size_t cap = c->cap_comp ? c->cap_comp * 2 : 64;
        component *grown = realloc(c->comp, cap * sizeof *grown);
        if (!grown)
            return -1;
        c->comp = grown;
        c->cap_comp = cap;
    }
    c->n_comp++;
    component *k = &c->comp[c->n_comp];
    k->mass = 0;
    k->pixels = 0;
    k->box = rect_empty();
    k->keep = 0;
    return 0;
}

typedef struct {
    uint32_t *items;
    size_t len, cap;
} index_stack;

static int stack_push(index_stack *s, uint32_t v)
{
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        uint32_t *grown = realloc(s->items, cap * sizeof *grown);
        if (!grown)
            return -1;
        s->items = grown;
        s->cap = cap;
    }
    s->items[s->len++] = v;
    return 0;
}

/* Flood-fills one component from seed index start (explicit stack: the
 * recursion depth of a naive fill would be the component's size). */
static int flood(components *c, index_stack *st, const uint8_t *d, int w, int h,
                 int threshold, uint32_t start)
{
    uint32_t id = (uint32_t)c->n_comp;
    component *k = &c->comp[id];
    c->label[start] = id;
    st->len = 0;
    if (stack_push(st, start) != 0)
        return -1;
    while (st->len > 0) {
        uint32_t i = st->items[--st->len];
        int x = (int)(i % (uint32_t)w), y = (int)(i / (uint32_t)w);
        k->mass += d[i];
        k->pixels++;
        rect_add(&k->box, x, y);
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int xx = x + dx, yy = y + dy;
                if (xx < 0 || yy < 0 || xx >= w || yy >= h)
                    continue;
                uint32_t j = (uint32_t)yy * (uint32_t)w + (uint32_t)xx;
                if (c->label[j] || d[j] <= threshold)
                    continue;
                c->label[j] = id;
                if (stack_push(st, j) != 0)
                    return -1;
            }
    }
    return 0;
}

static int label_components(const uint8_t *d, int w, int h, int threshold, components *c)
{
    size_t n = (size_t)w * (size_t)h;
    memset(c, 0, sizeof *c);
    c->label = calloc(n, sizeof *c->label);
    if (!c->label)
        return -1;
    index_stack st = {NULL, 0, 0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (c->label[i] || d[i] <= threshold)
            continue;
        rc = push_component(c);
        if (rc == 0)
            rc = flood(c, &st, d, w, h, threshold, (uint32_t)i);
    }
    free(st.items);
    return rc;
}

/* True when pixel (x, y) has a pixel of a big component within the tiny-
 * piece reach. */
static int near_big(const components *c, int w, int h, int x, int y)
{
    for (int yy = y - TINY_NEAR_PX; yy <= y + TINY_NEAR_PX; yy++)
        for (int xx = x - TINY_NEAR_PX; xx <= x + TINY_NEAR_PX; xx++) {
            if (xx < 0 || yy < 0 || xx >= w || yy >= h)
                continue;
            uint32_t id = c->label[(size_t)yy * (size_t)w + (size_t)xx];
            if (id && c->comp[id].keep == 2)
                return 1;
        }
    return 0;
}

/* Decides comp[].keep: 2 = big (part of the digit), 1 = kept small piece.
 * Several big strokes are all kept (a "4" or "5" drawn in two strokes);
 * smaller pieces only when close to them, so far specks cannot stretch the
 * bounding box. Returns the box of all kept ink. */
static rect select_components(components *c, int w, int h)
{
    double largest = 0;
    for (size_t k = 1; k <= c->n_comp; k++)
        if (c->comp[k].mass > largest)
            largest = c->comp[k].mass;
    rect big = rect_empty();
    for (size_t k = 1; k <= c->n_comp; k++)
        if (c->comp[k].mass >= BIG_COMPONENT * largest) {
            c->comp[k].keep = 2;
            rect_union(&big, c->comp[k].box);
        }
    int medium_reach = (int)lround(MEDIUM_NEAR_FRACTION * rect_long_side(big));
    if (medium_reach < TINY_NEAR_PX)
        medium_reach = TINY_NEAR_PX;
    rect kept = big;
    for (size_t k = 1; k <= c->n_comp; k++) {
        component *p = &c->comp[k];
        if (p->keep == 0 && p->mass >= MEDIUM_COMPONENT * largest &&
            rect_gap(p->box, big) <= medium_reach) {
            p->keep = 1;
            rect_union(&kept, p->box);
        }
    }
    /* Tiny pieces: one pass over the pixels, checking a small neighbourhood
     * only for pixels of still-undecided tiny components. */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t id = c->label[(size_t)y * (size_t)w + (size_t)x];
            if (!id || c->comp[id].keep || c->comp[id].mass >= MEDIUM_COMPONENT * largest)
                continue;
            if (near_big(c, w, h, x, y)) {
                c->comp[id].keep = 1;
                rect_union(&kept, c->comp[id].box);
            }
        }
    return kept;
}

static size_t largest_component_pixels(const components *c)
{
    size_t best = 0;
    for (size_t k = 1; k <= c->n_comp; k++)
        if (c->comp[k].pixels > best)
            best = c->comp[k].pixels;
    return best;
}

/* ---- step 5: the intensity crop ---------------------------------------- */

/* A float image with its placement in source coordinates. */
typedef struct {
    int x0, y0;      /* source coordinates of pixel (0, 0) */
    int w, h;
    float *v;        /* 0..1 ink intensity */
    uint8_t *seed;   /* 1 where a kept seed pixel lies */
} crop;

static void crop_free(crop *c)
{
    free(c->v);
    free(c->seed);
    c->v = NULL;
    c->seed = NULL;
}

static int crop_alloc(crop *c, int x0, int y0, int w, int h)
{
    c->x0 = x0;
    c->y0 = y0;
    c->w = w;
    c->h = h;
    size_t n = (size_t)w * (size_t)h;
    c->v = calloc(n, sizeof *c->v);
    c->seed = calloc(n, 1);
    if (!c->v || !c->seed) {
        crop_free(c);
        return -1;
    }
    return 0;
}

/* Chebyshev dilation of a byte mask by radius r, separably (rows then
 * columns), using running counts so the cost does not grow with r. */
static int dilate_mask(const uint8_t *in, uint8_t *out, int w, int h, int r)
{
    uint8_t *tmp = malloc((size_t)w * (size_t)h);
    if (!tmp)
        return -1;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = in + (size_t)y * (size_t)w;
        int count = 0;
        for (int x = 0; x < r && x < w; x++)
            count += row[x] != 0;
        for (int x = 0; x < w; x++) {
            if (x + r < w)
                count += row[x + r] != 0;
            if (x - r - 1 >= 0)
                count -= row[x - r - 1] != 0;
            tmp[(size_t)y * (size_t)w + (size_t)x] = count > 0;
        }
    }
    for (int x = 0; x < w; x++) {
        int count = 0;
        for (int y = 0; y < r && y < h; y++)
            count += tmp[(size_t)y * (size_t)w + (size_t)x];
        for (int y = 0; y < h; y++) {
            if (y + r < h)
                count += tmp[(size_t)(y + r) * (size_t)w + (size_t)x];
            if (y - r - 1 >= 0)
                count -= tmp[(size_t)(y - r - 1) * (size_t)w + (size_t)x];
            out[(size_t)y * (size_t)w + (size_t)x] = count > 0;
        }
    }
    free(tmp);
    return 0;
}

/* Levels mapping contrast to intensity: at or below floor is paper, at or
 * above core is the full stroke, anti-aliased edges fall in between. */
typedef struct {
    double floor, core;
} ink_ramp;

/* floor: twice the median contrast of non-ink pixels, i.e. just above the
 * paper noise (zero for clean images such as MNIST, whose faint fringes are
 * then kept). core: the 90th percentile of the kept strokes, so a pencil's
 * uneven core still reaches full intensity. */
static ink_ramp choose_ramp(const uint8_t *d, const components *c, size_t n, int threshold)
{
    size_t paper[256] = {0}, ink[256] = {0}, n_paper = 0, n_ink = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = c->label[i];
        if (!id) {
            paper[d[i]]++;
            n_paper++;
        } else if (c->comp[id].keep) {
            ink[d[i]]++;
            n_ink++;
        }
    }
    ink_ramp r;
    r.floor = 2.0 * hist_quantile(paper, n_paper, 0.5);
    if (r.floor > threshold / 2.0)
        r.floor = threshold / 2.0;
    r.core = hist_quantile(ink, n_ink, 0.90);
    if (r.core < r.floor + 1.0)
        r.core = r.floor + 1.0;
    return r;
}

/* Fills cr (already placed over the kept ink plus the fringe margin) with
 * intensities: seeds, and fringe pixels within FRINGE_PX of a seed. */
static int fill_crop(crop *cr, const uint8_t *d, const components *c, int src_w, int src_h,
                     ink_ramp ramp)
{
    size_t n = (size_t)cr->w * (size_t)cr->h;
    uint8_t *near = malloc(n);
    if (!near)
        return -1;
    for (int y = 0; y < cr->h; y++)
        for (int x = 0; x < cr->w; x++) {
            int sx = cr->x0 + x, sy = cr->y0 + y;
            if (sx < 0 || sy < 0 || sx >= src_w || sy >= src_h)
                continue;
            uint32_t id = c->label[(size_t)sy * (size_t)src_w + (size_t)sx];
            cr->seed[(size_t)y * (size_t)cr->w + (size_t)x] = id && c->comp[id].keep;
        }
    if (dilate_mask(cr->seed, near, cr->w, cr->h, FRINGE_PX) != 0) {
        free(near);
        return -1;
    }
    for (int y = 0; y < cr->h; y++)
        for (int x = 0; x < cr->w; x++) {
            size_t i = (size_t)y * (size_t)cr->w + (size_t)x;
            int sx = cr->x0 + x, sy = cr->y0 + y;
            if (!near[i] || sx < 0 || sy < 0 || sx >= src_w || sy >= src_h)
                continue;
            double dv = d[(size_t)sy * (size_t)src_w + (size_t)sx];
            cr->v[i] = (float)clampd((dv - ramp.floor) / (ramp.core - ramp.floor), 0.0, 1.0);
        }
    free(near);
    return 0;
}

static rect crop_ink_box(const crop *cr)
{
    rect r = rect_empty();
    for (int y = 0; y < cr->h; y++)
        for (int x = 0; x < cr->w; x++)
            if (cr->v[(size_t)y * (size_t)cr->w + (size_t)x] > 0.0f)
                rect_add(&r, x, y);
    return r;
}

/* Mean stroke width in pixels: twice the ink area over the outline length.
 * The outline is counted as 4-neighbour seed/non-seed edges, which over-
 * counts a curve's length by 4/pi on average, hence the correction. */
static double stroke_width(const crop *cr)
{
    double area = 0;
    size_t edges = 0;
    for (int y = 0; y < cr->h; y++)
        for (int x = 0; x < cr->w; x++) {
            size_t i = (size_t)y * (size_t)cr->w + (size_t)x;
            area += cr->v[i];
            int s = cr->seed[i];
            int right = x + 1 < cr->w ? cr->seed[i + 1] : 0;
            int down = y + 1 < cr->h ? cr->seed[i + (size_t)cr->w] : 0;
            edges += (size_t)(s != right) + (size_t)(s != down);
            if (x == 0) edges += (size_t)s;
            if (y == 0) edges += (size_t)s;
        }
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

/* Squared distance from every crop pixel to the nearest seed pixel. */
static double *seed_distance_sq(const crop *cr)
{
    int n = cr->w > cr->h ? cr->w : cr->h;
    size_t total = (size_t)cr->w * (size_t)cr->h;
    double *dist = malloc(total * sizeof *dist);
    double *f = calloc((size_t)n, sizeof *f);
    double *o = malloc((size_t)n * sizeof *o);
    double *z = malloc(((size_t)n + 1) * sizeof *z);
    int *v = malloc((size_t)n * sizeof *v);
    if (!dist || !f || !o || !z || !v) {
        free(dist);
        dist = NULL;
        goto done;
    }
    /* A large finite "infinity": real infinities would give inf - inf. */
    const double far = 1e20;
    for (int x = 0; x < cr->w; x++) {
        for (int y = 0; y < cr->h; y++)
            f[y] = cr->seed[(size_t)y * (size_t)cr->w + (size_t)x] ? 0.0 : far;
        edt_1d(f, cr->h, o, v, z);
        for (int y = 0; y < cr->h; y++)
            dist[(size_t)y * (size_t)cr->w + (size_t)x] = o[y];
    }
    for (int y = 0; y < cr->h; y++) {
        double *row = dist + (size_t)y * (size_t)cr->w;
        memcpy(f, row, (size_t)cr->w * sizeof *f);
        edt_1d(f, cr->w, row, v, z);
    }
done:
    free(f);
    free(o);
    free(z);
    free(v);
    return dist;
}

/* Widens every stroke by r pixels on each side with a round pen, anti-
 * aliased: a pixel's coverage falls from 1 to 0 over the pixel at distance
 * r + 0.5 beyond the seed outline. */
static int widen_strokes(crop *cr, double r)
{
    double *dist = seed_distance_sq(cr);
    if (!dist)
        return -1;
    size_t n = (size_t)cr->w * (size_t)cr->h;
    for (size_t i = 0; i < n; i++) {
        double cover = clampd(r + 1.0 - sqrt(dist[i]), 0.0, 1.0);
        if (cover > cr->v[i])
            cr->v[i] = (float)cover;
    }
    free(dist);
    return 0;
}

/* The widening radius (source px) needed so the strokes come out at least
 * MIN_STROKE_OUT wide once the box's long side, itself grown by 2r, is
 * scaled to BOX_SIDE. Solved for r in closed form. */
static double widen_radius(double width, int box_long)
{
    double k = MIN_STROKE_OUT / BOX_SIDE;
    double r = (k * box_long - width) / (2.0 * (1.0 - k));
    /* A sliver of widening would only add a faint halo that enlarges the box
     * by a pixel and blurs everything in the rescale; not worth it. */
    double r_out = r * BOX_SIDE / (box_long + 2.0 * r);
    return r_out >= MIN_WIDEN_OUT ? r : 0;
}

/* ---- step 6: scaling and placement ------------------------------------- */

/* Sparse 1-D resampling: output j = sum of weight * source[first[j] + t]. */
typedef struct {
    int n_out, per;  /* per = weights stored per output */
    int *first;
    int *count;
    float *weight;
} resample_plan;

static void plan_free(resample_plan *p)
{
    free(p->first);
    free(p->count);
    free(p->weight);
    memset(p, 0, sizeof *p);
}

/* Shrinking (s <= 1): each output pixel is the mean over its exact source
 * footprint, partial pixels weighted by coverage, so a 600 px digit does not
 * alias. Enlarging: bilinear, with zero ink outside the box. */
static int plan_build(resample_plan *p, int n_src, double s, int n_out)
{
    memset(p, 0, sizeof *p);
    p->n_out = n_out;
    p->per = s <= 1.0 ? (int)ceil(1.0 / s) + 2 : 2;
    p->first = calloc((size_t)n_out, sizeof *p->first);
    p->count = calloc((size_t)n_out, sizeof *p->count);
    p->weight = calloc((size_t)n_out * (size_t)p->per, sizeof *p->weight);
    if (!p->first || !p->count || !p->weight) {
        plan_free(p);
        return -1;
    }
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
            p->first[j] = i0;
            p->count[j] = 2;
            wt[0] = (float)(1.0 - f);
            wt[1] = (float)f;
        }
    }
    return 0;
}

static float plan_apply(const resample_plan *p, int j, const float *src, size_t stride, int n_src)
{
    const float *wt = p->weight + (size_t)j * (size_t)p->per;
    double acc = 0;
    for (int t = 0; t < p->count[j]; t++) {
        int i = p->first[j] + t;
        if (i >= 0 && i < n_src)
            acc += wt[t] * src[(size_t)i * stride];
    }
    return (float)acc;
}

/* Scales the box of cr to out_w x out_h (longest side BOX_SIDE). */
static int scale_box(const crop *cr, rect box, double s, float *out, int out_w, int out_h)
{
    int bw = box.x1 - box.x0 + 1, bh = box.y1 - box.y0 + 1;
    resample_plan px, py;
    if (plan_build(&px, bw, s, out_w) != 0)
        return -1;
    if (plan_build(&py, bh, s, out_h) != 0) {
        plan_free(&px);
        return -1;
    }
    float *tmp = malloc((size_t)bh * (size_t)out_w * sizeof *tmp);
    if (!tmp) {
        plan_free(&px);
        plan_free(&py);
        return -1;
    }
    for (int y = 0; y < bh; y++) {
        const float *row = cr->v + (size_t)(box.y0 + y) * (size_t)cr->w + (size_t)box.x0;
        for (int x = 0; x < out_w; x++)
            tmp[(size_t)y * (size_t)out_w + (size_t)x] = plan_apply(&px, x, row, 1, bw);
    }
    for (int x = 0; x < out_w; x++)
        for (int y = 0; y < out_h; y++)
            out[(size_t)y * (size_t)out_w + (size_t)x] =
                plan_apply(&py, y, tmp + x, (size_t)out_w, bh);
    free(tmp);
    plan_free(&px);
    plan_free(&py);
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

static preprocess_status render(const crop *cr, rect box, uint8_t out[MNIST_PIXELS])
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
    float *canvas = calloc((size_t)out_w * (size_t)out_h, sizeof *canvas);
    if (!canvas)
        return PREPROCESS_NO_MEMORY;
    if (scale_box(cr, box, s, canvas, out_w, out_h) != 0) {
        free(canvas);
        return PREPROCESS_NO_MEMORY;
    }
    int ox, oy;
    if (place_by_mass(canvas, out_w, out_h, &ox, &oy) != 0) {
        free(canvas);
        return PREPROCESS_BLANK;
    }
    memset(out, 0, MNIST_PIXELS);
    int any = 0;
    for (int y = 0; y < out_h; y++)
        for (int x = 0; x < out_w; x++) {
            double v = canvas[(size_t)y * (size_t)out_w + (size_t)x];
            int q = (int)lround(clampd(v, 0.0, 1.0) * 255.0);
            out[(oy + y) * MNIST_SIDE + ox + x] = (uint8_t)q;
            any |= q;
        }
    free(canvas);
    return any ? PREPROCESS_OK : PREPROCESS_BLANK;
}

/* ---- optional: deskewing ----------------------------------------------- */

/* Slanted handwriting is the largest variation left after size and position
 * are normalised. The shear that makes the ink's second moments uncorrelated
 * (mu11 = 0) sets the digit upright; MNIST results for MLPs improve markedly
 * with it, and it helps most on users' italic writing. */
#define MAX_SKEW 1.0
#define MIN_SKEW 0.02

static preprocess_status deskew_crop(crop *cr, rect *box, float *skew_out)
{
    double m = 0, mx = 0, my = 0;
    for (int y = box->y0; y <= box->y1; y++)
        for (int x = box->x0; x <= box->x1; x++) {
            double v = cr->v[(size_t)y * (size_t)cr->w + (size_t)x];
            m += v;
            mx += v * x;
            my += v * y;
        }
    if (m <= 0)
        return PREPROCESS_BLANK;
    double cx = mx / m, cy = my / m, mu11 = 0, mu02 = 0;
    for (int y = box->y0; y <= box->y1; y++)
        for (int x = box->x0; x <= box->x1; x++) {
            double v = cr->v[(size_t)y * (size_t)cr->w + (size_t)x];
            mu11 += v * (x - cx) * (y - cy);
            mu02 += v * (y - cy) * (y - cy);
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
    if (crop_alloc(&out, cr->x0 - extra, cr->y0, cr->w + 2 * extra, cr->h) != 0)
        return PREPROCESS_NO_MEMORY;
    for (int y = 0; y < out.h; y++) {
        double shift = skew * (y - cy) - extra;
        for (int x = 0; x < out.w; x++) {
            double sx = x + shift;
            int x0 = (int)floor(sx);
            double t = sx - x0;
            const float *row = cr->v + (size_t)y * (size_t)cr->w;
            double a = x0 >= 0 && x0 < cr->w ? row[x0] : 0.0;
            double b = x0 + 1 >= 0 && x0 + 1 < cr->w ? row[x0 + 1] : 0.0;
            out.v[(size_t)y * (size_t)out.w + (size_t)x] = (float)(a * (1 - t) + b * t);
        }
    }
    crop_free(cr);
    *cr = out;
    *box = crop_ink_box(cr);
    return rect_is_empty(*box) ? PREPROCESS_BLANK : PREPROCESS_OK;
}

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
 * widening when needed. *box receives the ink box in source pixels. */
static preprocess_status build_crop(const uint8_t *d, const components *c, int w, int h,
                                    rect kept, ink_ramp ramp, crop *cr, rect *box)
{
    rect grow = {kept.x0 - FRINGE_PX, kept.y0 - FRINGE_PX, kept.x1 + FRINGE_PX,
                 kept.y1 + FRINGE_PX};
    crop base;
    if (crop_alloc(&base, grow.x0, grow.y0, grow.x1 - grow.x0 + 1, grow.y1 - grow.y0 + 1) != 0)
        return PREPROCESS_NO_MEMORY;
    if (fill_crop(&base, d, c, w, h, ramp) != 0) {
        crop_free(&base);
        return PREPROCESS_NO_MEMORY;
    }
    rect ink = crop_ink_box(&base);
    if (rect_is_empty(ink)) {
        crop_free(&base);
        return PREPROCESS_BLANK;
    }
    *box = (rect){ink.x0 + base.x0, ink.y0 + base.y0, ink.x1 + base.x0, ink.y1 + base.y0};

    double r = widen_radius(stroke_width(&base), rect_long_side(ink));
    if (r <= 0) {
        *cr = base;
        return PREPROCESS_OK;
    }
    /* Room for the wider strokes: r plus the anti-aliased edge pixel. */
    int pad = (int)ceil(r) + 1;
    if (crop_alloc(cr, base.x0 - pad, base.y0 - pad, base.w + 2 * pad, base.h + 2 * pad) != 0) {
        crop_free(&base);
        return PREPROCESS_NO_MEMORY;
    }
    for (int y = 0; y < base.h; y++) {
        size_t from = (size_t)y * (size_t)base.w;
        size_t to = (size_t)(y + pad) * (size_t)cr->w + (size_t)pad;
        memcpy(cr->v + to, base.v + from, (size_t)base.w * sizeof *cr->v);
        memcpy(cr->seed + to, base.seed + from, (size_t)base.w);
    }
    crop_free(&base);
    if (widen_strokes(cr, r) != 0) {
        crop_free(cr);
        return PREPROCESS_NO_MEMORY;
    }
    return PREPROCESS_OK;
}

/* Steps 3-5 on the ink-bright image v (overwritten by its contrast). */
static preprocess_status find_ink(uint8_t *v, int w, int h, int flat_level,
                                  preprocess_info *info, crop *cr)
{
    size_t n = (size_t)w * (size_t)h;
    bg_map map;
    if (build_bg_map(v, w, h, flat_level, &map) != 0) {
        free(map.level);
        return PREPROCESS_NO_MEMORY;
    }
    subtract_background(v, w, h, &map);
    free(map.level);

    contrast_levels lv = choose_levels(v, n);
    info->threshold = (float)lv.threshold;
    if (lv.peak < MIN_CONTRAST)
        return PREPROCESS_BLANK;

    components c;
    if (label_components(v, w, h, lv.threshold, &c) != 0) {
        components_free(&c);
        return PREPROCESS_NO_MEMORY;
    }
    /* A digit is more than a few specks: salt noise alone is blank. */
    size_t min_pixels = n / 50000 > 4 ? n / 50000 : 4;
    if (c.n_comp == 0 || largest_component_pixels(&c) < min_pixels) {
        components_free(&c);
        return PREPROCESS_BLANK;
    }
    rect kept = select_components(&c, w, h);
    ink_ramp ramp = choose_ramp(v, &c, n, lv.threshold);
    rect box;
    preprocess_status st = build_crop(v, &c, w, h, kept, ramp, cr, &box);
    components_free(&c);
    if (st == PREPROCESS_OK) {
        info->box_x = box.x0 < 0 ? 0 : box.x0;
        info->box_y = box.y0 < 0 ? 0 : box.y0;
        info->box_w = (box.x1 < w ? box.x1 : w - 1) - info->box_x + 1;
        info->box_h = (box.y1 < h ? box.y1 : h - 1) - info->box_y + 1;
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

    /* Work on a reduced copy of very large photos: a digit needs nowhere
     * near millions of pixels, and this bounds time and memory. */
    int f = work_factor(src->width, src->height);
    int w = (src->width + f - 1) / f, h = (src->height + f - 1) / f;
    size_t n = (size_t)w * (size_t)h;
    /* calloc, not malloc: gcc -O1 cannot see that every byte is written. */
    uint8_t *v = calloc(n, 1);
    uint32_t *sums = calloc((size_t)w, sizeof *sums);
    if (!v || !sums) {
        free(v);
        free(sums);
        return PREPROCESS_NO_MEMORY;
    }
    composite_reduce(src, choose_paper(src), f, v, w, h, sums);
    free(sums);
    int paper = border_median(v, w, h);
    info->background = (float)paper;
    info->inverted = ink_is_dark(v, n, paper);
    if (info->inverted)
        for (size_t i = 0; i < n; i++)
            v[i] = (uint8_t)(255 - v[i]);

    crop cr = {0, 0, 0, 0, NULL, NULL};
    preprocess_status st = find_ink(v, w, h, info->inverted ? 255 - paper : paper, info, &cr);
    free(v);
    if (st == PREPROCESS_OK && f > 1)
        scale_info_box(info, f, src->width, src->height);
    rect box = rect_empty();
    if (st == PREPROCESS_OK) {
        box = crop_ink_box(&cr);
        st = rect_is_empty(box) ? PREPROCESS_BLANK : PREPROCESS_OK;
    }
    if (st == PREPROCESS_OK && opts && opts->deskew)
        st = deskew_crop(&cr, &box, &info->skew);
    if (st == PREPROCESS_OK)
        st = render(&cr, box, out);
    crop_free(&cr);
    if (st != PREPROCESS_OK)
        memset(out, 0, MNIST_PIXELS);
    return st;
}
