/* png_io.h -- PNG decoding and encoding on top of libpng, with limits.
 *
 * Decoding accepts every colour type and bit depth PNG allows (grey, grey +
 * alpha, RGB, RGBA, palette with or without tRNS, 1/2/4/8/16-bit, Adam7
 * interlaced) and produces 8 bits per channel, either in as few channels as
 * the file needs or always as RGBA, turned as its Exif orientation (an eXIf
 * chunk) says a viewer shows it. The input is untrusted: the header is checked against the pixel
 * limit before any pixel memory is allocated, and libpng errors never escape
 * as longjmps to the caller.
 */
#ifndef DIGITS_PNG_IO_H
#define DIGITS_PNG_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

typedef enum {
    PNG_IO_OK = 0,
    PNG_IO_NOT_PNG,        /* no PNG signature */
    PNG_IO_CORRUPT,        /* signature ok, but libpng could not decode it */
    PNG_IO_TOO_MANY_PIXELS,/* width * height over the caller's limit */
    PNG_IO_NO_MEMORY,
    PNG_IO_WRITE_FAILED,
} png_io_status;

/* A short human-readable description of a status. */
const char *png_io_status_text(png_io_status status);

/* Whether data starts with the 8-byte PNG signature. */
bool png_has_signature(const uint8_t *data, size_t len);

/* When data is not a PNG but a kind of picture people often send instead
 * (a phone's JPEG or HEIC, a GIF, WebP, AVIF, TIFF or BMP), writes what it
 * is and what to do ("a JPEG, not a PNG: convert it to PNG first (for
 * example: ...)") to out and returns true; otherwise returns false. */
bool png_describe_other_format(const uint8_t *data, size_t len, char *out, size_t cap);

/* The longest side decoded, whatever max_pixels allows. Memory follows the
 * shape as well as the area: libpng keeps two rows at the file's full depth
 * and the decoder a pointer per row, so a 16-bit RGBA picture 16 M pixels
 * wide and one row high took 330 MB against 70 MB for 4096 x 4096; no digit
 * needs a side anywhere near this. */
#define PNG_IO_MAX_SIDE 32768

/* PNG_IO_OK when a w x h picture may be decoded: no side over
 * PNG_IO_MAX_SIDE and w * h within max_pixels (0: no bound). Otherwise
 * PNG_IO_TOO_MANY_PIXELS, and detail (when not NULL) says which limit. */
png_io_status png_check_size(uint64_t w, uint64_t h, uint64_t max_pixels, char *detail,
                             size_t detail_len);

/* Reads only the IHDR of an in-memory PNG: cheap, allocates nothing. */
png_io_status png_read_size(const uint8_t *data, size_t len, int *width, int *height);

/* The CRC-32 a PNG chunk carries, over n bytes (its type and data). */
uint32_t png_chunk_crc(const uint8_t *p, size_t n);

/* Decodes an in-memory PNG into an 8-bit image with the channels the file
 * holds: 1 (grey), 2 (grey + alpha, or grey with a tRNS colour), 3 (RGB or
 * an opaque palette) or 4 (RGBA, or RGB/palette with tRNS). A grey upload
 * takes a quarter of the memory and work of RGBA; the preprocessing reads
 * every layout and gives the same result as from RGBA.
 * max_pixels bounds width * height (0 means no bound but PNG_IO_MAX_SIDE).
 * On failure *out is left empty and, when detail is not NULL, a message from
 * libpng is copied into detail (detail_len bytes at most, NUL-terminated). */
png_io_status png_decode(const uint8_t *data, size_t len, uint64_t max_pixels, image *out,
                         char *detail, size_t detail_len);

/* The same, always as RGBA (out->channels == 4). */
png_io_status png_decode_rgba(const uint8_t *data, size_t len, uint64_t max_pixels,
                              image *out, char *detail, size_t detail_len);

/* The orientation (1 upright, 2-8 as Exif numbers them) an eXIf chunk's
 * data gives; 1 when it has none or is malformed. Reads within len only. */
int png_exif_orientation(const uint8_t *exif, size_t len);

/* Encodes an 8-bit grey (channels 1), RGB (3) or RGBA (4) image as PNG into a
 * malloc'd buffer the caller frees. */
png_io_status png_encode_memory(const image *img, uint8_t **out, size_t *out_len);

/* Writes an image as a PNG file atomically (temporary file, then rename).
 * PNG_IO_WRITE_FAILED leaves errno saying why. */
png_io_status png_write_file(const char *path, const image *img);

#endif
