/* model_store.c -- refcounted model holder with validation and atomic swap. */
#include "model_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlp.h"
#include "preprocess.h"

#define N_CLASSES 10

int model_store_init(model_store *s, mlp_weights_format weights)
{
    s->current = NULL;
    s->weights = weights;
    return pthread_mutex_init(&s->lock, NULL) == 0 ? 0 : -1;
}

void model_store_destroy(model_store *s)
{
    pthread_mutex_lock(&s->lock);
    served_model *old = s->current;
    s->current = NULL;
    pthread_mutex_unlock(&s->lock);
    if (old)
        served_model_release(old);
    pthread_mutex_destroy(&s->lock);
}

/* FNV-1a over the architecture and parameters: a stable id for model files
 * that carry none, so two different files never share one. */
static void compute_id(const served_model *sm, char *out, size_t out_len)
{
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)sm->arch;
    for (; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    p = (const unsigned char *)sm->m.params;
    for (size_t i = 0; i < sm->m.n_params * sizeof(float); i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    snprintf(out, out_len, "mlp-%s-%016llx", sm->arch, (unsigned long long)h);
}

/* A metadata id is shown in JSON and as a Prometheus label; both escape it,
 * but a printable, bounded one keeps dashboards and logs readable. */
static bool usable_id(const char *id)
{
    if (!id || !*id || strlen(id) > SERVED_MODEL_ID_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (*p < 0x20 || *p == 0x7F)
            return false;
    return true;
}

static bool parse_accuracy(const char *text, double *out)
{
    if (!text || !*text)
        return false;
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(v) || v < 0.0 || v > 1.0)
        return false;
    *out = v;
    return true;
}

/* The checks model_parse cannot make because they are about serving: the
 * preprocessing hands over 28x28 pixels and the answer has 10 digits. */
static int check_servable(served_model *sm, char *err, size_t err_len)
{
    const model *m = &sm->m;
    if (m->n_layers < 1) {
        snprintf(err, err_len, "model has no layers");
        return -1;
    }
    if (m->input_width != MNIST_SIDE || m->input_height != MNIST_SIDE ||
        m->sizes[0] != MNIST_PIXELS) {
        snprintf(err, err_len, "model expects %dx%d input (%d values); the server gives 28x28",
                 m->input_width, m->input_height, m->sizes[0]);
        return -1;
    }
    if (m->sizes[m->n_layers] != N_CLASSES) {
        snprintf(err, err_len, "model has %d outputs; a digit classifier needs 10",
                 m->sizes[m->n_layers]);
        return -1;
    }
    if (m->activation != MODEL_ACT_RELU) {
        snprintf(err, err_len, "model uses unknown activation %d", m->activation);
        return -1;
    }
    /* A trial run catches weights that load fine but produce NaN (a diverged
     * training run), which would otherwise surface as null probabilities. */
    sm->scratch_floats = mlp_scratch_floats(m);
    float *scratch = malloc((sm->scratch_floats ? sm->scratch_floats : 1) * sizeof(float));
    if (!scratch) {
        snprintf(err, err_len, "out of memory for the trial forward pass");
        return -1;
    }
    uint8_t probe[MNIST_PIXELS];
    for (int i = 0; i < MNIST_PIXELS; i++)
        probe[i] = (uint8_t)((i * 37) & 0xFF);   /* any non-trivial input */
    float probs[N_CLASSES];
    int digit = mlp_predict_with(&sm->weights, probe, probs, scratch);
    free(scratch);
    double sum = 0;
    for (int i = 0; i < N_CLASSES; i++) {
        if (!isfinite(probs[i])) {
            snprintf(err, err_len, "model produces non-finite outputs (NaN or Inf weights?)");
            return -1;
        }
        sum += probs[i];
    }
    if (digit < 0 || digit >= N_CLASSES || fabs(sum - 1.0) > 1e-3) {
        snprintf(err, err_len, "model's outputs are not a probability distribution");
        return -1;
    }
    return 0;
}

/* The model's "input_pipeline" metadata names the preprocessing it was
 * trained behind. A name this build does not know is refused rather than
 * served with the wrong inputs, which would only show as quietly worse
 * answers. */
static int choose_pipeline(served_model *sm, char *err, size_t err_len)
{
    const char *name = model_get_meta(&sm->m, "input_pipeline");
    if (preprocess_options_from_name(name, &sm->preprocess) != 0) {
        snprintf(err, err_len, "model needs input pipeline '%.64s', which this server does not have",
                 name);
        return -1;
    }
    return 0;
}

static void served_model_free(served_model *sm)
{
    mlp_weights_free(&sm->weights);
    model_free(&sm->m);
    free(sm);
}

int served_model_load(const char *path, mlp_weights_format weights, served_model **out,
                      char *err, size_t err_len)
{
    *out = NULL;
    served_model *sm = calloc(1, sizeof *sm);
    if (!sm) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    char why[512] = "";
    if (model_load(&sm->m, path, why, sizeof why) != 0) {
        /* model_load's messages already name the file. */
        snprintf(err, err_len, "%s", why[0] ? why : "cannot load the model");
        free(sm);
        return -1;
    }
    model_arch_string(&sm->m, sm->arch, sizeof sm->arch);
    if (mlp_weights_init(&sm->weights, &sm->m, weights) != 0) {
        snprintf(err, err_len, "%s: out of memory for the weights (--weights %s)", path,
                 mlp_weights_format_name(weights));
        served_model_free(sm);
        return -1;
    }
    if (check_servable(sm, why, sizeof why) != 0 || choose_pipeline(sm, why, sizeof why) != 0) {
        snprintf(err, err_len, "%s: %s", path, why);
        served_model_free(sm);
        return -1;
    }
    const char *id = model_get_meta(&sm->m, "id");
    if (usable_id(id))
        snprintf(sm->id, sizeof sm->id, "%s", id);
    else
        compute_id(sm, sm->id, sizeof sm->id);
    sm->has_test_accuracy =
        parse_accuracy(model_get_meta(&sm->m, "test_accuracy"), &sm->test_accuracy);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sm->loaded_at = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    atomic_init(&sm->refs, 1);
    *out = sm;
    return 0;
}

void model_store_set(model_store *s, served_model *m)
{
    pthread_mutex_lock(&s->lock);
    served_model *old = s->current;
    s->current = m;
    pthread_mutex_unlock(&s->lock);
    if (old)
        served_model_release(old);
}

int model_store_load(model_store *s, const char *path, char *err, size_t err_len)
{
    served_model *sm;
    if (served_model_load(path, s->weights, &sm, err, err_len) != 0)
        return -1;
    model_store_set(s, sm);
    return 0;
}

served_model *model_store_acquire(model_store *s)
{
    /* The lock makes "read the pointer, take a reference" one step, so a swap
     * cannot free the model in between. It is held for two instructions. */
    pthread_mutex_lock(&s->lock);
    served_model *m = s->current;
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&s->lock);
    return m;
}

void served_model_release(served_model *m)
{
    if (!m)
        return;
    /* acq_rel: the freeing thread must see every other holder's reads done. */
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        served_model_free(m);
}
