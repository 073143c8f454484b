/* gguf: reader and writer of GGUF files (versions 2 and 3, little-endian).
 *
 * Byte layout (all integers little-endian, strings are a u64 length then that many bytes, no NUL):
 *
 *   offset  size  field
 *   0       4     magic "GGUF"
 *   4       4     u32 version (2 or 3; version 1 used u32 counts and is refused)
 *   8       8     u64 n_tensors
 *   16      8     u64 n_kv
 *   24      ...   n_kv key/value pairs: string key, u32 value type, value
 *                 (value types 0..12: u8 i8 u16 i16 u32 i32 f32 bool string array u64 i64 f64;
 *                  an array is u32 element type, u64 count, then the elements; nested arrays
 *                  are refused)
 *   ...     ...   n_tensors tensor infos: string name, u32 n_dims (1..4), u64 ne[n_dims],
 *                 u32 ggml type, u64 offset relative to the data section
 *   ...     pad   zero bytes up to a multiple of general.alignment (u32, power of two, default 32)
 *   data    ...   tensor data; each tensor's offset is a multiple of the alignment
 *
 * The reader maps the file and points into it: tensor data and string values are zero-copy and
 * stay valid until gguf_close. Every count, offset, size, type and string length is checked
 * against the file before it is used; a bad file yields a one-line error naming the field and the
 * numbers, never an out-of-bounds read. Numeric values in the mapping may be unaligned, so the
 * accessors copy them out.
 */
#ifndef BATON_ENGINE_GGUF_H
#define BATON_ENGINE_GGUF_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gguf_vtype {
    GGUF_UINT8 = 0,
    GGUF_INT8 = 1,
    GGUF_UINT16 = 2,
    GGUF_INT16 = 3,
    GGUF_UINT32 = 4,
    GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6,
    GGUF_BOOL = 7,
    GGUF_STRING = 8,
    GGUF_ARRAY = 9,
    GGUF_UINT64 = 10,
    GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
    GGUF_VTYPE_COUNT = 13,
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

/* A string inside the mapping: not NUL-terminated. */
struct gguf_str {
    const char *ptr;
    uint64_t len;
};

struct gguf_tensor {
    const char *name;       /* NUL-terminated, owned by the gguf handle */
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* elements per dimension; ne[0] is the row length; unused = 1 */
    uint32_t type;          /* enum dtype */
    uint64_t offset;        /* relative to the data section */
    uint64_t size;          /* bytes */
    const void *data;       /* into the mapping */
};

struct gguf;

/* Maps and validates the file at path. On success *out owns the mapping; release with gguf_close. */
int gguf_open(const char *path, struct gguf **out, struct err *e);
/* Validates a GGUF image already in memory; data is borrowed and must outlive the handle. */
int gguf_open_mem(const void *data, size_t size, struct gguf **out, struct err *e);
void gguf_close(struct gguf *g);

uint32_t gguf_version(const struct gguf *g);
uint64_t gguf_file_size(const struct gguf *g);
uint32_t gguf_alignment(const struct gguf *g);
/* Offset of the data section from the start of the file. */
uint64_t gguf_data_offset(const struct gguf *g);

/* ---- key/value metadata ---- */
int64_t gguf_n_kv(const struct gguf *g);
int64_t gguf_find_key(const struct gguf *g, const char *key); /* -1 if absent */
const char *gguf_kv_key(const struct gguf *g, int64_t i);
enum gguf_vtype gguf_kv_type(const struct gguf *g, int64_t i);
/* For arrays: element type and count. For strings: len is the byte length. */
enum gguf_vtype gguf_kv_arr_type(const struct gguf *g, int64_t i);
uint64_t gguf_kv_len(const struct gguf *g, int64_t i);
/* Raw pointer to a scalar value, or to the first element of a numeric array (maybe unaligned). */
const void *gguf_kv_data(const struct gguf *g, int64_t i);
/* Raw bytes of the whole value as stored in the file (for copying a kv into a new file). */
void gguf_kv_raw(const struct gguf *g, int64_t i, const void **p, uint64_t *n);
struct gguf_str gguf_kv_str(const struct gguf *g, int64_t i);
/* Element j of an array of strings / of a numeric array converted to double / int64. */
struct gguf_str gguf_arr_str(const struct gguf *g, int64_t i, uint64_t j);
double gguf_arr_num(const struct gguf *g, int64_t i, uint64_t j);
int64_t gguf_arr_int(const struct gguf *g, int64_t i, uint64_t j);
/* Size in bytes of one element of a scalar type (0 for string/array). */
size_t gguf_vtype_size(enum gguf_vtype t);
const char *gguf_vtype_name(enum gguf_vtype t);

/* Typed lookups by key. Each returns 1 if found and converted, 0 if absent (out untouched),
 * -1 (with e filled) if present with a type or value that cannot be converted. Integer lookups
 * accept any integer type whose value fits; float lookups accept f32, f64 and integers. */
int gguf_get_int(const struct gguf *g, const char *key, int64_t *out, struct err *e);
int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out, struct err *e);
int gguf_get_f32(const struct gguf *g, const char *key, float *out, struct err *e);
int gguf_get_bool(const struct gguf *g, const char *key, bool *out, struct err *e);
int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out, struct err *e);
/* Finds an array; checks its element type if want_type >= 0. Returns the kv index via *idx. */
int gguf_get_arr(const struct gguf *g, const char *key, int want_type, int64_t *idx, struct err *e);
/* Compares a gguf_str with a C string. */
bool gguf_str_eq(struct gguf_str s, const char *c);

/* ---- tensors ---- */
int64_t gguf_n_tensors(const struct gguf *g);
const struct gguf_tensor *gguf_tensor(const struct gguf *g, int64_t i);
const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name); /* NULL if absent */

/* ---- writer ----
 * Usage: w = gguf_writer_new(); set kvs; add tensor infos; gguf_writer_open(w, path) writes the
 * header to path.tmp; then for each tensor in the order added, gguf_writer_write() its bytes
 * (in one or more calls); gguf_writer_close() checks every tensor was written in full, and
 * renames path.tmp to path. gguf_writer_free() releases w (and removes an unfinished file). */
struct gguf_writer;

struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);
/* Setters replace an existing key of the same name. Strings are copied. */
void gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
void gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v);
void gguf_writer_set_strn(struct gguf_writer *w, const char *key, const char *v, size_t n);
/* Numeric array: n elements of elem_type, little-endian packed in data. */
void gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_vtype elem_type,
                         const void *data, uint64_t n);
/* String array: strs[j] with lens[j] bytes (lens may be NULL for NUL-terminated strings). */
void gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *strs,
                             const size_t *lens, uint64_t n);
/* Copies key i of reader r as it is stored. */
void gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *r, int64_t i);
void gguf_writer_remove(struct gguf_writer *w, const char *key);
/* Element count of array `key` set so far, or -1 if there is no such array. */
int64_t gguf_writer_arr_len(const struct gguf_writer *w, const char *key);
void gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment);
/* Declares a tensor; data must follow in declaration order. Returns -1 on a bad shape/type. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, struct err *e);
int gguf_writer_open(struct gguf_writer *w, const char *path, struct err *e);
int gguf_writer_write(struct gguf_writer *w, const void *data, size_t n, struct err *e);
int gguf_writer_close(struct gguf_writer *w, struct err *e);

#endif
