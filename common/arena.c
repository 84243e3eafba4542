/* arena.c -- blocks carved into buffers; see arena.h.
 *
 * Small buffers are carved from blocks (the first holds a whole call on
 * small images, later ones double); a large one gets a block of its own, so
 * that big images need no more memory than with one allocation per buffer.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_FIRST_BLOCK ((size_t)64 << 10)
#define ARENA_LARGE (ARENA_FIRST_BLOCK / 4)
#define ARENA_ALIGN ((size_t)16)

struct arena_block {
    struct arena_block *next;
    size_t size, used;
};

/* Where a block's payload starts: malloc's alignment is kept. */
#define ARENA_HEADER ((sizeof(arena_block) + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1))

/* Under AddressSanitizer every buffer gets a block of its own, so that
 * overruns are still caught at the buffer's end. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_SEPARATE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_SEPARATE 1
#endif
#endif
#ifndef ARENA_SEPARATE
#define ARENA_SEPARATE 0
#endif

void *arena_alloc(arena *a, size_t size)
{
    if (size > SIZE_MAX / 4)
        return NULL;
    size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    arena_block *b = a->head;
    if (!b || b->size - b->used < size) {
        int own = ARENA_SEPARATE || size > ARENA_LARGE;
        size_t cap = own ? size : (a->next_size ? a->next_size : ARENA_FIRST_BLOCK);
        b = malloc(ARENA_HEADER + cap);
        if (!b)
            return NULL;
        b->size = cap;
        b->used = 0;
        if (own && a->head) {
            /* Behind the current block, which keeps serving small ones. */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
        if (!own)
            a->next_size = 2 * cap;
    }
    void *p = (unsigned char *)b + ARENA_HEADER + b->used;
    b->used += size;
    return p;
}

void *arena_zalloc(arena *a, size_t size)
{
    void *p = arena_alloc(a, size);
    if (p)
        memset(p, 0, size);
    return p;
}

void arena_free(arena *a)
{
    while (a->head) {
        arena_block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}
