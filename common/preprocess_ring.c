/* preprocess_ring.c -- step 5b: a ring or a box drawn round the digit;
 * see preprocess_ring.h. */
#include "preprocess_ring.h"

#include <math.h>
#include <stdlib.h>

/* People circle an answer on a form. A ring clear of the digit is a
 * component of its own, which step 4 marks as clutter (mark_frames,
 * preprocess_components.c); one that touches the digit is one component
 * with it, and the network then sees a 0 with something inside. The ring is found as what lies outermost: on RING_RAYS
 * rays from the centre of the ink's box out to the ellipse inscribed in
 * that box, the outermost ink must lie near the ellipse (RING_OUTER_MIN of
 * its radius or beyond) on nearly every ray (RING_MIN_COVER: a ring drawn
 * round need not close), as a band thin next to the ellipse
 * (RING_MAX_THICK of its smaller radius) and of even width (RING_EVEN_SHARE
 * of those rays within RING_EVEN_WIDTH times its median). A digit's own
 * outline fails that, except a 0's. What the ring encloses must then be a
 * digit, not what a 0 holds: RING_INNER_SHARE of the ring's ink or more,
 * with a main piece (RING_BODY_SHARE of it) that spans RING_INNER_SPAN of
 * the ring's height, centred in it (RING_MAX_OFFSET: a 0's tail or the curl
 * at its join is not), not lying along the ring (RING_MAX_AGAINST: the
 * inner edge of a ring of uneven width, left standing), and broader across
 * its main axis than RING_INNER_BREADTH stroke widths: a straight stroke in
 * a ring is a slashed 0 as much as a circled 1 without its flag, and is
 * left as it is. Only on pictures of at least MIN_SIDE_FOR_MAP a side,
 * like the other clutter tests (the driver, find_ink in preprocess.c,
 * asks only then): a smaller one is a crop of the digit. */
#define RING_RAY_STRIDE 37
#define RING_MIN_SIDE 10          /* smaller radius, px: fewer leaves rays too coarse */
#define RING_OUTER_MIN 0.8
#define RING_MIN_COVER 0.85
#define RING_EVEN_WIDTH 1.6
#define RING_EVEN_SHARE 0.6
#define RING_NEAR_RAYS (RING_RAYS / 12)   /* either side: 30 degrees */
#define RING_OWN_WIDTH 1.6
#define RING_MAX_THICK 0.3
#define RING_INNER_SHARE 0.15
#define RING_INNER_SPAN 0.5
#define RING_MAX_OFFSET 0.25
#define FRAME_MAX_OFFSET 0.45
#define RING_INNER_BREADTH 3.5
#define RING_BODY_SHARE 0.5
#define RING_PIECE_SHARE 0.15
#define RING_MAX_AGAINST 0.25

#define RING_CUT UINT32_MAX

static int crop_seed_at(const crop *cr, double x, double y)
{
    if (x < -0.5 || y < -0.5)
        return 0;
    int ix = (int)(x + 0.5), iy = (int)(y + 0.5);   /* rounds: both are >= 0 here */
    return ix < cr->w && iy < cr->h && cr->seed[(size_t)iy * (size_t)cr->w + (size_t)ix];
}

static int compare_doubles(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* The ray a pixel's centre lies on, and its radius as a share of the
 * ellipse's in that direction. */
static int ring_ray_of(const ring_fit *f, int x, int y, double *radius)
{
    double u = ((double)x - f->cx) / f->a, v = ((double)y - f->cy) / f->b;
    *radius = sqrt(u * u + v * v);
    double t = atan2(v, u);
    int k = (int)lround(t / (2.0 * PI) * RING_RAYS);
    return ((k % RING_RAYS) + RING_RAYS) % RING_RAYS;
}

/* 1 when pixel (x, y) lies in what is cut away: beyond the ring, or on a
 * frame's sides or outside them. */
static int beyond_cut(const ring_fit *f, int x, int y)
{
    if (f->is_frame) {
        int out = !rect_contains(f->inside, x, y);
        if (!out || !f->has_outer)
            return out;
        /* Past a frame found within the ink, what sticks out is the digit's,
         * but for the sides' own lines running on past the corners (a
         * hand-drawn box, a table's cell): the sides' bands, extended. */
        int side_rows = (y >= f->outer.y0 && y < f->inside.y0) ||
                        (y > f->inside.y1 && y <= f->outer.y1);
        int side_columns = (x >= f->outer.x0 && x < f->inside.x0) ||
                           (x > f->inside.x1 && x <= f->outer.x1);
        return rect_contains(f->outer, x, y) || side_rows || side_columns;
    }
    double r;
    int k = ring_ray_of(f, x, y, &r);
    return r > f->cut[k];
}

static int holds_a_digit(const crop *cr, rect box, double width, arena *mem, ring_fit *f);

/* The ellipse inscribed in box, which both searches measure against. */
static void fit_box(ring_fit *f, rect box, int is_frame)
{
    f->is_frame = is_frame;
    f->has_outer = 0;
    f->cx = (box.x0 + box.x1) / 2.0;
    f->cy = (box.y0 + box.y1) / 2.0;
    f->a = (box.x1 - box.x0 + 1) / 2.0;
    f->b = (box.y1 - box.y0 + 1) / 2.0;
}

int find_ring(const crop *cr, rect box, arena *mem, ring_fit *f)
{
    fit_box(f, box, 0);
    if (f->a < RING_MIN_SIDE || f->b < RING_MIN_SIDE)
        return 0;
    double outer[RING_RAYS] = {0}, thick[RING_RAYS] = {0}, len[RING_RAYS] = {0};
    double sorted[RING_RAYS];
    int covered = 0, missed = 0;
    for (int i = 0; i < RING_RAYS; i++) {
        /* Rays taken all round from the first (a stride coprime to their
         * number), so that a shape open on one side is found out early. */
        int k = (i * RING_RAY_STRIDE) % RING_RAYS;
        double t = 2.0 * PI * k / RING_RAYS;
        double ex = f->a * cos(t), ey = f->b * sin(t);
        len[k] = sqrt(ex * ex + ey * ey);   /* px per unit of radius */
        double ds = 0.5 / len[k], s = 1.0 + 1.0 / len[k];
        f->cut[k] = 2.0;   /* no ring on this ray (yet) */
        outer[k] = thick[k] = 0;
        /* Most pictures hold no ring, and most of their rays find no ink
         * near the ellipse: those rays stop there, and the search as soon
         * as too many have. */
        while (s >= RING_OUTER_MIN && !crop_seed_at(cr, f->cx + s * ex, f->cy + s * ey))
            s -= ds;
        if (s < RING_OUTER_MIN) {
            if (++missed > RING_RAYS - RING_MIN_COVER * RING_RAYS)
                return 0;
            continue;
        }
        outer[k] = s;
        while (s > 0 && crop_seed_at(cr, f->cx + s * ex, f->cy + s * ey))
            s -= ds;
        thick[k] = (outer[k] - (s > 0 ? s : 0)) * len[k];
        sorted[covered++] = thick[k];
    }
    if (covered < RING_MIN_COVER * RING_RAYS)
        return 0;
    qsort(sorted, (size_t)covered, sizeof *sorted, compare_doubles);
    double width = sorted[covered / 2];
    if (width > RING_MAX_THICK * (f->a < f->b ? f->a : f->b))
        return 0;
    int even = 0;
    for (int k = 0; k < RING_RAYS; k++) {
        if (outer[k] < RING_OUTER_MIN)
            continue;
        even += thick[k] <= RING_EVEN_WIDTH * width;
        /* Where the digit runs into the ring the band is thicker: only the
         * ring's own width (and a pixel) goes. That width is the median of
         * the rays nearby, since a ray crosses a ring slantwise, and the
         * more so the flatter the ring, where it bends away from round. */
        double near[2 * RING_NEAR_RAYS + 1], thinnest = thick[k];
        int m = 0;
        for (int j = k - RING_NEAR_RAYS; j <= k + RING_NEAR_RAYS; j++) {
            int jj = (j + RING_RAYS) % RING_RAYS;
            if (outer[jj] >= RING_OUTER_MIN) {
                near[m++] = thick[jj];
                thinnest = thick[jj] < thinnest ? thick[jj] : thinnest;
            }
        }
        double band = thick[k];
        if (band > RING_OWN_WIDTH * thinnest) {   /* else under the median's limit too */
            qsort(near, (size_t)m, sizeof *near, compare_doubles);
            double own = RING_OWN_WIDTH * near[m / 2];
            band = band < own ? band : own;
        }
        f->cut[k] = outer[k] - (band + 1.0) / len[k];
    }
    if (even < RING_EVEN_SHARE * covered)
        return 0;
    return holds_a_digit(cr, box, width, mem, f);
}

/* Whether what the ring or frame f encloses is a digit (see the ring's
 * tests above), its lines being width px wide; fills in f's pieces. 1, 0,
 * or -1 when out of memory. */
static int holds_a_digit(const crop *cr, rect box, double width, arena *mem, ring_fit *f)
{
    /* What the ring encloses, piece by piece (8-connected): a digit is one
     * or two big pieces, while a ring of uneven width leaves slivers of
     * its inner edge against the cut, which must not pass for a digit. */
    size_t n = (size_t)cr->w * (size_t)cr->h, ring = 0, inner = 0;
    f->piece = arena_zalloc(mem, n * sizeof *f->piece);
    uint32_t *stack = arena_alloc(mem, n * sizeof *stack);
    if (!f->piece || !stack)
        return -1;
    for (int y = box.y0; y <= box.y1; y++)
        for (int x = box.x0; x <= box.x1; x++) {
            size_t i = (size_t)y * (size_t)cr->w + (size_t)x;
            if (!cr->seed[i])
                continue;
            if (beyond_cut(f, x, y)) {
                ring++;
                f->piece[i] = RING_CUT;
            } else {
                inner++;
            }
        }
    if (inner == 0 || (double)inner < RING_INNER_SHARE * (double)ring)
        return 0;
    /* Pieces get labels from 1; the largest is the digit's body. */
    uint32_t label = 0, body = 0;
    size_t best_size = 0;
    for (int y = box.y0; y <= box.y1; y++)
        for (int x = box.x0; x <= box.x1; x++) {
            size_t i = (size_t)y * (size_t)cr->w + (size_t)x;
            if (!cr->seed[i] || f->piece[i])
                continue;
            size_t top = 0, size = 0;
            f->piece[i] = ++label;
            stack[top++] = (uint32_t)i;
            while (top > 0) {
                size_t j = stack[--top];
                int jx = (int)(j % (size_t)cr->w), jy = (int)(j / (size_t)cr->w);
                size++;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int nx = jx + dx, ny = jy + dy;
                        if (nx < box.x0 || nx > box.x1 || ny < box.y0 || ny > box.y1)
                            continue;
                        size_t q = (size_t)ny * (size_t)cr->w + (size_t)nx;
                        if (cr->seed[q] && !f->piece[q]) {
                            f->piece[q] = label;
                            stack[top++] = (uint32_t)q;
                        }
                    }
            }
            if (size > best_size) {
                best_size = size;
                body = label;
            }
        }
    if ((double)best_size < RING_BODY_SHARE * (double)inner)
        return 0;
    /* Each piece's size and whether it lies against the cut, for the
     * slivers erase_ring takes with the ring. Counted now that the number
     * of pieces is known, which bounds these tables. */
    f->piece_size = arena_zalloc(mem, ((size_t)label + 1) * sizeof *f->piece_size);
    f->piece_on_cut = arena_zalloc(mem, (size_t)label + 1);
    if (!f->piece_size || !f->piece_on_cut)
        return -1;
    for (int y = box.y0; y <= box.y1; y++)
        for (int x = box.x0; x <= box.x1; x++) {
            uint32_t p = f->piece[(size_t)y * (size_t)cr->w + (size_t)x];
            if (p == 0 || p == RING_CUT)
                continue;
            f->piece_size[p]++;
            for (int dy = -1; dy <= 1 && !f->piece_on_cut[p]; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy;
                    if (nx >= box.x0 && nx <= box.x1 && ny >= box.y0 && ny <= box.y1 &&
                        f->piece[(size_t)ny * (size_t)cr->w + (size_t)nx] == RING_CUT)
                        f->piece_on_cut[p] = 1;
                }
        }
    /* The body's extent, its moments (for its breadth across its main
     * axis: for a single stroke, about its width), its own stroke width
     * (twice its area over its outline) and how much of it lies against
     * the ring (4-neighbours cut away), which for a ring's inner edge left
     * standing is all of it. */
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    rect in = rect_empty();
    size_t outline = 0, against = 0;
    for (int y = box.y0; y <= box.y1; y++)
        for (int x = box.x0; x <= box.x1; x++) {
            size_t i = (size_t)y * (size_t)cr->w + (size_t)x;
            if (f->piece[i] != body)
                continue;
            rect_add(&in, x, y);
            sx += x;
            sy += y;
            sxx += (double)x * x;
            syy += (double)y * y;
            sxy += (double)x * y;
            uint32_t nb[4] = {x > 0 ? f->piece[i - 1] : 0, x < cr->w - 1 ? f->piece[i + 1] : 0,
                              y > 0 ? f->piece[i - (size_t)cr->w] : 0,
                              y < cr->h - 1 ? f->piece[i + (size_t)cr->w] : 0};
            int touches = 0;
            for (int k = 0; k < 4; k++) {
                outline += nb[k] != body;
                touches |= nb[k] == RING_CUT;
            }
            against += (size_t)touches;
        }
    /* A digit in a form's box is often written off its centre; in a
     * ring, what is off the centre is a 0's tail or the curl at its join. */
    double max_offset = f->is_frame ? FRAME_MAX_OFFSET : RING_MAX_OFFSET;
    if (in.y1 - in.y0 + 1 < RING_INNER_SPAN * 2.0 * f->b ||
        fabs((in.x0 + in.x1) / 2.0 - f->cx) > max_offset * f->a ||
        fabs((in.y0 + in.y1) / 2.0 - f->cy) > max_offset * f->b)
        return 0;
    if ((double)against > RING_MAX_AGAINST * (double)best_size)
        return 0;
    double body_width = 2.0 * (double)best_size / (double)outline;
    double m = (double)best_size, mx = sx / m, my = sy / m;
    double cxx = sxx / m - mx * mx, cyy = syy / m - my * my, cxy = sxy / m - mx * my;
    double root = sqrt(((cxx - cyy) / 2.0) * ((cxx - cyy) / 2.0) + cxy * cxy);
    double minor = (cxx + cyy) / 2.0 - root;
    f->min_piece = (size_t)(RING_PIECE_SHARE * (double)best_size);
    /* Against the wider of the ring's and the body's own strokes. */
    double stroke = width > body_width ? width : body_width;
    return minor > 0 && sqrt(12.0 * minor) >= RING_INNER_BREADTH * stroke;
}

/* A box drawn or printed round the digit and touching it (a form's field
 * written to its edges) is one component with it, as a ring is. Its four
 * sides are the ink's outermost rows and columns, each inked along
 * FRAME_LINE_FILL of the box or more, and thin (FRAME_MAX_THICK of the
 * box's shorter side); what they enclose must then be a digit, as for a
 * ring. A digit's own bars fail it: a 7's top or a 2's foot is one side,
 * not four, and a 1 is all sides and nothing inside. A digit written
 * across a side sticks out of the box, whose sides are then the most
 * inked lines near the ink box's ends instead (frame_within); only the
 * box's lines go, and what sticks out stays with the digit. */
#define FRAME_LINE_FILL 0.85
#define FRAME_MAX_THICK 0.15
#define FRAME_SEARCH 0.25        /* of the ink's box, from each end */

/* Seeds on line `at` (a row, or with columns a column) of box, between
 * its ends. */
static int seeds_on_line(const crop *cr, rect box, int columns, int at)
{
    int n = 0;
    if (columns)
        for (int y = box.y0; y <= box.y1; y++)
            n += cr->seed[(size_t)y * (size_t)cr->w + (size_t)at] != 0;
    else
        for (int x = box.x0; x <= box.x1; x++)
            n += cr->seed[(size_t)at * (size_t)cr->w + (size_t)x] != 0;
    return n;
}

/* One side of a frame: rows (or with columns, columns) from one end of box
 * inwards, skipping those without seeds (the fringe), that are inked along
 * FRAME_LINE_FILL of the box. Returns how many lines from the box's edge
 * the side ends at, with *thick its own lines; 0 when the outermost seeded
 * line is not inked along the box, or the side is over limit thick. */
static int frame_side(const crop *cr, rect box, int columns, int from_end, int limit,
                      int *thick)
{
    int n_lines = columns ? box.x1 - box.x0 + 1 : box.y1 - box.y0 + 1;
    int len = columns ? box.y1 - box.y0 + 1 : box.x1 - box.x0 + 1;
    *thick = 0;
    for (int t = 0; t < n_lines; t++) {
        int line = from_end ? n_lines - 1 - t : t;
        int inked = seeds_on_line(cr, box, columns, (columns ? box.x0 : box.y0) + line);
        if (inked >= FRAME_LINE_FILL * len) {
            if (++*thick > limit)
                return 0;
        } else if (*thick > 0 || inked > 0) {
            return *thick > 0 ? t : 0;
        }
    }
    return 0;   /* inked throughout: a blob, not a frame */
}

/* A digit written across the side of its box sticks out of it, so the
 * box's sides are not the ink's outermost lines. They are then the most
 * inked lines within FRAME_SEARCH of each end of the ink's box, each
 * grown outwards over the lines as inked beside it; *frame receives the
 * box they make. 1 when all four are found, inked along FRAME_LINE_FILL
 * of that box (and of half the ink's box: the box holds the digit), and
 * it lies within the ink's box on some side. */
static int frame_within(const crop *cr, rect box, rect *frame)
{
    int line[4];
    for (int side = 0; side < 4; side++) {
        int columns = side >= 2, from_end = side & 1;
        int first = columns ? box.x0 : box.y0, last = columns ? box.x1 : box.y1;
        int reach = (int)(FRAME_SEARCH * (last - first + 1));
        int best = -1, most = -1;
        for (int k = 0; k <= reach; k++) {
            int at = from_end ? last - k : first + k;
            int n = seeds_on_line(cr, box, columns, at);
            if (n > most) {
                most = n;
                best = at;
            }
        }
        /* The box holds the digit: it spans half the ink's box or more
         * (most pictures, holding no box, stop here). */
        int across = columns ? box.y1 - box.y0 + 1 : box.x1 - box.x0 + 1;
        if (most < FRAME_LINE_FILL * across / 2)
            return 0;
        line[side] = best;
    }
    *frame = (rect){line[2], line[0], line[3], line[1]};
    if (frame->x1 - frame->x0 < 2 * RING_MIN_SIDE || frame->y1 - frame->y0 < 2 * RING_MIN_SIDE)
        return 0;
    int *edge[4] = {&frame->y0, &frame->y1, &frame->x0, &frame->x1};
    for (int side = 0; side < 4; side++) {
        int columns = side >= 2, step = side & 1 ? 1 : -1;
        int len = columns ? frame->y1 - frame->y0 + 1 : frame->x1 - frame->x0 + 1;
        if (seeds_on_line(cr, *frame, columns, *edge[side]) < FRAME_LINE_FILL * len)
            return 0;
        int limit = columns ? box.x1 : box.y1, start = columns ? box.x0 : box.y0;
        while (*edge[side] + step >= start && *edge[side] + step <= limit &&
               seeds_on_line(cr, *frame, columns, *edge[side] + step) >= FRAME_LINE_FILL * len)
            *edge[side] += step;
    }
    return frame->x0 > box.x0 || frame->y0 > box.y0 || frame->x1 < box.x1 || frame->y1 < box.y1;
}

int find_frame(const crop *cr, rect box, int within, arena *mem,
               ring_fit *f)
{
    rect frame = box;
    if (within && !frame_within(cr, box, &frame))
        return 0;
    int w = frame.x1 - frame.x0 + 1, h = frame.y1 - frame.y0 + 1;
    if (w < 2 * RING_MIN_SIDE || h < 2 * RING_MIN_SIDE)
        return 0;
    int limit = (int)(FRAME_MAX_THICK * (w < h ? w : h));
    int t[4], end[4];
    for (int side = 0; side < 4; side++) {
        end[side] = frame_side(cr, frame, side >= 2, side & 1, limit, &t[side]);
        if (end[side] == 0)
            return 0;
    }
    fit_box(f, frame, 1);
    f->outer = frame;
    f->has_outer = within;
    /* A pixel more inwards takes the sides' anti-aliased inner edge. */
    f->inside = (rect){frame.x0 + end[2] + 1, frame.y0 + end[0] + 1, frame.x1 - end[3] - 1,
                       frame.y1 - end[1] - 1};
    if (f->inside.x1 <= f->inside.x0 || f->inside.y1 <= f->inside.y0)
        return 0;
    /* Within, the whole ink box is looked at, so that the sides' stubs past
     * the corners are cut too (see beyond_cut). */
    return holds_a_digit(cr, within ? box : frame, (t[0] + t[1] + t[2] + t[3]) / 4.0, mem, f);
}

int erase_ring(crop *cr, const ring_fit *f, arena *mem, double *area,
               rect *box)
{
    for (int y = 0; y < cr->h; y++)
        for (int x = 0; x < cr->w; x++) {
            size_t i = (size_t)y * (size_t)cr->w + (size_t)x;
            if (cr->v[i] == 0.0f && !cr->seed[i])
                continue;   /* paper: nothing to take (and no ray to find) */
            uint32_t p = f->piece[i];
            /* What sticks out of a frame found within the ink is the
             * digit's, however small. */
            int past = f->is_frame && f->has_outer && !rect_contains(f->outer, x, y);
            int sliver = p == RING_CUT || (p != 0 && !past && f->piece_on_cut[p] &&
                                           f->piece_size[p] < f->min_piece);
            if (sliver || (!cr->seed[i] && beyond_cut(f, x, y))) {
                cr->seed[i] = 0;
                cr->v[i] = 0.0f;
            }
        }
    uint8_t *near = arena_alloc(mem, (size_t)cr->w * (size_t)cr->h);
    if (!near || fringe_mask(cr, near, mem) != 0)
        return -1;
    double sum = 0;
    for (size_t i = 0; i < (size_t)cr->w * (size_t)cr->h; i++) {
        if (!near[i])
            cr->v[i] = 0.0f;
        sum += cr->v[i];
    }
    *area = sum;
    return crop_ink_box(cr, mem, box);
}
