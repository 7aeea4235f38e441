/* libappid importers and exporter.
 *
 * Each import runs in one transaction: it either lands whole or leaves the
 * database as it was, and returns NULL or a malloc'd message.  See
 * docs/appid.md for the dpkg rules and the feed format. */
#ifndef APPID_IMPORT_H
#define APPID_IMPORT_H 1

#include <stdint.h>
#include <stdio.h>

#include "appid/appid.h"

struct appid_import_report {
    size_t packages;            /* dpkg: installed packages read. */
    size_t files;               /* dpkg: executables found. */
    size_t added;               /* Signatures written (added or changed). */
    size_t changed;             /* feed: entries in "changed". */
    size_t removed;             /* feed: entries in "removed". */
    size_t patterns;            /* Patterns written or removed. */
    size_t trusted;             /* dpkg: matched the shipped checksum. */
    size_t unverified;          /* dpkg: the package ships no checksum. */
    size_t untrusted;           /* dpkg: differed from it (modified). */
    size_t unreadable;          /* Files skipped because reading failed. */
    char first_unreadable[300]; /* "PATH: error" for the first of them. */
    uint64_t bytes;             /* Bytes hashed. */
    double seconds;
    int64_t feed_version;       /* feed: the version now in the database. */
};

/* Called during long imports: 'done' of 'total' files, 'bytes' so far. */
typedef void appid_progress_cb(size_t done, size_t total, uint64_t bytes,
                               void *aux);

struct appid_dpkg_options {
    const char *root;           /* The Debian root; NULL means "/". */
    const char *data_dir;       /* Curated tables; NULL: the built-in dir. */
    appid_progress_cb *progress;
    void *aux;
};

/* Imports every executable of every installed package under 'root'. */
char *appid_import_dpkg(struct appid *, const struct appid_dpkg_options *,
                        struct appid_import_report *);

/* Imports a JSON feed ('len' bytes of 'text').  Refuses a feed whose
 * version is not newer than the database's. */
char *appid_import_feed(struct appid *, const char *text, size_t len,
                        struct appid_import_report *);

/* Writes every signature and pattern as a full feed of the database's
 * version.  '*count' (if nonnull) receives the number of signatures. */
char *appid_export_feed(struct appid *, FILE *out, size_t *count);

/* The directory of the curated tables built into this library. */
const char *appid_default_data_dir(void);

#endif /* appid/import.h */
