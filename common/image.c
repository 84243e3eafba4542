/* image.c -- allocation helpers for the shared image type. */
#include "image.h"

#include <stdlib.h>
#include <string.h>

int image_alloc(image *img, int width, int height, int channels)
{
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0 || channels <= 0 || channels > 4)
        return -1;
    size_t n = (size_t)width * (size_t)height * (size_t)channels;
    img->pixels = calloc(n, 1);
    if (!img->pixels)
        return -1;
    img->width = width;
    img->height = height;
    img->channels = channels;
    return 0;
}

void image_free(image *img)
{
    free(img->pixels);
    img->pixels = NULL;
    img->width = img->height = img->channels = 0;
}
