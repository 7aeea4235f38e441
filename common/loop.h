/* loop: a small poll(2) event loop with Open vSwitch's run/wait contract,
 * for the daemons that do not link libopenvswitch (appfw-secd,
 * appfw-agent).  appfw-switchd uses OVS's own poll loop instead.
 *
 * Each module offers foo_run(), which does whatever work is ready without
 * blocking (and caps it), and foo_wait(), which registers what would make
 * foo_run() have work: a file descriptor becoming readable or writable, a
 * deadline, or "now".  The main loop is:
 *
 *     for (;;) {
 *         a_run(); b_run();
 *         a_wait(); b_wait();
 *         loop_block();
 *     }
 *
 * loop_block() sleeps until something registered happens, then forgets all
 * registrations.  Spurious wake-ups are allowed, so _run() functions must
 * cope with nothing to do.  The state is per thread. */
#ifndef APPFW_LOOP_H
#define APPFW_LOOP_H 1

#include <stdbool.h>
#include <stdint.h>

/* Wake when 'fd' has any of 'events' (POLLIN, POLLOUT). */
void loop_fd_wait(int fd, short events);

/* Wake 'ms' milliseconds from now (0 or less: immediately). */
void loop_timer_wait(int64_t ms);

/* Wake at 'when', a time_mono_ms() value. */
void loop_timer_wait_until(int64_t when);

/* Do not sleep in the next loop_block(). */
void loop_immediate_wake(void);

/* Before sleeping, the next loop_block() polls the registered fds
 * without blocking until 'when_us' (a time_mono_us() value), and yields
 * the CPU (sched_yield()) between polls.  For an answer expected within
 * microseconds: on a virtual machine whose idle vCPU halts, sleeping and
 * being woken costs the hypervisor's round trip, which polling avoids,
 * while another runnable task on this CPU still gets it.  A timer that
 * falls due ends the polling as it ends a sleep. */
void loop_poll_until_us(int64_t when_us);

/* Sleeps until a registered event, then clears the registrations. */
void loop_block(void);

/* How many polls without blocking this thread's loop_block() calls have
 * made in all (the polling of loop_poll_until_us()). */
unsigned long long loop_n_polls(void);

/* Whether the last loop_block() found 'fd' ready (any event, errors
 * included).  True for an fd it did not wait on, and before the first
 * loop_block(): a _run() function may skip a read that poll(2) just said
 * would find nothing (for an fd it waits on with POLLIN), and must not
 * skip one it cannot vouch for. */
bool loop_fd_ready(int fd);

#endif /* loop.h */
