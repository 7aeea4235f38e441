/* tuple: the connection a packet belongs to (addresses, protocol, ports):
 * for appfw-switchd's questions about VMs without an agent (Ethernet
 * frames) and for appfw-agent's netfilter queue (IP packets).
 *
 * Pure, and for hostile input: anything but a well-formed IPv4/IPv6 +
 * TCP/UDP first fragment (tuple_parse_ip_any(): of any protocol) (no VLAN tag; IPv6 extension headers: at most 8
 * of hop-by-hop, routing, destination options and fragment) is refused. */
#ifndef APPFW_TUPLE_H
#define APPFW_TUPLE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TUPLE_ADDR_TEXT 46     /* INET6_ADDRSTRLEN */

struct tuple {
    int proto;                  /* 6 (TCP) or 17 (UDP). */
    int family;                 /* AF_INET or AF_INET6. */
    uint8_t src_addr[16], dst_addr[16];  /* IPv4: the first 4 bytes. */
    char src[TUPLE_ADDR_TEXT], dst[TUPLE_ADDR_TEXT]; /* Printed. */
    int src_port, dst_port;
    bool syn;                   /* TCP SYN without ACK: a new connection. */
    /* Filled by tuple_parse_ip_any() only: */
    int icmp_type;              /* ICMP or ICMPv6 type; -1: not ICMP. */
    bool later_fragment;        /* An IPv6 fragment past the first. */
};

/* Prints the address 'addr' (4 bytes for AF_INET, 16 for AF_INET6) into
 * 'out' as inet_ntop() does, IPv4 without going through printf (this is
 * on appfw-agent's and appfw-switchd's per-connection paths); "?" for
 * another family. */
void tuple_addr_text(int family, const void *addr,
                     char out[TUPLE_ADDR_TEXT]);

/* Fills 't' from the Ethernet frame 'packet' ('len' bytes).  Returns
 * false if it is not a TCP or UDP packet this module understands. */
bool tuple_parse_eth(const void *packet, size_t len, struct tuple *t);

/* The same for an IP packet (its first 'len' bytes suffice). */
bool tuple_parse_ip(const void *packet, size_t len, struct tuple *t);

/* The same for an IP packet of any protocol: fills 't' with the protocol
 * (past IPv6 extension headers) and the addresses; for TCP and UDP the
 * ports as above; for an ICMP or ICMPv6 message its type, and for an echo
 * request or reply its identifier in src_port and dst_port.  For a later
 * IPv6 fragment it returns true with 'later_fragment' set and no protocol.
 * Returns false for a malformed packet (or a malformed TCP/UDP header). */
bool tuple_parse_ip_any(const void *packet, size_t len, struct tuple *t);

#endif /* tuple.h */
