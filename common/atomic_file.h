/* atomic_file.h -- replace a file whole, or not at all.
 *
 * Models, plots, CSV files and labels are written next to their final name
 * and renamed over it, so that a reader (a server reloading its model on
 * SIGHUP, a script reading labels.csv) sees the old file or the new one,
 * never half of one. The temporary name is PATH.tmp, created afresh
 * (O_CREAT | O_EXCL | O_NOFOLLOW): a file or a symbolic link left there by a
 * crash, or planted by someone who can write the directory, is removed and
 * never written through. The data is fsync'ed before the rename; otherwise
 * a crash can leave the new name on an empty file on some filesystems.
 * One writer per path at a time: a second one at once would remove the
 * first's temporary file and the two could publish each other's data.
 */
#ifndef DIGITS_ATOMIC_FILE_H
#define DIGITS_ATOMIC_FILE_H

#include <stddef.h>

/* Writes len bytes to path as above (mode 0644 less the umask). Returns 0,
 * or -1 with errno set and nothing left behind at path or PATH.tmp. */
int atomic_file_write(const char *path, const void *data, size_t len);

/* Whether atomic_file_write(path, ...) could create its temporary file:
 * creates PATH.tmp and removes it again. 0, or -1 with errno set. For
 * failing early (before hours of training) rather than at the end. */
int atomic_file_check(const char *path);

#endif
