/* Unit tests for common/daemon.c: pid files and signals. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/daemon.h"

static void
test_pidfile(void **state)
{
    (void) state;
    char dir[] = "/tmp/appfw-test-daemon-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/test.pid", dir);

    assert_null(daemon_pidfile_create(path));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long pid = 0;
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    assert_int_equal(pid, getpid());

    /* A second process is refused while we hold the lock. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (!child) {
        char *error = daemon_pidfile_create(path);
        char want[160];
        snprintf(want, sizeof want, "%s: already running as pid %ld", path,
                 pid);
        if (!error || strcmp(error, want)) {
            fprintf(stderr, "child got: %s\n", error ? error : "(null)");
            _exit(1);
        }
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    daemon_pidfile_remove();
    assert_int_equal(access(path, F_OK), -1);
    daemon_pidfile_remove();        /* Twice is harmless. */

    /* A stale file left by a dead process is taken over. */
    f = fopen(path, "w");
    fputs("999999\n", f);
    fclose(f);
    assert_null(daemon_pidfile_create(path));
    daemon_pidfile_remove();

    char bad[160];
    snprintf(bad, sizeof bad, "%s/missing/x.pid", dir);
    char *error = daemon_pidfile_create(bad);
    assert_non_null(error);
    assert_non_null(strstr(error, "cannot create pid file"));
    free(error);
    rmdir(dir);
}

static void
test_signals(void **state)
{
    (void) state;
    assert_int_equal(daemon_signals_init(), 0);
    assert_true(daemon_signals_fd() >= 0);
    assert_int_equal(daemon_signals_run(), DAEMON_SIG_NONE);

    raise(SIGHUP);
    raise(SIGTERM);
    struct pollfd pfd = { .fd = daemon_signals_fd(), .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_int_equal(daemon_signals_run(), DAEMON_SIG_HUP | DAEMON_SIG_TERM);
    assert_int_equal(daemon_signals_run(), DAEMON_SIG_NONE);

    raise(SIGINT);
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_int_equal(daemon_signals_run(), DAEMON_SIG_TERM);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pidfile),
        cmocka_unit_test(test_signals),
    };
    return cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
}
