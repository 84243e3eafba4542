/* fuzz_png.c -- libFuzzer target: PNG decoding and preprocessing, the path
 * every upload takes before the network sees it.
 *
 * An input that starts with the PNG signature goes through png_read_size,
 * png_decode (with a pixel limit, as the server sets one) and then
 * preprocess_to_mnist_with, with and without deskewing. Any other input is
 * read as raw pixels (a 4-byte header: width, height, channels, options,
 * then the pixels), so that the fuzzer can steer the preprocessing directly
 * instead of through zlib.
 *
 * Properties checked besides "no crash, no leak, no UB": a decoded image has
 * 1 to 4 channels and the size png_read_size reported, within the limit, and a
 * successful preprocessing produces a 28x28 picture that is not all zero.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "png_io.h"
#include "preprocess.h"

/* Smaller than the server's default (4096x4096): large pictures are slow to
 * fuzz and exercise little the small ones do not. */
#define FUZZ_MAX_PIXELS ((uint64_t)512 * 512)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_preprocess(const image *img, int deskew, int read_faint)
{
    preprocess_options opts = {.deskew = deskew, .read_faint = read_faint};
    uint8_t out[MNIST_PIXELS];
    preprocess_info info;
    preprocess_status st = preprocess_to_mnist_with(img, &opts, out, &info);
    if (st == PREPROCESS_OK) {
        unsigned any = 0;
        for (int i = 0; i < MNIST_PIXELS; i++)
            any |= out[i];
        if (!any)
            abort();   /* "ok" must mean there is ink to classify */
        if (info.box_w <= 0 || info.box_h <= 0 || info.box_x < 0 || info.box_y < 0 ||
            info.box_x + info.box_w > img->width || info.box_y + info.box_h > img->height)
            abort();   /* the bounding box lies inside the source */
        if (info.faint && !read_faint)
            abort();   /* faint ink is read only when asked for */
    } else if (st == PREPROCESS_FAINT && read_faint) {
        abort();   /* asked for, faint ink is read or refused as blank */
    }
}

static void fuzz_png(const uint8_t *data, size_t size)
{
    int w = 0, h = 0;
    png_io_status hs = png_read_size(data, size, &w, &h);
    image img;
    char detail[160];
    png_io_status st = png_decode(data, size, FUZZ_MAX_PIXELS, &img, detail, sizeof detail);
    if (memchr(detail, '\0', sizeof detail) == NULL)
        abort();   /* detail is always terminated */
    if (st != PNG_IO_OK) {
        if (img.pixels)
            abort();   /* failure leaves *out empty */
        return;
    }
    /* as the header says, or turned a quarter by an Exif orientation */
    int as_stored = img.width == w && img.height == h, turned = img.width == h && img.height == w;
    if (hs != PNG_IO_OK || !(as_stored || turned) || img.channels < 1 ||
        img.channels > 4 ||
        (uint64_t)w * (uint64_t)h > FUZZ_MAX_PIXELS)
        abort();
    check_preprocess(&img, size & 1, (size & 2) != 0);
    image_free(&img);
}

/* Raw pixels: width = 1 + b0 % 96, height = 1 + b1 % 96, channels 1 or 4
 * (bit 0 of b3), deskew (bit 1 of b3), read_faint (bit 2 of b3); b2 is
 * spare; the pixels are the rest of the input, repeated to fill the
 * image. Photos over ~2 Mpx (which the preprocessing first
 * block-averages) are left to the unit tests: under ASan each one takes
 * most of a second, which would starve the fuzzer. */
static void fuzz_pixels(const uint8_t *data, size_t size)
{
    if (size < 5)
        return;
    int w = 1 + data[0] % 96, h = 1 + data[1] % 96;
    int channels = (data[3] & 1) ? 4 : 1;
    image img;
    if (image_alloc(&img, w, h, channels) != 0)
        return;
    const uint8_t *px = data + 4;
    size_t n = size - 4, total = (size_t)w * (size_t)h * (size_t)channels;
    for (size_t i = 0; i < total; i++)
        img.pixels[i] = px[i % n];
    check_preprocess(&img, (data[3] & 2) != 0, (data[3] & 4) != 0);
    image_free(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 8 && memcmp(data, sig, 8) == 0)
        fuzz_png(data, size);
    else
        fuzz_pixels(data, size);
    return 0;
}
