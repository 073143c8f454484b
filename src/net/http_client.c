/* http_client: libcurl multi on the event loop (see http_client.h).
 *
 * Driving curl: curl's socket callback maps CURL_POLL_* to loop_add_fd/loop_mod_fd/loop_del_fd
 * (a watched socket is marked with curl_multi_assign), its timer callback keeps one loop timer,
 * and both loop callbacks call drive(): curl_multi_socket_action, then settle() reads finished
 * transfers and calls on_done.
 *
 * Re-entrancy: curl forbids curl_multi_add_handle/remove_handle from inside its callbacks (our
 * header and write callbacks, where on_response/on_body run). So while `in_curl` is non-zero a
 * cancel only marks the request (its callbacks then return 0, which makes curl abort it) and a
 * start only creates it; settle() removes and adds them once curl has returned (`dirty`).
 *
 * Our own timeouts: curl enforces only the connect timeout (so CURLE_OPERATION_TIMEDOUT always
 * means connect). First byte, idle and total are one loop timer per request, armed for the
 * earliest deadline that applies; body bytes only move `last_byte_ms`, and a timer that fires
 * early re-arms itself, so a chunk costs no timer operation.
 */
#include "net/http_client.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "net/loop.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Idle connections kept for reuse across all hosts of one client. */
#define POOL_MAX_CONNECTIONS 256
/* Response headers beyond this are dropped (curl itself caps one header at 100 KiB). */
#define HEADERS_MAX_BYTES (64 * 1024)

struct http_req {
    struct http_client *c;
    CURL *easy;
    struct curl_slist *headers;
    http_response_fn on_response;
    http_body_fn on_body;
    http_done_fn on_done;
    void *arg;
    int64_t first_byte_ms, idle_ms, total_ms;
    uint64_t start_ms, last_byte_ms;
    struct loop_timer *deadline;
    uint64_t deadline_at_ms;
    struct buf hdrs;      /* response headers as "name\0value\0" pairs */
    size_t n_hdrs;
    int status;
    bool got_response;    /* on_response was called (final headers are in) */
    bool in_multi;        /* added to the multi handle */
    bool cancelled;       /* no more callbacks; removed and freed by settle() */
    bool finishing;       /* on_done is running */
    bool add_failed;
    struct http_req *prev, *next;
    char errbuf[CURL_ERROR_SIZE];
};

struct http_client {
    struct loop *loop;
    CURLM *multi;
    struct loop_timer *timer; /* curl's wake-up */
    int in_curl;              /* inside curl_multi_socket_action */
    bool dirty;               /* requests to add or remove once curl has returned */
    struct http_req *reqs;    /* every live request */
    size_t n_active;
};

static uint64_t now_ms(void) { return clock_now_ns() / 1000000u; }

const char *http_result_name(enum http_result r)
{
    switch (r) {
    case HTTP_OK: return "ok";
    case HTTP_ERR_CONNECT: return "connect";
    case HTTP_ERR_CONNECT_TIMEOUT: return "connect_timeout";
    case HTTP_ERR_FIRST_BYTE_TIMEOUT: return "first_byte_timeout";
    case HTTP_ERR_IDLE_TIMEOUT: return "idle_timeout";
    case HTTP_ERR_TOTAL_TIMEOUT: return "total_timeout";
    case HTTP_ERR_TRANSFER: return "transfer";
    case HTTP_ERR_OTHER: return "other";
    }
    return "?";
}

const char *http_client_header_find(const struct http_client_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

int64_t http_client_retry_after_ms(const struct http_client_header *h, size_t n)
{
    const char *v = http_client_header_find(h, n, "retry-after-ms");
    char *end;
    if (v) {
        double ms = strtod(v, &end);
        if (end != v && ms >= 0 && ms < 1e15)
            return (int64_t)ms;
    }
    v = http_client_header_find(h, n, "retry-after");
    if (!v || !*v)
        return -1;
    if (*v >= '0' && *v <= '9') {
        long long s = strtoll(v, &end, 10);
        return *end || s > 1000000000 ? -1 : (int64_t)s * 1000;
    }
    time_t at = curl_getdate(v, NULL);
    if (at < 0)
        return -1;
    time_t now = time(NULL);
    return at > now ? (int64_t)(at - now) * 1000 : 0;
}

static enum http_result map_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK: return HTTP_OK;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        return HTTP_ERR_CONNECT;
    case CURLE_OPERATION_TIMEDOUT: return HTTP_ERR_CONNECT_TIMEOUT; /* the only curl timeout set */
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
        return HTTP_ERR_TRANSFER;
    default: return HTTP_ERR_OTHER;
    }
}

/* ---- request lifetime ---- */

static void link_req(struct http_client *c, struct http_req *r)
{
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    c->n_active++;
}

static void free_headers(struct curl_slist *h)
{
    for (struct curl_slist *s = h; s; s = s->next)
        explicit_bzero(s->data, strlen(s->data)); /* may hold an API key */
    curl_slist_free_all(h);
}

/* Unlinks, detaches from curl and frees r; no callback. */
static void req_free(struct http_req *r)
{
    struct http_client *c = r->c;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    c->n_active--;
    if (r->deadline)
        loop_timer_cancel(c->loop, r->deadline);
    if (r->in_multi)
        curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    free_headers(r->headers);
    buf_free(&r->hdrs);
    free(r);
}

/* Calls on_done (once) and frees r. Not while in_curl. */
static void req_finish(struct http_req *r, enum http_result res, const char *message)
{
    if (r->in_multi) {
        curl_multi_remove_handle(r->c->multi, r->easy);
        r->in_multi = false;
    }
    long n_connects = 0;
    curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &n_connects);
    struct http_done d = {
        .result = res,
        .status = r->got_response ? r->status : 0,
        .message = message,
        .new_connection = n_connects > 0,
    };
    r->finishing = true;
    if (r->deadline) {
        loop_timer_cancel(r->c->loop, r->deadline);
        r->deadline = NULL;
    }
    r->on_done(r->arg, &d);
    req_free(r);
}

/* ---- deadlines ---- */

static void on_deadline(struct loop *l, void *arg);

static uint64_t next_deadline(const struct http_req *r)
{
    uint64_t d = UINT64_MAX;
    if (r->total_ms > 0)
        d = r->start_ms + (uint64_t)r->total_ms;
    if (!r->got_response && r->first_byte_ms > 0 && r->start_ms + (uint64_t)r->first_byte_ms < d)
        d = r->start_ms + (uint64_t)r->first_byte_ms;
    if (r->got_response && r->idle_ms > 0 && r->last_byte_ms + (uint64_t)r->idle_ms < d)
        d = r->last_byte_ms + (uint64_t)r->idle_ms;
    return d;
}

static void arm_deadline(struct http_req *r)
{
    uint64_t d = next_deadline(r);
    if (r->deadline && r->deadline_at_ms == d)
        return;
    if (r->deadline) {
        loop_timer_cancel(r->c->loop, r->deadline);
        r->deadline = NULL;
    }
    if (d == UINT64_MAX)
        return;
    uint64_t now = now_ms();
    r->deadline = loop_timer_add(r->c->loop, d > now ? d - now : 0, on_deadline, r);
    r->deadline_at_ms = d;
}

static void on_deadline(struct loop *l, void *arg)
{
    (void)l;
    struct http_req *r = arg;
    r->deadline = NULL;
    uint64_t now = now_ms();
    if (r->total_ms > 0 && now >= r->start_ms + (uint64_t)r->total_ms) {
        snprintf(r->errbuf, sizeof r->errbuf, "no complete response within %lld ms",
                 (long long)r->total_ms);
        req_finish(r, HTTP_ERR_TOTAL_TIMEOUT, r->errbuf);
    } else if (!r->got_response && r->first_byte_ms > 0 &&
               now >= r->start_ms + (uint64_t)r->first_byte_ms) {
        snprintf(r->errbuf, sizeof r->errbuf, "no response headers within %lld ms",
                 (long long)r->first_byte_ms);
        req_finish(r, HTTP_ERR_FIRST_BYTE_TIMEOUT, r->errbuf);
    } else if (r->got_response && r->idle_ms > 0 && now >= r->last_byte_ms + (uint64_t)r->idle_ms) {
        snprintf(r->errbuf, sizeof r->errbuf, "no data for %lld ms", (long long)r->idle_ms);
        req_finish(r, HTTP_ERR_IDLE_TIMEOUT, r->errbuf);
    } else {
        arm_deadline(r);
    }
}

/* ---- curl callbacks (in_curl) ---- */

static void deliver_response(struct http_req *r)
{
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    r->status = (int)code;
    r->got_response = true;
    r->last_byte_ms = now_ms();
    arm_deadline(r); /* the first-byte deadline is over; the idle one starts */
    if (!r->on_response)
        return;
    struct http_client_header *h = xmalloc_array(r->n_hdrs ? r->n_hdrs : 1, sizeof *h);
    const char *p = r->hdrs.data;
    for (size_t i = 0; i < r->n_hdrs; i++) {
        h[i].name = p;
        p += strlen(p) + 1;
        h[i].value = p;
        p += strlen(p) + 1;
    }
    r->on_response(r->arg, r->status, h, r->n_hdrs);
    free(h);
}

static bool is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

static size_t on_header_line(char *p, size_t size, size_t n, void *ud)
{
    struct http_req *r = ud;
    size_t len = size * n;
    if (r->cancelled)
        return 0;
    if (r->got_response)
        return len; /* trailers */
    size_t l = len;
    while (l && is_blank(p[l - 1]))
        l--;
    if (l >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a status line starts a new header block */
        buf_clear(&r->hdrs);
        r->n_hdrs = 0;
        return len;
    }
    if (l == 0) { /* end of a block: the final one unless it was 1xx */
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200)
            deliver_response(r);
        return r->cancelled ? 0 : len;
    }
    const char *colon = memchr(p, ':', l);
    if (!colon || r->hdrs.len + l + 2 > HEADERS_MAX_BYTES)
        return len;
    size_t name_len = (size_t)(colon - p);
    const char *v = colon + 1;
    while (v < p + l && is_blank(*v))
        v++;
    buf_append(&r->hdrs, p, name_len);
    buf_putc(&r->hdrs, 0);
    buf_append(&r->hdrs, v, (size_t)(p + l - v));
    buf_putc(&r->hdrs, 0);
    r->n_hdrs++;
    return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct http_req *r = ud;
    size_t len = size * n;
    if (r->cancelled)
        return 0;
    if (!r->got_response) {
        deliver_response(r);
        if (r->cancelled)
            return 0;
    }
    r->last_byte_ms = now_ms();
    if (r->on_body)
        r->on_body(r->arg, p, len);
    return r->cancelled ? 0 : len;
}

/* ---- driving curl from the loop ---- */

/* Adds the requests started inside curl and frees those cancelled inside it. */
static void apply_deferred(struct http_client *c)
{
    c->dirty = false;
    for (struct http_req *r = c->reqs, *next; r; r = next) {
        next = r->next;
        if (r->cancelled) {
            req_free(r);
        } else if (!r->in_multi && !r->add_failed) {
            if (curl_multi_add_handle(c->multi, r->easy) == CURLM_OK)
                r->in_multi = true;
            else
                r->add_failed = true;
        }
    }
    for (bool again = true; again;) { /* on_done may change the list: rescan after each */
        again = false;
        for (struct http_req *r = c->reqs; r; r = r->next) {
            if (r->add_failed) {
                req_finish(r, HTTP_ERR_OTHER, "curl refused the request");
                again = true;
                break;
            }
        }
    }
}

/* Once curl has returned: applies what callbacks deferred and reports finished transfers. Every
 * user callback here may start or cancel requests, hence the loop. */
static void settle(struct http_client *c)
{
    if (c->in_curl)
        return;
    for (;;) {
        if (c->dirty) {
            apply_deferred(c);
            continue;
        }
        int left;
        CURLMsg *m = curl_multi_info_read(c->multi, &left);
        if (!m)
            break;
        if (m->msg != CURLMSG_DONE)
            continue;
        CURLcode rc = m->data.result;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        struct http_req *r = (struct http_req *)priv;
        if (!r || r->cancelled)
            continue;
        if (rc == CURLE_OK && !r->got_response) {
            /* a response whose header block never ended; a cancel in on_response is deferred */
            c->in_curl++;
            deliver_response(r);
            c->in_curl--;
            if (r->cancelled)
                continue; /* freed by apply_deferred */
        }
        req_finish(r, map_curl(rc), rc == CURLE_OK ? "" : r->errbuf[0] ? r->errbuf
                                                                       : curl_easy_strerror(rc));
    }
}

static void drive(struct http_client *c, curl_socket_t fd, int flags)
{
    int running;
    c->in_curl++;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    c->in_curl--;
    settle(c);
}

static void on_socket_ready(struct loop *l, int fd, uint32_t events, void *arg)
{
    (void)l;
    int flags = (events & LOOP_READ ? CURL_CSELECT_IN : 0) |
                (events & LOOP_WRITE ? CURL_CSELECT_OUT : 0) |
                (events & LOOP_ERROR ? CURL_CSELECT_ERR : 0);
    drive(arg, fd, flags);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    struct http_client *c = userp;
    if (what == CURL_POLL_REMOVE) {
        if (socketp)
            loop_del_fd(c->loop, s);
        return 0;
    }
    uint32_t ev = (what & CURL_POLL_IN ? LOOP_READ : 0) | (what & CURL_POLL_OUT ? LOOP_WRITE : 0);
    if (socketp) {
        loop_mod_fd(c->loop, s, ev);
    } else if (loop_add_fd(c->loop, s, ev, on_socket_ready, c) == 0) {
        curl_multi_assign(c->multi, s, c);
    } else {
        /* the transfer then ends by its own timeouts; failing here would abort every transfer */
        log_error("http_client: cannot watch socket %d", (int)s);
    }
    return 0;
}

static void on_curl_timer(struct loop *l, void *arg)
{
    (void)l;
    struct http_client *c = arg;
    c->timer = NULL;
    drive(c, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_timer_set(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct http_client *c = userp;
    if (c->timer) {
        loop_timer_cancel(c->loop, c->timer);
        c->timer = NULL;
    }
    if (timeout_ms >= 0)
        c->timer = loop_timer_add(c->loop, (uint64_t)timeout_ms, on_curl_timer, c);
    return 0;
}

/* ---- public ---- */

struct http_client *http_client_new(struct loop *l, struct err *e)
{
    /* reference-counted by curl; thread-safe in the libcurl we require (7.84+) */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        err_set(e, "libcurl: global initialisation failed");
        return NULL;
    }
    struct http_client *c = xcalloc(1, sizeof *c);
    c->loop = l;
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        curl_global_cleanup();
        err_set(e, "libcurl: cannot create a multi handle");
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer_set);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)POOL_MAX_CONNECTIONS);
    return c;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    while (c->reqs)
        req_free(c->reqs);
    curl_multi_cleanup(c->multi); /* closes the pool; may still call on_curl_socket */
    if (c->timer)
        loop_timer_cancel(c->loop, c->timer);
    free(c);
    curl_global_cleanup();
}

size_t http_client_active(const struct http_client *c) { return c->n_active; }

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        CURLcode rc_ = curl_easy_setopt(r->easy, opt, val);                                        \
        if (rc_ != CURLE_OK) {                                                                     \
            err_set(e, "http request %s %s: curl option " #opt ": %s", req->method, req->url,    \
                    curl_easy_strerror(rc_));                                                      \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

struct http_req *http_client_start(struct http_client *c, const struct http_client_request *req,
                                   struct err *e)
{
    struct http_req *r = xcalloc(1, sizeof *r);
    r->c = c;
    r->on_response = req->on_response;
    r->on_body = req->on_body;
    r->on_done = req->on_done;
    r->arg = req->arg;
    r->first_byte_ms = req->first_byte_timeout_ms;
    r->idle_ms = req->idle_timeout_ms;
    r->total_ms = req->total_timeout_ms;
    buf_init(&r->hdrs);
    r->easy = curl_easy_init();
    if (!r->easy) {
        free(r);
        err_set(e, "http request %s %s: curl cannot create a handle", req->method, req->url);
        return NULL;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        struct curl_slist *s = curl_slist_append(r->headers, req->headers[i]);
        if (!s) {
            err_set(e, "http request %s %s: out of memory for headers", req->method, req->url);
            goto fail;
        }
        r->headers = s;
    }
    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_PRIVATE, (void *)r);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SETOPT(CURLOPT_USERAGENT, "baton");
    SETOPT(CURLOPT_HTTPHEADER, r->headers);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header_line);
    SETOPT(CURLOPT_HEADERDATA, (void *)r);
    SETOPT(CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(CURLOPT_WRITEDATA, (void *)r);
    if (req->connect_timeout_ms > 0)
        SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
    if (strcmp(req->method, "GET") == 0) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(req->method, "POST") == 0)
            SETOPT(CURLOPT_POST, 1L);
        else
            SETOPT(CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body_len > 0 || strcmp(req->method, "POST") == 0) {
            SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            SETOPT(CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
        }
    }
    r->start_ms = now_ms();
    link_req(c, r);
    if (c->in_curl) {
        c->dirty = true; /* added by settle() once curl returns */
    } else {
        CURLMcode mc = curl_multi_add_handle(c->multi, r->easy);
        if (mc != CURLM_OK) {
            err_set(e, "http request %s %s: %s", req->method, req->url, curl_multi_strerror(mc));
            req_free(r);
            return NULL;
        }
        r->in_multi = true;
    }
    arm_deadline(r);
    return r;
fail:
    free_headers(r->headers);
    curl_easy_cleanup(r->easy);
    free(r);
    return NULL;
}

void http_client_cancel(struct http_client *c, struct http_req *r)
{
    if (!r || r->cancelled || r->finishing)
        return;
    r->cancelled = true;
    if (r->deadline) {
        loop_timer_cancel(c->loop, r->deadline);
        r->deadline = NULL;
    }
    if (c->in_curl)
        c->dirty = true; /* curl is running our callbacks: settle() frees it */
    else
        req_free(r);
}
