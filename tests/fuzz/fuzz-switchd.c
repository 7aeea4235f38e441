/* libFuzzer target: appfw-switchd's handling of what its guests send, the
 * real ovs-plugin/switchd.c and relay.c in process, from a guest's frame
 * to what switchd forwards to appfw-secd, answers the guest, installs on
 * the switch or sends out of a port.
 *
 * Each input gets a new switchd with two VMs on the bridge, both
 * registered: vm0 (enforce, interface vnet0, ofport 1) and vm1 (noagent,
 * vnet1, ofport 2); vnet2 and vnet3 may join as second NICs.  Their guest
 * channels are real UNIX sockets that relay.c connects to, as to QEMU's;
 * the target plays both guests.  appfw-secd is played through
 * tests/fuzz/rpc-mem.c, as secd would answer (an allow of an outbound
 * connection carries its flow, which switchd installs before it passes
 * the verdict on; switchd's poll is answered with a notice, an ack or a
 * failure), with the answers the input picks.  OVS is ofctrl-mem.c (a
 * desired table and a
 * switch whose batches the input can hold, fail or reconnect) and
 * ovsdb-mem.c (the interfaces, which the input can edit).  The clock is
 * virtual (time_msec() is wrapped at link time): it moves only when the
 * input says.
 *
 * An input is a sequence of lines; after each, switchd runs until it has
 * nothing more to do.  The first 16 count, and of those at most 4 that
 * change the database or the registrations (each makes switchd compute
 * every VM's flows again, the costliest thing a line can do).  V is a VM
 * (0, 1), I an interface (0..3):
 *
 *   gV JSON        guest V sends JSON as one frame ("gV": a zero-length one)
 *   GV N JSON      the same with N spaces after JSON's first byte (a large
 *                  frame)
 *   rV HEX         guest V writes raw bytes on its channel
 *   sKC [G APP TTL OLD]  secd answers its K-th oldest open request (K a
 *                  digit) with C: a allow (granularity G e/s, app id, TTL,
 *                  decided OLD revisions ago; its flow as secd gives one,
 *                  or with G E/S on any decide, with G n never), d deny, e
 *                  an error, t a timeout, r refused, g unreadable; a
 *                  recheck's a revokes the indexes listed after it, d all
 *   PC [V USER TEXT]  secd answers switchd's poll with C: a an ack, A an
 *                  ack with secd's revision, c a policy_change (a new
 *                  revision), n a notice for VM V's user USER ("-":
 *                  everyone; V 9: a VM that is not here), e an error, v a
 *                  verdict, t a timeout, r refused, g unreadable
 *   S1, S0         secd cannot be reached / can again
 *   f JSON         JSON to switchd's flow endpoint (flow_install)
 *   t MS           MS milliseconds pass
 *   xh, xa         the switch holds its answers / answers by itself
 *   xo, xf [ERR]   the switch completes the batch held, or refuses it
 *   xr             the switch reconnects (switchd reads its flows back)
 *   xpV PROTO SRC SPORT DST DPORT APP
 *                  the same, with an approved flow of VM V's zone left on
 *                  the switch (SRC "-": a service flow)
 *   xc [SEED]      the switch answers a counter request
 *   pVP HEX        a packet-in with punt P from VM V's first port (V 9:
 *                  a port that is no VM's)
 *   dIC [ARG]      interface I: m mode, - off the bridge, + on it, p
 *                  ofport, z recorded zone (vK: VM K's zone), a addresses,
 *                  l learned addresses, o the vm-id of VM K, n vm-name
 *   bS             the bridge's fail_mode is secure (1) or not (0)
 *   uV, RV         VM V is unregistered, registered again
 *   AV MAC [ADDRS] appfw/vm-addresses for VM V
 *   cC             control command: v vms, f flows, s status, r recompute
 *
 * At the end secd answers everything still open, the switch answers, time
 * passes, and switchd is destroyed.  FUZZ_SWITCHD_TRACE=1 in the
 * environment prints every message each way (to look at one input).
 *
 * The seeds (tests/fuzz/corpus/switchd/) are an agent's real messages (the
 * host side's log of tests/agent/test-agent.sh, fuzz-secd's seeds' source)
 * and frames a Linux guest sent on a veth (ARP, TCP SYNs over IPv4 and
 * IPv6, UDP), in lines that play the scenes the oracles are about.
 *
 * Oracles beyond "no crash, no leak, no UB":
 *   - everything switchd sends a guest is a valid message of a type it may
 *     send (hello, heartbeat, verdict, error, notice); every answer with
 *     an id answers an unanswered frame of that guest with that id, and a
 *     verdict is the one secd gave for that VM, without its flow, and an
 *     allow only once the flow it carried is on the switch, and never one
 *     decided before a policy_change the guest has had; policy_changes
 *     only of revisions secd announced; no more answers than frames,
 *     heartbeats than heartbeats, notices than secd sent it;
 *   - every decide in a frame switchd must read (4 KiB or less, on a
 *     channel that stays up) is answered once by the end;
 *   - every request to secd is valid, carries the identity of the VM whose
 *     guest (or packet) caused it, as the database and the registration
 *     give it, with this hypervisor's name and token, and nothing a guest
 *     may not say (agent, apps, flow_refused, a vm in a stats flow);
 *     naming reports are not taken from noagent VMs and are numbered in
 *     order; a decide is asked again with flow_refused only after secd
 *     allowed it with a flow, and then none of the flows that allow added
 *     is left; a vm_release names a VM that is neither on the bridge nor
 *     registered; one poll is out whenever secd can be reached (a second
 *     after a failed one at most); a recheck carries this hypervisor's
 *     name, token and the revision secd announced last;
 *   - every desired flow carries appfw's cookie prefix and names at most
 *     one VM, through its ports, MACs, zone and meter, and only a VM that
 *     is on the bridge; VMs have distinct zones, recorded on their
 *     interfaces;
 *   - every flow_install is acked once; an ok ack only once each of its
 *     flows that is still desired is on the switch; one refused before
 *     switchd stops waiting for the switch leaves none of the flows it
 *     added; counters go to secd only as the stats of the VM whose zone
 *     counted them;
 *   - every packet switchd sends out of a port, or back through the
 *     pipeline from one, is a packet that came in on that port (a reset of
 *     one, for packet-outs) while it belonged to the VM it belongs to
 *     now. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "openvswitch/poll-loop.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "util.h"

#include "common/frame.h"
#include "common/log.h"
#include "common/msg.h"
#include "ovs-plugin/flowgen.h"
#include "ovs-plugin/ofctrl.h"
#include "ovs-plugin/ovsdb.h"
#include "ovs-plugin/reset.h"
#include "ovs-plugin/switchd.h"
#include "ovs-plugin/zone.h"
#include "tests/fuzz/ofctrl-mem.h"
#include "tests/fuzz/ovsdb-mem.h"
#include "tests/fuzz/rpc-mem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
long long int __wrap_time_msec(void);

#define N_VMS 2
#define N_IFACES VSDB_MEM_MAX_IFACES
#define MAX_PORT 127
#define DECIDE_URL "mem://secd-decide"
#define FLOW_URL "mem://switchd-flow"
#define COOKIE_PREFIX 0xa9f0
#define TABLE_BASE 0
#define MAX_LINES 16            /* An input's lines that are run... */
#define MAX_DB_LINES 4          /* ...and of them, database changes. */
#define MAX_PASSES 200          /* Far beyond what any line needs. */
#define GUEST_FREE_BYTES 4096   /* switchd.c's: always admitted. */
#define HYPERVISOR "hv-fuzz"
#define TOKEN "0123456789abcdef0123456789abcdef" \
              "0123456789abcdef0123456789abcdef"
#define POLL_RETRY_MS 1000      /* switchd.c's, after a failed poll. */
#define PENDING_TIMEOUT_MS 10000    /* switchd.c's wait for the switch. */

static const char *const vm_uuids[N_VMS] = {
    "11111111-0000-4000-8000-00000000a001",
    "22222222-0000-4000-8000-00000000b002",
};
static const char *const iface_macs[N_IFACES] = {
    "52:54:00:00:00:01", "52:54:00:00:00:02",
    "52:54:00:00:00:03", "52:54:00:00:00:04",
};

static void OVS_NO_RETURN
fail(const char *format, ...) OVS_PRINTF_FORMAT(1, 2);

static void
fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("fuzz-switchd: ", stderr);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    abort();
}

static bool tracing;

static void
trace(const char *format, ...) OVS_PRINTF_FORMAT(1, 2);

static void
trace(const char *format, ...)
{
    if (tracing) {
        va_list args;
        va_start(args, format);
        vfprintf(stderr, format, args);
        va_end(args);
        fputc('\n', stderr);
    }
}

/* The clock. */

static long long int clock_ms;

long long int
__wrap_time_msec(void)
{
    return clock_ms;
}

/* The guests. */

/* Frames a guest sent with one id, and how many of those must be
 * answered. */
struct asked {
    int64_t id;
    unsigned int n, must;
};

struct guest {
    int listen_fd;
    char path[108];
    int fd;                     /* Our end of switchd's connection, or -1. */
    bool broken;                /* We broke the framing: switchd closes. */
    struct frame_decoder in;    /* What switchd sends. */
    struct frame_decoder mirror;    /* What we sent, as switchd reads it. */
    uint8_t *wbuf;              /* Bytes not written yet. */
    size_t wlen;
    bool registered;
    unsigned long long frames;  /* Frames switchd's relay must read. */
    struct asked *asked;
    size_t n_asked, allocated_asked;
    unsigned long long n_frames, answers, hellos, hello_replies;
    unsigned long long heartbeats, heartbeat_replies, connections;
    unsigned long long notices, notices_sent;
    int64_t revision;           /* Of the last policy_change it had. */
};

static struct guest guests[N_VMS];
static char run_dir[64];

/* The state of one input. */
static struct switchd *sd;
static struct ofctrl *oc;
static struct vsdb *db;

/* What the current line is, so that what switchd does can be told apart
 * from what it does on its own. */
enum cause { CAUSE_OTHER, CAUSE_GUEST, CAUSE_PACKET, CAUSE_COUNTERS };
static enum cause cause;
static int cause_vm, cause_port;

/* What switchd says of its VMs (appfw/vms). */
struct vm_view {
    bool present;
    int ofport;
    unsigned int zone;
    char mode[16];
    unsigned long long frames;
};
static struct vm_view views[N_VMS];
static bool views_valid;        /* Until a registration changes. */
static unsigned int views_db;   /* vsdb_seqno() when read. */

/* Packets the switch sent switchd, with the port and its owner then. */
struct injected {
    int port;
    int owner;
    uint8_t *packet;
    size_t len;
};
static struct injected *injected;
static size_t n_injected, allocated_injected;
static int port_owner[MAX_PORT + 1];    /* VM index, or -1. */

/* secd. */
struct secd_req {
    uint64_t cookie;
    struct json_object *msg;
    enum msg_type type;
    int vm;
};
static struct secd_req *reqs;
static size_t n_reqs, allocated_reqs;

/* A flow_install on its way to switchd's ack. */
struct flow_wait {
    uint64_t num;               /* rpc-mem's number of the request. */
    size_t n_keys;
    char **keys;                /* Its flows' keys ... */
    bool *was_desired;          /* ... and whether desired before. */
    long long int sent;         /* clock_ms when sent. */
};
static struct flow_wait *waits;
static size_t n_waits, allocated_waits;

/* An allow secd gave with its flow: until the guest has the verdict, or
 * switchd asks again because the switch refused the flow. */
struct given {
    unsigned long long serial;  /* In the verdict's reason. */
    int vm;
    int64_t id;                 /* The decide's. */
    bool agent;                 /* A guest's decide, not switchd's own. */
    char *key;                  /* The flow's key (NULL: an invalid one)... */
    bool was_desired;           /* ...and whether desired before. */
    long long int sent;         /* clock_ms when given. */
};
static struct given *givens;
static size_t n_givens, allocated_givens;

/* secd's revision of its decisions (0: none announced yet). */
static int64_t revision;

/* The allows secd gave (its VM, the decide's id, whether a guest's, the
 * revision decided at): switchd may ask again about one older than the
 * revision secd announced last. */
struct stale {
    int vm;
    int64_t id;
    bool agent;
    int64_t revision;
};
static struct stale *stales;
static size_t n_stales, allocated_stales;

/* switchd's poll. */
static uint64_t poll_cookie;    /* The one out, or 0. */
static long long int poll_retry_at;     /* One must be out from then. */
static bool secd_down;          /* "S1". */

static uint64_t next_flow_id;
static int64_t naming_epoch, naming_seq;

static int
vm_index(const char *uuid)
{
    for (int i = 0; i < N_VMS; i++) {
        if (uuid && !strcmp(uuid, vm_uuids[i])) {
            return i;
        }
    }
    return -1;
}

static int
owner_of_iface(const struct vsdb_mem_iface *it)
{
    return it->on_bridge && it->ofport > 0 ? vm_index(it->vm_id) : -1;
}

/* VM 'vm''s first port (the lowest ofport) and its MAC, from the
 * database. */
static int
vm_first_port(int vm, const char **macp)
{
    int best = 0;
    *macp = NULL;
    for (size_t i = 0; i < N_IFACES; i++) {
        const struct vsdb_mem_iface *it = vsdb_mem_iface(db, i);
        if (owner_of_iface(it) == vm && (!best || it->ofport < best)) {
            best = it->ofport;
            *macp = it->mac;
        }
    }
    return best;
}

/* Who has each port now. */
static void
update_ports(void)
{
    int owner[MAX_PORT + 1];
    for (int p = 0; p <= MAX_PORT; p++) {
        owner[p] = -1;
    }
    for (size_t i = 0; i < N_IFACES; i++) {
        const struct vsdb_mem_iface *it = vsdb_mem_iface(db, i);
        int vm = owner_of_iface(it);
        if (vm >= 0 && it->ofport <= MAX_PORT) {
            owner[it->ofport] = vm;
        }
    }
    memcpy(port_owner, owner, sizeof port_owner);
}

/* Reads appfw/vms. */
static void
update_views(void)
{
    views_valid = true;
    views_db = vsdb_seqno(db);
    char *text = switchd_vms(sd);
    for (int i = 0; i < N_VMS; i++) {
        struct vm_view *v = &views[i];
        memset(v, 0, sizeof *v);
        /* A line starts with the VM's UUID (only its name has spaces, and
         * do_db() gives none). */
        const char *line = text;
        while (line && strncmp(line, vm_uuids[i], strlen(vm_uuids[i]))) {
            line = strchr(line, '\n');
            line = line ? line + 1 : NULL;
        }
        if (!line) {
            continue;
        }
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t) (end - line) : strlen(line);
        char *copy = xmemdup0(line, len);
        const char *p;
        v->present = true;
        if ((p = strstr(copy, " ofport="))) {
            v->ofport = atoi(p + 8);
        }
        if ((p = strstr(copy, " zone="))) {
            v->zone = strtoul(p + 6, NULL, 10);
        }
        if ((p = strstr(copy, " mode="))) {
            sscanf(p + 6, "%15s", v->mode);
        }
        if ((p = strstr(copy, " frames="))) {
            v->frames = strtoull(p + 8, NULL, 10);
        }
        free(copy);
    }
    free(text);
}

static int
vm_of_zone(unsigned int zone)
{
    for (int i = 0; i < N_VMS; i++) {
        if (zone && views[i].zone == zone) {
            return i;
        }
    }
    return -1;
}

/* Allows given with a flow. */

static unsigned long long n_verdicts;  /* Serial numbers. */

static struct given *
given_by_serial(unsigned long long serial)
{
    for (size_t i = 0; i < n_givens; i++) {
        if (givens[i].serial == serial) {
            return &givens[i];
        }
    }
    return NULL;
}

/* The allow given for decide 'id' of 'vm' ('agent': a guest's), if
 * exactly one was; '*any' says whether there was any. */
static struct given *
given_find(int vm, int64_t id, bool agent, bool *any)
{
    struct given *found = NULL;
    size_t n = 0;
    for (size_t i = 0; i < n_givens; i++) {
        struct given *g = &givens[i];
        if (g->vm == vm && g->id == id && g->agent == agent) {
            found = found ? found : g;
            n++;
        }
    }
    *any = n > 0;
    return n == 1 ? found : NULL;
}

static void
given_remove(struct given *g)
{
    free(g->key);
    *g = givens[--n_givens];
}

/* A flow that switchd says is in place must be on the switch, unless it
 * is no longer desired at all. */
static void
check_in_place(const struct given *g, const char *what)
{
    if (g->key && shash_find(ofctrl_mem_desired(oc), g->key)
        && !shash_find(ofctrl_mem_switch(oc), g->key)) {
        fail("%s before the switch had %s", what, g->key);
    }
}

/* Guests' accounting. */

static struct asked *
asked_find(struct guest *g, int64_t id, bool create)
{
    for (size_t i = 0; i < g->n_asked; i++) {
        if (g->asked[i].id == id) {
            return &g->asked[i];
        }
    }
    if (!create) {
        return NULL;
    }
    if (g->n_asked >= g->allocated_asked) {
        g->asked = x2nrealloc(g->asked, &g->allocated_asked,
                              sizeof *g->asked);
    }
    g->asked[g->n_asked] = (struct asked) { .id = id };
    return &g->asked[g->n_asked++];
}

/* A frame switchd will read from guest 'vm': what it may be answered. */
static void
guest_frame_sent(int vm, const struct frame *f)
{
    struct guest *g = &guests[vm];
    trace("guest%d -> %.*s", vm, (int) f->len, f->data);
    g->frames++;
    g->n_frames++;
    struct json_object *msg;
    enum msg_type type;
    int64_t id;
    char *error = msg_parse(f->data, f->len, &msg, &type);
    if (!error) {
        id = msg_get_int(msg, "id", 0);
        if (type == MSG_HELLO) {
            g->hellos++;
        } else if (type == MSG_HEARTBEAT) {
            g->heartbeats++;
        }
    } else {
        /* An error may echo the id of JSON that is no valid message. */
        struct json_object *obj = json_tokener_parse((const char *) f->data);
        id = obj ? msg_get_int(obj, "id", 0) : 0;
        json_object_put(obj);
    }
    if (id > 0 && id <= MSG_INT_MAX) {
        struct asked *a = asked_find(g, id, true);
        a->n++;
        if (!error && type == MSG_DECIDE && f->len <= GUEST_FREE_BYTES) {
            a->must++;
        }
    }
    free(error);
    json_object_put(msg);
}

/* The connection ends: what it asked need not be answered any more. */
static void
guest_close(struct guest *g)
{
    if (g->fd >= 0) {
        close(g->fd);
        g->fd = -1;
        frame_decoder_destroy(&g->in);
        frame_decoder_destroy(&g->mirror);
    }
    free(g->wbuf);
    g->wbuf = NULL;
    g->wlen = 0;
    g->broken = false;
    for (size_t i = 0; i < g->n_asked; i++) {
        g->asked[i].must = 0;
    }
}

static void
guest_flush(struct guest *g)
{
    while (g->fd >= 0 && g->wlen) {
        ssize_t n = send(g->fd, g->wbuf, g->wlen,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                guest_close(g);
            }
            return;
        }
        memmove(g->wbuf, g->wbuf + n, g->wlen - n);
        g->wlen -= n;
    }
}

/* Guest 'vm' writes 'len' bytes on its channel (dropped if it is down, or
 * if switchd is about to close it). */
static void
guest_write(int vm, const void *data, size_t len)
{
    struct guest *g = &guests[vm];
    if (g->fd < 0 || g->broken || !len) {
        return;
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        size_t used;
        struct frame f;
        if (frame_decoder_feed(&g->mirror, p, left, &used, &f)) {
            g->broken = true;
            break;
        }
        if (f.data) {
            guest_frame_sent(vm, &f);
            free(f.data);
        }
        p += used;
        left -= used;
    }
    g->wbuf = xrealloc(g->wbuf, g->wlen + len);
    memcpy(g->wbuf + g->wlen, data, len);
    g->wlen += len;
    guest_flush(g);
}

/* A frame switchd sent guest 'vm'. */
static void
guest_receive(int vm, const struct frame *f)
{
    struct guest *g = &guests[vm];
    trace("guest%d <- %.*s", vm, (int) f->len, f->data);
    struct json_object *msg;
    enum msg_type type;
    char *error = msg_parse(f->data, f->len, &msg, &type);
    if (error) {
        fail("vm%d got an invalid message %.*s: %s", vm, (int) f->len,
             f->data, error);
    }
    int64_t id = msg_get_int(msg, "id", 0);
    switch (type) {
    case MSG_HELLO:
        if (++g->hello_replies > g->connections + g->hellos) {
            fail("vm%d: %llu hellos for %llu connections and %llu hellos",
                 vm, g->hello_replies, g->connections, g->hellos);
        }
        break;
    case MSG_HEARTBEAT:
        if (++g->heartbeat_replies > g->heartbeats) {
            fail("vm%d: more heartbeats back than sent", vm);
        }
        g->answers++;
        break;
    case MSG_POLICY_CHANGE: {
        int64_t rev = msg_get_int(msg, "revision", 0);
        if (!revision || rev > revision) {
            fail("vm%d: a policy_change secd did not announce: %.*s", vm,
                 (int) f->len, f->data);
        }
        g->revision = MAX(g->revision, rev);
        break;
    }
    case MSG_NOTICE:
        if (msg_get(msg, "vm") || ++g->notices > g->notices_sent) {
            fail("vm%d: a notice not for it: %.*s", vm, (int) f->len,
                 f->data);
        }
        break;
    case MSG_VERDICT:
    case MSG_ERROR: {
        g->answers++;
        if (type == MSG_VERDICT) {
            char tag[64];
            snprintf(tag, sizeof tag, "fuzz-secd vm=%s #", vm_uuids[vm]);
            const char *reason = msg_get_string(msg, "reason", "");
            if (strncmp(reason, tag, strlen(tag))) {
                fail("vm%d got another's verdict: %.*s", vm, (int) f->len,
                     f->data);
            }
            if (msg_get(msg, "flow")) {
                fail("vm%d got a verdict with its flow: %.*s", vm,
                     (int) f->len, f->data);
            }
            if (!strcmp(msg_get_string(msg, "verdict", ""), "allow")
                && msg_get_int(msg, "revision", INT64_MAX) < g->revision) {
                fail("vm%d got an allow decided before the policy_change "
                     "it had: %.*s", vm, (int) f->len, f->data);
            }
            struct given *given = given_by_serial(
                strtoull(reason + strlen(tag), NULL, 10));
            if (given) {
                check_in_place(given, "an allow reached the guest");
                given_remove(given);
            }
        }
        if (id) {
            struct asked *a = asked_find(g, id, false);
            if (!a || !a->n) {
                fail("vm%d: an answer to nothing it asked: %.*s", vm,
                     (int) f->len, f->data);
            }
            a->n--;
            if (a->must) {
                a->must--;
            }
        } else if (type == MSG_VERDICT) {
            fail("vm%d: a verdict without an id", vm);
        }
        break;
    }
    case MSG_DECIDE:
    case MSG_FLOW_OPEN:
    case MSG_FLOW_CLOSE:
    case MSG_STATS:
    case MSG_POLICY_PUSH:
    case MSG_FLOW_INSTALL:
    case MSG_ACK:
    case MSG_NAMING:
    case MSG_POLL:
    case MSG_VM_RELEASE:
    case MSG_RECHECK:
    case MSG_N_TYPES:
    default:
        fail("vm%d: switchd sent a %s", vm, msg_type_name(type));
    }
    if (g->answers > g->n_frames) {
        fail("vm%d: %llu answers to %llu frames", vm, g->answers,
             g->n_frames);
    }
    json_object_put(msg);
}

/* Reads what switchd sent guest 'vm'. */
static bool
read_guest(int vm)
{
    struct guest *g = &guests[vm];
    bool progress = false;
    while (g->fd >= 0) {
        uint8_t buf[65536];
        ssize_t n = read(g->fd, buf, sizeof buf);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                guest_close(g);
            }
            break;
        } else if (!n) {
            guest_close(g);
            progress = true;
            break;
        }
        progress = true;
        for (size_t off = 0; off < (size_t) n; ) {
            size_t used;
            struct frame f;
            if (frame_decoder_feed(&g->in, buf + off, n - off, &used, &f)) {
                fail("vm%d: switchd broke the framing", vm);
            }
            if (f.data) {
                guest_receive(vm, &f);
                free(f.data);
            }
            off += used;
        }
    }
    return progress;
}

/* Reads what switchd sent, accepts its new connections (after reading the
 * old one to its end), writes what waits.  (A poll() first: an accept()
 * with nothing to accept costs a socket.) */
static bool
pump_guests(void)
{
    struct pollfd pfds[2 * N_VMS];
    for (int vm = 0; vm < N_VMS; vm++) {
        const struct guest *g = &guests[vm];
        pfds[2 * vm] = (struct pollfd) { .fd = g->listen_fd,
                                         .events = POLLIN };
        pfds[2 * vm + 1] = (struct pollfd) {
            .fd = g->fd, .events = POLLIN | (g->wlen ? POLLOUT : 0),
        };
    }
    if (poll(pfds, ARRAY_SIZE(pfds), 0) <= 0) {
        return false;
    }
    bool progress = false;
    for (int vm = 0; vm < N_VMS; vm++) {
        struct guest *g = &guests[vm];
        if (pfds[2 * vm + 1].revents) {
            progress |= read_guest(vm);
        }
        if (pfds[2 * vm].revents) {
            int fd;
            while ((fd = accept4(g->listen_fd, NULL, NULL,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                read_guest(vm);
                guest_close(g);
                g->fd = fd;
                g->connections++;
                frame_decoder_init(&g->in, 0);
                frame_decoder_init(&g->mirror, 0);
                progress = true;
                read_guest(vm);
            }
        }
        guest_flush(g);
    }
    return progress;
}

/* secd's side. */

static bool
expect_vm(const struct json_object *msg, int vm)
{
    const char *mac;
    int ofport = vm_first_port(vm, &mac);
    if (strcmp(msg_get_string(msg, "vm.uuid", ""), vm_uuids[vm])
        || msg_get_int(msg, "vm.ofport", 0) != ofport
        || strcmp(msg_get_string(msg, "vm.mac", ""),
                  ofport && mac ? mac : "")
        || strcmp(msg_get_string(msg, "vm.hypervisor", ""), HYPERVISOR)
        || strcmp(msg_get_string(msg, "vm.token", ""), TOKEN)) {
        return false;
    }
    if (guests[vm].registered) {
        char name[8];
        snprintf(name, sizeof name, "vm%d", vm);
        return !strcmp(msg_get_string(msg, "vm.name", ""), name);
    }
    return true;
}

/* Whether counter 'app' (app_id, uid) is counted for 'zone' by a flow on
 * the switch. */
static bool
switch_counts(unsigned int zone, const struct json_object *app)
{
    int64_t app_id = msg_get_int(app, "app_id", -1);
    char match[32], label[48];
    snprintf(match, sizeof match, ",reg6=%u", zone);
    snprintf(label, sizeof label, ",ct_label=0x%"PRIx64,
             msg_get(app, "uid")
             ? FLOWGEN_LABEL_UID | (uint64_t) msg_get_int(app, "uid", 0)
             : 0);
    struct shash_node *node;
    const char *p;
    SHASH_FOR_EACH (node, ofctrl_mem_switch(oc)) {
        const struct ofctrl_mem_flow *mf = node->data;
        if (((mf->flow.cookie >> 40) & 0xff) == FLOWGEN_K_COUNT
            && (mf->flow.cookie & 0xffffffff) == (uint64_t) app_id
            && (p = strstr(mf->flow.match, match))
            && (p[strlen(match)] == ',' || !p[strlen(match)])
            && (!app_id || strstr(mf->flow.match, label))) {
            return true;
        }
    }
    return false;
}

/* A request switchd sent secd: is it what the line that caused it may
 * cause? */
static void
check_request(const char *text, size_t len, struct json_object *msg,
              enum msg_type type)
{
    int vm = vm_index(msg_get_string(msg, "vm.uuid", NULL));
    if (vm < 0 || !expect_vm(msg, vm)) {
        fail("a request with the wrong vm: %.*s", (int) len, text);
    }
    bool agent = msg_get_bool(msg, "agent", true);
    if (type == MSG_DECIDE && msg_get(msg, "flow_refused")) {
        /* Whatever the line: the switch's refusal can come at any time. */
        bool any;
        struct given *g = given_find(vm, msg_get_int(msg, "id", 0), agent,
                                     &any);
        if (!any) {
            fail("asked again with no allow given: %.*s", (int) len, text);
        } else if (g) {
            if (!g->was_desired && g->key
                && shash_find(ofctrl_mem_desired(oc), g->key)
                && clock_ms - g->sent < PENDING_TIMEOUT_MS) {
                fail("refused, yet %s stayed", g->key);
            }
            given_remove(g);
        }
        return;
    } else if (type == MSG_DECIDE) {
        /* Asked again about an allow decided at an older revision. */
        int64_t id = msg_get_int(msg, "id", 0);
        for (size_t i = 0; i < n_stales; i++) {
            if (stales[i].vm == vm && stales[i].id == id
                && stales[i].agent == agent
                && stales[i].revision < revision) {
                stales[i] = stales[--n_stales];
                return;
            }
        }
    }
    if (type == MSG_VM_RELEASE) {
        const char *mac;
        if (vm_first_port(vm, &mac) || guests[vm].registered) {
            fail("vm%d released while here: %.*s", vm, (int) len, text);
        }
        return;
    }
    switch (cause) {
    case CAUSE_GUEST: {
        if (vm != cause_vm || msg_get(msg, "agent") || msg_get(msg, "apps")) {
            fail("vm%d's guest caused %.*s", cause_vm, (int) len, text);
        }
        struct json_object *flows = msg_get_array(msg, "flows");
        for (size_t i = 0; type == MSG_STATS && i < msg_array_length(flows);
             i++) {
            if (msg_get(json_object_array_get_idx(flows, i), "vm")) {
                fail("a guest's stats flow kept its vm: %.*s", (int) len,
                     text);
            }
        }
        if (type == MSG_NAMING) {
            if (!strcmp(views[vm].mode, "noagent")) {
                fail("vm%d in noagent mode had its naming forwarded", vm);
            }
            int64_t epoch = msg_get_int(msg, "epoch", -1);
            int64_t seq = msg_get_int(msg, "seq", -1);
            if ((naming_epoch && epoch != naming_epoch)
                || seq <= naming_seq) {
                fail("naming out of order: %.*s", (int) len, text);
            }
            naming_epoch = epoch;
            naming_seq = seq;
        }
        if (type != MSG_DECIDE && type != MSG_FLOW_OPEN
            && type != MSG_FLOW_CLOSE && type != MSG_STATS
            && type != MSG_NAMING) {
            fail("a guest's %s was forwarded", msg_type_name(type));
        }
        break;
    }
    case CAUSE_PACKET:
        if (type != MSG_DECIDE || agent || vm != cause_vm
            || port_owner[cause_port] != vm) {
            fail("a packet-in on port %d caused %.*s", cause_port, (int) len,
                 text);
        }
        break;
    case CAUSE_COUNTERS: {
        struct json_object *apps = msg_get_array(msg, "apps");
        if (type != MSG_STATS || !apps
            || msg_array_length(msg_get_array(msg, "flows"))) {
            fail("counters caused %.*s", (int) len, text);
        }
        for (size_t i = 0; i < msg_array_length(apps); i++) {
            struct json_object *app = json_object_array_get_idx(apps, i);
            if (!switch_counts(views[vm].zone, app)) {
                fail("vm%d's stats count %s, not its own", vm,
                     json_object_to_json_string(app));
            }
        }
        break;
    }
    case CAUSE_OTHER:
    default:
        fail("a request out of nowhere: %.*s", (int) len, text);
    }
}

static bool
pump_secd(void)
{
    bool progress = false;
    uint64_t cookie;
    size_t len;
    char *text;
    while ((text = rpc_mem_client_take(DECIDE_URL, &cookie, &len))) {
        trace("secd <- %llu %s", (unsigned long long) cookie, text);
        struct json_object *msg;
        enum msg_type type;
        char *error = msg_parse(text, len, &msg, &type);
        if (error) {
            fail("switchd sent secd an invalid message %s: %s", text, error);
        }
        if (type == MSG_POLL) {
            if (poll_cookie) {
                fail("a second poll out: %s", text);
            } else if (strcmp(msg_get_string(msg, "hypervisor", ""),
                              HYPERVISOR)
                       || strcmp(msg_get_string(msg, "token", ""), TOKEN)) {
                fail("a poll without this hypervisor's name and token: %s",
                     text);
            }
            poll_cookie = cookie;
            json_object_put(msg);
            free(text);
            progress = true;
            continue;
        }
        if (type == MSG_RECHECK) {
            if (strcmp(msg_get_string(msg, "hypervisor", ""), HYPERVISOR)
                || strcmp(msg_get_string(msg, "token", ""), TOKEN)
                || msg_get_int(msg, "revision", -1) != revision) {
                fail("a recheck not of this hypervisor or of revision "
                     "%lld: %s", (long long) revision, text);
            }
        } else {
            check_request(text, len, msg, type);
        }
        if (n_reqs >= allocated_reqs) {
            reqs = x2nrealloc(reqs, &allocated_reqs, sizeof *reqs);
        }
        reqs[n_reqs++] = (struct secd_req) {
            .cookie = cookie, .msg = msg, .type = type,
            .vm = vm_index(msg_get_string(msg, "vm.uuid", NULL)),
        };
        free(text);
        progress = true;
    }
    return progress;
}

static void
secd_reply(uint64_t cookie, const char *text)
{
    trace("secd -> %llu %s", (unsigned long long) cookie, text);
    rpc_mem_client_reply(DECIDE_URL, cookie, 0, text, strlen(text));
}

static void
secd_reply_json(uint64_t cookie, struct json_object *obj)
{
    secd_reply(cookie, json_object_to_json_string_ext(obj,
                                                      JSON_C_TO_STRING_PLAIN));
    json_object_put(obj);
}

/* The zone switchd gave the VM named by 'uuid', or 0. */
static unsigned int
zone_of(const char *uuid)
{
    int vm = vm_index(uuid);
    return vm >= 0 ? views[vm].zone : 0;
}

/* The keys of the approved flows the flow_install 'fi' (or a verdict's
 * flow) asks for VM 'uuid' (NULL where a flow is invalid), as switchd.c
 * computes them. */
static size_t
install_keys(const struct json_object *fi, const char *uuid, char ***keysp)
{
    struct json_object *batch = msg_get_array(fi, "flows");
    size_t n = batch ? msg_array_length(batch) : 1;
    char **keys = xcalloc(n ? n : 1, sizeof *keys);
    unsigned int zone = zone_of(uuid);
    struct flowgen_ctx ctx = {
        .table_base = TABLE_BASE, .cookie_prefix = COOKIE_PREFIX,
    };
    struct flowgen_vm fv = { .zone = zone };
    for (size_t i = 0; zone && i < n; i++) {
        const struct json_object *f = batch
                                      ? json_object_array_get_idx(batch, i)
                                      : fi;
        const char *proto = msg_get_string(f, "protocol", "");
        struct flowgen_allow a = {
            .service = !strcmp(msg_get_string(f, "granularity", ""),
                               "service"),
            .proto = (!strcmp(proto, "udp") ? 17
                      : !strcmp(proto, "icmp") ? 1 : 6),
            .local_addr = msg_get_string(f, "local.address", ""),
            .local_port = msg_get_int(f, "local.port", 0),
            .remote_addr = msg_get_string(f, "remote.address", ""),
            .remote_port = msg_get_int(f, "remote.port", 0),
            .app_id = msg_get_int(f, "app_id", 0),
            .has_uid = msg_get(f, "uid") != NULL,
            .uid = msg_get_int(f, "uid", 0),
        };
        struct flowgen_flows flows;
        flowgen_flows_init(&flows);
        char *error = flowgen_allow(&ctx, &fv, &a, &flows);
        if (!error && flows.n) {
            keys[i] = flowgen_flow_key(&flows.flows[0]);
        }
        free(error);
        flowgen_flows_destroy(&flows);
    }
    *keysp = keys;
    return n;
}

/* Sends 'text' to switchd's flow endpoint. */
static void
send_flow_request(const char *text)
{
    struct flow_wait w = { .sent = clock_ms };
    struct json_object *msg;
    enum msg_type type;
    char *error = msg_parse(text, strlen(text), &msg, &type);
    if (!error && type == MSG_FLOW_INSTALL) {
        w.n_keys = install_keys(msg, msg_get_string(msg, "vm.uuid", ""),
                                &w.keys);
        w.was_desired = xcalloc(w.n_keys ? w.n_keys : 1,
                                sizeof *w.was_desired);
        for (size_t i = 0; i < w.n_keys; i++) {
            w.was_desired[i] = (w.keys[i]
                                && shash_find(ofctrl_mem_desired(oc),
                                              w.keys[i]));
        }
    }
    free(error);
    json_object_put(msg);
    trace("flow -> %s", text);
    if (rpc_mem_request(FLOW_URL, text, strlen(text), 0)) {
        fail("switchd's flow endpoint is gone");
    }
    w.num = rpc_mem_n_requests();
    if (n_waits >= allocated_waits) {
        waits = x2nrealloc(waits, &allocated_waits, sizeof *waits);
    }
    waits[n_waits++] = w;
}

static void
flow_wait_destroy(struct flow_wait *w)
{
    for (size_t i = 0; i < w->n_keys; i++) {
        free(w->keys[i]);
    }
    free(w->keys);
    free(w->was_desired);
}

/* switchd acked flow request 'w' with 'ok'.  A request the switch has
 * not confirmed in switchd's PENDING_TIMEOUT_MS is refused, and its flows
 * stay desired (they reach the switch when it is back): only refusals
 * before then take them back.  (The same for an allow's flow.) */
static void
check_ack(const struct flow_wait *w, bool ok)
{
    const struct shash *desired = ofctrl_mem_desired(oc);
    const struct shash *sw = ofctrl_mem_switch(oc);
    bool timed_out = clock_ms - w->sent >= PENDING_TIMEOUT_MS;
    for (size_t i = 0; i < w->n_keys; i++) {
        const char *key = w->keys[i];
        if (!key) {
            continue;
        }
        bool is_desired = shash_find(desired, key) != NULL;
        if (ok && is_desired && !shash_find(sw, key)) {
            fail("acked before the switch had %s", key);
        } else if (!ok && !timed_out && !w->was_desired[i] && is_desired) {
            fail("refused, yet %s stayed", key);
        }
    }
}

static bool
pump_acks(void)
{
    bool progress = false;
    size_t len;
    uint64_t num;
    char *text;
    while ((text = rpc_mem_reply_to(&len, &num))) {
        trace("flow <- %llu %s", (unsigned long long) num, text);
        struct json_object *ack;
        enum msg_type type;
        char *error = msg_parse(text, len, &ack, &type);
        if (error || type != MSG_ACK) {
            fail("switchd answered a flow request with %s (%s)", text,
                 error ? error : msg_type_name(type));
        }
        size_t i;
        for (i = 0; i < n_waits && waits[i].num != num; i++) {
            continue;
        }
        if (i >= n_waits) {
            fail("a second answer to flow request %llu: %s",
                 (unsigned long long) num, text);
        }
        struct flow_wait w = waits[i];
        waits[i] = waits[--n_waits];
        check_ack(&w, msg_get_bool(ack, "ok", false));
        flow_wait_destroy(&w);
        json_object_put(ack);
        free(text);
        progress = true;
    }
    return progress;
}

/* Answers secd's request 'k' (counted from the oldest) with 'choice'. */
static void
secd_answer(size_t k, char choice, const char *params)
{
    if (!n_reqs) {
        return;
    }
    k %= n_reqs;
    struct secd_req r = reqs[k];
    memmove(&reqs[k], &reqs[k + 1], (n_reqs - k - 1) * sizeof *reqs);
    n_reqs--;

    int64_t id = msg_get_int(r.msg, "id", 0);
    switch (choice) {
    case 't':
        trace("secd -> %llu (timeout)", (unsigned long long) r.cookie);
        rpc_mem_client_reply(DECIDE_URL, r.cookie, ETIMEDOUT, NULL, 0);
        goto done;
    case 'r':
        rpc_mem_client_reply(DECIDE_URL, r.cookie, ECONNREFUSED, NULL, 0);
        goto done;
    case 'g':
        secd_reply(r.cookie, "}{");
        goto done;
    case 'e':
        secd_reply_json(r.cookie, msg_error_create("internal", id,
                                                   "fuzz-secd says no"));
        goto done;
    default:
        break;
    }
    if (r.type == MSG_RECHECK) {
        /* 'd' revokes every decide, 'a' those listed. */
        size_t n = msg_array_length(msg_get_array(r.msg, "decides"));
        struct json_object *ack = msg_create(MSG_ACK);
        msg_put_int(ack, "id", id);
        json_object_object_add(ack, "ok", json_object_new_boolean(true));
        struct json_object *revoked = json_object_new_array();
        for (size_t i = 0; choice == 'd' && i < n; i++) {
            json_object_array_add(revoked, json_object_new_int64(i));
        }
        const char *p = params ? params : "";
        for (int used; choice == 'a' && *p; p += used) {
            long long k;
            if (sscanf(p, " %lld%n", &k, &used) != 1) {
                break;
            }
            json_object_array_add(revoked, json_object_new_int64(
                                      k < 0 ? 0 : k % 1024));
        }
        json_object_object_add(ack, "revoked", revoked);
        secd_reply_json(r.cookie, ack);
        goto done;
    } else if (r.type != MSG_DECIDE) {
        struct json_object *ack = msg_create(MSG_ACK);
        json_object_object_add(ack, "ok", json_object_new_boolean(true));
        secd_reply_json(r.cookie, ack);
        goto done;
    }

    char g = 'e';
    long long app = 0, ttl = 0, old = 0;
    if (params) {
        sscanf(params, " %c %lld %lld %lld", &g, &app, &ttl, &old);
    }
    bool allow = choice == 'a';
    bool service = g == 's' || g == 'S';
    app = app < 0 ? 0 : app % ((1LL << 32) - 1);
    ttl = ttl < 0 ? 0 : ttl % 86401;
    struct json_object *v = msg_create(MSG_VERDICT);
    msg_put_int(v, "id", id);
    msg_put_string(v, "verdict", allow ? "allow" : "deny");
    msg_put_string(v, "rule", "fuzz");
    char reason[80];
    snprintf(reason, sizeof reason, "fuzz-secd vm=%s #%llu",
             r.vm >= 0 ? vm_uuids[r.vm] : "-", ++n_verdicts);
    msg_put_string(v, "reason", reason);
    msg_put_int(v, "ttl", ttl);
    msg_put_string(v, "granularity", service ? "service" : "exact");
    int64_t decided = old > 0 && old < revision ? revision - old : revision;
    if (revision) {
        msg_put_int(v, "revision", decided);
    }
    if (allow && r.vm >= 0 && n_stales < 64) {
        if (n_stales >= allocated_stales) {
            stales = x2nrealloc(stales, &allocated_stales, sizeof *stales);
        }
        stales[n_stales++] = (struct stale) {
            .vm = r.vm, .id = id, .agent = msg_get_bool(r.msg, "agent", true),
            .revision = decided,
        };
    }

    /* The flow as secd gives one (a VM's own outbound TCP, UDP or ICMP
     * echo), or with 'E' and 'S' on any decide, with 'n' on none. */
    const char *proto = msg_get_string(r.msg, "protocol", "");
    if (allow && r.vm >= 0 && g != 'n'
        && ((!strcmp(msg_get_string(r.msg, "direction", ""), "outbound")
             && msg_get(r.msg, "remote"))
            || g == 'E' || g == 'S')) {
        struct json_object *flow = json_object_new_object();
        msg_put_string(flow, "granularity", service ? "service" : "exact");
        msg_put_string(flow, "protocol", proto);
        json_object_object_add(flow, "local", json_object_get(
                                   msg_get_object(r.msg, "local")));
        json_object_object_add(flow, "remote", json_object_get(
                                   msg_get_object(r.msg, "remote")));
        msg_put_int(flow, "app_id", app);
        if (msg_get(r.msg, "user.uid")) {
            msg_put_int(flow, "uid", msg_get_int(r.msg, "user.uid", 0));
        }
        msg_put_int(flow, "ttl", ttl);
        char **keys;
        size_t n = install_keys(flow, vm_uuids[r.vm], &keys);
        ovs_assert(n == 1);
        if (n_givens >= allocated_givens) {
            givens = x2nrealloc(givens, &allocated_givens, sizeof *givens);
        }
        givens[n_givens++] = (struct given) {
            .serial = n_verdicts, .vm = r.vm, .id = id,
            .agent = msg_get_bool(r.msg, "agent", true), .key = keys[0],
            .was_desired = (keys[0]
                            && shash_find(ofctrl_mem_desired(oc), keys[0])),
            .sent = clock_ms,
        };
        free(keys);
        json_object_object_add(v, "flow", flow);
    }
    secd_reply_json(r.cookie, v);
done:
    json_object_put(r.msg);
}

/* Answers switchd's poll with 'choice' ('arg': "V USER TEXT" for a
 * notice). */
static void
poll_answer(char choice, const char *arg)
{
    if (!poll_cookie) {
        return;
    }
    uint64_t cookie = poll_cookie;
    poll_cookie = 0;
    bool failed = false;
    switch (choice) {
    case 'n': {
        char user[64] = "-";
        int vm = 0, n = 0;
        sscanf(arg, " %d %63s %n", &vm, user, &n);
        const char *text = n && arg[n] ? arg + n : "a notice";
        struct json_object *notice = msg_create(MSG_NOTICE);
        msg_put_string(notice, "user", strcmp(user, "-") ? user : "");
        msg_put_string(notice, "kind", "quota");
        msg_put_string(notice, "text", text);
        struct json_object *v = json_object_new_object();
        msg_put_string(v, "uuid", vm >= 0 && vm < N_VMS
                                  ? vm_uuids[vm]
                                  : "33333333-0000-4000-8000-00000000c003");
        json_object_object_add(notice, "vm", v);
        /* (Text that is no valid UTF-8 makes it unreadable: a failed
         * poll.) */
        const char *json = json_object_to_json_string_ext(
            notice, JSON_C_TO_STRING_PLAIN);
        struct json_object *parsed;
        enum msg_type type;
        char *error = msg_parse(json, strlen(json), &parsed, &type);
        if (error) {
            failed = true;
        } else if (vm >= 0 && vm < N_VMS) {
            guests[vm].notices_sent++;
        }
        free(error);
        json_object_put(parsed);
        secd_reply_json(cookie, notice);
        break;
    }
    case 'c':
    case 'A': {
        /* A policy_change raises the revision; an ack carries it. */
        revision = choice == 'c' || !revision ? revision + 1000 : revision;
        struct json_object *m = msg_create(choice == 'c' ? MSG_POLICY_CHANGE
                                                         : MSG_ACK);
        if (choice == 'A') {
            json_object_object_add(m, "ok", json_object_new_boolean(true));
        } else {
            msg_put_string(m, "reason", "policy activated");
        }
        msg_put_int(m, "revision", revision);
        msg_put_int(m, "policy_version", revision / 1000);
        secd_reply_json(cookie, m);
        break;
    }
    case 'e':
        secd_reply_json(cookie, msg_error_create("forbidden", 0,
                                                 "fuzz-secd says no"));
        break;
    case 'v':
        secd_reply(cookie, "{\"type\":\"verdict\",\"id\":1,"
                   "\"verdict\":\"allow\"}");
        break;
    case 't':
        rpc_mem_client_reply(DECIDE_URL, cookie, ETIMEDOUT, NULL, 0);
        failed = true;
        break;
    case 'r':
        rpc_mem_client_reply(DECIDE_URL, cookie, ECONNREFUSED, NULL, 0);
        failed = true;
        break;
    case 'g':
        secd_reply(cookie, "}{");
        failed = true;
        break;
    case 'a':
    default: {
        struct json_object *ack = msg_create(MSG_ACK);
        json_object_object_add(ack, "ok", json_object_new_boolean(true));
        secd_reply_json(cookie, ack);
        break;
    }
    }
    if (failed) {
        poll_retry_at = clock_ms + POLL_RETRY_MS;
    }
}

/* One poll is out whenever secd can be reached, but for a second after
 * one failed. */
static void
check_poll(void)
{
    if (!poll_cookie && !secd_down && clock_ms >= poll_retry_at) {
        fail("no poll out");
    }
}

/* The switch. */

static bool
pump_outs(void)
{
    struct ofctrl_mem_out *outs;
    size_t n = ofctrl_mem_take_outs(oc, &outs);
    for (size_t i = 0; i < n; i++) {
        const struct ofctrl_mem_out *o = &outs[i];
        trace("switch <- %s port %d, %zu bytes",
              o->resubmit ? "resubmit" : "packet-out", o->port, o->len);
        bool found = false;
        for (size_t j = 0; !found && j < n_injected; j++) {
            const struct injected *in = &injected[j];
            if (o->port < 0 || o->port > MAX_PORT || in->port != o->port
                || in->owner != port_owner[o->port]) {
                continue;
            }
            uint8_t rst[RESET_MAX_LEN];
            size_t len = o->resubmit ? in->len
                         : reset_compose(in->packet, in->len, rst);
            const uint8_t *expect = o->resubmit ? in->packet : rst;
            found = len == o->len && !memcmp(expect, o->packet, len);
        }
        if (!found) {
            fail("a %s on port %d of no packet that came in there",
                 o->resubmit ? "resubmit" : "packet-out", o->port);
        }
        free(o->packet);
    }
    free(outs);
    return n > 0;
}

/* The VMs a flow names. */
struct refs {
    int vms[16];
    size_t n;
};

static void
refs_add(struct refs *r, int vm)
{
    r->vms[r->n < ARRAY_SIZE(r->vms) ? r->n++ : r->n - 1] = vm;
}

static bool
has_prefix(const char *s, const char *prefix)
{
    while (*prefix) {
        if (*s++ != *prefix++) {
            return false;
        }
    }
    return true;
}

/* Adds to 'r' the VM each of the zones (reg6=Z, load:Z->NXM_NX_REG6[],
 * meter:M), ports (in_port=P) and VMs' MACs in 'text' names (-1: none on
 * the bridge). */
static void
scan_refs(const char *text, struct refs *r, const char *flow)
{
    static const char *const mac_keys[] = {
        "dl_src=", "dl_dst=", "arp_sha=", "nd_sll=", "nd_tll=",
    };
    for (const char *p = text; *p; p++) {
        if (p != text && p[-1] != ',' && p[-1] != '(') {
            continue;
        }
        char *end;
        if (has_prefix(p, "reg6=")) {
            refs_add(r, vm_of_zone(strtoul(p + 5, NULL, 10)));
        } else if (has_prefix(p, "load:")) {
            unsigned long z = strtoul(p + 5, &end, 10);
            if (has_prefix(end, "->NXM_NX_REG6[]")) {
                refs_add(r, vm_of_zone(z));
            }
        } else if (has_prefix(p, "meter:")) {
            unsigned long m = strtoul(p + 6, NULL, 10);
            if (m >> 16 != COOKIE_PREFIX) {
                fail("meter %lu is not appfw's: %s", m, flow);
            }
            refs_add(r, vm_of_zone(m & 0xffff));
        } else if (has_prefix(p, "in_port=")) {
            long port = strtol(p + 8, NULL, 10);
            refs_add(r, port > 0 && port <= MAX_PORT ? port_owner[port] : -1);
        }
        for (size_t k = 0; k < ARRAY_SIZE(mac_keys); k++) {
            if (!has_prefix(p, mac_keys[k])) {
                continue;
            }
            /* Only VMs' MACs name a VM (not a multicast one). */
            const char *mac = strchr(p, '=') + 1;
            for (size_t i = 0; i < N_IFACES; i++) {
                if (has_prefix(mac, iface_macs[i])) {
                    refs_add(r, owner_of_iface(vsdb_mem_iface(db, i)));
                }
            }
        }
    }
}

/* What check_flows() saw last (reset for each input). */
static struct {
    bool valid;
    uint64_t seqno;
    unsigned int db, zones[N_VMS];
} checked;

/* Every desired flow names at most one VM, on the bridge, and VMs' zones
 * are theirs alone.  (Checked again only when the flows, the database or
 * the zones changed.) */
static void
check_flows(void)
{
    bool same = (checked.valid && ofctrl_seqno(oc) == checked.seqno
                 && vsdb_seqno(db) == checked.db);
    for (int vm = 0; vm < N_VMS; vm++) {
        same &= views[vm].zone == checked.zones[vm];
        checked.zones[vm] = views[vm].zone;
    }
    if (same) {
        return;
    }
    checked.valid = true;
    checked.seqno = ofctrl_seqno(oc);
    checked.db = vsdb_seqno(db);
    for (int i = 0; i < N_VMS; i++) {
        for (int j = 0; j < i; j++) {
            if (views[i].zone && views[i].zone == views[j].zone) {
                fail("vm%d and vm%d share zone %u", i, j, views[i].zone);
            }
        }
    }
    for (size_t i = 0; i < N_IFACES; i++) {
        const struct vsdb_mem_iface *it = vsdb_mem_iface(db, i);
        int vm = it->on_bridge ? vm_index(it->vm_id) : -1;
        if (vm >= 0 && views[vm].zone
            && zone_parse(it->zone) != views[vm].zone) {
            fail("%s records zone %s, vm%d has %u", it->name,
                 it->zone ? it->zone : "none", vm, views[vm].zone);
        }
    }

    bool on_bridge[N_VMS];
    for (int vm = 0; vm < N_VMS; vm++) {
        const char *mac;
        on_bridge[vm] = vm_first_port(vm, &mac) > 0;
    }
    struct shash_node *node;
    SHASH_FOR_EACH (node, ofctrl_mem_desired(oc)) {
        const struct flowgen_flow *f
            = &((const struct ofctrl_mem_flow *) node->data)->flow;
        unsigned int kind = (f->cookie >> 40) & 0xff;
        if (f->cookie >> 48 != COOKIE_PREFIX
            || f->table >= TABLE_BASE + FLOWGEN_N_TABLES) {
            fail("a flow outside appfw's: %s", node->name);
        }
        struct refs r = { .n = 0 };
        if (kind == FLOWGEN_K_VM || kind == FLOWGEN_K_SPOOF) {
            refs_add(&r, vm_of_zone(f->cookie & 0xffff));
        }
        scan_refs(f->match, &r, node->name);
        scan_refs(f->actions, &r, node->name);
        for (size_t k = 0; k < r.n; k++) {
            if (r.vms[k] < 0 || r.vms[k] != r.vms[0]
                || !on_bridge[r.vms[k]]) {
                fail("flow %s actions=%s names %s (reference %zu of %zu)",
                     node->name, f->actions,
                     r.vms[k] < 0 || !on_bridge[r.vms[k]]
                     ? "no VM on the bridge" : "two VMs", k, r.n);
            }
        }
    }
}

/* Runs switchd until nothing more happens. */
static void
settle(void)
{
    int pass;
    for (pass = 0; pass < MAX_PASSES; pass++) {
        switchd_run(sd);
        bool progress = pump_guests();
        progress |= pump_secd();
        progress |= pump_acks();
        progress |= pump_outs();
        progress |= ofctrl_mem_busy(oc) || vsdb_mem_busy(db);
        if (progress) {
            continue;
        }
        /* Quiet, unless a relay has frames left to read.  (appfw/vms
         * says, and what else it says changes only with the database and
         * the registrations.) */
        bool stale = !views_valid || views_db != vsdb_seqno(db);
        for (int vm = 0; vm < N_VMS; vm++) {
            stale |= views[vm].frames < guests[vm].frames;
        }
        if (stale) {
            update_views();
        }
        bool unread = false;
        for (int vm = 0; vm < N_VMS; vm++) {
            unread |= (guests[vm].registered
                       && views[vm].frames < guests[vm].frames);
        }
        if (!unread) {
            break;
        }
    }
    if (pass >= MAX_PASSES) {
        update_views();
    }
    check_flows();
    check_poll();
    trace("settled: %zu flows desired, %zu on the switch, vm zones %u %u",
          shash_count(ofctrl_mem_desired(oc)),
          shash_count(ofctrl_mem_switch(oc)), views[0].zone, views[1].zone);
}

/* The lines. */

static int
digit(char c, int n)
{
    return c >= '0' && c <= '9' ? (c - '0') % n : (unsigned char) c % n;
}

static size_t
from_hex(const char *s, size_t len, uint8_t *out)
{
    size_t n = 0;
    int hi = -1;
    for (size_t i = 0; i < len; i++) {
        int c = s[i], v = (c >= '0' && c <= '9' ? c - '0'
                           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1);
        if (v < 0) {
            continue;
        } else if (hi < 0) {
            hi = v;
        } else {
            out[n++] = hi << 4 | v;
            hi = -1;
        }
    }
    return n;
}

static void
do_register(int vm, bool reg)
{
    bool ok;
    char name[8];
    snprintf(name, sizeof name, "vm%d", vm);
    char *reply = (reg
                   ? switchd_vm_register(sd, vm_uuids[vm], guests[vm].path,
                                         name, &ok)
                   : switchd_vm_unregister(sd, vm_uuids[vm], &ok));
    free(reply);
    if (ok) {
        if (reg && !guests[vm].registered) {
            guests[vm].frames = 0;  /* A new relay counts anew (one
                                     * registered again keeps its own). */
        }
        guests[vm].registered = reg;
        views_valid = false;
    }
}

static void
do_db(int i, char c, const char *arg)
{
    struct vsdb_mem_iface *it = vsdb_mem_iface(db, i);
    const char *value = *arg ? arg : NULL;
    switch (c) {
    case 'm':
        vsdb_mem_set(&it->mode, value);
        break;
    case '-':
        it->on_bridge = false;
        break;
    case '+':
        it->on_bridge = true;
        break;
    case 'p': {
        int port = strtoul(arg, NULL, 10) % 10;
        for (size_t j = 0; j < N_IFACES; j++) {
            struct vsdb_mem_iface *other = vsdb_mem_iface(db, j);
            if (other != it && port > 0 && other->ofport == port) {
                other->ofport = it->ofport;     /* OVS's are unique. */
            }
        }
        it->ofport = port;
        break;
    }
    case 'z':
        if (arg[0] == 'v') {
            char text[8];
            snprintf(text, sizeof text, "%u",
                     views[digit(arg[1], N_VMS)].zone);
            vsdb_mem_set(&it->zone, text);
        } else {
            vsdb_mem_set(&it->zone, value);
        }
        break;
    case 'a':
        vsdb_mem_set(&it->addresses, value);
        break;
    case 'l':
        vsdb_mem_set(&it->learned, value);
        break;
    case 'o':
        vsdb_mem_set(&it->vm_id, vm_uuids[digit(arg[0], N_VMS)]);
        break;
    case 'n':
        vsdb_mem_set(&it->vm_name, value);
        for (char *c = it->vm_name; c && *c; c++) {
            /* OVSDB's strings are UTF-8: other bytes become '?'. */
            *c = *c == ' ' ? '_' : *c & 0x80 ? '?' : *c;
        }
        break;
    default:
        return;
    }
    vsdb_mem_changed(db);
    update_ports();
}

static void
do_plant(int vm, const char *arg)
{
    char proto[8], src[64], dst[64];
    int sport, dport;
    unsigned int app;
    if (sscanf(arg, "%7s %63s %d %63s %d %u", proto, src, &sport, dst,
               &dport, &app) != 6) {
        return;
    }
    bool service = !strcmp(src, "-");
    struct ofctrl_policy_flow p = {
        .zone = vm == 9 ? 4242 : views[vm].zone,
        .priority = service ? 100 : 200,
        .app_id = app,
        .proto = !strcmp(proto, "udp") ? 17 : 6,
        .src_port = sport, .dst_port = dport,
    };
    snprintf(p.src, sizeof p.src, "%s", service ? "" : src);
    snprintf(p.dst, sizeof p.dst, "%s", dst);
    ofctrl_mem_reconnect(oc, &p, 1);
}

static void
do_switch(char c, const char *arg)
{
    switch (c) {
    case 'h':
        ofctrl_mem_set_hold(oc, true);
        break;
    case 'a':
        ofctrl_mem_set_hold(oc, false);
        break;
    case 'o':
        ofctrl_mem_finish(oc, NULL);
        break;
    case 'f': {
        /* ofctrl.c's errors are the first line of OVS's text for the
         * switch's error message: printable ASCII, short. */
        char *error = xstrdup(*arg ? arg : "OFPBFC_MSG_FAILED");
        error[strnlen(error, 128)] = '\0';
        for (char *c = error; *c; c++) {
            *c = *c >= 0x20 && *c < 0x7f ? *c : '?';
        }
        ofctrl_mem_finish(oc, error);
        free(error);
        break;
    }
    case 'r':
        ofctrl_mem_reconnect(oc, NULL, 0);
        break;
    case 'p':
        do_plant(arg[0] == '9' ? 9 : digit(arg[0], N_VMS), arg + 1);
        break;
    case 'c':
        cause = CAUSE_COUNTERS;
        ofctrl_mem_reply_counters(oc, strtoul(arg, NULL, 10));
        break;
    default:
        break;
    }
}

static void
do_packet(int vm_or_9, char punt, const char *hex, size_t hex_len)
{
    const char *mac;
    int port = vm_or_9 == 9 ? 99 : vm_first_port(vm_or_9, &mac);
    if (!port) {
        return;
    }
    uint8_t *packet = xmalloc(hex_len / 2 + 1);
    size_t len = from_hex(hex, hex_len, packet);
    if (n_injected >= allocated_injected) {
        injected = x2nrealloc(injected, &allocated_injected,
                              sizeof *injected);
    }
    injected[n_injected++] = (struct injected) {
        .port = port, .owner = port_owner[port], .packet = packet,
        .len = len,
    };
    cause = CAUSE_PACKET;
    cause_vm = port_owner[port];
    cause_port = port;
    ofctrl_mem_packet_in(oc, punt >= '0' && punt <= '9' ? punt - '0' : punt,
                         port, packet, len);
}

static void
do_control(char c)
{
    char *s = (c == 'v' ? switchd_vms(sd)
               : c == 'f' ? switchd_flows(sd)
               : c == 's' ? switchd_connection_status(sd) : NULL);
    free(s);
    if (c == 'r') {
        switchd_recompute(sd);
    }
}

static void
put_header(uint8_t *frame, size_t len)
{
    frame[0] = len >> 24;
    frame[1] = len >> 16;
    frame[2] = len >> 8;
    frame[3] = len;
}

/* The offset of a line's argument after its first 'n' characters and an
 * optional space. */
static size_t
arg_offset(const char *s, size_t len, size_t n)
{
    return len <= n ? len : n + (s[n] == ' ');
}

static void
do_line(const char *line, size_t len)
{
    char *s = xmemdup0(line, len);
    trace("> %s", s);
    char c1 = len > 1 ? s[1] : '0';
    char c2 = len > 2 ? s[2] : '\0';
    size_t off0 = arg_offset(s, len, 1);    /* "t MS" */
    size_t off1 = arg_offset(s, len, 2);    /* "gV JSON" */
    size_t off2 = arg_offset(s, len, 3);    /* "pVP HEX" */
    int vm = digit(c1, N_VMS);
    cause = CAUSE_OTHER;
    switch (s[0]) {
    case 'g': {
        size_t plen = len - off1;
        uint8_t *frame = xmalloc(plen + 4);
        put_header(frame, plen);
        memcpy(frame + 4, s + off1, plen);
        cause = CAUSE_GUEST;
        cause_vm = vm;
        guest_write(vm, frame, plen + 4);
        free(frame);
        break;
    }
    case 'G': {
        /* "GV N JSON": JSON with N spaces after its first byte. */
        char *json;
        size_t pad = MIN(strtoul(s + off1, &json, 10), FRAME_MAX_LEN);
        json += *json == ' ';
        size_t jlen = strlen(json), plen = jlen + pad;
        uint8_t *frame = xmalloc(plen + 4);
        put_header(frame, plen);
        memcpy(frame + 4, json, MIN(jlen, 1));
        memset(frame + 4 + MIN(jlen, 1), ' ', pad);
        memcpy(frame + 4 + MIN(jlen, 1) + pad, json + MIN(jlen, 1),
               jlen - MIN(jlen, 1));
        cause = CAUSE_GUEST;
        cause_vm = vm;
        guest_write(vm, frame, plen + 4);
        free(frame);
        break;
    }
    case 'r': {
        uint8_t *bytes = xmalloc(len / 2 + 1);
        size_t n = from_hex(s + off1, len - off1, bytes);
        cause = CAUSE_GUEST;
        cause_vm = vm;
        guest_write(vm, bytes, n);
        free(bytes);
        break;
    }
    case 's':
        secd_answer(digit(c1, 10), c2, s + off2);
        break;
    case 'P':
        poll_answer(c1, s + off1);
        break;
    case 'S':
        if (secd_down && c1 != '1') {
            /* Its polls failed until now: the next one within a second. */
            poll_retry_at = clock_ms + POLL_RETRY_MS;
        }
        secd_down = c1 == '1';
        rpc_mem_client_set_error(DECIDE_URL, secd_down ? ECONNREFUSED : 0);
        break;
    case 'f':
        send_flow_request(s + off0);
        break;
    case 't': {
        long long ms = strtoll(s + off0, NULL, 10);
        clock_ms += ms < 0 ? 0 : ms % 1000000;
        break;
    }
    case 'x':
        do_switch(c1, s + off1);
        break;
    case 'p':
        do_packet(c1 == '9' ? 9 : vm, c2, s + off2, len - off2);
        break;
    case 'd':
        do_db(digit(c1, N_IFACES), c2, s + off2);
        break;
    case 'b':
        vsdb_mem_set_secure(db, c1 == '1');
        break;
    case 'u':
        do_register(vm, false);
        break;
    case 'R':
        do_register(vm, true);
        break;
    case 'A': {
        char mac[32] = "", addrs[256] = "";
        if (sscanf(s + off1, "%31s %255[^\n]", mac, addrs) >= 1) {
            bool ok;
            free(switchd_vm_addresses(sd, vm_uuids[vm], mac, addrs, &ok));
        }
        break;
    }
    case 'c':
        do_control(c1);
        break;
    default:
        break;
    }
    free(s);
    settle();
}

/* Input lifecycle. */

static void
setup(void)
{
    clock_ms = 1000000;
    struct switchd_config cfg = {
        .bridge = "br-int", .db = "mem:", .switch_target = "mem:",
        .flow_url = FLOW_URL, .decide_url = DECIDE_URL,
        .flow_ipc_mode = 0600, .table_base = TABLE_BASE,
        .cookie_prefix = COOKIE_PREFIX, .default_mode = "enforce",
        .vm_rate = 100, .vm_burst = 40, .vm_queue = 8,
        .vm_max_flows = 16, .vm_punt_rate = 200, .secd_timeout_ms = 3000,
        .min_flow_ttl = 30, .stats_interval = 30, .audit_interval = 10,
        .registry = "", .hypervisor = HYPERVISOR, .hypervisor_token = TOKEN,
    };
    char *error = switchd_create(&cfg, &sd);
    if (error) {
        fail("switchd_create: %s", error);
    }
    oc = ofctrl_mem_get();
    db = vsdb_mem_get();
    for (size_t i = 0; i < N_IFACES; i++) {
        struct vsdb_mem_iface *it = vsdb_mem_iface(db, i);
        it->on_bridge = i < N_VMS;
        it->ofport = i + 1;
        vsdb_mem_set(&it->vm_id, vm_uuids[i % N_VMS]);
        vsdb_mem_set(&it->mac, iface_macs[i]);
    }
    vsdb_mem_set(&vsdb_mem_iface(db, 1)->mode, "noagent");
    /* vm0's zone is recorded (as after a switchd restart); vm1 gets one. */
    vsdb_mem_set(&vsdb_mem_iface(db, 0)->zone, "101");
    vsdb_mem_changed(db);
    update_ports();
    naming_epoch = naming_seq = 0;
    checked.valid = false;
    poll_cookie = 0;
    poll_retry_at = 0;
    secd_down = false;
    revision = 0;
    n_stales = 0;
    for (int vm = 0; vm < N_VMS; vm++) {
        do_register(vm, true);
    }
    settle();
}

/* secd answers everything, the switch answers, time passes: every decide
 * that had to be answered is, every flow request is acked. */
static void
drain(void)
{
    if (secd_down) {
        poll_retry_at = clock_ms + POLL_RETRY_MS;
        secd_down = false;
    }
    rpc_mem_client_set_error(DECIDE_URL, 0);
    vsdb_mem_set_secure(db, true);
    ofctrl_mem_set_hold(oc, false);
    cause = CAUSE_OTHER;
    settle();
    for (int round = 0; round < 4 && (n_reqs || n_waits); round++) {
        while (n_reqs) {
            secd_answer(0, 'd', NULL);
        }
        settle();
        if (n_waits) {
            clock_ms += 11000;  /* Past switchd's wait for the switch. */
            settle();
        }
    }
    if (n_reqs || n_waits) {
        fail("%zu requests to secd and %zu flow requests still open",
             n_reqs, n_waits);
    }
    update_views();
    for (int vm = 0; vm < N_VMS; vm++) {
        /* The target's own bookkeeping, which settle() relies on. */
        if (guests[vm].registered && views[vm].frames != guests[vm].frames) {
            fail("vm%d's relay read %llu frames, the target counted %llu",
                 vm, views[vm].frames, guests[vm].frames);
        }
    }
    for (int vm = 0; vm < N_VMS; vm++) {
        const struct guest *g = &guests[vm];
        for (size_t i = 0; i < g->n_asked; i++) {
            if (g->asked[i].must) {
                fail("vm%d's decide %lld was never answered", vm,
                     (long long) g->asked[i].id);
            }
        }
    }
}

static void
teardown(void)
{
    switchd_wait(sd);
    poll_immediate_wake();
    poll_block();
    switchd_destroy(sd);
    sd = NULL;
    for (int vm = 0; vm < N_VMS; vm++) {
        struct guest *g = &guests[vm];
        guest_close(g);
        int fd;
        while ((fd = accept4(g->listen_fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
            close(fd);
        }
        free(g->asked);
        int listen_fd = g->listen_fd;
        char path[sizeof g->path];
        memcpy(path, g->path, sizeof path);
        memset(g, 0, sizeof *g);
        g->listen_fd = listen_fd;
        g->fd = -1;
        memcpy(g->path, path, sizeof path);
    }
    for (size_t i = 0; i < n_reqs; i++) {
        json_object_put(reqs[i].msg);
    }
    n_reqs = 0;
    for (size_t i = 0; i < n_waits; i++) {
        flow_wait_destroy(&waits[i]);
    }
    n_waits = 0;
    while (n_givens) {
        given_remove(&givens[0]);
    }
    for (size_t i = 0; i < n_injected; i++) {
        free(injected[i].packet);
    }
    n_injected = 0;
    /* Answers switchd never took are rpc-mem's to drop with its client;
     * replies to flow requests are all taken by now. */
    size_t len;
    char *text;
    while ((text = rpc_mem_reply(&len))) {
        free(text);
    }
}

static void
cleanup(void)
{
    for (int vm = 0; vm < N_VMS; vm++) {
        unlink(guests[vm].path);
    }
    rmdir(run_dir);
}

/* An input allocates a few megabytes: a quarantine of 32 (not 256) still
 * catches a use after free within one, and saves most of the page faults
 * of fresh memory; 8 frames (not 30) of each allocation's and free's
 * stack say enough of where a block came from, and save a fifth of the
 * time.  ASAN_OPTIONS still overrides these. */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
    return "quarantine_size_mb=32:malloc_context_size=8";
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    tracing = getenv("FUZZ_SWITCHD_TRACE") != NULL;
    free(log_set_levels(tracing ? "info" : "off"));
    vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_OFF);
    signal(SIGPIPE, SIG_IGN);

    snprintf(run_dir, sizeof run_dir, "/tmp/fuzz-switchd.XXXXXX");
    if (!mkdtemp(run_dir)) {
        fail("mkdtemp: %s", strerror(errno));
    }
    atexit(cleanup);
    for (int vm = 0; vm < N_VMS; vm++) {
        struct guest *g = &guests[vm];
        snprintf(g->path, sizeof g->path, "%s/vm%d.sock", run_dir, vm);
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", g->path);
        g->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK
                              | SOCK_CLOEXEC, 0);
        if (g->listen_fd < 0
            || bind(g->listen_fd, (struct sockaddr *) &sun, sizeof sun)
            || listen(g->listen_fd, 16)) {
            fail("%s: %s", g->path, strerror(errno));
        }
        g->fd = -1;
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    trace("input of %zu bytes", size);
    setup();
    const char *p = (const char *) data, *end = p + size;
    int n_db = 0;
    for (int n = 0; n < MAX_LINES && p < end; n++) {
        const char *nl = memchr(p, '\n', end - p);
        size_t len = (nl ? nl : end) - p;
        bool db_line = len && strchr("dbuRA", p[0]);
        if (len && (!db_line || n_db++ < MAX_DB_LINES)) {
            do_line(p, len);
        }
        p += len + 1;
    }
    drain();
    teardown();
    return 0;
}
