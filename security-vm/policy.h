/* policy: appfw's policy language, compiled, and the decision it makes.
 *
 * policy_compile() validates a JSON policy document (docs/policy.md) with
 * errors that name the path ("rules[3].match.remote_port[0]: 70000 out of
 * range 0..65535"; unknown fields are errors) and compiles it into an
 * immutable, reference-counted structure: group trees, and the rules in a
 * hash index keyed by their most selective literal (hash, file name,
 * product, vendor, category, remote port, application protocol's service
 * port), so a decision looks at the handful of rules that can match, never
 * at all of them.
 *
 * policy_decide() turns a request (who, which application as identified by
 * appid, what socket event) into a verdict with the deciding rule, a reason
 * for people, log/notify flags, a TTL and a flow granularity.  Global
 * protocols decide before any rule; the protocol catalogue allows what no
 * rule decided; the system settings may switch off logging and notifying
 * or simulate enforcement.
 *
 * The traffic quotas ("quotas") are validated and compiled here too:
 * policy_quotas_for() says which of them apply to a connection, and
 * appfw-secd counts the bytes.
 *
 * The site lists ("sites") restrict where an allowed protocol may go: the
 * engine compares addresses and prefixes itself, and asks the request's
 * site_has_addr() whether a host name has an address; resolving the names
 * policy_site_name_at() lists is the caller's part.
 *
 * Pure: no I/O, no logging, no clock of its own (the request carries the
 * time).  Not thread-safe: a compiled policy caches time-zone offsets.
 * Neighbours: store.c keeps policy versions; secd.c feeds requests. */
#ifndef SECVM_POLICY_H
#define SECVM_POLICY_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "appid/appid.h"

struct policy;

/* Parses, validates and compiles 'len' bytes of JSON.  Returns NULL and
 * stores a policy with one reference in '*policyp', or a malloc'd message
 * naming the problem. */
char *policy_compile(const char *text, size_t len, struct policy **policyp);

struct policy *policy_ref(struct policy *);
void policy_unref(struct policy *);

size_t policy_n_rules(const struct policy *);

/* The document's "system" member: settings for the whole system. */
struct policy_system {
    bool logging;               /* Off: no verdict asks to log. */
    bool simulate;              /* A deny becomes allow+log, "monitored". */
    bool notify;                /* Off: no verdict asks to notify. */
    bool allow_undefined;       /* Allow what no rule and no catalogue
                                 * protocol decides. */
    int log_load_interval;      /* Seconds between secd's batched writes
                                 * of decisions and statistics; 0 if the
                                 * policy does not say (secd's flush-ms
                                 * applies). */
};

const struct policy_system *policy_system(const struct policy *);

/* The document's "quotas" member: bytes per day for a user, a user group,
 * a VM, a VM group or an application.  The policy only says which quotas
 * apply to a connection; appfw-secd counts the usage. */
enum policy_quota_kind {
    POLICY_QUOTA_USER, POLICY_QUOTA_USER_GROUP, POLICY_QUOTA_VM,
    POLICY_QUOTA_VM_GROUP, POLICY_QUOTA_APP,
};
struct policy_quota {
    enum policy_quota_kind kind;
    const char *subject;        /* As written. */
    int64_t bytes_per_day;      /* > 0 (entries with 0 are not listed). */
    bool block, notify;
};

/* The quotas in document order, without those of 0 bytes.  Pointers stay
 * valid while the policy is referenced. */
size_t policy_n_quotas(const struct policy *);
const struct policy_quota *policy_quota_at(const struct policy *, size_t);

/* "user", "user_group", "vm", "vm_group", "app": the member that names
 * the subject in the document. */
const char *policy_quota_kind_name(enum policy_quota_kind);

/* Calls 'cb' with the index of each quota that applies to traffic of the
 * VM 'vm_uuid'/'vm_name' (either may be NULL/""), of account 'user', by
 * the application 'product' (appid's product, may be "") at 'app_path'
 * (may be ""): the user's own quota, each of the user's groups and their
 * ancestors up to the root, the VM's own quota, its group and ancestors
 * up to "all", and an app quota naming the product (ignoring case), the
 * file name or the path.  Each once, in that order; allocates nothing.
 * A user not in "users" belongs only to the root "everyone", a VM not in
 * "vms" only to "all". */
void policy_quotas_for(const struct policy *, const char *vm_uuid,
                       const char *vm_name, const char *user,
                       const char *product, const char *app_path,
                       void (*cb)(size_t index, void *aux), void *aux);

/* The document's "sites" member: per subject (at most one list each, or
 * one for everyone), a mode and a list of sites, each a host name or an
 * address or prefix.  After the rules, the catalogue and unknown_app have
 * allowed an outbound request with a remote address, every site list of
 * the request's chain (see policy_explain_last(); a list naming a user or
 * a VM not listed applies to it by that name) that covers its protocol
 * must pass: with allow-all-except, the remote address is in none of the
 * listed sites; with deny-all-except, it is in one.  Else the outermost
 * failing list denies it, rule "site:KIND:SUBJECT" ("site:global" for
 * everyone), restricted_by its group if it is a group's.  Global
 * protocols, the undefined-protocol default and inbound requests are not
 * restricted. */
enum policy_site_kind {
    POLICY_SITE_USER, POLICY_SITE_USER_GROUP, POLICY_SITE_VM,
    POLICY_SITE_VM_GROUP, POLICY_SITE_GLOBAL,
};
enum policy_site_mode {
    POLICY_SITES_ALLOW_ALL_EXCEPT, POLICY_SITES_DENY_ALL_EXCEPT,
};
struct policy_site {
    const char *text;           /* A host name in lowercase without a
                                 * trailing dot, or an address or prefix
                                 * as written. */
    bool is_name;               /* A host name: see site_has_addr(). */
};
struct policy_site_list {
    enum policy_site_kind kind;
    const char *subject;        /* As written; "" for POLICY_SITE_GLOBAL. */
    enum policy_site_mode mode;
    const struct policy_site *sites;    /* In document order. */
    size_t n_sites;                     /* 1..1000. */
    const char *const *protocols;       /* Catalogue names; none: every
                                         * allowed protocol. */
    size_t n_protocols;
    bool has_log, log;          /* Without: the VM group's switch. */
    bool has_notify, notify;
    const char *rule;           /* "site:user_group:interns". */
    const char *description;    /* "" if none. */
};

/* The site lists in document order.  Pointers stay valid while the policy
 * is referenced. */
size_t policy_n_site_lists(const struct policy *);
const struct policy_site_list *policy_site_list_at(const struct policy *,
                                                   size_t);

/* "user", "user_group", "vm", "vm_group", "global". */
const char *policy_site_kind_name(enum policy_site_kind);

/* "allow-all-except", "deny-all-except". */
const char *policy_site_mode_name(enum policy_site_mode);

/* Every distinct host name of every site list, each once, in lowercase
 * without a trailing dot, in order of first appearance in the document:
 * what appfw-secd resolves.  The same strings site_has_addr() is given. */
size_t policy_n_site_names(const struct policy *);
const char *policy_site_name_at(const struct policy *, size_t);

enum policy_event {
    POLICY_EV_CONNECT, POLICY_EV_LISTEN, POLICY_EV_ACCEPT, POLICY_EV_SEND,
    POLICY_EV_CLOSE,
};

enum policy_proto { POLICY_PROTO_TCP, POLICY_PROTO_UDP, POLICY_PROTO_ICMP };

enum policy_dir { POLICY_DIR_OUTBOUND, POLICY_DIR_INBOUND };

bool policy_event_from_name(const char *, enum policy_event *);
bool policy_proto_from_name(const char *, enum policy_proto *);
bool policy_dir_from_name(const char *, enum policy_dir *);

/* An address: IPv4 is stored as an IPv4-mapped IPv6 address. */
struct policy_addr {
    uint8_t b[16];
};

bool policy_addr_parse(const char *, struct policy_addr *);

/* What is being decided.  Strings may be NULL or "" when unknown. */
struct policy_request {
    const char *vm_uuid;
    const char *vm_name;
    const char *user;               /* Account name ("alice"). */
    const char *app_path;           /* As reported: name = last component. */
    const char *app_sha256;         /* 64 lowercase hex digits, or NULL. */
    bool app_memfd;                 /* The agent's app.memfd. */
    bool app_deleted;               /* app.deleted: app_path ends in
                                     * " (deleted)", which is not part of
                                     * the file's path. */
    const struct appid_result *app; /* appid's identification, or NULL. */
    enum policy_event event;
    enum policy_proto proto;
    enum policy_dir dir;
    struct policy_addr local, remote;
    bool has_remote;
    int local_port, remote_port;
    time_t now;

    /* Whether host name 'fqdn' (one of policy_site_name_at()'s) has the
     * address 'addr' (IPv4 mapped, as above), for the site lists.  NULL:
     * no name has any address, as when none resolves. */
    bool (*site_has_addr)(const char *fqdn, const struct policy_addr *addr,
                          void *aux);
    void *site_aux;
};

enum policy_granularity { POLICY_GRAN_EXACT, POLICY_GRAN_SERVICE };

struct policy_verdict {
    bool allow;
    const char *rule;               /* Rule id, or "default:..." */
    const char *restricted_by;      /* Group whose deny decided, or NULL. */
    bool log, notify;
    bool monitored;                 /* A deny turned into allow+log. */
    bool enforced;                  /* False in monitor mode or simulation:
                                     * a deny would only be logged. */
    int ttl;
    enum policy_granularity granularity;
    const char *vm_group;           /* The VM's group. */
    const char *reason;             /* For people; see docs/policy.md. */
    char reason_buf[320];           /* Backs 'reason' when it is built. */
};

/* Decides 'req' under 'policy'.  Pointers in 'verdict' stay valid while the
 * policy is referenced. */
void policy_decide(struct policy *, const struct policy_request *req,
                   struct policy_verdict *verdict);

/* Explains the last policy_decide() on 'policy': calls 'cb' for each
 * scope of that request's chain, outermost first (the global rules, the
 * VM's groups from the root down, the VM, the user's groups, the user),
 * with its description ('vm group "lab"') and the id of the rule that
 * matched in it and whether it allows, or NULL.  Then for each site list
 * the decision examined, outermost first, up to the one that denied:
 * 'sites of user group "interns"' ("the global sites"), its rule
 * ("site:user_group:interns") and whether it let the request pass, or
 * NULL if the list does not cover the request's protocol. */
typedef void policy_explain_cb(const char *scope, const char *rule,
                               bool allow, void *aux);
void policy_explain_last(const struct policy *, policy_explain_cb *,
                         void *aux);

/* The request's service port (docs/policy.md, "How a decision is made"):
 * the local port of an inbound request, the remote port of an outbound
 * one; -1 for ICMP and for an outbound request without a remote end. */
int policy_service_port(const struct policy_request *);

/* The name of the first catalogue protocol whose transport protocol and
 * service port are the request's (see docs/policy.md), or NULL.  For
 * reports by protocol. */
const char *policy_protocol_name(const struct policy *,
                                 const struct policy_request *);

/* How many rules and site lists the last policy_decide() examined (for
 * tests and the benchmark: evaluation must scan neither every rule nor
 * every site list). */
size_t policy_last_examined(const struct policy *);

#endif /* policy.h */
