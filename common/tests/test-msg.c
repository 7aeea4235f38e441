/* Unit tests for common/msg.c: the message schema, parsing, encoding, and
 * the examples in docs/protocol.md. */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/msg.h"
#include "common/util.h"

#define SHA "5f0b1a0d8e3e0b6c3b1f8f5d9a1b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b"

static const char base_decide[] =
    "{\"type\":\"decide\",\"id\":17,\"event\":\"connect\",\"protocol\":\"tcp\","
    "\"direction\":\"outbound\","
    "\"local\":{\"address\":\"10.77.0.1\",\"port\":40312},"
    "\"remote\":{\"address\":\"10.77.0.2\",\"port\":80},"
    "\"app\":{\"path\":\"/usr/bin/curl\",\"sha256\":\"" SHA "\"},"
    "\"process\":{\"pid\":4242},\"user\":{\"uid\":1000}}";

static const char base_stats[] =
    "{\"type\":\"stats\",\"interval\":30,\"flows\":["
    "{\"protocol\":\"tcp\",\"local\":{\"address\":\"10.0.0.1\",\"port\":1},"
    "\"remote\":{\"address\":\"10.0.0.2\",\"port\":2}},"
    "{\"protocol\":\"udp\",\"local\":{\"address\":\"::1\",\"port\":3},"
    "\"remote\":{\"address\":\"::2\",\"port\":4}}]}";

static const char base_push[] =
    "{\"type\":\"policy_push\",\"version\":3,\"default\":\"deny\",\"rules\":["
    "{\"id\":\"a\",\"action\":\"allow\",\"remote\":\"10.0.0.0/8\"},"
    "{\"id\":\"b\",\"action\":\"deny\",\"port_min\":1,\"port_max\":2}]}";

static const char base_hello[] =
    "{\"type\":\"hello\",\"version_min\":1,\"version_max\":1,"
    "\"role\":\"agent\"}";

static char *
parse_error(const char *text)
{
    struct json_object *obj;
    char *error = msg_parse(text, strlen(text), &obj, NULL);
    if (!error) {
        json_object_put(obj);
    }
    return error;
}

/* Returns 'base' with the member at dot-separated 'path' (array indexes as
 * numbers: "flows.1.remote") set to the JSON text 'value', or removed if
 * 'value' is NULL. */
static char *
mutate(const char *base, const char *path, const char *value)
{
    struct json_object *root = json_tokener_parse(base);
    assert_non_null(root);

    char *copy = xstrdup(path);
    struct json_object *cur = root;
    char *save = NULL;
    char *key = strtok_r(copy, ".", &save);
    for (char *next; (next = strtok_r(NULL, ".", &save)); key = next) {
        if (json_object_is_type(cur, json_type_array)) {
            cur = json_object_array_get_idx(cur, atoi(key));
        } else {
            assert_true(json_object_object_get_ex(cur, key, &cur));
        }
        assert_non_null(cur);
    }
    if (value) {
        struct json_object *v = json_tokener_parse(value);
        assert_true(v || !strcmp(value, "null"));
        if (json_object_is_type(cur, json_type_array)) {
            json_object_array_put_idx(cur, atoi(key), v);
        } else {
            json_object_object_add(cur, key, v);
        }
    } else {
        json_object_object_del(cur, key);
    }
    char *text = xstrdup(json_object_to_json_string_ext(
                             root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    free(copy);
    return text;
}

struct reject_case {
    const char *base;
    const char *path;
    const char *value;          /* NULL: delete the member. */
    const char *error;          /* The expected message, exactly. */
};

static const struct reject_case reject_cases[] = {
    /* Required members. */
    { base_decide, "id", NULL, "decide.id: missing" },
    { base_decide, "app.path", NULL, "decide.app.path: missing" },
    { base_decide, "remote", NULL,
      "decide.remote: missing (required unless event is listen)" },
    { base_decide, "process", NULL,
      "decide.process: missing (required unless agent is false)" },
    { base_decide, "user", NULL,
      "decide.user: missing (required unless agent is false)" },
    { base_stats, "flows.1.local", NULL, "stats.flows[1].local: missing" },

    /* Integers. */
    { base_decide, "remote.port", "70000",
      "decide.remote.port: 70000 out of range 0..65535" },
    { base_decide, "remote.port", "-1",
      "decide.remote.port: -1 out of range 0..65535" },
    { base_decide, "id", "0", "decide.id: 0 out of range 1..9007199254740991" },
    { base_decide, "id", "9007199254740992",
      "decide.id: 9007199254740992 out of range 1..9007199254740991" },
    { base_decide, "id", "18446744073709551614",
      "decide.id: 18446744073709551614 out of range 1..9007199254740991" },
    { base_decide, "id", "18446744073709551615",
      "decide.id: too large, out of range 1..9007199254740991" },
    { base_decide, "process.pid", "4194305",
      "decide.process.pid: 4194305 out of range 1..4194304" },
    { base_decide, "user.uid", "4294967295",
      "decide.user.uid: 4294967295 out of range 0..4294967294" },
    { base_decide, "id", "1.5",
      "decide.id: must be an integer, not a number with a fraction" },
    { base_decide, "id", "\"17\"", "decide.id: must be an integer, not a string" },
    { base_decide, "id", "true", "decide.id: must be an integer, not a boolean" },
    { base_decide, "id", "null", "decide.id: must be an integer, not null" },

    /* Strings. */
    { base_decide, "app.path", "\"\"",
      "decide.app.path: length 0 out of range 1..4096" },
    { base_decide, "app.path", "17", "decide.app.path: must be a string, "
      "not an integer" },
    { base_decide, "app.path", "\"/bin/a\\u0000b\"",
      "decide.app.path: contains a NUL character" },
    { base_decide, "user.domain",
      "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
      "decide.user.domain: longer than 253 bytes" },

    /* Enumerations. */
    { base_decide, "event", "\"bind\"", "decide.event: \"bind\" is not one "
      "of connect, listen, accept, send, close" },
    { base_decide, "protocol", "\"sctp\"",
      "decide.protocol: \"sctp\" is not one of tcp, udp, icmp" },
    { base_decide, "direction", "[]",
      "decide.direction: must be a string, not an array" },

    /* Addresses, hashes, identifiers. */
    { base_decide, "remote.address", "\"10.0.0.256\"",
      "decide.remote.address: \"10.0.0.256\" is not an IPv4 or IPv6 "
      "address" },
    { base_decide, "remote.address", "\"fe80::1%eth0\"",
      "decide.remote.address: \"fe80::1%eth0\" is not an IPv4 or IPv6 "
      "address" },
    { base_decide, "remote.address", "\"::ffff:1.2.3\"",
      "decide.remote.address: \"::ffff:1.2.3\" is not an IPv4 or IPv6 "
      "address" },
    { base_decide, "app.sha256", "\"abc\"",
      "decide.app.sha256: must be 64 lowercase hex digits" },
    { base_decide, "app.sha256",
      "\"5F0B1A0D8E3E0B6C3B1F8F5D9A1B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F7A8B\"",
      "decide.app.sha256: must be 64 lowercase hex digits" },
    { base_decide, "app.sha256",
      "\"zf0b1a0d8e3e0b6c3b1f8f5d9a1b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b\"",
      "decide.app.sha256: must be 64 lowercase hex digits" },
    { base_decide, "vm", "{\"uuid\":\"not-a-uuid\"}",
      "decide.vm.uuid: \"not-a-uuid\" is not a UUID" },
    { base_decide, "vm", "{\"uuid\":\"6d1f0c52-9a4e-4b1c-8c3e-1234567890zz\"}",
      "decide.vm.uuid: \"6d1f0c52-9a4e-4b1c-8c3e-1234567890zz\" is not a "
      "UUID" },
    { base_decide, "vm", "{\"uuid\":\"6d1f0c52-9a4e-4b1c-8c3e-123456789012\","
      "\"mac\":\"52:54:00:12:34\"}",
      "decide.vm.mac: \"52:54:00:12:34\" is not a MAC address" },
    { base_decide, "vm", "{\"uuid\":\"6d1f0c52-9a4e-4b1c-8c3e-123456789012\","
      "\"ofport\":65280}",
      "decide.vm.ofport: 65280 out of range 1..65279" },
    { base_push, "rules.0.remote", "\"10.0.0.0/33\"",
      "policy_push.rules[0].remote: \"10.0.0.0/33\" is not an address or "
      "address/prefix" },
    { base_push, "rules.0.remote", "\"10.0.0.0/\"",
      "policy_push.rules[0].remote: \"10.0.0.0/\" is not an address or "
      "address/prefix" },
    { base_push, "rules.0.remote", "\"2001:db8::/129\"",
      "policy_push.rules[0].remote: \"2001:db8::/129\" is not an address or "
      "address/prefix" },
    { base_push, "rules.0.remote", "\"/8\"",
      "policy_push.rules[0].remote: \"/8\" is not an address or "
      "address/prefix" },
    { base_push, "rules.0.remote", "\"10.0.0.0/x\"",
      "policy_push.rules[0].remote: \"10.0.0.0/x\" is not an address or "
      "address/prefix" },

    /* Objects and arrays. */
    { base_decide, "app", "[]", "decide.app: must be an object, not an array" },
    { base_stats, "flows", "{}", "stats.flows: must be an array, not an "
      "object" },
    { base_stats, "flows.1.remote.port", "65536",
      "stats.flows[1].remote.port: 65536 out of range 0..65535" },
    { base_stats, "flows.0", "7",
      "stats.flows[0]: must be an object, not an integer" },
    { base_hello, "capabilities", "[\"a\", \"\"]",
      "hello.capabilities[1]: length 0 out of range 1..32" },
    { base_hello, "capabilities",
      "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\","
      "\"12\",\"13\",\"14\",\"15\",\"16\",\"17\",\"18\",\"19\",\"20\",\"21\","
      "\"22\",\"23\",\"24\",\"25\",\"26\",\"27\",\"28\",\"29\",\"30\",\"31\","
      "\"32\",\"33\"]",
      "hello.capabilities: has 33 elements, not 0..32" },
    { base_hello, "version_max", "true",
      "hello.version_max: must be an integer, not a boolean" },
    { base_decide, "app.deleted", "1",
      "decide.app.deleted: must be true or false, not an integer" },

    /* Rules spanning fields. */
    { base_hello, "version_min", "2",
      "hello.version_max: 1 is below version_min 2" },
    { base_push, "rules.1.port_min", "3",
      "policy_push.rules[1].port_max: 2 is below port_min 3" },

    /* The type. */
    { base_decide, "type", "\"decidex\"",
      "message.type: unknown type \"decidex\"" },
    { base_decide, "type", "\"decide\\u0000\"",
      "message.type: unknown type \"decide\"" },
    { base_decide, "type", "7", "message.type: must be a string, "
      "not an integer" },
    { base_decide, "type", NULL, "message.type: missing" },
};

static void
test_rejections(void **state)
{
    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(reject_cases); i++) {
        const struct reject_case *c = &reject_cases[i];
        char *text = mutate(c->base, c->path, c->value);
        char *error = parse_error(text);
        if (!error || strcmp(error, c->error)) {
            fail_msg("case %zu (%s): got \"%s\", want \"%s\"", i, c->path,
                     error ? error : "(accepted)", c->error);
        }
        free(error);
        free(text);
    }
}

struct raw_case {
    const char *text;
    const char *error;
};

static const struct raw_case raw_cases[] = {
    { "", "message: empty" },
    { "[]", "message: must be an object, not an array" },
    { "17", "message: must be an object, not an integer" },
    { "{\"type\":\"heartbeat\",\"seq\":1", "message: truncated JSON" },
    { "{\"type\":\"heartbeat\",\"seq\":1}x",
      "message: invalid JSON at byte 28: unexpected character" },
    { "{\"type\":\"heartbeat\",\"seq\":1}{}",
      "message: invalid JSON at byte 28: unexpected character" },
    { "{'type':'heartbeat'}",
      "message: invalid JSON at byte 8: unexpected character" },
    { "{\"type\":\"heartbeat\",\"seq\":1,\"x\":[[[[[[[[1]]]]]]]]}",
      "message: nesting deeper than 8 levels" },
    { "{\"type\":\"heartbeat\",\"seq\":1,\"x\":\"\xff\xfe\"}",
      "message: invalid JSON at byte 33: invalid utf-8 string" },
    { "{\"type\":\"heartbeat\",\"seq\":99999999999999999999999}",
      "heartbeat.seq: too large, out of range 0..9007199254740991" },
    /* A recheck's decides are checked as decides, and carry their VM. */
    { "{\"type\":\"recheck\",\"id\":1,\"hypervisor\":\"hv1\","
      "\"revision\":2,\"decides\":[{\"type\":\"decide\",\"id\":1,"
      "\"event\":\"connect\",\"protocol\":\"tcp\","
      "\"direction\":\"outbound\","
      "\"local\":{\"address\":\"10.0.0.1\",\"port\":1},"
      "\"remote\":{\"address\":\"10.0.0.2\",\"port\":2},"
      "\"app\":{\"path\":\"/bin/x\"},\"process\":{\"pid\":1},"
      "\"user\":{\"uid\":0}}]}",
      "recheck.decides[0]: decide.vm: missing" },
    { "{\"type\":\"recheck\",\"id\":1,\"hypervisor\":\"hv1\","
      "\"revision\":2,\"decides\":[{\"type\":\"decide\",\"id\":1,"
      "\"event\":\"connect\",\"protocol\":\"tcp\","
      "\"direction\":\"outbound\","
      "\"local\":{\"address\":\"10.0.0.1\",\"port\":1},"
      "\"vm\":{\"uuid\":\"11111111-0000-4000-8000-00000000a001\"},"
      "\"app\":{\"path\":\"/bin/x\"},\"process\":{\"pid\":1},"
      "\"user\":{\"uid\":0}}]}",
      "recheck.decides[0]: decide.remote: missing (required unless event "
      "is listen)" },
    { "{\"type\":\"recheck\",\"id\":1,\"hypervisor\":\"hv1\","
      "\"revision\":2,\"decides\":[]}",
      "recheck.decides: has 0 elements, not 1..1024" },
};

static void
test_raw_rejections(void **state)
{
    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(raw_cases); i++) {
        char *error = parse_error(raw_cases[i].text);
        if (!error || strcmp(error, raw_cases[i].error)) {
            fail_msg("raw case %zu: got \"%s\", want \"%s\"", i,
                     error ? error : "(accepted)", raw_cases[i].error);
        }
        free(error);
    }

    /* Oversize payloads are refused before parsing. */
    char *big = xmalloc(FRAME_MAX_LEN + 2);
    memset(big, ' ', FRAME_MAX_LEN + 1);
    big[FRAME_MAX_LEN + 1] = '\0';
    char *error = parse_error(big);
    assert_string_equal(error, "message: 65537 bytes exceeds the maximum "
                        "of 65536");
    free(error);
    free(big);
}

static void
test_accepts_and_ignores_unknown_fields(void **state)
{
    (void) state;
    const char *bases[] = { base_decide, base_stats, base_push, base_hello };
    for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
        char *error = parse_error(bases[i]);
        assert_null(error);
        char *text = mutate(bases[i], "future_field", "{\"a\":[1,2,{}]}");
        error = parse_error(text);
        assert_null(error);
        free(text);
    }

    /* Listen needs no remote; IPv6 everywhere; every optional member. */
    char *text = mutate(base_decide, "remote", NULL);
    char *t2 = mutate(text, "event", "\"listen\"");
    char *t3 = mutate(t2, "local", "{\"address\":\"::\",\"port\":8080}");
    char *t4 = mutate(t3, "vm", "{\"uuid\":\"6D1F0C52-9a4e-4b1c-8c3e-"
                      "123456789012\",\"name\":\"vm1\",\"ofport\":3,"
                      "\"mac\":\"52:54:00:ab:CD:ef\"}");
    char *error = parse_error(t4);
    assert_null(error);
    free(text);
    free(t2);
    free(t3);
    free(t4);

    /* An agent's question about an unknown application has no "app";
     * switchd's about a VM without an agent has no identity at all. */
    text = mutate(base_decide, "app", NULL);
    assert_null(parse_error(text));
    t2 = mutate(text, "process", NULL);
    t3 = mutate(t2, "user", NULL);
    t4 = mutate(t3, "agent", "false");
    assert_null(parse_error(t4));
    free(text);
    free(t2);
    free(t3);
    free(t4);
}

/* Parses 'text', which must be valid, and returns the object. */
static struct json_object *
parse_ok(const char *text)
{
    struct json_object *obj;
    char *error = msg_parse(text, strlen(text), &obj, NULL);
    assert_null(error);
    return obj;
}

/* A member that only another type defines never reaches the reader of a
 * parsed message, whatever its JSON type, at any depth. */
static void
test_parse_drops_members_the_type_does_not_define(void **state)
{
    (void) state;
    char *t1 = mutate(base_decide, "flows", "1");
    char *t2 = mutate(t1, "apps", "\"x\"");
    char *t3 = mutate(t2, "remote.flows", "{\"a\":[1]}");
    struct json_object *obj = parse_ok(t3);
    assert_null(msg_get(obj, "flows"));
    assert_null(msg_get(obj, "apps"));
    assert_null(msg_get(obj, "remote.flows"));
    assert_true(msg_get_int(obj, "remote.port", -1) >= 0);
    assert_non_null(msg_get_object(obj, "local"));
    json_object_put(obj);
    free(t1);
    free(t2);
    free(t3);

    /* Inside the objects of an array too; defined members stay. */
    t1 = mutate(base_stats, "flows.0.sessions", "7");
    obj = parse_ok(t1);
    struct json_object *flows = msg_get_array(obj, "flows");
    assert_non_null(flows);
    assert_true(msg_array_length(flows) >= 1);
    struct json_object *f0 = json_object_array_get_idx(flows, 0);
    assert_null(msg_get(f0, "sessions"));
    assert_string_equal(msg_get_string(f0, "protocol", ""), "tcp");
    json_object_put(obj);
    free(t1);
}

static void
test_typed_accessors(void **state)
{
    (void) state;
    struct json_object *obj = json_tokener_parse(
        "{\"a\":[1],\"o\":{\"x\":1},\"s\":\"t\",\"i\":5}");
    assert_non_null(msg_get_array(obj, "a"));
    assert_null(msg_get_array(obj, "o"));
    assert_null(msg_get_array(obj, "s"));
    assert_null(msg_get_array(obj, "none"));
    assert_non_null(msg_get_object(obj, "o"));
    assert_null(msg_get_object(obj, "a"));
    assert_null(msg_get_object(obj, "i"));
    assert_int_equal(msg_array_length(msg_get(obj, "a")), 1);
    assert_int_equal(msg_array_length(msg_get(obj, "o")), 0);
    assert_int_equal(msg_array_length(msg_get(obj, "i")), 0);
    assert_int_equal(msg_array_length(NULL), 0);
    json_object_put(obj);
}

static void
test_type_names(void **state)
{
    (void) state;
    for (int t = 0; t < MSG_N_TYPES; t++) {
        enum msg_type back;
        assert_true(msg_type_from_name(msg_type_name(t), &back));
        assert_int_equal(back, t);
    }
    enum msg_type dummy;
    assert_false(msg_type_from_name("nope", &dummy));
    assert_string_equal(msg_type_name(MSG_N_TYPES), "unknown");
}

static void
test_encode_round_trip(void **state)
{
    (void) state;
    struct json_object *obj;
    enum msg_type type;
    assert_null(msg_parse(base_decide, strlen(base_decide), &obj, &type));
    assert_int_equal(type, MSG_DECIDE);

    struct buf b;
    buf_init(&b);
    assert_int_equal(msg_encode(obj, &b), 0);

    struct frame_decoder d;
    frame_decoder_init(&d, 0);
    struct frame f;
    size_t used;
    assert_int_equal(frame_decoder_feed(&d, buf_head(&b), buf_size(&b),
                                        &used, &f), 0);
    assert_non_null(f.data);
    struct json_object *obj2;
    assert_null(msg_parse(f.data, f.len, &obj2, &type));
    assert_int_equal(type, MSG_DECIDE);
    assert_true(json_object_equal(obj, obj2));
    assert_string_equal(msg_get_string(obj2, "app.path", NULL),
                        "/usr/bin/curl");
    assert_int_equal(msg_get_int(obj2, "remote.port", -1), 80);
    assert_int_equal(msg_get_int(obj2, "remote.nope", -1), -1);
    assert_int_equal(msg_get_int(obj2, "app.path", -1), -1);
    assert_true(msg_get_bool(obj2, "app.deleted", true));
    assert_null(msg_get(obj2, "app.path.deeper"));

    free(f.data);
    json_object_put(obj);
    json_object_put(obj2);
    frame_decoder_destroy(&d);
    buf_destroy(&b);
}

static void
test_encode_too_big(void **state)
{
    (void) state;
    struct json_object *obj = msg_create(MSG_ERROR);
    char *big = xmalloc(FRAME_MAX_LEN + 1);
    memset(big, 'a', FRAME_MAX_LEN);
    big[FRAME_MAX_LEN] = '\0';
    json_object_object_add(obj, "message", json_object_new_string(big));
    struct buf b;
    buf_init(&b);
    assert_int_equal(msg_encode(obj, &b), EMSGSIZE);
    assert_int_equal(buf_size(&b), 0);
    buf_destroy(&b);
    json_object_put(obj);
    free(big);
}

static void
test_error_create(void **state)
{
    (void) state;
    char *long_text = xmalloc(3000);
    memset(long_text, 'e', 2999);
    long_text[2999] = '\0';
    struct json_object *obj = msg_error_create("bad_message", 9, "%s",
                                               long_text);
    assert_null(msg_validate(obj, NULL));
    assert_int_equal(strlen(msg_get_string(obj, "message", "")), 1024);
    assert_int_equal(msg_get_int(obj, "id", 0), 9);
    json_object_put(obj);
    free(long_text);

    obj = msg_error_create("version", 0, "no %s", "overlap");
    assert_null(msg_validate(obj, NULL));
    assert_null(msg_get(obj, "id"));
    json_object_put(obj);
}

static void
test_hello_create(void **state)
{
    (void) state;
    struct json_object *hello = msg_hello_create("switchd", "appfw-switchd");
    enum msg_type type;
    assert_null(msg_validate(hello, &type));
    assert_int_equal(type, MSG_HELLO);
    assert_string_equal(msg_get_string(hello, "software", ""),
                        "appfw-switchd");
    int version;
    assert_null(msg_hello_negotiate(hello, MSG_VERSION_MIN, MSG_VERSION_MAX,
                                    &version));
    assert_int_equal(version, MSG_VERSION_MAX);
    json_object_put(hello);

    hello = msg_hello_create("agent", NULL);
    assert_null(msg_validate(hello, &type));
    assert_null(msg_get(hello, "software"));
    json_object_put(hello);
}

static void
test_hello_negotiate(void **state)
{
    (void) state;
    struct json_object *hello;
    const char *text = "{\"type\":\"hello\",\"version_min\":1,"
                       "\"version_max\":3,\"role\":\"switchd\"}";
    assert_null(msg_parse(text, strlen(text), &hello, NULL));

    int version = 0;
    assert_null(msg_hello_negotiate(hello, 1, 1, &version));
    assert_int_equal(version, 1);
    assert_null(msg_hello_negotiate(hello, 2, 5, &version));
    assert_int_equal(version, 3);

    char *error = msg_hello_negotiate(hello, 4, 5, &version);
    assert_string_equal(error, "hello: peer speaks versions 1..3, we speak "
                        "4..5");
    free(error);
    json_object_put(hello);
}

/* Every ```json block in docs/protocol.md must validate, as the type of
 * the "### name" heading above it. */
static void
test_protocol_doc_examples(void **state)
{
    (void) state;
    FILE *f = fopen("docs/protocol.md", "r");
    if (!f) {
        fail_msg("docs/protocol.md: cannot open (run from the repository "
                 "root)");
    }

    char line[1024];
    char heading[64] = "";
    char *block = NULL;
    size_t block_len = 0;
    int examples = 0;
    bool seen[MSG_N_TYPES] = { false };

    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "### ", 4)) {
            snprintf(heading, sizeof heading, "%.63s", line + 4);
            heading[strcspn(heading, "\n")] = '\0';
        } else if (!strcmp(line, "```json\n")) {
            block = xstrdup("");
            block_len = 0;
        } else if (block && !strcmp(line, "```\n")) {
            struct json_object *obj;
            enum msg_type type;
            char *error = msg_parse(block, block_len, &obj, &type);
            if (error) {
                fail_msg("docs/protocol.md example under \"%s\": %s",
                         heading, error);
            }
            assert_string_equal(msg_type_name(type), heading);
            seen[type] = true;
            json_object_put(obj);
            free(block);
            block = NULL;
            examples++;
        } else if (block) {
            size_t n = strlen(line);
            block = xrealloc(block, block_len + n + 1);
            memcpy(block + block_len, line, n + 1);
            block_len += n;
        }
    }
    fclose(f);
    free(block);

    for (int t = 0; t < MSG_N_TYPES; t++) {
        if (!seen[t]) {
            fail_msg("docs/protocol.md has no example of %s",
                     msg_type_name(t));
        }
    }
    assert_true(examples >= MSG_N_TYPES);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_raw_rejections),
        cmocka_unit_test(test_accepts_and_ignores_unknown_fields),
        cmocka_unit_test(test_parse_drops_members_the_type_does_not_define),
        cmocka_unit_test(test_typed_accessors),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_encode_too_big),
        cmocka_unit_test(test_error_create),
        cmocka_unit_test(test_hello_create),
        cmocka_unit_test(test_hello_negotiate),
        cmocka_unit_test(test_protocol_doc_examples),
    };
    return cmocka_run_group_tests_name("msg", tests, NULL, NULL);
}
