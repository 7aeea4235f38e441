/* appfw-secd's event stream.  See events.h. */
#include "events.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/loop.h"
#include "common/msg.h"
#include "common/rpc.h"
#include "common/util.h"

struct waiter {
    struct rpc_request *req;
    int64_t after;
    int64_t deadline_ms;        /* time_mono_ms() */
};

struct events {
    struct rpc_server *console;
    struct json_object *ring[EVENTS_KEPT];  /* Event 'seq' at seq % KEPT. */
    int64_t seq;                /* The newest event's number (0: none). */
    struct waiter waiters[EVENTS_WAITERS];
    size_t n_waiters;
};

struct events *
events_create(struct rpc_server *console)
{
    struct events *e = xcalloc(1, sizeof *e);
    e->console = console;
    return e;
}

/* The answer for a client that has seen the events up to 'after'. */
static struct json_object *
answer(const struct events *e, int64_t after)
{
    int64_t oldest = e->seq >= EVENTS_KEPT ? e->seq - EVENTS_KEPT + 1 : 1;
    if (after > e->seq) {
        after = 0;              /* From before a restart of secd. */
    }
    int64_t lost = after + 1 < oldest ? oldest - (after + 1) : 0;
    int64_t first = after + 1 < oldest ? oldest : after + 1;
    int64_t last = first + EVENTS_PER_REPLY - 1 < e->seq
                   ? first + EVENTS_PER_REPLY - 1 : e->seq;

    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "ok", json_object_new_boolean(true));
    struct json_object *list = json_object_new_array();
    for (int64_t s = first; s <= last; s++) {
        json_object_array_add(list, json_object_get(
                                  e->ring[s % EVENTS_KEPT]));
    }
    json_object_object_add(r, "events", list);
    msg_put_int(r, "next", last >= first ? last : after);
    msg_put_int(r, "lost", lost);
    return r;
}

static void
reply(struct events *e, struct rpc_request *req, struct json_object *r)
{
    const char *text = json_object_to_json_string_ext(
        r, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    rpc_request_reply(e->console, req, text, strlen(text));
    json_object_put(r);
}

/* Answers the held requests that have something new or whose time is up
 * at 'now' ('all': every one). */
static void
answer_waiters(struct events *e, bool all, int64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < e->n_waiters; i++) {
        struct waiter *w = &e->waiters[i];
        if (all || w->after < e->seq || now >= w->deadline_ms) {
            reply(e, w->req, answer(e, w->after));
        } else {
            e->waiters[kept++] = *w;
        }
    }
    e->n_waiters = kept;
}

void
events_destroy(struct events *e)
{
    if (e) {
        answer_waiters(e, true, 0);
        for (size_t i = 0; i < EVENTS_KEPT; i++) {
            json_object_put(e->ring[i]);
        }
        free(e);
    }
}

void
events_publish(struct events *e, struct json_object *event)
{
    e->seq++;
    json_object_put(e->ring[e->seq % EVENTS_KEPT]);
    e->ring[e->seq % EVENTS_KEPT] = event;
    if (e->n_waiters) {
        answer_waiters(e, false, time_mono_ms());
    }
}

struct json_object *
events_next(struct events *e, struct rpc_request *req,
            const struct json_object *rq)
{
    if (!msg_get(rq, "after")) {
        return answer(e, e->seq);
    }
    int64_t after = msg_get_int(rq, "after", 0);
    int64_t wait_ms = msg_get_int(rq, "wait_ms", 1000);
    after = after < 0 ? 0 : after;
    if (after != e->seq || wait_ms <= 0 || e->n_waiters >= EVENTS_WAITERS) {
        return answer(e, after);    /* Something new, or no waiting. */
    }
    e->waiters[e->n_waiters++] = (struct waiter) {
        .req = req, .after = after,
        .deadline_ms = time_mono_ms() + (wait_ms < EVENTS_WAIT_MAX_MS
                                         ? wait_ms : EVENTS_WAIT_MAX_MS),
    };
    return NULL;
}

void
events_run(struct events *e)
{
    if (e->n_waiters) {
        answer_waiters(e, false, time_mono_ms());
    }
}

void
events_wait(const struct events *e)
{
    for (size_t i = 0; i < e->n_waiters; i++) {
        loop_timer_wait_until(e->waiters[i].deadline_ms);
    }
}
