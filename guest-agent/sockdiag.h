/* sockdiag: finds the socket behind a packet, through the kernel's
 * NETLINK_SOCK_DIAG interface (what ss(8) uses), by exact 4-tuple.
 *
 * The agent sees a connection's first packet in its netfilter queue; the
 * socket's cookie then leads to the owner the eBPF hooks recorded
 * (hooks.h).  For a connection that a local listener is about to accept,
 * the lookup finds the listening socket. */
#ifndef APPFW_SOCKDIAG_H
#define APPFW_SOCKDIAG_H 1

#include <stdbool.h>
#include <stdint.h>

struct sockdiag;

struct sockdiag_endpoint {
    uint8_t addr[16];           /* IPv4 in the first 4 bytes. */
    uint16_t port;              /* Host order. */
    uint32_t ifindex;           /* Local end: the interface a packet
                                 * came in or goes out on (0: none).  A
                                 * socket bound to a device (SO_BINDTODEVICE)
                                 * or to a scoped IPv6 link-local address
                                 * is found only with it.  In a dump, the
                                 * device the socket is bound to. */
};

/* The kernel's TCP_LISTEN state (include/net/tcp_states.h), which
 * <linux/tcp.h> does not define and <netinet/tcp.h> cannot be included
 * with it to give. */
#define SOCKDIAG_TCP_LISTEN 10

struct sockdiag_sock {
    uint64_t cookie;
    uint32_t uid;
    uint32_t inode;
    uint8_t state;              /* TCP_* for TCP sockets. */
    bool has_tcp_info;          /* Only when asked for. */
    uint64_t bytes_acked, bytes_received;
    uint32_t segs_out, segs_in;
};

/* Opens a NETLINK_SOCK_DIAG socket.  Returns 0 or an errno value. */
int sockdiag_open(struct sockdiag **);
void sockdiag_close(struct sockdiag *);

/* Looks up the socket with local end 'local' and remote end 'remote' for
 * 'family' (AF_INET, AF_INET6) and 'protocol' (IPPROTO_TCP, IPPROTO_UDP),
 * as the kernel would deliver a packet on 'local->ifindex'.
 * With 'tcp_info', also fills the TCP counters.  Returns 0, ENOENT if
 * there is no such socket, or another errno value. */
int sockdiag_lookup(struct sockdiag *, int family, int protocol,
                    const struct sockdiag_endpoint *local,
                    const struct sockdiag_endpoint *remote, bool tcp_info,
                    struct sockdiag_sock *);

/* Calls 'cb' for every socket of 'family' and 'protocol' (one dump, for
 * statistics passes over many connections), with the TCP counters.
 * Returns 0 or an errno value. */
int sockdiag_dump(struct sockdiag *, int family, int protocol,
                  void (*cb)(const struct sockdiag_endpoint *local,
                             const struct sockdiag_endpoint *remote,
                             const struct sockdiag_sock *, void *aux),
                  void *aux);

/* Like sockdiag_dump(), but only for the sockets whose local port is
 * 'port' (filtered in the kernel), and for TCP only listening sockets if
 * 'listening': the sockets an inbound packet to that port could reach. */
int sockdiag_dump_port(struct sockdiag *, int family, int protocol,
                       uint16_t port, bool listening,
                       void (*cb)(const struct sockdiag_endpoint *local,
                                  const struct sockdiag_endpoint *remote,
                                  const struct sockdiag_sock *, void *aux),
                       void *aux);

#endif /* sockdiag.h */
