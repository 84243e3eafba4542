/* kernel_bf16dot.c -- AVX512-BF16 dense layer for one image.
 *
 * The portable bf16 kernel in mlp.c spends about six instructions per 32
 * weights (widen, shift, multiply-add, twice). VDPBF16PS multiplies 16
 * pairs of bf16 numbers and adds each pair's two products into a float32
 * lane. The kernel takes the non-zero inputs two at a time, a and b:
 * interleaving 32 weights of row a with the same 32 columns of row b
 * (VPUNPCKLWD/HWD) gives pairs (W[a][n], W[b][n]), and against the input
 * pair (x_a, x_b) one instruction adds both rows' products for 16 columns.
 * So two loads, two shuffles and two VDPBF16PS take 64 weights, with the
 * row-major layout and zero-input skipping of the portable kernel (no
 * weight is read twice or for a zero input). The unpacks work within
 * 128-bit lanes, so the sums come out with columns permuted in groups of
 * four; they are put back in order once per layer.
 *
 * The sums of a tile of 256 columns live in 16 registers while every
 * non-zero input's row goes by, so weights are the only memory traffic.
 * (A fixed interleaving of pairs of rows in memory was slower: a pair is
 * read whenever either input is non-zero, and 88% of the hidden inputs are
 * zero. Pairing the live rows as they come costs two shuffles instead.) On
 * the shipped model the forward pass goes from ~11 to ~6.8 us per image
 * (tests/bench/forward_speed); the pairing gained 4% over one row at a
 * time against (x, 0) and (0, x): the loop is bound by reading weights
 * from L3 more than by the multiplies.
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
 * their values rounded to bf16 (nearest, ties to even) in value[], in the
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
    __m512 lo[TILE_BLOCKS], hi[TILE_BLOCKS];
    __mmask32 mask[TILE_BLOCKS];
#pragma GCC unroll 8
    for (int b = 0; b < TILE_BLOCKS; b++) {
        lo[b] = _mm512_loadu_ps(sums + b * BLOCK);
        hi[b] = _mm512_loadu_ps(sums + b * BLOCK + LANES);
        mask[b] = b < nb - 1 ? first32(BLOCK) : (b == nb - 1 ? first32(last) : 0);
    }
    for (int j = 0; j < count; j += 2) {
        const uint16_t *ra = W + (size_t)live[j] * (size_t)N + (size_t)c;
        /* An odd row out is paired with itself and an input of zero. */
        int pj = j + 1 < count ? j + 1 : j;
        const uint16_t *rb = W + (size_t)live[pj] * (size_t)N + (size_t)c;
        uint32_t vb = j + 1 < count ? value[j + 1] : 0u;
        __m512bh xab = (__m512bh)_mm512_set1_epi32((int)(value[j] | (vb << 16)));
#pragma GCC unroll 8
        for (int b = 0; b < TILE_BLOCKS; b++) {
            if (b < nb) {
                __m512i wa = _mm512_maskz_loadu_epi16(mask[b], ra + b * BLOCK);
                __m512i wb = _mm512_maskz_loadu_epi16(mask[b], rb + b * BLOCK);
                lo[b] = _mm512_dpbf16_ps(lo[b], xab, (__m512bh)_mm512_unpacklo_epi16(wa, wb));
                hi[b] = _mm512_dpbf16_ps(hi[b], xab, (__m512bh)_mm512_unpackhi_epi16(wa, wb));
            }
        }
    }
#pragma GCC unroll 8
    for (int b = 0; b < TILE_BLOCKS; b++) {
        _mm512_storeu_ps(sums + b * BLOCK, lo[b]);
        _mm512_storeu_ps(sums + b * BLOCK + LANES, hi[b]);
    }
}

/* Columns [c0, c0 + nc) of y, nc <= COLS. */
TARGET static void forward_columns(const float *x, int K, const uint16_t *W, const float *bias,
                                   int N, int c0, int nc, float *y)
{
    /* VPUNPCKLWD keeps columns 0-3 of each 8-column group of a 128-bit lane,
     * VPUNPCKHWD columns 4-7: with i = 4 q + r, sums[32 b + i] is output
     * c0 + 32 b + 8 q + r and sums[32 b + 16 + i] output c0 + 32 b + 8 q + 4 + r. */
    float sums[COLS];
    const __m512i lo_cols = _mm512_set_epi32(27, 26, 25, 24, 19, 18, 17, 16, 11, 10, 9, 8, 3,
                                               2, 1, 0);
    const __m512i hi_cols = _mm512_add_epi32(lo_cols, _mm512_set1_epi32(4));
    int blocks = (nc + BLOCK - 1) / BLOCK;
    for (int b = 0; b < blocks; b++) {
        int n = b * BLOCK;
        __m512 lo = _mm512_maskz_loadu_ps(first16(nc - n), bias + c0 + n);
        __m512 hi = _mm512_maskz_loadu_ps(first16(nc - n - LANES), bias + c0 + n + LANES);
        _mm512_storeu_ps(sums + n, _mm512_permutex2var_ps(lo, lo_cols, hi));
        _mm512_storeu_ps(sums + n + LANES, _mm512_permutex2var_ps(lo, hi_cols, hi));
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
    const __m512i first = _mm512_set_epi32(23, 22, 21, 20, 7, 6, 5, 4, 19, 18, 17, 16, 3, 2, 1, 0);
    const __m512i second =
        _mm512_set_epi32(31, 30, 29, 28, 15, 14, 13, 12, 27, 26, 25, 24, 11, 10, 9, 8);
    for (int b = 0; b < blocks; b++) {
        int n = b * BLOCK;
        __m512 lo = _mm512_loadu_ps(sums + n), hi = _mm512_loadu_ps(sums + n + LANES);
        _mm512_mask_storeu_ps(y + c0 + n, first16(nc - n),
                              _mm512_permutex2var_ps(lo, first, hi));
        _mm512_mask_storeu_ps(y + c0 + n + LANES, first16(nc - n - LANES),
                              _mm512_permutex2var_ps(lo, second, hi));
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
