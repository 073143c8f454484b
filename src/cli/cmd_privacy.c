/* baton privacy: run the sensitive-data detector by hand, and measure it (docs/privacy.md).
 *
 *   baton privacy scan [--config FILE] (-p TEXT | -f FILE) [--mask]
 *       one line per span found: kind, byte offsets; with --mask the masked text instead
 *   baton privacy eval [--config FILE] [--verbose] CORPUS
 *       precision and recall per kind on a labeled corpus (tests/privacy/corpus.txt): one example
 *       per line, spans marked {{kind:value}}, "\n" an escaped newline, '#' lines comments.
 *       A found span is right when it overlaps a marked span of its kind; a marked span is found
 *       when a span of its kind overlaps it. --verbose lists every miss and false alarm.
 *
 * --config takes the custom patterns, term lists and enabled kinds from a serve config.
 */
#include "cli/cli.h"

#include "base/buf.h"
#include "gateway/config.h"
#include "gateway/policy.h"
#include "gateway/privacy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SPANS 256

static void usage(FILE *f)
{
    fprintf(f, "usage: baton privacy scan [--config FILE] (-p TEXT | -f FILE) [--mask]\n"
               "       baton privacy eval [--config FILE] [--verbose] CORPUS\n");
}

static int make_detector(const char *config_path, struct privacy **out)
{
    struct config *cfg = NULL;
    struct err e;
    if (config_path && config_load(config_path, &cfg, &e))
        return cli_fail("%s", e.msg);
    struct privacy_pattern pats[PRIVACY_MAX_KINDS];
    struct privacy_terms terms[PRIVACY_MAX_KINDS];
    struct privacy_options o = {.builtin_mask = (UINT64_C(1) << PK_BUILTIN_COUNT) - 1,
                                .patterns = pats, .terms = terms};
    if (cfg) {
        o.builtin_mask = cfg->privacy.kinds;
        for (size_t i = 0; i < cfg->privacy.n_patterns && i < PRIVACY_MAX_KINDS; i++)
            pats[o.n_patterns++] = (struct privacy_pattern){cfg->privacy.patterns[i].name,
                                                            cfg->privacy.patterns[i].regex};
        for (size_t i = 0; i < cfg->privacy.n_terms && i < PRIVACY_MAX_KINDS; i++)
            terms[o.n_terms++] = (struct privacy_terms){
                cfg->privacy.terms[i].name, (const char *const *)cfg->privacy.terms[i].terms,
                cfg->privacy.terms[i].n_terms};
    }
    int rc = privacy_new(&o, out, &e);
    config_free(cfg);
    return rc ? cli_fail("%s", e.msg) : 0;
}

static int do_scan(struct privacy *p, const char *text, size_t len, bool mask)
{
    if (mask) {
        struct mask *m = mask_new();
        struct buf b;
        buf_init(&b);
        mask_text(p, m, text, len, &b);
        fwrite(b.data ? b.data : "", 1, b.len, stdout);
        putchar('\n');
        buf_free(&b);
        mask_free(m);
        return 0;
    }
    struct privacy_span spans[MAX_SPANS];
    size_t n = privacy_scan(p, text, len, spans, MAX_SPANS);
    for (size_t i = 0; i < n && i < MAX_SPANS; i++)
        printf("%s\t%zu\t%zu\n", privacy_kind_name(p, spans[i].kind), spans[i].start,
               spans[i].end);
    return 0;
}

/* ---- eval ---- */

struct label {
    size_t start, end;
    int kind;
};

struct tally {
    long tp, fp, labels, found;
};

/* Strips the {{kind:value}} marks of line into text, the spans into labels; "\n" unescaped. */
static int parse_line(struct privacy *p, const char *line, struct buf *text, struct label *labels,
                      size_t *n_labels, int lineno)
{
    *n_labels = 0;
    for (const char *s = line; *s;) {
        if (s[0] == '{' && s[1] == '{') {
            const char *colon = strchr(s + 2, ':');
            const char *close = colon ? strstr(colon, "}}") : NULL;
            if (!colon || !close)
                return cli_fail("privacy eval: line %d: unterminated {{kind:value}}", lineno);
            char kind[40];
            snprintf(kind, sizeof kind, "%.*s", (int)(colon - s - 2), s + 2);
            int k = -1;
            for (int j = 0; j < privacy_n_kinds(p); j++)
                if (!strcmp(privacy_kind_name(p, j), kind))
                    k = j;
            if (k < 0)
                return cli_fail("privacy eval: line %d: unknown kind '%s'", lineno, kind);
            size_t start = text->len;
            for (const char *v = colon + 1; v < close; v++) {
                if (v[0] == '\\' && v[1] == 'n') {
                    buf_append(text, "\n", 1);
                    v++;
                } else {
                    buf_append(text, v, 1);
                }
            }
            if (*n_labels < MAX_SPANS)
                labels[(*n_labels)++] = (struct label){start, text->len, k};
            s = close + 2;
        } else if (s[0] == '\\' && s[1] == 'n') {
            buf_append(text, "\n", 1);
            s += 2;
        } else {
            buf_append(text, s++, 1);
        }
    }
    return 0;
}

static bool overlaps(size_t a0, size_t a1, size_t b0, size_t b1) { return a0 < b1 && b0 < a1; }

static int do_eval(struct privacy *p, const char *path, bool verbose)
{
    struct buf file;
    buf_init(&file);
    if (cli_read_file("privacy eval", path, 64u << 20, &file))
        return 1;
    buf_append(&file, "", 1);
    struct tally t[PRIVACY_MAX_KINDS];
    memset(t, 0, sizeof t);
    long lines = 0, negatives = 0, clean_negatives = 0;
    int lineno = 0, rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(file.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (line[0] == '#' || !line[0])
            continue;
        struct buf text;
        buf_init(&text);
        struct label labels[MAX_SPANS];
        size_t n_labels;
        if (parse_line(p, line, &text, labels, &n_labels, lineno)) {
            buf_free(&text);
            rc = 1;
            break;
        }
        lines++;
        struct privacy_span spans[MAX_SPANS];
        size_t n = privacy_scan(p, text.data ? text.data : "", text.len, spans, MAX_SPANS);
        if (n > MAX_SPANS)
            n = MAX_SPANS;
        for (size_t i = 0; i < n; i++) {
            bool ok = false;
            for (size_t j = 0; j < n_labels && !ok; j++)
                ok = labels[j].kind == spans[i].kind &&
                     overlaps(spans[i].start, spans[i].end, labels[j].start, labels[j].end);
            ok ? t[spans[i].kind].tp++ : t[spans[i].kind].fp++;
            if (!ok && verbose)
                printf("false alarm %s: \"%.*s\" in line %d\n", privacy_kind_name(p, spans[i].kind),
                       (int)(spans[i].end - spans[i].start), text.data + spans[i].start, lineno);
        }
        for (size_t j = 0; j < n_labels; j++) {
            bool found = false;
            for (size_t i = 0; i < n && !found; i++)
                found = labels[j].kind == spans[i].kind &&
                        overlaps(spans[i].start, spans[i].end, labels[j].start, labels[j].end);
            t[labels[j].kind].labels++;
            t[labels[j].kind].found += found;
            if (!found && verbose)
                printf("missed %s: \"%.*s\" in line %d\n", privacy_kind_name(p, labels[j].kind),
                       (int)(labels[j].end - labels[j].start), text.data + labels[j].start,
                       lineno);
        }
        if (n_labels == 0) {
            negatives++;
            clean_negatives += n == 0;
        }
        buf_free(&text);
    }
    buf_free(&file);
    if (rc)
        return rc;
    printf("corpus: %s: %ld examples, %ld without sensitive data (%ld of them with no false "
           "alarm)\n\n", path, lines, negatives, clean_negatives);
    printf("%-10s %7s %7s %7s %7s %10s %8s\n", "kind", "labels", "found", "missed", "false+",
           "precision", "recall");
    struct tally all = {0, 0, 0, 0};
    for (int k = 0; k < privacy_n_kinds(p); k++) {
        const struct tally *x = &t[k];
        if (!x->labels && !x->tp && !x->fp)
            continue;
        all.tp += x->tp, all.fp += x->fp, all.labels += x->labels, all.found += x->found;
        printf("%-10s %7ld %7ld %7ld %7ld %10.3f %8.3f\n", privacy_kind_name(p, k), x->labels,
               x->found, x->labels - x->found, x->fp,
               x->tp + x->fp ? (double)x->tp / (double)(x->tp + x->fp) : 1.0,
               x->labels ? (double)x->found / (double)x->labels : 1.0);
    }
    printf("%-10s %7ld %7ld %7ld %7ld %10.3f %8.3f\n", "all", all.labels, all.found,
           all.labels - all.found, all.fp,
           all.tp + all.fp ? (double)all.tp / (double)(all.tp + all.fp) : 1.0,
           all.labels ? (double)all.found / (double)all.labels : 1.0);
    return 0;
}

int cmd_privacy(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2;
    }
    const char *sub = argv[1], *config = NULL, *text = NULL, *file = NULL, *corpus = NULL;
    bool mask = false, verbose = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has_v = i + 1 < argc;
        if (!strcmp(a, "--config") && has_v)
            config = argv[++i];
        else if (!strcmp(a, "-p") && has_v)
            text = argv[++i];
        else if (!strcmp(a, "-f") && has_v)
            file = argv[++i];
        else if (!strcmp(a, "--mask"))
            mask = true;
        else if (!strcmp(a, "--verbose"))
            verbose = true;
        else if (a[0] != '-' && !corpus)
            corpus = a;
        else
            return cli_fail("privacy: unknown or incomplete option '%s'", a);
    }
    if (strcmp(sub, "scan") && strcmp(sub, "eval"))
        return cli_fail("privacy: unknown command '%s' (scan, eval)", sub);
    if (!strcmp(sub, "scan") && !text == !file)
        return cli_fail("privacy scan: give exactly one of -p TEXT or -f FILE");
    if (!strcmp(sub, "eval") && !corpus)
        return cli_fail("privacy eval: give the corpus file");
    struct privacy *p;
    if (make_detector(config, &p))
        return 1;
    int rc;
    if (!strcmp(sub, "eval")) {
        rc = do_eval(p, corpus, verbose);
    } else if (text) {
        rc = do_scan(p, text, strlen(text), mask);
    } else {
        struct buf b;
        buf_init(&b);
        rc = cli_read_file("privacy scan", file, 64u << 20, &b);
        if (!rc)
            rc = do_scan(p, b.data ? b.data : "", b.len, mask);
        buf_free(&b);
    }
    privacy_free(p);
    return rc;
}
