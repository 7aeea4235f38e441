/* sites: the addresses of the host names in the policy's site lists.
 *
 * The policy names sites by host name (docs/policy.md, "Sites"); the
 * engine asks sites_has_addr() whether a name has an address.  This module
 * keeps each name's addresses, looks the names up through resolver.c when
 * the policy first names them and again every 'interval' seconds (24 h by
 * default), and sooner (every RETRY seconds, at most the interval) while a
 * name does not resolve.  A name that never resolved has no addresses: it
 * is shown as unresolved, and a deny-all-except list does not let its
 * traffic through.  A name that stops resolving keeps its last addresses
 * until it resolves again, with the error shown.
 *
 * The last answers are kept in the store (table "site"), so that a restart
 * decides with them at once instead of waiting for the resolver.
 *
 * Also answers sites_name_of(): which site an address belongs to, for
 * reports by site. */
#ifndef SECVM_SITES_H
#define SECVM_SITES_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

struct resolver;
struct store;
struct sites;

struct sites *sites_create(struct store *, struct resolver *,
                           int interval_s);
void sites_destroy(struct sites *);

/* Makes the set of names those 'policy' names (NULL: none). */
void sites_sync(struct sites *, const struct policy *);

/* Queues the lookups that are due. */
void sites_run(struct sites *, int64_t now_ms);
/* When the next lookup is due (a time_wall_ms() value), or INT64_MAX. */
int64_t sites_next_ms(const struct sites *);

/* Takes one forward answer from the resolver.  Returns true if the
 * answer changed a name's set of addresses (so decisions that name the
 * site may change too); an error, the same addresses in another order,
 * or a name the policy no longer names change nothing. */
bool sites_answer(struct sites *, const char *name,
                  const struct policy_addr *addrs, size_t n,
                  const char *error, int64_t now_ms);

/* Forces every name to be looked up again at the next sites_run(). */
void sites_refresh(struct sites *);

/* For struct policy_request's site_has_addr: 'aux' is the struct sites. */
bool sites_has_addr(const char *name, const struct policy_addr *,
                    void *aux);

/* The site name 'addr' is an address of, or NULL. */
const char *sites_name_of(const struct sites *, const struct policy_addr *);

/* Each name: its addresses, when it was last resolved (ms, 0: never), the
 * last error or NULL. */
typedef void sites_cb(const char *name, const struct policy_addr *addrs,
                      size_t n, int64_t resolved_ms, const char *error,
                      void *aux);
void sites_list(const struct sites *, sites_cb *, void *aux);

#endif /* sites.h */
