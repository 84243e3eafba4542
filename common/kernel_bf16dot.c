/* kernel_bf16dot.c -- AVX512-BF16 dense layer for one image.
 *
 * The portable bf16 kernel in mlp.c spends about six instructions per 32
 * weights (widen, shift, multiply-add, twice). VDPBF16PS multiplies 16
 * pairs of bf16 numbers and adds each pair's two products into a float32
 * lane. Fed a weight row as 16 pairs of adjacent columns and the input as
 * the pair (x, 0), it gives x * W[k][2i] in lane i; fed (0, x), it gives
 * x * W[k][2i + 1]. So one load and two instructions take 32 weights of a
 * row, with the row-major layout and zero-input skipping of the portable
 * kernel (no weight is read twice or for a zero input); the sums come out
 * as even and odd columns and are put back in order once per layer.
 *
 * The sums of a tile of 256 columns live in 16 registers while every
 * non-zero input's row goes by, so weights are the only memory traffic.
 * (Interleaving pairs of rows instead, so that both halves of each pair
 * carry a product, was slower: a pair is read whenever either input is
 * non-zero, and 88% of the hidden inputs are zero.) On the shipped model
 * the forward pass goes from ~11 to ~7 us per image
 * (tests/bench/forward_speed).
 *
 * Compiled with target attributes rather than build flags, so the file
 * builds everywhere and bf16dot_available() tells at run time whether the
 * CPU has the instructions.
 */
#include "kernel_bf16dot.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_BF16DOT_CODE 1
#include <immintrin.h>
#else
#define HAVE_BF16DOT_CODE 0
#endif

#define K_CHUNK 256    /* inputs scanned for zeros at a time */
#define LANES 16
#define BLOCK 32        /* outputs per block: 32 bf16 weights, one load */
#define TILE_BLOCKS 8   /* blocks whose sums stay in registers: 16 of 32 */
#define TILE (TILE_BLOCKS * BLOCK)
#define COLS 1024       /* outputs per pass (4 KB of sums), a multiple of TILE */

#if HAVE_BF16DOT_CODE

int bf16dot_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512bf16");
}

#define TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

/* The first n of 16 (or 32) lanes. */
TARGET static inline __mmask16 first16(int n)
{
    return n >= LANES ? (__mmask16)0xffff : (n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1));
}

TARGET static inline __mmask32 first32(int n)
{
    return n >= BLOCK ? (__mmask32)0xffffffffu
                      : (n <= 0 ? (__mmask32)0 : (__mmask32)((1u << n) - 1));
}

/* Lists the non-zero inputs among x[k0 .. k1): their indices in live[] and
 * their values rounded to bf16 (nearest, ties to even) in value[], as the
 * low half of a 32-bit word. Returns how many. */
TARGET static int pack_live(const float *x, int k0, int k1, int *live, uint32_t *value)
{
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    int count = 0;
    for (int k = k0; k < k1; k += LANES) {
        __m512 v = _mm512_maskz_loadu_ps(first16(k1 - k), x + k);
        __mmask16 nonzero = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        __m512i bits = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v));
        _mm512_mask_compressstoreu_epi32(live + count, nonzero,
                                         _mm512_add_epi32(lane, _mm512_set1_epi32(k)));
        _mm512_mask_compressstoreu_epi32(value + count, nonzero, bits);
        count += __builtin_popcount(nonzero);
    }
    return count;
}

/* Adds the live rows' contribution to one tile of sums: up to TILE_BLOCKS
 * blocks, starting at column c of W (row length N), nb of them, the last
 * block holding `last` columns. The sums stay in registers for the whole
 * walk over the rows, so the only memory traffic is the weights. */
TARGET static void tile_update(const uint16_t *W, int N, int c, int nb, int last, const int *live,
                               const uint32_t *value, int count, float *sums)
{
    __m512 even[TILE_BLOCKS], odd[TILE_BLOCKS];
    __mmask32 mask[TILE_BLOCKS];
#pragma GCC unroll 8
    for (int b = 0; b < TILE_BLOCKS; b++) {
        even[b] = _mm512_loadu_ps(sums + b * BLOCK);
        odd[b] = _mm512_loadu_ps(sums + b * BLOCK + LANES);
        mask[b] = b < nb - 1 ? first32(BLOCK) : (b == nb - 1 ? first32(last) : 0);
    }
    for (int j = 0; j < count; j++) {
        const uint16_t *row = W + (size_t)live[j] * (size_t)N + (size_t)c;
        __m512bh lo = (__m512bh)_mm512_set1_epi32((int)value[j]);
        __m512bh hi = (__m512bh)_mm512_set1_epi32((int)(value[j] << 16));
#pragma GCC unroll 8
        for (int b = 0; b < TILE_BLOCKS; b++) {
            if (b < nb) {
                __m512bh w = (__m512bh)_mm512_maskz_loadu_epi16(mask[b], row + b * BLOCK);
                even[b] = _mm512_dpbf16_ps(even[b], lo, w);
                odd[b] = _mm512_dpbf16_ps(odd[b], hi, w);
            }
        }
    }
#pragma GCC unroll 8
    for (int b = 0; b < TILE_BLOCKS; b++) {
        _mm512_storeu_ps(sums + b * BLOCK, even[b]);
        _mm512_storeu_ps(sums + b * BLOCK + LANES, odd[b]);
    }
}

/* Columns [c0, c0 + nc) of y, nc <= COLS. */
TARGET static void forward_columns(const float *x, int K, const uint16_t *W, const float *bias,
                                   int N, int c0, int nc, float *y)
{
    /* One VDPBF16PS against the pair (x, 0) puts x * W[k][2i] in lane i,
     * one against (0, x) puts x * W[k][2i + 1] there: sums[32 b + i] is
     * output c0 + 32 b + 2 i and sums[32 b + 16 + i] output c0 + 32 b + 2 i + 1. */
    float sums[COLS];
    const __m512i even_cols = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6,
                                               4, 2, 0);
    const __m512i odd_cols = _mm512_add_epi32(even_cols, _mm512_set1_epi32(1));
    int blocks = (nc + BLOCK - 1) / BLOCK;
    for (int b = 0; b < blocks; b++) {
        int n = b * BLOCK;
        __m512 lo = _mm512_maskz_loadu_ps(first16(nc - n), bias + c0 + n);
        __m512 hi = _mm512_maskz_loadu_ps(first16(nc - n - LANES), bias + c0 + n + LANES);
        _mm512_storeu_ps(sums + n, _mm512_permutex2var_ps(lo, even_cols, hi));
        _mm512_storeu_ps(sums + n + LANES, _mm512_permutex2var_ps(lo, odd_cols, hi));
    }
    for (int n = blocks * BLOCK; n < (blocks + TILE_BLOCKS) * BLOCK && n < COLS; n++)
        sums[n] = 0.0f;   /* a last tile's unused blocks, never stored to y */

    int live[K_CHUNK];
    uint32_t value[K_CHUNK];
    for (int k0 = 0; k0 < K; k0 += K_CHUNK) {
        int count = pack_live(x, k0, K - k0 < K_CHUNK ? K : k0 + K_CHUNK, live, value);
        for (int t = 0; t < nc; t += TILE) {
            int cols = nc - t < TILE ? nc - t : TILE;
            int nb = (cols + BLOCK - 1) / BLOCK;
            tile_update(W, N, c0 + t, nb, cols - (nb - 1) * BLOCK, live, value, count, sums + t);
        }
    }

    /* Back to column order. */
    const __m512i first = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i second =
        _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int b = 0; b < blocks; b++) {
        int n = b * BLOCK;
        __m512 even = _mm512_loadu_ps(sums + n), odd = _mm512_loadu_ps(sums + n + LANES);
        _mm512_mask_storeu_ps(y + c0 + n, first16(nc - n),
                              _mm512_permutex2var_ps(even, first, odd));
        _mm512_mask_storeu_ps(y + c0 + n + LANES, first16(nc - n - LANES),
                              _mm512_permutex2var_ps(even, second, odd));
    }
}

TARGET void bf16dot_forward_one(const float *x, int K, const uint16_t *W, const float *bias,
                                int N, float *y)
{
    for (int c0 = 0; c0 < N; c0 += COLS)
        forward_columns(x, K, W, bias, N, c0, N - c0 < COLS ? N - c0 : COLS, y);
}

#else

int bf16dot_available(void)
{
    return 0;
}

void bf16dot_forward_one(const float *x, int K, const uint16_t *W, const float *bias, int N,
                         float *y)
{
    /* Never called: bf16dot_available() says no. */
    (void)x; (void)K; (void)W; (void)bias; (void)N; (void)y;
}

#endif
