/* notify: how appfw-agent tells people about denials inside the guest:
 * the guest's syslog, and the terminals of the user on whose behalf the
 * refused connection was made (as wall(1) does, through utmp).
 *
 * The texts carry strings from the host (a notice, a rule id) and from the
 * guest (an executable's name): both are escaped as common/escape.h says
 * for a terminal, so that no control sequence reaches a user's terminal
 * and no line the agent did not write reaches the log. */
#ifndef APPFW_NOTIFY_H
#define APPFW_NOTIFY_H 1

#include <stdbool.h>

/* 'syslog_socket': the syslog daemon's socket ("/dev/log"); 'utmp': the
 * utmp file (NULL: the system's).  Both are kept by reference. */
void notify_init(const char *syslog_socket, const char *utmp);

/* Sends one RFC 3164 line (facility daemon, severity warning).  Without
 * a syslog daemon it is lost: returns false then. */
bool notify_syslog(const char *text);

/* 'text' on every terminal where 'user' is logged in.  Returns how many
 * terminals it reached. */
int notify_user(const char *user, const char *text);

/* 'text' on the terminal of everyone logged in. */
int notify_everyone(const char *text);

#endif /* notify.h */
