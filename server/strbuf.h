/* strbuf.h -- a growable byte buffer for building response bodies and log
 * lines, with the JSON and Prometheus escaping the server needs.
 *
 * Appends never fail half-way through the caller's logic: an allocation
 * failure sets a sticky flag that the caller checks once, at the end, with
 * strbuf_failed(). That keeps the many small appends that build a JSON answer
 * readable while still turning out-of-memory into an error response.
 *
 * A strbuf may also wrap a fixed caller-owned array (strbuf_init_fixed); it
 * then never allocates and truncates instead, which is what a log line on
 * the stack wants.
 */
#ifndef DIGITS_STRBUF_H
#define DIGITS_STRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;        /* always NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
    bool fixed;        /* data is caller-owned: truncate instead of growing */
    bool failed;       /* an allocation failed or a fixed buffer overflowed */
} strbuf;

/* An empty growable buffer; reserve bytes up front (0 is fine). */
void strbuf_init(strbuf *sb, size_t reserve);
/* A buffer over buf[cap] that never allocates. */
void strbuf_init_fixed(strbuf *sb, char *buf, size_t cap);
void strbuf_free(strbuf *sb);

/* Hands the malloc'd contents to the caller (NULL if it failed) and leaves
 * sb empty. Not for fixed buffers. */
char *strbuf_steal(strbuf *sb, size_t *len);

bool strbuf_failed(const strbuf *sb);

void strbuf_append(strbuf *sb, const void *data, size_t len);
void strbuf_puts(strbuf *sb, const char *s);
void strbuf_putc(strbuf *sb, char c);
void strbuf_printf(strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A JSON string literal, quotes included. Invalid UTF-8 bytes become U+FFFD so
 * that hostile input (a URL, a model's metadata) can never make the output
 * invalid JSON. */
void strbuf_json_string(strbuf *sb, const char *s);
/* A JSON number for a float; non-finite values (which JSON cannot express)
 * become null. */
void strbuf_json_number(strbuf *sb, double v);
/* The same for a float, as printf's "%.9g" writes it (9 significant digits
 * always read back as the same float) but without printf, which costs
 * ~200 ns a number and /predict answers carry eleven. In rare near-ties
 * the last digit may differ from printf's; it still reads back exactly. */
void strbuf_json_float(strbuf *sb, float f);

/* An unsigned integer in decimal, as printf's "%llu" would, without printf
 * (a request's log line and answer carry several). */
void strbuf_uint(strbuf *sb, uint64_t v);
/* units / 10^decimals with exactly `decimals` digits after the point (0..9),
 * e.g. (12345, 3) -> "12.345": a fixed-point number from an integer count
 * of small units, as "%.Nf" of the quotient would print it. */
void strbuf_fixed(strbuf *sb, uint64_t units, int decimals);

/* A Prometheus label value: backslash, double quote and newline escaped,
 * and bytes that are not well-formed UTF-8 replaced by U+FFFD. */
void strbuf_prom_label(strbuf *sb, const char *s);

/* Standard base64 (RFC 4648, with padding). */
void strbuf_base64(strbuf *sb, const uint8_t *data, size_t len);

#endif
