/* Unit tests for security-vm/naming.c: the naming service's behaviours
 * (docs/operations.md, "Naming service"), and its survival in the store. */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "security-vm/naming.h"
#include "security-vm/store.h"

#define VM1 "11111111-0000-4000-8000-000000000001"
#define VM2 "11111111-0000-4000-8000-000000000002"

/* Published events, as "event user address" lines. */
static char events[64][128];
static size_t n_events;

static void
collect(struct json_object *ev, void *aux)
{
    (void) aux;
    assert_true(n_events < 64);
    snprintf(events[n_events++], sizeof events[0], "%s %s %s %s",
             json_object_get_string(json_object_object_get(ev, "event")),
             json_object_get_string(json_object_object_get(ev, "vm")),
             json_object_get_string(json_object_object_get(ev, "user")),
             json_object_get_string(json_object_object_get(ev, "address")));
    json_object_put(ev);
}

/* Checks that exactly the lines given were published since the last
 * call, in order. */
static void
expect_events(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    size_t i = 0;
    for (const char *e = first; e; e = va_arg(ap, const char *), i++) {
        if (i >= n_events) {
            fail_msg("missing event \"%s\" (got %zu)", e, n_events);
        }
        assert_string_equal(events[i], e);
    }
    va_end(ap);
    if (i != n_events) {
        fail_msg("unexpected event \"%s\"", events[i]);
    }
    n_events = 0;
}

/* The time reports are made at (Unix seconds). */
static int64_t now = 1795300000;

static struct policy_addr
addr(const char *text)
{
    struct policy_addr a;
    assert_true(policy_addr_parse(text, &a));
    return a;
}

static const char *
user_at(const struct naming *nm, const char *a, const char *uuid)
{
    struct policy_addr pa = addr(a);
    return naming_user_at(nm, &pa, uuid);
}

/* One report: 'addrs' space-separated, sessions "user@since" separated
 * by spaces. */
static void
report(struct naming *nm, const char *uuid, const char *name,
       const char *addrs, const char *sessions)
{
    struct policy_addr a[8];
    size_t na = 0;
    char *copy = xstrdup(addrs), *save = NULL;
    for (char *t = strtok_r(copy, " ", &save); t;
         t = strtok_r(NULL, " ", &save)) {
        a[na++] = addr(t);
    }
    struct naming_session s[8];
    char users[8][32];
    size_t ns = 0;
    char *copy2 = xstrdup(sessions);
    for (char *t = strtok_r(copy2, " ", &save); t;
         t = strtok_r(NULL, " ", &save)) {
        char *at = strchr(t, '@');
        snprintf(users[ns], sizeof users[0], "%.*s", (int) (at - t), t);
        s[ns] = (struct naming_session) { .user = users[ns], .tty = "pts/0",
                                          .since = atoll(at + 1) };
        ns++;
    }
    naming_report(nm, uuid, name, a, na, s, ns, now);
    free(copy);
    free(copy2);
}

static void
test_logins(void **state)
{
    (void) state;
    n_events = 0;
    struct naming *nm = naming_create(NULL, 60, collect, NULL);

    /* A login waits for a valid address: link-local is not one. */
    report(nm, VM1, "vm1", "fe80::1", "alice@100");
    expect_events("address vm1  fe80::1", NULL);
    assert_null(naming_user_of(nm, VM1));
    report(nm, VM1, "vm1", "fe80::1 10.0.0.5", "alice@100");
    expect_events("address vm1  10.0.0.5", "login vm1 alice ", NULL);
    assert_string_equal(user_at(nm, "10.0.0.5", VM1), "alice");
    assert_string_equal(user_at(nm, "10.0.0.5", NULL), "alice");

    /* A repeated login is ignored. */
    report(nm, VM1, "vm1", "fe80::1 10.0.0.5", "alice@100");
    expect_events(NULL);

    /* A newer login logs out the user who was there. */
    report(nm, VM1, "vm1", "fe80::1 10.0.0.5", "alice@100 bob@200");
    expect_events("logout vm1 alice ", "login vm1 bob ", NULL);
    assert_string_equal(naming_user_of(nm, VM1), "bob");

    /* Another VM cannot borrow vm1's user through its address. */
    assert_null(user_at(nm, "10.0.0.5", VM2));

    /* Everyone gone: logged out. */
    report(nm, VM1, "vm1", "fe80::1 10.0.0.5", "");
    expect_events("logout vm1 bob ", NULL);
    assert_null(user_at(nm, "10.0.0.5", VM1));
    naming_destroy(nm);
}

static void
test_addresses(void **state)
{
    (void) state;
    n_events = 0;
    struct naming *nm = naming_create(NULL, 60, collect, NULL);
    report(nm, VM1, "vm1", "10.0.0.5", "alice@1");
    report(nm, VM2, "vm2", "10.0.0.6", "carol@1");
    n_events = 0;

    /* vm2 claims 10.0.0.5 while vm1's agent still reports it: a guest
     * cannot take a live VM's address. */
    report(nm, VM2, "vm2", "10.0.0.6 10.0.0.5", "carol@1");
    expect_events(NULL);
    assert_string_equal(user_at(nm, "10.0.0.5", NULL), "alice");

    /* vm1's agent stops reporting: past the stale time, vm2's next report
     * takes the address, released from vm1 first. */
    now += 61;
    report(nm, VM2, "vm2", "10.0.0.6 10.0.0.5", "carol@1");
    expect_events("release vm1 alice 10.0.0.5", "address vm2 carol 10.0.0.5",
                  NULL);
    assert_string_equal(user_at(nm, "10.0.0.5", NULL), "carol");
    assert_null(user_at(nm, "10.0.0.5", VM1));

    /* An address vm2 claims while vm1 has it goes to vm2 once vm1's
     * agent drops it and vm2 reports again. */
    report(nm, VM1, "vm1", "10.0.0.8", "alice@1");
    n_events = 0;
    report(nm, VM2, "vm2", "10.0.0.6 10.0.0.5 10.0.0.8", "carol@1");
    expect_events(NULL);
    report(nm, VM1, "vm1", "", "alice@1");
    expect_events("release vm1 alice 10.0.0.8", NULL);
    report(nm, VM2, "vm2", "10.0.0.6 10.0.0.5 10.0.0.8", "carol@1");
    expect_events("address vm2 carol 10.0.0.8", NULL);
    report(nm, VM2, "vm2", "10.0.0.6 10.0.0.5", "carol@1");
    n_events = 0;

    /* An administrator's address is not taken over by an agent. */
    struct policy_addr a7 = addr("10.0.0.7");
    assert_null(naming_set(nm, VM1, "vm1", NULL, &a7, 1, "root", now));
    expect_events("address vm1 alice 10.0.0.7", NULL);
    report(nm, VM2, "vm2", "10.0.0.6 10.0.0.5 10.0.0.7", "carol@1");
    expect_events(NULL);
    now += 61;
    report(nm, VM2, "vm2", "10.0.0.6 10.0.0.5 10.0.0.7", "carol@1");
    expect_events(NULL);
    assert_string_equal(user_at(nm, "10.0.0.7", NULL), "alice");

    /* ...and another administrator's entry cannot take it either. */
    char *error = naming_set(nm, VM2, "vm2", NULL, &a7, 1, "root", now);
    assert_non_null(error);
    assert_string_equal(error, "address 10.0.0.7 is set on vm vm1 already; "
                        "unset it there first");
    free(error);

    /* Unset: the agent's last report (no address) applies again. */
    assert_true(naming_unset(nm, VM1, false, true, "root", now));
    expect_events("release vm1 alice 10.0.0.7", NULL);
    assert_null(user_at(nm, "10.0.0.7", NULL));
    assert_string_equal(user_at(nm, "10.0.0.5", NULL), "carol");
    assert_false(naming_unset(nm, "99999999-0000-4000-8000-000000000009",
                              true, true, "root", now));
    naming_destroy(nm);
}

static void
test_static_user(void **state)
{
    (void) state;
    n_events = 0;
    struct naming *nm = naming_create(NULL, 60, collect, NULL);

    /* A VM without an agent: everything from the administrator. */
    struct policy_addr a = addr("10.0.0.9");
    assert_null(naming_set(nm, VM2, "kiosk", "dave", &a, 1, "root", now));
    expect_events("address kiosk  10.0.0.9", "login kiosk dave ", NULL);
    assert_string_equal(user_at(nm, "10.0.0.9", VM2), "dave");

    /* An agent's report does not change a static user. */
    report(nm, VM2, "kiosk", "10.0.0.9", "erin@5");
    expect_events(NULL);
    assert_string_equal(naming_user_of(nm, VM2), "dave");

    /* Unset: the reported session wins again. */
    assert_true(naming_unset(nm, VM2, true, false, "root", now));
    expect_events("logout kiosk dave ", "login kiosk erin ", NULL);
    naming_destroy(nm);
}

/* A guest that churns its addresses: the map follows every report, but
 * only a burst of events (then a few a second) is recorded. */
static void
test_event_budget(void **state)
{
    (void) state;
    n_events = 0;
    struct naming *nm = naming_create(NULL, 60, collect, NULL);
    char a[8][256];
    for (int r = 0; r < 8; r++) {
        a[r][0] = '\0';
        for (int i = 0; i < 4; i++) {
            char one[32];
            snprintf(one, sizeof one, "%s10.%d.0.%d", i ? " " : "", 20 + r,
                     i + 1);
            strcat(a[r], one);
        }
    }
    /* 64 events per report after the first: far more than the burst. */
    size_t total = 0;
    for (int k = 0; k < 100; k++) {
        report(nm, VM1, "vm1", a[k % 8], "");
        total += n_events;
        n_events = 0;
    }
    assert_int_equal(total, 256);
    char last[32];
    snprintf(last, sizeof last, "10.%d.0.4", 20 + 99 % 8);
    struct policy_addr pa = addr(last);
    /* The state is the last report's: its address belongs to vm1. */
    report(nm, VM1, "vm1", a[99 % 8], "zed@5");
    assert_string_equal(naming_user_at(nm, &pa, VM1), "zed");
    n_events = 0;
    naming_destroy(nm);
}

static char db[64];

static void
check_loaded(const struct naming_host_info *h, void *aux)
{
    int *n = aux;
    (*n)++;
    assert_string_equal(h->uuid, VM1);
    assert_string_equal(h->user, "alice");
    assert_int_equal(h->n_addrs, 2);
    assert_true(h->static_addrs);
    assert_false(h->static_user);
}

static void
test_store(void **state)
{
    (void) state;
    strcpy(db, "/tmp/secd-naming-XXXXXX");
    close(mkstemp(db));
    unlink(db);
    struct store *s;
    char *error = store_open(db, &s);
    assert_null(error);
    struct naming *nm = naming_create(s, 60, NULL, NULL);
    report(nm, VM1, "vm1", "10.0.0.5", "alice@1");
    struct policy_addr a[2] = { addr("10.0.0.5"), addr("2001:db8::5") };
    assert_null(naming_set(nm, VM1, "vm1", NULL, a, 2, "root", now));
    naming_destroy(nm);
    store_close(s);

    assert_null(store_open(db, &s));
    nm = naming_create(s, 60, NULL, NULL);
    int n = 0;
    naming_list(nm, check_loaded, &n);
    assert_int_equal(n, 1);
    assert_string_equal(user_at(nm, "2001:db8::5", VM1), "alice");
    naming_destroy(nm);
    store_close(s);
    char *wal = xasprintf("%s-wal", db), *shm = xasprintf("%s-shm", db);
    unlink(db);
    unlink(wal);
    unlink(shm);
    free(wal);
    free(shm);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logins),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_static_user),
        cmocka_unit_test(test_event_budget),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
