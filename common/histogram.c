/* histogram.c -- see histogram.h. */
#include "histogram.h"

#include <math.h>
#include <string.h>

/* Four interleaved partial counts: the long runs of one value (paper)
 * would otherwise wait on one counter in memory. */
void histogram_count(const uint8_t *p, size_t n, uint32_t hist[256])
{
    uint32_t part[4][256];
    memset(part, 0, sizeof part);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        part[0][p[i]]++;
        part[1][p[i + 1]]++;
        part[2][p[i + 2]]++;
        part[3][p[i + 3]]++;
    }
    for (; i < n; i++)
        part[0][p[i]]++;
    for (int v = 0; v < 256; v++)
        hist[v] = part[0][v] + part[1][v] + part[2][v] + part[3][v];
}

int histogram_quantile(const uint32_t hist[256], size_t total, double q)
{
    if (total == 0)
        return 0;
    /* (double)acc >= want for an integer acc (exact in double) is
     * acc >= ceil(want), compared here in integers. */
    double want = q * (double)total;
    size_t need = (size_t)ceil(want), acc = 0;
    if (need == 0)
        need = 1;   /* and acc > 0 */
    for (int v = 0; v < 256; v++) {
        acc += hist[v];
        if (acc >= need)
            return v;
    }
    return 255;
}
