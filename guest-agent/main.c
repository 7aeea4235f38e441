/* appfw-agent: arguments, configuration, signals and the main loop. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/options.h"
#include "common/util.h"
#include "guest-agent/agent.h"

LOG_MODULE(main);

#define BPF_FS_MAGIC_ 0xcafe4a11

struct settings {
    char *rundir, *pidfile, *log_file, *log_level;
    char *channel, *port_name, *cgroup, *pin_dir, *state_dir, *domain;
    char *syslog_socket, *utmp;
    char *iptables, *ip6tables, *reject_mark, *allow_mark, *fail_mode;
    int queue, queue_maxlen, verdict_timeout_ms, heartbeat_s,
        dead_after_ms, stats_interval_s, cache_max, max_pending,
        naming_interval_ms, poll_us;
};

#define S(FIELD) offsetof(struct settings, FIELD)

static const struct option_def defs[] = {
    { "rundir", OPT_STRING, "/run/appfw-agent", 0, 0, S(rundir),
      "directory for the pid file" },
    { "pidfile", OPT_STRING, "{rundir}/appfw-agent.pid", 0, 0, S(pidfile),
      "pid file" },
    { "log-file", OPT_STRING, "", 0, 0, S(log_file),
      "log to this file instead of standard error" },
    { "log-level", OPT_STRING, "info", 0, 0, S(log_level),
      "LEVEL or MODULE:LEVEL,... (off, err, warn, info, dbg)" },
    { "channel", OPT_STRING, "auto", 0, 0, S(channel),
      "the channel to the host: \"auto\" (the virtio-serial port named "
      "port-name), a character device, or a UNIX socket" },
    { "port-name", OPT_STRING, "org.appfw.agent.0", 0, 0, S(port_name),
      "virtio-serial port name to look for" },
    { "cgroup", OPT_STRING, "auto", 0, 0, S(cgroup),
      "cgroup v2 directory to enforce (\"auto\": the root of the cgroup2 "
      "mount, i.e. every process)" },
    { "pin-dir", OPT_STRING, "/sys/fs/bpf/appfw", 0, 0, S(pin_dir),
      "bpffs directory where the hooks stay pinned" },
    { "state-dir", OPT_STRING, "/var/lib/appfw-agent", 0, 0, S(state_dir),
      "keeps the last policy_push, for fail mode cached" },
    { "domain", OPT_STRING, "", 0, 0, S(domain),
      "the guest's domain or realm (empty: from /etc/resolv.conf)" },
    { "syslog-socket", OPT_STRING, "/dev/log", 0, 0, S(syslog_socket),
      "where denials are logged for the guest (the syslog socket)" },
    { "utmp", OPT_STRING, "", 0, 0, S(utmp),
      "utmp file listing logged-in users' terminals, for notices (empty: "
      "the system's)" },
    { "iptables", OPT_STRING, "auto", 0, 0, S(iptables),
      "iptables command (\"auto\": iptables-legacy if installed, else "
      "iptables)" },
    { "ip6tables", OPT_STRING, "auto", 0, 0, S(ip6tables),
      "ip6tables command (\"auto\": like iptables)" },
    { "queue", OPT_INT, "4242", 0, 65535, S(queue),
      "netfilter queue number" },
    { "queue-maxlen", OPT_INT, "16384", 64, 1048576, S(queue_maxlen),
      "packets the kernel holds for the agent at most" },
    { "reject-mark", OPT_STRING, "0x20000000", 0, 0, S(reject_mark),
      "packet mark bit meaning \"reject\" (one bit)" },
    { "allow-mark", OPT_STRING, "0x10000000", 0, 0, S(allow_mark),
      "socket mark bit for connects the kernel allowed from the cache "
      "(one bit; 0: no kernel fast path)" },
    { "fail-mode", OPT_STRING, "closed", 0, 0, S(fail_mode),
      "without a verdict: closed (deny), open (allow and log), cached "
      "(the last policy_push)" },
    { "verdict-timeout-ms", OPT_INT, "2000", 10, 600000,
      S(verdict_timeout_ms), "how long a connection waits for a verdict" },
    { "poll-us", OPT_INT, "200", 0, 100000, S(poll_us),
      "after a question, poll for the verdict this long before sleeping, "
      "yielding the CPU to anything else runnable (0: sleep at once)" },
    { "heartbeat-s", OPT_INT, "5", 1, 3600, S(heartbeat_s),
      "channel heartbeat interval; a host silent for 3 is gone" },
    { "dead-after-ms", OPT_INT, "5000", 100, 3600000, S(dead_after_ms),
      "the kernel refuses new connections once the agent has been silent "
      "this long" },
    { "stats-interval", OPT_INT, "30", 1, 86400, S(stats_interval_s),
      "seconds between connection statistics" },
    { "naming-interval-ms", OPT_INT, "1000", 100, 3600000,
      S(naming_interval_ms), "how often the guest's addresses and logins "
      "are checked; a change is reported to the host's naming service" },
    { "cache-max", OPT_INT, "65536", 0, 1048576, S(cache_max),
      "verdicts cached at most" },
    { "max-pending", OPT_INT, "16384", 1, 1048576, S(max_pending),
      "decisions in flight at most (more: the fail mode decides)" },
};

static void
usage(void)
{
    printf("Usage: appfw-agent [-c FILE] [-n] [--uninstall] "
           "[--OPTION=VALUE ...]\n"
           "The appfw guest agent: holds each new TCP/UDP connection of "
           "every process\nin the guest until the security VM decides "
           "(eBPF cgroup hooks and a\nnetfilter queue), and reports "
           "connection statistics.\n\n"
           "  -c, --config=FILE  read options from FILE (\"name = value\" "
           "lines) first\n"
           "  -n, --check        check the configuration, print it, and "
           "exit\n"
           "      --uninstall    remove the kernel hooks and netfilter "
           "chains, and exit\n"
           "  -h, --help         this help\n\nOptions:\n");
    options_print_help(defs, ARRAY_SIZE(defs), stdout);
    printf("\nThe hooks outlive the agent: while no agent runs, the kernel "
           "refuses\nnew connections (--uninstall lifts that).\n"
           "Signals: SIGTERM/SIGINT stop; SIGHUP reopens the log file; "
           "SIGUSR1 logs\nthe counters.\n");
}

static struct settings s;

/* The mount point of cgroup v2, from /proc/mounts. */
static char *
cgroup2_root(void)
{
    FILE *f = fopen("/proc/mounts", "r");
    if (!f) {
        return NULL;
    }
    char dev[256], dir[1024], type[64];
    char *root = NULL;
    while (fscanf(f, "%255s %1023s %63s %*[^\n]", dev, dir, type) == 3) {
        if (!strcmp(type, "cgroup2")) {
            root = xstrdup(dir);
            break;
        }
    }
    fclose(f);
    return root;
}

/* Mounts bpffs on /sys/fs/bpf if 'pin_dir' is under it and it is not
 * there yet (a minimal guest mounts nothing there). */
static char *
ensure_bpffs(const char *pin_dir)
{
    static const char root[] = "/sys/fs/bpf";
    struct statfs sfs;
    if (strncmp(pin_dir, root, strlen(root))
        || (!statfs(root, &sfs) && sfs.f_type == BPF_FS_MAGIC_)) {
        return NULL;
    }
    if (mount("bpf", root, "bpf", 0, NULL)) {
        return xasprintf("mounting bpffs on %s: %s", root, strerror(errno));
    }
    return NULL;
}

static char *
parse_mark(const char *name, const char *text, bool zero_ok, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 0);
    if (errno || *end || !*text || v > UINT32_MAX
        || (v & (v - 1)) || (!v && !zero_ok)) {
        return xasprintf("%s: \"%s\" is not a single bit (e.g. 0x20000000)",
                         name, text);
    }
    *out = v;
    return NULL;
}

static char *
make_config(struct agent_config *c, char **cgroup_owned)
{
    memset(c, 0, sizeof *c);
    *cgroup_owned = NULL;
    char *error = fail_mode_parse(s.fail_mode, &c->fail_mode);
    if (error) {
        char *e = xasprintf("fail-mode: %s", error);
        free(error);
        return e;
    }
    if (!error) {
        error = parse_mark("reject-mark", s.reject_mark, false,
                           &c->rules.reject_mark);
    }
    if (!error) {
        error = parse_mark("allow-mark", s.allow_mark, true,
                           &c->rules.allow_mark);
    }
    if (!error && c->rules.reject_mark == c->rules.allow_mark) {
        /* Two different single bits: the chains return a packet with the
         * allow bit before they look for the reject bit (rules.c). */
        error = xstrdup("reject-mark and allow-mark must differ");
    }
    if (error) {
        return error;
    }
    rules_default_tools(&c->rules);
    if (strcmp(s.iptables, "auto")) {
        c->rules.iptables = s.iptables;
    }
    if (strcmp(s.ip6tables, "auto")) {
        c->rules.ip6tables = s.ip6tables;
    }
    c->rules.queue = s.queue;
    c->rules.queue_maxlen = s.queue_maxlen;
    c->channel = s.channel;
    c->port_name = s.port_name;
    c->sys_root = "/sys";
    c->dev_root = "/dev";
    if (!strcmp(s.cgroup, "auto")) {
        *cgroup_owned = cgroup2_root();
        if (!*cgroup_owned) {
            return xstrdup("no cgroup v2 file system is mounted (mount -t "
                           "cgroup2 none /sys/fs/cgroup)");
        }
        c->cgroup = *cgroup_owned;
    } else {
        c->cgroup = s.cgroup;
    }
    c->pin_dir = s.pin_dir;
    c->rules.pin_dir = s.pin_dir;
    c->state_dir = s.state_dir;
    c->domain = *s.domain ? s.domain : NULL;
    c->syslog_socket = s.syslog_socket;
    c->utmp = *s.utmp ? s.utmp : NULL;
    c->queue_maxlen = s.queue_maxlen;
    c->verdict_timeout_ms = s.verdict_timeout_ms;
    c->poll_us = s.poll_us;
    c->heartbeat_s = s.heartbeat_s;
    c->dead_after_ms = s.dead_after_ms;
    c->stats_interval_s = s.stats_interval_s;
    c->naming_interval_ms = s.naming_interval_ms;
    c->cache_max = s.cache_max;
    c->max_pending = s.max_pending;
    return NULL;
}

int
main(int argc, char **argv)
{
    /* --uninstall is an action, not a setting; -n is handled here so
     * that it validates what only make_config() checks. */
    bool uninstall = false, check = false;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i && !strcmp(argv[i], "--uninstall")) {
            uninstall = true;
        } else if (i && (!strcmp(argv[i], "-n")
                         || !strcmp(argv[i], "--check"))) {
            check = true;
        } else {
            argv[n++] = argv[i];
        }
    }
    argc = n;

    int status = options_daemon_start(defs, ARRAY_SIZE(defs), &s, argc,
                                      argv, "appfw-agent", usage,
                                      &s.log_level, &s.log_file);
    if (status >= 0) {
        return status;
    }
    struct agent_config cfg;
    char *cgroup;
    char *error = make_config(&cfg, &cgroup);
    if (!error && check) {
        options_print(defs, ARRAY_SIZE(defs), &s, stdout);
        goto out;
    }
    if (!error && uninstall) {
        error = agent_uninstall(&cfg);
        if (!error) {
            printf("appfw-agent: hooks and netfilter chains removed\n");
        }
        goto out;
    }
    if (!error) {
        error = daemon_ensure_dir(s.rundir);
    }
    if (!error) {
        error = daemon_ensure_dir(s.state_dir);
    }
    if (!error) {
        error = ensure_bpffs(s.pin_dir);
    }
    if (!error) {
        error = daemon_pidfile_create(s.pidfile);
    }
    if (error) {
        goto out;
    }
    if (daemon_signals_init()) {
        error = xstrdup("cannot set up signal handling");
        daemon_pidfile_remove();
        goto out;
    }
    struct agent *a = agent_create(&cfg, &error);
    if (!a) {
        LOG_ERR("cannot start: %s", error);
        daemon_pidfile_remove();
        goto out;
    }
    LOG_INFO("started cgroup=%s queue=%d channel=%s fail-mode=%s",
             cfg.cgroup, s.queue, s.channel, s.fail_mode);

    for (;;) {
        int sig = daemon_signals_run();
        if (sig & DAEMON_SIG_TERM) {
            LOG_INFO("stopping on signal; the kernel refuses new "
                     "connections until an agent runs again");
            break;
        }
        if (sig & DAEMON_SIG_HUP) {
            log_reopen();
        }
        if (sig & DAEMON_SIG_USR1) {
            char *st = agent_status(a);
            LOG_INFO("status %s", st);
            free(st);
        }
        agent_run(a);
        agent_wait(a);
        loop_fd_wait(daemon_signals_fd(), POLLIN);
        loop_block();
    }
    char *st = agent_status(a);
    LOG_INFO("final status %s", st);
    free(st);
    agent_destroy(a);
    daemon_pidfile_remove();

out:
    free(cgroup);
    if (error) {
        fprintf(stderr, "appfw-agent: %s\n", error);
        free(error);
    }
    options_free(defs, ARRAY_SIZE(defs), &s);
    return error ? 1 : 0;
}
