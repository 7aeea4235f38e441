/* agent: appfw-agent's core.  It ties together the kernel hooks (eBPF,
 * hooks.h), the netfilter queue (nfq.h, with rules.h's chains), socket
 * lookups (sockdiag.h), process identity (identity.h), the verdict cache
 * (vcache.h), the offline policy (lpolicy.h) and the channel to the host
 * (common/chan.h over a virtio-serial port or, in tests, a UNIX socket).
 *
 * For each new connection the kernel holds its first packet; the agent
 * finds the socket and the process behind it, answers from its cache or
 * asks the security VM (decide), and accepts or rejects the packet.
 * Verdicts with a TTL are mirrored into the kernel, where later connects
 * are decided without leaving it.  When no verdict can be had (channel
 * down, verdict late), the fail mode decides. */
#ifndef APPFW_AGENT_H
#define APPFW_AGENT_H 1

#include <stddef.h>
#include <stdint.h>

#include "guest-agent/lpolicy.h"
#include "guest-agent/rules.h"

struct agent;

struct agent_config {
    const char *channel;        /* A UNIX socket or character device path,
                                 * or "auto": the virtio-serial port named
                                 * 'port_name' under 'sys_root'. */
    const char *port_name;      /* "org.appfw.agent.0" */
    const char *sys_root;       /* "/sys" */
    const char *dev_root;       /* "/dev" */
    const char *cgroup;         /* cgroup v2 directory the hooks attach to */
    const char *pin_dir;        /* bpffs directory for the pinned hooks */
    const char *state_dir;      /* keeps the last policy_push */
    const char *domain;         /* NULL: from resolv.conf */
    const char *syslog_socket;  /* "/dev/log" */
    const char *utmp;           /* NULL: the system's utmp */
    struct rules_config rules;
    uint32_t queue_maxlen;
    enum fail_mode fail_mode;
    int verdict_timeout_ms;     /* then the fail mode decides */
    int poll_us;                /* after a decide, poll this long for the
                                 * verdict before sleeping (0: never) */
    int heartbeat_s;            /* channel heartbeat; 3 missed: gone */
    int dead_after_ms;          /* kernel refuses while the agent is
                                 * silent this long */
    int stats_interval_s;
    int naming_interval_ms;     /* how often addresses and logins are
                                 * checked for the naming service */
    size_t cache_max;
    size_t max_pending;         /* decisions in flight */
};

/* Starts the agent: loads and attaches the hooks, binds the queue,
 * installs the netfilter chains.  Returns NULL with '*error' (malloc'd)
 * if any of it fails. */
struct agent *agent_create(const struct agent_config *, char **error);

/* Stops the agent.  The hooks and chains stay: until an agent runs again,
 * the kernel refuses new connections. */
void agent_destroy(struct agent *);

void agent_run(struct agent *);
void agent_wait(struct agent *);

/* A one-line summary of counters, for logs and tests.  Malloc'd. */
char *agent_status(const struct agent *);

/* Removes the hooks and chains of a stopped agent (--uninstall). */
char *agent_uninstall(const struct agent_config *);

#endif /* agent.h */
