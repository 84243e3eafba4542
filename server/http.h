/* http.h -- the HTTP server: libmicrohttpd wiring, the request lifecycle and
 * graceful shutdown.
 *
 * libmicrohttpd runs a pool of threads, each with its own epoll loop; a
 * request's headers, body chunks and completion all arrive on the thread
 * that owns its connection. http.c buffers the body (bounded by
 * --max-upload), hands the whole request to routes.c, and turns the reply
 * into a response with the security headers every answer carries.
 */
#ifndef DIGITS_HTTP_H
#define DIGITS_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "routes.h"

struct MHD_Daemon;

/* Request bodies are buffered whole, so without a bound across requests N
 * slow uploads would hold N x --max-upload bytes (1024 x 4 MiB with the
 * defaults: far past a container's memory limit). The first
 * HTTP_BODY_FREE_BYTES of every body are free (the connection limit bounds
 * those); beyond that, bodies share HTTP_BODY_BUDGET_UPLOADS x --max-upload
 * bytes, and an upload that does not fit is refused with 503 server_busy. */
#define HTTP_BODY_FREE_BYTES ((size_t)32 * 1024)
#define HTTP_BODY_BUDGET_UPLOADS 16

/* The budget is charged from the declared Content-Length, so that a large
 * upload that will not fit is refused (503, Retry-After) before the client
 * sends it. That lets one client, sending nothing, reserve the whole budget
 * with 17 connections and turn every other upload away. So, unless
 * --max-per-ip is 0 (behind a proxy every client has the proxy's address),
 * one address (an IPv6 /64) may hold at most HTTP_BODY_SHARE_UPLOADS x
 * --max-upload of it (addresses share slots when their seeded hashes
 * collide, which only makes the share smaller). And once --timeout seconds
 * have passed, an upload must have kept up HTTP_UPLOAD_MIN_RATE bytes/s over
 * the time since (a client trickling a byte now and then is never idle long
 * enough for --timeout to end it), or the connection is closed and the
 * request logged as 408. */
#define HTTP_BODY_SHARE_UPLOADS 4
#define HTTP_BODY_SHARE_SLOTS 256
#define HTTP_UPLOAD_MIN_RATE ((size_t)4 * 1024)

typedef struct http_server http_server;

/* What a daemon's request handler is given: the server, and whether the
 * request came to the admin port, which answers only ADMIN_PATHS. */
typedef struct {
    http_server *srv;
    bool admin;
} http_listener;

struct http_server {
    server_state state;
    struct MHD_Daemon *daemon;
    unsigned port;            /* the bound port (useful with --port 0) */
    /* --admin-port: /healthz, /readyz and /metrics on a thread of their own,
     * so that probes and scrapes are answered while every worker thread is
     * busy with uploads. NULL when not asked for. */
    struct MHD_Daemon *admin_daemon;
    unsigned admin_port;      /* the bound admin port */
    http_listener main_listener, admin_listener;
    unsigned threads;
    bool store_ready;         /* state.store needs destroying */
    /* Bytes of request-body buffers charged against HTTP_BODY_BUDGET_UPLOADS
     * x --max-upload (see http.c: the first HTTP_BODY_FREE_BYTES of each
     * body are not charged). */
    atomic_size_t body_bytes;
    /* The same per client address (hashed into HTTP_BODY_SHARE_SLOTS slots),
     * against its share of the budget; see HTTP_BODY_SHARE_UPLOADS. */
    atomic_size_t share_bytes[HTTP_BODY_SHARE_SLOTS];
    uint32_t share_seed;      /* of the address hash (drawn at start-up) */
};

/* Copies cfg, loads and validates the model. Returns 0, or -1 with a message
 * (a bad or missing model file is the usual one). */
int http_server_init(http_server *srv, const server_config *cfg, char *err, size_t err_len);

/* Starts listening (and on the admin port, when configured). Returns 0
 * with srv->port (and srv->admin_port) set, or -1 with a message. */
int http_server_start(http_server *srv, char *err, size_t err_len);

/* SIGHUP: reloads cfg.model_path. A bad file leaves the old model serving.
 * Counts the result in digits_model_reloads_total and logs it. Returns 0 or
 * -1 (with a message). */
int http_server_reload(http_server *srv, char *err, size_t err_len);

/* Draining, step one: readiness turns 503, new connections are closed as
 * soon as they are accepted, and answers ask clients to close theirs.
 * After timeout_ms a /predict batch still being read stops before its next
 * image (never before its first) and is answered 503, so that the drain
 * ends near its deadline. */
void http_server_begin_drain(http_server *srv, unsigned timeout_ms);

/* Requests between their headers and their completion. */
long http_server_in_flight(http_server *srv);

/* begin_drain, then waits (up to timeout_ms) for in-flight requests.
 * Returns 0 when they all finished, -1 on timeout. */
int http_server_drain(http_server *srv, unsigned timeout_ms);

/* Stops the daemon (closing every connection) and frees everything. Safe
 * on a server that was only initialised. */
void http_server_destroy(http_server *srv);

#endif
