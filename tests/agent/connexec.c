/* connexec: a process that connects and then executes another program,
 * for appfw-agent's test that an event is judged as the executable that
 * made it (tests/agent/test-agent.sh).  Linked statically.
 *
 *   connexec connect ADDRESS PORT PROGRAM [ARG...]
 *       starts a non-blocking TCP connect() to ADDRESS:PORT (IPv4), then
 *       executes PROGRAM with the socket as descriptor 3
 *   connexec wait ADDRESS PORT
 *       waits (up to 10 s) for the connect() on descriptor 3 to finish and
 *       prints "first ok" or "first fail ERRNO-NAME", then connects to
 *       ADDRESS:PORT itself and prints "second ok" or "second fail
 *       ERRNO-NAME"; exits 0 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int
parse(const char *addr, const char *port, struct sockaddr_in *sin)
{
    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(atoi(port));
    if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
        fprintf(stderr, "connexec: bad address %s\n", addr);
        return -1;
    }
    return 0;
}

static int
start(struct sockaddr_in *sin, char **prog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        perror("connexec: socket");
        return 1;
    }
    if (connect(fd, (struct sockaddr *) sin, sizeof *sin)
        && errno != EINPROGRESS) {
        printf("first fail %s\n", strerrorname_np(errno));
        return 1;
    }
    if (fd != 3 && (dup2(fd, 3) < 0 || close(fd))) {
        perror("connexec: dup2");
        return 1;
    }
    execv(prog[0], prog);
    perror(prog[0]);
    return 1;
}

static int
wait_then_connect(struct sockaddr_in *sin)
{
    struct pollfd pfd = { .fd = 3, .events = POLLOUT };
    int error = 0;
    socklen_t len = sizeof error;
    if (poll(&pfd, 1, 10000) != 1) {
        error = ETIMEDOUT;
    } else if (getsockopt(3, SOL_SOCKET, SO_ERROR, &error, &len)) {
        error = errno;
    }
    printf(error ? "first fail %s\n" : "first ok\n",
           error ? strerrorname_np(error) : "");
    fflush(stdout);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) sin, sizeof *sin)) {
        printf("second fail %s\n", strerrorname_np(errno));
    } else {
        printf("second ok\n");
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct sockaddr_in sin;
    if (argc >= 5 && !strcmp(argv[1], "connect")) {
        return parse(argv[2], argv[3], &sin) ? 2 : start(&sin, argv + 4);
    } else if (argc == 4 && !strcmp(argv[1], "wait")) {
        return parse(argv[2], argv[3], &sin) ? 2 : wait_then_connect(&sin);
    }
    fprintf(stderr, "usage: connexec connect ADDRESS PORT PROGRAM [ARG...]"
            "\n       connexec wait ADDRESS PORT\n");
    return 2;
}
