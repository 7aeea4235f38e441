/* switchd: appfw-switchd's core, between its adapters.
 *
 *   ovsdb.c  -> which VM ports are on the bridge (ofport, MAC, mode)
 *   unixctl  -> which VMs have a guest channel (the libvirt hook says)
 *   relay.c  -> guests' requests, stamped with the VM's identity and
 *               forwarded to appfw-secd over nng (common/rpc.h); verdicts
 *               routed back to the VM that asked
 *   rpc      -> appfw-secd's flow_install requests, acknowledged only
 *               after ofctrl's barrier reply
 *   flowgen  -> the flows each VM and each approved connection need
 *   ofctrl.c -> the switch
 *
 * Runs in OVS's poll loop: switchd_run() never blocks, switchd_wait()
 * registers everything it waits for. */
#ifndef SWITCHD_H
#define SWITCHD_H 1

#include <stdbool.h>
#include <stdint.h>

struct switchd_config {
    const char *bridge;         /* Integration bridge, e.g. "br-int". */
    const char *db;             /* "unix:/run/openvswitch/db.sock" */
    const char *switch_target;  /* "unix:/run/openvswitch/br-int.mgmt" */
    const char *flow_url;       /* Where secd sends flow_install (REP). */
    const char *decide_url;     /* appfw-secd's decide endpoint (REQ). */
    int flow_ipc_mode;          /* File mode of an ipc:// flow socket. */
    int table_base;
    int cookie_prefix;
    const char *default_mode;   /* "enforce" or "monitor". */
    int vm_rate, vm_burst;      /* Guest requests per second, burst. */
    int vm_queue;               /* Guest requests in flight at most. */
    int vm_max_flows;           /* Approved flows per VM at most. */
    int vm_punt_rate;           /* A VM's packets to switchd per second. */
    int secd_timeout_ms;        /* A decide's deadline at secd. */
    int min_flow_ttl;           /* Seconds an approved flow stays at least */
    int stats_interval;         /* Seconds between counter reports. */
    int audit_interval;         /* Seconds between flow count audits. */
    const char *registry;       /* File keeping the registrations across
                                 * restarts ("": none). */
    const char *hypervisor;     /* This hypervisor's name to secd, */
    const char *hypervisor_token;   /* and its token ("": none). */
};

struct switchd;

/* Returns NULL and '*sdp', or a malloc'd message. */
char *switchd_create(const struct switchd_config *, struct switchd **sdp);
void switchd_destroy(struct switchd *);

void switchd_run(struct switchd *);
void switchd_wait(struct switchd *);

/* Control commands (ovs-appctl appfw/...).  Each returns a malloc'd reply
 * text and sets '*ok'. */
char *switchd_vm_register(struct switchd *, const char *uuid,
                          const char *channel_path, const char *name,
                          bool *ok);
char *switchd_vm_unregister(struct switchd *, const char *uuid, bool *ok);
/* The addresses of registered VM 'uuid' on its port with 'mac' (the
 * libvirt hook gives them; "" removes them).  The Interface's own
 * external_ids:appfw-addresses takes precedence.  Kept with the
 * registration, and dropped with it. */
char *switchd_vm_addresses(struct switchd *, const char *uuid,
                           const char *mac, const char *addresses, bool *ok);
char *switchd_vms(const struct switchd *);
char *switchd_flows(const struct switchd *);
char *switchd_connection_status(const struct switchd *);
void switchd_recompute(struct switchd *);

#endif /* switchd.h */
