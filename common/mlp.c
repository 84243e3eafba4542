/* mlp.c -- dense-layer kernels and the single-image forward pass.
 *
 * The kernels are plain loops written so the compiler vectorises the inner
 * one (contiguous floats, restrict pointers, -O3 -march=native): no BLAS,
 * because the distribution's OpenBLAS does not know this CPU and falls back
 * to slow generic kernels, and because skipping zero inputs (~80% of MNIST
 * pixels) beats any dense GEMM at these sizes. See README "Speed".
 */
#include "mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sparse_batch_alloc(sparse_batch *s, int K, int capacity)
{
    memset(s, 0, sizeof *s);
    if (K < 1 || capacity < 1 || capacity > SPARSE_BATCH_MAX)
        return -1;
    size_t cells = (size_t)K * (size_t)capacity;
    s->count = calloc((size_t)K, sizeof *s->count);
    s->sample = malloc(cells * sizeof *s->sample);
    s->value = malloc(cells * sizeof *s->value);
    if (!s->count || !s->sample || !s->value) {
        sparse_batch_free(s);
        return -1;
    }
    s->K = K;
    s->capacity = capacity;
    return 0;
}

void sparse_batch_free(sparse_batch *s)
{
    free(s->count);
    free(s->sample);
    free(s->value);
    memset(s, 0, sizeof *s);
}

void sparse_batch_set_column(sparse_batch *s, int k, const float *src, size_t stride)
{
    uint16_t *restrict sample = s->sample + (size_t)k * s->B;
    float *restrict value = s->value + (size_t)k * s->B;
    int used = 0;
    /* Branch-free compaction: always write, advance only past non-zeros. */
    for (int b = 0; b < s->B; b++) {
        float x = src[(size_t)b * stride];
        sample[used] = (uint16_t)b;
        value[used] = x;
        used += x != 0.0f;
    }
    s->count[k] = used;
}

void dense_forward_cols(const sparse_batch *X, const float *W, const float *bias,
                        int N, int n0, int n1, float *Y)
{
    int B = X->B;
    for (int b = 0; b < B; b++)
        memcpy(Y + (size_t)b * N + n0, bias + n0, sizeof(float) * (size_t)(n1 - n0));
    for (int k = 0; k < X->K; k++) {
        const float *restrict w = W + (size_t)k * N;
        const uint16_t *sample = X->sample + (size_t)k * B;
        const float *value = X->value + (size_t)k * B;
        for (int j = 0; j < X->count[k]; j++) {
            float x = value[j];
            float *restrict y = Y + (size_t)sample[j] * N;
            for (int n = n0; n < n1; n++)
                y[n] += x * w[n];
        }
    }
}

void dense_weight_grad_cols(const sparse_batch *X, const float *dY, int N,
                            int n0, int n1, float *dW, float *db)
{
    int B = X->B;
    for (int k = 0; k < X->K; k++) {
        float *restrict g = dW + (size_t)k * N;
        const uint16_t *sample = X->sample + (size_t)k * B;
        const float *value = X->value + (size_t)k * B;
        memset(g + n0, 0, sizeof(float) * (size_t)(n1 - n0));
        for (int j = 0; j < X->count[k]; j++) {
            float x = value[j];
            const float *restrict dy = dY + (size_t)sample[j] * N;
            for (int n = n0; n < n1; n++)
                g[n] += x * dy[n];
        }
    }
    memset(db + n0, 0, sizeof(float) * (size_t)(n1 - n0));
    for (int b = 0; b < B; b++) {
        const float *restrict dy = dY + (size_t)b * N;
        for (int n = n0; n < n1; n++)
            db[n] += dy[n];
    }
}

/* A dot product with 16 partial sums (one AVX-512 vector) combined in a
 * fixed order: vectorisable without -ffast-math and deterministic. (64 sums,
 * for four independent FMA chains, measured slower here: they spill.) */
#define DOT_LANES 16

static float dot(const float *restrict a, const float *restrict b, int n)
{
    float partial[DOT_LANES] = {0};
    int i = 0;
    for (; i + DOT_LANES <= n; i += DOT_LANES)
        for (int j = 0; j < DOT_LANES; j++)
            partial[j] += a[i + j] * b[i + j];
    for (; i < n; i++)
        partial[i % DOT_LANES] += a[i] * b[i];
    for (int width = DOT_LANES / 2; width > 0; width /= 2)
        for (int j = 0; j < width; j++)
            partial[j] += partial[j + width];
    return partial[0];
}

void dense_input_grad_rows(const float *dY, int B, int N, const float *W, int K,
                           int k0, int k1, const float *X, float *dX)
{
    /* k outer: each weight row is read from memory once per batch and stays
     * in L1 for all samples; the batch's dY is small enough for L2. With b
     * outer, a 1000x1000 layer's 4 MB of weights would stream from L3 once
     * per sample. */
    for (int k = k0; k < k1; k++) {
        const float *w = W + (size_t)k * N;
        for (int b = 0; b < B; b++) {
            size_t at = (size_t)b * K + (size_t)k;
            dX[at] = X && !(X[at] > 0.0f) ? 0.0f : dot(dY + (size_t)b * N, w, N);
        }
    }
}

void relu_forward_cols(float *Y, int B, int N, int n0, int n1)
{
    for (int b = 0; b < B; b++) {
        float *restrict y = Y + (size_t)b * N;
        for (int n = n0; n < n1; n++)
            y[n] = y[n] > 0.0f ? y[n] : 0.0f;
    }
}

void softmax_rows(float *Y, int B, int N)
{
    for (int b = 0; b < B; b++) {
        float *y = Y + (size_t)b * N;
        float max = y[0];
        for (int n = 1; n < N; n++)
            max = y[n] > max ? y[n] : max;
        float sum = 0.0f;
        for (int n = 0; n < N; n++) {
            y[n] = expf(y[n] - max);
            sum += y[n];
        }
        float inv = 1.0f / sum;
        for (int n = 0; n < N; n++)
            y[n] *= inv;
    }
}

int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* ---- one image --------------------------------------------------------- */

static int widest_layer(const model *m)
{
    int widest = 0;
    for (int i = 0; i <= m->n_layers; i++)
        widest = m->sizes[i] > widest ? m->sizes[i] : widest;
    return widest;
}

size_t mlp_scratch_floats(const model *m)
{
    return 2 * (size_t)widest_layer(m);
}

void mlp_normalise_input(const model *m, const uint8_t *pixels, float *x)
{
    for (int i = 0; i < m->sizes[0]; i++)
        x[i] = (float)pixels[i] * m->input_scale + m->input_offset;
}

/* y = bias + x W for one sample, skipping zero inputs. */
static void dense_forward_one(const float *x, int K, const float *W, const float *bias, int N,
                              float *y)
{
    memcpy(y, bias, sizeof(float) * (size_t)N);
    for (int k = 0; k < K; k++) {
        if (x[k] == 0.0f)
            continue;
        const float *restrict w = W + (size_t)k * N;
        float xk = x[k];
        for (int n = 0; n < N; n++)
            y[n] += xk * w[n];
    }
}

int mlp_predict(const model *m, const uint8_t *pixels, float *probs, float *scratch)
{
    /* Two buffers alternate as layer input and output. */
    float *in = scratch, *out = scratch + widest_layer(m);
    mlp_normalise_input(m, pixels, in);
    for (int l = 0; l < m->n_layers; l++) {
        int K = m->sizes[l], N = m->sizes[l + 1];
        dense_forward_one(in, K, m->W[l], m->b[l], N, out);
        if (l + 1 < m->n_layers)
            relu_forward_cols(out, 1, N, 0, N);
        float *t = in;
        in = out;
        out = t;
    }
    int classes = m->sizes[m->n_layers];
    softmax_rows(in, 1, classes);
    memcpy(probs, in, sizeof(float) * (size_t)classes);
    return argmax(probs, classes);
}
