/* http_parse: the HTTP/1.1 request-head parser and the chunked body decoder of `baton serve`.
 *
 * Neither allocates. http_parse_request follows picohttpparser's contract (our own code): given
 * the bytes received so far it returns the length of a complete request head, HTTP_PARSE_INCOMPLETE
 * ("need more"), or HTTP_PARSE_ERROR with the status to answer and a reason. Every pointer it
 * fills points into the caller's buffer. http_chunked_decode is an incremental state machine that
 * decodes a chunked body in place, in whatever pieces it arrives.
 *
 * Grammar (RFC 9112), strictly: lines end in CRLF (a bare CR or a bare LF is refused), single SPs
 * in the request line, header names are tokens with no whitespace before the colon, values are
 * VCHAR / SP / HTAB / obs-text, obs-fold is refused. Empty lines before the request line are
 * skipped (RFC 9112 2.2). HTTP/1.x with x > 1 is treated as 1.1; any other major version is 505.
 *
 * Statuses: 400 malformed; 413 Content-Length (or chunked data) over the body limit; 414 request
 * line longer than the head limit; 431 head over the limit or too many fields; 417 an Expect
 * other than 100-continue; 501 a transfer coding other than chunked; 505 not HTTP/1.x.
 * Framing (RFC 9112 6): Transfer-Encoding with Content-Length, Transfer-Encoding in HTTP/1.0,
 * "chunked" twice, and Content-Length values that disagree (within one field or across fields)
 * are 400; HTTP/1.1 without exactly one Host is 400.
 *
 * The server (http_server.c) owns connections and limits; this file owns only the bytes.
 */
#ifndef BATON_NET_HTTP_PARSE_H
#define BATON_NET_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_PARSE_ERROR (-1)
#define HTTP_PARSE_INCOMPLETE (-2)

/* One header field; name and value point into the parsed buffer (value without surrounding
 * whitespace). */
struct http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Why a request was refused: the status to answer and a static one-line reason. */
struct http_parse_error {
    int status;
    const char *reason;
};

struct http_limits {
    size_t max_head_bytes;   /* request line + fields + final CRLF; at most INT_MAX / 2 */
    uint64_t max_body_bytes; /* declared Content-Length, or decoded chunked data */
};

enum http_body { HTTP_BODY_NONE, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED };

/* A parsed request head. Pointers are borrowed from the parsed buffer. */
struct http_head {
    const char *method;
    size_t method_len;
    const char *path; /* without the query; absolute-form targets are reduced to their path */
    size_t path_len;
    const char *query; /* after '?'; NULL (and 0) when the target has no '?' */
    size_t query_len;
    int minor_version; /* 0 or 1 */
    size_t n_headers;
    enum http_body body;
    uint64_t content_length; /* for HTTP_BODY_LENGTH (never 0: an empty body is HTTP_BODY_NONE) */
    bool keep_alive;         /* 1.1: unless "Connection: close"; 1.0: only with "keep-alive" */
    bool expect_continue;    /* HTTP/1.1 "Expect: 100-continue" */
};

/* Parses the request head at the start of buf[0..len). prev_len is the len of the previous call
 * on the same request that returned HTTP_PARSE_INCOMPLETE (0 on the first call): the head is then
 * parsed again only if the new bytes complete a line, so a head arriving byte by byte is parsed
 * once per line, not once per byte (lines are bounded by max_headers). The price: a malformed byte
 * in a line is reported once that line ends (or the limit is reached). Splitting the input never
 * changes the answer for input that ends in LF. Fills headers[0..max_headers) and h.
 * Returns the head's length in bytes (> 0; the body, if any, follows), HTTP_PARSE_INCOMPLETE, or
 * HTTP_PARSE_ERROR with pe filled. */
int http_parse_request(const char *buf, size_t len, size_t prev_len, const struct http_limits *lim,
                       struct http_header *headers, size_t max_headers, struct http_head *h,
                       struct http_parse_error *pe);

/* Case-insensitive (ASCII) comparison of a and b. */
bool http_name_eq(const char *a, size_t a_len, const char *b, size_t b_len);

/* Incremental decoder of a chunked body (RFC 9112 7.1). Chunk extensions and trailer fields are
 * checked for forbidden bytes and skipped. */
struct http_chunked {
    int state;
    uint64_t chunk_left;  /* data bytes still to come in the current chunk */
    uint64_t total_bytes; /* data bytes declared so far */
    uint64_t max_bytes;   /* limit on total_bytes (413 beyond) */
    size_t line_bytes;    /* length of the current size line, or of the trailer section */
};

void http_chunked_init(struct http_chunked *d, uint64_t max_bytes);

/* Decodes buf[0..*len) in place; on return buf[0..*len) holds the data decoded from it.
 * Returns HTTP_PARSE_INCOMPLETE when all input was consumed and the body continues, 0 when the
 * body is complete: the *rest bytes that followed it (a pipelined request) are moved to
 * buf[*len..*len + *rest); or HTTP_PARSE_ERROR with pe filled. */
int http_chunked_decode(struct http_chunked *d, char *buf, size_t *len, size_t *rest,
                        struct http_parse_error *pe);

#endif
