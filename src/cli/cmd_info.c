/* baton info MODEL.gguf: metadata (arrays abbreviated to their first elements) and the tensor
 * table with shapes, types, sizes and file offsets. */
#include "cli/cli.h"

#include "engine/dtype.h"
#include "engine/gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void print_str(struct gguf_str s, size_t max)
{
    putchar('"');
    for (uint64_t i = 0; i < s.len && i < max; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 0x20)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
    if (s.len > max)
        printf("...(%" PRIu64 " bytes)", s.len);
}

static void print_scalar(enum gguf_vtype t, const void *p)
{
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            float f32; uint64_t u64; int64_t i64; double f64; } v;
    memcpy(&v, p, gguf_vtype_size(t));
    switch (t) {
    case GGUF_UINT8: printf("%u", v.u8); break;
    case GGUF_INT8: printf("%d", v.i8); break;
    case GGUF_UINT16: printf("%u", v.u16); break;
    case GGUF_INT16: printf("%d", v.i16); break;
    case GGUF_UINT32: printf("%u", v.u32); break;
    case GGUF_INT32: printf("%d", v.i32); break;
    case GGUF_FLOAT32: printf("%g", v.f32); break;
    case GGUF_BOOL: fputs(v.u8 ? "true" : "false", stdout); break;
    case GGUF_UINT64: printf("%" PRIu64, v.u64); break;
    case GGUF_INT64: printf("%" PRId64, v.i64); break;
    case GGUF_FLOAT64: printf("%g", v.f64); break;
    default: break;
    }
}

int cmd_info(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(argc == 2 ? stdout : stderr, "usage: baton info MODEL.gguf\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    struct err e;
    struct gguf *g;
    if (gguf_open(argv[1], &g, &e))
        return cli_fail("%s", e.msg);
    printf("file: %s\nversion: %u\nsize: %" PRIu64 " bytes\nalignment: %u\n", argv[1],
           gguf_version(g), gguf_file_size(g), gguf_alignment(g));
    printf("metadata: %" PRId64 " keys\n", gguf_n_kv(g));
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        enum gguf_vtype t = gguf_kv_type(g, i);
        printf("  %s: ", gguf_kv_key(g, i));
        if (t == GGUF_STRING) {
            print_str(gguf_kv_str(g, i), 120);
        } else if (t == GGUF_ARRAY) {
            enum gguf_vtype at = gguf_kv_arr_type(g, i);
            uint64_t n = gguf_kv_len(g, i);
            printf("[%s x %" PRIu64 "] [", gguf_vtype_name(at), n);
            for (uint64_t j = 0; j < n && j < 6; j++) {
                if (j)
                    fputs(", ", stdout);
                if (at == GGUF_STRING)
                    print_str(gguf_arr_str(g, i, j), 40);
                else
                    print_scalar(at, (const char *)gguf_kv_data(g, i) + j * gguf_vtype_size(at));
            }
            fputs(n > 6 ? ", ...]" : "]", stdout);
        } else {
            print_scalar(t, gguf_kv_data(g, i));
        }
        putchar('\n');
    }
    printf("tensors: %" PRId64 "\n", gguf_n_tensors(g));
    uint64_t total = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor(g, i);
        char shape[96];
        int n = snprintf(shape, sizeof shape, "[");
        for (uint32_t d = 0; d < t->n_dims; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%" PRId64, d ? ", " : "", t->ne[d]);
        snprintf(shape + n, sizeof shape - (size_t)n, "]");
        printf("  %-32s %-8s %-20s %12" PRIu64 " bytes @ %" PRIu64 "\n", t->name,
               dtype_name(t->type), shape, t->size, gguf_data_offset(g) + t->offset);
        total += t->size;
    }
    printf("tensor data: %" PRIu64 " bytes\n", total);
    gguf_close(g);
    return 0;
}
