/* tok_import: Hugging Face tokenizer.json -> tokenizer.ggml.* metadata (see tok_import.h).
 *
 * Mirrors convert_hf_to_gguf.py's _set_vocab_gpt2 (get_vocab_base for tokens and types) and
 * gguf-py's SpecialVocab (merges, special ids, add_* flags). JSON is parsed with jansson, which
 * rejects invalid UTF-8 and reports line/column.
 */
#include "engine/tok_import.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* gguf token types (llama.cpp's LLAMA_TOKEN_TYPE_*) */
enum { TYPE_NORMAL = 1, TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4, TYPE_UNUSED = 5 };

enum special_kind { SP_BOS, SP_EOS, SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK, SP_COUNT };

static const char *const g_special_name[SP_COUNT] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
static const char *const g_special_key[SP_COUNT] = {
    "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.cls_token_id", "tokenizer.ggml.mask_token_id",
};

struct import {
    json_t *root, *tcfg, *cfg; /* tcfg, cfg: sibling tokenizer_config.json / config.json or NULL */
    size_t n;                  /* vocabulary size */
    const char **text;         /* per id, borrowed from root (NULL = hole) */
    json_t **added;            /* per id: its added_tokens entry or NULL */
    int32_t special[SP_COUNT]; /* -1 unset */
    int add_bos, add_eos;      /* -1 unset, else 0/1 */
};

static const char *str_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* "special" per convert_hf_to_gguf.py's does_token_look_special */
static bool looks_special(const char *s)
{
    size_t n = strlen(s);
    if (!strcmp(s, "<pad>") || !strcmp(s, "<mask>") || !strcmp(s, "<2mass>") || !strcmp(s, "[@BOS@]"))
        return true;
    if (n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>"))
        return true;
    static const char fw_open[] = "<\xef\xbd\x9c", fw_close[] = "\xef\xbd\x9c>"; /* <｜ ｜> */
    if (n >= 8 && !strncmp(s, fw_open, 4) && !strcmp(s + n - 4, fw_close))
        return true;
    return n >= 8 && !strncmp(s, "<unused", 7) && s[n - 1] == '>';
}

static int read_vocab(struct import *im, struct err *e)
{
    json_t *model = json_object_get(im->root, "model");
    if (!json_is_object(model))
        return err_set(e, "no \"model\" object");
    const char *type = str_of(model, "type");
    if (type && strcmp(type, "BPE") != 0)
        return err_set(e, "model type '%s' is not supported (only byte-level BPE)", type);
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab))
        return err_set(e, "model.vocab is not an object");
    json_t *added = json_object_get(im->root, "added_tokens");
    if (added && !json_is_array(added))
        return err_set(e, "added_tokens is not an array");

    /* size: config.json's vocab_size (as the converter's hparams), else the largest id + 1 */
    size_t max_id = 0, count = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= INT32_MAX / 2)
            return err_set(e, "model.vocab['%.40s']: not a token id", key);
        size_t id = (size_t)json_integer_value(val);
        max_id = id > max_id ? id : max_id;
        count++;
    }
    size_t i;
    json_array_foreach(added, i, val) {
        json_t *id = json_object_get(val, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= INT32_MAX / 2 ||
            !str_of(val, "content"))
            return err_set(e, "added_tokens[%zu]: needs an integer id and a string content", i);
        size_t v = (size_t)json_integer_value(id);
        max_id = v > max_id ? v : max_id;
        count++;
    }
    if (count == 0)
        return err_set(e, "model.vocab is empty");
    im->n = max_id + 1;
    json_t *vs = json_object_get(im->cfg, "vocab_size");
    if (json_is_integer(vs)) {
        if (json_integer_value(vs) <= (json_int_t)max_id || json_integer_value(vs) >= INT32_MAX / 2)
            return err_set(e, "config.json vocab_size %lld does not cover token id %zu",
                           (long long)json_integer_value(vs), max_id);
        im->n = (size_t)json_integer_value(vs);
    }

    im->text = xcalloc(im->n, sizeof *im->text);
    im->added = xcalloc(im->n, sizeof *im->added);
    json_object_foreach(vocab, key, val) {
        size_t id = (size_t)json_integer_value(val);
        if (im->text[id])
            return err_set(e, "model.vocab: id %zu is given to both '%.40s' and '%.40s'", id,
                           im->text[id], key);
        im->text[id] = key;
    }
    json_array_foreach(added, i, val) {
        size_t id = (size_t)json_integer_value(json_object_get(val, "id"));
        im->text[id] = str_of(val, "content");
        im->added[id] = val;
    }
    return 0;
}

/* The id of the first added token whose content is s, -1 if none. */
static int32_t added_id(const struct import *im, const char *s)
{
    json_t *added = json_object_get(im->root, "added_tokens");
    size_t i;
    json_t *val;
    json_array_foreach(added, i, val) {
        const char *c = str_of(val, "content");
        if (c && !strcmp(c, s))
            return (int32_t)json_integer_value(json_object_get(val, "id"));
    }
    return -1;
}

/* tokenizer_config.json's <kind>_token: a string or {"content": ...}. */
static const char *config_token(json_t *tcfg, enum special_kind k)
{
    char key[32];
    snprintf(key, sizeof key, "%s_token", g_special_name[k]);
    json_t *v = json_object_get(tcfg, key);
    if (json_is_object(v))
        return str_of(v, "content");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void set_special(struct import *im, enum special_kind k, int32_t id)
{
    if (id >= 0 && im->special[k] < 0)
        im->special[k] = id;
}

/* SpecialVocab's crude reading of a TemplateProcessing / RobertaProcessing post-processor:
 * whether BOS / EOS are added around a single sequence. */
static void read_post_processor(struct import *im)
{
    json_t *pp = json_object_get(im->root, "post_processor");
    if (!json_is_object(pp))
        return;
    json_t *list = json_object_get(pp, "processors");
    json_t *one = json_array();
    if (!json_is_array(list)) {
        json_array_append(one, pp);
        list = one;
    }
    size_t i;
    json_t *proc;
    json_array_foreach(list, i, proc) {
        const char *type = str_of(proc, "type");
        if (type && !strcmp(type, "RobertaProcessing")) {
            im->add_bos = im->add_eos = 1;
            continue;
        }
        if (!type || strcmp(type, "TemplateProcessing"))
            continue;
        json_t *single = json_object_get(proc, "single");
        if (!json_is_array(single) || json_array_size(single) < 2)
            continue;
        const char *first = str_of(json_object_get(json_array_get(single, 0), "SpecialToken"), "id");
        const char *last = str_of(json_object_get(json_array_get(single, json_array_size(single) - 1),
                                                  "SpecialToken"), "id");
        if (first) {
            const char *bos = config_token(im->tcfg, SP_BOS), *cls = config_token(im->tcfg, SP_CLS);
            if (!im->tcfg || !bos) {
                im->add_bos = 1;
                if (im->tcfg)
                    json_object_set_new(im->tcfg, "bos_token", json_string(first));
            } else {
                im->add_bos = !strcmp(first, bos) || (cls && !strcmp(first, cls));
            }
        }
        if (last) {
            im->add_eos = 1;
            if (im->tcfg)
                json_object_set_new(im->tcfg, "eos_token", json_string(last));
        }
    }
    json_decref(one);
}

static void read_specials(struct import *im)
{
    for (int k = 0; k < SP_COUNT; k++)
        im->special[k] = -1;
    im->add_bos = im->add_eos = -1;
    read_post_processor(im);
    if (im->tcfg) {
        for (int k = 0; k < SP_COUNT; k++) {
            char key[32];
            snprintf(key, sizeof key, "add_%s_token", g_special_name[k]);
            json_t *a = json_object_get(im->tcfg, key);
            if (json_is_boolean(a) && k == SP_BOS)
                im->add_bos = json_is_true(a);
            if (json_is_boolean(a) && k == SP_EOS)
                im->add_eos = json_is_true(a);
            const char *s = config_token(im->tcfg, (enum special_kind)k);
            if (s)
                set_special(im, (enum special_kind)k, added_id(im, s));
        }
    }
    if (im->cfg) {
        json_t *text_cfg = json_object_get(im->cfg, "text_config");
        for (int k = 0; k < SP_COUNT; k++) {
            char key[32];
            snprintf(key, sizeof key, "%s_token_id", g_special_name[k]);
            json_t *v = json_object_get(im->cfg, key);
            if (!v)
                v = json_object_get(text_cfg, key);
            if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < INT32_MAX)
                set_special(im, (enum special_kind)k, (int32_t)json_integer_value(v));
        }
    }
    if (!im->tcfg && !im->cfg) {
        int32_t id = added_id(im, "<|endoftext|>");
        if (id >= 0 && json_is_true(json_object_get(im->added[id], "special"))) {
            log_info("tok_import: no tokenizer_config.json/config.json; taking <|endoftext|> "
                     "(%d) as BOS, EOS and UNK", id);
            set_special(im, SP_BOS, id);
            set_special(im, SP_EOS, id);
            set_special(im, SP_UNK, id);
        }
    }
}

static bool is_pretok(json_t *p, const char *type)
{
    const char *t = str_of(p, "type");
    return t && !strcmp(t, type);
}

static const char *detect_pre(json_t *root, struct err *e)
{
    static const char llama3[] =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
        "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static const char qwen2[] =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
        "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    json_t *pt = json_object_get(root, "pre_tokenizer");
    json_t *seq = is_pretok(pt, "Sequence") ? json_object_get(pt, "pretokenizers") : NULL;
    json_t *a = seq ? json_array_get(seq, 0) : pt, *b = seq ? json_array_get(seq, 1) : NULL;
    size_t n = seq ? json_array_size(seq) : pt ? 1 : 0;
    if (n == 1 && is_pretok(a, "ByteLevel") && json_is_true(json_object_get(a, "use_regex")))
        return "gpt-2";
    if (n == 2 && is_pretok(a, "Digits") && json_is_true(json_object_get(a, "individual_digits")) &&
        is_pretok(b, "ByteLevel") && json_is_true(json_object_get(b, "use_regex")))
        return "smollm";
    if (n == 2 && is_pretok(a, "Split") && is_pretok(b, "ByteLevel") &&
        !json_is_true(json_object_get(b, "use_regex"))) {
        const char *re = str_of(json_object_get(a, "pattern"), "Regex");
        if (re && !strcmp(re, llama3))
            return "llama-bpe";
        if (re && !strcmp(re, qwen2))
            return "qwen2";
    }
    char *dump = pt ? json_dumps(pt, JSON_COMPACT) : NULL;
    err_set(e, "cannot tell the pre-tokenizer from pre_tokenizer %.200s; name one explicitly "
               "(e.g. gpt-2, llama-bpe, qwen2, smollm, starcoder, deepseek-coder, falcon, default)",
            dump ? dump : "(missing)");
    free(dump);
    return NULL;
}

/* Merges as "left right" strings; pair-form [left, right] gets its spaces as U+0120. */
static int write_merges(json_t *root, struct gguf_writer *w, struct err *e)
{
    json_t *merges = json_object_get(json_object_get(root, "model"), "merges");
    if (!json_is_array(merges) || json_array_size(merges) == 0)
        return err_set(e, "model.merges: missing or empty (a BPE tokenizer needs its merges)");
    size_t n = json_array_size(merges);
    char **strs = xcalloc(n, sizeof *strs);
    size_t *lens = xcalloc(n, sizeof *lens);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *m = json_array_get(merges, i);
        struct buf b;
        buf_init(&b);
        if (json_is_string(m)) {
            buf_append(&b, json_string_value(m), json_string_length(m));
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            for (size_t k = 0; k < 2; k++) {
                json_t *part = json_array_get(m, k);
                const char *s = json_string_value(part);
                if (k)
                    buf_putc(&b, ' ');
                for (size_t j = 0; j < json_string_length(part); j++) {
                    if (s[j] == ' ')
                        buf_puts(&b, "\xc4\xa0"); /* U+0120 */
                    else
                        buf_putc(&b, s[j]);
                }
            }
        } else {
            rc = err_set(e, "model.merges[%zu]: neither \"a b\" nor [\"a\", \"b\"]", i);
        }
        lens[i] = b.len;
        strs[i] = buf_detach(&b);
    }
    if (!rc)
        gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)strs, lens, n);
    for (size_t i = 0; i < n; i++)
        free(strs[i]);
    free(strs);
    free(lens);
    return rc;
}

static int write_tokens(struct import *im, struct gguf_writer *w)
{
    char **strs = xcalloc(im->n, sizeof *strs);
    size_t *lens = xcalloc(im->n, sizeof *lens);
    int32_t *types = xcalloc(im->n, sizeof *types);
    for (size_t id = 0; id < im->n; id++) {
        struct buf b;
        buf_init(&b);
        const char *s = im->text[id];
        /* the converter checks membership in the added vocabulary by text */
        json_t *added = im->added[id];
        if (!added && s) {
            int32_t a = added_id(im, s);
            added = a >= 0 ? im->added[a] : NULL;
        }
        if (!s) {
            buf_printf(&b, "[PAD%zu]", id);
            types[id] = TYPE_UNUSED;
        } else if (added && (json_is_true(json_object_get(added, "special")) || looks_special(s))) {
            buf_puts(&b, s);
            types[id] = TYPE_CONTROL;
        } else if (added) {
            /* user-defined tokens are stored with U+2581 pre-normalized to a space */
            for (const char *p = s; *p; p++) {
                if (!strncmp(p, "\xe2\x96\x81", 3)) {
                    buf_putc(&b, ' ');
                    p += 2;
                } else {
                    buf_putc(&b, *p);
                }
            }
            types[id] = TYPE_USER_DEFINED;
        } else {
            buf_puts(&b, s);
            types[id] = TYPE_NORMAL;
        }
        lens[id] = b.len;
        strs[id] = buf_detach(&b);
    }
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)strs, lens, im->n);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_INT32, types, im->n);
    for (size_t id = 0; id < im->n; id++)
        free(strs[id]);
    free(strs);
    free(lens);
    free(types);
    return 0;
}

static int import_doc(struct import *im, struct gguf_writer *w, const char *pre, struct err *e)
{
    if (!json_is_object(im->root))
        return err_set(e, "not a JSON object");
    if (!pre && !(pre = detect_pre(im->root, e)))
        return -1;
    if (read_vocab(im, e) || write_merges(im->root, w, e))
        return -1;
    read_specials(im);
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    write_tokens(im, w);
    for (int k = 0; k < SP_COUNT; k++)
        if (im->special[k] >= 0)
            gguf_writer_set_u32(w, g_special_key[k], (uint32_t)im->special[k]);
    if (im->add_bos >= 0)
        gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", im->add_bos);
    if (im->add_eos >= 0)
        gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", im->add_eos);
    json_t *asp = json_object_get(im->tcfg, "add_prefix_space");
    if (json_is_boolean(asp))
        gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", json_is_true(asp));
    const char *tmpl = str_of(im->tcfg, "chat_template");
    if (tmpl)
        gguf_writer_set_str(w, "tokenizer.chat_template", tmpl);
    return 0;
}

static void import_free(struct import *im)
{
    json_decref(im->root);
    json_decref(im->tcfg);
    json_decref(im->cfg);
    free(im->text);
    free(im->added);
}

int tok_import_json_mem(const char *json, size_t len, struct gguf_writer *w,
                        const char *pre_override, struct err *e)
{
    struct import im = {0};
    json_error_t jerr;
    im.root = json_loadb(json, len, 0, &jerr);
    if (!im.root)
        return err_set(e, "tokenizer.json: line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    int rc = import_doc(&im, w, pre_override, e);
    import_free(&im);
    return rc ? err_prefix(e, "tokenizer.json") : 0;
}

/* Loads dir(path)/name if it exists; NULL if absent or unreadable (with a warning). */
static json_t *load_sibling(const char *path, const char *name)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path + 1) : 0;
    struct buf p;
    buf_init(&p);
    buf_append(&p, path, dir_len);
    buf_puts(&p, name);
    json_t *j = NULL;
    FILE *f = fopen(p.data, "rb");
    if (f) {
        fclose(f);
        json_error_t jerr;
        j = json_load_file(p.data, 0, &jerr);
        if (!j)
            log_warn("tok_import: ignoring %s: line %d: %s", p.data, jerr.line, jerr.text);
        else if (!json_is_object(j)) {
            json_decref(j);
            j = NULL;
        }
    }
    buf_free(&p);
    return j;
}

int tok_import_json(const char *path, struct gguf_writer *w, const char *pre_override, struct err *e)
{
    struct import im = {0};
    json_error_t jerr;
    im.root = json_load_file(path, 0, &jerr);
    if (!im.root)
        return err_set(e, "%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
    im.tcfg = load_sibling(path, "tokenizer_config.json");
    im.cfg = load_sibling(path, "config.json");
    int rc = import_doc(&im, w, pre_override, e);
    import_free(&im);
    return rc ? err_prefix(e, "%s", path) : 0;
}
