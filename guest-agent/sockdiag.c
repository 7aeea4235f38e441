/* sockdiag: exact socket lookups over NETLINK_SOCK_DIAG. */
#include "guest-agent/sockdiag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"

struct sockdiag {
    int fd;
    uint32_t seq;
};

int
sockdiag_open(struct sockdiag **sdp)
{
    *sdp = NULL;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) {
        return errno;
    }
    struct timeval tv = { .tv_sec = 1 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockdiag *sd = xcalloc(1, sizeof *sd);
    sd->fd = fd;
    *sdp = sd;
    return 0;
}

void
sockdiag_close(struct sockdiag *sd)
{
    if (sd) {
        close(sd->fd);
        free(sd);
    }
}

static void
put_addr(__be32 out[4], int family, const uint8_t addr[16])
{
    memset(out, 0, 16);
    memcpy(out, addr, family == AF_INET ? 4 : 16);
}

/* Reads the TCP counters from the reply's INET_DIAG_INFO attribute. */
static void
parse_attrs(const struct inet_diag_msg *m, size_t len,
            struct sockdiag_sock *out)
{
    size_t off = NLMSG_ALIGN(sizeof *m);
    while (off + sizeof(struct nlattr) <= len) {
        const struct nlattr *a = (const void *) ((const char *) m + off);
        if (a->nla_len < sizeof *a || off + a->nla_len > len) {
            return;
        }
        size_t plen = a->nla_len - NLA_HDRLEN;
        const void *p = (const char *) a + NLA_HDRLEN;
        if ((a->nla_type & NLA_TYPE_MASK) == INET_DIAG_INFO) {
            struct tcp_info ti;
            memset(&ti, 0, sizeof ti);
            memcpy(&ti, p, plen < sizeof ti ? plen : sizeof ti);
            out->has_tcp_info = true;
            out->bytes_acked = ti.tcpi_bytes_acked;
            out->bytes_received = ti.tcpi_bytes_received;
            out->segs_out = ti.tcpi_segs_out;
            out->segs_in = ti.tcpi_segs_in;
        }
        off += NLA_ALIGN(a->nla_len);
    }
}

static void
get_endpoint(int family, const __be32 addr[4], __be16 port,
             struct sockdiag_endpoint *ep)
{
    memset(ep, 0, sizeof *ep);
    memcpy(ep->addr, addr, family == AF_INET ? 4 : 16);
    ep->port = ntohs(port);
}

static void
fill_sock(const struct nlmsghdr *h, struct sockdiag_sock *out)
{
    const struct inet_diag_msg *m = NLMSG_DATA(h);
    memset(out, 0, sizeof *out);
    out->cookie = m->id.idiag_cookie[0]
                  | (uint64_t) m->id.idiag_cookie[1] << 32;
    out->uid = m->idiag_uid;
    out->inode = m->idiag_inode;
    out->state = m->idiag_state;
    parse_attrs(m, h->nlmsg_len - NLMSG_HDRLEN, out);
}

/* Sends 'req' (a dump if 'dump') and hands each reply's socket to 'cb'.
 * A single lookup stops at the first socket (ENOENT if the kernel has
 * none); a dump at NLMSG_DONE.  Replies to earlier, timed-out requests
 * may still be queued: anything without this request's sequence number
 * is skipped. */
/* An in-kernel filter of a dump (INET_DIAG_REQ_BYTECODE): the sockets
 * whose local port is 'port'.  An operation jumps by 'yes' bytes when its
 * test holds and by 'no' when it fails; ending exactly at the end of the
 * program means a match, past it no match. */
struct port_filter {
    struct nlattr nla;
    struct inet_diag_bc_op test;    /* INET_DIAG_BC_S_EQ, */
    struct inet_diag_bc_op arg;     /* its port in 'no'. */
};

static void
port_filter_init(struct port_filter *f, uint16_t port)
{
    memset(f, 0, sizeof *f);
    f->nla.nla_type = INET_DIAG_REQ_BYTECODE;
    f->nla.nla_len = sizeof *f;
    f->test.code = INET_DIAG_BC_S_EQ;
    f->test.yes = 2 * sizeof f->test;
    f->test.no = 3 * sizeof f->test;
    f->arg.no = port;
}

static int
transact(struct sockdiag *sd, const struct inet_diag_req_v2 *req,
         const struct port_filter *filter, bool dump,
         void (*cb)(const struct nlmsghdr *, void *aux), void *aux)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
        struct port_filter filter;
    } msg;
    memset(&msg, 0, sizeof msg);
    msg.nlh.nlmsg_len = (filter ? sizeof msg
                         : offsetof(__typeof__(msg), filter));
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
    msg.nlh.nlmsg_seq = ++sd->seq;
    msg.req = *req;
    if (filter) {
        msg.filter = *filter;
    }
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    if (sendto(sd->fd, &msg, msg.nlh.nlmsg_len, 0, (struct sockaddr *) &sa,
               sizeof sa) < 0) {
        return errno;
    }
    for (;;) {
        union {
            char buf[32768];
            struct nlmsghdr align;
        } u;
        ssize_t n = recv(sd->fd, u.buf, sizeof u.buf, 0);
        if (n < 0) {
            return errno == EAGAIN ? ETIMEDOUT : errno;
        }
        for (struct nlmsghdr *h = &u.align; NLMSG_OK(h, (size_t) n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != sd->seq) {
                continue;
            }
            if (h->nlmsg_type == NLMSG_DONE) {
                return dump ? 0 : ENOENT;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                if (h->nlmsg_len < NLMSG_LENGTH(sizeof *e)) {
                    return EPROTO;
                }
                return e->error ? -e->error : ENOENT;
            }
            if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY
                || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
                return EPROTO;
            }
            cb(h, aux);
            if (!dump) {
                return 0;
            }
        }
    }
}

static void
init_req(struct inet_diag_req_v2 *req, int family, int protocol,
         bool tcp_info)
{
    memset(req, 0, sizeof *req);
    req->sdiag_family = family;
    req->sdiag_protocol = protocol;
    req->idiag_states = ~0u;
    if (tcp_info && protocol == IPPROTO_TCP) {
        req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
    }
    req->id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
}

struct dump_aux {
    int family;
    void (*cb)(const struct sockdiag_endpoint *,
               const struct sockdiag_endpoint *,
               const struct sockdiag_sock *, void *);
    void *aux;
};

static void
dump_one(const struct nlmsghdr *h, void *da_)
{
    const struct dump_aux *da = da_;
    const struct inet_diag_msg *m = NLMSG_DATA(h);
    struct sockdiag_endpoint local, remote;
    get_endpoint(da->family, m->id.idiag_src, m->id.idiag_sport, &local);
    get_endpoint(da->family, m->id.idiag_dst, m->id.idiag_dport, &remote);
    local.ifindex = m->id.idiag_if;
    struct sockdiag_sock s;
    fill_sock(h, &s);
    da->cb(&local, &remote, &s, da->aux);
}

int
sockdiag_dump(struct sockdiag *sd, int family, int protocol,
              void (*cb)(const struct sockdiag_endpoint *,
                         const struct sockdiag_endpoint *,
                         const struct sockdiag_sock *, void *),
              void *aux)
{
    struct inet_diag_req_v2 req;
    init_req(&req, family, protocol, true);
    struct dump_aux da = { .family = family, .cb = cb, .aux = aux };
    return transact(sd, &req, NULL, true, dump_one, &da);
}

int
sockdiag_dump_port(struct sockdiag *sd, int family, int protocol,
                   uint16_t port, bool listening,
                   void (*cb)(const struct sockdiag_endpoint *,
                              const struct sockdiag_endpoint *,
                              const struct sockdiag_sock *, void *),
                   void *aux)
{
    struct inet_diag_req_v2 req;
    init_req(&req, family, protocol, false);
    if (listening && protocol == IPPROTO_TCP) {
        req.idiag_states = 1u << SOCKDIAG_TCP_LISTEN;
    }
    struct port_filter filter;
    port_filter_init(&filter, port);
    struct dump_aux da = { .family = family, .cb = cb, .aux = aux };
    return transact(sd, &req, &filter, true, dump_one, &da);
}

static void
lookup_one(const struct nlmsghdr *h, void *out)
{
    fill_sock(h, out);
}

int
sockdiag_lookup(struct sockdiag *sd, int family, int protocol,
                const struct sockdiag_endpoint *local,
                const struct sockdiag_endpoint *remote, bool tcp_info,
                struct sockdiag_sock *out)
{
    memset(out, 0, sizeof *out);
    struct inet_diag_req_v2 req;
    init_req(&req, family, protocol, tcp_info);
    /* TCP looks up by (src = local, dst = remote); UDP, "for historical
     * reasons", by the packet a socket would receive: (src = remote,
     * dst = local). */
    const struct sockdiag_endpoint *src = local, *dst = remote;
    if (protocol == IPPROTO_UDP) {
        src = remote;
        dst = local;
    }
    req.id.idiag_sport = htons(src->port);
    req.id.idiag_dport = htons(dst->port);
    put_addr(req.id.idiag_src, family, src->addr);
    put_addr(req.id.idiag_dst, family, dst->addr);
    req.id.idiag_if = local->ifindex;
    return transact(sd, &req, NULL, false, lookup_one, out);
}
