/* version.h -- the release version shared by both programs. */
#ifndef DIGITS_VERSION_H
#define DIGITS_VERSION_H

#define DIGITS_VERSION "0.1.0"

#endif
