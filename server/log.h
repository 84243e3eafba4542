/* log.h -- the server's log: one line per event or request, as text
 * (key=value) or JSON (one object per line), on standard error.
 *
 * Each line is formatted on the stack and written with a single write(2),
 * so lines from different threads never interleave and logging a request
 * allocates nothing.
 */
#ifndef DIGITS_LOG_H
#define DIGITS_LOG_H

#include "config.h"

typedef enum { LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Process-wide settings; call before starting threads. fd -1 silences. */
void log_configure(log_format format, int fd);

/* A lifecycle event ("listening on ...", "model reload failed: ..."). */
void log_event(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct {
    const char *method;
    const char *path;        /* untrusted: escaped on output */
    const char *remote;      /* client address, may be NULL */
    unsigned status;
    unsigned long long bytes;    /* response body bytes */
    double duration_ms;
    int n_digits;            /* predictions made (0 when none) */
    const int *digits;
    const char *error_code;  /* machine-readable error, or NULL */
    const char *request_id;  /* X-Request-Id (request_id.h), or NULL */
} log_request_fields;

void log_request(const log_request_fields *r);

#endif
