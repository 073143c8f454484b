/* tok_import: a Hugging Face tokenizer.json (byte-level BPE) -> the tokenizer.ggml.* metadata
 * llama.cpp's convert_hf_to_gguf.py writes for it, so that baton and llama.cpp tokenize the
 * resulting GGUF the same way.
 *
 * Written keys: tokenizer.ggml.model ("gpt2"), .pre, .tokens (id order; ids with no token become
 * "[PAD<id>]" of type UNUSED), .token_type (added tokens: CONTROL if special or special-looking
 * like "<|...|>", else USER_DEFINED; the rest NORMAL), .merges ("left right"; pair-form merges
 * have their spaces encoded as U+0120 as the converter does), and, when known, the bos / eos /
 * unknown / seperator / padding ids, add_bos_token / add_eos_token, add_space_prefix and
 * tokenizer.chat_template.
 *
 * Like the converter, special ids and add_* flags come from tokenizer_config.json and config.json
 * next to tokenizer.json (bos_token etc. resolved through added_tokens, then config.json's
 * *_token_id), and add_bos/add_eos also from a TemplateProcessing post-processor. When neither
 * file is there (a lone tokenizer.json), an added special token "<|endoftext|>" is taken as BOS,
 * EOS and UNK, which is what those files say for GPT-2-style vocabularies such as SmolLM2's.
 * Override any of it with gguf_writer_set_* after the call (setters replace keys).
 *
 * The pre-tokenizer name is pre_override, or detected from the pre_tokenizer section:
 *   Sequence[Digits(individual_digits), ByteLevel]       -> "smollm" (starcoder's pattern list)
 *   ByteLevel(use_regex) alone                            -> "gpt-2"
 *   Split(llama3 pattern) + ByteLevel(use_regex=false)   -> "llama-bpe"
 *   Split(qwen2 pattern)  + ByteLevel(use_regex=false)   -> "qwen2"
 * (the converter identifies pre-tokenizers by hashing HF's output on a probe text instead, which
 * needs the transformers library; these are the configurations behind those hashes).
 */
#ifndef BATON_ENGINE_TOK_IMPORT_H
#define BATON_ENGINE_TOK_IMPORT_H

#include "base/err.h"
#include "engine/gguf.h"

/* Reads the tokenizer.json at path and sets the keys above on w. pre_override NULL = detect.
 * Returns 0, or -1 with e filled (unreadable JSON with line and column, unsupported model or
 * pre-tokenizer, malformed vocab/merges). */
int tok_import_json(const char *path, struct gguf_writer *w, const char *pre_override, struct err *e);

/* Same, from a tokenizer.json already in memory (no sibling config files are read). */
int tok_import_json_mem(const char *json, size_t len, struct gguf_writer *w,
                        const char *pre_override, struct err *e);

#endif
