#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appid/appid.h"
#include "common/digest.h"
#include "common/util.h"

int64_t
bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
bench_samples_init(struct bench_samples *s)
{
    s->ns = NULL;
    s->n = s->allocated = 0;
}

void
bench_samples_destroy(struct bench_samples *s)
{
    free(s->ns);
    bench_samples_init(s);
}

void
bench_samples_add(struct bench_samples *s, double ns)
{
    if (s->n >= s->allocated) {
        s->allocated = s->allocated ? s->allocated * 2 : 1024;
        s->ns = xrealloc(s->ns, s->allocated * sizeof *s->ns);
    }
    s->ns[s->n++] = ns;
}

static int
compare_double(const void *a_, const void *b_)
{
    double a = *(const double *) a_, b = *(const double *) b_;
    return a < b ? -1 : a > b;
}

double
bench_percentile(struct bench_samples *s, double p)
{
    if (!s->n) {
        return 0;
    }
    qsort(s->ns, s->n, sizeof *s->ns, compare_double);
    size_t i = (size_t) (p / 100.0 * (s->n - 1) + 0.5);
    return s->ns[i < s->n ? i : s->n - 1];
}

static void
format_ns(char *out, size_t size, double ns)
{
    if (ns >= 1e6) {
        snprintf(out, size, "%.2fms", ns / 1e6);
    } else if (ns >= 1e3) {
        snprintf(out, size, "%.2fus", ns / 1e3);
    } else {
        snprintf(out, size, "%.0fns", ns);
    }
}

void
bench_report(const char *name, struct bench_samples *s)
{
    double sum = 0;
    for (size_t i = 0; i < s->n; i++) {
        sum += s->ns[i];
    }
    double mean = s->n ? sum / s->n : 0;
    char p50[32], p99[32], avg[32];
    format_ns(p50, sizeof p50, bench_percentile(s, 50));
    format_ns(p99, sizeof p99, bench_percentile(s, 99));
    format_ns(avg, sizeof avg, mean);
    printf("%-44s n=%-8zu p50=%-9s p99=%-9s mean=%-9s rate=%.0f/s\n", name,
           s->n, p50, p99, avg, mean > 0 ? 1e9 / mean : 0);
}

void
bench_ratio(const char *name, struct bench_samples *a,
            struct bench_samples *b, const char *goal)
{
    double r50 = bench_percentile(a, 50) / bench_percentile(b, 50);
    double r99 = bench_percentile(a, 99) / bench_percentile(b, 99);
    printf("RATIO %-38s p50 %.2fx  p99 %.2fx%s%s\n", name, r50, r99,
           goal ? "  goal: " : "", goal ? goal : "");
}

void
bench_sig_hash(uint32_t i, uint8_t sha256[32])
{
    uint8_t seed[8];
    memcpy(seed, &i, 4);
    memcpy(seed + 4, "sig!", 4);
    digest_sha256(seed, sizeof seed, sha256);
}

static void
die(const char *what, const char *msg)
{
    fprintf(stderr, "%s: %s\n", what, msg);
    exit(1);
}

char *
bench_appid_db(const char *dir, size_t n)
{
    char *path = xasprintf("%s/bench-%zu.db", dir, n);
    char *done = xasprintf("%s.done", path);
    struct stat st;
    if (!stat(done, &st)) {
        free(done);
        return path;
    }

    unlink(path);
    struct appid *a;
    char *error = appid_open(path, APPID_OPEN_CREATE, &a);
    if (error) {
        die(path, error);
    }
    int64_t start = time_mono_ms();
    if (appid_begin(a)) {
        die(path, appid_last_error(a));
    }
    for (size_t i = 0; i < n; i++) {
        char name[32], file[64], product[32];
        snprintf(name, sizeof name, "prog%zu", i);
        snprintf(file, sizeof file, "/usr/bin/prog%zu", i);
        snprintf(product, sizeof product, "product%zu", i % 5000);
        struct appid_signature s = {
            .name = name, .path = file, .size = 4096, .product = product,
            .description = "benchmark product", .vendor = "Bench Vendor",
            .version = "1.0", .category = i % 7 ? "utility" : "p2p",
            .trust = APPID_TRUST_TRUSTED, .threat = APPID_THREAT_LOW,
            .reason = "", .source = "bench",
        };
        bench_sig_hash((uint32_t) i, s.sha256);
        if (appid_add(a, &s)) {
            die(path, appid_last_error(a));
        }
    }
    if (appid_commit(a)) {
        die(path, appid_last_error(a));
    }
    appid_close(a);
    printf("built %zu signatures in %.1fs (kept in %s for later runs)\n", n,
           (time_mono_ms() - start) / 1000.0, path);
    FILE *f = fopen(done, "w");
    if (f) {
        fclose(f);
    }
    free(done);
    return path;
}
