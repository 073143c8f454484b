/* toolcall: tool calls in local model output -> OpenAI `tool_calls`, streamed.
 *
 * A parser takes the model's output text incrementally (token pieces, in order) and separates
 * plain content from tool calls in the format the model's chat template uses:
 *
 *   HERMES            <tool_call>{"name": "f", "arguments": {...}}</tool_call>, any number, with
 *                     content around them (Hermes 2 Pro / 3, Qwen 2.5, Qwen 3, QwQ, Granite 4 ...)
 *   LLAMA3            the whole output is {"name": "f", "parameters": {...}} (several separated by
 *                     ";" or whitespace); <|python_tag|> then the same JSON, a builtin call
 *                     name.call(k="v", ...), or code (a call to "python" with {"code": ...})
 *   MISTRAL           [TOOL_CALLS][{"name": "f", "arguments": {...}, "id": "abcDEF123"}, ...]
 *                     (Nemo) and, as MISTRAL_ARGS, [TOOL_CALLS]f[ARGS]{...} and
 *                     [TOOL_CALLS]f[CALL_ID]id[ARGS]{...} (Small 3.2, Devstral, Ministral); both
 *                     parsers accept both forms
 *   FUNCTIONARY_V31   <function=f>{...}</function>; <|python_tag|>code
 *   FUNCTIONARY_V32   recipient blocks: "all\n" content, or "f\n" {...}; blocks after the first
 *                     start with ">>>" (the generation prompt ends with ">>>")
 *   QWEN3_XML         <tool_call><function=f><parameter=p>value</parameter>...</function>
 *                     </tool_call> (Qwen3-Coder, Qwen 3.5, Nemotron 3); values that parse as
 *                     JSON are kept as JSON, others become strings
 *   GENERIC           the whole output is JSON: {"tool_calls": [calls]}, {"tool_call": call},
 *                     a call {"name": ..., "arguments": ...} or [calls], or {"response": "text"}
 *
 * Rules (docs/constrained.md): a call is recognized once its opening is complete and well formed
 * (the marker and the function name; for MISTRAL's JSON form also the id, or the end of the call
 * object); before that its text is held back, and released as content the moment it cannot be a
 * call (malformed JSON, a missing name, an unexpected key before the name, more than 64 KiB
 * held). A recognized call stays a call: its arguments are the raw text of the arguments value as
 * generated (a JSON string value is decoded), streamed as it arrives; anything malformed after
 * that ends the call, and the rest of the call's syntax up to its closing marker is dropped.
 * Content is held back only while it might still be the start of a call, so a stray "<" waits
 * one token at most.
 *
 * Output events follow OpenAI's streaming deltas: a call's first delta carries index, id, type
 * "function", function.name and arguments ""; later deltas append to function.arguments; content
 * deltas carry text. Ids are "call_" + 24 random alphanumerics, or the model's own id when the
 * format carries one (MISTRAL); MISTRAL ids are 9 alphanumerics, since its templates refuse
 * others when the conversation comes back. Events depend only on the bytes fed, not on how they
 * were split: fed whole or byte by byte, the concatenated content and arguments are the same.
 * Feed complete UTF-8 (the local backend's pieces after its UTF-8 hold-back) to get complete
 * UTF-8 out. The markers of MISTRAL and LLAMA3 ([TOOL_CALLS], <|python_tag|>) are control
 * tokens: render pieces with render_special for this parser.
 */
#ifndef BATON_ENGINE_TOOLCALL_H
#define BATON_ENGINE_TOOLCALL_H

#include "base/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum toolcall_format {
    TOOLCALL_NONE, /* no tool calls: all output is content */
    TOOLCALL_HERMES,
    TOOLCALL_LLAMA3,
    TOOLCALL_MISTRAL,       /* Nemo's JSON list */
    TOOLCALL_MISTRAL_ARGS,  /* f[ARGS]{...}; parsed exactly as MISTRAL, differs in grammars */
    TOOLCALL_FUNCTIONARY_V31,
    TOOLCALL_FUNCTIONARY_V32,
    TOOLCALL_QWEN3_XML,
    TOOLCALL_GENERIC,
};

/* The format a chat template's tool calls use, from markers in its source: [TOOL_CALLS] ->
 * MISTRAL (MISTRAL_ARGS if it also has [ARGS]); >>>all -> FUNCTIONARY_V32; <tool_call> with <function= and <parameter= -> QWEN3_XML;
 * <function= -> FUNCTIONARY_V31; <tool_call> (JSON inside) -> HERMES; <|python_tag|> or Llama
 * 3's "parameters" instruction -> LLAMA3; any other template that renders tools -> GENERIC;
 * none -> NONE. template_src NULL -> GENERIC (no template: the generic JSON form). */
enum toolcall_format toolcall_format_for_template(const char *template_src);
const char *toolcall_format_name(enum toolcall_format f);
/* "hermes", "llama3", ... (as toolcall_format_name prints them); -1 if unknown. */
int toolcall_format_from_name(const char *name, enum toolcall_format *f);

enum toolcall_event_type {
    TOOLCALL_CONTENT, /* text: plain content */
    TOOLCALL_START,   /* a call begins: index, id, name (arguments "") */
    TOOLCALL_ARGS,    /* text: more of call index's arguments */
};

struct toolcall_event {
    enum toolcall_event_type type;
    int index;        /* START, ARGS: the call's position among this output's calls */
    const char *id;   /* START */
    const char *name; /* START */
    const char *text; /* CONTENT, ARGS; not NUL-terminated */
    size_t len;
};

/* Receives events; everything in ev is borrowed for the duration of the call. */
typedef void (*toolcall_emit_fn)(void *user, const struct toolcall_event *ev);

struct toolcall_parser;

/* seed makes the generated ids reproducible (tests); use a random seed in serving. */
struct toolcall_parser *toolcall_parser_new(enum toolcall_format f, uint64_t seed);
void toolcall_parser_free(struct toolcall_parser *p);
/* Feeds text[0..len) and emits what can be decided (content and call deltas, in order). */
void toolcall_feed(struct toolcall_parser *p, const char *text, size_t len, toolcall_emit_fn emit,
                   void *user);
/* The output ended: releases what was held back (an unfinished call opening becomes content; a
 * recognized call is closed with the arguments it has). Feeding after finish is a bug. */
void toolcall_finish(struct toolcall_parser *p, toolcall_emit_fn emit, void *user);
/* Calls recognized so far (finish_reason "tool_calls" when > 0 at the end). */
int toolcall_n_calls(const struct toolcall_parser *p);

/* The OpenAI delta object of an event: {"content": ...}, or {"tool_calls": [{"index", "id",
 * "type", "function": {"name", "arguments": ""}}]} for START, or {"tool_calls": [{"index",
 * "function": {"arguments": ...}}]} for ARGS. Caller owns the reference. */
json_t *toolcall_event_delta(const struct toolcall_event *ev);

/* Whole output at once: *content (caller frees; "" if none) and *tool_calls (an OpenAI array
 * of {"id", "type", "function": {"name", "arguments"}}, caller owns; NULL if no calls). */
void toolcall_parse(enum toolcall_format f, const char *text, size_t len, uint64_t seed,
                    char **content, json_t **tool_calls);

/* A grammar (GBNF, start rule "root") for output that is one or more calls in format f to the
 * functions of an OpenAI `tools` array, each call's arguments valid under that function's
 * `parameters` schema (json_schema.h). For tool_choice "required" or a named function (pass a
 * tools array holding only that function); NONE and GENERIC produce the GENERIC JSON form.
 * Fails with a message naming the tool when a parameters schema is unsupported. */
int toolcall_grammar(enum toolcall_format f, const json_t *tools, char **gbnf, struct err *e);

#endif
