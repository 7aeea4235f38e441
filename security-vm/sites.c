/* sites: the addresses of the policy's site names (see sites.h). */
#include "sites.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strmap.h"
#include "common/util.h"
#include "resolver.h"
#include "store.h"

LOG_MODULE(sites);

/* Seconds between lookups of a name that does not resolve. */
#define RETRY_S 60

/* How long to wait when the resolver's queue is full. */
#define FULL_BACKOFF_MS 1000

struct site {
    char *name;
    struct policy_addr *addrs;
    size_t n;
    int64_t resolved_ms;        /* 0: never. */
    char *error;
    int64_t next_ms;            /* Next lookup due. */
    bool queued;
};

struct sites {
    struct store *store;
    struct resolver *resolver;
    int64_t interval_ms;
    struct strmap names;        /* Name -> struct site. */
    struct strmap by_addr;      /* Address text -> name (not owned): the
                                 * smallest name with that address. */
    int64_t next_due_ms;        /* No lookup is due before this. */
};

static void
site_free(void *s_)
{
    struct site *s = s_;
    free(s->name);
    free(s->addrs);
    free(s->error);
    free(s);
}

/* Indexes 'name' under each of its addresses. */
static void
index_add(struct sites *ss, const struct site *s)
{
    for (size_t j = 0; j < s->n; j++) {
        char text[INET6_ADDRSTRLEN];
        resolver_addr_text(&s->addrs[j], text);
        const char *have = strmap_find(&ss->by_addr, text);
        if (!have || strcmp(s->name, have) < 0) {
            strmap_delete(&ss->by_addr, text);
            strmap_add(&ss->by_addr, text, s->name);
        }
    }
}

/* Removes 's''s addresses from the index, giving each to another name
 * that has it, if any (rare: names seldom share addresses). */
static void
index_remove(struct sites *ss, const struct site *s)
{
    bool shared = false;
    for (size_t j = 0; j < s->n; j++) {
        char text[INET6_ADDRSTRLEN];
        resolver_addr_text(&s->addrs[j], text);
        if (strmap_find(&ss->by_addr, text) == s->name) {
            strmap_delete(&ss->by_addr, text);
            shared = true;
        }
    }
    if (!shared) {
        return;
    }
    for (size_t i = 0; (i = strmap_next(&ss->names, i)) != SIZE_MAX; i++) {
        const struct site *o = ss->names.nodes[i].data;
        if (o != s) {
            for (size_t j = 0; j < o->n; j++) {
                for (size_t k = 0; k < s->n; k++) {
                    if (!memcmp(&o->addrs[j], &s->addrs[k],
                                sizeof o->addrs[j])) {
                        index_add(ss, o);
                        break;
                    }
                }
            }
        }
    }
}

static void
index_all(struct sites *ss)
{
    strmap_clear(&ss->by_addr, NULL);
    for (size_t i = 0; (i = strmap_next(&ss->names, i)) != SIZE_MAX; i++) {
        index_add(ss, ss->names.nodes[i].data);
    }
}

static void
set_addrs(struct site *s, const struct policy_addr *addrs, size_t n)
{
    free(s->addrs);
    s->addrs = NULL;
    if (n) {
        s->addrs = xmalloc(n * sizeof *addrs);
        memcpy(s->addrs, addrs, n * sizeof *addrs);
    }
    s->n = n;
}

/* Whether 'a' (of 'na') and 'b' (of 'nb') hold the same addresses, in
 * whatever order.  (A name has a few addresses: quadratic is fine.) */
static bool
same_addrs(const struct policy_addr *a, size_t na,
           const struct policy_addr *b, size_t nb)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < na; i++) {
            bool found = false;
            for (size_t k = 0; k < nb && !found; k++) {
                found = !memcmp(&a[i], &b[k], sizeof a[i]);
            }
            if (!found) {
                return false;
            }
        }
        const struct policy_addr *t = a;
        size_t nt = na;
        a = b, na = nb, b = t, nb = nt;
    }
    return true;
}

/* A saved site, until the policy says whether it still names it. */
static void
load_one(const char *name, const char *addresses, int64_t resolved_ms,
         const char *error, void *ss_)
{
    struct sites *ss = ss_;
    if (strmap_find(&ss->names, name)) {
        return;
    }
    struct site *s = xcalloc(1, sizeof *s);
    s->name = xstrdup(name);
    s->resolved_ms = resolved_ms;
    s->error = *error ? xstrdup(error) : NULL;
    struct policy_addr addrs[RESOLVER_MAX_ADDRS];
    size_t n = 0;
    char *copy = xstrdup(addresses), *save = NULL;
    for (char *t = strtok_r(copy, " ", &save); t && n < RESOLVER_MAX_ADDRS;
         t = strtok_r(NULL, " ", &save)) {
        if (policy_addr_parse(t, &addrs[n])) {
            n++;
        }
    }
    free(copy);
    set_addrs(s, addrs, n);
    /* Looked up again when due, counted from the saved time. */
    s->next_ms = resolved_ms + ss->interval_ms;
    if (s->error || !resolved_ms) {
        s->next_ms = 0;
    }
    strmap_add(&ss->names, name, s);
}

struct sites *
sites_create(struct store *store, struct resolver *resolver, int interval_s)
{
    struct sites *ss = xcalloc(1, sizeof *ss);
    ss->store = store;
    ss->resolver = resolver;
    ss->interval_ms = (int64_t) (interval_s > 0 ? interval_s : 86400) * 1000;
    strmap_init(&ss->names);
    strmap_init(&ss->by_addr);
    if (store && store_site_load(store, load_one, ss)) {
        LOG_WARN("could not load the saved sites: %s",
                 store_last_error(store));
    }
    index_all(ss);
    return ss;
}

void
sites_destroy(struct sites *ss)
{
    if (ss) {
        strmap_destroy(&ss->by_addr, NULL);
        strmap_destroy(&ss->names, site_free);
        free(ss);
    }
}

void
sites_sync(struct sites *ss, const struct policy *p)
{
    struct strmap keep;
    strmap_init(&keep);
    size_t n = p ? policy_n_site_names(p) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = policy_site_name_at(p, i);
        struct site *s = strmap_delete(&ss->names, name);
        if (!s) {
            s = xcalloc(1, sizeof *s);
            s->name = xstrdup(name);
        }
        if (!strmap_find(&keep, name)) {
            strmap_add(&keep, name, s);
        } else {
            site_free(s);
        }
    }
    strmap_destroy(&ss->by_addr, NULL);
    strmap_init(&ss->by_addr);
    strmap_destroy(&ss->names, site_free);
    ss->names = keep;
    index_all(ss);
    ss->next_due_ms = 0;
}

void
sites_run(struct sites *ss, int64_t now_ms)
{
    if (now_ms < ss->next_due_ms) {
        return;
    }
    int64_t next = INT64_MAX;
    for (size_t i = 0; (i = strmap_next(&ss->names, i)) != SIZE_MAX; i++) {
        struct site *s = ss->names.nodes[i].data;
        if (s->queued) {
            continue;
        }
        if (s->next_ms <= now_ms) {
            if (resolver_forward(ss->resolver, s->name) == RESOLVER_FULL) {
                /* The rest wait until the queue has room. */
                next = now_ms + FULL_BACKOFF_MS;
                break;
            }
            s->queued = true;
        } else if (s->next_ms < next) {
            next = s->next_ms;
        }
    }
    ss->next_due_ms = next;
}

int64_t
sites_next_ms(const struct sites *ss)
{
    return ss->next_due_ms;
}

bool
sites_answer(struct sites *ss, const char *name,
             const struct policy_addr *addrs, size_t n, const char *error,
             int64_t now_ms)
{
    struct site *s = strmap_find(&ss->names, name);
    if (!s) {
        return false;
    }
    s->queued = false;
    bool changed = false;
    free(s->error);
    s->error = error ? xstrdup(error) : NULL;
    if (error) {
        /* Keeps the last addresses it had, if any; tries again soon. */
        int64_t retry = RETRY_S * 1000LL;
        s->next_ms = now_ms + (retry < ss->interval_ms ? retry
                                                       : ss->interval_ms);
        static struct log_rl rl = LOG_RL_INIT(6, 3);
        LOG_WARN_RL(&rl, "site name=%s does not resolve: %s", name, error);
    } else {
        changed = !same_addrs(s->addrs, s->n, addrs, n);
        index_remove(ss, s);
        set_addrs(s, addrs, n);
        index_add(ss, s);
        s->resolved_ms = now_ms;
        s->next_ms = now_ms + ss->interval_ms;
        LOG_INFO("site name=%s resolved addresses=%zu", name, n);
    }
    if (s->next_ms < ss->next_due_ms) {
        ss->next_due_ms = s->next_ms;
    }

    char *text = xcalloc(s->n + 1, INET6_ADDRSTRLEN + 1);
    for (size_t i = 0; i < s->n; i++) {
        char one[INET6_ADDRSTRLEN];
        if (i) {
            strcat(text, " ");
        }
        strcat(text, resolver_addr_text(&s->addrs[i], one));
    }
    if (ss->store && store_site_put(ss->store, name, text, s->resolved_ms,
                                    s->error)) {
        static struct log_rl rl = LOG_RL_INIT(6, 3);
        LOG_WARN_RL(&rl, "could not save site %s: %s", name,
                    store_last_error(ss->store));
    }
    free(text);
    return changed;
}

void
sites_refresh(struct sites *ss)
{
    for (size_t i = 0; (i = strmap_next(&ss->names, i)) != SIZE_MAX; i++) {
        struct site *s = ss->names.nodes[i].data;
        s->next_ms = 0;
    }
    ss->next_due_ms = 0;
}

bool
sites_has_addr(const char *name, const struct policy_addr *addr, void *aux)
{
    const struct sites *ss = aux;
    const struct site *s = strmap_find(&ss->names, name);
    for (size_t i = 0; s && i < s->n; i++) {
        if (!memcmp(&s->addrs[i], addr, sizeof *addr)) {
            return true;
        }
    }
    return false;
}

const char *
sites_name_of(const struct sites *ss, const struct policy_addr *addr)
{
    char text[INET6_ADDRSTRLEN];
    return strmap_find(&ss->by_addr, resolver_addr_text(addr, text));
}

static int
compare_names(const void *a_, const void *b_)
{
    const struct site *const *a = a_, *const *b = b_;
    return strcmp((*a)->name, (*b)->name);
}

void
sites_list(const struct sites *ss, sites_cb *cb, void *aux)
{
    size_t n = 0;
    const struct site **v = xcalloc(strmap_count(&ss->names) + 1,
                                    sizeof *v);
    for (size_t i = 0; (i = strmap_next(&ss->names, i)) != SIZE_MAX; i++) {
        v[n++] = ss->names.nodes[i].data;
    }
    qsort(v, n, sizeof *v, compare_names);
    for (size_t i = 0; i < n; i++) {
        cb(v[i]->name, v[i]->addrs, v[i]->n, v[i]->resolved_ms,
           v[i]->error, aux);
    }
    free(v);
}
