/* http_client: asynchronous HTTP requests on baton's event loop (libcurl's multi interface).
 *
 * One client owns one curl multi handle, driven through curl's socket API: curl tells us which
 * sockets to watch and when to wake it (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION), the loop
 * watches them (loop_add_fd, loop_timer_add) and hands readiness back with
 * curl_multi_socket_action. So any number of requests run on the loop thread, none blocking:
 * name resolution is curl's threaded resolver, connects and TLS are non-blocking. Finished
 * connections stay in the client's pool and are reused by later requests to the same host
 * (keep-alive); HTTP/2 is used when a TLS server offers it, and then requests to that host share
 * one connection.
 *
 * Per request the caller gets, in order and all on the loop thread: on_response once (final
 * status and headers), on_body for each piece of the body as it arrives, on_done once at the end
 * (success or the reason it failed). Timeouts, each reported with its own result code:
 *   connect     resolving + TCP + TLS handshake            HTTP_ERR_CONNECT_TIMEOUT
 *   first byte  from the start to the response headers     HTTP_ERR_FIRST_BYTE_TIMEOUT
 *   idle        no body bytes for this long after headers  HTTP_ERR_IDLE_TIMEOUT
 *   total       from the start to the end                  HTTP_ERR_TOTAL_TIMEOUT
 *
 * http_client_cancel stops a request at any time on the loop thread, including from inside any
 * callback of any request; no callback of that request runs after it returns.
 *
 * Ownership: http_client_start copies everything in the request it is given. Headers may carry
 * secrets (Authorization): their copies are wiped before they are freed, and curl's verbose
 * logging is never enabled. The client borrows the loop: free the client first.
 */
#ifndef BATON_NET_HTTP_CLIENT_H
#define BATON_NET_HTTP_CLIENT_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct http_client;
struct http_req;

enum http_result {
    HTTP_OK = 0,                 /* the whole response arrived (any status) */
    HTTP_ERR_CONNECT,            /* name resolution, refused, unreachable, TLS handshake */
    HTTP_ERR_CONNECT_TIMEOUT,
    HTTP_ERR_FIRST_BYTE_TIMEOUT,
    HTTP_ERR_IDLE_TIMEOUT,
    HTTP_ERR_TOTAL_TIMEOUT,
    HTTP_ERR_TRANSFER,           /* connection lost or broken response after connecting */
    HTTP_ERR_OTHER,
};

/* A short stable name ("connect_timeout", ...) for logs and tests. */
const char *http_result_name(enum http_result r);

struct http_client_header {
    const char *name;  /* as the server sent it */
    const char *value; /* leading and trailing blanks removed */
};

/* Case-insensitive lookup of the first header called name; NULL if absent. */
const char *http_client_header_find(const struct http_client_header *h, size_t n, const char *name);
/* How long the server asks us to wait: "retry-after-ms" (milliseconds, as OpenAI and Azure send
 * it) if present, else "Retry-After" in seconds or as an HTTP date; -1 if absent or unreadable. */
int64_t http_client_retry_after_ms(const struct http_client_header *h, size_t n);

struct http_done {
    enum http_result result;
    int status;          /* the final response's status; 0 if none arrived */
    const char *message; /* what failed, for humans ("" on success); borrowed */
    bool new_connection; /* false if a pooled connection was reused */
};

/* All borrowed, valid during the call only. */
typedef void (*http_response_fn)(void *arg, int status, const struct http_client_header *headers,
                                 size_t n_headers);
typedef void (*http_body_fn)(void *arg, const char *data, size_t len);
typedef void (*http_done_fn)(void *arg, const struct http_done *d);

struct http_client_request {
    const char *method;          /* "GET", "POST", ... */
    const char *url;
    const char *const *headers;  /* "Name: value" lines; "Name:" removes one curl would add */
    size_t n_headers;
    const char *body;            /* sent when body_len > 0 or method is POST */
    size_t body_len;
    int64_t connect_timeout_ms;  /* 0: curl's default (300 s) */
    int64_t first_byte_timeout_ms; /* 0: none; likewise below */
    int64_t idle_timeout_ms;
    int64_t total_timeout_ms;
    http_response_fn on_response; /* optional */
    http_body_fn on_body;         /* optional */
    http_done_fn on_done;         /* required */
    void *arg;
};

/* A client on loop l; NULL with e filled if curl cannot be set up. */
struct http_client *http_client_new(struct loop *l, struct err *e);
/* Stops every request still running, without callbacks, and closes the pool. Not from inside a
 * callback of this client. */
void http_client_free(struct http_client *c);

/* Starts a request. The handle is valid until on_done has returned or http_client_cancel was
 * called; NULL with e filled if it cannot start (curl refused an option). */
struct http_req *http_client_start(struct http_client *c, const struct http_client_request *r,
                                   struct err *e);
/* Stops r: its connection is closed (not reused) and no callback of r runs after this returns.
 * Must not be called for a request whose on_done has started. */
void http_client_cancel(struct http_client *c, struct http_req *r);

/* Requests started and not yet finished or cancelled. */
size_t http_client_active(const struct http_client *c);

#endif
