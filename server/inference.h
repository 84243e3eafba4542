/* inference.h -- one PNG in, one digit out: the pipeline behind /predict.
 *
 *   PNG bytes --png_read_size--> pixel-limit check (before any pixel memory)
 *             --png_decode--> 8-bit grey, grey + alpha, RGB or RGBA
 *             --preprocess_to_mnist_with--> 28x28 grey, light ink on black,
 *                                  prepared the way the model was trained
 *             --mlp_predict--> 10 probabilities and the argmax
 *
 * It knows nothing about HTTP: routes.c maps the status to a response code.
 * Each stage is timed so that /metrics and the JSON answer can say where the
 * time went.
 */
#ifndef DIGITS_INFERENCE_H
#define DIGITS_INFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model_store.h"
#include "preprocess.h"

typedef enum {
    INFER_OK = 0,
    INFER_NOT_PNG,          /* no PNG signature */
    INFER_CORRUPT_PNG,      /* signature, but undecodable */
    INFER_TOO_MANY_PIXELS,  /* over the configured limit */
    INFER_NO_INK,           /* a blank picture */
    INFER_FAINT_INK,        /* only faint ink, and reading it was not asked for */
    INFER_NO_MEMORY,
    INFER_INTERNAL,         /* the model misbehaved: a server bug, not the client's */
} infer_status;

typedef struct {
    int digit;
    float confidence;
    float probabilities[10];
    int source_width, source_height;
    uint64_t decode_ns, preprocess_ns, forward_ns;
    uint8_t input[MNIST_PIXELS];     /* what the network saw */
    preprocess_info info;
    char detail[200];                /* why it failed, for the error message */
} infer_result;

/* Runs the pipeline. scratch holds sm->scratch_floats floats. read_faint:
 * read ink down to 12 grey levels above the paper (preprocess.h). */
infer_status infer_png(const served_model *sm, const uint8_t *png, size_t len,
                       uint64_t max_pixels, bool read_faint, float *scratch, infer_result *out);

#endif
