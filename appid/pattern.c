#include "pattern.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void
pattern_set_init(struct pattern_set *set)
{
    memset(set, 0, sizeof *set);
}

void
pattern_set_destroy(struct pattern_set *set)
{
    if (!set) {
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        struct appid_pattern *p = &set->items[i];
        free((char *) p->glob);
        free((char *) p->product);
        free((char *) p->vendor);
        free((char *) p->category);
        free((char *) p->source);
    }
    free(set->items);
    free(set->prefix_len);
    pattern_set_init(set);
}

void
pattern_set_add(struct pattern_set *set, const struct appid_pattern *p)
{
    if (set->n >= set->allocated) {
        set->allocated = set->allocated ? set->allocated * 2 : 16;
        set->items = xrealloc(set->items,
                              set->allocated * sizeof *set->items);
        set->prefix_len = xrealloc(set->prefix_len,
                                   set->allocated * sizeof *set->prefix_len);
    }
    struct appid_pattern *q = &set->items[set->n];
    *q = *p;
    q->glob = xstrdup(p->glob);
    q->product = xstrdup(p->product);
    q->vendor = xstrdup(p->vendor);
    q->category = xstrdup(p->category);
    q->source = xstrdup(p->source);
    set->prefix_len[set->n] = strcspn(p->glob, "*?[\\");
    set->n++;
}

static int
compare_patterns(const void *a_, const void *b_)
{
    const struct appid_pattern *a = a_, *b = b_;
    if (a->kind != b->kind) {
        return a->kind == APPID_PATTERN_PATH ? -1 : 1;
    }
    size_t pa = strcspn(a->glob, "*?[\\"), pb = strcspn(b->glob, "*?[\\");
    if (pa != pb) {
        return pa > pb ? -1 : 1;
    }
    if (a->confidence != b->confidence) {
        return a->confidence > b->confidence ? -1 : 1;
    }
    return strcmp(a->glob, b->glob);
}

void
pattern_set_sort(struct pattern_set *set)
{
    if (!set->n) {
        return;                 /* qsort() must not see a null array. */
    }
    qsort(set->items, set->n, sizeof *set->items, compare_patterns);
    for (size_t i = 0; i < set->n; i++) {
        set->prefix_len[i] = strcspn(set->items[i].glob, "*?[\\");
    }
}

const struct appid_pattern *
pattern_set_match(const struct pattern_set *set, const char *path)
{
    if (!path || !*path) {
        return NULL;
    }
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;

    for (size_t i = 0; i < set->n; i++) {
        const struct appid_pattern *p = &set->items[i];
        size_t plen = set->prefix_len[i];
        if (p->kind == APPID_PATTERN_PATH) {
            if (!strncmp(path, p->glob, plen)
                && !fnmatch(p->glob, path, 0)) {
                return p;
            }
        } else if (!strncasecmp(name, p->glob, plen)
                   && !fnmatch(p->glob, name, FNM_CASEFOLD)) {
            return p;
        }
    }
    return NULL;
}

char *
pattern_check_glob(enum appid_pattern_kind kind, const char *glob)
{
    size_t n = strlen(glob);
    if (n == 0 || n > 1024) {
        return xasprintf("pattern \"%.64s\": length must be 1..1024", glob);
    }
    if (kind == APPID_PATTERN_PATH && glob[0] != '/') {
        return xasprintf("path pattern \"%.64s\" must start with /", glob);
    }
    if (kind == APPID_PATTERN_NAME && strchr(glob, '/')) {
        return xasprintf("name pattern \"%.64s\" must not contain /", glob);
    }
    if (!strcmp(glob, "*") || (kind == APPID_PATTERN_PATH
                               && !strcmp(glob, "/*"))) {
        return xasprintf("pattern \"%s\" would match everything", glob);
    }
    return NULL;
}
