/* healthcheck.h -- `digits-server --healthcheck [URL]`: a tiny HTTP client
 * for a container's HEALTHCHECK, so the image needs no curl.
 *
 * It speaks just enough HTTP/1.1 over a plain socket to read the status
 * line, with a deadline on every step so that a hung server reads as
 * unhealthy rather than hanging the check.
 */
#ifndef DIGITS_HEALTHCHECK_H
#define DIGITS_HEALTHCHECK_H

#include <stddef.h>

#define HEALTHCHECK_MAX_HOST 256
#define HEALTHCHECK_MAX_PATH 1024

typedef struct {
    char host[HEALTHCHECK_MAX_HOST];     /* without IPv6 brackets */
    char port[8];
    char path[HEALTHCHECK_MAX_PATH];     /* starts with '/' */
} healthcheck_url;

/* Parses http://HOST[:PORT][/PATH]. Returns 0, or -1 with a message. */
int healthcheck_parse_url(const char *url, healthcheck_url *out, char *err, size_t err_len);

/* GETs url and returns the HTTP status code, or -1 with a message when no
 * status could be had within timeout_ms. */
int healthcheck_get(const char *url, unsigned timeout_ms, char *err, size_t err_len);

#endif
