/* reset: a TCP RST for a refused packet (see reset.h). */
#include "reset.h"

#include <stdbool.h>
#include <string.h>

#define ETH_LEN 14
#define TCP_LEN 20
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void
put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

/* The one's-complement sum of 'len' bytes, added to 'sum'. */
static uint32_t
csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += get16(p + i);
    }
    if (len & 1) {
        sum += p[len - 1] << 8;
    }
    return sum;
}

static uint16_t
csum_finish(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

/* Fills the TCP header at 'tcp' answering 'in' (a TCP header whose segment
 * carried 'payload' bytes). */
static void
compose_tcp(const uint8_t *in, size_t payload, uint8_t *tcp)
{
    uint8_t flags = in[13];
    memset(tcp, 0, TCP_LEN);
    memcpy(tcp, in + 2, 2);             /* Ports swapped. */
    memcpy(tcp + 2, in, 2);
    if (flags & TCP_ACK) {
        /* RFC 9293 3.10.7.1: <SEQ=SEG.ACK><CTL=RST>. */
        put32(tcp + 4, get32(in + 8));
        tcp[13] = TCP_RST;
    } else {
        uint32_t ack = get32(in + 4) + payload + !!(flags & TCP_SYN)
                       + !!(flags & TCP_FIN);
        put32(tcp + 8, ack);
        tcp[13] = TCP_RST | TCP_ACK;
    }
    tcp[12] = (TCP_LEN / 4) << 4;
}

size_t
reset_compose(const void *packet_, size_t len, uint8_t *out)
{
    const uint8_t *pkt = packet_;
    if (len < ETH_LEN) {
        return 0;
    }
    uint16_t ethertype = get16(pkt + 12);
    const uint8_t *l3 = pkt + ETH_LEN;
    size_t l3_len = len - ETH_LEN;
    const uint8_t *tcp_in;
    size_t payload, ip_len;
    bool v6;
    if (ethertype == 0x0800) {
        if (l3_len < 20 || (l3[0] >> 4) != 4 || l3[9] != 6) {
            return 0;
        }
        size_t ihl = (l3[0] & 0x0f) * 4;
        size_t total = get16(l3 + 2);
        if (ihl < 20 || get16(l3 + 6) & 0x1fff     /* A later fragment. */
            || l3_len < ihl + TCP_LEN || total < ihl + TCP_LEN) {
            return 0;
        }
        tcp_in = l3 + ihl;
        size_t doff = (tcp_in[12] >> 4) * 4;
        if (doff < TCP_LEN || total < ihl + doff) {
            return 0;
        }
        payload = total - ihl - doff;
        ip_len = 20;
        v6 = false;
    } else if (ethertype == 0x86dd) {
        if (l3_len < 40 + TCP_LEN || (l3[0] >> 4) != 6 || l3[6] != 6) {
            return 0;
        }
        tcp_in = l3 + 40;
        size_t plen = get16(l3 + 4);
        size_t doff = (tcp_in[12] >> 4) * 4;
        if (doff < TCP_LEN || plen < doff) {
            return 0;
        }
        payload = plen - doff;
        ip_len = 40;
        v6 = true;
    } else {
        return 0;
    }
    if (tcp_in[13] & TCP_RST) {
        return 0;               /* Never answer a reset. */
    }

    memcpy(out, pkt + 6, 6);            /* MACs swapped. */
    memcpy(out + 6, pkt, 6);
    put16(out + 12, ethertype);
    uint8_t *ip = out + ETH_LEN;
    uint8_t *tcp = ip + ip_len;
    compose_tcp(tcp_in, payload, tcp);
    uint32_t sum;
    if (!v6) {
        memset(ip, 0, 20);
        ip[0] = 0x45;
        put16(ip + 2, 20 + TCP_LEN);
        ip[6] = 0x40;                   /* Don't fragment. */
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, l3 + 16, 4);    /* Addresses swapped. */
        memcpy(ip + 16, l3 + 12, 4);
        put16(ip + 10, csum_finish(csum_add(0, ip, 20)));
        sum = csum_add(0, ip + 12, 8) + 6 + TCP_LEN;
    } else {
        memset(ip, 0, 40);
        ip[0] = 0x60;
        put16(ip + 4, TCP_LEN);
        ip[6] = 6;
        ip[7] = 64;
        memcpy(ip + 8, l3 + 24, 16);
        memcpy(ip + 24, l3 + 8, 16);
        sum = csum_add(0, ip + 8, 32) + 6 + TCP_LEN;
    }
    put16(tcp + 16, csum_finish(csum_add(sum, tcp, TCP_LEN)));
    return ETH_LEN + ip_len + TCP_LEN;
}
