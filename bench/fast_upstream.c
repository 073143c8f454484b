/* fast_upstream: the fastest OpenAI-compatible upstream we can put behind a gateway, so that a
 * benchmark measures the gateway and not the model: POST /v1/chat/completions answers at once
 * with a fixed 3-token completion (JSON, or SSE when "stream": true appears in the body).
 *
 *   bench_fast_upstream [PORT]     prints the port once listening; SIGTERM/SIGINT stop it
 *
 * Built from baton's own loop and HTTP server (bench only; not part of the baton binary). */
#include "base/err.h"
#include "net/http_server.h"
#include "net/loop.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct loop *g_loop;

static const char g_json[] =
    "{\"id\":\"chatcmpl-fast\",\"object\":\"chat.completion\",\"created\":1700000000,"
    "\"model\":\"fast\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Hello there friend\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":3,\"total_tokens\":11}}";

static const char g_sse[] =
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"fast\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"fast\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there friend\"},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"fast\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":3,\"total_tokens\":11}}\n\n"
    "data: [DONE]\n\n";

static void handler(struct http_conn *c, const struct http_request *r, void *arg)
{
    (void)arg;
    bool stream = r->body && memmem(r->body, r->body_len, "\"stream\":true", 13);
    if (stream) {
        http_stream_begin(c, 200, "text/event-stream", NULL);
        http_stream_write(c, g_sse, sizeof g_sse - 1);
        http_stream_end(c);
    } else {
        http_respond(c, 200, "application/json", NULL, g_json, sizeof g_json - 1);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    loop_stop(g_loop);
}

int main(int argc, char **argv)
{
    g_loop = loop_new();
    struct http_server_opts o;
    http_server_opts_default(&o);
    o.port = argc > 1 ? atoi(argv[1]) : 0;
    o.max_connections = 10000;
    struct err e;
    struct http_server *s;
    if (http_server_start(g_loop, &o, handler, NULL, &s, &e)) {
        fprintf(stderr, "fast_upstream: %s\n", e.msg);
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    printf("%d\n", http_server_port(s));
    fflush(stdout);
    loop_run(g_loop);
    http_server_free(s);
    loop_free(g_loop);
    return 0;
}
