/* local_plan: what a request asks of the local engine beyond plain sampling, decided once at
 * start: the prompt (a chat request rendered with the model's chat template), the grammar that
 * constrains the output (response_format json_object / json_schema, baton's `grammar` extension,
 * or the tool-call grammar for tool_choice "required" or a named function), and whether and in
 * which format tool calls are parsed out of the output.
 *
 * Precedence: a forced tool call (tool_choice "required" or a function) is constrained by the
 * tool-call grammar, whatever response_format says; otherwise response_format or `grammar`
 * (both at once is refused). tool_choice "none" renders the tools but parses no calls. A
 * template without tool support parses calls in the generic JSON form.
 *
 * Everything the client got wrong is refused here with the parameter it concerns, so the
 * server answers 400 before any token is generated: a template's raise_exception, an
 * unsupported schema keyword (by path), a GBNF syntax error (line and column), a tool_choice
 * naming no tool.
 */
#ifndef BATON_BACKEND_LOCAL_PLAN_H
#define BATON_BACKEND_LOCAL_PLAN_H

#include "api/request.h"
#include "base/err.h"
#include "engine/chat.h"
#include "engine/grammar.h"
#include "engine/toolcall.h"

#include <stdbool.h>

struct local_plan {
    char *prompt;                    /* text to tokenize (owned) */
    bool parse_special;              /* special-token text in the prompt is special tokens */
    struct grammar *grammar;         /* constrains the output, or NULL (owned) */
    enum toolcall_format tool_format;/* parse calls in this format; TOOLCALL_NONE: no parsing */
    bool render_special;             /* output pieces include control-token text (call markers) */
};

/* Why a plan was refused: the status to answer and the OpenAI error's param and code (static
 * strings, code may be NULL). */
struct local_plan_error {
    int status;        /* 400, or 500 when the model's template itself is broken */
    const char *param;
    const char *code;
};

/* Plans request r for a model whose chat template is ct (NULL: the model's template failed to
 * parse; tmpl_error says why) and whose vocabulary adds BOS when add_bos. On failure fills pe
 * and e; p is then empty. */
int local_plan_make(const struct chat_template *ct, const char *tmpl_error, bool add_bos,
                    const struct request *r, struct local_plan *p, struct local_plan_error *pe,
                    struct err *e);
/* Frees what p still owns (the caller may have taken the grammar and set it to NULL). */
void local_plan_free(struct local_plan *p);

#endif
