/* ofctrl-mem: ovs-plugin/ofctrl.h in memory, with a switch of its own, for
 * fuzz targets that run appfw-switchd's core in process.
 *
 * A target links ofctrl-mem.c instead of ovs-plugin/ofctrl.c; switchd.c is
 * unchanged.  The desired table behaves as ofctrl.c's does (reference
 * counts by flow key, a sequence number per change, a flow refused if OVS's
 * parser refuses it or if its key is desired with other actions), and so
 * do batches: one at a time, sent by ofctrl_run() while the connection is
 * up, enabled and not reading back; a full one after each (re)connection
 * and after a failure.  The switch is a table of flows: a batch changes it
 * only when it completes without error, which the switch does by itself
 * at the next ofctrl_run() unless the target holds it
 * (ofctrl_mem_set_hold()) and completes it (ofctrl_mem_finish()).  The
 * target also plays the switch's other side: packet-ins, counter replies,
 * a reconnection that reads the switch's policy flows back. */
#ifndef OFCTRL_MEM_H
#define OFCTRL_MEM_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovs-plugin/flowgen.h"
#include "ovs-plugin/ofctrl.h"

struct shash;

/* The ofctrl that ofctrl_create() made last (NULL once destroyed). */
struct ofctrl *ofctrl_mem_get(void);

/* A flow in the desired table or on the switch. */
struct ofctrl_mem_flow {
    struct flowgen_flow flow;   /* Owned copies of match and actions. */
    int refs;                   /* Desired table: references. */
    int holders;                /* Private: the tables that hold it. */
};

/* key (flowgen_flow_key()) -> struct ofctrl_mem_flow. */
const struct shash *ofctrl_mem_desired(const struct ofctrl *);
const struct shash *ofctrl_mem_switch(const struct ofctrl *);

/* While held, a batch stays in flight until ofctrl_mem_finish(). */
void ofctrl_mem_set_hold(struct ofctrl *, bool hold);

/* Completes the batch in flight: without error (NULL), or refused with
 * 'error' (the switch keeps what it had).  Returns false if none was in
 * flight. */
bool ofctrl_mem_finish(struct ofctrl *, const char *error);

/* Whether a batch is in flight, or changes wait for the next one. */
bool ofctrl_mem_busy(const struct ofctrl *);

/* The connection drops and comes back at the next ofctrl_run(): the batch
 * in flight is lost, and the policy flows on the switch are read back,
 * with 'n' more that someone else left there ('planted'). */
void ofctrl_mem_reconnect(struct ofctrl *,
                          const struct ofctrl_policy_flow *planted, size_t n);

/* A packet-in from the pipeline. */
void ofctrl_mem_packet_in(struct ofctrl *, uint8_t punt, int in_port,
                          const void *packet, size_t len);

/* Answers a counter request, if one is waiting: each counting and drop
 * flow on the switch counts packets and bytes derived from 'seed'.
 * Returns false if none was asked for. */
bool ofctrl_mem_reply_counters(struct ofctrl *, uint32_t seed);

/* A packet switchd sent: out of a port (a reset), or back through the
 * pipeline as if it came in on one (resubmit). */
struct ofctrl_mem_out {
    bool resubmit;
    int port;
    uint8_t *packet;
    size_t len;
};

/* Takes the packets sent since the last call (a malloc'd array; the caller
 * frees each packet and the array). */
size_t ofctrl_mem_take_outs(struct ofctrl *, struct ofctrl_mem_out **);

/* How many flows the switch's parser refused since ofctrl_create(). */
unsigned long long ofctrl_mem_n_refused(const struct ofctrl *);

#endif /* ofctrl-mem.h */
