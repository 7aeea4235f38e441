/* frame: the byte-stream framing of the appfw wire protocol.
 *
 * A stream (virtio-serial, a UNIX socket) carries frames: a 4-byte
 * big-endian length N, 1 <= N <= FRAME_MAX_LEN, then N bytes of payload
 * (one JSON object, see common/msg.h).  The decoder is incremental: it takes
 * bytes in any split and yields whole frames.  A header that declares zero
 * bytes or more than the maximum is refused the moment the header is
 * complete, before any of the payload is buffered; framing is then lost,
 * so the error is sticky and the caller must close the stream.
 *
 * Neighbours: common/msg.h parses and validates payloads; common/chan.h
 * runs a decoder and an output queue over a non-blocking socket. */
#ifndef APPFW_FRAME_H
#define APPFW_FRAME_H 1

#include <stddef.h>
#include <stdint.h>

struct buf;

#define FRAME_HEADER_LEN 4
#define FRAME_MAX_LEN 65536

/* A decoded frame.  'data' is malloc'd, 'len' bytes plus a terminating NUL
 * (not counted in 'len') so that text parsers can use it directly. */
struct frame {
    uint8_t *data;
    size_t len;
};

struct frame_decoder {
    size_t max_len;             /* Largest payload accepted. */
    uint8_t header[FRAME_HEADER_LEN];
    size_t header_len;          /* Header bytes received so far. */
    uint8_t *payload;           /* Allocated once the header is complete. */
    size_t payload_len;         /* Declared payload length. */
    size_t received;            /* Payload bytes received so far. */
    int error;                  /* Sticky error, 0 if none. */
};

/* Initializes 'd' to accept payloads of 1..max_len bytes; max_len 0 or
 * above FRAME_MAX_LEN means FRAME_MAX_LEN. */
void frame_decoder_init(struct frame_decoder *d, size_t max_len);
void frame_decoder_destroy(struct frame_decoder *d);

/* Feeds the 'n' bytes at 'data' to 'd'.  Stops right after the first frame
 * that completes: then 'frame' receives it (the caller owns frame->data and
 * frees it with free()), otherwise frame->data is NULL.  '*consumed' is set
 * to the number of bytes used; feed the rest again.
 *
 * Returns 0, or a sticky error:
 *   EBADMSG  the header declared a zero-length payload;
 *   EMSGSIZE the header declared more than the maximum;
 *   ENOMEM   the payload buffer could not be allocated.
 * On error, '*consumed' counts the bytes up to and including the header. */
int frame_decoder_feed(struct frame_decoder *d, const void *data, size_t n,
                       size_t *consumed, struct frame *frame);

/* Bytes of an incomplete frame held by 'd' (header and payload).  Non-zero
 * at end of stream means the peer sent a truncated frame. */
size_t frame_decoder_pending(const struct frame_decoder *d);

/* The length that the last complete header declared (useful to name an
 * oversize frame in a log message). */
static inline size_t
frame_decoder_declared_len(const struct frame_decoder *d)
{
    return d->payload_len;
}

/* Appends a frame holding the 'len' bytes at 'payload' to 'out'.  Returns 0,
 * EMSGSIZE if 'len' is 0 or above FRAME_MAX_LEN, or ENOMEM. */
int frame_encode(struct buf *out, const void *payload, size_t len);

#endif /* frame.h */
