/* preprocess_components.c -- step 4: which ink is the digit.
 * See preprocess_components.h. */
#include "preprocess_components.h"

#include <math.h>
#include <string.h>

/* Component filter: relative masses (sum of contrast) against the largest. */
#define BIG_COMPONENT 0.05
#define MEDIUM_COMPONENT 0.01
#define MEDIUM_NEAR_FRACTION 0.10   /* of the digit's longest side */
#define TINY_NEAR_PX 2              /* tiny pieces must nearly touch a stroke */
/* What faint seeds must look like to be read as strokes: see
 * faint_ink_is_strokes. */
#define FAINT_LARGEST_SHARE 0.25
#define FAINT_MIN_SPAN 0.125
#define FAINT_MAX_BOUNDARY_SHARE 0.8
#define FAINT_EDGE_PX 2
#define FAINT_MAX_EDGE_RATIO 0.5

/* ---- step 4: connected components -------------------------------------- */

/* Parents always have a lower index than their children (a root is the
 * first run of its component), which the numbering below relies on. */
static uint32_t run_root(run *r, uint32_t i)
{
    while (r[i].comp != i) {
        r[i].comp = r[r[i].comp].comp;
        i = r[i].comp;
    }
    return i;
}

static void run_join(run *r, uint32_t a, uint32_t b)
{
    a = run_root(r, a);
    b = run_root(r, b);
    if (a < b)
        r[b].comp = a;
    else if (b < a)
        r[a].comp = b;
}

/* Notebook paper's ruled lines pass the threshold as ink: long and thin,
 * and joined to any stroke that crosses them, so the digit and the lines it
 * touches become one component as wide as the page. A line here is a band
 * of rows (or columns) whose seeds run from edge to edge, with the half-
 * seeded rows beside them (its anti-aliased edge), at most RULED_THICKNESS
 * thick, with paper on both sides. When one direction has
 * at least RULED_MIN_LINES of them (a ruled page has a family of lines,
 * while one or two full-width bars could be a tightly cropped digit's: a
 * 4's crossbar, a Z-shaped 2's top and foot),
 * they are taken out of the seeds, and so are single lines across them (a
 * notebook's margin). A stroke crossing a line loses the line's few rows,
 * which the fringe around the stroke on either side gives back its ink. */
#define RULED_SPAN 0.75         /* of the line's length covered by seeds */
#define RULED_EDGE 0.02         /* of the length: how close to each end it reaches */
#define RULED_THICKNESS 0.02    /* of the picture across the lines (at least 2 px) */
#define RULED_MIN_LINES 3

/* Seed counts of each row (or column) i, and its first and last seed. */
typedef struct {
    int *count, *first, *last;
} line_stats;

/* Marks lines[i] = 1 for each row (or column) in a thin full-length band,
 * out of n of them, each of the given length; returns how many bands. */
static int find_ruled_lines(const line_stats *st, int n, int length, uint8_t *lines)
{
    int edge = (int)(RULED_EDGE * length), span = (int)ceil(RULED_SPAN * length);
    int paper_count = span / 2;
    int thickest = (int)(RULED_THICKNESS * n) > 2 ? (int)(RULED_THICKNESS * n) : 2;
    int bands = 0;
    for (int i = 0; i < n;) {
        if (!(st->count[i] >= span && st->first[i] <= edge && st->last[i] >= length - 1 - edge)) {
            i++;
            continue;
        }
        int i0 = i;
        while (i < n && st->count[i] >= span && st->first[i] <= edge &&
               st->last[i] >= length - 1 - edge)
            i++;
        /* With its soft edges: an anti-aliased line is fully seeded in one
         * row and half in the next (a notebook's margin, seen slightly off
         * the pixel grid). */
        int a = i0, b = i;
        while (a > 0 && st->count[a - 1] >= paper_count && b - a <= thickest)
            a--;
        while (b < n && st->count[b] >= paper_count && b - a <= thickest)
            b++;
        /* Thin, with paper on both sides: not the edge of a thick stroke. */
        int t = b - a;
        if (t <= thickest && a >= t && b + t <= n && st->count[a - 1] < paper_count &&
            st->count[b] < paper_count) {
            memset(lines + a, 1, (size_t)t);
            bands++;
        }
        /* A full row inside the soft edge is this band again, not another:
         * counted twice, a digit's two bars would pass for a ruled page. */
        i = b;
    }
    return bands;
}

static int erase_ruled_lines(uint8_t *seeds, int w, int h, arena *mem)
{
    if (w < MIN_SIDE_FOR_MAP || h < MIN_SIDE_FOR_MAP)
        return 0;
    int *ints = arena_alloc(mem, 3 * ((size_t)w + (size_t)h) * sizeof *ints);
    uint8_t *row_line = arena_zalloc(mem, (size_t)h), *col_line = arena_zalloc(mem, (size_t)w);
    if (!ints || !row_line || !col_line)
        return -1;
    line_stats rows = {ints, ints + h, ints + 2 * h};
    line_stats cols = {ints + 3 * h, ints + 3 * h + w, ints + 3 * h + 2 * w};
    /* Counts in loops that vectorise; the ends only of the rare rows and
     * columns long enough to be lines. */
    memset(cols.count, 0, (size_t)w * sizeof *cols.count);
    for (int y = 0; y < h; y++) {
        const uint8_t *row = seeds + (size_t)y * (size_t)w;
        int count = 0;
        for (int x = 0; x < w; x++) {
            count += row[x];
            cols.count[x] += row[x];
        }
        rows.count[y] = count;
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *row = seeds + (size_t)y * (size_t)w;
        rows.first[y] = w;
        rows.last[y] = -1;
        if (rows.count[y] < RULED_SPAN * w)
            continue;
        for (int x = 0; x < w; x++)
            if (row[x]) {
                rows.first[y] = x < rows.first[y] ? x : rows.first[y];
                rows.last[y] = x;
            }
    }
    for (int x = 0; x < w; x++) {
        cols.first[x] = h;
        cols.last[x] = -1;
        if (cols.count[x] < RULED_SPAN * h)
            continue;
        for (int y = 0; y < h; y++)
            if (seeds[(size_t)y * (size_t)w + (size_t)x]) {
                cols.first[x] = y < cols.first[x] ? y : cols.first[x];
                cols.last[x] = y;
            }
    }
    int across = find_ruled_lines(&rows, h, w, row_line);
    int down = find_ruled_lines(&cols, w, h, col_line);
    if (across < RULED_MIN_LINES && down < RULED_MIN_LINES)
        return 0;
    for (int y = 0; y < h; y++) {
        uint8_t *row = seeds + (size_t)y * (size_t)w;
        if (row_line[y]) {
            memset(row, 0, (size_t)w);
            continue;
        }
        for (int x = 0; x < w; x++)
            row[x] &= (uint8_t)!col_line[x];
    }
    return 0;
}

int label_components(const uint8_t *d, int w, int h, int threshold, arena *mem,
                     components *c)
{
    memset(c, 0, sizeof *c);
    size_t cap = 64 + (size_t)w * (size_t)h / 16, n_runs = 0;
    run *runs = arena_alloc(mem, cap * sizeof *runs);
    if (!runs)
        return -1;
    /* The seed mask of the whole image (one long loop, which vectorises
     * even when rows are short), and each row's copy between zero bytes:
     * mask[1 + x] for pixel x. A run starts or ends wherever mask[1 + x] !=
     * mask[x], 0 <= x <= w, and one word compare rules out eight such
     * positions at a time. */
    size_t n = (size_t)w * (size_t)h;
    uint8_t *seeds = arena_alloc(mem, n);
    uint8_t *mask = arena_zalloc(mem, (size_t)w + 16);
    if (!seeds || !mask)
        return -1;
    for (size_t i = 0; i < n; i++)
        seeds[i] = d[i] > threshold;
    if (erase_ruled_lines(seeds, w, h, mem) != 0)
        return -1;
    size_t above = 0, above_end = 0;   /* the runs of row y - 1 */
    for (int y = 0; y < h; y++) {
        memcpy(mask + 1, seeds + (size_t)y * (size_t)w, (size_t)w);
        size_t first = n_runs;
        int start = 0;
        for (int x = 0; x <= w;) {
            uint64_t here, next;
            memcpy(&here, mask + x, sizeof here);
            memcpy(&next, mask + x + 1, sizeof next);
            if (here == next) {
                x += 8;
                continue;
            }
            for (int end = x + 8 < w + 1 ? x + 8 : w + 1; x < end; x++) {
                if (mask[1 + x] == mask[x])
                    continue;
                if (mask[1 + x]) {
                    start = x;
                    continue;
                }
                if (n_runs == cap) {
                    run *grown = arena_alloc(mem, 2 * cap * sizeof *grown);
                    if (!grown)
                        return -1;
                    memcpy(grown, runs, cap * sizeof *runs);
                    runs = grown;
                    cap *= 2;
                }
                runs[n_runs] = (run){y, start, x - 1, (uint32_t)n_runs};
                n_runs++;
            }
        }
        /* Merge-walk the two rows: runs touch when their spans, widened by
         * one pixel for the diagonals, overlap. */
        size_t i = above, j = first;
        while (i < above_end && j < n_runs) {
            if (runs[i].x1 + 1 < runs[j].x0) {
                i++;
            } else if (runs[j].x1 + 1 < runs[i].x0) {
                j++;
            } else {
                run_join(runs, (uint32_t)i, (uint32_t)j);
                if (runs[i].x1 < runs[j].x1)
                    i++;
                else
                    j++;
            }
        }
        above = first;
        above_end = n_runs;
    }
    /* Number the components in order of their first run; a run's parent
     * comes before it, so it already holds its component number. */
    size_t n_comp = 0;
    for (size_t r = 0; r < n_runs; r++) {
        uint32_t p = runs[r].comp;
        runs[r].comp = p == r ? (uint32_t)++n_comp : runs[p].comp;
    }
    component *comp = arena_alloc(mem, (n_comp + 1) * sizeof *comp);
    if (!comp)
        return -1;
    for (size_t k = 0; k <= n_comp; k++)
        comp[k] = (component){0, 0, 0, rect_empty(), 0, 0};
    for (size_t r = 0; r < n_runs; r++) {
        const run *u = &runs[r];
        const uint8_t *row = d + (size_t)u->y * (size_t)w;
        /* Integer sums of bytes, exact: the same mass as a pixel-by-pixel
         * double sum in any order. */
        uint32_t mass = 0;
        for (int x = u->x0; x <= u->x1; x++)
            mass += row[x];
        component *k = &comp[u->comp];
        k->mass += mass;
        k->pixels += (size_t)(u->x1 - u->x0 + 1);
        if (u->y == 0 || u->y == h - 1)
            k->edge_pixels += (size_t)(u->x1 - u->x0 + 1);
        else
            k->edge_pixels += (size_t)(u->x0 == 0) + (size_t)(u->x1 == w - 1);
        rect_add(&k->box, u->x0, u->y);
        rect_add(&k->box, u->x1, u->y);
    }
    c->runs = runs;
    c->n_runs = n_runs;
    c->comp = comp;
    c->n_comp = n_comp;
    c->seeds = seeds;
    return 0;
}

/* True when some pixel of the run has a pixel of a big component within
 * the tiny-piece reach: the union of the pixels' windows is one rectangle
 * of the big mask (padded by TINY_NEAR_PX, so the rectangle is inside). */
static int run_near_big(const uint8_t *big, int pw, const run *u)
{
    int x0 = u->x0, len = u->x1 - u->x0 + 1 + 2 * TINY_NEAR_PX;
    for (int y = u->y; y <= u->y + 2 * TINY_NEAR_PX; y++) {
        const uint8_t *p = big + (size_t)y * (size_t)pw + (size_t)x0;
        unsigned any = 0;
        for (int x = 0; x < len; x++)
            any |= p[x];
        if (any)
            return 1;
    }
    return 0;
}

/* A photo can hold more than the digit: the desk around the sheet, a
 * scanner's black margin, a notebook's margin line, part of a neighbouring
 * character cut by the crop. These reach the picture's edge, which a
 * digit in a photo rarely does. So when substantial ink lies clear of the
 * edge (a component of CLEAR_MIN_SIDE of the picture, not a speck), ink
 * touching the edge is clutter if it is either no heavier than the
 * heaviest clear component (a fragment, unless it comes within
 * CLUTTER_REACH of the clear ink) or runs across the picture from edge to
 * edge, or along an edge over half the picture (a desk, a scanner's lid, a
 * line, a strip of shadow). A digit cut by the edge touches it only where
 * its strokes cross it, and a tightly cropped digit leaves nothing
 * substantial clear of the edges: neither is dropped. */
#define CLUTTER_FRAGMENT 1.0        /* of the heaviest clear component's mass */
#define CLUTTER_SPAN 0.5            /* of the picture's width or height */
#define CLUTTER_BAND 0.25           /* thickness of a band across, of its length */
#define CLUTTER_CONTACT 0.5         /* of the picture's shorter side, along the edge */
#define CLUTTER_REACH 0.08          /* of the clear ink's size: nearer is the digit's */
#define CLEAR_MIN_PIXELS 24
#define CLEAR_MIN_SIDE 0.10         /* of the picture's shorter side */

/* A printed box or a circle drawn round the digit encloses it: the frame
 * is clutter when it goes round another component of at least FRAMED_MASS
 * of its mass and FRAMED_SIDE of its size (not a speck, nor a slash, inside
 * a 0). Only the FRAME_CANDIDATES heaviest components are compared, pair
 * by pair. */
#define FRAMED_MASS 0.5
#define FRAMED_SIDE 0.25
#define FRAME_CANDIDATES 16

/* True when component k has pixels beyond inner on all four sides, on the
 * row and the column through inner's centre: it goes round it, as a box
 * or a circle does and the tail of a 6 curling past its loop does not. */
static int surrounds(const components *c, uint32_t k, rect inner)
{
    rect kb = c->comp[k].box;
    if (!(kb.x0 < inner.x0 && kb.y0 < inner.y0 && kb.x1 > inner.x1 && kb.y1 > inner.y1))
        return 0;
    int xc = (inner.x0 + inner.x1) / 2, yc = (inner.y0 + inner.y1) / 2;
    int left = 0, right = 0, above = 0, below = 0;
    for (size_t r = 0; r < c->n_runs; r++) {
        const run *u = &c->runs[r];
        if (u->comp != k)
            continue;
        if (u->y == yc) {
            left |= u->x0 < inner.x0;
            right |= u->x1 > inner.x1;
        }
        if (u->x0 <= xc && xc <= u->x1) {
            above |= u->y < inner.y0;
            below |= u->y > inner.y1;
        }
    }
    return left && right && above && below;
}

static void mark_frames(components *c)
{
    size_t top[FRAME_CANDIDATES];
    size_t n_top = 0;
    for (size_t k = 1; k <= c->n_comp; k++) {
        if (c->comp[k].pixels < CLEAR_MIN_PIXELS)
            continue;
        /* Insertion into the list of the heaviest, heaviest first. */
        size_t at = n_top < FRAME_CANDIDATES ? n_top++ : FRAME_CANDIDATES;
        while (at > 0 && c->comp[top[at - 1]].mass < c->comp[k].mass) {
            if (at < FRAME_CANDIDATES)
                top[at] = top[at - 1];
            at--;
        }
        if (at < FRAME_CANDIDATES)
            top[at] = k;
    }
    for (size_t i = 0; i < n_top; i++) {
        component *frame = &c->comp[top[i]];
        for (size_t j = 0; j < n_top && !frame->clutter; j++) {
            const component *inside = &c->comp[top[j]];
            frame->clutter = j != i && inside->mass >= FRAMED_MASS * frame->mass &&
                             rect_long_side(inside->box) >= FRAMED_SIDE * rect_long_side(frame->box) &&
                             surrounds(c, (uint32_t)top[i], inside->box);
        }
    }
}

/* An underline: a thin stroke (no taller than UNDERLINE_THIN of its width)
 * under the rest of the ink, at least UNDERLINE_WIDE of that ink's width and
 * overlapping most of it. Drawn apart from the digit, it would otherwise
 * join the box and squash the digit into its top. */
#define UNDERLINE_THIN 0.2
#define UNDERLINE_WIDE 0.6

/* The box of all ink but one component's, for every component at once:
 * each side's best and second-best edge and who holds the best. */
typedef struct {
    int best[4], second[4];   /* x0, y0 (least) and x1, y1 (greatest) */
    size_t holder[4];
} ink_extent;

static int underline_eligible(const component *p)
{
    return !p->clutter && p->pixels >= CLEAR_MIN_PIXELS;
}

static void extent_add(ink_extent *e, rect r, size_t k)
{
    int v[4] = {-r.x0, -r.y0, r.x1, r.y1};   /* larger is further out on every side */
    for (int s = 0; s < 4; s++) {
        if (v[s] > e->best[s]) {
            e->second[s] = e->best[s];
            e->best[s] = v[s];
            e->holder[s] = k;
        } else if (v[s] > e->second[s]) {
            e->second[s] = v[s];
        }
    }
}

static rect extent_without(const ink_extent *e, size_t k)
{
    int v[4];
    for (int s = 0; s < 4; s++)
        v[s] = e->holder[s] == k ? e->second[s] : e->best[s];
    return (rect){-v[0], -v[1], v[2], v[3]};
}

static void mark_underline(components *c)
{
    ink_extent e;
    for (int s = 0; s < 4; s++) {
        e.best[s] = e.second[s] = INT32_MIN / 2;
        e.holder[s] = 0;
    }
    for (size_t k = 1; k <= c->n_comp; k++)
        if (underline_eligible(&c->comp[k]))
            extent_add(&e, c->comp[k].box, k);
    for (size_t k = 1; k <= c->n_comp; k++) {
        component *u = &c->comp[k];
        int uw = u->box.x1 - u->box.x0 + 1, uh = u->box.y1 - u->box.y0 + 1;
        if (!underline_eligible(u) || uh > UNDERLINE_THIN * uw)
            continue;
        rect rest = extent_without(&e, k);
        if (rest.x1 < rest.x0 || rest.y1 < rest.y0)
            continue;   /* no other ink */
        int rw = rest.x1 - rest.x0 + 1, rh = rest.y1 - rest.y0 + 1;
        int overlap = (u->box.x1 < rest.x1 ? u->box.x1 : rest.x1) -
                      (u->box.x0 > rest.x0 ? u->box.x0 : rest.x0) + 1;
        u->clutter = u->box.y0 > rest.y1 - rh / 8 && uw >= UNDERLINE_WIDE * rw &&
                     overlap >= rw / 2 && rh >= 2 * uh;
    }
}

static int touches_edge(rect r, int w, int h)
{
    return r.x0 <= 0 || r.y0 <= 0 || r.x1 >= w - 1 || r.y1 >= h - 1;
}

static void mark_clutter(components *c, int w, int h)
{
    /* A picture this small is a crop of the digit already (MNIST's 28 x 28
     * among them), with no page around it: what reaches its edge is the
     * digit's, such as the bar of a 5 running off it. */
    if (w < MIN_SIDE_FOR_MAP || h < MIN_SIDE_FOR_MAP)
        return;
    mark_frames(c);
    mark_underline(c);
    int shorter = w < h ? w : h;
    double min_side = CLEAR_MIN_SIDE * shorter;
    double clear_mass = 0;
    rect clear = rect_empty();
    for (size_t k = 1; k <= c->n_comp; k++) {
        const component *p = &c->comp[k];
        if (!p->clutter && !touches_edge(p->box, w, h) && p->pixels >= CLEAR_MIN_PIXELS &&
            rect_long_side(p->box) >= min_side) {
            rect_union(&clear, p->box);
            clear_mass = p->mass > clear_mass ? p->mass : clear_mass;
        }
    }
    if (clear_mass == 0)
        return;
    int candidates = 0;
    for (size_t k = 1; k <= c->n_comp; k++) {
        component *p = &c->comp[k];
        if (p->clutter || !touches_edge(p->box, w, h))
            continue;
        int bw = p->box.x1 - p->box.x0 + 1, bh = p->box.y1 - p->box.y0 + 1;
        /* From edge to edge in a band, not a tightly cropped digit's box. */
        int across = (bw == w && bh <= CLUTTER_BAND * w) || (bh == h && bw <= CLUTTER_BAND * h);
        if (across || ((bw >= CLUTTER_SPAN * w || bh >= CLUTTER_SPAN * h) &&
                       p->edge_pixels >= CLUTTER_CONTACT * shorter))
            p->clutter = 1;   /* a desk's edge, a lid, a line, a band of shadow */
        else if (p->mass <= CLUTTER_FRAGMENT * clear_mass)
            p->clutter = 2;   /* a fragment, unless it comes near the clear ink */
        candidates += p->clutter == 2;
    }
    if (!candidates)
        return;
    /* A fragment reaching close to the clear ink is the digit's own: the bar
     * of a 5 or the stem of a 4 that runs off a tight crop, the rest of the
     * digit clear of the edges. */
    int reach = (int)lround(CLUTTER_REACH * rect_long_side(clear));
    rect near = {clear.x0 - reach, clear.y0 - reach, clear.x1 + reach, clear.y1 + reach};
    for (size_t r = 0; r < c->n_runs; r++) {
        const run *u = &c->runs[r];
        component *p = &c->comp[u->comp];
        if (p->clutter == 2 && u->y >= near.y0 &&
            u->y <= near.y1 && u->x1 >= near.x0 && u->x0 <= near.x1)
            p->clutter = 0;
    }
}

int select_components(components *c, int w, int h, arena *mem, rect *kept_out)
{
    mark_clutter(c, w, h);
    double largest = 0;
    for (size_t k = 1; k <= c->n_comp; k++)
        if (!c->comp[k].clutter && c->comp[k].mass > largest)
            largest = c->comp[k].mass;
    rect big = rect_empty();
    for (size_t k = 1; k <= c->n_comp; k++)
        if (!c->comp[k].clutter && c->comp[k].mass >= BIG_COMPONENT * largest) {
            c->comp[k].keep = 2;
            rect_union(&big, c->comp[k].box);
        }
    int medium_reach = (int)lround(MEDIUM_NEAR_FRACTION * rect_long_side(big));
    if (medium_reach < TINY_NEAR_PX)
        medium_reach = TINY_NEAR_PX;
    rect kept = big;
    int any_tiny = 0;
    for (size_t k = 1; k <= c->n_comp; k++) {
        component *p = &c->comp[k];
        if (p->keep || p->clutter)
            continue;
        if (p->mass >= MEDIUM_COMPONENT * largest) {
            if (rect_gap(p->box, big) <= medium_reach) {
                p->keep = 1;
                rect_union(&kept, p->box);
            }
        } else {
            any_tiny = 1;
        }
    }
    /* Tiny pieces are kept when any of their pixels nearly touches a big
     * component: checked against a mask of the big components' pixels. */
    if (any_tiny) {
        int pw = w + 2 * TINY_NEAR_PX, ph = h + 2 * TINY_NEAR_PX;
        uint8_t *bigmask = arena_zalloc(mem, (size_t)pw * (size_t)ph);
        if (!bigmask)
            return -1;
        for (size_t r = 0; r < c->n_runs; r++) {
            const run *u = &c->runs[r];
            if (c->comp[u->comp].keep == 2)
                memset(bigmask + (size_t)(u->y + TINY_NEAR_PX) * (size_t)pw +
                           (size_t)(u->x0 + TINY_NEAR_PX),
                       1, (size_t)(u->x1 - u->x0 + 1));
        }
        for (size_t r = 0; r < c->n_runs; r++) {
            const run *u = &c->runs[r];
            component *p = &c->comp[u->comp];
            if (p->keep || p->clutter || p->mass >= MEDIUM_COMPONENT * largest)
                continue;
            if (run_near_big(bigmask, pw, u)) {
                p->keep = 1;
                rect_union(&kept, p->box);
            }
        }
    }
    *kept_out = kept;
    return 0;
}

size_t largest_component_pixels(const components *c)
{
    size_t best = 0;
    for (size_t k = 1; k <= c->n_comp; k++)
        if (c->comp[k].pixels > best)
            best = c->comp[k].pixels;
    return best;
}

int faint_ink_is_strokes(const uint8_t *d, int w, int h, const components *c,
                         rect kept)
{
    size_t total = 0, largest = 0;
    for (size_t k = 1; k <= c->n_comp; k++) {
        if (c->comp[k].clutter)
            continue;
        total += c->comp[k].pixels;
        if (c->comp[k].pixels > largest)
            largest = c->comp[k].pixels;
    }
    if ((double)largest < FAINT_LARGEST_SHARE * (double)total)
        return 0;
    if (touches_edge(kept, w, h) ||
        rect_long_side(kept) < FAINT_MIN_SPAN * (w < h ? w : h))
        return 0;
    /* Kept ink stands clear of the edges, so every neighbour of a seed is
     * inside the picture. */
    const int o = FAINT_EDGE_PX;
    const size_t row = (size_t)w;
    uint64_t seed_sum = 0, out_sum = 0;
    size_t seed_n = 0, boundary_n = 0, out_n = 0;
    for (size_t r = 0; r < c->n_runs; r++) {
        const run *u = &c->runs[r];
        if (!c->comp[u->comp].keep)
            continue;
        for (int x = u->x0; x <= u->x1; x++) {
            size_t i = (size_t)u->y * row + (size_t)x;
            seed_sum += d[i];
            seed_n++;
            boundary_n += !c->seeds[i - 1] || !c->seeds[i + 1] || !c->seeds[i - row] ||
                          !c->seeds[i + row];
            const int probe[4][2] = {{x - o, u->y}, {x + o, u->y}, {x, u->y - o}, {x, u->y + o}};
            for (int k = 0; k < 4; k++) {
                int px = probe[k][0], py = probe[k][1];
                if (px < 0 || py < 0 || px >= w || py >= h)
                    continue;
                size_t j = (size_t)py * row + (size_t)px;
                if (!c->seeds[j]) {
                    out_sum += d[j];
                    out_n++;
                }
            }
        }
    }
    if (seed_n == 0 || out_n == 0 ||
        (double)boundary_n > FAINT_MAX_BOUNDARY_SHARE * (double)seed_n)
        return 0;
    return (double)out_sum / (double)out_n <=
           FAINT_MAX_EDGE_RATIO * (double)seed_sum / (double)seed_n;
}
