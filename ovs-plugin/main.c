/* appfw-switchd: arguments, configuration, control commands, signals and
 * the main loop (OVS's poll loop). */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fatal-signal.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "unixctl.h"
#include "util.h"

#include "common/daemon.h"
#include "common/log.h"
#include "common/options.h"
#include "common/rpc.h"
#include "switchd.h"

LOG_MODULE(main);

#define SHUTDOWN_GRACE_S 3

struct settings {
    char *rundir, *pidfile, *log_file, *log_level, *ctl;
    char *bridge, *ovs_rundir, *db, *switch_target, *flow_url, *decide_url;
    char *default_mode, *tls_cert, *tls_ca, *tls_server_name;
    int flow_mode, table_base, cookie_prefix, vm_rate, vm_burst, vm_queue;
    int vm_max_flows, vm_punt_rate, allow_plaintext_tcp;
    int secd_timeout_ms, min_flow_ttl, stats_interval, audit_interval;
    char *registry, *hypervisor_name, *hypervisor_token_file;
};

#define S(FIELD) offsetof(struct settings, FIELD)

static const struct option_def defs[] = {
    { "rundir", OPT_STRING, "/run/appfw", 0, 0, S(rundir),
      "directory for sockets and the pid file" },
    { "pidfile", OPT_STRING, "{rundir}/appfw-switchd.pid", 0, 0, S(pidfile),
      "pid file" },
    { "ctl", OPT_STRING, "{rundir}/appfw-switchd.ctl", 0, 0, S(ctl),
      "control socket (ovs-appctl -t PATH appfw/...)" },
    { "log-file", OPT_STRING, "", 0, 0, S(log_file),
      "log to this file instead of standard error" },
    { "log-level", OPT_STRING, "info", 0, 0, S(log_level),
      "LEVEL or MODULE:LEVEL,... (off, err, warn, info, dbg)" },
    { "bridge", OPT_STRING, "br-int", 0, 0, S(bridge),
      "the integration bridge whose VM ports appfw enforces" },
    { "ovs-rundir", OPT_STRING, "/run/openvswitch", 0, 0, S(ovs_rundir),
      "Open vSwitch's run directory" },
    { "db", OPT_STRING, "unix:{ovs-rundir}/db.sock", 0, 0, S(db),
      "the Open_vSwitch database" },
    { "switch", OPT_STRING, "unix:{ovs-rundir}/{bridge}.mgmt", 0, 0,
      S(switch_target), "the bridge's OpenFlow management connection" },
    { "flow-url", OPT_STRING, "ipc://{rundir}/switchd-flow.sock", 0, 0,
      S(flow_url), "where appfw-secd sends flow requests (nng REP)" },
    { "flow-mode", OPT_MODE, "0660", 0, 0777, S(flow_mode),
      "file mode of an ipc:// flow socket" },
    { "decide-url", OPT_STRING, "ipc://{rundir}/secd-decide.sock", 0, 0,
      S(decide_url), "appfw-secd's decision endpoint" },
    { "hypervisor-name", OPT_STRING, "", 0, 0, S(hypervisor_name),
      "this hypervisor's name to appfw-secd, stamped on its VMs' messages "
      "(letters, digits, '.', '-', '_'; default: the host name)" },
    { "hypervisor-token-file", OPT_STRING, "", 0, 0,
      S(hypervisor_token_file), "file holding this hypervisor's token "
      "(appfwctl hypervisor add prints it); needed once appfw-secd has "
      "hypervisors registered" },
    { "tls-cert", OPT_STRING, "", 0, 0, S(tls_cert),
      "PEM file with this host's certificate and key, for tls+tcp:// URLs" },
    { "tls-ca", OPT_STRING, "", 0, 0, S(tls_ca),
      "PEM file of the CA that signs peers' certificates" },
    { "tls-server-name", OPT_STRING, "", 0, 0, S(tls_server_name),
      "name to verify in appfw-secd's certificate (default: the URL's "
      "host)" },
    { "allow-plaintext-tcp", OPT_INT, "0", 0, 1, S(allow_plaintext_tcp),
      RPC_ALLOW_PLAINTEXT_HELP },
    { "default-mode", OPT_STRING, "enforce", 0, 0, S(default_mode),
      "enforce, monitor or noagent, for VMs without "
      "external_ids:appfw-mode" },
    { "table-base", OPT_INT, "0", 0, 214, S(table_base),
      "first of the 41 OpenFlow tables appfw owns (packets enter at 0)" },
    { "cookie-prefix", OPT_INT, "43504", 1, 65535, S(cookie_prefix),
      "top 16 bits of the cookie of every appfw flow (43504 = 0xa9f0)" },
    { "vm-rate", OPT_INT, "2000", 1, 10000000, S(vm_rate),
      "guest requests per second per VM; more are refused rate_limited" },
    { "vm-burst", OPT_INT, "4000", 1, 10000000, S(vm_burst),
      "burst of guest requests per VM" },
    { "vm-queue", OPT_INT, "256", 1, 65536, S(vm_queue),
      "guest decisions in flight per VM; more are refused overloaded" },
    { "vm-max-flows", OPT_INT, "65536", 1, 10000000, S(vm_max_flows),
      "approved flows one VM may hold; more flow requests are refused" },
    { "vm-punt-rate", OPT_INT, "200", 1, 1000000, S(vm_punt_rate),
      "packets per second one VM may send to switchd (resets, questions "
      "for VMs without an agent), enforced by an OpenFlow meter" },
    { "secd-timeout-ms", OPT_INT, "3000", 10, 60000, S(secd_timeout_ms),
      "how long a decision may take at appfw-secd" },
    { "min-flow-ttl", OPT_INT, "30", 1, 86400, S(min_flow_ttl),
      "seconds an approved flow stays at least (verdicts give more)" },
    { "stats-interval", OPT_INT, "30", 1, 3600, S(stats_interval),
      "seconds between per-application counter reports to appfw-secd" },
    { "registry", OPT_STRING, "{rundir}/appfw-switchd.vms", 0, 0,
      S(registry), "file keeping the VM registrations across restarts "
      "(\"\": none)" },
    { "audit-interval", OPT_INT, "10", 1, 3600, S(audit_interval),
      "seconds between checks that the switch holds the number of appfw "
      "flows switchd installed (if not, all are replaced)" },
};

static struct settings s;

static void
usage(void)
{
    printf("Usage: appfw-switchd [-c FILE] [-n] [--OPTION=VALUE ...]\n"
           "The appfw hypervisor daemon: programs Open vSwitch with the "
           "flows appfw-secd\napproves, and relays guest agents' requests "
           "to appfw-secd.\n\n"
           "  -c, --config=FILE  read options from FILE (\"name = value\" "
           "lines) first\n"
           "  -n, --check        check the configuration, print it, and "
           "exit\n"
           "  -h, --help         this help\n\nOptions:\n");
    options_print_help(defs, ARRAY_SIZE(defs), stdout);
    printf("\nControl (ovs-appctl -t CTL COMMAND):\n"
           "  appfw/vm-register UUID CHANNEL-PATH [NAME]\n"
           "                              a VM's guest channel socket (and "
           "name)\n"
           "  appfw/vm-unregister UUID\n"
           "  appfw/vm-addresses UUID MAC [ADDRESSES]\n"
           "                              a registered VM's addresses on "
           "its port with MAC\n"
           "                              (port security; none: learned)\n"
           "  appfw/vms                   VMs, ports, channels, counts\n"
           "  appfw/flows                 the flows appfw wants installed\n"
           "  appfw/connection-status     switch, database, flow requests\n"
           "  appfw/recompute             regenerate every VM's flows\n"
           "  exit                        stop cleanly\n"
           "\nSignals: SIGTERM/SIGINT stop cleanly (appfw's flows stay "
           "on the switch);\nSIGHUP reopens the log file.\n");
}

static int
fail_free(char *msg)
{
    fprintf(stderr, "appfw-switchd: %s\n", msg);
    free(msg);
    options_free(defs, ARRAY_SIZE(defs), &s);
    return 1;
}

static void
warn(const char *msg)
{
    LOG_WARN("%s", msg);
}

static void
reply(struct unixctl_conn *conn, char *text, bool ok)
{
    if (ok) {
        unixctl_command_reply(conn, text);
    } else {
        unixctl_command_reply_error(conn, text);
    }
    free(text);
}

static void
cmd_vm_register(struct unixctl_conn *conn, int argc, const char *argv[],
                void *sd)
{
    bool ok;
    char *text = switchd_vm_register(sd, argv[1], argv[2],
                                     argc > 3 ? argv[3] : NULL, &ok);
    reply(conn, text, ok);
}

static void
cmd_vm_unregister(struct unixctl_conn *conn, int argc OVS_UNUSED,
                  const char *argv[], void *sd)
{
    bool ok;
    char *text = switchd_vm_unregister(sd, argv[1], &ok);
    reply(conn, text, ok);
}

static void
cmd_vm_addresses(struct unixctl_conn *conn, int argc, const char *argv[],
                 void *sd)
{
    bool ok;
    char *text = switchd_vm_addresses(sd, argv[1], argv[2],
                                      argc > 3 ? argv[3] : "", &ok);
    reply(conn, text, ok);
}

static void
cmd_vms(struct unixctl_conn *conn, int argc OVS_UNUSED,
        const char *argv[] OVS_UNUSED, void *sd)
{
    reply(conn, switchd_vms(sd), true);
}

static void
cmd_flows(struct unixctl_conn *conn, int argc OVS_UNUSED,
          const char *argv[] OVS_UNUSED, void *sd)
{
    reply(conn, switchd_flows(sd), true);
}

static void
cmd_status(struct unixctl_conn *conn, int argc OVS_UNUSED,
           const char *argv[] OVS_UNUSED, void *sd)
{
    reply(conn, switchd_connection_status(sd), true);
}

static void
cmd_recompute(struct unixctl_conn *conn, int argc OVS_UNUSED,
              const char *argv[] OVS_UNUSED, void *sd)
{
    switchd_recompute(sd);
    unixctl_command_reply(conn, NULL);
}

static void
cmd_exit(struct unixctl_conn *conn, int argc OVS_UNUSED,
         const char *argv[] OVS_UNUSED, void *exiting)
{
    *(bool *) exiting = true;
    unixctl_command_reply(conn, NULL);
}

/* Reads the 64 hex digits of a hypervisor token from 'path' (surrounding
 * white space ignored) into 'token'.  Returns NULL or a malloc'd
 * message. */
static char *
read_token(const char *path, char token[65])
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return xasprintf("hypervisor-token-file: %s: %s", path,
                         strerror(errno));
    }
    char buf[128] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = buf + strspn(buf, " \t\r\n");
    size_t len = strspn(p, "0123456789abcdef");
    if (len != 64 || p[len + strspn(p + len, " \t\r\n")]) {
        return xasprintf("hypervisor-token-file: %s does not hold a token "
                         "(64 lowercase hex digits)", path);
    }
    memcpy(token, p, 64);
    token[64] = '\0';
    return NULL;
}

int
main(int argc, char **argv)
{
    set_program_name(argv[0]);
    int status = options_daemon_start(defs, ARRAY_SIZE(defs), &s, argc,
                                      argv, "appfw-switchd", usage,
                                      &s.log_level, &s.log_file);
    if (status >= 0) {
        return status;
    }
    /* libopenvswitch's own messages: warnings and worse, to stderr. */
    vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_WARN);

    char *error = daemon_ensure_dir(s.rundir);
    if (!error) {
        error = daemon_pidfile_create(s.pidfile);
    }
    if (error) {
        return fail_free(error);
    }
    char host[65] = "";
    if (!*s.hypervisor_name) {
        gethostname(host, sizeof host - 1);
    }
    const char *hv = *s.hypervisor_name ? s.hypervisor_name : host;
    size_t hv_len = strlen(hv);
    if (!hv_len || hv_len > 64 || strspn(hv, "abcdefghijklmnopqrstuvwxyz"
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789.-_") != hv_len) {
        daemon_pidfile_remove();
        return fail_free(xasprintf("hypervisor-name: \"%.64s\" is not 1 to "
                                   "64 letters, digits, '.', '-' or '_'",
                                   hv));
    }
    char token[65] = "";
    if (*s.hypervisor_token_file) {
        error = read_token(s.hypervisor_token_file, token);
        if (error) {
            daemon_pidfile_remove();
            return fail_free(error);
        }
    }
    /* Before nng starts its threads (rpc_tls_configure() does): a signal
     * must reach no thread but through the signalfd. */
    if (daemon_signals_init()) {
        daemon_pidfile_remove();
        return fail_free(xstrdup("cannot set up signal handling"));
    }
    const char *const urls[][2] = {
        { "decide-url", s.decide_url }, { "flow-url", s.flow_url },
    };
    error = rpc_tls_configure(s.tls_cert, s.tls_ca, s.tls_server_name);
    if (!error) {
        error = rpc_urls_check_plaintext(urls, ARRAY_SIZE(urls),
                                         s.allow_plaintext_tcp, warn);
    }
    if (error) {
        daemon_pidfile_remove();
        return fail_free(error);
    }

    struct switchd_config cfg = {
        .bridge = s.bridge, .db = s.db, .switch_target = s.switch_target,
        .flow_url = s.flow_url, .decide_url = s.decide_url,
        .flow_ipc_mode = s.flow_mode, .table_base = s.table_base,
        .cookie_prefix = s.cookie_prefix, .default_mode = s.default_mode,
        .vm_rate = s.vm_rate, .vm_burst = s.vm_burst,
        .vm_queue = s.vm_queue, .vm_max_flows = s.vm_max_flows,
        .vm_punt_rate = s.vm_punt_rate,
        .secd_timeout_ms = s.secd_timeout_ms,
        .min_flow_ttl = s.min_flow_ttl, .stats_interval = s.stats_interval,
        .audit_interval = s.audit_interval, .registry = s.registry,
        .hypervisor = hv, .hypervisor_token = token,
    };
    struct switchd *sd;
    error = switchd_create(&cfg, &sd);
    if (error) {
        LOG_ERR("cannot start: %s", error);
        daemon_pidfile_remove();
        return fail_free(error);
    }
    struct unixctl_server *unixctl;
    int retval = unixctl_server_create(s.ctl, &unixctl);
    if (retval) {
        switchd_destroy(sd);
        daemon_pidfile_remove();
        return fail_free(xasprintf("%s: cannot create control socket: %s",
                                   s.ctl, ovs_strerror(retval)));
    }
    bool exiting = false;
    unixctl_command_register("appfw/vm-register", "UUID CHANNEL-PATH [NAME]",
                             2, 3,
                             cmd_vm_register, sd);
    unixctl_command_register("appfw/vm-unregister", "UUID", 1, 1,
                             cmd_vm_unregister, sd);
    unixctl_command_register("appfw/vm-addresses", "UUID MAC [ADDRESSES]",
                             2, 3, cmd_vm_addresses, sd);
    unixctl_command_register("appfw/vms", "", 0, 0, cmd_vms, sd);
    unixctl_command_register("appfw/flows", "", 0, 0, cmd_flows, sd);
    unixctl_command_register("appfw/connection-status", "", 0, 0,
                             cmd_status, sd);
    unixctl_command_register("appfw/recompute", "", 0, 0, cmd_recompute,
                             sd);
    unixctl_command_register("exit", "", 0, 0, cmd_exit, &exiting);
    LOG_INFO("started bridge=%s switch=%s db=%s flow=%s decide=%s ctl=%s",
             s.bridge, s.switch_target, s.db, s.flow_url, s.decide_url,
             s.ctl);

    while (!exiting) {
        int sig = daemon_signals_run();
        if (sig & DAEMON_SIG_TERM) {
            LOG_INFO("stopping on signal");
            break;
        }
        if (sig & DAEMON_SIG_HUP) {
            log_reopen();
        }
        unixctl_server_run(unixctl);
        switchd_run(sd);
        unixctl_server_wait(unixctl);
        switchd_wait(sd);
        poll_fd_wait(daemon_signals_fd(), POLLIN);
        poll_block();
    }

    daemon_exit_watchdog(SHUTDOWN_GRACE_S);
    unixctl_server_destroy(unixctl);
    switchd_destroy(sd);
    daemon_pidfile_remove();
    LOG_INFO("stopped");
    options_free(defs, ARRAY_SIZE(defs), &s);
    return 0;
}
