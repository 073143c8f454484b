/* file: reading a whole file into memory, with a size limit (for configs, request bodies, data
 * sets and router files: anything read once and parsed from memory). */
#ifndef BATON_BASE_FILE_H
#define BATON_BASE_FILE_H

#include "base/buf.h"
#include "base/err.h"

#include <stddef.h>

/* Appends the whole of path to out (which the caller owns and frees). Returns 0, or -1 with e
 * naming the path when it cannot be opened or read, or holds more than max_bytes bytes. */
int file_read(const char *path, size_t max_bytes, struct buf *out, struct err *e);

#endif
