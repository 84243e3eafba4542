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
 *      faint ink has the shape of strokes (read only when asked);
 *   4. Otsu on d gives the ink seeds (above a shaded field or highlighter
 *      band behind the digit, which is paper), less a ruled page's lines;
 *      of their 8-connected components, what is not the digit is dropped:
 *      the desk, margins and cut-off neighbours at the picture's edge, a
 *      printed box round the digit, and specks far smaller than the digit
 *      and not near it;
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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Geometry of the MNIST frame. */
#define BOX_SIDE 20
/* MNIST's centre of mass, in pixel-index coordinates, is (14.0, 14.0). */
#define COM_TARGET 14.0

/* Ink must stand at least this far above the paper (grey levels) somewhere
 * to be read by default: faint sensor noise and JPEG-ish mush stay under. */
#define MIN_CONTRAST 40
/* Fainter ink (pencil in a dim photo, yellow highlighter in grey) is read,
 * when the caller asks (read_faint), down to FAINT_MIN_CONTRAST and only
 * where the paper is quiet; else it is reported as faint. Its peak must
 * stand FAINT_SNR times above the paper's noise, taken as the contrast's
 * PAPER_NOISE_QUANTILE (ink covers far less of a page than a tenth). Over
 * pure noise the peak is about 2.5 times that quantile. */
#define FAINT_MIN_CONTRAST 12
#define FAINT_SNR 3
#define PAPER_NOISE_QUANTILE 0.90
/* What faint seeds must look like to be read as strokes: see
 * faint_ink_is_strokes. */
#define FAINT_LARGEST_SHARE 0.25
#define FAINT_MIN_SPAN 0.125
#define FAINT_MAX_BOUNDARY_SHARE 0.8
#define FAINT_EDGE_PX 2
#define FAINT_MAX_EDGE_RATIO 0.5
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
/* The most pixels a crop may have for its strokes to be widened (see
 * build_crop): the widening pads the crop by about a ninth of the digit's
 * long side on every side, so a hairline along a 40000 x 16 picture (640 k
 * pixels, a 745-byte PNG) would take L * L / 9 pixels, gigabytes. A hairline
 * across a picture of WORK_PIXELS (1450 x 1450) needs 2.6 M. */
#define MAX_WIDEN_PIXELS ((size_t)4 << 20)
/* Steps most pictures never take are kept out of line: inlined into
 * run_pipeline, they slowed ordinary uploads by 5-12% (code layout, in
 * tests/bench/preprocess_speed). GCC and clang both know the attribute. */
#define RARELY_TAKEN __attribute__((noinline))
/* M_PI is not ISO C. */
#define PI 3.14159265358979323846

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

static int rect_contains(rect r, int x, int y)
{
    return x >= r.x0 && x <= r.x1 && y >= r.y0 && y <= r.y1;
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

/* ---- scratch memory ---------------------------------------------------- */

/* Every buffer of one call comes from an arena released at the end: a call
 * needs some twenty buffers, and for a 28x28 digit their malloc/calloc/free
 * round trips were a sizeable share of the time. Small buffers are carved
 * from blocks (the first holds a whole call on small images, later ones
 * double); a large one gets a block of its own, so that big images need no
 * more memory than with one allocation per buffer. */
#define ARENA_FIRST_BLOCK ((size_t)64 << 10)
#define ARENA_LARGE (ARENA_FIRST_BLOCK / 4)
#define ARENA_ALIGN ((size_t)16)

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
} arena_block;

/* Where a block's payload starts: malloc's alignment is kept. */
#define ARENA_HEADER ((sizeof(arena_block) + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1))

/* Under AddressSanitizer every buffer gets a block of its own, so that
 * overruns are still caught at the buffer's end. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_SEPARATE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_SEPARATE 1
#endif
#endif
#ifndef ARENA_SEPARATE
#define ARENA_SEPARATE 0
#endif

typedef struct {
    arena_block *head;    /* the block small buffers come from, then older ones */
    size_t next_size;     /* of the next block for small buffers */
} arena;

/* Uninitialised, ARENA_ALIGN-aligned memory; NULL when out of memory. */
static void *arena_alloc(arena *a, size_t size)
{
    if (size > SIZE_MAX / 4)
        return NULL;
    size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        int own = ARENA_SEPARATE || size > ARENA_LARGE;
        size_t cap = own ? size : (a->next_size ? a->next_size : ARENA_FIRST_BLOCK);
        b = malloc(ARENA_HEADER + cap);
        if (!b)
            return NULL;
        b->size = cap;
        b->used = 0;
        if (own && a->head) {
            /* Behind the current block, which keeps serving small ones. */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
        if (!own)
            a->next_size = 2 * cap;
    }
    void *p = (unsigned char *)b + ARENA_HEADER + b->used;
    b->used += size;
    return p;
}

static void *arena_zalloc(arena *a, size_t size)
{
    void *p = arena_alloc(a, size);
    if (p)
        memset(p, 0, size);
    return p;
}

static void arena_free(arena *a)
{
    while (a->head) {
        arena_block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
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

/* The composited grey level of n consecutive pixels: luma for colour, then
 * alpha over the paper when there is alpha. One loop per channel layout, so
 * that each vectorises. */
static void composite_pixels(const uint8_t *p, size_t n, int ch, unsigned paper, uint8_t *out)
{
    switch (ch) {
    case 1:
        memcpy(out, p, n);
        break;
    case 2:
        for (size_t i = 0; i < n; i++)
            out[i] = over_paper(p[2 * i], p[2 * i + 1], paper);
        break;
    case 3:
        for (size_t i = 0; i < n; i++)
            out[i] = luma(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
        break;
    default:
        for (size_t i = 0; i < n; i++)
            out[i] = over_paper(luma(p[4 * i], p[4 * i + 1], p[4 * i + 2]), p[4 * i + 3], paper);
        break;
    }
}

/* Whether strokes none of which is even half opaque (a translucent brush,
 * chalk or highlighter tool) are light: the grey levels of what stands out
 * of the background, each weighted by how much more opaque than the
 * border it is (a faint paper layer under the strokes must not count, or
 * dark strokes on it would be taken for light ones). Rare, hence out of
 * line and in plain 64-bit sums. */
static RARELY_TAKEN int translucent_ink_is_light(const image *src, unsigned border_alpha)
{
    int ch = src->channels;
    const uint8_t *px = src->pixels;
    size_t n = (size_t)src->width * (size_t)src->height;
    uint64_t weighted = 0, weight = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = px + i * (size_t)ch;
        unsigned a = p[ch - 1];
        if (a <= border_alpha)
            continue;
        unsigned grey = ch == 2 ? p[0] : luma(p[0], p[1], p[2]);
        weighted += (uint64_t)grey * (a - border_alpha);
        weight += a - border_alpha;
    }
    return weight > 0 && 2 * weighted > 255 * weight;
}

/* The paper to composite onto. White, as a canvas export is shown on a page,
 * unless the background (border) is transparent and the opaque strokes are
 * themselves light: white ink drawn over a dark page would vanish on white.
 * Strokes with no pixel even half opaque are judged by translucent_ink_is_
 * light, or light ones drawn translucent would vanish too. */
static unsigned choose_paper(const image *src)
{
    int ch = src->channels, w = src->width, h = src->height;
    if (ch != 2 && ch != 4)
        return 255;
    const uint8_t *alpha = src->pixels + ch - 1;
    size_t border = 0, clear = 0;
    uint64_t border_alpha = 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = alpha + (size_t)y * (size_t)w * (size_t)ch;
        if (y == 0 || y == h - 1) {
            for (int x = 0; x < w; x++) {
                clear += row[(size_t)x * (size_t)ch] < 128;
                border_alpha += row[(size_t)x * (size_t)ch];
            }
            border += (size_t)w;
        } else {
            clear += row[0] < 128;
            border_alpha += row[0];
            border++;
            if (w > 1) {
                clear += row[(size_t)(w - 1) * (size_t)ch] < 128;
                border_alpha += row[(size_t)(w - 1) * (size_t)ch];
                border++;
            }
        }
    }
    if (2 * clear <= border)
        return 255;   /* an opaque picture, the usual case: no need to look at the ink */
    /* The grey levels are integers, so their sum is exact in any order and
     * in an integer: the mean below is what a double sum gave. Chunks keep
     * the 32-bit partial sums from overflowing (32-bit sums vectorise). */
    size_t n = (size_t)w * (size_t)h, opaque = 0;
    uint64_t grey_sum = 0;
    for (size_t start = 0; start < n; start += (size_t)1 << 24) {
        size_t end = n - start > (size_t)1 << 24 ? start + ((size_t)1 << 24) : n;
        const uint8_t *p = src->pixels;
        uint32_t on_count = 0, on_sum = 0;
        if (ch == 2) {
            for (size_t i = start; i < end; i++) {
                uint32_t on = p[2 * i + 1] >> 7;   /* alpha >= 128 */
                on_count += on;
                on_sum += p[2 * i] & -on;
            }
        } else {
            for (size_t i = start; i < end; i++) {
                uint32_t on = p[4 * i + 3] >> 7;
                on_count += on;
                on_sum += luma(p[4 * i], p[4 * i + 1], p[4 * i + 2]) & -on;
            }
        }
        opaque += on_count;
        grey_sum += on_sum;
    }
    if (opaque == 0) {
        unsigned border_mean = (unsigned)((border_alpha + border / 2) / border);
        return translucent_ink_is_light(src, border_mean) ? 0 : 255;
    }
    return (double)grey_sum / (double)opaque > 127.5 ? 0 : 255;
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
 * right and bottom edges average what they have). */
static int composite_reduce(const image *src, unsigned paper, int f, uint8_t *lum, int ww,
                            int wh, arena *mem)
{
    uint32_t *sums = arena_alloc(mem, (size_t)ww * sizeof *sums);
    uint8_t *grey = arena_alloc(mem, (size_t)src->width);
    if (!sums || !grey)
        return -1;
    size_t stride = (size_t)src->width * (size_t)src->channels;
    for (int ry = 0; ry < wh; ry++) {
        memset(sums, 0, (size_t)ww * sizeof *sums);
        int y0 = ry * f, y1 = y0 + f < src->height ? y0 + f : src->height;
        for (int y = y0; y < y1; y++) {
            composite_pixels(src->pixels + (size_t)y * stride, (size_t)src->width, src->channels,
                             paper, grey);
            for (int rx = 0, x = 0; rx < ww; rx++) {
                int x1 = x + f < src->width ? x + f : src->width;
                uint32_t s = 0;
                for (; x < x1; x++)
                    s += grey[x];
                sums[rx] += s;
            }
        }
        for (int rx = 0; rx < ww; rx++) {
            int x0 = rx * f, x1 = x0 + f < src->width ? x0 + f : src->width;
            uint32_t count = (uint32_t)((x1 - x0) * (y1 - y0));
            lum[(size_t)ry * (size_t)ww + (size_t)rx] = (uint8_t)((sums[rx] + count / 2) / count);
        }
    }
    return 0;
}

/* ---- histograms -------------------------------------------------------- */

/* Counts of each byte value. Four interleaved partial counts: the long runs
 * of one value (paper) would otherwise wait on one counter in memory. */
static void histogram(const uint8_t *p, size_t n, uint32_t hist[256])
{
    uint32_t part[4][256];
    memset(part, 0, sizeof part);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        part[0][p[i]]++;
        part[1][p[i + 1]]++;
        part[2][p[i + 2]]++;
        part[3][p[i + 3]]++;
    }
    for (; i < n; i++)
        part[0][p[i]]++;
    for (int v = 0; v < 256; v++)
        hist[v] = part[0][v] + part[1][v] + part[2][v] + part[3][v];
}

/* Smallest value v such that at least q of the counted pixels are <= v. */
static int hist_quantile(const uint32_t hist[256], size_t total, double q)
{
    if (total == 0)
        return 0;
    /* (double)acc >= want for an integer acc (exact in double) is
     * acc >= ceil(want), compared here in integers. */
    double want = q * (double)total;
    size_t need = (size_t)ceil(want), acc = 0;
    if (need == 0)
        need = 1;   /* and acc > 0 */
    for (int v = 0; v < 256; v++) {
        acc += hist[v];
        if (acc >= need)
            return v;
    }
    return 255;
}

/* The border's grey levels: its median, which is the paper's level on a
 * plain picture, and its spread. */
typedef struct {
    int median;
    int low, high;   /* BORDER_RANGE_QUANTILE from either end */
} border_levels;

#define BORDER_RANGE_QUANTILE 0.05

/* 1 when every border pixel has the level of the top-left one, as on a
 * canvas export or an MNIST digit. */
static int border_is_uniform(const uint8_t *lum, int w, int h)
{
    const uint8_t first = lum[0];
    const uint8_t *bottom = lum + (size_t)(h - 1) * (size_t)w;
    unsigned differ = 0;
    for (int x = 0; x < w; x++)
        differ |= (unsigned)(lum[x] ^ first) | (unsigned)(bottom[x] ^ first);
    for (int y = 1; y < h - 1; y++) {
        const uint8_t *row = lum + (size_t)y * (size_t)w;
        differ |= (unsigned)(row[0] ^ first) | (unsigned)(row[w - 1] ^ first);
    }
    return differ == 0;
}

static border_levels measure_border(const uint8_t *lum, int w, int h)
{
    /* Then every quantile is that level; the histogram below would count
     * the same level over and over, each count waiting on the one before. */
    if (border_is_uniform(lum, w, h))
        return (border_levels){lum[0], lum[0], lum[0]};
    uint32_t hist[256] = {0};
    size_t total = 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = lum + (size_t)y * (size_t)w;
        if (y == 0 || y == h - 1) {
            for (int x = 0; x < w; x++)
                hist[row[x]]++;
            total += (size_t)w;
        } else {
            hist[row[0]]++;
            total++;
            if (w > 1) {
                hist[row[w - 1]]++;
                total++;
            }
        }
    }
    border_levels b = {
        .median = hist_quantile(hist, total, 0.5),
        .low = hist_quantile(hist, total, BORDER_RANGE_QUANTILE),
        .high = hist_quantile(hist, total, 1.0 - BORDER_RANGE_QUANTILE),
    };
    return b;
}

/* ---- step 2: polarity -------------------------------------------------- */

/* With the pixels at level light or above taken for paper, the ink is the
 * dark pixels they enclose (those not joined to the border's dark). It is
 * ink when there is some, at least INK_MIN_SHARE of the picture, in strokes
 * under INK_MAX_WIDTH of the shorter side wide on average (twice the area
 * over the outline): a sheet on a desk holds a written digit, while a fat
 * light digit on a dark ground encloses nothing (a 2) or a hole as wide as
 * its strokes (a 0). With flip 255, the same of light strokes on a dark
 * ground (of 255 - v, light then being a level of 255 - v too). */
#define INK_MIN_SHARE 0.002
#define INK_MAX_WIDTH 0.09

/* Its scratch, 5 bytes a pixel, allocated by the first of the (up to
 * four) tests on a picture and reused by the others. */
typedef struct {
    uint8_t *outside;
    uint32_t *stack;
} enclosure_scratch;

/* What the paper (pixels at level light or above, of v ^ flip) encloses. */
typedef struct {
    size_t area, outline;              /* of the enclosed dark */
    size_t paper_area, paper_outline;  /* of the paper, when asked for */
    size_t span_gaps;                  /* when asked: see holds_written_sheet */
} enclosure;

/* Whether what the paper encloses lies on the ground rather than in the
 * holes of a stroke. Light chalk strokes on a dark board touch the board;
 * the loops of a dark digit written on the lit part of a page half in a
 * hard shadow touch the digit's strokes, which are darker than any ground
 * (the ink reaches well below the border's range). So each contact of the
 * enclosed with the paper is put down to ink when, going on in the same
 * direction from the paper pixel, two pixels in a row reach ink_cut (of
 * v ^ flip) within HOLD_PROBE of the shorter side (past the blurred edge
 * of a stroke in a photo; at least HOLD_PROBE_MIN, at most HOLD_PROBE_MAX
 * pixels, so that specks on a board a long way off do not count, and two
 * in a row, as a single speck on the way does not). The enclosed lie on
 * the ground when most contacts are not ink. At most HOLD_CONTACTS
 * contacts are walked, evenly spread, so that a picture with a contact at
 * every pixel costs no more than a photo does. */
#define HOLD_PROBE 0.03
#define HOLD_PROBE_MIN 3
#define HOLD_PROBE_MAX 12
#define HOLD_CONTACTS 65536

RARELY_TAKEN static int held_by_ground(const uint8_t *v, uint8_t flip, int w, int h, int light,
                                       int ink_cut, const uint8_t *outside, size_t contacts)
{
    static const int dx[4] = {1, -1, 0, 0}, dy[4] = {0, 0, 1, -1};
    int probe = (int)(HOLD_PROBE * (w < h ? w : h));
    probe = clampi(probe, HOLD_PROBE_MIN, HOLD_PROBE_MAX);
    size_t stride = contacts / HOLD_CONTACTS + 1, seen = 0;
    size_t ground = 0, ink = 0;
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            if ((v[i] ^ flip) >= light || outside[i])
                continue;
            for (int k = 0; k < 4; k++) {
                int px = x + dx[k], py = y + dy[k];
                if ((v[(size_t)py * (size_t)w + (size_t)px] ^ flip) < light)
                    continue;   /* not a contact with the paper */
                if (seen++ % stride != 0)
                    continue;
                int run = 0;
                for (int step = 0; step <= probe && run < 2; step++) {
                    int qx = px + step * dx[k], qy = py + step * dy[k];
                    if (qx < 0 || qx >= w || qy < 0 || qy >= h)
                        break;
                    run = (v[(size_t)qy * (size_t)w + (size_t)qx] ^ flip) >= ink_cut ? run + 1 : 0;
                }
                ink += (size_t)(run >= 2);
                ground += (size_t)(run < 2);
            }
        }
    return ground > ink;
}

/* Fills *e; -1 when out of memory. with_paper also measures the paper and
 * the gaps in its spans. */
RARELY_TAKEN static int measure_enclosure(const uint8_t *v, uint8_t flip, int w, int h,
                                          int light, int with_paper,
                                          enclosure_scratch *scratch, arena *mem, enclosure *e)
{
    memset(e, 0, sizeof *e);
    size_t n = (size_t)w * (size_t)h;
    if (!scratch->outside || !scratch->stack) {
        scratch->outside = arena_alloc(mem, n);
        scratch->stack = arena_alloc(mem, n * sizeof *scratch->stack);
        if (!scratch->outside || !scratch->stack)
            return -1;
    }
    uint8_t *outside = scratch->outside;
    uint32_t *stack = scratch->stack;
    memset(outside, 0, n);
    size_t top = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            if ((y == 0 || y == h - 1 || x == 0 || x == w - 1) && (v[i] ^ flip) < light &&
                !outside[i]) {
                outside[i] = 1;
                stack[top++] = (uint32_t)i;
            }
        }
    while (top > 0) {   /* 4-connected fill of the dark joined to the border */
        size_t i = stack[--top];
        int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
        size_t next[4] = {i - 1, i + 1, i - (size_t)w, i + (size_t)w};
        int ok[4] = {x > 0, x < w - 1, y > 0, y < h - 1};
        for (int k = 0; k < 4; k++)
            if (ok[k] && !outside[next[k]] && (v[next[k]] ^ flip) < light) {
                outside[next[k]] = 1;
                stack[top++] = (uint32_t)next[k];
            }
    }
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            int is_paper = (v[i] ^ flip) >= light;
            if (is_paper ? !with_paper : outside[i])
                continue;
            size_t edges = (size_t)(((v[i - 1] ^ flip) >= light) != is_paper) +
                           (size_t)(((v[i + 1] ^ flip) >= light) != is_paper) +
                           (size_t)(((v[i - (size_t)w] ^ flip) >= light) != is_paper) +
                           (size_t)(((v[i + (size_t)w] ^ flip) >= light) != is_paper);
            if (is_paper) {
                e->paper_area++;
                e->paper_outline += edges;
            } else {
                e->area++;
                e->outline += edges;
            }
        }
    if (!with_paper)
        return 0;
    /* Between the first and the last paper pixel of each row and of each
     * column, the pixels joined to the border's dark. */
    for (int y = 0; y < h; y++) {
        const uint8_t *row = v + (size_t)y * (size_t)w;
        int x0 = 0, x1 = w - 1;
        while (x0 < w && (row[x0] ^ flip) < light)
            x0++;
        while (x1 > x0 && (row[x1] ^ flip) < light)
            x1--;
        for (int x = x0; x < x1; x++)
            e->span_gaps += outside[(size_t)y * (size_t)w + (size_t)x];
    }
    for (int x = 0; x < w; x++) {
        int y0 = 0, y1 = h - 1;
        while (y0 < h && (v[(size_t)y0 * (size_t)w + (size_t)x] ^ flip) < light)
            y0++;
        while (y1 > y0 && (v[(size_t)y1 * (size_t)w + (size_t)x] ^ flip) < light)
            y1--;
        for (int y = y0; y < y1; y++)
            e->span_gaps += outside[(size_t)y * (size_t)w + (size_t)x];
    }
    return 0;
}

/* ---- sheet shape --------------------------------------------------------
 * What the paper encloses together with the paper itself (every pixel not
 * joined to the border's dark) is, for a sheet, a rectangle: the sheet, cut
 * by the picture's edges where it runs past them, seen square on or turned.
 * For a fat light digit it is the digit with its holes filled, a rounded
 * blob: an oval fills pi/4 of the smallest rectangle round it, and other
 * digits less. sheet_fill gives that share: the pixels not outside over the
 * area of the smallest rectangle, at any angle, holding them (its sides
 * run along an edge of their convex hull). */
static double cross3(const int *o, const int *a, const int *b)
{
    return (double)(a[0] - o[0]) * (double)(b[1] - o[1]) -
           (double)(a[1] - o[1]) * (double)(b[0] - o[0]);
}

RARELY_TAKEN static double sheet_fill(const uint8_t *outside, int w, int h, arena *mem,
                                      size_t *inside)
{
    *inside = 0;
    /* Each row's first and last pixel not outside hold the hull; in row
     * order they are already sorted by y, as the monotone chain needs. */
    int *pt = arena_alloc(mem, (size_t)h * 4 * sizeof *pt);
    int *hull = arena_alloc(mem, ((size_t)h * 2 + 1) * 2 * sizeof *hull);
    if (!pt || !hull)
        return 0.0;
    size_t np = 0, filled = 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = outside + (size_t)y * (size_t)w;
        int x0 = 0, x1 = w - 1;
        while (x0 < w && row[x0])
            x0++;
        if (x0 == w)
            continue;
        while (row[x1])
            x1--;
        for (int x = x0; x <= x1; x++)
            filled += !row[x];
        pt[2 * np] = x0;
        pt[2 * np + 1] = y;
        np++;
        if (x1 != x0) {
            pt[2 * np] = x1;
            pt[2 * np + 1] = y;
            np++;
        }
    }
    *inside = filled;
    if (np < 3 || filled == 0)
        return 0.0;
    /* Andrew's monotone chain over points sorted by (y, x). */
    size_t k = 0;
    for (size_t i = 0; i < np; i++) {
        while (k >= 2 && cross3(&hull[2 * (k - 2)], &hull[2 * (k - 1)], &pt[2 * i]) <= 0)
            k--;
        hull[2 * k] = pt[2 * i];
        hull[2 * k + 1] = pt[2 * i + 1];
        k++;
    }
    for (size_t i = np - 1, lower = k + 1; i-- > 0;) {
        while (k >= lower && cross3(&hull[2 * (k - 2)], &hull[2 * (k - 1)], &pt[2 * i]) <= 0)
            k--;
        hull[2 * k] = pt[2 * i];
        hull[2 * k + 1] = pt[2 * i + 1];
        k++;
    }
    k--;   /* the last point repeats the first */
    if (k < 3)
        return 0.0;
    /* The smallest rectangle along each hull edge. Pixel centres span one
     * pixel less than the pixels do: a pixel is added to each extent. */
    double best = -1.0;
    for (size_t e = 0; e < k; e++) {
        const int *a = &hull[2 * e], *b = &hull[2 * ((e + 1) % k)];
        double dx = b[0] - a[0], dy = b[1] - a[1], len = sqrt(dx * dx + dy * dy);
        if (len == 0.0)
            continue;
        dx /= len;
        dy /= len;
        double u0 = 0, u1 = 0, v0 = 0, v1 = 0;
        for (size_t i = 0; i < k; i++) {
            double px = hull[2 * i] - a[0], py = hull[2 * i + 1] - a[1];
            double u = px * dx + py * dy, v = -px * dy + py * dx;
            u0 = u < u0 ? u : u0;
            u1 = u > u1 ? u : u1;
            v0 = v < v0 ? v : v0;
            v1 = v > v1 ? v : v1;
        }
        double area = (u1 - u0 + 1.0) * (v1 - v0 + 1.0);
        if (best < 0 || area < best)
            best = area;
    }
    return best > 0 ? (double)filled / best : 0.0;
}

/* Strokes: some ink, at least INK_MIN_SHARE of the picture, at most
 * max_width of the shorter side wide on average (twice the area over the
 * outline). */
static int strokes_up_to(const enclosure *e, int w, int h, double max_width)
{
    return e->area >= INK_MIN_SHARE * (double)w * (double)h && e->outline > 0 &&
           2.0 * (double)e->area / (double)e->outline <= max_width * (w < h ? w : h);
}

static int are_strokes(const enclosure *e, int w, int h)
{
    return strokes_up_to(e, w, h, INK_MAX_WIDTH);
}

/* Strokes too wide for are_strokes, up to SHEET_INK_MAX_WIDTH of the
 * shorter side, that the paper still holds as a written sheet: the paper
 * with what it encloses fills SHEET_MIN_FILL of its smallest rectangle or
 * more, and the strokes are under SHEET_MAX_INK_SHARE of it (writing is
 * 7-28% of a sheet; the dark inside of a light box round a fat light
 * digit, a dark-mode button or chalk in a drawn box, is 39% or more).
 * Sheets on a desk or under a scanner's lid fill 0.91-1 of it (turned or
 * clipped by the picture's edges), fat light digits on a dark ground at
 * most 0.85 (an oval pi/4, a tight crop's edges a little more) whatever
 * their strokes' width: the shape, not the width, tells thick marker on a
 * sheet from a fat light 0 round a small hole. The width is still capped:
 * a light digit that is itself a rectangle (a boxy or display-font 0)
 * fills its rectangle as a sheet does, and only its hole's width, wider
 * than strokes, then tells it apart. */
#define SHEET_INK_MAX_WIDTH 0.12
#define SHEET_MIN_FILL 0.88
#define SHEET_MAX_INK_SHARE 0.33

static int are_sheet_strokes(const enclosure *e, int w, int h, const uint8_t *outside,
                             arena *mem)
{
    if (!strokes_up_to(e, w, h, SHEET_INK_MAX_WIDTH))
        return 0;
    size_t inside;
    double fill = sheet_fill(outside, w, h, mem, &inside);
    return fill >= SHEET_MIN_FILL && (double)e->area <= SHEET_MAX_INK_SHARE * (double)inside;
}

/* With sheet, dark strokes (flip 0) may also be wider on a rectangle of
 * paper: see are_sheet_strokes. */
static int encloses_strokes(const uint8_t *v, uint8_t flip, int w, int h, int light, int sheet,
                            enclosure_scratch *scratch, arena *mem)
{
    enclosure e;
    if (measure_enclosure(v, flip, w, h, light, 0, scratch, mem, &e) != 0)
        return 0;   /* no memory for the test: no sheet, as before it */
    return are_strokes(&e, w, h) || (sheet && are_sheet_strokes(&e, w, h, scratch->outside, mem));
}

/* encloses_strokes() for strokes lying on the ground (held_by_ground). */
static int ground_holds_strokes(const uint8_t *v, uint8_t flip, int w, int h, int light,
                                int ink_cut, enclosure_scratch *scratch, arena *mem)
{
    enclosure e;
    if (measure_enclosure(v, flip, w, h, light, 0, scratch, mem, &e) != 0)
        return 0;
    return are_strokes(&e, w, h) &&
           held_by_ground(v, flip, w, h, light, ink_cut, scratch->outside, e.outline);
}

/* A sheet under half of a photo on a darker desk: the desk is the border
 * and most of the picture, so neither the border nor the median is the
 * paper; the light fifth or more of the picture may be (SHEET_MIN_SHARE).
 * It is a sheet, written on, when the paper (pixels at level light or
 * above) encloses strokes; the paper is at least SHEET_WIDTH_RATIO times as
 * wide as they are; and it is convex, as a sheet is whatever its angle:
 * between the first and last paper pixel of a row or a column there is
 * hardly any of the desk (SHEET_MAX_GAPS of the strokes' area). A fat light
 * digit on a dark ground is not convex where it has gaps (a 4, a 7), and a
 * hole of an 8 or a 9 is no wider than its strokes; what passes is a light
 * blob round a slit of a hole. */
#define SHEET_MIN_SHARE 0.2
#define SHEET_WIDTH_RATIO 3.0
#define SHEET_MAX_GAPS 0.1

RARELY_TAKEN static int holds_written_sheet(const uint8_t *v, int w, int h, int light,
                                            enclosure_scratch *scratch, arena *mem)
{
    enclosure e;
    if (measure_enclosure(v, 0, w, h, light, 1, scratch, mem, &e) != 0)
        return 0;
    if (are_strokes(&e, w, h) && e.paper_outline > 0) {
        double stroke_width = 2.0 * (double)e.area / (double)e.outline;
        double paper_width = 2.0 * (double)e.paper_area / (double)e.paper_outline;
        if (paper_width >= SHEET_WIDTH_RATIO * stroke_width &&
            (double)e.span_gaps <= SHEET_MAX_GAPS * (double)e.area)
            return 1;
    }
    /* Thick marker leaves too little paper round it for the width ratio;
     * a rectangle of paper is a sheet all the same. */
    return are_sheet_strokes(&e, w, h, scratch->outside, mem);
}

/* A border whose levels spread this far is lit two ways (a hard shadow
 * across the page) or is two things (paper and desk, a board and the wall
 * behind it). Its median then says little: under a shadow over half the
 * border it is the shadowed paper, mid-grey or darker, and the lit paper
 * beyond is the lightest thing in the picture, as light ink would be. But
 * paper in shadow is still far lighter than ink: the ink reaches well below
 * the border's whole range (INK_BEYOND_MIN, and INK_BEYOND_RATIO times as
 * far as anything reaches above it), and taking everything above halfway
 * down to it for paper, what the paper encloses is written strokes; while
 * the light side, taken from halfway up from the border's darkest to the
 * lightest pixels, encloses no strokes lying on the ground (held_by_ground:
 * a dark digit's loops are enclosed light too): it is paper, lit or in
 * shade.
 * Pictures that fail it: chalk on a board with the lit wall in view beside
 * an eraser or a dark frame (the chalk is light strokes the board
 * encloses), and a dark canvas in a grey window frame (far too wide for
 * strokes). Only on pictures of at least MIN_SIDE_FOR_MAP a side, as small
 * ones are crops of the digit. */
#define TWO_LIGHTS_SPREAD 48
#define INK_BEYOND_MIN 30
#define INK_BEYOND_RATIO 2

/* 1 when the ink is darker than the paper. A border median that is clearly
 * light or dark decides; a mid-grey border (a dim photo of paper) is
 * settled by which side of it the most extreme pixels reach furthest; and
 * when that says light ink, a border spanning two lightings may still show
 * dark ink (above). hist (of all n pixels of v) is only read when the
 * median is not clearly light. */
static int ink_is_dark(const uint8_t *v, int w, int h, const uint32_t *hist, int paper,
                       border_levels border, enclosure_scratch *scratch, arena *mem)
{
    if (paper >= LIGHT_PAPER)
        return 1;
    size_t n = (size_t)w * (size_t)h;
    int darkest = hist_quantile(hist, n, 0.001);
    int lightest = hist_quantile(hist, n, 0.999);
    if (paper > DARK_PAPER && paper - darkest >= lightest - paper)
        return 1;
    /* Light ink by the median: unless the border spans two lightings. The
     * enclosure tests walk the whole picture, so only now. */
    int below = border.low - darkest, above = lightest - border.high;
    return border.high - border.low >= TWO_LIGHTS_SPREAD && w >= MIN_SIDE_FOR_MAP &&
           h >= MIN_SIDE_FOR_MAP && below >= INK_BEYOND_MIN &&
           below >= INK_BEYOND_RATIO * (above > 0 ? above : 0) &&
           encloses_strokes(v, 0, w, h, (border.low + darkest + 1) / 2, 0, scratch, mem) &&
           !ground_holds_strokes(v, 255, w, h, 255 - (border.low + lightest + 1) / 2,
                                 256 - (border.low + darkest + 1) / 2, scratch, mem);
}

/* ---- step 3: background and contrast ----------------------------------- */

/* The image is still the composited grey v here; the ink-bright picture is
 * v ^ flip (flip 255 inverts a byte, as 255 - v does), folded into the loops
 * below rather than written out by a pass of its own. */

typedef struct {
    int cols, rows, tile;
    float *level;   /* cols * rows, paper level at each tile centre */
} bg_map;

static int tile_paper_level(const uint8_t *v, uint8_t flip, int w, int h, int tx, int ty,
                            int tile)
{
    int x_end = tx * tile + tile < w ? tx * tile + tile : w;
    int y_end = ty * tile + tile < h ? ty * tile + tile : h;
    size_t total = (size_t)(x_end - tx * tile) * (size_t)(y_end - ty * tile);
    /* Usually at least a fifth of a tile is paper at level 0 exactly (a
     * clean canvas), and then that is the quantile: a count suffices. */
    uint32_t zeros = 0;
    for (int y = ty * tile; y < y_end; y++) {
        const uint8_t *row = v + (size_t)y * (size_t)w;
        for (int x = tx * tile; x < x_end; x++)
            zeros += row[x] == flip;
    }
    if (zeros > 0 && (double)zeros >= TILE_PAPER_QUANTILE * (double)total)
        return 0;
    uint32_t hist[256] = {0};
    for (int y = ty * tile; y < y_end; y++) {
        const uint8_t *row = v + (size_t)y * (size_t)w;
        for (int x = tx * tile; x < x_end; x++)
            hist[row[x] ^ flip]++;
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

/* The median of nine levels. Any correct sort gives the same value: levels
 * are never NaN, and ties are equal floats (no -0.0 arises from sums and
 * differences of non-negative integers). */
static float median9(float win[9])
{
    for (int i = 1; i < 9; i++) {
        float x = win[i];
        int j = i;
        for (; j > 0 && win[j - 1] > x; j--)
            win[j] = win[j - 1];
        win[j] = x;
    }
    return win[4];
}

/* 3x3 median over the tile grid: a tile that is mostly stroke (thick
 * marker) is outvoted by its paper neighbours, while a lighting ramp, being
 * linear across the window, passes through unchanged. */
static int smooth_tiles(bg_map *m, arena *mem)
{
    size_t n = (size_t)m->cols * (size_t)m->rows;
    float *tmp = arena_alloc(mem, n * sizeof *tmp);
    if (!tmp)
        return -1;
    for (int y = 0; y < m->rows; y++)
        for (int x = 0; x < m->cols; x++) {
            float win[9];
            int k = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                    win[k++] = tile_level_ext(m, x + dx, y + dy);
            tmp[(size_t)y * (size_t)m->cols + (size_t)x] = median9(win);
        }
    memcpy(m->level, tmp, n * sizeof *tmp);
    return 0;
}

/* Evenly lit paper needs no background map, and a map can only hurt it: a
 * tile that a thick stroke (or a digit cropped tight against the edge)
 * fills is taken for paper, and the stroke's inside is subtracted away,
 * leaving an outline. The border is the one place that is mostly paper, so
 * its pieces tell: the medians of eight runs along it (each half of each
 * side) agree within EVEN_BORDER_SPREAD grey levels on even paper, and
 * differ by more under a lighting gradient or a shadow.
 *
 * Ink on the border is no evidence about the lighting: a scan cropped
 * tight (Semeion's digits are stretched to fill their box) has whole
 * stretches of stroke along its sides. So each run's level is taken from
 * its paper pixels only, those at least INK_REACH of the paper-to-ink
 * distance from the ink's extreme level (even a deep shadow on paper stays
 * further off), and a run with under a quarter of paper says nothing. */
#define EVEN_BORDER_SPREAD 24
#define INK_REACH 0.4

/* The ink's extreme level: the level of the darkest (or lightest) pixels,
 * as many as half the picture's longer side. Any digit has more pixels than
 * that (its strokes alone are taller), while a shadow across a big photo
 * can have far more than a fixed fraction of the picture: a thin digit in
 * a 1600 x 1200 photo is under 0.1% of it, and a fraction-based level would
 * land on the shadow and take the shadow for ink. */
static int ink_extreme_level(const uint32_t hist[256], size_t n, int w, int h, int ink_dark)
{
    double q = (double)((w > h ? w : h) / 2) / (double)n;
    return hist_quantile(hist, n, ink_dark ? q : 1.0 - q);
}

/* The paper level among n pixels from (x0, y0) in steps of (dx, dy): the
 * quartile of its paper pixels furthest from the ink, which discounts the
 * grey anti-aliased fringe of strokes crossing the border; -1 when fewer
 * than a quarter of the pixels are paper. */
static int run_paper_level(const uint8_t *v, int w, int x0, int y0, int dx, int dy, int n,
                           int ink, double ink_reach, int ink_dark)
{
    uint32_t hist[256] = {0};
    size_t paper = 0;
    for (int i = 0; i < n; i++) {
        uint8_t p = v[(size_t)(y0 + i * dy) * (size_t)w + (size_t)(x0 + i * dx)];
        if (abs(p - ink) >= ink_reach) {
            hist[p]++;
            paper++;
        }
    }
    if (paper == 0 || 4 * paper < (size_t)n)
        return -1;
    return hist_quantile(hist, paper, ink_dark ? 0.75 : 0.25);
}

/* paper: the border median; ink: the ink's extreme grey level; ink_dark:
 * the polarity decided (1 for dark ink on light paper). */
static int border_is_even(const uint8_t *v, int w, int h, int paper, int ink, int ink_dark)
{
    int hw = w / 2, hh = h / 2;
    double r = INK_REACH * abs(paper - ink);
    int m[8] = {
        run_paper_level(v, w, 0, 0, 1, 0, hw, ink, r, ink_dark),
        run_paper_level(v, w, hw, 0, 1, 0, w - hw, ink, r, ink_dark),
        run_paper_level(v, w, 0, h - 1, 1, 0, hw, ink, r, ink_dark),
        run_paper_level(v, w, hw, h - 1, 1, 0, w - hw, ink, r, ink_dark),
        run_paper_level(v, w, 0, 0, 0, 1, hh, ink, r, ink_dark),
        run_paper_level(v, w, 0, hh, 0, 1, h - hh, ink, r, ink_dark),
        run_paper_level(v, w, w - 1, 0, 0, 1, hh, ink, r, ink_dark),
        run_paper_level(v, w, w - 1, hh, 0, 1, h - hh, ink, r, ink_dark),
    };
    int lo = 255, hi = 0;
    for (int i = 0; i < 8; i++) {
        if (m[i] < 0)
            continue;
        lo = m[i] < lo ? m[i] : lo;
        hi = m[i] > hi ? m[i] : hi;
    }
    return hi - lo <= EVEN_BORDER_SPREAD;   /* also when no run has paper */
}

/* Only for images of at least MIN_SIDE_FOR_MAP on both sides: smaller ones
 * have a flat background (see contrast_flat). */
static int build_bg_map(const uint8_t *v, uint8_t flip, int w, int h, bg_map *m, arena *mem)
{
    int longest = w > h ? w : h;
    m->tile = (longest + TILES_ACROSS - 1) / TILES_ACROSS;
    if (m->tile < MIN_TILE)
        m->tile = MIN_TILE;
    m->cols = (w + m->tile - 1) / m->tile;
    m->rows = (h + m->tile - 1) / m->tile;
    m->level = arena_alloc(mem, (size_t)m->cols * (size_t)m->rows * sizeof *m->level);
    if (!m->level)
        return -1;
    for (int ty = 0; ty < m->rows; ty++)
        for (int tx = 0; tx < m->cols; tx++)
            m->level[ty * m->cols + tx] = (float)tile_paper_level(v, flip, w, h, tx, ty, m->tile);
    return smooth_tiles(m, mem);
}

/* ---- shadows ----------------------------------------------------------
 *
 * A hard shadow across a photographed page (a hand, a phone) has an edge
 * the tile map cannot follow: the tiles it crosses take the lit paper's
 * level, and the shadowed paper beside it then stands out from that level
 * as much as ink does, in a region touching the digit. An opening (a
 * running minimum over a square window, then a running maximum) wipes out
 * every stroke narrower than the window and keeps anything wider at its
 * own level with its edges where they were: the paper in shadow. The
 * background is raised to it. But where the opening holds a region nearly
 * as bright as the ink itself, that is no shadow: some stroke is wider than
 * the window (a fat digit cropped tight), the opening would eat into every
 * stroke as wide, and the tile map alone is used, as before.
 *
 * The window is two tiles and one pixel wide, a quarter of the picture's
 * longer side: wider than any stroke of a digit that leaves room for paper
 * around it. A shadow that wide holds whole tiles, and along its edge a
 * tile in shadow lies next to one whose level is still the lit paper's:
 * unless some two neighbouring tiles differ by SHADOW_MIN_STEP there is no
 * hard shadow, and the opening (on a large photo, half as long as all the
 * rest of the pipeline) is not computed. A lighting ramp or a soft shadow,
 * which the tile map follows, changes by less from tile to tile. */
#define SHADOW_MAX_SHARE 0.8
#define SHADOW_MIN_STEP 48

/* The running extreme over [y - r, y + r] down every column of a w x h
 * picture, rows that fall outside ignored: van Herk and Gil-Werman's
 * method, which cuts the columns into blocks of 2r + 1 rows, takes within
 * each block the extreme from its start down to each row (pre) and from
 * each row to its end (post), and then needs one more comparison per
 * pixel: any window is the tail of one block and the head of the next.
 * Every step is an element-wise operation on two whole rows, which the
 * compiler vectorises. flip 255 makes it a minimum, of 255 - each byte. */
static void column_extreme(const uint8_t *restrict in, uint8_t *restrict out,
                           uint8_t *restrict pre, uint8_t *restrict post, int w, int h, int r,
                           uint8_t flip)
{
    /* A strip of columns at a time, so that its rows of pre and post are
     * still in cache when the last loop reads them. */
    enum { STRIP = 64 };
    int k = 2 * r + 1;
    size_t ws = (size_t)w;
    for (int x0 = 0; x0 < w; x0 += STRIP) {
        int sw = w - x0 < STRIP ? w - x0 : STRIP;
        for (int y = 0; y < h; y++) {
            const uint8_t *src = in + (size_t)y * ws + (size_t)x0;
            uint8_t *p = pre + (size_t)y * STRIP;
            if (y % k == 0) {
                for (int x = 0; x < sw; x++)
                    p[x] = src[x] ^ flip;
            } else {
                const uint8_t *up = p - STRIP;
                for (int x = 0; x < sw; x++) {
                    uint8_t v = src[x] ^ flip;
                    p[x] = up[x] > v ? up[x] : v;
                }
            }
        }
        for (int y = h - 1; y >= 0; y--) {
            const uint8_t *src = in + (size_t)y * ws + (size_t)x0;
            uint8_t *p = post + (size_t)y * STRIP;
            if (y == h - 1 || (y + 1) % k == 0) {
                for (int x = 0; x < sw; x++)
                    p[x] = src[x] ^ flip;
            } else {
                const uint8_t *down = p + STRIP;
                for (int x = 0; x < sw; x++) {
                    uint8_t v = src[x] ^ flip;
                    p[x] = down[x] > v ? down[x] : v;
                }
            }
        }
        for (int y = 0; y < h; y++) {
            int top = y - r, end = y + r < h - 1 ? y + r : h - 1;
            uint8_t *o = out + (size_t)y * ws + (size_t)x0;
            const uint8_t *head = pre + (size_t)end * STRIP;
            const uint8_t *tail = post + (size_t)(top > 0 ? top : 0) * STRIP;
            if (top < 0) {
                for (int x = 0; x < sw; x++)
                    o[x] = head[x] ^ flip;
            } else if (top / k == end / k) {
                for (int x = 0; x < sw; x++)
                    o[x] = tail[x] ^ flip;
            } else {
                for (int x = 0; x < sw; x++)
                    o[x] = (tail[x] > head[x] ? tail[x] : head[x]) ^ flip;
            }
        }
    }
}

/* out (h x w) = in (w x h) transposed. Whole 8 x 8 blocks go through
 * eight 64-bit words: swapping bytes between pairs of words, then byte
 * pairs, then halves, transposes the block in 24 word operations instead
 * of 64 byte moves (this reads byte j of a word as bits 8j..8j+7, so only
 * on little-endian machines). The ragged edges go byte by byte. */
static void transpose(const uint8_t *restrict in, uint8_t *restrict out, int w, int h)
{
    int w8 = 0, h8 = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w8 = w & ~7;
    h8 = h & ~7;
    for (int y0 = 0; y0 < h8; y0 += 8)
        for (int x0 = 0; x0 < w8; x0 += 8) {
            uint64_t r[8];
            for (int i = 0; i < 8; i++)
                memcpy(&r[i], in + (size_t)(y0 + i) * (size_t)w + (size_t)x0, 8);
            for (int i = 0; i < 8; i += 2) {
                uint64_t t = ((r[i] >> 8) ^ r[i + 1]) & 0x00FF00FF00FF00FFull;
                r[i + 1] ^= t;
                r[i] ^= t << 8;
            }
            for (int i = 0; i < 8; i += (i & 1) ? 3 : 1) {
                uint64_t t = ((r[i] >> 16) ^ r[i + 2]) & 0x0000FFFF0000FFFFull;
                r[i + 2] ^= t;
                r[i] ^= t << 16;
            }
            for (int i = 0; i < 4; i++) {
                uint64_t t = ((r[i] >> 32) ^ r[i + 4]) & 0x00000000FFFFFFFFull;
                r[i + 4] ^= t;
                r[i] ^= t << 32;
            }
            for (int i = 0; i < 8; i++)
                memcpy(out + (size_t)(x0 + i) * (size_t)h + (size_t)y0, &r[i], 8);
        }
#endif
    for (int y = 0; y < h; y++)
        for (int x = y < h8 ? w8 : 0; x < w; x++)
            out[(size_t)x * (size_t)h + (size_t)y] = in[(size_t)y * (size_t)w + (size_t)x];
}

/* The opening of a w x h picture by a (2r+1)-square window, in place:
 * the erosion (minimum) and then the dilation (maximum), each down the
 * columns and then, transposed, along the rows. The erosion takes the
 * world outside the picture for paper (0): a stroke cut by the picture's
 * edge is no wider there than anywhere else, and must not survive as a
 * wide region along the edge. scratch: 2 w h + 128 max(w, h) bytes. */
static void open_square(uint8_t *img, int w, int h, int r, uint8_t *scratch)
{
    size_t n = (size_t)w * (size_t)h;
    size_t strip = 64 * (size_t)(w > h ? w : h);
    uint8_t *a = scratch, *t = scratch + n, *pre = scratch + 2 * n, *post = pre + strip;
    column_extreme(img, a, pre, post, w, h, r, 255);
    transpose(a, t, w, h);
    column_extreme(t, a, pre, post, h, w, r, 255);   /* now w rows of h */
    for (int x = 0; x < w; x++) {
        uint8_t *row = a + (size_t)x * (size_t)h;
        if (x < r || x >= w - r)
            memset(row, 0, (size_t)h);
        else
            for (int y = 0; y < h; y++)
                row[y] = y < r || y >= h - r ? 0 : row[y];
    }
    column_extreme(a, t, pre, post, h, w, r, 0);
    transpose(t, a, h, w);
    column_extreme(a, img, pre, post, w, h, r, 0);
}

/* The opening of the ink-bright picture v ^ flip, in *floor; NULL there
 * when it reaches SHADOW_MAX_SHARE of the way from the lightest paper of
 * the map to the ink (ink-bright level). -1 when out of memory. */
RARELY_TAKEN static int shadow_floor(const uint8_t *v, uint8_t flip, int w, int h,
                                     const bg_map *m, int ink, arena *mem, const uint8_t **floor)
{
    *floor = NULL;
    float paper = m->level[0], step = 0;
    for (int ty = 0; ty < m->rows; ty++)
        for (int tx = 0; tx < m->cols; tx++) {
            const float *l = m->level + (size_t)ty * (size_t)m->cols + (size_t)tx;
            paper = *l < paper ? *l : paper;
            if (tx + 1 < m->cols)
                step = fabsf(l[1] - l[0]) > step ? fabsf(l[1] - l[0]) : step;
            if (ty + 1 < m->rows)
                step = fabsf(l[m->cols] - l[0]) > step ? fabsf(l[m->cols] - l[0]) : step;
        }
    if (step < SHADOW_MIN_STEP)
        return 0;
    size_t n = (size_t)w * (size_t)h;
    uint8_t *bright = arena_alloc(mem, n);
    uint8_t *scratch = arena_alloc(mem, 2 * n + 128 * (size_t)(w > h ? w : h));
    if (!bright || !scratch)
        return -1;
    for (size_t i = 0; i < n; i++)
        bright[i] = v[i] ^ flip;
    open_square(bright, w, h, m->tile, scratch);
    uint8_t top = 0;
    for (size_t i = 0; i < n; i++)
        top = bright[i] > top ? bright[i] : top;
    if (top >= paper + (float)SHADOW_MAX_SHARE * ((float)ink - paper))
        return 0;
    *floor = bright;
    return 0;
}

/* The contrast d = v' - background, rounded half away from zero and clamped
 * to 0..255, as clampi((int)lroundf(t), 0, 255) gave before, without the
 * libm call (which also kept the loop from vectorising). For t < 0.5 that
 * is 0. From 0.5 up, truncating t + 0.5f gives lroundf(t) too: the sum
 * can only round up to an integer n when t >= n - 0.5, as the floats just
 * below n are as finely spaced as those near n - 0.5. Checked for every
 * float in [-4096, 4096]; here |t| < 511. */
static uint8_t contrast_of(float t)
{
    return t < 0.5f ? 0 : (t >= 255.0f ? 255 : (uint8_t)(int)(t + 0.5f));
}

/* Replaces v by its contrast over the bilinearly interpolated tile levels,
 * raised to the shadow floor where that is higher (floor NULL: none).
 * The interpolation is computed exactly as it was pixel by pixel (bg_at:
 * same expressions, same operand order), but its per-column and per-row
 * parts once, and along runs of columns between the same two tile centres,
 * which lets the compiler vectorise it. */
static int subtract_background(uint8_t *v, uint8_t flip, int w, int h, const bg_map *m,
                               const uint8_t *floor, arena *mem)
{
    int *col0 = arena_alloc(mem, (size_t)w * sizeof *col0);
    int *run_end = arena_alloc(mem, (size_t)w * sizeof *run_end);
    double *col_a = arena_alloc(mem, (size_t)w * sizeof *col_a);
    float *bg = arena_alloc(mem, (size_t)w * sizeof *bg);
    if (!col0 || !run_end || !col_a || !bg)
        return -1;
    for (int x = 0; x < w; x++) {
        double fx = ((double)x + 0.5) / m->tile - 0.5;
        fx = clampd(fx, 0.0, (double)(m->cols - 1));
        col0[x] = (int)fx;
        col_a[x] = fx - col0[x];
    }
    for (int x = w - 1; x >= 0; x--)
        run_end[x] = x + 1 < w && col0[x + 1] == col0[x] ? run_end[x + 1] : x + 1;
    for (int y = 0; y < h; y++) {
        double fy = ((double)y + 0.5) / m->tile - 0.5;
        fy = clampd(fy, 0.0, (double)(m->rows - 1));
        int y0 = (int)fy;
        int y1 = y0 + 1 < m->rows ? y0 + 1 : y0;
        double ay = fy - y0;
        const float *top_row = m->level + (size_t)y0 * (size_t)m->cols;
        const float *bot_row = m->level + (size_t)y1 * (size_t)m->cols;
        for (int x = 0; x < w;) {
            int x0 = col0[x], x1 = x0 + 1 < m->cols ? x0 + 1 : x0, end = run_end[x];
            float l00 = top_row[x0], l01 = top_row[x1], l10 = bot_row[x0], l11 = bot_row[x1];
            for (; x < end; x++) {
                double ax = col_a[x];
                double top = l00 * (1 - ax) + l01 * ax;
                double bot = l10 * (1 - ax) + l11 * ax;
                bg[x] = (float)(top * (1 - ay) + bot * ay);
            }
        }
        uint8_t *row = v + (size_t)y * (size_t)w;
        if (floor) {
            const uint8_t *f = floor + (size_t)y * (size_t)w;
            for (int x = 0; x < w; x++)
                bg[x] = f[x] > bg[x] ? f[x] : bg[x];
        }
        for (int x = 0; x < w; x++)
            row[x] = contrast_of((float)(row[x] ^ flip) - bg[x]);
    }
    return 0;
}

/* Below MIN_SIDE_FOR_MAP the background is flat at the border's level L: the
 * old one-tile map interpolated to exactly (float)L everywhere, and with an
 * integer pixel and integer level the rounding is exact, so the contrast is
 * a saturating byte difference. Its histogram follows from that of v. */
static void contrast_flat(uint8_t *v, uint8_t flip, size_t n, int level,
                          const uint32_t vhist[256], uint32_t dhist[256])
{
    uint8_t l = (uint8_t)level;
    for (size_t i = 0; i < n; i++) {
        uint8_t x = v[i] ^ flip;
        v[i] = x > l ? (uint8_t)(x - l) : 0;
    }
    /* d = 0 for v' <= L, else v' - L; v' = v ^ flip. */
    memset(dhist, 0, 256 * sizeof *dhist);
    for (int x = 0; x <= level; x++)
        dhist[0] += vhist[x ^ flip];
    for (int x = level + 1; x < 256; x++)
        dhist[x - level] = vhist[x ^ flip];
}

/* Otsu's threshold: the split maximising between-class variance.
 *
 * w0 and sum0 are running sums of integers, exact in double, so they can
 * be formed as integer prefix sums; the variance of every split is then
 * independent of the others and computed in a loop that vectorises, with
 * the same expression as ever. The choice is made as before: in order of
 * t, over the splits with both classes non-empty, the first strict
 * maximum. */
static int otsu(const uint32_t hist[256], size_t total)
{
    /* The whole picture's moment too is a sum of integers, exact in any
     * order: summed as an integer, not as a chain of dependent double adds.
     * With the skipped splits below, Otsu on the 28x28 upload that
     * tests/bench/serve posts went from about 1500 to 1000 cycles. */
    uint64_t moment_all = 0;
    for (int v = 0; v < 256; v++)
        moment_all += (uint64_t)v * hist[v];
    double sum_all = (double)moment_all;
    /* A split t after an empty level (hist[t] == 0, t > 0) has the classes
     * of split t - 1, hence the same variance, bit for bit, and can never
     * be the first strict maximum: only the splits ending on a level in use
     * are evaluated, and their divisions done. */
    double w0[255], sum0[255], between[255];
    int at[255], splits = 0;
    uint64_t count = 0, moment = 0;
    for (int t = 0; t < 255; t++) {
        count += hist[t];
        moment += (uint64_t)t * hist[t];
        w0[splits] = (double)count;
        sum0[splits] = (double)moment;
        at[splits] = t;
        splits += t == 0 || hist[t] != 0;
    }
    for (int i = 0; i < splits; i++) {
        double w1 = (double)total - w0[i];
        double m0 = sum0[i] / w0[i], m1 = (sum_all - sum0[i]) / w1;
        between[i] = w0[i] * w1 * (m0 - m1) * (m0 - m1);
    }
    double best = -1;
    int best_t = 0;
    for (int i = 0; i < splits; i++) {
        if (w0[i] <= 0 || (double)total - w0[i] <= 0)
            continue;
        if (between[i] > best) {
            best = between[i];
            best_t = at[i];
        }
    }
    return best_t;
}

/* Contrast levels derived from the histogram of d. */
typedef struct {
    int peak;       /* robust maximum contrast */
    int threshold;  /* seeds are d > threshold */
} contrast_levels;

static contrast_levels choose_levels(const uint32_t hist[256], size_t n, int floor)
{
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
    int lo = lv.peak / 4 > floor ? lv.peak / 4 : floor;
    int hi = lv.peak * 3 / 5;
    lv.threshold = clampi(t, lo, hi > lo ? hi : lo);
    return lv;
}

/* Levels for ink under MIN_CONTRAST, or 0 when there is none to read: the
 * peak is within the paper's noise. Seeds then start at twice the noise
 * quantile or above, where noise alone gives isolated pixels at most. */
static int faint_levels(const uint32_t hist[256], size_t n, contrast_levels *lv)
{
    int noise = hist_quantile(hist, n, PAPER_NOISE_QUANTILE);
    if (lv->peak < FAINT_MIN_CONTRAST || lv->peak < FAINT_SNR * (noise > 1 ? noise : 1))
        return 0;
    int floor = 2 * noise > FAINT_MIN_CONTRAST / 2 ? 2 * noise : FAINT_MIN_CONTRAST / 2;
    *lv = choose_levels(hist, n, floor);
    return 1;
}

/* ---- step 3b: a shaded field behind the ink ----------------------------
 *
 * A form's grey answer field, a shaded label or a highlighter band behind
 * the digit stands above the paper by a contrast of its own, evenly: in the
 * histogram of d a narrow peak between the paper and the ink. Otsu takes
 * it for ink, and the network then sees a grey rectangle with the digit in
 * it. It is such a field when:
 *   - the peak holds PLATEAU_SHARE of the seeds within its level /
 *     PLATEAU_WIDTH (3 at least) of one level, and PLATEAU_MIN_AREA of the
 *     picture;
 *   - ink stands PLATEAU_MIN_STEP above the peak's top (PLATEAU_MIN_INK of
 *     the picture), spread out as writing is and not a blot (its pixels under
 *     PLATEAU_COMPACT of its box's longer side squared);
 *   - from that ink's centre the field runs on (past the ink and the gaps
 *     between its strokes) for PLATEAU_MIN_RUN of the picture's shorter
 *     side in two of the four directions before the paper starts: the ink
 *     of a sheet on a desk is surrounded by paper instead;
 *   - it is a patch, not strokes (field_is_a_region).
 * The field then counts as paper: seeds start above it, and so does the
 * intensity ramp. */
#define PLATEAU_SHARE 0.5
#define PLATEAU_MIN_AREA 0.02    /* of the picture */
#define PLATEAU_WIDTH 16         /* the peak's half-width: its level / this, 3 or more */
#define PLATEAU_MIN_STEP MIN_CONTRAST
#define PLATEAU_MIN_INK 0.002    /* of the picture */
#define PLATEAU_COMPACT 0.6
#define PLATEAU_MIN_RUN 0.03     /* of the shorter side */
#define PLATEAU_PAPER_RUN 3      /* px of paper that end a walk */
#define PLATEAU_HULL 0.5         /* see field_is_a_region */
#define PLATEAU_FILL 0.9
#define PLATEAU_MAX_ELONGATION 8.0
#define PLATEAU_INK_INSIDE 0.15
#define HULL_DIRECTIONS 16

/* Plateau pixels met walking from (x, y) by (dx, dy) before PLATEAU_PAPER_RUN
 * pixels of paper in a row (d under lo) or the picture's edge. */
static int plateau_run(const uint8_t *d, int w, int h, int x, int y, int dx, int dy, int lo,
                       int hi)
{
    int on_field = 0, paper = 0;
    for (; x >= 0 && x < w && y >= 0 && y < h; x += dx, y += dy) {
        int v = d[(size_t)y * (size_t)w + (size_t)x];
        if (v < lo) {
            if (++paper >= PLATEAU_PAPER_RUN)
                break;
            continue;
        }
        paper = 0;
        on_field += v <= hi;
    }
    return on_field;
}

/* Whether the field is a patch and not strokes. A light pen's strokes
 * with a darker tick, a printed box or a partial retrace on them, or a
 * translucent marker darker where its strokes cross, pass the tests above
 * too. A field, a label or a band (even one thinner than the digit) is a
 * convex patch. Take the convex hull of its inner pixels (at its level,
 * with all four neighbours at it or darker): a field's is about as large as
 * the field (PLATEAU_HULL of its pixels or more), PLATEAU_FILL or more of
 * it is field or ink (d at or above field_cut, half the field's level, so
 * that noise does not hole it), it is no longer than PLATEAU_MAX_ELONGATION
 * times its mean width (a broad pen's 1 is longer; so is a band across a
 * wide picture, which is left as it was), and PLATEAU_INK_INSIDE of the
 * ink (d at or above ink_cut) lies in it: a box printed round a pencil
 * answer does not. Strokes fill a small part of their hull. field and ink
 * are the two's pixel counts. 1 when a patch, 0 when not, -1 when out of
 * memory. */
static int field_is_a_region(const uint8_t *d, int w, int h, int lo, int top, int field_cut,
                             int ink_cut, size_t field, size_t ink, arena *mem)
{
    /* Each row's leftmost and rightmost inner pixel (-1: none). */
    int *left = arena_alloc(mem, 3 * (size_t)h * sizeof *left);
    if (!left)
        return -1;
    int *right = left + h, *chain = right + h;
    int y0 = -1, y1 = -1;
    for (int y = 0; y < h; y++) {
        left[y] = right[y] = -1;
        if (y == 0 || y == h - 1)
            continue;
        const uint8_t *row = d + (size_t)y * (size_t)w;
        const uint8_t *up = row - w, *down = row + w;
        for (int x = 1; x + 1 < w; x++) {
            if (row[x] < lo || row[x] > top || row[x - 1] < lo || row[x + 1] < lo ||
                up[x] < lo || down[x] < lo)
                continue;
            if (left[y] < 0)
                left[y] = x;
            right[y] = x;
        }
        if (left[y] >= 0) {
            y1 = y;
            if (y0 < 0)
                y0 = y;
        }
    }
    if (y0 < 0)
        return 0;
    /* The hull's left side is the lower convex chain of the points
     * (y, left[y]), its right side the upper one of (y, right[y]); between
     * two chain points a side is the straight line joining them. */
    for (int side = 0; side < 2; side++) {
        int *at = side == 0 ? left : right;
        int n = 0;
        for (int y = y0; y <= y1; y++) {
            if (at[y] < 0)
                continue;
            /* Pop the last point while it lies inside the chain that
             * skips it: a left side bulges to smaller x (the cross product
             * of the turn, in (y, x), positive), a right side to larger. */
            while (n >= 2) {
                int ya = chain[n - 2], yb = chain[n - 1];
                long cross = (long)(yb - ya) * (at[y] - at[ya]) -
                             (long)(at[yb] - at[ya]) * (y - ya);
                if (side == 0 ? cross > 0 : cross < 0)
                    break;
                n--;
            }
            chain[n++] = y;
        }
        /* at[] becomes the hull's edge on this side, row by row. It is
         * overwritten in place: each segment reads only its two ends,
         * whose values the interpolation leaves as they were. */
        for (int k = 0; k + 1 < n; k++) {
            int ya = chain[k], yb = chain[k + 1];
            int xa = at[ya], xb = at[yb];
            for (int y = ya; y < yb; y++)
                at[y] = xa + (int)lround((double)(xb - xa) * (y - ya) / (yb - ya));
        }
    }
    size_t area = 0, filled = 0, ink_inside = 0;
    for (int y = y0; y <= y1; y++) {
        const uint8_t *row = d + (size_t)y * (size_t)w;
        for (int x = left[y]; x <= right[y]; x++) {
            filled += row[x] >= field_cut;
            ink_inside += row[x] >= ink_cut;
        }
        area += (size_t)(right[y] - left[y] + 1);
    }
    /* The hull's length: its widest extent over HULL_DIRECTIONS directions
     * (within 0.5% of its diameter), whatever way it slants. */
    double length = 0;
    for (int k = 0; k < HULL_DIRECTIONS; k++) {
        double c = cos(PI * k / HULL_DIRECTIONS), sn = sin(PI * k / HULL_DIRECTIONS);
        double lo_p = 1e30, hi_p = -1e30;
        for (int y = y0; y <= y1; y++)
            for (int e = 0; e < 2; e++) {
                double p = c * (e ? right[y] : left[y]) + sn * y;
                lo_p = p < lo_p ? p : lo_p;
                hi_p = p > hi_p ? p : hi_p;
            }
        length = hi_p - lo_p + 1 > length ? hi_p - lo_p + 1 : length;
    }
    return (double)area >= PLATEAU_HULL * (double)field &&
           (double)filled >= PLATEAU_FILL * (double)area &&
           length * length <= PLATEAU_MAX_ELONGATION * (double)area &&
           (double)ink_inside >= PLATEAU_INK_INSIDE * (double)ink;
}

/* When d holds a shaded field behind the ink (see above), raises the seed
 * threshold above it, sets *ramp_floor to the field's top level and returns 1;
 * else returns 0 and changes nothing; -1 when out of memory. */
RARELY_TAKEN static int skip_shaded_field(const uint8_t *d, int w, int h,
                                          const uint32_t dhist[256], arena *mem,
                                          contrast_levels *lv, int *ramp_floor)
{
    size_t n = (size_t)w * (size_t)h;
    /* below[v]: the seeds under level v. */
    size_t below[257] = {0};
    for (int v = 0; v < 256; v++)
        below[v + 1] = below[v] + (v > lv->threshold ? dhist[v] : 0);
    size_t seeds = below[256];
    /* The heaviest narrow peak among the seeds, short of the ink's level. */
    int level = -1, half = 0;
    size_t best = 0;
    for (int p = lv->threshold + 1; p + PLATEAU_MIN_STEP <= lv->peak; p++) {
        int r = p / PLATEAU_WIDTH > 3 ? p / PLATEAU_WIDTH : 3;
        size_t m = below[p + r + 1 < 256 ? p + r + 1 : 256] - below[p - r > 0 ? p - r : 0];
        if (m > best) {
            best = m;
            level = p;
            half = r;
        }
    }
    if (level < 0 || (double)best < PLATEAU_SHARE * (double)seeds ||
        (double)best < PLATEAU_MIN_AREA * (double)n)
        return 0;
    /* The first window to hold the most ends at the peak's edge: the
     * field's level is its mode, and its width that level's. */
    int mode = level;
    for (int v = level - half; v <= level + half && v < 256; v++)
        mode = v > lv->threshold && dhist[v] > dhist[mode] ? v : mode;
    level = mode;
    half = level / PLATEAU_WIDTH > 3 ? level / PLATEAU_WIDTH : 3;
    int top = level + half;
    size_t ink = 0;
    for (int v = top + PLATEAU_MIN_STEP; v < 256; v++)
        ink += dhist[v];
    if ((double)ink < PLATEAU_MIN_INK * (double)n || ink < 16)
        return 0;
    /* The ink's centre and box. Written strokes are spread out: a blot as
     * heavy as PLATEAU_COMPACT of its box's longer side squared is no
     * writing, and a light pen's strokes it lies on no field. */
    double sx = 0, sy = 0;
    rect box = rect_empty();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (d[(size_t)y * (size_t)w + (size_t)x] >= top + PLATEAU_MIN_STEP) {
                sx += x;
                sy += y;
                rect_add(&box, x, y);
            }
    double side = rect_long_side(box);
    if ((double)ink > PLATEAU_COMPACT * side * side)
        return 0;
    int cx = (int)(sx / (double)ink), cy = (int)(sy / (double)ink);
    /* The field's own spread, even where it dips under Otsu's threshold:
     * a field at that threshold is half seeds, half not. */
    int lo = level - half;
    int need = (int)ceil(PLATEAU_MIN_RUN * (w < h ? w : h));
    need = need > PLATEAU_PAPER_RUN ? need : PLATEAU_PAPER_RUN;
    int sides = (plateau_run(d, w, h, cx, cy, -1, 0, lo, top) >= need) +
                (plateau_run(d, w, h, cx, cy, 1, 0, lo, top) >= need) +
                (plateau_run(d, w, h, cx, cy, 0, -1, lo, top) >= need) +
                (plateau_run(d, w, h, cx, cy, 0, 1, lo, top) >= need);
    if (sides < 2)
        return 0;
    int region =
        field_is_a_region(d, w, h, lo, top, level / 2, top + PLATEAU_MIN_STEP, best, ink, mem);
    if (region <= 0)
        return region;
    /* Otsu between the field and the ink, held within the range
     * choose_levels allows above paper, measured from the field's top: ink
     * partly in shade is two levels, which Otsu alone would split. */
    uint32_t above[256] = {0};
    size_t n_above = 0;
    for (int v = top + 1; v < 256; v++) {
        above[v] = dhist[v];
        n_above += dhist[v];
    }
    int step = lv->peak - top;
    lv->threshold = clampi(otsu(above, n_above), top + step / 4, top + step * 3 / 5);
    *ramp_floor = top;
    return 1;
}

/* ---- step 4: connected components -------------------------------------- */

/* Components are found on runs (maximal horizontal spans of seed pixels,
 * d > threshold) joined with a union-find when they touch a run of the row
 * above, 8-connected. The set of components and their mass, size and box
 * are what a pixel flood fill gives; only their numbering could differ, and
 * nothing downstream depends on it. */
typedef struct {
    int y, x0, x1;    /* seed pixels x0..x1 (inclusive) of row y */
    uint32_t comp;    /* union-find parent while labelling, then component */
} run;

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
    uint8_t *seeds;     /* 1 where d > threshold, over the whole image */
} components;

/* Parents always have a lower index than their children (a root is the
 * first run of its component), which the numbering below relies on. */
static uint32_t run_root(run *r, uint32_t i)
{
    while (r[i].comp != i) {
        r[i].comp = r[r[i].comp].comp;
        i = r[i].comp;
    }
    return i;
}

static void run_join(run *r, uint32_t a, uint32_t b)
{
    a = run_root(r, a);
    b = run_root(r, b);
    if (a < b)
        r[b].comp = a;
    else if (b < a)
        r[a].comp = b;
}

/* Notebook paper's ruled lines pass the threshold as ink: long and thin,
 * and joined to any stroke that crosses them, so the digit and the lines it
 * touches become one component as wide as the page. A line here is a band
 * of rows (or columns) whose seeds run from edge to edge, with the half-
 * seeded rows beside them (its anti-aliased edge), at most RULED_THICKNESS
 * thick, with paper on both sides. When one direction has
 * at least RULED_MIN_LINES of them (a ruled page has a family of lines,
 * while one or two full-width bars could be a tightly cropped digit's: a
 * 4's crossbar, a Z-shaped 2's top and foot),
 * they are taken out of the seeds, and so are single lines across them (a
 * notebook's margin). A stroke crossing a line loses the line's few rows,
 * which the fringe around the stroke on either side gives back its ink. */
#define RULED_SPAN 0.75         /* of the line's length covered by seeds */
#define RULED_EDGE 0.02         /* of the length: how close to each end it reaches */
#define RULED_THICKNESS 0.02    /* of the picture across the lines (at least 2 px) */
#define RULED_MIN_LINES 3

/* Seed counts of each row (or column) i, and its first and last seed. */
typedef struct {
    int *count, *first, *last;
} line_stats;

/* Marks lines[i] = 1 for each row (or column) in a thin full-length band,
 * out of n of them, each of the given length; returns how many bands. */
static int find_ruled_lines(const line_stats *st, int n, int length, uint8_t *lines)
{
    int edge = (int)(RULED_EDGE * length), span = (int)ceil(RULED_SPAN * length);
    int paper_count = span / 2;
    int thickest = (int)(RULED_THICKNESS * n) > 2 ? (int)(RULED_THICKNESS * n) : 2;
    int bands = 0;
    for (int i = 0; i < n;) {
        if (!(st->count[i] >= span && st->first[i] <= edge && st->last[i] >= length - 1 - edge)) {
            i++;
            continue;
        }
        int i0 = i;
        while (i < n && st->count[i] >= span && st->first[i] <= edge &&
               st->last[i] >= length - 1 - edge)
            i++;
        /* With its soft edges: an anti-aliased line is fully seeded in one
         * row and half in the next (a notebook's margin, seen slightly off
         * the pixel grid). */
        int a = i0, b = i;
        while (a > 0 && st->count[a - 1] >= paper_count && b - a <= thickest)
            a--;
        while (b < n && st->count[b] >= paper_count && b - a <= thickest)
            b++;
        /* Thin, with paper on both sides: not the edge of a thick stroke. */
        int t = b - a;
        if (t <= thickest && a >= t && b + t <= n && st->count[a - 1] < paper_count &&
            st->count[b] < paper_count) {
            memset(lines + a, 1, (size_t)t);
            bands++;
        }
        /* A full row inside the soft edge is this band again, not another:
         * counted twice, a digit's two bars would pass for a ruled page. */
        i = b;
    }
    return bands;
}

static int erase_ruled_lines(uint8_t *seeds, int w, int h, arena *mem)
{
    if (w < MIN_SIDE_FOR_MAP || h < MIN_SIDE_FOR_MAP)
        return 0;
    int *ints = arena_alloc(mem, 3 * ((size_t)w + (size_t)h) * sizeof *ints);
    uint8_t *row_line = arena_zalloc(mem, (size_t)h), *col_line = arena_zalloc(mem, (size_t)w);
    if (!ints || !row_line || !col_line)
        return -1;
    line_stats rows = {ints, ints + h, ints + 2 * h};
    line_stats cols = {ints + 3 * h, ints + 3 * h + w, ints + 3 * h + 2 * w};
    /* Counts in loops that vectorise; the ends only of the rare rows and
     * columns long enough to be lines. */
    memset(cols.count, 0, (size_t)w * sizeof *cols.count);
    for (int y = 0; y < h; y++) {
        const uint8_t *row = seeds + (size_t)y * (size_t)w;
        int count = 0;
        for (int x = 0; x < w; x++) {
            count += row[x];
            cols.count[x] += row[x];
        }
        rows.count[y] = count;
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *row = seeds + (size_t)y * (size_t)w;
        rows.first[y] = w;
        rows.last[y] = -1;
        if (rows.count[y] < RULED_SPAN * w)
            continue;
        for (int x = 0; x < w; x++)
            if (row[x]) {
                rows.first[y] = x < rows.first[y] ? x : rows.first[y];
                rows.last[y] = x;
            }
    }
    for (int x = 0; x < w; x++) {
        cols.first[x] = h;
        cols.last[x] = -1;
        if (cols.count[x] < RULED_SPAN * h)
            continue;
        for (int y = 0; y < h; y++)
            if (seeds[(size_t)y * (size_t)w + (size_t)x]) {
                cols.first[x] = y < cols.first[x] ? y : cols.first[x];
                cols.last[x] = y;
            }
    }
    int across = find_ruled_lines(&rows, h, w, row_line);
    int down = find_ruled_lines(&cols, w, h, col_line);
    if (across < RULED_MIN_LINES && down < RULED_MIN_LINES)
        return 0;
    for (int y = 0; y < h; y++) {
        uint8_t *row = seeds + (size_t)y * (size_t)w;
        if (row_line[y]) {
            memset(row, 0, (size_t)w);
            continue;
        }
        for (int x = 0; x < w; x++)
            row[x] &= (uint8_t)!col_line[x];
    }
    return 0;
}

static int label_components(const uint8_t *d, int w, int h, int threshold, arena *mem,
                            components *c)
{
    memset(c, 0, sizeof *c);
    size_t cap = 64 + (size_t)w * (size_t)h / 16, n_runs = 0;
    run *runs = arena_alloc(mem, cap * sizeof *runs);
    if (!runs)
        return -1;
    /* The seed mask of the whole image (one long loop, which vectorises
     * even when rows are short), and each row's copy between zero bytes:
     * mask[1 + x] for pixel x. A run starts or ends wherever mask[1 + x] !=
     * mask[x], 0 <= x <= w, and one word compare rules out eight such
     * positions at a time. */
    size_t n = (size_t)w * (size_t)h;
    uint8_t *seeds = arena_alloc(mem, n);
    uint8_t *mask = arena_zalloc(mem, (size_t)w + 16);
    if (!seeds || !mask)
        return -1;
    for (size_t i = 0; i < n; i++)
        seeds[i] = d[i] > threshold;
    if (erase_ruled_lines(seeds, w, h, mem) != 0)
        return -1;
    size_t above = 0, above_end = 0;   /* the runs of row y - 1 */
    for (int y = 0; y < h; y++) {
        memcpy(mask + 1, seeds + (size_t)y * (size_t)w, (size_t)w);
        size_t first = n_runs;
        int start = 0;
        for (int x = 0; x <= w;) {
            uint64_t here, next;
            memcpy(&here, mask + x, sizeof here);
            memcpy(&next, mask + x + 1, sizeof next);
            if (here == next) {
                x += 8;
                continue;
            }
            for (int end = x + 8 < w + 1 ? x + 8 : w + 1; x < end; x++) {
                if (mask[1 + x] == mask[x])
                    continue;
                if (mask[1 + x]) {
                    start = x;
                    continue;
                }
                if (n_runs == cap) {
                    run *grown = arena_alloc(mem, 2 * cap * sizeof *grown);
                    if (!grown)
                        return -1;
                    memcpy(grown, runs, cap * sizeof *runs);
                    runs = grown;
                    cap *= 2;
                }
                runs[n_runs] = (run){y, start, x - 1, (uint32_t)n_runs};
                n_runs++;
            }
        }
        /* Merge-walk the two rows: runs touch when their spans, widened by
         * one pixel for the diagonals, overlap. */
        size_t i = above, j = first;
        while (i < above_end && j < n_runs) {
            if (runs[i].x1 + 1 < runs[j].x0) {
                i++;
            } else if (runs[j].x1 + 1 < runs[i].x0) {
                j++;
            } else {
                run_join(runs, (uint32_t)i, (uint32_t)j);
                if (runs[i].x1 < runs[j].x1)
                    i++;
                else
                    j++;
            }
        }
        above = first;
        above_end = n_runs;
    }
    /* Number the components in order of their first run; a run's parent
     * comes before it, so it already holds its component number. */
    size_t n_comp = 0;
    for (size_t r = 0; r < n_runs; r++) {
        uint32_t p = runs[r].comp;
        runs[r].comp = p == r ? (uint32_t)++n_comp : runs[p].comp;
    }
    component *comp = arena_alloc(mem, (n_comp + 1) * sizeof *comp);
    if (!comp)
        return -1;
    for (size_t k = 0; k <= n_comp; k++)
        comp[k] = (component){0, 0, 0, rect_empty(), 0, 0};
    for (size_t r = 0; r < n_runs; r++) {
        const run *u = &runs[r];
        const uint8_t *row = d + (size_t)u->y * (size_t)w;
        /* Integer sums of bytes, exact: the same mass as a pixel-by-pixel
         * double sum in any order. */
        uint32_t mass = 0;
        for (int x = u->x0; x <= u->x1; x++)
            mass += row[x];
        component *k = &comp[u->comp];
        k->mass += mass;
        k->pixels += (size_t)(u->x1 - u->x0 + 1);
        if (u->y == 0 || u->y == h - 1)
            k->edge_pixels += (size_t)(u->x1 - u->x0 + 1);
        else
            k->edge_pixels += (size_t)(u->x0 == 0) + (size_t)(u->x1 == w - 1);
        rect_add(&k->box, u->x0, u->y);
        rect_add(&k->box, u->x1, u->y);
    }
    c->runs = runs;
    c->n_runs = n_runs;
    c->comp = comp;
    c->n_comp = n_comp;
    c->seeds = seeds;
    return 0;
}

/* True when some pixel of the run has a pixel of a big component within
 * the tiny-piece reach: the union of the pixels' windows is one rectangle
 * of the big mask (padded by TINY_NEAR_PX, so the rectangle is inside). */
static int run_near_big(const uint8_t *big, int pw, const run *u)
{
    int x0 = u->x0, len = u->x1 - u->x0 + 1 + 2 * TINY_NEAR_PX;
    for (int y = u->y; y <= u->y + 2 * TINY_NEAR_PX; y++) {
        const uint8_t *p = big + (size_t)y * (size_t)pw + (size_t)x0;
        unsigned any = 0;
        for (int x = 0; x < len; x++)
            any |= p[x];
        if (any)
            return 1;
    }
    return 0;
}

/* A photo can hold more than the digit: the desk around the sheet, a
 * scanner's black margin, a notebook's margin line, part of a neighbouring
 * character cut by the crop. These reach the picture's edge, which a
 * digit in a photo rarely does. So when substantial ink lies clear of the
 * edge (a component of CLEAR_MIN_SIDE of the picture, not a speck), ink
 * touching the edge is clutter if it is either no heavier than the
 * heaviest clear component (a fragment, unless it comes within
 * CLUTTER_REACH of the clear ink) or runs across the picture from edge to
 * edge, or along an edge over half the picture (a desk, a scanner's lid, a
 * line, a strip of shadow). A digit cut by the edge touches it only where
 * its strokes cross it, and a tightly cropped digit leaves nothing
 * substantial clear of the edges: neither is dropped. */
#define CLUTTER_FRAGMENT 1.0        /* of the heaviest clear component's mass */
#define CLUTTER_SPAN 0.5            /* of the picture's width or height */
#define CLUTTER_BAND 0.25           /* thickness of a band across, of its length */
#define CLUTTER_CONTACT 0.5         /* of the picture's shorter side, along the edge */
#define CLUTTER_REACH 0.08          /* of the clear ink's size: nearer is the digit's */
#define CLEAR_MIN_PIXELS 24
#define CLEAR_MIN_SIDE 0.10         /* of the picture's shorter side */

/* A printed box or a circle drawn round the digit encloses it: the frame
 * is clutter when it goes round another component of at least FRAMED_MASS
 * of its mass and FRAMED_SIDE of its size (not a speck, nor a slash, inside
 * a 0). Only the FRAME_CANDIDATES heaviest components are compared, pair
 * by pair. */
#define FRAMED_MASS 0.5
#define FRAMED_SIDE 0.25
#define FRAME_CANDIDATES 16

/* True when component k has pixels beyond inner on all four sides, on the
 * row and the column through inner's centre: it goes round it, as a box
 * or a circle does and the tail of a 6 curling past its loop does not. */
static int surrounds(const components *c, uint32_t k, rect inner)
{
    rect kb = c->comp[k].box;
    if (!(kb.x0 < inner.x0 && kb.y0 < inner.y0 && kb.x1 > inner.x1 && kb.y1 > inner.y1))
        return 0;
    int xc = (inner.x0 + inner.x1) / 2, yc = (inner.y0 + inner.y1) / 2;
    int left = 0, right = 0, above = 0, below = 0;
    for (size_t r = 0; r < c->n_runs; r++) {
        const run *u = &c->runs[r];
        if (u->comp != k)
            continue;
        if (u->y == yc) {
            left |= u->x0 < inner.x0;
            right |= u->x1 > inner.x1;
        }
        if (u->x0 <= xc && xc <= u->x1) {
            above |= u->y < inner.y0;
            below |= u->y > inner.y1;
        }
    }
    return left && right && above && below;
}

static void mark_frames(components *c)
{
    size_t top[FRAME_CANDIDATES];
    size_t n_top = 0;
    for (size_t k = 1; k <= c->n_comp; k++) {
        if (c->comp[k].pixels < CLEAR_MIN_PIXELS)
            continue;
        /* Insertion into the list of the heaviest, heaviest first. */
        size_t at = n_top < FRAME_CANDIDATES ? n_top++ : FRAME_CANDIDATES;
        while (at > 0 && c->comp[top[at - 1]].mass < c->comp[k].mass) {
            if (at < FRAME_CANDIDATES)
                top[at] = top[at - 1];
            at--;
        }
        if (at < FRAME_CANDIDATES)
            top[at] = k;
    }
    for (size_t i = 0; i < n_top; i++) {
        component *frame = &c->comp[top[i]];
        for (size_t j = 0; j < n_top && !frame->clutter; j++) {
            const component *inside = &c->comp[top[j]];
            frame->clutter = j != i && inside->mass >= FRAMED_MASS * frame->mass &&
                             rect_long_side(inside->box) >= FRAMED_SIDE * rect_long_side(frame->box) &&
                             surrounds(c, (uint32_t)top[i], inside->box);
        }
    }
}

/* An underline: a thin stroke (no taller than UNDERLINE_THIN of its width)
 * under the rest of the ink, at least UNDERLINE_WIDE of that ink's width and
 * overlapping most of it. Drawn apart from the digit, it would otherwise
 * join the box and squash the digit into its top. */
#define UNDERLINE_THIN 0.2
#define UNDERLINE_WIDE 0.6

/* The box of all ink but one component's, for every component at once:
 * each side's best and second-best edge and who holds the best. */
typedef struct {
    int best[4], second[4];   /* x0, y0 (least) and x1, y1 (greatest) */
    size_t holder[4];
} ink_extent;

static int underline_eligible(const component *p)
{
    return !p->clutter && p->pixels >= CLEAR_MIN_PIXELS;
}

static void extent_add(ink_extent *e, rect r, size_t k)
{
    int v[4] = {-r.x0, -r.y0, r.x1, r.y1};   /* larger is further out on every side */
    for (int s = 0; s < 4; s++) {
        if (v[s] > e->best[s]) {
            e->second[s] = e->best[s];
            e->best[s] = v[s];
            e->holder[s] = k;
        } else if (v[s] > e->second[s]) {
            e->second[s] = v[s];
        }
    }
}

static rect extent_without(const ink_extent *e, size_t k)
{
    int v[4];
    for (int s = 0; s < 4; s++)
        v[s] = e->holder[s] == k ? e->second[s] : e->best[s];
    return (rect){-v[0], -v[1], v[2], v[3]};
}

static void mark_underline(components *c)
{
    ink_extent e;
    for (int s = 0; s < 4; s++) {
        e.best[s] = e.second[s] = INT32_MIN / 2;
        e.holder[s] = 0;
    }
    for (size_t k = 1; k <= c->n_comp; k++)
        if (underline_eligible(&c->comp[k]))
            extent_add(&e, c->comp[k].box, k);
    for (size_t k = 1; k <= c->n_comp; k++) {
        component *u = &c->comp[k];
        int uw = u->box.x1 - u->box.x0 + 1, uh = u->box.y1 - u->box.y0 + 1;
        if (!underline_eligible(u) || uh > UNDERLINE_THIN * uw)
            continue;
        rect rest = extent_without(&e, k);
        if (rest.x1 < rest.x0 || rest.y1 < rest.y0)
            continue;   /* no other ink */
        int rw = rest.x1 - rest.x0 + 1, rh = rest.y1 - rest.y0 + 1;
        int overlap = (u->box.x1 < rest.x1 ? u->box.x1 : rest.x1) -
                      (u->box.x0 > rest.x0 ? u->box.x0 : rest.x0) + 1;
        u->clutter = u->box.y0 > rest.y1 - rh / 8 && uw >= UNDERLINE_WIDE * rw &&
                     overlap >= rw / 2 && rh >= 2 * uh;
    }
}

static int touches_edge(rect r, int w, int h)
{
    return r.x0 <= 0 || r.y0 <= 0 || r.x1 >= w - 1 || r.y1 >= h - 1;
}

static void mark_clutter(components *c, int w, int h)
{
    /* A picture this small is a crop of the digit already (MNIST's 28 x 28
     * among them), with no page around it: what reaches its edge is the
     * digit's, such as the bar of a 5 running off it. */
    if (w < MIN_SIDE_FOR_MAP || h < MIN_SIDE_FOR_MAP)
        return;
    mark_frames(c);
    mark_underline(c);
    int shorter = w < h ? w : h;
    double min_side = CLEAR_MIN_SIDE * shorter;
    double clear_mass = 0;
    rect clear = rect_empty();
    for (size_t k = 1; k <= c->n_comp; k++) {
        const component *p = &c->comp[k];
        if (!p->clutter && !touches_edge(p->box, w, h) && p->pixels >= CLEAR_MIN_PIXELS &&
            rect_long_side(p->box) >= min_side) {
            rect_union(&clear, p->box);
            clear_mass = p->mass > clear_mass ? p->mass : clear_mass;
        }
    }
    if (clear_mass == 0)
        return;
    int candidates = 0;
    for (size_t k = 1; k <= c->n_comp; k++) {
        component *p = &c->comp[k];
        if (p->clutter || !touches_edge(p->box, w, h))
            continue;
        int bw = p->box.x1 - p->box.x0 + 1, bh = p->box.y1 - p->box.y0 + 1;
        /* From edge to edge in a band, not a tightly cropped digit's box. */
        int across = (bw == w && bh <= CLUTTER_BAND * w) || (bh == h && bw <= CLUTTER_BAND * h);
        if (across || ((bw >= CLUTTER_SPAN * w || bh >= CLUTTER_SPAN * h) &&
                       p->edge_pixels >= CLUTTER_CONTACT * shorter))
            p->clutter = 1;   /* a desk's edge, a lid, a line, a band of shadow */
        else if (p->mass <= CLUTTER_FRAGMENT * clear_mass)
            p->clutter = 2;   /* a fragment, unless it comes near the clear ink */
        candidates += p->clutter == 2;
    }
    if (!candidates)
        return;
    /* A fragment reaching close to the clear ink is the digit's own: the bar
     * of a 5 or the stem of a 4 that runs off a tight crop, the rest of the
     * digit clear of the edges. */
    int reach = (int)lround(CLUTTER_REACH * rect_long_side(clear));
    rect near = {clear.x0 - reach, clear.y0 - reach, clear.x1 + reach, clear.y1 + reach};
    for (size_t r = 0; r < c->n_runs; r++) {
        const run *u = &c->runs[r];
        component *p = &c->comp[u->comp];
        if (p->clutter == 2 && u->y >= near.y0 &&
            u->y <= near.y1 && u->x1 >= near.x0 && u->x0 <= near.x1)
            p->clutter = 0;
    }
}

/* Decides comp[].keep: 2 = big (part of the digit), 1 = kept small piece.
 * Several big strokes are all kept (a "4" or "5" drawn in two strokes);
 * smaller pieces only when close to them, so far specks cannot stretch the
 * bounding box. *kept receives the box of all kept ink. */
static int select_components(components *c, int w, int h, arena *mem, rect *kept_out)
{
    mark_clutter(c, w, h);
    double largest = 0;
    for (size_t k = 1; k <= c->n_comp; k++)
        if (!c->comp[k].clutter && c->comp[k].mass > largest)
            largest = c->comp[k].mass;
    rect big = rect_empty();
    for (size_t k = 1; k <= c->n_comp; k++)
        if (!c->comp[k].clutter && c->comp[k].mass >= BIG_COMPONENT * largest) {
            c->comp[k].keep = 2;
            rect_union(&big, c->comp[k].box);
        }
    int medium_reach = (int)lround(MEDIUM_NEAR_FRACTION * rect_long_side(big));
    if (medium_reach < TINY_NEAR_PX)
        medium_reach = TINY_NEAR_PX;
    rect kept = big;
    int any_tiny = 0;
    for (size_t k = 1; k <= c->n_comp; k++) {
        component *p = &c->comp[k];
        if (p->keep || p->clutter)
            continue;
        if (p->mass >= MEDIUM_COMPONENT * largest) {
            if (rect_gap(p->box, big) <= medium_reach) {
                p->keep = 1;
                rect_union(&kept, p->box);
            }
        } else {
            any_tiny = 1;
        }
    }
    /* Tiny pieces are kept when any of their pixels nearly touches a big
     * component: checked against a mask of the big components' pixels. */
    if (any_tiny) {
        int pw = w + 2 * TINY_NEAR_PX, ph = h + 2 * TINY_NEAR_PX;
        uint8_t *bigmask = arena_zalloc(mem, (size_t)pw * (size_t)ph);
        if (!bigmask)
            return -1;
        for (size_t r = 0; r < c->n_runs; r++) {
            const run *u = &c->runs[r];
            if (c->comp[u->comp].keep == 2)
                memset(bigmask + (size_t)(u->y + TINY_NEAR_PX) * (size_t)pw +
                           (size_t)(u->x0 + TINY_NEAR_PX),
                       1, (size_t)(u->x1 - u->x0 + 1));
        }
        for (size_t r = 0; r < c->n_runs; r++) {
            const run *u = &c->runs[r];
            component *p = &c->comp[u->comp];
            if (p->keep || p->clutter || p->mass >= MEDIUM_COMPONENT * largest)
                continue;
            if (run_near_big(bigmask, pw, u)) {
                p->keep = 1;
                rect_union(&kept, p->box);
            }
        }
    }
    *kept_out = kept;
    return 0;
}

static size_t largest_component_pixels(const components *c)
{
    size_t best = 0;
    for (size_t k = 1; k <= c->n_comp; k++)
        if (c->comp[k].pixels > best)
            best = c->comp[k].pixels;
    return best;
}

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
static int faint_ink_is_strokes(const uint8_t *d, int w, int h, const components *c,
                                rect kept)
{
    size_t total = 0, largest = 0;
    for (size_t k = 1; k <= c->n_comp; k++) {
        if (c->comp[k].clutter)
            continue;
        total += c->comp[k].pixels;
        if (c->comp[k].pixels > largest)
            largest = c->comp[k].pixels;
    }
    if ((double)largest < FAINT_LARGEST_SHARE * (double)total)
        return 0;
    if (touches_edge(kept, w, h) ||
        rect_long_side(kept) < FAINT_MIN_SPAN * (w < h ? w : h))
        return 0;
    /* Kept ink stands clear of the edges, so every neighbour of a seed is
     * inside the picture. */
    const int o = FAINT_EDGE_PX;
    const size_t row = (size_t)w;
    uint64_t seed_sum = 0, out_sum = 0;
    size_t seed_n = 0, boundary_n = 0, out_n = 0;
    for (size_t r = 0; r < c->n_runs; r++) {
        const run *u = &c->runs[r];
        if (!c->comp[u->comp].keep)
            continue;
        for (int x = u->x0; x <= u->x1; x++) {
            size_t i = (size_t)u->y * row + (size_t)x;
            seed_sum += d[i];
            seed_n++;
            boundary_n += !c->seeds[i - 1] || !c->seeds[i + 1] || !c->seeds[i - row] ||
                          !c->seeds[i + row];
            const int probe[4][2] = {{x - o, u->y}, {x + o, u->y}, {x, u->y - o}, {x, u->y + o}};
            for (int k = 0; k < 4; k++) {
                int px = probe[k][0], py = probe[k][1];
                if (px < 0 || py < 0 || px >= w || py >= h)
                    continue;
                size_t j = (size_t)py * row + (size_t)px;
                if (!c->seeds[j]) {
                    out_sum += d[j];
                    out_n++;
                }
            }
        }
    }
    if (seed_n == 0 || out_n == 0 ||
        (double)boundary_n > FAINT_MAX_BOUNDARY_SHARE * (double)seed_n)
        return 0;
    return (double)out_sum / (double)out_n <=
           FAINT_MAX_EDGE_RATIO * (double)seed_sum / (double)seed_n;
}

/* ---- step 5: the intensity crop ---------------------------------------- */

/* A float image with its placement in source coordinates. */
typedef struct {
    int x0, y0;      /* source coordinates of pixel (0, 0) */
    int w, h;
    float *v;        /* 0..1 ink intensity */
    uint8_t *seed;   /* 1 where a kept seed pixel lies (NULL after deskewing) */
} crop;

/* A zeroed crop; seed only when with_seed. */
static int crop_alloc(crop *c, int x0, int y0, int w, int h, int with_seed, arena *mem)
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

/* Levels mapping contrast to intensity: at or below floor is paper, at or
 * above core is the full stroke, anti-aliased edges fall in between. */
typedef struct {
    double floor, core;
} ink_ramp;

/* floor: twice the median contrast of non-ink pixels, i.e. just above the
 * paper noise (zero for clean images such as MNIST, whose faint fringes are
 * then kept). core: the 90th percentile of the kept strokes, so a pencil's
 * uneven core still reaches full intensity. Non-ink pixels are exactly
 * those with d <= threshold, so their histogram is part of d's. */
static ink_ramp choose_ramp(const uint8_t *d, int w, const components *c,
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
    r.floor = 2.0 * hist_quantile(paper, n_paper, 0.5);
    if (r.floor > threshold / 2.0)
        r.floor = threshold / 2.0;
    r.core = hist_quantile(ink, n_ink, 0.90);
    if (r.core < r.floor + 1.0)
        r.core = r.floor + 1.0;
    return r;
}

/* The box of the pixels with ink (v > 0). Rows are ORed into per-column
 * flags, and each row into one flag, in loops without branches. */
static int crop_ink_box(const crop *cr, arena *mem, rect *box)
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

/* Chebyshev dilation of the seed mask by FRINGE_PX: columns, then rows,
 * each pass ORing shifted copies of the whole mask held between zero
 * padding, in loops that vectorise. A row shift reads into the neighbouring
 * row at the ends, which is harmless here: the crop keeps a FRINGE_PX
 * margin around every seed, so those pixels are never seeds. */
static int fringe_mask(const crop *cr, uint8_t *out, arena *mem)
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

/* Fills cr (already placed over the kept ink plus the fringe margin) with
 * intensities: seeds, and fringe pixels within FRINGE_PX (Chebyshev) of a
 * seed. Also returns what the stroke width needs: the sum of the
 * intensities in row-major order (zeros, which cannot change it, skipped)
 * and the box of the pixels with ink. */
static int fill_crop(crop *cr, const uint8_t *d, const components *c, int src_w, int src_h,
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

/* Number of 4-neighbour seed/non-seed edges, the crop's frame counting as
 * non-seed. Counted over the whole mask at once, as long byte loops that
 * vectorise: horizontal neighbours pair across row ends too, which the
 * frame term per row then corrects. */
static size_t seed_edges(const crop *cr)
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

/* Mean stroke width in pixels: twice the ink area over the outline length.
 * The outline is counted as 4-neighbour seed/non-seed edges, which over-
 * counts a curve's length by 4/pi on average, hence the correction. */
static double stroke_width(double area, size_t edges)
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

/* Widens every stroke by r pixels on each side with a round pen, anti-
 * aliased: a pixel's coverage falls from 1 to 0 over the pixel at distance
 * r + 0.5 beyond the seed outline. */
static int widen_strokes(crop *cr, double r, arena *mem)
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

static preprocess_status render(const crop *cr, rect box, uint8_t out[MNIST_PIXELS],
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

static preprocess_status deskew_crop(crop *cr, rect *box, float *skew_out, arena *mem)
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

/* ---- step 5b: a ring drawn round the digit ------------------------------ */

/* People circle an answer on a form. A ring clear of the digit is a
 * component of its own, which mark_frames drops; one that touches the
 * digit is one component with it, and the network then sees a 0 with
 * something inside. The ring is found as what lies outermost: on RING_RAYS
 * rays from the centre of the ink's box out to the ellipse inscribed in
 * that box, the outermost ink must lie near the ellipse (RING_OUTER_MIN of
 * its radius or beyond) on nearly every ray (RING_MIN_COVER: a ring drawn
 * round need not close), as a band thin next to the ellipse
 * (RING_MAX_THICK of its smaller radius) and of even width (RING_EVEN_SHARE
 * of those rays within RING_EVEN_WIDTH times its median). A digit's own
 * outline fails that, except a 0's. What the ring encloses must then be a
 * digit, not what a 0 holds: RING_INNER_SHARE of the ring's ink or more,
 * with a main piece (RING_BODY_SHARE of it) that spans RING_INNER_SPAN of
 * the ring's height, centred in it (RING_MAX_OFFSET: a 0's tail or the curl
 * at its join is not), not lying along the ring (RING_MAX_AGAINST: the
 * inner edge of a ring of uneven width, left standing), and broader across
 * its main axis than RING_INNER_BREADTH stroke widths: a straight stroke in
 * a ring is a slashed 0 as much as a circled 1 without its flag, and is
 * left as it is. Only on pictures of at least MIN_SIDE_FOR_MAP a side,
 * like the other clutter tests: a smaller one is a crop of the digit. */
#define RING_RAYS 120
#define RING_RAY_STRIDE 37
#define RING_MIN_SIDE 10          /* smaller radius, px: fewer leaves rays too coarse */
#define RING_OUTER_MIN 0.8
#define RING_MIN_COVER 0.85
#define RING_EVEN_WIDTH 1.6
#define RING_EVEN_SHARE 0.6
#define RING_NEAR_RAYS (RING_RAYS / 12)   /* either side: 30 degrees */
#define RING_OWN_WIDTH 1.6
#define RING_MAX_THICK 0.3
#define RING_INNER_SHARE 0.15
#define RING_INNER_SPAN 0.5
#define RING_MAX_OFFSET 0.25
#define FRAME_MAX_OFFSET 0.45
#define RING_INNER_BREADTH 3.5
#define RING_BODY_SHARE 0.5
#define RING_PIECE_SHARE 0.15
#define RING_MAX_AGAINST 0.25

#define RING_CUT UINT32_MAX

/* A ring or a frame found round the digit, and what it encloses. */
typedef struct {
    int is_frame;                 /* a box's four sides, not a ring */
    rect inside;                  /* a frame's inside: the box less its sides */
    rect outer;                   /* a frame's outside: the box with its sides */
    int has_outer;                /* 1 when ink sticks out past outer (frame_within) */
    double cx, cy, a, b;          /* the ellipse inscribed in the ink's box */
    double cut[RING_RAYS];        /* ink beyond this radius (of the ellipse's) is ring */
    uint32_t *piece;              /* per crop pixel: RING_CUT, a piece's label or 0 */
    uint32_t *piece_size;         /* by label */
    uint8_t *piece_on_cut;        /* by label: 1 when it touches what is cut */
    size_t min_piece;             /* smaller pieces on the cut are slivers of the ring */
} ring_fit;

static int crop_seed_at(const crop *cr, double x, double y)
{
    if (x < -0.5 || y < -0.5)
        return 0;
    int ix = (int)(x + 0.5), iy = (int)(y + 0.5);   /* rounds: both are >= 0 here */
    return ix < cr->w && iy < cr->h && cr->seed[(size_t)iy * (size_t)cr->w + (size_t)ix];
}

static int compare_doubles(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* The ray a pixel's centre lies on, and its radius as a share of the
 * ellipse's in that direction. */
static int ring_ray_of(const ring_fit *f, int x, int y, double *radius)
{
    double u = ((double)x - f->cx) / f->a, v = ((double)y - f->cy) / f->b;
    *radius = sqrt(u * u + v * v);
    double t = atan2(v, u);
    int k = (int)lround(t / (2.0 * PI) * RING_RAYS);
    return ((k % RING_RAYS) + RING_RAYS) % RING_RAYS;
}

/* 1 when pixel (x, y) lies in what is cut away: beyond the ring, or on a
 * frame's sides or outside them. */
static int beyond_cut(const ring_fit *f, int x, int y)
{
    if (f->is_frame) {
        int out = !rect_contains(f->inside, x, y);
        if (!out || !f->has_outer)
            return out;
        /* Past a frame found within the ink, what sticks out is the digit's,
         * but for the sides' own lines running on past the corners (a
         * hand-drawn box, a table's cell): the sides' bands, extended. */
        int side_rows = (y >= f->outer.y0 && y < f->inside.y0) ||
                        (y > f->inside.y1 && y <= f->outer.y1);
        int side_columns = (x >= f->outer.x0 && x < f->inside.x0) ||
                           (x > f->inside.x1 && x <= f->outer.x1);
        return rect_contains(f->outer, x, y) || side_rows || side_columns;
    }
    double r;
    int k = ring_ray_of(f, x, y, &r);
    return r > f->cut[k];
}

static int holds_a_digit(const crop *cr, rect box, double width, arena *mem, ring_fit *f);

/* The ellipse inscribed in box, which both searches measure against. */
static void fit_box(ring_fit *f, rect box, int is_frame)
{
    f->is_frame = is_frame;
    f->has_outer = 0;
    f->cx = (box.x0 + box.x1) / 2.0;
    f->cy = (box.y0 + box.y1) / 2.0;
    f->a = (box.x1 - box.x0 + 1) / 2.0;
    f->b = (box.y1 - box.y0 + 1) / 2.0;
}

/* 1 when the seeds inside box hold a ring round more ink (see above), with
 * *f set to where the ring lies; 0 when not; -1 when out of memory. */
RARELY_TAKEN static int find_ring(const crop *cr, rect box, arena *mem, ring_fit *f)
{
    fit_box(f, box, 0);
    if (f->a < RING_MIN_SIDE || f->b < RING_MIN_SIDE)
        return 0;
    double outer[RING_RAYS] = {0}, thick[RING_RAYS] = {0}, len[RING_RAYS] = {0};
    double sorted[RING_RAYS];
    int covered = 0, missed = 0;
    for (int i = 0; i < RING_RAYS; i++) {
        /* Rays taken all round from the first (a stride coprime to their
         * number), so that a shape open on one side is found out early. */
        int k = (i * RING_RAY_STRIDE) % RING_RAYS;
        double t = 2.0 * PI * k / RING_RAYS;
        double ex = f->a * cos(t), ey = f->b * sin(t);
        len[k] = sqrt(ex * ex + ey * ey);   /* px per unit of radius */
        double ds = 0.5 / len[k], s = 1.0 + 1.0 / len[k];
        f->cut[k] = 2.0;   /* no ring on this ray (yet) */
        outer[k] = thick[k] = 0;
        /* Most pictures hold no ring, and most of their rays find no ink
         * near the ellipse: those rays stop there, and the search as soon
         * as too many have. */
        while (s >= RING_OUTER_MIN && !crop_seed_at(cr, f->cx + s * ex, f->cy + s * ey))
            s -= ds;
        if (s < RING_OUTER_MIN) {
            if (++missed > RING_RAYS - RING_MIN_COVER * RING_RAYS)
                return 0;
            continue;
        }
        outer[k] = s;
        while (s > 0 && crop_seed_at(cr, f->cx + s * ex, f->cy + s * ey))
            s -= ds;
        thick[k] = (outer[k] - (s > 0 ? s : 0)) * len[k];
        sorted[covered++] = thick[k];
    }
    if (covered < RING_MIN_COVER * RING_RAYS)
        return 0;
    qsort(sorted, (size_t)covered, sizeof *sorted, compare_doubles);
    double width = sorted[covered / 2];
    if (width > RING_MAX_THICK * (f->a < f->b ? f->a : f->b))
        return 0;
    int even = 0;
    for (int k = 0; k < RING_RAYS; k++) {
        if (outer[k] < RING_OUTER_MIN)
            continue;
        even += thick[k] <= RING_EVEN_WIDTH * width;
        /* Where the digit runs into the ring the band is thicker: only the
         * ring's own width (and a pixel) goes. That width is the median of
         * the rays nearby, since a ray crosses a ring slantwise, and the
         * more so the flatter the ring, where it bends away from round. */
        double near[2 * RING_NEAR_RAYS + 1], thinnest = thick[k];
        int m = 0;
        for (int j = k - RING_NEAR_RAYS; j <= k + RING_NEAR_RAYS; j++) {
            int jj = (j + RING_RAYS) % RING_RAYS;
            if (outer[jj] >= RING_OUTER_MIN) {
                near[m++] = thick[jj];
                thinnest = thick[jj] < thinnest ? thick[jj] : thinnest;
            }
        }
        double band = thick[k];
        if (band > RING_OWN_WIDTH * thinnest) {   /* else under the median's limit too */
            qsort(near, (size_t)m, sizeof *near, compare_doubles);
            double own = RING_OWN_WIDTH * near[m / 2];
            band = band < own ? band : own;
        }
        f->cut[k] = outer[k] - (band + 1.0) / len[k];
    }
    if (even < RING_EVEN_SHARE * covered)
        return 0;
    return holds_a_digit(cr, box, width, mem, f);
}

/* Whether what the ring or frame f encloses is a digit (see the ring's
 * tests above), its lines being width px wide; fills in f's pieces. 1, 0,
 * or -1 when out of memory. */
static int holds_a_digit(const crop *cr, rect box, double width, arena *mem, ring_fit *f)
{
    /* What the ring encloses, piece by piece (8-connected): a digit is one
     * or two big pieces, while a ring of uneven width leaves slivers of
     * its inner edge against the cut, which must not pass for a digit. */
    size_t n = (size_t)cr->w * (size_t)cr->h, ring = 0, inner = 0;
    f->piece = arena_zalloc(mem, n * sizeof *f->piece);
    uint32_t *stack = arena_alloc(mem, n * sizeof *stack);
    if (!f->piece || !stack)
        return -1;
    for (int y = box.y0; y <= box.y1; y++)
        for (int x = box.x0; x <= box.x1; x++) {
            size_t i = (size_t)y * (size_t)cr->w + (size_t)x;
            if (!cr->seed[i])
                continue;
            if (beyond_cut(f, x, y)) {
                ring++;
                f->piece[i] = RING_CUT;
            } else {
                inner++;
            }
        }
    if (inner == 0 || (double)inner < RING_INNER_SHARE * (double)ring)
        return 0;
    /* Pieces get labels from 1; the largest is the digit's body. */
    uint32_t label = 0, body = 0;
    size_t best_size = 0;
    for (int y = box.y0; y <= box.y1; y++)
        for (int x = box.x0; x <= box.x1; x++) {
            size_t i = (size_t)y * (size_t)cr->w + (size_t)x;
            if (!cr->seed[i] || f->piece[i])
                continue;
            size_t top = 0, size = 0;
            f->piece[i] = ++label;
            stack[top++] = (uint32_t)i;
            while (top > 0) {
                size_t j = stack[--top];
                int jx = (int)(j % (size_t)cr->w), jy = (int)(j / (size_t)cr->w);
                size++;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int nx = jx + dx, ny = jy + dy;
                        if (nx < box.x0 || nx > box.x1 || ny < box.y0 || ny > box.y1)
                            continue;
                        size_t q = (size_t)ny * (size_t)cr->w + (size_t)nx;
                        if (cr->seed[q] && !f->piece[q]) {
                            f->piece[q] = label;
                            stack[top++] = (uint32_t)q;
                        }
                    }
            }
            if (size > best_size) {
                best_size = size;
                body = label;
            }
        }
    if ((double)best_size < RING_BODY_SHARE * (double)inner)
        return 0;
    /* Each piece's size and whether it lies against the cut, for the
     * slivers erase_ring takes with the ring. Counted now that the number
     * of pieces is known, which bounds these tables. */
    f->piece_size = arena_zalloc(mem, ((size_t)label + 1) * sizeof *f->piece_size);
    f->piece_on_cut = arena_zalloc(mem, (size_t)label + 1);
    if (!f->piece_size || !f->piece_on_cut)
        return -1;
    for (int y = box.y0; y <= box.y1; y++)
        for (int x = box.x0; x <= box.x1; x++) {
            uint32_t p = f->piece[(size_t)y * (size_t)cr->w + (size_t)x];
            if (p == 0 || p == RING_CUT)
                continue;
            f->piece_size[p]++;
            for (int dy = -1; dy <= 1 && !f->piece_on_cut[p]; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy;
                    if (nx >= box.x0 && nx <= box.x1 && ny >= box.y0 && ny <= box.y1 &&
                        f->piece[(size_t)ny * (size_t)cr->w + (size_t)nx] == RING_CUT)
                        f->piece_on_cut[p] = 1;
                }
        }
    /* The body's extent, its moments (for its breadth across its main
     * axis: for a single stroke, about its width), its own stroke width
     * (twice its area over its outline) and how much of it lies against
     * the ring (4-neighbours cut away), which for a ring's inner edge left
     * standing is all of it. */
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    rect in = rect_empty();
    size_t outline = 0, against = 0;
    for (int y = box.y0; y <= box.y1; y++)
        for (int x = box.x0; x <= box.x1; x++) {
            size_t i = (size_t)y * (size_t)cr->w + (size_t)x;
            if (f->piece[i] != body)
                continue;
            rect_add(&in, x, y);
            sx += x;
            sy += y;
            sxx += (double)x * x;
            syy += (double)y * y;
            sxy += (double)x * y;
            uint32_t nb[4] = {x > 0 ? f->piece[i - 1] : 0, x < cr->w - 1 ? f->piece[i + 1] : 0,
                              y > 0 ? f->piece[i - (size_t)cr->w] : 0,
                              y < cr->h - 1 ? f->piece[i + (size_t)cr->w] : 0};
            int touches = 0;
            for (int k = 0; k < 4; k++) {
                outline += nb[k] != body;
                touches |= nb[k] == RING_CUT;
            }
            against += (size_t)touches;
        }
    /* A digit in a form's box is often written off its centre; in a
     * ring, what is off the centre is a 0's tail or the curl at its join. */
    double max_offset = f->is_frame ? FRAME_MAX_OFFSET : RING_MAX_OFFSET;
    if (in.y1 - in.y0 + 1 < RING_INNER_SPAN * 2.0 * f->b ||
        fabs((in.x0 + in.x1) / 2.0 - f->cx) > max_offset * f->a ||
        fabs((in.y0 + in.y1) / 2.0 - f->cy) > max_offset * f->b)
        return 0;
    if ((double)against > RING_MAX_AGAINST * (double)best_size)
        return 0;
    double body_width = 2.0 * (double)best_size / (double)outline;
    double m = (double)best_size, mx = sx / m, my = sy / m;
    double cxx = sxx / m - mx * mx, cyy = syy / m - my * my, cxy = sxy / m - mx * my;
    double root = sqrt(((cxx - cyy) / 2.0) * ((cxx - cyy) / 2.0) + cxy * cxy);
    double minor = (cxx + cyy) / 2.0 - root;
    f->min_piece = (size_t)(RING_PIECE_SHARE * (double)best_size);
    /* Against the wider of the ring's and the body's own strokes. */
    double stroke = width > body_width ? width : body_width;
    return minor > 0 && sqrt(12.0 * minor) >= RING_INNER_BREADTH * stroke;
}

/* A box drawn or printed round the digit and touching it (a form's field
 * written to its edges) is one component with it, as a ring is. Its four
 * sides are the ink's outermost rows and columns, each inked along
 * FRAME_LINE_FILL of the box or more, and thin (FRAME_MAX_THICK of the
 * box's shorter side); what they enclose must then be a digit, as for a
 * ring. A digit's own bars fail it: a 7's top or a 2's foot is one side,
 * not four, and a 1 is all sides and nothing inside. A digit written
 * across a side sticks out of the box, whose sides are then the most
 * inked lines near the ink box's ends instead (frame_within); only the
 * box's lines go, and what sticks out stays with the digit. */
#define FRAME_LINE_FILL 0.85
#define FRAME_MAX_THICK 0.15
#define FRAME_SEARCH 0.25        /* of the ink's box, from each end */

/* Seeds on line `at` (a row, or with columns a column) of box, between
 * its ends. */
static int seeds_on_line(const crop *cr, rect box, int columns, int at)
{
    int n = 0;
    if (columns)
        for (int y = box.y0; y <= box.y1; y++)
            n += cr->seed[(size_t)y * (size_t)cr->w + (size_t)at] != 0;
    else
        for (int x = box.x0; x <= box.x1; x++)
            n += cr->seed[(size_t)at * (size_t)cr->w + (size_t)x] != 0;
    return n;
}

/* One side of a frame: rows (or with columns, columns) from one end of box
 * inwards, skipping those without seeds (the fringe), that are inked along
 * FRAME_LINE_FILL of the box. Returns how many lines from the box's edge
 * the side ends at, with *thick its own lines; 0 when the outermost seeded
 * line is not inked along the box, or the side is over limit thick. */
static int frame_side(const crop *cr, rect box, int columns, int from_end, int limit,
                      int *thick)
{
    int n_lines = columns ? box.x1 - box.x0 + 1 : box.y1 - box.y0 + 1;
    int len = columns ? box.y1 - box.y0 + 1 : box.x1 - box.x0 + 1;
    *thick = 0;
    for (int t = 0; t < n_lines; t++) {
        int line = from_end ? n_lines - 1 - t : t;
        int inked = seeds_on_line(cr, box, columns, (columns ? box.x0 : box.y0) + line);
        if (inked >= FRAME_LINE_FILL * len) {
            if (++*thick > limit)
                return 0;
        } else if (*thick > 0 || inked > 0) {
            return *thick > 0 ? t : 0;
        }
    }
    return 0;   /* inked throughout: a blob, not a frame */
}

/* A digit written across the side of its box sticks out of it, so the
 * box's sides are not the ink's outermost lines. They are then the most
 * inked lines within FRAME_SEARCH of each end of the ink's box, each
 * grown outwards over the lines as inked beside it; *frame receives the
 * box they make. 1 when all four are found, inked along FRAME_LINE_FILL
 * of that box (and of half the ink's box: the box holds the digit), and
 * it lies within the ink's box on some side. */
static int frame_within(const crop *cr, rect box, rect *frame)
{
    int line[4];
    for (int side = 0; side < 4; side++) {
        int columns = side >= 2, from_end = side & 1;
        int first = columns ? box.x0 : box.y0, last = columns ? box.x1 : box.y1;
        int reach = (int)(FRAME_SEARCH * (last - first + 1));
        int best = -1, most = -1;
        for (int k = 0; k <= reach; k++) {
            int at = from_end ? last - k : first + k;
            int n = seeds_on_line(cr, box, columns, at);
            if (n > most) {
                most = n;
                best = at;
            }
        }
        /* The box holds the digit: it spans half the ink's box or more
         * (most pictures, holding no box, stop here). */
        int across = columns ? box.y1 - box.y0 + 1 : box.x1 - box.x0 + 1;
        if (most < FRAME_LINE_FILL * across / 2)
            return 0;
        line[side] = best;
    }
    *frame = (rect){line[2], line[0], line[3], line[1]};
    if (frame->x1 - frame->x0 < 2 * RING_MIN_SIDE || frame->y1 - frame->y0 < 2 * RING_MIN_SIDE)
        return 0;
    int *edge[4] = {&frame->y0, &frame->y1, &frame->x0, &frame->x1};
    for (int side = 0; side < 4; side++) {
        int columns = side >= 2, step = side & 1 ? 1 : -1;
        int len = columns ? frame->y1 - frame->y0 + 1 : frame->x1 - frame->x0 + 1;
        if (seeds_on_line(cr, *frame, columns, *edge[side]) < FRAME_LINE_FILL * len)
            return 0;
        int limit = columns ? box.x1 : box.y1, start = columns ? box.x0 : box.y0;
        while (*edge[side] + step >= start && *edge[side] + step <= limit &&
               seeds_on_line(cr, *frame, columns, *edge[side] + step) >= FRAME_LINE_FILL * len)
            *edge[side] += step;
    }
    return frame->x0 > box.x0 || frame->y0 > box.y0 || frame->x1 < box.x1 || frame->y1 < box.y1;
}

/* 1 when the seeds inside box are a frame round a digit (see above), with
 * *f set to where its sides lie; 0 when not; -1 when out of memory. With
 * within, the frame is looked for inside box (frame_within), else as box's
 * outermost lines. */
RARELY_TAKEN static int find_frame(const crop *cr, rect box, int within, arena *mem,
                                   ring_fit *f)
{
    rect frame = box;
    if (within && !frame_within(cr, box, &frame))
        return 0;
    int w = frame.x1 - frame.x0 + 1, h = frame.y1 - frame.y0 + 1;
    if (w < 2 * RING_MIN_SIDE || h < 2 * RING_MIN_SIDE)
        return 0;
    int limit = (int)(FRAME_MAX_THICK * (w < h ? w : h));
    int t[4], end[4];
    for (int side = 0; side < 4; side++) {
        end[side] = frame_side(cr, frame, side >= 2, side & 1, limit, &t[side]);
        if (end[side] == 0)
            return 0;
    }
    fit_box(f, frame, 1);
    f->outer = frame;
    f->has_outer = within;
    /* A pixel more inwards takes the sides' anti-aliased inner edge. */
    f->inside = (rect){frame.x0 + end[2] + 1, frame.y0 + end[0] + 1, frame.x1 - end[3] - 1,
                       frame.y1 - end[1] - 1};
    if (f->inside.x1 <= f->inside.x0 || f->inside.y1 <= f->inside.y0)
        return 0;
    /* Within, the whole ink box is looked at, so that the sides' stubs past
     * the corners are cut too (see beyond_cut). */
    return holds_a_digit(cr, within ? box : frame, (t[0] + t[1] + t[2] + t[3]) / 4.0, mem, f);
}

/* Takes the ring or frame out of the crop: everything beyond the cut and
 * the slivers of it inside, then every fringe pixel left with no seed near
 * it. Recomputes the ink's area and box. The area is summed in row-major
 * order as fill_crop's exact sum is, so the stroke width computed from it
 * is the one fill_crop would give for the same intensities. */
RARELY_TAKEN static int erase_ring(crop *cr, const ring_fit *f, arena *mem, double *area,
                                   rect *box)
{
    for (int y = 0; y < cr->h; y++)
        for (int x = 0; x < cr->w; x++) {
            size_t i = (size_t)y * (size_t)cr->w + (size_t)x;
            if (cr->v[i] == 0.0f && !cr->seed[i])
                continue;   /* paper: nothing to take (and no ray to find) */
            uint32_t p = f->piece[i];
            /* What sticks out of a frame found within the ink is the
             * digit's, however small. */
            int past = f->is_frame && f->has_outer && !rect_contains(f->outer, x, y);
            int sliver = p == RING_CUT || (p != 0 && !past && f->piece_on_cut[p] &&
                                           f->piece_size[p] < f->min_piece);
            if (sliver || (!cr->seed[i] && beyond_cut(f, x, y))) {
                cr->seed[i] = 0;
                cr->v[i] = 0.0f;
            }
        }
    uint8_t *near = arena_alloc(mem, (size_t)cr->w * (size_t)cr->h);
    if (!near || fringe_mask(cr, near, mem) != 0)
        return -1;
    double sum = 0;
    for (size_t i = 0; i < (size_t)cr->w * (size_t)cr->h; i++) {
        if (!near[i])
            cr->v[i] = 0.0f;
        sum += cr->v[i];
    }
    *area = sum;
    return crop_ink_box(cr, mem, box);
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
        histogram(v, n, dhist);
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
    histogram(v, n, vhist);
    /* A photo of a sheet on a darker desk, or a scan with black margins,
     * has a border that is not the paper. The paper is most of the picture
     * (ink rarely covers a fifth of it), so a light median over a border
     * that is not clearly light is the paper, if it holds dark strokes (a
     * fat light digit need not). Not in a small picture, which is a crop of
     * the digit (MNIST's size). */
    int map_sized = w >= MIN_SIDE_FOR_MAP && h >= MIN_SIDE_FOR_MAP;
    int median = hist_quantile(vhist, n, 0.5);
    if (paper < LIGHT_PAPER && map_sized && median >= LIGHT_PAPER &&
        encloses_strokes(v, 0, w, h, LIGHT_PAPER, 1, &scratch, mem))
        paper = median;
    info->inverted = ink_is_dark(v, w, h, vhist, paper, border, &scratch, mem);
    /* A smaller sheet, under half the picture: only where the ink would
     * otherwise be light, and then the sheet is the paper. */
    if (!info->inverted && map_sized && median < LIGHT_PAPER) {
        int sheet = hist_quantile(vhist, n, 1.0 - SHEET_MIN_SHARE);
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
    return render(&cr, box, out, mem);
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
