/* appfw-agent's eBPF programs: cgroup sock_addr hooks on connect, sendmsg
 * and bind, for IPv4 and IPv6, a sock_ops program, two cgroup_skb
 * programs, and the socket filter that the agent's UDP netfilter rules
 * match with.  See agent-bpf.h for what they do; the agent
 * (guest-agent/hooks.c) loads, attaches and pins them.  The maps are
 * pinned by name, so a restarted agent finds the same ones (and the
 * owners of sockets opened while it was away).
 *
 * Return values of a cgroup sock_addr program: 1 lets the call proceed,
 * 0 fails it with EPERM before the transport layer acts. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/socket.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "agent-bpf.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#define SOL_SOCKET_ 1
#define SO_MARK_ 36

char LICENSE[] SEC("license") = "GPL";

/* The few kernel structures the programs read, relocated by libbpf
 * against the running kernel's BTF (CO-RE): only these fields need to
 * exist, wherever they are. */
struct super_block {
    unsigned int s_dev;
} __attribute__((preserve_access_index));

struct inode {
    unsigned long i_ino;
    struct super_block *i_sb;
    unsigned int i_generation;
} __attribute__((preserve_access_index));

/* The inode's change time moved twice: Linux 6.11 and later keep it as
 * two fields, 6.6 to 6.10 as '__i_ctime', earlier kernels as 'i_ctime'.
 * Each layout is a "flavour" of struct inode that CO-RE matches by the
 * name before "___", so the program reads whichever the running kernel
 * has. */
struct timespec64 {
    long long tv_sec;
    long tv_nsec;
} __attribute__((preserve_access_index));

struct inode___split {
    long long i_ctime_sec;
    unsigned int i_ctime_nsec;
} __attribute__((preserve_access_index));

struct inode___private {
    struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___old {
    struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

/* Linux 6.13's multigrain timestamps keep a flag in the top bit of
 * i_ctime_nsec; stat(2) masks it. */
#define CTIME_QUERIED_ (1u << 31)

struct vfsmount {
    void *mnt_root;
} __attribute__((preserve_access_index));

struct mount {
    void *mnt_mountpoint;
    struct vfsmount mnt;
} __attribute__((preserve_access_index));

struct path {
    struct vfsmount *mnt;
    void *dentry;
} __attribute__((preserve_access_index));

struct file {
    struct path f_path;
    struct inode *f_inode;
} __attribute__((preserve_access_index));

struct mm_struct {
    struct file *exe_file;
} __attribute__((preserve_access_index));

struct task_struct {
    struct mm_struct *mm;
} __attribute__((preserve_access_index));

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct afw_owner);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} afw_socks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct afw_verdict_key);
    __type(value, struct afw_verdict);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} afw_verdicts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct afw_state);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} afw_state SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, AFW_N_COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} afw_counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct afw_flow_key);
    __type(value, struct afw_flow);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} afw_flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct afw_sock_stats);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} afw_udp_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} afw_events SEC(".maps");

/* UDP flows let through in the agent's network namespace. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct afw_udp_key);
    __type(value, struct afw_udp_seen);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} afw_udp_flows SEC(".maps");

/* Each UDP socket's network namespace cookie, noted at its first
 * connect(), sendmsg() or bind(): cgroup_skb programs cannot ask. */
struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} afw_sk_netns SEC(".maps");

static __always_inline void
count(__u32 counter)
{
    __u64 *c = bpf_map_lookup_elem(&afw_counters, &counter);
    if (c) {
        *c += 1;
    }
}

/* The version of executable 'file' (NULL: none, a kernel thread). */
static __always_inline void
fill_exe(struct afw_exe *e, struct file *file)
{
    struct inode *inode = file ? BPF_CORE_READ(file, f_inode) : NULL;
    if (!inode) {
        __builtin_memset(e, 0, sizeof *e);
        return;
    }
    e->dentry = (__u64) BPF_CORE_READ(file, f_path.dentry);
    struct vfsmount *mnt = BPF_CORE_READ(file, f_path.mnt);
    e->mnt_root = (__u64) BPF_CORE_READ(mnt, mnt_root);
    /* The struct mount around it. */
    struct mount *m = (void *) ((char *) mnt
                                - bpf_core_field_offset(struct mount, mnt));
    e->mnt_mountpoint = (__u64) BPF_CORE_READ(m, mnt_mountpoint);
    e->ino = BPF_CORE_READ(inode, i_ino);
    e->dev = BPF_CORE_READ(inode, i_sb, s_dev);
    e->gen = BPF_CORE_READ(inode, i_generation);
    struct inode___split *split = (void *) inode;
    struct inode___private *priv = (void *) inode;
    struct inode___old *old = (void *) inode;
    if (bpf_core_field_exists(split->i_ctime_sec)) {
        e->ctime_sec = BPF_CORE_READ(split, i_ctime_sec);
        e->ctime_nsec = BPF_CORE_READ(split, i_ctime_nsec);
    } else if (bpf_core_field_exists(priv->__i_ctime)) {
        e->ctime_sec = BPF_CORE_READ(priv, __i_ctime.tv_sec);
        e->ctime_nsec = BPF_CORE_READ(priv, __i_ctime.tv_nsec);
    } else {
        e->ctime_sec = BPF_CORE_READ(old, i_ctime.tv_sec);
        e->ctime_nsec = BPF_CORE_READ(old, i_ctime.tv_nsec);
    }
    e->ctime_nsec &= ~CTIME_QUERIED_;
}

static __always_inline void
fill_owner(struct afw_owner *o, __u64 now)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u64 uid_gid = bpf_get_current_uid_gid();
    o->tgid = pid_tgid >> 32;
    o->pid = (__u32) pid_tgid;
    o->uid = (__u32) uid_gid;
    o->gid = uid_gid >> 32;
    o->cgroup_id = bpf_get_current_cgroup_id();
    o->time_ns = now;
    bpf_get_current_comm(o->comm, sizeof o->comm);

    struct task_struct *task = (void *) bpf_get_current_task();
    fill_exe(&o->exe, BPF_CORE_READ(task, mm, exe_file));
}

/* The address and port the call names: the remote one for connect and
 * sendmsg, the local one for bind.  'family' is a constant, so that each
 * program reads only its own family's fields (the verifier refuses the
 * others). */
static __always_inline int
fill_addr(struct bpf_sock_addr *ctx, __u32 family, struct afw_verdict_key *k)
{
    if (family == AF_INET) {
        __u32 a = ctx->user_ip4;
        __builtin_memcpy(k->addr, &a, 4);
    } else if (family == AF_INET6) {
        __u32 a[4];
        a[0] = ctx->user_ip6[0];
        a[1] = ctx->user_ip6[1];
        a[2] = ctx->user_ip6[2];
        a[3] = ctx->user_ip6[3];
        __builtin_memcpy(k->addr, a, 16);
    } else {
        return 0;
    }
    k->family = family;
    k->port = bpf_ntohs((__u16) ctx->user_port);
    return 1;
}

/* Loopback traffic never leaves the guest, so appfw leaves it alone (its
 * netfilter rules skip 'lo' too). */
static __always_inline int
is_loopback(const struct afw_verdict_key *k)
{
    if (k->family == AF_INET) {
        return k->addr[0] == 127;
    }
    for (int i = 0; i < 15; i++) {
        if (k->addr[i]) {
            return 0;
        }
    }
    return k->addr[15] == 1;
}

static __always_inline int
is_unspecified(const struct afw_verdict_key *k)
{
    int n = k->family == AF_INET ? 4 : 16;
    for (int i = 0; i < 16; i++) {
        if (i < n && k->addr[i]) {
            return 0;
        }
    }
    return 1;
}

/* Reports a call through the ring buffer: 'type' is AFW_REC_BIND or
 * AFW_REC_CACHED_CONNECT, with the socket's owner and the address and
 * port of 'k'.  Returns 0 if the ring buffer is full. */
static __always_inline int
emit_call(__u32 type, __u64 cookie, const struct afw_owner *o,
          const struct afw_verdict_key *k)
{
    struct afw_record *r = bpf_ringbuf_reserve(&afw_events, sizeof *r, 0);
    if (!r) {
        count(AFW_C_EVENTS_LOST);
        return 0;
    }
    __builtin_memset(r, 0, sizeof *r);
    r->type = type;
    r->protocol = k->protocol;
    r->cookie = cookie;
    r->owner = *o;
    r->family = k->family;
    r->port = k->port;
    __builtin_memcpy(r->addr, k->addr, 16);
    bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
    return 1;
}

/* Sets the socket's mark to 'mark'. */
static __always_inline void
set_mark(struct bpf_sock_addr *ctx, __u32 mark)
{
    int m = mark;
    bpf_setsockopt(ctx, SOL_SOCKET_, SO_MARK_, &m, sizeof m);
}

/* What decide() concluded. */
enum afw_decision {
    AFW_REFUSE,                 /* Fail the call (EPERM). */
    AFW_PROCEED,
    AFW_PROCEED_REPORTED,       /* A TCP connect on a cached allow: marked,
                                 * and reported with its owner, which
                                 * sock_ops does not know (sock_ops
                                 * reports its SYN with the addresses, and
                                 * the agent joins the two by cookie). */
};

/* Decides a call with verdict key 'k' (address, port, event and protocol
 * filled) by socket 'cookie' of owner 'o', from the kernel verdict cache
 * and the agent's heartbeat in 'st'. */
static __always_inline enum afw_decision
decide(struct bpf_sock_addr *ctx, const struct afw_state *st,
       struct afw_verdict_key *k, const struct afw_owner *o, __u64 cookie,
       __u64 now)
{
    if (k->event == AFW_EV_LISTEN) {
        if (k->port == 0) {
            return AFW_PROCEED; /* An ephemeral port: not a listener. */
        }
        if (!is_unspecified(k)) {
            /* Cached listen verdicts are kept per port, for any local
             * address. */
            __builtin_memset(k->addr, 0, sizeof k->addr);
        }
    }
    k->exe = o->exe;
    k->uid = o->uid;

    int tcp_connect = (k->event == AFW_EV_CONNECT
                       && k->protocol == IPPROTO_TCP);
    __u32 allow = st->allow_mark;
    __u32 mark = ctx->sk->mark;
    struct afw_verdict *v = bpf_map_lookup_elem(&afw_verdicts, k);
    if (v && v->expires_ns > now) {
        if (v->verdict == AFW_VERDICT_DENY) {
            count(AFW_C_CACHED_DENY);
            return AFW_REFUSE;
        }
        count(AFW_C_CACHED_ALLOW);
        if (tcp_connect && allow
            && emit_call(AFW_REC_CACHED_CONNECT, cookie, o, k)) {
            /* Its SYN skips the queue. */
            if ((mark & allow) != allow) {
                set_mark(ctx, mark | allow);
            }
            return AFW_PROCEED_REPORTED;
        }
    } else if (st->dead_after_ns
               && now - st->heartbeat_ns > st->dead_after_ns) {
        count(AFW_C_AGENT_DEAD);
        return AFW_REFUSE;
    } else if (k->event == AFW_EV_LISTEN) {
        emit_call(AFW_REC_BIND, cookie, o, k);
    }
    if (tcp_connect && allow && (mark & allow)) {
        /* Marked at an earlier connect() of this socket that failed:
         * this one's SYN goes to the queue. */
        set_mark(ctx, mark & ~allow);
    }
    return AFW_PROCEED;
}

static __always_inline int
handle(struct bpf_sock_addr *ctx, __u32 family, __u8 event)
{
    __u32 type = ctx->type;
    __u8 protocol;
    if (type == 1 /* SOCK_STREAM */) {
        protocol = IPPROTO_TCP;
    } else if (type == 2 /* SOCK_DGRAM */) {
        protocol = IPPROTO_UDP;
    } else {
        return 1;
    }
    if (ctx->protocol && ctx->protocol != protocol) {
        return 1;               /* SCTP, ICMP datagram sockets... */
    }

    struct afw_verdict_key k = {};
    if (!fill_addr(ctx, family, &k) || is_loopback(&k)) {
        return 1;
    }
    k.event = event;
    k.protocol = protocol;
    count(AFW_C_CALLS);
    if (protocol == IPPROTO_UDP) {
        __u64 *netns = bpf_sk_storage_get(&afw_sk_netns, ctx->sk, 0,
                                          BPF_SK_STORAGE_GET_F_CREATE);
        if (netns && !*netns) {
            *netns = bpf_get_netns_cookie(ctx);
        }
    }

    __u64 now = bpf_ktime_get_ns();
    struct afw_owner o = {};
    fill_owner(&o, now);
    __u64 cookie = bpf_get_socket_cookie(ctx);
    if (event == AFW_EV_SEND) {
        /* sendmsg() binds the socket before this hook runs. */
        struct afw_flow_key fk = {
            .family = k.family,
            .protocol = IPPROTO_UDP,
            .local_port = (__u16) ctx->sk->src_port,
            .remote_port = k.port,
        };
        __builtin_memcpy(fk.remote, k.addr, 16);
        struct afw_flow f = { .cookie = cookie, .owner = o };
        bpf_map_update_elem(&afw_flows, &fk, &f, BPF_ANY);
    }

    __u32 zero = 0;
    struct afw_state *st = bpf_map_lookup_elem(&afw_state, &zero);
    enum afw_decision d = AFW_PROCEED;
    if (st && o.tgid != st->agent_tgid) {
        d = decide(ctx, st, &k, &o, cookie, now);
    }
    if (d != AFW_PROCEED_REPORTED) {
        /* The owner under the socket's cookie: sock_ops records it under
         * the flow of a SYN that goes to the queue, and the agent looks it
         * up for a socket that sock_diag found (a listener, a UDP
         * socket).  A reported connect skips this global hash update. */
        bpf_map_update_elem(&afw_socks, &cookie, &o, BPF_ANY);
    }
    return d != AFW_REFUSE;
}

/* sock_ops' local ('local') or remote address into 'out' (16 bytes, IPv4
 * in the first 4).  One 4-byte load per word: the verifier refuses the
 * 8-byte loads the compiler would merge them into. */
static __always_inline void
read_addr(struct bpf_sock_ops *skops, int local, __u8 *out)
{
    __u32 a[4] = {};
    if (skops->family == AF_INET) {
        a[0] = local ? skops->local_ip4 : skops->remote_ip4;
        __builtin_memcpy(out, a, 4);
        return;
    }
    if (local) {
        a[0] = *(volatile __u32 *) &skops->local_ip6[0];
        a[1] = *(volatile __u32 *) &skops->local_ip6[1];
        a[2] = *(volatile __u32 *) &skops->local_ip6[2];
        a[3] = *(volatile __u32 *) &skops->local_ip6[3];
    } else {
        a[0] = *(volatile __u32 *) &skops->remote_ip6[0];
        a[1] = *(volatile __u32 *) &skops->remote_ip6[1];
        a[2] = *(volatile __u32 *) &skops->remote_ip6[2];
        a[3] = *(volatile __u32 *) &skops->remote_ip6[3];
    }
    __builtin_memcpy(out, a, 16);
}

/* The connection's addresses, as sock_ops sees them. */
static __always_inline void
fill_tuple(struct bpf_sock_ops *skops, struct afw_record *r)
{
    r->family = skops->family;
    r->protocol = IPPROTO_TCP;
    r->local_port = (__u16) skops->local_port;
    r->port = (__u16) bpf_ntohl(skops->remote_port);
    read_addr(skops, 1, r->local_addr);
    read_addr(skops, 0, r->addr);
}

/* TCP events: the SYN of a connect on a cached allow, and every
 * connection's close (with its counters). */
SEC("sockops")
int
afw_sockops(struct bpf_sock_ops *skops)
{
    __u32 op = skops->op;
    if (skops->family != AF_INET && skops->family != AF_INET6) {
        return 1;
    }
    if (op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB
        || op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB) {
        bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags
                                  | BPF_SOCK_OPS_STATE_CB_FLAG);
        return 1;
    }

    /* The kernel also calls for operations this program leaves alone
     * (timeout and window initialisation, ECN...): they return here,
     * without a helper call. */
    if (op != BPF_SOCK_OPS_TCP_CONNECT_CB
        && (op != BPF_SOCK_OPS_STATE_CB
            || skops->args[1] != BPF_TCP_CLOSE)) {
        return 1;
    }
    __u64 cookie = bpf_get_socket_cookie(skops);
    __u32 type;
    if (op == BPF_SOCK_OPS_TCP_CONNECT_CB) {
        struct bpf_sock *sk = skops->sk;
        __u32 zero = 0;
        struct afw_state *st = bpf_map_lookup_elem(&afw_state, &zero);
        if (!sk || !st) {
            return 1;
        }
        __u32 allow = st->allow_mark;
        if (!allow || (sk->mark & allow) != allow) {
            /* Its SYN goes to the agent's queue: let the agent find the
             * socket by the SYN's addresses. */
            struct afw_owner *o = bpf_map_lookup_elem(&afw_socks, &cookie);
            if (o) {
                struct afw_flow_key fk = {
                    .family = skops->family,
                    .protocol = IPPROTO_TCP,
                    .local_port = (__u16) skops->local_port,
                    .remote_port = (__u16) bpf_ntohl(skops->remote_port),
                };
                read_addr(skops, 0, fk.remote);
                struct afw_flow f = { .cookie = cookie, .owner = *o };
                bpf_map_update_elem(&afw_flows, &fk, &f, BPF_ANY);
            }
            return 1;
        }
        /* A cached allow: its owner came with AFW_REC_CACHED_CONNECT. */
        type = AFW_REC_CACHED_ALLOW;
    } else {
        type = AFW_REC_CLOSE;
    }

    struct afw_record *r = bpf_ringbuf_reserve(&afw_events, sizeof *r, 0);
    if (!r) {
        count(AFW_C_EVENTS_LOST);
        return 1;
    }
    __builtin_memset(r, 0, sizeof *r);
    r->type = type;
    r->cookie = cookie;
    fill_tuple(skops, r);
    if (type == AFW_REC_CLOSE) {
        struct afw_owner *o = bpf_map_lookup_elem(&afw_socks, &cookie);
        if (o) {
            r->owner = *o;
        }
        r->bytes_in = skops->bytes_received;
        r->bytes_out = skops->bytes_acked;
        r->segs_in = skops->segs_in;
        r->segs_out = skops->segs_out;
        bpf_map_delete_elem(&afw_socks, &cookie);
    }
    bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
    return 1;
}

SEC("cgroup/connect4")
int
afw_connect4(struct bpf_sock_addr *ctx)
{
    return handle(ctx, AF_INET, AFW_EV_CONNECT);
}

SEC("cgroup/connect6")
int
afw_connect6(struct bpf_sock_addr *ctx)
{
    return handle(ctx, AF_INET6, AFW_EV_CONNECT);
}

SEC("cgroup/sendmsg4")
int
afw_sendmsg4(struct bpf_sock_addr *ctx)
{
    return handle(ctx, AF_INET, AFW_EV_SEND);
}

SEC("cgroup/sendmsg6")
int
afw_sendmsg6(struct bpf_sock_addr *ctx)
{
    return handle(ctx, AF_INET6, AFW_EV_SEND);
}

SEC("cgroup/bind4")
int
afw_bind4(struct bpf_sock_addr *ctx)
{
    return handle(ctx, AF_INET, AFW_EV_LISTEN);
}

SEC("cgroup/bind6")
int
afw_bind6(struct bpf_sock_addr *ctx)
{
    return handle(ctx, AF_INET6, AFW_EV_LISTEN);
}

/* 'a' (16 bytes) and port 'ap' against 'b' and 'bp': whether a sorts
 * before b. */
static __always_inline int
endpoint_before(const __u8 *a, __u16 ap, const __u8 *b, __u16 bp)
{
    for (int i = 0; i < 16; i++) {
        if (a[i] != b[i]) {
            return a[i] < b[i];
        }
    }
    return ap < bp;
}

/* The UDP flow of the datagram in 'skb', read from its IP header (where
 * both a socket filter in a netfilter hook and a cgroup_skb program see
 * the packet start), and its way in '*dir'.  Returns 1; 0 for a
 * fragment other than the first, which carries no UDP header; -1 when
 * the packet cannot be read as UDP over IP. */
static __always_inline int
udp_flow(struct __sk_buff *skb, struct afw_udp_key *k, __u32 *dir)
{
    __u8 h[40];
    __u8 src[16] = {}, dst[16] = {};
    __u32 off;
    if (bpf_skb_load_bytes(skb, 0, h, 20)) {
        return -1;
    }
    if (h[0] >> 4 == 4) {
        if (h[9] != IPPROTO_UDP) {
            return -1;
        }
        if ((h[6] << 8 | h[7]) & 0x1fff) {
            return 0;
        }
        off = (h[0] & 0x0f) * 4;
        __builtin_memcpy(src, h + 12, 4);
        __builtin_memcpy(dst, h + 16, 4);
        k->family = AF_INET;
    } else if (h[0] >> 4 == 6) {
        if (bpf_skb_load_bytes(skb, 0, h, 40)) {
            return -1;
        }
        __u8 next = h[6];
        off = 40;
        /* A few extension headers: hop-by-hop, routing, destination
         * options, fragment. */
        for (int i = 0; i < 4 && next != IPPROTO_UDP; i++) {
            __u8 e[4];
            if (bpf_skb_load_bytes(skb, off, e, 4)) {
                return -1;
            }
            if (next == 44) {
                if ((e[2] << 8 | e[3]) & 0xfff8) {
                    return 0;
                }
                off += 8;
            } else if (next == 0 || next == 43 || next == 60) {
                off += (e[1] + 1) * 8;
            } else {
                return -1;
            }
            next = e[0];
        }
        if (next != IPPROTO_UDP) {
            return -1;
        }
        __builtin_memcpy(src, h + 8, 16);
        __builtin_memcpy(dst, h + 24, 16);
        k->family = AF_INET6;
    } else {
        return -1;
    }
    __u16 ports[2];
    if (bpf_skb_load_bytes(skb, off, ports, 4)) {
        return -1;
    }
    if (endpoint_before(dst, ports[1], src, ports[0])) {
        *dir = AFW_UDP_B_TO_A;
        __builtin_memcpy(k->addr_a, dst, 16);
        __builtin_memcpy(k->addr_b, src, 16);
        k->port_a = ports[1];
        k->port_b = ports[0];
    } else {
        *dir = AFW_UDP_A_TO_B;
        __builtin_memcpy(k->addr_a, src, 16);
        __builtin_memcpy(k->addr_b, dst, 16);
        k->port_a = ports[0];
        k->port_b = ports[1];
    }
    return 1;
}

/* The netfilter rules' match for UDP ("-m bpf --object-pinned"): 1 (the
 * rule matches, the datagram is queued) for the first datagram of a flow
 * the kernel has not let through lately, either way; 0 for the rest.
 * It only reads: the cgroup_skb programs note the flows once a datagram
 * got past netfilter, so a datagram the agent refused leaves no trace
 * and the next one is asked about again. */
SEC("socket")
int
afw_udp_new(struct __sk_buff *skb)
{
    struct afw_udp_key k = {};
    __u32 dir;
    int r = udp_flow(skb, &k, &dir);
    if (r <= 0) {
        /* Unreadable: asked about.  A later fragment: the first one,
         * which holds the ports, is the one decided on. */
        return r < 0;
    }
    struct afw_udp_seen *s = bpf_map_lookup_elem(&afw_udp_flows, &k);
    if (!s) {
        return 1;
    }
    __u64 ttl = s->dirs == (AFW_UDP_A_TO_B | AFW_UDP_B_TO_A)
                ? AFW_UDP_REPLIED_NS : AFW_UDP_UNREPLIED_NS;
    return bpf_ktime_get_ns() - s->seen_ns > ttl;
}

/* Notes the flow of a UDP datagram that got past netfilter, if socket
 * 'sk' lives in the agent's network namespace: only there do the
 * agent's rules match with afw_udp_flows. */
static __always_inline void
note_udp_flow(struct __sk_buff *skb, struct bpf_sock *sk)
{
    if (skb->ifindex == 1) {
        return;                 /* Loopback: the rules leave it alone. */
    }
    __u32 zero = 0;
    struct afw_state *st = bpf_map_lookup_elem(&afw_state, &zero);
    __u64 *netns = bpf_sk_storage_get(&afw_sk_netns, sk, 0, 0);
    if (!st || !netns || !st->netns_cookie || *netns != st->netns_cookie) {
        return;
    }
    struct afw_udp_key k = {};
    __u32 dir;
    if (udp_flow(skb, &k, &dir) <= 0) {
        return;
    }
    __u64 now = bpf_ktime_get_ns();
    struct afw_udp_seen *s = bpf_map_lookup_elem(&afw_udp_flows, &k);
    if (s) {
        s->seen_ns = now;
        if (!(s->dirs & dir)) {
            s->dirs |= dir;
        }
    } else {
        struct afw_udp_seen v = { .seen_ns = now, .dirs = dir };
        bpf_map_update_elem(&afw_udp_flows, &k, &v, BPF_ANY);
    }
}

/* UDP traffic per socket, both ways, and the flows it belongs to
 * (cgroup_skb programs never drop: they return 1). */
static __always_inline void
count_udp(struct __sk_buff *skb, int in)
{
    struct bpf_sock *sk = skb->sk;
    if (!sk) {
        return;
    }
    sk = bpf_sk_fullsock(sk);
    if (!sk || sk->protocol != IPPROTO_UDP) {
        return;
    }
    note_udp_flow(skb, sk);
    __u64 cookie = bpf_get_socket_cookie(skb);
    struct afw_sock_stats *st = bpf_map_lookup_elem(&afw_udp_stats, &cookie);
    if (!st) {
        struct afw_sock_stats zero = {};
        bpf_map_update_elem(&afw_udp_stats, &cookie, &zero, BPF_NOEXIST);
        st = bpf_map_lookup_elem(&afw_udp_stats, &cookie);
        if (!st) {
            return;
        }
    }
    if (in) {
        __sync_fetch_and_add(&st->bytes_in, skb->len);
        __sync_fetch_and_add(&st->packets_in, 1);
    } else {
        __sync_fetch_and_add(&st->bytes_out, skb->len);
        __sync_fetch_and_add(&st->packets_out, 1);
    }
}

SEC("cgroup_skb/ingress")
int
afw_skb_in(struct __sk_buff *skb)
{
    count_udp(skb, 1);
    return 1;
}

SEC("cgroup_skb/egress")
int
afw_skb_out(struct __sk_buff *skb)
{
    count_udp(skb, 0);
    return 1;
}
