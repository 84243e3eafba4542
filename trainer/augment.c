/* augment.c -- per-epoch distortions and the shared preprocessing of
 * training images (see augment.h for the why).
 */
#include "augment.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "rng.h"

#define MNIST_SIDE_IN 28
#define PI_F 3.14159265f
#define MAX_GRID 16

void augment_config_defaults(augment_config *cfg)
{
    cfg->rotate_degrees = 12.0f;
    cfg->scale = 0.12f;
    cfg->shear = 0.25f;
    cfg->elastic_pixels = 2.0f;
    cfg->elastic_grid = 6;
    cfg->thin_probability = 0.15f;
    cfg->thick_probability = 0.35f;
    cfg->max_thicken = 2;
    /* Some scanners and data sets stretch each digit to fill a square box
     * (Semeion does), which turns a "1" into a wide slanted bar. */
    cfg->fill_probability = 0.12f;
    cfg->max_fill_stretch = 4.0f;
    /* Much of Europe crosses its sevens; MNIST's American writers hardly
     * ever do, and a crossed 7 then reads as a 2 or a Z. */
    cfg->cross_seven_probability = 0.3f;
    /* Programmers and much of Scandinavia slash their zeros; some writers
     * end a 9's tail in a hook to the left. MNIST has neither, and the
     * network reads a slashed 0 as an 8 and a hooked 9 as a 3. */
    cfg->slash_zero_probability = 0.25f;
    cfg->hook_nine_probability = 0.25f;
    /* Much of continental Europe starts a 1 with a long stroke up to the
     * top of the stem, so the 1 looks like a caret or a lambda; MNIST's
     * 1s are nearly all a bare stem. */
    cfg->flag_one_probability = 0.2f;
    /* Not every upload is drawn at a generous size: a small canvas, a
     * thumbnail or an old scanner captures a digit in a dozen pixels a side,
     * which then arrives enlarged, with square pixels. */
    cfg->coarse_probability = 0.15f;
}

int augment_parse_mode(const char *text, augment_mode *mode)
{
    if (strcmp(text, "none") == 0) *mode = AUGMENT_NONE;
    else if (strcmp(text, "preprocess") == 0) *mode = AUGMENT_PREPROCESS;
    else if (strcmp(text, "full") == 0) *mode = AUGMENT_FULL;
    else return -1;
    return 0;
}

const char *augment_mode_name(augment_mode mode)
{
    switch (mode) {
    case AUGMENT_PREPROCESS: return "preprocess";
    case AUGMENT_FULL: return "full";
    default: return "none";
    }
}

static float uniform_between(rng *r, float lo, float hi)
{
    return lo + (hi - lo) * rng_uniform(r);
}

/* Bilinear sample of the 28x28 source at (x, y), 0 outside. */
static float sample_source(const uint8_t *src, float x, float y)
{
    if (!(x > -1.0f && y > -1.0f && x < MNIST_SIDE_IN && y < MNIST_SIDE_IN))
        return 0.0f;
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    float fx = x - (float)x0, fy = y - (float)y0;
    float v[2][2];
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int sx = x0 + dx, sy = y0 + dy;
            v[dy][dx] = sx >= 0 && sy >= 0 && sx < MNIST_SIDE_IN && sy < MNIST_SIDE_IN
                            ? (float)src[sy * MNIST_SIDE_IN + sx]
                            : 0.0f;
        }
    return (v[0][0] * (1 - fx) + v[0][1] * fx) * (1 - fy) + (v[1][0] * (1 - fx) + v[1][1] * fx) * fy;
}

/* Smoothstep weights make the interpolated displacement field smooth where
 * plain bilinear interpolation would crease at the control lines. */
static float smooth(float t) { return t * t * (3.0f - 2.0f * t); }

/* Where each working pixel falls between the field's control points. */
typedef struct {
    int index[AUGMENT_SIDE];
    float weight[AUGMENT_SIDE];
} grid_lookup;

static void make_grid_lookup(int g, grid_lookup *lut)
{
    const float to_grid = (float)(g - 1) / (AUGMENT_SIDE - 1);
    for (int x = 0; x < AUGMENT_SIDE; x++) {
        float gx = (float)x * to_grid;
        int i = (int)gx;
        if (i >= g - 1)
            i = g - 2;
        lut->index[x] = i;
        lut->weight[x] = smooth(gx - (float)i);
    }
}

/* The field along row y: first blend the two control rows around y, then
 * interpolate along x. */
static void field_row(const float *grid, int g, const grid_lookup *lut, int y, float *row)
{
    float blended[MAX_GRID];
    int j = lut->index[y];
    float ty = lut->weight[y];
    for (int i = 0; i < g; i++)
        blended[i] = grid[j * g + i] * (1 - ty) + grid[(j + 1) * g + i] * ty;
    for (int x = 0; x < AUGMENT_SIDE; x++) {
        int i = lut->index[x];
        float tx = lut->weight[x];
        row[x] = blended[i] * (1 - tx) + blended[i + 1] * tx;
    }
}

/* A working image with a one-pixel border of zeros, so 3x3 filters need no
 * bounds checks. */
#define PADDED (AUGMENT_SIDE + 2)

/* One pass of a grey-level 3x3 max (dilate) or min (erode) filter over the
 * interior; `square` alternates with a cross so repeated passes grow a
 * rounder pen. */
static void morph_pass(const uint8_t *in, uint8_t *out, int dilate, int square)
{
    for (int y = 1; y <= AUGMENT_SIDE; y++) {
        const uint8_t *up = in + (y - 1) * PADDED, *mid = in + y * PADDED,
                      *down = in + (y + 1) * PADDED;
        uint8_t *o = out + y * PADDED;
        for (int x = 1; x <= AUGMENT_SIDE; x++) {
            uint8_t v[9] = {mid[x], mid[x - 1], mid[x + 1], up[x], down[x],
                            up[x - 1], up[x + 1], down[x - 1], down[x + 1]};
            int n = square ? 9 : 5;
            uint8_t best = v[0];
            for (int i = 1; i < n; i++)
                best = dilate ? (v[i] > best ? v[i] : best) : (v[i] < best ? v[i] : best);
            o[x] = best;
        }
    }
}

/* The per-axis stretch that moves the digit's bounding box a fraction
 * `amount` of the way towards a square of its longest side. */
static void fill_stretch(const uint8_t *src, float amount, float max_stretch, float *fx,
                         float *fy)
{
    int x0 = MNIST_SIDE_IN, y0 = MNIST_SIDE_IN, x1 = -1, y1 = -1;
    for (int y = 0; y < MNIST_SIDE_IN; y++)
        for (int x = 0; x < MNIST_SIDE_IN; x++)
            if (src[y * MNIST_SIDE_IN + x] > 64) {
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0;
                y1 = y > y1 ? y : y1;
            }
    *fx = *fy = 1.0f;
    if (x1 < 0)
        return;
    float w = (float)(x1 - x0 + 1), h = (float)(y1 - y0 + 1), side = w > h ? w : h;
    *fx = (w + amount * (side - w)) / w;
    *fy = (h + amount * (side - h)) / h;
    *fx = *fx > max_stretch ? max_stretch : *fx;
    *fy = *fy > max_stretch ? max_stretch : *fy;
}

/* Draws a short horizontal bar through the stem of a 7, about halfway down,
 * two pixels thick with a soft edge, as a European writer would. */
static void cross_seven(uint8_t *img, rng *r)
{
    int y0 = MNIST_SIDE_IN, y1 = -1, x0 = MNIST_SIDE_IN, x1 = -1;
    for (int y = 0; y < MNIST_SIDE_IN; y++)
        for (int x = 0; x < MNIST_SIDE_IN; x++)
            if (img[y * MNIST_SIDE_IN + x] > 128) {
                y0 = y < y0 ? y : y0;
                y1 = y > y1 ? y : y1;
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
            }
    if (y1 - y0 < 8)
        return;
    int y = y0 + (int)((float)(y1 - y0) * uniform_between(r, 0.45f, 0.62f));
    /* The stem is where the ink is on that row. */
    int sum = 0, count = 0;
    for (int x = 0; x < MNIST_SIDE_IN; x++)
        if (img[y * MNIST_SIDE_IN + x] > 128) {
            sum += x;
            count++;
        }
    if (count == 0)
        return;
    float centre = (float)sum / (float)count;
    float width = (float)(x1 - x0 + 1) > 8.0f ? (float)(x1 - x0 + 1) : 8.0f;
    float half = width * uniform_between(r, 0.22f, 0.35f);
    int from = (int)(centre - half), to = (int)(centre + half);
    from = from < 1 ? 1 : from;
    to = to > MNIST_SIDE_IN - 2 ? MNIST_SIDE_IN - 2 : to;
    static const uint8_t profile[4] = {90, 255, 255, 90};
    for (int i = 0; i < 4; i++) {
        int row = y - 1 + i;
        if (row < 0 || row >= MNIST_SIDE_IN)
            continue;
        for (int x = from; x <= to; x++) {
            uint8_t *p = &img[row * MNIST_SIDE_IN + x];
            *p = *p > profile[i] ? *p : profile[i];
        }
    }
}

/* The box of the pixels above 128, and the pen's half width: half the
 * mean length of the first ink run in each row of the box's middle half,
 * within 1..2.5. Returns -1 for a digit too small to draw on. */
static int ink_box(const uint8_t *img, int *x0, int *y0, int *x1, int *y1, float *half_width)
{
    *x0 = *y0 = MNIST_SIDE_IN;
    *x1 = *y1 = -1;
    for (int y = 0; y < MNIST_SIDE_IN; y++)
        for (int x = 0; x < MNIST_SIDE_IN; x++)
            if (img[y * MNIST_SIDE_IN + x] > 128) {
                *x0 = x < *x0 ? x : *x0;
                *x1 = x > *x1 ? x : *x1;
                *y0 = y < *y0 ? y : *y0;
                *y1 = y > *y1 ? y : *y1;
            }
    if (*y1 - *y0 < 8)
        return -1;
    /* The first run of ink in each middle row is one crossing of the pen
     * (a row through a 0 or a 9's loop crosses it twice). */
    int rows = 0, ink = 0;
    for (int y = *y0 + (*y1 - *y0) / 4; y <= *y1 - (*y1 - *y0) / 4; y++) {
        const uint8_t *row = img + y * MNIST_SIDE_IN;
        int x = 0;
        while (x < MNIST_SIDE_IN && row[x] <= 128)
            x++;
        if (x == MNIST_SIDE_IN)
            continue;
        rows++;
        while (x < MNIST_SIDE_IN && row[x] > 128) {
            ink++;
            x++;
        }
    }
    float hw = rows ? 0.5f * (float)ink / (float)rows : 1.0f;
    *half_width = hw < 1.0f ? 1.0f : hw > 2.5f ? 2.5f : hw;
    return 0;
}

/* Draws a straight stroke from (ax, ay) to (bx, by) with a round pen of the
 * given half width, anti-aliased, over what is there. */
static void draw_stroke(uint8_t *img, float ax, float ay, float bx, float by, float half_width)
{
    float dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    for (int y = 0; y < MNIST_SIDE_IN; y++)
        for (int x = 0; x < MNIST_SIDE_IN; x++) {
            /* distance from the pixel centre to the segment */
            float t = len2 > 0.0f ? (((float)x - ax) * dx + ((float)y - ay) * dy) / len2 : 0.0f;
            t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
            float ex = (float)x - (ax + t * dx), ey = (float)y - (ay + t * dy);
            float cover = half_width + 0.5f - sqrtf(ex * ex + ey * ey);
            if (cover <= 0.0f)
                continue;
            uint8_t v = (uint8_t)(255.0f * (cover > 1.0f ? 1.0f : cover));
            uint8_t *p = &img[y * MNIST_SIDE_IN + x];
            *p = *p > v ? *p : v;
        }
}

/* A slash through a 0, from lower left to upper right through the middle
 * of its box, 45-85 degrees from horizontal, overshooting the oval a little. */
static void slash_zero(uint8_t *img, rng *r)
{
    int x0, y0, x1, y1;
    float hw;
    if (ink_box(img, &x0, &y0, &x1, &y1, &hw) != 0)
        return;
    float cx = 0.5f * (float)(x0 + x1), cy = 0.5f * (float)(y0 + y1);
    float angle = uniform_between(r, 45.0f, 85.0f) * PI_F / 180.0f;
    float side = (float)((x1 - x0) > (y1 - y0) ? x1 - x0 : y1 - y0);
    float half = 0.5f * side * uniform_between(r, 1.0f, 1.3f);
    float ux = cosf(angle), uy = -sinf(angle);   /* up and to the right */
    draw_stroke(img, cx - half * ux, cy - half * uy, cx + half * ux, cy + half * uy,
                hw * 0.8f);
}

/* The mean column of the pixels above 128 in rows y_from..y_to: where a
 * stroke crosses them. -1 when they hold no ink. */
static int ink_mean_x(const uint8_t *img, int y_from, int y_to, float *mean)
{
    float sum = 0.0f, n = 0.0f;
    for (int y = y_from; y <= y_to; y++)
        for (int x = 0; x < MNIST_SIDE_IN; x++)
            if (img[y * MNIST_SIDE_IN + x] > 128) {
                sum += (float)x;
                n += 1.0f;
            }
    if (n == 0.0f)
        return -1;
    *mean = sum / n;
    return 0;
}

/* A hook at the end of a 9's tail: from the lowest ink, a stroke back to
 * the left and up, 0-45 degrees above horizontal, 30-80% of the digit's
 * width long (Semeion's writers curl the tail far back under the loop). */
static void hook_nine(uint8_t *img, rng *r)
{
    int x0, y0, x1, y1;
    float hw;
    if (ink_box(img, &x0, &y0, &x1, &y1, &hw) != 0)
        return;
    float ax;
    if (ink_mean_x(img, y1 - 1, y1, &ax) != 0)
        return;
    float ay = (float)y1 - 0.5f * hw;
    float angle = uniform_between(r, 0.0f, 45.0f) * PI_F / 180.0f;
    float width = (float)(x1 - x0 + 1) > 8.0f ? (float)(x1 - x0 + 1) : 8.0f;
    float len = width * uniform_between(r, 0.3f, 0.8f);
    draw_stroke(img, ax, ay, ax - len * cosf(angle), ay - len * sinf(angle), hw);
}

/* A long flag on a 1: from the top of the stem, a stroke down to the left,
 * 35-65 degrees below horizontal, 35-75% of the digit's height long. */
static void flag_one(uint8_t *img, rng *r)
{
    int x0, y0, x1, y1;
    float hw;
    if (ink_box(img, &x0, &y0, &x1, &y1, &hw) != 0)
        return;
    float ax;
    if (ink_mean_x(img, y0, y0 + 1, &ax) != 0)
        return;
    float ay = (float)y0 + 0.5f * hw;
    float angle = uniform_between(r, 35.0f, 65.0f) * PI_F / 180.0f;
    float len = (float)(y1 - y0 + 1) * uniform_between(r, 0.35f, 0.75f);
    draw_stroke(img, ax, ay, ax - len * cosf(angle), ay + len * sinf(angle), hw);
}

/* A capture at half the working resolution shown with its pixels doubled:
 * each 2x2 block of the 42x42 image (in the padded buffer) becomes its mean,
 * rounded. The blocks start at column ox and row oy, each 0 or 1, so the
 * grid does not always fall on the same place; with a start of 1 the first
 * column or row is left as drawn (the digit is drawn well inside the
 * canvas, so it seldom holds ink), and the last block of an odd run is one
 * pixel wide and averages the two it has. */
static void coarsen(uint8_t *img, int ox, int oy)
{
    for (int y = oy; y < AUGMENT_SIDE; y += 2)
        for (int x = ox; x < AUGMENT_SIDE; x += 2) {
            int y1 = y + 1 < AUGMENT_SIDE ? y + 1 : y, x1 = x + 1 < AUGMENT_SIDE ? x + 1 : x;
            uint8_t *a = img + (y + 1) * PADDED + x + 1, *b = img + (y + 1) * PADDED + x1 + 1;
            uint8_t *c = img + (y1 + 1) * PADDED + x + 1, *d = img + (y1 + 1) * PADDED + x1 + 1;
            uint8_t mean = (uint8_t)((*a + *b + *c + *d + 2) / 4);
            *a = *b = *c = *d = mean;
        }
}

void augment_digit(const uint8_t *mnist28, int label, const augment_config *cfg, uint64_t seed,
                   uint8_t *out)
{
    rng r;
    rng_seed(&r, seed);
    uint8_t crossed[MNIST_SIDE_IN * MNIST_SIDE_IN];
    if (label == 7 && rng_uniform(&r) < cfg->cross_seven_probability) {
        memcpy(crossed, mnist28, sizeof crossed);
        cross_seven(crossed, &r);
        mnist28 = crossed;
    }
    if ((label == 0 && rng_uniform(&r) < cfg->slash_zero_probability) ||
        (label == 9 && rng_uniform(&r) < cfg->hook_nine_probability) ||
        (label == 1 && rng_uniform(&r) < cfg->flag_one_probability)) {
        memcpy(crossed, mnist28, sizeof crossed);
        if (label == 0)
            slash_zero(crossed, &r);
        else if (label == 9)
            hook_nine(crossed, &r);
        else
            flag_one(crossed, &r);
        mnist28 = crossed;
    }
    float angle = uniform_between(&r, -cfg->rotate_degrees, cfg->rotate_degrees) * PI_F / 180.0f;
    float sx = 1.0f + uniform_between(&r, -cfg->scale, cfg->scale);
    float sy = 1.0f + uniform_between(&r, -cfg->scale, cfg->scale);
    if (rng_uniform(&r) < cfg->fill_probability) {
        float fx, fy;
        fill_stretch(mnist28, uniform_between(&r, 0.5f, 1.0f), cfg->max_fill_stretch, &fx, &fy);
        sx *= fx;
        sy *= fy;
    }
    float shear = uniform_between(&r, -cfg->shear, cfg->shear);

    /* Forward map A = rotate * shear * scale; sampling needs its inverse:
     * A^-1 = scale^-1 * shear^-1 * rotate^-1. */
    float c = cosf(angle), s = sinf(angle);
    float r00 = c, r01 = s, r10 = -s, r11 = c;                  /* rotate^-1 */
    float h00 = r00 - shear * r10, h01 = r01 - shear * r11;    /* shear^-1 * rotate^-1 */
    float inv00 = h00 / sx, inv01 = h01 / sx, inv10 = r10 / sy, inv11 = r11 / sy;

    int g = cfg->elastic_grid < 2 ? 2 : cfg->elastic_grid > MAX_GRID ? MAX_GRID : cfg->elastic_grid;
    float field_x[MAX_GRID * MAX_GRID], field_y[MAX_GRID * MAX_GRID];
    for (int i = 0; i < g * g; i++) {
        field_x[i] = uniform_between(&r, -cfg->elastic_pixels, cfg->elastic_pixels);
        field_y[i] = uniform_between(&r, -cfg->elastic_pixels, cfg->elastic_pixels);
    }

    const float centre_out = (AUGMENT_SIDE - 1) / 2.0f, centre_in = (MNIST_SIDE_IN - 1) / 2.0f;
    /* The digit is drawn 1.35x larger than in MNIST: room to rotate, shear
     * and stretch it on the working canvas without clipping. */
    const float out_to_in = 1.0f / 1.35f;
    grid_lookup lut;
    make_grid_lookup(g, &lut);
    uint8_t a[PADDED * PADDED] = {0}, b[PADDED * PADDED] = {0};
    float shift_x[AUGMENT_SIDE], shift_y[AUGMENT_SIDE];
    for (int y = 0; y < AUGMENT_SIDE; y++) {
        field_row(field_x, g, &lut, y, shift_x);
        field_row(field_y, g, &lut, y, shift_y);
        float py = ((float)y - centre_out) * out_to_in;
        for (int x = 0; x < AUGMENT_SIDE; x++) {
            float px = ((float)x - centre_out) * out_to_in;
            float qx = inv00 * px + inv01 * py + centre_in + shift_x[x];
            float qy = inv10 * px + inv11 * py + centre_in + shift_y[x];
            float v = sample_source(mnist28, qx, qy);
            a[(y + 1) * PADDED + x + 1] = (uint8_t)(v > 254.5f ? 255.0f : v + 0.5f);
        }
    }

    float pick = rng_uniform(&r);
    uint8_t *cur = a, *other = b;
    int passes = 0, dilate = 0;
    if (pick < cfg->thin_probability) {
        passes = 1;
    } else if (pick < cfg->thin_probability + cfg->thick_probability && cfg->max_thicken > 0) {
        passes = 1 + (int)rng_below(&r, (uint32_t)cfg->max_thicken);
        dilate = 1;
    }
    for (int i = 0; i < passes; i++) {
        morph_pass(cur, other, dilate, i & 1);
        uint8_t *t = cur;
        cur = other;
        other = t;
    }
    /* Drawn last, so the distortions above are what they were before it
     * existed for the same seed. The phase is drawn y first, in statements
     * of its own: as two arguments of one call, the order of the draws
     * would be the compiler's choice. */
    if (rng_uniform(&r) < cfg->coarse_probability) {
        int oy = (int)rng_below(&r, 2);
        int ox = (int)rng_below(&r, 2);
        coarsen(cur, ox, oy);
    }
    for (int y = 0; y < AUGMENT_SIDE; y++)
        memcpy(out + y * AUGMENT_SIDE, cur + (y + 1) * PADDED + 1, AUGMENT_SIDE);
}

/* ---- whole data sets ---------------------------------------------------- */

static uint64_t sample_seed(uint64_t seed, int epoch, int index)
{
    uint64_t z = seed ^ ((uint64_t)epoch * 0x9e3779b97f4a7c15ull) ^
                 ((uint64_t)index * 0xc2b2ae3d27d4eb4full);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct {
    const dataset *src;
    augment_mode mode;
    const augment_config *cfg;
    const preprocess_options *popts;
    uint64_t seed;
    int epoch;
    uint8_t *out;
    int failed;
} dataset_job;

static void dataset_worker(void *arg, int tid, int T)
{
    dataset_job *job = arg;
    int first = (int)((long)job->src->count * tid / T);
    int last = (int)((long)job->src->count * (tid + 1) / T);
    uint8_t big[AUGMENT_SIDE * AUGMENT_SIDE];
    for (int i = first; i < last; i++) {
        const uint8_t *digit = job->src->pixels + (size_t)i * MNIST_PIXELS;
        uint8_t *dst = job->out + (size_t)i * MNIST_PIXELS;
        image img = {MNIST_SIDE_IN, MNIST_SIDE_IN, 1, (uint8_t *)digit};
        if (job->mode == AUGMENT_FULL) {
            augment_digit(digit, job->src->labels[i], job->cfg,
                          sample_seed(job->seed, job->epoch, i), big);
            img = (image){AUGMENT_SIDE, AUGMENT_SIDE, 1, big};
        }
        preprocess_status st = job->mode == AUGMENT_NONE
                                   ? PREPROCESS_BLANK
                                   : preprocess_to_mnist_with(&img, job->popts, dst, NULL);
        if (st == PREPROCESS_NO_MEMORY)
            job->failed = 1;
        if (st != PREPROCESS_OK)
            memcpy(dst, digit, MNIST_PIXELS);
    }
}

int augment_dataset(const dataset *src, augment_mode mode, const augment_config *cfg,
                    const preprocess_options *popts, uint64_t seed, int epoch, int threads,
                    uint8_t *out)
{
    pool *team = pool_create(threads);
    if (!team)
        return -1;
    dataset_job job = {src, mode, cfg, popts, seed, epoch, out, 0};
    pool_run(team, dataset_worker, &job);
    pool_destroy(team);
    return job.failed ? -1 : 0;
}

/* ---- background producer ------------------------------------------------ */

struct augmenter {
    dataset src;
    augment_mode mode;
    augment_config cfg;
    preprocess_options popts;
    uint64_t seed;
    int threads;
    uint8_t *buffer[2];
    dataset views[2];
    int ready_epoch[2];       /* which epoch each buffer holds, 0 = none */
    int requested;            /* the epoch the producer should make next */
    int stopping, failed;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
};

static void *producer_main(void *arg)
{
    augmenter *a = arg;
    int made = 0;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->stopping && a->requested <= made)
            pthread_cond_wait(&a->changed, &a->lock);
        if (a->stopping)
            break;
        int epoch = a->requested;
        pthread_mutex_unlock(&a->lock);
        /* As many threads as training: the two teams share the cores, and
         * the kernel's scheduler interleaves them as each waits. */
        int rc = augment_dataset(&a->src, a->mode, &a->cfg, &a->popts, a->seed, epoch,
                                 a->threads, a->buffer[epoch & 1]);
        pthread_mutex_lock(&a->lock);
        made = epoch;
        if (rc != 0)
            a->failed = 1;
        a->ready_epoch[epoch & 1] = epoch;
        pthread_cond_broadcast(&a->changed);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

augmenter *augmenter_start(const dataset *src, augment_mode mode, const augment_config *cfg,
                           const preprocess_options *popts, uint64_t seed, int threads)
{
    augmenter *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->src = *src;
    a->mode = mode;
    a->cfg = *cfg;
    a->popts = *popts;
    a->seed = seed;
    a->threads = threads;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->changed, NULL);
    size_t bytes = (size_t)src->count * MNIST_PIXELS + 1;
    int buffers = mode == AUGMENT_FULL ? 2 : 1;
    for (int i = 0; i < buffers; i++) {
        a->buffer[i] = malloc(bytes);
        if (!a->buffer[i]) {
            augmenter_stop(a);
            return NULL;
        }
        a->views[i] = (dataset){a->buffer[i], src->labels, src->count};
    }
    /* The first epoch (and the only one, when nothing is random) is made
     * now, with every thread, since training cannot start without it. */
    if (augment_dataset(src, mode, cfg, popts, seed, 1, threads,
                        a->buffer[1 & (buffers - 1)]) != 0) {
        augmenter_stop(a);
        return NULL;
    }
    if (mode == AUGMENT_FULL) {
        a->ready_epoch[1] = 1;
        if (pthread_create(&a->thread, NULL, producer_main, a) != 0) {
            augmenter_stop(a);
            return NULL;
        }
        a->thread_started = 1;
    }
    return a;
}

const dataset *augmenter_epoch(augmenter *a, int epoch)
{
    if (a->mode != AUGMENT_FULL)
        return &a->views[0];
    pthread_mutex_lock(&a->lock);
    while (a->ready_epoch[epoch & 1] != epoch && !a->failed) {
        if (a->requested < epoch) {
            a->requested = epoch;
            pthread_cond_broadcast(&a->changed);
        }
        pthread_cond_wait(&a->changed, &a->lock);
    }
    /* The other buffer held epoch - 1, which has finished training. */
    a->requested = epoch + 1;
    pthread_cond_broadcast(&a->changed);
    int failed = a->failed;
    pthread_mutex_unlock(&a->lock);
    return failed ? NULL : &a->views[epoch & 1];
}

void augmenter_stop(augmenter *a)
{
    if (!a)
        return;
    if (a->thread_started) {
        pthread_mutex_lock(&a->lock);
        a->stopping = 1;
        pthread_cond_broadcast(&a->changed);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
    }
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->changed);
    free(a->buffer[0]);
    free(a->buffer[1]);
    free(a);
}
