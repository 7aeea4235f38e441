/* Unit tests of packet -> connection parsing (common/tuple.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/tuple.h"

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
    assert_true(tuple_parse_eth(syn4, sizeof syn4, &t));
    assert_int_equal(t.proto, 6);
    assert_string_equal(t.src, "10.0.0.1");
    assert_string_equal(t.dst, "10.0.0.2");
    assert_int_equal(t.src_port, 40000);
    assert_int_equal(t.dst_port, 80);
    assert_true(t.syn);
    assert_int_equal(t.family, AF_INET);
    static const uint8_t a[4] = { 10, 0, 0, 2 };
    assert_memory_equal(t.dst_addr, a, 4);
}

/* The same packet without its Ethernet header, as a netfilter queue
 * delivers it; and every truncation of it is refused. */
static void
test_ip_level(void **state)
{
    (void) state;
    struct tuple t;
    assert_true(tuple_parse_ip(syn4 + 14, sizeof syn4 - 14, &t));
    assert_int_equal(t.family, AF_INET);
    assert_string_equal(t.src, "10.0.0.1");
    assert_int_equal(t.src_port, 40000);
    assert_true(t.syn);
    for (size_t n = 0; n < sizeof syn4 - 14; n++) {
        assert_false(tuple_parse_ip(syn4 + 14, n, &t));
    }
    uint8_t p[sizeof syn4 - 14];
    memcpy(p, syn4 + 14, sizeof p);
    p[0] = 0x55;                                    /* Version 5. */
    assert_false(tuple_parse_ip(p, sizeof p, &t));
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
    assert_true(tuple_parse_eth(p, sizeof p, &t));
    assert_int_equal(t.proto, 17);
    assert_string_equal(t.src, "2001::1");
    assert_string_equal(t.dst, "2001::2");
    assert_int_equal(t.src_port, 5000);
    assert_int_equal(t.dst_port, 53);
    assert_false(t.syn);
    assert_int_equal(t.family, AF_INET6);
    assert_int_equal(t.src_addr[0], 0x20);
    assert_int_equal(t.src_addr[15], 1);
    assert_true(tuple_parse_ip(p + 14, sizeof p - 14, &t));
    assert_int_equal(t.dst_port, 53);
}

/* A first fragment with hop-by-hop options and a fragment header before
 * UDP (a large datagram arriving at the guest); a later fragment and an
 * unknown or truncated extension header are refused. */
static void
test_ipv6_extension_headers(void **state)
{
    (void) state;
    uint8_t p[40 + 8 + 8 + 8] = { 0 };
    p[0] = 0x60;
    p[6] = 0;                                       /* Hop-by-hop... */
    p[8] = 0x20, p[9] = 0x01, p[23] = 1;
    p[24] = 0x20, p[25] = 0x01, p[39] = 2;
    p[40] = 44, p[41] = 0;                          /* ...8 bytes, then */
    p[48] = 17;                                     /* fragment (offset 0,
                                                     * more), then UDP. */
    p[51] = 1;
    p[56] = 0x13, p[57] = 0x88, p[59] = 53;
    struct tuple t;
    assert_true(tuple_parse_ip(p, sizeof p, &t));
    assert_int_equal(t.proto, 17);
    assert_int_equal(t.src_port, 5000);
    assert_int_equal(t.dst_port, 53);

    uint8_t q[sizeof p];
    memcpy(q, p, sizeof q);
    q[50] = 0x01;                                   /* Offset 32: later. */
    assert_false(tuple_parse_ip(q, sizeof q, &t));
    memcpy(q, p, sizeof q);
    q[40] = 59;                                     /* No next header. */
    assert_false(tuple_parse_ip(q, sizeof q, &t));
    memcpy(q, p, sizeof q);
    q[41] = 200;                                    /* Past the end. */
    assert_false(tuple_parse_ip(q, sizeof q, &t));
    for (size_t n = 0; n < sizeof p; n++) {
        assert_false(tuple_parse_ip(p, n, &t));
    }
}

static void
test_hostile(void **state)
{
    (void) state;
    struct tuple t;
    for (size_t n = 0; n < sizeof syn4; n++) {
        assert_false(tuple_parse_eth(syn4, n, &t));
    }
    uint8_t p[sizeof syn4];
    memcpy(p, syn4, sizeof p);
    p[14 + 9] = 1;                                  /* ICMP. */
    assert_false(tuple_parse_eth(p, sizeof p, &t));
    memcpy(p, syn4, sizeof p);
    p[14] = 0x4f;                                   /* IHL past the end. */
    assert_false(tuple_parse_eth(p, sizeof p, &t));
    memcpy(p, syn4, sizeof p);
    p[14 + 7] = 1;                                  /* A later fragment. */
    assert_false(tuple_parse_eth(p, sizeof p, &t));
    memcpy(p, syn4, sizeof p);
    p[34] = p[35] = 0;                              /* Port 0. */
    assert_false(tuple_parse_eth(p, sizeof p, &t));
}

/* tuple_parse_ip_any(): other protocols with their addresses, ICMP echo
 * with its identifier, a later IPv6 fragment flagged, TCP and UDP as
 * tuple_parse_ip() parses them, and nothing malformed. */
static void
test_any_protocol(void **state)
{
    (void) state;
    struct tuple t;
    uint8_t p[sizeof syn4 - 14];
    memcpy(p, syn4 + 14, sizeof p);
    assert_true(tuple_parse_ip_any(p, sizeof p, &t));
    assert_int_equal(t.proto, 6);
    assert_int_equal(t.dst_port, 80);
    assert_int_equal(t.icmp_type, -1);

    p[9] = 132;                                     /* SCTP. */
    assert_true(tuple_parse_ip_any(p, sizeof p, &t));
    assert_int_equal(t.proto, 132);
    assert_string_equal(t.dst, "10.0.0.2");
    assert_int_equal(t.icmp_type, -1);
    assert_false(t.later_fragment);

    p[9] = 1;                                       /* ICMP echo, id. */
    p[20] = 8, p[21] = 0, p[24] = 0x12, p[25] = 0x34;
    assert_true(tuple_parse_ip_any(p, sizeof p, &t));
    assert_int_equal(t.icmp_type, 8);
    assert_int_equal(t.src_port, 0x1234);
    assert_false(tuple_parse_ip_any(p, 20 + 7, &t));   /* Too short. */
    p[20] = 3;                                      /* An error: no id. */
    assert_true(tuple_parse_ip_any(p, sizeof p, &t));
    assert_int_equal(t.icmp_type, 3);
    assert_int_equal(t.src_port, 0);

    memcpy(p, syn4 + 14, sizeof p);
    p[34 - 14] = p[35 - 14] = 0;                    /* TCP with port 0. */
    assert_false(tuple_parse_ip_any(p, sizeof p, &t));

    uint8_t q[40 + 8 + 8] = { 0 };                  /* IPv6, fragment. */
    q[0] = 0x60;
    q[6] = 44;
    q[40] = 58;
    q[48] = 128, q[52] = 0xab, q[53] = 0xcd;        /* ICMPv6 echo. */
    assert_true(tuple_parse_ip_any(q, sizeof q, &t));
    assert_int_equal(t.proto, 58);
    assert_int_equal(t.icmp_type, 128);
    assert_int_equal(t.src_port, 0xabcd);
    q[42] = 0x01;                                   /* Offset 32: later. */
    assert_true(tuple_parse_ip_any(q, sizeof q, &t));
    assert_true(t.later_fragment);
    assert_false(tuple_parse_ip(q, sizeof q, &t));
    q[42] = 0;
    q[6] = 0, q[41] = 200;                          /* Hop-by-hop, past */
    assert_false(tuple_parse_ip_any(q, sizeof q, &t));  /* the end. */
    for (size_t n = 0; n < 40; n++) {
        assert_false(tuple_parse_ip_any(q, n, &t));
    }
}

/* tuple_addr_text() prints as inet_ntop() does: every IPv4 octet value
 * in every position, a pseudo-random sweep, IPv6, and an unknown
 * family. */
static void
test_addr_text(void **state)
{
    (void) state;
    char got[TUPLE_ADDR_TEXT], want[TUPLE_ADDR_TEXT];
    uint32_t x = 12345;
    for (int i = 0; i < 256 * 4 + 100000; i++) {
        uint8_t a[4];
        if (i < 256 * 4) {
            memset(a, 0, 4);
            a[i / 256] = (uint8_t) (i % 256);
        } else {
            x = x * 1103515245 + 12345;
            memcpy(a, &x, 4);
        }
        tuple_addr_text(AF_INET, a, got);
        assert_non_null(inet_ntop(AF_INET, a, want, sizeof want));
        assert_string_equal(got, want);
    }
    static const uint8_t max4[4] = { 255, 255, 255, 255 };
    tuple_addr_text(AF_INET, max4, got);
    assert_string_equal(got, "255.255.255.255");
    static const uint8_t a6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0,
                                    0, 0, 0, 0, 0, 0, 0, 1 };
    tuple_addr_text(AF_INET6, a6, got);
    assert_string_equal(got, "fd00::1");
    tuple_addr_text(99, a6, got);
    assert_string_equal(got, "?");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_tcp),
        cmocka_unit_test(test_ip_level),
        cmocka_unit_test(test_ipv6_udp),
        cmocka_unit_test(test_ipv6_extension_headers),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_any_protocol),
        cmocka_unit_test(test_addr_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
