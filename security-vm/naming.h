/* naming: the naming service, who is where.
 *
 * Keeps the map VM <-> addresses <-> logged-in user (docs/operations.md,
 * "Naming service").  Agents report each guest's addresses and login
 * sessions (the "naming" message); administrators may set a VM's user or
 * addresses by hand ("static"), and what they set wins over what agents
 * report until they unset it.  The behaviours of the founding design:
 *
 *   - one user per VM: the user of the newest session; a login on a VM
 *     logs out the user who was there; a repeated login is ignored;
 *   - a login is recorded only once the VM has a valid address (not
 *     loopback, link-local, multicast or unspecified); until then it
 *     waits;
 *   - an address taken over by another VM is first released from the one
 *     that had it.  An agent's report takes an address only if the VM
 *     that has it is not still reporting it (its agent dropped it, or has
 *     not reported for 'stale_s' seconds: agents report at least every
 *     minute), and never one an administrator set.
 *
 * Each change is an event (login, logout, address, release), written to
 * the store's history and passed to 'publish' for the console's event
 * stream.  The map itself is kept in the store, so a restart keeps it.
 *
 * appfw-secd uses the map to name the user of traffic from VMs without an
 * agent (by source address) and in reports. */
#ifndef SECVM_NAMING_H
#define SECVM_NAMING_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

struct json_object;
struct store;
struct naming;

#define NAMING_MAX_ADDRS 64
#define NAMING_MAX_SESSIONS 256

/* Called with each event, a new JSON object the callee owns. */
typedef void naming_publish_fn(struct json_object *event, void *aux);

/* Seconds after which a VM whose agent no longer reports is stale: its
 * addresses may then go to another VM that reports them. */
#define NAMING_STALE_S 180

struct naming *naming_create(struct store *, int stale_s,
                             naming_publish_fn *, void *aux);
void naming_destroy(struct naming *);

struct naming_session {
    const char *user, *tty, *from;
    int64_t since;              /* Unix seconds. */
};

/* An agent's report for VM 'uuid' (named 'name', may be ""): all its
 * addresses and open sessions, at 'now' (Unix seconds). */
void naming_report(struct naming *, const char *uuid, const char *name,
                   const struct policy_addr *addrs, size_t n_addrs,
                   const struct naming_session *, size_t n_sessions,
                   int64_t now);

/* An administrator's entry for VM 'uuid': 'user' (NULL: leave as is) and
 * 'addrs' (NULL: leave as is).  Returns NULL or a message (an address
 * another VM has as a static entry). */
char *naming_set(struct naming *, const char *uuid, const char *name,
                 const char *user, const struct policy_addr *addrs,
                 size_t n_addrs, const char *account, int64_t now);

/* Drops an administrator's user and/or addresses: the agent's last report
 * applies again.  Returns false if the VM has no entry. */
bool naming_unset(struct naming *, const char *uuid, bool user, bool addrs,
                  const char *account, int64_t now);

/* Forgets VM 'uuid' (a VM deleted for good): its user is logged out and
 * its addresses released.  A later report from it starts over.  Returns
 * false if the VM has no entry. */
bool naming_remove(struct naming *, const char *uuid, const char *account,
                   int64_t now);

/* The user logged in on the VM that has 'addr', or NULL.  With 'uuid',
 * only if that VM is 'uuid' (a VM cannot borrow another's user by using
 * its address). */
const char *naming_user_at(const struct naming *, const struct policy_addr *,
                           const char *uuid);

/* The user logged in on VM 'uuid', or NULL. */
const char *naming_user_of(const struct naming *, const char *uuid);

/* Each VM's entry, by name then uuid. */
struct naming_host_info {
    const char *uuid, *name, *user;
    int64_t since;
    const struct policy_addr *addrs;
    size_t n_addrs;
    bool static_user, static_addrs;
    const char *waiting_user;   /* A login waiting for a valid address. */
};
typedef void naming_cb(const struct naming_host_info *, void *aux);
void naming_list(const struct naming *, naming_cb *, void *aux);

#endif /* naming.h */
