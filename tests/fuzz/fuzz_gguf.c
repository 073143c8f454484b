/* libFuzzer target: the GGUF reader on arbitrary bytes. Any input must either be refused with a
 * message or yield a handle whose every metadata value and tensor can be read in bounds. */
#include "engine/dtype.h"
#include "engine/gguf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact-size copy so ASan flags any read past the end */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct err e;
    struct gguf *g = NULL;
    if (gguf_open_mem(copy, size, &g, &e) == 0) {
        volatile uint64_t sink = 0;
        for (int64_t i = 0; i < gguf_n_kv(g); i++) {
            enum gguf_vtype t = gguf_kv_type(g, i);
            if (t == GGUF_STRING) {
                struct gguf_str s = gguf_kv_str(g, i);
                if (s.len)
                    sink += (uint8_t)s.ptr[s.len - 1];
            } else if (t == GGUF_ARRAY) {
                uint64_t n = gguf_kv_len(g, i);
                for (uint64_t j = 0; j < n; j++) {
                    if (gguf_kv_arr_type(g, i) == GGUF_STRING) {
                        struct gguf_str s = gguf_arr_str(g, i, j);
                        if (s.len)
                            sink += (uint8_t)s.ptr[s.len - 1];
                    } else {
                        sink += (uint64_t)gguf_arr_int(g, i, j);
                    }
                }
            }
        }
        for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
            const struct gguf_tensor *t = gguf_tensor(g, i);
            if (t->size)
                sink += ((const uint8_t *)t->data)[t->size - 1];
        }
        (void)sink;
        gguf_close(g);
    } else if (!e.msg[0]) {
        abort(); /* refusal without a message is a bug */
    }
    free(copy);
    return 0;
}
