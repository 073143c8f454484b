/* kernels/ref: the scalar reference table (a thin layer over quant_ref.c) and the run-time
 * choice among the tables this CPU can run. */
#include "engine/kernels.h"

#include "engine/quant.h"

#include <cpuid.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static float ref_vec_dot(enum dtype t, int64_t n, const void *w, const void *a)
{
    return quant_vec_dot_ref(t, n, w, a);
}

static void ref_quantize_act(enum dtype act, const float *x, void *y, int64_t n)
{
    if (act == DT_F32)
        memcpy(y, x, (size_t)n * sizeof(float));
    else
        quant_quantize_row_ref(act, x, y, n);
}

static const struct kernels g_ref = {"ref", ref_vec_dot, ref_quantize_act};

const struct kernels *kernels_ref(void) { return &g_ref; }

/* CPU features from cpuid, with the OS's consent to save the wide registers (XCR0), so the
 * answer is the same under gcc and clang (whose __builtin_cpu_supports names differ). */
struct cpu_features {
    bool avx2, fma, f16c;
};

static struct cpu_features cpu_features(void)
{
    struct cpu_features f = {false, false, false};
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return f;
    bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29);
    if (!osxsave)
        return f;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    bool ymm = (xlo & 6) == 6; /* SSE and AVX state */
    if (!ymm || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return f;
    f.avx2 = b & (1u << 5);
    f.fma = fma;
    f.f16c = f16c;
#endif
    return f;
}

const struct kernels *kernels_for(const char *name)
{
    if (strcmp(name, "ref") == 0)
        return &g_ref;
    struct cpu_features f = cpu_features();
    if (strcmp(name, "avx2") == 0 && f.avx2 && f.fma && f.f16c)
        return kernels_avx2();
    return NULL;
}

const struct kernels *kernels_get(void)
{
    static const struct kernels *chosen;
    if (!chosen) {
        const char *force = getenv("BATON_KERNELS");
        static const char *const order[] = {"avx2", "ref"};
        if (force && *force)
            chosen = kernels_for(force);
        for (size_t i = 0; !chosen && i < sizeof order / sizeof *order; i++)
            chosen = kernels_for(order[i]);
    }
    return chosen;
}
