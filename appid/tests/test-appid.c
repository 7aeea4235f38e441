/* Unit tests for libappid's core (appid/appid.c, index.c, pattern.c) on
 * in-memory and temporary databases. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "appid/appid.h"
#include "common/digest.h"
#include "common/util.h"

static void
make_hash(const char *seed, uint8_t sha256[32])
{
    digest_sha256(seed, strlen(seed), sha256);
}

static struct appid_signature
sig(const char *seed, const char *path, const char *product,
    const char *category, enum appid_trust trust, enum appid_threat threat)
{
    struct appid_signature s = {
        .name = strrchr(path, '/') + 1,
        .path = path,
        .size = 1000,
        .product = product,
        .description = "a test product",
        .vendor = "Test Vendor",
        .version = "1.0-1",
        .category = category,
        .trust = trust,
        .threat = threat,
        .reason = "",
        .source = "test",
    };
    make_hash(seed, s.sha256);
    return s;
}

static struct appid *
open_memory(int flags)
{
    struct appid *a;
    char *error = appid_open(":memory:", flags, &a);
    if (error) {
        fail_msg("%s", error);
    }
    return a;
}

/* Fills 'a' with a few signatures and patterns. */
static void
populate(struct appid *a)
{
    assert_int_equal(appid_begin(a), 0);
    struct appid_signature s;
    s = sig("curl", "/usr/bin/curl", "curl", "downloader",
            APPID_TRUST_TRUSTED, APPID_THREAT_LOW);
    assert_int_equal(appid_add(a, &s), 0);
    s = sig("nc", "/bin/nc.openbsd", "netcat-openbsd", "network-tool",
            APPID_TRUST_TRUSTED, APPID_THREAT_HIGH);
    assert_int_equal(appid_add(a, &s), 0);
    s = sig("evil", "/usr/bin/ls", "coreutils", "utility",
            APPID_TRUST_UNTRUSTED, APPID_THREAT_NONE);
    s.reason = "modified: content differs from package coreutils's checksum";
    assert_int_equal(appid_add(a, &s), 0);

    struct appid_pattern p = {
        .kind = APPID_PATTERN_NAME, .glob = "utorrent*",
        .product = "uTorrent", .vendor = "BitTorrent Inc.",
        .category = "p2p", .trust = APPID_TRUST_UNKNOWN,
        .threat = APPID_THREAT_HIGH, .confidence = 80, .source = "test",
    };
    assert_int_equal(appid_add_pattern(a, &p), 0);
    p = (struct appid_pattern) {
        .kind = APPID_PATTERN_PATH, .glob = "/opt/transmission/*",
        .product = "", .vendor = "", .category = "p2p",
        .trust = APPID_TRUST_UNKNOWN, .threat = APPID_THREAT_HIGH,
        .confidence = 70, .source = "test",
    };
    assert_int_equal(appid_add_pattern(a, &p), 0);
    assert_int_equal(appid_commit(a), 0);
}

static void
check_lookups(struct appid *a)
{
    struct appid_result r;
    uint8_t h[32];

    /* 1. Exact. */
    make_hash("curl", h);
    assert_int_equal(appid_lookup(a, h, "/usr/bin/curl", 0, &r), 0);
    assert_int_equal(r.match, APPID_MATCH_EXACT);
    assert_int_equal(r.confidence, 100);
    assert_string_equal(r.product, "curl");
    assert_string_equal(r.vendor, "Test Vendor");
    assert_string_equal(r.version, "1.0-1");
    assert_string_equal(r.category, "downloader");
    assert_int_equal(r.trust, APPID_TRUST_TRUSTED);
    assert_int_equal(r.threat, APPID_THREAT_LOW);
    assert_string_equal(r.install_path, "/usr/bin/curl");

    /* The same file elsewhere (a renamed or bind-mounted copy): the
     * result says where it belongs.  Under a merged /usr, /bin/curl is
     * /usr/bin/curl, and the install path is the one looked up. */
    assert_int_equal(appid_lookup(a, h, "/tmp/x", 0, &r), 0);
    assert_int_equal(r.match, APPID_MATCH_EXACT);
    assert_string_equal(r.install_path, "/usr/bin/curl");
    assert_int_equal(appid_lookup(a, h, "/bin/curl", 0, &r), 0);
    assert_string_equal(r.install_path, "/bin/curl");
    assert_int_equal(appid_lookup(a, h, "/usr/sbin/curl", 0, &r), 0);
    assert_string_equal(r.install_path, "/usr/bin/curl");
    assert_int_equal(appid_lookup(a, h, NULL, 0, &r), 0);
    assert_string_equal(r.install_path, "/usr/bin/curl");
    make_hash("nc", h);
    assert_int_equal(appid_lookup(a, h, "/usr/bin/nc.openbsd", 0, &r), 0);
    assert_string_equal(r.install_path, "/usr/bin/nc.openbsd");

    /* Exact, recorded as untrusted, with the reason. */
    make_hash("evil", h);
    assert_int_equal(appid_lookup(a, h, NULL, 0, &r), 0);
    assert_int_equal(r.match, APPID_MATCH_EXACT);
    assert_int_equal(r.trust, APPID_TRUST_UNTRUSTED);
    assert_non_null(strstr(r.reason, "differs from package coreutils"));

    /* 2. A known install path with an unknown hash: modified. */
    make_hash("curl-patched", h);
    assert_int_equal(appid_lookup(a, h, "/usr/bin/curl", 0, &r), 0);
    assert_int_equal(r.match, APPID_MATCH_NAME);
    assert_int_equal(r.trust, APPID_TRUST_UNTRUSTED);
    assert_int_equal(r.confidence, 60);
    assert_string_equal(r.product, "curl");
    assert_non_null(strstr(r.reason, "modified: /usr/bin/curl is curl's"));

    /* The same path without a hash: identified, not condemned. */
    assert_int_equal(appid_lookup(a, NULL, "/usr/bin/curl", 0, &r), 0);
    assert_int_equal(r.match, APPID_MATCH_NAME);
    assert_int_equal(r.trust, APPID_TRUST_UNKNOWN);

    /* 3. Patterns: path first, then name (ignoring case). */
    make_hash("some-transmission", h);
    assert_int_equal(appid_lookup(a, h, "/opt/transmission/bin/tx", 0, &r),
                     0);
    assert_int_equal(r.match, APPID_MATCH_PATTERN);
    assert_int_equal(r.confidence, 70);
    assert_string_equal(r.category, "p2p");
    assert_string_equal(r.product, "");
    assert_int_equal(r.threat, APPID_THREAT_HIGH);

    assert_int_equal(appid_lookup(a, h, "/home/u/Downloads/uTorrent.exe", 0,
                                  &r), 0);
    assert_int_equal(r.match, APPID_MATCH_PATTERN);
    assert_string_equal(r.product, "uTorrent");
    assert_string_equal(r.reason, "name pattern \"utorrent*\"");

    /* A bare file name known from a signature. */
    assert_int_equal(appid_lookup(a, h, "/home/u/bin/nc.openbsd", 0, &r), 0);
    assert_int_equal(r.match, APPID_MATCH_NAME);
    assert_int_equal(r.confidence, 40);
    assert_string_equal(r.product, "netcat-openbsd");
    assert_int_equal(r.trust, APPID_TRUST_UNKNOWN);

    /* 4. Unknown. */
    assert_int_equal(appid_lookup(a, h, "/usr/local/bin/whatever", 0, &r),
                     0);
    assert_int_equal(r.match, APPID_MATCH_UNKNOWN);
    assert_int_equal(r.confidence, 0);
    assert_string_equal(r.category, "unknown");
    assert_int_equal(appid_lookup(a, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.match, APPID_MATCH_UNKNOWN);
}

static void
test_lookup_order(void **state)
{
    (void) state;
    struct appid *a = open_memory(0);
    populate(a);
    check_lookups(a);

    /* Again: now from the hot-entry cache. */
    check_lookups(a);
    struct appid_stats s;
    assert_int_equal(appid_stats(a, &s), 0);
    assert_true(s.cache_hits > 0);
    assert_int_equal(s.index_entries, 0);
    appid_close(a);
}

static void
test_lookup_preloaded(void **state)
{
    (void) state;
    char path[] = "/tmp/appid-test-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);

    struct appid *a;
    assert_null(appid_open(path, APPID_OPEN_CREATE, &a));
    populate(a);
    appid_close(a);

    assert_null(appid_open(path, APPID_OPEN_PRELOAD | APPID_OPEN_READONLY,
                           &a));
    struct appid_stats s;
    assert_int_equal(appid_stats(a, &s), 0);
    assert_int_equal(s.index_entries, 3);
    check_lookups(a);
    appid_close(a);

    char *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);
    unlink(path);
    unlink(wal);
    unlink(shm);
    free(wal);
    free(shm);
}

static void
test_batches(void **state)
{
    (void) state;
    struct appid *a = open_memory(0);
    struct appid_signature s = sig("x", "/usr/bin/x", "x", "utility",
                                   APPID_TRUST_TRUSTED, APPID_THREAT_NONE);

    /* Changes need a batch. */
    assert_int_equal(appid_add(a, &s), EINVAL);
    assert_non_null(strstr(appid_last_error(a), "appid_begin"));

    /* An aborted batch leaves nothing. */
    assert_int_equal(appid_begin(a), 0);
    assert_int_equal(appid_begin(a), EBUSY);
    assert_int_equal(appid_add(a, &s), 0);
    assert_int_equal(appid_exists(a, s.sha256), 1);
    appid_abort(a);
    assert_int_equal(appid_exists(a, s.sha256), 0);

    /* Add, then replace: first_seen stays, the rest changes. */
    s.first_seen = 1000;
    s.last_seen = 1000;
    assert_int_equal(appid_begin(a), 0);
    assert_int_equal(appid_add(a, &s), 0);
    assert_int_equal(appid_commit(a), 0);
    s.first_seen = 5000;
    s.last_seen = 5000;
    s.trust = APPID_TRUST_UNTRUSTED;
    assert_int_equal(appid_begin(a), 0);
    assert_int_equal(appid_add(a, &s), 0);
    assert_int_equal(appid_commit(a), 0);
    struct appid_signature got;
    assert_int_equal(appid_get(a, s.sha256, &got), 0);
    assert_int_equal(got.first_seen, 1000);
    assert_int_equal(got.last_seen, 5000);
    assert_int_equal(got.trust, APPID_TRUST_UNTRUSTED);
    assert_string_equal(got.path, "/usr/bin/x");
    assert_string_equal(got.source, "test");

    /* Remove; removing again is ENOENT. */
    assert_int_equal(appid_begin(a), 0);
    assert_int_equal(appid_remove(a, s.sha256), 0);
    assert_int_equal(appid_remove(a, s.sha256), ENOENT);
    assert_int_equal(appid_commit(a), 0);
    assert_int_equal(appid_get(a, s.sha256, &got), ENOENT);

    /* Bad fields are refused with a reason. */
    assert_int_equal(appid_begin(a), 0);
    s.product = "";
    assert_int_equal(appid_add(a, &s), EINVAL);
    s.product = "x";
    s.trust = 9;
    assert_int_equal(appid_add(a, &s), EINVAL);
    s.trust = APPID_TRUST_KNOWN;
    struct appid_pattern p = {
        .kind = APPID_PATTERN_NAME, .glob = "*", .product = "",
        .vendor = "", .category = "", .confidence = 50, .source = "",
    };
    assert_int_equal(appid_add_pattern(a, &p), EINVAL);
    assert_non_null(strstr(appid_last_error(a), "match everything"));
    p.glob = "a/b";
    assert_int_equal(appid_add_pattern(a, &p), EINVAL);
    p.glob = "ok*";
    p.confidence = 100;
    assert_int_equal(appid_add_pattern(a, &p), EINVAL);
    assert_int_equal(appid_remove_pattern(a, APPID_PATTERN_NAME, "nope*"),
                     ENOENT);
    appid_abort(a);
    appid_close(a);
}

static void
test_readonly(void **state)
{
    (void) state;
    char path[] = "/tmp/appid-ro-XXXXXX";
    close(mkstemp(path));
    struct appid *a;
    assert_null(appid_open(path, 0, &a));
    appid_close(a);
    assert_null(appid_open(path, APPID_OPEN_READONLY, &a));
    assert_int_equal(appid_begin(a), EROFS);
    assert_int_equal(appid_meta_set_int(a, "x", 1), EROFS);
    appid_close(a);
    unlink(path);

    char *error = NULL;
    assert_non_null(error = appid_open(":memory:", APPID_OPEN_READONLY
                                       | APPID_OPEN_CREATE, &a));
    free(error);
}

static char *
write_temp(const void *data, size_t n)
{
    char *path = xstrdup("/tmp/appid-bad-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t) n);
    close(fd);
    return path;
}

static void
expect_open_error(const char *path, int flags, const char *want)
{
    struct appid *a = NULL;
    char *error = appid_open(path, flags, &a);
    if (!error || !strstr(error, want)) {
        fail_msg("opening %s: got \"%s\", want \"%s\"", path,
                 error ? error : "(success)", want);
    }
    assert_null(a);
    free(error);
}

static void
test_bad_files(void **state)
{
    (void) state;
    expect_open_error("/nonexistent/appid.db", 0, "no such database");
    expect_open_error("/tmp", 0, "not a regular file");

    static const char not_db[] = "hello, this is not a database at all, "
                                 "just some text that is long enough to "
                                 "have a header\n";
    char *text = write_temp(not_db, strlen(not_db));
    expect_open_error(text, 0, "not an SQLite database");

    /* A real database with a page clobbered. */
    char path[] = "/tmp/appid-corrupt-XXXXXX";
    close(mkstemp(path));
    unlink(path);
    struct appid *a;
    assert_null(appid_open(path, APPID_OPEN_CREATE, &a));
    populate(a);
    appid_close(a);
    int fd = open(path, O_WRONLY);
    char junk[4096];
    memset(junk, 0xa5, sizeof junk);
    assert_int_equal(pwrite(fd, junk, 100, 0), 100);     /* The header. */
    close(fd);
    expect_open_error(path, 0, "not an SQLite database");
    unlink(path);

    unlink(text);
    free(text);
}

/* Makes an SQLite database at a new temporary path by running 'sql'. */
static char *
make_sqlite(const char *sql)
{
    char *path = xstrdup("/tmp/appid-foreign-XXXXXX");
    close(mkstemp(path));
    unlink(path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    return path;
}

static void
test_foreign_and_newer_database(void **state)
{
    (void) state;
    char *path = make_sqlite("CREATE TABLE t (x);");
    expect_open_error(path, 0, "not an appid database");
    unlink(path);
    free(path);

    path = make_sqlite("CREATE TABLE t (x); PRAGMA user_version = 99;");
    expect_open_error(path, 0, "schema version 99 is newer");
    unlink(path);
    free(path);

    /* An empty file is a new database: it gets the schema. */
    path = write_temp("", 0);
    struct appid *a;
    assert_null(appid_open(path, 0, &a));
    struct appid_stats s;
    assert_int_equal(appid_stats(a, &s), 0);
    assert_int_equal(s.signatures, 0);
    appid_close(a);

    /* A read-only open of an unmigrated database refuses to migrate. */
    unlink(path);
    free(path);
    path = make_sqlite("PRAGMA user_version = 0;");
    expect_open_error(path, APPID_OPEN_READONLY, "needs migrating");
    unlink(path);
    free(path);
}

static int
count_sig(const struct appid_signature *s, void *aux)
{
    (void) s;
    (*(int *) aux)++;
    return 0;
}

static int
count_pat(const struct appid_pattern *p, void *aux)
{
    (void) p;
    (*(int *) aux) += 100;
    return 0;
}

static void
test_iterate_stats_meta(void **state)
{
    (void) state;
    struct appid *a = open_memory(0);
    populate(a);
    int n = 0;
    assert_int_equal(appid_iterate(a, count_sig, count_pat, &n), 0);
    assert_int_equal(n, 203);

    struct appid_stats s;
    assert_int_equal(appid_stats(a, &s), 0);
    assert_int_equal(s.signatures, 3);
    assert_int_equal(s.products, 3);
    assert_int_equal(s.patterns, 2);
    assert_int_equal(s.by_trust[APPID_TRUST_TRUSTED], 2);
    assert_int_equal(s.by_trust[APPID_TRUST_UNTRUSTED], 1);
    assert_int_equal(s.by_threat[APPID_THREAT_HIGH], 1);
    assert_int_equal(s.schema_version, 1);

    int64_t v = -1;
    assert_int_equal(appid_meta_get_int(a, "feed_version", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(appid_begin(a), 0);
    assert_int_equal(appid_meta_set_int(a, "feed_version", 42), 0);
    assert_int_equal(appid_commit(a), 0);
    assert_int_equal(appid_meta_get_int(a, "feed_version", &v), 0);
    assert_int_equal(v, 42);

    /* Removing the only signature of a product prunes the product. */
    uint8_t h[32];
    make_hash("curl", h);
    assert_int_equal(appid_begin(a), 0);
    assert_int_equal(appid_remove(a, h), 0);
    assert_int_equal(appid_commit(a), 0);
    assert_int_equal(appid_stats(a, &s), 0);
    assert_int_equal(s.products, 2);
    appid_close(a);
}

static void
test_names(void **state)
{
    (void) state;
    enum appid_trust t;
    enum appid_threat th;
    for (int i = 0; i < 4; i++) {
        assert_true(appid_trust_from_name(appid_trust_name(i), &t));
        assert_int_equal(t, i);
    }
    for (int i = 0; i < 5; i++) {
        assert_true(appid_threat_from_name(appid_threat_name(i), &th));
        assert_int_equal(th, i);
    }
    assert_false(appid_trust_from_name("sure", &t));
    assert_string_equal(appid_match_name(APPID_MATCH_PATTERN), "pattern");
    assert_string_equal(appid_trust_name(17), "?");
}

/* Many signatures: the hot cache's generations turn over and the preloaded
 * index grows, and every lookup still answers right. */
static void
test_many(void **state)
{
    (void) state;
    struct appid *a = open_memory(0);
    assert_int_equal(appid_begin(a), 0);
    for (int i = 0; i < 70000; i++) {
        char seed[32], path[64];
        snprintf(seed, sizeof seed, "s%d", i);
        snprintf(path, sizeof path, "/usr/bin/p%d", i);
        struct appid_signature s = sig(seed, path, i % 2 ? "odd" : "even",
                                       "utility", APPID_TRUST_TRUSTED,
                                       APPID_THREAT_NONE);
        assert_int_equal(appid_add(a, &s), 0);
    }
    assert_int_equal(appid_commit(a), 0);

    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 70000; i += 7) {
            char seed[32];
            snprintf(seed, sizeof seed, "s%d", i);
            uint8_t h[32];
            make_hash(seed, h);
            struct appid_result r;
            assert_int_equal(appid_lookup(a, h, NULL, 0, &r), 0);
            assert_int_equal(r.match, APPID_MATCH_EXACT);
            assert_string_equal(r.product, i % 2 ? "odd" : "even");
        }
    }
    appid_close(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_order),
        cmocka_unit_test(test_lookup_preloaded),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_foreign_and_newer_database),
        cmocka_unit_test(test_iterate_stats_meta),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests_name("appid", tests, NULL, NULL);
}
