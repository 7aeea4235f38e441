#include "index.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/util.h"

/* Arrays of 2 MB and more are aligned for, and advised to use, transparent
 * huge pages: a preloaded index of a million signatures is scattered over
 * about 48 MB, and with 4 kB pages nearly every lookup would miss the
 * TLB. */
#define HUGE_PAGE (2u << 20)

static void *
index_alloc(size_t size)
{
    if (size < HUGE_PAGE) {
        return xmalloc(size);
    }
    void *p;
    size = (size + HUGE_PAGE - 1) & ~(size_t) (HUGE_PAGE - 1);
    if (posix_memalign(&p, HUGE_PAGE, size)) {
        return xmalloc(size);
    }
    madvise(p, size, MADV_HUGEPAGE);
    return p;
}

void
index_init(struct index *ix)
{
    memset(ix, 0, sizeof *ix);
}

void
index_destroy(struct index *ix)
{
    if (ix) {
        free(ix->slots);
        free(ix->entries);
        index_init(ix);
    }
}

void
index_clear(struct index *ix)
{
    if (ix->slots) {
        memset(ix->slots, 0, (ix->mask + 1) * sizeof *ix->slots);
    }
    ix->n = 0;
}

/* SHA-256 output is uniformly distributed: its first bytes are the hash. */
static size_t
index_hash(const uint8_t sha256[32])
{
    uint64_t h;
    memcpy(&h, sha256, sizeof h);
    return (size_t) h;
}

const struct index_entry *
index_find(const struct index *ix, const uint8_t sha256[32])
{
    if (!ix->slots) {
        return NULL;
    }
    for (size_t i = index_hash(sha256) & ix->mask; ; i = (i + 1) & ix->mask) {
        uint32_t s = ix->slots[i];
        if (!s) {
            return NULL;
        }
        const struct index_entry *e = &ix->entries[s - 1];
        if (!memcmp(e->sha256, sha256, 32)) {
            return e;
        }
    }
}

static void
index_insert_slot(struct index *ix, size_t entry)
{
    size_t i = index_hash(ix->entries[entry].sha256) & ix->mask;
    while (ix->slots[i]) {
        i = (i + 1) & ix->mask;
    }
    ix->slots[i] = (uint32_t) entry + 1;
}

static void
index_grow_slots(struct index *ix)
{
    size_t n_slots = ix->slots ? (ix->mask + 1) * 2 : 64;
    free(ix->slots);
    ix->slots = index_alloc(n_slots * sizeof *ix->slots);
    memset(ix->slots, 0, n_slots * sizeof *ix->slots);
    ix->mask = n_slots - 1;
    for (size_t i = 0; i < ix->n; i++) {
        index_insert_slot(ix, i);
    }
}

void
index_put(struct index *ix, const struct index_entry *e)
{
    struct index_entry *old = (struct index_entry *) index_find(ix, e->sha256);
    if (old) {
        *old = *e;
        return;
    }

    /* Keep the load factor at most 3/4. */
    if (!ix->slots || (ix->n + 1) * 4 > (ix->mask + 1) * 3) {
        index_grow_slots(ix);
    }
    if (ix->n >= ix->allocated) {
        ix->allocated = ix->allocated ? ix->allocated * 2 : 64;
        struct index_entry *entries = index_alloc(ix->allocated
                                                  * sizeof *entries);
        if (ix->n) {
            memcpy(entries, ix->entries, ix->n * sizeof *entries);
        }
        free(ix->entries);
        ix->entries = entries;
    }
    ix->entries[ix->n] = *e;
    index_insert_slot(ix, ix->n);
    ix->n++;
}
