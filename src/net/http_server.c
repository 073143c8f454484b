/* http_server: connections, framing, limits and timeouts on the epoll loop (see http_server.h,
 * docs/http.md). Bytes are parsed by http_parse.c.
 *
 * A connection moves through these states:
 *
 *   CS_HEAD ──head parsed──> CS_BODY ──body complete──> CS_HANDLER ──response complete──> CS_HEAD
 *      │                        │                          │ (keep-alive; else CS_CLOSING)
 *      └──── error / 408 ───────┴──> CS_CLOSING ──output flushed, shutdown(SHUT_WR)──> CS_LINGER
 *
 * CS_CLOSING and CS_LINGER discard input, so a client that is still sending gets our final response
 * instead of a reset (a "lingering close", as nginx does); LINGER ends at the client's EOF or after
 * LINGER_MS. Any socket error, EOF while a response is pending, or timeout out of CS_HANDLER
 * kills the connection: the fd is closed at once, and the struct lives on while a handler holds it
 * (state CS_HANDLER) -- its on_close runs from a zero-delay timer, or, if none is registered, the
 * handler's eventual answer releases it.
 *
 * Input buffer: [0, in_off) is consumed; the current request's head and body start at in_off;
 * pipelined bytes follow. While a handler holds the request its pointers point into the buffer,
 * so the buffer is never moved then: further reads only fill the spare capacity, and when that is
 * full reading pauses until the response completes. A chunked body is decoded in place, right
 * after the head. in_gen counts moves of the buffer, so a head parsed before a move is parsed again
 * (cheap, and simpler than rebasing pointers).
 *
 * Timers: one per connection at most, armed lazily. A connection's deadline is computed from its
 * state (conn_deadline); the armed timer may fire early, and then just re-arms. So a busy
 * keep-alive connection costs no timer operations per request.
 *
 * Re-entrancy: handlers call http_respond & co from inside our callbacks, and may answer later
 * from anywhere on the loop thread. Every entry point brackets its work in enter()/leave(); a
 * dead connection is freed only by the outermost leave() and only when no handler holds it.
 * User callbacks (on_close, on_drain, the handler for a pipelined request answered
 * asynchronously) are only ever called from loop callbacks, never from inside an http_* call.
 */
#include "net/http_server.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEADERS 100            /* header fields per request; 431 beyond */
#define READ_MIN_BYTES 4095        /* spare room for a read while waiting for a head */
#define BODY_READ_MAX_BYTES (256 * 1024) /* largest growth step while reading a body */
#define KEEP_BUF_BYTES (16 * 1024) /* an idle connection keeps buffers up to this capacity */
#define LINGER_MS 2000             /* lingering close: how long to wait for the client's EOF */
#define ACCEPT_BATCH 64            /* accepts per readiness event, to stay fair to other fds */
#define ACCEPT_PAUSE_MS 100        /* back-off when out of fds */
#define MAX_REJECTING 256          /* connections being answered 503 at once; beyond: just closed */

enum conn_state { CS_HEAD, CS_BODY, CS_HANDLER, CS_CLOSING, CS_LINGER };

typedef void (*conn_cb_fn)(struct http_conn *c, void *arg);

struct http_server {
    struct loop *loop;
    struct http_server_opts opts;
    http_handler_fn fn;
    void *arg;
    int listen_fd;
    int port;
    struct loop_timer *accept_timer; /* accepts paused after EMFILE */
    struct http_conn *conns;         /* every connection not yet freed, except orphans */
    int n_conns;                     /* open connections counted against max_connections */
    int n_rejecting;                 /* open connections being answered 503 */
    struct http_header scratch[MAX_HEADERS]; /* the parser's output; copied to the conn */
};

struct http_conn {
    struct http_server *srv; /* NULL once the server is freed while a handler holds us */
    struct loop *loop;
    struct http_conn *prev, *next;
    int fd; /* -1 once closed */
    enum conn_state state;
    uint32_t events;  /* LOOP_READ | LOOP_WRITE currently registered */
    int busy;         /* enter()/leave() nesting */
    bool dead;        /* socket closed */
    bool counted;     /* holds a max_connections slot (else holds a rejecting slot) */
    bool read_eof;    /* the client finished sending */
    bool read_paused; /* CS_HANDLER: spare input room is full */
    bool in_dispatch; /* inside conn_process: it flushes and moves on to the next request */
    bool close_pending; /* dead while held: on_close runs from the timer */
    bool kick_pending;  /* buffered input to process from the timer */
    bool keep_alive;    /* of the current exchange */
    bool is_head;       /* current request is HEAD */
    bool streaming;     /* http_stream_begin called */
    bool stream_chunked;
    bool no_body;       /* the current response carries no body */

    struct buf in;
    size_t in_off;   /* start of the current request */
    size_t scanned;  /* bytes of the current head the parser has seen (its prev_len) */
    unsigned in_gen; /* bumped when in.data moves */
    unsigned head_gen;
    struct http_head head;
    size_t head_len;
    struct http_chunked chunked;
    size_t body_len; /* chunked: bytes decoded so far */
    size_t req_end;  /* offset just past the current request (head + body as stored) */
    struct http_header *hdrs;
    size_t hdrs_cap;
    struct http_request req;

    struct buf out;
    size_t out_off; /* [out_off, out.len) is queued */

    struct loop_timer *timer;
    uint64_t timer_at_ms;
    uint64_t head_start_ms; /* first byte of the current head (or accept); 0: idle */
    uint64_t idle_since_ms;
    uint64_t last_read_ms;
    uint64_t last_write_ms; /* last progress of queued output (or when it started queuing) */
    uint64_t linger_until_ms;

    conn_cb_fn on_close, on_drain;
    void *on_close_arg, *on_drain_arg;
    char peer[64];
};

static void conn_process(struct http_conn *c);
static void conn_flush(struct http_conn *c);
static void conn_arm(struct http_conn *c);

/* ---- small helpers ---- */

static uint64_t now_ms(const struct http_conn *c) { return loop_now_ms(c->loop); }

static size_t pending(const struct http_conn *c) { return c->out.len - c->out_off; }

static void out_append(struct http_conn *c, const void *p, size_t n)
{
    if (pending(c) == 0)
        c->last_write_ms = now_ms(c); /* the write timeout runs from when output starts waiting */
    buf_append(&c->out, p, n);
}

static void out_puts(struct http_conn *c, const char *s) { out_append(c, s, strlen(s)); }

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    }
    return ""; /* the reason phrase may be empty (RFC 9112 4) */
}

/* ---- lifetime ---- */

static void conn_unlink(struct http_conn *c)
{
    struct http_server *s = c->srv;
    if (!s)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->srv = NULL;
}

static void conn_free(struct http_conn *c)
{
    if (c->timer)
        loop_timer_cancel(c->loop, c->timer);
    conn_unlink(c);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c->hdrs);
    free(c);
}

/* Closes the socket. A handler holding the request keeps the struct: its on_close (if any) is
 * scheduled. */
static void conn_kill(struct http_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    loop_del_fd(c->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    if (c->srv) {
        if (c->counted)
            c->srv->n_conns--;
        else
            c->srv->n_rejecting--;
    }
    if (c->timer) {
        loop_timer_cancel(c->loop, c->timer);
        c->timer = NULL;
    }
    buf_free(&c->out);
    c->out_off = 0;
    c->kick_pending = false;
    c->on_drain = NULL;
    if (c->state == CS_HANDLER && c->on_close) {
        c->close_pending = true; /* on_close runs from a zero-delay timer */
        conn_arm(c);
    }
}

static void enter(struct http_conn *c) { c->busy++; }

/* Ends an entry point; frees a dead connection nobody holds. c must not be used after. */
static void leave(struct http_conn *c)
{
    if (--c->busy == 0 && c->dead && c->state != CS_HANDLER)
        conn_free(c);
}

/* ---- events and timers ---- */

static void conn_update_events(struct http_conn *c)
{
    if (c->dead)
        return;
    size_t cap = c->srv ? c->srv->opts.max_pending_bytes : 0;
    uint32_t ev = 0;
    switch (c->state) {
    case CS_HEAD:
    case CS_BODY:
        if (pending(c) < cap)
            ev |= LOOP_READ;
        break;
    case CS_HANDLER:
        if (!c->read_paused)
            ev |= LOOP_READ;
        break;
    case CS_CLOSING:
    case CS_LINGER:
        if (!c->read_eof)
            ev |= LOOP_READ;
        break;
    }
    if (pending(c))
        ev |= LOOP_WRITE;
    if (ev != c->events) {
        loop_mod_fd(c->loop, c->fd, ev);
        c->events = ev;
    }
}

static uint64_t earliest(uint64_t a, uint64_t b) { return a == 0 ? b : b == 0 ? a : a < b ? a : b; }

/* When this connection next needs attention (absolute ms), or 0. */
static uint64_t conn_deadline(const struct http_conn *c)
{
    if (c->dead)
        return c->close_pending ? now_ms(c) : 0;
    if (c->kick_pending || (c->on_drain && pending(c) == 0))
        return now_ms(c);
    const struct http_server_opts *o = &c->srv->opts;
    uint64_t write_dl = pending(c) ? c->last_write_ms + o->write_timeout_ms : 0;
    switch (c->state) {
    case CS_HEAD:
        return earliest(write_dl, c->head_start_ms ? c->head_start_ms + o->header_timeout_ms
                                                   : c->idle_since_ms + o->idle_timeout_ms);
    case CS_BODY:
        return earliest(write_dl, c->last_read_ms + o->idle_timeout_ms);
    case CS_HANDLER:
    case CS_CLOSING:
        return write_dl;
    case CS_LINGER:
        return c->linger_until_ms;
    }
    return 0;
}

static void conn_on_timer(struct loop *l, void *arg);

static void conn_arm(struct http_conn *c)
{
    uint64_t dl = conn_deadline(c);
    if (dl == 0 || (c->timer && c->timer_at_ms <= dl))
        return; /* nothing due, or the armed timer comes first (and will re-arm) */
    if (c->timer)
        loop_timer_cancel(c->loop, c->timer);
    uint64_t now = now_ms(c);
    c->timer = loop_timer_add(c->loop, dl > now ? dl - now : 0, conn_on_timer, c);
    c->timer_at_ms = dl;
}

/* After work on a live connection: flush-independent bookkeeping. */
static void conn_settle(struct http_conn *c)
{
    if (c->dead)
        return;
    conn_update_events(c);
    conn_arm(c);
}

/* ---- output ---- */

enum framing { FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE, FRAME_NONE };

static bool header_line_ok(const char *h)
{
    const char *colon = strchr(h, ':');
    return colon && colon != h && !strpbrk(h, "\r\n");
}

static void put_head(struct http_conn *c, int status, const char *content_type,
                     const char *const *extra, enum framing f, size_t len)
{
    char line[96];
    if (status < 100 || status > 999) {
        log_error("http: invalid status %d from handler; sending 500", status);
        status = 500;
    }
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
    out_puts(c, line);
    if (content_type && !strpbrk(content_type, "\r\n")) {
        out_puts(c, "Content-Type: ");
        out_puts(c, content_type);
        out_puts(c, "\r\n");
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        if (!header_line_ok(extra[i])) {
            log_warn("http: dropping malformed response header \"%.*s\"...",
                     (int)strcspn(extra[i], "\r\n"), extra[i]);
            continue;
        }
        if (strncasecmp(extra[i], "connection:", 11) == 0) {
            /* framing is ours: the handler may only ask to close */
            if (strcasestr(extra[i] + 11, "close"))
                c->keep_alive = false;
            continue;
        }
        out_puts(c, extra[i]);
        out_puts(c, "\r\n");
    }
    if (f == FRAME_LENGTH) {
        snprintf(line, sizeof line, "Content-Length: %zu\r\n", len);
        out_puts(c, line);
    } else if (f == FRAME_CHUNKED) {
        out_puts(c, "Transfer-Encoding: chunked\r\n");
    }
    if (!c->keep_alive)
        out_puts(c, "Connection: close\r\n");
    else if (c->head.minor_version == 0)
        out_puts(c, "Connection: keep-alive\r\n");
    out_puts(c, "\r\n");
}

static const char *error_code(int status)
{
    switch (status) {
    case 400: return "bad_request";
    case 408: return "request_timeout";
    case 413: return "request_too_large";
    case 414: return "uri_too_long";
    case 417: return "expectation_failed";
    case 431: return "header_fields_too_large";
    case 501: return "not_implemented";
    case 503: return "server_busy";
    case 505: return "http_version_not_supported";
    }
    return "error";
}

/* Queues an error the server itself produces, as OpenAI-style JSON, and closes after it.
 * message must not need JSON escaping (ours are fixed ASCII text and numbers). */
static void conn_error(struct http_conn *c, int status, const char *message)
{
    const struct http_server_opts *o = &c->srv->opts;
    char body[512], limit[64] = "";
    if (status == 413)
        snprintf(limit, sizeof limit, " (limit %zu bytes)", o->max_body_bytes);
    else if (status == 414 || status == 431)
        snprintf(limit, sizeof limit, " (limit %zu bytes)", o->max_header_bytes);
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"message\":\"%s%s\",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}",
                     message, limit, status == 503 ? "server_error" : "invalid_request_error",
                     error_code(status));
    static const char *const retry[] = {"Retry-After: 1", NULL};
    log_info("http %s: %d %s", c->peer, status, message);
    c->keep_alive = false;
    c->is_head = false;
    put_head(c, status, "application/json", status == 503 ? retry : NULL, FRAME_LENGTH, (size_t)n);
    out_append(c, body, (size_t)n);
    c->state = CS_CLOSING;
    buf_free(&c->in); /* unread input is discarded from now on */
    c->in_off = 0;
    c->in_gen++;
}

static void conn_start_linger(struct http_conn *c)
{
    c->state = CS_LINGER;
    if (c->read_eof) {
        conn_kill(c);
        return;
    }
    shutdown(c->fd, SHUT_WR);
    c->linger_until_ms = now_ms(c) + LINGER_MS;
}

/* Sends what is queued; on a hard error the connection dies. */
static void conn_flush(struct http_conn *c)
{
    while (!c->dead && pending(c)) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, pending(c), MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            c->last_write_ms = now_ms(c);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            log_debug("http %s: send: %s", c->peer, strerror(errno));
            conn_kill(c);
            return;
        }
    }
    if (c->dead)
        return;
    c->out.len = c->out_off = 0;
    if (c->out.cap > KEEP_BUF_BYTES)
        buf_free(&c->out);
    if (c->state == CS_CLOSING)
        conn_start_linger(c);
}

/* The response to the current request is complete (or abandoned by a dead connection). */
static void conn_response_done(struct http_conn *c)
{
    c->on_close = NULL;
    c->on_drain = NULL;
    c->streaming = false;
    memset(&c->req, 0, sizeof c->req);
    if (c->dead) {
        c->close_pending = false;
        c->state = CS_HEAD; /* no longer held: leave() frees it */
        return;
    }
    c->in_off = c->req_end;
    c->read_paused = false;
    if (!c->keep_alive) {
        c->state = CS_CLOSING;
    } else {
        c->state = CS_HEAD;
        c->head_start_ms = 0;
        c->idle_since_ms = now_ms(c);
        c->scanned = 0;
        if (c->in_off == c->in.len) {
            c->in.len = c->in_off = 0;
            if (c->in.cap > KEEP_BUF_BYTES) {
                buf_free(&c->in);
                c->in_gen++;
            }
        } else if (!c->in_dispatch) {
            c->kick_pending = true; /* a pipelined request waits; handle it from the loop */
        }
    }
    if (!c->in_dispatch) {
        conn_flush(c);
        conn_settle(c);
    }
}

/* ---- input ---- */

static void copy_headers(struct http_conn *c)
{
    size_t n = c->head.n_headers;
    if (n > c->hdrs_cap) {
        c->hdrs = xrealloc_array(c->hdrs, n, sizeof *c->hdrs);
        c->hdrs_cap = n;
    }
    if (n)
        memcpy(c->hdrs, c->srv->scratch, n * sizeof *c->hdrs);
}

static struct http_limits conn_limits(const struct http_conn *c)
{
    return (struct http_limits){c->srv->opts.max_header_bytes, c->srv->opts.max_body_bytes};
}

/* CS_HEAD: parses a head if one is complete. Returns true when it moved to CS_BODY. */
static bool conn_parse_head(struct http_conn *c)
{
    size_t avail = c->in.len - c->in_off;
    if (avail == 0)
        return false;
    if (pending(c) >= c->srv->opts.max_pending_bytes)
        return false; /* the client is not reading its responses: make no more (write timeout) */
    if (c->head_start_ms == 0)
        c->head_start_ms = now_ms(c);
    struct http_limits lim = conn_limits(c);
    struct http_parse_error pe;
    int r = http_parse_request(c->in.data + c->in_off, avail, c->scanned, &lim, c->srv->scratch,
                               MAX_HEADERS, &c->head, &pe);
    if (r == HTTP_PARSE_INCOMPLETE) {
        c->scanned = avail;
        return false;
    }
    if (r == HTTP_PARSE_ERROR) {
        conn_error(c, pe.status, pe.reason);
        return false;
    }
    copy_headers(c);
    c->head_len = (size_t)r;
    c->head_gen = c->in_gen;
    c->scanned = 0;
    c->head_start_ms = 0;
    c->body_len = 0;
    c->last_read_ms = now_ms(c);
    if (c->head.body == HTTP_BODY_CHUNKED)
        http_chunked_init(&c->chunked, c->srv->opts.max_body_bytes);
    if (c->head.expect_continue && c->head.body != HTTP_BODY_NONE && avail == (size_t)r)
        out_puts(c, "HTTP/1.1 100 Continue\r\n\r\n");
    c->state = CS_BODY;
    return true;
}

/* CS_BODY: returns true when the body is complete (req_end set). */
static bool conn_read_body(struct http_conn *c)
{
    size_t start = c->in_off + c->head_len;
    switch (c->head.body) {
    case HTTP_BODY_NONE:
        c->req_end = start;
        return true;
    case HTTP_BODY_LENGTH:
        if (c->in.len - start < c->head.content_length)
            return false;
        c->req_end = start + (size_t)c->head.content_length;
        return true;
    case HTTP_BODY_CHUNKED: {
        size_t at = start + c->body_len, n = c->in.len - at, rest = 0;
        struct http_parse_error pe;
        int r = http_chunked_decode(&c->chunked, c->in.data + at, &n, &rest, &pe);
        if (r == HTTP_PARSE_ERROR) {
            conn_error(c, pe.status, pe.reason);
            return false;
        }
        c->body_len += n;
        c->in.len = at + n + (r == 0 ? rest : 0);
        c->req_end = start + c->body_len;
        return r == 0;
    }
    }
    return false;
}

static void conn_dispatch(struct http_conn *c)
{
    if (c->head_gen != c->in_gen) {
        /* the buffer moved while the body arrived: point the head into its new place */
        struct http_limits lim = conn_limits(c);
        struct http_parse_error pe;
        http_parse_request(c->in.data + c->in_off, c->head_len, 0, &lim, c->srv->scratch,
                           MAX_HEADERS, &c->head, &pe);
        copy_headers(c);
        c->head_gen = c->in_gen;
    }
    const struct http_head *h = &c->head;
    size_t body_len = h->body == HTTP_BODY_LENGTH ? (size_t)h->content_length : c->body_len;
    c->req = (struct http_request){
        .method = h->method,
        .method_len = h->method_len,
        .path = h->path,
        .path_len = h->path_len,
        .query = h->query,
        .query_len = h->query_len,
        .minor_version = h->minor_version,
        .headers = c->hdrs,
        .n_headers = h->n_headers,
        .body = body_len ? c->in.data + c->in_off + c->head_len : NULL,
        .body_len = body_len,
    };
    c->keep_alive = h->keep_alive;
    c->is_head = http_name_eq(h->method, h->method_len, "HEAD", 4);
    c->streaming = false;
    c->state = CS_HANDLER;
    c->srv->fn(c, &c->req, c->srv->arg);
}

/* Handles every complete request in the buffer, one at a time: the next only once the current
 * response is complete. */
static void conn_process(struct http_conn *c)
{
    bool capped;
    do {
        c->in_dispatch = true;
        while (!c->dead && (c->state == CS_HEAD || c->state == CS_BODY)) {
            if (c->state == CS_HEAD && !conn_parse_head(c))
                break;
            if (c->state != CS_BODY || !conn_read_body(c))
                break;
            conn_dispatch(c);
        }
        c->in_dispatch = false;
        /* stopped with a request waiting because too much output was queued? */
        capped = !c->dead && c->state == CS_HEAD && c->in.len > c->in_off &&
                 pending(c) >= c->srv->opts.max_pending_bytes;
        conn_flush(c);
    } while (capped && !c->dead && pending(c) < c->srv->opts.max_pending_bytes);
}

/* Reads and throws away input (closing states). */
static void conn_discard_input(struct http_conn *c)
{
    char sink[16384];
    for (int i = 0; i < 4; i++) {
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 || c->state == CS_LINGER) {
            conn_kill(c);
            return;
        }
        c->read_eof = true; /* CS_CLOSING: still deliver the final response */
        return;
    }
}

/* CS_HANDLER: buffers pipelined input in the spare room only (the request's pointers must not
 * move) and watches for the client going away. */
static void conn_read_held(struct http_conn *c)
{
    size_t room = c->in.cap > c->in.len + 1 ? c->in.cap - c->in.len - 1 : 0;
    char peek;
    ssize_t n = room ? recv(c->fd, c->in.data + c->in.len, room, 0) : recv(c->fd, &peek, 1, MSG_PEEK);
    if (n > 0) {
        if (room)
            c->in.len += (size_t)n;
        else
            c->read_paused = true; /* resumes when the response is complete */
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    log_debug("http %s: client went away before the response completed", c->peer);
    conn_kill(c);
}

/* CS_HEAD / CS_BODY: reads more of the request and processes what is complete. */
static void conn_read_request(struct http_conn *c)
{
    size_t want = READ_MIN_BYTES;
    if (c->state == CS_HEAD && c->in_off > 0) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
        c->in_gen++;
    } else if (c->state == CS_BODY) {
        /* grow toward the declared length, or (chunked) in proportion to what has come */
        size_t have = c->in.len - c->in_off - c->head_len;
        uint64_t left = c->head.body != HTTP_BODY_LENGTH ? have
                        : c->head.content_length > have ? c->head.content_length - have
                                                        : 0;
        want = left < READ_MIN_BYTES ? READ_MIN_BYTES
               : left > BODY_READ_MAX_BYTES ? BODY_READ_MAX_BYTES
                                            : (size_t)left;
    }
    if (c->in.cap < c->in.len + want + 1) {
        buf_reserve(&c->in, want);
        c->in_gen++;
    }
    ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, 0);
    if (n > 0) {
        c->in.len += (size_t)n;
        c->last_read_ms = now_ms(c);
        conn_process(c);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n == 0 && c->state == CS_HEAD && c->in.len == c->in_off && pending(c)) {
        /* the client half-closed after its last request: deliver the queued responses */
        c->read_eof = true;
        c->state = CS_CLOSING;
        conn_flush(c);
        return;
    }
    conn_kill(c); /* EOF (mid-request or idle) or a socket error */
}

/* ---- loop callbacks ---- */

static void conn_on_io(struct loop *l, int fd, uint32_t events, void *arg)
{
    (void)l, (void)fd;
    struct http_conn *c = arg;
    enter(c);
    if (events & LOOP_ERROR)
        conn_kill(c); /* hang-up or socket error: nothing more can be delivered */
    if (!c->dead && (events & LOOP_WRITE))
        conn_flush(c);
    if (!c->dead && (events & LOOP_READ)) {
        switch (c->state) {
        case CS_HEAD:
        case CS_BODY:
            conn_read_request(c);
            break;
        case CS_HANDLER:
            conn_read_held(c);
            break;
        case CS_CLOSING:
        case CS_LINGER:
            conn_discard_input(c);
            break;
        }
    } else if (!c->dead && c->state == CS_HEAD && c->in.len > c->in_off) {
        conn_process(c); /* output drained below the cap: continue with pipelined requests */
    }
    if (!c->dead && c->on_drain && pending(c) == 0) {
        conn_cb_fn fn = c->on_drain;
        c->on_drain = NULL;
        fn(c, c->on_drain_arg);
    }
    conn_settle(c);
    leave(c);
}

static void conn_timeout(struct http_conn *c)
{
    const struct http_server_opts *o = &c->srv->opts;
    uint64_t now = now_ms(c);
    if (pending(c) && now >= c->last_write_ms + o->write_timeout_ms) {
        log_info("http %s: client not reading for %llu ms; closing", c->peer,
                 (unsigned long long)o->write_timeout_ms);
        conn_kill(c);
        return;
    }
    switch (c->state) {
    case CS_HEAD:
        if (c->head_start_ms && now >= c->head_start_ms + o->header_timeout_ms) {
            if (c->in.len > c->in_off)
                conn_error(c, 408, "request head not received in time");
            else
                conn_kill(c); /* connected but sent nothing */
        } else if (!c->head_start_ms && now >= c->idle_since_ms + o->idle_timeout_ms) {
            conn_kill(c); /* keep-alive idle */
        }
        break;
    case CS_BODY:
        if (now >= c->last_read_ms + o->idle_timeout_ms)
            conn_error(c, 408, "request body not received in time");
        break;
    case CS_LINGER:
        if (now >= c->linger_until_ms)
            conn_kill(c);
        break;
    case CS_HANDLER:
    case CS_CLOSING:
        break;
    }
}

static void conn_on_timer(struct loop *l, void *arg)
{
    (void)l;
    struct http_conn *c = arg;
    c->timer = NULL;
    enter(c);
    if (c->dead) {
        if (c->close_pending) {
            conn_cb_fn fn = c->on_close;
            c->close_pending = false;
            c->on_close = NULL;
            c->state = CS_HEAD; /* released: the handler must not use c any more */
            fn(c, c->on_close_arg);
        }
        leave(c);
        return;
    }
    if (c->kick_pending) {
        c->kick_pending = false;
        conn_process(c);
    }
    if (!c->dead && c->on_drain && pending(c) == 0) {
        conn_cb_fn fn = c->on_drain;
        c->on_drain = NULL;
        fn(c, c->on_drain_arg);
    }
    if (!c->dead)
        conn_timeout(c);
    if (!c->dead && c->state == CS_CLOSING)
        conn_flush(c);
    conn_settle(c);
    leave(c);
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
        return;
    }
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    port = ntohs(a->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
        inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof ip);
        snprintf(out, cap, "%s:%d", ip, port);
    } else {
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%d", ip, port);
    }
}

static void conn_new(struct http_server *s, int fd, const struct sockaddr_storage *ss)
{
    bool reject = s->n_conns >= s->opts.max_connections;
    if (reject && s->n_rejecting >= MAX_REJECTING) {
        close(fd); /* a flood: no room even to say no */
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct http_conn *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->loop = s->loop;
    c->fd = fd;
    c->state = CS_HEAD;
    c->head_start_ms = now_ms(c); /* the header timeout runs from accept */
    c->head.minor_version = 1;
    format_peer(ss, c->peer, sizeof c->peer);
    if (loop_add_fd(s->loop, fd, LOOP_READ, conn_on_io, c) != 0) {
        log_warn("http %s: cannot watch the connection: %s", c->peer, strerror(errno));
        close(fd);
        free(c);
        return;
    }
    c->events = LOOP_READ;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (!reject) {
        c->counted = true;
        s->n_conns++;
        conn_arm(c);
        return;
    }
    s->n_rejecting++;
    log_info("http %s: %d connections open (max_connections); answering 503", c->peer, s->n_conns);
    enter(c);
    conn_error(c, 503, "server busy: too many connections, retry shortly");
    conn_flush(c);
    conn_settle(c);
    leave(c);
}

static void listen_resume(struct loop *l, void *arg)
{
    struct http_server *s = arg;
    s->accept_timer = NULL;
    loop_mod_fd(l, s->listen_fd, LOOP_READ);
}

static void on_accept(struct loop *l, int fd, uint32_t events, void *arg)
{
    (void)events;
    struct http_server *s = arg;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            conn_new(s, cfd, &ss);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        /* EMFILE, ENFILE, ENOBUFS, ENOMEM: stop polling the (level-triggered) listener a while */
        log_warn("http: accept: %s; pausing accepts for %d ms", strerror(errno), ACCEPT_PAUSE_MS);
        loop_mod_fd(l, fd, 0);
        s->accept_timer = loop_timer_add(l, ACCEPT_PAUSE_MS, listen_resume, s);
        return;
    }
}

/* ---- public API ---- */

void http_server_opts_default(struct http_server_opts *o)
{
    *o = (struct http_server_opts){
        .host = "127.0.0.1",
        .port = 8080,
        .max_connections = 1024,
        .max_body_bytes = 16u << 20,
        .max_header_bytes = 16u << 10,
        .header_timeout_ms = 10000,
        .idle_timeout_ms = 60000,
        .write_timeout_ms = 30000,
        .max_pending_bytes = 1u << 20,
    };
}

static int listen_on(const char *host, int port, int *port_out, struct err *e)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int gai = getaddrinfo(host && *host ? host : NULL, port_s, &hints, &res);
    if (gai != 0)
        return err_set(e, "http: cannot resolve listen address \"%s\": %s", host ? host : "",
                       gai_strerror(gai));
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return err_set(e, "http: cannot listen on %s:%d: %s", host ? host : "*", port, strerror(saved));
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *port_out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

int http_server_start(struct loop *l, const struct http_server_opts *o, http_handler_fn fn, void *arg,
                      struct http_server **out, struct err *e)
{
    if (o->port < 0 || o->port > 65535)
        return err_set(e, "http: port %d out of range (0-65535)", o->port);
    if (o->max_connections < 1 || o->max_header_bytes < 64 || o->max_pending_bytes < 1 ||
        !o->header_timeout_ms || !o->idle_timeout_ms || !o->write_timeout_ms)
        return err_set(e, "http: max_connections, max_header_bytes (>= 64), max_pending_bytes and "
                          "the timeouts must be positive");
    int port = 0;
    int fd = listen_on(o->host, o->port, &port, e);
    if (fd < 0)
        return -1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)o->max_connections + 64)
        log_warn("http: max_connections is %d but the open-file limit is %llu (raise ulimit -n)",
                 o->max_connections, (unsigned long long)rl.rlim_cur);
    struct http_server *s = xcalloc(1, sizeof *s);
    s->loop = l;
    s->opts = *o;
    s->opts.host = NULL; /* not kept: the caller's string */
    s->fn = fn;
    s->arg = arg;
    s->listen_fd = fd;
    s->port = port;
    if (loop_add_fd(l, fd, LOOP_READ, on_accept, s) != 0) {
        close(fd);
        free(s);
        return err_set(e, "http: cannot watch the listening socket");
    }
    log_info("http: listening on %s:%d", o->host ? o->host : "*", port);
    *out = s;
    return 0;
}

int http_server_port(const struct http_server *s) { return s->port; }

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    loop_del_fd(s->loop, s->listen_fd);
    close(s->listen_fd);
    if (s->accept_timer)
        loop_timer_cancel(s->loop, s->accept_timer);
    for (struct http_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_kill(c);
        if (c->close_pending) {
            if (c->timer)
                loop_timer_cancel(c->loop, c->timer);
            c->timer = NULL;
            conn_cb_fn fn = c->on_close;
            c->close_pending = false;
            c->on_close = NULL;
            c->state = CS_HEAD;
            fn(c, c->on_close_arg);
        }
        if (c->state == CS_HANDLER)
            conn_unlink(c); /* held without on_close: the handler's answer frees it */
        else
            conn_free(c);
    }
    free(s);
}

const char *http_request_header(const struct http_request *r, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++) {
        if (http_name_eq(r->headers[i].name, r->headers[i].name_len, name, n)) {
            if (len)
                *len = r->headers[i].value_len;
            return r->headers[i].value;
        }
    }
    return NULL;
}

/* A response call on a connection with no request awaiting one is a caller bug. */
static bool check_answerable(const struct http_conn *c, bool stream, const char *what)
{
    if (c->state == CS_HANDLER && c->streaming == stream)
        return true;
    log_error("http: %s on a connection with no %s pending (a second response?)", what,
              stream ? "stream" : "request");
    return false;
}

void http_respond(struct http_conn *c, int status, const char *content_type,
                  const char *const *extra_headers, const void *body, size_t len)
{
    if (!check_answerable(c, false, "http_respond"))
        return;
    enter(c);
    if (!c->dead) {
        bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
        put_head(c, status, content_type, extra_headers, no_body ? FRAME_NONE : FRAME_LENGTH, len);
        if (!no_body && !c->is_head && len)
            out_append(c, body, len);
    }
    conn_response_done(c);
    leave(c);
}

void http_stream_begin(struct http_conn *c, int status, const char *content_type,
                       const char *const *extra_headers)
{
    if (!check_answerable(c, false, "http_stream_begin"))
        return;
    enter(c);
    c->streaming = true;
    if (!c->dead) {
        c->no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
        c->stream_chunked = c->head.minor_version >= 1;
        if (!c->stream_chunked)
            c->keep_alive = false; /* HTTP/1.0: the body ends when the connection does */
        put_head(c, status, content_type, extra_headers,
                 c->no_body ? FRAME_NONE : c->stream_chunked ? FRAME_CHUNKED : FRAME_CLOSE, 0);
        c->no_body |= c->is_head;
        conn_flush(c); /* the head goes out now: streaming clients see the status at once */
        conn_settle(c);
    }
    leave(c);
}

int http_stream_write(struct http_conn *c, const void *data, size_t len)
{
    if (!check_answerable(c, true, "http_stream_write") || c->dead)
        return -1;
    if (len == 0 || c->no_body)
        return 0;
    enter(c);
    if (pending(c) >= c->srv->opts.max_pending_bytes) {
        log_info("http %s: %zu bytes queued for a client that is not reading; dropping it", c->peer,
                 pending(c));
        conn_kill(c);
    } else {
        if (c->stream_chunked) {
            char size[24];
            snprintf(size, sizeof size, "%zx\r\n", len);
            out_puts(c, size);
        }
        out_append(c, data, len);
        if (c->stream_chunked)
            out_puts(c, "\r\n");
        conn_flush(c);
        conn_settle(c);
    }
    int r = c->dead ? -1 : 0;
    leave(c); /* c is still held by the handler: not freed */
    return r;
}

void http_stream_end_trailers(struct http_conn *c, const char *const *trailers)
{
    if (!check_answerable(c, true, "http_stream_end"))
        return;
    enter(c);
    if (!c->dead && !c->no_body && c->stream_chunked) {
        out_puts(c, "0\r\n");
        for (size_t i = 0; trailers && trailers[i]; i++) {
            out_puts(c, trailers[i]);
            out_puts(c, "\r\n");
        }
        out_puts(c, "\r\n");
    }
    conn_response_done(c);
    leave(c);
}

void http_stream_end(struct http_conn *c) { http_stream_end_trailers(c, NULL); }

void http_conn_on_close(struct http_conn *c, void (*fn)(struct http_conn *c, void *arg), void *arg)
{
    c->on_close = fn;
    c->on_close_arg = arg;
    if (c->dead && c->state == CS_HANDLER && fn && !c->close_pending) {
        c->close_pending = true; /* the client is already gone: tell the handler from the loop */
        conn_arm(c);
    }
}

void http_conn_on_drain(struct http_conn *c, void (*fn)(struct http_conn *c, void *arg), void *arg)
{
    c->on_drain = c->dead ? NULL : fn;
    c->on_drain_arg = arg;
    if (!c->dead)
        conn_arm(c); /* already drained: called from the loop at once */
}

size_t http_conn_pending_bytes(const struct http_conn *c) { return pending(c); }

const char *http_conn_peer(const struct http_conn *c) { return c->peer; }
