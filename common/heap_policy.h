/* heap_policy.h -- let one upload's memory serve the next.
 *
 * Decoding and preprocessing an upload allocate from a few hundred KB (a
 * 280x280 canvas export) to tens of MB (a photo) and free all of it when
 * the request ends. glibc's malloc hands such memory back to the kernel
 * straight away: a block over its mmap threshold (128 KB at first, later
 * the largest block freed so far) is unmapped on free, and the heap is
 * trimmed whenever more than twice that threshold lies free at its top. The
 * next request then takes a page fault for every page it touches, and the
 * kernel zero-fills each one: 230 faults per 280x280 RGBA upload, more than
 * half of its preprocessing time (tests/bench/preprocess_speed).
 *
 * heap_policy_keep_request_memory() sets both limits once, at start-up:
 * blocks under HEAP_POLICY_MMAP_BYTES come from the heap, and up to
 * HEAP_POLICY_TRIM_BYTES may lie free at a heap's top before it is given
 * back. The price is memory a thread keeps between requests: after a large
 * upload, each thread's heap may hold up to HEAP_POLICY_TRIM_BYTES it is
 * not using. Images over HEAP_POLICY_MMAP_BYTES decoded (about 8 Mpx RGBA)
 * are still mapped and unmapped on their own.
 */
#ifndef DIGITS_HEAP_POLICY_H
#define DIGITS_HEAP_POLICY_H

#define HEAP_POLICY_MMAP_BYTES (32 << 20)
#define HEAP_POLICY_TRIM_BYTES (16 << 20)

/* Call before starting threads. Returns 0, or -1 where the C library does
 * not take the settings (not glibc, or a sanitizer's allocator); the
 * program works either way, only slower on large images. */
int heap_policy_keep_request_memory(void);

#endif
