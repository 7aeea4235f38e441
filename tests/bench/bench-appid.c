/* Benchmark: libappid exact-hash lookups at 10,000 and at 1,000,000
 * signatures, and this machine's dpkg import.
 *
 * Both databases are built in this run from the same generator, so the
 * first 10,000 signatures of the big one are exactly the small one.  The
 * headline ratio looks up the same 10,000 hashes (a security VM's working
 * set: the binaries that actually run in its guests) in both, so it
 * measures what the database's size costs a lookup.  Uniformly random
 * lookups over all 1,000,000 rows are reported too, as are lookups without
 * the preloaded index (SQLite plus the hot-entry cache).
 *
 * Goals (issue #3): p99 <= 10 us, >= 500k lookups/s on one core, 1M-row
 * time <= 1.3x the 10k-row time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appid/appid.h"
#include "appid/import.h"
#include "bench.h"
#include "common/digest.h"
#include "common/util.h"

#define SMALL 10000
#define BIG 1000000
#define LOOKUPS 1000000

/* Times LOOKUPS lookups of hashes drawn from 0..range-1: per call for the
 * percentiles, then in bulk for the rate.  Returns the rate. */
static double
run_lookups(const char *name, struct appid *a, size_t range,
            struct bench_samples *s)
{
    uint8_t (*keys)[32] = xmalloc((size_t) LOOKUPS * 32);
    srand(42);
    for (size_t i = 0; i < LOOKUPS; i++) {
        bench_sig_hash((uint32_t) ((size_t) rand() % range), keys[i]);
    }

    struct appid_result r;
    for (size_t i = 0; i < LOOKUPS / 10; i++) {     /* Warm up. */
        appid_lookup(a, keys[i], NULL, 0, &r);
    }
    for (size_t i = 0; i < LOOKUPS; i++) {
        int64_t t0 = bench_now_ns();
        if (appid_lookup(a, keys[i], NULL, 0, &r)
            || r.match != APPID_MATCH_EXACT) {
            fprintf(stderr, "lookup %zu failed\n", i);
            exit(1);
        }
        bench_samples_add(s, (double) (bench_now_ns() - t0));
    }
    int64_t t0 = bench_now_ns();
    for (size_t i = 0; i < LOOKUPS; i++) {
        appid_lookup(a, keys[i], NULL, 0, &r);
    }
    double secs = (bench_now_ns() - t0) / 1e9;
    double rate = LOOKUPS / secs;
    bench_report(name, s);
    printf("%-44s %.0f lookups/s (bulk, no timer per call)\n", "", rate);
    free(keys);
    return rate;
}

static struct appid *
open_db(const char *path, int flags)
{
    struct appid *a;
    int64_t start = time_mono_ms();
    char *error = appid_open(path, flags | APPID_OPEN_READONLY, &a);
    if (error) {
        fprintf(stderr, "%s\n", error);
        exit(1);
    }
    if (flags & APPID_OPEN_PRELOAD) {
        printf("opened %s with the preloaded index in %.2fs\n", path,
               (time_mono_ms() - start) / 1000.0);
    }
    return a;
}

static void
bench_dpkg_import(const char *dir)
{
    char *path = xasprintf("%s/bench-dpkg.db", dir);
    unlink(path);
    struct appid *a;
    char *error = appid_open(path, APPID_OPEN_CREATE, &a);
    if (error) {
        fprintf(stderr, "%s\n", error);
        exit(1);
    }
    struct appid_dpkg_options opt = { .root = "/" };
    struct appid_import_report r;
    error = appid_import_dpkg(a, &opt, &r);
    if (error) {
        fprintf(stderr, "dpkg import: %s\n", error);
        exit(1);
    }
    printf("dpkg import of this machine: %zu packages, %zu files, %.1f MB in "
           "%.1fs: %.0f files/s, %.1f MB/s (goal: within 60s)\n",
           r.packages, r.files, r.bytes / 1e6, r.seconds,
           r.files / r.seconds, r.bytes / 1e6 / r.seconds);
    appid_close(a);
    unlink(path);
    free(path);
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "build/bench";
    char *mk = xasprintf("mkdir -p %s", dir);
    if (system(mk)) {
        return 1;
    }
    free(mk);

    printf("== appid: exact-hash lookups\n");
    char *small = bench_appid_db(dir, SMALL);
    char *big = bench_appid_db(dir, BIG);

    struct bench_samples s_small, s_big, s_uniform, s_sql_small, s_sql_big;
    bench_samples_init(&s_small);
    bench_samples_init(&s_big);
    bench_samples_init(&s_uniform);
    bench_samples_init(&s_sql_small);
    bench_samples_init(&s_sql_big);

    struct appid *a = open_db(small, APPID_OPEN_PRELOAD);
    double rate_small = run_lookups("preloaded, 10k rows, 10k working set",
                                    a, SMALL, &s_small);
    appid_close(a);

    a = open_db(big, APPID_OPEN_PRELOAD);
    double rate_big = run_lookups("preloaded, 1M rows, same 10k working set",
                                  a, SMALL, &s_big);
    run_lookups("preloaded, 1M rows, uniform over all 1M", a, BIG,
                &s_uniform);
    appid_close(a);

    a = open_db(small, 0);
    run_lookups("SQLite + hot cache, 10k rows", a, SMALL, &s_sql_small);
    appid_close(a);
    a = open_db(big, 0);
    run_lookups("SQLite + hot cache, 1M rows, 10k working set", a, SMALL,
                &s_sql_big);
    appid_close(a);

    bench_ratio("1M rows vs 10k rows (same working set)", &s_big, &s_small,
                "<= 1.30x");
    bench_ratio("1M uniform vs 10k rows", &s_uniform, &s_small, NULL);
    bench_ratio("preloaded vs SQLite+cache (1M rows)", &s_big, &s_sql_big,
                NULL);
    printf("GOAL p99 at 1M rows: %.2fus (goal <= 10us); rate %.0f/s at 1M, "
           "%.0f/s at 10k (goal >= 500000/s)\n",
           bench_percentile(&s_big, 99) / 1e3, rate_big, rate_small);

    bench_samples_destroy(&s_small);
    bench_samples_destroy(&s_big);
    bench_samples_destroy(&s_uniform);
    bench_samples_destroy(&s_sql_small);
    bench_samples_destroy(&s_sql_big);
    free(small);
    free(big);

    printf("\n== appid: import\n");
    bench_dpkg_import(dir);
    return 0;
}
