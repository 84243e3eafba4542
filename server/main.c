/* main.c -- digits-server: configuration, start-up, signals, shutdown.
 *
 * Signals are handled synchronously: they are blocked in every thread
 * (libmicrohttpd's threads inherit the mask) and this thread waits for them
 * with sigtimedwait(). Reloading and draining therefore run as ordinary code
 * on the main thread, not inside an async-signal handler.
 *
 * Exit codes: 0 after a clean shutdown (or --help/--version, or a healthy
 * --healthcheck), 1 when the server cannot start or a health check fails,
 * 2 for a usage error.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "healthcheck.h"
#include "heap_policy.h"
#include "http.h"
#include "log.h"

#define HEALTHCHECK_TIMEOUT_MS 3000

static int run_healthcheck(const server_config *cfg)
{
    char url[HEALTHCHECK_MAX_HOST + 64];
    const char *target = cfg->healthcheck_url;
    if (!target) {
        /* The admin port, when there is one: it answers even while every
         * worker thread is busy, which is what a probe should measure. */
        unsigned port = cfg->admin_port != CONFIG_ADMIN_PORT_OFF ? cfg->admin_port : cfg->port;
        if (port == 0) {
            fprintf(stderr, "digits-server: --healthcheck: with port 0 the port is the "
                            "kernel's choice; give the URL (--healthcheck http://HOST:PORT/healthz)\n");
            return 2;
        }
        /* Ask the address the server listens on; for a wildcard bind, the
         * loopback of the same family. */
        const char *host = cfg->bind_addr;
        if (strcmp(host, "0.0.0.0") == 0)
            host = "127.0.0.1";
        else if (strcmp(host, "::") == 0)
            host = "::1";
        bool v6 = strchr(host, ':') != NULL;
        snprintf(url, sizeof url, "http://%s%s%s:%u/healthz", v6 ? "[" : "", host,
                 v6 ? "]" : "", port);
        target = url;
    }
    char err[256] = "";
    int status = healthcheck_get(target, HEALTHCHECK_TIMEOUT_MS, err, sizeof err);
    if (status == 200)
        return 0;
    if (status > 0)
        fprintf(stderr, "digits-server: healthcheck %s: HTTP %d\n", target, status);
    else
        fprintf(stderr, "digits-server: healthcheck %s: %s\n", target, err);
    return 1;
}

/* Waits for in-flight requests after SIGTERM, up to the drain timeout; a
 * second SIGTERM or SIGINT cuts the wait short. */
static void drain(http_server *srv, const sigset_t *signals)
{
    unsigned timeout_s = srv->state.cfg.drain_timeout_s;
    http_server_begin_drain(srv, timeout_s * 1000u);
    log_event(LOG_INFO, "draining: not ready, no new connections, %ld requests in flight (up to %us)",
              http_server_in_flight(srv), timeout_s);
    while (http_server_in_flight(srv) > 0) {
        if (drain_deadline_passed(&srv->state)) {
            log_event(LOG_WARN, "drain timeout: %ld requests still in flight are cut off",
                      http_server_in_flight(srv));
            return;
        }
        struct timespec tick = {0, 20 * 1000 * 1000};
        int sig = sigtimedwait(signals, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            log_event(LOG_WARN, "second stop signal: not waiting for %ld requests in flight",
                      http_server_in_flight(srv));
            return;
        }
        if (sig == SIGHUP)
            log_event(LOG_INFO, "SIGHUP while stopping: the model is not reloaded");
    }
}

int main(int argc, char **argv)
{
    server_config cfg;
    config_defaults(&cfg);
    char err[1024] = "";
    if (config_from_args(&cfg, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "digits-server: %s\n", err);
        return 2;
    }
    /* Help and version whatever the environment holds. */
    if (cfg.mode == CONFIG_MODE_HELP) {
        config_print_usage(stdout, argv[0]);
        return 0;
    }
    if (cfg.mode == CONFIG_MODE_VERSION) {
        printf("digits-server %s\n", DIGITS_VERSION);
        return 0;
    }
    if (config_from_env(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "digits-server: %s\n", err);
        return 2;
    }
    if (cfg.mode == CONFIG_MODE_HEALTHCHECK)
        return run_healthcheck(&cfg);

    log_configure(cfg.log_format, 2);
    if (heap_policy_keep_request_memory() != 0)
        log_event(LOG_INFO, "the C library's allocator keeps its own policy: "
                            "large uploads are decoded and prepared more slowly");

    /* Before any thread exists, so that every thread inherits the mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &signals, NULL) != 0) {
        fprintf(stderr, "digits-server: cannot block signals\n");
        return 1;
    }
    /* A client hanging up mid-answer must not kill the process. */
    signal(SIGPIPE, SIG_IGN);

    static http_server srv;   /* large (metrics tables): keep it off the stack */
    if (http_server_init(&srv, &cfg, err, sizeof err) != 0) {
        log_event(LOG_ERROR, "cannot load the model: %s", err);
        http_server_destroy(&srv);
        return 1;
    }
    if (http_server_start(&srv, err, sizeof err) != 0) {
        log_event(LOG_ERROR, "cannot start: %s", err);
        http_server_destroy(&srv);
        return 1;
    }
    {
        served_model *sm = model_store_acquire(&srv.state.store);
        log_event(LOG_INFO,
                  "digits-server %s listening on %s port %u: %u threads, model %s (%s, %s, "
                  "%s weights, %s kernel), max upload %zu bytes, max %llu pixels",
                  DIGITS_VERSION, cfg.bind_addr, srv.port, srv.threads, sm->id, sm->arch,
                  cfg.model_path, mlp_weights_format_name(sm->weights.format),
                  mlp_kernel_name(sm->weights.kernel), cfg.max_upload,
                  (unsigned long long)cfg.max_pixels);
        served_model_release(sm);
        if (srv.admin_daemon)
            log_event(LOG_INFO, "admin port %u: /healthz, /readyz and /metrics on a thread of their own",
                      srv.admin_port);
    }

    for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            log_event(LOG_INFO, "SIGHUP: reloading %s", cfg.model_path);
            http_server_reload(&srv, err, sizeof err);
            continue;
        }
        log_event(LOG_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
    drain(&srv, &signals);
    http_server_destroy(&srv);
    log_event(LOG_INFO, "stopped");
    return 0;
}
