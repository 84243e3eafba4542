/* metrics.h -- the server's Prometheus metrics: lock-free counters and
 * histograms that request threads update, and a renderer for GET /metrics.
 *
 * Updates are relaxed atomic increments, so instrumenting the hot path costs
 * a few uncontended instructions and never a lock. A scrape reads each value
 * once; it may see one request's count without its sum, which Prometheus
 * tolerates (every series is monotonic on its own).
 */
#ifndef DIGITS_METRICS_H
#define DIGITS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

/* The handler label: one per route plus one for every unknown path, so a
 * scanner requesting random URLs cannot create unbounded series. */
typedef enum {
    METRIC_HANDLER_PREDICT,
    METRIC_HANDLER_MODEL,
    METRIC_HANDLER_METRICS,
    METRIC_HANDLER_HEALTHZ,
    METRIC_HANDLER_READYZ,
    METRIC_HANDLER_INDEX,
    METRIC_HANDLER_OTHER,
    METRIC_N_HANDLERS
} metric_handler;

typedef enum {
    METRIC_STAGE_DECODE,
    METRIC_STAGE_PREPROCESS,
    METRIC_STAGE_FORWARD,
    METRIC_N_STAGES
} metric_stage;

#define METRIC_LATENCY_BUCKETS 16
#define METRIC_STAGE_BUCKETS 16
#define METRIC_MIN_STATUS 100
#define METRIC_MAX_STATUS 599

typedef struct {
    atomic_uint_fast64_t counts[METRIC_LATENCY_BUCKETS + 1];   /* last: above every bound */
    atomic_uint_fast64_t sum_ns;
} metric_histogram;

typedef struct {
    atomic_uint_fast64_t requests[METRIC_N_HANDLERS][METRIC_MAX_STATUS - METRIC_MIN_STATUS + 1];
    metric_histogram latency[METRIC_N_HANDLERS];
    metric_histogram stages[METRIC_N_STAGES];
    atomic_uint_fast64_t predictions[10];
    atomic_int_fast64_t in_flight;
    atomic_int_fast64_t connections_open;
    unsigned connections_max;   /* the connection limit in force, set at start-up */
    atomic_uint_fast64_t reloads_ok;
    atomic_uint_fast64_t reloads_failed;
    double start_time;          /* process start, Unix seconds */
} metrics;

/* What the renderer needs to know about the model being served. */
typedef struct {
    const char *id;
    const char *arch;
    bool has_test_accuracy;
    double test_accuracy;       /* 0..1 */
    double loaded_at;           /* Unix seconds */
} metrics_model_info;

void metrics_init(metrics *m);

void metrics_request_started(metrics *m);
/* Records one finished request (status outside 100..599 is counted as 500). */
void metrics_request_finished(metrics *m, metric_handler h, unsigned status, uint64_t duration_ns);
/* A TCP connection was accepted (opened) or closed: with the limit, the
 * open count says how close the server is to making new clients wait. */
void metrics_connection(metrics *m, bool opened);
void metrics_stage(metrics *m, metric_stage s, uint64_t duration_ns);
void metrics_prediction(metrics *m, int digit);
void metrics_reload(metrics *m, bool ok);

/* Appends the whole exposition (text format 0.0.4) to out. model may be NULL
 * (no model loaded). Returns 0, or -1 when out ran out of memory. */
int metrics_render(metrics *m, const metrics_model_info *model, strbuf *out);

const char *metrics_handler_label(metric_handler h);

#endif
