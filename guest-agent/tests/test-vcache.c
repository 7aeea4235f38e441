/* Unit tests for guest-agent/vcache.c: lookups, keys, expiry, versions,
 * LRU eviction and statistics. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "common/util.h"
#include "guest-agent/vcache.h"

/* A distinct IPv4 key for each 'i'. */
static struct vcache_key
key_v4(uint32_t i)
{
    struct vcache_key k;
    memset(&k, 0, sizeof k);
    memset(k.app, 0xab, sizeof k.app);
    k.uid = 1000;
    k.event = VC_CONNECT;
    k.protocol = IPPROTO_TCP;
    k.direction = VCACHE_OUTBOUND;
    k.family = AF_INET;
    k.addr[0] = 10;
    k.addr[1] = i >> 16;
    k.addr[2] = i >> 8;
    k.addr[3] = i;
    k.port = 80;
    return k;
}

static const struct vcache_verdict allow = { .allow = true };
static const struct vcache_verdict deny = { .allow = false };

static void
put(struct vcache *vc, uint32_t i, long long now)
{
    struct vcache_key k = key_v4(i);
    vcache_put(vc, &k, &allow, 60, now);
}

static bool
has(struct vcache *vc, uint32_t i, long long now)
{
    struct vcache_key k = key_v4(i);
    return vcache_get(vc, &k, now) != NULL;
}

static void
test_put_get(void **state)
{
    (void) state;
    struct vcache *vc = vcache_create(16);
    struct vcache_key k = key_v4(1);

    assert_null(vcache_get(vc, &k, 0));

    char rule[] = "allow-web";
    struct vcache_verdict v = {
        .allow = true, .log = true, .notify = false,
        .granularity = VCACHE_SERVICE, .rule = rule,
    };
    vcache_put(vc, &k, &v, 300, 0);
    rule[0] = 'X';              /* The cache keeps its own copy. */

    const struct vcache_verdict *got = vcache_get(vc, &k, 1);
    assert_non_null(got);
    assert_true(got->allow);
    assert_true(got->log);
    assert_false(got->notify);
    assert_int_equal(got->granularity, VCACHE_SERVICE);
    assert_string_equal(got->rule, "allow-web");

    /* Replacing keeps one entry, with the new verdict; a default's verdict
     * has no rule. */
    struct vcache_verdict d = { .allow = false, .notify = true };
    vcache_put(vc, &k, &d, 300, 2);
    got = vcache_get(vc, &k, 3);
    assert_non_null(got);
    assert_false(got->allow);
    assert_false(got->log);
    assert_true(got->notify);
    assert_null(got->rule);

    /* An empty rule id is not an absent one. */
    struct vcache_verdict e = { .allow = true, .rule = "" };
    vcache_put(vc, &k, &e, 300, 4);
    got = vcache_get(vc, &k, 5);
    assert_non_null(got);
    assert_string_equal(got->rule, "");

    struct vcache_stats st;
    vcache_get_stats(vc, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.max_entries, 16);

    assert_true(vcache_remove(vc, &k));
    assert_false(vcache_remove(vc, &k));
    assert_null(vcache_get(vc, &k, 6));

    vcache_destroy(vc);
    vcache_destroy(NULL);
}

static void
test_key_fields(void **state)
{
    (void) state;
    struct vcache *vc = vcache_create(64);
    struct vcache_key base = key_v4(7);
    vcache_put(vc, &base, &allow, 60, 0);

    /* Each field on its own makes another key. */
    struct vcache_key variants[10];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
        variants[i] = base;
    }
    variants[n++].app[0] ^= 1;
    variants[n++].app[31] ^= 0x80;
    variants[n++].uid = 0;
    variants[n++].event = VC_SEND;
    variants[n++].protocol = IPPROTO_UDP;
    variants[n++].direction = VCACHE_INBOUND;
    variants[n++].family = AF_INET6;
    variants[n++].addr[0] = 11;
    variants[n++].addr[3] = 8;
    variants[n++].port = 443;
    assert_int_equal(n, ARRAY_SIZE(variants));
    for (size_t i = 0; i < n; i++) {
        assert_null(vcache_get(vc, &variants[i], 1));
    }
    assert_non_null(vcache_get(vc, &base, 1));

    /* Each variant can be cached beside the base. */
    for (size_t i = 0; i < n; i++) {
        vcache_put(vc, &variants[i], &deny, 60, 2);
    }
    for (size_t i = 0; i < n; i++) {
        const struct vcache_verdict *v = vcache_get(vc, &variants[i], 3);
        assert_non_null(v);
        assert_false(v->allow);
    }
    const struct vcache_verdict *v = vcache_get(vc, &base, 3);
    assert_non_null(v);
    assert_true(v->allow);

    /* Padding and the unused bytes of an IPv4 address do not matter. */
    struct vcache_key dirty;
    memset(&dirty, 0x5a, sizeof dirty);
    memcpy(dirty.app, base.app, sizeof dirty.app);
    dirty.uid = base.uid;
    dirty.event = base.event;
    dirty.protocol = base.protocol;
    dirty.direction = base.direction;
    dirty.family = base.family;
    memcpy(dirty.addr, base.addr, 4);
    dirty.port = base.port;
    v = vcache_get(vc, &dirty, 4);
    assert_non_null(v);
    assert_true(v->allow);

    vcache_destroy(vc);
}

static void
test_ipv6(void **state)
{
    (void) state;
    struct vcache *vc = vcache_create(8);
    struct vcache_key a = key_v4(0), b, c;

    a.family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "fd00:77::53", a.addr), 1);
    b = a;
    b.addr[15] ^= 1;            /* fd00:77::52 */
    c = a;
    c.addr[4] ^= 1;             /* Differs beyond the first 4 bytes. */

    vcache_put(vc, &a, &allow, 60, 0);
    assert_non_null(vcache_get(vc, &a, 1));
    assert_null(vcache_get(vc, &b, 1));
    assert_null(vcache_get(vc, &c, 1));

    /* An IPv4 key whose address is the first 4 bytes of 'a'. */
    struct vcache_key v4 = a;
    v4.family = AF_INET;
    assert_null(vcache_get(vc, &v4, 1));

    vcache_put(vc, &c, &deny, 60, 2);
    assert_true(vcache_get(vc, &a, 3)->allow);
    assert_false(vcache_get(vc, &c, 3)->allow);

    vcache_destroy(vc);
}

static void
test_ttl(void **state)
{
    (void) state;
    struct vcache *vc = vcache_create(8);
    struct vcache_stats st;

    /* Stored at 1000 for 5 s: alive until 5999, expired at 6000. */
    put(vc, 1, 1000);
    struct vcache_key k = key_v4(1);
    vcache_put(vc, &k, &allow, 5, 1000);
    assert_true(has(vc, 1, 1000));
    assert_true(has(vc, 1, 5999));
    assert_false(has(vc, 1, 6000));
    vcache_get_stats(vc, &st);
    assert_int_equal(st.expirations, 1);
    assert_int_equal(st.entries, 0);
    assert_false(has(vc, 1, 1000));    /* Gone, not just hidden. */

    /* A hit does not extend the lifetime. */
    vcache_put(vc, &k, &allow, 1, 0);
    assert_true(has(vc, 1, 999));
    assert_false(has(vc, 1, 1000));

    /* TTL 0: not cached, and an existing entry goes. */
    vcache_put(vc, &k, &allow, 0, 0);
    assert_false(has(vc, 1, 0));
    vcache_put(vc, &k, &allow, 10, 0);
    assert_true(has(vc, 1, 1));
    vcache_put(vc, &k, &deny, 0, 2);
    assert_false(has(vc, 1, 3));
    vcache_get_stats(vc, &st);
    assert_int_equal(st.entries, 0);

    /* TTLs are capped at a day. */
    vcache_put(vc, &k, &allow, 4000000000u, 0);
    assert_true(has(vc, 1, VCACHE_TTL_MAX * 1000LL - 1));
    assert_false(has(vc, 1, VCACHE_TTL_MAX * 1000LL));

    /* Negative clock values and clocks near the end of time work. */
    vcache_put(vc, &k, &allow, 1, -5000);
    assert_true(has(vc, 1, -4001));
    assert_false(has(vc, 1, -4000));
    vcache_put(vc, &k, &allow, 10, LLONG_MAX - 5);
    assert_true(has(vc, 1, LLONG_MAX - 1));

    vcache_destroy(vc);
}

static void
test_policy_version(void **state)
{
    (void) state;
    struct vcache *vc = vcache_create(8);
    uint64_t version;
    struct vcache_stats st;

    assert_false(vcache_get_policy_version(vc, &version));

    /* The first version recorded flushes nothing. */
    put(vc, 1, 0);
    assert_false(vcache_set_policy_version(vc, 12));
    assert_true(vcache_get_policy_version(vc, &version));
    assert_int_equal(version, 12);
    assert_true(has(vc, 1, 1));

    /* The same version keeps the entries. */
    put(vc, 2, 0);
    assert_false(vcache_set_policy_version(vc, 12));
    assert_true(has(vc, 1, 1));
    assert_true(has(vc, 2, 1));

    /* Another one, higher or lower, flushes them. */
    assert_true(vcache_set_policy_version(vc, 13));
    assert_false(has(vc, 1, 1));
    assert_false(has(vc, 2, 1));
    put(vc, 3, 0);
    assert_true(vcache_set_policy_version(vc, 0));
    assert_false(has(vc, 3, 1));
    assert_true(vcache_get_policy_version(vc, &version));
    assert_int_equal(version, 0);

    /* vcache_flush() does not forget the version. */
    put(vc, 4, 0);
    vcache_flush(vc);
    assert_false(has(vc, 4, 1));
    assert_false(vcache_set_policy_version(vc, 0));

    vcache_get_stats(vc, &st);
    assert_int_equal(st.flushes, 3);
    assert_int_equal(st.entries, 0);

    /* The cache works after a flush. */
    put(vc, 5, 0);
    assert_true(has(vc, 5, 1));

    vcache_destroy(vc);
}

static void
test_lru(void **state)
{
    (void) state;
    struct vcache *vc = vcache_create(3);
    struct vcache_stats st;

    put(vc, 1, 0);
    put(vc, 2, 0);
    put(vc, 3, 0);
    assert_true(has(vc, 1, 0));         /* Use order, oldest first: 2 3 1 */
    put(vc, 4, 0);                      /* Evicts 2: 3 1 4 */
    assert_false(has(vc, 2, 0));
    assert_true(has(vc, 3, 0));         /* 1 4 3 */
    put(vc, 5, 0);                      /* Evicts 1: 4 3 5 */
    assert_false(has(vc, 1, 0));

    /* Replacing an entry makes it the most recently used. */
    struct vcache_key k4 = key_v4(4);
    vcache_put(vc, &k4, &deny, 60, 0);  /* 3 5 4 */
    put(vc, 6, 0);                      /* Evicts 3: 5 4 6 */
    assert_false(has(vc, 3, 0));
    assert_true(has(vc, 5, 0));         /* 4 6 5 */
    assert_true(has(vc, 6, 0));         /* 4 5 6 */
    assert_false(vcache_get(vc, &k4, 0)->allow);    /* 5 6 4 */

    vcache_get_stats(vc, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 3);
    assert_int_equal(st.expirations, 0);

    /* A least recently used entry that has expired counts as expired. */
    struct vcache_key k7 = key_v4(7);
    vcache_flush(vc);
    vcache_put(vc, &k7, &allow, 1, 0);  /* Expires at 1000. */
    put(vc, 8, 0);
    put(vc, 9, 0);
    put(vc, 10, 5000);                  /* Drops 7. */
    vcache_get_stats(vc, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 3);
    assert_int_equal(st.expirations, 1);
    assert_true(has(vc, 8, 5000));
    assert_true(has(vc, 9, 5000));
    assert_true(has(vc, 10, 5000));

    vcache_destroy(vc);
}

static void
test_stats(void **state)
{
    (void) state;
    struct vcache *vc = vcache_create(2);
    struct vcache_stats st;

    vcache_get_stats(vc, &st);
    assert_int_equal(st.hits + st.misses + st.evictions + st.expirations
                     + st.flushes + st.entries, 0);
    assert_int_equal(st.max_entries, 2);

    assert_false(has(vc, 1, 0));        /* miss */
    put(vc, 1, 0);
    assert_true(has(vc, 1, 0));         /* hit */
    assert_true(has(vc, 1, 59999));     /* hit */
    assert_false(has(vc, 1, 60000));    /* miss, expiration */
    put(vc, 1, 0);
    put(vc, 2, 0);
    put(vc, 3, 0);                      /* eviction */
    vcache_flush(vc);                   /* flush */

    vcache_get_stats(vc, &st);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.expirations, 1);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.flushes, 1);
    assert_int_equal(st.entries, 0);

    vcache_destroy(vc);
}

static void
test_bounded(void **state)
{
    (void) state;
    struct vcache *vc = vcache_create(1000);
    struct vcache_stats st;

    for (uint32_t i = 0; i < 100000; i++) {
        put(vc, i, i);
        if (i % 10000 == 0) {
            vcache_get_stats(vc, &st);
            assert_true(st.entries <= 1000);
        }
    }
    vcache_get_stats(vc, &st);
    assert_int_equal(st.entries, 1000);
    assert_int_equal(st.evictions, 99000);

    /* The newest 1000 are there, the others not. */
    for (uint32_t i = 99000; i < 100000; i++) {
        assert_true(has(vc, i, 100000));
    }
    for (uint32_t i = 0; i < 99000; i += 97) {
        assert_false(has(vc, i, 100000));
    }

    vcache_destroy(vc);
}

static void
test_zero_size(void **state)
{
    (void) state;
    struct vcache *vc = vcache_create(0);
    struct vcache_stats st;

    put(vc, 1, 0);
    assert_false(has(vc, 1, 0));
    vcache_get_stats(vc, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.max_entries, 0);
    vcache_destroy(vc);

    /* A one-entry cache keeps the last one. */
    vc = vcache_create(1);
    put(vc, 1, 0);
    put(vc, 2, 0);
    assert_false(has(vc, 1, 0));
    assert_true(has(vc, 2, 0));
    vcache_destroy(vc);
}

static void
test_event_names(void **state)
{
    (void) state;
    static const char *const names[] = {
        "connect", "listen", "accept", "send", "close",
    };
    for (int i = 0; i < VC_N_EVENTS; i++) {
        enum vcache_event e;
        assert_string_equal(vcache_event_name(i), names[i]);
        assert_true(vcache_event_from_name(names[i], &e));
        assert_int_equal(e, i);
    }
    enum vcache_event e = VC_SEND;
    assert_false(vcache_event_from_name("bind", &e));
    assert_false(vcache_event_from_name("", &e));
    assert_int_equal(e, VC_SEND);
    assert_null(vcache_event_name(VC_N_EVENTS));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get),
        cmocka_unit_test(test_key_fields),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_policy_version),
        cmocka_unit_test(test_lru),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_zero_size),
        cmocka_unit_test(test_event_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
