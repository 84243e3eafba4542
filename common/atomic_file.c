/* atomic_file.c -- write beside, fsync, rename; see atomic_file.h. */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* PATH.tmp, malloc'ed; NULL (errno ENOMEM) when out of memory. */
static char *temp_name(const char *path)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + sizeof ".tmp");
    if (!tmp) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", sizeof ".tmp");
    return tmp;
}

/* Creates tmp afresh. Whatever is at that name (a leftover file, or a link
 * to someone else's file) is unlinked once, which removes a link itself,
 * not what it points to; if something appears there again, this fails
 * rather than race for it. */
static int create_fresh(const char *tmp)
{
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(tmp, flags, 0644);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, flags, 0644);
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

/* Checks path and creates its temporary afresh: the descriptor, with *tmp
 * its name (malloc'ed), or -1 with errno set and nothing to free. */
static int open_temp(const char *path, char **tmp)
{
    if (!path || !*path) {
        errno = EINVAL;
        return -1;
    }
    *tmp = temp_name(path);
    if (!*tmp)
        return -1;
    int fd = create_fresh(*tmp);
    if (fd < 0) {
        int saved = errno;
        free(*tmp);
        *tmp = NULL;
        errno = saved;
    }
    return fd;
}

int atomic_file_write(const char *path, const void *data, size_t len)
{
    if (len > 0 && !data) {
        errno = EINVAL;
        return -1;
    }
    char *tmp;
    int fd = open_temp(path, &tmp);
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
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    errno = saved;
    return rc;
}

int atomic_file_check(const char *path)
{
    char *tmp;
    int fd = open_temp(path, &tmp);
    if (fd < 0)
        return -1;
    close(fd);
    unlink(tmp);
    free(tmp);
    return 0;
}
