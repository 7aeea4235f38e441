/* libFuzzer target: appfw-agent's handling of what the host sends, with
 * the real guest-agent/agent.c in process.
 *
 * Each input runs one agent (agent_create() to agent_destroy()) over a
 * guest kernel in memory (tests/fuzz/agent-fakes.c: the netfilter queue,
 * the eBPF hooks, sock_diag, ping sockets, /proc, a clock that moves only
 * when told).  The target plays the host on the agent's real channel, a
 * UNIX socket (common/chan.c), and is the guest's syslog daemon and the
 * users' terminals for the real guest-agent/notify.c.  The input is a
 * script, one step a line, and the agent runs after each step:
 *
 *   mode closed|open|cached     the fail mode (first lines only)
 *   saved JSON                  state-dir/policy.json (first lines only)
 *   {...}                       a frame from the host: verdict, error,
 *                               policy_push, policy_change, notice,
 *                               hello, heartbeat...
 *   raw HEX                     bytes on the channel as they are
 *   out KIND PROC PEER PORT [HOW]   a queued packet from the guest
 *   in KIND PROC PEER PORT [HOW]    a queued packet to it (PORT: local)
 *   bind PROC PROTO PORT        the hooks' bind() record
 *   share PROC PROTO PORT [AT]  a socket of PROC's (0: nobody the hooks
 *                               saw) listening (TCP) or not connected
 *                               (UDP) on local PORT, as in a SO_REUSEPORT
 *                               group; AT its address: 0 and 1 IPv4's
 *                               and IPv6's wildcard, 2 and 3 the guest's
 *                               own, 4 the guest's IPv4 address mapped to
 *                               IPv6, 5 an address not the guest's
 *   cached PROC PEER PORT       a connect() the kernel allowed from its
 *                               cache (its two records)
 *   close N                     the close record of the Nth connection
 *   wait MS                     the clock moves on
 *   drop                        the host closes the channel
 *
 * KIND is tcp, udp, ping (an echo request), sctp, frag (a later IPv6
 * fragment, or an IPv4 one), bad (not IP); PROC a process of
 * agent-fakes.h (0: none); PEER one of four addresses; HOW how the kernel
 * names the packet's socket: 0 the hooks' flow record, 1 sock_diag and
 * the hooks' owner, 2 sock_diag and /proc, 3 no socket, 4 a sock_diag
 * error, 5 a socket nobody owns, 6 for an inbound UDP packet a socket
 * not connected, with its owner (else as 1).  The ids of the agent's questions run
 * from 1 in each input (each question counts, also one the fail mode
 * decides at once), so a verdict's "id" reaches a real question.  After
 * the last line the clock passes the verdict timeout once more.
 *
 * The seeds (tests/fuzz/corpus/agent/): host-sim-N are test-agent.sh's
 * real traffic, made into scripts by tests/fuzz/agent-seeds.py; hand-*
 * add what that traffic lacks, from docs/protocol.md's examples: late,
 * duplicate and unknown verdicts, errors, huge policy versions, hostile
 * notices, framing errors, failed hellos, a silent host, the fail modes
 * with and without a saved policy, more questions than max-pending.
 *
 * Oracles, beyond "no crash, no leak, no undefined behaviour":
 *   - every queued packet gets exactly one verdict, accept or reject with
 *     the reject mark (the fakes abort on a second one);
 *   - a packet is accepted only if the host allowed its question (a
 *     verdict with the same application, user, event, protocol,
 *     direction, remote address and port, for a question still open:
 *     not answered, not timed out, not lost with the channel), or a
 *     cached allow covers it (the TTL not passed, no new policy version
 *     since), or the fail mode allows it (open; cached: the last valid
 *     policy_push), or it is a later IPv6 fragment; an inbound packet
 *     to a port where a socket of another application or user could
 *     take it (a "share", also when the hooks never saw the packet's own
 *     socket) only if the fail mode allows it as an unknown
 *     application's;
 *   - a verdict reaches the kernel's cache only as the host gave it (its
 *     answer, TTL, executable version, user, event, address and port), a
 *     new policy version or a policy_change flushes the kernel's cache
 *     (and the agent's: the next packet is asked about again), and a UDP
 *     flow is noted only for a datagram just accepted;
 *   - the agent's count of open questions is the target's;
 *   - every frame the agent writes is a valid message it may send, and a
 *     framing error or a failed hello closes the channel;
 *   - what reaches the users' terminals and syslog holds no control
 *     characters (escape sequences, newlines, C1, bidirectional
 *     controls), wherever it came from. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <utmpx.h>

#include "common/chan.h"
#include "common/digest.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/util.h"
#include "guest-agent/agent.h"
#include "guest-agent/lpolicy.h"
#include "guest-agent/vcache.h"
#include "tests/fuzz/agent-fakes.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define START_MS 1000000
#define TIMEOUT_MS 2000
#define MAX_PENDING 8
#define REJECT_MARK 0x20000000
#define NOBODY 65534

/* ---- The target's files: /dev/shm/fuzz-agent.PID/. */

static char dir[64], chan_path[96], log_path[96], tty_path[96],
            utmp_path[96], state_dir[96], policy_path[128];
static int listen_fd = -1, syslog_fd = -1, tty_fd = -1;
static struct agent_config cfg;

/* FUZZ_AGENT_TRACE=1: each step, what the agent wrote and each packet's
 * verdict on stderr, and the agent's log too. */
static bool trace;

static void
die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz-agent: %s: %s\n", what, detail ? detail : "");
    abort();
}

static void
remove_files(void)
{
    const char *files[] = { chan_path, log_path, tty_path, utmp_path,
                            policy_path };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        unlink(files[i]);
    }
    rmdir(state_dir);
    rmdir(dir);
}

static int
bound_socket(int type, const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sun, sizeof sun)
        || (type == SOCK_STREAM && listen(fd, 4))) {
        die(path, strerror(errno));
    }
    return fd;
}

/* Users logged in on the target's terminal, as notify.c finds them. */
static void
write_utmp(void)
{
    static const char *const names[] = { "alice", "root", "bob", "eve" };
    FILE *f = fopen(utmp_path, "w");
    if (!f) {
        die(utmp_path, strerror(errno));
    }
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        struct utmpx u;
        memset(&u, 0, sizeof u);
        u.ut_type = USER_PROCESS;
        u.ut_pid = getpid();
        /* /dev/ + this is the FIFO. */
        snprintf(u.ut_line, sizeof u.ut_line, "%s", tty_path + 5);
        snprintf(u.ut_user, sizeof u.ut_user, "%s", names[i]);
        snprintf(u.ut_host, sizeof u.ut_host, "10.77.0.9");
        u.ut_tv.tv_sec = 1795300000;
        fwrite(&u, sizeof u, 1, f);
    }
    if (fclose(f)) {
        die(utmp_path, strerror(errno));
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    signal(SIGPIPE, SIG_IGN);
    /* Every log line is formatted, with whatever the host sent in it. */
    free(log_set_levels("dbg"));
    trace = getenv("FUZZ_AGENT_TRACE");
    FILE *null = trace ? stderr : fopen("/dev/null", "w");
    if (!null) {
        die("/dev/null", strerror(errno));
    }
    log_set_stream(null);

    snprintf(dir, sizeof dir, "/dev/shm/fuzz-agent.%d", (int) getpid());
    snprintf(chan_path, sizeof chan_path, "%s/chan", dir);
    snprintf(log_path, sizeof log_path, "%s/log", dir);
    snprintf(tty_path, sizeof tty_path, "%s/tty", dir);
    snprintf(utmp_path, sizeof utmp_path, "%s/utmp", dir);
    snprintf(state_dir, sizeof state_dir, "%s/state", dir);
    snprintf(policy_path, sizeof policy_path, "%s/policy.json", state_dir);
    if (mkdir(dir, 0700) || mkdir(state_dir, 0700)
        || mkfifo(tty_path, 0600)) {
        die(dir, strerror(errno));
    }
    atexit(remove_files);
    listen_fd = bound_socket(SOCK_STREAM, chan_path);
    syslog_fd = bound_socket(SOCK_DGRAM, log_path);
    tty_fd = open(tty_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (tty_fd < 0) {
        die(tty_path, strerror(errno));
    }
    write_utmp();

    cfg = (struct agent_config) {
        .channel = chan_path, .port_name = "org.appfw.agent.0",
        .sys_root = "/nonexistent", .dev_root = "/nonexistent",
        .cgroup = "/nonexistent", .pin_dir = "/nonexistent",
        .state_dir = state_dir, .domain = "corp.example",
        .syslog_socket = log_path, .utmp = utmp_path,
        .rules = { .queue = 4242, .queue_maxlen = 16384,
                   .reject_mark = REJECT_MARK, .allow_mark = 0x10000000,
                   .iptables = "false", .ip6tables = "false",
                   .pin_dir = "/nonexistent" },
        .queue_maxlen = 16384, .verdict_timeout_ms = TIMEOUT_MS,
        .poll_us = 0, .heartbeat_s = 5, .dead_after_ms = 5000,
        .stats_interval_s = 30, .naming_interval_ms = 60000,
        /* Small, so that eviction and "too many in flight" happen. */
        .cache_max = 16, .max_pending = MAX_PENDING,
    };
    return 0;
}

/* ---- The target's model of the agent. */

/* What a verdict is cached under, in the target's terms (struct
 * vcache_key's members, the application by fake exe). */
struct mkey {
    int app;                    /* A fake exe or FAKE_EXE_UNKNOWN. */
    uint32_t uid;
    uint8_t event, protocol, direction, family;
    uint8_t addr[16];
    uint16_t port;
    uint16_t pad;
};

/* A question the agent asked (a decide it sent). */
struct question {
    int64_t id;
    struct mkey key;
    int64_t asked_ms;
    bool open;
};

/* A host verdict for an open question, in the step it was sent. */
struct answer {
    struct mkey key;
    bool allow;
    unsigned int ttl;
    int step;
};

struct centry {
    struct mkey key;
    bool allow;
    int64_t expires;
};

/* A packet the target queued. */
struct mpacket {
    uint32_t id;
    int queued_step;
    bool never;                 /* Malformed: never accepted. */
    bool later_fragment;
    int n_apps;                 /* Its question's possible applications; */
    int apps[2];                /* none: no question (the fail mode). */
    uint32_t uid;
    uint8_t event, protocol, direction, family;
    uint8_t local[16], remote[16];
    uint16_t local_port, remote_port;
    int n_ports;                /* The cache key's port, and for the */
    uint16_t ports[2];          /* fail mode's other view of an echo. */
    bool shared;                /* Its port may be shared: inbound TCP, or
                                 * UDP to a socket not connected. */
    int owner;                  /* Its socket's process as the hooks saw
                                 * it, 0 if none. */
    size_t sock;                /* Its socket. */
};

/* A socket of "share". */
struct mshare {
    size_t sock;
    int owner;                  /* Its process in the hooks, 0 if none. */
};

/* A connection the target made, for "close". */
struct mconn {
    size_t sock;
    uint8_t protocol;
    int family;
    uint8_t local[16], remote[16];
    uint16_t local_port, remote_port;
    uint64_t cookie;
};

enum mchan {
    M_DOWN,                     /* No connection. */
    M_HELLO,                    /* Connected, no hello taken yet. */
    M_UP,
    M_CLOSING,                  /* The agent is about to close it. */
};

static struct {
    struct agent *agent;
    enum fail_mode mode;
    int step;

    struct chan *peer;
    enum mchan ch;
    bool agent_spoke;           /* The agent's hello came. */
    struct frame_decoder mirror;    /* The agent's view of our bytes. */
    int host_frames;            /* Frames in this step's bytes. */

    struct question *qs;
    size_t n_qs, allocated_qs;
    int64_t last_id;
    struct answer *answers;
    size_t n_answers, allocated_answers;
    struct centry *cache;
    size_t n_cache, allocated_cache;
    bool have_version;
    uint64_t version;
    int flush_step;
    struct lpolicy *policy;

    struct mpacket *pkts;
    size_t n_pkts, allocated_pkts;
    struct mconn *conns;
    size_t n_conns, allocated_conns;
    struct mshare *shares;
    size_t n_shares, allocated_shares;
    uint16_t next_port;
    uint64_t next_cookie;
    uint32_t next_inode;
} m;

#define PUSH FAKE_PUSH

static const uint8_t local4[16] = { 10, 77, 0, 1 };
static const uint8_t local6[16] = { 0xfd, 0, 0, 0x77, [15] = 1 };
static const struct {
    int family;
    uint8_t addr[16];
} peers[] = {
    { AF_INET, { 10, 77, 0, 2 } },
    { AF_INET, { 10, 77, 0, 3 } },
    { AF_INET6, { 0xfd, 0, 0, 0x77, [15] = 2 } },
    { AF_INET6, { 0xfd, 0, 0, 0x77, [15] = 0x53 } },
};

static struct mkey
mkey(int app, uint32_t uid, int event, int protocol, int direction,
     int family, const uint8_t *addr, uint16_t port)
{
    struct mkey k;
    memset(&k, 0, sizeof k);
    k.app = app;
    k.uid = uid;
    k.event = event;
    k.protocol = protocol;
    k.direction = direction;
    k.family = family;
    if (addr) {
        memcpy(k.addr, addr, family == AF_INET ? 4 : 16);
    }
    k.port = port;
    return k;
}

static bool
mkey_equal(const struct mkey *a, const struct mkey *b)
{
    return !memcmp(a, b, sizeof *a);
}

static size_t
n_open(void)
{
    size_t n = 0;
    for (size_t i = 0; i < m.n_qs; i++) {
        n += m.qs[i].open;
    }
    return n;
}

static void
close_all_questions(void)
{
    for (size_t i = 0; i < m.n_qs; i++) {
        m.qs[i].open = false;
    }
}

static struct question *
open_question(int64_t id)
{
    for (size_t i = 0; i < m.n_qs; i++) {
        if (m.qs[i].id == id && m.qs[i].open) {
            return &m.qs[i];
        }
    }
    return NULL;
}

static void
cache_put(const struct mkey *key, bool allow, unsigned int ttl)
{
    size_t i;
    for (i = 0; i < m.n_cache; i++) {
        if (mkey_equal(&m.cache[i].key, key)) {
            break;
        }
    }
    if (!ttl) {
        if (i < m.n_cache) {
            m.cache[i] = m.cache[--m.n_cache];
        }
        return;
    }
    struct centry e = {
        .key = *key, .allow = allow,
        .expires = fake_clock_ms() + 1000LL * ttl,
    };
    if (i < m.n_cache) {
        m.cache[i] = e;
    } else {
        PUSH(m.cache, m.n_cache, m.allocated_cache, e);
    }
}

static bool
cache_allows(const struct mkey *key)
{
    for (size_t i = 0; i < m.n_cache; i++) {
        if (mkey_equal(&m.cache[i].key, key)) {
            return m.cache[i].allow && fake_clock_ms() < m.cache[i].expires;
        }
    }
    return false;
}

static void
policy_version(uint64_t version)
{
    if (m.have_version && version != m.version) {
        m.n_cache = 0;
        m.flush_step = m.step;
    }
    m.have_version = true;
    m.version = version;
}

/* The channel went away: every open question is decided offline. */
static void
model_down(void)
{
    chan_destroy(m.peer);
    m.peer = NULL;
    m.ch = M_DOWN;
    frame_decoder_destroy(&m.mirror);
    close_all_questions();
}

/* ---- The host's frames, as the agent will take them. */

static void
host_verdict(const struct json_object *msg)
{
    struct question *q = open_question(msg_get_int(msg, "id", 0));
    if (!q) {
        return;
    }
    q->open = false;
    bool allow = !strcmp(msg_get_string(msg, "verdict", "deny"), "allow");
    unsigned int ttl = msg_get_int(msg, "ttl", 0);
    if (msg_get(msg, "policy_version")) {
        policy_version(msg_get_int(msg, "policy_version", 0));
    }
    struct answer a = { .key = q->key, .allow = allow, .ttl = ttl,
                        .step = m.step };
    PUSH(m.answers, m.n_answers, m.allocated_answers, a);
    cache_put(&q->key, allow, ttl);
}

static void
host_frame(const void *data, size_t len)
{
    struct json_object *msg;
    enum msg_type type;
    char *error = msg_parse(data, len, &msg, &type);
    if (error) {
        free(error);
        return;
    }
    if (m.ch == M_HELLO && type == MSG_HELLO) {
        int version;
        error = msg_hello_negotiate(msg, MSG_VERSION_MIN, MSG_VERSION_MAX,
                                    &version);
        m.ch = error ? M_CLOSING : M_UP;
        free(error);
    } else if (m.ch == M_UP && type == MSG_VERDICT) {
        host_verdict(msg);
    } else if (m.ch == M_UP && type == MSG_ERROR) {
        int64_t id = msg_get_int(msg, "id", 0);
        struct question *q = id ? open_question(id) : NULL;
        if (q) {
            q->open = false;
        }
    } else if (m.ch == M_UP && type == MSG_POLICY_CHANGE) {
        /* Every cached verdict goes, whatever the version. */
        m.n_cache = 0;
        m.flush_step = m.step;
        m.have_version = true;
        m.version = msg_get_int(msg, "policy_version", 0);
    } else if (m.ch == M_UP && type == MSG_POLICY_PUSH) {
        struct lpolicy *p = lpolicy_from_json(msg, &error);
        if (p) {
            lpolicy_destroy(m.policy);
            m.policy = p;
            policy_version(lpolicy_version(p));
        }
        free(error);
    }
    json_object_put(msg);
}

static void
write_all(int fd, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        } else if (w <= 0) {
            /* The agent reads everything each run: it is never this far
             * behind. */
            die("writing to the agent", strerror(errno));
        }
        p += w;
        n -= w;
    }
}

/* Bytes from the host, fed to the model as the agent's decoder will cut
 * them. */
static void
host_send(const void *data, size_t n)
{
    if (!m.peer) {
        return;
    }
    write_all(chan_fd(m.peer), data, n);
    const uint8_t *p = data;
    while (n && m.ch != M_CLOSING && m.ch != M_DOWN) {
        size_t used;
        struct frame f;
        int error = frame_decoder_feed(&m.mirror, p, n, &used, &f);
        p += used;
        n -= used;
        if (error) {
            m.ch = M_CLOSING;
        } else if (f.data) {
            m.host_frames++;
            host_frame(f.data, f.len);
            free(f.data);
        }
    }
}

static void
host_send_frame(const char *payload, size_t len)
{
    if (len > FRAME_MAX_LEN) {
        return;
    }
    uint8_t *buf = xmalloc(len + 4);
    buf[0] = len >> 24;
    buf[1] = len >> 16;
    buf[2] = len >> 8;
    buf[3] = len;
    memcpy(buf + 4, payload, len);
    host_send(buf, len + 4);
    free(buf);
}

/* ---- What the agent writes. */

static int
protocol_number(const char *name, int family)
{
    return (!strcmp(name, "tcp") ? IPPROTO_TCP
            : !strcmp(name, "udp") ? IPPROTO_UDP
            : family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
}

static void
agent_decide(struct json_object *d)
{
    int64_t id = msg_get_int(d, "id", 0);
    if (id <= m.last_id) {
        die("a question id used again", json_object_to_json_string(d));
    }
    m.last_id = id;

    enum vcache_event event;
    if (!vcache_event_from_name(msg_get_string(d, "event", ""), &event)) {
        die("a decide's event", json_object_to_json_string(d));
    }
    bool inbound = !strcmp(msg_get_string(d, "direction", ""), "inbound");
    uint8_t addr[16] = { 0 };
    int family = 0;
    const char *remote = msg_get_string(d, "remote.address", NULL);
    if (remote) {
        family = strchr(remote, ':') ? AF_INET6 : AF_INET;
        inet_pton(family, remote, addr);
    }
    int app = fake_exe_find(msg_get_string(d, "app.path", NULL),
                            msg_get_string(d, "app.sha256", NULL));
    if (app < FAKE_EXE_UNKNOWN) {
        die("a decide for an application no process ran",
            json_object_to_json_string(d));
    }
    struct question q = {
        .id = id,
        .key = mkey(app, msg_get_int(d, "user.uid", -1), event,
                    protocol_number(msg_get_string(d, "protocol", ""),
                                    family),
                    inbound ? VCACHE_INBOUND : VCACHE_OUTBOUND, family,
                    addr, msg_get_int(d, inbound ? "local.port"
                                      : "remote.port", -1)),
        .asked_ms = fake_clock_ms(),
        /* Beyond max-pending, the fail mode decides at once. */
        .open = n_open() < MAX_PENDING,
    };
    PUSH(m.qs, m.n_qs, m.allocated_qs, q);
}

static void
agent_frame(const struct frame *f)
{
    struct json_object *msg;
    enum msg_type type;
    char *error = msg_parse(f->data, f->len, &msg, &type);
    if (error) {
        fprintf(stderr, "fuzz-agent: the agent sent %.*s\n", (int) f->len,
                (const char *) f->data);
        die("an invalid message from the agent", error);
    }
    if (trace) {
        fprintf(stderr, "<< %.*s\n", (int) f->len, (const char *) f->data);
    }
    if (!m.agent_spoke && type != MSG_HELLO) {
        die("the agent spoke before its hello", msg_type_name(type));
    }
    m.agent_spoke = true;
    switch (type) {
    case MSG_DECIDE:
        agent_decide(msg);
        break;
    case MSG_HELLO:
    case MSG_FLOW_OPEN:
    case MSG_FLOW_CLOSE:
    case MSG_STATS:
    case MSG_NAMING:
    case MSG_HEARTBEAT:
    case MSG_ERROR:
        break;
    default:
        die("the agent sent a message it does not send",
            msg_type_name(type));
    }
    json_object_put(msg);
}

/* Reads what the agent wrote, and takes its new connection if it made
 * one. */
static void
agent_read(void)
{
    while (m.peer) {
        struct frame f;
        int error = chan_recv(m.peer, &f);
        if (error == EAGAIN) {
            break;
        } else if (error) {
            model_down();
        } else {
            agent_frame(&f);
            free(f.data);
        }
    }
    if (m.ch == M_CLOSING) {
        die("the agent kept a channel after a framing error or a failed "
            "hello", NULL);
    }
    /* accept(2) would make a socket to find nothing, at every step. */
    struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
    int fd = (poll(&pfd, 1, 0) == 1
              ? accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)
              : -1);
    if (fd >= 0) {
        if (m.peer) {
            die("the agent opened a second channel", NULL);
        }
        m.peer = chan_create(fd, 0, 0);
        m.ch = M_HELLO;
        m.agent_spoke = false;
        frame_decoder_init(&m.mirror, 0);
        agent_read();
    }
}

/* ---- What reaches the guest's syslog and the users' terminals. */

/* The length of a control character at 's' (C0, DEL, C1, the
 * bidirectional controls and the line separators), 0 if there is none. */
static size_t
control_at(const uint8_t *s, size_t n)
{
    if (s[0] < 0x20 || s[0] == 0x7f) {
        return 1;
    }
    if (n >= 2 && ((s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
                   || (s[0] == 0xd8 && s[1] == 0x9c))) {
        return 2;
    }
    if (n >= 3 && s[0] == 0xe2
        && ((s[1] == 0x80 && (s[2] == 0x8e || s[2] == 0x8f
                              || (s[2] >= 0xa8 && s[2] <= 0xae)))
            || (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9))) {
        return 3;
    }
    return 0;
}

static void
check_text(const char *where, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (control_at(s + i, n - i)) {
            fprintf(stderr, "fuzz-agent: %s got %.*s\n", where, (int) n, s);
            die("a control character reached", where);
        }
    }
}

static void
check_notices(void)
{
    uint8_t buf[65536];
    ssize_t n;
    while ((n = recv(syslog_fd, buf, sizeof buf, 0)) > 0) {
        check_text("syslog", buf, n);
    }
    static const char head[] = "\r\nappfw: ";
    size_t hl = sizeof head - 1;
    while ((n = read(tty_fd, buf, sizeof buf)) > 0) {
        /* notify.c writes each notice as head, text, CR LF. */
        for (size_t i = 0; i < (size_t) n;) {
            const uint8_t *end = ((size_t) n - i < hl ? NULL
                                  : memmem(buf + i + hl, n - i - hl, "\r\n",
                                           2));
            if (!end || memcmp(buf + i, head, hl)) {
                fprintf(stderr, "fuzz-agent: %.*s\n", (int) n, buf);
                die("a notice on a terminal not as notify.c writes one",
                    NULL);
            }
            check_text("a terminal", buf + i + hl, end - (buf + i + hl));
            i = end + 2 - buf;
        }
    }
}

/* ---- Oracles, after each step. */

static bool
answered(const struct mpacket *p, int step, bool allow)
{
    for (size_t i = 0; i < m.n_answers; i++) {
        const struct answer *a = &m.answers[i];
        if (a->allow != allow || a->step < p->queued_step
            || a->step > step) {
            continue;
        }
        for (int j = 0; j < p->n_apps; j++) {
            struct mkey k = mkey(p->apps[j], p->uid, p->event, p->protocol,
                                 p->direction, p->family, p->remote,
                                 p->ports[0]);
            if (mkey_equal(&k, &a->key)) {
                return true;
            }
        }
    }
    return false;
}

static bool
cached(const struct mpacket *p)
{
    for (int j = 0; j < p->n_apps; j++) {
        struct mkey k = mkey(p->apps[j], p->uid, p->event, p->protocol,
                             p->direction, p->family, p->remote,
                             p->ports[0]);
        if (cache_allows(&k)) {
            return true;
        }
    }
    return false;
}

/* Whether the last policy_push allows 'p', as the application the agent
 * may have seen or as an unknown one. */
static bool
policy_allows(const struct mpacket *p)
{
    if (!m.policy) {
        return false;
    }
    for (int j = 0; j <= p->n_apps; j++) {
        const struct fake_exe *e = (j < p->n_apps ? fake_exe(p->apps[j])
                                    : NULL);
        for (int k = 0; k < p->n_ports; k++) {
            struct lpolicy_event ev = {
                .sha256 = e ? e->sha256 : NULL, .name = e ? e->name : NULL,
                .uid = p->uid, .event = p->event, .protocol = p->protocol,
                .direction = p->direction, .family = p->family,
                .port = p->ports[k],
            };
            memcpy(ev.addr, p->remote, 16);
            if (lpolicy_eval(m.policy, &ev, NULL)) {
                return true;
            }
        }
    }
    return false;
}

/* Whether socket 's' could take inbound packet 'p' instead of 'p''s own
 * socket: not connected, on its port, at its address or the wildcard (an
 * IPv6 one also for IPv4, or the address mapped). */
static bool
could_take(const struct fake_sock *s, const struct mpacket *p)
{
    static const uint8_t any[16];
    uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
    memcpy(mapped + 12, p->local, 4);
    return (s->live && s->listener && s->protocol == p->protocol
            && s->local_port == p->local_port
            && (s->family == p->family
                ? (!memcmp(s->local, any, 16)
                   || !memcmp(s->local, p->local, 16))
                : (p->family == AF_INET && s->family == AF_INET6
                   && (!memcmp(s->local, any, 16)
                       || !memcmp(s->local, mapped, 16)))));
}

/* Whether a socket of another application (executable as the hooks saw
 * it) or user, or of one the hooks never saw, could take 'p'. */
static bool
shared_with_other(const struct mpacket *p)
{
    if (!p->shared
        || (p->protocol == IPPROTO_UDP && !fake_sock(p->sock)->live)) {
        /* A closed UDP socket: nothing, or a socket the target did not
         * share on IPv4, takes it; the agent's lookup says which. */
        return false;
    }
    const struct fake_proc *own = fake_proc(p->owner);
    for (size_t i = 0; i < m.n_shares; i++) {
        const struct fake_proc *other = fake_proc(m.shares[i].owner);
        if (could_take(fake_sock(m.shares[i].sock), p)
            && (!own || !other || other->uid != own->uid
                || other->event_exe != own->event_exe)) {
            return true;
        }
    }
    return false;
}

/* Whether the fail mode allows 'p' as an unknown application's. */
static bool
policy_allows_unknown(const struct mpacket *p)
{
    struct mpacket unknown = *p;
    unknown.n_apps = 0;
    return policy_allows(&unknown);
}

static void
check_packet(const struct mpacket *p)
{
    const struct fake_packet *fp = fake_nfq_packet(p->id);
    if (trace && fp->verdict != FAKE_NONE && fp->step == m.step) {
        fprintf(stderr, "packet %"PRIu32": %s\n", p->id,
                fp->verdict == FAKE_ACCEPT ? "accept" : "reject");
    }
    if (fp->verdict != FAKE_ACCEPT || fp->step != m.step) {
        return;
    }
    bool ok;
    if (p->never) {
        ok = false;
    } else if (shared_with_other(p)) {
        ok = (m.mode == FAIL_OPEN
              || (m.mode == FAIL_CACHED && policy_allows_unknown(p)));
    } else {
        ok = (p->later_fragment || m.mode == FAIL_OPEN
              || (m.mode == FAIL_CACHED && policy_allows(p))
              || answered(p, m.step, true)
              || (p->queued_step == m.step && cached(p)));
    }
    if (!ok) {
        char what[64];
        snprintf(what, sizeof what, "packet %"PRIu32" in step %d",
                 p->id, m.step);
        die("a packet accepted that nothing allowed", what);
    }
}

static bool
same_verdict_key(const struct afw_verdict_key *k, const struct answer *a)
{
    const struct mkey *q = &a->key;
    if (q->app >= 0
        && memcmp(&k->exe, &fake_exe(q->app)->version, sizeof k->exe)) {
        return false;
    }
    int event = (q->event == VC_CONNECT ? AFW_EV_CONNECT
                 : q->event == VC_SEND ? AFW_EV_SEND
                 : q->event == VC_LISTEN ? AFW_EV_LISTEN : -1);
    bool udp_connect = (q->event == VC_SEND && q->protocol == IPPROTO_UDP
                        && k->event == AFW_EV_CONNECT);
    return ((k->event == event || udp_connect) && k->uid == q->uid
            && k->protocol == q->protocol && k->family == q->family
            && !memcmp(k->addr, q->addr, 16) && k->port == q->port);
}

static void
check_kernel(void)
{
    for (size_t i = 0; i < fake_n_kverdicts(); i++) {
        const struct fake_kverdict *v = fake_kverdict(i);
        bool ok = false;
        for (size_t j = 0; v->step == m.step && !ok && j < m.n_answers;
             j++) {
            const struct answer *a = &m.answers[j];
            ok = (a->step == m.step && a->allow == v->allow && a->ttl
                  && v->ttl_ms == 1000ULL * a->ttl
                  && same_verdict_key(&v->key, a));
        }
        if (v->step == m.step && !ok) {
            die("a verdict in the kernel's cache the host did not give",
                v->allow ? "allow" : "deny");
        }
    }
    if (m.flush_step == m.step && fake_last_flush_step() != m.step) {
        die("a new policy version left the kernel's cache", NULL);
    }
    for (size_t i = 0; i < fake_n_udp_notes(); i++) {
        const struct fake_udp_note *n = fake_udp_note(i);
        bool ok = n->step != m.step;
        for (size_t j = 0; !ok && j < m.n_pkts; j++) {
            const struct mpacket *p = &m.pkts[j];
            const struct fake_packet *fp = fake_nfq_packet(p->id);
            ok = (fp->verdict == FAKE_ACCEPT && fp->step == m.step
                  && p->protocol == IPPROTO_UDP && n->family == p->family
                  && n->inbound == (p->direction == VCACHE_INBOUND)
                  && !memcmp(n->local, p->local, 16)
                  && !memcmp(n->remote, p->remote, 16)
                  && n->local_port == p->local_port
                  && n->remote_port == p->remote_port);
        }
        if (!ok) {
            die("a UDP flow noted for no datagram accepted", NULL);
        }
    }
}

static void
check_step(void)
{
    for (size_t i = 0; i < m.n_pkts; i++) {
        check_packet(&m.pkts[i]);
    }
    check_kernel();
    char *status = agent_status(m.agent);
    const char *p = strstr(status, " pending=");
    size_t pending = p ? strtoul(p + 9, NULL, 10) : SIZE_MAX;
    if (pending != n_open()) {
        fprintf(stderr, "fuzz-agent: %zu questions open, agent: %s\n",
                n_open(), status);
        die("the agent's open questions are not the host's", NULL);
    }
    free(status);
    check_notices();
}

/* ---- Steps. */

static void
run(int times)
{
    for (int i = 0; i < times; i++) {
        agent_run(m.agent);
    }
    agent_read();
    /* The agent takes its late verdicts last in a pass: a question it asks
     * in the pass sees those still open. */
    for (size_t i = 0; i < m.n_qs; i++) {
        if (m.qs[i].asked_ms + TIMEOUT_MS <= fake_clock_ms()) {
            m.qs[i].open = false;
        }
    }
    check_step();
}

enum kind { K_TCP, K_UDP, K_PING, K_SCTP, K_FRAG, K_BAD };

static enum kind
parse_kind(const char *s)
{
    static const char *const names[] = { "tcp", "udp", "ping", "sctp",
                                         "frag", "bad" };
    for (size_t i = 0; s && i < ARRAY_SIZE(names); i++) {
        if (!strcmp(s, names[i])) {
            return i;
        }
    }
    return K_TCP;
}

static long long
arg(char **save, long long lo, long long hi)
{
    const char *s = strtok_r(NULL, " ", save);
    long long v = s ? strtoll(s, NULL, 0) : 0;
    return v < lo ? lo : v > hi ? hi : v;
}

static void
put16(uint8_t *p, unsigned int v)
{
    p[0] = v >> 8;
    p[1] = v;
}

/* An IP packet of 'kind' from 'src':'sport' to 'dst':'dport'.  Returns
 * its length. */
static size_t
build_packet(uint8_t *buf, enum kind kind, int family, const uint8_t *src,
             uint16_t sport, const uint8_t *dst, uint16_t dport)
{
    static const uint8_t proto[] = {
        [K_TCP] = IPPROTO_TCP, [K_UDP] = IPPROTO_UDP, [K_PING] = 0,
        [K_SCTP] = IPPROTO_SCTP, [K_FRAG] = IPPROTO_TCP, [K_BAD] = 0,
    };
    static const size_t l4_len[] = {
        [K_TCP] = 20, [K_UDP] = 8, [K_PING] = 8, [K_SCTP] = 12,
        [K_FRAG] = 20, [K_BAD] = 0,
    };
    memset(buf, 0, NFQ_COPY_RANGE);
    size_t l3;
    uint8_t p = (kind == K_PING ? (family == AF_INET ? IPPROTO_ICMP
                                   : IPPROTO_ICMPV6)
                 : proto[kind]);
    if (kind == K_BAD) {
        buf[0] = 0x70;
        return 24;
    } else if (family == AF_INET) {
        l3 = 20;
        buf[0] = 0x45;
        put16(buf + 2, l3 + l4_len[kind]);
        put16(buf + 6, kind == K_FRAG ? 185 : 0x4000);
        buf[8] = 64;
        buf[9] = p;
        memcpy(buf + 12, src, 4);
        memcpy(buf + 16, dst, 4);
    } else {
        l3 = 40;
        buf[0] = 0x60;
        buf[6] = p;
        buf[7] = 64;
        memcpy(buf + 8, src, 16);
        memcpy(buf + 24, dst, 16);
        if (kind == K_FRAG) {
            buf[6] = 44;
            buf[40] = IPPROTO_TCP;
            put16(buf + 42, 185 << 3);
            l3 += 8;
        }
        put16(buf + 4, l3 - 40 + l4_len[kind]);
    }
    uint8_t *l4 = buf + l3;
    if (kind == K_PING) {
        l4[0] = family == AF_INET ? 8 : 128;
        put16(l4 + 4, sport);
        put16(l4 + 6, 1);
    } else {
        put16(l4, sport);
        put16(l4 + 2, dport);
        if (kind == K_TCP || kind == K_FRAG) {
            l4[12] = 0x50;
            l4[13] = 0x02;          /* SYN */
        }
    }
    return l3 + l4_len[kind];
}

/* Where the kernel says packet 'p''s socket is: HOW of the script. */
static void
place_socket(struct mpacket *p, enum kind kind, int proc, int how)
{
    const struct fake_proc *fp = fake_proc(proc);
    if (!fp) {
        how = 3;
    }
    uint64_t cookie = m.next_cookie++;
    uint32_t inode = m.next_inode++;
    bool tracked = kind == K_TCP || kind == K_UDP;
    if (kind == K_PING) {
        if (how <= 2 && p->direction == VCACHE_OUTBOUND) {
            fake_ping_add(p->family, p->local_port, inode, fp->uid);
            fake_inode_add(inode, fp->pid);
            if (fp->run_exe >= 0) {
                p->apps[p->n_apps++] = fp->run_exe;
            }
        }
        return;
    }
    if (!tracked || (how == 0 && p->direction == VCACHE_INBOUND)) {
        how = tracked ? 1 : 3;
    }
    if (!tracked) {
        return;
    }
    bool inbound = p->direction == VCACHE_INBOUND;
    bool unconnected = how == 6 && inbound && kind == K_UDP;
    if (how == 6 && !unconnected) {
        how = 1;
    }
    struct fake_sock s = {
        .family = p->family, .protocol = p->protocol,
        .local_port = p->local_port,
        .remote_port = unconnected ? 0 : p->remote_port,
        .listener = unconnected,
        .error = how == 3 ? ENOENT : how == 4 ? EIO : 0,
        .cookie = cookie, .uid = fp ? fp->uid : 0,
        .inode = how == 2 ? inode : 0,
        .live = how <= 2 || how == 5 || how == 6,
    };
    memcpy(s.local, p->local, 16);
    if (!unconnected) {
        memcpy(s.remote, p->remote, 16);
    }
    size_t index = fake_sock_add(&s);
    p->sock = index;
    p->shared = inbound && (kind == K_TCP || unconnected);
    if (how <= 1 || how == 6) {
        p->owner = proc;
        if (unconnected) {
            /* It may take the next packets to its port too. */
            struct mshare sh = { .sock = index, .owner = proc };
            PUSH(m.shares, m.n_shares, m.allocated_shares, sh);
        }
        struct afw_owner o = fake_owner(proc);
        fake_owner_add(cookie, &o);
        if (how == 0) {
            struct afw_flow_key fk = {
                .family = p->family, .protocol = p->protocol,
                .local_port = p->local_port, .remote_port = p->remote_port,
            };
            memcpy(fk.remote, p->remote, 16);
            struct afw_flow f = { .cookie = cookie, .owner = o };
            fake_flow_add(&fk, &f);
        }
        p->apps[p->n_apps++] = fp->event_exe;
        if (fp->run_exe != fp->event_exe) {
            /* Judged as what it ran at the call, or unknown if the agent
             * never saw that. */
            p->apps[p->n_apps++] = FAKE_EXE_UNKNOWN;
        }
    } else if (how == 2) {
        fake_inode_add(inode, fp->pid);
        if (fp->run_exe >= 0) {
            p->apps[p->n_apps++] = fp->run_exe;
        }
    }
    struct mconn c = {
        .sock = index, .protocol = p->protocol, .family = p->family,
        .local_port = p->local_port, .remote_port = p->remote_port,
        .cookie = cookie,
    };
    memcpy(c.local, p->local, 16);
    memcpy(c.remote, p->remote, 16);
    PUSH(m.conns, m.n_conns, m.allocated_conns, c);
}

static void
step_packet(bool inbound, char **save)
{
    enum kind kind = parse_kind(strtok_r(NULL, " ", save));
    int proc = arg(save, 0, FAKE_N_PROCS);
    int peer = arg(save, 0, LLONG_MAX) % ARRAY_SIZE(peers);
    uint16_t port = arg(save, 0, 65535);
    int how = arg(save, 0, 6);
    const struct fake_proc *fp = fake_proc(proc);

    int family = peers[peer].family;
    const uint8_t *local = family == AF_INET ? local4 : local6;
    uint16_t ephemeral = 32768 + m.next_port++ % 28000;
    struct mpacket p = {
        .queued_step = m.step,
        .uid = fp ? fp->uid : NOBODY,
        .direction = inbound ? VCACHE_INBOUND : VCACHE_OUTBOUND,
        .family = family,
        .local_port = inbound ? port : ephemeral,
        .remote_port = inbound ? ephemeral : port,
        .n_ports = 1,
    };
    memcpy(p.local, local, 16);
    memcpy(p.remote, peers[peer].addr, 16);
    p.protocol = (kind == K_UDP ? IPPROTO_UDP
                  : kind == K_SCTP ? IPPROTO_SCTP
                  : kind == K_PING ? (family == AF_INET ? IPPROTO_ICMP
                                      : IPPROTO_ICMPV6)
                  : IPPROTO_TCP);
    bool tcp_udp = kind == K_TCP || kind == K_UDP;
    p.event = (inbound ? VC_ACCEPT : kind == K_TCP ? VC_CONNECT : VC_SEND);
    p.ports[0] = inbound ? p.local_port : p.remote_port;
    p.never = kind == K_BAD || (kind == K_FRAG && family == AF_INET)
              || (tcp_udp && !port);
    p.later_fragment = kind == K_FRAG && family == AF_INET6;
    if (kind == K_PING) {
        /* An echo's identifier stands for the local port; its question
         * has remote port 0, the fail mode sees the identifier. */
        p.remote_port = p.local_port;
        p.ports[0] = 0;
        p.ports[p.n_ports++] = p.local_port;
    } else if (kind == K_SCTP) {
        /* The agent reads no ports of other protocols: 0 for the fail
         * mode. */
        p.ports[0] = 0;
    }
    place_socket(&p, kind, proc, how);

    struct nfq_packet pkt = {
        .hook = inbound ? NF_INET_LOCAL_IN : NF_INET_LOCAL_OUT,
        .family = family, .has_uid = true, .uid = p.uid,
        .gid = fp ? fp->gid : NOBODY, .indev = inbound ? 2 : 0,
        .outdev = inbound ? 0 : 2,
    };
    pkt.len = (inbound
               ? build_packet(pkt.data, kind, family, p.remote,
                              p.remote_port, p.local, p.local_port)
               : build_packet(pkt.data, kind, family, p.local, p.local_port,
                              p.remote, p.remote_port));
    p.id = fake_nfq_queue(&pkt);
    PUSH(m.pkts, m.n_pkts, m.allocated_pkts, p);
}

static void
record_conn(struct afw_record *r, const struct mconn *c)
{
    r->protocol = c->protocol;
    r->cookie = c->cookie;
    r->family = c->family;
    memcpy(r->addr, c->remote, 16);
    memcpy(r->local_addr, c->local, 16);
    r->port = c->remote_port;
    r->local_port = c->local_port;
}

/* A connect() the kernel decided from its cache: with its owner (unless
 * that report was lost), then its SYN's. */
static void
step_cached(char **save)
{
    int proc = arg(save, 0, FAKE_N_PROCS);
    int peer = arg(save, 0, LLONG_MAX) % ARRAY_SIZE(peers);
    uint16_t port = arg(save, 1, 65535);
    struct mconn c = {
        .protocol = IPPROTO_TCP, .family = peers[peer].family,
        .local_port = 32768 + m.next_port++ % 28000, .remote_port = port,
        .cookie = m.next_cookie++,
    };
    memcpy(c.local, c.family == AF_INET ? local4 : local6, 16);
    memcpy(c.remote, peers[peer].addr, 16);
    const struct fake_proc *fp = fake_proc(proc);
    struct fake_sock s = {
        .family = c.family, .protocol = IPPROTO_TCP,
        .local_port = c.local_port, .remote_port = port,
        .cookie = c.cookie, .uid = fp ? fp->uid : NOBODY,
        .inode = m.next_inode++, .live = true,
    };
    memcpy(s.local, c.local, 16);
    memcpy(s.remote, c.remote, 16);
    c.sock = fake_sock_add(&s);
    if (fp) {
        fake_inode_add(s.inode, fp->pid);
        struct afw_record r = {
            .type = AFW_REC_CACHED_CONNECT, .protocol = IPPROTO_TCP,
            .cookie = c.cookie, .owner = fake_owner(proc),
            .family = c.family, .port = port,
        };
        memcpy(r.addr, c.remote, 16);
        fake_record_push(&r);
    }
    struct afw_record r = { .type = AFW_REC_CACHED_ALLOW };
    record_conn(&r, &c);
    fake_record_push(&r);
    PUSH(m.conns, m.n_conns, m.allocated_conns, c);
}

static void
step_close(char **save)
{
    if (!m.n_conns) {
        return;
    }
    const struct mconn *c = &m.conns[arg(save, 0, LLONG_MAX) % m.n_conns];
    fake_sock_close(c->sock);
    if (c->protocol == IPPROTO_TCP) {
        struct afw_record r = {
            .type = AFW_REC_CLOSE, .bytes_in = 5000, .bytes_out = 300,
            .segs_in = 7, .segs_out = 5,
        };
        record_conn(&r, c);
        fake_record_push(&r);
    }
}

static void
step_bind(char **save)
{
    int proc = arg(save, 1, FAKE_N_PROCS);
    const char *proto = strtok_r(NULL, " ", save);
    struct afw_record r = {
        .type = AFW_REC_BIND,
        .protocol = proto && !strcmp(proto, "udp") ? IPPROTO_UDP
                                                   : IPPROTO_TCP,
        .cookie = m.next_cookie++, .owner = fake_owner(proc),
        .port = arg(save, 1, 65535),
    };
    r.family = r.port & 1 ? AF_INET6 : AF_INET;
    fake_record_push(&r);
}

/* A socket other programs' packets may reach: "share". */
static void
step_share(char **save)
{
    int proc = arg(save, 0, FAKE_N_PROCS);
    const char *proto = strtok_r(NULL, " ", save);
    uint16_t port = arg(save, 1, 65535);
    int at = arg(save, 0, 5);
    static const uint8_t other4[16] = { 10, 77, 0, 99 };
    static const uint8_t any[16];
    uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
    memcpy(mapped + 12, local4, 4);
    const uint8_t *addrs[] = { any, any, local4, local6, mapped, other4 };
    const struct fake_proc *fp = fake_proc(proc);
    struct fake_sock s = {
        .family = at == 0 || at == 2 || at == 5 ? AF_INET : AF_INET6,
        .protocol = proto && !strcmp(proto, "udp") ? IPPROTO_UDP
                                                   : IPPROTO_TCP,
        .local_port = port, .listener = true,
        .cookie = m.next_cookie++, .uid = fp ? fp->uid : NOBODY,
        .live = true,
    };
    memcpy(s.local, addrs[at], 16);
    struct mshare sh = { .sock = fake_sock_add(&s), .owner = fp ? proc : 0 };
    if (fp) {
        struct afw_owner o = fake_owner(proc);
        fake_owner_add(s.cookie, &o);
    }
    PUSH(m.shares, m.n_shares, m.allocated_shares, sh);
    struct mconn c = {
        .sock = sh.sock, .protocol = s.protocol, .family = s.family,
        .local_port = port, .cookie = s.cookie,
    };
    memcpy(c.local, s.local, 16);
    PUSH(m.conns, m.n_conns, m.allocated_conns, c);
}

static int
hex_value(int c)
{
    return (c >= '0' && c <= '9' ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1);
}

static void
step_raw(const char *hex)
{
    size_t n = 0;
    uint8_t *bytes = xmalloc(strlen(hex) / 2 + 1);
    for (const char *p = hex; p[0] && p[1]; p += 2) {
        int hi = hex_value(p[0]), lo = hex_value(p[1]);
        if (hi < 0 || lo < 0) {
            break;
        }
        bytes[n++] = hi << 4 | lo;
    }
    host_send(bytes, n);
    free(bytes);
}

/* One line of the script. */
static void
step(char *line, size_t len)
{
    m.step++;
    fake_set_step(m.step);
    m.host_frames = 0;
    if (trace) {
        fprintf(stderr, "step %d: %s\n", m.step, line);
    }
    if (line[0] == '{') {
        host_send_frame(line, len);
        run(1);
        return;
    }
    char *save;
    const char *word = strtok_r(line, " ", &save);
    if (!word) {
        return;
    } else if (!strcmp(word, "raw")) {
        const char *hex = strtok_r(NULL, " ", &save);
        step_raw(hex ? hex : "");
    } else if (!strcmp(word, "out") || !strcmp(word, "in")) {
        step_packet(word[0] == 'i', &save);
    } else if (!strcmp(word, "bind")) {
        step_bind(&save);
    } else if (!strcmp(word, "share")) {
        step_share(&save);
    } else if (!strcmp(word, "cached")) {
        step_cached(&save);
    } else if (!strcmp(word, "close")) {
        step_close(&save);
    } else if (!strcmp(word, "wait")) {
        fake_clock_advance(arg(&save, 0, 600000));
    } else if (!strcmp(word, "drop")) {
        if (m.peer) {
            model_down();
        }
    } else {
        return;
    }
    /* The agent takes at most 256 frames a pass. */
    run(1 + m.host_frames / 256);
}

/* "mode" and "saved" lines, before the agent starts.  Returns false for
 * any other line. */
static bool
prelude(char *line)
{
    if (!strncmp(line, "mode ", 5)) {
        const char *mode = line + 5;
        m.mode = (!strcmp(mode, "open") ? FAIL_OPEN
                  : !strcmp(mode, "cached") ? FAIL_CACHED : FAIL_CLOSED);
        return true;
    } else if (!strncmp(line, "saved ", 6)) {
        FILE *f = fopen(policy_path, "w");
        if (!f || fputs(line + 6, f) < 0 || fclose(f)) {
            die(policy_path, strerror(errno));
        }
        return true;
    }
    return false;
}

static void
start(void)
{
    char *error = NULL;
    struct json_object *saved = NULL;
    m.policy = lpolicy_load(policy_path, &saved, &error);
    json_object_put(saved);
    if (m.policy && !error) {
        policy_version(lpolicy_version(m.policy));
    }
    free(error);
    cfg.fail_mode = m.mode;
    m.agent = agent_create(&cfg, &error);
    if (!m.agent) {
        die("agent_create", error);
    }
    run(1);
}

static void
finish(void)
{
    /* Every question left is now late, and each packet has its verdict. */
    m.step++;
    fake_set_step(m.step);
    fake_clock_advance(TIMEOUT_MS + 1);
    run(1);
    for (size_t i = 0; i < m.n_pkts; i++) {
        if (fake_nfq_packet(m.pkts[i].id)->verdict == FAKE_NONE) {
            char what[32];
            snprintf(what, sizeof what, "packet %"PRIu32, m.pkts[i].id);
            die("a packet never decided", what);
        }
    }
    agent_destroy(m.agent);
    if (m.peer) {
        model_down();
    }
    int fd;
    while ((fd = accept(listen_fd, NULL, NULL)) >= 0) {
        close(fd);
    }
    check_notices();
    lpolicy_destroy(m.policy);
    free(m.qs);
    free(m.answers);
    free(m.cache);
    free(m.pkts);
    free(m.conns);
    free(m.shares);
    unlink(policy_path);
    /* Nothing of this input is left for the next (nor for libFuzzer's
     * leak check, which runs when an input ends with more allocations than
     * it began). */
    fake_reset(0, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&m, 0, sizeof m);
    m.flush_step = -1;
    m.next_cookie = 0x10000;
    m.next_inode = 50000;
    fake_reset(START_MS, REJECT_MARK);
    unlink(policy_path);

    const char *p = (const char *) data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        size_t len = (nl ? nl : end) - p;
        char *line = xmalloc(len + 1);
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + 1;
        if (!m.agent && prelude(line)) {
            free(line);
            continue;
        }
        if (!m.agent) {
            start();
        }
        if (len) {
            step(line, len);
        }
        free(line);
    }
    if (!m.agent) {
        start();
    }
    finish();
    return 0;
}
