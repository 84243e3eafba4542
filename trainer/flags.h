/* flags.h -- the command-line conventions shared by every digits-trainer
 * command: `--name VALUE` or `--name=VALUE`, and messages that name the flag.
 */
#ifndef DIGITS_FLAGS_H
#define DIGITS_FLAGS_H

/* Matches argv[*i] against --name. For a flag that takes a value (value not
 * NULL) the value is stored and *i advanced past it when it was a separate
 * argument. Returns 1 on a match, 0 when argv[*i] is another flag, -1 (after
 * a message) when the value is missing or a switch was given one. */
int flag_match(int argc, char **argv, int *i, const char *name, const char **value);

/* Whole number / number in [min, max]; -1 after a message naming the flag
 * (or silently for a NULL text: flag_match's missing value, already said).
 * Callers that read the value themselves must do so only when flag_match
 * returned 1: on -1 the value is NULL. */
int flag_parse_int(const char *flag, const char *text, long min, long max, int *out);
int flag_parse_float(const char *flag, const char *text, double min, double max, float *out);

#endif
