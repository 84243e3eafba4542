/* preprocess_speed.c -- timing and output digest of preprocess_to_mnist_with()
 * over the inputs it meets in practice, optionally side by side with a
 * reference implementation (an older version of the pipeline built with
 * its public names prefixed by ref_, see tests/bench/preprocess_speed).
 *
 * Categories:
 *   mnist28  all 70000 MNIST digits (28x28 grey, light ink on black)
 *   rgba28   the 10000 MNIST test digits as the server sees a 28x28 PNG
 *            upload (RGBA), every other one inverted (dark ink on white)
 *   aug42    MNIST digits redrawn by augment_digit() (42x42 grey), as the
 *            trainer feeds them each epoch
 *   syn42    MNIST digits enlarged 1.5x bilinearly, then dilated or eroded
 *   png      ../shared/realdigits PNGs decoded to RGBA (64..280 px)
 *   large    a few synthetic photos (1.2..4 Mpx, uneven light, noise)
 *   fuzz     random sizes, channel counts and contents, including blank,
 *            noisy, inverted and transparent pictures: for the digest only
 *
 * The digest is SHA-256 over, for every image and deskew = 0 then 1, the
 * status, the 784 output bytes and every preprocess_info field (floats by
 * their bit pattern). With a reference, both digests are printed and must
 * match (exit status 1 otherwise). Timings: see time_category.
 *
 *   preprocess_speed DATA_DIR SHARED_DIR [ROUNDS [CATEGORY]]
 *
 * ROUNDS 0 skips the timings; with CATEGORY only that category is built,
 * digested and timed (for profiling).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "augment.h"
#include "idx.h"
#include "image.h"
#include "png_io.h"
#include "preprocess.h"
#include "sha256.h"

typedef preprocess_status (*pp_fn)(const image *, const preprocess_options *,
                                   uint8_t[MNIST_PIXELS], preprocess_info *);

#ifdef WITH_REF
preprocess_status ref_preprocess_to_mnist_with(const image *src, const preprocess_options *opts,
                                               uint8_t out[MNIST_PIXELS], preprocess_info *info);
#endif

typedef struct {
    const char *name;
    image *img;
    size_t n, cap;
    int timed;
} category;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static image *cat_add(category *c, int w, int h, int ch)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->img = realloc(c->img, c->cap * sizeof *c->img);
        if (!c->img) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    image *im = &c->img[c->n++];
    im->width = w;
    im->height = h;
    im->channels = ch;
    im->pixels = xmalloc((size_t)w * (size_t)h * (size_t)ch);
    return im;
}

/* splitmix64: reproducible everywhere. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static int rnd_below(int n) { return (int)(rnd() % (uint64_t)n); }
static double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static uint8_t clamp_u8(double v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : (int)(v + 0.5));
}

/* Bilinear sample of a w x h grey image, 0 outside. */
static double sample(const uint8_t *g, int w, int h, double x, double y)
{
    int x0 = (int)floor(x), y0 = (int)floor(y);
    double fx = x - x0, fy = y - y0, acc = 0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int sx = x0 + dx, sy = y0 + dy;
            if (sx < 0 || sy < 0 || sx >= w || sy >= h)
                continue;
            acc += g[sy * w + sx] * (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
        }
    return acc;
}

static void morph(uint8_t *img, int w, int h, int dilate)
{
    uint8_t *tmp = xmalloc((size_t)w * (size_t)h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int best = dilate ? 0 : 255;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int xx = x + dx, yy = y + dy;
                    int v = xx < 0 || yy < 0 || xx >= w || yy >= h ? 0 : img[yy * w + xx];
                    best = dilate ? (v > best ? v : best) : (v < best ? v : best);
                }
            tmp[y * w + x] = (uint8_t)best;
        }
    memcpy(img, tmp, (size_t)w * (size_t)h);
    free(tmp);
}

/* A random-ish digit-like grey picture: an MNIST digit placed, scaled and
 * possibly inverted or noised inside a w x h frame. */
static void digit_into(const uint8_t *d28, uint8_t *g, int w, int h)
{
    double scale = (0.3 + 1.5 * rnd_unit()) * (w < h ? w : h) / 28.0;
    double ox = (w - 28 * scale) * rnd_unit(), oy = (h - 28 * scale) * rnd_unit();
    int invert = rnd_below(2), bg = rnd_below(4) ? 0 : rnd_below(120);
    double noise = rnd_below(3) ? 0 : 60 * rnd_unit();
    double grad = rnd_below(3) ? 0 : 80 * rnd_unit();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = sample(d28, 28, 28, (x - ox) / scale - 0.5, (y - oy) / scale - 0.5);
            v = bg + v * (255 - bg) / 255.0 + grad * x / w;
            v += noise * (rnd_unit() - 0.5);
            g[y * w + x] = clamp_u8(invert ? 255 - v : v);
        }
}

static void load_mnist(const char *dir, category *c, mnist_data *m)
{
    char err[256];
    if (mnist_load(dir, 1, m, err, sizeof err) != 0) {
        fprintf(stderr, "mnist: %s\n", err);
        exit(1);
    }
    const idx_images *sets[2] = {&m->train_images, &m->test_images};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < sets[s]->count; i++) {
            image *im = cat_add(c, 28, 28, 1);
            memcpy(im->pixels, sets[s]->pixels + (size_t)i * MNIST_PIXELS, MNIST_PIXELS);
        }
}

static void make_rgba28(const category *mnist, category *c)
{
    for (size_t i = 60000; i < mnist->n; i++) {
        const uint8_t *g = mnist->img[i].pixels;
        image *im = cat_add(c, 28, 28, 4);
        for (size_t j = 0; j < MNIST_PIXELS; j++) {
            uint8_t v = i % 2 ? (uint8_t)(255 - g[j]) : g[j];
            im->pixels[4 * j] = im->pixels[4 * j + 1] = im->pixels[4 * j + 2] = v;
            im->pixels[4 * j + 3] = 255;
        }
    }
}

/* The label of image i of the mnist category (train, then test). */
static int mnist_label(const mnist_data *m, size_t i)
{
    size_t n_train = (size_t)m->train_labels.count;
    return i < n_train ? m->train_labels.labels[i] : m->test_labels.labels[i - n_train];
}

static void make_aug42(const category *mnist, const mnist_data *m, category *c, size_t count)
{
    augment_config cfg;
    augment_config_defaults(&cfg);
    for (size_t i = 0; i < count; i++) {
        image *im = cat_add(c, AUGMENT_SIDE, AUGMENT_SIDE, 1);
        size_t k = (i * 7919) % mnist->n;
        augment_digit(mnist->img[k].pixels, mnist_label(m, k), &cfg, 1234567 + i, im->pixels);
    }
}

static void make_syn42(const category *mnist, category *c, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const uint8_t *d = mnist->img[(i * 104729 + 13) % mnist->n].pixels;
        image *im = cat_add(c, 42, 42, 1);
        for (int y = 0; y < 42; y++)
            for (int x = 0; x < 42; x++)
                im->pixels[y * 42 + x] =
                    clamp_u8(sample(d, 28, 28, (x + 0.5) / 1.5 - 0.5, (y + 0.5) / 1.5 - 0.5));
        int op = (int)(i % 4);   /* none, dilate, dilate twice, erode */
        if (op == 1 || op == 2)
            morph(im->pixels, 42, 42, 1);
        if (op == 2)
            morph(im->pixels, 42, 42, 1);
        if (op == 3)
            morph(im->pixels, 42, 42, 0);
    }
}

static void load_pngs(const char *shared, category *c)
{
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/realdigits/labels.csv", shared);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        if (first) {   /* header */
            first = 0;
            continue;
        }
        char *comma = strchr(line, ',');
        if (!comma)
            continue;
        *comma = '\0';
        snprintf(path, sizeof path, "%s/realdigits/%s", shared, line);
        uint8_t *data;
        size_t len;
        char err[256];
        if (read_file_bounded(path, 1 << 26, &data, &len, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", path, err);
            exit(1);
        }
        image tmp;
        if (png_decode_rgba(data, len, 0, &tmp, err, sizeof err) != PNG_IO_OK) {
            fprintf(stderr, "%s: %s\n", path, err);
            exit(1);
        }
        free(data);
        image *im = cat_add(c, tmp.width, tmp.height, tmp.channels);
        free(im->pixels);
        im->pixels = tmp.pixels;
    }
    fclose(f);
}

/* Photos: a PNG digit blown up into a big frame with a lighting ramp, noise
 * and grey paper, in each channel layout. */
static void make_large(const category *png, category *c)
{
    static const int size[][3] = {{1600, 1200, 3}, {2048, 1536, 4}, {1200, 1600, 1},
                                  {2000, 2000, 3}, {1000, 1500, 2}, {1500, 1100, 4}};
    for (size_t k = 0; k < sizeof size / sizeof size[0]; k++) {
        const image *p = &png->img[(k * 997) % png->n];
        int w = size[k][0], h = size[k][1], ch = size[k][2];
        image *im = cat_add(c, w, h, ch);
        double scale = (0.4 + 0.4 * rnd_unit()) * h / p->height;
        double ox = (w - p->width * scale) / 2, oy = (h - p->height * scale) / 2;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int sx = (int)((x - ox) / scale), sy = (int)((y - oy) / scale);
                double ink = 255;
                if (sx >= 0 && sy >= 0 && sx < p->width && sy < p->height) {
                    const uint8_t *q = p->pixels + ((size_t)sy * (size_t)p->width + (size_t)sx) * 4;
                    ink = (q[0] * q[3] + 255.0 * (255 - q[3])) / 255.0;
                }
                double paper = 200 - 60.0 * x / w - 30.0 * y / h;
                double v = ink * paper / 255.0 + 12 * (rnd_unit() - 0.5);
                uint8_t *o = im->pixels + ((size_t)y * (size_t)w + (size_t)x) * (size_t)ch;
                for (int j = 0; j < ch; j++)
                    o[j] = clamp_u8(v + (j == 1 ? 5 : 0));
                if (ch == 2 || ch == 4)
                    o[ch - 1] = 255;
            }
    }
}

/* Random pictures for coverage: every channel count, tiny to mid sizes,
 * blank, noise, digits on all backgrounds, transparent canvases. */
static void make_fuzz(const category *mnist, category *c, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        int w, h;
        switch (rnd_below(6)) {
        case 0: w = h = 28; break;
        case 1: w = h = 42; break;
        case 2: w = 1 + rnd_below(12); h = 1 + rnd_below(12); break;
        case 3: w = 40 + rnd_below(20); h = 40 + rnd_below(20); break;
        case 4: w = 60 + rnd_below(240); h = 60 + rnd_below(240); break;
        default: w = 1 + rnd_below(100); h = 1 + rnd_below(100); break;
        }
        int ch = 1 + rnd_below(4);
        image *im = cat_add(c, w, h, ch);
        size_t n = (size_t)w * (size_t)h;
        uint8_t *g = xmalloc(n), *alpha = xmalloc(n);
        int kind = rnd_below(8);
        if (kind == 0) {            /* flat */
            memset(g, rnd_below(256), n);
        } else if (kind == 1) {     /* noise */
            int lo = rnd_below(256), span = 1 + rnd_below(256 - lo);
            for (size_t j = 0; j < n; j++)
                g[j] = (uint8_t)(lo + rnd_below(span));
        } else if (kind == 2) {     /* specks */
            memset(g, rnd_below(2) ? 0 : 255, n);
            for (int s = rnd_below(20); s > 0; s--)
                g[rnd_below((int)n)] = (uint8_t)rnd_below(256);
        } else {                    /* a digit */
            digit_into(mnist->img[rnd_below((int)mnist->n)].pixels, g, w, h);
            if (rnd_below(4) == 0)
                morph(g, w, h, rnd_below(2));
        }
        int alpha_kind = rnd_below(4);
        for (size_t j = 0; j < n; j++) {
            if (alpha_kind == 0)
                alpha[j] = 255;
            else if (alpha_kind == 1)
                alpha[j] = (uint8_t)rnd_below(256);
            else                    /* transparent canvas: alpha is the ink */
                alpha[j] = alpha_kind == 2 ? g[j] : (uint8_t)(255 - g[j]);
        }
        for (size_t j = 0; j < n; j++) {
            uint8_t *o = im->pixels + j * (size_t)ch;
            int grey = alpha_kind >= 2 ? rnd_below(256) : g[j];
            if (alpha_kind >= 2 && rnd_below(2))
                grey = alpha_kind == 2 ? 0 : 255;
            switch (ch) {
            case 1: o[0] = (uint8_t)grey; break;
            case 2: o[0] = (uint8_t)grey; o[1] = alpha[j]; break;
            case 3: case 4:
                o[0] = (uint8_t)grey;
                o[1] = clamp_u8(grey + rnd_below(30) - 15);
                o[2] = clamp_u8(grey + rnd_below(30) - 15);
                if (ch == 4)
                    o[3] = alpha[j];
                break;
            }
        }
        free(g);
        free(alpha);
    }
}

static void put_u32(sha256_ctx *s, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    sha256_update(s, b, 4);
}

static void put_f32(sha256_ctx *s, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(s, u);
}

/* Digest of one category under fn, both deskew settings. Also counts how
 * many images came out OK. */
static void digest_category(const category *c, pp_fn fn, uint8_t digest[32], size_t *ok)
{
    sha256_ctx s;
    sha256_init(&s);
    *ok = 0;
    for (int deskew = 0; deskew <= 1; deskew++) {
        preprocess_options o = {.deskew = deskew};
        for (size_t i = 0; i < c->n; i++) {
            uint8_t out[MNIST_PIXELS];
            preprocess_info info;
            memset(&info, 0xA5, sizeof info);
            preprocess_status st = fn(&c->img[i], &o, out, &info);
            *ok += st == PREPROCESS_OK;
            put_u32(&s, (uint32_t)st);
            sha256_update(&s, out, sizeof out);
            put_u32(&s, (uint32_t)info.inverted);
            put_u32(&s, (uint32_t)info.box_x);
            put_u32(&s, (uint32_t)info.box_y);
            put_u32(&s, (uint32_t)info.box_w);
            put_u32(&s, (uint32_t)info.box_h);
            put_f32(&s, info.background);
            put_f32(&s, info.threshold);
            put_f32(&s, info.skew);
            /* The flags added later count only when set, so that digests
             * of outputs from before them stay comparable. */
            if (info.shadow || info.faint) {
                put_u32(&s, (uint32_t)info.shadow);
                put_u32(&s, (uint32_t)info.faint);
            }
            if (info.ring)
                put_u32(&s, 0x72696e67u);   /* "ring" */
        }
    }
    sha256_final(&s, digest);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static volatile unsigned sink;

/* Seconds for one pass over images [from, to) of the category. */
static double time_batch(const category *c, size_t from, size_t to, pp_fn fn, int deskew)
{
    preprocess_options o = {.deskew = deskew};
    uint8_t out[MNIST_PIXELS];
    preprocess_info info;
    unsigned acc = 0;
    double t0 = now();
    for (size_t i = from; i < to; i++) {
        acc += (unsigned)fn(&c->img[i], &o, out, &info);
        acc += out[14 * 28 + 14];
    }
    double t = now() - t0;
    sink += acc;
    return t;
}

/* Microseconds per image for each of fn[0..n_fn): the images are timed in
 * small batches, the implementations alternating batch by batch, and each
 * batch counts with its best time over the rounds, so that bursts of other
 * load on the machine are filtered out and fall on all alike. */
#define BATCH 16
static void time_category(const category *c, const pp_fn *fn, int n_fn, int deskew,
                          int rounds, double *us)
{
    size_t n_batches = (c->n + BATCH - 1) / BATCH;
    double *best = xmalloc(n_batches * (size_t)n_fn * sizeof *best);
    for (size_t i = 0; i < n_batches * (size_t)n_fn; i++)
        best[i] = HUGE_VAL;
    for (int r = 0; r < rounds; r++)
        for (size_t b = 0; b < n_batches; b++) {
            size_t from = b * BATCH, to = from + BATCH < c->n ? from + BATCH : c->n;
            for (int k = 0; k < n_fn; k++) {
                double t = time_batch(c, from, to, fn[k], deskew);
                if (t < best[b * (size_t)n_fn + (size_t)k])
                    best[b * (size_t)n_fn + (size_t)k] = t;
            }
        }
    for (int k = 0; k < n_fn; k++) {
        double total = 0;
        for (size_t b = 0; b < n_batches; b++)
            total += best[b * (size_t)n_fn + (size_t)k];
        us[k] = 1e6 * total / (double)c->n;
    }
    free(best);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA_DIR SHARED_DIR [ROUNDS [CATEGORY]]\n", argv[0]);
        return 2;
    }
    /* A word where the count belongs is a mistake, not 0 rounds. */
    char *end = NULL;
    long asked = argc > 3 ? strtol(argv[3], &end, 10) : 3;
    if (argc > 3 && (end == argv[3] || *end != '\0' || asked < 0 || asked > 1000)) {
        fprintf(stderr, "%s: ROUNDS is 0 to 1000, not %s\n", argv[0], argv[3]);
        return 2;
    }
    int rounds = (int)asked;
    const char *only = argc > 4 ? argv[4] : NULL;
    category cats[7] = {{"mnist28", NULL, 0, 0, 1}, {"rgba28", NULL, 0, 0, 1},
                        {"aug42", NULL, 0, 0, 1},   {"syn42", NULL, 0, 0, 1},
                        {"png", NULL, 0, 0, 1},     {"large", NULL, 0, 0, 1},
                        {"fuzz", NULL, 0, 0, 0}};
    const size_t n_cats = sizeof cats / sizeof cats[0];
    /* With a CATEGORY, only what it needs is built. */
#define WANT(name) (!only || strcmp(only, name) == 0)
    mnist_data m;
    load_mnist(argv[1], &cats[0], &m);
    if (WANT("rgba28"))
        make_rgba28(&cats[0], &cats[1]);
    if (WANT("aug42"))
        make_aug42(&cats[0], &m, &cats[2], 3000);
    mnist_free(&m);   /* the labels were needed for the class-specific strokes */
    if (WANT("syn42"))
        make_syn42(&cats[0], &cats[3], 3000);
    if (WANT("png") || WANT("large"))
        load_pngs(argv[2], &cats[4]);
    if (WANT("large"))
        make_large(&cats[4], &cats[5]);
    if (WANT("fuzz"))
        make_fuzz(&cats[0], &cats[6], 8000);

    pp_fn cur = preprocess_to_mnist_with;
#ifdef WITH_REF
    pp_fn ref = ref_preprocess_to_mnist_with;
#endif
    sha256_ctx all_cur;
    sha256_init(&all_cur);
#ifdef WITH_REF
    sha256_ctx all_ref;
    sha256_init(&all_ref);
    int same = 1;
#endif
    printf("%-8s %6s %5s  %s\n", "category", "images", "ok%", "digest (status, out, info; deskew 0+1)");
    for (size_t k = 0; k < n_cats; k++) {
        if (!WANT(cats[k].name))
            continue;
        uint8_t d[32];
        char hex[65];
        size_t ok;
        digest_category(&cats[k], cur, d, &ok);
        sha256_update(&all_cur, d, 32);
        sha256_hex(d, hex);
        printf("%-8s %6zu %5.1f  %s\n", cats[k].name, cats[k].n, 50.0 * (double)ok / (double)cats[k].n, hex);
#ifdef WITH_REF
        uint8_t dr[32];
        digest_category(&cats[k], ref, dr, &ok);
        sha256_update(&all_ref, dr, 32);
        if (memcmp(d, dr, 32) != 0) {
            sha256_hex(dr, hex);
            printf("%-8s %6s %5s  %s  <-- reference DIFFERS\n", "", "", "", hex);
            same = 0;
        }
#endif
    }
    uint8_t d[32];
    char hex[65];
    sha256_final(&all_cur, d);
    sha256_hex(d, hex);
    printf("%-8s %6s %5s  %s\n", "all", "", "", hex);
#ifdef WITH_REF
    sha256_final(&all_ref, d);
    sha256_hex(d, hex);
    printf("%-8s %6s %5s  %s\n", "all ref", "", "", hex);
    printf(same ? "outputs: IDENTICAL to the reference\n" : "outputs: DIFFERENT from the reference\n");
#endif

    if (rounds > 0) {
        printf("\nmicroseconds per image (batches of %d images, best of %d rounds each%s)\n",
               BATCH, rounds,
#ifdef WITH_REF
               ", reference and current alternating"
#else
               ""
#endif
        );
#ifdef WITH_REF
        pp_fn fns[2] = {ref, cur};
        int n_fn = 2;
        printf("%-8s %-7s %10s %10s %8s\n", "category", "deskew", "reference", "current", "speedup");
#else
        pp_fn fns[1] = {cur};
        int n_fn = 1;
        printf("%-8s %-7s %10s\n", "category", "deskew", "current");
#endif
        for (size_t k = 0; k < n_cats; k++) {
            if (!cats[k].timed || !WANT(cats[k].name))
                continue;
            for (int deskew = 0; deskew <= 1; deskew++) {
                double us[2];
                time_category(&cats[k], fns, n_fn, deskew, rounds, us);
                if (n_fn == 2)
                    printf("%-8s %-7d %10.2f %10.2f %7.2fx\n", cats[k].name, deskew, us[0], us[1],
                           us[0] / us[1]);
                else
                    printf("%-8s %-7d %10.2f\n", cats[k].name, deskew, us[0]);
                fflush(stdout);
            }
        }
    }
    for (size_t k = 0; k < n_cats; k++) {
        for (size_t i = 0; i < cats[k].n; i++)
            free(cats[k].img[i].pixels);
        free(cats[k].img);
    }
#ifdef WITH_REF
    return same ? 0 : 1;
#else
    return 0;
#endif
}
