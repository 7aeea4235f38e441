/* Unit tests for common/frame.c: the incremental frame decoder and the
 * encoder. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/frame.h"

/* Three frames of different sizes, encoded into one stream. */
static const char *const payloads[] = {
    "{\"type\":\"heartbeat\",\"seq\":1}",
    "x",
    "{\"type\":\"error\",\"code\":\"internal\",\"message\":\"a longer one\"}",
};

static void
build_stream(struct buf *b)
{
    buf_init(b);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(frame_encode(b, payloads[i], strlen(payloads[i])),
                         0);
    }
}

/* Feeds 'n' bytes to 'd', collecting whole frames into 'out'. */
static size_t
feed_all(struct frame_decoder *d, const uint8_t *p, size_t n,
         struct frame *out, size_t n_out)
{
    while (n) {
        struct frame f;
        size_t used;
        assert_int_equal(frame_decoder_feed(d, p, n, &used, &f), 0);
        assert_true(used > 0 && used <= n);
        p += used;
        n -= used;
        if (f.data) {
            assert_true(n_out > 0);
            *out++ = f;
            n_out--;
        }
    }
    return n_out;
}

static void
check_frames(struct frame *frames)
{
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(frames[i].len, strlen(payloads[i]));
        assert_memory_equal(frames[i].data, payloads[i], frames[i].len);
        assert_int_equal(frames[i].data[frames[i].len], '\0');
        free(frames[i].data);
    }
}

static void
test_round_trip_whole(void **state)
{
    (void) state;
    struct buf b;
    build_stream(&b);

    struct frame_decoder d;
    frame_decoder_init(&d, 0);
    struct frame frames[3];
    assert_int_equal(feed_all(&d, buf_head(&b), buf_size(&b), frames, 3),
                     0);
    assert_int_equal(frame_decoder_pending(&d), 0);
    check_frames(frames);
    frame_decoder_destroy(&d);
    buf_destroy(&b);
}

/* Splits the stream in two at every offset, then in three at every pair of
 * offsets: the frames must come out the same. */
static void
test_split_at_every_offset(void **state)
{
    (void) state;
    struct buf b;
    build_stream(&b);
    const uint8_t *p = buf_head(&b);
    size_t n = buf_size(&b);

    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j++) {
            struct frame_decoder d;
            struct frame frames[3];
            size_t left = 3;
            frame_decoder_init(&d, 0);
            left = feed_all(&d, p, i, frames, left);
            left = feed_all(&d, p + i, j - i, frames + (3 - left), left);
            left = feed_all(&d, p + j, n - j, frames + (3 - left), left);
            assert_int_equal(left, 0);
            check_frames(frames);
            frame_decoder_destroy(&d);
        }
    }
    buf_destroy(&b);
}

static void
test_byte_at_a_time(void **state)
{
    (void) state;
    struct buf b;
    build_stream(&b);

    struct frame_decoder d;
    frame_decoder_init(&d, 0);
    struct frame frames[3];
    size_t got = 0;
    for (size_t i = 0; i < buf_size(&b); i++) {
        struct frame f;
        size_t used;
        assert_int_equal(frame_decoder_feed(&d, buf_head(&b) + i, 1, &used,
                                            &f), 0);
        assert_int_equal(used, 1);
        if (f.data) {
            frames[got++] = f;
        } else {
            assert_true(frame_decoder_pending(&d) > 0);
        }
    }
    assert_int_equal(got, 3);
    check_frames(frames);
    frame_decoder_destroy(&d);
    buf_destroy(&b);
}

static void
test_feed_stops_after_one_frame(void **state)
{
    (void) state;
    struct buf b;
    build_stream(&b);

    struct frame_decoder d;
    frame_decoder_init(&d, 0);
    struct frame f;
    size_t used;
    assert_int_equal(frame_decoder_feed(&d, buf_head(&b), buf_size(&b),
                                        &used, &f), 0);
    assert_int_equal(used, 4 + strlen(payloads[0]));
    assert_non_null(f.data);
    free(f.data);
    frame_decoder_destroy(&d);
    buf_destroy(&b);
}

static void
check_rejected_header(const uint8_t header[4], size_t max, int want)
{
    /* Feed the header one byte at a time followed by payload bytes that must
     * never be buffered: the error comes at the 4th byte. */
    uint8_t stream[4 + 16];
    memcpy(stream, header, 4);
    memset(stream + 4, 'A', 16);

    struct frame_decoder d;
    frame_decoder_init(&d, max);
    struct frame f;
    size_t used;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(frame_decoder_feed(&d, stream + i, 1, &used, &f),
                         0);
    }
    assert_int_equal(frame_decoder_feed(&d, stream + 3, sizeof stream - 3,
                                        &used, &f), want);
    assert_int_equal(used, 1);
    assert_null(f.data);
    assert_null(d.payload);     /* Nothing was allocated for it. */

    /* Sticky. */
    assert_int_equal(frame_decoder_feed(&d, stream + 4, 16, &used, &f),
                     want);
    assert_int_equal(used, 0);
    frame_decoder_destroy(&d);
}

static void
test_zero_length_rejected(void **state)
{
    (void) state;
    static const uint8_t zero[4] = { 0, 0, 0, 0 };
    check_rejected_header(zero, 0, EBADMSG);
}

static void
test_oversize_rejected(void **state)
{
    (void) state;
    static const uint8_t over[4] = { 0x00, 0x01, 0x00, 0x01 };  /* 65537 */
    static const uint8_t huge[4] = { 0xff, 0xff, 0xff, 0xff };
    check_rejected_header(over, 0, EMSGSIZE);
    check_rejected_header(huge, 0, EMSGSIZE);

    /* A smaller configured maximum. */
    static const uint8_t k2[4] = { 0, 0, 0x08, 0x01 };         /* 2049 */
    check_rejected_header(k2, 2048, EMSGSIZE);

    struct frame_decoder d;
    frame_decoder_init(&d, 0);
    struct frame f;
    size_t used;
    assert_int_equal(frame_decoder_feed(&d, over, 4, &used, &f), EMSGSIZE);
    assert_int_equal(frame_decoder_declared_len(&d), 65537);
    frame_decoder_destroy(&d);
}

static void
test_limits_accepted(void **state)
{
    (void) state;
    size_t sizes[] = { 1, FRAME_MAX_LEN };
    for (size_t i = 0; i < 2; i++) {
        uint8_t *payload = malloc(sizes[i]);
        memset(payload, 'z', sizes[i]);
        struct buf b;
        buf_init(&b);
        assert_int_equal(frame_encode(&b, payload, sizes[i]), 0);

        struct frame_decoder d;
        frame_decoder_init(&d, 0);
        struct frame f;
        size_t used;
        assert_int_equal(frame_decoder_feed(&d, buf_head(&b), buf_size(&b),
                                            &used, &f), 0);
        assert_int_equal(used, buf_size(&b));
        assert_int_equal(f.len, sizes[i]);
        assert_memory_equal(f.data, payload, sizes[i]);
        free(f.data);
        free(payload);
        frame_decoder_destroy(&d);
        buf_destroy(&b);
    }
}

static void
test_encode_header_and_limits(void **state)
{
    (void) state;
    struct buf b;
    buf_init(&b);
    assert_int_equal(frame_encode(&b, "", 0), EMSGSIZE);
    assert_int_equal(buf_size(&b), 0);

    uint8_t *big = calloc(1, FRAME_MAX_LEN + 1);
    assert_int_equal(frame_encode(&b, big, FRAME_MAX_LEN + 1), EMSGSIZE);
    assert_int_equal(buf_size(&b), 0);
    free(big);

    char payload[300];
    memset(payload, 'q', sizeof payload);
    assert_int_equal(frame_encode(&b, payload, sizeof payload), 0);
    const uint8_t *h = buf_head(&b);
    assert_int_equal(h[0], 0);
    assert_int_equal(h[1], 0);
    assert_int_equal(h[2], 1);
    assert_int_equal(h[3], 300 - 256);
    assert_int_equal(buf_size(&b), 304);
    buf_destroy(&b);
}

static void
test_pending_on_truncation(void **state)
{
    (void) state;
    struct buf b;
    build_stream(&b);
    struct frame_decoder d;
    frame_decoder_init(&d, 0);
    struct frame f;
    size_t used;

    /* Header plus half of the first payload. */
    size_t n = 4 + strlen(payloads[0]) / 2;
    assert_int_equal(frame_decoder_feed(&d, buf_head(&b), n, &used, &f), 0);
    assert_null(f.data);
    assert_int_equal(frame_decoder_pending(&d), n);
    frame_decoder_destroy(&d);    /* Frees the partial payload. */
    buf_destroy(&b);
}

static void
test_buf(void **state)
{
    (void) state;
    struct buf b;
    buf_init(&b);
    assert_null(buf_head(&b));
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(buf_put(&b, "abcdefgh", 8), 0);
        buf_consume(&b, 5);
    }
    assert_int_equal(buf_size(&b), 3000);
    /* The last 3000 of 8000 bytes start at offset 5000 = 625 * 8. */
    assert_memory_equal(buf_head(&b), "abcdefghabcdefgh", 16);
    buf_consume(&b, 5000);
    assert_int_equal(buf_size(&b), 0);
    buf_clear(&b);
    buf_destroy(&b);
    buf_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_whole),
        cmocka_unit_test(test_split_at_every_offset),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_feed_stops_after_one_frame),
        cmocka_unit_test(test_zero_length_rejected),
        cmocka_unit_test(test_oversize_rejected),
        cmocka_unit_test(test_limits_accepted),
        cmocka_unit_test(test_encode_header_and_limits),
        cmocka_unit_test(test_pending_on_truncation),
        cmocka_unit_test(test_buf),
    };
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
