#include "chan.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "buf.h"
#include "frame.h"
#include "msg.h"
#include "util.h"

#define CHAN_RX_CHUNK 16384

struct chan {
    int fd;
    struct frame_decoder decoder;
    uint8_t rx[CHAN_RX_CHUNK];  /* Bytes read but not yet decoded. */
    size_t rx_ofs, rx_len;
    struct buf txq;
    size_t txq_max;
    int error;                  /* Sticky: EOF, EPROTO, or an errno. */
    bool corked;                /* See chan_cork(). */
};

struct chan *
chan_create(int fd, size_t max_frame, size_t txq_max)
{
    struct chan *c = xcalloc(1, sizeof *c);
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) {
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
    c->fd = fd;
    frame_decoder_init(&c->decoder, max_frame);
    buf_init(&c->txq);
    c->txq_max = txq_max ? txq_max : CHAN_DEFAULT_TXQ_MAX;
    return c;
}

void
chan_destroy(struct chan *c)
{
    if (c) {
        close(c->fd);
        frame_decoder_destroy(&c->decoder);
        buf_destroy(&c->txq);
        free(c);
    }
}

int
chan_fd(const struct chan *c)
{
    return c->fd;
}

int
chan_run(struct chan *c)
{
    while (buf_size(&c->txq)) {
        ssize_t n = write(c->fd, buf_head(&c->txq), buf_size(&c->txq));
        if (n > 0) {
            buf_consume(&c->txq, n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            return n < 0 ? errno : EPIPE;
        }
    }
    return 0;
}

short
chan_poll_events(const struct chan *c)
{
    return POLLIN | (buf_size(&c->txq) ? POLLOUT : 0);
}

bool
chan_has_input(const struct chan *c)
{
    return c->rx_len > 0;
}

int
chan_recv(struct chan *c, struct frame *frame)
{
    bool did_read = false;

    frame->data = NULL;
    frame->len = 0;
    if (c->error) {
        return c->error;
    }

    for (;;) {
        if (c->rx_len) {
            size_t used;
            int error = frame_decoder_feed(&c->decoder, c->rx + c->rx_ofs,
                                           c->rx_len, &used, frame);
            c->rx_ofs += used;
            c->rx_len -= used;
            if (error) {
                c->error = error;
                return error;
            }
            if (frame->data) {
                return 0;
            }
        }

        /* Everything buffered is decoded.  Read at most once per call, so
         * that a fast peer cannot keep the caller here. */
        if (did_read) {
            return EAGAIN;
        }
        ssize_t n = read(c->fd, c->rx, sizeof c->rx);
        if (n > 0) {
            c->rx_ofs = 0;
            c->rx_len = n;
            did_read = true;
        } else if (n == 0) {
            c->error = frame_decoder_pending(&c->decoder) ? EPROTO : EOF;
            return c->error;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return EAGAIN;
        } else {
            c->error = errno;
            return c->error;
        }
    }
}

static int
write_unless_corked(struct chan *c)
{
    return (c->corked && buf_size(&c->txq) < CHAN_CORK_BYTES ? 0
            : chan_run(c));
}

int
chan_send_raw(struct chan *c, const void *payload, size_t len)
{
    if (len == 0 || len > FRAME_MAX_LEN) {
        return EMSGSIZE;
    }
    if (buf_size(&c->txq) + FRAME_HEADER_LEN + len > c->txq_max) {
        return ENOBUFS;
    }
    int error = frame_encode(&c->txq, payload, len);
    return error ? error : write_unless_corked(c);
}

void
chan_cork(struct chan *c)
{
    c->corked = true;
}

int
chan_uncork(struct chan *c)
{
    c->corked = false;
    return chan_run(c);
}

int
chan_send(struct chan *c, const struct json_object *obj)
{
    struct buf b;
    buf_init(&b);
    int error = msg_encode(obj, &b);
    if (!error) {
        /* msg_encode() built header + payload; queue them as they are. */
        if (buf_size(&c->txq) + buf_size(&b) > c->txq_max) {
            error = ENOBUFS;
        } else {
            error = buf_put(&c->txq, buf_head(&b), buf_size(&b));
            if (!error) {
                error = write_unless_corked(c);
            }
        }
    }
    buf_destroy(&b);
    return error;
}

size_t
chan_txq_size(const struct chan *c)
{
    return buf_size(&c->txq);
}

int
chan_recv_wait(struct chan *c, struct frame *frame, int timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        int error = chan_recv(c, frame);
        if (error != EAGAIN) {
            return error;
        }
        int64_t left = deadline - time_mono_ms();
        if (left <= 0) {
            return ETIMEDOUT;
        }
        error = chan_run(c);
        if (error) {
            return error;
        }
        struct pollfd pfd = { .fd = c->fd, .events = chan_poll_events(c) };
        poll(&pfd, 1, left < 100 ? (int) left : 100);
    }
}
