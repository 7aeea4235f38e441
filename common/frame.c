#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
frame_decoder_init(struct frame_decoder *d, size_t max_len)
{
    memset(d, 0, sizeof *d);
    d->max_len = max_len && max_len < FRAME_MAX_LEN ? max_len : FRAME_MAX_LEN;
}

void
frame_decoder_destroy(struct frame_decoder *d)
{
    if (d) {
        free(d->payload);
        d->payload = NULL;
    }
}

size_t
frame_decoder_pending(const struct frame_decoder *d)
{
    return d->header_len + d->received;
}

static int
frame_decoder_start_payload(struct frame_decoder *d)
{
    const uint8_t *h = d->header;
    uint32_t len = ((uint32_t) h[0] << 24) | ((uint32_t) h[1] << 16)
                   | ((uint32_t) h[2] << 8) | h[3];

    d->payload_len = len;
    if (len == 0) {
        return EBADMSG;
    }
    if (len > d->max_len) {
        return EMSGSIZE;
    }
    d->payload = malloc((size_t) len + 1);
    if (!d->payload) {
        return ENOMEM;
    }
    d->received = 0;
    return 0;
}

int
frame_decoder_feed(struct frame_decoder *d, const void *data_, size_t n,
                   size_t *consumed, struct frame *frame)
{
    const uint8_t *data = data_;
    size_t used = 0;

    frame->data = NULL;
    frame->len = 0;
    *consumed = 0;
    if (d->error) {
        return d->error;
    }

    while (used < n) {
        if (!d->payload) {
            size_t take = FRAME_HEADER_LEN - d->header_len;
            if (take > n - used) {
                take = n - used;
            }
            memcpy(d->header + d->header_len, data + used, take);
            d->header_len += take;
            used += take;
            if (d->header_len < FRAME_HEADER_LEN) {
                break;
            }
            int error = frame_decoder_start_payload(d);
            if (error) {
                d->error = error;
                *consumed = used;
                return error;
            }
        }

        size_t take = d->payload_len - d->received;
        if (take > n - used) {
            take = n - used;
        }
        memcpy(d->payload + d->received, data + used, take);
        d->received += take;
        used += take;
        if (d->received == d->payload_len) {
            d->payload[d->payload_len] = '\0';
            frame->data = d->payload;
            frame->len = d->payload_len;
            d->payload = NULL;
            d->payload_len = 0;
            d->received = 0;
            d->header_len = 0;
            break;
        }
    }
    *consumed = used;
    return 0;
}

int
frame_encode(struct buf *out, const void *payload, size_t len)
{
    if (len == 0 || len > FRAME_MAX_LEN) {
        return EMSGSIZE;
    }

    uint8_t header[FRAME_HEADER_LEN] = {
        (uint8_t) (len >> 24), (uint8_t) (len >> 16),
        (uint8_t) (len >> 8), (uint8_t) len,
    };
    size_t old_len = out->len;
    int error = buf_put(out, header, sizeof header);
    if (!error) {
        error = buf_put(out, payload, len);
        if (error) {
            out->len = old_len;
        }
    }
    return error;
}
