/* test_metrics: the Prometheus exposition is parsed back by a strict little reader and its
 * values checked -- HELP/TYPE before samples, label escaping, cumulative buckets ending in +Inf
 * equal to _count, _sum, counters, the in-flight gauge. */
#include "check.h"

#include "gateway/metrics.h"

#include <ctype.h>
#include <stdbool.h>

struct sample {
    char name[128];
    char labels[512]; /* canonical: k="v",k="v" with values unescaped */
    double value;
};

static struct sample g_samples[1024];
static size_t g_n;

/* Parses one exposition line into g_samples (comments checked for order). Returns false with a
 * message on anything malformed. */
static bool parse_exposition(const char *text)
{
    char typed[32][128];
    size_t n_typed = 0;
    char helped[32][128];
    size_t n_helped = 0;
    g_n = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol) {
            fprintf(stderr, "last line not terminated\n");
            return false;
        }
        if (!strncmp(p, "# HELP ", 7) || !strncmp(p, "# TYPE ", 7)) {
            bool help = p[2] == 'H';
            const char *name = p + 7, *sp = memchr(name, ' ', (size_t)(eol - name));
            if (!sp)
                return false;
            char *dst = help ? helped[n_helped++] : typed[n_typed++];
            snprintf(dst, 128, "%.*s", (int)(sp - name), name);
            if (!help) {
                size_t tl = (size_t)(eol - sp - 1);
                if (!((tl == 7 && !strncmp(sp + 1, "counter", 7)) ||
                      (tl == 5 && !strncmp(sp + 1, "gauge", 5)) ||
                      (tl == 9 && !strncmp(sp + 1, "histogram", 9)))) {
                    fprintf(stderr, "bad TYPE line: %.*s\n", (int)(eol - p), p);
                    return false;
                }
                if (n_helped != n_typed || strcmp(helped[n_helped - 1], dst)) {
                    fprintf(stderr, "TYPE %s without its HELP just before\n", dst);
                    return false;
                }
            }
            p = eol + 1;
            continue;
        }
        struct sample *s = &g_samples[g_n++];
        memset(s, 0, sizeof *s);
        size_t i = 0;
        while (p < eol && (isalnum((unsigned char)*p) || *p == '_' || *p == ':'))
            s->name[i++] = *p++;
        /* the sample's family is the last TYPE'd name it starts with */
        bool family = false;
        for (size_t t = 0; t < n_typed && !family; t++)
            family = !strncmp(s->name, typed[t], strlen(typed[t])) && t == n_typed - 1;
        if (!family) {
            fprintf(stderr, "sample %s is not in the family of the last TYPE line\n", s->name);
            return false;
        }
        size_t o = 0;
        if (*p == '{') {
            p++;
            while (*p != '}') {
                while (isalnum((unsigned char)*p) || *p == '_')
                    s->labels[o++] = *p++;
                if (p[0] != '=' || p[1] != '"') {
                    fprintf(stderr, "bad label syntax at: %.20s\n", p);
                    return false;
                }
                s->labels[o++] = '=';
                s->labels[o++] = '"';
                for (p += 2; *p != '"'; p++) {
                    if (*p == '\n' || !*p)
                        return false;
                    if (*p == '\\') {
                        p++;
                        if (*p != '\\' && *p != '"' && *p != 'n') {
                            fprintf(stderr, "bad escape \\%c\n", *p);
                            return false;
                        }
                        s->labels[o++] = *p == 'n' ? '\n' : *p;
                    } else {
                        s->labels[o++] = *p;
                    }
                }
                s->labels[o++] = '"';
                p++;
                if (*p == ',') {
                    s->labels[o++] = ',';
                    p++;
                } else if (*p != '}') {
                    return false;
                }
            }
            p++;
        }
        if (*p != ' ')
            return false;
        char *end;
        s->value = strtod(p + 1, &end);
        if (end != eol) {
            fprintf(stderr, "bad value in: %.*s\n", (int)(eol - p), p);
            return false;
        }
        p = eol + 1;
    }
    return true;
}

/* The value of name{labels}; NAN if absent. */
static double get(const char *name, const char *labels)
{
    for (size_t i = 0; i < g_n; i++)
        if (!strcmp(g_samples[i].name, name) && !strcmp(g_samples[i].labels, labels))
            return g_samples[i].value;
    return NAN;
}

/* Buckets of name{labels,le=...} are non-decreasing in le order and +Inf equals _count. */
static void check_histogram(const char *name, const char *labels, double want_count,
                            double want_sum)
{
    char bucket[160], sum[160], count[160];
    snprintf(bucket, sizeof bucket, "%s_bucket", name);
    snprintf(sum, sizeof sum, "%s_sum", name);
    snprintf(count, sizeof count, "%s_count", name);
    double prev = -1, prev_le = -1, inf = NAN;
    size_t n = 0, len = strlen(labels);
    for (size_t i = 0; i < g_n; i++) {
        const struct sample *s = &g_samples[i];
        if (strcmp(s->name, bucket) || strncmp(s->labels, labels, len) ||
            strncmp(s->labels + len, ",le=\"", 5))
            continue;
        const char *le = s->labels + len + 5;
        double b = !strcmp(le, "+Inf\"") ? INFINITY : strtod(le, NULL);
        CHECK_MSG(b > prev_le, "%s{%s}: le %g after %g", name, labels, b, prev_le);
        CHECK_MSG(s->value >= prev, "%s{%s}: bucket le=%g is %g, below %g", name, labels, b,
                  s->value, prev);
        prev = s->value;
        prev_le = b;
        if (isinf(b))
            inf = s->value;
        n++;
    }
    CHECK_MSG(n >= 2, "%s{%s}: %zu buckets", name, labels, n);
    CHECK_NEAR(inf, get(count, labels), 0);
    CHECK_NEAR(get(count, labels), want_count, 0);
    CHECK_NEAR(get(sum, labels), want_sum, 1e-12);
}

static void test_render(void)
{
    struct metrics *m = metrics_new();
    struct buf out;
    buf_init(&out);
    metrics_render(m, &out);
    CHECK(parse_exposition(out.data));
    CHECK_EQ_INT(g_n, 0); /* families announced, no samples yet */
    CHECK(strstr(out.data, "# TYPE baton_request_duration_seconds histogram\n") != NULL);
    buf_free(&out);

    metrics_inflight_add(m, "small", 1);
    metrics_inflight_add(m, "small", 1);
    metrics_record(m, &(struct metrics_request){"auto", "small", 200, NULL, 100, 50, 3, 0.3, 0.02});
    metrics_inflight_add(m, "small", -1);
    metrics_record(m, &(struct metrics_request){"auto", "small", 200, NULL, 10, 5, 1, 0.004, 0.001});
    metrics_record(m, &(struct metrics_request){"auto", "large", 502, "upstream", 7, 0, 0, 500, -1});
    metrics_record(m, &(struct metrics_request){NULL, "large", 200, NULL, 1, 2, 9, 0.1, 0.05});
    metrics_record(m, &(struct metrics_request){NULL, NULL, 404, "bad_request", 0, 0, 0, 0.0001, -1});
    /* label values are escaped: \ " and newline */
    metrics_record(m, &(struct metrics_request){"r\"1", "t\\2\nx", 200, NULL, 1, 1, 1, 0.2, 0.1});
    buf_init(&out);
    metrics_render(m, &out);
    bool ok = parse_exposition(out.data);
    CHECK(ok);
    if (!ok)
        fputs(out.data, stderr);

    CHECK_NEAR(get("baton_requests_total", "route=\"auto\",tier=\"small\",status=\"200\""), 2, 0);
    CHECK_NEAR(get("baton_requests_total", "route=\"auto\",tier=\"large\",status=\"502\""), 1, 0);
    CHECK_NEAR(get("baton_requests_total", "route=\"\",tier=\"large\",status=\"200\""), 1, 0);
    CHECK_NEAR(get("baton_requests_total", "route=\"\",tier=\"\",status=\"404\""), 1, 0);
    CHECK_NEAR(get("baton_tokens_total", "route=\"auto\",tier=\"small\",direction=\"in\""), 110, 0);
    CHECK_NEAR(get("baton_tokens_total", "route=\"auto\",tier=\"small\",direction=\"out\""), 55, 0);
    CHECK_NEAR(get("baton_tokens_total", "route=\"auto\",tier=\"large\",direction=\"out\""), 0, 0);
    CHECK_NEAR(get("baton_errors_total", "route=\"auto\",tier=\"large\",kind=\"upstream\""), 1, 0);
    CHECK_NEAR(get("baton_errors_total", "route=\"\",tier=\"\",kind=\"bad_request\""), 1, 0);
    CHECK(isnan(get("baton_errors_total", "route=\"auto\",tier=\"small\",kind=\"upstream\"")));
    CHECK_NEAR(get("baton_cost_microusd_total", "route=\"auto\",tier=\"small\""), 4, 0);
    CHECK_NEAR(get("baton_cost_microusd_total", "route=\"\",tier=\"large\""), 9, 0);
    CHECK_NEAR(get("baton_inflight_requests", "tier=\"small\""), 1, 0);

    check_histogram("baton_request_duration_seconds", "route=\"auto\",tier=\"small\"", 2, 0.304);
    /* 500 s is above the last bound: only +Inf counts it */
    check_histogram("baton_request_duration_seconds", "route=\"auto\",tier=\"large\"", 1, 500);
    CHECK_NEAR(get("baton_request_duration_seconds_bucket",
                   "route=\"auto\",tier=\"large\",le=\"300\""), 0, 0);
    CHECK_NEAR(get("baton_request_duration_seconds_bucket",
                   "route=\"auto\",tier=\"small\",le=\"0.005\""), 1, 0);
    CHECK_NEAR(get("baton_request_duration_seconds_bucket",
                   "route=\"auto\",tier=\"small\",le=\"0.25\""), 1, 0);
    CHECK_NEAR(get("baton_request_duration_seconds_bucket",
                   "route=\"auto\",tier=\"small\",le=\"0.5\""), 2, 0);
    check_histogram("baton_time_to_first_token_seconds", "route=\"auto\",tier=\"small\"", 2, 0.021);
    /* a failed request produced no token: its series exists, empty */
    check_histogram("baton_time_to_first_token_seconds", "route=\"auto\",tier=\"large\"", 0, 0);
    /* a boundary value falls in its own bucket (le is <=) */
    CHECK_NEAR(get("baton_time_to_first_token_seconds_bucket",
                   "route=\"\",tier=\"large\",le=\"0.05\""), 1, 0);
    CHECK_NEAR(get("baton_time_to_first_token_seconds_bucket",
                   "route=\"\",tier=\"large\",le=\"0.025\""), 0, 0);

    CHECK_NEAR(get("baton_requests_total", "route=\"r\"1\",tier=\"t\\2\nx\",status=\"200\""), 1, 0);
    CHECK(strstr(out.data, "{route=\"r\\\"1\",tier=\"t\\\\2\\nx\",status=\"200\"} 1\n") != NULL);
    buf_free(&out);
    metrics_free(m);
}

int main(void)
{
    RUN(test_render);
    return check_report();
}
