#include "daemon.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "util.h"

LOG_MODULE(daemon);

static char *pidfile_path;
static int pidfile_fd = -1;
static int signal_fd = -1;

char *
daemon_pidfile_create(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return xasprintf("%s: cannot create pid file (%s)", path,
                         strerror(errno));
    }

    /* An open file description lock: unlike a classic POSIX lock it is not
     * dropped when some other descriptor for the same file is closed (by a
     * test reading the pid, say). */
    struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_OFD_SETLK, &lock) < 0) {
        int error = errno;
        char old[32] = "";
        ssize_t n = pread(fd, old, sizeof old - 1, 0);
        old[n > 0 ? n : 0] = '\0';
        old[strcspn(old, "\n")] = '\0';
        close(fd);
        return error == EAGAIN || error == EACCES
               ? xasprintf("%s: already running as pid %s", path,
                           *old ? old : "?")
               : xasprintf("%s: cannot lock pid file (%s)", path,
                           strerror(error));
    }

    char text[32];
    int len = snprintf(text, sizeof text, "%ld\n", (long) getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, text, len, 0) != len) {
        int error = errno;
        close(fd);
        return xasprintf("%s: cannot write pid file (%s)", path,
                         strerror(error));
    }

    daemon_pidfile_remove();
    pidfile_fd = fd;
    pidfile_path = xstrdup(path);
    return NULL;
}

void
daemon_pidfile_remove(void)
{
    if (pidfile_path) {
        unlink(pidfile_path);
        free(pidfile_path);
        pidfile_path = NULL;
    }
    if (pidfile_fd >= 0) {
        close(pidfile_fd);
        pidfile_fd = -1;
    }
}

int
daemon_signals_init(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
        return errno;
    }
    signal(SIGPIPE, SIG_IGN);

    int fd = signalfd(signal_fd, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    signal_fd = fd;
    return 0;
}

int
daemon_signals_fd(void)
{
    return signal_fd;
}

int
daemon_signals_run(void)
{
    int result = DAEMON_SIG_NONE;
    struct signalfd_siginfo info;

    /* A daemon on common/loop.h skips the read when poll(2) found nothing
     * (the agent comes here at each of its wakeups). */
    while (signal_fd >= 0 && loop_fd_ready(signal_fd)
           && read(signal_fd, &info, sizeof info) == sizeof info) {
        if (info.ssi_signo == SIGHUP) {
            result |= DAEMON_SIG_HUP;
        } else if (info.ssi_signo == SIGUSR1) {
            result |= DAEMON_SIG_USR1;
        } else {
            result |= DAEMON_SIG_TERM;
        }
    }
    return result;
}

static void *
watchdog_thread(void *seconds_)
{
    int seconds = (int) (intptr_t) seconds_;
    sleep(seconds);
    LOG_WARN("nng did not close its sockets within %ds (nng 1.5.2's "
             "nng_close() deadlock, nanomsg/nng#1813); everything is "
             "already written: exiting", seconds);
    daemon_pidfile_remove();
    LOG_INFO("stopped");
    _exit(0);
}

void
daemon_exit_watchdog(int seconds)
{
    pthread_t t;
    if (!pthread_create(&t, NULL, watchdog_thread,
                        (void *) (intptr_t) seconds)) {
        pthread_detach(t);
    }
}

char *
daemon_ensure_dir(const char *path)
{
    char *p = xstrdup(path);
    char *error = NULL;
    for (char *s = p + 1; ; s++) {
        bool end = !*s;
        if (end || *s == '/') {
            *s = '\0';
            struct stat st;
            if (mkdir(p, 0755) && errno != EEXIST) {
                error = xasprintf("%s: cannot create directory: %s", p,
                                  strerror(errno));
            } else if (stat(p, &st) || !S_ISDIR(st.st_mode)) {
                error = xasprintf("%s: not a directory", p);
            }
            if (error || end) {
                break;
            }
            *s = '/';
        }
    }
    free(p);
    return error;
}
