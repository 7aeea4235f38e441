#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
