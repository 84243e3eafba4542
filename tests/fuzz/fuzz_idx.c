/* fuzz_idx.c -- libFuzzer target: the IDX reader (MNIST's file format),
 * images and labels.
 *
 * Properties: a file that parses holds exactly the bytes its header
 * promises, with dimensions inside the reader's bounds, and every byte of
 * the payload is copied (read back here, so ASan sees any short copy).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    idx_images im;
    if (idx_parse_images(data, size, &im, err, sizeof err) == 0) {
        size_t n = (size_t)im.count * (size_t)im.rows * (size_t)im.cols;
        if (im.rows < 1 || im.cols < 1 || (unsigned)im.rows > IDX_MAX_SIDE ||
            (unsigned)im.cols > IDX_MAX_SIDE || (unsigned)im.count > IDX_MAX_ITEMS ||
            n + 16 != size || memcmp(im.pixels, data + 16, n) != 0)
            abort();
        idx_images_free(&im);
    } else if (err[0] == '\0') {
        abort();
    }

    err[0] = '\0';
    idx_labels lb;
    if (idx_parse_labels(data, size, &lb, err, sizeof err) == 0) {
        if ((size_t)lb.count + 8 != size || (unsigned)lb.count > IDX_MAX_ITEMS ||
            memcmp(lb.labels, data + 8, (size_t)lb.count) != 0)
            abort();
        idx_labels_free(&lb);
    } else if (err[0] == '\0') {
        abort();
    }
    return 0;
}
