/* atomic_temp_files.h -- for tests of what writes files through
 * atomic_file_write: how many of its temporary files are left beside a
 * path (PATH.tmp.XXXXXX, and the single PATH.tmp earlier versions used).
 * After a write, or a failed one, there must be none.
 */
#ifndef DIGITS_TESTS_ATOMIC_TEMP_FILES_H
#define DIGITS_TESTS_ATOMIC_TEMP_FILES_H

#include <check.h>
#include <glob.h>
#include <stdio.h>

static inline size_t atomic_temp_files_beside(const char *path)
{
    char pattern[600];
    ck_assert_int_lt(snprintf(pattern, sizeof pattern, "%s.tmp*", path), (int)sizeof pattern);
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g);
    ck_assert_msg(rc == 0 || rc == GLOB_NOMATCH, "glob %s: %d", pattern, rc);
    size_t n = rc == 0 ? g.gl_pathc : 0;
    globfree(&g);
    return n;
}

#endif
