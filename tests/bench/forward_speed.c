/* forward_speed.c -- the single-image forward pass (what digits-server runs
 * per upload) timed with each way of holding the weights, side by side in
 * one run, on the 10000 MNIST test digits as the server's preprocessing
 * gives them to the model. Prints microseconds per image (best of ROUNDS,
 * the variants alternating round by round so that other load falls on all
 * alike), speed relative to f32, test accuracy, and how many answers
 * differ from the f32 forward pass.
 *
 *   forward_speed MODEL DATA_DIR [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idx.h"
#include "image.h"
#include "mlp.h"
#include "model.h"
#include "preprocess.h"

typedef struct {
    const char *name;
    mlp_weights w;
    double best_us;
    int correct, differ;
} variant;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The test digits as the server would see them: through the preprocessing
 * the model was trained with. */
static int prepare(const model *m, const idx_images *raw, uint8_t *out)
{
    preprocess_options opts = {0};
    const char *pipeline = model_get_meta(m, "input_pipeline");
    if (pipeline && preprocess_options_from_name(pipeline, &opts) != 0) {
        fprintf(stderr, "forward_speed: unknown input_pipeline %s\n", pipeline);
        return -1;
    }
    for (int i = 0; i < raw->count; i++) {
        image img = {28, 28, 1, raw->pixels + (size_t)i * MNIST_PIXELS};
        uint8_t *dst = out + (size_t)i * MNIST_PIXELS;
        if (preprocess_to_mnist_with(&img, &opts, dst, NULL) != PREPROCESS_OK)
            memcpy(dst, img.pixels, MNIST_PIXELS);   /* blank: the network still runs */
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: forward_speed MODEL DATA_DIR [ROUNDS]\n");
        return 2;
    }
    /* A word where the count belongs (say --help) is a mistake, not 0 rounds. */
    char *end = NULL;
    long asked = argc > 3 ? strtol(argv[3], &end, 10) : 5;
    if (argc > 3 && (end == argv[3] || *end != '\0' || asked < 1 || asked > 1000)) {
        fprintf(stderr, "usage: forward_speed MODEL DATA_DIR [ROUNDS]: ROUNDS is 1 to 1000\n");
        return 2;
    }
    int rounds = (int)asked;
    char err[256];
    model m;
    if (model_load(&m, argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "forward_speed: %s\n", err);
        return 1;
    }
    mnist_data data;
    if (mnist_load(argv[2], 0, &data, err, sizeof err) != 0) {
        fprintf(stderr, "forward_speed: %s\n", err);
        return 1;
    }
    int n = data.test_images.count;
    uint8_t *pixels = malloc((size_t)n * MNIST_PIXELS);
    int *reference = malloc((size_t)n * sizeof *reference);
    float *scratch = malloc(mlp_scratch_floats(&m) * sizeof(float));
    if (!pixels || !reference || !scratch || prepare(&m, &data.test_images, pixels) != 0)
        return 1;

    /* Every format with each kernel this CPU has; f32 first, the reference. */
    static const struct {
        const char *name;
        mlp_weights_format format;
        mlp_kernel kernel;
    } wanted[] = {
        {"f32", MLP_WEIGHTS_F32, MLP_KERNEL_PORTABLE},
        {"bf16, portable kernel", MLP_WEIGHTS_BF16, MLP_KERNEL_PORTABLE},
        {"bf16, avx512-bf16 kernel", MLP_WEIGHTS_BF16, MLP_KERNEL_BF16_DOT},
        {"int8, portable kernel", MLP_WEIGHTS_INT8, MLP_KERNEL_PORTABLE},
        {"int8, avx512-vnni kernel", MLP_WEIGHTS_INT8, MLP_KERNEL_INT8_DOT},
    };
    enum { N_WANTED = sizeof wanted / sizeof wanted[0] };
    variant v[N_WANTED];
    int n_variants = 0;
    for (int i = 0; i < N_WANTED; i++) {
        if (!mlp_kernel_available(wanted[i].kernel)) {
            printf("(this CPU cannot run the %s kernel: not measured)\n",
                   mlp_kernel_name(wanted[i].kernel));
            continue;
        }
        memset(&v[n_variants], 0, sizeof v[n_variants]);
        v[n_variants].name = wanted[i].name;
        if (mlp_weights_init_kernel(&v[n_variants].w, &m, wanted[i].format, wanted[i].kernel)) {
            fprintf(stderr, "forward_speed: cannot prepare %s weights\n", wanted[i].name);
            return 1;
        }
        n_variants++;
    }

    float probs[MODEL_MAX_WIDTH];
    for (int i = 0; i < n; i++)
        reference[i] = mlp_predict_with(&v[0].w, pixels + (size_t)i * MNIST_PIXELS, probs, scratch);
    for (int k = 0; k < n_variants; k++) {
        v[k].best_us = 1e30;
        for (int i = 0; i < n; i++) {
            int d = mlp_predict_with(&v[k].w, pixels + (size_t)i * MNIST_PIXELS, probs, scratch);
            v[k].correct += d == data.test_labels.labels[i];
            v[k].differ += d != reference[i];
        }
    }
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < n_variants; k++) {
            volatile int sink = 0;
            double t0 = now_seconds();
            for (int i = 0; i < n; i++)
                sink += mlp_predict_with(&v[k].w, pixels + (size_t)i * MNIST_PIXELS, probs,
                                         scratch);
            double us = (now_seconds() - t0) * 1e6 / n;
            (void)sink;
            if (us < v[k].best_us)
                v[k].best_us = us;
        }

    printf("model %s (%s), %d MNIST test digits, best of %d rounds\n",
           model_get_meta(&m, "id") ? model_get_meta(&m, "id") : argv[1],
           model_get_meta(&m, "arch") ? model_get_meta(&m, "arch") : "?", n, rounds);
    printf("%-26s %10s %9s %9s %14s\n", "weights", "us/image", "vs f32", "accuracy",
           "differ vs f32");
    for (int k = 0; k < n_variants; k++)
        printf("%-26s %10.2f %8.2fx %8.2f%% %14d\n", v[k].name, v[k].best_us,
               v[0].best_us / v[k].best_us, 100.0 * v[k].correct / n, v[k].differ);
    for (int k = 0; k < n_variants; k++)
        mlp_weights_free(&v[k].w);
    free(scratch);
    free(reference);
    free(pixels);
    mnist_free(&data);
    model_free(&m);
    return 0;
}
