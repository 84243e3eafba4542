/* upload_speed.c -- what one upload costs before the forward pass: PNG
 * bytes decoded, preprocessed (with deskewing, as the shipped model is
 * served) and freed, as digits-server does per request.
 *
 *   upload_speed make MNIST_DIR OUT_DIR
 *       writes the synthetic uploads into OUT_DIR, one folder per kind:
 *         28px    the first 200 MNIST test digits as 28x28 grey PNGs
 *         300px   40 MNIST test digits, dark on light paper with a lighting
 *                 ramp and noise, 300x300 RGB
 *         1000px  8 of them at 1000x1000 RGB
 *         2000px  4 of them at 2000x1500 RGB
 *   upload_speed time ROUNDS LIST [--glibc-heap] [--decode-only]
 *       reads the PNG files LIST names (one path per line), then decodes
 *       and preprocesses all of them ROUNDS times and prints microseconds
 *       per upload (best pass) and minor page faults per upload (that pass).
 *       The first pass is cold (it faults every buffer in once): take
 *       ROUNDS of 2 or more. With --decode-only, the PNG decoding alone:
 *       what libpng costs before any preprocessing.
 *
 * With --glibc-heap the allocator keeps glibc's own policy; without,
 * common/heap_policy.h's, as the server runs. glibc's own policy adapts to
 * the largest block freed so far, so the timing runs in a process that has
 * done nothing else (making the pictures would move it), one kind of upload
 * per process, as a server that only sees that kind (a drawing page's
 * canvases, say). tests/bench/upload_speed runs it per kind, both ways, in
 * turns.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "heap_policy.h"
#include "idx.h"
#include "image.h"
#include "png_io.h"
#include "preprocess.h"
#include "rng.h"

#define MAX_FILE_BYTES (64u << 20)

typedef struct {
    uint8_t *data;
    size_t len;
} upload;

typedef struct {
    upload *items;
    size_t n, cap;
} upload_class;

static int add_upload(upload_class *c, uint8_t *data, size_t len)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        upload *grown = realloc(c->items, cap * sizeof *grown);
        if (!grown)
            return -1;
        c->items = grown;
        c->cap = cap;
    }
    c->items[c->n++] = (upload){data, len};
    return 0;
}

static void free_class(upload_class *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i].data);
    free(c->items);
}

/* An MNIST digit written dark on paper lit from one side, with sensor
 * noise drawn from noise (seeded: every run writes the same pictures),
 * filling about 60% of a w x h RGB picture, written to path. */
static int write_photo(const char *path, const uint8_t *digit28, int w, int h, rng *noise)
{
    image img;
    if (image_alloc(&img, w, h, 3) != 0)
        return -1;
    double scale = 0.6 * (w < h ? w : h) / 28.0;
    double ox = (w - 28 * scale) / 2, oy = (h - 28 * scale) / 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double fx = (x - ox) / scale - 0.5, fy = (y - oy) / scale - 0.5;
            int x0 = (int)floor(fx), y0 = (int)floor(fy);
            double ink = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    int sx = x0 + dx, sy = y0 + dy;
                    if (sx >= 0 && sy >= 0 && sx < 28 && sy < 28)
                        ink += digit28[sy * 28 + sx] * (dx ? fx - x0 : 1 - (fx - x0)) *
                               (dy ? fy - y0 : 1 - (fy - y0));
                }
            double paper = 235 - 50.0 * x / w;
            double v = paper * (1 - 0.85 * ink / 255) + 10 * (rng_uniform(noise) - 0.5);
            uint8_t *px = img.pixels + ((size_t)y * (size_t)w + (size_t)x) * 3;
            for (int k = 0; k < 3; k++) {
                double t = v - 6 * k;
                px[k] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t + 0.5);
            }
        }
    int rc = png_write_file(path, &img) == PNG_IO_OK ? 0 : -1;
    image_free(&img);
    return rc;
}

static int load_list(upload_class *c, const char *list)
{
    char path[4096], err[256];
    FILE *f = fopen(list, "r");
    if (!f) {
        fprintf(stderr, "upload_speed: cannot open %s\n", list);
        return -1;
    }
    int rc = 0;
    while (rc == 0 && fgets(path, sizeof path, f)) {
        path[strcspn(path, "\r\n")] = '\0';
        if (!path[0])
            continue;
        uint8_t *data = NULL;
        size_t len = 0;
        if (read_file_bounded(path, MAX_FILE_BYTES, &data, &len, err, sizeof err) != 0) {
            fprintf(stderr, "upload_speed: %s: %s\n", path, err);
            rc = -1;
        } else if (add_upload(c, data, len) != 0) {
            fprintf(stderr, "upload_speed: out of memory\n");
            free(data);
            rc = -1;
        }
    }
    fclose(f);
    if (rc == 0 && c->n == 0)
        fprintf(stderr, "upload_speed: %s lists no file\n", list);
    return rc == 0 && c->n > 0 ? 0 : -1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

/* One pass over the class as the server handles uploads (with decode_only,
 * the PNG decoding alone). Returns -1 when an upload does not decode or
 * preprocess: the timings would be of errors. */
static int time_pass(const upload_class *c, int decode_only, double *seconds, long *faults)
{
    preprocess_options opts = {.deskew = 1};
    uint8_t out[MNIST_PIXELS];
    long f0 = minor_faults();
    double t0 = now_s();
    for (size_t i = 0; i < c->n; i++) {
        image img;
        if (png_decode(c->items[i].data, c->items[i].len, 0, &img, NULL, 0) != PNG_IO_OK)
            return -1;
        preprocess_status st =
            decode_only ? PREPROCESS_OK : preprocess_to_mnist_with(&img, &opts, out, NULL);
        image_free(&img);
        if (st != PREPROCESS_OK)
            return -1;
    }
    *seconds = now_s() - t0;
    *faults = minor_faults() - f0;
    return 0;
}

static int make_uploads(const char *mnist_dir, const char *out_dir)
{
    char path[4096], err[256] = "";
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", mnist_dir);
    idx_images mnist;
    if (idx_read_images(path, &mnist, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "upload_speed: %s: %s\n", path, err);
        return -1;
    }
    int rc = mnist.rows == 28 && mnist.cols == 28 && mnist.count >= 300 ? 0 : -1;
    /* Each kind takes its own MNIST test digits, in turn from the first. */
    static const struct {
        const char *name;
        int count, width, height;   /* width 0: the digit as it is, 28x28 */
    } kinds[] = {{"28px", 200, 0, 0}, {"300px", 40, 300, 300},
                 {"1000px", 8, 1000, 1000}, {"2000px", 4, 2000, 1500}};
    rng noise;
    rng_seed(&noise, 1);
    int next = 0;
    for (size_t k = 0; rc == 0 && k < sizeof kinds / sizeof kinds[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", out_dir, kinds[k].name);
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "upload_speed: cannot create %s\n", path);
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < kinds[k].count; i++, next++) {
            const uint8_t *digit = mnist.pixels + (size_t)next * MNIST_PIXELS;
            image img = {28, 28, 1, (uint8_t *)digit};
            snprintf(path, sizeof path, "%s/%s/%03d.png", out_dir, kinds[k].name, next);
            rc = kinds[k].width == 0
                     ? (png_write_file(path, &img) == PNG_IO_OK ? 0 : -1)
                     : write_photo(path, digit, kinds[k].width, kinds[k].height, &noise);
            if (rc != 0)
                fprintf(stderr, "upload_speed: cannot write %s\n", path);
        }
    }
    idx_images_free(&mnist);
    return rc;
}

static int time_uploads(int rounds, const char *list, int glibc_heap, int decode_only)
{
    const char *policy = "glibc";
    if (!glibc_heap) {
        if (heap_policy_keep_request_memory() != 0) {
            fprintf(stderr, "upload_speed: heap_policy not taken by this C library\n");
            return -1;
        }
        policy = "heap_policy";
    }
    upload_class c = {NULL, 0, 0};
    int rc = load_list(&c, list);
    double best = INFINITY;
    long best_faults = 0;
    for (int r = 0; rc == 0 && r < rounds; r++) {
        double s;
        long faults;
        rc = time_pass(&c, decode_only, &s, &faults);
        if (rc == 0 && s < best) {
            best = s;
            best_faults = faults;
        }
    }
    if (rc == 0)
        printf("%s %zu %.1f %.1f\n", policy, c.n, 1e6 * best / (double)c.n,
               (double)best_faults / (double)c.n);
    else
        fprintf(stderr, "upload_speed: %s: an upload did not read, decode or preprocess\n", list);
    free_class(&c);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "make") == 0)
        return make_uploads(argv[2], argv[3]) == 0 ? 0 : 1;
    int rounds = argc >= 4 ? atoi(argv[2]) : 0;
    int glibc_heap = 0, decode_only = 0, bad = 0;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--glibc-heap") == 0)
            glibc_heap = 1;
        else if (strcmp(argv[i], "--decode-only") == 0)
            decode_only = 1;
        else
            bad = 1;
    }
    if (argc < 4 || strcmp(argv[1], "time") != 0 || rounds < 1 || rounds > 100 || bad) {
        fprintf(stderr, "usage: %s make MNIST_DIR OUT_DIR\n"
                        "       %s time ROUNDS(1-100) LIST [--glibc-heap] [--decode-only]\n",
                argv[0], argv[0]);
        return 2;
    }
    return time_uploads(rounds, argv[3], glibc_heap, decode_only) == 0 ? 0 : 1;
}
