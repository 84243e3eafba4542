/* atomic_file.h -- replace a file whole, or not at all.
 *
 * Models, plots, CSV files and labels are written next to their final name
 * and renamed over it, so that a reader (a server reloading its model on
 * SIGHUP, a script reading labels.csv) sees the old file or the new one,
 * never half of one. The data is fsync'ed before the rename; otherwise a
 * crash can leave the new name on an empty file on some filesystems. The
 * directory is fsync'ed after it, so that once atomic_file_write returns 0
 * the new file survives a crash.
 *
 * Each write has a temporary file of its own, PATH.tmp.XXXXXX (six random
 * letters and digits), in the same directory so that rename(2) stays
 * atomic. It is created afresh (O_CREAT | O_EXCL | O_NOFOLLOW): a file or a
 * symbolic link already at that name, whether another writer's or planted
 * by someone who can write the directory, is never written through or
 * removed; another name is drawn instead. So any number of writers of the
 * same path may run at once (two `digits-trainer train --out x.bin`, a
 * trainer and a `variants` run writing the same labels file): each
 * publishes its own complete file, the last rename wins, and the path
 * holds one writer's data whole at every moment.
 *
 * Stale temporaries: a writer that dies between creating its temporary
 * file and renaming it (SIGKILL, a power cut) leaves PATH.tmp.XXXXXX behind.
 * Nothing removes them automatically: such a file cannot be told from a
 * live writer's, and deleting that would bring back the race above. They
 * are never read, are named after the file they were meant to replace, and
 * can be deleted by hand when no writer of PATH is running. (PATH.tmp, the
 * single name earlier versions used, is left alone in the same way.)
 */
#ifndef DIGITS_ATOMIC_FILE_H
#define DIGITS_ATOMIC_FILE_H

#include <stddef.h>

/* Writes len bytes to path as above. The file gets the mode open(2) gives
 * 0644: 0644 less the umask (or as the directory's default ACL says).
 * path itself is replaced: a symbolic link there becomes a regular file
 * (its target is left as it was), and the temporary file is made in the
 * link's directory, which must be writable. A path ending in '/' is
 * refused (EISDIR). Returns 0, or -1 with errno set and nothing left
 * behind: path is as it was and this call's temporary file is removed;
 * but for one case, the directory's fsync failing after the rename (EIO),
 * when path holds the new file and it may not survive a crash. */
int atomic_file_write(const char *path, const void *data, size_t len);

/* Whether atomic_file_write(path, ...) could create its temporary file:
 * creates one (PATH.tmp.XXXXXX) and removes it again. 0, or -1 with errno
 * set. For failing early (before hours of training) rather than at the
 * end. */
int atomic_file_check(const char *path);

#endif
