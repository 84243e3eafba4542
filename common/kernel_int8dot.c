/* kernel_int8dot.c -- a dense layer for one image with int8 weights.
 *
 * Serving one image is bound largely by reading the weights: the non-zero
 * inputs of the shipped model touch ~0.6 MB of bf16 weights per image, which
 * come from L3 at about 30 bytes a cycle. Int8 weights halve those bytes
 * again; what is left is still half the time (on rows that stay in L1 this
 * kernel runs twice as fast), hence the line-aligned rows and the prefetch.
 *
 * VPDPBUSD multiplies four unsigned bytes by four signed bytes and adds the
 * four products to an int32 lane, 16 lanes at once. The kernel takes the
 * non-zero inputs four at a time (rows a, b, c, d) and interleaves 64
 * columns of the four rows with two rounds of unpacks (bytes, then 16-bit
 * pairs), so that each 32-bit lane holds (W[a][n], W[b][n], W[c][n],
 * W[d][n]); against the broadcast inputs (x_a, x_b, x_c, x_d) one
 * instruction then adds all four rows' products for 16 columns. Four loads,
 * eight unpacks and four VPDPBUSD take 256 weights. The unpacks stay within
 * 128-bit lanes, so the sums come out with columns permuted in groups of
 * four and are put back in order once per layer.
 *
 * The sums are exact integers, so the order of the additions does not
 * matter: the portable loop (plain C) gives the same bits, and is what runs
 * on CPUs without VNNI. The model's output layer stays float; it is here
 * too (int8dot_output_layer) because its scan for zero inputs is the same
 * job, and both of its loops add in the same order with fused
 * multiply-adds, so they agree bit for bit as well.
 *
 * Compiled with target attributes rather than build flags, so the file
 * builds everywhere and int8dot_available() tells at run time whether the
 * CPU has the instructions.
 */
#include "kernel_int8dot.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_INT8DOT_CODE 1
#include <immintrin.h>
#else
#define HAVE_INT8DOT_CODE 0
#endif

#define K_CHUNK 256     /* inputs quantised and scanned for zeros at a time */
#define GROUP 4         /* rows per VPDPBUSD */
#define BLOCK 64        /* outputs per block: 64 int8 weights, one load per row */
#define LANES 16
#define TILE_BLOCKS 4   /* blocks whose sums stay in registers: 16 of 32 */
#define TILE (TILE_BLOCKS * BLOCK)
#define COLS 1024       /* outputs per pass (4 KB of sums), a multiple of TILE */
/* The rows of the group this many ahead are prefetched, one line per block
 * (rows start on a line: INT8DOT_ROW_BYTES): the live rows are scattered,
 * so the hardware prefetcher cannot guess them. Forward pass of the model
 * then shipped (3d6599f85b37): 4.12 -> 3.83 us with one or two groups
 * ahead, 4.00 with four. */
#define PREFETCH_GROUPS 2

/* The inputs' unit: max(x) / 255, so that the largest becomes 255. */
static float input_step(const float *x, int K)
{
    float max = 0.0f;
    for (int k = 0; k < K; k++)
        max = x[k] > max ? x[k] : max;
    return max / 255.0f;
}

/* x in units of 1 / inv_step, rounded half up (x >= 0) and capped at 255.
 * Written as one fused multiply-add so that the vector code, which does
 * the same, rounds the same way. */
static uint8_t round_input(float x, float inv_step)
{
    float r = fmaf(x, inv_step, 0.5f);
    return (uint8_t)(r >= 255.0f ? 255 : (r > 0.0f ? (int)r : 0));
}

/* Pads the count live inputs (indices in live[], bytes in u[]) to a
 * multiple of four with copies of the last group's first row and inputs of
 * 0, and packs each four bytes into value[]. Returns the number of groups. */
static int make_groups(int32_t *u, int *live, int count, uint32_t *value)
{
    int first = count - count % GROUP;
    for (; count % GROUP != 0; count++) {
        u[count] = 0;
        live[count] = live[first];
    }
    for (int g = 0; g < count / GROUP; g++)
        value[g] = (uint32_t)u[4 * g] | (uint32_t)u[4 * g + 1] << 8 |
                   (uint32_t)u[4 * g + 2] << 16 | (uint32_t)u[4 * g + 3] << 24;
    return count / GROUP;
}

/* The non-zero rounded inputs among x[k0 .. k1), in groups of four: row
 * indices in live[] (a short last group is padded with its first row and
 * an input of 0) and the four bytes of each group in value[]. Returns the
 * number of groups. */
static int pack_live_groups(const float *x, int k0, int k1, float inv_step, int *live,
                            uint32_t *value)
{
    int32_t u[K_CHUNK];
    int count = 0;
    for (int k = k0; k < k1; k++) {   /* branch-free: zeros are most inputs */
        u[count] = round_input(x[k], inv_step);
        live[count] = k;
        count += u[count] != 0;
    }
    return make_groups(u, live, count, value);
}

/* sums[n] += u * row[n]. Kept out of line: inlined into the loop over the
 * rows, gcc 12 interleaves two rows and no longer vectorises it (91 us per
 * image instead of 12 on the shipped model). */
__attribute__((noinline)) static void add_scaled_row(int32_t *restrict sums,
                                                     const int8_t *restrict row, int32_t u,
                                                     int n)
{
    for (int i = 0; i < n; i++)
        sums[i] += u * row[i];
}

/* Plain C: every live input's row times its byte, then scaled back. */
static void forward_portable(const float *x, int K, const int8_t *q, const float *scale,
                             const float *bias, int N, float *y, float step)
{
    int live[K_CHUNK];
    uint32_t value[K_CHUNK / GROUP];
    for (int c0 = 0; c0 < N; c0 += COLS) {
        int nc = N - c0 < COLS ? N - c0 : COLS;
        int32_t sums[COLS];
        memset(sums, 0, sizeof sums);
        for (int k0 = 0; step > 0.0f && k0 < K; k0 += K_CHUNK) {
            int k1 = K - k0 < K_CHUNK ? K : k0 + K_CHUNK;
            int groups = pack_live_groups(x, k0, k1, 1.0f / step, live, value);
            for (int j = 0; j < groups * GROUP; j++) {
                int32_t u = (int32_t)((value[j / GROUP] >> (8 * (j % GROUP))) & 0xffu);
                add_scaled_row(sums, q + (size_t)live[j] * INT8DOT_ROW_BYTES(N) + c0, u, nc);
            }
        }
        for (int n = 0; n < nc; n++)
            y[c0 + n] = fmaf((float)sums[n], scale[c0 + n] * step, bias[c0 + n]);
    }
}

/* int8dot_output_layer() in plain C: the order of its fused multiply-adds
 * is the contract the AVX-512 loop keeps. */
static void output_layer_portable(const float *x, int K, const float *W, const float *bias,
                                  int N, float *y)
{
    memcpy(y, bias, (size_t)N * sizeof *y);
    for (int k = 0; k < K; k++) {
        if (x[k] == 0.0f)
            continue;
        const float *restrict row = W + (size_t)k * (size_t)N;
        for (int n = 0; n < N; n++)
            y[n] = fmaf(x[k], row[n], y[n]);
    }
}

#if HAVE_INT8DOT_CODE

int int8dot_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

TARGET static inline __mmask64 first64(int n)
{
    return n >= BLOCK ? ~(__mmask64)0 : (n <= 0 ? (__mmask64)0 : (((__mmask64)1 << n) - 1));
}

TARGET static inline __mmask16 first16(int n)
{
    return n >= LANES ? (__mmask16)0xffff : (n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1));
}

/* input_step() with AVX-512: the largest input over 255. */
TARGET static float input_step_vnni(const float *x, int K)
{
    __m512 max = _mm512_setzero_ps();
    for (int k = 0; k < K; k += LANES)
        /* VMAXPS returns its second operand when either is NaN: a NaN input
         * is passed over, as input_step()'s comparison passes it over. */
        max = _mm512_max_ps(_mm512_maskz_loadu_ps(first16(K - k), x + k), max);
    return _mm512_reduce_max_ps(max) / 255.0f;
}

/* pack_live_groups() with AVX-512, the same output: 16 inputs rounded at
 * once, the non-zero ones' indices and values compressed out. */
TARGET static int pack_live_groups_vnni(const float *x, int k0, int k1, float inv_step, int *live,
                                        uint32_t *value)
{
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512 inv = _mm512_set1_ps(inv_step), half = _mm512_set1_ps(0.5f);
    const __m512 cap = _mm512_set1_ps(255.0f);
    int32_t u[K_CHUNK];
    int count = 0;
    for (int k = k0; k < k1; k += LANES) {
        __mmask16 in = first16(k1 - k);
        __m512 r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(in, x + k), inv, half);
        /* max first: it turns a NaN into 0, as round_input() does. */
        r = _mm512_min_ps(_mm512_max_ps(r, _mm512_setzero_ps()), cap);
        __m512i q = _mm512_cvttps_epi32(r);
        __mmask16 nonzero = _mm512_mask_cmpneq_epi32_mask(in, q, _mm512_setzero_si512());
        _mm512_mask_compressstoreu_epi32(live + count, nonzero,
                                         _mm512_add_epi32(lane, _mm512_set1_epi32(k)));
        _mm512_mask_compressstoreu_epi32(u + count, nonzero, q);
        count += __builtin_popcount(nonzero);
    }
    return make_groups(u, live, count, value);
}

/* Adds the live groups' contribution to one tile of sums: nb blocks from
 * column c of q (row length N), the last holding `last` columns. sums[64 b +
 * 16 m + i] holds, for block b, the lane i of accumulator m. */
TARGET static void tile_update(const int8_t *q, int N, int c, int nb, int last, const int *live,
                               const uint32_t *value, int groups, int32_t *sums)
{
    const size_t stride = INT8DOT_ROW_BYTES(N);
    __m512i acc[TILE_BLOCKS][GROUP];
    __mmask64 mask[TILE_BLOCKS];
#pragma GCC unroll 4
    for (int b = 0; b < TILE_BLOCKS; b++) {
        mask[b] = b < nb - 1 ? first64(BLOCK) : (b == nb - 1 ? first64(last) : 0);
#pragma GCC unroll 4
        for (int m = 0; m < GROUP; m++)
            acc[b][m] = _mm512_loadu_si512(sums + b * BLOCK + m * LANES);
    }
    for (int g = 0; g < groups; g++) {
        const int *rows = live + g * GROUP;
        const int8_t *ra = q + (size_t)rows[0] * stride + c;
        const int8_t *rb = q + (size_t)rows[1] * stride + c;
        const int8_t *rc = q + (size_t)rows[2] * stride + c;
        const int8_t *rd = q + (size_t)rows[3] * stride + c;
        __m512i u = _mm512_set1_epi32((int)value[g]);
        if (g + PREFETCH_GROUPS < groups) {
            const int *ahead = live + (g + PREFETCH_GROUPS) * GROUP;
            for (int r = 0; r < GROUP; r++)
                for (int b = 0; b < nb; b++)
                    _mm_prefetch((const char *)(q + (size_t)ahead[r] * stride + c + b * BLOCK),
                                 _MM_HINT_T0);
        }
#pragma GCC unroll 4
        for (int b = 0; b < TILE_BLOCKS; b++) {
            if (b < nb) {
                __m512i a = _mm512_maskz_loadu_epi8(mask[b], ra + b * BLOCK);
                __m512i bb = _mm512_maskz_loadu_epi8(mask[b], rb + b * BLOCK);
                __m512i cc = _mm512_maskz_loadu_epi8(mask[b], rc + b * BLOCK);
                __m512i d = _mm512_maskz_loadu_epi8(mask[b], rd + b * BLOCK);
                /* Per 128-bit lane: ab_lo holds (a, b) for columns 0-7, ab_hi 8-15. */
                __m512i ab_lo = _mm512_unpacklo_epi8(a, bb), ab_hi = _mm512_unpackhi_epi8(a, bb);
                __m512i cd_lo = _mm512_unpacklo_epi8(cc, d), cd_hi = _mm512_unpackhi_epi8(cc, d);
                /* (a, b, c, d) for columns 0-3, 4-7, 8-11 and 12-15 of each lane. */
                acc[b][0] = _mm512_dpbusd_epi32(acc[b][0], u, _mm512_unpacklo_epi16(ab_lo, cd_lo));
                acc[b][1] = _mm512_dpbusd_epi32(acc[b][1], u, _mm512_unpackhi_epi16(ab_lo, cd_lo));
                acc[b][2] = _mm512_dpbusd_epi32(acc[b][2], u, _mm512_unpacklo_epi16(ab_hi, cd_hi));
                acc[b][3] = _mm512_dpbusd_epi32(acc[b][3], u, _mm512_unpackhi_epi16(ab_hi, cd_hi));
            }
        }
    }
#pragma GCC unroll 4
    for (int b = 0; b < TILE_BLOCKS; b++)
#pragma GCC unroll 4
        for (int m = 0; m < GROUP; m++)
            _mm512_storeu_si512(sums + b * BLOCK + m * LANES, acc[b][m]);
}

/* Columns [c0, c0 + nc) of y, nc <= COLS. */
TARGET static void forward_columns(const float *x, int K, const int8_t *q, const float *scale,
                                   const float *bias, int N, int c0, int nc, float step,
                                   float *y)
{
    int32_t sums[COLS];
    memset(sums, 0, sizeof sums);
    int live[K_CHUNK];
    uint32_t value[K_CHUNK / GROUP];
    for (int k0 = 0; step > 0.0f && k0 < K; k0 += K_CHUNK) {
        int k1 = K - k0 < K_CHUNK ? K : k0 + K_CHUNK;
        int groups = pack_live_groups_vnni(x, k0, k1, 1.0f / step, live, value);
        for (int t = 0; t < nc; t += TILE) {
            int cols = nc - t < TILE ? nc - t : TILE;
            int nb = (cols + BLOCK - 1) / BLOCK;
            tile_update(q, N, c0 + t, nb, cols - (nb - 1) * BLOCK, live, value, groups,
                        sums + t);
        }
    }

    /* Accumulator m's 128-bit lane L holds columns 16 L + 4 m .. + 3, so
     * output columns 16 L .. 16 L + 15 are lane L of accumulators 0..3: a
     * 4x4 transpose of 128-bit lanes. */
    const __m512 vstep = _mm512_set1_ps(step);
    for (int n = 0; n < nc; n += BLOCK) {
        __m512i a0 = _mm512_loadu_si512(sums + n), a1 = _mm512_loadu_si512(sums + n + 16);
        __m512i a2 = _mm512_loadu_si512(sums + n + 32), a3 = _mm512_loadu_si512(sums + n + 48);
        __m512i t01lo = _mm512_shuffle_i32x4(a0, a1, 0x44);
        __m512i t01hi = _mm512_shuffle_i32x4(a0, a1, 0xEE);
        __m512i t23lo = _mm512_shuffle_i32x4(a2, a3, 0x44);
        __m512i t23hi = _mm512_shuffle_i32x4(a2, a3, 0xEE);
        __m512i out[4] = {
            _mm512_shuffle_i32x4(t01lo, t23lo, 0x88), _mm512_shuffle_i32x4(t01lo, t23lo, 0xDD),
            _mm512_shuffle_i32x4(t01hi, t23hi, 0x88), _mm512_shuffle_i32x4(t01hi, t23hi, 0xDD)};
        for (int L = 0; L < 4; L++) {
            int at = c0 + n + L * LANES;
            __mmask16 m = first16(nc - n - L * LANES);
            __m512 s = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, scale + at), vstep);
            __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(out[L]), s,
                                       _mm512_maskz_loadu_ps(m, bias + at));
            _mm512_mask_storeu_ps(y + at, m, v);
        }
    }
}

TARGET static void forward_vnni(const float *x, int K, const int8_t *q, const float *scale,
                                const float *bias, int N, float *y)
{
    float step = input_step_vnni(x, K);
    for (int c0 = 0; c0 < N; c0 += COLS)
        forward_columns(x, K, q, scale, bias, N, c0, N - c0 < COLS ? N - c0 : COLS, step, y);
}

/* The non-zero inputs are found 16 at a time (compare, compress), and each
 * one's row is added to 16 outputs per instruction: for the 1000x10 output
 * layer of the shipped model the scalar scan for zeros cost more than the
 * multiplies (~0.8 of the forward pass's ~4.5 us). */
TARGET static void output_layer_vnni(const float *x, int K, const float *W, const float *bias,
                                     int N, float *y)
{
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    memcpy(y, bias, (size_t)N * sizeof *y);
    int live[K_CHUNK];
    for (int k0 = 0; k0 < K; k0 += K_CHUNK) {
        int k1 = K - k0 < K_CHUNK ? K : k0 + K_CHUNK, count = 0;
        for (int k = k0; k < k1; k += LANES) {
            __m512 v = _mm512_maskz_loadu_ps(first16(k1 - k), x + k);
            __mmask16 nonzero = _mm512_mask_cmp_ps_mask(first16(k1 - k), v,
                                                        _mm512_setzero_ps(), _CMP_NEQ_UQ);
            _mm512_mask_compressstoreu_epi32(live + count, nonzero,
                                             _mm512_add_epi32(lane, _mm512_set1_epi32(k)));
            count += __builtin_popcount(nonzero);
        }
        for (int c = 0; c < N; c += LANES) {
            __mmask16 m = first16(N - c);
            __m512 acc = _mm512_maskz_loadu_ps(m, y + c);
            for (int j = 0; j < count; j++)
                acc = _mm512_fmadd_ps(_mm512_set1_ps(x[live[j]]),
                                      _mm512_maskz_loadu_ps(m, W + (size_t)live[j] * (size_t)N + c),
                                      acc);
            _mm512_mask_storeu_ps(y + c, m, acc);
        }
    }
}

#else

int int8dot_available(void)
{
    return 0;
}

static void forward_vnni(const float *x, int K, const int8_t *q, const float *scale,
                         const float *bias, int N, float *y)
{
    forward_portable(x, K, q, scale, bias, N, y, input_step(x, K));   /* never chosen here */
}

static void output_layer_vnni(const float *x, int K, const float *W, const float *bias, int N,
                              float *y)
{
    output_layer_portable(x, K, W, bias, N, y);   /* never chosen here */
}

#endif

void int8dot_forward_one(const float *x, int K, const int8_t *q, const float *scale,
                         const float *bias, int N, float *y, int vnni)
{
    if (vnni)
        forward_vnni(x, K, q, scale, bias, N, y);
    else
        forward_portable(x, K, q, scale, bias, N, y, input_step(x, K));
}

void int8dot_output_layer(const float *x, int K, const float *W, const float *bias, int N,
                          float *y, int vnni)
{
    if (vnni)
        output_layer_vnni(x, K, W, bias, N, y);
    else
        output_layer_portable(x, K, W, bias, N, y);
}
