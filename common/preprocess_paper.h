/* preprocess_paper.h -- steps 0 to 2: the picture as grey levels on paper.
 *
 * Reduces very large photos, composites transparency onto the paper it
 * belongs on and takes luma, then measures the border and decides the
 * polarity: whether the ink is darker than the paper (dark ink on white, a
 * sheet photographed on a desk, a page half in shadow) or lighter (chalk on
 * a board, light strokes on a dark canvas). Also the tests the driver
 * (run_pipeline) uses when the border is a desk rather than the paper:
 * encloses_strokes and holds_written_sheet.
 */
#ifndef DIGITS_PREPROCESS_PAPER_H
#define DIGITS_PREPROCESS_PAPER_H

#include "preprocess_internal.h"

/* The least share of the picture a sheet on a darker desk covers: the
 * driver takes the level at quantile 1 - SHEET_MIN_SHARE as the sheet's
 * paper. */
#define SHEET_MIN_SHARE 0.2

/* The border's grey levels: its median, which is the paper's level on a
 * plain picture, and its spread. */
typedef struct {
    int median;
    int low, high;   /* BORDER_RANGE_QUANTILE from either end */
} border_levels;

/* Scratch for the enclosure tests (encloses_strokes, holds_written_sheet,
 * ink_is_dark), 5 bytes a pixel. Start from {NULL, NULL} and pass the same
 * one, with the same arena, to every test on a picture: the first test
 * allocates it and each one overwrites it. */
typedef struct {
    uint8_t *outside;
    uint32_t *stack;
} enclosure_scratch;

/* The paper to composite onto: 255 (white) or 0 (black), a colour, not
 * the paper's grey level measured later. White, as a canvas export is shown
 * on a page, unless the background (border) is transparent and the opaque
 * strokes are themselves light: white ink drawn over a dark page would
 * vanish on white. Strokes with no pixel even half opaque are judged by
 * translucent_ink_is_light (preprocess_paper.c), or light ones drawn
 * translucent would vanish too. */
unsigned choose_paper(const image *src);

/* Smallest integer reduction that brings the image within WORK_PIXELS
 * (about 1450 x 1450). */
int work_factor(int w, int h);

/* The composited grey level of n consecutive pixels: luma for colour, then
 * alpha over the paper when there is alpha. One loop per channel layout, so
 * that each vectorises. */
void composite_pixels(const uint8_t *p, size_t n, int ch, unsigned paper, uint8_t *out);

/* Composites and takes luma, averaging f x f blocks (partial blocks at the
 * right and bottom edges average what they have). lum is ww x wh, ww =
 * ceil(width / f), wh = ceil(height / f). */
int composite_reduce(const image *src, unsigned paper, int f, uint8_t *lum, int ww,
                     int wh, arena *mem);

/* The levels of the picture's outermost rows and columns. */
border_levels measure_border(const uint8_t *lum, int w, int h);

/* 1 when the pixels at level light or above (of v ^ flip) enclose written
 * strokes (see preprocess_paper.c); 0 when not, or out of memory. With
 * sheet, the strokes may also be wider on a rectangle of paper
 * (are_sheet_strokes, preprocess_paper.c); the driver asks that only with
 * flip 0. */
int encloses_strokes(const uint8_t *v, uint8_t flip, int w, int h, int light, int sheet,
                     enclosure_scratch *scratch, arena *mem);

/* 1 when the pixels at level light or above enclose dark strokes and are
 * either convex and SHEET_WIDTH_RATIO times as wide as the strokes, or fill
 * a rectangle together with what they enclose (are_sheet_strokes): a
 * smaller sheet photographed on a darker desk. 0 when not, or out of
 * memory. The caller checks that the sheet is a fifth of the picture
 * (SHEET_MIN_SHARE). */
int holds_written_sheet(const uint8_t *v, int w, int h, int light, enclosure_scratch *scratch,
                        arena *mem);

/* 1 when the ink is darker than the paper. A border median that is clearly
 * light or dark decides; a mid-grey border (a dim photo of paper) is
 * settled by which side of it the most extreme pixels reach furthest; and
 * when that says light ink, a border spanning two lightings may still show
 * dark ink (see preprocess_paper.c). hist (of all n pixels of v) is only
 * read when the median is not clearly light. 0 also when out of memory. */
int ink_is_dark(const uint8_t *v, int w, int h, const uint32_t *hist, int paper,
                border_levels border, enclosure_scratch *scratch, arena *mem);

#endif
