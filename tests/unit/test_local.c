/* The local backend end to end on a real loop with stories260K: greedy output equals the
 * engine's, concurrent requests each get their own correct answer, stop strings and max_tokens
 * end generation with the right finish reason, usage is counted, a cancelled call gets no
 * further events, a full queue says busy, and an oversized prompt is refused with the numbers. */
#include "check.h"

#include "backend/local.h"
#include "base/buf.h"
#include "net/loop.h"

#include <stdatomic.h>

struct sink {
    struct buf text;
    int64_t prompt_tokens, completion_tokens;
    const char *finish;
    int n_events_after_final;
    bool done, error;
    int *n_done;
    struct loop *loop;
    int stop_after; /* stop the loop when n_done reaches this */
};

static void emit(struct call *c, const struct event *ev)
{
    struct sink *s = c->user;
    if (s->done) {
        s->n_events_after_final++;
        return;
    }
    switch (ev->type) {
    case EV_DELTA:
        if (ev->text)
            buf_append(&s->text, ev->text, ev->len);
        break;
    case EV_USAGE:
        s->prompt_tokens = ev->prompt_tokens;
        s->completion_tokens = ev->completion_tokens;
        break;
    case EV_FINISH:
    case EV_ERROR:
        s->finish = ev->type == EV_FINISH ? ev->finish_reason : "error";
        s->error = ev->type == EV_ERROR;
        s->done = true;
        if (++*s->n_done >= s->stop_after)
            loop_stop(s->loop);
        break;
    }
}

static struct request *make_req(const char *prompt, int32_t max_tokens, const char *stop)
{
    struct request *r = calloc(1, sizeof *r);
    r->dialect = DIALECT_OPENAI_COMPLETION;
    r->prompt = strdup(prompt);
    r->model = strdup("small");
    r->max_tokens = max_tokens;
    r->has_temperature = true;
    r->temperature = 0.0f;
    if (stop) {
        r->stop = calloc(1, sizeof *r->stop);
        r->stop[0] = strdup(stop);
        r->n_stop = 1;
    }
    return r;
}

static struct tier_config tier(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s", check_fixture("models/stories260K.gguf"));
    struct tier_config t = {0};
    t.name = "small";
    t.kind = TIER_LOCAL;
    t.model_path = path;
    t.threads = 1;
    t.context = 256;
    t.max_queue = 8;
    t.max_tokens_default = 64;
    return t;
}

static void test_generate(void)
{
    struct loop *l = loop_new();
    struct tier_config t = tier();
    struct err e;
    struct backend *b = local_new(l, &t, &e);
    CHECK_MSG(b != NULL, "%s", e.msg);
    if (!b)
        return;
    int n_done = 0;
    /* three at once, one with a stop string, one limited by max_tokens */
    struct request *r[3] = {make_req("Once upon a time", 40, NULL), make_req("Once upon a time", 40, "Lily"),
                            make_req("Once upon a time", 5, NULL)};
    struct sink s[3];
    struct call c[3];
    for (int i = 0; i < 3; i++) {
        memset(&s[i], 0, sizeof s[i]);
        buf_init(&s[i].text);
        s[i].n_done = &n_done;
        s[i].loop = l;
        s[i].stop_after = 3;
        memset(&c[i], 0, sizeof c[i]);
        c[i].req = r[i];
        c[i].emit = emit;
        c[i].user = &s[i];
        CHECK(backend_start(b, &c[i], &e) == START_OK);
    }
    loop_run(l);
    const char *want = ", there was a little girl named Lily. She loved to play outside in the park.";
    CHECK_MSG(s[0].text.data && strncmp(s[0].text.data, want, strlen(want)) == 0, "got \"%s\"",
              s[0].text.data ? s[0].text.data : "");
    CHECK_STR(s[0].finish, "length");
    CHECK_EQ_INT(s[0].completion_tokens, 40);
    CHECK_EQ_INT(s[0].prompt_tokens, 5); /* BOS + 4 */
    CHECK_STR(s[1].text.data, ", there was a little girl named ");
    CHECK_STR(s[1].finish, "stop");
    CHECK_STR(s[2].finish, "length");
    CHECK_EQ_INT(s[2].completion_tokens, 5);
    CHECK_STR(s[2].text.data, ", there was a little");
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(s[i].n_events_after_final, 0);
        buf_free(&s[i].text);
        request_free(r[i]);
    }
    backend_free(b);
    loop_free(l);
}

static void stop_timer(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

static void cancel_timer(struct loop *l, void *arg)
{
    (void)l;
    struct call *c = arg;
    backend_cancel(c->backend, c);
}

static void test_cancel_and_limits(void)
{
    struct loop *l = loop_new();
    struct tier_config t = tier();
    t.max_queue = 0; /* the 4 slots, nothing waiting */
    struct err e;
    struct backend *b = local_new(l, &t, &e);
    if (!b) {
        CHECK_MSG(0, "%s", e.msg);
        return;
    }
    struct request *r = make_req("Once upon a time", 200, NULL);
    int n_done = 0;
    struct sink s = {0};
    buf_init(&s.text);
    s.n_done = &n_done;
    s.loop = l;
    s.stop_after = 1;
    struct call busy[4];
    for (int i = 0; i < 4; i++) {
        busy[i] = (struct call){.req = r, .emit = emit, .user = &s};
        CHECK(backend_start(b, &busy[i], &e) == START_OK);
    }
    struct call c = {.req = r, .emit = emit, .user = &s};
    CHECK(backend_start(b, &c, &e) == START_BUSY);
    CHECK_MSG(strstr(e.msg, "at capacity (4 running, 0 queued)") != NULL, "%s", e.msg);
    for (int i = 0; i < 4; i++)
        backend_cancel(b, &busy[i]);
    backend_free(b);

    t.max_queue = 8;
    b = local_new(l, &t, &e);
    CHECK(backend_start(b, &c, &e) == START_OK);
    loop_timer_add(l, 5, cancel_timer, &c);
    loop_timer_add(l, 200, stop_timer, NULL);
    loop_run(l);
    CHECK(!s.done); /* cancelled calls get no final event, and nothing after cancel */
    size_t got = s.text.len;
    loop_timer_add(l, 100, stop_timer, NULL);
    loop_run(l);
    CHECK_EQ_INT(s.text.len, got);

    /* a prompt longer than the context */
    struct buf big;
    buf_init(&big);
    for (int i = 0; i < 300; i++)
        buf_puts(&big, "Once upon a time ");
    struct request *r2 = make_req(big.data, 10, NULL);
    struct call c2 = {.req = r2, .emit = emit, .user = &s};
    CHECK(backend_start(b, &c2, &e) == START_BAD_REQUEST);
    CHECK_MSG(strstr(e.msg, "maximum context length is 256 tokens") != NULL, "%s", e.msg);
    buf_free(&big);
    buf_free(&s.text);
    request_free(r);
    request_free(r2);
    backend_free(b);
    loop_free(l);
}

int main(void)
{
    RUN(test_generate);
    RUN(test_cancel_and_limits);
    return check_report();
}
