/* appfw-secd: arguments, configuration, signals and the main loop. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/options.h"
#include "common/util.h"
#include "common/rpc.h"
#include "secd.h"

LOG_MODULE(main);

struct settings {
    char *rundir, *pidfile, *log_file, *log_level;
    char *db, *appid_db, *decide_url, *console_url;
    char *tls_cert, *tls_ca, *decide_tls_ca, *console_tls_ca;
    char *bootstrap_token;
    int allow_plaintext_tcp;
    int console_mode, contexts, vm_rate, vm_burst, vm_queue;
    int flush_ms, audit_max_rows, stats_keep_days;
    int site_resolve_s, reverse_dns, naming_stale_s, durable_decisions;
    int poll_hold_ms;
    int vm_idle_s;
};

#define S(FIELD) offsetof(struct settings, FIELD)
#define SHUTDOWN_GRACE_S 3

static const struct option_def defs[] = {
    { "rundir", OPT_STRING, "/run/appfw", 0, 0, S(rundir),
      "directory for sockets and the pid file" },
    { "pidfile", OPT_STRING, "{rundir}/appfw-secd.pid", 0, 0, S(pidfile),
      "pid file" },
    { "log-file", OPT_STRING, "", 0, 0, S(log_file),
      "log to this file instead of standard error" },
    { "log-level", OPT_STRING, "info", 0, 0, S(log_level),
      "LEVEL or MODULE:LEVEL,... (off, err, warn, info, dbg)" },
    { "db", OPT_STRING, "/var/lib/appfw/secd.db", 0, 0, S(db),
      "policies, audit log and statistics (SQLite)" },
    { "appid-db", OPT_STRING, "/var/lib/appfw/appid.db", 0, 0, S(appid_db),
      "the application signature database (see appid(1))" },
    { "decide-url", OPT_STRING, "ipc://{rundir}/secd-decide.sock", 0, 0,
      S(decide_url), "where appfw-switchd sends decisions (nng REP)" },
    { "console-url", OPT_STRING, "ipc://{rundir}/secd-console.sock", 0, 0,
      S(console_url), "where appfwctl connects, also for the event stream "
      "(nng REP)" },
    { "tls-cert", OPT_STRING, "", 0, 0, S(tls_cert),
      "PEM file with this host's certificate and key, for tls+tcp:// URLs" },
    { "tls-ca", OPT_STRING, "", 0, 0, S(tls_ca),
      "PEM file of the CA that signs peers' certificates (clients must "
      "present one); the default of decide-tls-ca and console-tls-ca" },
    { "decide-tls-ca", OPT_STRING, "{tls-ca}", 0, 0, S(decide_tls_ca),
      "PEM file of the CAs (or pinned self-signed certificates) of the "
      "hypervisors: the only certificates decide-url accepts" },
    { "console-tls-ca", OPT_STRING, "{tls-ca}", 0, 0, S(console_tls_ca),
      "PEM file of the CAs (or pinned self-signed certificates) of the "
      "administrators: the only certificates console-url accepts" },
    { "allow-plaintext-tcp", OPT_INT, "0", 0, 1, S(allow_plaintext_tcp),
      RPC_ALLOW_PLAINTEXT_HELP },
    { "bootstrap-token-sha256", OPT_STRING, "", 0, 0, S(bootstrap_token),
      "SHA-256 (hex) of a token that acts as the system administrator "
      "\"bootstrap\" on a remote console, to create the first accounts" },
    { "console-mode", OPT_MODE, "0660", 0, 0777, S(console_mode),
      "file mode of the console and event sockets" },
    { "contexts", OPT_INT, "256", 1, 65536, S(contexts),
      "decide requests in flight at most" },
    { "vm-rate", OPT_INT, "2000", 1, 10000000, S(vm_rate),
      "decisions per second per VM; more are answered rate_limited" },
    { "vm-burst", OPT_INT, "4000", 1, 10000000, S(vm_burst),
      "burst of decisions per VM" },
    { "vm-queue", OPT_INT, "256", 1, 65536, S(vm_queue),
      "queued decisions per VM; more are answered overloaded" },
    { "flush-ms", OPT_INT, "1000", 10, 60000, S(flush_ms),
      "audit and statistics batch interval (the crash loss window)" },
    { "audit-max-rows", OPT_INT, "1000000", 1000, 2000000000,
      S(audit_max_rows), "audit rows kept (the oldest go first)" },
    { "stats-keep-days", OPT_INT, "400", 1, 36500, S(stats_keep_days),
      "days of statistics kept for reports (older minutes are deleted)" },
    { "site-resolve-interval", OPT_INT, "86400", 1, 31536000,
      S(site_resolve_s), "seconds between lookups of the host names in "
      "the policy's site lists" },
    { "naming-stale-s", OPT_INT, "180", 1, 86400, S(naming_stale_s),
      "seconds after which a VM whose agent stopped reporting may lose its "
      "addresses to another VM's agent (naming service)" },
    { "vm-idle-s", OPT_INT, "3600", 1, 31536000, S(vm_idle_s),
      "seconds after which a VM that has sent nothing is forgotten (its "
      "rate limit and learned accounts; learned again when it is back)" },
    { "poll-hold-ms", OPT_INT, "1000", 0, 30000, S(poll_hold_ms),
      "how long a hypervisor's poll waits for something to send it before "
      "an empty answer (keep it under appfw-switchd's secd-timeout-ms)" },
    { "durable-decisions", OPT_INT, "0", 0, 1, S(durable_decisions),
      "1: commit each decision's audit row to disk (synchronous=FULL) "
      "before its verdict leaves; 0: in batches every flush-ms "
      "(a crash loses the rows since the last batch)" },
    { "reverse-dns", OPT_INT, "1", 0, 1, S(reverse_dns),
      "1: look up the host names of destinations, for reports; 0: do not" },
};

static void
usage(void)
{
    printf("Usage: appfw-secd [-c FILE] [-n] [--OPTION=VALUE ...]\n"
           "The appfw decision service: decides socket events for "
           "appfw-switchd,\nkeeps policies, the audit log and statistics, "
           "and serves appfwctl.\n\n"
           "  -c, --config=FILE  read options from FILE (\"name = value\" "
           "lines) first\n"
           "  -n, --check        check the configuration, print it, and "
           "exit\n"
           "  -h, --help         this help\n\nOptions:\n");
    options_print_help(defs, ARRAY_SIZE(defs), stdout);
    printf("\nSignals: SIGTERM/SIGINT stop cleanly (the audit log is "
           "flushed);\nSIGHUP reopens the log file and reloads the active "
           "policy from the store.\n");
}

static struct settings s;

/* Reports 'msg' and returns the exit status for a failed start, freeing
 * what was allocated so far (and 'msg' if 'owned'). */
static int
fail_with(char *msg, bool owned)
{
    fprintf(stderr, "appfw-secd: %s\n", msg);
    if (owned) {
        free(msg);
    }
    options_free(defs, ARRAY_SIZE(defs), &s);
    return 1;
}

static int
fail(const char *msg)
{
    return fail_with((char *) msg, false);
}

static int
fail_free(char *msg)
{
    return fail_with(msg, true);
}

static char *
dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash != path ? xasprintf("%.*s", (int) (slash - path),
                                              path)
                                  : xstrdup(".");
}

static void
warn(const char *msg)
{
    LOG_WARN("%s", msg);
}

/* TLS: this host's certificate, and who may use each endpoint: the
 * hypervisors the decision endpoint, the administrators the console.
 * secd dials no one.  Then the rule for plain tcp://. */
static char *
tls_setup(void)
{
    if (*s.tls_cert && !*s.decide_tls_ca && !*s.console_tls_ca) {
        return xstrdup("TLS needs both a certificate (with its key) and a "
                       "CA (tls-ca, or decide-tls-ca and console-tls-ca)");
    }
    char *error = rpc_tls_configure(s.tls_cert, s.tls_ca, NULL);
    const char *const cas[][2] = {
        { s.decide_url, s.decide_tls_ca },
        { s.console_url, s.console_tls_ca },
    };
    for (size_t i = 0; !error && i < ARRAY_SIZE(cas); i++) {
        if (*cas[i][0] && *cas[i][1]) {
            error = rpc_tls_endpoint_ca(cas[i][0], cas[i][1]);
        }
    }
    const char *const urls[][2] = {
        { "decide-url", s.decide_url }, { "console-url", s.console_url },
    };
    return error ? error
           : rpc_urls_check_plaintext(urls, ARRAY_SIZE(urls),
                                      s.allow_plaintext_tcp, warn);
}

int
main(int argc, char **argv)
{
    int status = options_daemon_start(defs, ARRAY_SIZE(defs), &s, argc,
                                      argv, "appfw-secd", usage,
                                      &s.log_level, &s.log_file);
    if (status >= 0) {
        return status;
    }
    char *dbdir = dir_of(s.db), *appdir = dir_of(s.appid_db);
    char *error = daemon_ensure_dir(s.rundir);
    if (!error) {
        error = daemon_ensure_dir(dbdir);
    }
    if (!error) {
        error = daemon_ensure_dir(appdir);
    }
    free(dbdir);
    free(appdir);
    if (!error) {
        error = daemon_pidfile_create(s.pidfile);
    }
    if (error) {
        return fail_free(error);
    }
    if (*s.bootstrap_token) {
        uint8_t sha[SHA256_LEN];
        if (strlen(s.bootstrap_token) != 2 * SHA256_LEN
            || strspn(s.bootstrap_token, "0123456789abcdef") != 2 * SHA256_LEN
            || !digest_from_hex(s.bootstrap_token, sha, SHA256_LEN)) {
            daemon_pidfile_remove();
            return fail("bootstrap-token-sha256: give 64 lowercase hex "
                        "digits (sha256sum of the token)");
        }
    }
    /* Before nng starts its threads (tls_setup() does): a signal must
     * reach no thread but through the signalfd. */
    if (daemon_signals_init()) {
        daemon_pidfile_remove();
        return fail("cannot set up signal handling");
    }
    error = tls_setup();
    if (error) {
        daemon_pidfile_remove();
        return fail_free(error);
    }

    struct secd_config cfg = {
        .db = s.db, .appid_db = s.appid_db, .decide_url = s.decide_url,
        .console_url = s.console_url,
        .console_mode = s.console_mode,
        .contexts = s.contexts, .vm_rate = s.vm_rate,
        .vm_burst = s.vm_burst, .vm_queue = s.vm_queue,
        .flush_ms = s.flush_ms,
        .audit_max_rows = s.audit_max_rows,
        .stats_keep_days = s.stats_keep_days,
        .site_resolve_s = s.site_resolve_s, .reverse_dns = s.reverse_dns != 0,
        .durable_decisions = s.durable_decisions != 0,
        .poll_hold_ms = s.poll_hold_ms,
        .naming_stale_s = s.naming_stale_s,
        .vm_idle_s = s.vm_idle_s,
        .bootstrap_token_sha256 = s.bootstrap_token,
    };
    struct secd *d;
    error = secd_create(&cfg, &d);
    if (error) {
        LOG_ERR("cannot start: %s", error);
        daemon_pidfile_remove();
        return fail_free(error);
    }
    LOG_INFO("started decide=%s console=%s", s.decide_url, s.console_url);

    for (;;) {
        int sig = daemon_signals_run();
        if (sig & DAEMON_SIG_TERM) {
            LOG_INFO("stopping on signal");
            break;
        }
        if (sig & DAEMON_SIG_HUP) {
            log_reopen();
            secd_reload(d);
        }
        secd_run(d);
        secd_wait(d);
        loop_fd_wait(daemon_signals_fd(), POLLIN);
        loop_block();
    }

    /* secd_destroy() writes everything durable, then closes the nng
     * sockets.  nng 1.5.2 (Debian 12's) can deadlock in nng_close() on a
     * busy REQ/REP socket (nanomsg/nng#1813, fixed upstream); a watchdog
     * ends the process if that teardown stalls, after the data is safe. */
    daemon_exit_watchdog(SHUTDOWN_GRACE_S);
    secd_destroy(d);
    daemon_pidfile_remove();
    LOG_INFO("stopped");
    options_free(defs, ARRAY_SIZE(defs), &s);
    return 0;
}
