/* log: structured, rate-limited logging for the appfw daemons.
 *
 * Each line is logfmt:
 *     ts=2026-11-22T05:24:32.123Z level=warn module=chan msg="..."
 * The text is escaped ('"', '\' and control characters), so a hostile
 * string from a guest (a path with a newline, say) can never forge a line.
 * By convention the text names its object as key=value pairs:
 *     LOG_WARN_RL(&vm->log_rl, "frame rejected vm=%s error=%s", ...);
 *
 * A module declares itself once with LOG_MODULE(name).  Levels are global
 * with per-module overrides ("info", "chan:dbg,warn").  A rate limiter
 * (struct log_rl) is a token bucket per call site or per object; messages it
 * suppresses are counted and reported with the next one it lets through.
 *
 * Libraries (appid, the common protocol code) never log; daemons do. */
#ifndef APPFW_LOG_H
#define APPFW_LOG_H 1

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum log_level {
    LOGL_OFF,
    LOGL_ERR,
    LOGL_WARN,
    LOGL_INFO,
    LOGL_DBG,
};

/* A token bucket: 'per_minute' messages a minute on average, bursts of up
 * to 'burst'. */
struct log_rl {
    int per_minute;
    int burst;
    int64_t tokens;             /* In thousandths of a message. */
    int64_t last_ms;
    unsigned int suppressed;
    bool started;
};

#define LOG_RL_INIT(PER_MINUTE, BURST) { PER_MINUTE, BURST, 0, 0, 0, false }

#define LOG_MODULE(NAME) \
    static const char log_this_module[] __attribute__((unused)) = #NAME

#define LOG_ERR(...) log_write(LOGL_ERR, log_this_module, NULL, __VA_ARGS__)
#define LOG_WARN(...) log_write(LOGL_WARN, log_this_module, NULL, __VA_ARGS__)
#define LOG_INFO(...) log_write(LOGL_INFO, log_this_module, NULL, __VA_ARGS__)
#define LOG_DBG(...) log_write(LOGL_DBG, log_this_module, NULL, __VA_ARGS__)
#define LOG_ERR_RL(RL, ...) \
    log_write(LOGL_ERR, log_this_module, RL, __VA_ARGS__)
#define LOG_WARN_RL(RL, ...) \
    log_write(LOGL_WARN, log_this_module, RL, __VA_ARGS__)
#define LOG_INFO_RL(RL, ...) \
    log_write(LOGL_INFO, log_this_module, RL, __VA_ARGS__)
#define LOG_DBG_RL(RL, ...) \
    log_write(LOGL_DBG, log_this_module, RL, __VA_ARGS__)

/* Writes one line if 'module' is enabled at 'level' and 'rl' (may be NULL)
 * allows it. */
void log_write(enum log_level level, const char *module, struct log_rl *rl,
               const char *format, ...)
    __attribute__((format(printf, 4, 5)));

bool log_is_enabled(enum log_level level, const char *module);

/* Parses "LEVEL" or "MODULE:LEVEL" items separated by commas and applies
 * them.  Returns NULL or a malloc'd message (nothing is applied then). */
char *log_set_levels(const char *spec);

const char *log_level_name(enum log_level);
bool log_level_from_name(const char *, enum log_level *);

/* Sends output to 'path' (appending) instead of stderr.  Returns 0 or an
 * errno value.  log_reopen() reopens the same path (after rotation). */
int log_open_file(const char *path);
int log_reopen(void);

/* For tests: write to 'stream' and read time from 'clock_ms' (NULL: the
 * wall clock).  The rate limiter uses the same clock. */
void log_set_stream(FILE *stream);
void log_set_clock(int64_t (*clock_ms)(void));

/* The rate limiter on its own: returns true if a message may go out at
 * 'now_ms'.  When it does, '*suppressed' (if nonnull) receives the number
 * of messages dropped since the last one that went out. */
bool log_rl_allow(struct log_rl *, int64_t now_ms, unsigned int *suppressed);

#endif /* log.h */
