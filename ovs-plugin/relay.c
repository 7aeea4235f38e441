/* relay: one VM's guest channel (see relay.h). */
#include <config.h>

#include "relay.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "openvswitch/poll-loop.h"
#include "timeval.h"
#include "util.h"

#include "common/chan.h"
#include "common/frame.h"
#include "common/log.h"

LOG_MODULE(relay);

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct relay {
    char *path;
    char *vm;                   /* For log messages. */
    struct chan *chan;          /* NULL while disconnected. */
    long long int next_try;     /* time_msec() of the next connect. */
    int backoff;
    struct log_rl rl;
    struct relay_stats stats;
    relay_admit_func *admit;
    void *admit_aux;
};

struct relay *
relay_create(const char *path, const char *vm_uuid)
{
    struct relay *r = xzalloc(sizeof *r);
    r->path = xstrdup(path);
    r->vm = xstrdup(vm_uuid);
    r->backoff = BACKOFF_MIN_MS;
    r->rl = (struct log_rl) LOG_RL_INIT(6, 2);
    return r;
}

void
relay_set_admit(struct relay *r, relay_admit_func *admit, void *aux)
{
    r->admit = admit;
    r->admit_aux = aux;
}

void
relay_destroy(struct relay *r)
{
    if (r) {
        chan_destroy(r->chan);
        free(r->path);
        free(r->vm);
        free(r);
    }
}

/* Drops the connection; the next attempt comes after the backoff. */
static void
disconnect(struct relay *r, const char *why)
{
    LOG_WARN_RL(&r->rl, "channel closed vm=%s path=%s reason=\"%s\" "
                "retry_ms=%d", r->vm, r->path, why, r->backoff);
    chan_destroy(r->chan);
    r->chan = NULL;
    r->next_try = time_msec() + r->backoff;
    r->backoff = MIN(r->backoff * 2, BACKOFF_MAX_MS);
}

static void
try_connect(struct relay *r)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    if (strlen(r->path) >= sizeof sun.sun_path) {
        r->next_try = LLONG_MAX;
        LOG_ERR("channel path too long vm=%s path=%s", r->vm, r->path);
        return;
    }
    strcpy(sun.sun_path, r->path);
    /* Non-blocking: a QEMU whose listen backlog is full must not stall
     * the daemon (a UNIX connect then fails with EAGAIN: retry later). */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
        int error = errno;
        if (fd >= 0) {
            close(fd);
        }
        LOG_INFO_RL(&r->rl, "channel connect failed vm=%s path=%s error=%s "
                    "retry_ms=%d", r->vm, r->path, strerror(error),
                    r->backoff);
        r->next_try = time_msec() + r->backoff;
        r->backoff = MIN(r->backoff * 2, BACKOFF_MAX_MS);
        return;
    }
    r->chan = chan_create(fd, 0, 0);
    r->stats.connects++;
    LOG_INFO("channel connected vm=%s path=%s", r->vm, r->path);

    /* Our side of the hello; the guest's comes as an ordinary message. */
    struct json_object *hello = msg_hello_create("switchd", "appfw-switchd");
    chan_send(r->chan, hello);
    json_object_put(hello);
}

void
relay_run(struct relay *r)
{
    if (!r->chan && time_msec() >= r->next_try) {
        try_connect(r);
    }
    if (r->chan) {
        int error = chan_run(r->chan);
        if (error) {
            disconnect(r, strerror(error));
        }
    }
}

void
relay_wait(struct relay *r)
{
    if (r->chan) {
        poll_fd_wait(chan_fd(r->chan), chan_poll_events(r->chan));
    } else if (r->next_try != LLONG_MAX) {
        poll_timer_wait_until(r->next_try);
    }
}

enum relay_result
relay_recv(struct relay *r, struct json_object **msg, enum msg_type *type,
           char **errorp, int64_t *id)
{
    if (!r->chan) {
        return RELAY_NONE;
    }
    struct frame frame;
    int error = chan_recv(r->chan, &frame);
    if (error == EAGAIN) {
        return RELAY_NONE;
    } else if (error) {
        if (error == EBADMSG || error == EMSGSIZE) {
            r->stats.framing_errors++;
        }
        disconnect(r, error == EOF ? "end of stream"
                      : error == EBADMSG ? "zero-length frame"
                      : error == EMSGSIZE ? "oversize frame"
                      : strerror(error));
        return RELAY_NONE;
    }
    /* A good frame: the peer is talking sense, so reset the backoff. */
    r->backoff = BACKOFF_MIN_MS;
    r->stats.frames_in++;
    if (r->admit && !r->admit(frame.len, r->admit_aux)) {
        r->stats.refused_frames++;
        free(frame.data);
        return RELAY_REFUSED;
    }
    char *perror = msg_parse(frame.data, frame.len, msg, type);
    if (perror) {
        r->stats.bad_frames++;
        *errorp = perror;
        *id = 0;
        /* Echo the id if the frame was JSON with a usable one. */
        struct json_object *obj = json_tokener_parse((char *) frame.data);
        if (obj) {
            int64_t v = msg_get_int(obj, "id", 0);
            *id = v > 0 && v <= MSG_INT_MAX ? v : 0;
            json_object_put(obj);
        }
        free(frame.data);
        return RELAY_BAD;
    }
    free(frame.data);
    return RELAY_MSG;
}

int
relay_send(struct relay *r, const struct json_object *msg)
{
    if (!r->chan) {
        return ENOTCONN;
    }
    int error = chan_send(r->chan, msg);
    if (error && error != ENOBUFS && error != EMSGSIZE) {
        disconnect(r, strerror(error));
    }
    return error;
}

bool
relay_is_connected(const struct relay *r)
{
    return r->chan != NULL;
}

const char *
relay_path(const struct relay *r)
{
    return r->path;
}

void
relay_get_stats(const struct relay *r, struct relay_stats *stats)
{
    *stats = r->stats;
}
