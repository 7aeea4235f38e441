/* flowgen: the pure half of appfw-switchd's flow programming.
 *
 * Turns VM state (ofport, MAC, conntrack zone, mode) and the connections
 * appfw-secd approved into the OpenFlow flows appfw wants on the
 * integration bridge, as text in ovs-ofctl syntax.  No I/O, no OVS types:
 * ofctrl.c parses the text and owns the switch; golden-file tests
 * (tests/data/flowgen/) pin the output down.
 *
 * The pipeline (table numbers are offsets from ctx->table_base):
 *
 *   +0  classify   port security and classification.  From a managed
 *                  VM's port, only its MAC and its IP addresses (configured,
 *                  or learned on first use: see flowgen_vm) pass: IP gets
 *                  reg6 := VM zone, reg5 := 0 (egress), IPv4 goes to +10,
 *                  IPv6 to +1; ARP claiming only the VM's addresses goes to
 *                  +40.  A packet from an address not yet learned goes to
 *                  the controller (switchd learns it).  Anything else from
 *                  the VM is dropped and counted (cookie kind SPOOF).
 *                  Traffic from ports appfw does not manage goes to +40.
 *   +1  nd         a VM's neighbour discovery: NS/RS with its own MAC (or
 *                  none) and NA claiming only its addresses go to +40, other
 *                  ND is dropped and counted; any other IPv6 goes to +10.
 *   +10 conntrack  ct(zone=reg6, table=+20)
 *   +20 state      +inv: drop; +est: counted, then +40: per (VM, app, uid)
 *                  through ct_mark and ct_label where an approved
 *                  connection set them, else per VM; each in its
 *                  direction (reg5).  +rel: +40; +new egress: +30; +new
 *                  ingress: commit, +40 (inbound connections are the
 *                  guest agent's to decide).
 *   +30 policy     approved connections: exact 5-tuple or (proto, remote,
 *                  port), ct(commit) with ct_mark := app id and ct_label
 *                  := the approving decision's uid, then +40; per
 *                  VM default below them (enforce: TCP to the controller
 *                  for a reset, the rest dropped; monitor: commit and
 *                  forward; no agent: to the controller, which asks secd).
 *                  Packets to the controller pass the VM's meter first,
 *                  so one VM cannot crowd out the others'.
 *   +40 forward    to a managed VM's MAC for the first time: reg6 := that
 *                  VM's zone, reg5 := 1 (ingress), back to +10; else NORMAL.
 *
 * Every flow carries a cookie: the 16-bit prefix in bits 48..63 (so
 * appfw's flows can be found and replaced without touching anyone
 * else's), the kind in bits 40..47, an id (VM zone or app id) in bits
 * 0..31; a counting flow's bit 32 tells its direction
 * (FLOWGEN_COUNT_IN). */
#ifndef FLOWGEN_H
#define FLOWGEN_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOWGEN_T_CLASSIFY 0
#define FLOWGEN_T_ND 1
#define FLOWGEN_T_CT 10
#define FLOWGEN_T_STATE 20
#define FLOWGEN_T_POLICY 30
#define FLOWGEN_T_FORWARD 40
#define FLOWGEN_N_TABLES 41     /* Tables base .. base + 40. */

/* Cookie kinds (bits 40..47). */
enum flowgen_kind {
    FLOWGEN_K_GLOBAL = 1,       /* id 0 */
    FLOWGEN_K_VM = 2,           /* id: VM zone */
    FLOWGEN_K_POLICY = 3,       /* id: app id */
    FLOWGEN_K_COUNT = 4,        /* id: app id (0: the VM's traffic no
                                 * app's flow counts); match names the VM
                                 * zone and the uid label; see below */
    FLOWGEN_K_SPOOF = 5,        /* id: reason << 16 | VM zone */
};

/* A counting flow's cookie has this bit if it counts the traffic that
 * goes to the VM (ingress, reg5 = 1: bytes_in), not the traffic that
 * comes from it (egress, reg5 = 0: bytes_out). */
#define FLOWGEN_COUNT_IN (UINT64_C(1) << 32)

/* An approved connection's ct_label: this bit, and the approving
 * decision's uid in bits 0..31; 0 if the decision had no uid (a VM
 * without an agent). */
#define FLOWGEN_LABEL_UID (UINT64_C(1) << 32)

/* Why a port-security flow drops (bits 16..23 of a SPOOF cookie's id). */
enum flowgen_spoof {
    FLOWGEN_SPOOF_MAC = 1,      /* Another source MAC, or not IP/ARP. */
    FLOWGEN_SPOOF_IP = 2,       /* IPv4/IPv6 from an address not its own. */
    FLOWGEN_SPOOF_ARP = 3,      /* ARP claiming an address not its own. */
    FLOWGEN_SPOOF_ND = 4,       /* NS/NA/RS claiming what is not its own. */
};
#define FLOWGEN_N_SPOOF 5

/* Controller userdata (the first byte of 'userdata' in controller()). */
enum flowgen_punt {
    FLOWGEN_PUNT_RESET = 1,     /* Enforce: answer this TCP packet with RST. */
    FLOWGEN_PUNT_ASK = 2,       /* No agent: ask secd about this packet. */
    FLOWGEN_PUNT_LEARN = 3,     /* From an address not learned yet. */
};

struct flowgen_ctx {
    uint8_t table_base;         /* 0..(254 - 40) */
    uint16_t cookie_prefix;     /* e.g. 0xa9f0 */
};

enum flowgen_mode {
    FLOWGEN_ENFORCE,            /* Unapproved egress is dropped/reset. */
    FLOWGEN_MONITOR,            /* Everything passes; counted, logged. */
    FLOWGEN_NOAGENT,            /* No agent: packet-in asks secd. */
};

struct flowgen_vm {
    const char *uuid;
    int ofport;                 /* <= 0: not on the bridge (no flows). */
    uint16_t zone;              /* 1..65535, unique per VM. */
    const char *mac;            /* "52:54:00:12:34:56", or NULL/"" unknown. */
    enum flowgen_mode mode;

    /* Port security.  'addresses': the addresses the administrator gave
     * ("10.0.0.5 fd00::5", prefixes allowed), NULL or "" if none; then
     * 'learned' holds those learned so far (flowgen_learn()).  Words that
     * do not parse are left out (flowgen_check_addresses() names them). */
    const char *addresses;
    const char *learned;
};

/* At most this many addresses per port. */
#define FLOWGEN_MAX_ADDRS 16

/* One connection (or service) appfw-secd approved for a VM. */
struct flowgen_allow {
    bool service;               /* Granularity: (proto, remote, port). */
    int proto;                  /* 6 (TCP), 17 (UDP) or 1 (an ICMP echo,
                                 * ICMPv6 for IPv6 addresses: no ports). */
    const char *local_addr;     /* IPv4 or IPv6 text, both the same family */
    int local_port;
    const char *remote_addr;
    int remote_port;
    uint32_t app_id;            /* ct_mark; 0: unknown application. */
    bool has_uid;               /* The decision named a user: 'uid' goes */
    uint32_t uid;               /* into ct_label (FLOWGEN_LABEL_UID). */
};

struct flowgen_flow {
    uint8_t table;
    uint16_t priority;
    uint64_t cookie;
    char *match;                /* ovs-ofctl syntax, e.g. "in_port=3,ip" */
    char *actions;              /* e.g. "goto_table:10" */
};

struct flowgen_flows {
    struct flowgen_flow *flows;
    size_t n, allocated;
};

void flowgen_flows_init(struct flowgen_flows *);
void flowgen_flows_clear(struct flowgen_flows *);
void flowgen_flows_destroy(struct flowgen_flows *);

/* The flows that do not depend on any VM. */
void flowgen_global(const struct flowgen_ctx *, struct flowgen_flows *out);

/* The flows of one VM (classification, ingress, default, and the counting
 * flows, one per direction, of its traffic that no application's counting
 * flow counts); none if its ofport is unknown. */
void flowgen_vm(const struct flowgen_ctx *, const struct flowgen_vm *,
                struct flowgen_flows *out);

/* The flows for one approved connection of 'vm': the policy flow, and the
 * (VM, app, uid) counting flows, one per direction, if app_id is not 0
 * (their cookies have kind FLOWGEN_K_COUNT).  Returns NULL, or a malloc'd
 * message if 'allow' is inconsistent (bad address, mixed families, bad
 * protocol or port). */
char *flowgen_allow(const struct flowgen_ctx *, const struct flowgen_vm *,
                    const struct flowgen_allow *, struct flowgen_flows *out);

/* "table=T, priority=P, cookie=0x..., MATCH actions=ACTIONS" (malloc'd),
 * the form ovs-ofctl add-flow accepts and golden files hold. */
char *flowgen_flow_format(const struct flowgen_flow *);

/* The flow's identity on the switch: "table=T,priority=P,MATCH"
 * (malloc'd).  Two flows with the same key are the same OpenFlow flow. */
char *flowgen_flow_key(const struct flowgen_flow *);

/* Returns NULL if every word of 'addresses' (separated by spaces or
 * commas) is an IPv4 or IPv6 address or prefix, and there are at most
 * FLOWGEN_MAX_ADDRS; else a malloc'd message naming the first bad one. */
char *flowgen_check_addresses(const char *addresses);

/* Learning, for a port without configured addresses: the first IPv4
 * address, the first IPv6 link-local address and the first other IPv6
 * address a VM sends from are locked in as its own.  ('learned' is the
 * list so far; the link-local address derived from the MAC is always the
 * VM's and never needs learning.) */
enum flowgen_learn {
    FLOWGEN_LEARN_NEW,          /* '*new_learned' is the longer list. */
    FLOWGEN_LEARN_KNOWN,        /* 'addr' is already learned. */
    FLOWGEN_LEARN_REFUSED,      /* Its slot is taken, or 'addr' is not a
                                 * unicast address a VM may own. */
};
enum flowgen_learn flowgen_learn(const char *learned, const char *addr,
                                 char **new_learned);

/* The OpenFlow meter that bounds a VM's packets to the controller (its
 * resets and questions): the cookie prefix in the top 16 bits, the zone
 * below, so that appfw's meters are as recognizable as its flows.  The
 * caller (ofctrl) installs the meters; flowgen's flows only use them. */
uint32_t flowgen_meter(const struct flowgen_ctx *, uint16_t zone);

/* The cookie for 'kind' and 'id' under 'ctx'. */
uint64_t flowgen_cookie(const struct flowgen_ctx *, enum flowgen_kind,
                        uint32_t id);

#endif /* flowgen.h */
