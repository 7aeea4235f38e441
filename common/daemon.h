/* daemon: what every appfw daemon does around its main loop.
 *
 * Pid files: created under the daemon's run directory, locked for as long
 * as the daemon runs (a second instance is refused with the first one's
 * pid), removed at a clean exit.  Scripts stop a daemon by the pid in its
 * pid file, never by process name.
 *
 * Signals: SIGTERM and SIGINT ask for a clean shutdown, SIGHUP for a
 * reload; they arrive through a signalfd that joins the event loop, so
 * handlers never run in the middle of other work. */
#ifndef APPFW_DAEMON_H
#define APPFW_DAEMON_H 1

#include <stdbool.h>

/* Creates and locks 'path' and writes our pid into it.  Returns NULL or a
 * malloc'd message (for example when another instance holds the lock). */
char *daemon_pidfile_create(const char *path);

/* Creates directory 'path' and any missing parents (mode 0755), like
 * "mkdir -p".  Returns NULL or a malloc'd message. */
char *daemon_ensure_dir(const char *path);

/* Removes the pid file created above, if any. */
void daemon_pidfile_remove(void);

enum daemon_signal {
    DAEMON_SIG_NONE = 0,
    DAEMON_SIG_TERM = 1 << 0,   /* SIGTERM or SIGINT. */
    DAEMON_SIG_HUP = 1 << 1,    /* SIGHUP. */
    DAEMON_SIG_USR1 = 1 << 2,   /* SIGUSR1: a daemon may dump its state. */
};

/* Blocks SIGTERM, SIGINT, SIGHUP and SIGUSR1 and opens a signalfd for them, and
 * ignores SIGPIPE.  Returns 0 or an errno value.  Call it before any thread
 * starts (nng starts its own when first used, rpc_tls_configure() too):
 * the mask is per thread, inherited only by threads started later, and a
 * signal delivered to a thread without it takes its default action, or
 * libopenvswitch's fatal-signal handler, which exits without the daemon's
 * clean shutdown. */
int daemon_signals_init(void);

/* The file descriptor to poll for POLLIN. */
int daemon_signals_fd(void);

/* Returns the signals received since the last call (a bit mask of
 * enum daemon_signal), without blocking. */
int daemon_signals_run(void);

/* Starts a thread that ends the process (status 0, pid file removed, the
 * reason logged) if it still runs 'seconds' from now.  For the teardown
 * after a daemon's data is safe: nng 1.5.2 (Debian 12's) can deadlock in
 * nng_close() on a busy REQ/REP socket (nanomsg/nng#1813). */
void daemon_exit_watchdog(int seconds);

#endif /* daemon.h */
