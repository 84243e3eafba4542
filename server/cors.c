/* cors.c -- which origins may call the API from a browser (cors.h).
 *
 * The list stays the string it was given (the config owns no memory) and
 * is scanned per request: it holds at most 16 short entries, and only
 * requests that carry an Origin header, i.e. from a browser, are checked.
 */
#include "cors.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The entry at p (up to a comma or the end) without the blanks around it:
 * its start in *start, its length returned, and where the next one begins
 * in *next. */
static size_t entry_at(const char *p, const char **start, const char **next)
{
    while (is_space(*p))
        p++;
    size_t n = strcspn(p, ",");
    *next = p[n] == ',' ? p + n + 1 : p + n;
    while (n > 0 && is_space(p[n - 1]))
        n--;
    *start = p;
    return n;
}

/* A host name as browsers send it: dot-separated labels of letters,
 * digits, '-' and '_', none empty or starting or ending with '-'. One whose
 * last label is a number must be a dotted-quad IPv4 address (browsers turn
 * "1.2.3" into "1.2.0.3", so it would never match). */
static bool valid_host_name(const char *h, size_t n)
{
    if (n == 0 || n >= 254)
        return false;
    size_t label = 0, last_start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || h[i] == '.') {
            if (label == 0 || h[i - 1] == '-' || h[i - label] == '-')
                return false;
            if (i < n)
                last_start = i + 1;
            label = 0;
            continue;
        }
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
        label++;
    }
    bool numeric = true;
    for (size_t i = last_start; i < n; i++)
        numeric = numeric && h[i] >= '0' && h[i] <= '9';
    if (!numeric)
        return true;
    char ip[16];
    unsigned char addr[4];
    if (n >= sizeof ip)
        return false;
    memcpy(ip, h, n);
    ip[n] = '\0';
    return inet_pton(AF_INET, ip, addr) == 1;   /* glibc refuses leading zeros */
}

/* An IPv6 literal as browsers send it: what inet_ntop prints for it. */
static bool valid_ipv6_literal(const char *h, size_t n)
{
    char ip[INET6_ADDRSTRLEN], canonical[INET6_ADDRSTRLEN];
    unsigned char addr[16];
    if (n == 0 || n >= sizeof ip)
        return false;
    memcpy(ip, h, n);
    ip[n] = '\0';
    return inet_pton(AF_INET6, ip, addr) == 1 &&
           inet_ntop(AF_INET6, addr, canonical, sizeof canonical) &&
           strcasecmp(ip, canonical) == 0;
}

/* Whether p[0..n) is an origin a browser could send: scheme://host[:port],
 * with no default port (browsers leave it out) and no leading zeros. */
static bool valid_origin(const char *p, size_t n)
{
    size_t at;
    unsigned long default_port;
    if (n > 7 && strncasecmp(p, "http://", 7) == 0) {
        at = 7;
        default_port = 80;
    } else if (n > 8 && strncasecmp(p, "https://", 8) == 0) {
        at = 8;
        default_port = 443;
    } else {
        return false;
    }
    const char *host = p + at;
    size_t host_len;
    if (*host == '[') {
        const char *close = memchr(host, ']', n - at);
        if (!close || !valid_ipv6_literal(host + 1, (size_t)(close - host - 1)))
            return false;
        host_len = (size_t)(close - host) + 1;
    } else {
        host_len = 0;
        while (at + host_len < n && host[host_len] != ':')
            host_len++;
        if (!valid_host_name(host, host_len))
            return false;
    }
    at += host_len;
    if (at == n)
        return true;
    if (p[at] != ':' || at + 1 == n || p[at + 1] == '0' || n - at - 1 > 5)
        return false;
    unsigned long port = 0;
    for (at++; at < n; at++) {
        if (p[at] < '0' || p[at] > '9')
            return false;
        port = port * 10 + (unsigned long)(p[at] - '0');
    }
    return port <= 65535 && port != default_port;
}

/* Whether the entry that ended at `next` was the list's last: nothing
 * after it, and no comma promising another (p is the entry's start). */
static bool was_last(const char *p, const char *next)
{
    return !*next && (next == p || next[-1] != ',');
}

int cors_check_origins(const char *list, char *err, size_t err_len)
{
    if (!list) {
        snprintf(err, err_len, "no origin given");
        return -1;
    }
    int count = 0;
    for (const char *p = list, *start, *next;; p = next) {
        size_t n = entry_at(p, &start, &next);
        if (n == 0) {
            snprintf(err, err_len, count ? "an empty entry in the list" : "no origin given");
            return -1;
        }
        if (n == 1 && *start == '*') {
            if (count == 0 && was_last(p, next))
                return 0;
            snprintf(err, err_len, "'*' allows every origin and cannot be listed with others");
            return -1;
        }
        if (n > CORS_ORIGIN_MAX || !valid_origin(start, n)) {
            snprintf(err, err_len,
                     "'%.*s' is not an origin as browsers send it, such as "
                     "https://example.com or http://localhost:3000: scheme, host (xn-- "
                     "for non-ASCII) and a port other than the scheme's own, nothing after",
                     (int)(n > 80 ? 80 : n), start);
            return -1;
        }
        if (++count > CORS_MAX_ORIGINS) {
            snprintf(err, err_len, "more than %d origins", CORS_MAX_ORIGINS);
            return -1;
        }
        if (was_last(p, next))
            return 0;
    }
}

/* Whether the checked list is "*" (blanks around it allowed). */
static bool allows_any(const char *list)
{
    const char *start, *next;
    return entry_at(list, &start, &next) == 1 && *start == '*' && !*next;
}

bool cors_enabled(const char *list)
{
    return list && *list;
}

bool cors_varies_by_origin(const char *list)
{
    return cors_enabled(list) && !allows_any(list);
}

/* Whether the comma-separated list holds s, compared exactly or, with
 * ignore_case, as ASCII without regard to case. */
static bool list_holds(const char *list, const char *s, bool ignore_case)
{
    size_t len = strlen(s);
    const char *start, *next;
    for (const char *p = list; *p; p = next) {
        size_t n = entry_at(p, &start, &next);
        if (n == len && (ignore_case ? strncasecmp(start, s, n) : strncmp(start, s, n)) == 0)
            return true;
    }
    return false;
}

const char *cors_allowed_origin(const char *list, const char *origin)
{
    if (!cors_enabled(list) || !origin)
        return NULL;
    if (allows_any(list))
        return "*";
    return list_holds(list, origin, true) ? origin : NULL;
}

bool cors_method_listed(const char *allow, const char *method)
{
    return allow && method && *method && list_holds(allow, method, false);
}
