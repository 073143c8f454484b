/* sse: an incremental parser of Server-Sent Events (text/event-stream).
 *
 * Implements the "event stream interpretation" of the WHATWG HTML standard (section 9.2.6):
 *   stream = [BOM] *line ; line = (field | comment | empty) EOL ; EOL = CRLF | LF | CR
 *   "field: value" (one space after the colon is dropped), "field" alone (value ""),
 *   ":comment" ignored; data lines are joined with "\n"; an empty line dispatches the event when
 *   the data buffer is non-empty; "event" sets the type (default "message"); "id" sets the last
 *   event id unless it contains NUL, and it persists across events; "retry" takes effect only
 *   when it is all ASCII digits; other fields are ignored; an unterminated last event is dropped.
 * The stream is decoded as UTF-8 as the standard says: invalid sequences become U+FFFD, so every
 * string handed out is valid UTF-8. Decoding is done per completed line (CR and LF never occur
 * inside a multi-byte sequence), which gives the same result as decoding the whole stream.
 *
 * Input may arrive in chunks split anywhere: inside a field, between CR and LF, inside a UTF-8
 * character, inside the BOM. The events are the same for every chunking.
 *
 * Memory is bounded: the pending line plus the pending event (data and type) may hold at most
 * max_event_bytes; beyond that sse_feed fails instead of growing.
 */
#ifndef BATON_NET_SSE_H
#define BATON_NET_SSE_H

#include "base/err.h"

#include <stddef.h>
#include <stdint.h>

struct sse_parser;

/* One dispatched event. All strings are NUL-terminated, valid UTF-8 (data may contain NUL
 * characters: use the lengths), and borrowed: valid only during the callback. */
struct sse_event {
    const char *type;   /* "message" when the event set no type */
    size_t type_len;
    const char *data;   /* data lines joined by "\n" */
    size_t data_len;
    const char *id;     /* the last event id seen so far in the stream; "" if none */
    size_t id_len;
    int64_t retry_ms;   /* the last valid "retry" so far; -1 if none (saturates at INT64_MAX) */
};

/* Called once per dispatched event. Return 0 to go on, non-zero to stop: sse_feed then returns
 * 1 and every later sse_feed returns 1 without parsing. Must not free the parser. */
typedef int (*sse_event_fn)(void *arg, const struct sse_event *ev);

/* A parser that calls fn(arg, event) for every event. max_event_bytes > 0. Free with sse_free. */
struct sse_parser *sse_new(size_t max_event_bytes, sse_event_fn fn, void *arg);
void sse_free(struct sse_parser *p);

/* Feeds the next len bytes of the stream. Returns 0 when they were consumed, 1 when the callback
 * asked to stop, -1 with e filled when the stream is over the size bound (later calls fail the
 * same way). */
int sse_feed(struct sse_parser *p, const void *data, size_t len, struct err *e);

#endif
