/* routes.h -- the endpoints, one function each, and the table that maps a
 * method and path to them.
 *
 * Routes see a plain request (method, path, content type, buffered body) and
 * fill a plain reply (status, JSON body, a few headers); they never touch
 * libmicrohttpd, which http.c keeps to itself. That keeps every endpoint
 * callable -- and testable -- without a socket.
 */
#ifndef DIGITS_ROUTES_H
#define DIGITS_ROUTES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "metrics.h"
#include "model_store.h"

/* Most image parts one /predict request may carry, and most parts of any
 * name: both bound the work and memory a single request can demand. */
#define PREDICT_MAX_IMAGES 16
#define PREDICT_MAX_PARTS 64

/* Everything the endpoints share: read-mostly, owned by the http server. */
typedef struct {
    server_config cfg;
    model_store store;
    metrics metrics;
    atomic_bool draining;
    /* mono_ns() by which in-flight requests must be done once draining: a
     * batch still being read then stops between images (503). */
    _Atomic uint64_t drain_deadline_ns;
} server_state;

/* Whether a drain has begun and its deadline has passed: the one test the
 * drain's wait, its caller and a batch being read all go by. */
static inline bool drain_deadline_passed(server_state *st)
{
    return atomic_load(&st->draining) && mono_ns() >= atomic_load(&st->drain_deadline_ns);
}

typedef struct {
    const char *method;          /* "GET", "HEAD", "POST", ... */
    const char *path;
    const char *content_type;    /* NULL when the client sent none */
    const uint8_t *body;
    size_t body_len;
    bool explain;                /* ?explain=1 on /predict */
    bool faint;                  /* ?faint=1 on /predict: read ink under 40 grey levels */
    uint64_t start_ns;           /* mono_ns() when the headers arrived */
} route_request;

typedef struct {
    unsigned status;
    char *body;                  /* malloc'd; the reply owns it */
    size_t body_len;
    const char *content_type;    /* static string */
    const char *allow;           /* the Allow header of a 405, else NULL */
    const char *csp;             /* Content-Security-Policy; NULL: the API's default-src 'none' */
    const char *error_code;      /* machine-readable code of an error, for the log */
    int n_digits;                /* predictions made, for the log */
    int digits[PREDICT_MAX_IMAGES];
} route_reply;

typedef void (*route_fn)(server_state *st, const route_request *req, route_reply *rep);

typedef struct {
    const char *path;
    const char *method;          /* GET routes also answer HEAD */
    route_fn handler;
    metric_handler metric;
    bool takes_body;             /* the request body is read and handed over */
} route;

/* What the router decided for a method and path. */
typedef struct {
    const route *route;          /* NULL: answer with status below */
    unsigned status;             /* 404 or 405 when route is NULL */
    const char *allow;           /* for 405 */
    metric_handler metric;
} route_match;

route_match routes_match(const char *method, const char *path);

/* Whether POST /predict takes a body of this Content-Type (NULL: none sent).
 * http.c asks before reading the body, so a 415 costs no upload. */
bool routes_predict_accepts(const char *content_type);

/* Fills rep with /predict's 415 for a Content-Type it does not take (one
 * routes_predict_accepts() refuses); for another image type, such as
 * image/jpeg, it says to convert the picture to PNG. */
void routes_reply_unsupported_type(const char *content_type, route_reply *rep);

/* Fills rep with the router's 404/405 answer. */
void routes_reply_unrouted(const route_match *m, const route_request *req, route_reply *rep);

/* A JSON error body {"error": message, "code": code}. part >= 0 adds the
 * (0-based) index of the multipart image that failed. */
void route_reply_error(route_reply *rep, unsigned status, const char *code, int part,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

void route_reply_free(route_reply *rep);

/* Media type of the OpenAPI error responses and the JSON answers. */
#define CONTENT_TYPE_JSON "application/json"
#define CONTENT_TYPE_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"

#endif
