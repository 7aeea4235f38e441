/* ovsdb: the local Open_vSwitch database through the IDL (see ovsdb.h). */
#include <config.h>

#include "ovsdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/vswitch-idl.h"
#include "ovsdb-idl.h"
#include "openvswitch/shash.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/util.h"
#include "smap.h"
#include "util.h"

#include "common/log.h"
#include "zone.h"

LOG_MODULE(ovsdb);

struct vsdb {
    struct ovsdb_idl_loop loop;
    char *bridge;
    bool was_connected;
    int64_t secure_cfg;         /* next_cfg we wrote with fail_mode. */
    struct shash zone_writes;   /* Interface name -> zone (uintptr_t). */
    struct smap learned;        /* iface -> learned addresses to write. */
};

#define LEARNED_KEY "appfw-learned-addresses"

struct vsdb *
vsdb_create(const char *remote, const char *bridge)
{
    struct vsdb *db = xzalloc(sizeof *db);
    struct ovsdb_idl *idl = ovsdb_idl_create(remote, &ovsrec_idl_class,
                                             false, true);
    ovsdb_idl_add_table(idl, &ovsrec_table_open_vswitch);
    ovsdb_idl_add_column(idl, &ovsrec_open_vswitch_col_bridges);
    ovsdb_idl_add_column(idl, &ovsrec_open_vswitch_col_next_cfg);
    ovsdb_idl_add_column(idl, &ovsrec_open_vswitch_col_cur_cfg);
    ovsdb_idl_add_table(idl, &ovsrec_table_bridge);
    ovsdb_idl_add_column(idl, &ovsrec_bridge_col_name);
    ovsdb_idl_add_column(idl, &ovsrec_bridge_col_ports);
    ovsdb_idl_add_column(idl, &ovsrec_bridge_col_fail_mode);
    ovsdb_idl_add_table(idl, &ovsrec_table_port);
    ovsdb_idl_add_column(idl, &ovsrec_port_col_name);
    ovsdb_idl_add_column(idl, &ovsrec_port_col_interfaces);
    ovsdb_idl_add_table(idl, &ovsrec_table_interface);
    ovsdb_idl_add_column(idl, &ovsrec_interface_col_name);
    ovsdb_idl_add_column(idl, &ovsrec_interface_col_ofport);
    ovsdb_idl_add_column(idl, &ovsrec_interface_col_external_ids);
    db->loop = (struct ovsdb_idl_loop) OVSDB_IDL_LOOP_INITIALIZER(idl);
    db->bridge = xstrdup(bridge);
    shash_init(&db->zone_writes);
    smap_init(&db->learned);
    return db;
}

void
vsdb_destroy(struct vsdb *db)
{
    if (db) {
        ovsdb_idl_loop_destroy(&db->loop);
        shash_destroy(&db->zone_writes);
        smap_destroy(&db->learned);
        free(db->bridge);
        free(db);
    }
}

static const struct ovsrec_bridge *
find_bridge(const struct vsdb *db)
{
    const struct ovsrec_bridge *br;
    OVSREC_BRIDGE_FOR_EACH (br, db->loop.idl) {
        if (!strcmp(br->name, db->bridge)) {
            return br;
        }
    }
    return NULL;
}

static const struct ovsrec_interface *
find_iface(const struct ovsrec_bridge *br, const char *name)
{
    for (size_t i = 0; br && i < br->n_ports; i++) {
        const struct ovsrec_port *port = br->ports[i];
        for (size_t j = 0; j < port->n_interfaces; j++) {
            if (!strcmp(port->interfaces[j]->name, name)) {
                return port->interfaces[j];
            }
        }
    }
    return NULL;
}

/* Interface 'name', on any bridge. */
static const struct ovsrec_interface *
find_any_iface(const struct vsdb *db, const char *name)
{
    const struct ovsrec_interface *iface;
    OVSREC_INTERFACE_FOR_EACH (iface, db->loop.idl) {
        if (!strcmp(iface->name, name)) {
            return iface;
        }
    }
    return NULL;
}

/* Writes the zones waiting to be recorded in 'txn'.  One is forgotten once
 * the database shows it, or when its interface is gone. */
static void
write_zones(struct vsdb *db, struct ovsdb_idl_txn *txn)
{
    struct shash_node *node, *next;
    SHASH_FOR_EACH_SAFE (node, next, &db->zone_writes) {
        const struct ovsrec_interface *iface = find_any_iface(db, node->name);
        uint16_t zone = (uintptr_t) node->data;
        if (!iface || zone == zone_parse(
                smap_get(&iface->external_ids, "appfw-zone"))) {
            shash_delete(&db->zone_writes, node);
            continue;
        }
        char text[8];
        snprintf(text, sizeof text, "%u", zone);
        ovsrec_interface_update_external_ids_setkey(iface, "appfw-zone",
                                                    text);
        ovsdb_idl_txn_add_comment(txn, "appfw-switchd: %s appfw-zone=%s",
                                  iface->name, text);
    }
}

/* Writes the learned addresses the database does not show yet, and
 * forgets those it shows (or whose interface is gone). */
static void
write_learned(struct vsdb *db, struct ovsdb_idl_txn *txn,
              const struct ovsrec_bridge *br)
{
    if (!br) {
        /* Not seen yet (or gone for a moment): keep every pending lock,
         * or a learned address would be forgotten unwritten. */
        return;
    }
    struct smap_node *node, *next;
    SMAP_FOR_EACH_SAFE (node, next, &db->learned) {
        const struct ovsrec_interface *iface = find_iface(br, node->key);
        const char *now = iface ? smap_get(&iface->external_ids,
                                           LEARNED_KEY) : NULL;
        if (!iface || (now && !strcmp(now, node->value))) {
            smap_remove_node(&db->learned, node);
        } else if (txn) {
            ovsrec_interface_update_external_ids_setkey(iface, LEARNED_KEY,
                                                        node->value);
            ovsdb_idl_txn_add_comment(txn, "appfw-switchd: learned "
                                      "iface=%s addresses=%s", node->key,
                                      node->value);
        }
    }
}

void
vsdb_set_learned(struct vsdb *db, const char *iface, const char *learned)
{
    smap_replace(&db->learned, iface, learned);
    poll_immediate_wake();
}

void
vsdb_run(struct vsdb *db)
{
    struct ovsdb_idl_txn *txn = ovsdb_idl_loop_run(&db->loop);
    bool connected = ovsdb_idl_is_connected(db->loop.idl);
    if (connected != db->was_connected) {
        db->was_connected = connected;
        if (connected) {
            LOG_INFO("connected to the Open_vSwitch database");
        } else {
            LOG_WARN("lost the Open_vSwitch database connection");
        }
    }
    const struct ovsrec_bridge *br = find_bridge(db);
    if (txn && br && (!br->fail_mode || strcmp(br->fail_mode, "secure"))) {
        LOG_INFO("bridge=%s fail_mode=%s: setting it to secure", br->name,
                 br->fail_mode ? br->fail_mode : "(default)");
        ovsrec_bridge_set_fail_mode(br, "secure");
        ovsdb_idl_txn_add_comment(txn, "appfw-switchd: fail_mode=secure");
        /* Ask ovs-vswitchd to report when it has applied this (cur_cfg
         * catches up with next_cfg), as ovs-vsctl does. */
        const struct ovsrec_open_vswitch *ovs
            = ovsrec_open_vswitch_first(db->loop.idl);
        if (ovs) {
            ovsrec_open_vswitch_verify_next_cfg(ovs);
            ovsrec_open_vswitch_set_next_cfg(ovs, ovs->next_cfg + 1);
            db->secure_cfg = ovs->next_cfg + 1;
        }
    }
    if (txn) {
        write_zones(db, txn);
    }
    write_learned(db, txn, br);
    ovsdb_idl_loop_commit_and_wait(&db->loop);
}

void
vsdb_wait(struct vsdb *db)
{
    ovsdb_idl_wait(db->loop.idl);
}

unsigned int
vsdb_seqno(const struct vsdb *db)
{
    return ovsdb_idl_get_seqno(db->loop.idl);
}

bool
vsdb_is_connected(const struct vsdb *db)
{
    return ovsdb_idl_is_connected(db->loop.idl);
}

bool
vsdb_has_bridge(const struct vsdb *db)
{
    return find_bridge(db) != NULL;
}

bool
vsdb_bridge_is_secure(const struct vsdb *db)
{
    const struct ovsrec_bridge *br = find_bridge(db);
    const struct ovsrec_open_vswitch *ovs
        = ovsrec_open_vswitch_first(db->loop.idl);
    /* Our own change must have been applied; other clients' changes
     * (libvirt adding a port) do not touch appfw's flows.  (If our write
     * lost a race and was not needed after all, 'secure_cfg' may never be
     * reached: a quiet database, cur_cfg == next_cfg, settles it.) */
    return (br && br->fail_mode && !strcmp(br->fail_mode, "secure") && ovs
            && (ovs->cur_cfg >= db->secure_cfg
                || ovs->cur_cfg == ovs->next_cfg));
}

size_t
vsdb_vm_ports(const struct vsdb *db, struct vsdb_vm_port **portsp)
{
    const struct ovsrec_bridge *br = find_bridge(db);
    struct vsdb_vm_port *ports = NULL;
    size_t n = 0, allocated = 0;
    for (size_t i = 0; br && i < br->n_ports; i++) {
        const struct ovsrec_port *port = br->ports[i];
        for (size_t j = 0; j < port->n_interfaces; j++) {
            const struct ovsrec_interface *iface = port->interfaces[j];
            const char *vm_id = smap_get(&iface->external_ids, "vm-id");
            if (!vm_id) {
                continue;
            }
            if (n >= allocated) {
                ports = x2nrealloc(ports, &allocated, sizeof *ports);
            }
            ports[n++] = (struct vsdb_vm_port) {
                .vm_id = vm_id,
                .iface = iface->name,
                .ofport = iface->n_ofport ? (int) iface->ofport[0] : 0,
                .mac = smap_get(&iface->external_ids, "attached-mac"),
                .mode = smap_get(&iface->external_ids, "appfw-mode"),
                .vm_name = smap_get(&iface->external_ids, "vm-name"),
                .zone = zone_parse(smap_get(&iface->external_ids,
                                                  "appfw-zone")),
                .addresses = smap_get(&iface->external_ids,
                                      "appfw-addresses"),
                .learned = smap_get(&db->learned, iface->name),
            };
            if (!ports[n - 1].learned) {
                ports[n - 1].learned = smap_get(&iface->external_ids,
                                                LEARNED_KEY);
            }
        }
    }
    *portsp = ports;
    return n;
}

void
vsdb_set_zone(struct vsdb *db, const char *iface, uint16_t zone)
{
    struct shash_node *node = shash_find(&db->zone_writes, iface);
    if (node) {
        node->data = (void *) (uintptr_t) zone;
    } else {
        shash_add(&db->zone_writes, iface, (void *) (uintptr_t) zone);
    }
}
