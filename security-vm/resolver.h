/* resolver: name lookups off appfw-secd's main thread.
 *
 * appfw-secd must never wait on DNS: a site list's host names and the
 * destinations of reports are looked up by two worker threads, through
 * the system's resolver (getaddrinfo() for a name's addresses,
 * getnameinfo() for an address's name, so /etc/hosts and
 * /etc/resolv.conf apply).  The main thread queues lookups and collects
 * the answers in its run/wait loop (resolver_fd() becomes readable when
 * answers are waiting).
 *
 * Forward lookups (the policy's names) and reverse lookups (destinations,
 * which guests choose, and whose name servers may be slow on purpose)
 * have a thread and a queue each, so reverse lookups can never hold up
 * the site lists.  At most RESOLVER_MAX_FORWARD and RESOLVER_MAX_REVERSE
 * lookups wait at once; more are refused, and the caller tries again
 * later.  A name or address already queued is not queued twice.
 *
 * Neighbours: sites.c (host names of site lists) and secd.c (reverse
 * lookups for reports) use it. */
#ifndef SECVM_RESOLVER_H
#define SECVM_RESOLVER_H 1

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

#define RESOLVER_MAX_FORWARD 4096
#define RESOLVER_MAX_REVERSE 256
#define RESOLVER_MAX_ADDRS 64

struct resolver;

char *resolver_create(struct resolver **);
void resolver_destroy(struct resolver *);

enum resolver_queued {
    RESOLVER_QUEUED,            /* Its answer will come. */
    RESOLVER_ALREADY,           /* Queued before: that answer will come. */
    RESOLVER_FULL,              /* Not queued: try again later. */
};

/* Queues a lookup of 'name''s IPv4 and IPv6 addresses. */
enum resolver_queued resolver_forward(struct resolver *, const char *name);

/* Queues a lookup of the host name of 'addr'. */
enum resolver_queued resolver_reverse(struct resolver *,
                                      const struct policy_addr *addr);

/* One answer.  Forward: 'name' and its 'addrs' (none when 'error' is set,
 * e.g. "Name or service not known").  Reverse: 'addr' and its 'name' (""
 * when it has none; 'error' says why). */
struct resolver_answer {
    bool reverse;
    char *name;
    char *error;                /* NULL on success. */
    struct policy_addr addr;
    struct policy_addr *addrs;
    size_t n_addrs;
};

/* Takes the next answer into '*a' (free it with resolver_answer_clear()).
 * False when there is none. */
bool resolver_next(struct resolver *, struct resolver_answer *a);
void resolver_answer_clear(struct resolver_answer *);

/* Readable while answers wait. */
int resolver_fd(const struct resolver *);

/* Text form of 'addr' (an IPv4-mapped address as dotted quad) into 'buf'
 * of at least 46 bytes. */
const char *resolver_addr_text(const struct policy_addr *, char *buf);

#endif /* resolver.h */
