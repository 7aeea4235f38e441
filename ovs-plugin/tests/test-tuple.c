/* Unit tests of packet -> connection parsing (ovs-plugin/tuple.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ovs-plugin/tuple.h"

static const uint8_t syn4[] = {
    0x52, 0x54, 0, 0, 0, 0x02, 0x52, 0x54, 0, 0, 0, 0x01, 0x08, 0x00,
    0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0,
    10, 0, 0, 1, 10, 0, 0, 2,
    0x9c, 0x40, 0, 80, 0, 0, 0x03, 0xe8, 0, 0, 0, 0,
    0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
};

static void
test_ipv4_tcp(void **state)
{
    (void) state;
    struct tuple t;
    assert_true(tuple_parse(syn4, sizeof syn4, &t));
    assert_int_equal(t.proto, 6);
    assert_string_equal(t.src, "10.0.0.1");
    assert_string_equal(t.dst, "10.0.0.2");
    assert_int_equal(t.src_port, 40000);
    assert_int_equal(t.dst_port, 80);
    assert_true(t.syn);
}

static void
test_ipv6_udp(void **state)
{
    (void) state;
    uint8_t p[14 + 40 + 8] = { 0 };
    p[12] = 0x86, p[13] = 0xdd;
    p[14] = 0x60;
    p[14 + 6] = 17;
    p[14 + 8] = 0x20, p[14 + 9] = 0x01, p[14 + 23] = 1;
    p[14 + 24] = 0x20, p[14 + 25] = 0x01, p[14 + 39] = 2;
    p[54] = 0x13, p[55] = 0x88, p[57] = 53;
    struct tuple t;
    assert_true(tuple_parse(p, sizeof p, &t));
    assert_int_equal(t.proto, 17);
    assert_string_equal(t.src, "2001::1");
    assert_string_equal(t.dst, "2001::2");
    assert_int_equal(t.src_port, 5000);
    assert_int_equal(t.dst_port, 53);
    assert_false(t.syn);
}

static void
test_hostile(void **state)
{
    (void) state;
    struct tuple t;
    for (size_t n = 0; n < sizeof syn4; n++) {
        assert_false(tuple_parse(syn4, n, &t));
    }
    uint8_t p[sizeof syn4];
    memcpy(p, syn4, sizeof p);
    p[14 + 9] = 1;                                  /* ICMP. */
    assert_false(tuple_parse(p, sizeof p, &t));
    memcpy(p, syn4, sizeof p);
    p[14] = 0x4f;                                   /* IHL past the end. */
    assert_false(tuple_parse(p, sizeof p, &t));
    memcpy(p, syn4, sizeof p);
    p[14 + 7] = 1;                                  /* A later fragment. */
    assert_false(tuple_parse(p, sizeof p, &t));
    memcpy(p, syn4, sizeof p);
    p[34] = p[35] = 0;                              /* Port 0. */
    assert_false(tuple_parse(p, sizeof p, &t));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_tcp),
        cmocka_unit_test(test_ipv6_udp),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
