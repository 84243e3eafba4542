/* flags.c -- flag matching and number parsing for digits-trainer (flags.h). */
#include "flags.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int flag_match(int argc, char **argv, int *i, const char *name, const char **value,
               int *misused)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0 || (arg[len] != '\0' && arg[len] != '='))
        return 0;
    if (!value) {
        if (arg[len] == '=') {
            fprintf(stderr, "digits-trainer: %s takes no value\n", name);
            *misused = 1;
            return 0;
        }
        return 1;
    }
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "digits-trainer: %s needs a value\n", name);
        *misused = 1;
        return 0;
    }
    *value = argv[++*i];
    return 1;
}

int flag_parse_int(const char *flag, const char *text, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    int digits_only = isdigit((unsigned char)text[0]) ||
                      (min < 0 && text[0] == '-' && isdigit((unsigned char)text[1]));
    if (!digits_only || errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, "digits-trainer: %s '%s' is not a whole number in %ld..%ld\n", flag,
                text, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int flag_parse_float(const char *flag, const char *text, double min, double max, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "digits-trainer: %s '%s' is not a number in %g..%g\n", flag, text, min,
                max);
        return -1;
    }
    *out = (float)v;
    return 0;
}

int flag_parse_u64(const char *flag, const char *text, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!isdigit((unsigned char)text[0]) || errno || *end) {
        fprintf(stderr, "digits-trainer: %s '%s' is not a non-negative integer\n", flag, text);
        return -1;
    }
    *out = v;
    return 0;
}
