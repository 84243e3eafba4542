/* preprocess_ring.h -- step 5b: a ring or a box drawn round the digit.
 *
 * People circle an answer on a form, and forms print a box round it. A
 * ring or box that touches the digit is one component with it, so step 4
 * cannot drop it; here it is found on the crop and cut out.
 */
#ifndef DIGITS_PREPROCESS_RING_H
#define DIGITS_PREPROCESS_RING_H

#include "preprocess_internal.h"
#include "preprocess_crop.h"

/* Rays from the centre of the ink's box on which a ring is looked for
 * (see preprocess_ring.c). */
#define RING_RAYS 120

/* A ring or a frame found round the digit, and what it encloses;
 * meaningful only after find_ring or find_frame returned 1. RING_CUT
 * (UINT32_MAX, preprocess_ring.c) marks a piece that is the ring's. */
typedef struct {
    int is_frame;                 /* a box's four sides, not a ring */
    rect inside;                  /* a frame's inside: the box less its sides */
    rect outer;                   /* a frame's outside: the box with its sides */
    int has_outer;                /* 1 when ink sticks out past outer (frame_within) */
    double cx, cy, a, b;          /* the ellipse inscribed in the ink's box */
    double cut[RING_RAYS];        /* ink beyond this radius (of the ellipse's) is ring */
    uint32_t *piece;              /* per crop pixel: RING_CUT, a piece's label or 0 */
    uint32_t *piece_size;         /* by label */
    uint8_t *piece_on_cut;        /* by label: 1 when it touches what is cut */
    size_t min_piece;             /* smaller pieces on the cut are slivers of the ring */
} ring_fit;

/* 1 when the seeds inside box hold a ring round more ink (see preprocess_ring.c), with
 * *f set to where the ring lies; 0 when not; -1 when out of memory. */
int find_ring(const crop *cr, rect box, arena *mem, ring_fit *f);

/* 1 when the seeds inside box are a frame round a digit (see preprocess_ring.c), with
 * *f set to where its sides lie; 0 when not; -1 when out of memory. With
 * within, the frame is looked for inside box (frame_within), else as box's
 * outermost lines. */
int find_frame(const crop *cr, rect box, int within, arena *mem, ring_fit *f);

/* Takes the ring or frame out of the crop: everything beyond the cut and
 * the slivers of it inside, then every fringe pixel left with no seed near
 * it. Recomputes the ink's area and box. The area is summed in row-major
 * order as fill_crop's exact sum is, so the stroke width computed from it
 * is the one fill_crop would give for the same intensities. */
int erase_ring(crop *cr, const ring_fit *f, arena *mem, double *area, rect *box);

#endif
