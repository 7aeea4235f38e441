#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static const struct option_def *
find(const struct option_def *defs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(defs[i].name, name)) {
            return &defs[i];
        }
    }
    return NULL;
}

static char *
set_one(const struct option_def *d, void *base, const char *value)
{
    void *field = (char *) base + d->offset;
    if (d->type == OPT_STRING) {
        free(*(char **) field);
        *(char **) field = xstrdup(value);
        return NULL;
    }
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, d->type == OPT_MODE ? 8 : 10);
    if (!*value || *end || errno) {
        return xasprintf("%s: \"%s\" is not %s", d->name, value,
                         d->type == OPT_MODE ? "an octal mode"
                                             : "an integer");
    }
    if (v < d->min || v > d->max) {
        return d->type == OPT_MODE
               ? xasprintf("%s: %llo out of range %llo..%llo", d->name, v,
                           (long long) d->min, (long long) d->max)
               : xasprintf("%s: %lld out of range %lld..%lld", d->name, v,
                           (long long) d->min, (long long) d->max);
    }
    *(int *) field = (int) v;
    return NULL;
}

void
options_defaults(const struct option_def *defs, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        char *error = set_one(&defs[i], base, defs[i].dflt);
        if (error) {
            abort();            /* A bad default is a programming error. */
        }
    }
}

char *
options_set(const struct option_def *defs, size_t n, void *base,
            const char *name, const char *value)
{
    const struct option_def *d = find(defs, n, name);
    return d ? set_one(d, base, value)
             : xasprintf("unknown option \"%s\" (see --help)", name);
}

static char *
trim(char *s)
{
    while (isspace((unsigned char) *s)) {
        s++;
    }
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char) end[-1])) {
        *--end = '\0';
    }
    return s;
}

char *
options_read_file(const struct option_def *defs, size_t n, void *base,
                  const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return xasprintf("%s: %s", path, strerror(errno));
    }
    char line[4096];
    int lineno = 0;
    char *error = NULL;
    while (!error && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#') {
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            error = xasprintf("%s:%d: expected \"name = value\"", path,
                              lineno);
            break;
        }
        *eq = '\0';
        char *msg = options_set(defs, n, base, trim(s), trim(eq + 1));
        if (msg) {
            error = xasprintf("%s:%d: %s", path, lineno, msg);
            free(msg);
        }
    }
    fclose(f);
    return error;
}

char *
options_expand(const struct option_def *defs, size_t n, void *base)
{
    for (int pass = 0; pass < 4; pass++) {
        for (size_t i = 0; i < n; i++) {
            if (defs[i].type != OPT_STRING) {
                continue;
            }
            char **field = (char **) ((char *) base + defs[i].offset);
            char *open = strchr(*field, '{');
            if (!open) {
                continue;
            }
            char *close = strchr(open, '}');
            if (!close) {
                return xasprintf("%s: unbalanced { in \"%s\"", defs[i].name,
                                 *field);
            }
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int) (close - open - 1),
                     open + 1);
            const struct option_def *ref = find(defs, n, name);
            if (!ref || ref->type != OPT_STRING) {
                return xasprintf("%s: \"{%s}\" names no string option",
                                 defs[i].name, name);
            }
            const char *value = *(char **) ((char *) base + ref->offset);
            char *expanded = xasprintf("%.*s%s%s", (int) (open - *field),
                                       *field, value, close + 1);
            free(*field);
            *field = expanded;
        }
    }
    return NULL;
}

void
options_print_help(const struct option_def *defs, size_t n, FILE *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *arg = defs[i].type == OPT_STRING ? "TEXT"
                          : defs[i].type == OPT_MODE ? "MODE" : "N";
        fprintf(out, "  --%s=%s\n      %s (default: %s)\n", defs[i].name,
                arg, defs[i].help, *defs[i].dflt ? defs[i].dflt : "none");
    }
}

void
options_print(const struct option_def *defs, size_t n, const void *base,
              FILE *out)
{
    for (size_t i = 0; i < n; i++) {
        const void *field = (const char *) base + defs[i].offset;
        if (defs[i].type == OPT_STRING) {
            fprintf(out, "%s = %s\n", defs[i].name, *(char *const *) field);
        } else if (defs[i].type == OPT_MODE) {
            fprintf(out, "%s = %04o\n", defs[i].name, *(const int *) field);
        } else {
            fprintf(out, "%s = %d\n", defs[i].name, *(const int *) field);
        }
    }
}

void
options_free(const struct option_def *defs, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        if (defs[i].type == OPT_STRING) {
            char **field = (char **) ((char *) base + defs[i].offset);
            free(*field);
            *field = NULL;
        }
    }
}

char *
options_parse_args(const struct option_def *defs, size_t n, void *base,
                   int argc, char **argv, enum options_action *action)
{
    *action = OPTIONS_RUN;
    for (int i = 1; i < argc; i++) {
        const char *cfg = NULL;
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
            && i + 1 < argc) {
            cfg = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            cfg = argv[i] + 9;
        }
        if (cfg) {
            char *error = options_read_file(defs, n, base, cfg);
            if (error) {
                return error;
            }
        }
    }
    bool check = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *action = OPTIONS_HELP;
            return NULL;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--check")) {
            check = true;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
            i++;
        } else if (!strncmp(a, "--config=", 9)) {
            continue;
        } else if (!strncmp(a, "--", 2)) {
            char *name = xstrdup(a + 2);
            char *eq = strchr(name, '=');
            const char *value;
            if (eq) {
                *eq = '\0';
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                char *msg = xasprintf("--%s: missing value (see --help)",
                                      name);
                free(name);
                return msg;
            }
            char *error = options_set(defs, n, base, name, value);
            free(name);
            if (error) {
                return error;
            }
        } else {
            return xasprintf("unexpected argument \"%s\" (see --help)", a);
        }
    }
    *action = check ? OPTIONS_CHECK : OPTIONS_RUN;
    return options_expand(defs, n, base);
}

int
options_daemon_start(const struct option_def *defs, size_t n, void *base,
                     int argc, char **argv, const char *program,
                     void (*usage)(void), char *const *log_level,
                     char *const *log_file)
{
    options_defaults(defs, n, base);
    enum options_action action;
    char *error = options_parse_args(defs, n, base, argc, argv, &action);
    if (!error && action == OPTIONS_HELP) {
        usage();
        options_free(defs, n, base);
        return 0;
    }
    if (!error) {
        error = log_set_levels(*log_level);
    }
    if (!error && action == OPTIONS_CHECK) {
        options_print(defs, n, base, stdout);
        options_free(defs, n, base);
        return 0;
    }
    if (!error && **log_file && log_open_file(*log_file)) {
        error = xasprintf("%s: cannot open log file: %s", *log_file,
                          strerror(errno));
    }
    if (error) {
        fprintf(stderr, "%s: %s\n", program, error);
        free(error);
        options_free(defs, n, base);
        return 1;
    }
    return -1;
}
