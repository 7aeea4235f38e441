/* appfw-secd's quota usage.  See quota.h. */
#include "quota.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/strmap.h"
#include "common/util.h"
#include "policy.h"
#include "store.h"

#define DAY_MS (24LL * 3600 * 1000)

/* One quota's day. */
struct usage {
    int64_t bytes;
    bool violated;
    char *rule;                 /* "quota:KIND:SUBJECT" */
};

/* The usage of each quota of 'policy', by its index, for one day: a new
 * day or another policy starts from nothing (secd recounts at once). */
struct quota {
    int64_t day;                /* UTC days since the epoch. */
    const struct policy *policy;
    struct usage *u;
    size_t n;
};

static void
reset(struct quota *qs, const struct policy *policy, int64_t day)
{
    for (size_t i = 0; i < qs->n; i++) {
        free(qs->u[i].rule);
    }
    free(qs->u);
    qs->n = policy ? policy_n_quotas(policy) : 0;
    qs->u = xcalloc(qs->n ? qs->n : 1, sizeof *qs->u);
    for (size_t i = 0; i < qs->n; i++) {
        const struct policy_quota *q = policy_quota_at(policy, i);
        qs->u[i].rule = xasprintf("quota:%s:%s",
                                  policy_quota_kind_name(q->kind),
                                  q->subject);
    }
    qs->policy = policy;
    qs->day = day;
}

/* The usage array for 'policy' on the day of 'now_ms'. */
static struct usage *
usage(struct quota *qs, const struct policy *policy, int64_t now_ms)
{
    int64_t day = now_ms / DAY_MS;
    if (day != qs->day || policy != qs->policy) {
        reset(qs, policy, day);
    }
    return qs->u;
}

struct quota *
quota_create(void)
{
    return xcalloc(1, sizeof (struct quota));
}

void
quota_destroy(struct quota *qs)
{
    if (qs) {
        reset(qs, NULL, 0);
        free(qs->u);
        free(qs);
    }
}

void
quota_day(int64_t now_ms, char day[11])
{
    time_t t = now_ms / 1000;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, 11, "%Y-%m-%d", &tm);
}

struct add_ctx {
    struct quota *qs;
    struct policy *policy;
    int64_t bytes, now_ms;
    int charges;                /* STORE_CHARGES_* */
    quota_violation_cb *cb;     /* NULL: mark only (rebuild). */
    void *aux;
};

/* The STORE_CHARGES_* bit of quotas of 'kind'. */
static int
charge_bit(enum policy_quota_kind kind)
{
    switch (kind) {
    case POLICY_QUOTA_USER:
    case POLICY_QUOTA_USER_GROUP:
        return STORE_CHARGES_USER;
    case POLICY_QUOTA_VM:
    case POLICY_QUOTA_VM_GROUP:
        return STORE_CHARGES_VM;
    case POLICY_QUOTA_APP:
        return STORE_CHARGES_APP;
    }
    return 0;
}

static void
add_one(size_t i, void *ctx_)
{
    struct add_ctx *c = ctx_;
    const struct policy_quota *q = policy_quota_at(c->policy, i);
    if (!(c->charges & charge_bit(q->kind))) {
        return;
    }
    struct usage *u = &c->qs->u[i];
    u->bytes = sat_add64(u->bytes, c->bytes);
    if (c->cb && !u->violated && u->bytes > q->bytes_per_day) {
        u->violated = true;
        char day[11];
        quota_day(c->now_ms, day);
        c->cb(q, u->bytes, day, c->aux);
    }
}

static void
for_traffic(struct policy *policy, const struct quota_traffic *t,
            void (*cb)(size_t, void *), void *aux)
{
    policy_quotas_for(policy, t->vm_uuid, t->vm_name, t->user, t->product,
                      t->path, cb, aux);
}

void
quota_add(struct quota *qs, struct policy *policy, int64_t now_ms,
          const struct quota_traffic *t, int64_t bytes, int charges,
          quota_violation_cb *cb, void *aux)
{
    if (!policy || bytes <= 0 || !charges || !policy_n_quotas(policy)) {
        return;
    }
    usage(qs, policy, now_ms);
    struct add_ctx c = {
        .qs = qs, .policy = policy, .bytes = bytes, .now_ms = now_ms,
        .charges = charges, .cb = cb, .aux = aux,
    };
    for_traffic(policy, t, add_one, &c);
}

static void
rebuild_row(const char *vm, const char *app, const char *user, int charges,
            int64_t bytes, void *ctx_)
{
    struct add_ctx *c = ctx_;
    c->charges = charges;
    /* Statistics name a VM by name (else uuid) and an application by
     * product (else hash or path): try both readings. */
    struct quota_traffic t = {
        .vm_uuid = vm, .vm_name = vm, .user = user, .product = app,
        .path = app,
    };
    c->bytes = bytes;
    if (bytes > 0) {
        for_traffic(c->policy, &t, add_one, c);
    }
}

static void
note_recorded(const struct store_violation *v, void *recorded)
{
    char *key = xasprintf("%s:%s", v->kind, v->subject);
    if (!strmap_find(recorded, key)) {
        strmap_add(recorded, key, NULL);
    }
    free(key);
}

void
quota_rebuild(struct quota *qs, struct policy *policy, struct store *store,
              int64_t now_ms, quota_violation_cb *cb, void *aux)
{
    reset(qs, policy, now_ms / DAY_MS);
    if (!qs->n) {
        return;
    }
    struct add_ctx c = { .qs = qs, .policy = policy, .now_ms = now_ms };
    store_stats_usage(store, qs->day * DAY_MS, rebuild_row, &c);

    /* Quotas passed already: those recorded today were reported then;
     * the others (a new or lowered quota) are reported now. */
    char day[11];
    quota_day(now_ms, day);
    struct strmap recorded;
    strmap_init(&recorded);
    store_quota_violations(store, day, note_recorded, &recorded);
    for (size_t i = 0; i < qs->n; i++) {
        const struct policy_quota *q = policy_quota_at(policy, i);
        struct usage *u = &qs->u[i];
        if (u->bytes > q->bytes_per_day) {
            u->violated = true;
            /* The recorded key is "KIND:SUBJECT": the rule's tail. */
            if (!strmap_find(&recorded, u->rule + strlen("quota:")) && cb) {
                cb(q, u->bytes, day, aux);
            }
        }
    }
    strmap_destroy(&recorded, NULL);
}

struct block_ctx {
    struct quota *qs;
    struct policy *policy;
    const struct policy_quota *hit;
    int64_t used;
    const char *rule;
};

static void
block_one(size_t i, void *ctx_)
{
    struct block_ctx *c = ctx_;
    const struct policy_quota *q = policy_quota_at(c->policy, i);
    if (!c->hit && q->block) {
        struct usage *u = &c->qs->u[i];
        if (u->bytes > q->bytes_per_day) {
            c->hit = q;
            c->used = u->bytes;
            c->rule = u->rule;
        }
    }
}

const char *
quota_blocks(struct quota *qs, struct policy *policy, int64_t now_ms,
             const struct quota_traffic *t, char *reason, size_t size)
{
    if (!policy || !policy_n_quotas(policy)) {
        return NULL;
    }
    usage(qs, policy, now_ms);
    struct block_ctx c = { .qs = qs, .policy = policy };
    for_traffic(policy, t, block_one, &c);
    if (!c.hit) {
        return NULL;
    }
    snprintf(reason, size, "the quota of %s \"%s\" is used up today: "
             "%"PRId64" bytes of %"PRId64" per day (the quota blocks)",
             policy_quota_kind_name(c.hit->kind), c.hit->subject, c.used,
             c.hit->bytes_per_day);
    return c.rule;
}

int64_t
quota_used(struct quota *qs, struct policy *policy, int64_t now_ms,
           size_t index)
{
    return index < policy_n_quotas(policy)
           ? usage(qs, policy, now_ms)[index].bytes : 0;
}
