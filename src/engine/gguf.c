/* gguf: GGUF reader (validating, zero-copy over mmap) and writer. The byte layout is in gguf.h.
 *
 * Reader invariants, established by parse() before a handle is returned:
 *  - every string, array and tensor-info read stays inside the file;
 *  - counts are bounded by what the remaining bytes could hold, so no allocation is sized by an
 *    unchecked number from the file;
 *  - keys and tensor names are unique; general.alignment is a power of two;
 *  - every tensor has 1..4 dims, non-negative extents whose product fits in int64, a known type, a
 *    row length that is a multiple of its block size, an aligned offset, and data inside the data
 *    section that overlaps no other tensor.
 */
#include "engine/gguf.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "engine/dtype.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAX_NAME 256 /* longest tensor name accepted (llama.cpp uses 64) */

struct gguf_kv {
    char *key;              /* NUL-terminated copy */
    enum gguf_vtype type;
    enum gguf_vtype arr_type; /* element type, for arrays */
    uint64_t len;           /* string bytes or array elements */
    const uint8_t *val;     /* scalar bytes, string chars, or first array element */
    const uint8_t *raw;     /* the whole stored value (after the u32 type) */
    uint64_t raw_len;
    uint64_t *str_offs;     /* arrays of strings: offset of each element's length prefix */
};

struct gguf {
    const uint8_t *base;
    uint64_t size;
    bool mapped;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_off;
    int64_t n_kv;
    struct gguf_kv *kv;
    int64_t n_tensors;
    struct gguf_tensor *tensors;
};

/* ---------------------------------------------------------------------------------------------
 * Bounded cursor over the mapping. Every read checks the remaining length first. */

struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
};

static uint64_t cur_left(const struct cursor *c) { return c->size - c->pos; }

static int cur_need(struct cursor *c, uint64_t n, const char *what, struct err *e)
{
    if (n > cur_left(c))
        return err_set(e, "%s: needs %" PRIu64 " bytes at offset %" PRIu64
                          " but the file has %" PRIu64 " bytes",
                       what, n, c->pos, c->size);
    return 0;
}

static int cur_u32(struct cursor *c, uint32_t *v, const char *what, struct err *e)
{
    if (cur_need(c, 4, what, e))
        return -1;
    memcpy(v, c->base + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int cur_u64(struct cursor *c, uint64_t *v, const char *what, struct err *e)
{
    if (cur_need(c, 8, what, e))
        return -1;
    memcpy(v, c->base + c->pos, 8);
    c->pos += 8;
    return 0;
}

/* Reads a string: length then bytes. */
static int cur_str(struct cursor *c, struct gguf_str *s, const char *what, struct err *e)
{
    uint64_t len;
    if (cur_u64(c, &len, what, e))
        return -1;
    if (len > cur_left(c))
        return err_set(e, "%s: string length %" PRIu64 " at offset %" PRIu64
                          " runs past end of file (%" PRIu64 " bytes)",
                       what, len, c->pos - 8, c->size);
    s->ptr = (const char *)c->base + c->pos;
    s->len = len;
    c->pos += len;
    return 0;
}

size_t gguf_vtype_size(enum gguf_vtype t)
{
    switch (t) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
    case GGUF_UINT16: case GGUF_INT16: return 2;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
    case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *gguf_vtype_name(enum gguf_vtype t)
{
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < GGUF_VTYPE_COUNT ? names[t] : "invalid";
}

/* ---------------------------------------------------------------------------------------------
 * Parsing */

static int parse_kv(struct cursor *c, struct gguf_kv *kv, int64_t index, struct err *e)
{
    char what[96];
    snprintf(what, sizeof what, "metadata key #%" PRId64, index);
    struct gguf_str key;
    if (cur_str(c, &key, what, e))
        return -1;
    if (key.len == 0 || key.len > 65535)
        return err_set(e, "%s: key length %" PRIu64 " (must be 1..65535)", what, key.len);
    kv->key = xstrndup(key.ptr, key.len);
    snprintf(what, sizeof what, "metadata %.64s", kv->key);
    uint32_t type;
    if (cur_u32(c, &type, what, e))
        return -1;
    if (type >= GGUF_VTYPE_COUNT)
        return err_set(e, "%s: value type %u is not a GGUF type (0..12)", what, type);
    kv->type = (enum gguf_vtype)type;
    kv->raw = c->base + c->pos;
    uint64_t start = c->pos;
    if (type == GGUF_STRING) {
        struct gguf_str s;
        if (cur_str(c, &s, what, e))
            return -1;
        kv->val = (const uint8_t *)s.ptr;
        kv->len = s.len;
    } else if (type == GGUF_ARRAY) {
        uint32_t at;
        uint64_t n;
        if (cur_u32(c, &at, what, e) || cur_u64(c, &n, what, e))
            return -1;
        if (at >= GGUF_VTYPE_COUNT)
            return err_set(e, "%s: array element type %u is not a GGUF type (0..12)", what, at);
        if (at == GGUF_ARRAY)
            return err_set(e, "%s: nested arrays are not supported", what);
        kv->arr_type = (enum gguf_vtype)at;
        kv->len = n;
        kv->val = c->base + c->pos;
        if (at == GGUF_STRING) {
            /* each element takes at least its 8-byte length prefix */
            if (n > cur_left(c) / 8)
                return err_set(e, "%s: %" PRIu64 " strings cannot fit in the %" PRIu64
                                  " bytes left in the file",
                               what, n, cur_left(c));
            kv->str_offs = xmalloc_array(n ? n : 1, sizeof(uint64_t));
            for (uint64_t j = 0; j < n; j++) {
                kv->str_offs[j] = c->pos;
                struct gguf_str s;
                if (cur_str(c, &s, what, e))
                    return -1;
            }
        } else {
            size_t es = gguf_vtype_size(kv->arr_type);
            if (n > cur_left(c) / es)
                return err_set(e, "%s: array of %" PRIu64 " %s elements runs past end of file"
                                  " (%" PRIu64 " bytes left)",
                               what, n, gguf_vtype_name(kv->arr_type), cur_left(c));
            c->pos += n * es;
        }
    } else {
        size_t es = gguf_vtype_size(kv->type);
        if (cur_need(c, es, what, e))
            return -1;
        kv->val = c->base + c->pos;
        kv->len = 1;
        c->pos += es;
    }
    kv->raw_len = c->pos - start;
    return 0;
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
    const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int parse_tensor_info(struct cursor *c, struct gguf_tensor *t, int64_t index, struct err *e)
{
    char what[96];
    snprintf(what, sizeof what, "tensor info #%" PRId64, index);
    struct gguf_str name;
    if (cur_str(c, &name, what, e))
        return -1;
    if (name.len == 0 || name.len > GGUF_MAX_NAME)
        return err_set(e, "%s: name length %" PRIu64 " (must be 1..%d)", what, name.len,
                       GGUF_MAX_NAME);
    t->name = xstrndup(name.ptr, name.len);
    snprintf(what, sizeof what, "tensor %.80s", t->name);
    if (cur_u32(c, &t->n_dims, what, e))
        return -1;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return err_set(e, "%s: %u dimensions (must be 1..%d)", what, t->n_dims, GGUF_MAX_DIMS);
    int64_t nel = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < t->n_dims && cur_u64(c, &ne, what, e))
            return -1;
        if (ne > (uint64_t)INT64_MAX)
            return err_set(e, "%s: dimension %u is %" PRIu64 ", out of range", what, d, ne);
        t->ne[d] = (int64_t)ne;
        if (ne && nel > INT64_MAX / (int64_t)ne)
            return err_set(e, "%s: element count overflows (dimension %u is %" PRIu64 ")", what,
                           d, ne);
        nel *= (int64_t)ne;
    }
    if (cur_u32(c, &t->type, what, e))
        return -1;
    const struct dtype_info *di = dtype_get(t->type);
    if (!di)
        return err_set(e, "%s: type %u is not a GGML type", what, t->type);
    uint64_t row;
    if (!dtype_row_bytes(t->type, (uint64_t)t->ne[0], &row))
        return err_set(e, "%s: row length %" PRId64 " is not a multiple of the %s block size %u",
                       what, t->ne[0], di->name, di->block_elems);
    uint64_t rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
    if (rows && row > UINT64_MAX / rows)
        return err_set(e, "%s: size overflows", what);
    t->size = row * rows;
    if (cur_u64(c, &t->offset, what, e))
        return -1;
    return 0;
}

static int parse(struct gguf *g, struct err *e)
{
    struct cursor c = {g->base, g->size, 0};
    if (g->size < 4 || memcmp(g->base, "GGUF", 4) != 0)
        return err_set(e, "not a GGUF file (bad magic; %" PRIu64 " bytes)", g->size);
    c.pos = 4;
    if (cur_u32(&c, &g->version, "header version", e))
        return -1;
    if (g->version == 1)
        return err_set(e, "GGUF version 1 is not supported (re-convert the model; versions 2 and 3 are)");
    if (g->version != 2 && g->version != 3)
        return err_set(e, "GGUF version %u is not supported (2 and 3 are; a big-endian file reads"
                          " as a huge version)",
                       g->version);
    uint64_t n_tensors, n_kv;
    if (cur_u64(&c, &n_tensors, "header tensor count", e) ||
        cur_u64(&c, &n_kv, "header metadata count", e))
        return -1;
    /* a kv takes >= 13 bytes (8 key length, 1 key byte, 4 type) + value; a tensor info >= 33 */
    if (n_kv > cur_left(&c) / 13)
        return err_set(e, "header: %" PRIu64 " metadata pairs cannot fit in a %" PRIu64
                          "-byte file",
                       n_kv, g->size);
    if (n_tensors > cur_left(&c) / 33)
        return err_set(e, "header: %" PRIu64 " tensors cannot fit in a %" PRIu64 "-byte file",
                       n_tensors, g->size);

    g->kv = xcalloc(n_kv ? n_kv : 1, sizeof *g->kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv = (int64_t)i + 1; /* so gguf_close frees what was allocated so far */
        if (parse_kv(&c, &g->kv[i], (int64_t)i, e))
            return -1;
    }
    if (n_kv > 1) {
        const char **keys = xmalloc_array(n_kv, sizeof *keys);
        for (uint64_t i = 0; i < n_kv; i++)
            keys[i] = g->kv[i].key;
        qsort(keys, n_kv, sizeof *keys, cmp_str_ptr);
        for (uint64_t i = 1; i < n_kv; i++)
            if (strcmp(keys[i - 1], keys[i]) == 0) {
                err_set(e, "metadata: duplicate key %.200s", keys[i]);
                free(keys);
                return -1;
            }
        free(keys);
    }

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        if (g->kv[ai].type != GGUF_UINT32)
            return err_set(e, "metadata general.alignment: type %s (must be u32)",
                           gguf_vtype_name(g->kv[ai].type));
        uint32_t a;
        memcpy(&a, g->kv[ai].val, 4);
        if (a == 0 || (a & (a - 1)) || a > (1u << 24))
            return err_set(e, "metadata general.alignment: %u is not a power of two up to 2^24", a);
        g->alignment = a;
    }

    g->tensors = xcalloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        g->n_tensors = (int64_t)i + 1;
        if (parse_tensor_info(&c, &g->tensors[i], (int64_t)i, e))
            return -1;
    }

    uint64_t data_off = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (n_tensors > 0 && data_off > g->size)
        return err_set(e, "data section starts at %" PRIu64 ", past end of file (%" PRIu64
                          " bytes)",
                       data_off, g->size);
    g->data_off = data_off;
    uint64_t data_size = data_off <= g->size ? g->size - data_off : 0;

    if (n_tensors > 0) {
        struct gguf_tensor **order = xmalloc_array(n_tensors, sizeof *order);
        for (uint64_t i = 0; i < n_tensors; i++)
            order[i] = &g->tensors[i];
        qsort(order, n_tensors, sizeof *order, cmp_tensor_offset);
        int rc = 0;
        for (uint64_t i = 0; i < n_tensors && rc == 0; i++) {
            struct gguf_tensor *t = order[i];
            if (t->offset % g->alignment)
                rc = err_set(e, "tensor %.80s: offset %" PRIu64 " is not a multiple of the"
                                " alignment %u",
                             t->name, t->offset, g->alignment);
            else if (t->offset > data_size || t->size > data_size - t->offset)
                rc = err_set(e, "tensor %.80s: data [%" PRIu64 ", +%" PRIu64 ") at file offset %"
                                PRIu64 " runs past end of file (%" PRIu64 " bytes)",
                             t->name, t->offset, t->size, data_off + t->offset, g->size);
            else if (i > 0 && order[i - 1]->offset + order[i - 1]->size > t->offset)
                rc = err_set(e, "tensor %.80s: data at offset %" PRIu64 " overlaps tensor %.80s"
                                " (%" PRIu64 " + %" PRIu64 " bytes)",
                             t->name, t->offset, order[i - 1]->name, order[i - 1]->offset,
                             order[i - 1]->size);
            else
                t->data = g->base + data_off + t->offset;
        }
        free(order);
        if (rc)
            return rc;
        const char **names = xmalloc_array(n_tensors, sizeof *names);
        for (uint64_t i = 0; i < n_tensors; i++)
            names[i] = g->tensors[i].name;
        qsort(names, n_tensors, sizeof *names, cmp_str_ptr);
        for (uint64_t i = 1; i < n_tensors && rc == 0; i++)
            if (strcmp(names[i - 1], names[i]) == 0)
                rc = err_set(e, "tensor %.80s: name appears twice", names[i]);
        free(names);
        if (rc)
            return rc;
    }
    return 0;
}

int gguf_open_mem(const void *data, size_t size, struct gguf **out, struct err *e)
{
    struct gguf *g = xcalloc(1, sizeof *g);
    g->base = data;
    g->size = size;
    if (parse(g, e)) {
        gguf_close(g);
        return -1;
    }
    *out = g;
    return 0;
}

int gguf_open(const char *path, struct gguf **out, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return err_set(e, "%s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    void *p = NULL;
    if (size > 0) {
        p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return err_set(e, "%s: mmap: %s", path, strerror(errno));
        }
    }
    close(fd);
    struct gguf *g = xcalloc(1, sizeof *g);
    g->base = p ? p : (const uint8_t *)"";
    g->size = size;
    g->mapped = p != NULL;
    if (parse(g, e)) {
        err_prefix(e, "%s", path);
        gguf_close(g);
        return -1;
    }
    *out = g;
    return 0;
}

void gguf_close(struct gguf *g)
{
    if (!g)
        return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_offs);
    }
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++)
        free((char *)g->tensors[i].name);
    free(g->tensors);
    if (g->mapped)
        munmap((void *)g->base, g->size);
    free(g);
}

uint32_t gguf_version(const struct gguf *g) { return g->version; }
uint64_t gguf_file_size(const struct gguf *g) { return g->size; }
uint32_t gguf_alignment(const struct gguf *g) { return g->alignment; }
uint64_t gguf_data_offset(const struct gguf *g) { return g->data_off; }

/* ---------------------------------------------------------------------------------------------
 * Metadata access */

int64_t gguf_n_kv(const struct gguf *g) { return g->n_kv; }

int64_t gguf_find_key(const struct gguf *g, const char *key)
{
    /* Linear: files hold tens of keys, and lookups happen at load time only. */
    for (int64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0)
            return i;
    return -1;
}

const char *gguf_kv_key(const struct gguf *g, int64_t i) { return g->kv[i].key; }
enum gguf_vtype gguf_kv_type(const struct gguf *g, int64_t i) { return g->kv[i].type; }
enum gguf_vtype gguf_kv_arr_type(const struct gguf *g, int64_t i) { return g->kv[i].arr_type; }
uint64_t gguf_kv_len(const struct gguf *g, int64_t i) { return g->kv[i].len; }
const void *gguf_kv_data(const struct gguf *g, int64_t i) { return g->kv[i].val; }

void gguf_kv_raw(const struct gguf *g, int64_t i, const void **p, uint64_t *n)
{
    *p = g->kv[i].raw;
    *n = g->kv[i].raw_len;
}

struct gguf_str gguf_kv_str(const struct gguf *g, int64_t i)
{
    struct gguf_str s = {(const char *)g->kv[i].val, g->kv[i].len};
    return s;
}

struct gguf_str gguf_arr_str(const struct gguf *g, int64_t i, uint64_t j)
{
    const struct gguf_kv *kv = &g->kv[i];
    uint64_t off = kv->str_offs[j], len;
    memcpy(&len, g->base + off, 8);
    struct gguf_str s = {(const char *)g->base + off + 8, len};
    return s;
}

/* Reads one numeric value of type t at p. Returns false for non-numeric types. */
static bool read_num(enum gguf_vtype t, const uint8_t *p, double *d, int64_t *i, bool *is_int)
{
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            float f32; uint64_t u64; int64_t i64; double f64; } v;
    size_t n = gguf_vtype_size(t);
    if (!n)
        return false;
    memcpy(&v, p, n);
    *is_int = true;
    switch (t) {
    case GGUF_UINT8: *i = v.u8; break;
    case GGUF_INT8: *i = v.i8; break;
    case GGUF_UINT16: *i = v.u16; break;
    case GGUF_INT16: *i = v.i16; break;
    case GGUF_UINT32: *i = v.u32; break;
    case GGUF_INT32: *i = v.i32; break;
    case GGUF_BOOL: *i = v.u8 != 0; break;
    case GGUF_INT64: *i = v.i64; break;
    case GGUF_UINT64:
        if (v.u64 > (uint64_t)INT64_MAX) {
            *is_int = false;
            *d = (double)v.u64;
            return true;
        }
        *i = (int64_t)v.u64;
        break;
    case GGUF_FLOAT32: *is_int = false; *d = v.f32; return true;
    case GGUF_FLOAT64: *is_int = false; *d = v.f64; return true;
    default: return false;
    }
    *d = (double)*i;
    return true;
}

double gguf_arr_num(const struct gguf *g, int64_t i, uint64_t j)
{
    const struct gguf_kv *kv = &g->kv[i];
    double d = 0;
    int64_t v = 0;
    bool is_int;
    read_num(kv->arr_type, kv->val + j * gguf_vtype_size(kv->arr_type), &d, &v, &is_int);
    return d;
}

int64_t gguf_arr_int(const struct gguf *g, int64_t i, uint64_t j)
{
    const struct gguf_kv *kv = &g->kv[i];
    double d = 0;
    int64_t v = 0;
    bool is_int;
    read_num(kv->arr_type, kv->val + j * gguf_vtype_size(kv->arr_type), &d, &v, &is_int);
    if (is_int)
        return v;
    /* float element: truncate, saturating; NaN reads as 0 (never UB on hostile input) */
    if (!(d == d))
        return 0;
    if (d >= 9.2233720368547758e18)
        return INT64_MAX;
    if (d <= -9.2233720368547758e18)
        return INT64_MIN;
    return (int64_t)d;
}

int gguf_get_int(const struct gguf *g, const char *key, int64_t *out, struct err *e)
{
    int64_t i = gguf_find_key(g, key);
    if (i < 0)
        return 0;
    double d = 0;
    int64_t v = 0;
    bool is_int = false;
    if (g->kv[i].type == GGUF_BOOL || !read_num(g->kv[i].type, g->kv[i].val, &d, &v, &is_int) ||
        !is_int)
        return err_set(e, "metadata %s: type %s, expected an integer", key,
                       gguf_vtype_name(g->kv[i].type));
    *out = v;
    return 1;
}

int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out, struct err *e)
{
    int64_t v = 0;
    int rc = gguf_get_int(g, key, &v, e);
    if (rc <= 0)
        return rc;
    if (v < 0 || v > UINT32_MAX)
        return err_set(e, "metadata %s: value %" PRId64 " out of range 0..%u", key, v, UINT32_MAX);
    *out = (uint32_t)v;
    return 1;
}

int gguf_get_f32(const struct gguf *g, const char *key, float *out, struct err *e)
{
    int64_t i = gguf_find_key(g, key);
    if (i < 0)
        return 0;
    double d = 0;
    int64_t v = 0;
    bool is_int = false;
    if (g->kv[i].type == GGUF_BOOL || !read_num(g->kv[i].type, g->kv[i].val, &d, &v, &is_int))
        return err_set(e, "metadata %s: type %s, expected a number", key,
                       gguf_vtype_name(g->kv[i].type));
    *out = (float)d;
    return 1;
}

int gguf_get_bool(const struct gguf *g, const char *key, bool *out, struct err *e)
{
    int64_t i = gguf_find_key(g, key);
    if (i < 0)
        return 0;
    if (g->kv[i].type != GGUF_BOOL)
        return err_set(e, "metadata %s: type %s, expected bool", key,
                       gguf_vtype_name(g->kv[i].type));
    *out = g->kv[i].val[0] != 0;
    return 1;
}

int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out, struct err *e)
{
    int64_t i = gguf_find_key(g, key);
    if (i < 0)
        return 0;
    if (g->kv[i].type != GGUF_STRING)
        return err_set(e, "metadata %s: type %s, expected string", key,
                       gguf_vtype_name(g->kv[i].type));
    *out = gguf_kv_str(g, i);
    return 1;
}

int gguf_get_arr(const struct gguf *g, const char *key, int want_type, int64_t *idx, struct err *e)
{
    int64_t i = gguf_find_key(g, key);
    if (i < 0)
        return 0;
    if (g->kv[i].type != GGUF_ARRAY)
        return err_set(e, "metadata %s: type %s, expected an array", key,
                       gguf_vtype_name(g->kv[i].type));
    if (want_type >= 0 && g->kv[i].arr_type != (enum gguf_vtype)want_type)
        return err_set(e, "metadata %s: array of %s, expected array of %s", key,
                       gguf_vtype_name(g->kv[i].arr_type), gguf_vtype_name(want_type));
    *idx = i;
    return 1;
}

bool gguf_str_eq(struct gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Tensors */

int64_t gguf_n_tensors(const struct gguf *g) { return g->n_tensors; }
const struct gguf_tensor *gguf_tensor(const struct gguf *g, int64_t i) { return &g->tensors[i]; }

const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name)
{
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return &g->tensors[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Writer: metadata is kept as encoded values so a copied kv is written byte-for-byte. */

struct wkv {
    char *key;
    uint32_t type;
    struct buf val; /* encoded value, as it follows the u32 type in the file */
};

struct wtensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t size;
    uint64_t offset;
};

struct gguf_writer {
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
    FILE *f;
    char *path, *tmp_path;
    size_t cur;          /* tensor being written */
    uint64_t cur_written;
    uint64_t pos;        /* bytes written to the file */
};

struct gguf_writer *gguf_writer_new(void)
{
    struct gguf_writer *w = xcalloc(1, sizeof *w);
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        buf_free(&w->kv[i].val);
    }
    free(w->kv);
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->t);
    if (w->f) {
        fclose(w->f);
        unlink(w->tmp_path);
    }
    free(w->path);
    free(w->tmp_path);
    free(w);
}

/* Returns the slot for key (existing one cleared, or a new one). */
static struct wkv *wkv_slot(struct gguf_writer *w, const char *key, uint32_t type)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            buf_clear(&w->kv[i].val);
            w->kv[i].type = type;
            return &w->kv[i];
        }
    if (w->n_kv == w->cap_kv) {
        w->cap_kv = w->cap_kv ? w->cap_kv * 2 : 32;
        w->kv = xrealloc_array(w->kv, w->cap_kv, sizeof *w->kv);
    }
    struct wkv *kv = &w->kv[w->n_kv++];
    kv->key = xstrdup(key);
    kv->type = type;
    buf_init(&kv->val);
    return kv;
}

void gguf_writer_remove(struct gguf_writer *w, const char *key)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].key);
            buf_free(&w->kv[i].val);
            memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return;
        }
}

int64_t gguf_writer_arr_len(const struct gguf_writer *w, const char *key)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            uint64_t n;
            if (w->kv[i].type != GGUF_ARRAY || w->kv[i].val.len < 12)
                return -1;
            memcpy(&n, w->kv[i].val.data + 4, 8); /* after the u32 element type */
            return n > (uint64_t)INT64_MAX ? -1 : (int64_t)n;
        }
    return -1;
}

static void put_u64(struct buf *b, uint64_t v) { buf_append(b, &v, 8); }
static void put_u32(struct buf *b, uint32_t v) { buf_append(b, &v, 4); }
static void put_str(struct buf *b, const char *s, size_t n)
{
    put_u64(b, n);
    buf_append(b, s, n);
}

void gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
    buf_append(&wkv_slot(w, key, GGUF_UINT32)->val, &v, 4);
}

void gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v)
{
    buf_append(&wkv_slot(w, key, GGUF_INT32)->val, &v, 4);
}

void gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v)
{
    buf_append(&wkv_slot(w, key, GGUF_FLOAT32)->val, &v, 4);
}

void gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v;
    buf_append(&wkv_slot(w, key, GGUF_BOOL)->val, &b, 1);
}

void gguf_writer_set_strn(struct gguf_writer *w, const char *key, const char *v, size_t n)
{
    put_str(&wkv_slot(w, key, GGUF_STRING)->val, v, n);
}

void gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v)
{
    gguf_writer_set_strn(w, key, v, strlen(v));
}

void gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_vtype elem_type,
                         const void *data, uint64_t n)
{
    struct buf *b = &wkv_slot(w, key, GGUF_ARRAY)->val;
    put_u32(b, elem_type);
    put_u64(b, n);
    buf_append(b, data, n * gguf_vtype_size(elem_type));
}

void gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *strs,
                             const size_t *lens, uint64_t n)
{
    struct buf *b = &wkv_slot(w, key, GGUF_ARRAY)->val;
    put_u32(b, GGUF_STRING);
    put_u64(b, n);
    for (uint64_t j = 0; j < n; j++)
        put_str(b, strs[j], lens ? lens[j] : strlen(strs[j]));
}

void gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *r, int64_t i)
{
    const void *p;
    uint64_t n;
    gguf_kv_raw(r, i, &p, &n);
    buf_append(&wkv_slot(w, gguf_kv_key(r, i), gguf_kv_type(r, i))->val, p, n);
}

void gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment)
{
    w->alignment = alignment;
    gguf_writer_set_u32(w, "general.alignment", alignment);
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, struct err *e)
{
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return err_set(e, "tensor %s: %u dimensions (must be 1..4)", name, n_dims);
    struct wtensor t = {0};
    t.type = type;
    t.n_dims = n_dims;
    uint64_t rows = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (d > 0)
            rows *= (uint64_t)t.ne[d];
    }
    uint64_t row;
    if (!dtype_row_bytes(type, (uint64_t)t.ne[0], &row))
        return err_set(e, "tensor %s: row length %" PRId64 " does not fit type %s", name, t.ne[0],
                       dtype_name(type));
    t.size = row * rows;
    t.name = xstrdup(name);
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? w->cap_t * 2 : 64;
        w->t = xrealloc_array(w->t, w->cap_t, sizeof *w->t);
    }
    w->t[w->n_t++] = t;
    return 0;
}

static int wr(struct gguf_writer *w, const void *p, size_t n, struct err *e)
{
    if (n && fwrite(p, 1, n, w->f) != n)
        return err_set(e, "%s: write failed: %s", w->tmp_path, strerror(errno));
    w->pos += n;
    return 0;
}

static int wr_pad(struct gguf_writer *w, struct err *e)
{
    static const uint8_t zeros[4096];
    uint64_t pad = (w->alignment - w->pos % w->alignment) % w->alignment;
    return wr(w, zeros, (size_t)pad, e);
}

int gguf_writer_open(struct gguf_writer *w, const char *path, struct err *e)
{
    w->path = xstrdup(path);
    size_t n = strlen(path) + 5;
    w->tmp_path = xmalloc(n);
    snprintf(w->tmp_path, n, "%s.tmp", path);
    w->f = fopen(w->tmp_path, "wb");
    if (!w->f)
        return err_set(e, "%s: %s", w->tmp_path, strerror(errno));
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        off += (w->t[i].size + w->alignment - 1) / w->alignment * w->alignment;
    }
    struct buf h;
    buf_init(&h);
    buf_append(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, w->n_t);
    put_u64(&h, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&h, w->kv[i].key, strlen(w->kv[i].key));
        put_u32(&h, w->kv[i].type);
        buf_append(&h, w->kv[i].val.data, w->kv[i].val.len);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        put_str(&h, w->t[i].name, strlen(w->t[i].name));
        put_u32(&h, w->t[i].n_dims);
        for (uint32_t d = 0; d < w->t[i].n_dims; d++)
            put_u64(&h, (uint64_t)w->t[i].ne[d]);
        put_u32(&h, w->t[i].type);
        put_u64(&h, w->t[i].offset);
    }
    int rc = wr(w, h.data, h.len, e);
    buf_free(&h);
    if (rc || wr_pad(w, e))
        return -1;
    w->cur = 0;
    w->cur_written = 0;
    return 0;
}

int gguf_writer_write(struct gguf_writer *w, const void *data, size_t n, struct err *e)
{
    while (n > 0) {
        while (w->cur < w->n_t && w->t[w->cur].size == 0)
            w->cur++;
        if (w->cur >= w->n_t)
            return err_set(e, "%s: more tensor data written than declared", w->path);
        struct wtensor *t = &w->t[w->cur];
        uint64_t left = t->size - w->cur_written;
        size_t k = n < left ? n : (size_t)left;
        if (wr(w, data, k, e))
            return -1;
        data = (const uint8_t *)data + k;
        n -= k;
        w->cur_written += k;
        if (w->cur_written == t->size) {
            if (wr_pad(w, e))
                return -1;
            w->cur++;
            w->cur_written = 0;
        }
    }
    return 0;
}

int gguf_writer_close(struct gguf_writer *w, struct err *e)
{
    /* zero-sized tensors complete without a write */
    while (w->cur < w->n_t && w->t[w->cur].size == 0)
        w->cur++;
    if (w->cur != w->n_t)
        return err_set(e, "%s: tensor %s incomplete (%" PRIu64 " of %" PRIu64 " bytes written)",
                       w->path, w->t[w->cur].name, w->cur_written, w->t[w->cur].size);
    int rc = fclose(w->f);
    w->f = NULL;
    if (rc != 0) {
        unlink(w->tmp_path);
        return err_set(e, "%s: close failed: %s", w->tmp_path, strerror(errno));
    }
    if (rename(w->tmp_path, w->path) != 0) {
        unlink(w->tmp_path);
        return err_set(e, "%s: rename failed: %s", w->path, strerror(errno));
    }
    return 0;
}
