/* notify: syslog and users' terminals (see notify.h). */
#include "guest-agent/notify.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <utmpx.h>

#include "common/util.h"

void
notify_open(void)
{
    openlog("appfw-agent", LOG_PID, LOG_DAEMON);
}

void
notify_close(void)
{
    closelog();
}

void
notify_syslog(const char *text)
{
    syslog(LOG_WARNING, "%s", text);
}

int
notify_user(const char *user, const char *text)
{
    if (!user || !*user) {
        return 0;
    }
    int n = 0;
    setutxent();
    struct utmpx *u;
    while ((u = getutxent())) {
        if (u->ut_type != USER_PROCESS
            || strncmp(u->ut_user, user, sizeof u->ut_user)) {
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
            char *msg = xasprintf("\r\nappfw: %s\r\n", text);
            if (write(fd, msg, strlen(msg)) > 0) {
                n++;
            }
            free(msg);
            close(fd);
        }
    }
    endutxent();
    return n;
}
