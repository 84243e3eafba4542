/* predict.c -- "digits-trainer predict": classify PNG files offline.
 *
 * The question this command answers is "what would the service say about
 * these pictures, and how often is it right on real handwriting?", without
 * starting a server. So the default pipeline is, step for step, the one
 * behind POST /predict (bounded read, png_decode with the server's
 * default pixel limit, preprocess_to_mnist, mlp_predict). The `naive`
 * pipeline reproduces what the seed tutorial did to uploads (luma ignoring
 * alpha, squash the whole picture to 28x28, no inversion, no centring) so
 * that benchmarks can show what the preprocessing is worth.
 *
 * With --labels the inputs come from a labels.csv (file,label,source,...)
 * and the output is accuracy per source, the measure the real-handwriting
 * floors in tests/realworld-floors.txt are checked against.
 *
 * Every input is untrusted: files are read with a size bound, PNGs decoded
 * under a pixel limit, and the CSV parsed with bounded lines, fields and
 * counts. One bad image never stops a run; it is reported and counted.
 * Images are classified by a pool of threads (the model is read-only);
 * results are stored by index and printed afterwards, so the output order
 * and content do not depend on the thread count.
 */
#include "predict.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flags.h"
#include "heap_policy.h"
#include "idx.h"
#include "image.h"
#include "mlp.h"
#include "model.h"
#include "png_io.h"
#include "pool.h"
#include "preprocess.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* The pixel limit is the server's default: a bigger picture would be
 * refused there, so measuring it here would describe a service that does
 * not exist. The file limit is looser than the server's 4 MiB upload
 * default, so that a big scan can still be looked at with --dump. */
#define MAX_IMAGE_BYTES ((size_t)16 * 1024 * 1024)
#define MAX_IMAGE_PIXELS ((uint64_t)4096 * 4096)

/* labels.csv bounds: generous for any real set, small enough that a hostile
 * or corrupt file cannot make us allocate without limit. */
#define MAX_CSV_BYTES ((size_t)64 * 1024 * 1024)
#define MAX_CSV_LINE 4096
#define MAX_CSV_ROWS 200000
#define MAX_SOURCES 64
#define MAX_SOURCE_NAME 63
#define MAX_PATH_LEN 4096

static const char usage_predict[] =
    "usage: digits-trainer predict [--model FILE] [FLAGS] IMAGE.png...\n"
    "       digits-trainer predict [--model FILE] --labels CSV [FLAGS]\n"
    "\n"
    "Classifies PNG files exactly as digits-server's POST /predict does and prints\n"
    "'path digit confidence' per image ('path error REASON' when it cannot).\n"
    "\n"
    "  --model FILE        the model (default models/mnist-mlp.bin)\n"
    "  --pipeline P        mnist: the server's preprocessing (default); naive: the\n"
    "                      seed tutorial's (grey ignoring alpha, whole picture\n"
    "                      squashed to 28x28, no inversion, no centring)\n"
    "  --labels CSV        classify every image listed in CSV (header file,label,source,\n"
    "                      more columns ignored; paths relative to the CSV's folder)\n"
    "                      and print accuracy per source and overall; images that\n"
    "                      cannot be classified count as wrong ('failed' column)\n"
    "  --json              JSON: an array of per-image objects, or with --labels\n"
    "                      {\"sources\": {NAME: {n, correct, failed, accuracy}}, \"overall\": ..}\n"
    "                      with accuracy a fraction 0..1\n"
    "  --dump DIR          write the 28x28 picture the network saw as DIR/NAME.png\n"
    "                      (NAME: the input's file name without extension; inputs\n"
    "                      with the same file name share one dump); DIR must be new,\n"
    "                      empty or an earlier dump's, and hold none of the inputs\n"
    "  --weights W         auto (default, as digits-server: int8 with AVX512-VNNI,\n"
    "                      else bf16 with AVX512-BF16, else f32), int8, bf16 or\n"
    "                      f32: how the forward pass holds the weights\n"
    "  --faint             read ink down to 12 grey levels above the paper, as\n"
    "                      POST /predict?faint=1 does (by default ink under 40\n"
    "                      levels is refused: 'only faint ink found')\n"
    "  --misses            with --labels, list wrong answers on stderr\n"
    "  --threads N         threads (default: all CPUs)\n"
    "\n"
    "Exit status: 0 when every image was classified (with --labels: every image\n"
    "could be read and decoded), 1 otherwise, 2 on a usage error.\n";

typedef enum { PIPELINE_MNIST, PIPELINE_NAIVE } pipeline_kind;

typedef struct {
    const char *model_path, *labels_path, *dump_dir;
    pipeline_kind pipeline;
    mlp_weights_format weights;
    int json, misses, threads, read_faint;
    const char **images;           /* the file arguments (malloc'd array) */
    int n_images;
} predict_options;

/* One input and what became of it. */
typedef enum {
    ITEM_OK = 0,
    ITEM_READ_FAILED,      /* missing, unreadable, too large */
    ITEM_BAD_PNG,          /* not a PNG, corrupt, too many pixels */
    ITEM_NOT_CLASSIFIED,   /* decoded, but no digit (blank) or the model failed */
} item_status;

typedef struct {
    char *path;            /* owned */
    const char *shown;     /* the name to print: as given, or as in the CSV */
    int label;             /* 0..9, or -1 without --labels */
    int source;            /* index into the source table, or -1 */
    /* results */
    item_status status;
    char reason[192];
    int digit;
    float confidence;
    float probs[10];
    int inverted;
    int box_x, box_y, box_w, box_h;
} item;

typedef struct {
    char name[MAX_SOURCE_NAME + 1];
    long n, correct, failed;
} source_stats;

typedef struct {
    item *items;
    int n_items;
    char *csv_text;        /* owns the CSV-relative names items[i].shown point into */
    source_stats sources[MAX_SOURCES];
    int n_sources;
} item_list;

/* ---- flags --------------------------------------------------------------- */

/* Returns 0 to run, 1 when --help was printed, -1 on a usage error. */
static int parse_predict_flags(int argc, char **argv, predict_options *o)
{
    memset(o, 0, sizeof *o);
    o->model_path = "models/mnist-mlp.bin";
    o->pipeline = PIPELINE_MNIST;
    o->weights = MLP_WEIGHTS_AUTO;
    o->threads = pool_available_cpus();
    o->images = malloc(((size_t)argc + 1) * sizeof *o->images);
    if (!o->images) {
        fprintf(stderr, "digits-trainer: out of memory\n");
        return -1;
    }
    int only_files = 0;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        if (only_files || arg[0] != '-' || strcmp(arg, "-") == 0) {
            /* Flags may follow the file names, as with most tools. */
            o->images[o->n_images++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_files = 1;
            continue;
        }
        int rc = 1, misused = 0;
        if (flag_match(argc, argv, &i, "--help", NULL, &misused)) {
            fputs(usage_predict, stdout);
            return 1;
        }
        if (flag_match(argc, argv, &i, "--model", &v, &misused)) o->model_path = v;
        else if (flag_match(argc, argv, &i, "--labels", &v, &misused)) o->labels_path = v;
        else if (flag_match(argc, argv, &i, "--dump", &v, &misused)) o->dump_dir = v;
        else if (flag_match(argc, argv, &i, "--json", NULL, &misused)) o->json = 1;
        else if (flag_match(argc, argv, &i, "--misses", NULL, &misused)) o->misses = 1;
        else if (flag_match(argc, argv, &i, "--faint", NULL, &misused)) o->read_faint = 1;
        else if (flag_match(argc, argv, &i, "--threads", &v, &misused))
            rc = flag_parse_int("--threads", v, 1, 256, &o->threads) ? -1 : 1;
        else if (flag_match(argc, argv, &i, "--weights", &v, &misused)) {
            if (mlp_weights_format_from_name(v, &o->weights) != 0) {
                fprintf(stderr, "digits-trainer: --weights '%s': use auto, int8, bf16 or f32\n", v);
                return -1;
            }
        } else if (flag_match(argc, argv, &i, "--pipeline", &v, &misused)) {
            if (strcmp(v, "mnist") == 0)
                o->pipeline = PIPELINE_MNIST;
            else if (strcmp(v, "naive") == 0)
                o->pipeline = PIPELINE_NAIVE;
            else {
                fprintf(stderr, "digits-trainer: --pipeline '%s': use mnist or naive\n", v);
                return -1;
            }
        } else {
            if (!misused)
                fprintf(stderr, "digits-trainer predict: unknown flag '%s' (see --help)\n", arg);
            return -1;
        }
        if (rc < 0)
            return -1;
    }
    if (o->labels_path && o->n_images > 0) {
        fprintf(stderr, "digits-trainer predict: give either --labels CSV or image files, "
                        "not both\n");
        return -1;
    }
    if (o->read_faint && o->pipeline == PIPELINE_NAIVE) {
        fprintf(stderr, "digits-trainer predict: --faint is part of the mnist pipeline; "
                        "the naive one reads every picture as it is\n");
        return -1;
    }
    if (!o->labels_path && o->n_images == 0) {
        fprintf(stderr, "digits-trainer predict: no images given (see --help)\n");
        return -1;
    }
    if (o->dump_dir && o->dump_dir[0] == '\0') {
        fprintf(stderr, "digits-trainer: --dump needs a directory\n");
        return -1;
    }
    return 0;
}

/* ---- the inputs ---------------------------------------------------------- */

static void item_list_free(item_list *l)
{
    for (int i = 0; i < l->n_items; i++)
        free(l->items[i].path);
    free(l->items);
    free(l->csv_text);
    memset(l, 0, sizeof *l);
}

static int items_from_args(const predict_options *o, item_list *l)
{
    memset(l, 0, sizeof *l);
    l->items = calloc((size_t)o->n_images, sizeof *l->items);
    if (!l->items)
        return -1;
    for (int i = 0; i < o->n_images; i++) {
        const char *arg = o->images[i];
        item *it = &l->items[i];
        it->path = strdup(arg);
        if (!it->path) {
            l->n_items = i;
            return -1;
        }
        it->shown = it->path;
        it->label = -1;
        it->source = -1;
        l->n_items = i + 1;
    }
    return 0;
}

/* Splits a CSV line in place at commas into at most max fields. Returns the
 * number of fields (max + 1 when there are more than max). */
static int split_fields(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        if (n < max)
            fields[n] = p;
        n++;
        if (!comma || n > max)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    return n > max ? max + 1 : n;
}

static int printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static int find_or_add_source(item_list *l, const char *name)
{
    for (int s = 0; s < l->n_sources; s++)
        if (strcmp(l->sources[s].name, name) == 0)
            return s;
    if (l->n_sources >= MAX_SOURCES)
        return -1;
    source_stats *st = &l->sources[l->n_sources];
    memset(st, 0, sizeof *st);
    snprintf(st->name, sizeof st->name, "%s", name);
    return l->n_sources++;
}

/* The folder part of a path, "." when there is none. */
static void folder_of(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, len, ".");
    else if (slash == path)
        snprintf(out, len, "/");
    else
        snprintf(out, len, "%.*s", (int)(slash - path), path);
}

/* One data row of labels.csv into l->items[l->n_items]. Returns 0, or -1
 * with a message in err. */
static int add_csv_row(item_list *l, const char *folder, char *line, char *err, size_t err_len)
{
    char *f[4];
    int nf = split_fields(line, f, 3);
    if (nf < 3) {
        snprintf(err, err_len, "want at least 3 fields (file,label,source), found %d", nf);
        return -1;
    }
    const char *file = f[0], *label = f[1], *source = f[2];
    if (file[0] == '"' || label[0] == '"' || source[0] == '"') {
        snprintf(err, err_len, "quoted fields are not supported");
        return -1;
    }
    if (file[0] == '\0' || file[0] == '/') {
        snprintf(err, err_len, "file '%s' must be a path relative to the CSV's folder", file);
        return -1;
    }
    if (!printable_ascii(source) || source[0] == '\0' || strlen(source) > MAX_SOURCE_NAME) {
        snprintf(err, err_len, "source must be 1..%d printable ASCII characters",
                 MAX_SOURCE_NAME);
        return -1;
    }
    if (!(label[0] >= '0' && label[0] <= '9' && label[1] == '\0')) {
        snprintf(err, err_len, "label '%.20s' is not a digit 0..9", label);
        return -1;
    }
    size_t folder_len = strlen(folder), file_len = strlen(file);
    size_t need = folder_len + 1 + file_len + 1;
    if (need > MAX_PATH_LEN) {
        snprintf(err, err_len, "path too long");
        return -1;
    }
    int s = find_or_add_source(l, source);
    if (s < 0) {
        snprintf(err, err_len, "more than %d sources", MAX_SOURCES);
        return -1;
    }
    item *it = &l->items[l->n_items];
    memset(it, 0, sizeof *it);
    it->path = malloc(need);
    if (!it->path) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    memcpy(it->path, folder, folder_len);
    it->path[folder_len] = '/';
    memcpy(it->path + folder_len + 1, file, file_len + 1);
    it->shown = file;     /* points into l->csv_text, which stays alive */
    it->label = label[0] - '0';
    it->source = s;
    l->n_items++;
    return 0;
}

static int items_from_csv(const char *csv_path, item_list *l)
{
    memset(l, 0, sizeof *l);
    char err[512];
    uint8_t *data;
    size_t len;
    if (read_file_bounded(csv_path, MAX_CSV_BYTES, &data, &len, err, sizeof err) != 0) {
        fprintf(stderr, "digits-trainer: --labels: %s\n", err);
        return -1;
    }
    /* NUL-terminate a copy the lines can be cut out of in place. */
    l->csv_text = malloc(len + 1);
    if (!l->csv_text) {
        free(data);
        fprintf(stderr, "digits-trainer: --labels: out of memory\n");
        return -1;
    }
    memcpy(l->csv_text, data, len);
    l->csv_text[len] = '\0';
    free(data);
    if (memchr(l->csv_text, '\0', len)) {
        fprintf(stderr, "digits-trainer: --labels: %s is not a text file (NUL byte)\n", csv_path);
        return -1;
    }

    size_t lines = len > 0 && l->csv_text[len - 1] != '\n';   /* a last line without \n */
    for (size_t i = 0; i < len; i++)
        lines += l->csv_text[i] == '\n';
    if (lines > (size_t)MAX_CSV_ROWS + 1) {
        fprintf(stderr, "digits-trainer: --labels: %s has more than %d rows\n", csv_path,
                MAX_CSV_ROWS);
        return -1;
    }
    l->items = calloc(lines ? lines : 1, sizeof *l->items);
    if (!l->items) {
        fprintf(stderr, "digits-trainer: --labels: out of memory\n");
        return -1;
    }
    char folder[MAX_PATH_LEN];
    folder_of(csv_path, folder, sizeof folder);

    char *p = l->csv_text;
    int line_no = 0, header_seen = 0;
    while (*p) {
        char *nl = strchr(p, '\n');
        char *next = nl ? nl + 1 : p + strlen(p);
        if (nl)
            *nl = '\0';
        line_no++;
        size_t n = strlen(p);
        if (n > 0 && p[n - 1] == '\r')
            p[--n] = '\0';
        if (n > MAX_CSV_LINE) {
            fprintf(stderr, "digits-trainer: --labels: %s:%d: line longer than %d bytes\n",
                    csv_path, line_no, MAX_CSV_LINE);
            return -1;
        }
        if (!header_seen) {
            /* A UTF-8 byte-order mark is what spreadsheets put there. */
            if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
                (unsigned char)p[2] == 0xbf)
                p += 3;
            if (strncmp(p, "file,label,source", 17) != 0 || (p[17] != '\0' && p[17] != ',')) {
                fprintf(stderr, "digits-trainer: --labels: %s:%d: the header must start "
                                "with file,label,source\n", csv_path, line_no);
                return -1;
            }
            header_seen = 1;
        } else if (n > 0) {
            char why[256];
            if (add_csv_row(l, folder, p, why, sizeof why) != 0) {
                fprintf(stderr, "digits-trainer: --labels: %s:%d: %s\n", csv_path, line_no, why);
                return -1;
            }
        }
        p = next;
    }
    if (!header_seen || l->n_items == 0) {
        fprintf(stderr, "digits-trainer: --labels: %s lists no images\n", csv_path);
        return -1;
    }
    return 0;
}

/* ---- classification ------------------------------------------------------ */

static uint8_t luma8(const uint8_t *p)
{
    return (uint8_t)((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
}

/* The seed tutorial's input handling, reproduced on purpose: alpha is
 * dropped (a transparent canvas becomes black), the whole picture is
 * squashed to 28x28 by plain bilinear sampling (no anti-aliasing, so thin
 * strokes can fall between samples), and nothing is inverted or centred. */
static void naive_to_28(const image *rgba, uint8_t out[MNIST_PIXELS])
{
    int w = rgba->width, h = rgba->height;
    for (int oy = 0; oy < MNIST_SIDE; oy++) {
        double sy = ((double)oy + 0.5) * h / MNIST_SIDE - 0.5;
        sy = sy < 0 ? 0 : (sy > h - 1 ? h - 1 : sy);
        int y0 = (int)sy, y1 = y0 + 1 < h ? y0 + 1 : y0;
        double fy = sy - y0;
        for (int ox = 0; ox < MNIST_SIDE; ox++) {
            double sx = ((double)ox + 0.5) * w / MNIST_SIDE - 0.5;
            sx = sx < 0 ? 0 : (sx > w - 1 ? w - 1 : sx);
            int x0 = (int)sx, x1 = x0 + 1 < w ? x0 + 1 : x0;
            double fx = sx - x0;
            const uint8_t *row0 = rgba->pixels + (size_t)y0 * (size_t)w * 4;
            const uint8_t *row1 = rgba->pixels + (size_t)y1 * (size_t)w * 4;
            double top = (1 - fx) * luma8(row0 + (size_t)x0 * 4) +
                         fx * luma8(row0 + (size_t)x1 * 4);
            double bot = (1 - fx) * luma8(row1 + (size_t)x0 * 4) +
                         fx * luma8(row1 + (size_t)x1 * 4);
            double v = (1 - fy) * top + fy * bot;
            out[oy * MNIST_SIDE + ox] = (uint8_t)lround(v < 0 ? 0 : (v > 255 ? 255 : v));
        }
    }
}

typedef struct {
    const model *m;
    mlp_weights weights;
    pipeline_kind pipeline;
    preprocess_options preprocess;   /* the model's own, as the server uses */
    item *items;
    int n_items;
    uint8_t *inputs;       /* n_items * 784 when dumping, else NULL */
    float *scratch;        /* n_threads * scratch_floats */
    size_t scratch_floats;
    atomic_int next;
} run_ctx;

static void classify_one(run_ctx *ctx, item *it, uint8_t *input, float *scratch)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char why[160] = "";
    if (read_file_bounded(it->path, MAX_IMAGE_BYTES, &data, &len, why, sizeof why) != 0) {
        it->status = ITEM_READ_FAILED;
        /* The reader names the file; the output line already does. */
        size_t n = strlen(it->path);
        const char *text = strncmp(why, it->path, n) == 0 && why[n] == ':' ? why + n + 1 : why;
        snprintf(it->reason, sizeof it->reason, "%s", text + (text[0] == ' '));
        return;
    }
    /* The naive pipeline reads RGBA; the server's takes the file's channels. */
    image img;
    png_io_status ps = ctx->pipeline == PIPELINE_NAIVE
                           ? png_decode_rgba(data, len, MAX_IMAGE_PIXELS, &img, why, sizeof why)
                           : png_decode(data, len, MAX_IMAGE_PIXELS, &img, why, sizeof why);
    bool other = ps == PNG_IO_NOT_PNG &&
                 png_describe_other_format(data, len, it->reason, sizeof it->reason);
    free(data);
    if (ps != PNG_IO_OK) {
        it->status = ps == PNG_IO_NO_MEMORY ? ITEM_NOT_CLASSIFIED : ITEM_BAD_PNG;
        if (!other)
            snprintf(it->reason, sizeof it->reason, "%s%s%s", png_io_status_text(ps),
                     why[0] ? ": " : "", why);
        return;
    }
    if (ctx->pipeline == PIPELINE_NAIVE) {
        naive_to_28(&img, input);
        it->inverted = 0;
        it->box_x = it->box_y = 0;
        it->box_w = img.width;
        it->box_h = img.height;
    } else {
        preprocess_info info;
        preprocess_status pp = preprocess_to_mnist_with(&img, &ctx->preprocess, input, &info);
        if (pp != PREPROCESS_OK) {
            image_free(&img);
            it->status = ITEM_NOT_CLASSIFIED;
            snprintf(it->reason, sizeof it->reason, "%s", preprocess_status_text(pp));
            return;
        }
        it->inverted = info.inverted;
        it->box_x = info.box_x;
        it->box_y = info.box_y;
        it->box_w = info.box_w;
        it->box_h = info.box_h;
    }
    image_free(&img);
    int d = mlp_predict_with(&ctx->weights, input, it->probs, scratch);
    int finite = 1;
    for (int k = 0; k < 10; k++)
        finite &= isfinite(it->probs[k]) != 0;
    if (d < 0 || d > 9 || !finite) {
        it->status = ITEM_NOT_CLASSIFIED;
        snprintf(it->reason, sizeof it->reason, "the model gave no usable answer");
        return;
    }
    it->status = ITEM_OK;
    it->digit = d;
    it->confidence = it->probs[d];
}

/* Threads take the next unclaimed image until none is left, so a few huge
 * pictures do not leave the other threads idle. */
static void classify_worker(void *arg, int thread, int n_threads)
{
    (void)n_threads;
    run_ctx *ctx = arg;
    float *scratch = ctx->scratch + (size_t)thread * ctx->scratch_floats;
    uint8_t local[MNIST_PIXELS];
    for (;;) {
        int i = atomic_fetch_add(&ctx->next, 1);
        if (i >= ctx->n_items)
            break;
        uint8_t *input = ctx->inputs ? ctx->inputs + (size_t)i * MNIST_PIXELS : local;
        classify_one(ctx, &ctx->items[i], input, scratch);
    }
}

static int classify_all(const model *m, const predict_options *o, item_list *l,
                        uint8_t *inputs)
{
    int threads = o->threads < l->n_items ? o->threads : l->n_items;
    if (threads < 1)
        threads = 1;
    run_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.m = m;
    ctx.pipeline = o->pipeline;
    if (preprocess_options_from_name(model_get_meta(m, "input_pipeline"), &ctx.preprocess) != 0)
        return -1;
    ctx.preprocess.read_faint = o->read_faint;
    ctx.items = l->items;
    ctx.n_items = l->n_items;
    ctx.inputs = inputs;
    ctx.scratch_floats = mlp_scratch_floats(m);
    atomic_init(&ctx.next, 0);
    ctx.scratch = malloc((size_t)threads * ctx.scratch_floats * sizeof *ctx.scratch + 1);
    if (!ctx.scratch)
        return -1;
    if (mlp_weights_init(&ctx.weights, m, o->weights) != 0) {
        free(ctx.scratch);
        return -1;
    }
    pool *p = threads > 1 ? pool_create(threads) : NULL;
    if (p)
        pool_run(p, classify_worker, &ctx);
    else
        classify_worker(&ctx, 0, 1);   /* one thread, or no threads to be had */
    pool_destroy(p);
    mlp_weights_free(&ctx.weights);
    free(ctx.scratch);
    return 0;
}

/* ---- dumps --------------------------------------------------------------- */

/* DIR/<file name without extension>.png */
static int dump_path(const char *dir, const char *path, char *out, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (stem == 0)
        return -1;
    int n = snprintf(out, len, "%s/%.*s.png", dir, (int)stem, base);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* A plain write, not png_write_file's fsync-and-rename: dumps are throwaway
 * debugging output, and thousands of fsyncs turned a 2-second run into 20. */
static int write_grey_png(const char *path, const image *img)
{
    uint8_t *png = NULL;
    size_t len = 0;
    png_io_status st = png_encode_memory(img, &png, &len);
    if (st != PNG_IO_OK) {
        fprintf(stderr, "digits-trainer: --dump: %s: %s\n", path, png_io_status_text(st));
        return -1;
    }
    /* Never through a symbolic link: a dump writes only where it says. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fd >= 0 && !f)
        close(fd);
    int ok = f && fwrite(png, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = 0;
    free(png);
    if (!ok) {
        fprintf(stderr, "digits-trainer: --dump: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* 1 when the folder holding path is the folder dir_st describes. */
static int in_folder(const char *path, const struct stat *dir_st)
{
    char parent[MAX_PATH_LEN];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == path)
        snprintf(parent, sizeof parent, "/");
    else
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
    struct stat st;
    return stat(parent, &st) == 0 && st.st_dev == dir_st->st_dev && st.st_ino == dir_st->st_ino;
}

/* A folder --dump made says so in this file; dumps go only into a new or
 * empty folder or one that holds it, so that they never overwrite files
 * they did not write (a data set's own 28x28 pictures named like the
 * inputs, say). */
#define DUMP_MARKER ".digits-dump"

/* 1 when dir holds anything but "." and "..", 0 when not, -1 on error;
 * *has_marker says whether DUMP_MARKER is among it. */
static int folder_has_entries(const char *dir, int *has_marker)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int any = 0;
    *has_marker = 0;
    errno = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL; errno = 0) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        any = 1;
        *has_marker |= strcmp(e->d_name, DUMP_MARKER) == 0;
    }
    int failed = errno != 0;
    closedir(d);
    return failed ? -1 : any;
}

/* Before any image is read: makes DIR when missing, and refuses one that
 * is not a folder, holds inputs (a dump is DIR/NAME.png, so an input there
 * could be overwritten by its own 28x28 picture) or holds files no dump
 * wrote. Returns 0, or EXIT_USAGE / EXIT_RUNTIME having said why. */
static int prepare_dump_dir(const char *dir, const item_list *l)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "digits-trainer: --dump %s: %s\n", dir, strerror(errno));
        return EXIT_RUNTIME;
    }
    struct stat dir_st;
    if (stat(dir, &dir_st) != 0) {
        fprintf(stderr, "digits-trainer: --dump %s: %s\n", dir, strerror(errno));
        return EXIT_RUNTIME;
    }
    if (!S_ISDIR(dir_st.st_mode)) {
        fprintf(stderr, "digits-trainer: --dump %s: not a folder\n", dir);
        return EXIT_USAGE;
    }
    for (int i = 0; i < l->n_items; i++)
        if (in_folder(l->items[i].path, &dir_st)) {
            fprintf(stderr, "digits-trainer: --dump %s: the folder holds input images (%s); "
                            "dumps would overwrite them, pick another\n", dir,
                    l->items[i].path);
            return EXIT_USAGE;
        }
    int marked = 0, any = folder_has_entries(dir, &marked);
    if (any < 0) {
        fprintf(stderr, "digits-trainer: --dump %s: %s\n", dir, strerror(errno));
        return EXIT_RUNTIME;
    }
    if (any && !marked) {
        fprintf(stderr, "digits-trainer: --dump %s: the folder holds files no dump wrote; "
                        "give a new or empty folder (or one an earlier --dump made)\n", dir);
        return EXIT_USAGE;
    }
    if (!marked) {
        char path[MAX_PATH_LEN + 32];
        int n = snprintf(path, sizeof path, "%s/%s", dir, DUMP_MARKER);
        if (n < 0 || (size_t)n >= sizeof path) {
            fprintf(stderr, "digits-trainer: --dump %s: the folder's name is too long\n", dir);
            return EXIT_USAGE;
        }
        FILE *f = fopen(path, "wx");
        int ok = f && fputs("28x28 network inputs written by digits-trainer predict --dump\n", f) >= 0;
        if (f && fclose(f) != 0)
            ok = 0;
        if (!ok) {
            fprintf(stderr, "digits-trainer: --dump: cannot write %s: %s\n", path, strerror(errno));
            return EXIT_RUNTIME;
        }
    }
    return 0;
}

static int write_dumps(const char *dir, const item_list *l, const uint8_t *inputs)
{
    int failures = 0;
    for (int i = 0; i < l->n_items; i++) {
        if (l->items[i].status != ITEM_OK)
            continue;
        char path[MAX_PATH_LEN + 64];
        if (dump_path(dir, l->items[i].path, path, sizeof path) != 0) {
            fprintf(stderr, "digits-trainer: --dump: no file name for %s\n", l->items[i].path);
            failures++;
            continue;
        }
        image img = {MNIST_SIDE, MNIST_SIDE, 1, (uint8_t *)(inputs + (size_t)i * MNIST_PIXELS)};
        if (write_grey_png(path, &img) != 0)
            failures++;
    }
    return failures ? -1 : 0;
}

/* ---- output -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static int utf8_sequence(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; min = 0x10000; }
    else return 0;
    unsigned cp = c & (0x3fu >> (n - 1));
    for (int k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* File names are bytes, JSON is UTF-8: invalid bytes become U+FFFD so the
 * document always parses. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc((int)c, out);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            fputc((int)c, out);
            p++;
        } else {
            int n = utf8_sequence(p);
            if (n > 0) {
                fwrite(p, 1, (size_t)n, out);
                p += n;
            } else {
                fputs("\\ufffd", out);
                p++;
            }
        }
    }
    fputc('"', out);
}

static void print_items_text(const item_list *l)
{
    for (int i = 0; i < l->n_items; i++) {
        const item *it = &l->items[i];
        if (it->status == ITEM_OK)
            printf("%s %d %.4f\n", it->shown, it->digit, (double)it->confidence);
        else
            printf("%s error %s\n", it->shown, it->reason);
    }
}

static void print_items_json(const item_list *l)
{
    fputs("[\n", stdout);
    for (int i = 0; i < l->n_items; i++) {
        const item *it = &l->items[i];
        fputs("  {\"file\": ", stdout);
        json_string(stdout, it->shown);
        if (it->status != ITEM_OK) {
            fputs(", \"error\": ", stdout);
            json_string(stdout, it->reason);
        } else {
            printf(", \"digit\": %d, \"confidence\": %.6f, \"probabilities\": [", it->digit,
                   (double)it->confidence);
            for (int k = 0; k < 10; k++)
                printf(k ? ", %.6f" : "%.6f", (double)it->probs[k]);
            printf("], \"inverted\": %s, \"box\": {\"x\": %d, \"y\": %d, \"w\": %d, \"h\": %d}",
                   it->inverted ? "true" : "false", it->box_x, it->box_y, it->box_w, it->box_h);
        }
        fputs(i + 1 < l->n_items ? "},\n" : "}\n", stdout);
    }
    fputs("]\n", stdout);
}

static void tally(item_list *l, const predict_options *o, source_stats *overall)
{
    memset(overall, 0, sizeof *overall);
    snprintf(overall->name, sizeof overall->name, "overall");
    for (int i = 0; i < l->n_items; i++) {
        const item *it = &l->items[i];
        source_stats *s = &l->sources[it->source];
        int ok = it->status == ITEM_OK && it->digit == it->label;
        s->n++;
        s->correct += ok;
        s->failed += it->status != ITEM_OK;
        overall->n++;
        overall->correct += ok;
        overall->failed += it->status != ITEM_OK;
        if (o->misses && !ok) {
            if (it->status == ITEM_OK)
                fprintf(stderr, "miss %s label %d predicted %d confidence %.4f\n", it->shown,
                        it->label, it->digit, (double)it->confidence);
            else
                fprintf(stderr, "miss %s label %d error %s\n", it->shown, it->label,
                        it->reason);
        }
    }
}

static double accuracy(const source_stats *s)
{
    return s->n > 0 ? (double)s->correct / (double)s->n : 0.0;
}

/* One source per line, so that shell scripts without a JSON parser can
 * still pick a line out with grep and awk. */
static void json_stats(const source_stats *s)
{
    printf("{\"n\": %ld, \"correct\": %ld, \"failed\": %ld, \"accuracy\": %.6f}", s->n,
           s->correct, s->failed, accuracy(s));
}

static void print_table_json(const item_list *l, const source_stats *overall,
                             const predict_options *o)
{
    fputs("{\"model\": ", stdout);
    json_string(stdout, o->model_path);
    printf(", \"pipeline\": \"%s\",\n \"sources\": {\n",
           o->pipeline == PIPELINE_NAIVE ? "naive" : "mnist");
    for (int s = 0; s < l->n_sources; s++) {
        fputs("  ", stdout);
        json_string(stdout, l->sources[s].name);
        fputs(": ", stdout);
        json_stats(&l->sources[s]);
        fputs(s + 1 < l->n_sources ? ",\n" : "\n", stdout);
    }
    fputs(" },\n \"overall\": ", stdout);
    json_stats(overall);
    fputs("\n}\n", stdout);
}

static void print_table_text(const item_list *l, const source_stats *overall)
{
    int width = 8;
    for (int s = 0; s < l->n_sources; s++) {
        int n = (int)strlen(l->sources[s].name);
        width = n > width ? n : width;
    }
    printf("%-*s %7s %8s %7s %9s\n", width, "source", "n", "correct", "failed", "accuracy");
    for (int s = 0; s <= l->n_sources; s++) {
        const source_stats *st = s < l->n_sources ? &l->sources[s] : overall;
        printf("%-*s %7ld %8ld %7ld %8.2f%%\n", width, st->name, st->n, st->correct, st->failed,
               100.0 * accuracy(st));
    }
}

/* ---- the command --------------------------------------------------------- */

int command_predict(int argc, char **argv)
{
    predict_options o;
    int rc = parse_predict_flags(argc, argv, &o);
    if (rc != 0) {
        free(o.images);
        return rc > 0 ? 0 : EXIT_USAGE;
    }

    item_list l;
    rc = o.labels_path ? items_from_csv(o.labels_path, &l) : items_from_args(&o, &l);
    free(o.images);
    if (rc != 0) {
        if (!o.labels_path)
            fprintf(stderr, "digits-trainer: out of memory\n");
        item_list_free(&l);
        return EXIT_RUNTIME;
    }
    if (o.dump_dir && (rc = prepare_dump_dir(o.dump_dir, &l)) != 0) {
        item_list_free(&l);
        return rc;
    }
    /* Where the allocator does not take it, images are read more slowly,
     * nothing worse: not worth a line among the answers. */
    (void)heap_policy_keep_request_memory();
    char err[1024];
    model m;
    if (model_load(&m, o.model_path, err, sizeof err) != 0) {
        fprintf(stderr, "digits-trainer: --model: %s\n", err);
        item_list_free(&l);
        return EXIT_RUNTIME;
    }
    if (m.sizes[0] != MNIST_PIXELS || m.sizes[m.n_layers] != 10) {
        fprintf(stderr, "digits-trainer: --model: %s is not a 784-input, 10-class model\n",
                o.model_path);
        item_list_free(&l);
        model_free(&m);
        return EXIT_RUNTIME;
    }

    uint8_t *inputs = NULL;
    if (o.dump_dir) {
        inputs = calloc((size_t)l.n_items, MNIST_PIXELS);
        if (!inputs) {
            fprintf(stderr, "digits-trainer: --dump: out of memory for %d images\n", l.n_items);
            item_list_free(&l);
            model_free(&m);
            return EXIT_RUNTIME;
        }
    }
    if (classify_all(&m, &o, &l, inputs) != 0) {
        fprintf(stderr, "digits-trainer: --model: out of memory, or the model's input_pipeline "
                        "'%s' is unknown to this build\n",
                model_get_meta(&m, "input_pipeline") ? model_get_meta(&m, "input_pipeline") : "");
        free(inputs);
        item_list_free(&l);
        model_free(&m);
        return EXIT_RUNTIME;
    }

    int failed = 0;
    if (o.labels_path) {
        source_stats overall;
        tally(&l, &o, &overall);
        if (o.json)
            print_table_json(&l, &overall, &o);
        else
            print_table_text(&l, &overall);
        /* An image the pipeline refuses is a wrong answer, part of the
         * measure; one that cannot even be read means the set is broken. */
        for (int i = 0; i < l.n_items; i++)
            if (l.items[i].status == ITEM_READ_FAILED || l.items[i].status == ITEM_BAD_PNG) {
                fprintf(stderr, "digits-trainer: %s: %s\n", l.items[i].path, l.items[i].reason);
                failed = 1;
            }
    } else {
        if (o.json)
            print_items_json(&l);
        else
            print_items_text(&l);
        for (int i = 0; i < l.n_items; i++)
            failed |= l.items[i].status != ITEM_OK;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "digits-trainer: cannot write the output: %s\n", strerror(errno));
        failed = 1;
    }
    if (o.dump_dir && write_dumps(o.dump_dir, &l, inputs) != 0)
        failed = 1;
    free(inputs);
    item_list_free(&l);
    model_free(&m);
    return failed ? EXIT_RUNTIME : 0;
}
