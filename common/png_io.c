/* png_io.c -- PNG decoding and encoding with libpng, hardened for hostile
 * input.
 *
 * Decoding reads from a memory buffer through a bounded reader, so a short or
 * truncated upload can never be read past its end. The header is parsed by
 * hand first (png_read_size) so that an image over the caller's pixel limit
 * is refused before libpng allocates anything for it. libpng reports errors
 * by longjmp; every longjmp lands in one place per call, in a function whose
 * heap pointers live in a context struct (not in automatic variables that
 * setjmp could leave stale), and that place frees everything.
 *
 * Only the chunks needed for pixels are processed (IHDR, PLTE, tRNS, IDAT,
 * IEND); text, ICC profiles, Exif and unknown chunks are skipped unread, so
 * compressed text bombs and oversized profiles cost nothing. But a photo
 * converted to PNG often keeps the camera's Exif, whose orientation tag says
 * the pixels are stored sideways or upside down; viewers (Safari, Chromium
 * since 2024) show them turned, so the user sees an upright digit. That one
 * tag is read by hand from an eXIf chunk before the pixels, and the decoded
 * image is turned the same way, so that the server reads what the user saw.
 * Colour management and gamma are deliberately ignored: a digit's ink/paper
 * contrast does not depend on them, and the preprocessing estimates levels
 * from the data.
 *
 * On success `detail` holds libpng's last warning (or is empty); on failure it
 * holds the reason.
 */
#include "png_io.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"

#define PNG_SIG_LEN 8
/* Signature, IHDR length + type, 13 data bytes, CRC. */
#define PNG_HEADER_LEN (PNG_SIG_LEN + 8 + 13 + 4)
#define PNG_MAX_DIM 0x7fffffffu

/* Ancillary chunks are skipped through a fixed buffer, never stored, so
 * these two limits only matter if that ever changes: no chunk's data may be
 * allocated above this size, and at most this many chunks may be kept. */
#define CHUNK_MALLOC_MAX (8u * 1024u * 1024u)
#define CHUNK_CACHE_MAX 64u

static const uint8_t png_signature[PNG_SIG_LEN] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

const char *png_io_status_text(png_io_status status)
{
    switch (status) {
    case PNG_IO_OK: return "ok";
    case PNG_IO_NOT_PNG: return "not a PNG file";
    case PNG_IO_CORRUPT: return "corrupt or truncated PNG";
    case PNG_IO_TOO_MANY_PIXELS: return "image has too many pixels";
    case PNG_IO_NO_MEMORY: return "out of memory";
    case PNG_IO_WRITE_FAILED: return "could not write PNG";
    }
    return "unknown PNG status";
}

static void set_detail(char *detail, size_t detail_len, const char *msg)
{
    if (!detail || detail_len == 0)
        return;
    snprintf(detail, detail_len, "%s", msg ? msg : "");
}

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Four bits at a time from a 16-entry table (the CRC of each nibble value,
 * polynomial 0xedb88320): the server runs it over the 17 bytes of IHDR
 * type + data on every upload, where the bitwise loop cost ~0.2 us, and a
 * 256-entry table or zlib's crc32 would add 1 KB or a link dependency for
 * nothing more. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
    0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu};

uint32_t png_chunk_crc(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return crc ^ 0xffffffffu;
}

bool png_has_signature(const uint8_t *data, size_t len)
{
    return data && len >= PNG_SIG_LEN && memcmp(data, png_signature, PNG_SIG_LEN) == 0;
}

/* The kinds of picture people send instead of a PNG, as the advice names
 * them: what it is ("a JPEG") and a file name to convert it from. */
typedef struct {
    const char *what;
    const char *example;
} other_format;

static const other_format JPEG_FORMAT = {"a JPEG", "photo.jpg"};
static const other_format GIF_FORMAT = {"a GIF", "picture.gif"};
static const other_format WEBP_FORMAT = {"a WebP", "picture.webp"};
static const other_format HEIC_FORMAT = {"a HEIC (HEIF)", "photo.heic"};
static const other_format AVIF_FORMAT = {"an AVIF", "picture.avif"};
static const other_format TIFF_FORMAT = {"a TIFF", "scan.tif"};
static const other_format BMP_FORMAT = {"a BMP", "picture.bmp"};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An ISO media file's ftyp box: its major brand and then its compatible
 * brands, 4 bytes each, up to the box's end. AVIF before HEIC: an AVIF
 * may carry the generic HEIF brand (mif1) first. */
static const other_format *heif_family(const uint8_t *b, size_t n)
{
    size_t end = be32(b);   /* 0: to the end of the file; 1: a 64-bit size follows */
    end = end >= 16 && end < n ? end : n;
    static const char *const avif[] = {"avif", "avis"};
    static const char *const heic[] = {"heic", "heix", "heim", "heis", "hevc", "hevx",
                                       "mif1", "msf1"};
    bool is_heic = false;
    for (size_t at = 8; at + 4 <= end; at += at == 8 ? 8 : 4) {   /* skip minor_version */
        for (size_t i = 0; i < sizeof avif / sizeof avif[0]; i++)
            if (memcmp(b + at, avif[i], 4) == 0)
                return &AVIF_FORMAT;
        for (size_t i = 0; i < sizeof heic / sizeof heic[0]; i++)
            is_heic = is_heic || memcmp(b + at, heic[i], 4) == 0;
    }
    return is_heic ? &HEIC_FORMAT : NULL;
}

/* A BMP's file header and the size of the info header after it, one of the
 * versions that exist: "BM" alone is the start of too many texts. */
static bool is_bmp(const uint8_t *b, size_t n)
{
    if (n < 18 || b[0] != 'B' || b[1] != 'M' || b[6] || b[7] || b[8] || b[9])
        return false;
    uint32_t info = (uint32_t)b[14] | (uint32_t)b[15] << 8 | (uint32_t)b[16] << 16 |
                    (uint32_t)b[17] << 24;
    return info == 12 || info == 40 || info == 52 || info == 56 || info == 64 || info == 108 ||
           info == 124;
}

static const other_format *identify_other_format(const uint8_t *b, size_t n)
{
    if (!b)
        return NULL;
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return &JPEG_FORMAT;
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return &GIF_FORMAT;
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return &WEBP_FORMAT;
    if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0)
        return heif_family(b, n);
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0))
        return &TIFF_FORMAT;
    if (is_bmp(b, n))
        return &BMP_FORMAT;
    return NULL;
}

bool png_describe_other_format(const uint8_t *data, size_t len, char *out, size_t cap)
{
    const other_format *f = identify_other_format(data, len);
    if (!f)
        return false;
    snprintf(out, cap, "%s, not a PNG: convert it to PNG first (for example: convert %s digit.png)",
             f->what, f->example);
    return true;
}

png_io_status png_read_size(const uint8_t *data, size_t len, int *width, int *height)
{
    if (width)
        *width = 0;
    if (height)
        *height = 0;
    if (!png_has_signature(data, len))
        return PNG_IO_NOT_PNG;
    if (len < PNG_HEADER_LEN)
        return PNG_IO_CORRUPT;
    const uint8_t *chunk = data + PNG_SIG_LEN;
    if (read_be32(chunk) != 13 || memcmp(chunk + 4, "IHDR", 4) != 0)
        return PNG_IO_CORRUPT;
    /* Checking the CRC here means a flipped bit in the size can never make
     * us report (and a caller pre-allocate for) a size that is not there. */
    if (png_chunk_crc(chunk + 4, 4 + 13) != read_be32(chunk + 8 + 13))
        return PNG_IO_CORRUPT;
    uint32_t w = read_be32(chunk + 8);
    uint32_t h = read_be32(chunk + 12);
    if (w == 0 || h == 0 || w > PNG_MAX_DIM || h > PNG_MAX_DIM)
        return PNG_IO_CORRUPT;
    if (width)
        *width = (int)w;
    if (height)
        *height = (int)h;
    return PNG_IO_OK;
}

/* ---- decoding ---------------------------------------------------------- */

/* Everything the libpng callbacks and the error path need. Heap pointers are
 * kept here rather than in locals so they are still valid after a longjmp. */
typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
    int out_of_memory;
    char message[200];
    uint8_t *pixels;
    png_bytep *rows;
} decode_ctx;

static void copy_message(char *dst, size_t dst_len, const char *msg)
{
    snprintf(dst, dst_len, "%s", msg ? msg : "");
}

static void decode_error(png_structp png, png_const_charp msg)
{
    decode_ctx *ctx = png_get_error_ptr(png);
    copy_message(ctx->message, sizeof ctx->message, msg);
    png_longjmp(png, 1);
}

static void decode_warning(png_structp png, png_const_charp msg)
{
    decode_ctx *ctx = png_get_error_ptr(png);
    copy_message(ctx->message, sizeof ctx->message, msg);
}

/* libpng's own allocations go through here only so that an allocation
 * failure is reported as PNG_IO_NO_MEMORY rather than as a corrupt file. */
static png_voidp decode_malloc(png_structp png, png_alloc_size_t size)
{
    decode_ctx *ctx = png_get_mem_ptr(png);
    void *p = malloc(size);
    if (!p && ctx)
        ctx->out_of_memory = 1;
    return p;
}

static void decode_free(png_structp png, png_voidp p)
{
    (void)png;
    free(p);
}

/* The bounded reader: a request past the end of the buffer is an error, which
 * is how truncated uploads become PNG_IO_CORRUPT instead of over-reads. */
static void read_from_memory(png_structp png, png_bytep dst, size_t n)
{
    decode_ctx *ctx = png_get_io_ptr(png);
    if (n > ctx->len - ctx->pos)
        png_error(png, "unexpected end of PNG data (truncated file)");
    memcpy(dst, ctx->data + ctx->pos, n);
    ctx->pos += n;
}

static int mul_overflows(size_t a, size_t b)
{
    return b != 0 && a > SIZE_MAX / b;
}

png_io_status png_check_size(uint64_t w, uint64_t h, uint64_t max_pixels, char *detail,
                             size_t detail_len)
{
    if (w > PNG_IO_MAX_SIDE || h > PNG_IO_MAX_SIDE) {
        if (detail && detail_len > 0)
            snprintf(detail, detail_len, "image is %llux%llu; a side may be at most %d pixels",
                     (unsigned long long)w, (unsigned long long)h, PNG_IO_MAX_SIDE);
        return PNG_IO_TOO_MANY_PIXELS;
    }
    if (max_pixels == 0 || w * h <= max_pixels)
        return PNG_IO_OK;
    if (detail && detail_len > 0)
        snprintf(detail, detail_len, "image is %llux%llu = %llu pixels; the limit is %llu",
                 (unsigned long long)w, (unsigned long long)h,
                 (unsigned long long)(w * h), (unsigned long long)max_pixels);
    return PNG_IO_TOO_MANY_PIXELS;
}

static void configure_limits(png_structp png, uint64_t max_pixels)
{
    /* Our own, clearer check (png_check_size) refuses first whatever this
     * would: a side over PNG_IO_MAX_SIDE or over the pixel budget (the other
     * side is at least 1). */
    png_uint_32 dim_max = PNG_IO_MAX_SIDE;
    if (max_pixels > 0 && max_pixels < dim_max)
        dim_max = (png_uint_32)max_pixels;
    png_set_user_limits(png, dim_max, dim_max);
    png_set_chunk_cache_max(png, CHUNK_CACHE_MAX);
    png_set_chunk_malloc_max(png, CHUNK_MALLOC_MAX);
    /* Negative count: applies to every chunk except IHDR, PLTE, tRNS, IDAT
     * and IEND, known or unknown. */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
#ifdef PNG_IGNORE_ADLER32
    /* Every chunk's CRC is still checked, which already catches damaged
     * compressed data; the zlib stream's Adler-32 over the inflated bytes
     * adds no protection on top (a crafted file with valid CRCs chooses
     * its pixels either way) and cost 6-8% of decoding an upload. */
    png_set_option(png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
}

/* Asks libpng for 8 bits per channel: RGBA when rgba is set, else as few
 * channels as the stored format has (grey, grey + alpha, RGB or RGBA). */
static void request_8bit(png_structp png, png_infop info, int rgba)
{
    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    int has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;

    /* Palette -> RGB, grey < 8 bits -> 8 bits, tRNS -> alpha channel. */
    png_set_expand(png);
    if (bit_depth == 16)
        png_set_scale_16(png);   /* rounds, unlike strip_16's truncation */
    if (rgba && !(color_type & PNG_COLOR_MASK_COLOR))
        png_set_gray_to_rgb(png);
    if (rgba && !(color_type & PNG_COLOR_MASK_ALPHA) && !has_trns)
        png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

/* ---- Exif orientation ----------------------------------------------------
 *
 * The eXIf chunk holds a TIFF structure: a byte-order mark ("II" little
 * endian, "MM" big), 42, the offset of the first directory (IFD0), and
 * there a count of 12-byte entries (tag, type, count, value). Orientation
 * is tag 0x0112, one SHORT, 1 (upright) to 8. Every offset is checked
 * against the chunk's length; anything malformed reads as upright. */
#define EXIF_TAG_ORIENTATION 0x0112
#define EXIF_TYPE_SHORT 3

static unsigned exif_u16(const uint8_t *p, int big)
{
    return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t exif_u32(const uint8_t *p, int big)
{
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int png_exif_orientation(const uint8_t *exif, size_t len)
{
    if (!exif || len < 8)
        return 1;
    int big;
    if (exif[0] == 'I' && exif[1] == 'I')
        big = 0;
    else if (exif[0] == 'M' && exif[1] == 'M')
        big = 1;
    else
        return 1;
    if (exif_u16(exif + 2, big) != 42)
        return 1;
    uint32_t ifd = exif_u32(exif + 4, big);
    if (ifd > len || len - ifd < 2)
        return 1;
    unsigned entries = exif_u16(exif + ifd, big);
    size_t room = (len - ifd - 2) / 12;
    if (entries > room)
        entries = (unsigned)room;   /* a truncated directory: read what is there */
    for (unsigned i = 0; i < entries; i++) {
        const uint8_t *e = exif + ifd + 2 + (size_t)i * 12;
        if (exif_u16(e, big) != EXIF_TAG_ORIENTATION)
            continue;
        if (exif_u16(e + 2, big) != EXIF_TYPE_SHORT || exif_u32(e + 4, big) != 1)
            return 1;
        unsigned v = exif_u16(e + 8, big);   /* a lone SHORT sits at the value's start */
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* The orientation of the first eXIf chunk before the pixels (IDAT), found
 * by walking the chunk headers, CRC checked: 1 when there is none. libpng
 * is left to skip eXIf unread like every ancillary chunk, since it would
 * allocate whatever length a chunk declares. Only an eXIf before the
 * pixels counts: PNG's third edition requires that place, and browsers
 * ignore one after them. */
static int orientation_before_pixels(const uint8_t *data, size_t len)
{
    size_t pos = PNG_SIG_LEN;
    while (pos <= len && len - pos >= 12) {
        uint32_t n = read_be32(data + pos);
        const uint8_t *type = data + pos + 4;
        if (n > len - pos - 12 || memcmp(type, "IDAT", 4) == 0)
            return 1;
        if (memcmp(type, "eXIf", 4) == 0) {
            if (png_chunk_crc(type, 4 + (size_t)n) != read_be32(data + pos + 8 + n))
                return 1;   /* damaged: ignored, as libpng ignores ancillary damage */
            return png_exif_orientation(data + pos + 8, n);
        }
        pos += 12 + (size_t)n;
    }
    return 1;
}

/* In-place moves on a w x h picture of px bytes per pixel. */
static void swap_pixels(uint8_t *a, uint8_t *b, int px)
{
    for (int c = 0; c < px; c++) {
        uint8_t t = a[c];
        a[c] = b[c];
        b[c] = t;
    }
}

static void mirror_left_right(uint8_t *p, int w, int h, int px)
{
    for (int y = 0; y < h; y++) {
        uint8_t *row = p + (size_t)y * (size_t)w * (size_t)px;
        for (int x = 0; x < w / 2; x++)
            swap_pixels(row + (size_t)x * (size_t)px, row + (size_t)(w - 1 - x) * (size_t)px, px);
    }
}

static void mirror_top_bottom(uint8_t *p, int w, int h, int px)
{
    size_t stride = (size_t)w * (size_t)px;
    for (int y = 0; y < h / 2; y++) {
        uint8_t *a = p + (size_t)y * stride, *b = p + (size_t)(h - 1 - y) * stride;
        for (size_t i = 0; i < stride; i++) {
            uint8_t t = a[i];
            a[i] = b[i];
            b[i] = t;
        }
    }
}

/* Transposes in place by following each cycle of the permutation (pixel
 * k of the h rows of w goes to (k % w) * h + k / w), with one bit per pixel
 * to mark those already moved: an eighth of a byte per pixel instead of a
 * second copy of the picture. Returns -1 when out of memory (or for px
 * outside 1-4, which decoding never gives). */
static int transpose(uint8_t *p, int w, int h, int px)
{
    uint8_t carry[4];
    if (px < 1 || px > (int)sizeof carry)
        return -1;
    size_t n = (size_t)w * (size_t)h;
    uint8_t *moved = calloc(n / 8 + 1, 1);
    if (!moved)
        return -1;
    for (size_t start = 0; start < n; start++) {
        if (moved[start / 8] & (1u << (start % 8)))
            continue;
        memcpy(carry, p + start * (size_t)px, (size_t)px);
        size_t k = start;
        do {
            size_t next = (k % (size_t)w) * (size_t)h + k / (size_t)w;
            swap_pixels(carry, p + next * (size_t)px, px);
            moved[next / 8] |= (uint8_t)(1u << (next % 8));
            k = next;
        } while (k != start);
    }
    free(moved);
    return 0;
}

/* Turns a w x h picture stored with Exif orientation o (2-8), in place,
 * into the one a viewer shows: mirrored (2, 4), half turned (3), turned a
 * quarter clockwise (6) or anticlockwise (8), or transposed (5, 7). The
 * last four swap width and height: a transpose, then 6 is mirrored left to
 * right, 8 top to bottom, 7 both. Returns -1 when out of memory. */
static int reorient(uint8_t *p, int w, int h, int px, int o, int *out_w, int *out_h)
{
    *out_w = w;
    *out_h = h;
    if (o >= 5) {
        if (transpose(p, w, h, px) != 0)
            return -1;
        *out_w = h;
        *out_h = w;
    }
    if (o == 2 || o == 3 || o == 6 || o == 7)
        mirror_left_right(p, *out_w, *out_h, px);
    if (o == 3 || o == 4 || o == 7 || o == 8)
        mirror_top_bottom(p, *out_w, *out_h, px);
    return 0;
}

/* Runs libpng over ctx->data. Only this function calls setjmp; its locals are
 * not used after a longjmp, and the buffers it allocates hang off ctx. */
static png_io_status decode_into(png_structp png, png_infop info, decode_ctx *ctx,
                                 uint64_t max_pixels, int rgba, image *out, char *detail,
                                 size_t detail_len)
{
    if (setjmp(png_jmpbuf(png)))
        return ctx->out_of_memory ? PNG_IO_NO_MEMORY : PNG_IO_CORRUPT;

    configure_limits(png, max_pixels);
    png_set_read_fn(png, ctx, read_from_memory);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info);
    png_uint_32 h = png_get_image_height(png, info);
    png_io_status st = png_check_size(w, h, max_pixels, detail, detail_len);
    if (st != PNG_IO_OK)
        return st;
    if (w == 0 || h == 0 || w > PNG_MAX_DIM || h > PNG_MAX_DIM)
        return PNG_IO_CORRUPT;

    request_8bit(png, info, rgba);
    int channels = png_get_channels(png, info);
    if (channels < 1 || channels > 4 || (rgba && channels != 4) ||
        png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)w * (size_t)channels)
        png_error(png, "unexpected pixel layout after transformation");

    size_t stride = (size_t)w * (size_t)channels;
    /* The messages replace any warning libpng left in ctx->message, which
     * would otherwise be reported as the reason. */
    if (mul_overflows(h, stride) || mul_overflows(h, sizeof(png_bytep))) {
        ctx->out_of_memory = 1;
        copy_message(ctx->message, sizeof ctx->message, "out of memory for the decoded pixels");
        return PNG_IO_NO_MEMORY;
    }
    ctx->pixels = malloc(stride * h);
    ctx->rows = malloc(sizeof(png_bytep) * h);
    if (!ctx->pixels || !ctx->rows) {
        ctx->out_of_memory = 1;
        copy_message(ctx->message, sizeof ctx->message, "out of memory for the decoded pixels");
        return PNG_IO_NO_MEMORY;
    }
    for (png_uint_32 y = 0; y < h; y++)
        ctx->rows[y] = ctx->pixels + (size_t)y * stride;

    png_read_image(png, ctx->rows);
    /* Reading through IEND verifies the trailing CRCs, so a file cut after
     * its last IDAT is still reported as truncated. */
    png_read_end(png, NULL);

    int out_w = (int)w, out_h = (int)h;
    int orientation = orientation_before_pixels(ctx->data, ctx->len);
    if (orientation > 1) {
        free(ctx->rows);   /* not needed any more: less held while turning */
        ctx->rows = NULL;
        if (reorient(ctx->pixels, out_w, out_h, channels, orientation, &out_w, &out_h) != 0) {
            ctx->out_of_memory = 1;
            copy_message(ctx->message, sizeof ctx->message,
                         "out of memory turning the picture upright");
            return PNG_IO_NO_MEMORY;
        }
    }
    out->width = out_w;
    out->height = out_h;
    out->channels = channels;
    out->pixels = ctx->pixels;
    ctx->pixels = NULL;   /* ownership moved to *out */
    return PNG_IO_OK;
}

static png_io_status decode_memory(const uint8_t *data, size_t len, uint64_t max_pixels, int rgba,
                                   image *out, char *detail, size_t detail_len)
{
    set_detail(detail, detail_len, "");
    if (!out)
        return PNG_IO_CORRUPT;
    memset(out, 0, sizeof *out);

    int w = 0, h = 0;
    png_io_status st = png_read_size(data, len, &w, &h);
    if (st == PNG_IO_NOT_PNG) {
        set_detail(detail, detail_len, "missing PNG signature");
        return st;
    }
    if (st != PNG_IO_OK) {
        set_detail(detail, detail_len, "bad or truncated IHDR chunk");
        return st;
    }
    st = png_check_size((uint64_t)w, (uint64_t)h, max_pixels, detail, detail_len);
    if (st != PNG_IO_OK)
        return st;

    decode_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.data = data;
    ctx.len = len;

    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &ctx, decode_error,
                                               decode_warning, &ctx, decode_malloc, decode_free);
    if (!png) {
        set_detail(detail, detail_len, "cannot create libpng reader");
        return PNG_IO_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_detail(detail, detail_len, "cannot create libpng info");
        return PNG_IO_NO_MEMORY;
    }

    st = decode_into(png, info, &ctx, max_pixels, rgba, out, detail, detail_len);
    png_destroy_read_struct(&png, &info, NULL);
    free(ctx.pixels);
    free(ctx.rows);
    if (st != PNG_IO_OK) {
        memset(out, 0, sizeof *out);
        if (st == PNG_IO_NO_MEMORY && ctx.message[0] == '\0')
            copy_message(ctx.message, sizeof ctx.message, "out of memory while decoding");
        if (st != PNG_IO_TOO_MANY_PIXELS)
            set_detail(detail, detail_len, ctx.message);
        return st;
    }
    set_detail(detail, detail_len, ctx.message);   /* last warning, if any */
    return PNG_IO_OK;
}

png_io_status png_decode(const uint8_t *data, size_t len, uint64_t max_pixels, image *out,
                         char *detail, size_t detail_len)
{
    return decode_memory(data, len, max_pixels, 0, out, detail, detail_len);
}

png_io_status png_decode_rgba(const uint8_t *data, size_t len, uint64_t max_pixels,
                              image *out, char *detail, size_t detail_len)
{
    return decode_memory(data, len, max_pixels, 1, out, detail, detail_len);
}

/* ---- encoding ---------------------------------------------------------- */

typedef struct {
    uint8_t *buf;
    size_t len;
    size_t cap;
    int out_of_memory;
} encode_ctx;

static void encode_error(png_structp png, png_const_charp msg)
{
    (void)msg;
    png_longjmp(png, 1);
}

static void encode_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void write_to_memory(png_structp png, png_bytep src, size_t n)
{
    encode_ctx *ctx = png_get_io_ptr(png);
    if (n > SIZE_MAX - ctx->len) {
        ctx->out_of_memory = 1;
        png_error(png, "encoded PNG too large");
    }
    if (ctx->len + n > ctx->cap) {
        size_t cap = ctx->cap ? ctx->cap : 4096;
        while (cap < ctx->len + n)
            cap = cap > SIZE_MAX / 2 ? ctx->len + n : cap * 2;
        uint8_t *grown = realloc(ctx->buf, cap);
        if (!grown) {
            ctx->out_of_memory = 1;
            png_error(png, "out of memory");
        }
        ctx->buf = grown;
        ctx->cap = cap;
    }
    memcpy(ctx->buf + ctx->len, src, n);
    ctx->len += n;
}

static void flush_memory(png_structp png)
{
    (void)png;
}

static int color_type_for(int channels)
{
    switch (channels) {
    case 1: return PNG_COLOR_TYPE_GRAY;
    case 2: return PNG_COLOR_TYPE_GRAY_ALPHA;
    case 3: return PNG_COLOR_TYPE_RGB;
    case 4: return PNG_COLOR_TYPE_RGBA;
    }
    return -1;
}

static int image_is_encodable(const image *img)
{
    return img && img->pixels && img->width > 0 && img->height > 0 &&
           (uint64_t)img->width <= PNG_MAX_DIM && (uint64_t)img->height <= PNG_MAX_DIM &&
           color_type_for(img->channels) >= 0 &&
           (size_t)img->width <= SIZE_MAX / (size_t)img->channels;
}

/* The setjmp half of encoding; as in decode_into, state lives in ctx. */
static png_io_status encode_into(png_structp png, png_infop info, const image *img,
                                 encode_ctx *ctx)
{
    if (setjmp(png_jmpbuf(png)))
        return ctx->out_of_memory ? PNG_IO_NO_MEMORY : PNG_IO_WRITE_FAILED;

    png_set_write_fn(png, ctx, write_to_memory, flush_memory);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 color_type_for(img->channels), PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)img->width * (size_t)img->channels;
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->pixels + (size_t)y * stride);
    png_write_end(png, NULL);
    return PNG_IO_OK;
}

png_io_status png_encode_memory(const image *img, uint8_t **out, size_t *out_len)
{
    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!out || !out_len || !image_is_encodable(img))
        return PNG_IO_WRITE_FAILED;

    encode_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, encode_error,
                                              encode_warning);
    if (!png)
        return PNG_IO_NO_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return PNG_IO_NO_MEMORY;
    }
    png_io_status st = encode_into(png, info, img, &ctx);
    png_destroy_write_struct(&png, &info);
    if (st != PNG_IO_OK) {
        free(ctx.buf);
        return st;
    }
    *out = ctx.buf;
    *out_len = ctx.len;
    return PNG_IO_OK;
}

png_io_status png_write_file(const char *path, const image *img)
{
    if (!path || !*path) {
        errno = EINVAL;
        return PNG_IO_WRITE_FAILED;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    png_io_status st = png_encode_memory(img, &buf, &len);
    if (st != PNG_IO_OK)
        return st;

    st = atomic_file_write(path, buf, len) == 0 ? PNG_IO_OK : PNG_IO_WRITE_FAILED;
    int why = errno;
    free(buf);
    errno = why;
    return st;
}
