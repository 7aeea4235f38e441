/* pattern: libappid's name and path patterns in memory, and matching.
 * Pure: the patterns come from appid.c, which reads them from SQLite.
 *
 * A path pattern is matched against the whole path, a name pattern against
 * the last path component, ignoring case.  Path patterns are tried before
 * name patterns; within a kind, the pattern with the longest literal prefix
 * (the part before the first wildcard) wins, then the higher confidence,
 * then the glob in byte order, so the answer never depends on load order. */
#ifndef APPID_PATTERN_H
#define APPID_PATTERN_H 1

#include <stddef.h>

#include "appid/appid.h"

struct pattern_set {
    struct appid_pattern *items;    /* Sorted as above; strings owned. */
    size_t *prefix_len;
    size_t n, allocated;
};

void pattern_set_init(struct pattern_set *);
void pattern_set_destroy(struct pattern_set *);

/* Adds a copy of 'p'.  Call pattern_set_sort() after the last one. */
void pattern_set_add(struct pattern_set *, const struct appid_pattern *p);
void pattern_set_sort(struct pattern_set *);

/* Returns the first pattern matching 'path' (may be NULL) or its last
 * component, or NULL. */
const struct appid_pattern *pattern_set_match(const struct pattern_set *,
                                              const char *path);

/* Checks a glob's syntax: returns NULL or a malloc'd message. */
char *pattern_check_glob(enum appid_pattern_kind, const char *glob);

#endif /* pattern.h */
