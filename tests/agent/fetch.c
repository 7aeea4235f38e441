/* fetch: a minimal HTTP/1.0 download tool for appfw's test guests (the
 * static busybox's wget crashes in Debian 12).  Linked statically.
 *
 *   fetch http://ADDRESS[:PORT]/PATH
 *       prints the response body; exits 0 on a 2xx answer, else 1 with a
 *       message on standard error */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    char host[64], path[512] = "/";
    int port = 80;
    if (argc != 2
        || (sscanf(argv[1], "http://%63[0-9.]:%d%511s", host, &port, path) < 2
            && sscanf(argv[1], "http://%63[0-9.]%511s", host, path) < 1)) {
        fprintf(stderr, "usage: fetch http://ADDRESS[:PORT]/PATH\n");
        return 2;
    }
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port),
    };
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        fprintf(stderr, "fetch: %s: not an IPv4 address\n", host);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sin, sizeof sin)) {
        fprintf(stderr, "fetch: can't connect to %s:%d: %s\n", host, port,
                strerror(errno));
        return 1;
    }
    char req[700];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n",
                     path, host);
    if (write(fd, req, n) != n) {
        fprintf(stderr, "fetch: write: %s\n", strerror(errno));
        return 1;
    }
    static char buf[1 << 20];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1
           && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0) {
        len += r;
    }
    buf[len] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    int status = 0;
    if (!body || sscanf(buf, "HTTP/%*s %d", &status) != 1) {
        fprintf(stderr, "fetch: not an HTTP answer\n");
        return 1;
    }
    fputs(body + 4, stdout);
    if (status < 200 || status > 299) {
        fprintf(stderr, "fetch: HTTP %d\n", status);
        return 1;
    }
    return 0;
}
