/* heap_policy.h -- let one upload's memory serve the next.
 *
 * Decoding and preprocessing an upload allocate from a few hundred KB (a
 * 280x280 canvas export) to tens of MB (a photo) and free all of it when
 * the request ends. glibc's malloc hands such memory back to the kernel
 * straight away: a block over its mmap threshold is unmapped when freed,
 * and a heap is trimmed whenever more than its trim threshold lies free at
 * its top. Both start at 128 KB; freeing a block that had a mapping of
 * its own lifts the mmap threshold to that block's size and the trim
 * threshold to twice it (up to 32 MB), so a process that has only seen
 * small pictures keeps them low. The next request then takes a page fault for every page it
 * touches, and the kernel zero-fills each one: 70 faults per
 * ../shared/realdigits upload, a quarter of its decoding and preprocessing
 * time (tests/bench/upload_speed).
 *
 * heap_policy_keep_request_memory() sets both thresholds once, at start-up,
 * which also stops glibc from moving them: blocks under
 * HEAP_POLICY_MMAP_BYTES come from the heap, and up to
 * HEAP_POLICY_TRIM_BYTES may lie free at a heap's top. The price is memory
 * kept between requests: glibc only ever gives back the top of a heap, so
 * each thread's heap can stay about as large as the most it held at once
 * (a large upload's buffers, while other connections' smaller ones sat
 * above them), where before blocks over the thresholds went back on free.
 */
#ifndef DIGITS_HEAP_POLICY_H
#define DIGITS_HEAP_POLICY_H

#define HEAP_POLICY_MMAP_BYTES (32 << 20)
#define HEAP_POLICY_TRIM_BYTES (16 << 20)

/* Call before starting threads. Returns 0, or -1 where the allocator
 * refuses the settings (not glibc, or AddressSanitizer's); one that accepts
 * and ignores them (valgrind's) gives 0. The program works either way,
 * only slower on all but the smallest pictures. */
int heap_policy_keep_request_memory(void);

#endif
