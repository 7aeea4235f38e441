/* ovsdb-mem: ovs-plugin/ovsdb.h in memory (see ovsdb-mem.h). */
#include <config.h>

#include "tests/fuzz/ovsdb-mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openvswitch/shash.h"
#include "util.h"

#include "ovs-plugin/ovsdb.h"
#include "ovs-plugin/zone.h"

struct vsdb {
    struct vsdb_mem_iface ifaces[VSDB_MEM_MAX_IFACES];
    unsigned int seqno;
    bool secure;
    struct shash zone_writes;   /* iface name -> zone (uintptr_t) */
    struct shash learned;       /* iface name -> addresses (char *) */
};

static struct vsdb *the_vsdb;

struct vsdb *
vsdb_create(const char *remote, const char *bridge)
{
    (void) remote;
    (void) bridge;
    struct vsdb *db = xzalloc(sizeof *db);
    for (size_t i = 0; i < VSDB_MEM_MAX_IFACES; i++) {
        snprintf(db->ifaces[i].name, sizeof db->ifaces[i].name, "vnet%zu",
                 i);
    }
    db->seqno = 1;
    db->secure = true;
    shash_init(&db->zone_writes);
    shash_init(&db->learned);
    the_vsdb = db;
    return db;
}

void
vsdb_destroy(struct vsdb *db)
{
    if (!db) {
        return;
    }
    if (the_vsdb == db) {
        the_vsdb = NULL;
    }
    for (size_t i = 0; i < VSDB_MEM_MAX_IFACES; i++) {
        struct vsdb_mem_iface *it = &db->ifaces[i];
        free(it->vm_id);
        free(it->mac);
        free(it->mode);
        free(it->vm_name);
        free(it->addresses);
        free(it->learned);
        free(it->zone);
    }
    shash_destroy(&db->zone_writes);
    shash_destroy_free_data(&db->learned);
    free(db);
}

struct vsdb *
vsdb_mem_get(void)
{
    return the_vsdb;
}

struct vsdb_mem_iface *
vsdb_mem_iface(struct vsdb *db, size_t i)
{
    return &db->ifaces[i];
}

void
vsdb_mem_changed(struct vsdb *db)
{
    db->seqno++;
}

void
vsdb_mem_set(char **member, const char *value)
{
    free(*member);
    *member = value ? xstrdup(value) : NULL;
}

void
vsdb_mem_set_secure(struct vsdb *db, bool secure)
{
    if (db->secure != secure) {
        db->secure = secure;
        db->seqno++;
    }
}

bool
vsdb_mem_busy(const struct vsdb *db)
{
    return !shash_is_empty(&db->zone_writes)
           || !shash_is_empty(&db->learned);
}

static struct vsdb_mem_iface *
find_iface(struct vsdb *db, const char *name)
{
    for (size_t i = 0; i < VSDB_MEM_MAX_IFACES; i++) {
        if (db->ifaces[i].on_bridge && !strcmp(db->ifaces[i].name, name)) {
            return &db->ifaces[i];
        }
    }
    return NULL;
}

/* switchd's writes reach the database (one transaction). */
void
vsdb_run(struct vsdb *db)
{
    bool changed = false;
    struct shash_node *node, *next;
    SHASH_FOR_EACH_SAFE (node, next, &db->zone_writes) {
        struct vsdb_mem_iface *it = find_iface(db, node->name);
        uint16_t zone = (uintptr_t) node->data;
        if (it && zone != zone_parse(it->zone)) {
            char text[8];
            snprintf(text, sizeof text, "%u", zone);
            vsdb_mem_set(&it->zone, text);
            changed = true;
        }
        shash_delete(&db->zone_writes, node);
    }
    SHASH_FOR_EACH_SAFE (node, next, &db->learned) {
        struct vsdb_mem_iface *it = find_iface(db, node->name);
        if (it && (!it->learned || strcmp(it->learned, node->data))) {
            vsdb_mem_set(&it->learned, node->data);
            changed = true;
        }
        free(node->data);
        shash_delete(&db->learned, node);
    }
    if (changed) {
        db->seqno++;
    }
}

void
vsdb_wait(struct vsdb *db)
{
    (void) db;
}

unsigned int
vsdb_seqno(const struct vsdb *db)
{
    return db->seqno;
}

bool
vsdb_is_connected(const struct vsdb *db)
{
    (void) db;
    return true;
}

bool
vsdb_has_bridge(const struct vsdb *db)
{
    (void) db;
    return true;
}

bool
vsdb_bridge_is_secure(const struct vsdb *db)
{
    return db->secure;
}

size_t
vsdb_vm_ports(const struct vsdb *db_, struct vsdb_vm_port **portsp)
{
    struct vsdb *db = CONST_CAST(struct vsdb *, db_);
    struct vsdb_vm_port *ports = xmalloc(VSDB_MEM_MAX_IFACES * sizeof *ports);
    size_t n = 0;
    for (size_t i = 0; i < VSDB_MEM_MAX_IFACES; i++) {
        const struct vsdb_mem_iface *it = &db->ifaces[i];
        if (!it->on_bridge || !it->vm_id) {
            continue;
        }
        const char *learned = shash_find_data(&db->learned, it->name);
        ports[n++] = (struct vsdb_vm_port) {
            .vm_id = it->vm_id,
            .iface = it->name,
            .ofport = it->ofport,
            .mac = it->mac,
            .mode = it->mode,
            .vm_name = it->vm_name,
            .zone = zone_parse(it->zone),
            .addresses = it->addresses,
            .learned = learned ? learned : it->learned,
        };
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

void
vsdb_set_learned(struct vsdb *db, const char *iface, const char *learned)
{
    free(shash_replace(&db->learned, iface, xstrdup(learned)));
}
