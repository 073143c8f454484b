/* kernels/ref: the scalar reference table (a thin layer over quant_ref.c) and the run-time
 * choice among the tables this CPU can run. */
#include "engine/kernels.h"

#include "engine/quant.h"

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

const struct kernels *kernels_for(const char *name)
{
    if (strcmp(name, "ref") == 0)
        return &g_ref;
    if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
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
