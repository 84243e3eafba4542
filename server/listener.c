/* listener.c -- the listening socket and its accepting thread; see listener.h. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

/* The kernel caps this at net.core.somaxconn. */
#define LISTEN_BACKLOG 1024

int listener_open(listener *l, const char *bind_addr, unsigned port, char *err, size_t err_len)
{
    memset(l, 0, sizeof *l);
    l->fd = -1;
    atomic_init(&l->stopping, false);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)&ss;
    socklen_t len;
    int family;
    if (inet_pton(AF_INET, bind_addr, &v4->sin_addr) == 1) {
        family = v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, bind_addr, &v6->sin6_addr) == 1) {
        family = v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        len = sizeof *v6;
    } else {
        snprintf(err, err_len, "bad bind address '%s'", bind_addr);
        return -1;
    }

    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, err_len, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    /* A restarted server must not wait out the old one's TIME_WAITs. */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6) {
        /* "::" means every address, IPv4 included; any other v6 address
         * means just that one. */
        int v6only = IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr) ? 0 : 1;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, err_len, "cannot listen on %s port %u: %s", bind_addr, port,
                 strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) {
        snprintf(err, err_len, "cannot read the bound port: %s", strerror(errno));
        close(fd);
        return -1;
    }
    l->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)(void *)&bound)->sin_port
                                      : ((struct sockaddr_in6 *)(void *)&bound)->sin6_port);
    l->fd = fd;
    return 0;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *accept_loop(void *arg)
{
    listener *l = arg;
    uint64_t last_complaint = 0;
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        int fd = accept(l->fd, (struct sockaddr *)&peer, &peer_len);
        if (atomic_load(&l->stopping)) {
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        if (fd < 0) {
            if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
                continue;   /* EINTR, or a network error about that one connection */
            /* Out of descriptors or memory: the connection stays in the
             * backlog; wait instead of spinning, and say so now and then. */
            uint64_t now = mono_ns();
            if (now - last_complaint > 1000000000u) {
                log_event(LOG_WARN, "accept failed: %s", strerror(errno));
                last_complaint = now;
            }
            pause_ms(10);
            continue;
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        int one = 1;
        /* Answers are written whole; Nagle would only delay them. */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* The daemon closes the socket itself when it refuses it (connection
         * or per-address limit): the client sees the connection close at
         * once instead of waiting in the backlog. */
        (void)MHD_add_connection(l->daemon, fd, (struct sockaddr *)&peer, peer_len);
    }
}

int listener_start(listener *l, struct MHD_Daemon *daemon, char *err, size_t err_len)
{
    l->daemon = daemon;
    int rc = pthread_create(&l->thread, NULL, accept_loop, l);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start the accepting thread: %s", strerror(rc));
        return -1;
    }
    l->thread_running = true;
    return 0;
}

void listener_stop(listener *l)
{
    if (l->fd < 0 || atomic_exchange(&l->stopping, true))
        return;
    /* Takes the socket out of LISTEN and wakes accept() with EINVAL. */
    shutdown(l->fd, SHUT_RDWR);
}

void listener_close(listener *l)
{
    listener_stop(l);
    if (l->thread_running) {
        pthread_join(l->thread, NULL);
        l->thread_running = false;
    }
    if (l->fd >= 0) {
        close(l->fd);
        l->fd = -1;
    }
}
