/* chan: a framed message channel over a non-blocking stream socket.
 *
 * Wraps one file descriptor (a virtio-serial port, a UNIX socket) with a
 * frame decoder (common/frame.h) for input and a bounded queue for output.
 * It does not know which event loop drives it: callers register
 * chan_fd() for chan_poll_events() in their loop (common/loop.h, or OVS's
 * poll loop in appfw-switchd) and call chan_run() / chan_recv() when woken.
 *
 * A framing error (zero-length or oversize frame) is final: the peer's
 * stream can no longer be trusted, so the channel reports it and must be
 * destroyed. */
#ifndef APPFW_CHAN_H
#define APPFW_CHAN_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>              /* EOF */

struct frame;
struct json_object;

/* Default bound on queued output, in bytes. */
#define CHAN_DEFAULT_TXQ_MAX (1024 * 1024)

/* Creates a channel on 'fd' and takes ownership of it (it is made
 * non-blocking and closed by chan_destroy()).  'max_frame' bounds incoming
 * payloads (0: FRAME_MAX_LEN); 'txq_max' bounds queued output (0: the
 * default). */
struct chan *chan_create(int fd, size_t max_frame, size_t txq_max);
void chan_destroy(struct chan *);

int chan_fd(const struct chan *);

/* Writes queued output without blocking.  Returns 0, or the errno of a
 * failed write (the channel is then dead). */
int chan_run(struct chan *);

/* The poll events (POLLIN, POLLOUT) the channel needs next. */
short chan_poll_events(const struct chan *);

/* Receives one frame without blocking.  Returns 0 and fills 'frame' (the
 * caller owns frame->data), EAGAIN if no whole frame is available, EOF at
 * a clean end of stream, EPROTO at an end of stream in the middle of a
 * frame, EBADMSG or EMSGSIZE for a framing violation, or another errno
 * from read(). */
int chan_recv(struct chan *, struct frame *frame);

/* Whether bytes already read from the fd wait to be decoded (so that
 * chan_recv() may return a frame without reading). */
bool chan_has_input(const struct chan *);

/* Like chan_recv(), but waits (writing queued output meanwhile) up to
 * 'timeout_ms' for a whole frame; ETIMEDOUT if none came.  For tools and
 * tests: a daemon polls instead. */
int chan_recv_wait(struct chan *, struct frame *frame, int timeout_ms);

/* Corks the channel: chan_send() then only queues, and writes once
 * CHAN_CORK_BYTES wait, until chan_uncork() writes the rest.  For a burst
 * of messages that would otherwise each cost a write (over virtio-serial,
 * a notification of the host each).  chan_run() writes either way. */
#define CHAN_CORK_BYTES 65536
void chan_cork(struct chan *);
int chan_uncork(struct chan *);

/* Queues 'obj' as one frame and tries to write it.  Returns 0, EMSGSIZE
 * if it does not fit in a frame, ENOBUFS if the output queue is full (the
 * message is dropped), or the errno of a failed write. */
int chan_send(struct chan *, const struct json_object *obj);

/* Same for a raw payload of 'len' bytes. */
int chan_send_raw(struct chan *, const void *payload, size_t len);

/* Bytes waiting in the output queue. */
size_t chan_txq_size(const struct chan *);

#endif /* chan.h */
