/* check_report.c -- tests for what the trainer shows people: Keras-style
 * progress in both modes, the evaluation as text and JSON, the history CSV,
 * and the two PNG plots (decoded back and looked at pixel by pixel).
 *
 * Everything is synthetic and in memory or under a mkdtemp directory, so the
 * suite needs neither MNIST nor a model and runs in well under a second.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "png_io.h"
#include "../trainer/report.h"

/* The sizes plot_learning_curves and plot_confusion_matrix draw at. */
#define CURVES_W 800
#define CURVES_H 400
#define CM_W 710
#define CM_H 644

static char tmpdir[64];

/* Unchecked fixture: runs in the parent, so the directory is removed even
 * when a test in a forked child fails. */
static void tmpdir_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/check_report-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        abort();
    }
}

static void tmpdir_teardown(void)
{
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tmpdir);
}

static void tmp_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void decode_file(const char *path, image *img)
{
    size_t len;
    char *data = read_all(path, &len);
    char detail[128] = "";
    png_io_status st =
        png_decode_rgba((const uint8_t *)data, len, 0, img, detail, sizeof detail);
    free(data);
    ck_assert_msg(st == PNG_IO_OK, "%s does not decode: %s", path, detail);
    ck_assert_int_eq(img->channels, 4);
}

static const uint8_t *pixel(const image *img, int x, int y)
{
    return img->pixels + ((size_t)y * (size_t)img->width + (size_t)x) * 4;
}

static int distinct_colours(const image *img)
{
    uint8_t *seen = calloc(1u << 21, 1); /* one bit per 24-bit colour */
    ck_assert_ptr_nonnull(seen);
    int n = 0;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            const uint8_t *p = pixel(img, x, y);
            uint32_t c = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
            if (!(seen[c >> 3] & (1u << (c & 7)))) {
                seen[c >> 3] |= (uint8_t)(1u << (c & 7));
                n++;
            }
        }
    free(seen);
    return n;
}

static int count_colour(const image *img, uint8_t r, uint8_t g, uint8_t b)
{
    int n = 0;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            const uint8_t *p = pixel(img, x, y);
            n += p[0] == r && p[1] == g && p[2] == b;
        }
    return n;
}

static double luma(const uint8_t *p)
{
    return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
}

/* Each row sums to 1000; the diagonal sums to 9771 (97.71%). */
static eval_result sample_eval(void)
{
    static const int diag[10] = {990, 985, 975, 970, 980, 960, 978, 970, 983, 980};
    eval_result r;
    memset(&r, 0, sizeof r);
    for (int t = 0; t < 10; t++) {
        int errors = 1000 - diag[t];
        r.confusion[t][t] = diag[t];
        r.confusion[t][(t + 1) % 10] = errors * 2 / 3;
        r.confusion[t][(t + 7) % 10] = errors - errors * 2 / 3;
        r.correct += diag[t];
        r.total += 1000;
    }
    r.accuracy = (double)r.correct / r.total;
    r.loss = 0.0734;
    return r;
}

static epoch_stats stats(int epoch, double seconds, double loss, double acc, int has_val,
                         double val_loss, double val_acc)
{
    epoch_stats s = {.epoch = epoch,
                     .seconds = seconds,
                     .loss = loss,
                     .accuracy = acc,
                     .has_validation = has_val,
                     .val_loss = val_loss,
                     .val_accuracy = val_acc};
    return s;
}

/* ---- history CSV ---------------------------------------------------------- */

START_TEST(test_csv_exact)
{
    epoch_stats h[3] = {stats(1, 1.5, 0.5, 0.85, 1, 0.3, 0.9), stats(2, 1.25, 0.25, 0.95, 0, 0, 0),
                        stats(3, 1.0, 0.125, 0.96875, 1, 0.2, 0.95)};
    char path[128], err[256] = "";
    tmp_path(path, sizeof path, "history.csv");
    ck_assert_int_eq(history_write_csv(path, h, 3, err, sizeof err), 0);
    size_t len;
    char *text = read_all(path, &len);
    ck_assert_str_eq(text, "epoch,seconds,loss,accuracy,val_loss,val_accuracy\n"
                           "1,1.500,0.500000,0.850000,0.300000,0.900000\n"
                           "2,1.250,0.250000,0.950000,,\n"
                           "3,1.000,0.125000,0.968750,0.200000,0.950000\n");
    free(text);
    /* The temporary file (history.csv.tmp.XXXXXX) was renamed, not left. */
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(strncmp(e->d_name, "history.csv.tmp", 15) != 0, "left: %s", e->d_name);
    closedir(d);

    /* Rewriting replaces the old content rather than appending to it. */
    ck_assert_int_eq(history_write_csv(path, h, 0, err, sizeof err), 0);
    text = read_all(path, &len);
    ck_assert_str_eq(text, "epoch,seconds,loss,accuracy,val_loss,val_accuracy\n");
    free(text);
}
END_TEST

START_TEST(test_csv_error_names_path)
{
    epoch_stats h[1] = {stats(1, 1.0, 0.5, 0.8, 0, 0, 0)};
    char path[128], err[256] = "";
    tmp_path(path, sizeof path, "no-such-dir/history.csv");
    ck_assert_int_eq(history_write_csv(path, h, 1, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "no-such-dir/history.csv") != NULL, "err: %s", err);
    ck_assert_int_eq(history_write_csv(path, NULL, 1, NULL, 0), -1);
}
END_TEST

/* ---- evaluation ----------------------------------------------------------- */

static char *capture_json(const eval_result *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    print_evaluation_json(f, r);
    fclose(f);
    return buf;
}

START_TEST(test_json_parses)
{
    eval_result r = sample_eval();
    char *text = capture_json(&r);
    cJSON *root = cJSON_ParseWithOpts(text, NULL, 1);
    ck_assert_msg(root != NULL, "not JSON: %s", text);
    ck_assert(cJSON_IsObject(root));

    cJSON *acc = cJSON_GetObjectItemCaseSensitive(root, "test_accuracy");
    ck_assert(cJSON_IsNumber(acc));
    ck_assert_double_eq_tol(acc->valuedouble, 0.9771, 1e-9);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "test_samples")->valueint, 10000);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "correct")->valueint, 9771);
    ck_assert_double_eq_tol(cJSON_GetObjectItemCaseSensitive(root, "loss")->valuedouble, 0.0734,
                            1e-9);

    cJSON *per = cJSON_GetObjectItemCaseSensitive(root, "per_class_accuracy");
    ck_assert(cJSON_IsArray(per));
    ck_assert_int_eq(cJSON_GetArraySize(per), 10);
    ck_assert_double_eq_tol(cJSON_GetArrayItem(per, 0)->valuedouble, 0.990, 1e-9);
    ck_assert_double_eq_tol(cJSON_GetArrayItem(per, 5)->valuedouble, 0.960, 1e-9);

    cJSON *conf = cJSON_GetObjectItemCaseSensitive(root, "confusion");
    ck_assert(cJSON_IsArray(conf));
    ck_assert_int_eq(cJSON_GetArraySize(conf), 10);
    for (int t = 0; t < 10; t++) {
        cJSON *row = cJSON_GetArrayItem(conf, t);
        ck_assert(cJSON_IsArray(row));
        ck_assert_int_eq(cJSON_GetArraySize(row), 10);
        for (int p = 0; p < 10; p++)
            ck_assert_int_eq(cJSON_GetArrayItem(row, p)->valueint, r.confusion[t][p]);
    }
    cJSON_Delete(root);
    free(text);
}
END_TEST

START_TEST(test_json_degenerate_values_stay_json)
{
    eval_result r = sample_eval();
    for (int p = 0; p < 10; p++)
        r.confusion[4][p] = 0; /* a class with no samples */
    r.loss = NAN;
    char *text = capture_json(&r);
    cJSON *root = cJSON_ParseWithOpts(text, NULL, 1);
    ck_assert_msg(root != NULL, "not JSON: %s", text);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "loss")));
    cJSON *per = cJSON_GetObjectItemCaseSensitive(root, "per_class_accuracy");
    ck_assert(cJSON_IsNull(cJSON_GetArrayItem(per, 4)));
    ck_assert(cJSON_IsNumber(cJSON_GetArrayItem(per, 3)));
    cJSON_Delete(root);
    free(text);
}
END_TEST

START_TEST(test_print_evaluation_text)
{
    eval_result r = sample_eval();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    print_evaluation(f, &r);
    fclose(f);
    const char *head = "test accuracy: 97.71% (9771/10000), loss 0.0734\n";
    ck_assert_msg(strncmp(buf, head, strlen(head)) == 0, "got: %s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "  5:  96.00% (960/1000)\n"));
    ck_assert_ptr_nonnull(strstr(buf, "true\\pred    0    1    2"));
    /* Row 0: 990 on the diagonal, 6 predicted as 1, 4 predicted as 7. */
    ck_assert_ptr_nonnull(strstr(buf, "\n        0  990    6    0    0    0    0    0    4    0    0\n"));
    free(buf);
}
END_TEST

/* ---- plots ---------------------------------------------------------------- */

static void history5(epoch_stats *h, int with_val)
{
    for (int i = 0; i < 5; i++)
        h[i] = stats(i + 1, 2.0, 0.3 / (i + 1), 0.9 + 0.015 * i, with_val, 0.2 - 0.02 * i,
                     0.94 + 0.008 * i);
}

START_TEST(test_curves_png)
{
    epoch_stats h[5];
    history5(h, 1);
    char path[128], err[256] = "";
    tmp_path(path, sizeof path, "curves.png");
    ck_assert_msg(plot_learning_curves(path, h, 5, err, sizeof err) == 0, "%s", err);
    image img;
    decode_file(path, &img);
    ck_assert_int_eq(img.width, CURVES_W);
    ck_assert_int_eq(img.height, CURVES_H);
    ck_assert_int_ge(distinct_colours(&img), 8);
    ck_assert_int_gt(count_colour(&img, 31, 119, 180), 200);  /* train, blue */
    ck_assert_int_gt(count_colour(&img, 255, 127, 14), 200);  /* validation, orange */
    image_free(&img);
}
END_TEST

START_TEST(test_curves_without_validation)
{
    epoch_stats h[5];
    history5(h, 0);
    char path[128], err[256] = "";
    tmp_path(path, sizeof path, "curves-noval.png");
    ck_assert_msg(plot_learning_curves(path, h, 5, err, sizeof err) == 0, "%s", err);
    image img;
    decode_file(path, &img);
    ck_assert_int_gt(count_colour(&img, 31, 119, 180), 200);
    /* Neither a series nor a legend entry for validation. */
    ck_assert_int_eq(count_colour(&img, 255, 127, 14), 0);
    image_free(&img);
}
END_TEST

START_TEST(test_curves_single_epoch_and_bad_values)
{
    char path[128], err[256] = "";
    image img;

    epoch_stats one[1] = {stats(1, 3.0, 0.25, 0.93, 1, 0.12, 0.96)};
    tmp_path(path, sizeof path, "curves-one.png");
    ck_assert_msg(plot_learning_curves(path, one, 1, err, sizeof err) == 0, "%s", err);
    decode_file(path, &img);
    ck_assert_int_eq(img.width, CURVES_W);
    ck_assert_int_gt(count_colour(&img, 31, 119, 180), 50);
    ck_assert_int_gt(count_colour(&img, 255, 127, 14), 50);
    image_free(&img);

    epoch_stats bad[4] = {stats(1, 1, NAN, 0.9, 1, INFINITY, 0.9), stats(2, 1, 0.2, NAN, 1, 0.1, -INFINITY),
                          stats(3, 1, 1e300, 0.95, 1, -1e300, 0.96), stats(4, 1, 0.1, 0.97, 1, 0.1, 0.97)};
    tmp_path(path, sizeof path, "curves-bad.png");
    ck_assert_msg(plot_learning_curves(path, bad, 4, err, sizeof err) == 0, "%s", err);
    decode_file(path, &img);
    ck_assert_int_eq(img.height, CURVES_H);
    image_free(&img);

    epoch_stats nan_only[2] = {stats(1, 1, NAN, NAN, 0, 0, 0), stats(2, 1, NAN, NAN, 0, 0, 0)};
    tmp_path(path, sizeof path, "curves-nan.png");
    ck_assert_msg(plot_learning_curves(path, nan_only, 2, err, sizeof err) == 0, "%s", err);
    tmp_path(path, sizeof path, "curves-empty.png");
    ck_assert_msg(plot_learning_curves(path, NULL, 0, err, sizeof err) == 0, "%s", err);
}
END_TEST

START_TEST(test_plot_errors_name_path)
{
    epoch_stats h[5];
    history5(h, 1);
    eval_result r = sample_eval();
    char path[128], err[256] = "";
    tmp_path(path, sizeof path, "missing/curves.png");
    ck_assert_int_eq(plot_learning_curves(path, h, 5, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "missing/curves.png") != NULL, "err: %s", err);
    tmp_path(path, sizeof path, "missing/confusion.png");
    ck_assert_int_eq(plot_confusion_matrix(path, &r, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "missing/confusion.png") != NULL, "err: %s", err);
    ck_assert_int_eq(plot_learning_curves(path, NULL, 3, err, sizeof err), -1);
}
END_TEST

START_TEST(test_confusion_png)
{
    eval_result r = sample_eval();
    char path[128], err[256] = "";
    tmp_path(path, sizeof path, "confusion.png");
    ck_assert_msg(plot_confusion_matrix(path, &r, err, sizeof err) == 0, "%s", err);
    image img;
    decode_file(path, &img);
    ck_assert_int_eq(img.width, CM_W);
    ck_assert_int_eq(img.height, CM_H);
    ck_assert_int_ge(distinct_colours(&img), 8);

    /* Sample each cell's corner, clear of the centred count. The largest
     * count (990, row 0) is also the largest row fraction. */
    double darkest = 1e9, at_max = 0;
    for (int t = 0; t < 10; t++)
        for (int p = 0; p < 10; p++) {
            int x, y, w, h;
            confusion_cell_rect(t, p, &x, &y, &w, &h);
            ck_assert(x >= 0 && y >= 0 && x + w <= img.width && y + h <= img.height);
            double l = luma(pixel(&img, x + 2, y + 2));
            if (l < darkest)
                darkest = l;
            if (t == 0 && p == 0)
                at_max = l;
            if (r.confusion[t][p] == 0)
                ck_assert_double_gt(l, 250.0); /* empty cells stay white */
        }
    ck_assert_double_eq(at_max, darkest);
    ck_assert_double_lt(darkest, 100.0);
    image_free(&img);

    /* No samples at all: still a picture, not a division by zero. */
    eval_result empty;
    memset(&empty, 0, sizeof empty);
    tmp_path(path, sizeof path, "confusion-empty.png");
    ck_assert_msg(plot_confusion_matrix(path, &empty, err, sizeof err) == 0, "%s", err);
}
END_TEST

/* ---- progress ------------------------------------------------------------- */

/* Two epochs of 1875 steps, reported at every step, as the trainer would on
 * a very slow machine; the second epoch has no validation. */
static char *run_progress(int interactive)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    progress p;
    progress_init(&p, f, 2, interactive);
    const int steps = 1875;
    for (int e = 1; e <= 2; e++) {
        for (int s = 1; s <= steps; s++)
            progress_on_step(&p, e, s, steps, s == 1200 ? 0.2565 : 0.3012,
                             s == 1200 ? 0.9269 : 0.9105, s * (0.25 / steps));
        epoch_stats st = stats(e, 0.25, 0.2565, 0.9269, e == 1, 0.1, 0.97);
        progress_on_epoch_end(&p, &st);
    }
    fclose(f);
    return buf;
}

static int count_substr(const char *s, const char *needle)
{
    int n = 0;
    for (const char *q = strstr(s, needle); q; q = strstr(q + 1, needle))
        n++;
    return n;
}

START_TEST(test_progress_plain)
{
    char *out = run_progress(0);
    ck_assert_ptr_null(strchr(out, '\r'));
    ck_assert_ptr_null(strchr(out, '['));
    ck_assert_msg(strstr(out, "epoch 1/2 step 469/1875 elapsed 0.1s eta 0.2s loss 0.3012 "
                              "accuracy 0.9105\n") == out,
                  "got: %s", out);
    ck_assert_int_eq(count_substr(out, "epoch 1/2 step "), 3);
    ck_assert_int_eq(count_substr(out, "epoch 2/2 step "), 3);
    ck_assert_ptr_nonnull(strstr(out, "\nepoch 1/2 done in 0.25s (133us/step) loss 0.2565 "
                                      "accuracy 0.9269 val_loss 0.1000 val_accuracy 0.9700\n"));
    ck_assert_ptr_nonnull(
        strstr(out, "\nepoch 2/2 done in 0.25s (133us/step) loss 0.2565 accuracy 0.9269\n"));
    ck_assert_int_eq(count_substr(out, "\n"), 8);
    free(out);
}
END_TEST

START_TEST(test_progress_auto_detects_pipe)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    progress p;
    progress_init(&p, f, 3, -1);
    ck_assert_int_eq(p.interactive, 0);
    /* An epoch end with no step reported before it still gives a summary. */
    epoch_stats st = stats(1, 1.5, 0.5, 0.8, 0, 0, 0);
    progress_on_epoch_end(&p, &st);
    fclose(f);
    ck_assert_str_eq(buf, "epoch 1/3 done in 1.50s loss 0.5000 accuracy 0.8000\n");
    free(buf);
}
END_TEST

START_TEST(test_progress_interactive)
{
    char *out = run_progress(1);
    ck_assert_ptr_nonnull(strchr(out, '\r'));
    ck_assert_msg(strncmp(out, "Epoch 1/2\n\r", 11) == 0, "got: %.40s", out);
    ck_assert_ptr_nonnull(strstr(out, "\r1200/1875 [==================>...........] - ETA: 0s - "
                                      "loss: 0.2565 - accuracy: 0.9269"));
    ck_assert_ptr_nonnull(strstr(out, "\r   1/1875 [..............................] - ETA: "));
    ck_assert_ptr_nonnull(strstr(out, "\r1875/1875 [==============================] - 0s "
                                      "133us/step - loss: 0.2565 - accuracy: 0.9269 - val_loss: "
                                      "0.1000 - val_accuracy: 0.9700"));
    ck_assert_ptr_nonnull(strstr(out, "\nEpoch 2/2\n\r"));
    /* Header, bar line, header, bar line: nothing else ends a line. */
    ck_assert_int_eq(count_substr(out, "\n"), 4);
    const char *last = strrchr(out, '\r');
    ck_assert_ptr_null(strstr(last, "val_loss"));
    ck_assert_ptr_nonnull(strstr(last, "accuracy: 0.9269"));
    free(out);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");

    TCase *text = tcase_create("text");
    tcase_add_test(text, test_json_parses);
    tcase_add_test(text, test_json_degenerate_values_stay_json);
    tcase_add_test(text, test_print_evaluation_text);
    tcase_add_test(text, test_progress_plain);
    tcase_add_test(text, test_progress_auto_detects_pipe);
    tcase_add_test(text, test_progress_interactive);
    suite_add_tcase(s, text);

    TCase *files = tcase_create("files");
    tcase_add_unchecked_fixture(files, tmpdir_setup, tmpdir_teardown);
    tcase_add_test(files, test_csv_exact);
    tcase_add_test(files, test_csv_error_names_path);
    tcase_add_test(files, test_curves_png);
    tcase_add_test(files, test_curves_without_validation);
    tcase_add_test(files, test_curves_single_epoch_and_bad_values);
    tcase_add_test(files, test_plot_errors_name_path);
    tcase_add_test(files, test_confusion_png);
    suite_add_tcase(s, files);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(report_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
