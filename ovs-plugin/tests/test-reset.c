/* Unit tests of the TCP reset appfw-switchd sends for refused packets
 * (ovs-plugin/reset.c): fields, checksums, and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ovs-plugin/reset.h"

static uint16_t
sum16(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (p[i] << 8) | p[i + 1];
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

/* A SYN from 10.0.0.1:40000 (52:54:00:00:00:01) to 10.0.0.2:80, seq
 * 1000. */
static size_t
syn4(uint8_t *p)
{
    static const uint8_t pkt[] = {
        0x52, 0x54, 0, 0, 0, 0x02, 0x52, 0x54, 0, 0, 0, 0x01, 0x08, 0x00,
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0,
        10, 0, 0, 1, 10, 0, 0, 2,
        0x9c, 0x40, 0, 80, 0, 0, 0x03, 0xe8, 0, 0, 0, 0,
        0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    };
    memcpy(p, pkt, sizeof pkt);
    return sizeof pkt;
}

static void
test_ipv4_syn(void **state)
{
    (void) state;
    uint8_t in[128], out[RESET_MAX_LEN];
    size_t len = syn4(in);
    size_t n = reset_compose(in, len, out);
    assert_int_equal(n, 54);
    assert_memory_equal(out, in + 6, 6);            /* MACs swapped. */
    assert_memory_equal(out + 6, in, 6);
    const uint8_t *ip = out + 14, *tcp = ip + 20;
    assert_memory_equal(ip + 12, in + 14 + 16, 4);  /* Addresses too. */
    assert_memory_equal(ip + 16, in + 14 + 12, 4);
    assert_int_equal(sum16(ip, 20, 0), 0xffff);     /* IP checksum. */
    assert_int_equal((tcp[0] << 8) | tcp[1], 80);
    assert_int_equal((tcp[2] << 8) | tcp[3], 40000);
    assert_int_equal(tcp[13], 0x14);                /* RST+ACK. */
    /* ack = SYN's seq + 1. */
    assert_int_equal((tcp[8] << 24) | (tcp[9] << 16) | (tcp[10] << 8)
                     | tcp[11], 1001);
    /* TCP checksum over the pseudo-header. */
    uint32_t pseudo = sum16(ip + 12, 8, 0) + 6 + 20;
    assert_int_equal(sum16(tcp, 20, pseudo), 0xffff);
}

static void
test_ipv4_ack_gets_plain_rst(void **state)
{
    (void) state;
    uint8_t in[128], out[RESET_MAX_LEN];
    size_t len = syn4(in);
    in[14 + 20 + 13] = 0x10;                        /* ACK, not SYN. */
    memcpy(in + 14 + 20 + 8, "\x00\x00\x12\x34", 4);
    assert_int_equal(reset_compose(in, len, out), 54);
    const uint8_t *tcp = out + 34;
    assert_int_equal(tcp[13], 0x04);                /* RST only... */
    assert_memory_equal(tcp + 4, "\x00\x00\x12\x34", 4);  /* seq=ack. */
}

static void
test_ipv6_syn(void **state)
{
    (void) state;
    uint8_t in[128] = { 0 }, out[RESET_MAX_LEN];
    memcpy(in, "\x52\x54\x00\x00\x00\x02\x52\x54\x00\x00\x00\x01\x86\xdd",
           14);
    uint8_t *ip = in + 14, *tcp = ip + 40;
    ip[0] = 0x60;
    ip[5] = 20;                                     /* Payload length. */
    ip[6] = 6;
    ip[7] = 64;
    ip[8] = 0x20, ip[9] = 0x01, ip[23] = 1;         /* 2001::1 */
    ip[24] = 0x20, ip[25] = 0x01, ip[39] = 2;       /* 2001::2 */
    tcp[0] = 0x9c, tcp[1] = 0x40, tcp[3] = 80;
    tcp[7] = 7;
    tcp[12] = 0x50;
    tcp[13] = 0x02;
    size_t n = reset_compose(in, 14 + 40 + 20, out);
    assert_int_equal(n, 74);
    const uint8_t *oip = out + 14, *otcp = oip + 40;
    assert_int_equal(oip[39], 1);                   /* To 2001::1. */
    assert_int_equal(otcp[13], 0x14);
    assert_int_equal(otcp[11], 8);
    uint32_t pseudo = sum16(oip + 8, 32, 0) + 6 + 20;
    assert_int_equal(sum16(otcp, 20, pseudo), 0xffff);
}

static void
test_hostile_input(void **state)
{
    (void) state;
    uint8_t in[128], out[RESET_MAX_LEN];
    size_t len = syn4(in);
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(reset_compose(in, n, out), 0);     /* Truncated. */
    }
    syn4(in);
    in[14 + 20 + 13] = 0x04;                        /* A reset. */
    assert_int_equal(reset_compose(in, len, out), 0);
    syn4(in);
    in[14 + 9] = 17;                                /* UDP. */
    assert_int_equal(reset_compose(in, len, out), 0);
    syn4(in);
    in[14] = 0x4f;                                  /* IHL past the end. */
    assert_int_equal(reset_compose(in, len, out), 0);
    syn4(in);
    in[14 + 20 + 12] = 0xf0;                        /* Data offset 60. */
    assert_int_equal(reset_compose(in, len, out), 0);
    syn4(in);
    in[12] = 0x81;                                  /* VLAN tag. */
    assert_int_equal(reset_compose(in, len, out), 0);
    syn4(in);
    in[14 + 6] = 0x20, in[14 + 7] = 1;              /* A later fragment. */
    assert_int_equal(reset_compose(in, len, out), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_syn),
        cmocka_unit_test(test_ipv4_ack_gets_plain_rst),
        cmocka_unit_test(test_ipv6_syn),
        cmocka_unit_test(test_hostile_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
