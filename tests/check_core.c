/* check_core.c -- unit tests for the foundation: IDX reading, the model file,
 * replacing files atomically, the forward pass, backpropagation, the
 * optimisers, and a short real training run on MNIST.
 */
#define _DEFAULT_SOURCE   /* syscall(): the getrandom() below passes through to the kernel */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atomic_file.h"
#include "atomic_temp_files.h"
#include "heap_policy.h"
#include "idx.h"
#include "kernel_int8dot.h"
#include "mlp.h"
#include "model.h"
#include "rng.h"
#include "sha256.h"
#include "../trainer/augment.h"
#include "../trainer/pool.h"
#include "../trainer/train.h"

static const char *data_dir(void)
{
    const char *d = getenv("DIGITS_DATA");
    return d ? d : "data/mnist";
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* ---- sha256 ---- */

START_TEST(test_sha256_known_vectors)
{
    uint8_t d[32];
    char hex[65];
    sha256("", 0, d);
    sha256_hex(d, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256("abc", 3, d);
    sha256_hex(d, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256(two_blocks, strlen(two_blocks), d);
    sha256_hex(d, hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

/* ---- IDX ---- */

static uint8_t *make_idx_images(int count, int rows, int cols, size_t *len)
{
    *len = 16 + (size_t)count * rows * cols;
    uint8_t *buf = malloc(*len);
    put_be32(buf, 0x803);
    put_be32(buf + 4, (uint32_t)count);
    put_be32(buf + 8, (uint32_t)rows);
    put_be32(buf + 12, (uint32_t)cols);
    for (size_t i = 16; i < *len; i++)
        buf[i] = (uint8_t)(i * 7);
    return buf;
}

START_TEST(test_idx_good_images_and_labels)
{
    size_t len;
    uint8_t *buf = make_idx_images(3, 28, 28, &len);
    idx_images img;
    char err[256];
    ck_assert_int_eq(idx_parse_images(buf, len, &img, err, sizeof err), 0);
    ck_assert_int_eq(img.count, 3);
    ck_assert_int_eq(img.rows, 28);
    ck_assert_int_eq(img.pixels[5], buf[21]);
    idx_images_free(&img);
    free(buf);

    uint8_t labels[8 + 4] = {0, 0, 8, 1, 0, 0, 0, 4, 7, 2, 1, 0};
    idx_labels lab;
    ck_assert_int_eq(idx_parse_labels(labels, sizeof labels, &lab, err, sizeof err), 0);
    ck_assert_int_eq(lab.count, 4);
    ck_assert_int_eq(lab.labels[0], 7);
    idx_labels_free(&lab);
}
END_TEST

START_TEST(test_idx_rejects_bad_files)
{
    size_t len;
    uint8_t *buf = make_idx_images(3, 28, 28, &len);
    idx_images img;
    char err[256];
    /* truncated: every cut point must fail cleanly */
    for (size_t cut = 0; cut < len; cut += 97)
        ck_assert_int_eq(idx_parse_images(buf, cut, &img, err, sizeof err), -1);
    ck_assert_int_eq(idx_parse_images(buf, len - 1, &img, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "promises"));
    /* wrong magic */
    buf[3] = 0x01;
    ck_assert_int_eq(idx_parse_images(buf, len, &img, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "magic"));
    buf[3] = 0x03;
    /* wrong count: more images than bytes */
    put_be32(buf + 4, 4);
    ck_assert_int_eq(idx_parse_images(buf, len, &img, err, sizeof err), -1);
    /* absurd count whose product would overflow 32 bits */
    put_be32(buf + 4, 0xffffffffu);
    put_be32(buf + 8, 0xffffffffu);
    ck_assert_int_eq(idx_parse_images(buf, len, &img, err, sizeof err), -1);
    free(buf);

    /* one byte past what the header promises */
    buf = make_idx_images(3, 28, 28, &len);
    uint8_t *longer = malloc(len + 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, buf, len);
    longer[len] = 0;
    ck_assert_int_eq(idx_parse_images(longer, len + 1, &img, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "promises"));
    free(longer);
    free(buf);

    /* labels: a good file, then each fault alone */
    uint8_t labels[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 2};
    idx_labels lab;
    ck_assert_int_eq(idx_parse_labels(labels, sizeof labels, &lab, err, sizeof err), 0);
    idx_labels_free(&lab);
    labels[7] = 3;   /* more labels than bytes */
    ck_assert_int_eq(idx_parse_labels(labels, sizeof labels, &lab, err, sizeof err), -1);
    labels[7] = 2;
    labels[3] = 3;   /* an images file's magic */
    ck_assert_int_eq(idx_parse_labels(labels, sizeof labels, &lab, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "magic"));
    ck_assert_int_eq(idx_read_labels("/nonexistent/labels", &lab, NULL, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/labels"));
}
END_TEST


START_TEST(test_mnist_files_verified)
{
    mnist_data d;
    char err[512];
    if (mnist_load(data_dir(), 1, &d, err, sizeof err) != 0)
        ck_abort_msg("MNIST missing (run make data): %s", err);
    ck_assert_int_eq(d.train_images.count, 60000);
    ck_assert_int_eq(d.test_images.count, 10000);
    ck_assert_int_eq(d.test_labels.labels[0], 7);  /* the famous first test digit */
    ck_assert_int_eq(strlen(d.fingerprint), 64);
    mnist_free(&d);
}
END_TEST

static const char *temp_path(const char *name, char *path, size_t len)
{
    snprintf(path, len, "/tmp/digits-check-core-%d-%s", (int)getpid(), name);
    return path;
}

/* Writes a 3-digit MNIST test split of rows x cols images whose last label
 * is last_label into dir (created). */
static void write_test_split(const char *dir, int rows, int cols, uint8_t last_label)
{
    ck_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);
    char path[512];
    size_t len;
    uint8_t *img = make_idx_images(3, rows, cols, &len);
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(img, 1, len, f), len);
    fclose(f);
    free(img);
    uint8_t lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 7, 2, last_label};
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dir);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(lab, 1, sizeof lab, f), sizeof lab);
    fclose(f);
}

/* mnist_load refuses what would make the trainer index past its ten
 * classes or read a picture in the wrong shape. */
START_TEST(test_mnist_split_checks)
{
    char dir[256], err[512];
    temp_path("split", dir, sizeof dir);
    mnist_data d;
    write_test_split(dir, 28, 28, 9);
    ck_assert_msg(mnist_load(dir, 0, &d, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(d.test_images.count, 3);
    mnist_free(&d);
    write_test_split(dir, 28, 28, 10);
    ck_assert_int_eq(mnist_load(dir, 0, &d, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "not a digit") != NULL, "%s", err);
    write_test_split(dir, 28, 27, 9);
    ck_assert_int_eq(mnist_load(dir, 0, &d, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "28x28") != NULL, "%s", err);
    write_test_split(dir, 27, 28, 9);
    ck_assert_int_eq(mnist_load(dir, 0, &d, err, sizeof err), -1);
    char path[512];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dir);
    unlink(path);
    ck_assert_int_eq(rmdir(dir), 0);

    /* A directory name that would not fit the path is refused as such,
     * never read as a truncated name. */
    char *long_dir = malloc(4090);
    ck_assert_ptr_nonnull(long_dir);
    memset(long_dir, 'd', 4089);
    long_dir[4089] = '\0';
    ck_assert_int_eq(mnist_load(long_dir, 0, &d, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "directory name too long") != NULL, "%s", err);
    free(long_dir);
}
END_TEST

/* ---- model file ---- */

static void make_small_model(model *m)
{
    int sizes[] = {784, 16, 10};
    char err[256];
    ck_assert_int_eq(model_init(m, sizes, 3, err, sizeof err), 0);
    rng r;
    rng_seed(&r, 42);
    init_weights_he(m, &r);
    for (int i = 0; i < 10; i++)
        m->b[1][i] = 0.01f * (float)i;
    model_set_meta(m, "id", "test-model");
    model_set_meta(m, "test_accuracy", "0.5");
}


static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *data;
    char err[256];
    ck_assert_int_eq(read_file_bounded(path, 1 << 28, &data, len, err, sizeof err), 0);
    return data;
}

START_TEST(test_model_round_trip)
{
    model m, back;
    make_small_model(&m);
    char err[512];
    char path[256];
    temp_path("round.bin", path, sizeof path);
    ck_assert_int_eq(model_save(&m, path, err, sizeof err), 0);
    ck_assert_int_eq(atomic_temp_files_beside(path), 0);   /* renamed */
    ck_assert_msg(model_load(&back, path, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(back.n_layers, 2);
    ck_assert_int_eq(back.sizes[1], 16);
    ck_assert_uint_eq(back.n_params, m.n_params);
    ck_assert_int_eq(memcmp(back.params, m.params, m.n_params * sizeof(float)), 0);
    ck_assert_str_eq(model_get_meta(&back, "id"), "test-model");
    ck_assert_str_eq(model_get_meta(&back, "test_accuracy"), "0.5");
    ck_assert_float_eq(back.input_scale, 1.0f / 255.0f);
    char arch[64];
    model_arch_string(&back, arch, sizeof arch);
    ck_assert_str_eq(arch, "784-16-10");
    model_free(&back);

    /* Weights no loader would accept (a diverged run) are not written. */
    unlink(path);
    size_t bad = 0;
    ck_assert_int_eq(model_params_usable(&m, &bad), 1);
    m.params[3] = NAN;
    ck_assert_int_eq(model_params_usable(&m, &bad), 0);
    ck_assert_uint_eq(bad, 3);
    ck_assert_int_eq(model_save(&m, path, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "parameter 3"));
    ck_assert_int_eq(access(path, F_OK), -1);
    m.params[3] = 2e30f;
    ck_assert_int_eq(model_save(&m, path, err, sizeof err), -1);
    model_free(&m);
}
END_TEST

/* make_small_model's model saved at the temporary path for name; returns
 * the file's bytes (malloc'd) and their count in *len. */
static uint8_t *small_model_file(model *m, const char *name, char *path, size_t path_len,
                                 size_t *len)
{
    char err[512];
    make_small_model(m);
    temp_path(name, path, path_len);
    ck_assert_msg(model_save(m, path, err, sizeof err) == 0, "%s", err);
    return slurp(path, len);
}

static void write_bytes(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* model_load decodes the parameters into the buffer the file was read into;
 * a file that fails half-way through them must still be refused cleanly
 * (the sanitizer build checks that nothing leaks or is freed twice). */
START_TEST(test_model_load_refuses_bad_parameters)
{
    model m, back;
    char err[512], path[256];
    size_t len;
    uint8_t *data = small_model_file(&m, "halfway.bin", path, sizeof path, &len);
    /* parameter k lies (n_params - k) * 4 bytes before the 32-byte checksum */
    size_t k = m.n_params / 2, at = len - 32 - (m.n_params - k) * 4;
    float nan = NAN;
    memcpy(data + at, &nan, 4);
    sha256(data, len - 32, data + len - 32);
    write_bytes(path, data, len);
    ck_assert_int_eq(model_load(&back, path, err, sizeof err), -1);
    char want[64];
    snprintf(want, sizeof want, "parameter %zu is not a finite number", k);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    ck_assert_ptr_null(back.params);
    /* and a flipped bit, through the file */
    data[len / 3] ^= 4;
    write_bytes(path, data, len);
    ck_assert_int_eq(model_load(&back, path, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "checksum"));
    free(data);
    model_free(&m);
    unlink(path);
}
END_TEST

START_TEST(test_model_rejects_damage)
{
    model m, back;
    make_small_model(&m);
    char err[512];
    char path[256];
    temp_path("damage.bin", path, sizeof path);
    ck_assert_int_eq(model_save(&m, path, err, sizeof err), 0);
    size_t len;
    uint8_t *data = slurp(path, &len);

    /* a flipped bit anywhere is caught */
    for (size_t pos = 0; pos < len; pos += len / 61 + 1) {
        data[pos] ^= 0x10;
        ck_assert_int_eq(model_parse(&back, data, len, err, sizeof err), -1);
        data[pos] ^= 0x10;
    }
    data[len / 2] ^= 1;
    ck_assert_int_eq(model_parse(&back, data, len, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "checksum"));
    data[len / 2] ^= 1;
    /* every truncation is caught */
    for (size_t cut = 0; cut < len; cut += len / 53 + 1)
        ck_assert_int_eq(model_parse(&back, data, cut, err, sizeof err), -1);
    /* wrong version says so */
    data[8] = 99;
    ck_assert_int_eq(model_parse(&back, data, len, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "version 99"));
    data[8] = 1;
    /* wrong magic */
    data[0] = 'X';
    ck_assert_int_eq(model_parse(&back, data, len, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "magic"));
    data[0] = 'D';
    ck_assert_int_eq(model_parse(&back, data, len, err, sizeof err), 0);
    model_free(&back);
    /* every byte of the stored digest counts, not a prefix of it */
    for (size_t pos = len - 32; pos < len; pos++) {
        data[pos] ^= 0x01;
        ck_assert_int_eq(model_parse(&back, data, len, err, sizeof err), -1);
        ck_assert_msg(strstr(err, "checksum") != NULL, "byte %zu: %s", pos, err);
        data[pos] ^= 0x01;
    }
    /* bytes between the parameters and the digest are refused even when
     * the digest covers them (a file written by something else) */
    uint8_t *longer = malloc(len + 4);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, data, len - 32);
    memset(longer + len - 32, 0, 4);
    sha256(longer, len - 32 + 4, longer + len - 32 + 4);
    ck_assert_int_eq(model_parse(&back, longer, len + 4, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "bytes of parameters") != NULL, "%s", err);
    free(longer);
    free(data);
    model_free(&m);
    unlink(path);
    ck_assert_int_eq(model_load(&back, "/nonexistent/model.bin", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/model.bin"));
}
END_TEST

/* A refused file leaves the buffer model_parse_in_place was given as it
 * was: the caller still owns it, and may report from it or try again. */
START_TEST(test_model_in_place_failure_keeps_buffer)
{
    model m, back;
    char err[512], path[256];
    size_t len;
    uint8_t *data = small_model_file(&m, "in-place.bin", path, sizeof path, &len);
    /* the last parameter, so that every other one would be decoded first */
    float huge = 1e31f;
    memcpy(data + len - 32 - 4, &huge, 4);
    sha256(data, len - 32, data + len - 32);
    uint8_t *copy = malloc(len);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, data, len);
    ck_assert_int_eq(model_parse_in_place(&back, copy, len, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "is not a finite number") != NULL, "%s", err);
    ck_assert_msg(memcmp(copy, data, len) == 0, "a refused parse changed the buffer");
    free(copy);
    free(data);
    model_free(&m);
    unlink(path);
}
END_TEST

/* The header of a model file, little-endian, as model_save writes it (see
 * model.h), with no metadata; then the parameter count and n_floats
 * parameters of 0.5, and the checksum. */
typedef struct {
    uint8_t bytes[512];
    size_t len;
} model_bytes;

static void put_le32(model_bytes *mb, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        mb->bytes[mb->len++] = (uint8_t)(v >> (8 * i));
}

static void put_lef32(model_bytes *mb, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_le32(mb, u);
}

static void build_model_bytes(model_bytes *mb, const uint32_t *sizes, int n_sizes,
                              uint32_t activation, uint32_t width, uint32_t height, float scale,
                              uint64_t n_params, int n_floats)
{
    mb->len = 0;
    memcpy(mb->bytes, MODEL_MAGIC, 8);
    mb->len = 8;
    put_le32(mb, MODEL_FORMAT_VERSION);
    put_le32(mb, (uint32_t)n_sizes - 1);
    for (int i = 0; i < n_sizes; i++)
        put_le32(mb, sizes[i]);
    put_le32(mb, activation);
    put_le32(mb, width);
    put_le32(mb, height);
    put_lef32(mb, scale);
    put_lef32(mb, 0.0f);
    put_le32(mb, 0);   /* metadata entries */
    put_le32(mb, (uint32_t)n_params);
    put_le32(mb, (uint32_t)(n_params >> 32));
    for (int i = 0; i < n_floats; i++)
        put_lef32(mb, 0.5f);
    sha256(mb->bytes, mb->len, mb->bytes + mb->len);
    mb->len += 32;
}

static void expect_refused(const model_bytes *mb, const char *want)
{
    model m;
    char err[512] = "";
    ck_assert_int_eq(model_parse(&m, mb->bytes, mb->len, err, sizeof err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "want '%s', got '%s'", want, err);
    ck_assert_ptr_null(m.params);
}

/* Each field after the sizes is checked, with a message that names it and
 * its value; a 2x2 picture into a 4-3-2 network is the good case. */
START_TEST(test_model_header_fields_named)
{
    const uint32_t good[] = {4, 3, 2}, wide[] = {4, 100000, 2}, empty[] = {4, 0, 2};
    model_bytes mb;
    model m;
    char err[512];
    build_model_bytes(&mb, good, 3, MODEL_ACT_RELU, 2, 2, 1.0f / 255, 23, 23);
    ck_assert_msg(model_parse(&m, mb.bytes, mb.len, err, sizeof err) == 0, "%s", err);
    model_free(&m);
    build_model_bytes(&mb, wide, 3, MODEL_ACT_RELU, 2, 2, 1.0f / 255, 23, 23);
    expect_refused(&mb, "layer 1 has size 100000, outside 1..");
    build_model_bytes(&mb, empty, 3, MODEL_ACT_RELU, 2, 2, 1.0f / 255, 23, 23);
    expect_refused(&mb, "layer 1 has size 0, outside 1..");
    build_model_bytes(&mb, good, 3, 2, 2, 2, 1.0f / 255, 23, 23);
    expect_refused(&mb, "unknown activation 2");
    build_model_bytes(&mb, good, 3, MODEL_ACT_RELU, 3, 2, 1.0f / 255, 23, 23);
    expect_refused(&mb, "input 3x2 does not match the 4 inputs");
    build_model_bytes(&mb, good, 3, MODEL_ACT_RELU, 2, 2, 0.0f, 23, 23);
    expect_refused(&mb, "implausible input normalisation scale 0");
    /* the offset follows the scale; a good scale with an absurd offset */
    build_model_bytes(&mb, good, 3, MODEL_ACT_RELU, 2, 2, 1.0f / 255, 23, 23);
    size_t offset_at = 8 + 4 + 4 + 4 * 3 + 4 + 4 + 4 + 4;
    float absurd = 1e7f;
    memcpy(mb.bytes + offset_at, &absurd, 4);   /* the format is little-endian, as is x86 */
    sha256(mb.bytes, mb.len - 32, mb.bytes + mb.len - 32);
    expect_refused(&mb, "implausible input normalisation scale 0.00392157 offset 1e+07");
    build_model_bytes(&mb, good, 3, MODEL_ACT_RELU, 2, 2, 1.0f / 255, 7, 23);
    expect_refused(&mb, "file holds 7 parameters but architecture needs 23");
}
END_TEST

/* A file of a few dozen bytes that claims 64M parameters is refused for
 * what it lacks, without first allocating them: with the address space
 * bounded (as a container's memory limit would bound it), the refusal must
 * still name the missing bytes, not run out of memory. The bound is set in
 * the forked test only, and not under ASan, which reserves terabytes of
 * shadow memory. */
START_TEST(test_model_short_file_allocates_nothing)
{
    const uint32_t sizes[] = {784, 8192, 7000, 10};   /* 63.8M parameters */
    model_bytes mb;
    build_model_bytes(&mb, sizes, 4, MODEL_ACT_RELU, 28, 28, 1.0f / 255,
                      784ull * 8192 + 8192 + 8192ull * 7000 + 7000 + 7000ull * 10 + 10, 0);
    const char *fork_mode = getenv("CK_FORK");
    int bounded = !(fork_mode && strcmp(fork_mode, "no") == 0);
#if defined(__SANITIZE_ADDRESS__)
    bounded = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    bounded = 0;
#endif
#endif
    if (bounded) {
        /* what the process maps now, plus 64 MB: far less than 255 MB */
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fscanf(f, "%ld", &pages), 1);
        fclose(f);
        rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)64 << 20);
        struct rlimit rl = {cap, cap};
        ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
    }
    expect_refused(&mb, "0 bytes of parameters");
}
END_TEST

/* Saves a small model with metadata key = value, changes the byte at
 * offset into the first occurrence of find in the file to byte, puts the
 * checksum right again, and requires model_parse to refuse the file with
 * an error containing want: a file model_save never writes, which only its
 * contents can give away. */
static void expect_patched_metadata_refused(const char *key, const char *value, const char *find,
                                            size_t offset, uint8_t byte, const char *want)
{
    model m, back;
    char err[512], path[256];
    make_small_model(&m);
    model_set_meta(&m, key, value);
    temp_path("patched.bin", path, sizeof path);
    ck_assert_msg(model_save(&m, path, err, sizeof err) == 0, "%s", err);
    size_t len, n = strlen(find);
    uint8_t *data = slurp(path, &len);
    size_t at = 0;
    while (at + n <= len && memcmp(data + at, find, n) != 0)
        at++;
    ck_assert_uint_le(at + n, len);
    data[at + offset] = byte;
    sha256(data, len - 32, data + len - 32);
    ck_assert_int_eq(model_parse(&back, data, len, err, sizeof err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "want '%s', got '%s'", want, err);
    free(data);
    model_free(&m);
    unlink(path);
}

/* A key named twice is refused: which value the file means is a guess. */
START_TEST(test_model_duplicate_metadata_key)
{
    /* "ie" becomes a second "id" */
    expect_patched_metadata_refused("ie", "second", "ie", 1, 'd',
                                    "metadata key 'id' appears twice");
}
END_TEST

/* A value with a NUL inside would read back cut short: refused, even with
 * a checksum that matches. */
START_TEST(test_model_metadata_value_with_nul)
{
    expect_patched_metadata_refused("note", "beforeXafter", "beforeXafter", 6, 0,
                                    "contains a NUL byte");
}
END_TEST

/* model_save writes nothing that model_load would refuse. */
START_TEST(test_model_save_refuses_what_load_would)
{
    int sizes[] = {4, 3, 2};
    model m, back;
    char err[512], path[256];
    temp_path("unloadable.bin", path, sizeof path);
    ck_assert_int_eq(model_init(&m, sizes, 3, err, sizeof err), 0);
    /* model_init's 28x28 picture does not feed 4 inputs */
    ck_assert_int_eq(model_save(&m, path, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "input 28x28 does not match the 4 inputs") != NULL, "%s", err);
    ck_assert_int_eq(access(path, F_OK), -1);
    m.input_width = 2;
    m.input_height = 2;
    m.input_scale = 0.0f;
    ck_assert_int_eq(model_save(&m, path, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "implausible input normalisation") != NULL, "%s", err);
    m.input_scale = 1.0f;
    ck_assert_msg(model_save(&m, path, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(model_load(&back, path, err, sizeof err) == 0, "%s", err);
    model_free(&back);
    /* and the architecture string keeps to an empty buffer */
    char none[1] = {'x'};
    model_arch_string(&m, none, 0);
    ck_assert_int_eq(none[0], 'x');
    model_free(&m);
    unlink(path);
}
END_TEST

/* A hostile file with a valid checksum but absurd fields must be refused
 * before anything large is allocated. */
START_TEST(test_model_rejects_absurd_sizes_with_valid_checksum)
{
    uint8_t buf[256];
    memset(buf, 0, sizeof buf);
    memcpy(buf, MODEL_MAGIC, 8);
    buf[8] = 1;                       /* version */
    buf[12] = 3;                      /* 3 layers */
    uint32_t sizes[4] = {784, 8000, 8000, 10};
    for (int i = 0; i < 4; i++)
        memcpy(buf + 16 + 4 * i, &sizes[i], 4);   /* little-endian host */
    size_t len = 100;
    sha256(buf, len - 32, buf + len - 32);
    model m;
    char err[256];
    ck_assert_int_eq(model_parse(&m, buf, len, err, sizeof err), -1);
    /* 784*8000 + 8000*8000 + ... > MODEL_MAX_PARAMS? No: 70M > 64M, refused */
    ck_assert_ptr_nonnull(strstr(err, "parameters"));

    buf[12] = 200;                    /* absurd layer count */
    sha256(buf, len - 32, buf + len - 32);
    ck_assert_int_eq(model_parse(&m, buf, len, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "layer count"));
}
END_TEST

START_TEST(test_parse_arch)
{
    int s[9];
    ck_assert_int_eq(model_parse_arch("784-128-10", s, 9), 3);
    ck_assert_int_eq(s[1], 128);
    ck_assert_int_eq(model_parse_arch("784-1000-1000-10", s, 9), 4);
    ck_assert_int_eq(model_parse_arch("784", s, 9), -1);
    ck_assert_int_eq(model_parse_arch("784--10", s, 9), -1);
    ck_assert_int_eq(model_parse_arch("784-x-10", s, 9), -1);
    ck_assert_int_eq(model_parse_arch("784-0-10", s, 9), -1);
    ck_assert_int_eq(model_parse_arch("784-99999999-10", s, 9), -1);
    /* only digits and single dashes between them */
    ck_assert_int_eq(model_parse_arch("784-8-10-", s, 9), -1);
    ck_assert_int_eq(model_parse_arch(" 784-8-10", s, 9), -1);
    ck_assert_int_eq(model_parse_arch("784-+8-10", s, 9), -1);
    ck_assert_int_eq(model_parse_arch("784- 8-10", s, 9), -1);
}
END_TEST

/* ---- forward pass ---- */

START_TEST(test_forward_hand_computed)
{
    /* 4 inputs -> 2 ReLU -> 2 softmax, small enough to do by hand. */
    int sizes[] = {4, 2, 2};
    model m;
    char err[256];
    ck_assert_int_eq(model_init(&m, sizes, 3, err, sizeof err), 0);
    m.input_width = 2; m.input_height = 2;
    m.input_scale = 1.0f; m.input_offset = 0.0f;
    /* W0 rows = inputs: h0 = x0 - x1 + 0.5, h1 = 2 x2 + x3 - 1 */
    float W0[8] = {1, 0, -1, 0, 0, 2, 0, 1};
    float b0[2] = {0.5f, -1.0f};
    float W1[4] = {1, -1, 2, 1};   /* z0 = h0 + 2 h1, z1 = -h0 + h1 */
    float b1[2] = {0.0f, 0.25f};
    memcpy(m.W[0], W0, sizeof W0); memcpy(m.b[0], b0, sizeof b0);
    memcpy(m.W[1], W1, sizeof W1); memcpy(m.b[1], b1, sizeof b1);
    uint8_t x[4] = {3, 1, 2, 0};   /* h = relu(2.5, 3) */
    float probs[2];
    float *scratch = malloc(mlp_scratch_floats(&m) * sizeof(float));
    int digit = mlp_predict(&m, x, probs, scratch);
    double z0 = 2.5 + 6.0, z1 = -2.5 + 3.0 + 0.25;
    double p0 = 1.0 / (1.0 + exp(z1 - z0));
    ck_assert_int_eq(digit, 0);
    ck_assert_double_eq_tol(probs[0], p0, 1e-6);
    ck_assert_double_eq_tol(probs[0] + probs[1], 1.0, 1e-6);
    /* a negative pre-activation is cut by the ReLU: h0 = relu(0 - 3 + 0.5) = 0 */
    uint8_t y[4] = {0, 3, 1, 1};   /* h = (0, 2) */
    mlp_predict(&m, y, probs, scratch);
    z0 = 4.0; z1 = 2.25;
    ck_assert_double_eq_tol(probs[0], 1.0 / (1.0 + exp(z1 - z0)), 1e-6);
    free(scratch);
    model_free(&m);
}
END_TEST

static float float_of_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest bf16, ties to even (finite values only). */
static uint16_t bf16_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

START_TEST(test_bf16_weights)
{
    /* Rounding to bfloat16 (7 stored mantissa bits): nearest, ties to even,
     * specials kept. Near 1.0 the bf16 step is 2^-7. */
    int sizes[] = {4, 2, 2};
    model m;
    char err[256];
    ck_assert_int_eq(model_init(&m, sizes, 3, err, sizeof err), 0);
    const float step = 1.0f / 128.0f;
    float in[8] = {1.0f + step / 2,                  /* tie, 1.0 is even: down */
                   1.0f + step + step / 2,           /* tie, 1 + step is odd: up */
                   1.0f + step / 2 + step / 4096,    /* just over half: up */
                   -2.0f,
                   INFINITY,
                   float_of_bits(0x7f800001u),       /* a NaN whose payload is all low bits */
                   3.0e38f,                          /* rounds within range, not to inf */
                   0.0f};
    memcpy(m.W[0], in, sizeof in);
    mlp_weights w;
    ck_assert_int_eq(mlp_weights_init_kernel(&w, &m, MLP_WEIGHTS_BF16, MLP_KERNEL_PORTABLE), 0);
    float want[5] = {1.0f, 1.0f + 2 * step, 1.0f + step, -2.0f, INFINITY};
    for (int i = 0; i < 5; i++) {
        uint32_t bits = (uint32_t)w.bf16_W[0][i] << 16;
        ck_assert_float_eq(float_of_bits(bits), want[i]);
    }
    ck_assert(isnan(float_of_bits((uint32_t)w.bf16_W[0][5] << 16)));
    ck_assert(isfinite(float_of_bits((uint32_t)w.bf16_W[0][6] << 16)));
    mlp_weights_free(&w);
    model_free(&m);

    /* Weights bf16 holds exactly give the float path's bits. */
    ck_assert_int_eq(model_init(&m, sizes, 3, err, sizeof err), 0);
    m.input_width = 2; m.input_height = 2;
    m.input_scale = 1.0f / 255.0f; m.input_offset = 0.0f;
    float W0[8] = {1, 0.5f, -1, 0, 0.25f, 2, -0.75f, 1};
    float W1[4] = {1, -1, 2, 1.5f};
    memcpy(m.W[0], W0, sizeof W0);
    memcpy(m.W[1], W1, sizeof W1);
    m.b[0][0] = 0.1f; m.b[1][1] = -0.3f;
    ck_assert_int_eq(mlp_weights_init_kernel(&w, &m, MLP_WEIGHTS_BF16, MLP_KERNEL_PORTABLE), 0);
    float *scratch = malloc(mlp_scratch_floats(&m) * sizeof(float));
    uint8_t x[4] = {200, 17, 255, 90};
    float pf[2], pb[2];
    ck_assert_int_eq(mlp_predict(&m, x, pf, scratch), mlp_predict_with(&w, x, pb, scratch));
    ck_assert_mem_eq(pf, pb, sizeof pf);
    free(scratch);
    mlp_weights_free(&w);
    model_free(&m);

    mlp_weights_format f;
    ck_assert_int_eq(mlp_weights_format_from_name("bf16", &f), 0);
    ck_assert_int_eq(f, MLP_WEIGHTS_BF16);
    ck_assert_str_eq(mlp_weights_format_name(f), "bf16");
    ck_assert_int_eq(mlp_weights_format_from_name("f32", &f), 0);
    ck_assert_int_eq(f, MLP_WEIGHTS_F32);
    ck_assert_int_eq(mlp_weights_format_from_name("fp16", &f), -1);
}
END_TEST

/* A 2-layer model with small random weights and an input for it, zero
 * alone, in pairs and in long runs, else 1..top: what the kernel tests
 * run on. The caller frees both. */
static uint8_t *random_kernel_case(model *m, const int sizes[3], uint64_t seed, unsigned top)
{
    char err[256];
    ck_assert_int_eq(model_init(m, sizes, 3, err, sizeof err), 0);
    m->input_scale = 1.0f / 255.0f; m->input_offset = 0.0f;
    rng r;
    rng_seed(&r, seed);
    for (int l = 0; l < 2; l++) {
        for (int i = 0; i < sizes[l] * sizes[l + 1]; i++)
            m->W[l][i] = (rng_uniform(&r) - 0.5f) * 0.2f;
        for (int i = 0; i < sizes[l + 1]; i++)
            m->b[l][i] = (rng_uniform(&r) - 0.5f) * 0.1f;
    }
    uint8_t *px = malloc((size_t)sizes[0]);
    ck_assert_ptr_nonnull(px);
    for (int k = 0; k < sizes[0]; k++)
        px[k] = (k % 7 == 0 || (k / 50) % 3 == 1) ? 0 : (uint8_t)(1 + rng_below(&r, top));
    return px;
}

/* A kernel's answer (digit, probs) against reference logits in double: the
 * same argmax, and each softmax probability within 1e-5. */
static void assert_matches_reference(const double *logit, int n, int digit, const float *probs,
                                     size_t shape)
{
    double top = logit[0], sum = 0;
    int want = 0;
    for (int c = 1; c < n; c++)
        if (logit[c] > top) {
            top = logit[c];
            want = c;
        }
    for (int c = 0; c < n; c++)
        sum += exp(logit[c] - top);
    ck_assert_int_eq(digit, want);
    for (int c = 0; c < n; c++)
        ck_assert_msg(fabs(probs[c] - exp(logit[c] - top) / sum) < 1e-5,
                      "shape %zu: p[%d] = %.7f, reference %.7f", shape, c, probs[c],
                      exp(logit[c] - top) / sum);
}

/* y = bias + x W with x and W rounded to bf16 first, in double: what the
 * dot-product kernel computes, up to the order of its float sums. */
static void bf16_reference_layer(const float *x, int K, const float *W, const float *bias, int N,
                                 double *y)
{
    for (int n = 0; n < N; n++) {
        double acc = bias[n];
        for (int k = 0; k < K; k++) {
            float xb = float_of_bits((uint32_t)bf16_bits(x[k]) << 16);
            float wb = float_of_bits((uint32_t)bf16_bits(W[(size_t)k * N + n]) << 16);
            acc += (double)xb * (double)wb;
        }
        y[n] = acc;
    }
}

START_TEST(test_bf16_dot_kernel)
{
    if (!mlp_kernel_available(MLP_KERNEL_BF16_DOT)) {
        fprintf(stderr, "check_core: this CPU has no AVX512-BF16; dot kernel not tested\n");
        return;
    }
    /* One hidden layer, shapes that exercise every edge of the kernel: an
     * odd input count, more inputs than one chunk of
     * 256 inputs, outputs that are not a multiple of 32 (and fewer than
     * 16), more than one tile of 256 and more than one pass of 1024 of
     * them, inputs that are zero alone, in pairs and in long runs. */
    const int shapes[][3] = {{785, 37, 10}, {1200, 1000, 7}, {3, 5, 3}, {16, 16, 16},
                             {40, 1100, 2}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int sizes[3] = {shapes[t][0], shapes[t][1], shapes[t][2]};
        model m;
        uint8_t *px = random_kernel_case(&m, sizes, 42 + t, 255);
        mlp_weights w;
        ck_assert_int_eq(mlp_weights_init_kernel(&w, &m, MLP_WEIGHTS_BF16, MLP_KERNEL_BF16_DOT), 0);
        ck_assert_int_eq(w.kernel, MLP_KERNEL_BF16_DOT);
        float *scratch = malloc(mlp_scratch_floats(&m) * sizeof(float));
        float probs[16];
        int digit = mlp_predict_with(&w, px, probs, scratch);

        /* The same network in double over bf16-rounded values. */
        float *x = malloc((size_t)sizes[0] * sizeof *x);
        float *h = malloc((size_t)sizes[1] * sizeof *h);
        double *acc = malloc((size_t)sizes[1] * sizeof *acc);
        mlp_normalise_input(&m, px, x);
        bf16_reference_layer(x, sizes[0], m.W[0], m.b[0], sizes[1], acc);
        for (int i = 0; i < sizes[1]; i++)
            h[i] = acc[i] > 0 ? (float)acc[i] : 0.0f;
        bf16_reference_layer(h, sizes[1], m.W[1], m.b[1], sizes[2], acc);
        assert_matches_reference(acc, sizes[2], digit, probs, t);
        free(acc); free(h); free(x); free(scratch); free(px);
        mlp_weights_free(&w);
        model_free(&m);
    }
}
END_TEST

START_TEST(test_int8_weights)
{
    mlp_weights_format f;
    ck_assert_int_eq(mlp_weights_format_from_name("int8", &f), 0);
    ck_assert_int_eq(f, MLP_WEIGHTS_INT8);
    ck_assert_str_eq(mlp_weights_format_name(f), "int8");
    ck_assert_str_eq(mlp_kernel_name(MLP_KERNEL_INT8_DOT), "avx512-vnni");

    /* Each column's largest weight becomes +-127; the others round to the
     * nearest step of that scale; the output layer is not quantised. */
    int sizes[3] = {3, 2, 2};
    model m;
    char err[256];
    ck_assert_int_eq(model_init(&m, sizes, 3, err, sizeof err), 0);
    m.input_scale = 1.0f / 255.0f; m.input_offset = 0.0f;
    float W0[6] = {1.27f, -0.5f,
                   -0.63f, 0.26f,
                   0.0051f, 0.0f};   /* column 1: largest |w| is 0.5 */
    memcpy(m.W[0], W0, sizeof W0);
    mlp_weights w;
    ck_assert_int_eq(mlp_weights_init_kernel(&w, &m, MLP_WEIGHTS_INT8, MLP_KERNEL_PORTABLE), 0);
    ck_assert_float_eq_tol(w.int8_scale[0][0], 0.01f, 1e-7f);
    ck_assert_float_eq_tol(w.int8_scale[0][1], 0.5f / 127.0f, 1e-7f);
    const int8_t want[6] = {127, -127, -63, 66, 1, 0};   /* 0.26 / (0.5 / 127) = 66.04 */
    /* Rows start on cache lines: 64 bytes apart, the first on a line too. */
    ck_assert_uint_eq(INT8DOT_ROW_BYTES(2), 64);
    ck_assert_uint_eq((uintptr_t)w.int8_W[0] % 64, 0);
    for (int k = 0; k < 3; k++)
        ck_assert_mem_eq(w.int8_W[0] + 64 * k, want + 2 * k, 2);
    ck_assert_ptr_null(w.int8_W[1]);
    mlp_weights_free(&w);

    /* Inputs that can be negative cannot be bytes: the explicit request
     * fails, the server's default falls back to bf16. */
    m.input_offset = -0.5f;
    ck_assert(!mlp_int8_can_hold(&m));
    ck_assert_int_eq(mlp_weights_init_kernel(&w, &m, MLP_WEIGHTS_INT8, MLP_KERNEL_PORTABLE), -1);
    ck_assert_int_eq(mlp_weights_init(&w, &m, MLP_WEIGHTS_INT8), 0);
    ck_assert_int_eq(w.format, MLP_WEIGHTS_BF16);
    mlp_weights_free(&w);
    /* A kernel for another format is refused. */
    ck_assert_int_eq(mlp_weights_init_kernel(&w, &m, MLP_WEIGHTS_BF16, MLP_KERNEL_INT8_DOT), -1);
    /* auto: int8 with VNNI (when int8 can hold the model), else bf16 with
     * AVX512-BF16, else f32; never "auto" itself. */
    int vnni = mlp_kernel_available(MLP_KERNEL_INT8_DOT);
    int bf16 = mlp_kernel_available(MLP_KERNEL_BF16_DOT);
    ck_assert_int_eq(mlp_weights_init_kernel(&w, &m, MLP_WEIGHTS_AUTO, MLP_KERNEL_PORTABLE), -1);
    for (int negative = 0; negative <= 1; negative++) {
        m.input_offset = negative ? -0.5f : 0.0f;
        ck_assert_int_eq(mlp_weights_init(&w, &m, MLP_WEIGHTS_AUTO), 0);
        mlp_weights_format chosen = vnni && !negative ? MLP_WEIGHTS_INT8
                                    : bf16            ? MLP_WEIGHTS_BF16
                                                      : MLP_WEIGHTS_F32;
        ck_assert_int_eq(w.format, chosen);
        ck_assert_int_eq(w.kernel, chosen == MLP_WEIGHTS_INT8   ? MLP_KERNEL_INT8_DOT
                                   : chosen == MLP_WEIGHTS_BF16 ? MLP_KERNEL_BF16_DOT
                                                                : MLP_KERNEL_PORTABLE);
        mlp_weights_free(&w);
    }
    ck_assert_int_eq(mlp_weights_format_from_name("auto", &f), 0);
    ck_assert_int_eq(f, MLP_WEIGHTS_AUTO);
    model_free(&m);
}
END_TEST

/* The int8 hidden layer in double, from the kernel's own bytes and scales
 * and the input rounding its contract states (kernel_int8dot.h). */
static void int8_reference_layer(const float *x, int K, const int8_t *q, const float *scale,
                                 const float *bias, int N, double *y)
{
    float max = 0.0f;
    for (int k = 0; k < K; k++)
        max = x[k] > max ? x[k] : max;
    float step = max / 255.0f;
    for (int n = 0; n < N; n++) {
        int64_t sum = 0;
        for (int k = 0; k < K && step > 0.0f; k++) {
            float r = fmaf(x[k], 1.0f / step, 0.5f);
            int64_t u = r >= 255.0f ? 255 : (r > 0.0f ? (int64_t)r : 0);
            sum += u * q[(size_t)k * INT8DOT_ROW_BYTES(N) + n];
        }
        y[n] = bias[n] + (double)sum * (double)(scale[n] * step);
    }
}

START_TEST(test_int8_dot_kernel)
{
    /* The portable loop always; the VNNI one where the CPU has it, which
     * must give the same bits. Shapes as for the bf16 kernel, plus input
     * counts that leave short groups of four and outputs that are not a
     * multiple of 64. */
    const int shapes[][3] = {{785, 37, 10}, {1200, 1000, 7}, {3, 5, 3}, {16, 16, 16},
                             {40, 1100, 2}, {258, 65, 4}, {1, 129, 10}};
    int vnni = mlp_kernel_available(MLP_KERNEL_INT8_DOT);
    if (!vnni)
        fprintf(stderr, "check_core: this CPU has no AVX512-VNNI; only the portable int8 loop "
                        "is tested\n");
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int sizes[3] = {shapes[t][0], shapes[t][1], shapes[t][2]};
        model m;
        uint8_t *px = random_kernel_case(&m, sizes, 7 + t, 254);
        px[0] = 200;   /* the one-input shape must not be blank */
        mlp_weights portable, fast;
        ck_assert_int_eq(mlp_weights_init_kernel(&portable, &m, MLP_WEIGHTS_INT8,
                                                 MLP_KERNEL_PORTABLE), 0);
        float *scratch = malloc(mlp_scratch_floats(&m) * sizeof(float));
        float probs[16], fast_probs[16];
        int digit = mlp_predict_with(&portable, px, probs, scratch);
        if (vnni) {
            ck_assert_int_eq(mlp_weights_init_kernel(&fast, &m, MLP_WEIGHTS_INT8,
                                                     MLP_KERNEL_INT8_DOT), 0);
            ck_assert_int_eq(mlp_predict_with(&fast, px, fast_probs, scratch), digit);
            ck_assert_msg(memcmp(probs, fast_probs, sizeof(float) * (size_t)sizes[2]) == 0,
                          "shape %zu: the VNNI kernel's bits differ from the portable loop's", t);
            mlp_weights_free(&fast);
        }
        /* Every weight within half a step of its float. */
        for (int k = 0; k < sizes[0]; k++)
            for (int n = 0; n < sizes[1]; n++) {
                int8_t q = portable.int8_W[0][(size_t)k * INT8DOT_ROW_BYTES(sizes[1]) + n];
                ck_assert(fabsf(q * portable.int8_scale[0][n] - m.W[0][(size_t)k * sizes[1] + n]) <=
                          portable.int8_scale[0][n] * 0.5001f);
            }

        /* The reference: the hidden layer from the bytes, the output layer in
         * double over the float weights. */
        float *x = malloc((size_t)sizes[0] * sizeof *x);
        double *h = malloc((size_t)sizes[1] * sizeof *h);
        mlp_normalise_input(&m, px, x);
        int8_reference_layer(x, sizes[0], portable.int8_W[0], portable.int8_scale[0], m.b[0],
                             sizes[1], h);
        double logit[16];
        for (int c = 0; c < sizes[2]; c++) {
            logit[c] = m.b[1][c];
            for (int k = 0; k < sizes[1]; k++)
                logit[c] += (h[k] > 0 ? (double)(float)h[k] : 0.0) *
                            m.W[1][(size_t)k * sizes[2] + c];
        }
        assert_matches_reference(logit, sizes[2], digit, probs, t);
        free(h); free(x); free(scratch); free(px);
        mlp_weights_free(&portable);
        model_free(&m);
    }
}
END_TEST

/* ---- backpropagation ---- */

static double batch_loss(model *m, const dataset *d, int count)
{
    double loss = 0.0;
    float probs[10];
    float *scratch = malloc(mlp_scratch_floats(m) * sizeof(float));
    for (int i = 0; i < count; i++) {
        mlp_predict(m, d->pixels + (size_t)i * 784, probs, scratch);
        loss -= log(probs[d->labels[i]]);
    }
    free(scratch);
    return loss / count;
}

/* ---- augmentation ---- */

/* Ink (255) within 1.2 px of a circle, in MNIST's 28x28. */
static void draw_ring(uint8_t *img, float cx, float cy, float radius)
{
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            float d = hypotf((float)x - cx, (float)y - cy) - radius;
            if (fabsf(d) < 1.2f)
                img[y * 28 + x] = 255;
        }
}

/* The brightest augmented pixel whose source position (augment_digit draws
 * the digit 1.35x larger, centred, when nothing else distorts it) falls in
 * the source rectangle [x0, x1] x [y0, y1]. */
static int brightest_from(const uint8_t *out, float x0, float y0, float x1, float y1)
{
    int best = 0;
    const float c_out = (AUGMENT_SIDE - 1) / 2.0f, c_in = 13.5f;
    for (int y = 0; y < AUGMENT_SIDE; y++)
        for (int x = 0; x < AUGMENT_SIDE; x++) {
            float sx = ((float)x - c_out) / 1.35f + c_in, sy = ((float)y - c_out) / 1.35f + c_in;
            if (sx >= x0 && sx <= x1 && sy >= y0 && sy <= y1 && out[y * AUGMENT_SIDE + x] > best)
                best = out[y * AUGMENT_SIDE + x];
        }
    return best;
}

/* Draws `digit` (labelled `label`) with the class stroke whose probability
 * is *chance off, then on: the source rectangle [x0, x1] x [y0, y1] must be
 * empty without the stroke and inked with it, and a digit of another class
 * must come out as without. cfg has every other distortion off. */
static void assert_class_stroke(augment_config *cfg, float *chance, const uint8_t *digit,
                                int label, float x0, float y0, float x1, float y1)
{
    static uint8_t plain[AUGMENT_SIDE * AUGMENT_SIDE], marked[AUGMENT_SIDE * AUGMENT_SIDE];
    *chance = 0.0f;
    augment_digit(digit, label, cfg, 5, plain);
    *chance = 1.0f;
    augment_digit(digit, label, cfg, 5, marked);
    ck_assert_int_lt(brightest_from(plain, x0, y0, x1, y1), 32);
    ck_assert_int_gt(brightest_from(marked, x0, y0, x1, y1), 200);
    augment_digit(digit, label == 1 ? 2 : 1, cfg, 5, marked);
    ck_assert_mem_eq(plain, marked, sizeof plain);
}

/* The defaults with every random change off: augment_digit() then only
 * draws the digit 1.35x larger, centred, whatever the seed. */
static void augment_config_plain(augment_config *cfg)
{
    augment_config_defaults(cfg);
    cfg->rotate_degrees = cfg->scale = cfg->shear = cfg->elastic_pixels = 0.0f;
    cfg->thin_probability = cfg->thick_probability = cfg->fill_probability = 0.0f;
    cfg->cross_seven_probability = cfg->slash_zero_probability = 0.0f;
    cfg->hook_nine_probability = cfg->flag_one_probability = 0.0f;
    cfg->coarse_probability = 0.0f;
}

START_TEST(test_augment_class_strokes)
{
    augment_config cfg;
    augment_config_plain(&cfg);

    /* The slash crosses the empty middle of a ring. */
    uint8_t zero[784] = {0};
    draw_ring(zero, 13.5f, 13.5f, 7.0f);
    assert_class_stroke(&cfg, &cfg.slash_zero_probability, zero, 0, 12.5f, 12.5f, 14.5f, 14.5f);

    /* A 9 as a ring on a stem down its right side to row 23: the hook leaves
     * the stem's foot to the left, below the ring. */
    uint8_t nine[784] = {0};
    draw_ring(nine, 13.5f, 9.0f, 5.0f);
    for (int y = 9; y <= 23; y++)
        for (int x = 18; x <= 19; x++)
            nine[y * 28 + x] = 255;
    assert_class_stroke(&cfg, &cfg.hook_nine_probability, nine, 9, 12.0f, 17.0f, 16.0f, 23.0f);

    /* A 1 as a bare stem from row 4 to 23: the flag leaves its top down to
     * the left; at any of its angles it crosses this patch beside the stem. */
    uint8_t one[784] = {0};
    for (int y = 4; y <= 23; y++)
        for (int x = 13; x <= 14; x++)
            one[y * 28 + x] = 255;
    assert_class_stroke(&cfg, &cfg.flag_one_probability, one, 1, 10.0f, 6.0f, 11.8f, 10.0f);
    /* ...and is a flag, not a stub: new ink reaches at least 6 px (of the
     * 7-15 it is drawn) from the top of the stem. */
    static uint8_t plain[AUGMENT_SIDE * AUGMENT_SIDE], flagged[AUGMENT_SIDE * AUGMENT_SIDE];
    cfg.flag_one_probability = 0.0f;
    augment_digit(one, 1, &cfg, 5, plain);
    cfg.flag_one_probability = 1.0f;
    augment_digit(one, 1, &cfg, 5, flagged);
    float reach = 0.0f;
    const float c_out = (AUGMENT_SIDE - 1) / 2.0f;
    for (int y = 0; y < AUGMENT_SIDE; y++)
        for (int x = 0; x < AUGMENT_SIDE; x++)
            if (flagged[y * AUGMENT_SIDE + x] > 200 && plain[y * AUGMENT_SIDE + x] < 32) {
                /* source offsets from the stem's top at (13.5, 4.5) */
                float sx = ((float)x - c_out) / 1.35f;
                float sy = ((float)y - c_out) / 1.35f + 13.5f - 4.5f;
                float d = sqrtf(sx * sx + sy * sy);
                reach = d > reach ? d : reach;
            }
    ck_assert_msg(reach >= 6.0f, "the flag reaches only %.1f px", reach);
}
END_TEST

/* What a capture at half resolution makes of img, pixel by pixel: the
 * rounded mean of the 2x2 block (grid starting at column ox, row oy) that
 * holds the pixel; a pixel before the grid's start stays, and a block cut
 * by the far edge repeats its last column or row. */
static void coarse_reference(const uint8_t *img, int ox, int oy, uint8_t *out)
{
    const int n = AUGMENT_SIDE;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            if (x < ox || y < oy) {
                out[y * n + x] = img[y * n + x];
                continue;
            }
            int x0 = ox + (x - ox) / 2 * 2, y0 = oy + (y - oy) / 2 * 2;
            int x1 = x0 + 1 < n ? x0 + 1 : x0, y1 = y0 + 1 < n ? y0 + 1 : y0;
            out[y * n + x] = (uint8_t)((img[y0 * n + x0] + img[y0 * n + x1] + img[y1 * n + x0] +
                                        img[y1 * n + x1] + 2) / 4);
        }
}

/* The grid phase (0..3: ox + 2 oy) whose reference coarsening of `from` is
 * `coarse` byte for byte, or -1 when none is. */
static int coarse_phase(const uint8_t *from, const uint8_t *coarse)
{
    static uint8_t ref[AUGMENT_SIDE * AUGMENT_SIDE];
    for (int phase = 0; phase < 4; phase++) {
        coarse_reference(from, phase % 2, phase / 2, ref);
        if (memcmp(ref, coarse, sizeof ref) == 0)
            return phase;
    }
    return -1;
}

/* A coarse capture is the drawing with each 2x2 block replaced by its mean,
 * on all four grid phases across seeds; it is drawn last, so with every
 * other distortion on, the same seed gives the same drawing, coarsened. */
START_TEST(test_augment_coarse)
{
    augment_config cfg;
    augment_config_plain(&cfg);
    uint8_t digit[784] = {0};
    draw_ring(digit, 13.5f, 13.5f, 7.0f);
    static uint8_t plain[AUGMENT_SIDE * AUGMENT_SIDE], out[AUGMENT_SIDE * AUGMENT_SIDE];
    augment_digit(digit, 0, &cfg, 9, plain);
    int plain_grey = 0;
    for (int i = 0; i < AUGMENT_SIDE * AUGMENT_SIDE; i++)
        plain_grey += plain[i] > 0 && plain[i] < 255;
    ck_assert_int_gt(plain_grey, 50);   /* anti-aliased, so block means differ from it */

    /* With nothing else random, the plain drawing is the same for every seed. */
    cfg.coarse_probability = 1.0f;
    int phases_seen = 0;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        augment_digit(digit, 0, &cfg, seed, out);
        int phase = coarse_phase(plain, out);
        ck_assert_msg(phase >= 0, "seed %d: not the drawing's 2x2 block means", (int)seed);
        phases_seen |= 1 << phase;
    }
    ck_assert_int_eq(phases_seen, 0xf);

    augment_config_defaults(&cfg);
    cfg.thick_probability = 1.0f;   /* ink up to the canvas's edge, now and then */
    for (uint64_t seed = 1; seed <= 8; seed++) {
        cfg.coarse_probability = 0.0f;
        augment_digit(digit, 0, &cfg, seed, plain);
        cfg.coarse_probability = 1.0f;
        augment_digit(digit, 0, &cfg, seed, out);
        ck_assert_msg(coarse_phase(plain, out) >= 0, "seed %d: the distortions changed",
                      (int)seed);
    }
}
END_TEST

START_TEST(test_gradient_check)
{
    /* A tiny two-hidden-layer net on random "images": compare backprop with
     * central differences, in double-checked float. */
    int sizes[] = {784, 12, 7, 10};
    model m;
    char err[256];
    ck_assert_int_eq(model_init(&m, sizes, 4, err, sizeof err), 0);
    rng r;
    rng_seed(&r, 7);
    init_weights_he(&m, &r);
    for (size_t i = 0; i < m.n_params; i++)
        if (rng_uniform(&r) < 0.3f)
            m.params[i] += 0.05f * rng_normal(&r);   /* non-zero biases too */
    enum { N = 6 };
    uint8_t pixels[N * 784], labels[N];
    for (int i = 0; i < N * 784; i++)
        pixels[i] = rng_uniform(&r) < 0.7f ? 0 : (uint8_t)rng_below(&r, 256);
    for (int i = 0; i < N; i++)
        labels[i] = (uint8_t)rng_below(&r, 10);
    dataset d = {pixels, labels, N};

    train_config cfg;
    train_config_defaults(&cfg, OPTIMIZER_ADAM);
    cfg.batch = N;
    cfg.threads = 2;
    trainer *t = trainer_create(&m, &cfg, err, sizeof err);
    ck_assert_ptr_nonnull(t);
    double loss = trainer_batch_gradients(t, &d, NULL, N);
    ck_assert_double_eq_tol(loss, batch_loss(&m, &d, N), 1e-5);
    const float *g = trainer_gradients(t);

    int checked = 0, kinks = 0;
    double centre = batch_loss(&m, &d, N);
    for (size_t i = 0; i < m.n_params; i += 1 + rng_below(&r, 97)) {
        float saved = m.params[i];
        const float h = 1e-3f;
        m.params[i] = saved + h;
        double up = batch_loss(&m, &d, N);
        m.params[i] = saved - h;
        double down = batch_loss(&m, &d, N);
        m.params[i] = saved;
        /* Where a ReLU input crosses zero within +-h the loss has a kink and
         * the two one-sided slopes disagree: no finite difference is valid. */
        double right = (up - centre) / h, left = (centre - down) / h;
        if (fabs(right - left) > 0.01 * (fabs(right) + fabs(left)) + 1e-4) {
            kinks++;
            continue;
        }
        double numeric = (up - down) / (2.0 * h);
        /* float losses carry ~1e-7 of rounding, ~1e-4 once divided by 2h */
        double tolerance = 1e-2 * fmax(fabs(numeric), fabs(g[i])) + 2e-4;
        ck_assert_msg(fabs(numeric - g[i]) < tolerance,
                      "param %zu: backprop %g, numeric %g", i, (double)g[i], numeric);
        checked++;
    }
    ck_assert_msg(kinks * 5 < checked, "%d kinks in %d checks", kinks, checked);
    ck_assert_int_gt(checked, 100);
    trainer_destroy(t);
    model_free(&m);
}
END_TEST

/* One Adam step from zero state, done by hand with Keras' formulas. */
START_TEST(test_adam_step_hand_computed)
{
    int sizes[] = {784, 4, 10};
    model m;
    char err[256];
    ck_assert_int_eq(model_init(&m, sizes, 3, err, sizeof err), 0);
    rng r;
    rng_seed(&r, 3);
    init_weights_he(&m, &r);
    uint8_t pixels[2 * 784] = {0}, labels[2] = {3, 8};
    for (int i = 0; i < 2 * 784; i += 5)
        pixels[i] = (uint8_t)(i % 251);
    dataset d = {pixels, labels, 2};
    train_config cfg;
    train_config_defaults(&cfg, OPTIMIZER_ADAM);
    cfg.batch = 2;
    trainer *t = trainer_create(&m, &cfg, err, sizeof err);
    trainer_batch_gradients(t, &d, NULL, 2);
    float *before = malloc(m.n_params * sizeof(float));
    float *grad = malloc(m.n_params * sizeof(float));
    memcpy(before, m.params, m.n_params * sizeof(float));
    memcpy(grad, trainer_gradients(t), m.n_params * sizeof(float));
    trainer_apply_update(t);
    /* step 1: m = 0.1 g, v = 0.001 g^2, lr_t = lr * sqrt(1 - 0.999) / (1 - 0.9) */
    double lr_t = 0.001 * sqrt(1.0 - 0.999) / (1.0 - 0.9);
    int nonzero = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        double mo = 0.1 * grad[i], v = 0.001 * (double)grad[i] * grad[i];
        double expect = before[i] - lr_t * mo / (sqrt(v) + 1e-7);
        ck_assert_double_eq_tol(m.params[i], expect, 1e-6 + 1e-5 * fabs(expect));
        nonzero += grad[i] != 0.0f;
    }
    ck_assert_int_gt(nonzero, 100);
    /* with |g| >> epsilon the first step moves each weight by about lr */
    free(before);
    free(grad);
    trainer_destroy(t);
    model_free(&m);
}
END_TEST

START_TEST(test_sgd_momentum_step)
{
    int sizes[] = {784, 4, 10};
    model m;
    char err[256];
    ck_assert_int_eq(model_init(&m, sizes, 3, err, sizeof err), 0);
    rng r;
    rng_seed(&r, 4);
    init_weights_he(&m, &r);
    uint8_t pixels[784] = {0}, labels[1] = {5};
    for (int i = 100; i < 700; i += 3)
        pixels[i] = 200;
    dataset d = {pixels, labels, 1};
    train_config cfg;
    train_config_defaults(&cfg, OPTIMIZER_SGD);
    cfg.batch = 1;
    trainer *t = trainer_create(&m, &cfg, err, sizeof err);
    float *p0 = malloc(m.n_params * sizeof(float)), *g1 = malloc(m.n_params * sizeof(float));
    memcpy(p0, m.params, m.n_params * sizeof(float));
    trainer_batch_gradients(t, &d, NULL, 1);
    memcpy(g1, trainer_gradients(t), m.n_params * sizeof(float));
    trainer_apply_update(t);
    trainer_batch_gradients(t, &d, NULL, 1);
    const float *g2 = trainer_gradients(t);
    float *p1 = malloc(m.n_params * sizeof(float));
    memcpy(p1, m.params, m.n_params * sizeof(float));
    trainer_apply_update(t);
    for (size_t i = 0; i < m.n_params; i++) {
        double v1 = -0.01 * g1[i];
        ck_assert_double_eq_tol(p1[i], p0[i] + v1, 1e-6);
        double v2 = 0.9 * v1 - 0.01 * g2[i];
        ck_assert_double_eq_tol(m.params[i], p1[i] + v2, 1e-6);
    }
    free(p0); free(g1); free(p1);
    trainer_destroy(t);
    model_free(&m);
}
END_TEST

/* ---- threads and training ---- */

START_TEST(test_pool_split_covers_range)
{
    for (int n = 0; n < 300; n += 7)
        for (int T = 1; T <= 5; T++) {
            int next = 0;
            for (int t = 0; t < T; t++) {
                int b, e;
                pool_split(n, t, T, 16, &b, &e);
                ck_assert_int_eq(b, next);
                ck_assert(e >= b);
                ck_assert(b % 16 == 0 || b == n);
                next = e;
            }
            ck_assert_int_eq(next, n);
        }
}
END_TEST

static void train_small(int threads, uint64_t seed, int n, float dropout, model *m,
                        eval_result *test_result)
{
    mnist_data data;
    char err[512];
    if (mnist_load(data_dir(), 1, &data, err, sizeof err) != 0)
        ck_abort_msg("MNIST missing (run make data): %s", err);
    int sizes[] = {784, 64, 10};
    ck_assert_int_eq(model_init(m, sizes, 3, err, sizeof err), 0);
    rng r;
    rng_seed(&r, seed);
    init_weights_he(m, &r);
    train_config cfg;
    train_config_defaults(&cfg, OPTIMIZER_ADAM);
    cfg.epochs = 2;
    cfg.threads = threads;
    cfg.seed = seed;
    cfg.dropout = dropout;
    cfg.lr_schedule = dropout > 0.0f ? LR_COSINE : LR_CONSTANT;
    trainer *t = trainer_create(m, &cfg, err, sizeof err);
    dataset train = {data.train_images.pixels, data.train_labels.labels, n};
    dataset test = {data.test_images.pixels, data.test_labels.labels, data.test_images.count};
    epoch_stats history[2];
    ck_assert_int_eq(trainer_fit(t, &train, NULL, NULL, history), 0);
    ck_assert(history[1].loss < history[0].loss);
    ck_assert_int_eq(evaluate_model(m, &test, threads, test_result), 0);
    trainer_destroy(t);
    mnist_free(&data);
}

START_TEST(test_short_training_beats_90_percent)
{
    model m;
    eval_result r;
    train_small(2, 11, 5000, 0.0f, &m, &r);
    ck_assert_int_eq(r.total, 10000);
    ck_assert_msg(r.accuracy > 0.90, "accuracy %.4f after training on 5000 images", r.accuracy);
    int sum = 0;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++)
            sum += r.confusion[i][j];
    ck_assert_int_eq(sum, 10000);
    model_free(&m);
}
END_TEST

START_TEST(test_training_is_reproducible)
{
    model a, b, c;
    eval_result ra, rb, rc;
    /* with dropout and a schedule, the paths with the most state */
    train_small(2, 5, 2000, 0.3f, &a, &ra);
    train_small(2, 5, 2000, 0.3f, &b, &rb);
    train_small(1, 5, 2000, 0.3f, &c, &rc);   /* the split never changes the order of sums */
    ck_assert_double_gt(ra.accuracy, 0.80);
    ck_assert_int_eq(memcmp(a.params, b.params, a.n_params * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a.params, c.params, a.n_params * sizeof(float)), 0);
    model_free(&a);
    model_free(&b);
    model_free(&c);
}
END_TEST

START_TEST(test_shipped_model_accuracy_is_true)
{
    const char *path = getenv("DIGITS_MODEL") ? getenv("DIGITS_MODEL") : "models/mnist-mlp.bin";
    model m;
    char err[512];
    ck_assert_msg(model_load(&m, path, err, sizeof err) == 0, "%s", err);
    const char *stored = model_get_meta(&m, "test_accuracy");
    ck_assert_ptr_nonnull(stored);
    ck_assert_ptr_nonnull(model_get_meta(&m, "command"));
    ck_assert_ptr_nonnull(model_get_meta(&m, "id"));
    mnist_data data;
    if (mnist_load(data_dir(), 0, &data, err, sizeof err) != 0)
        ck_abort_msg("MNIST missing (run make data): %s", err);
    dataset test = {data.test_images.pixels, data.test_labels.labels, data.test_images.count};
    /* A model trained through the preprocessing pipeline is evaluated on
     * test images sent through it, as the trainer did. */
    uint8_t *prepared = NULL;
    const char *pipeline = model_get_meta(&m, "input_pipeline");
    preprocess_options popts;
    if (pipeline && strcmp(pipeline, "raw") != 0 &&
        preprocess_options_from_name(pipeline, &popts) == 0) {
        augment_config acfg;
        augment_config_defaults(&acfg);
        prepared = malloc((size_t)test.count * 784);
        ck_assert_int_eq(
            augment_dataset(&test, AUGMENT_PREPROCESS, &acfg, &popts, 0, 0, 2, prepared), 0);
        test.pixels = prepared;
    }
    eval_result r;
    ck_assert_int_eq(evaluate_model(&m, &test, 2, &r), 0);
    char fresh[32];
    snprintf(fresh, sizeof fresh, "%.6f", r.accuracy);
    ck_assert_str_eq(fresh, stored);
    ck_assert_str_eq(model_get_meta(&m, "test_samples"), "10000");
    /* the single-image path the server uses agrees with the batched one */
    float probs[10];
    float *scratch = malloc(mlp_scratch_floats(&m) * sizeof(float));
    /* ...and so do the smaller weights the server serves (int8 by default,
     * bf16), with each kernel this CPU has: same answers on all but a
     * handful of images, same accuracy within two images. */
    const struct {
        mlp_weights_format format;
        mlp_kernel kernel;
    } served[] = {{MLP_WEIGHTS_BF16, MLP_KERNEL_PORTABLE}, {MLP_WEIGHTS_BF16, MLP_KERNEL_BF16_DOT},
                  {MLP_WEIGHTS_INT8, MLP_KERNEL_PORTABLE}, {MLP_WEIGHTS_INT8, MLP_KERNEL_INT8_DOT}};
    for (size_t v = 0; v < sizeof served / sizeof served[0]; v++) {
        mlp_kernel kernel = served[v].kernel;
        if (!mlp_kernel_available(kernel))
            continue;
        mlp_weights small;
        ck_assert_int_eq(mlp_weights_init_kernel(&small, &m, served[v].format, kernel), 0);
        int correct = 0, small_correct = 0, agree = 0;
        for (int i = 0; i < test.count; i++) {
            const uint8_t *px = test.pixels + (size_t)i * 784;
            int digit = mlp_predict(&m, px, probs, scratch);
            int small_digit = mlp_predict_with(&small, px, probs, scratch);
            correct += digit == test.labels[i];
            small_correct += small_digit == test.labels[i];
            agree += digit == small_digit;
        }
        ck_assert_int_eq(correct, r.correct);
        ck_assert_msg(abs(small_correct - correct) <= 2, "%s %s kernel: %d correct, f32 %d",
                      mlp_weights_format_name(served[v].format), mlp_kernel_name(kernel),
                      small_correct, correct);
        ck_assert_msg(agree >= test.count - 5, "%s %s kernel: %d answers differ from f32",
                      mlp_weights_format_name(served[v].format), mlp_kernel_name(kernel),
                      test.count - agree);
        mlp_weights_free(&small);
    }
    /* The two int8 loops give the same bits on every test digit, the
     * second layer's inputs coming out of a ReLU. */
    if (mlp_kernel_available(MLP_KERNEL_INT8_DOT)) {
        mlp_weights fast, portable;
        ck_assert_int_eq(
            mlp_weights_init_kernel(&fast, &m, MLP_WEIGHTS_INT8, MLP_KERNEL_INT8_DOT), 0);
        ck_assert_int_eq(
            mlp_weights_init_kernel(&portable, &m, MLP_WEIGHTS_INT8, MLP_KERNEL_PORTABLE), 0);
        float other[10];
        for (int i = 0; i < test.count; i++) {
            const uint8_t *px = test.pixels + (size_t)i * 784;
            ck_assert_int_eq(mlp_predict_with(&fast, px, probs, scratch),
                             mlp_predict_with(&portable, px, other, scratch));
            ck_assert_msg(memcmp(probs, other, sizeof other) == 0,
                          "test digit %d: the int8 loops' bits differ", i);
        }
        mlp_weights_free(&fast);
        mlp_weights_free(&portable);
    }
    free(scratch);
    free(prepared);
    mnist_free(&data);
    model_free(&m);
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#if defined(__GLIBC__) && !defined(UNDER_ASAN)
static long minor_faults(void)
{
    struct rusage ru;
    ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_minflt;
}
#endif

/* One "request": eight 256 KB buffers, every page written, all freed, as a
 * 300x300 upload's decoding and preprocessing do. The writes go through a
 * volatile pointer: stores to memory freed unread may otherwise be dropped,
 * and then no page is touched at all. */
static void touch_and_free_request_buffers(void)
{
    enum { N = 8, BYTES = 256 << 10 };
    unsigned char *block[N];
    for (int i = 0; i < N; i++) {
        block[i] = malloc(BYTES);
        ck_assert_ptr_nonnull(block[i]);
        volatile unsigned char *page = block[i];
        for (size_t j = 0; j < BYTES; j += 4096)
            page[j] = (unsigned char)(j >> 12);
    }
    for (int i = 0; i < N; i++)
        free(block[i]);
}

/* With glibc's own policy the 2 MB freed at the heap's top is trimmed after
 * every request, so each request faults in about 500 pages again; with
 * heap_policy's, later requests reuse the first one's pages. Counted in
 * page faults, not time, so load on the machine cannot sway it; 16
 * requests, so that even huge pages (a few faults per request without the
 * policy) stay well above the limit. Not run under valgrind, whose malloc
 * takes the settings and ignores them. */
START_TEST(test_heap_policy_keeps_request_memory)
{
#if defined(__GLIBC__) && !defined(UNDER_ASAN)
    ck_assert_int_eq(heap_policy_keep_request_memory(), 0);
    touch_and_free_request_buffers();
    long before = minor_faults();
    for (int i = 0; i < 16; i++)
        touch_and_free_request_buffers();
    long faults = minor_faults() - before;
    ck_assert_msg(faults < 32, "16 requests took %ld page faults; 8192 is no reuse at all",
                  faults);
#else
    /* Another allocator (a sanitizer's, another C library) may refuse the
     * settings; all that can be asked is that trying is harmless. */
    (void)heap_policy_keep_request_memory();
    touch_and_free_request_buffers();
#endif
}
END_TEST

/* ---- atomic_file ---- */

/* getrandom(2), under the tests' control. atomic_file.c draws its
 * temporary names from getrandom(); this definition in the test program
 * takes the place of the C library's for everything linked into it. It
 * asks the kernel, as the library's would, unless a test has asked for
 * draws of zero (the suffix "AAAAAA", a temporary name the test can know in
 * advance and plant something at) or for refusals (ENOSYS, as from an old
 * kernel or a strict seccomp profile). */
static atomic_int zero_draws;       /* draws left that come back as zeros */
static atomic_bool refuse_draws;
static atomic_int draws_made;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
    atomic_fetch_add(&draws_made, 1);
    if (atomic_load(&refuse_draws)) {
        errno = ENOSYS;
        return -1;
    }
    int left = atomic_load(&zero_draws);
    while (left > 0 && !atomic_compare_exchange_weak(&zero_draws, &left, left - 1)) {
    }
    if (left > 0) {
        memset(buf, 0, len);
        return (ssize_t)len;
    }
    return (ssize_t)syscall(SYS_getrandom, buf, len, flags);
}

/* Every atomic_file test starts with honest draws, also when the one
 * before failed half-way without a fork of its own (CK_FORK=no). */
static void reset_draws(void)
{
    atomic_store(&zero_draws, 0);
    atomic_store(&refuse_draws, false);
    atomic_store(&draws_made, 0);
}

/* A fresh empty directory for one test. */
static void atomic_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/digits-check-core-atomic-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* The names in dir but ".", "..", sorted and joined by spaces ("" when
 * empty), to compare a directory against exactly what should be there. */
static void list_dir(const char *dir, char *out, size_t len)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    ck_assert_int_ge(n, 0);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && used < len) {
            int k = snprintf(out + used, len - used, "%s%s", used ? " " : "", name);
            used += k > 0 ? (size_t)k : 0;
        }
        free(names[i]);
    }
    free(names);
    ck_assert_uint_lt(used, len);
}

/* Removes dir and the files (and empty directories) in it. */
static void remove_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    ck_assert_int_ge(n, 0);
    for (int i = 0; i < n; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0 &&
            unlink(path) != 0)
            rmdir(path);
        free(names[i]);
    }
    free(names);
    ck_assert_int_eq(rmdir(dir), 0);
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

/* Whether the file at path holds exactly len bytes data. */
static bool file_holds(const char *path, const void *data, size_t len)
{
    size_t got;
    uint8_t *bytes = slurp(path, &got);
    bool same = got == len && memcmp(bytes, data, len) == 0;
    free(bytes);
    return same;
}

/* One of two writers of the same path, started together. */
typedef struct {
    const char *path;
    const uint8_t *data;
    size_t len;
    pthread_barrier_t *start;
    int rc, err;
} writer;

static void *write_at_once(void *arg)
{
    writer *w = arg;
    pthread_barrier_wait(w->start);
    w->rc = atomic_file_write(w->path, w->data, w->len);
    w->err = errno;
    return NULL;
}

/* Bytes that tell the two writers apart anywhere in the file. */
static uint8_t *payload(size_t len, uint64_t seed)
{
    uint8_t *p = malloc(len);
    ck_assert_ptr_nonnull(p);
    rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)rng_next(&r);
    return p;
}

/* Two writers of one path at once, round after round: each succeeds, the
 * file is always one of the two payloads whole (their lengths differ too,
 * so a mix of them is seen), and no temporary file is left. With one
 * temporary name per path, the second writer removed the first's file, the
 * first renamed the second's half-written one into place, and the second's
 * rename then failed. The names come from getrandom, and again from the
 * fallback used where it is refused. */
START_TEST(test_atomic_concurrent_writers)
{
    char dir[64], path[128], listing[512];
    atomic_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.bin", dir);
    const size_t len[2] = {384 * 1024, 320 * 1024 + 7};
    uint8_t *data[2] = {payload(len[0], 1), payload(len[1], 2)};
    pthread_barrier_t start;
    const int rounds = 120;
    for (int round = 0; round < rounds; round++) {
        atomic_store(&refuse_draws, round >= rounds / 2);
        ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
        writer w[2];
        pthread_t t[2];
        for (int i = 0; i < 2; i++) {
            w[i] = (writer){path, data[i], len[i], &start, -1, 0};
            ck_assert_int_eq(pthread_create(&t[i], NULL, write_at_once, &w[i]), 0);
        }
        for (int i = 0; i < 2; i++)
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < 2; i++)
            ck_assert_msg(w[i].rc == 0, "round %d: writer %d failed: %s", round, i,
                          strerror(w[i].err));
        ck_assert_msg(file_holds(path, data[0], len[0]) || file_holds(path, data[1], len[1]),
                      "round %d: the file is neither payload whole", round);
        list_dir(dir, listing, sizeof listing);
        ck_assert_msg(strcmp(listing, "x.bin") == 0, "round %d: left behind: %s", round, listing);
    }
    atomic_store(&refuse_draws, false);
    free(data[0]);
    free(data[1]);
    remove_dir(dir);
}
END_TEST

/* The file has the mode open(2) gives 0644, 0644 less the umask, new or
 * replacing one with another mode. (Temporary files made by mkstemp are
 * 0600 and would need changing; this guards against that.) */
START_TEST(test_atomic_mode_follows_umask)
{
    char dir[64], path[128];
    atomic_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.csv", dir);
    const mode_t masks[] = {022, 027, 077, 0, 002};
    mode_t old = umask(022);
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        umask(masks[i]);
        ck_assert_int_eq(atomic_file_write(path, "a,b\n", 4), 0);
        struct stat st;
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert_msg(S_ISREG(st.st_mode), "not a plain file");
        ck_assert_msg((st.st_mode & 07777) == (0644 & ~masks[i]),
                      "umask %03o: mode %04o, want %04o", (unsigned)masks[i],
                      (unsigned)(st.st_mode & 07777), (unsigned)(0644 & ~masks[i]));
        ck_assert_int_eq(chmod(path, 0600), 0);   /* replaced, not kept, next time */
    }
    umask(old);
    remove_dir(dir);
}
END_TEST

/* Something planted at the very temporary name a writer draws is neither
 * written through nor removed: a link to a victim, a dangling link, a
 * regular file (as a live writer's would be). The writer draws another
 * name and succeeds; the victim keeps its bytes; what was planted stays as
 * it was. A draw of zero names x.bin.tmp.AAAAAA, so the test knows where to
 * plant; that the writer drew more than once shows it met the plant. The
 * old single name x.bin.tmp (earlier versions'), planted as a link, is left
 * alone too. */
START_TEST(test_atomic_planted_names_left_alone)
{
    char dir[64], path[128], victim[128], planted[160], old_name[160], listing[512];
    atomic_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.bin", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(planted, sizeof planted, "%s.tmp.AAAAAA", path);
    snprintf(old_name, sizeof old_name, "%s.tmp", path);
    put_file(victim, "precious");
    ck_assert_int_eq(symlink(victim, old_name), 0);
    for (int kind = 0; kind < 3; kind++) {
        if (kind == 0)
            ck_assert_int_eq(symlink(victim, planted), 0);
        else if (kind == 1)
            ck_assert_int_eq(symlink("no-such-file", planted), 0);
        else
            put_file(planted, "another writer's");
        atomic_store(&draws_made, 0);
        atomic_store(&zero_draws, 1);
        ck_assert_int_eq(atomic_file_write(path, "new data", 8), 0);
        int draws = atomic_load(&draws_made);
        ck_assert_msg(draws >= 2, "kind %d: %d draws: the planted name was not met", kind, draws);
        ck_assert_msg(file_holds(path, "new data", 8), "kind %d: wrong content", kind);
        ck_assert_msg(file_holds(victim, "precious", 8), "kind %d: the link was followed", kind);
        struct stat st;
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert_msg(S_ISREG(st.st_mode), "kind %d: the result is not a plain file", kind);
        char target[64];
        ssize_t n;
        switch (kind) {
        case 0:
        case 1:
            n = readlink(planted, target, sizeof target - 1);
            ck_assert_msg(n > 0, "kind %d: the planted link is gone", kind);
            target[n] = '\0';
            ck_assert_str_eq(target, kind == 0 ? victim : "no-such-file");
            break;
        default:
            ck_assert_msg(file_holds(planted, "another writer's", 16), "its file was touched");
        }
        n = readlink(old_name, target, sizeof target - 1);
        ck_assert_msg(n > 0, "kind %d: the link at x.bin.tmp is gone", kind);
        target[n] = '\0';
        ck_assert_str_eq(target, victim);
        list_dir(dir, listing, sizeof listing);
        ck_assert_str_eq(listing, "victim x.bin x.bin.tmp x.bin.tmp.AAAAAA");
        ck_assert_int_eq(unlink(planted), 0);
    }
    /* atomic_file_check draws past a plant in the same way. */
    ck_assert_int_eq(symlink(victim, planted), 0);
    atomic_store(&draws_made, 0);
    atomic_store(&zero_draws, 1);
    ck_assert_int_eq(atomic_file_check(path), 0);
    int draws = atomic_load(&draws_made);
    ck_assert_msg(draws >= 2, "%d draws: the planted name was not met", draws);
    ck_assert_msg(file_holds(victim, "precious", 8), "atomic_file_check followed the link");
    list_dir(dir, listing, sizeof listing);
    ck_assert_str_eq(listing, "victim x.bin x.bin.tmp x.bin.tmp.AAAAAA");
    remove_dir(dir);
}
END_TEST

/* A write that fails leaves the path as it was and removes its own
 * temporary file, and nothing else: not a file at the old name x.bin.tmp
 * (an earlier version's writer may be using it), nor another writer's
 * x.bin.tmp.XXXXXX. errno says why. Every stage is made to fail: creating
 * (no such directory), writing (a file size limit), renaming (the path is a
 * directory), and drawing a free name (every draw taken). */
START_TEST(test_atomic_failure_leaves_nothing)
{
    char dir[64], path[128], other[160], old_name[160], listing[512], missing[160];
    atomic_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.bin", dir);
    snprintf(old_name, sizeof old_name, "%s.tmp", path);
    snprintf(other, sizeof other, "%s.tmp.AAAAAA", path);
    put_file(path, "old");
    put_file(old_name, "an old writer's");
    put_file(other, "a live writer's");
    const char *expected = "x.bin x.bin.tmp x.bin.tmp.AAAAAA";

    snprintf(missing, sizeof missing, "%s/no/such/dir/x.bin", dir);
    errno = 0;
    ck_assert_int_eq(atomic_file_write(missing, "data", 4), -1);
    ck_assert_int_eq(errno, ENOENT);
    errno = 0;
    ck_assert_int_eq(atomic_file_check(missing), -1);
    ck_assert_int_eq(errno, ENOENT);
    errno = 0;
    ck_assert_int_eq(atomic_file_write("", "data", 4), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(atomic_file_write(path, NULL, 4), -1);
    ck_assert_int_eq(errno, EINVAL);

    /* Writing: past RLIMIT_FSIZE write(2) fails with EFBIG (SIGXFSZ ignored). */
    size_t big_len = 64 * 1024;
    uint8_t *big = payload(big_len, 3);
    struct rlimit old_limit, limit;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    limit = old_limit;
    limit.rlim_cur = 4096;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    errno = 0;
    int rc = atomic_file_write(path, big, big_len);
    int err = errno;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    signal(SIGXFSZ, old_handler);
    free(big);
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err, EFBIG);
    ck_assert_msg(file_holds(path, "old", 3), "the path was changed");
    list_dir(dir, listing, sizeof listing);
    ck_assert_str_eq(listing, expected);

    /* Renaming onto a directory fails after the temporary file was written. */
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    errno = 0;
    ck_assert_int_eq(atomic_file_write(sub, "data", 4), -1);
    ck_assert_int_eq(errno, EISDIR);
    ck_assert_int_eq(rmdir(sub), 0);
    list_dir(dir, listing, sizeof listing);
    ck_assert_str_eq(listing, expected);

    /* Every name drawn is taken: EEXIST, after a bounded number of draws. */
    atomic_store(&draws_made, 0);
    atomic_store(&zero_draws, 1 << 20);
    errno = 0;
    ck_assert_int_eq(atomic_file_write(path, "data", 4), -1);
    ck_assert_int_eq(errno, EEXIST);
    errno = 0;
    ck_assert_int_eq(atomic_file_check(path), -1);
    ck_assert_int_eq(errno, EEXIST);
    int draws = atomic_load(&draws_made);
    atomic_store(&zero_draws, 0);
    ck_assert_msg(draws > 2 && draws < 1000, "%d draws", draws);
    ck_assert_msg(file_holds(path, "old", 3), "the path was changed");
    ck_assert_msg(file_holds(old_name, "an old writer's", 15), "x.bin.tmp was touched");
    ck_assert_msg(file_holds(other, "a live writer's", 15), "x.bin.tmp.AAAAAA was touched");
    list_dir(dir, listing, sizeof listing);
    ck_assert_str_eq(listing, expected);
    remove_dir(dir);
}
END_TEST

/* A path with no directory part is written in the working directory (its
 * directory, ".", is what gets fsync'ed after the rename). A path ending in
 * '/' names a directory: refused at once by both calls, not after the data
 * was written, and nothing is made inside that directory. */
START_TEST(test_atomic_paths_relative_and_slashed)
{
    char dir[64], listing[512], slashed[80];
    atomic_dir(dir, sizeof dir);
    char *cwd = getcwd(NULL, 0);
    ck_assert_ptr_nonnull(cwd);
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_int_eq(atomic_file_write("rel.bin", "relative", 8), 0);
    ck_assert(file_holds("rel.bin", "relative", 8));
    ck_assert_int_eq(chdir(cwd), 0);
    free(cwd);
    snprintf(slashed, sizeof slashed, "%s/", dir);
    errno = 0;
    ck_assert_int_eq(atomic_file_check(slashed), -1);
    ck_assert_int_eq(errno, EISDIR);
    errno = 0;
    ck_assert_int_eq(atomic_file_write(slashed, "x", 1), -1);
    ck_assert_int_eq(errno, EISDIR);
    list_dir(dir, listing, sizeof listing);
    ck_assert_str_eq(listing, "rel.bin");
    remove_dir(dir);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_sha256_known_vectors);
    tcase_add_test(tc, test_idx_good_images_and_labels);
    tcase_add_test(tc, test_idx_rejects_bad_files);
    tcase_add_test(tc, test_mnist_split_checks);
    tcase_add_test(tc, test_model_round_trip);
    tcase_add_test(tc, test_model_rejects_damage);
    tcase_add_test(tc, test_model_load_refuses_bad_parameters);
    tcase_add_test(tc, test_model_rejects_absurd_sizes_with_valid_checksum);
    tcase_add_test(tc, test_model_in_place_failure_keeps_buffer);
    tcase_add_test(tc, test_model_header_fields_named);
    tcase_add_test(tc, test_model_short_file_allocates_nothing);
    tcase_add_test(tc, test_model_save_refuses_what_load_would);
    tcase_add_test(tc, test_model_duplicate_metadata_key);
    tcase_add_test(tc, test_model_metadata_value_with_nul);
    tcase_add_test(tc, test_parse_arch);
    suite_add_tcase(s, tc);
    tc = tcase_create("atomic_file");
    tcase_add_checked_fixture(tc, reset_draws, NULL);
    tcase_add_test(tc, test_atomic_concurrent_writers);
    tcase_add_test(tc, test_atomic_mode_follows_umask);
    tcase_add_test(tc, test_atomic_planted_names_left_alone);
    tcase_add_test(tc, test_atomic_failure_leaves_nothing);
    tcase_add_test(tc, test_atomic_paths_relative_and_slashed);
    suite_add_tcase(s, tc);
    tc = tcase_create("heap");
    tcase_add_test(tc, test_heap_policy_keeps_request_memory);
    suite_add_tcase(s, tc);
    tc = tcase_create("maths");
    tcase_add_test(tc, test_forward_hand_computed);
    tcase_add_test(tc, test_bf16_weights);
    tcase_add_test(tc, test_bf16_dot_kernel);
    tcase_add_test(tc, test_int8_weights);
    tcase_add_test(tc, test_int8_dot_kernel);
    tcase_add_test(tc, test_gradient_check);
    tcase_add_test(tc, test_adam_step_hand_computed);
    tcase_add_test(tc, test_sgd_momentum_step);
    tcase_add_test(tc, test_pool_split_covers_range);
    tcase_add_test(tc, test_augment_class_strokes);
    tcase_add_test(tc, test_augment_coarse);
    suite_add_tcase(s, tc);
    tc = tcase_create("mnist");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_mnist_files_verified);
    tcase_add_test(tc, test_short_training_beats_90_percent);
    tcase_add_test(tc, test_training_is_reproducible);
    tcase_add_test(tc, test_shipped_model_accuracy_is_true);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
