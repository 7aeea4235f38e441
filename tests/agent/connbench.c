/* connbench: the load and the timing for appfw-agent's benchmark
 * (tests/bench/bench-agent.sh), run inside its network namespaces.
 *
 *   connbench serve PORT
 *       accepts TCP connections on [::]:PORT and closes them, forever
 *   connbench connect ADDRESS PORT COUNT
 *       COUNT connect()s one after the other, each closed at once (with a
 *       reset, so that no TIME_WAIT state piles up); prints
 *       "ok=N fail=N p50_us=X p99_us=Y" (the time of connect() alone)
 *   connbench burst ADDRESS PORT COUNT
 *       COUNT non-blocking connect()s at once, then waits (30 s at most)
 *       for each to finish; prints "ok=N fail=N ms=T"
 *   connbench rr SOCKET COUNT
 *       the bare request/response over the agent's channel: connects to
 *       the UNIX socket where host-sim listens (or opens SOCKET if it is
 *       a virtio-serial port's device), says hello, then sends
 *       COUNT decides, one at a time, each the one the agent would send
 *       for this process (make_decide()); prints
 *       "ok=N p50_us=X p99_us=Y"
 *   connbench pair NS_A CGROUP_A ADDR_A NS_B CGROUP_B ADDR_B PORT COUNT
 *                  [SOCKET]
 *       COUNT pairs of connect()s, one on side A and one on side B, in
 *       turns (A first, then B first), so that both sides see the same
 *       machine at the same moment.  Before each connect, untimed, it
 *       enters the side's network namespace (a name under /var/run/netns,
 *       or a path) and its cgroup v2 directory (the hooks look at the
 *       cgroup a socket was created in), and creates the socket; the
 *       time is that of connect() alone, closed as with "connect".  With
 *       SOCKET, each step also makes one request/response as "rr" does,
 *       the three taking turns in going first.  Prints, one line each,
 *       "a ok=N fail=N p50_us=X p99_us=Y", the same for "b", "rr ok=N
 *       p50_us=X p99_us=Y" with SOCKET, then "ratio p50=X p99=Y" (A over
 *       B) and with SOCKET "added p50=X p99=Y" ((A - B) over rr).
 *   connbench wake COUNT
 *       what waking a process costs on this machine: COUNT one-byte
 *       round trips over pipes from a process on CPU 0 to a partner on
 *       CPU 0 and to one on CPU 1, in turns, each partner asleep in
 *       read() when its byte comes; prints "same ok=N p50_us=X
 *       p99_us=Y", the same for "other", and "ratio p50=X p99=Y" (other
 *       over same).  Needs two CPUs. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/chan.h"
#include "common/frame.h"
#include "common/msg.h"
#include "common/util.h"
#include "guest-agent/identity.h"
#include "tests/bench/bench.h"

static socklen_t
parse_addr(const char *text, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *sin = (void *) ss;
    struct sockaddr_in6 *sin6 = (void *) ss;
    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        return sizeof *sin;
    }
    if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        return sizeof *sin6;
    }
    fprintf(stderr, "connbench: bad address %s\n", text);
    exit(2);
}

/* Closes with a reset: no TIME_WAIT state piles up, whose ephemeral-port
 * search would otherwise dominate connect() after a few thousand. */
static void
close_reset(int fd)
{
    struct linger l = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

static void
raise_nofile(void)
{
    struct rlimit rl = { 65536, 65536 };
    setrlimit(RLIMIT_NOFILE, &rl);
}

static int
cmd_serve(int port)
{
    raise_nofile();
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int zero = 0, one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in6 sin6 = {
        .sin6_family = AF_INET6, .sin6_port = htons(port),
    };
    if (bind(fd, (struct sockaddr *) &sin6, sizeof sin6)
        || listen(fd, 65535)) {
        perror("connbench serve");
        return 1;
    }
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        poll(&pfd, 1, -1);
        int c;
        while ((c = accept(fd, NULL, NULL)) >= 0) {
            close(c);
        }
    }
}

static int
cmd_connect(const char *addr, int port, int count)
{
    struct sockaddr_storage ss;
    socklen_t len = parse_addr(addr, port, &ss);
    struct bench_samples s;
    bench_samples_init(&s);
    int ok = 0, fail = 0;
    for (int i = 0; i < count; i++) {
        int fd = socket(ss.ss_family, SOCK_STREAM, 0);
        int64_t t0 = bench_now_ns();
        int rc = connect(fd, (struct sockaddr *) &ss, len);
        int64_t t1 = bench_now_ns();
        if (rc) {
            fail++;
        } else {
            ok++;
            bench_samples_add(&s, (double) (t1 - t0));
        }
        close_reset(fd);
    }
    printf("ok=%d fail=%d p50_us=%.1f p99_us=%.1f\n", ok, fail,
           ok ? bench_percentile(&s, 50) / 1000 : 0,
           ok ? bench_percentile(&s, 99) / 1000 : 0);
    bench_samples_destroy(&s);
    return 0;
}

static int
cmd_burst(const char *addr, int port, int count)
{
    raise_nofile();
    struct sockaddr_storage ss;
    socklen_t len = parse_addr(addr, port, &ss);
    int ep = epoll_create1(0);
    int *fds = xcalloc(count, sizeof *fds);
    int ok = 0, fail = 0, waiting = 0;
    int64_t t0 = time_mono_ms();
    for (int i = 0; i < count; i++) {
        fds[i] = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fds[i] < 0) {
            fail++;
            continue;
        }
        int rc = connect(fds[i], (struct sockaddr *) &ss, len);
        if (!rc) {
            ok++;
        } else if (errno == EINPROGRESS) {
            struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = i };
            epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
            waiting++;
        } else {
            fail++;
        }
    }
    while (waiting && time_mono_ms() - t0 < 30000) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 1000);
        for (int k = 0; k < n; k++) {
            int fd = fds[evs[k].data.u32];
            int err = 0;
            socklen_t elen = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
            err ? fail++ : ok++;
            epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
            waiting--;
        }
    }
    int64_t ms = time_mono_ms() - t0;
    printf("ok=%d fail=%d unfinished=%d ms=%lld\n", ok, fail, waiting,
           (long long) ms);
    for (int i = 0; i < count; i++) {
        if (fds[i] >= 0) {
            close_reset(fds[i]);
        }
    }
    free(fds);
    close(ep);
    return 0;
}

/* The decide the agent sends for this very process's connect: its
 * identity as the agent's own identity.c reads and prints it, so that the
 * baseline's request is as long as the agent's and the host parses as
 * much.  Built untimed, before each request (the cgroup changes with the
 * side "pair" last entered). */
static struct json_object *
make_decide(int64_t id)
{
    static struct identity_ctx *ids;
    if (!ids) {
        ids = identity_ctx_create(NULL);
    }
    struct json_object *d = msg_create(MSG_DECIDE);
    msg_put_string(d, "event", "connect");
    msg_put_string(d, "protocol", "tcp");
    msg_put_string(d, "direction", "outbound");
    msg_put_endpoint(d, "local", "10.88.0.1", 40312);
    msg_put_endpoint(d, "remote", "10.88.0.2", 8080);
    struct identity self;
    if (identity_resolve(ids, getpid(), getuid(), getgid(), &self)) {
        fprintf(stderr, "connbench: cannot read its own identity\n");
        exit(1);
    }
    identity_to_json(&self, d);
    identity_destroy(&self);
    msg_put_int(d, "cookie", 1399574);
    msg_put_int(d, "id", id);
    return d;
}

/* Waits for the next message on 'c' (5 s at most). */
static struct json_object *
next_msg(struct chan *c, enum msg_type *type)
{
    struct frame f;
    int error = chan_recv_wait(c, &f, 5000);
    if (error) {
        fprintf(stderr, "connbench: channel: %s\n", strerror(error));
        exit(1);
    }
    struct json_object *m;
    char *perr = msg_parse(f.data, f.len, &m, type);
    free(f.data);
    if (perr) {
        fprintf(stderr, "connbench: %s\n", perr);
        exit(1);
    }
    return m;
}

/* Connects to host-sim's UNIX socket at 'path', or opens the character
 * device 'path' (a virtio-serial port, inside a guest), and says hello.
 * Returns NULL if it cannot. */
static struct chan *
rr_open(const char *path)
{
    struct stat st;
    int fd;
    if (!stat(path, &st) && S_ISCHR(st.st_mode)) {
        fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            perror(path);
            return NULL;
        }
    } else {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
        if (connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
            perror(path);
            close(fd);
            return NULL;
        }
    }
    struct chan *c = chan_create(fd, 0, 0);
    struct json_object *hello = msg_hello_create("agent", "connbench");
    chan_send(c, hello);
    json_object_put(hello);
    enum msg_type type;
    json_object_put(next_msg(c, &type));
    return c;
}

/* Sends decide number 'id' and waits for its verdict.  Adds the time to
 * 's'; returns true if the verdict answered 'id'. */
static bool
rr_once(struct chan *c, int64_t id, struct bench_samples *s)
{
    struct json_object *d = make_decide(id);
    int64_t t0 = bench_now_ns();
    chan_send(c, d);
    chan_run(c);
    enum msg_type type;
    struct json_object *m;
    do {
        m = next_msg(c, &type);
        if (type != MSG_VERDICT) {
            json_object_put(m);
            m = NULL;
        }
    } while (!m);
    bench_samples_add(s, (double) (bench_now_ns() - t0));
    bool ok = msg_get_int(m, "id", 0) == id;
    json_object_put(m);
    json_object_put(d);
    return ok;
}

static int
cmd_rr(const char *path, int count)
{
    struct chan *c = rr_open(path);
    if (!c) {
        return 1;
    }
    struct bench_samples s;
    bench_samples_init(&s);
    int ok = 0;
    for (int i = 1; i <= count; i++) {
        ok += rr_once(c, i, &s);
    }
    printf("ok=%d p50_us=%.1f p99_us=%.1f\n", ok,
           bench_percentile(&s, 50) / 1000, bench_percentile(&s, 99) / 1000);
    bench_samples_destroy(&s);
    chan_destroy(c);
    return 0;
}

/* One side of "pair": where its sockets are created, and what they
 * measured. */
struct side {
    int netns_fd;               /* The network namespace. */
    int procs_fd;               /* Its cgroup's cgroup.procs. */
    struct sockaddr_storage ss; /* Where to connect. */
    socklen_t len;
    struct bench_samples s;
    int ok, fail;
};

static void
side_init(struct side *side, const char *ns, const char *cgroup,
          const char *addr, int port)
{
    char *path = strchr(ns, '/') ? xstrdup(ns)
                 : xasprintf("/var/run/netns/%s", ns);
    side->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (side->netns_fd < 0) {
        fprintf(stderr, "connbench: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    free(path);
    path = xasprintf("%s/cgroup.procs", cgroup);
    side->procs_fd = open(path, O_WRONLY | O_CLOEXEC);
    if (side->procs_fd < 0) {
        fprintf(stderr, "connbench: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    free(path);
    side->len = parse_addr(addr, port, &side->ss);
    bench_samples_init(&side->s);
    side->ok = side->fail = 0;
}

/* Enters the side's namespace and cgroup, then times one connect() from
 * a socket created there. */
static void
side_connect(struct side *side)
{
    char pid[16];
    int n = snprintf(pid, sizeof pid, "%d", (int) getpid());
    if (setns(side->netns_fd, CLONE_NEWNET)
        || write(side->procs_fd, pid, n) != n) {
        fprintf(stderr, "connbench: entering a side: %s\n",
                strerror(errno));
        exit(1);
    }
    int fd = socket(side->ss.ss_family, SOCK_STREAM, 0);
    int64_t t0 = bench_now_ns();
    int rc = connect(fd, (struct sockaddr *) &side->ss, side->len);
    int64_t t1 = bench_now_ns();
    if (rc) {
        side->fail++;
    } else {
        side->ok++;
        bench_samples_add(&side->s, (double) (t1 - t0));
    }
    close_reset(fd);
}

static int
cmd_pair(char **argv, int count, const char *rr_path)
{
    int port = atoi(argv[6]);
    struct side sides[2];
    side_init(&sides[0], argv[0], argv[1], argv[2], port);
    side_init(&sides[1], argv[3], argv[4], argv[5], port);
    /* Before any namespace changes: the socket's path is in this mount
     * namespace. */
    struct chan *c = rr_path ? rr_open(rr_path) : NULL;
    if (rr_path && !c) {
        return 1;
    }
    struct bench_samples rr;
    bench_samples_init(&rr);
    int rr_ok = 0;
    int steps = c ? 3 : 2;
    for (int i = 0; i < count; i++) {
        /* Who goes first turns with each step. */
        for (int k = 0; k < steps; k++) {
            int which = (i + k) % steps;
            if (which < 2) {
                side_connect(&sides[which]);
            } else {
                rr_ok += rr_once(c, i + 1, &rr);
            }
        }
    }

    double p[2][2];
    for (int i = 0; i < 2; i++) {
        struct side *side = &sides[i];
        p[i][0] = side->ok ? bench_percentile(&side->s, 50) / 1000 : 0;
        p[i][1] = side->ok ? bench_percentile(&side->s, 99) / 1000 : 0;
        printf("%c ok=%d fail=%d p50_us=%.1f p99_us=%.1f\n", "ab"[i],
               side->ok, side->fail, p[i][0], p[i][1]);
    }
    printf("ratio p50=%.3f p99=%.3f\n", p[1][0] ? p[0][0] / p[1][0] : 0,
           p[1][1] ? p[0][1] / p[1][1] : 0);
    if (c) {
        double r50 = bench_percentile(&rr, 50) / 1000;
        double r99 = bench_percentile(&rr, 99) / 1000;
        printf("rr ok=%d p50_us=%.1f p99_us=%.1f\n", rr_ok, r50, r99);
        printf("added p50=%.3f p99=%.3f\n",
               r50 ? (p[0][0] - p[1][0]) / r50 : 0,
               r99 ? (p[0][1] - p[1][1]) / r99 : 0);
    }
    for (int i = 0; i < 2; i++) {
        bench_samples_destroy(&sides[i].s);
        close(sides[i].netns_fd);
        close(sides[i].procs_fd);
    }
    bench_samples_destroy(&rr);
    chan_destroy(c);
    return 0;
}

static void
pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set)) {
        fprintf(stderr, "connbench: CPU %d: %s\n", cpu, strerror(errno));
        exit(1);
    }
}

/* A partner of "wake": on 'cpu', echoes each byte from 'in' to 'out'
 * until 'in' closes. */
static pid_t
start_echo(int cpu, int pipes[2][2])
{
    if (pipe(pipes[0]) || pipe(pipes[1])) {
        perror("connbench: pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("connbench: fork");
        exit(1);
    } else if (!pid) {
        pin_to(cpu);
        close(pipes[0][1]);
        close(pipes[1][0]);
        char c;
        while (read(pipes[0][0], &c, 1) == 1
               && write(pipes[1][1], &c, 1) == 1) {
            continue;
        }
        _exit(0);
    }
    close(pipes[0][0]);
    close(pipes[1][1]);
    return pid;
}

/* One round trip to the partner behind 'pipes'; adds its time to 's'. */
static bool
echo_once(int pipes[2][2], struct bench_samples *s)
{
    char c = 'x';
    int64_t t0 = bench_now_ns();
    if (write(pipes[0][1], &c, 1) != 1 || read(pipes[1][0], &c, 1) != 1) {
        return false;
    }
    bench_samples_add(s, (double) (bench_now_ns() - t0));
    return true;
}

static int
cmd_wake(int count)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        fprintf(stderr, "connbench: wake needs two CPUs\n");
        return 1;
    }
    int same[2][2], other[2][2];
    pid_t p0 = start_echo(0, same);
    pid_t p1 = start_echo(1, other);
    pin_to(0);
    struct bench_samples s[2];
    bench_samples_init(&s[0]);
    bench_samples_init(&s[1]);
    int ok[2] = { 0, 0 };
    for (int i = 0; i < count; i++) {
        /* A pause, so that the other CPU has gone idle as it would
         * between two connects. */
        usleep(100);
        for (int k = 0; k < 2; k++) {
            int which = (i + k) % 2;
            ok[which] += echo_once(which ? other : same, &s[which]);
        }
    }
    double p[2][2];
    for (int i = 0; i < 2; i++) {
        p[i][0] = ok[i] ? bench_percentile(&s[i], 50) / 1000 : 0;
        p[i][1] = ok[i] ? bench_percentile(&s[i], 99) / 1000 : 0;
        printf("%s ok=%d p50_us=%.1f p99_us=%.1f\n", i ? "other" : "same",
               ok[i], p[i][0], p[i][1]);
        bench_samples_destroy(&s[i]);
    }
    printf("ratio p50=%.3f p99=%.3f\n", p[0][0] ? p[1][0] / p[0][0] : 0,
           p[0][1] ? p[1][1] / p[0][1] : 0);
    close(same[0][1]);
    close(other[0][1]);
    waitpid(p0, NULL, 0);
    waitpid(p1, NULL, 0);
    close(same[1][0]);
    close(other[1][0]);
    return ok[0] == count && ok[1] == count ? 0 : 1;
}

int
main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "serve")) {
        return cmd_serve(atoi(argv[2]));
    } else if (argc == 5 && !strcmp(argv[1], "connect")) {
        return cmd_connect(argv[2], atoi(argv[3]), atoi(argv[4]));
    } else if (argc == 5 && !strcmp(argv[1], "burst")) {
        return cmd_burst(argv[2], atoi(argv[3]), atoi(argv[4]));
    } else if (argc == 3 && !strcmp(argv[1], "wake")) {
        return cmd_wake(atoi(argv[2]));
    } else if (argc == 4 && !strcmp(argv[1], "rr")) {
        return cmd_rr(argv[2], atoi(argv[3]));
    } else if ((argc == 10 || argc == 11) && !strcmp(argv[1], "pair")) {
        return cmd_pair(argv + 2, atoi(argv[9]), argc == 11 ? argv[10]
                                                             : NULL);
    }
    fprintf(stderr, "usage: connbench serve PORT | connect ADDR PORT N | "
            "burst ADDR PORT N | rr SOCKET N | wake N\n"
            "       connbench pair NS_A CGROUP_A ADDR_A NS_B CGROUP_B "
            "ADDR_B PORT N [SOCKET]\n");
    return 2;
}
