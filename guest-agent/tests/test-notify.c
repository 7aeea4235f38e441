/* Unit tests for guest-agent/notify.c: what reaches the guest's syslog (a
 * datagram socket of the test's) and a user's terminal (a pseudo-terminal
 * of the test's, named in a utmp file of its own).  The text of a denial
 * or of the host's notice carries strings from the host (a notice, a rule
 * id) and from the guest (an executable's name): no control sequence in
 * them may reach the terminal, nor a forged line the log. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <utmpx.h>
#include <cmocka.h>

#include "common/util.h"
#include "guest-agent/notify.h"

struct fixture {
    char dir[64];
    char *log_path, *utmp_path;
    int log_fd;
    int master, slave;          /* The user's terminal. */
};

static void
add_login(FILE *f, const char *user, const char *line)
{
    struct utmpx u;
    memset(&u, 0, sizeof u);
    u.ut_type = USER_PROCESS;
    u.ut_pid = getpid();
    snprintf(u.ut_line, sizeof u.ut_line, "%s", line);
    snprintf(u.ut_user, sizeof u.ut_user, "%s", user);
    assert_int_equal(fwrite(&u, sizeof u, 1, f), 1);
}

static int
setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test-notify-XXXXXX");
    if (!mkdtemp(f->dir)) {
        return -1;
    }
    f->log_path = xasprintf("%s/log", f->dir);
    f->utmp_path = xasprintf("%s/utmp", f->dir);

    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", f->log_path);
    f->log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(f->log_fd >= 0);
    assert_int_equal(bind(f->log_fd, (struct sockaddr *) &sun, sizeof sun),
                     0);

    /* Raw, so that the test reads what was written, byte for byte. */
    f->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(f->master >= 0);
    assert_int_equal(grantpt(f->master), 0);
    assert_int_equal(unlockpt(f->master), 0);
    const char *tty = ptsname(f->master);
    assert_non_null(tty);
    f->slave = open(tty, O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(f->slave >= 0);
    struct termios t;
    assert_int_equal(tcgetattr(f->slave, &t), 0);
    cfmakeraw(&t);
    assert_int_equal(tcsetattr(f->slave, TCSANOW, &t), 0);

    FILE *u = fopen(f->utmp_path, "w");
    assert_non_null(u);
    add_login(u, "alice", tty + strlen("/dev/"));
    add_login(u, "bob", tty + strlen("/dev/"));
    assert_int_equal(fclose(u), 0);

    notify_init(f->log_path, f->utmp_path);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    close(f->log_fd);
    close(f->slave);
    close(f->master);
    unlink(f->log_path);
    unlink(f->utmp_path);
    rmdir(f->dir);
    free(f->log_path);
    free(f->utmp_path);
    free(f);
    return 0;
}

/* What the terminal shows next, all of it (malloc'd). */
static char *
read_terminal(struct fixture *f)
{
    char buf[8192];
    size_t n = 0;
    int flags = fcntl(f->master, F_GETFL);
    for (;;) {
        ssize_t r = read(f->master, buf + n, sizeof buf - 1 - n);
        if (r <= 0) {
            break;
        }
        n += r;
        /* The first read waits for the write; the rest only take what
         * is already there. */
        fcntl(f->master, F_SETFL, flags | O_NONBLOCK);
    }
    fcntl(f->master, F_SETFL, flags);
    buf[n] = '\0';
    return xstrdup(buf);
}

static char *
read_syslog(struct fixture *f)
{
    char buf[8192];
    ssize_t n = recv(f->log_fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    buf[n] = '\0';
    return xstrdup(buf);
}

/* A hostile notice: a window title, a cleared screen, a forged prompt
 * on a line of its own, a reversed direction, a C1 CSI, a stray byte. */
static const char hostile[] =
    "quota \x1b]0;pwned\x07\x1b[2J\r\nPassword: \xe2\x80\xae\xc2\x9b" "31m"
    "\xff!";
static const char escaped[] =
    "quota \\x1b]0;pwned\\x07\\x1b[2J\\r\\nPassword: \\u{202e}\\u{009b}"
    "31m\\xff!";

static void
test_terminal(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(notify_user("alice", hostile), 1);
    char *got = read_terminal(f);
    char *want = xasprintf("\r\nappfw: %s\r\n", escaped);
    assert_string_equal(got, want);
    free(got);
    free(want);

    /* Plain text, as it is; everyone logged in hears it. */
    assert_int_equal(notify_everyone("over quota: 2000000 bytes"), 2);
    got = read_terminal(f);
    assert_string_equal(got, "\r\nappfw: over quota: 2000000 bytes\r\n"
                             "\r\nappfw: over quota: 2000000 bytes\r\n");
    free(got);

    /* Nobody to tell. */
    assert_int_equal(notify_user("carol", hostile), 0);
    assert_int_equal(notify_user("", hostile), 0);
}

static void
test_syslog(void **state)
{
    struct fixture *f = *state;

    assert_true(notify_syslog(hostile));
    char *got = read_syslog(f);
    const char *text = strstr(got, "]: ");
    assert_non_null(text);
    assert_string_equal(text + 3, escaped);
    assert_int_equal(strncmp(got, "<28>", 4), 0);
    free(got);

    /* A newline would begin a line the agent did not write. */
    assert_true(notify_syslog("denied\n<0>Jan  1 00:00:00 sshd[1]: ok"));
    got = read_syslog(f);
    assert_null(strchr(got, '\n'));
    assert_non_null(strstr(got, "denied\\n<0>Jan"));
    free(got);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_terminal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syslog, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
