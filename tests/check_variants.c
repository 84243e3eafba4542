/* check_variants.c -- tests for the user-style variant generator and the
 * predict command's argument handling.
 *
 * The variants are a measuring instrument: the realworld test's floors are
 * only meaningful if each style really is what its name says (layout, size,
 * polarity), if a seed reproduces the same bytes, and if a smaller --count
 * is a prefix of a larger one. A hand-drawn digit is enough for most of
 * that; the set writer needs MNIST's test files (DIGITS_DATA, default
 * data/mnist) and is skipped with a message when they are absent.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idx.h"
#include "image.h"
#include "png_io.h"
#include "preprocess.h"
#include "../trainer/predict.h"
#include "../trainer/variants.h"

static const char *data_dir(void)
{
    const char *d = getenv("DIGITS_DATA");
    return d ? d : "data/mnist";
}

static const char *model_path(void)
{
    const char *m = getenv("DIGITS_MODEL");
    return m ? m : "models/mnist-mlp.bin";
}

/* A "0": an anti-aliased ring, MNIST-style white on black, 20 px tall. */
static void draw_ring(uint8_t d[784])
{
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            double dx = (x - 13.5) / 6.0, dy = (y - 13.5) / 9.0;
            double r = dx * dx + dy * dy;
            double v = 1.0 - fabs(r - 0.75) * 3.0;
            d[y * 28 + x] = (uint8_t)(v <= 0 ? 0 : (v >= 1 ? 255 : v * 255));
        }
}

static uint8_t *render(int style, uint64_t seed, size_t *len)
{
    uint8_t digit[784], *png = NULL;
    char err[256];
    draw_ring(digit);
    int rc = variants_render_png(style, digit, seed, &png, len, err, sizeof err);
    ck_assert_msg(rc == 0, "%s: %s", variants_style_name(style), err);
    ck_assert_ptr_nonnull(png);
    return png;
}

/* IHDR fields straight from the bytes: what a decoder will be handed. */
typedef struct {
    unsigned w, h, depth, color, interlace;
} ihdr;

static ihdr read_ihdr(const uint8_t *png, size_t len)
{
    ck_assert_uint_ge(len, 33);
    ck_assert(memcmp(png + 12, "IHDR", 4) == 0);
    ihdr h;
    h.w = (unsigned)png[16] << 24 | (unsigned)png[17] << 16 | (unsigned)png[18] << 8 | png[19];
    h.h = (unsigned)png[20] << 24 | (unsigned)png[21] << 16 | (unsigned)png[22] << 8 | png[23];
    h.depth = png[24];
    h.color = png[25];
    h.interlace = png[28];
    return h;
}

START_TEST(test_style_names)
{
    ck_assert_int_eq(variants_style_count(), 10);
    const char *want[] = {"ink-on-paper", "thin-pen",     "thick-marker", "off-centre",
                          "canvas-rgba",  "coloured-ink", "paper-photo",  "chalkboard",
                          "notebook-page", "photo-edges"};
    for (int s = 0; s < 10; s++) {
        ck_assert_str_eq(variants_style_name(s), want[s]);
        ck_assert_int_eq(variants_style_find(want[s]), s);
    }
    ck_assert_ptr_null(variants_style_name(10));
    ck_assert_ptr_null(variants_style_name(-1));
    ck_assert_int_eq(variants_style_find("nope"), -1);
}
END_TEST

/* Each style's PNG layout and size, as documented, over several seeds. */
START_TEST(test_layouts_and_sizes)
{
    /* colour type, bit depth: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA */
    const struct { unsigned color, depth, min_side, max_side, square; } want[] = {
        {0, 8, 84, 196, 1},     /* ink-on-paper */
        {2, 8, 112, 112, 1},    /* thin-pen */
        {0, 16, 128, 128, 1},   /* thick-marker */
        {3, 4, 300, 300, 1},    /* off-centre */
        {6, 8, 280, 280, 1},    /* canvas-rgba */
        {2, 16, 100, 200, 1},   /* coloured-ink */
        {99, 8, 160, 256, 1},   /* paper-photo: grey+alpha or Adam7 RGB */
        {2, 8, 120, 200, 1},    /* chalkboard */
        {2, 8, 240, 320, 0},    /* notebook-page */
        {98, 8, 280, 320, 0},   /* photo-edges: grey (a scan) or RGB, 320 x 280 */
    };
    int photo_ga = 0, photo_rgb = 0, edges_grey = 0, edges_rgb = 0;
    for (int s = 0; s < 10; s++)
        for (uint64_t seed = 1; seed <= 12; seed++) {
            size_t len;
            uint8_t *png = render(s, seed, &len);
            ihdr h = read_ihdr(png, len);
            if (want[s].square)
                ck_assert_uint_eq(h.w, h.h);
            ck_assert_uint_ge(h.w, want[s].min_side);
            ck_assert_uint_le(h.w, want[s].max_side);
            ck_assert_uint_ge(h.h, want[s].min_side);
            ck_assert_uint_le(h.h, want[s].max_side);
            ck_assert_uint_eq(h.depth, want[s].depth);
            if (want[s].color == 98) {
                ck_assert(h.color == 0 || h.color == 2);
                edges_grey += h.color == 0;
                edges_rgb += h.color == 2;
            } else if (want[s].color == 99) {
                ck_assert(h.color == 4 || h.color == 2);
                ck_assert_uint_eq(h.interlace, h.color == 2 ? 1u : 0u);
                photo_ga += h.color == 4;
                photo_rgb += h.color == 2;
            } else {
                ck_assert_uint_eq(h.color, want[s].color);
                ck_assert_uint_eq(h.interlace, 0);
            }
            free(png);
        }
    ck_assert_int_gt(photo_ga, 0);
    ck_assert_int_gt(photo_rgb, 0);
    ck_assert_int_gt(edges_grey, 0);
    ck_assert_int_gt(edges_rgb, 0);
}
END_TEST

START_TEST(test_same_seed_same_bytes)
{
    for (int s = 0; s < variants_style_count(); s++) {
        size_t a_len, b_len, c_len;
        uint8_t *a = render(s, 42, &a_len);
        uint8_t *b = render(s, 42, &b_len);
        uint8_t *c = render(s, 43, &c_len);
        ck_assert_uint_eq(a_len, b_len);
        ck_assert(memcmp(a, b, a_len) == 0);
        ck_assert_msg(a_len != c_len || memcmp(a, c, a_len) != 0, "%s ignores the seed",
                      variants_style_name(s));
        free(a);
        free(b);
        free(c);
    }
}
END_TEST

/* Every style decodes, and the server's preprocessing finds the digit with
 * the polarity the style promises: dark on light except the chalkboard
 * (and the transparent canvas, which is dark ink once put on paper). */
START_TEST(test_decodes_and_preprocesses)
{
    for (int s = 0; s < variants_style_count(); s++)
        for (uint64_t seed = 1; seed <= 4; seed++) {
            size_t len;
            uint8_t *png = render(s, seed, &len);
            image img;
            char detail[200];
            ck_assert_int_eq(png_decode_rgba(png, len, 0, &img, detail, sizeof detail), PNG_IO_OK);
            free(png);
            if (s == variants_style_find("canvas-rgba")) {
                /* An HTML-canvas export: untouched pixels transparent black. */
                ck_assert_uint_eq(img.pixels[0] | img.pixels[1] | img.pixels[2] | img.pixels[3], 0);
            }
            uint8_t out[MNIST_PIXELS];
            preprocess_info info;
            preprocess_status st = preprocess_to_mnist(&img, out, &info);
            ck_assert_msg(st == PREPROCESS_OK, "%s seed %d: %s", variants_style_name(s),
                          (int)seed, preprocess_status_text(st));
            int chalk = s == variants_style_find("chalkboard");
            ck_assert_msg(info.inverted == !chalk, "%s: inverted %d", variants_style_name(s),
                          info.inverted);
            image_free(&img);
        }
}
END_TEST

/* Number of 8-connected pieces of ink (ink: red channel under 128; both
 * pens draw in grey), or of paper when ink is 0, in a decoded RGBA picture,
 * with how many such pixels there are in all and in the right half. */
static int pieces(const image *img, int ink, int *total, int *right)
{
    int w = img->width, h = img->height, found = 0;
    int *stack = malloc((size_t)w * (size_t)h * sizeof *stack);
    uint8_t *seen = calloc((size_t)w * (size_t)h, 1);
    ck_assert(stack && seen);
    *total = *right = 0;
    for (int start = 0; start < w * h; start++) {
        if (seen[start] || (img->pixels[(size_t)start * 4] < 128) != ink)
            continue;
        found++;
        int top = 0;
        stack[top++] = start;
        seen[start] = 1;
        while (top > 0) {
            int i = stack[--top], x = i % w, y = i / w;
            (*total)++;
            *right += x >= w / 2;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy, j = ny * w + nx;
                    if (nx < 0 || ny < 0 || nx >= w || ny >= h || seen[j] ||
                        (img->pixels[(size_t)j * 4] < 128) != ink)
                        continue;
                    seen[j] = 1;
                    stack[top++] = j;
                }
        }
    }
    free(stack);
    free(seen);
    return found;
}

/* A pen draws along the whole path the writer took, joined up: a ring
 * whose right half is faint (45% ink at most, as where MNIST's pen barely
 * touched) must come out of the thin pen as one thin closed stroke and of
 * the marker as one closed fat one, not as a "C" or in pieces. The styles
 * once thresholded at 50-60% first; thin-pen then thinned by erosion
 * alone, which cut 2.6% of MNIST's test digits into dashes. */
START_TEST(test_pens_keep_strokes_joined)
{
    uint8_t digit[784];
    int source_ink = 0;
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            double dx = (x - 13.5) / 6.0, dy = (y - 13.5) / 9.0;
            double v = 1.0 - fabs(dx * dx + dy * dy - 0.75) * 2.0;
            source_ink += v >= 0.5;   /* the ring's area, were it all at full strength */
            v *= x >= 14 ? 0.45 : 1.0;
            digit[y * 28 + x] = (uint8_t)(v <= 0 ? 0 : v * 255);
        }
    const char *pens[] = {"thin-pen", "thick-marker"};
    for (int p = 0; p < 2; p++)
        for (uint64_t seed = 1; seed <= 4; seed++) {
            uint8_t *png = NULL;
            size_t len;
            char err[256];
            ck_assert_int_eq(variants_render_png(variants_style_find(pens[p]), digit, seed, &png,
                                                 &len, err, sizeof err),
                             0);
            image img;
            char detail[200];
            ck_assert_int_eq(png_decode_rgba(png, len, 0, &img, detail, sizeof detail),
                             PNG_IO_OK);
            free(png);
            int ink, ink_right, paper, paper_right;
            ck_assert_msg(pieces(&img, 1, &ink, &ink_right) == 1, "%s seed %d", pens[p],
                          (int)seed);
            /* closed: the paper outside and the hole inside, nothing else */
            ck_assert_msg(pieces(&img, 0, &paper, &paper_right) == 2, "%s seed %d: not closed",
                          pens[p], (int)seed);
            ck_assert_msg(ink_right > ink / 3, "%s seed %d: right half %d of %d", pens[p],
                          (int)seed, ink_right, ink);
            /* Drawn at 4x: the thin pen's strokes are thinner than the
             * source's at that scale, the marker's fatter. */
            if (p == 0)
                ck_assert_int_lt(ink, source_ink * 16 * 3 / 4);
            else
                ck_assert_int_gt(ink, source_ink * 16);
            image_free(&img);
        }
}
END_TEST

START_TEST(test_render_rejects_bad_input)
{
    uint8_t blank[784] = {0}, digit[784], *png = (uint8_t *)1;
    size_t len = 1;
    char err[128];
    draw_ring(digit);
    ck_assert_int_eq(variants_render_png(0, blank, 1, &png, &len, err, sizeof err), -1);
    ck_assert_ptr_null(png);
    ck_assert_int_eq(variants_render_png(-1, digit, 1, &png, &len, err, sizeof err), -1);
    ck_assert_int_eq(variants_render_png(10, digit, 1, &png, &len, err, sizeof err), -1);
}
END_TEST

/* ---- the set writer, on MNIST's test files ------------------------------ */

static int load_test_set(mnist_data *data)
{
    char err[512];
    if (mnist_load(data_dir(), 0, data, err, sizeof err) != 0) {
        printf("SKIPPED: MNIST not found (%s); the variant-set checks did not run\n", err);
        return -1;
    }
    return 0;
}

static void make_temp_dir(char *path, size_t len)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, len, "%s/check_variants.XXXXXX", tmp);
    ck_assert_ptr_nonnull(mkdtemp(path));
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The file's bytes with a NUL after them (read_file_bounded adds none), so
 * that text can be parsed with the string functions. */
static char *slurp(const char *path, size_t *len)
{
    uint8_t *data;
    char err[256];
    ck_assert_msg(read_file_bounded(path, 64u << 20, &data, len, err, sizeof err) == 0, "%s", err);
    char *text = malloc(*len + 1);
    ck_assert_ptr_nonnull(text);
    memcpy(text, data, *len);
    text[*len] = '\0';
    free(data);
    return text;
}

START_TEST(test_set_is_labelled_and_a_prefix)
{
    mnist_data data;
    if (load_test_set(&data) != 0)
        return;
    char big[512], small[512], err[256];
    make_temp_dir(big, sizeof big);
    make_temp_dir(small, sizeof small);
    ck_assert_msg(variants_write_set(&data.test_images, &data.test_labels, big, 3, 7, err,
                                     sizeof err) == 0, "%s", err);
    ck_assert_msg(variants_write_set(&data.test_images, &data.test_labels, small, 2, 7, err,
                                     sizeof err) == 0, "%s", err);

    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/labels.csv", big);
    char *csv = slurp(path, &len);
    ck_assert(strncmp(csv, "file,label,source,t10k_index\n", 29) == 0);
    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(csv + 29, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char file[256], source[64];
        unsigned label, index;
        ck_assert_int_eq(sscanf(line, "%255[^,],%u,%63[^,],%u", file, &label, source, &index), 4);
        ck_assert_int_ge(variants_style_find(source), 0);
        ck_assert_uint_lt(index, 10000);
        ck_assert_uint_eq(label, data.test_labels.labels[index]);
        /* The file exists, and the smaller set's copy (when it has one) is
         * byte for byte the same. */
        snprintf(path, sizeof path, "%s/%s", big, file);
        size_t a_len;
        char *a = slurp(path, &a_len);
        if (strstr(file, "_0002.png") == NULL) {
            snprintf(path, sizeof path, "%s/%s", small, file);
            size_t b_len;
            char *b = slurp(path, &b_len);
            ck_assert(a_len == b_len && memcmp(a, b, a_len) == 0);
            free(b);
        } else {
            snprintf(path, sizeof path, "%s/%s", small, file);
            ck_assert_int_ne(access(path, F_OK), 0);
        }
        free(a);
        rows++;
    }
    ck_assert_int_eq(rows, 3 * variants_style_count());
    free(csv);

    /* mnist/labels.csv lists the same rows, and each of its files is the
     * MNIST digit itself, 28x28 grey, for the per-style baseline. */
    snprintf(path, sizeof path, "%s/labels.csv", big);
    char *renderings = slurp(path, &len);
    snprintf(path, sizeof path, "%s/mnist/labels.csv", big);
    size_t originals_len;
    char *originals = slurp(path, &originals_len);
    ck_assert(originals_len == len && memcmp(originals, renderings, len) == 0);
    save = NULL;
    rows = 0;
    for (char *line = strtok_r(originals + 29, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char file[256];
        unsigned label, index;
        ck_assert_int_eq(sscanf(line, "%255[^,],%u,%*[^,],%u", file, &label, &index), 3);
        snprintf(path, sizeof path, "%s/mnist/%s", big, file);
        size_t png_len;
        char *png = slurp(path, &png_len);
        image img;
        char detail[200];
        ck_assert_int_eq(png_decode((const uint8_t *)png, png_len, 0, &img, detail, sizeof detail),
                         PNG_IO_OK);
        free(png);
        ck_assert_int_eq(img.width, 28);
        ck_assert_int_eq(img.height, 28);
        ck_assert_int_eq(img.channels, 1);
        ck_assert(memcmp(img.pixels, data.test_images.pixels + (size_t)index * 784, 784) == 0);
        image_free(&img);
        rows++;
    }
    ck_assert_int_eq(rows, 3 * variants_style_count());
    free(renderings);
    free(originals);

    /* Run again into the larger set's folder, the smaller count leaves no
     * picture that its labels.csv does not list, in either folder. */
    ck_assert_msg(variants_write_set(&data.test_images, &data.test_labels, big, 2, 7, err,
                                     sizeof err) == 0, "%s", err);
    for (int st = 0; st < variants_style_count(); st++) {
        const char *name = variants_style_name(st);
        for (int orig = 0; orig < 2; orig++) {
            snprintf(path, sizeof path, orig ? "%s/mnist/%s/%s_0002.png" : "%s/%s/%s_0002.png",
                     big, name, name);
            ck_assert_msg(access(path, F_OK) != 0, "%s survived a smaller run", path);
            snprintf(path, sizeof path, orig ? "%s/mnist/%s/%s_0001.png" : "%s/%s/%s_0001.png",
                     big, name, name);
            ck_assert_msg(access(path, F_OK) == 0, "%s is missing", path);
        }
    }

    /* A link planted where a picture goes is not written through: the run
     * fails, naming the file, and the link's target keeps its bytes. */
    char victim[1024], planted[1024];
    snprintf(victim, sizeof victim, "%s/victim", big);
    FILE *vf = fopen(victim, "w");
    ck_assert_ptr_nonnull(vf);
    fputs("precious", vf);
    fclose(vf);
    snprintf(planted, sizeof planted, "%s/%s/%s_0000.png", small, variants_style_name(0),
             variants_style_name(0));
    ck_assert_int_eq(unlink(planted), 0);
    ck_assert_int_eq(symlink(victim, planted), 0);
    ck_assert_int_eq(variants_write_set(&data.test_images, &data.test_labels, small, 2, 7, err,
                                        sizeof err), -1);
    ck_assert_msg(strstr(err, "_0000.png") != NULL, "%s", err);
    size_t vlen;
    char *vdata = slurp(victim, &vlen);
    ck_assert_msg(vlen == 8 && memcmp(vdata, "precious", 8) == 0, "the link was followed");
    free(vdata);
    remove_tree(big);
    remove_tree(small);
    mnist_free(&data);
}
END_TEST

START_TEST(test_set_rejects_bad_counts)
{
    mnist_data data;
    if (load_test_set(&data) != 0)
        return;
    char dir[512], err[256];
    make_temp_dir(dir, sizeof dir);
    ck_assert_int_eq(variants_write_set(&data.test_images, &data.test_labels, dir, 0, 1, err,
                                        sizeof err), -1);
    ck_assert_int_eq(variants_write_set(&data.test_images, &data.test_labels, dir, 10001, 1, err,
                                        sizeof err), -1);
    char path[600];
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    remove_tree(dir);
    mnist_free(&data);
}
END_TEST

/* ---- the commands' exit codes ------------------------------------------- */

static int run_command(int (*cmd)(int, char **), const char *const *args)
{
    char *argv[16];
    int argc = 0;
    for (; args[argc]; argc++)
        argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    return cmd(argc, argv);
}

START_TEST(test_usage_errors)
{
    const char *no_images[] = {"digits-trainer", "predict", NULL};
    ck_assert_int_eq(run_command(command_predict, no_images), 2);
    const char *bad_pipeline[] = {"digits-trainer", "predict", "--pipeline", "fancy", "x.png",
                                  NULL};
    ck_assert_int_eq(run_command(command_predict, bad_pipeline), 2);
    const char *both[] = {"digits-trainer", "predict", "--labels", "l.csv", "x.png", NULL};
    ck_assert_int_eq(run_command(command_predict, both), 2);
    const char *unknown[] = {"digits-trainer", "predict", "--frobnicate", NULL};
    ck_assert_int_eq(run_command(command_predict, unknown), 2);
    const char *no_value[] = {"digits-trainer", "predict", "x.png", "--model", NULL};
    ck_assert_int_eq(run_command(command_predict, no_value), 2);
    const char *no_out[] = {"digits-trainer", "variants", NULL};
    ck_assert_int_eq(run_command(command_variants, no_out), 2);
    const char *bad_count[] = {"digits-trainer", "variants", "--out", "x", "--count", "0", NULL};
    ck_assert_int_eq(run_command(command_variants, bad_count), 2);
    const char *bad_seed[] = {"digits-trainer", "variants", "--out", "x", "--seed", "-1", NULL};
    ck_assert_int_eq(run_command(command_variants, bad_seed), 2);
}
END_TEST

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

/* Runtime errors: bad files are reported per image and give exit 1 at the
 * end; a broken labels.csv is refused with 1. Needs a model. */
START_TEST(test_runtime_errors)
{
    if (access(model_path(), R_OK) != 0) {
        printf("SKIPPED: no model at %s; the predict runtime checks did not run\n", model_path());
        return;
    }
    char dir[512], good[600], bad[600], csv[600], dump[600];
    make_temp_dir(dir, sizeof dir);
    snprintf(good, sizeof good, "%s/good.png", dir);
    snprintf(bad, sizeof bad, "%s/bad.png", dir);
    snprintf(csv, sizeof csv, "%s/labels.csv", dir);
    snprintf(dump, sizeof dump, "%s/dump", dir);
    size_t len;
    uint8_t *png = render(0, 5, &len);
    FILE *f = fopen(good, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(png, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    free(png);
    write_text(bad, "not a png at all");

    const char *ok[] = {"digits-trainer", "predict", "--model", model_path(), "--dump", dump,
                        good, NULL};
    ck_assert_int_eq(run_command(command_predict, ok), 0);
    char dumped[700];
    snprintf(dumped, sizeof dumped, "%s/good.png", dump);
    ck_assert_int_eq(access(dumped, R_OK), 0);

    const char *mixed[] = {"digits-trainer", "predict", "--model", model_path(), "--json", bad,
                           good, NULL};
    ck_assert_int_eq(run_command(command_predict, mixed), 1);

    write_text(csv, "file,label,source\ngood.png,0,ring\n");
    const char *labels[] = {"digits-trainer", "predict", "--model", model_path(), "--labels", csv,
                            NULL};
    ck_assert_int_eq(run_command(command_predict, labels), 0);
    write_text(csv, "file,label,source\ngood.png,0,ring\nbad.png,1,ring\n");
    ck_assert_int_eq(run_command(command_predict, labels), 1);
    write_text(csv, "name,digit\ngood.png,0\n");
    ck_assert_int_eq(run_command(command_predict, labels), 1);
    write_text(csv, "file,label,source\ngood.png,12,ring\n");
    ck_assert_int_eq(run_command(command_predict, labels), 1);
    write_text(csv, "file,label,source\n/etc/passwd,1,ring\n");
    ck_assert_int_eq(run_command(command_predict, labels), 1);
    write_text(csv, "file,label,source\n\"good.png\",0,ring\n");
    ck_assert_int_eq(run_command(command_predict, labels), 1);
    write_text(csv, "file,label,source\n");
    ck_assert_int_eq(run_command(command_predict, labels), 1);

    const char *no_model[] = {"digits-trainer", "predict", "--model", bad, good, NULL};
    ck_assert_int_eq(run_command(command_predict, no_model), 1);
    remove_tree(dir);
}
END_TEST

static Suite *variants_suite(void)
{
    Suite *s = suite_create("variants");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, test_style_names);
    tcase_add_test(tc, test_layouts_and_sizes);
    tcase_add_test(tc, test_same_seed_same_bytes);
    tcase_add_test(tc, test_decodes_and_preprocesses);
    tcase_add_test(tc, test_pens_keep_strokes_joined);
    tcase_add_test(tc, test_render_rejects_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("set");
    tcase_add_test(tc, test_set_is_labelled_and_a_prefix);
    tcase_add_test(tc, test_set_rejects_bad_counts);
    suite_add_tcase(s, tc);
    tc = tcase_create("commands");
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_runtime_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(variants_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
