/* rawconnect: connects with raw system calls (syscall(2), no libc socket
 * wrappers), linked statically, to show that appfw-agent's interception
 * is the kernel's and not a library shim.
 *
 *   rawconnect ADDRESS PORT
 *       prints "ok" or "fail ERRNO-NAME" and exits 0 or 1 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rawconnect ADDRESS PORT\n");
        return 2;
    }
    struct sockaddr_in sin = { .sin_family = AF_INET };
    struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
    const void *sa;
    socklen_t len;
    int family;
    if (inet_pton(AF_INET, argv[1], &sin.sin_addr) == 1) {
        sin.sin_port = htons(atoi(argv[2]));
        sa = &sin;
        len = sizeof sin;
        family = AF_INET;
    } else if (inet_pton(AF_INET6, argv[1], &sin6.sin6_addr) == 1) {
        sin6.sin6_port = htons(atoi(argv[2]));
        sa = &sin6;
        len = sizeof sin6;
        family = AF_INET6;
    } else {
        fprintf(stderr, "rawconnect: bad address %s\n", argv[1]);
        return 2;
    }
    long fd = syscall(SYS_socket, family, SOCK_STREAM, 0);
    if (fd < 0 || syscall(SYS_connect, fd, sa, len) < 0) {
        printf("fail %s\n", strerrorname_np(errno));
        return 1;
    }
    printf("ok\n");
    syscall(SYS_close, fd);
    return 0;
}
