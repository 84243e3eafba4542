/* http.c -- libmicrohttpd wiring and the life of one request:
 *
 *   headers arrive   on_request() first call: route it, check the declared
 *                    size and type, answer 404/405/413/415 at once (and a
 *                    GET that comes with a body, unread) or prepare a
 *                    body buffer
 *   body chunks      on_request() with data: append, refusing (413) the
 *                    moment the total passes --max-upload
 *   body complete    on_request() final call: routes.c computes the reply,
 *                    send_reply() adds the headers every response carries
 *   connection done  on_completed(): metrics, the log line, free
 *
 * All per-request memory is the request struct and its body buffer, both
 * bounded, plus what the route allocates for its answer.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cors.h"
#include "log.h"
#include "request_id.h"

/* Every response carries these: JSON and metrics must never be sniffed into
 * something a browser executes, and nothing we serve needs to load anything. */
#define CSP_POLICY "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/* libmicrohttpd's per-connection pool (request line, headers, read buffer).
 * Its default is the same; spelt out because it bounds header size and so
 * per-connection memory. */
#define CONNECTION_MEMORY_LIMIT ((size_t)32 * 1024)

/* Statuses logged for a request that ended without an answer, as nginx
 * logs them; they keep such requests visible in the metrics, and say whose
 * doing it was: the client went away (499), it stalled past --timeout
 * (408), or the server stopped under it at the end of a drain (503). */
#define STATUS_CLIENT_CLOSED 499
#define STATUS_CLIENT_TIMEOUT 408
#define STATUS_SERVER_STOPPED 503

typedef struct {
    uint64_t start_ns;
    route_match match;
    char method[16];
    char path[256];
    char remote[INET6_ADDRSTRLEN];
    char id[REQUEST_ID_MAX + 1];       /* X-Request-Id, the client's or ours */
    const char *cors_origin;           /* Access-Control-Allow-Origin, or NULL (cors.h) */
    const char *preflight_methods;     /* a CORS preflight's answer: the path's methods */
    const char *content_type;          /* owned by libmicrohttpd for the request */
    bool explain;
    bool faint;
    uint8_t *body;
    size_t len, cap;
    size_t charged;                    /* of srv->body_bytes, for this body */
    int share_slot;                    /* its address's srv->share_bytes, or -1 */
    bool answered;                     /* a response has been queued */
    unsigned status;
    unsigned long long bytes;
    const char *error_code;
    int n_digits;
    int digits[PREDICT_MAX_IMAGES];
} request;

static void copy_trunc(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* The client's address, or NULL when libmicrohttpd has none. */
static const struct sockaddr *client_sockaddr(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci ? ci->client_addr : NULL;
}

static void remote_address(const struct sockaddr *sa, char *out, size_t cap)
{
    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)cap);
}

/* Queues rep (taking its body) with the headers every answer carries. */
static enum MHD_Result send_reply(http_server *srv, struct MHD_Connection *c, request *rq,
                                  route_reply *rep)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(rep->body_len, rep->body, free);
    if (!resp) {
        route_reply_free(rep);
        rq->status = 500;
        return MHD_NO;
    }
    rq->status = rep->status;
    rq->bytes = rep->body_len;
    rq->error_code = rep->error_code;
    rq->n_digits = rep->n_digits;
    memcpy(rq->digits, rep->digits, sizeof rq->digits);
    rep->body = NULL;   /* the response owns it now */

    /* A 204 (a preflight's answer) has no body to type. */
    bool ok = (rep->status == 204 ||
               MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                       rep->content_type ? rep->content_type : CONTENT_TYPE_JSON)) &&
              MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") &&
              MHD_add_response_header(resp, "Content-Security-Policy",
                                      rep->csp ? rep->csp : CSP_POLICY) &&
              MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") &&
              MHD_add_response_header(resp, REQUEST_ID_HEADER, rq->id);
    if (ok && rep->allow)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rep->allow);
    /* With a list of origins, whether an answer carries CORS headers
     * depends on the request's Origin, whether or not this one's is let in. */
    if (ok && cors_varies_by_origin(srv->state.cfg.cors_origins))
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    if (ok && rq->cors_origin) {
        ok = MHD_add_response_header(resp, "Access-Control-Allow-Origin", rq->cors_origin) &&
             MHD_add_response_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
        if (ok && rq->preflight_methods)
            ok = MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                         rq->preflight_methods) &&
                 MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                         CORS_ALLOW_HEADERS) &&
                 MHD_add_response_header(resp, "Access-Control-Max-Age", CORS_MAX_AGE);
    }
    /* Every 503 (busy, draining, no model) is a "later", not a "never". */
    if (ok && rep->status == 503)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    /* While draining, ask keep-alive clients to go, so that the connections
     * close as their last requests finish. */
    if (ok && atomic_load(&srv->state.draining))
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result r = ok ? MHD_queue_response(c, rep->status, resp) : MHD_NO;
    MHD_destroy_response(resp);
    rq->answered = (r == MHD_YES);
    return r;
}

static enum MHD_Result send_error(http_server *srv, struct MHD_Connection *c, request *rq,
                                  unsigned status, const char *code, const char *msg)
{
    route_reply rep = {0};
    route_reply_error(&rep, status, code, -1, "%s", msg);
    return send_reply(srv, c, rq, &rep);
}

/* Parses a Content-Length value; -1 when absent or not a plain number
 * (libmicrohttpd itself rejects malformed ones before we get here). A
 * number too big for long long is LLONG_MAX: over any limit, not absent,
 * or it would slip past the 413 that refuses it before the body is read. */
static long long declared_length(struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!v || !*v)
        return -1;
    long long n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n > (LLONG_MAX - 9) / 10 ? LLONG_MAX : n * 10 + (*p - '0');
    }
    return n;
}

/* The body budget (see http.h): HTTP_BODY_BUDGET_UPLOADS x --max-upload, so
 * that at least that many uploads of the largest size always fit. */
static size_t body_budget(const http_server *srv)
{
    size_t limit = srv->state.cfg.max_upload;
    return limit > SIZE_MAX / HTTP_BODY_BUDGET_UPLOADS ? SIZE_MAX
                                                        : limit * HTTP_BODY_BUDGET_UPLOADS;
}

/* Adds delta to *counter unless that would pass limit. */
static bool charge_within(atomic_size_t *counter, size_t delta, size_t limit)
{
    size_t cur = atomic_load(counter);
    do {
        if (cur > limit || delta > limit - cur)
            return false;
    } while (!atomic_compare_exchange_weak(counter, &cur, cur + delta));
    return true;
}

/* The slot of srv->share_bytes for a client (see http.h), or -1 when
 * addresses get no share of their own (--max-per-ip 0). An IPv6 client is
 * its /64, the least a site is given, or one host could take a share per
 * address; an IPv4-mapped one is its IPv4 address. The hash (FNV-1a) starts
 * from a seed drawn at start-up, so that nobody can pick an address that
 * lands in another client's slot. */
static int share_slot_for(const http_server *srv, const struct sockaddr *sa)
{
    if (srv->state.cfg.max_per_ip == 0 || !sa)
        return -1;
    const uint8_t *key;
    size_t n;
    if (sa->sa_family == AF_INET) {
        key = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
        n = 4;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        key = a6->s6_addr;
        n = 8;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            key += 12;
            n = 4;
        }
    } else {
        return -1;
    }
    uint32_t h = srv->share_seed;
    for (size_t i = 0; i < n; i++)
        h = (h ^ key[i]) * 16777619u;
    return (int)(h % HTTP_BODY_SHARE_SLOTS);
}

/* Charges what growing rq's buffer to cap bytes costs, against the budget
 * and against its address's share. Returns false, charging nothing, when
 * it does not fit. */
static bool body_charge(http_server *srv, request *rq, size_t cap)
{
    size_t want = cap > HTTP_BODY_FREE_BYTES ? cap - HTTP_BODY_FREE_BYTES : 0;
    if (want <= rq->charged)
        return true;
    size_t delta = want - rq->charged, budget = body_budget(srv);
    size_t limit = srv->state.cfg.max_upload;
    size_t share = limit > SIZE_MAX / HTTP_BODY_SHARE_UPLOADS ? SIZE_MAX
                                                              : limit * HTTP_BODY_SHARE_UPLOADS;
    atomic_size_t *slot = rq->share_slot >= 0 ? &srv->share_bytes[rq->share_slot] : NULL;
    if (slot && !charge_within(slot, delta, share))
        return false;
    if (!charge_within(&srv->body_bytes, delta, budget)) {
        if (slot)
            atomic_fetch_sub(slot, delta);
        return false;
    }
    rq->charged += delta;
    return true;
}

static void body_free(http_server *srv, request *rq)
{
    free(rq->body);
    rq->body = NULL;
    rq->len = rq->cap = 0;
    atomic_fetch_sub(&srv->body_bytes, rq->charged);
    if (rq->share_slot >= 0)
        atomic_fetch_sub(&srv->share_bytes[rq->share_slot], rq->charged);
    rq->charged = 0;
}

/* Whether an upload has fallen under HTTP_UPLOAD_MIN_RATE on average, with
 * received bytes so far, once the first --timeout seconds are past. */
static bool upload_too_slow(const http_server *srv, const request *rq, size_t received)
{
    uint64_t elapsed = mono_ns() - rq->start_ns;
    uint64_t grace = (uint64_t)srv->state.cfg.timeout_s * 1000000000u;
    if (elapsed <= grace)
        return false;
    double owed = (double)HTTP_UPLOAD_MIN_RATE * (double)(elapsed - grace) / 1e9;
    return (double)received < owed;
}

static bool has_body(struct MHD_Connection *c)
{
    return declared_length(c) > 0 ||
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* Runs the request's route (or the 404/405 answer) and queues the reply. */
static enum MHD_Result answer(http_server *srv, struct MHD_Connection *c, request *rq,
                              const char *method, const char *url)
{
    route_request req = {
        .method = method,
        .path = url,
        .content_type = rq->content_type,
        .body = rq->body,
        .body_len = rq->len,
        .explain = rq->explain,
        .faint = rq->faint,
        .start_ns = rq->start_ns,
    };
    route_reply rep = {0};
    if (rq->preflight_methods)
        rep.status = 204;   /* the CORS headers are all send_reply's */
    else if (rq->match.route)
        rq->match.route->handler(&srv->state, &req, &rep);
    else
        routes_reply_unrouted(&rq->match, &req, &rep);
    /* The body is no longer needed: free it before the answer is sent, so a
     * slow reader does not pin megabytes. */
    body_free(srv, rq);
    return send_reply(srv, c, rq, &rep);
}

/* A yes/no query parameter such as ?explain=1: set when it is 1 or true. */
static bool query_flag(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* What the admin port answers: the probes' and Prometheus' paths. */
static bool admin_path(const char *url)
{
    return strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 ||
           strcmp(url, "/metrics") == 0;
}

/* The first call for a request: everything that can be decided from the
 * headers alone is decided here, before a byte of the body is read. */
static enum MHD_Result start_request(http_server *srv, struct MHD_Connection *c,
                                     const char *url, const char *method, request *rq,
                                     bool admin)
{
    rq->match = admin && !admin_path(url)
                    ? (route_match){NULL, 404, NULL, METRIC_HANDLER_OTHER}
                    : routes_match(method, url);
    /* libmicrohttpd decodes the chunked coding only: a body in any other
     * ("gzip", "identity", "gzip, chunked") has no length it can find, and
     * the request would hang until --timeout. A coding the server does not
     * know is a 501 (RFC 9112, 6.1), refused before the body is read. */
    const char *coding =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (coding && strcasecmp(coding, "chunked") != 0) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Transfer-Encoding '%.40s' is not supported; send the body as it is or chunked",
                 coding);
        return send_error(srv, c, rq, 501, "unsupported_transfer_encoding", msg);
    }
    /* A CORS preflight: OPTIONS from an allowed origin, asking for one of
     * the path's methods. Anything else with OPTIONS is the router's 405. */
    if (rq->cors_origin && rq->match.status == 405 && strcmp(method, "OPTIONS") == 0 &&
        cors_method_listed(rq->match.allow,
                           MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                       "Access-Control-Request-Method")))
        rq->preflight_methods = rq->match.allow;
    if (!rq->match.route || !rq->match.route->takes_body) {
        /* A 404/405, or a GET or HEAD, with a body is answered now and the
         * body is not read (a GET's body means nothing, RFC 9110 9.3.1;
         * libmicrohttpd then closes the connection); without one, the
         * answer waits for the next call so the connection stays usable. */
        return has_body(c) ? answer(srv, c, rq, method, url) : MHD_YES;
    }

    rq->content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    rq->explain = query_flag(c, "explain");
    rq->faint = query_flag(c, "faint");

    /* With no body there is nothing to refuse before reading it, and an
     * answer queued now would make libmicrohttpd close the connection (and
     * drop a request pipelined behind): the route answers on the final call
     * (415, or 400 empty_body) on a connection that stays open. */
    if (!has_body(c))
        return MHD_YES;
    if (!routes_predict_accepts(rq->content_type)) {
        route_reply rep = {0};
        routes_reply_unsupported_type(rq->content_type, &rep);
        return send_reply(srv, c, rq, &rep);
    }
    size_t limit = srv->state.cfg.max_upload;
    long long declared = declared_length(c);
    if (declared > (long long)limit) {
        /* The header's own digits: declared saturates at LLONG_MAX. */
        const char *said =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        char msg[160];
        snprintf(msg, sizeof msg, "the body is %.40s bytes; the limit is %zu", said, limit);
        return send_error(srv, c, rq, 413, "payload_too_large", msg);
    }
    /* Reserve what the client declared, or a modest start for chunked
     * uploads (grown as needed, never past the limit). */
    size_t want = declared >= 0 ? (size_t)declared : (limit < 16384 ? limit : 16384);
    if (want > 0) {
        if (!body_charge(srv, rq, want))
            return send_error(srv, c, rq, 503, "server_busy",
                              "too many large uploads in progress; retry shortly");
        rq->body = malloc(want);
        if (!rq->body)
            return send_error(srv, c, rq, 500, "out_of_memory", "out of memory");
        rq->cap = want;
    }
    return MHD_YES;
}

/* 0, or 1 over the upload limit, 2 over the body budget, -1 out of memory. */
static int append_body(http_server *srv, request *rq, const char *data, size_t n, size_t limit)
{
    if (n > limit - rq->len)
        return 1;   /* over the limit */
    if (rq->len + n > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 16384;
        while (cap < rq->len + n)
            cap = cap > limit / 2 ? limit : cap * 2;
        if (!body_charge(srv, rq, cap))
            return 2;
        uint8_t *p = realloc(rq->body, cap);
        if (!p)
            return -1;
        rq->body = p;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    return 0;
}

/* The path of a request target. A server must also accept the absolute
 * form, "http://host:port/path" (RFC 9112 3.2.2), which a client talking to
 * a proxy sends; libmicrohttpd hands it over as it came. */
static const char *target_path(const char *url)
{
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else
        return url;
    if (*p == '/' || *p == '\0')
        return url;   /* no host: not a target this server has (a 404) */
    p += strcspn(p, "/");
    return *p ? p : "/";
}

/* libmicrohttpd decodes %HH in the path and the query. %00 would become a
 * NUL that ends the string early: /metrics%00.png was served, and logged,
 * as /metrics, past a proxy's rule against /metrics. A string holding %00
 * is left as it came instead (no route has a '%': a 404). */
static size_t unescape_but_nul(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    for (const char *p = s; (p = strchr(p, '%')) != NULL; p++)
        if (p[1] == '0' && p[2] == '0')
            return strlen(s);
    return MHD_http_unescape(s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    const http_listener *listener = cls;
    http_server *srv = listener->srv;
    request *rq = *con_cls;
    url = target_path(url);

    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        rq->start_ns = mono_ns();
        copy_trunc(rq->method, sizeof rq->method, method);
        copy_trunc(rq->path, sizeof rq->path, url);
        const struct sockaddr *client = client_sockaddr(c);
        remote_address(client, rq->remote, sizeof rq->remote);
        rq->share_slot = share_slot_for(srv, client);
        request_id_assign(MHD_lookup_connection_value(c, MHD_HEADER_KIND, REQUEST_ID_HEADER),
                          rq->id);
        if (cors_enabled(srv->state.cfg.cors_origins))   /* else no header lookup at all */
            rq->cors_origin =
                cors_allowed_origin(srv->state.cfg.cors_origins,
                                    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"));
        *con_cls = rq;
        metrics_request_started(&srv->state.metrics);
        return start_request(srv, c, url, method, rq, listener->admin);
    }

    if (rq->answered) {
        /* Answered early (413, 415...): libmicrohttpd discards what is left. */
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (*upload_data_size > 0) {
        if (upload_too_slow(srv, rq, rq->len + *upload_data_size)) {
            /* As for a chunked upload over the limit below: no reply can be
             * queued mid-upload, so the connection is closed. */
            *upload_data_size = 0;
            body_free(srv, rq);
            rq->status = STATUS_CLIENT_TIMEOUT;
            rq->error_code = "upload_too_slow";
            return MHD_NO;
        }
        int r = append_body(srv, rq, upload_data, *upload_data_size, srv->state.cfg.max_upload);
        *upload_data_size = 0;
        if (r == 0)
            return MHD_YES;
        if (r < 0)
            return send_error(srv, c, rq, 500, "out_of_memory", "out of memory");
        /* Over the limit (or the body budget) without a Content-Length (a
         * chunked upload). libmicrohttpd 0.9.75 cannot queue a reply while
         * an upload is in progress (MHD_queue_response fails), so the
         * refusal is closing the connection now rather than reading on; the
         * log and metrics say 413 (or 503). */
        body_free(srv, rq);
        rq->status = r == 2 ? 503 : 413;
        rq->error_code = r == 2 ? "server_busy" : "payload_too_large";
        return MHD_NO;
    }

    /* The request is complete. */
    return answer(srv, c, rq, method, url);
}

static unsigned unanswered_status(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
        return STATUS_CLIENT_TIMEOUT;
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
        return STATUS_SERVER_STOPPED;
    default:
        return STATUS_CLIENT_CLOSED;
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)c;
    (void)socket_context;
    http_server *srv = cls;
    metrics_connection(&srv->state.metrics, code == MHD_CONNECTION_NOTIFY_STARTED);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    http_server *srv = cls;
    request *rq = *con_cls;
    if (!rq)
        return;
    *con_cls = NULL;
    uint64_t ns = mono_ns() - rq->start_ns;
    /* An answer that was queued but not delivered in full (the drain ran
     * out, the client left mid-answer) counts as what the client got: none.
     * A status set without an answer (an upload cut off at the limit) stays. */
    unsigned status = rq->status;
    if (!status || (rq->answered && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)) {
        status = unanswered_status(toe);
        rq->bytes = 0;
    }
    metrics_request_finished(&srv->state.metrics, rq->match.metric, status, ns);
    log_request_fields f = {
        .method = rq->method,
        .path = rq->path,
        .remote = rq->remote[0] ? rq->remote : NULL,
        .status = status,
        .bytes = rq->bytes,
        .duration_ms = (double)ns / 1e6,
        .n_digits = rq->n_digits,
        .digits = rq->digits,
        .error_code = rq->error_code,
        .request_id = rq->id,
    };
    log_request(&f);
    body_free(srv, rq);
    free(rq);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_event(LOG_WARN, "libmicrohttpd: %s", msg);
}

int http_server_init(http_server *srv, const server_config *cfg, char *err, size_t err_len)
{
    memset(srv, 0, sizeof *srv);
    atomic_init(&srv->body_bytes, 0);
    for (int i = 0; i < HTTP_BODY_SHARE_SLOTS; i++)
        atomic_init(&srv->share_bytes[i], 0);
    if (getrandom(&srv->share_seed, sizeof srv->share_seed, 0) != (ssize_t)sizeof srv->share_seed)
        srv->share_seed = (uint32_t)mono_ns() ^ (uint32_t)getpid();
    srv->share_seed ^= 2166136261u;
    srv->state.cfg = *cfg;
    metrics_init(&srv->state.metrics);
    atomic_init(&srv->state.draining, false);
    atomic_init(&srv->state.drain_deadline_ns, UINT64_MAX);
    if (model_store_init(&srv->state.store, cfg->weights) != 0) {
        snprintf(err, err_len, "cannot initialise the model store");
        return -1;
    }
    srv->store_ready = true;
    return model_store_load(&srv->state.store, cfg->model_path, err, err_len);
}

/* Connections beyond the descriptor limit would fail at accept() anyway;
 * capping the limit turns that into libmicrohttpd's orderly refusal. */
static unsigned fit_connection_limit(unsigned wanted, unsigned threads)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return wanted;
    rlim_t reserve = 32 + 4 * (rlim_t)threads;   /* epoll, ITC pipes, logs, model reloads */
    if (rl.rlim_cur <= reserve)
        return 1;
    rlim_t room = rl.rlim_cur - reserve;
    if (room < wanted) {
        log_event(LOG_WARN, "open-file limit %llu allows only %llu connections (asked for %u)",
                  (unsigned long long)rl.rlim_cur, (unsigned long long)room, wanted);
        return (unsigned)room;
    }
    return wanted;
}

/* While draining, new connections are accepted and closed at once: nobody
 * new gets in. libmicrohttpd 0.9.75's MHD_quiesce_daemon() would stop
 * accepting altogether, but on an epoll thread pool it races the pool's
 * threads to take the listen socket out of their epoll sets, and the loser
 * aborts the process ("Failed to remove listen FD from epoll set", seen on
 * a SIGTERM under load). Owning the socket and handing connections over
 * with MHD_add_connection() avoided that but let bursts overshoot the
 * connection limit and now and then hung MHD_stop_daemon(). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addr;
    (void)addrlen;
    http_server *srv = cls;
    return atomic_load(&srv->state.draining) ? MHD_NO : MHD_YES;
}

/* The socket address for --bind and port, and the daemon flags it needs. */
static int listen_address(const server_config *cfg, unsigned port, struct sockaddr_storage *ss,
                          unsigned *flags, char *err, size_t err_len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)ss;
    if (inet_pton(AF_INET, cfg->bind_addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, cfg->bind_addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        /* "::" means every address, IPv4 included. */
        *flags |= IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    } else {
        snprintf(err, err_len, "bad bind address '%s'", cfg->bind_addr);
        return -1;
    }
    return 0;
}

/* Starts one daemon on --bind and port, answering through listener, with
 * what both daemons share; sized adds what differs (limits, a thread pool),
 * ended by MHD_OPTION_END. what names the port in a message. */
static struct MHD_Daemon *start_daemon(http_server *srv, unsigned port,
                                       MHD_AcceptPolicyCallback accept, http_listener *listener,
                                       struct MHD_OptionItem *sized, const char *what,
                                       unsigned *bound, char *err, size_t err_len)
{
    const server_config *cfg = &srv->state.cfg;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    if (listen_address(cfg, port, &ss, &flags, err, err_len) != 0)
        return NULL;
    errno = 0;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)port, accept, srv, on_request, listener,
        /* First, so that every message from the library goes to our log. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_ARRAY, sized,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY_LIMIT,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_but_nul, NULL,
        MHD_OPTION_END);
    if (!d) {
        snprintf(err, err_len, "cannot listen on %s %s %u: %s", cfg->bind_addr, what, port,
                 errno ? strerror(errno) : "libmicrohttpd refused the settings");
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound = di ? di->port : port;
    return d;
}

/* The admin port takes every connection, draining or not: a probe must
 * still see /readyz turn 503. */
static enum MHD_Result accept_always(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)cls;
    (void)addr;
    (void)addrlen;
    return MHD_YES;
}

/* One thread of its own, and few connections: probes and scrapes only. */
#define ADMIN_MAX_CONNECTIONS 64u

int http_server_start(http_server *srv, char *err, size_t err_len)
{
    const server_config *cfg = &srv->state.cfg;
    srv->threads = config_effective_threads(cfg);
    unsigned max_conn = fit_connection_limit(cfg->max_connections, srv->threads);
    srv->state.metrics.connections_max = max_conn;
    /* A pool only for more than one thread: libmicrohttpd warns at start-up
     * about a pool of 0 or 1 (and then runs without one, as wanted). Last,
     * since an MHD_OPTION_END there ends the array. */
    struct MHD_OptionItem sized[] = {
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)max_conn, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)cfg->max_per_ip, NULL},
        {srv->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)srv->threads,
         NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->main_listener = (http_listener){srv, false};
    srv->daemon = start_daemon(srv, cfg->port, accept_policy, &srv->main_listener, sized, "port",
                               &srv->port, err, err_len);
    if (!srv->daemon)
        return -1;
    if (cfg->admin_port == CONFIG_ADMIN_PORT_OFF)
        return 0;
    struct MHD_OptionItem admin_sized[] = {
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)ADMIN_MAX_CONNECTIONS, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->admin_listener = (http_listener){srv, true};
    srv->admin_daemon = start_daemon(srv, cfg->admin_port, accept_always, &srv->admin_listener,
                                     admin_sized, "admin port", &srv->admin_port, err, err_len);
    return srv->admin_daemon ? 0 : -1;
}

int http_server_reload(http_server *srv, char *err, size_t err_len)
{
    const char *path = srv->state.cfg.model_path;
    int r = model_store_load(&srv->state.store, path, err, err_len);
    metrics_reload(&srv->state.metrics, r == 0);
    if (r == 0) {
        served_model *sm = model_store_acquire(&srv->state.store);
        log_event(LOG_INFO, "model reloaded from %s: id %s, arch %s", path, sm ? sm->id : "?",
                  sm ? sm->arch : "?");
        served_model_release(sm);
    } else {
        log_event(LOG_ERROR, "model reload rejected, still serving the previous model: %s", err);
    }
    return r;
}

void http_server_begin_drain(http_server *srv, unsigned timeout_ms)
{
    atomic_store(&srv->state.drain_deadline_ns, mono_ns() + (uint64_t)timeout_ms * 1000000u);
    /* From here accept_policy() turns every new connection away, /readyz
     * answers 503, and every answer carries Connection: close. */
    atomic_store(&srv->state.draining, true);
}

long http_server_in_flight(http_server *srv)
{
    return (long)atomic_load_explicit(&srv->state.metrics.in_flight, memory_order_relaxed);
}

int http_server_drain(http_server *srv, unsigned timeout_ms)
{
    http_server_begin_drain(srv, timeout_ms);
    while (http_server_in_flight(srv) > 0) {
        if (drain_deadline_passed(&srv->state))
            return -1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

void http_server_destroy(http_server *srv)
{
    if (srv->daemon) {
        MHD_stop_daemon(srv->daemon);
        srv->daemon = NULL;
    }
    if (srv->admin_daemon) {
        MHD_stop_daemon(srv->admin_daemon);
        srv->admin_daemon = NULL;
    }
    if (srv->store_ready) {
        model_store_destroy(&srv->state.store);
        srv->store_ready = false;
    }
}
