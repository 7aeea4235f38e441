/* ovsdb: appfw-switchd's view of the local Open_vSwitch database, the only
 * file of ovs-plugin/ that uses the OVSDB IDL.
 *
 * Registers only the columns switchd reads: the integration bridge's name,
 * ports and fail_mode, its ports' interfaces, and each interface's name,
 * ofport and external_ids.  A VM port is an Interface on the bridge with
 * external_ids:vm-id (libvirt sets it, with attached-mac and iface-id);
 * external_ids:appfw-mode (enforce|monitor|noagent) overrides the default
 * mode for that VM; external_ids:appfw-addresses gives its addresses (port
 * security), and external_ids:appfw-learned-addresses holds those switchd
 * learned.
 *
 * It also writes three things: the bridge's fail_mode is kept at
 * "secure", so that the switch forwards nothing by itself while switchd is
 * away; each VM interface's external_ids:appfw-zone records the VM's
 * conntrack zone (zone.h), so that a restarted switchd gives every VM the
 * same zone again (the record lives and goes with the interface, and it
 * survives switchd's and ovs-vswitchd's restarts and a lost registry
 * file); and the addresses switchd learns go to appfw-learned-addresses
 * (so that they stay locked across switchd restarts, for as long as the
 * port exists). */
#ifndef SWITCHD_OVSDB_H
#define SWITCHD_OVSDB_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vsdb;

/* One VM interface on the bridge (strings point into the IDL's rows: valid
 * until the next vsdb_run()). */
struct vsdb_vm_port {
    const char *vm_id;          /* external_ids:vm-id */
    const char *iface;          /* Interface name */
    int ofport;                 /* 0 if not assigned yet, -1 if failed. */
    const char *mac;            /* external_ids:attached-mac, or NULL */
    const char *mode;           /* external_ids:appfw-mode, or NULL */
    const char *vm_name;        /* external_ids:vm-name, or NULL */
    uint16_t zone;              /* external_ids:appfw-zone, or 0 if none
                                 * or not a number 1..65535. */
    const char *addresses;      /* external_ids:appfw-addresses, or NULL */
    const char *learned;        /* appfw-learned-addresses (or what
                                 * vsdb_set_learned() is writing), or NULL */
};

/* 'remote' as for ovsdb-client ("unix:/run/openvswitch/db.sock"). */
struct vsdb *vsdb_create(const char *remote, const char *bridge);
void vsdb_destroy(struct vsdb *);

void vsdb_run(struct vsdb *);
void vsdb_wait(struct vsdb *);

/* Changes whenever anything switchd reads changed. */
unsigned int vsdb_seqno(const struct vsdb *);
bool vsdb_is_connected(const struct vsdb *);

/* True once the bridge exists in the database. */
bool vsdb_has_bridge(const struct vsdb *);

/* True if the bridge exists, its fail_mode is "secure", and ovs-vswitchd
 * has applied switchd's own change to it, if it made one (Open_vSwitch
 * cur_cfg reached the next_cfg switchd wrote).
 * ovs-vswitchd flushes a bridge's flows when its fail mode changes, so
 * flows are worth installing only from then on. */
bool vsdb_bridge_is_secure(const struct vsdb *);

/* The bridge's VM interfaces, in a malloc'd array (the caller frees the
 * array, not the strings). */
size_t vsdb_vm_ports(const struct vsdb *, struct vsdb_vm_port **);

/* Records 'zone' as external_ids:appfw-zone of Interface 'iface', in a
 * transaction of a later vsdb_run() (retried until the database shows
 * it, unless the interface goes). */
void vsdb_set_zone(struct vsdb *, const char *iface, uint16_t zone);
/* Writes 'learned' to interface 'iface''s
 * external_ids:appfw-learned-addresses at the next chance.  Until the
 * database shows it, vsdb_vm_ports() reports it already. */
void vsdb_set_learned(struct vsdb *, const char *iface, const char *learned);

#endif /* ovsdb.h */
