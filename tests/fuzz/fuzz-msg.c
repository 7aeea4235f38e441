/* libFuzzer target: the frame decoder and the message schema together.
 *
 * The first input byte picks how the rest is cut into reads (so frames are
 * split at arbitrary offsets, as a stream delivers them); every whole frame
 * is parsed and validated.  Oracles beyond "no crash, no leak, no UB":
 *   - a decoder error is sticky and only follows a bad header;
 *   - a message that validates, re-encoded, decodes and validates again to
 *     an equal object with the same type. */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_message(const struct frame *f)
{
    struct json_object *obj;
    enum msg_type type;
    char *error = msg_parse(f->data, f->len, &obj, &type);
    if (error) {
        if (!*error) {
            abort();            /* Rejections always say why. */
        }
        free(error);
        return;
    }

    struct buf b;
    buf_init(&b);
    if (msg_encode(obj, &b)) {
        abort();                /* It fit in a frame before, so it fits. */
    }

    struct frame_decoder d;
    frame_decoder_init(&d, 0);
    struct frame f2;
    size_t used;
    if (frame_decoder_feed(&d, buf_head(&b), buf_size(&b), &used, &f2)
        || !f2.data || used != buf_size(&b)) {
        abort();
    }
    struct json_object *obj2;
    enum msg_type type2;
    error = msg_parse(f2.data, f2.len, &obj2, &type2);
    if (error || type2 != type || !json_object_equal(obj, obj2)) {
        abort();
    }
    json_object_put(obj2);
    free(f2.data);
    frame_decoder_destroy(&d);
    buf_destroy(&b);
    json_object_put(obj);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t chunk = data[0] ? data[0] : size;
    data++;
    size--;

    struct frame_decoder d;
    frame_decoder_init(&d, 0);
    size_t ofs = 0;
    int error = 0;
    while (ofs < size && !error) {
        size_t n = size - ofs < chunk ? size - ofs : chunk;
        while (n && !error) {
            struct frame f;
            size_t used;
            error = frame_decoder_feed(&d, data + ofs, n, &used, &f);
            if (used > n) {
                abort();
            }
            ofs += used;
            n -= used;
            if (f.data) {
                check_message(&f);
                free(f.data);
            }
        }
    }
    if (error) {
        struct frame f;
        size_t used;
        if ((error != EBADMSG && error != EMSGSIZE)
            || frame_decoder_feed(&d, data, size, &used, &f) != error
            || used || f.data) {
            abort();
        }
    }
    frame_decoder_destroy(&d);
    return 0;
}
