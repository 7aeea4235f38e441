/* Unit tests for guest-agent/lpolicy.c: rule matching, the docs/protocol.md
 * example, errors, persistence and fail modes. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/msg.h"
#include "common/util.h"
#include "guest-agent/lpolicy.h"

#define SHA_A "5f0b1a0d8e3e0b6c3b1f8f5d9a1b1c2d" \
              "3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b"

/* The example in docs/protocol.md, "policy_push". */
static const char doc_example[] =
    "{\"type\": \"policy_push\", \"version\": 12, \"default\": \"deny\", "
    "\"ttl\": 300,\n"
    " \"rules\": [\n"
    "   {\"id\": \"allow-dns\", \"action\": \"allow\", \"protocol\": \"udp\", "
    "\"port_min\": 53, \"port_max\": 53},\n"
    "   {\"id\": \"deny-nc\", \"action\": \"deny\", "
    "\"name\": \"nc.openbsd\"},\n"
    "   {\"id\": \"allow-web\", \"action\": \"allow\", "
    "\"protocol\": \"tcp\",\n"
    "    \"remote\": \"10.77.0.0/24\", \"port_min\": 80, \"port_max\": 443}]}";

static struct json_object *
parse_json(const char *text)
{
    struct json_object *obj = json_tokener_parse(text);
    assert_non_null(obj);
    return obj;
}

/* Builds a policy from JSON text that must be accepted. */
static struct lpolicy *
policy(const char *text)
{
    struct json_object *obj = parse_json(text);
    char *error = (char *) 1;
    struct lpolicy *p = lpolicy_from_json(obj, &error);
    if (!p) {
        fail_msg("%s: %s", text, error);
    }
    assert_null(error);
    json_object_put(obj);
    return p;
}

/* A policy of the given rules (JSON array members) and default deny. */
static struct lpolicy *
rules(const char *rules_text)
{
    char *text = xasprintf("{\"type\":\"policy_push\",\"version\":1,"
                           "\"default\":\"deny\",\"rules\":[%s]}",
                           rules_text);
    struct lpolicy *p = policy(text);
    free(text);
    return p;
}

/* A TCP connect by uid 1000 to 'addr' (IPv4 or IPv6 text; NULL: no remote
 * address) port 'port'. */
static struct lpolicy_event
event(const char *addr, uint16_t port)
{
    struct lpolicy_event ev;
    memset(&ev, 0, sizeof ev);
    ev.uid = 1000;
    ev.event = VC_CONNECT;
    ev.protocol = IPPROTO_TCP;
    ev.direction = VCACHE_OUTBOUND;
    if (addr) {
        ev.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
        assert_int_equal(inet_pton(ev.family, addr, ev.addr), 1);
    }
    ev.port = port;
    return ev;
}

/* Evaluates 'ev' and returns the deciding rule, "" for the default, with
 * "+" or "-" in front for allow or deny. */
static const char *
eval(const struct lpolicy *p, const struct lpolicy_event *ev)
{
    static char buf[200];
    const char *rule = (const char *) 1;
    bool allow = lpolicy_eval(p, ev, &rule);
    snprintf(buf, sizeof buf, "%c%s", allow ? '+' : '-', rule ? rule : "");
    return buf;
}

static void
test_doc_example(void **state)
{
    (void) state;
    struct json_object *obj = parse_json(doc_example);
    assert_null(msg_validate(obj, NULL));
    char *error;
    struct lpolicy *p = lpolicy_from_json(obj, &error);
    assert_non_null(p);
    json_object_put(obj);

    assert_int_equal(lpolicy_version(p), 12);
    assert_false(lpolicy_default_allow(p));
    assert_int_equal(lpolicy_ttl(p), 300);
    assert_int_equal(lpolicy_n_rules(p), 3);

    struct lpolicy_event ev = event("8.8.8.8", 53);
    ev.protocol = IPPROTO_UDP;
    assert_string_equal(eval(p, &ev), "+allow-dns");
    ev.port = 54;
    assert_string_equal(eval(p, &ev), "-");
    ev = event("8.8.8.8", 53);          /* TCP: not allow-dns. */
    assert_string_equal(eval(p, &ev), "-");

    ev = event("10.77.0.2", 80);
    assert_string_equal(eval(p, &ev), "+allow-web");
    ev.port = 443;
    assert_string_equal(eval(p, &ev), "+allow-web");
    ev.port = 444;
    assert_string_equal(eval(p, &ev), "-");
    ev = event("10.77.1.2", 80);
    assert_string_equal(eval(p, &ev), "-");

    ev = event("10.77.0.2", 80);
    ev.name = "nc.openbsd";
    assert_string_equal(eval(p, &ev), "-deny-nc");
    ev.name = "curl";
    assert_string_equal(eval(p, &ev), "+allow-web");

    /* nc asking DNS: allow-dns comes first. */
    ev = event("10.77.0.53", 53);
    ev.protocol = IPPROTO_UDP;
    ev.name = "nc.openbsd";
    assert_string_equal(eval(p, &ev), "+allow-dns");

    /* 'rule' may be NULL. */
    assert_true(lpolicy_eval(p, &ev, NULL));

    lpolicy_destroy(p);
    lpolicy_destroy(NULL);
}

static void
test_first_match(void **state)
{
    (void) state;
    struct lpolicy *p = rules(
        "{\"id\":\"a\",\"action\":\"deny\",\"port_min\":22,\"port_max\":22},"
        "{\"id\":\"b\",\"action\":\"allow\",\"remote\":\"10.0.0.0/8\"},"
        "{\"id\":\"c\",\"action\":\"deny\",\"remote\":\"10.1.0.0/16\"},"
        "{\"id\":\"d\",\"action\":\"allow\"}");
    struct lpolicy_event ev = event("10.1.2.3", 22);
    assert_string_equal(eval(p, &ev), "-a");
    ev.port = 23;
    assert_string_equal(eval(p, &ev), "+b");    /* Not c: b is first. */
    ev = event("192.0.2.1", 23);
    assert_string_equal(eval(p, &ev), "+d");
    lpolicy_destroy(p);

    /* The same rules in another order decide otherwise. */
    p = rules(
        "{\"id\":\"c\",\"action\":\"deny\",\"remote\":\"10.1.0.0/16\"},"
        "{\"id\":\"b\",\"action\":\"allow\",\"remote\":\"10.0.0.0/8\"}");
    ev = event("10.1.2.3", 23);
    assert_string_equal(eval(p, &ev), "-c");
    ev = event("10.2.2.3", 23);
    assert_string_equal(eval(p, &ev), "+b");
    lpolicy_destroy(p);
}

static void
test_defaults(void **state)
{
    (void) state;
    struct lpolicy *p = policy("{\"version\":0,\"default\":\"allow\","
                               "\"rules\":[]}");
    struct lpolicy_event ev = event("10.0.0.1", 1);
    assert_string_equal(eval(p, &ev), "+");
    assert_int_equal(lpolicy_version(p), 0);
    assert_true(lpolicy_default_allow(p));
    assert_int_equal(lpolicy_ttl(p), 0);
    assert_int_equal(lpolicy_n_rules(p), 0);
    lpolicy_destroy(p);

    p = policy("{\"version\":9007199254740991,\"default\":\"deny\","
               "\"rules\":[{\"id\":\"x\",\"action\":\"allow\","
               "\"port_min\":2}],\"ttl\":86400,\"future\":[1,2]}");
    assert_string_equal(eval(p, &ev), "-");
    ev.port = 2;
    assert_string_equal(eval(p, &ev), "+x");
    assert_int_equal(lpolicy_version(p), 9007199254740991ULL);
    assert_int_equal(lpolicy_ttl(p), 86400);
    lpolicy_destroy(p);
}

static void
test_fields(void **state)
{
    (void) state;
    uint8_t sha_a[32], sha_b[32];
    memset(sha_a, 0, sizeof sha_a);
    for (int i = 0; i < 32; i++) {
        unsigned int x;
        assert_int_equal(sscanf(&SHA_A[2 * i], "%2x", &x), 1);
        sha_a[i] = x;
    }
    memcpy(sha_b, sha_a, 32);
    sha_b[31] ^= 1;

    /* sha256. */
    struct lpolicy *p = rules("{\"id\":\"s\",\"action\":\"allow\","
                              "\"sha256\":\"" SHA_A "\"}");
    struct lpolicy_event ev = event("10.0.0.1", 80);
    assert_string_equal(eval(p, &ev), "-");     /* Unknown hash. */
    ev.sha256 = sha_a;
    assert_string_equal(eval(p, &ev), "+s");
    ev.sha256 = sha_b;
    assert_string_equal(eval(p, &ev), "-");
    lpolicy_destroy(p);

    /* name: exact, case-sensitive. */
    p = rules("{\"id\":\"n\",\"action\":\"allow\",\"name\":\"curl\"}");
    ev = event("10.0.0.1", 80);
    assert_string_equal(eval(p, &ev), "-");     /* Unknown name. */
    ev.name = "curl";
    assert_string_equal(eval(p, &ev), "+n");
    ev.name = "Curl";
    assert_string_equal(eval(p, &ev), "-");
    ev.name = "curl2";
    assert_string_equal(eval(p, &ev), "-");
    ev.name = "";
    assert_string_equal(eval(p, &ev), "-");
    lpolicy_destroy(p);

    /* uid, including 0 and the largest. */
    p = rules("{\"id\":\"u0\",\"action\":\"allow\",\"uid\":0},"
              "{\"id\":\"umax\",\"action\":\"allow\",\"uid\":4294967294}");
    ev = event("10.0.0.1", 80);
    assert_string_equal(eval(p, &ev), "-");
    ev.uid = 0;
    assert_string_equal(eval(p, &ev), "+u0");
    ev.uid = 4294967294u;
    assert_string_equal(eval(p, &ev), "+umax");
    ev.uid = 4294967295u;
    assert_string_equal(eval(p, &ev), "-");
    lpolicy_destroy(p);

    /* event. */
    p = rules("{\"id\":\"l\",\"action\":\"allow\",\"event\":\"listen\"},"
              "{\"id\":\"c\",\"action\":\"allow\",\"event\":\"close\"}");
    ev = event(NULL, 8080);
    assert_string_equal(eval(p, &ev), "-");
    ev.event = VC_LISTEN;
    assert_string_equal(eval(p, &ev), "+l");
    ev.event = VC_CLOSE;
    assert_string_equal(eval(p, &ev), "+c");
    ev.event = VC_ACCEPT;
    assert_string_equal(eval(p, &ev), "-");
    lpolicy_destroy(p);

    /* direction. */
    p = rules("{\"id\":\"in\",\"action\":\"allow\","
              "\"direction\":\"inbound\"}");
    ev = event("10.0.0.1", 80);
    assert_string_equal(eval(p, &ev), "-");
    ev.direction = VCACHE_INBOUND;
    assert_string_equal(eval(p, &ev), "+in");
    lpolicy_destroy(p);

    /* protocol. */
    p = rules("{\"id\":\"t\",\"action\":\"allow\",\"protocol\":\"tcp\"},"
              "{\"id\":\"u\",\"action\":\"allow\",\"protocol\":\"udp\"},"
              "{\"id\":\"i\",\"action\":\"allow\",\"protocol\":\"icmp\"}");
    ev = event("10.0.0.1", 0);
    assert_string_equal(eval(p, &ev), "+t");
    ev.protocol = IPPROTO_UDP;
    assert_string_equal(eval(p, &ev), "+u");
    ev.protocol = IPPROTO_ICMP;
    assert_string_equal(eval(p, &ev), "+i");
    ev.protocol = IPPROTO_ICMPV6;
    assert_string_equal(eval(p, &ev), "+i");
    ev.protocol = IPPROTO_SCTP;
    assert_string_equal(eval(p, &ev), "-");
    lpolicy_destroy(p);

    /* "any" is the same as no protocol. */
    p = rules("{\"id\":\"a\",\"action\":\"allow\",\"protocol\":\"any\"}");
    static const uint8_t protocols[] = {
        IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP,
    };
    for (size_t i = 0; i < ARRAY_SIZE(protocols); i++) {
        ev.protocol = protocols[i];
        assert_string_equal(eval(p, &ev), "+a");
    }
    lpolicy_destroy(p);

    /* All fields at once: each must match. */
    p = rules("{\"id\":\"all\",\"action\":\"allow\",\"sha256\":\"" SHA_A "\","
              "\"name\":\"curl\",\"uid\":1000,\"event\":\"connect\","
              "\"direction\":\"outbound\",\"protocol\":\"tcp\","
              "\"remote\":\"10.0.0.0/8\",\"port_min\":80,\"port_max\":80}");
    struct lpolicy_event good = event("10.9.9.9", 80);
    good.sha256 = sha_a;
    good.name = "curl";
    assert_string_equal(eval(p, &good), "+all");
    for (int i = 0; i < 9; i++) {
        ev = good;
        switch (i) {
        case 0:
            ev.sha256 = sha_b;
            break;
        case 1:
            ev.name = "wget";
            break;
        case 2:
            ev.uid = 0;
            break;
        case 3:
            ev.event = VC_SEND;
            break;
        case 4:
            ev.direction = VCACHE_INBOUND;
            break;
        case 5:
            ev.protocol = IPPROTO_UDP;
            break;
        case 6:
            ev.addr[0] = 11;
            break;
        case 7:
            ev.port = 81;
            break;
        case 8:
            ev.family = AF_INET6;
            break;
        }
        assert_string_equal(eval(p, &ev), "-");
    }
    lpolicy_destroy(p);
}

static void
test_cidr(void **state)
{
    (void) state;
    struct lpolicy_event ev;
    struct lpolicy *p;

    /* /0 matches every address of its family, and only those. */
    p = rules("{\"id\":\"v4\",\"action\":\"allow\",\"remote\":\"0.0.0.0/0\"},"
              "{\"id\":\"v6\",\"action\":\"deny\",\"remote\":\"::/0\"}");
    ev = event("255.255.255.255", 1);
    assert_string_equal(eval(p, &ev), "+v4");
    ev = event("0.0.0.0", 1);
    assert_string_equal(eval(p, &ev), "+v4");
    ev = event("ffff::1", 1);
    assert_string_equal(eval(p, &ev), "-v6");
    ev = event("::ffff:10.0.0.1", 1);   /* IPv4-mapped is IPv6. */
    assert_string_equal(eval(p, &ev), "-v6");
    ev = event(NULL, 1);                /* No remote: neither. */
    assert_string_equal(eval(p, &ev), "-");
    lpolicy_destroy(p);

    /* /32 and a bare IPv4 address: that host. */
    p = rules("{\"id\":\"h\",\"action\":\"allow\","
              "\"remote\":\"192.0.2.7/32\"},"
              "{\"id\":\"b\",\"action\":\"allow\",\"remote\":\"192.0.2.9\"}");
    ev = event("192.0.2.7", 1);
    assert_string_equal(eval(p, &ev), "+h");
    ev = event("192.0.2.9", 1);
    assert_string_equal(eval(p, &ev), "+b");
    ev = event("192.0.2.8", 1);
    assert_string_equal(eval(p, &ev), "-");
    ev = event("::c000:207", 1);        /* Same bytes, other family. */
    assert_string_equal(eval(p, &ev), "-");
    lpolicy_destroy(p);

    /* /128 and a bare IPv6 address. */
    p = rules("{\"id\":\"h\",\"action\":\"allow\","
              "\"remote\":\"fd00:77::53/128\"},"
              "{\"id\":\"b\",\"action\":\"allow\","
              "\"remote\":\"fd00:77::54\"}");
    ev = event("fd00:77::53", 53);
    assert_string_equal(eval(p, &ev), "+h");
    ev = event("fd00:77::54", 53);
    assert_string_equal(eval(p, &ev), "+b");
    ev = event("fd00:77::55", 53);
    assert_string_equal(eval(p, &ev), "-");
    lpolicy_destroy(p);

    /* Prefixes that end inside a byte; host bits in the rule are
     * ignored. */
    p = rules("{\"id\":\"20\",\"action\":\"allow\","
              "\"remote\":\"172.16.0.0/12\"},"
              "{\"id\":\"m\",\"action\":\"allow\","
              "\"remote\":\"198.51.100.77/25\"},"
              "{\"id\":\"127\",\"action\":\"allow\","
              "\"remote\":\"2001:db8::/127\"},"
              "{\"id\":\"31\",\"action\":\"allow\","
              "\"remote\":\"2001:db8:8000::/33\"}");
    ev = event("172.16.0.0", 1);
    assert_string_equal(eval(p, &ev), "+20");
    ev = event("172.31.255.255", 1);
    assert_string_equal(eval(p, &ev), "+20");
    ev = event("172.32.0.0", 1);
    assert_string_equal(eval(p, &ev), "-");
    ev = event("172.15.255.255", 1);
    assert_string_equal(eval(p, &ev), "-");
    ev = event("198.51.100.0", 1);
    assert_string_equal(eval(p, &ev), "+m");
    ev = event("198.51.100.127", 1);
    assert_string_equal(eval(p, &ev), "+m");
    ev = event("198.51.100.128", 1);
    assert_string_equal(eval(p, &ev), "-");
    ev = event("2001:db8::", 1);
    assert_string_equal(eval(p, &ev), "+127");
    ev = event("2001:db8::1", 1);
    assert_string_equal(eval(p, &ev), "+127");
    ev = event("2001:db8::2", 1);
    assert_string_equal(eval(p, &ev), "-");
    ev = event("2001:db8:8000::1", 1);
    assert_string_equal(eval(p, &ev), "+31");
    ev = event("2001:db8:ffff::1", 1);
    assert_string_equal(eval(p, &ev), "+31");
    ev = event("2001:db8:7fff::1", 1);
    assert_string_equal(eval(p, &ev), "-");
    lpolicy_destroy(p);

    /* The bytes of an IPv4 address past the fourth do not matter. */
    p = rules("{\"id\":\"n\",\"action\":\"allow\",\"remote\":\"10.0.0.0/8\"}");
    ev = event("10.1.2.3", 1);
    memset(&ev.addr[4], 0xee, 12);
    assert_string_equal(eval(p, &ev), "+n");
    lpolicy_destroy(p);
}

static void
test_ports(void **state)
{
    (void) state;
    struct lpolicy *p = rules(
        "{\"id\":\"r\",\"action\":\"allow\",\"port_min\":1000,"
        "\"port_max\":2000},"
        "{\"id\":\"lo\",\"action\":\"allow\",\"port_max\":10},"
        "{\"id\":\"hi\",\"action\":\"allow\",\"port_min\":65000},"
        "{\"id\":\"one\",\"action\":\"allow\",\"port_min\":500,"
        "\"port_max\":500}");
    static const struct {
        uint16_t port;
        const char *result;
    } cases[] = {
        { 0, "+lo" }, { 10, "+lo" }, { 11, "-" }, { 499, "-" },
        { 500, "+one" }, { 501, "-" }, { 999, "-" }, { 1000, "+r" },
        { 2000, "+r" }, { 2001, "-" }, { 64999, "-" }, { 65000, "+hi" },
        { 65535, "+hi" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct lpolicy_event ev = event("10.0.0.1", cases[i].port);
        assert_string_equal(eval(p, &ev), cases[i].result);
        ev = event("fd00::1", cases[i].port);
        assert_string_equal(eval(p, &ev), cases[i].result);
    }
    lpolicy_destroy(p);

    /* An event without a remote (listen) matches no port range, not even
     * the full one. */
    p = rules("{\"id\":\"full\",\"action\":\"deny\",\"port_min\":0,"
              "\"port_max\":65535},"
              "{\"id\":\"l\",\"action\":\"allow\",\"event\":\"listen\"}");
    struct lpolicy_event ev = event(NULL, 0);
    ev.event = VC_LISTEN;
    assert_string_equal(eval(p, &ev), "+l");
    ev.port = 8080;
    assert_string_equal(eval(p, &ev), "+l");
    ev = event("10.0.0.1", 0);
    assert_string_equal(eval(p, &ev), "-full");
    lpolicy_destroy(p);
}

static void
test_errors(void **state)
{
    (void) state;
#define R "\"version\":1,\"default\":\"deny\",\"rules\":"
    static const struct {
        const char *json;
        const char *error;
    } cases[] = {
        { "[]", "policy_push: must be an object, not an array" },
        { "{\"default\":\"deny\",\"rules\":[]}",
          "policy_push.version: missing" },
        { "{\"version\":-1,\"default\":\"deny\",\"rules\":[]}",
          "policy_push.version: -1 is out of range 0..9007199254740991" },
        { "{\"version\":18446744073709551615,\"default\":\"deny\","
          "\"rules\":[]}",
          "policy_push.version: 18446744073709551615 is out of range "
          "0..9007199254740991" },
        { "{\"version\":\"1\",\"default\":\"deny\",\"rules\":[]}",
          "policy_push.version: must be an integer, not a string" },
        { "{\"version\":1.5,\"default\":\"deny\",\"rules\":[]}",
          "policy_push.version: must be an integer, not a number with a "
          "fraction" },
        { "{\"version\":1,\"rules\":[]}", "policy_push.default: missing" },
        { "{\"version\":1,\"default\":\"maybe\",\"rules\":[]}",
          "policy_push.default: \"maybe\" is not one of deny, allow" },
        { "{\"version\":1,\"default\":true,\"rules\":[]}",
          "policy_push.default: must be a string, not a boolean" },
        { "{\"version\":1,\"default\":\"deny\"}",
          "policy_push.rules: missing" },
        { "{" R "{}}", "policy_push.rules: must be an array, not an object" },
        { "{" R "[],\"ttl\":86401}",
          "policy_push.ttl: 86401 is out of range 0..86400" },
        { "{" R "[1]}", "policy_push.rules[0]: must be an object, not an "
          "integer" },
        { "{" R "[{\"action\":\"allow\"}]}",
          "policy_push.rules[0].id: missing" },
        { "{" R "[{\"id\":\"\",\"action\":\"allow\"}]}",
          "policy_push.rules[0].id: length 0 is out of range 1..128" },
        { "{" R "[{\"id\":\"a\\u0000b\",\"action\":\"allow\"}]}",
          "policy_push.rules[0].id: contains a NUL character" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\"},{\"id\":\"b\"}]}",
          "policy_push.rules[1].action: missing" },
        { "{" R "[{\"id\":\"a\",\"action\":\"drop\"}]}",
          "policy_push.rules[0].action: \"drop\" is not one of deny, allow" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"sha256\":\"abc\"}]}",
          "policy_push.rules[0].sha256: must be 64 lowercase hex digits" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"sha256\":\""
          "5F0B1A0D8E3E0B6C3B1F8F5D9A1B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F7A8B"
          "\"}]}",
          "policy_push.rules[0].sha256: must be 64 lowercase hex digits" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"name\":\"\"}]}",
          "policy_push.rules[0].name: length 0 is out of range 1..255" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"uid\":4294967295}]}",
          "policy_push.rules[0].uid: 4294967295 is out of range "
          "0..4294967294" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"event\":\"bind\"}]}",
          "policy_push.rules[0].event: \"bind\" is not one of connect, "
          "listen, accept, send, close" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"protocol\":\"sctp\"}]}",
          "policy_push.rules[0].protocol: \"sctp\" is not one of any, tcp, "
          "udp, icmp" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"direction\":\"up\"}]}",
          "policy_push.rules[0].direction: \"up\" is not one of outbound, "
          "inbound" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\","
          "\"remote\":\"10.0.0.0/33\"}]}",
          "policy_push.rules[0].remote: \"10.0.0.0/33\": prefix 33 is out of "
          "range 0..32" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\","
          "\"remote\":\"::/129\"}]}",
          "policy_push.rules[0].remote: \"::/129\": prefix 129 is out of "
          "range 0..128" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\","
          "\"remote\":\"10.0.0.0/\"}]}",
          "policy_push.rules[0].remote: \"10.0.0.0/\": the prefix length "
          "must be a number" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\","
          "\"remote\":\"10.0.0.0/-1\"}]}",
          "policy_push.rules[0].remote: \"10.0.0.0/-1\": the prefix length "
          "must be a number" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\","
          "\"remote\":\"10.0.0.0/0008\"}]}",
          "policy_push.rules[0].remote: \"10.0.0.0/0008\": the prefix "
          "length must be a number" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\","
          "\"remote\":\"10.0.0/8\"}]}",
          "policy_push.rules[0].remote: \"10.0.0/8\": not an IPv4 or IPv6 "
          "address" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\","
          "\"remote\":\"fe80::1%eth0\"}]}",
          "policy_push.rules[0].remote: \"fe80::1%eth0\": not an IPv4 or "
          "IPv6 address" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\","
          "\"remote\":\"\\n\\\"x\\\"\"}]}",
          "policy_push.rules[0].remote: \"??x?\": not an IPv4 or IPv6 "
          "address" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\","
          "\"remote\":\"1111111111111111111111111111111111111111111111111111"
          "1111111111111111111111111\"}]}",
          "policy_push.rules[0].remote: \"111111111111111111111111111111111"
          "1111111111111111111111111111111...\": not an IPv4 or IPv6 "
          "address" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"port_min\":70000}]}",
          "policy_push.rules[0].port_min: 70000 is out of range 0..65535" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"port_max\":-1}]}",
          "policy_push.rules[0].port_max: -1 is out of range 0..65535" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"port_min\":20,"
          "\"port_max\":10}]}",
          "policy_push.rules[0].port_max: 10 is below port_min 20" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"port_min\":20,"
          "\"port_max\":null}]}",
          "policy_push.rules[0].port_max: must be an integer, not null" },
        { "{" R "null}", "policy_push.rules: must be an array, not null" },
        { "{" R "[null]}",
          "policy_push.rules[0]: must be an object, not null" },
        { "{" R "[{\"id\":\"a\",\"action\":\"allow\",\"name\":null}]}",
          "policy_push.rules[0].name: must be a string, not null" },
    };
#undef R

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct json_object *obj = parse_json(cases[i].json);
        char *error = NULL;
        struct lpolicy *p = lpolicy_from_json(obj, &error);
        if (p || !error || strcmp(error, cases[i].error)) {
            fail_msg("%s:\n  expected: %s\n  got:      %s", cases[i].json,
                     cases[i].error, error ? error : "(accepted)");
        }
        free(error);
        json_object_put(obj);
    }

    /* NULL is not a policy either. */
    char *error;
    assert_null(lpolicy_from_json(NULL, &error));
    assert_string_equal(error, "policy_push: must be an object, not null");
    free(error);

    /* Too many rules. */
    struct json_object *obj = parse_json("{\"version\":1,\"default\":"
                                         "\"deny\",\"rules\":[]}");
    struct json_object *array;
    assert_true(json_object_object_get_ex(obj, "rules", &array));
    for (int i = 0; i < 4097; i++) {
        json_object_array_add(array, parse_json("{\"id\":\"r\","
                                                "\"action\":\"allow\"}"));
    }
    assert_null(lpolicy_from_json(obj, &error));
    assert_string_equal(error, "policy_push.rules: 4097 rules, more than "
                        "4096");
    free(error);
    json_object_array_del_idx(array, 0, 1);
    struct lpolicy *p = lpolicy_from_json(obj, &error);
    assert_non_null(p);
    assert_int_equal(lpolicy_n_rules(p), 4096);
    lpolicy_destroy(p);
    json_object_put(obj);
}

/* Persistence. */

static char dir[64];

static int
setup_dir(void **state)
{
    (void) state;
    strcpy(dir, "/tmp/test-lpolicy-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int
teardown_dir(void **state)
{
    (void) state;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                char *path = xasprintf("%s/%s", dir, de->d_name);
                if (unlink(path)) {
                    rmdir(path);
                }
                free(path);
            }
        }
        closedir(d);
    }
    rmdir(dir);
    return 0;
}

/* Returns the number of files in 'dir'. */
static int
count_files(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    }
    closedir(d);
    return n;
}

static void
write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static char *
read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return xstrdup(buf);
}

static void
test_save_load(void **state)
{
    (void) state;
    char *path = xasprintf("%s/policy.json", dir);
    struct json_object *json = (struct json_object *) 1;
    char *error = (char *) 1;

    /* No file yet: no policy, no error. */
    assert_null(lpolicy_load(path, &json, &error));
    assert_null(error);
    assert_null(json);

    struct json_object *push = parse_json(doc_example);
    assert_null(lpolicy_save(push, path));

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(count_files(), 1);

    struct lpolicy *p = lpolicy_load(path, &json, &error);
    assert_non_null(p);
    assert_null(error);
    assert_non_null(json);
    assert_int_equal(lpolicy_version(p), 12);
    assert_int_equal(lpolicy_ttl(p), 300);
    struct lpolicy_event ev = event("10.77.0.2", 80);
    assert_string_equal(eval(p, &ev), "+allow-web");
    assert_true(json_object_equal(json, push));
    lpolicy_destroy(p);
    json_object_put(json);

    /* 'json_out' may be NULL. */
    p = lpolicy_load(path, NULL, &error);
    assert_non_null(p);
    lpolicy_destroy(p);

    /* Saving again replaces the file. */
    struct json_object *push2 = parse_json(
        "{\"type\":\"policy_push\",\"version\":13,\"default\":\"allow\","
        "\"rules\":[]}");
    assert_null(lpolicy_save(push2, path));
    assert_int_equal(count_files(), 1);
    p = lpolicy_load(path, &json, &error);
    assert_non_null(p);
    assert_int_equal(lpolicy_version(p), 13);
    assert_true(lpolicy_default_allow(p));
    assert_true(json_object_equal(json, push2));
    lpolicy_destroy(p);
    json_object_put(json);

    /* What cannot be loaded back is not saved, and the old file stays. */
    char *before = read_text(path);
    static const struct {
        const char *json;
        const char *error;
    } bad[] = {
        { "{\"version\":13,\"default\":\"allow\",\"rules\":[]}",
          "message.type: missing" },
        { "{\"type\":\"heartbeat\",\"seq\":1}", NULL },
        { "{\"type\":\"policy_push\",\"version\":13,\"default\":\"allow\","
          "\"rules\":[{\"id\":\"a\",\"action\":\"allow\",\"port_min\":9,"
          "\"port_max\":8}]}",
          "policy_push.rules[0].port_max: 8 is below port_min 9" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct json_object *obj = parse_json(bad[i].json);
        error = lpolicy_save(obj, path);
        assert_non_null(error);
        if (bad[i].error) {
            assert_string_equal(error, bad[i].error);
        }
        free(error);
        json_object_put(obj);
    }
    char *after = read_text(path);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(count_files(), 1);

    /* A directory that does not exist. */
    char *nowhere = xasprintf("%s/no/such/dir/policy.json", dir);
    error = lpolicy_save(push, nowhere);
    assert_non_null(error);
    assert_non_null(strstr(error, "No such file or directory"));
    free(error);
    free(nowhere);

    json_object_put(push);
    json_object_put(push2);
    free(path);
}

static void
expect_load_error(const char *path, const char *expected)
{
    struct json_object *json = (struct json_object *) 1;
    char *error = NULL;
    struct lpolicy *p = lpolicy_load(path, &json, &error);
    assert_null(p);
    assert_null(json);
    if (!error || !strstr(error, expected)) {
        fail_msg("expected an error with \"%s\", got \"%s\"", expected,
                 error ? error : "(none)");
    }
    assert_true(!strncmp(error, path, strlen(path)));
    free(error);
}

static void
test_load_bad(void **state)
{
    (void) state;
    char *path = xasprintf("%s/policy.json", dir);
    char *text;

    /* A good file first, then each kind of damage. */
    struct json_object *push = parse_json(doc_example);
    assert_null(lpolicy_save(push, path));
    json_object_put(push);
    char *good = read_text(path);
    size_t len = strlen(good);

    /* Truncated at every length (a crash while writing without rename
     * would leave this). */
    for (size_t n = 0; n < len - 1; n += n < 40 ? 1 : 37) {
        write_file(path, good, n);
        expect_load_error(path, "truncated JSON");
    }

    /* Garbage, a NUL byte, trailing data, comments. */
    write_file(path, "not json", 8);
    expect_load_error(path, "invalid JSON");
    write_file(path, "{\"type\"\0:1}", 11);
    expect_load_error(path, "JSON");    /* json-c stops at the NUL. */
    text = xasprintf("%s{}", good);
    write_file(path, text, strlen(text));
    expect_load_error(path, "invalid JSON");
    free(text);
    text = xasprintf("/* x */%s", good);
    write_file(path, text, strlen(text));
    expect_load_error(path, "invalid JSON");
    free(text);

    /* Invalid UTF-8 and deep nesting. */
    write_file(path, "{\"type\":\"\xff\"}", 12);
    expect_load_error(path, "invalid JSON");
    text = xmalloc(2001);
    memset(text, '[', 1000);
    memset(text + 1000, ']', 1000);
    write_file(path, text, 2000);
    expect_load_error(path, "nesting deeper");
    free(text);

    /* Well-formed JSON that is not a policy. */
    write_file(path, "[]", 2);
    expect_load_error(path, "must be an object");
    text = "{\"type\":\"heartbeat\",\"seq\":1}";
    write_file(path, text, strlen(text));
    expect_load_error(path, "a heartbeat message, not policy_push");
    text = "{\"type\":\"policy_push\",\"version\":1,\"default\":\"deny\","
           "\"rules\":[{\"id\":\"a\",\"action\":\"allow\","
           "\"remote\":\"10.0.0.0/33\"}]}";
    write_file(path, text, strlen(text));
    expect_load_error(path, "policy_push.rules[0].remote");

    /* Too large, even of valid JSON (spaces). */
    text = xmalloc(LPOLICY_FILE_MAX + 1);
    memset(text, ' ', LPOLICY_FILE_MAX + 1);
    memcpy(text, good, len);
    write_file(path, text, LPOLICY_FILE_MAX + 1);
    expect_load_error(path, "larger than 1048576 bytes");
    free(text);

    /* Just at the limit is fine. */
    text = xmalloc(LPOLICY_FILE_MAX);
    memset(text, ' ', LPOLICY_FILE_MAX);
    memcpy(text, good, len);
    write_file(path, text, LPOLICY_FILE_MAX);
    char *error;
    struct lpolicy *p = lpolicy_load(path, NULL, &error);
    assert_non_null(p);
    lpolicy_destroy(p);
    free(text);
    unlink(path);

    /* Not a regular file. */
    char *sub = xasprintf("%s/subdir", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    expect_load_error(sub, "not a regular file");
    rmdir(sub);
    free(sub);
    char *fifo = xasprintf("%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    expect_load_error(fifo, "not a regular file");
    unlink(fifo);
    free(fifo);

    /* Unreadable paths other than a missing file are errors. */
    char *below = xasprintf("%s/policy.json/x", dir);
    write_file(path, good, len);
    expect_load_error(below, "Not a directory");
    free(below);

    free(good);
    free(path);
}

/* Fail modes. */

static void
test_fail_mode(void **state)
{
    (void) state;
    static const char *const names[] = { "closed", "open", "cached" };
    for (int i = 0; i < 3; i++) {
        enum fail_mode mode = 99;
        assert_null(fail_mode_parse(names[i], &mode));
        assert_int_equal(mode, i);
        assert_string_equal(fail_mode_name(mode), names[i]);
    }

    enum fail_mode mode = FAIL_OPEN;
    char *error = fail_mode_parse("Closed", &mode);
    assert_string_equal(error, "\"Closed\" is not one of closed, open, "
                        "cached");
    free(error);
    error = fail_mode_parse("", &mode);
    assert_string_equal(error, "\"\" is not one of closed, open, cached");
    free(error);
    error = fail_mode_parse(NULL, &mode);
    assert_non_null(error);
    free(error);
    assert_int_equal(mode, FAIL_OPEN);

    struct lpolicy *allow_all = policy(
        "{\"version\":1,\"default\":\"deny\","
        "\"rules\":[{\"id\":\"all\",\"action\":\"allow\"}]}");
    struct lpolicy *deny_all = policy(
        "{\"version\":1,\"default\":\"deny\",\"rules\":[]}");
    struct lpolicy_event ev = event("10.0.0.1", 80);
    const char *rule;

    /* closed: deny, with or without a policy. */
    rule = "x";
    assert_false(fail_mode_decide(FAIL_CLOSED, NULL, &ev, &rule));
    assert_null(rule);
    rule = "x";
    assert_false(fail_mode_decide(FAIL_CLOSED, allow_all, &ev, &rule));
    assert_null(rule);

    /* open: allow, with or without a policy. */
    rule = "x";
    assert_true(fail_mode_decide(FAIL_OPEN, NULL, &ev, &rule));
    assert_null(rule);
    rule = "x";
    assert_true(fail_mode_decide(FAIL_OPEN, deny_all, &ev, &rule));
    assert_null(rule);

    /* cached: the policy, or deny without one. */
    rule = "x";
    assert_false(fail_mode_decide(FAIL_CACHED, NULL, &ev, &rule));
    assert_null(rule);
    rule = NULL;
    assert_true(fail_mode_decide(FAIL_CACHED, allow_all, &ev, &rule));
    assert_string_equal(rule, "all");
    rule = "x";
    assert_false(fail_mode_decide(FAIL_CACHED, deny_all, &ev, &rule));
    assert_null(rule);

    /* 'rule' may be NULL; an unknown mode fails closed. */
    assert_true(fail_mode_decide(FAIL_CACHED, allow_all, &ev, NULL));
    assert_false(fail_mode_decide((enum fail_mode) 7, allow_all, &ev, NULL));
    assert_string_equal(fail_mode_name((enum fail_mode) 7), "unknown");

    lpolicy_destroy(allow_all);
    lpolicy_destroy(deny_all);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_example),
        cmocka_unit_test(test_first_match),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_errors),
        cmocka_unit_test_setup_teardown(test_save_load, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_bad, setup_dir,
                                        teardown_dir),
        cmocka_unit_test(test_fail_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
