/* quota: appfw-secd's daily usage of the policy's quotas (policy.h).
 *
 * Usage is counted per UTC day and per quota of the active policy, from
 * the traffic statistics: appfw-switchd's datapath counters charge what
 * they count, and agents' reports only the quotas the datapath cannot
 * (secd.c says which: each piece of traffic comes with the kinds of
 * quota it charges, STORE_CHARGES_* of store.h).  The first time a subject's
 * volume passes its quota in a day the caller hears of it once (to record
 * and publish the violation); a quota whose action is block then denies
 * that subject's new connections until the day ends.  quota_rebuild()
 * recounts the day from the statistics already written, at start and at
 * every policy change, so neither a restart nor a new quota forgets what
 * was used.  Single-threaded, like the rest of secd. */
#ifndef SECVM_QUOTA_H
#define SECVM_QUOTA_H 1

#include <stddef.h>
#include <stdint.h>

struct policy;
struct policy_quota;
struct store;

struct quota;

struct quota *quota_create(void);
void quota_destroy(struct quota *);

/* What one piece of traffic is: any string may be "" (unknown). */
struct quota_traffic {
    const char *vm_uuid, *vm_name, *user, *product, *path;
};

typedef void quota_violation_cb(const struct policy_quota *,
                                int64_t volume, const char *day, void *aux);

/* Forgets the counts and recounts the day of 'now_ms' from the statistics
 * in 'store' under 'policy', each row against the kinds of quota it
 * charged when it was counted.  Calls 'cb' for each quota found passed
 * whose violation 'store' has not recorded today (a new or lowered
 * quota); those it has were reported when they happened. */
void quota_rebuild(struct quota *, struct policy *, struct store *,
                   int64_t now_ms, quota_violation_cb *cb, void *aux);

/* Adds 'bytes' of traffic 't' to the quotas that apply to it whose kind
 * 'charges' names (STORE_CHARGES_* bits); calls 'cb' for each quota it
 * passes for the first time today. */
void quota_add(struct quota *, struct policy *, int64_t now_ms,
               const struct quota_traffic *t, int64_t bytes, int charges,
               quota_violation_cb *cb, void *aux);

/* If a blocking quota that applies to 't' is used up today, returns its
 * rule id ("quota:user:alice", valid until the next call) and writes a
 * reason into 'reason'; else NULL. */
const char *quota_blocks(struct quota *, struct policy *, int64_t now_ms,
                         const struct quota_traffic *t, char *reason,
                         size_t reason_size);

/* Bytes used today under quota 'index' of 'policy'. */
int64_t quota_used(struct quota *, struct policy *, int64_t now_ms,
                   size_t index);

/* "YYYY-MM-DD" (UTC) of 'now_ms'. */
void quota_day(int64_t now_ms, char day[11]);

#endif /* quota.h */
