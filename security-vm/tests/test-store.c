/* Unit tests for security-vm/store.c on temporary databases. */
#include <errno.h>
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
#include "security-vm/store.h"

static char path[64];

static int
setup(void **state)
{
    (void) state;
    strcpy(path, "/tmp/secd-store-XXXXXX");
    close(mkstemp(path));
    unlink(path);
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    char *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);
    unlink(path);
    unlink(wal);
    unlink(shm);
    free(wal);
    free(shm);
    return 0;
}

static struct store *
open_store(void)
{
    struct store *s;
    char *error = store_open(path, &s);
    if (error) {
        fail_msg("%s", error);
    }
    return s;
}

struct history {
    int64_t versions[8];
    bool active[8];
    size_t n;
};

static void
collect_history(const struct store_policy *p, void *aux)
{
    struct history *h = aux;
    h->versions[h->n] = p->version;
    h->active[h->n++] = p->active;
}

static void
test_policy_versions(void **state)
{
    (void) state;
    struct store *s = open_store();
    struct store_policy p;
    assert_int_equal(store_policy_active(s, &p), ENOENT);
    assert_string_equal(store_last_error(s), "no policy has been applied");

    int64_t v1, v2, v3;
    assert_int_equal(store_policy_add(s, "{\"rules\":[]}", "alice", "first",
                                      &v1), 0);
    assert_int_equal(store_policy_add(s, "{\"rules\":[1]}", "bob", "second",
                                      &v2), 0);
    assert_true(v2 > v1);

    assert_int_equal(store_policy_active(s, &p), 0);
    assert_int_equal(p.version, v2);
    assert_string_equal(p.author, "bob");
    assert_string_equal(p.text, "{\"rules\":[1]}");
    assert_true(p.active);
    store_policy_clear(&p);

    /* A rollback is a new version with the old text. */
    assert_int_equal(store_policy_get(s, v1, &p), 0);
    assert_false(p.active);
    assert_int_equal(store_policy_add(s, p.text, "carol", "rollback to 1",
                                      &v3), 0);
    store_policy_clear(&p);
    store_close(s);

    /* Everything survives a reopen. */
    s = open_store();
    assert_int_equal(store_policy_active(s, &p), 0);
    assert_int_equal(p.version, v3);
    assert_string_equal(p.text, "{\"rules\":[]}");
    store_policy_clear(&p);
    struct history h = { .n = 0 };
    assert_int_equal(store_policy_history(s, 10, collect_history, &h), 0);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.versions[0], v3);
    assert_true(h.active[0]);
    assert_false(h.active[2]);
    assert_int_equal(store_policy_get(s, 999, &p), ENOENT);
    store_close(s);
}

static void
count_audit(const struct store_audit *a, void *aux)
{
    (void) a;
    (*(int *) aux)++;
}

static void
first_audit(const struct store_audit *a, void *aux)
{
    char *out = aux;
    if (!*out) {
        snprintf(out, 256, "%s %s %s %d", a->vm_name, a->rule,
                 a->allow ? "allow" : "deny", a->remote_port);
    }
}

static void
test_audit_batches_and_queries(void **state)
{
    (void) state;
    struct store *s = open_store();
    for (int i = 0; i < 1000; i++) {
        char rule[16];
        snprintf(rule, sizeof rule, "r%d", i % 3);
        struct store_audit a = {
            .time_ms = 1795300000000 + i, .vm_uuid = i % 2 ? "u1" : "u2",
            .vm_name = i % 2 ? "vm1" : "vm2", .user = "alice",
            .app_path = "/usr/bin/curl", .product = "curl",
            .category = "downloader", .event = "connect",
            .protocol = "tcp", .direction = "outbound", .local = "10.0.0.1",
            .remote = "10.0.0.2", .local_port = 40000, .remote_port = i,
            .allow = i % 5 != 0, .rule = rule, .reason = "because",
        };
        store_audit_add(s, &a);
    }
    assert_int_equal(store_audit_queued(s), 1000);

    int n = 0;
    assert_int_equal(store_audit_query(s, NULL, 10000, count_audit, &n), 0);
    assert_int_equal(n, 0);                 /* Not written yet. */
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(store_audit_queued(s), 0);
    assert_int_equal(store_audit_query(s, NULL, 10000, count_audit, &n), 0);
    assert_int_equal(n, 1000);

    struct store_audit_filter f = { .vm = "vm1", .verdict = "deny" };
    n = 0;
    assert_int_equal(store_audit_query(s, &f, 10000, count_audit, &n), 0);
    assert_int_equal(n, 100);               /* Odd i, multiple of 5. */
    char first[256] = "";
    assert_int_equal(store_audit_query(s, &f, 1, first_audit, first), 0);
    assert_string_equal(first, "vm1 r2 deny 995");

    f = (struct store_audit_filter) { .app = "cur" };
    n = 0;
    assert_int_equal(store_audit_query(s, &f, 5, count_audit, &n), 0);
    assert_int_equal(n, 5);

    assert_int_equal(store_audit_prune(s, 100), 0);
    n = 0;
    assert_int_equal(store_audit_query(s, NULL, 10000, count_audit, &n), 0);
    assert_int_equal(n, 100);
    store_close(s);
}

struct top {
    char keys[8][32];
    struct store_counters c[8];
    size_t n;
};

static void
collect_top(const char *key, const struct store_counters *c, void *aux)
{
    struct top *t = aux;
    snprintf(t->keys[t->n], sizeof t->keys[0], "%s", key);
    t->c[t->n++] = *c;
}

/* A guest reports the largest counts the protocol allows, again and again,
 * under many keys: the counters saturate, in memory, in the stored rows
 * and in the totals, and never fail a query or turn negative. */
static void
test_stats_saturate(void **state)
{
    (void) state;
    struct store *s = open_store();
    int64_t t = 1795300000000;
    const int64_t most = INT64_C(9007199254740991);     /* 2^53 - 1 */
    struct store_counters big = {
        .connections = most, .bytes_in = most, .bytes_out = most,
        .packets_in = most, .packets_out = most,
    };
    char dest[32];
    struct store_stats_key k = {
        .vm = "vm1", .app = "flood", .user = "mallory", .rule = "r",
        .dest = dest, .protocol = "tcp/1", .charges = STORE_CHARGES_ALL,
    };
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1100; i++) {
            snprintf(dest, sizeof dest, "10.0.%d.%d", i / 250, i % 250);
            store_stats_add(s, t, &k, &big);
            if (i < 4) {
                /* The same row many times before one flush. */
                for (int j = 0; j < 1100; j++) {
                    store_stats_add(s, t, &k, &big);
                }
            }
        }
        assert_int_equal(store_flush(s), 0);
    }
    struct top top = { .n = 0 };
    assert_int_equal(store_stats_top(s, "app", "bytes", 0, 0, 8,
                                     collect_top, &top), 0);
    assert_int_equal(top.n, 1);
    assert_int_equal(top.c[0].bytes_in, INT64_MAX);
    assert_int_equal(top.c[0].packets_out, INT64_MAX);
    assert_int_equal(top.c[0].connections, INT64_MAX);
    top.n = 0;
    assert_int_equal(store_stats_top(s, "dest", "bytes", 0, 0, 8,
                                     collect_top, &top), 0);
    assert_int_equal(top.n, 8);
    for (size_t i = 0; i < top.n; i++) {
        assert_true(top.c[i].bytes_in > 0);
    }
    store_close(s);
}

struct usage {
    size_t n;
    char rows[8][64];
};

static void
collect_usage(const char *vm, const char *app, const char *user,
              int charges, int64_t bytes, void *aux)
{
    struct usage *u = aux;
    snprintf(u->rows[u->n++], sizeof u->rows[0], "%s %s %s %d %lld", vm,
             app, user, charges, (long long) bytes);
}

/* Rows that charge different kinds of quota are kept apart, even under
 * the same key; a usage recount reads back each with what it charges and
 * leaves out those that charge none; totals by VM, user and application
 * count only the rows that charged that kind, so traffic both the
 * datapath and a guest reported counts once, while the other groupings
 * add up everything. */
static void
test_stats_charges(void **state)
{
    (void) state;
    struct store *s = open_store();
    int64_t t = 1795300000000;
    struct store_stats_key dp = {
        .vm = "vm1", .app = "curl", .user = "alice",
        .charges = STORE_CHARGES_ALL,
    };
    struct store_stats_key guest = dp;      /* A report of the same. */
    guest.charges = 0;
    struct store_stats_key vm_only = { .vm = "vm1",
                                       .charges = STORE_CHARGES_VM };
    struct store_stats_key inbound = guest;
    inbound.dest = "10.0.0.1";
    inbound.charges = STORE_CHARGES_USER | STORE_CHARGES_APP;
    struct store_stats_key decision = dp;
    decision.rule = "r1";
    decision.dest = "10.0.0.1";
    decision.charges = 0;
    store_stats_add(s, t, &dp, &(struct store_counters) { .bytes_in = 1000 });
    store_stats_add(s, t, &guest,
                    &(struct store_counters) { .bytes_in = 900 });
    guest.dest = "10.0.0.1";
    store_stats_add(s, t, &guest,
                    &(struct store_counters) { .bytes_in = 900 });
    store_stats_add(s, t, &vm_only,
                    &(struct store_counters) { .bytes_out = 300 });
    store_stats_add(s, t, &inbound,
                    &(struct store_counters) { .bytes_in = 50 });
    store_stats_add(s, t, &decision,
                    &(struct store_counters) { .connections = 1 });
    assert_int_equal(store_flush(s), 0);

    struct usage u = { .n = 0 };
    assert_int_equal(store_stats_usage(s, t - 60000, collect_usage, &u), 0);
    assert_int_equal(u.n, 3);
    assert_string_equal(u.rows[0], "vm1   2 300");
    assert_string_equal(u.rows[1], "vm1 curl alice 5 50");
    assert_string_equal(u.rows[2], "vm1 curl alice 7 1000");

    static const struct {
        const char *by, *key;
        int64_t bytes, connections;
    } want[] = {
        { "app", "curl", 1050, 1 }, { "vm", "vm1", 1300, 1 },
        { "user", "alice", 1050, 1 }, { "dest", "10.0.0.1", 950, 1 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct top top = { .n = 0 };
        assert_int_equal(store_stats_top(s, want[i].by, "connections", 0, 0,
                                         1, collect_top, &top), 0);
        assert_int_equal(top.n, 1);
        assert_string_equal(top.keys[0], want[i].key);
        assert_int_equal(top.c[0].bytes_in + top.c[0].bytes_out,
                         want[i].bytes);
        assert_int_equal(top.c[0].connections, want[i].connections);
    }
    store_close(s);
}

/* A VM's distinct statistics rows between two writes are bounded: the
 * rest add up in its "(other)" row, and other VMs keep their own. */
static void
test_stats_rows_per_vm(void **state)
{
    (void) state;
    struct store *s = open_store();
    store_set_queue_max(s, STORE_QUEUE_MAX_BYTES, 10);
    int64_t t = 1795300000000;
    struct store_counters c = { .connections = 1, .bytes_in = 100 };
    char app[32];
    struct store_stats_key k = {
        .vm = "vm1", .app = app, .user = "u", .rule = "r",
        .dest = "10.0.0.1", .protocol = "tcp/80",
        .charges = STORE_CHARGES_ALL,
    };
    for (int i = 0; i < 50; i++) {
        snprintf(app, sizeof app, "app-%d", i);
        store_stats_add(s, t, &k, &c);
    }
    k.vm = "vm2";
    snprintf(app, sizeof app, "app-vm2");
    store_stats_add(s, t, &k, &c);
    struct store_queue_stats qs;
    store_queue_stats(s, &qs);
    assert_int_equal(qs.stats_folded, 40);
    assert_int_equal(store_flush(s), 0);

    struct top top = { .n = 0 };
    assert_int_equal(store_stats_top(s, "app", "connections", 0, 0, 8,
                                     collect_top, &top), 0);
    assert_string_equal(top.keys[0], STORE_STATS_OTHER);
    assert_int_equal(top.c[0].connections, 40);
    assert_int_equal(top.c[0].bytes_in, 4000);
    top.n = 0;
    assert_int_equal(store_stats_top(s, "vm", "connections", 0, 0, 8,
                                     collect_top, &top), 0);
    assert_int_equal(top.n, 2);
    assert_string_equal(top.keys[0], "vm1");
    assert_int_equal(top.c[0].connections, 50);
    assert_string_equal(top.keys[1], "vm2");
    assert_int_equal(top.c[1].connections, 1);

    /* The bound is the minute's, across writes; the next minute has its
     * whole bound again. */
    k.vm = "vm1";
    snprintf(app, sizeof app, "app-new");
    store_stats_add(s, t, &k, &c);
    store_queue_stats(s, &qs);
    assert_int_equal(qs.stats_folded, 41);
    store_stats_add(s, t + 60000, &k, &c);
    store_queue_stats(s, &qs);
    assert_int_equal(qs.stats_folded, 41);
    store_close(s);
}

/* A VM's few rows written again and again within a minute stay its own
 * rows: the bound counts rows begun, not rows written. */
static void
test_stats_rows_rewritten(void **state)
{
    (void) state;
    struct store *s = open_store();
    store_set_queue_max(s, STORE_QUEUE_MAX_BYTES, 10);
    int64_t t = 1795300000000;
    struct store_counters c = { .connections = 1 };
    struct store_stats_key k = {
        .vm = "vm1", .app = "curl", .user = "u", .rule = "r",
        .dest = "10.0.0.1", .protocol = "tcp/80",
    };
    for (int i = 0; i < 30; i++) {
        k.dest = i % 2 ? "10.0.0.1" : "10.0.0.2";
        store_stats_add(s, t + i, &k, &c);
        assert_int_equal(store_flush(s), 0);
    }
    struct store_queue_stats qs;
    store_queue_stats(s, &qs);
    assert_int_equal(qs.stats_folded, 0);
    struct top top = { .n = 0 };
    assert_int_equal(store_stats_top(s, "dest", "connections", 0, 0, 8,
                                     collect_top, &top), 0);
    assert_int_equal(top.n, 2);
    assert_int_equal(top.c[0].connections + top.c[1].connections, 30);
    store_close(s);
}

/* While writes fail, the queue grows only to its bound in bytes: audit
 * rows and new statistics rows past it are dropped and counted, rows
 * already queued keep adding up, and a write makes room again. */
static void
test_queue_bound(void **state)
{
    (void) state;
    struct store *s = open_store();
    store_set_queue_max(s, 20000, STORE_VM_ROWS_MAX);
    struct store_audit a = {
        .time_ms = 1795300000000, .vm_uuid = "vm", .vm_name = "vm",
        .user = "u", .app_path = "/usr/bin/flood", .sha256 = "",
        .product = "", .category = "", .event = "connect",
        .protocol = "tcp", .direction = "outbound", .local = "10.0.0.1",
        .remote = "10.0.0.2", .rule = "r", .reason = "flood",
    };
    int queued = 0, refused = 0;
    for (int i = 0; i < 1000; i++) {
        store_audit_add(s, &a) ? queued++ : refused++;
    }
    assert_true(queued > 10);
    assert_true(refused > 0);
    assert_int_equal(queued + refused, 1000);
    struct store_queue_stats qs;
    store_queue_stats(s, &qs);
    assert_true(qs.bytes <= 20000);
    assert_int_equal(qs.audit_dropped, refused);

    char app[32] = "new";
    struct store_stats_key k = {
        .vm = "vm", .app = app, .user = "u", .rule = "r",
        .dest = "10.0.0.2", .protocol = "tcp/80",
    };
    struct store_counters c = { .connections = 1 };
    for (int i = 0; i < 1000 && !qs.stats_dropped; i++) {
        snprintf(app, sizeof app, "new-%d", i);
        store_stats_add(s, a.time_ms, &k, &c);
        store_queue_stats(s, &qs);
    }
    assert_int_equal(qs.stats_dropped, 1);
    assert_true(qs.bytes <= 20000);

    assert_int_equal(store_flush(s), 0);
    store_queue_stats(s, &qs);
    assert_int_equal(qs.bytes, 0);
    assert_true(store_audit_add(s, &a));
    store_stats_add(s, a.time_ms, &k, &c);
    store_queue_stats(s, &qs);
    assert_int_equal(qs.stats_dropped, 1);
    assert_int_equal(store_flush(s), 0);
    store_close(s);
}

static void
test_stats(void **state)
{
    (void) state;
    struct store *s = open_store();
    int64_t t = 1795300000000;
    struct store_counters one = { .connections = 1 };
    struct store_counters deny = { .connections = 1, .denials = 1 };
    struct store_counters bytes = { .bytes_in = 1000, .bytes_out = 10,
                                    .packets_in = 3, .packets_out = 2 };
    struct store_stats_key curl = {
        .vm = "vm1", .app = "curl", .user = "alice", .rule = "r1",
        .dest = "10.0.0.80", .protocol = "HTTP",
        .charges = STORE_CHARGES_ALL,
    };
    struct store_stats_key curl2 = curl;
    curl2.dest = "10.0.0.81";
    struct store_stats_key nc = {
        .vm = "vm2", .app = "nc", .user = "bob", .rule = "deny-nc",
        .dest = "10.0.0.80", .protocol = "tcp/4444",
    };
    for (int i = 0; i < 50; i++) {
        store_stats_add(s, t + i * 1000, i % 2 ? &curl : &curl2, &one);
    }
    for (int i = 0; i < 7; i++) {
        store_stats_add(s, t, &nc, &deny);
    }
    store_stats_add(s, t, &curl, &bytes);
    assert_int_equal(store_flush(s), 0);
    /* Counters add up across flushes. */
    store_stats_add(s, t, &curl, &bytes);
    assert_int_equal(store_flush(s), 0);

    struct top top = { .n = 0 };
    assert_int_equal(store_stats_top(s, "app", "connections", t - 60000, 0,
                                     10, collect_top, &top), 0);
    assert_int_equal(top.n, 2);
    assert_string_equal(top.keys[0], "curl");
    assert_int_equal(top.c[0].connections, 50);
    assert_int_equal(top.c[0].bytes_in, 2000);
    assert_int_equal(top.c[0].packets_out, 4);

    /* A window that ends before these minutes has none of them. */
    top.n = 0;
    assert_int_equal(store_stats_top(s, "app", "connections", t - 120000,
                                     t / 60000 * 60000, 10, collect_top,
                                     &top), 0);
    assert_int_equal(top.n, 0);

    top.n = 0;
    assert_int_equal(store_stats_top(s, "rule", "denials", 0, 0, 1,
                                     collect_top, &top), 0);
    assert_int_equal(top.n, 1);
    assert_string_equal(top.keys[0], "deny-nc");
    assert_int_equal(top.c[0].denials, 7);

    /* By destination and by protocol. */
    top.n = 0;
    assert_int_equal(store_stats_top(s, "dest", "connections", 0, 0, 10,
                                     collect_top, &top), 0);
    assert_int_equal(top.n, 2);
    assert_string_equal(top.keys[0], "10.0.0.80");
    assert_int_equal(top.c[0].connections, 25 + 7);
    assert_int_equal(top.c[0].bytes_in, 2000);
    top.n = 0;
    assert_int_equal(store_stats_top(s, "protocol", "connections", 0, 0, 10,
                                     collect_top, &top), 0);
    assert_int_equal(top.n, 2);
    assert_string_equal(top.keys[0], "HTTP");
    assert_int_equal(top.c[0].connections, 50);
    assert_string_equal(top.keys[1], "tcp/4444");

    /* Pruning: the minutes before a time go, the rest stay. */
    struct store_stats_key old = curl;
    old.dest = "10.0.0.99";
    store_stats_add(s, t - 3 * 86400000LL, &old, &one);
    assert_int_equal(store_flush(s), 0);
    top.n = 0;
    assert_int_equal(store_stats_top(s, "dest", "connections", 0, 0, 10,
                                     collect_top, &top), 0);
    assert_int_equal(top.n, 3);
    assert_int_equal(store_stats_prune(s, t - 86400000LL), 0);
    top.n = 0;
    assert_int_equal(store_stats_top(s, "dest", "connections", 0, 0, 10,
                                     collect_top, &top), 0);
    assert_int_equal(top.n, 2);

    /* Only whitelisted groupings reach SQL. */
    assert_int_equal(store_stats_top(s, "app; DROP TABLE stats", "bytes",
                                     0, 0, 1, collect_top, &top), EINVAL);
    store_close(s);
}

static void
vm_count(const struct store_vm *vm, void *aux)
{
    int *n = aux;
    if (!strcmp(vm->uuid, "u1")) {
        assert_string_equal(vm->name, "vm1");
        assert_int_equal(vm->ofport, 7);
        assert_string_equal(vm->mac, "52:54:00:00:00:01");
    }
    (*n)++;
}

static void
test_vms_and_bad_files(void **state)
{
    (void) state;
    struct store *s = open_store();
    assert_int_equal(store_vm_seen(s, "u1", "vm1", 7, "52:54:00:00:00:01",
                                   "hv1"), 0);
    /* Later sightings with less information keep what is known. */
    assert_int_equal(store_vm_seen(s, "u1", "", 0, "", ""), 0);
    assert_int_equal(store_vm_seen(s, "u2", "vm2", 0, NULL, NULL), 0);
    int n = 0;
    assert_int_equal(store_vm_list(s, vm_count, &n), 0);
    assert_int_equal(n, 2);
    store_close(s);

    FILE *f = fopen(path, "w");
    fputs("this is not an sqlite database but a long enough text file\n", f);
    fclose(f);
    char *error = store_open(path, &s);
    assert_non_null(error);
    assert_non_null(strstr(error, "not an SQLite database"));
    free(error);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_policy_versions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_audit_batches_and_queries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_saturate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stats_rows_per_vm, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stats_charges, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_rows_rewritten, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_vms_and_bad_files, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
