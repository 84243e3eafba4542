/* config.c -- one table describes every setting once: its flag, its
 * environment variable, how to parse it and where it goes. Flags and
 * variables cannot drift apart because both are read through that table. */
#define _GNU_SOURCE   /* sched_getaffinity / CPU_COUNT: honour container cpusets */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cors.h"
#include "healthcheck.h"

typedef enum {
    OPT_STRING,
    OPT_UINT,
    OPT_SIZE,
    OPT_ADDR,
    OPT_LOG_FORMAT,
    OPT_WEIGHTS,
    OPT_ORIGINS,
} opt_kind;

typedef struct {
    const char *flag;        /* "--port" */
    const char *env;         /* "DIGITS_PORT" */
    opt_kind kind;
    unsigned long long min, max;
    size_t offset;           /* where in server_config */
    size_t width;            /* sizeof the field, for the integer kinds */
    const char *arg_name;    /* for --help */
    const char *help;
} option_spec;

#define FIELD(f) offsetof(server_config, f), sizeof(((server_config *)0)->f)

static const option_spec options[] = {
    {"--model", "DIGITS_MODEL", OPT_STRING, 0, 0, FIELD(model_path), "FILE",
     "model file to serve (default " CONFIG_DEFAULT_MODEL ")"},
    {"--port", "DIGITS_PORT", OPT_UINT, 0, 65535, FIELD(port), "N",
     "TCP port, 0 for any free one (default 8080)"},
    {"--admin-port", "DIGITS_ADMIN_PORT", OPT_UINT, 0, 65535, FIELD(admin_port), "N",
     "also answer /healthz, /readyz and /metrics on port N, on a thread of their "
     "own that busy workers cannot hold up, 0 for any free one (default: off)"},
    {"--bind", "DIGITS_BIND", OPT_ADDR, 0, 0, FIELD(bind_addr), "ADDR",
     "IPv4 or IPv6 address to listen on (default " CONFIG_DEFAULT_BIND ")"},
    {"--threads", "DIGITS_THREADS", OPT_UINT, 0, 1024, FIELD(threads), "N",
     "worker threads, 0 for one per CPU (default 0)"},
    {"--max-upload", "DIGITS_MAX_UPLOAD", OPT_SIZE, 1, (unsigned long long)1 << 30,
     FIELD(max_upload), "BYTES", "largest request body, K/M/G suffixes allowed (default 4M)"},
    {"--max-pixels", "DIGITS_MAX_PIXELS", OPT_UINT, 1, (unsigned long long)1 << 28,
     FIELD(max_pixels), "N", "largest width*height of an image (default 16777216)"},
    {"--timeout", "DIGITS_TIMEOUT", OPT_UINT, 1, 3600, FIELD(timeout_s), "S",
     "close connections idle for S seconds, and uploads slower than 4 KiB/s "
     "past S seconds (default 30)"},
    {"--drain-timeout", "DIGITS_DRAIN_TIMEOUT", OPT_UINT, 0, 3600, FIELD(drain_timeout_s), "S",
     "on SIGTERM, wait up to S seconds for requests in flight, then stop batches "
     "between images (default 10)"},
    {"--max-connections", "DIGITS_MAX_CONNECTIONS", OPT_UINT, 1, 1000000,
     FIELD(max_connections), "N", "concurrent connections (default 1024)"},
    {"--max-per-ip", "DIGITS_MAX_PER_IP", OPT_UINT, 0, 1000000, FIELD(max_per_ip), "N",
     "concurrent connections from one address (which also hold at most a quarter "
     "of the upload memory), 0 for no limit (default 256)"},
    {"--log-format", "DIGITS_LOG_FORMAT", OPT_LOG_FORMAT, 0, 0, FIELD(log_format), "text|json",
     "request and event log format (default text)"},
    {"--weights", "DIGITS_WEIGHTS", OPT_WEIGHTS, 0, 0, FIELD(weights), "auto|int8|bf16|f32",
     "weights in the forward pass: int8 reads a quarter of f32's bytes per "
     "image, bf16 half; auto (default) takes int8 on a CPU with AVX512-VNNI, "
     "else bf16 with AVX512-BF16, else f32"},
    {"--cors-origin", "DIGITS_CORS_ORIGIN", OPT_ORIGINS, 0, 0, FIELD(cors_origins), "ORIGINS",
     "let browser pages from these origins (comma-separated, such as "
     "https://app.example.com) or from any (*) call the API; default none"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])
_Static_assert(N_OPTIONS <= 32, "server_config.given_as_flag has a bit per option");

void config_defaults(server_config *c)
{
    memset(c, 0, sizeof *c);
    c->mode = CONFIG_MODE_SERVE;
    c->model_path = CONFIG_DEFAULT_MODEL;
    c->bind_addr = CONFIG_DEFAULT_BIND;
    c->port = CONFIG_DEFAULT_PORT;
    c->admin_port = CONFIG_ADMIN_PORT_OFF;
    c->threads = 0;
    c->max_upload = CONFIG_DEFAULT_MAX_UPLOAD;
    c->max_pixels = CONFIG_DEFAULT_MAX_PIXELS;
    c->timeout_s = CONFIG_DEFAULT_TIMEOUT;
    c->drain_timeout_s = CONFIG_DEFAULT_DRAIN_TIMEOUT;
    c->max_connections = CONFIG_DEFAULT_MAX_CONNECTIONS;
    c->max_per_ip = CONFIG_DEFAULT_MAX_PER_IP;
    c->weights = MLP_WEIGHTS_AUTO;
    c->log_format = LOG_FORMAT_TEXT;
}

int config_parse_uint(const char *text, unsigned long long min, unsigned long long max,
                      unsigned long long *out)
{
    /* strtoull alone accepts " 12", "-1" (wrapping) and "0x10": refuse them. */
    if (!text || !*text)
        return -1;
    for (const char *p = text; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int config_parse_size(const char *text, unsigned long long max, unsigned long long *out)
{
    if (!text || !*text)
        return -1;
    size_t digits = 0;
    while (isdigit((unsigned char)text[digits]))
        digits++;
    if (digits == 0 || digits > 19)
        return -1;
    char number[20];
    memcpy(number, text, digits);
    number[digits] = '\0';
    unsigned long long v;
    if (config_parse_uint(number, 0, ~0ULL, &v) != 0)
        return -1;

    const char *suffix = text + digits;
    unsigned shift = 0;
    if (*suffix) {
        switch (toupper((unsigned char)*suffix)) {
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        default: return -1;
        }
        suffix++;
        if (strcmp(suffix, "") != 0 && strcasecmp(suffix, "iB") != 0 && strcasecmp(suffix, "B") != 0)
            return -1;
    }
    if (shift && v > (~0ULL >> shift))
        return -1;
    v <<= shift;
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static void store_uint(server_config *c, const option_spec *o, unsigned long long v)
{
    char *field = (char *)c + o->offset;
    if (o->width == sizeof(unsigned)) {
        unsigned u = (unsigned)v;
        memcpy(field, &u, sizeof u);
    } else if (o->width == sizeof(uint64_t)) {
        uint64_t u = v;
        memcpy(field, &u, sizeof u);
    }
}

/* Parses one value for o, from source ("--port" or "DIGITS_PORT"). */
static int apply_option(server_config *c, const option_spec *o, const char *source,
                        const char *value, char *err, size_t err_len)
{
    unsigned long long v;
    char *field = (char *)c + o->offset;
    switch (o->kind) {
    case OPT_STRING:
        if (!*value) {
            snprintf(err, err_len, "%s: empty value", source);
            return -1;
        }
        memcpy(field, &value, sizeof value);
        return 0;
    case OPT_ADDR: {
        unsigned char probe[16];
        if (inet_pton(AF_INET, value, probe) != 1 && inet_pton(AF_INET6, value, probe) != 1) {
            snprintf(err, err_len, "%s: '%s' is not an IPv4 or IPv6 address", source, value);
            return -1;
        }
        memcpy(field, &value, sizeof value);
        return 0;
    }
    case OPT_UINT:
        if (config_parse_uint(value, o->min, o->max, &v) != 0) {
            snprintf(err, err_len, "%s: '%s' is not a whole number in %llu..%llu", source,
                     value, o->min, o->max);
            return -1;
        }
        store_uint(c, o, v);
        return 0;
    case OPT_SIZE:
        if (config_parse_size(value, o->max, &v) != 0 || v < o->min) {
            snprintf(err, err_len, "%s: '%s' is not a size in %llu..%llu bytes (K/M/G allowed)",
                     source, value, o->min, o->max);
            return -1;
        }
        c->max_upload = (size_t)v;   /* the only size option */
        return 0;
    case OPT_LOG_FORMAT:
        if (strcmp(value, "text") == 0)
            c->log_format = LOG_FORMAT_TEXT;
        else if (strcmp(value, "json") == 0)
            c->log_format = LOG_FORMAT_JSON;
        else {
            snprintf(err, err_len, "%s: '%s' is not text or json", source, value);
            return -1;
        }
        return 0;
    case OPT_ORIGINS: {
        char why[320];
        if (cors_check_origins(value, why, sizeof why) != 0) {
            snprintf(err, err_len, "%s: %s", source, why);
            return -1;
        }
        memcpy(field, &value, sizeof value);
        return 0;
    }
    case OPT_WEIGHTS:
        if (mlp_weights_format_from_name(value, &c->weights) != 0) {
            snprintf(err, err_len, "%s: '%s' is not auto, int8, bf16 or f32", source, value);
            return -1;
        }
        return 0;
    }
    snprintf(err, err_len, "%s: unhandled option kind", source);
    return -1;
}

int config_from_env(server_config *c, char *err, size_t err_len)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *value = getenv(options[i].env);
        /* An empty variable means "not set": docker-compose often passes
         * VAR= for unset ones. */
        if (!value || !*value || ((c->given_as_flag >> i) & 1u))
            continue;
        if (apply_option(c, &options[i], options[i].env, value, err, err_len) != 0)
            return -1;
    }
    return 0;
}

int config_from_args(server_config *c, int argc, char **argv, char *err, size_t err_len)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            c->mode = CONFIG_MODE_HELP;
            continue;
        }
        if (strcmp(arg, "--version") == 0) {
            c->mode = CONFIG_MODE_VERSION;
            continue;
        }
        if (strcmp(arg, "--healthcheck") == 0 || strncmp(arg, "--healthcheck=", 14) == 0) {
            c->mode = CONFIG_MODE_HEALTHCHECK;
            /* The URL is optional, so only an argument that is clearly one
             * is taken as it: not an option, and with a scheme (any scheme,
             * so that https:// is refused by name below rather than taken
             * for an unknown option). "--healthcheck=" alone is the default
             * URL, as an empty variable is unset. */
            if (arg[13] == '=')
                c->healthcheck_url = arg[14] ? arg + 14 : NULL;
            else if (i + 1 < argc && argv[i + 1][0] != '-' && strstr(argv[i + 1], "://") != NULL)
                c->healthcheck_url = argv[++i];
            continue;
        }

        const option_spec *o = NULL;
        const char *value = NULL;
        for (size_t k = 0; k < N_OPTIONS && !o; k++) {
            size_t n = strlen(options[k].flag);
            if (strncmp(arg, options[k].flag, n) != 0)
                continue;
            if (arg[n] == '\0') {
                o = &options[k];
                if (i + 1 >= argc) {
                    snprintf(err, err_len, "%s needs a value (%s)", o->flag, o->arg_name);
                    return -1;
                }
                value = argv[++i];
            } else if (arg[n] == '=') {
                o = &options[k];
                value = arg + n + 1;
            }
        }
        if (!o) {
            snprintf(err, err_len, "unknown option '%s' (see --help)", arg);
            return -1;
        }
        if (apply_option(c, o, o->flag, value, err, err_len) != 0)
            return -1;
        c->given_as_flag |= 1u << (o - options);
    }
    /* Checked once the mode is known: --help or --version given last wins,
     * whatever URL came before. */
    if (c->mode == CONFIG_MODE_HEALTHCHECK && c->healthcheck_url) {
        healthcheck_url parsed;
        char why[256];
        if (healthcheck_parse_url(c->healthcheck_url, &parsed, why, sizeof why) != 0) {
            snprintf(err, err_len, "--healthcheck: %s", why);
            return -1;
        }
    }
    return 0;
}

unsigned config_effective_threads(const server_config *c)
{
    if (c->threads > 0)
        return c->threads;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

const char *config_log_format_name(log_format f)
{
    return f == LOG_FORMAT_JSON ? "json" : "text";
}

/* Prints "  LEFT  text" in 80 columns: the text wrapped at spaces to
 * HELP_WIDTH columns, its continuation lines under its start. */
#define HELP_WIDTH 51

static void print_help_entry(FILE *out, const char *left, const char *text)
{
    const char *label = left;
    if (strlen(left) > 26) {   /* too long for the column: the text goes below */
        fprintf(out, "  %s\n", left);
        label = "";
    }
    while (*text) {
        size_t n = strlen(text);
        if (n > HELP_WIDTH) {
            n = HELP_WIDTH;
            while (n > 0 && text[n] != ' ')
                n--;
            if (n == 0)   /* one word longer than the width: keep it whole */
                n = strcspn(text, " ");
        }
        fprintf(out, "  %-26s %.*s\n", label, (int)n, text);
        label = "";
        text += n;
        while (*text == ' ')
            text++;
    }
}

void config_print_usage(FILE *out, const char *argv0)
{
    fprintf(out,
            "Usage: %s [OPTION]...\n"
            "Serve handwritten-digit predictions over HTTP.\n\n",
            argv0);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s %s", options[i].flag, options[i].arg_name);
        print_help_entry(out, left, options[i].help);
        fprintf(out, "  %-26s   env %s\n", "", options[i].env);
    }
    print_help_entry(out, "--healthcheck [URL]",
                     "GET URL (default http://ADDR:PORT/healthz, PORT the admin port when "
                     "there is one, ADDR the --bind address, 127.0.0.1 for 0.0.0.0, [::1] "
                     "for ::; http:// only); exit 0 on 200");
    print_help_entry(out, "--help", "show this help and exit");
    print_help_entry(out, "--version", "show the version and exit");
    fprintf(out,
            "\nEndpoints: POST /predict, GET /model, /metrics, /healthz, /readyz, and the\n"
            "drawing page: GET /, /app.js, /style.css.\n"
            "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the model.\n");
}
