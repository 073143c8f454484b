/* chat: a model's chat template, ready to render conversations into prompts.
 *
 * Wraps engine/template.h for the two places that turn a conversation into a prompt (the local
 * tier of `baton serve` and `baton run --chat`): the GGUF's tokenizer.chat_template parsed once,
 * the BOS/EOS texts it is rendered with, and the tool-call format its output uses
 * (engine/toolcall.h). A GGUF without a template gets baton's default: the messages' text, one
 * per line, as a base model continues plain text, with tools listed before it and calls asked
 * for in the generic JSON form (docs/templates.md); callers say so once
 * (chat_template_is_default).
 *
 * Rendering follows llama.cpp's server: add_generation_prompt as asked, bos_token and eos_token
 * from the vocabulary, tools passed to the template, and the rendered text tokenized with special
 * tokens parsed. When the vocabulary adds BOS itself and the template also wrote it, the
 * template's copy is dropped (chat_render strips it) so the prompt never starts with two BOS.
 *
 * A struct chat_template is immutable once made: any thread may render with it.
 */
#ifndef BATON_ENGINE_CHAT_H
#define BATON_ENGINE_CHAT_H

#include "base/buf.h"
#include "base/err.h"
#include "engine/model.h"
#include "engine/toolcall.h"

#include <jansson.h>
#include <stdbool.h>

struct chat_template;

/* The template of m (borrowed only during the call), or the default one. Fails only if the
 * model's template does not parse (message names the line). *out: chat_template_free. */
int chat_template_new(const struct model *m, struct chat_template **out, struct err *e);
/* From template source (e.g. a -t FILE), with the given BOS/EOS texts (NULL: ""). */
int chat_template_from_source(const char *src, size_t len, const char *bos, const char *eos,
                              struct chat_template **out, struct err *e);
void chat_template_free(struct chat_template *ct);

/* True when the model had no template and baton's default is used. */
bool chat_template_is_default(const struct chat_template *ct);
/* The format tool calls take in this template's output. */
enum toolcall_format chat_template_toolcall_format(const struct chat_template *ct);

/* Renders messages (an OpenAI messages array; tools an OpenAI tools array or NULL; extra the
 * request's chat_template_kwargs or NULL) into out. strip_bos: drop a leading BOS text (pass
 * the vocabulary's add-BOS flag). Returns 0 or a TMPL_ERR_* (template.h) with a one-line
 * message; TMPL_ERR_RAISED means the template refused the conversation (an API's 400). */
int chat_render(const struct chat_template *ct, const json_t *messages, const json_t *tools,
                const json_t *extra, bool add_generation_prompt, bool strip_bos, struct buf *out,
                struct err *e);

#endif
