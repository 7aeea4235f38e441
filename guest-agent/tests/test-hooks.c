/* Tests of guest-agent/hooks.c against the running kernel: the eBPF
 * programs attached to a test cgroup, exercised by child processes that
 * join it.  Needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN) and cgroup v2;
 * it fails, it does not skip, without them.
 *
 * Each child joins the test cgroup and a network namespace of its own with
 * 10.99.0.1 and fd00:99::1 on its loopback device (appfw ignores only
 * 127.0.0.0/8 and ::1), then tries one call.  A call the hooks let through
 * to a port nobody listens on fails with ECONNREFUSED; one they refuse
 * fails with EPERM before the transport layer.
 *
 * The test itself runs in a network namespace of its own, the "agent's",
 * with 10.99.1.1/24 on a veth device: the UDP datagrams that children send
 * out of it, from there or from a namespace of their own, show which UDP
 * flows the programs note for the agent's netfilter rules. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "guest-agent/hooks.h"

/* <linux/fs.h>'s, which does not go with <sys/mount.h>. */
#ifndef FS_IOC_GETVERSION
#define FS_IOC_GETVERSION _IOR('v', 1, long)
#endif

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

static char tmpdir[] = "/tmp/appfw-test-hooks.XXXXXX";
static char *bpffs;             /* A private bpffs mount. */
static char *pin_dir;
static char *cgroup;            /* The test cgroup. */

/* Where cgroup v2 is mounted, from /proc/mounts. */
static char *
cgroup2_root(void)
{
    FILE *f = fopen("/proc/mounts", "r");
    assert_non_null(f);
    char dev[256], dir[1024], type[64];
    char *root = NULL;
    while (fscanf(f, "%255s %1023s %63s %*[^\n]", dev, dir, type) == 3) {
        if (!strcmp(type, "cgroup2")) {
            root = xstrdup(dir);
            break;
        }
    }
    fclose(f);
    return root;
}

/* A veth device with 10.99.1.1/24 and a neighbour 10.99.1.2 that never
 * answers, in the current network namespace. */
#define VETH_SETUP "ip link add afwv0 type veth peer name afwv1 && " \
    "ip link set afwv0 up && ip link set afwv1 up && " \
    "ip addr add 10.99.1.1/24 dev afwv0 && " \
    "ip neigh add 10.99.1.2 lladdr 02:00:00:00:00:02 dev afwv0"

static int
setup(void **state)
{
    (void) state;
    if (unshare(CLONE_NEWNET) || system(VETH_SETUP)) {
        fprintf(stderr, "the test's network namespace: %s\n",
                strerror(errno));
        return -1;
    }
    if (!mkdtemp(tmpdir)) {
        return -1;
    }
    bpffs = xasprintf("%s/bpffs", tmpdir);
    pin_dir = xasprintf("%s/appfw", bpffs);
    if (mkdir(bpffs, 0700) || mount("bpf", bpffs, "bpf", 0, NULL)) {
        fprintf(stderr, "mounting bpffs on %s: %s\n", bpffs,
                strerror(errno));
        return -1;
    }
    char *root = cgroup2_root();
    if (!root) {
        fprintf(stderr, "no cgroup v2 mount\n");
        return -1;
    }
    cgroup = xasprintf("%s/appfw-test-hooks-%d", root, (int) getpid());
    free(root);
    if (mkdir(cgroup, 0755)) {
        fprintf(stderr, "%s: %s\n", cgroup, strerror(errno));
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    if (pin_dir) {
        hooks_remove(pin_dir);
    }
    for (int i = 0; cgroup && rmdir(cgroup) && errno == EBUSY && i < 50;
         i++) {
        usleep(20 * 1000);      /* Children just reaped may linger. */
    }
    if (bpffs && umount(bpffs)) {
        fprintf(stderr, "umount %s: %s (detaching it)\n", bpffs,
                strerror(errno));
        umount2(bpffs, MNT_DETACH);
    }
    if (bpffs) {
        rmdir(bpffs);
    }
    rmdir(tmpdir);
    free(cgroup);
    free(pin_dir);
    free(bpffs);
    return 0;
}

enum op {
    OP_TCP4,
    OP_TCP6,
    OP_UDP4,
    OP_BIND4,
    OP_TCP4_DATA,               /* Connect to its own listener, send 100
                                 * bytes, close. */
    OP_TCP4_AGAIN,              /* Connect to 'port', then, on the same
                                 * socket, to 'port' + 1. */
    OP_UDP4_OUT,                /* From the test's namespace, send one
                                 * datagram from 10.99.1.1:4091 to
                                 * 10.99.1.2:port. */
    OP_UDP4_OUT_ELSEWHERE,      /* The same, from a namespace of its own
                                 * with the same addresses. */
};

struct result {
    int error;                  /* errno of the call, 0 if it succeeded */
    uint64_t cookie;
    uint32_t mark;
    uint16_t local_port;        /* The socket's, after the call. */
};

static int
enter_netns(enum op op)
{
    if (op == OP_UDP4_OUT) {
        return 0;
    }
    if (unshare(CLONE_NEWNET)) {
        return -1;
    }
    if (op == OP_UDP4_OUT_ELSEWHERE) {
        return system(VETH_SETUP);
    }
    return system("ip link set lo up && ip addr add 10.99.0.1/32 dev lo"
                  " && ip -6 addr add fd00:99::1/128 dev lo nodad");
}

/* Runs 'op' in a child in the test cgroup and returns what happened. */
static struct result
run_child(enum op op, uint16_t port)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        struct result r = { .error = -1 };
        char *procs = xasprintf("%s/cgroup.procs", cgroup);
        FILE *f = fopen(procs, "w");
        if (!f || fprintf(f, "0\n") < 0 || fclose(f) || enter_netns(op)) {
            if (write(p[1], &r, sizeof r) < 0) {
                _exit(2);
            }
            _exit(1);
        }
        int family = op == OP_TCP6 ? AF_INET6 : AF_INET;
        bool udp = (op == OP_UDP4 || op == OP_UDP4_OUT
                    || op == OP_UDP4_OUT_ELSEWHERE);
        int fd = socket(family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
        struct sockaddr_in sin = {
            .sin_family = AF_INET, .sin_port = htons(port),
        };
        inet_pton(AF_INET, "10.99.0.1", &sin.sin_addr);
        struct sockaddr_in6 sin6 = {
            .sin6_family = AF_INET6, .sin6_port = htons(port),
        };
        inet_pton(AF_INET6, "fd00:99::1", &sin6.sin6_addr);
        int rc;
        switch (op) {
        case OP_TCP4:
            rc = connect(fd, (struct sockaddr *) &sin, sizeof sin);
            break;
        case OP_TCP4_AGAIN:
            /* A connect that failed leaves the socket free to connect
             * again. */
            connect(fd, (struct sockaddr *) &sin, sizeof sin);
            sin.sin_port = htons(port + 1);
            rc = connect(fd, (struct sockaddr *) &sin, sizeof sin);
            break;
        case OP_TCP6:
            rc = connect(fd, (struct sockaddr *) &sin6, sizeof sin6);
            break;
        case OP_UDP4:
            rc = sendto(fd, "x", 1, 0, (struct sockaddr *) &sin, sizeof sin);
            rc = rc < 0 ? -1 : 0;
            break;
        case OP_TCP4_DATA: {
            int lfd = socket(AF_INET, SOCK_STREAM, 0);
            char data[100] = { 0 };
            rc = (bind(lfd, (struct sockaddr *) &sin, sizeof sin)
                  || listen(lfd, 1)
                  || connect(fd, (struct sockaddr *) &sin, sizeof sin));
            int afd = rc ? -1 : accept(lfd, NULL, NULL);
            rc = (afd < 0 || send(fd, data, sizeof data, 0) != sizeof data
                  || recv(afd, data, sizeof data, MSG_WAITALL)
                     != sizeof data);
            if (afd >= 0) {
                close(afd);
            }
            close(lfd);
            break;
        }
        case OP_UDP4_OUT:
        case OP_UDP4_OUT_ELSEWHERE: {
            struct sockaddr_in local = {
                .sin_family = AF_INET, .sin_port = htons(4091),
            };
            inet_pton(AF_INET, "10.99.1.1", &local.sin_addr);
            inet_pton(AF_INET, "10.99.1.2", &sin.sin_addr);
            rc = (bind(fd, (struct sockaddr *) &local, sizeof local)
                  || sendto(fd, "x", 1, 0, (struct sockaddr *) &sin,
                            sizeof sin) != 1);
            break;
        }
        case OP_BIND4:
        default:
            rc = bind(fd, (struct sockaddr *) &sin, sizeof sin);
            break;
        }
        r.error = rc ? errno : 0;
        socklen_t len = sizeof r.cookie;
        getsockopt(fd, SOL_SOCKET, SO_COOKIE, &r.cookie, &len);
        len = sizeof r.mark;
        getsockopt(fd, SOL_SOCKET, SO_MARK, &r.mark, &len);
        struct sockaddr_in name;
        len = sizeof name;
        if (family == AF_INET
            && !getsockname(fd, (struct sockaddr *) &name, &len)) {
            r.local_port = ntohs(name.sin_port);
        }
        if (op == OP_TCP4_DATA) {
            close(fd);
        }
        _exit(write(p[1], &r, sizeof r) == sizeof r ? 0 : 1);
    }
    close(p[1]);
    struct result r;
    assert_int_equal(read(p[0], &r, sizeof r), sizeof r);
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return r;
}

/* The test's open hooks, closed after each test even if it fails: an
 * open handle keeps the programs attached. */
static struct hooks *cur;

static struct hooks *
open_hooks(void)
{
    char *error;
    cur = hooks_open(cgroup, pin_dir, &error);
    if (!cur) {
        fail_msg("hooks_open: %s", error);
    }
    assert_int_equal(hooks_configure(cur, 0, 0, 0), 0);
    return cur;
}

static void
close_hooks(struct hooks *h)
{
    hooks_close(h);
    cur = NULL;
}

static int
close_current(void **state)
{
    (void) state;
    close_hooks(cur);
    return 0;
}

static struct afw_verdict_key
key_for(const struct afw_owner *o, uint8_t event, uint8_t protocol,
        int family, uint16_t port)
{
    struct afw_verdict_key k;
    memset(&k, 0, sizeof k);
    k.exe = o->exe;
    k.uid = o->uid;
    k.event = event;
    k.protocol = protocol;
    k.family = family;
    k.port = port;
    if (family == AF_INET) {
        inet_pton(AF_INET, "10.99.0.1", k.addr);
    } else {
        inet_pton(AF_INET6, "fd00:99::1", k.addr);
    }
    return k;
}

/* The socket and owner recorded under the flow of a TCP connect to
 * 10.99.0.1:'port' (its SYN's) or a UDP datagram sent there. */
static bool
find_flow(struct hooks *h, int protocol, const struct result *r,
          uint16_t port, struct afw_flow *f)
{
    struct afw_flow_key fk;
    memset(&fk, 0, sizeof fk);
    fk.family = AF_INET;
    fk.protocol = protocol;
    fk.local_port = r->local_port;
    fk.remote_port = port;
    inet_pton(AF_INET, "10.99.0.1", fk.remote);
    return hooks_find_flow(h, &fk, f);
}

/* The owner the hooks recorded for a plain connect. */
static struct afw_owner
learn_owner(struct hooks *h)
{
    struct result r = run_child(OP_TCP4, 4000);
    assert_int_equal(r.error, ECONNREFUSED);
    struct afw_owner o;
    assert_true(hooks_find_owner(h, r.cookie, &o));
    return o;
}

static void
test_owner_recorded(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    struct afw_owner o = learn_owner(h);
    assert_true(o.tgid > 0);
    assert_int_equal(o.uid, getuid());
    assert_int_equal(o.gid, getgid());

    /* The child runs this very program: same executable inode. */
    struct stat st;
    assert_int_equal(stat("/proc/self/exe", &st), 0);
    assert_int_equal(o.exe.ino, st.st_ino);
    assert_true(o.exe.dev != 0);
    /* The version of it: device, change time and generation, as stat(2)
     * and FS_IOC_GETVERSION give them, whatever the kernel's layout. */
    assert_int_equal(makedev(o.exe.dev >> 20, o.exe.dev & 0xfffff),
                     st.st_dev);
    assert_int_equal(o.exe.ctime_sec, st.st_ctim.tv_sec);
    assert_int_equal(o.exe.ctime_nsec, st.st_ctim.tv_nsec);
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    long gen = 0;
    if (fd >= 0 && !ioctl(fd, FS_IOC_GETVERSION, &gen)) {
        assert_int_equal(o.exe.gen, (uint32_t) gen);
    }
    if (fd >= 0) {
        close(fd);
    }
    assert_true(o.comm[0] != '\0');

    /* Under its SYN's flow too, and the same for a UDP datagram. */
    struct result r = run_child(OP_TCP4, 4001);
    struct afw_flow f;
    assert_true(find_flow(h, IPPROTO_TCP, &r, 4001, &f));
    assert_int_equal(f.cookie, r.cookie);
    assert_int_equal(f.owner.exe.ino, o.exe.ino);
    r = run_child(OP_UDP4, 4002);
    assert_int_equal(r.error, 0);
    assert_true(find_flow(h, IPPROTO_UDP, &r, 4002, &f));
    assert_int_equal(f.cookie, r.cookie);

    uint64_t c[AFW_N_COUNTERS];
    hooks_counters(h, c);
    assert_true(c[AFW_C_CALLS] >= 1);
    close_hooks(h);
}

static void
test_cached_deny(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    struct afw_owner o = learn_owner(h);

    struct afw_verdict_key k = key_for(&o, AFW_EV_CONNECT, IPPROTO_TCP,
                                       AF_INET, 4001);
    assert_int_equal(hooks_put_verdict(h, &k, false, 60000), 0);
    assert_int_equal(run_child(OP_TCP4, 4001).error, EPERM);
    /* Only that port. */
    assert_int_equal(run_child(OP_TCP4, 4002).error, ECONNREFUSED);

    /* IPv6 and UDP sends alike. */
    k = key_for(&o, AFW_EV_CONNECT, IPPROTO_TCP, AF_INET6, 4003);
    assert_int_equal(hooks_put_verdict(h, &k, false, 60000), 0);
    assert_int_equal(run_child(OP_TCP6, 4003).error, EPERM);
    k = key_for(&o, AFW_EV_SEND, IPPROTO_UDP, AF_INET, 4004);
    assert_int_equal(hooks_put_verdict(h, &k, false, 60000), 0);
    assert_int_equal(run_child(OP_UDP4, 4004).error, EPERM);
    assert_int_equal(run_child(OP_UDP4, 4005).error, 0);

    /* A listen denial refuses the bind of that port. */
    k = key_for(&o, AFW_EV_LISTEN, IPPROTO_TCP, AF_INET, 4006);
    memset(k.addr, 0, sizeof k.addr);
    assert_int_equal(hooks_put_verdict(h, &k, false, 60000), 0);
    assert_int_equal(run_child(OP_BIND4, 4006).error, EPERM);
    assert_int_equal(run_child(OP_BIND4, 4007).error, 0);

    uint64_t c[AFW_N_COUNTERS];
    hooks_counters(h, c);
    assert_int_equal(c[AFW_C_CACHED_DENY], 4);

    /* Flushed (a new policy version): allowed through again. */
    assert_int_equal(hooks_flush_verdicts(h), 0);
    assert_int_equal(run_child(OP_TCP4, 4001).error, ECONNREFUSED);
    close_hooks(h);
}

static void
test_verdict_expires(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    struct afw_owner o = learn_owner(h);
    struct afw_verdict_key k = key_for(&o, AFW_EV_CONNECT, IPPROTO_TCP,
                                       AF_INET, 4010);
    assert_int_equal(hooks_put_verdict(h, &k, false, 100), 0);
    assert_int_equal(run_child(OP_TCP4, 4010).error, EPERM);
    usleep(200 * 1000);
    assert_int_equal(run_child(OP_TCP4, 4010).error, ECONNREFUSED);
    close_hooks(h);
}

struct records {
    int n;
    struct afw_record first, last;
};

static void
collect(const struct afw_record *r, void *aux)
{
    struct records *rs = aux;
    if (!rs->n++) {
        rs->first = *r;
    }
    rs->last = *r;
}

static void
test_cached_allow_marks(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    assert_int_equal(hooks_configure(h, 0, 0, 0x40000000), 0);
    struct afw_owner o = learn_owner(h);
    struct records rs = { 0 };
    assert_int_equal(hooks_consume(h, collect, &rs), 0);

    struct afw_verdict_key k = key_for(&o, AFW_EV_CONNECT, IPPROTO_TCP,
                                       AF_INET, 4020);
    assert_int_equal(hooks_put_verdict(h, &k, true, 60000), 0);
    struct result r = run_child(OP_TCP4, 4020);
    assert_int_equal(r.error, ECONNREFUSED);
    assert_int_equal(r.mark, 0x40000000);

    /* The connect was reported with its owner, then sock_ops reported
     * its SYN, with the whole 4-tuple; the owner is not recorded under
     * the cookie. */
    rs.n = 0;
    assert_int_equal(hooks_consume(h, collect, &rs), 0);
    assert_int_equal(rs.n, 2);
    assert_int_equal(rs.first.type, AFW_REC_CACHED_CONNECT);
    assert_int_equal(rs.first.cookie, r.cookie);
    assert_int_equal(rs.first.owner.exe.ino, o.exe.ino);
    assert_int_equal(rs.first.port, 4020);
    assert_int_equal(rs.last.type, AFW_REC_CACHED_ALLOW);
    assert_int_equal(rs.last.cookie, r.cookie);
    assert_int_equal(rs.last.port, 4020);
    assert_true(rs.last.local_port != 0);
    assert_int_equal(rs.last.family, AF_INET);
    assert_int_equal(rs.last.addr[0], 10);
    assert_int_equal(rs.last.local_addr[0], 10);
    struct afw_owner none;
    assert_false(hooks_find_owner(h, r.cookie, &none));

    /* Without a cached allow: no mark, and the SYN is recorded under
     * its flow for the agent. */
    r = run_child(OP_TCP4, 4021);
    assert_int_equal(r.mark, 0);
    struct afw_flow f;
    assert_true(find_flow(h, IPPROTO_TCP, &r, 4021, &f));
    assert_int_equal(f.owner.exe.ino, o.exe.ino);

    /* A socket that connects again after a cached allow failed loses the
     * mark, and its second SYN is recorded, not reported. */
    rs.n = 0;
    assert_int_equal(hooks_consume(h, collect, &rs), 0);
    r = run_child(OP_TCP4_AGAIN, 4020);
    assert_int_equal(r.error, ECONNREFUSED);
    assert_int_equal(r.mark, 0);
    rs.n = 0;
    assert_int_equal(hooks_consume(h, collect, &rs), 0);
    assert_int_equal(rs.n, 2);
    assert_int_equal(rs.last.type, AFW_REC_CACHED_ALLOW);
    assert_int_equal(rs.last.port, 4020);
    assert_true(find_flow(h, IPPROTO_TCP, &r, 4021, &f));
    assert_int_equal(f.cookie, r.cookie);
    close_hooks(h);
}

static void
test_bind_reported(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    struct records rs = { 0 };
    assert_int_equal(hooks_consume(h, collect, &rs), 0);
    rs.n = 0;
    struct result r = run_child(OP_BIND4, 4030);
    assert_int_equal(r.error, 0);
    assert_int_equal(hooks_consume(h, collect, &rs), 0);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.last.type, AFW_REC_BIND);
    assert_int_equal(rs.last.port, 4030);
    assert_int_equal(rs.last.cookie, r.cookie);
    close_hooks(h);
}

/* UDP sockets' traffic is counted in the kernel. */
static void
test_udp_counted(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    struct result r = run_child(OP_UDP4, 4080);
    assert_int_equal(r.error, 0);
    struct afw_sock_stats st;
    assert_true(hooks_udp_stats(h, r.cookie, false, &st));
    assert_int_equal(st.packets_out, 1);
    assert_true(st.bytes_out >= 29);        /* IPv4 + UDP + 1 byte. */
    assert_true(hooks_udp_stats(h, r.cookie, true, &st));
    assert_false(hooks_udp_stats(h, r.cookie, false, &st));
    close_hooks(h);
}

/* Each TCP connection's close is reported with what it carried: here
 * both ends are in the cgroup, so both closes come. */
static void
test_close_reported(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    struct records rs = { 0 };
    assert_int_equal(hooks_consume(h, collect, &rs), 0);
    struct result r = run_child(OP_TCP4_DATA, 4060);
    assert_int_equal(r.error, 0);

    struct afw_record closes[4];
    int n = 0;
    for (int i = 0; i < 50 && n < 2; i++) {
        rs.n = 0;
        assert_int_equal(hooks_consume(h, collect, &rs), 0);
        if (rs.n && rs.last.type == AFW_REC_CLOSE && n < 4) {
            closes[n++] = rs.last;
        }
        usleep(20 * 1000);
    }
    assert_true(n >= 1);
    bool client_seen = false;
    for (int i = 0; i < n; i++) {
        if (closes[i].cookie == r.cookie) {
            client_seen = true;
            assert_int_equal(closes[i].port, 4060);
            /* bytes_acked counts the SYN and, once acked, the FIN. */
            assert_true(closes[i].bytes_out >= 100);
            assert_true(closes[i].segs_out >= 2);
        }
    }
    assert_true(client_seen);
    close_hooks(h);
}

static void
test_dead_agent_refuses(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    assert_int_equal(hooks_configure(h, 0, 100, 0), 0);
    assert_int_equal(run_child(OP_TCP4, 4040).error, ECONNREFUSED);
    usleep(250 * 1000);
    /* No heartbeat for longer than 100 ms: refused in the kernel. */
    assert_int_equal(run_child(OP_TCP4, 4040).error, EPERM);
    assert_int_equal(run_child(OP_UDP4, 4041).error, EPERM);
    uint64_t c[AFW_N_COUNTERS];
    hooks_counters(h, c);
    assert_true(c[AFW_C_AGENT_DEAD] >= 2);

    /* Closing the agent's handles leaves the hooks attached. */
    close_hooks(h);
    assert_int_equal(run_child(OP_TCP4, 4040).error, EPERM);

    /* A restarted agent takes over the same pins and maps. */
    h = open_hooks();
    assert_int_equal(hooks_configure(h, 0, 100, 0), 0);
    assert_int_equal(run_child(OP_TCP4, 4040).error, ECONNREFUSED);
    assert_int_equal(hooks_configure(h, 0, 0, 0), 0);
    close_hooks(h);
}

static void
test_restart_keeps_verdicts_and_remove_detaches(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    struct afw_owner o = learn_owner(h);
    struct afw_verdict_key k = key_for(&o, AFW_EV_CONNECT, IPPROTO_TCP,
                                       AF_INET, 4050);
    assert_int_equal(hooks_put_verdict(h, &k, false, 60000), 0);
    close_hooks(h);

    h = open_hooks();
    assert_int_equal(run_child(OP_TCP4, 4050).error, EPERM);
    /* Dead as far as the hooks know, then removed: nothing refuses. */
    assert_int_equal(hooks_configure(h, 0, 1, 0), 0);
    close_hooks(h);
    assert_int_equal(hooks_remove(pin_dir), 0);
    assert_int_equal(run_child(OP_TCP4, 4050).error, ECONNREFUSED);
}

/* A datagram as BPF_PROG_TEST_RUN takes it (from the Ethernet header):
 * UDP from 'src':'sport' to 'dst':'dport', over IPv4 or IPv6 by the
 * addresses.  'ext' puts IPv6 extension headers before UDP: "frag" a
 * first fragment's header, "later" a later fragment's (no UDP header
 * then), "hop" hop-by-hop options.  Returns its length. */
static size_t
make_datagram(uint8_t *p, const char *src, int sport, const char *dst,
              int dport, const char *ext)
{
    memset(p, 0, 128);
    bool v6 = strchr(src, ':') != NULL;
    p[12] = v6 ? 0x86 : 0x08;
    p[13] = v6 ? 0xdd : 0x00;
    uint8_t *ip = p + 14;
    uint8_t *l4;
    if (!v6) {
        ip[0] = 0x45;
        ip[3] = 28;
        ip[8] = 64;
        ip[9] = IPPROTO_UDP;
        inet_pton(AF_INET, src, ip + 12);
        inet_pton(AF_INET, dst, ip + 16);
        l4 = ip + 20;
    } else {
        ip[0] = 0x60;
        ip[5] = 8 + 8 * (ext != NULL);
        ip[7] = 64;
        inet_pton(AF_INET6, src, ip + 8);
        inet_pton(AF_INET6, dst, ip + 24);
        l4 = ip + 40;
        if (!ext) {
            ip[6] = IPPROTO_UDP;
        } else {
            ip[6] = !strcmp(ext, "hop") ? 0 : 44;
            l4[0] = IPPROTO_UDP;
            if (!strcmp(ext, "hop")) {
                l4[2] = 1;      /* PadN, 4 bytes of padding. */
                l4[3] = 4;
            } else {
                l4[3] = !strcmp(ext, "later") ? 0xb9 : 0x01;    /* M */
            }
            l4 += 8;
        }
    }
    l4[0] = sport >> 8;
    l4[1] = sport;
    l4[2] = dport >> 8;
    l4[3] = dport;
    l4[5] = 9;
    l4[8] = 'x';
    return l4 + 9 - p;
}

/* The verdict of the UDP rules' pinned socket filter on a datagram (see
 * make_datagram()): 1, queue it (a new flow); 0, let it through. */
static int
udp_new(const char *src, int sport, const char *dst, int dport,
        const char *ext)
{
    char *path = xasprintf("%s/%s", pin_dir, AFW_UDP_NEW_PIN);
    int fd = bpf_obj_get(path);
    free(path);
    assert_true(fd >= 0);
    uint8_t p[128];
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p,
                .data_size_in = make_datagram(p, src, sport, dst, dport,
                                              ext));
    assert_int_equal(bpf_prog_test_run_opts(fd, &opts), 0);
    close(fd);
    return opts.retval;
}

/* Writes the flow of 'a':4091 <-> 'b':'port' into afw_udp_flows as last
 * seen 'age_s' seconds ago, in directions 'dirs' ('a' must sort first). */
static void
put_udp_flow(const char *a, const char *b, int port, int age_s,
             uint32_t dirs)
{
    char *path = xasprintf("%s/afw_udp_flows", pin_dir);
    int fd = bpf_obj_get(path);
    free(path);
    assert_true(fd >= 0);
    struct afw_udp_key k;
    memset(&k, 0, sizeof k);
    k.family = strchr(a, ':') ? AF_INET6 : AF_INET;
    k.port_a = htons(4091);
    k.port_b = htons(port);
    inet_pton(k.family, a, k.addr_a);
    inet_pton(k.family, b, k.addr_b);
    struct afw_udp_seen v = {
        .seen_ns = (time_mono_ms() - age_s * 1000LL) * 1000000,
        .dirs = dirs,
    };
    assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
    close(fd);
}

/* The UDP rules queue the first datagram of a flow the kernel did not let
 * through lately, either way, and only that. */
static void
test_udp_new_flows(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    const char *a = "10.99.1.1", *b = "10.99.1.2";

    /* Unknown flows, over IPv4 and IPv6. */
    assert_int_equal(udp_new(a, 4091, b, 4100, NULL), 1);
    assert_int_equal(udp_new("fd00:99::1", 4091, "fd00:99::2", 4100, NULL),
                     1);

    /* Known: either way, until conntrack's UDP timeouts would end it. */
    put_udp_flow(a, b, 4100, 1, AFW_UDP_A_TO_B);
    assert_int_equal(udp_new(a, 4091, b, 4100, NULL), 0);
    assert_int_equal(udp_new(b, 4100, a, 4091, NULL), 0);
    assert_int_equal(udp_new(a, 4092, b, 4100, NULL), 1);
    put_udp_flow(a, b, 4100, 31, AFW_UDP_A_TO_B);
    assert_int_equal(udp_new(a, 4091, b, 4100, NULL), 1);
    put_udp_flow(a, b, 4100, 31, AFW_UDP_A_TO_B | AFW_UDP_B_TO_A);
    assert_int_equal(udp_new(a, 4091, b, 4100, NULL), 0);
    put_udp_flow(a, b, 4100, 121, AFW_UDP_A_TO_B | AFW_UDP_B_TO_A);
    assert_int_equal(udp_new(a, 4091, b, 4100, NULL), 1);

    /* IPv6 extension headers are read through to the ports, except in a
     * later fragment (no ports), which is left to its first. */
    const char *a6 = "fd00:99::1", *b6 = "fd00:99::2";
    assert_int_equal(udp_new(b6, 4100, a6, 4091, "frag"), 1);
    assert_int_equal(udp_new(b6, 4100, a6, 4091, "later"), 0);
    put_udp_flow(a6, b6, 4100, 1, AFW_UDP_A_TO_B);
    assert_int_equal(udp_new(b6, 4100, a6, 4091, NULL), 0);
    assert_int_equal(udp_new(b6, 4100, a6, 4091, "frag"), 0);
    assert_int_equal(udp_new(b6, 4100, a6, 4091, "hop"), 0);
    assert_int_equal(udp_new(b6, 4101, a6, 4091, "hop"), 1);
    close_hooks(h);
}

/* The flows of datagrams that left the agent's network namespace are
 * noted, and only those: a namespace with the same addresses is another
 * network. */
static void
test_udp_flows_noted(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    const char *a = "10.99.1.1", *b = "10.99.1.2";
    assert_int_equal(udp_new(a, 4091, b, 4110, NULL), 1);
    assert_int_equal(run_child(OP_UDP4_OUT_ELSEWHERE, 4110).error, 0);
    assert_int_equal(udp_new(a, 4091, b, 4110, NULL), 1);
    assert_int_equal(run_child(OP_UDP4_OUT, 4110).error, 0);
    assert_int_equal(udp_new(a, 4091, b, 4110, NULL), 0);
    assert_int_equal(udp_new(b, 4110, a, 4091, NULL), 0);
    close_hooks(h);
}

/* The agent notes a flow it let through from the queue the same way the
 * programs do (hooks_note_udp_flow()), whichever end sorts first and
 * whichever way the datagram went. */
static void
test_udp_flow_noted_by_agent(void **state)
{
    (void) state;
    struct hooks *h = open_hooks();
    uint8_t lo[16] = { 0 }, hi[16] = { 0 };
    inet_pton(AF_INET, "10.99.2.1", lo);
    inet_pton(AF_INET, "10.99.2.9", hi);

    /* Outbound from the end that sorts last, to port 53. */
    assert_int_equal(udp_new("10.99.2.9", 40000, "10.99.2.1", 53, NULL), 1);
    assert_int_equal(hooks_note_udp_flow(h, AF_INET, hi, 40000, lo, 53,
                                         false), 0);
    assert_int_equal(udp_new("10.99.2.9", 40000, "10.99.2.1", 53, NULL), 0);
    assert_int_equal(udp_new("10.99.2.1", 53, "10.99.2.9", 40000, NULL), 0);
    assert_int_equal(udp_new("10.99.2.9", 40001, "10.99.2.1", 53, NULL), 1);

    /* Inbound, IPv6, same addresses, ports deciding the order. */
    uint8_t a6[16], b6[16];
    inet_pton(AF_INET6, "fd00:99::5", a6);
    inet_pton(AF_INET6, "fd00:99::5", b6);
    assert_int_equal(udp_new("fd00:99::5", 7000, "fd00:99::5", 6000, NULL),
                     1);
    assert_int_equal(hooks_note_udp_flow(h, AF_INET6, a6, 6000, b6, 7000,
                                         true), 0);
    assert_int_equal(udp_new("fd00:99::5", 7000, "fd00:99::5", 6000, NULL),
                     0);
    close_hooks(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_owner_recorded, close_current),
        cmocka_unit_test_teardown(test_cached_deny, close_current),
        cmocka_unit_test_teardown(test_verdict_expires, close_current),
        cmocka_unit_test_teardown(test_cached_allow_marks, close_current),
        cmocka_unit_test_teardown(test_bind_reported, close_current),
        cmocka_unit_test_teardown(test_close_reported, close_current),
        cmocka_unit_test_teardown(test_udp_counted, close_current),
        cmocka_unit_test_teardown(test_udp_new_flows, close_current),
        cmocka_unit_test_teardown(test_udp_flows_noted, close_current),
        cmocka_unit_test_teardown(test_udp_flow_noted_by_agent,
                                  close_current),
        cmocka_unit_test_teardown(test_dead_agent_refuses, close_current),
        cmocka_unit_test_teardown(test_restart_keeps_verdicts_and_remove_detaches, close_current),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
