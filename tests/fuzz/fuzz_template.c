/* libFuzzer target: the chat-template engine on arbitrary bytes. Any input must either be refused
 * by tmpl_parse with a message, or render a fixed small conversation (system, user,
 * assistant with a tool call, tool result, tools defined) to some text or fail with a message:
 * no crash, no leak, no unbounded time or memory (small limits below), and a status that is one
 * of template.h's. Seeds in corpus/template/: five real chat templates under MIT or Apache-2.0
 * (Phi-3.5, RWKV world, Kimi-K2, Qwen2.5, Mistral Nemo; as in llama.cpp's models/templates) and
 * feature-*.jinja, the templates of tests/unit/template_features.json, one construct each.
 */
#include "base/buf.h"
#include "engine/template.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char g_messages[] =
    "[{\"role\":\"system\",\"content\":\"You are helpful.\"},"
    "{\"role\":\"user\",\"content\":\"Hi \\u00e9\\ud83d\\ude00 {{ x }}\"},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
    "\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"q\\\": [1, 2.5, null]}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"},"
    "{\"role\":\"assistant\",\"content\":\"Done.\",\"reasoning_content\":\"ok\"}]";
static const char g_tools[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get\",\"description\":\"d\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"array\"}},"
    "\"required\":[\"q\"]}}}]";

static json_t *g_msgs, *g_tool_list, *g_extra;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_msgs) {
        g_msgs = json_loads(g_messages, 0, NULL);
        g_tool_list = json_loads(g_tools, 0, NULL);
        g_extra = json_loads("{\"enable_thinking\": true}", 0, NULL);
        if (!g_msgs || !g_tool_list || !g_extra)
            abort();
    }
    char *copy = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    if (size)
        memcpy(copy, data, size);
    struct err e;
    struct tmpl *t;
    int st = tmpl_parse(copy, size, &t, &e);
    free(copy);
    if (st) {
        if (st != TMPL_ERR_SYNTAX || !e.msg[0])
            abort();
        return 0;
    }
    static const struct tmpl_limits lim = {.max_output_bytes = 1u << 20,
                                           .max_memory_bytes = 64u << 20,
                                           .max_steps = 200000,
                                           .max_depth = 200};
    static const struct tm day = {.tm_year = 124, .tm_mon = 6, .tm_mday = 26};
    for (int gp = 0; gp < 2; gp++) {
        struct tmpl_chat chat = {.messages = g_msgs, .tools = gp ? g_tool_list : NULL,
                                 .add_generation_prompt = gp, .bos_token = "<s>",
                                 .eos_token = "</s>", .extra = gp ? g_extra : NULL, .now = &day,
                                 .limits = &lim};
        struct buf out;
        buf_init(&out);
        st = tmpl_render_chat(t, &chat, &out, &e);
        if (st != 0 && st != TMPL_ERR_RENDER && st != TMPL_ERR_RAISED)
            abort();
        if (st == 0 && out.len > lim.max_output_bytes)
            abort();
        if (st != 0 && out.len != 0)
            abort(); /* a failed render leaves the output as it was */
        if (st == TMPL_ERR_RENDER && !e.msg[0])
            abort();
        buf_free(&out);
    }
    tmpl_free(t);
    return 0;
}
