/* request_id.h -- the ID that ties a request's log line to what its client
 * and any proxy in front of us saw.
 *
 * A client or proxy may send its own ID in X-Request-Id; the server keeps
 * it when it is a plain token, so one ID follows the request through every
 * hop. Otherwise (absent, too long, or with characters that a log parser
 * or a header could trip over) the server makes one up: 32 hex digits, as
 * long as nginx's $request_id, unique but not unguessable (see
 * request_id.c). Either way the ID goes back in the response's
 * X-Request-Id and into the request's log line.
 */
#ifndef DIGITS_REQUEST_ID_H
#define DIGITS_REQUEST_ID_H

#include <stdbool.h>
#include <stddef.h>

#define REQUEST_ID_HEADER "X-Request-Id"
/* The longest ID kept from a client; longer ones are replaced. */
#define REQUEST_ID_MAX 128
/* Digits of a generated ID. */
#define REQUEST_ID_GENERATED_LEN 32

/* true when s is 1..REQUEST_ID_MAX characters, each a letter, a digit or
 * one of - _ . : + / = @ (UUIDs, base64 and the usual tracing IDs). */
bool request_id_acceptable(const char *s);

/* out (REQUEST_ID_MAX + 1 bytes) gets `incoming` when it is acceptable,
 * else a new ID. Thread-safe: each thread draws from a generator of its own,
 * seeded from the kernel the first time it is used. */
void request_id_assign(const char *incoming, char out[REQUEST_ID_MAX + 1]);

#endif
