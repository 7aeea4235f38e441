/* notify: syslog and users' terminals (see notify.h). */
#include "guest-agent/notify.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>

#include "common/escape.h"
#include "common/util.h"

#define SYSLOG_DAEMON_WARNING ((3 << 3) | 4)

static const char *syslog_path = "/dev/log";
static const char *utmp_path;

void
notify_init(const char *syslog_socket, const char *utmp)
{
    if (syslog_socket && *syslog_socket) {
        syslog_path = syslog_socket;
    }
    utmp_path = utmp && *utmp ? utmp : NULL;
}

bool
notify_syslog(const char *text)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    if (strlen(syslog_path) >= sizeof sun.sun_path) {
        return false;
    }
    strcpy(sun.sun_path, syslog_path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", localtime_r(&now, &tm));
    char *clean = escape_text(text, false);
    char *line = xasprintf("<%d>%s appfw-agent[%d]: %s",
                           SYSLOG_DAEMON_WARNING, stamp, (int) getpid(),
                           clean);
    free(clean);
    bool ok = sendto(fd, line, strlen(line), MSG_DONTWAIT,
                     (struct sockaddr *) &sun, sizeof sun) >= 0;
    free(line);
    close(fd);
    return ok;
}

/* 'text' on the terminals of 'user', or of everyone if 'user' is NULL. */
static int
tell(const char *user, const char *text)
{
    if (utmp_path && utmpxname(utmp_path)) {
        return 0;
    }
    char *msg = NULL;
    int n = 0;
    setutxent();
    struct utmpx *u;
    while ((u = getutxent())) {
        if (u->ut_type != USER_PROCESS
            || (user && strncmp(u->ut_user, user, sizeof u->ut_user))) {
            continue;
        }
        char line[sizeof u->ut_line + 1];
        memcpy(line, u->ut_line, sizeof u->ut_line);
        line[sizeof u->ut_line] = '\0';
        if (!line[0] || strstr(line, "..")) {
            continue;
        }
        char *tty = xasprintf("/dev/%s", line);
        int fd = open(tty, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        free(tty);
        if (fd >= 0) {
            if (!msg) {
                char *clean = escape_text(text, false);
                msg = xasprintf("\r\nappfw: %s\r\n", clean);
                free(clean);
            }
            if (write(fd, msg, strlen(msg)) > 0) {
                n++;
            }
            close(fd);
        }
    }
    endutxent();
    free(msg);
    return n;
}

int
notify_user(const char *user, const char *text)
{
    return user && *user ? tell(user, text) : 0;
}

int
notify_everyone(const char *text)
{
    return tell(NULL, text);
}
