/* strmap: a hash map from strings (copied) to pointers (not owned).
 * Open addressing with linear probing; deletion shifts the entries that
 * follow back, so that no tombstones accumulate. */
#ifndef APPFW_STRMAP_H
#define APPFW_STRMAP_H 1

#include <stddef.h>
#include <stdint.h>

struct strmap_node {
    char *key;                  /* NULL: an empty slot. */
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

static inline size_t
strmap_count(const struct strmap *sh)
{
    return sh->n;
}

/* Iteration: for (size_t i = 0; (i = strmap_next(sh, i)) != SIZE_MAX;
 * i++) uses sh->nodes[i].  The map must not change meanwhile. */
size_t strmap_next(const struct strmap *, size_t pos);

#endif /* strmap.h */
