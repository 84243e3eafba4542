/* predict.h -- the trainer's "predict" and "variants" commands.
 *
 * predict runs PNG files through the same decode -> preprocess -> MLP path as
 * digits-server (or through the seed tutorial's naive resize, for
 * comparison) and prints per-image answers, or per-source accuracy for a
 * labelled set such as ../shared/realdigits. variants writes user-style
 * renderings of MNIST test digits (ink on paper, canvas exports, photos...)
 * as a labelled set in the same format, so both can be measured alike.
 *
 * Both follow the trainer's conventions: argv[1] is the command name, flags
 * start at argv[2]; they return 0 on success, 1 on a runtime error and 2 on
 * a usage error, and never exit().
 */
#ifndef DIGITS_PREDICT_H
#define DIGITS_PREDICT_H

int command_predict(int argc, char **argv);
int command_variants(int argc, char **argv);

#endif
