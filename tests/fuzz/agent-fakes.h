/* agent-fakes: a guest kernel in memory, for tests/fuzz/fuzz-agent.c.
 *
 * tests/fuzz/agent-fakes.c implements what guest-agent/agent.c calls of
 * the modules that talk to the kernel or read /proc (hooks.h, nfq.h,
 * sockdiag.h, rules.h, pingsock.h, identity.h) and common/util.h's clocks,
 * so that the real agent.c runs in process, unchanged, over this state.
 * The target links it instead of those modules and of common/util.c.
 *
 * The guest has a fixed set of executables and processes (FAKE_EXES,
 * FAKE_PROCS).  The target adds what the kernel would hold: queued
 * packets, sockets sock_diag lists, the hooks' owners and flows, ping
 * sockets, ring buffer records.  The fakes record what the agent did to
 * that state (each packet's verdict, each verdict mirrored into the
 * kernel, each UDP flow noted, each flush) and abort() on a misuse a real
 * kernel would refuse or that the agent must never do: a second verdict
 * for one packet, a verdict for a packet never queued, a reject without
 * the reject mark. */
#ifndef AGENT_FAKES_H
#define AGENT_FAKES_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest-agent/bpf/agent-bpf.h"
#include "guest-agent/nfq.h"

/* Appends 'ITEM' to 'ARRAY' of 'N' items with room for 'ALLOCATED'. */
#define FAKE_PUSH(ARRAY, N, ALLOCATED, ITEM)                            \
    ((ARRAY) = fake_grow(ARRAY, &(ALLOCATED), N, sizeof *(ARRAY)),      \
     (ARRAY)[(N)++] = (ITEM))
void *fake_grow(void *items, size_t *allocated, size_t n, size_t size);

/* The guest's executables. */
struct fake_exe {
    const char *path, *name;
    bool deleted, memfd;
    uint64_t size;
    uint8_t sha256[32];
    struct afw_exe version;     /* What the hooks record for it. */
};

#define FAKE_N_EXES 7
#define FAKE_EXE_UNKNOWN (-1)   /* No application (a decide without app). */

/* The guest's processes, 1..FAKE_N_PROCS (0 stands for "no process"). */
struct fake_proc {
    int pid;
    uint32_t uid, gid;
    int64_t login_uid;          /* -1: not in a login session. */
    int run_exe;                /* What /proc shows; -1: the process is
                                 * gone. */
    int event_exe;              /* What it ran at its socket calls. */
    const char *cmdline;
};

#define FAKE_N_PROCS 8

const struct fake_exe *fake_exe(int);
const struct fake_proc *fake_proc(int);

/* The exe whose path and SHA-256 (hex, NULL if none) these are,
 * FAKE_EXE_UNKNOWN for no path, or -2 if none has them. */
int fake_exe_find(const char *path, const char *sha256_hex);

/* The owner the hooks record for proc 'p''s socket calls. */
struct afw_owner fake_owner(int p);

/* Everything back to an empty kernel at 'now_ms'; 'reject_mark' is the
 * only mark a reject may carry.  'step' counts the target's steps: each
 * verdict and call recorded below carries the step it happened in. */
void fake_reset(int64_t now_ms, uint32_t reject_mark);
void fake_set_step(int step);

/* The clock (common/util.h's), stopped unless moved. */
void fake_clock_advance(int64_t ms);
int64_t fake_clock_ms(void);

/* The netfilter queue. */
enum fake_verdict {
    FAKE_NONE,
    FAKE_ACCEPT,
    FAKE_REJECT,                /* Repeated with the reject mark. */
};

struct fake_packet {
    struct nfq_packet pkt;
    enum fake_verdict verdict;
    int step;                   /* Of the verdict. */
};

/* Queues 'pkt' (its id is set here) for nfq_recv().  Returns the id. */
uint32_t fake_nfq_queue(struct nfq_packet *pkt);
size_t fake_nfq_n_packets(void);
const struct fake_packet *fake_nfq_packet(uint32_t id);

/* What sock_diag finds at a tuple, and lists in dumps while 'live'.  A
 * lookup finds a connected socket at its tuple first, else a 'listener'
 * (TCP listening, UDP not connected) on the tuple's local port and
 * address or the wildcard, that is not closed; the latest first. */
struct fake_sock {
    int family, protocol;
    uint8_t local[16], remote[16];
    uint16_t local_port, remote_port;
    bool listener;
    int error;                  /* What a lookup returns: 0, ENOENT... */
    uint64_t cookie;
    uint32_t uid, inode;
    bool live;
    bool closed;                /* By fake_sock_close(). */
};

/* Adds 's'; returns its index, for fake_sock_close() and fake_sock(). */
size_t fake_sock_add(const struct fake_sock *s);
void fake_sock_close(size_t index);
const struct fake_sock *fake_sock(size_t index);

void fake_owner_add(uint64_t cookie, const struct afw_owner *);
void fake_flow_add(const struct afw_flow_key *, const struct afw_flow *);
void fake_ping_add(int family, uint16_t ident, uint32_t inode, uint32_t uid);
void fake_inode_add(uint32_t inode, int pid);
void fake_record_push(const struct afw_record *);

/* What the agent did to the kernel's caches. */
struct fake_kverdict {
    struct afw_verdict_key key;
    bool allow;
    uint64_t ttl_ms;
    int step;
};
size_t fake_n_kverdicts(void);
const struct fake_kverdict *fake_kverdict(size_t);

struct fake_udp_note {
    int family;
    uint8_t local[16], remote[16];
    uint16_t local_port, remote_port;
    bool inbound;
    int step;
};
size_t fake_n_udp_notes(void);
const struct fake_udp_note *fake_udp_note(size_t);

/* The step of the last hooks_flush_verdicts(), -1 if none. */
int fake_last_flush_step(void);

#endif /* agent-fakes.h */
