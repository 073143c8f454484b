/* arch: the architecture table (see arch.h). Each row cites what it covers. */
#include "engine/arch.h"

#include <string.h>

static const struct arch g_archs[] = {
    /* Llama 2/3/3.1/3.2, SmolLM/SmolLM2, TinyLlama, Mistral (dense), stories/tinyllamas:
     * GQA or MHA, tied or separate output, rope_freqs for Llama 3.1 scaling. */
    {"llama", ROPE_NORM, OPTIONAL, OPTIONAL},
    /* Qwen2 / Qwen2.5: biases on q, k, v; NeoX rotary pairing. */
    {"qwen2", ROPE_NEOX, REQUIRED, ABSENT},
};

const struct arch *arch_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof g_archs / sizeof *g_archs; i++)
        if (strlen(g_archs[i].name) == len && memcmp(g_archs[i].name, name, len) == 0)
            return &g_archs[i];
    return NULL;
}

const char *arch_supported_list(void) { return "llama, qwen2"; }
