/* Unit tests for guest-agent/decide.c: each decide it writes must parse,
 * pass the protocol's schema, and equal the message json-c builds from the
 * same identity and fields. */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/msg.h"
#include "common/util.h"
#include "guest-agent/decide.h"
#include "guest-agent/identity.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

/* A hostile string: quotes, backslashes, control characters, valid and
 * invalid UTF-8, up to 'max' bytes; NULL now and then. */
static char *
rnd_string(size_t max)
{
    if (rnd() % 8 == 0) {
        return NULL;
    }
    static const char *const pieces[] = {
        "a", "Z", "/", " ", "\"", "\\", "\x01", "\x1f", "\x7f", "\n",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xc3",
        "\xed\xa0\x80", "u0000", "\\u",
    };
    size_t len = rnd() % (max + 1);
    char *s = xmalloc(len + 1);
    size_t n = 0;
    while (n < len) {
        const char *p = pieces[rnd() % ARRAY_SIZE(pieces)];
        size_t pl = strlen(p);
        if (n + pl > len) {
            break;
        }
        memcpy(s + n, p, pl);
        n += pl;
    }
    s[n] = '\0';
    return s;
}

static void
rnd_identity(struct identity *id)
{
    memset(id, 0, sizeof *id);
    id->pid = rnd() % 4194304 + 1;
    id->ppid = rnd() % 3 ? (int) (rnd() % 4194304) : -1;
    id->comm = rnd_string(15);
    id->kernel_thread = rnd() % 16 == 0;
    /* The agent asks only about processes whose executable it knows: a
     * decide without "app" fails the schema. */
    if (!id->kernel_thread) {
        char *tail = rnd_string(300);
        id->exe_path = xasprintf("/%s", tail ? tail : "");
        free(tail);
        id->exe_name = rnd_string(40);
        id->exe_deleted = rnd() % 2;
        id->exe_memfd = rnd() % 2;
    }
    id->have_stat = rnd() % 2;
    id->exe_size = rnd() % (UINT64_C(1) << 40);
    id->have_sha256 = rnd() % 4;
    for (size_t i = 0; i < sizeof id->sha256; i++) {
        id->sha256[i] = rnd();
    }
    id->cmdline = rnd_string(600);
    id->cgroup = rnd_string(100);
    id->unit = rnd_string(30);
    id->uid = rnd() % 3 ? (uint32_t) (rnd() % 70000) : 0;
    id->gid = rnd() % 5 ? (uint32_t) (rnd() % 70000) : (uint32_t) -1;
    id->user = rnd_string(20);
    id->group = rnd_string(20);
    id->domain = rnd_string(40);
    id->have_login = rnd() % 2;
    id->login_uid = rnd() % 70000;
    id->login = rnd_string(20);
}

static void
rnd_addr(int family, char *text)
{
    uint8_t a[16];
    for (size_t i = 0; i < sizeof a; i++) {
        a[i] = rnd();
    }
    inet_ntop(family, a, text, INET6_ADDRSTRLEN);
}

/* The decide as the agent built it with json-c before decide.c. */
static struct json_object *
json_c_decide(int64_t id, const struct decide_fields *f,
              const struct identity *ident)
{
    struct json_object *m = msg_create(MSG_DECIDE);
    msg_put_string(m, "event", f->event);
    msg_put_string(m, "protocol", f->protocol);
    msg_put_string(m, "direction", f->inbound ? "inbound" : "outbound");
    msg_put_endpoint(m, "local", f->local_addr, f->local_port);
    if (f->remote_addr) {
        msg_put_endpoint(m, "remote", f->remote_addr, f->remote_port);
    }
    identity_to_json(ident, m);
    if (f->cookie >= 0) {
        msg_put_int(m, "cookie", f->cookie);
    }
    msg_put_int(m, "id", id);
    return m;
}

static void
test_random_against_json_c(void **state)
{
    (void) state;
    static const char *const events[] = {
        "connect", "send", "accept", "listen",
    };
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < 3000; i++) {
        struct identity ident;
        rnd_identity(&ident);
        int family = rnd() % 2 ? AF_INET : AF_INET6;
        char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];
        rnd_addr(family, l);
        rnd_addr(family, r);
        const char *event = events[rnd() % ARRAY_SIZE(events)];
        struct decide_fields f = {
            .event = event,
            .protocol = rnd() % 2 ? "tcp" : "udp",
            .inbound = rnd() % 2,
            .local_addr = l, .local_port = rnd(),
            .remote_addr = strcmp(event, "listen") ? r : NULL,
            .remote_port = rnd(),
            .cookie = rnd() % 4 ? (int64_t) (rnd() & MSG_INT_MAX) : 0,
        };
        int64_t id = rnd() % 2 ? (int64_t) (rnd() % MSG_INT_MAX) + 1 : 1;

        size_t idlen;
        char *idtext = decide_identity_text(&ident, &idlen);
        assert_int_equal(idlen, strlen(idtext));
        buf_clear(&b);
        assert_int_equal(decide_encode(&b, id, &f, idtext, idlen), 0);

        struct json_object *got;
        enum msg_type type;
        char *error = msg_parse(buf_head(&b), buf_size(&b), &got, &type);
        if (error) {
            fail_msg("%s in %.*s", error, (int) buf_size(&b),
                     (const char *) buf_head(&b));
        }
        assert_int_equal(type, MSG_DECIDE);
        struct json_object *want = json_c_decide(id, &f, &ident);
        if (!json_object_equal(got, want)) {
            fail_msg("got %s\nwant %s", json_object_to_json_string(got),
                     json_object_to_json_string(want));
        }
        json_object_put(got);
        json_object_put(want);
        free(idtext);
        identity_destroy(&ident);
    }
    buf_destroy(&b);
}

/* Strings outside the identity are escaped too, and a negative cookie
 * leaves "cookie" out. */
static void
test_escaping(void **state)
{
    (void) state;
    struct decide_fields f = {
        .event = "con\"ne\\ct\x01\x1f", .protocol = "\n",
        .local_addr = "a\tb", .local_port = 65535,
        .remote_addr = "\xc3\xa9", .remote_port = 0,
        .cookie = -1,
    };
    struct buf b;
    buf_init(&b);
    assert_int_equal(decide_encode(&b, INT64_MIN + 1, &f, "", 0), 0);
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(
        tok, (const char *) buf_head(&b), buf_size(&b));
    assert_non_null(o);
    assert_int_equal(json_tokener_get_parse_end(tok), buf_size(&b));
    assert_string_equal(msg_get_string(o, "event", ""),
                        "con\"ne\\ct\x01\x1f");
    assert_string_equal(msg_get_string(o, "protocol", ""), "\n");
    assert_string_equal(msg_get_string(o, "local.address", ""), "a\tb");
    assert_int_equal(msg_get_int(o, "local.port", 0), 65535);
    assert_string_equal(msg_get_string(o, "remote.address", ""), "\xc3\xa9");
    assert_int_equal(msg_get_int(o, "remote.port", 1), 0);
    assert_int_equal(msg_get_int(o, "id", 0), INT64_MIN + 1);
    assert_null(msg_get(o, "cookie"));
    assert_string_equal(msg_get_string(o, "direction", ""), "outbound");
    json_object_put(o);
    json_tokener_free(tok);
    buf_destroy(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_against_json_c),
        cmocka_unit_test(test_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
