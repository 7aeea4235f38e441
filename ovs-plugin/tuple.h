/* tuple: the connection a packet belongs to (addresses, protocol, ports),
 * for appfw-switchd's questions about VMs without an agent.
 *
 * Pure, and for hostile input: anything but a well-formed Ethernet +
 * IPv4/IPv6 + TCP/UDP first fragment (no VLAN tag, no IPv6 extension
 * headers) is refused. */
#ifndef TUPLE_H
#define TUPLE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tuple {
    int proto;                  /* 6 (TCP) or 17 (UDP). */
    char src[46], dst[46];      /* Printed addresses. */
    int src_port, dst_port;
    bool syn;                   /* TCP SYN without ACK: a new connection. */
};

/* Fills 't' from 'packet' ('len' bytes).  Returns false if it is not a
 * TCP or UDP packet this module understands. */
bool tuple_parse(const void *packet, size_t len, struct tuple *t);

#endif /* tuple.h */
