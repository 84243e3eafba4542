/* train.h -- mini-batch training of the MLP: backprop, Adam and SGD.
 *
 * One struct per concern: a dataset (images + labels), a train_config (the
 * hyper-parameters), and a trainer (the model being trained plus gradients,
 * optimiser state, activation buffers and a thread team). Work inside a step
 * is split across threads by output columns or rows, never by samples, so
 * every float is computed in the same order whatever the thread count: the
 * same seed gives the same model bit for bit.
 */
#ifndef DIGITS_TRAIN_H
#define DIGITS_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "rng.h"

typedef struct {
    const uint8_t *pixels;     /* count * 784 bytes, 0 = background */
    const uint8_t *labels;     /* count digits */
    int count;
} dataset;

typedef enum { OPTIMIZER_ADAM, OPTIMIZER_SGD } optimizer_kind;
typedef enum { LR_CONSTANT, LR_COSINE } lr_schedule_kind;

typedef struct {
    optimizer_kind optimizer;
    float learning_rate;       /* Adam 0.001, SGD 0.01 (Keras' defaults) */
    float beta1, beta2, epsilon;  /* Adam: 0.9, 0.999, 1e-7 as in Keras */
    float momentum;            /* SGD: 0.9 */
    lr_schedule_kind lr_schedule;  /* constant (Keras' default) or cosine */
    float lr_min_fraction;     /* cosine: the final rate, as a fraction of the first */
    float dropout;             /* probability of dropping a hidden unit, 0 = off */
    int batch;                 /* 32 */
    int epochs;
    uint64_t seed;
    int threads;
} train_config;

/* Fills cfg with Keras' defaults for the given optimiser. */
void train_config_defaults(train_config *cfg, optimizer_kind optimizer);

typedef struct {
    int epoch;                 /* 1-based */
    double seconds;            /* wall time of the epoch */
    double loss, accuracy;     /* training, averaged over the epoch */
    int has_validation;
    double val_loss, val_accuracy;
} epoch_stats;

typedef struct {
    /* Called by the training thread every few steps (not every step). */
    void (*on_progress)(void *ctx, int epoch, int step, int steps, double loss,
                        double accuracy, double elapsed);
    void (*on_epoch_end)(void *ctx, const epoch_stats *stats);
    void *ctx;
    /* When set, supplies each epoch's training images (fresh augmentations);
     * labels and count must match the dataset given to trainer_fit(). */
    const dataset *(*epoch_data)(void *data_ctx, int epoch);
    void *data_ctx;
} train_callbacks;

typedef struct {
    int confusion[10][10];     /* [true][predicted] */
    int total, correct;
    double loss;               /* mean cross-entropy */
    double accuracy;
} eval_result;

typedef struct trainer trainer;

/* He initial weights (uniform, variance 2 / fan_in), zero biases. */
void init_weights_he(model *m, rng *r);

/* The model must outlive the trainer; its parameters are trained in place. */
trainer *trainer_create(model *m, const train_config *cfg, char *err, size_t err_len);
void trainer_destroy(trainer *t);

/* Trains for cfg->epochs epochs on train, reporting on val when it is not
 * NULL. history receives one entry per epoch when not NULL. Returns 0. */
int trainer_fit(trainer *t, const dataset *train, const dataset *val,
                const train_callbacks *cb, epoch_stats *history);

/* One forward + backward pass over samples [first, first + count) of data
 * (count <= batch): gradients into trainer_gradients(), returns mean loss. */
double trainer_batch_gradients(trainer *t, const dataset *data, const uint32_t *order,
                               int count);
const float *trainer_gradients(const trainer *t);
/* One optimiser step with the current gradients. */
void trainer_apply_update(trainer *t);

/* Test-set style evaluation with threads. Returns 0 or -1 (out of memory). */
int evaluate_model(const model *m, const dataset *data, int threads, eval_result *out);

#endif
