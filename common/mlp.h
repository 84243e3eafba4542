/* mlp.h -- the forward pass and the dense-layer kernels behind it.
 *
 * One implementation serves the trainer (batched, split across threads) and
 * the server (one image at a time). Activations are row-major [B x N]
 * matrices of floats, one row per sample. The kernels that multiply by W
 * read the layer input as a sparse_batch, grouped by input index, because a
 * weight row then meets every sample of the batch while it is in cache, and
 * because inputs that are exactly zero (about 80% of MNIST pixels, about
 * half the ReLU outputs) cost nothing.
 *
 * Every kernel computes a disjoint slice of its output ([n0, n1) columns or
 * [k0, k1) rows) in a fixed order, so a layer split across threads gives the
 * same bits as a layer computed by one.
 */
#ifndef DIGITS_MLP_H
#define DIGITS_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Floats of scratch space mlp_predict() needs for this model. */
size_t mlp_scratch_floats(const model *m);

/* Classifies one 28x28 image (pixels 0..255, 0 = background): fills
 * probs[sizes[n_layers]] with softmax probabilities and returns the argmax.
 * The model is only read, so many threads may share it. */
int mlp_predict(const model *m, const uint8_t *pixels, float *probs, float *scratch);

/* The weights a forward pass reads. Serving one image at a time is bound
 * by reading weights from memory (the shipped model's second layer alone is
 * 4 MB of floats), so the server may hold them in fewer bytes:
 *  - BF16 rounds each to bfloat16 (a float's sign, exponent and top 7
 *    mantissa bits): half the bytes, sums still in float. On the shipped
 *    model this changes probabilities by < 0.01, no answer on
 *    ../shared/realdigits, and at most a couple of the 10000 MNIST test
 *    answers (check_core holds it to five).
 *  - INT8 stores each weight as a signed byte with one scale per output
 *    column, and rounds each layer's inputs per image to 0..255 in units of
 *    their maximum / 255; sums are exact in int32 (kernel_int8dot.h). A
 *    quarter of the float bytes. The output layer (0.5% of the shipped
 *    model's weights, and the one that decides the answer) stays float:
 *    in int8 too it cost two more MNIST test answers to save ~0.3 us. Needs
 *    inputs that cannot be negative (the model's input normalisation must
 *    map 0..255 to values >= 0).
 */
/* AUTO asks mlp_weights_init() for the fastest this CPU runs: INT8 with
 * AVX512-VNNI, else BF16 with AVX512-BF16, else F32 (without those
 * instructions the portable INT8 and BF16 loops are slower than float:
 * 1.7-1.8x and 1.5x in an x86-64-v2 build, as the container image has). */
typedef enum {
    MLP_WEIGHTS_F32,
    MLP_WEIGHTS_BF16,
    MLP_WEIGHTS_INT8,
    MLP_WEIGHTS_AUTO,
} mlp_weights_format;

/* How the weights are multiplied. PORTABLE is plain C the compiler
 * vectorises (for bf16: each weight widened to float and multiplied by the
 * float input). BF16_DOT rounds the layer's inputs to bf16 as well and uses
 * the CPU's bf16 dot-product instruction (AVX512-BF16, sums in float32),
 * which does the same work in about half the instructions. INT8_DOT uses
 * AVX512-VNNI's byte dot product for int8 weights (same sums as PORTABLE,
 * bit for bit). Each exists only where the CPU has it. */
typedef enum { MLP_KERNEL_PORTABLE, MLP_KERNEL_BF16_DOT, MLP_KERNEL_INT8_DOT } mlp_kernel;

typedef struct {
    const model *m;                           /* sizes, biases, normalisation; and W for f32 */
    mlp_weights_format format;
    mlp_kernel kernel;                        /* PORTABLE, or the one matching format */
    const uint16_t *bf16_W[MODEL_MAX_LAYERS]; /* BF16: each W[l] rounded, into bf16_store */
    uint16_t *bf16_store;
    const int8_t *int8_W[MODEL_MAX_LAYERS];   /* INT8: W[l] as bytes, rows INT8DOT_ROW_BYTES(N)
                                                 apart (NULL for the output layer) */
    const float *int8_scale[MODEL_MAX_LAYERS];/* INT8: W[l]'s scale per output column */
    int8_t *int8_store;
    float *scale_store;
} mlp_weights;

/* "f32", "bf16", "int8" or "auto"; -1 for anything else. */
int mlp_weights_format_from_name(const char *name, mlp_weights_format *format);
const char *mlp_weights_format_name(mlp_weights_format format);

/* "portable", "avx512-bf16" or "avx512-vnni". */
const char *mlp_kernel_name(mlp_kernel kernel);
/* 1 when this CPU can run the kernel. */
int mlp_kernel_available(mlp_kernel kernel);

/* 1 when INT8 can hold m: its inputs cannot be negative and no layer but
 * the last has more than INT8DOT_MAX_INPUTS inputs. */
int mlp_int8_can_hold(const model *m);

/* Prepares m's weights in the given format (AUTO: see above), with the
 * fastest kernel this CPU has for it; m must outlive w. INT8 for a model it
 * cannot hold gives BF16 instead; w->format and w->kernel say what was
 * chosen. Returns 0, or -1 when memory runs out. */
int mlp_weights_init(mlp_weights *w, const model *m, mlp_weights_format format);
/* The same with a chosen format (not AUTO) and kernel, nothing substituted
 * (tests and benchmarks compare them); -1 also when the CPU lacks the
 * kernel, it is for another format, or INT8 cannot hold m. F32 always gets
 * PORTABLE, and so does an INT8 model with no hidden layer (its one layer
 * stays float). */
int mlp_weights_init_kernel(mlp_weights *w, const model *m, mlp_weights_format format,
                            mlp_kernel kernel);
void mlp_weights_free(mlp_weights *w);

/* mlp_predict() with the weights in w's format. */
int mlp_predict_with(const mlp_weights *w, const uint8_t *pixels, float *probs, float *scratch);

/* Maps raw pixels to network inputs with the model's input normalisation. */
void mlp_normalise_input(const model *m, const uint8_t *pixels, float *x);

/* A batch of layer inputs stored by input index, zeros left out: column k
 * lists the samples whose input k is non-zero, with their values, in
 * sample[k * B + j] / value[k * B + j] for j < count[k]. Walking a column
 * touches one weight row for the whole batch and takes no data-dependent
 * branch (a branch on "is this pixel zero" mispredicts constantly). */
#define SPARSE_BATCH_MAX 4096

typedef struct {
    int B, K;               /* samples (<= SPARSE_BATCH_MAX), inputs */
    int capacity;           /* samples the buffers were sized for */
    int *count;             /* K */
    uint16_t *sample;       /* K * capacity */
    float *value;           /* K * capacity */
} sparse_batch;

int sparse_batch_alloc(sparse_batch *s, int K, int capacity);
void sparse_batch_free(sparse_batch *s);
/* Rebuilds column k from B values src[0], src[stride], src[2 * stride]... */
void sparse_batch_set_column(sparse_batch *s, int k, const float *src, size_t stride);

/* Y[b][n] = bias[n] + sum_k X[b][k] * W[k][n], for columns n0 <= n < n1. */
void dense_forward_cols(const sparse_batch *X, const float *W, const float *bias,
                        int N, int n0, int n1, float *Y);

/* dW[k][n] = sum_b X[b][k] * dY[b][n] and db[n] = sum_b dY[b][n], for
 * columns n0 <= n < n1 (dW and db are overwritten, not accumulated). */
void dense_weight_grad_cols(const sparse_batch *X, const float *dY, int N,
                            int n0, int n1, float *dW, float *db);

/* dX[b][k] = sum_n dY[b][n] * W[k][n], for rows k0 <= k < k1 of W. When
 * X (the layer's input, a ReLU output) is not NULL, entries where X[b][k] is
 * not positive are set to 0 without being computed: the ReLU would zero
 * them, and they are most of the work. */
void dense_input_grad_rows(const float *dY, int B, int N, const float *W, int K,
                           int k0, int k1, const float *X, float *dX);

/* In place over columns [n0, n1) of a [B x N] matrix. */
void relu_forward_cols(float *Y, int B, int N, int n0, int n1);

/* Row-wise softmax in place, numerically stable. */
void softmax_rows(float *Y, int B, int N);

/* The index of the largest of n values (first one on ties). */
int argmax(const float *v, int n);

#endif
