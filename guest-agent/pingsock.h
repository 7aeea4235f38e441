/* pingsock: ICMP echo ("ping") sockets, found in /proc/net/icmp and
 * /proc/net/icmp6.
 *
 * An unprivileged process may open SOCK_DGRAM/IPPROTO_ICMP(V6) sockets
 * (net.ipv4.ping_group_range); the kernel writes the socket's identifier
 * into each echo request it sends.  sock_diag has no handler for these
 * sockets, so appfw-agent ties a queued echo request to its socket here,
 * by identifier and local address, and then to its process by the
 * socket's inode (agent.c).  No eBPF and no netlink: only text files. */
#ifndef PINGSOCK_H
#define PINGSOCK_H 1

#include <stdbool.h>
#include <stdint.h>

/* Looks in 'path' (the /proc/net/icmp or icmp6 format; 'family' AF_INET
 * or AF_INET6 says which) for the ping socket with identifier 'ident'
 * bound to 'local' (4 or 16 bytes), else one bound to the wildcard
 * address.  On success stores its inode and uid and returns true. */
bool pingsock_find(const char *path, int family, const uint8_t *local,
                   uint16_t ident, uint32_t *inode, uint32_t *uid);

#endif /* pingsock.h */
