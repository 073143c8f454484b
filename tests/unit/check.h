/* check: the unit-test harness. Each test file defines test functions and a main() that runs them
 * with RUN(); CHECK failures print file:line and the expression, and the process exits non-zero
 * if any check failed. Fixture paths come from $BATON_FIXTURES (default: ../shared next to the
 * source tree, passed in by CTest as BATON_FIXTURES_DEFAULT). */
#ifndef BATON_TESTS_CHECK_H
#define BATON_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        check_count++;                                                              \
        if (!(cond)) {                                                              \
            check_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_MSG(cond, ...)                                                        \
    do {                                                                            \
        check_count++;                                                              \
        if (!(cond)) {                                                              \
            check_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                    \
        }                                                                           \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                 \
    do {                                                                                   \
        long long va_ = (long long)(a), vb_ = (long long)(b);                              \
        CHECK_MSG(va_ == vb_, "%s = %lld, %s = %lld", #a, va_, #b, vb_);                   \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                              \
    do {                                                                                   \
        double va_ = (double)(a), vb_ = (double)(b);                                       \
        CHECK_MSG(fabs(va_ - vb_) <= (tol), "%s = %.9g, %s = %.9g (tol %g)", #a, va_, #b, vb_, \
                  (double)(tol));                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                    \
    do {                                                                                   \
        const char *sa_ = (a), *sb_ = (b);                                                 \
        CHECK_MSG(sa_ && sb_ && strcmp(sa_, sb_) == 0, "\"%s\" != \"%s\"", sa_ ? sa_ : "(null)", \
                  sb_ ? sb_ : "(null)");                                                   \
    } while (0)

#define RUN(fn)                                     \
    do {                                            \
        int before_ = check_failures;               \
        fn();                                       \
        fprintf(stderr, "%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn); \
    } while (0)

static inline int check_report(void)
{
    fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
    return check_failures ? 1 : 0;
}

/* Directory of the shared fixtures (models/, vocab/, templates/). */
static inline const char *check_fixtures(void)
{
    const char *f = getenv("BATON_FIXTURES");
    if (f && *f)
        return f;
    f = getenv("BATON_FIXTURES_DEFAULT");
    return f && *f ? f : "../shared";
}

/* Builds "<fixtures>/<rel>" into a static buffer (one at a time). */
static inline const char *check_fixture(const char *rel)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", check_fixtures(), rel);
    return path;
}

/* Builds "<source dir>/<rel>" into a static buffer. */
static inline const char *check_source(const char *rel)
{
    static char path[4096];
    const char *s = getenv("BATON_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/%s", s && *s ? s : ".", rel);
    return path;
}

/* Reads a whole file; returns NULL if it cannot. Caller frees. */
static inline char *check_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    if (d) {
        d[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return d;
}

#endif
