/* switchd: VM registry, guest relay, flow requests (see switchd.h). */
#include <config.h>

#include "switchd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "packets.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/shash.h"
#include "timeval.h"
#include "uuid.h"
#include "util.h"

#include "common/file.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/rpc.h"
#include "flowgen.h"
#include "ofctrl.h"
#include "ovsdb.h"
#include "relay.h"
#include "reset.h"
#include "common/tuple.h"
#include "zone.h"

LOG_MODULE(switchd);

#define GUEST_MSGS_PER_RUN 64   /* Per VM per pass: fairness. */
#define FLOW_REQS_PER_RUN 256
#define MAX_COUNTED_PER_VM 1024   /* (Application, user) pairs counted per
                                   * VM (their counting flows live as long
                                   * as it; the rest falls to the VM's
                                   * own counting flows). */
#define APPS_PER_REPORT 256     /* Counters in one stats message (each
                                 * takes up to 160 bytes of JSON). */
#define MAX_REPUNTS 16          /* Per approved flow per second. */
#define MAX_HELD_PER_VM 16      /* Packets held while their source is
                                 * being learned. */
#define HELD_TIMEOUT_MS 2000
#define RECHECK_BATCH 256      /* Decides in one recheck, at most (and
                                 * at most MSG_MAX_RECHECK)... */
#define RECHECK_BYTES (FRAME_MAX_LEN - 1024)  /* ...and bytes: secd reads
                                 * no longer message. */
#define RECHECK_RETRY_MS 1000
#define PENDING_TIMEOUT_MS 10000  /* A flow request waits this long at most
                                   * for the switch (secd gives up sooner). */

/* An approved connection's flows (minus the shared counting flow). */
struct allow {
    struct flowgen_flows flows;
    long long int expires;      /* time_msec() */
    uint32_t app_id;
    uint64_t seqno;             /* ofctrl seqno that carries its flows. */
    long long int repunt_window;  /* See repunt(). */
    unsigned int repunts;
    struct json_object *decide; /* The decide it answers, as forwarded
                                 * (asked again after a policy_change),
                                 * or NULL (a flow_install's). */
};

/* One of a VM's interfaces on the bridge. */
struct vm_port {
    int ofport;
    char *mac;
    char *iface;                /* Interface name. */
    char *addresses;            /* external_ids:appfw-addresses, or "". */
    char *learned;              /* Learned so far (if no 'addresses'). */
};

/* A packet whose source address was just learned: it goes back through
 * the pipeline once the flows that let it pass are on the switch. */
struct held {
    struct ovs_list node;
    int in_port;
    uint8_t *packet;
    size_t len;
    uint64_t seqno;             /* ofctrl seqno of those flows. */
    long long int deadline;
};

struct vm {
    struct switchd *sd;         /* The switchd it belongs to. */
    char *uuid;
    char *name;
    char *mac;                  /* Of its first port (for stamping). */
    int ofport;                 /* Its first port. */
    struct vm_port *ports;      /* Every interface with its vm-id. */
    size_t n_ports, allocated_ports;
    uint16_t zone;              /* 0 until it has an interface (zone.h). */
    uint16_t claim;             /* Its interfaces' appfw-zone (reconcile). */
    bool in_db;                 /* Has an Interface row (reconcile). */
    enum flowgen_mode mode;
    bool on_bridge;             /* Has an Interface with vm-id. */
    struct relay *relay;        /* NULL unless registered. */

    struct flowgen_flows flows;     /* VM flows now in ofctrl. */
    struct shash allows;            /* policy flow key -> struct allow */
    struct shash counted;           /* counted_key() -> struct
                                     * flowgen_flows (both directions) */
    struct shash last_counters;     /* counted_key() -> uint64_t[4]: the
                                     * last read's packets and bytes out,
                                     * packets and bytes in */

    double tokens;
    long long int tokens_at;
    int in_flight;
    struct log_rl rl;
    unsigned long long decides, verdicts, refused;
    unsigned long long notices;     /* Passed from secd to the agent. */

    /* Port security: packets dropped, by enum flowgen_spoof, as the drop
     * flows counted them (every stats-interval), and as switchd refused
     * them while learning. */
    uint64_t spoof_now[FLOWGEN_N_SPOOF];     /* Summed in one read. */
    uint64_t spoof_last[FLOWGEN_N_SPOOF];    /* The last read's. */
    uint64_t spoof_base[FLOWGEN_N_SPOOF];    /* Counted before a reset. */
    unsigned long long refused_learn[FLOWGEN_N_SPOOF];
    unsigned long long learned;     /* Addresses learned. */
    struct ovs_list held;           /* struct held */
    size_t n_held;
};

/* A flow_install waiting for its barrier. */
struct pending_install {
    struct ovs_list node;
    struct rpc_request *req;
    int64_t id;
    uint64_t seqno;
    char *vm;
    char **keys;                /* The allows this request added. */
    size_t n_keys;
    long long int deadline;     /* time_msec(): give up then. */
};

/* A packet from a VM without an agent, held while secd decides. */
struct ask {
    char *key;                  /* In switchd's 'asks': one per connection */
    uint8_t *packet;
    size_t len;
    int in_port;
    struct tuple tuple;
};

/* A request forwarded to secd: a guest's, or switchd's own 'ask'. */
struct forwarded {
    char *vm;
    int64_t id;                 /* The guest's id; 0: no reply wanted. */
    struct ask *ask;
    struct json_object *decide; /* A decide as sent (asked again, with
                                 * "flow_refused", if the switch refuses
                                 * the flow of its allow); else NULL. */
};

/* An allow verdict from secd waiting for its flow to be on the switch
 * before it goes on to the guest (or releases a held packet). */
struct pending_verdict {
    struct ovs_list node;
    struct forwarded *f;        /* What it answers. */
    struct json_object *verdict;    /* Without its "flow". */
    char *key;                  /* The allow it added, or NULL. */
    uint64_t seqno;
    long long int deadline;     /* time_msec(): give up then. */
};

/* A recheck out to secd: which allows its decides are, in order. */
struct recheck {
    size_t n;
    char **vms;                 /* The allows' VMs' uuids. */
    char **keys;                /* The allows' keys. */
};

struct switchd {
    struct switchd_config cfg;
    struct flowgen_ctx ctx;
    enum flowgen_mode default_mode;
    struct ofctrl *ofctrl;
    struct vsdb *vsdb;
    unsigned int vsdb_seqno;
    bool recompute;
    struct rpc_server *flows_rpc;
    struct rpc_client *secd;
    /* Naming reports are forwarded with these, so that appfw-secd applies
     * each VM's in the order the VM sent them, whatever order its many
     * receiving contexts take them in: this run's start (ms), and a
     * counter over every VM (a VM registered again keeps going up). */
    int64_t naming_epoch, naming_seq;

    struct shash vms;               /* uuid -> struct vm */
    struct zone_table zones;        /* zone -> struct vm */
    struct shash registered;        /* uuid -> channel path */
    struct shash reg_names;         /* uuid -> name given at registration */
    struct shash reg_addrs;         /* "uuid mac" -> addresses given */
    bool loading;                   /* Reading the registry file. */
    struct ovs_list pending;        /* struct pending_install */
    struct ovs_list verdicts;       /* struct pending_verdict */
    struct shash forwarded;         /* cookie -> struct forwarded */
    struct shash asks;              /* connection -> NULL, while asking */
    uint64_t next_cookie;

    /* The poll that brings what secd has to send this hypervisor
     * (docs/protocol.md, "poll"): one always out while secd answers. */
    uint64_t poll_cookie;           /* Of the poll out, 0: none. */
    long long int next_poll;        /* time_msec() of the next one. */
    unsigned long long polls, poll_errors;

    /* secd's revision of its decisions (docs/protocol.md,
     * "policy_change"), as this switchd last heard it, and the rechecks
     * of approved flows out for it. */
    int64_t revision;
    int64_t policy_version;
    bool revision_known;
    struct shash rechecks;          /* cookie -> struct recheck */
    long long int recheck_due;      /* time_msec() of a retry, or
                                     * LLONG_MAX. */
    unsigned long long rechecks_sent, revoked;

    long long int next_sweep, next_stats, next_audit;
    unsigned long long installs, installs_failed, resets, asks_sent;
    unsigned long long repunts;
};

static bool
mode_from_name(const char *name, enum flowgen_mode *mode)
{
    if (!strcmp(name, "enforce")) {
        *mode = FLOWGEN_ENFORCE;
    } else if (!strcmp(name, "monitor")) {
        *mode = FLOWGEN_MONITOR;
    } else if (!strcmp(name, "noagent")) {
        *mode = FLOWGEN_NOAGENT;
    } else {
        return false;
    }
    return true;
}

static const char *
mode_name(enum flowgen_mode mode)
{
    return (mode == FLOWGEN_ENFORCE ? "enforce"
            : mode == FLOWGEN_MONITOR ? "monitor" : "noagent");
}

static void packet_in(void *sd_, const struct ofctrl_packet_in *);
static void registry_load(struct switchd *);
static void registry_save(const struct switchd *);
static bool take_token(struct switchd *, struct vm *);
static relay_admit_func admit_guest_frame;
static void forward(struct switchd *, struct vm *, struct json_object *,
                    enum msg_type, int64_t reply_id, struct ask *);

char *
switchd_create(const struct switchd_config *cfg, struct switchd **sdp)
{
    *sdp = NULL;
    enum flowgen_mode mode;
    if (!mode_from_name(cfg->default_mode, &mode)) {
        return xasprintf("default-mode: \"%s\" is not enforce, monitor or "
                         "noagent", cfg->default_mode);
    }
    struct switchd *sd = xzalloc(sizeof *sd);
    sd->cfg = *cfg;
    sd->naming_epoch = time_wall_msec();
    sd->default_mode = mode;
    sd->ctx.table_base = cfg->table_base;
    sd->ctx.cookie_prefix = cfg->cookie_prefix;
    char *error = rpc_server_create(cfg->flow_url, 256, cfg->flow_ipc_mode,
                                    &sd->flows_rpc);
    if (!error) {
        error = rpc_client_create(cfg->decide_url, cfg->secd_timeout_ms,
                                  &sd->secd);
    }
    if (error) {
        rpc_server_destroy(sd->flows_rpc);
        free(sd);
        return error;
    }
    shash_init(&sd->vms);
    shash_init(&sd->registered);
    shash_init(&sd->reg_names);
    shash_init(&sd->reg_addrs);
    shash_init(&sd->forwarded);
    shash_init(&sd->rechecks);
    sd->recheck_due = LLONG_MAX;
    shash_init(&sd->asks);
    ovs_list_init(&sd->pending);
    ovs_list_init(&sd->verdicts);
    sd->ofctrl = ofctrl_create(cfg->switch_target, cfg->cookie_prefix,
                               packet_in, sd);
    sd->vsdb = vsdb_create(cfg->db, cfg->bridge);
    sd->recompute = true;

    struct flowgen_flows global;
    flowgen_flows_init(&global);
    flowgen_global(&sd->ctx, &global);
    for (size_t i = 0; i < global.n; i++) {
        char *e = ofctrl_add_flow(sd->ofctrl, &global.flows[i]);
        ovs_assert(!e);
    }
    flowgen_flows_destroy(&global);
    sd->next_sweep = sd->next_stats = time_msec() + 1000;
    sd->next_audit = time_msec() + cfg->audit_interval * 1000LL;
    registry_load(sd);
    *sdp = sd;
    return NULL;
}

/* Flows in and out of ofctrl. */

/* Adds 'flows' to the desired table.  A flow ofctrl refuses (the same
 * match wanted with other actions by another owner, e.g. two VMs with one
 * MAC) is logged and dropped from 'flows', so that the owner never removes
 * a reference it does not hold.  Returns the first refusal (malloc'd), or
 * NULL. */
static char *
flows_install(struct switchd *sd, struct flowgen_flows *flows)
{
    char *first = NULL;
    size_t kept = 0;
    for (size_t i = 0; i < flows->n; i++) {
        struct flowgen_flow *f = &flows->flows[i];
        char *error = ofctrl_add_flow(sd->ofctrl, f);
        if (error) {
            static struct log_rl rl = LOG_RL_INIT(6, 3);
            LOG_WARN_RL(&rl, "flow not added: %s", error);
            if (!first) {
                first = error;
            } else {
                free(error);
            }
            free(f->match);
            free(f->actions);
        } else {
            flows->flows[kept++] = *f;
        }
    }
    flows->n = kept;
    return first;
}

static void
flows_uninstall(struct switchd *sd, const struct flowgen_flows *flows)
{
    for (size_t i = 0; i < flows->n; i++) {
        ofctrl_remove_flow(sd->ofctrl, &flows->flows[i]);
    }
}

static void
allow_destroy(struct switchd *sd, struct allow *a)
{
    flows_uninstall(sd, &a->flows);
    flowgen_flows_destroy(&a->flows);
    json_object_put(a->decide);
    free(a);
}

/* VMs. */

static struct vm *
vm_find(const struct switchd *sd, const char *uuid)
{
    return shash_find_data(&sd->vms, uuid);
}

static struct vm *
vm_get(struct switchd *sd, const char *uuid)
{
    struct vm *vm = vm_find(sd, uuid);
    if (!vm) {
        vm = xzalloc(sizeof *vm);
        vm->sd = sd;
        vm->uuid = xstrdup(uuid);
        vm->name = xstrdup("");
        vm->mac = xstrdup("");
        vm->mode = sd->default_mode;
        flowgen_flows_init(&vm->flows);
        ovs_list_init(&vm->held);
        shash_init(&vm->allows);
        shash_init(&vm->counted);
        shash_init(&vm->last_counters);
        vm->tokens = sd->cfg.vm_burst;
        vm->tokens_at = time_msec();
        vm->rl = (struct log_rl) LOG_RL_INIT(6, 3);
        shash_add(&sd->vms, uuid, vm);
        LOG_INFO("vm added vm=%s", uuid);
    }
    return vm;
}

static void
vm_drop_allows(struct switchd *sd, struct vm *vm)
{
    struct shash_node *node;
    SHASH_FOR_EACH (node, &vm->allows) {
        allow_destroy(sd, node->data);
    }
    shash_clear(&vm->allows);
    SHASH_FOR_EACH (node, &vm->counted) {
        flows_uninstall(sd, node->data);
        flowgen_flows_destroy(node->data);
        free(node->data);
    }
    shash_clear(&vm->counted);
    shash_clear_free_data(&vm->last_counters);
}

static void
vm_clear_ports(struct vm *vm)
{
    for (size_t i = 0; i < vm->n_ports; i++) {
        free(vm->ports[i].mac);
        free(vm->ports[i].iface);
        free(vm->ports[i].addresses);
        free(vm->ports[i].learned);
    }
    vm->n_ports = 0;
}

static struct vm_port *
vm_find_port(const struct vm *vm, int ofport)
{
    for (size_t i = 0; i < vm->n_ports; i++) {
        if (vm->ports[i].ofport == ofport) {
            return &vm->ports[i];
        }
    }
    return NULL;
}

static bool
vm_has_port(const struct vm *vm, int ofport)
{
    return vm_find_port(vm, ofport) != NULL;
}

static void
held_destroy(struct held *h)
{
    free(h->packet);
    free(h);
}

static int
compare_ports(const void *a_, const void *b_)
{
    const struct vm_port *a = a_, *b = b_;
    return a->ofport < b->ofport ? -1 : a->ofport > b->ofport;
}

static void
vm_destroy(struct switchd *sd, struct vm *vm)
{
    LOG_INFO("vm removed vm=%s zone=%u", vm->uuid, vm->zone);
    vm_drop_allows(sd, vm);
    flows_uninstall(sd, &vm->flows);
    flowgen_flows_destroy(&vm->flows);
    shash_destroy(&vm->allows);
    shash_destroy(&vm->counted);
    shash_destroy(&vm->last_counters);
    relay_destroy(vm->relay);
    struct held *h;
    LIST_FOR_EACH_POP (h, node, &vm->held) {
        held_destroy(h);
    }
    if (vm->zone) {
        sd->zones.owner[vm->zone] = NULL;
    }
    shash_find_and_delete(&sd->vms, vm->uuid);
    free(vm->uuid);
    free(vm->name);
    free(vm->mac);
    vm_clear_ports(vm);
    free(vm->ports);
    free(vm);
}

static void
vm_flowgen(const struct vm *vm, struct flowgen_vm *fv)
{
    *fv = (struct flowgen_vm) {
        .uuid = vm->uuid,
        .ofport = vm->on_bridge ? vm->ofport : 0,
        .zone = vm->zone,
        .mac = vm->mac,
        .mode = vm->mode,
    };
}

static bool
flows_equal(const struct flowgen_flows *a, const struct flowgen_flows *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct flowgen_flow *x = &a->flows[i], *y = &b->flows[i];
        if (x->table != y->table || x->priority != y->priority
            || x->cookie != y->cookie || strcmp(x->match, y->match)
            || strcmp(x->actions, y->actions)) {
            return false;
        }
    }
    return true;
}

/* Regenerates a VM's own flows.  The old ones go first, since a flow may
 * keep its match and change its actions (a new mode); flows that stay the
 * same leave and come back within this pass, before ofctrl sends anything,
 * so they never leave the switch. */
static void
vm_update_flows(struct switchd *sd, struct vm *vm)
{
    /* Every interface of the VM is classified into the VM's zone (a VM
     * with several NICs has no unfiltered one); flows they share, like
     * the VM's default, are the same flow twice and counted twice. */
    struct flowgen_flows new;
    flowgen_flows_init(&new);
    for (size_t i = 0; i < vm->n_ports; i++) {
        struct flowgen_vm fv;
        vm_flowgen(vm, &fv);
        fv.ofport = vm->ports[i].ofport;
        fv.mac = vm->ports[i].mac;
        fv.addresses = vm->ports[i].addresses;
        fv.learned = vm->ports[i].learned;
        flowgen_vm(&sd->ctx, &fv, &new);
    }
    if (flows_equal(&new, &vm->flows)) {
        /* The common case on a database change that is not about this VM:
         * nothing to take out and parse again. */
        flowgen_flows_destroy(&new);
        return;
    }
    flows_uninstall(sd, &vm->flows);
    free(flows_install(sd, &new));
    flowgen_flows_destroy(&vm->flows);
    vm->flows = new;
}

static void
set_string(char **dst, const char *src)
{
    if (strcmp(*dst, src ? src : "")) {
        free(*dst);
        *dst = xstrdup(src ? src : "");
    }
}

/* One meter per VM on the bridge bounds its packets to switchd. */
static void
set_meters(struct switchd *sd)
{
    uint32_t *ids = xmalloc((shash_count(&sd->vms) + 1) * sizeof *ids);
    size_t n = 0;
    struct shash_node *node;
    SHASH_FOR_EACH (node, &sd->vms) {
        const struct vm *vm = node->data;
        if (vm->on_bridge) {
            ids[n++] = flowgen_meter(&sd->ctx, vm->zone);
        }
    }
    ofctrl_set_meters(sd->ofctrl, ids, n, sd->cfg.vm_punt_rate,
                      sd->cfg.vm_punt_rate * 2);
    free(ids);
}

/* Gives a zone to each VM with an interface that has none yet, the one
 * recorded with its interfaces if it can (zone.h), and records every VM's
 * zone with each of its interfaces. */
static void
assign_zones(struct switchd *sd, const struct vsdb_vm_port *ports, size_t n)
{
    struct zone_request *reqs = xmalloc((shash_count(&sd->vms) + 1)
                                        * sizeof *reqs);
    size_t n_reqs = 0;
    struct shash_node *node;
    SHASH_FOR_EACH (node, &sd->vms) {
        struct vm *vm = node->data;
        if (vm->in_db && !vm->zone) {
            reqs[n_reqs++] = (struct zone_request) {
                .uuid = vm->uuid, .hash = hash_string(vm->uuid, 0),
                .claim = vm->claim, .owner = vm,
            };
        }
    }
    zone_assign(&sd->zones, reqs, n_reqs);
    for (size_t i = 0; i < n_reqs; i++) {
        struct vm *vm = reqs[i].owner;
        vm->zone = reqs[i].zone;
        if (vm->claim && vm->claim != vm->zone) {
            const struct vm *holder = sd->zones.owner[vm->claim];
            LOG_WARN("vm=%s: its interfaces record zone %u, which vm=%s "
                     "has: zone %u instead", vm->uuid, vm->claim,
                     holder ? holder->uuid : "-", vm->zone);
        } else if (!vm->zone) {
            LOG_ERR("vm=%s: no conntrack zone is free", vm->uuid);
        }
        LOG_INFO("vm zone vm=%s zone=%u%s", vm->uuid, vm->zone,
                 vm->claim && vm->claim == vm->zone ? " (recorded)" : "");
    }
    free(reqs);
    for (size_t i = 0; i < n; i++) {
        const struct vm *vm = vm_find(sd, ports[i].vm_id);
        if (vm && vm->zone && ports[i].zone != vm->zone) {
            vsdb_set_zone(sd->vsdb, ports[i].iface, vm->zone);
        }
    }
}

/* Why 'name' cannot be a VM's name in what switchd sends secd (the
 * schema's vm.name: 1..256 bytes of UTF-8), or NULL if it can; control
 * characters are refused too, as they would reach logs and listings. */
static const char *
vm_name_error(const char *name)
{
    size_t len = strlen(name);
    if (!len || len > 256) {
        return "a VM name is 1..256 bytes";
    }
    for (const unsigned char *c = (const unsigned char *) name; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            return "a VM name may not contain control characters";
        }
        /* UTF-8: a lead byte and its continuation bytes, shortest form,
         * no surrogates, at most U+10FFFF. */
        int more = (*c < 0x80 ? 0 : *c >= 0xc2 && *c <= 0xdf ? 1
                    : *c >= 0xe0 && *c <= 0xef ? 2
                    : *c >= 0xf0 && *c <= 0xf4 ? 3 : -1);
        if (more < 0
            || (*c == 0xe0 && (c[1] & 0xe0) != 0xa0)
            || (*c == 0xed && (c[1] & 0xe0) != 0x80)
            || (*c == 0xf0 && (c[1] < 0x90 || c[1] > 0xbf))
            || (*c == 0xf4 && (c[1] & 0xf0) != 0x80)) {
            return "a VM name must be UTF-8";
        }
        for (; more; more--) {
            if ((*++c & 0xc0) != 0x80) {
                return "a VM name must be UTF-8";
            }
        }
    }
    return NULL;
}

/* Brings the VM table in line with the database and the registrations. */
static void
reconcile(struct switchd *sd)
{
    struct shash_node *node, *next;
    SHASH_FOR_EACH (node, &sd->vms) {
        struct vm *vm = node->data;
        vm_clear_ports(vm);
        vm->claim = 0;
        vm->in_db = false;
    }
    struct vsdb_vm_port *ports;
    size_t n = vsdb_vm_ports(sd->vsdb, &ports);
    for (size_t i = 0; i < n; i++) {
        const struct vsdb_vm_port *p = &ports[i];
        if (!uuid_is_partial_string(p->vm_id)
            || strlen(p->vm_id) != UUID_LEN) {
            continue;
        }
        struct vm *vm = vm_get(sd, p->vm_id);
        vm->in_db = true;
        vm->claim = vm->claim ? vm->claim : p->zone;
        if (p->ofport > 0) {
            /* The Interface's own addresses, else the registration's. */
            const char *addrs = p->addresses;
            if (!addrs && p->mac) {
                char *key = xasprintf("%s %s", vm->uuid, p->mac);
                addrs = shash_find_data(&sd->reg_addrs, key);
                free(key);
            }
            if (vm->n_ports >= vm->allocated_ports) {
                vm->ports = x2nrealloc(vm->ports, &vm->allocated_ports,
                                       sizeof *vm->ports);
            }
            vm->ports[vm->n_ports++] = (struct vm_port) {
                .ofport = p->ofport,
                .mac = xstrdup(p->mac ? p->mac : ""),
                .iface = xstrdup(p->iface),
                .addresses = xstrdup(addrs ? addrs : ""),
                .learned = xstrdup(p->learned ? p->learned : ""),
            };
            char *bad = flowgen_check_addresses(addrs);
            if (bad) {
                /* Fail closed: the words that parse are the VM's. */
                LOG_WARN_RL(&vm->rl, "vm=%s iface=%s appfw-addresses: %s "
                            "(left out)", vm->uuid, p->iface, bad);
                free(bad);
            }
        }
        if (!vm->n_ports || vm->ports[0].ofport == p->ofport) {
            /* The name the registration gave (libvirt's domain name),
             * else external_ids:vm-name, else the interface's: the first
             * that can go in a message to secd, or none. */
            const char *names[] = {
                shash_find_data(&sd->reg_names, vm->uuid), p->vm_name,
                p->iface,
            };
            const char *name = "";
            for (size_t k = 0; k < ARRAY_SIZE(names) && !*name; k++) {
                if (names[k] && !vm_name_error(names[k])) {
                    name = names[k];
                } else if (names[k] && k == 1) {
                    LOG_WARN_RL(&vm->rl, "vm=%s iface=%s vm-name: %s "
                                "(ignored)", vm->uuid, p->iface,
                                vm_name_error(names[k]));
                }
            }
            set_string(&vm->name, name);
        }
        enum flowgen_mode mode = sd->default_mode;
        if (p->mode && !mode_from_name(p->mode, &mode)) {
            LOG_WARN_RL(&vm->rl, "vm=%s appfw-mode=%s is not enforce, "
                        "monitor or noagent; using %s", vm->uuid, p->mode,
                        mode_name(sd->default_mode));
        }
        vm->mode = mode;
    }
    assign_zones(sd, ports, n);
    free(ports);
    SHASH_FOR_EACH (node, &sd->vms) {
        struct vm *vm = node->data;
        if (vm->n_ports) {
            qsort(vm->ports, vm->n_ports, sizeof *vm->ports, compare_ports);
        }
        vm->on_bridge = vm->n_ports > 0;
        vm->ofport = vm->on_bridge ? vm->ports[0].ofport : 0;
        set_string(&vm->mac, vm->on_bridge ? vm->ports[0].mac : "");
    }

    SHASH_FOR_EACH (node, &sd->registered) {
        struct vm *vm = vm_get(sd, node->name);
        if (!vm->in_db) {
            /* No interface to name it yet: the registration's name, which
             * comes first anyway. */
            set_string(&vm->name, shash_find_data(&sd->reg_names,
                                                  vm->uuid));
        }
    }
    set_meters(sd);
    SHASH_FOR_EACH_SAFE (node, next, &sd->vms) {
        struct vm *vm = node->data;
        const char *path = shash_find_data(&sd->registered, vm->uuid);
        if (!vm->on_bridge) {
            vm_drop_allows(sd, vm);
        }
        if (!vm->on_bridge && !path) {
            /* Gone from this hypervisor: another may host it now. */
            struct json_object *release = msg_create(MSG_VM_RELEASE);
            forward(sd, vm, release, MSG_VM_RELEASE, 0, NULL);
            json_object_put(release);
            vm_destroy(sd, vm);
            continue;
        }
        if (path && (!vm->relay || strcmp(relay_path(vm->relay), path))) {
            relay_destroy(vm->relay);
            vm->relay = relay_create(path, vm->uuid);
            relay_set_admit(vm->relay, admit_guest_frame, vm);
        } else if (!path && vm->relay) {
            relay_destroy(vm->relay);
            vm->relay = NULL;
        }
        vm_update_flows(sd, vm);
    }
}

/* Flow requests from secd. */

static void
send_ack(struct switchd *sd, struct rpc_request *req, int64_t id, bool ok,
         const char *message)
{
    struct json_object *ack = msg_create(MSG_ACK);
    msg_put_int(ack, "id", id);
    json_object_object_add(ack, "ok", json_object_new_boolean(ok));
    if (message) {
        msg_put_string(ack, "message", message);
    }
    const char *text = json_object_to_json_string_ext(ack,
                                                      JSON_C_TO_STRING_PLAIN);
    rpc_request_reply(sd->flows_rpc, req, text, strlen(text));
    json_object_put(ack);
}

/* Answers a flow_install. */
static void
reply_ack(struct switchd *sd, struct rpc_request *req, int64_t id, bool ok,
          const char *message)
{
    send_ack(sd, req, id, ok, message);
    ok ? sd->installs++ : sd->installs_failed++;
}

/* The key of a VM's counters of (app id, uid): "APP" or "APP/UID". */
static void
counted_key(uint32_t app_id, bool has_uid, uint32_t uid, char key[24])
{
    if (has_uid) {
        snprintf(key, 24, "%"PRIu32"/%"PRIu32, app_id, uid);
    } else {
        snprintf(key, 24, "%"PRIu32, app_id);
    }
}

/* Adds the (VM, app, uid) counting flows 'count' (both directions) once
 * per VM, app and uid; takes ownership of their contents. */
static void
add_counted(struct switchd *sd, struct vm *vm, struct flowgen_flows *count,
            const struct flowgen_allow *a)
{
    char key[24];
    counted_key(a->app_id, a->has_uid, a->uid, key);
    if (shash_find(&vm->counted, key)) {
        flowgen_flows_destroy(count);
        return;
    }
    if (shash_count(&vm->counted) >= MAX_COUNTED_PER_VM) {
        /* The connection still passes; the VM's own counting flows count
         * it, without its application and user. */
        LOG_WARN_RL(&vm->rl, "vm=%s counts %d applications and users "
                    "already; app=%s is counted with the VM only", vm->uuid,
                    MAX_COUNTED_PER_VM, key);
        flowgen_flows_destroy(count);
        return;
    }
    struct flowgen_flows *flows = xmalloc(sizeof *flows);
    *flows = *count;
    flowgen_flows_init(count);
    free(flows_install(sd, flows));
    shash_add(&vm->counted, key, flows);
}

/* Appends 'f' to 'flows', taking ownership of its strings. */
static void
flows_take(struct flowgen_flows *flows, struct flowgen_flow *f)
{
    if (flows->n >= flows->allocated) {
        flows->flows = x2nrealloc(flows->flows, &flows->allocated,
                                  sizeof *flows->flows);
    }
    flows->flows[flows->n++] = *f;
    f->match = f->actions = NULL;
}

static void
pending_destroy(struct pending_install *p)
{
    for (size_t i = 0; i < p->n_keys; i++) {
        free(p->keys[i]);
    }
    free(p->keys);
    free(p->vm);
    free(p);
}

static char *install_allow(struct switchd *, struct vm *,
                           const struct flowgen_allow *, int ttl,
                           struct json_object *decide, char **new_key,
                           uint64_t *seqno);

/* Adds one approved connection of 'vm' ('f': a flow_install, or one of
 * its "flows", or an allow verdict's "flow" for 'decide').  Returns NULL, or a malloc'd message.  Sets '*new_key' to
 * the allow's key if it is new (the caller owns it), else NULL, and
 * '*seqno' as install_allow() does. */
static char *
install_one(struct switchd *sd, struct vm *vm, const struct json_object *f,
            int default_ttl, struct json_object *decide, char **new_key,
            uint64_t *seqno)
{
    *new_key = NULL;
    *seqno = 0;
    const char *proto = msg_get_string(f, "protocol", "");
    if (strcmp(proto, "tcp") && strcmp(proto, "udp")
        && strcmp(proto, "icmp")) {
        return xasprintf("protocol: %s gets no flow: only tcp, udp and icmp "
                         "(echo) do", proto);
    }
    struct flowgen_allow a = {
        .service = !strcmp(msg_get_string(f, "granularity", ""), "service"),
        .proto = (!strcmp(proto, "udp") ? 17 : !strcmp(proto, "icmp") ? 1
                  : 6),
        .local_addr = msg_get_string(f, "local.address", ""),
        .local_port = msg_get_int(f, "local.port", 0),
        .remote_addr = msg_get_string(f, "remote.address", ""),
        .remote_port = msg_get_int(f, "remote.port", 0),
        .app_id = msg_get_int(f, "app_id", 0),
        .has_uid = msg_get(f, "uid") != NULL,
        .uid = msg_get_int(f, "uid", 0),
    };
    return install_allow(sd, vm, &a, msg_get_int(f, "ttl", default_ttl),
                         decide, new_key, seqno);
}

/* Adds the approved connection 'a' of 'vm' for 'ttl' seconds (at least
 * min-flow-ttl), approved in answer to 'decide' (NULL: a flow_install;
 * the allow keeps a reference).  Returns NULL, or a malloc'd message.  Sets '*new_key'
 * to the allow's key if it is new (the caller owns it), else NULL, and
 * '*seqno' to the ofctrl seqno whose acknowledgement puts the allow on the
 * switch: a refresh of an allow installed long ago is acked at once, and
 * one still on its way shares the fate of the batch that carries it. */
static char *
install_allow(struct switchd *sd, struct vm *vm,
              const struct flowgen_allow *a, int ttl,
              struct json_object *decide, char **new_key, uint64_t *seqno)
{
    *new_key = NULL;
    *seqno = 0;
    struct flowgen_vm fv;
    vm_flowgen(vm, &fv);
    struct flowgen_flows flows;
    flowgen_flows_init(&flows);
    char *error = flowgen_allow(&sd->ctx, &fv, a, &flows);
    if (error) {
        flowgen_flows_destroy(&flows);
        return error;
    }

    ttl = MAX(ttl, sd->cfg.min_flow_ttl);
    long long int expires = time_msec() + ttl * 1000LL;
    char *key = flowgen_flow_key(&flows.flows[0]);
    struct allow *al = shash_find_data(&vm->allows, key);
    if (al) {
        /* Already approved: refresh it; the ack waits only for whatever
         * is still on its way to the switch. */
        al->expires = MAX(al->expires, expires);
        *seqno = al->seqno;
        if (decide) {
            /* The latest decision is the one a recheck asks about. */
            json_object_put(al->decide);
            al->decide = json_object_get(decide);
        }
        flowgen_flows_destroy(&flows);
        free(key);
        return NULL;
    }
    if (shash_count(&vm->allows) >= (size_t) sd->cfg.vm_max_flows) {
        flowgen_flows_destroy(&flows);
        free(key);
        return xasprintf("vm %s holds %d approved flows, the most one VM "
                         "may (vm-max-flows)", vm->uuid,
                         sd->cfg.vm_max_flows);
    }
    al = xzalloc(sizeof *al);
    al->expires = expires;
    al->app_id = a->app_id;
    al->decide = json_object_get(decide);
    flowgen_flows_init(&al->flows);
    struct flowgen_flows count;
    flowgen_flows_init(&count);
    for (size_t i = 0; i < flows.n; i++) {
        struct flowgen_flow *fl = &flows.flows[i];
        /* The (VM, app, uid) counting flows belong to the VM. */
        flows_take(((fl->cookie >> 40) & 0xff) == FLOWGEN_K_COUNT
                   ? &count : &al->flows, fl);
    }
    flowgen_flows_destroy(&flows);
    if (count.n) {
        add_counted(sd, vm, &count, a);
    }
    error = flows_install(sd, &al->flows);
    if (error) {
        /* Refused: nothing of it may stay. */
        allow_destroy(sd, al);
        free(key);
        return error;
    }
    al->seqno = *seqno = ofctrl_seqno(sd->ofctrl);
    shash_add(&vm->allows, key, al);
    *new_key = key;
    return NULL;
}

static void
withdraw_allows(struct switchd *sd, const char *uuid, char **keys, size_t n)
{
    struct vm *vm = vm_find(sd, uuid);
    for (size_t i = 0; vm && i < n; i++) {
        struct allow *al = shash_find_and_delete(&vm->allows, keys[i]);
        if (al) {
            allow_destroy(sd, al);
        }
    }
}

/* A flow_install: one approved connection, or a batch of them ("flows"),
 * acknowledged together once all are on the switch. */
static void
handle_flow_install(struct switchd *sd, struct rpc_request *req)
{
    struct json_object *msg;
    enum msg_type type;
    char *error = msg_parse(req->data, req->len, &msg, &type);
    if (error || type != MSG_FLOW_INSTALL) {
        char *m = error ? error : xasprintf("expected flow_install, not %s",
                                            msg_type_name(type));
        reply_ack(sd, req, 0, false, m);
        free(m);
        json_object_put(msg);
        return;
    }
    int64_t id = msg_get_int(msg, "id", 0);
    const char *uuid = msg_get_string(msg, "vm.uuid", "");
    struct vm *vm = vm_find(sd, uuid);
    if (!vm || !vm->on_bridge) {
        char *m = xasprintf("vm %s has no port on bridge %s", uuid,
                            sd->cfg.bridge);
        reply_ack(sd, req, id, false, m);
        free(m);
        json_object_put(msg);
        return;
    }

    struct json_object *batch = msg_get_array(msg, "flows");
    size_t n = batch ? msg_array_length(batch) : 1;
    int default_ttl = msg_get_int(msg, "ttl", 0);
    struct pending_install *p = xzalloc(sizeof *p);
    p->keys = xmalloc(n * sizeof *p->keys);
    for (size_t i = 0; i < n; i++) {
        const struct json_object *f = batch
                                      ? json_object_array_get_idx(batch, i)
                                      : msg;
        char *key;
        uint64_t seqno;
        error = install_one(sd, vm, f, default_ttl, NULL, &key, &seqno);
        if (error) {
            /* All or nothing: take back what this request added. */
            withdraw_allows(sd, vm->uuid, p->keys, p->n_keys);
            char *m = batch ? xasprintf("flows[%zu]: %s", i, error)
                            : xstrdup(error);
            reply_ack(sd, req, id, false, m);
            free(m);
            free(error);
            pending_destroy(p);
            json_object_put(msg);
            return;
        }
        if (key) {
            p->keys[p->n_keys++] = key;
        }
        p->seqno = MAX(p->seqno, seqno);
    }
    p->req = req;
    p->id = id;
    p->deadline = time_msec() + PENDING_TIMEOUT_MS;
    p->vm = xstrdup(vm->uuid);
    ovs_list_push_back(&sd->pending, &p->node);
    json_object_put(msg);
}

/* Acknowledges flow requests whose bundle has been confirmed (or failed). */
static void
check_pending(struct switchd *sd)
{
    uint64_t acked = ofctrl_acked_seqno(sd->ofctrl);
    struct pending_install *p, *next;
    LIST_FOR_EACH_SAFE (p, next, node, &sd->pending) {
        const char *error = ofctrl_seqno_error(sd->ofctrl, p->seqno);
        if (error) {
            /* The switch refused it: take it back out, or every resync
             * would fail the same way. */
            withdraw_allows(sd, p->vm, p->keys, p->n_keys);
            reply_ack(sd, p->req, p->id, false, error);
        } else if (p->seqno <= acked) {
            reply_ack(sd, p->req, p->id, true, NULL);
        } else if (time_msec() >= p->deadline) {
            /* The switch is away: free the request's context.  Its flows
             * stay desired and reach the switch when it is back. */
            reply_ack(sd, p->req, p->id, false,
                      "the switch did not confirm the flows in time");
        } else {
            continue;
        }
        ovs_list_remove(&p->node);
        pending_destroy(p);
    }
}

/* Approved flows expire after their TTL: established connections go on
 * through conntrack; new ones need a new verdict. */
static void
sweep_allows(struct switchd *sd)
{
    long long int now = time_msec();
    struct shash_node *vnode;
    SHASH_FOR_EACH (vnode, &sd->vms) {
        struct vm *vm = vnode->data;
        struct shash_node *node, *next;
        SHASH_FOR_EACH_SAFE (node, next, &vm->allows) {
            struct allow *al = node->data;
            if (al->expires <= now) {
                shash_delete(&vm->allows, node);
                allow_destroy(sd, al);
            }
        }
    }
}

/* Guests. */

static void
send_guest_error(struct vm *vm, const char *code, int64_t id,
                 const char *message)
{
    struct json_object *e = msg_error_create(code, id, "%s", message);
    relay_send(vm->relay, e);
    json_object_put(e);
}

/* Takes 'n' of the VM's tokens, if it has them. */
static bool
take_tokens(struct switchd *sd, struct vm *vm, double n)
{
    long long int now = time_msec();
    vm->tokens = MIN((double) sd->cfg.vm_burst,
                     vm->tokens + (now - vm->tokens_at)
                                  * sd->cfg.vm_rate / 1000.0);
    vm->tokens_at = now;
    if (vm->tokens < n) {
        return false;
    }
    vm->tokens -= n;
    return true;
}

static bool
take_token(struct switchd *sd, struct vm *vm)
{
    return take_tokens(sd, vm, 1);
}

/* A guest's frame beyond its first GUEST_FREE_BYTES costs a token for
 * every GUEST_BYTES_PER_TOKEN more, charged before it is parsed: what a
 * message costs follows what it carries (a stats message of 250 flows,
 * about 52 kB, costs 188 tokens and its parsing; a decide, a heartbeat or
 * a flow_open costs nothing extra), and a frame over the VM's budget is
 * dropped unparsed. */
#define GUEST_FREE_BYTES 4096
#define GUEST_BYTES_PER_TOKEN 256

static bool
admit_guest_frame(size_t len, void *vm_)
{
    struct vm *vm = vm_;
    if (len <= GUEST_FREE_BYTES) {
        return true;
    }
    double cost = (double) (len - GUEST_FREE_BYTES) / GUEST_BYTES_PER_TOKEN;
    /* (One that costs more than a burst costs a whole burst.) */
    if (take_tokens(vm->sd, vm, MIN(cost, (double) vm->sd->cfg.vm_burst))) {
        return true;
    }
    vm->refused++;
    LOG_WARN_RL(&vm->rl, "rate limited vm=%s: a %zu-byte frame dropped "
                "unread", vm->uuid, len);
    return false;
}

/* Replaces whatever the guest said about its VM with what switchd knows. */
static void
stamp(const struct vm *vm, struct json_object *msg, enum msg_type type)
{
    json_object_object_del(msg, "vm");
    /* A guest's stats may carry a "vm" in each flow too: only switchd
     * says which VM a message is from. */
    struct json_object *flows = type == MSG_STATS
                                ? msg_get_array(msg, "flows") : NULL;
    for (size_t i = 0; i < msg_array_length(flows); i++) {
        struct json_object *f = json_object_array_get_idx(flows, i);
        if (json_object_is_type(f, json_type_object)) {
            json_object_object_del(f, "vm");
        }
    }
    struct json_object *v = json_object_new_object();
    msg_put_string(v, "uuid", vm->uuid);
    if (*vm->name) {
        msg_put_string(v, "name", vm->name);
    }
    if (vm->ofport > 0) {
        msg_put_int(v, "ofport", vm->ofport);
    }
    if (*vm->mac) {
        msg_put_string(v, "mac", vm->mac);
    }
    msg_put_string(v, "hypervisor", vm->sd->cfg.hypervisor);
    if (*vm->sd->cfg.hypervisor_token) {
        msg_put_string(v, "token", vm->sd->cfg.hypervisor_token);
    }
    json_object_object_add(msg, "vm", v);
}

/* The approved flow (exact or service) of 'vm' for 't', or NULL. */
static struct allow *
vm_find_allow(const struct switchd *sd, const struct vm *vm,
              const struct tuple *t)
{
    struct flowgen_vm fv;
    vm_flowgen(vm, &fv);
    for (int service = 0; service < 2; service++) {
        struct flowgen_allow a = {
            .service = service, .proto = t->proto,
            .local_addr = t->src, .local_port = t->src_port,
            .remote_addr = t->dst, .remote_port = t->dst_port,
        };
        struct flowgen_flows flows;
        flowgen_flows_init(&flows);
        char *error = flowgen_allow(&sd->ctx, &fv, &a, &flows);
        struct allow *al = NULL;
        if (!error && flows.n) {
            char *key = flowgen_flow_key(&flows.flows[0]);
            al = shash_find_data(&vm->allows, key);
            free(key);
        }
        free(error);
        flowgen_flows_destroy(&flows);
        if (al) {
            return al;
        }
    }
    return NULL;
}

/* The verdict on a held packet: on allow its flow is installed already
 * (secd waits for the ack), so the packet goes back through the pipeline
 * and the client does not wait for a retransmission; otherwise TCP gets a
 * reset and anything else is dropped.  Either only while the port it came
 * in on is still the VM's: after the question a port can have gone to
 * another VM (or to nobody), which must not get the packet or a reset
 * naming this VM's connection. */
static void
ask_finish(struct switchd *sd, struct vm *vm, struct ask *ask, bool allow)
{
    /* Resubmitted only if a flow now lets it through (secd may allow
     * without one, in its monitor mode): otherwise it would come straight
     * back to switchd. */
    bool still_vms = vm && vm_has_port(vm, ask->in_port);
    if (allow && still_vms && vm_find_allow(sd, vm, &ask->tuple)) {
        ofctrl_resubmit_packet(sd->ofctrl, ask->in_port, ask->packet,
                               ask->len);
    } else if (!allow && still_vms && ask->tuple.proto == 6) {
        uint8_t rst[RESET_MAX_LEN];
        size_t len = reset_compose(ask->packet, ask->len, rst);
        if (len) {
            ofctrl_packet_out(sd->ofctrl, ask->in_port, rst, len);
            sd->resets++;
        }
    }
    shash_find_and_delete(&sd->asks, ask->key);
    free(ask->key);
    free(ask->packet);
    free(ask);
}

static void
forward(struct switchd *sd, struct vm *vm, struct json_object *msg,
        enum msg_type type, int64_t reply_id, struct ask *ask)
{
    stamp(vm, msg, type);
    const char *text = json_object_to_json_string_ext(msg,
                                                      JSON_C_TO_STRING_PLAIN);
    uint64_t cookie = ++sd->next_cookie;
    int error = rpc_client_send(sd->secd, text, strlen(text), cookie);
    if (error) {
        if (reply_id) {
            send_guest_error(vm, "unavailable", reply_id,
                             "appfw-secd cannot be reached");
        }
        if (ask) {
            ask_finish(sd, vm, ask, false);
        }
        return;
    }
    struct forwarded *f = xmalloc(sizeof *f);
    f->vm = xstrdup(vm->uuid);
    f->id = reply_id;
    f->ask = ask;
    /* A reference, not a copy: forwarding changes it no more. */
    f->decide = type == MSG_DECIDE ? json_object_get(msg) : NULL;
    char key[24];
    snprintf(key, sizeof key, "%llu", (unsigned long long) cookie);
    shash_add(&sd->forwarded, key, f);
    if (reply_id || ask) {
        vm->in_flight++;        /* Held packets count too. */
    }
}

static void
handle_guest_msg(struct switchd *sd, struct vm *vm, struct json_object *msg,
                 enum msg_type type)
{
    int64_t id = msg_get_int(msg, "id", 0);
    /* Only switchd asks without an agent, reports datapath counters or
     * says the switch refused a flow; a guest claiming any is not
     * believed. */
    json_object_object_del(msg, "agent");
    json_object_object_del(msg, "apps");
    json_object_object_del(msg, "flow_refused");
    /* Every message a guest sends costs a token (and a large one more,
     * admit_guest_frame()), so none keeps switchd or secd busy for free. */
    if (type != MSG_DECIDE && !take_token(sd, vm)) {
        vm->refused++;
        return;
    }
    switch (type) {
    case MSG_HELLO: {
        int version;
        char *error = msg_hello_negotiate(msg, MSG_VERSION_MIN,
                                          MSG_VERSION_MAX, &version);
        if (error) {
            send_guest_error(vm, "version", 0, error);
            free(error);
        } else {
            /* A restarted agent reopens its virtio-serial port without
             * this side's connection closing: it waits for a hello
             * again.  (The agent never answers one, so this ends.) */
            struct json_object *hello = msg_hello_create("switchd",
                                                         "appfw-switchd");
            relay_send(vm->relay, hello);
            json_object_put(hello);
        }
        break;
    }
    case MSG_HEARTBEAT: {
        struct json_object *hb = msg_heartbeat_create(
            msg_get_int(msg, "seq", 0));
        relay_send(vm->relay, hb);
        json_object_put(hb);
        break;
    }
    case MSG_DECIDE:
        vm->decides++;
        if (!take_token(sd, vm)) {
            vm->refused++;
            LOG_WARN_RL(&vm->rl, "rate limited vm=%s rate=%d/s", vm->uuid,
                        sd->cfg.vm_rate);
            send_guest_error(vm, "rate_limited", id,
                             "too many requests from this VM");
        } else if (vm->in_flight >= sd->cfg.vm_queue) {
            vm->refused++;
            send_guest_error(vm, "overloaded", id,
                             "too many requests in flight from this VM");
        } else {
            forward(sd, vm, msg, type, id, NULL);
        }
        break;
    case MSG_NAMING:
        if (vm->mode == FLOWGEN_NOAGENT) {
            /* A VM switchd treats as having no agent is not trusted to
             * say who is logged in there (its user comes from an
             * administrator's naming entry). */
            vm->refused++;
            send_guest_error(vm, "bad_message", id, "this VM is in noagent "
                             "mode: its naming reports are not taken");
            break;
        }
        msg_put_int(msg, "epoch", sd->naming_epoch);  /* Replaces a guest's. */
        msg_put_int(msg, "seq", ++sd->naming_seq);
        forward(sd, vm, msg, type, 0, NULL);
        break;
    case MSG_FLOW_OPEN:
    case MSG_FLOW_CLOSE:
    case MSG_STATS:
        forward(sd, vm, msg, type, 0, NULL);
        break;
    case MSG_VERDICT:
    case MSG_POLICY_PUSH:
    case MSG_ERROR:
    case MSG_FLOW_INSTALL:
    case MSG_ACK:
    case MSG_N_TYPES:
    default:
        send_guest_error(vm, "bad_message", id,
                         "a guest does not send this message type");
        break;
    }
}

static void
run_guest(struct switchd *sd, struct vm *vm)
{
    relay_run(vm->relay);
    for (int i = 0; i < GUEST_MSGS_PER_RUN; i++) {
        struct json_object *msg;
        enum msg_type type;
        char *error;
        int64_t id;
        enum relay_result r = relay_recv(vm->relay, &msg, &type, &error,
                                         &id);
        if (r == RELAY_REFUSED) {
            continue;
        } else if (r == RELAY_NONE) {
            return;
        } else if (r == RELAY_BAD) {
            LOG_WARN_RL(&vm->rl, "bad message vm=%s error=\"%s\"", vm->uuid,
                        error);
            if (take_token(sd, vm)) {
                send_guest_error(vm, "bad_message", id, error);
            }
            free(error);
        } else {
            handle_guest_msg(sd, vm, msg, type);
            json_object_put(msg);
        }
    }
    poll_immediate_wake();      /* More may be waiting. */
}

static void
forwarded_free(struct forwarded *f)
{
    if (f) {
        free(f->vm);
        json_object_put(f->decide);
        free(f);
    }
}

/* Frees 'f' and the packet it holds, unanswered (at exit). */
static void
forwarded_destroy(struct forwarded *f)
{
    if (f->ask) {
        free(f->ask->key);
        free(f->ask->packet);
        free(f->ask);
    }
    forwarded_free(f);
}

/* Gives the answer to forwarded request 'f' (of 'vm', if it still
 * exists): 'reply' (ownership moves here), or if that is NULL an
 * "unavailable" error saying 'why'.  Frees 'f'. */
static void
deliver(struct switchd *sd, struct vm *vm, struct forwarded *f,
        struct json_object *reply, const char *why)
{
    if (f->ask) {
        bool allow = !strcmp(msg_get_string(reply, "verdict", ""), "allow");
        ask_finish(sd, vm, f->ask, allow && vm);
    } else if (f->id && vm && vm->relay) {
        if (reply) {
            vm->verdicts++;
            relay_send(vm->relay, reply);
        } else {
            /* The VM's fail mode decides what the guest does. */
            send_guest_error(vm, "unavailable", f->id, why);
        }
    }
    json_object_put(reply);
    forwarded_free(f);
}

/* Asks secd again about decide 'f': with "flow_refused" set to 'refused',
 * or without one if that is NULL (a decide asked again after its flow was
 * refused once, then allowed and installed, must not carry the old
 * refusal: secd would deny it).  Frees 'f'. */
static void
ask_again(struct switchd *sd, struct forwarded *f, const char *refused)
{
    struct vm *vm = vm_find(sd, f->vm);
    struct json_object *msg = vm ? json_object_get(f->decide) : NULL;
    if (!msg) {
        deliver(sd, vm, f, NULL, refused ? refused
                : "appfw-secd's decisions changed while it decided");
        return;
    }
    if (refused) {
        char text[257];
        snprintf(text, sizeof text, "%s", refused);
        msg_put_string(msg, "flow_refused", text);
    } else {
        json_object_object_del(msg, "flow_refused");
    }
    forward(sd, vm, msg, MSG_DECIDE, f->id, f->ask);
    json_object_put(msg);
    f->ask = NULL;
    forwarded_free(f);
}

/* The switch refused the flow of an allow of decide 'f': secd is asked
 * again with the reason in "flow_refused", and answers (and audits) a
 * deny, which goes on instead.  Frees 'f'. */
static void
ask_refused(struct switchd *sd, struct forwarded *f, const char *why)
{
    static struct log_rl rl = LOG_RL_INIT(6, 3);
    LOG_WARN_RL(&rl, "vm=%s: the switch refused an allowed flow: %s", f->vm,
                why);
    ask_again(sd, f, why);
}

/* An allow verdict 'verdict' (ownership moves here) for 'f' with the
 * flow it needs, 'flow': installed, and the verdict held until the
 * switch confirms it (check_verdicts()).  No allow reaches a guest before
 * its flow is on the switch. */
static void
install_verdict(struct switchd *sd, struct vm *vm, struct forwarded *f,
                struct json_object *verdict, const struct json_object *flow)
{
    char *key = NULL, *error;
    uint64_t seqno = 0;
    if (!vm || !vm->on_bridge) {
        error = xasprintf("vm %s has no port on bridge %s", f->vm,
                          sd->cfg.bridge);
    } else {
        error = install_one(sd, vm, flow, msg_get_int(verdict, "ttl", 0),
                            f->decide, &key, &seqno);
    }
    if (error) {
        sd->installs_failed++;
        json_object_put(verdict);
        ask_refused(sd, f, error);
        free(error);
        return;
    }
    struct pending_verdict *pv = xzalloc(sizeof *pv);
    pv->f = f;
    pv->verdict = verdict;
    pv->key = key;
    pv->seqno = seqno;
    pv->deadline = time_msec() + PENDING_TIMEOUT_MS;
    ovs_list_push_back(&sd->verdicts, &pv->node);
    vm->in_flight++;
}

/* Passes on the allow verdicts whose flows the switch confirmed; the
 * ones it refused are asked again (ask_refused()). */
static void
check_verdicts(struct switchd *sd)
{
    uint64_t acked = ofctrl_acked_seqno(sd->ofctrl);
    struct pending_verdict *pv, *next;
    LIST_FOR_EACH_SAFE (pv, next, node, &sd->verdicts) {
        const char *error = ofctrl_seqno_error(sd->ofctrl, pv->seqno);
        bool late = time_msec() >= pv->deadline;
        if (!error && pv->seqno > acked && !late) {
            continue;
        }
        ovs_list_remove(&pv->node);
        struct vm *vm = vm_find(sd, pv->f->vm);
        if (vm && vm->in_flight > 0) {
            vm->in_flight--;
        }
        if (error) {
            /* Taken back out, or every resync would fail the same way. */
            if (pv->key) {
                withdraw_allows(sd, pv->f->vm, &pv->key, 1);
            }
            sd->installs_failed++;
            json_object_put(pv->verdict);
            ask_refused(sd, pv->f, error);
        } else if (pv->seqno <= acked && sd->revision_known
                   && msg_get_int(pv->verdict, "revision", sd->revision)
                      < sd->revision) {
            /* A policy_change came while the switch installed it: the
             * guest has dropped its cache since, and must not get an
             * allow of the old decisions (the flow waits for the
             * recheck). */
            json_object_put(pv->verdict);
            ask_again(sd, pv->f, NULL);
        } else if (pv->seqno <= acked) {
            sd->installs++;
            deliver(sd, vm, pv->f, pv->verdict, NULL);
        } else {
            /* The switch is away: its flow stays desired and reaches the
             * switch when it is back; the guest's fail mode decides. */
            json_object_put(pv->verdict);
            deliver(sd, vm, pv->f, NULL,
                    "the switch did not confirm the flow in time");
        }
        free(pv->key);
        free(pv);
    }
}

/* Asks secd for what it has to send this hypervisor, unless a poll is
 * out or a failed one waits for its retry. */
static void
send_poll(struct switchd *sd)
{
    if (sd->poll_cookie || time_msec() < sd->next_poll) {
        return;
    }
    struct json_object *msg = msg_create(MSG_POLL);
    uint64_t cookie = ++sd->next_cookie;
    msg_put_int(msg, "id", cookie & MSG_INT_MAX);
    msg_put_string(msg, "hypervisor", sd->cfg.hypervisor);
    if (*sd->cfg.hypervisor_token) {
        msg_put_string(msg, "token", sd->cfg.hypervisor_token);
    }
    size_t flows = 0;
    struct shash_node *node;
    SHASH_FOR_EACH (node, &sd->vms) {
        flows += shash_count(&((struct vm *) node->data)->allows);
    }
    msg_put_int(msg, "flows", flows);
    msg_put_string(msg, "software", "appfw-switchd " APPFW_VERSION);
    const char *text = json_object_to_json_string_ext(msg,
                                                      JSON_C_TO_STRING_PLAIN);
    if (rpc_client_send(sd->secd, text, strlen(text), cookie)) {
        sd->poll_errors++;
        sd->next_poll = time_msec() + 1000;
    } else {
        sd->poll_cookie = cookie;
        sd->polls++;
    }
    json_object_put(msg);
}

/* Policy changes. */

static void
recheck_free(struct recheck *rc)
{
    for (size_t i = 0; i < rc->n; i++) {
        free(rc->vms[i]);
        free(rc->keys[i]);
    }
    free(rc->vms);
    free(rc->keys);
    free(rc);
}

/* Sends a recheck of the decides whose texts, comma-separated, are in
 * 'decides' (emptied here), whose allows 'rc' (owned here) names; if secd
 * cannot be reached, all are sent again later. */
static void
recheck_send(struct switchd *sd, struct ds *decides, struct recheck *rc)
{
    uint64_t cookie = ++sd->next_cookie;
    struct json_object *msg = msg_create(MSG_RECHECK);
    msg_put_int(msg, "id", cookie & MSG_INT_MAX);
    msg_put_string(msg, "hypervisor", sd->cfg.hypervisor);
    if (*sd->cfg.hypervisor_token) {
        msg_put_string(msg, "token", sd->cfg.hypervisor_token);
    }
    msg_put_int(msg, "revision", sd->revision);
    /* Each decide was serialized once already: its text goes in as is,
     * after the rest of the message (whose text ends in '}'). */
    const char *head = json_object_to_json_string_ext(msg,
                                                      JSON_C_TO_STRING_PLAIN);
    struct ds text = DS_EMPTY_INITIALIZER;
    ds_put_buffer(&text, head, strlen(head) - 1);
    ds_put_format(&text, ",\"decides\":[%s]}", ds_cstr(decides));
    json_object_put(msg);
    ds_clear(decides);
    if (rpc_client_send(sd->secd, text.string, text.length, cookie)) {
        recheck_free(rc);
        sd->recheck_due = time_msec() + RECHECK_RETRY_MS;
    } else {
        char key[24];
        snprintf(key, sizeof key, "%llu", (unsigned long long) cookie);
        shash_add(&sd->rechecks, key, rc);
        sd->rechecks_sent++;
    }
    ds_destroy(&text);
}

/* Asks secd again about every approved flow that a decide approved
 * (docs/protocol.md, "recheck"), in messages of at most RECHECK_BATCH
 * decides and RECHECK_BYTES.  An allow whose decide alone would not fit
 * cannot be asked about: it is withdrawn. */
static void
send_rechecks(struct switchd *sd)
{
    sd->recheck_due = LLONG_MAX;
    struct ds decides = DS_EMPTY_INITIALIZER;
    struct recheck *rc = NULL;
    struct shash_node *vnode;
    SHASH_FOR_EACH (vnode, &sd->vms) {
        struct vm *vm = vnode->data;
        struct shash_node *anode, *anext;
        SHASH_FOR_EACH_SAFE (anode, anext, &vm->allows) {
            struct allow *al = anode->data;
            if (!al->decide) {
                continue;
            }
            const char *t = json_object_to_json_string_ext(
                al->decide, JSON_C_TO_STRING_PLAIN);
            size_t len = strlen(t) + 1;
            if (len > RECHECK_BYTES - 512) {
                LOG_WARN("vm=%s: an approved flow's decide is too long to "
                         "recheck (%zu bytes): withdrawn", vm->uuid, len);
                shash_delete(&vm->allows, anode);
                allow_destroy(sd, al);
                sd->revoked++;
                continue;
            }
            if (rc && decides.length + len > RECHECK_BYTES - 512) {
                recheck_send(sd, &decides, rc);
                rc = NULL;
            }
            if (!rc) {
                rc = xzalloc(sizeof *rc);
                rc->vms = xmalloc(RECHECK_BATCH * sizeof *rc->vms);
                rc->keys = xmalloc(RECHECK_BATCH * sizeof *rc->keys);
            } else {
                ds_put_char(&decides, ',');
            }
            ds_put_cstr(&decides, t);
            rc->vms[rc->n] = xstrdup(vm->uuid);
            rc->keys[rc->n] = xstrdup(anode->name);
            if (++rc->n == RECHECK_BATCH) {
                recheck_send(sd, &decides, rc);
                rc = NULL;
            }
        }
    }
    if (rc) {
        recheck_send(sd, &decides, rc);
    }
    ds_destroy(&decides);
}

/* secd's answer 'r' to recheck 'rc': the allows it revoked go. */
static void
handle_recheck_reply(struct switchd *sd, struct recheck *rc,
                     const struct rpc_reply *r)
{
    struct json_object *msg = NULL;
    enum msg_type type = MSG_N_TYPES;
    char *error = (r->error ? xstrdup(strerror(r->error))
                   : msg_parse(r->data, r->len, &msg, &type));
    if (!error && type != MSG_ACK) {
        error = xasprintf("%s: %s", msg_get_string(msg, "code", "?"),
                          msg_get_string(msg, "message", ""));
    }
    if (error) {
        static struct log_rl rl = LOG_RL_INIT(6, 3);
        LOG_WARN_RL(&rl, "recheck of %zu approved flows failed (asking "
                    "again): %s", rc->n, error);
        free(error);
        sd->recheck_due = MIN(sd->recheck_due,
                              time_msec() + RECHECK_RETRY_MS);
        json_object_put(msg);
        return;
    }
    struct json_object *revoked = msg_get_array(msg, "revoked");
    size_t n = msg_array_length(revoked);
    for (size_t i = 0; i < n; i++) {
        size_t k = json_object_get_int64(
            json_object_array_get_idx(revoked, i));
        if (k < rc->n) {
            struct vm *vm = vm_find(sd, rc->vms[k]);
            struct allow *al = (vm ? shash_find_and_delete(&vm->allows,
                                                           rc->keys[k])
                                : NULL);
            if (al) {
                allow_destroy(sd, al);
                sd->revoked++;
            }
        }
    }
    LOG_INFO("recheck: %zu approved flows, %zu revoked", rc->n, n);
    json_object_put(msg);
}

/* secd's decisions changed (a policy_change, or a poll's answer with a
 * revision this switchd has not heard): the guests' agents drop their
 * cached verdicts, and secd is asked again about every approved flow. */
static void
decisions_changed(struct switchd *sd, int64_t revision,
                  int64_t policy_version, const char *reason)
{
    sd->revision = revision;
    sd->policy_version = policy_version;
    sd->revision_known = true;
    LOG_INFO("secd's decisions changed revision=%lld policy_version=%lld "
             "reason=%s", (long long) revision, (long long) policy_version,
             reason);
    struct json_object *m = msg_create(MSG_POLICY_CHANGE);
    msg_put_int(m, "revision", revision);
    msg_put_int(m, "policy_version", policy_version);
    msg_put_string(m, "reason", reason);
    struct shash_node *node;
    SHASH_FOR_EACH (node, &sd->vms) {
        struct vm *vm = node->data;
        if (vm->relay) {
            relay_send(vm->relay, m);
        }
    }
    json_object_put(m);
    send_rechecks(sd);
}

/* secd's answer to a poll: a notice for a guest's user goes to that
 * guest's agent, without the vm object (the guest need not know how the
 * host names it), if the VM is here; an ack means nothing came.  Either
 * way the next poll goes out at once; after an error, in a second. */
static void
handle_poll_reply(struct switchd *sd, const struct rpc_reply *r)
{
    sd->poll_cookie = 0;
    struct json_object *msg = NULL;
    enum msg_type type;
    char *error = (r->error ? xstrdup(strerror(r->error))
                   : msg_parse(r->data, r->len, &msg, &type));
    if (error) {
        sd->poll_errors++;
        sd->next_poll = time_msec() + 1000;
        LOG_DBG("poll: %s", error);
        free(error);
        return;
    }
    int64_t revision = msg_get_int(msg, "revision", -1);
    if ((type == MSG_ACK || type == MSG_POLICY_CHANGE) && revision >= 0
        && (!sd->revision_known || revision != sd->revision)) {
        decisions_changed(sd, revision,
                          msg_get_int(msg, "policy_version", 0),
                          (type == MSG_POLICY_CHANGE
                           ? msg_get_string(msg, "reason", "")
                           : "a revision not heard before"));
    }
    if (type == MSG_NOTICE) {
        struct vm *vm = vm_find(sd, msg_get_string(msg, "vm.uuid", ""));
        if (vm && vm->relay) {
            json_object_object_del(msg, "vm");
            relay_send(vm->relay, msg);
            vm->notices++;
        } else {
            static struct log_rl rl = LOG_RL_INIT(6, 3);
            LOG_WARN_RL(&rl, "a notice for vm %s, which has no guest channel "
                        "here", msg_get_string(msg, "vm.uuid", "?"));
        }
    }
    json_object_put(msg);
}

/* secd's replies to forwarded requests go back to the VM that asked; an
 * allow that carries a flow goes through install_verdict() first. */
static void
run_secd_replies(struct switchd *sd)
{
    struct rpc_reply *r;
    while ((r = rpc_client_next(sd->secd))) {
        char key[24];
        snprintf(key, sizeof key, "%llu", (unsigned long long) r->cookie);
        if (sd->poll_cookie && r->cookie == sd->poll_cookie) {
            handle_poll_reply(sd, r);
            rpc_reply_free(r);
            continue;
        }
        struct recheck *rc = shash_find_and_delete(&sd->rechecks, key);
        if (rc) {
            handle_recheck_reply(sd, rc, r);
            recheck_free(rc);
            rpc_reply_free(r);
            continue;
        }
        struct forwarded *f = shash_find_and_delete(&sd->forwarded, key);
        struct vm *vm = f ? vm_find(sd, f->vm) : NULL;
        if (f && (f->id || f->ask) && vm && vm->in_flight > 0) {
            vm->in_flight--;
        }
        if (!f || (!f->id && !f->ask)) {
            forwarded_free(f);
            rpc_reply_free(r);
            continue;
        }
        struct json_object *reply = NULL;
        enum msg_type type = MSG_N_TYPES;
        char *error = (r->error ? xstrdup(strerror(r->error))
                       : msg_parse(r->data, r->len, &reply, &type));
        bool allow = (type == MSG_VERDICT
                      && !strcmp(msg_get_string(reply, "verdict", ""),
                                 "allow"));
        if (allow && sd->revision_known
            && msg_get_int(reply, "revision", sd->revision) < sd->revision) {
            /* Decided before a policy_change this switchd has passed on:
             * it might allow what the new decisions do not. */
            json_object_put(reply);
            free(error);
            ask_again(sd, f, NULL);
            rpc_reply_free(r);
            continue;
        }
        struct json_object *flow = (type == MSG_VERDICT
                                    ? msg_get_object(reply, "flow") : NULL);
        if (flow && allow) {
            json_object_get(flow);
            json_object_object_del(reply, "flow");
            install_verdict(sd, vm, f, reply, flow);
            json_object_put(flow);
        } else {
            if (reply && type != MSG_VERDICT && type != MSG_ERROR) {
                json_object_put(reply);
                reply = NULL;
                free(error);
                error = xstrdup("appfw-secd answered with neither a verdict "
                                "nor an error");
            }
            if (reply) {
                json_object_object_del(reply, "flow");
            }
            deliver(sd, vm, f, reply, error);
        }
        free(error);
        rpc_reply_free(r);
    }
}

/* Packet-ins. */

static struct vm *
vm_by_ofport(const struct switchd *sd, int ofport)
{
    struct shash_node *node;
    SHASH_FOR_EACH (node, &sd->vms) {
        struct vm *vm = node->data;
        if (vm_has_port(vm, ofport)) {
            return vm;
        }
    }
    return NULL;
}

/* A VM without an agent opened a connection: ask secd, holding the packet
 * (one question per connection; retransmissions meanwhile are dropped). */
static void
ask_secd(struct switchd *sd, struct vm *vm, const struct tuple *t,
         const struct ofctrl_packet_in *pin)
{
    if (vm->mode != FLOWGEN_NOAGENT) {
        return;
    }
    char *key = xasprintf("%s %d %s %d %s %d", vm->uuid, t->proto, t->src,
                          t->src_port, t->dst, t->dst_port);
    if (shash_find(&sd->asks, key)) {
        free(key);
        return;
    }
    if (!take_token(sd, vm)) {
        vm->refused++;
        LOG_WARN_RL(&vm->rl, "rate limited vm=%s (packet-in)", vm->uuid);
        free(key);
        return;
    }
    if (vm->in_flight >= sd->cfg.vm_queue) {
        /* Dropped: the client retransmits. */
        vm->refused++;
        LOG_WARN_RL(&vm->rl, "queue full vm=%s (packet-in)", vm->uuid);
        free(key);
        return;
    }
    struct ask *ask = xzalloc(sizeof *ask);
    ask->key = key;
    ask->packet = xmemdup(pin->packet, pin->len);
    ask->len = pin->len;
    ask->in_port = pin->in_port;
    ask->tuple = *t;
    shash_add(&sd->asks, key, NULL);

    struct json_object *msg = msg_create(MSG_DECIDE);
    msg_put_int(msg, "id", sd->next_cookie + 1);
    msg_put_string(msg, "event", "connect");
    msg_put_string(msg, "protocol", t->proto == 6 ? "tcp" : "udp");
    msg_put_string(msg, "direction", "outbound");
    msg_put_endpoint(msg, "local", t->src, t->src_port);
    msg_put_endpoint(msg, "remote", t->dst, t->dst_port);
    json_object_object_add(msg, "agent", json_object_new_boolean(false));
    vm->decides++;
    sd->asks_sent++;
    forward(sd, vm, msg, MSG_DECIDE, 0, ask);
    json_object_put(msg);
}

/* A packet of a connection already approved, with its flow on the
 * switch, came to switchd anyway: ovs-vswitchd revalidates the flows its
 * datapath caches after it answers the barrier, not before, so for a
 * moment a cached "to the controller" or "reset" entry still catches the
 * connection's first packets.  Returns true if the packet is such a one;
 * it then goes back through the pipeline instead of being asked about or
 * reset, a few times a second at most (so that a flow the switch lost
 * cannot make a loop). */
static bool
repunt(struct switchd *sd, struct vm *vm, const struct tuple *t,
       const struct ofctrl_packet_in *pin)
{
    struct allow *al = vm_find_allow(sd, vm, t);
    if (!al || al->seqno > ofctrl_acked_seqno(sd->ofctrl)) {
        return false;
    }
    long long int now = time_msec();
    if (now >= al->repunt_window) {
        al->repunt_window = now + 1000;
        al->repunts = 0;
    }
    if (al->repunts < MAX_REPUNTS) {
        al->repunts++;
        sd->repunts++;
        ofctrl_resubmit_packet(sd->ofctrl, pin->in_port, pin->packet,
                               pin->len);
    }
    return true;
}

/* The source address of an ARP, IPv4 or IPv6 frame (untagged), as text
 * in 'addr'; '*why' says what claiming it falsely counts as.  Returns
 * false if the frame is none of these or too short. */
static bool
packet_source(const uint8_t *p, size_t len, char addr[INET6_ADDRSTRLEN],
              enum flowgen_spoof *why)
{
    if (len < 14) {
        return false;
    }
    unsigned int type = p[12] << 8 | p[13];
    const uint8_t *l3 = p + 14;
    len -= 14;
    if (type == 0x0806 && len >= 28) {
        *why = FLOWGEN_SPOOF_ARP;
        return inet_ntop(AF_INET, l3 + 14, addr, INET6_ADDRSTRLEN) != NULL;
    } else if (type == 0x0800 && len >= 20) {
        *why = FLOWGEN_SPOOF_IP;
        return inet_ntop(AF_INET, l3 + 12, addr, INET6_ADDRSTRLEN) != NULL;
    } else if (type == 0x86dd && len >= 40) {
        *why = FLOWGEN_SPOOF_IP;
        return inet_ntop(AF_INET6, l3 + 8, addr, INET6_ADDRSTRLEN) != NULL;
    }
    return false;
}

/* Holds 'pin''s packet until the flows up to ofctrl's current seqno are
 * on the switch (release_held() sends it on then). */
static void
hold_packet(struct switchd *sd, struct vm *vm,
            const struct ofctrl_packet_in *pin)
{
    if (vm->n_held >= MAX_HELD_PER_VM) {
        return;                 /* Dropped: the guest retransmits. */
    }
    struct held *h = xmalloc(sizeof *h);
    h->in_port = pin->in_port;
    h->packet = xmemdup(pin->packet, pin->len);
    h->len = pin->len;
    h->seqno = ofctrl_seqno(sd->ofctrl);
    h->deadline = time_msec() + HELD_TIMEOUT_MS;
    ovs_list_push_back(&vm->held, &h->node);
    vm->n_held++;
}

static void
release_held(struct switchd *sd)
{
    uint64_t acked = ofctrl_acked_seqno(sd->ofctrl);
    long long int now = time_msec();
    struct shash_node *node;
    SHASH_FOR_EACH (node, &sd->vms) {
        struct vm *vm = node->data;
        struct held *h, *next;
        LIST_FOR_EACH_SAFE (h, next, node, &vm->held) {
            if (h->seqno <= acked && vm_has_port(vm, h->in_port)) {
                ofctrl_resubmit_packet(sd->ofctrl, h->in_port, h->packet,
                                       h->len);
            } else if (now < h->deadline && vm_has_port(vm, h->in_port)) {
                continue;
            }
            ovs_list_remove(&h->node);
            vm->n_held--;
            held_destroy(h);
        }
    }
}

/* A packet from an address of a kind the VM's port has not learned yet
 * (no appfw-addresses): the first one locks its address in, as libvirt's
 * clean-traffic does with ip_learning=any.  The lock goes to the
 * database (appfw-learned-addresses), so it lasts as long as the port;
 * the packet goes on once the flows that let it pass are on the switch.
 * Any other address of the same kind is refused and counted. */
static void
learn_source(struct switchd *sd, struct vm *vm,
             const struct ofctrl_packet_in *pin)
{
    struct vm_port *port = vm_find_port(vm, pin->in_port);
    char addr[INET6_ADDRSTRLEN];
    enum flowgen_spoof why;
    if (!port || *port->addresses
        || !packet_source(pin->packet, pin->len, addr, &why)) {
        return;
    }
    char *learned;
    switch (flowgen_learn(port->learned, addr, &learned)) {
    case FLOWGEN_LEARN_NEW:
        LOG_INFO("learned vm=%s iface=%s address=%s (locked for the "
                 "port's lifetime)", vm->uuid, port->iface, addr);
        free(port->learned);
        port->learned = learned;
        vm->learned++;
        vsdb_set_learned(sd->vsdb, port->iface, learned);
        vm_update_flows(sd, vm);
        hold_packet(sd, vm, pin);
        break;
    case FLOWGEN_LEARN_KNOWN:
        /* Sent before the flows for it were on the switch. */
        hold_packet(sd, vm, pin);
        break;
    case FLOWGEN_LEARN_REFUSED:
    default:
        vm->refused_learn[why]++;
        LOG_WARN_RL(&vm->rl, "spoofed vm=%s iface=%s address=%s: not its "
                    "own (learned: %s)", vm->uuid, port->iface, addr,
                    *port->learned ? port->learned : "none");
        break;
    }
}

static void
packet_in(void *sd_, const struct ofctrl_packet_in *pin)
{
    struct switchd *sd = sd_;
    if (pin->punt == FLOWGEN_PUNT_LEARN) {
        struct vm *vm = vm_by_ofport(sd, pin->in_port);
        if (vm) {
            learn_source(sd, vm, pin);
        }
        return;
    }
    if (pin->punt != FLOWGEN_PUNT_ASK && pin->punt != FLOWGEN_PUNT_RESET) {
        return;
    }
    /* The VM and connection, read once for both kinds of punt. */
    struct vm *vm = vm_by_ofport(sd, pin->in_port);
    struct tuple t;
    bool parsed = vm && tuple_parse_eth(pin->packet, pin->len, &t);
    if (parsed && repunt(sd, vm, &t, pin)) {
        return;
    }
    if (pin->punt == FLOWGEN_PUNT_ASK) {
        if (parsed) {
            ask_secd(sd, vm, &t, pin);
        }
        return;
    }
    uint8_t rst[RESET_MAX_LEN];
    size_t len = reset_compose(pin->packet, pin->len, rst);
    if (len) {
        ofctrl_packet_out(sd->ofctrl, pin->in_port, rst, len);
        sd->resets++;
    }
}

/* Counters: per (VM, app) deltas to secd. */

/* The drop flows' counts start from zero whenever the switch's flows are
 * replaced (a reconnection, a repair, a port's flows changing): a count
 * below the last one read means that, and what was counted before is
 * kept. */
static void
spoof_update(struct vm *vm)
{
    for (size_t i = 0; i < FLOWGEN_N_SPOOF; i++) {
        if (vm->spoof_now[i] < vm->spoof_last[i]) {
            vm->spoof_base[i] += vm->spoof_last[i];
        }
        vm->spoof_last[i] = vm->spoof_now[i];
    }
}

/* One (VM, app id, uid)'s counts since the last report, both ways. */
struct app_delta {
    struct vm *vm;
    uint32_t app_id;
    bool has_uid;
    uint32_t uid;
    uint64_t packets[2], bytes[2];      /* [0] out, [1] in */
};

/* The change of counter 'c' of 'vm' since the last read, into 'deltas'
 * (keyed by VM and counted_key()). */
static void
add_delta(struct vm *vm, const struct ofctrl_counter *c,
          struct shash *deltas)
{
    char key[24];
    counted_key(c->app_id, c->has_uid, c->uid, key);
    uint64_t *last = shash_find_data(&vm->last_counters, key);
    if (!last) {
        last = xzalloc(4 * sizeof *last);
        shash_add(&vm->last_counters, key, last);
    }
    /* A count below the last one read: the switch's flows were replaced
     * (counting from zero again) since. */
    int in = c->ingress;
    uint64_t *lp = &last[2 * in], *lb = &last[2 * in + 1];
    uint64_t dp = c->packets >= *lp ? c->packets - *lp : c->packets;
    uint64_t db = c->bytes >= *lb ? c->bytes - *lb : c->bytes;
    *lp = c->packets;
    *lb = c->bytes;
    if (!dp && !db) {
        return;
    }
    char *dkey = xasprintf("%s %s", vm->uuid, key);
    struct app_delta *d = shash_find_data(deltas, dkey);
    if (!d) {
        d = xzalloc(sizeof *d);
        *d = (struct app_delta) {
            .vm = vm, .app_id = c->app_id, .has_uid = c->has_uid,
            .uid = c->uid,
        };
        shash_add(deltas, dkey, d);
    }
    free(dkey);
    d->packets[in] += dp;
    d->bytes[in] += db;
}

/* Sends a VM's per-application counters ('apps', ownership moves here)
 * to secd as a stats message. */
static void
send_app_counters(struct switchd *sd, struct vm *vm, struct json_object *apps)
{
    struct json_object *msg = msg_create(MSG_STATS);
    msg_put_int(msg, "interval", sd->cfg.stats_interval);
    json_object_object_add(msg, "flows", json_object_new_array());
    json_object_object_add(msg, "apps", apps);
    forward(sd, vm, msg, MSG_STATS, 0, NULL);
    json_object_put(msg);
}

static void
report_counters(struct switchd *sd)
{
    struct ofctrl_counter *c;
    size_t n;
    if (!ofctrl_take_counters(sd->ofctrl, &c, &n)) {
        return;
    }
    struct shash deltas = SHASH_INITIALIZER(&deltas);
    struct shash_node *node;
    SHASH_FOR_EACH (node, &sd->vms) {
        struct vm *vm = node->data;
        memset(vm->spoof_now, 0, sizeof vm->spoof_now);
    }
    for (size_t i = 0; i < n; i++) {
        struct vm *vm = sd->zones.owner[c[i].zone];
        if (!vm) {
            continue;
        }
        if (c[i].spoof) {
            if (c[i].app_id && c[i].app_id < FLOWGEN_N_SPOOF) {
                vm->spoof_now[c[i].app_id] += c[i].packets;
            }
            continue;
        }
        add_delta(vm, &c[i], &deltas);
    }
    free(c);
    SHASH_FOR_EACH (node, &sd->vms) {
        spoof_update(node->data);
    }

    /* Each VM's counters, in messages of at most APPS_PER_REPORT (sorted,
     * so each VM's come together). */
    const struct shash_node **sorted = shash_sort(&deltas);
    struct vm *vm = NULL;
    struct json_object *apps = NULL;
    for (size_t i = 0; i < shash_count(&deltas); i++) {
        const struct app_delta *d = sorted[i]->data;
        if (apps && (d->vm != vm
                     || json_object_array_length(apps) >= APPS_PER_REPORT)) {
            send_app_counters(sd, vm, apps);
            apps = NULL;
        }
        vm = d->vm;
        if (!apps) {
            apps = json_object_new_array();
        }
        struct json_object *a = json_object_new_object();
        msg_put_int(a, "app_id", d->app_id);
        if (d->has_uid) {
            msg_put_int(a, "uid", d->uid);
        }
        static const char *const names[2][2] = {
            { "packets_out", "bytes_out" }, { "packets_in", "bytes_in" },
        };
        for (int in = 0; in < 2; in++) {
            msg_put_int(a, names[in][0],
                        MIN(d->packets[in], (uint64_t) MSG_INT_MAX));
            msg_put_int(a, names[in][1],
                        MIN(d->bytes[in], (uint64_t) MSG_INT_MAX));
        }
        json_object_array_add(apps, a);
    }
    if (apps) {
        send_app_counters(sd, vm, apps);
    }
    free(sorted);
    shash_destroy_free_data(&deltas);
}

/* The loop. */

/* Keeps what an earlier switchd approved: the policy flows ofctrl read
 * back from the switch at connection become allows again (for
 * min-flow-ttl), before ofctrl replaces the switch's flows with the
 * desired ones.  Waits until the VMs are known. */
static void
adopt_installed(struct switchd *sd)
{
    struct ofctrl_policy_flow *pf;
    size_t n;
    if (!vsdb_has_bridge(sd->vsdb)
        || !ofctrl_take_installed_policy(sd->ofctrl, &pf, &n)) {
        return;
    }
    size_t adopted = 0;
    for (size_t i = 0; i < n; i++) {
        struct vm *vm = sd->zones.owner[pf[i].zone];
        if (!vm || !vm->on_bridge) {
            continue;
        }
        struct flowgen_allow a = {
            .service = !pf[i].src[0],
            .proto = pf[i].proto,
            .local_addr = pf[i].src,
            .local_port = pf[i].src_port,
            .remote_addr = pf[i].dst,
            .remote_port = pf[i].dst_port,
            .app_id = pf[i].app_id,
            .has_uid = pf[i].has_uid,
            .uid = pf[i].uid,
        };
        char *key;
        uint64_t seqno;
        char *error = install_allow(sd, vm, &a, sd->cfg.min_flow_ttl, NULL,
                                    &key, &seqno);
        if (!error) {
            adopted += key != NULL;
        }
        free(error);
        free(key);
    }
    if (n) {
        LOG_INFO("read back %zu approved flows from the switch, kept %zu",
                 n, adopted);
    }
    free(pf);
}

void
switchd_run(struct switchd *sd)
{
    vsdb_run(sd->vsdb);
    unsigned int seqno = vsdb_seqno(sd->vsdb);
    if (seqno != sd->vsdb_seqno || sd->recompute) {
        sd->vsdb_seqno = seqno;
        sd->recompute = false;
        reconcile(sd);
    }

    for (int i = 0; i < FLOW_REQS_PER_RUN; i++) {
        struct rpc_request *req = rpc_server_next(sd->flows_rpc);
        if (!req) {
            break;
        }
        handle_flow_install(sd, req);
    }

    struct shash_node *node;
    SHASH_FOR_EACH (node, &sd->vms) {
        struct vm *vm = node->data;
        if (vm->relay) {
            run_guest(sd, vm);
        }
    }
    run_secd_replies(sd);
    send_poll(sd);
    if (time_msec() >= sd->recheck_due) {
        send_rechecks(sd);
    }

    long long int now = time_msec();
    if (now >= sd->next_sweep) {
        sweep_allows(sd);
        sd->next_sweep = now + 1000;
    }
    if (now >= sd->next_stats) {
        ofctrl_request_counters(sd->ofctrl);
        sd->next_stats = now + sd->cfg.stats_interval * 1000LL;
    }
    if (now >= sd->next_audit) {
        sd->next_audit = now + (ofctrl_audit(sd->ofctrl)
                                ? sd->cfg.audit_interval * 1000LL : 1000);
    }

    ofctrl_set_enabled(sd->ofctrl, vsdb_bridge_is_secure(sd->vsdb));
    ofctrl_run(sd->ofctrl);
    adopt_installed(sd);
    release_held(sd);
    report_counters(sd);
    check_pending(sd);
    check_verdicts(sd);
}

void
switchd_wait(struct switchd *sd)
{
    vsdb_wait(sd->vsdb);
    ofctrl_wait(sd->ofctrl);
    poll_fd_wait(rpc_server_fd(sd->flows_rpc), POLLIN);
    poll_fd_wait(rpc_client_fd(sd->secd), POLLIN);
    struct shash_node *node;
    SHASH_FOR_EACH (node, &sd->vms) {
        struct vm *vm = node->data;
        if (vm->relay) {
            relay_wait(vm->relay);
        }
    }
    poll_timer_wait_until(MIN(MIN(sd->next_sweep, sd->next_stats),
                              sd->next_audit));
    if (!sd->poll_cookie) {
        poll_timer_wait_until(sd->next_poll);
    }
    if (sd->recheck_due != LLONG_MAX) {
        poll_timer_wait_until(sd->recheck_due);
    }
}

void
switchd_destroy(struct switchd *sd)
{
    if (!sd) {
        return;
    }
    struct shash_node *node, *next;
    SHASH_FOR_EACH_SAFE (node, next, &sd->vms) {
        vm_destroy(sd, node->data);
    }
    shash_destroy(&sd->vms);
    shash_destroy_free_data(&sd->registered);
    shash_destroy_free_data(&sd->reg_names);
    shash_destroy_free_data(&sd->reg_addrs);
    struct pending_install *p;
    LIST_FOR_EACH_POP (p, node, &sd->pending) {
        reply_ack(sd, p->req, p->id, false, "appfw-switchd is stopping");
        pending_destroy(p);
    }
    struct pending_verdict *pv;
    LIST_FOR_EACH_POP (pv, node, &sd->verdicts) {
        json_object_put(pv->verdict);
        forwarded_destroy(pv->f);
        free(pv->key);
        free(pv);
    }
    SHASH_FOR_EACH (node, &sd->forwarded) {
        forwarded_destroy(node->data);
    }
    shash_destroy(&sd->forwarded);
    SHASH_FOR_EACH (node, &sd->rechecks) {
        recheck_free(node->data);
    }
    shash_destroy(&sd->rechecks);
    shash_destroy(&sd->asks);
    /* Flows stay on the switch: a restarted switchd replaces them
     * atomically, and until then the bridge (fail_mode=secure) keeps
     * enforcing what was approved. */
    ofctrl_destroy(sd->ofctrl);
    vsdb_destroy(sd->vsdb);
    rpc_server_destroy(sd->flows_rpc);
    rpc_client_destroy(sd->secd);
    free(sd);
}

/* Control commands. */

char *
switchd_vm_register(struct switchd *sd, const char *uuid, const char *path,
                    const char *name, bool *ok)
{
    if (!uuid_is_partial_string(uuid) || strlen(uuid) != UUID_LEN) {
        *ok = false;
        return xasprintf("\"%s\" is not a VM UUID", uuid);
    }
    if (!*path || *path != '/') {
        *ok = false;
        return xasprintf("\"%s\": the channel path must be absolute", path);
    }
    if (name && vm_name_error(name)) {
        *ok = false;
        return xstrdup(vm_name_error(name));
    }
    free(shash_replace(&sd->registered, uuid, xstrdup(path)));
    free(shash_find_and_delete(&sd->reg_names, uuid));
    if (name) {
        shash_add(&sd->reg_names, uuid, xstrdup(name));
    }
    sd->recompute = true;
    *ok = true;
    registry_save(sd);
    LOG_INFO("vm registered vm=%s channel=%s name=%s", uuid, path,
             name ? name : "-");
    return xasprintf("registered %s channel %s", uuid, path);
}

/* The registrations (channel paths and names the libvirt hook gave) are
 * kept in cfg.registry, so that a restarted switchd reconnects to the
 * guests' channels without waiting for their VMs to restart: a JSON object
 * {"UUID": {"channel": PATH, "name": NAME}, ...}, rewritten through a
 * temporary file, fsync'd and renamed, at every change (file.h). */
static void
registry_save(const struct switchd *sd)
{
    const char *path = sd->cfg.registry;
    if (!path || !*path || sd->loading) {
        return;
    }
    struct json_object *o = json_object_new_object();
    const struct shash_node **nodes = shash_sort(&sd->registered);
    for (size_t i = 0; i < shash_count(&sd->registered); i++) {
        struct json_object *e = json_object_new_object();
        msg_put_string(e, "channel", nodes[i]->data);
        const char *name = shash_find_data(&sd->reg_names, nodes[i]->name);
        if (name) {
            msg_put_string(e, "name", name);
        }
        struct json_object *addrs = NULL;
        struct shash_node *a;
        SHASH_FOR_EACH (a, &sd->reg_addrs) {
            size_t len = strlen(nodes[i]->name);
            if (!strncmp(a->name, nodes[i]->name, len)
                && a->name[len] == ' ') {
                if (!addrs) {
                    addrs = json_object_new_object();
                }
                msg_put_string(addrs, a->name + len + 1, a->data);
            }
        }
        if (addrs) {
            json_object_object_add(e, "addresses", addrs);
        }
        json_object_object_add(o, nodes[i]->name, e);
    }
    free(nodes);
    const char *text = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    struct ds s = DS_EMPTY_INITIALIZER;
    ds_put_format(&s, "%s\n", text);
    int error = file_replace_data(path, 0644, s.string, s.length);
    if (error) {
        LOG_ERR("%s: cannot save the VM registrations: %s", path,
                strerror(error));
    }
    ds_destroy(&s);
    json_object_put(o);
}

static void
registry_load(struct switchd *sd)
{
    const char *path = sd->cfg.registry;
    if (!path || !*path) {
        return;
    }
    struct json_object *o = json_object_from_file(path);
    if (!o) {
        if (access(path, F_OK) == 0) {
            LOG_ERR("%s: unreadable, VM registrations lost (%s)", path,
                    json_util_get_last_err());
        }
        return;
    }
    sd->loading = true;
    size_t n = 0;
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach (o, uuid, e) {
            const char *channel = msg_get_string(e, "channel", "");
            bool ok;
            char *reply = switchd_vm_register(sd, uuid, channel,
                                              msg_get_string(e, "name", NULL),
                                              &ok);
            if (!ok) {
                LOG_WARN("%s: %s: %s", path, uuid, reply);
            }
            n += ok;
            free(reply);
            struct json_object *addrs = msg_get(e, "addresses");
            if (ok && addrs && json_object_is_type(addrs, json_type_object)) {
                json_object_object_foreach (addrs, mac, list) {
                    reply = switchd_vm_addresses(
                        sd, uuid, mac, json_object_get_string(list), &ok);
                    if (!ok) {
                        LOG_WARN("%s: %s: %s", path, uuid, reply);
                    }
                    free(reply);
                }
            }
        }
    }
    sd->loading = false;
    LOG_INFO("%s: %zu VM registrations restored", path, n);
    json_object_put(o);
}

char *
switchd_vm_unregister(struct switchd *sd, const char *uuid, bool *ok)
{
    char *path = shash_find_and_delete(&sd->registered, uuid);
    if (!path) {
        *ok = false;
        return xasprintf("%s is not registered", uuid);
    }
    free(path);
    free(shash_find_and_delete(&sd->reg_names, uuid));
    struct shash_node *node, *next;
    SHASH_FOR_EACH_SAFE (node, next, &sd->reg_addrs) {
        if (!strncmp(node->name, uuid, UUID_LEN)
            && node->name[UUID_LEN] == ' ') {
            free(node->data);
            shash_delete(&sd->reg_addrs, node);
        }
    }
    sd->recompute = true;
    *ok = true;
    registry_save(sd);
    LOG_INFO("vm unregistered vm=%s", uuid);
    return xasprintf("unregistered %s", uuid);
}

/* " addresses=..." (each port's, ';' between ports; "learned:" before
 * learned ones) and the spoofed-packet counters, for appfw/vms. */
static void
vm_put_portsec(const struct vm *vm, struct ds *s)
{
    ds_put_cstr(s, " addresses=");
    for (size_t i = 0; i < vm->n_ports; i++) {
        const struct vm_port *p = &vm->ports[i];
        const char *list = *p->addresses ? p->addresses : p->learned;
        ds_put_format(s, "%s%s", i ? ";" : "",
                      *p->addresses ? "" : "learned:");
        for (const char *c = list; *c; c++) {
            ds_put_char(s, *c == ' ' ? ',' : *c);
        }
    }
    if (!vm->n_ports) {
        ds_put_char(s, '-');
    }
    static const char *const names[FLOWGEN_N_SPOOF] = {
        [FLOWGEN_SPOOF_MAC] = "mac", [FLOWGEN_SPOOF_IP] = "ip",
        [FLOWGEN_SPOOF_ARP] = "arp", [FLOWGEN_SPOOF_ND] = "nd",
    };
    for (size_t i = 1; i < FLOWGEN_N_SPOOF; i++) {
        ds_put_format(s, " spoofed_%s=%llu", names[i],
                      (unsigned long long) (vm->spoof_base[i]
                                            + vm->spoof_last[i])
                      + vm->refused_learn[i]);
    }
    ds_put_format(s, " learns=%llu", vm->learned);
}

char *
switchd_vm_addresses(struct switchd *sd, const char *uuid, const char *mac,
                     const char *addresses, bool *ok)
{
    *ok = false;
    if (!shash_find(&sd->registered, uuid)) {
        return xasprintf("%s is not registered", uuid);
    }
    struct eth_addr ea;
    if (!eth_addr_from_string(mac, &ea)) {
        return xasprintf("\"%s\" is not a MAC address", mac);
    }
    char *error = flowgen_check_addresses(addresses);
    if (error) {
        return error;
    }
    char *key = xasprintf("%s "ETH_ADDR_FMT, uuid, ETH_ADDR_ARGS(ea));
    if (*addresses) {
        free(shash_replace(&sd->reg_addrs, key, xstrdup(addresses)));
    } else {
        free(shash_find_and_delete(&sd->reg_addrs, key));
    }
    LOG_INFO("vm addresses vm=%s mac="ETH_ADDR_FMT" addresses=%s", uuid,
             ETH_ADDR_ARGS(ea), *addresses ? addresses : "(learned)");
    free(key);
    sd->recompute = true;
    registry_save(sd);
    *ok = true;
    return xasprintf("%s "ETH_ADDR_FMT": %s", uuid, ETH_ADDR_ARGS(ea),
                     *addresses ? addresses : "learned");
}

char *
switchd_vms(const struct switchd *sd)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    const struct shash_node **nodes = shash_sort(&sd->vms);
    for (size_t i = 0; i < shash_count(&sd->vms); i++) {
        const struct vm *vm = nodes[i]->data;
        ds_put_format(&s, "%s name=%s ofport=%d mac=%s zone=%u mode=%s "
                      "allows=%zu apps=%zu", vm->uuid,
                      *vm->name ? vm->name : "-", vm->ofport,
                      *vm->mac ? vm->mac : "-", vm->zone,
                      mode_name(vm->mode), shash_count(&vm->allows),
                      shash_count(&vm->counted));
        vm_put_portsec(vm, &s);
        if (vm->relay) {
            struct relay_stats st;
            relay_get_stats(vm->relay, &st);
            ds_put_format(&s, " channel=%s connected=%s connects=%llu "
                          "frames=%llu bad=%llu framing_errors=%llu "
                          "dropped_unread=%llu decides=%llu verdicts=%llu "
                          "refused=%llu notices=%llu",
                          relay_path(vm->relay),
                          relay_is_connected(vm->relay) ? "yes" : "no",
                          st.connects, st.frames_in, st.bad_frames,
                          st.framing_errors, st.refused_frames, vm->decides,
                          vm->verdicts, vm->refused, vm->notices);
        } else {
            ds_put_cstr(&s, " channel=-");
        }
        ds_put_char(&s, '\n');
    }
    free(nodes);
    return ds_steal_cstr(&s);
}

char *
switchd_flows(const struct switchd *sd)
{
    return ofctrl_dump_desired(sd->ofctrl);
}

char *
switchd_connection_status(const struct switchd *sd)
{
    char *of = ofctrl_status(sd->ofctrl);
    char *s = xasprintf("%s\novsdb=%s bridge=%s\nflow_installs=%llu "
                        "failed=%llu pending=%zu verdicts_waiting=%zu "
                        "resets=%llu asks=%llu repunts=%llu\n"
                        "hypervisor=%s polls=%llu poll_errors=%llu\n"
                        "revision=%lld policy_version=%lld rechecks=%llu "
                        "rechecks_waiting=%zu revoked=%llu\n", of,
                        vsdb_is_connected(sd->vsdb) ? "connected"
                                                    : "disconnected",
                        vsdb_has_bridge(sd->vsdb) ? sd->cfg.bridge
                                                  : "(missing)",
                        sd->installs, sd->installs_failed,
                        ovs_list_size(&sd->pending),
                        ovs_list_size(&sd->verdicts), sd->resets,
                        sd->asks_sent, sd->repunts, sd->cfg.hypervisor,
                        sd->polls, sd->poll_errors,
                        (long long) sd->revision,
                        (long long) sd->policy_version, sd->rechecks_sent,
                        shash_count(&sd->rechecks), sd->revoked);
    free(of);
    return s;
}

void
switchd_recompute(struct switchd *sd)
{
    sd->recompute = true;
}
