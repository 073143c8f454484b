/* policy: what a route's privacy policy does with a request the detector flags (docs/privacy.md).
 *
 *   local-only  the request may only go to local tiers, whatever the router said
 *   mask        sensitive spans are replaced by placeholders ([EMAIL_1], [CARD_2], ...) before the
 *               request leaves the machine (a remote tier), and the placeholders are replaced back
 *               in the answer's text and tool-call arguments -- streaming included, where a
 *               placeholder may be split across chunks: text that could still become a
 *               placeholder is held back until it cannot
 *   block       refused with 403 naming the kinds found, never the values
 *
 * The same value gets the same placeholder throughout a request, so a model can refer to it.
 * Placeholders name the kind (custom kinds upper-cased); values live only in the struct mask of
 * the request, in memory, and are freed with it.
 */
#ifndef BATON_GATEWAY_POLICY_H
#define BATON_GATEWAY_POLICY_H

#include "api/request.h"
#include "base/buf.h"
#include "gateway/config.h"
#include "gateway/privacy.h"

#include <stdint.h>

/* What the detector found in a request: a bit per kind, and how many spans. */
struct policy_findings {
    uint64_t kinds;
    size_t n_spans;
};

/* Scans every message's content (or the prompt) of req, and the arguments of the tool calls in
 * its assistant messages. */
void policy_scan_request(struct privacy *p, const struct request *req, struct policy_findings *f);
/* "email, card" into out. */
void policy_kinds_str(const struct privacy *p, uint64_t kinds, char *out, size_t size);
const char *policy_name(enum privacy_policy pol);

struct mask;
struct mask *mask_new(void);
void mask_free(struct mask *m);

/* Replaces every sensitive span of req's text (messages, prompt, assistant messages' tool-call
 * arguments -- the strings inside the JSON, decoded -- and the same fields of the client's JSON
 * body that remote tiers pass through) by its placeholder. Returns the number of spans replaced. */
size_t policy_mask_request(struct privacy *p, struct mask *m, struct request *req);
/* Masks one string: appends the masked text to out. For tests and policy_mask_request. */
size_t mask_text(struct privacy *p, struct mask *m, const char *text, size_t len, struct buf *out);

/* One restored stream's state: the bytes held back because they may still become a placeholder
 * (only '[' and placeholder characters, never a value). The caller owns one per stream -- the
 * answer text, each tool call's arguments -- so streams that interleave stay apart;
 * mask_stream_init and mask_stream_free in pairs. Fields are policy.c's. */
struct mask_stream {
    struct buf held;
};
void mask_stream_init(struct mask_stream *st);
void mask_stream_free(struct mask_stream *st);

/* How a restored value is written into the stream. */
enum mask_escape {
    MASK_RAW,  /* as it is: answer text */
    MASK_JSON, /* as the body of a JSON string (buf_put_json_escaped): tool-call arguments are
                * JSON text, and a placeholder in them is raw characters inside a string literal,
                * so a value with '"' or '\' must not end the literal */
};

/* Restores placeholders in the next piece of a stream: appends what can be released to out and
 * keeps a possible placeholder prefix in st for the next call. A complete placeholder m issued
 * becomes its value (escaped as esc says); anything else is released unchanged. */
void mask_restore(const struct mask *m, struct mask_stream *st, enum mask_escape esc,
                  const char *text, size_t len, struct buf *out);
/* At the end of the stream: releases whatever st held back (as it came: it is no placeholder). */
void mask_restore_flush(const struct mask *m, struct mask_stream *st, enum mask_escape esc,
                        struct buf *out);

#endif
