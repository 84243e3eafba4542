/* multipart.c -- multipart/form-data splitting over a buffered body.
 *
 * Shape of a body (CRLF line ends; the preamble and epilogue are ignored):
 *
 *   [preamble CRLF] --BOUNDARY [blanks] CRLF
 *   Header: value CRLF ... CRLF
 *   data CRLF --BOUNDARY [blanks] CRLF
 *   ...
 *   data CRLF --BOUNDARY-- [epilogue]
 *
 * A part's data ends at the next CRLF--BOUNDARY, which RFC 2046 guarantees
 * does not occur inside it. Every offset below is checked against len before
 * it is used.
 */
#include "multipart.h"

#include <ctype.h>
#include <strings.h>
#include <stdbool.h>
#include <string.h>

const char *multipart_status_text(multipart_status s)
{
    switch (s) {
    case MULTIPART_OK: return "ok";
    case MULTIPART_NO_BOUNDARY: return "multipart Content-Type without a valid boundary";
    case MULTIPART_MALFORMED: return "malformed multipart body";
    case MULTIPART_TOO_MANY_PARTS: return "too many parts in the multipart body";
    }
    return "unknown multipart error";
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_token_char(char c)
{
    return c > ' ' && c < 0x7F && !strchr("()<>@,;:\\\"/[]?={}", c);
}

int media_type_is(const char *content_type, const char *type)
{
    if (!content_type)
        return 0;
    const char *p = content_type;
    while (is_blank(*p))
        p++;
    size_t n = strlen(type);
    if (strncasecmp(p, type, n) != 0)
        return 0;
    p += n;
    while (is_blank(*p))
        p++;
    return *p == '\0' || *p == ';';
}

/* Reads a parameter value at *pp -- a token or a quoted-string -- into out
 * (cap bytes with the NUL). Returns the value's full length (which may exceed
 * cap - 1, in which case out holds a truncated copy), or -1 when malformed.
 * quoted_pairs: a backslash escapes the next character, as in an HTTP
 * header's quoted-string (RFC 9110 5.6.4); otherwise the string ends at the
 * first quote (see disposition_param). */
static long read_param_value(const char **pp, char *out, size_t cap, bool quoted_pairs)
{
    const char *p = *pp;
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (quoted_pairs && *p == '\\' && p[1])
                p++;
            if (*p == '\r' || *p == '\n')
                return -1;
            if (n + 1 < cap)
                out[n] = *p;
            n++;
            p++;
        }
        if (*p != '"')
            return -1;                    /* unterminated */
        p++;
    } else {
        while (*p && *p != ';' && !is_blank(*p)) {
            if (!is_token_char(*p))
                return -1;
            if (n + 1 < cap)
                out[n] = *p;
            n++;
            p++;
        }
        if (n == 0)
            return -1;
    }
    out[n < cap ? n : cap - 1] = '\0';
    *pp = p;
    return (long)n;
}

/* Walks "; key=value" parameters after a header's main value and calls
 * found() for each. Returns 0, or -1 when the syntax is broken. */
typedef int (*param_fn)(void *ctx, const char *key, const char **value_at);

static int for_each_param(const char *p, param_fn found, void *ctx)
{
    for (;;) {
        while (is_blank(*p))
            p++;
        if (*p == '\0')
            return 0;
        if (*p != ';')
            return -1;
        p++;
        while (is_blank(*p))
            p++;
        if (*p == '\0')
            return 0;                     /* a trailing ';' is common and harmless */
        char key[32];
        size_t k = 0;
        while (is_token_char(*p) && *p != '=') {
            if (k + 1 >= sizeof key)
                return -1;
            key[k++] = (char)tolower((unsigned char)*p++);
        }
        key[k] = '\0';
        while (is_blank(*p))
            p++;
        if (k == 0 || *p != '=')
            return -1;
        p++;
        while (is_blank(*p))
            p++;
        if (found(ctx, key, &p) != 0)
            return -1;
    }
}

static int boundary_param(void *ctx, const char *key, const char **value_at)
{
    char *out = ctx;
    char scratch[MULTIPART_MAX_BOUNDARY + 2];
    long n = read_param_value(value_at, scratch, sizeof scratch, true);
    if (n < 0)
        return -1;
    if (strcmp(key, "boundary") == 0) {
        if (n < 1 || n > MULTIPART_MAX_BOUNDARY)
            return -1;
        memcpy(out, scratch, (size_t)n + 1);
    }
    return 0;
}

multipart_status multipart_boundary(const char *content_type, char *out)
{
    out[0] = '\0';
    if (!content_type)
        return MULTIPART_NO_BOUNDARY;
    const char *semi = strchr(content_type, ';');
    if (!semi || for_each_param(semi, boundary_param, out) != 0 || out[0] == '\0')
        return MULTIPART_NO_BOUNDARY;
    size_t n = strlen(out);
    /* RFC 2046: printable characters, and a boundary may not end in a space. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < ' ' || (unsigned char)out[i] >= 0x7F)
            return MULTIPART_NO_BOUNDARY;
    if (out[n - 1] == ' ')
        return MULTIPART_NO_BOUNDARY;
    return MULTIPART_OK;
}

/* Offset of needle in hay[from, len), or len when absent. */
static size_t find(const uint8_t *hay, size_t len, size_t from, const uint8_t *needle,
                   size_t nlen)
{
    if (nlen == 0 || from > len || len - from < nlen)
        return len;
    size_t last = len - nlen;
    for (size_t i = from; i <= last;) {
        const uint8_t *c = memchr(hay + i, needle[0], last - i + 1);
        if (!c)
            return len;
        i = (size_t)(c - hay);
        if (memcmp(hay + i, needle, nlen) == 0)
            return i;
        i++;
    }
    return len;
}

typedef struct {
    multipart_part *part;
    bool has_name;
} disposition_ctx;

static int disposition_param(void *ctx, const char *key, const char **value_at)
{
    disposition_ctx *d = ctx;
    char scratch[MULTIPART_MAX_NAME + 1];
    /* Older curl sends a quote in a file name as \", browsers and curl
     * since 7.81 as %22 and a backslash as it is (WHATWG form encoding), so
     * a file named digit\ arrives as filename="digit\". Read as a
     * quoted-string first; unterminated that way, it is the newer kind. */
    long n = read_param_value(value_at, scratch, sizeof scratch, true);
    if (n < 0)
        n = read_param_value(value_at, scratch, sizeof scratch, false);
    if (n < 0)
        return -1;
    if (strcmp(key, "name") == 0) {
        /* A truncated field name could alias a real one: refuse it instead. */
        if (n > MULTIPART_MAX_NAME)
            return -1;
        memcpy(d->part->name, scratch, (size_t)n + 1);
        d->has_name = true;
    } else if (strcmp(key, "filename") == 0) {
        memcpy(d->part->filename, scratch, sizeof scratch);
    }
    return 0;
}

/* Parses one header line (NUL-terminated, without its CRLF) into part. */
static int parse_header(char *line, multipart_part *part)
{
    char *colon = strchr(line, ':');
    if (!colon || colon == line)
        return -1;
    *colon = '\0';
    for (char *p = line; *p; p++)
        if (!is_token_char(*p))
            return -1;
    char *value = colon + 1;
    while (is_blank(*value))
        value++;

    if (strcasecmp(line, "Content-Disposition") == 0) {
        if (strncasecmp(value, "form-data", 9) != 0 ||
            (value[9] != '\0' && value[9] != ';' && !is_blank(value[9])))
            return -1;
        disposition_ctx d = {part, false};
        if (for_each_param(value + 9, disposition_param, &d) != 0)
            return -1;
    } else if (strcasecmp(line, "Content-Type") == 0) {
        size_t n = strlen(value);
        while (n > 0 && is_blank(value[n - 1]))
            n--;
        if (n > MULTIPART_MAX_NAME)
            n = MULTIPART_MAX_NAME;
        memcpy(part->content_type, value, n);
        part->content_type[n] = '\0';
    }
    /* Other part headers (Content-Transfer-Encoding is deprecated for
     * form-data) are ignored. */
    return 0;
}

/* Parses the header block starting at body[*pos] up to and including its
 * empty line. */
static multipart_status parse_part_headers(const uint8_t *body, size_t len, size_t *pos,
                                           multipart_part *part)
{
    size_t p = *pos;
    size_t limit = len - p > MULTIPART_MAX_HEADER_BYTES ? p + MULTIPART_MAX_HEADER_BYTES : len;
    static const uint8_t crlf[2] = {'\r', '\n'};
    for (;;) {
        size_t eol = find(body, limit, p, crlf, 2);
        if (eol >= limit)
            return MULTIPART_MALFORMED;   /* unterminated or oversized header block */
        if (eol == p) {                   /* the empty line */
            *pos = eol + 2;
            return MULTIPART_OK;
        }
        char line[MULTIPART_MAX_HEADER_BYTES + 1];
        size_t n = eol - p;
        memcpy(line, body + p, n);
        line[n] = '\0';
        if (memchr(line, '\0', n))        /* embedded NUL: not a header */
            return MULTIPART_MALFORMED;
        if (parse_header(line, part) != 0)
            return MULTIPART_MALFORMED;
        p = eol + 2;
    }
}

multipart_status multipart_parse(const uint8_t *body, size_t len, const char *boundary,
                                 multipart_part *parts, size_t max_parts, size_t *n_parts)
{
    *n_parts = 0;
    size_t blen = strlen(boundary);
    if (blen == 0 || blen > MULTIPART_MAX_BOUNDARY)
        return MULTIPART_NO_BOUNDARY;

    /* delim = CRLF "--" boundary; the first delimiter may lack the CRLF. */
    uint8_t delim[4 + MULTIPART_MAX_BOUNDARY];
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, blen);
    size_t dlen = 4 + blen;

    size_t pos;   /* just past a delimiter */
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
        pos = dlen - 2;
    } else {
        size_t at = find(body, len, 0, delim, dlen);
        if (at >= len)
            return MULTIPART_MALFORMED;
        pos = at + dlen;
    }

    for (;;) {
        /* "--" right after the boundary closes the body. */
        if (len - pos >= 2 && body[pos] == '-' && body[pos + 1] == '-')
            return *n_parts > 0 ? MULTIPART_OK : MULTIPART_MALFORMED;
        while (pos < len && is_blank((char)body[pos]))
            pos++;
        if (len - pos < 2 || body[pos] != '\r' || body[pos + 1] != '\n')
            return MULTIPART_MALFORMED;
        pos += 2;

        if (*n_parts >= max_parts)
            return MULTIPART_TOO_MANY_PARTS;
        multipart_part *part = &parts[*n_parts];
        memset(part, 0, sizeof *part);
        multipart_status st = parse_part_headers(body, len, &pos, part);
        if (st != MULTIPART_OK)
            return st;

        size_t end = find(body, len, pos, delim, dlen);
        if (end >= len)
            return MULTIPART_MALFORMED;   /* truncated: no closing delimiter */
        part->data = body + pos;
        part->len = end - pos;
        (*n_parts)++;
        pos = end + dlen;
    }
}
