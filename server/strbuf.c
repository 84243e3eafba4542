/* strbuf.c -- growable (or fixed) text buffer plus JSON, Prometheus and
 * base64 encoders. See strbuf.h for the error model. */
#include "strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf *sb, size_t reserve)
{
    memset(sb, 0, sizeof *sb);
    if (reserve > 0) {
        sb->data = malloc(reserve);
        if (!sb->data) {
            sb->failed = true;
            return;
        }
        sb->cap = reserve;
        sb->data[0] = '\0';
    }
}

void strbuf_init_fixed(strbuf *sb, char *buf, size_t cap)
{
    memset(sb, 0, sizeof *sb);
    sb->data = buf;
    sb->cap = cap;
    sb->fixed = true;
    if (cap > 0)
        buf[0] = '\0';
    else
        sb->failed = true;
}

void strbuf_free(strbuf *sb)
{
    if (!sb->fixed)
        free(sb->data);
    memset(sb, 0, sizeof *sb);
}

char *strbuf_steal(strbuf *sb, size_t *len)
{
    char *out = NULL;
    if (!sb->failed && !sb->fixed) {
        if (!sb->data)
            strbuf_append(sb, "", 0);   /* give the caller a real (empty) string */
        out = sb->data;
        if (len)
            *len = sb->len;
        sb->data = NULL;
    } else if (len) {
        *len = 0;
    }
    strbuf_free(sb);
    return out;
}

bool strbuf_failed(const strbuf *sb)
{
    return sb->failed;
}

/* Makes room for extra more bytes plus the NUL. A fixed buffer cannot grow,
 * so it reports how much does fit and marks the truncation. */
static size_t reserve_room(strbuf *sb, size_t extra)
{
    if (sb->failed)
        return 0;
    size_t need = sb->len + extra + 1;
    if (need < sb->len) {                 /* overflow */
        sb->failed = true;
        return 0;
    }
    if (need <= sb->cap)
        return extra;
    if (sb->fixed) {
        sb->failed = true;
        return sb->cap - sb->len - 1;
    }
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = realloc(sb->data, cap);
    if (!p) {
        sb->failed = true;
        return 0;
    }
    sb->data = p;
    sb->cap = cap;
    return extra;
}

void strbuf_append(strbuf *sb, const void *data, size_t len)
{
    size_t n = reserve_room(sb, len);
    if (sb->cap == 0)
        return;
    if (n > 0)
        memcpy(sb->data + sb->len, data, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void strbuf_puts(strbuf *sb, const char *s)
{
    strbuf_append(sb, s, strlen(s));
}

void strbuf_putc(strbuf *sb, char c)
{
    strbuf_append(sb, &c, 1);
}

void strbuf_printf(strbuf *sb, const char *fmt, ...)
{
    if (sb->failed)
        return;
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        strbuf_append(sb, small, (size_t)n);
        return;
    }
    /* Rare: longer than the stack buffer, so format straight into place. */
    if (sb->fixed) {
        size_t room = sb->cap - sb->len;      /* includes the NUL */
        va_start(ap, fmt);
        vsnprintf(sb->data + sb->len, room, fmt, ap);
        va_end(ap);
        /* n bytes if they fit, else what did: never past the NUL, or the
         * line would carry whatever the buffer held beyond it. */
        if ((size_t)n < room) {
            sb->len += (size_t)n;
        } else {
            sb->len += room - 1;
            sb->failed = true;                /* truncated */
        }
        return;
    }
    if (reserve_room(sb, (size_t)n) < (size_t)n)
        return;
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 if the bytes
 * there are not one (overlong forms and surrogates included). */
static int utf8_sequence_length(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = (c == 0xE0) ? 0xA0 : 0x80;
        unsigned char hi = (c == 0xED) ? 0x9F : 0xBF;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80)
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = (c == 0xF0) ? 0x90 : 0x80;
        unsigned char hi = (c == 0xF4) ? 0x8F : 0xBF;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

/* Copies the well-formed UTF-8 sequence at p, or writes replacement for its
 * first byte when it is not one; returns where the next character starts.
 * The NUL terminator stops utf8_sequence_length from reading past the end:
 * a truncated sequence fails its continuation test. */
static const unsigned char *put_utf8(strbuf *sb, const unsigned char *p, const char *replacement)
{
    int n = utf8_sequence_length(p);
    if (n == 0) {
        strbuf_puts(sb, replacement);
        return p + 1;
    }
    strbuf_append(sb, p, (size_t)n);
    return p + n;
}

void strbuf_json_string(strbuf *sb, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    strbuf_putc(sb, '"');
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            strbuf_append(sb, esc, 2);
            p++;
        } else if (c < 0x20 || c == 0x7F) {
            switch (c) {
            case '\n': strbuf_puts(sb, "\\n"); break;
            case '\r': strbuf_puts(sb, "\\r"); break;
            case '\t': strbuf_puts(sb, "\\t"); break;
            default: strbuf_printf(sb, "\\u%04x", c); break;
            }
            p++;
        } else if (c < 0x80) {
            /* Copy the whole run of plain ASCII at once. */
            const unsigned char *start = p;
            while (*p >= 0x20 && *p < 0x7F && *p != '"' && *p != '\\')
                p++;
            strbuf_append(sb, start, (size_t)(p - start));
        } else {
            p = put_utf8(sb, p, "\\ufffd");
        }
    }
    strbuf_putc(sb, '"');
}

void strbuf_uint(strbuf *sb, uint64_t v)
{
    char digits[20];   /* 2^64 - 1 has 20 */
    int n = 0;
    do {
        digits[sizeof digits - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    strbuf_append(sb, digits + sizeof digits - n, (size_t)n);
}

void strbuf_fixed(strbuf *sb, uint64_t units, int decimals)
{
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    strbuf_uint(sb, units / scale);
    if (decimals == 0)
        return;
    char frac[10];
    uint64_t rest = units % scale;
    frac[0] = '.';
    for (int i = decimals; i >= 1; i--) {
        frac[i] = (char)('0' + rest % 10);
        rest /= 10;
    }
    strbuf_append(sb, frac, (size_t)decimals + 1);
}

void strbuf_json_number(strbuf *sb, double v)
{
    if (!isfinite(v)) {
        strbuf_puts(sb, "null");
        return;
    }
    /* 9 significant digits round-trip a float32, which is all the model has. */
    strbuf_printf(sb, "%.9g", v);
}

/* v * 10^k with at most two roundings: powers up to 10^22 are exact. */
static double times_pow10(double v, int k)
{
    static const double exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    while (k > 22) {
        v *= exact[22];
        k -= 22;
    }
    while (k < -22) {
        v /= exact[22];
        k += 22;
    }
    return k >= 0 ? v * exact[k] : v / exact[-k];
}

void strbuf_json_float(strbuf *sb, float f)
{
    if (!isfinite(f)) {
        strbuf_puts(sb, "null");
        return;
    }
    char out[32];
    int n = 0;
    double v = f;
    if (signbit(v)) {
        out[n++] = '-';
        v = -v;
    }
    if (v == 0.0) {
        out[n++] = '0';
        strbuf_append(sb, out, (size_t)n);
        return;
    }
    /* Nine significant digits as an integer in [10^8, 10^9), and the decimal
     * exponent of the first. log10 may be one off near powers of ten. */
    int exp10 = (int)floor(log10(v));
    double scaled = times_pow10(v, 8 - exp10);
    if (scaled >= 1e9) {
        exp10++;
        scaled = times_pow10(v, 8 - exp10);
    } else if (scaled < 1e8) {
        exp10--;
        scaled = times_pow10(v, 8 - exp10);
    }
    uint32_t digits = (uint32_t)llrint(scaled);   /* ties to even, as printf */
    if (digits >= 1000000000u) {
        digits /= 10;
        exp10++;
    }
    char d[9];
    for (int i = 8; i >= 0; i--) {
        d[i] = (char)('0' + digits % 10);
        digits /= 10;
    }
    int last = 8;   /* %g drops trailing zeros */
    while (last > 0 && d[last] == '0')
        last--;
    if (exp10 < -4 || exp10 >= 9) {
        out[n++] = d[0];
        if (last > 0) {
            out[n++] = '.';
            memcpy(out + n, d + 1, (size_t)last);
            n += last;
        }
        int e = exp10 < 0 ? -exp10 : exp10;
        out[n++] = 'e';
        out[n++] = exp10 < 0 ? '-' : '+';
        if (e >= 10)
            out[n++] = (char)('0' + e / 10);
        else
            out[n++] = '0';   /* at least two exponent digits */
        out[n++] = (char)('0' + e % 10);
    } else if (exp10 < 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = exp10 + 1; i < 0; i++)
            out[n++] = '0';
        memcpy(out + n, d, (size_t)last + 1);
        n += last + 1;
    } else {
        memcpy(out + n, d, (size_t)exp10 + 1);
        n += exp10 + 1;
        if (last > exp10) {
            out[n++] = '.';
            memcpy(out + n, d + exp10 + 1, (size_t)(last - exp10));
            n += last - exp10;
        }
    }
    strbuf_append(sb, out, (size_t)n);
}

void strbuf_prom_label(strbuf *sb, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        if (*p >= 0x80) {
            /* The text format is UTF-8: one bad byte in a label value makes
             * a scraper drop the whole exposition, so it becomes U+FFFD. */
            p = put_utf8(sb, p, "\xef\xbf\xbd");
            continue;
        }
        switch (*p) {
        case '\\': strbuf_puts(sb, "\\\\"); break;
        case '"': strbuf_puts(sb, "\\\""); break;
        case '\n': strbuf_puts(sb, "\\n"); break;
        default: strbuf_putc(sb, (char)*p); break;
        }
        p++;
    }
}

void strbuf_base64(strbuf *sb, const uint8_t *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char quad[4];
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        quad[0] = alphabet[(v >> 18) & 63];
        quad[1] = alphabet[(v >> 12) & 63];
        quad[2] = alphabet[(v >> 6) & 63];
        quad[3] = alphabet[v & 63];
        strbuf_append(sb, quad, 4);
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        quad[0] = alphabet[(v >> 18) & 63];
        quad[1] = alphabet[(v >> 12) & 63];
        quad[2] = (i + 1 < len) ? alphabet[(v >> 6) & 63] : '=';
        quad[3] = '=';
        strbuf_append(sb, quad, 4);
    }
}
