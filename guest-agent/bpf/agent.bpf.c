/* appfw-agent's eBPF programs: cgroup sock_addr hooks on connect, sendmsg
 * and bind, for IPv4 and IPv6.  See agent-bpf.h for what they do; the
 * agent (guest-agent/hooks.c) loads and attaches them.  The maps are
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
} __attribute__((preserve_access_index));

struct file {
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

/* Sockets whose SYN the sock_ops program reports (cached allows). */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, __u8);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} afw_notify SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} afw_events SEC(".maps");

static __always_inline void
count(__u32 counter)
{
    __u64 *c = bpf_map_lookup_elem(&afw_counters, &counter);
    if (c) {
        *c += 1;
    }
}

static __always_inline void
fill_owner(struct afw_owner *o)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u64 uid_gid = bpf_get_current_uid_gid();
    o->tgid = pid_tgid >> 32;
    o->pid = (__u32) pid_tgid;
    o->uid = (__u32) uid_gid;
    o->gid = uid_gid >> 32;
    o->cgroup_id = bpf_get_current_cgroup_id();
    o->time_ns = bpf_ktime_get_ns();
    bpf_get_current_comm(o->comm, sizeof o->comm);

    struct task_struct *task = (void *) bpf_get_current_task();
    struct inode *inode = BPF_CORE_READ(task, mm, exe_file, f_inode);
    if (inode) {
        o->exe_ino = BPF_CORE_READ(inode, i_ino);
        o->exe_dev = BPF_CORE_READ(inode, i_sb, s_dev);
    } else {
        o->exe_ino = 0;
        o->exe_dev = 0;
    }
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

static __always_inline void
emit_bind(__u64 cookie, const struct afw_owner *o,
          const struct afw_verdict_key *k)
{
    struct afw_record *r = bpf_ringbuf_reserve(&afw_events, sizeof *r, 0);
    if (!r) {
        count(AFW_C_EVENTS_LOST);
        return;
    }
    __builtin_memset(r, 0, sizeof *r);
    r->type = AFW_REC_BIND;
    r->protocol = k->protocol;
    r->cookie = cookie;
    r->owner = *o;
    r->family = k->family;
    r->port = k->port;
    __builtin_memcpy(r->addr, k->addr, 16);
    bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

/* Marks the socket with the state's allow bit, keeping any mark it has. */
static __always_inline void
mark_allowed(struct bpf_sock_addr *ctx, __u32 bit)
{
    int mark = 0;
    if (bpf_getsockopt(ctx, SOL_SOCKET_, SO_MARK_, &mark, sizeof mark)) {
        mark = 0;
    }
    mark |= bit;
    bpf_setsockopt(ctx, SOL_SOCKET_, SO_MARK_, &mark, sizeof mark);
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

    struct afw_owner o = {};
    fill_owner(&o);
    __u64 cookie = bpf_get_socket_cookie(ctx);
    bpf_map_update_elem(&afw_socks, &cookie, &o, BPF_ANY);
    if (event == AFW_EV_SEND) {
        /* sendmsg() binds the socket before this hook runs. */
        struct bpf_sock *sk = ctx->sk;
        if (sk) {
            struct afw_flow_key fk = {
                .family = k.family,
                .protocol = IPPROTO_UDP,
                .local_port = (__u16) sk->src_port,
                .remote_port = k.port,
            };
            __builtin_memcpy(fk.remote, k.addr, 16);
            struct afw_flow f = { .cookie = cookie, .owner = o };
            bpf_map_update_elem(&afw_flows, &fk, &f, BPF_ANY);
        }
    }

    __u32 zero = 0;
    struct afw_state *st = bpf_map_lookup_elem(&afw_state, &zero);
    if (!st || o.tgid == st->agent_tgid) {
        return 1;
    }
    if (event == AFW_EV_LISTEN) {
        if (k.port == 0) {
            return 1;           /* An ephemeral port: not a listener. */
        }
        if (!is_unspecified(&k)) {
            /* Cached listen verdicts are kept per port, for any local
             * address. */
            __builtin_memset(k.addr, 0, sizeof k.addr);
        }
    }
    k.exe_ino = o.exe_ino;
    k.exe_dev = o.exe_dev;
    k.uid = o.uid;

    __u64 now = bpf_ktime_get_ns();
    struct afw_verdict *v = bpf_map_lookup_elem(&afw_verdicts, &k);
    if (v && v->expires_ns > now) {
        if (v->verdict == AFW_VERDICT_DENY) {
            count(AFW_C_CACHED_DENY);
            return 0;
        }
        count(AFW_C_CACHED_ALLOW);
        if (event == AFW_EV_CONNECT && protocol == IPPROTO_TCP
            && st->allow_mark) {
            /* Its SYN skips the queue; sock_ops reports it instead. */
            __u8 one = 1;
            mark_allowed(ctx, st->allow_mark);
            bpf_map_update_elem(&afw_notify, &cookie, &one, BPF_ANY);
        }
        return 1;
    }
    if (st->dead_after_ns && now - st->heartbeat_ns > st->dead_after_ns) {
        count(AFW_C_AGENT_DEAD);
        return 0;
    }
    if (event == AFW_EV_LISTEN) {
        emit_bind(cookie, &o, &k);
    }
    return 1;
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

    __u64 cookie = bpf_get_socket_cookie(skops);
    __u32 type;
    if (op == BPF_SOCK_OPS_TCP_CONNECT_CB) {
        if (!bpf_map_lookup_elem(&afw_notify, &cookie)) {
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
        bpf_map_delete_elem(&afw_notify, &cookie);
        type = AFW_REC_CACHED_ALLOW;
    } else if (op == BPF_SOCK_OPS_STATE_CB
               && skops->args[1] == BPF_TCP_CLOSE) {
        type = AFW_REC_CLOSE;
    } else {
        return 1;
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
    struct afw_owner *o = bpf_map_lookup_elem(&afw_socks, &cookie);
    if (o) {
        r->owner = *o;
    }
    if (type == AFW_REC_CLOSE) {
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

/* UDP traffic per socket, both ways (cgroup_skb programs never drop:
 * they return 1). */
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
