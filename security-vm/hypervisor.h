/* hypervisor: the hypervisors appfw-secd serves (docs/operations.md,
 * "Hypervisors").
 *
 * Each appfw-switchd stamps its name, and the token an administrator gave
 * it (appfwctl hypervisor add), on its VMs' messages, and keeps one poll
 * out on the decision endpoint.  Once any hypervisor is registered, every
 * message must carry a registered name with its token; with none
 * registered (the single-host default) names are taken as stamped.
 *
 * secd never connects to a hypervisor: what it has to send one waits in
 * the hypervisor's outbox and goes back as the answer to its next poll,
 * over the connection the hypervisor opened.  A poll is held until
 * something comes or poll-hold-ms pass. */
#ifndef APPFW_HYPERVISOR_H
#define APPFW_HYPERVISOR_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strmap.h"

struct json_object;
struct rpc_request;
struct rpc_server;
struct store;

#define HV_OUTBOX_MAX 256
#define HV_NAME_MAX 64
#define HV_TOKEN_HEX 64             /* A token: 32 random bytes in hex. */

struct hypervisor {
    char *name;
    bool registered;                /* Has a token in the store. */
    uint8_t token_sha256[32];
    struct rpc_request *poll;       /* The poll held, or NULL. */
    int64_t poll_ms;                /* time_mono_ms() it came. */
    int64_t seen_ms;                /* Its last message (0: never). */
    char *outbox[HV_OUTBOX_MAX];    /* Message texts, oldest first. */
    size_t head, n;
    uint64_t polls, sent, dropped, refused;
    int64_t flows;                  /* Approved flows, as its poll says. */
    char *software;                 /* As its poll says, or NULL. */
};

struct hv_table {
    struct strmap by_name;          /* name -> struct hypervisor */
    size_t n_registered;
    size_t n_polls_held;
    int poll_hold_ms;
    struct rpc_server *server;      /* Where polls are answered. */
    int64_t revision;               /* secd's, in every poll's answer. */
    int64_t policy_version;
};

void hv_table_init(struct hv_table *, struct rpc_server *, int poll_hold_ms);
/* Answers the polls held, and frees everything. */
void hv_table_destroy(struct hv_table *);
/* Loads the registered hypervisors.  Returns 0 or an errno value. */
int hv_table_load(struct hv_table *, struct store *);

/* Registers hypervisor 'name' ('by': the account) with a new token, which
 * it writes to 'token' (HV_TOKEN_HEX digits and a NUL): its only copy, the
 * store keeps its SHA-256.  A registered name gets a new token.  Returns
 * NULL or a malloc'd message. */
char *hv_add(struct hv_table *, struct store *, const char *name,
             const char *by, char token[HV_TOKEN_HEX + 1]);
/* Forgets hypervisor 'name' (its token, its outbox; its held poll is
 * answered).  Returns NULL or a malloc'd message. */
char *hv_remove(struct hv_table *, struct store *, const char *name);

/* The hypervisor a message stamped with 'name' and 'token' comes from,
 * or NULL with the reason in '*why'. */
struct hypervisor *hv_authenticate(struct hv_table *, const char *name,
                                   const char *token, const char **why);

/* Queues 'text' for 'hv': the answer to its poll at once if it is
 * polling, else to its next one (the oldest waiting goes once
 * HV_OUTBOX_MAX are). */
void hv_send(struct hv_table *, struct hypervisor *, const char *text);
/* Queues 'text' for every hypervisor that has polled.  Returns how many. */
size_t hv_broadcast(struct hv_table *, const char *text);
/* What the ack that answers a poll with nothing says: secd's revision of
 * its decisions and its policy version (docs/protocol.md, "poll"). */
void hv_set_revision(struct hv_table *, int64_t revision,
                     int64_t policy_version);
/* Poll 'req' from 'hv' ('msg', validated): answered at once with what
 * waits, else held. */
void hv_poll(struct hv_table *, struct hypervisor *, struct rpc_request *,
             const struct json_object *msg);
/* Answers the polls held for poll-hold-ms. */
void hv_run(struct hv_table *);
/* How long until hv_run() has something to do (INT64_MAX: nothing). */
int64_t hv_next_ms(const struct hv_table *);

#endif /* hypervisor.h */
