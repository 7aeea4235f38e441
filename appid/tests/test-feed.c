/* Unit tests for appid/feed.c: feed import (validation, versions,
 * all-or-nothing) and export round trips. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "appid/appid.h"
#include "appid/import.h"
#include "common/digest.h"
#include "common/util.h"

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"
#define H3 "3333333333333333333333333333333333333333333333333333333333333333"

#define ENTRY(HASH, NAME, PRODUCT, TRUST) \
    "{\"sha256\":\"" HASH "\",\"name\":\"" NAME "\",\"path\":\"/usr/bin/" \
    NAME "\",\"product\":\"" PRODUCT "\",\"vendor\":\"V\"," \
    "\"version\":\"1\",\"category\":\"p2p\",\"trust\":\"" TRUST "\"," \
    "\"threat\":\"high\"}"

static const char feed_v1[] =
    "{\"format\":\"appfw-appid-feed\",\"version\":1,\"source\":\"vendor\","
    "\"added\":[" ENTRY(H1, "utorrent", "uTorrent", "known") ","
    ENTRY(H2, "qbit", "qBittorrent", "known") "],"
    "\"patterns_added\":[{\"kind\":\"name\",\"glob\":\"bitcomet*\","
    "\"product\":\"BitComet\",\"category\":\"p2p\",\"trust\":\"unknown\","
    "\"threat\":\"high\",\"confidence\":75}]}";

static const char feed_v2[] =
    "{\"format\":\"appfw-appid-feed\",\"version\":2,\"source\":\"vendor\","
    "\"added\":[" ENTRY(H3, "xmrig", "XMRig", "untrusted") "],"
    "\"changed\":[" ENTRY(H1, "utorrent", "uTorrent", "untrusted") "],"
    "\"removed\":[\"" H2 "\"],"
    "\"patterns_removed\":[{\"kind\":\"name\",\"glob\":\"bitcomet*\"}]}";

static struct appid *
open_memory(void)
{
    struct appid *a;
    char *error = appid_open(":memory:", 0, &a);
    assert_null(error);
    return a;
}

static char *
import(struct appid *a, const char *text)
{
    struct appid_import_report r;
    return appid_import_feed(a, text, strlen(text), &r);
}

static struct appid_result
lookup_hex(struct appid *a, const char *hex)
{
    uint8_t h[32];
    assert_true(digest_from_hex(hex, h, 32));
    struct appid_result r;
    assert_int_equal(appid_lookup(a, h, NULL, 0, &r), 0);
    return r;
}

static void
test_incremental(void **state)
{
    (void) state;
    struct appid *a = open_memory();
    struct appid_import_report r;
    assert_null(appid_import_feed(a, feed_v1, strlen(feed_v1), &r));
    assert_int_equal(r.added, 2);
    assert_int_equal(r.patterns, 1);
    assert_int_equal(r.feed_version, 1);

    struct appid_result res = lookup_hex(a, H1);
    assert_int_equal(res.match, APPID_MATCH_EXACT);
    assert_string_equal(res.product, "uTorrent");
    assert_int_equal(res.trust, APPID_TRUST_KNOWN);
    assert_int_equal(lookup_hex(a, H2).match, APPID_MATCH_EXACT);

    assert_null(appid_import_feed(a, feed_v2, strlen(feed_v2), &r));
    assert_int_equal(r.added, 2);
    assert_int_equal(r.changed, 1);
    assert_int_equal(r.removed, 1);
    assert_int_equal(lookup_hex(a, H1).trust, APPID_TRUST_UNTRUSTED);
    assert_int_equal(lookup_hex(a, H2).match, APPID_MATCH_UNKNOWN);
    assert_int_equal(lookup_hex(a, H3).match, APPID_MATCH_EXACT);

    struct appid_stats s;
    assert_int_equal(appid_stats(a, &s), 0);
    assert_int_equal(s.patterns, 0);
    assert_int_equal(s.feed_version, 2);

    /* Older and equal feeds are refused. */
    char *error = import(a, feed_v1);
    assert_string_equal(error, "feed.version: 1 is not newer than the "
                        "database's feed version 2; refusing an old feed");
    free(error);
    error = import(a, feed_v2);
    assert_non_null(strstr(error, "2 is not newer"));
    free(error);
    appid_close(a);
}

struct bad_feed {
    const char *text;
    const char *error;
};

static const struct bad_feed bad_feeds[] = {
    { "", "feed: truncated JSON" },
    { "{\"format\":", "feed: truncated JSON" },
    { "{\"format\":\"appfw-appid-feed\",,}",
      "feed: invalid JSON at byte 29: quoted object property name "
      "expected" },
    { "[1,2]", "feed: must be an object, not an array" },
    { "{\"format\":\"other\",\"version\":5,\"source\":\"x\"}",
      "feed.format: \"other\" is not one of appfw-appid-feed" },
    { "{\"format\":\"appfw-appid-feed\",\"source\":\"x\"}",
      "feed.version: missing" },
    { "{\"format\":\"appfw-appid-feed\",\"version\":0,\"source\":\"x\"}",
      "feed.version: 0 out of range 1..9007199254740991" },
    { "{\"format\":\"appfw-appid-feed\",\"version\":5,\"source\":\"x\","
      "\"addded\":[]}", "feed.addded: unknown field" },
    { "{\"format\":\"appfw-appid-feed\",\"version\":5,\"source\":\"x\","
      "\"added\":[{\"sha256\":\"12ab\",\"name\":\"a\",\"product\":\"b\","
      "\"trust\":\"known\",\"threat\":\"none\"}]}",
      "feed.added[0].sha256: must be 64 lowercase hex digits" },
    { "{\"format\":\"appfw-appid-feed\",\"version\":5,\"source\":\"x\","
      "\"added\":[{\"sha256\":\"" H1 "\",\"name\":\"a\",\"product\":\"b\","
      "\"trust\":\"sure\",\"threat\":\"none\"}]}",
      "feed.added[0].trust: \"sure\" is not one of trusted, known, unknown, "
      "untrusted" },
    { "{\"format\":\"appfw-appid-feed\",\"version\":5,\"source\":\"x\","
      "\"removed\":[\"zz\"]}",
      "feed.removed[0]: must be 64 lowercase hex digits" },
    { "{\"format\":\"appfw-appid-feed\",\"version\":5,\"source\":\"x\","
      "\"patterns_added\":[{\"kind\":\"name\",\"glob\":\"x*\","
      "\"trust\":\"unknown\",\"threat\":\"none\",\"confidence\":100}]}",
      "feed.patterns_added[0].confidence: 100 out of range 1..99" },
};

static void
test_bad_feeds(void **state)
{
    (void) state;
    struct appid *a = open_memory();
    for (size_t i = 0; i < ARRAY_SIZE(bad_feeds); i++) {
        char *error = import(a, bad_feeds[i].text);
        if (!error || strcmp(error, bad_feeds[i].error)) {
            fail_msg("bad feed %zu: got \"%s\", want \"%s\"", i,
                     error ? error : "(accepted)", bad_feeds[i].error);
        }
        free(error);
    }
    struct appid_stats s;
    assert_int_equal(appid_stats(a, &s), 0);
    assert_int_equal(s.signatures, 0);
    assert_int_equal(s.feed_version, 0);
    appid_close(a);
}

/* An error in the middle leaves the database exactly as it was. */
static void
test_all_or_nothing(void **state)
{
    (void) state;
    struct appid *a = open_memory();
    assert_null(import(a, feed_v1));

    /* Valid schema, but "changed" names a hash that is not there, after
     * a removal and before more additions. */
    const char *feed =
        "{\"format\":\"appfw-appid-feed\",\"version\":2,\"source\":\"v\","
        "\"removed\":[\"" H1 "\"],"
        "\"added\":[" ENTRY(H3, "x", "X", "known") "],"
        "\"changed\":[" ENTRY(H3, "x", "X", "known") ","
        ENTRY("4444444444444444444444444444444444444444444444444444444444444444",
              "y", "Y", "known") "]}";
    char *error = import(a, feed);
    assert_string_equal(error, "changed[1].sha256: 4444444444444444444444444"
                        "444444444444444444444444444444444444444 is not in "
                        "the database");
    free(error);

    assert_int_equal(lookup_hex(a, H1).match, APPID_MATCH_EXACT);
    assert_int_equal(lookup_hex(a, H3).match, APPID_MATCH_UNKNOWN);
    struct appid_stats s;
    assert_int_equal(appid_stats(a, &s), 0);
    assert_int_equal(s.feed_version, 1);
    assert_int_equal(s.signatures, 2);

    /* Removing what is not there fails the same way. */
    feed = "{\"format\":\"appfw-appid-feed\",\"version\":2,\"source\":\"v\","
           "\"removed\":[\"" H3 "\"]}";
    error = import(a, feed);
    assert_non_null(strstr(error, "removed[0]: "));
    assert_non_null(strstr(error, "no such signature"));
    free(error);
    appid_close(a);
}

static char *
export_text(struct appid *a, size_t *count)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    char *error = appid_export_feed(a, f, count);
    assert_null(error);
    fclose(f);
    return text;
}

static void
test_round_trip(void **state)
{
    (void) state;
    struct appid *a = open_memory();
    assert_null(import(a, feed_v1));
    assert_null(import(a, feed_v2));

    size_t count;
    char *text1 = export_text(a, &count);
    assert_int_equal(count, 2);

    struct appid *b = open_memory();
    struct appid_import_report r;
    assert_null(appid_import_feed(b, text1, strlen(text1), &r));
    assert_int_equal(r.feed_version, 2);
    char *text2 = export_text(b, &count);
    assert_string_equal(text1, text2);

    struct appid_result ra = lookup_hex(a, H3), rb = lookup_hex(b, H3);
    assert_string_equal(ra.product, rb.product);
    assert_int_equal(ra.trust, rb.trust);
    assert_int_equal(ra.threat, rb.threat);

    /* Exporting an empty database gives a valid, empty feed. */
    struct appid *c = open_memory();
    char *text3 = export_text(c, &count);
    assert_int_equal(count, 0);
    struct appid *d = open_memory();
    assert_null(appid_import_feed(d, text3, strlen(text3), &r));
    assert_int_equal(r.added, 0);

    free(text1);
    free(text2);
    free(text3);
    appid_close(a);
    appid_close(b);
    appid_close(c);
    appid_close(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_bad_feeds),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests_name("feed", tests, NULL, NULL);
}
