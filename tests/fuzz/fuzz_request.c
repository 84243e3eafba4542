#define _GNU_SOURCE   /* memmem */
/* fuzz_request.c -- libFuzzer target: the whole request path, bytes on a
 * socket to bytes back. The real http_server (libmicrohttpd, http.c,
 * routes.c, the shipped model) runs in this process on an ephemeral
 * loopback port; each input is written to a fresh connection as raw HTTP
 * (request line, headers, query string, chunked or sized bodies, pipelined
 * requests), the write side is shut, and the answer is read until the
 * server closes.
 *
 * Properties: the server never answers 500/502/503/504 (a stranger's bytes
 * are never the server's fault; 501 is allowed, the answer to a transfer
 * coding it does not implement), every JSON answer parses, every connection
 * is closed within a few seconds of the client finishing (no stuck slot),
 * and every request that began also completes (nothing left in flight).
 * ASan/UBSan cover the server threads as well as this one.
 *
 * The server runs one thread with no per-address limit; its upload limit
 * is 4 KiB, so that both ways of refusing a large body (declared and
 * chunked) are within reach of small inputs, and it lets http://a.example
 * in (--cors-origin), so that CORS preflights and answers are too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

#include "fuzz_server.h"

#define FUZZ_MAX_UPLOAD 4096
#define CLOSE_DEADLINE_MS 8000     /* server must close after the client's FIN */
#define COMPLETE_DEADLINE_MS 3000  /* and finish the request's bookkeeping */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static http_server srv;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    log_configure(LOG_FORMAT_TEXT, getenv("FUZZ_LOG") ? 2 : -1);
    server_config cfg;
    config_defaults(&cfg);
    cfg.model_path = fuzz_model_path((*argv)[0]);
    cfg.bind_addr = "127.0.0.1";
    cfg.port = 0;
    cfg.threads = 1;
    cfg.max_per_ip = 0;
    cfg.max_upload = FUZZ_MAX_UPLOAD;
    cfg.max_pixels = 1024 * 1024;
    cfg.timeout_s = 5;
    cfg.cors_origins = "http://a.example";
    char err[1024];
    if (http_server_init(&srv, &cfg, err, sizeof err) != 0 ||
        http_server_start(&srv, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_request: %s\n", err);
        exit(1);
    }
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Aborts on a server-side failure status at the start of any response:
 * 500, 502, 503 or 504, not 501 (Not Implemented: what the client asked
 * for, such as a gzip transfer coding, is refused by design). */
static void check_statuses(const char *buf, size_t len)
{
    for (size_t i = 0; i + 12 <= len; i++) {
        if ((i == 0 || buf[i - 1] == '\n') && memcmp(buf + i, "HTTP/1.", 7) == 0 &&
            buf[i + 8] == ' ') {
            const char *s = buf + i + 9;
            if (s[0] == '5' && s[1] == '0' && s[2] >= '0' && s[2] <= '4' && s[2] != '1') {
                fprintf(stderr, "fuzz_request: the server answered %.3s:\n%.*s\n", s,
                        (int)(len - i > 600 ? 600 : len - i), buf + i);
                abort();
            }
        }
    }
}

/* The first response, when it is one of ours (JSON with a length), must be
 * a well-formed answer. */
static void check_first_json(const uint8_t *req, size_t req_len, const char *buf, size_t len)
{
    /* The answer to HEAD has a Content-Length but no body. */
    while (req_len > 0 && (*req == '\r' || *req == '\n')) {
        req++;
        req_len--;
    }
    if (req_len >= 5 && memcmp(req, "HEAD ", 5) == 0)
        return;
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end || len < 12 || memcmp(buf, "HTTP/1.", 7) != 0)
        return;
    size_t head = (size_t)(end - buf) + 4;
    char headers[4096];
    size_t hn = head < sizeof headers - 1 ? head : sizeof headers - 1;
    memcpy(headers, buf, hn);
    headers[hn] = '\0';
    for (char *p = headers; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (!strstr(headers, "\r\ncontent-type: application/json"))
        return;
    const char *cl = strstr(headers, "\r\ncontent-length: ");
    if (!cl)
        return;
    size_t n = strtoul(cl + 18, NULL, 10);
    if (n == 0 || head + n > len)
        return;   /* HEAD, or a body cut short by the connection closing */
    /* The next response straight after the headers: this one answered a
     * HEAD that the check above missed, because libmicrohttpd skipped junk
     * before its request line (found by the fuzzer). */
    if (len - head >= 7 && memcmp(buf + head, "HTTP/1.", 7) == 0)
        return;
    if (!strstr(headers, "x-content-type-options: nosniff") ||
        !strstr(headers, "content-security-policy: ")) {
        fprintf(stderr, "fuzz_request: an answer without the security headers:\n%s\n", headers);
        abort();
    }
    unsigned status = (unsigned)atoi(buf + 9);
    fuzz_check_json(status, buf + head, n);
}

/* The server's end of our connection, found by its peer address (the
 * server accepts asynchronously, so this retries for a moment); -1 if the
 * server has already closed it. */
static int server_side_fd(int client_fd)
{
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    if (getsockname(client_fd, (struct sockaddr *)&me, &ml) != 0)
        return -1;
    for (int attempt = 0; attempt < 2000; attempt++) {
        int misses = 0;
        for (int fd = 3; misses < 64; fd++) {
            struct sockaddr_in peer;
            socklen_t pl = sizeof peer;
            if (fd == client_fd)
                continue;
            if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0) {
                if (errno == EBADF)
                    misses++;
                continue;
            }
            misses = 0;
            if (pl == sizeof peer && peer.sin_family == AF_INET && peer.sin_port == me.sin_port &&
                peer.sin_addr.s_addr == me.sin_addr.s_addr)
                return fd;
        }
        /* Not there: not accepted yet, or already closed by the server. */
        struct pollfd p = {client_fd, POLLRDHUP, 0};
        if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
            return -1;
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* libmicrohttpd's epoll loop is edge-triggered and takes a short read as
 * "drained": a FIN that arrives together with the last request bytes is
 * never noticed, and the connection then idles until --timeout (see
 * HARDENING_NOTES.md). So the client half-closes only once the server has
 * read every byte sent, which makes the FIN a fresh event. Meanwhile the
 * answers are drained, so a server writing large responses never blocks. */
static void wait_until_consumed(int fd, char *buf, size_t cap, size_t *len)
{
    int sfd = server_side_fd(fd);
    if (sfd < 0)
        return;
    long long deadline = now_ms() + CLOSE_DEADLINE_MS;
    for (;;) {
        int unread = 0;
        if (ioctl(sfd, FIONREAD, &unread) != 0 || unread == 0)
            return;   /* all read (or the server closed the socket) */
        ssize_t k = recv(fd, buf + *len, cap - *len, MSG_DONTWAIT);
        if (k > 0)
            *len += (size_t)k;
        else if (k == 0)
            return;
        if (now_ms() > deadline || *len == cap)
            return;   /* the caller's deadline check reports it */
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        /* libFuzzer's timers interrupt system calls; an interrupted
         * connect goes on in the background. */
        int err = errno;
        if (err == EINTR || err == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            socklen_t el = sizeof err;
            while (poll(&p, 1, 5000) < 0 && errno == EINTR)
                ;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
                err = errno;
        }
        if (err != 0 && err != EINTR && err != EINPROGRESS) {
            fprintf(stderr, "fuzz_request: connect: %s\n", strerror(err));
            abort();
        }
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t off = 0;
    while (off < size) {
        ssize_t k = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;   /* the server may close early (413, malformed request) */
        off += (size_t)k;
    }
    static char buf[1 << 20];
    size_t len = 0;
    wait_until_consumed(fd, buf, sizeof buf, &len);
    shutdown(fd, SHUT_WR);

    long long deadline = now_ms() + CLOSE_DEADLINE_MS;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            fprintf(stderr, "fuzz_request: the server kept the connection open %d ms after the "
                            "client finished\n", CLOSE_DEADLINE_MS);
            abort();
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t k = recv(fd, buf + len, len < sizeof buf ? sizeof buf - len : 0, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || len == sizeof buf)
            break;   /* closed (FIN or reset) */
        len += (size_t)k;
    }
    close(fd);
    check_statuses(buf, len);
    check_first_json(data, size, buf, len);

    deadline = now_ms() + COMPLETE_DEADLINE_MS;
    while (http_server_in_flight(&srv) > 0) {
        if (now_ms() > deadline) {
            fprintf(stderr, "fuzz_request: %ld requests still in flight after the connection "
                            "closed\n", http_server_in_flight(&srv));
            abort();
        }
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return 0;
}
