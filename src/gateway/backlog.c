/* backlog: see backlog.h. */
#include "gateway/backlog.h"

#include "base/log.h"

size_t backlog_high_water(size_t max)
{
    size_t reserve = max / 4 < BACKLOG_RESERVE_ROWS ? max / 4 : BACKLOG_RESERVE_ROWS;
    return max - reserve;
}

void backlog_init(struct backlog *b, const char *store, const char *name, const char *rows,
                  size_t max)
{
    b->store = store;
    b->name = name;
    b->rows = rows;
    atomic_init(&b->max, max ? max : 1);
    b->mark = backlog_high_water(max ? max : 1);
    atomic_init(&b->n, 0);
    atomic_init(&b->room, true);
}

void backlog_set_max(struct backlog *b, size_t max)
{
    atomic_store(&b->max, max ? max : 1);
    b->mark = backlog_high_water(max ? max : 1);
    backlog_count(b, atomic_load(&b->n));
}

void backlog_count(struct backlog *b, size_t n)
{
    atomic_store(&b->n, n);
    bool room = n < b->mark;
    if (room == atomic_load(&b->room))
        return;
    atomic_store(&b->room, room);
    if (!room)
        log_error("%s %s: %zu %s wait for the database (high-water mark %zu of at most %zu); new "
                  "completion requests are refused until they are committed", b->store, b->name,
                  n, b->rows, b->mark, atomic_load(&b->max));
    else
        log_warn("%s %s: %zu %s wait for the database, below the high-water mark (%zu); "
                 "completion requests are served again", b->store, b->name, n, b->rows, b->mark);
}
