/* buf: a growable byte buffer, always NUL-terminated after its length.
 *
 * The buffer owns `data`; buf_free releases it, buf_detach hands it to the caller (who frees it).
 */
#ifndef BATON_BASE_BUF_H
#define BATON_BASE_BUF_H

#include <stddef.h>

struct buf {
    char *data;  /* NULL until the first append; then len bytes + NUL */
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s (n bytes) as the body of a JSON string, without the quotes: '"', '\\' and bytes
 * below 0x20 escaped (\n, \t ... where JSON has a short form, else \u00XX), every other byte as
 * it is (so UTF-8 stays UTF-8). */
void buf_put_json_escaped(struct buf *b, const char *s, size_t n);
void buf_clear(struct buf *b);
/* Returns the data (never NULL; "" if empty) and leaves b empty; caller frees. */
char *buf_detach(struct buf *b);

#endif
