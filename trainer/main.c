/* main.c -- the digits-trainer command line: train, eval.
 *
 * Parses flags, loads MNIST, and hands over to train.c (the maths) and
 * report.c (what people see). Usage errors exit 2, runtime errors exit 1;
 * every message names the flag or the file at fault.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "atomic_file.h"
#include "augment.h"
#include "flags.h"
#include "idx.h"
#include "model.h"
#include "report.h"
#include "rng.h"
#include "sha256.h"
#include "train.h"
#include "version.h"
#include "pool.h"
#include "predict.h"

#define EXIT_USAGE 2

static const char usage_main[] =
    "usage: digits-trainer COMMAND [FLAGS]\n"
    "\n"
    "Trains and evaluates the MLP behind digits-server on MNIST.\n"
    "\n"
    "commands:\n"
    "  train    train a model and write it with its history and plots\n"
    "  eval     evaluate a model on the MNIST test set\n"
    "  predict  classify PNG files as the server does, or score a labelled set\n"
    "  variants write user-style PNGs of MNIST test digits with labels.csv\n"
    "\n"
    "Run 'digits-trainer COMMAND --help' for a command's flags.\n"
    "  --version  print the version\n";

static const char usage_train[] =
    "usage: digits-trainer train [FLAGS]\n"
    "\n"
    "  --data DIR          MNIST IDX files (default data/mnist)\n"
    "  --out FILE          model to write (default models/mnist-mlp.bin); the history\n"
    "                      (FILE, a final .bin taken off, + .history.csv) and plots\n"
    "                      (.curves.png, .confusion.png) are written beside it\n"
    "  --arch A-B-..-C     layer sizes, input first (default 784-128-10); up to 7\n"
    "                      ReLU hidden layers, softmax output\n"
    "  --epochs N          passes over the training set (default 5)\n"
    "  --batch N           mini-batch size, 1..4096 (default 32)\n"
    "  --optimizer NAME    adam or sgd (default adam)\n"
    "  --lr X              learning rate (default 0.001 for adam, 0.01 for sgd)\n"
    "  --momentum X        sgd momentum (default 0.9)\n"
    "  --lr-schedule S     constant (default) or cosine: anneal to --lr-min by the end\n"
    "  --lr-min F          cosine schedule's final rate as a fraction of --lr (default 0)\n"
    "  --dropout P         drop hidden units with probability P while training (default 0)\n"
    "  --seed N            seed for weights and shuffling (default 1)\n"
    "  --threads N         threads (default: all CPUs); the same seed gives the same\n"
    "                      weights and model id bit for bit, whatever the threads\n"
    "  --val-split F       fraction of the training set held out, from its end, for\n"
    "                      validation (default 0.1; 0 trains on all 60000)\n"
    "  --augment MODE      none: raw MNIST pixels (default, as the seed tutorial);\n"
    "                      preprocess: every image (train, validation, test) through\n"
    "                      the server's preprocessing; full: as preprocess, plus fresh\n"
    "                      random affine, elastic and stroke-thickness distortions of\n"
    "                      the training images every epoch, 15% of them then made\n"
    "                      coarse (half resolution)\n"
    "  --max-thicken N     with --augment full: strokes of the 35% of digits drawn\n"
    "                      thicker grow by 1..N working pixels, 0.74 MNIST pixels\n"
    "                      each (default 2; 0 draws none thicker)\n"
    "  --deskew            with --augment preprocess|full: the pipeline also shears\n"
    "                      each digit upright by its moments (recorded in the model,\n"
    "                      so the server does the same)\n"
    "  --quiet             no progress output\n";

static const char usage_eval[] =
    "usage: digits-trainer eval [--model FILE] [--data DIR] [--json] [--threads N]\n"
    "\n"
    "  --model FILE        the model to evaluate (default models/mnist-mlp.bin)\n"
    "  --data DIR          MNIST IDX files (default data/mnist)\n"
    "  --json              print one JSON object; test_accuracy is a fraction 0..1\n"
    "  --threads N         threads (default: all CPUs)\n";

/* ---- shared helpers ----------------------------------------------------- */

static dataset dataset_slice(const idx_images *img, const idx_labels *lab, int first, int count)
{
    dataset d = {img->pixels + (size_t)first * 784, lab->labels + first, count};
    return d;
}

/* "models/x.bin" + ".history.csv" -> "models/x.history.csv". Only ".bin"
 * is taken off: "sweep/lr0.001" and "run.1" keep their dots, or runs of a
 * sweep would overwrite each other's reports. */
static void sibling_path(const char *model_path, const char *suffix, char *out, size_t len)
{
    size_t n = strlen(model_path);
    size_t stem = n > 4 && strcmp(model_path + n - 4, ".bin") == 0 ? n - 4 : n;
    snprintf(out, len, "%.*s%s", (int)stem, model_path, suffix);
}

/* arg as a POSIX shell reads it back: bare when it holds only safe
 * characters, else in single quotes (a quote inside as '\''). Returns -1,
 * writing nothing useful, when that does not fit in len bytes. */
static int shell_quote(const char *arg, char *out, size_t len)
{
    size_t safe = strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                              "0123456789_./=:,+-@%");
    if (arg[0] != '\0' && arg[safe] == '\0') {
        int n = snprintf(out, len, "%s", arg);
        return n >= 0 && (size_t)n < len ? 0 : -1;
    }
    size_t used = 0;
    if (len < 3)
        return -1;
    out[used++] = '\'';
    for (const char *c = arg; *c; c++) {
        size_t add = *c == '\'' ? 4 : 1;
        if (used + add + 2 > len)
            return -1;
        if (*c == '\'')
            memcpy(out + used, "'\\''", 4);
        else
            out[used] = *c;
        used += add;
    }
    out[used++] = '\'';
    out[used] = '\0';
    return 0;
}

/* The command line as a shell could run it again. An argument that does
 * not fit whole is left out and the line ends in " ...", so that what is
 * recorded never silently means something else. */
static void join_command_line(int argc, char **argv, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < argc; i++) {
        char quoted[1024];
        int fits = shell_quote(i == 0 ? "digits-trainer" : argv[i], quoted, sizeof quoted) == 0;
        size_t need = fits ? strlen(quoted) + (i ? 1 : 0) : len;
        if (used + need + 5 > len) {
            if (used + 5 <= len)
                memcpy(out + used, " ...", 5);
            return;
        }
        used += (size_t)snprintf(out + used, len - used, i ? " %s" : "%s", quoted);
    }
}

static void set_meta_number(model *m, const char *key, const char *format, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, format, v);
    model_set_meta(m, key, buf);
}

/* ---- train -------------------------------------------------------------- */

typedef struct {
    const char *data_dir, *out_path, *arch;
    augment_mode augment;
    preprocess_options popts;
    train_config cfg;
    float val_split;
    int max_thicken;
    int quiet;
    int lr_given, lr_min_given, momentum_given, max_thicken_given;
} train_options;

static int parse_train_flags(int argc, char **argv, train_options *o)
{
    train_config_defaults(&o->cfg, OPTIMIZER_ADAM);
    o->cfg.threads = pool_available_cpus();
    o->data_dir = "data/mnist";
    o->out_path = "models/mnist-mlp.bin";
    o->arch = "784-128-10";
    o->augment = AUGMENT_NONE;
    o->val_split = 0.1f;
    augment_config defaults;
    augment_config_defaults(&defaults);
    o->max_thicken = defaults.max_thicken;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL, *flag = NULL;
        int rc = 1, misused = 0;
        if (flag_match(argc, argv, &i, "--help", NULL, &misused)) {
            fputs(usage_train, stdout);
            return 1;
        }
#define FLAG(name) flag_match(argc, argv, &i, (flag = name), &v, &misused)
        if (FLAG("--data")) o->data_dir = v;
        else if (FLAG("--out")) o->out_path = v;
        else if (FLAG("--arch")) o->arch = v;
        else if (FLAG("--augment")) {
            if (augment_parse_mode(v, &o->augment) != 0) {
                fprintf(stderr, "digits-trainer: --augment '%s': use none, preprocess or full\n", v);
                return -1;
            }
        }
        else if (FLAG("--epochs")) rc = flag_parse_int(flag, v, 1, 100000, &o->cfg.epochs) ? -1 : 1;
        else if (FLAG("--batch")) rc = flag_parse_int(flag, v, 1, 4096, &o->cfg.batch) ? -1 : 1;
        else if (FLAG("--threads")) rc = flag_parse_int(flag, v, 1, 256, &o->cfg.threads) ? -1 : 1;
        else if (FLAG("--lr")) {
            rc = flag_parse_float(flag, v, 1e-9, 10.0, &o->cfg.learning_rate) ? -1 : 1;
            o->lr_given = 1;
        } else if (FLAG("--momentum")) {
            rc = flag_parse_float(flag, v, 0.0, 0.9999, &o->cfg.momentum) ? -1 : 1;
            o->momentum_given = 1;
        }
        else if (FLAG("--dropout")) rc = flag_parse_float(flag, v, 0.0, 0.9, &o->cfg.dropout) ? -1 : 1;
        else if (FLAG("--lr-min")) {
            rc = flag_parse_float(flag, v, 0.0, 1.0, &o->cfg.lr_min_fraction) ? -1 : 1;
            o->lr_min_given = 1;
        }
        else if (FLAG("--lr-schedule")) {
            if (strcmp(v, "constant") == 0) o->cfg.lr_schedule = LR_CONSTANT;
            else if (strcmp(v, "cosine") == 0) o->cfg.lr_schedule = LR_COSINE;
            else {
                fprintf(stderr, "digits-trainer: --lr-schedule '%s': use constant or cosine\n", v);
                return -1;
            }
        }
        else if (FLAG("--max-thicken")) {
            rc = flag_parse_int(flag, v, 0, 4, &o->max_thicken) ? -1 : 1;
            o->max_thicken_given = 1;
        }
        else if (FLAG("--val-split")) rc = flag_parse_float(flag, v, 0.0, 0.9, &o->val_split) ? -1 : 1;
        else if (FLAG("--seed")) {
            unsigned long long s;
            if (flag_parse_u64(flag, v, &s) != 0)
                return -1;
            o->cfg.seed = s;
        } else if (FLAG("--optimizer")) {
            if (strcmp(v, "adam") == 0) o->cfg.optimizer = OPTIMIZER_ADAM;
            else if (strcmp(v, "sgd") == 0) o->cfg.optimizer = OPTIMIZER_SGD;
            else {
                fprintf(stderr, "digits-trainer: --optimizer '%s': use adam or sgd\n", v);
                return -1;
            }
        } else if (flag_match(argc, argv, &i, "--quiet", NULL, &misused)) {
            o->quiet = 1;
        } else if (flag_match(argc, argv, &i, "--deskew", NULL, &misused)) {
            o->popts.deskew = 1;
        } else {
            if (!misused)
                fprintf(stderr, "digits-trainer train: unknown flag '%s' (see --help)\n",
                        argv[i]);
            return -1;
        }
#undef FLAG
        if (rc < 0)
            return -1;
    }
    if (o->popts.deskew && o->augment == AUGMENT_NONE) {
        fprintf(stderr, "digits-trainer: --deskew needs --augment preprocess or full: raw MNIST "
                        "pixels are not preprocessed, so there is nothing to deskew\n");
        return -1;
    }
    /* A flag that would change nothing is a mistake worth hearing about:
     * the run it was meant for is not the run that would happen. */
    if (o->max_thicken_given && o->augment != AUGMENT_FULL) {
        fprintf(stderr, "digits-trainer: --max-thicken needs --augment full: only that mode "
                        "draws strokes thicker\n");
        return -1;
    }
    if (o->lr_min_given && o->cfg.lr_schedule != LR_COSINE) {
        fprintf(stderr, "digits-trainer: --lr-min needs --lr-schedule cosine: a constant "
                        "rate has no final rate\n");
        return -1;
    }
    if (o->momentum_given && o->cfg.optimizer != OPTIMIZER_SGD) {
        fprintf(stderr, "digits-trainer: --momentum needs --optimizer sgd: adam keeps its own "
                        "moment estimates\n");
        return -1;
    }
    if (!o->lr_given && o->cfg.optimizer == OPTIMIZER_SGD)
        o->cfg.learning_rate = 0.01f;
    return 0;
}

/* Fails early, naming --out, when the model could not be written there:
 * better than finding out after hours of training. */
static int check_out_writable(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        fprintf(stderr, "digits-trainer: --out: %s exists and is not a file\n", path);
        return -1;
    }
    if (atomic_file_check(path) != 0) {
        fprintf(stderr,
                "digits-trainer: --out: cannot write %s: creating a temporary file beside it: "
                "%s\n",
                path, strerror(errno));
        return -1;
    }
    return 0;
}

static void make_model_id(model *m, char *id, size_t len)
{
    uint8_t digest[32];
    char hex[65], arch[128];
    sha256(m->params, m->n_params * sizeof(float), digest);
    sha256_hex(digest, hex);
    model_arch_string(m, arch, sizeof arch);
    snprintf(id, len, "mlp-%s-%.12s", arch, hex);
}

static int write_reports(const char *out_path, const epoch_stats *history, int epochs,
                         const eval_result *test, FILE *log)
{
    char path[4096], err[512];
    int rc = 0;
    sibling_path(out_path, ".history.csv", path, sizeof path);
    if (history_write_csv(path, history, epochs, err, sizeof err) != 0) {
        fprintf(stderr, "digits-trainer: %s\n", err);
        rc = -1;
    } else {
        fprintf(log, "wrote %s\n", path);
    }
    sibling_path(out_path, ".curves.png", path, sizeof path);
    if (plot_learning_curves(path, history, epochs, err, sizeof err) != 0) {
        fprintf(stderr, "digits-trainer: %s\n", err);
        rc = -1;
    } else {
        fprintf(log, "wrote %s\n", path);
    }
    sibling_path(out_path, ".confusion.png", path, sizeof path);
    if (plot_confusion_matrix(path, test, err, sizeof err) != 0) {
        fprintf(stderr, "digits-trainer: %s\n", err);
        rc = -1;
    } else {
        fprintf(log, "wrote %s\n", path);
    }
    return rc;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const dataset *next_epoch_images(void *ctx, int epoch)
{
    return augmenter_epoch(ctx, epoch);
}

static int command_train(int argc, char **argv)
{
    train_options o;
    memset(&o, 0, sizeof o);
    int rc = parse_train_flags(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : EXIT_USAGE;
    int sizes[MODEL_MAX_LAYERS + 1];
    int n_sizes = model_parse_arch(o.arch, sizes, MODEL_MAX_LAYERS + 1);
    if (n_sizes < 0 || sizes[0] != 784 || sizes[n_sizes - 1] != 10) {
        fprintf(stderr, "digits-trainer: --arch '%s': want sizes like 784-128-10 (784 inputs, "
                        "10 outputs, at most %d layers)\n", o.arch, MODEL_MAX_LAYERS);
        return EXIT_USAGE;
    }

    if (check_out_writable(o.out_path) != 0)
        return 1;
    char err[1024];
    mnist_data data;
    if (mnist_load(o.data_dir, 1, &data, err, sizeof err) != 0) {
        fprintf(stderr, "digits-trainer: --data: %s\n", err);
        return 1;
    }
    int n_train = data.train_images.count;
    /* Rounded, not truncated: 0.9f is 0.89999998, and 60000 of it 53999.99. */
    int n_val = (int)lround((double)n_train * (double)o.val_split);
    if (n_train - n_val < 1 || data.test_images.count < 1) {
        fprintf(stderr, "digits-trainer: --data: %s: no images to %s\n", o.data_dir,
                n_train - n_val < 1 ? "train on" : "test on");
        mnist_free(&data);
        return 1;
    }
    dataset train = dataset_slice(&data.train_images, &data.train_labels, 0, n_train - n_val);
    dataset val = dataset_slice(&data.train_images, &data.train_labels, n_train - n_val, n_val);
    dataset test = dataset_slice(&data.test_images, &data.test_labels, 0,
                                 data.test_images.count);

    model m;
    if (model_init(&m, sizes, n_sizes, err, sizeof err) != 0) {
        fprintf(stderr, "digits-trainer: --arch '%s': %s\n", o.arch, err);
        mnist_free(&data);
        return EXIT_USAGE;
    }
    rng init_rng;
    rng_seed(&init_rng, o.cfg.seed);
    init_weights_he(&m, &init_rng);

    trainer *t = trainer_create(&m, &o.cfg, err, sizeof err);
    epoch_stats *history = calloc((size_t)o.cfg.epochs, sizeof *history);
    if (!t || !history) {
        fprintf(stderr, "digits-trainer: %s\n", t ? "out of memory" : err);
        trainer_destroy(t);
        free(history);
        model_free(&m);
        mnist_free(&data);
        return 1;
    }
    FILE *log = stdout;
    fprintf(log, "training %s on %d images (%d held out for validation), %d epochs, batch %d, "
                 "%s lr %g, seed %llu, %d threads\n",
            o.arch, train.count, val.count, o.cfg.epochs, o.cfg.batch,
            o.cfg.optimizer == OPTIMIZER_ADAM ? "adam" : "sgd", o.cfg.learning_rate,
            (unsigned long long)o.cfg.seed, o.cfg.threads);
    progress prog;
    progress_init(&prog, log, o.cfg.epochs, -1);
    train_callbacks cb = {0};
    if (!o.quiet) {
        cb.on_progress = progress_on_step;
        cb.on_epoch_end = progress_on_epoch_end;
        cb.ctx = &prog;
    }
    double started = wall_seconds();
    /* With a pipeline, validation and test images go through the same
     * preprocessing as uploads, so their figures describe the server. */
    augmenter *aug = NULL;
    uint8_t *prepared = NULL;
    rc = 0;
    if (o.augment != AUGMENT_NONE) {
        augment_config acfg;
        augment_config_defaults(&acfg);
        acfg.max_thicken = o.max_thicken;
        fprintf(log, "preparing images (--augment %s)\n", augment_mode_name(o.augment));
        aug = augmenter_start(&train, o.augment, &acfg, &o.popts, o.cfg.seed, o.cfg.threads);
        prepared = malloc((size_t)(val.count + test.count) * 784 + 1);
        rc = aug && prepared ? 0 : -1;
        if (rc == 0)
            rc = augment_dataset(&val, AUGMENT_PREPROCESS, &acfg, &o.popts, 0, 0, o.cfg.threads,
                                 prepared);
        if (rc == 0)
            rc = augment_dataset(&test, AUGMENT_PREPROCESS, &acfg, &o.popts, 0, 0,
                                 o.cfg.threads, prepared + (size_t)val.count * 784);
        val.pixels = prepared;
        test.pixels = prepared + (size_t)val.count * 784;
        cb.epoch_data = next_epoch_images;
        cb.data_ctx = aug;
    }
    if (rc == 0)
        rc = trainer_fit(t, &train, n_val > 0 ? &val : NULL, &cb, history);
    eval_result test_result;
    if (rc == 0)
        rc = evaluate_model(&m, &test, o.cfg.threads, &test_result);
    double seconds = wall_seconds() - started;
    augmenter_stop(aug);
    free(prepared);
    trainer_destroy(t);
    if (rc != 0) {
        fprintf(stderr, "digits-trainer: out of memory while preparing images or training\n");
        free(history);
        model_free(&m);
        mnist_free(&data);
        return 1;
    }
    size_t bad;
    if (!model_params_usable(&m, &bad)) {
        fprintf(stderr, "digits-trainer: training diverged: parameter %zu is no longer a finite "
                        "number (try a lower --lr); %s not written\n", bad, o.out_path);
        free(history);
        model_free(&m);
        mnist_free(&data);
        return 1;
    }
    fprintf(log, "trained and evaluated in %.2f s (%.0f samples/s)\n", seconds,
            (double)train.count * o.cfg.epochs / seconds);
    print_evaluation(log, &test_result);

    char text[4096], id[160], arch[128];
    join_command_line(argc, argv, text, sizeof text);
    model_set_meta(&m, "command", text);
    model_arch_string(&m, arch, sizeof arch);
    model_set_meta(&m, "arch", arch);
    make_model_id(&m, id, sizeof id);
    model_set_meta(&m, "id", id);
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    model_set_meta(&m, "created", text);
    snprintf(text, sizeof text, "%llu", (unsigned long long)o.cfg.seed);
    model_set_meta(&m, "seed", text);
    set_meta_number(&m, "epochs", "%.0f", o.cfg.epochs);
    set_meta_number(&m, "batch", "%.0f", o.cfg.batch);
    set_meta_number(&m, "threads", "%.0f", o.cfg.threads);
    model_set_meta(&m, "optimizer", o.cfg.optimizer == OPTIMIZER_ADAM ? "adam" : "sgd");
    set_meta_number(&m, "learning_rate", "%g", o.cfg.learning_rate);
    set_meta_number(&m, "val_split", "%g", o.val_split);
    set_meta_number(&m, "dropout", "%g", o.cfg.dropout);
    model_set_meta(&m, "lr_schedule", o.cfg.lr_schedule == LR_COSINE ? "cosine" : "constant");
    model_set_meta(&m, "augment", augment_mode_name(o.augment));
    if (o.augment == AUGMENT_FULL)
        set_meta_number(&m, "max_thicken", "%.0f", o.max_thicken);
    model_set_meta(&m, "input_pipeline",
                   o.augment == AUGMENT_NONE ? "raw" : preprocess_options_name(&o.popts));
    model_set_meta(&m, "mnist_sha256", data.fingerprint);
    set_meta_number(&m, "train_samples", "%.0f", train.count);
    set_meta_number(&m, "test_accuracy", "%.6f", test_result.accuracy);
    set_meta_number(&m, "test_samples", "%.0f", test_result.total);
    set_meta_number(&m, "train_seconds", "%.2f", seconds);
    model_set_meta(&m, "trainer_version", DIGITS_VERSION);

    rc = model_save(&m, o.out_path, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "digits-trainer: --out: %s\n", err);
    else
        fprintf(log, "wrote %s (id %s)\n", o.out_path, id);
    if (rc == 0 && write_reports(o.out_path, history, o.cfg.epochs, &test_result, log) != 0)
        rc = -1;
    free(history);
    model_free(&m);
    mnist_free(&data);
    return rc == 0 ? 0 : 1;
}

/* ---- eval --------------------------------------------------------------- */

static int command_eval(int argc, char **argv)
{
    const char *model_path = "models/mnist-mlp.bin", *data_dir = "data/mnist";
    int json = 0, threads = pool_available_cpus();
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        int rc = 1, misused = 0;
        if (flag_match(argc, argv, &i, "--help", NULL, &misused)) {
            fputs(usage_eval, stdout);
            return 0;
        }
        if (flag_match(argc, argv, &i, "--model", &v, &misused)) model_path = v;
        else if (flag_match(argc, argv, &i, "--data", &v, &misused)) data_dir = v;
        else if (flag_match(argc, argv, &i, "--json", NULL, &misused)) json = 1;
        else if (flag_match(argc, argv, &i, "--threads", &v, &misused))
            rc = flag_parse_int("--threads", v, 1, 256, &threads) ? -1 : 1;
        else {
            if (!misused)
                fprintf(stderr, "digits-trainer eval: unknown flag '%s' (see --help)\n",
                        argv[i]);
            return EXIT_USAGE;
        }
        if (rc < 0)
            return EXIT_USAGE;
    }
    char err[1024];
    model m;
    if (model_load(&m, model_path, err, sizeof err) != 0) {
        fprintf(stderr, "digits-trainer: --model: %s\n", err);
        return 1;
    }
    if (m.sizes[0] != 784 || m.sizes[m.n_layers] != 10) {
        fprintf(stderr, "digits-trainer: --model: %s is not a 784-input, 10-class model\n",
                model_path);
        model_free(&m);
        return 1;
    }
    mnist_data data;
    if (mnist_load(data_dir, 0, &data, err, sizeof err) != 0) {
        fprintf(stderr, "digits-trainer: --data: %s\n", err);
        model_free(&m);
        return 1;
    }
    if (data.test_images.count < 1) {
        fprintf(stderr, "digits-trainer: --data: %s: no test images to evaluate on\n", data_dir);
        mnist_free(&data);
        model_free(&m);
        return 1;
    }
    dataset test = dataset_slice(&data.test_images, &data.test_labels, 0,
                                 data.test_images.count);
    uint8_t *prepared = NULL;
    int rc = 0;
    const char *pipeline = model_get_meta(&m, "input_pipeline");
    preprocess_options popts;
    if (preprocess_options_from_name(pipeline, &popts) != 0) {
        fprintf(stderr, "digits-trainer: --model: input_pipeline '%s' is unknown to this build\n",
                pipeline);
        mnist_free(&data);
        model_free(&m);
        return 1;
    }
    if (pipeline && strcmp(pipeline, "raw") != 0 &&
        preprocess_options_from_name(pipeline, &popts) == 0) {
        augment_config acfg;
        augment_config_defaults(&acfg);
        prepared = malloc((size_t)test.count * 784 + 1);
        rc = prepared ? augment_dataset(&test, AUGMENT_PREPROCESS, &acfg, &popts, 0, 0, threads,
                                        prepared)
                      : -1;
        test.pixels = prepared;
    }
    eval_result result;
    if (rc == 0)
        rc = evaluate_model(&m, &test, threads, &result);
    if (rc != 0)
        fprintf(stderr, "digits-trainer: out of memory while evaluating\n");
    else if (json)
        print_evaluation_json(stdout, &result);
    else
        print_evaluation(stdout, &result);
    free(prepared);
    model_free(&m);
    mnist_free(&data);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    int rc;
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_main, stdout);
        rc = 0;
    } else if (strcmp(argv[1], "--version") == 0) {
        printf("digits-trainer %s\n", DIGITS_VERSION);
        rc = 0;
    } else if (strcmp(argv[1], "train") == 0)
        rc = command_train(argc, argv);
    else if (strcmp(argv[1], "eval") == 0)
        rc = command_eval(argc, argv);
    else if (strcmp(argv[1], "predict") == 0)
        rc = command_predict(argc, argv);
    else if (strcmp(argv[1], "variants") == 0)
        rc = command_variants(argc, argv);
    else {
        fprintf(stderr, "digits-trainer: unknown command '%s'\n\n%s", argv[1], usage_main);
        return EXIT_USAGE;
    }
    /* An answer that did not reach its reader (a full disk, a closed pipe)
     * is a failure, whatever the command thought. */
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "digits-trainer: writing to standard output: %s\n", strerror(errno));
        return 1;
    }
    return rc;
}
