#include "loop.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct loop_state {
    struct pollfd *fds;
    size_t n_fds, allocated;
    int64_t deadline;           /* time_mono_ms() value, or INT64_MAX. */
    int64_t poll_until;         /* time_mono_us() value, or INT64_MIN. */
    struct pollfd *last;        /* The last poll(2)'s fds and revents. */
    size_t n_last, allocated_last;
    bool polled;                /* 'last' holds a poll(2)'s result. */
    unsigned long long n_polls; /* Polls without blocking, in all. */
};

static _Thread_local struct loop_state loop = {
    .deadline = INT64_MAX, .poll_until = INT64_MIN,
};

void
loop_fd_wait(int fd, short events)
{
    for (size_t i = 0; i < loop.n_fds; i++) {
        if (loop.fds[i].fd == fd) {
            loop.fds[i].events |= events;
            return;
        }
    }
    if (loop.n_fds >= loop.allocated) {
        loop.allocated = loop.allocated ? loop.allocated * 2 : 16;
        loop.fds = xrealloc(loop.fds, loop.allocated * sizeof *loop.fds);
    }
    loop.fds[loop.n_fds++] = (struct pollfd) { .fd = fd, .events = events };
}

void
loop_timer_wait_until(int64_t when)
{
    if (when < loop.deadline) {
        loop.deadline = when;
    }
}

void
loop_timer_wait(int64_t ms)
{
    int64_t now = time_mono_ms();
    loop_timer_wait_until(ms <= 0 ? now : ms > INT64_MAX - now ? INT64_MAX
                                                              : now + ms);
}

void
loop_immediate_wake(void)
{
    loop.deadline = INT64_MIN;
}

void
loop_poll_until_us(int64_t when_us)
{
    if (when_us > loop.poll_until) {
        loop.poll_until = when_us;
    }
}

/* poll(2)'s timeout until the earliest deadline. */
static int
block_timeout(void)
{
    if (loop.deadline == INT64_MAX) {
        return -1;
    }
    int64_t now = time_mono_ms();
    int64_t left = loop.deadline <= now ? 0 : loop.deadline - now;
    return left > INT_MAX ? INT_MAX : (int) left;
}

void
loop_block(void)
{
    int timeout = block_timeout();
    int n = 0;
    while (timeout && time_mono_us() < loop.poll_until) {
        n = poll(loop.fds, loop.n_fds, 0);
        loop.n_polls++;
        if (n) {
            break;
        }
        sched_yield();
        timeout = block_timeout();
    }
    if (!n) {
        n = poll(loop.fds, loop.n_fds, timeout);
    }
    if (n < 0 && errno != EINTR) {
        /* Only EFAULT, EINVAL or ENOMEM: a bug or a dying process.  Do not
         * spin at full speed while it lasts. */
        poll(NULL, 0, 10);
    }

    /* Keep the result for loop_fd_ready(); after a failed poll(2), which
     * vouches for nothing, every fd counts as ready. */
    if (loop.n_fds > loop.allocated_last) {
        loop.allocated_last = loop.allocated;
        loop.last = xrealloc(loop.last,
                             loop.allocated_last * sizeof *loop.last);
    }
    if (loop.n_fds) {
        memcpy(loop.last, loop.fds, loop.n_fds * sizeof *loop.fds);
    }
    loop.n_last = loop.n_fds;
    loop.polled = n >= 0;

    loop.n_fds = 0;
    loop.deadline = INT64_MAX;
    loop.poll_until = INT64_MIN;
}

unsigned long long
loop_n_polls(void)
{
    return loop.n_polls;
}

bool
loop_fd_ready(int fd)
{
    if (!loop.polled) {
        return true;
    }
    for (size_t i = 0; i < loop.n_last; i++) {
        if (loop.last[i].fd == fd) {
            return loop.last[i].revents != 0;
        }
    }
    return true;
}
