/* cors.h -- letting pages from other origins call the API (CORS).
 *
 * A browser lets a page read an answer from another origin only when the
 * answer names the page's origin in Access-Control-Allow-Origin; before a
 * POST of image/png, or one with an X-Request-Id, it first asks with an
 * OPTIONS "preflight" whether the real request is welcome. The drawing page
 * at / comes from the server itself and needs none of this. --cors-origin
 * opens the API to the origins it lists, or to every origin with "*"; by
 * default no CORS header is ever sent, and browsers keep other sites' pages
 * from reading the answers. No credentials are ever allowed: the API has
 * no cookies or logins to protect.
 */
#ifndef DIGITS_CORS_H
#define DIGITS_CORS_H

#include <stdbool.h>
#include <stddef.h>

#define CORS_MAX_ORIGINS 16
#define CORS_ORIGIN_MAX 253   /* scheme, host and port of one origin */
/* What a preflight may ask to send, and what the page may read back
 * beyond the headers browsers always let it read. */
#define CORS_ALLOW_HEADERS "Content-Type, X-Request-Id"
#define CORS_EXPOSE_HEADERS "X-Request-Id, Retry-After, Allow"
/* Seconds a browser may reuse a preflight's answer. */
#define CORS_MAX_AGE "600"

/* Checks a --cors-origin value: "*" alone, or up to CORS_MAX_ORIGINS
 * origins separated by commas (blanks around them allowed), each as a
 * browser sends it in its Origin header, or it could never match: http://
 * or https://, a host (dot-separated labels of letters, digits, '-' and
 * '_'; an IPv4 address; or an IPv6 address in brackets, written as
 * inet_ntop writes it) and an optional port other than the scheme's own
 * (browsers leave out :80 and :443), with nothing after it (a path or a
 * trailing slash is a mistake: browsers never send one). Returns 0, or -1
 * with a message. */
int cors_check_origins(const char *list, char *err, size_t err_len);

/* Whether a checked list turns CORS on (it is neither NULL nor empty). */
bool cors_enabled(const char *list);

/* Whether answers depend on the request's Origin: CORS is on and the list
 * is not "*". Such answers say so with Vary: Origin, whatever the origin. */
bool cors_varies_by_origin(const char *list);

/* The Access-Control-Allow-Origin value for a request whose Origin header
 * is `origin` (NULL when absent: not a browser's cross-origin request, and
 * no CORS header is due) under a checked `list`: "*" for "*", `origin`
 * itself when the list holds it (compared without regard to case, as hosts
 * are), else NULL. */
const char *cors_allowed_origin(const char *list, const char *origin);

/* Whether `method` (a preflight's Access-Control-Request-Method) is one of
 * `allow`, a path's methods as its Allow header lists them ("GET, HEAD"). */
bool cors_method_listed(const char *allow, const char *method);

#endif
