/* notify: how appfw-agent tells people about denials inside the guest:
 * the guest's syslog, and the terminals of the user on whose behalf the
 * refused connection was made (as wall(1) does, through utmp). */
#ifndef APPFW_NOTIFY_H
#define APPFW_NOTIFY_H 1

void notify_open(void);
void notify_close(void);

/* One line to syslog (LOG_DAEMON, warning). */
void notify_syslog(const char *text);

/* 'text' on every terminal where 'user' is logged in.  Returns how many
 * terminals it reached. */
int notify_user(const char *user, const char *text);

#endif /* notify.h */
