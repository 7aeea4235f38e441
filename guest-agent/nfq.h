/* nfq: one netfilter queue (NFQUEUE), spoken over NETLINK_NETFILTER
 * directly.
 *
 * appfw-agent's netfilter rules (rules.h) queue the first packet of each
 * new connection.  The kernel holds that packet until the agent gives a
 * verdict: accept, or repeat with a mark, which the rules turn into a
 * reject (a TCP reset or an ICMP port unreachable), so that a refused
 * connect() fails at once.  The queue has an explicit length and no
 * fail-open flag: when it is full, or nobody is bound to it (the agent
 * died), the kernel drops the packets. */
#ifndef APPFW_NFQ_H
#define APPFW_NFQ_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nfq;

/* Bytes of each packet copied to the agent: enough for the IPv6 header
 * and the TCP or UDP ports. */
#define NFQ_COPY_RANGE 128

struct nfq_packet {
    uint32_t id;                /* For nfq_verdict(). */
    uint8_t hook;               /* NF_INET_LOCAL_OUT, NF_INET_LOCAL_IN... */
    uint8_t family;             /* From the IP header: AF_INET, AF_INET6 */
    bool has_uid;
    uint32_t uid, gid;          /* The socket's, when the kernel knew it */
    uint32_t mark;
    uint32_t indev, outdev;     /* Interface indexes, 0 if none. */
    size_t len;                 /* Bytes in 'data' (at most COPY_RANGE) */
    uint8_t data[NFQ_COPY_RANGE];
};

/* Binds queue 'queue' with room for 'maxlen' packets.  Returns 0 or an
 * errno value, with '*error' (malloc'd) saying what failed. */
int nfq_open(uint16_t queue, uint32_t maxlen, struct nfq **, char **error);
void nfq_close(struct nfq *);

int nfq_fd(const struct nfq *);

/* Receives the next queued packet without blocking.  Returns 0, EAGAIN
 * when there is none, or another errno value (ENOBUFS: the kernel could
 * not deliver some packets to the agent, and dropped them). */
int nfq_recv(struct nfq *, struct nfq_packet *);

/* Whether messages already received wait in the buffer (nfq_recv() may
 * return a packet without reading). */
bool nfq_has_input(const struct nfq *);

/* Accepts packet 'id'. */
int nfq_accept(struct nfq *, uint32_t id);
/* Sends packet 'id' through the hook again with 'mark' set. */
int nfq_repeat_marked(struct nfq *, uint32_t id, uint32_t mark);
/* Drops packet 'id'. */
int nfq_drop(struct nfq *, uint32_t id);

#endif /* nfq.h */
