/* Unit tests for security-vm/events.c, the event stream's numbering and
 * ring (docs/operations.md, "The event stream"), and for the plaintext
 * URL rule of common/rpc.c (here because it links nng). */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/msg.h"
#include "common/rpc.h"
#include "security-vm/events.h"

static void
publish(struct events *e, int n)
{
    for (int i = 0; i < n; i++) {
        struct json_object *ev = json_object_new_object();
        msg_put_string(ev, "type", "decision");
        events_publish(e, ev);
    }
}

/* events.next after 'after' without waiting. */
static struct json_object *
next(struct events *e, int64_t after)
{
    struct json_object *rq = json_object_new_object();
    if (after >= 0) {
        msg_put_int(rq, "after", after);
    }
    msg_put_int(rq, "wait_ms", 0);
    struct json_object *r = events_next(e, NULL, rq);
    json_object_put(rq);
    assert_non_null(r);
    return r;
}

static void
expect(struct events *e, int64_t after, size_t n_events, int64_t want_next,
       int64_t lost)
{
    struct json_object *r = next(e, after);
    assert_int_equal(json_object_array_length(msg_get(r, "events")),
                     n_events);
    assert_int_equal(msg_get_int(r, "next", -1), want_next);
    assert_int_equal(msg_get_int(r, "lost", -1), lost);
    json_object_put(r);
}

static void
test_ring(void **state)
{
    (void) state;
    struct events *e = events_create(NULL);
    expect(e, -1, 0, 0, 0);             /* Where the stream is: empty. */
    expect(e, 0, 0, 0, 0);
    publish(e, 3);
    expect(e, -1, 0, 3, 0);             /* Now at 3, nothing given. */
    expect(e, 0, 3, 3, 0);
    expect(e, 2, 1, 3, 0);
    expect(e, 3, 0, 3, 0);
    expect(e, 9, 3, 3, 0);              /* From before a restart. */
    publish(e, EVENTS_KEPT + 997);      /* 5096 in all: 1..1000 gone. */
    expect(e, 0, EVENTS_PER_REPLY, 1000 + EVENTS_PER_REPLY, 1000);
    expect(e, 5000, 96, EVENTS_KEPT + 1000, 0);
    events_destroy(e);
    events_destroy(NULL);
}

static void
test_plaintext(void **state)
{
    (void) state;
    static const char *const remote[] = {
        "tcp://0.0.0.0:7100", "tcp://*:7100", "tcp://:7100",
        "tcp://10.0.0.1:7100", "tcp://secvm.example:7100",
        "tcp4://192.168.1.1:1", "tcp6://[2001:db8::1]:1", "tcp://[::]:1",
        "ws://10.0.0.1:80/x", "tcp://128.0.0.1:1",
    };
    static const char *const fine[] = {
        "tcp://127.0.0.1:7100", "tcp://127.9.8.7:1", "tcp://localhost:1",
        "tcp://LOCALHOST:1", "tcp://[::1]:1", "tcp6://[::ffff:127.0.0.1]:1",
        "tls+tcp://10.0.0.1:7100", "ipc:///run/appfw/x.sock",
        "inproc://x", "wss://10.0.0.1:443/", "",
    };
    for (size_t i = 0; i < sizeof remote / sizeof *remote; i++) {
        assert_true(rpc_url_is_plaintext_remote(remote[i]));
    }
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
        assert_false(rpc_url_is_plaintext_remote(fine[i]));
    }
}

static int n_warnings;

static void
count_warning(const char *msg)
{
    assert_non_null(strstr(msg, "plaintext off this host"));
    n_warnings++;
}

static void
test_plaintext_check(void **state)
{
    (void) state;
    const char *const urls[][2] = {
        { "decide-url", "tcp://0.0.0.0:7100" },
        { "console-url", "ipc:///run/x" }, { "flow-url", "" },
        { "other-url", "tcp://10.1.1.1:1" },
    };
    char *error = rpc_urls_check_plaintext(urls, 4, false, count_warning);
    assert_non_null(error);
    assert_non_null(strstr(error, "decide-url=tcp://0.0.0.0:7100"));
    free(error);
    assert_int_equal(n_warnings, 0);
    assert_null(rpc_urls_check_plaintext(urls, 4, true, count_warning));
    assert_int_equal(n_warnings, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_plaintext),
        cmocka_unit_test(test_plaintext_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
