/* nfq: the NFQUEUE netlink protocol (linux/netfilter/nfnetlink_queue.h). */
#include "guest-agent/nfq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"

struct nfq {
    int fd;
    uint16_t queue;
    uint32_t seq;
    /* Received messages not yet handed out. */
    char *buf;
    size_t buf_size;
    size_t len, off;
};

#define NFQ_BUF_SIZE (256 * 1024)

/* A netlink message being built. */
struct nlbuf {
    union {
        char data[512];
        struct nlmsghdr nlh;
    } u;
};

static struct nlmsghdr *
nl_start(struct nlbuf *b, uint16_t type, uint16_t flags, uint8_t family,
         uint16_t res_id, uint32_t seq)
{
    memset(b, 0, sizeof *b);
    struct nlmsghdr *h = &b->u.nlh;
    h->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST | flags;
    h->nlmsg_seq = seq;
    struct nfgenmsg *g = NLMSG_DATA(h);
    g->nfgen_family = family;
    g->version = NFNETLINK_V0;
    g->res_id = htons(res_id);
    return h;
}

static void
nl_put(struct nlmsghdr *h, uint16_t type, const void *data, size_t len)
{
    struct nlattr *a = (void *) ((char *) h + NLMSG_ALIGN(h->nlmsg_len));
    a->nla_type = type;
    a->nla_len = NLA_HDRLEN + len;
    memcpy((char *) a + NLA_HDRLEN, data, len);
    h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static int
nl_send(struct nfq *q, const struct nlmsghdr *h)
{
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    for (;;) {
        if (sendto(q->fd, h, h->nlmsg_len, 0, (struct sockaddr *) &sa,
                   sizeof sa) >= 0) {
            return 0;
        }
        if (errno != EINTR) {
            return errno;
        }
    }
}

/* Sends a config message and waits for its acknowledgement. */
static int
config(struct nfq *q, const struct nlmsghdr *h)
{
    int error = nl_send(q, h);
    if (error) {
        return error;
    }
    for (;;) {
        union {
            char buf[4096];
            struct nlmsghdr align;
        } u;
        ssize_t n = recv(q->fd, u.buf, sizeof u.buf, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        for (struct nlmsghdr *r = &u.align; NLMSG_OK(r, (size_t) n);
             r = NLMSG_NEXT(r, n)) {
            if (r->nlmsg_seq == h->nlmsg_seq && r->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(r);
                return -e->error;
            }
        }
    }
}

static int
config_cmd(struct nfq *q, uint8_t cmd, uint8_t pf)
{
    struct nlbuf b;
    struct nlmsghdr *h = nl_start(&b, (NFNL_SUBSYS_QUEUE << 8)
                                  | NFQNL_MSG_CONFIG, NLM_F_ACK, AF_UNSPEC,
                                  q->queue, ++q->seq);
    struct nfqnl_msg_config_cmd c = { .command = cmd, .pf = htons(pf) };
    nl_put(h, NFQA_CFG_CMD, &c, sizeof c);
    return config(q, h);
}

int
nfq_open(uint16_t queue, uint32_t maxlen, struct nfq **qp, char **errorp)
{
    *qp = NULL;
    *errorp = NULL;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) {
        int error = errno;
        *errorp = xasprintf("netlink socket: %s", strerror(error));
        return error;
    }
    struct nfq *q = xcalloc(1, sizeof *q);
    q->fd = fd;
    q->queue = queue;
    q->buf_size = NFQ_BUF_SIZE;
    q->buf = xmalloc(q->buf_size);

    /* Room for a burst of queued packets between two reads; without it
     * the kernel drops them (ENOBUFS). */
    int rcvbuf = 32 * 1024 * 1024;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf)) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }

    int error = config_cmd(q, NFQNL_CFG_CMD_BIND, 0);
    if (error) {
        *errorp = xasprintf("binding netfilter queue %u: %s%s", queue,
                            strerror(error), error == EBUSY
                            ? " (another process holds it)" : "");
        goto error;
    }

    struct nlbuf b;
    struct nlmsghdr *h = nl_start(&b, (NFNL_SUBSYS_QUEUE << 8)
                                  | NFQNL_MSG_CONFIG, NLM_F_ACK, AF_UNSPEC,
                                  queue, ++q->seq);
    struct nfqnl_msg_config_params params = {
        .copy_range = htonl(NFQ_COPY_RANGE),
        .copy_mode = NFQNL_COPY_PACKET,
    };
    nl_put(h, NFQA_CFG_PARAMS, &params, sizeof params);
    uint32_t be_maxlen = htonl(maxlen);
    nl_put(h, NFQA_CFG_QUEUE_MAXLEN, &be_maxlen, sizeof be_maxlen);
    /* The socket's uid and gid with each packet; GSO packets as they
     * are (only their headers are read).  Deliberately not FAIL_OPEN. */
    uint32_t flags = htonl(NFQA_CFG_F_UID_GID | NFQA_CFG_F_GSO);
    nl_put(h, NFQA_CFG_FLAGS, &flags, sizeof flags);
    nl_put(h, NFQA_CFG_MASK, &flags, sizeof flags);
    error = config(q, h);
    if (error) {
        *errorp = xasprintf("configuring netfilter queue %u: %s", queue,
                            strerror(error));
        goto error;
    }
    *qp = q;
    return 0;

error:
    nfq_close(q);
    return error;
}

void
nfq_close(struct nfq *q)
{
    if (q) {
        close(q->fd);
        free(q->buf);
        free(q);
    }
}

int
nfq_fd(const struct nfq *q)
{
    return q->fd;
}

static bool
parse_packet(const struct nlmsghdr *h, struct nfq_packet *p)
{
    if (h->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)
        || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nfgenmsg))) {
        return false;
    }
    memset(p, 0, offsetof(struct nfq_packet, data));
    bool have_hdr = false;
    size_t off = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    off = NLMSG_ALIGN(off);
    while (off + NLA_HDRLEN <= h->nlmsg_len) {
        const struct nlattr *a = (const void *) ((const char *) h + off);
        if (a->nla_len < NLA_HDRLEN || off + a->nla_len > h->nlmsg_len) {
            break;
        }
        const void *v = (const char *) a + NLA_HDRLEN;
        size_t vlen = a->nla_len - NLA_HDRLEN;
        uint32_t u32;
        switch (a->nla_type & NLA_TYPE_MASK) {
        case NFQA_PACKET_HDR:
            if (vlen >= sizeof(struct nfqnl_msg_packet_hdr)) {
                const struct nfqnl_msg_packet_hdr *ph = v;
                p->id = ntohl(ph->packet_id);
                p->hook = ph->hook;
                have_hdr = true;
            }
            break;
        case NFQA_MARK:
            if (vlen >= 4) {
                memcpy(&u32, v, 4);
                p->mark = ntohl(u32);
            }
            break;
        case NFQA_UID:
            if (vlen >= 4) {
                memcpy(&u32, v, 4);
                p->uid = ntohl(u32);
                p->has_uid = true;
            }
            break;
        case NFQA_GID:
            if (vlen >= 4) {
                memcpy(&u32, v, 4);
                p->gid = ntohl(u32);
            }
            break;
        case NFQA_IFINDEX_INDEV:
        case NFQA_IFINDEX_OUTDEV:
            if (vlen >= 4) {
                memcpy(&u32, v, 4);
                *((a->nla_type & NLA_TYPE_MASK) == NFQA_IFINDEX_INDEV
                  ? &p->indev : &p->outdev) = ntohl(u32);
            }
            break;
        case NFQA_PAYLOAD:
            p->len = vlen < NFQ_COPY_RANGE ? vlen : NFQ_COPY_RANGE;
            memcpy(p->data, v, p->len);
            break;
        default:
            break;
        }
        off += NLA_ALIGN(a->nla_len);
    }
    if (p->len) {
        uint8_t version = p->data[0] >> 4;
        p->family = version == 4 ? AF_INET : version == 6 ? AF_INET6 : 0;
    }
    return have_hdr;
}

bool
nfq_has_input(const struct nfq *q)
{
    return q->off < q->len;
}

int
nfq_recv(struct nfq *q, struct nfq_packet *p)
{
    for (;;) {
        while (q->off < q->len) {
            struct nlmsghdr *h = (void *) (q->buf + q->off);
            size_t left = q->len - q->off;
            if (!NLMSG_OK(h, left)) {
                q->off = q->len;
                break;
            }
            q->off += NLMSG_ALIGN(h->nlmsg_len);
            if (parse_packet(h, p)) {
                return 0;
            }
            /* Acks of verdicts with errors, or anything else: skip. */
        }
        ssize_t n = recv(q->fd, q->buf, q->buf_size, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EWOULDBLOCK ? EAGAIN : errno;
        }
        q->len = n;
        q->off = 0;
    }
}

static int
verdict(struct nfq *q, uint32_t id, uint32_t v, const uint32_t *mark)
{
    struct nlbuf b;
    struct nlmsghdr *h = nl_start(&b, (NFNL_SUBSYS_QUEUE << 8)
                                  | NFQNL_MSG_VERDICT, 0, AF_UNSPEC,
                                  q->queue, ++q->seq);
    struct nfqnl_msg_verdict_hdr vh = {
        .verdict = htonl(v),
        .id = htonl(id),
    };
    nl_put(h, NFQA_VERDICT_HDR, &vh, sizeof vh);
    if (mark) {
        uint32_t be = htonl(*mark);
        nl_put(h, NFQA_MARK, &be, sizeof be);
    }
    return nl_send(q, h);
}

int
nfq_accept(struct nfq *q, uint32_t id)
{
    return verdict(q, id, NF_ACCEPT, NULL);
}

int
nfq_repeat_marked(struct nfq *q, uint32_t id, uint32_t mark)
{
    return verdict(q, id, NF_REPEAT, &mark);
}

int
nfq_drop(struct nfq *q, uint32_t id)
{
    return verdict(q, id, NF_DROP, NULL);
}
