/* request: lifetime and text helpers of the normalized request (see request.h). */
#include "api/request.h"

#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

void request_free(struct request *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_messages; i++) {
        free(r->messages[i].content);
        free(r->messages[i].name);
        free(r->messages[i].tool_call_id);
        if (r->messages[i].tool_calls)
            json_decref(r->messages[i].tool_calls);
    }
    free(r->messages);
    for (size_t i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    free(r->stop);
    free(r->id);
    free(r->model);
    free(r->prompt);
    free(r->user);
    if (r->body)
        json_decref(r->body);
    free(r);
}

size_t request_text_bytes(const struct request *r)
{
    size_t n = r->prompt ? strlen(r->prompt) : 0;
    for (size_t i = 0; i < r->n_messages; i++)
        n += r->messages[i].content ? strlen(r->messages[i].content) : 0;
    return n;
}

char *request_text(const struct request *r)
{
    struct buf b;
    buf_init(&b);
    if (r->prompt)
        buf_puts(&b, r->prompt);
    for (size_t i = 0; i < r->n_messages; i++) {
        if (b.len)
            buf_putc(&b, '\n');
        if (r->messages[i].content)
            buf_puts(&b, r->messages[i].content);
    }
    return buf_detach(&b);
}

const char *role_name(enum role r)
{
    static const char *names[] = {"system", "user", "assistant", "tool", "developer"};
    return (unsigned)r < sizeof names / sizeof *names ? names[r] : "user";
}
