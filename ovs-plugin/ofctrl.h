/* ofctrl: the only file of ovs-plugin/ that speaks OpenFlow.
 *
 * Keeps the flows appfw-switchd wants (the desired table: flowgen output,
 * reference-counted by flow key, since several owners can want the same
 * flow), a private mirror of what it has installed, and one reconnecting
 * connection to the bridge's management socket.  Like ovn-controller's
 * ofctrl:
 *
 *   - on every (re)connection it replaces all of appfw's flows (found by
 *     cookie prefix) with the desired table in one atomic, ordered bundle,
 *     so ovs-vswitchd restarts and switchd restarts never leave a window
 *     without enforcement and never touch anyone else's flows;
 *   - after that, each batch of desired-table changes goes out as one
 *     atomic bundle followed by a barrier.  Every change gets a sequence
 *     number; ofctrl_acked_seqno() reaches it only after the barrier reply
 *     for the bundle that carried it.
 *
 * Only OpenFlow 1.5 is spoken (ovs-vswitchd enables it by default); flows
 * are parsed and encoded once, when added. */
#ifndef OFCTRL_H
#define OFCTRL_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flowgen_flow;

struct ofctrl;

/* A packet the pipeline sent to the controller. */
struct ofctrl_packet_in {
    uint8_t punt;               /* enum flowgen_punt (the userdata byte). */
    int in_port;
    const void *packet;         /* Ethernet frame (maybe truncated). */
    size_t len;
};

typedef void ofctrl_packet_in_cb(void *aux, const struct ofctrl_packet_in *);

/* (VM zone, app id, uid, direction) datapath counters, from the counting
 * flows (app id 0: the VM's own, of what no application's flow counts),
 * and (VM zone, reason) counters of the port-security drop flows. */
struct ofctrl_counter {
    bool spoof;                 /* A drop flow: 'app_id' is the reason
                                 * (enum flowgen_spoof). */
    bool ingress;               /* Traffic to the VM (FLOWGEN_COUNT_IN). */
    bool has_uid;               /* The flow's ct_label names a uid. */
    uint16_t zone;
    uint32_t app_id;
    uint32_t uid;
    uint64_t packets, bytes;
};

/* 'target' is an OpenFlow connection, e.g.
 * "unix:/run/openvswitch/br-int.mgmt".  'cookie_prefix' identifies appfw's
 * flows. */
struct ofctrl *ofctrl_create(const char *target, uint16_t cookie_prefix,
                             ofctrl_packet_in_cb *, void *aux);
void ofctrl_destroy(struct ofctrl *);

void ofctrl_run(struct ofctrl *);
void ofctrl_wait(struct ofctrl *);

/* Adds one reference to 'flow' in the desired table.  Returns NULL, or a
 * malloc'd message if the flow does not parse (nothing changes then) or if
 * a flow with the same key but other actions or cookie is already desired
 * (a bug in the caller: the first one stays). */
char *ofctrl_add_flow(struct ofctrl *, const struct flowgen_flow *);

/* The OpenFlow meters the desired flows use (flowgen_meter()): 'n' ids,
 * each dropping packets beyond 'rate' per second (burst 'burst').  They go
 * to the switch just before the next bundle (meters are not bundled, and
 * a flow may only name a meter that exists). */
void ofctrl_set_meters(struct ofctrl *, const uint32_t *ids, size_t n,
                       uint32_t rate, uint32_t burst);

/* Drops one reference to 'flow'; at the last, it leaves the switch. */
void ofctrl_remove_flow(struct ofctrl *, const struct flowgen_flow *);

/* The sequence number of the latest change to the desired table. */
uint64_t ofctrl_seqno(const struct ofctrl *);

/* Every change up to this sequence number is on the switch. */
uint64_t ofctrl_acked_seqno(const struct ofctrl *);

/* If the bundle that carried change 'seqno' failed, the switch's reason;
 * else NULL.  (ofctrl then resynchronizes everything by itself.) */
const char *ofctrl_seqno_error(const struct ofctrl *, uint64_t seqno);

/* An approved-connection flow found on the switch (policy table, appfw's
 * cookie), read back at every connection so that a restarted switchd
 * keeps what was approved before. */
struct ofctrl_policy_flow {
    uint16_t zone;              /* reg6 */
    uint16_t priority;
    uint32_t app_id;            /* From the cookie. */
    bool has_uid;               /* From the ct_label it sets, if any. */
    uint32_t uid;
    int proto;                  /* 6 or 17. */
    char src[46], dst[46];      /* Printed; src "" for service flows. */
    int src_port, dst_port;
};

/* After each (re)connection ofctrl reads back appfw's policy flows and
 * sends nothing until the caller has taken them: returns true once, with
 * a malloc'd array the caller frees.  The caller adds what it still wants
 * to the desired table before the replacing bundle goes out. */
bool ofctrl_take_installed_policy(struct ofctrl *,
                                  struct ofctrl_policy_flow **, size_t *n);

/* Asks the switch for the counting and drop flows' statistics; when they
 * arrive, ofctrl_take_counters() returns them. */
void ofctrl_request_counters(struct ofctrl *);
bool ofctrl_take_counters(struct ofctrl *, struct ofctrl_counter **,
                          size_t *n);

/* If nothing is on its way to the switch, asks it how many appfw flows
 * (by cookie prefix) it holds and returns true; if that is not the number
 * installed, someone else changed them, and everything is replaced at
 * once.  Counts only: another controller rewriting an appfw flow in place
 * goes unnoticed.  Returns false if changes are on their way (try again
 * later). */
bool ofctrl_audit(struct ofctrl *);

/* Sends 'packet' out of 'ofport' (e.g. a TCP reset to a VM).  Returns 0 or
 * an errno value. */
int ofctrl_packet_out(struct ofctrl *, int ofport, const void *packet,
                      size_t len);

/* Holds back (false) or allows (true) sending flows.  Allowing after a
 * hold replaces everything: whatever held us back (the bridge's fail mode
 * changing) may have flushed the switch. */
void ofctrl_set_enabled(struct ofctrl *, bool);

/* Sends 'packet' back through the pipeline from table 0, as if it had just
 * arrived on 'in_port' (a packet held while its verdict was pending).
 * Returns 0 or an errno value. */
int ofctrl_resubmit_packet(struct ofctrl *, int in_port, const void *packet,
                           size_t len);

bool ofctrl_is_connected(const struct ofctrl *);
size_t ofctrl_n_desired(const struct ofctrl *);
size_t ofctrl_n_installed(const struct ofctrl *);

/* Appends a human-readable status (connection, counts, last error) to a
 * malloc'd string. */
char *ofctrl_status(const struct ofctrl *);

/* All desired flows, formatted as flowgen_flow_format() does, sorted, one
 * per line (malloc'd). */
char *ofctrl_dump_desired(const struct ofctrl *);

#endif /* ofctrl.h */
