/* kernels/ref: the scalar reference table, a thin layer over quant_ref.c. */
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

const struct kernels *kernels_get(void)
{
    static const struct kernels *chosen;
    if (!chosen) {
        const char *force = getenv("BATON_KERNELS");
        (void)force; /* only the reference exists so far */
        chosen = &g_ref;
    }
    return chosen;
}
