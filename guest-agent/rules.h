/* rules: appfw-agent's netfilter rules, in two chains of its own
 * (APPFW-OUT from OUTPUT, APPFW-IN from INPUT) in the filter table, for
 * IPv4 and IPv6, installed with iptables-restore.
 *
 * The chains queue the first packet of each new connection (a TCP SYN,
 * the first UDP datagram of a flow either way, as the hooks' socket
 * filter pinned under 'pin_dir' tells: see agent-bpf.h) to the agent's
 * NFQUEUE, with no bypass, except on the loopback device and for sockets
 * the eBPF hooks marked with a cached allow.  A packet the agent sends
 * back with the reject mark is rejected: a TCP reset, so that connect()
 * fails at once with ECONNREFUSED, or an ICMP port unreachable.
 *
 * rules_script() is pure (tests compare it with golden text); the rest
 * runs the iptables tools. */
#ifndef APPFW_RULES_H
#define APPFW_RULES_H 1

#include <stdint.h>

struct rules_config {
    uint16_t queue;
    uint32_t queue_maxlen;      /* Informational here; set by nfq_open(). */
    uint32_t reject_mark;       /* A single bit. */
    uint32_t allow_mark;        /* A single bit; 0: no allow fast path. */
    const char *iptables;       /* e.g. "iptables-legacy" or "iptables" */
    const char *ip6tables;
    const char *pin_dir;        /* The hooks' (hooks.h), for the UDP rule. */
};

/* The iptables-restore --noflush input for 'family' (AF_INET, AF_INET6).
 * Declaring the chains replaces whatever they held, in one step. */
char *rules_script(const struct rules_config *, int family);

/* Picks "iptables-legacy" (and ip6tables-legacy) when installed, else
 * "iptables": the NFQUEUE target must reach the kernel as an xtables
 * target on kernels without nftables' queue expression. */
void rules_default_tools(struct rules_config *);

/* Installs (or replaces) the chains and the jumps to them, at the head of
 * OUTPUT and INPUT.  Returns NULL or a malloc'd error. */
char *rules_install(const struct rules_config *);

/* Removes the jumps and the chains.  Returns NULL or a malloc'd error. */
char *rules_remove(const struct rules_config *);

#endif /* rules.h */
