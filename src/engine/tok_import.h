/* tok_import: Hugging Face tokenizer.json -> GGUF tokenizer.* metadata (implemented on the
 * tokenizer branch). */
#ifndef BATON_ENGINE_TOK_IMPORT_H
#define BATON_ENGINE_TOK_IMPORT_H

#include "base/err.h"
#include "engine/gguf.h"

int tok_import_json(const char *path, struct gguf_writer *w, const char *pre_override,
                    struct err *e);

#endif
