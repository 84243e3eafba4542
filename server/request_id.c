/* request_id.c -- keep the client's request ID or make one (request_id.h).
 *
 * Generated IDs need to be unique, not secret: they are echoed to the
 * client that asked and written to our own log, and nothing trusts them.
 * So each thread runs the project's xoshiro generator, seeded once from
 * getrandom(2); a request then costs two draws and no system call. (One
 * who collects enough IDs could work out a thread's generator and predict
 * its next IDs; an ID that must not be guessed would need getrandom per
 * request.)
 */
#include "request_id.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "rng.h"

bool request_id_acceptable(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (n == REQUEST_ID_MAX || !(alnum || strchr("-_.:+/=@", c)))
            return false;
    }
    return n > 0;
}

/* A seed from the kernel; where getrandom(2) is refused (an old kernel, a
 * strict seccomp profile) the clock, the process and the thread's own
 * address still make threads' seeds differ. */
static uint64_t fresh_seed(const void *thread_local_address)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
           ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)thread_local_address;
}

static void generate(char out[REQUEST_ID_GENERATED_LEN + 1])
{
    static _Thread_local rng gen;
    static _Thread_local bool seeded;
    if (!seeded) {
        rng_seed(&gen, fresh_seed(&gen));
        seeded = true;
    }
    static const char hex[] = "0123456789abcdef";
    for (int half = 0; half < 2; half++) {
        uint64_t bits = rng_next(&gen);
        for (int i = 0; i < 16; i++, bits >>= 4)
            out[16 * half + i] = hex[bits & 15];
    }
    out[REQUEST_ID_GENERATED_LEN] = '\0';
}

void request_id_assign(const char *incoming, char out[REQUEST_ID_MAX + 1])
{
    if (request_id_acceptable(incoming))
        memcpy(out, incoming, strlen(incoming) + 1);
    else
        generate(out);
}
