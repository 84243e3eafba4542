/* histogram.h -- counts of 8-bit levels, and their quantiles.
 *
 * The preprocessing reads most of its decisions (paper level, polarity,
 * Otsu's threshold, the ink ramp) off histograms of 256 levels.
 */
#ifndef DIGITS_HISTOGRAM_H
#define DIGITS_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

/* hist[v] = how many of the n bytes at p are v. */
void histogram_count(const uint8_t *p, size_t n, uint32_t hist[256]);

/* Smallest value v such that at least q of the total counted pixels are
 * <= v; 0 when total is 0. */
int histogram_quantile(const uint32_t hist[256], size_t total, double q);

#endif
