/* template: chat templates, the Jinja programs GGUF files carry in tokenizer.chat_template, which
 * turn a conversation into the exact prompt text a model was trained on.
 *
 * The rendering follows the npm package @huggingface/jinja (pinned in tests/clients), byte for
 * byte: its lexer (trim_blocks and lstrip_blocks on, one trailing newline dropped), its parser and
 * its runtime, quirks included (JavaScript number formatting, `tojson` spacing, `==` as
 * JavaScript's loose equality ...). Whatever that renderer lacks (e.g. `|round`, `is
 * divisibleby`, `str.format`) baton lacks too, and says so with the construct and the template
 * line, never rendering something different. docs/templates.md lists what is supported, the
 * variables passed and how the golden tests compare against the reference.
 *
 * A parsed template is immutable: one struct tmpl may be rendered by several threads at once.
 * Hostile templates are bounded: nesting depth at parse, and at render the output size, the
 * memory used, the number of evaluation steps and the call depth (struct tmpl_limits).
 */
#ifndef BATON_ENGINE_TEMPLATE_H
#define BATON_ENGINE_TEMPLATE_H

#include "base/buf.h"
#include "base/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tm;

/* Status codes (negative) of tmpl_parse and tmpl_render_chat; 0 is success. */
enum tmpl_status {
    TMPL_OK = 0,
    /* The template does not parse, or uses a statement baton (like the reference) lacks. The
     * message names the construct and its line. */
    TMPL_ERR_SYNTAX = -1,
    /* Rendering failed on the template's side: an unknown filter, test or method, a type error,
     * a limit reached. The message names the construct and its line. Not the caller's fault. */
    TMPL_ERR_RENDER = -2,
    /* The template called raise_exception(msg) (e.g. "Conversation roles must alternate"): the
     * conversation is at fault, the message is the template's own; an API answers 400. */
    TMPL_ERR_RAISED = -3,
    /* struct tmpl_chat itself is malformed (messages not an array, a variable name taken). */
    TMPL_ERR_INPUT = -4,
};

struct tmpl;

/* Parses a template (src need not be NUL-terminated; it is copied). On success *out owns the
 * template; release with tmpl_free. On failure returns TMPL_ERR_SYNTAX with a message. */
int tmpl_parse(const char *src, size_t len, struct tmpl **out, struct err *e);
void tmpl_free(struct tmpl *t);

/* Limits on one render. Zero fields take the defaults (tmpl_default_limits). */
struct tmpl_limits {
    size_t max_output_bytes; /* longest string (the prompt included); default 32 MiB */
    size_t max_memory_bytes; /* all memory of one render; default 256 MiB */
    uint64_t max_steps;      /* evaluation steps; default 50 million */
    int max_depth;           /* nested evaluation depth (macro recursion); default 500 */
};
struct tmpl_limits tmpl_default_limits(void);

/* One conversation to render. All borrowed for the duration of the call. */
struct tmpl_chat {
    /* OpenAI chat messages: role, content (string, null or an array of parts), name,
     * tool_calls, tool_call_id, reasoning_content ... passed through as they are, except that a
     * tool call's function.arguments given as a JSON string of an object or array is passed
     * parsed (as llama.cpp and vLLM do: templates expect a mapping there). */
    const json_t *messages;
    const json_t *tools;          /* the request's tools array, or NULL: then `tools` is none */
    bool add_generation_prompt;
    const char *bos_token;        /* NULL: "" */
    const char *eos_token;        /* NULL: "" */
    /* More variables, as a JSON object ({"enable_thinking": false, ...}: the request's
     * chat_template_kwargs), or NULL. A name of the above or of the reference's globals
     * (true, range, raise_exception ...) is refused. Templates read undefined variables as
     * undefined (e.g. `enable_thinking is defined` is false unless given here). */
    const json_t *extra;
    /* The time strftime_now() formats, or NULL for the current local time. */
    const struct tm *now;
    const struct tmpl_limits *limits; /* NULL: defaults */
};

/* Renders the conversation, appending the prompt to out. Returns 0, or a TMPL_ERR_* with a
 * one-line message in e (out then holds what it held before). */
int tmpl_render_chat(const struct tmpl *t, const struct tmpl_chat *in, struct buf *out,
                     struct err *e);

#endif
