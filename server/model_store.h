/* model_store.h -- the model being served, swappable while requests run.
 *
 * A request takes a reference to the current model for its whole life and
 * drops it at the end; SIGHUP loads and validates a new file off to the side
 * and swaps the pointer under a short lock. A request therefore always sees
 * one whole model, never half of an old one, and the old model is freed by
 * whichever request drops the last reference. A file that fails to load or
 * validate never replaces a good model.
 */
#ifndef DIGITS_MODEL_STORE_H
#define DIGITS_MODEL_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "mlp.h"
#include "model.h"
#include "preprocess.h"

#define SERVED_MODEL_ID_MAX 128

typedef struct {
    model m;
    atomic_int refs;
    char id[SERVED_MODEL_ID_MAX + 1];     /* meta "id", or one computed from the weights */
    char arch[64];                        /* "784-128-10" */
    bool has_test_accuracy;
    double test_accuracy;                 /* meta "test_accuracy", 0..1 */
    size_t scratch_floats;                /* what mlp_predict() needs */
    mlp_weights weights;                  /* what the forward pass reads (points into m) */
    /* How user images are prepared for this model: the model was trained on
     * inputs made one way and must be served inputs made the same way. */
    preprocess_options preprocess;
    double loaded_at;                     /* Unix seconds */
} served_model;

typedef struct {
    pthread_mutex_t lock;
    served_model *current;                /* NULL before the first load */
    mlp_weights_format weights;           /* for every model this store loads */
} model_store;

int model_store_init(model_store *s, mlp_weights_format weights);
/* Drops the store's reference; models still held by requests live on until
 * released. */
void model_store_destroy(model_store *s);

/* Loads path, prepares its weights in the given format and checks that it
 * can serve MNIST digits (28x28 input, 10 classes, finite outputs, an input
 * pipeline this build has). Returns 0 with *out holding one reference, or
 * -1 with a message. */
int served_model_load(const char *path, mlp_weights_format weights, served_model **out,
                      char *err, size_t err_len);

/* Loads path and, only if it is good, makes it current. Returns 0, or -1 with
 * a message and the previous model still current. */
int model_store_load(model_store *s, const char *path, char *err, size_t err_len);

/* Makes m current, taking over the caller's reference. */
void model_store_set(model_store *s, served_model *m);

/* A new reference to the current model, or NULL when none is loaded. */
served_model *model_store_acquire(model_store *s);
void served_model_release(served_model *m);

#endif
