/* idx.h -- reading MNIST's IDX files (images: magic 0x803, labels: 0x801).
 *
 * An IDX file is a big-endian header (magic, then one u32 per dimension)
 * followed by unsigned bytes. The reader checks the magic, that the
 * dimensions are sane and that the file holds exactly the bytes they imply.
 */
#ifndef DIGITS_IDX_H
#define DIGITS_IDX_H

#include <stddef.h>
#include <stdint.h>

#define IDX_MAX_ITEMS 10000000u
#define IDX_MAX_SIDE 1024u

typedef struct {
    int count, rows, cols;
    uint8_t *pixels;            /* count * rows * cols bytes */
} idx_images;

typedef struct {
    int count;
    uint8_t *labels;
} idx_labels;

/* Parse from memory; the result owns a copy of the payload. Return 0, or -1
 * with a message in err. */
int idx_parse_images(const uint8_t *data, size_t len, idx_images *out, char *err, size_t err_len);
int idx_parse_labels(const uint8_t *data, size_t len, idx_labels *out, char *err, size_t err_len);

/* Read a file; when sha256_out is not NULL it receives the file's SHA-256. */
int idx_read_images(const char *path, idx_images *out, uint8_t sha256_out[32], char *err,
                    size_t err_len);
int idx_read_labels(const char *path, idx_labels *out, uint8_t sha256_out[32], char *err,
                    size_t err_len);

void idx_images_free(idx_images *images);
void idx_labels_free(idx_labels *labels);

/* The four MNIST files of a directory, checked against each other. */
typedef struct {
    idx_images train_images, test_images;
    idx_labels train_labels, test_labels;
    /* SHA-256 over the four files' SHA-256 digests in the order train images,
     * train labels, test images, test labels: one fingerprint of the data
     * (loaded without the training files, their digests count as zeros). */
    char fingerprint[65];
} mnist_data;

/* Loads dir/{train,t10k}-{images-idx3,labels-idx1}-ubyte. Labels must be
 * 0..9 and counts must match. load_train = 0 skips the training files. */
int mnist_load(const char *dir, int load_train, mnist_data *out, char *err, size_t err_len);
void mnist_free(mnist_data *data);

/* Reads a whole file of at most max_bytes into a malloc'd buffer. */
int read_file_bounded(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                      char *err, size_t err_len);

#endif
