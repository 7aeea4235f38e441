/* Golden-case tests of the policy engine (security-vm/policy.c).
 *
 * Each tests/data/policy/NAME.json holds a policy, the applications as
 * the agent reports them (path, sha256, and the flags memfd and deleted)
 * and appid would identify them (install_path: the signature's, for an
 * exact match), optionally what host names resolve to
 * ("resolved": {"intranet.example": ["10.1.2.3", "2001:db8::5"]}, for the
 * site lists), and cases: a request and the exact verdict expected:
 * verdict and rule always; reason, restricted_by ("-" for none), log,
 * notify, monitored, ttl and granularity where the case names them; and
 * where it names "explain", policy_explain_last()'s lines, each "SCOPE:
 * RULE ACTION" or "SCOPE: -".
 * Like libvirt's firewall tests: inputs and expected output side by side,
 * checked in, compared exactly.
 *
 * Validation errors are a table below: policy text in, message out. */
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "common/msg.h"
#include "common/util.h"
#include "security-vm/policy.h"
#include "security-vm/quota.h"
#include "security-vm/store.h"

#define DATA_DIR "tests/data/policy"

static void
parse_endpoint(const char *s, struct policy_addr *addr, int *port)
{
    /* "10.0.0.1:80" or "[2001:db8::1]:443" */
    char host[64];
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        assert_non_null(end);
        snprintf(host, sizeof host, "%.*s", (int) (end - s - 1), s + 1);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        assert_non_null(colon);
        snprintf(host, sizeof host, "%.*s", (int) (colon - s), s);
    }
    assert_true(policy_addr_parse(host, addr));
    *port = atoi(colon + 1);
}

static time_t
parse_time(const char *s)
{
    struct tm tm = { 0 };
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end) {
        fail_msg("bad time \"%s\" (want YYYY-MM-DDTHH:MM:SSZ)", s);
    }
    return timegm(&tm);
}

static void
fill_app(const struct json_object *a, struct appid_result *r)
{
    memset(r, 0, sizeof *r);
    r->product = msg_get_string(a, "product", "");
    r->description = "";
    r->vendor = msg_get_string(a, "vendor", "");
    r->version = msg_get_string(a, "version", "");
    r->category = msg_get_string(a, "category", "unknown");
    r->source = "";
    r->install_path = msg_get_string(a, "install_path", "");
    appid_trust_from_name(msg_get_string(a, "trust", "unknown"), &r->trust);
    appid_threat_from_name(msg_get_string(a, "threat", "none"), &r->threat);
    const char *m = msg_get_string(a, "match", "exact");
    r->match = !strcmp(m, "exact") ? APPID_MATCH_EXACT
               : !strcmp(m, "pattern") ? APPID_MATCH_PATTERN
               : !strcmp(m, "name") ? APPID_MATCH_NAME
               : APPID_MATCH_UNKNOWN;
}

/* The request's site_has_addr(): whether the file's "resolved" says that
 * 'fqdn' has 'addr'. */
static bool
resolved_has_addr(const char *fqdn, const struct policy_addr *addr,
                  void *resolved_)
{
    struct json_object *resolved = resolved_, *list;
    if (!json_object_object_get_ex(resolved, fqdn, &list)) {
        return false;
    }
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct policy_addr a;
        const char *s = json_object_get_string(
            json_object_array_get_idx(list, i));
        if (!policy_addr_parse(s, &a)) {
            fail_msg("resolved.%s: \"%s\" is not an address", fqdn, s);
        }
        if (!memcmp(&a, addr, sizeof a)) {
            return true;
        }
    }
    return false;
}

/* policy_explain_last()'s lines, joined by " | ". */
struct explain_text {
    char text[2048];
};

static void
add_explain_line(const char *scope, const char *rule, bool allow, void *e_)
{
    struct explain_text *e = e_;
    size_t len = strlen(e->text);
    snprintf(e->text + len, sizeof e->text - len, "%s%s: %s%s",
             len ? " | " : "", scope, rule ? rule : "-",
             rule ? (allow ? " allow" : " deny") : "");
}

/* Checks policy_explain_last() against the case's "explain", if any;
 * returns the number of failures (0 or 1). */
static int
check_explain(const struct policy *p, const struct json_object *want,
              const char *path, const char *name)
{
    struct json_object *lines = msg_get(want, "explain");
    if (!lines) {
        return 0;
    }
    struct explain_text expected = { "" }, got = { "" };
    for (size_t i = 0; i < json_object_array_length(lines); i++) {
        size_t len = strlen(expected.text);
        snprintf(expected.text + len, sizeof expected.text - len, "%s%s",
                 len ? " | " : "", json_object_get_string(
                     json_object_array_get_idx(lines, i)));
    }
    policy_explain_last(p, add_explain_line, &got);
    if (strcmp(got.text, expected.text)) {
        printf("%s: case \"%s\": explain:\n   got: %s\n  want: %s\n",
               path, name, got.text, expected.text);
        return 1;
    }
    return 0;
}

/* Runs every case of one golden file; returns the number of failures. */
static int
run_file(const char *path)
{
    struct json_object *doc = json_object_from_file(path);
    if (!doc) {
        fail_msg("%s: cannot parse", path);
    }

    struct json_object *pol = msg_get(doc, "policy");
    const char *text = json_object_to_json_string(pol);
    struct policy *p;
    char *error = policy_compile(text, strlen(text), &p);
    if (error) {
        fail_msg("%s: policy does not compile: %s", path, error);
    }

    int failures = 0;
    struct json_object *cases = msg_get(doc, "cases");
    struct json_object *apps = msg_get(doc, "apps");
    struct json_object *resolved = msg_get(doc, "resolved");
    size_t n = json_object_array_length(cases);
    for (size_t i = 0; i < n; i++) {
        struct json_object *c = json_object_array_get_idx(cases, i);
        struct json_object *rq = msg_get(c, "request");
        struct json_object *want = msg_get(c, "expect");
        const char *name = msg_get_string(c, "name", "?");

        struct policy_request q = {
            .vm_uuid = msg_get_string(rq, "vm", NULL),
            .vm_name = msg_get_string(rq, "vm", NULL),
            .user = msg_get_string(rq, "user", NULL),
            .now = parse_time(msg_get_string(rq, "time",
                                             "2026-11-23T10:00:00Z")),
            .site_has_addr = resolved ? resolved_has_addr : NULL,
            .site_aux = resolved,
        };
        struct appid_result app;
        const char *app_key = msg_get_string(rq, "app", NULL);
        struct json_object *a = app_key ? msg_get(apps, app_key) : NULL;
        if (app_key && !a) {
            fail_msg("%s: case \"%s\": no app \"%s\"", path, name, app_key);
        }
        if (a) {
            fill_app(a, &app);
            q.app = &app;
            q.app_path = msg_get_string(a, "path", NULL);
            q.app_sha256 = msg_get_string(a, "sha256", NULL);
            q.app_memfd = msg_get_bool(a, "memfd", false);
            q.app_deleted = msg_get_bool(a, "deleted", false);
        }
        assert_true(policy_event_from_name(
                        msg_get_string(rq, "event", "connect"), &q.event));
        assert_true(policy_proto_from_name(
                        msg_get_string(rq, "protocol", "tcp"), &q.proto));
        assert_true(policy_dir_from_name(
                        msg_get_string(rq, "direction", "outbound"),
                        &q.dir));
        parse_endpoint(msg_get_string(rq, "local", "10.0.0.1:40000"),
                       &q.local, &q.local_port);
        const char *remote = msg_get_string(rq, "remote", "10.0.0.2:80");
        if (strcmp(remote, "none")) {
            parse_endpoint(remote, &q.remote, &q.remote_port);
            q.has_remote = true;
        }

        struct policy_verdict v;
        policy_decide(p, &q, &v);

        char got[1024];
        snprintf(got, sizeof got,
                 "verdict=%s rule=%s restricted_by=%s log=%d notify=%d "
                 "monitored=%d ttl=%d granularity=%s reason=%s",
                 v.allow ? "allow" : "deny", v.rule,
                 v.restricted_by ? v.restricted_by : "-", v.log, v.notify,
                 v.monitored, v.ttl, v.granularity ? "service" : "exact",
                 v.reason);
        char expected[1024];
        snprintf(expected, sizeof expected,
                 "verdict=%s rule=%s restricted_by=%s log=%d notify=%d "
                 "monitored=%d ttl=%d granularity=%s reason=%s",
                 msg_get_string(want, "verdict", "?"),
                 msg_get_string(want, "rule", "?"),
                 msg_get_string(want, "restricted_by",
                                v.restricted_by ? v.restricted_by : "-"),
                 (int) msg_get_bool(want, "log", v.log),
                 (int) msg_get_bool(want, "notify", v.notify),
                 (int) msg_get_bool(want, "monitored", v.monitored),
                 (int) msg_get_int(want, "ttl", v.ttl),
                 msg_get_string(want, "granularity",
                                v.granularity ? "service" : "exact"),
                 msg_get_string(want, "reason", v.reason));
        if (strcmp(got, expected)) {
            printf("%s: case \"%s\":\n   got: %s\n  want: %s\n", path, name,
                   got, expected);
            failures++;
        }
        failures += check_explain(p, want, path, name);
    }
    policy_unref(p);
    json_object_put(doc);
    return failures;
}

static void
test_golden_files(void **state)
{
    (void) state;
    DIR *d = opendir(DATA_DIR);
    if (!d) {
        fail_msg("%s: %s (run from the repository root)", DATA_DIR,
                 strerror(errno));
    }
    int files = 0, failures = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len > 5 && !strcmp(de->d_name + len - 5, ".json")) {
            char *path = xasprintf("%s/%s", DATA_DIR, de->d_name);
            failures += run_file(path);
            free(path);
            files++;
        }
    }
    closedir(d);
    assert_true(files >= 3);
    assert_int_equal(failures, 0);
}

struct bad_policy {
    const char *text;
    const char *error;
};

static const struct bad_policy bad_policies[] = {
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"remote_port\":[70000]}}]}",
      "policy.rules[0].match.remote_port[0]: 70000 out of range 0..65535" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"remote_port\":[\"90-80\"]}}]}",
      "policy.rules[0].match.remote_port[0]: \"90-80\" is not a port range "
      "LO-HI with 0 <= LO <= HI <= 65535" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"remote_prot\":[80]}}]}",
      "policy.rules[0].match.remote_prot: unknown field" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"block\"}]}",
      "policy.rules[0].action: \"block\" is not one of allow, deny" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\"},"
      "{\"id\":\"a\",\"action\":\"allow\"}]}",
      "policy.rules[1].id: \"a\" is used twice" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"vm_group\":\"x\"}]}",
      "policy.rules[0].vm_group: \"x\" is not defined in vm_groups" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"vm_group\":\"all\","
      "\"user\":\"bob\"}]}",
      "policy.rules[0].user: a rule attaches to at most one of vm_group, "
      "vm, user_group, user" },
    { "{\"vm_groups\":[{\"name\":\"a\",\"parent\":\"b\"},"
      "{\"name\":\"b\",\"parent\":\"a\"}]}",
      "policy.vm_groups: group \"a\" is its own ancestor" },
    { "{\"vm_groups\":[{\"name\":\"a\",\"parent\":\"nope\"}]}",
      "policy.vm_groups[0].parent: no vm group \"nope\"" },
    { "{\"vm_groups\":[{\"name\":\"a\"},{\"name\":\"a\"}]}",
      "policy.vm_groups[1].name: \"a\" is defined twice" },
    { "{\"users\":[{\"name\":\"alice\",\"groups\":[\"staff\"]}]}",
      "policy.users[0].groups[0]: no user group \"staff\"" },
    { "{\"vms\":[{\"uuid\":\"not-a-uuid\"}]}",
      "policy.vms[0].uuid: \"not-a-uuid\" is not a UUID" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"remote\":[\"10.0.0.0/33\"]}}]}",
      "policy.rules[0].match.remote[0]: \"10.0.0.0/33\" is not an address "
      "or address/prefix" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"schedule\":{\"days\":[\"mon\"],\"start\":\"25:00\","
      "\"end\":\"26:00\"}}}]}",
      "policy.rules[0].match.schedule.start: \"25:00\" is not HH:MM" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"schedule\":{\"days\":[\"mon\"],\"start\":\"09:00\","
      "\"end\":\"17:00\",\"tz\":\"Mars/Olympus\"}}}]}",
      "policy.rules[0].match.schedule.tz: unknown time zone "
      "\"Mars/Olympus\"" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"schedule\":{\"days\":[\"mon\"],\"start\":\"09:00\","
      "\"end\":\"17:00\",\"tz\":\"../../etc/passwd\"}}}]}",
      "policy.rules[0].match.schedule.tz: unknown time zone "
      "\"../../etc/passwd\"" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"protocol\":\"icmp\",\"remote_port\":[1]}}]}",
      "policy.rules[0].match: ports mean nothing for icmp" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"threat_at_least\":\"severe\"}}]}",
      "policy.rules[0].match.threat_at_least: \"severe\" is not one of "
      "none, low, medium, high, critical" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"category\":[]}}]}",
      "policy.rules[0].match.category: has 0 elements, not 1..256" },
    { "{\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"priority\":1.5}]}",
      "policy.rules[0].priority: must be an integer, not a number with a "
      "fraction" },
    { "[]", "policy: must be an object, not an array" },
    { "{\"rules\":", "policy: truncated JSON" },
    { "{\"vm_groups\":[{\"name\":\"all\",\"parent\":\"x\"}]}",
      "policy.vm_groups[0].parent: the root group \"all\" has no parent" },
    { "{\"system\":{\"log_load_interval\":0}}",
      "policy.system.log_load_interval: 0 out of range 1..3600" },
    { "{\"system\":{\"simulation\":true}}",
      "policy.system.simulation: unknown field" },
    { "{\"global_protocols\":[{\"name\":\"DNS\",\"ports\":[53],"
      "\"action\":\"allow\"},{\"name\":\"DNS\",\"ports\":[5353],"
      "\"action\":\"deny\"}]}",
      "policy.global_protocols[1].name: \"DNS\" is defined twice" },
    { "{\"global_protocols\":[{\"name\":\"DNS\",\"ports\":[],"
      "\"action\":\"allow\"}]}",
      "policy.global_protocols[0].ports: has 0 elements, not 1..256" },
    { "{\"global_protocols\":[{\"name\":\"x\",\"protocol\":\"icmp\","
      "\"ports\":[1],\"action\":\"deny\"}]}",
      "policy.global_protocols[0].protocol: \"icmp\" is not one of tcp, "
      "udp, any" },
    { "{\"global_protocols\":[{\"name\":\"x\",\"ports\":[1],"
      "\"direction\":\"in\",\"action\":\"deny\"}]}",
      "policy.global_protocols[0].direction: \"in\" is not one of outbound, "
      "inbound, both" },
    { "{\"global_protocols\":[{\"name\":\"DNS\",\"ports\":[53]}]}",
      "policy.global_protocols[0].action: missing" },
    { "{\"protocols\":[{\"name\":\"HTTP\",\"ports\":[80]},"
      "{\"name\":\"HTTP\",\"ports\":[8080]}]}",
      "policy.protocols[1].name: \"HTTP\" is defined twice" },
    { "{\"protocols\":[{\"name\":\"x\",\"ports\":[70000]}]}",
      "policy.protocols[0].ports[0]: 70000 out of range 0..65535" },
    { "{\"protocols\":[{\"name\":\"x\"}]}",
      "policy.protocols[0].ports: missing" },
    { "{\"protocols\":[{\"name\":\"FTP\",\"ports\":[\"20-21\"]}],"
      "\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"app_protocol\":[\"FTP\",\"FTPS\"]}}]}",
      "policy.rules[0].match.app_protocol[1]: \"FTPS\" is not in protocols" },
    { "{\"protocols\":[{\"name\":\"HTTP\",\"ports\":[80]}],"
      "\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"app_protocol\":[\"HTTP\"],\"remote_port\":[80]}}]}",
      "policy.rules[0].match.remote_port: cannot be used with app_protocol: "
      "the named protocols give the protocol and ports" },
    { "{\"protocols\":[{\"name\":\"HTTP\",\"ports\":[80]}],"
      "\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"app_protocol\":[\"HTTP\"],\"local_port\":[80]}}]}",
      "policy.rules[0].match.local_port: cannot be used with app_protocol: "
      "the named protocols give the protocol and ports" },
    { "{\"protocols\":[{\"name\":\"HTTP\",\"ports\":[80]}],"
      "\"rules\":[{\"id\":\"a\",\"action\":\"deny\",\"match\":"
      "{\"protocol\":\"tcp\",\"app_protocol\":[\"HTTP\"]}}]}",
      "policy.rules[0].match.protocol: cannot be used with app_protocol: "
      "the named protocols give the protocol and ports" },

    /* Quotas. */
    { "{\"quotas\":[{\"bytes_per_day\":1}]}",
      "policy.quotas[0]: give exactly one of user, user_group, vm, "
      "vm_group, app" },
    { "{\"quotas\":[{\"app\":\"curl\",\"bytes_per_day\":1},"
      "{\"user\":\"bob\",\"app\":\"wget\",\"bytes_per_day\":0}]}",
      "policy.quotas[1]: give exactly one of user, user_group, vm, "
      "vm_group, app" },
    { "{\"quotas\":[{\"user\":\"bob\",\"bytes_per_day\":1,"
      "\"group\":\"staff\"}]}",
      "policy.quotas[0].group: unknown field" },
    { "{\"quotas\":[{\"user\":\"bob\"}]}",
      "policy.quotas[0].bytes_per_day: missing" },
    { "{\"quotas\":[{\"user\":\"bob\",\"bytes_per_day\":-1}]}",
      "policy.quotas[0].bytes_per_day: -1 out of range "
      "0..9007199254740992" },
    { "{\"quotas\":[{\"user\":\"bob\","
      "\"bytes_per_day\":9007199254740993}]}",
      "policy.quotas[0].bytes_per_day: 9007199254740993 out of range "
      "0..9007199254740992" },
    { "{\"quotas\":[{\"user\":\"bob\",\"bytes_per_day\":1,"
      "\"action\":\"deny\"}]}",
      "policy.quotas[0].action: \"deny\" is not one of log, block" },
    { "{\"user_groups\":[{\"name\":\"staff\"}],\"quotas\":["
      "{\"user_group\":\"staff\",\"bytes_per_day\":1},"
      "{\"user_group\":\"x\",\"bytes_per_day\":1}]}",
      "policy.quotas[1].user_group: \"x\" is not defined in user_groups" },
    { "{\"quotas\":[{\"vm_group\":\"lab\",\"bytes_per_day\":1}]}",
      "policy.quotas[0].vm_group: \"lab\" is not defined in vm_groups" },
    /* A zero quota still takes its subject. */
    { "{\"user_groups\":[{\"name\":\"staff\"}],\"quotas\":["
      "{\"user_group\":\"staff\",\"bytes_per_day\":0},"
      "{\"user\":\"staff\",\"bytes_per_day\":1},"
      "{\"vm_group\":\"all\",\"bytes_per_day\":1},"
      "{\"app\":\"staff\",\"bytes_per_day\":1},"
      "{\"user_group\":\"staff\",\"bytes_per_day\":5}]}",
      "policy.quotas[4]: a second quota for user group \"staff\"" },
    /* A listed VM by uuid (in any case) and by name is one subject. */
    { "{\"vms\":[{\"uuid\":\"22222222-0000-4000-8000-00000000000a\","
      "\"name\":\"vm-a\"}],\"quotas\":["
      "{\"vm\":\"22222222-0000-4000-8000-00000000000A\","
      "\"bytes_per_day\":1},"
      "{\"vm\":\"vm-a\",\"bytes_per_day\":1}]}",
      "policy.quotas[1]: a second quota for vm \"vm-a\"" },
    { "{\"quotas\":[{\"vm\":\"33333333-0000-4000-8000-00000000000b\","
      "\"bytes_per_day\":1},"
      "{\"vm\":\"33333333-0000-4000-8000-00000000000B\","
      "\"bytes_per_day\":1}]}",
      "policy.quotas[1]: a second quota for vm "
      "\"33333333-0000-4000-8000-00000000000B\"" },
    { "{\"quotas\":[{\"app\":\"curl\",\"bytes_per_day\":1},"
      "{\"app\":\"Curl\",\"bytes_per_day\":2}]}",
      "policy.quotas[1]: a second quota for app \"Curl\"" },
    { "{\"quotas\":[{\"user\":\"bob\",\"bytes_per_day\":1},"
      "{\"user\":\"bob\",\"bytes_per_day\":0}]}",
      "policy.quotas[1]: a second quota for user \"bob\"" },
    /* A child's quota may not exceed a non-zero parent quota. */
    { "{\"user_groups\":[{\"name\":\"staff\"},"
      "{\"name\":\"interns\",\"parent\":\"staff\"}],\"quotas\":["
      "{\"user_group\":\"staff\",\"bytes_per_day\":1000},"
      "{\"app\":\"curl\",\"bytes_per_day\":5000},"
      "{\"user_group\":\"interns\",\"bytes_per_day\":2000}]}",
      "policy.quotas[2]: 2000 bytes per day for user group \"interns\" "
      "exceeds the 1000 of its parent group \"staff\"" },
    { "{\"user_groups\":[{\"name\":\"staff\"}],\"quotas\":["
      "{\"user_group\":\"staff\",\"bytes_per_day\":6000},"
      "{\"user_group\":\"everyone\",\"bytes_per_day\":5000}]}",
      "policy.quotas[0]: 6000 bytes per day for user group \"staff\" "
      "exceeds the 5000 of its parent group \"everyone\"" },
    /* Zero means no quota: the nearest non-zero one above holds. */
    { "{\"vm_groups\":[{\"name\":\"corp\"},"
      "{\"name\":\"lab\",\"parent\":\"corp\"},"
      "{\"name\":\"bench\",\"parent\":\"lab\"}],\"quotas\":["
      "{\"vm_group\":\"bench\",\"bytes_per_day\":200},"
      "{\"vm_group\":\"lab\",\"bytes_per_day\":0},"
      "{\"vm_group\":\"corp\",\"bytes_per_day\":100}]}",
      "policy.quotas[0]: 200 bytes per day for vm group \"bench\" "
      "exceeds the 100 of its ancestor group \"corp\"" },
    { "{\"vm_groups\":[{\"name\":\"corp\"}],\"quotas\":["
      "{\"vm_group\":\"all\",\"bytes_per_day\":50},"
      "{\"vm_group\":\"corp\",\"bytes_per_day\":100}]}",
      "policy.quotas[1]: 100 bytes per day for vm group \"corp\" "
      "exceeds the 50 of its parent group \"all\"" },
    { "{\"user_groups\":[{\"name\":\"staff\"},"
      "{\"name\":\"interns\",\"parent\":\"staff\"}],"
      "\"users\":[{\"name\":\"alice\",\"groups\":[\"interns\"]}],"
      "\"quotas\":[{\"user_group\":\"staff\",\"bytes_per_day\":1000},"
      "{\"user\":\"alice\",\"bytes_per_day\":2000}]}",
      "policy.quotas[1]: 2000 bytes per day for user \"alice\" exceeds "
      "the 1000 of its group \"staff\"" },
    { "{\"user_groups\":[{\"name\":\"staff\"},{\"name\":\"ops\"}],"
      "\"users\":[{\"name\":\"bob\",\"groups\":[\"staff\",\"ops\"]}],"
      "\"quotas\":[{\"user_group\":\"staff\",\"bytes_per_day\":1000},"
      "{\"user\":\"bob\",\"bytes_per_day\":700},"
      "{\"user_group\":\"ops\",\"bytes_per_day\":600}]}",
      "policy.quotas[1]: 700 bytes per day for user \"bob\" exceeds "
      "the 600 of its group \"ops\"" },
    { "{\"users\":[{\"name\":\"alice\"}],\"quotas\":["
      "{\"user_group\":\"everyone\",\"bytes_per_day\":5000},"
      "{\"user\":\"carol\",\"bytes_per_day\":6000}]}",
      "policy.quotas[1]: 6000 bytes per day for user \"carol\" exceeds "
      "the 5000 of its group \"everyone\"" },
    { "{\"vm_groups\":[{\"name\":\"corp\"},"
      "{\"name\":\"lab\",\"parent\":\"corp\"}],"
      "\"vms\":[{\"uuid\":\"22222222-0000-4000-8000-000000000001\","
      "\"name\":\"vm-a\",\"group\":\"lab\"}],\"quotas\":["
      "{\"vm_group\":\"lab\",\"bytes_per_day\":300},"
      "{\"vm\":\"22222222-0000-4000-8000-000000000001\","
      "\"bytes_per_day\":400}]}",
      "policy.quotas[1]: 400 bytes per day for vm "
      "\"22222222-0000-4000-8000-000000000001\" exceeds the 300 of its "
      "group \"lab\"" },
    { "{\"quotas\":[{\"vm\":\"vm-z\",\"bytes_per_day\":400},"
      "{\"vm_group\":\"all\",\"bytes_per_day\":300}]}",
      "policy.quotas[0]: 400 bytes per day for vm \"vm-z\" exceeds the "
      "300 of its group \"all\"" },

    /* Site lists. */
    { "{\"sites\":[{\"user\":\"alice\",\"mode\":\"deny-all-except\","
      "\"sites\":[\"ok.example\"]},{\"mode\":\"allow-all-except\","
      "\"sites\":[\"10.0.0.0/8\"]},{\"user\":\"bob\","
      "\"mode\":\"deny-all-except\",\"sites\":[\"exa mple.com\"]}]}",
      "policy.sites[2].sites[0]: \"exa mple.com\" is neither a host name "
      "nor an address or prefix" },
    { "{\"sites\":[{\"mode\":\"deny-all-except\","
      "\"sites\":[\"a.example\",\"10.0.0.0/33\"]}]}",
      "policy.sites[0].sites[1]: \"10.0.0.0/33\" is neither a host name "
      "nor an address or prefix" },
    { "{\"sites\":[{\"user\":\"bob\",\"vm_group\":\"all\","
      "\"mode\":\"deny-all-except\",\"sites\":[\"a.example\"]}]}",
      "policy.sites[0]: give at most one of user, user_group, vm, "
      "vm_group" },
    { "{\"sites\":[{\"app\":\"curl\",\"mode\":\"deny-all-except\","
      "\"sites\":[\"a.example\"]}]}",
      "policy.sites[0].app: unknown field" },
    { "{\"protocols\":[{\"name\":\"HTTP\",\"ports\":[80]}],"
      "\"sites\":[{\"mode\":\"deny-all-except\",\"sites\":[\"a.example\"],"
      "\"protocols\":[\"HTTP\",\"FTPS\"]}]}",
      "policy.sites[0].protocols[1]: \"FTPS\" is not in protocols" },
    { "{\"sites\":[{\"mode\":\"deny-all-except\",\"sites\":[\"a.example\"],"
      "\"protocols\":[]}]}",
      "policy.sites[0].protocols: has 0 elements, not 1..256" },
    { "{\"sites\":[{\"mode\":\"deny-all-except\",\"sites\":[]}]}",
      "policy.sites[0].sites: has 0 elements, not 1..1000" },
    { "{\"sites\":[{\"mode\":\"deny-all-except\"}]}",
      "policy.sites[0].sites: missing" },
    { "{\"sites\":[{\"mode\":\"allow\",\"sites\":[\"a.example\"]}]}",
      "policy.sites[0].mode: \"allow\" is not one of allow-all-except, "
      "deny-all-except" },
    { "{\"sites\":[{\"sites\":[\"a.example\"]}]}",
      "policy.sites[0].mode: missing" },
    { "{\"sites\":[{\"mode\":\"deny-all-except\",\"sites\":[\"a.example\"],"
      "\"site\":[\"b.example\"]}]}",
      "policy.sites[0].site: unknown field" },
    { "{\"sites\":[{\"user_group\":\"interns\","
      "\"mode\":\"deny-all-except\",\"sites\":[\"a.example\"]}]}",
      "policy.sites[0].user_group: \"interns\" is not defined in "
      "user_groups" },
    { "{\"sites\":[{\"vm_group\":\"lab\",\"mode\":\"deny-all-except\","
      "\"sites\":[\"a.example\"]}]}",
      "policy.sites[0].vm_group: \"lab\" is not defined in vm_groups" },
    /* One list per subject, as one quota. */
    { "{\"user_groups\":[{\"name\":\"staff\"}],\"sites\":["
      "{\"user_group\":\"staff\",\"mode\":\"deny-all-except\","
      "\"sites\":[\"a.example\"]},{\"user\":\"staff\","
      "\"mode\":\"deny-all-except\",\"sites\":[\"a.example\"]},"
      "{\"user_group\":\"staff\",\"mode\":\"allow-all-except\","
      "\"sites\":[\"b.example\"]}]}",
      "policy.sites[2]: a second site list for user group \"staff\"" },
    { "{\"vms\":[{\"uuid\":\"22222222-0000-4000-8000-00000000000a\","
      "\"name\":\"vm-a\"}],\"sites\":["
      "{\"vm\":\"22222222-0000-4000-8000-00000000000A\","
      "\"mode\":\"deny-all-except\",\"sites\":[\"a.example\"]},"
      "{\"vm\":\"vm-a\",\"mode\":\"deny-all-except\","
      "\"sites\":[\"a.example\"]}]}",
      "policy.sites[1]: a second site list for vm \"vm-a\"" },
    { "{\"sites\":[{\"mode\":\"deny-all-except\",\"sites\":[\"a.example\"]},"
      "{\"mode\":\"allow-all-except\",\"sites\":[\"b.example\"]}]}",
      "policy.sites[1]: a second site list without a subject" },
    { "{\"sites\":[{\"mode\":\"deny-all-except\",\"sites\":[\"a.example\"],"
      "\"log\":\"yes\"}]}",
      "policy.sites[0].log: must be true or false, not a string" },
};

static void
test_bad_policies(void **state)
{
    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(bad_policies); i++) {
        struct policy *p = NULL;
        char *error = policy_compile(bad_policies[i].text,
                                     strlen(bad_policies[i].text), &p);
        if (!error || strcmp(error, bad_policies[i].error)) {
            fail_msg("bad policy %zu: got \"%s\", want \"%s\"", i,
                     error ? error : "(accepted)", bad_policies[i].error);
        }
        assert_null(p);
        free(error);
    }
}

/* Decides 'q' under 'p': the verdict must be 'allow' by rule 'rule', and
 * no more than 'max_examined' rules may have been looked at. */
static void
expect_verdict(struct policy *p, const struct policy_request *q, bool allow,
               const char *rule, size_t max_examined)
{
    struct policy_verdict v;
    policy_decide(p, q, &v);
    assert_int_equal(v.allow, allow);
    assert_string_equal(v.rule, rule);
    assert_true(policy_last_examined(p) <= max_examined);
}

/* With 10,000 rules each keyed by a different application, a decision
 * examines a handful of rules, not 10,000. */
static void
test_index_bounds_work(void **state)
{
    (void) state;
    struct json_object *doc = json_object_new_object();
    struct json_object *rules = json_object_new_array();
    for (int i = 0; i < 10000; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "{\"id\":\"r%d\",\"action\":\"%s\","
                 "\"match\":{\"app_name\":[\"app%d\"]}}", i,
                 i % 2 ? "allow" : "deny", i);
        json_object_array_add(rules, json_tokener_parse(buf));
    }
    json_object_array_add(rules, json_tokener_parse(
        "{\"id\":\"dns\",\"action\":\"allow\",\"match\":{\"remote_port\":"
        "[53]}}"));
    json_object_object_add(doc, "rules", rules);
    const char *text = json_object_to_json_string(doc);
    struct policy *p;
    assert_null(policy_compile(text, strlen(text), &p));
    assert_int_equal(policy_n_rules(p), 10001);

    struct policy_request q = {
        .app_path = "/usr/bin/app777", .event = POLICY_EV_CONNECT,
        .has_remote = true, .remote_port = 80,
    };
    policy_addr_parse("10.0.0.1", &q.local);
    policy_addr_parse("10.0.0.2", &q.remote);
    expect_verdict(p, &q, true, "r777", 2);

    q.app_path = "/usr/bin/app778";
    expect_verdict(p, &q, false, "r778", 2);

    policy_unref(p);
    json_object_put(doc);
}

/* The "system" member's defaults, and its settings as given. */
static void
test_system_settings(void **state)
{
    (void) state;
    struct policy *p;
    assert_null(policy_compile("{}", 2, &p));
    const struct policy_system *s = policy_system(p);
    assert_true(s->logging);
    assert_false(s->simulate);
    assert_true(s->notify);
    assert_false(s->allow_undefined);
    assert_int_equal(s->log_load_interval, 0);
    policy_unref(p);

    static const char text[] =
        "{\"system\":{\"logging\":false,\"simulate\":true,"
        "\"notify\":false,\"allow_undefined_protocols\":true,"
        "\"log_load_interval\":3600}}";
    assert_null(policy_compile(text, strlen(text), &p));
    s = policy_system(p);
    assert_false(s->logging);
    assert_true(s->simulate);
    assert_false(s->notify);
    assert_true(s->allow_undefined);
    assert_int_equal(s->log_load_interval, 3600);
    policy_unref(p);
}

/* Rules on application protocols are indexed by their service ports: with
 * 999 of them, a decision examines a handful.  A protocol with too many
 * ports makes its rules unindexed, examined by every decision.  Global
 * protocols decide without examining any rule. */
static void
test_index_app_protocols(void **state)
{
    (void) state;
    struct json_object *doc = json_object_new_object();
    struct json_object *protocols = json_object_new_array();
    struct json_object *rules = json_object_new_array();
    for (int i = 0; i < 999; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "{\"name\":\"p%d\",\"ports\":[%d]}", i,
                 10000 + i);
        json_object_array_add(protocols, json_tokener_parse(buf));
        snprintf(buf, sizeof buf, "{\"id\":\"r%d\",\"action\":\"%s\","
                 "\"match\":{\"app_protocol\":[\"p%d\"]}}", i,
                 i % 2 ? "allow" : "deny", i);
        json_object_array_add(rules, json_tokener_parse(buf));
    }
    json_object_array_add(protocols, json_tokener_parse(
        "{\"name\":\"high\",\"ports\":[\"20000-65535\"]}"));
    json_object_array_add(rules, json_tokener_parse(
        "{\"id\":\"high\",\"action\":\"allow\",\"match\":"
        "{\"app_protocol\":[\"high\"]}}"));
    json_object_object_add(doc, "protocols", protocols);
    json_object_object_add(doc, "rules", rules);
    json_object_object_add(doc, "global_protocols", json_tokener_parse(
        "[{\"name\":\"DNS\",\"protocol\":\"udp\",\"ports\":[53],"
        "\"action\":\"allow\"}]"));
    const char *text = json_object_to_json_string(doc);
    struct policy *p;
    assert_null(policy_compile(text, strlen(text), &p));

    struct policy_request q = {
        .app_path = "/usr/bin/app", .event = POLICY_EV_CONNECT,
        .has_remote = true, .local_port = 40000, .remote_port = 10777,
    };
    policy_addr_parse("10.0.0.1", &q.local);
    policy_addr_parse("10.0.0.2", &q.remote);
    expect_verdict(p, &q, true, "r777", 2);

    /* Inbound: the local port is the service port. */
    q.event = POLICY_EV_ACCEPT;
    q.dir = POLICY_DIR_INBOUND;
    q.local_port = 10778;
    q.remote_port = 10777;
    expect_verdict(p, &q, false, "r778", 2);

    q.local_port = 30000;
    expect_verdict(p, &q, true, "high", 2);

    q.event = POLICY_EV_SEND;
    q.proto = POLICY_PROTO_UDP;
    q.dir = POLICY_DIR_OUTBOUND;
    q.remote_port = 53;
    expect_verdict(p, &q, true, "global:DNS", 0);

    policy_unref(p);
    json_object_put(doc);
}

/* The indexes policy_quotas_for() reports, in order: "2 1 0 3". */
struct quota_hits {
    char text[128];
};

static void
add_quota_hit(size_t index, void *hits_)
{
    struct quota_hits *hits = hits_;
    size_t len = strlen(hits->text);
    snprintf(hits->text + len, sizeof hits->text - len, "%s%zu",
             len ? " " : "", index);
}

static void
check_quotas_for(const struct policy *p, const char *vm_uuid,
                 const char *vm_name, const char *user, const char *product,
                 const char *app_path, const char *want)
{
    struct quota_hits hits = { "" };
    policy_quotas_for(p, vm_uuid, vm_name, user, product, app_path,
                      add_quota_hit, &hits);
    assert_string_equal(hits.text, want);
}

/* A guest reports the largest byte counts the protocol allows, thousands
 * of times: a quota's usage saturates, never wraps negative, and the
 * quota keeps blocking. */
static void
test_quota_usage_saturates(void **state)
{
    (void) state;
    static const char text[] =
        "{\"quotas\":[{\"user\":\"mallory\",\"bytes_per_day\":1000,"
        "\"action\":\"block\"}]}";
    struct policy *p;
    char *error = policy_compile(text, strlen(text), &p);
    assert_null(error);
    struct quota *q = quota_create();
    struct quota_traffic t = {
        .vm_uuid = "22222222-0000-4000-8000-00000000000b", .vm_name = "vm-b",
        .user = "mallory", .product = "", .path = "",
    };
    int64_t now = INT64_C(1795300000000);
    const int64_t most = 2 * INT64_C(9007199254740991);  /* in + out */
    for (int i = 0; i < 3000; i++) {
        quota_add(q, p, now, &t, most, STORE_CHARGES_ALL, NULL, NULL);
        assert_true(quota_used(q, p, now, 0) > 0);
    }
    assert_int_equal(quota_used(q, p, now, 0), INT64_MAX);
    char reason[256];
    assert_non_null(quota_blocks(q, p, now, &t, reason, sizeof reason));
    quota_destroy(q);
    policy_unref(p);
}

/* Traffic charges only the kinds of quota it is counted for: the
 * datapath's counts of a VM's unattributed traffic its VM's quotas, a
 * guest's report of an inbound connection its user's and application's,
 * a report of what the datapath counted nothing. */
static void
test_quota_charges(void **state)
{
    (void) state;
    static const char text[] =
        "{\"user_groups\":[{\"name\":\"staff\"}],"
        "\"users\":[{\"name\":\"alice\",\"groups\":[\"staff\"]}],"
        "\"quotas\":[{\"user\":\"alice\",\"bytes_per_day\":1000},"
        "{\"user_group\":\"staff\",\"bytes_per_day\":2000},"
        "{\"vm\":\"vm-a\",\"bytes_per_day\":1000},"
        "{\"vm_group\":\"all\",\"bytes_per_day\":5000},"
        "{\"app\":\"curl\",\"bytes_per_day\":1000}]}";
    struct policy *p;
    char *error = policy_compile(text, strlen(text), &p);
    assert_null(error);
    struct quota *q = quota_create();
    struct quota_traffic t = {
        .vm_uuid = "22222222-0000-4000-8000-00000000000a", .vm_name = "vm-a",
        .user = "alice", .product = "curl", .path = "",
    };
    int64_t now = INT64_C(1795300000000);
    quota_add(q, p, now, &t, 10, STORE_CHARGES_VM, NULL, NULL);
    quota_add(q, p, now, &t, 200, STORE_CHARGES_USER | STORE_CHARGES_APP,
              NULL, NULL);
    quota_add(q, p, now, &t, 3000, 0, NULL, NULL);
    quota_add(q, p, now, &t, 4000, STORE_CHARGES_ALL, NULL, NULL);
    static const int64_t want[] = {
        4200, 4200, 4010, 4010, 4200,   /* user, group, vm, vm group, app */
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        assert_int_equal(quota_used(q, p, now, i), want[i]);
    }
    quota_destroy(q);
    policy_unref(p);
}

/* Which quotas apply to a connection: the user's own, the user's groups
 * up to "everyone" (each once, whatever the order of the user's groups),
 * the VM's own, its groups up to "all", and an app quota by product
 * (ignoring case), file name or path (exactly), each once. */
static void
test_quotas(void **state)
{
    (void) state;
    static const char text[] =
        "{\"vm_groups\":[{\"name\":\"corp\"},"
        "{\"name\":\"lab\",\"parent\":\"corp\"}],"
        "\"vms\":[{\"uuid\":\"22222222-0000-4000-8000-00000000000a\","
        "\"name\":\"vm-a\",\"group\":\"lab\"}],"
        "\"user_groups\":[{\"name\":\"staff\"},"
        "{\"name\":\"interns\",\"parent\":\"staff\"}],"
        "\"users\":[{\"name\":\"alice\",\"groups\":[\"interns\"]},"
        "{\"name\":\"bob\",\"groups\":[\"staff\"]},"
        "{\"name\":\"dave\",\"groups\":[\"staff\",\"interns\"]},"
        "{\"name\":\"erin\",\"groups\":[\"interns\",\"staff\"]}],"
        "\"quotas\":["
        "{\"user_group\":\"staff\",\"bytes_per_day\":1000,"
        "\"action\":\"block\"},"
        "{\"user_group\":\"interns\",\"bytes_per_day\":500},"
        "{\"vm_group\":\"corp\",\"bytes_per_day\":0,"
        "\"action\":\"block\"},"
        "{\"user\":\"alice\",\"bytes_per_day\":400,\"notify\":true},"
        "{\"user_group\":\"everyone\",\"bytes_per_day\":5000},"
        "{\"vm_group\":\"lab\",\"bytes_per_day\":300},"
        "{\"app\":\"curl\",\"bytes_per_day\":100},"
        "{\"vm\":\"vm-a\",\"bytes_per_day\":250}]}";
    static const char uuid[] = "22222222-0000-4000-8000-00000000000a";
    struct policy *p;
    char *error = policy_compile(text, strlen(text), &p);
    if (error) {
        fail_msg("%s", error);
    }

    /* The zero quota on "corp" is not listed. */
    assert_int_equal(policy_n_quotas(p), 7);
    static const struct {
        enum policy_quota_kind kind;
        const char *kind_name, *subject;
        int64_t bytes;
        bool block, notify;
    } want[] = {
        { POLICY_QUOTA_USER_GROUP, "user_group", "staff", 1000, true, false },
        { POLICY_QUOTA_USER_GROUP, "user_group", "interns", 500, false,
          false },
        { POLICY_QUOTA_USER, "user", "alice", 400, false, true },
        { POLICY_QUOTA_USER_GROUP, "user_group", "everyone", 5000, false,
          false },
        { POLICY_QUOTA_VM_GROUP, "vm_group", "lab", 300, false, false },
        { POLICY_QUOTA_APP, "app", "curl", 100, false, false },
        { POLICY_QUOTA_VM, "vm", "vm-a", 250, false, false },
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        const struct policy_quota *q = policy_quota_at(p, i);
        assert_non_null(q);
        assert_int_equal(q->kind, want[i].kind);
        assert_string_equal(policy_quota_kind_name(q->kind),
                            want[i].kind_name);
        assert_string_equal(q->subject, want[i].subject);
        assert_int_equal(q->bytes_per_day, want[i].bytes);
        assert_int_equal(q->block, want[i].block);
        assert_int_equal(q->notify, want[i].notify);
    }
    assert_null(policy_quota_at(p, 7));

    /* alice: herself, interns, staff, everyone; the VM, lab; curl by
     * product. */
    check_quotas_for(p, uuid, "vm-a", "alice", "curl", "/opt/x/fetch",
                     "2 1 0 3 6 4 5");
    /* bob, on no known VM: staff, everyone; curl by file name. */
    check_quotas_for(p, NULL, NULL, "bob", "", "/usr/bin/curl", "0 3 5");
    /* Not listed: only "everyone" (no quota on "all", none on wget). */
    check_quotas_for(p, "33333333-0000-4000-8000-000000000009", "vm-z",
                     "carol", "wget", "/usr/bin/wget", "3");
    check_quotas_for(p, NULL, NULL, NULL, NULL, NULL, "3");

    /* The VM by name, by uuid in either case, by uuid with another name:
     * the same quotas. */
    check_quotas_for(p, NULL, "vm-a", NULL, "", "", "3 6 4");
    check_quotas_for(p, "", "vm-a", NULL, "", "", "3 6 4");
    check_quotas_for(p, uuid, NULL, NULL, "", "", "3 6 4");
    check_quotas_for(p, "22222222-0000-4000-8000-00000000000A", NULL, NULL,
                     "", "", "3 6 4");
    check_quotas_for(p, uuid, "vm-b", NULL, "", "", "3 6 4");
    /* An unknown uuid with the VM's name is the VM, as in decisions. */
    check_quotas_for(p, "22222222-0000-4000-8000-00000000000b", "vm-a",
                     NULL, "", "", "3 6 4");
    /* Another VM: "all" only, which has no quota. */
    check_quotas_for(p, "22222222-0000-4000-8000-00000000000b", "vm-b",
                     NULL, "", "", "3");

    /* Shared ancestors once, whichever group comes first. */
    check_quotas_for(p, NULL, NULL, "dave", "", "", "0 3 1");
    check_quotas_for(p, NULL, NULL, "erin", "", "", "1 0 3");

    /* One app quota matched three ways is reported once; the file name
     * and the path compare exactly. */
    check_quotas_for(p, NULL, NULL, NULL, "CURL", "/usr/bin/curl", "3 5");
    check_quotas_for(p, NULL, NULL, NULL, "", "/usr/bin/Curl", "3");
    check_quotas_for(p, NULL, NULL, NULL, "", "curl", "3 5");
    policy_unref(p);

    /* A quota on an unlisted VM, by uuid (any case) or by name; an app
     * quota by path. */
    static const char text2[] =
        "{\"quotas\":[{\"vm\":\"33333333-0000-4000-8000-00000000000B\","
        "\"bytes_per_day\":7},{\"vm\":\"vm-z\",\"bytes_per_day\":8},"
        "{\"app\":\"/opt/x/fetch\",\"bytes_per_day\":9}]}";
    assert_null(policy_compile(text2, strlen(text2), &p));
    check_quotas_for(p, "33333333-0000-4000-8000-00000000000b", "vm-y",
                     NULL, "", "", "0");
    check_quotas_for(p, "33333333-0000-4000-8000-00000000000c", "vm-z",
                     NULL, "", "/opt/x/fetch", "1 2");
    check_quotas_for(p, "33333333-0000-4000-8000-00000000000B", "vm-z",
                     NULL, "", "/usr/bin/fetch", "0 1");
    policy_unref(p);

    /* No quotas: nothing applies. */
    assert_null(policy_compile("{}", 2, &p));
    assert_int_equal(policy_n_quotas(p), 0);
    assert_null(policy_quota_at(p, 0));
    check_quotas_for(p, uuid, "vm-a", "alice", "curl", "/usr/bin/curl", "");
    policy_unref(p);
}

/* A host name for test_site_names(): 'label' bytes of "a", then ".b"
 * labels up to 'total' bytes ('total' - 'label' even, so that it ends with
 * a label). */
static char *
long_name(size_t label, size_t total)
{
    char *name = xmalloc(total + 1);
    memset(name, 'a', label);
    for (size_t i = label; i < total; i++) {
        name[i] = (i - label) % 2 ? 'b' : '.';
    }
    name[total] = '\0';
    assert_true(name[total - 1] != '.');
    return name;
}

/* Compiles a policy whose one site list has the site 'site'; returns the
 * error, or NULL. */
static char *
compile_one_site(const char *site)
{
    struct json_object *doc = json_tokener_parse(
        "{\"sites\":[{\"mode\":\"deny-all-except\",\"sites\":[]}]}");
    struct json_object *list = msg_get(json_object_array_get_idx(
                                           msg_get(doc, "sites"), 0),
                                       "sites");
    json_object_array_add(list, json_object_new_string(site));
    const char *text = json_object_to_json_string(doc);
    struct policy *p = NULL;
    char *error = policy_compile(text, strlen(text), &p);
    policy_unref(p);
    json_object_put(doc);
    return error;
}

/* Host names the site lists accept, and those they refuse. */
static void
test_site_names(void **state)
{
    (void) state;
    char *label63 = long_name(63, 71), *label64 = long_name(64, 72);
    char *name253 = long_name(11, 253), *name254 = long_name(10, 254);
    char *name253dot = xasprintf("%s.", name253);
    const char *good[] = {
        "localhost", "a.example.", "Mixed.Case.Example",
        "xn--bcher-kva.example", "123.example", "a-b.c-d", "1a.2b", label63,
        name253, name253dot,
        "10.0.0.1", "10.0.0.0/8", "2001:db8::1", "2001:db8::/32",
    };
    const char *bad[] = {
        "-a.example", "a-.example", "a.example-", "a..example", ".example",
        "a.example..", ".", "exa_mple.com", "exa mple.com", "10.0.0.300",
        "1.2.3", "10.1", "\xc3\xbc.example", label64, name254,
        "10.0.0.0/33", "2001:db8::/129", "10.0.0.1/", "http://a.example",
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        char *error = compile_one_site(good[i]);
        if (error) {
            fail_msg("\"%s\": %s", good[i], error);
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *error = compile_one_site(bad[i]);
        char *want = xasprintf("policy.sites[0].sites[0]: \"%.64s\" is "
                               "neither a host name nor an address or "
                               "prefix", bad[i]);
        if (!error || strcmp(error, want)) {
            fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i],
                     error ? error : "(accepted)", want);
        }
        free(error);
        free(want);
    }

    /* Longer than a name with its trailing dot: the schema refuses it. */
    char *name255 = long_name(11, 255);
    char *error = compile_one_site(name255);
    assert_string_equal(error, "policy.sites[0].sites[0]: length 255 out of "
                        "range 1..254");
    free(error);
    free(name255);
    free(label63);
    free(label64);
    free(name253);
    free(name254);
    free(name253dot);
}

/* The host names a decision asked about (test_sites()), and the one
 * that has every address. */
struct name_log {
    char text[512];
    const char *has;
};

static bool
log_has_addr(const char *fqdn, const struct policy_addr *addr, void *log_)
{
    struct name_log *log = log_;
    size_t len = strlen(log->text);
    (void) addr;
    snprintf(log->text + len, sizeof log->text - len, "%s%s",
             len ? " " : "", fqdn);
    return log->has && !strcmp(fqdn, log->has);
}

static void
decide_site(struct policy *p, const char *user, const char *remote,
            int port, struct name_log *log, struct policy_verdict *v)
{
    struct policy_request q = {
        .user = user, .app_path = "/usr/bin/curl",
        .event = POLICY_EV_CONNECT, .has_remote = true,
        .local_port = 40000, .remote_port = port,
        .site_has_addr = log ? log_has_addr : NULL, .site_aux = log,
    };
    struct appid_result app = {
        .product = "curl", .description = "", .vendor = "", .version = "",
        .category = "downloader", .source = "",
        .match = APPID_MATCH_EXACT,
    };
    q.app = &app;
    policy_addr_parse("10.0.0.1", &q.local);
    assert_true(policy_addr_parse(remote, &q.remote));
    policy_decide(p, &q, v);
}

/* The site lists as policy_site_list_at() shows them, the host names to
 * resolve, what the engine asks the caller, and the cost of a decision
 * with 10,000 lists. */
static void
test_sites(void **state)
{
    (void) state;
    static const char text[] =
        "{\"protocols\":[{\"name\":\"HTTP\",\"ports\":[80]},"
        "{\"name\":\"HTTPS\",\"ports\":[443]}],"
        "\"user_groups\":[{\"name\":\"staff\"}],"
        "\"users\":[{\"name\":\"bob\",\"groups\":[\"staff\"]}],"
        "\"sites\":["
        "{\"user_group\":\"staff\",\"mode\":\"deny-all-except\","
        "\"sites\":[\"Intranet.Example.\",\"10.0.0.0/8\",\"wiki.example\","
        "\"2001:DB8::/32\"],\"protocols\":[\"HTTPS\",\"HTTP\"],"
        "\"log\":false,\"description\":\"intranet only\"},"
        "{\"user\":\"bob\",\"mode\":\"allow-all-except\","
        "\"sites\":[\"WIKI.example\",\"games.example\",\"localhost.\"],"
        "\"notify\":true},"
        "{\"mode\":\"allow-all-except\","
        "\"sites\":[\"intranet.example\",\"bad.example\"]}]}";
    struct policy *p;
    char *error = policy_compile(text, strlen(text), &p);
    if (error) {
        fail_msg("%s", error);
    }

    assert_int_equal(policy_n_site_lists(p), 3);
    const struct policy_site_list *l = policy_site_list_at(p, 0);
    assert_int_equal(l->kind, POLICY_SITE_USER_GROUP);
    assert_string_equal(policy_site_kind_name(l->kind), "user_group");
    assert_string_equal(l->subject, "staff");
    assert_int_equal(l->mode, POLICY_SITES_DENY_ALL_EXCEPT);
    assert_string_equal(policy_site_mode_name(l->mode), "deny-all-except");
    assert_int_equal(l->n_sites, 4);
    static const struct policy_site want_sites[] = {
        { "intranet.example", true }, { "10.0.0.0/8", false },
        { "wiki.example", true }, { "2001:DB8::/32", false },
    };
    for (size_t i = 0; i < ARRAY_SIZE(want_sites); i++) {
        assert_string_equal(l->sites[i].text, want_sites[i].text);
        assert_int_equal(l->sites[i].is_name, want_sites[i].is_name);
    }
    assert_int_equal(l->n_protocols, 2);
    assert_string_equal(l->protocols[0], "HTTPS");
    assert_string_equal(l->protocols[1], "HTTP");
    assert_true(l->has_log);
    assert_false(l->log);
    assert_false(l->has_notify);
    assert_string_equal(l->rule, "site:user_group:staff");
    assert_string_equal(l->description, "intranet only");

    l = policy_site_list_at(p, 1);
    assert_int_equal(l->kind, POLICY_SITE_USER);
    assert_string_equal(l->subject, "bob");
    assert_int_equal(l->mode, POLICY_SITES_ALLOW_ALL_EXCEPT);
    assert_string_equal(policy_site_mode_name(l->mode), "allow-all-except");
    assert_string_equal(l->sites[0].text, "wiki.example");
    assert_string_equal(l->sites[2].text, "localhost");
    assert_int_equal(l->n_protocols, 0);
    assert_false(l->has_log);
    assert_true(l->has_notify);
    assert_true(l->notify);
    assert_string_equal(l->rule, "site:user:bob");

    l = policy_site_list_at(p, 2);
    assert_int_equal(l->kind, POLICY_SITE_GLOBAL);
    assert_string_equal(policy_site_kind_name(l->kind), "global");
    assert_string_equal(l->subject, "");
    assert_string_equal(l->rule, "site:global");
    assert_string_equal(l->description, "");
    assert_null(policy_site_list_at(p, 3));

    /* Each host name once, in lowercase without the trailing dot, in
     * order of first appearance; no addresses. */
    static const char *const names[] = {
        "intranet.example", "wiki.example", "games.example", "localhost",
        "bad.example",
    };
    assert_int_equal(policy_n_site_names(p), ARRAY_SIZE(names));
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        assert_string_equal(policy_site_name_at(p, i), names[i]);
    }
    assert_null(policy_site_name_at(p, ARRAY_SIZE(names)));

    /* Outermost first: the global list, staff's, bob's.  Addresses cost
     * no question: staff's prefix holds, so its names are not asked
     * about. */
    struct policy_verdict v;
    struct name_log log = { "", NULL };
    decide_site(p, "bob", "10.1.1.1", 443, &log, &v);
    assert_true(v.allow);
    assert_string_equal(v.rule, "protocol:HTTPS");
    assert_string_equal(log.text, "intranet.example bad.example "
                        "wiki.example games.example localhost");
    assert_int_equal(policy_last_examined(p), 3);

    /* Without a callback no name has an address. */
    decide_site(p, "bob", "172.16.0.1", 443, NULL, &v);
    assert_false(v.allow);
    assert_string_equal(v.rule, "site:user_group:staff");
    assert_string_equal(v.restricted_by, "staff");
    assert_false(v.log);

    /* A name staff may reach and bob may not. */
    log = (struct name_log) { "", "wiki.example" };
    decide_site(p, "bob", "172.16.0.1", 80, &log, &v);
    assert_false(v.allow);
    assert_string_equal(v.rule, "site:user:bob");
    assert_true(v.notify);
    assert_string_equal(v.reason, "172.16.0.1 is site \"wiki.example\" of "
                        "user \"bob\" (allow-all-except); it overrides "
                        "protocol:HTTP");
    assert_string_equal(log.text, "intranet.example bad.example "
                        "intranet.example wiki.example wiki.example");

    /* Not bob's: staff's list does not apply to carol, not in "users". */
    log = (struct name_log) { "", NULL };
    decide_site(p, "carol", "172.16.0.1", 80, &log, &v);
    assert_true(v.allow);
    assert_int_equal(policy_last_examined(p), 1);
    policy_unref(p);

    /* A user's groups at the same depth: their lists in the order of
     * "sites", whatever the order of the groups. */
    static const char siblings[] =
        "{\"protocols\":[{\"name\":\"HTTP\",\"ports\":[80]}],"
        "\"user_groups\":[{\"name\":\"g1\"},{\"name\":\"g2\"}],"
        "\"users\":[{\"name\":\"bob\",\"groups\":[\"g1\",\"g2\"]}],"
        "\"sites\":[{\"user_group\":\"g2\",\"mode\":\"deny-all-except\","
        "\"sites\":[\"10.0.0.2\"]},{\"user_group\":\"g1\","
        "\"mode\":\"deny-all-except\",\"sites\":[\"10.0.0.1\"]}]}";
    assert_null(policy_compile(siblings, strlen(siblings), &p));
    decide_site(p, "bob", "10.0.0.3", 80, NULL, &v);
    assert_string_equal(v.rule, "site:user_group:g2");
    decide_site(p, "bob", "10.0.0.2", 80, NULL, &v);
    assert_string_equal(v.rule, "site:user_group:g1");
    assert_string_equal(v.restricted_by, "g1");
    policy_unref(p);

    /* 10,000 lists, one per user, half of them not in "users": a
     * decision examines its user's, never all of them. */
    struct json_object *doc = json_tokener_parse(
        "{\"protocols\":[{\"name\":\"HTTP\",\"ports\":[80]}]}");
    struct json_object *users = json_object_new_array();
    struct json_object *sites = json_object_new_array();
    for (int i = 0; i < 10000; i++) {
        char buf[160];
        if (i % 2 == 0) {
            snprintf(buf, sizeof buf, "{\"name\":\"u%d\"}", i);
            json_object_array_add(users, json_tokener_parse(buf));
        }
        snprintf(buf, sizeof buf, "{\"user\":\"u%d\",\"mode\":"
                 "\"allow-all-except\",\"sites\":[\"192.0.2.%d\","
                 "\"h%d.example\"]}", i, i % 256, i);
        json_object_array_add(sites, json_tokener_parse(buf));
    }
    json_object_object_add(doc, "users", users);
    json_object_object_add(doc, "sites", sites);
    const char *big = json_object_to_json_string(doc);
    error = policy_compile(big, strlen(big), &p);
    if (error) {
        fail_msg("%s", error);
    }
    assert_int_equal(policy_n_site_lists(p), 10000);
    assert_int_equal(policy_n_site_names(p), 10000);

    decide_site(p, "u777", "192.0.2.9", 80, NULL, &v);      /* Not listed. */
    assert_false(v.allow);
    assert_string_equal(v.rule, "site:user:u777");
    assert_true(policy_last_examined(p) <= 1);
    decide_site(p, "u778", "192.0.2.9", 80, NULL, &v);      /* Listed. */
    assert_true(v.allow);
    assert_true(policy_last_examined(p) <= 1);
    log = (struct name_log) { "", "h778.example" };
    decide_site(p, "u778", "192.0.2.200", 80, &log, &v);
    assert_false(v.allow);
    assert_string_equal(v.rule, "site:user:u778");
    assert_string_equal(log.text, "h778.example");
    policy_unref(p);

    /* At most 1,000 sites in a list. */
    struct json_object *list = msg_get(json_object_array_get_idx(sites, 0),
                                       "sites");
    for (int i = 2; i <= 1000; i++) {
        json_object_array_add(list, json_object_new_string("a.example"));
    }
    big = json_object_to_json_string(doc);
    error = policy_compile(big, strlen(big), &p);
    assert_string_equal(error, "policy.sites[0].sites: has 1001 elements, "
                        "not 1..1000");
    free(error);
    json_object_put(doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_files),
        cmocka_unit_test(test_bad_policies),
        cmocka_unit_test(test_index_bounds_work),
        cmocka_unit_test(test_system_settings),
        cmocka_unit_test(test_index_app_protocols),
        cmocka_unit_test(test_quotas),
        cmocka_unit_test(test_quota_usage_saturates),
        cmocka_unit_test(test_quota_charges),
        cmocka_unit_test(test_site_names),
        cmocka_unit_test(test_sites),
    };
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
