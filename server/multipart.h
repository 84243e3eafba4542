/* multipart.h -- a small multipart/form-data parser (RFC 7578 / RFC 2046)
 * over a request body that is already in memory.
 *
 * Parts are not copied: each one points into the body. The parser never
 * reads outside [body, body + len), bounds the number of parts and the size
 * of each part's header block, and treats anything it does not understand as
 * malformed rather than guessing, because the body comes from the network.
 */
#ifndef DIGITS_MULTIPART_H
#define DIGITS_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define MULTIPART_MAX_BOUNDARY 70        /* RFC 2046 */
#define MULTIPART_MAX_NAME 128
#define MULTIPART_MAX_HEADER_BYTES 8192  /* one part's header block */

typedef struct {
    char name[MULTIPART_MAX_NAME + 1];   /* the form field name, "" when absent */
    char filename[MULTIPART_MAX_NAME + 1]; /* truncated if longer; "" when absent */
    char content_type[MULTIPART_MAX_NAME + 1];
    const uint8_t *data;                 /* into the body */
    size_t len;
} multipart_part;

typedef enum {
    MULTIPART_OK = 0,
    MULTIPART_NO_BOUNDARY,     /* Content-Type has no usable boundary parameter */
    MULTIPART_MALFORMED,       /* the body does not follow the format */
    MULTIPART_TOO_MANY_PARTS,  /* more than max_parts parts */
} multipart_status;

const char *multipart_status_text(multipart_status s);

/* Extracts the boundary parameter of a multipart Content-Type value into
 * out (MULTIPART_MAX_BOUNDARY + 1 bytes). */
multipart_status multipart_boundary(const char *content_type, char *out);

/* Splits body into parts. On MULTIPART_OK, *n_parts parts are in parts[]. */
multipart_status multipart_parse(const uint8_t *body, size_t len, const char *boundary,
                                 multipart_part *parts, size_t max_parts, size_t *n_parts);

/* Case-insensitive comparison of the media type of a Content-Type value
 * (the part before any ';', without surrounding blanks) with type. */
int media_type_is(const char *content_type, const char *type);

#endif
