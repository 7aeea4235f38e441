/* Unit tests for common/loop.c. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/loop.h"
#include "common/util.h"

static void
test_fd_wakes(void **state)
{
    (void) state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);

    int64_t start = time_mono_ms();
    loop_fd_wait(fds[0], POLLIN);
    loop_timer_wait(5000);
    loop_block();
    assert_true(time_mono_ms() - start < 2000);
    close(fds[0]);
    close(fds[1]);
}

static void
test_timer_wakes(void **state)
{
    (void) state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);

    int64_t start = time_mono_ms();
    loop_fd_wait(fds[0], POLLIN);       /* Never readable. */
    loop_timer_wait(50);
    loop_timer_wait(10000);             /* The earliest deadline wins. */
    loop_block();
    int64_t elapsed = time_mono_ms() - start;
    assert_true(elapsed >= 49);
    assert_true(elapsed < 5000);
    close(fds[0]);
    close(fds[1]);
}

static void
test_immediate_and_reset(void **state)
{
    (void) state;
    int64_t start = time_mono_ms();
    loop_immediate_wake();
    loop_timer_wait(10000);
    loop_block();
    assert_true(time_mono_ms() - start < 1000);

    /* Registrations are forgotten after each block: with only a short timer
     * registered now, the earlier immediate wake must not linger. */
    start = time_mono_ms();
    loop_timer_wait(30);
    loop_block();
    assert_true(time_mono_ms() - start >= 29);

    /* A past deadline wakes at once. */
    start = time_mono_ms();
    loop_timer_wait_until(time_mono_ms() - 100);
    loop_block();
    assert_true(time_mono_ms() - start < 1000);
}

static void
test_same_fd_twice(void **state)
{
    (void) state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    /* Writable end: POLLOUT merged with POLLIN on the same fd. */
    int64_t start = time_mono_ms();
    loop_fd_wait(fds[1], POLLIN);
    loop_fd_wait(fds[1], POLLOUT);
    loop_timer_wait(5000);
    loop_block();
    assert_true(time_mono_ms() - start < 2000);
    close(fds[0]);
    close(fds[1]);
}

/* loop_fd_ready() reports the last poll(2): a readable pipe is ready, an
 * empty one is not, and an fd the loop did not wait on always is. */
static void
test_fd_ready(void **state)
{
    (void) state;
    int full[2], empty[2], other[2];
    assert_int_equal(pipe(full), 0);
    assert_int_equal(pipe(empty), 0);
    assert_int_equal(pipe(other), 0);
    assert_int_equal(write(full[1], "x", 1), 1);

    loop_fd_wait(full[0], POLLIN);
    loop_fd_wait(empty[0], POLLIN);
    loop_timer_wait(1000);
    loop_block();
    assert_true(loop_fd_ready(full[0]));
    assert_false(loop_fd_ready(empty[0]));
    assert_true(loop_fd_ready(other[0]));

    /* The next loop_block() replaces the answer. */
    assert_int_equal(write(empty[1], "x", 1), 1);
    loop_fd_wait(empty[0], POLLIN);
    loop_block();
    assert_true(loop_fd_ready(empty[0]));
    assert_true(loop_fd_ready(full[0]));    /* Not waited on this time. */

    for (int i = 0; i < 2; i++) {
        close(full[i]);
        close(empty[i]);
        close(other[i]);
    }
}

static void *
write_later(void *fd_)
{
    int fd = *(int *) fd_;
    usleep(20000);
    if (write(fd, "x", 1) != 1) {
        abort();
    }
    return NULL;
}

/* loop_poll_until_us(): an fd that becomes ready while loop_block() polls
 * ends the block; a timer that falls due ends the polling; polling spends
 * CPU where sleeping would not, then gives way to sleep; and the window
 * is forgotten after one block. */
static void
test_poll_window(void **state)
{
    (void) state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);

    /* Ready during the window. */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, write_later, &fds[1]), 0);
    int64_t start = time_mono_ms();
    loop_fd_wait(fds[0], POLLIN);
    loop_timer_wait(10000);
    loop_poll_until_us(time_mono_us() + 10000000);
    loop_block();
    assert_true(time_mono_ms() - start < 5000);
    assert_true(loop_fd_ready(fds[0]));
    pthread_join(t, NULL);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1);

    /* A timer ends the polling. */
    start = time_mono_ms();
    loop_fd_wait(fds[0], POLLIN);
    loop_timer_wait(30);
    loop_poll_until_us(time_mono_us() + 10000000);
    loop_block();
    int64_t elapsed = time_mono_ms() - start;
    assert_true(elapsed >= 29);
    assert_true(elapsed < 5000);
    assert_false(loop_fd_ready(fds[0]));

    /* Polls during its 20 ms, then sleeps until the timer.  (Counted, not
     * timed by CPU: on a loaded machine each sched_yield() can give the
     * CPU away for a whole time slice, and the thread may even be
     * descheduled past the whole window, so a few tries are allowed; a
     * loop_block() that never polls fails every one.) */
    bool polled = false;
    for (int try = 0; try < 5 && !polled; try++) {
        start = time_mono_ms();
        unsigned long long polls = loop_n_polls();
        loop_fd_wait(fds[0], POLLIN);
        loop_timer_wait(60);
        loop_poll_until_us(time_mono_us() + 20000);
        loop_block();
        assert_true(time_mono_ms() - start >= 59);
        polled = loop_n_polls() > polls;
    }
    assert_true(polled);

    /* Without a window, none. */
    unsigned long long polls = loop_n_polls();
    loop_timer_wait(1);
    loop_block();
    assert_true(loop_n_polls() == polls);

    /* Forgotten: the next block sleeps. */
    start = time_mono_ms();
    loop_timer_wait(30);
    loop_block();
    assert_true(time_mono_ms() - start >= 29);

    close(fds[0]);
    close(fds[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_wakes),
        cmocka_unit_test(test_timer_wakes),
        cmocka_unit_test(test_immediate_and_reset),
        cmocka_unit_test(test_same_fd_twice),
        cmocka_unit_test(test_fd_ready),
        cmocka_unit_test(test_poll_window),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
