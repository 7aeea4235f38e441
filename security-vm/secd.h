/* secd: appfw-secd's decision service, driven by main.c's loop.
 *
 * Requests from each hypervisor's appfw-switchd arrive on the decide
 * endpoint (nng REP with many contexts, rpc.h).  A decide is admitted into
 * its VM's queue (a token bucket per VM answers excess at once with
 * "rate_limited", a full queue with "overloaded"), and VM queues are served
 * round-robin, so one flooding VM cannot delay the others.  A decision
 * looks the application up (libappid, preloaded), evaluates the active
 * policy (policy.h), and, for an allow with a flow endpoint configured,
 * asks appfw-switchd to install the flow and answers only after its ack.
 * Every decision is audited and counted (store.h) and published on the
 * event stream (events.h).  console.c serves appfwctl on the console
 * endpoint. */
#ifndef SECVM_SECD_H
#define SECVM_SECD_H 1

#include <stdbool.h>
#include <stdint.h>

struct secd;

struct secd_config {
    const char *db;             /* The store (policies, audit, stats). */
    const char *appid_db;       /* The signature database. */
    const char *decide_url;
    const char *console_url;    /* Also serves the event stream. */
    int console_mode;           /* ipc:// socket file mode for consoles. */
    int contexts;               /* Decide requests in flight at most. */
    int vm_rate;                /* Decisions per second per VM. */
    int vm_burst;
    int vm_queue;               /* Queued decisions per VM at most. */
    int flush_ms;               /* Audit and statistics batch interval. */
    int audit_max_rows;
    int stats_keep_days;        /* Statistics older than this go. */
    int site_resolve_s;         /* Site host names are looked up again
                                 * this often (0: daily). */
    bool reverse_dns;           /* Look up destinations' host names. */
    int poll_hold_ms;           /* A hypervisor's poll is held this long
                                 * at most (0: answered at once). */
    bool durable_decisions;     /* Commit each decision's audit row (with
                                 * synchronous=FULL) before its verdict or
                                 * flow leaves. */
    int vm_idle_s;              /* A VM silent this long is forgotten
                                 * (0: an hour). */
    int naming_stale_s;         /* A VM whose agent has not reported this
                                 * long may lose its addresses to another
                                 * (0: NAMING_STALE_S). */
    const char *bootstrap_token_sha256;  /* "" or 64 hex digits. */
};

char *secd_create(const struct secd_config *, struct secd **);

/* Flushes the audit log and statistics, then frees everything. */
void secd_destroy(struct secd *);

void secd_run(struct secd *);
void secd_wait(struct secd *);

/* Re-reads the active policy from the store (SIGHUP). */
void secd_reload(struct secd *);

#endif /* secd.h */
