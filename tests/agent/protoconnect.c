/* protoconnect: an SCTP or DCCP connect, as an unprivileged user, for the
 * QEMU guest's checks (the guest has no Python); linked statically.
 *
 *   protoconnect sctp|dccp UID ADDRESS PORT
 *       drops to UID (and its gid), connects for at most 5 s; prints
 *       "ok" or "fail ERRNO-NAME" and exits 0 or 1 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOCK_DCCP
#define SOCK_DCCP 6
#endif
#ifndef IPPROTO_DCCP
#define IPPROTO_DCCP 33
#endif

static void
on_alarm(int sig)
{
    (void) sig;
}

int
main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "sctp") && strcmp(argv[1], "dccp"))) {
        fprintf(stderr, "usage: protoconnect sctp|dccp UID ADDRESS PORT\n");
        return 2;
    }
    uid_t uid = atoi(argv[2]);
    if (setgroups(0, NULL) || setresgid(uid, uid, uid)
        || setresuid(uid, uid, uid)) {
        printf("fail setuid %s\n", strerrorname_np(errno));
        return 1;
    }
    bool sctp = !strcmp(argv[1], "sctp");
    int fd = socket(AF_INET, sctp ? SOCK_STREAM : SOCK_DCCP,
                    sctp ? IPPROTO_SCTP : IPPROTO_DCCP);
    if (fd < 0) {
        printf("fail socket %s\n", strerrorname_np(errno));
        return 1;
    }
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons(atoi(argv[4])) };
    if (inet_pton(AF_INET, argv[3], &sin.sin_addr) != 1) {
        fprintf(stderr, "protoconnect: bad address %s\n", argv[3]);
        return 2;
    }
    struct sigaction sa = { .sa_handler = on_alarm };
    sigaction(SIGALRM, &sa, NULL);
    alarm(5);
    if (connect(fd, (struct sockaddr *) &sin, sizeof sin)) {
        printf("fail %s\n", strerrorname_np(errno));
        return 1;
    }
    printf("ok\n");
    return 0;
}
