/* variant_styles.h -- the styles "digits-trainer variants" redraws digits in.
 *
 * Each style turns a 28x28 MNIST digit into a picture such as users send:
 * ink-on-paper (a scan of a pencil or ballpoint digit), thin-pen (a
 * fine-liner), thick-marker (a felt marker), off-centre (a small digit
 * somewhere on a big page), canvas-rgba (an HTML canvas export: ink in
 * alpha only), coloured-ink (blue or red ballpoint on cream or off-white),
 * paper-photo (a phone photo of a note: ruled lines, uneven light, noise),
 * chalkboard (light chalk on a dark board), notebook-page (a small digit on
 * ruled notebook paper) and photo-edges (a photo or scan showing the desk,
 * the scanner's lid or the next character) -- and picks the PNG layout it
 * is saved in (variant_png.h), drawing on the ink maps and canvases of
 * variant_ink.h. variants.h includes this header: these four functions are
 * part of its public interface.
 */
#ifndef DIGITS_VARIANT_STYLES_H
#define DIGITS_VARIANT_STYLES_H

#include <stddef.h>
#include <stdint.h>

/* The styles, in a fixed order; names are the source column of labels.csv.
 * variants_style_name returns NULL for an index outside 0..count-1. */
int variants_style_count(void);
const char *variants_style_name(int style);
/* The style's index, or -1. */
int variants_style_find(const char *name);

/* Renders one 28x28 MNIST digit (0 = background, 255 = ink) in a style as a
 * PNG in a malloc'd buffer the caller frees. seed drives every random choice
 * (size, position, colours, lighting, noise). Returns 0, or -1 with a
 * message in err (no such style, no digit, a digit with no ink, out of
 * memory) and *png NULL, *png_len 0. */
int variants_render_png(int style, const uint8_t digit[784], uint64_t seed, uint8_t **png,
                        size_t *png_len, char *err, size_t err_len);

#endif
