/* variant_ink.c -- ink maps and canvases for the variant styles.
 * See variant_ink.h. */
#include "variant_ink.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- values ------------------------------------------------------------ */

double variant_clamp(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

double variant_snap(double v)
{
    return ldexp(nearbyint(ldexp(v, 24)), -24);
}

double variant_luma(const double *p)
{
    return variant_snap(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
}

/* ---- ink maps: single-channel coverage, 0 = none, 1 = full ink ----------- */

/* Reads outside the map as no ink, so that filters need no edge cases. */
static double ink_at(const inkmap *m, int x, int y)
{
    if (x < 0 || y < 0 || x >= m->w || y >= m->h)
        return 0.0;
    return m->v[(size_t)y * (size_t)m->w + (size_t)x];
}

int ink_alloc(inkmap *m, int w, int h)
{
    m->w = w;
    m->h = h;
    m->v = calloc((size_t)w * (size_t)h, sizeof *m->v);
    return m->v ? 0 : -1;
}

void ink_free(inkmap *m)
{
    free(m->v);
    m->v = NULL;
}

int ink_resize(const inkmap *src, double x0, double y0, double sw, double sh, int dw,
               int dh, inkmap *dst)
{
    if (ink_alloc(dst, dw, dh) != 0)
        return -1;
    for (int y = 0; y < dh; y++) {
        double v = y0 + (y + 0.5) * sh / dh - 0.5;
        int iy = (int)floor(v);
        double fy = (double)(v - iy);
        for (int x = 0; x < dw; x++) {
            double u = x0 + (x + 0.5) * sw / dw - 0.5;
            int ix = (int)floor(u);
            double fx = (double)(u - ix);
            double top = (1 - fx) * ink_at(src, ix, iy) + fx * ink_at(src, ix + 1, iy);
            double bot = (1 - fx) * ink_at(src, ix, iy + 1) + fx * ink_at(src, ix + 1, iy + 1);
            dst->v[(size_t)y * (size_t)dw + (size_t)x] = variant_snap((1 - fy) * top + fy * bot);
        }
    }
    return 0;
}

void ink_threshold(inkmap *m, double t)
{
    size_t n = (size_t)m->w * (size_t)m->h;
    for (size_t i = 0; i < n; i++)
        m->v[i] = m->v[i] >= t ? 1.0 : 0.0;
}

int ink_morph(const inkmap *src, int r, int dilate, inkmap *dst)
{
    if (ink_alloc(dst, src->w, src->h) != 0)
        return -1;
    for (int y = 0; y < src->h; y++)
        for (int x = 0; x < src->w; x++) {
            double best = dilate ? 0.0 : 1.0;
            for (int dy = -r; dy <= r; dy++)
                for (int dx = -r; dx <= r; dx++) {
                    if (dx * dx + dy * dy > r * r + r)   /* +r: a rounder small disc */
                        continue;
                    double v = ink_at(src, x + dx, y + dy);
                    best = dilate ? (v > best ? v : best) : (v < best ? v : best);
                }
            dst->v[(size_t)y * (size_t)src->w + (size_t)x] = best;
        }
    return 0;
}

int ink_soften(inkmap *m)
{
    size_t n = (size_t)m->w * (size_t)m->h;
    double *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return -1;
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++)
            tmp[(size_t)y * (size_t)m->w + (size_t)x] =
                0.25 * ink_at(m, x - 1, y) + 0.5 * ink_at(m, x, y) + 0.25 * ink_at(m, x + 1, y);
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++) {
            double up = y > 0 ? tmp[(size_t)(y - 1) * (size_t)m->w + (size_t)x] : 0.0;
            double down = y + 1 < m->h ? tmp[(size_t)(y + 1) * (size_t)m->w + (size_t)x] : 0.0;
            m->v[(size_t)y * (size_t)m->w + (size_t)x] =
                0.25 * up + 0.5 * tmp[(size_t)y * (size_t)m->w + (size_t)x] + 0.25 * down;
        }
    free(tmp);
    return 0;
}

int ink_bbox(const inkmap *m, int *x0, int *y0, int *x1, int *y1)
{
    *x0 = m->w;
    *y0 = m->h;
    *x1 = *y1 = -1;
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++)
            if (m->v[(size_t)y * (size_t)m->w + (size_t)x] > 0.0) {
                if (x < *x0) *x0 = x;
                if (y < *y0) *y0 = y;
                if (x > *x1) *x1 = x;
                if (y > *y1) *y1 = y;
            }
    return *x1 < 0 ? -1 : 0;
}

int ink_scaled_digit(const inkmap *digit, int side, inkmap *out)
{
    int x0, y0, x1, y1;
    if (ink_bbox(digit, &x0, &y0, &x1, &y1) != 0)
        return -1;
    int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    int longest = bw > bh ? bw : bh;
    double s = (double)side / longest;
    int dw = (int)lround(bw * s), dh = (int)lround(bh * s);
    dw = dw < 1 ? 1 : dw;
    dh = dh < 1 ? 1 : dh;
    return ink_resize(digit, x0, y0, bw, bh, dw, dh, out);
}

int ink_place(const inkmap *src, int w, int h, int ox, int oy, inkmap *dst)
{
    if (ink_alloc(dst, w, h) != 0)
        return -1;
    for (int y = 0; y < src->h; y++)
        for (int x = 0; x < src->w; x++) {
            int tx = x + ox, ty = y + oy;
            if (tx >= 0 && ty >= 0 && tx < w && ty < h)
                dst->v[(size_t)ty * (size_t)w + (size_t)tx] =
                    src->v[(size_t)y * (size_t)src->w + (size_t)x];
        }
    return 0;
}

int ink_skeleton(inkmap *m)
{
    size_t n = (size_t)m->w * (size_t)m->h;
    unsigned char *doomed = malloc(n);
    if (!doomed)
        return -1;
    int changed;
    do {
        changed = 0;
        for (int pass = 0; pass < 2; pass++) {
            memset(doomed, 0, n);
            for (int y = 0; y < m->h; y++)
                for (int x = 0; x < m->w; x++) {
                    if (ink_at(m, x, y) == 0.0)
                        continue;
                    /* The 8 neighbours clockwise from north. */
                    int p[8] = {ink_at(m, x, y - 1) != 0.0,     ink_at(m, x + 1, y - 1) != 0.0,
                                ink_at(m, x + 1, y) != 0.0,     ink_at(m, x + 1, y + 1) != 0.0,
                                ink_at(m, x, y + 1) != 0.0,     ink_at(m, x - 1, y + 1) != 0.0,
                                ink_at(m, x - 1, y) != 0.0,     ink_at(m, x - 1, y - 1) != 0.0};
                    int inked = 0, rises = 0;
                    for (int k = 0; k < 8; k++) {
                        inked += p[k];
                        rises += !p[k] && p[(k + 1) % 8];
                    }
                    if (inked < 2 || inked > 6 || rises != 1)
                        continue;   /* an end, an inner pixel, or a joint */
                    int north = p[0], east = p[2], south = p[4], west = p[6];
                    int keep = pass == 0 ? (north && east && south) || (east && south && west)
                                         : (north && east && west) || (north && south && west);
                    if (keep)
                        continue;   /* not on the side this pass peels */
                    doomed[(size_t)y * (size_t)m->w + (size_t)x] = 1;
                }
            for (size_t i = 0; i < n; i++)
                if (doomed[i]) {
                    m->v[i] = 0.0;
                    changed = 1;
                }
        }
    } while (changed);
    free(doomed);
    return 0;
}

void ink_max_into(inkmap *dst, const inkmap *src)
{
    size_t n = (size_t)dst->w * (size_t)dst->h;
    for (size_t i = 0; i < n; i++)
        dst->v[i] = dst->v[i] > src->v[i] ? dst->v[i] : src->v[i];
}

/* ---- canvases: straight-alpha RGBA in 0..1 ------------------------------- */

int canvas_alloc(canvas *c, int w, int h)
{
    c->w = w;
    c->h = h;
    c->px = calloc((size_t)w * (size_t)h * 4, sizeof *c->px);
    return c->px ? 0 : -1;
}

void canvas_free(canvas *c)
{
    free(c->px);
    c->px = NULL;
}

int canvas_paint(canvas *c, const inkmap *ink, const double paper[3], const double pen[3])
{
    if (canvas_alloc(c, ink->w, ink->h) != 0)
        return -1;
    size_t n = (size_t)ink->w * (size_t)ink->h;
    for (size_t i = 0; i < n; i++) {
        double a = variant_clamp(ink->v[i], 0.0, 1.0);
        for (int k = 0; k < 3; k++)
            c->px[i * 4 + (size_t)k] = paper[k] * (1 - a) + pen[k] * a;
        c->px[i * 4 + 3] = 1.0;
    }
    return 0;
}

void canvas_add_grey_noise(canvas *c, double sigma, rng *r)
{
    for (size_t i = 0; i < (size_t)c->w * (size_t)c->h; i++) {
        double g = sigma * rng_normal(r);
        for (int k = 0; k < 3; k++)
            c->px[i * 4 + (size_t)k] += g;
    }
}
