/* The console's commands for the naming service (naming.list,
 * naming.events, naming.set, naming.unset; docs/operations.md, "Naming
 * service") and for the site lists' names (sites.list, sites.resolve;
 * docs/policy.md, "Sites"). */
#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "common/msg.h"
#include "common/util.h"
#include "naming.h"
#include "resolver.h"
#include "secd-private.h"
#include "sites.h"
#include "store.h"

static struct json_object *
addrs_json(const struct policy_addr *addrs, size_t n)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        char text[46];
        json_object_array_add(a, json_object_new_string(
                                  resolver_addr_text(&addrs[i], text)));
    }
    return a;
}

static void
add_host(const struct naming_host_info *h, void *list)
{
    struct json_object *o = json_object_new_object();
    msg_put_string(o, "uuid", h->uuid);
    msg_put_string(o, "name", h->name);
    msg_put_string(o, "user", h->user);
    msg_put_int(o, "since", h->since);
    json_object_object_add(o, "addresses",
                           addrs_json(h->addrs, h->n_addrs));
    json_object_object_add(o, "static_user",
                           json_object_new_boolean(h->static_user));
    json_object_object_add(o, "static_addresses",
                           json_object_new_boolean(h->static_addrs));
    if (h->waiting_user) {
        msg_put_string(o, "waiting_user", h->waiting_user);
    }
    json_object_array_add(list, o);
}

static void
add_event(const struct store_naming_event *e, void *list)
{
    struct json_object *o = json_object_new_object();
    msg_put_int(o, "time", e->time);
    msg_put_string(o, "vm", *e->vm_name ? e->vm_name : e->vm_uuid);
    msg_put_string(o, "vm_uuid", e->vm_uuid);
    msg_put_string(o, "event", e->event);
    msg_put_string(o, "user", e->user);
    msg_put_string(o, "address", e->address);
    msg_put_string(o, "source", e->source);
    json_object_array_add(list, o);
}

static bool
is_uuid(const char *s)
{
    if (strlen(s) != 36) {
        return false;
    }
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char) s[i])) {
            return false;
        }
    }
    return true;
}

struct find_vm {
    const char *want;
    char uuid[64], name[257];
    int found;
};

static void
match_vm(const struct store_vm *vm, void *aux)
{
    struct find_vm *f = aux;
    if (!strcasecmp(f->want, vm->uuid) || !strcmp(f->want, vm->name)) {
        snprintf(f->uuid, sizeof f->uuid, "%s", vm->uuid);
        snprintf(f->name, sizeof f->name, "%s", vm->name);
        f->found++;
    }
}

static void
match_host(const struct naming_host_info *h, void *aux)
{
    struct find_vm *f = aux;
    if (!f->found && (!strcasecmp(f->want, h->uuid)
                      || !strcmp(f->want, h->name))) {
        snprintf(f->uuid, sizeof f->uuid, "%s", h->uuid);
        snprintf(f->name, sizeof f->name, "%s", h->name);
        f->found++;
    }
}

/* "vm" of 'rq' into 'f': a VM secd has seen or the naming service knows,
 * by uuid or name, or any uuid.  Returns NULL, or the console's error
 * reply. */
static struct json_object *
resolve_vm(struct secd *d, const struct json_object *rq, struct find_vm *f)
{
    memset(f, 0, sizeof *f);
    f->want = msg_get_string(rq, "vm", NULL);
    if (!f->want || !*f->want) {
        return console_error_reply("give \"vm\" (a uuid or a name)");
    }
    store_flush(d->store);
    if (store_vm_list(d->store, match_vm, f)) {
        return console_error_reply("%s", store_last_error(d->store));
    }
    if (f->found > 1) {
        return console_error_reply("%d VMs are named \"%.64s\": give the "
                                   "uuid", f->found, f->want);
    }
    if (!f->found) {
        naming_list(d->naming, match_host, f);
    }
    if (!f->found) {
        if (!is_uuid(f->want)) {
            return console_error_reply("no vm \"%.64s\" (a VM not seen "
                                       "yet is given by uuid)", f->want);
        }
        for (int i = 0; i < 36; i++) {
            f->uuid[i] = (char) tolower((unsigned char) f->want[i]);
        }
    }
    return NULL;
}

static struct json_object *
cmd_naming_set(struct secd *d, const struct json_object *rq,
               const char *account)
{
    struct find_vm f;
    struct json_object *refused = resolve_vm(d, rq, &f);
    if (refused) {
        return refused;
    }
    const char *user = msg_get_string(rq, "user", NULL);
    struct json_object *list = msg_get(rq, "addresses");
    if (!user && !list) {
        return console_error_reply("naming.set: give \"user\" and/or "
                                   "\"addresses\"");
    }
    if (user && strlen(user) > 256) {
        return console_error_reply("naming.set: a user name is at most 256 "
                                   "bytes");
    }
    struct policy_addr addrs[NAMING_MAX_ADDRS];
    size_t n = 0;
    if (list) {
        if (!json_object_is_type(list, json_type_array)
            || json_object_array_length(list) > NAMING_MAX_ADDRS) {
            return console_error_reply("naming.set: \"addresses\" is a list "
                                       "of at most %d addresses",
                                       NAMING_MAX_ADDRS);
        }
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            const char *t = json_object_get_string(
                json_object_array_get_idx(list, i));
            if (!t || !policy_addr_parse(t, &addrs[n])) {
                return console_error_reply("naming.set: \"%.64s\" is not an "
                                           "IPv4 or IPv6 address",
                                           t ? t : "");
            }
            n++;
        }
    }
    char *error = naming_set(d->naming, f.uuid, f.name, user, list ? addrs : NULL,
                       n, account, time_wall_ms() / 1000);
    if (error) {
        struct json_object *r = console_error_reply("%s", error);
        free(error);
        return r;
    }
    char *detail = xasprintf("vm %s:%s%s%s", *f.name ? f.name : f.uuid,
                             user ? " user " : "", user ? user : "",
                             list ? " addresses set" : "");
    store_change_add(d->store, account, "naming.set", detail);
    free(detail);
    return console_ok_reply();
}

static struct json_object *
cmd_naming_unset(struct secd *d, const struct json_object *rq,
                 const char *account)
{
    struct find_vm f;
    struct json_object *refused = resolve_vm(d, rq, &f);
    if (refused) {
        return refused;
    }
    bool user = msg_get_bool(rq, "user", false);
    bool addrs = msg_get_bool(rq, "addresses", false);
    if (!user && !addrs) {
        user = addrs = true;
    }
    if (!naming_unset(d->naming, f.uuid, user, addrs, account,
                      time_wall_ms() / 1000)) {
        return console_error_reply("vm \"%.64s\" has no naming entry",
                                   f.want);
    }
    char *detail = xasprintf("vm %s:%s%s", *f.name ? f.name : f.uuid,
                             user ? " user" : "", addrs ? " addresses" : "");
    store_change_add(d->store, account, "naming.unset", detail);
    free(detail);
    return console_ok_reply();
}

static void
add_site(const char *name, const struct policy_addr *addrs, size_t n,
         int64_t resolved_ms, const char *error, void *list)
{
    struct json_object *o = json_object_new_object();
    msg_put_string(o, "name", name);
    json_object_object_add(o, "addresses", addrs_json(addrs, n));
    msg_put_int(o, "resolved_ms", resolved_ms);
    msg_put_string(o, "state", !resolved_ms ? "unresolved"
                               : error ? "stale" : "resolved");
    if (error) {
        msg_put_string(o, "error", error);
    }
    json_object_array_add(list, o);
}

struct json_object *
console_naming(struct secd *d, const char *cmd, const struct json_object *rq,
               const char *account)
{
    if (!strcmp(cmd, "sites.list")) {
        struct json_object *list = json_object_new_array();
        sites_list(d->sites, add_site, list);
        struct json_object *r = console_ok_reply();
        json_object_object_add(r, "sites", list);
        return r;
    } else if (!strcmp(cmd, "sites.resolve")) {
        sites_refresh(d->sites);
        store_change_add(d->store, account, "sites.resolve",
                         "every site name looked up again");
        return console_ok_reply();
    }
    if (!strcmp(cmd, "naming.list")) {
        struct json_object *list = json_object_new_array();
        naming_list(d->naming, add_host, list);
        struct json_object *r = console_ok_reply();
        json_object_object_add(r, "hosts", list);
        return r;
    } else if (!strcmp(cmd, "naming.events")) {
        struct json_object *list = json_object_new_array();
        int64_t limit = msg_get_int(rq, "limit", 50);
        limit = limit < 1 ? 1 : limit > 10000 ? 10000 : limit;
        if (store_naming_events(d->store, (size_t) limit, add_event,
                                list)) {
            json_object_put(list);
            return console_error_reply("%s", store_last_error(d->store));
        }
        struct json_object *r = console_ok_reply();
        json_object_object_add(r, "events", list);
        return r;
    } else if (!strcmp(cmd, "naming.set")) {
        return cmd_naming_set(d, rq, account);
    } else if (!strcmp(cmd, "naming.unset")) {
        return cmd_naming_unset(d, rq, account);
    } else if (!strcmp(cmd, "naming.remove")) {
        struct find_vm f;
        struct json_object *refused = resolve_vm(d, rq, &f);
        if (refused) {
            return refused;
        }
        if (!naming_remove(d->naming, f.uuid, account,
                           time_wall_ms() / 1000)) {
            return console_error_reply("vm \"%.64s\" has no naming entry",
                                       f.want);
        }
        char *detail = xasprintf("vm %s", *f.name ? f.name : f.uuid);
        store_change_add(d->store, account, "naming.remove", detail);
        free(detail);
        return console_ok_reply();
    }
    return NULL;
}
