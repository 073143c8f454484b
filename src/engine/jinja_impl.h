/* jinja_impl: the internals of the chat-template engine (template.h is the public side), shared
 * by its four files:
 *
 *   jinja_lex.c    preprocessing (trim_blocks, lstrip_blocks, the generation tag) and tokens
 *   jinja_parse.c  tokens -> syntax tree (struct jinja_node), identifiers interned as symbols
 *   jinja_value.c  the arena, runtime values, JavaScript-compatible text forms (numbers, JSON,
 *                  String()), Unicode helpers (JavaScript's whitespace, UTF-16 lengths, case)
 *   jinja_eval.c   the interpreter: statements, expressions, filters, tests, methods, globals
 *
 * The reference is the npm package @huggingface/jinja (see docs/templates.md): every rule here,
 * quirks included, is the one its lexer.ts, parser.ts and runtime.ts follow, because a chat
 * template must render byte for byte what the model was trained on. Strings are UTF-8 here where
 * the reference has UTF-16; the few places where that shows (lengths, indexing) convert.
 *
 * Memory: everything a parse or a render allocates comes from one arena, released at once; no
 * value is freed on its own, so values share freely (strings point into the input JSON, arrays
 * and objects are referenced, as in JavaScript). Errors unwind with longjmp to the entry point of
 * tmpl_parse / tmpl_render_chat (struct jinja_ctx), which turns them into a returned status; the
 * arena makes that safe. */
#ifndef BATON_ENGINE_JINJA_IMPL_H
#define BATON_ENGINE_JINJA_IMPL_H

#include "base/err.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm;

/* ---- strings, arena, errors ---------------------------------------------------------------- */

/* A borrowed byte string (UTF-8, not NUL-terminated). */
struct jinja_sv {
    const char *p;
    size_t len;
};

struct jinja_chunk;
struct jinja_arena {
    struct jinja_chunk *head;
    size_t total_bytes; /* bytes obtained from malloc so far */
    size_t limit_bytes; /* jinja_arena_alloc fails beyond this */
};

void jinja_arena_init(struct jinja_arena *a, size_t limit_bytes);
void jinja_arena_free(struct jinja_arena *a);
/* 16-byte aligned, uninitialized; NULL once the arena would exceed its limit. */
void *jinja_arena_alloc(struct jinja_arena *a, size_t n);

/* Where errors unwind to. code is a TMPL_ERR_* of template.h. */
struct jinja_ctx {
    struct jinja_arena *arena;
    jmp_buf jb;
    struct err *e;
    int code;
    int oom_code; /* the status a memory-limit failure reports */
};

_Noreturn void jinja_fail(struct jinja_ctx *c, int code, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Arena allocation that fails the render with a clear message at the memory limit. */
void *jinja_alloc(struct jinja_ctx *c, size_t n);
char *jinja_strdup(struct jinja_ctx *c, const char *p, size_t n);

/* A growable string in the arena (growth copies; the arena keeps the old copy). */
struct jinja_sb {
    char *p;
    size_t len, cap;
    size_t limit; /* longest string allowed (the output limit) */
};
void jinja_sb_init(struct jinja_sb *b, size_t limit);
void jinja_sb_put(struct jinja_ctx *c, struct jinja_sb *b, const char *p, size_t n);
void jinja_sb_puts(struct jinja_ctx *c, struct jinja_sb *b, const char *s);
struct jinja_sv jinja_sb_sv(const struct jinja_sb *b);

/* ---- tokens (jinja_lex.c) ------------------------------------------------------------------- */

enum jinja_tok {
    TK_TEXT,
    TK_NUM,        /* 123, 1.5, -1 (a sign glued on where the reference's lexer does) */
    TK_STR,        /* quoted, escapes processed */
    TK_IDENT,      /* every word: names, keywords, true/false/none, and/or/not/in/is */
    TK_EQUALS,
    TK_LPAREN,
    TK_RPAREN,
    TK_OPEN_STMT,  /* {% */
    TK_CLOSE_STMT, /* %} */
    TK_OPEN_EXPR,  /* {{ */
    TK_CLOSE_EXPR, /* }} */
    TK_LBRACKET,
    TK_RBRACKET,
    TK_LBRACE,
    TK_RBRACE,
    TK_COMMA,
    TK_DOT,
    TK_COLON,
    TK_PIPE,
    TK_ADD,        /* + - ~ */
    TK_MUL,        /* * / // % */
    TK_POW,        /* ** */
    TK_CMP,        /* < > <= >= == != */
    TK_UNARY,      /* a lone + or - in operand position */
    TK_COMMENT,
};

struct jinja_token {
    uint8_t type;
    uint32_t line; /* 1-based line in the original template */
    struct jinja_sv text;
};

const char *jinja_tok_name(int type);
/* Tokenizes src as the reference does with trim_blocks and lstrip_blocks on. The tokens and
 * their texts live in c's arena. Fails (longjmp) with TMPL_ERR_SYNTAX. */
void jinja_tokenize(struct jinja_ctx *c, const char *src, size_t len, struct jinja_token **out,
                    size_t *n_out);

/* ---- syntax tree (jinja_parse.c) ----------------------------------------------------------- */

enum jinja_kind {
    /* statements */
    N_IF,        /* a test, l1 body, l2 else (an elif is a nested N_IF alone in l2) */
    N_FOR,       /* a target (ident/tuple), b iterable (maybe N_SELECT: the loop filter), l1, l2 */
    N_SET,       /* a target, b value or NULL with l1 the captured block */
    N_MACRO,     /* sym name, l3 parameters (ident or N_KWARG), l1 body, op special-arg flags */
    N_CALLBLOCK, /* a the call (N_CALL), flag: has caller params in l3, l1 body, op flags */
    N_FILTERBLOCK, /* a the filter (N_FILTER without operand), l1 body */
    N_BREAK,
    N_CONTINUE,
    N_COMMENT,
    /* expressions (a bare expression in a body is {{ expr }}; text is an N_STR) */
    N_INT,     /* num */
    N_FLOAT,   /* num */
    N_STR,     /* str */
    N_IDENT,   /* sym, str */
    N_ARRAY,   /* l1 */
    N_TUPLE,   /* l1 */
    N_OBJECT,  /* l1 keys, l2 values */
    N_MEMBER,  /* a object, flag computed: b index expr (or N_SLICE); else b is N_IDENT/N_INT */
    N_SLICE,   /* a start, b stop, c step (each may be NULL) */
    N_CALL,    /* a callee, l1 arguments (expressions, N_KWARG, N_SPREAD, N_KWSPREAD) */
    N_UNARY,   /* op, a */
    N_BINARY,  /* op, a, b */
    N_FILTER,  /* a operand, str name, flag called with (...) and l1 arguments; op 1: the
                  reference's parser accepted something it cannot apply (x|f().y) */
    N_TEST,    /* a operand, str name, flag negated */
    N_SELECT,  /* a value, b condition: `a if b` without else (undefined when false) */
    N_TERNARY, /* a condition, b then, c else */
    N_KWARG,   /* str/sym name, a value */
    N_SPREAD,  /* *a */
    N_KWSPREAD, /* **a */
};

enum jinja_op {
    OP_OR, OP_AND, OP_NOT,
    OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE, OP_IN, OP_NOTIN,
    OP_ADD, OP_SUB, OP_CONCAT, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW,
    OP_NEG, OP_POS,
};

/* Special macro arguments a body reads before declaring them (reference:
 * findAccessedSpecialMacroArguments). */
#define JINJA_USES_KWARGS 1
#define JINJA_USES_VARARGS 2

struct jinja_node;
struct jinja_list {
    struct jinja_node **v;
    size_t n;
};

struct jinja_node {
    uint8_t kind;
    uint8_t op;
    bool flag;
    uint32_t line;
    uint32_t sym;
    struct jinja_sv str;
    double num;
    struct jinja_node *a, *b, *c;
    struct jinja_list l1, l2, l3;
};

/* Symbols every render needs, interned first so their ids are fixed. */
enum jinja_sym {
    SYM_LOOP, SYM_CALLER, SYM_KWARGS, SYM_VARARGS, SYM_NAMESPACE,
    SYM_TRUE, SYM_FALSE, SYM_NONE, SYM_TRUE_T, SYM_FALSE_T, SYM_NONE_T,
    SYM_RAISE, SYM_RANGE, SYM_STRFTIME,
    SYM_FIXED_COUNT
};

struct jinja_program {
    struct jinja_list body;
    struct jinja_sv *syms; /* names by id */
    size_t n_syms;
};

/* Parses tokens into prog (nodes in c's arena). Fails with TMPL_ERR_SYNTAX, naming the line. */
void jinja_parse(struct jinja_ctx *c, const struct jinja_token *toks, size_t n,
                 struct jinja_program *prog, int max_depth);
/* Symbol id of name, or -1 if the template never mentions it. */
int64_t jinja_find_sym(const struct jinja_program *prog, const char *name, size_t len);

/* ---- values (jinja_value.c) ----------------------------------------------------------------- */

enum jinja_type {
    JV_UNDEF,  /* UndefinedValue */
    JV_NULL,   /* NullValue (none) */
    JV_BOOL,
    JV_INT,    /* IntegerValue: a JavaScript number known integral */
    JV_FLOAT,
    JV_STR,
    JV_ARRAY,
    JV_TUPLE,  /* TupleValue: an ArrayValue the reference cannot print or unpack in for */
    JV_OBJECT, /* ObjectValue: an ordered map */
    JV_KWARGS, /* KeywordArgumentsValue: an ObjectValue passed as a call's last argument */
    JV_NS,     /* NamespaceValue: mutable attributes, no mapping behaviour */
    JV_FUNC,
    /* JavaScript's own undefined, which the reference's |first and |last return for an empty
     * list: only `set name = ...` (it reads back as undefined) and a macro's positional
     * argument (it counts as not given) accept it; any other use fails, as it does there. */
    JV_MISSING,
};

struct jinja_arr;
struct jinja_obj;
struct jinja_fn;

struct jinja_val {
    uint8_t type;
    union {
        bool b;
        double num;
        struct jinja_sv s;
        struct jinja_arr *arr;
        struct jinja_obj *obj;
        struct jinja_fn *fn;
    } u;
};

struct jinja_arr {
    size_t n;
    struct jinja_val *v;
};

struct jinja_kv {
    struct jinja_sv key;
    struct jinja_val val;
};

struct jinja_obj {
    size_t n, cap;
    struct jinja_kv *kv;
    uint32_t *index; /* open addressing over kv (index+1, 0 empty), once n grows past 8 */
    size_t index_cap;
};

enum jinja_fn_kind { FN_MACRO, FN_CALLER, FN_GLOBAL, FN_STR_METHOD, FN_OBJ_METHOD };

struct jinja_env;
struct jinja_fn {
    uint8_t kind;
    uint8_t id;                    /* which global / method */
    const struct jinja_node *node; /* FN_MACRO: the macro; FN_CALLER: the call block */
    struct jinja_env *env;         /* FN_CALLER: where the call block stands */
    struct jinja_val self;         /* methods: the receiver */
};

static inline bool jv_is_array(struct jinja_val v) { return v.type == JV_ARRAY || v.type == JV_TUPLE; }
/* instanceof ObjectValue (keyword arguments are one) */
static inline bool jv_is_object(struct jinja_val v) { return v.type == JV_OBJECT || v.type == JV_KWARGS; }
static inline bool jv_is_number(struct jinja_val v) { return v.type == JV_INT || v.type == JV_FLOAT; }

extern const struct jinja_val jinja_undef, jinja_null;
struct jinja_val jv_bool(bool b);
struct jinja_val jv_int(double n);
struct jinja_val jv_float(double n);
struct jinja_val jv_str(struct jinja_sv s);
struct jinja_val jv_cstr(const char *s);
struct jinja_val jv_array(struct jinja_ctx *c, size_t n); /* elements uninitialized */
struct jinja_val jv_object(struct jinja_ctx *c, uint8_t type);
/* Sets key (copied by reference: key bytes must outlive the render) keeping first position. */
void jv_obj_set(struct jinja_ctx *c, struct jinja_obj *o, struct jinja_sv key, struct jinja_val v);
struct jinja_val *jv_obj_get(const struct jinja_obj *o, struct jinja_sv key);
/* Removes key (for the keyword arguments a macro binds); keeps order. */
void jv_obj_del(struct jinja_obj *o, struct jinja_sv key);
const char *jv_type_name(struct jinja_val v); /* the reference's names: "StringValue" ... */

/* __bool__ (Python truthiness as the reference implements it). */
bool jv_truthy(struct jinja_val v);
/* JavaScript truthiness of the value's raw .value (used where the reference does `x.value ?`). */
bool jv_js_truthy(struct jinja_val v);
/* JavaScript `a.value == b.value` and `a.value === b.value`. */
bool jv_loose_eq(struct jinja_ctx *c, struct jinja_val a, struct jinja_val b);
bool jv_strict_eq(struct jinja_val a, struct jinja_val b);

/* Appends JavaScript's String(number). */
void jinja_put_number(struct jinja_ctx *c, struct jinja_sb *b, double x);
/* RuntimeValue.toString(): what {{ v }} prints. Fails on values the reference prints as
 * JavaScript source (functions) or cannot print (tuples, keyword arguments). */
void jinja_put_value(struct jinja_ctx *c, struct jinja_sb *b, struct jinja_val v, uint32_t line);
/* `v.value.toString()` (the ~ and + operators) and String(v.value) (raise_exception). */
void jinja_put_raw(struct jinja_ctx *c, struct jinja_sb *b, struct jinja_val v, uint32_t line);
/* The reference's toJSON. indent < 0: none. */
struct jinja_json_opts {
    long indent;
    bool ensure_ascii;
    bool sort_keys;
    bool has_separators;
    struct jinja_sv item_sep, key_sep;
    bool undefined_as_null;
};
void jinja_put_json(struct jinja_ctx *c, struct jinja_sb *b, struct jinja_val v,
                    const struct jinja_json_opts *o, int depth, uint32_t line);

/* Converts parsed JSON (jansson) as JSON.parse + convertToRuntimeValues would: integral numbers
 * become integers, object keys in JavaScript's property order. Strings are borrowed from j. */
struct jinja_val jinja_from_json(struct jinja_ctx *c, const json_t *j, int depth);

/* JavaScript string helpers over UTF-8. */
bool jinja_js_space(uint32_t cp); /* \s: WhiteSpace and LineTerminator */
/* Length of the JS whitespace character at s[i..n), 0 if none. */
size_t jinja_space_at(const char *s, size_t n, size_t i);
struct jinja_sv jinja_trim(struct jinja_sv s, bool start, bool end);
size_t jinja_utf16_len(struct jinja_sv s);
/* toUpperCase / toLowerCase (simple mappings plus the common special cases). */
struct jinja_sv jinja_case(struct jinja_ctx *c, struct jinja_sv s, bool upper);
/* Compares as JavaScript's < on strings (UTF-16 code units). */
int jinja_str_cmp(struct jinja_sv a, struct jinja_sv b);
/* JavaScript ToNumber(string) (NaN when not numeric) and parseInt(s, 10) / parseFloat. */
double jinja_str_to_number(struct jinja_sv s);
double jinja_parse_int(struct jinja_sv s);
double jinja_parse_float(struct jinja_sv s);
bool jinja_sv_eq(struct jinja_sv a, struct jinja_sv b);
bool jinja_sv_eqc(struct jinja_sv a, const char *s);

/* ---- the interpreter (jinja_eval.c) --------------------------------------------------------- */

struct jinja_limits {
    size_t max_output_bytes;
    uint64_t max_steps;
    int max_depth;
};

struct jinja_var {
    const char *name;
    struct jinja_val val;
};

/* Renders prog with the given variables (besides the reference's globals) into out.
 * now: the time strftime_now formats. */
void jinja_render(struct jinja_ctx *c, const struct jinja_program *prog,
                  const struct jinja_var *vars, size_t n_vars, const struct tm *now,
                  const struct jinja_limits *lim, struct jinja_sb *out);

#endif
