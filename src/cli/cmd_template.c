/* baton template: renders a chat request into the prompt text a model sees, with the model's
 * chat template (engine/template.h).
 *
 *   baton template (-m MODEL.gguf | -t FILE.jinja) -f REQUEST.json [--no-generation-prompt]
 *                  [--bos TEXT] [--eos TEXT] [--date YYYY-MM-DD]
 *
 * REQUEST.json is an OpenAI chat request body: "messages", optional "tools", and optional
 * "chat_template_kwargs" (an object of extra template variables, e.g. {"enable_thinking":
 * false}, as vLLM and llama.cpp's server accept). Numbers are read as JavaScript's JSON.parse
 * reads them (doubles). With -m the template is the GGUF's tokenizer.chat_template (a
 * vocabulary-only GGUF will do) and bos_token / eos_token are the vocabulary's BOS/EOS texts;
 * with -t they default to "". --bos / --eos override either. --date fixes what strftime_now()
 * formats (midnight of that day); by default it is the current local time.
 *
 * Output: exactly the rendered prompt on stdout, nothing appended. Bad usage prints the usage
 * and exits 2; any other failure prints one line on stderr and exits 1; a template's own
 * raise_exception() reads
 * "baton: template raised: <message>".
 *
 * One extension for the golden test (tests/golden/test_templates.sh), which would otherwise start
 * a process per case: with -o DIR, -f may be repeated and each REQUEST.json renders into
 * DIR/REQUEST.txt, or DIR/REQUEST.error holding "raise" (the template raised) or "error" on its
 * first line and the message on the second. The status is then non-zero only when the template
 * cannot be read or a file cannot be written.
 */
#include "cli/cli.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "engine/gguf.h"
#include "engine/template.h"
#include "engine/tokenizer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TEMPLATE_FILE_MAX_BYTES (16u << 20)
#define REQUEST_FILE_MAX_BYTES (64u << 20)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: baton template (-m MODEL.gguf | -t FILE.jinja) -f REQUEST.json\n"
            "                      [--no-generation-prompt] [--bos TEXT] [--eos TEXT]\n"
            "                      [--date YYYY-MM-DD] [-o DIR]\n"
            "\n"
            "Prints the prompt a chat template renders for an OpenAI chat request body\n"
            "(messages, optional tools and chat_template_kwargs), exactly, without a newline.\n"
            "  -m MODEL.gguf            the template and BOS/EOS texts of this GGUF\n"
            "  -t FILE.jinja            a template file (bos_token and eos_token default to \"\")\n"
            "  -f REQUEST.json          the request body\n"
            "  --no-generation-prompt   add_generation_prompt=false (default true)\n"
            "  --bos TEXT, --eos TEXT   the bos_token / eos_token variables\n"
            "  --date YYYY-MM-DD        the day strftime_now() formats (default: now)\n"
            "  -o DIR                   with -f repeated: write DIR/REQUEST.txt or .error per file\n");
}

/* The vocabulary's text of token id, or "" without one. */
static void token_text(const struct tok *t, int32_t id, struct buf *out)
{
    size_t len = 0;
    const char *s = id >= 0 ? tok_text(t, id, &len) : NULL;
    buf_append(out, s ? s : "", s ? len : 0);
}

/* Reads the template and BOS/EOS texts from a GGUF. */
static int load_model_template(const char *path, struct buf *src, struct buf *bos, struct buf *eos)
{
    struct err e;
    struct gguf *g;
    if (gguf_open(path, &g, &e))
        return cli_fail("template: %s", e.msg);
    struct gguf_str s;
    int found = gguf_get_str(g, "tokenizer.chat_template", &s, &e); /* 1 found, 0 absent */
    if (found <= 0) {
        gguf_close(g);
        if (found < 0)
            return cli_fail("template: %s: %s", path, e.msg);
        return cli_fail("template: %s has no chat template (tokenizer.chat_template): use -t",
                        path);
    }
    buf_append(src, s.ptr, s.len);
    struct tok *t;
    if (tok_load(g, &t, &e) == 0) {
        token_text(t, tok_bos(t), bos);
        token_text(t, tok_eos(t), eos);
        tok_free(t);
    }
    gguf_close(g);
    return 0;
}

static int parse_date(const char *s, struct tm *tm)
{
    int y, m, d;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
        return cli_fail("template: --date '%s' is not YYYY-MM-DD", s);
    memset(tm, 0, sizeof *tm);
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    return 0;
}

struct options {
    const char *model, *tmpl_path, *bos, *eos, *out_dir;
    const char **requests;
    size_t n_requests;
    bool gen_prompt;
    bool has_date;
    struct tm day;
};

/* Renders one request file. Returns 0 with the prompt in out; 1 with a one-line message in msg
 * (and *raised set when the template raised it); -1 when the file cannot be read (printed). */
static int render_file(const struct tmpl *t, const struct options *o, const char *path,
                       const char *bos, const char *eos, struct buf *out, struct buf *msg,
                       bool *raised)
{
    *raised = false;
    struct buf req;
    buf_init(&req);
    if (cli_read_file("template", path, REQUEST_FILE_MAX_BYTES, &req)) {
        buf_free(&req);
        return -1;
    }
    json_error_t je;
    json_t *body = json_loadb(req.data ? req.data : "", req.len, JSON_DECODE_INT_AS_REAL, &je);
    buf_free(&req);
    int rc = 1;
    if (!json_is_object(body)) {
        buf_printf(msg, "%s:%d:%d: not a JSON request body%s%s", path, je.line, je.column,
                   body ? "" : ": ", body ? "" : je.text);
        goto done;
    }
    json_t *kwargs = json_object_get(body, "chat_template_kwargs");
    if (kwargs && !json_is_object(kwargs) && !json_is_null(kwargs)) {
        buf_printf(msg, "%s: chat_template_kwargs must be an object", path);
        goto done;
    }
    struct tmpl_chat chat = {
        .messages = json_object_get(body, "messages"),
        .tools = json_object_get(body, "tools"),
        .add_generation_prompt = o->gen_prompt,
        .bos_token = bos,
        .eos_token = eos,
        .extra = json_is_object(kwargs) ? kwargs : NULL,
        .now = o->has_date ? &o->day : NULL,
    };
    struct err e;
    int st = tmpl_render_chat(t, &chat, out, &e);
    if (st == TMPL_ERR_RAISED) {
        *raised = true;
        buf_puts(msg, e.msg);
    } else if (st) {
        buf_printf(msg, "%s: %s", st == TMPL_ERR_INPUT ? path : o->model ? o->model : o->tmpl_path,
                   e.msg);
    } else {
        rc = 0;
    }
done:
    json_decref(body);
    return rc;
}

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return cli_fail("template: cannot create '%s': %s", path, strerror(errno));
    bool ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : cli_fail("template: cannot write '%s'", path);
}

/* -o DIR: one output file per request. */
static int render_batch(const struct tmpl *t, const struct options *o, const char *bos,
                        const char *eos, const char *parse_error)
{
    for (size_t i = 0; i < o->n_requests; i++) {
        const char *req = o->requests[i];
        const char *base = strrchr(req, '/');
        base = base ? base + 1 : req;
        size_t stem = strlen(base);
        if (stem > 5 && strcmp(base + stem - 5, ".json") == 0)
            stem -= 5;
        struct buf out, msg, path;
        buf_init(&out);
        buf_init(&msg);
        buf_init(&path);
        bool raised = false;
        int rc = parse_error ? (buf_puts(&msg, parse_error), 1)
                             : render_file(t, o, req, bos, eos, &out, &msg, &raised);
        if (rc < 0) {
            buf_free(&out);
            buf_free(&msg);
            return 1;
        }
        buf_printf(&path, "%s/%.*s.%s", o->out_dir, (int)stem, base, rc ? "error" : "txt");
        if (rc) {
            buf_clear(&out);
            buf_printf(&out, "%s\n%s\n", raised ? "raise" : "error", msg.data ? msg.data : "");
        }
        int wrc = write_file(path.data, out.data ? out.data : "", out.len);
        buf_free(&out);
        buf_free(&msg);
        buf_free(&path);
        if (wrc)
            return 1;
    }
    return 0;
}

int cmd_template(int argc, char **argv)
{
    struct options o = {.gen_prompt = true};
    o.requests = xmalloc_array((size_t)argc, sizeof *o.requests);
    const char *date = NULL;
    int rc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (strcmp(a, "--no-generation-prompt") == 0) {
            o.gen_prompt = false;
        } else if (has_val && strcmp(a, "-m") == 0) {
            o.model = argv[++i];
        } else if (has_val && strcmp(a, "-t") == 0) {
            o.tmpl_path = argv[++i];
        } else if (has_val && strcmp(a, "-f") == 0) {
            o.requests[o.n_requests++] = argv[++i];
        } else if (has_val && strcmp(a, "--bos") == 0) {
            o.bos = argv[++i];
        } else if (has_val && strcmp(a, "--eos") == 0) {
            o.eos = argv[++i];
        } else if (has_val && strcmp(a, "--date") == 0) {
            date = argv[++i];
        } else if (has_val && strcmp(a, "-o") == 0) {
            o.out_dir = argv[++i];
        } else {
            usage(stderr);
            rc = 2;
            goto out;
        }
    }
    if (!!o.model == !!o.tmpl_path || o.n_requests == 0 || (o.n_requests > 1 && !o.out_dir)) {
        usage(stderr); /* one of -m / -t, and -f (repeated only with -o) */
        rc = 2;
        goto out;
    }
    if (date && parse_date(date, &o.day))
        goto out;
    o.has_date = date != NULL;

    struct buf src, bos, eos, prompt, msg;
    buf_init(&src);
    buf_init(&bos);
    buf_init(&eos);
    buf_init(&prompt);
    buf_init(&msg);
    struct tmpl *t = NULL;
    struct err e;
    if (o.model ? load_model_template(o.model, &src, &bos, &eos)
                : cli_read_file("template", o.tmpl_path, TEMPLATE_FILE_MAX_BYTES, &src))
        goto done;
    if (o.bos) {
        buf_clear(&bos);
        buf_puts(&bos, o.bos);
    }
    if (o.eos) {
        buf_clear(&eos);
        buf_puts(&eos, o.eos);
    }
    const char *bos_s = bos.data ? bos.data : "", *eos_s = eos.data ? eos.data : "";
    const char *where = o.model ? o.model : o.tmpl_path;
    if (tmpl_parse(src.data ? src.data : "", src.len, &t, &e)) {
        if (o.out_dir) {
            buf_printf(&msg, "%s: %s", where, e.msg);
            rc = render_batch(NULL, &o, bos_s, eos_s, msg.data);
        } else {
            cli_fail("template: %s: %s", where, e.msg);
        }
        goto done;
    }
    if (o.out_dir) {
        rc = render_batch(t, &o, bos_s, eos_s, NULL);
        goto done;
    }
    bool raised;
    int st = render_file(t, &o, o.requests[0], bos_s, eos_s, &prompt, &msg, &raised);
    if (st) {
        if (st > 0)
            cli_fail("template%s: %s", raised ? " raised" : "", msg.data);
        goto done;
    }
    if ((prompt.len && fwrite(prompt.data, 1, prompt.len, stdout) != prompt.len) || fflush(stdout)) {
        cli_fail("template: cannot write the output");
        goto done;
    }
    rc = 0;
done:
    tmpl_free(t);
    buf_free(&src);
    buf_free(&bos);
    buf_free(&eos);
    buf_free(&prompt);
    buf_free(&msg);
out:
    free(o.requests);
    return rc;
}
