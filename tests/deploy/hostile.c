/* hostile: what a compromised guest does to its appfw channel, for the
 * end-to-end tests (tests/deploy/guest-hostile.sh, inside a QEMU guest
 * whose agent was killed).  Static: the guest has no libc.
 *
 *   hostile garbage DEVICE SECONDS
 *       writes random bytes to DEVICE (the virtio-serial port) as fast as
 *       it takes them for SECONDS; every 16th write is a well-framed
 *       payload of random bytes instead.  The host end closes the channel
 *       at the first bad frame and reopens it later, so writes that would
 *       block are waited for, briefly.  Prints "garbage bytes=N writes=N"
 *   hostile spoof DEVICE UUID NAME APP-PATH PORT
 *       says hello, then asks for a connect to 10.66.0.2:PORT by APP-PATH
 *       claiming to be the VM UUID / NAME (someone else); prints the
 *       verdict ("verdict=allow rule=..."), or "error=...".  Tries again
 *       (30 s at most) while the host end of the port is closed. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chan.h"
#include "common/frame.h"
#include "common/msg.h"
#include "common/util.h"

static int
open_port(const char *device)
{
    int fd = open(device, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "hostile: %s: %s\n", device, strerror(errno));
        exit(1);
    }
    return fd;
}

/* xorshift64: fast, and good enough for garbage. */
static uint64_t
next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int
cmd_garbage(const char *device, int seconds)
{
    int fd = open_port(device);
    uint64_t seed = (uint64_t) time_mono_ms() * 2654435761u | 1;
    unsigned long long bytes = 0, writes = 0;
    int64_t end = time_mono_ms() + seconds * 1000LL;
    uint8_t buf[4096];
    while (time_mono_ms() < end) {
        size_t len = 64 + next_random(&seed) % (sizeof buf - 64);
        for (size_t i = 0; i < len; i += 8) {
            uint64_t r = next_random(&seed);
            memcpy(buf + i, &r, len - i < 8 ? len - i : 8);
        }
        if (writes % 16 == 15) {
            /* A frame of the right shape with a random payload. */
            size_t n = len - FRAME_HEADER_LEN;
            buf[0] = buf[1] = 0;
            buf[2] = n >> 8;
            buf[3] = n & 0xff;
        }
        ssize_t n = write(fd, buf, len);
        if (n > 0) {
            bytes += n;
            writes++;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            fprintf(stderr, "hostile: write: %s\n", strerror(errno));
            return 1;
        } else {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            poll(&pfd, 1, 20);
        }
    }
    close(fd);
    printf("garbage bytes=%llu writes=%llu\n", bytes, writes);
    return 0;
}

/* Sends hello and a decide claiming to be VM 'uuid' / 'name' over a new
 * channel on 'device'; waits (3 s at most between messages) for the
 * answer and prints it.  Returns false if the channel failed first. */
static bool
try_spoof(const char *device, const char *uuid, const char *name,
          const char *app, int port)
{
    struct chan *c = chan_create(open_port(device), 0, 0);
    struct json_object *hello = msg_hello_create("agent", "hostile");
    chan_send(c, hello);
    json_object_put(hello);

    struct json_object *d = msg_create(MSG_DECIDE);
    msg_put_int(d, "id", 1);
    msg_put_string(d, "event", "connect");
    msg_put_string(d, "protocol", "tcp");
    msg_put_string(d, "direction", "outbound");
    struct json_object *vm = json_object_new_object();
    msg_put_string(vm, "uuid", uuid);
    msg_put_string(vm, "name", name);
    json_object_object_add(d, "vm", vm);
    msg_put_endpoint(d, "local", "10.66.0.3", 40000);
    msg_put_endpoint(d, "remote", "10.66.0.2", port);
    struct json_object *a = json_object_new_object();
    msg_put_string(a, "path", app);
    json_object_object_add(d, "app", a);
    struct json_object *process = json_object_new_object();
    msg_put_int(process, "pid", 4242);
    json_object_object_add(d, "process", process);
    struct json_object *user = json_object_new_object();
    msg_put_int(user, "uid", 0);
    msg_put_string(user, "name", "root");
    json_object_object_add(d, "user", user);
    chan_send(c, d);
    json_object_put(d);

    for (;;) {
        struct frame f;
        int error = chan_recv_wait(c, &f, 3000);
        if (error) {
            /* EOF: the host end is not connected (switchd reopens a
             * channel it closed only after a backoff). */
            chan_destroy(c);
            return false;
        }
        struct json_object *m;
        enum msg_type type;
        char *perr = msg_parse(f.data, f.len, &m, &type);
        free(f.data);
        if (!perr && msg_get_int(m, "id", 0) == 1) {
            if (type == MSG_VERDICT) {
                printf("verdict=%s rule=%s\n",
                       msg_get_string(m, "verdict", ""),
                       msg_get_string(m, "rule", ""));
                json_object_put(m);
                chan_destroy(c);
                return true;
            } else if (type == MSG_ERROR) {
                printf("error=%s\n", msg_get_string(m, "message", "?"));
                json_object_put(m);
                chan_destroy(c);
                return true;
            }
        }
        free(perr);
        json_object_put(m);
    }
}

static int
cmd_spoof(const char *device, const char *uuid, const char *name,
          const char *app, int port)
{
    int64_t deadline = time_mono_ms() + 30000;
    while (!try_spoof(device, uuid, name, app, port)) {
        if (time_mono_ms() >= deadline) {
            printf("error=the host never answered\n");
            return 1;
        }
        usleep(500 * 1000);
    }
    return 0;
}

int
main(int argc, char *argv[])
{
    if (argc == 4 && !strcmp(argv[1], "garbage")) {
        return cmd_garbage(argv[2], atoi(argv[3]));
    } else if (argc == 7 && !strcmp(argv[1], "spoof")) {
        return cmd_spoof(argv[2], argv[3], argv[4], argv[5], atoi(argv[6]));
    }
    fprintf(stderr, "usage: hostile garbage DEVICE SECONDS\n"
            "       hostile spoof DEVICE UUID NAME APP-PATH PORT\n");
    return 2;
}
