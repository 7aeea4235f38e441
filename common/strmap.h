/* strmap: a hash map from strings, or byte strings of any length
 * (copied), to pointers (not owned).  The strmap_*() functions take
 * NUL-terminated keys, the strmap_*_mem() ones a pointer and a length: a
 * fixed-size struct, for example, needs no printing to be a key (its
 * padding, if any, must be left out or zeroed).  A map's keys should be
 * all of one kind.  Open addressing with linear probing; deletion shifts
 * the entries that follow back, so that no tombstones accumulate.  Keys
 * may be chosen by a guest: the hash is keyed (SipHash-1-3 under a key
 * drawn at random once per process), so nobody can choose keys that
 * collide, and iteration order differs from run to run. */
#ifndef APPFW_STRMAP_H
#define APPFW_STRMAP_H 1

#include <stddef.h>
#include <stdint.h>

struct strmap_node {
    char *key;                  /* NULL: an empty slot.  A string key
                                 * keeps its NUL, so it can be read as
                                 * a string. */
    uint32_t len;               /* Bytes in 'key' (with the NUL). */
    uint32_t hash;
    void *data;
};

struct strmap {
    struct strmap_node *nodes;
    size_t mask;                /* Slot count - 1, or 0 if none. */
    size_t n;
};

void strmap_init(struct strmap *);

/* Frees the keys; calls 'free_data' (may be NULL) on each value. */
void strmap_destroy(struct strmap *, void (*free_data)(void *));
void strmap_clear(struct strmap *, void (*free_data)(void *));

void *strmap_find(const struct strmap *, const char *key);

/* Adds 'key' -> 'data'; the key must not be present. */
void strmap_add(struct strmap *, const char *key, void *data);

/* Removes 'key' and returns its data, or NULL if it was absent. */
void *strmap_delete(struct strmap *, const char *key);

/* The same with the 'len' bytes at 'key' as the key. */
void *strmap_find_mem(const struct strmap *, const void *key, size_t len);
void strmap_add_mem(struct strmap *, const void *key, size_t len,
                    void *data);
void *strmap_delete_mem(struct strmap *, const void *key, size_t len);

static inline size_t
strmap_count(const struct strmap *sh)
{
    return sh->n;
}

/* SipHash-c-d of 'len' bytes at 'data' under key 'k' (maps use c=1,
 * d=3), exposed for its test against the reference vectors. */
uint64_t strmap_siphash(const uint64_t k[2], const void *data, size_t len,
                        int c, int d);

/* Iteration: for (size_t i = 0; (i = strmap_next(sh, i)) != SIZE_MAX;
 * i++) uses sh->nodes[i].  The map must not change meanwhile. */
size_t strmap_next(const struct strmap *, size_t pos);

#endif /* strmap.h */
