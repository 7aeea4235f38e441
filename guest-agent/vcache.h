/* vcache: the agent's verdict cache.
 *
 * Every socket event the agent intercepts (connect(), listen(), ...) is
 * first looked up here; only a miss costs a round trip to the security VM.
 * A verdict is cached under the key of the event that asked for it (the
 * application (its executable's hash, path and kind), uid, event,
 * protocol, direction and remote address/port) for the TTL the security VM gave (0: not cached).
 *
 * The cache is bounded: when it holds 'max_entries', inserting another
 * evicts the least recently used entry (a hit or a put makes an entry the
 * most recently used).  Lookups and inserts are O(1): a chained hash table
 * with a per-cache random seed (a hostile process in the guest picks the
 * remote addresses and ports, so it must not be able to aim for one
 * chain) and a doubly linked LRU list.  Expired entries are never returned;
 * they are dropped when looked up or when they reach the end of the LRU
 * list, never by scanning.
 *
 * Time is given by the caller (milliseconds on any monotonic clock), so the
 * module is pure and its tests are deterministic.
 *
 * Neighbours: lpolicy.h (the rules the agent evaluates itself when the
 * security VM cannot be reached) shares enum vcache_event; the agent's
 * channel code fills keys from intercepted events and verdicts from
 * "verdict" messages (docs/protocol.md). */
#ifndef APPFW_VCACHE_H
#define APPFW_VCACHE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Socket events, in the order of the protocol's "event" enumeration. */
enum vcache_event {
    VC_CONNECT,
    VC_LISTEN,
    VC_ACCEPT,
    VC_SEND,
    VC_CLOSE,
    VC_N_EVENTS
};

/* "connect", "listen", ...; NULL for an out of range value. */
const char *vcache_event_name(enum vcache_event);
bool vcache_event_from_name(const char *, enum vcache_event *);

/* Values of vcache_key.direction. */
#define VCACHE_OUTBOUND 0
#define VCACHE_INBOUND 1

/* What a verdict is cached under.  A plain struct the agent fills; the
 * cache copies it, hashes and compares it field by field (padding and, for
 * AF_INET, addr[4..15] are ignored), so it need not be zeroed first. */
struct vcache_key {
    uint8_t app[32];         /* The application: a SHA-256 of the
                              * executable's hash, its path and whether it
                              * is deleted or a memfd (agent.c), so that
                              * copies of one binary under other paths do
                              * not share verdicts; all zero when the
                              * executable is unknown. */
    uint32_t uid;
    uint8_t event;           /* enum vcache_event. */
    uint8_t protocol;        /* IPPROTO_TCP, IPPROTO_UDP, ... */
    uint8_t direction;       /* VCACHE_OUTBOUND or VCACHE_INBOUND. */
    uint8_t family;          /* AF_INET, AF_INET6, or 0 when there is no
                              * remote (listen). */
    uint8_t addr[16];        /* Remote address, network order; IPv4 in the
                              * first 4 bytes. */
    uint16_t port;           /* Remote port, host order. */
};

enum vcache_granularity {
    VCACHE_EXACT,            /* The 5-tuple (the protocol's default). */
    VCACHE_SERVICE           /* VM, protocol, remote address and port. */
};

/* A verdict as the security VM gave it. */
struct vcache_verdict {
    bool allow;
    bool log;
    bool notify;
    enum vcache_granularity granularity;
    const char *rule;        /* The deciding rule's id; NULL when a default
                              * decided. */
};

/* The longest TTL the cache honours, in seconds (the protocol's maximum);
 * longer ones are shortened to it. */
#define VCACHE_TTL_MAX 86400

struct vcache_stats {
    uint64_t hits;           /* vcache_get() found a live entry. */
    uint64_t misses;         /* ... did not (including expired entries). */
    uint64_t evictions;      /* Live entries dropped to make room. */
    uint64_t expirations;    /* Expired entries dropped (when looked up or
                              * when they were due for eviction). */
    uint64_t flushes;        /* vcache_flush() and version changes. */
    size_t entries;          /* Entries held now (some may have expired). */
    size_t max_entries;
};

/* Creates an empty cache of at most 'max_entries' entries (capped at
 * 2^20; the hash table is allocated up front, 8 bytes an entry).  0 makes a
 * cache that stores nothing (every lookup misses). */
struct vcache *vcache_create(size_t max_entries);
void vcache_destroy(struct vcache *);

/* Returns the verdict cached for 'key' if there is one that has not expired
 * at 'now_ms', and makes it the most recently used; otherwise NULL.  An
 * entry stored at time T with a TTL of S seconds is returned while
 * now_ms < T + 1000 * S: at exactly T + 1000 * S it has expired.
 *
 * The verdict (and its rule string) belongs to the cache and stays valid
 * until the next vcache_put(), vcache_remove(), vcache_flush(),
 * vcache_set_policy_version() or vcache_destroy(); other lookups do not
 * invalidate it. */
const struct vcache_verdict *vcache_get(struct vcache *,
                                        const struct vcache_key *,
                                        long long now_ms);

/* Caches a copy of 'verdict' (and of its rule string) for 'key', for
 * 'ttl_s' seconds from 'now_ms', replacing any entry for the same key.
 * With 'ttl_s' 0 nothing is cached and an existing entry for 'key' is
 * removed: the security VM no longer vouches for it.  When the cache is
 * full the least recently used entry is evicted. */
void vcache_put(struct vcache *, const struct vcache_key *,
                const struct vcache_verdict *verdict, unsigned int ttl_s,
                long long now_ms);

/* Removes the entry for 'key', if any.  Returns true if there was one. */
bool vcache_remove(struct vcache *, const struct vcache_key *);

/* Removes every entry. */
void vcache_flush(struct vcache *);

/* Records the version of the security VM's policy the cached verdicts come
 * from.  If a version was recorded before and 'version' differs from it,
 * flushes the cache first (the policy changed, so may the verdicts) and
 * returns true; otherwise returns false. */
bool vcache_set_policy_version(struct vcache *, uint64_t version);

/* The version last recorded; false if none was. */
bool vcache_get_policy_version(const struct vcache *, uint64_t *version);

void vcache_get_stats(const struct vcache *, struct vcache_stats *);

#endif /* vcache.h */
