/* cors.c -- which origins may call the API from a browser (cors.h).
 *
 * The list stays the string it was given (the config owns no memory) and
 * is scanned per request: it holds at most 16 short entries, and only
 * requests that carry an Origin header, i.e. from a browser, are checked.
 */
#include "cors.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The length of the entry at p (up to a comma or the end), and where the
 * next one starts. */
static size_t entry_length(const char *p, const char **next)
{
    size_t n = strcspn(p, ",");
    const char *q = p + n;
    if (*q == ',')
        q++;
    while (*q == ' ')
        q++;
    *next = q;
    while (n > 0 && p[n - 1] == ' ')
        n--;
    return n;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.';
}

/* Whether p[0..n) is scheme://host[:port]. */
static bool valid_origin(const char *p, size_t n)
{
    size_t at;
    if (n > 7 && strncasecmp(p, "http://", 7) == 0)
        at = 7;
    else if (n > 8 && strncasecmp(p, "https://", 8) == 0)
        at = 8;
    else
        return false;
    size_t host_start = at;
    if (p[at] == '[') {   /* an IPv6 literal */
        at++;
        while (at < n && (host_char(p[at]) || p[at] == ':'))
            at++;
        if (at >= n || p[at] != ']' || at == host_start + 1)
            return false;
        at++;
    } else {
        while (at < n && host_char(p[at]))
            at++;
        if (at == host_start)
            return false;
    }
    if (at < n && p[at] == ':') {
        size_t digits = 0;
        unsigned long port = 0;
        for (at++; at < n && p[at] >= '0' && p[at] <= '9' && digits < 6; at++, digits++)
            port = port * 10 + (unsigned long)(p[at] - '0');
        if (digits == 0 || port == 0 || port > 65535)
            return false;
    }
    return at == n;
}

int cors_check_origins(const char *list, char *err, size_t err_len)
{
    if (!list || !*list) {
        snprintf(err, err_len, "no origin given");
        return -1;
    }
    if (strcmp(list, "*") == 0)
        return 0;
    int count = 0;
    for (const char *p = list, *next; *p; p = next) {
        size_t n = entry_length(p, &next);
        if (n == 1 && *p == '*') {
            snprintf(err, err_len, "'*' allows every origin and cannot be listed with others");
            return -1;
        }
        if (n > CORS_ORIGIN_MAX || !valid_origin(p, n)) {
            snprintf(err, err_len,
                     "'%.*s' is not an origin such as https://example.com or "
                     "http://localhost:3000 (scheme, host and port only)",
                     (int)(n > 80 ? 80 : n), p);
            return -1;
        }
        if (++count > CORS_MAX_ORIGINS) {
            snprintf(err, err_len, "more than %d origins", CORS_MAX_ORIGINS);
            return -1;
        }
    }
    if (count == 0) {
        snprintf(err, err_len, "no origin given");
        return -1;
    }
    return 0;
}

const char *cors_allowed_origin(const char *list, const char *origin)
{
    if (!list || !*list)
        return NULL;
    if (strcmp(list, "*") == 0)
        return "*";
    if (!origin)
        return NULL;
    size_t len = strlen(origin);
    for (const char *p = list, *next; *p; p = next) {
        size_t n = entry_length(p, &next);
        if (n == len && strncasecmp(p, origin, n) == 0)
            return origin;
    }
    return NULL;
}

bool cors_method_listed(const char *allow, const char *method)
{
    if (!allow || !method || !*method)
        return false;
    size_t len = strlen(method);
    for (const char *p = allow, *next; *p; p = next) {
        size_t n = entry_length(p, &next);
        if (n == len && strncmp(p, method, n) == 0)
            return true;
    }
    return false;
}
