/* preprocess_contrast.c -- step 3: how far each pixel stands above the paper.
 * See preprocess_contrast.h. */
#include "preprocess_contrast.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Background map tiles: TILES_ACROSS along the longer side, no smaller
 * than MIN_TILE px. Per-tile percentile taken as paper: a tile need only be
 * 20% paper. */
#define MIN_TILE 16
#define TILES_ACROSS 8
#define TILE_PAPER_QUANTILE 0.20
/* Fainter ink than MIN_CONTRAST (pencil in a dim photo, yellow highlighter
 * in grey) is read, when the caller asks (read_faint), down to
 * FAINT_MIN_CONTRAST and only where the paper is quiet; else it is reported
 * as faint. Its peak must stand FAINT_SNR times above the paper's noise,
 * taken as the contrast's PAPER_NOISE_QUANTILE (ink covers far less of a
 * page than a tenth). Over pure noise the peak is about 2.5 times that
 * quantile. */
#define FAINT_MIN_CONTRAST 12
#define FAINT_SNR 3
#define PAPER_NOISE_QUANTILE 0.90

/* ---- step 3: background and contrast ----------------------------------- */

/* The image is still the composited grey v here; the ink-bright picture is
 * v ^ flip (flip 255 inverts a byte, as 255 - v does), folded into the loops
 * below rather than written out by a pass of its own. */

static int tile_paper_level(const uint8_t *v, uint8_t flip, int w, int h, int tx, int ty,
                            int tile)
{
    int x_end = tx * tile + tile < w ? tx * tile + tile : w;
    int y_end = ty * tile + tile < h ? ty * tile + tile : h;
    size_t total = (size_t)(x_end - tx * tile) * (size_t)(y_end - ty * tile);
    /* Usually at least a fifth of a tile is paper at level 0 exactly (a
     * clean canvas), and then that is the quantile: a count suffices. */
    uint32_t zeros = 0;
    for (int y = ty * tile; y < y_end; y++) {
        const uint8_t *row = v + (size_t)y * (size_t)w;
        for (int x = tx * tile; x < x_end; x++)
            zeros += row[x] == flip;
    }
    if (zeros > 0 && (double)zeros >= TILE_PAPER_QUANTILE * (double)total)
        return 0;
    uint32_t hist[256] = {0};
    for (int y = ty * tile; y < y_end; y++) {
        const uint8_t *row = v + (size_t)y * (size_t)w;
        for (int x = tx * tile; x < x_end; x++)
            hist[row[x] ^ flip]++;
    }
    return histogram_quantile(hist, total, TILE_PAPER_QUANTILE);
}

/* Tile level with linear extrapolation past the grid's edge, so that a
 * window centred on an edge tile still sees a symmetric ramp. */
static float tile_level_ext(const bg_map *m, int x, int y)
{
    int cx = clampi(x, 0, m->cols - 1), cy = clampi(y, 0, m->rows - 1);
    float v = m->level[(size_t)cy * (size_t)m->cols + (size_t)cx];
    if (cx != x && m->cols > 1) {
        int in = cx == 0 ? 1 : cx - 1;
        v = 2 * v - m->level[(size_t)cy * (size_t)m->cols + (size_t)in];
    }
    if (cy != y && m->rows > 1) {
        int in = cy == 0 ? 1 : cy - 1;
        float edge = m->level[(size_t)cy * (size_t)m->cols + (size_t)cx];
        v += edge - m->level[(size_t)in * (size_t)m->cols + (size_t)cx];
    }
    return v;
}

/* The median of nine levels. Any correct sort gives the same value: levels
 * are never NaN, and ties are equal floats (no -0.0 arises from sums and
 * differences of non-negative integers). */
static float median9(float win[9])
{
    for (int i = 1; i < 9; i++) {
        float x = win[i];
        int j = i;
        for (; j > 0 && win[j - 1] > x; j--)
            win[j] = win[j - 1];
        win[j] = x;
    }
    return win[4];
}

/* 3x3 median over the tile grid: a tile that is mostly stroke (thick
 * marker) is outvoted by its paper neighbours, while a lighting ramp, being
 * linear across the window, passes through unchanged. */
static int smooth_tiles(bg_map *m, arena *mem)
{
    size_t n = (size_t)m->cols * (size_t)m->rows;
    float *tmp = arena_alloc(mem, n * sizeof *tmp);
    if (!tmp)
        return -1;
    for (int y = 0; y < m->rows; y++)
        for (int x = 0; x < m->cols; x++) {
            float win[9];
            int k = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                    win[k++] = tile_level_ext(m, x + dx, y + dy);
            tmp[(size_t)y * (size_t)m->cols + (size_t)x] = median9(win);
        }
    memcpy(m->level, tmp, n * sizeof *tmp);
    return 0;
}

/* Evenly lit paper needs no background map, and a map can only hurt it: a
 * tile that a thick stroke (or a digit cropped tight against the edge)
 * fills is taken for paper, and the stroke's inside is subtracted away,
 * leaving an outline. The border is the one place that is mostly paper, so
 * its pieces tell: the medians of eight runs along it (each half of each
 * side) agree within EVEN_BORDER_SPREAD grey levels on even paper, and
 * differ by more under a lighting gradient or a shadow.
 *
 * Ink on the border is no evidence about the lighting: a scan cropped
 * tight (Semeion's digits are stretched to fill their box) has whole
 * stretches of stroke along its sides. So each run's level is taken from
 * its paper pixels only, those at least INK_REACH of the paper-to-ink
 * distance from the ink's extreme level (even a deep shadow on paper stays
 * further off), and a run with under a quarter of paper says nothing. */
#define EVEN_BORDER_SPREAD 24
#define INK_REACH 0.4

int ink_extreme_level(const uint32_t hist[256], size_t n, int w, int h, int ink_dark)
{
    double q = (double)((w > h ? w : h) / 2) / (double)n;
    return histogram_quantile(hist, n, ink_dark ? q : 1.0 - q);
}

/* The paper level among n pixels from (x0, y0) in steps of (dx, dy): the
 * quartile of its paper pixels furthest from the ink, which discounts the
 * grey anti-aliased fringe of strokes crossing the border; -1 when fewer
 * than a quarter of the pixels are paper. */
static int run_paper_level(const uint8_t *v, int w, int x0, int y0, int dx, int dy, int n,
                           int ink, double ink_reach, int ink_dark)
{
    uint32_t hist[256] = {0};
    size_t paper = 0;
    for (int i = 0; i < n; i++) {
        uint8_t p = v[(size_t)(y0 + i * dy) * (size_t)w + (size_t)(x0 + i * dx)];
        if (abs(p - ink) >= ink_reach) {
            hist[p]++;
            paper++;
        }
    }
    if (paper == 0 || 4 * paper < (size_t)n)
        return -1;
    return histogram_quantile(hist, paper, ink_dark ? 0.75 : 0.25);
}

int border_is_even(const uint8_t *v, int w, int h, int paper, int ink, int ink_dark)
{
    int hw = w / 2, hh = h / 2;
    double r = INK_REACH * abs(paper - ink);
    int m[8] = {
        run_paper_level(v, w, 0, 0, 1, 0, hw, ink, r, ink_dark),
        run_paper_level(v, w, hw, 0, 1, 0, w - hw, ink, r, ink_dark),
        run_paper_level(v, w, 0, h - 1, 1, 0, hw, ink, r, ink_dark),
        run_paper_level(v, w, hw, h - 1, 1, 0, w - hw, ink, r, ink_dark),
        run_paper_level(v, w, 0, 0, 0, 1, hh, ink, r, ink_dark),
        run_paper_level(v, w, 0, hh, 0, 1, h - hh, ink, r, ink_dark),
        run_paper_level(v, w, w - 1, 0, 0, 1, hh, ink, r, ink_dark),
        run_paper_level(v, w, w - 1, hh, 0, 1, h - hh, ink, r, ink_dark),
    };
    int lo = 255, hi = 0;
    for (int i = 0; i < 8; i++) {
        if (m[i] < 0)
            continue;
        lo = m[i] < lo ? m[i] : lo;
        hi = m[i] > hi ? m[i] : hi;
    }
    return hi - lo <= EVEN_BORDER_SPREAD;   /* also when no run has paper */
}

int build_bg_map(const uint8_t *v, uint8_t flip, int w, int h, bg_map *m, arena *mem)
{
    int longest = w > h ? w : h;
    m->tile = (longest + TILES_ACROSS - 1) / TILES_ACROSS;
    if (m->tile < MIN_TILE)
        m->tile = MIN_TILE;
    m->cols = (w + m->tile - 1) / m->tile;
    m->rows = (h + m->tile - 1) / m->tile;
    m->level = arena_alloc(mem, (size_t)m->cols * (size_t)m->rows * sizeof *m->level);
    if (!m->level)
        return -1;
    for (int ty = 0; ty < m->rows; ty++)
        for (int tx = 0; tx < m->cols; tx++)
            m->level[ty * m->cols + tx] = (float)tile_paper_level(v, flip, w, h, tx, ty, m->tile);
    return smooth_tiles(m, mem);
}

/* ---- shadows ----------------------------------------------------------
 *
 * A hard shadow across a photographed page (a hand, a phone) has an edge
 * the tile map cannot follow: the tiles it crosses take the lit paper's
 * level, and the shadowed paper beside it then stands out from that level
 * as much as ink does, in a region touching the digit. An opening (a
 * running minimum over a square window, then a running maximum) wipes out
 * every stroke narrower than the window and keeps anything wider at its
 * own level with its edges where they were: the paper in shadow. The
 * background is raised to it. But where the opening holds a region nearly
 * as bright as the ink itself, that is no shadow: some stroke is wider than
 * the window (a fat digit cropped tight), the opening would eat into every
 * stroke as wide, and the tile map alone is used, as before.
 *
 * The window is two tiles and one pixel wide, a quarter of the picture's
 * longer side: wider than any stroke of a digit that leaves room for paper
 * around it. A shadow that wide holds whole tiles, and along its edge a
 * tile in shadow lies next to one whose level is still the lit paper's:
 * unless some two neighbouring tiles differ by SHADOW_MIN_STEP there is no
 * hard shadow, and the opening (on a large photo, half as long as all the
 * rest of the pipeline) is not computed. A lighting ramp or a soft shadow,
 * which the tile map follows, changes by less from tile to tile. */
#define SHADOW_MAX_SHARE 0.8
#define SHADOW_MIN_STEP 48

/* The running extreme over [y - r, y + r] down every column of a w x h
 * picture, rows that fall outside ignored: van Herk and Gil-Werman's
 * method, which cuts the columns into blocks of 2r + 1 rows, takes within
 * each block the extreme from its start down to each row (pre) and from
 * each row to its end (post), and then needs one more comparison per
 * pixel: any window is the tail of one block and the head of the next.
 * Every step is an element-wise operation on two whole rows, which the
 * compiler vectorises. flip 255 makes it a minimum, of 255 - each byte. */
static void column_extreme(const uint8_t *restrict in, uint8_t *restrict out,
                           uint8_t *restrict pre, uint8_t *restrict post, int w, int h, int r,
                           uint8_t flip)
{
    /* A strip of columns at a time, so that its rows of pre and post are
     * still in cache when the last loop reads them. */
    enum { STRIP = 64 };
    int k = 2 * r + 1;
    size_t ws = (size_t)w;
    for (int x0 = 0; x0 < w; x0 += STRIP) {
        int sw = w - x0 < STRIP ? w - x0 : STRIP;
        for (int y = 0; y < h; y++) {
            const uint8_t *src = in + (size_t)y * ws + (size_t)x0;
            uint8_t *p = pre + (size_t)y * STRIP;
            if (y % k == 0) {
                for (int x = 0; x < sw; x++)
                    p[x] = src[x] ^ flip;
            } else {
                const uint8_t *up = p - STRIP;
                for (int x = 0; x < sw; x++) {
                    uint8_t v = src[x] ^ flip;
                    p[x] = up[x] > v ? up[x] : v;
                }
            }
        }
        for (int y = h - 1; y >= 0; y--) {
            const uint8_t *src = in + (size_t)y * ws + (size_t)x0;
            uint8_t *p = post + (size_t)y * STRIP;
            if (y == h - 1 || (y + 1) % k == 0) {
                for (int x = 0; x < sw; x++)
                    p[x] = src[x] ^ flip;
            } else {
                const uint8_t *down = p + STRIP;
                for (int x = 0; x < sw; x++) {
                    uint8_t v = src[x] ^ flip;
                    p[x] = down[x] > v ? down[x] : v;
                }
            }
        }
        for (int y = 0; y < h; y++) {
            int top = y - r, end = y + r < h - 1 ? y + r : h - 1;
            uint8_t *o = out + (size_t)y * ws + (size_t)x0;
            const uint8_t *head = pre + (size_t)end * STRIP;
            const uint8_t *tail = post + (size_t)(top > 0 ? top : 0) * STRIP;
            if (top < 0) {
                for (int x = 0; x < sw; x++)
                    o[x] = head[x] ^ flip;
            } else if (top / k == end / k) {
                for (int x = 0; x < sw; x++)
                    o[x] = tail[x] ^ flip;
            } else {
                for (int x = 0; x < sw; x++)
                    o[x] = (tail[x] > head[x] ? tail[x] : head[x]) ^ flip;
            }
        }
    }
}

/* out (h x w) = in (w x h) transposed. Whole 8 x 8 blocks go through
 * eight 64-bit words: swapping bytes between pairs of words, then byte
 * pairs, then halves, transposes the block in 24 word operations instead
 * of 64 byte moves (this reads byte j of a word as bits 8j..8j+7, so only
 * on little-endian machines). The ragged edges go byte by byte. */
static void transpose(const uint8_t *restrict in, uint8_t *restrict out, int w, int h)
{
    int w8 = 0, h8 = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w8 = w & ~7;
    h8 = h & ~7;
    for (int y0 = 0; y0 < h8; y0 += 8)
        for (int x0 = 0; x0 < w8; x0 += 8) {
            uint64_t r[8];
            for (int i = 0; i < 8; i++)
                memcpy(&r[i], in + (size_t)(y0 + i) * (size_t)w + (size_t)x0, 8);
            for (int i = 0; i < 8; i += 2) {
                uint64_t t = ((r[i] >> 8) ^ r[i + 1]) & 0x00FF00FF00FF00FFull;
                r[i + 1] ^= t;
                r[i] ^= t << 8;
            }
            for (int i = 0; i < 8; i += (i & 1) ? 3 : 1) {
                uint64_t t = ((r[i] >> 16) ^ r[i + 2]) & 0x0000FFFF0000FFFFull;
                r[i + 2] ^= t;
                r[i] ^= t << 16;
            }
            for (int i = 0; i < 4; i++) {
                uint64_t t = ((r[i] >> 32) ^ r[i + 4]) & 0x00000000FFFFFFFFull;
                r[i + 4] ^= t;
                r[i] ^= t << 32;
            }
            for (int i = 0; i < 8; i++)
                memcpy(out + (size_t)(x0 + i) * (size_t)h + (size_t)y0, &r[i], 8);
        }
#endif
    for (int y = 0; y < h; y++)
        for (int x = y < h8 ? w8 : 0; x < w; x++)
            out[(size_t)x * (size_t)h + (size_t)y] = in[(size_t)y * (size_t)w + (size_t)x];
}

/* The opening of a w x h picture by a (2r+1)-square window, in place:
 * the erosion (minimum) and then the dilation (maximum), each down the
 * columns and then, transposed, along the rows. The erosion takes the
 * world outside the picture for paper (0): a stroke cut by the picture's
 * edge is no wider there than anywhere else, and must not survive as a
 * wide region along the edge. scratch: 2 w h + 128 max(w, h) bytes. */
static void open_square(uint8_t *img, int w, int h, int r, uint8_t *scratch)
{
    size_t n = (size_t)w * (size_t)h;
    size_t strip = 64 * (size_t)(w > h ? w : h);
    uint8_t *a = scratch, *t = scratch + n, *pre = scratch + 2 * n, *post = pre + strip;
    column_extreme(img, a, pre, post, w, h, r, 255);
    transpose(a, t, w, h);
    column_extreme(t, a, pre, post, h, w, r, 255);   /* now w rows of h */
    for (int x = 0; x < w; x++) {
        uint8_t *row = a + (size_t)x * (size_t)h;
        if (x < r || x >= w - r)
            memset(row, 0, (size_t)h);
        else
            for (int y = 0; y < h; y++)
                row[y] = y < r || y >= h - r ? 0 : row[y];
    }
    column_extreme(a, t, pre, post, h, w, r, 0);
    transpose(t, a, h, w);
    column_extreme(a, img, pre, post, w, h, r, 0);
}

int shadow_floor(const uint8_t *v, uint8_t flip, int w, int h,
                 const bg_map *m, int ink, arena *mem, const uint8_t **floor)
{
    *floor = NULL;
    float paper = m->level[0], step = 0;
    for (int ty = 0; ty < m->rows; ty++)
        for (int tx = 0; tx < m->cols; tx++) {
            const float *l = m->level + (size_t)ty * (size_t)m->cols + (size_t)tx;
            paper = *l < paper ? *l : paper;
            if (tx + 1 < m->cols)
                step = fabsf(l[1] - l[0]) > step ? fabsf(l[1] - l[0]) : step;
            if (ty + 1 < m->rows)
                step = fabsf(l[m->cols] - l[0]) > step ? fabsf(l[m->cols] - l[0]) : step;
        }
    if (step < SHADOW_MIN_STEP)
        return 0;
    size_t n = (size_t)w * (size_t)h;
    uint8_t *bright = arena_alloc(mem, n);
    uint8_t *scratch = arena_alloc(mem, 2 * n + 128 * (size_t)(w > h ? w : h));
    if (!bright || !scratch)
        return -1;
    for (size_t i = 0; i < n; i++)
        bright[i] = v[i] ^ flip;
    open_square(bright, w, h, m->tile, scratch);
    uint8_t top = 0;
    for (size_t i = 0; i < n; i++)
        top = bright[i] > top ? bright[i] : top;
    if (top >= paper + (float)SHADOW_MAX_SHARE * ((float)ink - paper))
        return 0;
    *floor = bright;
    return 0;
}

/* The contrast d = v' - background, rounded half away from zero and clamped
 * to 0..255, as clampi((int)lroundf(t), 0, 255) gave before, without the
 * libm call (which also kept the loop from vectorising). For t < 0.5 that
 * is 0. From 0.5 up, truncating t + 0.5f gives lroundf(t) too: the sum
 * can only round up to an integer n when t >= n - 0.5, as the floats just
 * below n are as finely spaced as those near n - 0.5. Checked for every
 * float in [-4096, 4096]; here |t| < 511. */
static uint8_t contrast_of(float t)
{
    return t < 0.5f ? 0 : (t >= 255.0f ? 255 : (uint8_t)(int)(t + 0.5f));
}

int subtract_background(uint8_t *v, uint8_t flip, int w, int h, const bg_map *m,
                        const uint8_t *floor, arena *mem)
{
    int *col0 = arena_alloc(mem, (size_t)w * sizeof *col0);
    int *run_end = arena_alloc(mem, (size_t)w * sizeof *run_end);
    double *col_a = arena_alloc(mem, (size_t)w * sizeof *col_a);
    float *bg = arena_alloc(mem, (size_t)w * sizeof *bg);
    if (!col0 || !run_end || !col_a || !bg)
        return -1;
    for (int x = 0; x < w; x++) {
        double fx = ((double)x + 0.5) / m->tile - 0.5;
        fx = clampd(fx, 0.0, (double)(m->cols - 1));
        col0[x] = (int)fx;
        col_a[x] = fx - col0[x];
    }
    for (int x = w - 1; x >= 0; x--)
        run_end[x] = x + 1 < w && col0[x + 1] == col0[x] ? run_end[x + 1] : x + 1;
    for (int y = 0; y < h; y++) {
        double fy = ((double)y + 0.5) / m->tile - 0.5;
        fy = clampd(fy, 0.0, (double)(m->rows - 1));
        int y0 = (int)fy;
        int y1 = y0 + 1 < m->rows ? y0 + 1 : y0;
        double ay = fy - y0;
        const float *top_row = m->level + (size_t)y0 * (size_t)m->cols;
        const float *bot_row = m->level + (size_t)y1 * (size_t)m->cols;
        for (int x = 0; x < w;) {
            int x0 = col0[x], x1 = x0 + 1 < m->cols ? x0 + 1 : x0, end = run_end[x];
            float l00 = top_row[x0], l01 = top_row[x1], l10 = bot_row[x0], l11 = bot_row[x1];
            for (; x < end; x++) {
                double ax = col_a[x];
                double top = l00 * (1 - ax) + l01 * ax;
                double bot = l10 * (1 - ax) + l11 * ax;
                bg[x] = (float)(top * (1 - ay) + bot * ay);
            }
        }
        uint8_t *row = v + (size_t)y * (size_t)w;
        if (floor) {
            const uint8_t *f = floor + (size_t)y * (size_t)w;
            for (int x = 0; x < w; x++)
                bg[x] = f[x] > bg[x] ? f[x] : bg[x];
        }
        for (int x = 0; x < w; x++)
            row[x] = contrast_of((float)(row[x] ^ flip) - bg[x]);
    }
    return 0;
}

void contrast_flat(uint8_t *v, uint8_t flip, size_t n, int level,
                   const uint32_t vhist[256], uint32_t dhist[256])
{
    uint8_t l = (uint8_t)level;
    for (size_t i = 0; i < n; i++) {
        uint8_t x = v[i] ^ flip;
        v[i] = x > l ? (uint8_t)(x - l) : 0;
    }
    /* d = 0 for v' <= L, else v' - L; v' = v ^ flip. */
    memset(dhist, 0, 256 * sizeof *dhist);
    for (int x = 0; x <= level; x++)
        dhist[0] += vhist[x ^ flip];
    for (int x = level + 1; x < 256; x++)
        dhist[x - level] = vhist[x ^ flip];
}

/* Otsu's threshold: the split maximising between-class variance.
 *
 * w0 and sum0 are running sums of integers, exact in double, so they can
 * be formed as integer prefix sums; the variance of every split is then
 * independent of the others and computed in a loop that vectorises, with
 * the same expression as ever. The choice is made as before: in order of
 * t, over the splits with both classes non-empty, the first strict
 * maximum. */
static int otsu(const uint32_t hist[256], size_t total)
{
    /* The whole picture's moment too is a sum of integers, exact in any
     * order: summed as an integer, not as a chain of dependent double adds.
     * With the skipped splits below, Otsu on the 28x28 upload that
     * tests/bench/serve posts went from about 1500 to 1000 cycles. */
    uint64_t moment_all = 0;
    for (int v = 0; v < 256; v++)
        moment_all += (uint64_t)v * hist[v];
    double sum_all = (double)moment_all;
    /* A split t after an empty level (hist[t] == 0, t > 0) has the classes
     * of split t - 1, hence the same variance, bit for bit, and can never
     * be the first strict maximum: only the splits ending on a level in use
     * are evaluated, and their divisions done. */
    double w0[255], sum0[255], between[255];
    int at[255], splits = 0;
    uint64_t count = 0, moment = 0;
    for (int t = 0; t < 255; t++) {
        count += hist[t];
        moment += (uint64_t)t * hist[t];
        w0[splits] = (double)count;
        sum0[splits] = (double)moment;
        at[splits] = t;
        splits += t == 0 || hist[t] != 0;
    }
    for (int i = 0; i < splits; i++) {
        double w1 = (double)total - w0[i];
        double m0 = sum0[i] / w0[i], m1 = (sum_all - sum0[i]) / w1;
        between[i] = w0[i] * w1 * (m0 - m1) * (m0 - m1);
    }
    double best = -1;
    int best_t = 0;
    for (int i = 0; i < splits; i++) {
        if (w0[i] <= 0 || (double)total - w0[i] <= 0)
            continue;
        if (between[i] > best) {
            best = between[i];
            best_t = at[i];
        }
    }
    return best_t;
}

contrast_levels choose_levels(const uint32_t hist[256], size_t n, int floor)
{
    /* The peak ignores the very top few pixels (isolated hot pixels) but
     * must still see a thin digit that covers a tiny part of a big canvas. */
    size_t keep_top = n / 20000;
    keep_top = keep_top < 4 ? 4 : (keep_top > 64 ? 64 : keep_top);
    contrast_levels lv = {0, 0};
    size_t above = 0;
    for (int v = 255; v >= 0; v--) {
        above += hist[v];
        if (above >= keep_top) {
            lv.peak = v;
            break;
        }
    }
    /* Otsu is reliable when ink is a fair share of the picture; when it is a
     * sliver it drifts into the paper noise, hence the clamp to the peak. */
    int t = otsu(hist, n);
    int lo = lv.peak / 4 > floor ? lv.peak / 4 : floor;
    int hi = lv.peak * 3 / 5;
    lv.threshold = clampi(t, lo, hi > lo ? hi : lo);
    return lv;
}

int faint_levels(const uint32_t hist[256], size_t n, contrast_levels *lv)
{
    int noise = histogram_quantile(hist, n, PAPER_NOISE_QUANTILE);
    if (lv->peak < FAINT_MIN_CONTRAST || lv->peak < FAINT_SNR * (noise > 1 ? noise : 1))
        return 0;
    int floor = 2 * noise > FAINT_MIN_CONTRAST / 2 ? 2 * noise : FAINT_MIN_CONTRAST / 2;
    *lv = choose_levels(hist, n, floor);
    return 1;
}

/* ---- step 3b: a shaded field behind the ink ----------------------------
 *
 * A form's grey answer field, a shaded label or a highlighter band behind
 * the digit stands above the paper by a contrast of its own, evenly: in the
 * histogram of d a narrow peak between the paper and the ink. Otsu takes
 * it for ink, and the network then sees a grey rectangle with the digit in
 * it. It is such a field when:
 *   - the peak holds PLATEAU_SHARE of the seeds within its level /
 *     PLATEAU_WIDTH (3 at least) of one level, and PLATEAU_MIN_AREA of the
 *     picture;
 *   - ink stands PLATEAU_MIN_STEP above the peak's top (PLATEAU_MIN_INK of
 *     the picture), spread out as writing is and not a blot (its pixels under
 *     PLATEAU_COMPACT of its box's longer side squared);
 *   - from that ink's centre the field runs on (past the ink and the gaps
 *     between its strokes) for PLATEAU_MIN_RUN of the picture's shorter
 *     side in two of the four directions before the paper starts: the ink
 *     of a sheet on a desk is surrounded by paper instead;
 *   - it is a patch, not strokes (field_is_a_region).
 * The field then counts as paper: seeds start above it, and so does the
 * intensity ramp. */
#define PLATEAU_SHARE 0.5
#define PLATEAU_MIN_AREA 0.02    /* of the picture */
#define PLATEAU_WIDTH 16         /* the peak's half-width: its level / this, 3 or more */
#define PLATEAU_MIN_STEP MIN_CONTRAST
#define PLATEAU_MIN_INK 0.002    /* of the picture */
#define PLATEAU_COMPACT 0.6
#define PLATEAU_MIN_RUN 0.03     /* of the shorter side */
#define PLATEAU_PAPER_RUN 3      /* px of paper that end a walk */
#define PLATEAU_HULL 0.5         /* see field_is_a_region */
#define PLATEAU_FILL 0.9
#define PLATEAU_MAX_ELONGATION 8.0
#define PLATEAU_INK_INSIDE 0.15
#define HULL_DIRECTIONS 16

/* Plateau pixels met walking from (x, y) by (dx, dy) before PLATEAU_PAPER_RUN
 * pixels of paper in a row (d under lo) or the picture's edge. */
static int plateau_run(const uint8_t *d, int w, int h, int x, int y, int dx, int dy, int lo,
                       int hi)
{
    int on_field = 0, paper = 0;
    for (; x >= 0 && x < w && y >= 0 && y < h; x += dx, y += dy) {
        int v = d[(size_t)y * (size_t)w + (size_t)x];
        if (v < lo) {
            if (++paper >= PLATEAU_PAPER_RUN)
                break;
            continue;
        }
        paper = 0;
        on_field += v <= hi;
    }
    return on_field;
}

/* Whether the field is a patch and not strokes. A light pen's strokes
 * with a darker tick, a printed box or a partial retrace on them, or a
 * translucent marker darker where its strokes cross, pass the tests above
 * too. A field, a label or a band (even one thinner than the digit) is a
 * convex patch. Take the convex hull of its inner pixels (at its level,
 * with all four neighbours at it or darker): a field's is about as large as
 * the field (PLATEAU_HULL of its pixels or more), PLATEAU_FILL or more of
 * it is field or ink (d at or above field_cut, half the field's level, so
 * that noise does not hole it), it is no longer than PLATEAU_MAX_ELONGATION
 * times its mean width (a broad pen's 1 is longer; so is a band across a
 * wide picture, which is left as it was), and PLATEAU_INK_INSIDE of the
 * ink (d at or above ink_cut) lies in it: a box printed round a pencil
 * answer does not. Strokes fill a small part of their hull. field and ink
 * are the two's pixel counts. 1 when a patch, 0 when not, -1 when out of
 * memory. */
static int field_is_a_region(const uint8_t *d, int w, int h, int lo, int top, int field_cut,
                             int ink_cut, size_t field, size_t ink, arena *mem)
{
    /* Each row's leftmost and rightmost inner pixel (-1: none). */
    int *left = arena_alloc(mem, 3 * (size_t)h * sizeof *left);
    if (!left)
        return -1;
    int *right = left + h, *chain = right + h;
    int y0 = -1, y1 = -1;
    for (int y = 0; y < h; y++) {
        left[y] = right[y] = -1;
        if (y == 0 || y == h - 1)
            continue;
        const uint8_t *row = d + (size_t)y * (size_t)w;
        const uint8_t *up = row - w, *down = row + w;
        for (int x = 1; x + 1 < w; x++) {
            if (row[x] < lo || row[x] > top || row[x - 1] < lo || row[x + 1] < lo ||
                up[x] < lo || down[x] < lo)
                continue;
            if (left[y] < 0)
                left[y] = x;
            right[y] = x;
        }
        if (left[y] >= 0) {
            y1 = y;
            if (y0 < 0)
                y0 = y;
        }
    }
    if (y0 < 0)
        return 0;
    /* The hull's left side is the lower convex chain of the points
     * (y, left[y]), its right side the upper one of (y, right[y]); between
     * two chain points a side is the straight line joining them. */
    for (int side = 0; side < 2; side++) {
        int *at = side == 0 ? left : right;
        int n = 0;
        for (int y = y0; y <= y1; y++) {
            if (at[y] < 0)
                continue;
            /* Pop the last point while it lies inside the chain that
             * skips it: a left side bulges to smaller x (the cross product
             * of the turn, in (y, x), positive), a right side to larger. */
            while (n >= 2) {
                int ya = chain[n - 2], yb = chain[n - 1];
                long cross = (long)(yb - ya) * (at[y] - at[ya]) -
                             (long)(at[yb] - at[ya]) * (y - ya);
                if (side == 0 ? cross > 0 : cross < 0)
                    break;
                n--;
            }
            chain[n++] = y;
        }
        /* at[] becomes the hull's edge on this side, row by row. It is
         * overwritten in place: each segment reads only its two ends,
         * whose values the interpolation leaves as they were. */
        for (int k = 0; k + 1 < n; k++) {
            int ya = chain[k], yb = chain[k + 1];
            int xa = at[ya], xb = at[yb];
            for (int y = ya; y < yb; y++)
                at[y] = xa + (int)lround((double)(xb - xa) * (y - ya) / (yb - ya));
        }
    }
    size_t area = 0, filled = 0, ink_inside = 0;
    for (int y = y0; y <= y1; y++) {
        const uint8_t *row = d + (size_t)y * (size_t)w;
        for (int x = left[y]; x <= right[y]; x++) {
            filled += row[x] >= field_cut;
            ink_inside += row[x] >= ink_cut;
        }
        area += (size_t)(right[y] - left[y] + 1);
    }
    /* The hull's length: its widest extent over HULL_DIRECTIONS directions
     * (within 0.5% of its diameter), whatever way it slants. */
    double length = 0;
    for (int k = 0; k < HULL_DIRECTIONS; k++) {
        double c = cos(PI * k / HULL_DIRECTIONS), sn = sin(PI * k / HULL_DIRECTIONS);
        double lo_p = 1e30, hi_p = -1e30;
        for (int y = y0; y <= y1; y++)
            for (int e = 0; e < 2; e++) {
                double p = c * (e ? right[y] : left[y]) + sn * y;
                lo_p = p < lo_p ? p : lo_p;
                hi_p = p > hi_p ? p : hi_p;
            }
        length = hi_p - lo_p + 1 > length ? hi_p - lo_p + 1 : length;
    }
    return (double)area >= PLATEAU_HULL * (double)field &&
           (double)filled >= PLATEAU_FILL * (double)area &&
           length * length <= PLATEAU_MAX_ELONGATION * (double)area &&
           (double)ink_inside >= PLATEAU_INK_INSIDE * (double)ink;
}

int skip_shaded_field(const uint8_t *d, int w, int h,
                      const uint32_t dhist[256], arena *mem,
                      contrast_levels *lv, int *ramp_floor)
{
    size_t n = (size_t)w * (size_t)h;
    /* below[v]: the seeds under level v. */
    size_t below[257] = {0};
    for (int v = 0; v < 256; v++)
        below[v + 1] = below[v] + (v > lv->threshold ? dhist[v] : 0);
    size_t seeds = below[256];
    /* The heaviest narrow peak among the seeds, short of the ink's level. */
    int level = -1, half = 0;
    size_t best = 0;
    for (int p = lv->threshold + 1; p + PLATEAU_MIN_STEP <= lv->peak; p++) {
        int r = p / PLATEAU_WIDTH > 3 ? p / PLATEAU_WIDTH : 3;
        size_t m = below[p + r + 1 < 256 ? p + r + 1 : 256] - below[p - r > 0 ? p - r : 0];
        if (m > best) {
            best = m;
            level = p;
            half = r;
        }
    }
    if (level < 0 || (double)best < PLATEAU_SHARE * (double)seeds ||
        (double)best < PLATEAU_MIN_AREA * (double)n)
        return 0;
    /* The first window to hold the most ends at the peak's edge: the
     * field's level is its mode, and its width that level's. */
    int mode = level;
    for (int v = level - half; v <= level + half && v < 256; v++)
        mode = v > lv->threshold && dhist[v] > dhist[mode] ? v : mode;
    level = mode;
    half = level / PLATEAU_WIDTH > 3 ? level / PLATEAU_WIDTH : 3;
    int top = level + half;
    size_t ink = 0;
    for (int v = top + PLATEAU_MIN_STEP; v < 256; v++)
        ink += dhist[v];
    if ((double)ink < PLATEAU_MIN_INK * (double)n || ink < 16)
        return 0;
    /* The ink's centre and box. Written strokes are spread out: a blot as
     * heavy as PLATEAU_COMPACT of its box's longer side squared is no
     * writing, and a light pen's strokes it lies on no field. */
    double sx = 0, sy = 0;
    rect box = rect_empty();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (d[(size_t)y * (size_t)w + (size_t)x] >= top + PLATEAU_MIN_STEP) {
                sx += x;
                sy += y;
                rect_add(&box, x, y);
            }
    double side = rect_long_side(box);
    if ((double)ink > PLATEAU_COMPACT * side * side)
        return 0;
    int cx = (int)(sx / (double)ink), cy = (int)(sy / (double)ink);
    /* The field's own spread, even where it dips under Otsu's threshold:
     * a field at that threshold is half seeds, half not. */
    int lo = level - half;
    int need = (int)ceil(PLATEAU_MIN_RUN * (w < h ? w : h));
    need = need > PLATEAU_PAPER_RUN ? need : PLATEAU_PAPER_RUN;
    int sides = (plateau_run(d, w, h, cx, cy, -1, 0, lo, top) >= need) +
                (plateau_run(d, w, h, cx, cy, 1, 0, lo, top) >= need) +
                (plateau_run(d, w, h, cx, cy, 0, -1, lo, top) >= need) +
                (plateau_run(d, w, h, cx, cy, 0, 1, lo, top) >= need);
    if (sides < 2)
        return 0;
    int region =
        field_is_a_region(d, w, h, lo, top, level / 2, top + PLATEAU_MIN_STEP, best, ink, mem);
    if (region <= 0)
        return region;
    /* Otsu between the field and the ink, held within the range
     * choose_levels allows above paper, measured from the field's top: ink
     * partly in shade is two levels, which Otsu alone would split. */
    uint32_t above[256] = {0};
    size_t n_above = 0;
    for (int v = top + 1; v < 256; v++) {
        above[v] = dhist[v];
        n_above += dhist[v];
    }
    int step = lv->peak - top;
    lv->threshold = clampi(otsu(above, n_above), top + step / 4, top + step * 3 / 5);
    *ramp_floor = top;
    return 1;
}
