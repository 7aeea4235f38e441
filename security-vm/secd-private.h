/* The insides of struct secd, shared by secd.c and console.c only. */
#ifndef SECVM_SECD_PRIVATE_H
#define SECVM_SECD_PRIVATE_H 1

#include <stddef.h>
#include <stdint.h>

#include "common/log.h"
#include "common/strmap.h"
#include "secd.h"
#include "security-vm/hypervisor.h"

struct appid;
struct json_object;
struct naming;
struct policy;
struct resolver;
struct sites;
struct events;
struct rpc_client;
struct rpc_request;
struct rpc_server;
struct quota;
struct store;

/* Per-VM admission state. */
struct vm_state {
    char *uuid;
    double tokens;
    int64_t last_ms;
    struct rpc_request **queue; /* Admitted decides, FIFO... */
    struct json_object **msgs;  /* ...and their parsed messages. */
    size_t head, n, cap;
    bool scheduled;             /* In secd->ready. */
    struct log_rl rl;
    int64_t recorded_ms;        /* Last written to the store's registry. */
    int64_t seen_ms;            /* Last message (forget_idle_vms()). */
    struct strmap users;        /* uid (decimal) -> account name, learned
                                 * from decides: stats carry only uids. */
    struct json_object *naming; /* A 'naming' report held back (a VM
                                 * reports at most every NAMING_MIN_MS;
                                 * the newest held one wins). */
    int64_t naming_next_ms;     /* When the next report may apply. */
    /* switchd's stamps ('epoch', 'seq') on the newest report taken,
     * held or applied (naming_take()). */
    int64_t naming_epoch, naming_seq;
    struct strmap dests;        /* Destinations counted this minute. */
    int64_t dests_minute;
    uint64_t decisions, denials, rate_limited, overloaded;
    char *hypervisor;           /* The one its messages last came from. */
};



/* With durable-decisions, a verdict waiting for its audit row to be
 * committed (secd->held). */
struct held_verdict {
    struct rpc_request *req;
    char *verdict_json;
    int64_t id;                 /* The decide's id. */
    struct held_verdict *next;
};

struct secd {
    struct secd_config cfg;
    char *strings[5];           /* Copies of the config's strings. */
    struct store *store;
    struct appid *appid;
    struct policy *policy;
    int64_t policy_version;
    int64_t revision;           /* Of what it decides: policy_changed(). */
    bool recounting;            /* In recount_quotas(). */
    struct quota *quota;        /* Today's usage of the policy's quotas. */
    struct resolver *resolver;  /* Name lookups off this thread. */
    struct naming *naming;      /* Who is logged in where. */
    struct sites *sites;        /* The addresses of site lists' names. */
    const char *quota_vm;       /* While counting a VM's traffic against */
    const char *quota_user;     /* quotas: whose it is (for notices). */
    struct strmap rdns;         /* Address text -> struct rdns_entry, the
                                 * host names of destinations. */
    double rdns_tokens;         /* New reverse lookups allowed now. */
    int64_t rdns_last_ms;

    struct rpc_server *decide;
    struct rpc_server *console;
    struct events *events;      /* The event stream, on the console. */

    struct strmap vms;           /* uuid -> struct vm_state. */
    struct hv_table hvs;         /* The hypervisors (hypervisor.h). */
    struct vm_state **ready;    /* VMs with queued decides, round-robin. */
    size_t n_ready, allocated_ready;
    struct held_verdict *held;   /* durable-decisions: this pass's
                                  * verdicts, in order. */
    struct held_verdict **held_tail;
    struct strmap app_names;     /* App id (decimal) -> product (char *), for
                                  * switchd's per-app counters. */
    size_t n_naming_held;        /* VMs with a 'naming' report held back. */

    int64_t next_flush_ms;
    int64_t next_prune_ms;
    int64_t next_idle_ms;       /* forget_idle_vms(). */
    int64_t started_ms;
    uint64_t n_decisions, n_allowed, n_denied, n_errors;
    uint64_t n_revoked;         /* Approved flows a recheck revoked. */
};

/* console.c */
void console_handle(struct secd *, struct rpc_request *);
/* Console answers: {"ok": true}, or {"ok": false, "error": "..."}. */
struct json_object *console_ok_reply(void);
struct json_object *console_error_reply(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

/* console-naming.c: naming.* and sites.* commands; NULL if 'cmd' is not
 * one. */
struct json_object *console_naming(struct secd *, const char *cmd,
                                   const struct json_object *rq,
                                   const char *account);

/* secd.c, for console.c */
/* The name to show for destination 'address' (text) in reports: its host
 * name if known, else the address itself. */
const char *secd_dest_name(const struct secd *, const char *address);
/* The site to count destination 'address' under in reports: the site
 * list name it is an address of, else secd_dest_name(). */
const char *secd_site_of(const struct secd *, const char *address);
struct appid_result;
struct policy_request;
bool secd_request_from_msg(struct secd *, const struct json_object *msg,
                           struct appid_result *, struct policy_request *,
                           uint8_t sha256[32]);
char *secd_activate(struct secd *, const char *text, const char *author,
                    const char *comment, int64_t *version);
void secd_publish(struct secd *, struct json_object *event);

#endif /* secd-private.h */
