/* appfw-secd's console administration.  See admin.h. */
#include "admin.h"

#include <errno.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/msg.h"
#include "common/rpc.h"
#include "common/util.h"
#include "policy.h"
#include "quota.h"
#include "secd-private.h"
#include "store.h"

static const char *const level_names[] = {
    [ADMIN_NONE] = "none", [ADMIN_MANAGER] = "manager",
    [ADMIN_ADMIN] = "admin", [ADMIN_SYSTEM] = "system-admin",
};

const char *
admin_level_name(enum admin_level level)
{
    return level_names[level];
}

static bool
level_from_name(const char *name, enum admin_level *level)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (name && !strcmp(name, level_names[i])) {
            *level = (enum admin_level) i;
            return true;
        }
    }
    return false;
}

void
admin_who_clear(struct admin_who *who)
{
    free(who->name);
    json_object_put(who->groups);
    who->name = NULL;
    who->groups = NULL;
}

static void
take_account(const struct store_account *a, void *who_)
{
    struct admin_who *who = who_;
    free(who->name);
    json_object_put(who->groups);
    who->name = xstrdup(a->name);
    if (!level_from_name(a->level, &who->level)) {
        who->level = ADMIN_NONE;
    }
    who->groups = json_tokener_parse(a->groups);
}

static void
token_hash(const char *token, char hex[SHA256_LEN * 2 + 1])
{
    uint8_t sha[SHA256_LEN];
    digest_sha256(token, strlen(token), sha);
    digest_to_hex(sha, SHA256_LEN, hex);
}

char *
admin_authenticate(struct secd *d, const struct rpc_request *req,
                   const struct json_object *rq, struct admin_who *who)
{
    *who = (struct admin_who) { .level = ADMIN_NONE };
    const char *token = msg_get_string(rq, "token", NULL);
    if (token) {
        char hex[SHA256_LEN * 2 + 1];
        token_hash(token, hex);
        if (*d->cfg.bootstrap_token_sha256
            && !strcmp(hex, d->cfg.bootstrap_token_sha256)) {
            who->name = xstrdup("bootstrap");
            who->level = ADMIN_SYSTEM;
            return NULL;
        }
        if (store_account_find(d->store, STORE_ACCOUNT_TOKEN, hex,
                               take_account, who)) {
            return xstrdup("not authorized: no account has this token");
        }
    } else if (req->peer_uid == 0) {
        who->name = xstrdup("root");
        who->level = ADMIN_SYSTEM;
        return NULL;
    } else if (req->peer_uid != UINT64_MAX) {
        struct passwd pw, *result = NULL;
        char buf[1024];
        if (getpwuid_r((uid_t) req->peer_uid, &pw, buf, sizeof buf, &result)
            || !result) {
            return xasprintf("not authorized: uid %llu has no user name",
                             (unsigned long long) req->peer_uid);
        }
        if (store_account_find(d->store, STORE_ACCOUNT_UNIX_USER,
                               pw.pw_name, take_account, who)) {
            return xasprintf("not authorized: no appfw account for local "
                             "user %s (a system administrator adds one: "
                             "appfwctl account add NAME --level LEVEL "
                             "--unix-user %s)", pw.pw_name, pw.pw_name);
        }
    } else {
        return xstrdup("not authorized: a remote console request must "
                       "carry an account's token (appfwctl --token)");
    }
    if (who->level == ADMIN_NONE) {
        char *e = xasprintf("not authorized: account %s has level none",
                            who->name);
        admin_who_clear(who);
        return e;
    }
    return NULL;
}

/* Permissions. */

static const struct {
    const char *cmd;
    enum admin_level least;
} perms[] = {
    { "health", ADMIN_MANAGER },
    { "whoami", ADMIN_MANAGER },
    { "policy.validate", ADMIN_MANAGER },
    { "policy.show", ADMIN_MANAGER },
    { "policy.history", ADMIN_MANAGER },
    { "policy.diff", ADMIN_MANAGER },
    { "policy.apply", ADMIN_MANAGER },
    { "policy.rollback", ADMIN_MANAGER },
    { "decisions.query", ADMIN_MANAGER },
    { "events.next", ADMIN_MANAGER },
    { "stats.top", ADMIN_MANAGER },
    { "vm.list", ADMIN_MANAGER },
    { "vm.show", ADMIN_MANAGER },
    { "hypervisor.list", ADMIN_MANAGER },
    { "hypervisor.show", ADMIN_MANAGER },
    { "hypervisor.add", ADMIN_SYSTEM },
    { "hypervisor.remove", ADMIN_SYSTEM },
    { "appid.lookup", ADMIN_MANAGER },
    { "explain", ADMIN_MANAGER },
    { "changes.list", ADMIN_MANAGER },
    { "quota.status", ADMIN_MANAGER },
    { "quota.violations", ADMIN_MANAGER },
    { "naming.list", ADMIN_MANAGER },
    { "naming.events", ADMIN_MANAGER },
    { "naming.set", ADMIN_ADMIN },
    { "sites.list", ADMIN_MANAGER },
    { "sites.resolve", ADMIN_ADMIN },
    { "naming.unset", ADMIN_ADMIN },
    { "naming.remove", ADMIN_ADMIN },
    { "quota.set", ADMIN_ADMIN },
    { "quota.remove", ADMIN_ADMIN },
    { "account.list", ADMIN_ADMIN },
    { "account.add", ADMIN_SYSTEM },
    { "account.remove", ADMIN_SYSTEM },
    { "system.set", ADMIN_SYSTEM },
    { "protocol.add", ADMIN_SYSTEM },
    { "protocol.remove", ADMIN_SYSTEM },
    { "global.add", ADMIN_SYSTEM },
    { "global.remove", ADMIN_SYSTEM },
};

char *
admin_may(const struct admin_who *who, const char *cmd)
{
    for (size_t i = 0; i < ARRAY_SIZE(perms); i++) {
        if (!strcmp(cmd, perms[i].cmd)) {
            return (who->level >= perms[i].least ? NULL
                    : xasprintf("not authorized: %s needs level %s; "
                                "account %s is %s", cmd,
                                level_names[perms[i].least], who->name,
                                level_names[who->level]));
        }
    }
    return xasprintf("unknown command \"%.64s\"", cmd);
}

/* Policy documents. */

static struct json_object *
doc_get(struct json_object *doc, const char *key)
{
    struct json_object *v = NULL;
    return doc && json_object_object_get_ex(doc, key, &v) ? v : NULL;
}

static bool
same(struct json_object *a, struct json_object *b)
{
    return json_object_equal(a, b) != 0;
}

/* Each rule of 'doc' by id (compilation refuses rules without one). */
static struct json_object *
rules_by_id(struct json_object *doc)
{
    struct json_object *map = json_object_new_object();
    struct json_object *rules = doc_get(doc, "rules");
    size_t n = json_object_is_type(rules, json_type_array)
               ? json_object_array_length(rules) : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *r = json_object_array_get_idx(rules, i);
        const char *id = msg_get_string(r, "id", NULL);
        if (id) {
            json_object_object_add(map, id, json_object_get(r));
        }
    }
    return map;
}

/* True if 'group' is 'ancestor' or below it in the tree of 'key'
 * ("vm_groups"/"user_groups", root 'root') of 'doc'. */
static bool
group_below(struct json_object *doc, const char *key, const char *root,
            const char *group, const char *ancestor)
{
    struct json_object *groups = doc_get(doc, key);
    size_t n = json_object_is_type(groups, json_type_array)
               ? json_object_array_length(groups) : 0;
    for (size_t depth = 0; group && depth <= n + 1; depth++) {
        if (!strcmp(group, ancestor)) {
            return true;
        }
        const char *parent = NULL;
        for (size_t i = 0; i < n && strcmp(group, root); i++) {
            struct json_object *g = json_object_array_get_idx(groups, i);
            if (!strcmp(msg_get_string(g, "name", ""), group)) {
                parent = msg_get_string(g, "parent", root);
                break;
            }
        }
        group = parent;
    }
    return false;
}

/* True if group 'name' of kind 'kind' ("vm" or "user") is one 'who' owns
 * or descends from one, in 'doc''s group tree. */
static bool
owns_group(const struct admin_who *who, struct json_object *doc,
           const char *kind, const char *name)
{
    bool vm = !strcmp(kind, "vm");
    size_t prefix = strlen(kind) + 1;
    size_t n = json_object_is_type(who->groups, json_type_array)
               ? json_object_array_length(who->groups) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *g = json_object_get_string(
            json_object_array_get_idx(who->groups, i));
        if (g && !strncmp(g, kind, prefix - 1) && g[prefix - 1] == ':'
            && group_below(doc, vm ? "vm_groups" : "user_groups",
                           vm ? "all" : "everyone", name, g + prefix)) {
            return true;
        }
    }
    return false;
}

/* True if rule 'r' is attached to a group 'who' may act on. */
static bool
rule_in_scope(const struct admin_who *who, struct json_object *doc,
              struct json_object *r)
{
    const char *vg = msg_get_string(r, "vm_group", NULL);
    const char *ug = msg_get_string(r, "user_group", NULL);
    return (vg ? owns_group(who, doc, "vm", vg)
            : ug ? owns_group(who, doc, "user", ug) : false);
}

char *
admin_check_policy_change(const struct admin_who *who, const char *old_text,
                          const char *new_text)
{
    if (who->level >= ADMIN_SYSTEM) {
        return NULL;
    }
    struct json_object *old = old_text ? json_tokener_parse(old_text) : NULL;
    struct json_object *new = json_tokener_parse(new_text);
    if (!json_object_is_type(new, json_type_object)) {
        json_object_put(old);
        json_object_put(new);
        return NULL;            /* Compilation will say what is wrong. */
    }
    if (!json_object_is_type(old, json_type_object)) {
        json_object_put(old);   /* No policy yet: compare with nothing. */
        old = json_object_new_object();
    }
    char *error = NULL;
    static const char *const system_only[] = {
        "system", "protocols", "global_protocols",
    };
    for (size_t i = 0; !error && i < ARRAY_SIZE(system_only); i++) {
        if (!same(doc_get(old, system_only[i]),
                  doc_get(new, system_only[i]))) {
            error = xasprintf("not authorized: only a system-admin changes "
                              "\"%s\" (account %s is %s)", system_only[i],
                              who->name, level_names[who->level]);
        }
    }

    /* Schedules are the system administrator's too. */
    struct json_object *old_rules = rules_by_id(old);
    struct json_object *new_rules = rules_by_id(new);
    json_object_object_foreach(new_rules, id, r) {
        struct json_object *was = doc_get(old_rules, id);
        if (!error && !same(msg_get(r, "match.schedule"),
                            msg_get(was, "match.schedule"))) {
            error = xasprintf("not authorized: only a system-admin changes "
                              "schedules (rule \"%s\")", id);
        }
    }
    json_object_object_foreach(old_rules, oid, o) {
        if (!error && !doc_get(new_rules, oid)
            && msg_get(o, "match.schedule")) {
            error = xasprintf("not authorized: only a system-admin changes "
                              "schedules (rule \"%s\")", oid);
        }
    }

    if (!error && who->level == ADMIN_MANAGER) {
        /* Only rules, and only those of its groups. */
        json_object_object_foreach(new, key, v) {
            if (!error && strcmp(key, "rules")
                && !same(v, doc_get(old, key))) {
                error = xasprintf("not authorized: a manager changes only "
                                  "rules of the groups it owns, not \"%s\"",
                                  key);
            }
        }
        json_object_object_foreach(old, okey, ov) {
            if (!error && strcmp(okey, "rules") && !doc_get(new, okey)) {
                error = xasprintf("not authorized: a manager changes only "
                                  "rules of the groups it owns, not \"%s\"",
                                  okey);
            }
            (void) ov;
        }
        json_object_object_foreach(new_rules, nid, nr) {
            struct json_object *was = doc_get(old_rules, nid);
            if (!error && !same(nr, was)
                && (!rule_in_scope(who, new, nr)
                    || (was && !rule_in_scope(who, old, was)))) {
                error = xasprintf("not authorized: rule \"%s\" is not "
                                  "attached to a group account %s owns",
                                  nid, who->name);
            }
        }
        json_object_object_foreach(old_rules, rid, rr) {
            if (!error && !doc_get(new_rules, rid)
                && !rule_in_scope(who, old, rr)) {
                error = xasprintf("not authorized: rule \"%s\" is not "
                                  "attached to a group account %s owns",
                                  rid, who->name);
            }
        }
    }
    json_object_put(old_rules);
    json_object_put(new_rules);
    json_object_put(old);
    json_object_put(new);
    return error;
}

/* Accounts. */

static void
add_account_json(const struct store_account *a, void *list)
{
    struct json_object *o = json_object_new_object();
    msg_put_string(o, "name", a->name);
    msg_put_string(o, "level", a->level);
    msg_put_string(o, "unix_user", a->unix_user);
    json_object_object_add(o, "token", json_object_new_boolean(
                               *a->token_sha256 != '\0'));
    struct json_object *groups = json_tokener_parse(a->groups);
    json_object_object_add(o, "groups", groups ? groups
                                               : json_object_new_array());
    msg_put_int(o, "created", a->created);
    msg_put_string(o, "created_by", a->created_by);
    json_object_array_add(list, o);
}

static void
found(const struct store_account *a, void *flag)
{
    (void) a;
    *(bool *) flag = true;
}

static struct json_object *
account_add(struct secd *d, const struct admin_who *who,
            const struct json_object *rq)
{
    const char *name = msg_get_string(rq, "name", "");
    const char *level = msg_get_string(rq, "level", "");
    const char *unix_user = msg_get_string(rq, "unix_user", "");
    const char *token = msg_get_string(rq, "new_token", NULL);
    enum admin_level l;
    bool printable = true;
    for (const char *c = name; *c; c++) {
        printable = printable && (unsigned char) *c > ' ' && *c != 0x7f;
    }
    if (!*name || strlen(name) > 64 || !printable) {
        return console_error_reply("account.add: a name is 1..64 bytes "
                                   "without spaces or control "
                                   "characters");
    }
    if (!level_from_name(level, &l)) {
        return console_error_reply("account.add: level \"%.40s\" is not "
                                   "system-admin, admin, manager or "
                                   "none", level);
    }
    if (!*unix_user && !token) {
        return console_error_reply("account.add: give a unix user (local "
                                   "console) or a token (remote), or both");
    }
    if (!strcmp(name, "root") || !strcmp(name, "bootstrap")) {
        return console_error_reply("account.add: \"%s\" is built in",
                                   name);
    }
    bool exists = false;
    int ferr = store_account_find(d->store, STORE_ACCOUNT_NAME, name, found,
                                  &exists);
    if (ferr && ferr != ENOENT) {
        return console_error_reply("account.add: %s",
                                   store_last_error(d->store));
    }
    if (exists) {
        return console_error_reply("account.add: account %s exists "
                                   "(remove it first)", name);
    }
    struct json_object *groups = msg_get(rq, "groups");
    if (groups && !json_object_is_type(groups, json_type_array)) {
        return console_error_reply("account.add: groups is a list");
    }
    size_t n_groups = groups ? json_object_array_length(groups) : 0;
    for (size_t i = 0; i < n_groups; i++) {
        struct json_object *gj = json_object_array_get_idx(groups, i);
        const char *g = json_object_is_type(gj, json_type_string)
                        ? json_object_get_string(gj) : NULL;
        if (!g || !((!strncmp(g, "vm:", 3) && g[3])
                    || (!strncmp(g, "user:", 5) && g[5]))) {
            return console_error_reply("account.add: groups[%zu]: write "
                                       "vm:NAME or user:NAME", i);
        }
    }
    if (l == ADMIN_MANAGER && !n_groups) {
        return console_error_reply("account.add: a manager owns at least "
                                   "one group (--group vm:NAME or "
                                   "user:NAME)");
    }
    char hex[SHA256_LEN * 2 + 1] = "";
    if (token) {
        if (strlen(token) < 16) {
            return console_error_reply("account.add: a token has at least "
                                       "16 characters");
        }
        token_hash(token, hex);
    }
    struct store_account a = {
        .name = name, .level = level, .unix_user = unix_user,
        .token_sha256 = hex,
        .groups = groups ? json_object_to_json_string_ext(
                      groups, JSON_C_TO_STRING_PLAIN) : "[]",
        .created = time_wall_ms() / 1000, .created_by = who->name,
    };
    if (store_account_put(d->store, &a)) {
        return console_error_reply("account.add: %s",
                                   store_last_error(d->store));
    }
    char *detail = xasprintf("%s level=%s unix_user=%s token=%s groups=%s",
                             name, level, *unix_user ? unix_user : "-",
                             token ? "yes" : "no", a.groups);
    store_change_add(d->store, who->name, "account.add", detail);
    free(detail);
    return console_ok_reply();
}

static struct json_object *
account_remove(struct secd *d, const struct admin_who *who,
               const struct json_object *rq)
{
    const char *name = msg_get_string(rq, "name", "");
    int error = store_account_delete(d->store, name);
    if (error == ENOENT) {
        return console_error_reply("account.remove: no account %s", name);
    } else if (error) {
        return console_error_reply("account.remove: %s",
                                   store_last_error(d->store));
    }
    store_change_add(d->store, who->name, "account.remove", name);
    return console_ok_reply();
}

/* Edits of the active policy document. */

/* Runs 'edit' on a copy of the active document and activates the result
 * as a new version by 'who'. */
typedef char *doc_edit_fn(struct json_object *doc,
                          const struct json_object *rq, char **comment);

static struct json_object *
edit_policy(struct secd *d, const struct admin_who *who, const char *cmd,
            const struct json_object *rq, doc_edit_fn *edit)
{
    struct store_policy p;
    struct json_object *doc = NULL;
    int error0 = store_policy_active(d->store, &p);
    if (!error0) {
        doc = json_tokener_parse(p.text);
        store_policy_clear(&p);
    } else if (error0 != ENOENT) {
        /* Starting from nothing would drop the whole policy. */
        return console_error_reply("%s: %s", cmd,
                                   store_last_error(d->store));
    }
    if (!json_object_is_type(doc, json_type_object)) {
        json_object_put(doc);
        doc = json_object_new_object();
    }
    char *comment = NULL;
    char *error = edit(doc, rq, &comment);
    struct json_object *r;
    if (error) {
        r = console_error_reply("%s: %s", cmd, error);
        free(error);
    } else {
        const char *text = json_object_to_json_string_ext(
            doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        int64_t version;
        error = secd_activate(d, text, who->name, comment, &version);
        if (error) {
            r = console_error_reply("%s: %s", cmd, error);
            free(error);
        } else {
            char *detail = xasprintf("%s (policy version %lld)", comment,
                                     (long long) version);
            store_change_add(d->store, who->name, cmd, detail);
            free(detail);
            r = console_ok_reply();
            msg_put_int(r, "version", version);
        }
    }
    free(comment);
    json_object_put(doc);
    return r;
}

/* The array 'key' of 'doc', created if missing. */
static struct json_object *
doc_array(struct json_object *doc, const char *key)
{
    struct json_object *a = doc_get(doc, key);
    if (!json_object_is_type(a, json_type_array)) {
        a = json_object_new_array();
        json_object_object_add(doc, key, a);
    }
    return a;
}

/* The index of the element of array 'a' named 'name', or -1. */
static int
find_named(struct json_object *a, const char *name)
{
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        if (!strcmp(msg_get_string(json_object_array_get_idx(a, i), "name",
                                   ""), name)) {
            return (int) i;
        }
    }
    return -1;
}

static char *
edit_system_set(struct json_object *doc, const struct json_object *rq,
                char **comment)
{
    const char *key = msg_get_string(rq, "key", "");
    const char *value = msg_get_string(rq, "value", "");
    struct json_object *v;
    if (!strcmp(key, "log_load_interval")) {
        char *end;
        long n = strtol(value, &end, 10);
        if (!*value || *end) {
            return xasprintf("%s: \"%s\" is not a number of seconds", key,
                             value);
        }
        /* Out of range values are left for compilation to refuse. */
        v = json_object_new_int(n < 0 ? -1 : n > 100000 ? 100000 : (int) n);
    } else if (!strcmp(key, "logging") || !strcmp(key, "simulate")
               || !strcmp(key, "notify")
               || !strcmp(key, "allow_undefined_protocols")) {
        bool on = !strcmp(value, "on") || !strcmp(value, "true");
        if (!on && strcmp(value, "off") && strcmp(value, "false")) {
            return xasprintf("%s: give on or off, not \"%s\"", key, value);
        }
        v = json_object_new_boolean(on);
    } else {
        return xasprintf("no system setting \"%s\" (logging, simulate, "
                         "notify, allow_undefined_protocols, "
                         "log_load_interval)", key);
    }
    struct json_object *system = doc_get(doc, "system");
    if (!json_object_is_type(system, json_type_object)) {
        system = json_object_new_object();
        json_object_object_add(doc, "system", system);
    }
    json_object_object_add(system, key, v);
    *comment = xasprintf("system %s = %s", key, value);
    return NULL;
}

/* Copies the protocol or global protocol fields of 'rq' into a new
 * object. */
static struct json_object *
protocol_from(const struct json_object *rq, bool global)
{
    static const char *const fields[] = {
        "name", "protocol", "ports", "description", "direction", "action",
        "log", "notify",
    };
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        struct json_object *v = msg_get(rq, fields[i]);
        if (v && (global ? i != 3 : i < 4)) {
            json_object_object_add(o, fields[i], json_object_get(v));
        }
    }
    return o;
}

static char *
edit_add(struct json_object *doc, const struct json_object *rq,
         char **comment, bool global)
{
    const char *key = global ? "global_protocols" : "protocols";
    const char *name = msg_get_string(rq, "name", "");
    struct json_object *list = doc_array(doc, key);
    if (find_named(list, name) >= 0) {
        return xasprintf("%s \"%s\" exists (remove it first)", key, name);
    }
    json_object_array_add(list, protocol_from(rq, global));
    *comment = xasprintf("%s %s added", global ? "global protocol"
                                               : "protocol", name);
    return NULL;    /* Compilation validates the fields. */
}

static char *
edit_protocol_add(struct json_object *doc, const struct json_object *rq,
                  char **comment)
{
    return edit_add(doc, rq, comment, false);
}

static char *
edit_global_add(struct json_object *doc, const struct json_object *rq,
                char **comment)
{
    return edit_add(doc, rq, comment, true);
}

static char *
edit_global_remove(struct json_object *doc, const struct json_object *rq,
                   char **comment)
{
    const char *name = msg_get_string(rq, "name", "");
    struct json_object *list = doc_array(doc, "global_protocols");
    int i = find_named(list, name);
    if (i < 0) {
        return xasprintf("no global protocol \"%s\"", name);
    }
    json_object_array_del_idx(list, i, 1);
    *comment = xasprintf("global protocol %s removed", name);
    return NULL;
}

/* True if rule 'r' names protocol 'name' in match.app_protocol. */
static bool
names_protocol(struct json_object *r, const char *name)
{
    struct json_object *l = msg_get(r, "match.app_protocol");
    size_t n = json_object_is_type(l, json_type_array)
               ? json_object_array_length(l) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(l,
                                                                         i));
        if (s && !strcmp(s, name)) {
            return true;
        }
    }
    return false;
}

/* Deleting a protocol removes the rules that name it: asked first, done
 * with "yes". */
static char *
edit_protocol_remove(struct json_object *doc, const struct json_object *rq,
                     char **comment)
{
    const char *name = msg_get_string(rq, "name", "");
    struct json_object *list = doc_array(doc, "protocols");
    int pi = find_named(list, name);
    if (pi < 0) {
        return xasprintf("no protocol \"%s\"", name);
    }
    struct json_object *rules = doc_get(doc, "rules");
    size_t n = json_object_is_type(rules, json_type_array)
               ? json_object_array_length(rules) : 0;
    char *ids = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        struct json_object *r = json_object_array_get_idx(rules, i);
        if (names_protocol(r, name)) {
            char *t = xasprintf("%s%s%s", ids, *ids ? ", " : "",
                                msg_get_string(r, "id", "?"));
            free(ids);
            ids = t;
        }
    }
    if (*ids && !msg_get_bool(rq, "yes", false)) {
        char *e = xasprintf("removing protocol %s also removes the rules "
                            "that name it: %s; repeat with --yes", name,
                            ids);
        free(ids);
        return e;
    }
    for (size_t i = n; i-- > 0;) {
        if (names_protocol(json_object_array_get_idx(rules, i), name)) {
            json_object_array_del_idx(rules, i, 1);
        }
    }
    json_object_array_del_idx(list, pi, 1);
    *comment = xasprintf("protocol %s removed%s%s", name,
                         *ids ? " with rules " : "", ids);
    free(ids);
    return NULL;
}

/* Quotas. */

static bool
quota_kind_ok(const char *kind)
{
    static const char *const kinds[] = {
        "user", "user_group", "vm", "vm_group", "app",
    };
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (!strcmp(kind, kinds[i])) {
            return true;
        }
    }
    return false;
}

/* The index in 'quotas' of the entry for 'kind' 'subject', or -1. */
static int
find_quota(struct json_object *quotas, const char *kind, const char *subject)
{
    for (size_t i = 0; i < json_object_array_length(quotas); i++) {
        const char *s = msg_get_string(json_object_array_get_idx(quotas, i),
                                       kind, NULL);
        if (s && !strcmp(s, subject)) {
            return (int) i;
        }
    }
    return -1;
}

/* True if quota entry 'e' is for a member of group 'group' of 'kind'
 * ("vm_group"/"user_group") or a group below it, other than the group
 * itself. */
static bool
quota_below(struct json_object *doc, struct json_object *e, const char *kind,
            const char *group)
{
    bool vm = !strcmp(kind, "vm_group");
    const char *key = vm ? "vm_groups" : "user_groups";
    const char *root = vm ? "all" : "everyone";
    const char *g = msg_get_string(e, kind, NULL);
    if (g) {
        return strcmp(g, group) && group_below(doc, key, root, g, group);
    }
    const char *member = msg_get_string(e, vm ? "vm" : "user", NULL);
    if (!member) {
        return false;
    }
    /* A member belongs to the groups the document lists for it (a VM to
     * one, by uuid or name; a user to several), or to the root. */
    struct json_object *list = doc_get(doc, vm ? "vms" : "users");
    size_t n = json_object_is_type(list, json_type_array)
               ? json_object_array_length(list) : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(list, i);
        if (strcmp(msg_get_string(m, "name", ""), member)
            && strcmp(msg_get_string(m, "uuid", ""), member)) {
            continue;
        }
        if (vm) {
            return group_below(doc, key, root,
                               msg_get_string(m, "group", root), group);
        }
        struct json_object *gs = msg_get(m, "groups");
        size_t ng = json_object_is_type(gs, json_type_array)
                    ? json_object_array_length(gs) : 0;
        for (size_t j = 0; j < ng; j++) {
            if (group_below(doc, key, root, json_object_get_string(
                                json_object_array_get_idx(gs, j)), group)) {
                return true;
            }
        }
        return !strcmp(group, root);
    }
    return !strcmp(group, root);
}

/* Sets a quota; lowering a group's quota lowers those of its descendants
 * (groups and members) that were above it. */
static char *
edit_quota_set(struct json_object *doc, const struct json_object *rq,
               char **comment)
{
    const char *kind = msg_get_string(rq, "kind", "");
    const char *subject = msg_get_string(rq, "subject", "");
    int64_t bytes = msg_get_int(rq, "bytes_per_day", -1);
    if (!quota_kind_ok(kind)) {
        return xasprintf("\"%s\" is not user, user_group, vm, vm_group or "
                         "app", kind);
    }
    if (!*subject || bytes < 0) {
        return xstrdup("give a subject and a number of bytes per day");
    }
    struct json_object *quotas = doc_array(doc, "quotas");
    int i = find_quota(quotas, kind, subject);
    struct json_object *e;
    if (i < 0) {
        e = json_object_new_object();
        json_object_object_add(e, kind, json_object_new_string(subject));
        json_object_array_add(quotas, e);
    } else {
        e = json_object_array_get_idx(quotas, i);
    }
    json_object_object_add(e, "bytes_per_day",
                           json_object_new_int64(bytes));
    json_object_object_add(e, "action", json_object_new_string(
                               msg_get_bool(rq, "block", false)
                               ? "block" : "log"));
    json_object_object_add(e, "notify", json_object_new_boolean(
                               msg_get_bool(rq, "notify", false)));

    char *lowered = xstrdup("");
    if (bytes > 0 && (!strcmp(kind, "vm_group")
                      || !strcmp(kind, "user_group"))) {
        for (size_t j = 0; j < json_object_array_length(quotas); j++) {
            struct json_object *d = json_object_array_get_idx(quotas, j);
            if (msg_get_int(d, "bytes_per_day", 0) > bytes
                && quota_below(doc, d, kind, subject)) {
                json_object_object_add(d, "bytes_per_day",
                                       json_object_new_int64(bytes));
                json_object_object_foreach(d, k, v) {
                    if (json_object_is_type(v, json_type_string)
                        && quota_kind_ok(k)) {
                        char *t = xasprintf("%s%s %s:%s", lowered,
                                            *lowered ? "," : "", k,
                                            json_object_get_string(v));
                        free(lowered);
                        lowered = t;
                    }
                }
            }
        }
    }
    *comment = xasprintf("quota %s:%s = %lld bytes per day%s%s%s", kind,
                         subject, (long long) bytes,
                         *lowered ? "; lowered" : "", lowered,
                         *lowered ? " to it" : "");
    free(lowered);
    return NULL;
}

static char *
edit_quota_remove(struct json_object *doc, const struct json_object *rq,
                  char **comment)
{
    const char *kind = msg_get_string(rq, "kind", "");
    const char *subject = msg_get_string(rq, "subject", "");
    struct json_object *quotas = doc_array(doc, "quotas");
    int i = quota_kind_ok(kind) ? find_quota(quotas, kind, subject) : -1;
    if (i < 0) {
        return xasprintf("no quota for %s \"%s\"", kind, subject);
    }
    json_object_array_del_idx(quotas, i, 1);
    *comment = xasprintf("quota %s:%s removed", kind, subject);
    return NULL;
}

static void
add_violation_json(const struct store_violation *v, void *list)
{
    struct json_object *o = json_object_new_object();
    msg_put_string(o, "day", v->day);
    msg_put_string(o, "kind", v->kind);
    msg_put_string(o, "subject", v->subject);
    msg_put_int(o, "quota", v->quota);
    msg_put_int(o, "volume", v->volume);
    msg_put_int(o, "time", v->time);
    json_object_array_add(list, o);
}

/* The change log. */

static void
add_change_json(int64_t time, const char *account, const char *action,
                const char *detail, void *list)
{
    struct json_object *o = json_object_new_object();
    msg_put_int(o, "time", time);
    msg_put_string(o, "account", account);
    msg_put_string(o, "action", action);
    msg_put_string(o, "detail", detail);
    json_object_array_add(list, o);
}

struct json_object *
admin_handle(struct secd *d, const struct admin_who *who, const char *cmd,
             const struct json_object *rq)
{
    if (!strcmp(cmd, "whoami")) {
        struct json_object *r = console_ok_reply();
        msg_put_string(r, "name", who->name);
        msg_put_string(r, "level", level_names[who->level]);
        json_object_object_add(r, "groups", who->groups
                               ? json_object_get(who->groups)
                               : json_object_new_array());
        return r;
    } else if (!strcmp(cmd, "account.list")) {
        struct json_object *list = json_object_new_array();
        if (store_account_list(d->store, add_account_json, list)) {
            json_object_put(list);
            return console_error_reply("%s", store_last_error(d->store));
        }
        struct json_object *r = console_ok_reply();
        json_object_object_add(r, "accounts", list);
        return r;
    } else if (!strcmp(cmd, "account.add")) {
        return account_add(d, who, rq);
    } else if (!strcmp(cmd, "account.remove")) {
        return account_remove(d, who, rq);
    } else if (!strcmp(cmd, "changes.list")) {
        struct json_object *list = json_object_new_array();
        int64_t limit = msg_get_int(rq, "limit", 50);
        if (store_change_list(d->store, limit > 0 ? (size_t) limit : 50,
                              add_change_json, list)) {
            json_object_put(list);
            return console_error_reply("%s", store_last_error(d->store));
        }
        struct json_object *r = console_ok_reply();
        json_object_object_add(r, "changes", list);
        return r;
    } else if (!strcmp(cmd, "quota.status")) {
        struct json_object *list = json_object_new_array();
        int64_t now = time_wall_ms();
        for (size_t i = 0; d->policy && i < policy_n_quotas(d->policy);
             i++) {
            const struct policy_quota *q = policy_quota_at(d->policy, i);
            struct json_object *o = json_object_new_object();
            msg_put_string(o, "kind", policy_quota_kind_name(q->kind));
            msg_put_string(o, "subject", q->subject);
            msg_put_int(o, "bytes_per_day", q->bytes_per_day);
            msg_put_int(o, "used", quota_used(d->quota, d->policy, now, i));
            msg_put_string(o, "action", q->block ? "block" : "log");
            json_object_object_add(o, "notify",
                                   json_object_new_boolean(q->notify));
            json_object_array_add(list, o);
        }
        struct json_object *r = console_ok_reply();
        char day[11];
        quota_day(now, day);
        msg_put_string(r, "day", day);
        json_object_object_add(r, "quotas", list);
        return r;
    } else if (!strcmp(cmd, "quota.violations")) {
        int64_t days = msg_get_int(rq, "days", 7);
        char since[11];
        quota_day(time_wall_ms() - (days > 1 ? days - 1 : 0) * 86400000LL,
                  since);
        struct json_object *list = json_object_new_array();
        if (store_quota_violations(d->store, since, add_violation_json,
                                   list)) {
            json_object_put(list);
            return console_error_reply("%s", store_last_error(d->store));
        }
        struct json_object *r = console_ok_reply();
        json_object_object_add(r, "violations", list);
        return r;
    } else if (!strcmp(cmd, "quota.set")) {
        return edit_policy(d, who, cmd, rq, edit_quota_set);
    } else if (!strcmp(cmd, "quota.remove")) {
        return edit_policy(d, who, cmd, rq, edit_quota_remove);
    } else if (!strcmp(cmd, "system.set")) {
        return edit_policy(d, who, cmd, rq, edit_system_set);
    } else if (!strcmp(cmd, "protocol.add")) {
        return edit_policy(d, who, cmd, rq, edit_protocol_add);
    } else if (!strcmp(cmd, "protocol.remove")) {
        return edit_policy(d, who, cmd, rq, edit_protocol_remove);
    } else if (!strcmp(cmd, "global.add")) {
        return edit_policy(d, who, cmd, rq, edit_global_add);
    } else if (!strcmp(cmd, "global.remove")) {
        return edit_policy(d, who, cmd, rq, edit_global_remove);
    }
    return NULL;
}
