/* report.c -- progress lines, evaluation text/JSON, history CSV and the two
 * PNG plots (see report.h).
 *
 * Progress state: the progress struct in report.h is fixed and has no field
 * for the current epoch or the epoch's step count, both of which the closing
 * Keras line needs ("1875/1875 [...] - 1s 123us/step"). So the two fields it
 * does have are given precise meanings here:
 *   last_printed_quarter = epoch * 8 + q, where q is the last quarter printed
 *                          in non-interactive mode (0..3) or EPOCH_CLOSED once
 *                          the epoch's summary is out; -1 before any epoch;
 *   last_draw            = steps per epoch, as last reported (0 = unknown).
 *
 * Plots are drawn into an RGB buffer by hand (a 5x7 bitmap font, thick
 * anti-aliased lines, discs) so that the trainer needs nothing beyond the
 * libpng wrapper it already has; pixel coordinates are pixel centres.
 */
#include "report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "font5x7.h"
#include "image.h"
#include "png_io.h"

#define BAR_WIDTH 30
#define EPOCH_CLOSED 7
/* Keras lines only grow at the end of an epoch, but the ETA and loss fields
 * can shrink by a few characters mid-epoch; blanks cover the leftovers of the
 * longer previous line without needing terminal escape codes. */
#define REDRAW_SLACK "    "

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* ---- progress ------------------------------------------------------------ */

static int state_epoch(const progress *p)
{
    return p->last_printed_quarter < 0 ? -1 : p->last_printed_quarter / 8;
}

static int state_quarter(const progress *p)
{
    return p->last_printed_quarter < 0 ? 0 : p->last_printed_quarter % 8;
}

static void set_state(progress *p, int epoch, int quarter)
{
    /* Epoch numbers beyond INT_MAX / 8 cannot be encoded; such runs only
     * lose the "already printed" memory, never correctness of the numbers. */
    p->last_printed_quarter = epoch >= 0 && epoch < INT_MAX / 8 ? epoch * 8 + quarter : -1;
}

static void epoch_label(char *buf, size_t len, int epoch, int epochs)
{
    if (epochs > 0)
        snprintf(buf, len, "%d/%d", epoch, epochs);
    else
        snprintf(buf, len, "%d", epoch);
}

static double finite_or_zero(double v)
{
    return isfinite(v) && v > 0 ? v : 0.0;
}

/* Keras' ETA style: "12s", "3:05", "1:02:03". */
static void format_eta(char *buf, size_t len, double seconds)
{
    seconds = finite_or_zero(seconds);
    if (seconds > 1e9)
        seconds = 1e9;
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, (s % 3600) / 60, s % 60);
    else if (s >= 60)
        snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
    else
        snprintf(buf, len, "%lds", s);
}

/* Keras' time-per-step style: the unit that keeps the number readable. */
static void format_per_step(char *buf, size_t len, double seconds_per_step)
{
    double t = finite_or_zero(seconds_per_step);
    if (t >= 1.0)
        snprintf(buf, len, "%.0fs/step", t);
    else if (t >= 1e-3)
        snprintf(buf, len, "%.0fms/step", t * 1e3);
    else
        snprintf(buf, len, "%.0fus/step", t * 1e6);
}

static int decimal_digits(long v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

static void print_bar(FILE *out, int step, int steps)
{
    int filled = (int)((long long)step * BAR_WIDTH / steps);
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '=' : '.';
    /* Keras puts the arrow head on the last filled cell while running. */
    if (step < steps && filled > 0)
        bar[filled - 1] = '>';
    bar[BAR_WIDTH] = '\0';
    fprintf(out, "%*d/%d [%s]", decimal_digits(steps), step, steps, bar);
}

void progress_init(progress *p, FILE *out, int epochs, int interactive)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->epochs = epochs;
    if (interactive < 0) {
        int fd = out ? fileno(out) : -1;
        p->interactive = fd >= 0 && isatty(fd);
    } else {
        p->interactive = interactive != 0;
    }
    p->last_printed_quarter = -1;
    p->last_draw = 0.0;
}

/* Called whenever a step report belongs to an epoch we have not seen yet. */
static void start_epoch(progress *p, int epoch)
{
    if (p->interactive) {
        /* A previous epoch that never got its end call still owns the bar
         * line; end it rather than overwrite it. */
        if (state_epoch(p) >= 0 && state_quarter(p) != EPOCH_CLOSED)
            fputc('\n', p->out);
        char label[48];
        epoch_label(label, sizeof label, epoch, p->epochs);
        fprintf(p->out, "Epoch %s\n", label);
    }
    set_state(p, epoch, 0);
}

void progress_on_step(void *ctx, int epoch, int step, int steps, double loss, double accuracy,
                      double elapsed)
{
    progress *p = ctx;
    if (!p || !p->out || steps <= 0)
        return;
    if (step < 0)
        step = 0;
    if (step > steps)
        step = steps;
    if (state_epoch(p) != epoch || state_quarter(p) == EPOCH_CLOSED)
        start_epoch(p, epoch);
    p->last_draw = steps;

    elapsed = finite_or_zero(elapsed);
    double eta = step > 0 ? elapsed / step * (steps - step) : 0.0;

    if (p->interactive) {
        char eta_text[32];
        format_eta(eta_text, sizeof eta_text, eta);
        fputc('\r', p->out);
        print_bar(p->out, step, steps);
        fprintf(p->out, " - ETA: %s - loss: %.4f - accuracy: %.4f" REDRAW_SLACK, eta_text, loss,
                accuracy);
        fflush(p->out);
        return;
    }

    /* Logs are read after the fact: a line per quarter is enough to see a
     * run is alive without drowning CI output. The last quarter is left to
     * the epoch summary. */
    int quarter = (int)((long long)step * 4 / steps);
    if (quarter < 1 || quarter > 3 || quarter <= state_quarter(p))
        return;
    set_state(p, epoch, quarter);
    char label[48];
    epoch_label(label, sizeof label, epoch, p->epochs);
    fprintf(p->out, "epoch %s step %d/%d elapsed %.1fs eta %.1fs loss %.4f accuracy %.4f\n", label,
            step, steps, elapsed, eta, loss, accuracy);
    fflush(p->out);
}

void progress_on_epoch_end(void *ctx, const epoch_stats *stats)
{
    progress *p = ctx;
    if (!p || !p->out || !stats)
        return;
    int known = state_epoch(p) == stats->epoch && state_quarter(p) != EPOCH_CLOSED;
    int steps = known && p->last_draw >= 1 && p->last_draw < INT_MAX ? (int)p->last_draw : 0;
    double seconds = finite_or_zero(stats->seconds);
    char label[48], per_step[32];
    epoch_label(label, sizeof label, stats->epoch, p->epochs);
    format_per_step(per_step, sizeof per_step, steps ? seconds / steps : 0.0);

    if (p->interactive) {
        if (!known)
            fprintf(p->out, "Epoch %s\n", label);
        if (steps) {
            fputc('\r', p->out);
            print_bar(p->out, steps, steps);
            fprintf(p->out, " - %.0fs %s", seconds, per_step);
        } else {
            fprintf(p->out, "\r%.0fs", seconds);
        }
        fprintf(p->out, " - loss: %.4f - accuracy: %.4f", stats->loss, stats->accuracy);
        if (stats->has_validation)
            fprintf(p->out, " - val_loss: %.4f - val_accuracy: %.4f", stats->val_loss,
                    stats->val_accuracy);
        fputs(REDRAW_SLACK "\n", p->out);
    } else {
        fprintf(p->out, "epoch %s done in %.2fs", label, seconds);
        if (steps)
            fprintf(p->out, " (%s)", per_step);
        fprintf(p->out, " loss %.4f accuracy %.4f", stats->loss, stats->accuracy);
        if (stats->has_validation)
            fprintf(p->out, " val_loss %.4f val_accuracy %.4f", stats->val_loss,
                    stats->val_accuracy);
        fputc('\n', p->out);
    }
    fflush(p->out);
    set_state(p, stats->epoch, EPOCH_CLOSED);
    p->last_draw = 0.0;
}

/* ---- evaluation as text and JSON ------------------------------------------ */

static long long row_total(const eval_result *r, int t)
{
    long long sum = 0;
    for (int c = 0; c < 10; c++)
        sum += r->confusion[t][c];
    return sum;
}

static double overall_accuracy(const eval_result *r)
{
    return r->total > 0 ? (double)r->correct / r->total : 0.0;
}

void print_evaluation(FILE *out, const eval_result *r)
{
    if (!out || !r)
        return;
    if (r->total > 0)
        fprintf(out, "test accuracy: %.2f%% (%d/%d), loss %.4f\n", 100.0 * overall_accuracy(r),
                r->correct, r->total, r->loss);
    else
        fprintf(out, "test accuracy: n/a (0/0), loss n/a\n");

    fputs("\nper-class accuracy:\n", out);
    for (int t = 0; t < 10; t++) {
        long long n = row_total(r, t);
        if (n > 0)
            fprintf(out, "  %d: %6.2f%% (%d/%lld)\n", t, 100.0 * r->confusion[t][t] / (double)n,
                    r->confusion[t][t], n);
        else
            fprintf(out, "  %d:    n/a (0/0)\n", t);
    }

    int width = 4;
    for (int t = 0; t < 10; t++)
        for (int c = 0; c < 10; c++) {
            int v = r->confusion[t][c];
            int w = v < 0 ? 1 + decimal_digits(-(long)v) : decimal_digits(v);
            if (w > width)
                width = w;
        }
    fputs("\nconfusion matrix (rows: true digit, columns: predicted digit):\n", out);
    fprintf(out, "true\\pred");
    for (int c = 0; c < 10; c++)
        fprintf(out, " %*d", width, c);
    fputc('\n', out);
    for (int t = 0; t < 10; t++) {
        fprintf(out, "%9d", t);
        for (int c = 0; c < 10; c++)
            fprintf(out, " %*d", width, r->confusion[t][c]);
        fputc('\n', out);
    }
    fflush(out);
}

/* JSON has no NaN or infinity; null keeps the document parseable. */
static void json_number(FILE *out, double v)
{
    if (isfinite(v))
        fprintf(out, "%.6f", v);
    else
        fputs("null", out);
}

void print_evaluation_json(FILE *out, const eval_result *r)
{
    if (!out || !r)
        return;
    fputs("{\"test_accuracy\": ", out);
    json_number(out, overall_accuracy(r));
    fprintf(out, ", \"test_samples\": %d, \"correct\": %d, \"loss\": ", r->total, r->correct);
    json_number(out, r->loss);
    /* A class with no samples has no accuracy; null says so where 0 would
     * claim every sample was wrong. */
    fputs(", \"per_class_accuracy\": [", out);
    for (int t = 0; t < 10; t++) {
        long long n = row_total(r, t);
        if (t)
            fputs(", ", out);
        if (n > 0)
            json_number(out, (double)r->confusion[t][t] / (double)n);
        else
            fputs("null", out);
    }
    fputs("], \"confusion\": [", out);
    for (int t = 0; t < 10; t++) {
        fputs(t ? ", [" : "[", out);
        for (int c = 0; c < 10; c++)
            fprintf(out, c ? ", %d" : "%d", r->confusion[t][c]);
        fputc(']', out);
    }
    fputs("]}\n", out);
    fflush(out);
}

/* ---- history CSV ---------------------------------------------------------- */

static int write_history_rows(FILE *f, const epoch_stats *history, int n)
{
    if (fputs("epoch,seconds,loss,accuracy,val_loss,val_accuracy\n", f) == EOF)
        return -1;
    for (int i = 0; i < n; i++) {
        const epoch_stats *s = &history[i];
        if (fprintf(f, "%d,%.3f,%.6f,%.6f,", s->epoch, s->seconds, s->loss, s->accuracy) < 0)
            return -1;
        int rc = s->has_validation ? fprintf(f, "%.6f,%.6f\n", s->val_loss, s->val_accuracy)
                                   : fprintf(f, ",\n");
        if (rc < 0)
            return -1;
    }
    return 0;
}

int history_write_csv(const char *path, const epoch_stats *history, int n, char *err,
                      size_t err_len)
{
    if (!path || !*path || n < 0 || (n > 0 && !history)) {
        set_err(err, err_len, "history_write_csv: invalid arguments");
        return -1;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        set_err(err, err_len, "%s: out of memory", path);
        return -1;
    }
    int rc = write_history_rows(f, history, n);
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0) {
        set_err(err, err_len, "%s: out of memory", path);
        free(text);
        return -1;
    }
    rc = atomic_file_write(path, text, len);
    if (rc != 0)
        set_err(err, err_len, "cannot write %s: %s", path, strerror(errno));
    free(text);
    return rc;
}

/* ---- drawing primitives --------------------------------------------------- */

typedef struct {
    uint8_t r, g, b;
} color;

static const color WHITE = {255, 255, 255};
static const color INK = {34, 34, 34};
static const color AXIS = {90, 90, 90};
static const color GRID = {228, 228, 228};
static const color TRAIN_BLUE = {31, 119, 180};
static const color VAL_ORANGE = {255, 127, 14};

typedef struct {
    image img;
    /* Drawing is confined to [x0, x1) x [y0, y1): the plot area while data
     * is drawn, so nothing can spill over the axes and labels. */
    int x0, y0, x1, y1;
} canvas;

static void clip_all(canvas *c)
{
    c->x0 = c->y0 = 0;
    c->x1 = c->img.width;
    c->y1 = c->img.height;
}

static int canvas_init(canvas *c, int width, int height)
{
    if (image_alloc(&c->img, width, height, 3) != 0)
        return -1;
    memset(c->img.pixels, 255, (size_t)width * (size_t)height * 3);
    clip_all(c);
    return 0;
}

/* Blends col over the pixel with opacity a (0..1). */
static void blend(canvas *c, long x, long y, color col, double a)
{
    if (x < c->x0 || x >= c->x1 || y < c->y0 || y >= c->y1 || !(a > 0))
        return;
    if (a > 1)
        a = 1;
    uint8_t *px = c->img.pixels + ((size_t)y * (size_t)c->img.width + (size_t)x) * 3;
    px[0] = (uint8_t)lround(px[0] + (col.r - px[0]) * a);
    px[1] = (uint8_t)lround(px[1] + (col.g - px[1]) * a);
    px[2] = (uint8_t)lround(px[2] + (col.b - px[2]) * a);
}

static void fill_rect(canvas *c, int x, int y, int w, int h, color col)
{
    int xa = x > c->x0 ? x : c->x0, ya = y > c->y0 ? y : c->y0;
    int xb = x + w < c->x1 ? x + w : c->x1, yb = y + h < c->y1 ? y + h : c->y1;
    for (int yy = ya; yy < yb; yy++) {
        uint8_t *px = c->img.pixels + ((size_t)yy * (size_t)c->img.width + (size_t)xa) * 3;
        for (int xx = xa; xx < xb; xx++, px += 3) {
            px[0] = col.r;
            px[1] = col.g;
            px[2] = col.b;
        }
    }
}

static int text_width(const char *s, int scale)
{
    size_t n = strlen(s);
    return n ? (int)n * FONT5X7_ADVANCE * scale - scale : 0;
}

static int text_height(int scale)
{
    return FONT5X7_HEIGHT * scale;
}

/* (x, y) is the top-left corner of the text. */
static void draw_text(canvas *c, int x, int y, const char *s, int scale, color col)
{
    for (int i = 0; s[i]; i++) {
        const uint8_t *rows = font5x7_glyph((unsigned char)s[i]);
        int gx = x + i * FONT5X7_ADVANCE * scale;
        for (int row = 0; row < FONT5X7_HEIGHT; row++)
            for (int bit = 0; bit < FONT5X7_WIDTH; bit++)
                if (rows[row] >> (FONT5X7_WIDTH - 1 - bit) & 1)
                    fill_rect(c, gx + bit * scale, y + row * scale, scale, scale, col);
    }
}

/* Text turned 90 degrees anticlockwise, read bottom to top as axis titles
 * are; (x, y) is the bottom-left corner of the turned text. */
static void draw_text_up(canvas *c, int x, int y, const char *s, int scale, color col)
{
    for (int i = 0; s[i]; i++) {
        const uint8_t *rows = font5x7_glyph((unsigned char)s[i]);
        int u0 = i * FONT5X7_ADVANCE;
        for (int row = 0; row < FONT5X7_HEIGHT; row++)
            for (int bit = 0; bit < FONT5X7_WIDTH; bit++)
                if (rows[row] >> (FONT5X7_WIDTH - 1 - bit) & 1)
                    fill_rect(c, x + row * scale, y - (u0 + bit + 1) * scale + 1, scale, scale,
                              col);
    }
}

static void draw_text_centered(canvas *c, int cx, int y, const char *s, int scale, color col)
{
    draw_text(c, cx - text_width(s, scale) / 2, y, s, scale, col);
}

/* A line of the given width, anti-aliased the way Wu's algorithm is: walk the
 * major axis one pixel at a time and give each pixel across the line the
 * fraction of it that the line's cross-section covers. */
static void draw_line(canvas *c, double x0, double y0, double x1, double y1, double width,
                      color col)
{
    /* Callers map data into the canvas, but a bound here keeps a bad
     * coordinate from turning into a loop over billions of pixels. */
    const double lim = 1e5;
    if (!(fabs(x0) < lim && fabs(y0) < lim && fabs(x1) < lim && fabs(y1) < lim))
        return;
    int steep = fabs(y1 - y0) > fabs(x1 - x0);
    double t;
    if (steep) {
        t = x0, x0 = y0, y0 = t;
        t = x1, x1 = y1, y1 = t;
    }
    if (x0 > x1) {
        t = x0, x0 = x1, x1 = t;
        t = y0, y0 = y1, y1 = t;
    }
    double dx = x1 - x0;
    double g = dx > 0 ? (y1 - y0) / dx : 0.0;
    /* The cross-section along the minor axis is longer than the width by
     * 1/cos of the slope. */
    double half = 0.5 * width * sqrt(1.0 + g * g);
    for (long x = lround(x0); x <= lround(x1); x++) {
        double y = y0 + g * ((double)x - x0);
        long ya = lround(floor(y - half + 0.5)), yb = lround(floor(y + half + 0.5));
        for (long py = ya; py <= yb; py++) {
            double lo = fmax((double)py - 0.5, y - half), hi = fmin((double)py + 0.5, y + half);
            if (hi > lo) {
                if (steep)
                    blend(c, py, x, col, hi - lo);
                else
                    blend(c, x, py, col, hi - lo);
            }
        }
    }
}

static void draw_disc(canvas *c, double cx, double cy, double radius, color col)
{
    if (!(fabs(cx) < 1e5 && fabs(cy) < 1e5))
        return;
    long xa = lround(floor(cx - radius - 1)), xb = lround(ceil(cx + radius + 1));
    long ya = lround(floor(cy - radius - 1)), yb = lround(ceil(cy + radius + 1));
    for (long y = ya; y <= yb; y++)
        for (long x = xa; x <= xb; x++) {
            double d = hypot((double)x - cx, (double)y - cy);
            blend(c, x, y, col, radius + 0.5 - d);
        }
}

/* ---- learning curves ------------------------------------------------------ */

#define CURVES_WIDTH 800
#define CURVES_HEIGHT 400
#define LINE_WIDTH 2.0
#define MARKER_RADIUS 3.5
#define MAX_TICKS 40

typedef struct {
    double lo, hi, step;
} axis;

/* 1, 2 or 5 times a power of ten, close to span / target. */
static double nice_step(double span, int target)
{
    double raw = span / target;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    double nice = f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0;
    return nice * mag;
}

/* The nice step after step: 1 -> 2 -> 5 -> 10, at any power of ten. */
static double next_nice_step(double step)
{
    double mag = pow(10.0, floor(log10(step)));
    double f = step / mag;
    return (f < 1.5 ? 2.0 : f < 3.5 ? 5.0 : 10.0) * mag;
}

/* lo > hi (or NaN) means there is no data: show a neutral 0..1 axis. */
static axis axis_fit(double lo, double hi, int target, int integer)
{
    if (!(lo <= hi)) {
        lo = 0.0;
        hi = 1.0;
    }
    /* Finite values near DBL_MAX would make hi - lo overflow. */
    lo = fmax(lo, -1e300);
    hi = fmin(hi, 1e300);
    double span = hi - lo;
    if (span <= 1e-9 * fmax(fabs(lo), fabs(hi))) {
        /* A flat series (or one epoch) still needs a visible axis. */
        double d = integer ? 0.5 : lo != 0.0 ? fabs(lo) * 0.05 : 0.5;
        lo -= d;
        hi += d;
    } else {
        /* Like matplotlib: a margin so markers at the extremes stay whole. */
        lo -= span * 0.06;
        hi += span * 0.06;
    }
    double step = nice_step(hi - lo, target);
    if (integer && step < 1.0)
        step = 1.0;
    return (axis){lo, hi, step};
}

static int axis_ticks(const axis *a, double *ticks)
{
    int n = 0;
    double k0 = ceil(a->lo / a->step), k1 = floor(a->hi / a->step);
    for (double k = k0; k <= k1 && n < MAX_TICKS; k++) {
        double v = k * a->step;
        /* k * step can land a hair off zero and print as "-0.00". */
        ticks[n++] = fabs(v) < a->step * 1e-6 ? 0.0 : v;
    }
    return n;
}

static void format_tick(char *buf, size_t len, double v, double step)
{
    int decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 6 || fabs(v) >= 1e6)
        snprintf(buf, len, "%.3g", v);
    else
        snprintf(buf, len, "%.*f", decimals, v);
}

typedef struct {
    int left, top, right, bottom; /* plot area, inclusive pixel bounds */
    axis x, y;
} frame;

static double map_x(const frame *f, double v)
{
    return f->left + (v - f->x.lo) / (f->x.hi - f->x.lo) * (f->right - f->left);
}

static double map_y(const frame *f, double v)
{
    return f->bottom - (v - f->y.lo) / (f->y.hi - f->y.lo) * (f->bottom - f->top);
}

static void data_range(const double *v, int n, double *lo, double *hi)
{
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            if (v[i] < *lo)
                *lo = v[i];
            if (v[i] > *hi)
                *hi = v[i];
        }
}

/* Non-finite values leave a gap: the line stops and resumes at the next
 * finite point, so one bad epoch does not hide the others. */
static void draw_series(canvas *c, const frame *f, const double *xs, const double *ys, int n,
                        color col)
{
    for (int i = 1; i < n; i++)
        if (isfinite(ys[i - 1]) && isfinite(ys[i]))
            draw_line(c, map_x(f, xs[i - 1]), map_y(f, ys[i - 1]), map_x(f, xs[i]),
                      map_y(f, ys[i]), LINE_WIDTH, col);
    for (int i = 0; i < n; i++)
        if (isfinite(ys[i]))
            draw_disc(c, map_x(f, xs[i]), map_y(f, ys[i]), MARKER_RADIUS, col);
}

static void draw_legend_entry(canvas *c, int x, int y, const char *label, color col)
{
    int mid = y + text_height(2) / 2;
    draw_line(c, x, mid, x + 24, mid, LINE_WIDTH, col);
    draw_disc(c, x + 12, mid, MARKER_RADIUS, col);
    draw_text(c, x + 32, y, label, 2, INK);
}

static int legend_entry_width(const char *label)
{
    return 32 + text_width(label, 2);
}

/* One chart in the horizontal band [left, left + width). */
static void draw_panel(canvas *c, int left, int width, const char *title, const double *xs,
                       const double *train, const double *val, int n)
{
    int height = c->img.height;
    draw_text_centered(c, left + width / 2, 12, title, 2, INK);

    const char *train_label = "TRAIN", *val_label = "VALIDATION";
    int legend_w = legend_entry_width(train_label) + (val ? 24 + legend_entry_width(val_label) : 0);
    int lx = left + (width - legend_w) / 2;
    draw_legend_entry(c, lx, 38, train_label, TRAIN_BLUE);
    if (val)
        draw_legend_entry(c, lx + legend_entry_width(train_label) + 24, 38, val_label,
                          VAL_ORANGE);

    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    data_range(xs, n, &xlo, &xhi);
    data_range(train, n, &ylo, &yhi);
    if (val)
        data_range(val, n, &ylo, &yhi);

    frame f;
    f.x = axis_fit(xlo, xhi, 8, 1);
    f.y = axis_fit(ylo, yhi, 6, 0);
    double yt[MAX_TICKS], xt[MAX_TICKS];
    int nyt = axis_ticks(&f.y, yt), nxt = axis_ticks(&f.x, xt);
    char labels[MAX_TICKS][32];
    int label_w = 0;
    for (int i = 0; i < nyt; i++) {
        format_tick(labels[i], sizeof labels[i], yt[i], f.y.step);
        int w = text_width(labels[i], 2);
        if (w > label_w)
            label_w = w;
    }
    f.left = left + 16 + label_w + 10;
    f.right = left + width - 20;
    f.top = 66;
    f.bottom = height - 52;
    if (f.left > f.right - 40)
        f.left = f.right - 40; /* absurdly wide labels: keep some plot area */
    /* Fewer epoch ticks when their numbers would run into each other (from
     * about 100 epochs, "100120140"). */
    for (int tries = 0; tries < 30 && nxt > 1; tries++) {
        int widest = 0;
        for (int i = 0; i < nxt; i++) {
            char label[32];
            format_tick(label, sizeof label, xt[i], f.x.step);
            int w = text_width(label, 2);
            if (w > widest)
                widest = w;
        }
        if ((nxt - 1) * (widest + 16) <= f.right - f.left)
            break;
        f.x.step = next_nice_step(f.x.step);
        nxt = axis_ticks(&f.x, xt);
    }

    for (int i = 0; i < nyt; i++) {
        int y = (int)lround(map_y(&f, yt[i]));
        fill_rect(c, f.left, y, f.right - f.left + 1, 1, GRID);
        fill_rect(c, f.left - 5, y, 5, 1, AXIS);
        draw_text(c, f.left - 9 - text_width(labels[i], 2), y - text_height(2) / 2, labels[i], 2,
                  INK);
    }
    for (int i = 0; i < nxt; i++) {
        int x = (int)lround(map_x(&f, xt[i]));
        char label[32];
        format_tick(label, sizeof label, xt[i], f.x.step);
        fill_rect(c, x, f.top, 1, f.bottom - f.top + 1, GRID);
        fill_rect(c, x, f.bottom + 1, 1, 5, AXIS);
        draw_text_centered(c, x, f.bottom + 10, label, 2, INK);
    }
    draw_text_centered(c, (f.left + f.right) / 2, f.bottom + 30, "EPOCH", 2, INK);

    fill_rect(c, f.left, f.top, f.right - f.left + 1, 1, AXIS);
    fill_rect(c, f.left, f.bottom, f.right - f.left + 1, 1, AXIS);
    fill_rect(c, f.left, f.top, 1, f.bottom - f.top + 1, AXIS);
    fill_rect(c, f.right, f.top, 1, f.bottom - f.top + 1, AXIS);

    if (!(ylo <= yhi)) {
        draw_text_centered(c, (f.left + f.right) / 2, (f.top + f.bottom) / 2 - text_height(2) / 2,
                           "NO DATA", 2, AXIS);
        return;
    }
    c->x0 = f.left + 1;
    c->y0 = f.top + 1;
    c->x1 = f.right;
    c->y1 = f.bottom;
    if (val)
        draw_series(c, &f, xs, val, n, VAL_ORANGE);
    draw_series(c, &f, xs, train, n, TRAIN_BLUE);
    clip_all(c);
}

int plot_learning_curves(const char *path, const epoch_stats *history, int n, char *err,
                         size_t err_len)
{
    if (!path || !*path || n < 0 || (n > 0 && !history)) {
        set_err(err, err_len, "plot_learning_curves: invalid arguments");
        return -1;
    }
    size_t count = n > 0 ? (size_t)n : 1;
    double *buf = malloc(5 * count * sizeof *buf);
    if (!buf) {
        set_err(err, err_len, "%s: out of memory", path);
        return -1;
    }
    double *xs = buf, *loss = buf + count, *acc = buf + 2 * count;
    double *val_loss = buf + 3 * count, *val_acc = buf + 4 * count;
    int any_val = 0;
    for (int i = 0; i < n; i++) {
        const epoch_stats *s = &history[i];
        xs[i] = s->epoch > 0 ? s->epoch : i + 1;
        loss[i] = s->loss;
        acc[i] = s->accuracy;
        val_loss[i] = s->has_validation ? s->val_loss : NAN;
        val_acc[i] = s->has_validation ? s->val_accuracy : NAN;
        any_val |= s->has_validation != 0;
    }

    canvas c;
    if (canvas_init(&c, CURVES_WIDTH, CURVES_HEIGHT) != 0) {
        free(buf);
        set_err(err, err_len, "%s: out of memory", path);
        return -1;
    }
    draw_panel(&c, 0, CURVES_WIDTH / 2, "LOSS", xs, loss, any_val ? val_loss : NULL, n);
    draw_panel(&c, CURVES_WIDTH / 2, CURVES_WIDTH / 2, "ACCURACY", xs, acc,
               any_val ? val_acc : NULL, n);
    free(buf);

    png_io_status st = png_write_file(path, &c.img);
    int why = errno;
    image_free(&c.img);
    if (st != PNG_IO_OK) {
        set_err(err, err_len, "cannot write %s: %s", path,
                st == PNG_IO_WRITE_FAILED ? strerror(why) : png_io_status_text(st));
        return -1;
    }
    return 0;
}

/* ---- confusion matrix ----------------------------------------------------- */

#define CM_CELL 52
#define CM_GRID_X 84
#define CM_GRID_Y 96
#define CM_GRID (10 * CM_CELL)
#define CM_BAR_X (CM_GRID_X + CM_GRID + 22)
#define CM_BAR_W 18
#define CM_WIDTH (CM_BAR_X + CM_BAR_W + 66)
#define CM_HEIGHT (CM_GRID_Y + CM_GRID + 28)

void confusion_cell_rect(int true_digit, int predicted, int *x, int *y, int *w, int *h)
{
    /* The last pixel row and column of each cell stay white: a hairline
     * that separates neighbouring cells of similar colour. */
    if (x)
        *x = CM_GRID_X + predicted * CM_CELL;
    if (y)
        *y = CM_GRID_Y + true_digit * CM_CELL;
    if (w)
        *w = CM_CELL - 1;
    if (h)
        *h = CM_CELL - 1;
}

/* White to dark blue (the stops of matplotlib's "Blues"): luminance falls
 * monotonically, so a darker cell always means a larger fraction. */
static color heat_color(double t)
{
    static const color stops[] = {
        {255, 255, 255}, {222, 235, 247}, {198, 219, 239}, {158, 202, 225}, {107, 174, 214},
        {66, 146, 198},  {33, 113, 181},  {8, 81, 156},    {8, 48, 107},
    };
    const int last = (int)(sizeof stops / sizeof stops[0]) - 1;
    if (!(t > 0))
        t = 0;
    if (t > 1)
        t = 1;
    double pos = t * last;
    int i = (int)pos;
    if (i >= last)
        return stops[last];
    double f = pos - i;
    return (color){(uint8_t)lround(stops[i].r + (stops[i + 1].r - stops[i].r) * f),
                   (uint8_t)lround(stops[i].g + (stops[i + 1].g - stops[i].g) * f),
                   (uint8_t)lround(stops[i].b + (stops[i + 1].b - stops[i].b) * f)};
}

static double luminance(color c)
{
    return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
}

static void draw_colour_bar(canvas *c)
{
    for (int y = 0; y < CM_GRID; y++)
        fill_rect(c, CM_BAR_X, CM_GRID_Y + y, CM_BAR_W, 1,
                  heat_color(1.0 - (double)y / (CM_GRID - 1)));
    fill_rect(c, CM_BAR_X - 1, CM_GRID_Y - 1, CM_BAR_W + 2, 1, AXIS);
    fill_rect(c, CM_BAR_X - 1, CM_GRID_Y + CM_GRID, CM_BAR_W + 2, 1, AXIS);
    fill_rect(c, CM_BAR_X - 1, CM_GRID_Y - 1, 1, CM_GRID + 2, AXIS);
    fill_rect(c, CM_BAR_X + CM_BAR_W, CM_GRID_Y - 1, 1, CM_GRID + 2, AXIS);
    static const char *labels[] = {"100%", "50%", "0%"};
    for (int i = 0; i < 3; i++) {
        int y = CM_GRID_Y + i * (CM_GRID - 1) / 2;
        fill_rect(c, CM_BAR_X + CM_BAR_W, y, 4, 1, AXIS);
        draw_text(c, CM_BAR_X + CM_BAR_W + 7, y - text_height(2) / 2, labels[i], 2, INK);
    }
}

int plot_confusion_matrix(const char *path, const eval_result *r, char *err, size_t err_len)
{
    if (!path || !*path || !r) {
        set_err(err, err_len, "plot_confusion_matrix: invalid arguments");
        return -1;
    }
    canvas c;
    if (canvas_init(&c, CM_WIDTH, CM_HEIGHT) != 0) {
        set_err(err, err_len, "%s: out of memory", path);
        return -1;
    }

    char title[96];
    if (r->total > 0)
        snprintf(title, sizeof title, "CONFUSION MATRIX - ACCURACY %.2f%%",
                 100.0 * overall_accuracy(r));
    else
        snprintf(title, sizeof title, "CONFUSION MATRIX - NO TEST SAMPLES");
    draw_text_centered(&c, CM_WIDTH / 2, 14, title, 2, INK);
    draw_text_centered(&c, CM_GRID_X + CM_GRID / 2, 44, "PREDICTED", 2, INK);
    draw_text_up(&c, 36, CM_GRID_Y + CM_GRID / 2 + text_width("TRUE", 2) / 2, "TRUE", 2, INK);

    /* One text size for every count, the largest that fits the widest. */
    int widest = 1;
    for (int t = 0; t < 10; t++)
        for (int p = 0; p < 10; p++) {
            char num[16];
            int len = snprintf(num, sizeof num, "%d", r->confusion[t][p]);
            if (len > widest)
                widest = len;
        }
    int scale = widest * FONT5X7_ADVANCE * 2 - 2 <= CM_CELL - 6 ? 2 : 1;

    for (int i = 0; i < 10; i++) {
        char digit[2] = {(char)('0' + i), '\0'};
        draw_text_centered(&c, CM_GRID_X + i * CM_CELL + CM_CELL / 2, 70, digit, 2, INK);
        draw_text(&c, CM_GRID_X - 12 - text_width(digit, 2),
                  CM_GRID_Y + i * CM_CELL + (CM_CELL - text_height(2)) / 2, digit, 2, INK);
    }

    for (int t = 0; t < 10; t++) {
        long long total = 0;
        for (int p = 0; p < 10; p++)
            total += r->confusion[t][p] > 0 ? r->confusion[t][p] : 0;
        for (int p = 0; p < 10; p++) {
            int count = r->confusion[t][p];
            double frac = total > 0 && count > 0 ? (double)count / (double)total : 0.0;
            color fill = heat_color(frac);
            int x, y, w, h;
            confusion_cell_rect(t, p, &x, &y, &w, &h);
            fill_rect(&c, x, y, w, h, fill);
            char num[16];
            snprintf(num, sizeof num, "%d", count);
            /* Zeros are most of the matrix: grey keeps them from competing
             * with the errors that matter. */
            color ink = count == 0                ? (color){175, 175, 175}
                        : luminance(fill) < 128.0 ? WHITE
                                                  : INK;
            draw_text_centered(&c, x + w / 2, y + (h - text_height(scale)) / 2, num, scale, ink);
        }
    }
    fill_rect(&c, CM_GRID_X - 1, CM_GRID_Y - 1, CM_GRID + 1, 1, AXIS);
    fill_rect(&c, CM_GRID_X - 1, CM_GRID_Y + CM_GRID - 1, CM_GRID + 1, 1, AXIS);
    fill_rect(&c, CM_GRID_X - 1, CM_GRID_Y - 1, 1, CM_GRID + 1, AXIS);
    fill_rect(&c, CM_GRID_X + CM_GRID - 1, CM_GRID_Y - 1, 1, CM_GRID + 1, AXIS);
    draw_colour_bar(&c);

    png_io_status st = png_write_file(path, &c.img);
    int why = errno;
    image_free(&c.img);
    if (st != PNG_IO_OK) {
        set_err(err, err_len, "cannot write %s: %s", path,
                st == PNG_IO_WRITE_FAILED ? strerror(why) : png_io_status_text(st));
        return -1;
    }
    return 0;
}
