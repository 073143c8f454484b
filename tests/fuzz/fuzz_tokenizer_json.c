/* libFuzzer target: the tokenizer.json importer on arbitrary bytes. Any input must be refused
 * with a message or give metadata that tok_load then accepts or refuses with a message; an
 * accepted tokenizer must encode and decode a fixed text with in-range ids. */
#include "engine/gguf.h"
#include "engine/tok_import.h"
#include "engine/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = malloc(size ? size : 1);
    memcpy(json, data, size);
    struct err e;
    struct gguf_writer *w = gguf_writer_new();
    if (tok_import_json_mem(json, size, w, NULL, &e) == 0) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/fuzz-tokjson-%d.gguf", (int)getpid());
        struct gguf *g;
        if (gguf_writer_open(w, path, &e) == 0 && gguf_writer_close(w, &e) == 0 &&
            gguf_open(path, &g, &e) == 0) {
            struct tok *t;
            if (tok_load(g, &t, &e) == 0) {
                static const char text[] = "Hello, world! 123 <|endoftext|> \xc3\xa9\xf0\x9f\x99\x82";
                int32_t *ids;
                size_t n;
                if (tok_encode(t, text, sizeof text - 1, true, true, &ids, &n, &e) == 0) {
                    char buf[64];
                    for (size_t i = 0; i < n; i++) {
                        if (ids[i] < 0 || ids[i] >= tok_n_vocab(t))
                            abort();
                        (void)tok_piece(t, ids[i], buf, sizeof buf, true);
                    }
                    free(ids);
                }
                tok_free(t);
            }
            gguf_close(g);
        }
        unlink(path);
    }
    gguf_writer_free(w);
    free(json);
    return 0;
}
