/* config.h -- the server's settings: defaults, environment variables and
 * command-line flags, in that order of precedence (a flag beats its variable).
 *
 * Every value from outside is parsed strictly (whole string, range-checked);
 * a bad one is an error with a message that names the flag or variable, so a
 * typo in a container's environment stops the server at start-up instead of
 * silently running with a default.
 */
#ifndef DIGITS_CONFIG_H
#define DIGITS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mlp.h"       /* mlp_weights_format */
#include "version.h"   /* DIGITS_VERSION, shared with the trainer */

#define CONFIG_DEFAULT_MODEL "models/mnist-mlp.bin"
#define CONFIG_DEFAULT_PORT 8080
#define CONFIG_DEFAULT_BIND "0.0.0.0"
#define CONFIG_DEFAULT_MAX_UPLOAD ((size_t)4 * 1024 * 1024)
#define CONFIG_DEFAULT_MAX_PIXELS ((uint64_t)4096 * 4096)
#define CONFIG_DEFAULT_TIMEOUT 30
#define CONFIG_DEFAULT_DRAIN_TIMEOUT 10
#define CONFIG_DEFAULT_MAX_CONNECTIONS 1024
#define CONFIG_DEFAULT_MAX_PER_IP 256
#define CONFIG_ADMIN_PORT_OFF 0xFFFFFFFFu   /* no --admin-port: no admin listener */

typedef enum { LOG_FORMAT_TEXT, LOG_FORMAT_JSON } log_format;

typedef enum {
    CONFIG_MODE_SERVE,        /* run the server */
    CONFIG_MODE_HELP,         /* --help */
    CONFIG_MODE_VERSION,      /* --version */
    CONFIG_MODE_HEALTHCHECK,  /* --healthcheck [URL] */
} config_mode;

typedef struct {
    config_mode mode;
    /* Strings point into argv, the environment or string literals: the
     * config never owns memory, so it needs no destructor. */
    const char *model_path;
    const char *bind_addr;           /* IPv4 or IPv6 literal */
    const char *healthcheck_url;     /* NULL: http://127.0.0.1:PORT/healthz */
    unsigned port;                   /* 0: an ephemeral port */
    unsigned admin_port;             /* CONFIG_ADMIN_PORT_OFF, or as port */
    unsigned threads;                /* 0: one per available CPU */
    size_t max_upload;               /* bytes of request body */
    uint64_t max_pixels;             /* width * height of one PNG */
    unsigned timeout_s;              /* idle connection timeout */
    unsigned drain_timeout_s;        /* how long SIGTERM waits for in-flight requests */
    unsigned max_connections;
    unsigned max_per_ip;             /* 0: no per-address limit */
    log_format log_format;
    mlp_weights_format weights;      /* how the forward pass holds the weights */
    const char *cors_origins;        /* --cors-origin (cors.h); NULL: no CORS headers */
    uint32_t given_as_flag;          /* bit per setting that a flag set: its variable is not read */
} server_config;

void config_defaults(server_config *c);

/* Applies command-line flags (argv[0] is skipped) and notes which settings
 * they gave. Returns 0, or -1 with a message. */
int config_from_args(server_config *c, int argc, char **argv, char *err, size_t err_len);

/* Applies DIGITS_* environment variables, except for settings a flag gave
 * (call it after config_from_args): a flag wins over its variable, even over
 * a variable that would not parse. Returns 0, or -1 with a message. */
int config_from_env(server_config *c, char *err, size_t err_len);

/* The thread count to use: c->threads, or the CPUs this process may run on. */
unsigned config_effective_threads(const server_config *c);

const char *config_log_format_name(log_format f);

void config_print_usage(FILE *out, const char *argv0);

/* Parsers shared with the tests. Each accepts the whole string or fails. */
int config_parse_uint(const char *text, unsigned long long min, unsigned long long max,
                      unsigned long long *out);
/* A byte count with an optional K, M or G (optionally KiB/MiB/GiB) suffix,
 * binary multiples. */
int config_parse_size(const char *text, unsigned long long max, unsigned long long *out);

#endif
