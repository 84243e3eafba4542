/* log.c -- text and JSON log lines, one write(2) each. */
#include "log.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

/* Lines longer than this are cut; PIPE_BUF-sized writes stay atomic on pipes,
 * which is what a container's log collector reads from. */
#define LOG_LINE_MAX 4096

static _Atomic int log_fd = 2;
static _Atomic int log_fmt = LOG_FORMAT_TEXT;

void log_configure(log_format format, int fd)
{
    atomic_store(&log_fmt, (int)format);
    atomic_store(&log_fd, fd);
}

static const char *level_name(log_level level)
{
    switch (level) {
    case LOG_WARN: return "warn";
    case LOG_ERROR: return "error";
    default: return "info";
    }
}

/* RFC 3339 UTC with milliseconds. The date and time of day change once a
 * second, so each thread keeps them formatted (gmtime_r takes a lock and
 * printf is slow, and every request writes a line). */
static void put_timestamp(strbuf *sb)
{
    static _Thread_local time_t cached_sec = (time_t)-1;
    static _Thread_local char cached[32];
    static _Thread_local size_t cached_len;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        int n = snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec);
        cached_len = n > 0 && (size_t)n < sizeof cached ? (size_t)n : 0;
        cached_sec = ts.tv_sec;
    }
    strbuf_append(sb, cached, cached_len);
    long ms = ts.tv_nsec / 1000000;
    char frac[5] = {'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10),
                    'Z'};
    strbuf_append(sb, frac, sizeof frac);
}

/* A duration in milliseconds with three decimals, as "%.3f" prints one
 * that is not negative; anything outside 0 .. 10^12 ms (a clock gone
 * backwards, NaN) is clamped into it. */
static void put_duration_ms(strbuf *sb, double ms)
{
    double us = ms * 1000.0;
    strbuf_fixed(sb, us > 0 ? (us < 1e15 ? (uint64_t)llround(us) : (uint64_t)1e15) : 0, 3);
}

/* Status, body bytes and duration, each after its key as the format
 * spells it (JSON or text). */
static void put_outcome(strbuf *sb, const log_request_fields *r, const char *status_key,
                        const char *bytes_key, const char *duration_key)
{
    strbuf_puts(sb, status_key);
    strbuf_uint(sb, r->status);
    strbuf_puts(sb, bytes_key);
    strbuf_uint(sb, r->bytes);
    strbuf_puts(sb, duration_key);
    put_duration_ms(sb, r->duration_ms);
}

static void put_digits(strbuf *sb, const int *digits, int n)
{
    for (int i = 0; i < n; i++) {
        if (i)
            strbuf_putc(sb, ',');
        strbuf_uint(sb, digits[i] >= 0 ? (uint64_t)digits[i] : 0);
    }
}

/* A text-format value: bare when it is a plain token, otherwise a JSON-style
 * quoted string, so an attacker's path cannot forge extra keys or lines. */
static void put_text_value(strbuf *sb, const char *s)
{
    bool plain = *s != '\0';
    for (const char *p = s; *p && plain; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' ||
            (unsigned char)*p >= 0x7F)
            plain = false;
    if (plain)
        strbuf_puts(sb, s);
    else
        strbuf_json_string(sb, s);
}

/* Ends the line (even a truncated one) and writes it. */
static void emit(strbuf *sb, char *buf)
{
    size_t len = sb->len;
    if (len >= LOG_LINE_MAX - 1)
        len = LOG_LINE_MAX - 2;
    buf[len++] = '\n';
    int fd = atomic_load(&log_fd);
    if (fd < 0)
        return;
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0)
            return;   /* a broken log must not break serving */
        p += n;
        len -= (size_t)n;
    }
}

void log_event(log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    char buf[LOG_LINE_MAX];
    strbuf sb;
    strbuf_init_fixed(&sb, buf, sizeof buf - 1);   /* room for the '\n' */
    if (atomic_load(&log_fmt) == LOG_FORMAT_JSON) {
        strbuf_puts(&sb, "{\"ts\":\"");
        put_timestamp(&sb);
        strbuf_printf(&sb, "\",\"level\":\"%s\",\"msg\":", level_name(level));
        strbuf_json_string(&sb, msg);
        strbuf_putc(&sb, '}');
    } else {
        put_timestamp(&sb);
        strbuf_printf(&sb, " level=%s msg=", level_name(level));
        strbuf_json_string(&sb, msg);
    }
    emit(&sb, buf);
}

void log_request(const log_request_fields *r)
{
    char buf[LOG_LINE_MAX];
    strbuf sb;
    strbuf_init_fixed(&sb, buf, sizeof buf - 1);
    /* Paths are cut so that one long URL cannot push the status off the line. */
    char path[256];
    snprintf(path, sizeof path, "%s", r->path ? r->path : "");

    if (atomic_load(&log_fmt) == LOG_FORMAT_JSON) {
        strbuf_puts(&sb, "{\"ts\":\"");
        put_timestamp(&sb);
        strbuf_puts(&sb, "\",\"level\":\"info\",\"msg\":\"request\",\"method\":");
        strbuf_json_string(&sb, r->method ? r->method : "");
        strbuf_puts(&sb, ",\"path\":");
        strbuf_json_string(&sb, path);
        put_outcome(&sb, r, ",\"status\":", ",\"bytes\":", ",\"duration_ms\":");
        if (r->n_digits == 1) {
            strbuf_puts(&sb, ",\"digit\":");
            put_digits(&sb, r->digits, 1);
        } else if (r->n_digits > 1) {
            strbuf_puts(&sb, ",\"digit\":[");
            put_digits(&sb, r->digits, r->n_digits);
            strbuf_putc(&sb, ']');
        }
        if (r->error_code) {
            strbuf_puts(&sb, ",\"error\":");
            strbuf_json_string(&sb, r->error_code);
        }
        if (r->remote) {
            strbuf_puts(&sb, ",\"remote\":");
            strbuf_json_string(&sb, r->remote);
        }
        if (r->request_id) {
            strbuf_puts(&sb, ",\"request_id\":");
            strbuf_json_string(&sb, r->request_id);
        }
        strbuf_putc(&sb, '}');
    } else {
        put_timestamp(&sb);
        strbuf_puts(&sb, " level=info msg=request method=");
        put_text_value(&sb, r->method ? r->method : "-");
        strbuf_puts(&sb, " path=");
        put_text_value(&sb, path);
        put_outcome(&sb, r, " status=", " bytes=", " duration_ms=");
        if (r->n_digits > 0) {
            strbuf_puts(&sb, " digit=");
            put_digits(&sb, r->digits, r->n_digits);
        }
        if (r->error_code) {
            strbuf_puts(&sb, " error=");
            put_text_value(&sb, r->error_code);
        }
        if (r->remote) {
            strbuf_puts(&sb, " remote=");
            put_text_value(&sb, r->remote);
        }
        if (r->request_id) {
            strbuf_puts(&sb, " request_id=");
            put_text_value(&sb, r->request_id);
        }
    }
    emit(&sb, buf);
}
