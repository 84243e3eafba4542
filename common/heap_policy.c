/* heap_policy.c -- glibc's malloc tuned for per-request image buffers; see
 * heap_policy.h. */
#include "heap_policy.h"

#include <stdlib.h>   /* defines __GLIBC__ on glibc */
#ifdef __GLIBC__
#include <malloc.h>
#endif

int heap_policy_keep_request_memory(void)
{
#ifdef __GLIBC__
    /* mallopt returns 1 when it took the setting. Setting either value also
     * stops glibc from moving the thresholds by itself. */
    if (mallopt(M_MMAP_THRESHOLD, HEAP_POLICY_MMAP_BYTES) != 1 ||
        mallopt(M_TRIM_THRESHOLD, HEAP_POLICY_TRIM_BYTES) != 1)
        return -1;
    return 0;
#else
    return -1;
#endif
}
