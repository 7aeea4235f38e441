/* appfw-secd's SQLite store.  See store.h. */
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strmap.h"
#include "common/util.h"

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE policy ("
    "  version INTEGER PRIMARY KEY,"
    "  author TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  comment TEXT NOT NULL DEFAULT '',"
    "  text TEXT NOT NULL);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE vm ("
    "  uuid TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  ofport INTEGER NOT NULL DEFAULT 0,"
    "  mac TEXT NOT NULL DEFAULT '',"
    "  hypervisor TEXT NOT NULL DEFAULT '',"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  time_ms INTEGER NOT NULL,"
    "  vm_uuid TEXT NOT NULL, vm_name TEXT NOT NULL, user TEXT NOT NULL,"
    "  app_path TEXT NOT NULL, sha256 TEXT NOT NULL, product TEXT NOT NULL,"
    "  category TEXT NOT NULL, event TEXT NOT NULL, protocol TEXT NOT NULL,"
    "  direction TEXT NOT NULL, local TEXT NOT NULL,"
    "  local_port INTEGER NOT NULL, remote TEXT NOT NULL,"
    "  remote_port INTEGER NOT NULL, allow INTEGER NOT NULL,"
    "  rule TEXT NOT NULL, reason TEXT NOT NULL,"
    "  policy_version INTEGER NOT NULL);"
    "CREATE INDEX audit_vm ON audit(vm_uuid);"
    "CREATE TABLE stats ("
    "  bucket INTEGER NOT NULL,"
    "  vm TEXT NOT NULL, app TEXT NOT NULL, user TEXT NOT NULL,"
    "  rule TEXT NOT NULL,"
    "  connections INTEGER NOT NULL DEFAULT 0,"
    "  denials INTEGER NOT NULL DEFAULT 0,"
    "  bytes_in INTEGER NOT NULL DEFAULT 0,"
    "  bytes_out INTEGER NOT NULL DEFAULT 0,"
    "  packets_in INTEGER NOT NULL DEFAULT 0,"
    "  packets_out INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (bucket, vm, app, user, rule)) WITHOUT ROWID;",
    /* 1 -> 2 */
    "CREATE TABLE account ("
    "  name TEXT PRIMARY KEY,"
    "  level TEXT NOT NULL,"
    "  unix_user TEXT UNIQUE,"
    "  token_sha256 TEXT UNIQUE,"
    "  groups TEXT NOT NULL DEFAULT '[]',"
    "  created INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL);"
    "CREATE TABLE change ("
    "  id INTEGER PRIMARY KEY,"
    "  time INTEGER NOT NULL,"
    "  account TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  detail TEXT NOT NULL);",
    /* 2 -> 3 */
    "CREATE TABLE quota_violation ("
    "  day TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  quota INTEGER NOT NULL,"
    "  volume INTEGER NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  PRIMARY KEY (day, kind, subject));",
    /* 3 -> 4: statistics by destination and protocol; the resolver's
     * caches; the naming service. */
    "CREATE TABLE stats4 ("
    "  bucket INTEGER NOT NULL,"
    "  vm TEXT NOT NULL, app TEXT NOT NULL, user TEXT NOT NULL,"
    "  rule TEXT NOT NULL,"
    "  dest TEXT NOT NULL DEFAULT '',"
    "  protocol TEXT NOT NULL DEFAULT '',"
    "  connections INTEGER NOT NULL DEFAULT 0,"
    "  denials INTEGER NOT NULL DEFAULT 0,"
    "  bytes_in INTEGER NOT NULL DEFAULT 0,"
    "  bytes_out INTEGER NOT NULL DEFAULT 0,"
    "  packets_in INTEGER NOT NULL DEFAULT 0,"
    "  packets_out INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (bucket, vm, app, user, rule, dest, protocol))"
    "  WITHOUT ROWID;"
    "INSERT INTO stats4 (bucket, vm, app, user, rule, connections, denials,"
    "  bytes_in, bytes_out, packets_in, packets_out)"
    "  SELECT bucket, vm, app, user, rule, connections, denials, bytes_in,"
    "  bytes_out, packets_in, packets_out FROM stats;"
    "DROP TABLE stats;"
    "ALTER TABLE stats4 RENAME TO stats;"
    "CREATE TABLE site ("
    "  name TEXT PRIMARY KEY,"
    "  addresses TEXT NOT NULL,"
    "  resolved INTEGER NOT NULL,"
    "  error TEXT NOT NULL);"
    "CREATE TABLE rdns ("
    "  address TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  resolved INTEGER NOT NULL);"
    "CREATE TABLE naming_host ("
    "  vm_uuid TEXT PRIMARY KEY,"
    "  vm_name TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  addresses TEXT NOT NULL,"
    "  static_user INTEGER NOT NULL,"
    "  static_addresses INTEGER NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  reported_user TEXT NOT NULL,"
    "  reported_since INTEGER NOT NULL,"
    "  reported_addresses TEXT NOT NULL,"
    "  reported_at INTEGER NOT NULL);"
    "CREATE TABLE naming_event ("
    "  id INTEGER PRIMARY KEY,"
    "  time INTEGER NOT NULL,"
    "  vm_uuid TEXT NOT NULL,"
    "  vm_name TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  address TEXT NOT NULL,"
    "  source TEXT NOT NULL);",
    /* 4 -> 5: the hypervisors secd serves, with the SHA-256 of each
     * one's token. */
    "CREATE TABLE hypervisor ("
    "  name TEXT PRIMARY KEY,"
    "  token_sha256 TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL);",
    /* 5 -> 6: which quotas a statistics row's bytes charge (the
     * STORE_CHARGES_* bits), rows that charge differently kept apart.
     * Rows written before charged every quota: 7, STORE_CHARGES_ALL. */
    "CREATE TABLE stats6 ("
    "  bucket INTEGER NOT NULL,"
    "  vm TEXT NOT NULL, app TEXT NOT NULL, user TEXT NOT NULL,"
    "  rule TEXT NOT NULL,"
    "  dest TEXT NOT NULL DEFAULT '',"
    "  protocol TEXT NOT NULL DEFAULT '',"
    "  charges INTEGER NOT NULL DEFAULT 7,"
    "  connections INTEGER NOT NULL DEFAULT 0,"
    "  denials INTEGER NOT NULL DEFAULT 0,"
    "  bytes_in INTEGER NOT NULL DEFAULT 0,"
    "  bytes_out INTEGER NOT NULL DEFAULT 0,"
    "  packets_in INTEGER NOT NULL DEFAULT 0,"
    "  packets_out INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (bucket, vm, app, user, rule, dest, protocol, charges))"
    "  WITHOUT ROWID;"
    "INSERT INTO stats6 (bucket, vm, app, user, rule, dest, protocol,"
    "  connections, denials, bytes_in, bytes_out, packets_in, packets_out)"
    "  SELECT bucket, vm, app, user, rule, dest, protocol, connections,"
    "  denials, bytes_in, bytes_out, packets_in, packets_out FROM stats;"
    "DROP TABLE stats;"
    "ALTER TABLE stats6 RENAME TO stats;",
};
#define SCHEMA_VERSION ((int) ARRAY_SIZE(migrations))

enum stmt_id {
    ST_POLICY_ADD, ST_META_SET, ST_META_GET, ST_POLICY_GET, ST_VM_SEEN,
    ST_AUDIT_ADD, ST_STATS_ADD, ST_SITE_PUT, ST_RDNS_PUT, ST_NAMING_PUT,
    ST_NAMING_DELETE, ST_NAMING_EVENT,
    N_STMTS
};

/* Adds the new row's counter to the stored one, saturating at INT64_MAX:
 * SQLite would turn an overflowing sum into an inexact REAL.  Counters
 * are never negative (the protocol's bounds). */
#define SAT_ADD(C) \
    C " = CASE WHEN excluded." C " > 9223372036854775807 - " C \
    " THEN 9223372036854775807 ELSE " C " + excluded." C " END"

static const char *const stmt_sql[N_STMTS] = {
    [ST_POLICY_ADD] = "INSERT INTO policy (author, time, comment, text) "
                      "VALUES (?, ?, ?, ?)",
    [ST_META_SET] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?",
    [ST_POLICY_GET] = "SELECT version, author, time, comment, text "
                      "FROM policy WHERE version = ?",
    [ST_VM_SEEN] =
        "INSERT INTO vm (uuid, name, ofport, mac, hypervisor, first_seen, "
        "last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (uuid) "
        "DO UPDATE SET name = CASE WHEN ?2 <> '' THEN ?2 ELSE name END, "
        "ofport = CASE WHEN ?3 <> 0 THEN ?3 ELSE ofport END, "
        "mac = CASE WHEN ?4 <> '' THEN ?4 ELSE mac END, "
        "hypervisor = CASE WHEN ?5 <> '' THEN ?5 ELSE hypervisor END, "
        "last_seen = ?6",
    [ST_AUDIT_ADD] =
        "INSERT INTO audit (time_ms, vm_uuid, vm_name, user, app_path, "
        "sha256, product, category, event, protocol, direction, local, "
        "local_port, remote, remote_port, allow, rule, reason, "
        "policy_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?, ?)",
    [ST_STATS_ADD] =
        "INSERT INTO stats (bucket, vm, app, user, rule, connections, "
        "denials, bytes_in, bytes_out, packets_in, packets_out, dest, "
        "protocol, charges) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?) ON CONFLICT (bucket, vm, app, user, rule, dest, protocol, "
        "charges) DO UPDATE SET "
        SAT_ADD("connections") ", " SAT_ADD("denials") ", "
        SAT_ADD("bytes_in") ", " SAT_ADD("bytes_out") ", "
        SAT_ADD("packets_in") ", " SAT_ADD("packets_out"),
    [ST_SITE_PUT] = "INSERT OR REPLACE INTO site (name, addresses, resolved, "
                    "error) VALUES (?, ?, ?, ?)",
    [ST_RDNS_PUT] = "INSERT OR REPLACE INTO rdns (address, name, resolved) "
                    "VALUES (?, ?, ?)",
    [ST_NAMING_PUT] =
        "INSERT OR REPLACE INTO naming_host (vm_uuid, vm_name, user, "
        "addresses, static_user, static_addresses, since, reported_user, "
        "reported_since, reported_addresses, reported_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_NAMING_DELETE] = "DELETE FROM naming_host WHERE vm_uuid = ?",
    [ST_NAMING_EVENT] =
        "INSERT INTO naming_event (time, vm_uuid, vm_name, event, user, "
        "address, source) VALUES (?, ?, ?, ?, ?, ?, ?)",
};

/* A queued audit row: the struct with its strings copied into 'buf'. */
struct audit_row {
    struct store_audit a;
    char *buf;
};

/* A statistics row of the minute 'bucket'.  Rows of the newest minute
 * stay after a write (with their counters zeroed), so that a VM's row
 * written and counted again in the same minute is found, not begun
 * again: 'dirty' rows have counts to write. */
struct stats_entry {
    int64_t bucket;
    char *vm, *app, *user, *rule, *dest, *protocol;
    int charges;                /* STORE_CHARGES_* */
    struct store_counters c;
    size_t bytes;               /* What it costs the queue while dirty. */
    bool dirty;
};

struct store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmts[N_STMTS];
    char error[512];

    struct audit_row *audit;
    size_t n_audit, allocated_audit;
    struct strmap stats;         /* Key "bucket\x1fvm\x1fapp..." */
    size_t n_dirty;              /* Rows of 'stats' with counts to write. */
    struct strmap vm_rows;       /* vm -> (uintptr_t) rows begun in the
                                  * minute 'vm_rows_bucket' */
    int64_t vm_rows_bucket;

    /* store_set_queue_max(). */
    size_t queue_bytes, queue_max, vm_rows_max;
    uint64_t audit_dropped, stats_dropped, stats_folded;
};

static int
db_error(struct store *s, const char *what)
{
    int code = sqlite3_extended_errcode(s->db) & 0xff;
    snprintf(s->error, sizeof s->error, "%s: %s: %s", s->path, what,
             sqlite3_errmsg(s->db));
    return code == SQLITE_BUSY || code == SQLITE_LOCKED ? EBUSY
           : code == SQLITE_FULL ? ENOSPC
           : code == SQLITE_READONLY ? EROFS : EIO;
}

const char *
store_last_error(const struct store *s)
{
    return s->error;
}

static int
exec(struct store *s, const char *sql, const char *what)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK
           ? 0 : db_error(s, what);
}

static char *
open_fail(struct store *s, char *msg)
{
    store_close(s);
    return msg;
}

char *
store_open(const char *path, struct store **sp)
{
    *sp = NULL;
    struct store *s = xcalloc(1, sizeof *s);
    s->path = xstrdup(path);
    strmap_init(&s->stats);
    strmap_init(&s->vm_rows);
    s->queue_max = STORE_QUEUE_MAX_BYTES;
    s->vm_rows_max = STORE_VM_ROWS_MAX;

    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE
                        | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL)
        != SQLITE_OK) {
        return open_fail(s, xasprintf("%s: cannot open: %s", path,
                                      s->db ? sqlite3_errmsg(s->db)
                                            : "out of memory"));
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* Short: a flush runs on the decision loop, and a database locked by
     * someone else must not stall decisions; a failed flush keeps its
     * queue and is retried at the next interval. */
    sqlite3_busy_timeout(s->db, 50);

    sqlite3_stmt *st;
    int version = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL)
        == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            version = sqlite3_column_int(st, 0);
        }
        sqlite3_finalize(st);
    }
    if (version < 0) {
        int code = sqlite3_extended_errcode(s->db) & 0xff;
        return open_fail(s, code == SQLITE_NOTADB
                         ? xasprintf("%s: not an SQLite database", path)
                         : code == SQLITE_CORRUPT
                         ? xasprintf("%s: the database is corrupt", path)
                         : xasprintf("%s: %s", path, sqlite3_errmsg(s->db)));
    }
    if (version > SCHEMA_VERSION) {
        return open_fail(s, xasprintf("%s: schema version %d is newer than "
                                      "this appfw-secd (%d)", path, version,
                                      SCHEMA_VERSION));
    }
    if (strcmp(path, ":memory:")
        && exec(s, "PRAGMA journal_mode = WAL", "enabling WAL")) {
        return open_fail(s, xstrdup(s->error));
    }
    if (exec(s, "PRAGMA synchronous = NORMAL", "configuring")) {
        return open_fail(s, xstrdup(s->error));
    }
    if (version < SCHEMA_VERSION) {
        if (exec(s, "BEGIN IMMEDIATE", "migrating")) {
            return open_fail(s, xstrdup(s->error));
        }
        for (int v = version; v < SCHEMA_VERSION; v++) {
            char *sql = xasprintf("%s PRAGMA user_version = %d;",
                                  migrations[v], v + 1);
            int error = exec(s, sql, "migrating");
            free(sql);
            if (error) {
                char *msg = xstrdup(s->error);
                exec(s, "ROLLBACK", "migrating");
                return open_fail(s, msg);
            }
        }
        if (exec(s, "COMMIT", "migrating")) {
            return open_fail(s, xstrdup(s->error));
        }
    }
    for (int i = 0; i < N_STMTS; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &s->stmts[i], NULL)
            != SQLITE_OK) {
            return open_fail(s, xasprintf("%s: preparing: %s", path,
                                          sqlite3_errmsg(s->db)));
        }
    }
    *sp = s;
    return NULL;
}

static void
free_stats_entry(void *e_)
{
    struct stats_entry *e = e_;
    free(e->vm);
    free(e->app);
    free(e->user);
    free(e->rule);
    free(e->dest);
    free(e->protocol);
    free(e);
}

void
store_close(struct store *s)
{
    if (!s) {
        return;
    }
    for (int i = 0; i < N_STMTS; i++) {
        sqlite3_finalize(s->stmts[i]);
    }
    sqlite3_close(s->db);
    for (size_t i = 0; i < s->n_audit; i++) {
        free(s->audit[i].buf);
    }
    free(s->audit);
    strmap_destroy(&s->stats, free_stats_entry);
    strmap_destroy(&s->vm_rows, NULL);
    free(s->path);
    free(s);
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
    const char *t = (const char *) sqlite3_column_text(st, i);
    return t ? t : "";
}

static int
step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    int error = rc == SQLITE_DONE ? 0 : db_error(s, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return error;
}

/* Finishes a query stepped until 'rc': 0 if it ran to its end, else the
 * error, recorded as 'what' failing.  Finalizes 'st'. */
static int
query_end(struct store *s, sqlite3_stmt *st, int rc, const char *what)
{
    int error = rc == SQLITE_DONE ? 0 : db_error(s, what);
    sqlite3_finalize(st);
    return error;
}

/* Policies. */

void
store_policy_clear(struct store_policy *p)
{
    if (p) {
        free(p->author);
        free(p->comment);
        free(p->text);
        memset(p, 0, sizeof *p);
    }
}

static int
meta_get(struct store *s, const char *key, int64_t *value)
{
    sqlite3_stmt *st = s->stmts[ST_META_GET];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *value = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int error = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? ENOENT
                                                       : db_error(s, "meta");
    sqlite3_reset(st);
    return error;
}

int
store_policy_add(struct store *s, const char *text, const char *author,
                 const char *comment, int64_t *version)
{
    int error = exec(s, "BEGIN IMMEDIATE", "adding a policy");
    if (error) {
        return error;
    }
    sqlite3_stmt *st = s->stmts[ST_POLICY_ADD];
    sqlite3_bind_text(st, 1, author, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, time_wall_ms() / 1000);
    sqlite3_bind_text(st, 3, comment ? comment : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
    error = step_done(s, st, "adding a policy");
    if (!error) {
        *version = sqlite3_last_insert_rowid(s->db);
        st = s->stmts[ST_META_SET];
        sqlite3_bind_text(st, 1, "active_policy", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, *version);
        error = step_done(s, st, "activating a policy");
    }
    if (!error) {
        error = exec(s, "COMMIT", "adding a policy");
    }
    if (error) {
        exec(s, "ROLLBACK", "adding a policy");
    }
    return error;
}

int
store_policy_get(struct store *s, int64_t version, struct store_policy *p)
{
    memset(p, 0, sizeof *p);
    sqlite3_stmt *st = s->stmts[ST_POLICY_GET];
    sqlite3_bind_int64(st, 1, version);
    int rc = sqlite3_step(st);
    int error = 0;
    if (rc == SQLITE_ROW) {
        p->version = sqlite3_column_int64(st, 0);
        p->author = xstrdup(col_text(st, 1));
        p->time = sqlite3_column_int64(st, 2);
        p->comment = xstrdup(col_text(st, 3));
        p->text = xstrdup(col_text(st, 4));
        int64_t active;
        p->active = !meta_get(s, "active_policy", &active)
                    && active == version;
    } else if (rc == SQLITE_DONE) {
        snprintf(s->error, sizeof s->error, "no policy version %lld",
                 (long long) version);
        error = ENOENT;
    } else {
        error = db_error(s, "reading a policy");
    }
    sqlite3_reset(st);
    return error;
}

int
store_policy_active(struct store *s, struct store_policy *p)
{
    int64_t version;
    memset(p, 0, sizeof *p);
    int error = meta_get(s, "active_policy", &version);
    if (error == ENOENT) {
        snprintf(s->error, sizeof s->error, "no policy has been applied");
    }
    return error ? error : store_policy_get(s, version, p);
}

int
store_policy_history(struct store *s, size_t limit, store_policy_cb *cb,
                     void *aux)
{
    int64_t active = 0;
    meta_get(s, "active_policy", &active);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT version, author, time, comment "
                           "FROM policy ORDER BY version DESC LIMIT ?", -1,
                           &st, NULL) != SQLITE_OK) {
        return db_error(s, "listing policies");
    }
    sqlite3_bind_int64(st, 1, (int64_t) limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_policy p = {
            .version = sqlite3_column_int64(st, 0),
            .author = (char *) col_text(st, 1),
            .time = sqlite3_column_int64(st, 2),
            .comment = (char *) col_text(st, 3),
            .text = NULL,
        };
        p.active = p.version == active;
        cb(&p, aux);
    }
    return query_end(s, st, rc, "listing policies");
}

/* Console accounts and the change log. */

static void
account_from_row(sqlite3_stmt *st, struct store_account *a)
{
    *a = (struct store_account) {
        .name = col_text(st, 0), .level = col_text(st, 1),
        .unix_user = col_text(st, 2), .token_sha256 = col_text(st, 3),
        .groups = col_text(st, 4), .created = sqlite3_column_int64(st, 5),
        .created_by = col_text(st, 6),
    };
}

int
store_account_put(struct store *s, const struct store_account *a)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO account (name, level, unix_user, "
                           "token_sha256, groups, created, created_by) "
                           "VALUES (?, ?, NULLIF(?, ''), NULLIF(?, ''), ?, "
                           "?, ?) ON CONFLICT (name) DO UPDATE SET "
                           "level = excluded.level, "
                           "unix_user = excluded.unix_user, "
                           "token_sha256 = excluded.token_sha256, "
                           "groups = excluded.groups, "
                           "created = excluded.created, "
                           "created_by = excluded.created_by", -1, &st, NULL)
        != SQLITE_OK) {
        return db_error(s, "saving an account");
    }
    const char *text[] = { a->name, a->level, a->unix_user, a->token_sha256,
                           a->groups && *a->groups ? a->groups : "[]" };
    for (int i = 0; i < 5; i++) {
        sqlite3_bind_text(st, i + 1, text[i] ? text[i] : "", -1,
                          SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 6, a->created);
    sqlite3_bind_text(st, 7, a->created_by, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int error = (rc == SQLITE_DONE ? 0
                 : (sqlite3_extended_errcode(s->db)
                    == SQLITE_CONSTRAINT_UNIQUE) ? EEXIST
                 : db_error(s, "saving an account"));
    if (error == EEXIST) {
        snprintf(s->error, sizeof s->error, "another account has this unix "
                 "user or token");
    }
    sqlite3_finalize(st);
    return error;
}

int
store_account_delete(struct store *s, const char *name)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM account WHERE name = ?", -1,
                           &st, NULL) != SQLITE_OK) {
        return db_error(s, "deleting an account");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int error = rc != SQLITE_DONE ? db_error(s, "deleting an account")
                : sqlite3_changes(s->db) ? 0 : ENOENT;
    sqlite3_finalize(st);
    return error;
}

int
store_hypervisor_put(struct store *s, const char *name,
                     const char *token_sha256, const char *created_by)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO hypervisor (name, token_sha256, "
                           "created, created_by) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (name) DO UPDATE SET "
                           "token_sha256 = excluded.token_sha256, "
                           "created = excluded.created, "
                           "created_by = excluded.created_by", -1, &st, NULL)
        != SQLITE_OK) {
        return db_error(s, "saving a hypervisor");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, token_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, time_wall_ms());
    sqlite3_bind_text(st, 4, created_by ? created_by : "", -1,
                      SQLITE_STATIC);
    int error = (sqlite3_step(st) == SQLITE_DONE ? 0
                 : db_error(s, "saving a hypervisor"));
    sqlite3_finalize(st);
    return error;
}

int
store_hypervisor_delete(struct store *s, const char *name)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM hypervisor WHERE name = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        return db_error(s, "deleting a hypervisor");
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int error = rc != SQLITE_DONE ? db_error(s, "deleting a hypervisor")
                : sqlite3_changes(s->db) ? 0 : ENOENT;
    sqlite3_finalize(st);
    return error;
}

int
store_hypervisor_list(struct store *s, store_hypervisor_cb *cb, void *aux)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT name, token_sha256, created, "
                           "created_by FROM hypervisor ORDER BY name", -1,
                           &st, NULL) != SQLITE_OK) {
        return db_error(s, "listing hypervisors");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cb((const char *) sqlite3_column_text(st, 0),
           (const char *) sqlite3_column_text(st, 1),
           sqlite3_column_int64(st, 2),
           (const char *) sqlite3_column_text(st, 3), aux);
    }
    int error = rc == SQLITE_DONE ? 0 : db_error(s, "listing hypervisors");
    sqlite3_finalize(st);
    return error;
}

/* The accounts whose 'column' is 'value' (all if 'column' is NULL), by
 * name.  'column' is one of the fixed names below, never user input. */
static int
account_query(struct store *s, const char *column, const char *value,
              store_account_cb *cb, void *aux, size_t *n)
{
    char *sql = xasprintf("SELECT name, level, unix_user, token_sha256, "
                          "groups, created, created_by FROM account%s%s%s "
                          "ORDER BY name", column ? " WHERE " : "",
                          column ? column : "", column ? " = ?" : "");
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    free(sql);
    if (rc != SQLITE_OK) {
        return db_error(s, "reading accounts");
    }
    if (column) {
        sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
    }
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_account a;
        account_from_row(st, &a);
        cb(&a, aux);
        (*n)++;
    }
    return query_end(s, st, rc, "reading accounts");
}

int
store_account_find(struct store *s, enum store_account_key key,
                   const char *value, store_account_cb *cb, void *aux)
{
    static const char *const columns[] = {
        [STORE_ACCOUNT_NAME] = "name",
        [STORE_ACCOUNT_UNIX_USER] = "unix_user",
        [STORE_ACCOUNT_TOKEN] = "token_sha256",
    };
    size_t n;
    int error = account_query(s, columns[key], value, cb, aux, &n);
    return error ? error : n ? 0 : ENOENT;
}

int
store_account_list(struct store *s, store_account_cb *cb, void *aux)
{
    size_t n;
    return account_query(s, NULL, NULL, cb, aux, &n);
}

int
store_change_add(struct store *s, const char *account, const char *action,
                 const char *detail)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO change (time, account, "
                           "action, detail) VALUES (?, ?, ?, ?)", -1, &st,
                           NULL) != SQLITE_OK) {
        return db_error(s, "recording a change");
    }
    sqlite3_bind_int64(st, 1, time_wall_ms() / 1000);
    sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, detail ? detail : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    return query_end(s, st, rc, "recording a change");
}

int
store_change_list(struct store *s, size_t limit, store_change_cb *cb,
                  void *aux)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT time, account, action, detail "
                           "FROM change ORDER BY id DESC LIMIT ?", -1, &st,
                           NULL) != SQLITE_OK) {
        return db_error(s, "listing changes");
    }
    sqlite3_bind_int64(st, 1, (int64_t) limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cb(sqlite3_column_int64(st, 0), col_text(st, 1), col_text(st, 2),
           col_text(st, 3), aux);
    }
    return query_end(s, st, rc, "listing changes");
}

/* Quotas. */

int
store_quota_violation_add(struct store *s, const struct store_violation *v)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO quota_violation "
                           "(day, kind, subject, quota, volume, time) "
                           "VALUES (?, ?, ?, ?, ?, ?)", -1, &st, NULL)
        != SQLITE_OK) {
        return db_error(s, "recording a quota violation");
    }
    sqlite3_bind_text(st, 1, v->day, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, v->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, v->subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, v->quota);
    sqlite3_bind_int64(st, 5, v->volume);
    sqlite3_bind_int64(st, 6, v->time);
    int rc = sqlite3_step(st);
    int error = rc == SQLITE_DONE ? 0
                : db_error(s, "recording a quota violation");
    sqlite3_finalize(st);
    return error;
}

int
store_quota_violations(struct store *s, const char *since_day,
                       store_violation_cb *cb, void *aux)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT day, kind, subject, quota, "
                           "volume, time FROM quota_violation WHERE day >= ? "
                           "ORDER BY day DESC, time DESC", -1, &st, NULL)
        != SQLITE_OK) {
        return db_error(s, "listing quota violations");
    }
    sqlite3_bind_text(st, 1, since_day, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_violation v = {
            .day = col_text(st, 0), .kind = col_text(st, 1),
            .subject = col_text(st, 2), .quota = sqlite3_column_int64(st, 3),
            .volume = sqlite3_column_int64(st, 4),
            .time = sqlite3_column_int64(st, 5),
        };
        cb(&v, aux);
    }
    return query_end(s, st, rc, "listing quota violations");
}

int
store_stats_usage(struct store *s, int64_t since_ms, store_usage_cb *cb,
                  void *aux)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT vm, app, user, charges, "
                           "total(bytes_in) + total(bytes_out) FROM stats "
                           "WHERE bucket >= ? AND charges <> 0 "
                           "GROUP BY vm, app, user, charges", -1,
                           &st, NULL) != SQLITE_OK) {
        return db_error(s, "reading usage");
    }
    sqlite3_bind_int64(st, 1, since_ms / 60000 * 60000);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cb(col_text(st, 0), col_text(st, 1), col_text(st, 2),
           sqlite3_column_int(st, 3), sqlite3_column_int64(st, 4), aux);
    }
    return query_end(s, st, rc, "reading usage");
}

/* VMs. */

int
store_vm_seen(struct store *s, const char *uuid, const char *name,
              int ofport, const char *mac, const char *hypervisor)
{
    sqlite3_stmt *st = s->stmts[ST_VM_SEEN];
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name ? name : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, ofport);
    sqlite3_bind_text(st, 4, mac ? mac : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, hypervisor ? hypervisor : "", -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, time_wall_ms() / 1000);
    return step_done(s, st, "recording a vm");
}

int
store_vm_list(struct store *s, store_vm_cb *cb, void *aux)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT v.uuid, v.name, v.ofport, v.mac, "
                           "v.hypervisor, v.first_seen, v.last_seen, "
                           "(SELECT count(*) FROM audit a "
                           " WHERE a.vm_uuid = v.uuid), "
                           "(SELECT count(*) FROM audit a "
                           " WHERE a.vm_uuid = v.uuid AND NOT a.allow) "
                           "FROM vm v ORDER BY v.name, v.uuid", -1, &st,
                           NULL) != SQLITE_OK) {
        return db_error(s, "listing vms");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_vm vm = {
            .uuid = col_text(st, 0), .name = col_text(st, 1),
            .ofport = sqlite3_column_int(st, 2), .mac = col_text(st, 3),
            .hypervisor = col_text(st, 4),
            .first_seen = sqlite3_column_int64(st, 5),
            .last_seen = sqlite3_column_int64(st, 6),
            .decisions = sqlite3_column_int64(st, 7),
            .denials = sqlite3_column_int64(st, 8),
        };
        cb(&vm, aux);
    }
    return query_end(s, st, rc, "listing vms");
}

int
store_set_synchronous_full(struct store *s, bool full)
{
    return exec(s, full ? "PRAGMA synchronous = FULL"
                        : "PRAGMA synchronous = NORMAL", "configuring");
}

/* Audit. */

void
store_set_queue_max(struct store *s, size_t bytes, size_t vm_rows)
{
    s->queue_max = bytes;
    s->vm_rows_max = vm_rows;
}

void
store_queue_stats(const struct store *s, struct store_queue_stats *qs)
{
    *qs = (struct store_queue_stats) {
        .bytes = s->queue_bytes, .audit_dropped = s->audit_dropped,
        .stats_dropped = s->stats_dropped, .stats_folded = s->stats_folded,
    };
}

static size_t
audit_row_bytes(const struct store_audit *a)
{
    const char *fields[] = {
        a->vm_uuid, a->vm_name, a->user, a->app_path, a->sha256, a->product,
        a->category, a->event, a->protocol, a->direction, a->local,
        a->remote, a->rule, a->reason,
    };
    size_t total = sizeof(struct audit_row);
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        total += strlen(fields[i] ? fields[i] : "") + 1;
    }
    return total;
}

bool
store_audit_add(struct store *s, const struct store_audit *a)
{
    size_t bytes = audit_row_bytes(a);
    if (s->queue_bytes + bytes > s->queue_max) {
        s->audit_dropped++;
        return false;
    }
    s->queue_bytes += bytes;
    if (s->n_audit >= s->allocated_audit) {
        s->allocated_audit = s->allocated_audit ? 2 * s->allocated_audit
                                                : 256;
        s->audit = xrealloc(s->audit, s->allocated_audit * sizeof *s->audit);
    }
    struct audit_row *row = &s->audit[s->n_audit++];
    row->a = *a;

    /* Copy the strings into one buffer. */
    const char **fields[] = {
        &row->a.vm_uuid, &row->a.vm_name, &row->a.user, &row->a.app_path,
        &row->a.sha256, &row->a.product, &row->a.category, &row->a.event,
        &row->a.protocol, &row->a.direction, &row->a.local, &row->a.remote,
        &row->a.rule, &row->a.reason,
    };
    size_t total = 0;
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        total += strlen(*fields[i] ? *fields[i] : "") + 1;
    }
    row->buf = xmalloc(total);
    char *p = row->buf;
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        const char *v = *fields[i] ? *fields[i] : "";
        size_t n = strlen(v) + 1;
        memcpy(p, v, n);
        *fields[i] = p;
        p += n;
    }
    return true;
}

size_t
store_audit_queued(const struct store *s)
{
    return s->n_audit;
}

int
store_audit_query(struct store *s, const struct store_audit_filter *f,
                  size_t limit, store_audit_cb *cb, void *aux)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT time_ms, vm_uuid, vm_name, user, "
                           "app_path, sha256, product, category, event, "
                           "protocol, direction, local, local_port, remote, "
                           "remote_port, allow, rule, reason, policy_version "
                           "FROM audit WHERE (?1 IS NULL OR vm_uuid = ?1 "
                           "OR vm_name = ?1) AND (?2 IS NULL OR user = ?2) "
                           "AND (?3 IS NULL OR instr(app_path, ?3) > 0 "
                           "OR instr(product, ?3) > 0) AND (?4 IS NULL "
                           "OR allow = (?4 = 'allow')) "
                           "ORDER BY id DESC LIMIT ?5", -1, &st, NULL)
        != SQLITE_OK) {
        return db_error(s, "querying the audit log");
    }
    const char *params[] = { f ? f->vm : NULL, f ? f->user : NULL,
                             f ? f->app : NULL, f ? f->verdict : NULL };
    for (int i = 0; i < 4; i++) {
        if (params[i]) {
            sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC);
        }
    }
    sqlite3_bind_int64(st, 5, (int64_t) limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_audit a = {
            .time_ms = sqlite3_column_int64(st, 0),
            .vm_uuid = col_text(st, 1), .vm_name = col_text(st, 2),
            .user = col_text(st, 3), .app_path = col_text(st, 4),
            .sha256 = col_text(st, 5), .product = col_text(st, 6),
            .category = col_text(st, 7), .event = col_text(st, 8),
            .protocol = col_text(st, 9), .direction = col_text(st, 10),
            .local = col_text(st, 11),
            .local_port = sqlite3_column_int(st, 12),
            .remote = col_text(st, 13),
            .remote_port = sqlite3_column_int(st, 14),
            .allow = sqlite3_column_int(st, 15),
            .rule = col_text(st, 16), .reason = col_text(st, 17),
            .policy_version = sqlite3_column_int64(st, 18),
        };
        cb(&a, aux);
    }
    return query_end(s, st, rc, "querying the audit log");
}

/* Keeps the newest 'max_rows' rows of 'table' (by its id). */
static int
keep_newest(struct store *s, const char *table, int64_t max_rows,
            const char *what)
{
    char *sql = xasprintf("DELETE FROM %s WHERE id <= "
                          "(SELECT max(id) FROM %s) - %lld", table, table,
                          (long long) max_rows);
    int error = exec(s, sql, what);
    free(sql);
    return error;
}

int
store_audit_prune(struct store *s, int64_t max_rows)
{
    return keep_newest(s, "audit", max_rows, "pruning the audit log");
}

/* Statistics. */

static char *
stats_key(int64_t bucket, const char *vm, const char *app, const char *user,
          const char *rule, const char *dest, const char *protocol,
          int charges)
{
    return xasprintf("%lld\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%d",
                     (long long) bucket, vm, app, user, rule, dest, protocol,
                     charges);
}

void
store_stats_add(struct store *s, int64_t time_ms,
                const struct store_stats_key *k,
                const struct store_counters *c)
{
    int64_t bucket = time_ms / 60000 * 60000;
    const char *vm = k->vm ? k->vm : "";
    const char *app = k->app ? k->app : "";
    const char *user = k->user ? k->user : "";
    const char *rule = k->rule ? k->rule : "";
    const char *dest = k->dest ? k->dest : "";
    const char *protocol = k->protocol ? k->protocol : "";
    int charges = k->charges & STORE_CHARGES_ALL;
    char *key = stats_key(bucket, vm, app, user, rule, dest, protocol,
                          charges);
    struct stats_entry *e = strmap_find(&s->stats, key);
    if (bucket > s->vm_rows_bucket) {
        strmap_clear(&s->vm_rows, NULL);
        s->vm_rows_bucket = bucket;
    }
    uintptr_t rows = (uintptr_t) strmap_find(&s->vm_rows, vm);
    if (!e && rows >= s->vm_rows_max) {
        /* The VM's own overflow row: one per VM and minute. */
        s->stats_folded++;
        free(key);
        app = dest = protocol = STORE_STATS_OTHER;
        user = rule = "";
        key = stats_key(bucket, vm, app, user, rule, dest, protocol,
                        charges);
        e = strmap_find(&s->stats, key);
    }
    if (!e) {
        size_t bytes = (sizeof *e + strlen(key) + 1 + strlen(vm)
                        + strlen(app) + strlen(user) + strlen(rule)
                        + strlen(dest) + strlen(protocol) + 6);
        if (s->queue_bytes + bytes > s->queue_max) {
            s->stats_dropped++;
            free(key);
            return;
        }
        s->queue_bytes += bytes;
        strmap_delete(&s->vm_rows, vm);
        strmap_add(&s->vm_rows, vm, (void *) (rows + 1));
        e = xcalloc(1, sizeof *e);
        e->bucket = bucket;
        e->vm = xstrdup(vm);
        e->app = xstrdup(app);
        e->user = xstrdup(user);
        e->rule = xstrdup(rule);
        e->dest = xstrdup(dest);
        e->protocol = xstrdup(protocol);
        e->charges = charges;
        e->bytes = bytes;
        e->dirty = true;
        s->n_dirty++;
        strmap_add(&s->stats, key, e);
    } else if (!e->dirty) {
        /* A row of this minute already written: counted once. */
        e->dirty = true;
        s->n_dirty++;
        s->queue_bytes += e->bytes;
    }
    free(key);
    store_counters_add(&e->c, c);
}

void
store_counters_add(struct store_counters *sum, const struct store_counters *c)
{
    sum->connections = sat_add64(sum->connections, c->connections);
    sum->denials = sat_add64(sum->denials, c->denials);
    sum->bytes_in = sat_add64(sum->bytes_in, c->bytes_in);
    sum->bytes_out = sat_add64(sum->bytes_out, c->bytes_out);
    sum->packets_in = sat_add64(sum->packets_in, c->packets_in);
    sum->packets_out = sat_add64(sum->packets_out, c->packets_out);
}

int
store_stats_top(struct store *s, const char *by, const char *order,
                int64_t since_ms, int64_t until_ms, size_t limit,
                store_top_cb *cb, void *aux)
{
    static const char *const keys[] = {
        "app", "vm", "user", "rule", "dest", "protocol",
    };
    bool ok = false;
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        ok = ok || !strcmp(by, keys[i]);
    }
    /* total(), not sum(): sum() fails the query when the integers overflow,
     * and a guest's reports could make them; total() adds in floating
     * point, and sqlite3_column_int64() saturates what it returns. */
    const char *ord = !strcmp(order, "bytes")
                      ? "total(bytes_in) + total(bytes_out)"
                      : !strcmp(order, "denials") ? "total(denials)"
                      : !strcmp(order, "connections") ? "total(connections)"
                      : NULL;
    if (!ok || !ord) {
        snprintf(s->error, sizeof s->error, "stats: group by app, vm, user, "
                 "rule, dest or protocol; order by connections, bytes or "
                 "denials");
        return EINVAL;
    }
    /* By VM, user or application, each byte once: of the rows with
     * traffic, only those that charged that kind of quota (a guest's
     * report of what the datapath counted charged none). */
    int charges = (!strcmp(by, "vm") ? STORE_CHARGES_VM
                   : !strcmp(by, "user") ? STORE_CHARGES_USER
                   : !strcmp(by, "app") ? STORE_CHARGES_APP : 0);
    char *sql = xasprintf("SELECT %s, total(connections), total(denials), "
                          "total(bytes_in), total(bytes_out), "
                          "total(packets_in), total(packets_out) "
                          "FROM stats WHERE bucket >= ?1 "
                          "AND (?3 = 0 OR bucket < ?3) "
                          "AND (?4 = 0 OR charges & ?4 OR (bytes_in = 0 "
                          "AND bytes_out = 0 AND packets_in = 0 "
                          "AND packets_out = 0)) "
                          "GROUP BY %s ORDER BY %s DESC, %s LIMIT ?2", by,
                          by, ord, by);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    free(sql);
    if (rc != SQLITE_OK) {
        return db_error(s, "reading statistics");
    }
    sqlite3_bind_int64(st, 1, since_ms / 60000 * 60000);
    sqlite3_bind_int64(st, 2, (int64_t) limit);
    sqlite3_bind_int64(st, 3, until_ms > 0 ? until_ms : 0);
    sqlite3_bind_int(st, 4, charges);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_counters c = {
            .connections = sqlite3_column_int64(st, 1),
            .denials = sqlite3_column_int64(st, 2),
            .bytes_in = sqlite3_column_int64(st, 3),
            .bytes_out = sqlite3_column_int64(st, 4),
            .packets_in = sqlite3_column_int64(st, 5),
            .packets_out = sqlite3_column_int64(st, 6),
        };
        cb(col_text(st, 0), &c, aux);
    }
    return query_end(s, st, rc, "reading statistics");
}

int
store_stats_prune(struct store *s, int64_t before_ms)
{
    char *sql = xasprintf("DELETE FROM stats WHERE bucket < %lld",
                          (long long) (before_ms / 60000 * 60000));
    int error = exec(s, sql, "pruning statistics");
    free(sql);
    return error;
}

/* Flushing. */

static int
write_audit(struct store *s, const struct store_audit *a)
{
    sqlite3_stmt *st = s->stmts[ST_AUDIT_ADD];
    sqlite3_bind_int64(st, 1, a->time_ms);
    const char *texts[] = {
        a->vm_uuid, a->vm_name, a->user, a->app_path, a->sha256, a->product,
        a->category, a->event, a->protocol, a->direction, a->local,
    };
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        sqlite3_bind_text(st, 2 + (int) i, texts[i], -1, SQLITE_STATIC);
    }
    sqlite3_bind_int(st, 13, a->local_port);
    sqlite3_bind_text(st, 14, a->remote, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 15, a->remote_port);
    sqlite3_bind_int(st, 16, a->allow);
    sqlite3_bind_text(st, 17, a->rule, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 18, a->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 19, a->policy_version);
    return step_done(s, st, "writing the audit log");
}

static int
write_stats(struct store *s, const struct stats_entry *e)
{
    sqlite3_stmt *st = s->stmts[ST_STATS_ADD];
    sqlite3_bind_int64(st, 1, e->bucket);
    sqlite3_bind_text(st, 2, e->vm, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, e->app, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, e->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->rule, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, e->c.connections);
    sqlite3_bind_int64(st, 7, e->c.denials);
    sqlite3_bind_int64(st, 8, e->c.bytes_in);
    sqlite3_bind_int64(st, 9, e->c.bytes_out);
    sqlite3_bind_int64(st, 10, e->c.packets_in);
    sqlite3_bind_int64(st, 11, e->c.packets_out);
    sqlite3_bind_text(st, 12, e->dest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, e->protocol, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 14, e->charges);
    return step_done(s, st, "writing statistics");
}

int
store_flush(struct store *s)
{
    if (!s->n_audit && !s->n_dirty) {
        return 0;
    }
    int error = exec(s, "BEGIN IMMEDIATE", "flushing");
    for (size_t i = 0; !error && i < s->n_audit; i++) {
        error = write_audit(s, &s->audit[i].a);
    }
    for (size_t i = 0; !error && (i = strmap_next(&s->stats, i)) != SIZE_MAX;
         i++) {
        const struct stats_entry *e = s->stats.nodes[i].data;
        if (e->dirty) {
            error = write_stats(s, e);
        }
    }
    if (!error) {
        error = exec(s, "COMMIT", "flushing");
    }
    if (error) {
        /* Keep the queue: the next flush tries again. */
        exec(s, "ROLLBACK", "flushing");
        return error;
    }
    for (size_t i = 0; i < s->n_audit; i++) {
        free(s->audit[i].buf);
    }
    s->n_audit = 0;
    /* Rows of the newest minute stay, zeroed; older ones go. */
    char **old = NULL;
    size_t n_old = 0;
    for (size_t i = 0; (i = strmap_next(&s->stats, i)) != SIZE_MAX; i++) {
        struct stats_entry *e = s->stats.nodes[i].data;
        if (e->bucket < s->vm_rows_bucket) {
            old = xrealloc(old, (n_old + 1) * sizeof *old);
            old[n_old++] = xstrdup(s->stats.nodes[i].key);
        } else {
            memset(&e->c, 0, sizeof e->c);
            e->dirty = false;
        }
    }
    for (size_t i = 0; i < n_old; i++) {
        free_stats_entry(strmap_delete(&s->stats, old[i]));
        free(old[i]);
    }
    free(old);
    s->n_dirty = 0;
    s->queue_bytes = 0;
    return 0;
}

/* The resolver's caches. */

int
store_site_put(struct store *s, const char *name, const char *addresses,
               int64_t resolved_ms, const char *error)
{
    sqlite3_stmt *st = s->stmts[ST_SITE_PUT];
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, addresses, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, resolved_ms);
    sqlite3_bind_text(st, 4, error ? error : "", -1, SQLITE_STATIC);
    return step_done(s, st, "saving a site");
}

int
store_site_load(struct store *s, store_site_cb *cb, void *aux)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT name, addresses, resolved, error "
                           "FROM site", -1, &st, NULL) != SQLITE_OK) {
        return db_error(s, "loading sites");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cb(col_text(st, 0), col_text(st, 1), sqlite3_column_int64(st, 2),
           col_text(st, 3), aux);
    }
    return query_end(s, st, rc, "loading sites");
}

int
store_rdns_put(struct store *s, const char *address, const char *name,
               int64_t resolved_ms)
{
    sqlite3_stmt *st = s->stmts[ST_RDNS_PUT];
    sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, resolved_ms);
    return step_done(s, st, "saving a host name");
}

int
store_rdns_load(struct store *s, size_t limit, store_rdns_cb *cb, void *aux)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT address, name, resolved FROM rdns "
                           "ORDER BY resolved DESC LIMIT ?", -1, &st, NULL)
        != SQLITE_OK) {
        return db_error(s, "loading host names");
    }
    sqlite3_bind_int64(st, 1, (int64_t) limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cb(col_text(st, 0), col_text(st, 1), sqlite3_column_int64(st, 2),
           aux);
    }
    return query_end(s, st, rc, "loading host names");
}

/* The naming service. */

int
store_naming_put(struct store *s, const struct store_naming_host *h)
{
    sqlite3_stmt *st = s->stmts[ST_NAMING_PUT];
    sqlite3_bind_text(st, 1, h->vm_uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, h->vm_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, h->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, h->addresses, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, h->static_user);
    sqlite3_bind_int(st, 6, h->static_addresses);
    sqlite3_bind_int64(st, 7, h->since);
    sqlite3_bind_text(st, 8, h->reported_user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, h->reported_since);
    sqlite3_bind_text(st, 10, h->reported_addresses, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, h->reported_at);
    return step_done(s, st, "saving the naming service");
}

int
store_naming_delete(struct store *s, const char *vm_uuid)
{
    sqlite3_stmt *st = s->stmts[ST_NAMING_DELETE];
    sqlite3_bind_text(st, 1, vm_uuid, -1, SQLITE_STATIC);
    return step_done(s, st, "removing a naming entry");
}

int
store_naming_load(struct store *s, store_naming_cb *cb, void *aux)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT vm_uuid, vm_name, user, addresses, "
                           "static_user, static_addresses, since, "
                           "reported_user, reported_since, "
                           "reported_addresses, reported_at "
                           "FROM naming_host", -1, &st, NULL) != SQLITE_OK) {
        return db_error(s, "loading the naming service");
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_naming_host h = {
            .vm_uuid = col_text(st, 0), .vm_name = col_text(st, 1),
            .user = col_text(st, 2), .addresses = col_text(st, 3),
            .static_user = sqlite3_column_int(st, 4),
            .static_addresses = sqlite3_column_int(st, 5),
            .since = sqlite3_column_int64(st, 6),
            .reported_user = col_text(st, 7),
            .reported_since = sqlite3_column_int64(st, 8),
            .reported_addresses = col_text(st, 9),
            .reported_at = sqlite3_column_int64(st, 10),
        };
        cb(&h, aux);
    }
    return query_end(s, st, rc, "loading the naming service");
}

int
store_naming_event_add(struct store *s, const struct store_naming_event *e)
{
    sqlite3_stmt *st = s->stmts[ST_NAMING_EVENT];
    sqlite3_bind_int64(st, 1, e->time);
    sqlite3_bind_text(st, 2, e->vm_uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, e->vm_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, e->event, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, e->address, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, e->source, -1, SQLITE_STATIC);
    return step_done(s, st, "recording a naming event");
}

int
store_naming_events_prune(struct store *s, int64_t max_rows)
{
    return keep_newest(s, "naming_event", max_rows, "pruning naming events");
}

int
store_naming_events(struct store *s, size_t limit, store_naming_event_cb *cb,
                    void *aux)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT time, vm_uuid, vm_name, event, "
                           "user, address, source FROM naming_event "
                           "ORDER BY id DESC LIMIT ?", -1, &st, NULL)
        != SQLITE_OK) {
        return db_error(s, "listing naming events");
    }
    sqlite3_bind_int64(st, 1, (int64_t) limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_naming_event e = {
            .time = sqlite3_column_int64(st, 0),
            .vm_uuid = col_text(st, 1), .vm_name = col_text(st, 2),
            .event = col_text(st, 3), .user = col_text(st, 4),
            .address = col_text(st, 5), .source = col_text(st, 6),
        };
        cb(&e, aux);
    }
    return query_end(s, st, rc, "listing naming events");
}
