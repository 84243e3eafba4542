/* kernel_int8dot.h -- a dense layer for one image with 8-bit weights and
 * inputs, on AVX512-VNNI where the CPU has it.
 *
 * The weights of a layer are stored as int8, row-major [K][N], each column n
 * with its own scale (W[k][n] ~ q[k][n] * scale[n]). The layer's inputs,
 * which must not be negative (pixels, ReLU outputs), are rounded per image
 * to 0..255 in units of max(x) / 255. Sums are exact in int32 and scaled
 * back to float once per output.
 */
#ifndef DIGITS_KERNEL_INT8DOT_H
#define DIGITS_KERNEL_INT8DOT_H

#include <stdint.h>

/* Largest K the int32 sums hold without overflow: K * 255 * 127 < 2^31. */
#define INT8DOT_MAX_INPUTS 65000

/* 1 when this CPU has AVX512-VNNI (and the AVX-512 it builds on). */
int int8dot_available(void);

/* y[n] = bias[n] + sum_k x[k] * q[k][n] * scale[n], for n < N, with x
 * rounded as above; x[k] >= 0 and K <= INT8DOT_MAX_INPUTS. `vnni` picks the
 * AVX512-VNNI loop (only when int8dot_available()) or the portable one;
 * both give the same sums bit for bit. */
void int8dot_forward_one(const float *x, int K, const int8_t *q, const float *scale,
                         const float *bias, int N, float *y, int vnni);

/* The output layer, which stays float (see mlp.h): y[n] = bias[n] plus,
 * for each non-zero x[k] in order of k, x[k] * W[k][n] as one fused
 * multiply-add, for n < N (W row-major [K][N]). The AVX-512 loop (vnni
 * set: it runs where the int8 kernel does) finds the non-zero inputs 16 at
 * a time; the portable one gives the same bits. */
void int8dot_output_layer(const float *x, int K, const float *W, const float *bias, int N,
                          float *y, int vnni);

#endif
