/* relay: one VM's channel to its guest agent.
 *
 * The channel is a virtio-serial port whose host side QEMU exposes as a
 * UNIX socket (libvirt: <channel type='unix'> named org.appfw.agent.0);
 * switchd connects to it, and reconnects with exponential backoff (100 ms
 * up to 5 s) when QEMU or the guest restarts.  Frames are common/'s:
 * relay_recv() hands out validated messages one at a time.
 *
 * Input from a guest is hostile.  A framing violation (zero or oversize
 * length) ends the connection: the stream can no longer be trusted; the
 * relay reconnects after a backoff.  A frame that is not a valid message
 * is reported to the caller, which answers it with an error. */
#ifndef RELAY_H
#define RELAY_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/msg.h"

struct json_object;

struct relay;

struct relay *relay_create(const char *path, const char *vm_uuid);
void relay_destroy(struct relay *);

/* Each whole frame is first offered to 'admit' with its length, before it
 * is parsed: a frame it refuses is dropped unread (relay_recv() returns
 * RELAY_REFUSED), so a guest over its budget costs no parsing. */
typedef bool relay_admit_func(size_t len, void *aux);
void relay_set_admit(struct relay *, relay_admit_func *, void *aux);

/* Connects, reconnects and flushes output.  Never blocks. */
void relay_run(struct relay *);
void relay_wait(struct relay *);

enum relay_result {
    RELAY_NONE,                 /* Nothing (more) to read now. */
    RELAY_MSG,                  /* '*msg' and '*type' are set. */
    RELAY_REFUSED,              /* A frame the admit function refused. */
    RELAY_BAD,                  /* A frame that is not a valid message:
                                 * '*error' says why (the caller frees it),
                                 * '*id' is its id if it had one, else 0. */
};

/* Receives one message.  The caller owns '*msg'. */
enum relay_result relay_recv(struct relay *, struct json_object **msg,
                             enum msg_type *type, char **error,
                             int64_t *id);

/* Sends 'msg' to the guest.  Returns 0 or an errno value (ENOTCONN if the
 * channel is down, ENOBUFS if the guest does not read). */
int relay_send(struct relay *, const struct json_object *msg);

bool relay_is_connected(const struct relay *);
const char *relay_path(const struct relay *);

/* Totals for appfw/vms. */
struct relay_stats {
    unsigned long long connects, frames_in, bad_frames, framing_errors,
                       refused_frames;
};
void relay_get_stats(const struct relay *, struct relay_stats *);

#endif /* relay.h */
