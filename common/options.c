#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
