/* libFuzzer target: the serve config parser on arbitrary bytes, and the router on what it
 * accepts. Any input must either be refused with a "<config>:LINE: ..." message or give a config
 * from which a router builds (config.c checks what route.c compiles) and decides for every model
 * name, with and without explain. */
#include "base/buf.h"
#include "gateway/config.h"
#include "gateway/route.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decide_all(const struct router *r, const char *model, const char *text, bool tools)
{
    struct message m = {.role = ROLE_USER, .content = (char *)text};
    struct request req = {.model = (char *)model, .messages = &m, .n_messages = 1,
                          .has_tools = tools, .max_tokens = -1};
    struct route_decision d;
    struct err e;
    if (router_decide(r, &req, &d, &e) != 0)
        abort(); /* every tier and route name must decide */
    if (d.n_tiers < 1 || d.n_tiers > ROUTE_MAX_TIERS || !d.tiers[0] || !d.reason[0])
        abort();
    for (const char *p = d.reason; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            abort(); /* the reason goes into an HTTP header */
    struct buf trace;
    buf_init(&trace);
    struct route_decision d2;
    if (router_explain(r, &req, &d2, &trace, &e) != 0 || strcmp(d2.tiers[0], d.tiers[0]) ||
        strcmp(d2.reason, d.reason))
        abort(); /* explain decides as decide does */
    buf_free(&trace);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    memcpy(copy, data, size);
    struct err e = {{0}};
    struct config *c = NULL;
    if (config_parse(copy, size, "/base", &c, &e) != 0) {
        if (strncmp(e.msg, "<config>:", 9) != 0)
            abort(); /* refusals name the file and line */
        free(copy);
        return 0;
    }
    struct router *r = NULL;
    if (router_new(c, &r, &e) != 0)
        abort(); /* a config that loads must compile */
    static const char *texts[] = {"", "hello", "def f(): ```prove``` PROVE derive\n\xc3\xa9",
                                  "\xff\xfe invalid utf-8 \xc3"};
    for (size_t i = 0; i < c->n_tiers; i++)
        decide_all(r, c->tiers[i].name, "hi", false);
    for (size_t i = 0; i < c->n_routes; i++)
        for (size_t t = 0; t < sizeof texts / sizeof *texts; t++)
            decide_all(r, c->routes[i].name, texts[t], t & 1);
    router_free(r);
    config_free(c);
    free(copy);
    return 0;
}
