/* kernel_int8dot.h -- a dense layer for one image with 8-bit weights and
 * inputs, on AVX512-VNNI where the CPU has it.
 *
 * The weights of a layer are stored as int8, row-major, each column n with
 * its own scale (W[k][n] ~ q[k][n] * scale[n]); row k starts at q + k *
 * INT8DOT_ROW_BYTES(N), and the bytes past column N - 1 are never read.
 * The layer's inputs, which must not be negative (pixels, ReLU outputs),
 * are rounded per image to 0..255 in units of max(x) / 255. Sums are exact
 * in int32 and scaled back to float once per output.
 */
#ifndef DIGITS_KERNEL_INT8DOT_H
#define DIGITS_KERNEL_INT8DOT_H

#include <stddef.h>
#include <stdint.h>

/* The bytes from one weight row to the next: N rounded up to whole 64-byte
 * cache lines. With the weights' base on a line too, every row starts a
 * line, and the kernel's loads of 64 columns each touch one line, not two
 * (the shipped model's forward pass: 3.8 -> 3.5 us). */
#define INT8DOT_ROW_BYTES(n) ((((size_t)(n)) + 63) & ~(size_t)63)

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
