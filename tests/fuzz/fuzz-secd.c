/* libFuzzer target: appfw-secd's handling of what a hypervisor sends, the
 * whole of it, in process.
 *
 * One appfw-secd (security-vm/secd.c, with its store, policy, quotas,
 * naming service and signature database) runs with its store in memory
 * and rpc.h's servers in memory (tests/fuzz/rpc-mem.c, so the whole
 * exchange stays on one thread); the target plays appfw-switchd.  An
 * input is up to 16 messages, one a line, each sent to secd's decision
 * endpoint as a request, exactly as switchd would send a guest's message
 * it stamped (or one of its own).  The policy has quotas, site lists, user
 * and group rules, so decides, stats, naming, flow_open, flow_close,
 * heartbeats and hellos reach every part of secd that they can reach.
 *
 * Oracles beyond "no crash, no leak, no UB": every request is answered,
 * and every answer is a valid message of a type secd may send. */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appid/appid.h"
#include "appid/import.h"
#include "common/log.h"
#include "common/msg.h"
#include "security-vm/secd.h"
#include "security-vm/secd-private.h"
#include "tests/fuzz/rpc-mem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS 16

/* Passes of secd_run() a request may take before it counts as
 * unanswered: each needs one or two, so this is far beyond any real
 * wait. */
#define MAX_RUNS 100

static struct secd *secd;
static char url[64];

static const char feed[] =
    "{\"format\":\"appfw-appid-feed\",\"version\":1,\"source\":\"fuzz\","
    "\"added\":["
    "{\"name\":\"curl\",\"path\":\"/usr/bin/curl\",\"product\":\"curl\","
    "\"vendor\":\"curl project\",\"category\":\"downloader\","
    "\"trust\":\"trusted\",\"threat\":\"low\",\"sha256\":"
    "\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"},"
    "{\"name\":\"utorrent\",\"path\":\"/opt/ut/utorrent\","
    "\"product\":\"uTorrent\",\"vendor\":\"BitTorrent\",\"category\":\"p2p\","
    "\"trust\":\"untrusted\",\"threat\":\"high\",\"sha256\":"
    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]}";

static const char policy[] =
    "{\"vm_groups\":[{\"name\":\"web\",\"mode\":\"enforce\"}],"
    "\"vms\":[{\"uuid\":\"11111111-0000-4000-8000-00000000a001\","
    "\"name\":\"vm1\",\"group\":\"web\"}],"
    "\"user_groups\":[{\"name\":\"staff\"}],"
    "\"users\":[{\"name\":\"alice\",\"groups\":[\"staff\"]}],"
    "\"rules\":["
    "{\"id\":\"no-p2p\",\"action\":\"deny\",\"match\":"
    "{\"category\":[\"p2p\"]}},"
    "{\"id\":\"web\",\"action\":\"allow\",\"match\":"
    "{\"remote_port\":[80,443,8080],\"protocol\":\"tcp\"}},"
    "{\"id\":\"alice-dns\",\"action\":\"allow\",\"match\":"
    "{\"user\":[\"alice\"],\"remote_port\":[53]}}],"
    "\"quotas\":[{\"user\":\"alice\",\"bytes_per_day\":100000,"
    "\"action\":\"block\",\"notify\":true},"
    "{\"app\":\"curl\",\"bytes_per_day\":5000}],"
    "\"sites\":[{\"user\":\"alice\",\"mode\":\"deny-all-except\","
    "\"sites\":[\"10.0.0.2\",\"fd00::2\"]}]}";

static void
die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz-secd: %s: %s\n", what, detail ? detail : "");
    exit(1);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    free(log_set_levels("off"));

    /* The signature database is a file: secd opens it by name. */
    static char appid_path[] = "/tmp/fuzz-secd-appid.XXXXXX";
    int fd = mkstemp(appid_path);
    if (fd < 0) {
        die("mkstemp", strerror(errno));
    }
    close(fd);
    unlink(appid_path);
    struct appid *db;
    char *error = appid_open(appid_path, APPID_OPEN_CREATE, &db);
    struct appid_import_report r;
    if (!error) {
        error = appid_import_feed(db, feed, strlen(feed), &r);
    }
    if (error) {
        die("signatures", error);
    }
    appid_close(db);

    snprintf(url, sizeof url, "ipc:///nonexistent/fuzz-secd-decide");
    char console[80];
    snprintf(console, sizeof console, "%s-console", url);
    struct secd_config cfg = {
        .db = ":memory:", .appid_db = appid_path, .decide_url = url,
        .console_url = console,
        .console_mode = 0600, .contexts = 4,
        .vm_rate = 1000000000, .vm_burst = 1000000000, .vm_queue = 64,
        .flush_ms = 1000, .audit_max_rows = 100000,
        .stats_keep_days = 400, .site_resolve_s = 86400,
        .reverse_dns = false, .bootstrap_token_sha256 = "",
        /* Polls answered at once, so that every request gets its answer
         * within the exchange; a notice waits for the next one. */
        .poll_hold_ms = 0,
    };
    error = secd_create(&cfg, &secd);
    if (error) {
        die("secd_create", error);
    }
    unlink(appid_path);
    int64_t version;
    error = secd_activate(secd, policy, "fuzz", "fuzz policy", &version);
    if (error) {
        die("policy", error);
    }
    return 0;
}

/* Checks secd's answer to one request. */
static void
check_reply(const char *data, size_t len)
{
    struct json_object *obj;
    enum msg_type type;
    char *error = msg_parse(data, len, &obj, &type);
    if (error) {
        fprintf(stderr, "fuzz-secd: invalid answer %.*s: %s\n", (int) len,
                data, error);
        abort();
    }
    if (type != MSG_VERDICT && type != MSG_ACK && type != MSG_ERROR
        && type != MSG_HELLO && type != MSG_NOTICE
        && type != MSG_POLICY_CHANGE) {
        fprintf(stderr, "fuzz-secd: secd answered with a %s\n",
                msg_type_name(type));
        abort();
    }
    json_object_put(obj);
}

/* Sends one request and runs secd until it answers. */
static void
exchange(const char *data, size_t len)
{
    if (rpc_mem_request(url, data, len, UINT64_MAX)) {
        die("rpc_mem_request", url);
    }
    for (int i = 0; i < MAX_RUNS; i++) {
        secd_run(secd);
        size_t rlen;
        char *reply = rpc_mem_reply(&rlen);
        if (reply) {
            check_reply(reply, rlen);
            free(reply);
            if ((reply = rpc_mem_reply(&rlen))) {
                fprintf(stderr, "fuzz-secd: two answers to %.*s\n",
                        (int) len, data);
                abort();
            }
            return;
        }
    }
    fprintf(stderr, "fuzz-secd: no answer to %.*s\n", (int) len, data);
    abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *) data, *end = p + size;
    for (int n = 0; n < MAX_MSGS && p < end; n++) {
        const char *nl = memchr(p, '\n', end - p);
        size_t len = (nl ? nl : end) - p;
        if (len) {
            exchange(p, len);
        }
        p += len + 1;
    }
    return 0;
}
