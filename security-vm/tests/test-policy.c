/* Golden-case tests of the policy engine (security-vm/policy.c).
 *
 * Each tests/data/policy/NAME.json holds a policy, the applications as
 * appid would identify them, and cases: a request and the exact verdict
 * expected: verdict and rule always; reason, restricted_by ("-" for none),
 * log, notify, monitored, ttl and granularity where the case names them.
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
    appid_trust_from_name(msg_get_string(a, "trust", "unknown"), &r->trust);
    appid_threat_from_name(msg_get_string(a, "threat", "none"), &r->threat);
    const char *m = msg_get_string(a, "match", "exact");
    r->match = !strcmp(m, "exact") ? APPID_MATCH_EXACT
               : !strcmp(m, "pattern") ? APPID_MATCH_PATTERN
               : !strcmp(m, "name") ? APPID_MATCH_NAME
               : APPID_MATCH_UNKNOWN;
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
    };
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
