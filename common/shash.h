/* shash: a hash map from strings (copied) to pointers (not owned).
 * Open addressing with linear probing; deletion is by clearing the whole
 * map, which is how its users (batches flushed as a whole) work. */
#ifndef APPFW_SHASH_H
#define APPFW_SHASH_H 1

#include <stddef.h>
#include <stdint.h>

struct shash_node {
    char *key;                  /* NULL: an empty slot. */
    uint32_t hash;
    void *data;
};

struct shash {
    struct shash_node *nodes;
    size_t mask;                /* Slot count - 1, or 0 if none. */
    size_t n;
};

void shash_init(struct shash *);

/* Frees the keys; calls 'free_data' (may be NULL) on each value. */
void shash_destroy(struct shash *, void (*free_data)(void *));
void shash_clear(struct shash *, void (*free_data)(void *));

void *shash_find(const struct shash *, const char *key);

/* Adds 'key' -> 'data'; the key must not be present. */
void shash_add(struct shash *, const char *key, void *data);

/* Iteration: for (size_t i = 0; (i = shash_next(sh, i)) != SIZE_MAX;
 * i++) uses sh->nodes[i]. */
size_t shash_next(const struct shash *, size_t pos);

#endif /* shash.h */
