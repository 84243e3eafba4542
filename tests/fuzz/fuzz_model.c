/* fuzz_model.c -- libFuzzer target: the model file loader (model_parse, and
 * model_parse_in_place as model_load uses it, which must agree), the
 * first thing the server does with a file from outside and the thing SIGHUP
 * does while requests run.
 *
 * The format ends in a SHA-256 of everything before it, which a fuzzer
 * cannot forge, so each input is parsed twice: as it is (exercising the
 * magic, version, length and checksum checks) and with a correct checksum
 * appended (so that mutations reach the field-by-field parser behind it).
 * The corpus therefore holds model files without their last 32 bytes.
 *
 * Properties: a model that parses has a consistent shape (sizes, parameter
 * count, layer pointers inside the parameter buffer, finite parameters,
 * NUL-terminated metadata), survives a forward pass when it takes 28x28
 * input, and frees cleanly; a refusal always comes with a message.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "model.h"
#include "sha256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The VNNI and portable int8 loops give the same bits (where the CPU has
 * VNNI and int8 can hold the model). Huge weights can overflow to Inf and
 * NaN in both; NaN payloads are not compared. */
static void check_int8_paths_agree(const model *m, const uint8_t *probe, float *scratch)
{
    if (!mlp_kernel_available(MLP_KERNEL_INT8_DOT))
        return;
    mlp_weights fast, portable;
    if (mlp_weights_init_kernel(&fast, m, MLP_WEIGHTS_INT8, MLP_KERNEL_INT8_DOT) != 0)
        return;
    if (mlp_weights_init_kernel(&portable, m, MLP_WEIGHTS_INT8, MLP_KERNEL_PORTABLE) != 0) {
        mlp_weights_free(&fast);
        return;
    }
    int classes = m->sizes[m->n_layers];
    float *a = malloc((size_t)classes * sizeof *a), *b = malloc((size_t)classes * sizeof *b);
    if (a && b) {
        int da = mlp_predict_with(&fast, probe, a, scratch);
        int db = mlp_predict_with(&portable, probe, b, scratch);
        if (da != db)
            abort();
        for (int c = 0; c < classes; c++)   /* same bits, or both NaN */
            if (memcmp(&a[c], &b[c], sizeof a[c]) != 0 && !(isnan(a[c]) && isnan(b[c])))
                abort();
    }
    free(a);
    free(b);
    mlp_weights_free(&fast);
    mlp_weights_free(&portable);
}

static void check_model(const model *m)
{
    if (m->n_layers < 1 || m->n_layers > MODEL_MAX_LAYERS)
        abort();
    size_t params = 0;
    for (int l = 0; l < m->n_layers; l++) {
        if (m->sizes[l] < 1 || m->sizes[l] > MODEL_MAX_WIDTH)
            abort();
        if (m->W[l] != m->params + params)
            abort();
        params += (size_t)m->sizes[l] * (size_t)m->sizes[l + 1];
        if (m->b[l] != m->params + params)
            abort();
        params += (size_t)m->sizes[l + 1];
    }
    if (params != m->n_params || params > MODEL_MAX_PARAMS)
        abort();
    for (size_t i = 0; i < m->n_params; i++)
        if (!isfinite(m->params[i]))
            abort();
    if ((long long)m->input_width * m->input_height != m->sizes[0])
        abort();
    for (int i = 0; i < m->n_meta; i++) {
        if (!m->meta[i].value || strlen(m->meta[i].key) > MODEL_MAX_META_KEY ||
            strlen(m->meta[i].value) > MODEL_MAX_META_VALUE)
            abort();
        if (model_get_meta(m, m->meta[i].key) == NULL)
            abort();
    }
    char arch[128];
    model_arch_string(m, arch, sizeof arch);

    if (m->sizes[0] == 784 && m->n_params <= 1u << 20) {
        /* The server's trial run: it must not crash, whatever the weights. */
        float *scratch = malloc((mlp_scratch_floats(m) + 1) * sizeof(float));
        float *probs = malloc((size_t)m->sizes[m->n_layers] * sizeof(float));
        uint8_t probe[784];
        for (int i = 0; i < 784; i++)
            probe[i] = (uint8_t)((i * 37) & 0xFF);
        if (scratch && probs) {
            int d = mlp_predict(m, probe, probs, scratch);
            if (d < 0 || d >= m->sizes[m->n_layers])
                abort();
            /* ...and with every weights format the server may hold (its
             * default, auto, is one of these): quantising hostile weights
             * must not crash either, and the two int8 loops agree. */
            const mlp_weights_format formats[] = {MLP_WEIGHTS_BF16, MLP_WEIGHTS_INT8,
                                                  MLP_WEIGHTS_AUTO};
            for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
                mlp_weights w;
                if (mlp_weights_init(&w, m, formats[f]) != 0)
                    continue;   /* out of memory: allowed */
                d = mlp_predict_with(&w, probe, probs, scratch);
                if (d < 0 || d >= m->sizes[m->n_layers])
                    abort();
                mlp_weights_free(&w);
            }
            check_int8_paths_agree(m, probe, scratch);
        }
        free(scratch);
        free(probs);
    }
}

/* model_load's way: the parameters decoded into the buffer itself, which
 * the model then owns. It must agree with model_parse bit for bit. */
static void check_in_place_agrees(const uint8_t *buf, size_t len, const model *parsed)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, buf, len);
    model m;
    char err[512] = "";
    if (model_parse_in_place(&m, copy, len, err, sizeof err) != 0) {
        free(copy);   /* still the caller's */
        if (parsed || err[0] == '\0')
            abort();
        return;
    }
    if (!parsed || m.n_params != parsed->n_params ||
        memcmp(m.params, parsed->params, m.n_params * sizeof(float)) != 0)
        abort();
    model_free(&m);
}

static void parse_one(const uint8_t *buf, size_t len)
{
    model m;
    char err[512] = "";
    if (model_parse(&m, buf, len, err, sizeof err) == 0) {
        check_model(&m);
        check_in_place_agrees(buf, len, &m);
        model_free(&m);
    } else if (err[0] == '\0') {
        abort();   /* every refusal says why */
    } else {
        check_in_place_agrees(buf, len, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_one(data, size);

    uint8_t *buf = malloc(size + 32);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);
    sha256(data, size, buf + size);
    parse_one(buf, size + 32);
    free(buf);
    return 0;
}
