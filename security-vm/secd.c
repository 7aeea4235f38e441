/* appfw-secd's decision service.  See secd.h. */
#include "secd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appid/appid.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/msg.h"
#include "common/util.h"
#include "common/rpc.h"
#include "events.h"
#include "naming.h"
#include "policy.h"
#include "quota.h"
#include "resolver.h"
#include "secd-private.h"
#include "sites.h"
#include "store.h"

LOG_MODULE(secd);

/* Work done per secd_run() pass at most, so no source starves another. */
#define RECV_BUDGET 1024
#define RECV_BATCH 16
#define DECIDE_BUDGET 512
#define CONSOLE_BUDGET 64
/* Console requests in flight: room for the event stream's held requests
 * (EVENTS_WAITERS) and as many others. */
#define CONSOLE_CONTEXTS (2 * EVENTS_WAITERS)
#define PRUNE_INTERVAL_MS 60000
#define NAMING_EVENTS_KEPT 100000
#define VM_RECORD_INTERVAL_MS 60000

/* Audit rows queued before a flush is due anyway: small batches keep each
 * write (which holds up decisions meanwhile) to a few milliseconds. */
#define FLUSH_ROWS 256

static const char *
json_text(struct json_object *obj)
{
    return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN
                                          | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void
reply_json(struct rpc_server *server, struct rpc_request *req,
           struct json_object *obj)
{
    const char *text = json_text(obj);
    rpc_request_reply(server, req, text, strlen(text));
    json_object_put(obj);
}

static void
reply_error(struct secd *d, struct rpc_request *req, const char *code,
            int64_t id, const char *message)
{
    d->n_errors++;
    reply_json(d->decide, req, msg_error_create(code, id, "%s", message));
}

void
secd_publish(struct secd *d, struct json_object *event)
{
    if (d->events) {
        events_publish(d->events, event);
    } else {
        json_object_put(event);
    }
}

static struct json_object *ack_create(void);
static void policy_changed(struct secd *, const char *why);

/* Policies. */

/* Tells the user whose traffic passed 'q' (the quota's own user, else the
 * one whose traffic it was, else the one the naming service says is
 * logged in there, else everyone logged in) on the VM it came from,
 * through appfw-switchd and the VM's agent. */
static void
send_quota_notice(struct secd *d, const struct policy_quota *q,
                  const char *kind, int64_t volume)
{
    const char *user = q->kind == POLICY_QUOTA_USER ? q->subject
                       : d->quota_user && *d->quota_user ? d->quota_user
                       : naming_user_of(d->naming, d->quota_vm);
    user = user ? user : "";
    struct json_object *n = msg_create(MSG_NOTICE);
    msg_put_string(n, "user", user);
    msg_put_string(n, "kind", "quota");
    char *text = xasprintf("appfw: the traffic quota of %s %s, %lld bytes "
                           "per day, is used up (%lld bytes today)%s", kind,
                           q->subject, (long long) q->bytes_per_day,
                           (long long) volume,
                           q->block ? "; new connections are refused until "
                                      "the end of the day (UTC)" : "");
    msg_put_string(n, "text", text);
    free(text);
    struct json_object *vm = json_object_new_object();
    msg_put_string(vm, "uuid", d->quota_vm);
    json_object_object_add(n, "vm", vm);
    const struct vm_state *vs = (d->quota_vm
                                 ? strmap_find(&d->vms, d->quota_vm) : NULL);
    struct hypervisor *hv = (vs && vs->hypervisor
                             ? strmap_find(&d->hvs.by_name, vs->hypervisor)
                             : NULL);
    if (hv) {
        hv_send(&d->hvs, hv, json_text(n));
        LOG_INFO("quota notice vm=%s user=%s hypervisor=%s", d->quota_vm,
                 user, hv->name);
    } else {
        LOG_WARN("quota notice for vm=%s: no hypervisor known for it",
                 d->quota_vm);
    }
    json_object_put(n);
}

/* A quota passed for the first time today: recorded, logged, published
 * (the console's event stream shows it; "notify" says the policy wants
 * the user told). */
static void
quota_violated(const struct policy_quota *q, int64_t volume,
               const char *day, void *d_)
{
    struct secd *d = d_;
    const char *kind = policy_quota_kind_name(q->kind);
    struct store_violation v = {
        .day = day, .kind = kind, .subject = q->subject,
        .quota = q->bytes_per_day, .volume = volume,
        .time = time_wall_ms() / 1000,
    };
    if (store_quota_violation_add(d->store, &v)) {
        LOG_ERR("%s", store_last_error(d->store));
    }
    LOG_WARN("quota exceeded kind=%s subject=%s day=%s quota=%lld "
             "volume=%lld action=%s", kind, q->subject, day,
             (long long) q->bytes_per_day, (long long) volume,
             q->block ? "block" : "log");
    struct json_object *ev = json_object_new_object();
    json_object_object_add(ev, "type",
                           json_object_new_string("quota_violation"));
    json_object_object_add(ev, "day", json_object_new_string(day));
    json_object_object_add(ev, "kind", json_object_new_string(kind));
    json_object_object_add(ev, "subject",
                           json_object_new_string(q->subject));
    json_object_object_add(ev, "quota",
                           json_object_new_int64(q->bytes_per_day));
    json_object_object_add(ev, "volume", json_object_new_int64(volume));
    json_object_object_add(ev, "block", json_object_new_boolean(q->block));
    bool notify = q->notify && (!d->policy
                                || policy_system(d->policy)->notify);
    json_object_object_add(ev, "notify", json_object_new_boolean(notify));
    if (d->quota_vm) {
        json_object_object_add(ev, "vm", json_object_new_string(d->quota_vm));
    }
    secd_publish(d, ev);
    if (notify && d->quota_vm) {
        send_quota_notice(d, q, kind, volume);
    }
    if (q->block && !d->recounting) {
        policy_changed(d, "a blocking quota is used up");
    }
}

/* Today's usage, recounted under the (new) policy's quotas from the
 * statistics written so far. */
static void
recount_quotas(struct secd *d)
{
    store_flush(d->store);
    /* One policy_change follows for the whole recount. */
    d->recounting = true;
    quota_rebuild(d->quota, d->policy, d->store, time_wall_ms(),
                  quota_violated, d);
    d->recounting = false;
}

/* What secd decides changed ('why'): every hypervisor is told at once (the
 * answer to its poll), passes it on to its guests' agents, which drop
 * their cached verdicts, and asks again about the flows it holds
 * approved (recheck).  A hypervisor that misses it learns of it from the
 * revision in the next poll's answer. */
static void
policy_changed(struct secd *d, const char *why)
{
    d->revision++;
    hv_set_revision(&d->hvs, d->revision, d->policy_version);
    struct json_object *m = msg_create(MSG_POLICY_CHANGE);
    msg_put_int(m, "revision", d->revision);
    msg_put_int(m, "policy_version", d->policy_version);
    msg_put_string(m, "reason", why);
    size_t n = hv_broadcast(&d->hvs, json_text(m));
    json_object_put(m);
    LOG_INFO("decisions changed revision=%lld policy_version=%lld reason=%s "
             "hypervisors=%zu", (long long) d->revision,
             (long long) d->policy_version, why, n);
}

char *
secd_activate(struct secd *d, const char *text, const char *author,
              const char *comment, int64_t *versionp)
{
    struct policy *p;
    char *error = policy_compile(text, strlen(text), &p);
    if (error) {
        return error;
    }
    int64_t version;
    if (store_policy_add(d->store, text, author, comment, &version)) {
        policy_unref(p);
        return xasprintf("storing the policy: %s",
                         store_last_error(d->store));
    }
    /* Atomic: a decision either uses the old policy or the new one. */
    policy_unref(d->policy);
    d->policy = p;
    d->policy_version = version;
    sites_sync(d->sites, p);
    recount_quotas(d);
    if (versionp) {
        *versionp = version;
    }
    LOG_INFO("policy activated version=%lld rules=%zu author=%s",
             (long long) version, policy_n_rules(p), author);
    policy_changed(d, "policy activated");

    struct json_object *ev = json_object_new_object();
    json_object_object_add(ev, "type", json_object_new_string("policy"));
    json_object_object_add(ev, "version", json_object_new_int64(version));
    json_object_object_add(ev, "author", json_object_new_string(author));
    json_object_object_add(ev, "comment",
                           json_object_new_string(comment ? comment : ""));
    secd_publish(d, ev);
    return NULL;
}

void
secd_reload(struct secd *d)
{
    struct store_policy sp;
    if (store_policy_active(d->store, &sp)) {
        LOG_WARN("no active policy in the store: %s",
                 store_last_error(d->store));
        return;
    }
    struct policy *p;
    char *error = policy_compile(sp.text, strlen(sp.text), &p);
    if (error) {
        LOG_ERR("stored policy version=%lld does not compile, keeping the "
                "current one: %s", (long long) sp.version, error);
        free(error);
    } else {
        policy_unref(d->policy);
        d->policy = p;
        d->policy_version = sp.version;
        sites_sync(d->sites, p);
        recount_quotas(d);
        LOG_INFO("policy loaded version=%lld rules=%zu",
                 (long long) sp.version, policy_n_rules(p));
        policy_changed(d, "policy loaded");
    }
    store_policy_clear(&sp);
}

/* VM admission: a token bucket and a bounded queue per VM. */

static struct vm_state *
vm_get(struct secd *d, const char *uuid)
{
    struct vm_state *vm = strmap_find(&d->vms, uuid);
    if (!vm) {
        vm = xcalloc(1, sizeof *vm);
        vm->uuid = xstrdup(uuid);
        vm->tokens = d->cfg.vm_burst;
        vm->last_ms = time_mono_ms();
        vm->queue = xcalloc(d->cfg.vm_queue, sizeof *vm->queue);
        vm->msgs = xcalloc(d->cfg.vm_queue, sizeof *vm->msgs);
        vm->cap = d->cfg.vm_queue;
        vm->rl = (struct log_rl) LOG_RL_INIT(6, 3);
        strmap_init(&vm->users);
        strmap_init(&vm->dests);
        strmap_add(&d->vms, uuid, vm);
    }
    vm->seen_ms = time_mono_ms();
    return vm;
}

static void
vm_free(void *vm_)
{
    struct vm_state *vm = vm_;
    free(vm->hypervisor);
    for (size_t i = 0; i < vm->n; i++) {
        json_object_put(vm->msgs[(vm->head + i) % vm->cap]);
    }
    free(vm->uuid);
    free(vm->queue);
    free(vm->msgs);
    strmap_destroy(&vm->users, free);
    strmap_destroy(&vm->dests, NULL);
    json_object_put(vm->naming);
    free(vm);
}

/* A VM that has sent nothing for 'vm-idle-s', with nothing queued or
 * held, is forgotten: VMs come and go in a fleet, and the state of every
 * VM ever seen would otherwise stay for good.  What it held (its token
 * bucket, the uid to account names learned from its decisions) is
 * learned again when it is back. */
static void
forget_idle_vms(struct secd *d, int64_t now)
{
    int64_t idle_ms = (d->cfg.vm_idle_s ? d->cfg.vm_idle_s : 3600) * 1000LL;
    if (now < d->next_idle_ms) {
        return;
    }
    d->next_idle_ms = now + (idle_ms < PRUNE_INTERVAL_MS ? idle_ms
                                                         : PRUNE_INTERVAL_MS);
    char **idle = NULL;
    size_t n = 0;
    for (size_t i = 0; (i = strmap_next(&d->vms, i)) != SIZE_MAX; i++) {
        struct vm_state *vm = d->vms.nodes[i].data;
        if (now - vm->seen_ms >= idle_ms && !vm->n && !vm->scheduled
            && !vm->naming) {
            idle = xrealloc(idle, (n + 1) * sizeof *idle);
            idle[n++] = vm->uuid;
        }
    }
    for (size_t i = 0; i < n; i++) {
        vm_free(strmap_delete(&d->vms, idle[i]));
    }
    if (n) {
        LOG_INFO("forgot %zu idle VMs (%zu known)", n,
                 strmap_count(&d->vms));
    }
    free(idle);
}

/* Records in the store's VM registry that 'vm' was seen in 'msg': at the
 * first sighting, then at most once a minute, since each record is a
 * write and this runs for every decision. */
static void
vm_seen(struct secd *d, struct vm_state *vm, const struct json_object *msg)
{
    int64_t now = time_mono_ms();
    if (vm->recorded_ms && now - vm->recorded_ms < VM_RECORD_INTERVAL_MS) {
        return;
    }
    vm->recorded_ms = now;
    store_vm_seen(d->store, vm->uuid, msg_get_string(msg, "vm.name", ""),
                  (int) msg_get_int(msg, "vm.ofport", 0),
                  msg_get_string(msg, "vm.mac", ""), "");
}

/* Which hypervisor message 'msg' comes from (hypervisor.h), and whether
 * it may speak for VM 'uuid' (if not NULL): a VM is hosted by the
 * hypervisor it was first heard from until that one releases it
 * (vm_release) or is removed.  With hypervisors registered, a message
 * that is not a registered hypervisor's, with its token, is refused, and
 * so is one for a VM another hypervisor hosts; with none registered, a
 * VM's hypervisor is the one its latest message names.  Returns NULL and
 * sets '*hvp' (NULL: unnamed, with none registered), or the reason it is
 * refused. */
static const char *
check_hypervisor(struct secd *d, const char *uuid,
                 const struct json_object *msg, enum msg_type type,
                 struct hypervisor **hvp)
{
    /* A poll and a recheck speak for the hypervisor, the rest for a VM. */
    bool poll = type == MSG_POLL || type == MSG_RECHECK;
    const char *name = msg_get_string(msg, poll ? "hypervisor"
                                               : "vm.hypervisor", NULL);
    const char *token = msg_get_string(msg, poll ? "token" : "vm.token",
                                       NULL);
    const char *why;
    struct hypervisor *hv = hv_authenticate(&d->hvs, name, token, &why);
    *hvp = hv;
    if (why) {
        return why;
    }
    if (!hv) {
        return NULL;
    }
    hv->seen_ms = time_mono_ms();
    if (!uuid) {
        return NULL;
    }
    struct vm_state *vm = vm_get(d, uuid);
    if (vm->hypervisor && strcmp(vm->hypervisor, hv->name)) {
        struct hypervisor *holder = strmap_find(&d->hvs.by_name,
                                                vm->hypervisor);
        if (d->hvs.n_registered && holder && holder->registered) {
            hv->refused++;
            return "this VM is hosted by another hypervisor";
        }
        free(vm->hypervisor);
        vm->hypervisor = NULL;
    }
    if (!vm->hypervisor) {
        vm->hypervisor = xstrdup(hv->name);
    }
    return NULL;
}

/* Takes 'n' of the VM's tokens (at most a burst's), if it has them. */
static bool
vm_take_tokens(struct secd *d, struct vm_state *vm, double n)
{
    int64_t now = time_mono_ms();
    vm->tokens += (now - vm->last_ms) * d->cfg.vm_rate / 1000.0;
    if (vm->tokens > d->cfg.vm_burst) {
        vm->tokens = d->cfg.vm_burst;
    }
    vm->last_ms = now;
    n = n < d->cfg.vm_burst ? n : d->cfg.vm_burst;
    if (vm->tokens >= n) {
        vm->tokens -= n;
        return true;
    }
    return false;
}

static bool
vm_take_token(struct secd *d, struct vm_state *vm)
{
    return vm_take_tokens(d, vm, 1);
}

/* Queues 'req' and its parsed 'msg' (takes a reference). */
static void
vm_enqueue(struct secd *d, struct vm_state *vm, struct rpc_request *req,
           struct json_object *msg)
{
    vm->msgs[(vm->head + vm->n) % d->cfg.vm_queue] = json_object_get(msg);
    vm->queue[(vm->head + vm->n) % d->cfg.vm_queue] = req;
    vm->n++;
    if (!vm->scheduled) {
        if (d->n_ready >= d->allocated_ready) {
            d->allocated_ready = d->allocated_ready
                                 ? 2 * d->allocated_ready : 16;
            d->ready = xrealloc(d->ready,
                                d->allocated_ready * sizeof *d->ready);
        }
        d->ready[d->n_ready++] = vm;
        vm->scheduled = true;
    }
}

/* Deciding. */

static void
add_app_info(struct json_object *obj, const struct appid_result *app)
{
    struct json_object *a = json_object_new_object();
    json_object_object_add(a, "product", json_object_new_string(app->product));
    json_object_object_add(a, "vendor", json_object_new_string(app->vendor));
    json_object_object_add(a, "version",
                           json_object_new_string(app->version));
    json_object_object_add(a, "category",
                           json_object_new_string(app->category));
    json_object_object_add(a, "trust", json_object_new_string(
                               appid_trust_name(app->trust)));
    json_object_object_add(a, "threat", json_object_new_string(
                               appid_threat_name(app->threat)));
    json_object_object_add(a, "match", json_object_new_string(
                               appid_match_name(app->match)));
    json_object_object_add(a, "confidence",
                           json_object_new_int(app->confidence));
    json_object_object_add(obj, "app", a);
}

/* A stable 32-bit id for an application (for OVS's ct_mark): the first
 * bytes of its hash, or of the hash of its product name, else of its path
 * (the name remember_app_name() keeps for it), so that applications
 * without a hash are not all one. */
static uint32_t
app_id(const uint8_t *sha256, const char *product, const char *path)
{
    uint8_t h[SHA256_LEN];
    if (!sha256) {
        const char *name = *product ? product : path;
        digest_sha256(name, strlen(name), h);
        sha256 = h;
    }
    return ((uint32_t) sha256[0] << 24 | (uint32_t) sha256[1] << 16
            | (uint32_t) sha256[2] << 8 | sha256[3]) & 0x7fffffff;
}

/* switchd reports datapath counters by app id: keep the names (the
 * product, or for an application appid does not know, its path, as the
 * decisions' statistics name it).  Guests choose hashes and paths, so at
 * most APP_NAMES_MAX are kept: when full, the names start over (counters
 * of an app whose name is gone are reported under its id). */
#define APP_NAMES_MAX 65536

static void
remember_app_name(struct secd *d, uint32_t aid, const char *product,
                  const char *path)
{
    char key[16];
    snprintf(key, sizeof key, "%u", aid);
    const char *name = *product ? product : path;
    if (*name && !strmap_find(&d->app_names, key)) {
        if (strmap_count(&d->app_names) >= APP_NAMES_MAX) {
            LOG_INFO("application names full (%d): starting over",
                     APP_NAMES_MAX);
            strmap_clear(&d->app_names, free);
        }
        strmap_add(&d->app_names, key, xstrdup(name));
    }
}

/* Reverse lookups of destinations, for reports.  Guests choose the
 * addresses, so: at most RDNS_MAX are remembered (when full, the cache
 * starts over), at most RDNS_RATE new lookups a second are queued, an
 * address is asked again after a day (one without a name after an hour),
 * and the resolver's reverse queue is bounded (resolver.h). */
#define RDNS_MAX 65536
#define RDNS_RATE 50
#define RDNS_BURST 200
#define RDNS_FOUND_TTL_MS (86400 * 1000LL)
#define RDNS_NONE_TTL_MS (3600 * 1000LL)

struct rdns_entry {
    char *name;                 /* "" none (or not known yet). */
    int64_t at_ms;              /* When it was answered (wall clock). */
    bool asked;                 /* A lookup is queued. */
};

static void
rdns_free(void *e_)
{
    struct rdns_entry *e = e_;
    if (e) {
        free(e->name);
        free(e);
    }
}

static struct rdns_entry *
rdns_put(struct secd *d, const char *address, const char *name,
         int64_t at_ms)
{
    struct rdns_entry *e = strmap_find(&d->rdns, address);
    if (!e) {
        if (strmap_count(&d->rdns) >= RDNS_MAX) {
            LOG_INFO("host name cache full (%d addresses): starting over",
                     RDNS_MAX);
            strmap_clear(&d->rdns, rdns_free);
        }
        e = xcalloc(1, sizeof *e);
        strmap_add(&d->rdns, address, e);
    }
    free(e->name);
    e->name = xstrdup(name);
    e->at_ms = at_ms;
    return e;
}

/* 'text' as the canonical text of the address it names, in 'buf' (46
 * bytes), or "" if it is not an address. */
static const char *
canon_addr(const char *text, char *buf)
{
    struct policy_addr a;
    *buf = '\0';
    return text && policy_addr_parse(text, &a)
           ? resolver_addr_text(&a, buf) : buf;
}

/* Queues a lookup of the host name of 'address' (canonical text) unless
 * it is known, asked for already, or the rate is used up. */
static void
want_rdns(struct secd *d, const char *address)
{
    struct policy_addr a;
    if (!d->cfg.reverse_dns || !*address
        || !policy_addr_parse(address, &a)) {
        return;
    }
    int64_t now = time_wall_ms();
    struct rdns_entry *e = strmap_find(&d->rdns, address);
    if (e && (e->asked || now - e->at_ms < (*e->name ? RDNS_FOUND_TTL_MS
                                                      : RDNS_NONE_TTL_MS))) {
        return;
    }
    int64_t mono = time_mono_ms();
    d->rdns_tokens += (mono - d->rdns_last_ms) * RDNS_RATE / 1000.0;
    d->rdns_tokens = d->rdns_tokens > RDNS_BURST ? RDNS_BURST
                                                 : d->rdns_tokens;
    d->rdns_last_ms = mono;
    if (d->rdns_tokens < 1
        || resolver_reverse(d->resolver, &a) == RESOLVER_FULL) {
        return;
    }
    d->rdns_tokens -= 1;
    if (!e) {
        e = rdns_put(d, address, "", 0);
    }
    e->asked = true;
}

const char *
secd_dest_name(const struct secd *d, const char *address)
{
    const struct rdns_entry *e = strmap_find(&d->rdns, address);
    return e && *e->name ? e->name : address;
}

const char *
secd_site_of(const struct secd *d, const char *address)
{
    struct policy_addr a;
    const char *site = policy_addr_parse(address, &a)
                       ? sites_name_of(d->sites, &a) : NULL;
    return site ? site : secd_dest_name(d, address);
}

static void
load_rdns(const char *address, const char *name, int64_t resolved_ms,
          void *d_)
{
    struct secd *d = d_;
    if (!strmap_find(&d->rdns, address)) {
        rdns_put(d, address, name, resolved_ms);
    }
}

/* The destination a connection to 'remote' is counted under for 'vm':
 * its canonical address, or "(other)" once the VM has counted
 * DESTS_PER_MINUTE destinations this minute (a guest chooses them, and
 * each one is a row). */
#define DESTS_PER_MINUTE 4096

static const char *
dest_key(struct secd *d, struct vm_state *vm, const char *remote,
         char *buf)
{
    const char *dest = canon_addr(remote, buf);
    if (!vm || !*dest) {
        return dest;
    }
    int64_t minute = time_wall_ms() / 60000;
    if (minute != vm->dests_minute) {
        strmap_clear(&vm->dests, NULL);
        vm->dests_minute = minute;
    }
    if (strmap_find(&vm->dests, dest)) {
        return dest;
    }
    if (strmap_count(&vm->dests) >= DESTS_PER_MINUTE) {
        static struct log_rl rl = LOG_RL_INIT(6, 3);
        LOG_WARN_RL(&rl, "vm=%s has more than %d destinations this minute: "
                    "the rest are counted as (other)", vm->uuid,
                    DESTS_PER_MINUTE);
        (void) d;
        return "(other)";
    }
    strmap_add(&vm->dests, dest, vm);     /* Any non-null value. */
    return dest;
}

/* The protocol a connection is counted under in reports: the catalogue's
 * name for it, else "tcp/443"-style (the service port). */
static const char *
protocol_label(const struct secd *d, const char *proto, const char *dir,
               const char *event, int local_port, int remote_port,
               bool has_remote, char *buf, size_t size)
{
    struct policy_request q = {
        .local_port = local_port, .remote_port = remote_port,
        .has_remote = has_remote, .event = POLICY_EV_SEND,
    };
    policy_proto_from_name(proto, &q.proto);
    policy_dir_from_name(dir, &q.dir);
    policy_event_from_name(event, &q.event);
    const char *name = d->policy ? policy_protocol_name(d->policy, &q) : NULL;
    if (name) {
        return name;
    }
    int port = *proto ? policy_service_port(&q) : -1;
    if (port < 0) {
        return proto;
    }
    snprintf(buf, size, "%s/%d", proto, port);
    return buf;
}

/* Records decision 'v': its audit row (if it is logged), its statistics
 * (unless 'revoked': a recheck's revocation is neither a new connection
 * nor a denied one; the allow was counted when it was given), the
 * console's event.  Returns false if its audit row was due but the
 * store's queue had no room for it (store_audit_add()). */
static bool
audit_decision(struct secd *d, const struct json_object *msg,
               const struct appid_result *app,
               const struct policy_request *q,
               const struct policy_verdict *v, bool revoked)
{
    const char *vm_uuid = msg_get_string(msg, "vm.uuid", "");
    const char *vm_name = msg_get_string(msg, "vm.name", "");
    const char *user = q->user ? q->user : "";
    const char *path = msg_get_string(msg, "app.path", "");
    struct store_audit a = {
        .time_ms = time_wall_ms(), .vm_uuid = vm_uuid, .vm_name = vm_name,
        .user = user, .app_path = path,
        .sha256 = msg_get_string(msg, "app.sha256", ""),
        .product = app->product, .category = app->category,
        .event = msg_get_string(msg, "event", ""),
        .protocol = msg_get_string(msg, "protocol", ""),
        .direction = msg_get_string(msg, "direction", ""),
        .local = msg_get_string(msg, "local.address", ""),
        .local_port = (int) msg_get_int(msg, "local.port", 0),
        .remote = msg_get_string(msg, "remote.address", ""),
        .remote_port = (int) msg_get_int(msg, "remote.port", 0),
        .allow = v->allow, .rule = v->rule, .reason = v->reason,
        .policy_version = d->policy_version,
    };
    bool audited = !v->log || store_audit_add(d->store, &a);
    if (!audited) {
        static struct log_rl rl = LOG_RL_INIT(6, 3);
        LOG_ERR_RL(&rl, "the store's queue is full: audit row of vm=%s "
                   "dropped (%s)", vm_uuid, store_last_error(d->store));
    }
    struct store_counters c = { .connections = 1, .denials = !v->allow };
    char label[32], dest[INET6_ADDRSTRLEN];
    struct store_stats_key k = {
        .vm = *vm_name ? vm_name : vm_uuid,
        .app = *app->product ? app->product : path, .user = user,
        .rule = v->rule,
        .dest = dest_key(d, *vm_uuid ? strmap_find(&d->vms, vm_uuid) : NULL,
                         a.remote, dest),
        .protocol = protocol_label(d, a.protocol, a.direction, a.event,
                                   a.local_port, a.remote_port, *a.remote,
                                   label, sizeof label),
    };
    if (!revoked) {
        store_stats_add(d->store, a.time_ms, &k, &c);
        want_rdns(d, k.dest);
    }

    /* The console's live stream sees every decision. */
    struct json_object *ev = json_object_new_object();
    json_object_object_add(ev, "type", json_object_new_string("decision"));
    json_object_object_add(ev, "time_ms", json_object_new_int64(a.time_ms));
    json_object_object_add(ev, "vm", json_object_new_string(
                               *vm_name ? vm_name : vm_uuid));
    json_object_object_add(ev, "user", json_object_new_string(user));
    json_object_object_add(ev, "app", json_object_new_string(
                               *app->product ? app->product : path));
    json_object_object_add(ev, "path", json_object_new_string(path));
    json_object_object_add(ev, "category",
                           json_object_new_string(app->category));
    json_object_object_add(ev, "event", json_object_new_string(a.event));
    json_object_object_add(ev, "protocol",
                           json_object_new_string(a.protocol));
    char remote[80];
    snprintf(remote, sizeof remote, "%s:%d", a.remote, a.remote_port);
    json_object_object_add(ev, "remote", json_object_new_string(remote));
    json_object_object_add(ev, "verdict", json_object_new_string(
                               v->allow ? "allow" : "deny"));
    json_object_object_add(ev, "rule", json_object_new_string(v->rule));
    json_object_object_add(ev, "reason", json_object_new_string(v->reason));
    json_object_object_add(ev, "notify", json_object_new_boolean(v->notify));
    secd_publish(d, ev);
    return audited;
}

/* The policy's view of decide 'msg': fills 'q', which points to 'app',
 * appid's identification of the application, and 'sha' with the
 * executable's hash if the message has one (returns true then). */
bool
secd_request_from_msg(struct secd *d, const struct json_object *msg,
                      struct appid_result *app, struct policy_request *q,
                      uint8_t sha[SHA256_LEN])
{
    const char *sha_hex = msg_get_string(msg, "app.sha256", NULL);
    const char *path = msg_get_string(msg, "app.path", "");
    bool have_sha = sha_hex && digest_from_hex(sha_hex, sha, SHA256_LEN);

    /* Without an agent (appfw-switchd asking from a packet) there is no
     * application to look up: the policy sees an unknown one. */
    bool no_app = !have_sha && !*path;
    if (no_app || appid_lookup(d->appid, have_sha ? sha : NULL, path, 0,
                               app)) {
        if (!no_app) {
            LOG_WARN("appid lookup failed: %s", appid_last_error(d->appid));
        }
        memset(app, 0, sizeof *app);
        app->match = APPID_MATCH_UNKNOWN;
        app->trust = APPID_TRUST_UNKNOWN;
        app->product = app->description = app->vendor = app->version = "";
        app->source = app->install_path = "";
        app->category = "unknown";
    }

    *q = (struct policy_request) {
        .vm_uuid = msg_get_string(msg, "vm.uuid", NULL),
        .vm_name = msg_get_string(msg, "vm.name", NULL),
        .user = msg_get_string(msg, "user.login",
                               msg_get_string(msg, "user.name", NULL)),
        .app_path = path,
        .app_sha256 = sha_hex,
        .app_memfd = msg_get_bool(msg, "app.memfd", false),
        .app_deleted = msg_get_bool(msg, "app.deleted", false),
        .app = app,
        .local_port = (int) msg_get_int(msg, "local.port", 0),
        .now = time(NULL),
        .site_has_addr = sites_has_addr,
        .site_aux = d->sites,
    };
    policy_event_from_name(msg_get_string(msg, "event", ""), &q->event);
    policy_proto_from_name(msg_get_string(msg, "protocol", ""), &q->proto);
    policy_dir_from_name(msg_get_string(msg, "direction", ""), &q->dir);
    policy_addr_parse(msg_get_string(msg, "local.address", "::"),
                      &q->local);
    if (msg_get(msg, "remote")) {
        q->has_remote = policy_addr_parse(
            msg_get_string(msg, "remote.address", ""), &q->remote);
        q->remote_port = (int) msg_get_int(msg, "remote.port", 0);
    }
    return have_sha;
}

#define MAX_USERS_PER_VM 1024

/* Remembers which account a VM's uid is (the agent's stats name only
 * the uid), so that statistics are kept per user too. */
static void
learn_user(struct secd *d, const struct json_object *msg)
{
    const char *uuid = msg_get_string(msg, "vm.uuid", NULL);
    const char *user = msg_get_string(msg, "user.login",
                                      msg_get_string(msg, "user.name", NULL));
    int64_t uid = msg_get_int(msg, "user.uid", -1);
    struct vm_state *vm = uuid ? strmap_find(&d->vms, uuid) : NULL;
    if (!vm || !user || !*user || uid < 0) {
        return;
    }
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long) uid);
    char *known = strmap_find(&vm->users, key);
    if (known && !strcmp(known, user)) {
        return;
    }
    if (!known && strmap_count(&vm->users) >= MAX_USERS_PER_VM) {
        return;                 /* Bounded: such a VM's stats go unnamed. */
    }
    free(strmap_delete(&vm->users, key));
    strmap_add(&vm->users, key, xstrdup(user));
}

/* The account of uid 'uid' in 'vm', or "". */
static const char *
user_of(const struct vm_state *vm, int64_t uid)
{
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long) uid);
    const char *user = vm && uid >= 0 ? strmap_find(&vm->users, key) : NULL;
    return user ? user : "";
}

/* Holds the verdict 'reply' (ownership moves here) to decide 'req' (its
 * id 'id') until this pass's audit rows are committed. */
static void
hold_verdict(struct secd *d, struct rpc_request *req, int64_t id,
             struct json_object *reply)
{
    struct held_verdict *h = xcalloc(1, sizeof *h);
    h->req = req;
    h->id = id;
    h->verdict_json = xstrdup(json_text(reply));
    json_object_put(reply);
    *d->held_tail = h;
    d->held_tail = &h->next;
}

/* The flow an allow of decide 'msg' needs in OVS, or NULL if none: only a
 * VM's own outbound TCP and UDP connections and ICMP echoes get one.  OVS
 * passes inbound connections to the guest's agent (which decided this
 * one), and the agent refuses other protocols.  appfw-switchd installs it
 * before it passes the verdict on (docs/protocol.md, "verdict"). */
static struct json_object *
verdict_flow(struct secd *d, const struct json_object *msg,
             const struct policy_verdict *v, const struct appid_result *app,
             const uint8_t *sha)
{
    const char *proto = msg_get_string(msg, "protocol", "");
    if (!v->allow || v->monitored
        || strcmp(msg_get_string(msg, "direction", ""), "outbound")
        || (strcmp(proto, "tcp") && strcmp(proto, "udp")
            && strcmp(proto, "icmp"))
        || !msg_get(msg, "remote")) {
        return NULL;
    }
    struct json_object *f = json_object_new_object();
    json_object_object_add(f, "granularity", json_object_new_string(
                               v->granularity ? "service" : "exact"));
    json_object_object_add(f, "protocol", json_object_new_string(proto));
    json_object_object_add(f, "local",
                           json_object_get(msg_get_object(msg, "local")));
    json_object_object_add(f, "remote",
                           json_object_get(msg_get_object(msg, "remote")));
    const char *path = msg_get_string(msg, "app.path", "");
    uint32_t aid = app_id(sha, app->product, path);
    json_object_object_add(f, "app_id", json_object_new_int64(aid));
    if (msg_get(msg, "user.uid")) {
        /* The datapath counts the connection for this uid (ct_label),
         * whose account learn_user() knows. */
        json_object_object_add(f, "uid", json_object_new_int64(
                                   msg_get_int(msg, "user.uid", 0)));
    }
    remember_app_name(d, aid, app->product, path);
    json_object_object_add(f, "ttl", json_object_new_int(v->ttl));
    return f;
}

/* The verdict on the request 'q' (from decide 'msg', whose application
 * appid identified as 'app'): the policy's, then today's blocking
 * quotas'. */
static void
evaluate(struct secd *d, const struct json_object *msg,
         struct policy_request *q, const struct appid_result *app,
         struct policy_verdict *v)
{
    if ((!q->user || !*q->user) && !msg_get_bool(msg, "agent", true)) {
        /* From appfw-switchd, for a VM without an agent: the naming
         * service knows who is logged in at the packet's source. */
        q->user = naming_user_at(d->naming, &q->local, q->vm_uuid);
    }

    policy_decide(d->policy, q, v);
    if (v->allow && !v->monitored) {
        /* A blocking quota used up today denies what the policy allows;
         * in monitor mode or simulation it is logged as what would have
         * happened, like the policy's own denials. */
        struct quota_traffic t = {
            .vm_uuid = q->vm_uuid, .vm_name = q->vm_name, .user = q->user,
            .product = app->product, .path = q->app_path,
        };
        char reason[sizeof v->reason_buf];
        const char *rule = quota_blocks(d->quota, d->policy, time_wall_ms(),
                                        &t, reason, sizeof reason);
        if (rule) {
            v->rule = rule;
            v->restricted_by = NULL;
            v->reason = v->reason_buf;
            if (v->enforced) {
                v->allow = false;
                snprintf(v->reason_buf, sizeof v->reason_buf, "%s", reason);
            } else {
                v->monitored = true;
                v->log = policy_system(d->policy)->logging;
                snprintf(v->reason_buf, sizeof v->reason_buf, "monitor mode "
                         "or simulation: would have denied: %.240s", reason);
            }
        }
    }
}

/* Decides the validated decide 'msg' that arrived as 'req'. */
static void
decide(struct secd *d, struct rpc_request *req, struct json_object *msg)
{
    int64_t id = msg_get_int(msg, "id", 0);
    uint8_t sha[SHA256_LEN];
    struct appid_result app;
    struct policy_request q;
    bool have_sha = secd_request_from_msg(d, msg, &app, &q, sha);
    struct policy_verdict v;
    evaluate(d, msg, &q, &app, &v);
    const char *refused = msg_get_string(msg, "flow_refused", NULL);
    if (refused && v.allow) {
        /* Asked again by appfw-switchd: the switch refused this allow's
         * flow, so it is a deny, not cached, and audited as one. */
        v.allow = false;
        v.log = true;
        v.ttl = 0;
        v.reason = v.reason_buf;
        snprintf(v.reason_buf, sizeof v.reason_buf, "allowed by policy, but "
                 "the switch refused its flow: %.200s", refused);
    }
    d->n_decisions++;
    v.allow ? d->n_allowed++ : d->n_denied++;

    struct json_object *reply = msg_create(MSG_VERDICT);
    json_object_object_add(reply, "id", json_object_new_int64(id));
    json_object_object_add(reply, "verdict", json_object_new_string(
                               v.allow ? "allow" : "deny"));
    json_object_object_add(reply, "rule", json_object_new_string(v.rule));
    json_object_object_add(reply, "reason", json_object_new_string(v.reason));
    json_object_object_add(reply, "ttl", json_object_new_int(v.ttl));
    json_object_object_add(reply, "granularity", json_object_new_string(
                               v.granularity ? "service" : "exact"));
    json_object_object_add(reply, "log", json_object_new_boolean(v.log));
    json_object_object_add(reply, "notify",
                           json_object_new_boolean(v.notify));
    json_object_object_add(reply, "policy_version",
                           json_object_new_int64(d->policy_version));
    msg_put_int(reply, "revision", d->revision);
    add_app_info(reply, &app);
    bool audited = audit_decision(d, msg, &app, &q, &v, false);
    learn_user(d, msg);
    if (!audited && d->cfg.durable_decisions) {
        /* Every verdict's row on disk first: this one has none. */
        json_object_put(reply);
        reply_error(d, req, "unavailable", id, "decided, but the audit log's "
                    "queue is full (the store is not being written)");
        return;
    }

    struct json_object *flow = verdict_flow(d, msg, &v, &app,
                                            have_sha ? sha : NULL);
    if (flow) {
        json_object_object_add(reply, "flow", flow);
    }
    if (d->cfg.durable_decisions) {
        /* Not before its audit row is on disk: commit_decisions(). */
        hold_verdict(d, req, id, reply);
    } else {
        reply_json(d->decide, req, reply);
    }
}

/* A hypervisor's recheck 'msg' (validated) after a policy_change: each
 * decide of a flow it holds approved is decided again, without being
 * answered or counted as a decision.  The answer names those that no
 * longer pass (the policy or a quota denies them, or the VM is not the
 * hypervisor's): they are audited as revoked, and the hypervisor
 * withdraws their flows. */
static void
recheck(struct secd *d, struct rpc_request *req, const struct json_object *msg,
        const struct hypervisor *from)
{
    const struct json_object *decides = msg_get_array(msg, "decides");
    size_t n = msg_array_length(decides);
    struct json_object *revoked = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        const struct json_object *dm = json_object_array_get_idx(decides, i);
        const char *uuid = msg_get_string(dm, "vm.uuid", NULL);
        struct hypervisor *hv;
        if (check_hypervisor(d, uuid, dm, MSG_DECIDE, &hv) || hv != from) {
            json_object_array_add(revoked, json_object_new_int64(i));
            continue;
        }
        uint8_t sha[SHA256_LEN];
        struct appid_result app;
        struct policy_request q;
        secd_request_from_msg(d, dm, &app, &q, sha);
        struct policy_verdict v;
        evaluate(d, dm, &q, &app, &v);
        if (v.allow) {
            continue;
        }
        json_object_array_add(revoked, json_object_new_int64(i));
        char why[sizeof v.reason_buf];
        snprintf(why, sizeof why, "%s", v.reason);
        snprintf(v.reason_buf, sizeof v.reason_buf, "revoked (decisions "
                 "revision %lld, policy version %lld): %.200s",
                 (long long) d->revision, (long long) d->policy_version,
                 why);
        v.reason = v.reason_buf;
        v.log = true;
        audit_decision(d, dm, &app, &q, &v, true);
    }
    size_t n_revoked = json_object_array_length(revoked);
    d->n_revoked += n_revoked;
    LOG_INFO("recheck from hypervisor %s: %zu approved flows, %zu revoked",
             from->name, n, n_revoked);
    struct json_object *ack = ack_create();
    msg_put_int(ack, "id", msg_get_int(msg, "id", 0));
    json_object_object_add(ack, "revoked", revoked);
    msg_put_int(ack, "revision", d->revision);
    reply_json(d->decide, req, ack);
}

/* With durable-decisions: writes the audit rows (and counters) of this
 * pass's decisions in one transaction, then sends their verdicts.  If the
 * write fails, the decisions are answered "unavailable" instead (their
 * rows stay queued for the next write). */
static void
commit_decisions(struct secd *d)
{
    if (!d->held) {
        return;
    }
    int error = store_flush(d->store);
    char *message = NULL;
    if (error) {
        static struct log_rl rl = LOG_RL_INIT(6, 3);
        LOG_ERR_RL(&rl, "audit commit failed, decisions answered "
                   "unavailable: %s", store_last_error(d->store));
        message = xasprintf("decided, but the audit log could not be "
                            "written: %s", store_last_error(d->store));
    }
    for (struct held_verdict *h = d->held; h; ) {
        struct held_verdict *next = h->next;
        if (message) {
            reply_error(d, h->req, "unavailable", h->id, message);
        } else {
            rpc_request_reply(d->decide, h->req, h->verdict_json,
                              strlen(h->verdict_json));
        }
        free(h->verdict_json);
        free(h);
        h = next;
    }
    free(message);
    d->held = NULL;
    d->held_tail = &d->held;
}

/* Requests from appfw-switchd. */

static struct json_object *
ack_create(void)
{
    struct json_object *ack = msg_create(MSG_ACK);
    json_object_object_add(ack, "ok", json_object_new_boolean(true));
    return ack;
}

/* A VM's naming reports apply at most this often: each one is a write to
 * the store, and a guest may send as many as it likes.  A report that
 * comes sooner is held, and a newer one replaces it (each report is the
 * whole state, so nothing is lost). */
#define NAMING_MIN_MS 200

static void naming_from_msg(struct secd *, const char *uuid,
                            const struct json_object *msg);

static void
naming_take(struct secd *d, struct vm_state *vm, struct json_object *msg)
{
    /* appfw-switchd forwards reports with increasing 'seq' within one run
     * ('epoch'), but they may arrive here in another order: one that an
     * already taken, newer report overtook is dropped. */
    int64_t epoch = msg_get_int(msg, "epoch", 0);
    int64_t seq = msg_get_int(msg, "seq", 0);
    if (seq) {
        if (epoch == vm->naming_epoch && seq <= vm->naming_seq) {
            LOG_INFO_RL(&vm->rl, "vm=%s: naming report %"PRId64" came "
                        "after %"PRId64": dropped", vm->uuid, seq,
                        vm->naming_seq);
            return;
        }
        vm->naming_epoch = epoch;
        vm->naming_seq = seq;
    }

    int64_t now = time_mono_ms();
    if (now >= vm->naming_next_ms && !vm->naming) {
        naming_from_msg(d, vm->uuid, msg);
        vm->naming_next_ms = now + NAMING_MIN_MS;
        return;
    }
    if (!vm->naming) {
        d->n_naming_held++;
    }
    json_object_put(vm->naming);
    vm->naming = json_object_get(msg);
}

/* Applies the held reports that are due ('all': every one, at exit). */
static void
naming_run(struct secd *d, bool all)
{
    if (!d->n_naming_held) {
        return;
    }
    int64_t now = time_mono_ms();
    for (size_t i = 0; (i = strmap_next(&d->vms, i)) != SIZE_MAX; i++) {
        struct vm_state *vm = d->vms.nodes[i].data;
        if (vm->naming && (all || now >= vm->naming_next_ms)) {
            naming_from_msg(d, vm->uuid, vm->naming);
            json_object_put(vm->naming);
            vm->naming = NULL;
            vm->naming_next_ms = now + NAMING_MIN_MS;
            d->n_naming_held--;
        }
    }
}

/* An agent's "naming" report (validated) into the naming service. */
static void
naming_from_msg(struct secd *d, const char *uuid,
                const struct json_object *msg)
{
    struct policy_addr addrs[NAMING_MAX_ADDRS];
    struct naming_session sessions[NAMING_MAX_SESSIONS];
    struct json_object *a = msg_get_array(msg, "addresses");
    size_t n_addrs = 0;
    for (size_t i = 0; i < msg_array_length(a)
                       && n_addrs < NAMING_MAX_ADDRS; i++) {
        struct json_object *e = json_object_array_get_idx(a, i);
        if (json_object_is_type(e, json_type_string)
            && policy_addr_parse(json_object_get_string(e),
                                 &addrs[n_addrs])) {
            n_addrs++;
        }
    }
    struct json_object *ss = msg_get_array(msg, "sessions");
    size_t n_sessions = 0;
    for (size_t i = 0; i < msg_array_length(ss)
                       && n_sessions < NAMING_MAX_SESSIONS; i++) {
        struct json_object *e = json_object_array_get_idx(ss, i);
        sessions[n_sessions++] = (struct naming_session) {
            .user = msg_get_string(e, "user", ""),
            .tty = msg_get_string(e, "tty", ""),
            .from = msg_get_string(e, "from", ""),
            .since = msg_get_int(e, "since", 0),
        };
    }
    naming_report(d->naming, uuid, msg_get_string(msg, "vm.name", ""),
                  addrs, n_addrs, sessions, n_sessions,
                  time_wall_ms() / 1000);
}

/* Counts 'bytes' of VM 'uuid' (named 'vm_name') against the quotas
 * 'charges' names (STORE_CHARGES_*) that apply to 'user' and the
 * application 'product' (or 'path') there. */
static void
charge_quotas(struct secd *d, const char *uuid, const char *vm_name,
              const char *user, const char *product, const char *path,
              int64_t bytes, int charges)
{
    struct quota_traffic t = {
        .vm_uuid = uuid, .vm_name = vm_name, .user = user ? user : "",
        .product = product ? product : "", .path = path ? path : "",
    };
    d->quota_vm = uuid;
    d->quota_user = user;
    quota_add(d->quota, d->policy, time_wall_ms(), &t, bytes, charges,
              quota_violated, d);
    d->quota_vm = d->quota_user = NULL;
}

/* Which quotas a guest's report of connection 'f' charges.  The datapath
 * counts everything established a VM sends and receives (flowgen.h), so
 * a report never charges the VM's quotas.  A VM's outbound TCP and UDP
 * connections and ICMP echoes pass through the flows that allow verdicts
 * carry (verdict_flow()), which count them with the application and user
 * of the decision that approved them: a report of one charges nothing.
 * Of the rest (connections into the VM) the datapath knows only the VM,
 * so a report charges its application's and its user's quotas: only the
 * guest knows whose they are. */
static int
report_charges(const struct json_object *f)
{
    const char *proto = msg_get_string(f, "protocol", "");
    bool counted = (strcmp(msg_get_string(f, "direction", "outbound"),
                           "inbound")
                    && (!strcmp(proto, "tcp") || !strcmp(proto, "udp")
                        || !strcmp(proto, "icmp")));
    return counted ? 0 : STORE_CHARGES_USER | STORE_CHARGES_APP;
}

/* The bytes and packets of each direction in a stats flow or app. */
static struct store_counters
traffic_of(const struct json_object *o)
{
    return (struct store_counters) {
        .bytes_in = msg_get_int(o, "bytes_in", 0),
        .bytes_out = msg_get_int(o, "bytes_out", 0),
        .packets_in = msg_get_int(o, "packets_in", 0),
        .packets_out = msg_get_int(o, "packets_out", 0),
    };
}

/* An agent's per-connection counters ("flows" of a stats message from VM
 * 'uuid'): statistics, and the quotas report_charges() says. */
static void
stats_from_agent(struct secd *d, const struct json_object *msg,
                 const char *uuid)
{
    struct json_object *flows = msg_get_array(msg, "flows");
    size_t n = msg_array_length(flows);
    /* The VM is the one switchd stamped on the message: a guest may
     * write anything in a flow's own "vm". */
    const char *vmname = msg_get_string(msg, "vm.name", uuid);
    struct vm_state *vs = uuid ? vm_get(d, uuid) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct json_object *f = json_object_array_get_idx(flows, i);
        struct store_counters c = traffic_of(f);
        const char *sha_hex = msg_get_string(f, "sha256", NULL);
        uint8_t sha[SHA256_LEN];
        struct appid_result app = { .product = "" };
        if (sha_hex && digest_from_hex(sha_hex, sha, SHA256_LEN)) {
            appid_lookup(d->appid, sha, NULL, 0, &app);
        }
        const char *user = user_of(vs, msg_get_int(f, "uid", -1));
        const char *remote = msg_get_string(f, "remote.address", "");
        char label[32], dest[INET6_ADDRSTRLEN];
        struct store_stats_key k = {
            .vm = vmname,
            .app = *app.product ? app.product : sha_hex ? sha_hex : "",
            .user = user, .dest = dest_key(d, vs, remote, dest),
            .protocol = protocol_label(
                d, msg_get_string(f, "protocol", ""),
                msg_get_string(f, "direction", "outbound"), "",
                (int) msg_get_int(f, "local.port", 0),
                (int) msg_get_int(f, "remote.port", 0), *remote,
                label, sizeof label),
            .charges = report_charges(f),
        };
        store_stats_add(d->store, time_wall_ms(), &k, &c);
        want_rdns(d, k.dest);
        charge_quotas(d, uuid, vmname, user, app.product, NULL,
                      sat_add64(c.bytes_in, c.bytes_out), k.charges);
    }
}

/* appfw-switchd's datapath counters ("apps" of a stats message for VM
 * 'uuid'), per application and the uid of the decision that approved its
 * connections, each direction apart; app id 0 is the rest of the VM's
 * traffic, which charges only the VM's quotas.  They are the datapath's,
 * not the guest's, so they charge whatever they count. */
static void
stats_from_datapath(struct secd *d, const struct json_object *msg,
                    const char *uuid)
{
    struct json_object *apps = msg_get_array(msg, "apps");
    size_t n = msg_array_length(apps);
    const char *vmname = msg_get_string(msg, "vm.name", uuid);
    struct vm_state *vs = uuid ? strmap_find(&d->vms, uuid) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct json_object *a = json_object_array_get_idx(apps, i);
        struct store_counters c = traffic_of(a);
        int64_t aid = msg_get_int(a, "app_id", 0);
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long) aid);
        const char *product = aid ? strmap_find(&d->app_names, key) : NULL;
        const char *user = NULL;     /* App id 0: the VM's alone. */
        if (aid) {
            user = user_of(vs, msg_get_int(a, "uid", -1));
            if (!*user && uuid) {
                /* Approved without an agent (no uid), or for a uid whose
                 * account secd has not learned since it started: the
                 * user the naming service has logged in there. */
                user = naming_user_of(d->naming, uuid);
            }
        }
        struct store_stats_key k = {
            .vm = vmname,
            .app = product ? product : aid ? key : "",
            .user = user,
            .charges = aid ? STORE_CHARGES_ALL : STORE_CHARGES_VM,
        };
        store_stats_add(d->store, time_wall_ms(), &k, &c);
        /* The name is the product, else the path (remember_app_name()):
         * try both readings, as quota_rebuild() does. */
        charge_quotas(d, uuid, vmname, user, product, product,
                      sat_add64(c.bytes_in, c.bytes_out), k.charges);
    }
}

static void
handle_switchd(struct secd *d, struct rpc_request *req)
{
    struct json_object *msg;
    enum msg_type type;
    char *error = msg_parse(req->data, req->len, &msg, &type);
    if (error) {
        static struct log_rl rl = LOG_RL_INIT(6, 3);
        LOG_WARN_RL(&rl, "bad message from switchd: %s", error);
        reply_error(d, req, "bad_message", 0, error);
        free(error);
        return;
    }

    const char *uuid = msg_get_string(msg, "vm.uuid", NULL);
    struct hypervisor *hv;
    const char *refused = check_hypervisor(d, uuid, msg, type, &hv);
    if (refused) {
        static struct log_rl rl = LOG_RL_INIT(6, 3);
        LOG_WARN_RL(&rl, "refused %s for vm=%s from hypervisor %s: %s",
                    msg_type_name(type), uuid ? uuid : "-",
                    msg_get_string(msg, (type == MSG_POLL
                                         || type == MSG_RECHECK)
                                        ? "hypervisor" : "vm.hypervisor",
                                   "(unnamed)"), refused);
        reply_error(d, req, "forbidden", msg_get_int(msg, "id", 0),
                    refused);
        json_object_put(msg);
        return;
    }
    switch (type) {
    case MSG_POLL:
        if (!hv) {
            reply_error(d, req, "forbidden", msg_get_int(msg, "id", 0),
                        "a poll names its hypervisor");
            break;
        }
        hv_poll(&d->hvs, hv, req, msg);
        break;

    case MSG_RECHECK:
        if (!hv) {
            reply_error(d, req, "forbidden", msg_get_int(msg, "id", 0),
                        "a recheck names its hypervisor");
            break;
        }
        recheck(d, req, msg, hv);
        break;

    case MSG_VM_RELEASE:
        if (uuid && hv) {
            struct vm_state *vm = strmap_find(&d->vms, uuid);
            if (vm && vm->hypervisor && !strcmp(vm->hypervisor, hv->name)) {
                free(vm->hypervisor);
                vm->hypervisor = NULL;
                LOG_INFO("vm=%s released by hypervisor %s", uuid, hv->name);
            }
        }
        reply_json(d->decide, req, ack_create());
        break;

    case MSG_DECIDE: {
        if (!uuid) {
            reply_error(d, req, "unknown_vm", msg_get_int(msg, "id", 0),
                        "decide.vm: missing (appfw-switchd stamps the VM)");
            break;
        }
        struct vm_state *vm = vm_get(d, uuid);
        if (!vm_take_token(d, vm)) {
            vm->rate_limited++;
            LOG_WARN_RL(&vm->rl, "rate limited vm=%s rate=%d/s", uuid,
                        d->cfg.vm_rate);
            reply_error(d, req, "rate_limited", msg_get_int(msg, "id", 0),
                        "too many decisions from this VM");
        } else if (vm->n >= (size_t) d->cfg.vm_queue) {
            vm->overloaded++;
            reply_error(d, req, "overloaded", msg_get_int(msg, "id", 0),
                        "this VM's decision queue is full");
        } else {
            vm_enqueue(d, vm, req, msg);
        }
        break;
    }

    case MSG_HELLO: {
        int version;
        char *verr = msg_hello_negotiate(msg, MSG_VERSION_MIN,
                                         MSG_VERSION_MAX, &version);
        if (verr) {
            reply_error(d, req, "version", 0, verr);
            free(verr);
            break;
        }
        reply_json(d->decide, req,
                   msg_hello_create("secd", "appfw-secd"));
        break;
    }

    case MSG_NAMING:
        if (uuid) {
            struct vm_state *vm = vm_get(d, uuid);
            vm_seen(d, vm, msg);
            naming_take(d, vm, msg);
        }
        reply_json(d->decide, req, ack_create());
        break;

    case MSG_STATS: {
        struct json_object *flows = msg_get_array(msg, "flows");
        size_t n = msg_array_length(flows);
        /* A VM's statistics share its decisions' tokens, one a flow, so
         * a VM that floods them slows only itself. */
        struct vm_state *sv = uuid ? vm_get(d, uuid) : NULL;
        if (sv && !vm_take_tokens(d, sv, 1.0 + n)) {
            sv->rate_limited++;
            LOG_WARN_RL(&sv->rl, "rate limited stats vm=%s flows=%zu", uuid,
                        n);
            reply_error(d, req, "rate_limited", 0,
                        "too many statistics from this VM");
            break;
        }
        stats_from_agent(d, msg, uuid);
        stats_from_datapath(d, msg, uuid);
    }
        /* fall through */
    case MSG_FLOW_OPEN:
    case MSG_FLOW_CLOSE:
    case MSG_HEARTBEAT: {
        if (uuid) {
            vm_seen(d, vm_get(d, uuid), msg);
        }
        reply_json(d->decide, req, ack_create());
        break;
    }

    case MSG_VERDICT:
    case MSG_POLICY_PUSH:
    case MSG_ERROR:
    case MSG_FLOW_INSTALL:
    case MSG_ACK:
    case MSG_N_TYPES:
    default:
        reply_error(d, req, "bad_message", msg_get_int(msg, "id", 0),
                    "appfw-secd does not take this message type here");
        break;
    }
    json_object_put(msg);
}

/* Serves one queued decide of 'vm'. */
static void
serve_one(struct secd *d, struct vm_state *vm)
{
    struct rpc_request *req = vm->queue[vm->head];
    struct json_object *msg = vm->msgs[vm->head];
    vm->head = (vm->head + 1) % d->cfg.vm_queue;
    vm->n--;
    vm->decisions++;

    vm_seen(d, vm, msg);
    decide(d, req, msg);
    json_object_put(msg);
}

/* Serves one decide from each VM with queued decides, round-robin, up to
 * 'budget' in all.  Returns how many. */
static int
serve_round(struct secd *d, int budget)
{
    int served = 0;
    size_t n = d->n_ready;
    for (size_t i = 0; i < n && served < budget; i++) {
        serve_one(d, d->ready[i]);
        served++;
    }
    size_t k = 0;
    for (size_t i = 0; i < d->n_ready; i++) {
        if (d->ready[i]->n) {
            d->ready[k++] = d->ready[i];
        } else {
            d->ready[i]->scheduled = false;
        }
    }
    d->n_ready = k;
    return served;
}

/* Lifecycle. */

static void
publish_naming(struct json_object *event, void *d)
{
    secd_publish(d, event);
}

char *
secd_create(const struct secd_config *cfg, struct secd **dp)
{
    *dp = NULL;
    struct secd *d = xcalloc(1, sizeof *d);
    d->cfg = *cfg;
    const char **strs[] = {
        &d->cfg.db, &d->cfg.appid_db, &d->cfg.decide_url,
        &d->cfg.console_url, &d->cfg.bootstrap_token_sha256,
    };
    for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
        d->strings[i] = xstrdup(*strs[i] ? *strs[i] : "");
        *strs[i] = d->strings[i];
    }
    strmap_init(&d->vms);
    hv_table_init(&d->hvs, NULL, cfg->poll_hold_ms);
    /* A restarted secd's revision differs from its last run's: each
     * hypervisor's next poll sees it, and rechecks what it holds. */
    d->revision = time_wall_ms();
    hv_set_revision(&d->hvs, d->revision, 0);
    strmap_init(&d->app_names);
    strmap_init(&d->rdns);
    d->held_tail = &d->held;
    d->started_ms = time_mono_ms();
    d->quota = quota_create();

    char *error = store_open(d->cfg.db, &d->store);
    if (!error && d->cfg.durable_decisions
        && store_set_synchronous_full(d->store, true)) {
        error = xstrdup(store_last_error(d->store));
    }
    if (!error) {
        error = resolver_create(&d->resolver);
    }
    if (!error) {
        d->naming = naming_create(d->store, d->cfg.naming_stale_s,
                                  publish_naming, d);
        d->sites = sites_create(d->store, d->resolver,
                                d->cfg.site_resolve_s);
        if (store_rdns_load(d->store, RDNS_MAX, load_rdns, d)) {
            LOG_WARN("could not load host names: %s",
                     store_last_error(d->store));
        }
    }
    if (!error) {
        error = appid_open(d->cfg.appid_db,
                           APPID_OPEN_CREATE | APPID_OPEN_PRELOAD, &d->appid);
    }
    if (!error) {
        error = rpc_server_create(d->cfg.decide_url, d->cfg.contexts, 0600,
                                  &d->decide);
    }
    if (!error) {
        d->hvs.server = d->decide;
        if (hv_table_load(&d->hvs, d->store)) {
            error = xasprintf("loading hypervisors: %s",
                              store_last_error(d->store));
        }
    }
    if (!error) {
        error = rpc_server_create(d->cfg.console_url, CONSOLE_CONTEXTS,
                                  d->cfg.console_mode, &d->console);
    }
    if (!error) {
        d->events = events_create(d->console);
    }
    if (error) {
        secd_destroy(d);
        return error;
    }

    struct appid_stats as;
    if (!appid_stats(d->appid, &as)) {
        LOG_INFO("signature database %s: %lld signatures, %lld patterns",
                 d->cfg.appid_db, (long long) as.signatures,
                 (long long) as.patterns);
        if (!as.signatures) {
            LOG_WARN("the signature database is empty: every application "
                     "is unknown (import one with 'appid import-dpkg')");
        }
    }
    secd_reload(d);
    if (!d->policy) {
        /* No policy yet: the empty policy denies everything. */
        error = policy_compile("{}", 2, &d->policy);
        if (error) {
            abort();
        }
        LOG_WARN("no policy applied yet: denying every decision until "
                 "'appfwctl policy apply'");
        sites_sync(d->sites, d->policy);
    }
    d->next_flush_ms = time_mono_ms() + d->cfg.flush_ms;
    d->next_prune_ms = time_mono_ms() + PRUNE_INTERVAL_MS;
    *dp = d;
    return NULL;
}

static void
free_held(struct held_verdict *h)
{
    while (h) {
        struct held_verdict *next = h->next;
        free(h->verdict_json);
        free(h);
        h = next;
    }
}

void
secd_destroy(struct secd *d)
{
    if (!d) {
        return;
    }
    /* Everything durable first: if the nng teardown below stalls, nothing
     * is lost (main.c's watchdog ends the process then). */
    if (d->naming) {
        naming_run(d, true);
    }
    if (d->store && store_flush(d->store)) {
        LOG_ERR("final flush failed: %s", store_last_error(d->store));
    }
    resolver_destroy(d->resolver);
    sites_destroy(d->sites);
    d->sites = NULL;
    naming_destroy(d->naming);
    d->naming = NULL;
    store_close(d->store);
    appid_close(d->appid);
    d->store = NULL;
    d->appid = NULL;

    hv_table_destroy(&d->hvs);
    rpc_server_destroy(d->decide);
    events_destroy(d->events);
    d->events = NULL;
    rpc_server_destroy(d->console);
    strmap_destroy(&d->vms, vm_free);
    strmap_destroy(&d->app_names, free);
    free_held(d->held);
    strmap_destroy(&d->rdns, rdns_free);
    free(d->ready);
    policy_unref(d->policy);
    quota_destroy(d->quota);
    for (size_t i = 0; i < ARRAY_SIZE(d->strings); i++) {
        free(d->strings[i]);
    }
    free(d);
}

/* The resolver: site names due for a lookup, and the answers (sites'
 * addresses, host names of destinations).  A site whose addresses moved
 * changes decisions as a policy change does: one revision for the batch. */
static void
run_resolver(struct secd *d)
{
    sites_run(d->sites, time_wall_ms());
    struct resolver_answer a;
    bool moved = false;
    for (int i = 0; i < 256 && resolver_next(d->resolver, &a); i++) {
        if (!a.reverse) {
            moved |= sites_answer(d->sites, a.name, a.addrs, a.n_addrs,
                                  a.error, time_wall_ms());
        } else {
            char text[INET6_ADDRSTRLEN];
            resolver_addr_text(&a.addr, text);
            rdns_put(d, text, a.name, time_wall_ms())->asked = false;
            if (*a.name && store_rdns_put(d->store, text, a.name,
                                          time_wall_ms())) {
                static struct log_rl rl = LOG_RL_INIT(6, 3);
                LOG_WARN_RL(&rl, "could not save a host name: %s",
                            store_last_error(d->store));
            }
        }
        resolver_answer_clear(&a);
    }
    if (moved) {
        policy_changed(d, "a site's addresses changed");
    }
}

void
secd_run(struct secd *d)
{
    /* Admission and service alternate in small batches: a VM's admitted
     * decide never waits for more than RECV_BATCH other arrivals (a
     * flooder's, say) to be read and answered. */
    struct rpc_request *req;
    int received = 0, served = 0;
    for (;;) {
        int got = 0;
        while (got < RECV_BATCH && received < RECV_BUDGET
               && (req = rpc_server_next(d->decide))) {
            handle_switchd(d, req);
            got++;
            received++;
        }
        int before = served;
        served += serve_round(d, DECIDE_BUDGET - served);
        if (!got && served == before) {
            break;
        }
        if (received >= RECV_BUDGET && served >= DECIDE_BUDGET) {
            break;
        }
    }

    hv_run(&d->hvs);

    /* This pass's audit rows on disk first, if so configured. */
    if (d->cfg.durable_decisions) {
        commit_decisions(d);
    }

    for (int i = 0; i < CONSOLE_BUDGET && (req = rpc_server_next(d->console));
         i++) {
        console_handle(d, req);
    }
    events_run(d->events);

    run_resolver(d);
    naming_run(d, false);

    int64_t now = time_mono_ms();
    if (now >= d->next_flush_ms
        || store_audit_queued(d->store) >= FLUSH_ROWS) {
        if (store_flush(d->store)) {
            static struct log_rl rl = LOG_RL_INIT(6, 3);
            LOG_ERR_RL(&rl, "flush failed (will retry): %s",
                       store_last_error(d->store));
        }
        /* The policy's log-load interval, if it gives one. */
        int every = d->policy ? policy_system(d->policy)->log_load_interval
                              : 0;
        d->next_flush_ms = now + (every ? every * 1000LL : d->cfg.flush_ms);
    }
    forget_idle_vms(d, now);
    if (now >= d->next_prune_ms) {
        store_audit_prune(d->store, d->cfg.audit_max_rows);
        store_naming_events_prune(d->store, NAMING_EVENTS_KEPT);
        if (d->cfg.stats_keep_days > 0) {
            store_stats_prune(d->store, time_wall_ms()
                              - d->cfg.stats_keep_days * 86400000LL);
        }
        d->next_prune_ms = now + PRUNE_INTERVAL_MS;
    }
}

void
secd_wait(struct secd *d)
{
    loop_fd_wait(resolver_fd(d->resolver), POLLIN);
    if (d->n_naming_held) {
        loop_timer_wait(NAMING_MIN_MS / 4);
    }
    if (hv_next_ms(&d->hvs) != INT64_MAX) {
        loop_timer_wait(hv_next_ms(&d->hvs));
    }
    int64_t next_site = sites_next_ms(d->sites);
    if (next_site != INT64_MAX) {
        loop_timer_wait(next_site - time_wall_ms());
    }
    loop_fd_wait(rpc_server_fd(d->decide), POLLIN);
    loop_fd_wait(rpc_server_fd(d->console), POLLIN);
    events_wait(d->events);
    if (d->n_ready) {
        loop_immediate_wake();
    }
    loop_timer_wait_until(d->next_flush_ms);
}
