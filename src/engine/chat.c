/* chat: a model's chat template, ready to render (see chat.h). */
#include "engine/chat.h"

#include "base/alloc.h"
#include "engine/template.h"
#include "engine/tokenizer.h"

#include <string.h>

/* The default template, for a GGUF without one. Such a model is almost always a base model,
 * trained on plain text, so the prompt is plain text it can continue: the messages' content, one
 * per line (what the local tier sent before templates existed, and what the bundled stories
 * models answer well). Role markers such as ChatML's would be noise to it. With tools, a
 * preamble lists them and asks for calls in the generic JSON form; an assistant's earlier calls
 * are written in that form. */
static const char g_default_template[] =
    "{%- if tools -%}\n"
    "{{- 'You can call these tools:\\n' -}}\n"
    "{%- for tool in tools -%}{{- (tool.function if tool.function is defined else tool) | tojson "
    "-}}{{- '\\n' -}}{%- endfor -%}\n"
    "{{- 'To call tools, answer with only this JSON: {\"tool_calls\": [{\"name\": <name>, "
    "\"arguments\": <arguments object>}]}\\n' -}}\n"
    "{%- endif -%}\n"
    "{%- for message in messages -%}\n"
    "{%- if not loop.first -%}{{- '\\n' -}}{%- endif -%}\n"
    "{%- if message.content is string -%}{{- message.content -}}{%- endif -%}\n"
    "{%- if message.tool_calls -%}\n"
    "{{- '{\"tool_calls\": [' -}}\n"
    "{%- for call in message.tool_calls -%}\n"
    "{%- if not loop.first -%}{{- ', ' -}}{%- endif -%}\n"
    "{{- '{\"name\": ' + (call.function.name | tojson) + ', \"arguments\": ' + "
    "(call.function.arguments | tojson) + '}' -}}\n"
    "{%- endfor -%}\n"
    "{{- ']}' -}}\n"
    "{%- endif -%}\n"
    "{%- endfor -%}\n";

struct chat_template {
    struct tmpl *tmpl;
    char *bos, *eos;
    bool is_default;
    enum toolcall_format format;
};

static int make(const char *src, size_t len, const char *bos, const char *eos, bool is_default,
                struct chat_template **out, struct err *e)
{
    struct tmpl *t;
    if (tmpl_parse(src, len, &t, e))
        return err_prefix(e, "chat template");
    struct chat_template *ct = xcalloc(1, sizeof *ct);
    ct->tmpl = t;
    ct->bos = xstrdup(bos ? bos : "");
    ct->eos = xstrdup(eos ? eos : "");
    ct->is_default = is_default;
    if (is_default) {
        ct->format = TOOLCALL_GENERIC;
    } else {
        char *s = xstrndup(src, len);
        ct->format = toolcall_format_for_template(s);
        free(s);
    }
    *out = ct;
    return 0;
}

static char *token_text(const struct tok *t, int32_t id)
{
    size_t len = 0;
    const char *s = id >= 0 ? tok_text(t, id, &len) : NULL;
    return xstrndup(s ? s : "", s ? len : 0);
}

int chat_template_new(const struct model *m, struct chat_template **out, struct err *e)
{
    const struct tok *t = model_tok(m);
    char *bos = token_text(t, tok_bos(t)), *eos = token_text(t, tok_eos(t));
    size_t len = 0;
    const char *src = model_chat_template(m, &len);
    int rc = src ? make(src, len, bos, eos, false, out, e)
                 : make(g_default_template, sizeof g_default_template - 1, bos, eos, true, out, e);
    free(bos);
    free(eos);
    return rc;
}

int chat_template_from_source(const char *src, size_t len, const char *bos, const char *eos,
                              struct chat_template **out, struct err *e)
{
    return make(src, len, bos, eos, false, out, e);
}

void chat_template_free(struct chat_template *ct)
{
    if (!ct)
        return;
    tmpl_free(ct->tmpl);
    free(ct->bos);
    free(ct->eos);
    free(ct);
}

bool chat_template_is_default(const struct chat_template *ct) { return ct->is_default; }

enum toolcall_format chat_template_toolcall_format(const struct chat_template *ct)
{
    return ct->format;
}

int chat_render(const struct chat_template *ct, const json_t *messages, const json_t *tools,
                const json_t *extra, bool add_generation_prompt, bool strip_bos, struct buf *out,
                struct err *e)
{
    struct tmpl_chat chat = {
        .messages = messages,
        .tools = tools && json_is_array(tools) && json_array_size(tools) ? tools : NULL,
        .add_generation_prompt = add_generation_prompt,
        .bos_token = ct->bos,
        .eos_token = ct->eos,
        .extra = extra && json_is_object(extra) ? extra : NULL,
    };
    size_t start = out->len;
    int st = tmpl_render_chat(ct->tmpl, &chat, out, e);
    if (st)
        return st;
    size_t bl = strlen(ct->bos);
    if (strip_bos && bl && out->len - start >= bl && memcmp(out->data + start, ct->bos, bl) == 0) {
        memmove(out->data + start, out->data + start + bl, out->len - start - bl);
        out->len -= bl;
        out->data[out->len] = 0;
    }
    return 0;
}
