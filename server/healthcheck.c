/* healthcheck.c -- GET a URL over a plain socket and report the status. */
#include "healthcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

int healthcheck_parse_url(const char *url, healthcheck_url *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    if (strncasecmp(url, "http://", 7) != 0) {   /* a scheme has no case */
        snprintf(err, err_len, "only http:// URLs are supported: %s", url);
        return -1;
    }
    const char *p = url + 7;
    const char *host_end;
    const char *after;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end) {
            snprintf(err, err_len, "unterminated [IPv6] address in %s", url);
            return -1;
        }
        p++;
        after = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        after = host_end;
    }
    size_t host_len = (size_t)(host_end - p);
    if (host_len == 0 || host_len >= sizeof out->host) {
        snprintf(err, err_len, "bad host in %s", url);
        return -1;
    }
    memcpy(out->host, p, host_len);

    strcpy(out->port, "80");
    if (*after == ':') {
        after++;
        size_t n = strspn(after, "0123456789");
        long port = n > 0 && n <= 5 ? strtol(after, NULL, 10) : -1;
        if (port < 1 || port > 65535) {
            snprintf(err, err_len, "bad port in %s", url);
            return -1;
        }
        snprintf(out->port, sizeof out->port, "%ld", port);
        after += n;
    }
    if (*after == '\0') {
        strcpy(out->path, "/");
    } else if (*after == '/') {
        if (strlen(after) >= sizeof out->path) {
            snprintf(err, err_len, "path too long in %s", url);
            return -1;
        }
        /* Whitespace or control bytes would let the path forge headers. */
        for (const char *q = after; *q; q++) {
            if ((unsigned char)*q <= ' ' || (unsigned char)*q == 0x7F) {
                snprintf(err, err_len, "bad character in the path of %s", url);
                return -1;
            }
        }
        strcpy(out->path, after);
    } else {
        snprintf(err, err_len, "bad URL %s", url);
        return -1;
    }
    return 0;
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = mono_ns();
    if (now >= deadline)
        return 0;
    uint64_t ms = (deadline - now) / 1000000u;
    return ms > 0 ? (int)ms : 1;
}

/* Waits for events on fd until the deadline; 1 when ready, 0 on time-out. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        int ms = remaining_ms(deadline);
        if (ms == 0)
            return 0;
        struct pollfd pfd = {fd, events, 0};
        int r = poll(&pfd, 1, ms);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return 0;
    }
}

static int connect_any(const healthcheck_url *u, uint64_t deadline, char *err, size_t err_len)
{
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(u->host, u->port, &hints, &res);
    if (gai != 0) {
        snprintf(err, err_len, "cannot resolve %s: %s", u->host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    snprintf(err, err_len, "cannot connect to %s port %s", u->host, u->port);
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        int s = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (s < 0)
            continue;
        int fl = fcntl(s, F_GETFL, 0);
        if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0) {
            close(s);
            continue;
        }
        int r = connect(s, ai->ai_addr, ai->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS && wait_fd(s, POLLOUT, deadline)) {
            int so = 0;
            socklen_t len = sizeof so;
            if (getsockopt(s, SOL_SOCKET, SO_ERROR, &so, &len) == 0 && so == 0)
                r = 0;
            else
                errno = so;
        }
        if (r == 0) {
            fd = s;
        } else {
            snprintf(err, err_len, "cannot connect to %s port %s: %s", u->host, u->port,
                     strerror(errno ? errno : ETIMEDOUT));
            close(s);
        }
    }
    freeaddrinfo(res);
    return fd;
}

int healthcheck_get(const char *url, unsigned timeout_ms, char *err, size_t err_len)
{
    healthcheck_url u;
    if (healthcheck_parse_url(url, &u, err, err_len) != 0)
        return -1;
    uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000u;
    int fd = connect_any(&u, deadline, err, err_len);
    if (fd < 0)
        return -1;

    char req[HEALTHCHECK_MAX_PATH + HEALTHCHECK_MAX_HOST + 128];
    bool v6 = strchr(u.host, ':') != NULL;
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: digits-healthcheck\r\n"
                     "Connection: close\r\n\r\n",
                     u.path, v6 ? "[" : "", u.host, v6 ? "]" : "", u.port);
    size_t sent = 0;
    while (sent < (size_t)n) {
        if (!wait_fd(fd, POLLOUT, deadline)) {
            snprintf(err, err_len, "timed out sending the request");
            close(fd);
            return -1;
        }
        ssize_t w = send(fd, req + sent, (size_t)n - sent, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w <= 0) {
            snprintf(err, err_len, "send failed: %s", strerror(errno));
            close(fd);
            return -1;
        }
        sent += (size_t)w;
    }

    /* Only the status line matters: "HTTP/1.1 200 OK". */
    char buf[256];
    size_t got = 0;
    while (got < sizeof buf - 1 && !memchr(buf, '\n', got)) {
        if (!wait_fd(fd, POLLIN, deadline)) {
            snprintf(err, err_len, "timed out waiting for the answer");
            close(fd);
            return -1;
        }
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    int status = 0;
    char digits[4] = "";
    if (strncmp(buf, "HTTP/1.", 7) == 0 && (buf[7] == '0' || buf[7] == '1') && buf[8] == ' ' &&
        strspn(buf + 9, "0123456789") == 3) {
        memcpy(digits, buf + 9, 3);
        status = atoi(digits);
    }
    if (status < 100) {
        snprintf(err, err_len, "no HTTP status line in the answer");
        return -1;
    }
    return status;
}
