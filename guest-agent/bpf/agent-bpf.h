/* agent-bpf: the records appfw-agent shares with its eBPF programs
 * (guest-agent/bpf/agent.bpf.c).  Included by both sides, so it uses only
 * <linux/types.h> types.
 *
 * The programs attach to a cgroup (the root one in a guest) and see every
 * IPv4/IPv6 connect(), sendmsg() with an address, and bind() of the
 * processes in it, before the transport layer acts:
 *
 *   - each socket's owner (process, user, executable inode) is recorded
 *     in 'afw_socks' under the kernel's socket cookie, for the agent to
 *     look up when the socket's first packet reaches its netfilter queue
 *     (a TCP SYN, through 'afw_flows', below);
 *   - verdicts the agent cached are mirrored into 'afw_verdicts': a
 *     cached denial fails the call at once (EPERM, no packet is sent); a
 *     cached allow of a TCP connect marks the socket (SO_MARK bit) so
 *     that its packets skip the queue, and is reported with its owner
 *     through 'afw_events' instead of 'afw_socks'; a sock_ops program
 *     reports the SYN of a socket with that mark, with its addresses, so
 *     that the agent can still tell the host (flow_open).  A TCP connect
 *     that is not a cached allow takes the mark away again (a socket whose
 *     connect failed may connect again, elsewhere);
 *   - the sock_ops program also reports each TCP connection's close with
 *     its byte and segment counts;
 *   - while the agent's heartbeat in 'afw_state' is stale (the agent died
 *     or was stopped), every call that would need a verdict is refused;
 *   - cgroup_skb programs count each UDP socket's traffic, and note in
 *     'afw_udp_flows' each UDP flow the kernel let through in the agent's
 *     network namespace; the agent's netfilter rules match with the
 *     socket filter 'afw_udp_new' (pinned as AFW_UDP_NEW_PIN) and queue
 *     a UDP datagram only when its flow is not there, as a conntrack
 *     "--ctstate NEW" match would, without running conntrack. */
#ifndef APPFW_AGENT_BPF_H
#define APPFW_AGENT_BPF_H 1

#include <linux/types.h>

/* Events, as in the protocol (and struct vcache_key). */
enum afw_event {
    AFW_EV_CONNECT = 0,
    AFW_EV_LISTEN = 1,
    AFW_EV_ACCEPT = 2,
    AFW_EV_SEND = 3,
    AFW_EV_CLOSE = 4,
};

/* One version of an executable file, as the hooks see the calling
 * process's (task->mm->exe_file) at the moment of the call.  The inode
 * number alone names a file only while it exists: a new file may get
 * the number of a deleted one, and a file may be rewritten in place.
 * The change time moves with every write and every attribute change
 * (utimensat() can set the modification time back, never the change
 * time), and the generation is drawn anew for each inode the file
 * system allocates (ext4, xfs and tmpfs draw it at random; 0 where a
 * file system has none).  One file may also be run by several paths (a
 * hard link, a bind mount elsewhere), which the security VM may judge
 * differently: the path's dentry and its mount's place tell them apart. */
struct afw_exe {
    __u64 ino;                  /* 0 if unknown (a kernel thread). */
    __u64 dev;                  /* Its superblock's kernel dev_t. */
    __s64 ctime_sec;            /* The inode's change time. */
    __u32 ctime_nsec;
    __u32 gen;                  /* The inode's generation. */
    __u64 dentry;               /* The kernel's addresses (compared, never
                                 * dereferenced) of the path's dentry, */
    __u64 mnt_root;             /* its mount's root and */
    __u64 mnt_mountpoint;       /* where that is mounted: the same in
                                 * every mount namespace's copy. */
};

/* A socket's owner, keyed by socket cookie, recorded at connect(),
 * sendmsg() and bind(). */
struct afw_owner {
    __u32 tgid;
    __u32 pid;                  /* The thread. */
    __u32 uid;
    __u32 gid;
    struct afw_exe exe;         /* The executable at the call. */
    __u64 cgroup_id;
    __u64 time_ns;              /* bpf_ktime_get_ns() of the record. */
    char comm[16];
};

/* An outbound flow, from the sender's side: the socket and its owner are
 * recorded under it when its first packet is about to leave (TCP: by
 * sock_ops just before the SYN; UDP: at sendmsg(), when the socket is
 * bound).  The agent finds a queued packet's sender here without asking
 * sock_diag, and finds it even if the socket is already closed (a
 * program may send one datagram and exit). */
struct afw_flow_key {
    __u8 family;
    __u8 protocol;
    __u16 local_port;           /* Host order. */
    __u16 remote_port;          /* Host order. */
    __u16 pad;
    __u8 remote[16];
};

struct afw_flow {
    __u64 cookie;
    struct afw_owner owner;
};

/* A cached verdict, as the kernel can compute its key: the executable by
 * inode version (struct afw_exe) rather than by hash (the agent maps one
 * to the other), the remote address and port (the local ones for
 * AFW_EV_LISTEN).  A verdict is never found for a file that merely got
 * the inode number of another, nor for one rewritten since. */
struct afw_verdict_key {
    struct afw_exe exe;
    __u32 uid;
    __u8 event;                 /* enum afw_event */
    __u8 protocol;              /* IPPROTO_TCP, IPPROTO_UDP */
    __u8 family;                /* AF_INET, AF_INET6 */
    __u8 pad;
    __u8 addr[16];              /* IPv4 in the first 4 bytes, rest zero. */
    __u16 port;                 /* Host order. */
    __u16 pad2[3];
};

#define AFW_VERDICT_ALLOW 1
#define AFW_VERDICT_DENY 2
struct afw_verdict {
    __u64 expires_ns;           /* bpf_ktime_get_ns() (CLOCK_MONOTONIC). */
    __u32 verdict;              /* AFW_VERDICT_* */
    __u32 pad;
};

/* What a UDP socket carried (TCP's counters come from tcp_info and the
 * close record): counted per socket cookie by cgroup_skb programs. */
struct afw_sock_stats {
    __u64 bytes_in, bytes_out;
    __u64 packets_in, packets_out;
};

/* A UDP flow, the same both ways: endpoint a is the one that sorts
 * first (address bytes, then port), whichever sent the datagram. */
struct afw_udp_key {
    __u8 family;
    __u8 pad;
    __u16 port_a;               /* Network order. */
    __u16 port_b;
    __u16 pad2;
    __u8 addr_a[16];            /* IPv4 in the first 4 bytes, rest zero. */
    __u8 addr_b[16];
};

#define AFW_UDP_A_TO_B 1
#define AFW_UDP_B_TO_A 2
struct afw_udp_seen {
    __u64 seen_ns;              /* The last datagram let through. */
    __u32 dirs;                 /* AFW_UDP_A_TO_B | AFW_UDP_B_TO_A seen */
    __u32 pad;
};

/* How long a UDP flow stays known after its last datagram: conntrack's
 * UDP timeouts, before and after a reply. */
#define AFW_UDP_UNREPLIED_NS (30 * 1000000000ull)
#define AFW_UDP_REPLIED_NS (120 * 1000000000ull)

/* The name of the pinned socket filter under the agent's pin directory. */
#define AFW_UDP_NEW_PIN "afw_udp_new"

/* Indexes into the 'afw_counters' per-CPU array. */
enum afw_counter {
    AFW_C_CALLS,                /* Calls the programs looked at. */
    AFW_C_CACHED_ALLOW,
    AFW_C_CACHED_DENY,
    AFW_C_AGENT_DEAD,           /* Refused: the agent's heartbeat is stale. */
    AFW_C_EVENTS_LOST,          /* The ring buffer was full. */
    AFW_N_COUNTERS
};

/* The single entry of 'afw_state', written by the agent. */
struct afw_state {
    __u64 heartbeat_ns;         /* Last sign of life (CLOCK_MONOTONIC). */
    __u64 dead_after_ns;        /* Stale after this long; 0: never. */
    __u32 agent_tgid;           /* Its own calls are never refused. */
    __u32 allow_mark;           /* SO_MARK bit for cached allows; 0: none */
    __u64 netns_cookie;         /* The agent's network namespace. */
};

/* Ring buffer records. */
enum afw_record_type {
    AFW_REC_CACHED_ALLOW = 1,   /* A TCP connect() on a cached allow is
                                 * sending its SYN (the socket has the
                                 * allow mark); its owner came with
                                 * AFW_REC_CACHED_CONNECT, same cookie. */
    AFW_REC_BIND = 2,           /* A bind() to a port (a future listen). */
    AFW_REC_CLOSE = 3,          /* A TCP connection closed. */
    AFW_REC_CACHED_CONNECT = 4, /* A TCP connect() on a cached allow, with
                                 * its owner; its AFW_REC_CACHED_ALLOW
                                 * follows. */
};
struct afw_record {
    __u32 type;                 /* enum afw_record_type */
    __u32 protocol;
    __u64 cookie;
    struct afw_owner owner;     /* Zero for AFW_REC_CACHED_ALLOW, and if
                                 * unknown (AFW_REC_CLOSE). */
    __u32 family;
    __u16 port;                 /* Host order: remote, or bound local. */
    __u16 local_port;           /* Host order; 0 for AFW_REC_BIND and
                                 * AFW_REC_CACHED_CONNECT. */
    __u8 addr[16];              /* Remote, or bound local. */
    __u8 local_addr[16];
    /* AFW_REC_CLOSE: what the connection carried. */
    __u64 bytes_in, bytes_out;
    __u32 segs_in, segs_out;
};

#endif /* agent-bpf.h */
