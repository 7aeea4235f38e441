#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define LOG_MAX_MODULES 64

static enum log_level default_level = LOGL_INFO;
static struct {
    char name[32];
    enum log_level level;
} module_levels[LOG_MAX_MODULES];
static size_t n_module_levels;

static FILE *log_stream;        /* NULL means stderr. */
static bool log_stream_owned;   /* Opened by log_open_file(). */
static char *log_path;
static int64_t (*log_clock)(void) = time_wall_ms;

static const char *const level_names[] = {
    [LOGL_OFF] = "off", [LOGL_ERR] = "err", [LOGL_WARN] = "warn",
    [LOGL_INFO] = "info", [LOGL_DBG] = "dbg",
};

const char *
log_level_name(enum log_level level)
{
    return level <= LOGL_DBG ? level_names[level] : "?";
}

bool
log_level_from_name(const char *name, enum log_level *level)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (!strcmp(name, level_names[i])) {
            *level = i;
            return true;
        }
    }
    if (!strcmp(name, "error")) {
        *level = LOGL_ERR;
    } else if (!strcmp(name, "warning")) {
        *level = LOGL_WARN;
    } else if (!strcmp(name, "debug")) {
        *level = LOGL_DBG;
    } else {
        return false;
    }
    return true;
}

bool
log_is_enabled(enum log_level level, const char *module)
{
    for (size_t i = 0; i < n_module_levels; i++) {
        if (!strcmp(module_levels[i].name, module)) {
            return level <= module_levels[i].level;
        }
    }
    return level <= default_level;
}

char *
log_set_levels(const char *spec)
{
    /* Parse everything first so that an error applies nothing. */
    char *copy = xstrdup(spec);
    enum log_level new_default = default_level;
    struct { char name[32]; enum log_level level; } items[LOG_MAX_MODULES];
    size_t n_items = 0;
    char *error = NULL;

    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        const char *lname = colon ? colon + 1 : item;
        enum log_level level;
        if (!log_level_from_name(lname, &level)) {
            error = xasprintf("log level \"%s\": unknown level \"%s\" "
                              "(off, err, warn, info, dbg)", spec, lname);
            goto out;
        }
        if (!colon) {
            new_default = level;
            continue;
        }
        *colon = '\0';
        if (!*item || strlen(item) >= sizeof items[0].name) {
            error = xasprintf("log level \"%s\": bad module name \"%s\"",
                              spec, item);
            goto out;
        }
        if (n_items >= ARRAY_SIZE(items)) {
            error = xasprintf("log level \"%s\": too many modules", spec);
            goto out;
        }
        strcpy(items[n_items].name, item);
        items[n_items++].level = level;
    }

    default_level = new_default;
    for (size_t i = 0; i < n_items; i++) {
        size_t j;
        for (j = 0; j < n_module_levels; j++) {
            if (!strcmp(module_levels[j].name, items[i].name)) {
                break;
            }
        }
        if (j == n_module_levels) {
            if (n_module_levels >= LOG_MAX_MODULES) {
                error = xasprintf("log level \"%s\": too many modules", spec);
                goto out;
            }
            strcpy(module_levels[j].name, items[i].name);
            n_module_levels++;
        }
        module_levels[j].level = items[i].level;
    }

out:
    free(copy);
    return error;
}

int
log_open_file(const char *path)
{
    FILE *stream = fopen(path, "a");
    if (!stream) {
        return errno;
    }
    setvbuf(stream, NULL, _IOLBF, 0);
    if (log_stream_owned) {
        fclose(log_stream);
    }
    log_stream = stream;
    log_stream_owned = true;
    if (log_path != path) {
        free(log_path);
        log_path = xstrdup(path);
    }
    return 0;
}

int
log_reopen(void)
{
    return log_path ? log_open_file(log_path) : 0;
}

void
log_set_stream(FILE *stream)
{
    if (log_stream_owned) {
        fclose(log_stream);
        log_stream_owned = false;
    }
    log_stream = stream;
}

void
log_set_clock(int64_t (*clock_ms)(void))
{
    log_clock = clock_ms ? clock_ms : time_wall_ms;
}

bool
log_rl_allow(struct log_rl *rl, int64_t now_ms, unsigned int *suppressed)
{
    int64_t cap = (int64_t) rl->burst * 1000;

    if (!rl->started) {
        rl->started = true;
        rl->tokens = cap;
        rl->last_ms = now_ms;
    } else if (now_ms > rl->last_ms) {
        /* per_minute messages per 60000 ms = per_minute / 60 thousandths
         * of a message per ms. */
        int64_t elapsed = now_ms - rl->last_ms;
        int64_t gain = elapsed >= 60000 ? cap
                                        : elapsed * rl->per_minute / 60;
        rl->tokens = rl->tokens + gain > cap ? cap : rl->tokens + gain;
        rl->last_ms = now_ms;
    }

    if (rl->tokens >= 1000) {
        rl->tokens -= 1000;
        if (suppressed) {
            *suppressed = rl->suppressed;
        }
        rl->suppressed = 0;
        return true;
    }
    rl->suppressed++;
    return false;
}

/* Appends 'src' to 'dst' (of 'size' bytes, 'len' used) with logfmt
 * escaping.  Returns the new length. */
static size_t
escape_append(char *dst, size_t size, size_t len, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *) src;
         *p && len + 5 < size; p++) {
        if (*p == '"' || *p == '\\') {
            dst[len++] = '\\';
            dst[len++] = *p;
        } else if (*p == '\n') {
            dst[len++] = '\\';
            dst[len++] = 'n';
        } else if (*p < 0x20 || *p == 0x7f) {
            dst[len++] = '\\';
            dst[len++] = 'x';
            dst[len++] = hex[*p >> 4];
            dst[len++] = hex[*p & 15];
        } else {
            dst[len++] = *p;
        }
    }
    dst[len] = '\0';
    return len;
}

void
log_write(enum log_level level, const char *module, struct log_rl *rl,
          const char *format, ...)
{
    if (!log_is_enabled(level, module)) {
        return;
    }

    int64_t now = log_clock();
    unsigned int suppressed = 0;
    if (rl && !log_rl_allow(rl, now, &suppressed)) {
        return;
    }

    char text[2048];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);

    char line[4608];
    time_t secs = now / 1000;
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t len = strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
    len += snprintf(line + len, sizeof line - len,
                    ".%03dZ level=%s module=%s msg=\"", (int) (now % 1000),
                    log_level_name(level), module);
    len = escape_append(line, sizeof line - 2, len, text);
    len += snprintf(line + len, sizeof line - len, "\"");
    if (suppressed) {
        snprintf(line + len, sizeof line - len, " suppressed=%u", suppressed);
    }

    FILE *stream = log_stream ? log_stream : stderr;
    fprintf(stream, "%s\n", line);
    fflush(stream);
}
