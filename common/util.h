/* util: small helpers shared by every component.
 *
 * The x* allocators abort() when memory runs out, as Open vSwitch's do: a
 * daemon that cannot allocate a few bytes cannot do anything useful, and
 * checking every small allocation hides the real error handling.  Large or
 * peer-controlled allocations use plain malloc() and handle failure. */
#ifndef APPFW_UTIL_H
#define APPFW_UTIL_H 1

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifndef ARRAY_SIZE            /* OVS's util.h has its own. */
#define ARRAY_SIZE(A) (sizeof (A) / sizeof (A)[0])
#endif

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
char *xstrdup(const char *);
char *xasprintf(const char *format, ...)
    __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *format, va_list);

/* a + b, saturated at INT64_MAX (or INT64_MIN) instead of overflowing:
 * counters that peers add to must never wrap, say, negative. */
static inline int64_t
sat_add64(int64_t a, int64_t b)
{
    int64_t r;
    return !__builtin_add_overflow(a, b, &r) ? r
           : b > 0 ? INT64_MAX : INT64_MIN;
}

/* Milliseconds on the monotonic clock, and on the wall clock. */
int64_t time_mono_ms(void);
int64_t time_wall_ms(void);

/* Microseconds on the monotonic clock. */
int64_t time_mono_us(void);

#endif /* util.h */
