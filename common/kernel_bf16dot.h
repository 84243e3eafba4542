/* kernel_bf16dot.h -- one image through a dense layer with the CPU's bf16
 * dot-product instruction (AVX512-BF16), for mlp.c.
 *
 * The weights are the row-major bf16 copy mlp.c keeps for its portable
 * kernel; the layer's inputs are rounded to bf16 here. Zero inputs are
 * skipped, as in mlp.c.
 */
#ifndef DIGITS_KERNEL_BF16DOT_H
#define DIGITS_KERNEL_BF16DOT_H

#include <stdint.h>

/* 1 when this CPU (and this build) can run bf16dot_forward_one. */
int bf16dot_available(void);

/* y[n] = bias[n] + sum_k x[k] * W[k * N + n] for n < N, with x rounded to
 * bf16 (x finite). Only call it when bf16dot_available() said yes. */
void bf16dot_forward_one(const float *x, int K, const uint16_t *W, const float *bias, int N,
                         float *y);

#endif
