/* libappid core: the SQLite store, lookups and caches.  This is the only
 * file of appid/ that includes sqlite3.h. */
#include "appid/appid.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "common/digest.h"
#include "common/util.h"
#include "index.h"
#include "pattern.h"

/* Schema migrations: migrations[i] takes user_version i to i + 1. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE product ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  vendor TEXT NOT NULL DEFAULT '',"
    "  version TEXT NOT NULL DEFAULT '',"
    "  category TEXT NOT NULL DEFAULT 'unknown',"
    "  UNIQUE (name, version, vendor));"
    "CREATE TABLE signature ("
    "  sha256 BLOB PRIMARY KEY CHECK (length(sha256) = 32),"
    "  product_id INTEGER NOT NULL REFERENCES product(id),"
    "  name TEXT NOT NULL,"
    "  path TEXT NOT NULL DEFAULT '',"
    "  size INTEGER NOT NULL DEFAULT -1,"
    "  trust INTEGER NOT NULL CHECK (trust BETWEEN 0 AND 3),"
    "  threat INTEGER NOT NULL CHECK (threat BETWEEN 0 AND 4),"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  source TEXT NOT NULL DEFAULT '',"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX signature_name ON signature(name);"
    "CREATE INDEX signature_path ON signature(path);"
    "CREATE INDEX signature_product ON signature(product_id);"
    "CREATE TABLE pattern ("
    "  kind INTEGER NOT NULL CHECK (kind IN (0, 1)),"
    "  glob TEXT NOT NULL,"
    "  product TEXT NOT NULL DEFAULT '',"
    "  vendor TEXT NOT NULL DEFAULT '',"
    "  category TEXT NOT NULL DEFAULT 'unknown',"
    "  trust INTEGER NOT NULL CHECK (trust BETWEEN 0 AND 3),"
    "  threat INTEGER NOT NULL CHECK (threat BETWEEN 0 AND 4),"
    "  confidence INTEGER NOT NULL CHECK (confidence BETWEEN 1 AND 99),"
    "  source TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY (kind, glob));",
};
#define SCHEMA_VERSION ((int) ARRAY_SIZE(migrations))

/* The hot-entry cache: two generations of at most HOT_MAX / 2 entries;
 * when the young one fills, it becomes the old one and the old one is
 * dropped, and a hit in the old one is copied into the young one.  An
 * approximation of LRU with O(1) work and bounded memory. */
#define HOT_MAX 65536

/* How often lookups check whether another process changed the file. */
#define REFRESH_INTERVAL_MS 1000

/* A product, cached in memory by id. */
struct product {
    char *name, *description, *vendor, *version, *category;
};

enum stmt_id {
    ST_GET_SIG, ST_GET_PATH, ST_GET_REASON, ST_GET_PRODUCT, ST_UPSERT_PRODUCT,
    ST_UPSERT_SIG, ST_DEL_SIG, ST_BY_PATH, ST_BY_NAME, ST_GET_FULL,
    ST_UPSERT_PATTERN, ST_DEL_PATTERN, ST_META_GET, ST_META_SET,
    ST_DATA_VERSION, ST_EXISTS, ST_PRUNE_PRODUCTS,
    N_STMTS
};

static const char *const stmt_sql[N_STMTS] = {
    [ST_GET_SIG] = "SELECT product_id, trust, threat, reason <> '', path "
                   "FROM signature WHERE sha256 = ?",
    [ST_GET_PATH] = "SELECT path FROM signature WHERE sha256 = ?",
    [ST_GET_REASON] = "SELECT reason FROM signature WHERE sha256 = ?",
    [ST_GET_PRODUCT] = "SELECT name, description, vendor, version, category "
                       "FROM product WHERE id = ?",
    [ST_UPSERT_PRODUCT] =
        "INSERT INTO product (name, description, vendor, version, category) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name, version, vendor) DO UPDATE "
        "SET description = excluded.description, "
        "category = excluded.category RETURNING id",
    [ST_UPSERT_SIG] =
        "INSERT INTO signature (sha256, product_id, name, path, size, trust, "
        "threat, reason, source, first_seen, last_seen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) "
        "DO UPDATE SET product_id = excluded.product_id, "
        "name = excluded.name, path = excluded.path, size = excluded.size, "
        "trust = excluded.trust, threat = excluded.threat, "
        "reason = excluded.reason, source = excluded.source, "
        "last_seen = excluded.last_seen",
    [ST_DEL_SIG] = "DELETE FROM signature WHERE sha256 = ?",
    [ST_BY_PATH] = "SELECT product_id FROM signature WHERE path = ? "
                   "ORDER BY last_seen DESC LIMIT 1",
    [ST_BY_NAME] = "SELECT product_id FROM signature WHERE name = ? "
                   "ORDER BY last_seen DESC LIMIT 1",
    [ST_GET_FULL] =
        "SELECT s.sha256, s.name, s.path, s.size, p.name, p.description, "
        "p.vendor, p.version, p.category, s.trust, s.threat, s.reason, "
        "s.source, s.first_seen, s.last_seen FROM signature s "
        "JOIN product p ON p.id = s.product_id WHERE s.sha256 = ?",
    [ST_UPSERT_PATTERN] =
        "INSERT OR REPLACE INTO pattern (kind, glob, product, vendor, "
        "category, trust, threat, confidence, source) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_DEL_PATTERN] = "DELETE FROM pattern WHERE kind = ? AND glob = ?",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?",
    [ST_META_SET] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_EXISTS] = "SELECT 1 FROM signature WHERE sha256 = ?",
    [ST_PRUNE_PRODUCTS] = "DELETE FROM product WHERE id NOT IN "
                          "(SELECT product_id FROM signature)",
};

struct appid {
    sqlite3 *db;
    char *path;
    int flags;
    sqlite3_stmt *stmts[N_STMTS];
    char error[512];

    bool in_txn;

    /* Products by id, loaded on demand, kept until a change. */
    struct product **products;
    size_t n_products;

    struct pattern_set patterns;

    /* PRELOAD: 'full' holds every signature.  'hot' and 'cold' are the two
     * generations of the hot-entry cache, in front of 'full' or SQLite. */
    bool preloaded;
    struct index full, hot, cold;

    int64_t data_version;
    int64_t next_refresh_ms;
    int64_t cache_hits, cache_misses;

    /* Backing store for appid_get() strings. */
    char *get_strings[9];

    /* The keyed hash of install paths in index entries: its key, and the
     * backing store of appid_result.install_path when it is not the path
     * looked up. */
    uint64_t path_seed;
    char *install_path;
};

static const char *const trust_names[] = {
    "trusted", "known", "unknown", "untrusted"
};
static const char *const threat_names[] = {
    "none", "low", "medium", "high", "critical"
};
static const char *const match_names[] = {
    "exact", "pattern", "name", "unknown"
};

const char *
appid_trust_name(enum appid_trust t)
{
    return (unsigned) t < ARRAY_SIZE(trust_names) ? trust_names[t] : "?";
}

const char *
appid_threat_name(enum appid_threat t)
{
    return (unsigned) t < ARRAY_SIZE(threat_names) ? threat_names[t] : "?";
}

const char *
appid_match_name(enum appid_match m)
{
    return (unsigned) m < ARRAY_SIZE(match_names) ? match_names[m] : "?";
}

/* Finds 'name' in 'names'; returns its index or -1. */
static int
name_index(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(name, names[i])) {
            return (int) i;
        }
    }
    return -1;
}

bool
appid_trust_from_name(const char *name, enum appid_trust *t)
{
    int i = name_index(trust_names, ARRAY_SIZE(trust_names), name);
    if (i >= 0) {
        *t = i;
    }
    return i >= 0;
}

bool
appid_threat_from_name(const char *name, enum appid_threat *t)
{
    int i = name_index(threat_names, ARRAY_SIZE(threat_names), name);
    if (i >= 0) {
        *t = i;
    }
    return i >= 0;
}

static void set_error(struct appid *, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_error(struct appid *a, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(a->error, sizeof a->error, format, args);
    va_end(args);
}

const char *
appid_last_error(const struct appid *a)
{
    return a->error;
}

/* Records the SQLite error for 'what' and returns the errno to report. */
static int
db_error(struct appid *a, const char *what)
{
    int code = sqlite3_extended_errcode(a->db);
    set_error(a, "%s: %s: %s", a->path, what, sqlite3_errmsg(a->db));
    switch (code & 0xff) {
    case SQLITE_READONLY: return EROFS;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return EBUSY;
    case SQLITE_FULL: return ENOSPC;
    case SQLITE_CONSTRAINT: return EINVAL;
    default: return EIO;
    }
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
    const char *s = (const char *) sqlite3_column_text(st, i);
    return s ? s : "";
}

static int64_t
now_seconds(void)
{
    return time_wall_ms() / 1000;
}

/* Caches. */

static void
products_clear(struct appid *a)
{
    for (size_t i = 0; i < a->n_products; i++) {
        struct product *p = a->products[i];
        if (p) {
            free(p->name);
            free(p->description);
            free(p->vendor);
            free(p->version);
            free(p->category);
            free(p);
        }
    }
    free(a->products);
    a->products = NULL;
    a->n_products = 0;
}

static int load_patterns(struct appid *);
static int load_index(struct appid *);

/* Drops everything cached from the database and reloads what PRELOAD and
 * the patterns need. */
static int
caches_reset(struct appid *a)
{
    products_clear(a);
    index_clear(&a->hot);
    index_clear(&a->cold);
    index_clear(&a->full);
    int error = load_patterns(a);
    if (!error && (a->flags & APPID_OPEN_PRELOAD)) {
        error = load_index(a);
    }
    return error;
}

static int64_t
read_data_version(struct appid *a)
{
    sqlite3_stmt *st = a->stmts[ST_DATA_VERSION];
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0)
                                               : -1;
    sqlite3_reset(st);
    return v;
}

/* Notices changes that another process committed to the file. */
static int
maybe_refresh(struct appid *a)
{
    int64_t now = time_mono_ms();
    if (a->in_txn || now < a->next_refresh_ms) {
        return 0;
    }
    a->next_refresh_ms = now + REFRESH_INTERVAL_MS;
    int64_t v = read_data_version(a);
    if (v != a->data_version) {
        a->data_version = v;
        return caches_reset(a);
    }
    return 0;
}

static const struct product *
get_product(struct appid *a, uint32_t id, int *errorp)
{
    *errorp = 0;
    if (id < a->n_products && a->products[id]) {
        return a->products[id];
    }

    sqlite3_stmt *st = a->stmts[ST_GET_PRODUCT];
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        *errorp = rc == SQLITE_DONE ? ENOENT : db_error(a, "reading product");
        if (rc == SQLITE_DONE) {
            set_error(a, "%s: product %u is missing", a->path, id);
        }
        sqlite3_reset(st);
        return NULL;
    }
    struct product *p = xmalloc(sizeof *p);
    p->name = xstrdup(col_text(st, 0));
    p->description = xstrdup(col_text(st, 1));
    p->vendor = xstrdup(col_text(st, 2));
    p->version = xstrdup(col_text(st, 3));
    p->category = xstrdup(col_text(st, 4));
    sqlite3_reset(st);

    if (id >= a->n_products) {
        size_t n = a->n_products ? a->n_products : 64;
        while (n <= id) {
            n *= 2;
        }
        a->products = xrealloc(a->products, n * sizeof *a->products);
        memset(a->products + a->n_products, 0,
               (n - a->n_products) * sizeof *a->products);
        a->n_products = n;
    }
    a->products[id] = p;
    return p;
}

static int
add_loaded_pattern(const struct appid_pattern *p, void *a_)
{
    struct appid *a = a_;
    pattern_set_add(&a->patterns, p);
    return 0;
}

static int
load_patterns(struct appid *a)
{
    pattern_set_destroy(&a->patterns);
    pattern_set_init(&a->patterns);
    int error = appid_iterate(a, NULL, add_loaded_pattern, a);
    pattern_set_sort(&a->patterns);
    return error;
}

/* The length of the "/usr" that a merged /usr (/bin a link to /usr/bin,
 * and so on) lets a path leave out: 4 for "/usr/bin/...", "/usr/sbin/...",
 * "/usr/lib...", else 0. */
static size_t
usr_merged(const char *path)
{
    static const char *const dirs[] = { "/usr/bin/", "/usr/sbin/",
                                        "/usr/lib" };
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        if (!strncmp(path, dirs[i], strlen(dirs[i]))) {
            return 4;
        }
    }
    return 0;
}

/* The key of install path 'path' in index entries: a hash keyed by the
 * handle's seed (a guest picks the paths it runs from, and must not be
 * able to aim for another's key), of the path as a merged /usr has it
 * ("/bin/ls" and "/usr/bin/ls" are one file).  0 for no path. */
static uint32_t
path_key(const struct appid *a, const char *path)
{
    if (!path || !*path) {
        return 0;
    }
    uint64_t h = a->path_seed ^ UINT64_C(0xcbf29ce484222325);
    for (const char *c = path + usr_merged(path); *c; c++) {
        h = (h ^ (unsigned char) *c) * UINT64_C(0x100000001b3);
    }
    h ^= h >> 29;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 32;
    return (uint32_t) h ? (uint32_t) h : 1;
}

static int
load_index(struct appid *a)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(a->db, "SELECT sha256, product_id, trust, threat, "
                           "reason <> '', path FROM signature", -1, &st, NULL)
        != SQLITE_OK) {
        return db_error(a, "loading the index");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct index_entry e = {
            .product_id = sqlite3_column_int64(st, 1),
            .trust = sqlite3_column_int(st, 2),
            .threat = sqlite3_column_int(st, 3),
            .flags = sqlite3_column_int(st, 4) ? INDEX_F_REASON : 0,
            .path_key = path_key(a, col_text(st, 5)),
        };
        if (sqlite3_column_bytes(st, 0) == 32) {
            memcpy(e.sha256, sqlite3_column_blob(st, 0), 32);
            index_put(&a->full, &e);
        }
    }
    int error = rc == SQLITE_DONE ? 0 : db_error(a, "loading the index");
    sqlite3_finalize(st);
    a->preloaded = !error;
    return error;
}

/* Opening. */

static int
exec_sql(struct appid *a, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(a->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int code = sqlite3_extended_errcode(a->db);
        set_error(a, "%s: %s: %s", a->path, what,
                  msg ? msg : sqlite3_errstr(code));
        sqlite3_free(msg);
        return (code & 0xff) == SQLITE_READONLY ? EROFS : EIO;
    }
    return 0;
}

static int
get_user_version(struct appid *a, int *version)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(a->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
    }
    return rc;
}

static char *
open_fail(struct appid *a, char *message)
{
    appid_close(a);
    return message;
}

/* Checks that the file is an SQLite database with our schema (or empty),
 * and migrates it. */
static char *
check_and_migrate(struct appid *a)
{
    int version = 0;
    int rc = get_user_version(a, &version);
    if (rc != SQLITE_OK) {
        int code = sqlite3_extended_errcode(a->db) & 0xff;
        if (code == SQLITE_NOTADB) {
            return xasprintf("%s: not an SQLite database", a->path);
        } else if (code == SQLITE_CORRUPT) {
            return xasprintf("%s: the database is corrupt", a->path);
        }
        return xasprintf("%s: cannot read the database: %s", a->path,
                         sqlite3_errmsg(a->db));
    }

    sqlite3_stmt *st;
    int n_tables = -1;
    if (sqlite3_prepare_v2(a->db, "SELECT count(*) FROM sqlite_master",
                           -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            n_tables = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
    }
    if (n_tables < 0) {
        int code = sqlite3_extended_errcode(a->db) & 0xff;
        return code == SQLITE_CORRUPT
               ? xasprintf("%s: the database is corrupt", a->path)
               : xasprintf("%s: cannot read the database: %s", a->path,
                           sqlite3_errmsg(a->db));
    }
    if (version == 0 && n_tables > 0) {
        return xasprintf("%s: an SQLite database, but not an appid "
                         "database", a->path);
    }
    if (version > SCHEMA_VERSION) {
        return xasprintf("%s: schema version %d is newer than this appid "
                         "(%d); upgrade appid", a->path, version,
                         SCHEMA_VERSION);
    }
    if (version == SCHEMA_VERSION) {
        return NULL;
    }
    if (a->flags & APPID_OPEN_READONLY) {
        return xasprintf("%s: schema version %d needs migrating to %d; open "
                         "it read-write once", a->path, version,
                         SCHEMA_VERSION);
    }

    if (exec_sql(a, "BEGIN IMMEDIATE", "migrating")) {
        return xstrdup(a->error);
    }
    for (int v = version; v < SCHEMA_VERSION; v++) {
        char *sql = xasprintf("%s PRAGMA user_version = %d;",
                              migrations[v], v + 1);
        int error = exec_sql(a, sql, "migrating");
        free(sql);
        if (error) {
            char *msg = xstrdup(a->error);
            exec_sql(a, "ROLLBACK", "migrating");
            return msg;
        }
    }
    if (exec_sql(a, "COMMIT", "migrating")) {
        return xstrdup(a->error);
    }
    return NULL;
}

char *
appid_open(const char *path, int flags, struct appid **appidp)
{
    *appidp = NULL;
    bool memory = !strcmp(path, ":memory:");
    if ((flags & APPID_OPEN_READONLY) && (flags & APPID_OPEN_CREATE)) {
        return xstrdup("appid_open: READONLY and CREATE exclude each other");
    }

    struct stat s;
    if (!memory && stat(path, &s) < 0) {
        if (errno != ENOENT || !(flags & APPID_OPEN_CREATE)) {
            return errno == ENOENT
                   ? xasprintf("%s: no such database (create one with "
                               "'appid import-dpkg' or 'appid import-feed')",
                               path)
                   : xasprintf("%s: %s", path, strerror(errno));
        }
    } else if (!memory && !S_ISREG(s.st_mode)) {
        return xasprintf("%s: not a regular file", path);
    }

    struct appid *a = xcalloc(1, sizeof *a);
    a->path = xstrdup(path);
    a->flags = flags;
    if (getrandom(&a->path_seed, sizeof a->path_seed, GRND_NONBLOCK)
        != (ssize_t) sizeof a->path_seed) {
        a->path_seed = (uint64_t) time_mono_ms() ^ (uintptr_t) a;
    }
    pattern_set_init(&a->patterns);
    index_init(&a->full);
    index_init(&a->hot);
    index_init(&a->cold);

    int oflags = (flags & APPID_OPEN_READONLY)
                 ? SQLITE_OPEN_READONLY
                 : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &a->db, oflags | SQLITE_OPEN_NOMUTEX, NULL)
        != SQLITE_OK) {
        return open_fail(a, xasprintf("%s: cannot open: %s", path,
                                      a->db ? sqlite3_errmsg(a->db)
                                            : "out of memory"));
    }
    sqlite3_extended_result_codes(a->db, 1);
    sqlite3_busy_timeout(a->db, 5000);

    char *msg = check_and_migrate(a);
    if (msg) {
        return open_fail(a, msg);
    }
    if (!memory && !(flags & APPID_OPEN_READONLY)
        && exec_sql(a, "PRAGMA journal_mode = WAL", "enabling WAL")) {
        return open_fail(a, xstrdup(a->error));
    }
    if (exec_sql(a, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
                 "PRAGMA cache_size = -65536", "configuring")) {
        return open_fail(a, xstrdup(a->error));
    }

    for (int i = 0; i < N_STMTS; i++) {
        if (sqlite3_prepare_v3(a->db, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &a->stmts[i], NULL)
            != SQLITE_OK) {
            return open_fail(a, xasprintf("%s: preparing statement %d: %s",
                                          path, i, sqlite3_errmsg(a->db)));
        }
    }

    a->data_version = read_data_version(a);
    a->next_refresh_ms = time_mono_ms() + REFRESH_INTERVAL_MS;
    if (caches_reset(a)) {
        return open_fail(a, xstrdup(a->error));
    }
    *appidp = a;
    return NULL;
}

void
appid_close(struct appid *a)
{
    if (!a) {
        return;
    }
    if (a->in_txn) {
        appid_abort(a);
    }
    for (int i = 0; i < N_STMTS; i++) {
        sqlite3_finalize(a->stmts[i]);
    }
    sqlite3_close(a->db);
    products_clear(a);
    pattern_set_destroy(&a->patterns);
    index_destroy(&a->full);
    index_destroy(&a->hot);
    index_destroy(&a->cold);
    for (size_t i = 0; i < ARRAY_SIZE(a->get_strings); i++) {
        free(a->get_strings[i]);
    }
    free(a->install_path);
    free(a->path);
    free(a);
}

/* Lookups. */

/* Adds 'e' to the young generation of the hot-entry cache, turning the
 * generations over first if it is full.  Returns the cached copy. */
static const struct index_entry *
hot_insert(struct appid *a, const struct index_entry *e)
{
    if (index_count(&a->hot) >= HOT_MAX / 2) {
        struct index tmp = a->cold;
        a->cold = a->hot;
        a->hot = tmp;
        index_clear(&a->hot);
    }
    index_put(&a->hot, e);
    return index_find(&a->hot, e->sha256);
}

/* The hot-entry cache: looks in the young generation, then the old one
 * (promoting a hit). */
static const struct index_entry *
hot_find(struct appid *a, const uint8_t sha256[32])
{
    const struct index_entry *e = index_find(&a->hot, sha256);
    if (!e) {
        e = index_find(&a->cold, sha256);
        if (e) {
            struct index_entry copy = *e;
            e = hot_insert(a, &copy);
        }
    }
    return e;
}

/* Finds the record for 'sha256': in the hot-entry cache, else in the
 * preloaded index or SQLite (then caches it, also when absent). */
static int
find_record(struct appid *a, const uint8_t sha256[32],
            struct index_entry *out)
{
    const struct index_entry *e = hot_find(a, sha256);
    if (e) {
        a->cache_hits++;
        *out = *e;
        return 0;
    }
    a->cache_misses++;

    memset(out, 0, sizeof *out);
    memcpy(out->sha256, sha256, 32);
    if (a->preloaded) {
        e = index_find(&a->full, sha256);
        if (e) {
            *out = *e;
        } else {
            out->flags = INDEX_F_ABSENT;
        }
    } else {
        sqlite3_stmt *st = a->stmts[ST_GET_SIG];
        sqlite3_bind_blob(st, 1, sha256, 32, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            out->product_id = sqlite3_column_int64(st, 0);
            out->trust = sqlite3_column_int(st, 1);
            out->threat = sqlite3_column_int(st, 2);
            out->flags = sqlite3_column_int(st, 3) ? INDEX_F_REASON : 0;
            out->path_key = path_key(a, col_text(st, 4));
        } else if (rc == SQLITE_DONE) {
            out->flags = INDEX_F_ABSENT;
        } else {
            int error = db_error(a, "looking up a hash");
            sqlite3_reset(st);
            return error;
        }
        sqlite3_reset(st);
    }
    hot_insert(a, out);
    return 0;
}

static void
fill_from_product(struct appid_result *r, const struct product *p)
{
    r->product = p->name;
    r->description = p->description;
    r->vendor = p->vendor;
    r->version = p->version;
    r->category = p->category;
}

/* Sets r->install_path for the signature 'e' of an exact match, for the
 * executable at 'path' (may be NULL): 'path' itself if it is the install
 * path (as a merged /usr has it), else the install path, read from the
 * database (a copy of a known executable elsewhere: seldom). */
static int
set_install_path(struct appid *a, const struct index_entry *e,
                 const char *path, struct appid_result *r)
{
    r->install_path = "";
    if (!e->path_key) {
        return 0;
    }
    if (path && path_key(a, path) == e->path_key) {
        r->install_path = path;
        return 0;
    }
    sqlite3_stmt *st = a->stmts[ST_GET_PATH];
    sqlite3_bind_blob(st, 1, e->sha256, 32, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        free(a->install_path);
        a->install_path = xstrdup(col_text(st, 0));
        r->install_path = a->install_path;
    }
    sqlite3_reset(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
            : db_error(a, "looking up an install path"));
}

static int
lookup_exact(struct appid *a, const uint8_t sha256[32], const char *path,
             struct appid_result *r, bool *found)
{
    struct index_entry e;
    int error = find_record(a, sha256, &e);
    *found = false;
    if (error || (e.flags & INDEX_F_ABSENT)) {
        return error;
    }

    const struct product *p = get_product(a, e.product_id, &error);
    if (!p) {
        return error;
    }
    *found = true;
    fill_from_product(r, p);
    r->match = APPID_MATCH_EXACT;
    r->confidence = 100;
    r->trust = e.trust;
    r->threat = e.threat;
    r->source = "";
    error = set_install_path(a, &e, path, r);
    if (error) {
        return error;
    }
    if (e.flags & INDEX_F_REASON) {
        sqlite3_stmt *st = a->stmts[ST_GET_REASON];
        sqlite3_bind_blob(st, 1, sha256, 32, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(r->reason, sizeof r->reason, "%s", col_text(st, 0));
        }
        sqlite3_reset(st);
    } else {
        snprintf(r->reason, sizeof r->reason, "%s",
                 e.trust == APPID_TRUST_TRUSTED
                 ? "hash matches a verified signature" : "hash is known");
    }
    return 0;
}

/* Finds a product by install path or file name.  Returns 0 and sets
 * '*productp' (NULL if none). */
static int
lookup_by(struct appid *a, enum stmt_id id, const char *key,
          const struct product **productp)
{
    *productp = NULL;
    sqlite3_stmt *st = a->stmts[id];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t product_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return db_error(a, "looking up a path");
    }
    int error = 0;
    if (product_id >= 0) {
        *productp = get_product(a, product_id, &error);
    }
    return error;
}

int
appid_lookup(struct appid *a, const uint8_t *sha256, const char *path,
             uint64_t size, struct appid_result *r)
{
    (void) size;
    memset(r, 0, sizeof *r);
    r->match = APPID_MATCH_UNKNOWN;
    r->trust = APPID_TRUST_UNKNOWN;
    r->threat = APPID_THREAT_NONE;
    r->product = r->description = r->vendor = r->version = r->source = "";
    r->install_path = "";
    r->category = "unknown";

    int error = maybe_refresh(a);
    if (error) {
        return error;
    }

    char hex[SHA256_HEX_LEN + 1] = "";
    if (sha256) {
        bool found;
        error = lookup_exact(a, sha256, path, r, &found);
        if (error || found) {
            return error;
        }
        digest_to_hex(sha256, SHA256_LEN, hex);
    }
    if (!path || !*path) {
        snprintf(r->reason, sizeof r->reason, "%s",
                 sha256 ? "hash unknown and no path given"
                        : "no hash and no path given");
        return 0;
    }
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;

    /* A known install path with another hash: a modified file. */
    const struct product *p = NULL;
    if (slash) {
        error = lookup_by(a, ST_BY_PATH, path, &p);
        if (error) {
            return error;
        }
    }
    if (p) {
        fill_from_product(r, p);
        r->match = APPID_MATCH_NAME;
        if (sha256) {
            r->confidence = 60;
            r->trust = APPID_TRUST_UNTRUSTED;
            snprintf(r->reason, sizeof r->reason,
                     "modified: %s is %s's, but hash %.16s... is no known "
                     "build of it", path, p->name, hex);
        } else {
            r->confidence = 50;
            r->trust = APPID_TRUST_UNKNOWN;
            snprintf(r->reason, sizeof r->reason,
                     "identified by install path only (no hash)");
        }
        return 0;
    }

    const struct appid_pattern *pat = pattern_set_match(&a->patterns, path);
    if (pat) {
        r->match = APPID_MATCH_PATTERN;
        r->confidence = pat->confidence;
        r->trust = pat->trust;
        r->threat = pat->threat;
        r->product = pat->product;
        r->vendor = pat->vendor;
        r->category = pat->category;
        r->source = pat->source;
        snprintf(r->reason, sizeof r->reason, "%s pattern \"%s\"",
                 pat->kind == APPID_PATTERN_PATH ? "path" : "name",
                 pat->glob);
        return 0;
    }

    error = lookup_by(a, ST_BY_NAME, name, &p);
    if (error) {
        return error;
    }
    if (p) {
        fill_from_product(r, p);
        r->match = APPID_MATCH_NAME;
        r->confidence = 40;
        r->trust = APPID_TRUST_UNKNOWN;
        snprintf(r->reason, sizeof r->reason,
                 "file name \"%.64s\" is %s's, but %s", name, p->name,
                 sha256 ? "the hash is no known build of it"
                        : "no hash was given");
        return 0;
    }

    snprintf(r->reason, sizeof r->reason, "%s",
             sha256 ? "hash, path and name are all unknown"
                    : "path and name are unknown");
    return 0;
}

/* Changes. */

static int
check_writable(struct appid *a)
{
    if (a->flags & APPID_OPEN_READONLY) {
        set_error(a, "%s: opened read-only", a->path);
        return EROFS;
    }
    if (!a->in_txn) {
        set_error(a, "%s: changes must be inside appid_begin()/commit()",
                  a->path);
        return EINVAL;
    }
    return 0;
}

int
appid_begin(struct appid *a)
{
    if (a->flags & APPID_OPEN_READONLY) {
        set_error(a, "%s: opened read-only", a->path);
        return EROFS;
    }
    if (a->in_txn) {
        set_error(a, "%s: a batch is already open", a->path);
        return EBUSY;
    }
    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)
        != SQLITE_OK) {
        return db_error(a, "starting a batch");
    }
    a->in_txn = true;
    return 0;
}

int
appid_commit(struct appid *a)
{
    if (!a->in_txn) {
        set_error(a, "%s: no batch to commit", a->path);
        return EINVAL;
    }
    if (sqlite3_step(a->stmts[ST_PRUNE_PRODUCTS]) != SQLITE_DONE) {
        int error = db_error(a, "pruning products");
        sqlite3_reset(a->stmts[ST_PRUNE_PRODUCTS]);
        appid_abort(a);
        return error;
    }
    sqlite3_reset(a->stmts[ST_PRUNE_PRODUCTS]);
    if (sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int error = db_error(a, "committing");
        appid_abort(a);
        return error;
    }
    a->in_txn = false;
    a->data_version = read_data_version(a);
    return caches_reset(a);
}

void
appid_abort(struct appid *a)
{
    if (a->in_txn) {
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        a->in_txn = false;
        caches_reset(a);
    }
}

static bool
valid_text(struct appid *a, const char *field, const char *s, size_t max)
{
    if (!s) {
        set_error(a, "%s: missing", field);
        return false;
    }
    if (strlen(s) > max) {
        set_error(a, "%s: longer than %zu bytes", field, max);
        return false;
    }
    return true;
}

static int
step_done(struct appid *a, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    int error = rc == SQLITE_DONE ? 0 : db_error(a, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return error;
}

int
appid_add(struct appid *a, const struct appid_signature *s)
{
    int error = check_writable(a);
    if (error) {
        return error;
    }
    if (!valid_text(a, "name", s->name, 255)
        || !valid_text(a, "path", s->path, 4096)
        || !valid_text(a, "product", s->product, 256)
        || !valid_text(a, "description", s->description, 1024)
        || !valid_text(a, "vendor", s->vendor, 256)
        || !valid_text(a, "version", s->version, 128)
        || !valid_text(a, "category", s->category, 64)
        || !valid_text(a, "reason", s->reason, 255)
        || !valid_text(a, "source", s->source, 128)) {
        return EINVAL;
    }
    if (!*s->product || !*s->name) {
        set_error(a, "%s: must not be empty", *s->name ? "product" : "name");
        return EINVAL;
    }
    if ((unsigned) s->trust > APPID_TRUST_UNTRUSTED
        || (unsigned) s->threat > APPID_THREAT_CRITICAL) {
        set_error(a, "trust or threat out of range");
        return EINVAL;
    }

    sqlite3_stmt *st = a->stmts[ST_UPSERT_PRODUCT];
    sqlite3_bind_text(st, 1, s->product, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->description, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, s->vendor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, s->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, *s->category ? s->category : "unknown", -1,
                      SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t product_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    if (rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) {
        error = db_error(a, "storing a product");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (error) {
        return error;
    }

    int64_t now = now_seconds();
    st = a->stmts[ST_UPSERT_SIG];
    sqlite3_bind_blob(st, 1, s->sha256, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, product_id);
    sqlite3_bind_text(st, 3, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, s->path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, s->size);
    sqlite3_bind_int(st, 6, s->trust);
    sqlite3_bind_int(st, 7, s->threat);
    sqlite3_bind_text(st, 8, s->reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, s->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, s->first_seen > 0 ? s->first_seen : now);
    sqlite3_bind_int64(st, 11, s->last_seen > 0 ? s->last_seen : now);
    return step_done(a, st, "storing a signature");
}

int
appid_remove(struct appid *a, const uint8_t sha256[32])
{
    int error = check_writable(a);
    if (error) {
        return error;
    }
    sqlite3_stmt *st = a->stmts[ST_DEL_SIG];
    sqlite3_bind_blob(st, 1, sha256, 32, SQLITE_STATIC);
    error = step_done(a, st, "removing a signature");
    if (!error && !sqlite3_changes(a->db)) {
        char hex[SHA256_HEX_LEN + 1];
        digest_to_hex(sha256, SHA256_LEN, hex);
        set_error(a, "%s: no such signature", hex);
        return ENOENT;
    }
    return error;
}

int
appid_add_pattern(struct appid *a, const struct appid_pattern *p)
{
    int error = check_writable(a);
    if (error) {
        return error;
    }
    char *msg = pattern_check_glob(p->kind, p->glob ? p->glob : "");
    if (msg) {
        set_error(a, "%s", msg);
        free(msg);
        return EINVAL;
    }
    if (p->confidence < 1 || p->confidence > 99
        || (unsigned) p->kind > APPID_PATTERN_PATH
        || (unsigned) p->trust > APPID_TRUST_UNTRUSTED
        || (unsigned) p->threat > APPID_THREAT_CRITICAL
        || !valid_text(a, "product", p->product, 256)
        || !valid_text(a, "vendor", p->vendor, 256)
        || !valid_text(a, "category", p->category, 64)
        || !valid_text(a, "source", p->source, 128)) {
        if (!*a->error) {
            set_error(a, "pattern \"%s\": a field is out of range", p->glob);
        }
        return EINVAL;
    }
    sqlite3_stmt *st = a->stmts[ST_UPSERT_PATTERN];
    sqlite3_bind_int(st, 1, p->kind);
    sqlite3_bind_text(st, 2, p->glob, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, p->product, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->vendor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, *p->category ? p->category : "unknown", -1,
                      SQLITE_STATIC);
    sqlite3_bind_int(st, 6, p->trust);
    sqlite3_bind_int(st, 7, p->threat);
    sqlite3_bind_int(st, 8, p->confidence);
    sqlite3_bind_text(st, 9, p->source, -1, SQLITE_STATIC);
    return step_done(a, st, "storing a pattern");
}

int
appid_remove_pattern(struct appid *a, enum appid_pattern_kind kind,
                     const char *glob)
{
    int error = check_writable(a);
    if (error) {
        return error;
    }
    sqlite3_stmt *st = a->stmts[ST_DEL_PATTERN];
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_text(st, 2, glob, -1, SQLITE_STATIC);
    error = step_done(a, st, "removing a pattern");
    if (!error && !sqlite3_changes(a->db)) {
        set_error(a, "no %s pattern \"%s\"",
                  kind == APPID_PATTERN_PATH ? "path" : "name", glob);
        return ENOENT;
    }
    return error;
}

int
appid_exists(struct appid *a, const uint8_t sha256[32])
{
    sqlite3_stmt *st = a->stmts[ST_EXISTS];
    sqlite3_bind_blob(st, 1, sha256, 32, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0
                                : -db_error(a, "looking up a hash");
}

/* Reading whole signatures. */

static void
row_to_signature(sqlite3_stmt *st, struct appid_signature *s)
{
    memset(s, 0, sizeof *s);
    if (sqlite3_column_bytes(st, 0) == 32) {
        memcpy(s->sha256, sqlite3_column_blob(st, 0), 32);
    }
    s->name = col_text(st, 1);
    s->path = col_text(st, 2);
    s->size = sqlite3_column_int64(st, 3);
    s->product = col_text(st, 4);
    s->description = col_text(st, 5);
    s->vendor = col_text(st, 6);
    s->version = col_text(st, 7);
    s->category = col_text(st, 8);
    s->trust = sqlite3_column_int(st, 9);
    s->threat = sqlite3_column_int(st, 10);
    s->reason = col_text(st, 11);
    s->source = col_text(st, 12);
    s->first_seen = sqlite3_column_int64(st, 13);
    s->last_seen = sqlite3_column_int64(st, 14);
}

int
appid_get(struct appid *a, const uint8_t sha256[32],
          struct appid_signature *s)
{
    sqlite3_stmt *st = a->stmts[ST_GET_FULL];
    sqlite3_bind_blob(st, 1, sha256, 32, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        int error = ENOENT;
        if (rc != SQLITE_DONE) {
            error = db_error(a, "reading a signature");
        } else {
            char hex[SHA256_HEX_LEN + 1];
            digest_to_hex(sha256, SHA256_LEN, hex);
            set_error(a, "%s: no such signature", hex);
        }
        sqlite3_reset(st);
        return error;
    }
    row_to_signature(st, s);

    /* Copy the strings out before the statement is reset. */
    const char **fields[] = {
        &s->name, &s->path, &s->product, &s->description, &s->vendor,
        &s->version, &s->category, &s->reason, &s->source,
    };
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        free(a->get_strings[i]);
        a->get_strings[i] = xstrdup(*fields[i]);
        *fields[i] = a->get_strings[i];
    }
    sqlite3_reset(st);
    return 0;
}

int
appid_iterate(struct appid *a, appid_signature_cb *sig_cb,
              appid_pattern_cb *pat_cb, void *aux)
{
    sqlite3_stmt *st;
    int result = 0;
    int rc;

    if (sig_cb) {
        if (sqlite3_prepare_v2(a->db,
                               "SELECT s.sha256, s.name, s.path, s.size, "
                               "p.name, p.description, p.vendor, p.version, "
                               "p.category, s.trust, s.threat, s.reason, "
                               "s.source, s.first_seen, s.last_seen "
                               "FROM signature s JOIN product p "
                               "ON p.id = s.product_id ORDER BY s.sha256",
                               -1, &st, NULL) != SQLITE_OK) {
            return db_error(a, "listing signatures");
        }
        while (!result && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            struct appid_signature s;
            row_to_signature(st, &s);
            result = sig_cb(&s, aux);
        }
        if (!result && rc != SQLITE_DONE) {
            result = db_error(a, "listing signatures");
        }
        sqlite3_finalize(st);
    }

    if (pat_cb && !result) {
        if (sqlite3_prepare_v2(a->db,
                               "SELECT kind, glob, product, vendor, category, "
                               "trust, threat, confidence, source "
                               "FROM pattern ORDER BY kind, glob", -1, &st,
                               NULL) != SQLITE_OK) {
            return db_error(a, "listing patterns");
        }
        while (!result && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            struct appid_pattern p = {
                .kind = sqlite3_column_int(st, 0),
                .glob = col_text(st, 1),
                .product = col_text(st, 2),
                .vendor = col_text(st, 3),
                .category = col_text(st, 4),
                .trust = sqlite3_column_int(st, 5),
                .threat = sqlite3_column_int(st, 6),
                .confidence = sqlite3_column_int(st, 7),
                .source = col_text(st, 8),
            };
            result = pat_cb(&p, aux);
        }
        if (!result && rc != SQLITE_DONE) {
            result = db_error(a, "listing patterns");
        }
        sqlite3_finalize(st);
    }
    return result;
}

/* Metadata and statistics. */

int
appid_meta_get_int(struct appid *a, const char *key, int64_t *value)
{
    sqlite3_stmt *st = a->stmts[ST_META_GET];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int error = 0;
    if (rc == SQLITE_ROW) {
        *value = sqlite3_column_int64(st, 0);
    } else if (rc == SQLITE_DONE) {
        *value = 0;
    } else {
        error = db_error(a, "reading metadata");
    }
    sqlite3_reset(st);
    return error;
}

int
appid_meta_set_int(struct appid *a, const char *key, int64_t value)
{
    int error = check_writable(a);
    if (error) {
        return error;
    }
    sqlite3_stmt *st = a->stmts[ST_META_SET];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value);
    return step_done(a, st, "writing metadata");
}

static int
count_query(struct appid *a, const char *sql, int64_t *out, size_t n_out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK) {
        return db_error(a, "counting");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_count(st) == 1) {
            out[0] = sqlite3_column_int64(st, 0);
        } else {
            int64_t k = sqlite3_column_int64(st, 0);
            if (k >= 0 && (size_t) k < n_out) {
                out[k] = sqlite3_column_int64(st, 1);
            }
        }
    }
    int error = rc == SQLITE_DONE ? 0 : db_error(a, "counting");
    sqlite3_finalize(st);
    return error;
}

int
appid_stats(struct appid *a, struct appid_stats *s)
{
    memset(s, 0, sizeof *s);
    int error = count_query(a, "SELECT count(*) FROM signature",
                            &s->signatures, 1);
    if (!error) {
        error = count_query(a, "SELECT count(*) FROM product", &s->products,
                            1);
    }
    if (!error) {
        error = count_query(a, "SELECT count(*) FROM pattern", &s->patterns,
                            1);
    }
    if (!error) {
        error = count_query(a, "SELECT trust, count(*) FROM signature "
                            "GROUP BY trust", s->by_trust,
                            ARRAY_SIZE(s->by_trust));
    }
    if (!error) {
        error = count_query(a, "SELECT threat, count(*) FROM signature "
                            "GROUP BY threat", s->by_threat,
                            ARRAY_SIZE(s->by_threat));
    }
    if (!error) {
        error = appid_meta_get_int(a, "feed_version", &s->feed_version);
    }
    s->schema_version = SCHEMA_VERSION;
    s->cache_hits = a->cache_hits;
    s->cache_misses = a->cache_misses;
    s->index_entries = a->preloaded ? index_count(&a->full) : 0;
    return error;
}

int
appid_category_counts(struct appid *a, appid_category_cb *cb, void *aux)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(a->db, "SELECT p.category, count(*) AS n "
                           "FROM signature s JOIN product p "
                           "ON p.id = s.product_id GROUP BY p.category "
                           "ORDER BY n DESC, p.category", -1, &st, NULL)
        != SQLITE_OK) {
        return db_error(a, "counting categories");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cb(col_text(st, 0), sqlite3_column_int64(st, 1), aux);
    }
    int error = rc == SQLITE_DONE ? 0 : db_error(a, "counting categories");
    sqlite3_finalize(st);
    return error;
}
