/* model_agreement.c -- do differently trained models miss the same digits?
 *
 * Reads every picture once (the MNIST test digits, then each labelled CSV
 * set: header file,label,source; paths relative to the CSV's folder),
 * preprocesses it as the server does and runs every model on it. Prints
 * per source: each model's accuracy, the accuracy of the models'
 * probabilities averaged (an ensemble), and how many pictures all models
 * miss and how many at least one misses. When "all miss" is close to each
 * model's own misses, the models share their errors, and neither another
 * seed nor an ensemble of them reads those pictures.
 *
 *   model_agreement DATA_DIR CSV[,CSV...] MODEL...
 *
 * CSV may be "-" for none. All models must use the same input pipeline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"
#include "image.h"
#include "mlp.h"
#include "model.h"
#include "png_io.h"
#include "preprocess.h"

#define MAX_MODELS 16
#define MAX_SOURCES 64
#define MAX_FILE_BYTES (64u << 20)
#define MAX_PIXELS (4096u * 4096u)

typedef struct {
    char name[48];
    long n, failed, all_miss, any_miss;
    long correct[MAX_MODELS + 1];   /* per model, then the average */
} source_row;

typedef struct {
    int n_models;
    model m[MAX_MODELS];
    mlp_weights w[MAX_MODELS];
    float *scratch;
    preprocess_options opts;
    int n_sources;
    source_row rows[MAX_SOURCES];
} run_state;

static source_row *row_for(run_state *s, const char *name)
{
    for (int i = 0; i < s->n_sources; i++)
        if (strcmp(s->rows[i].name, name) == 0)
            return &s->rows[i];
    if (s->n_sources == MAX_SOURCES)
        return NULL;
    source_row *r = &s->rows[s->n_sources++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

/* Scores one picture; img NULL for one that could not be read. */
static int score(run_state *s, const char *source, const image *img, int label)
{
    source_row *r = row_for(s, source);
    if (!r) {
        fprintf(stderr, "model_agreement: more than %d sources\n", MAX_SOURCES);
        return -1;
    }
    r->n++;
    uint8_t input[MNIST_PIXELS];
    if (!img || preprocess_to_mnist_with(img, &s->opts, input, NULL) != PREPROCESS_OK) {
        r->failed++;
        r->all_miss++;
        r->any_miss++;
        return 0;
    }
    float sum[10] = {0}, probs[10];
    int misses = 0;
    for (int k = 0; k < s->n_models; k++) {
        int digit = mlp_predict_with(&s->w[k], input, probs, s->scratch);
        if (digit == label)
            r->correct[k]++;
        else
            misses++;
        for (int j = 0; j < 10; j++)
            sum[j] += probs[j];
    }
    int best = 0;
    for (int j = 1; j < 10; j++)
        best = sum[j] > sum[best] ? j : best;
    r->correct[s->n_models] += best == label;
    r->all_miss += misses == s->n_models;
    r->any_miss += misses > 0;
    return 0;
}

static int score_csv(run_state *s, const char *csv)
{
    FILE *f = fopen(csv, "r");
    if (!f) {
        fprintf(stderr, "model_agreement: cannot open %s\n", csv);
        return -1;
    }
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", csv);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    char line[4096];
    int rc = fgets(line, sizeof line, f) ? 0 : -1;   /* the header */
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char *save = NULL;
        char *file = strtok_r(line, ",\r\n", &save);
        char *label = strtok_r(NULL, ",\r\n", &save);
        char *source = strtok_r(NULL, ",\r\n", &save);
        if (!file || !label || !source)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        uint8_t *data = NULL;
        size_t len = 0;
        char why[256];
        image img;
        int readable =
            read_file_bounded(path, MAX_FILE_BYTES, &data, &len, why, sizeof why) == 0 &&
            png_decode(data, len, MAX_PIXELS, &img, NULL, 0) == PNG_IO_OK;
        free(data);
        rc = score(s, source, readable ? &img : NULL, atoi(label));
        if (readable)
            image_free(&img);
    }
    fclose(f);
    return rc;
}

static int score_mnist(run_state *s, const char *data_dir)
{
    char path[4096], err[256];
    idx_images images;
    idx_labels labels;
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", data_dir);
    if (idx_read_images(path, &images, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "model_agreement: %s\n", err);
        return -1;
    }
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", data_dir);
    if (idx_read_labels(path, &labels, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "model_agreement: %s\n", err);
        idx_images_free(&images);
        return -1;
    }
    int rc = images.rows == 28 && images.cols == 28 && labels.count == images.count ? 0 : -1;
    for (int i = 0; rc == 0 && i < images.count; i++) {
        image img = {28, 28, 1, images.pixels + (size_t)i * MNIST_PIXELS};
        rc = score(s, "mnist-test", &img, labels.labels[i]);
    }
    idx_images_free(&images);
    idx_labels_free(&labels);
    return rc;
}

static int load_models(run_state *s, char **paths, int n)
{
    char err[256];
    size_t scratch = 0;
    for (int k = 0; k < n; k++) {
        if (model_load(&s->m[k], paths[k], err, sizeof err) != 0) {
            fprintf(stderr, "model_agreement: %s: %s\n", paths[k], err);
            return -1;
        }
        s->n_models = k + 1;
        preprocess_options opts = {0};
        const char *pipeline = model_get_meta(&s->m[k], "input_pipeline");
        if (pipeline && preprocess_options_from_name(pipeline, &opts) != 0) {
            fprintf(stderr, "model_agreement: %s: unknown input_pipeline %s\n", paths[k], pipeline);
            return -1;
        }
        if (k == 0)
            s->opts = opts;
        else if (opts.deskew != s->opts.deskew) {
            fprintf(stderr, "model_agreement: %s: another input pipeline than %s\n", paths[k],
                    paths[0]);
            return -1;
        }
        if (mlp_weights_init(&s->w[k], &s->m[k], MLP_WEIGHTS_AUTO) != 0) {
            fprintf(stderr, "model_agreement: %s: cannot prepare its weights\n", paths[k]);
            return -1;
        }
        size_t need = mlp_scratch_floats(&s->m[k]);
        scratch = need > scratch ? need : scratch;
    }
    s->scratch = malloc(scratch * sizeof(float));
    return s->scratch ? 0 : -1;
}

static void print_table(const run_state *s, char **paths)
{
    for (int k = 0; k < s->n_models; k++)
        printf("m%d  %s (%s)\n", k + 1, paths[k], model_get_meta(&s->m[k], "id") ?
               model_get_meta(&s->m[k], "id") : "no id");
    printf("\n%-16s %6s", "source", "n");
    for (int k = 0; k < s->n_models; k++)
        printf("  %7s%d", "m", k + 1);
    printf("  %8s %9s %9s\n", "average", "all miss", "any miss");
    for (int i = 0; i < s->n_sources; i++) {
        const source_row *r = &s->rows[i];
        printf("%-16s %6ld", r->name, r->n);
        for (int k = 0; k <= s->n_models; k++)
            printf("  %8.2f", 100.0 * (double)r->correct[k] / (double)r->n);
        printf(" %9ld %9ld\n", r->all_miss, r->any_miss);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc - 3 > MAX_MODELS) {
        fprintf(stderr,
                "usage: model_agreement DATA_DIR CSV[,CSV...]|- MODEL... (1 to %d models)\n",
                MAX_MODELS);
        return 2;
    }
    static run_state s;
    int rc = load_models(&s, argv + 3, argc - 3) == 0 && score_mnist(&s, argv[1]) == 0 ? 0 : 1;
    if (rc == 0 && strcmp(argv[2], "-") != 0) {
        char *list = argv[2], *save = NULL;
        for (char *csv = strtok_r(list, ",", &save); rc == 0 && csv;
             csv = strtok_r(NULL, ",", &save))
            rc = score_csv(&s, csv) == 0 ? 0 : 1;
    }
    if (rc == 0)
        print_table(&s, argv + 3);
    for (int k = 0; k < s.n_models; k++) {
        mlp_weights_free(&s.w[k]);
        model_free(&s.m[k]);
    }
    free(s.scratch);
    return rc;
}
