/* zone-hash: VM UUIDs whose conntrack zones collide, for the switchd
 * integration test (tests/switchd/test-switchd.sh).  A VM without a
 * recorded zone starts probing at 1 + hash_string(uuid) % 65535
 * (zone.h); this prints two UUIDs that start at the same zone.
 *
 *   zone-hash collide PREFIX
 *       PREFIX is 8 hex digits; prints "UUID1 UUID2 ZONE" */
#include <config.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#include "ovs-plugin/zone.h"

int
main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "collide") || strlen(argv[2]) != 8
        || strspn(argv[2], "0123456789abcdef") != 8) {
        fprintf(stderr, "usage: zone-hash collide PREFIX (8 hex digits)\n");
        return 2;
    }
    /* By the birthday bound a few hundred UUIDs suffice. */
    static uint32_t seen[ZONE_MAX + 1];     /* zone -> index + 1 */
    for (uint32_t i = 1; i < 1000000; i++) {
        char uuid[37];
        snprintf(uuid, sizeof uuid, "%s-0000-4000-8000-%012"PRIu32, argv[2],
                 i);
        uint16_t zone = 1 + hash_string(uuid, 0) % ZONE_MAX;
        if (seen[zone]) {
            printf("%s-0000-4000-8000-%012"PRIu32" %s %u\n", argv[2],
                   seen[zone], uuid, zone);
            return 0;
        }
        seen[zone] = i;
    }
    return 1;
}
