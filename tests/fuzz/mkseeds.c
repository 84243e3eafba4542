/* mkseeds.c -- writes the committed seed corpora (tests/fuzz/corpus/<target>).
 * Run once by hand when the formats change; the output is committed:
 *
 *   make && cc -std=c17 -D_POSIX_C_SOURCE=200809L -Icommon -Iserver \
 *       tests/fuzz/mkseeds.c build/libdigits_common.a -lpng16 -lm -o /tmp/mkseeds
 *   /tmp/mkseeds tests/fuzz/corpus
 *
 * Seeds are small on purpose: the fuzzer mutates small inputs far faster,
 * and each one stands for one format feature (a colour type, a bit depth,
 * interlacing, a chunk) rather than for realistic content.
 */
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"
#include "png_io.h"
#include "sha256.h"

static const char *root;

static void put(const char *target, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* ---- PNG ---------------------------------------------------------------- */

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} membuf;

static void mem_write(png_structp png, png_bytep src, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->buf = realloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, src, n);
    m->len += n;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

/* Ink of a 7 at (x, y) in a side x side square, 0..1. */
static double seven(int x, int y, int side)
{
    double u = (x + 0.5) / side, v = (y + 0.5) / side;
    if (v > 0.2 && v < 0.32 && u > 0.25 && u < 0.78)
        return 1;
    double xd = 0.78 - (v - 0.26) * 0.45;   /* the down stroke */
    if (v >= 0.26 && v < 0.85 && u > xd - 0.07 && u < xd + 0.05)
        return 1;
    return 0;
}

/* A ring drawn round the 7 above, touching the end of its bar, as an
 * answer is circled on a form: the preprocessing's ring search runs on it
 * (it needs 48 px a side). */
static double ring(int x, int y, int side)
{
    double u = ((x + 0.5) / side - 0.50) / 0.38, v = ((y + 0.5) / side - 0.53) / 0.42;
    double r = sqrt(u * u + v * v);
    return r > 0.93 && r < 1.07 ? 1 : 0;
}

/* Writes a w x h picture of a 7 in the given PNG format. dark: dark ink on
 * light paper. extra: add a tEXt chunk and a zTXt chunk (2: and an eXIf
 * chunk, orientation 6, so the picture is shown turned). ringed: circle it. */
static void png_seed(const char *name, int w, int h, int color_type, int depth, int interlace,
                     int dark, int extra, int trns, int ringed)
{
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "libpng failed on %s\n", name);
        exit(1);
    }
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_compression_level(png, 9);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    int maxv = (1 << depth) - 1;
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[4] = {{255, 255, 255}, {0, 0, 0}, {200, 30, 30}, {30, 30, 200}};
        png_set_PLTE(png, info, pal, 4);
        if (trns) {
            png_byte alpha[1] = {0};
            png_set_tRNS(png, info, alpha, 1, NULL);
        }
    } else if (trns && (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_RGB)) {
        png_color_16 t = {0};
        t.gray = (png_uint_16)(dark ? maxv : 0);
        t.red = t.green = t.blue = (png_uint_16)(dark ? maxv : 0);
        png_set_tRNS(png, info, NULL, 0, &t);
    }
    if (extra) {
        png_text text[2];
        memset(text, 0, sizeof text);
        text[0].compression = PNG_TEXT_COMPRESSION_NONE;
        text[0].key = "Comment";
        text[0].text = "seed";
        text[1].compression = PNG_TEXT_COMPRESSION_zTXt;
        text[1].key = "Software";
        text[1].text = "mkseeds mkseeds mkseeds";
        png_set_text(png, info, text, 2);
        png_color_16 bg = {0};
        png_set_bKGD(png, info, &bg);
        png_set_gAMA(png, info, 0.45455);
    }
    if (extra == 2) {
        /* Exif (little-endian TIFF) with one entry: orientation 6 */
        png_byte exif[26] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6};
        png_set_eXIf_1(png, info, sizeof exif, exif);
    }
    png_write_info(png, info);
    if (depth == 16)
        png_set_swap(png);   /* rows below are little-endian 16-bit */
    int channels = png_get_channels(png, info);
    size_t bits_per_px = (size_t)channels * (size_t)depth;
    size_t rowbytes = ((size_t)w * bits_per_px + 7) / 8;
    /* Whole images for both layouts: libpng's interlacing needs them. */
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
    uint8_t *all = calloc((size_t)h, rowbytes);
    for (int y = 0; y < h; y++) {
        uint8_t *row = rows[y] = all + (size_t)y * rowbytes;
        for (int x = 0; x < w; x++) {
            double ink = seven(x, y, w < h ? w : h);
            if (ringed && ring(x, y, w < h ? w : h) > ink)
                ink = 1;
            int level = (int)((dark ? 1.0 - ink : ink) * maxv + 0.5);
            for (int c = 0; c < channels; c++) {
                int v = level;
                if (color_type == PNG_COLOR_TYPE_PALETTE)
                    v = ink > 0.5 ? 1 : 0;
                else if ((color_type & PNG_COLOR_MASK_ALPHA) && c == channels - 1)
                    v = ink > 0.5 ? maxv : (dark ? maxv : 0);
                size_t bit = ((size_t)x * (size_t)channels + (size_t)c) * (size_t)depth;
                if (depth == 16) {
                    row[bit / 8] = (uint8_t)(v & 0xff);
                    row[bit / 8 + 1] = (uint8_t)(v >> 8);
                } else if (depth == 8) {
                    row[bit / 8] = (uint8_t)v;
                } else {
                    int shift = 8 - depth - (int)(bit % 8);
                    row[bit / 8] |= (uint8_t)(v << shift);
                }
            }
        }
    }
    png_write_image(png, rows);
    free(rows);
    free(all);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    put("png", name, m.buf, m.len);
    free(m.buf);
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A valid signature and IHDR declaring w x h, then a tiny IDAT and IEND:
 * the "100000 x 100000 in a few hundred bytes" attack. */
static void huge_header_seed(const char *name, uint32_t w, uint32_t h)
{
    uint8_t b[8 + 25 + 12 + 12];
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    be32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    be32(b + 16, w);
    be32(b + 20, h);
    b[24] = 8; b[25] = 0; b[26] = 0; b[27] = 0; b[28] = 0;
    be32(b + 29, png_chunk_crc(b + 12, 17));
    be32(b + 33, 0);
    memcpy(b + 37, "IDAT", 4);
    be32(b + 41, png_chunk_crc(b + 37, 4));
    be32(b + 45, 0);
    memcpy(b + 49, "IEND", 4);
    be32(b + 53, png_chunk_crc(b + 49, 4));
    put("png", name, b, sizeof b);
}

/* ---- models ------------------------------------------------------------- */

static void model_seed(const char *name, const int *sizes, int n, int meta)
{
    model m;
    char err[256];
    if (model_init(&m, sizes, n, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    for (size_t i = 0; i < m.n_params; i++)
        m.params[i] = (float)((int)(i % 7) - 3) * 0.25f;
    if (sizes[0] == 4) {
        m.input_width = 2;
        m.input_height = 2;
    }
    if (meta) {
        model_set_meta(&m, "id", "seed-model");
        model_set_meta(&m, "test_accuracy", "0.9");
        model_set_meta(&m, "input_pipeline", "preprocess");
    }
    char tmp[] = "/tmp/mkseeds-model-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0 || model_save(&m, tmp, err, sizeof err) != 0) {
        fprintf(stderr, "model_save: %s\n", err);
        exit(1);
    }
    FILE *f = fopen(tmp, "rb");
    static uint8_t buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    remove(tmp);
    /* fuzz_model appends the checksum itself: store the file without it. */
    put("model", name, buf, len - 32);
    model_free(&m);
}

/* ---- IDX ---------------------------------------------------------------- */

static void idx_seeds(void)
{
    uint8_t img[16 + 3 * 4 * 4];
    be32(img, 0x803);
    be32(img + 4, 3);
    be32(img + 8, 4);
    be32(img + 12, 4);
    for (int i = 0; i < 48; i++)
        img[16 + i] = (uint8_t)(i * 5);
    put("idx", "images-3x4x4", img, sizeof img);
    uint8_t lab[8 + 5] = {0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3, 4, 9};
    put("idx", "labels-5", lab, sizeof lab);
    uint8_t empty[16];
    be32(empty, 0x803);
    be32(empty + 4, 0);
    be32(empty + 8, 28);
    be32(empty + 12, 28);
    put("idx", "images-empty", empty, sizeof empty);
}

/* ---- HTTP --------------------------------------------------------------- */

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    static uint8_t buf[1 << 16];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

static void http_seed(const char *name, const char *head, const uint8_t *body, size_t blen)
{
    size_t hl = strlen(head);
    uint8_t *b = malloc(hl + blen);
    memcpy(b, head, hl);
    if (blen)
        memcpy(b + hl, body, blen);
    put("request", name, b, hl + blen);
    free(b);
}

static void multipart_seed(const char *name, int flags, const char *ct, const uint8_t *body,
                           size_t blen)
{
    size_t cl = strlen(ct);
    uint8_t *b = malloc(1 + cl + 1 + blen);
    b[0] = (uint8_t)flags;
    memcpy(b + 1, ct, cl);
    b[1 + cl] = '\n';
    if (blen)
        memcpy(b + 2 + cl, body, blen);
    put("multipart", name, b, 2 + cl + blen);
    free(b);
}

static size_t form(uint8_t *out, const char *boundary, int n, const char **names,
                   const uint8_t *png, size_t plen)
{
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        o += (size_t)sprintf((char *)out + o,
                             "--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                             "filename=\"d%d.png\"\r\nContent-Type: image/png\r\n\r\n",
                             boundary, names[i], i);
        memcpy(out + o, png, plen);
        o += plen;
        o += (size_t)sprintf((char *)out + o, "\r\n");
    }
    o += (size_t)sprintf((char *)out + o, "--%s--\r\n", boundary);
    return o;
}

static void request_seeds(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/png/grey8-28.png", root);
    size_t plen;
    uint8_t *src = read_all(path, &plen);
    uint8_t png[4096];
    memcpy(png, src, plen);

    char head[1024];
    http_seed("get-healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 0);
    http_seed("get-model-metrics-pipelined",
              "GET /model HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
              "HEAD /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", NULL, 0);
    http_seed("http10-notfound", "GET /nope?a=b HTTP/1.0\r\n\r\n", NULL, 0);
    http_seed("options-preflight",
              "OPTIONS /predict HTTP/1.1\r\nHost: x\r\nOrigin: http://a.example\r\n"
              "Access-Control-Request-Method: POST\r\n"
              "Access-Control-Request-Headers: content-type, x-request-id\r\n\r\n",
              NULL, 0);
    http_seed("delete-predict", "DELETE /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
              NULL, 0);
    snprintf(head, sizeof head,
             "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
             "Content-Length: %zu\r\n\r\n", plen);
    http_seed("predict-raw", head, png, plen);
    snprintf(head, sizeof head,
             "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
             "Origin: http://a.example\r\nX-Request-Id: seed-1\r\n"
             "Content-Length: %zu\r\n\r\n", plen);
    http_seed("predict-origin-request-id", head, png, plen);
    snprintf(head, sizeof head,
             "POST /predict?explain=1 HTTP/1.1\r\nHost: x\r\n"
             "Content-Length: %zu\r\n\r\n", plen);
    http_seed("predict-explain-no-ct", head, png, plen);
    /* chunked: two chunks */
    {
        uint8_t b[8192];
        size_t o = (size_t)sprintf((char *)b, "POST /predict HTTP/1.1\r\nHost: x\r\n"
                                              "Transfer-Encoding: chunked\r\n"
                                              "Content-Type: application/octet-stream\r\n\r\n");
        size_t half = plen / 2;
        o += (size_t)sprintf((char *)b + o, "%zx\r\n", half);
        memcpy(b + o, png, half);
        o += half;
        o += (size_t)sprintf((char *)b + o, "\r\n%zx\r\n", plen - half);
        memcpy(b + o, png + half, plen - half);
        o += plen - half;
        o += (size_t)sprintf((char *)b + o, "\r\n0\r\n\r\n");
        put("request", "predict-chunked", b, o);
    }
    uint8_t body[16384];
    const char *names2[] = {"image", "image"};
    size_t blen = form(body, "XyZ", 2, names2, png, plen);
    snprintf(head, sizeof head,
             "POST /predict HTTP/1.1\r\nHost: x\r\n"
             "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: %zu\r\n\r\n",
             blen);
    http_seed("predict-multipart-2", head, body, blen);
    multipart_seed("two-images", 0, "multipart/form-data; boundary=XyZ", body, blen);
    const char *names3[] = {"note", "image", "other"};
    blen = form(body, "b\"q", 3, names3, png, plen);
    multipart_seed("mixed-fields-explain", 1, "multipart/form-data; boundary=\"b\\\"q\"", body, blen);
    multipart_seed("raw-png", 0, "image/png", png, plen);
    multipart_seed("raw-no-ct", 2, "", png, plen);
    multipart_seed("text-plain", 0, "text/plain; charset=utf-8", (const uint8_t *)"7", 1);
    snprintf(head, sizeof head,
             "POST /predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
             "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
    http_seed("predict-415-expect", head, NULL, 0);
    http_seed("predict-too-large",
              "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);

    png_seed("grey8-28.png", 28, 28, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0, 0, 0, 0);
    png_seed("grey8-exif6-20.png", 20, 12, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 1, 2, 0, 0);
    png_seed("grey1-dark-16.png", 16, 16, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, 1, 0, 0, 0);
    png_seed("grey2-20.png", 20, 20, PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, 1, 0, 0, 0);
    png_seed("grey4-interlaced-20.png", 20, 20, PNG_COLOR_TYPE_GRAY, 4, PNG_INTERLACE_ADAM7, 1, 0, 0, 0);
    png_seed("grey16-trns-16.png", 16, 16, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, 1, 0, 1, 0);
    png_seed("ga8-16.png", 16, 16, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, 1, 0, 0, 0);
    png_seed("rgb8-text-16.png", 16, 16, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 1, 1, 0, 0);
    png_seed("rgb16-interlaced-12.png", 12, 12, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_ADAM7, 0, 0, 1, 0);
    png_seed("rgba8-canvas-20.png", 20, 20, PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_NONE, 1, 0, 0, 0);
    png_seed("rgba16-12.png", 12, 12, PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_NONE, 0, 0, 0, 0);
    png_seed("pal2-trns-16.png", 16, 16, PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_NONE, 0, 0, 1, 0);
    png_seed("pal8-interlaced-9x31.png", 9, 31, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_ADAM7, 0, 1, 0, 0);
    png_seed("grey8-1x1.png", 1, 1, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0, 0, 0, 0);
    png_seed("grey8-circled-64.png", 64, 64, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 1, 0, 0, 1);
    huge_header_seed("huge-100000x100000.png", 100000, 100000);
    huge_header_seed("huge-1x2000000.png", 1, 2000000);
    /* raw-pixel mode of fuzz_png: w, h, flags, then pixels */
    uint8_t raw[4 + 64];
    raw[0] = 7; raw[1] = 7; raw[2] = 0; raw[3] = 0;
    for (int i = 0; i < 64; i++)
        raw[4 + i] = (i % 9 == 4) ? 250 : 10;
    put("png", "raw-grey-8x8", raw, sizeof raw);
    raw[3] = 3;   /* RGBA, deskew */
    put("png", "raw-rgba-8x8-deskew", raw, sizeof raw);

    int tiny[] = {4, 3, 2};
    model_seed("tiny-4-3-2", tiny, 3, 1);
    int mnist[] = {784, 1, 10};
    model_seed("mnist-784-1-10", mnist, 3, 1);
    int deep[] = {784, 2, 2, 10};
    model_seed("mnist-784-2-2-10-nometa", deep, 4, 0);
    idx_seeds();
    request_seeds();
    return 0;
}
