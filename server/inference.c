/* inference.c -- decode, preprocess, classify; see inference.h. */
#include "inference.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "image.h"
#include "mlp.h"
#include "png_io.h"

static infer_status from_png_status(png_io_status s)
{
    switch (s) {
    case PNG_IO_OK: return INFER_OK;
    case PNG_IO_NOT_PNG: return INFER_NOT_PNG;
    case PNG_IO_TOO_MANY_PIXELS: return INFER_TOO_MANY_PIXELS;
    case PNG_IO_NO_MEMORY: return INFER_NO_MEMORY;
    default: return INFER_CORRUPT_PNG;
    }
}

infer_status infer_png(const served_model *sm, const uint8_t *png, size_t len,
                       uint64_t max_pixels, bool read_faint, float *scratch, infer_result *out)
{
    memset(out, 0, sizeof *out);
    out->digit = -1;

    /* The header alone says how big the image is; refusing here means a
     * 100-byte PNG that claims to be 60000x60000 never allocates anything. */
    int w = 0, h = 0;
    png_io_status ps = png_read_size(png, len, &w, &h);
    if (ps != PNG_IO_OK) {
        snprintf(out->detail, sizeof out->detail, "%s", png_io_status_text(ps));
        return from_png_status(ps);
    }
    out->source_width = w;
    out->source_height = h;
    if (png_check_size((uint64_t)w, (uint64_t)h, max_pixels, out->detail, sizeof out->detail) !=
        PNG_IO_OK)
        return INFER_TOO_MANY_PIXELS;

    uint64_t t0 = mono_ns();
    image img;
    char why[160] = "";
    ps = png_decode(png, len, max_pixels, &img, why, sizeof why);
    uint64_t t1 = mono_ns();
    out->decode_ns = t1 - t0;
    if (ps != PNG_IO_OK) {
        snprintf(out->detail, sizeof out->detail, "%s%s%s", png_io_status_text(ps),
                 why[0] ? ": " : "", why);
        return from_png_status(ps);
    }

    /* As shown: an Exif orientation may have turned it a quarter. */
    out->source_width = img.width;
    out->source_height = img.height;
    preprocess_options opts = sm->preprocess;
    opts.read_faint = read_faint;
    preprocess_status pp = preprocess_to_mnist_with(&img, &opts, out->input, &out->info);
    image_free(&img);
    uint64_t t2 = mono_ns();
    out->preprocess_ns = t2 - t1;
    if (pp != PREPROCESS_OK) {
        snprintf(out->detail, sizeof out->detail, "%s", preprocess_status_text(pp));
        switch (pp) {
        case PREPROCESS_BLANK: return INFER_NO_INK;
        case PREPROCESS_FAINT: return INFER_FAINT_INK;
        case PREPROCESS_NO_MEMORY: return INFER_NO_MEMORY;
        default: return INFER_INTERNAL;
        }
    }

    out->digit = mlp_predict_with(&sm->weights, out->input, out->probabilities, scratch);
    out->forward_ns = mono_ns() - t2;
    if (out->digit < 0 || out->digit > 9) {
        snprintf(out->detail, sizeof out->detail, "model returned class %d", out->digit);
        return INFER_INTERNAL;
    }
    for (int i = 0; i < 10; i++) {
        if (!isfinite(out->probabilities[i])) {
            snprintf(out->detail, sizeof out->detail, "model produced a non-finite probability");
            return INFER_INTERNAL;
        }
    }
    out->confidence = out->probabilities[out->digit];
    return INFER_OK;
}
