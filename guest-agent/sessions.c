/* sessions: the guest's addresses and logins (see sessions.h). */
#include "guest-agent/sessions.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <json-c/json.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <utmpx.h>

#include "common/msg.h"

/* The protocol's limits. */
#define MAX_ADDRS 64
#define MAX_SESSIONS 256

static void
add_addresses(struct json_object *msg)
{
    struct json_object *list = json_object_new_array();
    struct ifaddrs *ifs = NULL;
    if (!getifaddrs(&ifs)) {
        for (struct ifaddrs *i = ifs;
             i && json_object_array_length(list) < MAX_ADDRS;
             i = i->ifa_next) {
            if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK)) {
                continue;
            }
            char text[INET6_ADDRSTRLEN];
            if (i->ifa_addr->sa_family == AF_INET) {
                const struct sockaddr_in *sin = (void *) i->ifa_addr;
                inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
            } else if (i->ifa_addr->sa_family == AF_INET6) {
                const struct sockaddr_in6 *sin6 = (void *) i->ifa_addr;
                inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
            } else {
                continue;
            }
            json_object_array_add(list, json_object_new_string(text));
        }
        freeifaddrs(ifs);
    }
    json_object_object_add(msg, "addresses", list);
}

/* A utmp field (not NUL-terminated when full) as a string. */
static struct json_object *
field(const char *f, size_t size)
{
    return json_object_new_string_len(f, (int) strnlen(f, size));
}

static void
add_sessions(struct json_object *msg, const char *utmp)
{
    struct json_object *list = json_object_new_array();
    if (!utmp || !utmpxname(utmp)) {
        setutxent();
        struct utmpx *u;
        while ((u = getutxent())
               && json_object_array_length(list) < MAX_SESSIONS) {
            if (u->ut_type != USER_PROCESS || !u->ut_user[0]
                || (u->ut_pid > 0 && kill(u->ut_pid, 0) && errno == ESRCH)) {
                continue;
            }
            struct json_object *s = json_object_new_object();
            json_object_object_add(s, "user",
                                   field(u->ut_user, sizeof u->ut_user));
            json_object_object_add(s, "tty",
                                   field(u->ut_line, sizeof u->ut_line));
            json_object_object_add(s, "from",
                                   field(u->ut_host, sizeof u->ut_host));
            msg_put_int(s, "since", u->ut_tv.tv_sec > 0 ? u->ut_tv.tv_sec
                                                        : 0);
            msg_put_int(s, "pid", u->ut_pid > 0 ? u->ut_pid : 0);
            json_object_array_add(list, s);
        }
        endutxent();
    }
    json_object_object_add(msg, "sessions", list);
}

struct json_object *
sessions_snapshot(const char *utmp)
{
    struct json_object *msg = msg_create(MSG_NAMING);
    add_addresses(msg);
    add_sessions(msg, utmp);
    return msg;
}
