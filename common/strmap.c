#include "strmap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* FNV-1a. */
static uint32_t
strmap_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

/* The slot that holds 'key' (hash 'h'), or the empty slot that ends its
 * run.  The map must have slots. */
static size_t
strmap_slot(const struct strmap *sh, const void *key, size_t len, uint32_t h)
{
    size_t i = h & sh->mask;
    for (; sh->nodes[i].key; i = (i + 1) & sh->mask) {
        const struct strmap_node *node = &sh->nodes[i];
        if (node->hash == h && node->len == len
            && !memcmp(node->key, key, len)) {
            break;
        }
    }
    return i;
}

void
strmap_init(struct strmap *sh)
{
    memset(sh, 0, sizeof *sh);
}

void
strmap_clear(struct strmap *sh, void (*free_data)(void *))
{
    for (size_t i = 0; sh->nodes && i <= sh->mask; i++) {
        if (sh->nodes[i].key) {
            free(sh->nodes[i].key);
            if (free_data) {
                free_data(sh->nodes[i].data);
            }
            sh->nodes[i].key = NULL;
        }
    }
    sh->n = 0;
}

void
strmap_destroy(struct strmap *sh, void (*free_data)(void *))
{
    if (sh) {
        strmap_clear(sh, free_data);
        free(sh->nodes);
        strmap_init(sh);
    }
}

void *
strmap_find_mem(const struct strmap *sh, const void *key, size_t len)
{
    if (!sh->nodes) {
        return NULL;
    }
    size_t i = strmap_slot(sh, key, len, strmap_hash(key, len));
    return sh->nodes[i].key ? sh->nodes[i].data : NULL;
}

void *
strmap_find(const struct strmap *sh, const char *key)
{
    return strmap_find_mem(sh, key, strlen(key) + 1);
}

static void
strmap_insert(struct strmap_node *nodes, size_t mask, struct strmap_node node)
{
    size_t i = node.hash & mask;
    while (nodes[i].key) {
        i = (i + 1) & mask;
    }
    nodes[i] = node;
}

void
strmap_add_mem(struct strmap *sh, const void *key, size_t len, void *data)
{
    if (!sh->nodes || (sh->n + 1) * 4 > (sh->mask + 1) * 3) {
        size_t n_slots = sh->nodes ? (sh->mask + 1) * 2 : 16;
        struct strmap_node *nodes = xcalloc(n_slots, sizeof *nodes);
        for (size_t i = 0; sh->nodes && i <= sh->mask; i++) {
            if (sh->nodes[i].key) {
                strmap_insert(nodes, n_slots - 1, sh->nodes[i]);
            }
        }
        free(sh->nodes);
        sh->nodes = nodes;
        sh->mask = n_slots - 1;
    }
    struct strmap_node node = {
        .key = xmalloc(len ? len : 1), .len = len,
        .hash = strmap_hash(key, len), .data = data,
    };
    memcpy(node.key, key, len);
    strmap_insert(sh->nodes, sh->mask, node);
    sh->n++;
}

void
strmap_add(struct strmap *sh, const char *key, void *data)
{
    strmap_add_mem(sh, key, strlen(key) + 1, data);
}

void *
strmap_delete_mem(struct strmap *sh, const void *key, size_t len)
{
    if (!sh->nodes) {
        return NULL;
    }
    size_t i = strmap_slot(sh, key, len, strmap_hash(key, len));
    if (!sh->nodes[i].key) {
        return NULL;
    }
    void *data = sh->nodes[i].data;
    free(sh->nodes[i].key);
    sh->nodes[i].key = NULL;
    sh->n--;
    /* Moves back each following entry of the run that the hole now cuts
     * off from its home slot. */
    for (size_t j = (i + 1) & sh->mask; sh->nodes[j].key;
         j = (j + 1) & sh->mask) {
        size_t home = sh->nodes[j].hash & sh->mask;
        /* The entry stays if its home lies cyclically in (i, j]. */
        bool stays = (i <= j ? (home > i && home <= j)
                      : (home > i || home <= j));
        if (!stays) {
            sh->nodes[i] = sh->nodes[j];
            sh->nodes[j].key = NULL;
            i = j;
        }
    }
    return data;
}

void *
strmap_delete(struct strmap *sh, const char *key)
{
    return strmap_delete_mem(sh, key, strlen(key) + 1);
}

size_t
strmap_next(const struct strmap *sh, size_t pos)
{
    for (; sh->nodes && pos <= sh->mask; pos++) {
        if (sh->nodes[pos].key) {
            return pos;
        }
    }
    return SIZE_MAX;
}
