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
 * This file writes the set and runs the command. A digit's rendering is
 * variant_styles.c's (the styles and their table), drawing on
 * variant_ink.c (ink maps and canvases) and variant_png.c (the PNG layouts
 * and their encoder).
 *
 * Randomness: each image gets its own RNG seeded from (seed, style, index),
 * so images do not depend on how many were asked for, and the same seed
 * gives byte-identical files.
 */
#include "variants.h"

#include <errno.h>
#include <fcntl.h>
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
#include "preprocess.h"
#include "rng.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

#define MAX_PATH 4096

static const char usage_variants[] =
    "usage: digits-trainer variants --out DIR [--data DIR] [--count N] [--seed S]\n"
    "\n"
    "Draws MNIST *test* digits the way users send them and writes them as PNGs,\n"
    "with DIR/labels.csv (file,label,source,t10k_index) for 'predict --labels'.\n"
    "DIR/mnist/ holds the same digits as MNIST has them (28x28 grey, same file\n"
    "names, its own labels.csv): each style's baseline.\n";

/* After the style names, which come from the style table itself. */
static const char usage_variants_flags[] =
    "\n"
    "  --out DIR           where to write (created if needed)\n"
    "  --data DIR          MNIST IDX files; only t10k-* are read (default data/mnist)\n"
    "  --count N           images per style, 1..10000 (default 200); a smaller\n"
    "                      count than DIR's last run removes its extra pictures\n"
    "  --seed S            seed for the digits chosen and every random choice\n"
    "                      (default 1); the same seed gives the same files\n";

static void print_usage(void)
{
    fputs(usage_variants, stdout);
    const char *lead = "Styles (the source column): ";
    fputs(lead, stdout);
    size_t column = strlen(lead);
    for (int style = 0; style < variants_style_count(); style++) {
        const char *name = variants_style_name(style);
        const char *end = style + 1 < variants_style_count() ? "," : ".";
        if (column + strlen(name) + 2 > 78) {
            fputs("\n", stdout);
            column = 0;
        } else if (style > 0) {
            fputs(" ", stdout);
            column++;
        }
        printf("%s%s", name, end);
        column += strlen(name) + 1;
    }
    fputs("\n", stdout);
    fputs(usage_variants_flags, stdout);
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
    errno = 0;
    int ok = fwrite(data, 1, len, f) == len;
    int why = errno;
    if (fclose(f) != 0 && (ok || why == 0)) {
        ok = 0;
        why = errno;
    }
    if (!ok) {
        /* A short write need not set errno (a full disk is only seen at the
         * flush); never quote a stale one. */
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(why ? why : EIO));
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

/* An earlier run with a larger --count left name_NNNN.png from index count
 * on, in the style's folder and its mnist/ copy; nothing lists them any
 * more, and a folder holding more pictures than labels.csv says misleads
 * whoever reads it. Runs number their files from 0 without gaps, so the
 * first index with no file ends the stale ones. Only this naming pattern
 * is touched. */
static int remove_stale_pictures(const char *out_dir, const char *name, int count, char *err,
                                 size_t err_len)
{
    for (int orig = 0; orig < 2; orig++) {
        for (int k = count; k < VARIANTS_MAX_COUNT; k++) {
            char path[MAX_PATH];
            if (snprintf(path, sizeof path, orig ? "%s/mnist/%s/%s_%04d.png" : "%s/%s/%s_%04d.png",
                         out_dir, name, name, k) >= (int)sizeof path) {
                snprintf(err, err_len, "--out path too long");
                return -1;
            }
            if (unlink(path) == 0)
                continue;
            if (errno == ENOENT)
                break;
            snprintf(err, err_len, "cannot remove the stale %s: %s", path, strerror(errno));
            return -1;
        }
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
    const char *name = variants_style_name(style);
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
        const uint8_t *digit = images->pixels + (size_t)idx * MNIST_SIDE * MNIST_SIDE;
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
        image original = {MNIST_SIDE, MNIST_SIDE, 1, (uint8_t *)digit};
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
    return remove_stale_pictures(out_dir, name, count, err, err_len);
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
    if (!images || !labels || images->rows != MNIST_SIDE || images->cols != MNIST_SIDE ||
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
    for (int s = 0; rc == 0 && s < variants_style_count(); s++)
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
            print_usage();
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
           count * variants_style_count(), variants_style_count(), count, out_dir, out_dir);
    return 0;
}
