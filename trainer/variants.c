/* variants.c -- "digits-trainer variants": MNIST test digits drawn the way
 * users send digits, as a labelled PNG set.
 *
 * The real-handwriting set (../shared/realdigits) says how the service does
 * on other people's handwriting; this set isolates *presentation*: the same
 * MNIST digits the model scores over 99% on, but dark-on-light, thin or fat,
 * small and off-centre, on a transparent canvas, in colour, under uneven
 * light with noise and ruled lines, or as chalk. A drop from MNIST accuracy
 * to a style's accuracy is then the preprocessing's fault, not the
 * handwriting's. Only t10k (test) digits are used, so a model trained on
 * MNIST's training set has never seen any of them.
 *
 * Every style writes a different PNG layout (grey 8/16-bit, grey+alpha, RGB
 * 8/16-bit, Adam7, RGBA, 4-bit palette), so the set doubles as a decoder
 * workout. The PNGs are written here with libpng directly because
 * png_io's encoder deliberately only knows the three 8-bit layouts the
 * service itself produces.
 *
 * Randomness: each image gets its own RNG seeded from (seed, style, index),
 * so images do not depend on how many were asked for, and the same seed
 * gives byte-identical files.
 */
#include "variants.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "flags.h"
#include "image.h"
#include "png_io.h"
#include "predict.h"
#include "rng.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

#define SIDE 28
#define MAX_PATH 4096

static const char usage_variants[] =
    "usage: digits-trainer variants --out DIR [--data DIR] [--count N] [--seed S]\n"
    "\n"
    "Draws MNIST *test* digits the way users send them and writes them as PNGs,\n"
    "with DIR/labels.csv (file,label,source,t10k_index) for 'predict --labels'.\n"
    "DIR/mnist/ holds the same digits as MNIST has them (28x28 grey, same file\n"
    "names, its own labels.csv): each style's baseline.\n"
    "Styles (the source column): ink-on-paper, thin-pen, thick-marker, off-centre,\n"
    "canvas-rgba, coloured-ink, paper-photo, chalkboard, notebook-page,\n"
    "photo-edges.\n"
    "\n"
    "  --out DIR           where to write (created if needed)\n"
    "  --data DIR          MNIST IDX files; only t10k-* are read (default data/mnist)\n"
    "  --count N           images per style, 1..10000 (default 200)\n"
    "  --seed S            seed for the digits chosen and every random choice\n"
    "                      (default 1); the same seed gives the same files\n";

/* ---- ink maps: single-channel coverage, 0 = none, 1 = full ink ----------- */

typedef struct {
    int w, h;
    double *v;
} inkmap;

static int ink_alloc(inkmap *m, int w, int h)
{
    m->w = w;
    m->h = h;
    m->v = calloc((size_t)w * (size_t)h, sizeof *m->v);
    return m->v ? 0 : -1;
}

static void ink_free(inkmap *m)
{
    free(m->v);
    m->v = NULL;
}

static double ink_at(const inkmap *m, int x, int y)
{
    if (x < 0 || y < 0 || x >= m->w || y >= m->h)
        return 0.0;
    return m->v[(size_t)y * (size_t)m->w + (size_t)x];
}

static double clampf(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Rounds to a multiple of 2^-24. Whether the compiler fuses a * b + c into
 * one FMA changes results in the last bit; snapping every value that is
 * later compared with a threshold or quantised makes the PNGs the same
 * bytes from gcc and clang, -O1 and -O3, not only from one binary. */
static double snap(double v)
{
    return ldexp(nearbyint(ldexp(v, 24)), -24);
}

/* Uniform in [lo, hi). */
static double uniform(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_uniform(r);
}

/* Uniform integer in [lo, hi]. */
static int between(rng *r, int lo, int hi)
{
    return lo + (int)rng_below(r, (uint32_t)(hi - lo + 1));
}

/* Maps the source rectangle [x0, x0 + sw) x [y0, y0 + sh) (pixel edges) onto
 * a dw x dh map by bilinear interpolation, with no ink outside the source.
 * Only ever used to enlarge, where bilinear is what a photo or a canvas
 * scaling gives anyway. */
static int ink_resize(const inkmap *src, double x0, double y0, double sw, double sh, int dw,
                      int dh, inkmap *dst)
{
    if (ink_alloc(dst, dw, dh) != 0)
        return -1;
    for (int y = 0; y < dh; y++) {
        double v = y0 + (y + 0.5) * sh / dh - 0.5;
        int iy = (int)floor(v);
        double fy = (double)(v - iy);
        for (int x = 0; x < dw; x++) {
            double u = x0 + (x + 0.5) * sw / dw - 0.5;
            int ix = (int)floor(u);
            double fx = (double)(u - ix);
            double top = (1 - fx) * ink_at(src, ix, iy) + fx * ink_at(src, ix + 1, iy);
            double bot = (1 - fx) * ink_at(src, ix, iy + 1) + fx * ink_at(src, ix + 1, iy + 1);
            dst->v[(size_t)y * (size_t)dw + (size_t)x] = snap((1 - fy) * top + fy * bot);
        }
    }
    return 0;
}

static void ink_threshold(inkmap *m, double t)
{
    size_t n = (size_t)m->w * (size_t)m->h;
    for (size_t i = 0; i < n; i++)
        m->v[i] = m->v[i] >= t ? 1.0 : 0.0;
}

/* Grey-level dilation (max) or erosion (min) over a disc of radius r: what a
 * fatter or thinner round pen would have drawn along the same path. */
static int ink_morph(const inkmap *src, int r, int dilate, inkmap *dst)
{
    if (ink_alloc(dst, src->w, src->h) != 0)
        return -1;
    for (int y = 0; y < src->h; y++)
        for (int x = 0; x < src->w; x++) {
            double best = dilate ? 0.0 : 1.0;
            for (int dy = -r; dy <= r; dy++)
                for (int dx = -r; dx <= r; dx++) {
                    if (dx * dx + dy * dy > r * r + r)   /* +r: a rounder small disc */
                        continue;
                    double v = ink_at(src, x + dx, y + dy);
                    best = dilate ? (v > best ? v : best) : (v < best ? v : best);
                }
            dst->v[(size_t)y * (size_t)src->w + (size_t)x] = best;
        }
    return 0;
}

/* A [1 2 1] blur in each direction: thresholded strokes get the one-pixel
 * anti-aliased edge every real drawing program or scanner gives them. */
static int ink_soften(inkmap *m)
{
    size_t n = (size_t)m->w * (size_t)m->h;
    double *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return -1;
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++)
            tmp[(size_t)y * (size_t)m->w + (size_t)x] =
                0.25 * ink_at(m, x - 1, y) + 0.5 * ink_at(m, x, y) + 0.25 * ink_at(m, x + 1, y);
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++) {
            double up = y > 0 ? tmp[(size_t)(y - 1) * (size_t)m->w + (size_t)x] : 0.0;
            double down = y + 1 < m->h ? tmp[(size_t)(y + 1) * (size_t)m->w + (size_t)x] : 0.0;
            m->v[(size_t)y * (size_t)m->w + (size_t)x] =
                0.25 * up + 0.5 * tmp[(size_t)y * (size_t)m->w + (size_t)x] + 0.25 * down;
        }
    free(tmp);
    return 0;
}

/* The bounding box of every pixel with any ink. Returns -1 for a blank map. */
static int ink_bbox(const inkmap *m, int *x0, int *y0, int *x1, int *y1)
{
    *x0 = m->w;
    *y0 = m->h;
    *x1 = *y1 = -1;
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++)
            if (m->v[(size_t)y * (size_t)m->w + (size_t)x] > 0.0) {
                if (x < *x0) *x0 = x;
                if (y < *y0) *y0 = y;
                if (x > *x1) *x1 = x;
                if (y > *y1) *y1 = y;
            }
    return *x1 < 0 ? -1 : 0;
}

/* The digit's ink box scaled so its longest side is `side` pixels, aspect
 * kept: how a user draws a digit of a given size. */
static int ink_scaled_digit(const inkmap *digit, int side, inkmap *out)
{
    int x0, y0, x1, y1;
    if (ink_bbox(digit, &x0, &y0, &x1, &y1) != 0)
        return -1;
    int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    int longest = bw > bh ? bw : bh;
    double s = (double)side / longest;
    int dw = (int)lround(bw * s), dh = (int)lround(bh * s);
    dw = dw < 1 ? 1 : dw;
    dh = dh < 1 ? 1 : dh;
    return ink_resize(digit, x0, y0, bw, bh, dw, dh, out);
}

/* Copies src into a w x h map at (ox, oy). */
static int ink_place(const inkmap *src, int w, int h, int ox, int oy, inkmap *dst)
{
    if (ink_alloc(dst, w, h) != 0)
        return -1;
    for (int y = 0; y < src->h; y++)
        for (int x = 0; x < src->w; x++) {
            int tx = x + ox, ty = y + oy;
            if (tx >= 0 && ty >= 0 && tx < w && ty < h)
                dst->v[(size_t)ty * (size_t)w + (size_t)tx] =
                    src->v[(size_t)y * (size_t)src->w + (size_t)x];
        }
    return 0;
}

/* ---- canvases: straight-alpha RGBA in 0..1 ------------------------------- */

typedef struct {
    int w, h;
    double *px;     /* w * h * 4 */
} canvas;

static int canvas_alloc(canvas *c, int w, int h)
{
    c->w = w;
    c->h = h;
    c->px = calloc((size_t)w * (size_t)h * 4, sizeof *c->px);
    return c->px ? 0 : -1;
}

static void canvas_free(canvas *c)
{
    free(c->px);
    c->px = NULL;
}

/* Opaque paper with ink laid over it by coverage. */
static int canvas_paint(canvas *c, const inkmap *ink, const double paper[3], const double pen[3])
{
    if (canvas_alloc(c, ink->w, ink->h) != 0)
        return -1;
    size_t n = (size_t)ink->w * (size_t)ink->h;
    for (size_t i = 0; i < n; i++) {
        double a = clampf(ink->v[i], 0.0, 1.0);
        for (int k = 0; k < 3; k++)
            c->px[i * 4 + (size_t)k] = paper[k] * (1 - a) + pen[k] * a;
        c->px[i * 4 + 3] = 1.0;
    }
    return 0;
}

/* Sensor noise: one normal draw of the given sigma per pixel, the same on
 * all three channels (grey grain, not colour speckle). */
static void add_grey_noise(canvas *c, double sigma, rng *r)
{
    for (size_t i = 0; i < (size_t)c->w * (size_t)c->h; i++) {
        double g = sigma * rng_normal(r);
        for (int k = 0; k < 3; k++)
            c->px[i * 4 + (size_t)k] += g;
    }
}

/* ---- PNG layouts --------------------------------------------------------- */

typedef enum {
    FMT_GRAY8,
    FMT_GRAY16,
    FMT_GRAY_ALPHA8,
    FMT_RGB8,
    FMT_RGB8_ADAM7,
    FMT_RGB16,
    FMT_RGBA8,
    FMT_PALETTE4,
} png_layout;

static int layout_color_type(png_layout f)
{
    switch (f) {
    case FMT_GRAY8: case FMT_GRAY16: return PNG_COLOR_TYPE_GRAY;
    case FMT_GRAY_ALPHA8: return PNG_COLOR_TYPE_GRAY_ALPHA;
    case FMT_RGB8: case FMT_RGB8_ADAM7: case FMT_RGB16: return PNG_COLOR_TYPE_RGB;
    case FMT_RGBA8: return PNG_COLOR_TYPE_RGBA;
    case FMT_PALETTE4: return PNG_COLOR_TYPE_PALETTE;
    }
    return PNG_COLOR_TYPE_GRAY;
}

static int layout_bit_depth(png_layout f)
{
    return f == FMT_GRAY16 || f == FMT_RGB16 ? 16 : (f == FMT_PALETTE4 ? 4 : 8);
}

static size_t layout_row_bytes(png_layout f, int w)
{
    size_t n = (size_t)w;
    switch (f) {
    case FMT_GRAY8: return n;
    case FMT_GRAY16: case FMT_GRAY_ALPHA8: return 2 * n;
    case FMT_RGB8: case FMT_RGB8_ADAM7: return 3 * n;
    case FMT_RGB16: return 6 * n;
    case FMT_RGBA8: return 4 * n;
    case FMT_PALETTE4: return (n + 1) / 2;
    }
    return 4 * n;
}

/* snap() first: v * 255 of a multiple of 2^-24 is exact, so the rounding
 * does not depend on how v was computed. */
static unsigned q8(double v)
{
    return (unsigned)lround(clampf(snap(v), 0.0, 1.0) * 255.0);
}

static unsigned q16(double v)
{
    return (unsigned)lround(clampf(snap(v), 0.0, 1.0) * 65535.0);
}

static double luma(const double *p)
{
    return snap(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
}

/* The canvas as PNG scanlines (big-endian 16-bit samples, 4-bit palette
 * indices packed high nibble first). */
static void pack_rows(const canvas *c, png_layout f, uint8_t *rows, size_t row_bytes)
{
    for (int y = 0; y < c->h; y++) {
        uint8_t *out = rows + (size_t)y * row_bytes;
        memset(out, 0, row_bytes);
        for (int x = 0; x < c->w; x++) {
            const double *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 4;
            size_t i = (size_t)x;
            switch (f) {
            case FMT_GRAY8:
                out[i] = (uint8_t)q8(luma(p));
                break;
            case FMT_GRAY16: {
                unsigned v = q16(luma(p));
                out[2 * i] = (uint8_t)(v >> 8);
                out[2 * i + 1] = (uint8_t)v;
                break;
            }
            case FMT_GRAY_ALPHA8:
                out[2 * i] = (uint8_t)q8(luma(p));
                out[2 * i + 1] = (uint8_t)q8(p[3]);
                break;
            case FMT_RGB8:
            case FMT_RGB8_ADAM7:
                for (int k = 0; k < 3; k++)
                    out[3 * i + (size_t)k] = (uint8_t)q8(p[k]);
                break;
            case FMT_RGB16:
                for (int k = 0; k < 3; k++) {
                    unsigned v = q16(p[k]);
                    out[6 * i + 2 * (size_t)k] = (uint8_t)(v >> 8);
                    out[6 * i + 2 * (size_t)k + 1] = (uint8_t)v;
                }
                break;
            case FMT_RGBA8:
                for (int k = 0; k < 4; k++)
                    out[4 * i + (size_t)k] = (uint8_t)q8(p[k]);
                break;
            case FMT_PALETTE4: {
                unsigned idx = (unsigned)lround(clampf(luma(p), 0.0, 1.0) * 15.0);
                out[i / 2] |= (uint8_t)(i % 2 ? idx : idx << 4);
                break;
            }
            }
        }
    }
}

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    uint8_t *rows;           /* packed scanlines */
    png_bytep *row_ptrs;
    char message[160];
} encode_job;

static void encode_error(png_structp png, png_const_charp msg)
{
    encode_job *job = png_get_error_ptr(png);
    snprintf(job->message, sizeof job->message, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void encode_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void encode_write(png_structp png, png_bytep data, size_t n)
{
    encode_job *job = png_get_io_ptr(png);
    if (n > SIZE_MAX / 2 - job->len)
        png_error(png, "encoded PNG too large");
    if (job->len + n > job->cap) {
        size_t cap = job->cap ? job->cap : 8192;
        while (cap < job->len + n)
            cap *= 2;
        uint8_t *grown = realloc(job->buf, cap);
        if (!grown)
            png_error(png, "out of memory");
        job->buf = grown;
        job->cap = cap;
    }
    memcpy(job->buf + job->len, data, n);
    job->len += n;
}

static void encode_flush(png_structp png)
{
    (void)png;
}

/* The only function that calls setjmp; everything allocated hangs off job,
 * so nothing is lost when libpng longjmps back here. */
static int encode_with(png_structp png, png_infop info, encode_job *job, int w, int h,
                       png_layout f)
{
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_set_write_fn(png, job, encode_write, encode_flush);
    int interlace = f == FMT_RGB8_ADAM7 ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE;
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, layout_bit_depth(f),
                 layout_color_type(f), interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (f == FMT_PALETTE4) {
        png_color palette[16];
        for (int i = 0; i < 16; i++)
            palette[i].red = palette[i].green = palette[i].blue = (png_byte)(i * 17);
        png_set_PLTE(png, info, palette, 16);
    }
    /* The set is rewritten for every test run and never shipped: zlib's
     * fastest level writes it a third faster than the default, with the
     * same pixels. */
    png_set_compression_level(png, 1);
    png_write_info(png, info);
    png_write_image(png, job->row_ptrs);   /* runs the Adam7 passes itself */
    png_write_end(png, info);
    return 0;
}

static int encode_canvas(const canvas *c, png_layout f, uint8_t **png_out, size_t *len_out,
                         char *err, size_t err_len)
{
    encode_job job;
    memset(&job, 0, sizeof job);
    size_t row_bytes = layout_row_bytes(f, c->w);
    job.rows = malloc(row_bytes * (size_t)c->h);
    job.row_ptrs = malloc((size_t)c->h * sizeof *job.row_ptrs);
    png_structp png = NULL;
    png_infop info = NULL;
    int rc = -1;
    if (!job.rows || !job.row_ptrs) {
        snprintf(err, err_len, "out of memory");
        goto done;
    }
    pack_rows(c, f, job.rows, row_bytes);
    for (int y = 0; y < c->h; y++)
        job.row_ptrs[y] = job.rows + (size_t)y * row_bytes;
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, encode_error, encode_warning);
    info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        snprintf(err, err_len, "cannot create a libpng writer");
        goto done;
    }
    if (encode_with(png, info, &job, c->w, c->h, f) != 0) {
        snprintf(err, err_len, "PNG encoding failed: %s", job.message);
        goto done;
    }
    *png_out = job.buf;
    *len_out = job.len;
    job.buf = NULL;
    rc = 0;
done:
    if (png)
        png_destroy_write_struct(&png, info ? &info : NULL);
    free(job.buf);
    free(job.rows);
    free(job.row_ptrs);
    return rc;
}

/* ---- the styles ---------------------------------------------------------- */

/* Each style turns the 28x28 digit into a canvas and picks its PNG layout.
 * Returns 0 or -1 (out of memory, or a digit with no ink at all). */
typedef int (*style_fn)(const inkmap *digit, rng *r, canvas *out, png_layout *fmt);

static void grey3(double v, double out[3])
{
    out[0] = out[1] = out[2] = v;
}

/* A scan of a pencil or ballpoint digit: the MNIST frame enlarged. */
static int style_ink_on_paper(const inkmap *digit, rng *r, canvas *out, png_layout *fmt)
{
    int side = between(r, 84, 196);
    double paper[3], pen[3];
    grey3(uniform(r, 0.90, 1.0), paper);
    grey3(uniform(r, 0.0, 0.25), pen);
    inkmap big;
    if (ink_resize(digit, 0, 0, SIDE, SIDE, side, side, &big) != 0)
        return -1;
    int rc = canvas_paint(out, &big, paper, pen);
    ink_free(&big);
    *fmt = FMT_GRAY8;
    return rc;
}

/* MNIST at 4x, binarised: the stroke is then what it was at 28 px times 4. */
static int binarised_4x(const inkmap *digit, double threshold, int pad, inkmap *out)
{
    inkmap big;
    if (ink_resize(digit, 0, 0, SIDE, SIDE, 4 * SIDE, 4 * SIDE, &big) != 0)
        return -1;
    ink_threshold(&big, threshold);
    int rc = ink_place(&big, big.w + 2 * pad, big.h + 2 * pad, pad, pad, out);
    ink_free(&big);
    return rc;
}

/* Zhang-Suen thinning of a 0/1 map: strokes are peeled one pixel at a time
 * from alternate sides, never removing a pixel that joins two parts of a
 * stroke or ends one, until every stroke is one pixel wide -- the path the
 * pen took, still connected wherever the strokes were. (Its one known loss:
 * a speck of 2x2 pixels or a 2-pixel-thick diagonal dash vanishes whole,
 * which at 4x is a dot under a pixel of MNIST's.) */
static int ink_skeleton(inkmap *m)
{
    size_t n = (size_t)m->w * (size_t)m->h;
    unsigned char *doomed = malloc(n);
    if (!doomed)
        return -1;
    int changed;
    do {
        changed = 0;
        for (int pass = 0; pass < 2; pass++) {
            memset(doomed, 0, n);
            for (int y = 0; y < m->h; y++)
                for (int x = 0; x < m->w; x++) {
                    if (ink_at(m, x, y) == 0.0)
                        continue;
                    /* The 8 neighbours clockwise from north. */
                    int p[8] = {ink_at(m, x, y - 1) != 0.0,     ink_at(m, x + 1, y - 1) != 0.0,
                                ink_at(m, x + 1, y) != 0.0,     ink_at(m, x + 1, y + 1) != 0.0,
                                ink_at(m, x, y + 1) != 0.0,     ink_at(m, x - 1, y + 1) != 0.0,
                                ink_at(m, x - 1, y) != 0.0,     ink_at(m, x - 1, y - 1) != 0.0};
                    int inked = 0, rises = 0;
                    for (int k = 0; k < 8; k++) {
                        inked += p[k];
                        rises += !p[k] && p[(k + 1) % 8];
                    }
                    if (inked < 2 || inked > 6 || rises != 1)
                        continue;   /* an end, an inner pixel, or a joint */
                    int north = p[0], east = p[2], south = p[4], west = p[6];
                    int keep = pass == 0 ? (north && east && south) || (east && south && west)
                                         : (north && east && west) || (north && south && west);
                    if (keep)
                        continue;   /* not on the side this pass peels */
                    doomed[(size_t)y * (size_t)m->w + (size_t)x] = 1;
                }
            for (size_t i = 0; i < n; i++)
                if (doomed[i]) {
                    m->v[i] = 0.0;
                    changed = 1;
                }
        }
    } while (changed);
    free(doomed);
    return 0;
}

/* The pen's path at 4x: the digit's skeleton where it has at least FAINT_INK
 * (0.3) ink. MNIST's pen was faint in places, and a stroke too faint for a
 * 50% threshold is still a stroke the writer drew: a thin or a fat pen
 * would draw it in full. */
#define FAINT_INK 0.3

static int pen_path_4x(const inkmap *digit, int pad, inkmap *path)
{
    if (binarised_4x(digit, FAINT_INK, pad, path) != 0)
        return -1;
    if (ink_skeleton(path) != 0) {
        ink_free(path);
        return -1;
    }
    return 0;
}

static void ink_max_into(inkmap *dst, const inkmap *src)
{
    size_t n = (size_t)dst->w * (size_t)dst->h;
    for (size_t i = 0; i < n; i++)
        dst->v[i] = dst->v[i] > src->v[i] ? dst->v[i] : src->v[i];
}

/* A fine-liner: strokes one MNIST pixel thinner than the writer's (1-2 px
 * where MNIST's are 2-3), never under 0.75 px. Erosion by 2 px at 4x thins
 * them as a finer pen drawing the same path would, and keeps loops MNIST's
 * writer filled in; where a stroke was too faint or narrow to survive it,
 * the pen's path drawn 3 px wide carries on, because a real thin pen draws
 * connected lines. */
static int style_thin_pen(const inkmap *digit, rng *r, canvas *out, png_layout *fmt)
{
    inkmap bin, thin, path, trace;
    if (binarised_4x(digit, 0.5, 0, &bin) != 0)
        return -1;
    int rc = ink_morph(&bin, 2, 0, &thin);
    ink_free(&bin);
    if (rc != 0)
        return -1;
    if (pen_path_4x(digit, 0, &path) != 0) {
        ink_free(&thin);
        return -1;
    }
    rc = ink_morph(&path, 1, 1, &trace);
    ink_free(&path);
    if (rc != 0) {
        ink_free(&thin);
        return -1;
    }
    ink_max_into(&thin, &trace);
    ink_free(&trace);
    if (ink_soften(&thin) != 0) {
        ink_free(&thin);
        return -1;
    }
    double paper[3], pen[3];
    grey3(uniform(r, 0.92, 1.0), paper);
    grey3(uniform(r, 0.0, 0.2), pen);
    rc = canvas_paint(out, &thin, paper, pen);
    ink_free(&thin);
    *fmt = FMT_RGB8;
    return rc;
}

/* A felt marker: the digit's strokes, and its pen path where they were
 * faint, dilated by 3-5 px at 4x, i.e. 0.75-1.25 MNIST px on each side
 * (1.5-2.5 px wider), on a canvas grown so the fat strokes never touch the
 * edge. */
static int style_thick_marker(const inkmap *digit, rng *r, canvas *out, png_layout *fmt)
{
    int radius = between(r, 3, 5);
    inkmap bin, path, fat;
    if (binarised_4x(digit, 0.5, 8, &bin) != 0)
        return -1;
    if (pen_path_4x(digit, 8, &path) != 0) {
        ink_free(&bin);
        return -1;
    }
    ink_max_into(&bin, &path);
    ink_free(&path);
    int rc = ink_morph(&bin, radius, 1, &fat);
    ink_free(&bin);
    if (rc != 0)
        return -1;
    if (ink_soften(&fat) != 0) {
        ink_free(&fat);
        return -1;
    }
    double paper[3], pen[3];
    grey3(uniform(r, 0.90, 1.0), paper);
    grey3(uniform(r, 0.0, 0.15), pen);
    rc = canvas_paint(out, &fat, paper, pen);
    ink_free(&fat);
    *fmt = FMT_GRAY16;
    return rc;
}

/* A small digit somewhere on a big page: finding and centring it is the
 * preprocessing's job; MNIST digits are always already centred. */
static int style_off_centre(const inkmap *digit, rng *r, canvas *out, png_layout *fmt)
{
    const int page = 300, margin = 4;
    int side = between(r, 50, 90);
    inkmap small, placed;
    if (ink_scaled_digit(digit, side, &small) != 0)
        return -1;
    int ox = between(r, margin, page - margin - small.w);
    int oy = between(r, margin, page - margin - small.h);
    int rc = ink_place(&small, page, page, ox, oy, &placed);
    ink_free(&small);
    if (rc != 0)
        return -1;
    double paper[3], pen[3];
    grey3(uniform(r, 0.93, 1.0), paper);
    grey3(uniform(r, 0.0, 0.2), pen);
    rc = canvas_paint(out, &placed, paper, pen);
    ink_free(&placed);
    *fmt = FMT_PALETTE4;
    return rc;
}

/* An HTML canvas export: untouched pixels are transparent black (0,0,0,0)
 * and the ink is black with coverage in alpha, so a loader that drops alpha
 * sees nothing but black. */
static int style_canvas_rgba(const inkmap *digit, rng *r, canvas *out, png_layout *fmt)
{
    const int page = 280, margin = 20;
    int side = between(r, 150, 200);
    inkmap small;
    if (ink_scaled_digit(digit, side, &small) != 0)
        return -1;
    int ox = between(r, margin, page - margin - small.w);
    int oy = between(r, margin, page - margin - small.h);
    if (canvas_alloc(out, page, page) != 0) {
        ink_free(&small);
        return -1;
    }
    for (int y = 0; y < small.h; y++)
        for (int x = 0; x < small.w; x++) {
            double a = clampf(small.v[(size_t)y * (size_t)small.w + (size_t)x], 0.0, 1.0);
            out->px[((size_t)(y + oy) * (size_t)page + (size_t)(x + ox)) * 4 + 3] = a;
        }
    ink_free(&small);
    *fmt = FMT_RGBA8;
    return 0;
}

/* Blue or red ballpoint on off-white or cream paper. */
static int style_coloured_ink(const inkmap *digit, rng *r, canvas *out, png_layout *fmt)
{
    int side = between(r, 100, 200);
    double paper[3], pen[3];
    if (rng_below(r, 2)) {   /* cream */
        paper[0] = uniform(r, 0.97, 1.0);
        paper[1] = uniform(r, 0.92, 0.96);
        paper[2] = uniform(r, 0.78, 0.88);
    } else {                 /* off-white */
        grey3(uniform(r, 0.93, 0.98), paper);
        paper[2] -= uniform(r, 0.0, 0.03);
    }
    if (rng_below(r, 2)) {   /* blue */
        pen[0] = uniform(r, 0.05, 0.20);
        pen[1] = uniform(r, 0.10, 0.30);
        pen[2] = uniform(r, 0.55, 0.80);
    } else {                 /* red */
        pen[0] = uniform(r, 0.70, 0.85);
        pen[1] = uniform(r, 0.05, 0.20);
        pen[2] = uniform(r, 0.05, 0.20);
    }
    inkmap big;
    if (ink_resize(digit, 0, 0, SIDE, SIDE, side, side, &big) != 0)
        return -1;
    int rc = canvas_paint(out, &big, paper, pen);
    ink_free(&big);
    *fmt = FMT_RGB16;
    return rc;
}

/* A phone photo of a note: ruled lines under the ink, light falling off
 * 30-40% towards one side, sensor noise. */
static int style_paper_photo(const inkmap *digit, rng *r, canvas *out, png_layout *fmt)
{
    int side = between(r, 160, 256);
    double paper[3], pen[3];
    grey3(uniform(r, 0.80, 0.92), paper);
    grey3(uniform(r, 0.08, 0.25), pen);
    inkmap big;
    if (ink_resize(digit, 0, 0, SIDE, SIDE, side, side, &big) != 0)
        return -1;
    int rc = canvas_paint(out, &big, paper, pen);
    ink_free(&big);
    if (rc != 0)
        return -1;
    int rgb = rng_below(r, 2) != 0;
    *fmt = rgb ? FMT_RGB8_ADAM7 : FMT_GRAY_ALPHA8;

    /* Ruled lines: faint (8-14% darker), slightly blue in colour, 1-2 px, and
     * behind the ink, so the ink covers them where they cross. */
    int lines = between(r, 1, 2);
    int spacing = side / 3;
    int first = between(r, side / 8, side - side / 8 - (lines - 1) * spacing);
    double depth = uniform(r, 0.08, 0.14);
    int thick = between(r, 1, 2);
    for (int l = 0; l < lines; l++) {
        int y0 = first + l * spacing;
        for (int y = y0; y < y0 + thick && y < side; y++)
            for (int x = 0; x < side; x++) {
                double *p = out->px + ((size_t)y * (size_t)side + (size_t)x) * 4;
                /* The share of the pixel that is paper (paper luma is above
                 * the pen's by construction): the line shows there only. */
                double pl = luma(paper), il = luma(pen);
                double paper_share = clampf((luma(p) - il) / (pl - il), 0.0, 1.0);
                double d = paper_share * depth;
                p[0] -= d * (rgb ? 1.2 : 1.0) * paper[0];
                p[1] -= d * paper[1];
                p[2] -= d * (rgb ? 0.4 : 1.0) * paper[2];
            }
    }

    /* Lighting: a linear fall-off along a random direction, from 1 at the
     * brightest corner to 1 - dim at the darkest. */
    double dim = uniform(r, 0.30, 0.40);
    double angle = uniform(r, 0.0, 6.2831853);
    double cx = cos(angle), cy = sin(angle);
    double lo = 0, hi = 0;
    for (int corner = 0; corner < 4; corner++) {
        double px = (corner & 1) ? (double)side : 0.0, py = (corner & 2) ? (double)side : 0.0;
        double t = px * cx + py * cy;
        if (corner == 0 || t < lo) lo = t;
        if (corner == 0 || t > hi) hi = t;
    }
    double noise = 8.0 / 255.0;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            double t = ((x + 0.5) * cx + (y + 0.5) * cy - lo) / (hi - lo);
            double light = 1.0 - dim * t;
            double *p = out->px + ((size_t)y * (size_t)side + (size_t)x) * 4;
            if (rgb) {
                for (int k = 0; k < 3; k++)
                    p[k] = p[k] * light + noise * rng_normal(r);
            } else {
                /* Grey output: one noise value, or the luma would average
                 * three and come out with a third of the intended sigma. */
                double g = luma(p) * light + noise * rng_normal(r);
                p[0] = p[1] = p[2] = g;
            }
        }
    return 0;
}

/* Chalk on a green-grey board: light ink on dark, MNIST's own polarity but
 * never MNIST's black and white, and grainy. */
static int style_chalkboard(const inkmap *digit, rng *r, canvas *out, png_layout *fmt)
{
    int side = between(r, 120, 200);
    double board[3], chalk[3];
    double level = uniform(r, 40.0, 60.0) / 255.0;
    board[0] = level * 0.85;
    board[1] = level * 1.15;
    board[2] = level * 0.95;
    grey3(uniform(r, 200.0, 230.0) / 255.0, chalk);
    inkmap big;
    if (ink_resize(digit, 0, 0, SIDE, SIDE, side, side, &big) != 0)
        return -1;
    /* Chalk skips over the board's grain: coverage drops at random. */
    size_t n = (size_t)side * (size_t)side;
    for (size_t i = 0; i < n; i++)
        big.v[i] *= uniform(r, 0.7, 1.0);
    int rc = canvas_paint(out, &big, board, chalk);
    ink_free(&big);
    if (rc != 0)
        return -1;
    add_grey_noise(out, 4.0 / 255.0, r);
    *fmt = FMT_RGB8;
    return 0;
}

/* A page of a ruled notebook: pale blue lines every 24-34 px, printed
 * behind the ink, that the digit sits on and crosses, and half the time
 * the red margin line. The digit is 50-90 px on a 240-320 px photo. */
static int style_notebook_page(const inkmap *digit, rng *r, canvas *out, png_layout *fmt)
{
    int w = between(r, 240, 320), h = between(r, 240, 320);
    int side = between(r, 50, 90);
    inkmap small, placed;
    if (ink_scaled_digit(digit, side, &small) != 0)
        return -1;
    int margin_x = rng_below(r, 2) ? between(r, 20, 50) : -1;
    int left = margin_x >= 0 ? margin_x + 12 : 8;
    int ox = between(r, left, w - 8 - small.w);
    int oy = between(r, 8, h - 8 - small.h);
    int rc = ink_place(&small, w, h, ox, oy, &placed);
    ink_free(&small);
    if (rc != 0)
        return -1;
    double paper[3], pen[3];
    grey3(uniform(r, 0.90, 0.98), paper);
    paper[2] = clampf(paper[2] + 0.02, 0.0, 1.0);
    pen[0] = uniform(r, 0.05, 0.25);
    pen[1] = uniform(r, 0.05, 0.25);
    pen[2] = uniform(r, 0.10, 0.45);
    rc = canvas_paint(out, &placed, paper, pen);
    if (rc != 0) {
        ink_free(&placed);
        return -1;
    }
    /* Lines go where the paper shows: the ink covers them. */
    double line[3] = {uniform(r, 0.55, 0.70), uniform(r, 0.70, 0.82), uniform(r, 0.85, 0.95)};
    double red[3] = {uniform(r, 0.85, 0.95), uniform(r, 0.45, 0.60), uniform(r, 0.45, 0.60)};
    int spacing = between(r, 24, 34), thick = between(r, 1, 2);
    for (int y = between(r, 4, spacing); y < h; y += spacing)
        for (int t = 0; t < thick && y + t < h; t++)
            for (int x = 0; x < w; x++) {
                double *p = out->px + ((size_t)(y + t) * (size_t)w + (size_t)x) * 4;
                double a = 1.0 - clampf(placed.v[(size_t)(y + t) * (size_t)w + (size_t)x], 0, 1);
                for (int k = 0; k < 3; k++)
                    p[k] += a * (line[k] * paper[k] - p[k]);
            }
    if (margin_x >= 0)
        for (int y = 0; y < h; y++)
            for (int x = margin_x; x < margin_x + 2; x++) {
                double *p = out->px + ((size_t)y * (size_t)w + (size_t)x) * 4;
                for (int k = 0; k < 3; k++)
                    p[k] = red[k] * paper[k];
            }
    ink_free(&placed);
    add_grey_noise(out, 3.0 / 255.0, r);
    *fmt = FMT_RGB8;
    return 0;
}

/* What else a photo or a scan shows beside the digit, one of three: the
 * sheet lying on a darker desk (the sheet over half the picture), the
 * scanner's black lid along one or two sides, or the next character on
 * the line cut by the picture's edge. */
static int style_photo_edges(const inkmap *digit, rng *r, canvas *out, png_layout *fmt)
{
    const int w = 320, h = 280;
    int side = between(r, 90, 150);
    inkmap small, placed;
    if (ink_scaled_digit(digit, side, &small) != 0)
        return -1;
    int ox = between(r, 90, w - 90 - small.w > 90 ? w - 90 - small.w : 90);
    int oy = between(r, 40, h - 40 - small.h > 40 ? h - 40 - small.h : 40);
    int rc = ink_place(&small, w, h, ox, oy, &placed);
    if (rc != 0) {
        ink_free(&small);
        return -1;
    }
    int kind = (int)rng_below(r, 3);
    if (kind == 2) {
        /* The neighbour: the same writer's digit, a third of it showing. */
        int nx = rng_below(r, 2) ? w - small.w / 3 : -small.w + small.w / 3;
        int ny = oy + between(r, -10, 10);
        for (int y = 0; y < small.h; y++)
            for (int x = 0; x < small.w; x++) {
                int px = nx + x, py = ny + y;
                if (px < 0 || px >= w || py < 0 || py >= h)
                    continue;
                double *v = &placed.v[(size_t)py * (size_t)w + (size_t)px];
                double add = small.v[(size_t)y * (size_t)small.w + (size_t)x];
                *v = *v > add ? *v : add;
            }
    }
    ink_free(&small);
    double paper[3], pen[3];
    grey3(uniform(r, 0.85, 0.97), paper);
    grey3(uniform(r, 0.05, 0.20), pen);
    rc = canvas_paint(out, &placed, paper, pen);
    ink_free(&placed);
    if (rc != 0)
        return -1;
    double dark[3];
    grey3(kind == 0 ? uniform(r, 0.15, 0.45) : uniform(r, 0.0, 0.08), dark);
    if (kind == 0) {
        dark[0] *= 1.15;   /* a wooden desk */
        dark[2] *= 0.8;
    }
    /* kind 0: the sheet's edges, 8-12% in from each side of the picture;
     * kind 1: the lid, 4-10% deep along one or two sides. */
    int cut[4] = {0, 0, 0, 0};   /* left, top, right, bottom */
    if (kind == 0) {
        cut[0] = between(r, w * 8 / 100, w * 12 / 100);
        cut[1] = between(r, h * 8 / 100, h * 12 / 100);
        cut[2] = between(r, w * 8 / 100, w * 12 / 100);
        cut[3] = between(r, h * 8 / 100, h * 12 / 100);
    } else if (kind == 1) {
        int first = (int)rng_below(r, 4);
        cut[first] = between(r, 12, 28);
        if (rng_below(r, 2))
            cut[(first + 1) % 4] = between(r, 12, 28);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (x >= cut[0] && y >= cut[1] && x < w - cut[2] && y < h - cut[3])
                continue;
            double *p = out->px + ((size_t)y * (size_t)w + (size_t)x) * 4;
            for (int k = 0; k < 3; k++)
                p[k] = dark[k];
        }
    add_grey_noise(out, 4.0 / 255.0, r);
    *fmt = kind == 1 ? FMT_GRAY8 : FMT_RGB8;
    return 0;
}

static const struct {
    const char *name;
    style_fn render;
} styles[] = {
    {"ink-on-paper", style_ink_on_paper},
    {"thin-pen", style_thin_pen},
    {"thick-marker", style_thick_marker},
    {"off-centre", style_off_centre},
    {"canvas-rgba", style_canvas_rgba},
    {"coloured-ink", style_coloured_ink},
    {"paper-photo", style_paper_photo},
    {"chalkboard", style_chalkboard},
    {"notebook-page", style_notebook_page},
    {"photo-edges", style_photo_edges},
};

#define N_STYLES ((int)(sizeof styles / sizeof styles[0]))

int variants_style_count(void)
{
    return N_STYLES;
}

const char *variants_style_name(int style)
{
    return style >= 0 && style < N_STYLES ? styles[style].name : NULL;
}

int variants_style_find(const char *name)
{
    for (int s = 0; name && s < N_STYLES; s++)
        if (strcmp(styles[s].name, name) == 0)
            return s;
    return -1;
}

int variants_render_png(int style, const uint8_t digit[784], uint64_t seed, uint8_t **png,
                        size_t *png_len, char *err, size_t err_len)
{
    *png = NULL;
    *png_len = 0;
    if (style < 0 || style >= N_STYLES || !digit) {
        snprintf(err, err_len, "no such style %d", style);
        return -1;
    }
    inkmap d;
    if (ink_alloc(&d, SIDE, SIDE) != 0) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    for (int i = 0; i < SIDE * SIDE; i++)
        d.v[i] = digit[i] / 255.0;
    int x0, y0, x1, y1;
    if (ink_bbox(&d, &x0, &y0, &x1, &y1) != 0) {
        ink_free(&d);
        snprintf(err, err_len, "the digit has no ink");
        return -1;
    }
    rng r;
    rng_seed(&r, seed);
    canvas c = {0, 0, NULL};
    png_layout fmt = FMT_GRAY8;
    int rc = styles[style].render(&d, &r, &c, &fmt);
    ink_free(&d);
    if (rc != 0) {
        canvas_free(&c);
        snprintf(err, err_len, "%s: out of memory", styles[style].name);
        return -1;
    }
    rc = encode_canvas(&c, fmt, png, png_len, err, err_len);
    canvas_free(&c);
    return rc;
}

/* ---- the set ------------------------------------------------------------- */

/* splitmix64's finaliser: decorrelates (seed, style, index) triples that
 * differ in one bit before they seed an RNG. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t derive_seed(uint64_t seed, int style, uint64_t index)
{
    uint64_t h = mix64(seed + 0x9e3779b97f4a7c15ull);
    h = mix64(h ^ ((uint64_t)(style + 1) * 0xd1b54a32d192ed03ull));
    return mix64(h ^ (index + 1) * 0xc2b2ae3d27d4eb4full);
}

static int mkdir_p(const char *path, char *err, size_t err_len)
{
    char buf[MAX_PATH];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) {
        snprintf(err, err_len, "bad directory name '%s'", path);
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            snprintf(err, err_len, "cannot create %s: %s", buf, strerror(errno));
            return -1;
        }
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, err_len, "%s is not a directory", path);
        return -1;
    }
    return 0;
}

/* Never through a symbolic link planted at path (O_NOFOLLOW), as predict
 * --dump writes its pictures. */
static int write_whole_file(const char *path, const uint8_t *data, size_t len, char *err,
                            size_t err_len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int why = errno;
        if (fd >= 0)
            close(fd);
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(why));
        return -1;
    }
    int ok = fwrite(data, 1, len, f) == len;
    ok &= fclose(f) == 0;
    if (!ok) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* A labels.csv being written: it is kept in memory and appears under its
 * name (atomic_file_write) only once every image it lists is there. */
typedef struct {
    FILE *f;        /* open_memstream over text, len */
    char *text;
    size_t len;
    char path[MAX_PATH];
} labels_file;

/* Writes a PNG (and frees it) and lists it in the labels file as rel. */
static int write_listed(const char *path, uint8_t *png, size_t len, labels_file *list,
                        const char *rel, unsigned label, const char *style, uint32_t t10k_index,
                        char *err, size_t err_len)
{
    int rc = write_whole_file(path, png, len, err, err_len);
    free(png);
    if (rc != 0)
        return -1;
    if (fprintf(list->f, "%s,%u,%s,%u\n", rel, label, style, (unsigned)t10k_index) < 0) {
        snprintf(err, err_len, "cannot list %s: %s", rel, strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes one style's renderings and their labels.csv rows, and each digit
 * as MNIST has it (28x28 grey, light on black) under out_dir/mnist/ with
 * its row in originals (same file names). */
static int write_style(const idx_images *images, const idx_labels *labels, const char *out_dir,
                       int style, int count, uint64_t seed, uint32_t *order,
                       labels_file *renderings, labels_file *originals, char *err,
                       size_t err_len)
{
    const char *name = styles[style].name;
    char path[MAX_PATH];
    for (int orig = 0; orig < 2; orig++) {
        if (snprintf(path, sizeof path, orig ? "%s/mnist/%s" : "%s/%s", out_dir, name) >=
            (int)sizeof path) {
            snprintf(err, err_len, "--out path too long");
            return -1;
        }
        if (mkdir_p(path, err, err_len) != 0)
            return -1;
    }
    uint32_t n = (uint32_t)images->count;
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    rng pick;
    rng_seed(&pick, derive_seed(seed, style, UINT64_MAX));
    rng_shuffle(&pick, order, n);
    for (int k = 0; k < count; k++) {
        uint32_t idx = order[k];
        const uint8_t *digit = images->pixels + (size_t)idx * SIDE * SIDE;
        uint8_t *png;
        size_t len;
        if (variants_render_png(style, digit, derive_seed(seed, style, (uint64_t)k), &png, &len,
                                err, err_len) != 0)
            return -1;
        char rel[256];
        snprintf(rel, sizeof rel, "%s/%s_%04d.png", name, name, k);
        if (snprintf(path, sizeof path, "%s/%s", out_dir, rel) >= (int)sizeof path) {
            free(png);
            snprintf(err, err_len, "--out path too long");
            return -1;
        }
        unsigned label = labels->labels[idx];
        if (write_listed(path, png, len, renderings, rel, label, name, idx, err, err_len) != 0)
            return -1;
        image original = {SIDE, SIDE, 1, (uint8_t *)digit};
        if (snprintf(path, sizeof path, "%s/mnist/%s", out_dir, rel) >= (int)sizeof path) {
            snprintf(err, err_len, "--out path too long");
            return -1;
        }
        if (png_encode_memory(&original, &png, &len) != PNG_IO_OK) {
            snprintf(err, err_len, "out of memory encoding %s", path);
            return -1;
        }
        if (write_listed(path, png, len, originals, rel, label, name, idx, err, err_len) != 0)
            return -1;
    }
    return 0;
}

/* Creates dir, removes an old dir/labels.csv and starts the new one (in
 * memory) with the header. */
static int labels_start(labels_file *lf, const char *dir, char *err, size_t err_len)
{
    if (mkdir_p(dir, err, err_len) != 0)
        return -1;
    if (snprintf(lf->path, sizeof lf->path, "%s/labels.csv", dir) >= (int)sizeof lf->path) {
        snprintf(err, err_len, "--out path too long");
        return -1;
    }
    /* A labels.csv from an earlier run would describe images this run is
     * about to replace; if this run fails, there must be none. */
    if (remove(lf->path) != 0 && errno != ENOENT) {
        snprintf(err, err_len, "cannot remove the old %s: %s", lf->path, strerror(errno));
        return -1;
    }
    lf->f = open_memstream(&lf->text, &lf->len);
    if (!lf->f || fputs("file,label,source,t10k_index\n", lf->f) < 0) {
        snprintf(err, err_len, "cannot start %s: %s", lf->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Closes the list and, when keep, writes it under its name. Returns -1
 * only for a failure of its own. */
static int labels_finish(labels_file *lf, int keep, char *err, size_t err_len)
{
    if (!lf->f)
        return 0;
    int rc = 0;
    if (fclose(lf->f) != 0 && keep) {   /* else err holds why the run failed */
        snprintf(err, err_len, "cannot write %s: %s", lf->path, strerror(errno));
        rc = -1;
    }
    lf->f = NULL;
    if (keep && rc == 0 && atomic_file_write(lf->path, lf->text, lf->len) != 0) {
        snprintf(err, err_len, "cannot write %s: %s", lf->path, strerror(errno));
        rc = -1;
    }
    free(lf->text);
    lf->text = NULL;
    return keep ? rc : 0;
}

int variants_write_set(const idx_images *images, const idx_labels *labels, const char *out_dir,
                       int count, uint64_t seed, char *err, size_t err_len)
{
    if (!images || !labels || images->rows != SIDE || images->cols != SIDE ||
        images->count != labels->count || images->count < 1) {
        snprintf(err, err_len, "--data: want matching 28x28 MNIST test images and labels");
        return -1;
    }
    if (count < 1 || count > VARIANTS_MAX_COUNT || count > images->count) {
        snprintf(err, err_len, "--count %d is outside 1..%d (the test images in --data)", count,
                 images->count < VARIANTS_MAX_COUNT ? images->count : VARIANTS_MAX_COUNT);
        return -1;
    }
    char originals_dir[MAX_PATH];
    if (snprintf(originals_dir, sizeof originals_dir, "%s/mnist", out_dir) >=
        (int)sizeof originals_dir) {
        snprintf(err, err_len, "--out path too long");
        return -1;
    }
    uint32_t *order = malloc((size_t)images->count * sizeof *order);
    if (!order) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    labels_file renderings = {.f = NULL}, originals = {.f = NULL};
    int rc = labels_start(&renderings, out_dir, err, err_len);
    if (rc == 0)
        rc = labels_start(&originals, originals_dir, err, err_len);
    for (int s = 0; rc == 0 && s < N_STYLES; s++)
        rc = write_style(images, labels, out_dir, s, count, seed, order, &renderings, &originals,
                         err, err_len);
    free(order);
    /* The renderings' labels.csv last: it marks a complete set. Should it
     * fail after all, the originals' goes too: a failed run leaves none. */
    if (labels_finish(&originals, rc == 0, err, err_len) != 0)
        rc = -1;
    if (labels_finish(&renderings, rc == 0, err, err_len) != 0) {
        rc = -1;
        remove(originals.path);
    }
    return rc;
}

/* ---- the command --------------------------------------------------------- */

int command_variants(int argc, char **argv)
{
    const char *data_dir = "data/mnist", *out_dir = NULL;
    int count = 200;
    uint64_t seed = 1;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        int misused = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_variants, stdout);
            return 0;
        }
        if (flag_match(argc, argv, &i, "--data", &v, &misused)) data_dir = v;
        else if (flag_match(argc, argv, &i, "--out", &v, &misused)) out_dir = v;
        else if (flag_match(argc, argv, &i, "--count", &v, &misused)) {
            if (flag_parse_int("--count", v, 1, VARIANTS_MAX_COUNT, &count) != 0)
                return EXIT_USAGE;
        } else if (flag_match(argc, argv, &i, "--seed", &v, &misused)) {
            unsigned long long s;
            if (flag_parse_u64("--seed", v, &s) != 0)
                return EXIT_USAGE;
            seed = s;
        } else {
            if (!misused)
                fprintf(stderr, "digits-trainer variants: unknown argument '%s' (see --help)\n",
                        argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!out_dir || !out_dir[0]) {
        fprintf(stderr, "digits-trainer variants: --out DIR is required (see --help)\n");
        return EXIT_USAGE;
    }
    char err[1024];
    mnist_data data;
    /* load_train = 0: the training files are never even opened. */
    if (mnist_load(data_dir, 0, &data, err, sizeof err) != 0) {
        fprintf(stderr, "digits-trainer: --data: %s\n", err);
        return EXIT_RUNTIME;
    }
    int rc = variants_write_set(&data.test_images, &data.test_labels, out_dir, count, seed, err,
                                sizeof err);
    mnist_free(&data);
    if (rc != 0) {
        fprintf(stderr, "digits-trainer variants: %s\n", err);
        return EXIT_RUNTIME;
    }
    printf("wrote %d images (%d styles x %d) and %s/labels.csv, and their MNIST originals "
           "in %s/mnist\n",
           count * N_STYLES, N_STYLES, count, out_dir, out_dir);
    return 0;
}
