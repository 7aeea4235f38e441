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
 *       the UNIX socket where host-sim listens, says hello, then sends
 *       COUNT decides like the agent's, one at a time; prints
 *       "ok=N p50_us=X p99_us=Y" */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/chan.h"
#include "common/frame.h"
#include "common/msg.h"
#include "common/util.h"
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

/* A decide the size and shape of the agent's. */
static struct json_object *
make_decide(int64_t id)
{
    static const char text[] =
        "{\"type\":\"decide\",\"event\":\"connect\",\"protocol\":\"tcp\","
        "\"direction\":\"outbound\","
        "\"local\":{\"address\":\"10.88.0.1\",\"port\":40312},"
        "\"remote\":{\"address\":\"10.88.0.2\",\"port\":8080},"
        "\"app\":{\"path\":\"/usr/bin/python3.11\",\"name\":\"python3.11\","
        "\"size\":6831736,\"sha256\":\"5f0b1a0d8e3e0b6c3b1f8f5d9a1b1c2d3e4f"
        "5a6b7c8d9e0f1a2b3c4d5e6f7a8b\"},\"process\":{\"pid\":4242,"
        "\"ppid\":4100,\"cmdline\":\"connbench connect 10.88.0.2 8080 "
        "1000\",\"cgroup\":\"/appfw-bench\"},\"user\":{\"uid\":0,"
        "\"name\":\"root\",\"gid\":0,\"group\":\"root\"},\"cookie\":8193}";
    struct json_object *d = json_tokener_parse(text);
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

static int
cmd_rr(const char *path, int count)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
        perror(path);
        return 1;
    }
    struct chan *c = chan_create(fd, 0, 0);
    struct json_object *hello = msg_hello_create("agent", "connbench");
    chan_send(c, hello);
    json_object_put(hello);
    enum msg_type type;
    json_object_put(next_msg(c, &type));
    struct bench_samples s;
    bench_samples_init(&s);
    int ok = 0;
    for (int i = 1; i <= count; i++) {
        struct json_object *d = make_decide(i);
        int64_t t0 = bench_now_ns();
        chan_send(c, d);
        chan_run(c);
        struct json_object *m;
        do {
            m = next_msg(c, &type);
            if (type != MSG_VERDICT) {
                json_object_put(m);
                m = NULL;
            }
        } while (!m);
        bench_samples_add(&s, (double) (bench_now_ns() - t0));
        ok += msg_get_int(m, "id", 0) == i;
        json_object_put(m);
        json_object_put(d);
    }
    printf("ok=%d p50_us=%.1f p99_us=%.1f\n", ok,
           bench_percentile(&s, 50) / 1000, bench_percentile(&s, 99) / 1000);
    bench_samples_destroy(&s);
    chan_destroy(c);
    return 0;
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
    } else if (argc == 4 && !strcmp(argv[1], "rr")) {
        return cmd_rr(argv[2], atoi(argv[3]));
    }
    fprintf(stderr, "usage: connbench serve PORT | connect ADDR PORT N | "
            "burst ADDR PORT N | rr SOCKET N\n");
    return 2;
}
