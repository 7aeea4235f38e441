/* naming: the naming service (see naming.h). */
#include "naming.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strmap.h"
#include "common/util.h"
#include "resolver.h"
#include "store.h"

LOG_MODULE(naming);

struct addr_set {
    struct policy_addr *v;
    size_t n;
};

struct host {
    char *uuid, *name;
    char *user;                 /* Recorded as logged in; "" none. */
    int64_t since;
    bool static_user, static_addrs;
    struct addr_set addrs;      /* In effect. */
    struct addr_set reported;   /* The agent's last report. */
    char *reported_user;        /* The newest session's user; "" none. */
    int64_t reported_since;
    int64_t reported_at;        /* When the agent last reported (s). */
    double tokens;              /* Events this VM may still cause now. */
    int64_t tokens_at;
    unsigned long long suppressed;
};

/* Events per VM: a burst of EVENT_BURST, then EVENT_RATE a second; the
 * map itself is always kept up to date, only the history and the event
 * stream are spared a guest that churns its addresses. */
#define EVENT_BURST 256
#define EVENT_RATE 4

struct naming {
    struct store *store;
    naming_publish_fn *publish;
    void *aux;
    int stale_s;
    struct strmap hosts;        /* uuid -> struct host. */
    struct strmap by_addr;      /* address text -> struct host. */
};

static void
set_copy(struct addr_set *s, const struct policy_addr *v, size_t n)
{
    free(s->v);
    s->v = NULL;
    s->n = n;
    if (n) {
        s->v = xmalloc(n * sizeof *v);
        memcpy(s->v, v, n * sizeof *v);
    }
}

static bool
set_has(const struct addr_set *s, const struct policy_addr *a)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!memcmp(&s->v[i], a, sizeof *a)) {
            return true;
        }
    }
    return false;
}

static void
set_remove(struct addr_set *s, const struct policy_addr *a)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!memcmp(&s->v[i], a, sizeof *a)) {
            s->v[i] = s->v[--s->n];
            return;
        }
    }
}

/* Loopback, link-local, multicast and unspecified addresses do not name a
 * host to the rest of the network. */
static bool
addr_valid(const struct policy_addr *a)
{
    static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
    const uint8_t *b = a->b;
    if (!memcmp(b, mapped, sizeof mapped)) {
        const uint8_t *v4 = b + 12;
        return !(v4[0] == 0 || v4[0] == 127 || (v4[0] == 169 && v4[1] == 254)
                 || v4[0] >= 224);
    }
    static const uint8_t zero[15] = { 0 };
    if (!memcmp(b, zero, 15) && (b[15] == 0 || b[15] == 1)) {
        return false;           /* :: and ::1. */
    }
    return !(b[0] == 0xff || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80));
}

static bool
host_has_valid(const struct host *h)
{
    for (size_t i = 0; i < h->addrs.n; i++) {
        if (addr_valid(&h->addrs.v[i])) {
            return true;
        }
    }
    return false;
}

static char *
addrs_text(const struct addr_set *s)
{
    char *text = xcalloc(s->n + 1, INET6_ADDRSTRLEN + 1);
    for (size_t i = 0; i < s->n; i++) {
        char one[INET6_ADDRSTRLEN];
        if (i) {
            strcat(text, " ");
        }
        strcat(text, resolver_addr_text(&s->v[i], one));
    }
    return text;
}

static void
save(struct naming *nm, const struct host *h)
{
    if (!nm->store) {
        return;
    }
    char *addrs = addrs_text(&h->addrs);
    char *reported = addrs_text(&h->reported);
    struct store_naming_host row = {
        .vm_uuid = h->uuid, .vm_name = h->name, .user = h->user,
        .addresses = addrs, .static_user = h->static_user,
        .static_addresses = h->static_addrs, .since = h->since,
        .reported_user = h->reported_user,
        .reported_since = h->reported_since,
        .reported_addresses = reported, .reported_at = h->reported_at,
    };
    if (store_naming_put(nm->store, &row)) {
        static struct log_rl rl = LOG_RL_INIT(6, 3);
        LOG_WARN_RL(&rl, "could not save the naming service: %s",
                    store_last_error(nm->store));
    }
    free(addrs);
    free(reported);
}

/* Whether 'h' may cause one more event now. */
static bool
take_event(struct host *h, int64_t now)
{
    if (now > h->tokens_at) {
        h->tokens += (double) (now - h->tokens_at) * EVENT_RATE;
        h->tokens = h->tokens > EVENT_BURST ? EVENT_BURST : h->tokens;
        h->tokens_at = now;
    }
    if (h->tokens < 1) {
        if (!h->suppressed++) {
            LOG_WARN("vm=%s changes its naming entry too often: events are "
                     "no longer recorded for it, only its state", h->uuid);
        }
        return false;
    }
    h->tokens -= 1;
    return true;
}

static void
event(struct naming *nm, struct host *h, const char *what,
      const char *user, const struct policy_addr *addr, const char *source,
      int64_t now)
{
    if (!take_event(h, now)) {
        return;
    }
    char text[INET6_ADDRSTRLEN] = "";
    if (addr) {
        resolver_addr_text(addr, text);
    }
    if (addr) {
        LOG_DBG("%s vm=%s name=%s user=%s address=%s source=%s", what,
                h->uuid, h->name, user, text, source);
    } else {
        LOG_INFO("%s vm=%s name=%s user=%s source=%s", what, h->uuid,
                 h->name, user, source);
    }
    if (nm->store) {
        struct store_naming_event e = {
            .time = now, .vm_uuid = h->uuid, .vm_name = h->name,
            .event = what, .user = user, .address = text, .source = source,
        };
        if (store_naming_event_add(nm->store, &e)) {
            LOG_WARN("could not record a naming event: %s",
                     store_last_error(nm->store));
        }
    }
    if (nm->publish) {
        struct json_object *ev = json_object_new_object();
        json_object_object_add(ev, "type", json_object_new_string("naming"));
        json_object_object_add(ev, "event", json_object_new_string(what));
        json_object_object_add(ev, "time_ms",
                               json_object_new_int64(now * 1000));
        json_object_object_add(ev, "vm", json_object_new_string(
                                   *h->name ? h->name : h->uuid));
        json_object_object_add(ev, "vm_uuid", json_object_new_string(h->uuid));
        json_object_object_add(ev, "user", json_object_new_string(user));
        json_object_object_add(ev, "address", json_object_new_string(text));
        json_object_object_add(ev, "source", json_object_new_string(source));
        nm->publish(ev, nm->aux);
    }
}

static struct host *
host_get(struct naming *nm, const char *uuid, const char *name)
{
    struct host *h = strmap_find(&nm->hosts, uuid);
    if (!h) {
        h = xcalloc(1, sizeof *h);
        h->uuid = xstrdup(uuid);
        h->name = xstrdup(name ? name : "");
        h->user = xstrdup("");
        h->reported_user = xstrdup("");
        h->tokens = EVENT_BURST;
        strmap_add(&nm->hosts, uuid, h);
    } else if (name && *name && strcmp(name, h->name)) {
        free(h->name);
        h->name = xstrdup(name);
    }
    return h;
}

static void
host_free(void *h_)
{
    struct host *h = h_;
    free(h->uuid);
    free(h->name);
    free(h->user);
    free(h->reported_user);
    free(h->addrs.v);
    free(h->reported.v);
    free(h);
}

static void
index_add(struct naming *nm, struct host *h, const struct policy_addr *a)
{
    char text[INET6_ADDRSTRLEN];
    resolver_addr_text(a, text);
    strmap_delete(&nm->by_addr, text);
    strmap_add(&nm->by_addr, text, h);
}

static struct host *
owner_of(const struct naming *nm, const struct policy_addr *a)
{
    char text[INET6_ADDRSTRLEN];
    return strmap_find(&nm->by_addr, resolver_addr_text(a, text));
}

/* Whether an agent's report may take 'a' from 'o': not if an
 * administrator gave it to 'o', nor while 'o''s own agent still reports
 * it (a guest cannot take a live VM's address by claiming it). */
static const char *
taken_by(const struct naming *nm, const struct host *o,
         const struct policy_addr *a, int64_t now)
{
    if (o->static_addrs) {
        return "an administrator gave it to";
    }
    if (set_has(&o->reported, a) && now - o->reported_at < nm->stale_s) {
        return "the agent still reports it for";
    }
    return NULL;
}

/* Makes 'want' the addresses of 'h': each address another VM had is
 * released from it first.  Unless 'force' (an administrator's entry),
 * an address taken_by() keeps with its VM, and 'h' does not get it (its
 * report keeps the claim: once the other VM lets the address go, or its
 * reports stop, 'h''s next report gets it). */
static void
apply_addrs(struct naming *nm, struct host *h, const struct addr_set *want,
            bool force, const char *source, int64_t now)
{
    struct addr_set next = { xcalloc(want->n + 1, sizeof *next.v), 0 };
    for (size_t i = 0; i < want->n; i++) {
        const struct policy_addr *a = &want->v[i];
        struct host *o = owner_of(nm, a);
        const char *why;
        if (o && o != h && !force && (why = taken_by(nm, o, a, now))) {
            static struct log_rl rl = LOG_RL_INIT(6, 3);
            char text[INET6_ADDRSTRLEN];
            LOG_WARN_RL(&rl, "vm=%s reports address %s, but %s vm=%s: "
                        "not taken", h->uuid, resolver_addr_text(a, text),
                        why, o->uuid);
            continue;
        }
        if (o && o != h) {
            set_remove(&o->addrs, a);
            /* Its agent's report is out of date now: unsetting a static
             * entry there must not take the address back. */
            set_remove(&o->reported, a);
            event(nm, o, "release", o->user, a, source, now);
            save(nm, o);
        }
        if (!set_has(&next, a)) {
            next.v[next.n++] = *a;
        }
    }
    /* Addresses 'h' no longer has. */
    for (size_t i = 0; i < h->addrs.n; i++) {
        const struct policy_addr *a = &h->addrs.v[i];
        if (!set_has(&next, a)) {
            char text[INET6_ADDRSTRLEN];
            if (owner_of(nm, a) == h) {
                strmap_delete(&nm->by_addr, resolver_addr_text(a, text));
            }
            event(nm, h, "release", h->user, a, source, now);
        }
    }
    for (size_t i = 0; i < next.n; i++) {
        if (!set_has(&h->addrs, &next.v[i])) {
            event(nm, h, "address", h->user, &next.v[i], source, now);
        }
        index_add(nm, h, &next.v[i]);
    }
    free(h->addrs.v);
    h->addrs = next;
}

/* Brings the recorded user in line with the newest session. */
static void
reconcile_user(struct naming *nm, struct host *h, int64_t now)
{
    if (h->static_user || !strcmp(h->user, h->reported_user)) {
        return;                 /* A repeated login is ignored. */
    }
    if (!*h->reported_user) {
        event(nm, h, "logout", h->user, NULL, "agent", now);
        free(h->user);
        h->user = xstrdup("");
        h->since = 0;
        return;
    }
    if (!host_has_valid(h)) {
        LOG_DBG("login of %s on vm=%s waits for a valid address",
                h->reported_user, h->uuid);
        return;
    }
    if (*h->user) {
        event(nm, h, "logout", h->user, NULL, "agent", now);
    }
    free(h->user);
    h->user = xstrdup(h->reported_user);
    h->since = h->reported_since;
    event(nm, h, "login", h->user, NULL, "agent", now);
}

/* Space-separated addresses into 'set'. */
static void
parse_addrs(const char *text, struct addr_set *set)
{
    struct policy_addr v[NAMING_MAX_ADDRS];
    size_t n = 0;
    char *copy = xstrdup(text), *save_ = NULL;
    for (char *t = strtok_r(copy, " ", &save_); t && n < NAMING_MAX_ADDRS;
         t = strtok_r(NULL, " ", &save_)) {
        if (policy_addr_parse(t, &v[n])) {
            n++;
        }
    }
    free(copy);
    set_copy(set, v, n);
}

static void
load_one(const struct store_naming_host *row, void *nm_)
{
    struct naming *nm = nm_;
    struct host *h = host_get(nm, row->vm_uuid, row->vm_name);
    free(h->user);
    h->user = xstrdup(row->user);
    h->since = row->since;
    h->static_user = row->static_user;
    h->static_addrs = row->static_addresses;
    free(h->reported_user);
    h->reported_user = xstrdup(row->reported_user);
    h->reported_since = row->reported_since;
    h->reported_at = row->reported_at;
    parse_addrs(row->addresses, &h->addrs);
    parse_addrs(row->reported_addresses, &h->reported);
    for (size_t i = 0; i < h->addrs.n; i++) {
        index_add(nm, h, &h->addrs.v[i]);
    }
}

struct naming *
naming_create(struct store *store, int stale_s, naming_publish_fn *publish,
              void *aux)
{
    struct naming *nm = xcalloc(1, sizeof *nm);
    nm->store = store;
    nm->stale_s = stale_s > 0 ? stale_s : NAMING_STALE_S;
    nm->publish = publish;
    nm->aux = aux;
    strmap_init(&nm->hosts);
    strmap_init(&nm->by_addr);
    if (store && store_naming_load(store, load_one, nm)) {
        LOG_WARN("could not load the naming service: %s",
                 store_last_error(store));
    }
    return nm;
}

void
naming_destroy(struct naming *nm)
{
    if (nm) {
        strmap_destroy(&nm->by_addr, NULL);
        strmap_destroy(&nm->hosts, host_free);
        free(nm);
    }
}

void
naming_report(struct naming *nm, const char *uuid, const char *name,
              const struct policy_addr *addrs, size_t n_addrs,
              const struct naming_session *sessions, size_t n_sessions,
              int64_t now)
{
    struct host *h = host_get(nm, uuid, name);

    /* One user per VM: the newest session's (ties: the first listed). */
    const struct naming_session *newest = NULL;
    for (size_t i = 0; i < n_sessions; i++) {
        if (sessions[i].user && *sessions[i].user
            && (!newest || sessions[i].since > newest->since)) {
            newest = &sessions[i];
        }
    }
    free(h->reported_user);
    h->reported_user = xstrdup(newest ? newest->user : "");
    h->reported_since = newest ? newest->since : 0;
    h->reported_at = now;

    if (n_addrs > NAMING_MAX_ADDRS) {
        n_addrs = NAMING_MAX_ADDRS;
    }
    set_copy(&h->reported, addrs, n_addrs);
    if (!h->static_addrs) {
        apply_addrs(nm, h, &h->reported, false, "agent", now);
    }
    reconcile_user(nm, h, now);
    save(nm, h);
}

char *
naming_set(struct naming *nm, const char *uuid, const char *name,
           const char *user, const struct policy_addr *addrs, size_t n_addrs,
           const char *account, int64_t now)
{
    if (addrs) {
        for (size_t i = 0; i < n_addrs; i++) {
            const struct host *o = owner_of(nm, &addrs[i]);
            if (o && strcmp(o->uuid, uuid) && o->static_addrs) {
                char text[INET6_ADDRSTRLEN];
                return xasprintf("address %s is set on vm %s already; unset "
                                 "it there first",
                                 resolver_addr_text(&addrs[i], text),
                                 *o->name ? o->name : o->uuid);
            }
        }
        if (n_addrs > NAMING_MAX_ADDRS) {
            return xasprintf("at most %d addresses", NAMING_MAX_ADDRS);
        }
    }
    struct host *h = host_get(nm, uuid, name);
    char source[80];
    snprintf(source, sizeof source, "static:%s", account);
    if (addrs) {
        h->static_addrs = true;
        struct addr_set want = { (struct policy_addr *) addrs, n_addrs };
        apply_addrs(nm, h, &want, true, source, now);
    }
    if (user && strcmp(user, h->user)) {
        if (*h->user) {
            event(nm, h, "logout", h->user, NULL, source, now);
        }
        free(h->user);
        h->user = xstrdup(user);
        h->since = now;
        if (*user) {
            event(nm, h, "login", user, NULL, source, now);
        }
    }
    if (user) {
        h->static_user = true;
    }
    reconcile_user(nm, h, now);
    save(nm, h);
    return NULL;
}

bool
naming_unset(struct naming *nm, const char *uuid, bool user, bool addrs,
             const char *account, int64_t now)
{
    struct host *h = strmap_find(&nm->hosts, uuid);
    if (!h) {
        return false;
    }
    (void) account;
    if (addrs && h->static_addrs) {
        h->static_addrs = false;
        struct addr_set want;
        want.n = h->reported.n;
        want.v = h->reported.v;
        apply_addrs(nm, h, &want, false, "agent", now);
    }
    if (user && h->static_user) {
        h->static_user = false;
        reconcile_user(nm, h, now);
    }
    save(nm, h);
    return true;
}

bool
naming_remove(struct naming *nm, const char *uuid, const char *account,
              int64_t now)
{
    struct host *h = strmap_find(&nm->hosts, uuid);
    if (!h) {
        return false;
    }
    char source[80];
    snprintf(source, sizeof source, "static:%s", account);
    struct addr_set none = { NULL, 0 };
    apply_addrs(nm, h, &none, true, source, now);
    if (*h->user) {
        event(nm, h, "logout", h->user, NULL, source, now);
    }
    if (nm->store && store_naming_delete(nm->store, uuid)) {
        static struct log_rl rl = LOG_RL_INIT(6, 3);
        LOG_WARN_RL(&rl, "could not remove a naming entry: %s",
                    store_last_error(nm->store));
    }
    host_free(strmap_delete(&nm->hosts, uuid));
    return true;
}

const char *
naming_user_at(const struct naming *nm, const struct policy_addr *a,
               const char *uuid)
{
    const struct host *h = owner_of(nm, a);
    if (!h || (uuid && strcmp(uuid, h->uuid)) || !*h->user) {
        return NULL;
    }
    return h->user;
}

const char *
naming_user_of(const struct naming *nm, const char *uuid)
{
    const struct host *h = strmap_find(&nm->hosts, uuid);
    return h && *h->user ? h->user : NULL;
}

static int
compare_hosts(const void *a_, const void *b_)
{
    const struct host *const *a = a_, *const *b = b_;
    int c = strcmp((*a)->name, (*b)->name);
    return c ? c : strcmp((*a)->uuid, (*b)->uuid);
}

void
naming_list(const struct naming *nm, naming_cb *cb, void *aux)
{
    size_t n = 0;
    const struct host **v = xcalloc(strmap_count(&nm->hosts) + 1,
                                    sizeof *v);
    for (size_t i = 0; (i = strmap_next(&nm->hosts, i)) != SIZE_MAX; i++) {
        v[n++] = nm->hosts.nodes[i].data;
    }
    qsort(v, n, sizeof *v, compare_hosts);
    for (size_t i = 0; i < n; i++) {
        const struct host *h = v[i];
        struct naming_host_info info = {
            .uuid = h->uuid, .name = h->name, .user = h->user,
            .since = h->since, .addrs = h->addrs.v, .n_addrs = h->addrs.n,
            .static_user = h->static_user, .static_addrs = h->static_addrs,
            .waiting_user = (!h->static_user
                             && strcmp(h->user, h->reported_user)
                             && *h->reported_user) ? h->reported_user : NULL,
        };
        cb(&info, aux);
    }
    free(v);
}
