/* curated: the hand-maintained tables in appid/data/ that turn a Debian
 * package into a category and threat level, plus the curated name and path
 * patterns.  Pure: parsing text and answering lookups; the caller reads the
 * files (curated_load() does, for convenience).
 *
 *   sections.tsv   section  category  threat
 *   packages.tsv   package-glob  category  threat      (first match wins)
 *   patterns.tsv   kind  glob  product  vendor  category  trust  threat
 *                  confidence
 *
 * '#' starts a comment line; fields are tab-separated; a malformed line is
 * an error naming the file and line. */
#ifndef APPID_CURATED_H
#define APPID_CURATED_H 1

#include <stddef.h>

#include "appid/appid.h"

struct curated;

struct curated *curated_create(void);
void curated_destroy(struct curated *);

/* Parse one file's text ('name' is used in messages).  Return NULL or a
 * malloc'd message. */
char *curated_parse_sections(struct curated *, const char *name,
                             const char *text);
char *curated_parse_packages(struct curated *, const char *name,
                             const char *text);
char *curated_parse_patterns(struct curated *, const char *name,
                             const char *text);

/* Reads sections.tsv, packages.tsv and patterns.tsv from 'dir'. */
char *curated_load(struct curated *, const char *dir);

/* The category and threat of 'package' in archive 'section' ("net",
 * "contrib/net", or "" if unknown). */
void curated_classify(const struct curated *, const char *section,
                      const char *package, const char **category,
                      enum appid_threat *threat);

size_t curated_n_patterns(const struct curated *);
const struct appid_pattern *curated_pattern(const struct curated *,
                                            size_t i);

#endif /* curated.h */
