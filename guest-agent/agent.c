/* agent: appfw-agent's core (see agent.h). */
#include "guest-agent/agent.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/chan.h"
#include "common/digest.h"
#include "common/exepath.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/msg.h"
#include "common/strmap.h"
#include "common/tuple.h"
#include "common/util.h"
#include "guest-agent/decide.h"
#include "guest-agent/hooks.h"
#include "guest-agent/identity.h"
#include "guest-agent/nfq.h"
#include "guest-agent/notify.h"
#include "guest-agent/pingsock.h"
#include "guest-agent/sessions.h"
#include "guest-agent/sockdiag.h"
#include "guest-agent/vcache.h"

LOG_MODULE(agent);

#define SOFTWARE "appfw-agent 0.1"
#define PACKETS_PER_RUN 1024
#define RECORDS_PER_RUN 1024
#define KERNEL_HEARTBEAT_MS 1000
/* The hooks' records (cached-allow SYNs, closes, binds) are submitted
 * without waking the agent, which would cost every connect() a wakeup;
 * the agent reads them at this interval instead. */
#define RECORDS_INTERVAL_MS 50
/* ...and this often while passes find records: each record may become a
 * message (flow_open, flow_close) that the host handles in order, ahead of
 * any decide sent after it, so a busy guest's messages go in small
 * batches rather than 50 ms worth at once. */
#define RECORDS_BUSY_INTERVAL_MS 5
#define MAX_CONNS 65536
/* A stats flow is up to about 400 bytes of JSON: 128 of them stay well
 * inside a frame (64 KiB). */
#define STATS_FLOWS_PER_MSG 128
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define MIN(A, B) ((A) < (B) ? (A) : (B))

/* One connection, both ends as the guest socket sees them.  Its bytes
 * are the key of the connections the agent tracks. */
struct conn_tuple {
    uint8_t proto;
    uint8_t family;
    uint8_t local[16], remote[16];
    uint16_t local_port, remote_port;
};
_Static_assert(sizeof(struct conn_tuple) == 38,
               "a conn_tuple has no padding: its bytes are a map key");

/* The bytes of a vcache_key that questions are joined by: the members up
 * to 'port', which have no padding between them. */
#define VKEY_BYTES (offsetof(struct vcache_key, port) + sizeof(uint16_t))
_Static_assert(offsetof(struct vcache_key, port) == 32 + 4 + 4 + 16,
               "no padding inside a vcache_key's first VKEY_BYTES");

/* A queued packet waiting for a verdict. */
struct waiter {
    uint32_t packet_id;
    bool inbound;                   /* Came in (INPUT), else went out. */
    uint32_t ifindex;               /* The interface it came in or goes
                                     * out on (0: none). */
    struct conn_tuple t;
    uint64_t cookie;
    bool accepted;                  /* apply()'s verdict on it. */
};

/* A question to the security VM; packets with the same cache key wait on
 * the same one. */
struct pending {
    struct pending *prev, *next;    /* By deadline (= by creation). */
    int64_t id;                     /* In 'by_id'. */
    struct vcache_key key;          /* Its VKEY_BYTES in 'by_key'. */
    bool have_kkey;                 /* The kernel can cache it. */
    struct afw_verdict_key kkey;
    int64_t deadline;
    uint8_t direction;
    struct waiter *waiters;
    size_t n_waiters, allocated_waiters;
    /* For the fail mode, logs and notices. */
    bool have_sha256;
    uint8_t sha256[32];
    char *exe_name;
    bool anyones_exe;               /* A memfd, or under /tmp and the like:
                                     * no more than an unknown
                                     * application (exepath.h). */
    char *who;                      /* "app=... user=..." */
    char *notify_user;              /* The login account, else the user. */
    char *what;                     /* "connect tcp A:P -> B:Q" */
};

/* A connection the agent allowed, until it closes. */
struct conn {
    struct conn_tuple t;
    uint8_t direction;
    uint64_t cookie;
    bool have_sha256;
    uint8_t sha256[32];
    uint32_t uid;
    int64_t start_ms;
};

/* A TCP connect() decided from the kernel cache, reported by the hooks
 * with its owner (AFW_REC_CACHED_CONNECT), until the report of its SYN
 * (AFW_REC_CACHED_ALLOW) brings the addresses. */
struct cached_connect {
    struct afw_owner owner;
    int64_t at;                     /* time_mono_ms() */
};

#define MAX_CACHED_CONNECTS 16384
/* A connect() that sent no SYN for this long failed before sending it. */
#define CACHED_CONNECT_MS 5000

/* An executable as last seen, by the version the hooks record (struct
 * afw_exe: device, inode, change time, generation): for processes gone
 * before the agent could look at them, and for those that have executed
 * another program since the event. */
struct known_exe {
    char *path, *name;
    bool have_sha256;
    uint8_t sha256[32];
    uint64_t size;
    bool deleted, memfd;
};

#define MAX_KNOWN_EXES 4096

/* A process's identity, reused for this long by events of the same
 * process, executable and credentials: reading /proc costs more than the
 * whole round trip to the host. */
#define PROCESS_CACHE_MS 1000
#define MAX_PROCESSES 4096
struct cached_process {
    struct identity id;
    char *idtext;               /* The decide's "app", "process" and "user"
                                 * (decide_identity_text()), printed at the
                                 * first question. */
    size_t idtext_len;
    bool have_app;
    uint8_t app[32];            /* process_app(), at the first event. */
    int64_t expires;
};

enum chan_state {
    CH_DOWN,
    CH_HELLO,                       /* Our hello sent, waiting for theirs. */
    CH_UP,
};

struct agent {
    struct agent_config cfg;
    struct hooks *hooks;
    struct nfq *nfq;
    struct sockdiag *sd;
    struct identity_ctx *ids;
    struct vcache *cache;
    struct lpolicy *policy;
    char *policy_path;

    /* The channel to the host. */
    struct chan *chan;
    struct buf txbuf;               /* send_decide()'s encoding. */
    int64_t poll_until;             /* time_mono_us(): poll, not sleep,
                                     * for a verdict until then. */
    enum chan_state ch_state;
    int64_t ch_retry_at, ch_backoff_ms;
    int64_t ch_last_rx, ch_next_heartbeat;
    uint64_t hb_seq;
    struct log_rl ch_rl;

    int64_t next_id;
    struct strmap by_id;            /* int64_t id -> struct pending */
    struct strmap by_key;           /* vcache_key -> struct pending */
    struct pending *head, *tail;
    size_t n_pending;

    struct strmap conns;            /* conn_tuple -> struct conn */
    struct strmap cached_connects;  /* uint64_t cookie -> cached_connect */
    int64_t next_cc_expiry;
    struct strmap exes;             /* struct afw_exe -> struct known_exe */
    struct strmap processes;        /* struct process_key ->
                                     * struct cached_process */
    struct cached_process scratch;  /* resolve()'s answer when not kept. */
    int64_t next_stats, next_kernel_hb, next_records, next_naming;
    unsigned int pass_records;      /* Records read by this hooks pass. */
    char *naming_sent;          /* The last "naming" sent on this channel
                                 * (NULL: none yet). */
    int64_t naming_refresh_at;  /* Sent again then even if unchanged. */

    struct log_rl rl;
    unsigned long long packets, cached, asked, allowed, denied, failed,
                       unknown_owner, flow_opens, flow_closes, queue_errors,
                       notices, policy_changes;
};

/* ---- Small helpers. */

static const char *
proto_name(int proto)
{
    return (proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp"
            : proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 ? "icmp"
            : "other");
}

/* Whether the agent tracks connections of 'proto' (flow_open,
 * flow_close, stats): TCP and UDP, whose sockets sock_diag lists. */
static bool
proto_tracked(int proto)
{
    return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

static void
put_endpoint(struct json_object *o, const char *name, int family,
             const uint8_t *addr, uint16_t port)
{
    char text[INET6_ADDRSTRLEN];
    tuple_addr_text(family, addr, text);
    msg_put_endpoint(o, name, text, port);
}

static char *
tuple_text(const struct conn_tuple *t)
{
    char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];
    tuple_addr_text(t->family, t->local, l);
    tuple_addr_text(t->family, t->remote, r);
    return xasprintf("%s %s:%u %s:%u", proto_name(t->proto), l,
                     t->local_port, r, t->remote_port);
}

static void
send_msg(struct agent *a, struct json_object *msg)
{
    if (a->ch_state == CH_UP) {
        int error = chan_send(a->chan, msg);
        if (error) {
            LOG_WARN_RL(&a->ch_rl, "channel send failed: %s",
                        strerror(error));
        }
    }
    json_object_put(msg);
}

/* ---- The channel. */

/* The character device of the virtio-serial port named 'port_name'. */
static char *
find_virtio_port(const struct agent_config *cfg)
{
    char *dir = xasprintf("%s/class/virtio-ports", cfg->sys_root);
    DIR *d = opendir(dir);
    char *found = NULL;
    struct dirent *de;
    while (d && !found && (de = readdir(d))) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char *p = xasprintf("%s/%s/name", dir, de->d_name);
        FILE *f = fopen(p, "r");
        free(p);
        char name[256];
        if (f && fgets(name, sizeof name, f)) {
            name[strcspn(name, "\n")] = '\0';
            if (!strcmp(name, cfg->port_name)) {
                found = xasprintf("%s/%s", cfg->dev_root, de->d_name);
            }
        }
        if (f) {
            fclose(f);
        }
    }
    if (d) {
        closedir(d);
    }
    free(dir);
    return found;
}

static int
open_channel_fd(const struct agent_config *cfg, char **pathp)
{
    char *path = (!strcmp(cfg->channel, "auto") ? find_virtio_port(cfg)
                  : xstrdup(cfg->channel));
    *pathp = path;
    if (!path) {
        errno = ENOENT;
        return -1;
    }
    struct stat st;
    if (stat(path, &st)) {
        return -1;
    }
    if (S_ISSOCK(st.st_mode)) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sun.sun_path) {
            errno = ENAMETOOLONG;
            return -1;
        }
        strcpy(sun.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
            int error = errno;
            close(fd);
            errno = error;
            return -1;
        }
        return fd;
    }
    return open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
}

static void fail_all_pending(struct agent *, const char *why);

static void
channel_down(struct agent *a, const char *why)
{
    if (a->chan) {
        LOG_WARN("channel down: %s", why);
        chan_destroy(a->chan);
        a->chan = NULL;
    }
    a->ch_state = CH_DOWN;
    a->ch_retry_at = time_mono_ms() + a->ch_backoff_ms;
    a->ch_backoff_ms = MIN(a->ch_backoff_ms * 2, BACKOFF_MAX_MS);
    fail_all_pending(a, "the channel to the host is down");
}

static void
channel_open(struct agent *a)
{
    char *path;
    int fd = open_channel_fd(&a->cfg, &path);
    if (fd < 0) {
        LOG_WARN_RL(&a->ch_rl, "channel %s: %s", path ? path
                    : a->cfg.port_name, strerror(errno));
        free(path);
        a->ch_retry_at = time_mono_ms() + a->ch_backoff_ms;
        a->ch_backoff_ms = MIN(a->ch_backoff_ms * 2, BACKOFF_MAX_MS);
        return;
    }
    a->chan = chan_create(fd, 0, 0);
    a->ch_state = CH_HELLO;
    a->ch_last_rx = time_mono_ms();
    struct json_object *hello = msg_hello_create("agent", SOFTWARE);
    struct json_object *caps = json_object_new_array();
    json_object_array_add(caps, json_object_new_string("decide"));
    json_object_array_add(caps, json_object_new_string("stats"));
    json_object_array_add(caps, json_object_new_string("policy_push"));
    json_object_array_add(caps, json_object_new_string("policy_change"));
    json_object_object_add(hello, "capabilities", caps);
    chan_send(a->chan, hello);
    json_object_put(hello);
    LOG_INFO("channel %s opened", path);
    free(path);
}

/* ---- Pending questions. */

static void
pending_unlink(struct agent *a, struct pending *p)
{
    if (p->prev) {
        p->prev->next = p->next;
    } else {
        a->head = p->next;
    }
    if (p->next) {
        p->next->prev = p->prev;
    } else {
        a->tail = p->prev;
    }
    strmap_delete_mem(&a->by_id, &p->id, sizeof p->id);
    strmap_delete_mem(&a->by_key, &p->key, VKEY_BYTES);
    a->n_pending--;
}

static void
pending_free(struct pending *p)
{
    if (p) {
        free(p->waiters);
        free(p->exe_name);
        free(p->who);
        free(p->notify_user);
        free(p->what);
        free(p);
    }
}

static void
conn_track(struct agent *a, const struct pending *p, const struct waiter *w)
{
    struct conn *c = strmap_find_mem(&a->conns, &w->t, sizeof w->t);
    if (!c) {
        if (strmap_count(&a->conns) >= MAX_CONNS) {
            char *key = tuple_text(&w->t);
            LOG_WARN_RL(&a->rl, "tracking %d connections already; %s is "
                        "not tracked", MAX_CONNS, key);
            free(key);
            return;
        }
        c = xcalloc(1, sizeof *c);
        strmap_add_mem(&a->conns, &w->t, sizeof w->t, c);
    }
    c->t = w->t;
    c->direction = p->direction;
    c->cookie = w->cookie;
    c->have_sha256 = p->have_sha256;
    memcpy(c->sha256, p->sha256, 32);
    c->uid = p->key.uid;
    c->start_ms = time_wall_ms();
}

static void
put_flow_fields(struct json_object *o, const struct conn *c)
{
    msg_put_string(o, "protocol", proto_name(c->t.proto));
    msg_put_string(o, "direction", c->direction == VCACHE_INBOUND
                                   ? "inbound" : "outbound");
    put_endpoint(o, "local", c->t.family, c->t.local, c->t.local_port);
    put_endpoint(o, "remote", c->t.family, c->t.remote, c->t.remote_port);
    if (c->have_sha256) {
        char hex[65];
        digest_to_hex(c->sha256, 32, hex);
        msg_put_string(o, "sha256", hex);
    }
    msg_put_int(o, "uid", c->uid);
    if (c->cookie) {
        msg_put_int(o, "cookie", c->cookie & (uint64_t) MSG_INT_MAX);
    }
}

static void
send_flow_open(struct agent *a, const struct conn *c, const char *rule,
               enum vcache_event event)
{
    struct json_object *m = msg_create(MSG_FLOW_OPEN);
    msg_put_string(m, "event", vcache_event_name(event));
    put_flow_fields(m, c);
    if (rule) {
        msg_put_string(m, "rule", rule);
    }
    a->flow_opens++;
    send_msg(a, m);
}

/* The fail mode's view of question 'p'. */
static void
offline_event(const struct pending *p, struct lpolicy_event *ev)
{
    *ev = (struct lpolicy_event) {
        .sha256 = p->have_sha256 ? p->sha256 : NULL,
        .name = p->exe_name,
        .uid = p->key.uid,
        .event = p->key.event,
        .protocol = p->key.protocol,
        .direction = p->direction,
        .family = p->key.family,
        .port = p->key.port,
    };
    memcpy(ev->addr, p->key.addr, 16);
}

/* The fail mode's verdict on 'p' as an unknown application's. */
static bool
fail_mode_unknown(const struct agent *a, const struct pending *p)
{
    struct lpolicy_event ev;
    offline_event(p, &ev);
    ev.sha256 = NULL;
    ev.name = NULL;
    return fail_mode_decide(a->cfg.fail_mode, a->policy, &ev, NULL);
}

/* ---- Who takes an inbound packet.
 *
 * An inbound packet goes to the socket the kernel picks when the packet
 * is reinjected, not necessarily the one found when it was queued.
 * Sockets share a port in a SO_REUSEPORT group (one user, any programs)
 * and, for UDP, with SO_REUSEADDR (any users); a reuseport BPF program
 * picks among a group by rules of its own, which a lookup without the
 * packet does not run, and members come and go while a question is out.
 * So an inbound packet is accepted only if every socket that could take
 * it now belongs to what was decided: the same executable (struct
 * afw_exe, the file's version and path) and user as the socket the
 * decision was about.  Otherwise the fail mode decides it as an unknown
 * application (docs/agent.md, "Shared ports"). */

struct receivers {
    struct agent *a;
    const struct waiter *w;
    bool have_owner;
    struct afw_owner owner;         /* The decided socket's, if known. */
    int family;                     /* Of the dump under way. */
    uint64_t found;                 /* UDP: the socket a lookup finds now. */
    bool found_seen;                /* It is among the unconnected ones. */
    const char *mismatch;           /* Why not, or NULL. */
};

/* Whether a socket bound to 'local' and connected to 'remote' could take
 * waiter 'w''s packet in place of the socket a lookup finds.  A
 * connected socket takes only its peer's packets, and then the lookup
 * finds it. */
static bool
could_take(const struct waiter *w, int family,
           const struct sockdiag_endpoint *local,
           const struct sockdiag_endpoint *remote)
{
    static const uint8_t any[16];
    if (remote->port || (local->ifindex && local->ifindex != w->ifindex)) {
        return false;
    }
    if (family == w->t.family) {
        size_t n = family == AF_INET ? 4 : 16;
        return !memcmp(local->addr, any, n)
               || !memcmp(local->addr, w->t.local, n);
    }
    /* An IPv6 socket for an IPv4 packet: on [::] (IPV6_V6ONLY, which a
     * dump does not show, only makes this cautious) or on the packet's
     * address, mapped. */
    uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
    memcpy(mapped + 12, w->t.local, 4);
    return !memcmp(local->addr, any, 16) || !memcmp(local->addr, mapped, 16);
}

/* Whether socket 'cookie' belongs to what 'r' decided about. */
static bool
same_receiver(const struct receivers *r, uint64_t cookie)
{
    if (cookie == r->w->cookie) {
        return true;
    }
    struct afw_owner o;
    return (r->have_owner && hooks_find_owner(r->a->hooks, cookie, &o)
            && o.exe.ino && o.uid == r->owner.uid
            && !memcmp(&o.exe, &r->owner.exe, sizeof o.exe));
}

static void
check_receiver(const struct sockdiag_endpoint *local,
               const struct sockdiag_endpoint *remote,
               const struct sockdiag_sock *s, void *r_)
{
    struct receivers *r = r_;
    if (!could_take(r->w, r->family, local, remote)) {
        return;
    }
    if (s->cookie == r->found) {
        r->found_seen = true;
    }
    if (!r->mismatch && !same_receiver(r, s->cookie)) {
        r->mismatch = "a shared port has sockets of another application";
    }
}

/* Returns NULL if every socket that could take waiter 'w''s inbound
 * packet now belongs to what was decided, else why not. */
static const char *
receivers_differ(struct agent *a, const struct waiter *w)
{
    struct receivers r = { .a = a, .w = w };
    r.have_owner = (hooks_find_owner(a->hooks, w->cookie, &r.owner)
                    && r.owner.exe.ino);
    bool udp = w->t.proto == IPPROTO_UDP;
    if (udp) {
        struct sockdiag_endpoint local = {
            .port = w->t.local_port, .ifindex = w->ifindex,
        };
        struct sockdiag_endpoint remote = { .port = w->t.remote_port };
        memcpy(local.addr, w->t.local, 16);
        memcpy(remote.addr, w->t.remote, 16);
        struct sockdiag_sock s;
        int error = sockdiag_lookup(a->sd, w->t.family, IPPROTO_UDP, &local,
                                    &remote, false, &s);
        if (error == ENOENT) {
            return NULL;            /* Nothing takes it. */
        } else if (error) {
            return "socket lookup failed";
        }
        r.found = s.cookie;
    }
    /* An IPv4 packet may also go to a dual-stack IPv6 socket. */
    int families[] = { w->t.family, AF_INET6 };
    for (size_t i = 0; i < (w->t.family == AF_INET ? 2 : 1); i++) {
        r.family = families[i];
        if (sockdiag_dump_port(a->sd, r.family, w->t.proto, w->t.local_port,
                               true, check_receiver, &r)) {
            return "socket dump failed";
        }
    }
    if (udp && !r.found_seen) {
        /* A connected socket: it alone takes its peer's packets. */
        return (same_receiver(&r, r.found) ? NULL
                : "the packet's socket is another application's");
    }
    return r.mismatch;
}

/* Applies an allow or deny to every packet waiting on 'p': the queue's
 * verdicts first, since the connecting processes wait on them, then the
 * agent's own records, logs and notices. */
static void
apply(struct agent *a, struct pending *p, bool allow, const char *rule,
      bool notify, const char *source)
{
    for (size_t i = 0; i < p->n_waiters; i++) {
        struct waiter *w = &p->waiters[i];
        w->accepted = allow;
        const char *why = (allow && w->inbound && proto_tracked(w->t.proto)
                           ? receivers_differ(a, w) : NULL);
        if (why) {
            w->accepted = fail_mode_unknown(a, p);
            a->failed++;
            LOG_WARN_RL(&a->rl, "%s: fail mode %s %s inbound %s port %d",
                        why, fail_mode_name(a->cfg.fail_mode),
                        w->accepted ? "allows" : "denies",
                        proto_name(w->t.proto), w->t.local_port);
        }
        int error = (w->accepted ? nfq_accept(a->nfq, w->packet_id)
                     : nfq_repeat_marked(a->nfq, w->packet_id,
                                         a->cfg.rules.reject_mark));
        if (error) {
            a->queue_errors++;
            LOG_WARN_RL(&a->rl, "verdict for queued packet %"PRIu32": %s",
                        w->packet_id, strerror(error));
        }
        if (w->accepted && w->t.proto == IPPROTO_UDP) {
            /* Its next datagrams pass, even when the hooks never saw its
             * socket (docs/agent.md). */
            hooks_note_udp_flow(a->hooks, w->t.family, w->t.local,
                                w->t.local_port, w->t.remote,
                                w->t.remote_port, w->inbound);
        }
    }
    for (size_t i = 0; allow && i < p->n_waiters; i++) {
        if (p->waiters[i].accepted && proto_tracked(p->waiters[i].t.proto)) {
            conn_track(a, p, &p->waiters[i]);
        }
    }
    allow ? a->allowed++ : a->denied++;
    if (!allow) {
        LOG_WARN_RL(&a->rl, "denied %s %s rule=%s by=%s", p->what, p->who,
                    rule ? rule : "(default)", source);
        char *line = xasprintf("appfw: denied %s %s rule=%s", p->what,
                               p->who, rule ? rule : "(default)");
        notify_syslog(line);
        free(line);
        if (notify) {
            LOG_INFO("telling %s: %s", p->notify_user ? p->notify_user : "?",
                     p->what);
            char *text = xasprintf("connection refused by the firewall: %s "
                                   "%s (rule %s)", p->what,
                                   p->exe_name ? p->exe_name : "",
                                   rule ? rule : "default");
            if (!notify_user(p->notify_user, text)) {
                LOG_DBG("user %s has no terminal to tell",
                        p->notify_user ? p->notify_user : "?");
            }
            free(text);
        }
    }
}

static void
decide_offline(struct agent *a, struct pending *p, const char *why)
{
    struct lpolicy_event ev;
    offline_event(p, &ev);
    const char *rule = NULL;
    bool allow = fail_mode_decide(a->cfg.fail_mode, a->policy, &ev, &rule);
    if (allow && p->anyones_exe) {
        /* At most what an unknown application gets; a deny aimed at it
         * holds (docs/policy.md). */
        ev.sha256 = NULL;
        ev.name = NULL;
        allow = fail_mode_decide(a->cfg.fail_mode, a->policy, &ev, &rule);
    }
    a->failed++;
    LOG_INFO_RL(&a->rl, "%s: fail mode %s %s %s %s", why,
                fail_mode_name(a->cfg.fail_mode), allow ? "allows" : "denies",
                p->what, p->who);
    apply(a, p, allow, rule, false, fail_mode_name(a->cfg.fail_mode));
}

static void
fail_all_pending(struct agent *a, const char *why)
{
    while (a->head) {
        struct pending *p = a->head;
        pending_unlink(a, p);
        decide_offline(a, p, why);
        pending_free(p);
    }
}

static void
mirror_to_kernel(struct agent *a, const struct pending *p, bool allow,
                 unsigned int ttl)
{
    if (!p->have_kkey || !ttl) {
        return;
    }
    struct afw_verdict_key k = p->kkey;
    uint64_t ms = (uint64_t) ttl * 1000;
    hooks_put_verdict(a->hooks, &k, allow, ms);
    if (k.protocol == IPPROTO_UDP && k.event == AFW_EV_SEND) {
        /* A connected UDP socket is decided at connect(). */
        k.event = AFW_EV_CONNECT;
        hooks_put_verdict(a->hooks, &k, allow, ms);
    }
}

static void
new_policy_version(struct agent *a, uint64_t version)
{
    if (vcache_set_policy_version(a->cache, version)) {
        LOG_INFO("policy version %"PRIu64": verdict caches flushed",
                 version);
        hooks_flush_verdicts(a->hooks);
    }
}

static void
handle_verdict(struct agent *a, const struct json_object *m)
{
    int64_t id = msg_get_int(m, "id", 0);
    struct pending *p = strmap_find_mem(&a->by_id, &id, sizeof id);
    if (!p) {
        LOG_DBG("verdict %"PRId64" for no pending question (late)", id);
        return;
    }
    pending_unlink(a, p);
    bool allow = !strcmp(msg_get_string(m, "verdict", "deny"), "allow");
    const char *rule = msg_get_string(m, "rule", NULL);
    unsigned int ttl = msg_get_int(m, "ttl", 0);
    if (msg_get(m, "policy_version")) {
        new_policy_version(a, msg_get_int(m, "policy_version", 0));
    }
    struct vcache_verdict v = {
        .allow = allow,
        .log = msg_get_bool(m, "log", false),
        .notify = msg_get_bool(m, "notify", false),
        .granularity = !strcmp(msg_get_string(m, "granularity", "exact"),
                               "service") ? VCACHE_SERVICE : VCACHE_EXACT,
        .rule = rule,
    };
    /* The packets first: the caches are filled before the next packet is
     * read all the same. */
    apply(a, p, allow, rule, v.notify, "secd");
    vcache_put(a->cache, &p->key, &v, ttl, time_mono_ms());
    mirror_to_kernel(a, p, allow, ttl);
    pending_free(p);
}

static void
handle_error_msg(struct agent *a, const struct json_object *m)
{
    const char *code = msg_get_string(m, "code", "?");
    const char *text = msg_get_string(m, "message", "");
    int64_t n = msg_get_int(m, "id", 0);
    struct pending *p = n ? strmap_find_mem(&a->by_id, &n, sizeof n) : NULL;
    if (!p) {
        LOG_WARN_RL(&a->ch_rl, "host error %s: %s", code, text);
        return;
    }
    pending_unlink(a, p);
    char *why = xasprintf("host answered %s (%s)", code, text);
    decide_offline(a, p, why);
    free(why);
    pending_free(p);
}

static void
handle_policy_push(struct agent *a, struct json_object *m)
{
    char *error = NULL;
    struct lpolicy *p = lpolicy_from_json(m, &error);
    if (!p) {
        LOG_WARN("policy_push refused: %s", error);
        free(error);
        return;
    }
    error = lpolicy_save(m, a->policy_path);
    if (error) {
        LOG_WARN("policy_push not saved: %s", error);
        free(error);
    }
    lpolicy_destroy(a->policy);
    a->policy = p;
    new_policy_version(a, lpolicy_version(p));
    LOG_INFO("policy version %"PRIu64" received: %zu rules for offline use",
             lpolicy_version(p), lpolicy_n_rules(p));
}

/* What the security VM decides changed (a policy activated, a blocking
 * quota used up): every cached verdict goes, from both caches, and the
 * next event of each connection is asked about again. */
static void
handle_policy_change(struct agent *a, const struct json_object *m)
{
    uint64_t version = msg_get_int(m, "policy_version", 0);
    if (!vcache_set_policy_version(a->cache, version)) {
        vcache_flush(a->cache);     /* Not flushed for a new version. */
    }
    hooks_flush_verdicts(a->hooks);
    a->policy_changes++;
    LOG_INFO("decisions changed (policy version %"PRIu64", %s): verdict "
             "caches flushed", version, msg_get_string(m, "reason", ""));
}

/* Something the security VM wants a user of this guest to know (a quota
 * passed): to the guest's syslog and the user's terminals. */
static void
handle_notice(struct agent *a, const struct json_object *m)
{
    const char *user = msg_get_string(m, "user", "");
    const char *text = msg_get_string(m, "text", "");
    a->notices++;
    char *line = xasprintf("appfw-agent: notice for %s: %s",
                           *user ? user : "everyone", text);
    notify_syslog(line);
    free(line);
    int n = *user ? notify_user(user, text) : notify_everyone(text);
    LOG_INFO("notice user=%s kind=%s terminals=%d", *user ? user : "*",
             msg_get_string(m, "kind", ""), n);
}

/* The naming service's view of this guest: when it changed, and every
 * NAMING_REFRESH_MS anyway (the security VM takes a VM whose reports
 * stop as gone, and a report lost on the way is sent again). */
#define NAMING_REFRESH_MS 60000

static void
send_naming(struct agent *a, int64_t now)
{
    struct json_object *m = sessions_snapshot(a->cfg.utmp);
    const char *text = json_object_to_json_string_ext(
        m, JSON_C_TO_STRING_PLAIN);
    bool changed = !a->naming_sent || strcmp(text, a->naming_sent);
    if ((changed || now >= a->naming_refresh_at)
        && !chan_send(a->chan, m)) {
        if (changed) {
            LOG_INFO("naming report: %s", text);
            free(a->naming_sent);
            a->naming_sent = xstrdup(text);
        }
        a->naming_refresh_at = now + NAMING_REFRESH_MS;
    }
    json_object_put(m);
}

static void
handle_frame(struct agent *a, const struct frame *f)
{
    struct json_object *m;
    enum msg_type type;
    char *error = msg_parse(f->data, f->len, &m, &type);
    if (error) {
        LOG_WARN_RL(&a->ch_rl, "bad message from the host: %s", error);
        free(error);
        return;
    }
    a->ch_last_rx = time_mono_ms();
    if (a->ch_state == CH_HELLO) {
        int version;
        if (type != MSG_HELLO) {
            LOG_WARN_RL(&a->ch_rl, "expected hello, got %s",
                        msg_type_name(type));
        } else if ((error = msg_hello_negotiate(m, MSG_VERSION_MIN,
                                                MSG_VERSION_MAX,
                                                &version))) {
            struct json_object *e = msg_error_create("version", 0, "%s",
                                                     error);
            chan_send(a->chan, e);
            json_object_put(e);
            free(error);
            json_object_put(m);
            channel_down(a, "no common protocol version");
            return;
        } else {
            a->ch_state = CH_UP;
            a->ch_backoff_ms = BACKOFF_MIN_MS;
            /* A new channel (or a restarted host) gets the whole naming
             * state again at once. */
            free(a->naming_sent);
            a->naming_sent = NULL;
            a->next_naming = 0;
            LOG_INFO("channel up, protocol version %d", version);
        }
        json_object_put(m);
        return;
    }
    switch (type) {
    case MSG_VERDICT:
        handle_verdict(a, m);
        break;
    case MSG_ERROR:
        handle_error_msg(a, m);
        break;
    case MSG_POLICY_PUSH:
        handle_policy_push(a, m);
        break;
    case MSG_NOTICE:
        handle_notice(a, m);
        break;
    case MSG_POLICY_CHANGE:
        handle_policy_change(a, m);
        break;
    case MSG_HEARTBEAT:
    case MSG_HELLO:
    case MSG_ACK:
        break;
    default:
        LOG_DBG("ignoring %s from the host", msg_type_name(type));
        break;
    }
    json_object_put(m);
}

/* ---- Events. */

static void
known_exe_free(void *e_)
{
    struct known_exe *e = e_;
    if (e) {
        free(e->path);
        free(e->name);
        free(e);
    }
}

static void
cached_process_clear(struct cached_process *p)
{
    identity_destroy(&p->id);
    free(p->idtext);
    memset(p, 0, sizeof *p);
}

static void
cached_process_free(void *p_)
{
    struct cached_process *p = p_;
    if (p) {
        cached_process_clear(p);
        free(p);
    }
}

/* The key of a cached process: the process, its credentials and its
 * executable's version.  Every member is named, so no byte is left
 * unset. */
struct process_key {
    uint32_t tgid, uid, gid, zero;
    struct afw_exe exe;
};
_Static_assert(sizeof(struct process_key) == 16 + sizeof(struct afw_exe),
               "a process_key has no padding: its bytes are a map key");

static struct process_key
process_key(const struct afw_owner *o)
{
    return (struct process_key) {
        .tgid = o->tgid, .uid = o->uid, .gid = o->gid, .zero = 0,
        .exe = o->exe,
    };
}

/* Known executables are keyed by the version itself. */
_Static_assert(sizeof(struct afw_exe) == 56,
               "an afw_exe has no padding: its bytes are a map key");

/* User space's encoding of the kernel's dev_t 'kdev' (major in the top
 * 12 bits, minor in the low 20), as stat(2) reports it. */
static uint64_t
user_dev(uint64_t kdev)
{
    return makedev(kdev >> 20, kdev & 0xfffff);
}

/* Whether 'id', read from /proc/PID/exe now, is the executable version
 * 'exe' the hooks recorded at the event.  It is not if the process has
 * executed another program since (a non-blocking connect() and then
 * execve() of an allowed binary), or if the file was rewritten (its change
 * time moved) or replaced by another that got its inode number.  A file
 * system that names its files with other device numbers than its
 * superblock's (btrfs subvolumes, overlayfs) is compared without the
 * device. */
static bool
exe_is(const struct afw_exe *exe, const struct identity *id)
{
    return (id->have_stat && id->exe_ino == exe->ino
            && (id->exe_dev == user_dev(exe->dev) || id->exe_dev_other)
            && id->exe_ctime_sec == exe->ctime_sec
            && id->exe_ctime_nsec == exe->ctime_nsec
            && (!id->have_gen || id->exe_gen == exe->gen));
}

/* Replaces the executable of 'id' by the one the hooks recorded, as last
 * seen ('e'), or by none (an unknown application) if 'e' is NULL. */
static void
set_known_exe(struct identity *id, const struct known_exe *e)
{
    free(id->exe_path);
    free(id->exe_name);
    id->exe_path = e ? xstrdup(e->path) : NULL;
    id->exe_name = e && e->name ? xstrdup(e->name) : NULL;
    id->exe_deleted = e && e->deleted;
    id->exe_memfd = e && e->memfd;
    id->have_sha256 = e && e->have_sha256;
    memcpy(id->sha256, e ? e->sha256 : (const uint8_t[32]) { 0 }, 32);
    id->exe_size = e ? e->size : 0;
    id->have_stat = false;
    id->have_gen = false;
}

/* Remembers the executable of 'id' as the version 'exe'. */
static void
learn_exe(struct agent *a, const struct afw_exe *exe,
          const struct identity *id)
{
    if (strmap_find_mem(&a->exes, exe, sizeof *exe)) {
        return;
    }
    if (strmap_count(&a->exes) >= MAX_KNOWN_EXES) {
        strmap_clear(&a->exes, known_exe_free);
    }
    struct known_exe *e = xcalloc(1, sizeof *e);
    e->path = xstrdup(id->exe_path);
    e->name = id->exe_name ? xstrdup(id->exe_name) : NULL;
    e->have_sha256 = id->have_sha256;
    memcpy(e->sha256, id->sha256, 32);
    e->size = id->exe_size;
    e->deleted = id->exe_deleted;
    e->memfd = id->exe_memfd;
    strmap_add_mem(&a->exes, exe, sizeof *exe, e);
}

/* The identity of process 'pid' (owner 'o', if known).  The application
 * is the executable the hooks saw at the event: if the process is gone,
 * or has executed another program since, or its file changed, what the
 * hooks recorded and that executable as last seen stand in, and an
 * executable never seen is an unknown application.  Returns NULL if
 * nothing can say which application a process gone was.  The answer
 * belongs to the agent and stays valid until the next call. */
static struct cached_process *
resolve(struct agent *a, int pid, uint32_t uid, uint32_t gid,
        const struct afw_owner *o)
{
    cached_process_clear(&a->scratch);
    struct identity *id = &a->scratch.id;
    bool keep = o && o->exe.ino && (int) o->tgid == pid;
    struct process_key pkey = keep ? process_key(o) : (struct process_key) {0};
    if (keep) {
        struct cached_process *cp = strmap_find_mem(&a->processes, &pkey,
                                                    sizeof pkey);
        if (cp && cp->expires > time_mono_ms()) {
            return cp;
        }
        cached_process_free(strmap_delete_mem(&a->processes, &pkey,
                                              sizeof pkey));
    }
    if (pid > 0 && !identity_resolve(a->ids, pid, uid, gid, id)) {
        struct cached_process *cp = &a->scratch;
        if (o && o->exe.ino && !id->kernel_thread && !exe_is(&o->exe, id)) {
            /* Judged as what made the call, never as what runs now. */
            LOG_INFO_RL(&a->rl, "pid %d runs %s, no longer the executable "
                        "of its event (inode %"PRIu64"): judged as that "
                        "one", pid, id->exe_path ? id->exe_path : "?",
                        (uint64_t) o->exe.ino);
            set_known_exe(id, strmap_find_mem(&a->exes, &o->exe,
                                              sizeof o->exe));
            return cp;
        }
        if (keep) {
            if (strmap_count(&a->processes) >= MAX_PROCESSES) {
                strmap_clear(&a->processes, cached_process_free);
            }
            /* Moved into the cache. */
            cp = xmalloc(sizeof *cp);
            *cp = a->scratch;
            memset(&a->scratch, 0, sizeof a->scratch);
            cp->expires = time_mono_ms() + PROCESS_CACHE_MS;
            strmap_add_mem(&a->processes, &pkey, sizeof pkey, cp);
            id = &cp->id;
        }
        if (o && o->exe.ino && id->exe_path) {
            learn_exe(a, &o->exe, id);
        }
        return cp;
    }
    if (!o || !o->exe.ino) {
        return NULL;
    }
    struct known_exe *e = strmap_find_mem(&a->exes, &o->exe, sizeof o->exe);
    if (!e) {
        return NULL;
    }
    id->pid = o->tgid;
    id->ppid = -1;
    id->uid = uid;
    id->gid = gid;
    set_known_exe(id, e);
    return &a->scratch;
}

/* The application of 'cp' as verdicts are cached under it (struct
 * vcache_key's 'app'): a SHA-256 of its executable's hash, whether it is
 * deleted or a memfd, and its path, so that a copy of a binary elsewhere
 * (renamed, bind-mounted, in /tmp) shares no verdict with the original,
 * which the security VM may judge otherwise.  All zero if unknown. */
static const uint8_t *
process_app(struct cached_process *cp)
{
    const struct identity *id = &cp->id;
    if (!cp->have_app) {
        cp->have_app = true;
        memset(cp->app, 0, sizeof cp->app);
        if (id->have_sha256 || id->exe_path) {
            size_t n = id->exe_path ? strlen(id->exe_path) : 0;
            uint8_t *buf = xmalloc(33 + n);
            memcpy(buf, id->sha256, 32);
            buf[32] = (id->have_sha256 | id->exe_deleted << 1
                       | id->exe_memfd << 2);
            memcpy(buf + 33, id->exe_path, n);
            digest_sha256(buf, 33 + n, cp->app);
            free(buf);
        }
    }
    return cp->app;
}

/* Fills the parts of 'p' that describe the process. */
static void
describe(struct pending *p, const struct identity *id)
{
    p->have_sha256 = id->have_sha256;
    memcpy(p->sha256, id->sha256, 32);
    p->exe_name = id->exe_name ? xstrdup(id->exe_name) : NULL;
    const char *path = id->exe_path ? id->exe_path : "";
    size_t len = exepath_len(path, id->exe_deleted);
    p->anyones_exe = (id->exe_memfd || exepath_is_memfd(path)
                      || exepath_temp_dir(path, len));
    p->who = xasprintf("app=%s pid=%d user=%s%s%s",
                       id->exe_path ? id->exe_path : "?", id->pid,
                       id->user ? id->user : "?",
                       id->have_login ? " login=" : "",
                       id->have_login ? (id->login ? id->login : "?") : "");
    const char *target = (id->have_login && id->login ? id->login
                          : id->user);
    p->notify_user = target ? xstrdup(target) : NULL;
}

/* "connect tcp A:P -> B:Q": what a queued packet asks, for logs and
 * notices.  'inbound': 't' came in. */
static char *
what_text(enum vcache_event event, const struct tuple *t, bool inbound)
{
    return (inbound
            ? xasprintf("%s %s %s:%u <- %s:%u", vcache_event_name(event),
                        proto_name(t->proto), t->dst, t->dst_port, t->src,
                        t->src_port)
            : xasprintf("%s %s %s:%u -> %s:%u", vcache_event_name(event),
                        proto_name(t->proto), t->src, t->src_port, t->dst,
                        t->dst_port));
}

/* Sends the decide for question 'id': 'f' and the identity of 'cp'. */
static void
send_decide(struct agent *a, int64_t id, const struct decide_fields *f,
            struct cached_process *cp)
{
    if (a->ch_state != CH_UP) {
        return;
    }
    if (!cp->idtext) {
        cp->idtext = decide_identity_text(&cp->id, &cp->idtext_len);
    }
    buf_clear(&a->txbuf);
    int error = decide_encode(&a->txbuf, id, f, cp->idtext, cp->idtext_len);
    if (!error) {
        error = chan_send_raw(a->chan, buf_head(&a->txbuf),
                              buf_size(&a->txbuf));
    }
    if (error) {
        LOG_WARN_RL(&a->ch_rl, "channel send failed: %s", strerror(error));
    } else if (a->cfg.poll_us) {
        a->poll_until = time_mono_us() + a->cfg.poll_us;
    }
}

/* Starts a question for 'key' (sending a decide of 'f' and the identity of
 * 'cp') or joins the one already asked.  The decide goes out before the
 * question's records are made, which the host's answer then does not wait
 * for.  A new question's 'what' is left NULL for the caller to fill in. */
static struct pending *
ask(struct agent *a, const struct vcache_key *key, uint8_t direction,
    struct cached_process *cp, const struct afw_owner *owner,
    const struct decide_fields *f)
{
    struct pending *p = strmap_find_mem(&a->by_key, key, VKEY_BYTES);
    if (p) {
        return p;
    }
    p = xcalloc(1, sizeof *p);
    p->id = ++a->next_id;
    a->asked++;
    send_decide(a, p->id, f, cp);

    p->key = *key;
    p->direction = direction;
    describe(p, &cp->id);
    if (owner && owner->exe.ino && key->event != VC_ACCEPT) {
        p->have_kkey = true;
        struct afw_verdict_key *k = &p->kkey;
        memset(k, 0, sizeof *k);
        k->exe = owner->exe;
        k->uid = owner->uid;
        k->event = (key->event == VC_CONNECT ? AFW_EV_CONNECT
                    : key->event == VC_SEND ? AFW_EV_SEND : AFW_EV_LISTEN);
        k->protocol = key->protocol;
        k->family = key->family;
        memcpy(k->addr, key->addr, 16);
        k->port = key->port;
    }
    p->deadline = time_mono_ms() + a->cfg.verdict_timeout_ms;
    strmap_add_mem(&a->by_id, &p->id, sizeof p->id, p);
    strmap_add_mem(&a->by_key, &p->key, VKEY_BYTES, p);
    p->prev = a->tail;
    if (a->tail) {
        a->tail->next = p;
    } else {
        a->head = p;
    }
    a->tail = p;
    a->n_pending++;
    return p;
}

static void
add_waiter(struct pending *p, const struct waiter *w)
{
    if (p->n_waiters >= p->allocated_waiters) {
        p->allocated_waiters = p->allocated_waiters
                               ? 2 * p->allocated_waiters : 1;
        p->waiters = xrealloc(p->waiters,
                              p->allocated_waiters * sizeof *p->waiters);
    }
    p->waiters[p->n_waiters++] = *w;
}

/* Decides 'p' without asking if the channel is down or too much is in
 * flight.  Returns true if it did. */
static bool
maybe_offline(struct agent *a, struct pending *p)
{
    const char *why = (a->ch_state != CH_UP
                       ? "the channel to the host is down"
                       : a->n_pending > a->cfg.max_pending
                       ? "too many decisions in flight" : NULL);
    if (!why) {
        return false;
    }
    pending_unlink(a, p);
    decide_offline(a, p, why);
    pending_free(p);
    return true;
}

static void
reject_packet(struct agent *a, uint32_t id)
{
    if (nfq_repeat_marked(a->nfq, id, a->cfg.rules.reject_mark)) {
        a->queue_errors++;
    }
    a->denied++;
}

/* A queued packet that cannot be decided as a socket event: no socket
 * was found behind it, or no process owns that socket.  Such a packet is
 * never accepted for want of an answer: the fail mode decides it as an
 * unknown application (closed refuses, open passes, cached asks the last
 * policy_push with no application known). */
static void
fail_packet(struct agent *a, const struct nfq_packet *pkt,
            const struct waiter *w, enum vcache_event event,
            const struct tuple *t, const char *why)
{
    bool inbound = w->inbound;
    struct lpolicy_event ev = {
        .uid = pkt->has_uid ? pkt->uid : 0,
        .event = event,
        .protocol = w->t.proto,
        .direction = inbound ? VCACHE_INBOUND : VCACHE_OUTBOUND,
        .family = w->t.family,
        .port = inbound ? w->t.local_port : w->t.remote_port,
    };
    memcpy(ev.addr, w->t.remote, 16);
    bool allow = fail_mode_decide(a->cfg.fail_mode, a->policy, &ev, NULL);
    a->failed++;
    LOG_WARN_RL(&a->rl, "%s for %s (%d) %s:%d -> %s:%d: fail mode %s %s",
                why, proto_name(t->proto), t->proto, t->src, t->src_port,
                t->dst, t->dst_port, fail_mode_name(a->cfg.fail_mode),
                allow ? "accepts" : "rejects");
    if (allow) {
        nfq_accept(a->nfq, pkt->id);
    } else {
        reject_packet(a, pkt->id);
    }
}

static void decide_packet(struct agent *, const struct nfq_packet *,
                          const struct tuple *, const struct waiter *,
                          enum vcache_event, const struct sockdiag_sock *,
                          const struct afw_owner *, bool have_owner);

/* A queued packet that is neither TCP nor UDP (docs/agent.md, "Other
 * protocols"): an ICMP or ICMPv6 echo request from a ping socket is
 * decided as that socket's "send"; anything else has no socket event the
 * agent can name (a raw socket, SCTP, DCCP, UDP-Lite...) and goes to the
 * fail mode as an unknown application. */
static void
handle_other(struct agent *a, const struct nfq_packet *pkt,
             struct waiter *w, const struct tuple *t)
{
    bool inbound = w->inbound;
    int echo = t->family == AF_INET ? 8 : 128;
    if (inbound || t->icmp_type != echo) {
        char why[64];
        snprintf(why, sizeof why, "protocol %d has no socket event",
                 t->proto);
        fail_packet(a, pkt, w, inbound ? VC_ACCEPT : VC_SEND, t, why);
        return;
    }
    uint32_t inode, uid;
    bool v4 = t->family == AF_INET;
    if (!pingsock_find(v4 ? "/proc/net/icmp" : "/proc/net/icmp6",
                       t->family, t->src_addr, t->src_port, &inode, &uid)) {
        fail_packet(a, pkt, w, VC_SEND, t, "no ping socket");
        return;
    }
    struct sockdiag_sock s = { .inode = inode, .uid = uid };
    /* An echo has no ports: the identifier stands for the local one. */
    w->t.remote_port = 0;
    decide_packet(a, pkt, t, w, VC_SEND, &s, NULL, false);
}

static void
handle_packet(struct agent *a, const struct nfq_packet *pkt)
{
    a->packets++;
    struct tuple t;
    bool tcp_udp = tuple_parse_ip(pkt->data, pkt->len, &t);
    if (!tcp_udp && (!tuple_parse_ip_any(pkt->data, pkt->len, &t)
                     || t.proto == IPPROTO_TCP || t.proto == IPPROTO_UDP)) {
        LOG_WARN_RL(&a->rl, "queued packet %"PRIu32" is not a well-formed "
                    "IP packet: rejected", pkt->id);
        reject_packet(a, pkt->id);
        return;
    }
    if (t.later_fragment) {
        /* The first fragment decides, as for UDP (docs/agent.md). */
        nfq_accept(a->nfq, pkt->id);
        return;
    }
    bool inbound = pkt->hook == NF_INET_LOCAL_IN;
    struct waiter w = {
        .packet_id = pkt->id, .inbound = inbound,
        .ifindex = inbound ? pkt->indev : pkt->outdev,
    };
    w.t.proto = t.proto;
    w.t.family = t.family;
    memcpy(w.t.local, inbound ? t.dst_addr : t.src_addr, 16);
    memcpy(w.t.remote, inbound ? t.src_addr : t.dst_addr, 16);
    w.t.local_port = inbound ? t.dst_port : t.src_port;
    w.t.remote_port = inbound ? t.src_port : t.dst_port;
    if (!tcp_udp) {
        handle_other(a, pkt, &w, &t);
        return;
    }
    enum vcache_event event = (inbound ? VC_ACCEPT
                               : t.proto == IPPROTO_TCP ? VC_CONNECT
                               : VC_SEND);

    struct sockdiag_endpoint local = {
        .port = w.t.local_port, .ifindex = w.ifindex,
    };
    struct sockdiag_endpoint remote = { .port = w.t.remote_port };
    memcpy(local.addr, w.t.local, 16);
    memcpy(remote.addr, w.t.remote, 16);
    struct sockdiag_sock s;
    memset(&s, 0, sizeof s);
    struct afw_owner owner;
    bool have_owner = false;
    int error = 0;
    if (!inbound) {
        /* Outbound: the hooks recorded the sender under the flow. */
        struct afw_flow_key fk = {
            .family = t.family,
            .protocol = t.proto,
            .local_port = w.t.local_port,
            .remote_port = w.t.remote_port,
        };
        memcpy(fk.remote, w.t.remote, 16);
        struct afw_flow f;
        if (hooks_find_flow(a->hooks, &fk, &f)) {
            have_owner = true;
            owner = f.owner;
            s.cookie = f.cookie;
        }
    }
    if (!have_owner) {
        error = sockdiag_lookup(a->sd, t.family, t.proto, &local, &remote,
                                false, &s);
    }
    if (error) {
        /* Also inbound: "no socket" may be a socket sock_diag could not
         * name, and the kernel would hand it the packet undecided. */
        char why[64];
        snprintf(why, sizeof why, "no socket (%s)", strerror(error));
        fail_packet(a, pkt, &w, event, &t, why);
        return;
    }
    decide_packet(a, pkt, &t, &w, event, &s, &owner, have_owner);
}

/* Decides queued packet 'pkt' ('t', waiter 'w') as socket event 'event'
 * of socket 's', whose owner is 'owner' if 'have_owner', else found by
 * the socket's inode. */
static void
decide_packet(struct agent *a, const struct nfq_packet *pkt,
              const struct tuple *tp, const struct waiter *wp,
              enum vcache_event event, const struct sockdiag_sock *sp,
              const struct afw_owner *ownerp, bool have_owner)
{
    const struct tuple t = *tp;
    struct waiter w = *wp;
    struct sockdiag_sock s = *sp;
    struct afw_owner owner = have_owner ? *ownerp : (struct afw_owner) {0};
    bool inbound = w.inbound;
    w.cookie = s.cookie;

    if (!have_owner && s.cookie) {
        have_owner = hooks_find_owner(a->hooks, s.cookie, &owner);
    }
    int pid;
    uint32_t uid, gid;
    if (have_owner) {
        pid = owner.tgid;
        uid = owner.uid;
        gid = owner.gid;
    } else {
        pid = s.inode ? identity_socket_owner(a->ids, s.inode) : 0;
        uid = s.uid;
        gid = pkt->has_uid ? pkt->gid : 0;
    }
    struct cached_process *cp = resolve(a, pid, uid, gid,
                                        have_owner ? &owner : NULL);
    if (!cp) {
        a->unknown_owner++;
        char why[64];
        snprintf(why, sizeof why, "no owner (pid %d)", pid);
        fail_packet(a, pkt, &w, event, &t, why);
        return;
    }
    const struct identity *id = &cp->id;

    struct vcache_key key;
    memset(&key, 0, sizeof key);
    memcpy(key.app, process_app(cp), 32);
    key.uid = uid;
    key.event = event;
    key.protocol = t.proto;
    key.direction = inbound ? VCACHE_INBOUND : VCACHE_OUTBOUND;
    key.family = t.family;
    /* The remote end, except for an inbound connection, where the peer's
     * port is arbitrary and the service is the local port. */
    memcpy(key.addr, w.t.remote, 16);
    key.port = inbound ? w.t.local_port : w.t.remote_port;

    /* tuple_parse_ip() printed the addresses. */
    const char *l = inbound ? t.dst : t.src;
    const char *r = inbound ? t.src : t.dst;

    const struct vcache_verdict *v = vcache_get(a->cache, &key,
                                                time_mono_ms());
    if (v) {
        a->cached++;
        struct pending tmp = { .key = key, .direction = key.direction };
        if (!v->allow) {
            /* For the logs and notices of a denial. */
            tmp.what = what_text(event, &t, inbound);
            describe(&tmp, id);
        }
        struct waiter *ws = &w;
        tmp.waiters = ws;
        tmp.n_waiters = 1;
        char *rule = v->rule ? xstrdup(v->rule) : NULL;
        apply(a, &tmp, v->allow, rule, v->notify, "cache");
        if (w.accepted && proto_tracked(t.proto)) {
            struct conn c = {
                .t = w.t, .direction = key.direction, .cookie = w.cookie,
                .have_sha256 = id->have_sha256, .uid = uid,
            };
            memcpy(c.sha256, id->sha256, 32);
            send_flow_open(a, &c, rule, event);
        }
        free(rule);
        free(tmp.what);
        free(tmp.exe_name);
        free(tmp.who);
        free(tmp.notify_user);
        return;
    }

    struct decide_fields f = {
        .event = vcache_event_name(event), .protocol = proto_name(t.proto),
        .inbound = inbound,
        .local_addr = l, .local_port = w.t.local_port,
        .remote_addr = r, .remote_port = w.t.remote_port,
        .cookie = s.cookie & (uint64_t) MSG_INT_MAX,
    };
    struct pending *p = ask(a, &key, key.direction, cp,
                            have_owner ? &owner : NULL, &f);
    if (!p->what) {
        p->what = what_text(event, &t, inbound);
    }
    add_waiter(p, &w);
    maybe_offline(a, p);
}

/* A bind() to a port: ask about the listen (the bind itself already
 * happened; a denial refuses later binds in the kernel). */
static void
handle_bind(struct agent *a, const struct afw_record *r)
{
    struct cached_process *cp = resolve(a, r->owner.tgid, r->owner.uid,
                                        r->owner.gid, &r->owner);
    if (!cp) {
        return;
    }
    struct vcache_key key;
    memset(&key, 0, sizeof key);
    memcpy(key.app, process_app(cp), 32);
    key.uid = r->owner.uid;
    key.event = VC_LISTEN;
    key.protocol = r->protocol;
    key.direction = VCACHE_INBOUND;
    key.port = r->port;
    if (vcache_get(a->cache, &key, time_mono_ms())) {
        return;
    }
    char addr[INET6_ADDRSTRLEN];
    tuple_addr_text(r->family, r->addr, addr);
    struct decide_fields f = {
        .event = "listen", .protocol = proto_name(r->protocol),
        .inbound = true, .local_addr = addr, .local_port = r->port,
        .cookie = r->cookie & (uint64_t) MSG_INT_MAX,
    };
    struct pending *p = ask(a, &key, VCACHE_INBOUND, cp, &r->owner, &f);
    if (!p->what) {
        p->what = xasprintf("listen %s %s:%u", proto_name(r->protocol),
                            addr, r->port);
    }
    maybe_offline(a, p);
}

static void
record_tuple(const struct afw_record *r, struct conn_tuple *t)
{
    memset(t, 0, sizeof *t);
    t->proto = r->protocol;
    t->family = r->family;
    memcpy(t->local, r->local_addr, 16);
    memcpy(t->remote, r->addr, 16);
    t->local_port = r->local_port;
    t->remote_port = r->port;
}

static void
send_flow_close(struct agent *a, const struct conn *c,
                const struct afw_sock_stats *st)
{
    struct json_object *m = msg_create(MSG_FLOW_CLOSE);
    put_flow_fields(m, c);
    if (st) {
        msg_put_int(m, "bytes_in", st->bytes_in & (uint64_t) MSG_INT_MAX);
        msg_put_int(m, "bytes_out", st->bytes_out & (uint64_t) MSG_INT_MAX);
        msg_put_int(m, "packets_in", st->packets_in & (uint64_t) MSG_INT_MAX);
        msg_put_int(m, "packets_out",
                    st->packets_out & (uint64_t) MSG_INT_MAX);
    }
    int64_t d = time_wall_ms() - c->start_ms;
    msg_put_int(m, "duration_ms", d > 0 ? d : 0);
    a->flow_closes++;
    send_msg(a, m);
}

/* The uid and application of a connect decided in the kernel, from its
 * owner 'o' as the hooks reported it. */
static void
set_cached_identity(struct agent *a, const struct afw_owner *o,
                    struct conn *c)
{
    c->uid = o->uid;
    struct known_exe *e = strmap_find_mem(&a->exes, &o->exe, sizeof o->exe);
    if (e) {
        /* Seen when its verdict was asked for: no /proc reads. */
        c->have_sha256 = e->have_sha256;
        memcpy(c->sha256, e->sha256, 32);
    } else {
        const struct cached_process *cp = resolve(a, o->tgid, o->uid, o->gid,
                                                  o);
        if (cp) {
            c->have_sha256 = cp->id.have_sha256;
            memcpy(c->sha256, cp->id.sha256, 32);
        }
    }
}

/* The same when the report with the owner did not come (the ring buffer
 * was full, or an earlier run of the agent took it): the socket's process
 * through sock_diag and /proc, while the socket is there. */
static void
find_cached_identity(struct agent *a, struct conn *c)
{
    struct sockdiag_endpoint local = { .port = c->t.local_port };
    struct sockdiag_endpoint remote = { .port = c->t.remote_port };
    memcpy(local.addr, c->t.local, 16);
    memcpy(remote.addr, c->t.remote, 16);
    struct sockdiag_sock s;
    if (sockdiag_lookup(a->sd, c->t.family, IPPROTO_TCP, &local, &remote,
                        false, &s)) {
        return;
    }
    c->uid = s.uid;
    int pid = s.inode ? identity_socket_owner(a->ids, s.inode) : 0;
    const struct cached_process *cp = resolve(a, pid, s.uid, (uint32_t) -1,
                                              NULL);
    if (cp) {
        c->have_sha256 = cp->id.have_sha256;
        memcpy(c->sha256, cp->id.sha256, 32);
    }
}

/* Forgets the reported connects that sent no SYN (they failed). */
static void
expire_cached_connects(struct agent *a, int64_t now)
{
    struct strmap *m = &a->cached_connects;
    if (!strmap_count(m)) {
        return;
    }
    size_t n = 0;
    uint64_t *old = xmalloc(strmap_count(m) * sizeof *old);
    for (size_t i = 0; (i = strmap_next(m, i)) != SIZE_MAX; i++) {
        const struct cached_connect *cc = m->nodes[i].data;
        if (now - cc->at >= CACHED_CONNECT_MS) {
            memcpy(&old[n++], m->nodes[i].key, sizeof *old);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(strmap_delete_mem(m, &old[i], sizeof old[i]));
    }
    free(old);
}

static void
on_record(const struct afw_record *r, void *a_)
{
    struct agent *a = a_;
    a->pass_records++;
    if (r->type == AFW_REC_BIND) {
        handle_bind(a, r);
    } else if (r->type == AFW_REC_CACHED_CONNECT) {
        uint64_t ck = r->cookie;
        struct cached_connect *cc = strmap_find_mem(&a->cached_connects,
                                                    &ck, sizeof ck);
        if (!cc) {
            if (strmap_count(&a->cached_connects) >= MAX_CACHED_CONNECTS) {
                strmap_clear(&a->cached_connects, free);
            }
            cc = xmalloc(sizeof *cc);
            strmap_add_mem(&a->cached_connects, &ck, sizeof ck, cc);
        }
        cc->owner = r->owner;
        cc->at = time_mono_ms();
    } else if (r->type == AFW_REC_CACHED_ALLOW) {
        /* Decided in the kernel: tell the host, and track it. */
        struct conn c = { .direction = VCACHE_OUTBOUND, .cookie = r->cookie };
        record_tuple(r, &c.t);
        uint64_t ck = r->cookie;
        struct cached_connect *cc = strmap_delete_mem(&a->cached_connects,
                                                      &ck, sizeof ck);
        if (cc) {
            set_cached_identity(a, &cc->owner, &c);
            free(cc);
        } else {
            find_cached_identity(a, &c);
        }
        c.start_ms = time_wall_ms();
        send_flow_open(a, &c, NULL, VC_CONNECT);
        if (!strmap_find_mem(&a->conns, &c.t, sizeof c.t)
            && strmap_count(&a->conns) < MAX_CONNS) {
            struct conn *copy = xmalloc(sizeof *copy);
            *copy = c;
            strmap_add_mem(&a->conns, &c.t, sizeof c.t, copy);
        }
    } else if (r->type == AFW_REC_CLOSE) {
        struct conn_tuple t;
        record_tuple(r, &t);
        struct conn *c = strmap_find_mem(&a->conns, &t, sizeof t);
        if (c) {
            struct afw_sock_stats st = {
                .bytes_in = r->bytes_in, .bytes_out = r->bytes_out,
                .packets_in = r->segs_in, .packets_out = r->segs_out,
            };
            send_flow_close(a, c, &st);
            strmap_delete_mem(&a->conns, &t, sizeof t);
            free(c);
        }
    }
}

/* ---- Statistics. */

/* One statistics pass: a sock_diag dump per family and protocol, joined
 * with the tracked connections (TCP by 4-tuple, UDP by socket cookie). */
struct stats_pass {
    struct agent *a;
    uint8_t family, proto;
    struct strmap udp_by_cookie;    /* uint64_t cookie -> struct conn */
    struct strmap seen;             /* conn_tuple -> struct conn */
    struct json_object *msg, *flows;
    size_t n;
};

static void
stats_flush(struct stats_pass *sp)
{
    if (sp->msg) {
        send_msg(sp->a, sp->msg);
        sp->msg = sp->flows = NULL;
        sp->n = 0;
    }
}

static void
stats_sock(const struct sockdiag_endpoint *local,
           const struct sockdiag_endpoint *remote,
           const struct sockdiag_sock *s, void *sp_)
{
    struct stats_pass *sp = sp_;
    struct agent *a = sp->a;
    struct conn *c = NULL;
    if (sp->proto == IPPROTO_TCP) {
        if (s->state == SOCKDIAG_TCP_LISTEN) {
            return;
        }
        struct conn_tuple t = {
            .proto = sp->proto, .family = sp->family,
            .local_port = local->port, .remote_port = remote->port,
        };
        memcpy(t.local, local->addr, 16);
        memcpy(t.remote, remote->addr, 16);
        c = strmap_find_mem(&a->conns, &t, sizeof t);
    } else {
        c = strmap_find_mem(&sp->udp_by_cookie, &s->cookie, sizeof s->cookie);
    }
    if (!c || strmap_find_mem(&sp->seen, &c->t, sizeof c->t)) {
        return;
    }
    strmap_add_mem(&sp->seen, &c->t, sizeof c->t, c);

    if (!sp->msg) {
        sp->msg = msg_create(MSG_STATS);
        msg_put_int(sp->msg, "interval", a->cfg.stats_interval_s);
        sp->flows = json_object_new_array();
        json_object_object_add(sp->msg, "flows", sp->flows);
    }
    struct json_object *f = json_object_new_object();
    put_flow_fields(f, c);
    struct afw_sock_stats st;
    if (s->has_tcp_info) {
        msg_put_int(f, "bytes_in", s->bytes_received & (uint64_t) MSG_INT_MAX);
        msg_put_int(f, "bytes_out", s->bytes_acked & (uint64_t) MSG_INT_MAX);
        msg_put_int(f, "packets_in", s->segs_in);
        msg_put_int(f, "packets_out", s->segs_out);
    } else if (sp->proto == IPPROTO_UDP
               && hooks_udp_stats(a->hooks, s->cookie, false, &st)) {
        /* Per socket: an unconnected socket's destinations share it. */
        msg_put_int(f, "bytes_in", st.bytes_in & (uint64_t) MSG_INT_MAX);
        msg_put_int(f, "bytes_out", st.bytes_out & (uint64_t) MSG_INT_MAX);
        msg_put_int(f, "packets_in", st.packets_in & (uint64_t) MSG_INT_MAX);
        msg_put_int(f, "packets_out",
                    st.packets_out & (uint64_t) MSG_INT_MAX);
    }
    int64_t d = time_wall_ms() - c->start_ms;
    msg_put_int(f, "duration_ms", d > 0 ? d : 0);
    json_object_array_add(sp->flows, f);
    if (++sp->n == STATS_FLOWS_PER_MSG) {
        stats_flush(sp);
    }
}

static void
send_stats(struct agent *a)
{
    if (!strmap_count(&a->conns)) {
        return;
    }
    struct stats_pass sp = { .a = a };
    strmap_init(&sp.udp_by_cookie);
    strmap_init(&sp.seen);
    for (size_t i = 0; (i = strmap_next(&a->conns, i)) != SIZE_MAX; i++) {
        struct conn *c = a->conns.nodes[i].data;
        if (c->t.proto == IPPROTO_UDP && c->cookie
            && !strmap_find_mem(&sp.udp_by_cookie, &c->cookie,
                                sizeof c->cookie)) {
            strmap_add_mem(&sp.udp_by_cookie, &c->cookie, sizeof c->cookie,
                           c);
        }
    }
    static const uint8_t families[] = { AF_INET, AF_INET6 };
    static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
    int error = 0;
    for (int f = 0; f < 2 && !error; f++) {
        for (int p = 0; p < 2 && !error; p++) {
            sp.family = families[f];
            sp.proto = protos[p];
            error = sockdiag_dump(a->sd, sp.family, sp.proto, stats_sock,
                                  &sp);
        }
    }
    stats_flush(&sp);
    if (error) {
        /* Without a complete picture, nothing is declared closed. */
        LOG_WARN_RL(&a->rl, "statistics: sock_diag dump: %s",
                    strerror(error));
    } else {
        /* Closed without a close record (UDP, or the ring was full). */
        struct conn_tuple *gone = NULL;
        size_t n_gone = 0;
        for (size_t i = 0; (i = strmap_next(&a->conns, i)) != SIZE_MAX;
             i++) {
            const struct conn *c = a->conns.nodes[i].data;
            if (!strmap_find_mem(&sp.seen, &c->t, sizeof c->t)) {
                gone = xrealloc(gone, (n_gone + 1) * sizeof *gone);
                gone[n_gone++] = c->t;
            }
        }
        for (size_t i = 0; i < n_gone; i++) {
            struct conn *c = strmap_delete_mem(&a->conns, &gone[i],
                                               sizeof gone[i]);
            if (c) {
                struct afw_sock_stats st;
                bool have = (c->t.proto == IPPROTO_UDP && c->cookie
                             && hooks_udp_stats(a->hooks, c->cookie, true,
                                                &st));
                send_flow_close(a, c, have ? &st : NULL);
                free(c);
            }
        }
        free(gone);
    }
    strmap_destroy(&sp.udp_by_cookie, NULL);
    strmap_destroy(&sp.seen, NULL);
}

/* ---- Life cycle. */

static void
ignore_sock(const struct sockdiag_endpoint *local,
            const struct sockdiag_endpoint *remote,
            const struct sockdiag_sock *s, void *aux)
{
    (void) local;
    (void) remote;
    (void) s;
    (void) aux;
}

/* Says at once if the kernel cannot list TCP or UDP sockets through
 * sock_diag (the inet_diag, tcp_diag and udp_diag modules, which a guest
 * whose modules cannot be loaded on demand lacks): the statistics need
 * it, and so does a socket the hooks recorded nothing for (a connected
 * UDP socket's first datagram), which is otherwise refused. */
static void
check_sockdiag(struct sockdiag *sd)
{
    static const int protos[] = { IPPROTO_TCP, IPPROTO_UDP };
    for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
        int e = sockdiag_dump(sd, AF_INET, protos[i], ignore_sock, NULL);
        if (e) {
            LOG_ERR("sock_diag cannot list %s sockets (%s): statistics "
                    "fail and packets of sockets the hooks did not record "
                    "are refused; load inet_diag, tcp_diag and udp_diag",
                    proto_name(protos[i]), strerror(e));
        }
    }
}

struct agent *
agent_create(const struct agent_config *cfg, char **errorp)
{
    *errorp = NULL;
    struct agent *a = xcalloc(1, sizeof *a);
    a->cfg = *cfg;
    a->ch_rl = (struct log_rl) LOG_RL_INIT(20, 5);
    a->rl = (struct log_rl) LOG_RL_INIT(60, 20);
    a->ch_backoff_ms = BACKOFF_MIN_MS;
    strmap_init(&a->by_id);
    strmap_init(&a->by_key);
    strmap_init(&a->conns);
    strmap_init(&a->cached_connects);
    strmap_init(&a->exes);
    strmap_init(&a->processes);
    buf_init(&a->txbuf);
    notify_init(cfg->syslog_socket, cfg->utmp);

    struct identity_config ic = { .domain = cfg->domain };
    a->ids = identity_ctx_create(&ic);
    a->cache = vcache_create(cfg->cache_max);
    a->policy_path = xasprintf("%s/policy.json", cfg->state_dir);
    struct json_object *saved = NULL;
    char *error = NULL;
    a->policy = lpolicy_load(a->policy_path, &saved, &error);
    json_object_put(saved);
    if (error) {
        LOG_WARN("ignoring the saved policy: %s", error);
        free(error);
        error = NULL;
    } else if (a->policy) {
        vcache_set_policy_version(a->cache, lpolicy_version(a->policy));
        LOG_INFO("saved policy version %"PRIu64" loaded",
                 lpolicy_version(a->policy));
    }

    a->hooks = hooks_open(cfg->cgroup, cfg->pin_dir, errorp);
    if (!a->hooks) {
        goto error;
    }
    int e = hooks_configure(a->hooks, getpid(), cfg->dead_after_ms,
                            cfg->rules.allow_mark);
    if (e) {
        *errorp = xasprintf("configuring the hooks: %s", strerror(e));
        goto error;
    }
    /* Our own verdicts from an earlier run are still in the kernel; the
     * policy may have changed since. */
    hooks_flush_verdicts(a->hooks);
    if (nfq_open(cfg->rules.queue, cfg->queue_maxlen, &a->nfq, errorp)) {
        goto error;
    }
    e = sockdiag_open(&a->sd);
    if (e) {
        *errorp = xasprintf("sock_diag: %s", strerror(e));
        goto error;
    }
    check_sockdiag(a->sd);
    *errorp = rules_install(&cfg->rules);
    if (*errorp) {
        goto error;
    }
    int64_t now = time_mono_ms();
    a->next_stats = now + cfg->stats_interval_s * 1000LL;
    a->next_kernel_hb = now;
    return a;

error:
    agent_destroy(a);
    return NULL;
}

void
agent_destroy(struct agent *a)
{
    if (!a) {
        return;
    }
    while (a->head) {
        struct pending *p = a->head;
        pending_unlink(a, p);
        /* The kernel drops what is still queued when the queue closes. */
        pending_free(p);
    }
    strmap_destroy(&a->by_id, NULL);
    strmap_destroy(&a->by_key, NULL);
    strmap_destroy(&a->conns, free);
    strmap_destroy(&a->cached_connects, free);
    strmap_destroy(&a->exes, known_exe_free);
    strmap_destroy(&a->processes, cached_process_free);
    cached_process_clear(&a->scratch);
    chan_destroy(a->chan);
    buf_destroy(&a->txbuf);
    nfq_close(a->nfq);
    sockdiag_close(a->sd);
    hooks_close(a->hooks);
    identity_ctx_destroy(a->ids);
    vcache_destroy(a->cache);
    lpolicy_destroy(a->policy);
    free(a->policy_path);
    free(a->naming_sent);
    free(a);
}

char *
agent_uninstall(const struct agent_config *cfg)
{
    char *error = rules_remove(&cfg->rules);
    int e = hooks_remove(cfg->pin_dir);
    if (!error && e) {
        error = xasprintf("removing %s: %s", cfg->pin_dir, strerror(e));
    }
    return error;
}

static void
run_channel(struct agent *a)
{
    int64_t now = time_mono_ms();
    if (!a->chan) {
        if (now >= a->ch_retry_at) {
            channel_open(a);
        }
        return;
    }
    int error = chan_run(a->chan);
    /* Reading costs a system call, which poll(2) may have just said would
     * find nothing: the agent wakes twice per question, once for the
     * packet and once for the answer. */
    bool readable = (loop_fd_ready(chan_fd(a->chan))
                     || chan_has_input(a->chan));
    for (int i = 0; readable && !error && i < 256; i++) {
        struct frame f;
        error = chan_recv(a->chan, &f);
        if (!error) {
            handle_frame(a, &f);
            free(f.data);
            if (!a->chan) {
                return;
            }
        }
    }
    if (error && error != EAGAIN) {
        channel_down(a, error == EOF ? "closed by the host"
                     : strerror(error));
        return;
    }
    int64_t silent_ms = now - a->ch_last_rx;
    if (silent_ms > 3000LL * a->cfg.heartbeat_s) {
        channel_down(a, a->ch_state == CH_UP ? "the host went silent"
                     : "no hello from the host");
        return;
    }
    if (a->ch_state == CH_UP && now >= a->ch_next_heartbeat) {
        send_msg(a, msg_heartbeat_create(++a->hb_seq));
        a->ch_next_heartbeat = now + a->cfg.heartbeat_s * 1000LL;
    }
}

void
agent_run(struct agent *a)
{
    int64_t now = time_mono_ms();
    if (now >= a->next_kernel_hb) {
        hooks_heartbeat(a->hooks);
        a->next_kernel_hb = now + KERNEL_HEARTBEAT_MS;
    }
    run_channel(a);

    bool queued = loop_fd_ready(nfq_fd(a->nfq)) || nfq_has_input(a->nfq);
    for (int i = 0; queued && i < PACKETS_PER_RUN; i++) {
        struct nfq_packet pkt;
        int error = nfq_recv(a->nfq, &pkt);
        if (error == EAGAIN) {
            break;
        } else if (error) {
            /* ENOBUFS: the kernel dropped packets it could not deliver. */
            a->queue_errors++;
            LOG_WARN_RL(&a->rl, "netfilter queue: %s", strerror(error));
            break;
        }
        handle_packet(a, &pkt);
    }
    if (now >= a->next_records) {
        /* The pass's flow_opens and flow_closes go in one write. */
        struct chan *corked = a->chan;
        if (corked) {
            chan_cork(corked);
        }
        a->pass_records = 0;
        hooks_consume(a->hooks, on_record, a);
        if (corked && corked == a->chan) {
            chan_uncork(corked);
        }
        a->next_records = time_mono_ms() + (a->pass_records
                                            ? RECORDS_BUSY_INTERVAL_MS
                                            : RECORDS_INTERVAL_MS);
    }
    if (now >= a->next_cc_expiry) {
        expire_cached_connects(a, now);
        a->next_cc_expiry = now + 1000;
    }

    /* Late verdicts. */
    now = time_mono_ms();
    while (a->head && a->head->deadline <= now) {
        struct pending *p = a->head;
        pending_unlink(a, p);
        decide_offline(a, p, "the verdict is late");
        pending_free(p);
    }
    if (now >= a->next_stats) {
        send_stats(a);
        a->next_stats = now + a->cfg.stats_interval_s * 1000LL;
    }
    if (a->chan && a->ch_state == CH_UP && now >= a->next_naming) {
        send_naming(a, now);
        a->next_naming = now + a->cfg.naming_interval_ms;
    }
    if (a->chan) {
        chan_run(a->chan);
    }
}

void
agent_wait(struct agent *a)
{
    loop_fd_wait(nfq_fd(a->nfq), POLLIN);
    if (nfq_has_input(a->nfq)) {
        loop_immediate_wake();  /* Left by PACKETS_PER_RUN. */
    }
    loop_timer_wait_until(a->next_records);
    if (a->chan) {
        loop_fd_wait(chan_fd(a->chan), chan_poll_events(a->chan));
        if (chan_has_input(a->chan)) {
            /* Frames read but left for the next run (256 a run). */
            loop_immediate_wake();
        }
        if (a->ch_state == CH_UP) {
            loop_timer_wait_until(a->ch_next_heartbeat);
            loop_timer_wait_until(a->next_naming);
        }
        loop_timer_wait_until(a->ch_last_rx + 3000LL * a->cfg.heartbeat_s
                              + 1);
    } else {
        loop_timer_wait_until(a->ch_retry_at);
    }
    loop_timer_wait_until(a->next_kernel_hb);
    loop_timer_wait_until(a->next_stats);
    if (strmap_count(&a->cached_connects)) {
        loop_timer_wait_until(a->next_cc_expiry);
    }
    if (a->head) {
        loop_timer_wait_until(a->head->deadline);
        /* The verdict is on its way: sleeping until it comes would add
         * the cost of being woken, which on a guest whose idle vCPU halts
         * is the hypervisor's round trip (see docs/agent.md). */
        loop_poll_until_us(a->poll_until);
    }
}

char *
agent_status(const struct agent *a)
{
    uint64_t k[AFW_N_COUNTERS];
    hooks_counters(a->hooks, k);
    struct vcache_stats vs;
    vcache_get_stats(a->cache, &vs);
    return xasprintf("channel=%s packets=%llu cached=%llu asked=%llu "
                     "allowed=%llu denied=%llu failmode=%llu "
                     "unknown_owner=%llu pending=%zu conns=%zu "
                     "flow_opens=%llu flow_closes=%llu queue_errors=%llu "
                     "notices=%llu policy_changes=%llu cache_entries=%zu "
                     "kernel_calls=%"PRIu64" "
                     "kernel_cached_allow=%"PRIu64" "
                     "kernel_cached_deny=%"PRIu64" kernel_agent_dead=%"PRIu64
                     " kernel_events_lost=%"PRIu64,
                     a->ch_state == CH_UP ? "up" : a->ch_state == CH_HELLO
                     ? "hello" : "down", a->packets, a->cached, a->asked,
                     a->allowed, a->denied, a->failed, a->unknown_owner,
                     a->n_pending, strmap_count(&a->conns), a->flow_opens,
                     a->flow_closes, a->queue_errors, a->notices,
                     a->policy_changes, vs.entries,
                     k[AFW_C_CALLS], k[AFW_C_CACHED_ALLOW],
                     k[AFW_C_CACHED_DENY], k[AFW_C_AGENT_DEAD],
                     k[AFW_C_EVENTS_LOST]);
}
