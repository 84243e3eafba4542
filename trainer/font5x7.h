/* font5x7.h -- a tiny fixed-width bitmap font for the trainer's PNG plots.
 *
 * The plots are written without any font library so that the trainer needs
 * nothing beyond libpng; 5x7 cells cover digits, upper-case letters and the
 * punctuation that axis labels and titles use. Lower-case letters are drawn
 * as upper case; characters without a glyph are drawn as '?'.
 */
#ifndef DIGITS_FONT5X7_H
#define DIGITS_FONT5X7_H

#include <stdint.h>

#define FONT5X7_WIDTH 5
#define FONT5X7_HEIGHT 7
/* Horizontal distance between the left edges of two characters. */
#define FONT5X7_ADVANCE 6

/* The FONT5X7_HEIGHT rows of character c, top first; bit 4 of each row is the
 * leftmost column. Never NULL. */
const uint8_t *font5x7_glyph(int c);

#endif
