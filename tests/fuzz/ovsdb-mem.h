/* ovsdb-mem: ovs-plugin/ovsdb.h in memory, for fuzz targets that run
 * appfw-switchd's core in process.
 *
 * A target links ovsdb-mem.c instead of ovs-plugin/ovsdb.c; switchd.c is
 * unchanged.  The database is one connected bridge and a few interfaces
 * that the target edits (each with what ovsdb.c reads: vm-id, ofport,
 * attached-mac, appfw-mode, vm-name, appfw-zone, appfw-addresses,
 * appfw-learned-addresses).  As with the IDL, switchd's writes (zones,
 * learned addresses) reach the interfaces at the next vsdb_run() (learned
 * ones show at once), and every change moves vsdb_seqno(). */
#ifndef OVSDB_MEM_H
#define OVSDB_MEM_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vsdb;

#define VSDB_MEM_MAX_IFACES 4

/* One Interface row.  Strings are malloc'd (NULL: the key is absent),
 * except 'name'. */
struct vsdb_mem_iface {
    bool on_bridge;             /* In one of the bridge's ports. */
    char name[16];
    char *vm_id;
    int ofport;
    char *mac, *mode, *vm_name, *addresses, *learned;
    char *zone;                 /* external_ids:appfw-zone, as text. */
};

/* The vsdb that vsdb_create() made last (NULL once destroyed). */
struct vsdb *vsdb_mem_get(void);

/* Interface 'i' (0 <= i < VSDB_MEM_MAX_IFACES): edit it, then call
 * vsdb_mem_changed(). */
struct vsdb_mem_iface *vsdb_mem_iface(struct vsdb *, size_t i);
void vsdb_mem_changed(struct vsdb *);

/* Sets a malloc'd string member of an interface ('value' NULL: absent). */
void vsdb_mem_set(char **member, const char *value);

/* Whether the bridge's fail_mode is secure (and applied). */
void vsdb_mem_set_secure(struct vsdb *, bool);

/* Whether switchd's writes wait for a vsdb_run(). */
bool vsdb_mem_busy(const struct vsdb *);

#endif /* ovsdb-mem.h */
