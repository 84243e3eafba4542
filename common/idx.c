/* idx.c -- the IDX reader and the MNIST loader built on it. */
#include "idx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define IDX_MAX_FILE_BYTES ((size_t)1 << 31)

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int read_file_bounded(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                      char *err, size_t err_len)
{
    *data = NULL;
    *len = 0;
    /* Non-blocking so that a FIFO named by mistake is refused below rather
     * than waited on for ever; a regular file reads the same either way. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, err_len, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > max_bytes) {
        snprintf(err, err_len, "%s: size %jd is outside 0..%zu bytes", path, (intmax_t)st.st_size,
                 max_bytes);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size > 0 ? size : 1);
    if (!buf) {
        snprintf(err, err_len, "%s: out of memory for %zu bytes", path, size);
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, err_len, "%s: %s", path, n < 0 ? strerror(errno) : "short read");
            free(buf);
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    *data = buf;
    *len = size;
    return 0;
}

int idx_parse_images(const uint8_t *data, size_t len, idx_images *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    if (len < 16) {
        snprintf(err, err_len, "IDX images: %zu bytes is shorter than the 16-byte header", len);
        return -1;
    }
    uint32_t magic = read_be32(data);
    if (magic != IDX_IMAGES_MAGIC) {
        snprintf(err, err_len, "IDX images: wrong magic 0x%08x (want 0x%08x)", magic,
                 IDX_IMAGES_MAGIC);
        return -1;
    }
    uint32_t count = read_be32(data + 4), rows = read_be32(data + 8), cols = read_be32(data + 12);
    if (count > IDX_MAX_ITEMS || rows == 0 || cols == 0 || rows > IDX_MAX_SIDE ||
        cols > IDX_MAX_SIDE) {
        snprintf(err, err_len, "IDX images: implausible dimensions %u x %u x %u", count, rows,
                 cols);
        return -1;
    }
    uint64_t payload = (uint64_t)count * rows * cols;
    if (payload != len - 16) {
        snprintf(err, err_len, "IDX images: header promises %llu pixel bytes, file has %zu",
                 (unsigned long long)payload, len - 16);
        return -1;
    }
    out->pixels = malloc(payload > 0 ? (size_t)payload : 1);
    if (!out->pixels) {
        snprintf(err, err_len, "IDX images: out of memory");
        return -1;
    }
    memcpy(out->pixels, data + 16, (size_t)payload);
    out->count = (int)count;
    out->rows = (int)rows;
    out->cols = (int)cols;
    return 0;
}

int idx_parse_labels(const uint8_t *data, size_t len, idx_labels *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    if (len < 8) {
        snprintf(err, err_len, "IDX labels: %zu bytes is shorter than the 8-byte header", len);
        return -1;
    }
    uint32_t magic = read_be32(data);
    if (magic != IDX_LABELS_MAGIC) {
        snprintf(err, err_len, "IDX labels: wrong magic 0x%08x (want 0x%08x)", magic,
                 IDX_LABELS_MAGIC);
        return -1;
    }
    uint32_t count = read_be32(data + 4);
    if (count > IDX_MAX_ITEMS) {
        snprintf(err, err_len, "IDX labels: implausible count %u", count);
        return -1;
    }
    if ((uint64_t)count != len - 8) {
        snprintf(err, err_len, "IDX labels: header promises %u labels, file has %zu", count,
                 len - 8);
        return -1;
    }
    out->labels = malloc(count > 0 ? count : 1);
    if (!out->labels) {
        snprintf(err, err_len, "IDX labels: out of memory");
        return -1;
    }
    memcpy(out->labels, data + 8, count);
    out->count = (int)count;
    return 0;
}

/* Reads a file, hashes it, and hands the bytes to a parser. */
static int read_and_parse(const char *path, uint8_t sha256_out[32], char *err, size_t err_len,
                          int (*parse)(const uint8_t *, size_t, void *, char *, size_t),
                          void *out)
{
    uint8_t *data;
    size_t len;
    if (read_file_bounded(path, IDX_MAX_FILE_BYTES, &data, &len, err, err_len) != 0)
        return -1;
    if (sha256_out)
        sha256(data, len, sha256_out);
    char inner[256];
    int rc = parse(data, len, out, inner, sizeof inner);
    if (rc != 0)
        snprintf(err, err_len, "%s: %s", path, inner);
    free(data);
    return rc;
}

static int parse_images_void(const uint8_t *d, size_t n, void *out, char *e, size_t el)
{
    return idx_parse_images(d, n, out, e, el);
}

static int parse_labels_void(const uint8_t *d, size_t n, void *out, char *e, size_t el)
{
    return idx_parse_labels(d, n, out, e, el);
}

int idx_read_images(const char *path, idx_images *out, uint8_t sha256_out[32], char *err,
                    size_t err_len)
{
    memset(out, 0, sizeof *out);
    return read_and_parse(path, sha256_out, err, err_len, parse_images_void, out);
}

int idx_read_labels(const char *path, idx_labels *out, uint8_t sha256_out[32], char *err,
                    size_t err_len)
{
    memset(out, 0, sizeof *out);
    return read_and_parse(path, sha256_out, err, err_len, parse_labels_void, out);
}

void idx_images_free(idx_images *images)
{
    free(images->pixels);
    memset(images, 0, sizeof *images);
}

void idx_labels_free(idx_labels *labels)
{
    free(labels->labels);
    memset(labels, 0, sizeof *labels);
}

static int check_split(const char *dir, const char *name, const idx_images *img,
                       const idx_labels *lab, char *err, size_t err_len)
{
    if (img->count != lab->count) {
        snprintf(err, err_len, "%s: %s has %d images but %d labels", dir, name, img->count,
                 lab->count);
        return -1;
    }
    if (img->rows != 28 || img->cols != 28) {
        snprintf(err, err_len, "%s: %s images are %dx%d, MNIST's are 28x28", dir, name,
                 img->rows, img->cols);
        return -1;
    }
    for (int i = 0; i < lab->count; i++) {
        if (lab->labels[i] > 9) {
            snprintf(err, err_len, "%s: %s label %d is %u, not a digit", dir, name, i,
                     lab->labels[i]);
            return -1;
        }
    }
    return 0;
}

int mnist_load(const char *dir, int load_train, mnist_data *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    uint8_t digests[4][32] = {{0}};
    char path[4096];
    /* A directory name too long for path would read a truncated name,
     * perhaps another file's. */
    if (strlen(dir) + sizeof "/train-images-idx3-ubyte" > sizeof path) {
        snprintf(err, err_len, "%.64s...: directory name too long", dir);
        return -1;
    }
    int ok = 1;
    if (load_train) {
        snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
        ok = ok && idx_read_images(path, &out->train_images, digests[0], err, err_len) == 0;
        snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
        ok = ok && idx_read_labels(path, &out->train_labels, digests[1], err, err_len) == 0;
        ok = ok && check_split(dir, "training set", &out->train_images, &out->train_labels, err,
                               err_len) == 0;
    }
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    ok = ok && idx_read_images(path, &out->test_images, digests[2], err, err_len) == 0;
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dir);
    ok = ok && idx_read_labels(path, &out->test_labels, digests[3], err, err_len) == 0;
    ok = ok && check_split(dir, "test set", &out->test_images, &out->test_labels, err,
                           err_len) == 0;
    if (!ok) {
        mnist_free(out);
        return -1;
    }
    uint8_t all[32];
    sha256(digests, sizeof digests, all);
    sha256_hex(all, out->fingerprint);
    return 0;
}

void mnist_free(mnist_data *data)
{
    idx_images_free(&data->train_images);
    idx_images_free(&data->test_images);
    idx_labels_free(&data->train_labels);
    idx_labels_free(&data->test_labels);
}
