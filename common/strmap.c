#include "strmap.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Keys come from guests, and with a fixed hash function a guest could
 * choose keys that all land in one run of slots, making every operation
 * on the map a scan of it.  So the hash is SipHash-1-3 (a keyed hash made
 * for this) under a key drawn at random once per process. */
static uint64_t sip_key[2];
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void
sip_seed(void)
{
    /* Never blocks: a guest's agent starts early in boot, before the
     * kernel's pool is ready, and GRND_INSECURE is still unpredictable
     * to a guest's users. */
    if (getrandom(sip_key, sizeof sip_key, GRND_NONBLOCK) != sizeof sip_key
        && getrandom(sip_key, sizeof sip_key, GRND_INSECURE)
           != sizeof sip_key) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        sip_key[0] = (uint64_t) ts.tv_nsec << 32 ^ (uint64_t) ts.tv_sec;
        sip_key[1] = (uint64_t) getpid() << 32 ^ (uintptr_t) &ts;
    }
}

static inline uint64_t
rotl64(uint64_t x, int b)
{
    return x << b | x >> (64 - b);
}

#define SIP_ROUND(V0, V1, V2, V3)                                  \
    do {                                                           \
        V0 += V1; V1 = rotl64(V1, 13); V1 ^= V0; V0 = rotl64(V0, 32); \
        V2 += V3; V3 = rotl64(V3, 16); V3 ^= V2;                   \
        V0 += V3; V3 = rotl64(V3, 21); V3 ^= V0;                   \
        V2 += V1; V1 = rotl64(V1, 17); V1 ^= V2; V2 = rotl64(V2, 32); \
    } while (0)

/* SipHash-c-d of 'len' bytes at 'key', under 'k': 'c' rounds a word,
 * 'd' to finish. */
static uint64_t
siphash(const uint64_t k[2], const void *key, size_t len, int c, int d)
{
    uint64_t v0 = k[0] ^ UINT64_C(0x736f6d6570736575);
    uint64_t v1 = k[1] ^ UINT64_C(0x646f72616e646f6d);
    uint64_t v2 = k[0] ^ UINT64_C(0x6c7967656e657261);
    uint64_t v3 = k[1] ^ UINT64_C(0x7465646279746573);
    const unsigned char *p = key;
    size_t left = len;
    for (; left >= 8; p += 8, left -= 8) {
        uint64_t m = 0;
        for (int i = 7; i >= 0; i--) {
            m = m << 8 | p[i];                  /* Little-endian. */
        }
        v3 ^= m;
        for (int r = 0; r < c; r++) {
            SIP_ROUND(v0, v1, v2, v3);
        }
        v0 ^= m;
    }
    uint64_t b = (uint64_t) len << 56;
    for (size_t i = 0; i < left; i++) {
        b |= (uint64_t) p[i] << (8 * i);
    }
    v3 ^= b;
    for (int r = 0; r < c; r++) {
        SIP_ROUND(v0, v1, v2, v3);
    }
    v0 ^= b;
    v2 ^= 0xff;
    for (int r = 0; r < d; r++) {
        SIP_ROUND(v0, v1, v2, v3);
    }
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint32_t
strmap_hash(const void *key, size_t len)
{
    pthread_once(&sip_once, sip_seed);
    return (uint32_t) siphash(sip_key, key, len, 1, 3);
}

uint64_t
strmap_siphash(const uint64_t k[2], const void *data, size_t len, int c,
               int d)
{
    return siphash(k, data, len, c, d);
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
