/* toolcall: the streaming tool-call parser (see toolcall.h for the formats and the rules).
 *
 * The parser is a byte-at-a-time state machine, so what it emits depends only on the bytes and
 * never on how they were split. Its parts:
 *   - content mode looks for the format's triggers ("<tool_call>", "[TOOL_CALLS]", ...) and holds
 *     back only the suffix that is still a prefix of one; formats whose calls can only start the
 *     output (LLAMA3, GENERIC, FUNCTIONARY_V32) begin in a start mode that holds leading
 *     whitespace;
 *   - a call "region" runs from the trigger to the end of the call's syntax. Until its first call
 *     is committed every byte of it is kept; if it turns out not to be a call, the trigger text
 *     is released as content and the bytes after it are replayed through content mode (so a real
 *     call inside a broken one is still found);
 *   - JSON call objects are read by a frame stack (call object, array of calls, GENERIC's
 *     wrapper object) that looks at the keys of the call object itself and hands every value to
 *     an incremental JSON scanner (struct jscan), which validates it and finds where it ends;
 *   - events are coalesced per feed: consecutive content or argument bytes go out as one event.
 */
#include "engine/toolcall.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "engine/json_schema.h"
#include "engine/sampler.h"

#include <stdio.h>
#include <string.h>

#define MAX_HOLD (64 * 1024) /* bytes held for a call opening before giving up on it */
#define JSCAN_DEPTH 512      /* nesting inside one JSON value */
#define MAX_FRAMES 4
#define MAX_NAME 256

/* =============================================================================================
 * jscan: validates one JSON value incrementally and says where it ends. */

enum jres {
    J_MORE,        /* byte consumed, the value goes on */
    J_DONE,        /* byte consumed, it ended the value */
    J_DONE_BEFORE, /* the value (a number) ended before this byte, which is not consumed */
    J_ERROR,       /* not JSON */
};

enum jstate {
    JS_VALUE, JS_OBJ_FIRST, JS_OBJ_KEY, JS_KEY, JS_KEY_ESC, JS_KEY_HEX, JS_COLON, JS_ARR_FIRST,
    JS_AFTER, JS_STR, JS_STR_ESC, JS_STR_HEX, JS_LIT,
    JS_N_MINUS, JS_N_ZERO, JS_N_INT, JS_N_DOT, JS_N_FRAC, JS_N_E, JS_N_ESIGN, JS_N_EXP,
};

struct jscan {
    enum jstate st;
    int depth;
    char stack[JSCAN_DEPTH]; /* '{' or '[' per open container */
    int hex_left;
    const char *lit;         /* the rest of true/false/null to match */
};

static void jscan_init(struct jscan *j)
{
    j->st = JS_VALUE;
    j->depth = 0;
    j->hex_left = 0;
    j->lit = NULL;
}

static bool is_ws(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool is_hex(int c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

/* A value just ended: at depth 0 the whole value is done. */
static enum jres jscan_value_end(struct jscan *j, bool consumed)
{
    if (j->depth == 0)
        return consumed ? J_DONE : J_DONE_BEFORE;
    j->st = JS_AFTER;
    return J_MORE;
}

static enum jres jscan_byte(struct jscan *j, int c)
{
    switch (j->st) {
    case JS_ARR_FIRST:
        if (is_ws(c))
            return J_MORE;
        if (c == ']') {
            j->depth--;
            return jscan_value_end(j, true);
        }
        j->st = JS_VALUE;
        /* fall through */
    case JS_VALUE:
        if (is_ws(c))
            return J_MORE;
        if (c == '{' || c == '[') {
            if (j->depth == JSCAN_DEPTH)
                return J_ERROR;
            j->stack[j->depth++] = (char)c;
            j->st = c == '{' ? JS_OBJ_FIRST : JS_ARR_FIRST;
            return J_MORE;
        }
        if (c == '"') {
            j->st = JS_STR;
            return J_MORE;
        }
        if (c == '-') {
            j->st = JS_N_MINUS;
            return J_MORE;
        }
        if (c >= '0' && c <= '9') {
            j->st = c == '0' ? JS_N_ZERO : JS_N_INT;
            return J_MORE;
        }
        j->lit = c == 't' ? "rue" : c == 'f' ? "alse" : c == 'n' ? "ull" : NULL;
        if (!j->lit)
            return J_ERROR;
        j->st = JS_LIT;
        return J_MORE;
    case JS_LIT:
        if (c != *j->lit)
            return J_ERROR;
        if (!*++j->lit)
            return jscan_value_end(j, true);
        return J_MORE;
    case JS_OBJ_FIRST:
        if (is_ws(c))
            return J_MORE;
        if (c == '}') {
            j->depth--;
            return jscan_value_end(j, true);
        }
        /* fall through */
    case JS_OBJ_KEY:
        if (is_ws(c))
            return J_MORE;
        if (c != '"')
            return J_ERROR;
        j->st = JS_KEY;
        return J_MORE;
    case JS_KEY:
    case JS_STR:
        if (c == '"') {
            if (j->st == JS_KEY) {
                j->st = JS_COLON;
                return J_MORE;
            }
            return jscan_value_end(j, true);
        }
        if (c == '\\')
            j->st = j->st == JS_KEY ? JS_KEY_ESC : JS_STR_ESC;
        else if (c < 0x20)
            return J_ERROR;
        return J_MORE;
    case JS_KEY_ESC:
    case JS_STR_ESC: {
        bool key = j->st == JS_KEY_ESC;
        if (c == 'u') {
            j->hex_left = 4;
            j->st = key ? JS_KEY_HEX : JS_STR_HEX;
            return J_MORE;
        }
        if (!strchr("\"\\/bfnrt", c) || c == 0)
            return J_ERROR;
        j->st = key ? JS_KEY : JS_STR;
        return J_MORE;
    }
    case JS_KEY_HEX:
    case JS_STR_HEX:
        if (!is_hex(c))
            return J_ERROR;
        if (--j->hex_left == 0)
            j->st = j->st == JS_KEY_HEX ? JS_KEY : JS_STR;
        return J_MORE;
    case JS_COLON:
        if (is_ws(c))
            return J_MORE;
        if (c != ':')
            return J_ERROR;
        j->st = JS_VALUE;
        return J_MORE;
    case JS_AFTER:
        if (is_ws(c))
            return J_MORE;
        if (c == ',') {
            j->st = j->stack[j->depth - 1] == '{' ? JS_OBJ_KEY : JS_VALUE;
            return J_MORE;
        }
        if ((c == '}' && j->stack[j->depth - 1] == '{') || (c == ']' && j->stack[j->depth - 1] == '[')) {
            j->depth--;
            return jscan_value_end(j, true);
        }
        return J_ERROR;
    default: /* numbers */
        break;
    }
    bool digit = c >= '0' && c <= '9';
    switch (j->st) {
    case JS_N_MINUS:
        if (!digit)
            return J_ERROR;
        j->st = c == '0' ? JS_N_ZERO : JS_N_INT;
        return J_MORE;
    case JS_N_INT:
        if (digit)
            return J_MORE;
        /* fall through */
    case JS_N_ZERO:
        if (c == '.') {
            j->st = JS_N_DOT;
            return J_MORE;
        }
        if (c == 'e' || c == 'E') {
            j->st = JS_N_E;
            return J_MORE;
        }
        break;
    case JS_N_DOT:
        if (!digit)
            return J_ERROR;
        j->st = JS_N_FRAC;
        return J_MORE;
    case JS_N_FRAC:
        if (digit)
            return J_MORE;
        if (c == 'e' || c == 'E') {
            j->st = JS_N_E;
            return J_MORE;
        }
        break;
    case JS_N_E:
        if (c == '+' || c == '-') {
            j->st = JS_N_ESIGN;
            return J_MORE;
        }
        /* fall through */
    case JS_N_ESIGN:
        if (!digit)
            return J_ERROR;
        j->st = JS_N_EXP;
        return J_MORE;
    case JS_N_EXP:
        if (digit)
            return J_MORE;
        break;
    default:
        return J_ERROR;
    }
    /* a number ended before c: c must be something that may follow a value */
    enum jres r = jscan_value_end(j, false);
    if (r == J_DONE_BEFORE)
        return r;
    return jscan_byte(j, c);
}

/* =============================================================================================
 * Parser state */

enum mode {
    M_START,     /* start-only formats: leading whitespace held */
    M_CONTENT,   /* plain text; looking for triggers */
    M_BETWEEN,   /* after a call: whitespace (and LLAMA3's ';') dropped */
    M_JSON,      /* a JSON call region: frames */
    M_RAWARGS,   /* a call's arguments as one raw JSON value */
    M_CLOSER,    /* dropping bytes up to a closing marker */
    M_NAME,      /* a function name after <function= (V31) or [TOOL_CALLS] (MISTRAL v11) */
    M_MARK,      /* MISTRAL v11: [ARGS] or [CALL_ID] */
    M_ID,        /* MISTRAL v11: the call id */
    M_MISTRAL,   /* after [TOOL_CALLS]: '[' (JSON list) or a name */
    M_RECIPIENT, /* FUNCTIONARY_V32: ">>>"? name "\n" */
    M_V32_BODY,  /* FUNCTIONARY_V32: whitespace before the arguments, or code for python */
    M_PYTAG,     /* after <|python_tag|> */
    M_PYCALL,    /* name.call(...) */
    M_CODE,      /* python code streamed as {"code": "..."} */
    M_XML,       /* QWEN3_XML call body */
};

enum frame_kind { FR_CALL, FR_CALLS, FR_WRAPPER };

enum frame_state {
    FS_OPEN,     /* before '{' or '[' */
    FS_KEY_OR_END, FS_KEY, FS_KEY_ESC, FS_COLON, FS_VALUE_START, FS_VALUE, FS_AFTER_VALUE,
    FS_ELEM_OR_END, FS_ELEM, FS_AFTER_ELEM,
};

enum value_use { V_SKIP, V_NAME, V_ID, V_ARGS, V_ARGS_STRING, V_RESPONSE };

struct frame {
    enum frame_kind kind;
    enum frame_state st;
    bool owns_call;  /* FR_CALL that started the current call (closing it ends the call) */
    bool first_key;
    struct buf key;  /* raw key bytes */
    enum value_use use;
};

struct call {
    bool open, committed;
    bool have_name, have_id;
    char name[MAX_NAME + 1];
    char id[MAX_NAME + 1];
    struct buf args;     /* arguments held until the commit */
    struct buf capture;  /* raw JSON text of a string value being read (name, id, ...) */
};

struct toolcall_parser {
    enum toolcall_format fmt;
    struct rng rng;
    enum mode mode;
    /* input, with replayed bytes spliced in front of the unread rest */
    struct buf in;
    size_t in_pos;
    /* output, coalesced */
    toolcall_emit_fn emit;
    void *user;
    int out_type; /* -1: nothing pending */
    int out_index;
    struct buf out;
    /* content mode */
    struct buf tmatch;    /* held suffix that is a prefix of a trigger */
    /* the current region */
    bool in_region, region_committed;
    struct buf region;    /* its bytes so far, until committed */
    size_t trigger_len;
    /* JSON frames */
    struct frame frames[MAX_FRAMES];
    int n_frames;
    struct jscan js;
    /* per-mode scratch */
    int sub;              /* a mode's own sub-state */
    struct buf word;      /* names, markers, identifiers being read */
    struct buf xml_value; /* QWEN3_XML: a parameter's value; M_PYCALL: the keyword arguments */
    int xml_params;       /* QWEN3_XML: parameters written so far */
    const char *closer;   /* M_CLOSER: the marker */
    size_t matched;       /* M_CLOSER: bytes of it matched */
    int n_calls;
    struct call call;
    bool finished;
};

static bool is_mistral(enum toolcall_format f) { return f == TOOLCALL_MISTRAL || f == TOOLCALL_MISTRAL_ARGS; }

/* =============================================================================================
 * Output */

static void out_flush(struct toolcall_parser *p)
{
    if (p->out_type < 0)
        return;
    struct toolcall_event ev = {(enum toolcall_event_type)p->out_type, p->out_index, NULL, NULL,
                                p->out.data ? p->out.data : "", p->out.len};
    if (p->out.len)
        p->emit(p->user, &ev);
    p->out_type = -1;
    buf_clear(&p->out);
}

static void out_put(struct toolcall_parser *p, enum toolcall_event_type t, int index, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (p->out_type != (int)t || p->out_index != index) {
        out_flush(p);
        p->out_type = (int)t;
        p->out_index = index;
    }
    buf_append(&p->out, s, n);
}

static void emit_content(struct toolcall_parser *p, const char *s, size_t n) { out_put(p, TOOLCALL_CONTENT, 0, s, n); }

static void emit_args(struct toolcall_parser *p, const char *s, size_t n)
{
    if (p->call.committed)
        out_put(p, TOOLCALL_ARGS, p->n_calls - 1, s, n);
    else
        buf_append(&p->call.args, s, n);
}

/* JSON-string-escapes s[0..n) as arguments (code mode). */
static void emit_args_escaped(struct toolcall_parser *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            emit_args(p, e, 2);
        } else if (c < 0x20) {
            static const char sh[] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
            if (c < sizeof sh && sh[c])
                snprintf(e, sizeof e, "\\%c", sh[c]);
            else
                snprintf(e, sizeof e, "\\u%04x", c);
            emit_args(p, e, strlen(e));
        } else {
            emit_args(p, (const char *)&s[i], 1);
        }
    }
}

/* =============================================================================================
 * Calls */

static void gen_id(struct toolcall_parser *p, char *out, size_t cap)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t k = 0, n = is_mistral(p->fmt) ? 9 : 24;
    if (!is_mistral(p->fmt))
        k = (size_t)snprintf(out, cap, "call_");
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = alnum[rng_next(&p->rng) % (sizeof alnum - 1)];
    out[k] = 0;
}

static void call_start(struct toolcall_parser *p)
{
    struct call *c = &p->call;
    c->open = true;
    c->committed = c->have_name = c->have_id = false;
    c->name[0] = c->id[0] = 0;
    buf_clear(&c->args);
    buf_clear(&c->capture);
}

static void call_end(struct toolcall_parser *p) { p->call.open = false; }

static void commit(struct toolcall_parser *p)
{
    struct call *c = &p->call;
    if (!c->have_id)
        gen_id(p, c->id, sizeof c->id);
    out_flush(p);
    struct toolcall_event ev = {TOOLCALL_START, p->n_calls, c->id, c->name, NULL, 0};
    p->emit(p->user, &ev);
    p->n_calls++;
    c->committed = true;
    p->region_committed = true;
    buf_clear(&p->region);
    if (c->args.len)
        out_put(p, TOOLCALL_ARGS, p->n_calls - 1, c->args.data, c->args.len);
    buf_clear(&c->args);
}

static void maybe_commit(struct toolcall_parser *p)
{
    struct call *c = &p->call;
    if (c->open && !c->committed && c->have_name && (p->fmt != TOOLCALL_MISTRAL || c->have_id))
        commit(p);
}

static bool set_text(char *dst, const char *s, size_t n)
{
    if (n == 0 || n > MAX_NAME)
        return false;
    memcpy(dst, s, n);
    dst[n] = 0;
    return true;
}

/* =============================================================================================
 * Regions, refutation, replay */

static const char *const g_trig_hermes[] = {"<tool_call>", NULL};
static const char *const g_trig_llama3[] = {"<|python_tag|>", NULL};
static const char *const g_trig_mistral[] = {"[TOOL_CALLS]", NULL};
static const char *const g_trig_v31[] = {"<function=", "<|python_tag|>", NULL};
static const char *const g_trig_v32[] = {">>>", NULL};
static const char *const g_trig_none[] = {NULL};

static const char *const *triggers(enum toolcall_format f)
{
    switch (f) {
    case TOOLCALL_HERMES: case TOOLCALL_QWEN3_XML: return g_trig_hermes;
    case TOOLCALL_LLAMA3: return g_trig_llama3;
    case TOOLCALL_MISTRAL: case TOOLCALL_MISTRAL_ARGS: return g_trig_mistral;
    case TOOLCALL_FUNCTIONARY_V31: return g_trig_v31;
    case TOOLCALL_FUNCTIONARY_V32: return g_trig_v32;
    default: return g_trig_none;
    }
}

static void region_begin(struct toolcall_parser *p, const char *trigger, size_t len)
{
    p->in_region = true;
    p->region_committed = false;
    buf_clear(&p->region);
    buf_append(&p->region, trigger, len);
    p->trigger_len = len;
    p->n_frames = 0;
    p->call.open = false;
}

static void region_end(struct toolcall_parser *p)
{
    p->in_region = p->region_committed = false;
    buf_clear(&p->region);
    p->n_frames = 0;
}

/* Puts s[0..n) in front of the unread input. */
static void replay(struct toolcall_parser *p, const char *s, size_t n)
{
    if (n == 0)
        return;
    struct buf nb;
    buf_init(&nb);
    buf_append(&nb, s, n);
    buf_append(&nb, p->in.data + p->in_pos, p->in.len - p->in_pos);
    buf_free(&p->in);
    p->in = nb;
    p->in_pos = 0;
}

/* The region is not a call after all: its trigger is content, the rest is read again. */
static void refute(struct toolcall_parser *p)
{
    struct buf r = p->region;
    buf_init(&p->region);
    size_t t = p->trigger_len;
    region_end(p);
    p->call.open = false;
    p->mode = M_CONTENT;
    buf_clear(&p->tmatch);
    emit_content(p, r.data ? r.data : "", t);
    if (r.len > t)
        replay(p, r.data + t, r.len - t);
    buf_free(&r);
}

enum sres { S_DONE, S_AGAIN };

static enum sres to_closer(struct toolcall_parser *p, const char *closer);

/* Something is malformed at the current byte (already part of the call's syntax if consumed).
 * Before the region's first commit: not a call. After: the call ends; the rest of its syntax up
 * to the closing marker is dropped, or, for formats without one, read again as content. */
static enum sres malformed_at(struct toolcall_parser *p, bool consumed)
{
    if (p->in_region && !p->region_committed) {
        refute(p);
        return S_DONE;
    }
    call_end(p);
    region_end(p);
    if (p->fmt == TOOLCALL_HERMES || p->fmt == TOOLCALL_QWEN3_XML)
        return to_closer(p, "</tool_call>");
    if (p->fmt == TOOLCALL_FUNCTIONARY_V31)
        return to_closer(p, "</function>");
    p->mode = M_CONTENT;
    return consumed ? S_DONE : S_AGAIN;
}

static enum sres malformed(struct toolcall_parser *p) { return malformed_at(p, false); }

static enum sres to_closer(struct toolcall_parser *p, const char *closer)
{
    p->mode = M_CLOSER;
    p->closer = closer;
    p->matched = 0;
    return S_DONE;
}

/* =============================================================================================
 * Content, start, between calls */

static bool is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':';
}

/* One more character of the name in p->word (at most 128), or a malformed call. */
static enum sres name_char(struct toolcall_parser *p, int c)
{
    if (!is_name_char(c) || p->word.len >= 128)
        return malformed(p);
    buf_putc(&p->word, (char)c);
    return S_DONE;
}

static void push_frame(struct toolcall_parser *p, enum frame_kind k, bool owns_call)
{
    struct frame *f = &p->frames[p->n_frames++];
    f->kind = k;
    f->st = FS_OPEN;
    f->owns_call = owns_call;
    f->first_key = true;
    buf_clear(&f->key);
    f->use = V_SKIP;
    if (owns_call)
        call_start(p);
    p->mode = M_JSON;
}

static void start_code(struct toolcall_parser *p);

/* Which mode a trigger's region starts in. */
static void trigger_mode(struct toolcall_parser *p, const char *t)
{
    p->sub = 0;
    buf_clear(&p->word);
    if (strcmp(t, "<tool_call>") == 0) {
        if (p->fmt == TOOLCALL_QWEN3_XML) {
            p->mode = M_XML;
        } else {
            push_frame(p, FR_CALL, true);
        }
    } else if (strcmp(t, "<|python_tag|>") == 0) {
        p->mode = M_PYTAG;
    } else if (strcmp(t, "[TOOL_CALLS]") == 0) {
        p->mode = M_MISTRAL;
    } else if (strcmp(t, "<function=") == 0) {
        call_start(p);
        p->mode = M_NAME;
    } else { /* ">>>" */
        p->mode = M_RECIPIENT;
        p->sub = 1; /* the ">>>" is already read */
    }
}

static enum sres handle_content(struct toolcall_parser *p, int c)
{
    const char *const *ts = triggers(p->fmt);
    if (!ts[0]) {
        char ch = (char)c;
        emit_content(p, &ch, 1);
        return S_DONE;
    }
    buf_putc(&p->tmatch, (char)c);
    for (;;) {
        bool prefix = false;
        for (const char *const *t = ts; *t; t++) {
            size_t n = strlen(*t);
            if (p->tmatch.len <= n && memcmp(*t, p->tmatch.data, p->tmatch.len) == 0) {
                if (p->tmatch.len == n) {
                    region_begin(p, *t, n);
                    buf_clear(&p->tmatch);
                    trigger_mode(p, *t);
                    return S_DONE;
                }
                prefix = true;
            }
        }
        if (prefix || p->tmatch.len == 0)
            return S_DONE;
        emit_content(p, p->tmatch.data, 1); /* cannot start a trigger: out it goes */
        memmove(p->tmatch.data, p->tmatch.data + 1, p->tmatch.len);
        p->tmatch.len--;
    }
}

static enum sres handle_start(struct toolcall_parser *p, int c)
{
    if (is_ws(c))
        return S_DONE; /* held in the region */
    if (p->fmt == TOOLCALL_LLAMA3 && c == '{') {
        push_frame(p, FR_CALL, true);
        return S_AGAIN;
    }
    if (p->fmt == TOOLCALL_GENERIC && (c == '{' || c == '[')) {
        push_frame(p, c == '{' ? FR_WRAPPER : FR_CALLS, false);
        return S_AGAIN;
    }
    if (p->fmt == TOOLCALL_FUNCTIONARY_V32) {
        p->mode = M_RECIPIENT;
        p->sub = 0;
        buf_clear(&p->word);
        return S_AGAIN;
    }
    refute(p);
    return S_DONE;
}

static enum sres handle_between(struct toolcall_parser *p, int c)
{
    if (is_ws(c) || (p->fmt == TOOLCALL_LLAMA3 && c == ';'))
        return S_DONE;
    if (p->fmt == TOOLCALL_LLAMA3 && c == '{') {
        region_begin(p, "", 0);
        push_frame(p, FR_CALL, true);
        return S_AGAIN;
    }
    p->mode = M_CONTENT;
    return S_AGAIN;
}

/* The region's syntax is over: what follows the last call. */
static enum sres region_done(struct toolcall_parser *p)
{
    region_end(p);
    if (p->fmt == TOOLCALL_HERMES || p->fmt == TOOLCALL_QWEN3_XML)
        return to_closer(p, "</tool_call>");
    p->mode = M_BETWEEN;
    return S_DONE;
}

/* =============================================================================================
 * JSON call objects */

/* Decodes the JSON string text s[0..n) (with its quotes); false if it is not one. */
static bool decode_string(const char *s, size_t n, struct buf *out)
{
    json_error_t je;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!json_is_string(j)) {
        json_decref(j);
        return false;
    }
    buf_append(out, json_string_value(j), json_string_length(j));
    json_decref(j);
    return true;
}

static bool key_is(const struct frame *f, const char *k)
{
    return f->key.len == strlen(k) && memcmp(f->key.data, k, f->key.len) == 0;
}

static bool is_call_key(const struct frame *f)
{
    return key_is(f, "name") || key_is(f, "arguments") || key_is(f, "parameters") ||
           key_is(f, "function") || key_is(f, "type") || key_is(f, "id");
}

/* A value is about to start with byte c, under the frame's key. Returns S_AGAIN after pushing a
 * nested frame, S_DONE after choosing how to read the value, or what malformed() says. */
static enum sres value_start(struct toolcall_parser *p, struct frame *f, int c)
{
    if (f->kind == FR_WRAPPER && f->first_key) {
        f->first_key = false;
        if (key_is(f, "tool_calls") && c == '[') {
            f->st = FS_AFTER_VALUE;
            push_frame(p, FR_CALLS, false);
            return S_AGAIN;
        }
        if (key_is(f, "tool_call") && c == '{') {
            f->st = FS_AFTER_VALUE;
            push_frame(p, FR_CALL, true);
            return S_AGAIN;
        }
        if (key_is(f, "response") && c == '"') {
            f->use = V_RESPONSE;
        } else if (is_call_key(f)) {
            f->kind = FR_CALL; /* the wrapper was a call object all along */
            f->owns_call = true;
            call_start(p);
        } else {
            return malformed(p);
        }
    }
    if (f->kind == FR_CALL) {
        f->first_key = false;
        if (key_is(f, "name"))
            f->use = V_NAME;
        else if (key_is(f, "arguments") || key_is(f, "parameters"))
            f->use = c == '"' ? V_ARGS_STRING : V_ARGS;
        else if (key_is(f, "id"))
            f->use = V_ID;
        else if (key_is(f, "function") && c == '{' && p->n_frames < MAX_FRAMES) {
            f->st = FS_AFTER_VALUE;
            push_frame(p, FR_CALL, false); /* OpenAI's shape: the same call, one level down */
            return S_AGAIN;
        } else if (key_is(f, "type") || p->call.committed)
            f->use = V_SKIP;
        else
            return malformed(p); /* an unexpected key before the name: not a call */
    } else if (f->kind == FR_WRAPPER && f->use != V_RESPONSE) {
        f->use = V_SKIP;
    }
    buf_clear(&p->call.capture);
    jscan_init(&p->js);
    f->st = FS_VALUE;
    return S_AGAIN;
}

/* The value under f's key ended; false if it was not what the key needs. */
static bool value_done(struct toolcall_parser *p, struct frame *f)
{
    struct call *cl = &p->call;
    struct buf dec;
    buf_init(&dec);
    bool r = true;
    f->st = FS_AFTER_VALUE;
    switch (f->use) {
    case V_NAME:
    case V_ID:
        if (!decode_string(cl->capture.data, cl->capture.len, &dec) ||
            !set_text(f->use == V_NAME ? cl->name : cl->id, dec.data, dec.len)) {
            r = false;
            break;
        }
        if (f->use == V_NAME)
            cl->have_name = true;
        else
            cl->have_id = true;
        maybe_commit(p);
        break;
    case V_ARGS_STRING:
        r = decode_string(cl->capture.data, cl->capture.len, &dec);
        if (r)
            emit_args(p, dec.data ? dec.data : "", dec.len);
        break;
    case V_RESPONSE:
        r = decode_string(cl->capture.data, cl->capture.len, &dec);
        if (!r)
            break;
        p->region_committed = true; /* recognized: {"response": "..."} */
        buf_clear(&p->region);
        emit_content(p, dec.data ? dec.data : "", dec.len);
        break;
    default:
        break;
    }
    buf_free(&dec);
    return r;
}

static enum sres frame_close(struct toolcall_parser *p)
{
    struct frame *f = &p->frames[--p->n_frames];
    if (f->kind == FR_CALL && f->owns_call) {
        if (!p->call.have_name)
            return malformed_at(p, true);
        if (!p->call.committed)
            commit(p);
        call_end(p);
    }
    if (p->n_frames == 0)
        return region_done(p);
    return S_DONE;
}

static enum sres handle_json(struct toolcall_parser *p, int c)
{
    struct frame *f = &p->frames[p->n_frames - 1];
    switch (f->st) {
    case FS_OPEN:
        if (is_ws(c))
            return S_DONE;
        if (f->kind == FR_CALLS ? c == '[' : c == '{') {
            f->st = f->kind == FR_CALLS ? FS_ELEM_OR_END : FS_KEY_OR_END;
            return S_DONE;
        }
        return malformed(p);
    case FS_KEY_OR_END:
        if (is_ws(c))
            return S_DONE;
        if (c == '"') {
            buf_clear(&f->key);
            f->st = FS_KEY;
            return S_DONE;
        }
        if (c == '}' && f->first_key)
            return frame_close(p);
        return malformed(p);
    case FS_KEY:
        if (c == '"') {
            struct buf raw = f->key, dec;
            buf_init(&dec);
            buf_putc(&dec, '"');
            buf_append(&dec, raw.data ? raw.data : "", raw.len);
            buf_putc(&dec, '"');
            buf_clear(&f->key);
            bool ok = decode_string(dec.data, dec.len, &f->key);
            buf_free(&dec);
            if (!ok)
                return malformed(p);
            f->st = FS_COLON;
            return S_DONE;
        }
        if (c < 0x20 || f->key.len > MAX_NAME)
            return malformed(p);
        buf_putc(&f->key, (char)c);
        if (c == '\\')
            f->st = FS_KEY_ESC;
        return S_DONE;
    case FS_KEY_ESC:
        buf_putc(&f->key, (char)c);
        f->st = FS_KEY;
        return S_DONE;
    case FS_COLON:
        if (is_ws(c))
            return S_DONE;
        if (c != ':')
            return malformed(p);
        f->st = FS_VALUE_START;
        return S_DONE;
    case FS_VALUE_START:
        if (is_ws(c))
            return S_DONE;
        return value_start(p, f, c);
    case FS_VALUE: {
        enum jres r = jscan_byte(&p->js, c);
        if (r == J_ERROR)
            return malformed(p);
        if (r != J_DONE_BEFORE) {
            char ch = (char)c;
            if (f->use == V_ARGS)
                emit_args(p, &ch, 1);
            else if (f->use != V_SKIP)
                buf_putc(&p->call.capture, ch);
        }
        if (r == J_MORE)
            return S_DONE;
        if (!value_done(p, f))
            return malformed_at(p, r == J_DONE);
        return r == J_DONE_BEFORE ? S_AGAIN : S_DONE;
    }
    case FS_AFTER_VALUE:
        if (is_ws(c))
            return S_DONE;
        if (c == ',') {
            f->st = FS_KEY_OR_END;
            f->first_key = false;
            return S_DONE;
        }
        if (c == '}')
            return frame_close(p);
        return malformed(p);
    case FS_ELEM_OR_END:
        if (is_ws(c))
            return S_DONE;
        if (c == '{') {
            f->st = FS_AFTER_ELEM;
            push_frame(p, FR_CALL, true);
            return S_AGAIN;
        }
        if (c == ']' && f->first_key)
            return frame_close(p);
        return malformed(p);
    case FS_AFTER_ELEM:
        if (is_ws(c))
            return S_DONE;
        if (c == ',') {
            f->st = FS_ELEM_OR_END;
            f->first_key = false;
            return S_DONE;
        }
        if (c == ']')
            return frame_close(p);
        return malformed(p);
    default:
        return malformed(p);
    }
}

/* =============================================================================================
 * Raw arguments, closers, names (V31, MISTRAL_ARGS), recipients (V32) */

static enum sres start_rawargs(struct toolcall_parser *p)
{
    p->mode = M_RAWARGS;
    p->sub = 0; /* 0: before the value (whitespace skipped), 1: inside it */
    jscan_init(&p->js);
    return S_DONE;
}

static enum sres rawargs_done(struct toolcall_parser *p)
{
    call_end(p);
    region_end(p);
    if (p->fmt == TOOLCALL_FUNCTIONARY_V31)
        return to_closer(p, "</function>");
    p->mode = M_BETWEEN;
    return S_DONE;
}

static enum sres handle_rawargs(struct toolcall_parser *p, int c)
{
    if (p->sub == 0 && is_ws(c))
        return S_DONE;
    p->sub = 1;
    enum jres r = jscan_byte(&p->js, c);
    if (r == J_ERROR)
        return malformed(p);
    if (r == J_DONE_BEFORE) {
        rawargs_done(p);
        return S_AGAIN;
    }
    char ch = (char)c;
    emit_args(p, &ch, 1);
    return r == J_DONE ? rawargs_done(p) : S_DONE;
}

static enum sres handle_closer(struct toolcall_parser *p, int c)
{
    if (c == p->closer[p->matched])
        p->matched++;
    else
        p->matched = c == p->closer[0] ? 1 : 0;
    if (p->closer[p->matched] == 0)
        p->mode = M_BETWEEN;
    return S_DONE;
}

/* V31 "<function=" NAME ">" and MISTRAL_ARGS "[TOOL_CALLS]" NAME "[": the name. */
static enum sres handle_name(struct toolcall_parser *p, int c)
{
    int end = p->fmt == TOOLCALL_FUNCTIONARY_V31 ? '>' : '[';
    if (c == end && p->word.len > 0) {
        set_text(p->call.name, p->word.data, p->word.len);
        p->call.have_name = true;
        buf_clear(&p->word);
        if (p->fmt == TOOLCALL_FUNCTIONARY_V31) {
            commit(p);
            return start_rawargs(p);
        }
        buf_putc(&p->word, '[');
        p->mode = M_MARK;
        return S_DONE;
    }
    return name_char(p, c);
}

/* MISTRAL_ARGS: "[ARGS]" (the arguments follow) or "[CALL_ID]" (an id, then "[ARGS]"). */
static enum sres handle_mark(struct toolcall_parser *p, int c)
{
    buf_putc(&p->word, (char)c);
    bool can_id = !p->call.have_id;
    bool pre_args = p->word.len <= 6 && memcmp("[ARGS]", p->word.data, p->word.len) == 0;
    bool pre_id = can_id && p->word.len <= 9 && memcmp("[CALL_ID]", p->word.data, p->word.len) == 0;
    if (pre_args && p->word.len == 6) {
        commit(p);
        return start_rawargs(p);
    }
    if (pre_id && p->word.len == 9) {
        buf_clear(&p->word);
        p->mode = M_ID;
        return S_DONE;
    }
    return pre_args || pre_id ? S_DONE : malformed(p);
}

static enum sres handle_id(struct toolcall_parser *p, int c)
{
    if (c == '[' && p->word.len > 0) {
        set_text(p->call.id, p->word.data, p->word.len);
        p->call.have_id = true;
        buf_clear(&p->word);
        buf_putc(&p->word, '[');
        p->mode = M_MARK;
        return S_DONE;
    }
    return name_char(p, c);
}

/* After [TOOL_CALLS]: Nemo's JSON list, or a name (the [ARGS] form). */
static enum sres handle_mistral(struct toolcall_parser *p, int c)
{
    if (is_ws(c))
        return S_DONE;
    if (c == '[') {
        push_frame(p, FR_CALLS, false);
        return S_AGAIN;
    }
    if (is_name_char(c)) {
        call_start(p);
        buf_clear(&p->word);
        p->mode = M_NAME;
        return S_AGAIN;
    }
    return malformed(p);
}

/* V32: [">>>"] NAME "\n". sub 0: the optional ">>>" (first block), 1: the name. */
static enum sres handle_recipient(struct toolcall_parser *p, int c)
{
    if (p->sub == 0) {
        if (c == '>' && p->word.len < 3) {
            buf_putc(&p->word, '>');
            return S_DONE;
        }
        if (p->word.len != 0 && p->word.len != 3)
            return malformed(p);
        buf_clear(&p->word);
        p->sub = 1;
    }
    if (c == '\n' && p->word.len > 0) {
        if (p->word.len == 3 && memcmp(p->word.data, "all", 3) == 0) {
            region_end(p); /* "all": content follows, up to the next ">>>" */
            p->mode = M_CONTENT;
            return S_DONE;
        }
        call_start(p);
        set_text(p->call.name, p->word.data, p->word.len);
        p->call.have_name = true;
        commit(p);
        p->mode = M_V32_BODY;
        return S_DONE;
    }
    return name_char(p, c);
}

static enum sres handle_v32_body(struct toolcall_parser *p, int c)
{
    if (is_ws(c))
        return S_DONE;
    if (strcmp(p->call.name, "python") == 0 && c != '{') {
        emit_args(p, "{\"code\": \"", 10);
        p->mode = M_CODE;
        return S_AGAIN;
    }
    start_rawargs(p);
    return S_AGAIN;
}

/* =============================================================================================
 * <|python_tag|>: JSON, name.call(k=v, ...), or code */

static void start_code(struct toolcall_parser *p)
{
    /* the code is what the region holds after the trigger (whitespace skipped) */
    struct buf held = p->region;
    buf_init(&p->region);
    size_t from = p->trigger_len;
    while (from < held.len && is_ws((unsigned char)held.data[from]))
        from++;
    call_start(p);
    set_text(p->call.name, "python", 6);
    p->call.have_name = true;
    commit(p);
    emit_args(p, "{\"code\": \"", 10);
    emit_args_escaped(p, held.data ? held.data + from : "", held.len - from);
    buf_free(&held);
    p->mode = M_CODE;
}

static enum sres handle_code(struct toolcall_parser *p, int c)
{
    char ch = (char)c;
    emit_args_escaped(p, &ch, 1);
    return S_DONE;
}

/* Python keyword arguments "k='v', n=3, b=True" -> a JSON object; NULL if they are not that. */
static json_t *py_kwargs(const char *s, size_t n)
{
    json_t *obj = json_object();
    size_t i = 0;
    for (;;) {
        while (i < n && is_ws((unsigned char)s[i]))
            i++;
        if (i == n)
            return obj;
        size_t k0 = i;
        while (i < n && (is_name_char((unsigned char)s[i]) && s[i] != '.' && s[i] != '-' && s[i] != ':'))
            i++;
        if (i == k0)
            break;
        char key[MAX_NAME + 1];
        if (!set_text(key, s + k0, i - k0))
            break;
        while (i < n && is_ws((unsigned char)s[i]))
            i++;
        if (i == n || s[i++] != '=')
            break;
        while (i < n && is_ws((unsigned char)s[i]))
            i++;
        json_t *v = NULL;
        if (i < n && (s[i] == '"' || s[i] == '\'')) {
            char q = s[i++];
            struct buf b;
            buf_init(&b);
            while (i < n && s[i] != q) {
                if (s[i] == '\\' && i + 1 < n) {
                    char e = s[i + 1];
                    buf_putc(&b, e == 'n' ? '\n' : e == 't' ? '\t' : e);
                    i += 2;
                } else {
                    buf_putc(&b, s[i++]);
                }
            }
            if (i == n) {
                buf_free(&b);
                break;
            }
            i++;
            v = json_stringn(b.data ? b.data : "", b.len);
            buf_free(&b);
        } else {
            size_t v0 = i;
            while (i < n && s[i] != ',' && !is_ws((unsigned char)s[i]))
                i++;
            char lit[64];
            size_t len = i - v0 < sizeof lit - 1 ? i - v0 : sizeof lit - 1;
            memcpy(lit, s + v0, len);
            lit[len] = 0;
            if (strcmp(lit, "True") == 0)
                v = json_true();
            else if (strcmp(lit, "False") == 0)
                v = json_false();
            else if (strcmp(lit, "None") == 0)
                v = json_null();
            else {
                json_error_t je;
                v = json_loads(lit, JSON_DECODE_ANY, &je);
                if (v && !json_is_number(v)) {
                    json_decref(v);
                    v = NULL;
                }
            }
        }
        if (!v || json_object_set_new(obj, key, v)) /* set_new takes v even when it fails */
            break;
        while (i < n && is_ws((unsigned char)s[i]))
            i++;
        if (i < n && s[i] == ',')
            i++;
        else if (i < n)
            break;
    }
    json_decref(obj);
    return NULL;
}

/* sub 0: before anything; 1: an identifier; 2: ".call(" being matched. */
static enum sres handle_pytag(struct toolcall_parser *p, int c)
{
    if (p->sub == 0) {
        if (is_ws(c))
            return S_DONE;
        if (c == '{') {
            push_frame(p, FR_CALL, true);
            return S_AGAIN;
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            p->sub = 1;
            buf_clear(&p->word);
            buf_putc(&p->word, (char)c);
            return S_DONE;
        }
        start_code(p);
        return S_DONE;
    }
    if (p->sub == 1 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9')) && p->word.len < 128) {
        buf_putc(&p->word, (char)c);
        return S_DONE;
    }
    static const char dotcall[] = ".call(";
    size_t k = p->sub == 1 ? 0 : (size_t)(p->sub - 2);
    if (c == dotcall[k]) {
        p->sub = (int)k + 3;
        if (dotcall[k + 1] == 0) {
            p->mode = M_PYCALL;
            buf_clear(&p->xml_value);
            p->sub = 0; /* quote state: 0 none, else the quote char; negative after a backslash */
        }
        return S_DONE;
    }
    start_code(p); /* an identifier not followed by .call( : it was code */
    return S_DONE;
}

static enum sres handle_pycall(struct toolcall_parser *p, int c)
{
    if (p->sub == 0 && c == ')') {
        json_t *args = py_kwargs(p->xml_value.data ? p->xml_value.data : "", p->xml_value.len);
        if (!args) {
            start_code(p);
            return S_DONE;
        }
        call_start(p);
        set_text(p->call.name, p->word.data, p->word.len);
        p->call.have_name = true;
        commit(p);
        char *s = json_dumps(args, JSON_COMPACT | JSON_PRESERVE_ORDER);
        emit_args(p, s, strlen(s));
        free(s);
        json_decref(args);
        call_end(p);
        region_end(p);
        p->mode = M_BETWEEN;
        return S_DONE;
    }
    buf_putc(&p->xml_value, (char)c);
    if (p->sub < 0)
        p->sub = -p->sub; /* the escaped byte is done: back inside the quotes */
    else if (p->sub && c == '\\')
        p->sub = -p->sub;
    else if (p->sub && c == p->sub)
        p->sub = 0;
    else if (!p->sub && (c == '"' || c == '\''))
        p->sub = c;
    return S_DONE;
}

/* =============================================================================================
 * QWEN3_XML: <function=NAME> (<parameter=P> value </parameter>)* </function>
 * sub 0: "<function=" being matched, 1: the name, 2: "<parameter=" or "</function>" being
 * matched, 3: a parameter's name, 4: its value (up to "</parameter>"). */

static void xml_emit_value(struct toolcall_parser *p)
{
    const char *d = p->xml_value.data ? p->xml_value.data : "";
    size_t a = 0, b = p->xml_value.len;
    if (a < b && d[a] == '\n')
        a++;
    if (b > a && d[b - 1] == '\n')
        b--;
    json_error_t je;
    json_t *j = json_loadb(d + a, b - a, JSON_DECODE_ANY, &je);
    if (j) {
        emit_args(p, d + a, b - a); /* JSON as written */
    } else {
        json_t *s = json_stringn(d + a, b - a);
        char *t = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        if (t)
            emit_args(p, t, strlen(t));
        else
            emit_args(p, "null", 4); /* not UTF-8: nothing faithful to say */
        free(t);
        json_decref(s);
    }
    json_decref(j);
}

static enum sres handle_xml(struct toolcall_parser *p, int c)
{
    struct buf *w = &p->word;
    switch (p->sub) {
    case 0:
    case 2:
        if (w->len == 0 && is_ws(c))
            return S_DONE;
        buf_putc(w, (char)c);
        if (p->sub == 0) {
            if (w->len <= 10 && memcmp("<function=", w->data, w->len) == 0) {
                if (w->len == 10) {
                    buf_clear(w);
                    p->sub = 1;
                    call_start(p);
                }
                return S_DONE;
            }
            return malformed(p);
        }
        if (w->len <= 11 && memcmp("<parameter=", w->data, w->len) == 0) {
            if (w->len == 11) {
                buf_clear(w);
                p->sub = 3;
            }
            return S_DONE;
        }
        if (w->len <= 11 && memcmp("</function>", w->data, w->len) == 0) {
            if (w->len == 11) {
                buf_clear(w);
                emit_args(p, "}", 1);
                call_end(p);
                return region_done(p);
            }
            return S_DONE;
        }
        return malformed(p);
    case 1:
    case 3:
        if (c == '>' && w->len > 0) {
            if (p->sub == 1) {
                set_text(p->call.name, w->data, w->len);
                p->call.have_name = true;
                commit(p);
                emit_args(p, "{", 1);
                p->xml_params = 0;
                p->sub = 2;
            } else {
                json_t *k = json_stringn(w->data, w->len);
                char *t = json_dumps(k, JSON_ENCODE_ANY);
                if (p->xml_params++)
                    emit_args(p, ", ", 2);
                emit_args(p, t, strlen(t));
                emit_args(p, ": ", 2);
                free(t);
                json_decref(k);
                buf_clear(&p->xml_value);
                p->sub = 4;
            }
            buf_clear(w);
            return S_DONE;
        }
        if (c == '\n' || c == '<' || w->len >= 128)
            return malformed(p);
        buf_putc(w, (char)c);
        return S_DONE;
    default: {
        struct buf *v = &p->xml_value;
        buf_putc(v, (char)c);
        static const char end[] = "</parameter>";
        size_t n = sizeof end - 1;
        if (v->len >= n && memcmp(v->data + v->len - n, end, n) == 0) {
            v->len -= n;
            xml_emit_value(p);
            p->sub = 2;
        }
        return S_DONE;
    }
    }
}

/* =============================================================================================
 * Driving */

static enum sres handle(struct toolcall_parser *p, int c)
{
    switch (p->mode) {
    case M_START: return handle_start(p, c);
    case M_CONTENT: return handle_content(p, c);
    case M_BETWEEN: return handle_between(p, c);
    case M_JSON: return handle_json(p, c);
    case M_RAWARGS: return handle_rawargs(p, c);
    case M_CLOSER: return handle_closer(p, c);
    case M_NAME: return handle_name(p, c);
    case M_MARK: return handle_mark(p, c);
    case M_ID: return handle_id(p, c);
    case M_MISTRAL: return handle_mistral(p, c);
    case M_RECIPIENT: return handle_recipient(p, c);
    case M_V32_BODY: return handle_v32_body(p, c);
    case M_PYTAG: return handle_pytag(p, c);
    case M_PYCALL: return handle_pycall(p, c);
    case M_CODE: return handle_code(p, c);
    case M_XML: return handle_xml(p, c);
    }
    return S_DONE;
}

static void step(struct toolcall_parser *p, int c)
{
    bool kept = false;
    for (int guard = 0; guard < 16; guard++) {
        if (p->in_region && !p->region_committed && !kept) {
            buf_putc(&p->region, (char)c); /* replayed if the region turns out not to be a call */
            kept = true;
            if (p->region.len > MAX_HOLD) {
                refute(p);
                return;
            }
        }
        if (handle(p, c) == S_DONE)
            return;
    }
}

static void drain(struct toolcall_parser *p)
{
    while (p->in_pos < p->in.len)
        step(p, (unsigned char)p->in.data[p->in_pos++]);
    buf_clear(&p->in);
    p->in_pos = 0;
}

struct toolcall_parser *toolcall_parser_new(enum toolcall_format f, uint64_t seed)
{
    struct toolcall_parser *p = xcalloc(1, sizeof *p);
    p->fmt = f;
    rng_seed(&p->rng, seed);
    p->out_type = -1;
    if (f == TOOLCALL_LLAMA3 || f == TOOLCALL_GENERIC || f == TOOLCALL_FUNCTIONARY_V32) {
        p->mode = M_START;
        region_begin(p, "", 0);
    } else {
        p->mode = M_CONTENT;
    }
    return p;
}

void toolcall_parser_free(struct toolcall_parser *p)
{
    if (!p)
        return;
    buf_free(&p->in);
    buf_free(&p->out);
    buf_free(&p->tmatch);
    buf_free(&p->region);
    for (int i = 0; i < MAX_FRAMES; i++)
        buf_free(&p->frames[i].key);
    buf_free(&p->word);
    buf_free(&p->xml_value);
    buf_free(&p->call.args);
    buf_free(&p->call.capture);
    free(p);
}

void toolcall_feed(struct toolcall_parser *p, const char *text, size_t len, toolcall_emit_fn emit,
                   void *user)
{
    p->emit = emit;
    p->user = user;
    buf_append(&p->in, text, len);
    drain(p);
    out_flush(p);
}

void toolcall_finish(struct toolcall_parser *p, toolcall_emit_fn emit, void *user)
{
    p->emit = emit;
    p->user = user;
    drain(p);
    while (p->in_region && !p->region_committed) { /* an opening that never completed */
        refute(p);
        drain(p);
    }
    if (p->mode == M_CONTENT)
        emit_content(p, p->tmatch.data ? p->tmatch.data : "", p->tmatch.len);
    buf_clear(&p->tmatch);
    if (p->mode == M_CODE)
        emit_args(p, "\"}", 2);
    p->finished = true;
    out_flush(p);
}

int toolcall_n_calls(const struct toolcall_parser *p) { return p->n_calls; }

json_t *toolcall_event_delta(const struct toolcall_event *ev)
{
    if (ev->type == TOOLCALL_CONTENT)
        return json_pack("{s:s%}", "content", ev->text, ev->len);
    json_t *fn = ev->type == TOOLCALL_START
                     ? json_pack("{s:s, s:s}", "name", ev->name, "arguments", "")
                     : json_pack("{s:s%}", "arguments", ev->text, ev->len);
    json_t *call = ev->type == TOOLCALL_START
                       ? json_pack("{s:i, s:s, s:s, s:o}", "index", ev->index, "id", ev->id, "type",
                                   "function", "function", fn)
                       : json_pack("{s:i, s:o}", "index", ev->index, "function", fn);
    return json_pack("{s:[o]}", "tool_calls", call);
}

/* toolcall_parse's sink: content appended, calls built from their deltas. */
struct collect {
    struct buf content;
    json_t *calls;
};

static void collect_event(void *user, const struct toolcall_event *ev)
{
    struct collect *c = user;
    if (ev->type == TOOLCALL_CONTENT) {
        buf_append(&c->content, ev->text, ev->len);
        return;
    }
    if (!c->calls)
        c->calls = json_array();
    if (ev->type == TOOLCALL_START) {
        json_array_append_new(c->calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", ev->id, "type",
                                                  "function", "function", "name", ev->name,
                                                  "arguments", ""));
        return;
    }
    json_t *fn = json_object_get(json_array_get(c->calls, (size_t)ev->index), "function");
    const char *have = json_string_value(json_object_get(fn, "arguments"));
    size_t n = json_string_length(json_object_get(fn, "arguments"));
    struct buf b;
    buf_init(&b);
    buf_append(&b, have ? have : "", n);
    buf_append(&b, ev->text, ev->len);
    json_object_set_new(fn, "arguments", json_stringn(b.data ? b.data : "", b.len));
    buf_free(&b);
}

void toolcall_parse(enum toolcall_format f, const char *text, size_t len, uint64_t seed,
                    char **content, json_t **tool_calls)
{
    struct toolcall_parser *p = toolcall_parser_new(f, seed);
    struct collect c = {{0}, NULL};
    buf_init(&c.content);
    toolcall_feed(p, text, len, collect_event, &c);
    toolcall_finish(p, collect_event, &c);
    toolcall_parser_free(p);
    *content = buf_detach(&c.content);
    *tool_calls = c.calls;
}

/* =============================================================================================
 * Formats by template, names */

static const char *const g_format_names[] = {"none", "hermes", "llama3", "mistral", "mistral-args",
                                             "functionary-v3.1", "functionary-v3.2", "qwen3-xml",
                                             "generic"};

const char *toolcall_format_name(enum toolcall_format f)
{
    return (size_t)f < sizeof g_format_names / sizeof *g_format_names ? g_format_names[f] : "?";
}

int toolcall_format_from_name(const char *name, enum toolcall_format *f)
{
    for (size_t i = 0; i < sizeof g_format_names / sizeof *g_format_names; i++)
        if (strcmp(name, g_format_names[i]) == 0) {
            *f = (enum toolcall_format)i;
            return 0;
        }
    return -1;
}

enum toolcall_format toolcall_format_for_template(const char *t)
{
    if (!t)
        return TOOLCALL_GENERIC;
    if (strstr(t, "[TOOL_CALLS]"))
        return strstr(t, "[ARGS]") ? TOOLCALL_MISTRAL_ARGS : TOOLCALL_MISTRAL;
    if (strstr(t, ">>>all"))
        return TOOLCALL_FUNCTIONARY_V32;
    if (strstr(t, "<tool_call>") && strstr(t, "<function=") && strstr(t, "<parameter="))
        return TOOLCALL_QWEN3_XML;
    if (strstr(t, "<function=") && !strstr(t, "<parameter="))
        return TOOLCALL_FUNCTIONARY_V31;
    if (strstr(t, "<tool_call>") && !strstr(t, "<arg_key>") && !strstr(t, "<invoke") &&
        !strstr(t, "<function="))
        return TOOLCALL_HERMES;
    if (strstr(t, "<|python_tag|>") || strstr(t, "\"parameters\": dictionary of argument name"))
        return TOOLCALL_LLAMA3;
    if (strstr(t, "tools") || strstr(t, "tool_calls"))
        return TOOLCALL_GENERIC;
    return TOOLCALL_NONE;
}

/* =============================================================================================
 * Grammars for calls */

static void lit(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(b, '\\');
        if (*s == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

/* A JSON string literal (quotes included) of s, as a GBNF literal. */
static void json_lit(struct buf *b, const char *s)
{
    json_t *j = json_string(s);
    char *t = json_dumps(j, JSON_ENCODE_ANY);
    lit(b, t ? t : "\"\"");
    free(t);
    json_decref(j);
}

/* The call syntax of format f for function `name` whose arguments are rule `args`. */
static int call_rule(enum toolcall_format f, const char *name, const json_t *params, const char *args,
                     struct buf *b, struct err *e)
{
    switch (f) {
    case TOOLCALL_HERMES:
        lit(b, "<tool_call>\n{\"name\": ");
        json_lit(b, name);
        buf_printf(b, " \", \\\"arguments\\\": \" %s ", args);
        lit(b, "}\n</tool_call>");
        return 0;
    case TOOLCALL_LLAMA3:
        lit(b, "{\"name\": ");
        json_lit(b, name);
        buf_printf(b, " \", \\\"parameters\\\": \" %s \"}\"", args);
        return 0;
    case TOOLCALL_MISTRAL:
        lit(b, "{\"name\": ");
        json_lit(b, name);
        buf_printf(b, " \", \\\"arguments\\\": \" %s \", \\\"id\\\": \\\"\" [a-zA-Z0-9]{9} \"\\\"}\"", args);
        return 0;
    case TOOLCALL_MISTRAL_ARGS:
        lit(b, "[TOOL_CALLS]");
        buf_putc(b, ' ');
        lit(b, name);
        buf_printf(b, " \"[ARGS]\" %s", args);
        return 0;
    case TOOLCALL_FUNCTIONARY_V31:
        lit(b, "<function=");
        buf_putc(b, ' ');
        lit(b, name);
        buf_printf(b, " \">\" %s \"</function>\"", args);
        return 0;
    case TOOLCALL_FUNCTIONARY_V32:
        lit(b, name);
        buf_printf(b, " \"\\n\" %s", args);
        return 0;
    case TOOLCALL_QWEN3_XML: {
        lit(b, "<tool_call>\n<function=");
        buf_putc(b, ' ');
        lit(b, name);
        buf_puts(b, " \">\\n\"");
        /* each declared parameter in order, its value as JSON (which the parser keeps as JSON) */
        const json_t *props = json_object_get(params, "properties"), *req = json_object_get(params, "required");
        const char *k;
        const json_t *v;
        int i = 0;
        json_object_foreach((json_t *)props, k, v) {
            bool required = false;
            size_t j;
            const json_t *r;
            json_array_foreach(req, j, r) required |= json_is_string(r) && strcmp(json_string_value(r), k) == 0;
            buf_puts(b, " (");
            lit(b, "<parameter=");
            buf_putc(b, ' ');
            lit(b, k);
            buf_printf(b, " \">\\n\" %s-p%d \"\\n</parameter>\\n\")%s", args, i++, required ? "" : "?");
        }
        buf_puts(b, " ");
        lit(b, "</function>\n</tool_call>");
        (void)e;
        return 0;
    }
    default: /* GENERIC, NONE */
        lit(b, "{\"name\": ");
        json_lit(b, name);
        buf_printf(b, " \", \\\"arguments\\\": \" %s \"}\"", args);
        return 0;
    }
}

int toolcall_grammar(enum toolcall_format f, const json_t *tools, char **gbnf, struct err *e)
{
    *gbnf = NULL;
    if (!json_is_array(tools) || json_array_size(tools) == 0)
        return err_set(e, "tools must be a non-empty array");
    struct buf rules, calls;
    buf_init(&rules);
    buf_init(&calls);
    size_t i;
    const json_t *tool;
    int rc = 0;
    json_array_foreach(tools, i, tool) {
        const json_t *fn = json_object_get(tool, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!name || !*name) {
            rc = err_set(e, "tools[%zu].function.name is missing", i);
            break;
        }
        json_t *params = json_object_get(fn, "parameters");
        json_t *dflt = params ? NULL : json_pack("{s:s}", "type", "object");
        if (!params)
            params = dflt;
        char args[48];
        snprintf(args, sizeof args, "tool%zu-args", i);
        if (f == TOOLCALL_QWEN3_XML) {
            const char *k;
            json_t *v;
            int j = 0;
            json_object_foreach(json_object_get(params, "properties"), k, v) {
                char pn[64];
                snprintf(pn, sizeof pn, "%s-p%d", args, j++);
                if (json_schema_rules(v, pn, &rules, e)) {
                    rc = -1;
                    break;
                }
            }
        } else if (json_schema_rules(params, args, &rules, e)) {
            rc = -1;
        }
        if (rc) {
            err_prefix(e, "tools[%zu] (%s) parameters", i, name);
            json_decref(dflt);
            break;
        }
        buf_printf(&rules, "tool%zu-call ::= ", i);
        call_rule(f, name, params, args, &rules, e);
        buf_putc(&rules, '\n');
        buf_printf(&calls, "%stool%zu-call", i ? " | " : "", i);
        json_decref(dflt);
    }
    if (rc) {
        buf_free(&rules);
        buf_free(&calls);
        return -1;
    }
    buf_printf(&rules, "call ::= %s\n", calls.data);
    switch (f) {
    case TOOLCALL_HERMES: case TOOLCALL_QWEN3_XML:
        buf_puts(&rules, "root ::= call (\"\\n\" call)*\n");
        break;
    case TOOLCALL_LLAMA3:
        buf_puts(&rules, "root ::= call\n");
        break;
    case TOOLCALL_MISTRAL:
        buf_puts(&rules, "root ::= \"[TOOL_CALLS][\" call (\", \" call)* \"]\"\n");
        break;
    case TOOLCALL_MISTRAL_ARGS: case TOOLCALL_FUNCTIONARY_V31:
        buf_puts(&rules, "root ::= call+\n");
        break;
    case TOOLCALL_FUNCTIONARY_V32:
        buf_puts(&rules, "root ::= call (\">>>\" call)*\n");
        break;
    default:
        buf_puts(&rules, "root ::= \"{\\\"tool_calls\\\": [\" call (\", \" call)* \"]}\"\n");
        break;
    }
    buf_free(&calls);
    *gbnf = buf_detach(&rules);
    return 0;
}
