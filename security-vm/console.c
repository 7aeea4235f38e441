/* appfw-secd's console endpoint: the commands of appfwctl.
 *
 * A request is a JSON object {"cmd": "policy.apply", ...}; the reply is
 * {"ok": true, ...} or {"ok": false, "error": "..."}.  Who may connect is
 * decided by the console socket's file permissions (and, remotely, TLS);
 * who may do what by the account behind the request (admin.h), which is
 * also the author of every change. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appid/appid.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/util.h"
#include "policy.h"
#include "common/rpc.h"
#include "admin.h"
#include "events.h"
#include "secd-private.h"
#include "store.h"

LOG_MODULE(console);

struct json_object *
console_ok_reply(void)
{
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "ok", json_object_new_boolean(true));
    return r;
}

struct json_object *
console_error_reply(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char *text = xvasprintf(format, args);
    va_end(args);
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "ok", json_object_new_boolean(false));
    json_object_object_add(r, "error", json_object_new_string(text));
    free(text);
    return r;
}

/* Policies. */

static struct json_object *
cmd_policy_validate(struct secd *d, const struct json_object *rq)
{
    (void) d;
    const char *text = msg_get_string(rq, "text", NULL);
    if (!text) {
        return console_error_reply("policy.validate: \"text\" missing");
    }
    struct policy *p;
    char *error = policy_compile(text, strlen(text), &p);
    if (error) {
        struct json_object *r = console_error_reply("%s", error);
        free(error);
        return r;
    }
    struct json_object *r = console_ok_reply();
    msg_put_int(r, "rules", (int64_t) policy_n_rules(p));
    policy_unref(p);
    return r;
}

/* Activates 'text' and answers with the new version, or the error. */
static struct json_object *
activate_reply(struct secd *d, const char *text, const char *author,
               const char *comment)
{
    int64_t version;
    char *error = secd_activate(d, text, author, comment, &version);
    if (error) {
        struct json_object *r = console_error_reply("%s", error);
        free(error);
        return r;
    }
    struct json_object *r = console_ok_reply();
    msg_put_int(r, "version", version);
    return r;
}

static struct json_object *
cmd_policy_apply(struct secd *d, const struct json_object *rq,
                 const char *author)
{
    const char *text = msg_get_string(rq, "text", NULL);
    if (!text) {
        return console_error_reply("policy.apply: \"text\" missing");
    }
    return activate_reply(d, text, author, msg_get_string(rq, "comment", ""));
}

static struct json_object *
policy_to_json(const struct store_policy *p, bool with_text)
{
    struct json_object *o = json_object_new_object();
    msg_put_int(o, "version", p->version);
    msg_put_string(o, "author", p->author);
    msg_put_int(o, "time", p->time);
    msg_put_string(o, "comment", p->comment);
    json_object_object_add(o, "active", json_object_new_boolean(p->active));
    if (with_text) {
        msg_put_string(o, "text", p->text);
    }
    return o;
}

static int
get_version(struct secd *d, int64_t version, struct store_policy *p)
{
    return version > 0 ? store_policy_get(d->store, version, p)
                       : store_policy_active(d->store, p);
}

static struct json_object *
cmd_policy_show(struct secd *d, const struct json_object *rq)
{
    struct store_policy p;
    if (get_version(d, msg_get_int(rq, "version", 0), &p)) {
        return console_error_reply("%s", store_last_error(d->store));
    }
    struct json_object *r = console_ok_reply();
    json_object_object_add(r, "policy", policy_to_json(&p, true));
    store_policy_clear(&p);
    return r;
}

static void
add_history(const struct store_policy *p, void *aux)
{
    json_object_array_add(aux, policy_to_json(p, false));
}

static struct json_object *
cmd_policy_history(struct secd *d, const struct json_object *rq)
{
    struct json_object *list = json_object_new_array();
    if (store_policy_history(d->store, msg_get_int(rq, "limit", 20),
                             add_history, list)) {
        json_object_put(list);
        return console_error_reply("%s", store_last_error(d->store));
    }
    struct json_object *r = console_ok_reply();
    json_object_object_add(r, "versions", list);
    return r;
}

/* Rule-level differences between two policy texts. */
static struct json_object *
diff_policies(const char *a_text, const char *b_text)
{
    struct json_object *a = json_tokener_parse(a_text);
    struct json_object *b = json_tokener_parse(b_text);
    struct json_object *changes = json_object_new_array();
    char line[512];

    json_object_object_foreach(b, key, bval) {
        if (strcmp(key, "rules")) {
            struct json_object *aval = msg_get(a, key);
            if (!aval || !json_object_equal(aval, bval)) {
                snprintf(line, sizeof line, "%s %s", aval ? "~" : "+", key);
                json_object_array_add(changes, json_object_new_string(line));
            }
        }
    }
    json_object_object_foreach(a, key2, aval2) {
        (void) aval2;
        if (strcmp(key2, "rules") && !msg_get(b, key2)) {
            snprintf(line, sizeof line, "- %s", key2);
            json_object_array_add(changes, json_object_new_string(line));
        }
    }

    struct json_object *ar = msg_get(a, "rules"), *br = msg_get(b, "rules");
    size_t na = ar ? json_object_array_length(ar) : 0;
    size_t nb = br ? json_object_array_length(br) : 0;
    for (size_t i = 0; i < nb; i++) {
        struct json_object *rb = json_object_array_get_idx(br, i);
        const char *id = msg_get_string(rb, "id", "?");
        struct json_object *match = NULL;
        for (size_t j = 0; j < na && !match; j++) {
            struct json_object *ra = json_object_array_get_idx(ar, j);
            if (!strcmp(msg_get_string(ra, "id", ""), id)) {
                match = ra;
            }
        }
        if (!match || !json_object_equal(match, rb)) {
            snprintf(line, sizeof line, "%s rule %.64s: %s", match ? "~" : "+",
                     id, json_object_to_json_string_ext(
                         rb, JSON_C_TO_STRING_PLAIN));
            json_object_array_add(changes, json_object_new_string(line));
        }
    }
    for (size_t j = 0; j < na; j++) {
        struct json_object *ra = json_object_array_get_idx(ar, j);
        const char *id = msg_get_string(ra, "id", "?");
        bool found = false;
        for (size_t i = 0; i < nb && !found; i++) {
            found = !strcmp(msg_get_string(json_object_array_get_idx(br, i),
                                           "id", ""), id);
        }
        if (!found) {
            snprintf(line, sizeof line, "- rule %.64s", id);
            json_object_array_add(changes, json_object_new_string(line));
        }
    }
    json_object_put(a);
    json_object_put(b);
    return changes;
}

static struct json_object *
cmd_policy_diff(struct secd *d, const struct json_object *rq)
{
    struct store_policy a, b;
    if (get_version(d, msg_get_int(rq, "from", 0), &a)) {
        return console_error_reply("%s", store_last_error(d->store));
    }
    if (get_version(d, msg_get_int(rq, "to", 0), &b)) {
        store_policy_clear(&a);
        return console_error_reply("%s", store_last_error(d->store));
    }
    struct json_object *r = console_ok_reply();
    msg_put_int(r, "from", a.version);
    msg_put_int(r, "to", b.version);
    json_object_object_add(r, "changes", diff_policies(a.text, b.text));
    store_policy_clear(&a);
    store_policy_clear(&b);
    return r;
}

static struct json_object *
cmd_policy_rollback(struct secd *d, const struct json_object *rq,
                    const char *author)
{
    int64_t target = msg_get_int(rq, "version", 0);
    struct store_policy p;
    if (target <= 0 || store_policy_get(d->store, target, &p)) {
        return console_error_reply("policy.rollback: %s", target <= 0
                                   ? "give the version to go back to"
                                   : store_last_error(d->store));
    }
    char *comment = xasprintf("rollback to version %lld%s%s",
                              (long long) target,
                              *msg_get_string(rq, "comment", "") ? ": " : "",
                              msg_get_string(rq, "comment", ""));
    struct json_object *r = activate_reply(d, p.text, author, comment);
    free(comment);
    store_policy_clear(&p);
    return r;
}

/* Decisions, statistics, VMs, appid, health. */

static void
add_decision(const struct store_audit *a, void *aux)
{
    struct json_object *o = json_object_new_object();
    msg_put_int(o, "time_ms", a->time_ms);
    msg_put_string(o, "vm", *a->vm_name ? a->vm_name : a->vm_uuid);
    msg_put_string(o, "user", a->user);
    msg_put_string(o, "app", *a->product ? a->product : a->app_path);
    msg_put_string(o, "path", a->app_path);
    msg_put_string(o, "event", a->event);
    msg_put_string(o, "protocol", a->protocol);
    char remote[80];
    snprintf(remote, sizeof remote, "%s:%d", a->remote, a->remote_port);
    msg_put_string(o, "remote", remote);
    msg_put_string(o, "verdict", a->allow ? "allow" : "deny");
    msg_put_string(o, "rule", a->rule);
    msg_put_string(o, "reason", a->reason);
    msg_put_int(o, "policy_version", a->policy_version);
    json_object_array_add(aux, o);
}

static struct json_object *
cmd_decisions_query(struct secd *d, const struct json_object *rq)
{
    store_flush(d->store);      /* So the newest decisions are there. */
    struct store_audit_filter f = {
        .vm = msg_get_string(rq, "vm", NULL),
        .user = msg_get_string(rq, "user", NULL),
        .app = msg_get_string(rq, "app", NULL),
        .verdict = msg_get_string(rq, "verdict", NULL),
    };
    struct json_object *list = json_object_new_array();
    if (store_audit_query(d->store, &f, msg_get_int(rq, "limit", 50),
                          add_decision, list)) {
        json_object_put(list);
        return console_error_reply("%s", store_last_error(d->store));
    }
    struct json_object *r = console_ok_reply();
    json_object_object_add(r, "decisions", list);
    return r;
}

static void
add_top(const char *key, const struct store_counters *c, void *aux)
{
    struct json_object *o = json_object_new_object();
    msg_put_string(o, "key", key);
    msg_put_int(o, "connections", c->connections);
    msg_put_int(o, "denials", c->denials);
    msg_put_int(o, "bytes_in", c->bytes_in);
    msg_put_int(o, "bytes_out", c->bytes_out);
    msg_put_int(o, "packets_in", c->packets_in);
    msg_put_int(o, "packets_out", c->packets_out);
    json_object_array_add(aux, o);
}

/* Totals by site: each destination under the site (of the policy's site
 * lists) it is an address of, else its host name, else the address. */
struct site_totals {
    struct secd *d;
    struct strmap sums;         /* Label -> struct store_counters. */
};

static void
add_site(const char *dest, const struct store_counters *c, void *aux)
{
    struct site_totals *t = aux;
    const char *label = *dest ? secd_site_of(t->d, dest) : "";
    struct store_counters *sum = strmap_find(&t->sums, label);
    if (!sum) {
        sum = xcalloc(1, sizeof *sum);
        strmap_add(&t->sums, label, sum);
    }
    store_counters_add(sum, c);
}

struct site_row {
    const char *label;
    const struct store_counters *c;
    int64_t order;
};

static int
compare_site_rows(const void *a_, const void *b_)
{
    const struct site_row *a = a_, *b = b_;
    return a->order != b->order ? (a->order < b->order ? 1 : -1)
                                : strcmp(a->label, b->label);
}

static struct json_object *
stats_by_site(struct secd *d, const char *order, int64_t from_ms,
              int64_t to_ms, size_t limit)
{
    struct site_totals t = { .d = d };
    strmap_init(&t.sums);
    if (store_stats_top(d->store, "dest", order, from_ms, to_ms, SIZE_MAX / 2,
                        add_site, &t)) {
        strmap_destroy(&t.sums, free);
        return console_error_reply("%s", store_last_error(d->store));
    }
    size_t n = 0;
    struct site_row *rows = xcalloc(t.sums.n + 1, sizeof *rows);
    for (size_t i = 0; (i = strmap_next(&t.sums, i)) != SIZE_MAX; i++) {
        const struct store_counters *c = t.sums.nodes[i].data;
        rows[n++] = (struct site_row) {
            .label = t.sums.nodes[i].key, .c = c,
            .order = !strcmp(order, "bytes") ? sat_add64(c->bytes_in,
                                                         c->bytes_out)
                     : !strcmp(order, "denials") ? c->denials
                     : c->connections,
        };
    }
    qsort(rows, n, sizeof *rows, compare_site_rows);
    struct json_object *list = json_object_new_array();
    for (size_t i = 0; i < n && i < limit; i++) {
        add_top(rows[i].label, rows[i].c, list);
    }
    free(rows);
    strmap_destroy(&t.sums, free);
    struct json_object *r = console_ok_reply();
    json_object_object_add(r, "top", list);
    return r;
}

static struct json_object *
cmd_stats_top(struct secd *d, const struct json_object *rq)
{
    store_flush(d->store);
    /* A window: "from_ms" (default: "since_s" ago) to "to_ms" (0: now). */
    int64_t since_s = msg_get_int(rq, "since_s", 3600);
    int64_t from_ms = msg_get_int(rq, "from_ms",
                                  time_wall_ms() - since_s * 1000);
    const char *by = msg_get_string(rq, "by", "app");
    int64_t limit = msg_get_int(rq, "limit", 10);
    if (!strcmp(by, "site")) {
        return stats_by_site(d, msg_get_string(rq, "order", "connections"),
                             from_ms, msg_get_int(rq, "to_ms", 0),
                             limit > 0 ? (size_t) limit : 0);
    }
    struct json_object *list = json_object_new_array();
    if (store_stats_top(d->store, by,
                        msg_get_string(rq, "order", "connections"),
                        from_ms, msg_get_int(rq, "to_ms", 0),
                        msg_get_int(rq, "limit", 10), add_top, list)) {
        json_object_put(list);
        return console_error_reply("%s", store_last_error(d->store));
    }
    struct json_object *r = console_ok_reply();
    json_object_object_add(r, "top", list);
    return r;
}

struct vm_list_ctx {
    struct secd *d;
    const char *only;
    struct json_object *list;
};

static void
add_vm(const struct store_vm *vm, void *aux)
{
    struct vm_list_ctx *c = aux;
    if (c->only && strcmp(c->only, vm->uuid) && strcmp(c->only, vm->name)) {
        return;
    }
    struct json_object *o = json_object_new_object();
    msg_put_string(o, "uuid", vm->uuid);
    msg_put_string(o, "name", vm->name);
    msg_put_int(o, "ofport", vm->ofport);
    msg_put_string(o, "mac", vm->mac);
    msg_put_int(o, "first_seen", vm->first_seen);
    msg_put_int(o, "last_seen", vm->last_seen);
    msg_put_int(o, "audited_decisions", vm->decisions);
    msg_put_int(o, "audited_denials", vm->denials);
    const struct vm_state *st = strmap_find(&c->d->vms, vm->uuid);
    msg_put_int(o, "rate_limited", st ? (int64_t) st->rate_limited : 0);
    msg_put_int(o, "queued", st ? (int64_t) st->n : 0);
    msg_put_string(o, "hypervisor", st && st->hypervisor ? st->hypervisor
                                                         : "");
    json_object_array_add(c->list, o);
}

static struct json_object *
cmd_vm_list(struct secd *d, const struct json_object *rq)
{
    store_flush(d->store);
    struct vm_list_ctx c = {
        .d = d, .only = msg_get_string(rq, "vm", NULL),
        .list = json_object_new_array(),
    };
    if (store_vm_list(d->store, add_vm, &c)) {
        json_object_put(c.list);
        return console_error_reply("%s", store_last_error(d->store));
    }
    if (c.only && !json_object_array_length(c.list)) {
        json_object_put(c.list);
        return console_error_reply("no vm \"%s\"", c.only);
    }
    struct json_object *r = console_ok_reply();
    json_object_object_add(r, "vms", c.list);
    return r;
}

/* Hypervisors: appfwctl hypervisor list|show|add|remove. */

static struct json_object *
hypervisor_json(const struct secd *d, const struct hypervisor *hv)
{
    struct json_object *o = json_object_new_object();
    msg_put_string(o, "name", hv->name);
    json_object_object_add(o, "registered",
                           json_object_new_boolean(hv->registered));
    int64_t now = time_mono_ms();
    /* Connected: polling now, or it polled within a hold and a second. */
    bool connected = hv->poll || (hv->seen_ms && now - hv->seen_ms
                                  <= d->cfg.poll_hold_ms + 1000);
    json_object_object_add(o, "connected",
                           json_object_new_boolean(connected));
    msg_put_int(o, "seen_ms_ago", hv->seen_ms ? now - hv->seen_ms : -1);
    struct json_object *vms = json_object_new_array();
    for (size_t i = 0; (i = strmap_next(&d->vms, i)) != SIZE_MAX; i++) {
        const struct vm_state *vm = d->vms.nodes[i].data;
        if (vm->hypervisor && !strcmp(vm->hypervisor, hv->name)) {
            json_object_array_add(vms, json_object_new_string(vm->uuid));
        }
    }
    msg_put_int(o, "n_vms", (int64_t) json_object_array_length(vms));
    json_object_object_add(o, "vms", vms);
    msg_put_int(o, "flows", hv->flows);
    msg_put_string(o, "software", hv->software ? hv->software : "");
    msg_put_int(o, "polls", (int64_t) hv->polls);
    msg_put_int(o, "sent", (int64_t) hv->sent);
    msg_put_int(o, "queued", (int64_t) hv->n);
    msg_put_int(o, "dropped", (int64_t) hv->dropped);
    msg_put_int(o, "refused", (int64_t) hv->refused);
    return o;
}

static struct json_object *
cmd_hypervisor(struct secd *d, const char *cmd, const struct json_object *rq,
               const char *account)
{
    const char *name = msg_get_string(rq, "name", NULL);
    if (!strcmp(cmd, "hypervisor.list")) {
        struct json_object *list = json_object_new_array();
        for (size_t i = 0; (i = strmap_next(&d->hvs.by_name, i)) != SIZE_MAX;
             i++) {
            json_object_array_add(list,
                                  hypervisor_json(d,
                                                  d->hvs.by_name.nodes[i].data));
        }
        struct json_object *r = console_ok_reply();
        json_object_object_add(r, "hypervisors", list);
        return r;
    }
    if (!name) {
        return console_error_reply("%s needs \"name\"", cmd);
    }
    if (!strcmp(cmd, "hypervisor.show")) {
        const struct hypervisor *hv = strmap_find(&d->hvs.by_name, name);
        if (!hv) {
            return console_error_reply("no hypervisor \"%.64s\"", name);
        }
        struct json_object *r = console_ok_reply();
        json_object_object_add(r, "hypervisor", hypervisor_json(d, hv));
        return r;
    }
    char *error;
    char token[HV_TOKEN_HEX + 1] = "";
    if (!strcmp(cmd, "hypervisor.add")) {
        error = hv_add(&d->hvs, d->store, name, account, token);
    } else {
        error = hv_remove(&d->hvs, d->store, name);
        for (size_t i = 0; !error && (i = strmap_next(&d->vms, i)) != SIZE_MAX;
             i++) {
            struct vm_state *vm = d->vms.nodes[i].data;
            if (vm->hypervisor && !strcmp(vm->hypervisor, name)) {
                free(vm->hypervisor);
                vm->hypervisor = NULL;
            }
        }
    }
    if (error) {
        struct json_object *r = console_error_reply("%s", error);
        free(error);
        return r;
    }
    store_change_add(d->store, account, cmd, name);
    LOG_INFO("%s %s by %s", cmd, name, account ? account : "-");
    struct json_object *r = console_ok_reply();
    if (*token) {
        msg_put_string(r, "token", token);
    }
    return r;
}

static struct json_object *
cmd_appid_lookup(struct secd *d, const struct json_object *rq)
{
    const char *hex = msg_get_string(rq, "sha256", NULL);
    const char *path = msg_get_string(rq, "path", NULL);
    uint8_t sha[SHA256_LEN];
    if (hex && (strlen(hex) != SHA256_HEX_LEN
                || !digest_from_hex(hex, sha, SHA256_LEN))) {
        return console_error_reply("\"%.80s\" is not a SHA-256 hash", hex);
    }
    if (!hex && !path) {
        return console_error_reply("appid.lookup: give \"sha256\" or "
                                   "\"path\"");
    }
    struct appid_result a;
    if (appid_lookup(d->appid, hex ? sha : NULL, path, 0, &a)) {
        return console_error_reply("%s", appid_last_error(d->appid));
    }
    struct json_object *r = console_ok_reply();
    msg_put_string(r, "match", appid_match_name(a.match));
    msg_put_int(r, "confidence", a.confidence);
    msg_put_string(r, "product", a.product);
    msg_put_string(r, "vendor", a.vendor);
    msg_put_string(r, "version", a.version);
    msg_put_string(r, "category", a.category);
    msg_put_string(r, "trust", appid_trust_name(a.trust));
    msg_put_string(r, "threat", appid_threat_name(a.threat));
    msg_put_string(r, "reason", a.reason);
    return r;
}

static void
add_chain_entry(const char *scope, const char *rule, bool allow, void *list)
{
    struct json_object *o = json_object_new_object();
    msg_put_string(o, "scope", scope);
    if (rule) {
        msg_put_string(o, "rule", rule);
        msg_put_string(o, "action", allow ? "allow" : "deny");
    }
    json_object_array_add(list, o);
}

/* Which rule decides a request shaped like a decide ("request"), and the
 * chain of scopes it went through, each with the rule that matched in it:
 * how a deny from a group restricts its members. */
static struct json_object *
cmd_explain(struct secd *d, const struct json_object *rq)
{
    struct json_object *msg = msg_get(rq, "request");
    if (!json_object_is_type(msg, json_type_object)) {
        return console_error_reply("explain: \"request\" missing");
    }
    if (!d->policy) {
        return console_error_reply("explain: no policy is active");
    }
    struct appid_result app;
    struct policy_request q;
    uint8_t sha[SHA256_LEN];
    secd_request_from_msg(d, msg, &app, &q, sha);
    struct policy_verdict v;
    policy_decide(d->policy, &q, &v);

    struct json_object *r = console_ok_reply();
    msg_put_string(r, "verdict", v.allow ? "allow" : "deny");
    msg_put_string(r, "rule", v.rule);
    msg_put_string(r, "reason", v.reason);
    if (v.restricted_by) {
        msg_put_string(r, "restricted_by", v.restricted_by);
    }
    if (v.monitored) {
        json_object_object_add(r, "monitored",
                               json_object_new_boolean(true));
    }
    msg_put_string(r, "vm_group", v.vm_group);
    msg_put_string(r, "application", *app.product ? app.product
                                                  : q.app_path);
    msg_put_string(r, "category", app.category);
    struct json_object *chain = json_object_new_array();
    policy_explain_last(d->policy, add_chain_entry, chain);
    json_object_object_add(r, "chain", chain);
    return r;
}

static struct json_object *
cmd_health(struct secd *d)
{
    struct json_object *r = console_ok_reply();
    msg_put_int(r, "uptime_s", (time_mono_ms() - d->started_ms) / 1000);
    msg_put_int(r, "policy_version", d->policy_version);
    msg_put_int(r, "rules", (int64_t) policy_n_rules(d->policy));
    msg_put_int(r, "decisions", (int64_t) d->n_decisions);
    msg_put_int(r, "allowed", (int64_t) d->n_allowed);
    msg_put_int(r, "denied", (int64_t) d->n_denied);
    msg_put_int(r, "errors", (int64_t) d->n_errors);
    msg_put_int(r, "vms", (int64_t) d->vms.n);
    msg_put_int(r, "audit_queued", (int64_t) store_audit_queued(d->store));
    struct store_queue_stats qs;
    store_queue_stats(d->store, &qs);
    msg_put_int(r, "queue_bytes", (int64_t) qs.bytes);
    msg_put_int(r, "audit_dropped", (int64_t) qs.audit_dropped);
    msg_put_int(r, "stats_dropped", (int64_t) qs.stats_dropped);
    msg_put_int(r, "stats_folded", (int64_t) qs.stats_folded);
    struct appid_stats as;
    if (!appid_stats(d->appid, &as)) {
        msg_put_int(r, "signatures", as.signatures);
    }
    msg_put_int(r, "hypervisors", (int64_t) strmap_count(&d->hvs.by_name));
    return r;
}

/* Refuses a policy change 'who' may not make. */
static char *
check_change(struct secd *d, const struct admin_who *who,
             const char *cmd, const struct json_object *rq)
{
    if (who->level >= ADMIN_SYSTEM) {
        return NULL;
    }
    struct store_policy cur, target;
    int e = store_policy_active(d->store, &cur);
    if (e && e != ENOENT) {
        return xstrdup(store_last_error(d->store));     /* Never allow. */
    }
    bool have = !e;
    char *error = NULL;
    if (!strcmp(cmd, "policy.apply")) {
        const char *text = msg_get_string(rq, "text", NULL);
        error = text ? admin_check_policy_change(who, have ? cur.text : NULL,
                                                 text) : NULL;
    } else if (!store_policy_get(d->store, msg_get_int(rq, "version", 0),
                                 &target)) {
        error = admin_check_policy_change(who, have ? cur.text : NULL,
                                          target.text);
        store_policy_clear(&target);
    } else {
        error = xstrdup(store_last_error(d->store));
    }
    if (have) {
        store_policy_clear(&cur);
    }
    return error;
}

void
console_handle(struct secd *d, struct rpc_request *req)
{
    struct json_object *rq = json_tokener_parse(req->data);
    struct json_object *reply = NULL;
    const char *cmd = json_object_is_type(rq, json_type_object)
                      ? msg_get_string(rq, "cmd", NULL) : NULL;
    struct admin_who who;
    char *refused = NULL;

    if (!cmd) {
        reply = console_error_reply("a console request is a JSON object with "
                                    "\"cmd\"");
        who = (struct admin_who) { .name = NULL };
    } else if ((refused = admin_authenticate(d, req, rq, &who))
               || (refused = admin_may(&who, cmd))
               || ((!strcmp(cmd, "policy.apply")
                    || !strcmp(cmd, "policy.rollback"))
                   && (refused = check_change(d, &who, cmd, rq)))) {
        LOG_WARN("console refused cmd=%.64s account=%s: %s", cmd,
                 who.name ? who.name : "-", refused);
        reply = console_error_reply("%s", refused);
        free(refused);
    } else if ((reply = admin_handle(d, &who, cmd, rq))) {
        /* account.*, system.set, protocol.*, global.*, changes.list. */
    } else if ((reply = console_naming(d, cmd, rq, who.name))) {
        /* naming.*, sites.* */
    } else if (!strcmp(cmd, "events.next")) {
        reply = events_next(d->events, req, rq);
    } else if (!strcmp(cmd, "health")) {
        reply = cmd_health(d);
    } else if (!strcmp(cmd, "policy.validate")) {
        reply = cmd_policy_validate(d, rq);
    } else if (!strcmp(cmd, "policy.apply")) {
        reply = cmd_policy_apply(d, rq, who.name);
    } else if (!strcmp(cmd, "policy.show")) {
        reply = cmd_policy_show(d, rq);
    } else if (!strcmp(cmd, "policy.history")) {
        reply = cmd_policy_history(d, rq);
    } else if (!strcmp(cmd, "policy.diff")) {
        reply = cmd_policy_diff(d, rq);
    } else if (!strcmp(cmd, "policy.rollback")) {
        reply = cmd_policy_rollback(d, rq, who.name);
    } else if (!strcmp(cmd, "decisions.query")) {
        reply = cmd_decisions_query(d, rq);
    } else if (!strcmp(cmd, "stats.top")) {
        reply = cmd_stats_top(d, rq);
    } else if (!strcmp(cmd, "vm.list") || !strcmp(cmd, "vm.show")) {
        reply = cmd_vm_list(d, rq);
    } else if (!strncmp(cmd, "hypervisor.", 11)) {
        reply = cmd_hypervisor(d, cmd, rq, who.name);
    } else if (!strcmp(cmd, "appid.lookup")) {
        reply = cmd_appid_lookup(d, rq);
    } else if (!strcmp(cmd, "explain")) {
        reply = cmd_explain(d, rq);
    } else {
        reply = console_error_reply("unknown command \"%.64s\"", cmd);
    }
    if (cmd && (!strcmp(cmd, "policy.apply")
                || !strcmp(cmd, "policy.rollback"))
        && msg_get_bool(reply, "ok", false)) {
        char *detail = xasprintf("policy version %lld",
                                 (long long) msg_get_int(reply, "version",
                                                         0));
        store_change_add(d->store, who.name, cmd, detail);
        free(detail);
    }
    LOG_DBG("console cmd=%s account=%s", cmd ? cmd : "-",
            who.name ? who.name : "-");
    admin_who_clear(&who);
    json_object_put(rq);
    if (!reply) {
        return;                 /* Held by the event stream. */
    }

    const char *text = json_object_to_json_string_ext(
        reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    rpc_request_reply(d->console, req, text, strlen(text));
    json_object_put(reply);
}
