/* privacy_bench: what the sensitive-data detector costs per request (docs/privacy.md).
 *
 *   build/bench_privacy [BYTES] [ITERATIONS]     (defaults 4096, 20000)
 *
 * Builds a prompt of BYTES from prose, code, numbers and a few sensitive values (an e-mail, a
 * phone number, a card, an IP), then times privacy_scan over it -- all built-in kinds, plus one
 * custom regex and one term list, as a config with custom kinds would run -- and prints the
 * median and best of 5 runs in microseconds per scan. (A request's messages are scanned one by
 * one in the same way, so this is the detector's cost per request of that much text.)
 */
#include "base/clock.h"
#include "gateway/privacy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_pieces[] = {
    "Please review the following function and explain what it does, step by step. ",
    "def handler(event, context):\n    items = event.get('items', [])\n    return sum(i['price'] for i in items)\n",
    "The order 1184-2291 shipped on 2024-05-01 and version 2.4.1 fixed the crash. ",
    "Customer wrote from jane.doe@example.com about invoice INV-2024-0042. ",
    "Call back on (415) 555-0132 before 5pm. ",
    "Commit 3f786850e387550fdab836ed7e6dc881de23001b changed the retry logic. ",
    "They paid with 4111 1111 1111 1111 and the server at 203.0.113.7 logged it. ",
    "Summarize the meeting notes: budget is $12,500.00 for Q3, headcount 14, ETA 6 weeks. ",
};

int main(int argc, char **argv)
{
    size_t bytes = argc > 1 ? (size_t)atol(argv[1]) : 4096;
    int iters = argc > 2 ? atoi(argv[2]) : 20000;
    char *text = malloc(bytes + 1);
    size_t n = 0;
    for (size_t k = 0; n < bytes; k++) {
        const char *p = g_pieces[k % (sizeof g_pieces / sizeof *g_pieces)];
        size_t l = strlen(p);
        if (l > bytes - n)
            l = bytes - n;
        memcpy(text + n, p, l);
        n += l;
    }
    text[n] = 0;
    static const char *const terms[] = {"Bluebird", "Nightjar", "Kestrel"};
    struct privacy_pattern pats[] = {{"employee_id", "EMP-[0-9]{6}"}};
    struct privacy_terms tl[] = {{"project", terms, 3}};
    struct privacy_options builtin = {(UINT64_C(1) << PK_BUILTIN_COUNT) - 1, NULL, 0, NULL, 0};
    struct privacy_options custom = {(UINT64_C(1) << PK_BUILTIN_COUNT) - 1, pats, 1, tl, 1};
    const struct privacy_options *opts[] = {&builtin, &custom};
    const char *names[] = {"built-in kinds", "built-in + 1 regex + 3 terms"};
    for (int o = 0; o < 2; o++) {
        struct privacy *p;
        struct err e;
        if (privacy_new(opts[o], &p, &e)) {
            fprintf(stderr, "bench_privacy: %s\n", e.msg);
            return 1;
        }
        struct privacy_span spans[64];
        size_t found = 0;
        double runs[5];
        for (int r = 0; r < 5; r++) {
            uint64_t t0 = clock_now_ns();
            for (int i = 0; i < iters; i++)
                found = privacy_scan(p, text, n, spans, 64);
            runs[r] = (double)(clock_now_ns() - t0) / 1e3 / iters;
        }
        for (int a = 0; a < 5; a++)
            for (int b = a + 1; b < 5; b++)
                if (runs[b] < runs[a]) {
                    double t = runs[a];
                    runs[a] = runs[b];
                    runs[b] = t;
                }
        printf("%-30s %zu bytes, %zu spans: median %.2f us, best %.2f us per scan\n", names[o], n,
               found, runs[2], runs[0]);
        privacy_free(p);
    }
    free(text);
    return 0;
}
