/* check_server.c -- integration tests for digits-server: each test starts
 * the server in-process on an ephemeral loopback port and talks to it over
 * plain sockets with the small HTTP/1.1 client below, so what is tested is
 * what a client sees: status codes, headers and JSON bodies, keep-alive,
 * limits, reloads and draining.
 *
 * The server serves the shipped model (DIGITS_MODEL) when it loads, and a
 * generated one otherwise; tests that need the real model and MNIST
 * (DIGITS_DATA) say so loudly and skip when they are absent.
 */
#include <arpa/inet.h>
#include <cJSON.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "idx.h"
#include "image.h"
#include "model.h"
#include "png_io.h"
#include "../server/healthcheck.h"
#include "../server/http.h"
#include "../server/inference.h"
#include "../server/log.h"
#include "../server/request_id.h"
#include "../server/strbuf.h"

/* --- a tiny HTTP/1.1 client ------------------------------------------- */

typedef struct {
    int status;
    char head[8192];          /* status line and headers, NUL-terminated */
    char *body;               /* NUL-terminated for convenience */
    size_t body_len;
    bool closed;              /* the server said Connection: close */
} http_resp;

static int tcp_connect(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A hung server must fail a test, not hang it. */
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static const char *resp_header(const http_resp *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2] != '\0') {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            if (len >= cap)
                len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

static void resp_free(http_resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* Reads one response. Returns 0, or -1 when the connection closed or timed
 * out before a whole response arrived. */
static int read_response(int fd, bool head_request, http_resp *r)
{
    memset(r, 0, sizeof *r);
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        if (got >= sizeof r->head - 1)
            return -1;
        ssize_t n = recv(fd, r->head + got, sizeof r->head - 1 - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
        r->head[got] = '\0';
        end = strstr(r->head, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - r->head) + 4;
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    char v[64];
    size_t content_length = 0;
    if (resp_header(r, "Content-Length", v, sizeof v))
        content_length = strtoul(v, NULL, 10);
    if (resp_header(r, "Connection", v, sizeof v) && strcasecmp(v, "close") == 0)
        r->closed = true;
    if (head_request)
        content_length = 0;
    r->body = malloc(content_length + 1);
    if (!r->body)
        return -1;
    size_t extra = got - head_len;   /* body bytes that came with the headers */
    if (extra > content_length)
        extra = content_length;
    memcpy(r->body, r->head + head_len, extra);
    r->head[head_len] = '\0';
    r->body_len = extra;
    while (r->body_len < content_length) {
        ssize_t n = recv(fd, r->body + r->body_len, content_length - r->body_len, 0);
        if (n <= 0) {
            resp_free(r);
            return -1;
        }
        r->body_len += (size_t)n;
    }
    r->body[r->body_len] = '\0';
    return 0;
}

/* Sends one request on fd (extra_headers: "Name: value\r\n" lines or NULL;
 * a non-NULL body gets a Content-Length) and reads the response. */
static int http_do(int fd, const char *method, const char *path, const char *extra_headers,
                   const void *body, size_t len, http_resp *r)
{
    char head[2048];
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s", method, path,
                     extra_headers ? extra_headers : "");
    if (body)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    if (send_all(fd, head, (size_t)n) != 0 || (body && len && send_all(fd, body, len) != 0)) {
        memset(r, 0, sizeof *r);
        return -1;
    }
    return read_response(fd, strcmp(method, "HEAD") == 0, r);
}

/* One request on a fresh connection. Fails the test if there is no answer. */
static http_resp request_once(unsigned port, const char *method, const char *path,
                              const char *extra_headers, const void *body, size_t len)
{
    http_resp r;
    int fd = tcp_connect(port);
    ck_assert_msg(fd >= 0, "cannot connect to port %u", port);
    ck_assert_msg(http_do(fd, method, path, extra_headers, body, len, &r) == 0,
                  "no answer to %s %s", method, path);
    close(fd);
    return r;
}

/* A request with no body whose answer matters only by its status. */
static void expect_status(unsigned p, const char *method, const char *path, int status)
{
    http_resp r = request_once(p, method, path, NULL, NULL, 0);
    ck_assert_msg(r.status == status, "%s %s: %d, wanted %d", method, path, r.status, status);
    resp_free(&r);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* --- test images -------------------------------------------------------- */

typedef enum { SHAPE_BAR, SHAPE_RING, SHAPE_SEVEN, SHAPE_BLANK } shape;

/* Whether (x, y) in a w x h picture is ink for the given shape. */
static bool shape_ink(shape s, int x, int y, int w, int h)
{
    double fx = (x + 0.5) / w, fy = (y + 0.5) / h;
    switch (s) {
    case SHAPE_BAR:
        return fx > 0.45 && fx < 0.58 && fy > 0.15 && fy < 0.85;
    case SHAPE_RING: {
        double dx = (fx - 0.5) / 0.28, dy = (fy - 0.5) / 0.36;
        double d = dx * dx + dy * dy;
        return d < 1.0 && d > 0.45;
    }
    case SHAPE_SEVEN:
        if (fy > 0.18 && fy < 0.28 && fx > 0.25 && fx < 0.75)
            return true;
        /* the diagonal from the top right to the bottom middle */
        if (fy >= 0.28 && fy < 0.85) {
            double cx = 0.72 - (fy - 0.28) * 0.45;
            return fx > cx - 0.07 && fx < cx + 0.07;
        }
        return false;
    case SHAPE_BLANK:
        return false;
    }
    return false;
}

/* Dark ink on white paper (channels 1 or 3), or opaque black ink on a fully
 * transparent background (channels 4), encoded as PNG. */
static void make_png(shape s, int w, int h, int channels, uint8_t **png, size_t *len)
{
    image img;
    ck_assert_int_eq(image_alloc(&img, w, h, channels), 0);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            bool ink = shape_ink(s, x, y, w, h);
            uint8_t *p = img.pixels + ((size_t)y * w + x) * channels;
            if (channels == 4) {
                p[0] = p[1] = p[2] = ink ? 0 : 255;
                p[3] = ink ? 255 : 0;
            } else {
                for (int c = 0; c < channels; c++)
                    p[c] = ink ? 20 : 250;
            }
        }
    }
    ck_assert_int_eq(png_encode_memory(&img, png, len), PNG_IO_OK);
    image_free(&img);
}

/* --- test models -------------------------------------------------------- */

/* A small model with deterministic pseudo-random weights: it classifies
 * nothing well, but it is a valid, servable model with the given id. */
static void write_test_model_accuracy(const char *path, const char *id, int hidden, int classes,
                                      const char *test_accuracy /* NULL: none recorded */)
{
    model m;
    char err[256];
    int sizes[3] = {784, hidden, classes};
    ck_assert_msg(model_init(&m, sizes, 3, err, sizeof err) == 0, "%s", err);
    uint32_t s = 2463534242u;
    for (size_t i = 0; i < m.n_params; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        m.params[i] = ((float)(s % 2001u) - 1000.0f) / 8000.0f;
    }
    ck_assert_int_eq(model_set_meta(&m, "id", id), 0);
    if (test_accuracy)
        ck_assert_int_eq(model_set_meta(&m, "test_accuracy", test_accuracy), 0);
    ck_assert_msg(model_save(&m, path, err, sizeof err) == 0, "%s", err);
    model_free(&m);
}

static void write_test_model(const char *path, const char *id, int hidden, int classes)
{
    write_test_model_accuracy(path, id, hidden, classes, "0.5");
}

/* The same with an "input_pipeline" metadata entry. */
static void write_test_model_with_pipeline(const char *path, const char *id, const char *pipeline)
{
    write_test_model(path, id, 16, 10);
    model m;
    char err[256];
    ck_assert_msg(model_load(&m, path, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(model_set_meta(&m, "input_pipeline", pipeline), 0);
    ck_assert_msg(model_save(&m, path, err, sizeof err) == 0, "%s", err);
    model_free(&m);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}


/* --- the server under test ---------------------------------------------- */

#define TEST_MAX_UPLOAD ((size_t)1 << 20)
#define TEST_MAX_CONNECTIONS 64
#define TEST_MAX_PIXELS ((uint64_t)512 * 512)

static http_server *srv;
static unsigned port;
static unsigned admin_port;   /* every test server has one (--admin-port 0) */
static char tmp_dir[PATH_MAX];
static char model_path[PATH_MAX + 32];
static char served_id[SERVED_MODEL_ID_MAX + 1];
static bool serving_shipped_model;

static const char *shipped_model_path(void)
{
    const char *p = getenv("DIGITS_MODEL");
    return p && *p ? p : "models/mnist-mlp.bin";
}

/* Copies the shipped model to model_path when it is servable, so reload
 * tests can overwrite the file the server reads; else writes a test model. */
static void prepare_model(void)
{
    served_model *sm = NULL;
    char err[512];
    serving_shipped_model = served_model_load(shipped_model_path(), MLP_WEIGHTS_AUTO, &sm, err, sizeof err) == 0;
    if (serving_shipped_model) {
        uint8_t *data;
        size_t len;
        served_model_release(sm);
        ck_assert_int_eq(read_file_bounded(shipped_model_path(), MODEL_MAX_FILE_BYTES, &data, &len,
                                           err, sizeof err), 0);
        write_file(model_path, data, len);
        free(data);
    } else {
        write_test_model(model_path, "test-model-a", 32, 10);
    }
}

/* The idle timeout of the next server started; a test that needs a short
 * one sets it and restarts the server. */
static unsigned server_timeout_s = 10;
/* Worker threads of the next server started. */
static unsigned server_threads = 2;
/* --cors-origin of the next server started (NULL: none, the default). */
static const char *server_cors_origins = NULL;

static void start_server_with(size_t max_upload, uint64_t max_pixels)
{
    snprintf(tmp_dir, sizeof tmp_dir, "%s/digits-check-server-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(model_path, sizeof model_path, "%s/model.bin", tmp_dir);
    prepare_model();

    server_config cfg;
    config_defaults(&cfg);
    cfg.model_path = model_path;
    cfg.bind_addr = "127.0.0.1";
    cfg.port = 0;
    cfg.admin_port = 0;
    cfg.threads = server_threads;
    cfg.max_connections = TEST_MAX_CONNECTIONS;
    cfg.max_upload = max_upload;
    cfg.max_pixels = max_pixels;
    cfg.timeout_s = server_timeout_s;
    cfg.drain_timeout_s = 2;
    cfg.cors_origins = server_cors_origins;
    log_configure(LOG_FORMAT_TEXT, -1);

    srv = calloc(1, sizeof *srv);
    ck_assert_ptr_nonnull(srv);
    char err[512];
    ck_assert_msg(http_server_init(srv, &cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(http_server_start(srv, err, sizeof err) == 0, "%s", err);
    port = srv->port;
    ck_assert_uint_gt(port, 0);
    admin_port = srv->admin_port;
    ck_assert_uint_gt(admin_port, 0);
    ck_assert_uint_ne(admin_port, port);
    served_model *sm = model_store_acquire(&srv->state.store);
    snprintf(served_id, sizeof served_id, "%s", sm->id);
    served_model_release(sm);
}

static void setup(void)
{
    start_server_with(TEST_MAX_UPLOAD, TEST_MAX_PIXELS);
}

static void teardown(void)
{
    if (srv) {
        http_server_destroy(srv);
        free(srv);
        srv = NULL;
    }
    char path[PATH_MAX + 64];
    const char *names[] = {"model.bin", "other.bin", "log.txt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp_dir, names[i]);
        unlink(path);
    }
    rmdir(tmp_dir);
}

/* --- helpers over responses -------------------------------------------- */

static cJSON *json_body(const http_resp *r)
{
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    ck_assert_msg(j != NULL, "response is not JSON: %s", r->body);
    return j;
}

static void assert_security_headers(const http_resp *r)
{
    char v[512];
    ck_assert_ptr_nonnull(resp_header(r, "X-Content-Type-Options", v, sizeof v));
    ck_assert_str_eq(v, "nosniff");
    ck_assert_ptr_nonnull(resp_header(r, "Content-Security-Policy", v, sizeof v));
    ck_assert_ptr_nonnull(strstr(v, "default-src 'none'"));
    ck_assert_msg(resp_header(r, "X-Request-Id", v, sizeof v) && request_id_acceptable(v),
                  "no usable X-Request-Id");
    ck_assert_ptr_nonnull(resp_header(r, "Cache-Control", v, sizeof v));
    ck_assert_str_eq(v, "no-store");
}

/* The header `name` of r is `want`, or is absent when want is NULL. */
static void assert_header(const http_resp *r, const char *name, const char *want)
{
    char v[512];
    const char *got = resp_header(r, name, v, sizeof v);
    if (!want)
        ck_assert_msg(got == NULL, "%s: %s, wanted none", name, v);
    else
        ck_assert_msg(got && strcmp(v, want) == 0, "%s: %s, wanted %s", name, got ? v : "none",
                      want);
}

/* Checks an error answer: status, JSON {"error": text, "code": code}. */
static void assert_error(const http_resp *r, int status, const char *code)
{
    ck_assert_msg(r->status == status, "expected %d %s, got %d: %s", status, code, r->status,
                  r->body);
    char v[128];
    ck_assert_ptr_nonnull(resp_header(r, "Content-Type", v, sizeof v));
    ck_assert_str_eq(v, "application/json");
    assert_security_headers(r);
    cJSON *j = json_body(r);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "code");
    ck_assert(cJSON_IsString(e) && strlen(e->valuestring) > 0);
    ck_assert(cJSON_IsString(c));
    ck_assert_str_eq(c->valuestring, code);
    cJSON_Delete(j);
}

/* Checks one prediction object; returns its digit. */
static int assert_prediction(const cJSON *p)
{
    const cJSON *digit = cJSON_GetObjectItemCaseSensitive(p, "digit");
    const cJSON *conf = cJSON_GetObjectItemCaseSensitive(p, "confidence");
    const cJSON *probs = cJSON_GetObjectItemCaseSensitive(p, "probabilities");
    const cJSON *timings = cJSON_GetObjectItemCaseSensitive(p, "timings");
    ck_assert(cJSON_IsNumber(digit) && cJSON_IsNumber(conf) && cJSON_IsArray(probs));
    ck_assert_int_eq(cJSON_GetArraySize(probs), 10);
    int d = digit->valueint;
    ck_assert(d >= 0 && d <= 9);
    double sum = 0, best = -1;
    for (int i = 0; i < 10; i++) {
        const cJSON *v = cJSON_GetArrayItem(probs, i);
        ck_assert(cJSON_IsNumber(v));
        ck_assert(v->valuedouble >= 0 && v->valuedouble <= 1);
        sum += v->valuedouble;
        if (v->valuedouble > best)
            best = v->valuedouble;
    }
    ck_assert_msg(sum > 0.9999 && sum < 1.0001, "probabilities sum to %g", sum);
    ck_assert_double_eq_tol(conf->valuedouble, cJSON_GetArrayItem(probs, d)->valuedouble, 1e-9);
    ck_assert_double_eq_tol(conf->valuedouble, best, 1e-9);   /* digit is the argmax */
    ck_assert(cJSON_IsObject(timings));
    const char *keys[] = {"decode_ms", "preprocess_ms", "forward_ms", "total_ms"};
    for (int i = 0; i < 4; i++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(timings, keys[i]);
        ck_assert_msg(cJSON_IsNumber(t) && t->valuedouble >= 0, "timings.%s", keys[i]);
    }
    return d;
}

/* A single-image answer: a prediction plus the model id. */
static int assert_single_answer(const http_resp *r)
{
    ck_assert_msg(r->status == 200, "status %d: %s", r->status, r->body);
    assert_security_headers(r);
    cJSON *j = json_body(r);
    int d = assert_prediction(j);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "model_id");
    ck_assert(cJSON_IsString(id));
    ck_assert_str_eq(id->valuestring, served_id);
    cJSON_Delete(j);
    return d;
}

typedef struct {
    const char *name;
    const char *filename;     /* NULL: a plain form field */
    const char *content_type; /* NULL: none */
    const uint8_t *data;
    size_t len;
} form_part;

#define TEST_BOUNDARY "----digitsTestBoundary7MA4YWxkTrZu0gW"

/* A multipart/form-data body as curl -F would send it. */
static uint8_t *multipart_body(const form_part *parts, int n, size_t *len)
{
    strbuf sb;
    strbuf_init(&sb, 256);
    for (int i = 0; i < n; i++) {
        strbuf_printf(&sb, "--%s\r\nContent-Disposition: form-data; name=\"%s\"", TEST_BOUNDARY,
                      parts[i].name);
        if (parts[i].filename)
            strbuf_printf(&sb, "; filename=\"%s\"", parts[i].filename);
        strbuf_puts(&sb, "\r\n");
        if (parts[i].content_type)
            strbuf_printf(&sb, "Content-Type: %s\r\n", parts[i].content_type);
        strbuf_puts(&sb, "\r\n");
        strbuf_append(&sb, parts[i].data, parts[i].len);
        strbuf_puts(&sb, "\r\n");
    }
    strbuf_printf(&sb, "--%s--\r\n", TEST_BOUNDARY);
    ck_assert(!strbuf_failed(&sb));
    return (uint8_t *)strbuf_steal(&sb, len);
}

#define MULTIPART_HEADER "Content-Type: multipart/form-data; boundary=" TEST_BOUNDARY "\r\n"
#define PNG_HEADER "Content-Type: image/png\r\n"

static http_resp post_png(const uint8_t *png, size_t len)
{
    return request_once(port, "POST", "/predict", PNG_HEADER, png, len);
}

/* What the server should answer for png, computed in-process. */
static infer_result expected_for(const uint8_t *png, size_t len)
{
    served_model *sm = model_store_acquire(&srv->state.store);
    float *scratch = malloc(sm->scratch_floats * sizeof(float));
    infer_result r;
    ck_assert_int_eq(infer_png(sm, png, len, TEST_MAX_PIXELS, false, scratch, &r), INFER_OK);
    free(scratch);
    served_model_release(sm);
    return r;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes padded base64; returns the length or -1. */
static long b64_decode(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s), o = 0;
    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++)
            v[k] = s[i + k] == '=' ? 0 : b64_value(s[i + k]);
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
            return -1;
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        uint8_t b[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
        int take = s[i + 2] == '=' ? 1 : s[i + 3] == '=' ? 2 : 3;
        for (int k = 0; k < take; k++) {
            if (o >= cap)
                return -1;
            out[o++] = b[k];
        }
    }
    return (long)o;
}

/* The value of a metric sample line ("name{labels} value"), or -1. */
static double metric_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

static char *scrape(void)
{
    http_resp r = request_once(port, "GET", "/metrics", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    char v[128];
    ck_assert_ptr_nonnull(resp_header(&r, "Content-Type", v, sizeof v));
    ck_assert_str_eq(v, "text/plain; version=0.0.4; charset=utf-8");
    return r.body;   /* the caller frees */
}

/* Metrics are recorded when a connection finishes a request, which can be
 * just after the client has its answer (a closed connection counts when the
 * server notices it): scrape until series reaches want, or about 5 s pass
 * (a loaded 2-core CI machine once took over a second), and return the last
 * scrape. */
static char *scrape_when(const char *series, double want)
{
    char *m = NULL;
    for (int i = 0; i < 500; i++) {
        free(m);
        m = scrape();
        if (metric_value(m, series) == want)
            break;
        sleep_ms(10);
    }
    return m;
}

/* --- endpoints ------------------------------------------------------------ */

START_TEST(test_healthz)
{
    http_resp r = request_once(port, "GET", "/healthz", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    assert_security_headers(&r);
    cJSON *j = json_body(&r);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "status")->valuestring, "ok");
    cJSON_Delete(j);
    resp_free(&r);

    r = request_once(port, "HEAD", "/healthz", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    resp_free(&r);
}
END_TEST

START_TEST(test_readyz_when_ready)
{
    http_resp r = request_once(port, "GET", "/readyz", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = json_body(&r);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "status")->valuestring, "ready");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "model_id")->valuestring, served_id);
    cJSON_Delete(j);
    resp_free(&r);
}
END_TEST

START_TEST(test_model_metadata)
{
    http_resp r = request_once(port, "GET", "/model", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    assert_security_headers(&r);
    cJSON *j = json_body(&r);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "id")->valuestring, served_id);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
    int n = cJSON_GetArraySize(layers);
    ck_assert_int_ge(n, 2);
    ck_assert_int_eq(cJSON_GetArrayItem(layers, 0)->valueint, 784);
    ck_assert_int_eq(cJSON_GetArrayItem(layers, n - 1)->valueint, 10);
    const char *arch = cJSON_GetObjectItemCaseSensitive(j, "arch")->valuestring;
    ck_assert(strncmp(arch, "784-", 4) == 0);
    ck_assert_int_gt(cJSON_GetObjectItemCaseSensitive(j, "parameters")->valuedouble, 0);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "metadata");
    ck_assert(cJSON_IsObject(meta));
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(meta, "id")->valuestring, served_id);
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(j, "test_accuracy");
    ck_assert(cJSON_IsNumber(acc) && acc->valuedouble >= 0 && acc->valuedouble <= 1);
    /* The default, auto: int8 where the CPU has VNNI, else bf16 where it has
     * AVX512-BF16, else f32. */
    bool vnni = mlp_kernel_available(MLP_KERNEL_INT8_DOT);
    bool bf16 = mlp_kernel_available(MLP_KERNEL_BF16_DOT);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "weights")->valuestring,
                     vnni ? "int8" : (bf16 ? "bf16" : "f32"));
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "kernel")->valuestring,
                     vnni ? "avx512-vnni" : (bf16 ? "avx512-bf16" : "portable"));
    cJSON_Delete(j);
    resp_free(&r);
}
END_TEST

START_TEST(test_predict_raw_body)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_BAR, 28, 28, 1, &png, &len);
    http_resp r = post_png(png, len);
    int d = assert_single_answer(&r);
    ck_assert_int_eq(d, expected_for(png, len).digit);
    resp_free(&r);

    /* No Content-Type at all is taken as raw bytes as well. */
    r = request_once(port, "POST", "/predict", NULL, png, len);
    ck_assert_int_eq(assert_single_answer(&r), d);
    resp_free(&r);
    /* So is application/octet-stream, and parameters are ignored. */
    r = request_once(port, "POST", "/predict", "Content-Type: Image/PNG; q=1\r\n", png, len);
    ck_assert_int_eq(assert_single_answer(&r), d);
    resp_free(&r);
    free(png);
}
END_TEST

START_TEST(test_predict_colour_types)
{
    /* grey, RGB, and RGBA with a transparent background (composited on white) */
    const int channels[] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        uint8_t *png;
        size_t len;
        make_png(SHAPE_RING, 40, 48, channels[i], &png, &len);
        http_resp r = post_png(png, len);
        ck_assert_int_eq(assert_single_answer(&r), expected_for(png, len).digit);
        resp_free(&r);
        free(png);
    }
}
END_TEST

START_TEST(test_predict_multipart_single)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_SEVEN, 28, 28, 1, &png, &len);
    form_part part = {"image", "digit.png", "image/png", png, len};
    size_t body_len;
    uint8_t *body = multipart_body(&part, 1, &body_len);
    http_resp r = request_once(port, "POST", "/predict", MULTIPART_HEADER, body, body_len);
    ck_assert_int_eq(assert_single_answer(&r), expected_for(png, len).digit);
    resp_free(&r);
    free(body);
    free(png);
}
END_TEST

START_TEST(test_predict_multipart_several_in_order)
{
    const shape shapes[3] = {SHAPE_RING, SHAPE_BAR, SHAPE_SEVEN};
    uint8_t *png[3];
    size_t len[3];
    form_part parts[5];
    int k = 0;
    parts[k++] = (form_part){"note", NULL, NULL, (const uint8_t *)"hello", 5};
    for (int i = 0; i < 3; i++) {
        make_png(shapes[i], 30 + 10 * i, 36, i == 2 ? 4 : 1, &png[i], &len[i]);
        parts[k++] = (form_part){"image", "d.png", i == 1 ? NULL : "image/png", png[i], len[i]};
    }
    size_t body_len;
    uint8_t *body = multipart_body(parts, k, &body_len);
    http_resp r = request_once(port, "POST", "/predict", MULTIPART_HEADER, body, body_len);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    cJSON *j = json_body(&r);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "model_id")->valuestring, served_id);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "count")->valueint, 3);
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(j, "results");
    ck_assert_int_eq(cJSON_GetArraySize(results), 3);
    for (int i = 0; i < 3; i++) {
        const cJSON *res = cJSON_GetArrayItem(results, i);
        infer_result want = expected_for(png[i], len[i]);
        ck_assert_int_eq(assert_prediction(res), want.digit);
        /* the same probabilities, so the same image, in the same place */
        const cJSON *probs = cJSON_GetObjectItemCaseSensitive(res, "probabilities");
        for (int d = 0; d < 10; d++)
            ck_assert_double_eq_tol(cJSON_GetArrayItem(probs, d)->valuedouble,
                                    want.probabilities[d], 1e-6);
        free(png[i]);
    }
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "timings"), "total_ms")));
    cJSON_Delete(j);
    resp_free(&r);
    free(body);
    /* Every image is a prediction, and each stage ran once per image. */
    char *m = scrape_when("digits_http_requests_total{handler=\"/predict\",code=\"200\"}", 1);
    double total = 0;
    char series[96];
    for (int d = 0; d < 10; d++) {
        snprintf(series, sizeof series, "digits_predictions_total{digit=\"%d\"}", d);
        total += metric_value(m, series);
    }
    ck_assert_double_eq(total, 3);
    ck_assert_double_eq(
        metric_value(m, "digits_predict_stage_duration_seconds_count{stage=\"forward\"}"), 3);
    free(m);
}
END_TEST

START_TEST(test_predict_explain)
{
    uint8_t *png;
    size_t len;
    /* Not square, so that width and height cannot stand in for each other. */
    make_png(SHAPE_BAR, 40, 48, 3, &png, &len);
    infer_result want = expected_for(png, len);
    ck_assert(want.info.inverted);   /* dark ink on white */
    http_resp r = request_once(port, "POST", "/predict?explain=1", PNG_HEADER, png, len);
    assert_single_answer(&r);
    cJSON *j = json_body(&r);
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(j, "explain");
    ck_assert(cJSON_IsObject(ex));
    const char *b64 = cJSON_GetObjectItemCaseSensitive(ex, "input_png")->valuestring;
    uint8_t decoded[8192];
    long n = b64_decode(b64, decoded, sizeof decoded);
    ck_assert_int_gt(n, 8);
    image img;
    char why[128];
    ck_assert_int_eq(png_decode_rgba(decoded, (size_t)n, 0, &img, why, sizeof why), PNG_IO_OK);
    ck_assert_int_eq(img.width, 28);
    ck_assert_int_eq(img.height, 28);
    image_free(&img);
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(ex, "source");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(src, "width")->valueint, 40);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(src, "height")->valueint, 48);
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(ex, "preprocess");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pp, "inverted")));
    /* The box is the one the preprocessing found, each side in its place. */
    const cJSON *box = cJSON_GetObjectItemCaseSensitive(pp, "box");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(box, "x")->valueint, want.info.box_x);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(box, "y")->valueint, want.info.box_y);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(box, "width")->valueint, want.info.box_w);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(box, "height")->valueint, want.info.box_h);
    ck_assert_int_ne(want.info.box_w, want.info.box_h);   /* a bar: a swap would show */
    ck_assert_int_ne(want.info.box_x, want.info.box_y);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pp, "ring")));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pp, "field")));
    cJSON_Delete(j);
    resp_free(&r);

    /* without the flag, or with it off, there is no explanation */
    static const char *const off[] = {"/predict", "/predict?explain=0", "/predict?explain="};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        r = request_once(port, "POST", off[i], PNG_HEADER, png, len);
        assert_single_answer(&r);
        j = json_body(&r);
        ck_assert_msg(!cJSON_GetObjectItemCaseSensitive(j, "explain"), "%s explains", off[i]);
        cJSON_Delete(j);
        resp_free(&r);
    }
    free(png);
}
END_TEST

/* --- errors --------------------------------------------------------------- */

START_TEST(test_error_not_png)
{
    http_resp r = post_png((const uint8_t *)"this is not a png at all", 24);
    assert_error(&r, 400, "not_png");
    ck_assert_ptr_nonnull(strstr(r.body, "not a PNG"));
    /* "part" names a multipart part (openapi.yaml); a raw body has none */
    cJSON *j = json_body(&r);
    ck_assert_msg(!cJSON_GetObjectItemCaseSensitive(j, "part"), "%s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    /* a format people often send is named, with what to do about it */
    static const struct {
        const char *bytes;
        size_t len;
        const char *said;
    } formats[] = {
        {"\xff\xd8\xff\xe0\0\x10JFIF\0", 11, "is a JPEG, not a PNG"},
        {"GIF89a\x01\0\x01\0", 10, "is a GIF, not a PNG"},
        {"RIFF\x24\0\0\0WEBPVP8 ", 16, "is a WebP, not a PNG"},
        {"\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24, "is a HEIC (HEIF), not a PNG"},
        {"\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1miaf", 28, "is an AVIF, not a PNG"},
        /* an AVIF whose main brand is HEIF's generic one */
        {"\0\0\0\x1c" "ftypmif1\0\0\0\0mif1avifmiaf", 28, "is an AVIF, not a PNG"},
        {"II*\0\x08\0\0\0", 8, "is a TIFF, not a PNG"},
        {"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", 18, "is a BMP, not a PNG"},
        /* "BM" alone is not a BMP */
        {"BMW is a car, not a picture", 27, "is not a PNG (no PNG signature)"},
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        r = request_once(port, "POST", "/predict", "Content-Type: application/octet-stream\r\n",
                         formats[i].bytes, formats[i].len);
        assert_error(&r, 400, "not_png");
        ck_assert_msg(strstr(r.body, formats[i].said) != NULL, "%s: %s", formats[i].said, r.body);
        resp_free(&r);
    }
    /* with curl's default type the advice is the same, not "add -H" */
    r = request_once(port, "POST", "/predict", "Content-Type: application/x-www-form-urlencoded\r\n",
                     formats[0].bytes, formats[0].len);
    assert_error(&r, 415, "unsupported_media_type");
    ck_assert_msg(strstr(r.body, "is a JPEG, not a PNG: convert it") != NULL, "%s", r.body);
    resp_free(&r);
}
END_TEST

START_TEST(test_error_corrupt_png)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_BAR, 28, 28, 1, &png, &len);
    /* A real header followed by garbage where the image data should be. */
    uint8_t broken[256];
    memcpy(broken, png, 40);
    for (int i = 40; i < 256; i++)
        broken[i] = (uint8_t)(i * 37);
    http_resp r = post_png(broken, sizeof broken);
    assert_error(&r, 400, "corrupt_png");
    resp_free(&r);
    /* and a truncated one */
    r = post_png(png, len / 2);
    assert_error(&r, 400, "corrupt_png");
    resp_free(&r);
    free(png);
}
END_TEST

START_TEST(test_error_empty_body)
{
    http_resp r = post_png((const uint8_t *)"", 0);
    assert_error(&r, 400, "empty_body");
    resp_free(&r);
    /* an empty multipart body is empty, not malformed */
    r = request_once(port, "POST", "/predict", MULTIPART_HEADER, "", 0);
    assert_error(&r, 400, "empty_body");
    resp_free(&r);
}
END_TEST

/* Sends text as it is on a new connection and reads the one answer (a
 * request whose head alone must be answered, say). */
static http_resp exchange_raw(const char *text)
{
    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(send_all(fd, text, strlen(text)), 0);
    http_resp r;
    ck_assert_msg(read_response(fd, false, &r) == 0, "no answer to: %.80s", text);
    close(fd);
    return r;
}

START_TEST(test_error_declared_body_too_large)
{
    /* Only the headers are sent: the 413 must come without the body. */
    char head[256];
    snprintf(head, sizeof head,
             "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
             "Content-Length: %zu\r\n\r\n", TEST_MAX_UPLOAD + 1);
    http_resp r = exchange_raw(head);
    assert_error(&r, 413, "payload_too_large");
    resp_free(&r);
}
END_TEST

/* Whether an answer has started to arrive on fd, without waiting. */
static bool answer_waiting(int fd)
{
    char c;
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Restarts the server with one worker thread and room for big pictures,
 * sends a /predict of `pictures` 4096x4096 PNGs (each a quarter second or
 * so of decoding), and returns the connection once the first picture is
 * decoded: the worker is then busy with the rest. */
static int start_big_batch(int pictures)
{
    teardown();
    server_threads = 1;
    start_server_with((size_t)16 << 20, (uint64_t)4096 * 4096);
    server_threads = 2;
    enum { SIDE = 4096 };
    ck_assert_int_le(pictures, PREDICT_MAX_IMAGES);
    image big = {SIDE, SIDE, 1, malloc((size_t)SIDE * SIDE)};
    ck_assert_ptr_nonnull(big.pixels);
    memset(big.pixels, 255, (size_t)SIDE * SIDE);
    for (int y = SIDE / 4; y < 3 * SIDE / 4; y++)
        memset(big.pixels + (size_t)y * SIDE + SIDE / 2 - 40, 0, 80);   /* a 1 */
    uint8_t *png;
    size_t png_len;
    ck_assert_int_eq(png_encode_memory(&big, &png, &png_len), PNG_IO_OK);
    free(big.pixels);
    form_part parts[PREDICT_MAX_IMAGES];
    for (int i = 0; i < pictures; i++)
        parts[i] = (form_part){"image", "one.png", "image/png", png, png_len};
    size_t body_len;
    uint8_t *body = multipart_body(parts, pictures, &body_len);
    free(png);

    int busy = tcp_connect(port);
    ck_assert_int_ge(busy, 0);
    char head[256];
    snprintf(head, sizeof head,
             "POST /predict HTTP/1.1\r\nHost: x\r\n" MULTIPART_HEADER
             "Content-Length: %zu\r\n\r\n", body_len);
    ck_assert_int_eq(send_all(busy, head, strlen(head)), 0);
    ck_assert_int_eq(send_all(busy, body, body_len), 0);
    free(body);
    const char *decoded = "digits_predict_stage_duration_seconds_count{stage=\"decode\"}";
    for (int i = 0;; i++) {
        ck_assert_msg(i < 500, "the upload was never decoded");
        http_resp r = request_once(admin_port, "GET", "/metrics", NULL, NULL, 0);
        double n = metric_value(r.body, decoded);
        resp_free(&r);
        if (n >= 1)
            break;
        struct timespec tick = {0, 2 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    return busy;
}

/* --admin-port answers the probes' and Prometheus' paths on a thread of its
 * own: with the only worker thread busy on a large upload, the main port's
 * /healthz waits, and the admin port's does not. Decided by the order of
 * the answers, not by timing. */
START_TEST(test_admin_port_answers_while_workers_are_busy)
{
    expect_status(admin_port, "GET", "/healthz", 200);
    expect_status(admin_port, "GET", "/readyz", 200);
    http_resp r = request_once(admin_port, "GET", "/metrics", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "digits_model_test_accuracy"));
    resp_free(&r);
    /* nothing else: not the API, not the page */
    const char *others[][2] = {{"GET", "/model"}, {"GET", "/"}, {"POST", "/predict"}};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        r = request_once(admin_port, others[i][0], others[i][1], NULL, NULL, 0);
        assert_error(&r, 404, "not_found");
        resp_free(&r);
    }

    /* One worker thread, and eight 4096x4096 pictures in one upload: about
     * a second of decoding. */
    int busy = start_big_batch(8);
    /* Once the first picture is decoded the worker is busy with the rest:
     * a /healthz on the main port now waits behind it, and the admin port
     * answers. */
    int probe = tcp_connect(port);
    ck_assert_int_ge(probe, 0);
    const char *get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(send_all(probe, get, strlen(get)), 0);
    r = request_once(admin_port, "GET", "/metrics", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    bool upload_pending = !answer_waiting(busy), probe_pending = !answer_waiting(probe);
    ck_assert_msg(upload_pending && probe_pending,
                  "the admin answer came after the main port's (upload %s, probe %s)",
                  upload_pending ? "pending" : "answered", probe_pending ? "pending" : "answered");
    ck_assert_double_ge(metric_value(r.body, "digits_http_requests_in_flight"), 1);
    resp_free(&r);
    http_resp done;
    ck_assert_int_eq(read_response(busy, false, &done), 0);
    ck_assert_int_eq(done.status, 200);
    resp_free(&done);
    ck_assert_int_eq(read_response(probe, false, &done), 0);
    ck_assert_int_eq(done.status, 200);
    resp_free(&done);
    close(busy);
    close(probe);
}
END_TEST

/* A transfer coding other than chunked is a 501 at once, before the body:
 * libmicrohttpd would find no end to such a body and hold the request until
 * the timeout. */
START_TEST(test_error_unknown_transfer_coding)
{
    const char *codings[] = {"gzip", "identity", "gzip, chunked"};
    for (size_t i = 0; i < sizeof codings / sizeof codings[0]; i++) {
        char head[256];
        snprintf(head, sizeof head,
                 "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                 "Transfer-Encoding: %s\r\n\r\n4\r\nabcd\r\n0\r\n\r\n", codings[i]);
        http_resp r = exchange_raw(head);
        assert_error(&r, 501, "unsupported_transfer_encoding");
        resp_free(&r);
    }
    const char *series = "digits_http_requests_total{handler=\"/predict\",code=\"501\"}";
    char *m = scrape_when(series, 3);
    ck_assert_double_eq(metric_value(m, series), 3);
    free(m);
}
END_TEST

/* A Content-Length too big for 64-bit signed arithmetic is over the limit
 * too, refused with our 413 before the body, not taken for "no length" and
 * read. (One past 2^64 - 1 libmicrohttpd refuses itself, in HTML.) */
START_TEST(test_error_absurd_content_length)
{
    const char *lengths[] = {"9223372036854775807", "18446744073709551615"};
    for (int i = 0; i < 2; i++) {
        char head[256];
        snprintf(head, sizeof head,
                 "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                 "Content-Length: %s\r\n\r\n", lengths[i]);
        http_resp r = exchange_raw(head);
        assert_error(&r, 413, "payload_too_large");
        ck_assert_ptr_nonnull(strstr(r.body, lengths[i]));   /* the size as the client said it */
        resp_free(&r);
    }
}
END_TEST

/* A body sent with a GET is not read (it means nothing to a GET): the
 * answer comes at once, even for a body far over --max-upload. */
START_TEST(test_get_with_a_body_is_answered_unread)
{
    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    char head[256];
    snprintf(head, sizeof head,
             "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             4 * TEST_MAX_UPLOAD);
    ck_assert_int_eq(send_all(fd, head, strlen(head)), 0);
    http_resp r;
    ck_assert_int_eq(read_response(fd, false, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"ok\""));
    resp_free(&r);
    close(fd);
}
END_TEST

/* The absolute form of a request target, which clients send to proxies,
 * names the same resource (RFC 9112 3.2.2). */
START_TEST(test_absolute_form_target)
{
    char target[128];
    snprintf(target, sizeof target, "http://127.0.0.1:%u/healthz", port);
    expect_status(port, "GET", target, 200);
    http_resp r = request_once(port, "GET", "HTTP://example.org/nope", NULL, NULL, 0);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    r = request_once(port, "GET", "http://example.org", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);   /* the drawing page, at "/" */
    resp_free(&r);
    /* no host is no absolute form (it served the page) */
    static const char *const hostless[] = {"http://", "http:///healthz"};
    for (size_t i = 0; i < sizeof hostless / sizeof hostless[0]; i++) {
        r = request_once(port, "GET", hostless[i], NULL, NULL, 0);
        ck_assert_msg(r.status == 404, "%s: %d", hostless[i], r.status);
        resp_free(&r);
    }
}
END_TEST

/* One chunk of a chunked body: 64 KiB of 'x' with its size line and CRLF.
 * Returns the chunk (static) and its length in *len. */
#define X_CHUNK_DATA 65536
static const char *x_chunk(size_t *len)
{
    static char chunk[X_CHUNK_DATA + 16];
    int n = snprintf(chunk, sizeof chunk, "%x\r\n", X_CHUNK_DATA);
    memset(chunk + n, 'x', X_CHUNK_DATA);
    memcpy(chunk + n + X_CHUNK_DATA, "\r\n", 2);
    *len = (size_t)n + X_CHUNK_DATA + 2;
    return chunk;
}

/* A connection with a chunked POST /predict's headers sent. */
static int start_chunked_upload(void)
{
    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    const char *head = "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    ck_assert_int_eq(send_all(fd, head, strlen(head)), 0);
    return fd;
}

START_TEST(test_error_streamed_body_too_large)
{
    /* A chunked upload has no Content-Length: the server must stop reading
     * once the bytes pass the limit (it closes the connection) and keep
     * serving everyone else. */
    int fd = start_chunked_upload();
    size_t chunk_len;
    const char *chunk = x_chunk(&chunk_len);
    size_t sent = 0;
    bool refused = false;
    while (sent < 4 * TEST_MAX_UPLOAD) {
        if (send_all(fd, chunk, chunk_len) != 0) {
            refused = true;
            break;
        }
        sent += X_CHUNK_DATA;
    }
    if (!refused) {
        /* Everything fitted in socket buffers: the refusal shows as the
         * connection closing without an answer. */
        char buf[64];
        errno = 0;
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        ck_assert_msg(got == 0 || (got < 0 && errno == ECONNRESET),
                      "the connection stayed open: recv %zd (%s)", got, strerror(errno));
    }
    close(fd);

    expect_status(port, "GET", "/healthz", 200);
    const char *series = "digits_http_requests_total{handler=\"/predict\",code=\"413\"}";
    char *m = scrape_when(series, 1);
    ck_assert_double_eq(metric_value(m, series), 1);
    free(m);
}
END_TEST

/* The limit is inclusive: a body of exactly --max-upload bytes is read in
 * full (and then refused for not being a PNG), declared or chunked. */
START_TEST(test_body_at_the_limit_is_read)
{
    uint8_t *body = malloc(TEST_MAX_UPLOAD);
    ck_assert_ptr_nonnull(body);
    memset(body, 'x', TEST_MAX_UPLOAD);
    http_resp r = post_png(body, TEST_MAX_UPLOAD);
    assert_error(&r, 400, "not_png");
    resp_free(&r);
    free(body);

    int fd = start_chunked_upload();
    size_t chunk_len;
    const char *chunk = x_chunk(&chunk_len);
    for (size_t sent = 0; sent < TEST_MAX_UPLOAD; sent += X_CHUNK_DATA)
        ck_assert_int_eq(send_all(fd, chunk, chunk_len), 0);
    ck_assert_int_eq(send_all(fd, "0\r\n\r\n", 5), 0);
    ck_assert_int_eq(read_response(fd, false, &r), 0);
    assert_error(&r, 400, "not_png");
    resp_free(&r);
    close(fd);
}
END_TEST

START_TEST(test_error_too_many_pixels)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_BAR, 600, 600, 1, &png, &len);   /* 360000 > 512*512 */
    ck_assert_uint_lt(len, TEST_MAX_UPLOAD);
    http_resp r = post_png(png, len);
    assert_error(&r, 413, "too_many_pixels");
    resp_free(&r);
    free(png);
    /* The limit is inclusive: exactly --max-pixels is read, one row more is not. */
    make_png(SHAPE_BAR, 512, 512, 1, &png, &len);
    r = post_png(png, len);
    assert_single_answer(&r);
    resp_free(&r);
    free(png);
    make_png(SHAPE_BAR, 512, 513, 1, &png, &len);
    r = post_png(png, len);
    assert_error(&r, 413, "too_many_pixels");
    resp_free(&r);
    free(png);
}
END_TEST

START_TEST(test_error_unsupported_media_type)
{
    http_resp r = request_once(port, "POST", "/predict", "Content-Type: text/plain\r\n",
                               "hello", 5);
    assert_error(&r, 415, "unsupported_media_type");
    resp_free(&r);
    r = request_once(port, "POST", "/predict", "Content-Type: image/jpeg\r\n", "\xff\xd8\xff", 3);
    assert_error(&r, 415, "unsupported_media_type");
    ck_assert_msg(strstr(r.body, "convert the picture to PNG") != NULL, "%s", r.body);
    resp_free(&r);
    /* With no body there is nothing to refuse before reading it: the 415
     * leaves the keep-alive connection open for the next request. */
    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(http_do(fd, "POST", "/predict", "Content-Type: text/plain\r\n", "", 0, &r), 0);
    assert_error(&r, 415, "unsupported_media_type");
    ck_assert(!r.closed);
    resp_free(&r);
    ck_assert_int_eq(http_do(fd, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    close(fd);
    /* curl --data-binary's own type: a form is refused, saying how to send
     * the picture; a PNG under it (the README's command without its -H) is
     * read, as no form body starts with the PNG signature */
    r = request_once(port, "POST", "/predict",
                     "Content-Type: application/x-www-form-urlencoded\r\n", "a=b", 3);
    assert_error(&r, 415, "unsupported_media_type");
    ck_assert_ptr_nonnull(strstr(r.body, "Content-Type: image/png"));
    resp_free(&r);
    uint8_t *png;
    size_t len;
    make_png(SHAPE_SEVEN, 28, 28, 1, &png, &len);
    r = request_once(port, "POST", "/predict",
                     "Content-Type: application/x-www-form-urlencoded\r\n", png, len);
    assert_single_answer(&r);
    resp_free(&r);
    free(png);
}
END_TEST

START_TEST(test_error_no_ink)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_BLANK, 28, 28, 1, &png, &len);
    http_resp r = post_png(png, len);
    assert_error(&r, 422, "no_ink");
    resp_free(&r);
    free(png);
}
END_TEST

/* Pencil in a dim photo: a 7 only 22 grey levels darker than noisy paper.
 * By default that is refused as faint (not as blank: there is ink, and the
 * client is told how to have it read); ?faint=1 reads it and says so. */
START_TEST(test_faint_ink)
{
    /* The 7 in a 100 px square of a 300 px page: faint ink must be a small
     * part of the picture, or it is taken for the paper's noise. */
    const int side = 300, digit = 100, at = 100;
    image img;
    ck_assert_int_eq(image_alloc(&img, side, side, 1), 0);
    uint32_t seed = 5;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            seed = seed * 1664525u + 1013904223u;
            int noise = (int)((seed >> 8) % 7) - 3;
            bool ink = x >= at && x < at + digit && y >= at && y < at + digit &&
                       shape_ink(SHAPE_SEVEN, x - at, y - at, digit, digit);
            img.pixels[y * side + x] = (uint8_t)(200 + noise - (ink ? 22 : 0));
        }
    uint8_t *png;
    size_t len;
    ck_assert_int_eq(png_encode_memory(&img, &png, &len), PNG_IO_OK);
    image_free(&img);

    http_resp r = post_png(png, len);
    assert_error(&r, 422, "faint_ink");
    ck_assert_ptr_nonnull(strstr(r.body, "faint=1"));
    resp_free(&r);

    r = request_once(port, "POST", "/predict?faint=1&explain=1", PNG_HEADER, png, len);
    assert_single_answer(&r);
    cJSON *j = json_body(&r);
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "explain"), "preprocess");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pp, "faint")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pp, "inverted")));
    cJSON_Delete(j);
    resp_free(&r);
    free(png);
}
END_TEST

START_TEST(test_error_not_found)
{
    http_resp r = request_once(port, "GET", "/nope", NULL, NULL, 0);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    r = request_once(port, "GET", "/predict/", NULL, NULL, 0);
    assert_error(&r, 404, "not_found");
    resp_free(&r);
    /* A %00 must not cut the path short (it made /metrics%00.png the
     * metrics, past a proxy rule against /metrics); other escapes decode. */
    static const char *const cut[] = {"/metrics%00.png", "/healthz%00", "/%00"};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++)
        expect_status(port, "GET", cut[i], 404);
    expect_status(port, "GET", "/%68ealthz", 200);
    /* GET / is the drawing page, with its own policy (tests/shell/browser.sh
     * tries it in a browser) */
    r = request_once(port, "GET", "/", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    char v[512];
    ck_assert_ptr_nonnull(resp_header(&r, "Content-Type", v, sizeof v));
    ck_assert_str_eq(v, "text/html; charset=utf-8");
    assert_security_headers(&r);
    ck_assert_ptr_nonnull(resp_header(&r, "Content-Security-Policy", v, sizeof v));
    ck_assert_ptr_nonnull(strstr(v, "script-src 'self'"));
    ck_assert_ptr_nonnull(strstr(r.body, "<script src=\"/app.js\""));
    resp_free(&r);
}
END_TEST

START_TEST(test_error_method_not_allowed)
{
    char v[64];
    http_resp r = request_once(port, "GET", "/predict", NULL, NULL, 0);
    assert_error(&r, 405, "method_not_allowed");
    ck_assert_ptr_nonnull(resp_header(&r, "Allow", v, sizeof v));
    ck_assert_str_eq(v, "POST");
    resp_free(&r);
    const char *get_only[] = {"/metrics", "/healthz", "/readyz", "/model"};
    for (int i = 0; i < 4; i++) {
        r = request_once(port, i % 2 ? "DELETE" : "POST", get_only[i], NULL, "x", 1);
        assert_error(&r, 405, "method_not_allowed");
        ck_assert_ptr_nonnull(resp_header(&r, "Allow", v, sizeof v));
        ck_assert_str_eq(v, "GET, HEAD");
        resp_free(&r);
    }
}
END_TEST

START_TEST(test_error_bad_multipart)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_BAR, 28, 28, 1, &png, &len);
    form_part good = {"image", "d.png", "image/png", png, len};
    size_t body_len;
    uint8_t *body = multipart_body(&good, 1, &body_len);

    /* no boundary parameter */
    http_resp r = request_once(port, "POST", "/predict", "Content-Type: multipart/form-data\r\n",
                               body, body_len);
    assert_error(&r, 400, "bad_multipart");
    resp_free(&r);
    /* cut off before the closing delimiter */
    r = request_once(port, "POST", "/predict", MULTIPART_HEADER, body, body_len - 20);
    assert_error(&r, 400, "bad_multipart");
    resp_free(&r);
    /* a different boundary than the body uses */
    r = request_once(port, "POST", "/predict",
                     "Content-Type: multipart/form-data; boundary=elsewhere\r\n", body, body_len);
    assert_error(&r, 400, "bad_multipart");
    resp_free(&r);
    free(body);

    /* well-formed, but no part called "image": the name is matched whole,
     * so "images" and "imag" are other fields */
    static const char *const others[] = {"file", "images", "imag", "Image"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        form_part other = {others[i], "d.png", "image/png", png, len};
        body = multipart_body(&other, 1, &body_len);
        r = request_once(port, "POST", "/predict", MULTIPART_HEADER, body, body_len);
        assert_error(&r, 400, "no_image_part");
        resp_free(&r);
        free(body);
    }

    /* an empty image part */
    form_part empty = {"image", "d.png", "image/png", png, 0};
    body = multipart_body(&empty, 1, &body_len);
    r = request_once(port, "POST", "/predict", MULTIPART_HEADER, body, body_len);
    assert_error(&r, 400, "empty_body");
    resp_free(&r);
    free(body);
    free(png);
}
END_TEST

START_TEST(test_error_multipart_part_errors_name_the_part)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_BAR, 28, 28, 1, &png, &len);
    form_part parts[2] = {{"image", "a.png", "image/png", png, len},
                          {"image", "b.png", "image/png", (const uint8_t *)"nope", 4}};
    size_t body_len;
    uint8_t *body = multipart_body(parts, 2, &body_len);
    http_resp r = request_once(port, "POST", "/predict", MULTIPART_HEADER, body, body_len);
    assert_error(&r, 400, "not_png");
    cJSON *j = json_body(&r);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "part")->valueint, 1);
    cJSON_Delete(j);
    resp_free(&r);
    free(body);
    free(png);
}
END_TEST

START_TEST(test_error_too_many_parts)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_BAR, 28, 28, 1, &png, &len);
    form_part parts[PREDICT_MAX_PARTS + 1];
    for (int i = 0; i <= PREDICT_MAX_PARTS; i++)
        parts[i] = (form_part){"image", "d.png", "image/png", png, len};
    size_t body_len;
    /* one image more than a request may carry */
    uint8_t *body = multipart_body(parts, PREDICT_MAX_IMAGES + 1, &body_len);
    http_resp r = request_once(port, "POST", "/predict", MULTIPART_HEADER, body, body_len);
    assert_error(&r, 413, "too_many_images");
    resp_free(&r);
    free(body);
    /* exactly the maximum is fine */
    body = multipart_body(parts, PREDICT_MAX_IMAGES, &body_len);
    r = request_once(port, "POST", "/predict", MULTIPART_HEADER, body, body_len);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    free(body);
    /* and more parts of any name than the parser keeps */
    for (int i = 0; i <= PREDICT_MAX_PARTS; i++)
        parts[i] = (form_part){"field", NULL, NULL, (const uint8_t *)"v", 1};
    body = multipart_body(parts, PREDICT_MAX_PARTS + 1, &body_len);
    r = request_once(port, "POST", "/predict", MULTIPART_HEADER, body, body_len);
    assert_error(&r, 413, "too_many_parts");
    resp_free(&r);
    free(body);
    free(png);
}
END_TEST

/* --- connections ---------------------------------------------------------- */

/* The ID in X-Request-Id: the client's when it is a plain token, else one
 * of ours, on answers and refusals alike. */
START_TEST(test_request_id_header)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_SEVEN, 28, 28, 1, &png, &len);
    char v[256], first[256];
    http_resp r = request_once(port, "POST", "/predict", PNG_HEADER "X-Request-Id: abc-123\r\n",
                               png, len);
    assert_single_answer(&r);
    assert_header(&r, "X-Request-Id", "abc-123");
    resp_free(&r);
    r = request_once(port, "GET", "/nope", "x-request-id: 3f2504e0-4f89-11d3\r\n", NULL, 0);
    assert_error(&r, 404, "not_found");
    assert_header(&r, "X-Request-Id", "3f2504e0-4f89-11d3");
    resp_free(&r);

    /* none sent: a fresh one each time */
    r = request_once(port, "GET", "/healthz", NULL, NULL, 0);
    ck_assert_ptr_nonnull(resp_header(&r, "X-Request-Id", first, sizeof first));
    ck_assert_uint_eq(strlen(first), REQUEST_ID_GENERATED_LEN);
    resp_free(&r);
    r = request_once(port, "GET", "/healthz", NULL, NULL, 0);
    ck_assert_ptr_nonnull(resp_header(&r, "X-Request-Id", v, sizeof v));
    ck_assert_uint_eq(strlen(v), REQUEST_ID_GENERATED_LEN);
    ck_assert_str_ne(v, first);
    resp_free(&r);

    /* one a log line or a header could trip over is replaced, not echoed */
    r = request_once(port, "GET", "/healthz", "X-Request-Id: two words;x=\"y\"\r\n", NULL, 0);
    ck_assert_ptr_nonnull(resp_header(&r, "X-Request-Id", v, sizeof v));
    ck_assert_uint_eq(strlen(v), REQUEST_ID_GENERATED_LEN);
    resp_free(&r);

    /* a refusal before the body is read carries it too */
    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    char head[256];
    snprintf(head, sizeof head,
             "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
             "X-Request-Id: big-one\r\nContent-Length: %zu\r\n\r\n", TEST_MAX_UPLOAD + 1);
    ck_assert_int_eq(send_all(fd, head, strlen(head)), 0);
    ck_assert_int_eq(read_response(fd, false, &r), 0);
    assert_error(&r, 413, "payload_too_large");
    assert_header(&r, "X-Request-Id", "big-one");
    resp_free(&r);
    close(fd);
    free(png);
}
END_TEST

/* --cors-origin: a preflight from a listed origin is answered 204 with what
 * a browser checks; answers to it name the origin; other origins, and
 * every origin on a server without the flag, get no CORS header at all. */
START_TEST(test_cors)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_SEVEN, 28, 28, 1, &png, &len);
    char v[256];
    const char *from_app = "Origin: https://app.example\r\n";

    /* the default server: no CORS */
    http_resp r = request_once(port, "POST", "/predict", PNG_HEADER "Origin: https://app.example\r\n",
                               png, len);
    assert_single_answer(&r);
    assert_header(&r, "Access-Control-Allow-Origin", NULL);
    assert_header(&r, "Vary", NULL);
    resp_free(&r);
    r = request_once(port, "OPTIONS", "/predict",
                     "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n",
                     NULL, 0);
    assert_error(&r, 405, "method_not_allowed");
    resp_free(&r);

    teardown();
    server_cors_origins = "https://app.example, http://localhost:3000";
    setup();
    server_cors_origins = NULL;

    r = request_once(port, "OPTIONS", "/predict",
                     "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n"
                     "Access-Control-Request-Headers: content-type, x-request-id\r\n",
                     NULL, 0);
    ck_assert_int_eq(r.status, 204);
    ck_assert_uint_eq(r.body_len, 0);
    assert_security_headers(&r);
    assert_header(&r, "Access-Control-Allow-Origin", "https://app.example");
    assert_header(&r, "Access-Control-Allow-Methods", "POST");
    ck_assert_ptr_nonnull(resp_header(&r, "Access-Control-Allow-Headers", v, sizeof v));
    ck_assert_ptr_nonnull(strstr(v, "Content-Type"));
    ck_assert_ptr_nonnull(strstr(v, "X-Request-Id"));
    ck_assert_ptr_nonnull(resp_header(&r, "Access-Control-Max-Age", v, sizeof v));
    assert_header(&r, "Vary", "Origin");
    resp_free(&r);

    r = request_once(port, "OPTIONS", "/metrics",
                     "Origin: http://localhost:3000\r\nAccess-Control-Request-Method: GET\r\n",
                     NULL, 0);
    ck_assert_int_eq(r.status, 204);
    assert_header(&r, "Access-Control-Allow-Methods", "GET, HEAD");
    resp_free(&r);

    /* the real request: the page may read the answer and its request ID */
    char headers[256];
    snprintf(headers, sizeof headers, "%s%s", PNG_HEADER, from_app);
    r = request_once(port, "POST", "/predict", headers, png, len);
    assert_single_answer(&r);
    assert_header(&r, "Access-Control-Allow-Origin", "https://app.example");
    ck_assert_ptr_nonnull(resp_header(&r, "Access-Control-Expose-Headers", v, sizeof v));
    ck_assert_ptr_nonnull(strstr(v, "X-Request-Id"));
    ck_assert_ptr_nonnull(strstr(v, "Retry-After"));
    assert_header(&r, "Vary", "Origin");
    resp_free(&r);
    /* origins are compared as hosts are, without regard to case */
    r = request_once(port, "OPTIONS", "/healthz",
                     "Origin: HTTPS://App.Example\r\nAccess-Control-Request-Method: HEAD\r\n",
                     NULL, 0);
    ck_assert_int_eq(r.status, 204);
    assert_header(&r, "Access-Control-Allow-Origin", "HTTPS://App.Example");
    resp_free(&r);
    /* errors too, or the page could not read why */
    r = request_once(port, "GET", "/nope", from_app, NULL, 0);
    assert_error(&r, 404, "not_found");
    ck_assert_ptr_nonnull(resp_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    resp_free(&r);

    /* a method the path does not have is no preflight */
    r = request_once(port, "OPTIONS", "/predict",
                     "Origin: https://app.example\r\nAccess-Control-Request-Method: DELETE\r\n",
                     NULL, 0);
    assert_error(&r, 405, "method_not_allowed");
    assert_header(&r, "Access-Control-Allow-Methods", NULL);
    resp_free(&r);

    /* an origin not listed, or one that only looks like it */
    const char *strangers[] = {"https://evil.example", "https://app.example.evil.example",
                               "http://app.example", "null"};
    for (size_t i = 0; i < sizeof strangers / sizeof strangers[0]; i++) {
        snprintf(headers, sizeof headers, "Origin: %s\r\nAccess-Control-Request-Method: POST\r\n",
                 strangers[i]);
        r = request_once(port, "OPTIONS", "/predict", headers, NULL, 0);
        assert_error(&r, 405, "method_not_allowed");
        assert_header(&r, "Access-Control-Allow-Origin", NULL);
        resp_free(&r);
        snprintf(headers, sizeof headers, "%sOrigin: %s\r\n", PNG_HEADER, strangers[i]);
        r = request_once(port, "POST", "/predict", headers, png, len);
        assert_single_answer(&r);
        assert_header(&r, "Access-Control-Allow-Origin", NULL);
        /* the answer still depends on the Origin, and says so */
        ck_assert_ptr_nonnull(resp_header(&r, "Vary", v, sizeof v));
        resp_free(&r);
    }

    /* '*': every origin, named as '*', and nothing varies by it */
    teardown();
    server_cors_origins = "*";
    setup();
    server_cors_origins = NULL;
    snprintf(headers, sizeof headers, "%s%s", PNG_HEADER, "Origin: https://anyone.example\r\n");
    r = request_once(port, "POST", "/predict", headers, png, len);
    assert_single_answer(&r);
    assert_header(&r, "Access-Control-Allow-Origin", "*");
    assert_header(&r, "Vary", NULL);
    resp_free(&r);
    r = request_once(port, "OPTIONS", "/predict",
                     "Origin: https://anyone.example\r\nAccess-Control-Request-Method: POST\r\n",
                     NULL, 0);
    ck_assert_int_eq(r.status, 204);
    assert_header(&r, "Access-Control-Allow-Origin", "*");
    resp_free(&r);
    /* no Origin, no browser: neither a preflight nor a CORS header */
    r = request_once(port, "OPTIONS", "/predict", "Access-Control-Request-Method: POST\r\n",
                     NULL, 0);
    assert_error(&r, 405, "method_not_allowed");
    assert_header(&r, "Access-Control-Allow-Origin", NULL);
    resp_free(&r);
    free(png);
}
END_TEST

START_TEST(test_keep_alive_across_answers_and_errors)
{
    uint8_t *png, *blank;
    size_t len, blank_len;
    make_png(SHAPE_SEVEN, 28, 28, 1, &png, &len);
    make_png(SHAPE_BLANK, 28, 28, 1, &blank, &blank_len);
    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    http_resp r;
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(http_do(fd, "GET", "/healthz", NULL, NULL, 0, &r), 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert(!r.closed);
        resp_free(&r);
        ck_assert_int_eq(http_do(fd, "POST", "/predict", PNG_HEADER, png, len, &r), 0);
        assert_single_answer(&r);
        ck_assert(!r.closed);
        resp_free(&r);
        ck_assert_int_eq(http_do(fd, "GET", "/missing", NULL, NULL, 0, &r), 0);
        ck_assert_int_eq(r.status, 404);
        ck_assert(!r.closed);
        resp_free(&r);
        ck_assert_int_eq(http_do(fd, "POST", "/predict", PNG_HEADER, blank, blank_len, &r), 0);
        ck_assert_int_eq(r.status, 422);
        ck_assert(!r.closed);
        resp_free(&r);
        ck_assert_int_eq(http_do(fd, "GET", "/model", NULL, NULL, 0, &r), 0);
        ck_assert_int_eq(r.status, 200);
        resp_free(&r);
    }
    close(fd);
    free(png);
    free(blank);
}
END_TEST

/* --- metrics -------------------------------------------------------------- */

START_TEST(test_metrics_after_traffic)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_BAR, 28, 28, 1, &png, &len);
    http_resp r = post_png(png, len);
    int digit = assert_single_answer(&r);
    resp_free(&r);
    r = request_once(port, "GET", "/nope", NULL, NULL, 0);
    resp_free(&r);
    free(png);

    free(scrape_when("digits_http_requests_total{handler=\"/predict\",code=\"200\"}", 1));
    char *m = scrape_when("digits_http_requests_total{handler=\"other\",code=\"404\"}", 1);
    char series[256];
    snprintf(series, sizeof series, "digits_model_info{id=\"%s\",arch=\"", served_id);
    ck_assert_msg(strstr(m, series) != NULL, "no model info in:\n%s", m);
    double acc = metric_value(m, "digits_model_test_accuracy");
    ck_assert(acc >= 0 && acc <= 1);
    ck_assert_double_eq(
        metric_value(m, "digits_http_requests_total{handler=\"/predict\",code=\"200\"}"), 1);
    ck_assert_double_eq(
        metric_value(m, "digits_http_requests_total{handler=\"other\",code=\"404\"}"), 1);
    ck_assert_double_eq(metric_value(m, "digits_http_request_duration_seconds_count{handler=\"/predict\"}"), 1);
    ck_assert_double_eq(metric_value(m, "digits_http_request_duration_seconds_bucket{handler=\"/predict\",le=\"+Inf\"}"), 1);
    ck_assert(metric_value(m, "digits_http_request_duration_seconds_sum{handler=\"/predict\"}") > 0);
    const char *stages[] = {"decode", "preprocess", "forward"};
    for (int i = 0; i < 3; i++) {
        snprintf(series, sizeof series, "digits_predict_stage_duration_seconds_count{stage=\"%s\"}",
                 stages[i]);
        ck_assert_double_eq(metric_value(m, series), 1);
    }
    double total = 0;
    for (int d = 0; d < 10; d++) {
        snprintf(series, sizeof series, "digits_predictions_total{digit=\"%d\"}", d);
        double v = metric_value(m, series);
        ck_assert(v >= 0);
        ck_assert_double_eq(v, d == digit ? 1 : 0);
        total += v;
    }
    ck_assert_double_eq(total, 1);
    /* the scrape itself is in flight (an earlier scrape may not have
     * completed yet either) */
    double in_flight = metric_value(m, "digits_http_requests_in_flight");
    ck_assert(in_flight >= 1 && in_flight <= 3);
    ck_assert_double_eq(metric_value(m, "digits_model_reloads_total{result=\"success\"}"), 0);
    const char *process[] = {"process_cpu_seconds_total", "process_resident_memory_bytes",
                             "process_virtual_memory_bytes", "process_open_fds",
                             "process_max_fds", "process_start_time_seconds"};
    for (int i = 0; i < 6; i++)   /* CPU time may still round to 0 */
        ck_assert_msg(metric_value(m, process[i]) > (i == 0 ? -1 : 0), "%s missing", process[i]);
    /* every sample belongs to a family with HELP and TYPE */
    ck_assert_ptr_nonnull(strstr(m, "# TYPE digits_http_request_duration_seconds histogram\n"));
    ck_assert_ptr_nonnull(strstr(m, "# TYPE digits_http_requests_total counter\n"));
    ck_assert_double_eq(metric_value(m, "digits_http_connections_max"), TEST_MAX_CONNECTIONS);
    free(m);
}
END_TEST

START_TEST(test_metrics_count_open_connections)
{
    /* Earlier connections close as their clients do; wait for the scrape's
     * own to be the only one. */
    const char *open_now = "digits_http_connections_open";
    char *m = scrape_when(open_now, 1);
    ck_assert_double_eq(metric_value(m, open_now), 1);
    free(m);
    /* Two keep-alive clients, idle after an answer, still hold connections. */
    int fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = tcp_connect(port);
        ck_assert_int_ge(fds[i], 0);
        http_resp r;
        ck_assert_int_eq(http_do(fds[i], "GET", "/healthz", NULL, NULL, 0, &r), 0);
        ck_assert_int_eq(r.status, 200);
        resp_free(&r);
    }
    m = scrape_when(open_now, 3);   /* theirs and the scrape's */
    ck_assert_double_eq(metric_value(m, open_now), 3);
    free(m);
    for (int i = 0; i < 2; i++)
        close(fds[i]);
    m = scrape_when(open_now, 1);
    ck_assert_double_eq(metric_value(m, open_now), 1);
    free(m);
}
END_TEST

/* --- reloads -------------------------------------------------------------- */

static char *model_id_now(void)
{
    http_resp r = request_once(port, "GET", "/model", NULL, NULL, 0);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = json_body(&r);
    char *id = strdup(cJSON_GetObjectItemCaseSensitive(j, "id")->valuestring);
    cJSON_Delete(j);
    resp_free(&r);
    return id;
}

START_TEST(test_reload_good_model)
{
    write_test_model(model_path, "reloaded-model-b", 16, 10);
    char err[512];
    ck_assert_msg(http_server_reload(srv, err, sizeof err) == 0, "%s", err);
    char *id = model_id_now();
    ck_assert_str_eq(id, "reloaded-model-b");
    free(id);
    snprintf(served_id, sizeof served_id, "reloaded-model-b");
    uint8_t *png;
    size_t len;
    make_png(SHAPE_BAR, 28, 28, 1, &png, &len);
    http_resp r = post_png(png, len);
    assert_single_answer(&r);   /* checks model_id too */
    resp_free(&r);
    free(png);
    char *m = scrape();
    ck_assert_double_eq(metric_value(m, "digits_model_reloads_total{result=\"success\"}"), 1);
    ck_assert_double_eq(metric_value(m, "digits_model_reloads_total{result=\"failure\"}"), 0);
    ck_assert_ptr_nonnull(strstr(m, "digits_model_info{id=\"reloaded-model-b\",arch=\"784-16-10\"} 1"));
    free(m);
}
END_TEST

/* /model and /metrics give the test-set accuracy a model file records only
 * when it is a fraction in 0..1: nothing is better than a wrong figure. */
START_TEST(test_model_accuracy_only_when_plausible)
{
    static const struct {
        const char *recorded;   /* NULL: the file records none */
        double shown;           /* < 0: null on /model, no gauge on /metrics */
    } cases[] = {
        {"0.75", 0.75}, {"1", 1}, {"0", 0}, {NULL, -1}, {"1.5", -1},
        {"-0.1", -1},   {"0.9x", -1}, {"", -1}, {"nan", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char id[32];
        snprintf(id, sizeof id, "accuracy-%zu", i);
        write_test_model_accuracy(model_path, id, 16, 10, cases[i].recorded);
        char err[512];
        ck_assert_msg(http_server_reload(srv, err, sizeof err) == 0, "%s", err);
        http_resp r = request_once(port, "GET", "/model", NULL, NULL, 0);
        ck_assert_int_eq(r.status, 200);
        cJSON *j = json_body(&r);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "id")->valuestring, id);
        const cJSON *acc = cJSON_GetObjectItemCaseSensitive(j, "test_accuracy");
        char *m = scrape();
        if (cases[i].shown < 0) {
            ck_assert_msg(cJSON_IsNull(acc), "%s shown as accuracy", cases[i].recorded);
            ck_assert_ptr_null(strstr(m, "digits_model_test_accuracy"));
        } else {
            ck_assert(cJSON_IsNumber(acc));
            ck_assert_double_eq(acc->valuedouble, cases[i].shown);
            ck_assert_double_eq(metric_value(m, "digits_model_test_accuracy"), cases[i].shown);
        }
        free(m);
        cJSON_Delete(j);
        resp_free(&r);
    }
}
END_TEST

START_TEST(test_reload_follows_the_model_pipeline)
{
    /* A model records how its inputs were prepared; the server applies it. */
    const char *names[] = {"preprocess-deskew", "preprocess", "raw"};
    const char *applied[] = {"preprocess-deskew", "preprocess", "preprocess"};
    uint8_t *png;
    size_t len;
    make_png(SHAPE_SEVEN, 40, 40, 1, &png, &len);
    for (int i = 0; i < 3; i++) {
        write_test_model_with_pipeline(model_path, names[i], names[i]);
        char err[512];
        ck_assert_msg(http_server_reload(srv, err, sizeof err) == 0, "%s", err);
        http_resp r = request_once(port, "GET", "/model", NULL, NULL, 0);
        cJSON *j = json_body(&r);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "preprocess")->valuestring, applied[i]);
        cJSON_Delete(j);
        resp_free(&r);
        snprintf(served_id, sizeof served_id, "%s", names[i]);
        r = request_once(port, "POST", "/predict?explain=1", PNG_HEADER, png, len);
        ck_assert_int_eq(assert_single_answer(&r), expected_for(png, len).digit);
        j = json_body(&r);
        const cJSON *pp = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "explain"), "preprocess");
        ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(pp, "skew")));
        cJSON_Delete(j);
        resp_free(&r);
    }
    free(png);
}
END_TEST

START_TEST(test_reload_bad_model_keeps_old)
{
    char *before = model_id_now();
    char err[512];
    /* garbage */
    write_file(model_path, "not a model", 11);
    ck_assert_int_eq(http_server_reload(srv, err, sizeof err), -1);
    ck_assert(strlen(err) > 0);
    /* a valid model file that cannot serve digits (5 classes) */
    write_test_model(model_path, "five-classes", 16, 5);
    ck_assert_int_eq(http_server_reload(srv, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "10"));
    /* a model trained behind a preprocessing this server does not have */
    write_test_model_with_pipeline(model_path, "future", "preprocess-from-the-future");
    ck_assert_int_eq(http_server_reload(srv, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "preprocess-from-the-future"));
    /* 784 inputs, but not as the 28x28 pixels the preprocessing hands over */
    model bad;
    write_test_model(model_path, "49x16", 16, 10);
    ck_assert_msg(model_load(&bad, model_path, err, sizeof err) == 0, "%s", err);
    bad.input_width = 49;
    bad.input_height = 16;
    ck_assert_msg(model_save(&bad, model_path, err, sizeof err) == 0, "%s", err);
    model_free(&bad);
    ck_assert_int_eq(http_server_reload(srv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "49x16") && strstr(err, "28x28"), "%s", err);
    /* weights the file format allows that overflow in the forward pass (a
     * diverged training run): only the trial run can tell */
    write_test_model(model_path, "diverged", 16, 10);
    ck_assert_msg(model_load(&bad, model_path, err, sizeof err) == 0, "%s", err);
    for (size_t i = 0; i < bad.n_params; i++)
        bad.params[i] = 1e30f;
    ck_assert_msg(model_save(&bad, model_path, err, sizeof err) == 0, "%s", err);
    model_free(&bad);
    ck_assert_int_eq(http_server_reload(srv, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "non-finite") != NULL, "%s", err);
    /* a missing file */
    unlink(model_path);
    ck_assert_int_eq(http_server_reload(srv, err, sizeof err), -1);

    char *after = model_id_now();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    expect_status(port, "GET", "/readyz", 200);
    char *m = scrape();
    ck_assert_double_eq(metric_value(m, "digits_model_reloads_total{result=\"failure\"}"), 6);
    ck_assert_double_eq(metric_value(m, "digits_model_reloads_total{result=\"success\"}"), 0);
    free(m);
}
END_TEST

typedef struct {
    const uint8_t *png;
    size_t len;
    int ok;
    int bad;
} hammer_args;

static void *hammer(void *arg)
{
    hammer_args *a = arg;
    int fd = tcp_connect(port);
    for (int i = 0; i < 60 && fd >= 0; i++) {
        http_resp r;
        if (http_do(fd, "POST", "/predict", PNG_HEADER, a->png, a->len, &r) != 0) {
            a->bad++;
            break;
        }
        cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
        const cJSON *id = j ? cJSON_GetObjectItemCaseSensitive(j, "model_id") : NULL;
        if (r.status == 200 && cJSON_IsString(id) &&
            (strcmp(id->valuestring, "swap-a") == 0 || strcmp(id->valuestring, "swap-b") == 0 ||
             strcmp(id->valuestring, served_id) == 0))
            a->ok++;
        else
            a->bad++;
        cJSON_Delete(j);
        resp_free(&r);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

START_TEST(test_reload_under_load)
{
    /* Requests in flight while the model is swapped must each see one whole
     * model (under the sanitizers this also catches use-after-free). */
    uint8_t *png;
    size_t len;
    make_png(SHAPE_RING, 28, 28, 1, &png, &len);
    char other[PATH_MAX + 32];
    snprintf(other, sizeof other, "%s/other.bin", tmp_dir);
    pthread_t t[4];
    hammer_args args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (hammer_args){png, len, 0, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
    }
    char err[512];
    for (int i = 0; i < 12; i++) {
        write_test_model(model_path, i % 2 ? "swap-a" : "swap-b", 16 + 8 * (i % 3), 10);
        ck_assert_msg(http_server_reload(srv, err, sizeof err) == 0, "%s", err);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(args[i].bad, 0);
        ck_assert_int_eq(args[i].ok, 60);
    }
    free(png);
}
END_TEST

/* --- draining ------------------------------------------------------------- */

START_TEST(test_drain_readiness_and_new_connections)
{
    int fd = tcp_connect(port), live = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(live, 0);
    http_resp r;
    ck_assert_int_eq(http_do(fd, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    ck_assert_int_eq(http_do(live, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);

    http_server_begin_drain(srv, 10000);

    /* The open connection still gets answers: not ready, and please go. */
    ck_assert_int_eq(http_do(fd, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    assert_error(&r, 503, "draining");
    ck_assert(r.closed);
    resp_free(&r);
    close(fd);
    /* Liveness is unaffected by draining: an orchestrator must not kill a
     * server that is finishing its work. */
    ck_assert_int_eq(http_do(live, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(r.closed);
    resp_free(&r);
    close(live);
    /* ...but nobody new gets in: a new connection is closed unanswered. */
    int late = tcp_connect(port);
    if (late >= 0) {
        ck_assert_int_ne(http_do(late, "GET", "/healthz", NULL, NULL, 0, &r), 0);
        close(late);
    }
    /* The admin port still takes new connections, so a probe sees why. */
    int probe = tcp_connect(admin_port);
    ck_assert_int_ge(probe, 0);
    ck_assert_int_eq(http_do(probe, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    assert_error(&r, 503, "draining");
    resp_free(&r);
    close(probe);
    probe = tcp_connect(admin_port);
    ck_assert_int_ge(probe, 0);
    ck_assert_int_eq(http_do(probe, "GET", "/healthz", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    close(probe);
    ck_assert_int_eq(http_server_drain(srv, 1000), 0);
}
END_TEST

/* Sends a /predict request's headers and half the body of a 28x28 PNG, and
 * waits until the server has the request in flight. The PNG goes to *png
 * and *len when png is not NULL (to send the rest), else it is freed. */
static int send_half_upload(uint8_t **png, size_t *len)
{
    uint8_t *data;
    size_t n;
    make_png(SHAPE_SEVEN, 28, 28, 1, &data, &n);
    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    char head[256];
    snprintf(head, sizeof head,
             "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
             "Content-Length: %zu\r\n\r\n", n);
    ck_assert_int_eq(send_all(fd, head, strlen(head)), 0);
    ck_assert_int_eq(send_all(fd, data, n / 2), 0);
    for (int i = 0; i < 200 && http_server_in_flight(srv) < 1; i++)
        sleep_ms(5);
    ck_assert_int_eq(http_server_in_flight(srv), 1);
    if (png) {
        *png = data;
        *len = n;
    } else {
        free(data);
    }
    return fd;
}

START_TEST(test_drain_waits_for_requests_in_flight)
{
    uint8_t *png;
    size_t len;
    int fd = send_half_upload(&png, &len);   /* the request is in flight */

    ck_assert_int_eq(http_server_drain(srv, 200), -1);   /* times out: still in flight */
    /* The rest of the body arrives during the drain and is answered. */
    ck_assert_int_eq(send_all(fd, png + len / 2, len - len / 2), 0);
    http_resp r;
    ck_assert_int_eq(read_response(fd, false, &r), 0);
    assert_single_answer(&r);
    ck_assert(r.closed);
    resp_free(&r);
    close(fd);
    ck_assert_int_eq(http_server_drain(srv, 2000), 0);
    free(png);
}
END_TEST

/* The drain timeout bounds a batch still being read: once it has run out,
 * the batch stops before its next picture and is answered 503, so that the
 * process exits near its deadline instead of after the whole batch. */
START_TEST(test_drain_deadline_stops_a_batch)
{
    int busy = start_big_batch(PREDICT_MAX_IMAGES);   /* seconds of work */
    ck_assert_int_eq(http_server_drain(srv, 0), -1);   /* the deadline is now */
    http_resp r;
    ck_assert_int_eq(read_response(busy, false, &r), 0);
    assert_error(&r, 503, "draining");
    int done = -1, of = -1;
    const char *said = strstr(r.body, "stopped after ");
    ck_assert_ptr_nonnull(said);
    ck_assert_int_eq(sscanf(said, "stopped after %d of %d", &done, &of), 2);
    ck_assert_int_eq(of, PREDICT_MAX_IMAGES);
    ck_assert_int_lt(done, PREDICT_MAX_IMAGES);
    resp_free(&r);
    close(busy);
    ck_assert_int_eq(http_server_drain(srv, 2000), 0);
}
END_TEST

START_TEST(test_unanswered_requests_say_whose_doing)
{
    /* The client gives up: 499, as nginx logs it. It aborts the connection
     * (RST). A FIN would be the politer way, but libmicrohttpd 0.9.75's
     * edge-triggered epoll loop takes a short read for a drained socket, so
     * a FIN that arrives together with the last data (as happens when the
     * machine is busy) goes unseen, and only --timeout ends the connection,
     * as a 408. */
    int gone = send_half_upload(NULL, NULL);
    struct linger abort_now = {1, 0};
    ck_assert_int_eq(setsockopt(gone, SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now), 0);
    close(gone);
    const char *left = "digits_http_requests_total{handler=\"/predict\",code=\"499\"}";
    char *m = scrape_when(left, 1);
    ck_assert_double_eq(metric_value(m, left), 1);
    free(m);

    /* The client stalls past the idle timeout and the server closes the
     * connection: 408, so that slow or stuck clients are not taken for
     * impatient ones. */
    teardown();
    server_timeout_s = 1;
    setup();
    server_timeout_s = 10;
    int fd = send_half_upload(NULL, NULL);
    const char *stalled = "digits_http_requests_total{handler=\"/predict\",code=\"408\"}";
    for (int i = 0; i < 40; i++) {
        m = scrape();
        double v = metric_value(m, stalled);
        free(m);
        if (v == 1)
            break;
        sleep_ms(100);
    }
    m = scrape();
    ck_assert_double_eq(metric_value(m, stalled), 1);
    ck_assert_double_le(metric_value(m, left), 0);   /* not taken for a client leaving */
    free(m);
    close(fd);
}
END_TEST

/* --- robustness ----------------------------------------------------------- */

static unsigned fuzz_status(int *fd, const char *headers, const uint8_t *body, size_t len)
{
    http_resp r;
    if (*fd < 0)
        *fd = tcp_connect(port);
    ck_assert_int_ge(*fd, 0);
    if (http_do(*fd, "POST", "/predict", headers, body, len, &r) != 0) {
        /* the server may close after an error; one retry on a new connection */
        close(*fd);
        *fd = tcp_connect(port);
        ck_assert_int_eq(http_do(*fd, "POST", "/predict", headers, body, len, &r), 0);
    }
    unsigned status = (unsigned)r.status;
    if (status != 200) {
        cJSON *j = json_body(&r);   /* every error is JSON */
        cJSON_Delete(j);
    }
    if (r.closed) {
        close(*fd);
        *fd = -1;
    }
    resp_free(&r);
    return status;
}

START_TEST(test_hostile_inputs_never_break_the_server)
{
    uint8_t *png;
    size_t len;
    make_png(SHAPE_SEVEN, 28, 28, 3, &png, &len);
    int fd = -1;
    /* every truncation of a valid PNG */
    for (size_t n = 1; n < len; n++) {
        unsigned s = fuzz_status(&fd, PNG_HEADER, png, n);
        ck_assert_msg(s == 400, "prefix %zu: %u", n, s);
    }
    /* byte flips all over it */
    uint8_t *m = malloc(len);
    uint32_t seed = 12345;
    for (int i = 0; i < 300; i++) {
        memcpy(m, png, len);
        for (int k = 0; k < 1 + i % 4; k++) {
            seed = seed * 1664525u + 1013904223u;
            m[(seed >> 8) % len] ^= (uint8_t)(1u << (seed % 8));
        }
        unsigned s = fuzz_status(&fd, PNG_HEADER, m, len);
        ck_assert_msg(s == 200 || s == 400 || s == 413 || s == 422, "mutation %d: %u", i, s);
    }
    free(m);
    /* mangled multipart bodies */
    form_part part = {"image", "d.png", "image/png", png, len};
    size_t body_len;
    uint8_t *body = multipart_body(&part, 1, &body_len);
    for (size_t n = 0; n < body_len; n += 3) {
        unsigned s = fuzz_status(&fd, MULTIPART_HEADER, body, n);
        ck_assert_msg(s == 400, "multipart prefix %zu: %u", n, s);
    }
    for (int i = 0; i < 200; i++) {
        uint8_t *b = malloc(body_len);
        memcpy(b, body, body_len);
        seed = seed * 1664525u + 1013904223u;
        b[(seed >> 8) % body_len] = (uint8_t)(seed >> 24);
        unsigned s = fuzz_status(&fd, MULTIPART_HEADER, b, body_len);
        ck_assert_msg(s == 200 || s == 400 || s == 413 || s == 422, "multipart mutation %d: %u", i, s);
        free(b);
    }
    /* odd boundaries */
    const char *odd[] = {
        "Content-Type: multipart/form-data; boundary=\r\n",
        "Content-Type: multipart/form-data; boundary=\"unterminated\r\n",
        /* 71 characters: one over RFC 2046's limit */
        "Content-Type: multipart/form-data; boundary=0123456789012345678901234567890123456789012345678901234567890123456789X\r\n",
        "Content-Type: multipart/form-data; boundary==\r\n",
        "Content-Type: multipart/form-data;;;\r\n",
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        ck_assert_uint_eq(fuzz_status(&fd, odd[i], body, body_len), 400);
    free(body);
    if (fd >= 0)
        close(fd);
    free(png);

    expect_status(port, "GET", "/healthz", 200);

}
END_TEST

START_TEST(test_malformed_http_is_refused_and_server_survives)
{
    static const struct {
        const char *text;
        bool answered;   /* else closed unanswered, libmicrohttpd's way with a line
                          * that has no HTTP version */
    } junk[] = {
        {"GARBAGE\r\n\r\n", false},
        {"GET /healthz HTTP/9.9\r\n\r\n", true},
        {"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", true},
        {"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", true},
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        int fd = tcp_connect(port);
        ck_assert_int_ge(fd, 0);
        send_all(fd, junk[i].text, strlen(junk[i].text));
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (!junk[i].answered) {
            ck_assert_msg(n == 0, "junk %zu: recv %zd, not a close", i, n);
            close(fd);
            continue;
        }
        ck_assert_msg(n > 0, "junk %zu: no answer (recv %zd)", i, n);
        buf[n] = '\0';
        ck_assert_msg(strncmp(buf, "HTTP/1.1 4", 10) == 0 || strncmp(buf, "HTTP/1.1 5", 10) == 0,
                      "junk %zu got: %s", i, buf);
        close(fd);
    }
    /* a huge header block is refused by the connection memory limit */
    int fd = tcp_connect(port);
    static char big[40000];
    memcpy(big, "GET /healthz HTTP/1.1\r\nX-Big: ", 30);
    memset(big + 30, 'a', sizeof big - 30 - 4);
    memcpy(big + sizeof big - 4, "\r\n\r\n", 4);
    send_all(fd, big, sizeof big);
    http_resp r;
    ck_assert_int_eq(read_response(fd, false, &r), 0);
    ck_assert_int_eq(r.status, 431);   /* Request Header Fields Too Large */
    resp_free(&r);
    close(fd);

    expect_status(port, "GET", "/healthz", 200);
}
END_TEST

/* --- the healthcheck client and the log ---------------------------------- */

START_TEST(test_healthcheck_client)
{
    char url[128], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/healthz", port);
    ck_assert_int_eq(healthcheck_get(url, 2000, err, sizeof err), 200);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/nope", port);
    ck_assert_int_eq(healthcheck_get(url, 2000, err, sizeof err), 404);
    http_server_begin_drain(srv, 10000);   /* stops listening */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/healthz", port);
    ck_assert_int_eq(healthcheck_get(url, 2000, err, sizeof err), -1);
    ck_assert(strlen(err) > 0);
}
END_TEST

static char *read_log(const char *path)
{
    uint8_t *data;
    size_t len;
    char err[256];
    ck_assert_int_eq(read_file_bounded(path, 1 << 20, &data, &len, err, sizeof err), 0);
    char *s = realloc(data, len + 1);
    s[len] = '\0';
    return s;
}

START_TEST(test_request_log_lines)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/log.txt", tmp_dir);
    uint8_t *png;
    size_t len;
    make_png(SHAPE_BAR, 28, 28, 1, &png, &len);

    for (int format = 0; format < 2; format++) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        log_configure(format ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT, fileno(f));
        http_resp r = request_once(port, "POST", "/predict",
                                   PNG_HEADER "X-Request-Id: log-test:1\r\n", png, len);
        int digit = assert_single_answer(&r);
        resp_free(&r);
        /* a hostile path: a quote and a newline once unescaped */
        r = request_once(port, "GET", "/x%22y%0Aforged=1", NULL, NULL, 0);
        resp_free(&r);
        /* a log line is written when its request completes, which may be
         * just after the client has the answer */
        char *log = NULL;
        for (int i = 0; i < 200; i++) {
            free(log);
            log = read_log(path);
            if (strstr(log, "/predict") && strstr(log, "forged"))
                break;
            sleep_ms(10);
        }
        log_configure(LOG_FORMAT_TEXT, -1);
        fclose(f);
        char want[64];
        if (format == 0) {
            ck_assert_msg(strstr(log, "method=POST path=/predict status=200") != NULL, "%s", log);
            snprintf(want, sizeof want, " digit=%d ", digit);
            ck_assert_msg(strstr(log, want) != NULL, "%s", log);
            ck_assert_ptr_nonnull(strstr(log, "duration_ms="));
            ck_assert_msg(strstr(log, " request_id=log-test:1\n") != NULL, "%s", log);
            ck_assert_ptr_nonnull(strstr(log, "status=404"));
            ck_assert_msg(strstr(log, "\nforged") == NULL, "log injection: %s", log);
            ck_assert_ptr_nonnull(strstr(log, "path=\"/x\\\"y\\nforged=1\""));
        } else {
            /* every line is one JSON object */
            int lines = 0;
            for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
                cJSON *j = cJSON_Parse(line);
                ck_assert_msg(j != NULL, "not JSON: %s", line);
                const cJSON *path_item = cJSON_GetObjectItemCaseSensitive(j, "path");
                ck_assert(cJSON_IsString(path_item));
                if (strcmp(path_item->valuestring, "/predict") == 0) {
                    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "status")->valueint, 200);
                    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "digit")->valueint, digit);
                    ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "duration_ms")));
                    ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "bytes")));
                    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "method")->valuestring, "POST");
                    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "request_id")->valuestring,
                                     "log-test:1");
                }
                cJSON_Delete(j);
                lines++;
            }
            ck_assert_int_ge(lines, 2);
        }
        free(log);
    }
    free(png);
}
END_TEST

/* A request the server stops under (the drain ran out) is logged as 503,
 * the server's doing, not as a client that went away (499). */
START_TEST(test_stopped_mid_upload_is_logged_as_503)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/log.txt", tmp_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    log_configure(LOG_FORMAT_TEXT, fileno(f));
    int fd = send_half_upload(NULL, NULL);
    ck_assert_int_eq(http_server_drain(srv, 100), -1);
    http_server_destroy(srv);   /* what main() does once the drain runs out */
    free(srv);
    srv = NULL;
    log_configure(LOG_FORMAT_TEXT, -1);
    fclose(f);
    char *log = read_log(path);
    ck_assert_msg(strstr(log, "method=POST path=/predict status=503 bytes=0") != NULL, "%s", log);
    free(log);
    close(fd);
}
END_TEST

/* --- the shipped model on real digits ------------------------------------- */

/* The MNIST test set, for the tests that need the shipped model to read
 * real digits; -1 (with a SKIP line naming the test) when the model or the
 * data is not there. */
static int shipped_model_and_mnist_test(const char *test, idx_images *images,
                                        idx_labels *labels)
{
    if (!serving_shipped_model) {
        fprintf(stderr, "SKIP %s: no servable model at %s\n", test, shipped_model_path());
        return -1;
    }
    const char *dir = getenv("DIGITS_DATA") ? getenv("DIGITS_DATA") : "data/mnist";
    char path[PATH_MAX], err[256];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    if (idx_read_images(path, images, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "SKIP %s: %s (run make data)\n", test, err);
        return -1;
    }
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dir);
    ck_assert_msg(idx_read_labels(path, labels, NULL, err, sizeof err) == 0, "%s", err);
    return 0;
}

START_TEST(test_shipped_model_reads_mnist_digits)
{
    idx_images images;
    idx_labels labels;
    if (shipped_model_and_mnist_test("test_shipped_model_reads_mnist_digits", &images,
                                     &labels) != 0)
        return;

    /* 50 test digits, drawn as a user would: dark ink on white, as PNG. */
    int correct = 0, n = 50, fd = tcp_connect(port);
    for (int i = 0; i < n; i++) {
        image img;
        ck_assert_int_eq(image_alloc(&img, 28, 28, 1), 0);
        for (int p = 0; p < 784; p++)
            img.pixels[p] = (uint8_t)(255 - images.pixels[(size_t)i * 784 + p]);
        uint8_t *png;
        size_t len;
        ck_assert_int_eq(png_encode_memory(&img, &png, &len), PNG_IO_OK);
        image_free(&img);
        http_resp r;
        ck_assert_int_eq(http_do(fd, "POST", "/predict", PNG_HEADER, png, len, &r), 0);
        correct += assert_single_answer(&r) == labels.labels[i];
        resp_free(&r);
        free(png);
    }
    close(fd);
    fprintf(stderr, "shipped model over HTTP: %d/%d MNIST test digits right\n", correct, n);
    ck_assert_int_ge(correct, 45);
    idx_images_free(&images);
    idx_labels_free(&labels);
}
END_TEST

/* png with an eXIf chunk (Exif orientation o, little-endian TIFF) put just
 * before its first IDAT chunk, where a photo converted to PNG keeps it. */
static uint8_t *with_orientation(const uint8_t *png, size_t len, int o, size_t *out_len)
{
    static const uint8_t exif_head[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,   /* IFD0: 1 entry */
                                        0x12, 0x01, 3, 0, 1, 0, 0, 0};      /* 0x0112, SHORT, 1 */
    uint8_t chunk[12 + 26] = {0, 0, 0, 26, 'e', 'X', 'I', 'f'};
    memcpy(chunk + 8, exif_head, sizeof exif_head);
    chunk[8 + 18] = (uint8_t)o;
    uint32_t crc = png_chunk_crc(chunk + 4, 4 + 26);
    for (int i = 0; i < 4; i++)
        chunk[8 + 26 + i] = (uint8_t)(crc >> (24 - 8 * i));
    size_t idat = 8;   /* past the signature, chunk by chunk */
    while (idat + 12 <= len && memcmp(png + idat + 4, "IDAT", 4) != 0)
        idat += 12 + ((size_t)png[idat] << 24 | (size_t)png[idat + 1] << 16 |
                      (size_t)png[idat + 2] << 8 | png[idat + 3]);
    ck_assert_uint_le(idat + 12, len);
    uint8_t *out = malloc(len + sizeof chunk);
    ck_assert_ptr_nonnull(out);
    memcpy(out, png, idat);
    memcpy(out + idat, chunk, sizeof chunk);
    memcpy(out + idat + sizeof chunk, png + idat, len - idat);
    *out_len = len + sizeof chunk;
    return out;
}

/* A phone photo converted to PNG is often stored sideways with an Exif
 * orientation that viewers obey: the user sees an upright digit, and so
 * must the server. Test digits stored turned a quarter each way (and
 * upside down), each with the orientation that undoes it. */
START_TEST(test_exif_orientation_is_obeyed)
{
    idx_images images;
    idx_labels labels;
    if (shipped_model_and_mnist_test("test_exif_orientation_is_obeyed", &images, &labels) != 0)
        return;

    const int orientations[3] = {6, 8, 3}, n = 30;
    int fd = tcp_connect(port);
    for (int k = 0; k < 3; k++) {
        int o = orientations[k], obeyed = 0, ignored = 0;
        for (int i = 0; i < n; i++) {
            const uint8_t *d = images.pixels + (size_t)i * 784;
            image img;
            ck_assert_int_eq(image_alloc(&img, 28, 28, 1), 0);
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++) {
                    /* stored = shown turned back: 6 is shown turned clockwise */
                    int sx = o == 6 ? 27 - y : o == 8 ? y : 27 - x;
                    int sy = o == 6 ? x : o == 8 ? 27 - x : 27 - y;
                    img.pixels[y * 28 + x] = (uint8_t)(255 - d[sy * 28 + sx]);
                }
            uint8_t *png, *tagged;
            size_t len, tagged_len;
            ck_assert_int_eq(png_encode_memory(&img, &png, &len), PNG_IO_OK);
            image_free(&img);
            tagged = with_orientation(png, len, o, &tagged_len);
            http_resp r;
            ck_assert_int_eq(
                http_do(fd, "POST", "/predict", PNG_HEADER, tagged, tagged_len, &r), 0);
            obeyed += assert_single_answer(&r) == labels.labels[i];
            resp_free(&r);
            ck_assert_int_eq(http_do(fd, "POST", "/predict", PNG_HEADER, png, len, &r), 0);
            ignored += assert_single_answer(&r) == labels.labels[i];
            resp_free(&r);
            free(png);
            free(tagged);
        }
        fprintf(stderr, "orientation %d: %d/%d right with the eXIf chunk, %d/%d as stored\n", o,
                obeyed, n, ignored, n);
        ck_assert_int_ge(obeyed, n - 3);
        /* The control: as stored, the turned digits must defeat the model,
         * or this would not show that the chunk is what makes them right. */
        ck_assert_msg(ignored <= obeyed - 10, "orientation %d: %d/%d right even as stored", o,
                      ignored, n);
    }
    close(fd);
    idx_images_free(&images);
    idx_labels_free(&labels);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("endpoints");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_healthz);
    tcase_add_test(tc, test_readyz_when_ready);
    tcase_add_test(tc, test_model_metadata);
    tcase_add_test(tc, test_predict_raw_body);
    tcase_add_test(tc, test_predict_colour_types);
    tcase_add_test(tc, test_predict_multipart_single);
    tcase_add_test(tc, test_predict_multipart_several_in_order);
    tcase_add_test(tc, test_predict_explain);
    tcase_add_test(tc, test_metrics_after_traffic);
    tcase_add_test(tc, test_metrics_count_open_connections);
    tcase_add_test(tc, test_shipped_model_reads_mnist_digits);
    tcase_add_test(tc, test_exif_orientation_is_obeyed);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_error_not_png);
    tcase_add_test(tc, test_error_corrupt_png);
    tcase_add_test(tc, test_error_empty_body);
    tcase_add_test(tc, test_error_declared_body_too_large);
    tcase_add_test(tc, test_error_absurd_content_length);
    tcase_add_test(tc, test_get_with_a_body_is_answered_unread);
    tcase_add_test(tc, test_absolute_form_target);
    tcase_add_test(tc, test_error_streamed_body_too_large);
    tcase_add_test(tc, test_error_unknown_transfer_coding);
    tcase_add_test(tc, test_admin_port_answers_while_workers_are_busy);
    tcase_add_test(tc, test_body_at_the_limit_is_read);
    tcase_add_test(tc, test_error_too_many_pixels);
    tcase_add_test(tc, test_error_unsupported_media_type);
    tcase_add_test(tc, test_error_no_ink);
    tcase_add_test(tc, test_faint_ink);
    tcase_add_test(tc, test_error_not_found);
    tcase_add_test(tc, test_error_method_not_allowed);
    tcase_add_test(tc, test_error_bad_multipart);
    tcase_add_test(tc, test_error_multipart_part_errors_name_the_part);
    tcase_add_test(tc, test_error_too_many_parts);
    tcase_add_test(tc, test_hostile_inputs_never_break_the_server);
    tcase_add_test(tc, test_malformed_http_is_refused_and_server_survives);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_keep_alive_across_answers_and_errors);
    tcase_add_test(tc, test_request_id_header);
    tcase_add_test(tc, test_cors);
    tcase_add_test(tc, test_reload_good_model);
    tcase_add_test(tc, test_reload_bad_model_keeps_old);
    tcase_add_test(tc, test_reload_follows_the_model_pipeline);
    tcase_add_test(tc, test_model_accuracy_only_when_plausible);
    tcase_add_test(tc, test_reload_under_load);
    tcase_add_test(tc, test_drain_readiness_and_new_connections);
    tcase_add_test(tc, test_drain_waits_for_requests_in_flight);
    tcase_add_test(tc, test_drain_deadline_stops_a_batch);
    tcase_add_test(tc, test_unanswered_requests_say_whose_doing);
    tcase_add_test(tc, test_healthcheck_client);
    tcase_add_test(tc, test_request_log_lines);
    tcase_add_test(tc, test_stopped_mid_upload_is_logged_as_503);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(server_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
