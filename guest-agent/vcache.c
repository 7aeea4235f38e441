/* The agent's verdict cache.  See vcache.h. */
#include "vcache.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "common/util.h"

/* Caches larger than this are made this large: the bucket array is
 * allocated up front (8 bytes a slot). */
#define VCACHE_MAX_ENTRIES ((size_t) 1 << 20)

#define VCACHE_MIN(A, B) ((A) < (B) ? (A) : (B))

#define VCACHE_CONTAINER_OF(PTR, TYPE, MEMBER) \
    ((TYPE *) (void *) ((char *) (PTR) - offsetof(TYPE, MEMBER)))

struct vcache_lru {
    struct vcache_lru *prev;    /* Towards the most recently used. */
    struct vcache_lru *next;    /* Towards the least recently used. */
};

struct vcache_entry {
    struct vcache_lru lru;
    struct vcache_entry *chain; /* Next in the same bucket. */
    uint64_t hash;
    struct vcache_key key;      /* Canonical: see vcache_key_canon(). */
    long long expires_ms;       /* Expired when now_ms >= expires_ms. */
    struct vcache_verdict verdict;  /* 'rule' points to 'rule_buf'. */
    char rule_buf[];
};

struct vcache {
    struct vcache_entry **buckets;
    size_t mask;                /* Bucket count - 1. */
    size_t n;
    size_t max;
    struct vcache_lru lru;      /* lru.next: the most recently used entry;
                                 * lru.prev: the least. */
    uint64_t seed[2];           /* SipHash key. */
    bool has_version;
    uint64_t version;
    struct vcache_stats stats;
};

static const char *const event_names[VC_N_EVENTS] = {
    [VC_CONNECT] = "connect",
    [VC_LISTEN] = "listen",
    [VC_ACCEPT] = "accept",
    [VC_SEND] = "send",
    [VC_CLOSE] = "close",
};

const char *
vcache_event_name(enum vcache_event event)
{
    return (unsigned int) event < VC_N_EVENTS ? event_names[event] : NULL;
}

bool
vcache_event_from_name(const char *name, enum vcache_event *event)
{
    for (int i = 0; i < VC_N_EVENTS; i++) {
        if (!strcmp(name, event_names[i])) {
            *event = i;
            return true;
        }
    }
    return false;
}

/* Hashing: SipHash-1-3 with a random key over the key's fields, so that a
 * process in the guest, which chooses remote addresses and ports, cannot
 * compute colliding keys. */

static inline uint64_t
rotl64(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline void
sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl64(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl64(v[0], 32);
    v[2] += v[3];
    v[3] = rotl64(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl64(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl64(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl64(v[2], 32);
}

static inline void
sip_word(uint64_t v[4], uint64_t m)
{
    v[3] ^= m;
    sip_round(v);
    v[0] ^= m;
}

static uint64_t
vcache_hash(const struct vcache *vc, const struct vcache_key *k)
{
    uint64_t v[4] = {
        vc->seed[0] ^ UINT64_C(0x736f6d6570736575),
        vc->seed[1] ^ UINT64_C(0x646f72616e646f6d),
        vc->seed[0] ^ UINT64_C(0x6c7967656e657261),
        vc->seed[1] ^ UINT64_C(0x7465646279746573),
    };
    uint64_t w[6];

    memcpy(w, k->app, 32);
    memcpy(&w[4], k->addr, 16);
    for (size_t i = 0; i < ARRAY_SIZE(w); i++) {
        sip_word(v, w[i]);
    }
    sip_word(v, (uint64_t) k->uid
                | (uint64_t) k->port << 32
                | (uint64_t) k->event << 48
                | (uint64_t) k->protocol << 56);
    sip_word(v, (uint64_t) k->direction
                | (uint64_t) k->family << 8
                | (uint64_t) 64 << 56);   /* The length, as SipHash does. */
    v[2] ^= 0xff;
    for (int i = 0; i < 3; i++) {
        sip_round(v);
    }
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* Copies 'src' into 'dst' field by field, with zeroed padding and, for
 * AF_INET, a zeroed addr[4..15]. */
static void
vcache_key_canon(struct vcache_key *dst, const struct vcache_key *src)
{
    memset(dst, 0, sizeof *dst);
    memcpy(dst->app, src->app, sizeof dst->app);
    dst->uid = src->uid;
    dst->event = src->event;
    dst->protocol = src->protocol;
    dst->direction = src->direction;
    dst->family = src->family;
    memcpy(dst->addr, src->addr, src->family == AF_INET ? 4 : 16);
    dst->port = src->port;
}

static bool
vcache_key_equal(const struct vcache_key *a, const struct vcache_key *b)
{
    return (a->uid == b->uid
            && a->port == b->port
            && a->event == b->event
            && a->protocol == b->protocol
            && a->direction == b->direction
            && a->family == b->family
            && !memcmp(a->addr, b->addr, sizeof a->addr)
            && !memcmp(a->app, b->app, sizeof a->app));
}

static void
vcache_seed(struct vcache *vc)
{
    if (getrandom(vc->seed, sizeof vc->seed, GRND_NONBLOCK)
        != (ssize_t) sizeof vc->seed) {
        /* No entropy yet (early boot): weaker, but still per process. */
        vc->seed[0] = (uint64_t) time_mono_ms() ^ (uintptr_t) vc;
        vc->seed[1] = (uint64_t) time_wall_ms() ^ (uintptr_t) &vc;
    }
}

static void vcache_clear(struct vcache *);

struct vcache *
vcache_create(size_t max_entries)
{
    struct vcache *vc = xcalloc(1, sizeof *vc);

    vc->max = VCACHE_MIN(max_entries, VCACHE_MAX_ENTRIES);
    size_t n_buckets = 1;
    while (n_buckets < vc->max) {
        n_buckets *= 2;
    }
    vc->buckets = xcalloc(n_buckets, sizeof *vc->buckets);
    vc->mask = n_buckets - 1;
    vc->lru.next = vc->lru.prev = &vc->lru;
    vcache_seed(vc);
    return vc;
}

void
vcache_destroy(struct vcache *vc)
{
    if (vc) {
        vcache_clear(vc);
        free(vc->buckets);
        free(vc);
    }
}

static void
lru_unlink(struct vcache_lru *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
}

static void
lru_push_front(struct vcache *vc, struct vcache_lru *node)
{
    node->prev = &vc->lru;
    node->next = vc->lru.next;
    vc->lru.next->prev = node;
    vc->lru.next = node;
}

/* Returns the entry for canonical key 'key' with hash 'hash', and in
 * '*slotp' the pointer that points to it. */
static struct vcache_entry *
vcache_find(const struct vcache *vc, const struct vcache_key *key,
            uint64_t hash, struct vcache_entry ***slotp)
{
    struct vcache_entry **slot = &vc->buckets[hash & vc->mask];
    for (struct vcache_entry *e; (e = *slot) != NULL; slot = &e->chain) {
        if (e->hash == hash && vcache_key_equal(&e->key, key)) {
            *slotp = slot;
            return e;
        }
    }
    return NULL;
}

/* Unlinks and frees 'e', which '*slot' points to. */
static void
vcache_delete(struct vcache *vc, struct vcache_entry **slot,
              struct vcache_entry *e)
{
    *slot = e->chain;
    lru_unlink(&e->lru);
    vc->n--;
    free(e);
}

/* Drops the least recently used entry to make room. */
static void
vcache_evict(struct vcache *vc, long long now_ms)
{
    struct vcache_entry *e = VCACHE_CONTAINER_OF(vc->lru.prev,
                                                 struct vcache_entry, lru);
    struct vcache_entry **slot;
    struct vcache_entry *found = vcache_find(vc, &e->key, e->hash, &slot);

    if (!found) {
        abort();                /* The table and the list disagree. */
    }
    if (now_ms >= e->expires_ms) {
        vc->stats.expirations++;
    } else {
        vc->stats.evictions++;
    }
    vcache_delete(vc, slot, e);
}

const struct vcache_verdict *
vcache_get(struct vcache *vc, const struct vcache_key *key_, long long now_ms)
{
    struct vcache_key key;
    vcache_key_canon(&key, key_);
    uint64_t hash = vcache_hash(vc, &key);

    struct vcache_entry **slot;
    struct vcache_entry *e = vcache_find(vc, &key, hash, &slot);
    if (!e) {
        vc->stats.misses++;
        return NULL;
    }
    if (now_ms >= e->expires_ms) {
        vcache_delete(vc, slot, e);
        vc->stats.expirations++;
        vc->stats.misses++;
        return NULL;
    }
    lru_unlink(&e->lru);
    lru_push_front(vc, &e->lru);
    vc->stats.hits++;
    return &e->verdict;
}

void
vcache_put(struct vcache *vc, const struct vcache_key *key_,
           const struct vcache_verdict *verdict, unsigned int ttl_s,
           long long now_ms)
{
    struct vcache_key key;
    vcache_key_canon(&key, key_);
    uint64_t hash = vcache_hash(vc, &key);

    struct vcache_entry **slot;
    struct vcache_entry *old = vcache_find(vc, &key, hash, &slot);
    if (old) {
        vcache_delete(vc, slot, old);
    }
    if (!ttl_s || !vc->max) {
        return;
    }
    if (vc->n >= vc->max) {
        vcache_evict(vc, now_ms);
    }

    size_t rule_len = verdict->rule ? strlen(verdict->rule) + 1 : 0;
    struct vcache_entry *e = xmalloc(sizeof *e + rule_len);
    e->hash = hash;
    e->key = key;

    long long ttl_ms = (long long) VCACHE_MIN(ttl_s, VCACHE_TTL_MAX) * 1000;
    e->expires_ms = (now_ms > LLONG_MAX - ttl_ms
                     ? LLONG_MAX : now_ms + ttl_ms);

    e->verdict = *verdict;
    if (verdict->rule) {
        memcpy(e->rule_buf, verdict->rule, rule_len);
        e->verdict.rule = e->rule_buf;
    }

    struct vcache_entry **bucket = &vc->buckets[hash & vc->mask];
    e->chain = *bucket;
    *bucket = e;
    lru_push_front(vc, &e->lru);
    vc->n++;
}

bool
vcache_remove(struct vcache *vc, const struct vcache_key *key_)
{
    struct vcache_key key;
    vcache_key_canon(&key, key_);

    struct vcache_entry **slot;
    struct vcache_entry *e = vcache_find(vc, &key, vcache_hash(vc, &key),
                                         &slot);
    if (e) {
        vcache_delete(vc, slot, e);
        return true;
    }
    return false;
}

static void
vcache_clear(struct vcache *vc)
{
    struct vcache_lru *node = vc->lru.next;
    while (node != &vc->lru) {
        struct vcache_lru *next = node->next;
        free(VCACHE_CONTAINER_OF(node, struct vcache_entry, lru));
        node = next;
    }
    vc->lru.next = vc->lru.prev = &vc->lru;
    memset(vc->buckets, 0, (vc->mask + 1) * sizeof *vc->buckets);
    vc->n = 0;
}

void
vcache_flush(struct vcache *vc)
{
    vcache_clear(vc);
    vc->stats.flushes++;
}

bool
vcache_set_policy_version(struct vcache *vc, uint64_t version)
{
    bool changed = vc->has_version && vc->version != version;
    if (changed) {
        vcache_flush(vc);
    }
    vc->has_version = true;
    vc->version = version;
    return changed;
}

bool
vcache_get_policy_version(const struct vcache *vc, uint64_t *version)
{
    if (vc->has_version) {
        *version = vc->version;
    }
    return vc->has_version;
}

void
vcache_get_stats(const struct vcache *vc, struct vcache_stats *stats)
{
    *stats = vc->stats;
    stats->entries = vc->n;
    stats->max_entries = vc->max;
}
