/* file: whole-file reads (see file.h). */
#include "base/file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int file_read(const char *path, size_t max_bytes, struct buf *out, struct err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    char chunk[65536];
    size_t n, start = out->len;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && out->len - start <= max_bytes)
        buf_append(out, chunk, n);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad)
        return err_set(e, "%s: read error", path);
    if (out->len - start > max_bytes)
        return err_set(e, "%s: larger than %zu bytes", path, max_bytes);
    return 0;
}
