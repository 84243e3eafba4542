/* variant_styles.c -- the styles "digits-trainer variants" redraws digits
 * in, and the table that names them. See variant_styles.h.
 *
 * A style draws every random choice (size, place, colours, light, noise)
 * from the one rng variants_render_png seeds, in the order its code makes
 * them: drawing one more number, or the same ones in another order,
 * changes that style's pictures for every seed.
 */
#include "variant_styles.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "preprocess.h"
#include "rng.h"
#include "variant_ink.h"
#include "variant_png.h"

/* Each style turns the 28x28 digit into a canvas and picks its PNG layout.
 * Returns 0 or -1 (out of memory, or a digit with no ink at all). */
typedef int (*style_fn)(const inkmap *digit, rng *r, canvas *out, variant_layout *fmt);

/* Uniform in [lo, hi). */
static double uniform(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_uniform(r);
}

/* Uniform integer in [lo, hi]. */
static int between(rng *r, int lo, int hi)
{
    return lo + (int)rng_below(r, (uint32_t)(hi - lo + 1));
}

static void grey3(double v, double out[3])
{
    out[0] = out[1] = out[2] = v;
}

/* ---- the pen path -------------------------------------------------------- */

/* MNIST at 4x, binarised: the stroke is then what it was at 28 px times 4. */
static int binarised_4x(const inkmap *digit, double threshold, int pad, inkmap *out)
{
    inkmap big;
    if (ink_resize(digit, 0, 0, MNIST_SIDE, MNIST_SIDE, 4 * MNIST_SIDE, 4 * MNIST_SIDE, &big) != 0)
        return -1;
    ink_threshold(&big, threshold);
    int rc = ink_place(&big, big.w + 2 * pad, big.h + 2 * pad, pad, pad, out);
    ink_free(&big);
    return rc;
}

/* The pen's path at 4x: the digit's skeleton where it has at least FAINT_INK
 * (0.3) ink. MNIST's pen was faint in places, and a stroke too faint for a
 * 50% threshold is still a stroke the writer drew: a thin or a fat pen
 * would draw it in full. */
#define FAINT_INK 0.3

static int pen_path_4x(const inkmap *digit, int pad, inkmap *path)
{
    if (binarised_4x(digit, FAINT_INK, pad, path) != 0)
        return -1;
    if (ink_skeleton(path) != 0) {
        ink_free(path);
        return -1;
    }
    return 0;
}

/* ---- the styles ---------------------------------------------------------- */

/* The pens' last step: softens ink's edges, then paints it in a dark grey
 * (0..pen_max) on a light grey paper (paper_min..1), drawn in that order.
 * Frees ink either way. */
static int paint_soft_grey(inkmap *ink, rng *r, double paper_min, double pen_max, canvas *out)
{
    int rc = ink_soften(ink);
    if (rc == 0) {
        double paper[3], pen[3];
        grey3(uniform(r, paper_min, 1.0), paper);
        grey3(uniform(r, 0.0, pen_max), pen);
        rc = canvas_paint(out, ink, paper, pen);
    }
    ink_free(ink);
    return rc;
}

/* A scan of a pencil or ballpoint digit: the MNIST frame enlarged. */
static int style_ink_on_paper(const inkmap *digit, rng *r, canvas *out, variant_layout *fmt)
{
    int side = between(r, 84, 196);
    double paper[3], pen[3];
    grey3(uniform(r, 0.90, 1.0), paper);
    grey3(uniform(r, 0.0, 0.25), pen);
    inkmap big;
    if (ink_resize(digit, 0, 0, MNIST_SIDE, MNIST_SIDE, side, side, &big) != 0)
        return -1;
    int rc = canvas_paint(out, &big, paper, pen);
    ink_free(&big);
    *fmt = LAYOUT_GRAY8;
    return rc;
}

/* A fine-liner: strokes one MNIST pixel thinner than the writer's (1-2 px
 * where MNIST's are 2-3), never under 0.75 px. Erosion by 2 px at 4x thins
 * them as a finer pen drawing the same path would, and keeps loops MNIST's
 * writer filled in; where a stroke was too faint or narrow to survive it,
 * the pen's path drawn 3 px wide carries on, because a real thin pen draws
 * connected lines. */
static int style_thin_pen(const inkmap *digit, rng *r, canvas *out, variant_layout *fmt)
{
    inkmap bin, thin, path, trace;
    if (binarised_4x(digit, 0.5, 0, &bin) != 0)
        return -1;
    int rc = ink_morph(&bin, 2, 0, &thin);
    ink_free(&bin);
    if (rc != 0)
        return -1;
    if (pen_path_4x(digit, 0, &path) != 0) {
        ink_free(&thin);
        return -1;
    }
    rc = ink_morph(&path, 1, 1, &trace);
    ink_free(&path);
    if (rc != 0) {
        ink_free(&thin);
        return -1;
    }
    ink_max_into(&thin, &trace);
    ink_free(&trace);
    *fmt = LAYOUT_RGB8;
    return paint_soft_grey(&thin, r, 0.92, 0.2, out);
}

/* A felt marker: the digit's strokes, and its pen path where they were
 * faint, dilated by 3-5 px at 4x, i.e. 0.75-1.25 MNIST px on each side
 * (1.5-2.5 px wider), on a canvas grown so the fat strokes never touch the
 * edge. */
static int style_thick_marker(const inkmap *digit, rng *r, canvas *out, variant_layout *fmt)
{
    int radius = between(r, 3, 5);
    inkmap bin, path, fat;
    if (binarised_4x(digit, 0.5, 8, &bin) != 0)
        return -1;
    if (pen_path_4x(digit, 8, &path) != 0) {
        ink_free(&bin);
        return -1;
    }
    ink_max_into(&bin, &path);
    ink_free(&path);
    int rc = ink_morph(&bin, radius, 1, &fat);
    ink_free(&bin);
    if (rc != 0)
        return -1;
    *fmt = LAYOUT_GRAY16;
    return paint_soft_grey(&fat, r, 0.90, 0.15, out);
}

/* A small digit somewhere on a big page: finding and centring it is the
 * preprocessing's job; MNIST digits are always already centred. */
static int style_off_centre(const inkmap *digit, rng *r, canvas *out, variant_layout *fmt)
{
    const int page = 300, margin = 4;
    int side = between(r, 50, 90);
    inkmap small, placed;
    if (ink_scaled_digit(digit, side, &small) != 0)
        return -1;
    int ox = between(r, margin, page - margin - small.w);
    int oy = between(r, margin, page - margin - small.h);
    int rc = ink_place(&small, page, page, ox, oy, &placed);
    ink_free(&small);
    if (rc != 0)
        return -1;
    double paper[3], pen[3];
    grey3(uniform(r, 0.93, 1.0), paper);
    grey3(uniform(r, 0.0, 0.2), pen);
    rc = canvas_paint(out, &placed, paper, pen);
    ink_free(&placed);
    *fmt = LAYOUT_PALETTE4;
    return rc;
}

/* An HTML canvas export: untouched pixels are transparent black (0,0,0,0)
 * and the ink is black with coverage in alpha, so a loader that drops alpha
 * sees nothing but black. */
static int style_canvas_rgba(const inkmap *digit, rng *r, canvas *out, variant_layout *fmt)
{
    const int page = 280, margin = 20;
    int side = between(r, 150, 200);
    inkmap small;
    if (ink_scaled_digit(digit, side, &small) != 0)
        return -1;
    int ox = between(r, margin, page - margin - small.w);
    int oy = between(r, margin, page - margin - small.h);
    if (canvas_alloc(out, page, page) != 0) {
        ink_free(&small);
        return -1;
    }
    for (int y = 0; y < small.h; y++)
        for (int x = 0; x < small.w; x++) {
            double a = variant_clamp(small.v[(size_t)y * (size_t)small.w + (size_t)x], 0.0, 1.0);
            out->px[((size_t)(y + oy) * (size_t)page + (size_t)(x + ox)) * 4 + 3] = a;
        }
    ink_free(&small);
    *fmt = LAYOUT_RGBA8;
    return 0;
}

/* Blue or red ballpoint on off-white or cream paper. */
static int style_coloured_ink(const inkmap *digit, rng *r, canvas *out, variant_layout *fmt)
{
    int side = between(r, 100, 200);
    double paper[3], pen[3];
    if (rng_below(r, 2)) {   /* cream */
        paper[0] = uniform(r, 0.97, 1.0);
        paper[1] = uniform(r, 0.92, 0.96);
        paper[2] = uniform(r, 0.78, 0.88);
    } else {                 /* off-white */
        grey3(uniform(r, 0.93, 0.98), paper);
        paper[2] -= uniform(r, 0.0, 0.03);
    }
    if (rng_below(r, 2)) {   /* blue */
        pen[0] = uniform(r, 0.05, 0.20);
        pen[1] = uniform(r, 0.10, 0.30);
        pen[2] = uniform(r, 0.55, 0.80);
    } else {                 /* red */
        pen[0] = uniform(r, 0.70, 0.85);
        pen[1] = uniform(r, 0.05, 0.20);
        pen[2] = uniform(r, 0.05, 0.20);
    }
    inkmap big;
    if (ink_resize(digit, 0, 0, MNIST_SIDE, MNIST_SIDE, side, side, &big) != 0)
        return -1;
    int rc = canvas_paint(out, &big, paper, pen);
    ink_free(&big);
    *fmt = LAYOUT_RGB16;
    return rc;
}

/* A phone photo of a note: ruled lines under the ink, light falling off
 * 30-40% towards one side, sensor noise. */
static int style_paper_photo(const inkmap *digit, rng *r, canvas *out, variant_layout *fmt)
{
    int side = between(r, 160, 256);
    double paper[3], pen[3];
    grey3(uniform(r, 0.80, 0.92), paper);
    grey3(uniform(r, 0.08, 0.25), pen);
    inkmap big;
    if (ink_resize(digit, 0, 0, MNIST_SIDE, MNIST_SIDE, side, side, &big) != 0)
        return -1;
    int rc = canvas_paint(out, &big, paper, pen);
    ink_free(&big);
    if (rc != 0)
        return -1;
    int rgb = rng_below(r, 2) != 0;
    *fmt = rgb ? LAYOUT_RGB8_ADAM7 : LAYOUT_GRAY_ALPHA8;

    /* Ruled lines: faint (8-14% darker), slightly blue in colour, 1-2 px, and
     * behind the ink, so the ink covers them where they cross. */
    int lines = between(r, 1, 2);
    int spacing = side / 3;
    int first = between(r, side / 8, side - side / 8 - (lines - 1) * spacing);
    double depth = uniform(r, 0.08, 0.14);
    int thick = between(r, 1, 2);
    for (int l = 0; l < lines; l++) {
        int y0 = first + l * spacing;
        for (int y = y0; y < y0 + thick && y < side; y++)
            for (int x = 0; x < side; x++) {
                double *p = out->px + ((size_t)y * (size_t)side + (size_t)x) * 4;
                /* The share of the pixel that is paper (paper luma is above
                 * the pen's by construction): the line shows there only. */
                double pl = variant_luma(paper), il = variant_luma(pen);
                double paper_share = variant_clamp((variant_luma(p) - il) / (pl - il), 0.0, 1.0);
                double d = paper_share * depth;
                p[0] -= d * (rgb ? 1.2 : 1.0) * paper[0];
                p[1] -= d * paper[1];
                p[2] -= d * (rgb ? 0.4 : 1.0) * paper[2];
            }
    }

    /* Lighting: a linear fall-off along a random direction, from 1 at the
     * brightest corner to 1 - dim at the darkest. */
    double dim = uniform(r, 0.30, 0.40);
    double angle = uniform(r, 0.0, 6.2831853);
    double cx = cos(angle), cy = sin(angle);
    double lo = 0, hi = 0;
    for (int corner = 0; corner < 4; corner++) {
        double px = (corner & 1) ? (double)side : 0.0, py = (corner & 2) ? (double)side : 0.0;
        double t = px * cx + py * cy;
        if (corner == 0 || t < lo) lo = t;
        if (corner == 0 || t > hi) hi = t;
    }
    double noise = 8.0 / 255.0;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            double t = ((x + 0.5) * cx + (y + 0.5) * cy - lo) / (hi - lo);
            double light = 1.0 - dim * t;
            double *p = out->px + ((size_t)y * (size_t)side + (size_t)x) * 4;
            if (rgb) {
                for (int k = 0; k < 3; k++)
                    p[k] = p[k] * light + noise * rng_normal(r);
            } else {
                /* Grey output: one noise value, or the luma would average
                 * three and come out with a third of the intended sigma. */
                double g = variant_luma(p) * light + noise * rng_normal(r);
                p[0] = p[1] = p[2] = g;
            }
        }
    return 0;
}

/* Chalk on a green-grey board: light ink on dark, MNIST's own polarity but
 * never MNIST's black and white, and grainy. */
static int style_chalkboard(const inkmap *digit, rng *r, canvas *out, variant_layout *fmt)
{
    int side = between(r, 120, 200);
    double board[3], chalk[3];
    double level = uniform(r, 40.0, 60.0) / 255.0;
    board[0] = level * 0.85;
    board[1] = level * 1.15;
    board[2] = level * 0.95;
    grey3(uniform(r, 200.0, 230.0) / 255.0, chalk);
    inkmap big;
    if (ink_resize(digit, 0, 0, MNIST_SIDE, MNIST_SIDE, side, side, &big) != 0)
        return -1;
    /* Chalk skips over the board's grain: coverage drops at random. */
    size_t n = (size_t)side * (size_t)side;
    for (size_t i = 0; i < n; i++)
        big.v[i] *= uniform(r, 0.7, 1.0);
    int rc = canvas_paint(out, &big, board, chalk);
    ink_free(&big);
    if (rc != 0)
        return -1;
    canvas_add_grey_noise(out, 4.0 / 255.0, r);
    *fmt = LAYOUT_RGB8;
    return 0;
}

/* A page of a ruled notebook: pale blue lines every 24-34 px, printed
 * behind the ink, that the digit sits on and crosses, and half the time
 * the red margin line. The digit is 50-90 px on a 240-320 px photo. */
static int style_notebook_page(const inkmap *digit, rng *r, canvas *out, variant_layout *fmt)
{
    int w = between(r, 240, 320), h = between(r, 240, 320);
    int side = between(r, 50, 90);
    inkmap small, placed;
    if (ink_scaled_digit(digit, side, &small) != 0)
        return -1;
    int margin_x = rng_below(r, 2) ? between(r, 20, 50) : -1;
    int left = margin_x >= 0 ? margin_x + 12 : 8;
    int ox = between(r, left, w - 8 - small.w);
    int oy = between(r, 8, h - 8 - small.h);
    int rc = ink_place(&small, w, h, ox, oy, &placed);
    ink_free(&small);
    if (rc != 0)
        return -1;
    double paper[3], pen[3];
    grey3(uniform(r, 0.90, 0.98), paper);
    paper[2] = variant_clamp(paper[2] + 0.02, 0.0, 1.0);
    pen[0] = uniform(r, 0.05, 0.25);
    pen[1] = uniform(r, 0.05, 0.25);
    pen[2] = uniform(r, 0.10, 0.45);
    rc = canvas_paint(out, &placed, paper, pen);
    if (rc != 0) {
        ink_free(&placed);
        return -1;
    }
    /* Lines go where the paper shows: the ink covers them. */
    double line[3] = {uniform(r, 0.55, 0.70), uniform(r, 0.70, 0.82), uniform(r, 0.85, 0.95)};
    double red[3] = {uniform(r, 0.85, 0.95), uniform(r, 0.45, 0.60), uniform(r, 0.45, 0.60)};
    int spacing = between(r, 24, 34), thick = between(r, 1, 2);
    for (int y = between(r, 4, spacing); y < h; y += spacing)
        for (int t = 0; t < thick && y + t < h; t++)
            for (int x = 0; x < w; x++) {
                double *p = out->px + ((size_t)(y + t) * (size_t)w + (size_t)x) * 4;
                double a = 1.0 - variant_clamp(placed.v[(size_t)(y + t) * (size_t)w + (size_t)x],
                                               0, 1);
                for (int k = 0; k < 3; k++)
                    p[k] += a * (line[k] * paper[k] - p[k]);
            }
    if (margin_x >= 0)
        for (int y = 0; y < h; y++)
            for (int x = margin_x; x < margin_x + 2; x++) {
                double *p = out->px + ((size_t)y * (size_t)w + (size_t)x) * 4;
                for (int k = 0; k < 3; k++)
                    p[k] = red[k] * paper[k];
            }
    ink_free(&placed);
    canvas_add_grey_noise(out, 3.0 / 255.0, r);
    *fmt = LAYOUT_RGB8;
    return 0;
}

/* What else a photo or a scan shows beside the digit, one of three: the
 * sheet lying on a darker desk (the sheet over half the picture), the
 * scanner's black lid along one or two sides, or the next character on
 * the line cut by the picture's edge. */
static int style_photo_edges(const inkmap *digit, rng *r, canvas *out, variant_layout *fmt)
{
    const int w = 320, h = 280;
    int side = between(r, 90, 150);
    inkmap small, placed;
    if (ink_scaled_digit(digit, side, &small) != 0)
        return -1;
    int ox = between(r, 90, w - 90 - small.w > 90 ? w - 90 - small.w : 90);
    int oy = between(r, 40, h - 40 - small.h > 40 ? h - 40 - small.h : 40);
    int rc = ink_place(&small, w, h, ox, oy, &placed);
    if (rc != 0) {
        ink_free(&small);
        return -1;
    }
    int kind = (int)rng_below(r, 3);
    if (kind == 2) {
        /* The neighbour: the same writer's digit, a third of it showing. */
        int nx = rng_below(r, 2) ? w - small.w / 3 : -small.w + small.w / 3;
        int ny = oy + between(r, -10, 10);
        for (int y = 0; y < small.h; y++)
            for (int x = 0; x < small.w; x++) {
                int px = nx + x, py = ny + y;
                if (px < 0 || px >= w || py < 0 || py >= h)
                    continue;
                double *v = &placed.v[(size_t)py * (size_t)w + (size_t)px];
                double add = small.v[(size_t)y * (size_t)small.w + (size_t)x];
                *v = *v > add ? *v : add;
            }
    }
    ink_free(&small);
    double paper[3], pen[3];
    grey3(uniform(r, 0.85, 0.97), paper);
    grey3(uniform(r, 0.05, 0.20), pen);
    rc = canvas_paint(out, &placed, paper, pen);
    ink_free(&placed);
    if (rc != 0)
        return -1;
    double dark[3];
    grey3(kind == 0 ? uniform(r, 0.15, 0.45) : uniform(r, 0.0, 0.08), dark);
    if (kind == 0) {
        dark[0] *= 1.15;   /* a wooden desk */
        dark[2] *= 0.8;
    }
    /* kind 0: the sheet's edges, 8-12% in from each side of the picture;
     * kind 1: the lid, 4-10% deep along one or two sides. */
    int cut[4] = {0, 0, 0, 0};   /* left, top, right, bottom */
    if (kind == 0) {
        cut[0] = between(r, w * 8 / 100, w * 12 / 100);
        cut[1] = between(r, h * 8 / 100, h * 12 / 100);
        cut[2] = between(r, w * 8 / 100, w * 12 / 100);
        cut[3] = between(r, h * 8 / 100, h * 12 / 100);
    } else if (kind == 1) {
        int first = (int)rng_below(r, 4);
        cut[first] = between(r, 12, 28);
        if (rng_below(r, 2))
            cut[(first + 1) % 4] = between(r, 12, 28);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (x >= cut[0] && y >= cut[1] && x < w - cut[2] && y < h - cut[3])
                continue;
            double *p = out->px + ((size_t)y * (size_t)w + (size_t)x) * 4;
            for (int k = 0; k < 3; k++)
                p[k] = dark[k];
        }
    canvas_add_grey_noise(out, 4.0 / 255.0, r);
    *fmt = kind == 1 ? LAYOUT_GRAY8 : LAYOUT_RGB8;
    return 0;
}

/* ---- the table ----------------------------------------------------------- */

static const struct {
    const char *name;
    style_fn render;
} styles[] = {
    {"ink-on-paper", style_ink_on_paper},
    {"thin-pen", style_thin_pen},
    {"thick-marker", style_thick_marker},
    {"off-centre", style_off_centre},
    {"canvas-rgba", style_canvas_rgba},
    {"coloured-ink", style_coloured_ink},
    {"paper-photo", style_paper_photo},
    {"chalkboard", style_chalkboard},
    {"notebook-page", style_notebook_page},
    {"photo-edges", style_photo_edges},
};

#define N_STYLES ((int)(sizeof styles / sizeof styles[0]))

int variants_style_count(void)
{
    return N_STYLES;
}

const char *variants_style_name(int style)
{
    return style >= 0 && style < N_STYLES ? styles[style].name : NULL;
}

int variants_style_find(const char *name)
{
    for (int s = 0; name && s < N_STYLES; s++)
        if (strcmp(styles[s].name, name) == 0)
            return s;
    return -1;
}

int variants_render_png(int style, const uint8_t digit[784], uint64_t seed, uint8_t **png,
                        size_t *png_len, char *err, size_t err_len)
{
    *png = NULL;
    *png_len = 0;
    if (style < 0 || style >= N_STYLES || !digit) {
        snprintf(err, err_len, "no such style %d", style);
        return -1;
    }
    inkmap d;
    if (ink_alloc(&d, MNIST_SIDE, MNIST_SIDE) != 0) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    for (int i = 0; i < MNIST_SIDE * MNIST_SIDE; i++)
        d.v[i] = digit[i] / 255.0;
    int x0, y0, x1, y1;
    if (ink_bbox(&d, &x0, &y0, &x1, &y1) != 0) {
        ink_free(&d);
        snprintf(err, err_len, "the digit has no ink");
        return -1;
    }
    rng r;
    rng_seed(&r, seed);
    canvas c = {0, 0, NULL};
    variant_layout fmt = LAYOUT_GRAY8;
    int rc = styles[style].render(&d, &r, &c, &fmt);
    ink_free(&d);
    if (rc != 0) {
        canvas_free(&c);
        snprintf(err, err_len, "%s: out of memory", styles[style].name);
        return -1;
    }
    rc = variant_encode_png(&c, fmt, png, png_len, err, err_len);
    canvas_free(&c);
    return rc;
}
