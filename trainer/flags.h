/* flags.h -- the command-line conventions shared by every digits-trainer
 * command: `--name VALUE` or `--name=VALUE`, and messages that name the flag.
 */
#ifndef DIGITS_FLAGS_H
#define DIGITS_FLAGS_H

/* Matches argv[*i] against --name. For a flag that takes a value (value not
 * NULL) the value is stored and *i advanced past it when it was a separate
 * argument. Returns 1 on a match, so *value is always set when 1 comes back.
 * A flag given wrongly (its value missing, or a value given to a switch) is
 * reported, sets *misused and returns 0 like any other flag: a parser's
 * chain of matches then ends in its "unknown flag" branch, which stays
 * silent when *misused says the argument has been reported already. */
int flag_match(int argc, char **argv, int *i, const char *name, const char **value,
               int *misused);

/* Whole number / number in [min, max]; -1 after a message naming the flag.
 * Whole numbers are digits only (a '-' first where min < 0): no spaces or
 * '+', which strtol would let through. */
int flag_parse_int(const char *flag, const char *text, long min, long max, int *out);
/* A non-negative whole number up to 2^64 - 1, digits only (a seed). */
int flag_parse_u64(const char *flag, const char *text, unsigned long long *out);
int flag_parse_float(const char *flag, const char *text, double min, double max, float *out);

#endif
