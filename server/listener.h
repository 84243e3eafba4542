/* listener.h -- the listening socket and the thread that accepts on it.
 *
 * libmicrohttpd can listen by itself, but stopping that cleanly is where it
 * breaks: MHD_quiesce_daemon() on an epoll thread pool races the pool's own
 * threads to take the listen socket out of their epoll sets, and the loser
 * aborts the process ("Failed to remove listen FD from epoll set", seen on a
 * SIGTERM under load with libmicrohttpd 0.9.75). So the server owns the
 * socket: one thread accepts and hands each connection to the daemon with
 * MHD_add_connection(), which applies the connection limits as before, and
 * draining shuts the socket down, which wakes that thread, takes the socket
 * out of LISTEN (new clients are refused at once) and never touches the
 * daemon's epoll sets.
 */
#ifndef DIGITS_LISTENER_H
#define DIGITS_LISTENER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct MHD_Daemon;

typedef struct {
    int fd;                      /* -1 when closed */
    unsigned port;               /* the bound port (useful with port 0) */
    struct MHD_Daemon *daemon;   /* where accepted connections go */
    pthread_t thread;
    bool thread_running;
    atomic_bool stopping;
} listener;

/* Binds and listens on an IPv4 or IPv6 literal; "::" also takes IPv4.
 * Returns 0, or -1 with a message. */
int listener_open(listener *l, const char *bind_addr, unsigned port, char *err, size_t err_len);

/* Starts accepting into daemon (started with MHD_USE_NO_LISTEN_SOCKET and
 * MHD_USE_ITC). Returns 0, or -1 with a message. */
int listener_start(listener *l, struct MHD_Daemon *daemon, char *err, size_t err_len);

/* Stops accepting: new connections are refused from here on. Safe to call
 * more than once, and from any thread except a signal handler. */
void listener_stop(listener *l);

/* listener_stop, waits for the accepting thread, closes the socket. */
void listener_close(listener *l);

#endif
