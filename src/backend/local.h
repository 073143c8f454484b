/* local: the backend that runs a GGUF model with baton's own engine.
 *
 * One worker thread per local tier owns the model, a forward-pass object and up to n_slots
 * sequences (each with its own KV cache). It advances every active sequence by one token per
 * round, so concurrent requests all progress (batching them into one forward pass is the
 * performance work's). Requests beyond the free slots wait in a queue of max_queue; beyond that,
 * start() answers START_BUSY (the server's 503 + Retry-After). A prompt that does not fit the
 * context is refused at start with START_BAD_REQUEST naming the numbers.
 *
 * Threads: start/cancel run on the loop thread; the worker posts events back to the loop with
 * loop_post. A cancelled call stops at the worker's next step (within one token's time) and no
 * event reaches the caller after cancel returns.
 */
#ifndef BATON_BACKEND_LOCAL_H
#define BATON_BACKEND_LOCAL_H

#include "backend/backend.h"
#include "gateway/config.h"

/* Loads the tier's model and starts its worker. t must outlive the backend. */
struct backend *local_new(struct loop *l, const struct tier_config *t, struct err *e);

#endif
