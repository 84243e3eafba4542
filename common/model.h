/* model.h -- the MLP weights file: its format, loading and saving.
 *
 * A model is a stack of dense layers: sizes[0] inputs (784 for MNIST), any
 * number of ReLU hidden layers, and a softmax output of sizes[n_layers].
 * All parameters live in one flat float buffer; layer l's weight matrix is
 * W[l] (sizes[l] rows x sizes[l+1] columns, row-major, so row k holds the
 * fan-out of input k) followed by its bias b[l] (sizes[l+1] floats).
 *
 * File format, version 1, all integers and floats little-endian:
 *
 *   offset  size  field
 *   0       8     magic "DIGITMLP"
 *   8       4     u32 format version (MODEL_FORMAT_VERSION)
 *   12      4     u32 n_layers (number of weight layers, 1..MODEL_MAX_LAYERS)
 *   16      4*(n_layers+1)   u32 layer sizes, input first
 *   ..      4     u32 hidden activation (1 = ReLU); the output is always softmax
 *   ..      4     u32 input width, 4 u32 input height (28 x 28)
 *   ..      4     f32 input scale, 4 f32 input offset: x = pixel * scale + offset,
 *                 pixels being 0..255 with 0 = background (MNIST polarity)
 *   ..      4     u32 metadata entry count, then per entry:
 *                 u16 key length, key bytes, u32 value length, value bytes (UTF-8)
 *   ..      8     u64 parameter count (must equal what the sizes imply)
 *   ..      4*n   f32 parameters, layer by layer: W then b
 *   end-32  32    SHA-256 of every byte before it
 *
 * The loader treats the file as hostile: every length is checked against the
 * bytes that remain and against the MODEL_MAX_* bounds before it is used.
 */
#ifndef DIGITS_MODEL_H
#define DIGITS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define MODEL_MAGIC "DIGITMLP"
#define MODEL_FORMAT_VERSION 1u
#define MODEL_MAX_LAYERS 8
#define MODEL_MAX_WIDTH 8192
#define MODEL_MAX_PARAMS (64u * 1024u * 1024u)   /* 256 MiB of float32 */
#define MODEL_MAX_FILE_BYTES ((size_t)300 * 1024 * 1024)
#define MODEL_MAX_META_ENTRIES 64
#define MODEL_MAX_META_KEY 64
#define MODEL_MAX_META_VALUE 4096

enum { MODEL_ACT_RELU = 1 };

typedef struct {
    char key[MODEL_MAX_META_KEY + 1];
    char *value;                 /* NUL-terminated, owned by the model */
} model_meta_entry;

typedef struct {
    int n_layers;                          /* weight layers */
    int sizes[MODEL_MAX_LAYERS + 1];       /* sizes[0] = inputs, sizes[n_layers] = classes */
    int activation;                        /* MODEL_ACT_RELU */
    int input_width, input_height;
    float input_scale, input_offset;

    size_t n_params;
    float *params;                         /* owned; W and b point into it */
    float *W[MODEL_MAX_LAYERS];
    float *b[MODEL_MAX_LAYERS];

    int n_meta;
    model_meta_entry meta[MODEL_MAX_META_ENTRIES];
} model;

/* Allocates a model for the given layer sizes (n_sizes = layers + 1) with
 * zeroed parameters, ReLU, 28x28 input scaled by 1/255 (set input_width and
 * input_height for a first layer of another size: model_save refuses a
 * picture that does not match it). Returns 0, or -1 and a message in err. */
int model_init(model *m, const int *sizes, int n_sizes, char *err, size_t err_len);
void model_free(model *m);

/* Sets (or replaces) a metadata value. Returns 0 or -1 on bad key/length. */
int model_set_meta(model *m, const char *key, const char *value);
/* The value for key, or NULL. */
const char *model_get_meta(const model *m, const char *key);

/* 1 when every parameter is a finite number no larger than 1e30 in size,
 * as model_parse() demands of a file; else 0, with the first that is not
 * in *bad (when bad is not NULL). A diverged training run fails this. */
int model_params_usable(const model *m, size_t *bad);

/* Writes the model to path atomically (atomic_file_write: a temporary file
 * of this call's own beside it, fsync, rename). A model no loader would
 * take is refused, naming why: parameters that are not usable, sizes out
 * of bounds, an input picture that does not match the first layer, an
 * implausible normalisation or an unknown activation. */
int model_save(const model *m, const char *path, char *err, size_t err_len);

/* Parses a model from memory, validating everything. Returns 0, or -1 with a
 * message that says what is wrong. */
int model_parse(model *m, const uint8_t *data, size_t len, char *err, size_t err_len);

/* The same on a malloc'd buffer handed over by the caller: the parameters
 * are decoded into it, so a file needs its size in memory once, not twice.
 * On success the model owns data (model_free frees it, shrunk to the
 * parameters); on failure the caller still owns it, unchanged (every
 * check comes before the first parameter is written). */
int model_parse_in_place(model *m, uint8_t *data, size_t len, char *err, size_t err_len);

/* Reads and parses a model file (with model_parse_in_place). */
int model_load(model *m, const char *path, char *err, size_t err_len);

/* "784-128-10" into buf. */
void model_arch_string(const model *m, char *buf, size_t buf_len);

/* Parses "784-128-10" into sizes; returns the number of sizes or -1. */
int model_parse_arch(const char *text, int *sizes, int max_sizes);

#endif
