/* ceiling.c -- the fastest answer this machine can give over HTTP: a
 * libmicrohttpd server set up like digits-server (epoll, one thread per CPU
 * in a pool, keep-alive) that answers every request with the same small JSON
 * body. tests/bench/serve measures /predict against it, so the ratio shows
 * what the model and image pipeline cost on top of HTTP itself.
 *
 * With BUSY_US it first does that many microseconds of busy work per
 * request in user space (as timed on an idle core at start-up), standing in
 * for per-request work such as /predict's: what a given amount of CPU per
 * request costs in requests/s on this machine, client included (the
 * kernel's share grows with it: the slower the server, the more often the
 * client's threads sleep and must be woken).
 *
 *   ceiling PORT [THREADS [BUSY_US]]   serve on 127.0.0.1:PORT until SIGTERM
 *   ceiling --free-port                print a port that is free now and exit
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* About the size of a real /predict answer. */
static const char body[] =
    "{\"digit\":7,\"confidence\":0.999,\"probabilities\":[0,0,0,0,0,0,0,0.999,0,0],"
    "\"model_id\":\"ceiling\",\"timings\":{\"decode_ms\":0,\"preprocess_ms\":0,"
    "\"forward_ms\":0,\"total_ms\":0}}";

static struct MHD_Response *response;

/* Busy work: a chain of dependent multiply-adds, counted in iterations so
 * that a thread preempted half-way still does all of it (a wall-clock spin
 * would not). busy_iterations is calibrated at start-up. */
static uint64_t busy_iterations;
static volatile uint64_t busy_sink;

static void busy_work(uint64_t n)
{
    uint64_t x = 1;
    for (uint64_t i = 0; i < n; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    busy_sink = x;
}

/* Iterations per microsecond, from a 20 ms run (best of three). */
static double calibrate(void)
{
    const uint64_t n = 1000000;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        busy_work(n);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
        best = us < best ? us : best;
    }
    return (double)n / best;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    /* Consume any body, then answer (the same way digits-server does). */
    if (*con_cls == NULL) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (busy_iterations > 0)
        busy_work(busy_iterations);
    return MHD_queue_response(c, MHD_HTTP_OK, response);
}

/* Binds port 0 on loopback and reports what the kernel chose. */
static int print_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return 1;
    printf("%u\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

static struct sockaddr_in loopback(unsigned port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--free-port") == 0)
        return print_free_port();
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [THREADS [BUSY_US]]\n", argv[0]);
        return 2;
    }
    unsigned port = (unsigned)atoi(argv[1]);
    long threads = argc > 2 ? atol(argv[2]) : sysconf(_SC_NPROCESSORS_ONLN);
    double busy_us = argc > 3 ? atof(argv[3]) : 0.0;
    if (busy_us > 0)
        busy_iterations = (uint64_t)(busy_us * calibrate());
    if (threads < 1)
        threads = 1;
    response = MHD_create_response_from_buffer(sizeof body - 1, (void *)body,
                                               MHD_RESPMEM_PERSISTENT);
    if (!response)
        return 1;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct sockaddr_in addr = loopback(port);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC, (uint16_t)port, NULL, NULL, answer, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(threads > 1 ? threads : 0),
        MHD_OPTION_CONNECTION_LIMIT, 1024u,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "ceiling: cannot listen on port %u\n", port);
        return 1;
    }
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(response);
    return 0;
}
