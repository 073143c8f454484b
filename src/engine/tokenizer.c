/* tokenizer: loading a tokenizer from GGUF metadata, and the steps shared by every model:
 * special-token partition, BOS/EOS, end-of-generation set and detokenized pieces.
 * The model-specific parts are tok_spm.c, tok_bpe.c and tok_pretok.c (see tok_impl.h).
 *
 * Loading follows llama.cpp's llama_vocab::impl::load for the "llama" (SPM) and "gpt2" (BPE)
 * models, including its defaults and its by-text fix-ups:
 *   - defaults: SPM bos=1 eos=2 unk=0, add_bos, add_space_prefix; BPE bos=eos=11, no unk, no
 *     add_bos except for the llama3 family; a default id beyond the vocabulary is dropped, a
 *     metadata id beyond it is ignored (default kept);
 *   - tokens whose text looks like EOT / EOM / FIM markers fill those roles when the metadata
 *     does not, and are forced to CONTROL; CONTROL tokens named "*unused*" become UNUSED;
 *   - the end-of-generation set: EOS, EOT, EOM, FIM pad/repo/file-sep, and every token whose
 *     text is in llama.cpp's list (<|eot_id|>, <|im_end|>, <|endoftext|>, </s>, ...);
 *   - a model named "phi3"/"phi-3" gets RSTRIP on its special tokens except <unk> <s>
 *     <|endoftext|>, as llama.cpp hard-codes.
 * Where llama.cpp walks an unordered_map (candidates for one auto-detected role) we walk ids in
 * increasing order; where it sorts special tokens by length with an unstable sort we break ties
 * by id. Both only matter for vocabularies with several candidates of one kind.
 *
 * Encoding: the text is cut into fragments at special-token occurrences (each special token in
 * turn, longest first, over the fragments that are still text; CONTROL and UNKNOWN tokens only
 * when parse_special, USER_DEFINED always; LSTRIP/RSTRIP eat the whitespace beside a match),
 * then each text fragment goes to the model. SPM prefixes a space to a fragment that starts the
 * text or follows a special token (if add_space_prefix) and escapes spaces as U+2581.
 */
#include "engine/tok_impl.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "engine/unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing ---- */

static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull; /* FNV-1a */
    }
    return h;
}

static uint64_t hash_final(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

#define HASH_SEED 0xcbf29ce484222325ull

static uint64_t hash_text(const char *s, size_t n)
{
    return hash_final(hash_bytes(HASH_SEED, s, n));
}

static uint64_t hash_pair(const char *a, size_t na, const char *b, size_t nb)
{
    uint64_t h = hash_bytes(HASH_SEED, a, na);
    h = hash_bytes(h ^ 0xff, "\xff", 1); /* separates ("ab","c") from ("a","bc") */
    return hash_final(hash_bytes(h, b, nb));
}

static void hash_init(struct tok_hash *h, size_t n)
{
    size_t cap = 16;
    while (cap < n + n / 2) /* load factor at most 2/3 */
        cap *= 2;
    h->slot = xcalloc(cap, sizeof *h->slot);
    h->mask = cap - 1;
}

/* ---- lookups ---- */

static const char *text_of(const struct tok *t, int32_t id, size_t *len)
{
    *len = t->text_len[id];
    return t->text_arena + t->text_off[id];
}

/* Slots hold (tag << 32) | (index + 1): the tag (high hash bits, never 0) rejects most
 * non-matching slots without touching the keys, which live in other arrays. */
static uint64_t slot_tag(uint64_t hv)
{
    return ((hv >> 32) | 1) << 32;
}

struct text_key {
    const char *s;
    size_t n;
};

struct pair_key {
    const char *a, *b;
    size_t na, nb;
};

static bool text_eq(const struct tok *t, uint32_t id, const void *key)
{
    const struct text_key *k = key;
    return t->text_len[id] == k->n && memcmp(t->text_arena + t->text_off[id], k->s, k->n) == 0;
}

static bool pair_eq(const struct tok *t, uint32_t m, const void *key)
{
    const struct pair_key *k = key;
    const char *l = t->merge_arena + t->merge_off[m];
    return t->merge_left_len[m] == k->na && t->merge_right_len[m] == k->nb &&
           memcmp(l, k->a, k->na) == 0 && memcmp(l + k->na + 1, k->b, k->nb) == 0;
}

/* Returns the index stored for key (hash hv) in h, or -1 and the empty slot where it would go. */
static inline int32_t probe(const struct tok *t, const struct tok_hash *h, uint64_t hv,
                            bool (*eq)(const struct tok *, uint32_t, const void *), const void *key,
                            size_t *empty)
{
    uint64_t tag = slot_tag(hv);
    for (size_t i = hv & h->mask;; i = (i + 1) & h->mask) {
        uint64_t v = h->slot[i];
        if (!v) {
            *empty = i;
            return -1;
        }
        if ((v & 0xffffffff00000000ull) == tag && eq(t, (uint32_t)v - 1, key))
            return (int32_t)((uint32_t)v - 1);
    }
}

static int32_t text_probe(const struct tok *t, const char *s, size_t n, uint64_t hv, size_t *empty)
{
    struct text_key k = {s, n};
    return probe(t, &t->by_text, hv, text_eq, &k, empty);
}

static int32_t pair_probe(const struct tok *t, const char *a, size_t na, const char *b, size_t nb,
                          uint64_t hv, size_t *empty)
{
    struct pair_key k = {a, b, na, nb};
    return probe(t, &t->by_pair, hv, pair_eq, &k, empty);
}

int32_t tok_lookup(const struct tok *t, const char *s, size_t n)
{
    size_t empty;
    return text_probe(t, s, n, hash_text(s, n), &empty);
}

int32_t tok_merge_rank(const struct tok *t, const char *a, size_t na, const char *b, size_t nb)
{
    size_t empty;
    if (!t->n_merges)
        return -1;
    return pair_probe(t, a, na, b, nb, hash_pair(a, na, b, nb), &empty);
}

void tok_ids_push(struct tok_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? ids->cap * 2 : 64;
        ids->v = xrealloc_array(ids->v, ids->cap, sizeof *ids->v);
    }
    ids->v[ids->n++] = id;
}

/* ---- pre-tokenizer names ---- */

struct pre_name {
    const char *name;
    enum tok_pre pre;
    bool llama3_flags; /* ignore_merges and add_bos by default */
};

/* The tokenizer.ggml.pre values we accept, by the pattern family llama.cpp gives them. */
static const struct pre_name g_pre_names[] = {
    {"default", TOK_PRE_DEFAULT, false},
    {"llama3", TOK_PRE_LLAMA3, true},
    {"llama-v3", TOK_PRE_LLAMA3, true},
    {"llama-bpe", TOK_PRE_LLAMA3, true},
    {"falcon3", TOK_PRE_LLAMA3, true},
    {"falcon-h1", TOK_PRE_LLAMA3, true},
    {"pixtral", TOK_PRE_LLAMA3, true},
    {"midm-2.0", TOK_PRE_LLAMA3, true},
    {"lfm2", TOK_PRE_LLAMA3, true},
    {"jina-v5-nano", TOK_PRE_LLAMA3, true},
    {"dbrx", TOK_PRE_LLAMA3, false},
    {"smaug-bpe", TOK_PRE_LLAMA3, false},
    {"deepseek-llm", TOK_PRE_DEEPSEEK_LLM, false},
    {"deepseek-coder", TOK_PRE_DEEPSEEK_CODER, false},
    {"falcon", TOK_PRE_FALCON, false},
    {"gpt-2", TOK_PRE_GPT2, false},
    {"phi-2", TOK_PRE_GPT2, false},
    {"mpt", TOK_PRE_GPT2, false},
    {"olmo", TOK_PRE_GPT2, false},
    {"jais", TOK_PRE_GPT2, false},
    {"gigachat", TOK_PRE_GPT2, false},
    {"a.x-4.0", TOK_PRE_GPT2, false},
    {"mellum", TOK_PRE_GPT2, false},
    {"exaone4", TOK_PRE_GPT2, false},
    {"trillion", TOK_PRE_GPT2, false},
    {"granite-docling", TOK_PRE_GPT2, false},
    {"starcoder", TOK_PRE_STARCODER, false},
    {"smollm", TOK_PRE_STARCODER, false},
    {"refact", TOK_PRE_STARCODER, false},
    {"command-r", TOK_PRE_STARCODER, false},
    {"codeshell", TOK_PRE_STARCODER, false},
    {"exaone", TOK_PRE_STARCODER, false},
    {"minerva-7b", TOK_PRE_STARCODER, false},
    {"mellum2", TOK_PRE_STARCODER, false},
    {"qwen2", TOK_PRE_QWEN2, false},
    {"deepseek-r1-qwen", TOK_PRE_QWEN2, false},
    {"kormo", TOK_PRE_QWEN2, false},
    {"f2llmv2", TOK_PRE_QWEN2, false},
    {"stablelm2", TOK_PRE_QWEN2, false},
    {"megrez", TOK_PRE_QWEN2, false},
    {"hunyuan", TOK_PRE_QWEN2, false},
    {"solar-open", TOK_PRE_QWEN2, false},
};

#define N_PRE_NAMES (sizeof g_pre_names / sizeof *g_pre_names)

/* ---- loading ---- */

#define PREFETCH_AHEAD 8

static int32_t find_cstr(const struct tok *t, const char *s)
{
    return tok_lookup(t, s, strlen(s));
}

static void force_control(struct tok *t, int32_t id)
{
    if (!(t->attr[id] & TOK_ATTR_CONTROL)) {
        size_t len;
        const char *txt = text_of(t, id, &len);
        log_debug("tokenizer: control-looking token %d '%.*s' was not control-type; made control",
                  id, (int)len, txt);
        t->attr[id] |= TOK_ATTR_CONTROL;
    }
}

/* Fills *role (if unset) with the lowest id whose text is in list, forcing it to CONTROL. */
static void detect_role(struct tok *t, int32_t *role, const char *const *list)
{
    if (*role >= 0)
        return;
    for (; *list; list++) {
        int32_t id = find_cstr(t, *list);
        if (id >= 0 && (*role < 0 || id < *role))
            *role = id;
    }
    if (*role >= 0)
        force_control(t, *role);
}

static const char *const g_eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>",
    "<end_of_utterance>", NULL};
static const char *const g_eom_texts[] = {"<|eom_id|>", NULL};
static const char *const g_fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const g_fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>",
    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const g_fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const g_fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const g_fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                             "<reponame>", NULL};
static const char *const g_fim_sep_texts[] = {"<|file_sep|>", NULL};
static const char *const g_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", "[e~[", NULL};
/* gpt-oss tokens llama.cpp always renders (forced to USER_DEFINED) */
static const char *const g_render_texts[] = {"<|channel|>", "<|message|>", "<|start|>",
                                             "<|constrain|>", NULL};

static bool eog_has_text(const struct tok *t, const char *s, int32_t *id)
{
    int32_t i = find_cstr(t, s);
    if (id)
        *id = i;
    return i >= 0 && t->eog[i];
}

static void build_eog(struct tok *t)
{
    t->eog = xcalloc((size_t)t->n_vocab, 1);
    int32_t fims[] = {t->fim_pad, t->fim_rep, t->fim_sep};
    for (size_t i = 0; i < 3; i++)
        if (fims[i] >= 0)
            t->eog[fims[i]] = 1;
    for (const char *const *s = g_eog_texts; *s; s++) {
        int32_t id = find_cstr(t, *s);
        if (id >= 0) {
            t->eog[id] = 1;
            force_control(t, id);
        }
    }
    for (const char *const *s = g_render_texts; *s; s++) {
        int32_t id = find_cstr(t, *s);
        if (id >= 0)
            t->attr[id] = TOK_ATTR_USER_DEFINED;
    }
    int32_t roles[] = {t->eos, t->eot, t->eom};
    for (size_t i = 0; i < 3; i++)
        if (roles[i] >= 0)
            t->eog[roles[i]] = 1;

    /* o200k_harmony / solar-open: <|end|> is not end of generation when <|return|> and <|call|>
     * (or <|calls|> and <|flush|>) are */
    int32_t end_id = -1;
    bool has_end = eog_has_text(t, "<|end|>", &end_id);
    bool has_call = eog_has_text(t, "<|call|>", NULL) || eog_has_text(t, "<|calls|>", NULL);
    if (has_end && has_call &&
        (eog_has_text(t, "<|return|>", NULL) || eog_has_text(t, "<|flush|>", NULL))) {
        t->eog[end_id] = 0;
        t->attr[end_id] = TOK_ATTR_USER_DEFINED;
    }
    /* gemma4 / paddleocr: </s> is not end of generation beside <|tool_response> */
    int32_t s_id = -1;
    if (eog_has_text(t, "<|tool_response>", NULL) && eog_has_text(t, "</s>", &s_id)) {
        t->eog[s_id] = 0;
        t->attr[s_id] = TOK_ATTR_NORMAL;
    }
}

static const struct tok *g_sort_tok; /* qsort has no context argument; set around the call */

static int cmp_special(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = g_sort_tok->text_len[x], ly = g_sort_tok->text_len[y];
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void build_special(struct tok *t)
{
    t->special = xmalloc_array((size_t)t->n_vocab ? (size_t)t->n_vocab : 1, sizeof *t->special);
    t->n_special = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
            t->special[t->n_special++] = id;
    g_sort_tok = t;
    qsort(t->special, t->n_special, sizeof *t->special, cmp_special);
    g_sort_tok = NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 32) >= 'a' && (c | 32) <= 'f')
        return (c | 32) - 'a' + 10;
    return -1;
}

/* The byte of a <0xXX> token: strtol over the two characters after "<0x", as llama.cpp. */
static unsigned char byte_of(const char *txt, size_t len)
{
    int v = 0;
    for (size_t i = 3; i < 5 && i < len && hexval(txt[i]) >= 0; i++)
        v = v * 16 + hexval(txt[i]);
    return (unsigned char)v;
}

#define MAX_PIECE_BYTES (1u << 24)

/* Appends the detokenized bytes of id (llama.cpp's token_to_piece with special=true) to b.
 * Returns -1 (appending nothing) if the piece would pass MAX_PIECE_BYTES. */
static int piece_of(const struct tok *t, int32_t id, struct buf *b)
{
    size_t n;
    const char *txt = text_of(t, id, &n);
    uint32_t a = t->attr[id];
    if (a & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED)) {
        buf_append(b, txt, n);
    } else if (a & TOK_ATTR_NORMAL) {
        if (t->model == TOK_MODEL_SPM) {
            for (size_t i = 0; i < n; i++) {
                if (i + 2 < n && memcmp(txt + i, "\xe2\x96\x81", 3) == 0) {
                    buf_putc(b, ' ');
                    i += 2;
                } else {
                    buf_putc(b, txt[i]);
                }
            }
            return 0;
        }
        /* a code point that is no GPT-2 byte expands to about the whole token text */
        size_t bad = 0;
        for (size_t off = 0; off < n;)
            bad += unicode_cp_to_byte(unicode_decode(txt, n, &off)) < 0;
        if (bad && (n + 32) > MAX_PIECE_BYTES / bad)
            return -1;
        for (size_t off = 0; off < n;) {
            uint32_t cp = unicode_decode(txt, n, &off);
            int byte = unicode_cp_to_byte(cp);
            if (byte >= 0) {
                buf_putc(b, (char)byte);
                continue;
            }
            /* llama.cpp's llama_decode_text: "[UNK_BYTE_0x" + the code point's UTF-8 in hex +
             * the whole token text + "]" */
            char u[4];
            size_t ul = unicode_encode(cp, u);
            buf_puts(b, "[UNK_BYTE_0x");
            for (size_t k = 0; k < ul; k++)
                buf_printf(b, "%02x", (unsigned char)u[k]);
            buf_append(b, txt, n);
            buf_putc(b, ']');
        }
    } else if (a & TOK_ATTR_BYTE) {
        buf_putc(b, (char)byte_of(txt, n));
    }
    return 0;
}

/* Pieces of all tokens in one arena. A piece over 16 MiB (llama.cpp's "[UNK_BYTE_..]" expansion
 * of a long BPE token full of code points that are no GPT-2 bytes) or pieces over 4 GiB in all
 * are refused: no real vocabulary comes near, and the offsets are 32-bit. */
static int build_pieces(struct tok *t, struct err *e)
{
    struct buf b;
    buf_init(&b);
    t->piece_off = xmalloc_array((size_t)t->n_vocab, sizeof *t->piece_off);
    t->piece_len = xmalloc_array((size_t)t->n_vocab, sizeof *t->piece_len);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t before = b.len;
        if (piece_of(t, id, &b)) {
            buf_free(&b);
            return err_set(e, "tokenizer.ggml.tokens: token %d (%u bytes) detokenizes to more "
                              "than %u bytes", id, t->text_len[id], MAX_PIECE_BYTES);
        }
        if (b.len > UINT32_MAX) {
            buf_free(&b);
            return err_set(e, "tokenizer.ggml.tokens: detokenized pieces exceed 4 GiB at token %d", id);
        }
        t->piece_off[id] = (uint32_t)before;
        t->piece_len[id] = (uint32_t)(b.len - before);
    }
    t->piece_arena = buf_detach(&b);
    return 0;
}

/* Reads a special-token id key: absent or "none" (-1 / 0xFFFFFFFF) keeps *id, out of range
 * warns and keeps it too. */
static int read_id(struct tok *t, const struct gguf *g, const char *key, int32_t *id, struct err *e)
{
    int64_t v;
    int r = gguf_get_int(g, key, &v, e);
    if (r < 0)
        return -1;
    if (r == 0)
        return 0;
    if (v == UINT32_MAX || v == -1) /* the converters' way of writing "none" */
        return 0;
    if (v < 0 || v >= t->n_vocab) {
        log_warn("tokenizer: %s = %lld is outside the vocabulary (%d tokens); keeping %d", key,
                 (long long)v, t->n_vocab, *id);
        return 0;
    }
    *id = (int32_t)v;
    return 0;
}

/* Finds the required string array key; fails if missing (why: the reason to print) or if its
 * length is not in 1..INT32_MAX/2 (0 allowed with allow_empty). */
static int get_str_array(const struct gguf *g, const char *key, const char *why, bool allow_empty,
                         int64_t *idx, uint64_t *n, struct err *e)
{
    int r = gguf_get_arr(g, key, GGUF_STRING, idx, e);
    if (r < 0)
        return -1;
    if (r == 0)
        return err_set(e, "%s: missing (%s)", key, why);
    *n = gguf_kv_len(g, *idx);
    if ((*n == 0 && !allow_empty) || *n > INT32_MAX / 2)
        return err_set(e, "%s: %llu entries is not usable", key, (unsigned long long)*n);
    return 0;
}

static int read_tokens(struct tok *t, const struct gguf *g, struct err *e)
{
    int64_t ti;
    uint64_t n = 0;
    if (get_str_array(g, "tokenizer.ggml.tokens", "the file has no vocabulary", false, &ti, &n, e))
        return -1;
    t->n_vocab = (int32_t)n;

    int64_t si = -1, yi = -1;
    int r = gguf_get_arr(g, "tokenizer.ggml.scores", -1, &si, e);
    if (r < 0)
        return -1;
    if (r == 0)
        si = -1;
    if (si >= 0) {
        enum gguf_vtype st = gguf_kv_arr_type(g, si);
        if (st != GGUF_FLOAT32 && st != GGUF_INT32)
            return err_set(e, "tokenizer.ggml.scores: array of %s, expected f32 or i32",
                           gguf_vtype_name(st));
        if (gguf_kv_len(g, si) < n)
            return err_set(e, "tokenizer.ggml.scores: %llu scores for %llu tokens",
                           (unsigned long long)gguf_kv_len(g, si), (unsigned long long)n);
    }
    r = gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_INT32, &yi, e);
    if (r < 0)
        return -1;
    if (r == 0)
        yi = -1;
    if (yi >= 0 && gguf_kv_len(g, yi) < n)
        return err_set(e, "tokenizer.ggml.token_type: %llu types for %llu tokens",
                       (unsigned long long)gguf_kv_len(g, yi), (unsigned long long)n);

    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = gguf_arr_str(g, ti, i).len;
        total += len ? len : 32;
    }
    if (total > UINT32_MAX)
        return err_set(e, "tokenizer.ggml.tokens: %zu bytes of token text is too much", total);
    t->text_arena = xmalloc(total ? total : 1);
    t->text_off = xmalloc_array(n, sizeof *t->text_off);
    t->text_len = xmalloc_array(n, sizeof *t->text_len);
    t->score = xmalloc_array(n, sizeof *t->score);
    t->attr = xmalloc_array(n, sizeof *t->attr);
    hash_init(&t->by_text, n);
    uint64_t *hv = xmalloc_array(n, sizeof *hv);
    static const uint32_t attr_of_type[] = {
        TOK_ATTR_UNDEFINED, TOK_ATTR_NORMAL, TOK_ATTR_UNKNOWN, TOK_ATTR_CONTROL,
        TOK_ATTR_USER_DEFINED, TOK_ATTR_UNUSED, TOK_ATTR_BYTE,
    };
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct gguf_str s = gguf_arr_str(g, ti, i);
        t->text_off[i] = (uint32_t)off;
        if (s.len) {
            memcpy(t->text_arena + off, s.ptr, s.len);
            t->text_len[i] = (uint32_t)s.len;
        } else {
            /* llama.cpp renames empty tokens so they can be looked up and never match */
            t->text_len[i] = (uint32_t)snprintf(t->text_arena + off, 32, "[EMPTY_%llu]",
                                                (unsigned long long)i);
        }
        off += t->text_len[i];
        t->score[i] = si >= 0 ? (float)gguf_arr_num(g, si, i) : 0.0f;
        int64_t ty = yi >= 0 ? gguf_arr_int(g, yi, i) : 1;
        t->attr[i] = ty >= 0 && ty < 7 ? attr_of_type[ty] : TOK_ATTR_UNDEFINED;

        hv[i] = hash_text(t->text_arena + t->text_off[i], t->text_len[i]);
    }
    for (uint64_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            __builtin_prefetch(&t->by_text.slot[hv[i + PREFETCH_AHEAD] & t->by_text.mask]);
        size_t len, slot = 0;
        const char *txt = text_of(t, (int32_t)i, &len);
        int32_t dup = text_probe(t, txt, len, hv[i], &slot);
        if (dup >= 0) {
            free(hv);
            return err_set(e, "tokenizer.ggml.tokens: tokens %d and %llu have the same text '%.*s'",
                           dup, (unsigned long long)i, (int)(len > 40 ? 40 : len), txt);
        }
        t->by_text.slot[slot] = slot_tag(hv[i]) | ((uint64_t)i + 1);
    }
    free(hv);
    return 0;
}

static int read_merges(struct tok *t, const struct gguf *g, struct err *e)
{
    int64_t mi;
    uint64_t n = 0;
    if (get_str_array(g, "tokenizer.ggml.merges", "a gpt2 tokenizer needs its BPE merges", true,
                      &mi, &n, e))
        return -1;
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += gguf_arr_str(g, mi, i).len + 1;
    if (total > UINT32_MAX)
        return err_set(e, "tokenizer.ggml.merges: %zu bytes is too much", total);
    t->merge_arena = xmalloc(total ? total : 1);
    t->merge_off = xmalloc_array(n ? n : 1, sizeof *t->merge_off);
    t->merge_left_len = xmalloc_array(n ? n : 1, sizeof *t->merge_left_len);
    t->merge_right_len = xmalloc_array(n ? n : 1, sizeof *t->merge_right_len);
    hash_init(&t->by_pair, n);
    t->n_merges = (uint32_t)n;
    uint64_t *hv = xmalloc_array(n ? n : 1, sizeof *hv);
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct gguf_str s = gguf_arr_str(g, mi, i);
        /* split at the first space after the first byte; no space: both halves empty */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        size_t nl = sp ? (size_t)(sp - s.ptr) : 0;
        size_t nr = sp ? s.len - nl - 1 : 0;
        t->merge_off[i] = (uint32_t)off;
        t->merge_left_len[i] = (uint32_t)nl;
        t->merge_right_len[i] = (uint32_t)nr;
        memcpy(t->merge_arena + off, s.ptr, nl);
        t->merge_arena[off + nl] = ' ';
        memcpy(t->merge_arena + off + nl + 1, s.ptr + nl + 1, nr);
        const char *l = t->merge_arena + off;
        off += nl + 1 + nr;
        hv[i] = hash_pair(l, nl, l + nl + 1, nr);
    }
    /* Inserting is one cache miss per merge; prefetching a few merges ahead overlaps them. */
    for (uint64_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            __builtin_prefetch(&t->by_pair.slot[hv[i + PREFETCH_AHEAD] & t->by_pair.mask]);
        const char *l = t->merge_arena + t->merge_off[i];
        size_t nl = t->merge_left_len[i], nr = t->merge_right_len[i], slot = 0;
        /* the first occurrence of a pair keeps its rank (llama.cpp's emplace) */
        if (pair_probe(t, l, nl, l + nl + 1, nr, hv[i], &slot) < 0)
            t->by_pair.slot[slot] = slot_tag(hv[i]) | ((uint64_t)i + 1);
    }
    free(hv);
    return 0;
}

static int read_model(struct tok *t, const struct gguf *g, struct err *e)
{
    struct gguf_str model, pre = {"", 0};
    int r = gguf_get_str(g, "tokenizer.ggml.model", &model, e);
    if (r < 0)
        return -1;
    if (r == 0)
        return err_set(e, "tokenizer.ggml.model: missing (the file has no tokenizer)");
    if (gguf_get_str(g, "tokenizer.ggml.pre", &pre, e) < 0)
        return -1;

    /* llama.cpp's defaults per model */
    t->eot = t->eom = t->sep = t->pad = t->mask = -1;
    t->fim_pre = t->fim_suf = t->fim_mid = t->fim_pad = t->fim_rep = t->fim_sep = -1;
    if (gguf_str_eq(model, "llama")) {
        t->model = TOK_MODEL_SPM;
        t->pre = TOK_PRE_DEFAULT;
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->add_bos = true, t->add_eos = false, t->add_space_prefix = true;
        return 0;
    }
    if (!gguf_str_eq(model, "gpt2"))
        return err_set(e, "tokenizer.ggml.model: '%.*s' is not supported (supported: llama = "
                          "SentencePiece, gpt2 = byte-level BPE)",
                       (int)(model.len > 40 ? 40 : model.len), model.ptr);
    t->model = TOK_MODEL_BPE;
    t->bos = 11, t->eos = 11, t->unk = -1;
    t->add_bos = false, t->add_eos = false, t->add_space_prefix = false;
    if (pre.len == 0) {
        log_warn("tokenizer: tokenizer.ggml.pre is missing; using 'default' (as llama.cpp does, "
                 "which warns that quality will degrade)");
        t->pre = TOK_PRE_DEFAULT;
        return 0;
    }
    for (size_t i = 0; i < N_PRE_NAMES; i++) {
        if (gguf_str_eq(pre, g_pre_names[i].name)) {
            t->pre = g_pre_names[i].pre;
            t->ignore_merges = t->add_bos = g_pre_names[i].llama3_flags;
            return 0;
        }
    }
    char list[ERR_MSG_MAX];
    size_t o = 0;
    for (size_t i = 0; i < N_PRE_NAMES && o < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? " " : "", g_pre_names[i].name);
    return err_set(e, "tokenizer.ggml.pre: '%.*s' is not supported; supported: %s",
                   (int)(pre.len > 40 ? 40 : pre.len), pre.ptr, list);
}

static int read_special_ids(struct tok *t, const struct gguf *g, struct err *e)
{
    struct { const char *key; int32_t *id; } keys[] = {
        {"tokenizer.ggml.bos_token_id", &t->bos},
        {"tokenizer.ggml.eos_token_id", &t->eos},
        {"tokenizer.ggml.eot_token_id", &t->eot},
        {"tokenizer.ggml.eom_token_id", &t->eom},
        {"tokenizer.ggml.unknown_token_id", &t->unk},
        {"tokenizer.ggml.seperator_token_id", &t->sep},
        {"tokenizer.ggml.padding_token_id", &t->pad},
        {"tokenizer.ggml.mask_token_id", &t->mask},
        {"tokenizer.ggml.fim_pre_token_id", &t->fim_pre},
        {"tokenizer.ggml.fim_suf_token_id", &t->fim_suf},
        {"tokenizer.ggml.fim_mid_token_id", &t->fim_mid},
        {"tokenizer.ggml.fim_pad_token_id", &t->fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &t->fim_rep},
        {"tokenizer.ggml.fim_sep_token_id", &t->fim_sep},
        {"tokenizer.ggml.prefix_token_id", &t->fim_pre},
        {"tokenizer.ggml.suffix_token_id", &t->fim_suf},
        {"tokenizer.ggml.middle_token_id", &t->fim_mid},
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        if (*keys[i].id >= t->n_vocab)
            *keys[i].id = -1; /* a default beyond a small vocabulary */
        if (read_id(t, g, keys[i].key, keys[i].id, e))
            return -1;
    }
    bool v;
    int r;
    if ((r = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v, e)) < 0)
        return -1;
    if (r)
        t->add_bos = v;
    if ((r = gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &v, e)) < 0)
        return -1;
    if (r)
        t->add_eos = v;
    if ((r = gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &v, e)) < 0)
        return -1;
    if (r)
        t->add_space_prefix = v;
    return 0;
}

static bool contains_icase(struct gguf_str s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.len; i++) {
        size_t k = 0;
        while (k < n && (s.ptr[i + k] | ((s.ptr[i + k] >= 'A' && s.ptr[i + k] <= 'Z') ? 32 : 0)) == needle[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

static bool contains(struct gguf_str s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.len; i++)
        if (memcmp(s.ptr + i, needle, n) == 0)
            return true;
    return false;
}

/* Per-token attributes llama.cpp sets by model, tokenizer or architecture name. */
static int name_attrs(struct tok *t, const struct gguf *g, struct err *e)
{
    struct gguf_str name = {"", 0}, pre = {"", 0}, arch = {"", 0};
    if (gguf_get_str(g, "general.name", &name, e) < 0 ||
        gguf_get_str(g, "tokenizer.ggml.pre", &pre, e) < 0 ||
        gguf_get_str(g, "general.architecture", &arch, e) < 0)
        return -1;
    if (contains(pre, "jina-v2-de") || contains(pre, "jina-v2-es") || contains(pre, "jina-v2-code") ||
        contains(arch, "nomic-bert-moe") || contains(arch, "jina-bert-v3")) {
        int32_t id = find_cstr(t, "<mask>");
        if (id >= 0)
            t->attr[id] |= TOK_ATTR_LSTRIP;
    } else if (contains_icase(name, "phi-3") || contains_icase(name, "phi3")) {
        for (size_t i = 0; i < t->n_special; i++)
            t->attr[t->special[i]] |= TOK_ATTR_RSTRIP;
        int32_t id = find_cstr(t, "</s>");
        if (id >= 0)
            t->attr[id] |= TOK_ATTR_RSTRIP;
        const char *keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (size_t i = 0; i < 3; i++)
            if ((id = find_cstr(t, keep[i])) >= 0)
                t->attr[id] &= ~(uint32_t)TOK_ATTR_RSTRIP;
    } else if (contains_icase(name, "modern-bert")) {
        int32_t id = find_cstr(t, "[MASK]");
        if (id >= 0)
            t->attr[id] |= TOK_ATTR_LSTRIP;
    }
    return 0;
}

int tok_load(const struct gguf *g, struct tok **out, struct err *e)
{
    struct tok *t = xcalloc(1, sizeof *t);
    if (read_model(t, g, e) || read_tokens(t, g, e) ||
        (t->model == TOK_MODEL_BPE && read_merges(t, g, e)) || read_special_ids(t, g, e)) {
        tok_free(t);
        return err_prefix(e, "tokenizer");
    }
    detect_role(t, &t->eot, g_eot_texts);
    detect_role(t, &t->eom, g_eom_texts);
    detect_role(t, &t->fim_pre, g_fim_pre_texts);
    detect_role(t, &t->fim_suf, g_fim_suf_texts);
    detect_role(t, &t->fim_mid, g_fim_mid_texts);
    detect_role(t, &t->fim_pad, g_fim_pad_texts);
    detect_role(t, &t->fim_rep, g_fim_rep_texts);
    detect_role(t, &t->fim_sep, g_fim_sep_texts);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t len;
        const char *txt = text_of(t, id, &len);
        if ((t->attr[id] & TOK_ATTR_CONTROL) && memmem(txt, len, "unused", 6))
            t->attr[id] |= TOK_ATTR_UNUSED;
    }
    build_eog(t);
    build_special(t);
    if (build_pieces(t, e) || name_attrs(t, g, e)) {
        tok_free(t);
        return err_prefix(e, "tokenizer");
    }
    for (int b = 0; b < 256; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        char one = (char)b;
        t->byte_token[b] = find_cstr(t, hex);
        if (t->byte_token[b] < 0)
            t->byte_token[b] = tok_lookup(t, &one, 1);
    }
    *out = t;
    return 0;
}

void tok_free(struct tok *t)
{
    if (!t)
        return;
    free(t->text_arena);
    free(t->text_off);
    free(t->text_len);
    free(t->score);
    free(t->attr);
    free(t->by_text.slot);
    free(t->merge_arena);
    free(t->merge_off);
    free(t->merge_left_len);
    free(t->merge_right_len);
    free(t->by_pair.slot);
    free(t->piece_arena);
    free(t->piece_off);
    free(t->piece_len);
    free(t->eog);
    free(t->special);
    free(t);
}

/* ---- accessors ---- */

int32_t tok_n_vocab(const struct tok *t) { return t->n_vocab; }
int32_t tok_bos(const struct tok *t) { return t->bos; }
int32_t tok_eos(const struct tok *t) { return t->eos; }
bool tok_add_bos(const struct tok *t) { return t->add_bos; }
bool tok_add_eos(const struct tok *t) { return t->add_eos; }

bool tok_is_eog(const struct tok *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && t->eog[id];
}

bool tok_is_control(const struct tok *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->attr[id] & TOK_ATTR_CONTROL);
}

const char *tok_text(const struct tok *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab)
        return NULL;
    return text_of(t, id, len);
}

int32_t tok_find(const struct tok *t, const char *text, size_t len)
{
    return tok_lookup(t, text, len);
}

/* ---- encoding ---- */

/* A piece of the input: text[off, off+len) still to tokenize, or a special token (id >= 0). */
struct frag {
    size_t off, len;
    int32_t id;
};

struct frags {
    struct frag *v;
    size_t n, cap;
};

static void frag_push(struct frags *f, size_t off, size_t len, int32_t id)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->v = xrealloc_array(f->v, f->cap, sizeof *f->v);
    }
    f->v[f->n++] = (struct frag){off, len, id};
}

/* isspace() in the C locale, which llama.cpp's lstrip/rstrip use */
static bool c_isspace(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Splits every text fragment of *f at each occurrence of special token id (llama.cpp's
 * tokenizer_st_partition for one token). */
static void partition_one(const struct tok *t, const char *text, int32_t id, struct frags *f,
                          struct frags *tmp)
{
    size_t slen;
    const char *s = text_of(t, id, &slen);
    uint32_t a = t->attr[id];
    tmp->n = 0;
    for (size_t k = 0; k < f->n; k++) {
        struct frag fr = f->v[k];
        if (fr.id >= 0) {
            frag_push(tmp, fr.off, fr.len, fr.id);
            continue;
        }
        size_t pos = fr.off, end = fr.off + fr.len;
        const char *m;
        while (pos < end && (m = memmem(text + pos, end - pos, s, slen)) != NULL) {
            size_t at = (size_t)(m - text);
            size_t left = at - pos;
            if (left && (a & TOK_ATTR_LSTRIP))
                while (left && c_isspace(text[pos + left - 1]))
                    left--;
            if (left)
                frag_push(tmp, pos, left, -1);
            frag_push(tmp, 0, 0, id);
            pos = at + slen;
            if (a & TOK_ATTR_RSTRIP)
                while (pos < end && c_isspace(text[pos]))
                    pos++;
        }
        if (pos < end)
            frag_push(tmp, pos, end - pos, -1);
    }
    struct frags x = *f;
    *f = *tmp;
    *tmp = x;
}

int tok_encode(const struct tok *t, const char *text, size_t len, bool add_special,
               bool parse_special, int32_t **ids, size_t *n_ids, struct err *e)
{
    if (add_special && t->add_bos && t->bos < 0)
        return err_set(e, "tokenizer: the vocabulary asks for a BOS token but has none");
    if (add_special && t->add_eos && t->eos < 0)
        return err_set(e, "tokenizer: the vocabulary asks for an EOS token but has none");

    struct frags f = {0}, tmp = {0};
    if (len)
        frag_push(&f, 0, len, -1);
    for (size_t i = 0; i < t->n_special && len; i++) {
        int32_t id = t->special[i];
        if (!parse_special && (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)))
            continue;
        /* a token absent from the whole text is absent from every fragment */
        if (!memmem(text, len, t->text_arena + t->text_off[id], t->text_len[id]))
            continue;
        partition_one(t, text, id, &f, &tmp);
    }
    free(tmp.v);

    struct tok_ids out = {0};
    if (add_special && t->add_bos)
        tok_ids_push(&out, t->bos);
    char *esc = NULL; /* SPM: the fragment with spaces escaped */
    size_t esc_cap = 0;
    bool prev_special = true;
    for (size_t k = 0; k < f.n; k++) {
        struct frag fr = f.v[k];
        if (fr.id >= 0) {
            tok_ids_push(&out, fr.id);
            prev_special = true;
            continue;
        }
        if (t->model == TOK_MODEL_BPE) {
            tok_bpe_encode(t, text + fr.off, fr.len, &out);
            continue;
        }
        /* SPM: optional leading space, then every space becomes U+2581 */
        size_t need = (fr.len + 1) * 3;
        if (need > esc_cap) {
            esc_cap = need;
            free(esc);
            esc = xmalloc(esc_cap);
        }
        size_t o = 0;
        if (t->add_space_prefix && prev_special)
            memcpy(esc, "\xe2\x96\x81", 3), o = 3;
        for (size_t i = 0; i < fr.len; i++) {
            if (text[fr.off + i] == ' ')
                memcpy(esc + o, "\xe2\x96\x81", 3), o += 3;
            else
                esc[o++] = text[fr.off + i];
        }
        tok_spm_encode(t, esc, o, &out);
        prev_special = false;
    }
    free(esc);
    free(f.v);
    if (add_special && t->add_eos)
        tok_ids_push(&out, t->eos);
    *ids = out.v;
    *n_ids = out.n;
    return 0;
}

/* ---- decoding ---- */

size_t tok_piece(const struct tok *t, int32_t id, char *out, size_t cap, bool render_special)
{
    if (id < 0 || id >= t->n_vocab)
        return 0;
    if (!render_special && (t->attr[id] & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL)))
        return 0;
    size_t n = t->piece_len[id];
    if (n <= cap)
        memcpy(out, t->piece_arena + t->piece_off[id], n);
    return n;
}

size_t tok_utf8_complete(const char *s, size_t n)
{
    /* Look back at most 3 bytes for a lead byte whose sequence runs past the end. */
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation: keep looking for its lead */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? n - back : n;
    }
    return n;
}
