/* libappid: the application signature database.
 *
 * Turns an executable's SHA-256 (and, failing that, its path and name) into
 * what policy can name: product, vendor, version, category, trust level and
 * threat level.  The database is SQLite (WAL, schema versioned with
 * migrations); see docs/appid.md for the model and the feed format.
 *
 * Lookups, in order (the first that applies wins):
 *   1. exact: the hash is known.  Confidence 100; trust as recorded.
 *   2. modified: the path is a known install path (or the name a known file
 *      name) but the hash is not that file's.  Reported as match NAME,
 *      trust UNTRUSTED, with the product it pretends to be and the reason.
 *   3. pattern: a curated path pattern ("/opt/transmission/..."), then name
 *      pattern ("utorrent*"), with the pattern's confidence: it may classify
 *      the application (category, trust, threat) without naming the exact
 *      product.
 *   4. unknown.
 * Step 2 applies to a path only when the path is known; to a bare name only
 * when some signature has that file name (confidence 40).
 *
 * A handle opened with APPID_OPEN_PRELOAD keeps every signature's hash in an
 * in-memory index (about 48 bytes a signature), so exact lookups never touch
 * SQLite; a bounded hot-entry cache sits in front of the index, or of SQLite
 * without preload.  The
 * library never logs or exits: functions return 0 or a positive errno, or a
 * malloc'd message (NULL on success), and appid_last_error() explains the
 * last failed call.  A handle is for one thread at a time. */
#ifndef APPID_APPID_H
#define APPID_APPID_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct appid;

enum appid_trust {
    APPID_TRUST_TRUSTED,    /* Matches its package's shipped checksum. */
    APPID_TRUST_KNOWN,      /* Known (from a feed), not verified locally. */
    APPID_TRUST_UNKNOWN,
    APPID_TRUST_UNTRUSTED,  /* Modified, or marked bad by a feed. */
};

enum appid_threat {
    APPID_THREAT_NONE,
    APPID_THREAT_LOW,
    APPID_THREAT_MEDIUM,
    APPID_THREAT_HIGH,
    APPID_THREAT_CRITICAL,
};

enum appid_match {
    APPID_MATCH_EXACT,      /* Hash known. */
    APPID_MATCH_PATTERN,    /* A curated path or name pattern. */
    APPID_MATCH_NAME,       /* Only the path or file name is known. */
    APPID_MATCH_UNKNOWN,
};

const char *appid_trust_name(enum appid_trust);
const char *appid_threat_name(enum appid_threat);
const char *appid_match_name(enum appid_match);
bool appid_trust_from_name(const char *, enum appid_trust *);
bool appid_threat_from_name(const char *, enum appid_threat *);

/* Flags for appid_open(). */
#define APPID_OPEN_READONLY 0x1 /* Refuse every change. */
#define APPID_OPEN_CREATE 0x2   /* Create the file if missing. */
#define APPID_OPEN_PRELOAD 0x4  /* Index every hash in memory. */

/* Opens (creating and migrating as 'flags' allow) the database at 'path'
 * (":memory:" for a private in-memory one).  Returns NULL and stores the
 * handle in '*appidp', or returns a malloc'd message naming the problem
 * (missing file, not a database, corrupt, newer schema, ...). */
char *appid_open(const char *path, int flags, struct appid **appidp);
void appid_close(struct appid *);

/* The message for the last call on this handle that failed. */
const char *appid_last_error(const struct appid *);

/* The result of a lookup.  The string pointers stay valid until the handle
 * is closed or the next change to the database through it; "" when
 * unknown. */
struct appid_result {
    enum appid_match match;
    int confidence;             /* 0..100. */
    enum appid_trust trust;
    enum appid_threat threat;
    const char *product;        /* Package or product name. */
    const char *description;
    const char *vendor;
    const char *version;
    const char *category;
    const char *source;         /* Which import or feed said so. */
    const char *install_path;   /* APPID_MATCH_EXACT: the signature's
                                 * install path ("" if it has none), valid
                                 * until the next lookup; else "" (and NULL
                                 * in results made by hand: unknown). */
    char reason[256];           /* Why this trust level. */
};

/* Looks an application up by 'sha256' (may be NULL), 'path' (may be NULL:
 * its last component is the file name) and 'size' (unused for now, may be
 * 0).  Returns 0 with 'result' filled (an unknown application is not an
 * error), or EIO with appid_last_error() set. */
int appid_lookup(struct appid *, const uint8_t *sha256, const char *path,
                 uint64_t size, struct appid_result *result);

/* One signature, as stored.  Strings must not be NULL ("" if unknown). */
struct appid_signature {
    uint8_t sha256[32];
    const char *name;           /* File name. */
    const char *path;           /* Install path. */
    int64_t size;               /* -1 if unknown. */
    const char *product;
    const char *description;
    const char *vendor;
    const char *version;
    const char *category;
    enum appid_trust trust;
    enum appid_threat threat;
    const char *reason;
    const char *source;
    int64_t first_seen, last_seen;  /* Unix seconds; set by appid_add(). */
};

/* A name or path pattern (shell glob, fnmatch(3) without FNM_PATHNAME; name
 * patterns ignore case). */
enum appid_pattern_kind {
    APPID_PATTERN_NAME,
    APPID_PATTERN_PATH,
};

struct appid_pattern {
    enum appid_pattern_kind kind;
    const char *glob;
    const char *product;        /* May be "": classifies without naming. */
    const char *vendor;
    const char *category;
    enum appid_trust trust;
    enum appid_threat threat;
    int confidence;             /* 1..99. */
    const char *source;
};

/* Batches.  Every change happens inside one: appid_begin() opens the
 * transaction, appid_commit() makes the whole batch visible at once,
 * appid_abort() (or closing the handle) drops all of it. */
int appid_begin(struct appid *);
int appid_commit(struct appid *);
void appid_abort(struct appid *);

/* Inserts or replaces the signature with 'sig->sha256', keeping its
 * first_seen if it existed.  Returns 0, EINVAL (a bad field; see
 * appid_last_error()), EROFS, or EIO. */
int appid_add(struct appid *, const struct appid_signature *sig);

/* Removes a signature; ENOENT if it was not there. */
int appid_remove(struct appid *, const uint8_t sha256[32]);

/* Inserts or replaces the pattern with the same kind and glob. */
int appid_add_pattern(struct appid *, const struct appid_pattern *);
int appid_remove_pattern(struct appid *, enum appid_pattern_kind,
                         const char *glob);

/* Whether a signature with this hash exists: 1, 0, or -EIO. */
int appid_exists(struct appid *, const uint8_t sha256[32]);

/* Reads back one signature; the strings are valid until the next call on
 * the handle.  Returns 0, ENOENT or EIO. */
int appid_get(struct appid *, const uint8_t sha256[32],
              struct appid_signature *);

/* Calls 'cb' for every signature (ordered by hash), then every pattern,
 * stopping early if a callback returns nonzero (which is returned).  The
 * structures are valid during the callback only.  Either callback may be
 * NULL. */
typedef int appid_signature_cb(const struct appid_signature *, void *aux);
typedef int appid_pattern_cb(const struct appid_pattern *, void *aux);
int appid_iterate(struct appid *, appid_signature_cb *, appid_pattern_cb *,
                  void *aux);

/* Small key/value metadata (the feed version, import times). */
int appid_meta_get_int(struct appid *, const char *key, int64_t *value);
int appid_meta_set_int(struct appid *, const char *key, int64_t value);

struct appid_stats {
    int64_t signatures;
    int64_t products;
    int64_t patterns;
    int64_t by_trust[4];        /* Indexed by enum appid_trust. */
    int64_t by_threat[5];       /* Indexed by enum appid_threat. */
    int64_t feed_version;       /* 0 if no feed was imported. */
    int schema_version;
    int64_t cache_hits, cache_misses;  /* Of this handle. */
    size_t index_entries;       /* In the preloaded index (0 if none). */
};

int appid_stats(struct appid *, struct appid_stats *);

/* Calls 'cb' with each category and its signature count, most first. */
typedef void appid_category_cb(const char *category, int64_t count,
                               void *aux);
int appid_category_counts(struct appid *, appid_category_cb *, void *aux);

#endif /* appid/appid.h */
