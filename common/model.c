/* model.c -- saving and (defensively) loading the MLP weights file.
 *
 * The format is documented in model.h. Saving serialises into one buffer so
 * the checksum covers exactly the bytes written; loading verifies the magic,
 * the version and the checksum before it trusts any length field, then walks
 * the fields with a cursor that refuses to read past the end.
 */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "idx.h"
#include "sha256.h"

#define MAGIC_LEN 8
#define CHECKSUM_LEN 32

/* ---- sizes ------------------------------------------------------------- */

static size_t params_for(const int *sizes, int n_layers)
{
    size_t total = 0;
    for (int l = 0; l < n_layers; l++)
        total += (size_t)sizes[l] * (size_t)sizes[l + 1] + (size_t)sizes[l + 1];
    return total;
}

static void point_layers(model *m)
{
    float *p = m->params;
    for (int l = 0; l < m->n_layers; l++) {
        m->W[l] = p;
        p += (size_t)m->sizes[l] * (size_t)m->sizes[l + 1];
        m->b[l] = p;
        p += m->sizes[l + 1];
    }
}

static int check_sizes(const int *sizes, int n_sizes, char *err, size_t err_len)
{
    if (n_sizes < 2 || n_sizes > MODEL_MAX_LAYERS + 1) {
        snprintf(err, err_len, "a model needs 2..%d layer sizes, got %d", MODEL_MAX_LAYERS + 1,
                 n_sizes);
        return -1;
    }
    for (int i = 0; i < n_sizes; i++) {
        if (sizes[i] < 1 || sizes[i] > MODEL_MAX_WIDTH) {
            snprintf(err, err_len, "layer %d has size %d, outside 1..%d", i, sizes[i],
                     MODEL_MAX_WIDTH);
            return -1;
        }
    }
    if (params_for(sizes, n_sizes - 1) > MODEL_MAX_PARAMS) {
        snprintf(err, err_len, "%zu parameters is more than the limit of %u",
                 params_for(sizes, n_sizes - 1), MODEL_MAX_PARAMS);
        return -1;
    }
    return 0;
}

/* What the loader demands of the fields after the sizes; model_save asks
 * the same, so that no file is written that no loader would take. */
static int check_input(uint32_t activation, uint32_t width, uint32_t height, int inputs,
                       float scale, float offset, char *err, size_t err_len)
{
    if (activation != MODEL_ACT_RELU) {
        snprintf(err, err_len, "unknown activation %u (this build knows 1 = ReLU)", activation);
        return -1;
    }
    if (width < 1 || height < 1 || width > 1024 || height > 1024 ||
        (uint64_t)width * height != (uint64_t)inputs) {
        snprintf(err, err_len, "input %ux%u does not match the %d inputs of the first layer",
                 width, height, inputs);
        return -1;
    }
    if (!(scale > 0.0f && scale < 1e6f) || !(offset > -1e6f && offset < 1e6f)) {
        snprintf(err, err_len, "implausible input normalisation scale %g offset %g", scale,
                 offset);
        return -1;
    }
    return 0;
}

/* The shape of a model, with zeroed parameters when allocate is set; else
 * params stays NULL for the caller to provide (see parse_file). */
static int init_shape(model *m, const int *sizes, int n_sizes, int allocate, char *err,
                      size_t err_len)
{
    memset(m, 0, sizeof *m);
    if (check_sizes(sizes, n_sizes, err, err_len) != 0)
        return -1;
    m->n_layers = n_sizes - 1;
    memcpy(m->sizes, sizes, sizeof(int) * (size_t)n_sizes);
    m->activation = MODEL_ACT_RELU;
    m->input_width = 28;
    m->input_height = 28;
    m->input_scale = 1.0f / 255.0f;
    m->input_offset = 0.0f;
    m->n_params = params_for(sizes, m->n_layers);
    if (!allocate)
        return 0;
    m->params = calloc(m->n_params, sizeof(float));
    if (!m->params) {
        snprintf(err, err_len, "out of memory for %zu parameters", m->n_params);
        return -1;
    }
    point_layers(m);
    return 0;
}

int model_init(model *m, const int *sizes, int n_sizes, char *err, size_t err_len)
{
    return init_shape(m, sizes, n_sizes, 1, err, err_len);
}

void model_free(model *m)
{
    free(m->params);
    for (int i = 0; i < m->n_meta; i++)
        free(m->meta[i].value);
    memset(m, 0, sizeof *m);
}

int model_set_meta(model *m, const char *key, const char *value)
{
    size_t key_len = strlen(key), value_len = strlen(value);
    if (key_len == 0 || key_len > MODEL_MAX_META_KEY || value_len > MODEL_MAX_META_VALUE)
        return -1;
    int slot = -1;
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0)
            slot = i;
    if (slot < 0) {
        if (m->n_meta == MODEL_MAX_META_ENTRIES)
            return -1;
        slot = m->n_meta;
    }
    char *copy = malloc(value_len + 1);
    if (!copy)
        return -1;
    memcpy(copy, value, value_len + 1);
    if (slot == m->n_meta) {
        memcpy(m->meta[slot].key, key, key_len + 1);
        m->meta[slot].value = NULL;
        m->n_meta++;
    }
    free(m->meta[slot].value);
    m->meta[slot].value = copy;
    return 0;
}

const char *model_get_meta(const model *m, const char *key)
{
    for (int i = 0; i < m->n_meta; i++)
        if (strcmp(m->meta[i].key, key) == 0)
            return m->meta[i].value;
    return NULL;
}

void model_arch_string(const model *m, char *buf, size_t buf_len)
{
    size_t used = 0;
    if (buf_len == 0)
        return;
    buf[0] = '\0';
    for (int i = 0; i <= m->n_layers && used < buf_len; i++) {
        int n = snprintf(buf + used, buf_len - used, i ? "-%d" : "%d", m->sizes[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

int model_parse_arch(const char *text, int *sizes, int max_sizes)
{
    int count = 0;
    const char *p = text;
    while (*p) {
        if (*p < '0' || *p > '9')   /* strtol would also take spaces and signs */
            return -1;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno != 0 || v < 1 || v > MODEL_MAX_WIDTH || count == max_sizes)
            return -1;
        sizes[count++] = (int)v;
        if (*end == '-' && end[1] != '\0')
            end++;
        else if (*end != '\0')
            return -1;
        p = end;
    }
    return count >= 2 ? count : -1;
}

/* ---- writing ----------------------------------------------------------- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
    int failed;
} byte_buffer;

static void put_bytes(byte_buffer *b, const void *src, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void put_u16(byte_buffer *b, uint16_t v)
{
    uint8_t le[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put_bytes(b, le, 2);
}

static void put_u32(byte_buffer *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put_bytes(b, le, 4);
}

static void put_u64(byte_buffer *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_f32(byte_buffer *b, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    put_u32(b, bits);
}

/* NaN fails both comparisons; the bound keeps later sums finite. */
static int param_usable(float v)
{
    return v >= -1e30f && v <= 1e30f;
}

int model_params_usable(const model *m, size_t *bad)
{
    for (size_t i = 0; i < m->n_params; i++)
        if (!param_usable(m->params[i])) {
            if (bad)
                *bad = i;
            return 0;
        }
    return 1;
}

int model_save(const model *m, const char *path, char *err, size_t err_len)
{
    size_t bad;
    if (!model_params_usable(m, &bad)) {
        snprintf(err, err_len, "%s: parameter %zu is not a finite number; not written", path, bad);
        return -1;
    }
    char why[160];
    if (check_sizes(m->sizes, m->n_layers + 1, why, sizeof why) != 0 ||
        check_input((uint32_t)m->activation, (uint32_t)m->input_width,
                    (uint32_t)m->input_height, m->sizes[0], m->input_scale, m->input_offset,
                    why, sizeof why) != 0) {
        snprintf(err, err_len, "%s: %s; not written", path, why);
        return -1;
    }
    byte_buffer b = {0};
    put_bytes(&b, MODEL_MAGIC, MAGIC_LEN);
    put_u32(&b, MODEL_FORMAT_VERSION);
    put_u32(&b, (uint32_t)m->n_layers);
    for (int i = 0; i <= m->n_layers; i++)
        put_u32(&b, (uint32_t)m->sizes[i]);
    put_u32(&b, (uint32_t)m->activation);
    put_u32(&b, (uint32_t)m->input_width);
    put_u32(&b, (uint32_t)m->input_height);
    put_f32(&b, m->input_scale);
    put_f32(&b, m->input_offset);
    put_u32(&b, (uint32_t)m->n_meta);
    for (int i = 0; i < m->n_meta; i++) {
        size_t kl = strlen(m->meta[i].key), vl = strlen(m->meta[i].value);
        put_u16(&b, (uint16_t)kl);
        put_bytes(&b, m->meta[i].key, kl);
        put_u32(&b, (uint32_t)vl);
        put_bytes(&b, m->meta[i].value, vl);
    }
    put_u64(&b, m->n_params);
    for (size_t i = 0; i < m->n_params; i++)
        put_f32(&b, m->params[i]);
    if (b.failed) {
        free(b.data);
        snprintf(err, err_len, "%s: out of memory while serialising the model", path);
        return -1;
    }
    uint8_t digest[CHECKSUM_LEN];
    sha256(b.data, b.len, digest);
    put_bytes(&b, digest, CHECKSUM_LEN);
    if (b.failed) {
        free(b.data);
        snprintf(err, err_len, "%s: out of memory while serialising the model", path);
        return -1;
    }

    int rc = atomic_file_write(path, b.data, b.len);
    free(b.data);
    if (rc != 0) {
        snprintf(err, err_len, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- reading ----------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t left;
} cursor;

static int take(cursor *c, void *dst, size_t n)
{
    if (c->left < n)
        return -1;
    memcpy(dst, c->p, n);
    c->p += n;
    c->left -= n;
    return 0;
}

static int take_u16(cursor *c, uint16_t *v)
{
    uint8_t le[2];
    if (take(c, le, 2) != 0)
        return -1;
    *v = (uint16_t)(le[0] | le[1] << 8);
    return 0;
}

static int take_u32(cursor *c, uint32_t *v)
{
    uint8_t le[4];
    if (take(c, le, 4) != 0)
        return -1;
    *v = (uint32_t)le[0] | (uint32_t)le[1] << 8 | (uint32_t)le[2] << 16 | (uint32_t)le[3] << 24;
    return 0;
}

static int take_f32(cursor *c, float *f)
{
    uint32_t bits;
    if (take_u32(c, &bits) != 0)
        return -1;
    memcpy(f, &bits, 4);
    return 0;
}

static int parse_metadata(model *m, cursor *c, char *err, size_t err_len)
{
    uint32_t count;
    if (take_u32(c, &count) != 0) {
        snprintf(err, err_len, "truncated before the metadata count");
        return -1;
    }
    if (count > MODEL_MAX_META_ENTRIES) {
        snprintf(err, err_len, "%u metadata entries is more than the limit of %d", count,
                 MODEL_MAX_META_ENTRIES);
        return -1;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint16_t key_len;
        uint32_t value_len;
        char key[MODEL_MAX_META_KEY + 1];
        if (take_u16(c, &key_len) != 0 || key_len == 0 || key_len > MODEL_MAX_META_KEY ||
            take(c, key, key_len) != 0) {
            snprintf(err, err_len, "metadata entry %u has a bad or truncated key", i);
            return -1;
        }
        key[key_len] = '\0';
        /* model_set_meta would overwrite: a file naming a key twice was not
         * written by model_save, and which value it means is a guess. */
        if (model_get_meta(m, key) != NULL) {
            snprintf(err, err_len, "metadata key '%s' appears twice", key);
            return -1;
        }
        if (take_u32(c, &value_len) != 0 || value_len > MODEL_MAX_META_VALUE ||
            value_len > c->left) {
            snprintf(err, err_len, "metadata entry '%s' has a bad or truncated value", key);
            return -1;
        }
        char *value = malloc(value_len + 1);
        if (!value) {
            snprintf(err, err_len, "out of memory for metadata");
            return -1;
        }
        take(c, value, value_len);
        value[value_len] = '\0';
        if (memchr(value, '\0', value_len) || memchr(key, '\0', key_len)) {
            free(value);
            snprintf(err, err_len, "metadata entry %u contains a NUL byte", i);
            return -1;
        }
        int rc = model_set_meta(m, key, value);
        free(value);
        if (rc != 0) {
            snprintf(err, err_len, "metadata entry '%s' could not be stored", key);
            return -1;
        }
    }
    return 0;
}

/* in_place: the file's own buffer, to decode the parameters into (see
 * parse_file), or NULL to allocate them. */
static int parse_body(model *m, cursor *c, uint8_t *in_place, char *err, size_t err_len)
{
    uint32_t n_layers, act, width, height;
    if (take_u32(c, &n_layers) != 0) {
        snprintf(err, err_len, "truncated before the layer count");
        return -1;
    }
    if (n_layers < 1 || n_layers > MODEL_MAX_LAYERS) {
        snprintf(err, err_len, "layer count %u is outside 1..%d", n_layers, MODEL_MAX_LAYERS);
        return -1;
    }
    int sizes[MODEL_MAX_LAYERS + 1];
    for (uint32_t i = 0; i <= n_layers; i++) {
        uint32_t s;
        if (take_u32(c, &s) != 0) {
            snprintf(err, err_len, "truncated in the layer sizes");
            return -1;
        }
        if (s < 1 || s > MODEL_MAX_WIDTH) {
            snprintf(err, err_len, "layer %u has size %u, outside 1..%d", i, s, MODEL_MAX_WIDTH);
            return -1;
        }
        sizes[i] = (int)s;
    }
    if (check_sizes(sizes, (int)n_layers + 1, err, err_len) != 0)
        return -1;
    if (take_u32(c, &act) != 0 || take_u32(c, &width) != 0 || take_u32(c, &height) != 0) {
        snprintf(err, err_len, "truncated in the layer description");
        return -1;
    }
    float scale, offset;
    if (take_f32(c, &scale) != 0 || take_f32(c, &offset) != 0) {
        snprintf(err, err_len, "truncated in the input normalisation");
        return -1;
    }
    if (check_input(act, width, height, sizes[0], scale, offset, err, err_len) != 0)
        return -1;
    /* No parameters yet: they are allocated (or placed) only once the file
     * is known to hold them all, so a short file claiming 64M parameters
     * costs nothing. */
    if (init_shape(m, sizes, (int)n_layers + 1, 0, err, err_len) != 0)
        return -1;
    m->input_width = (int)width;
    m->input_height = (int)height;
    m->input_scale = scale;
    m->input_offset = offset;
    if (parse_metadata(m, c, err, err_len) != 0)
        return -1;

    uint32_t lo, hi;
    if (take_u32(c, &lo) != 0 || take_u32(c, &hi) != 0) {
        snprintf(err, err_len, "truncated before the parameter count");
        return -1;
    }
    uint64_t n_params = (uint64_t)hi << 32 | lo;
    if (n_params != m->n_params) {
        snprintf(err, err_len, "file holds %llu parameters but architecture needs %zu",
                 (unsigned long long)n_params, m->n_params);
        return -1;
    }
    if (c->left != m->n_params * 4) {
        snprintf(err, err_len, "%zu bytes of parameters, expected %zu", c->left,
                 m->n_params * 4);
        return -1;
    }
    /* Every parameter is checked before any is written, so that a refused
     * file leaves an in-place buffer as it was. */
    cursor scan = *c;
    for (size_t i = 0; i < m->n_params; i++) {
        float v = 0.0f;   /* take_f32 cannot fail: the length was checked */
        take_f32(&scan, &v);
        if (!param_usable(v)) {
            snprintf(err, err_len, "parameter %zu is not a finite number", i);
            return -1;
        }
    }
    /* Parameter i is read from 4 * i bytes past the header and written 4 * i
     * bytes from the buffer's start, so in place every read comes before
     * the writes reach it. malloc's alignment suits floats. */
    float *dst = in_place ? (float *)(void *)in_place : malloc(m->n_params * sizeof *dst);
    if (!dst) {
        snprintf(err, err_len, "out of memory for %zu parameters", m->n_params);
        return -1;
    }
    for (size_t i = 0; i < m->n_params; i++)
        take_f32(c, &dst[i]);
    m->params = dst;
    point_layers(m);
    return 0;
}

/* Validates and parses a model file held in data. With in_place (data's own
 * writable, malloc'd buffer) the parameters are decoded into that buffer,
 * which the model then owns: loading a file then needs its size in memory
 * once, not twice. */
static int parse_file(model *m, const uint8_t *data, uint8_t *in_place, size_t len, char *err,
                      size_t err_len)
{
    memset(m, 0, sizeof *m);
    if (len < MAGIC_LEN + 4 + CHECKSUM_LEN) {
        snprintf(err, err_len, "%zu bytes is too short to be a model file", len);
        return -1;
    }
    if (memcmp(data, MODEL_MAGIC, MAGIC_LEN) != 0) {
        snprintf(err, err_len, "not a digits model file (bad magic)");
        return -1;
    }
    uint32_t version = (uint32_t)data[8] | (uint32_t)data[9] << 8 | (uint32_t)data[10] << 16 |
                       (uint32_t)data[11] << 24;
    if (version != MODEL_FORMAT_VERSION) {
        snprintf(err, err_len, "unsupported model format version %u (this build reads %u)",
                 version, MODEL_FORMAT_VERSION);
        return -1;
    }
    uint8_t digest[CHECKSUM_LEN];
    sha256(data, len - CHECKSUM_LEN, digest);
    if (memcmp(digest, data + len - CHECKSUM_LEN, CHECKSUM_LEN) != 0) {
        snprintf(err, err_len, "checksum mismatch: the file is corrupted or truncated");
        return -1;
    }
    cursor c = {data + MAGIC_LEN + 4, len - MAGIC_LEN - 4 - CHECKSUM_LEN};
    if (parse_body(m, &c, in_place, err, err_len) != 0) {
        model_free(m);   /* params is never in_place here: that is set last */
        return -1;
    }
    return 0;
}

int model_parse(model *m, const uint8_t *data, size_t len, char *err, size_t err_len)
{
    return parse_file(m, data, NULL, len, err, err_len);
}

int model_parse_in_place(model *m, uint8_t *data, size_t len, char *err, size_t err_len)
{
    if (parse_file(m, data, data, len, err, err_len) != 0)
        return -1;
    /* The parameters now fill the buffer's start; give back the rest. */
    float *fitted = realloc(m->params, m->n_params * sizeof(float));
    if (fitted) {
        m->params = fitted;
        point_layers(m);
    }
    return 0;
}

int model_load(model *m, const char *path, char *err, size_t err_len)
{
    memset(m, 0, sizeof *m);
    uint8_t *data;
    size_t len;
    if (read_file_bounded(path, MODEL_MAX_FILE_BYTES, &data, &len, err, err_len) != 0)
        return -1;
    char inner[512];
    if (model_parse_in_place(m, data, len, inner, sizeof inner) != 0) {
        free(data);
        snprintf(err, err_len, "%s: %s", path, inner);
        return -1;
    }
    return 0;
}
