/* host-sim: plays the host's side of appfw-agent's channel for the agent's
 * tests (appfw-switchd and appfw-secd in the real stack).  It listens on a
 * UNIX socket, accepts the agent (again after each disconnect), answers
 * hello, heartbeats and every decide, and appends each message it
 * receives to a log, one JSON object per line.
 *
 *   host-sim PATH LOG [OPTIONS]
 *     --deny-port P      deny decides whose service port is P (remote
 *                        port; the local port for accept and listen)
 *     --deny-name NAME   deny decides whose app.name is NAME
 *     --deny-sha256 HEX  deny decides whose app.sha256 is HEX
 *     --deny-unknown     deny decides without an app (unknown)
 *     --ttl S            the verdicts' TTL (default 0: not cached)
 *     --no-cache-port P  TTL 0 for decides whose service port is P,
 *                        whatever --ttl says
 *     --notify           deny verdicts ask for the user to be told
 *     --delay-ms N       answer each decide N ms late
 *     --policy-push FILE send FILE's policy_push after each hello
 *     --version V        the verdicts' policy_version (default 1)
 *     --notice USER:TEXT send a notice for USER ("" everyone) after each
 *                        hello
 *     --change-deny-port P  on SIGUSR1: deny port P from then on, raise
 *                        the policy version and send a policy_change (as
 *                        appfw-switchd passes on secd's)
 *     --transcript FILE  append every message either way to FILE, one a
 *                        line, "< " before what the agent sent and "> "
 *                        before what host-sim sent (tests/fuzz/fuzz-agent.c's
 *                        seeds come from such transcripts)
 *
 * Denials name the rule "deny-port-P", "deny-name-NAME", "deny-sha256" or
 * "deny-unknown"; allows
 * "allow-all".  Stops on SIGTERM or SIGINT. */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/chan.h"
#include "common/frame.h"
#include "common/msg.h"
#include "common/util.h"

#define MAX_RULES 32
#define MAX_DELAYED 65536

static int deny_ports[MAX_RULES], n_deny_ports;
static int no_cache_ports[MAX_RULES], n_no_cache_ports;
static struct json_object *notice;
static const char *deny_names[MAX_RULES];
static int n_deny_names;
static const char *deny_sha256s[MAX_RULES];
static int n_deny_sha256s;
static int ttl, delay_ms, version = 1;
static bool notify, deny_unknown;
static struct json_object *policy_push;
static FILE *transcript;
static volatile sig_atomic_t stop, change;
static int change_deny_port = -1;

struct delayed {
    int64_t when;
    struct json_object *verdict;
};
static struct delayed delayed[MAX_DELAYED];
static size_t n_delayed;

static void
on_signal(int sig)
{
    if (sig == SIGUSR1) {
        change = 1;
    } else {
        stop = 1;
    }
}

static void
send_msg(struct chan *c, struct json_object *m)
{
    chan_send(c, m);
    if (transcript) {
        fprintf(transcript, "> %s\n",
                json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN));
        fflush(transcript);
    }
}

/* SIGUSR1 with --change-deny-port: the "policy" changes. */
static void
apply_change(struct chan *c)
{
    change = 0;
    if (change_deny_port < 0 || n_deny_ports >= MAX_RULES) {
        return;
    }
    deny_ports[n_deny_ports++] = change_deny_port;
    version++;
    struct json_object *m = msg_create(MSG_POLICY_CHANGE);
    msg_put_int(m, "revision", version);
    msg_put_int(m, "policy_version", version);
    msg_put_string(m, "reason", "host-sim");
    send_msg(c, m);
    json_object_put(m);
}

static int
listen_on(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sun, sizeof sun)
        || listen(fd, 4)) {
        perror(path);
        exit(1);
    }
    return fd;
}

static struct json_object *
verdict_for(const struct json_object *d)
{
    const char *event = msg_get_string(d, "event", "");
    bool local = !strcmp(event, "accept") || !strcmp(event, "listen");
    int port = msg_get_int(d, local ? "local.port" : "remote.port", -1);
    const char *name = msg_get_string(d, "app.name", "");
    char rule[300] = "allow-all";
    bool allow = true;
    for (int i = 0; i < n_deny_ports && allow; i++) {
        if (port == deny_ports[i]) {
            allow = false;
            snprintf(rule, sizeof rule, "deny-port-%d", port);
        }
    }
    for (int i = 0; i < n_deny_names && allow; i++) {
        if (!strcmp(name, deny_names[i])) {
            allow = false;
            snprintf(rule, sizeof rule, "deny-name-%.200s", name);
        }
    }
    if (deny_unknown && allow && !msg_get(d, "app")) {
        allow = false;
        snprintf(rule, sizeof rule, "deny-unknown");
    }
    const char *sha256 = msg_get_string(d, "app.sha256", "");
    for (int i = 0; i < n_deny_sha256s && allow; i++) {
        if (!strcmp(sha256, deny_sha256s[i])) {
            allow = false;
            snprintf(rule, sizeof rule, "deny-sha256");
        }
    }
    struct json_object *v = msg_create(MSG_VERDICT);
    msg_put_int(v, "id", msg_get_int(d, "id", 0));
    msg_put_string(v, "verdict", allow ? "allow" : "deny");
    msg_put_string(v, "rule", rule);
    int v_ttl = ttl;
    for (int i = 0; i < n_no_cache_ports; i++) {
        if (port == no_cache_ports[i]) {
            v_ttl = 0;
        }
    }
    msg_put_int(v, "ttl", v_ttl);
    msg_put_int(v, "policy_version", version);
    if (!allow && notify) {
        json_object_object_add(v, "notify", json_object_new_boolean(1));
    }
    return v;
}

static void
serve(struct chan *c, FILE *log)
{
    struct json_object *hello = msg_hello_create("switchd", "host-sim");
    send_msg(c, hello);
    json_object_put(hello);
    bool greeted = false;
    while (!stop) {
        if (change) {
            apply_change(c);
        }
        int64_t now = time_mono_ms();
        size_t kept = 0;
        for (size_t i = 0; i < n_delayed; i++) {
            if (delayed[i].when <= now) {
                send_msg(c, delayed[i].verdict);
                json_object_put(delayed[i].verdict);
            } else {
                delayed[kept++] = delayed[i];
            }
        }
        n_delayed = kept;
        if (chan_run(c)) {
            return;
        }
        struct pollfd pfd = { .fd = chan_fd(c),
                              .events = chan_poll_events(c) };
        poll(&pfd, 1, n_delayed ? 5 : 100);
        for (;;) {
            struct frame f;
            int error = chan_recv(c, &f);
            if (error == EAGAIN) {
                break;
            } else if (error) {
                return;
            }
            struct json_object *m;
            enum msg_type type;
            char *perr = msg_parse(f.data, f.len, &m, &type);
            if (perr) {
                fprintf(log, "{\"host_sim_error\":\"%s\"}\n", perr);
                fflush(log);
                free(perr);
                free(f.data);
                continue;
            }
            fprintf(log, "%.*s\n", (int) f.len, (const char *) f.data);
            fflush(log);
            if (transcript) {
                fprintf(transcript, "< %.*s\n", (int) f.len,
                        (const char *) f.data);
                fflush(transcript);
            }
            free(f.data);
            if (type == MSG_HELLO) {
                /* As appfw-switchd does: each hello is answered, since a
                 * restarted agent reopens its port without this
                 * connection closing. */
                if (greeted) {
                    struct json_object *h = msg_hello_create("switchd",
                                                             "host-sim");
                    send_msg(c, h);
                    json_object_put(h);
                }
                greeted = true;
                if (policy_push) {
                    send_msg(c, policy_push);
                }
                if (notice) {
                    send_msg(c, notice);
                }
            } else if (type == MSG_HEARTBEAT) {
                /* As appfw-switchd does: an agent takes a host silent
                 * for three of its heartbeats as gone. */
                struct json_object *hb = msg_heartbeat_create(
                    msg_get_int(m, "seq", 0));
                send_msg(c, hb);
                json_object_put(hb);
            } else if (type == MSG_DECIDE) {
                struct json_object *v = verdict_for(m);
                if (delay_ms && n_delayed < MAX_DELAYED) {
                    delayed[n_delayed++] = (struct delayed) {
                        .when = time_mono_ms() + delay_ms, .verdict = v,
                    };
                } else {
                    send_msg(c, v);
                    json_object_put(v);
                }
            }
            json_object_put(m);
        }
    }
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: host-sim PATH LOG [OPTIONS]\n");
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        const char *opt = argv[i];
        const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(opt, "--notify")) {
            notify = true;
            continue;
        }
        if (!strcmp(opt, "--deny-unknown")) {
            deny_unknown = true;
            continue;
        }
        if (!arg) {
            fprintf(stderr, "host-sim: %s needs an argument\n", opt);
            return 2;
        }
        if (!strcmp(opt, "--notice")) {
            const char *colon = strchr(arg, ':');
            if (!colon) {
                fprintf(stderr, "host-sim: --notice USER:TEXT\n");
                return 2;
            }
            json_object_put(notice);
            notice = msg_create(MSG_NOTICE);
            json_object_object_add(notice, "user", json_object_new_string_len(
                                       arg, (int) (colon - arg)));
            msg_put_string(notice, "text", colon + 1);
            msg_put_string(notice, "kind", "quota");
            i++;
            continue;
        }
        i++;
        if (!strcmp(opt, "--deny-port") && n_deny_ports < MAX_RULES) {
            deny_ports[n_deny_ports++] = atoi(arg);
        } else if (!strcmp(opt, "--no-cache-port")
                   && n_no_cache_ports < MAX_RULES) {
            no_cache_ports[n_no_cache_ports++] = atoi(arg);
        } else if (!strcmp(opt, "--deny-name") && n_deny_names < MAX_RULES) {
            deny_names[n_deny_names++] = arg;
        } else if (!strcmp(opt, "--deny-sha256")
                   && n_deny_sha256s < MAX_RULES) {
            deny_sha256s[n_deny_sha256s++] = arg;
        } else if (!strcmp(opt, "--change-deny-port")) {
            change_deny_port = atoi(arg);
        } else if (!strcmp(opt, "--ttl")) {
            ttl = atoi(arg);
        } else if (!strcmp(opt, "--delay-ms")) {
            delay_ms = atoi(arg);
        } else if (!strcmp(opt, "--version")) {
            version = atoi(arg);
        } else if (!strcmp(opt, "--transcript")) {
            transcript = fopen(arg, "a");
            if (!transcript) {
                perror(arg);
                return 1;
            }
        } else if (!strcmp(opt, "--policy-push")) {
            policy_push = json_object_from_file(arg);
            if (!policy_push) {
                fprintf(stderr, "host-sim: %s: not JSON\n", arg);
                return 2;
            }
        } else {
            fprintf(stderr, "host-sim: unknown option %s\n", opt);
            return 2;
        }
    }
    FILE *log = fopen(argv[2], "a");
    if (!log) {
        perror(argv[2]);
        return 1;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int lfd = listen_on(argv[1]);
    while (!stop) {
        struct pollfd pfd = { .fd = lfd, .events = POLLIN };
        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        struct chan *c = chan_create(fd, 0, 0);
        serve(c, log);
        chan_destroy(c);
        for (size_t i = 0; i < n_delayed; i++) {
            json_object_put(delayed[i].verdict);
        }
        n_delayed = 0;
    }
    close(lfd);
    unlink(argv[1]);
    json_object_put(policy_push);
    json_object_put(notice);
    if (transcript) {
        fclose(transcript);
    }
    fclose(log);
    return 0;
}
