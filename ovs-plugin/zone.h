/* zone: which conntrack zone each VM has (pure: no OVS, no database).
 *
 * A VM's zone keys its conntrack entries and every flow of the VM's
 * (flowgen.h), and appfw-switchd finds the VM of an approved flow it reads
 * back from the switch by that flow's zone.  So a VM must keep its zone
 * across switchd restarts, whatever order switchd sees the VMs in: two VMs
 * that swapped zones would take over each other's connections and
 * approved flows.
 *
 * switchd records each VM's zone where its port is (the Interface's
 * external_ids:appfw-zone, ovsdb.h) and passes it back here as the VM's
 * claim.  zone_assign() first gives every VM the zone it claims, then
 * gives the rest a free zone starting from a hash of their UUID (the same
 * zones switchd handed out before zones were recorded).  The result does
 * not depend on the order of the requests. */
#ifndef SWITCHD_ZONE_H
#define SWITCHD_ZONE_H 1

#include <stddef.h>
#include <stdint.h>

#define ZONE_MAX 65535          /* Zones are 1..ZONE_MAX; 0 is "none". */

/* Who holds each zone. */
struct zone_table {
    void *owner[ZONE_MAX + 1];  /* NULL: free.  [0] stays NULL. */
};

/* A VM that needs a zone. */
struct zone_request {
    const char *uuid;           /* Orders the requests. */
    uint32_t hash;              /* Of 'uuid': where probing starts. */
    uint16_t claim;             /* The zone recorded for it, or 0. */
    void *owner;                /* Goes into the table. */
    uint16_t zone;              /* Output: 0 only if every zone is taken. */
};

/* The zone an interface's external_ids:appfw-zone records: 's' as a
 * decimal number 1..ZONE_MAX, without sign, leading zero or anything
 * after it; else (or if 's' is NULL) 0. */
uint16_t zone_parse(const char *s);

/* Gives each of the 'n' requests a zone that is free in 'zt' and takes it
 * there.  A claim is honoured when its zone is free; if several requests
 * claim one zone, the first by UUID gets it.  Every other request gets the
 * first free zone from 1 + hash % ZONE_MAX on, taken in UUID order.
 * Reorders 'reqs'. */
void zone_assign(struct zone_table *zt, struct zone_request *reqs, size_t n);

#endif /* zone.h */
