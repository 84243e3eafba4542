/* metrics.c -- counters, histograms and the Prometheus text renderer, plus
 * the standard process_* metrics read from /proc/self.
 *
 * Names follow Prometheus practice: base units (seconds, bytes), _total on
 * counters, and one HELP and TYPE line per family. `promtool check metrics`
 * runs over this output in the test suite.
 */
#include "metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Request latency: 100 us (a cached answer) to 10 s (a stuck client upload). */
static const uint64_t latency_bounds_ns[METRIC_LATENCY_BUCKETS] = {
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000ULL,
    5000000000ULL, 10000000000ULL};
static const char *const latency_labels[METRIC_LATENCY_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"};

/* Pipeline stages: a 28x28 forward pass takes tens of microseconds, a 4096^2
 * PNG decode can take a second. */
static const uint64_t stage_bounds_ns[METRIC_STAGE_BUCKETS] = {
    10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
    10000000, 25000000, 50000000, 100000000, 250000000, 500000000, 1000000000};
static const char *const stage_labels[METRIC_STAGE_BUCKETS] = {
    "1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1"};

static const char *const handler_labels[METRIC_N_HANDLERS] = {
    "/predict", "/model", "/metrics", "/healthz", "/readyz", "/", "other"};
static const char *const stage_names[METRIC_N_STAGES] = {"decode", "preprocess", "forward"};

const char *metrics_handler_label(metric_handler h)
{
    return (unsigned)h < METRIC_N_HANDLERS ? handler_labels[h] : "other";
}

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Process start in Unix seconds: boot time (/proc/stat btime) plus the
 * start tick in /proc/self/stat. Falls back to "now" when /proc is absent,
 * which is right to within the start-up time. */
static double process_start_time(void);

void metrics_init(metrics *m)
{
    memset(m, 0, sizeof *m);   /* all-zero bits are valid zero atomics on every target we build for */
    m->start_time = process_start_time();
}

void metrics_request_started(metrics *m)
{
    atomic_fetch_add_explicit(&m->in_flight, 1, memory_order_relaxed);
}

static void histogram_observe(metric_histogram *h, const uint64_t *bounds, int n,
                              uint64_t value_ns)
{
    int i = 0;
    while (i < n && value_ns > bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, value_ns, memory_order_relaxed);
}

void metrics_request_finished(metrics *m, metric_handler h, unsigned status, uint64_t duration_ns)
{
    if ((unsigned)h >= METRIC_N_HANDLERS)
        h = METRIC_HANDLER_OTHER;
    if (status < METRIC_MIN_STATUS || status > METRIC_MAX_STATUS)
        status = 500;
    atomic_fetch_add_explicit(&m->requests[h][status - METRIC_MIN_STATUS], 1,
                              memory_order_relaxed);
    histogram_observe(&m->latency[h], latency_bounds_ns, METRIC_LATENCY_BUCKETS, duration_ns);
    atomic_fetch_sub_explicit(&m->in_flight, 1, memory_order_relaxed);
}

void metrics_connection(metrics *m, bool opened)
{
    atomic_fetch_add_explicit(&m->connections_open, opened ? 1 : -1, memory_order_relaxed);
}

void metrics_stage(metrics *m, metric_stage s, uint64_t duration_ns)
{
    if ((unsigned)s < METRIC_N_STAGES)
        histogram_observe(&m->stages[s], stage_bounds_ns, METRIC_STAGE_BUCKETS, duration_ns);
}

void metrics_prediction(metrics *m, int digit)
{
    if (digit >= 0 && digit < 10)
        atomic_fetch_add_explicit(&m->predictions[digit], 1, memory_order_relaxed);
}

void metrics_reload(metrics *m, bool ok)
{
    atomic_fetch_add_explicit(ok ? &m->reloads_ok : &m->reloads_failed, 1, memory_order_relaxed);
}

static uint64_t load(atomic_uint_fast64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void family(strbuf *out, const char *name, const char *type, const char *help)
{
    strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram series; label is the already-formatted label pair that
 * precedes le (e.g. handler="/predict"). */
static void render_histogram(strbuf *out, const char *name, const char *label,
                             metric_histogram *h, const char *const *bounds, int n)
{
    uint64_t cumulative = 0;
    for (int i = 0; i < n; i++) {
        cumulative += load(&h->counts[i]);
        strbuf_printf(out, "%s_bucket{%s,le=\"%s\"} %llu\n", name, label, bounds[i],
                      (unsigned long long)cumulative);
    }
    cumulative += load(&h->counts[n]);
    strbuf_printf(out, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, label,
                  (unsigned long long)cumulative);
    strbuf_printf(out, "%s_sum{%s} %.9f\n", name, label, (double)load(&h->sum_ns) / 1e9);
    strbuf_printf(out, "%s_count{%s} %llu\n", name, label, (unsigned long long)cumulative);
}

/* --- process_* from /proc/self ------------------------------------------ */

typedef struct {
    double cpu_seconds;
    double resident_bytes;
    double virtual_bytes;
    double start_ticks;
    bool ok;
} proc_stat;

static proc_stat read_proc_stat(void)
{
    proc_stat ps = {0};
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return ps;
    char line[1024];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: the fields
     * we want are counted from the last ')'. */
    char *p = strrchr(line, ')');
    if (!p)
        return ps;
    p++;
    unsigned long long v[24] = {0};   /* v[k] = field k + 3 */
    int k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok && k < 24; tok = strtok_r(NULL, " ", &save))
        v[k++] = strtoull(tok, NULL, 10);
    if (k < 22)
        return ps;
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (tck <= 0 || page <= 0)
        return ps;
    ps.cpu_seconds = (double)(v[14 - 3] + v[15 - 3]) / (double)tck;   /* utime + stime */
    ps.start_ticks = (double)v[22 - 3] / (double)tck;
    ps.virtual_bytes = (double)v[23 - 3];
    ps.resident_bytes = (double)v[24 - 3] * (double)page;
    ps.ok = true;
    return ps;
}

static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char line[256];
    double bt = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtod(line + 6, NULL);
            break;
        }
    }
    fclose(f);
    return bt;
}

static double process_start_time(void)
{
    proc_stat ps = read_proc_stat();
    double bt = boot_time();
    if (ps.ok && bt > 0)
        return bt + ps.start_ticks;
    return unix_now();
}

static long count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0;   /* not counting the descriptor opendir used */
}

static void render_process(strbuf *out, double start_time)
{
    proc_stat ps = read_proc_stat();
    if (ps.ok) {
        family(out, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.");
        strbuf_printf(out, "process_cpu_seconds_total %.2f\n", ps.cpu_seconds);
        family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        strbuf_printf(out, "process_resident_memory_bytes %.0f\n", ps.resident_bytes);
        family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        strbuf_printf(out, "process_virtual_memory_bytes %.0f\n", ps.virtual_bytes);
    }
    long fds = count_open_fds();
    if (fds >= 0) {
        family(out, "process_open_fds", "gauge", "Number of open file descriptors.");
        strbuf_printf(out, "process_open_fds %ld\n", fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        if (rl.rlim_cur == RLIM_INFINITY)
            strbuf_puts(out, "process_max_fds +Inf\n");
        else
            strbuf_printf(out, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
    family(out, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    strbuf_printf(out, "process_start_time_seconds %.2f\n", start_time);
}

/* --- the exposition ----------------------------------------------------- */

int metrics_render(metrics *m, const metrics_model_info *model, strbuf *out)
{
    if (model) {
        family(out, "digits_model_info", "gauge",
               "The model being served (always 1), with its id and architecture as labels.");
        strbuf_puts(out, "digits_model_info{id=\"");
        strbuf_prom_label(out, model->id);
        strbuf_puts(out, "\",arch=\"");
        strbuf_prom_label(out, model->arch);
        strbuf_puts(out, "\"} 1\n");
        if (model->has_test_accuracy) {
            family(out, "digits_model_test_accuracy", "gauge",
                   "Accuracy of the served model on the MNIST test set, 0..1, from the model file.");
            strbuf_printf(out, "digits_model_test_accuracy %.6f\n", model->test_accuracy);
        }
        family(out, "digits_model_loaded_timestamp_seconds", "gauge",
               "When the served model was loaded, Unix seconds.");
        strbuf_printf(out, "digits_model_loaded_timestamp_seconds %.3f\n", model->loaded_at);
    }

    family(out, "digits_model_reloads_total", "counter",
           "Model reloads (SIGHUP) by result.");
    strbuf_printf(out, "digits_model_reloads_total{result=\"success\"} %llu\n",
                  (unsigned long long)load(&m->reloads_ok));
    strbuf_printf(out, "digits_model_reloads_total{result=\"failure\"} %llu\n",
                  (unsigned long long)load(&m->reloads_failed));

    family(out, "digits_http_requests_total", "counter",
           "HTTP requests answered, by handler and status code.");
    for (int h = 0; h < METRIC_N_HANDLERS; h++) {
        for (int s = 0; s <= METRIC_MAX_STATUS - METRIC_MIN_STATUS; s++) {
            uint64_t v = load(&m->requests[h][s]);
            /* Every handler shows a 200 series from the start, so rate()
             * works before the first request; other codes once they occur. */
            if (v == 0 && s + METRIC_MIN_STATUS != 200)
                continue;
            strbuf_printf(out, "digits_http_requests_total{handler=\"%s\",code=\"%d\"} %llu\n",
                          handler_labels[h], s + METRIC_MIN_STATUS, (unsigned long long)v);
        }
    }

    family(out, "digits_http_requests_in_flight", "gauge",
           "HTTP requests being handled right now.");
    strbuf_printf(out, "digits_http_requests_in_flight %lld\n",
                  (long long)atomic_load_explicit(&m->in_flight, memory_order_relaxed));

    family(out, "digits_http_connections_open", "gauge",
           "TCP connections open now, idle keep-alive ones included.");
    strbuf_printf(out, "digits_http_connections_open %lld\n",
                  (long long)atomic_load_explicit(&m->connections_open, memory_order_relaxed));
    family(out, "digits_http_connections_max", "gauge",
           "Connections served at once (--max-connections, less if the open-file limit is "
           "lower); more wait unaccepted.");
    strbuf_printf(out, "digits_http_connections_max %u\n", m->connections_max);

    family(out, "digits_http_request_duration_seconds", "histogram",
           "Time from a request's headers to its completion, by handler.");
    for (int h = 0; h < METRIC_N_HANDLERS; h++) {
        char label[64];
        snprintf(label, sizeof label, "handler=\"%s\"", handler_labels[h]);
        render_histogram(out, "digits_http_request_duration_seconds", label, &m->latency[h],
                         latency_labels, METRIC_LATENCY_BUCKETS);
    }

    family(out, "digits_predict_stage_duration_seconds", "histogram",
           "Time per image in each prediction stage: PNG decode, preprocess, forward pass.");
    for (int s = 0; s < METRIC_N_STAGES; s++) {
        char label[64];
        snprintf(label, sizeof label, "stage=\"%s\"", stage_names[s]);
        render_histogram(out, "digits_predict_stage_duration_seconds", label, &m->stages[s],
                         stage_labels, METRIC_STAGE_BUCKETS);
    }

    family(out, "digits_predictions_total", "counter", "Predictions made, by predicted digit.");
    for (int d = 0; d < 10; d++)
        strbuf_printf(out, "digits_predictions_total{digit=\"%d\"} %llu\n", d,
                      (unsigned long long)load(&m->predictions[d]));

    render_process(out, m->start_time);
    return strbuf_failed(out) ? -1 : 0;
}
