/* variant_png.c -- the variant styles' PNG layouts, written with libpng.
 * See variant_png.h. */
#include "variant_png.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int layout_color_type(variant_layout f)
{
    switch (f) {
    case LAYOUT_GRAY8: case LAYOUT_GRAY16: return PNG_COLOR_TYPE_GRAY;
    case LAYOUT_GRAY_ALPHA8: return PNG_COLOR_TYPE_GRAY_ALPHA;
    case LAYOUT_RGB8: case LAYOUT_RGB8_ADAM7: case LAYOUT_RGB16: return PNG_COLOR_TYPE_RGB;
    case LAYOUT_RGBA8: return PNG_COLOR_TYPE_RGBA;
    case LAYOUT_PALETTE4: return PNG_COLOR_TYPE_PALETTE;
    }
    return PNG_COLOR_TYPE_GRAY;
}

static int layout_bit_depth(variant_layout f)
{
    return f == LAYOUT_GRAY16 || f == LAYOUT_RGB16 ? 16 : (f == LAYOUT_PALETTE4 ? 4 : 8);
}

static size_t layout_row_bytes(variant_layout f, int w)
{
    size_t n = (size_t)w;
    switch (f) {
    case LAYOUT_GRAY8: return n;
    case LAYOUT_GRAY16: case LAYOUT_GRAY_ALPHA8: return 2 * n;
    case LAYOUT_RGB8: case LAYOUT_RGB8_ADAM7: return 3 * n;
    case LAYOUT_RGB16: return 6 * n;
    case LAYOUT_RGBA8: return 4 * n;
    case LAYOUT_PALETTE4: return (n + 1) / 2;
    }
    return 4 * n;
}

/* variant_snap() first: v * 255 of a multiple of 2^-24 is exact, so the
 * rounding does not depend on how v was computed. */
static unsigned q8(double v)
{
    return (unsigned)lround(variant_clamp(variant_snap(v), 0.0, 1.0) * 255.0);
}

static unsigned q16(double v)
{
    return (unsigned)lround(variant_clamp(variant_snap(v), 0.0, 1.0) * 65535.0);
}

/* The canvas as PNG scanlines (big-endian 16-bit samples, 4-bit palette
 * indices packed high nibble first). */
static void pack_rows(const canvas *c, variant_layout f, uint8_t *rows, size_t row_bytes)
{
    for (int y = 0; y < c->h; y++) {
        uint8_t *out = rows + (size_t)y * row_bytes;
        memset(out, 0, row_bytes);
        for (int x = 0; x < c->w; x++) {
            const double *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 4;
            size_t i = (size_t)x;
            switch (f) {
            case LAYOUT_GRAY8:
                out[i] = (uint8_t)q8(variant_luma(p));
                break;
            case LAYOUT_GRAY16: {
                unsigned v = q16(variant_luma(p));
                out[2 * i] = (uint8_t)(v >> 8);
                out[2 * i + 1] = (uint8_t)v;
                break;
            }
            case LAYOUT_GRAY_ALPHA8:
                out[2 * i] = (uint8_t)q8(variant_luma(p));
                out[2 * i + 1] = (uint8_t)q8(p[3]);
                break;
            case LAYOUT_RGB8:
            case LAYOUT_RGB8_ADAM7:
                for (int k = 0; k < 3; k++)
                    out[3 * i + (size_t)k] = (uint8_t)q8(p[k]);
                break;
            case LAYOUT_RGB16:
                for (int k = 0; k < 3; k++) {
                    unsigned v = q16(p[k]);
                    out[6 * i + 2 * (size_t)k] = (uint8_t)(v >> 8);
                    out[6 * i + 2 * (size_t)k + 1] = (uint8_t)v;
                }
                break;
            case LAYOUT_RGBA8:
                for (int k = 0; k < 4; k++)
                    out[4 * i + (size_t)k] = (uint8_t)q8(p[k]);
                break;
            case LAYOUT_PALETTE4: {
                unsigned idx = (unsigned)lround(variant_clamp(variant_luma(p), 0.0, 1.0) * 15.0);
                out[i / 2] |= (uint8_t)(i % 2 ? idx : idx << 4);
                break;
            }
            }
        }
    }
}

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    uint8_t *rows;           /* packed scanlines */
    png_bytep *row_ptrs;
    char message[160];
} encode_job;

static void encode_error(png_structp png, png_const_charp msg)
{
    encode_job *job = png_get_error_ptr(png);
    snprintf(job->message, sizeof job->message, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void encode_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void encode_write(png_structp png, png_bytep data, size_t n)
{
    encode_job *job = png_get_io_ptr(png);
    if (n > SIZE_MAX / 2 - job->len)
        png_error(png, "encoded PNG too large");
    if (job->len + n > job->cap) {
        size_t cap = job->cap ? job->cap : 8192;
        while (cap < job->len + n)
            cap *= 2;
        uint8_t *grown = realloc(job->buf, cap);
        if (!grown)
            png_error(png, "out of memory");
        job->buf = grown;
        job->cap = cap;
    }
    memcpy(job->buf + job->len, data, n);
    job->len += n;
}

static void encode_flush(png_structp png)
{
    (void)png;
}

/* The only function that calls setjmp; everything allocated hangs off job,
 * so nothing is lost when libpng longjmps back here. */
static int encode_with(png_structp png, png_infop info, encode_job *job, int w, int h,
                       variant_layout f)
{
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_set_write_fn(png, job, encode_write, encode_flush);
    int interlace = f == LAYOUT_RGB8_ADAM7 ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE;
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, layout_bit_depth(f),
                 layout_color_type(f), interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (f == LAYOUT_PALETTE4) {
        png_color palette[16];
        for (int i = 0; i < 16; i++)
            palette[i].red = palette[i].green = palette[i].blue = (png_byte)(i * 17);
        png_set_PLTE(png, info, palette, 16);
    }
    /* The set is rewritten for every test run and never shipped: zlib's
     * fastest level writes it a third faster than the default, with the
     * same pixels. */
    png_set_compression_level(png, 1);
    png_write_info(png, info);
    png_write_image(png, job->row_ptrs);   /* runs the Adam7 passes itself */
    png_write_end(png, info);
    return 0;
}

int variant_encode_png(const canvas *c, variant_layout f, uint8_t **png_out, size_t *len_out,
                       char *err, size_t err_len)
{
    encode_job job;
    memset(&job, 0, sizeof job);
    size_t row_bytes = layout_row_bytes(f, c->w);
    job.rows = malloc(row_bytes * (size_t)c->h);
    job.row_ptrs = malloc((size_t)c->h * sizeof *job.row_ptrs);
    png_structp png = NULL;
    png_infop info = NULL;
    int rc = -1;
    if (!job.rows || !job.row_ptrs) {
        snprintf(err, err_len, "out of memory");
        goto done;
    }
    pack_rows(c, f, job.rows, row_bytes);
    for (int y = 0; y < c->h; y++)
        job.row_ptrs[y] = job.rows + (size_t)y * row_bytes;
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, encode_error, encode_warning);
    info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        snprintf(err, err_len, "cannot create a libpng writer");
        goto done;
    }
    if (encode_with(png, info, &job, c->w, c->h, f) != 0) {
        snprintf(err, err_len, "PNG encoding failed: %s", job.message);
        goto done;
    }
    *png_out = job.buf;
    *len_out = job.len;
    job.buf = NULL;
    rc = 0;
done:
    if (png)
        png_destroy_write_struct(&png, info ? &info : NULL);
    free(job.buf);
    free(job.rows);
    free(job.row_ptrs);
    return rc;
}
