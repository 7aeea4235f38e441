/* tuple: a packet's connection (see tuple.h). */
#include "common/tuple.h"

#include <arpa/inet.h>
#include <string.h>

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

void
tuple_addr_text(int family, const void *addr, char out[TUPLE_ADDR_TEXT])
{
    if (family == AF_INET) {
        const uint8_t *a = addr;
        char *o = out;
        for (int i = 0; i < 4; i++) {
            unsigned int v = a[i];
            if (v >= 100) {
                *o++ = (char) ('0' + v / 100);
            }
            if (v >= 10) {
                *o++ = (char) ('0' + v / 10 % 10);
            }
            *o++ = (char) ('0' + v % 10);
            *o++ = i < 3 ? '.' : '\0';
        }
    } else if (family != AF_INET6
               || !inet_ntop(AF_INET6, addr, out, TUPLE_ADDR_TEXT)) {
        strcpy(out, "?");
    }
}

static bool
is_ext_header(int next)
{
    return next == 0 || next == 43 || next == 44 || next == 60;
}

/* Parses from the IP header 'l3' (of 'l3_len' bytes, version 'v'): a TCP
 * or UDP packet, or with 'any' a packet of any protocol. */
static bool
parse_l3(const uint8_t *l3, size_t l3_len, int v, bool any, struct tuple *t)
{
    const uint8_t *l4;
    size_t l4_len;
    if (v == 4) {
        if (l3_len < 20 || (l3[0] >> 4) != 4) {
            return false;
        }
        size_t ihl = (l3[0] & 0x0f) * 4;
        if (ihl < 20 || l3_len < ihl || get16(l3 + 6) & 0x1fff) {
            return false;
        }
        t->proto = l3[9];
        t->family = AF_INET;
        memcpy(t->src_addr, l3 + 12, 4);
        memcpy(t->dst_addr, l3 + 16, 4);
        tuple_addr_text(AF_INET, l3 + 12, t->src);
        tuple_addr_text(AF_INET, l3 + 16, t->dst);
        l4 = l3 + ihl;
        l4_len = l3_len - ihl;
    } else if (v == 6) {
        if (l3_len < 40 || (l3[0] >> 4) != 6) {
            return false;
        }
        t->family = AF_INET6;
        memcpy(t->src_addr, l3 + 8, 16);
        memcpy(t->dst_addr, l3 + 24, 16);
        tuple_addr_text(AF_INET6, l3 + 8, t->src);
        tuple_addr_text(AF_INET6, l3 + 24, t->dst);
        /* Through the extension headers a first fragment may carry before
         * the transport header: hop-by-hop options, routing, destination
         * options, fragment (at offset 0 only). */
        size_t off = 40;
        int next = l3[6];
        for (int i = 0; i < 8 && is_ext_header(next); i++) {
            if (l3_len < off + 8) {
                return false;
            }
            const uint8_t *e = l3 + off;
            if (next == 44) {
                if (get16(e + 2) & 0xfff8) {
                    /* A later fragment. */
                    t->later_fragment = any;
                    return any;
                }
                off += 8;
            } else {
                off += (e[1] + 1) * 8;
            }
            next = e[0];
        }
        if (l3_len < off || is_ext_header(next)) {
            return false;
        }
        t->proto = next;
        l4 = l3 + off;
        l4_len = l3_len - off;
    } else {
        return false;
    }
    if (any && t->proto != 6 && t->proto != 17) {
        int icmp = v == 4 ? 1 : 58;
        if (t->proto == icmp) {
            if (l4_len < 8) {
                return false;
            }
            t->icmp_type = l4[0];
            int echo = v == 4 ? 8 : 128, reply = v == 4 ? 0 : 129;
            if (t->icmp_type == echo || t->icmp_type == reply) {
                t->src_port = t->dst_port = get16(l4 + 4);
            }
        }
        return true;
    }
    if ((t->proto != 6 && t->proto != 17)
        || l4_len < (t->proto == 6 ? 20u : 8u)) {
        return false;
    }
    t->src_port = get16(l4);
    t->dst_port = get16(l4 + 2);
    t->syn = t->proto == 6 && (l4[13] & 0x12) == 0x02;
    return t->src_port && t->dst_port;
}

bool
tuple_parse_eth(const void *packet, size_t len, struct tuple *t)
{
    const uint8_t *pkt = packet;
    memset(t, 0, sizeof *t);
    if (len < 14) {
        return false;
    }
    uint16_t ethertype = get16(pkt + 12);
    return parse_l3(pkt + 14, len - 14, (ethertype == 0x0800 ? 4
                                         : ethertype == 0x86dd ? 6 : 0),
                    false, t);
}

bool
tuple_parse_ip(const void *packet, size_t len, struct tuple *t)
{
    const uint8_t *pkt = packet;
    memset(t, 0, sizeof *t);
    return len && parse_l3(pkt, len, pkt[0] >> 4, false, t);
}

bool
tuple_parse_ip_any(const void *packet, size_t len, struct tuple *t)
{
    const uint8_t *pkt = packet;
    memset(t, 0, sizeof *t);
    t->icmp_type = -1;
    return len && parse_l3(pkt, len, pkt[0] >> 4, true, t);
}
