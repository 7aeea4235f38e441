/* zone: conntrack zones for VMs (see zone.h). */
#include "zone.h"

#include <stdlib.h>
#include <string.h>

uint16_t
zone_parse(const char *s)
{
    char *end;
    unsigned long zone = s && *s >= '1' && *s <= '9' ? strtoul(s, &end, 10)
                                                     : 0;
    return zone && !*end && zone <= ZONE_MAX ? zone : 0;
}

static int
compare_requests(const void *a_, const void *b_)
{
    const struct zone_request *a = a_, *b = b_;
    return strcmp(a->uuid, b->uuid);
}

static uint16_t
zone_probe(const struct zone_table *zt, uint32_t hash)
{
    for (uint32_t i = 0; i < ZONE_MAX; i++) {
        uint16_t zone = 1 + (hash + i) % ZONE_MAX;
        if (!zt->owner[zone]) {
            return zone;
        }
    }
    return 0;
}

void
zone_assign(struct zone_table *zt, struct zone_request *reqs, size_t n)
{
    if (n > 1) {
        qsort(reqs, n, sizeof *reqs, compare_requests);
    }
    for (size_t i = 0; i < n; i++) {
        struct zone_request *r = &reqs[i];
        r->zone = 0;
        if (r->claim && !zt->owner[r->claim]) {
            r->zone = r->claim;
            zt->owner[r->zone] = r->owner;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct zone_request *r = &reqs[i];
        if (!r->zone) {
            r->zone = zone_probe(zt, r->hash);
            if (r->zone) {
                zt->owner[r->zone] = r->owner;
            }
        }
    }
}
