/* variant_png.h -- the PNG layouts the variant styles write, and their encoder.
 *
 * The styles write eight PNG layouts between them (grey 8/16-bit,
 * grey+alpha, RGB 8/16-bit, Adam7, RGBA, 4-bit palette), so the set
 * doubles as a decoder workout. The PNGs are written here with libpng
 * directly because png_io's encoder deliberately only knows the three
 * 8-bit layouts the service itself produces. Part of "digits-trainer
 * variants" (variants.h); nothing here is for use outside the variant
 * modules, and libpng is this module's own business.
 */
#ifndef DIGITS_VARIANT_PNG_H
#define DIGITS_VARIANT_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "variant_ink.h"

typedef enum {
    LAYOUT_GRAY8,          /* grey, 8 bits */
    LAYOUT_GRAY16,         /* grey, 16 bits */
    LAYOUT_GRAY_ALPHA8,    /* grey and alpha, 8 bits each */
    LAYOUT_RGB8,           /* RGB, 8 bits a channel */
    LAYOUT_RGB8_ADAM7,     /* the same, Adam7-interlaced */
    LAYOUT_RGB16,          /* RGB, 16 bits a channel */
    LAYOUT_RGBA8,          /* RGBA, 8 bits a channel */
    LAYOUT_PALETTE4,       /* 4-bit indices into a palette of 16 greys */
} variant_layout;

/* Encodes the canvas c as a PNG of layout f into a malloc'd buffer the
 * caller frees (*png_out, *len_out). Each sample is snapped
 * (variant_snap), clamped to 0..1 and rounded to the layout's depth; grey
 * layouts and the palette take the pixel's luma (variant_luma), and alpha
 * is written only by LAYOUT_GRAY_ALPHA8 and LAYOUT_RGBA8 (the others drop it).
 * The same canvas and layout always give the same bytes. Returns 0, or -1
 * with a message in err and *png_out, *len_out untouched. */
int variant_encode_png(const canvas *c, variant_layout f, uint8_t **png_out, size_t *len_out,
                       char *err, size_t err_len);

#endif
