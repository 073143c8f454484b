/* http_server: the HTTP/1.1 server `baton serve` runs on (docs/http.md).
 *
 * Listens on host:port on a struct loop and calls one handler per request, on the loop thread.
 * Every function here must be called on the loop thread too (from another thread, go through
 * loop_post).
 * Requests on a connection are answered in order: the next (pipelined) request is parsed only
 * after the response to the current one is complete, so a handler may answer later (after an
 * upstream or the engine replies) with http_respond, or stream with http_stream_*.
 * Plain HTTP/1.1 (and 1.0) only: no TLS (terminate it in front), no HTTP/2, no upgrades.
 *
 * Limits (struct http_server_opts): errors the server itself produces (400, 408, 413, 414, 417,
 * 431, 501, 503, 505) carry an OpenAI-style JSON body and close the connection. Output is queued
 * without blocking; a stream whose queued output would pass max_pending_bytes is a slow reader and
 * is dropped. Callers apply backpressure with http_conn_pending_bytes and http_conn_on_drain.
 *
 * Lifetimes: the server borrows the loop (which must outlive it and any connection a handler still
 * holds). A struct http_conn is owned by the server; a handler holds it from the handler call until
 * the response is complete or its on_close callback has run.
 */
#ifndef BATON_NET_HTTP_SERVER_H
#define BATON_NET_HTTP_SERVER_H

#include "base/err.h"
#include "net/http_parse.h" /* struct http_header */
#include "net/loop.h"

#include <stddef.h>
#include <stdint.h>

struct http_server;
struct http_conn;

/* One request. Every pointer is borrowed from the connection's input buffer. */
struct http_request {
    const char *method;
    size_t method_len;
    const char *path; /* without the query */
    size_t path_len;
    const char *query; /* after '?'; NULL when absent */
    size_t query_len;
    int minor_version; /* HTTP/1.0 or 1.1 */
    const struct http_header *headers;
    size_t n_headers;
    const char *body; /* complete (de-chunked) body; NULL when empty */
    size_t body_len;
};

/* Valid until the response to it is complete (http_respond returned, or http_stream_end) or the
 * connection closes: handlers may answer later, e.g. after an upstream or the engine replies. */
typedef void (*http_handler_fn)(struct http_conn *c, const struct http_request *req, void *arg);

struct http_server_opts {
    const char *host;          /* address to bind: "127.0.0.1", "0.0.0.0", "::" (default 127.0.0.1) */
    int port;                  /* 0: an ephemeral port, see http_server_port (default 8080) */
    int max_connections;       /* beyond it: accept, answer 503 + Retry-After: 1, close (1024) */
    size_t max_body_bytes;     /* 413 beyond (16 MiB) */
    size_t max_header_bytes;   /* request line + fields; 414/431 beyond (16 KiB) */
    uint64_t header_timeout_ms; /* from the first byte of a request to its complete head; 408 (10 s) */
    uint64_t idle_timeout_ms;  /* keep-alive idle, and silence in the middle of a body (60 s) */
    uint64_t write_timeout_ms; /* queued output with no progress: the client is dropped (30 s) */
    size_t max_pending_bytes;  /* queued output per connection a stream may reach (1 MiB) */
};

void http_server_opts_default(struct http_server_opts *o);

/* Binds and listens (SO_REUSEADDR; accepted sockets non-blocking with TCP_NODELAY). fn(c, req, arg)
 * is called for each request. Returns 0 and *out, or -1 with e filled (e.g. address in use). */
int http_server_start(struct loop *l, const struct http_server_opts *o, http_handler_fn fn, void *arg,
                      struct http_server **out, struct err *e);
/* The bound port (useful with port 0). */
int http_server_port(const struct http_server *s);
/* Stops listening and closes every connection: the on_close callback of each response still
 * pending runs first. A handler that holds a conn without on_close may still answer it (the answer
 * goes nowhere and releases it). Call it from outside the server's own callbacks. */
void http_server_free(struct http_server *s);

/* Value of the first header called name (case-insensitive), or NULL; *len gets its length. */
const char *http_request_header(const struct http_request *r, const char *name, size_t *len);

/* Exactly one response per request: either http_respond, or http_stream_begin, any number of
 * http_stream_write and http_stream_end. content_type may be NULL (no Content-Type); extra_headers
 * are "Name: value" strings (any with CR or LF is dropped with a warning). The server writes the
 * framing headers (Content-Length, Transfer-Encoding, Connection) itself; a "Connection: close"
 * among extra_headers makes it close the connection after this response. The body is copied. For
 * HEAD requests, and for 204 and 304, no body is sent. */
void http_respond(struct http_conn *c, int status, const char *content_type,
                  const char *const *extra_headers /* NULL-terminated, may be NULL */,
                  const void *body, size_t len);
/* Starts a response with a body of unknown length: chunked for HTTP/1.1, and for HTTP/1.0 raw bytes
 * delimited by closing the connection. */
void http_stream_begin(struct http_conn *c, int status, const char *content_type,
                       const char *const *extra_headers);
/* Queues data and tries to send it at once. Returns 0, or -1 if the client is gone (it
 * disconnected, a write failed or timed out, or this write would pass max_pending_bytes): stop
 * producing; on_close follows (from the loop) unless http_stream_end comes first. */
int http_stream_write(struct http_conn *c, const void *data, size_t len);
void http_stream_end(struct http_conn *c);
/* Ends a chunked stream with trailer fields ("Name: value", NULL-terminated), for values known
 * only at the end (baton's x-baton-cost-usd). Announce them with a "Trailer:" header at
 * http_stream_begin. HTTP/1.0 clients (no chunking) do not receive them. */
void http_stream_end_trailers(struct http_conn *c, const char *const *trailers);

/* Called at most once, on the loop thread, if the client disconnects (or a write times out) before
 * the response completes -- the hook for cancelling generation at once. After it runs, the conn
 * must not be used. Never called from inside an http_* call. */
void http_conn_on_close(struct http_conn *c, void (*fn)(struct http_conn *c, void *arg), void *arg);
/* Queued output not yet accepted by the kernel. */
size_t http_conn_pending_bytes(const struct http_conn *c);
/* Calls fn once, from the loop, when the queued output has all been accepted by the kernel
 * (pending bytes 0) -- the moment to resume a source paused for backpressure. Replaces an earlier
 * registration; not called if the connection closes first (on_close is). */
void http_conn_on_drain(struct http_conn *c, void (*fn)(struct http_conn *c, void *arg), void *arg);
/* "ip:port" of the client ("[ip]:port" for IPv6). Valid while the conn is. */
const char *http_conn_peer(const struct http_conn *c);

#endif
