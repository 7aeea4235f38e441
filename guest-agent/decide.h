/* decide: the agent's "decide" message, written without building json-c
 * objects.
 *
 * A decide is the agent's question for every flow its caches do not
 * answer, and its encoding is on the path of a held connect().  Built as
 * json-c objects and printed by json-c, it was the agent's largest
 * user-space cost there (allocating a dozen objects, then printing about
 * 750 bytes member by member, integers through snprintf()).
 *
 * Most of those bytes are the identity ("app", "process" and "user"),
 * which stays the same for every question of one process.
 * decide_identity_text() prints it once, through identity_to_json() and
 * json-c, so every string from /proc keeps the checks and escaping it has
 * there.  decide_encode() then writes each decide as a few members the
 * agent makes itself (event and protocol names, addresses, ports, the
 * cookie, the question id) around that text.  Their strings are ASCII
 * the agent printed itself; they are escaped as JSON strings all the same
 * (quotes, backslashes, control characters).
 *
 * The result is the message docs/protocol.md describes; the member order
 * differs from json-c's, which JSON does not fix.  tests/test-decide.c
 * checks it against the json-c encoding and common/msg.h's schema.
 *
 * Neighbours: identity.h (the identity), common/chan.h (chan_send_raw()
 * frames and sends the bytes). */
#ifndef APPFW_DECIDE_H
#define APPFW_DECIDE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct identity;

/* The members of one decide besides its identity and id. */
struct decide_fields {
    const char *event;          /* "connect", "send", "accept", "listen". */
    const char *protocol;       /* "tcp", "udp". */
    bool inbound;
    const char *local_addr;     /* Printed addresses. */
    uint16_t local_port;
    const char *remote_addr;    /* NULL: no "remote" (a listen). */
    uint16_t remote_port;
    int64_t cookie;             /* < 0: no "cookie". */
};

/* The identity members of a decide for 'id', as JSON text without the
 * enclosing braces ("app":{...},"process":{...},"user":{...}), in a new
 * string.  Stores its length in '*lenp'. */
char *decide_identity_text(const struct identity *id, size_t *lenp);

/* Appends to 'out' the decide with question 'id', 'f' and the identity
 * text from decide_identity_text().  Returns 0 or ENOMEM. */
int decide_encode(struct buf *out, int64_t id, const struct decide_fields *f,
                  const char *identity, size_t identity_len);

#endif /* decide.h */
