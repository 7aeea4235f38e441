/* guest-sim: plays a guest's side of a virtio-serial channel for the
 * appfw-switchd tests, until the agent (guest-agent/) exists.  It listens on
 * a UNIX socket as QEMU's chardev does, accepts appfw-switchd, and speaks
 * common/'s framing.
 *
 *   guest-sim PATH decide ID PROTO LOCAL-IP LPORT REMOTE-IP RPORT
 *       sends hello, then one decide; prints the reply (one JSON line)
 *   guest-sim PATH decide-wait TYPE ID PROTO LOCAL-IP LPORT REMOTE-IP RPORT
 *       as decide, then prints the first message of TYPE that comes
 *       (policy_change, say); exits 1 if none comes within 10 s
 *   guest-sim PATH garbage SECONDS
 *       for SECONDS: sends a zero-length frame (a framing violation) each
 *       time switchd connects; prints how many connections it saw
 *   guest-sim PATH send JSON... -- ID PROTO LOCAL-IP LPORT REMOTE-IP RPORT
 *       sends hello, then each JSON text as one frame as it is (hostile
 *       messages; "@FILE": each line of FILE), then one decide; prints
 *       the decide's reply
 *   guest-sim PATH rehello
 *       after the hellos, says hello again (as a restarted agent does)
 *       and prints the type of the first message that comes back
 *   guest-sim PATH bench COUNT [GAP-US [RPORT]]
 *       sends COUNT decides one at a time (GAP-US apart), to remote port
 *       RPORT (8080) from as many local ports (up to 20,000); prints
 *       "p50_us=.. p99_us=.."
 *   guest-sim PATH flood SECONDS RATE FLOWS DECIDE-RATE
 *       for SECONDS, RATE stats messages a second of FLOWS flows each
 *       (random hashes and destinations), and DECIDE-RATE decides a
 *       second of random application paths (16 unanswered at most);
 *       prints what it sent and what came back
 *   guest-sim PATH naming USER ADDRESS BYTES
 *       reports (naming) USER logged in at ADDRESS, asks a decide for
 *       USER (uid 2000), reports BYTES of USER's traffic on a connection
 *       into the VM (stats: what the guest's reports charge to the user,
 *       docs/policy.md "Quotas"), then prints the first notice that
 *       comes back (or exits 1 after 10 s)
 *
 * Exits 1 if switchd does not connect or answer within 10 s. */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/chan.h"
#include "common/frame.h"
#include "common/msg.h"
#include "common/util.h"
#include "tests/bench/bench.h"

#define TIMEOUT_MS 10000

static int
listen_on(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sun, sizeof sun)
        || listen(fd, 4)) {
        perror(path);
        exit(1);
    }
    return fd;
}

static int
accept_within(int lfd, int timeout_ms)
{
    struct pollfd pfd = { .fd = lfd, .events = POLLIN };
    if (poll(&pfd, 1, timeout_ms) <= 0) {
        return -1;
    }
    return accept(lfd, NULL, NULL);
}

/* Waits for the next frame; returns the parsed object or exits. */
static struct json_object *
recv_msg(struct chan *c)
{
    int64_t deadline = time_mono_ms() + TIMEOUT_MS;
    for (;;) {
        struct frame f;
        int error = chan_recv(c, &f);
        if (!error) {
            struct json_object *obj = json_tokener_parse((char *) f.data);
            free(f.data);
            if (!obj) {
                fprintf(stderr, "guest-sim: unparsable frame\n");
                exit(1);
            }
            return obj;
        } else if (error != EAGAIN) {
            fprintf(stderr, "guest-sim: channel: %s\n",
                    error == EOF ? "closed" : strerror(error));
            exit(1);
        }
        int left = deadline - time_mono_ms();
        struct pollfd pfd = { .fd = chan_fd(c), .events = POLLIN };
        if (left <= 0 || poll(&pfd, 1, left) <= 0) {
            fprintf(stderr, "guest-sim: no answer within %d ms\n",
                    TIMEOUT_MS);
            exit(1);
        }
    }
}

/* Accepts switchd, exchanges hellos. */
static struct chan *
open_channel(const char *path)
{
    int lfd = listen_on(path);
    int fd = accept_within(lfd, TIMEOUT_MS);
    close(lfd);
    if (fd < 0) {
        fprintf(stderr, "guest-sim: appfw-switchd did not connect\n");
        exit(1);
    }
    struct chan *c = chan_create(fd, 0, 0);
    struct json_object *hello = recv_msg(c);
    if (strcmp(msg_get_string(hello, "type", ""), "hello")) {
        fprintf(stderr, "guest-sim: expected hello first\n");
        exit(1);
    }
    json_object_put(hello);
    struct json_object *mine = msg_hello_create("agent", NULL);
    chan_send(c, mine);
    json_object_put(mine);
    return c;
}

static struct json_object *
make_decide(long long id, const char *proto, const char *lip, int lport,
            const char *rip, int rport)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"type\":\"decide\",\"id\":%lld,\"event\":\"%s\","
             "\"protocol\":\"%s\",\"direction\":\"outbound\","
             "\"local\":{\"address\":\"%s\",\"port\":%d},"
             "\"remote\":{\"address\":\"%s\",\"port\":%d},"
             "\"app\":{\"path\":\"/usr/bin/curl\"},"
             "\"process\":{\"pid\":4242},"
             "\"user\":{\"uid\":1000,\"name\":\"alice\"},"
             "\"vm\":{\"uuid\":\"00000000-0000-4000-8000-0000000000ff\","
             "\"name\":\"forged\"}}",
             id, !strcmp(proto, "icmp") ? "send" : "connect", proto, lip,
             lport, rip, rport);
    return json_tokener_parse(text);
}

/* Sends one decide and waits for the reply with its id (skipping
 * heartbeats and the like). */
static struct json_object *
decide(struct chan *c, struct json_object *req)
{
    int64_t id = msg_get_int(req, "id", 0);
    chan_send(c, req);
    for (;;) {
        chan_run(c);
        struct json_object *reply = recv_msg(c);
        if (msg_get_int(reply, "id", -1) == id) {
            return reply;
        }
        json_object_put(reply);
    }
}

/* Sends the decide that 'argv' (ID PROTO LIP LPORT RIP RPORT) describes
 * and prints its reply. */
static void
decide_print(struct chan *c, char **argv)
{
    struct json_object *req = make_decide(atoll(argv[0]), argv[1], argv[2],
                                          atoi(argv[3]), argv[4],
                                          atoi(argv[5]));
    struct json_object *reply = decide(c, req);
    printf("%s\n", json_object_to_json_string_ext(reply,
                                                  JSON_C_TO_STRING_PLAIN));
    fflush(stdout);
    json_object_put(req);
    json_object_put(reply);
}

static int
cmd_decide_on(struct chan *c, char **argv)
{
    decide_print(c, argv);
    chan_destroy(c);
    return 0;
}

static int
cmd_decide(const char *path, char **argv)
{
    return cmd_decide_on(open_channel(path), argv);
}

static int
cmd_decide_wait(const char *path, const char *type, char **argv)
{
    struct chan *c = open_channel(path);
    decide_print(c, argv);
    for (;;) {
        chan_run(c);
        struct json_object *m = recv_msg(c);
        if (!strcmp(msg_get_string(m, "type", ""), type)) {
            printf("%s\n", json_object_to_json_string_ext(
                       m, JSON_C_TO_STRING_PLAIN));
            json_object_put(m);
            break;
        }
        json_object_put(m);
    }
    chan_destroy(c);
    return 0;
}

/* Sends 'text' as one frame, waiting for room in the output queue. */
static void
send_frame(struct chan *c, const char *text)
{
    int error;
    int64_t deadline = time_mono_ms() + TIMEOUT_MS;
    while ((error = chan_send_raw(c, text, strlen(text))) == ENOBUFS
           && time_mono_ms() < deadline) {
        /* The output queue is full: let switchd read some. */
        chan_run(c);
        struct pollfd pfd = { .fd = chan_fd(c), .events = POLLOUT };
        poll(&pfd, 1, 10);
    }
    if (error) {
        fprintf(stderr, "guest-sim: cannot send a frame: %s\n",
                strerror(error));
        exit(1);
    }
}

static int
cmd_send(const char *path, int argc, char **argv)
{
    struct chan *c = open_channel(path);
    int i;
    for (i = 0; i < argc && strcmp(argv[i], "--"); i++) {
        if (argv[i][0] == '@') {
            FILE *file = fopen(argv[i] + 1, "r");
            if (!file) {
                perror(argv[i] + 1);
                exit(1);
            }
            char *line = NULL;
            size_t cap = 0;
            ssize_t n;
            while ((n = getline(&line, &cap, file)) > 0) {
                line[strcspn(line, "\n")] = '\0';
                send_frame(c, line);
            }
            free(line);
            fclose(file);
            continue;
        }
        send_frame(c, argv[i]);
    }
    /* All of it out before the decide, which must find room. */
    int64_t deadline = time_mono_ms() + TIMEOUT_MS;
    while (chan_txq_size(c) && !chan_run(c) && time_mono_ms() < deadline) {
        struct pollfd pfd = { .fd = chan_fd(c), .events = POLLOUT };
        poll(&pfd, 1, 10);
    }
    if (argc - i - 1 != 6) {
        fprintf(stderr, "guest-sim: send: give the decide after --\n");
        exit(2);
    }
    char **d = argv + i + 1;
    return cmd_decide_on(c, d);
}

static int
cmd_naming(const char *path, const char *user, const char *addr,
           long long bytes)
{
    struct chan *c = open_channel(path);
    char text[1024];
    snprintf(text, sizeof text, "{\"type\":\"naming\",\"addresses\":"
             "[\"%s\"],\"sessions\":[{\"user\":\"%s\",\"tty\":\"pts/0\","
             "\"since\":1795300000}]}", addr, user);
    struct json_object *m = json_tokener_parse(text);
    chan_send(c, m);
    json_object_put(m);

    struct json_object *req = make_decide(77, "tcp", addr, 40077,
                                          "10.77.0.2", 8080);
    json_object_object_add(req, "user", json_tokener_parse(
                               "{\"uid\":2000}"));
    json_object_object_add(json_object_object_get(req, "user"), "name",
                           json_object_new_string(user));
    json_object_put(decide(c, req));
    json_object_put(req);

    snprintf(text, sizeof text, "{\"type\":\"stats\",\"interval\":1,"
             "\"flows\":[{\"protocol\":\"tcp\",\"direction\":\"inbound\","
             "\"local\":{\"address\":\"%s\",\"port\":8080},"
             "\"remote\":{\"address\":\"10.77.0.2\",\"port\":40077},"
             "\"uid\":2000,\"bytes_in\":%lld}]}", addr, bytes);
    m = json_tokener_parse(text);
    chan_send(c, m);
    json_object_put(m);
    for (;;) {
        chan_run(c);
        struct json_object *r = recv_msg(c);
        if (!strcmp(msg_get_string(r, "type", ""), "notice")) {
            printf("%s\n", json_object_to_json_string_ext(
                       r, JSON_C_TO_STRING_PLAIN));
            json_object_put(r);
            break;
        }
        json_object_put(r);
    }
    chan_destroy(c);
    return 0;
}

static int
cmd_rehello(const char *path)
{
    struct chan *c = open_channel(path);
    struct json_object *again = msg_hello_create("agent", NULL);
    chan_send(c, again);
    chan_run(c);
    json_object_put(again);
    struct json_object *reply = recv_msg(c);
    printf("%s\n", msg_get_string(reply, "type", "?"));
    json_object_put(reply);
    chan_destroy(c);
    return 0;
}

static int
cmd_garbage(const char *path, int seconds)
{
    int lfd = listen_on(path);
    int64_t end = time_mono_ms() + seconds * 1000;
    int connections = 0;
    while (time_mono_ms() < end) {
        int fd = accept_within(lfd, end - time_mono_ms());
        if (fd < 0) {
            continue;
        }
        connections++;
        static const char zero[4] = { 0, 0, 0, 0 };
        if (write(fd, zero, sizeof zero) != sizeof zero) {
            /* switchd may already be gone: count it anyway. */
        }
        usleep(50000);
        close(fd);
    }
    printf("garbage connections=%d\n", connections);
    close(lfd);
    return 0;
}

static int
cmd_bench(const char *path, int count, int gap_us, int rport)
{
    struct chan *c = open_channel(path);
    struct bench_samples s;
    bench_samples_init(&s);
    int errors = 0;
    for (int i = 1; i <= count; i++) {
        struct json_object *req = make_decide(i, "tcp", "10.77.0.1",
                                              40000 + i % 20000,
                                              "10.77.0.2", rport);
        int64_t t0 = bench_now_ns();
        struct json_object *reply = decide(c, req);
        bench_samples_add(&s, (double) (bench_now_ns() - t0));
        if (strcmp(msg_get_string(reply, "type", ""), "verdict")) {
            errors++;
        }
        json_object_put(req);
        json_object_put(reply);
        if (gap_us) {
            usleep(gap_us);
        }
    }
    printf("decides=%d errors=%d p50_us=%.0f p99_us=%.0f\n", count, errors,
           bench_percentile(&s, 50) / 1e3, bench_percentile(&s, 99) / 1e3);
    bench_samples_destroy(&s);
    chan_destroy(c);
    return errors ? 1 : 0;
}

/* A stats message of 'flows' random flows, as a frame's payload. */
static char *
random_stats(int flows, unsigned int *seed)
{
    size_t cap = 128 + (size_t) flows * 256, len = 0;
    char *t = xmalloc(cap);
    len += snprintf(t + len, cap - len,
                    "{\"type\":\"stats\",\"interval\":30,\"flows\":[");
    for (int i = 0; i < flows; i++) {
        char sha[65];
        for (int k = 0; k < 64; k++) {
            sha[k] = "0123456789abcdef"[rand_r(seed) % 16];
        }
        sha[64] = '\0';
        unsigned int r = rand_r(seed);
        len += snprintf(t + len, cap - len,
                        "%s{\"protocol\":\"tcp\",\"local\":{\"address\":"
                        "\"10.77.0.9\",\"port\":%u},\"remote\":{\"address\":"
                        "\"10.%u.%u.%u\",\"port\":%u},\"sha256\":\"%s\","
                        "\"uid\":1000,\"bytes_in\":%u,\"bytes_out\":%u}",
                        i ? "," : "", 1024 + r % 60000, r >> 8 & 255,
                        r >> 16 & 255, r >> 24, 1 + r % 65535, sha,
                        r % 100000, r % 7000);
    }
    snprintf(t + len, cap - len, "]}");
    return t;
}

static int
cmd_flood(const char *path, int seconds, int rate, int flows,
          int decide_rate)
{
    struct chan *c = open_channel(path);
    unsigned int seed = 7;
    enum { POOL = 64 };
    char *pool[POOL];
    for (int i = 0; i < POOL; i++) {
        pool[i] = random_stats(flows, &seed);
    }
    long stats = 0, decides = 0, verdicts = 0, limited = 0, other = 0;
    int64_t start = time_mono_ms(), end = start + seconds * 1000LL;
    for (int64_t now = start; now < end; now = time_mono_ms()) {
        for (long due = (now - start) * rate / 1000; stats < due; stats++) {
            const char *t = pool[stats % POOL];
            chan_send_raw(c, t, strlen(t));
        }
        while (decides - verdicts - limited - other < 16
               && decides < (now - start) * decide_rate / 1000) {
            char app[64];
            snprintf(app, sizeof app, "/tmp/.x/%08x", rand_r(&seed));
            struct json_object *d = make_decide(++decides, "tcp",
                                                "10.77.0.9", 40000,
                                                "10.77.0.2", 8080);
            json_object_object_add(json_object_object_get(d, "app"), "path",
                                   json_object_new_string(app));
            chan_send(c, d);
            json_object_put(d);
        }
        chan_run(c);
        struct frame f;
        while (!chan_recv(c, &f)) {
            const char *s = (const char *) f.data;
            if (strstr(s, "\"rate_limited\"")) {
                limited++;
            } else if (strstr(s, "\"verdict\"")) {
                verdicts++;
            } else if (strstr(s, "\"error\"")) {
                other++;
            }
            free(f.data);
        }
        struct pollfd pfd = { .fd = chan_fd(c), .events = POLLIN };
        poll(&pfd, 1, 1);
    }
    printf("flood: stats=%ld (%.0f/s of %d flows) decides=%ld verdicts=%ld "
           "rate_limited=%ld other_errors=%ld\n", stats,
           stats / (double) seconds, flows, decides, verdicts, limited,
           other);
    for (int i = 0; i < POOL; i++) {
        free(pool[i]);
    }
    chan_destroy(c);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 9 && !strcmp(argv[2], "decide")) {
        return cmd_decide(argv[1], argv + 3);
    } else if (argc >= 10 && !strcmp(argv[2], "decide-wait")) {
        return cmd_decide_wait(argv[1], argv[3], argv + 4);
    } else if (argc >= 4 && !strcmp(argv[2], "send")) {
        return cmd_send(argv[1], argc - 3, argv + 3);
    } else if (argc == 6 && !strcmp(argv[2], "naming")) {
        return cmd_naming(argv[1], argv[3], argv[4], atoll(argv[5]));
    } else if (argc == 3 && !strcmp(argv[2], "rehello")) {
        return cmd_rehello(argv[1]);
    } else if (argc == 4 && !strcmp(argv[2], "garbage")) {
        return cmd_garbage(argv[1], atoi(argv[3]));
    } else if (argc >= 4 && argc <= 6 && !strcmp(argv[2], "bench")) {
        return cmd_bench(argv[1], atoi(argv[3]), argc >= 5 ? atoi(argv[4]) : 0,
                         argc == 6 ? atoi(argv[5]) : 8080);
    } else if (argc == 7 && !strcmp(argv[2], "flood")) {
        return cmd_flood(argv[1], atoi(argv[3]), atoi(argv[4]),
                         atoi(argv[5]), atoi(argv[6]));
    }
    fprintf(stderr, "usage: guest-sim PATH decide ID PROTO LIP LPORT RIP "
            "RPORT\n       guest-sim PATH decide-wait TYPE ID PROTO LIP "
            "LPORT RIP RPORT\n       guest-sim PATH send JSON... -- ID PROTO LIP "
            "LPORT RIP RPORT\n       guest-sim PATH garbage SECONDS\n"
            "       guest-sim PATH bench COUNT\n");
    return 2;
}
