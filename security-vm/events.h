/* events: appfw-secd's live event stream, served on the console.
 *
 * Every event secd publishes (decisions, policy versions, naming changes,
 * quota violations) gets the next sequence number and joins a ring of the
 * newest EVENTS_KEPT.  A console client (appfwctl decisions tail) asks
 * with the console command "events.next", which console.c authenticates
 * and authorizes like every other command (level manager, as
 * decisions.query): {"cmd": "events.next", "after": SEQ, "wait_ms": MS}.
 * The answer is {"ok": true, "events": [...], "next": SEQ, "lost": N}:
 * the events after SEQ (at most EVENTS_PER_REPLY), the SEQ to ask after
 * next time, and how many it missed because the ring moved on.  Without
 * "after" the answer has no events and only "next", the current end.
 * When nothing is newer, the request is held until an event comes or
 * "wait_ms" (at most EVENTS_WAIT_MAX_MS) passes, for at most
 * EVENTS_WAITERS requests at once; others are answered at once.  A slow
 * client loses events; secd never waits for it.
 *
 * (nng's PUB/SUB, which served the stream before, cannot authenticate a
 * subscriber: neither its peer's credentials nor a token reach secd.) */
#ifndef SECVM_EVENTS_H
#define SECVM_EVENTS_H 1

#include <stdint.h>

#define EVENTS_KEPT 4096
#define EVENTS_PER_REPLY 256
#define EVENTS_WAITERS 32
#define EVENTS_WAIT_MAX_MS 10000

struct json_object;
struct rpc_request;
struct rpc_server;

struct events;

/* A stream whose held requests are answered on 'console'. */
struct events *events_create(struct rpc_server *console);

/* Answers the held requests (with no events) and frees the stream. */
void events_destroy(struct events *);

/* Publishes 'event' (takes ownership) and answers the held requests. */
void events_publish(struct events *, struct json_object *event);

/* The answer to the console request 'rq' received as 'req', or NULL if
 * the stream holds 'req' to answer it later itself. */
struct json_object *events_next(struct events *, struct rpc_request *req,
                                const struct json_object *rq);

/* Answers the held requests whose time is up; events_wait() wakes the
 * loop for the next. */
void events_run(struct events *);
void events_wait(const struct events *);

#endif /* events.h */
