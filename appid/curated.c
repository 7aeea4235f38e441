#include "curated.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "pattern.h"

struct class_rule {
    char *key;                  /* Section, or package glob. */
    char *category;
    enum appid_threat threat;
};

struct rule_list {
    struct class_rule *rules;
    size_t n, allocated;
};

struct curated {
    struct rule_list sections;
    struct rule_list packages;
    struct pattern_set patterns;    /* In file order (not sorted). */
};

struct curated *
curated_create(void)
{
    struct curated *c = xcalloc(1, sizeof *c);
    pattern_set_init(&c->patterns);
    return c;
}

static void
rule_list_destroy(struct rule_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->rules[i].key);
        free(l->rules[i].category);
    }
    free(l->rules);
}

void
curated_destroy(struct curated *c)
{
    if (c) {
        rule_list_destroy(&c->sections);
        rule_list_destroy(&c->packages);
        pattern_set_destroy(&c->patterns);
        free(c);
    }
}

/* Splits 'line' in place at tabs into at most 'max' fields; returns the
 * count. */
static size_t
split_tabs(char *line, char **fields, size_t max)
{
    size_t n = 0;
    for (char *p = line; n < max; ) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) {
            break;
        }
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

typedef char *line_func(struct curated *, char **fields, size_t n);

/* Calls 'fn' for each non-comment, non-blank line of 'text'. */
static char *
parse_lines(struct curated *c, const char *name, const char *text,
            size_t n_fields, line_func *fn)
{
    char *copy = xstrdup(text);
    char *error = NULL;
    int lineno = 0;
    char *save = NULL;

    for (char *line = copy; line; line = save) {
        save = strchr(line, '\n');
        if (save) {
            *save++ = '\0';
        }
        lineno++;
        line[strcspn(line, "\r")] = '\0';
        if (line[0] == '#' || line[strspn(line, " \t")] == '\0') {
            continue;
        }
        char *fields[16];
        size_t n = split_tabs(line, fields, ARRAY_SIZE(fields));
        if (n != n_fields) {
            error = xasprintf("%s:%d: %zu tab-separated fields, expected "
                              "%zu", name, lineno, n, n_fields);
            break;
        }
        char *msg = fn(c, fields, n);
        if (msg) {
            error = xasprintf("%s:%d: %s", name, lineno, msg);
            free(msg);
            break;
        }
    }
    free(copy);
    return error;
}

static char *
add_class_rule(struct rule_list *l, char **f)
{
    enum appid_threat threat;
    if (!*f[0] || !*f[1]) {
        return xstrdup("empty key or category");
    }
    if (strlen(f[1]) > 64) {
        return xasprintf("category \"%.64s...\" is longer than 64 bytes",
                         f[1]);
    }
    if (!appid_threat_from_name(f[2], &threat)) {
        return xasprintf("unknown threat level \"%s\" (none, low, medium, "
                         "high, critical)", f[2]);
    }
    if (l->n >= l->allocated) {
        l->allocated = l->allocated ? 2 * l->allocated : 64;
        l->rules = xrealloc(l->rules, l->allocated * sizeof *l->rules);
    }
    l->rules[l->n++] = (struct class_rule) {
        xstrdup(f[0]), xstrdup(f[1]), threat
    };
    return NULL;
}

static char *
section_line(struct curated *c, char **f, size_t n)
{
    (void) n;
    return add_class_rule(&c->sections, f);
}

static char *
package_line(struct curated *c, char **f, size_t n)
{
    (void) n;
    return add_class_rule(&c->packages, f);
}

static char *
pattern_line(struct curated *c, char **f, size_t n)
{
    (void) n;
    struct appid_pattern p = {
        .glob = f[1], .product = f[2], .vendor = f[3],
        .category = *f[4] ? f[4] : "unknown", .source = "curated",
    };
    if (!strcmp(f[0], "name")) {
        p.kind = APPID_PATTERN_NAME;
    } else if (!strcmp(f[0], "path")) {
        p.kind = APPID_PATTERN_PATH;
    } else {
        return xasprintf("kind \"%s\" is not name or path", f[0]);
    }
    char *msg = pattern_check_glob(p.kind, p.glob);
    if (msg) {
        return msg;
    }
    if (!appid_trust_from_name(f[5], &p.trust)) {
        return xasprintf("unknown trust level \"%s\"", f[5]);
    }
    if (!appid_threat_from_name(f[6], &p.threat)) {
        return xasprintf("unknown threat level \"%s\"", f[6]);
    }
    char *end;
    long conf = strtol(f[7], &end, 10);
    if (!*f[7] || *end || conf < 1 || conf > 99) {
        return xasprintf("confidence \"%s\" is not 1..99", f[7]);
    }
    p.confidence = conf;
    pattern_set_add(&c->patterns, &p);
    return NULL;
}

char *
curated_parse_sections(struct curated *c, const char *name, const char *text)
{
    return parse_lines(c, name, text, 3, section_line);
}

char *
curated_parse_packages(struct curated *c, const char *name, const char *text)
{
    return parse_lines(c, name, text, 3, package_line);
}

char *
curated_parse_patterns(struct curated *c, const char *name, const char *text)
{
    return parse_lines(c, name, text, 8, pattern_line);
}

static char *
read_text(const char *path, char **textp)
{
    FILE *f = fopen(path, "r");
    *textp = NULL;
    if (!f) {
        return xasprintf("%s: %s", path, strerror(errno));
    }
    size_t len = 0, allocated = 4096;
    char *text = xmalloc(allocated);
    size_t n;
    while ((n = fread(text + len, 1, allocated - len - 1, f)) > 0) {
        len += n;
        if (allocated - len < 2) {
            allocated *= 2;
            text = xrealloc(text, allocated);
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(text);
        return xasprintf("%s: read error", path);
    }
    text[len] = '\0';
    *textp = text;
    return NULL;
}

char *
curated_load(struct curated *c, const char *dir)
{
    static const struct {
        const char *file;
        char *(*parse)(struct curated *, const char *, const char *);
    } files[] = {
        { "sections.tsv", curated_parse_sections },
        { "packages.tsv", curated_parse_packages },
        { "patterns.tsv", curated_parse_patterns },
    };

    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char *path = xasprintf("%s/%s", dir, files[i].file);
        char *text;
        char *error = read_text(path, &text);
        if (!error) {
            error = files[i].parse(c, path, text);
            free(text);
        }
        free(path);
        if (error) {
            return error;
        }
    }
    return NULL;
}

void
curated_classify(const struct curated *c, const char *section,
                 const char *package, const char **category,
                 enum appid_threat *threat)
{
    *category = "unknown";
    *threat = APPID_THREAT_NONE;

    for (size_t i = 0; i < c->packages.n; i++) {
        const struct class_rule *r = &c->packages.rules[i];
        if (!fnmatch(r->key, package, 0)) {
            *category = r->category;
            *threat = r->threat;
            return;
        }
    }

    const char *slash = strrchr(section, '/');
    const char *s = slash ? slash + 1 : section;
    for (size_t i = 0; i < c->sections.n; i++) {
        const struct class_rule *r = &c->sections.rules[i];
        if (!strcmp(r->key, s)) {
            *category = r->category;
            *threat = r->threat;
            return;
        }
    }
}

size_t
curated_n_patterns(const struct curated *c)
{
    return c->patterns.n;
}

const struct appid_pattern *
curated_pattern(const struct curated *c, size_t i)
{
    return i < c->patterns.n ? &c->patterns.items[i] : NULL;
}
