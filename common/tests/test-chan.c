/* Unit tests for common/chan.c over a socketpair, driven by common/loop. */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/chan.h"
#include "common/frame.h"
#include "common/loop.h"
#include "common/msg.h"
#include "common/util.h"

static void
make_pair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
}

/* Two channels, 'a' and 'b', on the two ends of a socket pair. */
static void
make_chans(struct chan **a, struct chan **b)
{
    int fds[2];
    make_pair(fds);
    *a = chan_create(fds[0], 0, 0);
    *b = chan_create(fds[1], 0, 0);
}

/* Waits for and returns the next frame on 'c' (fails after 5 s). */
static int
recv_wait(struct chan *c, struct frame *f)
{
    int64_t deadline = time_mono_ms() + 5000;
    for (;;) {
        int error = chan_recv(c, f);
        if (error != EAGAIN) {
            return error;
        }
        assert_true(time_mono_ms() < deadline);
        loop_fd_wait(chan_fd(c), chan_poll_events(c));
        loop_timer_wait_until(deadline);
        loop_block();
    }
}

static void
test_send_recv(void **state)
{
    (void) state;
    struct chan *a, *b;
    make_chans(&a, &b);

    for (int i = 0; i < 100; i++) {
        struct json_object *hb = msg_create(MSG_HEARTBEAT);
        json_object_object_add(hb, "seq", json_object_new_int(i));
        assert_int_equal(chan_send(a, hb), 0);
        json_object_put(hb);
    }
    for (int i = 0; i < 100; i++) {
        struct frame f;
        assert_int_equal(recv_wait(b, &f), 0);
        struct json_object *obj;
        enum msg_type type;
        char *error = msg_parse(f.data, f.len, &obj, &type);
        assert_null(error);
        assert_int_equal(type, MSG_HEARTBEAT);
        assert_int_equal(msg_get_int(obj, "seq", -1), i);
        json_object_put(obj);
        free(f.data);
    }
    struct frame f;
    assert_int_equal(chan_recv(b, &f), EAGAIN);

    /* Clean end of stream. */
    chan_destroy(a);
    assert_int_equal(recv_wait(b, &f), EOF);
    assert_int_equal(chan_recv(b, &f), EOF);
    chan_destroy(b);
}

/* Two frames that arrive in one read: the first chan_recv() leaves the
 * second buffered, which chan_has_input() reports (the socket itself is
 * then empty); once it is taken, nothing is. */
static void
test_has_input(void **state)
{
    (void) state;
    struct chan *a, *b;
    make_chans(&a, &b);
    assert_false(chan_has_input(b));
    assert_int_equal(chan_send_raw(a, "one", 3), 0);
    assert_int_equal(chan_send_raw(a, "two", 3), 0);
    assert_int_equal(chan_run(a), 0);

    struct frame f;
    assert_int_equal(recv_wait(b, &f), 0);
    assert_memory_equal(f.data, "one", 3);
    free(f.data);
    assert_true(chan_has_input(b));
    struct pollfd pfd = { .fd = chan_fd(b), .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, 0), 0);
    assert_int_equal(chan_recv(b, &f), 0);
    assert_memory_equal(f.data, "two", 3);
    free(f.data);
    assert_false(chan_has_input(b));
    chan_destroy(a);
    chan_destroy(b);
}

/* Corked, sends only queue until CHAN_CORK_BYTES wait; uncorking writes
 * them, in order. */
static void
test_cork(void **state)
{
    (void) state;
    struct chan *a, *b;
    make_chans(&a, &b);
    struct pollfd pfd = { .fd = chan_fd(b), .events = POLLIN };

    chan_cork(a);
    assert_int_equal(chan_send_raw(a, "one", 3), 0);
    assert_int_equal(chan_send_raw(a, "two", 3), 0);
    assert_int_equal(poll(&pfd, 1, 0), 0);
    assert_int_equal(chan_uncork(a), 0);
    struct frame f;
    assert_int_equal(recv_wait(b, &f), 0);
    assert_memory_equal(f.data, "one", 3);
    free(f.data);
    assert_int_equal(recv_wait(b, &f), 0);
    assert_memory_equal(f.data, "two", 3);
    free(f.data);

    /* Past CHAN_CORK_BYTES, a corked channel writes anyway. */
    static char big[CHAN_CORK_BYTES / 4];
    chan_cork(a);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(chan_send_raw(a, big, sizeof big), 0);
    }
    assert_int_equal(poll(&pfd, 1, 0), 1);
    assert_int_equal(chan_uncork(a), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(recv_wait(b, &f), 0);
        assert_int_equal(f.len, sizeof big);
        free(f.data);
    }
    chan_destroy(a);
    chan_destroy(b);
}

static void
test_split_writes(void **state)
{
    (void) state;
    int fds[2];
    make_pair(fds);
    struct chan *b = chan_create(fds[1], 0, 0);
    static const char frame[] = "\0\0\0\x0f{\"type\":\"x\"}abc";

    /* The peer writes one byte at a time. */
    for (size_t i = 0; i < 4 + 15; i++) {
        struct frame f;
        assert_int_equal(write(fds[0], frame + i, 1), 1);
        int error = chan_recv(b, &f);
        if (i < 4 + 15 - 1) {
            assert_int_equal(error, EAGAIN);
        } else {
            assert_int_equal(error, 0);
            assert_int_equal(f.len, 15);
            assert_memory_equal(f.data, "{\"type\":\"x\"}abc", 15);
            free(f.data);
        }
    }
    close(fds[0]);
    chan_destroy(b);
}

/* Writes 'n' bytes into a fresh channel with frame limit 'max' (then
 * closes the writer if 'hang_up') and expects chan_recv() to fail with
 * 'want', stickily. */
static void
expect_stream_error(const char *bytes, size_t n, size_t max, bool hang_up,
                    int want)
{
    int fds[2];
    struct frame f;

    make_pair(fds);
    struct chan *b = chan_create(fds[1], max, 0);
    assert_int_equal(write(fds[0], bytes, n), n);
    if (hang_up) {
        close(fds[0]);
    }
    assert_int_equal(recv_wait(b, &f), want);
    assert_int_equal(chan_recv(b, &f), want);
    assert_null(f.data);
    if (!hang_up) {
        close(fds[0]);
    }
    chan_destroy(b);
}

static void
test_framing_errors(void **state)
{
    (void) state;
    /* Oversize: refused at the header. */
    expect_stream_error("\x00\x01\x00\x01garbage", 11, 0, false, EMSGSIZE);
    /* A configured smaller maximum. */
    expect_stream_error("\x00\x00\x00\x09", 4, 8, false, EMSGSIZE);
    /* Zero length. */
    expect_stream_error("\0\0\0\0", 4, 0, false, EBADMSG);
    /* End of stream inside a frame. */
    expect_stream_error("\0\0\0\x09{\"ty", 8, 0, true, EPROTO);
}

static void
test_output_queue_bound(void **state)
{
    (void) state;
    int fds[2];
    make_pair(fds);
    struct chan *a = chan_create(fds[0], 0, 4096);
    char payload[1000];
    memset(payload, 'p', sizeof payload);

    /* Nobody reads fds[1]: the socket buffer fills, then the queue. */
    int error = 0;
    int sent = 0;
    while (!error && sent < 100000) {
        error = chan_send_raw(a, payload, sizeof payload);
        sent += !error;
    }
    assert_int_equal(error, ENOBUFS);
    assert_true(chan_txq_size(a) <= 4096);
    assert_true(chan_poll_events(a) & POLLOUT);
    assert_int_equal(chan_send_raw(a, payload, 0), EMSGSIZE);

    /* Drain the peer: everything queued gets written, in order, whole. */
    struct chan *b = chan_create(fds[1], 0, 0);
    int received = 0;
    while (received < sent) {
        assert_int_equal(chan_run(a), 0);
        struct frame f;
        error = chan_recv(b, &f);
        if (!error) {
            assert_int_equal(f.len, sizeof payload);
            free(f.data);
            received++;
        } else {
            assert_int_equal(error, EAGAIN);
            loop_fd_wait(chan_fd(b), POLLIN);
            loop_timer_wait(100);
            loop_block();
        }
    }
    assert_int_equal(chan_txq_size(a), 0);
    chan_destroy(a);
    chan_destroy(b);
}

static void
test_write_to_closed_peer(void **state)
{
    (void) state;
    int fds[2];
    make_pair(fds);
    signal(SIGPIPE, SIG_IGN);
    struct chan *a = chan_create(fds[0], 0, 0);
    close(fds[1]);
    assert_int_equal(chan_send_raw(a, "x", 1), EPIPE);
    chan_destroy(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_recv),
        cmocka_unit_test(test_has_input),
        cmocka_unit_test(test_cork),
        cmocka_unit_test(test_split_writes),
        cmocka_unit_test(test_framing_errors),
        cmocka_unit_test(test_output_queue_bound),
        cmocka_unit_test(test_write_to_closed_peer),
    };
    return cmocka_run_group_tests_name("chan", tests, NULL, NULL);
}
