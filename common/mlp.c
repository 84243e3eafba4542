/* mlp.c -- dense-layer kernels and the single-image forward pass.
 *
 * The kernels are plain loops written so the compiler vectorises the inner
 * one (contiguous floats, restrict pointers, -O3 -march=native): no BLAS,
 * because the distribution's OpenBLAS does not know this CPU and falls back
 * to slow generic kernels, and because skipping zero inputs (~80% of MNIST
 * pixels) beats any dense GEMM at these sizes. See README "Speed".
 */
#include "mlp.h"

#include "kernel_bf16dot.h"
#include "kernel_int8dot.h"

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

/* y = bias + x W for one sample. Zero inputs (most pixels, most ReLU
 * outputs) are skipped; the others are taken four rows of W at a time, so y
 * is loaded and stored once per four rows instead of once per row and four
 * streams of weights are in flight at once (1.25x faster on the shipped
 * model). The sums round a little differently from the batched kernel's
 * (by ~1e-6 in a probability), never enough to change a prediction on the
 * MNIST test set; check_core holds that. */
#define LIVE_CHUNK 256

/* The indices k0 <= k < k1 with x[k] != 0, in order. Branch-free: a branch
 * on "is this input zero" mispredicts constantly. */
static int live_inputs(const float *x, int k0, int k1, int *live)
{
    int count = 0;
    for (int k = k0; k < k1; k++) {
        live[count] = k;
        count += x[k] != 0.0f;
    }
    return count;
}

static void dense_forward_one(const float *x, int K, const float *W, const float *bias, int N,
                              float *restrict y)
{
    memcpy(y, bias, sizeof(float) * (size_t)N);
    int live[LIVE_CHUNK];
    for (int k0 = 0; k0 < K; k0 += LIVE_CHUNK) {
        int count = live_inputs(x, k0, K - k0 < LIVE_CHUNK ? K : k0 + LIVE_CHUNK, live);
        int j = 0;
        for (; j + 4 <= count; j += 4) {
            const float *restrict w0 = W + (size_t)live[j] * N;
            const float *restrict w1 = W + (size_t)live[j + 1] * N;
            const float *restrict w2 = W + (size_t)live[j + 2] * N;
            const float *restrict w3 = W + (size_t)live[j + 3] * N;
            float x0 = x[live[j]], x1 = x[live[j + 1]], x2 = x[live[j + 2]], x3 = x[live[j + 3]];
            for (int n = 0; n < N; n++)
                y[n] += x0 * w0[n] + x1 * w1[n] + x2 * w2[n] + x3 * w3[n];
        }
        for (; j < count; j++) {
            const float *restrict w = W + (size_t)live[j] * N;
            float xk = x[live[j]];
            for (int n = 0; n < N; n++)
                y[n] += xk * w[n];
        }
    }
}

/* The same with bfloat16 weights: a bf16 is the top half of a float, so
 * widening is a shift, which the compiler vectorises with the FMAs. */
static inline float bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void dense_forward_one_bf16(const float *x, int K, const uint16_t *W, const float *bias,
                                   int N, float *restrict y)
{
    memcpy(y, bias, sizeof(float) * (size_t)N);
    int live[LIVE_CHUNK];
    for (int k0 = 0; k0 < K; k0 += LIVE_CHUNK) {
        int count = live_inputs(x, k0, K - k0 < LIVE_CHUNK ? K : k0 + LIVE_CHUNK, live);
        int j = 0;
        for (; j + 4 <= count; j += 4) {
            const uint16_t *restrict w0 = W + (size_t)live[j] * N;
            const uint16_t *restrict w1 = W + (size_t)live[j + 1] * N;
            const uint16_t *restrict w2 = W + (size_t)live[j + 2] * N;
            const uint16_t *restrict w3 = W + (size_t)live[j + 3] * N;
            float x0 = x[live[j]], x1 = x[live[j + 1]], x2 = x[live[j + 2]], x3 = x[live[j + 3]];
            for (int n = 0; n < N; n++)
                y[n] += x0 * bf16_to_float(w0[n]) + x1 * bf16_to_float(w1[n]) +
                        x2 * bf16_to_float(w2[n]) + x3 * bf16_to_float(w3[n]);
        }
        for (; j < count; j++) {
            const uint16_t *restrict w = W + (size_t)live[j] * N;
            float xk = x[live[j]];
            for (int n = 0; n < N; n++)
                y[n] += xk * bf16_to_float(w[n]);
        }
    }
}

/* Round to nearest, ties to even, as hardware conversions do; NaN stays NaN
 * (the carry could otherwise turn it into infinity). */
static uint16_t float_to_bf16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu))
        return (uint16_t)((bits >> 16) | 0x0040u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

int mlp_weights_format_from_name(const char *name, mlp_weights_format *format)
{
    if (strcmp(name, "f32") == 0)
        *format = MLP_WEIGHTS_F32;
    else if (strcmp(name, "bf16") == 0)
        *format = MLP_WEIGHTS_BF16;
    else if (strcmp(name, "int8") == 0)
        *format = MLP_WEIGHTS_INT8;
    else if (strcmp(name, "auto") == 0)
        *format = MLP_WEIGHTS_AUTO;
    else
        return -1;
    return 0;
}

const char *mlp_weights_format_name(mlp_weights_format format)
{
    switch (format) {
    case MLP_WEIGHTS_BF16: return "bf16";
    case MLP_WEIGHTS_INT8: return "int8";
    case MLP_WEIGHTS_AUTO: return "auto";
    default: return "f32";
    }
}

const char *mlp_kernel_name(mlp_kernel kernel)
{
    switch (kernel) {
    case MLP_KERNEL_BF16_DOT: return "avx512-bf16";
    case MLP_KERNEL_INT8_DOT: return "avx512-vnni";
    default: return "portable";
    }
}

int mlp_kernel_available(mlp_kernel kernel)
{
    switch (kernel) {
    case MLP_KERNEL_PORTABLE: return 1;
    case MLP_KERNEL_BF16_DOT: return bf16dot_available();
    case MLP_KERNEL_INT8_DOT: return int8dot_available();
    }
    return 0;
}

static size_t weight_count(const model *m)
{
    size_t total = 0;
    for (int l = 0; l < m->n_layers; l++)
        total += (size_t)m->sizes[l] * (size_t)m->sizes[l + 1];
    return total;
}

static int init_bf16(mlp_weights *w, const model *m)
{
    w->bf16_store = malloc(weight_count(m) * sizeof *w->bf16_store);
    if (!w->bf16_store)
        return -1;
    uint16_t *at = w->bf16_store;
    for (int l = 0; l < m->n_layers; l++) {
        size_t n = (size_t)m->sizes[l] * (size_t)m->sizes[l + 1];
        for (size_t i = 0; i < n; i++)
            at[i] = float_to_bf16(m->W[l][i]);
        w->bf16_W[l] = at;
        at += n;
    }
    return 0;
}

/* One scale per output column (its largest weight maps to +-127), so a
 * column of small weights keeps its precision next to one of large. q's
 * rows are INT8DOT_ROW_BYTES(N) apart; the padding is left as it is. */
static void quantise_layer(const float *W, int K, int N, int8_t *q, float *scale)
{
    const size_t stride = INT8DOT_ROW_BYTES(N);
    for (int n = 0; n < N; n++)
        scale[n] = 0.0f;
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) {
            float a = fabsf(W[(size_t)k * N + n]);
            scale[n] = a > scale[n] ? a : scale[n];
        }
    for (int n = 0; n < N; n++)
        scale[n] /= 127.0f;
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) {
            long v = scale[n] > 0.0f ? lrintf(W[(size_t)k * N + n] / scale[n]) : 0;
            q[(size_t)k * stride + n] = (int8_t)(v < -127 ? -127 : (v > 127 ? 127 : v));
        }
}

int mlp_int8_can_hold(const model *m)
{
    /* The byte inputs are unsigned: pixel * scale + offset must not go below 0. */
    if (!(m->input_scale >= 0.0f && m->input_offset >= 0.0f))
        return 0;
    for (int l = 0; l + 1 < m->n_layers; l++)
        if (m->sizes[l] > INT8DOT_MAX_INPUTS)
            return 0;
    return 1;
}

/* Every layer but the last: see mlp.h. */
static int init_int8(mlp_weights *w, const model *m)
{
    if (!mlp_int8_can_hold(m))
        return -1;
    size_t bytes = 0, columns = 0;
    for (int l = 0; l + 1 < m->n_layers; l++) {
        bytes += (size_t)m->sizes[l] * INT8DOT_ROW_BYTES(m->sizes[l + 1]);
        columns += (size_t)m->sizes[l + 1];
    }
    if (m->n_layers < 2)
        return 0;   /* a single layer is the output layer: float */
    /* On a cache line, as the rows' padding assumes; zeroed so that the
     * padding is defined. bytes is a multiple of 64, as aligned_alloc wants. */
    w->int8_store = aligned_alloc(64, bytes);
    if (w->int8_store)
        memset(w->int8_store, 0, bytes);
    w->scale_store = malloc(columns * sizeof *w->scale_store);
    if (!w->int8_store || !w->scale_store)
        return -1;
    int8_t *q = w->int8_store;
    float *scale = w->scale_store;
    for (int l = 0; l + 1 < m->n_layers; l++) {
        int K = m->sizes[l], N = m->sizes[l + 1];
        quantise_layer(m->W[l], K, N, q, scale);
        w->int8_W[l] = q;
        w->int8_scale[l] = scale;
        q += (size_t)K * INT8DOT_ROW_BYTES(N);
        scale += N;
    }
    return 0;
}

int mlp_weights_init_kernel(mlp_weights *w, const model *m, mlp_weights_format format,
                            mlp_kernel kernel)
{
    memset(w, 0, sizeof *w);
    if (format == MLP_WEIGHTS_AUTO)
        return -1;
    if (format == MLP_WEIGHTS_F32 || (format == MLP_WEIGHTS_INT8 && m->n_layers < 2))
        kernel = MLP_KERNEL_PORTABLE;   /* float weights have one kernel */
    if ((kernel == MLP_KERNEL_BF16_DOT && format != MLP_WEIGHTS_BF16) ||
        (kernel == MLP_KERNEL_INT8_DOT && format != MLP_WEIGHTS_INT8) ||
        !mlp_kernel_available(kernel))
        return -1;
    w->m = m;
    w->format = format;
    w->kernel = kernel;
    int rc = 0;
    if (format == MLP_WEIGHTS_BF16)
        rc = init_bf16(w, m);
    else if (format == MLP_WEIGHTS_INT8)
        rc = init_int8(w, m);
    if (rc != 0)
        mlp_weights_free(w);
    return rc;
}

int mlp_weights_init(mlp_weights *w, const model *m, mlp_weights_format format)
{
    if (format == MLP_WEIGHTS_AUTO) {
        if (mlp_kernel_available(MLP_KERNEL_INT8_DOT) && mlp_int8_can_hold(m))
            format = MLP_WEIGHTS_INT8;
        else if (mlp_kernel_available(MLP_KERNEL_BF16_DOT))
            format = MLP_WEIGHTS_BF16;
        else
            format = MLP_WEIGHTS_F32;
    }
    if (format == MLP_WEIGHTS_INT8 && !mlp_int8_can_hold(m))
        format = MLP_WEIGHTS_BF16;
    mlp_kernel best = MLP_KERNEL_PORTABLE;
    if (format == MLP_WEIGHTS_BF16 && mlp_kernel_available(MLP_KERNEL_BF16_DOT))
        best = MLP_KERNEL_BF16_DOT;
    else if (format == MLP_WEIGHTS_INT8 && mlp_kernel_available(MLP_KERNEL_INT8_DOT))
        best = MLP_KERNEL_INT8_DOT;
    return mlp_weights_init_kernel(w, m, format, best);
}

void mlp_weights_free(mlp_weights *w)
{
    free(w->bf16_store);
    free(w->int8_store);
    free(w->scale_store);
    memset(w, 0, sizeof *w);
}

int mlp_predict_with(const mlp_weights *w, const uint8_t *pixels, float *probs, float *scratch)
{
    const model *m = w->m;
    float *in = scratch, *out = scratch + widest_layer(m);
    mlp_normalise_input(m, pixels, in);
    for (int l = 0; l < m->n_layers; l++) {
        int K = m->sizes[l], N = m->sizes[l + 1];
        if (w->format == MLP_WEIGHTS_INT8 && w->int8_W[l])
            int8dot_forward_one(in, K, w->int8_W[l], w->int8_scale[l], m->b[l], N, out,
                                w->kernel == MLP_KERNEL_INT8_DOT);
        else if (w->format == MLP_WEIGHTS_INT8)   /* the output layer, in float */
            int8dot_output_layer(in, K, m->W[l], m->b[l], N, out,
                                 w->kernel == MLP_KERNEL_INT8_DOT);
        else if (w->kernel == MLP_KERNEL_BF16_DOT)   /* only ever with bf16 weights */
            bf16dot_forward_one(in, K, w->bf16_W[l], m->b[l], N, out);
        else if (w->format == MLP_WEIGHTS_BF16)
            dense_forward_one_bf16(in, K, w->bf16_W[l], m->b[l], N, out);
        else
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

int mlp_predict(const model *m, const uint8_t *pixels, float *probs, float *scratch)
{
    mlp_weights w = {.m = m, .format = MLP_WEIGHTS_F32};
    return mlp_predict_with(&w, pixels, probs, scratch);
}
