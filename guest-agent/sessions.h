/* sessions: what the agent tells the naming service (docs/protocol.md,
 * "naming"): the guest's addresses and its open login sessions.
 *
 * sessions_snapshot() builds the whole "naming" message each time; the
 * agent sends it when it differs from the last one it sent.  Addresses
 * come from getifaddrs() (every interface but loopback); sessions from
 * utmp's USER_PROCESS entries whose process is still alive (a crashed
 * login leaves its entry behind). */
#ifndef APPFW_SESSIONS_H
#define APPFW_SESSIONS_H 1

struct json_object;

/* 'utmp': the utmp file, NULL for the system's. */
struct json_object *sessions_snapshot(const char *utmp);

#endif /* sessions.h */
