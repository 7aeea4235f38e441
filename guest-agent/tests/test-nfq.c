/* Tests of guest-agent/nfq.c and sockdiag.c against the running kernel:
 * the test moves into a network namespace of its own, queues packets to
 * 10.99.0.1 and fd00:99::1 (on its loopback device) with iptables, and
 * plays the agent's part: find the socket behind each queued packet, then
 * accept it or have it rejected.  Needs root and iptables (the NFQUEUE
 * target); it fails, it does not skip, without them. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/tuple.h"
#include "common/util.h"
#include "guest-agent/nfq.h"
#include "guest-agent/rules.h"
#include "guest-agent/sockdiag.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define QUEUE 7
#define REJECT_MARK 0x20000000u

static struct nfq *q;
static struct sockdiag *sd;

static int
sh(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char *cmd = xvasprintf(format, args);
    va_end(args);
    int rc = system(cmd);
    if (rc) {
        fprintf(stderr, "failed (%d): %s\n", rc, cmd);
    }
    free(cmd);
    return rc;
}

static int
setup(void **state)
{
    (void) state;
    struct rules_config rc = { 0 };
    rules_default_tools(&rc);
    if (unshare(CLONE_NEWNET)
        || sh("ip link set lo up && ip addr add 10.99.0.1/32 dev lo && "
              "ip -6 addr add fd00:99::1/128 dev lo nodad")) {
        return -1;
    }
    for (int v6 = 0; v6 < 2; v6++) {
        const char *t = v6 ? rc.ip6tables : rc.iptables;
        const char *dst = v6 ? "fd00:99::1" : "10.99.0.1";
        const char *unreach = v6 ? "icmp6-port-unreachable"
                                 : "icmp-port-unreachable";
        if (sh("%s -A OUTPUT -p tcp -m mark --mark 0x%x/0x%x "
               "-j REJECT --reject-with tcp-reset", t, REJECT_MARK,
               REJECT_MARK)
            || sh("%s -A OUTPUT -m mark --mark 0x%x/0x%x "
                  "-j REJECT --reject-with %s", t, REJECT_MARK, REJECT_MARK,
                  unreach)
            || sh("%s -A OUTPUT -d %s -p tcp --syn -j NFQUEUE "
                  "--queue-num %d", t, dst, QUEUE)
            || sh("%s -A OUTPUT -d %s -p udp -m conntrack --ctstate NEW "
                  "-j NFQUEUE --queue-num %d", t, dst, QUEUE)) {
            return -1;
        }
    }
    char *error;
    if (nfq_open(QUEUE, 1024, &q, &error)) {
        fprintf(stderr, "%s\n", error);
        return -1;
    }
    return sockdiag_open(&sd) ? -1 : 0;
}

static int
teardown(void **state)
{
    (void) state;
    nfq_close(q);
    sockdiag_close(sd);
    /* The namespace, with its rules, goes with the process. */
    return 0;
}

/* Waits up to 5 s for the next queued packet. */
static void
next_packet(struct nfq_packet *p)
{
    for (int i = 0; i < 50; i++) {
        int error = nfq_recv(q, p);
        if (!error) {
            return;
        }
        assert_int_equal(error, EAGAIN);
        struct pollfd pfd = { .fd = nfq_fd(q), .events = POLLIN };
        poll(&pfd, 1, 100);
    }
    fail_msg("no packet was queued");
}

/* Fills 'ss' with 'addr' (text) and 'port'; returns its length. */
static socklen_t
make_addr(int family, const char *addr, uint16_t port,
          struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *sin = (void *) ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        inet_pton(AF_INET, addr, &sin->sin_addr);
        return sizeof *sin;
    }
    struct sockaddr_in6 *sin6 = (void *) ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    inet_pton(AF_INET6, addr, &sin6->sin6_addr);
    return sizeof *sin6;
}

struct child {
    pid_t pid;
    int fd;                     /* Reads the child's result. */
    int go;                     /* Closed to let the child exit. */
};

struct result {
    int error;
    uint64_t cookie;
    int64_t ms;                 /* How long the call took. */
};

/* Forks a child that connects (TCP) or sends (UDP) to 'addr' 'port'.  It
 * keeps its socket until finish(): a UDP sendto() returns before the
 * queued packet is decided, and the test must still find the socket. */
static struct child
start(int family, int type, const char *addr, uint16_t port)
{
    int p[2], go[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        close(go[1]);
        struct result r = { 0 };
        int fd = socket(family, type, 0);
        struct sockaddr_storage ss;
        socklen_t len = make_addr(family, addr, port, &ss);
        socklen_t clen = sizeof r.cookie;
        int64_t t0 = time_mono_ms();
        int rc = (type == SOCK_STREAM
                  ? connect(fd, (struct sockaddr *) &ss, len)
                  : (int) sendto(fd, "x", 1, 0, (struct sockaddr *) &ss,
                                 len));
        r.ms = time_mono_ms() - t0;
        r.error = rc < 0 ? errno : 0;
        getsockopt(fd, SOL_SOCKET, SO_COOKIE, &r.cookie, &clen);
        bool ok = write(p[1], &r, sizeof r) == sizeof r;
        char byte;
        ok = read(go[0], &byte, 1) == 0 && ok;     /* Until finish(). */
        _exit(ok ? 0 : 1);
    }
    close(p[1]);
    close(go[0]);
    return (struct child) { .pid = pid, .fd = p[0], .go = go[1] };
}

static struct result
finish(struct child c)
{
    struct result r;
    assert_int_equal(read(c.fd, &r, sizeof r), sizeof r);
    close(c.fd);
    close(c.go);
    int status;
    assert_int_equal(waitpid(c.pid, &status, 0), c.pid);
    return r;
}

static int
listener(int family, int type, const char *addr, uint16_t port)
{
    int fd = socket(family, type, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage ss;
    socklen_t len = make_addr(family, addr, port, &ss);
    assert_int_equal(bind(fd, (struct sockaddr *) &ss, len), 0);
    if (type == SOCK_STREAM) {
        assert_int_equal(listen(fd, 16), 0);
    }
    return fd;
}

/* The socket that sent the queued packet 'p', found through sock_diag. */
static struct sockdiag_sock
sender_of(const struct nfq_packet *p, struct tuple *t)
{
    assert_true(tuple_parse_ip(p->data, p->len, t));
    struct sockdiag_endpoint local = { .port = t->src_port };
    struct sockdiag_endpoint remote = { .port = t->dst_port };
    memcpy(local.addr, t->src_addr, 16);
    memcpy(remote.addr, t->dst_addr, 16);
    struct sockdiag_sock s;
    assert_int_equal(sockdiag_lookup(sd, t->family, t->proto, &local,
                                     &remote, false, &s), 0);
    return s;
}

static void
test_tcp_accept_and_reject(int family, const char *addr)
{
    int lfd = listener(family, SOCK_STREAM, addr, 5000);

    /* Accepted: the connection completes. */
    struct child c = start(family, SOCK_STREAM, addr, 5000);
    struct nfq_packet p;
    next_packet(&p);
    assert_int_equal(p.hook, NF_INET_LOCAL_OUT);
    assert_int_equal(p.family, family);
    assert_true(p.has_uid);
    assert_int_equal(p.uid, getuid());
    struct tuple t;
    struct sockdiag_sock s = sender_of(&p, &t);
    assert_true(t.syn);
    assert_int_equal(t.dst_port, 5000);
    assert_int_equal(nfq_accept(q, p.id), 0);
    struct result r = finish(c);
    assert_int_equal(r.error, 0);
    assert_int_equal(s.cookie, r.cookie);
    assert_int_equal(s.uid, getuid());

    /* Rejected through the mark: refused at once, not after a timeout. */
    c = start(family, SOCK_STREAM, addr, 5000);
    next_packet(&p);
    s = sender_of(&p, &t);
    assert_int_equal(nfq_repeat_marked(q, p.id, REJECT_MARK), 0);
    r = finish(c);
    assert_int_equal(r.error, ECONNREFUSED);
    assert_true(r.ms < 1000);
    assert_int_equal(s.cookie, r.cookie);
    close(lfd);
}

static void
test_tcp4(void **state)
{
    (void) state;
    test_tcp_accept_and_reject(AF_INET, "10.99.0.1");
}

static void
test_tcp6(void **state)
{
    (void) state;
    test_tcp_accept_and_reject(AF_INET6, "fd00:99::1");
}

static void
udp_case(int family, const char *addr)
{
    int lfd = listener(family, SOCK_DGRAM, addr, 5001);
    struct child c = start(family, SOCK_DGRAM, addr, 5001);
    struct nfq_packet p;
    next_packet(&p);
    struct tuple t;
    struct sockdiag_sock s = sender_of(&p, &t);
    assert_int_equal(t.proto, IPPROTO_UDP);
    assert_int_equal(nfq_accept(q, p.id), 0);
    struct result r = finish(c);
    assert_int_equal(r.error, 0);
    assert_int_equal(s.cookie, r.cookie);
    char buf[8];
    assert_int_equal(recv(lfd, buf, sizeof buf, 0), 1);
    close(lfd);
}

static void
test_udp(void **state)
{
    (void) state;
    udp_case(AF_INET, "10.99.0.1");
    udp_case(AF_INET6, "fd00:99::1");
}

/* The socket a SYN from outside would reach: the listener. */
static void
test_listener_lookup(void **state)
{
    (void) state;
    int lfd = listener(AF_INET, SOCK_STREAM, "10.99.0.1", 5002);
    uint64_t cookie;
    socklen_t len = sizeof cookie;
    assert_int_equal(getsockopt(lfd, SOL_SOCKET, SO_COOKIE, &cookie, &len),
                     0);
    struct sockdiag_endpoint local = { .port = 5002 };
    struct sockdiag_endpoint remote = { .port = 40000 };
    inet_pton(AF_INET, "10.99.0.1", local.addr);
    inet_pton(AF_INET, "10.99.0.7", remote.addr);
    struct sockdiag_sock s;
    assert_int_equal(sockdiag_lookup(sd, AF_INET, IPPROTO_TCP, &local,
                                     &remote, false, &s), 0);
    assert_int_equal(s.cookie, cookie);
    assert_int_equal(s.state, 10 /* TCP_LISTEN */);

    /* No socket at all. */
    local.port = 5003;
    assert_int_equal(sockdiag_lookup(sd, AF_INET, IPPROTO_TCP, &local,
                                     &remote, false, &s), ENOENT);
    close(lfd);
}

struct found {
    uint64_t cookie;
    bool seen;
    struct sockdiag_sock s;
};

static void
find_cookie(const struct sockdiag_endpoint *local,
            const struct sockdiag_endpoint *remote,
            const struct sockdiag_sock *s, void *f_)
{
    struct found *f = f_;
    (void) local;
    (void) remote;
    if (s->cookie == f->cookie) {
        f->seen = true;
        f->s = *s;
    }
}

/* tcp_info counters of an established connection (the client is this
 * process, connecting without blocking so that it can give the verdict). */
static void
test_tcp_info(void **state)
{
    (void) state;
    int lfd = listener(AF_INET, SOCK_STREAM, "10.99.0.1", 5004);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(5004),
    };
    inet_pton(AF_INET, "10.99.0.1", &sin.sin_addr);
    assert_int_equal(connect(cfd, (struct sockaddr *) &sin, sizeof sin), -1);
    assert_int_equal(errno, EINPROGRESS);
    struct nfq_packet p;
    next_packet(&p);
    struct tuple t;
    struct sockdiag_sock s = sender_of(&p, &t);
    assert_int_equal(s.state, 2 /* TCP_SYN_SENT */);
    assert_int_equal(nfq_accept(q, p.id), 0);
    struct pollfd pfd = { .fd = cfd, .events = POLLOUT };
    assert_int_equal(poll(&pfd, 1, 5000), 1);

    int afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    char data[3000] = { 0 };
    assert_int_equal(send(cfd, data, sizeof data, 0), sizeof data);
    assert_int_equal(recv(afd, data, sizeof data, MSG_WAITALL), sizeof data);

    struct sockdiag_endpoint local = { .port = t.src_port };
    struct sockdiag_endpoint remote = { .port = 5004 };
    memcpy(local.addr, t.src_addr, 16);
    memcpy(remote.addr, t.dst_addr, 16);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(sockdiag_lookup(sd, AF_INET, IPPROTO_TCP, &local,
                                         &remote, true, &s), 0);
        if (s.bytes_acked > sizeof data) {
            break;              /* Acks may trail the data a little. */
        }
        usleep(10 * 1000);
    }
    assert_true(s.has_tcp_info);
    assert_int_equal(s.state, 1 /* TCP_ESTABLISHED */);
    /* bytes_acked counts the SYN too. */
    assert_int_equal(s.bytes_acked, sizeof data + 1);
    assert_true(s.segs_out >= 2);

    /* The same socket, with the same counters, in a dump of them all. */
    struct found f = { .cookie = s.cookie };
    assert_int_equal(sockdiag_dump(sd, AF_INET, IPPROTO_TCP, find_cookie,
                                   &f), 0);
    assert_true(f.seen);
    assert_true(f.s.has_tcp_info);
    assert_int_equal(f.s.bytes_acked, sizeof data + 1);
    close(afd);
    close(cfd);
    close(lfd);
}

struct port_dump {
    uint16_t port;
    size_t n, other_port, bound_dev;
    uint64_t cookies[4];
};

static void
count_port(const struct sockdiag_endpoint *local,
           const struct sockdiag_endpoint *remote,
           const struct sockdiag_sock *s, void *d_)
{
    struct port_dump *d = d_;
    (void) remote;
    if (local->port != d->port) {
        d->other_port++;
    } else if (d->n < 4) {
        d->cookies[d->n] = s->cookie;
    }
    d->n += local->port == d->port;
    d->bound_dev += local->ifindex != 0;
}

static uint64_t
cookie_of(int fd)
{
    uint64_t cookie;
    socklen_t len = sizeof cookie;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len),
                     0);
    return cookie;
}

/* The sockets an inbound packet to a port could reach: a SO_REUSEPORT
 * group's every listener, filtered in the kernel by port, with the device
 * each is bound to; with 'listening', no connection of the same port. */
static void
test_dump_port(void **state)
{
    (void) state;
    int one = 1;
    int fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(fds[i], SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        struct sockaddr_storage ss;
        socklen_t len = make_addr(AF_INET, "10.99.0.1", 5005, &ss);
        assert_int_equal(bind(fds[i], (struct sockaddr *) &ss, len), 0);
        assert_int_equal(listen(fds[i], 16), 0);
    }
    int other = listener(AF_INET, SOCK_STREAM, "10.99.0.1", 5006);
    int bound = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(setsockopt(bound, SOL_SOCKET, SO_BINDTODEVICE, "lo",
                                3), 0);
    struct sockaddr_storage ss;
    socklen_t len = make_addr(AF_INET, "0.0.0.0", 5007, &ss);
    assert_int_equal(bind(bound, (struct sockaddr *) &ss, len), 0);
    assert_int_equal(listen(bound, 16), 0);

    struct port_dump d = { .port = 5005 };
    assert_int_equal(sockdiag_dump_port(sd, AF_INET, IPPROTO_TCP, 5005, true,
                                        count_port, &d), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.other_port, 0);
    assert_int_equal(d.bound_dev, 0);
    assert_true((d.cookies[0] == cookie_of(fds[0])
                 && d.cookies[1] == cookie_of(fds[1]))
                || (d.cookies[0] == cookie_of(fds[1])
                    && d.cookies[1] == cookie_of(fds[0])));

    d = (struct port_dump) { .port = 5007 };
    assert_int_equal(sockdiag_dump_port(sd, AF_INET, IPPROTO_TCP, 5007, true,
                                        count_port, &d), 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.bound_dev, 1);

    d = (struct port_dump) { .port = 5008 };
    assert_int_equal(sockdiag_dump_port(sd, AF_INET, IPPROTO_TCP, 5008, true,
                                        count_port, &d), 0);
    assert_int_equal(d.n + d.other_port, 0);
    close(bound);
    close(other);
    close(fds[0]);
    close(fds[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp4),
        cmocka_unit_test(test_tcp6),
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_listener_lookup),
        cmocka_unit_test(test_tcp_info),
        cmocka_unit_test(test_dump_port),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
