/* image.h -- the in-memory picture types shared by the PNG codec and the
 * preprocessing pipeline.
 *
 * Pixels are 8-bit, rows are tightly packed (stride == width * channels), and
 * the buffer is owned by the struct: release it with image_free().
 */
#ifndef DIGITS_IMAGE_H
#define DIGITS_IMAGE_H

#include <stdint.h>

typedef struct {
    int width;
    int height;
    int channels;   /* 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (straight, not premultiplied, alpha) */
    uint8_t *pixels;
} image;

/* Allocates a zeroed width x height x channels image. Returns 0, or -1 when
 * the size is not positive or the allocation fails. */
int image_alloc(image *img, int width, int height, int channels);
void image_free(image *img);

#endif
