/* Unit tests of ovs-plugin/zone.c: zones do not depend on the order VMs
 * are seen in, recorded zones are kept, colliding VMs do not swap, and
 * only a plain number 1..65535 is read as a recorded zone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ovs-plugin/zone.h"

#define N_VMS 6

static const char *const uuids[N_VMS] = {
    "00000000-0000-4000-8000-00000000000a",
    "00000000-0000-4000-8000-00000000000b",
    "00000000-0000-4000-8000-00000000000c",
    "00000000-0000-4000-8000-00000000000d",
    "00000000-0000-4000-8000-00000000000e",
    "00000000-0000-4000-8000-00000000000f",
};

/* Owners: the index of the VM, plus one (never NULL). */
#define OWNER(I) ((void *) (uintptr_t) ((I) + 1))

static struct zone_table *
table_create(void)
{
    struct zone_table *zt = calloc(1, sizeof *zt);
    assert_non_null(zt);
    return zt;
}

/* Requests for the VMs 'order[0..n-1]' with 'hash' each and 'claims' (by
 * VM index), assigned in 'zt'; 'zones' (by VM index) receives the result. */
static void
assign(struct zone_table *zt, const int *order, size_t n,
       const uint32_t *hash, const uint16_t *claims, uint16_t *zones)
{
    struct zone_request reqs[N_VMS];
    for (size_t i = 0; i < n; i++) {
        int vm = order[i];
        reqs[i] = (struct zone_request) {
            .uuid = uuids[vm], .hash = hash[vm],
            .claim = claims ? claims[vm] : 0, .owner = OWNER(vm),
        };
    }
    zone_assign(zt, reqs, n);
    for (size_t i = 0; i < n; i++) {
        int vm = (int) ((uintptr_t) reqs[i].owner - 1);
        zones[vm] = reqs[i].zone;
        assert_ptr_equal(zt->owner[reqs[i].zone], reqs[i].owner);
    }
}

static void
assert_zones(const uint16_t *zones, const uint16_t expected[N_VMS])
{
    for (int i = 0; i < N_VMS; i++) {
        assert_int_equal(zones[i], expected[i]);
    }
}

static void
test_home_zone(void **state)
{
    (void) state;
    /* Without a record, a VM's zone is 1 + hash % 65535, as switchd has
     * always given them (so an upgrade keeps the zones of VMs that do not
     * collide). */
    struct zone_table *zt = table_create();
    uint32_t hash[N_VMS] = { 0, 65534, 65535, 0xffffffff, 7, 100 };
    int order[N_VMS] = { 0, 1, 2, 3, 4, 5 };
    uint16_t zones[N_VMS];
    assign(zt, order, N_VMS, hash, NULL, zones);
    /* 65535 and 0xffffffff are 0 modulo 65535 too: zone 1 is taken, so
     * they probe on. */
    assert_zones(zones, (uint16_t[N_VMS]) { 1, 65535, 2, 3, 8, 101 });
    free(zt);
}

/* Every order of the VMs (a permutation per 'seed') gives the same
 * zones. */
static void
test_order_does_not_matter(void **state)
{
    (void) state;
    uint32_t hash[N_VMS] = { 41, 41, 41, 42, 41, 9 };   /* They collide. */
    uint16_t first[N_VMS];
    for (unsigned int seed = 0; seed < 200; seed++) {
        int order[N_VMS] = { 0, 1, 2, 3, 4, 5 };
        srand(seed);
        for (int i = N_VMS - 1; i > 0; i--) {
            int j = rand() % (i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        struct zone_table *zt = table_create();
        uint16_t zones[N_VMS];
        assign(zt, order, N_VMS, hash, NULL, zones);
        if (!seed) {
            memcpy(first, zones, sizeof first);
        }
        assert_memory_equal(zones, first, sizeof first);
        free(zt);
    }
    /* By UUID: a, b, c probe from 42; then d from 43, taken by then, and
     * e from 42. */
    assert_zones(first, (uint16_t[N_VMS]) { 42, 43, 44, 45, 46, 10 });
}

/* The case of issue 19: two VMs whose hashes collide, seen one after the
 * other by a first switchd, then the other way round by a restarted one
 * that has their recorded zones: neither moves. */
static void
test_restart_keeps_colliding_zones(void **state)
{
    (void) state;
    uint32_t hash[N_VMS] = { 500, 500 };
    uint16_t zones[N_VMS], again[N_VMS];

    struct zone_table *zt = table_create();
    int b_first[] = { 1 };
    int then_a[] = { 0 };
    assign(zt, b_first, 1, hash, NULL, zones);
    assign(zt, then_a, 1, hash, NULL, zones);
    assert_int_equal(zones[1], 501);    /* b came first: its home. */
    assert_int_equal(zones[0], 502);
    free(zt);

    /* Restarted: both at once (UUID order would put a first). */
    zt = table_create();
    int both[] = { 0, 1 };
    assign(zt, both, 2, hash, zones, again);
    assert_int_equal(again[0], 502);
    assert_int_equal(again[1], 501);
    free(zt);

    /* Restarted, seen one by one in the other order: the same. */
    zt = table_create();
    assign(zt, then_a, 1, hash, zones, again);
    assign(zt, b_first, 1, hash, zones, again);
    assert_int_equal(again[0], 502);
    assert_int_equal(again[1], 501);
    free(zt);
}

static void
test_claims(void **state)
{
    (void) state;
    struct zone_table *zt = table_create();
    /* Zone 9 is someone else's already. */
    zt->owner[9] = OWNER(99);
    uint32_t hash[N_VMS] = { 6, 6, 6, 6, 3, 3 };
    /* a claims 9 (taken): probes from 7.  b and c both claim 20: b, first
     * by UUID, gets it; c probes.  d claims 7, which is a's home: d keeps
     * it, a goes on probing.  e claims nothing, f claims 65535. */
    uint16_t claims[N_VMS] = { 9, 20, 20, 7, 0, 65535 };
    int order[N_VMS] = { 5, 2, 4, 0, 3, 1 };
    uint16_t zones[N_VMS];
    assign(zt, order, N_VMS, hash, claims, zones);
    assert_zones(zones, (uint16_t[N_VMS]) { 8, 20, 10, 7, 4, 65535 });
    assert_ptr_equal(zt->owner[9], OWNER(99));
    free(zt);
}

static void
test_full(void **state)
{
    (void) state;
    struct zone_table *zt = table_create();
    for (int z = 1; z <= ZONE_MAX; z++) {
        zt->owner[z] = OWNER(99);
    }
    zt->owner[1234] = NULL;
    uint32_t hash[N_VMS] = { 5, 5 };
    uint16_t claims[N_VMS] = { 0, 77 };
    int order[] = { 1, 0 };
    struct zone_request reqs[2];
    for (int i = 0; i < 2; i++) {
        reqs[i] = (struct zone_request) {
            .uuid = uuids[order[i]], .hash = hash[order[i]],
            .claim = claims[order[i]], .owner = OWNER(order[i]),
        };
    }
    zone_assign(zt, reqs, 2);
    /* a (first by UUID) gets the last free zone, b none. */
    assert_string_equal(reqs[0].uuid, uuids[0]);
    assert_int_equal(reqs[0].zone, 1234);
    assert_int_equal(reqs[1].zone, 0);
    assert_null(zt->owner[0]);
    free(zt);
}

static void
test_parse(void **state)
{
    (void) state;
    assert_int_equal(zone_parse("1"), 1);
    assert_int_equal(zone_parse("39394"), 39394);
    assert_int_equal(zone_parse("65535"), 65535);
    static const char *const bad[] = {
        "", "0", "65536", "99999999999999999999", "012", "+5", "-5", " 5",
        "5 ", "5x", "0x10",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(zone_parse(bad[i]), 0);
    }
    assert_int_equal(zone_parse(NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_home_zone),
        cmocka_unit_test(test_order_does_not_matter),
        cmocka_unit_test(test_restart_keeps_colliding_zones),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
