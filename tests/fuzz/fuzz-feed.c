/* libFuzzer target: the signature feed parser and importer (appid/feed.c)
 * applied to an in-memory database.  Beyond "no crash, no leak, no UB":
 * a refused feed leaves the database unchanged (all or nothing). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appid/appid.h"
#include "appid/import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct appid *db;

static int64_t
count_signatures(void)
{
    struct appid_stats s;
    if (appid_stats(db, &s)) {
        abort();
    }
    return s.signatures + s.patterns * 1000000 + s.feed_version * 7;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!db) {
        char *error = appid_open(":memory:", 0, &db);
        if (error) {
            abort();
        }
    }

    int64_t before = count_signatures();
    struct appid_import_report r;
    char *error = appid_import_feed(db, (const char *) data, size, &r);
    if (error) {
        if (!*error || count_signatures() != before) {
            abort();
        }
        free(error);
        return 0;
    }

    /* Accepted: let the next input start from version 0 again. */
    if (appid_begin(db) || appid_meta_set_int(db, "feed_version", 0)
        || appid_commit(db)) {
        abort();
    }
    return 0;
}
