/* atomic_file.c -- write beside, fsync, rename; see atomic_file.h. */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "rng.h"

/* PATH + ".tmp." + six characters drawn from 62: 62^6 (5.7e10) names, so
 * that writers of one path practically never draw the same one. When they
 * do, O_EXCL turns it into another draw; MAX_DRAWS only bounds a directory
 * someone has filled with names on purpose. */
#define TEMP_INFIX ".tmp."
enum { SUFFIX_LEN = 6, MAX_DRAWS = 100 };

/* 64 bits for a temporary name. They need not be secret: O_EXCL makes a
 * name that is taken a new draw, never a shared file or a followed link,
 * so a guessed name costs a draw and no more. They need only differ
 * between writers. getrandom(2) gives that; where it is refused (an old
 * kernel, a strict seccomp profile) or its pool is not ready yet, the
 * clock, the process and a counter shared by this process's threads make
 * every draw's seed different, and the generator spreads them. */
static uint64_t name_bits(void)
{
    uint64_t bits;
    if (getrandom(&bits, sizeof bits, GRND_NONBLOCK) == (ssize_t)sizeof bits)
        return bits;
    static atomic_uint_fast64_t draws;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                    ((uint64_t)getpid() << 40) ^
                    ((uint64_t)atomic_fetch_add(&draws, 1) * 0x9e3779b97f4a7c15ull);
    rng r;
    rng_seed(&r, seed);
    return rng_next(&r);
}

/* Overwrites the last SUFFIX_LEN characters of tmp with a fresh draw. */
static void draw_suffix(char *tmp, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const uint64_t base = sizeof alphabet - 1;
    uint64_t bits = name_bits();
    for (size_t i = len - SUFFIX_LEN; i < len; i++) {
        tmp[i] = alphabet[bits % base];
        bits /= base;
    }
}

/* Creates a temporary file of this writer's own beside path: the
 * descriptor, with *tmp its name (malloc'ed), or -1 with errno set and
 * nothing to free.
 *
 * O_EXCL is what keeps writers apart: a name held by anything at all (a
 * live writer's file, a crash's leftover, a symbolic link, even a dangling
 * one) fails with EEXIST and another name is drawn; nothing there is
 * removed or written through. O_NOFOLLOW says the same again for a link.
 *
 * The mode is given to open(2) rather than set afterwards: the kernel then
 * applies the umask, or a default ACL of the directory, which takes the
 * umask's place, at creation, as for any file the user creates. mkstemp's
 * 0600 followed by fchmod(0644 & ~umask) was rejected because a library
 * cannot read the umask safely: umask(2) reads it only by setting it, and
 * between umask(0) and restoring it another thread's files would be created
 * with the wrong mode; /proc/self/status shows it only on Linux 4.7 and
 * later with /proc mounted; and fchmod from the umask would override a
 * default ACL. The temporary file is readable as the final one will be,
 * which reveals nothing: it holds what that file is about to. */
static int create_temp(const char *path, char **tmp)
{
    if (!path || !*path) {
        errno = EINVAL;
        return -1;
    }
    size_t n = strlen(path);
    if (path[n - 1] == '/') {
        /* A directory's name: the temporary would be made inside it and
         * the rename onto it would fail only at the end. */
        errno = EISDIR;
        return -1;
    }
    size_t len = n + strlen(TEMP_INFIX) + SUFFIX_LEN;
    char *name = malloc(len + 1);
    if (!name) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(name, path, n);
    memcpy(name + n, TEMP_INFIX, strlen(TEMP_INFIX));
    name[len] = '\0';
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = -1;
    for (int draw = 0; draw < MAX_DRAWS && fd < 0; draw++) {
        draw_suffix(name, len);
        fd = open(name, flags, 0644);
        if (fd < 0 && errno != EEXIST)
            break;  /* no such directory, no permission: another name won't help */
    }
    if (fd < 0) {
        int saved = errno;
        free(name);
        errno = saved;
        return -1;
    }
    *tmp = name;
    return fd;
}

/* write(2) until done: short writes and EINTR are normal on some files. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* fsync(2) of the directory holding path, so that the rename itself is on
 * disk: without it a power cut soon after can bring back the old file, with
 * the new one left as PATH.tmp.XXXXXX. Filesystems that cannot sync a
 * directory (EINVAL, EROFS) count as done; a directory that cannot be
 * opened (not readable) too, as nothing more can be done for it. 0, or -1
 * with errno set. */
static int sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (slash && slash != path) {
        dir = strndup(path, (size_t)(slash - path));
        if (!dir) {
            errno = ENOMEM;
            return -1;
        }
    }
    int fd = open(dir ? dir : (slash ? "/" : "."), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return 0;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0 && (saved == EINVAL || saved == EROFS))
        rc = 0;
    errno = saved;
    return rc;
}

int atomic_file_write(const char *path, const void *data, size_t len)
{
    if (len > 0 && !data) {
        errno = EINVAL;
        return -1;
    }
    char *tmp;
    int fd = create_temp(path, &tmp);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, data, len);
    if (rc == 0)
        rc = fsync(fd);
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        saved = errno;
    }
    /* The name is this call's alone, so removing it can't take another
     * writer's file; after a successful rename it no longer exists. */
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    if (rc == 0 && sync_parent_dir(path) != 0)
        return -1;   /* errno from the directory's fsync */
    errno = saved;
    return rc;
}

int atomic_file_check(const char *path)
{
    char *tmp;
    int fd = create_temp(path, &tmp);
    if (fd < 0)
        return -1;
    close(fd);
    unlink(tmp);
    free(tmp);
    return 0;
}
