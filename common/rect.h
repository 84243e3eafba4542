/* rect.h -- integer rectangles and clamps for the preprocessing's steps.
 *
 * A rect is inclusive on all four sides, so a one-pixel box has x0 == x1.
 * The empty rect (rect_empty) has x1 < x0: adding a point to it gives that
 * point's box, and a union with it changes nothing. Small and called in
 * per-pixel loops, hence inline.
 */
#ifndef DIGITS_RECT_H
#define DIGITS_RECT_H

#include <stdint.h>

typedef struct {
    int x0, y0, x1, y1;   /* inclusive */
} rect;

static inline rect rect_empty(void)
{
    rect r = {INT32_MAX, INT32_MAX, -1, -1};
    return r;
}

static inline int rect_is_empty(rect r)
{
    return r.x1 < r.x0 || r.y1 < r.y0;
}

static inline void rect_add(rect *r, int x, int y)
{
    if (x < r->x0) r->x0 = x;
    if (y < r->y0) r->y0 = y;
    if (x > r->x1) r->x1 = x;
    if (y > r->y1) r->y1 = y;
}

static inline void rect_union(rect *r, rect o)
{
    if (rect_is_empty(o))
        return;
    rect_add(r, o.x0, o.y0);
    rect_add(r, o.x1, o.y1);
}

static inline int rect_long_side(rect r)
{
    int w = r.x1 - r.x0 + 1, h = r.y1 - r.y0 + 1;
    return w > h ? w : h;
}

static inline int rect_contains(rect r, int x, int y)
{
    return x >= r.x0 && x <= r.x1 && y >= r.y0 && y <= r.y1;
}

/* Chebyshev distance between the nearest pixels of two rectangles: 0 when
 * they share a pixel, 1 when they are neighbours (diagonally too). */
static inline int rect_gap(rect a, rect b)
{
    int gx = a.x0 > b.x1 ? a.x0 - b.x1 : (b.x0 > a.x1 ? b.x0 - a.x1 : 0);
    int gy = a.y0 > b.y1 ? a.y0 - b.y1 : (b.y0 > a.y1 ? b.y0 - a.y1 : 0);
    return gx > gy ? gx : gy;
}

static inline int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static inline double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

#endif
