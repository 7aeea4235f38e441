/* index: an in-memory map from SHA-256 to a compact signature record, for
 * libappid's exact lookups.  Pure data structure: no SQLite, no I/O.
 *
 * Open addressing with linear probing over 32-bit slots that point into a
 * dense entry array, so a million signatures take about 48 MB.  A bounded
 * index (max_entries > 0) is the hot-entry cache: see appid.c. */
#ifndef APPID_INDEX_H
#define APPID_INDEX_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Record flags. */
#define INDEX_F_REASON 0x1      /* The signature has a reason text. */
#define INDEX_F_ABSENT 0x2      /* Negative entry: no such signature. */

struct index_entry {
    uint8_t sha256[32];
    uint32_t product_id;
    uint32_t path_key;          /* A keyed hash of the install path; 0 if
                                 * the signature has none (appid.c). */
    uint8_t trust;
    uint8_t threat;
    uint8_t flags;
};

struct index {
    uint32_t *slots;            /* 0: empty; else entry number + 1. */
    size_t mask;                /* Slot count - 1 (a power of 2 minus 1). */
    struct index_entry *entries;
    size_t n, allocated;
};

void index_init(struct index *);
void index_destroy(struct index *);
void index_clear(struct index *);

/* Returns the entry for 'sha256', or NULL. */
const struct index_entry *index_find(const struct index *,
                                     const uint8_t sha256[32]);

/* Inserts or overwrites the entry with e->sha256. */
void index_put(struct index *, const struct index_entry *e);

static inline size_t
index_count(const struct index *ix)
{
    return ix->n;
}

#endif /* index.h */
