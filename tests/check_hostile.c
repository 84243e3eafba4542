/* check_hostile.c -- the real digits-server binary against hostile clients.
 *
 * Each test starts $DIGITS_BUILD/digits-server (so a `make SAN=1` run tests
 * the sanitized binary) on an ephemeral loopback port with the flags the
 * case needs, attacks it over raw sockets, checks that every refusal is a
 * clear JSON 4xx with the security headers, that the server still serves a
 * healthy client afterwards, and that it then shuts down cleanly on SIGTERM
 * (exit 0: under ASan that also means no leaks).
 *
 * Cases: empty and truncated bodies, bad CRCs, PNGs that declare enormous
 * sizes in a few bytes, huge palette and text chunks, 16-bit and interlaced
 * edge cases, a 200 MB body streamed from a generator (never written to
 * disk), wrong or missing Content-Type, multipart without an image part,
 * with hundreds of parts or broken boundaries, absurd headers, clients that
 * stall, thousands of idle connections, model files that are truncated,
 * corrupted or of the wrong version, SIGHUP with a bad file, a model file
 * rewritten while requests run, and the security defaults.
 *
 * Only loopback addresses are used (127.0.0.0/8, several of them to play
 * different clients against the per-address limit). Every loop and wait is
 * bounded, and every process started here is stopped here.
 */
#define _GNU_SOURCE   /* prctl, pipe2 */
#include <arpa/inet.h>
#include <cJSON.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <png.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../server/config.h"
#include "model.h"
#include "png_io.h"
#include "sha256.h"
#include "../server/inference.h"
#include "../server/model_store.h"

#define LOOPBACK "127.0.0.1"

/* --- time ------------------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --- paths -------------------------------------------------------------- */

static const char *build_dir(void)
{
    const char *b = getenv("DIGITS_BUILD");
    return b && *b ? b : "build";
}

static const char *model_path(void)
{
    const char *m = getenv("DIGITS_MODEL");
    return m && *m ? m : "models/mnist-mlp.bin";
}

static char tmpdir[256];

static void make_tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/digits-hostile-XXXXXX", t && *t ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(tmpdir);
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* --- the server under test ------------------------------------------------ */

typedef struct {
    pid_t pid;
    unsigned port;
    char log[300];
} server;

static char *slurp_log(const server *s)
{
    size_t len;
    FILE *f = fopen(s->log, "rb");
    if (!f)
        return strdup("");
    fclose(f);
    uint8_t *b = read_file(s->log, &len);
    b[len] = '\0';
    return (char *)b;
}

/* Starts the server with --bind 127.0.0.1 --port 0 and the given extra
 * arguments (NULL-terminated); returns -1 with the log in s->log when it
 * exits instead of listening within 20 s. */
static int server_spawn(server *s, const char *model_file, const char *const *extra)
{
    static int n_started;
    memset(s, 0, sizeof *s);
    snprintf(s->log, sizeof s->log, "%s/server-%d.log", tmpdir, n_started++);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/digits-server", build_dir());
    ck_assert_msg(access(bin, X_OK) == 0, "%s is not built", bin);

    const char *argv[48];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--model";
    argv[n++] = model_file;
    argv[n++] = "--bind";
    argv[n++] = LOOPBACK;
    argv[n++] = "--port";
    argv[n++] = "0";
    for (int i = 0; extra && extra[i] && n < 46; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Never outlive the test, even when it fails half-way. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(127);
        dup2(fd, 2);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    long long deadline = now_ms() + 20000;
    while (now_ms() < deadline) {
        char *log = slurp_log(s);
        const char *at = strstr(log, "listening on " LOOPBACK " port ");
        if (at) {
            s->port = (unsigned)atoi(at + strlen("listening on " LOOPBACK " port "));
            free(log);
            return 0;
        }
        free(log);
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    return -1;
}

static void server_start(server *s, const char *model_file, const char *const *extra)
{
    if (server_spawn(s, model_file, extra) != 0) {
        char *log = slurp_log(s);
        ck_abort_msg("the server did not start:\n%s", log);
    }
}

/* SIGTERM and wait (at most 30 s); returns the exit status, or -1 if it had
 * to be killed or died of a signal. */
static int server_stop(server *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    long long deadline = now_ms() + 30000;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid)
            break;
        if (now_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            s->pid = 0;
            return -1;
        }
        sleep_ms(20);
    }
    s->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A clean exit 0 on SIGTERM; under ASan a leak would make it non-zero. */
static void server_stop_clean(server *s)
{
    int rc = server_stop(s);
    if (rc != 0) {
        char *log = slurp_log(s);
        size_t n = strlen(log);
        ck_abort_msg("the server did not exit cleanly (status %d); log tail:\n%s", rc,
                     log + (n > 3000 ? n - 3000 : 0));
    }
}

static void wait_for_log(const server *s, const char *text, int count)
{
    long long deadline = now_ms() + 10000;
    for (;;) {
        char *log = slurp_log(s);
        int n = 0;
        for (const char *p = log; (p = strstr(p, text)) != NULL; p++)
            n++;
        free(log);
        if (n >= count)
            return;
        ck_assert_msg(now_ms() < deadline, "never logged \"%s\" %d times", text, count);
        sleep_ms(20);
    }
}

static long proc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = atol(line + n + 1);
    fclose(f);
    return v;
}

static int open_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* --- a small HTTP/1.1 client --------------------------------------------- */

typedef struct {
    int status;                 /* 0: no (complete) response */
    char head[16384];
    char *body;
    size_t body_len;
    bool eof;                   /* the server closed the connection after it */
} resp;

static void resp_free(resp *r)
{
    free(r->body);
    r->body = NULL;
}

static const char *header(const resp *r, const char *name, char *out, size_t cap)
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

/* A non-blocking TCP connection from src (a 127.x.y.z address, NULL for
 * 127.0.0.1) to the server; -1 when it cannot be made in timeout_ms. */
static int connect_from(const char *src, unsigned port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src) {
        struct sockaddr_in b = {.sin_family = AF_INET};
        inet_pton(AF_INET, src, &b.sin_addr);
        if (bind(fd, (struct sockaddr *)&b, sizeof b) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, LOOPBACK, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        struct pollfd p = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t el = sizeof err;
        if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 ||
            err != 0) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

static int send_all(int fd, const void *data, size_t len, int timeout_ms)
{
    const char *p = data;
    long long deadline = now_ms() + timeout_ms;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        long long left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd pf = {fd, POLLOUT, 0};
        poll(&pf, 1, (int)left);
    }
    return 0;
}

/* Waits until fd is readable; returns recv's result (0 = EOF, -1 = error or
 * timeout with errno ETIMEDOUT). */
static ssize_t recv_wait(int fd, void *buf, size_t cap, long long deadline)
{
    for (;;) {
        ssize_t n = recv(fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        long long left = deadline - now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, (int)left);
    }
}

/* Reads one response (Content-Length framed). */
static int read_resp(int fd, int timeout_ms, resp *r)
{
    memset(r, 0, sizeof r->head);
    r->status = 0;
    r->body = NULL;
    r->body_len = 0;
    r->eof = false;
    long long deadline = now_ms() + timeout_ms;
    size_t hl = 0;
    char *end = NULL;
    while (!end) {
        if (hl + 1 >= sizeof r->head)
            return -1;
        ssize_t n = recv_wait(fd, r->head + hl, sizeof r->head - 1 - hl, deadline);
        if (n <= 0)
            return -1;
        hl += (size_t)n;
        r->head[hl] = '\0';
        end = strstr(r->head, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - r->head) + 4;
    size_t extra = hl - head_len;
    char cl[32];
    size_t want = header(r, "Content-Length", cl, sizeof cl) ? strtoul(cl, NULL, 10) : 0;
    r->body = malloc(want + 1);
    size_t have = extra < want ? extra : want;
    memcpy(r->body, r->head + head_len, have);
    r->head[head_len] = '\0';
    while (have < want) {
        ssize_t n = recv_wait(fd, r->body + have, want - have, deadline);
        if (n <= 0) {
            resp_free(r);
            return -1;
        }
        have += (size_t)n;
    }
    r->body[want] = '\0';
    r->body_len = want;
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
        r->status = -1;
    return 0;
}

/* Waits for the server to close fd (EOF or reset); returns the ms it took,
 * or -1 when it stayed open past timeout_ms. Data still arriving is read
 * and dropped. */
static long long wait_closed(int fd, int timeout_ms)
{
    long long t0 = now_ms(), deadline = t0 + timeout_ms;
    char buf[4096];
    for (;;) {
        ssize_t n = recv_wait(fd, buf, sizeof buf, deadline);
        if (n == 0 || (n < 0 && errno != ETIMEDOUT))
            return now_ms() - t0;
        if (n < 0)
            return -1;
    }
}

/* One request on a fresh connection from 127.0.0.1. head is the request
 * line and headers without the blank line; Content-Length is added when a
 * body is given and head has none. */
static resp request(unsigned port, const char *head, const void *body, size_t len)
{
    resp r;
    memset(&r, 0, sizeof r);
    int fd = connect_from(NULL, port, 5000);
    ck_assert_msg(fd >= 0, "cannot connect to port %u", port);
    char h[8192];
    if (body && !strcasestr(head, "\r\ncontent-length:") && !strcasestr(head, "chunked"))
        snprintf(h, sizeof h, "%s\r\nContent-Length: %zu\r\n\r\n", head, len);
    else
        snprintf(h, sizeof h, "%s\r\n\r\n", head);
    ck_assert_int_eq(send_all(fd, h, strlen(h), 10000), 0);
    if (body && len)
        send_all(fd, body, len, 10000);   /* may fail: the server can refuse early */
    if (read_resp(fd, 15000, &r) != 0)
        r.status = 0;
    close(fd);
    return r;
}

static resp get(unsigned port, const char *path)
{
    char head[1024];
    snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: test", path);
    return request(port, head, NULL, 0);
}

static resp post_png(unsigned port, const char *content_type, const void *body, size_t len)
{
    char head[1024];
    if (content_type)
        snprintf(head, sizeof head, "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: %s",
                 content_type);
    else
        snprintf(head, sizeof head, "POST /predict HTTP/1.1\r\nHost: test");
    return request(port, head, body, len);
}

static void assert_security_headers(const resp *r)
{
    char v[512];
    ck_assert_msg(header(r, "X-Content-Type-Options", v, sizeof v) && strcmp(v, "nosniff") == 0,
                  "no X-Content-Type-Options: nosniff in:\n%s", r->head);
    ck_assert_msg(header(r, "Content-Security-Policy", v, sizeof v) &&
                      strstr(v, "default-src 'none'") && strstr(v, "frame-ancestors 'none'"),
                  "no restrictive Content-Security-Policy in:\n%s", r->head);
}

/* A clear JSON error: the status, application/json, the security headers,
 * {"error": non-empty text, "code": code}. code NULL accepts any code. */
static void assert_json_error(const resp *r, int status, const char *code)
{
    ck_assert_msg(r->status == status, "expected %d %s, got %d:\n%s%.300s", status,
                  code ? code : "", r->status, r->head, r->body ? r->body : "");
    char v[128];
    ck_assert_msg(header(r, "Content-Type", v, sizeof v) && strcmp(v, "application/json") == 0,
                  "not JSON:\n%s", r->head);
    assert_security_headers(r);
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    ck_assert_msg(j != NULL, "body is not JSON: %.300s", r->body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "code");
    ck_assert_msg(cJSON_IsString(e) && e->valuestring[0], "no error text: %s", r->body);
    ck_assert_msg(cJSON_IsString(c), "no code: %s", r->body);
    if (code)
        ck_assert_msg(strcmp(c->valuestring, code) == 0, "expected code %s, got %s (%s)", code,
                      c->valuestring, e->valuestring);
    cJSON_Delete(j);
}

static void assert_status_in(const resp *r, const int *ok, int n_ok, const char *what)
{
    for (int i = 0; i < n_ok; i++)
        if (r->status == ok[i])
            return;
    ck_abort_msg("%s: unexpected status %d:\n%s%.300s", what, r->status, r->head,
                 r->body ? r->body : "");
}

/* The server still answers a well-behaved client, and predicts. */
static const uint8_t *good_png;
static size_t good_png_len;

static void assert_healthy(const server *s)
{
    ck_assert_msg(kill(s->pid, 0) == 0, "the server process is gone");
    resp r = get(s->port, "/healthz");
    ck_assert_msg(r.status == 200, "healthz after the attack: %d", r.status);
    resp_free(&r);
    r = post_png(s->port, "image/png", good_png, good_png_len);
    ck_assert_msg(r.status == 200, "predict after the attack: %d %.200s", r.status,
                  r.body ? r.body : "");
    assert_security_headers(&r);
    resp_free(&r);
}

/* --- PNG building --------------------------------------------------------- */

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} membuf;

static void mem_append(membuf *m, const void *p, size_t n)
{
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2 + 64;
        m->buf = realloc(m->buf, m->cap);
        ck_assert_ptr_nonnull(m->buf);
    }
    memcpy(m->buf + m->len, p, n);
    m->len += n;
}

static void png_mem_write(png_structp png, png_bytep src, size_t n)
{
    mem_append(png_get_io_ptr(png), src, n);
}

static void png_mem_flush(png_structp png)
{
    (void)png;
}

static int ink_seven(int x, int y, int w, int h)
{
    double u = (x + 0.5) / w, v = (y + 0.5) / h;
    if (v > 0.2 && v < 0.3 && u > 0.25 && u < 0.78)
        return 1;
    double xd = 0.78 - (v - 0.25) * 0.45;
    return v >= 0.25 && v < 0.85 && u > xd - 0.08 && u < xd + 0.05;
}

/* A w x h picture of a dark 7 on white paper in any PNG format. text_bytes
 * > 0 adds a zTXt chunk of that many (highly compressible) bytes. */
static uint8_t *make_png(int w, int h, int color_type, int depth, int interlace,
                         size_t text_bytes, size_t *len)
{
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert_ptr_nonnull(info);
    char *text = NULL;
    if (setjmp(png_jmpbuf(png)))
        ck_abort_msg("libpng could not write the test image");
    png_set_write_fn(png, &m, png_mem_write, png_mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[2] = {{255, 255, 255}, {0, 0, 0}};
        png_set_PLTE(png, info, pal, 2);
    }
    if (text_bytes) {
        text = malloc(text_bytes + 1);
        memset(text, 'a', text_bytes);
        text[text_bytes] = '\0';
        png_text t;
        memset(&t, 0, sizeof t);
        t.compression = PNG_TEXT_COMPRESSION_zTXt;
        t.key = "Comment";
        t.text = text;
        png_set_text(png, info, &t, 1);
    }
    png_write_info(png, info);
    if (depth == 16)
        png_set_swap(png);
    int channels = png_get_channels(png, info);
    int maxv = (1 << depth) - 1;
    size_t rowbytes = ((size_t)w * (size_t)channels * (size_t)depth + 7) / 8;
    uint8_t *all = calloc((size_t)h, rowbytes);
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++) {
        rows[y] = all + (size_t)y * rowbytes;
        for (int x = 0; x < w; x++) {
            int ink = ink_seven(x, y, w, h);
            for (int c = 0; c < channels; c++) {
                int v = ink ? 0 : maxv;
                if (color_type == PNG_COLOR_TYPE_PALETTE)
                    v = ink;
                else if ((color_type & PNG_COLOR_MASK_ALPHA) && c == channels - 1)
                    v = maxv;
                size_t bit = ((size_t)x * (size_t)channels + (size_t)c) * (size_t)depth;
                if (depth == 16) {
                    rows[y][bit / 8] = (uint8_t)(v & 0xff);
                    rows[y][bit / 8 + 1] = (uint8_t)(v >> 8);
                } else if (depth == 8) {
                    rows[y][bit / 8] = (uint8_t)v;
                } else {
                    rows[y][bit / 8] |= (uint8_t)(v << (8 - depth - (int)(bit % 8)));
                }
            }
        }
    }
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(rows);
    free(all);
    free(text);
    *len = m.len;
    return m.buf;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends a chunk with a correct CRC; declared_len (when not ~0) is written
 * as the length field instead of the real one. */
static void put_chunk(membuf *m, const char *type, const void *data, size_t len,
                      uint32_t declared_len)
{
    uint8_t hdr[8];
    put_be32(hdr, declared_len != ~0u ? declared_len : (uint32_t)len);
    memcpy(hdr + 4, type, 4);
    mem_append(m, hdr, 8);
    uint8_t *crc_in = malloc(4 + len);
    memcpy(crc_in, type, 4);
    if (len)
        memcpy(crc_in + 4, data, len);
    uint8_t crc[4];
    put_be32(crc, png_chunk_crc(crc_in, 4 + len));
    free(crc_in);
    if (len)
        mem_append(m, data, len);
    mem_append(m, crc, 4);
}

static void put_signature_ihdr(membuf *m, uint32_t w, uint32_t h, uint8_t depth, uint8_t ctype,
                               uint8_t interlace)
{
    mem_append(m, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13];
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = depth;
    ihdr[9] = ctype;
    ihdr[10] = 0;
    ihdr[11] = 0;
    ihdr[12] = interlace;
    put_chunk(m, "IHDR", ihdr, 13, ~0u);
}

/* A stored (uncompressed) zlib stream: enough to make a valid IDAT by hand. */
static void zlib_stored(membuf *m, const uint8_t *data, size_t len)
{
    mem_append(m, "\x78\x01", 2);
    size_t off = 0;
    do {
        size_t n = len - off > 65535 ? 65535 : len - off;
        uint8_t h[5] = {(uint8_t)(off + n == len), (uint8_t)n, (uint8_t)(n >> 8),
                        (uint8_t)~n, (uint8_t)(~n >> 8)};
        mem_append(m, h, 5);
        if (n)
            mem_append(m, data + off, n);
        off += n;
    } while (off < len);
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < len; i++) {
        a = (a + data[i]) % 65521;
        b = (b + a) % 65521;
    }
    uint8_t adler[4];
    put_be32(adler, b << 16 | a);
    mem_append(m, adler, 4);
}

/* --- fixtures --------------------------------------------------------------- */

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    make_tmpdir();
    static uint8_t *png;
    if (!png) {
        png = make_png(28, 28, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0, &good_png_len);
        good_png = png;
    }
}

static void teardown(void)
{
    remove_tmpdir();
}

static const char *const quick_timeout[] = {"--threads", "2", "--timeout", "3", NULL};

/* --- bodies ----------------------------------------------------------------- */

START_TEST(test_empty_and_truncated_bodies)
{
    server s;
    server_start(&s, model_path(), quick_timeout);

    resp r = post_png(s.port, "image/png", "", 0);
    assert_json_error(&r, 400, "empty_body");
    resp_free(&r);
    r = request(s.port, "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Length: 0", NULL, 0);
    assert_json_error(&r, 400, "empty_body");
    resp_free(&r);
    /* every cut of a valid PNG, raw and as a multipart part */
    for (size_t n = 1; n < good_png_len; n += (n < 64 ? 1 : 7)) {
        r = post_png(s.port, "image/png", good_png, n);
        assert_json_error(&r, 400, n < 8 ? "not_png" : "corrupt_png");
        resp_free(&r);
    }
    /* a body shorter than its Content-Length, then the client gives up:
     * nothing to answer, but the slot must be freed and nothing break */
    for (int i = 0; i < 20; i++) {
        int fd = connect_from(NULL, s.port, 5000);
        ck_assert_int_ge(fd, 0);
        const char *h = "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
                        "Content-Length: 5000\r\n\r\n";
        send_all(fd, h, strlen(h), 5000);
        send_all(fd, good_png, good_png_len / 2, 5000);
        if (i % 2)
            shutdown(fd, SHUT_WR);
        close(fd);
    }
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

START_TEST(test_bad_crcs)
{
    server s;
    server_start(&s, model_path(), quick_timeout);
    uint8_t *m = malloc(good_png_len);
    /* IHDR's CRC (bytes 29..32), then the CRC of every later chunk */
    size_t off = 8;
    int checked = 0;
    while (off + 12 <= good_png_len) {
        uint32_t len = (uint32_t)good_png[off] << 24 | (uint32_t)good_png[off + 1] << 16 |
                       (uint32_t)good_png[off + 2] << 8 | good_png[off + 3];
        size_t crc_at = off + 8 + len;
        if (crc_at + 4 > good_png_len)
            break;
        memcpy(m, good_png, good_png_len);
        m[crc_at] ^= 0x55;
        resp r = post_png(s.port, "image/png", m, good_png_len);
        assert_json_error(&r, 400, "corrupt_png");
        resp_free(&r);
        checked++;
        off = crc_at + 4;
    }
    ck_assert_int_ge(checked, 3);   /* IHDR, IDAT, IEND */
    /* a flipped bit in the compressed data */
    memcpy(m, good_png, good_png_len);
    m[45] ^= 0x10;
    resp r = post_png(s.port, "image/png", m, good_png_len);
    assert_json_error(&r, 400, "corrupt_png");
    resp_free(&r);
    free(m);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

/* A few hundred bytes declaring a picture of 10^10 pixels: refused from the
 * header, before a byte of pixel memory exists. Run against the defaults
 * (no --max-pixels): the limit is on out of the box. */
START_TEST(test_huge_declared_dimensions)
{
    server s;
    const char *const args[] = {"--threads", "2", NULL};
    server_start(&s, model_path(), args);
    const uint32_t dims[][2] = {{100000, 100000}, {4097, 4097}, {0x7fffffff, 1},
                                {1, 0x7fffffff}, {65536, 65536}, {16777217, 1}};
    long rss0 = proc_status_kb(s.pid, "VmRSS");
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        membuf m = {0};
        put_signature_ihdr(&m, dims[i][0], dims[i][1], 8, 0, 0);
        uint8_t row[300] = {0};
        membuf idat = {0};
        zlib_stored(&idat, row, sizeof row);   /* the IDAT holds a sliver */
        put_chunk(&m, "IDAT", idat.buf, idat.len, ~0u);
        put_chunk(&m, "IEND", NULL, 0, ~0u);
        ck_assert_uint_lt(m.len, 400);
        long long t0 = now_ms();
        resp r = post_png(s.port, "image/png", m.buf, m.len);
        long long took = now_ms() - t0;
        assert_json_error(&r, 413, "too_many_pixels");
        ck_assert_msg(strstr(r.body, "pixels") != NULL, "%s", r.body);
        ck_assert_msg(took < 2000, "refusing took %lld ms", took);
        resp_free(&r);
        /* and as a multipart part */
        char body[2048];
        int hl = snprintf(body, sizeof body,
                          "--B\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n");
        memcpy(body + hl, m.buf, m.len);
        int tl = snprintf(body + hl + m.len, sizeof body - hl - m.len, "\r\n--B--\r\n");
        r = post_png(s.port, "multipart/form-data; boundary=B", body, (size_t)hl + m.len + (size_t)tl);
        assert_json_error(&r, 413, "too_many_pixels");
        resp_free(&r);
        free(m.buf);
        free(idat.buf);
    }
    long rss1 = proc_status_kb(s.pid, "VmRSS");
    ck_assert_msg(rss1 - rss0 < 16 * 1024, "RSS grew from %ld to %ld kB", rss0, rss1);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

START_TEST(test_huge_palette_and_text_chunks)
{
    server s;
    server_start(&s, model_path(), quick_timeout);
    long rss0 = proc_status_kb(s.pid, "VmRSS");

    /* a palette image whose PLTE has 1000 entries (the format allows 256) */
    membuf m = {0};
    put_signature_ihdr(&m, 8, 8, 8, 3, 0);
    uint8_t *pal = calloc(3000, 1);
    put_chunk(&m, "PLTE", pal, 3000, ~0u);
    uint8_t raw[8 * 9] = {0};
    membuf z = {0};
    zlib_stored(&z, raw, sizeof raw);
    put_chunk(&m, "IDAT", z.buf, z.len, ~0u);
    put_chunk(&m, "IEND", NULL, 0, ~0u);
    resp r = post_png(s.port, "image/png", m.buf, m.len);
    assert_json_error(&r, 400, "corrupt_png");
    resp_free(&r);
    free(m.buf);

    /* a PLTE (and a tEXt) that declares 2 GB and holds a few bytes */
    const char *types[] = {"PLTE", "tEXt", "iCCP", "zTXt"};
    for (int i = 0; i < 4; i++) {
        memset(&m, 0, sizeof m);
        put_signature_ihdr(&m, 8, 8, 8, i == 0 ? 3 : 0, 0);
        put_chunk(&m, types[i], pal, 30, 0x7fffffffu);
        put_chunk(&m, "IDAT", z.buf, z.len, ~0u);
        put_chunk(&m, "IEND", NULL, 0, ~0u);
        r = post_png(s.port, "image/png", m.buf, m.len);
        assert_json_error(&r, 400, "corrupt_png");
        resp_free(&r);
        free(m.buf);
    }
    free(pal);
    free(z.buf);

    /* a real 3 MB text chunk and a zTXt "bomb" (64 MB of text in ~64 KB):
     * ancillary chunks are skipped unread, so the digit is still read and
     * nothing is inflated */
    size_t n;
    uint8_t *bomb = make_png(28, 28, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE,
                             (size_t)64 << 20, &n);
    ck_assert_uint_lt(n, 1 << 20);
    long long t0 = now_ms();
    r = post_png(s.port, "image/png", bomb, n);
    ck_assert_msg(r.status == 200, "zTXt bomb: %d %s", r.status, r.body);
    ck_assert_msg(now_ms() - t0 < 3000, "the zTXt bomb took %lld ms", now_ms() - t0);
    resp_free(&r);
    free(bomb);

    memset(&m, 0, sizeof m);
    mem_append(&m, good_png, 33);   /* signature + IHDR */
    size_t big = (size_t)3 << 20;
    uint8_t *text = malloc(big);
    memcpy(text, "Comment\0", 8);
    memset(text + 8, 'x', big - 8);
    put_chunk(&m, "tEXt", text, big, ~0u);
    free(text);
    mem_append(&m, good_png + 33, good_png_len - 33);
    r = post_png(s.port, "image/png", m.buf, m.len);
    ck_assert_msg(r.status == 200, "3 MB tEXt: %d %s", r.status, r.body);
    resp_free(&r);
    free(m.buf);

    long rss1 = proc_status_kb(s.pid, "VmRSS");
    ck_assert_msg(rss1 - rss0 < 64 * 1024, "RSS grew from %ld to %ld kB", rss0, rss1);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

/* 16-bit and interlaced pictures at the edges: 1x1, one row, one column,
 * sizes where some Adam7 passes are empty. Each is read (200) or found to
 * hold no digit (422), never an error of the server's. */
START_TEST(test_16bit_and_interlaced_edges)
{
    server s;
    server_start(&s, model_path(), quick_timeout);
    const int sizes[][2] = {{1, 1}, {1, 9}, {9, 1}, {2, 2}, {3, 5}, {5, 3}, {7, 7}, {8, 8},
                            {28, 1}, {1, 28}, {33, 17}};
    const int formats[][2] = {{PNG_COLOR_TYPE_GRAY, 16}, {PNG_COLOR_TYPE_GRAY_ALPHA, 16},
                              {PNG_COLOR_TYPE_RGB, 16}, {PNG_COLOR_TYPE_RGB_ALPHA, 16},
                              {PNG_COLOR_TYPE_GRAY, 1}, {PNG_COLOR_TYPE_PALETTE, 1}};
    const int ok[] = {200, 422};
    int answered = 0, read_digit = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
            for (int interlace = 0; interlace <= 1; interlace++) {
                size_t n;
                uint8_t *png = make_png(sizes[i][0], sizes[i][1], formats[f][0], formats[f][1],
                                        interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, 0, &n);
                resp r = post_png(s.port, "image/png", png, n);
                char what[96];
                snprintf(what, sizeof what, "%dx%d type %d depth %d interlace %d", sizes[i][0],
                         sizes[i][1], formats[f][0], formats[f][1], interlace);
                assert_status_in(&r, ok, 2, what);
                if (r.status == 422)
                    assert_json_error(&r, 422, "no_ink");
                else
                    read_digit++;
                answered++;
                resp_free(&r);
                free(png);
            }
        }
    }
    ck_assert_int_eq(answered, 11 * 6 * 2);
    ck_assert_int_gt(read_digit, 0);
    /* a 16-bit interlaced 28x28 seven is read as a 7, as the 8-bit one is */
    size_t n;
    uint8_t *png = make_png(28, 28, PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_ADAM7, 0, &n);
    resp a = post_png(s.port, "image/png", png, n);
    resp b = post_png(s.port, "image/png", good_png, good_png_len);
    ck_assert_int_eq(a.status, 200);
    ck_assert_int_eq(b.status, 200);
    ck_assert_msg(strncmp(a.body, b.body, 10) == 0, "%s vs %s", a.body, b.body);
    resp_free(&a);
    resp_free(&b);
    free(png);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

/* The body generator: endless PNG-looking bytes, never on disk. */
static void fill_generator(uint8_t *buf, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = (uint8_t)(*state >> 56);
    }
}

/* Streams up to total bytes (chunked: in 64 KB chunks) while reading what
 * the server says. Returns the bytes sent before the server answered and
 * closed, the response in *r (status 0 if none), and the time taken. */
static size_t stream_body(unsigned port, bool chunked, size_t total, resp *r, long long *ms,
                          bool *closed)
{
    int fd = connect_from(NULL, port, 5000);
    ck_assert_int_ge(fd, 0);
    char head[512];
    if (chunked)
        snprintf(head, sizeof head, "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n");
    else
        snprintf(head, sizeof head, "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
                                    "Content-Length: %zu\r\n\r\n", total);
    ck_assert_int_eq(send_all(fd, head, strlen(head), 5000), 0);
    static uint8_t block[65536 + 16];
    uint64_t state = 42;
    size_t sent = 0, pending = 0, pend_off = 0;
    char in[32768];
    size_t in_len = 0;
    long long t0 = now_ms(), deadline = t0 + 20000;
    *closed = false;
    memset(r, 0, sizeof *r);
    while (now_ms() < deadline) {
        struct pollfd p = {fd, POLLIN | (sent < total ? POLLOUT : 0), 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t k = recv(fd, in + in_len, sizeof in - 1 - in_len, 0);
            if (k > 0) {
                in_len += (size_t)k;
                in[in_len] = '\0';
                continue;
            }
            if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                *closed = true;
                break;
            }
        }
        if ((p.revents & POLLOUT) && sent < total) {
            if (pending == 0) {
                size_t n = total - sent < 65536 ? total - sent : 65536;
                size_t h = 0;
                if (chunked)
                    h = (size_t)sprintf((char *)block, "%zx\r\n", n);
                fill_generator(block + h, n, &state);
                if (chunked) {
                    memcpy(block + h + n, "\r\n", 2);
                    pending = h + n + 2;
                } else {
                    pending = n;
                }
                pend_off = 0;
                sent += n;
            }
            ssize_t k = send(fd, block + pend_off, pending, MSG_NOSIGNAL);
            if (k > 0) {
                pend_off += (size_t)k;
                pending -= (size_t)k;
            } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
                *closed = true;   /* reset by the server */
                /* read anything that arrived before the reset */
                ssize_t q = recv(fd, in + in_len, sizeof in - 1 - in_len, MSG_DONTWAIT);
                if (q > 0) {
                    in_len += (size_t)q;
                    in[in_len] = '\0';
                }
                break;
            }
        }
    }
    *ms = now_ms() - t0;
    close(fd);
    if (in_len > 0) {
        /* parse what came back */
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        send_all(sv[0], in, in_len, 1000);
        close(sv[0]);
        if (read_resp(sv[1], 1000, r) != 0)
            r->status = 0;
        close(sv[1]);
    }
    return sent - pending;
}

START_TEST(test_200mb_body)
{
    server s;
    server_start(&s, model_path(), quick_timeout);
    const size_t total = (size_t)200 << 20;

    /* declared: 413 from the headers alone, then the connection closes */
    resp r;
    long long ms;
    bool closed;
    size_t sent = stream_body(s.port, false, total, &r, &ms, &closed);
    assert_json_error(&r, 413, "payload_too_large");
    ck_assert_msg(closed, "the connection stayed open");
    ck_assert_msg(ms < 5000, "took %lld ms", ms);
    ck_assert_msg(sent < (size_t)64 << 20, "the client sent %zu bytes before the server closed", sent);
    fprintf(stderr, "200 MB declared body: 413 after %lld ms, client sent %zu bytes\n", ms, sent);
    resp_free(&r);

    /* chunked: no size up front, so the server reads up to --max-upload (4 MB)
     * and closes; libmicrohttpd 0.9.75 cannot send an answer mid-upload */
    sent = stream_body(s.port, true, total, &r, &ms, &closed);
    ck_assert_msg(closed, "the connection stayed open");
    ck_assert_msg(r.status == 0 || r.status == 413, "chunked 200 MB body answered %d", r.status);
    ck_assert_msg(ms < 10000, "took %lld ms", ms);
    ck_assert_msg(sent < (size_t)64 << 20, "the client sent %zu bytes before the server closed", sent);
    fprintf(stderr, "200 MB chunked body: closed after %lld ms, client sent %zu bytes\n", ms, sent);
    resp_free(&r);

    long rss = proc_status_kb(s.pid, "VmHWM");
    ck_assert_msg(rss < 200 * 1024, "peak RSS %ld kB", rss);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

/* Stalled uploads cannot hold unbounded memory: past their first 32 KiB,
 * request bodies share 16 x --max-upload bytes. An upload that does not fit
 * is refused at once with 503 server_busy (the server's state, not the
 * client's fault); small uploads, which are what a drawing is, are still
 * served; and closing the stalled ones gives the memory back. */
START_TEST(test_upload_memory_is_bounded)
{
    server s;
    const char *const args[] = {"--threads", "2", "--timeout", "20", "--max-upload", "1M", NULL};
    server_start(&s, model_path(), args);
    long rss0 = proc_status_kb(s.pid, "VmRSS");
    const size_t big = (size_t)1 << 20;
    uint8_t *junk = malloc(big);
    memset(junk, 'j', big);
    int fds[40];
    int held = 0, busy = 0;
    for (int i = 0; i < 40; i++) {
        /* From ten addresses: one address alone gets a quarter of the
         * budget (see test_one_address_cannot_take_the_budget). */
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", 10 + i % 10);
        int fd = connect_from(src, s.port, 5000);
        ck_assert_int_ge(fd, 0);
        char head[256];
        snprintf(head, sizeof head, "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
                                    "Content-Length: %zu\r\n\r\n", big);
        send_all(fd, head, strlen(head), 5000);
        /* all but the last byte: the upload stalls, its buffer full */
        int sent = send_all(fd, junk, big - 1, 3000);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 300) == 1) {
            resp r;
            ck_assert_int_eq(read_resp(fd, 3000, &r), 0);
            assert_json_error(&r, 503, "server_busy");
            char retry[16];
            ck_assert_ptr_nonnull(header(&r, "Retry-After", retry, sizeof retry));
            ck_assert_str_eq(retry, "1");
            resp_free(&r);
            busy++;
            close(fd);
        } else {
            ck_assert_int_eq(sent, 0);
            fds[held++] = fd;
        }
    }
    sleep_ms(300);
    long rss1 = proc_status_kb(s.pid, "VmRSS");
    fprintf(stderr, "40 stalled 1 MiB uploads: %d held, %d refused with 503; RSS %ld -> %ld kB\n",
            held, busy, rss0, rss1);
    ck_assert_int_eq(held, 16);
    ck_assert_int_eq(busy, 24);
    ck_assert_msg(rss1 - rss0 < 16 * 1024 + 16 * 1024, "RSS grew from %ld to %ld kB", rss0, rss1);
    /* a drawing-sized upload is still served */
    resp r = post_png(s.port, "image/png", good_png, good_png_len);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    /* the stalled ones go: their memory is free for the next large upload */
    for (int i = 0; i < held; i++)
        close(fds[i]);
    sleep_ms(300);
    r = post_png(s.port, "image/png", junk, big);
    assert_json_error(&r, 400, "not_png");
    resp_free(&r);
    free(junk);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

/* Opens a POST /predict from src that declares len bytes and sends none. */
static int declare_upload(const char *src, unsigned port, size_t len)
{
    int fd = connect_from(src, port, 5000);
    ck_assert_int_ge(fd, 0);
    char head[256];
    snprintf(head, sizeof head, "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
                                "Content-Length: %zu\r\n\r\n", len);
    ck_assert_int_eq(send_all(fd, head, strlen(head), 5000), 0);
    return fd;
}

/* The budget is reserved from the declared length, before a byte arrives:
 * one client sending nothing on 17 connections used to turn every other
 * large upload away, and a byte now and then kept --timeout from ever
 * ending it. One address now gets a quarter of the budget, and an upload
 * under 4 KiB/s once --timeout has passed is closed (408). */
START_TEST(test_one_address_cannot_take_the_budget)
{
    server s;
    const char *const args[] = {"--timeout", "3", "--max-upload", "1M", NULL};
    server_start(&s, model_path(), args);
    const size_t big = (size_t)1 << 20;
    /* 17 would fill the budget (16 x 1 MiB plus the free 32 KiB each): the
     * address gets 4, and the rest are refused at once... */
    int held[4], n_held = 0, refused = 0;
    for (int i = 0; i < 17; i++) {
        int fd = declare_upload("127.0.0.7", s.port, big);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 300) == 1) {
            resp r;
            ck_assert_int_eq(read_resp(fd, 3000, &r), 0);
            assert_json_error(&r, 503, "server_busy");
            resp_free(&r);
            close(fd);
            refused++;
        } else {
            ck_assert_int_lt(n_held, 4);
            held[n_held++] = fd;
        }
    }
    ck_assert_int_eq(n_held, 4);
    ck_assert_int_eq(refused, 13);
    resp r;
    /* ...while another address's large upload is read */
    uint8_t *junk = malloc(big);
    memset(junk, 'j', big);
    int other = connect_from("127.0.0.8", s.port, 5000);
    ck_assert_int_ge(other, 0);
    char head[256];
    snprintf(head, sizeof head, "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
                                "Content-Length: %zu\r\n\r\n", big);
    ck_assert_int_eq(send_all(other, head, strlen(head), 5000), 0);
    ck_assert_int_eq(send_all(other, junk, big, 5000), 0);
    ck_assert_int_eq(read_resp(other, 5000, &r), 0);
    assert_json_error(&r, 400, "not_png");
    resp_free(&r);
    close(other);
    free(junk);
    /* A byte every 300 ms keeps a connection from being idle, but not from
     * being too slow: past the 3 s of --timeout each is closed. */
    long long t0 = now_ms();
    int open_ones = 4;
    while (open_ones > 0 && now_ms() - t0 < 8000) {
        sleep_ms(300);
        open_ones = 0;
        for (int i = 0; i < 4; i++) {
            if (held[i] < 0)
                continue;
            if (send(held[i], "x", 1, MSG_NOSIGNAL) != 1 || wait_closed(held[i], 0) >= 0) {
                close(held[i]);
                held[i] = -1;
            } else {
                open_ones++;
            }
        }
    }
    ck_assert_msg(open_ones == 0, "%d trickling uploads still open after %lld ms", open_ones,
                  now_ms() - t0);
    wait_for_log(&s, "upload_too_slow", 4);
    char *log = slurp_log(&s);
    ck_assert_ptr_nonnull(strstr(log, "status=408"));
    free(log);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

/* --- types and multipart ------------------------------------------------------ */

START_TEST(test_content_types)
{
    server s;
    server_start(&s, model_path(), quick_timeout);
    const char *refused[] = {"text/plain", "image/jpeg", "application/json", "image/pngx",
                             "multipart/mixed; boundary=B", "image/png/extra", "\"image/png\""};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        resp r = post_png(s.port, refused[i], good_png, good_png_len);
        assert_json_error(&r, 415, "unsupported_media_type");
        resp_free(&r);
    }
    /* accepted spellings */
    /* (curl's default type is fine too when the body is a PNG: routes.c) */
    const char *fine[] = {"image/png", "IMAGE/PNG", "image/png; charset=binary",
                          "application/octet-stream", " image/png ",
                          "application/x-www-form-urlencoded"};
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        resp r = post_png(s.port, fine[i], good_png, good_png_len);
        ck_assert_msg(r.status == 200, "%s: %d", fine[i], r.status);
        resp_free(&r);
    }
    /* no Content-Type: the bytes decide */
    resp r = post_png(s.port, NULL, good_png, good_png_len);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    r = post_png(s.port, NULL, "GIF89a....", 10);
    assert_json_error(&r, 400, "not_png");
    resp_free(&r);
    /* a PNG content type on something else */
    r = post_png(s.port, "image/png", "<svg onload=alert(1)>", 21);
    assert_json_error(&r, 400, "not_png");
    resp_free(&r);
    /* multipart without a boundary, or with an empty one */
    r = post_png(s.port, "multipart/form-data", good_png, good_png_len);
    assert_json_error(&r, 400, "bad_multipart");
    resp_free(&r);
    r = post_png(s.port, "multipart/form-data; boundary=", good_png, good_png_len);
    assert_json_error(&r, 400, "bad_multipart");
    resp_free(&r);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

static size_t form_part(char *out, const char *boundary, const char *name, const void *data,
                        size_t len)
{
    size_t o = (size_t)sprintf(out, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n"
                                    "Content-Type: image/png\r\n\r\n", boundary, name);
    memcpy(out + o, data, len);
    o += len;
    memcpy(out + o, "\r\n", 2);
    return o + 2;
}

START_TEST(test_multipart_attacks)
{
    server s;
    server_start(&s, model_path(), quick_timeout);
    char *body = malloc(1 << 20);
    size_t o;
    resp r;

    /* no part named image */
    o = form_part(body, "B", "file", good_png, good_png_len);
    o += form_part(body + o, "B", "Image", good_png, good_png_len);
    o += (size_t)sprintf(body + o, "--B--\r\n");
    r = post_png(s.port, "multipart/form-data; boundary=B", body, o);
    assert_json_error(&r, 400, "no_image_part");
    resp_free(&r);

    /* hundreds of parts */
    o = 0;
    for (int i = 0; i < 500; i++)
        o += form_part(body + o, "B", "x", "1", 1);
    o += (size_t)sprintf(body + o, "--B--\r\n");
    r = post_png(s.port, "multipart/form-data; boundary=B", body, o);
    assert_json_error(&r, 413, "too_many_parts");
    resp_free(&r);

    /* 17 images: one over the limit */
    o = 0;
    for (int i = 0; i < 17; i++)
        o += form_part(body + o, "B", "image", good_png, good_png_len);
    o += (size_t)sprintf(body + o, "--B--\r\n");
    r = post_png(s.port, "multipart/form-data; boundary=B", body, o);
    assert_json_error(&r, 413, "too_many_images");
    resp_free(&r);

    /* 16 images: the limit itself is fine */
    o = 0;
    for (int i = 0; i < 16; i++)
        o += form_part(body + o, "B", "image", good_png, good_png_len);
    o += (size_t)sprintf(body + o, "--B--\r\n");
    r = post_png(s.port, "multipart/form-data; boundary=B", body, o);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);

    /* malformed boundaries and bodies */
    o = form_part(body, "B", "image", good_png, good_png_len);
    o += (size_t)sprintf(body + o, "--B--\r\n");
    const char *bad_ct[] = {
        "multipart/form-data; boundary=C",                       /* not the body's */
        "multipart/form-data; boundary=\"B",                     /* unterminated quote */
        ("multipart/form-data; boundary=0123456789012345678901234567890123456789"
         "0123456789012345678901234567890"),                     /* 71 characters */
        "multipart/form-data; boundary==",
        "multipart/form-data;;;",
        "multipart/form-data; boundary=B; boundary",             /* broken parameter */
        "multipart/form-data; boundary=\"\"",
    };
    for (size_t i = 0; i < sizeof bad_ct / sizeof bad_ct[0]; i++) {
        r = post_png(s.port, bad_ct[i], body, o);
        assert_json_error(&r, 400, "bad_multipart");
        resp_free(&r);
    }
    const char *bad_bodies[] = {
        "--B\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc",   /* no close */
        "--B\r\n\r\n",                                                       /* nothing */
        "--B--\r\n",                                                         /* no parts */
        "no delimiter at all",
        "--B\r\nContent-Disposition: form-data; name=\"image\"\r\nX",        /* headers cut */
        "--B\r\nContent-Disposition: attachment; name=\"image\"\r\n\r\nx\r\n--B--",
        "--B\r\nContent-Disposition: form-data; name=\"image\r\n\r\nx\r\n--B--",
    };
    for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
        r = post_png(s.port, "multipart/form-data; boundary=B", bad_bodies[i],
                     strlen(bad_bodies[i]));
        assert_json_error(&r, 400, NULL);
        resp_free(&r);
    }
    /* a part header block far over the 8 KiB bound */
    o = (size_t)sprintf(body, "--B\r\nContent-Disposition: form-data; name=\"image\"\r\nX-Pad: ");
    memset(body + o, 'p', 20000);
    o += 20000;
    o += (size_t)sprintf(body + o, "\r\n\r\nx\r\n--B--\r\n");
    r = post_png(s.port, "multipart/form-data; boundary=B", body, o);
    assert_json_error(&r, 400, "bad_multipart");
    resp_free(&r);
    /* an empty image part */
    o = form_part(body, "B", "image", "", 0);
    o += (size_t)sprintf(body + o, "--B--\r\n");
    r = post_png(s.port, "multipart/form-data; boundary=B", body, o);
    assert_json_error(&r, 400, "empty_body");
    resp_free(&r);
    free(body);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

/* --- HTTP-level abuse --------------------------------------------------------- */

/* Sends raw bytes and returns the status of the answer (0: none, the
 * connection was closed), waiting at most timeout_ms. */
static int raw_status(unsigned port, const void *data, size_t len, int timeout_ms)
{
    int fd = connect_from(NULL, port, 5000);
    ck_assert_int_ge(fd, 0);
    send_all(fd, data, len, 5000);
    resp r;
    int status = read_resp(fd, timeout_ms, &r) == 0 ? r.status : 0;
    if (status)
        resp_free(&r);
    close(fd);
    return status;
}

START_TEST(test_absurd_headers)
{
    server s;
    server_start(&s, model_path(), quick_timeout);
    char *big = malloc(200000);
    int st;

    /* one header value of 60 KB: over the 32 KB connection memory */
    int n = sprintf(big, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(big + n, 'a', 60000);
    n += 60000;
    n += sprintf(big + n, "\r\n\r\n");
    st = raw_status(s.port, big, (size_t)n, 5000);
    ck_assert_msg(st == 0 || st == 431 || st == 413 || st == 400, "60 KB header: %d", st);
    /* thousands of small headers */
    n = sprintf(big, "GET /healthz HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 5000; i++)
        n += sprintf(big + n, "X-%d: v\r\n", i);
    n += sprintf(big + n, "\r\n");
    st = raw_status(s.port, big, (size_t)n, 5000);
    ck_assert_msg(st == 0 || st == 431 || st == 413 || st == 400, "5000 headers: %d", st);
    /* a URL of 50 KB and a query string of 2000 parameters */
    n = sprintf(big, "GET /");
    memset(big + n, 'u', 50000);
    n += 50000;
    n += sprintf(big + n, " HTTP/1.1\r\nHost: t\r\n\r\n");
    st = raw_status(s.port, big, (size_t)n, 5000);
    ck_assert_msg(st == 0 || st == 414 || st == 431 || st == 400 || st == 404, "50 KB URL: %d", st);
    n = sprintf(big, "POST /predict?");
    for (int i = 0; i < 2000; i++)
        n += sprintf(big + n, "p%d=%d&", i, i);
    n += sprintf(big + n, "explain=1 HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
                          "Content-Length: %zu\r\n\r\n", good_png_len);
    memcpy(big + n, good_png, good_png_len);
    st = raw_status(s.port, big, (size_t)n + good_png_len, 5000);
    ck_assert_msg(st == 200 || st == 0 || st == 431 || st == 414, "2000 query parameters: %d", st);

    /* contradictions and nonsense the parser must refuse, not guess at */
    const char *junk[] = {
        "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789",
        "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 0x10\r\n\r\n",
        "POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
        "GET /healthz HTTP/1.1\r\nHost: t\r\nNo-Colon-Here\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: t\r\n Folded: continuation\r\n\r\n",
        "GET\t/healthz\tHTTP/1.1\r\n\r\n",
        "GET /healthz HTTP/1.1\nHost: t\n\n",
        "BREW /predict HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",   /* a TLS ClientHello */
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        st = raw_status(s.port, junk[i], strlen(junk[i]), 5000);
        ck_assert_msg(st == 0 || (st >= 200 && st < 500) || st == 501 || st == 505,
                      "junk %zu answered %d", i, st);
    }
    /* a NUL in a header */
    static const char nul[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n";
    st = raw_status(s.port, nul, sizeof nul - 1, 5000);
    ck_assert_msg(st == 0 || (st >= 200 && st < 500), "NUL header: %d", st);
    free(big);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

/* --- slow and idle clients ---------------------------------------------------- */

/* SIGTERM with an upload half sent: the real binary answers it before it
 * exits 0. (check_server drives the drain functions itself; only this runs
 * main's own wait, which could otherwise return at once unnoticed.) */
START_TEST(test_sigterm_finishes_the_request_in_flight)
{
    server s;
    server_start(&s, model_path(), NULL);
    size_t len;
    uint8_t *png = make_png(28, 28, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0, &len);
    int fd = connect_from(NULL, s.port, 5000);
    ck_assert_int_ge(fd, 0);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     len);
    ck_assert_int_eq(send_all(fd, head, (size_t)n, 5000), 0);
    ck_assert_int_eq(send_all(fd, png, len / 2, 5000), 0);
    /* In flight once the server has read its head. The scrapes share one
     * keep-alive connection, so that each has ended before the next (only
     * the scrape itself and the upload count); scrapes on connections of
     * their own could still be counted when the next one looks. */
    int mfd = connect_from(NULL, s.port, 5000);
    ck_assert_int_ge(mfd, 0);
    const char *scrape = "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n";
    long long deadline = now_ms() + 10000;
    for (;;) {
        resp m;
        ck_assert_int_eq(send_all(mfd, scrape, strlen(scrape), 5000), 0);
        ck_assert_int_eq(read_resp(mfd, 5000, &m), 0);
        const char *at = m.body ? strstr(m.body, "\ndigits_http_requests_in_flight ") : NULL;
        double in_flight = at ? atof(at + strlen("\ndigits_http_requests_in_flight ")) : 0;
        resp_free(&m);
        if (in_flight >= 2)
            break;
        ck_assert_msg(now_ms() < deadline, "the half upload never showed as in flight");
        sleep_ms(20);
    }
    close(mfd);
    kill(s.pid, SIGTERM);
    wait_for_log(&s, "draining: not ready, no new connections,", 1);
    ck_assert_int_eq(send_all(fd, png + len / 2, len - len / 2, 5000), 0);
    resp r;
    ck_assert_int_eq(read_resp(fd, 10000, &r), 0);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body ? r.body : "");
    char v[64];
    ck_assert(header(&r, "Connection", v, sizeof v) && strcasecmp(v, "close") == 0);
    resp_free(&r);
    close(fd);
    free(png);
    /* It exits by itself, cleanly, with no second signal. */
    int status = 0;
    deadline = now_ms() + 10000;
    while (waitpid(s.pid, &status, WNOHANG) != s.pid) {
        ck_assert_msg(now_ms() < deadline, "the server did not exit after the drain");
        sleep_ms(20);
    }
    s.pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
}
END_TEST

START_TEST(test_slow_clients_are_cut_off)
{
    server s;
    const char *const args[] = {"--threads", "2", "--timeout", "2", "--max-per-ip", "4", NULL};
    server_start(&s, model_path(), args);
    const char *partial[] = {
        "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Le",                  /* headers never end */
        "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n\x89PNG",   /* body stalls */
        "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",          /* keep-alive, then silence */
        "",                                                  /* connect and say nothing */
    };
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = connect_from("127.0.0.3", s.port, 5000);
        ck_assert_int_ge(fds[i], 0);
        if (partial[i][0])
            send_all(fds[i], partial[i], strlen(partial[i]), 5000);
    }
    sleep_ms(300);
    /* the per-address limit holds: a fifth connection from 127.0.0.3 is
     * closed at once, while other addresses are served */
    int extra = connect_from("127.0.0.3", s.port, 5000);
    if (extra >= 0) {
        const char *h = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
        send_all(extra, h, strlen(h), 1000);
        resp r;
        int got = read_resp(extra, 1500, &r);
        ck_assert_msg(got != 0, "a fifth connection from one address was served (%d)", r.status);
        close(extra);
    }
    resp r = get(s.port, "/healthz");
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    /* the stalled ones are closed by the 2 s idle timeout */
    for (int i = 0; i < 4; i++) {
        long long ms = wait_closed(fds[i], 8000);
        ck_assert_msg(ms >= 0, "stalled connection %d was never closed", i);
        close(fds[i]);
    }
    /* and their slots are free again: soon after the client sees a close,
     * not at once, since libmicrohttpd releases an address's slot when it
     * next sweeps closed connections (a loaded machine may take a while) */
    int served = 0;
    for (int attempt = 0; attempt < 20 && !served; attempt++) {
        int again = connect_from("127.0.0.3", s.port, 5000);
        ck_assert_int_ge(again, 0);
        const char *h = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
        send_all(again, h, strlen(h), 1000);
        if (read_resp(again, 2000, &r) == 0) {
            ck_assert_int_eq(r.status, 200);
            resp_free(&r);
            served = 1;
        } else {
            sleep_ms(100);
        }
        close(again);
    }
    ck_assert_msg(served, "an address's slots were not freed after its connections closed");
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

/* Opens up to n idle connections from src; returns how many connected. */
static int open_idle(const char *src, unsigned port, int n, int *fds)
{
    int made = 0;
    for (int i = 0; i < n; i++) {
        int fd = connect_from(src, port, 2000);
        if (fd < 0)
            break;
        fds[made++] = fd;
    }
    return made;
}

/* How many of fds the server has closed (EOF or reset), within wait_ms. */
static int count_closed(int *fds, int n, int wait_ms)
{
    sleep_ms(wait_ms);
    int closed = 0;
    for (int i = 0; i < n; i++) {
        char c;
        ssize_t k = recv(fds[i], &c, 1, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            closed++;
    }
    return closed;
}

START_TEST(test_thousands_of_idle_connections)
{
    /* Client and server share this process's open-file limit: stay well
     * inside it. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    int flood = 3000;
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)flood + 1200 > rl.rlim_cur)
        flood = (int)rl.rlim_cur - 1200;
    if (flood < 300) {
        fprintf(stderr, "SKIP idle flood: open-file limit %llu is too low\n",
                (unsigned long long)rl.rlim_cur);
        return;
    }
    server s;
    const char *const args[] = {"--threads", "2", "--timeout", "3", "--max-connections", "400",
                                "--max-per-ip", "100", NULL};
    server_start(&s, model_path(), args);
    int fd0 = open_fds(s.pid);

    /* thousands from one address: the per-address limit keeps 100 */
    int *fds = malloc(sizeof(int) * (size_t)(flood + 1000));
    int made = open_idle("127.0.0.2", s.port, flood, fds);
    ck_assert_int_gt(made, 200);
    int closed = count_closed(fds, made, 500);
    int held = open_fds(s.pid) - fd0;
    fprintf(stderr, "idle flood: %d connections from one address, %d closed at once, "
                    "server holds %d more fds\n", made, closed, held);
    ck_assert_msg(held <= 100 + 8, "the server holds %d connections from one address", held);
    ck_assert_int_ge(closed, made - 100);
    /* a healthy client from another address is served meanwhile */
    assert_healthy(&s);

    /* then from ten addresses: the global limit (400) holds */
    int more = 0;
    for (int a = 0; a < 10; a++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", 10 + a);
        more += open_idle(src, s.port, 100, fds + made + more);
    }
    sleep_ms(500);
    held = open_fds(s.pid) - fd0;
    fprintf(stderr, "idle flood: %d more from ten addresses, server holds %d connection fds\n",
            more, held);
    ck_assert_msg(held <= 400 + 8, "the server holds %d connections, limit 400", held);
    ck_assert_msg(kill(s.pid, 0) == 0, "the server died");

    /* the idle timeout frees every slot: healthy clients are served again */
    long long deadline = now_ms() + 15000;
    int status = 0;
    while (now_ms() < deadline) {
        int fd = connect_from(NULL, s.port, 1000);
        if (fd >= 0) {
            const char *h = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
            send_all(fd, h, strlen(h), 1000);
            resp r;
            if (read_resp(fd, 1000, &r) == 0) {
                status = r.status;
                resp_free(&r);
            }
            close(fd);
        }
        if (status == 200)
            break;
        sleep_ms(200);
    }
    ck_assert_msg(status == 200, "no healthy answer after the idle flood timed out");
    for (int i = 0; i < made + more; i++)
        close(fds[i]);
    free(fds);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

/* --- model lifecycle ------------------------------------------------------------ */

/* Writes a copy of the shipped model with a new id and, when bias_tilt is
 * not 0, output biases tilted so that its probabilities differ. */
static void write_variant(const char *path, const char *id, float bias_tilt)
{
    model m;
    char err[512];
    ck_assert_msg(model_load(&m, model_path(), err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(model_set_meta(&m, "id", id), 0);
    for (int i = 0; i < m.sizes[m.n_layers]; i++)
        m.b[m.n_layers - 1][i] += bias_tilt * (float)i;
    ck_assert_msg(model_save(&m, path, err, sizeof err) == 0, "%s", err);
    model_free(&m);
}

/* Starts the server on a bad model file and returns its log; the server
 * must exit 1 without ever listening. */
static char *refused_log(const char *path)
{
    server s;
    ck_assert_msg(server_spawn(&s, path, quick_timeout) != 0, "the server started with %s", path);
    char *log = slurp_log(&s);
    ck_assert_msg(strstr(log, "cannot load the model") != NULL, "no clear message:\n%s", log);
    return log;
}

START_TEST(test_bad_models_refuse_startup)
{
    size_t len;
    uint8_t *good = read_file(model_path(), &len);
    char p[512];
    char *log;

    tmp_path(p, sizeof p, "truncated.bin");
    write_file(p, good, len / 2);
    log = refused_log(p);
    ck_assert_msg(strstr(log, "checksum") || strstr(log, "truncated"), "%s", log);
    free(log);

    tmp_path(p, sizeof p, "tiny.bin");
    write_file(p, good, 20);
    log = refused_log(p);
    ck_assert_msg(strstr(log, "too short"), "%s", log);
    free(log);

    tmp_path(p, sizeof p, "corrupted.bin");
    good[len / 2] ^= 0x40;
    write_file(p, good, len);
    good[len / 2] ^= 0x40;
    log = refused_log(p);
    ck_assert_msg(strstr(log, "checksum mismatch"), "%s", log);
    free(log);

    tmp_path(p, sizeof p, "version2.bin");
    good[8] = 2;
    write_file(p, good, len);
    good[8] = 1;
    log = refused_log(p);
    ck_assert_msg(strstr(log, "unsupported model format version 2 (this build reads 1)"), "%s", log);
    free(log);

    tmp_path(p, sizeof p, "notamodel.bin");
    char zip[200];
    memset(zip, 'z', sizeof zip);
    memcpy(zip, "PK\x03\x04", 4);   /* a zip file, perhaps */
    write_file(p, zip, sizeof zip);
    log = refused_log(p);
    ck_assert_msg(strstr(log, "bad magic"), "%s", log);
    free(log);

    tmp_path(p, sizeof p, "empty.bin");
    write_file(p, "", 0);
    log = refused_log(p);
    free(log);

    tmp_path(p, sizeof p, "missing.bin");
    log = refused_log(p);
    ck_assert_msg(strstr(log, "No such file"), "%s", log);
    free(log);

    log = refused_log(tmpdir);   /* a directory */
    free(log);

    /* a well-formed file whose weights are NaN (valid checksum): made by
     * hand, since model_save() itself refuses to write one. The last
     * parameters come just before the 32-byte SHA-256 of all that precedes
     * it, little-endian floats. */
    model m;
    char err[512];
    size_t nan_len;
    uint8_t *nan_model = read_file(model_path(), &nan_len);
    ck_assert_uint_gt(nan_len, 36);
    const uint8_t quiet_nan[4] = {0x00, 0x00, 0xc0, 0x7f};
    memcpy(nan_model + nan_len - 32 - 4, quiet_nan, 4);
    sha256(nan_model, nan_len - 32, nan_model + nan_len - 32);
    tmp_path(p, sizeof p, "nan.bin");
    write_file(p, nan_model, nan_len);
    free(nan_model);
    log = refused_log(p);
    ck_assert_msg(strstr(log, "not a finite number"), "%s", log);
    free(log);

    /* a valid model of the wrong shape (9 classes) */
    int sizes[] = {784, 16, 9};
    ck_assert_int_eq(model_init(&m, sizes, 3, err, sizeof err), 0);
    tmp_path(p, sizeof p, "nine.bin");
    ck_assert_int_eq(model_save(&m, p, err, sizeof err), 0);
    model_free(&m);
    log = refused_log(p);
    ck_assert_msg(strstr(log, "10"), "%s", log);
    free(log);
    free(good);
}
END_TEST

/* Whether /model names id; *body gets the answer for messages. */
static bool model_id_matches(unsigned port, const char *id, char *body, size_t body_len)
{
    resp r = get(port, "/model");
    ck_assert_int_eq(r.status, 200);
    cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
    ck_assert_ptr_nonnull(j);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "id");
    bool same = cJSON_IsString(v) && strcmp(v->valuestring, id) == 0;
    snprintf(body, body_len, "%.*s", (int)r.body_len, r.body);
    cJSON_Delete(j);
    resp_free(&r);
    return same;
}

static void model_id_is(unsigned port, const char *id)
{
    char body[512];
    ck_assert_msg(model_id_matches(port, id, body, sizeof body), "model id: %s", body);
}

/* A reload takes effect when the server gets to it, which under the
 * sanitizers or on a loaded machine can take a while: poll, up to 10 s. */
static void wait_for_model_id(unsigned port, const char *id)
{
    char body[512];
    long long deadline = now_ms() + 10000;
    while (!model_id_matches(port, id, body, sizeof body)) {
        ck_assert_msg(now_ms() < deadline, "model %s never served; /model: %s", id, body);
        sleep_ms(20);
    }
}

START_TEST(test_sighup_bad_file_keeps_old_model)
{
    char served[512], b[512];
    tmp_path(served, sizeof served, "served.bin");
    write_variant(served, "hostile-A", 0);
    tmp_path(b, sizeof b, "b.bin");
    write_variant(b, "hostile-B", 0.5f);
    server s;
    server_start(&s, served, quick_timeout);
    model_id_is(s.port, "hostile-A");

    size_t len;
    uint8_t *good = read_file(served, &len);
    int rejected = 0;
    /* truncated, corrupted, wrong version, empty, gone */
    for (int k = 0; k < 5; k++) {
        if (k == 0)
            write_file(served, good, len - 100);
        if (k == 1) {
            good[len / 3] ^= 1;
            write_file(served, good, len);
            good[len / 3] ^= 1;
        }
        if (k == 2) {
            good[8] = 9;
            write_file(served, good, len);
            good[8] = 1;
        }
        if (k == 3)
            write_file(served, "", 0);
        if (k == 4)
            unlink(served);
        kill(s.pid, SIGHUP);
        wait_for_log(&s, "model reload rejected", ++rejected);
        model_id_is(s.port, "hostile-A");
        resp r = get(s.port, "/readyz");
        ck_assert_int_eq(r.status, 200);
        resp_free(&r);
        r = post_png(s.port, "image/png", good_png, good_png_len);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_nonnull(strstr(r.body, "\"model_id\":\"hostile-A\""));
        resp_free(&r);
    }
    resp r = get(s.port, "/metrics");
    ck_assert_ptr_nonnull(strstr(r.body, "digits_model_reloads_total{result=\"failure\"} 5"));
    resp_free(&r);
    /* a good file is then taken */
    rename(b, served);
    kill(s.pid, SIGHUP);
    wait_for_log(&s, "model reloaded from", 1);
    model_id_is(s.port, "hostile-B");
    free(good);
    server_stop_clean(&s);
}
END_TEST

/* What /predict must say for the test digit under each model. */
typedef struct {
    char id[SERVED_MODEL_ID_MAX + 1];
    float probs[10];
} expected_answer;

static void expected_for(const char *path, expected_answer *e)
{
    served_model *sm;
    char err[512];
    server_config defaults;   /* the weights the spawned server uses */
    config_defaults(&defaults);
    ck_assert_msg(served_model_load(path, defaults.weights, &sm, err, sizeof err) == 0, "%s", err);
    float *scratch = malloc((sm->scratch_floats + 1) * sizeof(float));
    infer_result *res = malloc(sizeof *res);
    ck_assert_int_eq(infer_png(sm, good_png, good_png_len, 1u << 24, false, scratch, res), INFER_OK);
    snprintf(e->id, sizeof e->id, "%s", sm->id);
    memcpy(e->probs, res->probabilities, sizeof e->probs);
    free(res);
    free(scratch);
    served_model_release(sm);
}

typedef struct {
    unsigned port;
    const expected_answer *models;   /* 2 */
    atomic_bool *stop;
    int answers[2];
    int bad;
    char why[512];
} hammer_ctx;

static void *hammer(void *arg)
{
    hammer_ctx *h = arg;
    int fd = -1;
    while (!atomic_load(h->stop) && h->bad == 0) {
        if (fd < 0)
            fd = connect_from(NULL, h->port, 5000);
        if (fd < 0) {
            h->bad++;
            snprintf(h->why, sizeof h->why, "cannot connect");
            break;
        }
        char head[256];
        int n = snprintf(head, sizeof head, "POST /predict HTTP/1.1\r\nHost: t\r\n"
                                            "Content-Type: image/png\r\nContent-Length: %zu\r\n\r\n",
                         good_png_len);
        resp r;
        if (send_all(fd, head, (size_t)n, 5000) != 0 ||
            send_all(fd, good_png, good_png_len, 5000) != 0 || read_resp(fd, 10000, &r) != 0) {
            close(fd);
            fd = -1;
            continue;   /* a keep-alive connection may be closed: reconnect */
        }
        if (r.status != 200) {
            h->bad++;
            snprintf(h->why, sizeof h->why, "status %d: %.300s", r.status, r.body);
            resp_free(&r);
            break;
        }
        cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "model_id");
        const cJSON *probs = cJSON_GetObjectItemCaseSensitive(j, "probabilities");
        int which = -1;
        for (int m = 0; m < 2 && cJSON_IsString(id); m++)
            if (strcmp(id->valuestring, h->models[m].id) == 0)
                which = m;
        if (which < 0 || cJSON_GetArraySize(probs) != 10) {
            h->bad++;
            snprintf(h->why, sizeof h->why, "unknown model in %.300s", r.body);
        } else {
            for (int i = 0; i < 10; i++) {
                double got = cJSON_GetArrayItem(probs, i)->valuedouble;
                double want = h->models[which].probs[i];
                if (fabs(got - want) > 1e-6 * fabs(want) + 1e-37) {
                    h->bad++;
                    snprintf(h->why, sizeof h->why,
                             "model %s answered p[%d] = %.9g, its weights give %.9g: a mixed "
                             "model (%.200s)", h->models[which].id, i, got, want, r.body);
                    break;
                }
            }
            h->answers[which]++;
        }
        cJSON_Delete(j);
        resp_free(&r);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* The served file is rewritten over and over while requests run, both
 * atomically (rename) and in place (truncate and write, with SIGHUPs
 * landing mid-write). Every answer must come from model A or model B as a
 * whole: its id and its probabilities agree. Half-written files are
 * refused by the checksum and the previous model keeps serving. */
START_TEST(test_model_replaced_while_requests_run)
{
    char served[512], pa[512], pb[512], tmp[512];
    tmp_path(pa, sizeof pa, "a.bin");
    tmp_path(pb, sizeof pb, "b.bin");
    tmp_path(served, sizeof served, "served.bin");
    tmp_path(tmp, sizeof tmp, "served.bin.next");
    write_variant(pa, "hostile-A", 0);
    write_variant(pb, "hostile-B", 3.0f);
    expected_answer models[2];
    expected_for(pa, &models[0]);
    expected_for(pb, &models[1]);
    int differ = 0;
    for (int i = 0; i < 10; i++)
        differ |= fabsf(models[0].probs[i] - models[1].probs[i]) >
                  0.1f * fmaxf(models[0].probs[i], models[1].probs[i]);
    ck_assert_msg(differ, "the two test models answer alike: %s %g %g / %s %g %g", models[0].id,
                  models[0].probs[7], models[0].probs[9], models[1].id, models[1].probs[7],
                  models[1].probs[9]);
    size_t la, lb;
    uint8_t *a = read_file(pa, &la), *b = read_file(pb, &lb);
    write_file(served, a, la);

    server s;
    const char *const args[] = {"--threads", "2", NULL};
    server_start(&s, served, args);
    atomic_bool stop;
    atomic_init(&stop, false);
    hammer_ctx ctx[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        memset(&ctx[i], 0, sizeof ctx[i]);
        ctx[i].port = s.port;
        ctx[i].models = models;
        ctx[i].stop = &stop;
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, &ctx[i]), 0);
    }
    for (int round = 0; round < 60; round++) {
        const uint8_t *next = round % 2 ? b : a;
        size_t next_len = round % 2 ? lb : la;
        if (round % 3 == 0) {
            write_file(tmp, next, next_len);
            ck_assert_int_eq(rename(tmp, served), 0);
            kill(s.pid, SIGHUP);
        } else {
            /* in place: the server may read it truncated or half-written */
            int fd = open(served, O_WRONLY | O_TRUNC);
            ck_assert_int_ge(fd, 0);
            size_t half = next_len / 2;
            ck_assert_int_eq(write(fd, next, half), (ssize_t)half);
            kill(s.pid, SIGHUP);
            sleep_ms(3);
            ck_assert_int_eq(write(fd, next + half, next_len - half), (ssize_t)(next_len - half));
            close(fd);
            kill(s.pid, SIGHUP);
        }
        sleep_ms(25);
    }
    /* However the swaps fell, end with B served for a moment under load, so
     * that both models' answers are checked whatever the timing. */
    write_file(tmp, b, lb);
    ck_assert_int_eq(rename(tmp, served), 0);
    kill(s.pid, SIGHUP);
    wait_for_model_id(s.port, "hostile-B");
    sleep_ms(200);
    atomic_store(&stop, true);
    int total[2] = {0, 0};
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(ctx[i].bad == 0, "client %d: %s", i, ctx[i].why);
        total[0] += ctx[i].answers[0];
        total[1] += ctx[i].answers[1];
    }
    fprintf(stderr, "model swaps under load: %d answers from A, %d from B, none mixed\n",
            total[0], total[1]);
    ck_assert_int_gt(total[0], 0);
    ck_assert_int_gt(total[1], 0);
    /* the last good file wins */
    write_file(tmp, a, la);
    rename(tmp, served);
    kill(s.pid, SIGHUP);
    wait_for_model_id(s.port, "hostile-A");
    free(a);
    free(b);
    assert_healthy(&s);
    server_stop_clean(&s);
}
END_TEST

/* --- security defaults ------------------------------------------------------------ */

START_TEST(test_security_defaults)
{
    server_config c;
    config_defaults(&c);
    ck_assert_str_eq(c.bind_addr, "0.0.0.0");   /* documented: all IPv4 interfaces */
    ck_assert_uint_eq(c.max_upload, (size_t)4 << 20);
    ck_assert_uint_eq(c.max_pixels, (uint64_t)4096 * 4096);
    ck_assert_uint_gt(c.max_per_ip, 0);

    server s;
    server_start(&s, model_path(), quick_timeout);
    /* nothing is served from disk, whatever the path says */
    const char *paths[] = {"/etc/passwd", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                           "/models/mnist-mlp.bin", "/web/index.html", "/index.html",
                           "/Makefile", "//etc/passwd", "/predict/../model/../../etc/passwd",
                           "/.git/config", "/server/http.c", "/healthz/../../etc/passwd"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        resp r = get(s.port, paths[i]);
        ck_assert_msg(r.status == 404 || r.status == 400, "%s: %d", paths[i], r.status);
        if (r.status == 404)
            assert_json_error(&r, 404, "not_found");
        ck_assert_msg(!strstr(r.body ? r.body : "", "root:"), "%s leaked a file", paths[i]);
        resp_free(&r);
    }
    /* every answer, good or bad, carries the security headers */
    const char *gets[] = {"/healthz", "/readyz", "/model", "/metrics", "/nope"};
    for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++) {
        resp r = get(s.port, gets[i]);
        ck_assert_int_ne(r.status, 0);
        assert_security_headers(&r);
        resp_free(&r);
    }
    resp r = request(s.port, "DELETE /predict HTTP/1.1\r\nHost: t", NULL, 0);
    assert_json_error(&r, 405, "method_not_allowed");
    resp_free(&r);
    r = request(s.port, "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999", NULL, 0);
    assert_json_error(&r, 413, "payload_too_large");
    resp_free(&r);
    server_stop_clean(&s);

    /* the container runs as a non-root user */
    FILE *f = fopen("Dockerfile", "r");
    if (f) {
        char line[512], user[128] = "";
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "USER ", 5) == 0)
                sscanf(line + 5, "%127s", user);
        fclose(f);
        ck_assert_msg(user[0] && strcmp(user, "root") != 0 && strncmp(user, "0:", 2) != 0 &&
                          strcmp(user, "0") != 0,
                      "the Dockerfile's final USER is '%s'", user);
    }
}
END_TEST

static Suite *hostile_suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("inputs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_empty_and_truncated_bodies);
    tcase_add_test(tc, test_bad_crcs);
    tcase_add_test(tc, test_huge_declared_dimensions);
    tcase_add_test(tc, test_huge_palette_and_text_chunks);
    tcase_add_test(tc, test_16bit_and_interlaced_edges);
    tcase_add_test(tc, test_200mb_body);
    tcase_add_test(tc, test_upload_memory_is_bounded);
    tcase_add_test(tc, test_one_address_cannot_take_the_budget);
    tcase_add_test(tc, test_content_types);
    tcase_add_test(tc, test_multipart_attacks);
    tcase_add_test(tc, test_absurd_headers);
    suite_add_tcase(s, tc);

    tc = tcase_create("clients");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sigterm_finishes_the_request_in_flight);
    tcase_add_test(tc, test_slow_clients_are_cut_off);
    tcase_add_test(tc, test_thousands_of_idle_connections);
    suite_add_tcase(s, tc);

    tc = tcase_create("models");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_bad_models_refuse_startup);
    tcase_add_test(tc, test_sighup_bad_file_keeps_old_model);
    tcase_add_test(tc, test_model_replaced_while_requests_run);
    suite_add_tcase(s, tc);

    tc = tcase_create("defaults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_security_defaults);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *m = model_path();
    if (access(m, R_OK) != 0) {
        printf("SKIP: check_hostile needs a model at %s (set DIGITS_MODEL)\n", m);
        return 77;   /* skipped, for scripts/run-tests.sh */
    }
    SRunner *sr = srunner_create(hostile_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
