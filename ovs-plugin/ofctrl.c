/* ofctrl: desired flows, their installed mirror, and the OpenFlow
 * connection that reconciles the two (see ofctrl.h). */
#include <config.h>

#include "ofctrl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "byte-order.h"
#include "flow.h"
#include "packets.h"
#include "openflow/openflow.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-bundle.h"
#include "openvswitch/ofp-connection.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-match.h"
#include "openvswitch/ofp-meter.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-packet.h"
#include "openvswitch/ofp-print.h"
#include "openvswitch/ofp-protocol.h"
#include "openvswitch/ofp-util.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/rconn.h"
#include "openvswitch/shash.h"
#include "openvswitch/vconn.h"
#include "sset.h"
#include "util.h"

#include "common/log.h"
#include "flowgen.h"

LOG_MODULE(ofctrl);

#define OFCTRL_VERSION OFP15_VERSION
#define OFCTRL_PROTOCOL OFPUTIL_P_OF15_OXM

struct desired_flow {
    char *key;                  /* flowgen_flow_key() */
    char *sig;                  /* "cookie actions": what must match. */
    int refs;
    uint64_t cookie;
    struct ofpbuf *add;         /* Encoded OFPFC_ADD. */
};

/* A change in the batch in flight: at its barrier reply, 'key' becomes
 * installed with 'sig' (or uninstalled, if NULL). */
struct change {
    char *key;
    char *sig;
};

struct ofctrl {
    struct rconn *rconn;
    unsigned int conn_seqno;
    uint16_t prefix;
    ofctrl_packet_in_cb *packet_in_cb;
    void *aux;

    struct shash desired;       /* key -> struct desired_flow */
    struct shash installed;     /* key -> sig (char *) */
    struct sset dirty;          /* Keys changed since the last batch. */
    bool need_full;             /* Replace everything at the next batch. */
    bool enabled;               /* See ofctrl_set_enabled(). */
    bool batch_void;            /* The batch in flight proves nothing. */
    uint64_t seqno, acked;

    /* The batch in flight, if 'busy'. */
    bool busy;
    bool batch_full;
    ovs_be32 barrier_xid, open_xid, commit_xid;
    uint32_t first_xid;         /* Flow mods of the batch: first_xid.. */
    uint32_t next_xid;          /* ..next_xid - 1 (our own xid range). */
    uint64_t batch_lo, batch_seqno;
    struct change *changes;
    size_t n_changes, allocated_changes;
    char *batch_error;
    uint32_t next_bundle_id;

    /* The last failed batch. */
    uint64_t fail_lo, fail_hi;
    char *fail_msg;

    /* Meters: desired and installed, sorted ids.  At each connection the
     * installed ones are read back (appfw's, by the cookie prefix in their
     * ids), so that meters of VMs that went away while switchd was not
     * running are deleted too. */
    uint32_t *meters, *installed_meters;
    size_t n_meters, n_installed_meters, allocated_installed_meters;
    uint32_t meter_rate, meter_burst;
    bool meter_dump_busy;
    ovs_be32 meter_dump_xid;

    /* Reading back policy flows at connection. */
    bool dump_busy;             /* Request sent, replies coming. */
    bool dump_ready;            /* Complete, not yet taken. */
    ovs_be32 dump_xid;
    struct ofctrl_policy_flow *dumped;
    size_t n_dumped, allocated_dumped;

    /* Counter requests. */
    int stats_busy;             /* Replies still to come: 0, 1 or 2. */
    ovs_be32 stats_xid, spoof_xid;
    struct ofctrl_counter *counters;
    size_t n_counters, allocated_counters;
    bool counters_ready;

    /* Audit: is the number of appfw flows on the switch the number
     * installed?  Answers to a request sent while nothing was in flight
     * count only if nothing was sent since. */
    bool audit_busy;
    ovs_be32 audit_xid;
    unsigned long long audit_batches;

    /* Totals, for appfw/connection-status. */
    unsigned long long n_batches, n_full, n_failed, n_flow_mods;
    unsigned long long n_audits, n_repairs;
};

static void
desired_flow_destroy(struct desired_flow *df)
{
    if (df) {
        free(df->key);
        free(df->sig);
        ofpbuf_delete(df->add);
        free(df);
    }
}

static ovs_be32 request_flows(struct ofctrl *, enum flowgen_kind, bool);

static char *
flow_sig(const struct flowgen_flow *f)
{
    return xasprintf("0x%llx %s", (unsigned long long) f->cookie,
                     f->actions);
}

struct ofctrl *
ofctrl_create(const char *target, uint16_t cookie_prefix,
              ofctrl_packet_in_cb *cb, void *aux)
{
    struct ofctrl *oc = xzalloc(sizeof *oc);
    oc->rconn = rconn_create(5, 1, 0, 1u << OFCTRL_VERSION);
    rconn_connect(oc->rconn, target, target);
    oc->conn_seqno = rconn_get_connection_seqno(oc->rconn);
    oc->prefix = cookie_prefix;
    oc->packet_in_cb = cb;
    oc->aux = aux;
    shash_init(&oc->desired);
    shash_init(&oc->installed);
    sset_init(&oc->dirty);
    oc->need_full = true;
    oc->next_bundle_id = 1;
    oc->next_xid = 0x80000000;  /* OVS allocates its xids from 1 up. */
    return oc;
}

static void
clear_changes(struct ofctrl *oc)
{
    for (size_t i = 0; i < oc->n_changes; i++) {
        free(oc->changes[i].key);
        free(oc->changes[i].sig);
    }
    oc->n_changes = 0;
}

void
ofctrl_destroy(struct ofctrl *oc)
{
    if (!oc) {
        return;
    }
    rconn_destroy(oc->rconn);
    struct shash_node *node;
    SHASH_FOR_EACH (node, &oc->desired) {
        desired_flow_destroy(node->data);
    }
    shash_destroy(&oc->desired);
    shash_destroy_free_data(&oc->installed);
    sset_destroy(&oc->dirty);
    clear_changes(oc);
    free(oc->changes);
    free(oc->batch_error);
    free(oc->fail_msg);
    free(oc->counters);
    free(oc->dumped);
    free(oc->meters);
    free(oc->installed_meters);
    free(oc);
}

char *
ofctrl_add_flow(struct ofctrl *oc, const struct flowgen_flow *f)
{
    char *key = flowgen_flow_key(f);
    struct desired_flow *df = shash_find_data(&oc->desired, key);
    if (df) {
        char *sig = flow_sig(f);
        char *error = NULL;
        if (strcmp(sig, df->sig)) {
            error = xasprintf("%s: already desired as \"%s\", not \"%s\"",
                              key, df->sig, sig);
        } else {
            df->refs++;
        }
        free(sig);
        free(key);
        return error;
    }

    char *text = flowgen_flow_format(f);
    struct ofputil_flow_mod fm;
    enum ofputil_protocol usable;
    char *error = parse_ofp_flow_mod_str(&fm, text, NULL, NULL, OFPFC_ADD,
                                         &usable);
    if (error) {
        char *msg = xasprintf("%s: %s", text, error);
        free(error);
        free(text);
        free(key);
        return msg;
    }
    free(text);
    if (!(usable & OFCTRL_PROTOCOL)) {
        minimatch_destroy(&fm.match);
        free(fm.ofpacts);
        char *msg = xasprintf("%s: not expressible in OpenFlow 1.5", key);
        free(key);
        return msg;
    }
    df = xzalloc(sizeof *df);
    df->key = key;
    df->sig = flow_sig(f);
    df->refs = 1;
    df->cookie = f->cookie;
    df->add = ofputil_encode_flow_mod(&fm, OFCTRL_PROTOCOL);
    minimatch_destroy(&fm.match);
    free(fm.ofpacts);
    shash_add_nocopy(&oc->desired, xstrdup(key), df);
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
        struct desired_flow *df = node->data;
        if (--df->refs <= 0) {
            shash_delete(&oc->desired, node);
            desired_flow_destroy(df);
            sset_add(&oc->dirty, key);
            oc->seqno++;
        }
    }
    free(key);
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
        /* Whatever held us back (a fail-mode change) may flush the flows
         * of the batch in flight: its barrier must not acknowledge them. */
        oc->batch_void = true;
    }
    oc->enabled = enabled;
}

bool
ofctrl_is_connected(const struct ofctrl *oc)
{
    return rconn_is_connected(oc->rconn);
}

size_t
ofctrl_n_desired(const struct ofctrl *oc)
{
    return shash_count(&oc->desired);
}

size_t
ofctrl_n_installed(const struct ofctrl *oc)
{
    return shash_count(&oc->installed);
}

/* Sending. */

static void
send_msg(struct ofctrl *oc, struct ofpbuf *msg)
{
    rconn_send(oc->rconn, msg, NULL);
}

static ovs_be32
bundle_ctrl(struct ofctrl *oc, uint32_t id, uint16_t type)
{
    struct ofputil_bundle_ctrl_msg bc = {
        .bundle_id = id,
        .type = type,
        .flags = OFPBF_ATOMIC | OFPBF_ORDERED,
    };
    struct ofpbuf *msg = ofputil_encode_bundle_ctrl_request(OFCTRL_VERSION,
                                                            &bc);
    ovs_be32 xid = ((struct ofp_header *) msg->data)->xid;
    send_msg(oc, msg);
    return xid;
}

/* Adds 'msg' (a flow_mod) to bundle 'id' under a fresh xid of our own
 * range, so that an error the switch reports can be told apart from
 * errors about anything else. */
static void
bundle_add(struct ofctrl *oc, uint32_t id, struct ofpbuf *msg)
{
    ((struct ofp_header *) msg->data)->xid = htonl(oc->next_xid++);
    struct ofputil_bundle_add_msg bam = {
        .bundle_id = id,
        .flags = OFPBF_ATOMIC | OFPBF_ORDERED,
        .msg = msg->data,
    };
    send_msg(oc, ofputil_encode_bundle_add(OFCTRL_VERSION, &bam));
    oc->n_flow_mods++;
}

/* Encodes a flow_mod 'command' for the flow whose key is 'key' (a key is
 * itself valid flow syntax without actions). */
static struct ofpbuf *
encode_delete_strict(const char *key)
{
    struct ofputil_flow_mod fm;
    enum ofputil_protocol usable;
    char *error = parse_ofp_flow_mod_str(&fm, key, NULL, NULL,
                                         OFPFC_DELETE_STRICT, &usable);
    if (error) {
        /* Keys come from flows that parsed when they were added. */
        LOG_ERR("%s: %s", key, error);
        free(error);
        return NULL;
    }
    struct ofpbuf *msg = ofputil_encode_flow_mod(&fm, OFCTRL_PROTOCOL);
    minimatch_destroy(&fm.match);
    free(fm.ofpacts);
    return msg;
}

static void
add_change(struct ofctrl *oc, const char *key, const char *sig)
{
    if (oc->n_changes >= oc->allocated_changes) {
        oc->changes = x2nrealloc(oc->changes, &oc->allocated_changes,
                                 sizeof *oc->changes);
    }
    oc->changes[oc->n_changes++] = (struct change) {
        .key = xstrdup(key),
        .sig = sig ? xstrdup(sig) : NULL,
    };
}

/* Sends every desired flow in one bundle that first deletes all of appfw's
 * flows (by cookie prefix, in every table): the switch moves from whatever
 * it had to exactly the desired table in one atomic step. */
static void
send_full(struct ofctrl *oc, uint32_t id)
{
    struct ofputil_flow_mod fm = {
        .cookie = htonll((uint64_t) oc->prefix << 48),
        .cookie_mask = htonll(UINT64_C(0xffff) << 48),
        .table_id = OFPTT_ALL,
        .command = OFPFC_DELETE,
        .buffer_id = UINT32_MAX,
        .out_port = OFPP_ANY,
        .out_group = OFPG_ANY,
    };
    minimatch_init_catchall(&fm.match);
    struct ofpbuf *del = ofputil_encode_flow_mod(&fm, OFCTRL_PROTOCOL);
    minimatch_destroy(&fm.match);
    bundle_add(oc, id, del);
    ofpbuf_delete(del);

    struct shash_node *node;
    SHASH_FOR_EACH (node, &oc->desired) {
        struct desired_flow *df = node->data;
        bundle_add(oc, id, df->add);
        add_change(oc, df->key, df->sig);
    }
    oc->batch_full = true;
    oc->n_full++;
}

/* Sends the dirty keys' differences against the installed mirror. */
static void
send_incremental(struct ofctrl *oc, uint32_t id)
{
    const char *key;
    SSET_FOR_EACH (key, &oc->dirty) {
        struct desired_flow *df = shash_find_data(&oc->desired, key);
        const char *isig = shash_find_data(&oc->installed, key);
        if (df) {
            if (!isig || strcmp(isig, df->sig)) {
                bundle_add(oc, id, df->add);
                add_change(oc, key, df->sig);
            }
        } else if (isig) {
            struct ofpbuf *del = encode_delete_strict(key);
            if (del) {
                bundle_add(oc, id, del);
                ofpbuf_delete(del);
                add_change(oc, key, NULL);
            }
        }
    }
    oc->batch_full = false;
}

static int
compare_u32(const void *a_, const void *b_)
{
    uint32_t a = *(const uint32_t *) a_, b = *(const uint32_t *) b_;
    return a < b ? -1 : a > b;
}

static bool
has_u32(const uint32_t *v, size_t n, uint32_t x)
{
    return bsearch(&x, v, n, sizeof *v, compare_u32) != NULL;
}

void
ofctrl_set_meters(struct ofctrl *oc, const uint32_t *ids, size_t n,
                  uint32_t rate, uint32_t burst)
{
    free(oc->meters);
    oc->meters = xmemdup(ids, (n ? n : 1) * sizeof *ids);
    oc->n_meters = n;
    qsort(oc->meters, n, sizeof *oc->meters, compare_u32);
    oc->meter_rate = rate;
    oc->meter_burst = burst;
}

static void
send_meter_mod(struct ofctrl *oc, uint16_t command, uint32_t id)
{
    struct ofputil_meter_band band = {
        .type = OFPMBT13_DROP,
        .rate = oc->meter_rate,
        .burst_size = oc->meter_burst,
    };
    struct ofputil_meter_mod mm = {
        .command = command,
        .meter = {
            .meter_id = id,
            .flags = OFPMF13_PKTPS | OFPMF13_BURST,
            .n_bands = command == OFPMC13_DELETE ? 0 : 1,
            .bands = &band,
        },
    };
    send_msg(oc, ofputil_encode_meter_mod(OFCTRL_VERSION, &mm));
}

/* Brings the switch's meters in line before a bundle that may use them:
 * each new one is deleted (in case an earlier switchd left it with other
 * bands) and added; each installed one no longer wanted is deleted.
 * 'full': every desired meter is new. */
static void
sync_meters(struct ofctrl *oc, bool full)
{
    for (size_t i = 0; i < oc->n_meters; i++) {
        uint32_t id = oc->meters[i];
        if (full || !has_u32(oc->installed_meters, oc->n_installed_meters,
                             id)) {
            send_meter_mod(oc, OFPMC13_DELETE, id);
            send_meter_mod(oc, OFPMC13_ADD, id);
        }
    }
    for (size_t i = 0; i < oc->n_installed_meters; i++) {
        uint32_t id = oc->installed_meters[i];
        if (!has_u32(oc->meters, oc->n_meters, id)) {
            send_meter_mod(oc, OFPMC13_DELETE, id);
        }
    }
    free(oc->installed_meters);
    oc->installed_meters = xmemdup(oc->meters, (oc->n_meters ? oc->n_meters
                                                : 1) * sizeof *oc->meters);
    oc->n_installed_meters = oc->allocated_installed_meters = oc->n_meters;
}

/* Starts a batch if there is something to send and nothing in flight. */
static void
maybe_send_batch(struct ofctrl *oc)
{
    if (oc->busy || !oc->enabled || oc->dump_busy || oc->dump_ready
        || oc->meter_dump_busy || !rconn_is_connected(oc->rconn)
        || (!oc->need_full && sset_is_empty(&oc->dirty))) {
        return;
    }
    sync_meters(oc, oc->need_full);
    uint32_t id = oc->next_bundle_id++;
    clear_changes(oc);
    oc->open_xid = bundle_ctrl(oc, id, OFPBCT_OPEN_REQUEST);
    oc->first_xid = oc->next_xid;
    if (oc->need_full) {
        send_full(oc, id);
    } else {
        send_incremental(oc, id);
    }
    sset_clear(&oc->dirty);
    oc->need_full = false;

    oc->commit_xid = bundle_ctrl(oc, id, OFPBCT_COMMIT_REQUEST);
    struct ofpbuf *barrier = ofputil_encode_barrier_request(OFCTRL_VERSION);
    oc->barrier_xid = ((struct ofp_header *) barrier->data)->xid;
    send_msg(oc, barrier);

    oc->busy = true;
    oc->batch_lo = oc->acked;
    oc->batch_seqno = oc->seqno;
    free(oc->batch_error);
    oc->batch_error = NULL;
    oc->n_batches++;
}

/* The barrier after a batch came back. */
static void
finish_batch(struct ofctrl *oc)
{
    oc->busy = false;
    if (oc->batch_void) {
        /* Resent in full once enabled again; acked then. */
        oc->batch_void = false;
        oc->need_full = true;
        clear_changes(oc);
        return;
    }
    if (oc->batch_error) {
        oc->n_failed++;
        LOG_WARN("bundle of %zu flow changes failed: %s; resynchronizing",
                  oc->n_changes, oc->batch_error);
        free(oc->fail_msg);
        oc->fail_msg = oc->batch_error;
        oc->batch_error = NULL;
        oc->fail_lo = oc->batch_lo;
        oc->fail_hi = oc->batch_seqno;
        /* The switch refused part of the bundle (OVS then commits the
         * rest, or nothing if the commit itself failed): the installed
         * mirror is unreliable.  The failed changes' owners hear of it
         * through ofctrl_seqno_error(); everything is replaced from
         * scratch. */
        oc->acked = oc->batch_seqno;
        oc->need_full = true;
        clear_changes(oc);
        return;
    }
    if (oc->batch_full) {
        shash_clear_free_data(&oc->installed);
    }
    for (size_t i = 0; i < oc->n_changes; i++) {
        struct change *c = &oc->changes[i];
        if (c->sig) {
            free(shash_replace_nocopy(&oc->installed, c->key, c->sig));
            c->key = c->sig = NULL;
        } else {
            free(shash_find_and_delete(&oc->installed, c->key));
        }
    }
    clear_changes(oc);
    oc->acked = oc->batch_seqno;
}

/* Receiving. */

/* True if 'xid' is one of the batch in flight's messages. */
static bool
in_batch(const struct ofctrl *oc, ovs_be32 xid)
{
    uint32_t x = ntohl(xid);
    return oc->busy && (xid == oc->open_xid || xid == oc->commit_xid
                        || (x >= oc->first_xid && x < oc->next_xid));
}

static void
handle_error(struct ofctrl *oc, const struct ofp_header *oh)
{
    char *s = ofp_to_string(oh, ntohs(oh->length), NULL, NULL, 1);
    s[strcspn(s, "\n")] = '\0';
    if (in_batch(oc, oh->xid)) {
        if (!oc->batch_error) {
            oc->batch_error = s;
        } else {
            free(s);
        }
        return;
    }
    static struct log_rl rl = LOG_RL_INIT(6, 5);
    LOG_WARN_RL(&rl, "switch reported: %s", s);
    free(s);
}

static void
handle_packet_in(struct ofctrl *oc, const struct ofp_header *oh)
{
    struct ofputil_packet_in pin;
    enum ofperr error = ofputil_decode_packet_in(oh, true, NULL, NULL, &pin,
                                                 NULL, NULL, NULL);
    if (error || !pin.userdata_len || !oc->packet_in_cb) {
        return;
    }
    struct ofctrl_packet_in p = {
        .punt = pin.userdata[0],
        .in_port = ofp_to_u16(pin.flow_metadata.flow.in_port.ofp_port),
        .packet = pin.packet,
        .len = pin.packet_len,
    };
    oc->packet_in_cb(oc->aux, &p);
}

/* The uid in a ct_label (FLOWGEN_LABEL_UID); false if it names none. */
static bool
label_uid(ovs_u128 label, uint32_t *uid)
{
    *uid = label.u64.lo & 0xffffffff;
    return (!label.u64.hi
            && (label.u64.lo & ~UINT64_C(0xffffffff)) == FLOWGEN_LABEL_UID);
}

/* Reads one policy flow back from its match, cookie and the ct_label its
 * ct() sets (the approving decision's uid). */
static void
add_dumped(struct ofctrl *oc, const struct ofputil_flow_stats *fs)
{
    const struct flow *f = &fs->match.flow;
    const struct flow_wildcards *wc = &fs->match.wc;
    struct ofctrl_policy_flow p = {
        .zone = f->regs[6],
        .priority = fs->priority,
        .app_id = ntohll(fs->cookie) & 0xffffffff,
        .proto = f->nw_proto,
        .src_port = ntohs(f->tp_src),
        .dst_port = ntohs(f->tp_dst),
    };
    if (f->dl_type == htons(ETH_TYPE_IP)) {
        inet_ntop(AF_INET, &f->nw_dst, p.dst, sizeof p.dst);
        if (wc->masks.nw_src) {
            inet_ntop(AF_INET, &f->nw_src, p.src, sizeof p.src);
        }
    } else if (f->dl_type == htons(ETH_TYPE_IPV6)) {
        inet_ntop(AF_INET6, &f->ipv6_dst, p.dst, sizeof p.dst);
        if (ipv6_mask_is_any(&wc->masks.ipv6_src)) {
            p.src[0] = '\0';
        } else {
            inet_ntop(AF_INET6, &f->ipv6_src, p.src, sizeof p.src);
        }
    } else {
        return;
    }
    const struct ofpact_set_field *sf;
    OFPACT_FOR_EACH_TYPE_FLATTENED (sf, SET_FIELD, fs->ofpacts,
                                    fs->ofpacts_len) {
        if (sf->field->id == MFF_CT_LABEL) {
            p.has_uid = label_uid(ntoh128(sf->value->be128), &p.uid);
        }
    }
    if (oc->n_dumped >= oc->allocated_dumped) {
        oc->dumped = x2nrealloc(oc->dumped, &oc->allocated_dumped,
                                sizeof *oc->dumped);
    }
    oc->dumped[oc->n_dumped++] = p;
}

static void
handle_flow_stats(struct ofctrl *oc, struct ofpbuf *msg, bool dump)
{
    struct ofpbuf ofpacts;
    ofpbuf_init(&ofpacts, 64);
    for (;;) {
        struct ofputil_flow_stats fs;
        int retval = ofputil_decode_flow_stats_reply(&fs, msg, false,
                                                     &ofpacts);
        if (retval) {
            break;
        }
        uint64_t cookie = ntohll(fs.cookie);
        if (dump) {
            if (((cookie >> 40) & 0xff) == FLOWGEN_K_POLICY) {
                add_dumped(oc, &fs);
            }
            continue;
        }
        unsigned int kind = (cookie >> 40) & 0xff;
        if (kind != FLOWGEN_K_COUNT && kind != FLOWGEN_K_SPOOF) {
            continue;
        }
        if (oc->n_counters >= oc->allocated_counters) {
            oc->counters = x2nrealloc(oc->counters, &oc->allocated_counters,
                                      sizeof *oc->counters);
        }
        bool spoof = kind == FLOWGEN_K_SPOOF;
        struct ofctrl_counter *c = &oc->counters[oc->n_counters++];
        *c = (struct ofctrl_counter) {
            .spoof = spoof,
            .ingress = !spoof && (cookie & FLOWGEN_COUNT_IN),
            .zone = spoof ? cookie & 0xffff : fs.match.flow.regs[6],
            .app_id = spoof ? (cookie >> 16) & 0xff : cookie & 0xffffffff,
            .packets = fs.packet_count == UINT64_MAX ? 0 : fs.packet_count,
            .bytes = fs.byte_count == UINT64_MAX ? 0 : fs.byte_count,
        };
        if (!spoof) {
            c->has_uid = label_uid(fs.match.flow.ct_label, &c->uid);
        }
    }
    ofpbuf_uninit(&ofpacts);
}

/* True if the installed mirror is what the switch should hold: connected,
 * nothing in flight, nothing waiting to be sent. */
static bool
settled(const struct ofctrl *oc)
{
    return (rconn_is_connected(oc->rconn) && oc->enabled && !oc->busy
            && !oc->need_full && sset_is_empty(&oc->dirty)
            && !oc->dump_busy && !oc->dump_ready && !oc->meter_dump_busy);
}

static void
handle_audit(struct ofctrl *oc, const struct ofp_header *oh)
{
    struct ofputil_aggregate_stats as;
    if (ofputil_decode_aggregate_stats_reply(&as, oh)
        || as.flow_count == UINT32_MAX
        || oc->n_batches != oc->audit_batches || !settled(oc)) {
        return;                 /* Unreadable, or overtaken by changes. */
    }
    oc->n_audits++;
    size_t n = shash_count(&oc->installed);
    if (as.flow_count != n) {
        /* Someone else added or deleted flows with appfw's cookie (e.g.
         * ovs-ofctl del-flows): put back exactly what is wanted. */
        LOG_WARN("the switch holds %"PRIu32" appfw flows, %zu expected: "
                 "replacing them all", as.flow_count, n);
        oc->n_repairs++;
        oc->need_full = true;
    }
}

bool
ofctrl_audit(struct ofctrl *oc)
{
    if (oc->audit_busy || !settled(oc)) {
        return false;
    }
    oc->audit_xid = request_flows(oc, 0, true);
    oc->audit_batches = oc->n_batches;
    oc->audit_busy = true;
    return true;
}

/* One reply to the meter read-back: appfw's meters become 'installed'. */
static void
handle_meter_config(struct ofctrl *oc, struct ofpbuf *msg)
{
    struct ofpbuf b = ofpbuf_const_initializer(msg->data, msg->size);
    struct ofpbuf bands;
    ofpbuf_init(&bands, 64);
    for (;;) {
        struct ofputil_meter_config mc;
        if (ofputil_decode_meter_config(&b, &mc, &bands)) {
            break;              /* EOF, or a reply OVS cannot have sent. */
        }
        if (mc.meter_id >> 16 != oc->prefix) {
            continue;
        }
        if (oc->n_installed_meters >= oc->allocated_installed_meters) {
            oc->installed_meters = x2nrealloc(
                oc->installed_meters, &oc->allocated_installed_meters,
                sizeof *oc->installed_meters);
        }
        oc->installed_meters[oc->n_installed_meters++] = mc.meter_id;
    }
    ofpbuf_uninit(&bands);
    if (oc->n_installed_meters) {
        qsort(oc->installed_meters, oc->n_installed_meters,
              sizeof *oc->installed_meters, compare_u32);
    }
}

static void
handle_msg(struct ofctrl *oc, struct ofpbuf *msg)
{
    const struct ofp_header *oh = msg->data;
    enum ofptype type;
    if (ofptype_decode(&type, oh)) {
        return;
    }
    switch (type) {
    case OFPTYPE_ECHO_REQUEST:
        send_msg(oc, ofputil_encode_echo_reply(oh));
        break;
    case OFPTYPE_ERROR:
        handle_error(oc, oh);
        break;
    case OFPTYPE_BARRIER_REPLY:
        if (oc->busy && oh->xid == oc->barrier_xid) {
            finish_batch(oc);
        }
        break;
    case OFPTYPE_PACKET_IN:
        handle_packet_in(oc, oh);
        break;
    case OFPTYPE_FLOW_STATS_REPLY:
        if (oc->dump_busy && oh->xid == oc->dump_xid) {
            handle_flow_stats(oc, msg, true);
            if (!ofpmp_more(oh)) {
                oc->dump_busy = false;
                oc->dump_ready = true;
            }
        } else if (oc->stats_busy
                   && (oh->xid == oc->stats_xid
                       || oh->xid == oc->spoof_xid)) {
            handle_flow_stats(oc, msg, false);
            if (!ofpmp_more(oh) && !--oc->stats_busy) {
                oc->counters_ready = true;
            }
        }
        break;
    case OFPTYPE_AGGREGATE_STATS_REPLY:
        if (oc->audit_busy && oh->xid == oc->audit_xid) {
            oc->audit_busy = false;
            handle_audit(oc, oh);
        }
        break;
    case OFPTYPE_METER_CONFIG_STATS_REPLY:
        if (oc->meter_dump_busy && oh->xid == oc->meter_dump_xid) {
            handle_meter_config(oc, msg);
            if (!ofpmp_more(oh)) {
                oc->meter_dump_busy = false;
            }
        }
        break;
    default:
        break;
    }
}

/* A new connection: packet-ins on (a management connection gets no
 * asynchronous messages until it asks), and everything to be replaced. */
static void
on_connect(struct ofctrl *oc)
{
    struct ofputil_async_cfg ac = ofputil_async_cfg_default(OFCTRL_VERSION);
    send_msg(oc, ofputil_encode_set_async_config(&ac, UINT32_MAX,
                                                 OFCTRL_VERSION));
    send_msg(oc, ofputil_encode_set_packet_in_format(
                 OFCTRL_VERSION, OFPUTIL_PACKET_IN_NXT2));
    /* What was approved before (by an earlier switchd) is read back
     * before anything is replaced. */
    free(oc->dumped);
    oc->dumped = NULL;
    oc->n_dumped = oc->allocated_dumped = 0;
    oc->dump_ready = false;
    oc->dump_xid = request_flows(oc, FLOWGEN_K_POLICY, false);
    oc->dump_busy = true;

    oc->n_installed_meters = 0;
    struct ofpbuf *req = ofputil_encode_meter_request(OFCTRL_VERSION,
                                                      OFPUTIL_METER_CONFIG,
                                                      OFPM13_ALL);
    oc->meter_dump_xid = ((struct ofp_header *) req->data)->xid;
    send_msg(oc, req);
    oc->meter_dump_busy = true;
    LOG_INFO("connected to %s", rconn_get_target(oc->rconn));
}

void
ofctrl_run(struct ofctrl *oc)
{
    rconn_run(oc->rconn);
    unsigned int conn_seqno = rconn_get_connection_seqno(oc->rconn);
    if (conn_seqno != oc->conn_seqno) {
        /* Connected anew, or lost the connection: whatever was in flight
         * is gone, and the switch may hold anything. */
        oc->conn_seqno = conn_seqno;
        oc->busy = false;
        oc->batch_void = false;
        oc->stats_busy = 0;
        oc->dump_busy = oc->dump_ready = false;
        oc->meter_dump_busy = false;
        oc->audit_busy = false;
        oc->n_counters = 0;
        clear_changes(oc);
        oc->need_full = true;
        if (rconn_is_connected(oc->rconn)) {
            on_connect(oc);
        }
    }
    for (int i = 0; i < 256 && rconn_is_connected(oc->rconn); i++) {
        struct ofpbuf *msg = rconn_recv(oc->rconn);
        if (!msg) {
            break;
        }
        handle_msg(oc, msg);
        ofpbuf_delete(msg);
    }
    maybe_send_batch(oc);
}

void
ofctrl_wait(struct ofctrl *oc)
{
    rconn_run_wait(oc->rconn);
    rconn_recv_wait(oc->rconn);
    if (!oc->busy && oc->enabled && !oc->dump_busy && !oc->dump_ready
        && !oc->meter_dump_busy && rconn_is_connected(oc->rconn)
        && (oc->need_full || !sset_is_empty(&oc->dirty))) {
        poll_immediate_wake();
    }
}

/* Sends a flow stats request (or an aggregate one) for appfw's flows of
 * 'kind'; returns its xid. */
static ovs_be32
request_flows(struct ofctrl *oc, enum flowgen_kind kind, bool aggregate)
{
    /* Kind 0: every appfw flow. */
    struct ofputil_flow_stats_request fsr = {
        .aggregate = aggregate,
        .cookie = htonll(((uint64_t) oc->prefix << 48)
                         | ((uint64_t) kind << 40)),
        .cookie_mask = htonll(kind ? UINT64_C(0xffffff) << 40
                                   : UINT64_C(0xffff) << 48),
        .out_port = OFPP_ANY,
        .out_group = OFPG_ANY,
        .table_id = 0xff,
    };
    match_init_catchall(&fsr.match);
    struct ofpbuf *req = ofputil_encode_flow_stats_request(&fsr,
                                                           OFCTRL_PROTOCOL);
    ovs_be32 xid = ((struct ofp_header *) req->data)->xid;
    send_msg(oc, req);
    return xid;
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
    oc->n_dumped = oc->allocated_dumped = 0;
    oc->dump_ready = false;
    return true;
}

void
ofctrl_request_counters(struct ofctrl *oc)
{
    if (oc->stats_busy || !rconn_is_connected(oc->rconn)) {
        return;
    }
    oc->stats_xid = request_flows(oc, FLOWGEN_K_COUNT, false);
    oc->spoof_xid = request_flows(oc, FLOWGEN_K_SPOOF, false);
    oc->stats_busy = 2;
    oc->counters_ready = false;
    oc->n_counters = 0;
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
    oc->n_counters = oc->allocated_counters = 0;
    oc->counters_ready = false;
    return true;
}

static int
packet_out(struct ofctrl *oc, ofp_port_t in_port, ofp_port_t out_port,
           const void *packet, size_t len)
{
    if (!rconn_is_connected(oc->rconn)) {
        return ENOTCONN;
    }
    uint64_t stub[64 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    ofpact_put_OUTPUT(&ofpacts)->port = out_port;
    struct ofputil_packet_out po = {
        .packet = packet,
        .packet_len = len,
        .buffer_id = UINT32_MAX,
        .ofpacts = ofpacts.data,
        .ofpacts_len = ofpacts.size,
    };
    match_init_catchall(&po.flow_metadata);
    match_set_in_port(&po.flow_metadata, in_port);
    send_msg(oc, ofputil_encode_packet_out(&po, OFCTRL_PROTOCOL));
    ofpbuf_uninit(&ofpacts);
    return 0;
}

int
ofctrl_packet_out(struct ofctrl *oc, int ofport, const void *packet,
                  size_t len)
{
    return packet_out(oc, OFPP_CONTROLLER, u16_to_ofp(ofport), packet, len);
}

int
ofctrl_resubmit_packet(struct ofctrl *oc, int in_port, const void *packet,
                       size_t len)
{
    return packet_out(oc, u16_to_ofp(in_port), OFPP_TABLE, packet, len);
}

char *
ofctrl_status(const struct ofctrl *oc)
{
    return xasprintf("switch=%s state=%s%s desired=%zu installed=%zu "
                     "pending=%zu in_flight=%s seqno=%llu acked=%llu "
                     "bundles=%llu full=%llu failed=%llu flow_mods=%llu "
                     "audits=%llu repairs=%llu%s%s",
                     rconn_get_target(oc->rconn),
                     rconn_get_state(oc->rconn),
                     oc->enabled ? "" : " (held: bridge not fail_mode=secure)",
                     shash_count(&oc->desired), shash_count(&oc->installed),
                     sset_count(&oc->dirty), oc->busy ? "yes" : "no",
                     (unsigned long long) oc->seqno,
                     (unsigned long long) oc->acked,
                     oc->n_batches, oc->n_full, oc->n_failed,
                     oc->n_flow_mods, oc->n_audits, oc->n_repairs,
                     oc->fail_msg ? " last_error=" : "",
                     oc->fail_msg ? oc->fail_msg : "");
}

static int
compare_strings(const void *a_, const void *b_)
{
    const char *const *a = a_, *const *b = b_;
    return strcmp(*a, *b);
}

char *
ofctrl_dump_desired(const struct ofctrl *oc)
{
    size_t n = shash_count(&oc->desired);
    char **lines = xmalloc((n ? n : 1) * sizeof *lines);
    size_t i = 0;
    struct shash_node *node;
    SHASH_FOR_EACH (node, &oc->desired) {
        const struct desired_flow *df = node->data;
        struct ofputil_flow_mod fm;
        struct ofpbuf ofpacts;
        ofpbuf_init(&ofpacts, 64);
        struct ds s = DS_EMPTY_INITIALIZER;
        if (!ofputil_decode_flow_mod(&fm, df->add->data, OFCTRL_PROTOCOL,
                                     NULL, NULL, &ofpacts, OFPP_MAX, 255)) {
            ds_put_format(&s, "table=%d, priority=%d, cookie=0x%llx, ",
                          fm.table_id, fm.priority,
                          (unsigned long long) df->cookie);
            struct match match;
            minimatch_expand(&fm.match, &match);
            match_format(&match, NULL, &s, OFP_DEFAULT_PRIORITY);
            ds_put_cstr(&s, " actions=");
            struct ofpact_format_params fp = { .s = &s };
            ofpacts_format(fm.ofpacts, fm.ofpacts_len, &fp);
            minimatch_destroy(&fm.match);
        } else {
            ds_put_cstr(&s, df->key);
        }
        ofpbuf_uninit(&ofpacts);
        lines[i++] = ds_steal_cstr(&s);
    }
    qsort(lines, n, sizeof *lines, compare_strings);
    struct ds out = DS_EMPTY_INITIALIZER;
    for (i = 0; i < n; i++) {
        ds_put_format(&out, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    return ds_steal_cstr(&out);
}
