/* ofctrl-mem: ovs-plugin/ofctrl.h in memory, with a switch of its own
 * (see ofctrl-mem.h). */
#include <config.h>

#include "tests/fuzz/ofctrl-mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/match.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-protocol.h"
#include "openvswitch/shash.h"
#include "packets.h"
#include "sset.h"
#include "util.h"

struct ofctrl {
    uint16_t prefix;
    ofctrl_packet_in_cb *packet_in_cb;
    void *aux;

    struct shash desired;       /* key -> struct ofctrl_mem_flow */
    struct shash sw;            /* The switch: key -> ofctrl_mem_flow */
    struct sset dirty;          /* Keys changed since the last batch. */
    bool need_full, enabled, batch_void, hold;
    uint64_t seqno, acked;

    /* The batch in flight, if 'busy': key -> the flow it puts on the
     * switch, or NULL to take that key off; 'batch_full' replaces all. */
    bool busy, batch_full;
    uint64_t batch_lo, batch_seqno;
    struct shash batch;

    uint64_t fail_lo, fail_hi;  /* The last failed batch. */
    char *fail_msg;

    /* A (re)connection at the next ofctrl_run(), and its read-back. */
    bool connecting;
    struct ofctrl_policy_flow *planted, *dumped;
    size_t n_planted, n_dumped;
    bool dump_ready;

    bool stats_asked, counters_ready;
    struct ofctrl_counter *counters;
    size_t n_counters;

    uint32_t *meters;
    size_t n_meters;

    struct ofctrl_mem_out *outs;
    size_t n_outs, allocated_outs;

    unsigned long long n_batches, n_failed, n_refused;
};

static struct ofctrl *the_ofctrl;

/* A flow is never changed once made: the desired table, the batch in
 * flight and the switch share it ('holders' of them). */
static struct ofctrl_mem_flow *
mem_flow_create(const struct flowgen_flow *f)
{
    struct ofctrl_mem_flow *mf = xzalloc(sizeof *mf);
    mf->flow = *f;
    mf->flow.match = xstrdup(f->match);
    mf->flow.actions = xstrdup(f->actions);
    mf->refs = 1;
    mf->holders = 1;
    return mf;
}

static struct ofctrl_mem_flow *
mem_flow_hold(struct ofctrl_mem_flow *mf)
{
    mf->holders++;
    return mf;
}

static void
mem_flow_destroy(struct ofctrl_mem_flow *mf)
{
    if (mf && !--mf->holders) {
        free(mf->flow.match);
        free(mf->flow.actions);
        free(mf);
    }
}

static void
flows_clear(struct shash *flows)
{
    struct shash_node *node;
    SHASH_FOR_EACH (node, flows) {
        mem_flow_destroy(node->data);
    }
    shash_clear(flows);
}

struct ofctrl *
ofctrl_create(const char *target, uint16_t cookie_prefix,
              ofctrl_packet_in_cb *cb, void *aux)
{
    (void) target;
    struct ofctrl *oc = xzalloc(sizeof *oc);
    oc->prefix = cookie_prefix;
    oc->packet_in_cb = cb;
    oc->aux = aux;
    shash_init(&oc->desired);
    shash_init(&oc->sw);
    shash_init(&oc->batch);
    sset_init(&oc->dirty);
    oc->need_full = true;
    oc->connecting = true;      /* The first connection. */
    the_ofctrl = oc;
    return oc;
}

void
ofctrl_destroy(struct ofctrl *oc)
{
    if (!oc) {
        return;
    }
    if (the_ofctrl == oc) {
        the_ofctrl = NULL;
    }
    flows_clear(&oc->desired);
    shash_destroy(&oc->desired);
    flows_clear(&oc->sw);
    shash_destroy(&oc->sw);
    flows_clear(&oc->batch);
    shash_destroy(&oc->batch);
    sset_destroy(&oc->dirty);
    free(oc->fail_msg);
    free(oc->planted);
    free(oc->dumped);
    free(oc->counters);
    free(oc->meters);
    for (size_t i = 0; i < oc->n_outs; i++) {
        free(oc->outs[i].packet);
    }
    free(oc->outs);
    free(oc);
}

struct ofctrl *
ofctrl_mem_get(void)
{
    return the_ofctrl;
}

/* Parses 'f' as ofctrl.c does before it adds a flow: returns NULL, or a
 * malloc'd message; with 'match', also the flow's match. */
static char *
parse_flow(const struct flowgen_flow *f, struct match *match,
           ovs_u128 *ct_label)
{
    char *text = flowgen_flow_format(f);
    struct ofputil_flow_mod fm;
    enum ofputil_protocol usable;
    char *error = parse_ofp_flow_mod_str(&fm, text, NULL, NULL, OFPFC_ADD,
                                         &usable);
    if (error) {
        char *msg = xasprintf("%s: %s", text, error);
        free(error);
        free(text);
        return msg;
    }
    free(text);
    if (match) {
        minimatch_expand(&fm.match, match);
    }
    if (ct_label) {
        /* The ct_label its ct() sets, as ofctrl.c reads it back. */
        *ct_label = OVS_U128_ZERO;
        const struct ofpact_set_field *sf;
        OFPACT_FOR_EACH_TYPE_FLATTENED (sf, SET_FIELD, fm.ofpacts,
                                        fm.ofpacts_len) {
            if (sf->field->id == MFF_CT_LABEL) {
                *ct_label = ntoh128(sf->value->be128);
            }
        }
    }
    minimatch_destroy(&fm.match);
    free(fm.ofpacts);
    if (!(usable & OFPUTIL_P_OF15_OXM)) {
        return xstrdup("not expressible in OpenFlow 1.5");
    }
    return NULL;
}

/* OVS's parser is most of what adding a flow costs, and each input adds
 * the same few dozen VM flows again: the flows it accepted are remembered
 * by a 64-bit hash (a table that outlives the ofctrl, in static storage so
 * that an input does not end with more allocations than it began, which
 * costs libFuzzer a leak check). */
#define PARSED_SLOTS 16384      /* A power of 2; at most 3/4 used. */
static uint64_t parsed[PARSED_SLOTS];
static size_t n_parsed;

static uint64_t
parsed_hash(const struct flowgen_flow *f)
{
    uint32_t lo = hash_string(f->actions,
                              hash_string(f->match,
                                          hash_uint64(f->cookie)));
    uint32_t hi = hash_string(f->actions,
                              hash_string(f->match,
                                          hash_int(f->table << 16
                                                   | f->priority, 1)));
    uint64_t h = (uint64_t) hi << 32 | lo;
    return h ? h : 1;           /* 0 marks a free slot. */
}

static char *
check_flow(const struct flowgen_flow *f)
{
    uint64_t h = parsed_hash(f);
    size_t i = h & (PARSED_SLOTS - 1);
    for (; parsed[i]; i = (i + 1) & (PARSED_SLOTS - 1)) {
        if (parsed[i] == h) {
            return NULL;
        }
    }
    char *error = parse_flow(f, NULL, NULL);
    if (!error && n_parsed < PARSED_SLOTS / 4 * 3) {
        parsed[i] = h;
        n_parsed++;
    }
    return error;
}

static bool
same_sig(const struct flowgen_flow *a, const struct flowgen_flow *b)
{
    return a->cookie == b->cookie && !strcmp(a->actions, b->actions);
}

char *
ofctrl_add_flow(struct ofctrl *oc, const struct flowgen_flow *f)
{
    char *key = flowgen_flow_key(f);
    struct ofctrl_mem_flow *mf = shash_find_data(&oc->desired, key);
    if (mf) {
        char *error = NULL;
        if (!same_sig(&mf->flow, f)) {
            error = xasprintf("%s: already desired as \"0x%llx %s\", not "
                              "\"0x%llx %s\"", key,
                              (unsigned long long) mf->flow.cookie,
                              mf->flow.actions,
                              (unsigned long long) f->cookie, f->actions);
        } else {
            mf->refs++;
        }
        free(key);
        return error;
    }
    char *error = check_flow(f);
    if (error) {
        oc->n_refused++;
        free(key);
        return error;
    }
    shash_add_nocopy(&oc->desired, key, mem_flow_create(f));
    sset_add(&oc->dirty, key);
    oc->seqno++;
    return NULL;
}

void
ofctrl_remove_flow(struct ofctrl *oc, const struct flowgen_flow *f)
{
    char *key = flowgen_flow_key(f);
    struct shash_node *node = shash_find(&oc->desired, key);
    if (node) {
        struct ofctrl_mem_flow *mf = node->data;
        if (--mf->refs <= 0) {
            shash_delete(&oc->desired, node);
            mem_flow_destroy(mf);
            sset_add(&oc->dirty, key);
            oc->seqno++;
        }
    }
    free(key);
}

void
ofctrl_set_meters(struct ofctrl *oc, const uint32_t *ids, size_t n,
                  uint32_t rate, uint32_t burst)
{
    (void) rate;
    (void) burst;
    free(oc->meters);
    oc->meters = xmemdup(ids, (n ? n : 1) * sizeof *ids);
    oc->n_meters = n;
}

uint64_t
ofctrl_seqno(const struct ofctrl *oc)
{
    return oc->seqno;
}

uint64_t
ofctrl_acked_seqno(const struct ofctrl *oc)
{
    return oc->acked;
}

const char *
ofctrl_seqno_error(const struct ofctrl *oc, uint64_t seqno)
{
    return (oc->fail_msg && seqno > oc->fail_lo && seqno <= oc->fail_hi
            ? oc->fail_msg : NULL);
}

void
ofctrl_set_enabled(struct ofctrl *oc, bool enabled)
{
    if (enabled && !oc->enabled) {
        oc->need_full = true;
    } else if (!enabled && oc->busy) {
        oc->batch_void = true;
    }
    oc->enabled = enabled;
}

/* Batches. */

static void
maybe_send_batch(struct ofctrl *oc)
{
    if (oc->busy || !oc->enabled || oc->connecting || oc->dump_ready
        || (!oc->need_full && sset_is_empty(&oc->dirty))) {
        return;
    }
    flows_clear(&oc->batch);
    oc->batch_full = oc->need_full;
    struct shash_node *node;
    if (oc->batch_full) {
        SHASH_FOR_EACH (node, &oc->desired) {
            shash_add(&oc->batch, node->name, mem_flow_hold(node->data));
        }
    } else {
        const char *key;
        SSET_FOR_EACH (key, &oc->dirty) {
            struct ofctrl_mem_flow *mf = shash_find_data(&oc->desired, key);
            shash_add(&oc->batch, key, mf ? mem_flow_hold(mf) : NULL);
        }
    }
    sset_clear(&oc->dirty);
    oc->need_full = false;
    oc->busy = true;
    oc->batch_lo = oc->acked;
    oc->batch_seqno = oc->seqno;
    oc->n_batches++;
}

bool
ofctrl_mem_finish(struct ofctrl *oc, const char *error)
{
    if (!oc->busy) {
        return false;
    }
    oc->busy = false;
    if (oc->batch_void) {
        oc->batch_void = false;
        oc->need_full = true;
    } else if (error) {
        /* A bundle is atomic: the switch keeps what it had. */
        oc->n_failed++;
        free(oc->fail_msg);
        oc->fail_msg = xstrdup(error);
        oc->fail_lo = oc->batch_lo;
        oc->fail_hi = oc->batch_seqno;
        oc->acked = oc->batch_seqno;
        oc->need_full = true;
    } else {
        if (oc->batch_full) {
            flows_clear(&oc->sw);
        }
        struct shash_node *node;
        SHASH_FOR_EACH (node, &oc->batch) {
            mem_flow_destroy(shash_find_and_delete(&oc->sw, node->name));
            if (node->data) {
                shash_add(&oc->sw, node->name, node->data);
                node->data = NULL;
            }
        }
        oc->acked = oc->batch_seqno;
    }
    flows_clear(&oc->batch);
    return true;
}

void
ofctrl_mem_set_hold(struct ofctrl *oc, bool hold)
{
    oc->hold = hold;
}

bool
ofctrl_mem_busy(const struct ofctrl *oc)
{
    return (oc->busy || oc->connecting
            || (oc->enabled && !oc->dump_ready
                && (oc->need_full || !sset_is_empty(&oc->dirty))));
}

/* Reading back. */

/* The uid in a ct_label (FLOWGEN_LABEL_UID); false if it names none.
 * (ofctrl.c's.) */
static bool
label_uid(ovs_u128 label, uint32_t *uid)
{
    *uid = label.u64.lo & 0xffffffff;
    return (!label.u64.hi
            && (label.u64.lo & ~UINT64_C(0xffffffff)) == FLOWGEN_LABEL_UID);
}

/* The approved-connection flow 'mf' of the switch as ofctrl.c reads it
 * back from a flow stats reply; false if it is not one. */
static bool
read_back(const struct ofctrl_mem_flow *mf, struct ofctrl_policy_flow *p)
{
    struct match m;
    ovs_u128 label;
    char *error = parse_flow(&mf->flow, &m, &label);
    if (error) {
        free(error);
        return false;
    }
    const struct flow *f = &m.flow;
    *p = (struct ofctrl_policy_flow) {
        .zone = f->regs[6],
        .priority = mf->flow.priority,
        .app_id = mf->flow.cookie & 0xffffffff,
        .proto = f->nw_proto,
        .src_port = ntohs(f->tp_src),
        .dst_port = ntohs(f->tp_dst),
    };
    p->has_uid = label_uid(label, &p->uid);
    if (f->dl_type == htons(ETH_TYPE_IP)) {
        inet_ntop(AF_INET, &f->nw_dst, p->dst, sizeof p->dst);
        if (m.wc.masks.nw_src) {
            inet_ntop(AF_INET, &f->nw_src, p->src, sizeof p->src);
        }
    } else if (f->dl_type == htons(ETH_TYPE_IPV6)) {
        inet_ntop(AF_INET6, &f->ipv6_dst, p->dst, sizeof p->dst);
        if (!ipv6_mask_is_any(&m.wc.masks.ipv6_src)) {
            inet_ntop(AF_INET6, &f->ipv6_src, p->src, sizeof p->src);
        }
    } else {
        return false;
    }
    return true;
}

static unsigned int
flow_kind(const struct flowgen_flow *f)
{
    return (f->cookie >> 40) & 0xff;
}

static void
connect_now(struct ofctrl *oc)
{
    oc->connecting = false;
    oc->busy = false;
    oc->batch_void = false;
    flows_clear(&oc->batch);
    oc->need_full = true;
    oc->stats_asked = oc->counters_ready = false;
    oc->n_counters = 0;

    size_t n = shash_count(&oc->sw) + oc->n_planted;
    free(oc->dumped);
    oc->dumped = xmalloc((n ? n : 1) * sizeof *oc->dumped);
    oc->n_dumped = 0;
    struct shash_node *node;
    SHASH_FOR_EACH (node, &oc->sw) {
        const struct ofctrl_mem_flow *mf = node->data;
        if (flow_kind(&mf->flow) == FLOWGEN_K_POLICY
            && read_back(mf, &oc->dumped[oc->n_dumped])) {
            oc->n_dumped++;
        }
    }
    for (size_t i = 0; i < oc->n_planted; i++) {
        oc->dumped[oc->n_dumped++] = oc->planted[i];
    }
    free(oc->planted);
    oc->planted = NULL;
    oc->n_planted = 0;
    oc->dump_ready = true;
}

void
ofctrl_mem_reconnect(struct ofctrl *oc, const struct ofctrl_policy_flow *p,
                     size_t n)
{
    oc->planted = xrealloc(oc->planted,
                           (oc->n_planted + n + 1) * sizeof *oc->planted);
    for (size_t i = 0; i < n; i++) {
        oc->planted[oc->n_planted++] = p[i];
    }
    oc->connecting = true;
}

bool
ofctrl_take_installed_policy(struct ofctrl *oc,
                             struct ofctrl_policy_flow **flows, size_t *n)
{
    if (!oc->dump_ready) {
        return false;
    }
    *flows = oc->dumped;
    *n = oc->n_dumped;
    oc->dumped = NULL;
    oc->n_dumped = 0;
    oc->dump_ready = false;
    return true;
}

void
ofctrl_run(struct ofctrl *oc)
{
    if (oc->connecting) {
        connect_now(oc);
    } else if (oc->busy && !oc->hold) {
        ofctrl_mem_finish(oc, NULL);
    }
    maybe_send_batch(oc);
}

void
ofctrl_wait(struct ofctrl *oc)
{
    (void) oc;
}

/* Counters. */

void
ofctrl_request_counters(struct ofctrl *oc)
{
    if (!oc->stats_asked && !oc->connecting) {
        oc->stats_asked = true;
        oc->counters_ready = false;
    }
}

bool
ofctrl_mem_reply_counters(struct ofctrl *oc, uint32_t seed)
{
    if (!oc->stats_asked) {
        return false;
    }
    free(oc->counters);
    oc->counters = xmalloc((shash_count(&oc->sw) + 1)
                           * sizeof *oc->counters);
    oc->n_counters = 0;
    struct shash_node *node;
    SHASH_FOR_EACH (node, &oc->sw) {
        const struct ofctrl_mem_flow *mf = node->data;
        unsigned int kind = flow_kind(&mf->flow);
        struct match m;
        char *error;
        if (kind != FLOWGEN_K_COUNT && kind != FLOWGEN_K_SPOOF) {
            continue;
        } else if ((error = parse_flow(&mf->flow, &m, NULL))) {
            free(error);
            continue;
        }
        bool spoof = kind == FLOWGEN_K_SPOOF;
        uint32_t h = hash_string(node->name, seed);
        uint64_t cookie = mf->flow.cookie;
        struct ofctrl_counter *c = &oc->counters[oc->n_counters++];
        *c = (struct ofctrl_counter) {
            .spoof = spoof,
            .ingress = !spoof && (cookie & FLOWGEN_COUNT_IN),
            .zone = spoof ? cookie & 0xffff : m.flow.regs[6],
            .app_id = spoof ? (cookie >> 16) & 0xff : cookie & 0xffffffff,
            .packets = h & 0xff,
            .bytes = (h & 0xff) * (h >> 20),
        };
        if (!spoof) {
            c->has_uid = label_uid(m.flow.ct_label, &c->uid);
        }
    }
    oc->stats_asked = false;
    oc->counters_ready = true;
    return true;
}

bool
ofctrl_take_counters(struct ofctrl *oc, struct ofctrl_counter **counters,
                     size_t *n)
{
    if (!oc->counters_ready) {
        return false;
    }
    *counters = oc->counters;
    *n = oc->n_counters;
    oc->counters = NULL;
    oc->n_counters = 0;
    oc->counters_ready = false;
    return true;
}

/* The switch never loses or gains appfw flows behind the fake's back, so
 * an audit finds nothing; it is still refused unless everything is on
 * the switch, as ofctrl.c's is. */
bool
ofctrl_audit(struct ofctrl *oc)
{
    return (oc->enabled && !oc->busy && !oc->connecting && !oc->dump_ready
            && !oc->need_full && sset_is_empty(&oc->dirty));
}

/* Packets. */

static int
record_out(struct ofctrl *oc, bool resubmit, int port, const void *packet,
           size_t len)
{
    if (oc->connecting) {
        return ENOTCONN;
    }
    if (oc->n_outs >= oc->allocated_outs) {
        oc->outs = x2nrealloc(oc->outs, &oc->allocated_outs,
                              sizeof *oc->outs);
    }
    oc->outs[oc->n_outs++] = (struct ofctrl_mem_out) {
        .resubmit = resubmit, .port = port,
        .packet = xmemdup(packet, len ? len : 1), .len = len,
    };
    return 0;
}

int
ofctrl_packet_out(struct ofctrl *oc, int ofport, const void *packet,
                  size_t len)
{
    return record_out(oc, false, ofport, packet, len);
}

int
ofctrl_resubmit_packet(struct ofctrl *oc, int in_port, const void *packet,
                       size_t len)
{
    return record_out(oc, true, in_port, packet, len);
}

size_t
ofctrl_mem_take_outs(struct ofctrl *oc, struct ofctrl_mem_out **outs)
{
    size_t n = oc->n_outs;
    *outs = oc->outs;
    oc->outs = NULL;
    oc->n_outs = oc->allocated_outs = 0;
    return n;
}

void
ofctrl_mem_packet_in(struct ofctrl *oc, uint8_t punt, int in_port,
                     const void *packet, size_t len)
{
    struct ofctrl_packet_in pin = {
        .punt = punt, .in_port = in_port, .packet = packet, .len = len,
    };
    oc->packet_in_cb(oc->aux, &pin);
}

/* The rest of ofctrl.h. */

const struct shash *
ofctrl_mem_desired(const struct ofctrl *oc)
{
    return &oc->desired;
}

const struct shash *
ofctrl_mem_switch(const struct ofctrl *oc)
{
    return &oc->sw;
}

unsigned long long
ofctrl_mem_n_refused(const struct ofctrl *oc)
{
    return oc->n_refused;
}

char *
ofctrl_status(const struct ofctrl *oc)
{
    return xasprintf("switch=mem desired=%zu installed=%zu pending=%zu "
                     "in_flight=%s seqno=%llu acked=%llu bundles=%llu "
                     "failed=%llu%s%s", shash_count(&oc->desired),
                     shash_count(&oc->sw), sset_count(&oc->dirty),
                     oc->busy ? "yes" : "no",
                     (unsigned long long) oc->seqno,
                     (unsigned long long) oc->acked, oc->n_batches,
                     oc->n_failed, oc->fail_msg ? " last_error=" : "",
                     oc->fail_msg ? oc->fail_msg : "");
}

char *
ofctrl_dump_desired(const struct ofctrl *oc)
{
    const struct shash_node **nodes = shash_sort(&oc->desired);
    struct ds out = DS_EMPTY_INITIALIZER;
    for (size_t i = 0; i < shash_count(&oc->desired); i++) {
        const struct ofctrl_mem_flow *mf = nodes[i]->data;
        char *text = flowgen_flow_format(&mf->flow);
        ds_put_format(&out, "%s\n", text);
        free(text);
    }
    free(nodes);
    return ds_steal_cstr(&out);
}
