/* hooks: appfw-agent's kernel hooks, the eBPF programs of
 * guest-agent/bpf/agent.bpf.c attached to one cgroup (the only module that
 * talks to libbpf).
 *
 * The programs' links and maps are pinned under a bpffs directory, so they
 * stay attached when the agent exits or dies: with the agent's heartbeat
 * stale, they refuse every connect/sendmsg/bind that would need a verdict
 * (agent-bpf.h).  A restarted agent swaps its freshly loaded programs into
 * the pinned links atomically and reuses the pinned maps; hooks_remove()
 * is the only way to take the hooks away. */
#ifndef APPFW_HOOKS_H
#define APPFW_HOOKS_H 1

#include <stdbool.h>
#include <stdint.h>

#include "guest-agent/bpf/agent-bpf.h"

struct hooks;

/* Loads the programs and attaches them to the cgroup v2 directory
 * 'cgroup', pinning under 'pin_dir' (created if missing; it must be on a
 * bpffs).  Returns NULL and sets '*error' (malloc'd) on failure. */
struct hooks *hooks_open(const char *cgroup, const char *pin_dir,
                         char **error);

/* Closes the agent's handles; the pinned hooks stay attached. */
void hooks_close(struct hooks *);

/* Detaches and unpins everything under 'pin_dir' (hooks_open()'s).
 * Returns 0 or an errno value. */
int hooks_remove(const char *pin_dir);

/* Sets who the agent is (its own calls are never refused), how long
 * without a heartbeat counts as dead (0: never), and the SO_MARK bit that
 * sockets with a cached allow get (0: none).  Also a heartbeat. */
int hooks_configure(struct hooks *, uint32_t agent_tgid,
                    uint64_t dead_after_ms, uint32_t allow_mark);
int hooks_heartbeat(struct hooks *);

/* The owner recorded for socket 'cookie' (for any socket the hooks saw,
 * but for a TCP connect on a cached allow: its owner comes with its
 * AFW_REC_CACHED_CONNECT record).  Returns false if none. */
bool hooks_find_owner(struct hooks *, uint64_t cookie, struct afw_owner *);

/* The socket and owner recorded for the outbound flow 'k'.  Returns
 * false if none. */
bool hooks_find_flow(struct hooks *, const struct afw_flow_key *,
                     struct afw_flow *);

/* What UDP socket 'cookie' carried so far; with 'take', forgets it (the
 * socket is gone).  Returns false if nothing was counted. */
bool hooks_udp_stats(struct hooks *, uint64_t cookie, bool take,
                     struct afw_sock_stats *);

/* Mirrors a cached verdict into the kernel for 'ttl_ms'. */
/* Notes in 'afw_udp_flows' that a UDP datagram of the flow between
 * 'local' and 'remote' (16-byte addresses, IPv4 in the first 4; ports in
 * host order) was let through ('inbound': from the remote end), as the
 * cgroup_skb programs do: the agent does it for the datagrams it accepts
 * from the queue, so that a socket the hooks never saw (opened before
 * they were attached) has only its first datagram queued, not each one.
 * Returns 0 or an errno value. */
int hooks_note_udp_flow(struct hooks *, int family, const uint8_t *local,
                        uint16_t local_port, const uint8_t *remote,
                        uint16_t remote_port, bool inbound);

int hooks_put_verdict(struct hooks *, const struct afw_verdict_key *,
                      bool allow, uint64_t ttl_ms);
/* Drops every cached verdict (a new policy version). */
int hooks_flush_verdicts(struct hooks *);

/* The ring buffer of struct afw_record: its fd to poll, and a consumer
 * that calls 'cb' for each record available now. */
int hooks_events_fd(const struct hooks *);
int hooks_consume(struct hooks *,
                  void (*cb)(const struct afw_record *, void *aux),
                  void *aux);

/* Counters summed over CPUs, indexed by enum afw_counter. */
void hooks_counters(struct hooks *, uint64_t out[AFW_N_COUNTERS]);

#endif /* hooks.h */
