/* The process behind a socket event.  See identity.h. */
#include "identity.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/util.h"

/* Bounds on what is read.  Files in /etc are the guest administrator's,
 * still bounded: a compromised guest must not exhaust the agent. */
#define ETC_FILE_MAX (16 * 1024 * 1024)
#define RESOLV_MAX (64 * 1024)
#define PROC_STAT_MAX 4096
#define PROC_CGROUP_MAX (64 * 1024)
#define PROC_LOGINUID_MAX 32
#define PROC_EXE_MAX 4096       /* The kernel's readlink buffer is a page. */
#define PROC_TASKS_MAX 1024     /* Threads tried when the leader is gone. */

/* Longest user or group name kept (the protocol's bound). */
#define NAME_MAX_LEN 256
#define DOMAIN_MAX_LEN 253

/* Hash buckets: a power of 2 at least the entry bound, within these. */
#define HASH_BUCKETS_MIN 16
#define HASH_BUCKETS_MAX ((size_t) 1 << 16)

/* include/uapi/linux/magic.h. */
#define BTRFS_SUPER_MAGIC_ 0x9123683e
#define OVERLAYFS_SUPER_MAGIC_ 0x794c7630

/* include/linux/sched.h. */
#define PF_KTHREAD 0x00200000

#define NO_ID UINT32_MAX        /* (uid_t) -1: "unset" for loginuid. */

#define DELETED_SUFFIX " (deleted)"
#define DELETED_LEN (sizeof DELETED_SUFFIX - 1)
#define MEMFD_PREFIX "/memfd:"
#define MEMFD_LEN (sizeof MEMFD_PREFIX - 1)

/* What tells one version of a file from another. */
struct file_key {
    uint64_t dev;
    uint64_t ino;
    uint64_t size;
    int64_t mtime_sec, mtime_nsec;
    int64_t ctime_sec, ctime_nsec;
    uint64_t gen;               /* The inode's generation; 0 if unknown. */
};

/* A file in etc_root, re-read when its file_key changes. */
struct etc_file {
    char *path;
    bool checked;               /* Looked at at least once. */
    bool present;               /* 'key' is that of the contents read. */
    struct file_key key;
};

struct id_name {
    uint32_t id;
    uint32_t line;              /* For a stable sort: the first line wins. */
    char *name;
};

/* passwd or group: ids to names, sorted by id, one entry per id. */
struct idmap {
    struct etc_file file;
    size_t min_fields;          /* Fields a valid line has at least. */
    struct id_name *entries;
    size_t n;
};

struct hash_lru {
    struct hash_lru *prev;      /* Towards the most recently used. */
    struct hash_lru *next;      /* Towards the least recently used. */
};

struct hash_entry {
    struct hash_lru lru;        /* First member: see hash_entry_from_lru(). */
    struct hash_entry *chain;   /* Next in the same bucket. */
    uint64_t hash;
    struct file_key key;
    uint8_t sha256[SHA256_LEN];
};

struct hash_cache {
    struct hash_entry **buckets;
    size_t mask;                /* Bucket count - 1. */
    size_t n;
    size_t max;
    struct hash_lru lru;        /* lru.next: the most recently used;
                                 * lru.prev: the least. */
    uint64_t seed;
    unsigned long long hits, misses, hashed_bytes;
};

struct identity_ctx {
    char *proc_root;
    size_t cmdline_max;
    struct idmap users;
    struct idmap groups;
    struct etc_file resolv;
    bool domain_fixed;          /* From the configuration: never re-read. */
    char *domain;               /* NULL: none. */
    struct hash_cache cache;
};

/* Reading files. */

static void *
xmemdup0(const void *p, size_t n)
{
    char *s = xmalloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Reads at most 'max' bytes from 'fd' into '*datap', a new NUL-terminated
 * buffer whose length goes to '*lenp'.  '*cutp' tells whether the file
 * goes on beyond 'max' bytes.  Returns 0 or an errno value (then '*datap'
 * is NULL). */
static int
read_fd(int fd, size_t max, char **datap, size_t *lenp, bool *cutp)
{
    size_t want = max + 1;      /* One more, to tell whether there is. */
    size_t cap = want < 4096 ? want : 4096;
    char *buf = xmalloc(cap + 1);
    size_t len = 0;

    while (len < want) {
        if (len == cap) {
            cap = cap <= want / 2 ? cap * 2 : want;
            buf = xrealloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int error = errno;
            free(buf);
            *datap = NULL;
            *lenp = 0;
            *cutp = false;
            return error;
        } else if (n == 0) {
            break;
        }
        len += n;
    }
    *cutp = len > max;
    if (*cutp) {
        len = max;
    }
    buf[len] = '\0';
    *datap = buf;
    *lenp = len;
    return 0;
}

/* read_fd() on 'name' relative to directory 'dirfd'. */
static int
read_at(int dirfd, const char *name, size_t max, char **datap, size_t *lenp,
        bool *cutp)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        *datap = NULL;
        *lenp = 0;
        *cutp = false;
        return errno;
    }
    int error = read_fd(fd, max, datap, lenp, cutp);
    close(fd);
    return error;
}

/* Parses 's[0..n)', decimal digits only, as a value 0..max. */
static bool
parse_u32(const char *s, size_t n, uint32_t max, uint32_t *valuep)
{
    uint64_t value = 0;

    if (n == 0 || n > 10) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        value = value * 10 + (s[i] - '0');
    }
    if (value > max) {
        return false;
    }
    *valuep = value;
    return true;
}

/* Text: hostile bytes to clean UTF-8. */

/* Returns the length of the well-formed UTF-8 character (RFC 3629: no
 * overlongs, surrogates or values beyond U+10FFFF) that starts 's', which
 * has 'n' >= 1 bytes, or 0 if there is none.  Sets '*partial' when 's'
 * holds the start of a character cut short. */
static size_t
utf8_char_len(const uint8_t *s, size_t n, bool *partial)
{
    uint8_t lo = 0x80, hi = 0xbf;
    size_t len;

    *partial = false;
    if (s[0] < 0x80) {
        return 1;
    } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        lo = s[0] == 0xe0 ? 0xa0 : 0x80;
        hi = s[0] == 0xed ? 0x9f : 0xbf;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        lo = s[0] == 0xf0 ? 0x90 : 0x80;
        hi = s[0] == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if (i >= n) {
            *partial = true;
            return 0;
        }
        if (s[i] < lo || s[i] > hi) {
            return 0;
        }
        lo = 0x80;
        hi = 0xbf;
    }
    return len;
}

enum {
    TEXT_CONTROLS = 1 << 0,     /* C0 controls, DEL and C1 controls become
                                 * '?' too. */
    TEXT_NUL_SPACE = 1 << 1,    /* NUL becomes ' ' (else '?'). */
    TEXT_CUT = 1 << 2,          /* The input was cut short: drop a partial
                                 * last character rather than show it. */
};

/* Returns a new string: 's[0..n)' with each byte that is not part of a
 * well-formed UTF-8 character (and what 'flags' says) replaced by '?', cut
 * to at most 'max' bytes on a character boundary.  Stores its length in
 * '*lenp' if nonnull. */
static char *
text_clean(const char *s, size_t n, size_t max, int flags, size_t *lenp)
{
    const uint8_t *in = (const uint8_t *) s;
    char *out = xmalloc((n < max ? n : max) + 1);
    size_t i = 0, o = 0;

    while (i < n) {
        bool partial;
        size_t clen = utf8_char_len(in + i, n - i, &partial);
        const char *piece = s + i;
        size_t plen = clen;

        if (!clen) {
            if (partial && flags & TEXT_CUT) {
                break;
            }
            piece = "?";
            plen = clen = 1;
        } else if (!in[i]) {
            piece = flags & TEXT_NUL_SPACE ? " " : "?";
        } else if (flags & TEXT_CONTROLS
                   && (in[i] < 0x20 || in[i] == 0x7f
                       || (in[i] == 0xc2 && in[i + 1] < 0xa0))) {
            piece = "?";
            plen = 1;
        }
        if (o + plen > max) {
            break;
        }
        memcpy(out + o, piece, plen);
        o += plen;
        i += clen;
    }
    out[o] = '\0';
    if (lenp) {
        *lenp = o;
    }
    return out;
}

/* Files in etc_root. */

static void
file_key_from_stat(struct file_key *key, const struct stat *st)
{
    key->dev = st->st_dev;
    key->ino = st->st_ino;
    key->size = st->st_size;
    key->mtime_sec = st->st_mtim.tv_sec;
    key->mtime_nsec = st->st_mtim.tv_nsec;
    key->ctime_sec = st->st_ctim.tv_sec;
    key->ctime_nsec = st->st_ctim.tv_nsec;
    key->gen = 0;
}

static bool
file_key_equal(const struct file_key *a, const struct file_key *b)
{
    return (a->dev == b->dev && a->ino == b->ino && a->size == b->size
            && a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec
            && a->ctime_sec == b->ctime_sec
            && a->ctime_nsec == b->ctime_nsec && a->gen == b->gen);
}

/* Returns false if 'ef' is as it was when last read.  Otherwise returns
 * true with its new contents (at most 'max' bytes) in '*datap' (the caller
 * frees it), or NULL there if it is gone, unreadable or not a regular
 * file. */
static bool
etc_file_changed(struct etc_file *ef, size_t max, char **datap, size_t *lenp)
{
    struct stat st;
    struct file_key key;
    bool was_present = ef->present;

    *datap = NULL;
    *lenp = 0;
    if (stat(ef->path, &st)) {
        bool changed = !ef->checked || ef->present;
        ef->checked = true;
        ef->present = false;
        return changed;
    }
    file_key_from_stat(&key, &st);
    if (ef->checked && ef->present && file_key_equal(&key, &ef->key)) {
        return false;
    }

    ef->checked = true;
    ef->present = false;
    /* O_NONBLOCK: a FIFO put in the file's place must not hang us. */
    int fd = open(ef->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return was_present;
    }
    bool cut;
    if (!fstat(fd, &st) && S_ISREG(st.st_mode)
        && !read_fd(fd, max, datap, lenp, &cut)) {
        file_key_from_stat(&ef->key, &st);
        ef->present = true;
    }
    close(fd);
    return ef->present || was_present;
}

static int
id_name_compare(const void *a_, const void *b_)
{
    const struct id_name *a = a_, *b = b_;
    return (a->id != b->id ? (a->id < b->id ? -1 : 1)
            : a->line < b->line ? -1 : a->line > b->line);
}

static void
idmap_clear(struct idmap *map)
{
    for (size_t i = 0; i < map->n; i++) {
        free(map->entries[i].name);
    }
    free(map->entries);
    map->entries = NULL;
    map->n = 0;
}

/* A user or group name worth keeping: 1..NAME_MAX_LEN bytes, none of them
 * a control character.  (UTF-8 is checked on the way out.) */
static bool
name_is_valid(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c < 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

/* Parses the passwd or group format, "name:password:id:...", skipping
 * comments, NIS "+"/"-" lines and malformed lines. */
static void
idmap_parse(struct idmap *map, const char *data, size_t len)
{
    size_t allocated = 0;
    uint32_t lineno = 0;

    for (const char *line = data; line < data + len; lineno++) {
        const char *end = memchr(line, '\n', data + len - line);
        if (!end) {
            end = data + len;
        }
        const char *next = end < data + len ? end + 1 : end;

        /* Up to four fields: name, password, id, and the rest. */
        const char *field[4];
        size_t field_len[4];
        size_t n_fields = 0;
        const char *p = line;
        while (n_fields < 4) {
            const char *colon = memchr(p, ':', end - p);
            field[n_fields] = p;
            field_len[n_fields] = (colon ? colon : end) - p;
            n_fields++;
            if (!colon) {
                break;
            }
            p = colon + 1;
        }

        uint32_t id;
        if (n_fields >= map->min_fields
            && line[0] != '#' && line[0] != '+' && line[0] != '-'
            && name_is_valid(field[0], field_len[0])
            && parse_u32(field[2], field_len[2], NO_ID - 1, &id)) {
            if (map->n >= allocated) {
                allocated = allocated ? 2 * allocated : 64;
                map->entries = xrealloc(map->entries,
                                        allocated * sizeof *map->entries);
            }
            struct id_name *e = &map->entries[map->n++];
            e->id = id;
            e->line = lineno;
            e->name = xmemdup0(field[0], field_len[0]);
        }
        line = next;
    }

    /* Sort by id, keeping only the first line for each id (as getpwuid()
     * finds it). */
    if (map->n > 1) {
        qsort(map->entries, map->n, sizeof *map->entries, id_name_compare);
        size_t k = 1;
        for (size_t i = 1; i < map->n; i++) {
            if (map->entries[i].id == map->entries[k - 1].id) {
                free(map->entries[i].name);
            } else {
                map->entries[k++] = map->entries[i];
            }
        }
        map->n = k;
    }
}

static void
idmap_init(struct idmap *map, const char *etc_root, const char *name,
           size_t min_fields)
{
    memset(map, 0, sizeof *map);
    map->file.path = xasprintf("%s/%s", etc_root, name);
    map->min_fields = min_fields;
}

static void
idmap_destroy(struct idmap *map)
{
    idmap_clear(map);
    free(map->file.path);
}

static void
idmap_refresh(struct idmap *map)
{
    char *data;
    size_t len;

    if (etc_file_changed(&map->file, ETC_FILE_MAX, &data, &len)) {
        idmap_clear(map);
        if (data) {
            idmap_parse(map, data, len);
        }
        free(data);
    }
}

/* Returns a copy of the name of 'id', or NULL.  Call idmap_refresh()
 * first. */
static char *
idmap_lookup(const struct idmap *map, uint32_t id)
{
    size_t lo = 0, hi = map->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t mid_id = map->entries[mid].id;
        if (mid_id == id) {
            return xstrdup(map->entries[mid].name);
        } else if (mid_id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Returns the token at 'p' (up to 'end') if it is a domain name: 1..253
 * bytes of letters, digits, '-', '_' and '.', one trailing dot dropped. */
static char *
domain_token(const char *p, const char *end)
{
    size_t n = 0;
    while (p + n < end && p[n] != ' ' && p[n] != '\t' && p[n] != '\r') {
        n++;
    }
    if (n > 1 && p[n - 1] == '.') {
        n--;
    }
    if (n == 0 || n > DOMAIN_MAX_LEN || (n == 1 && p[0] == '.')) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'
              || c == '.')) {
            return NULL;
        }
    }
    return xmemdup0(p, n);
}

/* The last valid "domain" of resolv.conf, else the first entry of its last
 * valid "search" line, else NULL. */
static char *
resolv_parse(const char *data, size_t len)
{
    char *domain = NULL, *search = NULL;

    for (const char *line = data; line < data + len;) {
        const char *end = memchr(line, '\n', data + len - line);
        if (!end) {
            end = data + len;
        }
        /* "domain" and "search" are both 6 letters long. */
        bool is_domain = end - line > 6 && !memcmp(line, "domain", 6);
        bool is_search = end - line > 6 && !memcmp(line, "search", 6);
        if ((is_domain || is_search)
            && (line[6] == ' ' || line[6] == '\t')) {
            const char *p = line + 6;
            while (p < end && (*p == ' ' || *p == '\t')) {
                p++;
            }
            char *token = domain_token(p, end);
            if (token) {
                char **slot = is_domain ? &domain : &search;
                free(*slot);
                *slot = token;
            }
        }
        line = end < data + len ? end + 1 : end;
    }
    if (domain) {
        free(search);
        return domain;
    }
    return search;
}

static void
domain_refresh(struct identity_ctx *ctx)
{
    char *data;
    size_t len;

    if (!ctx->domain_fixed
        && etc_file_changed(&ctx->resolv, RESOLV_MAX, &data, &len)) {
        free(ctx->domain);
        ctx->domain = data ? resolv_parse(data, len) : NULL;
        free(data);
    }
}

/* The executable hash cache. */

static struct hash_entry *
hash_entry_from_lru(struct hash_lru *lru)
{
    return (struct hash_entry *) (void *) lru;
}

static uint64_t
hash_mix(uint64_t h, uint64_t v)
{
    h ^= v + UINT64_C(0x9e3779b97f4a7c15) + (h << 6) + (h >> 2);
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    return h ^ (h >> 31);
}

static uint64_t
hash_key(const struct hash_cache *hc, const struct file_key *key)
{
    uint64_t h = hc->seed;
    h = hash_mix(h, key->dev);
    h = hash_mix(h, key->ino);
    h = hash_mix(h, key->size);
    h = hash_mix(h, key->mtime_sec);
    h = hash_mix(h, key->mtime_nsec);
    h = hash_mix(h, key->ctime_sec);
    h = hash_mix(h, key->ctime_nsec);
    return hash_mix(h, key->gen);
}

static void
hash_cache_init(struct hash_cache *hc, size_t max)
{
    size_t n_buckets = HASH_BUCKETS_MIN;
    while (n_buckets < max && n_buckets < HASH_BUCKETS_MAX) {
        n_buckets *= 2;
    }
    memset(hc, 0, sizeof *hc);
    hc->buckets = xcalloc(n_buckets, sizeof *hc->buckets);
    hc->mask = n_buckets - 1;
    hc->max = max;
    hc->lru.prev = hc->lru.next = &hc->lru;
    /* A process can choose its executable's inode, size and times, so
     * the bucket index is keyed. */
    if (getrandom(&hc->seed, sizeof hc->seed, GRND_NONBLOCK)
        != (ssize_t) sizeof hc->seed) {
        hc->seed = (uint64_t) time_mono_ms() ^ (uintptr_t) hc;
    }
}

static void
hash_cache_destroy(struct hash_cache *hc)
{
    struct hash_lru *lru = hc->lru.next;
    while (lru != &hc->lru) {
        struct hash_lru *next = lru->next;
        free(hash_entry_from_lru(lru));
        lru = next;
    }
    free(hc->buckets);
}

static void
lru_unlink(struct hash_lru *lru)
{
    lru->prev->next = lru->next;
    lru->next->prev = lru->prev;
}

static void
lru_push_front(struct hash_cache *hc, struct hash_lru *lru)
{
    lru->prev = &hc->lru;
    lru->next = hc->lru.next;
    hc->lru.next->prev = lru;
    hc->lru.next = lru;
}

static struct hash_entry *
hash_cache_find(struct hash_cache *hc, const struct file_key *key,
                uint64_t hash)
{
    for (struct hash_entry *e = hc->buckets[hash & hc->mask]; e;
         e = e->chain) {
        if (e->hash == hash && file_key_equal(&e->key, key)) {
            return e;
        }
    }
    return NULL;
}

static void
hash_cache_evict_lru(struct hash_cache *hc)
{
    struct hash_entry *victim = hash_entry_from_lru(hc->lru.prev);
    struct hash_entry **pp = &hc->buckets[victim->hash & hc->mask];
    while (*pp != victim) {
        pp = &(*pp)->chain;
    }
    *pp = victim->chain;
    lru_unlink(&victim->lru);
    free(victim);
    hc->n--;
}

static void
hash_cache_insert(struct hash_cache *hc, const struct file_key *key,
                  uint64_t hash, const uint8_t sha256[SHA256_LEN])
{
    if (hc->n >= hc->max) {
        hash_cache_evict_lru(hc);
    }
    struct hash_entry *e = xmalloc(sizeof *e);
    e->key = *key;
    e->hash = hash;
    memcpy(e->sha256, sha256, SHA256_LEN);
    e->chain = hc->buckets[hash & hc->mask];
    hc->buckets[hash & hc->mask] = e;
    lru_push_front(hc, &e->lru);
    hc->n++;
}

/* Stores the SHA-256 of the executable open as 'fd' (with 'st' its fstat()
 * and 'gen' its inode generation, 0 if unknown) in 'sha256', from the cache
 * or by reading it.  Returns 0 or an errno value. */
static int
hash_executable(struct hash_cache *hc, int fd, const struct stat *st,
                uint32_t gen, uint8_t sha256[SHA256_LEN])
{
    struct file_key key;
    file_key_from_stat(&key, st);
    key.gen = gen;
    uint64_t hash = hash_key(hc, &key);

    struct hash_entry *e = hash_cache_find(hc, &key, hash);
    if (e) {
        hc->hits++;
        lru_unlink(&e->lru);
        lru_push_front(hc, &e->lru);
        memcpy(sha256, e->sha256, SHA256_LEN);
        return 0;
    }

    hc->misses++;
    uint64_t size;
    int error = digest_fd(fd, sha256, NULL, &size);
    if (error) {
        return error;
    }
    hc->hashed_bytes += size;

    /* Cache the hash only if the file did not change while it was read. */
    struct stat after;
    struct file_key after_key;
    if (!fstat(fd, &after)) {
        file_key_from_stat(&after_key, &after);
        after_key.gen = gen;
        if (file_key_equal(&key, &after_key) && size == key.size) {
            hash_cache_insert(hc, &key, hash, sha256);
        }
    }
    return 0;
}

/* Reading /proc/PID. */

struct proc_stat {
    int ppid;                   /* -1: unknown. */
    char state;                 /* 0: unknown. */
    unsigned long long flags;
    char *comm;                 /* NULL: unknown. */
};

/* Returns the 'i'th space-separated field of 's' (0-based) and its length
 * in '*lenp', or NULL. */
static const char *
nth_field(const char *s, const char *end, int i, size_t *lenp)
{
    for (;;) {
        while (s < end && (*s == ' ' || *s == '\n')) {
            s++;
        }
        if (s >= end) {
            return NULL;
        }
        const char *f = s;
        while (s < end && *s != ' ' && *s != '\n') {
            s++;
        }
        if (i-- == 0) {
            *lenp = s - f;
            return f;
        }
    }
}

/* Reads /proc/PID/stat: "PID (COMM) STATE PPID PGRP SESSION TTY TPGID
 * FLAGS ...", where COMM is whatever the process named itself, ')' and
 * spaces included: the fields go on after the last ')'.  Returns 0, or an
 * errno value if the file cannot be read (the process is gone). */
static int
proc_read_stat(int pfd, struct proc_stat *ps)
{
    char *data;
    size_t len;
    bool cut;

    ps->ppid = -1;
    ps->state = 0;
    ps->flags = 0;
    ps->comm = NULL;
    int error = read_at(pfd, "stat", PROC_STAT_MAX, &data, &len, &cut);
    if (error) {
        return error;
    }
    if (!len) {
        free(data);
        return ESRCH;
    }

    const char *open = memchr(data, '(', len);
    const char *close = memrchr(data, ')', len);
    if (open && close && open < close) {
        const char *end = data + len;
        size_t n;
        ps->comm = xmemdup0(open + 1, close - open - 1);

        const char *f = nth_field(close + 1, end, 0, &n);
        if (f && n == 1) {
            ps->state = f[0];
        }
        uint32_t value;
        f = nth_field(close + 1, end, 1, &n);
        if (f && parse_u32(f, n, INT32_MAX, &value)) {
            ps->ppid = value;
        }
        f = nth_field(close + 1, end, 6, &n);
        if (f && parse_u32(f, n, UINT32_MAX, &value)) {
            ps->flags = value;
        }
    }
    free(data);
    return 0;
}

/* When the thread group leader has exited (its /proc/PID/exe is gone with
 * its memory) while other threads run on, finds a live thread in
 * /proc/PID/task whose "exe" reads.  Returns its directory's fd, with the
 * link in 'path' (size 'size') and its length in '*np', or -1. */
static int
proc_find_live_thread(int pfd, int pid, char *path, size_t size,
                      ssize_t *np)
{
    int tfd = openat(pfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tfd < 0) {
        return -1;
    }
    DIR *dir = fdopendir(tfd);
    if (!dir) {
        close(tfd);
        return -1;
    }

    int found = -1;
    struct dirent *de;
    for (int tries = 0; tries < PROC_TASKS_MAX && (de = readdir(dir));
         tries++) {
        uint32_t tid;
        if (!parse_u32(de->d_name, strlen(de->d_name), INT32_MAX, &tid)
            || (int) tid == pid) {
            continue;
        }
        int fd = openat(dirfd(dir), de->d_name,
                        O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        ssize_t n = readlinkat(fd, "exe", path, size);
        if (n > 0) {
            *np = n;
            found = fd;
            break;
        }
        close(fd);
    }
    closedir(dir);
    return found;
}

/* True if 'path' (the exe link, 'n' bytes) names a deleted file.  The
 * kernel appends " (deleted)" to an unlinked file's path, but a file can
 * also be named so: it is not deleted if the path, suffix included, leads
 * (in the process's root, "root" under 'dirfd') to the very file 'st'. */
static bool
exe_is_deleted(int dirfd, const char *path, size_t n, const struct stat *st)
{
    if (n < DELETED_LEN
        || memcmp(path + n - DELETED_LEN, DELETED_SUFFIX, DELETED_LEN)) {
        return false;
    }
    if (!st || path[0] != '/') {
        return true;
    }
    char *rel = xasprintf("root%.*s", (int) n, path);
    struct stat named;
    bool same = (!fstatat(dirfd, rel, &named, 0)
                 && named.st_dev == st->st_dev
                 && named.st_ino == st->st_ino);
    free(rel);
    return !same;
}

/* Fills the exe_* members of 'id' from the "exe" link under 'dirfd',
 * which reads as 'path' ('n' bytes). */
static void
proc_read_exe(struct identity_ctx *ctx, int dirfd, const char *path,
              size_t n, struct identity *id)
{
    struct stat st;
    bool have_st = false;

    id->exe_path = xmemdup0(path, n);

    /* The link opens the executable itself, even when it is deleted or a
     * memfd.  O_NONBLOCK: in a fake tree, it could lead to a FIFO. */
    int fd = openat(dirfd, "exe",
                    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd >= 0) {
        if (!fstat(fd, &st) && S_ISREG(st.st_mode)) {
            have_st = true;
            id->have_stat = true;
            id->exe_size = st.st_size;
            id->exe_dev = st.st_dev;
            id->exe_ino = st.st_ino;
            id->exe_ctime_sec = st.st_ctim.tv_sec;
            id->exe_ctime_nsec = st.st_ctim.tv_nsec;
            /* The kernel writes an int, whatever the request's size. */
            long gen = 0;
            id->have_gen = !ioctl(fd, FS_IOC_GETVERSION, &gen);
            id->exe_gen = id->have_gen ? (uint32_t) gen : 0;
            struct statfs sfs;
            id->exe_dev_other = (!fstatfs(fd, &sfs)
                                 && (sfs.f_type == BTRFS_SUPER_MAGIC_
                                     || sfs.f_type
                                        == OVERLAYFS_SUPER_MAGIC_));
            id->have_sha256 = !hash_executable(&ctx->cache, fd, &st,
                                               id->exe_gen, id->sha256);
        }
        close(fd);
    }

    id->exe_deleted = exe_is_deleted(dirfd, path, n, have_st ? &st : NULL);
    size_t len = n - (id->exe_deleted ? DELETED_LEN : 0);
    id->exe_memfd = (id->exe_deleted && len > MEMFD_LEN
                     && !memcmp(path, MEMFD_PREFIX, MEMFD_LEN));
    if (id->exe_memfd) {
        /* The memfd's name may hold '/'. */
        id->exe_name = xmemdup0(path + 1, len - 1);
    } else {
        const char *slash = memrchr(path, '/', len);
        const char *base = slash ? slash + 1 : path;
        id->exe_name = xmemdup0(base, path + len - base);
    }
}

static void
proc_read_cmdline(struct identity_ctx *ctx, int dirfd, struct identity *id)
{
    char *data;
    size_t len;
    bool cut;

    if (read_at(dirfd, "cmdline", ctx->cmdline_max, &data, &len, &cut)) {
        return;
    }
    /* Each argument ends in a NUL; a process that rewrote its argv may
     * leave many. */
    while (len > 0 && data[len - 1] == '\0') {
        len--;
    }
    if (len > 0) {
        id->cmdline = text_clean(data, len, ctx->cmdline_max,
                                 (TEXT_CONTROLS | TEXT_NUL_SPACE
                                  | (cut ? TEXT_CUT : 0)), NULL);
    }
    free(data);
}

/* True if 'controllers' (a comma-separated list, 'n' bytes) has
 * "name=systemd". */
static bool
has_systemd_hierarchy(const char *controllers, size_t n)
{
    static const char name[] = "name=systemd";
    const char *end = controllers + n;
    for (const char *p = controllers; p < end;) {
        const char *comma = memchr(p, ',', end - p);
        const char *next = comma ? comma : end;
        if (next - p == (ptrdiff_t) sizeof name - 1
            && !memcmp(p, name, sizeof name - 1)) {
            return true;
        }
        p = next + 1;
    }
    return false;
}

/* The last component of 'cgroup' ending in ".service" or ".scope". */
static char *
cgroup_unit(const char *cgroup)
{
    static const char *const suffixes[] = { ".service", ".scope" };
    const char *unit = NULL;
    size_t unit_len = 0;

    for (const char *p = cgroup; *p;) {
        size_t n = strcspn(p, "/");
        for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
            size_t sl = strlen(suffixes[i]);
            if (n > sl && !memcmp(p + n - sl, suffixes[i], sl)) {
                unit = p;
                unit_len = n;
            }
        }
        p += n + (p[n] == '/');
    }
    return unit ? xmemdup0(unit, unit_len) : NULL;
}

/* Reads /proc/PID/cgroup: lines "ID:CONTROLLERS:PATH" (PATH may hold
 * ':'). */
static void
proc_read_cgroup(int dirfd, struct identity *id)
{
    char *data;
    size_t len;
    bool cut;

    if (read_at(dirfd, "cgroup", PROC_CGROUP_MAX, &data, &len, &cut)) {
        return;
    }

    const char *v2 = NULL, *v1 = NULL;
    size_t v2_len = 0, v1_len = 0;
    for (const char *line = data; line < data + len;) {
        const char *end = memchr(line, '\n', data + len - line);
        if (!end) {
            if (cut) {
                break;          /* A partial line. */
            }
            end = data + len;
        }
        const char *c1 = memchr(line, ':', end - line);
        const char *c2 = c1 ? memchr(c1 + 1, ':', end - c1 - 1) : NULL;
        if (c2 && end > c2 + 1) {
            const char *path = c2 + 1;
            if (!v2 && c1 - line == 1 && line[0] == '0' && c2 == c1 + 1) {
                v2 = path;
                v2_len = end - path;
            } else if (!v1 && has_systemd_hierarchy(c1 + 1, c2 - c1 - 1)) {
                v1 = path;
                v1_len = end - path;
            }
        }
        line = end + 1;
    }
    if (v2 || v1) {
        id->cgroup = v2 ? xmemdup0(v2, v2_len) : xmemdup0(v1, v1_len);
        /* A NUL inside (only in a fake tree) would hide the rest. */
        id->unit = cgroup_unit(id->cgroup);
    }
    free(data);
}

static void
proc_read_loginuid(int dirfd, struct identity *id)
{
    char *data;
    size_t len;
    bool cut;

    if (read_at(dirfd, "loginuid", PROC_LOGINUID_MAX, &data, &len, &cut)) {
        return;
    }
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' ')) {
        len--;
    }
    uint32_t uid;
    if (!cut && parse_u32(data, len, NO_ID - 1, &uid)) {
        id->have_login = true;
        id->login_uid = uid;
    }
    free(data);
}

/* Fills the process members of 'id' from proc_root/PID. */
static int
proc_read(struct identity_ctx *ctx, int pid, struct identity *id)
{
    char path[PROC_EXE_MAX + 1];
    struct proc_stat ps;
    int src = -1;
    int error;

    if (pid <= 0) {
        return ESRCH;
    }
    char *dir = xasprintf("%s/%d", ctx->proc_root, pid);
    /* Everything below is read through this descriptor: should 'pid' exit
     * and its number be reused meanwhile, reads fail rather than describe
     * another process. */
    int pfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    error = pfd < 0 ? errno : 0;
    free(dir);
    if (pfd < 0) {
        return error == ENOENT || error == ENOTDIR ? ESRCH : error;
    }

    error = proc_read_stat(pfd, &ps);
    if (error) {
        error = ESRCH;
        goto out;
    }
    id->ppid = ps.ppid;
    id->comm = ps.comm;
    if (ps.flags & PF_KTHREAD) {
        id->kernel_thread = true;
        proc_read_cgroup(pfd, id);
        goto out;
    }

    ssize_t n = readlinkat(pfd, "exe", path, sizeof path - 1);
    src = pfd;
    if (n <= 0) {
        error = n < 0 ? errno : ENOENT;
        if (error != ENOENT) {
            goto out;
        }
        src = proc_find_live_thread(pfd, pid, path, sizeof path - 1, &n);
        if (src < 0) {
            error = ESRCH;
            goto out;
        }
        error = 0;
    }
    proc_read_exe(ctx, src, path, n, id);
    proc_read_cmdline(ctx, src, id);
    proc_read_cgroup(src, id);
    proc_read_loginuid(src, id);

out:
    if (src >= 0 && src != pfd) {
        close(src);
    }
    close(pfd);
    return error;
}

/* Public functions. */

struct identity_ctx *
identity_ctx_create(const struct identity_config *cfg)
{
    static const struct identity_config defaults;
    if (!cfg) {
        cfg = &defaults;
    }
    const char *etc_root = cfg->etc_root ? cfg->etc_root : "/etc";

    struct identity_ctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->proc_root = xstrdup(cfg->proc_root ? cfg->proc_root : "/proc");
    ctx->cmdline_max = (!cfg->cmdline_max ? IDENTITY_CMDLINE_DEFAULT
                        : cfg->cmdline_max > IDENTITY_CMDLINE_MAX
                        ? IDENTITY_CMDLINE_MAX
                        : cfg->cmdline_max);
    idmap_init(&ctx->users, etc_root, "passwd", 4);
    idmap_init(&ctx->groups, etc_root, "group", 3);
    ctx->resolv.path = xasprintf("%s/resolv.conf", etc_root);
    if (cfg->domain) {
        ctx->domain_fixed = true;
        ctx->domain = cfg->domain[0] ? xstrdup(cfg->domain) : NULL;
    }
    hash_cache_init(&ctx->cache, (cfg->hash_cache_max
                                  ? cfg->hash_cache_max
                                  : IDENTITY_HASH_CACHE_DEFAULT));
    return ctx;
}

void
identity_ctx_destroy(struct identity_ctx *ctx)
{
    if (!ctx) {
        return;
    }
    free(ctx->proc_root);
    idmap_destroy(&ctx->users);
    idmap_destroy(&ctx->groups);
    free(ctx->resolv.path);
    free(ctx->domain);
    hash_cache_destroy(&ctx->cache);
    free(ctx);
}

int
identity_resolve(struct identity_ctx *ctx, int pid, uint32_t uid,
                 uint32_t gid, struct identity *id)
{
    memset(id, 0, sizeof *id);
    id->pid = pid;
    id->ppid = -1;

    int error = proc_read(ctx, pid, id);
    if (error) {
        identity_destroy(id);
        id->pid = pid;
        id->ppid = -1;
    }

    id->uid = uid;
    id->gid = gid;
    idmap_refresh(&ctx->users);
    idmap_refresh(&ctx->groups);
    domain_refresh(ctx);
    id->user = idmap_lookup(&ctx->users, uid);
    id->group = idmap_lookup(&ctx->groups, gid);
    if (id->have_login) {
        id->login = idmap_lookup(&ctx->users, id->login_uid);
    }
    id->domain = ctx->domain ? xstrdup(ctx->domain) : NULL;
    return error;
}

int
identity_socket_owner(struct identity_ctx *ctx, uint32_t inode)
{
    char target[64];
    snprintf(target, sizeof target, "socket:[%"PRIu32"]", inode);
    DIR *proc = opendir(ctx->proc_root);
    int found = 0;
    struct dirent *de;
    while (proc && !found && (de = readdir(proc))) {
        uint32_t pid;
        if (de->d_name[0] < '1' || de->d_name[0] > '9'
            || !parse_u32(de->d_name, strlen(de->d_name), INT_MAX, &pid)) {
            continue;
        }
        char *fds = xasprintf("%s/%s/fd", ctx->proc_root, de->d_name);
        DIR *d = opendir(fds);
        struct dirent *fe;
        while (d && !found && (fe = readdir(d))) {
            char buf[64];
            ssize_t n = readlinkat(dirfd(d), fe->d_name, buf, sizeof buf - 1);
            if (n > 0) {
                buf[n] = '\0';
                if (!strcmp(buf, target)) {
                    found = pid;
                }
            }
        }
        if (d) {
            closedir(d);
        }
        free(fds);
    }
    if (proc) {
        closedir(proc);
    }
    return found;
}

void
identity_destroy(struct identity *id)
{
    if (!id) {
        return;
    }
    free(id->comm);
    free(id->exe_path);
    free(id->exe_name);
    free(id->cmdline);
    free(id->cgroup);
    free(id->unit);
    free(id->user);
    free(id->group);
    free(id->domain);
    free(id->login);
    memset(id, 0, sizeof *id);
}

/* Adds 's' (unless NULL) to 'obj' as 'key', made valid UTF-8 and cut to
 * 'max' bytes. */
static void
put_string(struct json_object *obj, const char *key, const char *s,
           size_t max)
{
    if (s) {
        size_t len;
        char *clean = text_clean(s, strlen(s), max, 0, &len);
        json_object_object_add(obj, key,
                               json_object_new_string_len(clean, len));
        free(clean);
    }
}

static void
put_int(struct json_object *obj, const char *key, int64_t value)
{
    json_object_object_add(obj, key, json_object_new_int64(value));
}

static void
put_true(struct json_object *obj, const char *key, bool value)
{
    if (value) {
        json_object_object_add(obj, key, json_object_new_boolean(true));
    }
}

void
identity_to_json(const struct identity *id, struct json_object *decide)
{
    if (id->exe_path || id->kernel_thread) {
        struct json_object *app = json_object_new_object();
        if (id->exe_path) {
            put_string(app, "path", id->exe_path, 4096);
            put_string(app, "name", id->exe_name, 255);
        } else {
            char *path = xasprintf("[%s]", id->comm ? id->comm : "?");
            put_string(app, "path", path, 4096);
            put_string(app, "name", id->comm, 255);
            free(path);
        }
        if (id->have_stat) {
            put_int(app, "size", id->exe_size);
        }
        if (id->have_sha256) {
            char hex[SHA256_HEX_LEN + 1];
            digest_to_hex(id->sha256, SHA256_LEN, hex);
            json_object_object_add(app, "sha256",
                                   json_object_new_string(hex));
        }
        put_true(app, "deleted", id->exe_deleted);
        put_true(app, "memfd", id->exe_memfd);
        json_object_object_add(decide, "app", app);
    }

    struct json_object *process = json_object_new_object();
    put_int(process, "pid", id->pid);
    if (id->ppid >= 0) {
        put_int(process, "ppid", id->ppid);
    }
    put_string(process, "cmdline", id->cmdline, 4096);
    put_string(process, "cgroup", id->cgroup, 4096);
    put_string(process, "unit", id->unit, 256);
    json_object_object_add(decide, "process", process);

    struct json_object *user = json_object_new_object();
    put_int(user, "uid", id->uid);
    put_string(user, "name", id->user, 256);
    if (id->gid != NO_ID) {
        put_int(user, "gid", id->gid);
    }
    put_string(user, "group", id->group, 256);
    put_string(user, "domain", id->domain, DOMAIN_MAX_LEN);
    put_string(user, "login", id->login, 256);
    if (id->have_login) {
        put_int(user, "login_uid", id->login_uid);
    }
    json_object_object_add(decide, "user", user);
}

void
identity_get_stats(const struct identity_ctx *ctx,
                   struct identity_stats *stats)
{
    stats->hash_hits = ctx->cache.hits;
    stats->hash_misses = ctx->cache.misses;
    stats->hashed_bytes = ctx->cache.hashed_bytes;
    stats->hash_entries = ctx->cache.n;
}
