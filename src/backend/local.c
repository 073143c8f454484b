/* local: the engine behind a request queue (see local.h).
 *
 * Lifetime of a request (`struct seq`): start() (loop thread) tokenizes the prompt, checks it
 * fits, and queues the seq; the worker moves queued seqs into free slots (the tier's `slots`),
 * and each round runs one forward pass (fwd_eval_seqs: continuous batching) that decodes one token
 * of every seq past its prompt and reads the next prompt chunk of the others, and posts their
 * events to the loop.
 * A seq is reference-counted: one reference for the worker, one for the loop side (dropped at
 * the final event or at cancel), one per event in flight through loop_post. The loop side's
 * `closed` flag, touched only on the loop thread, drops events that were already posted when
 * the call was cancelled, which is how "no emit after cancel returns" holds without locks on the
 * hot path.
 *
 * Text out: token pieces are appended to `pending`; what is sent is the longest prefix that (a)
 * ends on a UTF-8 character boundary and (b) cannot be the start of a stop string (the last
 * longest-stop - 1 bytes wait), so stop strings are never partly streamed and are cut out.
 *
 * Prompts, grammars and tool calls (local_plan.c decides them at start): a chat request is
 * rendered with the model's chat template (engine/chat.h); completions use the prompt as given.
 * With a grammar, each token is drawn by sampler_sample_constrained and fed to the grammar;
 * generation ends when the grammar is finished. With tool parsing, the text that flush_text
 * releases goes through a toolcall parser, whose content and call deltas become the events; a
 * call seen ends the response with finish_reason "tool_calls" (unless max_tokens cut it).
 */
#include "backend/local.h"

#include "backend/local_plan.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "engine/chat.h"
#include "engine/forward.h"
#include "engine/grammar.h"
#include "engine/kv.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/toolcall.h"
#include "net/loop.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOCAL_MAX_SLOTS 64  /* the config's `slots` bound: sequences decoded together */
#define LOCAL_BATCH 256     /* tokens per forward step: decoding ones + prompt chunks */
#define MAX_TOP_LOGPROBS 20

struct seq {
    _Atomic int refs;
    _Atomic bool cancelled;  /* written by the loop thread, read by the worker */
    bool closed;             /* loop thread only: final event delivered or call cancelled */
    struct call *call;       /* loop thread only */
    struct local *lb;
    /* worker state */
    int32_t *prompt;
    size_t n_prompt, n_evaluated;
    int32_t max_tokens, n_generated;
    int32_t last_token;
    struct sampler *sampler;
    struct kv_cache *kv;
    struct buf pending;
    char **stop;
    size_t n_stop, max_stop_len;
    int stop_hit;                        /* index of the stop string that ended the output, or -1 */
    bool logprobs;
    int top_logprobs;
    struct grammar *grammar;     /* constrains the output, or NULL */
    struct toolcall_parser *tc;  /* parses tool calls out of the output, or NULL */
    bool render_special;         /* pieces carry control-token text (tool-call markers) */
    struct seq *next;
};

struct local {
    struct backend base;
    const struct tier_config *cfg;
    struct model *model;
    struct forward *fwd;
    int32_t n_ctx;
    float *logits;
    int n_slots;                         /* the tier's `slots` */
    struct kv_cache *kv_pool[LOCAL_MAX_SLOTS];
    int n_kv_free;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct seq *queue_head, *queue_tail; /* guarded by mu */
    int n_queued;                        /* guarded by mu: waiting for a slot */
    int n_inflight;                      /* guarded by mu: queued + active */
    bool stop;                           /* guarded by mu */
    struct seq *active[LOCAL_MAX_SLOTS]; /* worker only */
    int n_active;
    struct chat_template *tmpl;          /* NULL if the model's template does not parse */
    char tmpl_error[ERR_MSG_MAX];        /* why tmpl is NULL */
    struct grammar_vocab *gvocab[2];     /* worker only, built on first use: [render_special] */
};

/* ---------------------------------------------------------------------------------------------
 * Reference counting and events */

static void seq_free(struct seq *s)
{
    sampler_free(s->sampler);
    grammar_free(s->grammar);
    toolcall_parser_free(s->tc);
    free(s->prompt);
    buf_free(&s->pending);
    for (size_t i = 0; i < s->n_stop; i++)
        free(s->stop[i]);
    free(s->stop);
    free(s);
}

static void seq_unref(struct seq *s)
{
    if (atomic_fetch_sub(&s->refs, 1) == 1)
        seq_free(s);
}

/* An event copied for its trip through loop_post. */
struct posted {
    struct seq *s;
    struct event ev;
    char *text;
    struct token_logprob lp;
    struct token_logprob top[MAX_TOP_LOGPROBS];
    char *strings; /* token texts of lp and top, back to back */
    char *error_message;
    json_t *delta; /* a tool-call delta (owned) */
};

static void deliver(void *arg)
{
    struct posted *p = arg;
    struct seq *s = p->s;
    if (!s->closed) {
        bool final = p->ev.type == EV_FINISH || p->ev.type == EV_ERROR;
        if (final)
            s->closed = true;
        s->call->emit(s->call, &p->ev);
        if (final)
            seq_unref(s); /* the loop side's reference */
    }
    free(p->text);
    free(p->strings);
    free(p->error_message);
    json_decref(p->delta);
    free(p);
    seq_unref(s);
}

static void post(struct seq *s, struct posted *p)
{
    p->s = s;
    atomic_fetch_add(&s->refs, 1);
    loop_post(s->lb->base.loop, deliver, p);
}

static void post_text(struct seq *s, const char *text, size_t len, const struct posted *lp)
{
    struct posted *p = lp ? (struct posted *)lp : xcalloc(1, sizeof *p);
    p->ev.type = EV_DELTA;
    p->text = xstrndup(text, len);
    p->ev.text = p->text;
    p->ev.len = len;
    post(s, p);
}

/* Tool-call parser output: content becomes text, call openings and arguments become deltas. */
static void on_toolcall(void *user, const struct toolcall_event *ev)
{
    struct seq *s = user;
    if (ev->type == TOOLCALL_CONTENT) {
        if (ev->len)
            post_text(s, ev->text, ev->len, NULL);
        return;
    }
    struct posted *p = xcalloc(1, sizeof *p);
    p->ev.type = EV_DELTA;
    p->delta = toolcall_event_delta(ev);
    p->ev.delta = p->delta;
    post(s, p);
}

/* Text released by flush_text: straight out, or through the tool-call parser. The logprobs of
 * the token, if any, travel with the text, or alone when the parser holds the text back. */
static void emit_text(struct seq *s, const char *text, size_t len, struct posted *lp)
{
    if (!s->tc) {
        post_text(s, text, len, lp);
        return;
    }
    toolcall_feed(s->tc, text, len, on_toolcall, s);
    if (lp)
        post_text(s, "", 0, lp);
}

static void post_end(struct seq *s, const char *finish_reason)
{
    if (s->tc) {
        toolcall_finish(s->tc, on_toolcall, s);
        if (toolcall_n_calls(s->tc) > 0 && strcmp(finish_reason, "stop") == 0)
            finish_reason = "tool_calls"; /* cut by max_tokens stays "length", as OpenAI says */
    }
    struct posted *u = xcalloc(1, sizeof *u);
    u->ev.type = EV_USAGE;
    u->ev.prompt_tokens = (int64_t)s->n_prompt;
    u->ev.completion_tokens = s->n_generated;
    post(s, u);
    struct posted *f = xcalloc(1, sizeof *f);
    f->ev.type = EV_FINISH;
    f->ev.finish_reason = finish_reason;
    if (s->stop_hit >= 0 && strcmp(finish_reason, "stop") == 0) { /* a copy: s may go first */
        f->text = xstrdup(s->stop[s->stop_hit]);
        f->ev.stop_sequence = f->text;
    }
    post(s, f);
}

static void post_error(struct seq *s, int status, const char *msg)
{
    struct posted *p = xcalloc(1, sizeof *p);
    p->ev.type = EV_ERROR;
    p->ev.status = status;
    p->ev.error_type = "server_error";
    p->error_message = xstrdup(msg);
    p->ev.error_message = p->error_message;
    post(s, p);
}

/* ---------------------------------------------------------------------------------------------
 * Worker */

/* Log-probabilities of the sampled token and the top n alternatives, from raw logits. */
static struct posted *make_logprobs(struct local *lb, const float *logits, int32_t chosen, int n)
{
    const struct tok *t = model_tok(lb->model);
    int32_t nv = model_n_vocab(lb->model);
    float max = logits[0];
    for (int32_t i = 1; i < nv; i++)
        max = logits[i] > max ? logits[i] : max;
    double sum = 0;
    for (int32_t i = 0; i < nv; i++)
        sum += exp((double)(logits[i] - max));
    float lse = max + (float)log(sum);
    int32_t ids[MAX_TOP_LOGPROBS + 1];
    int k = 0;
    ids[k++] = chosen;
    for (int j = 0; j < n; j++) { /* n <= 20 passes: fine next to a forward pass */
        int32_t best = -1;
        for (int32_t i = 0; i < nv; i++) {
            bool taken = false;
            for (int q = 1; q < k; q++)
                taken |= ids[q] == i;
            if (!taken && (best < 0 || logits[i] > logits[best]))
                best = i;
        }
        ids[k++] = best;
    }
    struct posted *p = xcalloc(1, sizeof *p);
    struct buf sb;
    buf_init(&sb);
    size_t offs[MAX_TOP_LOGPROBS + 1], lens[MAX_TOP_LOGPROBS + 1];
    for (int j = 0; j < k; j++) {
        char piece[256];
        size_t len = tok_piece(t, ids[j], piece, sizeof piece, true);
        if (len > sizeof piece)
            len = 0;
        offs[j] = sb.len;
        lens[j] = len;
        buf_append(&sb, piece, len);
    }
    p->strings = buf_detach(&sb);
    for (int j = 0; j < k; j++) {
        struct token_logprob *dst = j == 0 ? &p->lp : &p->top[j - 1];
        dst->token = p->strings + offs[j];
        dst->len = lens[j];
        dst->logprob = logits[ids[j]] - lse;
    }
    p->ev.logprob = &p->lp;
    p->ev.top = p->top;
    p->ev.n_top = n;
    return p;
}

/* Sends what can be sent of s->pending; returns true if a stop string ended the generation. */
static bool flush_text(struct seq *s, bool final, struct posted *lp)
{
    struct buf *b = &s->pending;
    for (size_t i = 0; i < s->n_stop; i++) {
        size_t sl = strlen(s->stop[i]);
        for (size_t at = 0; sl && at + sl <= b->len; at++)
            if (memcmp(b->data + at, s->stop[i], sl) == 0) {
                s->stop_hit = (int)i;
                if (at || lp)
                    emit_text(s, b->data, at, lp);
                buf_clear(b);
                return true;
            }
    }
    size_t send = b->len;
    if (!final) {
        size_t hold = s->max_stop_len ? s->max_stop_len - 1 : 0;
        send = send > hold ? send - hold : 0;
        send = tok_utf8_complete(b->data ? b->data : "", send);
    }
    if (send || lp)
        emit_text(s, b->data ? b->data : "", send, lp);
    if (send) {
        memmove(b->data, b->data + send, b->len - send);
        b->len -= send;
        b->data[b->len] = 0;
    }
    return false;
}

/* Samples s's next token from its logits and sends what it completes. Returns false when s is
 * finished (end posted). */
static bool emit(struct local *lb, struct seq *s, const float *logits)
{
    struct err e;
    const struct tok *t = model_tok(lb->model);
    int32_t id;
    if (s->grammar) {
        struct grammar_vocab **v = &lb->gvocab[s->render_special];
        if (!*v)
            *v = grammar_vocab_new(t, s->render_special);
        struct sampler_constraint c = grammar_constraint(s->grammar, *v);
        id = sampler_sample_constrained(s->sampler, logits, &c);
        if (id < 0 || grammar_accept_token(s->grammar, *v, id, &e)) {
            const char *why = grammar_error(s->grammar);
            post_error(s, 500, why ? why : "grammar: no token of the vocabulary can continue the"
                                           " output");
            return false;
        }
    } else {
        id = sampler_sample(s->sampler, logits);
    }
    if (tok_is_eog(t, id)) {
        flush_text(s, true, NULL);
        post_end(s, "stop");
        return false;
    }
    sampler_accept(s->sampler, id);
    s->last_token = id;
    s->n_generated++;
    char piece[256];
    size_t len = tok_piece(t, id, piece, sizeof piece, s->render_special);
    if (len <= sizeof piece)
        buf_append(&s->pending, piece, len);
    struct posted *lp = s->logprobs ? make_logprobs(lb, logits, id, s->top_logprobs) : NULL;
    if (flush_text(s, false, lp)) {
        post_end(s, "stop");
        return false;
    }
    if (s->grammar && grammar_finished(s->grammar)) { /* only EOG could follow */
        flush_text(s, true, NULL);
        post_end(s, "stop");
        return false;
    }
    bool out_of_room = kv_len(s->kv) >= kv_n_ctx(s->kv);
    if (s->n_generated >= s->max_tokens || out_of_room) {
        flush_text(s, true, NULL);
        post_end(s, "length");
        return false;
    }
    return true;
}

static void release_slot(struct local *lb, int i)
{
    struct seq *s = lb->active[i];
    kv_truncate(s->kv, 0);
    lb->kv_pool[lb->n_kv_free++] = s->kv;
    s->kv = NULL;
    lb->active[i] = lb->active[--lb->n_active];
    pthread_mutex_lock(&lb->mu);
    lb->n_inflight--;
    pthread_mutex_unlock(&lb->mu);
    seq_unref(s); /* the worker's reference */
}

/* One forward step for every active seq: one token for each seq decoding, then the next prompt
 * chunk of each seq still reading its prompt, as long as the step's LOCAL_BATCH tokens last
 * (decoding never waits behind a long prompt, and the weights are read once for all). A seq
 * whose prompt ends in this step samples its first token from the step's logits. */
static void worker_round(struct local *lb)
{
    bool done[LOCAL_MAX_SLOTS] = {false};
    struct fwd_seq step[LOCAL_MAX_SLOTS];
    int who[LOCAL_MAX_SLOTS], n = 0;
    int32_t budget = LOCAL_BATCH;
    for (int i = 0; i < lb->n_active; i++) {
        struct seq *s = lb->active[i];
        if (atomic_load(&s->cancelled)) {
            done[i] = true;
        } else if (s->n_evaluated == s->n_prompt && budget > 0) {
            step[n] = (struct fwd_seq){s->kv, &s->last_token, 1, true};
            who[n++] = i;
            budget--;
        }
    }
    for (int i = 0; i < lb->n_active && budget > 0; i++) {
        struct seq *s = lb->active[i];
        if (done[i] || s->n_evaluated == s->n_prompt)
            continue;
        size_t chunk = s->n_prompt - s->n_evaluated;
        chunk = chunk > (size_t)budget ? (size_t)budget : chunk;
        bool last = s->n_evaluated + chunk == s->n_prompt;
        step[n] = (struct fwd_seq){s->kv, s->prompt + s->n_evaluated, (int32_t)chunk, last};
        who[n++] = i;
        budget -= (int32_t)chunk;
    }
    if (n > 0) {
        struct err e;
        bool failed = fwd_eval_seqs(lb->fwd, step, n, lb->logits, &e) != 0;
        size_t nv = (size_t)model_n_vocab(lb->model);
        for (int k = 0; k < n; k++) {
            struct seq *s = lb->active[who[k]];
            if (failed) {
                post_error(s, 500, e.msg);
                done[who[k]] = true;
                continue;
            }
            if (s->n_evaluated < s->n_prompt)
                s->n_evaluated += (size_t)step[k].n_tokens;
            if (step[k].logits)
                done[who[k]] = !emit(lb, s, lb->logits + (size_t)k * nv);
        }
    }
    for (int i = lb->n_active - 1; i >= 0; i--) /* from the end: release moves the last into i */
        if (done[i])
            release_slot(lb, i);
}

static void *worker_main(void *arg)
{
    struct local *lb = arg;
    for (;;) {
        pthread_mutex_lock(&lb->mu);
        while (!lb->stop && lb->n_active == 0 && !lb->queue_head)
            pthread_cond_wait(&lb->cv, &lb->mu);
        if (lb->stop) {
            pthread_mutex_unlock(&lb->mu);
            break;
        }
        while (lb->queue_head && lb->n_active < lb->n_slots) {
            struct seq *s = lb->queue_head;
            lb->queue_head = s->next;
            if (!lb->queue_head)
                lb->queue_tail = NULL;
            lb->n_queued--;
            s->kv = lb->kv_pool[--lb->n_kv_free];
            lb->active[lb->n_active++] = s;
        }
        pthread_mutex_unlock(&lb->mu);
        worker_round(lb);
    }
    /* shutting down: drop what is left (the server cancels calls before freeing backends) */
    while (lb->n_active > 0)
        release_slot(lb, 0);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Backend interface (loop thread) */

static enum start_error local_start(struct backend *b, struct call *c, struct err *e)
{
    struct local *lb = b->impl;
    const struct request *r = c->req;
    const struct tok *t = model_tok(lb->model);
    struct local_plan plan;
    struct local_plan_error pe;
    if (local_plan_make(lb->tmpl, lb->tmpl_error, tok_add_bos(t), r, &plan, &pe, e)) {
        if (pe.status != 400)
            return START_UNAVAILABLE; /* the model's template is broken: another tier may do */
        c->error_param = pe.param;
        c->error_code = pe.code;
        return START_BAD_REQUEST;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = tok_encode(t, plan.prompt, strlen(plan.prompt), true, plan.parse_special, &ids, &n, e);
    if (rc) {
        local_plan_free(&plan);
        return START_BAD_REQUEST;
    }
    if (n == 0) {
        free(ids);
        local_plan_free(&plan);
        err_set(e, "the prompt is empty");
        return START_BAD_REQUEST;
    }
    if ((int64_t)n >= lb->n_ctx) {
        free(ids);
        local_plan_free(&plan);
        err_set(e, "This model's maximum context length is %d tokens. However, your messages"
                   " resulted in %zu tokens (tier %s).", lb->n_ctx, n, b->name);
        return START_BAD_REQUEST;
    }
    pthread_mutex_lock(&lb->mu);
    int inflight = lb->n_inflight;
    if (inflight >= lb->n_slots + lb->cfg->max_queue) {
        pthread_mutex_unlock(&lb->mu);
        free(ids);
        local_plan_free(&plan);
        err_set(e, "tier %s is at capacity (%d running, %d queued); retry shortly", b->name,
                inflight < lb->n_slots ? inflight : lb->n_slots,
                inflight > lb->n_slots ? inflight - lb->n_slots : 0);
        return START_BUSY;
    }
    lb->n_inflight++; /* reserved now, so concurrent starts cannot overshoot */
    pthread_mutex_unlock(&lb->mu);
    struct seq *s = xcalloc(1, sizeof *s);
    atomic_init(&s->refs, 2);
    atomic_init(&s->cancelled, false);
    s->call = c;
    s->lb = lb;
    s->prompt = ids;
    s->n_prompt = n;
    s->max_tokens = r->max_tokens > 0 ? r->max_tokens : lb->cfg->max_tokens_default;
    buf_init(&s->pending);
    s->stop_hit = -1;
    if (r->n_stop) {
        s->stop = xcalloc(r->n_stop, sizeof *s->stop);
        for (size_t i = 0; i < r->n_stop; i++) {
            s->stop[s->n_stop++] = xstrdup(r->stop[i]);
            size_t l = strlen(r->stop[i]);
            s->max_stop_len = l > s->max_stop_len ? l : s->max_stop_len;
        }
    }
    s->grammar = plan.grammar;
    plan.grammar = NULL;
    s->render_special = plan.render_special;
    s->logprobs = r->logprobs;
    s->top_logprobs = r->top_logprobs > MAX_TOP_LOGPROBS ? MAX_TOP_LOGPROBS : r->top_logprobs;
    /* OpenAI's defaults: temperature 1, top_p 1, no other filtering (top_k only when a dialect
     * that has it asked) */
    struct sampler_params sp;
    sampler_params_default(&sp);
    sp.temp = r->has_temperature ? r->temperature : 1.0f;
    sp.top_p = r->has_top_p ? r->top_p : 1.0f;
    sp.top_k = r->has_top_k ? r->top_k : 0;
    sp.min_p = 0.0f;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sp.seed = r->has_seed ? (uint64_t)r->seed
                          : (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)s;
    s->sampler = sampler_new(&sp, model_n_vocab(lb->model));
    if (plan.tool_format != TOOLCALL_NONE)
        s->tc = toolcall_parser_new(plan.tool_format, sp.seed ^ 0x7c0a11u);
    local_plan_free(&plan);
    c->impl = s;
    pthread_mutex_lock(&lb->mu);
    if (lb->queue_tail)
        lb->queue_tail->next = s;
    else
        lb->queue_head = s;
    lb->queue_tail = s;
    lb->n_queued++;
    pthread_cond_signal(&lb->cv);
    pthread_mutex_unlock(&lb->mu);
    return START_OK;
}

static void local_cancel(struct backend *b, struct call *c)
{
    (void)b;
    struct seq *s = c->impl;
    if (!s || s->closed)
        return;
    s->closed = true;
    atomic_store(&s->cancelled, true);
    c->impl = NULL;
    seq_unref(s); /* the loop side's reference; the worker drops the seq at its next step */
}

static void local_free(struct backend *b)
{
    struct local *lb = b->impl;
    pthread_mutex_lock(&lb->mu);
    lb->stop = true;
    pthread_cond_signal(&lb->cv);
    pthread_mutex_unlock(&lb->mu);
    pthread_join(lb->thread, NULL);
    while (lb->queue_head) { /* never started: both references are ours */
        struct seq *s = lb->queue_head;
        lb->queue_head = s->next;
        seq_free(s);
    }
    for (int i = 0; i < lb->n_kv_free; i++)
        kv_free(lb->kv_pool[i]);
    free(lb->logits);
    grammar_vocab_free(lb->gvocab[0]);
    grammar_vocab_free(lb->gvocab[1]);
    chat_template_free(lb->tmpl);
    fwd_free(lb->fwd);
    model_free(lb->model);
    pthread_mutex_destroy(&lb->mu);
    pthread_cond_destroy(&lb->cv);
    free(lb);
}

static const struct backend_ops g_local_ops = {"local", local_start, local_cancel, NULL, local_free};

struct backend *local_new(struct loop *l, const struct tier_config *t, struct err *e)
{
    struct local *lb = xcalloc(1, sizeof *lb);
    lb->cfg = t;
    if (model_load(t->model_path, &lb->model, e)) {
        free(lb);
        err_prefix(e, "tier %s", t->name);
        return NULL;
    }
    lb->n_ctx = t->context > 0 ? t->context : model_n_ctx_train(lb->model);
    if (t->context <= 0 && lb->n_ctx > 4096)
        lb->n_ctx = 4096;
    lb->n_slots = t->slots > 0 && t->slots <= LOCAL_MAX_SLOTS ? t->slots : 4;
    for (int i = 0; i < lb->n_slots; i++)
        if (kv_new(lb->model, lb->n_ctx, &lb->kv_pool[lb->n_kv_free++], e)) {
            lb->n_kv_free--;
            for (int j = 0; j < lb->n_kv_free; j++)
                kv_free(lb->kv_pool[j]);
            model_free(lb->model);
            free(lb);
            return NULL;
        }
    int threads = t->threads > 0 ? t->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    lb->fwd = fwd_new(lb->model, LOCAL_BATCH > lb->n_slots ? LOCAL_BATCH : lb->n_slots,
                      threads > 0 ? threads : 1);
    lb->logits = xmalloc_array((size_t)model_n_vocab(lb->model) * (size_t)lb->n_slots,
                               sizeof(float));
    struct err te;
    if (chat_template_new(lb->model, &lb->tmpl, &te)) {
        snprintf(lb->tmpl_error, sizeof lb->tmpl_error, "%s", te.msg);
        log_error("tier %s: %s: %s; chat requests will be refused", t->name, t->model_path,
                  te.msg);
    } else if (chat_template_is_default(lb->tmpl)) {
        log_warn("tier %s: %s has no chat template; chat requests use the plain default (the "
                 "messages' text, one per line)",
                 t->name, t->model_path);
    }
    pthread_mutex_init(&lb->mu, NULL);
    pthread_cond_init(&lb->cv, NULL);
    lb->base.ops = &g_local_ops;
    lb->base.name = t->name;
    lb->base.loop = l;
    lb->base.impl = lb;
    pthread_create(&lb->thread, NULL, worker_main, lb);
    log_info("tier %s: %s, context %d, %d slots, %d threads", t->name, t->model_path, lb->n_ctx,
             lb->n_slots, threads);
    return &lb->base;
}
