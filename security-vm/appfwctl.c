/* appfwctl: the console for appfw-secd. */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/escape.h"
#include "common/msg.h"
#include "common/util.h"
#include "common/rpc.h"

/* Exit codes (also in --help and docs/operations.md). */
enum {
    EXIT_OK = 0,
    EXIT_REFUSED = 1,           /* secd refused: invalid policy, ... */
    EXIT_USAGE = 2,
    EXIT_UNREACHABLE = 3,       /* No answer from secd. */
};

struct ctl {
    const char *url;
    const char *token;          /* An account's token, for remote use. */
    int timeout_ms;
    bool json;
};

static void
usage(FILE *out)
{
    fprintf(out,
"Usage: appfwctl [OPTIONS] COMMAND [ARGS]\n"
"The console of appfw-secd.\n\n"
"Commands:\n"
"  health                              service state and counters\n"
"  policy validate FILE                check a policy without applying it\n"
"  policy apply FILE [--comment TEXT]  validate, store and activate\n"
"  policy show [VERSION]               the active (or a given) policy\n"
"  policy history [--limit N]          versions, newest first\n"
"  policy diff [FROM [TO]]             rule changes (default: the previous\n"
"                                      version against the active one)\n"
"  policy rollback VERSION [--comment TEXT]\n"
"                                      activate an old version again\n"
"  decisions tail [FILTERS] [--count N] [--seconds S]\n"
"                                      live decisions as they are made\n"
"  decisions list [FILTERS] [--limit N]\n"
"                                      recent decisions from the audit log\n"
"        FILTERS: --vm VM --app APP --user USER --verdict allow|deny\n"
"  stats top [--by app|vm|user|rule] [--order connections|bytes|denials]\n"
"            [--since SECONDS] [--limit N]\n"
"  stats report [--by app|vm|user|rule|site|protocol|dest]\n"
"            [--from TIME] [--to TIME]\n"
"            [--order ...] [--limit N] [--format table|csv|json]\n"
"                                      totals over a time range; TIME is\n"
"                                      YYYY-MM-DD[ HH:MM] (local), -SECONDS\n"
"                                      or now (default: the last 24 hours)\n"
"  vm list | vm show VM\n"
"  hypervisor list | hypervisor show NAME\n"
"                                      each hypervisor's connection, VMs,\n"
"                                      approved flows and version\n"
"  appid lookup [--sha256 HEX] [--path PATH]\n"
"  explain [--vm VM] [--user USER] [--app PATH] [--sha256 HEX]\n"
"          [--event connect|listen|accept|send|close] [--protocol tcp|udp]\n"
"          [--direction outbound|inbound] [--remote ADDR:PORT]\n"
"          [--local-port N]            which rule decides, and the chain of\n"
"                                      groups (and their rules) it went\n"
"                                      through\n"
"\nAdministration (docs/operations.md, \"Accounts\"):\n"
"  whoami                              the account this console acts as\n"
"  account list\n"
"  account add NAME --level system-admin|admin|manager|none\n"
"              [--unix-user USER] [--new-token] [--group vm:G|user:G]...\n"
"                                      --new-token prints the token once\n"
"  account remove NAME\n"
"  hypervisor add NAME                 registers a hypervisor; prints its\n"
"                                      token once (its switchd's\n"
"                                      hypervisor-token-file)\n"
"  hypervisor remove NAME\n"
"  changes list [--limit N]            who changed what, newest first\n"
"  system set KEY on|off|SECONDS       logging, simulate, notify,\n"
"                                      allow_undefined_protocols,\n"
"                                      log_load_interval\n"
"  protocol add NAME --ports P[,LO-HI...] [--protocol tcp|udp|any]\n"
"               [--description TEXT]   a catalogue protocol\n"
"  protocol remove NAME [--yes]        also removes the rules naming it\n"
"  global add NAME --ports P[,...] --action allow|deny\n"
"             [--protocol tcp|udp|any] [--direction outbound|inbound|both]\n"
"             [--no-log] [--notify]    a global network protocol rule\n"
"  global remove NAME\n"
"  quota status                        today's use of each quota\n"
"  quota violations [--days N]         recorded violations (default 7)\n"
"  quota set user|user_group|vm|vm_group|app SUBJECT BYTES [--block]\n"
"            [--notify]                BYTES per UTC day (k, M, G: 1000s);\n"
"                                      lowering a group's lowers its\n"
"                                      descendants above it\n"
"  quota remove KIND SUBJECT\n"
"  naming list                         who is logged in on which VM, at\n"
"                                      which addresses (the naming service)\n"
"  naming events [--limit N]           logins, logouts, addresses, newest\n"
"                                      first\n"
"  naming set VM [--user USER] [--address ADDR]...\n"
"                                      an administrator's entry; it wins\n"
"                                      over what the VM's agent reports\n"
"  naming unset VM [--user] [--addresses]\n"
"                                      the agent's reports apply again\n"
"  naming remove VM                    forget a VM deleted for good\n"
"  sites list                          the site lists' host names, their\n"
"                                      addresses, and which do not resolve\n"
"  sites resolve                       look every name up again now\n\n"
"Options:\n"
"  --rundir DIR     where secd's sockets are (default: $APPFW_RUNDIR or\n"
"                   /run/appfw)\n"
"  --url URL        the console endpoint, also for decisions tail\n"
"                   (default: ipc://RUNDIR/secd-console.sock)\n"
"  --timeout MS     how long to wait for secd (default 5000)\n"
"  --tls-cert FILE  our certificate and key (PEM), for tls+tcp:// URLs\n"
"  --tls-ca FILE    the CA that signed secd's certificate\n"
"  --tls-server-name NAME\n"
"                   the name in secd's certificate (default: the URL's\n"
"                   host; needed when the URL gives an IP address)\n"
"  --token TOKEN    an account's token (remote consoles; default:\n"
"                   $APPFW_TOKEN)\n"
"  --json           print secd's answer as JSON\n"
"  -h, --help       this help\n\n"
"Exit codes: 0 success; 1 secd refused the request (the message says\n"
"why); 2 usage error; 3 secd could not be reached.\n");
}

static int
fail(int code, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(int code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("appfwctl: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    return code;
}

/* The connection to secd's console, opened by the first call() and kept
 * (decisions tail asks again and again). */
static struct rpc_client *client;
static uint64_t last_cookie;

/* Sends 'req' (consumed) and returns secd's reply, or NULL with '*code'
 * set. */
static struct json_object *
call(const struct ctl *c, struct json_object *req, int *code)
{
    char *error = client ? NULL : rpc_client_create(c->url, c->timeout_ms,
                                                    &client);
    if (error) {
        *code = fail(EXIT_UNREACHABLE, "%s", error);
        free(error);
        json_object_put(req);
        return NULL;
    }
    if (c->token) {
        json_object_object_add(req, "token",
                               json_object_new_string(c->token));
    }
    const char *text = json_object_to_json_string_ext(
        req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    uint64_t cookie = ++last_cookie;
    rpc_client_send(client, text, strlen(text), cookie);
    json_object_put(req);

    struct rpc_reply *r = NULL;
    int64_t deadline = time_mono_ms() + c->timeout_ms + 1000;
    while (!(r = rpc_client_next(client)) || r->cookie != cookie) {
        rpc_reply_free(r);      /* An answer to a request given up. */
        r = NULL;
        int left = (int) (deadline - time_mono_ms());
        if (left <= 0) {
            break;
        }
        struct pollfd pfd = { .fd = rpc_client_fd(client), .events = POLLIN };
        poll(&pfd, 1, left);
    }
    struct json_object *reply = NULL;
    if (!r || r->error) {
        *code = fail(EXIT_UNREACHABLE, "%s: no answer from appfw-secd (%s)",
                     c->url, r ? strerror(r->error) : "timed out");
    } else {
        reply = json_tokener_parse(r->data);
        if (!reply) {
            *code = fail(EXIT_UNREACHABLE, "appfw-secd sent no JSON");
        }
    }
    rpc_reply_free(r);
    return reply;
}

/* Prints 'o' as JSON on one line (or pretty), escaped (escape.h). */
static void
print_json(struct json_object *o, bool pretty)
{
    char *text = escape_json_text(json_object_to_json_string_ext(
        o, (pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN)
           | JSON_C_TO_STRING_NOSLASHESCAPE));
    puts(text);
    free(text);
}

/* Calls and handles the common part: --json printing and refusals.
 * Returns the reply for the caller to print, or NULL (with '*code').
 * Every string in the reply is escaped for a terminal (escape.h): guests
 * choose many of them.  Only a caller that prints JSON, or a document
 * with its lines, asks for the reply as it is ('escape' false) and
 * escapes what it prints itself. */
static struct json_object *
call_reply(const struct ctl *c, struct json_object *req, bool escape,
           int *code)
{
    *code = EXIT_OK;
    struct json_object *reply = call(c, req, code);
    if (!reply) {
        return NULL;
    }
    bool ok = msg_get_bool(reply, "ok", false);
    if (c->json) {
        print_json(reply, false);
        *code = ok ? EXIT_OK : EXIT_REFUSED;
        json_object_put(reply);
        return NULL;
    }
    if (escape || !ok) {
        struct json_object *safe = escape_json_tree(reply);
        json_object_put(reply);
        reply = safe;
    }
    if (!ok) {
        *code = fail(EXIT_REFUSED, "%s",
                     msg_get_string(reply, "error", "refused"));
        json_object_put(reply);
        return NULL;
    }
    return reply;
}

static struct json_object *
call_ok(const struct ctl *c, struct json_object *req, int *code)
{
    return call_reply(c, req, true, code);
}

static struct json_object *
request(const char *cmd)
{
    struct json_object *r = json_object_new_object();
    json_object_object_add(r, "cmd", json_object_new_string(cmd));
    return r;
}

static char *
read_file(const char *path, int *code)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) {
        *code = fail(EXIT_USAGE, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = 0, allocated = 65536;
    char *text = xmalloc(allocated);
    size_t n;
    while ((n = fread(text + len, 1, allocated - len - 1, f)) > 0) {
        len += n;
        if (allocated - len < 2) {
            allocated *= 2;
            text = xrealloc(text, allocated);
        }
    }
    text[len] = '\0';
    if (f != stdin) {
        fclose(f);
    }
    return text;
}

/* "--name value" options after a command; returns the value or NULL. */
static const char *
opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc - 1; i++) {
        if (!strcmp(argv[i], name)) {
            return argv[i + 1];
        }
    }
    return NULL;
}

/* The first argument that is neither an option nor an option's value. */
static const char *
positional(int argc, char **argv, int skip)
{
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "--", 2)) {
            i++;
        } else if (skip-- == 0) {
            return argv[i];
        }
    }
    return NULL;
}

static void
format_time(int64_t ms, char *buf, size_t size)
{
    time_t t = ms / 1000;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, size, "%H:%M:%S", &tm);
}

static void
print_decision(struct json_object *d)
{
    char when[16];
    format_time(msg_get_int(d, "time_ms", 0), when, sizeof when);
    printf("%s  %-5s  %-12.12s %-10.10s %-16.16s %-7s %-22.22s %s\n", when,
           msg_get_string(d, "verdict", ""), msg_get_string(d, "vm", ""),
           msg_get_string(d, "user", ""), msg_get_string(d, "app", ""),
           msg_get_string(d, "event", ""), msg_get_string(d, "remote", ""),
           msg_get_string(d, "rule", ""));
}

static void
decision_header(void)
{
    printf("%-8s  %-5s  %-12s %-10s %-16s %-7s %-22s %s\n", "TIME",
           "VERD.", "VM", "USER", "APPLICATION", "EVENT", "REMOTE", "RULE");
}

static bool
filter_match(struct json_object *ev, int argc, char **argv)
{
    static const char *const keys[][2] = {
        { "--vm", "vm" }, { "--app", "app" }, { "--user", "user" },
        { "--verdict", "verdict" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const char *want = opt(argc, argv, keys[i][0]);
        if (want && !strstr(msg_get_string(ev, keys[i][1], ""), want)) {
            return false;
        }
    }
    return true;
}

/* The live decisions, from the event stream on the console (events.next,
 * authorized like every console command). */
static int
cmd_decisions_tail(const struct ctl *c, int argc, char **argv)
{
    const char *count_s = opt(argc, argv, "--count");
    const char *secs_s = opt(argc, argv, "--seconds");
    long count = count_s ? atol(count_s) : -1;
    int64_t deadline = secs_s ? time_mono_ms() + atol(secs_s) * 1000
                              : INT64_MAX;
    struct ctl quiet = *c;
    quiet.json = false;
    int code;
    /* The first request only learns where the stream is now. */
    struct json_object *r = call_reply(&quiet, request("events.next"), false,
                                       &code);
    if (!r) {
        return code;
    }
    int64_t next = msg_get_int(r, "next", 0);
    json_object_put(r);
    if (!c->json) {
        decision_header();
        fflush(stdout);
    }
    long shown = 0;
    while ((count < 0 || shown < count) && time_mono_ms() < deadline) {
        int64_t left = deadline - time_mono_ms();
        struct json_object *rq = request("events.next");
        msg_put_int(rq, "after", next);
        msg_put_int(rq, "wait_ms", left > 1000 ? 1000 : left);
        if (!(r = call_reply(&quiet, rq, false, &code))) {
            return code;
        }
        next = msg_get_int(r, "next", next);
        if (msg_get_int(r, "lost", 0)) {
            fprintf(stderr, "appfwctl: %lld events lost (too slow)\n",
                    (long long) msg_get_int(r, "lost", 0));
        }
        struct json_object *list = msg_get(r, "events");
        for (size_t i = 0; i < json_object_array_length(list)
                           && (count < 0 || shown < count); i++) {
            struct json_object *ev = json_object_array_get_idx(list, i);
            if (strcmp(msg_get_string(ev, "type", ""), "decision")
                || !filter_match(ev, argc, argv)) {
                continue;
            }
            if (c->json) {
                print_json(ev, false);
            } else {
                struct json_object *safe = escape_json_tree(ev);
                print_decision(safe);
                json_object_put(safe);
            }
            fflush(stdout);
            shown++;
        }
        json_object_put(r);
    }
    return EXIT_OK;
}

static int
cmd_policy(const struct ctl *c, int argc, char **argv)
{
    const char *sub = argc ? argv[0] : "";
    int code = EXIT_OK;
    argc--;
    argv++;
    struct json_object *rq, *r;

    if (!strcmp(sub, "validate") || !strcmp(sub, "apply")) {
        const char *file = positional(argc, argv, 0);
        if (!file) {
            return fail(EXIT_USAGE, "policy %s: give a FILE (or -)", sub);
        }
        char *text = read_file(file, &code);
        if (!text) {
            return code;
        }
        rq = request(!strcmp(sub, "apply") ? "policy.apply"
                                           : "policy.validate");
        json_object_object_add(rq, "text", json_object_new_string(text));
        free(text);
        const char *comment = opt(argc, argv, "--comment");
        if (comment) {
            json_object_object_add(rq, "comment",
                                   json_object_new_string(comment));
        }
        if ((r = call_ok(c, rq, &code))) {
            if (!strcmp(sub, "apply")) {
                printf("policy version %lld is active\n",
                       (long long) msg_get_int(r, "version", 0));
            } else {
                printf("valid: %lld rules\n",
                       (long long) msg_get_int(r, "rules", 0));
            }
            json_object_put(r);
        }
    } else if (!strcmp(sub, "show")) {
        rq = request("policy.show");
        const char *v = positional(argc, argv, 0);
        if (v) {
            json_object_object_add(rq, "version",
                                   json_object_new_int64(atoll(v)));
        }
        if ((r = call_reply(c, rq, false, &code))) {
            /* A document: its lines and indentation stay. */
            char *text = escape_text(msg_get_string(r, "policy.text", ""),
                                     true);
            puts(text);
            free(text);
            json_object_put(r);
        }
    } else if (!strcmp(sub, "history")) {
        rq = request("policy.history");
        const char *limit = opt(argc, argv, "--limit");
        json_object_object_add(rq, "limit", json_object_new_int64(
                                   limit ? atoll(limit) : 20));
        if ((r = call_ok(c, rq, &code))) {
            struct json_object *list = msg_get(r, "versions");
            printf("%-8s %-6s %-12s %-20s %s\n", "VERSION", "ACTIVE",
                   "AUTHOR", "TIME", "COMMENT");
            for (size_t i = 0; i < json_object_array_length(list); i++) {
                struct json_object *v = json_object_array_get_idx(list, i);
                time_t t = msg_get_int(v, "time", 0);
                char when[32];
                struct tm tm;
                localtime_r(&t, &tm);
                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
                printf("%-8lld %-6s %-12.12s %-20s %s\n",
                       (long long) msg_get_int(v, "version", 0),
                       msg_get_bool(v, "active", false) ? "*" : "",
                       msg_get_string(v, "author", ""), when,
                       msg_get_string(v, "comment", ""));
            }
            json_object_put(r);
        }
    } else if (!strcmp(sub, "diff")) {
        rq = request("policy.diff");
        const char *from = positional(argc, argv, 0);
        const char *to = positional(argc, argv, 1);
        int64_t to_v = to ? atoll(to) : 0;
        int64_t from_v = from ? atoll(from) : 0;
        if (!from) {
            /* The version before the active one. */
            struct json_object *h = request("policy.history");
            json_object_object_add(h, "limit", json_object_new_int(2));
            struct ctl quiet = *c;
            quiet.json = false;
            struct json_object *hr = call_ok(&quiet, h, &code);
            if (!hr) {
                json_object_put(rq);
                return code;
            }
            struct json_object *list = msg_get(hr, "versions");
            if (json_object_array_length(list) < 2) {
                json_object_put(hr);
                json_object_put(rq);
                return fail(EXIT_REFUSED, "policy diff: only one version "
                            "exists");
            }
            from_v = msg_get_int(json_object_array_get_idx(list, 1),
                                 "version", 0);
            json_object_put(hr);
        }
        json_object_object_add(rq, "from", json_object_new_int64(from_v));
        json_object_object_add(rq, "to", json_object_new_int64(to_v));
        if ((r = call_ok(c, rq, &code))) {
            struct json_object *ch = msg_get(r, "changes");
            printf("version %lld -> %lld: %zu changes\n",
                   (long long) msg_get_int(r, "from", 0),
                   (long long) msg_get_int(r, "to", 0),
                   json_object_array_length(ch));
            for (size_t i = 0; i < json_object_array_length(ch); i++) {
                printf("  %s\n", json_object_get_string(
                           json_object_array_get_idx(ch, i)));
            }
            json_object_put(r);
        }
    } else if (!strcmp(sub, "rollback")) {
        const char *v = positional(argc, argv, 0);
        if (!v) {
            return fail(EXIT_USAGE, "policy rollback: give a VERSION");
        }
        rq = request("policy.rollback");
        json_object_object_add(rq, "version",
                               json_object_new_int64(atoll(v)));
        const char *comment = opt(argc, argv, "--comment");
        if (comment) {
            json_object_object_add(rq, "comment",
                                   json_object_new_string(comment));
        }
        if ((r = call_ok(c, rq, &code))) {
            printf("policy version %lld (the text of version %s) is "
                   "active\n", (long long) msg_get_int(r, "version", 0), v);
            json_object_put(r);
        }
    } else {
        return fail(EXIT_USAGE, "policy: validate, apply, show, history, "
                    "diff or rollback");
    }
    return code;
}

static int
cmd_decisions_list(const struct ctl *c, int argc, char **argv)
{
    struct json_object *rq = request("decisions.query");
    static const char *const keys[][2] = {
        { "--vm", "vm" }, { "--app", "app" }, { "--user", "user" },
        { "--verdict", "verdict" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const char *v = opt(argc, argv, keys[i][0]);
        if (v) {
            json_object_object_add(rq, keys[i][1],
                                   json_object_new_string(v));
        }
    }
    const char *limit = opt(argc, argv, "--limit");
    json_object_object_add(rq, "limit",
                           json_object_new_int64(limit ? atoll(limit) : 20));
    int code;
    struct json_object *r = call_ok(c, rq, &code);
    if (r) {
        struct json_object *list = msg_get(r, "decisions");
        decision_header();
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            print_decision(json_object_array_get_idx(list, i));
        }
        json_object_put(r);
    }
    return code;
}

/* The rows of a stats.top answer as a table. */
static void
print_top(const char *by, struct json_object *list)
{
    printf("%-24s %12s %8s %14s %14s %10s\n", by, "CONNECTIONS", "DENIALS",
           "BYTES IN", "BYTES OUT", "PACKETS");
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *e = json_object_array_get_idx(list, i);
        printf("%-24.24s %12lld %8lld %14lld %14lld %10lld\n",
               msg_get_string(e, "key", ""),
               (long long) msg_get_int(e, "connections", 0),
               (long long) msg_get_int(e, "denials", 0),
               (long long) msg_get_int(e, "bytes_in", 0),
               (long long) msg_get_int(e, "bytes_out", 0),
               (long long) (msg_get_int(e, "packets_in", 0)
                            + msg_get_int(e, "packets_out", 0)));
    }
}

/* "YYYY-MM-DD", "YYYY-MM-DD HH:MM" (local time), "-SECONDS" or "now" as
 * Unix milliseconds; false if malformed. */
static bool
parse_time(const char *text, int64_t *ms)
{
    int64_t now = time_wall_ms();
    if (!strcmp(text, "now")) {
        *ms = now;
        return true;
    }
    char *end;
    if (*text == '-') {
        long long s = strtoll(text + 1, &end, 10);
        if (end == text + 1 || *end || s < 0 || s > 100LL * 366 * 86400) {
            return false;
        }
        *ms = now - s * 1000;
        return true;
    }
    struct tm tm = { .tm_isdst = -1 };
    end = strptime(text, "%Y-%m-%d", &tm);
    if (end && *end) {
        char *rest = strptime(end, " %H:%M", &tm);
        rest = rest ? rest : strptime(end, "T%H:%M", &tm);
        if (!rest || *rest) {
            return false;
        }
    }
    time_t t = end ? mktime(&tm) : (time_t) -1;
    *ms = (int64_t) t * 1000;
    return t != (time_t) -1;
}

/* A report: totals over a window, as a table, CSV or JSON. */
static int
cmd_stats_report(const struct ctl *c, int argc, char **argv)
{
    const char *by = opt(argc, argv, "--by");
    const char *from = opt(argc, argv, "--from");
    const char *to = opt(argc, argv, "--to");
    const char *order = opt(argc, argv, "--order");
    const char *limit = opt(argc, argv, "--limit");
    const char *format = opt(argc, argv, "--format");
    format = format ? format : "table";
    int64_t from_ms, to_ms;
    if (!parse_time(from ? from : "-86400", &from_ms)
        || !parse_time(to ? to : "now", &to_ms)) {
        return fail(EXIT_USAGE, "stats report: a time is YYYY-MM-DD, "
                    "\"YYYY-MM-DD HH:MM\", -SECONDS or now");
    }
    if (strcmp(format, "table") && strcmp(format, "csv")
        && strcmp(format, "json")) {
        return fail(EXIT_USAGE, "stats report: --format table, csv or json");
    }
    struct json_object *rq = request("stats.top");
    json_object_object_add(rq, "by", json_object_new_string(by ? by
                                                               : "app"));
    json_object_object_add(rq, "order", json_object_new_string(
                               order ? order : "bytes"));
    json_object_object_add(rq, "from_ms", json_object_new_int64(from_ms));
    json_object_object_add(rq, "to_ms", json_object_new_int64(to_ms));
    json_object_object_add(rq, "limit", json_object_new_int64(
                               limit ? atoll(limit) : 1000));
    struct ctl quiet = *c;
    quiet.json = false;
    int code;
    struct json_object *r = call_reply(&quiet, rq, strcmp(format, "json"),
                                       &code);
    if (!r) {
        return code;
    }
    struct json_object *list = msg_get(r, "top");
    static const char *const cols[] = {
        "connections", "denials", "bytes_in", "bytes_out", "packets_in",
        "packets_out",
    };
    if (!strcmp(format, "json")) {
        struct json_object *o = json_object_new_object();
        msg_put_string(o, "by", by ? by : "app");
        msg_put_int(o, "from_ms", from_ms);
        msg_put_int(o, "to_ms", to_ms);
        json_object_object_add(o, "rows", json_object_get(list));
        print_json(o, true);
        json_object_put(o);
    } else if (!strcmp(format, "csv")) {
        char *cell = escape_text(by ? by : "app", false);
        printf("%s", cell);
        free(cell);
        for (size_t j = 0; j < ARRAY_SIZE(cols); j++) {
            printf(",%s", cols[j]);
        }
        putchar('\n');
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            struct json_object *e = json_object_array_get_idx(list, i);
            /* RFC 4180: every key quoted, formulas neutralised. */
            cell = escape_csv_cell(msg_get_string(e, "key", ""));
            fputs(cell, stdout);
            free(cell);
            for (size_t j = 0; j < ARRAY_SIZE(cols); j++) {
                printf(",%lld", (long long) msg_get_int(e, cols[j], 0));
            }
            putchar('\n');
        }
    } else {
        char a[32], b[32];
        time_t fs = from_ms / 1000, ts = to_ms / 1000;
        struct tm tm;
        strftime(a, sizeof a, "%Y-%m-%d %H:%M", localtime_r(&fs, &tm));
        strftime(b, sizeof b, "%Y-%m-%d %H:%M", localtime_r(&ts, &tm));
        printf("by %s, %s to %s\n", by ? by : "app", a, b);
        print_top(by ? by : "app", list);
    }
    json_object_put(r);
    return code;
}

static int
cmd_stats(const struct ctl *c, int argc, char **argv)
{
    if (argc && !strcmp(argv[0], "report")) {
        return cmd_stats_report(c, argc - 1, argv + 1);
    }
    if (!argc || strcmp(argv[0], "top")) {
        return fail(EXIT_USAGE, "stats: top or report");
    }
    struct json_object *rq = request("stats.top");
    const char *by = opt(argc, argv, "--by");
    const char *order = opt(argc, argv, "--order");
    const char *since = opt(argc, argv, "--since");
    const char *limit = opt(argc, argv, "--limit");
    json_object_object_add(rq, "by", json_object_new_string(by ? by
                                                               : "app"));
    json_object_object_add(rq, "order", json_object_new_string(
                               order ? order : "connections"));
    json_object_object_add(rq, "since_s", json_object_new_int64(
                               since ? atoll(since) : 3600));
    json_object_object_add(rq, "limit", json_object_new_int64(
                               limit ? atoll(limit) : 10));
    int code;
    struct json_object *r = call_ok(c, rq, &code);
    if (r) {
        struct json_object *list = msg_get(r, "top");
        print_top(by ? by : "app", list);
        json_object_put(r);
    }
    return code;
}

static int
cmd_vm(const struct ctl *c, int argc, char **argv)
{
    const char *sub = argc ? argv[0] : "";
    struct json_object *rq;
    if (!strcmp(sub, "list")) {
        rq = request("vm.list");
    } else if (!strcmp(sub, "show") && argc > 1) {
        rq = request("vm.show");
        json_object_object_add(rq, "vm", json_object_new_string(argv[1]));
    } else {
        return fail(EXIT_USAGE, "vm: list, or show VM");
    }
    int code;
    struct json_object *r = call_ok(c, rq, &code);
    if (r) {
        struct json_object *list = msg_get(r, "vms");
        printf("%-36s %-16s %-16s %6s %-17s %9s %7s %7s\n", "UUID", "NAME",
               "HYPERVISOR", "OFPORT", "MAC", "DECISIONS", "DENIALS",
               "LIMITED");
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            struct json_object *v = json_object_array_get_idx(list, i);
            const char *hv = msg_get_string(v, "hypervisor", "");
            printf("%-36s %-16.16s %-16.16s %6lld %-17s %9lld %7lld %7lld\n",
                   msg_get_string(v, "uuid", ""),
                   msg_get_string(v, "name", ""), *hv ? hv : "-",
                   (long long) msg_get_int(v, "ofport", 0),
                   msg_get_string(v, "mac", ""),
                   (long long) msg_get_int(v, "audited_decisions", 0),
                   (long long) msg_get_int(v, "audited_denials", 0),
                   (long long) msg_get_int(v, "rate_limited", 0));
        }
        json_object_put(r);
    }
    return code;
}

static void
print_hypervisor(struct json_object *h, bool long_form)
{
    printf("%-20.20s %-10s %-9s %5lld %7lld %-24.24s\n",
           msg_get_string(h, "name", ""),
           msg_get_bool(h, "registered", false) ? "token" : "unnamed",
           msg_get_bool(h, "connected", false) ? "connected" : "away",
           (long long) msg_get_int(h, "n_vms", 0),
           (long long) msg_get_int(h, "flows", 0),
           *msg_get_string(h, "software", "") ? msg_get_string(h, "software",
                                                                "")
                                                : "-");
    if (long_form) {
        printf("last heard %lld ms ago; polls %lld, sent %lld, queued %lld, "
               "dropped %lld, refused %lld\n",
               (long long) msg_get_int(h, "seen_ms_ago", -1),
               (long long) msg_get_int(h, "polls", 0),
               (long long) msg_get_int(h, "sent", 0),
               (long long) msg_get_int(h, "queued", 0),
               (long long) msg_get_int(h, "dropped", 0),
               (long long) msg_get_int(h, "refused", 0));
        struct json_object *vms = msg_get(h, "vms");
        for (size_t i = 0; i < json_object_array_length(vms); i++) {
            printf("vm %s\n", json_object_get_string(
                       json_object_array_get_idx(vms, i)));
        }
    }
}

static int
cmd_hypervisor(const struct ctl *c, int argc, char **argv)
{
    const char *sub = argc ? argv[0] : "";
    static const char *const cmds[][2] = {
        { "list", "hypervisor.list" }, { "show", "hypervisor.show" },
        { "add", "hypervisor.add" }, { "remove", "hypervisor.remove" },
    };
    const char *cmd = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
        if (!strcmp(sub, cmds[i][0])) {
            cmd = cmds[i][1];
        }
    }
    if (!cmd || (strcmp(sub, "list") ? argc != 2 : argc != 1)) {
        return fail(EXIT_USAGE, "hypervisor: list, show NAME, add NAME or "
                    "remove NAME");
    }
    struct json_object *rq = request(cmd);
    if (argc == 2) {
        json_object_object_add(rq, "name", json_object_new_string(argv[1]));
    }
    int code;
    struct json_object *r = call_ok(c, rq, &code);
    if (!r) {
        return code;
    }
    if (!strcmp(sub, "add")) {
        /* The only time the token is shown: the store keeps its hash. */
        printf("%s\n", msg_get_string(r, "token", ""));
    } else if (!strcmp(sub, "remove")) {
        printf("hypervisor removed\n");
    } else {
        printf("%-20s %-10s %-9s %5s %7s %-24s\n", "NAME", "CREDENTIAL",
               "STATE", "VMS", "FLOWS", "VERSION");
        struct json_object *list = msg_get(r, "hypervisors");
        if (list) {
            for (size_t i = 0; i < json_object_array_length(list); i++) {
                print_hypervisor(json_object_array_get_idx(list, i), false);
            }
        } else {
            print_hypervisor(msg_get(r, "hypervisor"), true);
        }
    }
    json_object_put(r);
    return code;
}

static int
cmd_simple(const struct ctl *c, const char *cmd, int argc, char **argv)
{
    struct json_object *rq = request(cmd);
    const char *sha = opt(argc, argv, "--sha256");
    const char *path = opt(argc, argv, "--path");
    if (sha) {
        json_object_object_add(rq, "sha256", json_object_new_string(sha));
    }
    if (path) {
        json_object_object_add(rq, "path", json_object_new_string(path));
    }
    int code;
    struct json_object *r = call_ok(c, rq, &code);
    if (r) {
        json_object_object_del(r, "ok");
        json_object_object_foreach(r, key, val) {
            printf("%-16s %s\n", key, json_object_get_string(val));
        }
        json_object_put(r);
    }
    return code;
}

static bool
flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], name)) {
            return true;
        }
    }
    return false;
}

/* "53,67-68" as a JSON array: [53, "67-68"]; NULL if malformed. */
static struct json_object *
ports_json(const char *text)
{
    struct json_object *a = json_object_new_array();
    char *copy = xstrdup(text), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        char *end;
        long p = strtol(t, &end, 10);
        if (end != t && !*end && p >= 0 && p <= 65535) {
            json_object_array_add(a, json_object_new_int((int) p));
        } else if (end != t && *end == '-') {
            json_object_array_add(a, json_object_new_string(t));
        } else {
            json_object_put(a);
            a = NULL;
            break;
        }
    }
    free(copy);
    return a;
}

/* Prints an "ok" answer's new policy version, if any. */
static int
call_print_version(const struct ctl *c, struct json_object *rq,
                   const char *what)
{
    int code;
    struct json_object *r = call_ok(c, rq, &code);
    if (r) {
        if (msg_get(r, "version")) {
            printf("%s: policy version %lld is active\n", what,
                   (long long) msg_get_int(r, "version", 0));
        } else {
            printf("%s\n", what);
        }
        json_object_put(r);
    }
    return code;
}

static void
put_opt(struct json_object *rq, const char *key, int argc, char **argv,
        const char *name)
{
    const char *v = opt(argc, argv, name);
    if (v) {
        json_object_object_add(rq, key, json_object_new_string(v));
    }
}

static int
cmd_account(const struct ctl *c, int argc, char **argv)
{
    const char *sub = argc ? argv[0] : "";
    argc--, argv++;
    const char *name = positional(argc, argv, 0);
    int code;
    if (!strcmp(sub, "list")) {
        struct json_object *r = call_ok(c, request("account.list"), &code);
        if (r) {
            struct json_object *l = msg_get(r, "accounts");
            printf("%-16s %-13s %-12s %-6s %s\n", "ACCOUNT", "LEVEL",
                   "UNIX USER", "TOKEN", "GROUPS");
            for (size_t i = 0; i < json_object_array_length(l); i++) {
                struct json_object *a = json_object_array_get_idx(l, i);
                printf("%-16s %-13s %-12s %-6s %s\n",
                       msg_get_string(a, "name", ""),
                       msg_get_string(a, "level", ""),
                       *msg_get_string(a, "unix_user", "")
                       ? msg_get_string(a, "unix_user", "") : "-",
                       msg_get_bool(a, "token", false) ? "yes" : "no",
                       json_object_to_json_string_ext(
                           msg_get(a, "groups"), JSON_C_TO_STRING_PLAIN));
            }
            json_object_put(r);
        }
        return code;
    } else if (!strcmp(sub, "add") && name) {
        struct json_object *rq = request("account.add");
        json_object_object_add(rq, "name", json_object_new_string(name));
        put_opt(rq, "level", argc, argv, "--level");
        put_opt(rq, "unix_user", argc, argv, "--unix-user");
        struct json_object *groups = json_object_new_array();
        for (int i = 0; i + 1 < argc; i++) {
            if (!strcmp(argv[i], "--group")) {
                json_object_array_add(groups,
                                      json_object_new_string(argv[++i]));
            }
        }
        json_object_object_add(rq, "groups", groups);
        char token[49] = "";
        if (flag(argc, argv, "--new-token")) {
            uint8_t raw[24];
            FILE *f = fopen("/dev/urandom", "r");
            if (!f || fread(raw, 1, sizeof raw, f) != sizeof raw) {
                int e = f ? EIO : errno;
                if (f) {
                    fclose(f);
                }
                json_object_put(rq);
                return fail(EXIT_USAGE, "/dev/urandom: %s", strerror(e));
            }
            fclose(f);
            for (size_t i = 0; i < sizeof raw; i++) {
                snprintf(token + 2 * i, 3, "%02x", raw[i]);
            }
            json_object_object_add(rq, "new_token",
                                   json_object_new_string(token));
        }
        code = call_print_version(c, rq, "account added");
        if (!code && *token) {
            printf("token (shown once; appfwctl --token or $APPFW_TOKEN): "
                   "%s\n", token);
        }
        return code;
    } else if (!strcmp(sub, "remove") && name) {
        struct json_object *rq = request("account.remove");
        json_object_object_add(rq, "name", json_object_new_string(name));
        return call_print_version(c, rq, "account removed");
    }
    return fail(EXIT_USAGE, "account: list, add NAME --level LEVEL ..., or "
                "remove NAME");
}

static int
cmd_changes(const struct ctl *c, int argc, char **argv)
{
    if (!argc || strcmp(argv[0], "list")) {
        return fail(EXIT_USAGE, "changes: list [--limit N]");
    }
    struct json_object *rq = request("changes.list");
    const char *limit = opt(argc, argv, "--limit");
    json_object_object_add(rq, "limit",
                           json_object_new_int64(limit ? atoll(limit) : 50));
    int code;
    struct json_object *r = call_ok(c, rq, &code);
    if (r) {
        struct json_object *l = msg_get(r, "changes");
        for (size_t i = 0; i < json_object_array_length(l); i++) {
            struct json_object *e = json_object_array_get_idx(l, i);
            time_t t = msg_get_int(e, "time", 0);
            struct tm tm;
            char when[32];
            localtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
            printf("%s  %-12s %-16s %s\n", when,
                   msg_get_string(e, "account", ""),
                   msg_get_string(e, "action", ""),
                   msg_get_string(e, "detail", ""));
        }
        json_object_put(r);
    }
    return code;
}

static int
cmd_system(const struct ctl *c, int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[0], "set")) {
        return fail(EXIT_USAGE, "system: set KEY VALUE");
    }
    struct json_object *rq = request("system.set");
    json_object_object_add(rq, "key", json_object_new_string(argv[1]));
    json_object_object_add(rq, "value", json_object_new_string(argv[2]));
    return call_print_version(c, rq, "system setting changed");
}

/* protocol add/remove, global add/remove. */
static int
cmd_protocol(const struct ctl *c, int argc, char **argv, bool global)
{
    const char *what = global ? "global" : "protocol";
    const char *sub = argc ? argv[0] : "";
    argc--, argv++;
    const char *name = positional(argc, argv, 0);
    if (!name) {
        return fail(EXIT_USAGE, "%s: add NAME --ports ... or remove NAME",
                    what);
    }
    struct json_object *rq;
    if (!strcmp(sub, "remove")) {
        rq = request(global ? "global.remove" : "protocol.remove");
        if (flag(argc, argv, "--yes")) {
            json_object_object_add(rq, "yes", json_object_new_boolean(true));
        }
    } else if (!strcmp(sub, "add")) {
        const char *ports = opt(argc, argv, "--ports");
        struct json_object *pj = ports ? ports_json(ports) : NULL;
        if (!pj) {
            return fail(EXIT_USAGE, "%s add: give --ports like 80 or "
                        "20-21,990", what);
        }
        rq = request(global ? "global.add" : "protocol.add");
        json_object_object_add(rq, "ports", pj);
        put_opt(rq, "protocol", argc, argv, "--protocol");
        if (global) {
            put_opt(rq, "action", argc, argv, "--action");
            put_opt(rq, "direction", argc, argv, "--direction");
            json_object_object_add(rq, "log", json_object_new_boolean(
                                       !flag(argc, argv, "--no-log")));
            json_object_object_add(rq, "notify", json_object_new_boolean(
                                       flag(argc, argv, "--notify")));
        } else {
            put_opt(rq, "description", argc, argv, "--description");
        }
    } else {
        return fail(EXIT_USAGE, "%s: add or remove", what);
    }
    json_object_object_add(rq, "name", json_object_new_string(name));
    return call_print_version(c, rq, global ? "global protocols changed"
                                            : "protocol catalogue changed");
}

static int
cmd_explain(const struct ctl *c, int argc, char **argv)
{
    struct json_object *m = json_object_new_object();
    const char *vm = opt(argc, argv, "--vm");
    if (vm) {
        struct json_object *v = json_object_new_object();
        bool uuid = strlen(vm) == 36 && strspn(vm, "0123456789abcdefABCDEF-")
                                        == 36;
        msg_put_string(v, uuid ? "uuid" : "name", vm);
        json_object_object_add(m, "vm", v);
    }
    const char *user = opt(argc, argv, "--user");
    if (user) {
        struct json_object *u = json_object_new_object();
        msg_put_string(u, "name", user);
        json_object_object_add(m, "user", u);
    }
    const char *app = opt(argc, argv, "--app");
    const char *sha = opt(argc, argv, "--sha256");
    if (app || sha) {
        struct json_object *a = json_object_new_object();
        msg_put_string(a, "path", app ? app : "");
        if (sha) {
            msg_put_string(a, "sha256", sha);
        }
        json_object_object_add(m, "app", a);
    }
    const char *event = opt(argc, argv, "--event");
    const char *proto = opt(argc, argv, "--protocol");
    const char *dir = opt(argc, argv, "--direction");
    msg_put_string(m, "event", event ? event : "connect");
    msg_put_string(m, "protocol", proto ? proto : "tcp");
    msg_put_string(m, "direction", dir ? dir
                   : event && (!strcmp(event, "listen")
                               || !strcmp(event, "accept"))
                   ? "inbound" : "outbound");
    const char *lport = opt(argc, argv, "--local-port");
    msg_put_endpoint(m, "local", "0.0.0.0", lport ? atoi(lport) : 0);
    const char *remote = opt(argc, argv, "--remote");
    if (remote) {
        const char *colon = strrchr(remote, ':');
        if (!colon || colon == remote) {
            json_object_put(m);
            return fail(EXIT_USAGE, "explain: --remote ADDRESS:PORT "
                        "([ADDRESS]:PORT for IPv6)");
        }
        char *addr = xasprintf("%.*s", (int) (colon - remote), remote);
        if (*addr == '[' && addr[strlen(addr) - 1] == ']') {
            addr[strlen(addr) - 1] = '\0';
            memmove(addr, addr + 1, strlen(addr));
        }
        msg_put_endpoint(m, "remote", addr, atoi(colon + 1));
        free(addr);
    }
    struct json_object *rq = request("explain");
    json_object_object_add(rq, "request", m);
    int code;
    struct json_object *r = call_ok(c, rq, &code);
    if (!r) {
        return code;
    }
    printf("verdict        %s%s\n", msg_get_string(r, "verdict", ""),
           msg_get_bool(r, "monitored", false) ? " (monitored)" : "");
    printf("rule           %s\n", msg_get_string(r, "rule", ""));
    if (msg_get(r, "restricted_by")) {
        printf("restricted by  %s\n", msg_get_string(r, "restricted_by", ""));
    }
    printf("reason         %s\n", msg_get_string(r, "reason", ""));
    printf("application    %s (%s)\n", msg_get_string(r, "application", ""),
           msg_get_string(r, "category", ""));
    printf("vm group       %s\n", msg_get_string(r, "vm_group", ""));
    printf("chain, outermost first:\n");
    struct json_object *chain = msg_get(r, "chain");
    const char *decides = msg_get_string(r, "rule", "");
    for (size_t i = 0; i < json_object_array_length(chain); i++) {
        struct json_object *e = json_object_array_get_idx(chain, i);
        const char *rule = msg_get_string(e, "rule", NULL);
        printf("  %-32s %-5s %s%s\n", msg_get_string(e, "scope", ""),
               rule ? msg_get_string(e, "action", "") : "-",
               rule ? rule : "",
               rule && !strcmp(rule, decides) ? "   <- decides" : "");
    }
    json_object_put(r);
    return code;
}

/* "1500", "20M", "2G": bytes (decimal multiples); -1 if malformed. */
static long long
parse_bytes(const char *text)
{
    char *end;
    long long n = strtoll(text, &end, 10);
    long long mult = !*end ? 1 : !strcmp(end, "k") || !strcmp(end, "K")
                     ? 1000 : !strcmp(end, "M") ? 1000000
                     : !strcmp(end, "G") ? 1000000000 : 0;
    return end == text || n < 0 || !mult || n > (1LL << 53) / mult
           ? -1 : n * mult;
}

static int
cmd_quota(const struct ctl *c, int argc, char **argv)
{
    const char *sub = argc ? argv[0] : "";
    argc--, argv++;
    int code;
    if (!strcmp(sub, "status")) {
        struct json_object *r = call_ok(c, request("quota.status"), &code);
        if (r) {
            struct json_object *l = msg_get(r, "quotas");
            printf("day %s (UTC)\n%-10s %-24s %16s %16s %-6s %s\n",
                   msg_get_string(r, "day", ""), "KIND", "SUBJECT",
                   "QUOTA", "USED", "ACTION", "NOTIFY");
            for (size_t i = 0; i < json_object_array_length(l); i++) {
                struct json_object *q = json_object_array_get_idx(l, i);
                printf("%-10s %-24.24s %16lld %16lld %-6s %s\n",
                       msg_get_string(q, "kind", ""),
                       msg_get_string(q, "subject", ""),
                       (long long) msg_get_int(q, "bytes_per_day", 0),
                       (long long) msg_get_int(q, "used", 0),
                       msg_get_string(q, "action", ""),
                       msg_get_bool(q, "notify", false) ? "yes" : "no");
            }
            json_object_put(r);
        }
        return code;
    } else if (!strcmp(sub, "violations")) {
        struct json_object *rq = request("quota.violations");
        const char *days = opt(argc, argv, "--days");
        json_object_object_add(rq, "days", json_object_new_int64(
                                   days ? atoll(days) : 7));
        struct json_object *r = call_ok(c, rq, &code);
        if (r) {
            struct json_object *l = msg_get(r, "violations");
            printf("%-10s %-10s %-24s %16s %16s\n", "DAY", "KIND",
                   "SUBJECT", "QUOTA", "VOLUME");
            for (size_t i = 0; i < json_object_array_length(l); i++) {
                struct json_object *v = json_object_array_get_idx(l, i);
                printf("%-10s %-10s %-24.24s %16lld %16lld\n",
                       msg_get_string(v, "day", ""),
                       msg_get_string(v, "kind", ""),
                       msg_get_string(v, "subject", ""),
                       (long long) msg_get_int(v, "quota", 0),
                       (long long) msg_get_int(v, "volume", 0));
            }
            json_object_put(r);
        }
        return code;
    } else if ((!strcmp(sub, "set") && argc >= 3)
               || (!strcmp(sub, "remove") && argc >= 2)) {
        bool set = !strcmp(sub, "set");
        struct json_object *rq = request(set ? "quota.set" : "quota.remove");
        json_object_object_add(rq, "kind", json_object_new_string(argv[0]));
        json_object_object_add(rq, "subject",
                               json_object_new_string(argv[1]));
        if (set) {
            long long bytes = parse_bytes(argv[2]);
            if (bytes < 0) {
                json_object_put(rq);
                return fail(EXIT_USAGE, "quota set: \"%s\" is not a number "
                            "of bytes (e.g. 500M)", argv[2]);
            }
            json_object_object_add(rq, "bytes_per_day",
                                   json_object_new_int64(bytes));
            json_object_object_add(rq, "block", json_object_new_boolean(
                                       flag(argc, argv, "--block")));
            json_object_object_add(rq, "notify", json_object_new_boolean(
                                       flag(argc, argv, "--notify")));
        }
        return call_print_version(c, rq, set ? "quota set"
                                             : "quota removed");
    }
    return fail(EXIT_USAGE, "quota: status, violations, set KIND SUBJECT "
                "BYTES, or remove KIND SUBJECT");
}

static void
print_naming(struct json_object *r)
{
    struct json_object *l = msg_get(r, "hosts");
    printf("%-24s %-16s %-20s %s\n", "VM", "USER", "SINCE", "ADDRESSES");
    for (size_t i = 0; i < json_object_array_length(l); i++) {
        struct json_object *h = json_object_array_get_idx(l, i);
        char since[32] = "-";
        time_t t = msg_get_int(h, "since", 0);
        struct tm tm;
        if (t) {
            strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S",
                     localtime_r(&t, &tm));
        }
        const char *name = msg_get_string(h, "name", "");
        char user[64];
        snprintf(user, sizeof user, "%s%s", msg_get_string(h, "user", ""),
                 msg_get_bool(h, "static_user", false) ? " (static)" : "");
        printf("%-24.24s %-16.16s %-20s ",
               *name ? name : msg_get_string(h, "uuid", ""),
               *user ? user : "-", since);
        struct json_object *a = msg_get(h, "addresses");
        for (size_t j = 0; j < json_object_array_length(a); j++) {
            printf("%s%s", j ? " " : "",
                   json_object_get_string(json_object_array_get_idx(a, j)));
        }
        if (msg_get_bool(h, "static_addresses", false)) {
            printf(" (static)");
        }
        if (msg_get(h, "waiting_user")) {
            printf(" [login of %s waits for a valid address]",
                   msg_get_string(h, "waiting_user", ""));
        }
        putchar('\n');
    }
}

static int
cmd_naming(const struct ctl *c, int argc, char **argv)
{
    const char *sub = argc ? argv[0] : "";
    argc--, argv++;
    int code;
    if (!strcmp(sub, "list")) {
        struct json_object *r = call_ok(c, request("naming.list"), &code);
        if (r) {
            print_naming(r);
            json_object_put(r);
        }
        return code;
    } else if (!strcmp(sub, "events")) {
        struct json_object *rq = request("naming.events");
        const char *limit = opt(argc, argv, "--limit");
        json_object_object_add(rq, "limit", json_object_new_int64(
                                   limit ? atoll(limit) : 50));
        struct json_object *r = call_ok(c, rq, &code);
        if (r) {
            struct json_object *l = msg_get(r, "events");
            printf("%-20s %-8s %-24s %-16s %-40s %s\n", "TIME", "EVENT",
                   "VM", "USER", "ADDRESS", "SOURCE");
            for (size_t i = 0; i < json_object_array_length(l); i++) {
                struct json_object *e = json_object_array_get_idx(l, i);
                char when[32];
                time_t t = msg_get_int(e, "time", 0);
                struct tm tm;
                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S",
                         localtime_r(&t, &tm));
                printf("%-20s %-8s %-24.24s %-16.16s %-40s %s\n", when,
                       msg_get_string(e, "event", ""),
                       msg_get_string(e, "vm", ""),
                       msg_get_string(e, "user", ""),
                       msg_get_string(e, "address", ""),
                       msg_get_string(e, "source", ""));
            }
            json_object_put(r);
        }
        return code;
    } else if (!strcmp(sub, "set") && argc >= 1) {
        struct json_object *rq = request("naming.set");
        json_object_object_add(rq, "vm", json_object_new_string(argv[0]));
        put_opt(rq, "user", argc, argv, "--user");
        struct json_object *a = NULL;
        for (int i = 1; i + 1 < argc; i++) {
            if (!strcmp(argv[i], "--address")) {
                if (!a) {
                    a = json_object_new_array();
                    json_object_object_add(rq, "addresses", a);
                }
                json_object_array_add(a, json_object_new_string(argv[++i]));
            }
        }
        return call_print_version(c, rq, "naming entry set");
    } else if (!strcmp(sub, "remove") && argc >= 1) {
        struct json_object *rq = request("naming.remove");
        json_object_object_add(rq, "vm", json_object_new_string(argv[0]));
        return call_print_version(c, rq, "naming entry removed");
    } else if (!strcmp(sub, "unset") && argc >= 1) {
        struct json_object *rq = request("naming.unset");
        json_object_object_add(rq, "vm", json_object_new_string(argv[0]));
        json_object_object_add(rq, "user", json_object_new_boolean(
                                   flag(argc, argv, "--user")));
        json_object_object_add(rq, "addresses", json_object_new_boolean(
                                   flag(argc, argv, "--addresses")));
        return call_print_version(c, rq, "naming entry unset");
    }
    return fail(EXIT_USAGE, "naming: list, events, set VM [--user USER] "
                "[--address ADDR]..., unset VM [--user] [--addresses], or "
                "remove VM");
}

static int
cmd_sites(const struct ctl *c, int argc, char **argv)
{
    const char *sub = argc ? argv[0] : "";
    int code;
    if (!strcmp(sub, "resolve")) {
        return call_print_version(c, request("sites.resolve"),
                                  "site names are being looked up again");
    } else if (strcmp(sub, "list")) {
        return fail(EXIT_USAGE, "sites: list or resolve");
    }
    struct json_object *r = call_ok(c, request("sites.list"), &code);
    if (r) {
        struct json_object *l = msg_get(r, "sites");
        printf("%-32s %-10s %-20s %s\n", "NAME", "STATE", "RESOLVED",
               "ADDRESSES");
        for (size_t i = 0; i < json_object_array_length(l); i++) {
            struct json_object *s = json_object_array_get_idx(l, i);
            char when[32] = "-";
            time_t t = msg_get_int(s, "resolved_ms", 0) / 1000;
            struct tm tm;
            if (t) {
                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S",
                         localtime_r(&t, &tm));
            }
            printf("%-32s %-10s %-20s ", msg_get_string(s, "name", ""),
                   msg_get_string(s, "state", ""), when);
            struct json_object *a = msg_get(s, "addresses");
            for (size_t j = 0; j < json_object_array_length(a); j++) {
                printf("%s%s", j ? " " : "", json_object_get_string(
                           json_object_array_get_idx(a, j)));
            }
            if (msg_get(s, "error")) {
                printf("%s(%s)", json_object_array_length(a) ? " " : "",
                       msg_get_string(s, "error", ""));
            }
            putchar('\n');
        }
        json_object_put(r);
    }
    return code;
}

int
main(int argc, char **argv)
{
    const char *rundir = getenv("APPFW_RUNDIR");
    rundir = rundir && *rundir ? rundir : "/run/appfw";
    struct ctl c = { .timeout_ms = 5000 };
    const char *env_token = getenv("APPFW_TOKEN");
    c.token = env_token && *env_token ? env_token : NULL;
    char *url = NULL;
    const char *tls_cert = NULL, *tls_ca = NULL, *tls_name = NULL;
    int i = 1;

    for (; i < argc && !strncmp(argv[i], "-", 1); i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            c.json = true;
        } else if (i + 1 < argc && !strcmp(a, "--rundir")) {
            rundir = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--url")) {
            c.url = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--timeout")) {
            c.timeout_ms = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(a, "--tls-cert")) {
            tls_cert = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--tls-ca")) {
            tls_ca = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--tls-server-name")) {
            tls_name = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--token")) {
            c.token = argv[++i];
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    char *tls_error = rpc_tls_configure(tls_cert, tls_ca, tls_name);
    if (tls_error) {
        int code = fail(EXIT_USAGE, "%s", tls_error);
        free(tls_error);
        return code;
    }
    if (!c.url) {
        c.url = url = xasprintf("ipc://%s/secd-console.sock", rundir);
    }

    const char *cmd = argv[i++];
    int rest = argc - i;
    char **args = argv + i;
    int code;
    if (!strcmp(cmd, "health")) {
        code = cmd_simple(&c, "health", rest, args);
    } else if (!strcmp(cmd, "policy")) {
        code = cmd_policy(&c, rest, args);
    } else if (!strcmp(cmd, "decisions") && rest
               && !strcmp(args[0], "tail")) {
        code = cmd_decisions_tail(&c, rest - 1, args + 1);
    } else if (!strcmp(cmd, "decisions") && rest
               && !strcmp(args[0], "list")) {
        code = cmd_decisions_list(&c, rest - 1, args + 1);
    } else if (!strcmp(cmd, "stats")) {
        code = cmd_stats(&c, rest, args);
    } else if (!strcmp(cmd, "vm")) {
        code = cmd_vm(&c, rest, args);
    } else if (!strcmp(cmd, "hypervisor")) {
        code = cmd_hypervisor(&c, rest, args);
    } else if (!strcmp(cmd, "appid") && rest && !strcmp(args[0], "lookup")) {
        code = cmd_simple(&c, "appid.lookup", rest - 1, args + 1);
    } else if (!strcmp(cmd, "quota")) {
        code = cmd_quota(&c, rest, args);
    } else if (!strcmp(cmd, "sites")) {
        code = cmd_sites(&c, rest, args);
    } else if (!strcmp(cmd, "naming")) {
        code = cmd_naming(&c, rest, args);
    } else if (!strcmp(cmd, "explain")) {
        code = cmd_explain(&c, rest, args);
    } else if (!strcmp(cmd, "whoami")) {
        code = cmd_simple(&c, "whoami", rest, args);
    } else if (!strcmp(cmd, "account")) {
        code = cmd_account(&c, rest, args);
    } else if (!strcmp(cmd, "changes")) {
        code = cmd_changes(&c, rest, args);
    } else if (!strcmp(cmd, "system")) {
        code = cmd_system(&c, rest, args);
    } else if (!strcmp(cmd, "protocol")) {
        code = cmd_protocol(&c, rest, args, false);
    } else if (!strcmp(cmd, "global")) {
        code = cmd_protocol(&c, rest, args, true);
    } else {
        code = fail(EXIT_USAGE, "unknown command \"%s\" (try --help)", cmd);
    }
    rpc_client_destroy(client);
    free(url);
    return code;
}
