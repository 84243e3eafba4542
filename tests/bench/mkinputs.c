/* mkinputs.c -- writes the benchmark's inputs: a 28x28 and a 300x300 PNG of
 * a handwritten digit (dark ink on white paper, as a user would draw it),
 * taken from the MNIST test set when it is there, else a drawn stroke.
 *
 *   mkinputs OUTDIR [MNIST_DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"
#include "image.h"
#include "png_io.h"

static int write_png(const char *dir, const char *name, const image *img)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (png_write_file(path, img) != PNG_IO_OK) {
        fprintf(stderr, "mkinputs: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUTDIR [MNIST_DIR]\n", argv[0]);
        return 2;
    }
    uint8_t digit[28 * 28];
    int have = 0;
    if (argc > 2) {
        char path[4096], err[256];
        snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", argv[2]);
        idx_images im;
        if (idx_read_images(path, &im, NULL, err, sizeof err) == 0) {
            if (im.rows == 28 && im.cols == 28 && im.count > 0) {
                memcpy(digit, im.pixels, sizeof digit);   /* the first test digit, a 7 */
                have = 1;
            }
            idx_images_free(&im);
        }
    }
    if (!have) {
        memset(digit, 0, sizeof digit);
        for (int y = 6; y < 22; y++)
            for (int x = 12; x < 16; x++)
                digit[y * 28 + x] = 255;
    }

    image small;
    if (image_alloc(&small, 28, 28, 1) != 0)
        return 1;
    for (int i = 0; i < 28 * 28; i++)
        small.pixels[i] = (uint8_t)(255 - digit[i]);   /* ink dark, paper white */

    /* 300x300 RGB: the same digit scaled up (bilinear), like a phone photo
     * crop or a canvas export. */
    image big;
    if (image_alloc(&big, 300, 300, 3) != 0)
        return 1;
    for (int y = 0; y < 300; y++) {
        for (int x = 0; x < 300; x++) {
            float fx = (x + 0.5f) * 28 / 300 - 0.5f, fy = (y + 0.5f) * 28 / 300 - 0.5f;
            int x0 = fx < 0 ? 0 : (int)fx, y0 = fy < 0 ? 0 : (int)fy;
            int x1 = x0 < 27 ? x0 + 1 : 27, y1 = y0 < 27 ? y0 + 1 : 27;
            float ax = fx - x0, ay = fy - y0;
            if (ax < 0) ax = 0;
            if (ay < 0) ay = 0;
            float v = (1 - ay) * ((1 - ax) * small.pixels[y0 * 28 + x0] + ax * small.pixels[y0 * 28 + x1]) +
                      ay * ((1 - ax) * small.pixels[y1 * 28 + x0] + ax * small.pixels[y1 * 28 + x1]);
            for (int c = 0; c < 3; c++)
                big.pixels[(y * 300 + x) * 3 + c] = (uint8_t)(v + 0.5f);
        }
    }
    int rc = write_png(argv[1], "digit-28.png", &small) || write_png(argv[1], "digit-300.png", &big);
    image_free(&small);
    image_free(&big);
    return rc ? 1 : 0;
}
