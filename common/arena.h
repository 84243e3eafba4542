/* arena.h -- scratch memory for one call of the preprocessing.
 *
 * Every buffer of one call comes from an arena released at the end: a call
 * needs some twenty buffers, and for a 28x28 digit their malloc/calloc/free
 * round trips were a sizeable share of the time. Buffers are never freed one
 * by one; arena_free releases them all.
 */
#ifndef DIGITS_ARENA_H
#define DIGITS_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;

/* Start from {NULL, 0}. */
typedef struct {
    arena_block *head;    /* the block small buffers come from, then older ones */
    size_t next_size;     /* of the next block for small buffers */
} arena;

/* Uninitialised memory aligned to 16 bytes; NULL when out of memory (or
 * size is absurd: over SIZE_MAX / 4). */
void *arena_alloc(arena *a, size_t size);

/* The same, zeroed. */
void *arena_zalloc(arena *a, size_t size);

/* Releases every buffer; the arena is empty again and can be reused. */
void arena_free(arena *a);

#endif
