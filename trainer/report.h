/* report.h -- what the trainer shows people: Keras-style progress, the
 * training history as CSV, and two pictures (learning curves and the
 * confusion matrix as a heat map) written as PNG next to the model.
 */
#ifndef DIGITS_REPORT_H
#define DIGITS_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "train.h"

typedef struct {
    FILE *out;
    int interactive;        /* a terminal: redraw one bar line in place */
    int epochs;
    int last_printed_quarter;
    double last_draw;
} progress;

/* interactive < 0 means: decide with isatty(fileno(out)). */
void progress_init(progress *p, FILE *out, int epochs, int interactive);
/* Matches train_callbacks.on_progress; ctx is a progress *. */
void progress_on_step(void *ctx, int epoch, int step, int steps, double loss, double accuracy,
                      double elapsed);
/* Matches train_callbacks.on_epoch_end; ctx is a progress *. */
void progress_on_epoch_end(void *ctx, const epoch_stats *stats);

/* Prints accuracy, per-class accuracy and the confusion matrix as text. */
void print_evaluation(FILE *out, const eval_result *r);
/* Same content as one JSON object: test_accuracy (0..1), test_samples,
 * loss, per_class_accuracy[10], confusion[10][10]. */
void print_evaluation_json(FILE *out, const eval_result *r);

int history_write_csv(const char *path, const epoch_stats *history, int n, char *err,
                      size_t err_len);
int plot_learning_curves(const char *path, const epoch_stats *history, int n, char *err,
                         size_t err_len);
int plot_confusion_matrix(const char *path, const eval_result *r, char *err, size_t err_len);

/* Where plot_confusion_matrix draws cell [true_digit][predicted], in pixels
 * of the PNG it writes: lets tests and overlays find a cell without copying
 * the layout. */
void confusion_cell_rect(int true_digit, int predicted, int *x, int *y, int *w, int *h);

#endif
