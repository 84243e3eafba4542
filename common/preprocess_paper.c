/* preprocess_paper.c -- steps 0 to 2: the picture as grey levels on paper.
 * See preprocess_paper.h. */
#include "preprocess_paper.h"

#include <math.h>
#include <string.h>

/* Polarity from the border median: clearly light (LIGHT_PAPER, in
 * preprocess_internal.h) or clearly dark paper. In between (dim photos of
 * paper), the side the extreme pixels lie on decides. */
#define DARK_PAPER 95
/* Images above this many pixels are block-averaged first (see
 * work_factor): about 1450 x 1450, far more than a 20 px digit needs. */
#define WORK_PIXELS ((size_t)1 << 21)

/* ---- step 1: compositing ----------------------------------------------- */

static uint8_t luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((299u * r + 587u * g + 114u * b + 500u) / 1000u);
}

/* Straight alpha over the paper: a fully transparent pixel is paper,
 * whatever colour its (meaningless) RGB holds. */
static uint8_t over_paper(unsigned grey, unsigned alpha, unsigned paper)
{
    return (uint8_t)((grey * alpha + paper * (255u - alpha) + 127u) / 255u);
}

void composite_pixels(const uint8_t *p, size_t n, int ch, unsigned paper, uint8_t *out)
{
    switch (ch) {
    case 1:
        memcpy(out, p, n);
        break;
    case 2:
        for (size_t i = 0; i < n; i++)
            out[i] = over_paper(p[2 * i], p[2 * i + 1], paper);
        break;
    case 3:
        for (size_t i = 0; i < n; i++)
            out[i] = luma(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
        break;
    default:
        for (size_t i = 0; i < n; i++)
            out[i] = over_paper(luma(p[4 * i], p[4 * i + 1], p[4 * i + 2]), p[4 * i + 3], paper);
        break;
    }
}

/* Whether strokes none of which is even half opaque (a translucent brush,
 * chalk or highlighter tool) are light: the grey levels of what stands out
 * of the background, each weighted by how much more opaque than the
 * border it is (a faint paper layer under the strokes must not count, or
 * dark strokes on it would be taken for light ones). Rare, hence out of
 * line and in plain 64-bit sums. */
static RARELY_TAKEN int translucent_ink_is_light(const image *src, unsigned border_alpha)
{
    int ch = src->channels;
    const uint8_t *px = src->pixels;
    size_t n = (size_t)src->width * (size_t)src->height;
    uint64_t weighted = 0, weight = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = px + i * (size_t)ch;
        unsigned a = p[ch - 1];
        if (a <= border_alpha)
            continue;
        unsigned grey = ch == 2 ? p[0] : luma(p[0], p[1], p[2]);
        weighted += (uint64_t)grey * (a - border_alpha);
        weight += a - border_alpha;
    }
    return weight > 0 && 2 * weighted > 255 * weight;
}

unsigned choose_paper(const image *src)
{
    int ch = src->channels, w = src->width, h = src->height;
    if (ch != 2 && ch != 4)
        return 255;
    const uint8_t *alpha = src->pixels + ch - 1;
    size_t border = 0, clear = 0;
    uint64_t border_alpha = 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = alpha + (size_t)y * (size_t)w * (size_t)ch;
        if (y == 0 || y == h - 1) {
            for (int x = 0; x < w; x++) {
                clear += row[(size_t)x * (size_t)ch] < 128;
                border_alpha += row[(size_t)x * (size_t)ch];
            }
            border += (size_t)w;
        } else {
            clear += row[0] < 128;
            border_alpha += row[0];
            border++;
            if (w > 1) {
                clear += row[(size_t)(w - 1) * (size_t)ch] < 128;
                border_alpha += row[(size_t)(w - 1) * (size_t)ch];
                border++;
            }
        }
    }
    if (2 * clear <= border)
        return 255;   /* an opaque picture, the usual case: no need to look at the ink */
    /* The grey levels are integers, so their sum is exact in any order and
     * in an integer: the mean below is what a double sum gave. Chunks keep
     * the 32-bit partial sums from overflowing (32-bit sums vectorise). */
    size_t n = (size_t)w * (size_t)h, opaque = 0;
    uint64_t grey_sum = 0;
    for (size_t start = 0; start < n; start += (size_t)1 << 24) {
        size_t end = n - start > (size_t)1 << 24 ? start + ((size_t)1 << 24) : n;
        const uint8_t *p = src->pixels;
        uint32_t on_count = 0, on_sum = 0;
        if (ch == 2) {
            for (size_t i = start; i < end; i++) {
                uint32_t on = p[2 * i + 1] >> 7;   /* alpha >= 128 */
                on_count += on;
                on_sum += p[2 * i] & -on;
            }
        } else {
            for (size_t i = start; i < end; i++) {
                uint32_t on = p[4 * i + 3] >> 7;
                on_count += on;
                on_sum += luma(p[4 * i], p[4 * i + 1], p[4 * i + 2]) & -on;
            }
        }
        opaque += on_count;
        grey_sum += on_sum;
    }
    if (opaque == 0) {
        unsigned border_mean = (unsigned)((border_alpha + border / 2) / border);
        return translucent_ink_is_light(src, border_mean) ? 0 : 255;
    }
    return (double)grey_sum / (double)opaque > 127.5 ? 0 : 255;
}

int work_factor(int w, int h)
{
    int f = 1;
    while ((size_t)((w + f - 1) / f) * (size_t)((h + f - 1) / f) > WORK_PIXELS)
        f++;
    return f;
}

int composite_reduce(const image *src, unsigned paper, int f, uint8_t *lum, int ww,
                     int wh, arena *mem)
{
    uint32_t *sums = arena_alloc(mem, (size_t)ww * sizeof *sums);
    uint8_t *grey = arena_alloc(mem, (size_t)src->width);
    if (!sums || !grey)
        return -1;
    size_t stride = (size_t)src->width * (size_t)src->channels;
    for (int ry = 0; ry < wh; ry++) {
        memset(sums, 0, (size_t)ww * sizeof *sums);
        int y0 = ry * f, y1 = y0 + f < src->height ? y0 + f : src->height;
        for (int y = y0; y < y1; y++) {
            composite_pixels(src->pixels + (size_t)y * stride, (size_t)src->width, src->channels,
                             paper, grey);
            for (int rx = 0, x = 0; rx < ww; rx++) {
                int x1 = x + f < src->width ? x + f : src->width;
                uint32_t s = 0;
                for (; x < x1; x++)
                    s += grey[x];
                sums[rx] += s;
            }
        }
        for (int rx = 0; rx < ww; rx++) {
            int x0 = rx * f, x1 = x0 + f < src->width ? x0 + f : src->width;
            uint32_t count = (uint32_t)((x1 - x0) * (y1 - y0));
            lum[(size_t)ry * (size_t)ww + (size_t)rx] = (uint8_t)((sums[rx] + count / 2) / count);
        }
    }
    return 0;
}

#define BORDER_RANGE_QUANTILE 0.05

/* 1 when every border pixel has the level of the top-left one, as on a
 * canvas export or an MNIST digit. */
static int border_is_uniform(const uint8_t *lum, int w, int h)
{
    const uint8_t first = lum[0];
    const uint8_t *bottom = lum + (size_t)(h - 1) * (size_t)w;
    unsigned differ = 0;
    for (int x = 0; x < w; x++)
        differ |= (unsigned)(lum[x] ^ first) | (unsigned)(bottom[x] ^ first);
    for (int y = 1; y < h - 1; y++) {
        const uint8_t *row = lum + (size_t)y * (size_t)w;
        differ |= (unsigned)(row[0] ^ first) | (unsigned)(row[w - 1] ^ first);
    }
    return differ == 0;
}

border_levels measure_border(const uint8_t *lum, int w, int h)
{
    /* Then every quantile is that level; the histogram below would count
     * the same level over and over, each count waiting on the one before. */
    if (border_is_uniform(lum, w, h))
        return (border_levels){lum[0], lum[0], lum[0]};
    uint32_t hist[256] = {0};
    size_t total = 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = lum + (size_t)y * (size_t)w;
        if (y == 0 || y == h - 1) {
            for (int x = 0; x < w; x++)
                hist[row[x]]++;
            total += (size_t)w;
        } else {
            hist[row[0]]++;
            total++;
            if (w > 1) {
                hist[row[w - 1]]++;
                total++;
            }
        }
    }
    border_levels b = {
        .median = histogram_quantile(hist, total, 0.5),
        .low = histogram_quantile(hist, total, BORDER_RANGE_QUANTILE),
        .high = histogram_quantile(hist, total, 1.0 - BORDER_RANGE_QUANTILE),
    };
    return b;
}

/* ---- step 2: polarity -------------------------------------------------- */

/* With the pixels at level light or above taken for paper, the ink is the
 * dark pixels they enclose (those not joined to the border's dark). It is
 * ink when there is some, at least INK_MIN_SHARE of the picture, in strokes
 * under INK_MAX_WIDTH of the shorter side wide on average (twice the area
 * over the outline): a sheet on a desk holds a written digit, while a fat
 * light digit on a dark ground encloses nothing (a 2) or a hole as wide as
 * its strokes (a 0). With flip 255, the same of light strokes on a dark
 * ground (of 255 - v, light then being a level of 255 - v too). */
#define INK_MIN_SHARE 0.002
#define INK_MAX_WIDTH 0.09

/* What the paper (pixels at level light or above, of v ^ flip) encloses. */
typedef struct {
    size_t area, outline;              /* of the enclosed dark */
    size_t paper_area, paper_outline;  /* of the paper, when asked for */
    size_t span_gaps;                  /* when asked: see holds_written_sheet */
} enclosure;

/* Whether what the paper encloses lies on the ground rather than in the
 * holes of a stroke. Light chalk strokes on a dark board touch the board;
 * the loops of a dark digit written on the lit part of a page half in a
 * hard shadow touch the digit's strokes, which are darker than any ground
 * (the ink reaches well below the border's range). So each contact of the
 * enclosed with the paper is put down to ink when, going on in the same
 * direction from the paper pixel, two pixels in a row reach ink_cut (of
 * v ^ flip) within HOLD_PROBE of the shorter side (past the blurred edge
 * of a stroke in a photo; at least HOLD_PROBE_MIN, at most HOLD_PROBE_MAX
 * pixels, so that specks on a board a long way off do not count, and two
 * in a row, as a single speck on the way does not). The enclosed lie on
 * the ground when most contacts are not ink. At most HOLD_CONTACTS
 * contacts are walked, evenly spread, so that a picture with a contact at
 * every pixel costs no more than a photo does. */
#define HOLD_PROBE 0.03
#define HOLD_PROBE_MIN 3
#define HOLD_PROBE_MAX 12
#define HOLD_CONTACTS 65536

RARELY_TAKEN static int held_by_ground(const uint8_t *v, uint8_t flip, int w, int h, int light,
                                       int ink_cut, const uint8_t *outside, size_t contacts)
{
    static const int dx[4] = {1, -1, 0, 0}, dy[4] = {0, 0, 1, -1};
    int probe = (int)(HOLD_PROBE * (w < h ? w : h));
    probe = clampi(probe, HOLD_PROBE_MIN, HOLD_PROBE_MAX);
    size_t stride = contacts / HOLD_CONTACTS + 1, seen = 0;
    size_t ground = 0, ink = 0;
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            if ((v[i] ^ flip) >= light || outside[i])
                continue;
            for (int k = 0; k < 4; k++) {
                int px = x + dx[k], py = y + dy[k];
                if ((v[(size_t)py * (size_t)w + (size_t)px] ^ flip) < light)
                    continue;   /* not a contact with the paper */
                if (seen++ % stride != 0)
                    continue;
                int run = 0;
                for (int step = 0; step <= probe && run < 2; step++) {
                    int qx = px + step * dx[k], qy = py + step * dy[k];
                    if (qx < 0 || qx >= w || qy < 0 || qy >= h)
                        break;
                    run = (v[(size_t)qy * (size_t)w + (size_t)qx] ^ flip) >= ink_cut ? run + 1 : 0;
                }
                ink += (size_t)(run >= 2);
                ground += (size_t)(run < 2);
            }
        }
    return ground > ink;
}

/* Fills *e; -1 when out of memory. with_paper also measures the paper and
 * the gaps in its spans. */
RARELY_TAKEN static int measure_enclosure(const uint8_t *v, uint8_t flip, int w, int h,
                                          int light, int with_paper,
                                          enclosure_scratch *scratch, arena *mem, enclosure *e)
{
    memset(e, 0, sizeof *e);
    size_t n = (size_t)w * (size_t)h;
    if (!scratch->outside || !scratch->stack) {
        scratch->outside = arena_alloc(mem, n);
        scratch->stack = arena_alloc(mem, n * sizeof *scratch->stack);
        if (!scratch->outside || !scratch->stack)
            return -1;
    }
    uint8_t *outside = scratch->outside;
    uint32_t *stack = scratch->stack;
    memset(outside, 0, n);
    size_t top = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            if ((y == 0 || y == h - 1 || x == 0 || x == w - 1) && (v[i] ^ flip) < light &&
                !outside[i]) {
                outside[i] = 1;
                stack[top++] = (uint32_t)i;
            }
        }
    while (top > 0) {   /* 4-connected fill of the dark joined to the border */
        size_t i = stack[--top];
        int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
        size_t next[4] = {i - 1, i + 1, i - (size_t)w, i + (size_t)w};
        int ok[4] = {x > 0, x < w - 1, y > 0, y < h - 1};
        for (int k = 0; k < 4; k++)
            if (ok[k] && !outside[next[k]] && (v[next[k]] ^ flip) < light) {
                outside[next[k]] = 1;
                stack[top++] = (uint32_t)next[k];
            }
    }
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            int is_paper = (v[i] ^ flip) >= light;
            if (is_paper ? !with_paper : outside[i])
                continue;
            size_t edges = (size_t)(((v[i - 1] ^ flip) >= light) != is_paper) +
                           (size_t)(((v[i + 1] ^ flip) >= light) != is_paper) +
                           (size_t)(((v[i - (size_t)w] ^ flip) >= light) != is_paper) +
                           (size_t)(((v[i + (size_t)w] ^ flip) >= light) != is_paper);
            if (is_paper) {
                e->paper_area++;
                e->paper_outline += edges;
            } else {
                e->area++;
                e->outline += edges;
            }
        }
    if (!with_paper)
        return 0;
    /* Between the first and the last paper pixel of each row and of each
     * column, the pixels joined to the border's dark. */
    for (int y = 0; y < h; y++) {
        const uint8_t *row = v + (size_t)y * (size_t)w;
        int x0 = 0, x1 = w - 1;
        while (x0 < w && (row[x0] ^ flip) < light)
            x0++;
        while (x1 > x0 && (row[x1] ^ flip) < light)
            x1--;
        for (int x = x0; x < x1; x++)
            e->span_gaps += outside[(size_t)y * (size_t)w + (size_t)x];
    }
    for (int x = 0; x < w; x++) {
        int y0 = 0, y1 = h - 1;
        while (y0 < h && (v[(size_t)y0 * (size_t)w + (size_t)x] ^ flip) < light)
            y0++;
        while (y1 > y0 && (v[(size_t)y1 * (size_t)w + (size_t)x] ^ flip) < light)
            y1--;
        for (int y = y0; y < y1; y++)
            e->span_gaps += outside[(size_t)y * (size_t)w + (size_t)x];
    }
    return 0;
}

/* ---- sheet shape --------------------------------------------------------
 * What the paper encloses together with the paper itself (every pixel not
 * joined to the border's dark) is, for a sheet, a rectangle: the sheet, cut
 * by the picture's edges where it runs past them, seen square on or turned.
 * For a fat light digit it is the digit with its holes filled, a rounded
 * blob: an oval fills pi/4 of the smallest rectangle round it, and other
 * digits less. sheet_fill gives that share: the pixels not outside over the
 * area of the smallest rectangle, at any angle, holding them (its sides
 * run along an edge of their convex hull). */
static double cross3(const int *o, const int *a, const int *b)
{
    return (double)(a[0] - o[0]) * (double)(b[1] - o[1]) -
           (double)(a[1] - o[1]) * (double)(b[0] - o[0]);
}

RARELY_TAKEN static double sheet_fill(const uint8_t *outside, int w, int h, arena *mem,
                                      size_t *inside)
{
    *inside = 0;
    /* Each row's first and last pixel not outside hold the hull; in row
     * order they are already sorted by y, as the monotone chain needs. */
    int *pt = arena_alloc(mem, (size_t)h * 4 * sizeof *pt);
    int *hull = arena_alloc(mem, ((size_t)h * 2 + 1) * 2 * sizeof *hull);
    if (!pt || !hull)
        return 0.0;
    size_t np = 0, filled = 0;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = outside + (size_t)y * (size_t)w;
        int x0 = 0, x1 = w - 1;
        while (x0 < w && row[x0])
            x0++;
        if (x0 == w)
            continue;
        while (row[x1])
            x1--;
        for (int x = x0; x <= x1; x++)
            filled += !row[x];
        pt[2 * np] = x0;
        pt[2 * np + 1] = y;
        np++;
        if (x1 != x0) {
            pt[2 * np] = x1;
            pt[2 * np + 1] = y;
            np++;
        }
    }
    *inside = filled;
    if (np < 3 || filled == 0)
        return 0.0;
    /* Andrew's monotone chain over points sorted by (y, x). */
    size_t k = 0;
    for (size_t i = 0; i < np; i++) {
        while (k >= 2 && cross3(&hull[2 * (k - 2)], &hull[2 * (k - 1)], &pt[2 * i]) <= 0)
            k--;
        hull[2 * k] = pt[2 * i];
        hull[2 * k + 1] = pt[2 * i + 1];
        k++;
    }
    for (size_t i = np - 1, lower = k + 1; i-- > 0;) {
        while (k >= lower && cross3(&hull[2 * (k - 2)], &hull[2 * (k - 1)], &pt[2 * i]) <= 0)
            k--;
        hull[2 * k] = pt[2 * i];
        hull[2 * k + 1] = pt[2 * i + 1];
        k++;
    }
    k--;   /* the last point repeats the first */
    if (k < 3)
        return 0.0;
    /* The smallest rectangle along each hull edge. Pixel centres span one
     * pixel less than the pixels do: a pixel is added to each extent. */
    double best = -1.0;
    for (size_t e = 0; e < k; e++) {
        const int *a = &hull[2 * e], *b = &hull[2 * ((e + 1) % k)];
        double dx = b[0] - a[0], dy = b[1] - a[1], len = sqrt(dx * dx + dy * dy);
        if (len == 0.0)
            continue;
        dx /= len;
        dy /= len;
        double u0 = 0, u1 = 0, v0 = 0, v1 = 0;
        for (size_t i = 0; i < k; i++) {
            double px = hull[2 * i] - a[0], py = hull[2 * i + 1] - a[1];
            double u = px * dx + py * dy, v = -px * dy + py * dx;
            u0 = u < u0 ? u : u0;
            u1 = u > u1 ? u : u1;
            v0 = v < v0 ? v : v0;
            v1 = v > v1 ? v : v1;
        }
        double area = (u1 - u0 + 1.0) * (v1 - v0 + 1.0);
        if (best < 0 || area < best)
            best = area;
    }
    return best > 0 ? (double)filled / best : 0.0;
}

/* Strokes: some ink, at least INK_MIN_SHARE of the picture, at most
 * max_width of the shorter side wide on average (twice the area over the
 * outline). */
static int strokes_up_to(const enclosure *e, int w, int h, double max_width)
{
    return e->area >= INK_MIN_SHARE * (double)w * (double)h && e->outline > 0 &&
           2.0 * (double)e->area / (double)e->outline <= max_width * (w < h ? w : h);
}

static int are_strokes(const enclosure *e, int w, int h)
{
    return strokes_up_to(e, w, h, INK_MAX_WIDTH);
}

/* Strokes too wide for are_strokes, up to SHEET_INK_MAX_WIDTH of the
 * shorter side, that the paper still holds as a written sheet: the paper
 * with what it encloses fills SHEET_MIN_FILL of its smallest rectangle or
 * more, and the strokes are under SHEET_MAX_INK_SHARE of it (writing is
 * 7-28% of a sheet; the dark inside of a light box round a fat light
 * digit, a dark-mode button or chalk in a drawn box, is 39% or more).
 * Sheets on a desk or under a scanner's lid fill 0.91-1 of it (turned or
 * clipped by the picture's edges), fat light digits on a dark ground at
 * most 0.85 (an oval pi/4, a tight crop's edges a little more) whatever
 * their strokes' width: the shape, not the width, tells thick marker on a
 * sheet from a fat light 0 round a small hole. The width is still capped:
 * a light digit that is itself a rectangle (a boxy or display-font 0)
 * fills its rectangle as a sheet does, and only its hole's width, wider
 * than strokes, then tells it apart. */
#define SHEET_INK_MAX_WIDTH 0.12
#define SHEET_MIN_FILL 0.88
#define SHEET_MAX_INK_SHARE 0.33

static int are_sheet_strokes(const enclosure *e, int w, int h, const uint8_t *outside,
                             arena *mem)
{
    if (!strokes_up_to(e, w, h, SHEET_INK_MAX_WIDTH))
        return 0;
    size_t inside;
    double fill = sheet_fill(outside, w, h, mem, &inside);
    return fill >= SHEET_MIN_FILL && (double)e->area <= SHEET_MAX_INK_SHARE * (double)inside;
}

int encloses_strokes(const uint8_t *v, uint8_t flip, int w, int h, int light, int sheet,
                     enclosure_scratch *scratch, arena *mem)
{
    enclosure e;
    if (measure_enclosure(v, flip, w, h, light, 0, scratch, mem, &e) != 0)
        return 0;   /* no memory for the test: no sheet, as before it */
    return are_strokes(&e, w, h) || (sheet && are_sheet_strokes(&e, w, h, scratch->outside, mem));
}

/* encloses_strokes() for strokes lying on the ground (held_by_ground). */
static int ground_holds_strokes(const uint8_t *v, uint8_t flip, int w, int h, int light,
                                int ink_cut, enclosure_scratch *scratch, arena *mem)
{
    enclosure e;
    if (measure_enclosure(v, flip, w, h, light, 0, scratch, mem, &e) != 0)
        return 0;
    return are_strokes(&e, w, h) &&
           held_by_ground(v, flip, w, h, light, ink_cut, scratch->outside, e.outline);
}

/* A sheet under half of a photo on a darker desk: the desk is the border
 * and most of the picture, so neither the border nor the median is the
 * paper; the light fifth or more of the picture may be (SHEET_MIN_SHARE).
 * It is a sheet, written on, when the paper (pixels at level light or
 * above) encloses strokes; the paper is at least SHEET_WIDTH_RATIO times as
 * wide as they are; and it is convex, as a sheet is whatever its angle:
 * between the first and last paper pixel of a row or a column there is
 * hardly any of the desk (SHEET_MAX_GAPS of the strokes' area). A fat light
 * digit on a dark ground is not convex where it has gaps (a 4, a 7), and a
 * hole of an 8 or a 9 is no wider than its strokes; what passes is a light
 * blob round a slit of a hole. */
#define SHEET_WIDTH_RATIO 3.0
#define SHEET_MAX_GAPS 0.1

int holds_written_sheet(const uint8_t *v, int w, int h, int light,
                        enclosure_scratch *scratch, arena *mem)
{
    enclosure e;
    if (measure_enclosure(v, 0, w, h, light, 1, scratch, mem, &e) != 0)
        return 0;
    if (are_strokes(&e, w, h) && e.paper_outline > 0) {
        double stroke_width = 2.0 * (double)e.area / (double)e.outline;
        double paper_width = 2.0 * (double)e.paper_area / (double)e.paper_outline;
        if (paper_width >= SHEET_WIDTH_RATIO * stroke_width &&
            (double)e.span_gaps <= SHEET_MAX_GAPS * (double)e.area)
            return 1;
    }
    /* Thick marker leaves too little paper round it for the width ratio;
     * a rectangle of paper is a sheet all the same. */
    return are_sheet_strokes(&e, w, h, scratch->outside, mem);
}

/* A border whose levels spread this far is lit two ways (a hard shadow
 * across the page) or is two things (paper and desk, a board and the wall
 * behind it). Its median then says little: under a shadow over half the
 * border it is the shadowed paper, mid-grey or darker, and the lit paper
 * beyond is the lightest thing in the picture, as light ink would be. But
 * paper in shadow is still far lighter than ink: the ink reaches well below
 * the border's whole range (INK_BEYOND_MIN, and INK_BEYOND_RATIO times as
 * far as anything reaches above it), and taking everything above halfway
 * down to it for paper, what the paper encloses is written strokes; while
 * the light side, taken from halfway up from the border's darkest to the
 * lightest pixels, encloses no strokes lying on the ground (held_by_ground:
 * a dark digit's loops are enclosed light too): it is paper, lit or in
 * shade.
 * Pictures that fail it: chalk on a board with the lit wall in view beside
 * an eraser or a dark frame (the chalk is light strokes the board
 * encloses), and a dark canvas in a grey window frame (far too wide for
 * strokes). Only on pictures of at least MIN_SIDE_FOR_MAP a side, as small
 * ones are crops of the digit. */
#define TWO_LIGHTS_SPREAD 48
#define INK_BEYOND_MIN 30
#define INK_BEYOND_RATIO 2

int ink_is_dark(const uint8_t *v, int w, int h, const uint32_t *hist, int paper,
                border_levels border, enclosure_scratch *scratch, arena *mem)
{
    if (paper >= LIGHT_PAPER)
        return 1;
    size_t n = (size_t)w * (size_t)h;
    int darkest = histogram_quantile(hist, n, 0.001);
    int lightest = histogram_quantile(hist, n, 0.999);
    if (paper > DARK_PAPER && paper - darkest >= lightest - paper)
        return 1;
    /* Light ink by the median: unless the border spans two lightings. The
     * enclosure tests walk the whole picture, so only now. */
    int below = border.low - darkest, above = lightest - border.high;
    return border.high - border.low >= TWO_LIGHTS_SPREAD && w >= MIN_SIDE_FOR_MAP &&
           h >= MIN_SIDE_FOR_MAP && below >= INK_BEYOND_MIN &&
           below >= INK_BEYOND_RATIO * (above > 0 ? above : 0) &&
           encloses_strokes(v, 0, w, h, (border.low + darkest + 1) / 2, 0, scratch, mem) &&
           !ground_holds_strokes(v, 255, w, h, 255 - (border.low + lightest + 1) / 2,
                                 256 - (border.low + darkest + 1) / 2, scratch, mem);
}
