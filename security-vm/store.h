/* store: appfw-secd's SQLite database (WAL; schema in PRAGMA user_version,
 * migrated forward at open).  The only file of security-vm/ that includes
 * sqlite3.h.
 *
 *   policy versions  every version kept, with author, time and comment; one
 *                    is active; rollback adds a new version with an old
 *                    text, so history only grows;
 *   vms              the VM registry (uuid, name, ofport, MAC, last seen);
 *   audit            one row per decision, written in batches
 *                    (store_audit_add() queues, store_flush() writes in one
 *                    transaction), pruned to a row limit;
 *   stats            counters per (minute, VM, application, user, rule,
 *                    destination, protocol, the quotas they charge);
 *   account, change  console accounts, and the log of every change made
 *                    through the console with its account (admin.h).
 *
 * Queued audit rows and counters are lost only if the process dies between
 * flushes: secd flushes every flush-ms and at a clean shutdown, or, with
 * durable-decisions, before it answers the decisions of each pass
 * (docs/operations.md, "Durability").
 *
 * Functions return 0 or a positive errno; store_last_error() explains. */
#ifndef SECVM_STORE_H
#define SECVM_STORE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

char *store_open(const char *path, struct store **);
void store_close(struct store *);

/* With 'full', every commit is on disk when it returns (PRAGMA synchronous
 * = FULL: the WAL is fsync'd at each commit), so it survives a power cut
 * too; without (the default, NORMAL), a commit survives the process's
 * crash but the last ones may roll back after a power cut. */
int store_set_synchronous_full(struct store *, bool full);
const char *store_last_error(const struct store *);

/* Policy versions. */
struct store_policy {
    int64_t version;
    char *author;
    int64_t time;               /* Unix seconds. */
    char *comment;
    char *text;
    bool active;
};

void store_policy_clear(struct store_policy *);

/* Adds 'text' as a new version and makes it active, atomically.  '*version'
 * receives its number. */
int store_policy_add(struct store *, const char *text, const char *author,
                     const char *comment, int64_t *version);

/* The active version (ENOENT if there is none), or a given one. */
int store_policy_active(struct store *, struct store_policy *);
int store_policy_get(struct store *, int64_t version, struct store_policy *);

/* Calls 'cb' for each version, newest first (text not filled in). */
typedef void store_policy_cb(const struct store_policy *, void *aux);
int store_policy_history(struct store *, size_t limit, store_policy_cb *,
                         void *aux);

/* Console accounts (docs/operations.md, "Accounts").  'level' is
 * "system-admin", "admin", "manager" or "none"; 'groups' a JSON array of
 * "vm:NAME" / "user:NAME" (the groups a manager owns); 'unix_user' and
 * 'token_sha256' may be "" (none), and are unique when set. */
struct store_account {
    const char *name, *level, *unix_user, *token_sha256, *groups;
    int64_t created;
    const char *created_by;
};
typedef void store_account_cb(const struct store_account *, void *aux);

/* Adds or replaces the account named a->name.  EEXIST if another account
 * has its unix user or token. */
int store_account_put(struct store *, const struct store_account *);
/* ENOENT if there is no such account. */
int store_account_delete(struct store *, const char *name);

enum store_account_key {
    STORE_ACCOUNT_NAME, STORE_ACCOUNT_UNIX_USER, STORE_ACCOUNT_TOKEN
};
/* Calls 'cb' for the account whose 'key' is 'value'; ENOENT if none. */
int store_account_find(struct store *, enum store_account_key,
                       const char *value, store_account_cb *, void *aux);
int store_account_list(struct store *, store_account_cb *, void *aux);

/* The hypervisors: each one's name and the SHA-256 (hex) of its token. */
int store_hypervisor_put(struct store *, const char *name,
                         const char *token_sha256, const char *created_by);
/* ENOENT if there is no such hypervisor. */
int store_hypervisor_delete(struct store *, const char *name);
typedef void store_hypervisor_cb(const char *name, const char *token_sha256,
                                 int64_t created, const char *created_by,
                                 void *aux);
int store_hypervisor_list(struct store *, store_hypervisor_cb *, void *aux);

/* The change log: every change made through the console, with the account
 * that made it.  Newest first. */
int store_change_add(struct store *, const char *account, const char *action,
                     const char *detail);
typedef void store_change_cb(int64_t time, const char *account,
                             const char *action, const char *detail,
                             void *aux);
int store_change_list(struct store *, size_t limit, store_change_cb *,
                      void *aux);

/* Quota violations: one row per (UTC day "YYYY-MM-DD", kind, subject),
 * the first time the day's volume went over the quota. */
struct store_violation {
    const char *day, *kind, *subject;
    int64_t quota, volume;      /* Bytes per day; bytes so far. */
    int64_t time;               /* Unix seconds. */
};
/* Records 'v' unless that day's violation of that subject is recorded. */
int store_quota_violation_add(struct store *, const struct store_violation *);
typedef void store_violation_cb(const struct store_violation *, void *aux);
/* Since 'since_day' ("YYYY-MM-DD"), newest first. */
int store_quota_violations(struct store *, const char *since_day,
                           store_violation_cb *, void *aux);

/* Bytes (in + out) per (VM, application, user, charges) since
 * 'since_ms', from the written statistics (call store_flush() first),
 * without the rows that charge no quota. */
typedef void store_usage_cb(const char *vm, const char *app,
                            const char *user, int charges, int64_t bytes,
                            void *aux);
int store_stats_usage(struct store *, int64_t since_ms, store_usage_cb *,
                      void *aux);

/* VMs. */
struct store_vm {
    const char *uuid;
    const char *name;
    int ofport;                 /* 0 if unknown. */
    const char *mac;
    const char *hypervisor;
    int64_t first_seen, last_seen;
    int64_t decisions, denials;
};

int store_vm_seen(struct store *, const char *uuid, const char *name,
                  int ofport, const char *mac, const char *hypervisor);
typedef void store_vm_cb(const struct store_vm *, void *aux);
int store_vm_list(struct store *, store_vm_cb *, void *aux);

/* Audit. */
struct store_audit {
    int64_t time_ms;
    const char *vm_uuid, *vm_name, *user, *app_path, *sha256, *product,
               *category, *event, *protocol, *direction, *local, *remote;
    int local_port, remote_port;
    bool allow;
    const char *rule, *reason;
    int64_t policy_version;
};

/* Queues a row (copied).  Returns false, and counts it, if the queue is
 * full (store_set_queue_max()): then the row is lost. */
bool store_audit_add(struct store *, const struct store_audit *);
size_t store_audit_queued(const struct store *);

/* Bounds on what waits for the next write, which grow while writes fail
 * and which guests' traffic fills: the queue's bytes (audit rows and
 * statistics together; default STORE_QUEUE_MAX_BYTES), and the distinct
 * statistics rows one VM begins in a minute (a row written and counted
 * again in the same minute is the same row; default STORE_VM_ROWS_MAX).  A VM's rows past its bound are added to one row of
 * its own, app, dest and protocol "(other)", so its totals stay whole.
 * Past the byte bound new audit rows and new statistics rows are dropped
 * (the rows already queued still add up), and counted. */
#define STORE_QUEUE_MAX_BYTES (64 << 20)
#define STORE_VM_ROWS_MAX 4096
void store_set_queue_max(struct store *, size_t bytes, size_t vm_rows);
struct store_queue_stats {
    size_t bytes;                     /* Queued now. */
    uint64_t audit_dropped, stats_dropped, stats_folded;  /* Ever. */
};
void store_queue_stats(const struct store *, struct store_queue_stats *);

/* Newest first, at most 'limit' rows, optionally only for one VM, user,
 * application (path or product substring) or verdict ("allow"/"deny"). */
struct store_audit_filter {
    const char *vm;
    const char *user;
    const char *app;
    const char *verdict;
};
typedef void store_audit_cb(const struct store_audit *, void *aux);
int store_audit_query(struct store *, const struct store_audit_filter *,
                      size_t limit, store_audit_cb *, void *aux);

/* Keeps at most 'max_rows' audit rows (the newest). */
int store_audit_prune(struct store *, int64_t max_rows);

/* Statistics: adds to the counters of the minute containing 'time_ms'. */
struct store_counters {
    int64_t connections, denials, bytes_in, bytes_out, packets_in,
            packets_out;
};

/* Adds 'c' to 'sum', each counter saturating at INT64_MAX. */
void store_counters_add(struct store_counters *sum,
                        const struct store_counters *c);

/* Which quotas a statistics row's bytes count against (quota.h), bits of
 * its 'charges': rows that charge differently are kept apart, and
 * store_stats_usage() hands them back for recounting. */
#define STORE_CHARGES_USER 1    /* user and user_group quotas */
#define STORE_CHARGES_VM 2      /* vm and vm_group quotas */
#define STORE_CHARGES_APP 4     /* app quotas */
#define STORE_CHARGES_ALL 7

/* What counters are kept by; any string may be NULL (""). 'dest' is the
 * remote address as text, 'protocol' the catalogue protocol's name or
 * "tcp/PORT"-style service. */
struct store_stats_key {
    const char *vm, *app, *user, *rule, *dest, *protocol;
    int charges;                /* STORE_CHARGES_* bits; 0: none. */
};
void store_stats_add(struct store *, int64_t time_ms,
                     const struct store_stats_key *,
                     const struct store_counters *);

/* The app, dest and protocol of the row a VM's rows past its bound are
 * added to. */
#define STORE_STATS_OTHER "(other)"

/* Totals of the minutes from 'since_ms' to before 'until_ms' (0: now),
 * grouped by "app", "vm", "user", "rule", "dest" or "protocol", the
 * largest 'order' ("connections", "bytes", "denials") first.  By "app",
 * "vm" or "user", rows with traffic count only if they charge that kind
 * of quota (STORE_CHARGES_*), so the same traffic reported by two sources
 * counts once; the others add up every row. */
typedef void store_top_cb(const char *key, const struct store_counters *,
                          void *aux);
int store_stats_top(struct store *, const char *by, const char *order,
                    int64_t since_ms, int64_t until_ms, size_t limit,
                    store_top_cb *, void *aux);

/* The resolver's caches: a site's addresses (space-separated) as last
 * resolved, and an address's host name ("" if it has none). */
int store_site_put(struct store *, const char *name, const char *addresses,
                   int64_t resolved_ms, const char *error);
typedef void store_site_cb(const char *name, const char *addresses,
                           int64_t resolved_ms, const char *error,
                           void *aux);
int store_site_load(struct store *, store_site_cb *, void *aux);
int store_rdns_put(struct store *, const char *address, const char *name,
                   int64_t resolved_ms);
typedef void store_rdns_cb(const char *address, const char *name,
                           int64_t resolved_ms, void *aux);
/* The 'limit' most recently resolved. */
int store_rdns_load(struct store *, size_t limit, store_rdns_cb *,
                    void *aux);

/* The naming service: who is logged in on which VM, at which addresses
 * (space-separated), and whether an administrator set them. */
struct store_naming_host {
    const char *vm_uuid, *vm_name, *user, *addresses;
    bool static_user, static_addresses;
    int64_t since;              /* Unix seconds of the user's login. */
    /* The agent's last report (applies again when static entries go). */
    const char *reported_user, *reported_addresses;
    int64_t reported_since, reported_at;
};
int store_naming_put(struct store *, const struct store_naming_host *);
int store_naming_delete(struct store *, const char *vm_uuid);
typedef void store_naming_cb(const struct store_naming_host *, void *aux);
int store_naming_load(struct store *, store_naming_cb *, void *aux);

/* Its history: login, logout, address, release. */
struct store_naming_event {
    int64_t time;               /* Unix seconds. */
    const char *vm_uuid, *vm_name, *event, *user, *address, *source;
};
int store_naming_event_add(struct store *, const struct store_naming_event *);
/* Keeps the newest 'max_rows' events. */
int store_naming_events_prune(struct store *, int64_t max_rows);
typedef void store_naming_event_cb(const struct store_naming_event *,
                                   void *aux);
/* Newest first. */
int store_naming_events(struct store *, size_t limit,
                        store_naming_event_cb *, void *aux);

/* Deletes the statistics of the minutes before 'before_ms'. */
int store_stats_prune(struct store *, int64_t before_ms);

/* Writes queued audit rows and counters in one transaction. */
int store_flush(struct store *);

#endif /* store.h */
