#include "strmap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static uint32_t
strmap_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h = (h ^ (unsigned char) *s) * 16777619u;
    }
    return h;
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
strmap_find(const struct strmap *sh, const char *key)
{
    if (!sh->nodes) {
        return NULL;
    }
    uint32_t h = strmap_hash(key);
    for (size_t i = h & sh->mask; sh->nodes[i].key; i = (i + 1) & sh->mask) {
        if (sh->nodes[i].hash == h && !strcmp(sh->nodes[i].key, key)) {
            return sh->nodes[i].data;
        }
    }
    return NULL;
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
strmap_add(struct strmap *sh, const char *key, void *data)
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
        .key = xstrdup(key), .hash = strmap_hash(key), .data = data,
    };
    strmap_insert(sh->nodes, sh->mask, node);
    sh->n++;
}

void *
strmap_delete(struct strmap *sh, const char *key)
{
    if (!sh->nodes) {
        return NULL;
    }
    uint32_t h = strmap_hash(key);
    size_t i = h & sh->mask;
    for (; sh->nodes[i].key; i = (i + 1) & sh->mask) {
        if (sh->nodes[i].hash == h && !strcmp(sh->nodes[i].key, key)) {
            break;
        }
    }
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
