/* bench: timing helpers shared by the benchmarks in `make bench`.
 *
 * Every benchmark measures the thing and a baseline in the same run and
 * reports percentiles and the ratio, never a bare number: these machines
 * are shared and noisy. */
#ifndef APPFW_BENCH_H
#define APPFW_BENCH_H 1

#include <stddef.h>
#include <stdint.h>

struct bench_samples {
    double *ns;
    size_t n, allocated;
};

int64_t bench_now_ns(void);

void bench_samples_init(struct bench_samples *);
void bench_samples_destroy(struct bench_samples *);
void bench_samples_add(struct bench_samples *, double ns);

/* The p-th percentile (0..100) of the samples; sorts them. */
double bench_percentile(struct bench_samples *, double p);

/* Prints "NAME: n=... p50=... p99=... mean=... rate=.../s". */
void bench_report(const char *name, struct bench_samples *);

/* Prints "RATIO NAME: p50 X.XXx p99 Y.YYx (goal ...)" comparing 'a' to the
 * baseline 'b'. */
void bench_ratio(const char *name, struct bench_samples *a,
                 struct bench_samples *b, const char *goal);

/* The hash of benchmark signature number 'i'. */
void bench_sig_hash(uint32_t i, uint8_t sha256[32]);

/* Returns the path of a signature database in 'dir' with 'n' generated
 * signatures (signature i: bench_sig_hash(i), file /usr/bin/prog<i>,
 * product product<i % 5000>), building it unless a previous run left it
 * there.  The caller frees the path. */
char *bench_appid_db(const char *dir, size_t n);

#endif /* bench.h */
