/* agent-fakes: a guest kernel in memory (see agent-fakes.h). */
#include "tests/fuzz/agent-fakes.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/util.h"
#include "guest-agent/hooks.h"
#include "guest-agent/identity.h"
#include "guest-agent/pingsock.h"
#include "guest-agent/rules.h"
#include "guest-agent/sockdiag.h"

#define SHA(B) { [0 ... 31] = B }
#define VERSION(N) { .ino = 1000 + N, .dev = 8 << 20 | 1, \
                     .ctime_sec = 1700000000 + N, .ctime_nsec = N, \
                     .gen = 77 + N, .dentry = 0xffff0000 + N, \
                     .mnt_root = 0xfffe0000, .mnt_mountpoint = 0xfffd0000 }

static const struct fake_exe exes[FAKE_N_EXES] = {
    { "/usr/bin/curl", "curl", false, false, 260328, SHA(0x10),
      VERSION(0) },
    { "/usr/bin/nc.openbsd", "nc.openbsd", false, false, 35000, SHA(0x11),
      VERSION(1) },
    { "/usr/bin/wget", "wget", false, false, 500000, SHA(0x12),
      VERSION(2) },
    /* No more than unknown applications (common/exepath.h). */
    { "/tmp/x (deleted)", "x", true, false, 1000, SHA(0x13), VERSION(3) },
    { "/memfd:x (deleted)", "memfd:x", true, true, 1000, SHA(0x14),
      VERSION(4) },
    { "/usr/bin/python3.11", "python3.11", false, false, 6000000,
      SHA(0x15), VERSION(5) },
    /* A name a guest user chose, for the notices that show it. */
    { "/home/eve/\x1b]0;pwned\x07\x1b[2J\xe2\x80\xae\xc2\x9bgpj.exe",
      "\x1b]0;pwned\x07\x1b[2J\xe2\x80\xae\xc2\x9bgpj.exe", false, false,
      4242, SHA(0x16), VERSION(6) },
};

static const struct fake_proc procs[FAKE_N_PROCS + 1] = {
    [1] = { 1001, 1000, 1000, 1000, 0, 0, "curl http://10.77.0.2/" },
    [2] = { 1002, 1000, 1000, 1000, 1, 1, "nc 10.77.0.2 9090" },
    /* root by sudo in alice's session. */
    [3] = { 1003, 0, 0, 1000, 2, 2, "wget http://10.77.0.3/" },
    [4] = { 1004, 1001, 1001, -1, 3, 3, "/tmp/x" },
    [5] = { 1005, 1001, 1001, -1, 4, 4, "x" },
    /* Connected as curl, then executed python. */
    [6] = { 1006, 1000, 1000, 1000, 5, 0, "python3 -c pass" },
    /* Gone before the agent looked. */
    [7] = { 1007, 1000, 1000, 1000, -1, 1, NULL },
    [8] = { 1008, 1002, 1002, 1002, 6, 6, "\x1b[31mgpj\x1b[0m" },
};

static const struct {
    uint32_t uid;
    const char *name;
} users[] = {
    { 0, "root" }, { 1000, "alice" }, { 1001, "bob" }, { 1002, "eve" },
};

const struct fake_exe *
fake_exe(int i)
{
    return i >= 0 && i < FAKE_N_EXES ? &exes[i] : NULL;
}

const struct fake_proc *
fake_proc(int p)
{
    return p >= 1 && p <= FAKE_N_PROCS ? &procs[p] : NULL;
}

int
fake_exe_find(const char *path, const char *sha256_hex)
{
    if (!path) {
        return FAKE_EXE_UNKNOWN;
    }
    for (int i = 0; i < FAKE_N_EXES; i++) {
        char hex[65];
        digest_to_hex(exes[i].sha256, 32, hex);
        if (!strcmp(path, exes[i].path)
            && (!sha256_hex || !strcmp(sha256_hex, hex))) {
            return i;
        }
    }
    return -2;
}

struct afw_owner
fake_owner(int p)
{
    const struct fake_proc *fp = fake_proc(p);
    struct afw_owner o = {
        .tgid = fp->pid, .pid = fp->pid, .uid = fp->uid, .gid = fp->gid,
        .exe = exes[fp->event_exe].version, .cgroup_id = 1,
    };
    snprintf(o.comm, sizeof o.comm, "p%d", p);
    return o;
}

static const char *
user_name(uint32_t uid)
{
    for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
        if (users[i].uid == uid) {
            return users[i].name;
        }
    }
    return NULL;
}

/* ---- State. */

void *
fake_grow(void *items, size_t *allocated, size_t n, size_t size)
{
    if (n >= *allocated) {
        *allocated = *allocated ? 2 * *allocated : 16;
        items = xrealloc(items, *allocated * size);
    }
    return items;
}

#define PUSH FAKE_PUSH

struct cookie_owner {
    uint64_t cookie;
    struct afw_owner owner;
};

struct ping {
    int family;
    uint16_t ident;
    uint32_t inode, uid;
};

struct inode_pid {
    uint32_t inode;
    int pid;
};

static struct {
    int64_t now_ms;
    uint32_t reject_mark;
    int step;
    int last_flush_step;

    struct fake_packet *packets;    /* By id - 1. */
    size_t n_packets, allocated_packets;
    size_t next_recv;               /* Packets before it were received. */

    struct fake_sock *socks;
    size_t n_socks, allocated_socks;
    struct cookie_owner *owners;
    size_t n_owners, allocated_owners;
    struct afw_flow_key *flow_keys;
    struct afw_flow *flows;
    size_t n_flows, allocated_flow_keys, allocated_flows;
    struct ping *pings;
    size_t n_pings, allocated_pings;
    struct inode_pid *inodes;
    size_t n_inodes, allocated_inodes;
    struct afw_record *records;
    size_t n_records, allocated_records;

    struct fake_kverdict *kverdicts;
    size_t n_kverdicts, allocated_kverdicts;
    struct fake_udp_note *notes;
    size_t n_notes, allocated_notes;
} k;

void
fake_reset(int64_t now_ms, uint32_t reject_mark)
{
    free(k.packets);
    free(k.socks);
    free(k.owners);
    free(k.flow_keys);
    free(k.flows);
    free(k.pings);
    free(k.inodes);
    free(k.records);
    free(k.kverdicts);
    free(k.notes);
    memset(&k, 0, sizeof k);
    k.now_ms = now_ms;
    k.reject_mark = reject_mark;
    k.last_flush_step = -1;
}

void
fake_set_step(int step)
{
    k.step = step;
}

static void
misuse(const char *what, uint32_t id)
{
    fprintf(stderr, "fuzz-agent: %s (packet %"PRIu32")\n", what, id);
    abort();
}

/* ---- common/util.h's clocks. */

void
fake_clock_advance(int64_t ms)
{
    k.now_ms += ms;
}

int64_t
fake_clock_ms(void)
{
    return k.now_ms;
}

int64_t
time_mono_ms(void)
{
    return k.now_ms;
}

int64_t
time_mono_us(void)
{
    return k.now_ms * 1000;
}

int64_t
time_wall_ms(void)
{
    return k.now_ms + 1795300000000LL;
}

/* ---- nfq.h. */

struct nfq {
    int unused;
};

uint32_t
fake_nfq_queue(struct nfq_packet *pkt)
{
    pkt->id = k.n_packets + 1;
    struct fake_packet p = { .pkt = *pkt };
    PUSH(k.packets, k.n_packets, k.allocated_packets, p);
    return pkt->id;
}

size_t
fake_nfq_n_packets(void)
{
    return k.n_packets;
}

const struct fake_packet *
fake_nfq_packet(uint32_t id)
{
    return id >= 1 && id <= k.n_packets ? &k.packets[id - 1] : NULL;
}

int
nfq_open(uint16_t queue, uint32_t maxlen, struct nfq **nfqp, char **error)
{
    (void) queue;
    (void) maxlen;
    *nfqp = xcalloc(1, sizeof **nfqp);
    *error = NULL;
    return 0;
}

void
nfq_close(struct nfq *nfq)
{
    free(nfq);
}

int
nfq_fd(const struct nfq *nfq)
{
    (void) nfq;
    return -1;
}

int
nfq_recv(struct nfq *nfq, struct nfq_packet *pkt)
{
    (void) nfq;
    if (k.next_recv >= k.n_packets) {
        return EAGAIN;
    }
    *pkt = k.packets[k.next_recv++].pkt;
    return 0;
}

bool
nfq_has_input(const struct nfq *nfq)
{
    (void) nfq;
    return k.next_recv < k.n_packets;
}

static int
verdict(uint32_t id, enum fake_verdict v)
{
    if (id < 1 || id > k.next_recv) {
        misuse("a verdict for a packet the agent never received", id);
    }
    struct fake_packet *p = &k.packets[id - 1];
    if (p->verdict != FAKE_NONE) {
        misuse("a second verdict for one packet", id);
    }
    p->verdict = v;
    p->step = k.step;
    return 0;
}

int
nfq_accept(struct nfq *nfq, uint32_t id)
{
    (void) nfq;
    return verdict(id, FAKE_ACCEPT);
}

int
nfq_repeat_marked(struct nfq *nfq, uint32_t id, uint32_t mark)
{
    (void) nfq;
    if (mark != k.reject_mark) {
        misuse("a packet repeated without the reject mark", id);
    }
    return verdict(id, FAKE_REJECT);
}

int
nfq_drop(struct nfq *nfq, uint32_t id)
{
    (void) nfq;
    misuse("a packet dropped: the agent rejects", id);
    return 0;
}

/* ---- sockdiag.h. */

struct sockdiag {
    int unused;
};

size_t
fake_sock_add(const struct fake_sock *s)
{
    PUSH(k.socks, k.n_socks, k.allocated_socks, *s);
    return k.n_socks - 1;
}

void
fake_sock_close(size_t index)
{
    if (index < k.n_socks) {
        k.socks[index].live = false;
        k.socks[index].closed = true;
    }
}

const struct fake_sock *
fake_sock(size_t index)
{
    return index < k.n_socks ? &k.socks[index] : NULL;
}

int
sockdiag_open(struct sockdiag **sdp)
{
    *sdp = xcalloc(1, sizeof **sdp);
    return 0;
}

void
sockdiag_close(struct sockdiag *sd)
{
    free(sd);
}

static void
sock_endpoints(const struct fake_sock *s, struct sockdiag_endpoint *local,
               struct sockdiag_endpoint *remote)
{
    memset(local, 0, sizeof *local);
    memset(remote, 0, sizeof *remote);
    memcpy(local->addr, s->local, 16);
    local->port = s->local_port;
    memcpy(remote->addr, s->remote, 16);
    remote->port = s->remote_port;
}

static void
sock_answer(const struct fake_sock *s, struct sockdiag_sock *out)
{
    memset(out, 0, sizeof *out);
    out->cookie = s->cookie;
    out->uid = s->uid;
    out->inode = s->inode;
    out->state = (!s->listener ? 1 /* TCP_ESTABLISHED */
                  : s->protocol == IPPROTO_TCP ? SOCKDIAG_TCP_LISTEN
                  : 7 /* TCP_CLOSE: UDP, not connected */);
    if (s->protocol == IPPROTO_TCP && !s->listener) {
        out->has_tcp_info = true;
        out->bytes_acked = 1000;
        out->bytes_received = 20000;
        out->segs_out = 10;
        out->segs_in = 20;
    }
}

int
sockdiag_lookup(struct sockdiag *sd, int family, int protocol,
                const struct sockdiag_endpoint *local,
                const struct sockdiag_endpoint *remote, bool tcp_info,
                struct sockdiag_sock *out)
{
    (void) sd;
    (void) tcp_info;
    /* The latest first: a tuple used again is a new socket. */
    for (size_t i = k.n_socks; i-- > 0;) {
        const struct fake_sock *s = &k.socks[i];
        if (s->family == family && s->protocol == protocol
            && s->local_port == local->port && !s->listener
            && s->remote_port == remote->port
            && !memcmp(s->remote, remote->addr, 16)) {
            if (!s->error) {
                sock_answer(s, out);
            }
            return s->error;
        }
    }
    static const uint8_t any[16];
    for (size_t i = k.n_socks; i-- > 0;) {
        const struct fake_sock *s = &k.socks[i];
        if (s->family == family && s->protocol == protocol
            && s->local_port == local->port && s->listener && !s->closed
            && (!memcmp(s->local, any, 16)
                || !memcmp(s->local, local->addr, 16))) {
            sock_answer(s, out);
            return 0;
        }
    }
    return ENOENT;
}

/* Every live socket of 'family' and 'protocol', on local port 'port'
 * unless it is -1, and for TCP only listeners if 'listening'. */
static void
dump(int family, int protocol, int port, bool listening,
     void (*cb)(const struct sockdiag_endpoint *local,
                const struct sockdiag_endpoint *remote,
                const struct sockdiag_sock *, void *aux),
     void *aux)
{
    for (size_t i = 0; i < k.n_socks; i++) {
        const struct fake_sock *s = &k.socks[i];
        if (s->live && !s->error && s->family == family
            && s->protocol == protocol
            && (port < 0 || s->local_port == port)
            && (!listening || protocol != IPPROTO_TCP || s->listener)) {
            struct sockdiag_endpoint local, remote;
            struct sockdiag_sock out;
            sock_endpoints(s, &local, &remote);
            sock_answer(s, &out);
            cb(&local, &remote, &out, aux);
        }
    }
}

int
sockdiag_dump(struct sockdiag *sd, int family, int protocol,
              void (*cb)(const struct sockdiag_endpoint *local,
                         const struct sockdiag_endpoint *remote,
                         const struct sockdiag_sock *, void *aux),
              void *aux)
{
    (void) sd;
    dump(family, protocol, -1, false, cb, aux);
    return 0;
}

int
sockdiag_dump_port(struct sockdiag *sd, int family, int protocol,
                   uint16_t port, bool listening,
                   void (*cb)(const struct sockdiag_endpoint *local,
                              const struct sockdiag_endpoint *remote,
                              const struct sockdiag_sock *, void *aux),
                   void *aux)
{
    (void) sd;
    dump(family, protocol, port, listening, cb, aux);
    return 0;
}

/* ---- hooks.h. */

struct hooks {
    int unused;
};

void
fake_owner_add(uint64_t cookie, const struct afw_owner *o)
{
    struct cookie_owner co = { .cookie = cookie, .owner = *o };
    PUSH(k.owners, k.n_owners, k.allocated_owners, co);
}

void
fake_flow_add(const struct afw_flow_key *key, const struct afw_flow *flow)
{
    size_t n = k.n_flows;
    PUSH(k.flow_keys, n, k.allocated_flow_keys, *key);
    PUSH(k.flows, k.n_flows, k.allocated_flows, *flow);
}

void
fake_record_push(const struct afw_record *r)
{
    PUSH(k.records, k.n_records, k.allocated_records, *r);
}

struct hooks *
hooks_open(const char *cgroup, const char *pin_dir, char **error)
{
    (void) cgroup;
    (void) pin_dir;
    *error = NULL;
    return xcalloc(1, sizeof(struct hooks));
}

void
hooks_close(struct hooks *h)
{
    free(h);
}

int
hooks_remove(const char *pin_dir)
{
    (void) pin_dir;
    return 0;
}

int
hooks_configure(struct hooks *h, uint32_t agent_tgid,
                uint64_t dead_after_ms, uint32_t allow_mark)
{
    (void) h;
    (void) agent_tgid;
    (void) dead_after_ms;
    (void) allow_mark;
    return 0;
}

int
hooks_heartbeat(struct hooks *h)
{
    (void) h;
    return 0;
}

bool
hooks_find_owner(struct hooks *h, uint64_t cookie, struct afw_owner *o)
{
    (void) h;
    for (size_t i = k.n_owners; i-- > 0;) {
        if (k.owners[i].cookie == cookie) {
            *o = k.owners[i].owner;
            return true;
        }
    }
    return false;
}

bool
hooks_find_flow(struct hooks *h, const struct afw_flow_key *key,
                struct afw_flow *flow)
{
    (void) h;
    for (size_t i = k.n_flows; i-- > 0;) {
        if (!memcmp(&k.flow_keys[i], key, sizeof *key)) {
            *flow = k.flows[i];
            return true;
        }
    }
    return false;
}

bool
hooks_udp_stats(struct hooks *h, uint64_t cookie, bool take,
                struct afw_sock_stats *st)
{
    (void) h;
    (void) take;
    *st = (struct afw_sock_stats) {
        .bytes_in = cookie & 0xfff, .bytes_out = 100,
        .packets_in = 3, .packets_out = 1,
    };
    return cookie & 1;
}

int
hooks_note_udp_flow(struct hooks *h, int family, const uint8_t *local,
                    uint16_t local_port, const uint8_t *remote,
                    uint16_t remote_port, bool inbound)
{
    (void) h;
    struct fake_udp_note n = {
        .family = family, .local_port = local_port,
        .remote_port = remote_port, .inbound = inbound, .step = k.step,
    };
    memcpy(n.local, local, 16);
    memcpy(n.remote, remote, 16);
    PUSH(k.notes, k.n_notes, k.allocated_notes, n);
    return 0;
}

int
hooks_put_verdict(struct hooks *h, const struct afw_verdict_key *key,
                  bool allow, uint64_t ttl_ms)
{
    (void) h;
    struct fake_kverdict v = {
        .key = *key, .allow = allow, .ttl_ms = ttl_ms, .step = k.step,
    };
    PUSH(k.kverdicts, k.n_kverdicts, k.allocated_kverdicts, v);
    return 0;
}

int
hooks_flush_verdicts(struct hooks *h)
{
    (void) h;
    k.last_flush_step = k.step;
    return 0;
}

int
hooks_consume(struct hooks *h,
              void (*cb)(const struct afw_record *, void *aux), void *aux)
{
    (void) h;
    /* The callback may not add records: the ring is the kernel's. */
    for (size_t i = 0; i < k.n_records; i++) {
        cb(&k.records[i], aux);
    }
    k.n_records = 0;
    return 0;
}

void
hooks_counters(struct hooks *h, uint64_t out[AFW_N_COUNTERS])
{
    (void) h;
    memset(out, 0, AFW_N_COUNTERS * sizeof *out);
}

size_t
fake_n_kverdicts(void)
{
    return k.n_kverdicts;
}

const struct fake_kverdict *
fake_kverdict(size_t i)
{
    return &k.kverdicts[i];
}

size_t
fake_n_udp_notes(void)
{
    return k.n_notes;
}

const struct fake_udp_note *
fake_udp_note(size_t i)
{
    return &k.notes[i];
}

int
fake_last_flush_step(void)
{
    return k.last_flush_step;
}

/* ---- rules.h: nothing to install. */

char *
rules_install(const struct rules_config *cfg)
{
    (void) cfg;
    return NULL;
}

char *
rules_remove(const struct rules_config *cfg)
{
    (void) cfg;
    return NULL;
}

/* ---- pingsock.h. */

void
fake_ping_add(int family, uint16_t ident, uint32_t inode, uint32_t uid)
{
    struct ping p = { family, ident, inode, uid };
    PUSH(k.pings, k.n_pings, k.allocated_pings, p);
}

bool
pingsock_find(const char *path, int family, const uint8_t *local,
              uint16_t ident, uint32_t *inode, uint32_t *uid)
{
    (void) path;
    (void) local;
    for (size_t i = k.n_pings; i-- > 0;) {
        if (k.pings[i].family == family && k.pings[i].ident == ident) {
            *inode = k.pings[i].inode;
            *uid = k.pings[i].uid;
            return true;
        }
    }
    return false;
}

/* ---- identity.h: the processes above instead of /proc. */

struct identity_ctx {
    char *domain;
};

void
fake_inode_add(uint32_t inode, int pid)
{
    struct inode_pid ip = { inode, pid };
    PUSH(k.inodes, k.n_inodes, k.allocated_inodes, ip);
}

struct identity_ctx *
identity_ctx_create(const struct identity_config *cfg)
{
    struct identity_ctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->domain = xstrdup(cfg && cfg->domain ? cfg->domain : "");
    return ctx;
}

void
identity_ctx_destroy(struct identity_ctx *ctx)
{
    if (ctx) {
        free(ctx->domain);
        free(ctx);
    }
}

static char *
dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

int
identity_resolve(struct identity_ctx *ctx, int pid, uint32_t uid,
                 uint32_t gid, struct identity *id)
{
    *id = (struct identity) {
        .pid = pid, .ppid = -1, .uid = uid, .gid = gid,
        .user = dup_or_null(user_name(uid)),
        .domain = ctx->domain[0] ? xstrdup(ctx->domain) : NULL,
    };

    const struct fake_proc *p = NULL;
    for (int i = 1; i <= FAKE_N_PROCS; i++) {
        if (procs[i].pid == pid) {
            p = &procs[i];
        }
    }
    if (!p || p->run_exe < 0) {
        return ESRCH;
    }
    const struct fake_exe *e = &exes[p->run_exe];
    id->ppid = 1;
    id->comm = xstrdup("comm");
    id->exe_path = xstrdup(e->path);
    id->exe_name = xstrdup(e->name);
    id->exe_deleted = e->deleted;
    id->exe_memfd = e->memfd;
    id->have_stat = true;
    id->exe_size = e->size;
    id->exe_ino = e->version.ino;
    id->exe_dev_other = true;
    id->exe_ctime_sec = e->version.ctime_sec;
    id->exe_ctime_nsec = e->version.ctime_nsec;
    id->have_gen = true;
    id->exe_gen = e->version.gen;
    id->have_sha256 = true;
    memcpy(id->sha256, e->sha256, 32);
    id->cmdline = dup_or_null(p->cmdline);
    if (p->login_uid >= 0) {
        id->have_login = true;
        id->login_uid = p->login_uid;
        id->login = dup_or_null(user_name(p->login_uid));
    }
    return 0;
}

/* Frees what identity_resolve() above fills in. */
void
identity_destroy(struct identity *id)
{
    if (id) {
        char *strings[] = { id->comm, id->exe_path, id->exe_name,
                            id->cmdline, id->user, id->domain, id->login };
        for (size_t i = 0; i < ARRAY_SIZE(strings); i++) {
            free(strings[i]);
        }
        memset(id, 0, sizeof *id);
    }
}

int
identity_socket_owner(struct identity_ctx *ctx, uint32_t inode)
{
    (void) ctx;
    for (size_t i = k.n_inodes; i-- > 0;) {
        if (k.inodes[i].inode == inode) {
            return k.inodes[i].pid;
        }
    }
    return 0;
}

static void
put(struct json_object *o, const char *key, struct json_object *v)
{
    json_object_object_add(o, key, v);
}

/* The fake processes' strings are valid UTF-8 within the protocol's
 * bounds, which is what identity.c's cleaning guarantees. */
void
identity_to_json(const struct identity *id, struct json_object *decide)
{
    if (id->exe_path) {
        struct json_object *app = json_object_new_object();
        put(app, "path", json_object_new_string(id->exe_path));
        if (id->exe_name) {
            put(app, "name", json_object_new_string(id->exe_name));
        }
        put(app, "size", json_object_new_int64(id->exe_size));
        if (id->have_sha256) {
            char hex[65];
            digest_to_hex(id->sha256, 32, hex);
            put(app, "sha256", json_object_new_string(hex));
        }
        if (id->exe_deleted) {
            put(app, "deleted", json_object_new_boolean(true));
        }
        if (id->exe_memfd) {
            put(app, "memfd", json_object_new_boolean(true));
        }
        put(decide, "app", app);
    }
    struct json_object *process = json_object_new_object();
    put(process, "pid", json_object_new_int64(id->pid));
    if (id->cmdline) {
        put(process, "cmdline", json_object_new_string(id->cmdline));
    }
    put(decide, "process", process);
    struct json_object *user = json_object_new_object();
    put(user, "uid", json_object_new_int64(id->uid));
    if (id->user) {
        put(user, "name", json_object_new_string(id->user));
    }
    if (id->gid != UINT32_MAX) {
        put(user, "gid", json_object_new_int64(id->gid));
    }
    if (id->login) {
        put(user, "login", json_object_new_string(id->login));
    }
    put(decide, "user", user);
}
