/* Unit tests of guest-agent/pingsock.c: /proc/net/icmp and icmp6 lines
 * as the kernel prints them, and a real ping socket where the kernel
 * lets this process open one. */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "guest-agent/pingsock.h"

static char *
write_file(const char *text)
{
    static char path[] = "/tmp/test-pingsock.XXXXXX";
    strcpy(path, "/tmp/test-pingsock.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    return path;
}

#define HEADER4 "  sl  local_address rem_address   st tx_queue rx_queue tr " \
    "tm->when retrnsmt   uid  timeout inode ref pointer drops\n"

static void
test_ipv4(void **state)
{
    (void) state;
    char *path = write_file(
        HEADER4
        "  12: 0100000A:0007 00000000:0000 07 00000000:00000000 00:00000000"
        " 00000000 65534        0 4242 2 0000000000000000 0\n"
        "  13: 00000000:3039 00000000:0000 07 00000000:00000000 00:00000000"
        " 00000000  1000        0 4343 2 0000000000000000 0\n"
        "  14: 00000000:0007 00000000:0000 07 00000000:00000000 00:00000000"
        " 00000000  1001        0 4444 2 0000000000000000 0\n");
    uint8_t bound[4] = { 10, 0, 0, 1 }, other[4] = { 10, 0, 0, 9 };
    uint32_t inode = 0, uid = 0;
    assert_true(pingsock_find(path, AF_INET, bound, 7, &inode, &uid));
    assert_int_equal(inode, 4242);
    assert_int_equal(uid, 65534);
    /* Bound elsewhere: the socket on the wildcard address. */
    assert_true(pingsock_find(path, AF_INET, other, 7, &inode, &uid));
    assert_int_equal(inode, 4444);
    /* The wildcard address takes any local address. */
    assert_true(pingsock_find(path, AF_INET, other, 12345, &inode, &uid));
    assert_int_equal(inode, 4343);
    assert_int_equal(uid, 1000);
    assert_false(pingsock_find(path, AF_INET, bound, 8, &inode, &uid));
    unlink(path);
    assert_false(pingsock_find(path, AF_INET, bound, 7, &inode, &uid));
}

static void
test_ipv6_and_garbage(void **state)
{
    (void) state;
    /* fd88::1 as the kernel prints it: each 32-bit word as stored. */
    char *path = write_file(
        HEADER4
        "garbage\n"
        "   0: 000088FD000000000000000001000000:0009 "
        "00000000000000000000000000000000:0000 07 00000000:00000000 "
        "00:00000000 00000000     0        0 99 2 0000000000000000 0\n");
    uint8_t a[16];
    inet_pton(AF_INET6, "fd88::1", a);
    uint32_t inode = 0, uid = 1;
    assert_true(pingsock_find(path, AF_INET6, a, 9, &inode, &uid));
    assert_int_equal(inode, 99);
    assert_int_equal(uid, 0);
    unlink(path);
}

/* Makes this process a network namespace of its own, with loopback up,
 * where every group may open ping sockets (net.ipv4.ping_group_range is
 * per namespace; Debian's default lets no one).  Needs root, as the
 * tests run. */
static void
private_netns_with_ping(void)
{
    assert_int_equal(unshare(CLONE_NEWNET), 0);
    FILE *f = fopen("/proc/sys/net/ipv4/ping_group_range", "w");
    assert_non_null(f);
    assert_true(fprintf(f, "0 2147483647\n") > 0);
    assert_int_equal(fclose(f), 0);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(s >= 0);
    struct ifreq ifr = { .ifr_name = "lo" };
    assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
    close(s);
}

/* A real ping socket, in a namespace where this process may open one. */
static void
test_real_socket(void **state)
{
    (void) state;
    private_netns_with_ping();
    int fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    assert_true(fd >= 0);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof sin), 0);
    socklen_t len = sizeof sin;
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    uint8_t lo[4] = { 127, 0, 0, 1 };
    uint32_t inode = 0, uid = 0;
    assert_true(pingsock_find("/proc/net/icmp", AF_INET, lo,
                              ntohs(sin.sin_port), &inode, &uid));
    assert_int_equal(inode, st.st_ino);
    assert_int_equal(uid, getuid());
    close(fd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6_and_garbage),
        cmocka_unit_test(test_real_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
