/* The policy compiler and decision engine.  See policy.h and
 * docs/policy.md. */
#include "policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/exepath.h"
#include "common/msg.h"
#include "common/schema.h"
#include "common/util.h"

/* The document's schema.  Strict: unknown members are errors. */

static const char *const mode_values[] = { "enforce", "monitor", NULL };
static const char *const action_values[] = { "allow", "deny", NULL };
static const char *const gran_values[] = { "exact", "service", NULL };
static const char *const event_values[] = {
    "connect", "listen", "accept", "send", "close", NULL
};
static const char *const proto_values[] = {
    "tcp", "udp", "icmp", "any", NULL
};
static const char *const dir_values[] = { "outbound", "inbound", NULL };
/* Global and catalogue protocols: ports mean nothing for icmp. */
static const char *const service_proto_values[] = {
    "tcp", "udp", "any", NULL
};
static const char *const service_dir_values[] = {
    "outbound", "inbound", "both", NULL
};
static const char *const trust_values[] = {
    "trusted", "known", "unknown", "untrusted", NULL
};
static const char *const threat_values[] = {
    "none", "low", "medium", "high", "critical", NULL
};
static const char *const day_values[] = {
    "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};
static const char *const quota_action_values[] = { "log", "block", NULL };
static const char *const site_mode_values[] = {
    "allow-all-except", "deny-all-except", NULL
};

#define NAME_MAX_LEN 64
#define LIST(NAME, ELEM) \
    SF_ARRAY(NAME, false, 1, 256, (&(const struct schema_field) ELEM))
#define PORTS \
    SF_ARRAY("ports", true, 1, 256, \
             (&(const struct schema_field) SF_KIND("port", SK_PORTS, true)))

static const struct schema_field group_fields[] = {
    SF_STR("name", true, 1, NAME_MAX_LEN),
    SF_STR("parent", false, 1, NAME_MAX_LEN),
    SF_ENUM("mode", false, mode_values),
    SF_ENUM("unknown_app", false, action_values),
    SF_BOOL("log", false),
    SF_BOOL("notify", false),
    SF_STR("description", false, 0, 256),
    SF_END
};

static const struct schema_field user_group_fields[] = {
    SF_STR("name", true, 1, NAME_MAX_LEN),
    SF_STR("parent", false, 1, NAME_MAX_LEN),
    SF_STR("description", false, 0, 256),
    SF_END
};

static const struct schema_field vm_fields[] = {
    SF_KIND("uuid", SK_UUID, true),
    SF_STR("name", false, 1, 256),
    SF_STR("group", false, 1, NAME_MAX_LEN),
    SF_END
};

static const struct schema_field user_fields[] = {
    SF_STR("name", true, 1, 256),
    LIST("groups", SF_STR("group", true, 1, NAME_MAX_LEN)),
    SF_END
};

static const struct schema_field schedule_fields[] = {
    SF_ARRAY("days", true, 1, 7,
             (&(const struct schema_field) SF_ENUM("day", true,
                                                   day_values))),
    SF_STR("start", true, 5, 5),
    SF_STR("end", true, 5, 5),
    SF_STR("tz", false, 1, 64),
    SF_END
};

static const struct schema_field match_fields[] = {
    LIST("vm_uuid", SF_KIND("uuid", SK_UUID, true)),
    LIST("vm_name", SF_STR("name", true, 1, 256)),
    LIST("vm_group", SF_STR("group", true, 1, NAME_MAX_LEN)),
    LIST("app_name", SF_STR("glob", true, 1, 255)),
    LIST("app_path", SF_STR("glob", true, 1, 4096)),
    LIST("sha256", SF_KIND("sha256", SK_SHA256, true)),
    LIST("product", SF_STR("product", true, 1, 256)),
    LIST("vendor", SF_STR("vendor", true, 1, 256)),
    LIST("version", SF_STR("version", true, 1, 128)),
    LIST("category", SF_STR("category", true, 1, 64)),
    LIST("trust", SF_ENUM("trust", true, trust_values)),
    SF_ENUM("threat_at_least", false, threat_values),
    LIST("user", SF_STR("user", true, 1, 256)),
    LIST("user_group", SF_STR("group", true, 1, NAME_MAX_LEN)),
    LIST("event", SF_ENUM("event", true, event_values)),
    SF_ENUM("protocol", false, proto_values),
    SF_ENUM("direction", false, dir_values),
    LIST("local", SF_KIND("cidr", SK_CIDR, true)),
    LIST("remote", SF_KIND("cidr", SK_CIDR, true)),
    LIST("local_port", SF_KIND("port", SK_PORTS, true)),
    LIST("remote_port", SF_KIND("port", SK_PORTS, true)),
    LIST("app_protocol", SF_STR("name", true, 1, NAME_MAX_LEN)),
    SF_OBJ("schedule", false, schedule_fields),
    SF_END
};

static const struct schema_field rule_fields[] = {
    SF_STR("id", true, 1, NAME_MAX_LEN),
    SF_INT("priority", false, -1000000, 1000000),
    SF_STR("description", false, 0, 256),
    SF_STR("vm_group", false, 1, NAME_MAX_LEN),
    SF_STR("vm", false, 1, 256),
    SF_STR("user_group", false, 1, NAME_MAX_LEN),
    SF_STR("user", false, 1, 256),
    SF_OBJ("match", false, match_fields),
    SF_ENUM("action", true, action_values),
    SF_BOOL("log", false),
    SF_BOOL("notify", false),
    SF_INT("ttl", false, 0, 86400),
    SF_ENUM("granularity", false, gran_values),
    SF_END
};

static const struct schema_field system_fields[] = {
    SF_BOOL("logging", false),
    SF_BOOL("simulate", false),
    SF_BOOL("notify", false),
    SF_BOOL("allow_undefined_protocols", false),
    SF_INT("log_load_interval", false, 1, 3600),
    SF_END
};

static const struct schema_field global_protocol_fields[] = {
    SF_STR("name", true, 1, NAME_MAX_LEN),
    SF_ENUM("protocol", false, service_proto_values),
    PORTS,
    SF_ENUM("direction", false, service_dir_values),
    SF_ENUM("action", true, action_values),
    SF_BOOL("log", false),
    SF_BOOL("notify", false),
    SF_END
};

/* Exactly one subject: compile_quota() checks that, since the schema
 * cannot.  2^53 bytes is the largest count every JSON reader (JavaScript,
 * the console) holds exactly. */
static const struct schema_field quota_fields[] = {
    SF_STR("user", false, 1, 256),
    SF_STR("user_group", false, 1, NAME_MAX_LEN),
    SF_STR("vm", false, 1, 256),
    SF_STR("vm_group", false, 1, NAME_MAX_LEN),
    SF_STR("app", false, 1, 256),
    SF_INT("bytes_per_day", true, 0, INT64_C(1) << 53),
    SF_ENUM("action", false, quota_action_values),
    SF_BOOL("notify", false),
    SF_END
};

/* At most one subject: compile_site_list() checks that.  A site is up to
 * 253 bytes of host name and a trailing dot. */
static const struct schema_field site_list_fields[] = {
    SF_STR("user", false, 1, 256),
    SF_STR("user_group", false, 1, NAME_MAX_LEN),
    SF_STR("vm", false, 1, 256),
    SF_STR("vm_group", false, 1, NAME_MAX_LEN),
    SF_ENUM("mode", true, site_mode_values),
    SF_ARRAY("sites", true, 1, 1000,
             (&(const struct schema_field) SF_STR("site", true, 1, 254))),
    LIST("protocols", SF_STR("name", true, 1, NAME_MAX_LEN)),
    SF_BOOL("log", false),
    SF_BOOL("notify", false),
    SF_STR("description", false, 0, 256),
    SF_END
};

static const struct schema_field protocol_fields[] = {
    SF_STR("name", true, 1, NAME_MAX_LEN),
    SF_ENUM("protocol", false, service_proto_values),
    PORTS,
    SF_STR("description", false, 0, 256),
    SF_END
};

static const struct schema_field policy_fields[] = {
    SF_STR("description", false, 0, 1024),
    SF_INT("default_ttl", false, 0, 86400),
    SF_ENUM("default_granularity", false, gran_values),
    SF_OBJ("system", false, system_fields),
    SF_ARRAY("global_protocols", false, 0, 256,
             (&(const struct schema_field) SF_OBJ("protocol", true,
                                                  global_protocol_fields))),
    SF_ARRAY("protocols", false, 0, 1000,
             (&(const struct schema_field) SF_OBJ("protocol", true,
                                                  protocol_fields))),
    SF_ARRAY("vm_groups", false, 0, 10000,
             (&(const struct schema_field) SF_OBJ("group", true,
                                                  group_fields))),
    SF_ARRAY("user_groups", false, 0, 10000,
             (&(const struct schema_field) SF_OBJ("group", true,
                                                  user_group_fields))),
    SF_ARRAY("vms", false, 0, 100000,
             (&(const struct schema_field) SF_OBJ("vm", true, vm_fields))),
    SF_ARRAY("users", false, 0, 100000,
             (&(const struct schema_field) SF_OBJ("user", true,
                                                  user_fields))),
    SF_ARRAY("rules", false, 0, 1000000,
             (&(const struct schema_field) SF_OBJ("rule", true,
                                                  rule_fields))),
    SF_ARRAY("quotas", false, 0, 10000,
             (&(const struct schema_field) SF_OBJ("quota", true,
                                                  quota_fields))),
    SF_ARRAY("sites", false, 0, 10000,
             (&(const struct schema_field) SF_OBJ("site_list", true,
                                                  site_list_fields))),
    SF_END
};

/* Compiled structures. */

#define ROOT_VM_GROUP "all"
#define ROOT_USER_GROUP "everyone"

enum scope_kind {
    SCOPE_GLOBAL, SCOPE_VM_GROUP, SCOPE_VM, SCOPE_USER_GROUP, SCOPE_USER
};

static const char *const scope_kind_names[] = {
    "the global rules", "vm group", "vm", "user group", "user"
};

struct scope {
    enum scope_kind kind;
    const char *name;           /* Points into the owner's name. */
    uint64_t stamp;             /* == policy->stamp: in this request. */
    int pos;                    /* Position in this request's chain. */
    int best;                   /* Best matching rule this request, or -1. */
};

struct group {
    char *name;
    int parent;                 /* Index, or -1 for the root. */
    int scope;
    int mode;                   /* 0 enforce, 1 monitor; -1 inherit. */
    int unknown_allow;          /* 0 deny, 1 allow; -1 inherit. */
    int log, notify;            /* -1 inherit. */
    int quota;                  /* Index into policy->quotas, or -1. */
    uint64_t stamp;             /* In this request's chain. */
    char *unknown_reason;       /* Default verdicts' reasons. */
    char *nomatch_reason;
};

struct vm_entry {
    char *uuid;                 /* Lowercase. */
    char *name;
    int group;
    int scope;
    int quota;                  /* Index into policy->quotas, or -1. */
};

struct user_entry {
    char *name;
    int *groups;
    size_t n_groups;
    int scope;

    /* Per group: where a walk from it towards the root stops, because an
     * earlier group's walk already passed there (-1: at the root's
     * parent).  So that walking every group visits each ancestor once,
     * without marking the (const) policy. */
    int *walk_end;
};

/* A "quotas" entry with a quota of its own.  Entries of 0 bytes are
 * validated, then dropped: zero means no quota. */
struct quota_entry {
    struct policy_quota pub;    /* What policy_quota_at() returns. */
    char *subject;              /* Backs pub.subject. */
    size_t entry;               /* Index in the document's "quotas". */
    int target;                 /* The group, vm or user index; -1 for a
                                 * vm or user not listed, and for apps. */
};

struct cidr {
    struct policy_addr addr;
    int plen;                   /* Over the 128-bit (mapped) address. */
    bool v4;                    /* Written as IPv4: matches only IPv4. */
};

/* A "sites" entry. */
struct site_list {
    struct policy_site_list pub;    /* What policy_site_list_at() returns. */
    char *subject, *rule, *description;     /* Back 'pub''s. */
    struct policy_site *sites;      /* Backs pub.sites: the texts of
                                     * names point into 'site_names'. */
    char **protocol_names;          /* Backs pub.protocols. */
    struct site_match {
        struct cidr cidr;           /* An address or prefix, if name < 0. */
        int name;                   /* Index into policy->site_names. */
    } *match;                       /* One per site, in the same order. */
    int *protocols;                 /* Indexes into policy->protocols. */
    const char *restricted_by;      /* A group subject's name, or NULL. */
    char *scope;                    /* 'sites of user group "interns"'. */
    char *among;                    /* 'the sites of user group "x"'. */
    char *of;                       /* 'of user group "x"'. */
    int8_t result;                  /* When the last decision examined
                                     * it: -1 not its protocol, 0 denied,
                                     * 1 passed. */
};

struct ports {
    int lo, hi;
};

struct strlist {
    char **v;
    size_t n;
};

struct tzone {
    char *name;
    time_t cached_at;           /* When 'offset' was computed; 0: never. */
    long offset;                /* Seconds east of UTC. */
};

/* Which conditions a rule has (struct rule's 'conds'). */
enum {
    C_SHA256 = 1 << 0, C_APP_NAME = 1 << 1, C_APP_PATH = 1 << 2,
    C_PRODUCT = 1 << 3, C_VENDOR = 1 << 4, C_VERSION = 1 << 5,
    C_CATEGORY = 1 << 6, C_VM_UUID = 1 << 7, C_VM_NAME = 1 << 8,
    C_VM_GROUP = 1 << 9, C_USER = 1 << 10, C_USER_GROUP = 1 << 11,
    C_LOCAL = 1 << 12, C_REMOTE = 1 << 13, C_LPORT = 1 << 14,
    C_RPORT = 1 << 15, C_SCHEDULE = 1 << 16, C_APP_PROTO = 1 << 17,
};

struct rule {
    /* Hot: everything an examination and a verdict read, in the first 64
     * bytes; the rule array is 64-byte aligned, so that is one cache
     * line, and the cold part is read only for conditions that need it. */
    unsigned conds;             /* C_* conditions present. */
    unsigned index_cond;        /* The C_* the index lookup already met. */
    int scope;
    int rank;                   /* Order by (priority desc, id asc). */
    int ttl;                    /* -1: the policy default. */
    uint8_t event_mask;         /* 0: any. */
    uint8_t trust_mask;         /* Bit per enum appid_trust; 0: any. */
    int8_t proto;               /* -1: any. */
    int8_t dir;                 /* -1: any. */
    int8_t threat_min;          /* -1: any. */
    int8_t gran;                /* -1: the policy default. */
    bool allow, log, notify, has_log, has_notify;
    struct ports rport0;        /* rports[0], if any. */
    uint32_t n_rports;
    char *id;
    char *reason;               /* "allowed by rule ... of ...". */

    /* Cold. */
    int priority;
    struct ports *rports;
    char *description;

    struct strlist vm_uuid, vm_name, app_name, app_path, sha256, product,
                   vendor, version, category, users;
    int *vm_groups, *user_groups;
    size_t n_vm_groups, n_user_groups;
    struct cidr *local, *remote;
    size_t n_local, n_remote;
    struct ports *lports;
    size_t n_lports;
    int *app_protos;            /* Indexes into policy->protocols. */
    size_t n_app_protos;
    bool has_schedule;
    unsigned days;              /* Bit per tm_wday. */
    int start_min, end_min;
    int tz;                     /* Index into policy->tzones; -1: UTC. */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct rule, priority) <= 64,
               "struct rule's hot part must fit in one cache line");

/* A string -> rule list hash map, for the rule index and name lookups. */
/* 32 bytes, so two entries share a cache line: keys shorter than
 * SMAP_INLINE live in the entry, values after the first in 'more'. */
#define SMAP_INLINE 16

struct smap_entry {
    union {
        char inline_key[SMAP_INLINE];
        char *heap_key;
    } k;
    uint32_t hash;
    int val0;
    uint32_t n;                 /* Values: val0, then more[slot][0..n-2]. */
    bool used;
    bool heap;                  /* The key is in k.heap_key. */
};

struct smap {
    struct smap_entry *slots;
    int **more;                 /* Per slot: values after the first. */
    size_t mask, n;
};

/* An entry of "global_protocols" or of the "protocols" catalogue: a
 * transport protocol and the service ports it names (see
 * request_service()). */
struct service {
    int8_t proto;               /* -1: tcp or udp. */
    int8_t dir;                 /* -1: both; always -1 in the catalogue. */
    bool allow, log, notify;    /* Global protocols only. */
    struct ports *ports;
    size_t n_ports;
    char *rule;                 /* "global:NAME" or "protocol:NAME". */
    char *reason;
};

struct policy {
    int refcount;
    int default_ttl;
    int default_gran;
    struct policy_system system;

    struct service *globals;    /* "global_protocols", in order. */
    size_t n_globals;
    struct service *protocols;  /* The catalogue, in order. */
    size_t n_protocols;

    struct group *vm_groups, *user_groups;
    size_t n_vm_groups, n_user_groups;
    struct vm_entry *vms;
    size_t n_vms;
    struct user_entry *users;
    size_t n_users;
    struct scope *scopes;
    size_t n_scopes, allocated_scopes;
    struct rule *rules;
    size_t n_rules;
    struct tzone *tzones;
    size_t n_tzones;

    struct quota_entry *quotas; /* In document order, 0 bytes left out. */
    size_t n_quotas;

    struct site_list *site_lists;   /* "sites", in document order. */
    size_t n_site_lists;
    char **site_names;          /* Distinct host names, first seen first. */
    size_t n_site_names;
    int *scope_sites;           /* Per scope: its site list, or -1. */
    struct site_cand {          /* Room for a decision's applicable */
        int list;               /* site lists (see decide_by_sites()). */
        int pos;
    } *site_cands;
    size_t n_site_examined;     /* By the last decision: the first of
                                 * 'site_cands'. */
    bool unlisted_sites;        /* Some site list is for a VM or a user
                                 * not listed (keys "w:", "x:"). */

    struct smap names;          /* "g:", "G:", "u:", "n:", "U:", "r:",
                                 * "P:" (protocols), "S:" (global
                                 * protocols) -> index; quotas: "Q:"
                                 * (users), "W:" (vms not listed: uuid in
                                 * lowercase, or name), "A:" (apps, in
                                 * lowercase) -> index in 'quotas'; sites:
                                 * "h:" (host names) -> index in
                                 * 'site_names', "w:" (vms not listed, as
                                 * "W:"), "x:" (users not listed) -> index
                                 * in 'site_lists'. */
    struct smap index;          /* Rule index (see index_rule()). */
    unsigned index_kinds;       /* Bit per key prefix - 'a' in use. */
    int *wildcard;              /* Rules with no index key. */
    size_t n_wildcard;

    uint64_t stamp;
    size_t examined;
};

/* Arrays of 256 kB or more (the rules and the rule index of a large
 * policy) are aligned for, and advised to use, transparent huge pages: a
 * decision touches a few scattered entries, and with 4 kB pages each would
 * also miss the TLB.  Smaller ones are 64-byte aligned, for struct rule. */
#define HUGE_PAGE (2u << 20)

static void *
big_calloc(size_t n, size_t size)
{
    size_t bytes = n * size;
    if (bytes < HUGE_PAGE / 8) {
        void *p;
        bytes = bytes ? bytes : size;
        if (posix_memalign(&p, 64, bytes)) {
            abort();
        }
        return memset(p, 0, bytes);
    }
    bytes = (bytes + HUGE_PAGE - 1) & ~(size_t) (HUGE_PAGE - 1);
    void *p;
    if (posix_memalign(&p, HUGE_PAGE, bytes)) {
        return xcalloc(n, size);
    }
    madvise(p, bytes, MADV_HUGEPAGE);
    memset(p, 0, bytes);
    return p;
}

/* String map. */

static uint32_t
hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h = (h ^ (unsigned char) *s) * 16777619u;
    }
    return h;
}

static const char *
smap_key(const struct smap_entry *e)
{
    return e->heap ? e->k.heap_key : e->k.inline_key;
}

static struct smap_entry *
smap_find(const struct smap *m, const char *key)
{
    if (!m->slots) {
        return NULL;
    }
    uint32_t h = hash_str(key);
    for (size_t i = h & m->mask; ; i = (i + 1) & m->mask) {
        struct smap_entry *e = &m->slots[i];
        if (!e->used) {
            return NULL;
        }
        if (e->hash == h && !strcmp(smap_key(e), key)) {
            return e;
        }
    }
}

/* Value 'i' (< e->n) of entry 'e'. */
static int
smap_val(const struct smap *m, const struct smap_entry *e, size_t i)
{
    return i ? m->more[e - m->slots][i - 1] : e->val0;
}

static void *big_calloc(size_t n, size_t size);

static void
smap_grow(struct smap *m)
{
    struct smap old = *m;
    size_t n_slots = old.slots ? (old.mask + 1) * 2 : 64;
    m->slots = big_calloc(n_slots, sizeof *m->slots);
    m->more = xcalloc(n_slots, sizeof *m->more);
    m->mask = n_slots - 1;
    m->n = 0;
    for (size_t i = 0; old.slots && i <= old.mask; i++) {
        if (old.slots[i].used) {
            size_t j = old.slots[i].hash & m->mask;
            while (m->slots[j].used) {
                j = (j + 1) & m->mask;
            }
            m->slots[j] = old.slots[i];
            m->more[j] = old.more[i];
            m->n++;
        }
    }
    free(old.slots);
    free(old.more);
}

static void
smap_add(struct smap *m, const char *key, int val)
{
    struct smap_entry *e = smap_find(m, key);
    if (!e) {
        if (!m->slots || (m->n + 1) * 4 > (m->mask + 1) * 3) {
            smap_grow(m);
        }
        size_t i = hash_str(key) & m->mask;
        while (m->slots[i].used) {
            i = (i + 1) & m->mask;
        }
        e = &m->slots[i];
        memset(e, 0, sizeof *e);
        size_t len = strlen(key);
        if (len < SMAP_INLINE) {
            memcpy(e->k.inline_key, key, len + 1);
        } else {
            e->k.heap_key = xstrdup(key);
            e->heap = true;
        }
        e->hash = hash_str(key);
        e->val0 = val;
        e->n = 1;
        e->used = true;
        m->n++;
        return;
    }
    size_t slot = e - m->slots;
    m->more[slot] = xrealloc(m->more[slot], e->n * sizeof **m->more);
    m->more[slot][e->n - 1] = val;
    e->n++;
}

static void
smap_destroy(struct smap *m)
{
    for (size_t i = 0; m->slots && i <= m->mask; i++) {
        if (m->slots[i].heap) {
            free(m->slots[i].k.heap_key);
        }
        free(m->more[i]);
    }
    free(m->slots);
    free(m->more);
}

/* Returns the first value for "PREFIX:NAME", or -1. */
static int
name_lookup(const struct policy *p, char prefix, const char *name)
{
    char key[300];
    size_t n = strlen(name);
    if (n > sizeof key - 3) {
        return -1;
    }
    key[0] = prefix;
    key[1] = ':';
    memcpy(key + 2, name, n + 1);
    const struct smap_entry *e = smap_find(&p->names, key);
    return e ? e->val0 : -1;
}

static void
name_add(struct policy *p, char prefix, const char *name, int val)
{
    char key[300];
    snprintf(key, sizeof key, "%c:%s", prefix, name);
    smap_add(&p->names, key, val);
}

/* Names and addresses. */

static bool
name_from(const char *const *names, const char *name, int *out)
{
    for (int i = 0; names[i]; i++) {
        if (!strcmp(names[i], name)) {
            *out = i;
            return true;
        }
    }
    return false;
}

bool
policy_event_from_name(const char *name, enum policy_event *e)
{
    int i;
    return name_from(event_values, name, &i) ? (*e = i, true) : false;
}

bool
policy_proto_from_name(const char *name, enum policy_proto *pr)
{
    int i;
    return name_from(proto_values, name, &i) && i < 3
           ? (*pr = i, true) : false;
}

bool
policy_dir_from_name(const char *name, enum policy_dir *d)
{
    int i;
    return name_from(dir_values, name, &i) ? (*d = i, true) : false;
}

bool
policy_addr_parse(const char *s, struct policy_addr *a)
{
    struct in_addr v4;
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, s, &v4) == 1) {
        a->b[10] = a->b[11] = 0xff;
        memcpy(&a->b[12], &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, s, a->b) == 1;
}

static void
cidr_parse(const char *s, struct cidr *c)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t) (slash - s) : strlen(s);
    snprintf(addr, sizeof addr, "%.*s", (int) n, s);
    policy_addr_parse(addr, &c->addr);
    bool v4 = !strchr(addr, ':');
    int max = v4 ? 32 : 128;
    int plen = slash ? atoi(slash + 1) : max;
    c->plen = v4 ? plen + 96 : plen;
    c->v4 = v4;
}

static bool
addr_is_v4(const struct policy_addr *a)
{
    static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
    return !memcmp(a->b, mapped, sizeof mapped);
}

/* An IPv4 address never matches an IPv6 prefix (not even ::/0 or
 * ::ffff:0:0/96), nor an IPv6 address an IPv4 prefix. */
static bool
cidr_contains(const struct cidr *c, const struct policy_addr *a)
{
    if (c->v4 != addr_is_v4(a)) {
        return false;
    }
    int full = c->plen / 8, rest = c->plen % 8;
    if (memcmp(c->addr.b, a->b, full)) {
        return false;
    }
    if (rest) {
        uint8_t mask = (uint8_t) (0xff << (8 - rest));
        return (c->addr.b[full] & mask) == (a->b[full] & mask);
    }
    return true;
}

/* Time zones: the offset is recomputed at most once a minute, so daylight
 * saving changes apply within a minute. */

static bool
tz_valid(const char *name)
{
    if (!strcmp(name, "UTC")) {
        return true;
    }
    if (!isalpha((unsigned char) name[0]) || strstr(name, "..")) {
        return false;
    }
    for (const char *c = name; *c; c++) {
        if (!isalnum((unsigned char) *c) && !strchr("/_-+", *c)) {
            return false;
        }
    }
    char *path = xasprintf("/usr/share/zoneinfo/%s", name);
    struct stat st;
    bool ok = !stat(path, &st) && S_ISREG(st.st_mode);
    free(path);
    return ok;
}

static long
tz_offset(struct tzone *tz, time_t now)
{
    if (tz->cached_at && now >= tz->cached_at && now - tz->cached_at < 60) {
        return tz->offset;
    }
    const char *old = getenv("TZ");
    char *saved = old ? xstrdup(old) : NULL;
    char *spec = xasprintf(":%s", tz->name);
    setenv("TZ", spec, 1);
    tzset();
    struct tm tm;
    localtime_r(&now, &tm);
    tz->offset = tm.tm_gmtoff;
    tz->cached_at = now;
    if (saved) {
        setenv("TZ", saved, 1);
    } else {
        unsetenv("TZ");
    }
    tzset();
    free(saved);
    free(spec);
    return tz->offset;
}

static bool
schedule_active(struct policy *p, const struct rule *r, time_t now)
{
    long offset = r->tz >= 0 ? tz_offset(&p->tzones[r->tz], now) : 0;
    time_t local = now + offset;
    struct tm tm;
    gmtime_r(&local, &tm);
    int minute = tm.tm_hour * 60 + tm.tm_min;
    if (!(r->days & (1u << tm.tm_wday))) {
        return false;
    }
    return r->start_min <= r->end_min
           ? minute >= r->start_min && minute < r->end_min
           /* Wraps past midnight: from start on the listed day to end. */
           : minute >= r->start_min || minute < r->end_min;
}

/* Compilation. */

struct compile {
    struct policy *p;
    const struct json_object *doc;
};

static int
add_scope(struct policy *p, enum scope_kind kind, const char *name)
{
    if (p->n_scopes >= p->allocated_scopes) {
        p->allocated_scopes = p->allocated_scopes ? 2 * p->allocated_scopes
                                                  : 64;
        p->scopes = xrealloc(p->scopes,
                             p->allocated_scopes * sizeof *p->scopes);
    }
    p->scopes[p->n_scopes] = (struct scope) {
        .kind = kind, .name = name, .best = -1,
    };
    return (int) p->n_scopes++;
}

static int
tristate(const struct json_object *obj, const char *key)
{
    struct json_object *v = msg_get(obj, key);
    return v ? json_object_get_boolean(v) : -1;
}

/* Builds one group tree ('vm' or user) from the array at 'key'. */
static char *
compile_groups(struct policy *p, const struct json_object *doc, bool vm)
{
    const char *key = vm ? "vm_groups" : "user_groups";
    const char *root = vm ? ROOT_VM_GROUP : ROOT_USER_GROUP;
    char prefix = vm ? 'g' : 'G';
    struct json_object *list = msg_get(doc, key);
    size_t n = list ? json_object_array_length(list) : 0;

    struct group *groups = xcalloc(n + 1, sizeof *groups);
    groups[0] = (struct group) {
        .name = xstrdup(root), .parent = -1, .mode = 0, .unknown_allow = 0,
        .log = 1, .notify = 0, .quota = -1,
    };
    name_add(p, prefix, root, 0);
    size_t count = 1;
    char *error = NULL;

    for (size_t i = 0; i < n; i++) {
        struct json_object *g = json_object_array_get_idx(list, i);
        const char *name = msg_get_string(g, "name", "");
        if (!strcmp(name, root)) {
            /* Settings for the root itself. */
            struct group *r = &groups[0];
            const char *mode = msg_get_string(g, "mode", NULL);
            const char *unk = msg_get_string(g, "unknown_app", NULL);
            if (msg_get(g, "parent")) {
                error = xasprintf("%s[%zu].parent: the root group \"%s\" has "
                                  "no parent", key, i, root);
                goto fail;
            }
            r->mode = mode ? !strcmp(mode, "monitor") : r->mode;
            r->unknown_allow = unk ? !strcmp(unk, "allow") : r->unknown_allow;
            r->log = tristate(g, "log") >= 0 ? tristate(g, "log") : r->log;
            r->notify = tristate(g, "notify") >= 0 ? tristate(g, "notify")
                                                    : r->notify;
            continue;
        }
        if (name_lookup(p, prefix, name) >= 0) {
            error = xasprintf("%s[%zu].name: \"%s\" is defined twice", key,
                              i, name);
            goto fail;
        }
        const char *mode = msg_get_string(g, "mode", NULL);
        const char *unk = msg_get_string(g, "unknown_app", NULL);
        groups[count] = (struct group) {
            .name = xstrdup(name), .parent = -2,
            .mode = mode ? !strcmp(mode, "monitor") : -1,
            .unknown_allow = unk ? !strcmp(unk, "allow") : -1,
            .log = tristate(g, "log"), .notify = tristate(g, "notify"),
            .quota = -1,
        };
        name_add(p, prefix, name, (int) count);
        count++;
    }

    /* Parents, after every name is known; then refuse cycles. */
    for (size_t i = 0, gi = 1; i < n; i++) {
        struct json_object *g = json_object_array_get_idx(list, i);
        if (!strcmp(msg_get_string(g, "name", ""), root)) {
            continue;
        }
        const char *parent = msg_get_string(g, "parent", root);
        int pi = name_lookup(p, prefix, parent);
        if (pi < 0) {
            error = xasprintf("%s[%zu].parent: no %s group \"%s\"", key, i,
                              vm ? "vm" : "user", parent);
            goto fail;
        }
        groups[gi++].parent = pi;
    }
    for (size_t i = 1; i < count; i++) {
        size_t steps = 0;
        for (int g = (int) i; g >= 0; g = groups[g].parent) {
            if (++steps > count) {
                error = xasprintf("%s: group \"%s\" is its own ancestor", key,
                                  groups[i].name);
                goto fail;
            }
        }
    }

    /* Resolve inherited settings, parents first (walk up per group). */
    for (size_t i = 1; i < count; i++) {
        struct group *g = &groups[i];
        for (int a = g->parent; a >= 0; a = groups[a].parent) {
            if (g->mode < 0) {
                g->mode = groups[a].mode;
            }
            if (g->unknown_allow < 0) {
                g->unknown_allow = groups[a].unknown_allow;
            }
            if (g->log < 0) {
                g->log = groups[a].log;
            }
            if (g->notify < 0) {
                g->notify = groups[a].notify;
            }
        }
    }
    for (size_t i = 0; i < count; i++) {
        groups[i].scope = add_scope(p, vm ? SCOPE_VM_GROUP : SCOPE_USER_GROUP,
                                    groups[i].name);
    }
    if (vm) {
        p->vm_groups = groups;
        p->n_vm_groups = count;
    } else {
        p->user_groups = groups;
        p->n_user_groups = count;
    }
    return NULL;

fail:
    for (size_t i = 0; i < count; i++) {
        free(groups[i].name);
    }
    free(groups);
    return error;
}

/* Sets each user's 'walk_end's: walking from each of the user's groups
 * towards the root, stop where an earlier group's walk passed.  Linear in
 * the users' chain depths. */
static void
plan_user_walks(struct policy *p)
{
    const struct group *ug = p->user_groups;
    size_t *walked_by = xcalloc(p->n_user_groups, sizeof *walked_by);
    for (size_t ui = 0; ui < p->n_users; ui++) {
        struct user_entry *u = &p->users[ui];
        u->walk_end = xcalloc(u->n_groups ? u->n_groups : 1,
                              sizeof *u->walk_end);
        for (size_t i = 0; i < u->n_groups; i++) {
            int g = u->groups[i];
            for (; g >= 0 && walked_by[g] != ui + 1; g = ug[g].parent) {
                walked_by[g] = ui + 1;
            }
            u->walk_end[i] = g;
        }
    }
    free(walked_by);
}

static char *
compile_members(struct policy *p, const struct json_object *doc)
{
    struct json_object *list = msg_get(doc, "vms");
    size_t n = list ? json_object_array_length(list) : 0;
    p->vms = xcalloc(n ? n : 1, sizeof *p->vms);
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(list, i);
        char *uuid = xstrdup(msg_get_string(v, "uuid", ""));
        for (char *c = uuid; *c; c++) {
            *c = tolower((unsigned char) *c);
        }
        if (name_lookup(p, 'u', uuid) >= 0) {
            char *error = xasprintf("vms[%zu].uuid: %s is listed twice", i,
                                    uuid);
            free(uuid);
            return error;
        }
        const char *group = msg_get_string(v, "group", ROOT_VM_GROUP);
        int g = name_lookup(p, 'g', group);
        if (g < 0) {
            free(uuid);
            return xasprintf("vms[%zu].group: no vm group \"%s\"", i, group);
        }
        struct vm_entry *e = &p->vms[p->n_vms];
        e->uuid = uuid;
        e->name = xstrdup(msg_get_string(v, "name", ""));
        e->group = g;
        e->scope = add_scope(p, SCOPE_VM, *e->name ? e->name : e->uuid);
        e->quota = -1;
        name_add(p, 'u', uuid, (int) p->n_vms);
        if (*e->name) {
            name_add(p, 'n', e->name, (int) p->n_vms);
        }
        p->n_vms++;
    }

    list = msg_get(doc, "users");
    n = list ? json_object_array_length(list) : 0;
    p->users = xcalloc(n ? n : 1, sizeof *p->users);
    for (size_t i = 0; i < n; i++) {
        struct json_object *u = json_object_array_get_idx(list, i);
        const char *name = msg_get_string(u, "name", "");
        if (name_lookup(p, 'U', name) >= 0) {
            return xasprintf("users[%zu].name: \"%s\" is listed twice", i,
                             name);
        }
        struct user_entry *e = &p->users[p->n_users];
        e->name = xstrdup(name);
        e->scope = add_scope(p, SCOPE_USER, e->name);
        name_add(p, 'U', name, (int) p->n_users);
        p->n_users++;

        struct json_object *groups = msg_get(u, "groups");
        size_t ng = groups ? json_object_array_length(groups) : 0;
        e->groups = xcalloc(ng ? ng : 1, sizeof *e->groups);
        for (size_t j = 0; j < ng; j++) {
            const char *gname = json_object_get_string(
                json_object_array_get_idx(groups, j));
            int g = name_lookup(p, 'G', gname);
            if (g < 0) {
                return xasprintf("users[%zu].groups[%zu]: no user group "
                                 "\"%s\"", i, j, gname);
            }
            e->groups[e->n_groups++] = g;
        }
    }
    plan_user_walks(p);
    return NULL;
}

/* Subjects: whom an entry of "quotas" or "sites" is for. */

static const char *const subject_kind_names[] = {
    "user", "user_group", "vm", "vm_group", "app",
};

/* How messages name a subject of each kind. */
static const char *const subject_kind_descs[] = {
    "user", "user group", "vm", "vm group", "app",
};

_Static_assert(ARRAY_SIZE(subject_kind_names) == POLICY_QUOTA_APP + 1,
               "one name per enum policy_quota_kind");

static void
str_lower(char *s)
{
    for (; *s; s++) {
        *s = tolower((unsigned char) *s);
    }
}

/* name_lookup() of 'name' in lowercase. */
static int
name_lookup_lower(const struct policy *p, char prefix, const char *name)
{
    char lower[300];
    size_t n = strlen(name);
    if (n >= sizeof lower) {
        return -1;
    }
    memcpy(lower, name, n + 1);
    str_lower(lower);
    return name_lookup(p, prefix, lower);
}

/* Whether 's' has the shape of a UUID, 8-4-4-4-12 hex digits in either
 * case.  Stops at the first character that does not fit, so it never
 * reads past the end of a shorter string. */
static bool
uuid_shaped(const char *s)
{
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char) s[i])) {
            return false;
        }
    }
    return s[36] == '\0';
}

/* The subject of an entry of "quotas" or "sites". */
struct subject {
    int kind;                   /* Index in subject_kind_names; -1: none. */
    const char *name;           /* As written (in the document); NULL:
                                 * none. */
    int target;                 /* The group, vm or user index; -1 for a
                                 * vm or user not listed, for apps and for
                                 * none. */
    char key[300];              /* The same whatever the spelling: "Q:"
                                 * user, "G:" or "g:" group, "u:" a listed
                                 * vm's uuid, "W:" another vm (uuid in
                                 * lowercase, or name), "A:" app in
                                 * lowercase, "-:" none. */
};

/* Parses the subject of entry 'i' of the document's array 'list', 'j': the
 * one member it has among the first 'n_kinds' of subject_kind_names, or
 * none if not 'required'.  A group must be defined; a user or a VM need
 * not be listed.  'seen' holds one key per subject of 'list' parsed so far,
 * so that no subject has two entries ('what' names an entry: "quota"): two
 * spellings of a listed VM (uuid and name) are one subject, uuids and app
 * names compare ignoring case (an app quota may name a product, which
 * compares so). */
static char *
parse_subject(const struct policy *p, const struct json_object *j,
              const char *list, size_t i, size_t n_kinds, bool required,
              const char *what, struct smap *seen, struct subject *s)
{
    *s = (struct subject) { .kind = -1, .target = -1 };
    bool two = false;
    for (size_t k = 0; k < n_kinds && !two; k++) {
        const char *name = msg_get_string(j, subject_kind_names[k], NULL);
        two = name && s->name;
        if (name) {
            s->kind = (int) k;
            s->name = name;
        }
    }
    if (two || (required && !s->name)) {
        char kinds[80] = "";
        for (size_t k = 0; k < n_kinds; k++) {
            size_t len = strlen(kinds);
            snprintf(kinds + len, sizeof kinds - len, "%s%s", k ? ", " : "",
                     subject_kind_names[k]);
        }
        return xasprintf("%s[%zu]: give %s one of %s", list, i,
                         required ? "exactly" : "at most", kinds);
    }

    /* The subject's key, the same whatever its spelling. */
    const char *subject = s->name;
    switch (s->kind) {
    case -1:
        snprintf(s->key, sizeof s->key, "-:");
        break;

    case POLICY_QUOTA_USER:
        s->target = name_lookup(p, 'U', subject);
        snprintf(s->key, sizeof s->key, "Q:%s", subject);
        break;

    case POLICY_QUOTA_USER_GROUP:
    case POLICY_QUOTA_VM_GROUP: {
        bool vm = s->kind == POLICY_QUOTA_VM_GROUP;
        s->target = name_lookup(p, vm ? 'g' : 'G', subject);
        if (s->target < 0) {
            return xasprintf("%s[%zu].%s: \"%s\" is not defined in %s",
                             list, i, subject_kind_names[s->kind], subject,
                             vm ? "vm_groups" : "user_groups");
        }
        snprintf(s->key, sizeof s->key, "%c:%s", vm ? 'g' : 'G', subject);
        break;
    }

    case POLICY_QUOTA_VM:
        /* A VM may be named by uuid or by name, listed or not. */
        s->target = name_lookup_lower(p, 'u', subject);
        if (s->target < 0) {
            s->target = name_lookup(p, 'n', subject);
        }
        if (s->target >= 0) {
            snprintf(s->key, sizeof s->key, "u:%s", p->vms[s->target].uuid);
        } else {
            snprintf(s->key, sizeof s->key, "W:%s", subject);
            if (uuid_shaped(subject)) {
                str_lower(s->key + 2);
            }
        }
        break;

    case POLICY_QUOTA_APP:
        snprintf(s->key, sizeof s->key, "A:%s", subject);
        str_lower(s->key + 2);
        break;

    default:
        abort();
    }
    if (smap_find(seen, s->key)) {
        return s->name
               ? xasprintf("%s[%zu]: a second %s for %s \"%s\"", list, i,
                           what, subject_kind_descs[s->kind], subject)
               : xasprintf("%s[%zu]: a second %s without a subject", list,
                           i, what);
    }
    smap_add(seen, s->key, (int) i);
    return NULL;
}

/* Quotas. */

/* Compiles quotas[i], 'j'.  'seen': see parse_subject(). */
static char *
compile_quota(struct policy *p, const struct json_object *j, size_t i,
              struct smap *seen)
{
    struct subject s;
    char *error = parse_subject(p, j, "quotas", i,
                                ARRAY_SIZE(subject_kind_names), true,
                                "quota", seen, &s);
    if (error) {
        return error;
    }
    int kind = s.kind, target = s.target;
    const char *subject = s.name, *key = s.key;

    int64_t bytes = msg_get_int(j, "bytes_per_day", 0);
    if (!bytes) {
        return NULL;
    }
    int qi = (int) p->n_quotas++;
    struct quota_entry *q = &p->quotas[qi];
    q->subject = xstrdup(subject);
    q->pub = (struct policy_quota) {
        .kind = kind, .subject = q->subject, .bytes_per_day = bytes,
        .block = !strcmp(msg_get_string(j, "action", "log"), "block"),
        .notify = msg_get_bool(j, "notify", false),
    };
    q->entry = i;
    q->target = target;

    /* Where policy_quotas_for() finds it. */
    switch (q->pub.kind) {
    case POLICY_QUOTA_USER:
    case POLICY_QUOTA_APP:
        name_add(p, key[0], key + 2, qi);
        break;
    case POLICY_QUOTA_USER_GROUP:
        p->user_groups[target].quota = qi;
        break;
    case POLICY_QUOTA_VM_GROUP:
        p->vm_groups[target].quota = qi;
        break;
    case POLICY_QUOTA_VM:
        if (target >= 0) {
            p->vms[target].quota = qi;
        } else {
            name_add(p, 'W', key + 2, qi);
        }
        break;
    default:
        abort();
    }
    return NULL;
}

/* The first quota from group 'g' up to the root, or -1: zero means no
 * quota, so a group without one leaves its members to its ancestors'. */
static int
nearest_quota(const struct group *groups, int g)
{
    for (; g >= 0; g = groups[g].parent) {
        if (groups[g].quota >= 0) {
            return groups[g].quota;
        }
    }
    return -1;
}

/* Refuses 'q' if it exceeds quota 'limit' (-1: none) of its 'relation'
 * ("parent group", "group"). */
static char *
check_limit(const struct policy *p, const struct quota_entry *q, int limit,
            const char *relation)
{
    const struct policy_quota *a = &q->pub;
    const struct policy_quota *b = limit >= 0 ? &p->quotas[limit].pub : NULL;
    if (!b || a->bytes_per_day <= b->bytes_per_day) {
        return NULL;
    }
    return xasprintf("quotas[%zu]: %lld bytes per day for %s \"%s\" exceeds "
                     "the %lld of its %s \"%s\"", q->entry,
                     (long long) a->bytes_per_day, subject_kind_descs[a->kind],
                     a->subject, (long long) b->bytes_per_day, relation,
                     b->subject);
}

/* The founding design's rule: "A child's quota may not exceed a non-zero
 * parent quota (zero means no quota)".  A group's quota is held to its
 * nearest ancestor's, a user's to the effective quota of each of its
 * groups (the root's for a user in none or not listed), a VM's to its
 * group's.  Holding each to its nearest one is enough: the chain above
 * is checked the same way. */
static char *
check_quota(const struct policy *p, const struct quota_entry *q)
{
    const struct group *ug = p->user_groups, *vg = p->vm_groups;
    switch (q->pub.kind) {
    case POLICY_QUOTA_USER_GROUP:
    case POLICY_QUOTA_VM_GROUP: {
        const struct group *groups = q->pub.kind == POLICY_QUOTA_VM_GROUP
                                     ? vg : ug;
        int parent = groups[q->target].parent;
        int limit = nearest_quota(groups, parent);
        return check_limit(p, q, limit,
                           limit >= 0 && p->quotas[limit].target == parent
                           ? "parent group" : "ancestor group");
    }

    case POLICY_QUOTA_USER: {
        const struct user_entry *u = q->target >= 0 ? &p->users[q->target]
                                                    : NULL;
        if (!u || !u->n_groups) {
            return check_limit(p, q, nearest_quota(ug, 0), "group");
        }
        for (size_t i = 0; i < u->n_groups; i++) {
            char *error = check_limit(p, q, nearest_quota(ug, u->groups[i]),
                                      "group");
            if (error) {
                return error;
            }
        }
        return NULL;
    }

    case POLICY_QUOTA_VM:
        return check_limit(p, q, nearest_quota(vg, q->target >= 0
                                                   ? p->vms[q->target].group
                                                   : 0), "group");

    case POLICY_QUOTA_APP:
        return NULL;            /* No hierarchy. */

    default:
        abort();
    }
}

static char *
compile_quotas(struct policy *p, const struct json_object *doc)
{
    struct json_object *list = msg_get(doc, "quotas");
    size_t n = list ? json_object_array_length(list) : 0;
    p->quotas = xcalloc(n ? n : 1, sizeof *p->quotas);

    struct smap seen = { .slots = NULL };
    char *error = NULL;
    for (size_t i = 0; i < n && !error; i++) {
        error = compile_quota(p, json_object_array_get_idx(list, i), i,
                              &seen);
    }
    smap_destroy(&seen);

    /* Parents may come after their children: check once all are known,
     * in document order. */
    for (size_t i = 0; i < p->n_quotas && !error; i++) {
        error = check_quota(p, &p->quotas[i]);
    }
    return error;
}

/* Sites. */

_Static_assert((int) POLICY_SITE_USER == POLICY_QUOTA_USER
               && (int) POLICY_SITE_USER_GROUP == POLICY_QUOTA_USER_GROUP
               && (int) POLICY_SITE_VM == POLICY_QUOTA_VM
               && (int) POLICY_SITE_VM_GROUP == POLICY_QUOTA_VM_GROUP,
               "a site list's subject kinds are the quotas' first four");

/* Whether 's' is a host name: labels of letters, digits and hyphens, 1..63
 * bytes, neither starting nor ending with a hyphen, separated by dots, 253
 * bytes at most once an optional trailing dot is removed.  The last label
 * may not be all digits: "10.0.0.300" is a mistyped address, and a
 * resolver would read "10.1" as the address 10.0.0.1.  Stores the name in
 * lowercase without the trailing dot in 'out'. */
static bool
host_name_parse(const char *s, char out[254])
{
    size_t n = strlen(s);
    if (n && s[n - 1] == '.') {
        n--;
    }
    if (!n || n > 253) {
        return false;
    }
    size_t label = 0;
    bool digits = true;
    for (size_t k = 0; k < n; k++) {
        unsigned char ch = s[k];
        if (ch == '.') {
            if (!label || s[k - 1] == '-') {
                return false;
            }
            label = 0;
            digits = true;
        } else if (isalnum(ch) || ch == '-') {
            if ((ch == '-' && !label) || ++label > 63) {
                return false;
            }
            digits = digits && isdigit(ch);
        } else {
            return false;
        }
        out[k] = (char) tolower(ch);
    }
    out[n] = '\0';
    return label && s[n - 1] != '-' && !digits;
}

/* The index of host name 'name' in 'site_names', added if new. */
static int
site_name_add(struct policy *p, const char *name)
{
    int k = name_lookup(p, 'h', name);
    if (k < 0) {
        p->site_names = xrealloc(p->site_names, (p->n_site_names + 1)
                                                * sizeof *p->site_names);
        p->site_names[p->n_site_names] = xstrdup(name);
        k = (int) p->n_site_names++;
        name_add(p, 'h', name, k);
    }
    return k;
}

/* Compiles sites[i], 'j'.  'seen': see parse_subject(). */
static char *
compile_site_list(struct policy *p, const struct json_object *j, size_t i,
                  struct smap *seen)
{
    struct subject s;
    char *error = parse_subject(p, j, "sites", i, POLICY_SITE_VM_GROUP + 1,
                                false, "site list", seen, &s);
    if (error) {
        return error;
    }
    int li = (int) p->n_site_lists++;
    struct site_list *l = &p->site_lists[li];
    enum policy_site_kind kind = s.name ? (enum policy_site_kind) s.kind
                                        : POLICY_SITE_GLOBAL;
    l->subject = xstrdup(s.name ? s.name : "");
    l->description = xstrdup(msg_get_string(j, "description", ""));
    if (s.name) {
        l->rule = xasprintf("site:%s:%s", subject_kind_names[kind],
                            s.name);
        l->scope = xasprintf("sites of %s \"%s\"", subject_kind_descs[kind],
                             s.name);
        l->among = xasprintf("the %s", l->scope);
        l->of = xasprintf("of %s \"%s\"", subject_kind_descs[kind],
                          s.name);
    } else {
        l->rule = xstrdup("site:global");
        l->scope = xstrdup("the global sites");
        l->among = xstrdup(l->scope);
        l->of = xstrdup("of the global sites");
    }

    /* The sites: addresses and prefixes first, as match.remote has
     * them, else host names. */
    struct json_object *a = msg_get(j, "sites");
    size_t n = json_object_array_length(a);
    l->sites = xcalloc(n, sizeof *l->sites);
    l->match = xcalloc(n, sizeof *l->match);
    for (size_t k = 0; k < n; k++) {
        const char *text = json_object_get_string(
            json_object_array_get_idx(a, k));
        char name[254];
        l->match[k].name = -1;
        if (schema_is_cidr(text)) {
            cidr_parse(text, &l->match[k].cidr);
            l->sites[k].text = xstrdup(text);
        } else if (host_name_parse(text, name)) {
            l->match[k].name = site_name_add(p, name);
            l->sites[k].text = p->site_names[l->match[k].name];
            l->sites[k].is_name = true;
        } else {
            l->pub.n_sites = k;
            return xasprintf("sites[%zu].sites[%zu]: \"%.64s\" is neither a "
                             "host name nor an address or prefix", i, k,
                             text);
        }
    }
    l->pub.n_sites = n;

    a = msg_get(j, "protocols");
    n = a ? json_object_array_length(a) : 0;
    l->protocols = xcalloc(n ? n : 1, sizeof *l->protocols);
    l->protocol_names = xcalloc(n ? n : 1, sizeof *l->protocol_names);
    for (size_t k = 0; k < n; k++) {
        const char *name = json_object_get_string(
            json_object_array_get_idx(a, k));
        l->protocols[k] = name_lookup(p, 'P', name);
        if (l->protocols[k] < 0) {
            return xasprintf("sites[%zu].protocols[%zu]: \"%s\" is not in "
                             "protocols", i, k, name);
        }
        l->protocol_names[l->pub.n_protocols++] = xstrdup(name);
    }

    l->pub.kind = kind;
    l->pub.subject = l->subject;
    l->pub.mode = strcmp(msg_get_string(j, "mode", ""), "allow-all-except")
                  ? POLICY_SITES_DENY_ALL_EXCEPT
                  : POLICY_SITES_ALLOW_ALL_EXCEPT;
    l->pub.sites = l->sites;
    l->pub.protocols = (const char *const *) l->protocol_names;
    l->pub.has_log = msg_get(j, "log") != NULL;
    l->pub.log = msg_get_bool(j, "log", false);
    l->pub.has_notify = msg_get(j, "notify") != NULL;
    l->pub.notify = msg_get_bool(j, "notify", false);
    l->pub.rule = l->rule;
    l->pub.description = l->description;

    /* Where decide_by_sites() finds it: the subject's scope, or for a VM
     * or a user not listed, its key. */
    int scope = -1;
    switch (kind) {
    case POLICY_SITE_USER:
        scope = s.target >= 0 ? p->users[s.target].scope : -1;
        break;
    case POLICY_SITE_USER_GROUP:
        scope = p->user_groups[s.target].scope;
        l->restricted_by = p->user_groups[s.target].name;
        break;
    case POLICY_SITE_VM:
        scope = s.target >= 0 ? p->vms[s.target].scope : -1;
        break;
    case POLICY_SITE_VM_GROUP:
        scope = p->vm_groups[s.target].scope;
        l->restricted_by = p->vm_groups[s.target].name;
        break;
    case POLICY_SITE_GLOBAL:
        scope = 0;
        break;
    default:
        abort();
    }
    if (scope >= 0) {
        p->scope_sites[scope] = li;
    } else {
        name_add(p, kind == POLICY_SITE_VM ? 'w' : 'x', s.key + 2, li);
        p->unlisted_sites = true;
    }
    return NULL;
}

static char *
compile_sites(struct policy *p, const struct json_object *doc)
{
    struct json_object *list = msg_get(doc, "sites");
    size_t n = list ? json_object_array_length(list) : 0;
    p->site_lists = xcalloc(n ? n : 1, sizeof *p->site_lists);
    p->scope_sites = xmalloc(p->n_scopes * sizeof *p->scope_sites);
    for (size_t i = 0; i < p->n_scopes; i++) {
        p->scope_sites[i] = -1;
    }
    /* A chain holds the global scope, each vm group and user group at
     * most once, a VM (two lists for one not listed: by uuid and by name)
     * and a user. */
    p->site_cands = xcalloc(p->n_vm_groups + p->n_user_groups + 4,
                            sizeof *p->site_cands);

    struct smap seen = { .slots = NULL };
    char *error = NULL;
    for (size_t i = 0; i < n && !error; i++) {
        error = compile_site_list(p, json_object_array_get_idx(list, i), i,
                                  &seen);
    }
    smap_destroy(&seen);
    return error;
}

static void
strlist_from(const struct json_object *match, const char *key,
             struct strlist *l)
{
    struct json_object *a = msg_get(match, key);
    l->n = a ? json_object_array_length(a) : 0;
    l->v = l->n ? xcalloc(l->n, sizeof *l->v) : NULL;
    for (size_t i = 0; i < l->n; i++) {
        l->v[i] = xstrdup(json_object_get_string(
                              json_object_array_get_idx(a, i)));
    }
}

static void
strlist_destroy(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
}

static int
parse_hhmm(const char *s)
{
    if (strlen(s) != 5 || s[2] != ':' || !isdigit((unsigned char) s[0])
        || !isdigit((unsigned char) s[1]) || !isdigit((unsigned char) s[3])
        || !isdigit((unsigned char) s[4])) {
        return -1;
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    /* "24:00" ends a window at midnight. */
    return (h < 24 && m < 60) || (h == 24 && m == 0) ? h * 60 + m : -1;
}

static char *
compile_group_refs(struct policy *p, const struct json_object *match,
                   const char *key, char prefix, int **out, size_t *n_out,
                   size_t ri)
{
    struct json_object *a = msg_get(match, key);
    size_t n = a ? json_object_array_length(a) : 0;
    *out = n ? xcalloc(n, sizeof **out) : NULL;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_object_get_string(
            json_object_array_get_idx(a, i));
        int g = name_lookup(p, prefix, name);
        if (g < 0) {
            return xasprintf("rules[%zu].match.%s[%zu]: no %s group \"%s\"",
                             ri, key, i, prefix == 'g' ? "vm" : "user", name);
        }
        (*out)[i] = g;
    }
    return NULL;
}

static char *
compile_ports(const struct json_object *match, const char *key,
              struct ports **out, size_t *n_out)
{
    struct json_object *a = msg_get(match, key);
    size_t n = a ? json_object_array_length(a) : 0;
    *out = n ? xcalloc(n, sizeof **out) : NULL;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        schema_parse_ports(json_object_array_get_idx(a, i), &(*out)[i].lo,
                           &(*out)[i].hi);
    }
    return NULL;
}

static void
compile_cidrs(const struct json_object *match, const char *key,
              struct cidr **out, size_t *n_out)
{
    struct json_object *a = msg_get(match, key);
    size_t n = a ? json_object_array_length(a) : 0;
    *out = n ? xcalloc(n, sizeof **out) : NULL;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        cidr_parse(json_object_get_string(json_object_array_get_idx(a, i)),
                   &(*out)[i]);
    }
}

static unsigned
mask_from(const struct json_object *match, const char *key,
          const char *const *names)
{
    struct json_object *a = msg_get(match, key);
    size_t n = a ? json_object_array_length(a) : 0;
    unsigned mask = 0;
    for (size_t i = 0; i < n; i++) {
        int k;
        if (name_from(names, json_object_get_string(
                          json_object_array_get_idx(a, i)), &k)) {
            mask |= 1u << k;
        }
    }
    return mask;
}

static char *
compile_schedule(struct policy *p, struct rule *r,
                 const struct json_object *s, size_t ri)
{
    r->has_schedule = true;
    r->days = mask_from(s, "days", day_values);
    const char *start = msg_get_string(s, "start", "");
    const char *end = msg_get_string(s, "end", "");
    r->start_min = parse_hhmm(start);
    r->end_min = parse_hhmm(end);
    if (r->start_min < 0 || r->start_min == 24 * 60) {
        return xasprintf("rules[%zu].match.schedule.start: \"%s\" is not "
                         "HH:MM", ri, start);
    }
    if (r->end_min < 0) {
        return xasprintf("rules[%zu].match.schedule.end: \"%s\" is not "
                         "HH:MM (00:00..24:00)", ri, end);
    }
    if (r->start_min == r->end_min) {
        return xasprintf("rules[%zu].match.schedule: start and end are "
                         "both %s: an empty window", ri, start);
    }
    const char *tz = msg_get_string(s, "tz", "UTC");
    r->tz = -1;
    if (strcmp(tz, "UTC")) {
        if (!tz_valid(tz)) {
            return xasprintf("rules[%zu].match.schedule.tz: unknown time "
                             "zone \"%s\"", ri, tz);
        }
        for (size_t i = 0; i < p->n_tzones; i++) {
            if (!strcmp(p->tzones[i].name, tz)) {
                r->tz = (int) i;
            }
        }
        if (r->tz < 0) {
            p->tzones = xrealloc(p->tzones,
                                 (p->n_tzones + 1) * sizeof *p->tzones);
            p->tzones[p->n_tzones] = (struct tzone) { .name = xstrdup(tz) };
            r->tz = (int) p->n_tzones++;
        }
    }
    return NULL;
}

/* How reasons name a service: "udp 53", "tcp 20-21, 990". */
static char *
service_desc(const struct service *s)
{
    char *desc = xstrdup(s->proto < 0 ? "tcp/udp" : proto_values[s->proto]);
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct ports *pr = &s->ports[i];
        const char *sep = i ? ", " : " ";
        char *next = pr->lo == pr->hi
                     ? xasprintf("%s%s%d", desc, sep, pr->lo)
                     : xasprintf("%s%s%d-%d", desc, sep, pr->lo, pr->hi);
        free(desc);
        desc = next;
    }
    return desc;
}

/* Builds "global_protocols" ('global') or the "protocols" catalogue. */
static char *
compile_services(struct policy *p, const struct json_object *doc,
                 bool global)
{
    const char *key = global ? "global_protocols" : "protocols";
    char prefix = global ? 'S' : 'P';
    struct json_object *list = msg_get(doc, key);
    size_t n = list ? json_object_array_length(list) : 0;
    struct service *services = xcalloc(n ? n : 1, sizeof *services);
    size_t *countp = global ? &p->n_globals : &p->n_protocols;
    if (global) {
        p->globals = services;
    } else {
        p->protocols = services;
    }

    for (size_t i = 0; i < n; i++) {
        struct json_object *j = json_object_array_get_idx(list, i);
        const char *name = msg_get_string(j, "name", "");
        if (name_lookup(p, prefix, name) >= 0) {
            return xasprintf("%s[%zu].name: \"%s\" is defined twice", key, i,
                             name);
        }
        name_add(p, prefix, name, (int) i);

        struct service *s = &services[(*countp)++];
        const char *proto = msg_get_string(j, "protocol",
                                           global ? "any" : "tcp");
        int k;
        s->proto = (int8_t) (name_from(proto_values, proto, &k) && k < 2
                             ? k : -1);
        s->dir = -1;
        compile_ports(j, "ports", &s->ports, &s->n_ports);

        char *desc = service_desc(s);
        if (global) {
            const char *dir = msg_get_string(j, "direction", "both");
            if (name_from(dir_values, dir, &k)) {
                s->dir = (int8_t) k;
            }
            s->allow = !strcmp(msg_get_string(j, "action", ""), "allow");
            s->log = msg_get_bool(j, "log", true);
            s->notify = msg_get_bool(j, "notify", false);
            s->rule = xasprintf("global:%s", name);
            s->reason = xasprintf("global protocol \"%s\" (%s) %s it", name,
                                  desc, s->allow ? "allows" : "denies");
        } else {
            s->rule = xasprintf("protocol:%s", name);
            s->reason = xasprintf("no rule matched; \"%s\" (%s) is in the "
                                  "protocol catalogue, which allows it",
                                  name, desc);
        }
        free(desc);
    }
    return NULL;
}

/* "app_protocol" names catalogue protocols, which say the transport
 * protocol and the ports: a rule that said them again could contradict
 * its own protocols, so it may not. */
static char *
compile_app_protocols(struct policy *p, struct rule *r,
                      const struct json_object *m, size_t ri)
{
    struct json_object *a = msg_get(m, "app_protocol");
    if (!a) {
        return NULL;
    }
    static const char *const implied[] = {
        "protocol", "local_port", "remote_port",
    };
    for (size_t i = 0; i < ARRAY_SIZE(implied); i++) {
        if (msg_get(m, implied[i])) {
            return xasprintf("rules[%zu].match.%s: cannot be used with "
                             "app_protocol: the named protocols give the "
                             "protocol and ports", ri, implied[i]);
        }
    }
    r->n_app_protos = json_object_array_length(a);
    r->app_protos = xcalloc(r->n_app_protos, sizeof *r->app_protos);
    for (size_t i = 0; i < r->n_app_protos; i++) {
        const char *name = json_object_get_string(
            json_object_array_get_idx(a, i));
        int k = name_lookup(p, 'P', name);
        if (k < 0) {
            return xasprintf("rules[%zu].match.app_protocol[%zu]: \"%s\" is "
                             "not in protocols", ri, i, name);
        }
        r->app_protos[i] = k;
    }
    return NULL;
}

static bool
has_glob(const char *s)
{
    return strpbrk(s, "*?[\\") != NULL;
}

/* Adds 'port' to the '*n' distinct ports in 'set', which has room for
 * 'max'.  Returns false if it does not fit. */
static bool
port_set_add(int *set, size_t *n, size_t max, int port)
{
    for (size_t i = 0; i < *n; i++) {
        if (set[i] == port) {
            return true;
        }
    }
    if (*n >= max) {
        return false;
    }
    set[(*n)++] = port;
    return true;
}

/* Puts rule 'ri' in the index under its most selective literal key, or in
 * the wildcard list.  Each rule goes in exactly one place, so a request can
 * meet it at most once. */
static void
index_rule(struct policy *p, size_t ri)
{
    struct rule *r = &p->rules[ri];
    const struct { char prefix; const struct strlist *l; unsigned cond; }
    keys[] = {
        { 's', &r->sha256, C_SHA256 },
        { 'n', &r->app_name, C_APP_NAME },
        { 'p', &r->product, C_PRODUCT },
        { 'v', &r->vendor, C_VENDOR },
        { 'c', &r->category, C_CATEGORY },
    };
    char key[300];

    for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
        const struct strlist *l = keys[k].l;
        bool ok = l->n > 0;
        for (size_t i = 0; ok && i < l->n; i++) {
            ok = !has_glob(l->v[i]);
        }
        if (!ok) {
            continue;
        }
        for (size_t i = 0; i < l->n; i++) {
            /* Product and vendor compare ignoring case: index lowercase. */
            snprintf(key, sizeof key, "%c:%s", keys[k].prefix, l->v[i]);
            if (keys[k].prefix == 'p' || keys[k].prefix == 'v') {
                for (char *c = key; *c; c++) {
                    *c = tolower((unsigned char) *c);
                }
            }
            smap_add(&p->index, key, (int) ri);
        }
        p->index_kinds |= 1u << (keys[k].prefix - 'a');
        r->index_cond = keys[k].cond;
        return;
    }

    bool single_ports = r->n_rports > 0 && r->n_rports <= 16;
    for (size_t i = 0; single_ports && i < r->n_rports; i++) {
        single_ports = r->rports[i].lo == r->rports[i].hi;
    }
    if (single_ports) {
        for (size_t i = 0; i < r->n_rports; i++) {
            snprintf(key, sizeof key, "r:%d", r->rports[i].lo);
            smap_add(&p->index, key, (int) ri);
        }
        p->index_kinds |= 1u << ('r' - 'a');
        r->index_cond = C_RPORT;
        return;
    }

    /* Application protocols: keyed by their service ports, if there are
     * at most 16.  The key does not say tcp or udp, nor which of the
     * rule's protocols has the port, so the rule is checked in full. */
    int sports[16];
    size_t n_sports = 0;
    bool few = r->n_app_protos > 0;
    for (size_t i = 0; few && i < r->n_app_protos; i++) {
        const struct service *s = &p->protocols[r->app_protos[i]];
        for (size_t j = 0; few && j < s->n_ports; j++) {
            for (int port = s->ports[j].lo; few && port <= s->ports[j].hi;
                 port++) {
                few = port_set_add(sports, &n_sports, ARRAY_SIZE(sports),
                                   port);
            }
        }
    }
    if (few) {
        for (size_t i = 0; i < n_sports; i++) {
            snprintf(key, sizeof key, "a:%d", sports[i]);
            smap_add(&p->index, key, (int) ri);
        }
        p->index_kinds |= 1u << ('a' - 'a');
        return;
    }
    p->wildcard = xrealloc(p->wildcard,
                           (p->n_wildcard + 1) * sizeof *p->wildcard);
    p->wildcard[p->n_wildcard++] = (int) ri;
}

static char *
compile_rule(struct policy *p, const struct json_object *j, size_t ri)
{
    struct rule *r = &p->rules[ri];
    r->id = xstrdup(msg_get_string(j, "id", ""));
    r->description = xstrdup(msg_get_string(j, "description", ""));
    r->priority = (int) msg_get_int(j, "priority", 0);
    r->allow = !strcmp(msg_get_string(j, "action", ""), "allow");
    r->has_log = msg_get(j, "log") != NULL;
    r->log = msg_get_bool(j, "log", false);
    r->has_notify = msg_get(j, "notify") != NULL;
    r->notify = msg_get_bool(j, "notify", false);
    r->ttl = (int) msg_get_int(j, "ttl", -1);
    const char *gran = msg_get_string(j, "granularity", NULL);
    r->gran = gran ? !strcmp(gran, "service") : -1;
    r->threat_min = -1;
    r->proto = -1;
    r->dir = -1;
    r->tz = -1;

    if (name_lookup(p, 'r', r->id) >= 0) {
        return xasprintf("rules[%zu].id: \"%s\" is used twice", ri, r->id);
    }
    name_add(p, 'r', r->id, (int) ri);

    /* Attachment: at most one. */
    static const struct { const char *key; char prefix; } attach[] = {
        { "vm_group", 'g' }, { "vm", 'u' }, { "user_group", 'G' },
        { "user", 'U' },
    };
    int n_attach = 0;
    r->scope = 0;               /* The global scope. */
    for (size_t i = 0; i < ARRAY_SIZE(attach); i++) {
        const char *name = msg_get_string(j, attach[i].key, NULL);
        if (!name) {
            continue;
        }
        if (++n_attach > 1) {
            return xasprintf("rules[%zu].%s: a rule attaches to at most one "
                             "of vm_group, vm, user_group, user", ri,
                             attach[i].key);
        }
        int idx = name_lookup(p, attach[i].prefix, name);
        if (idx < 0 && attach[i].prefix == 'u') {
            /* A VM may be named by uuid or by name. */
            char lower[64];
            snprintf(lower, sizeof lower, "%s", name);
            for (char *c = lower; *c; c++) {
                *c = tolower((unsigned char) *c);
            }
            idx = name_lookup(p, 'u', lower);
            if (idx < 0) {
                idx = name_lookup(p, 'n', name);
            }
        }
        if (idx < 0) {
            return xasprintf("rules[%zu].%s: \"%s\" is not defined in %s",
                             ri, attach[i].key, name,
                             attach[i].prefix == 'g' ? "vm_groups"
                             : attach[i].prefix == 'u' ? "vms"
                             : attach[i].prefix == 'G' ? "user_groups"
                             : "users");
        }
        r->scope = attach[i].prefix == 'g' ? p->vm_groups[idx].scope
                   : attach[i].prefix == 'u' ? p->vms[idx].scope
                   : attach[i].prefix == 'G' ? p->user_groups[idx].scope
                   : p->users[idx].scope;
    }

    const struct json_object *m = msg_get(j, "match");
    strlist_from(m, "vm_uuid", &r->vm_uuid);
    for (size_t i = 0; i < r->vm_uuid.n; i++) {
        for (char *c = r->vm_uuid.v[i]; *c; c++) {
            *c = tolower((unsigned char) *c);
        }
    }
    strlist_from(m, "vm_name", &r->vm_name);
    strlist_from(m, "app_name", &r->app_name);
    strlist_from(m, "app_path", &r->app_path);
    strlist_from(m, "sha256", &r->sha256);
    strlist_from(m, "product", &r->product);
    strlist_from(m, "vendor", &r->vendor);
    strlist_from(m, "version", &r->version);
    strlist_from(m, "category", &r->category);
    strlist_from(m, "user", &r->users);
    char *error = compile_group_refs(p, m, "vm_group", 'g', &r->vm_groups,
                                     &r->n_vm_groups, ri);
    if (!error) {
        error = compile_group_refs(p, m, "user_group", 'G', &r->user_groups,
                                   &r->n_user_groups, ri);
    }
    if (error) {
        return error;
    }
    r->trust_mask = mask_from(m, "trust", trust_values);
    const char *threat = msg_get_string(m, "threat_at_least", NULL);
    int k;
    if (threat && name_from(threat_values, threat, &k)) {
        r->threat_min = (int8_t) k;
    }
    r->event_mask = mask_from(m, "event", event_values);
    const char *proto = msg_get_string(m, "protocol", "any");
    if (strcmp(proto, "any") && name_from(proto_values, proto, &k)) {
        r->proto = (int8_t) k;
    }
    const char *dir = msg_get_string(m, "direction", NULL);
    if (dir && name_from(dir_values, dir, &k)) {
        r->dir = (int8_t) k;
    }
    compile_cidrs(m, "local", &r->local, &r->n_local);
    compile_cidrs(m, "remote", &r->remote, &r->n_remote);
    compile_ports(m, "local_port", &r->lports, &r->n_lports);
    size_t n_rports;
    compile_ports(m, "remote_port", &r->rports, &n_rports);
    r->n_rports = (uint32_t) n_rports;
    if (n_rports) {
        r->rport0 = r->rports[0];
    }
    if ((r->n_lports || r->n_rports) && r->proto == POLICY_PROTO_ICMP) {
        return xasprintf("rules[%zu].match: ports mean nothing for icmp",
                         ri);
    }
    error = compile_app_protocols(p, r, m, ri);
    if (error) {
        return error;
    }
    const struct json_object *s = msg_get(m, "schedule");
    if (s) {
        error = compile_schedule(p, r, s, ri);
        if (error) {
            return error;
        }
    }
    const struct { const void *present; unsigned bit; } conds[] = {
        { r->sha256.v, C_SHA256 }, { r->app_name.v, C_APP_NAME },
        { r->app_path.v, C_APP_PATH }, { r->product.v, C_PRODUCT },
        { r->vendor.v, C_VENDOR }, { r->version.v, C_VERSION },
        { r->category.v, C_CATEGORY }, { r->vm_uuid.v, C_VM_UUID },
        { r->vm_name.v, C_VM_NAME }, { r->vm_groups, C_VM_GROUP },
        { r->users.v, C_USER }, { r->user_groups, C_USER_GROUP },
        { r->local, C_LOCAL }, { r->remote, C_REMOTE },
        { r->lports, C_LPORT }, { r->rports, C_RPORT },
        { r->app_protos, C_APP_PROTO },
    };
    for (size_t i = 0; i < ARRAY_SIZE(conds); i++) {
        if (conds[i].present) {
            r->conds |= conds[i].bit;
        }
    }
    if (r->has_schedule) {
        r->conds |= C_SCHEDULE;
    }
    index_rule(p, ri);
    return NULL;
}

static const char *scope_desc(const struct policy *, int scope, char *buf,
                              size_t size);

static const struct rule *rank_rules;

static int
compare_rule_order(const void *a_, const void *b_)
{
    const struct rule *a = &rank_rules[*(const int *) a_];
    const struct rule *b = &rank_rules[*(const int *) b_];
    return a->priority != b->priority ? (a->priority > b->priority ? -1 : 1)
                                      : strcmp(a->id, b->id);
}

/* Numbers the rules in the order that breaks ties within a scope. */
static void
rank(struct policy *p)
{
    if (!p->n_rules) {
        return;
    }
    int *order = xmalloc(p->n_rules * sizeof *order);
    for (size_t i = 0; i < p->n_rules; i++) {
        order[i] = (int) i;
    }
    rank_rules = p->rules;
    qsort(order, p->n_rules, sizeof *order, compare_rule_order);
    rank_rules = NULL;
    for (size_t i = 0; i < p->n_rules; i++) {
        p->rules[order[i]].rank = (int) i;
    }
    free(order);
}

/* The reasons that do not depend on the request, built once. */
static void
build_reasons(struct policy *p)
{
    for (size_t i = 0; i < p->n_rules; i++) {
        struct rule *r = &p->rules[i];
        char where[160];
        r->reason = xasprintf("%s by rule \"%s\" of %s%s%s",
                              r->allow ? "allowed" : "denied", r->id,
                              scope_desc(p, r->scope, where, sizeof where),
                              *r->description ? ": " : "", r->description);
    }
    for (size_t i = 0; i < p->n_vm_groups; i++) {
        struct group *g = &p->vm_groups[i];
        g->unknown_reason = xasprintf("no rule matched an unknown "
                                      "application; vm group \"%s\" %s "
                                      "unknown applications", g->name,
                                      g->unknown_allow ? "allows"
                                                       : "denies");
        g->nomatch_reason = xasprintf("no rule allowed it; vm group \"%s\" "
                                      "denies what no rule allows", g->name);
    }
}

char *
policy_compile(const char *text, size_t len, struct policy **policyp)
{
    *policyp = NULL;
    struct json_object *doc;
    char *error = len > 64 * 1024 * 1024
                  ? xstrdup("policy: larger than 64 MiB")
                  : schema_parse_json(text, len, 16, "policy", &doc);
    if (error) {
        return error;
    }
    error = schema_validate(doc, policy_fields, "policy", true);
    if (error) {
        json_object_put(doc);
        return error;
    }

    struct policy *p = xcalloc(1, sizeof *p);
    p->refcount = 1;
    p->default_ttl = (int) msg_get_int(doc, "default_ttl", 300);
    p->default_gran = strcmp(msg_get_string(doc, "default_granularity",
                                            "service"), "exact") != 0;
    p->system = (struct policy_system) {
        .logging = msg_get_bool(doc, "system.logging", true),
        .simulate = msg_get_bool(doc, "system.simulate", false),
        .notify = msg_get_bool(doc, "system.notify", true),
        .allow_undefined = msg_get_bool(
            doc, "system.allow_undefined_protocols", false),
        .log_load_interval = (int) msg_get_int(
            doc, "system.log_load_interval", 0),
    };
    add_scope(p, SCOPE_GLOBAL, "global");

    error = compile_groups(p, doc, true);
    if (!error) {
        error = compile_groups(p, doc, false);
    }
    if (!error) {
        error = compile_members(p, doc);
    }
    if (!error) {
        error = compile_services(p, doc, false);
    }
    if (!error) {
        error = compile_services(p, doc, true);
    }
    if (!error) {
        struct json_object *rules = msg_get(doc, "rules");
        size_t n = rules ? json_object_array_length(rules) : 0;
        p->rules = big_calloc(n ? n : 1, sizeof *p->rules);
        for (size_t i = 0; i < n && !error; i++) {
            p->n_rules = i + 1;
            error = compile_rule(p, json_object_array_get_idx(rules, i), i);
        }
    }
    if (!error) {
        error = compile_quotas(p, doc);
    }
    if (!error) {
        error = compile_sites(p, doc);
    }
    json_object_put(doc);
    if (!error) {
        rank(p);
        build_reasons(p);
    }
    if (error) {
        /* Messages from the helpers lack the "policy." prefix. */
        char *msg = strncmp(error, "policy", 6)
                    ? xasprintf("policy.%s", error) : xstrdup(error);
        free(error);
        policy_unref(p);
        return msg;
    }
    *policyp = p;
    return NULL;
}

struct policy *
policy_ref(struct policy *p)
{
    p->refcount++;
    return p;
}

static void
rule_destroy(struct rule *r)
{
    free(r->id);
    free(r->description);
    free(r->reason);
    struct strlist *lists[] = {
        &r->vm_uuid, &r->vm_name, &r->app_name, &r->app_path, &r->sha256,
        &r->product, &r->vendor, &r->version, &r->category, &r->users,
    };
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
        strlist_destroy(lists[i]);
    }
    free(r->vm_groups);
    free(r->user_groups);
    free(r->local);
    free(r->remote);
    free(r->lports);
    free(r->rports);
    free(r->app_protos);
}

static void
services_destroy(struct service *services, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(services[i].ports);
        free(services[i].rule);
        free(services[i].reason);
    }
    free(services);
}

static void
site_list_destroy(struct site_list *l)
{
    for (size_t i = 0; i < l->pub.n_sites; i++) {
        if (!l->sites[i].is_name) {
            free((char *) l->sites[i].text);
        }
    }
    free(l->sites);
    free(l->match);
    for (size_t i = 0; i < l->pub.n_protocols; i++) {
        free(l->protocol_names[i]);
    }
    free(l->protocol_names);
    free(l->protocols);
    free(l->subject);
    free(l->rule);
    free(l->description);
    free(l->scope);
    free(l->among);
    free(l->of);
}

void
policy_unref(struct policy *p)
{
    if (!p || --p->refcount > 0) {
        return;
    }
    for (size_t i = 0; i < p->n_vm_groups; i++) {
        free(p->vm_groups[i].name);
        free(p->vm_groups[i].unknown_reason);
        free(p->vm_groups[i].nomatch_reason);
    }
    for (size_t i = 0; i < p->n_user_groups; i++) {
        free(p->user_groups[i].name);
    }
    free(p->vm_groups);
    free(p->user_groups);
    for (size_t i = 0; i < p->n_vms; i++) {
        free(p->vms[i].uuid);
        free(p->vms[i].name);
    }
    free(p->vms);
    for (size_t i = 0; i < p->n_users; i++) {
        free(p->users[i].name);
        free(p->users[i].groups);
        free(p->users[i].walk_end);
    }
    free(p->users);
    for (size_t i = 0; i < p->n_quotas; i++) {
        free(p->quotas[i].subject);
    }
    free(p->quotas);
    for (size_t i = 0; i < p->n_site_lists; i++) {
        site_list_destroy(&p->site_lists[i]);
    }
    free(p->site_lists);
    for (size_t i = 0; i < p->n_site_names; i++) {
        free(p->site_names[i]);
    }
    free(p->site_names);
    free(p->scope_sites);
    free(p->site_cands);
    services_destroy(p->globals, p->n_globals);
    services_destroy(p->protocols, p->n_protocols);
    for (size_t i = 0; i < p->n_rules; i++) {
        rule_destroy(&p->rules[i]);
    }
    free(p->rules);
    for (size_t i = 0; i < p->n_tzones; i++) {
        free(p->tzones[i].name);
    }
    free(p->tzones);
    free(p->scopes);
    free(p->wildcard);
    smap_destroy(&p->names);
    smap_destroy(&p->index);
    free(p);
}

size_t
policy_n_rules(const struct policy *p)
{
    return p->n_rules;
}

size_t
policy_last_examined(const struct policy *p)
{
    return p->examined;
}

void
policy_explain_last(const struct policy *p, policy_explain_cb *cb,
                    void *aux)
{
    /* The scopes stamped by the last decision, in chain order. */
    int *order = xmalloc((p->n_scopes ? p->n_scopes : 1) * sizeof *order);
    size_t n = 0;
    for (size_t i = 0; i < p->n_scopes; i++) {
        if (p->scopes[i].stamp == p->stamp) {
            order[n++] = (int) i;
        }
    }
    for (size_t i = 1; i < n; i++) {        /* Insertion sort: few. */
        int s = order[i];
        size_t j = i;
        for (; j > 0 && p->scopes[order[j - 1]].pos > p->scopes[s].pos; j--) {
            order[j] = order[j - 1];
        }
        order[j] = s;
    }
    for (size_t i = 0; i < n; i++) {
        const struct scope *s = &p->scopes[order[i]];
        char desc[100];
        const struct rule *r = s->best >= 0 ? &p->rules[s->best] : NULL;
        cb(scope_desc(p, order[i], desc, sizeof desc), r ? r->id : NULL,
           r && r->allow, aux);
    }
    free(order);

    /* The site lists it examined, in that order. */
    for (size_t i = 0; i < p->n_site_examined; i++) {
        const struct site_list *l = &p->site_lists[p->site_cands[i].list];
        cb(l->scope, l->result >= 0 ? l->rule : NULL, l->result > 0, aux);
    }
}

const struct policy_system *
policy_system(const struct policy *p)
{
    return &p->system;
}

size_t
policy_n_quotas(const struct policy *p)
{
    return p->n_quotas;
}

const struct policy_quota *
policy_quota_at(const struct policy *p, size_t i)
{
    return i < p->n_quotas ? &p->quotas[i].pub : NULL;
}

const char *
policy_quota_kind_name(enum policy_quota_kind kind)
{
    return (size_t) kind < ARRAY_SIZE(subject_kind_names)
           ? subject_kind_names[kind] : "unknown";
}

size_t
policy_n_site_lists(const struct policy *p)
{
    return p->n_site_lists;
}

const struct policy_site_list *
policy_site_list_at(const struct policy *p, size_t i)
{
    return i < p->n_site_lists ? &p->site_lists[i].pub : NULL;
}

const char *
policy_site_kind_name(enum policy_site_kind kind)
{
    return kind == POLICY_SITE_GLOBAL ? "global"
           : (size_t) kind <= POLICY_SITE_VM_GROUP ? subject_kind_names[kind]
           : "unknown";
}

const char *
policy_site_mode_name(enum policy_site_mode mode)
{
    return (size_t) mode < ARRAY_SIZE(site_mode_values) - 1
           ? site_mode_values[mode] : "unknown";
}

size_t
policy_n_site_names(const struct policy *p)
{
    return p->n_site_names;
}

const char *
policy_site_name_at(const struct policy *p, size_t i)
{
    return i < p->n_site_names ? p->site_names[i] : NULL;
}

/* The app quota whose subject is exactly 's' (a file name or a path), or
 * -1.  App quotas are keyed in lowercase, for products. */
static int
app_quota_exact(const struct policy *p, const char *s)
{
    int qi = s && *s ? name_lookup_lower(p, 'A', s) : -1;
    return qi >= 0 && !strcmp(p->quotas[qi].subject, s) ? qi : -1;
}

void
policy_quotas_for(const struct policy *p, const char *vm_uuid,
                  const char *vm_name, const char *user,
                  const char *product, const char *app_path,
                  void (*cb)(size_t index, void *aux), void *aux)
{
    if (!p->n_quotas) {
        return;                 /* The usual case: no lookups at all. */
    }

    /* The user, then each group up to the root, once each (see
     * 'walk_end'); a user not listed, or in no group, has only the
     * root. */
    const struct group *ug = p->user_groups;
    const struct user_entry *u = NULL;
    if (user && *user) {
        int qi = name_lookup(p, 'Q', user);
        if (qi >= 0) {
            cb(qi, aux);
        }
        int ui = name_lookup(p, 'U', user);
        u = ui >= 0 ? &p->users[ui] : NULL;
    }
    if (u && u->n_groups) {
        for (size_t i = 0; i < u->n_groups; i++) {
            for (int g = u->groups[i]; g != u->walk_end[i];
                 g = ug[g].parent) {
                if (ug[g].quota >= 0) {
                    cb(ug[g].quota, aux);
                }
            }
        }
    } else if (ug[0].quota >= 0) {
        cb(ug[0].quota, aux);
    }

    /* The VM, found as policy_decide() finds it: by uuid, else by name.
     * A quota on a VM not listed may name it either way, so both are
     * looked up. */
    bool has_uuid = vm_uuid && *vm_uuid, has_name = vm_name && *vm_name;
    int vi = has_uuid ? name_lookup_lower(p, 'u', vm_uuid) : -1;
    if (vi < 0 && has_name) {
        vi = name_lookup(p, 'n', vm_name);
    }
    int vg = 0;
    if (vi >= 0) {
        if (p->vms[vi].quota >= 0) {
            cb(p->vms[vi].quota, aux);
        }
        vg = p->vms[vi].group;
    } else {
        int by_uuid = has_uuid ? name_lookup_lower(p, 'W', vm_uuid) : -1;
        int by_name = has_name ? name_lookup(p, 'W', vm_name) : -1;
        if (by_uuid >= 0) {
            cb(by_uuid, aux);
        }
        if (by_name >= 0 && by_name != by_uuid) {
            cb(by_name, aux);
        }
    }
    for (int g = vg; g >= 0; g = p->vm_groups[g].parent) {
        if (p->vm_groups[g].quota >= 0) {
            cb(p->vm_groups[g].quota, aux);
        }
    }

    /* The application: its product ignoring case, its file name or its
     * path exactly.  One quota may match more than one way. */
    const char *slash = app_path ? strrchr(app_path, '/') : NULL;
    int by_product = product && *product
                     ? name_lookup_lower(p, 'A', product) : -1;
    int by_file = app_quota_exact(p, slash ? slash + 1 : app_path);
    int by_path = slash ? app_quota_exact(p, app_path) : -1;
    if (by_product >= 0) {
        cb(by_product, aux);
    }
    if (by_file >= 0 && by_file != by_product) {
        cb(by_file, aux);
    }
    if (by_path >= 0 && by_path != by_product && by_path != by_file) {
        cb(by_path, aux);
    }
}

/* Decisions. */

struct req_ctx {
    const struct policy_request *req;
    const char *app_name;       /* Last path component. */
    const struct appid_result *app;
    int vm;                     /* Index into p->vms, or -1. */
    int vm_group;
    int user;                   /* Index into p->users, or -1. */
    bool inbound;               /* See request_service(). */
    int service_port;           /* See request_service(); -1: none. */
    uint64_t stamp;
};

static bool
in_list(const struct strlist *l, const char *s, bool nocase)
{
    if (!l->n) {
        return true;
    }
    if (!s) {
        return false;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (nocase ? !strcasecmp(l->v[i], s) : !strcmp(l->v[i], s)) {
            return true;
        }
    }
    return false;
}

static bool
in_globs(const struct strlist *l, const char *s, int flags)
{
    if (!l->n) {
        return true;
    }
    if (!s) {
        return false;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (!fnmatch(l->v[i], s, flags)) {
            return true;
        }
    }
    return false;
}

static bool
in_ports(const struct ports *ports, size_t n, int port)
{
    if (!n) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (port >= ports[i].lo && port <= ports[i].hi) {
            return true;
        }
    }
    return false;
}

static bool
in_cidrs(const struct cidr *c, size_t n, const struct policy_addr *a,
         bool have)
{
    if (!n) {
        return true;
    }
    if (!have) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (cidr_contains(&c[i], a)) {
            return true;
        }
    }
    return false;
}

static bool
in_groups(const struct group *groups, const int *want, size_t n,
          uint64_t stamp)
{
    if (!n) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (groups[want[i]].stamp == stamp) {
            return true;
        }
    }
    return false;
}

/* Sets the side of the connection the request is on and its service port,
 * the one global and catalogue protocols name: the remote port of an
 * outbound connection, the local port of an inbound one.  Listen and accept
 * are inbound, connect is outbound, send and close follow the connection's
 * direction.  ICMP has no ports, and neither has an outbound request
 * without a remote endpoint. */
static void
request_service(const struct policy_request *q, struct req_ctx *c)
{
    c->inbound = q->event == POLICY_EV_LISTEN || q->event == POLICY_EV_ACCEPT
                 || (q->event != POLICY_EV_CONNECT
                     && q->dir == POLICY_DIR_INBOUND);
    c->service_port = q->proto == POLICY_PROTO_ICMP ? -1
                      : c->inbound ? q->local_port
                      : q->has_remote ? q->remote_port : -1;
}

static bool
service_matches(const struct service *s, const struct req_ctx *c)
{
    return c->service_port >= 0
           && (s->proto < 0 || s->proto == (int) c->req->proto)
           && (s->dir < 0 || s->dir == (c->inbound ? POLICY_DIR_INBOUND
                                                   : POLICY_DIR_OUTBOUND))
           && in_ports(s->ports, s->n_ports, c->service_port);
}

/* The first of 'n' services that matches, or NULL. */
static const struct service *
find_service(const struct service *services, size_t n,
             const struct req_ctx *c)
{
    for (size_t i = 0; i < n; i++) {
        if (service_matches(&services[i], c)) {
            return &services[i];
        }
    }
    return NULL;
}

/* Whether rule 'r' matches.  Conditions in 'skip' are known to hold (the
 * index lookup that found the rule checked them); conditions the rule does
 * not have cost nothing, since their memory is never touched. */
static bool
rule_matches(struct policy *p, const struct rule *r,
             const struct req_ctx *c, unsigned skip)
{
    const struct policy_request *q = c->req;
    const struct appid_result *app = c->app;
    unsigned conds = r->conds & ~skip;

    if ((r->event_mask && !(r->event_mask & (1u << q->event)))
        || (r->proto >= 0 && r->proto != (int) q->proto)
        || (r->dir >= 0 && r->dir != (int) q->dir)) {
        return false;
    }
    enum appid_trust trust = app ? app->trust : APPID_TRUST_UNKNOWN;
    if ((r->trust_mask && !(r->trust_mask & (1u << trust)))
        || (r->threat_min >= 0
            && (!app || (int) app->threat < r->threat_min))) {
        return false;
    }
    if ((conds & C_RPORT)
        && (!q->has_remote
            || (r->n_rports == 1
                ? q->remote_port < r->rport0.lo
                  || q->remote_port > r->rport0.hi
                : !in_ports(r->rports, r->n_rports, q->remote_port)))) {
        return false;
    }
    if (!(conds & ~C_RPORT)) {
        return true;
    }

    if (((conds & C_SHA256) && !in_list(&r->sha256, q->app_sha256, false))
        || ((conds & C_APP_NAME) && !in_globs(&r->app_name, c->app_name, 0))
        || ((conds & C_APP_PATH) && !in_globs(&r->app_path, q->app_path, 0))
        || ((conds & C_PRODUCT)
            && !in_list(&r->product, app ? app->product : NULL, true))
        || ((conds & C_VENDOR)
            && !in_list(&r->vendor, app ? app->vendor : NULL, true))
        || ((conds & C_VERSION)
            && !in_list(&r->version, app ? app->version : NULL, false))
        || ((conds & C_CATEGORY)
            && !in_list(&r->category, app ? app->category : NULL, false))) {
        return false;
    }
    if (conds & C_VM_UUID) {
        const char *vm_uuid = c->vm >= 0 ? p->vms[c->vm].uuid : q->vm_uuid;
        bool found = false;
        for (size_t i = 0; vm_uuid && i < r->vm_uuid.n; i++) {
            found = found || !strcasecmp(r->vm_uuid.v[i], vm_uuid);
        }
        if (!found) {
            return false;
        }
    }
    if (conds & C_VM_NAME) {
        const char *vm_name = c->vm >= 0 && *p->vms[c->vm].name
                              ? p->vms[c->vm].name : q->vm_name;
        if (!in_globs(&r->vm_name, vm_name, 0)) {
            return false;
        }
    }
    if (((conds & C_VM_GROUP)
         && !in_groups(p->vm_groups, r->vm_groups, r->n_vm_groups,
                       c->stamp))
        || ((conds & C_USER) && !in_list(&r->users, q->user, false))
        || ((conds & C_USER_GROUP)
            && !in_groups(p->user_groups, r->user_groups, r->n_user_groups,
                          c->stamp))) {
        return false;
    }
    if (((conds & C_LOCAL) && !in_cidrs(r->local, r->n_local, &q->local,
                                        true))
        || ((conds & C_REMOTE)
            && !in_cidrs(r->remote, r->n_remote, &q->remote, q->has_remote))
        || ((conds & C_LPORT)
            && !in_ports(r->lports, r->n_lports, q->local_port))) {
        return false;
    }
    if (conds & C_APP_PROTO) {
        bool found = false;
        for (size_t i = 0; !found && i < r->n_app_protos; i++) {
            found = service_matches(&p->protocols[r->app_protos[i]], c);
        }
        if (!found) {
            return false;
        }
    }
    return !(conds & C_SCHEDULE) || schedule_active(p, r, q->now);
}

/* Whether rule 'a' comes before rule 'b' within a scope: higher priority
 * first, then the smaller id (ranked once, at compile time). */
static bool
rule_before(const struct rule *a, const struct rule *b)
{
    return a->rank < b->rank;
}

/* Marks the scopes of this request's chain, in order: global, vm groups
 * root to leaf, the vm, user groups root to leaf, the user. */
static void
stamp_chain(struct policy *p, struct req_ctx *c)
{
    uint64_t st = c->stamp;
    int pos = 0;
    struct scope *scopes = p->scopes;

    scopes[0].stamp = st;
    scopes[0].pos = pos++;
    scopes[0].best = -1;

    int chain[64];
    int n = 0;
    for (int g = c->vm_group; g >= 0 && n < 64; g = p->vm_groups[g].parent) {
        chain[n++] = g;
    }
    while (n-- > 0) {
        struct group *g = &p->vm_groups[chain[n]];
        g->stamp = st;
        scopes[g->scope] = (struct scope) {
            .kind = SCOPE_VM_GROUP, .name = g->name, .stamp = st,
            .pos = pos++, .best = -1,
        };
    }
    if (c->vm >= 0) {
        struct scope *s = &scopes[p->vms[c->vm].scope];
        s->stamp = st;
        s->pos = pos++;
        s->best = -1;
    }

    /* User groups: the root always, then each listed group's ancestors.
     * A group's position grows with its depth, so outer groups come
     * first. */
    int upos = pos;
    struct group *ug = p->user_groups;
    ug[0].stamp = st;
    scopes[ug[0].scope].stamp = st;
    scopes[ug[0].scope].pos = upos;
    scopes[ug[0].scope].best = -1;
    int max_depth = 0;
    if (c->user >= 0) {
        const struct user_entry *u = &p->users[c->user];
        for (size_t i = 0; i < u->n_groups; i++) {
            int depth = 0;
            for (int g = u->groups[i]; g >= 0; g = ug[g].parent) {
                depth++;
            }
            max_depth = depth > max_depth ? depth : max_depth;
            for (int g = u->groups[i]; g >= 0; g = ug[g].parent) {
                ug[g].stamp = st;
                struct scope *s = &scopes[ug[g].scope];
                if (s->stamp != st) {
                    s->stamp = st;
                    s->best = -1;
                }
                s->pos = upos + --depth;
            }
        }
        pos = upos + max_depth + 1;
        struct scope *s = &scopes[u->scope];
        s->stamp = st;
        s->pos = pos++;
        s->best = -1;
    }
}

static void
consider(struct policy *p, struct req_ctx *c, int ri, bool via_index,
         int *touched, size_t *n_touched)
{
    const struct rule *r = &p->rules[ri];
    struct scope *s = &p->scopes[r->scope];
    p->examined++;
    if (s->stamp != c->stamp
        || !rule_matches(p, r, c, via_index ? r->index_cond : 0)) {
        return;
    }
    if (s->best < 0) {
        if (*n_touched < 256) {
            touched[(*n_touched)++] = r->scope;
        }
        s->best = ri;
    } else if (rule_before(r, &p->rules[s->best])) {
        s->best = ri;
    }
}

/* A lookup of the rule index under one of the request's values.  The keys
 * are built and their slots prefetched before anything else, so that the
 * memory is on its way while the rest of the request is prepared. */
struct probe {
    char key[80];
    uint32_t hash;
};

static void
probe_add(const struct policy *p, char prefix, const char *value,
          bool lower, struct probe *probes, size_t *n)
{
    size_t len = value ? strlen(value) : 0;
    if (!len || len > sizeof probes->key - 3
        || !(p->index_kinds & (1u << (prefix - 'a')))) {
        return;
    }
    struct probe *pr = &probes[(*n)++];
    pr->key[0] = prefix;
    pr->key[1] = ':';
    memcpy(pr->key + 2, value, len + 1);
    if (lower) {
        for (char *k = pr->key + 2; *k; k++) {
            *k = tolower((unsigned char) *k);
        }
    }
    pr->hash = hash_str(pr->key);
    if (p->index.slots) {
        __builtin_prefetch(&p->index.slots[pr->hash & p->index.mask]);
    }
}

/* Finds the entry for a probe whose hash is already known. */
static const struct smap_entry *
probe_find(const struct smap *m, const struct probe *pr)
{
    if (!m->slots) {
        return NULL;
    }
    for (size_t i = pr->hash & m->mask; ; i = (i + 1) & m->mask) {
        const struct smap_entry *e = &m->slots[i];
        if (!e->used) {
            return NULL;
        }
        if (e->hash == pr->hash && !strcmp(smap_key(e), pr->key)) {
            return e;
        }
    }
}

static const char *
scope_desc(const struct policy *p, int scope, char *buf, size_t size)
{
    const struct scope *s = &p->scopes[scope];
    if (s->kind == SCOPE_GLOBAL) {
        snprintf(buf, size, "%s", scope_kind_names[s->kind]);
    } else {
        snprintf(buf, size, "%s \"%s\"", scope_kind_names[s->kind],
                 s->name);
    }
    return buf;
}

/* Writes 'port' (0 if out of range) in decimal to 'buf'. */
static const char *
port_key(int port, char buf[8])
{
    int pn = port >= 0 && port <= 65535 ? port : 0;
    size_t plen = 0;
    do {
        buf[plen++] = (char) ('0' + pn % 10);
        pn /= 10;
    } while (pn);
    for (size_t i = 0; i < plen / 2; i++) {
        char t = buf[i];
        buf[i] = buf[plen - 1 - i];
        buf[plen - 1 - i] = t;
    }
    buf[plen] = '\0';
    return buf;
}

/* What decided a verdict of decide_by_rules(). */
enum decider {
    BY_RULE, BY_UNKNOWN_APP, BY_CATALOGUE, BY_UNDEFINED, BY_NO_MATCH,
};

/* The rules decide 'v', or failing any, the defaults.  Returns which. */
static enum decider
decide_by_rules(struct policy *p, struct req_ctx *c,
                const struct probe *probes, size_t n_probes,
                struct policy_verdict *v)
{
    /* 3. The indexed candidates; their rules start loading. */
    int cands[64];
    size_t n_cands = 0;
    for (size_t i = 0; i < n_probes; i++) {
        const struct smap_entry *e = probe_find(&p->index, &probes[i]);
        for (size_t j = 0; e && j < e->n; j++) {
            int ri = smap_val(&p->index, e, j);
            if (n_cands < ARRAY_SIZE(cands)) {
                __builtin_prefetch(&p->rules[ri]);
                cands[n_cands++] = ri;
            } else {
                cands[n_cands - 1] = ri;    /* Overflow: see below. */
            }
        }
    }

    /* 4. The rules that no index key selects, while those load; then the
     * candidates.  Order does not matter: each scope keeps its best. */
    int touched[256];
    size_t n_touched = 0;
    for (size_t i = 0; i < p->n_wildcard; i++) {
        consider(p, c, p->wildcard[i], false, touched, &n_touched);
    }
    if (n_cands < ARRAY_SIZE(cands)) {
        for (size_t i = 0; i < n_cands; i++) {
            consider(p, c, cands[i], true, touched, &n_touched);
        }
    } else {
        /* More than 64 rules share keys with this request (rare): walk the
         * entries again rather than drop any. */
        for (size_t i = 0; i < n_probes; i++) {
            const struct smap_entry *e = probe_find(&p->index, &probes[i]);
            for (size_t j = 0; e && j < e->n; j++) {
                consider(p, c, smap_val(&p->index, e, j), true, touched,
                         &n_touched);
            }
        }
    }

    /* A deny from any scope wins; the outermost one is reported.  Else the
     * most specific allow. */
    int deny = -1, allow = -1, deny_pos = 0, allow_pos = 0;
    for (size_t i = 0; i < n_touched; i++) {
        const struct scope *s = &p->scopes[touched[i]];
        const struct rule *r = &p->rules[s->best];
        if (!r->allow && (deny < 0 || s->pos < deny_pos)) {
            deny = s->best;
            deny_pos = s->pos;
        } else if (r->allow && (allow < 0 || s->pos > allow_pos)) {
            allow = s->best;
            allow_pos = s->pos;
        }
    }

    const struct group *vg = &p->vm_groups[c->vm_group];
    const struct rule *r = deny >= 0 ? &p->rules[deny]
                           : allow >= 0 ? &p->rules[allow] : NULL;
    const struct service *known;
    if (r) {
        v->allow = r->allow;
        v->rule = r->id;
        v->log = r->has_log ? r->log : vg->log;
        v->notify = r->has_notify ? r->notify : vg->notify;
        v->ttl = r->ttl >= 0 ? r->ttl : p->default_ttl;
        v->granularity = r->gran >= 0 ? r->gran : p->default_gran;
        const struct scope *s = &p->scopes[r->scope];
        if (!r->allow && (s->kind == SCOPE_VM_GROUP
                          || s->kind == SCOPE_USER_GROUP)) {
            v->restricted_by = s->name;
        }
        v->reason = r->reason;
        if (deny >= 0 && allow >= 0) {
            char where[100];
            snprintf(v->reason_buf, sizeof v->reason_buf, "%.150s; it "
                     "overrides allow rule \"%s\" of %s (an allow cannot "
                     "lift a deny)", r->reason, p->rules[allow].id,
                     scope_desc(p, p->rules[allow].scope, where,
                                sizeof where));
            v->reason = v->reason_buf;
        }
        return BY_RULE;
    } else if (!c->app || c->app->match == APPID_MATCH_UNKNOWN) {
        v->allow = vg->unknown_allow;
        v->rule = "default:unknown-app";
        v->reason = vg->unknown_reason;
        return BY_UNKNOWN_APP;
    } else if ((known = find_service(p->protocols, p->n_protocols, c))) {
        /* Adding a protocol to the catalogue allows it everywhere until a
         * rule denies it. */
        v->allow = true;
        v->rule = known->rule;
        v->reason = known->reason;
        return BY_CATALOGUE;
    } else if (p->system.allow_undefined) {
        v->allow = true;
        v->rule = "default:undefined-protocol";
        v->reason = "no rule matched and no catalogue protocol covers it; "
                    "the system allows undefined protocols";
        return BY_UNDEFINED;
    } else {
        v->allow = false;
        v->rule = "default:no-match";
        v->reason = vg->nomatch_reason;
        return BY_NO_MATCH;
    }
}

/* Adds site list 'li' (-1: none) at chain position 'pos' to the
 * candidates. */
static void
site_cand_add(struct policy *p, int li, int pos, size_t *n)
{
    if (li >= 0) {
        p->site_cands[(*n)++] = (struct site_cand) { .list = li, .pos = pos };
    }
}

/* The site list for a VM or user not listed, under key 'prefix':'name'
 * (-1: none). */
static int
unlisted_site_list(const struct policy *p, char prefix, const char *name,
                   bool lower)
{
    return !p->unlisted_sites || !name || !*name ? -1
           : lower ? name_lookup_lower(p, prefix, name)
           : name_lookup(p, prefix, name);
}

/* Collects in p->site_cands the site lists of the request's chain, as
 * stamp_chain() marked it, outermost first; returns how many.  Positions
 * are twice the chain's, so that the lists of a VM or a user not listed
 * fit where its scope would be. */
static size_t
site_lists_of_chain(struct policy *p, const struct req_ctx *c)
{
    const struct policy_request *q = c->req;
    const int *ss = p->scope_sites;
    const struct scope *scopes = p->scopes;
    const struct group *vg = p->vm_groups, *ug = p->user_groups;
    size_t n = 0;

    site_cand_add(p, ss[0], 0, &n);
    for (int g = c->vm_group; g >= 0 && vg[g].stamp == c->stamp;
         g = vg[g].parent) {
        site_cand_add(p, ss[vg[g].scope], 2 * scopes[vg[g].scope].pos, &n);
    }
    int vm_pos = 2 * scopes[vg[c->vm_group].scope].pos + 1;
    if (c->vm >= 0) {
        site_cand_add(p, ss[p->vms[c->vm].scope], vm_pos, &n);
    } else {
        int by_uuid = unlisted_site_list(p, 'w', q->vm_uuid, true);
        int by_name = unlisted_site_list(p, 'w', q->vm_name, false);
        site_cand_add(p, by_uuid, vm_pos, &n);
        site_cand_add(p, by_name != by_uuid ? by_name : -1, vm_pos, &n);
    }

    /* The user's groups up to the root, each once (see 'walk_end'), the
     * root always; then the user. */
    site_cand_add(p, ss[ug[0].scope], 2 * scopes[ug[0].scope].pos, &n);
    if (c->user >= 0) {
        const struct user_entry *u = &p->users[c->user];
        for (size_t i = 0; i < u->n_groups; i++) {
            for (int g = u->groups[i]; g != u->walk_end[i] && g > 0;
                 g = ug[g].parent) {
                site_cand_add(p, ss[ug[g].scope], 2 * scopes[ug[g].scope].pos,
                              &n);
            }
        }
        site_cand_add(p, ss[u->scope], 2 * scopes[u->scope].pos, &n);
    } else {
        site_cand_add(p, unlisted_site_list(p, 'x', q->user, false),
                      INT_MAX, &n);
    }

    /* Outermost first; sibling groups in document order.  Few. */
    struct site_cand *cands = p->site_cands;
    for (size_t i = 1; i < n; i++) {
        struct site_cand t = cands[i];
        size_t j = i;
        for (; j > 0 && (cands[j - 1].pos > t.pos
                         || (cands[j - 1].pos == t.pos
                             && cands[j - 1].list > t.list)); j--) {
            cands[j] = cands[j - 1];
        }
        cands[j] = t;
    }
    return n;
}

/* Whether site list 'l' covers the request's protocol: it names none, or
 * one whose transport protocol and service port the request has. */
static bool
site_list_covers(const struct policy *p, const struct site_list *l,
                 const struct req_ctx *c)
{
    if (!l->pub.n_protocols) {
        return true;
    }
    for (size_t i = 0; i < l->pub.n_protocols; i++) {
        if (service_matches(&p->protocols[l->protocols[i]], c)) {
            return true;
        }
    }
    return false;
}

/* The first site of 'l' that the remote address is in, or -1: addresses
 * and prefixes first, in order, since they cost nothing, then host names,
 * as the request's site_has_addr() says. */
static int
site_list_find(const struct policy *p, const struct site_list *l,
               const struct policy_request *q)
{
    for (size_t i = 0; i < l->pub.n_sites; i++) {
        if (l->match[i].name < 0 && cidr_contains(&l->match[i].cidr,
                                                  &q->remote)) {
            return (int) i;
        }
    }
    for (size_t i = 0; q->site_has_addr && i < l->pub.n_sites; i++) {
        if (l->match[i].name >= 0
            && q->site_has_addr(p->site_names[l->match[i].name], &q->remote,
                                q->site_aux)) {
            return (int) i;
        }
    }
    return -1;
}

/* An address as people write it: IPv4 dotted, IPv6 in RFC 5952 form. */
static const char *
addr_format(const struct policy_addr *a, char buf[INET6_ADDRSTRLEN])
{
    static const uint8_t mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
    };
    bool v4 = !memcmp(a->b, mapped, sizeof mapped);
    if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? &a->b[12] : a->b, buf,
                   INET6_ADDRSTRLEN)) {
        snprintf(buf, INET6_ADDRSTRLEN, "?");
    }
    return buf;
}

/* The site lists restrict an allow ('v', decided by 'by') of an outbound
 * request with a remote address: every list of the chain that covers the
 * request's protocol must pass, and the outermost that does not denies
 * it.  Lists are examined outermost first, up to that one. */
static void
decide_by_sites(struct policy *p, const struct req_ctx *c,
                enum decider by, struct policy_verdict *v)
{
    const struct policy_request *q = c->req;
    size_t n = site_lists_of_chain(p, c);
    for (size_t i = 0; i < n; i++) {
        struct site_list *l = &p->site_lists[p->site_cands[i].list];
        p->examined++;
        p->n_site_examined++;
        l->result = -1;
        if (!site_list_covers(p, l, c)) {
            continue;
        }
        int site = site_list_find(p, l, q);
        bool allow_all = l->pub.mode == POLICY_SITES_ALLOW_ALL_EXCEPT;
        l->result = allow_all == (site < 0);
        if (l->result) {
            continue;
        }

        /* Within 'reason_buf': a rule id or a protocol name has at most
         * 64 bytes. */
        char addr[INET6_ADDRSTRLEN], overridden[78];
        addr_format(&q->remote, addr);
        if (by == BY_RULE) {
            snprintf(overridden, sizeof overridden, "allow rule \"%s\"",
                     v->rule);
        } else {
            snprintf(overridden, sizeof overridden, "%s", v->rule);
        }
        if (allow_all) {
            const struct site_match *m = &l->match[site];
            snprintf(v->reason_buf, sizeof v->reason_buf,
                     "%s is %ssite \"%.64s\" %.80s (allow-all-except); it "
                     "overrides %s", addr,
                     m->name < 0 && m->cidr.plen < 128 ? "in " : "",
                     l->sites[site].text, l->of, overridden);
        } else {
            snprintf(v->reason_buf, sizeof v->reason_buf,
                     "%s is not among %.100s (deny-all-except); it "
                     "overrides %s", addr, l->among, overridden);
        }
        const struct group *vg = &p->vm_groups[c->vm_group];
        v->allow = false;
        v->rule = l->pub.rule;
        v->restricted_by = l->restricted_by;
        v->log = l->pub.has_log ? l->pub.log : vg->log;
        v->notify = l->pub.has_notify ? l->pub.notify : vg->notify;
        v->ttl = p->default_ttl;
        v->granularity = p->default_gran;
        v->reason = v->reason_buf;
        return;
    }
}

/* Whether the request's executable gets no more than an unknown
 * application does: a memfd, a file under a directory anyone may write
 * to, or a copy of a known executable away from its install path (renamed,
 * or bind-mounted elsewhere: the agent reports the path the process ran
 * it by; appid gives the install path as the path looked up when a merged
 * /usr makes them one).  If so, says why in 'buf' and returns it; else
 * NULL. */
static const char *
untrusted_exe(const struct policy_request *q, char *buf, size_t size)
{
    const char *path = q->app_path ? q->app_path : "";
    if (q->app_memfd || exepath_is_memfd(path)) {
        snprintf(buf, size, "the executable is a memfd, in no file");
        return buf;
    }
    size_t len = exepath_len(path, q->app_deleted);
    const char *dir = exepath_temp_dir(path, len);
    if (dir) {
        snprintf(buf, size, "%.*s is under %s, where anyone may write",
                 (int) (len > 120 ? 120 : len), path, dir);
        return buf;
    }
    const struct appid_result *app = q->app;
    if (app && app->match == APPID_MATCH_EXACT && app->install_path
        && *app->install_path
        && (strlen(app->install_path) != len
            || memcmp(path, app->install_path, len))) {
        snprintf(buf, size, "%.*s is a copy of %.40s's %.100s",
                 (int) (len > 100 ? 100 : len), path, app->product,
                 app->install_path);
        return buf;
    }
    return NULL;
}

static int decide_request(struct policy *, const struct policy_request *,
                          struct policy_verdict *);

void
policy_decide(struct policy *p, const struct policy_request *q,
              struct policy_verdict *v)
{
    int vm_group = decide_request(p, q, v);

    /* An executable anyone could have put there gets at most what an
     * unknown application gets: if the rules allow it as identified, it
     * is decided again with no application (no hash, path or name to
     * match); a deny aimed at it as identified holds. */
    char why[256];
    if (v->allow && untrusted_exe(q, why, sizeof why)) {
        struct policy_request unknown = *q;
        unknown.app = NULL;
        unknown.app_path = NULL;
        unknown.app_sha256 = NULL;
        unknown.app_memfd = unknown.app_deleted = false;
        decide_request(p, &unknown, v);
        char copy[sizeof v->reason_buf];
        snprintf(copy, sizeof copy, "%s", v->reason);
        int n = snprintf(v->reason_buf, sizeof v->reason_buf, "%.200s, so "
                         "it is judged as an unknown application: ", why);
        snprintf(v->reason_buf + n, sizeof v->reason_buf - n, "%.*s",
                 (int) (sizeof v->reason_buf - n - 1), copy);
        v->reason = v->reason_buf;
    }

    /* Monitor mode (the VM group's) or simulation (the system's): a deny
     * becomes allow and log, and the reason says what would have happened.
     * One prefix only: monitor mode's, which names the group. */
    const struct group *vg = &p->vm_groups[vm_group];
    v->enforced = vg->mode != 1 && !p->system.simulate;
    if (!v->allow && !v->enforced) {
        char copy[sizeof v->reason_buf];
        /* "would have denied by rule ...", "would have denied: 10.0.0.9
         * is not among the sites ...". */
        snprintf(copy, sizeof copy, "%s%s",
                 strncmp(v->reason, "denied", 6) ? "denied: " : "",
                 v->reason);
        if (vg->mode == 1) {
            snprintf(v->reason_buf, sizeof v->reason_buf, "monitor mode (vm "
                     "group \"%.40s\"): would have %.240s", vg->name, copy);
        } else {
            snprintf(v->reason_buf, sizeof v->reason_buf, "simulation "
                     "(system): would have %.240s", copy);
        }
        v->reason = v->reason_buf;
        v->allow = true;
        v->monitored = true;
        v->log = true;
    }

    /* The system switches have the last word on logging and notifying. */
    v->log = v->log && p->system.logging;
    v->notify = v->notify && p->system.notify;
}

/* Decides 'q' by the global protocols, the rules, the defaults and the
 * site lists: policy_decide() before monitor mode, simulation and the
 * system switches.  Returns the index of the VM's group. */
static int
decide_request(struct policy *p, const struct policy_request *q,
               struct policy_verdict *v)
{
    struct req_ctx c = { .req = q, .app = q->app, .vm = -1, .user = -1 };
    c.stamp = ++p->stamp;
    p->examined = 0;
    p->n_site_examined = 0;

    const char *slash = q->app_path ? strrchr(q->app_path, '/') : NULL;
    c.app_name = slash ? slash + 1 : q->app_path;
    request_service(q, &c);

    /* 1. The index keys for this request; their slots start loading. */
    char rport[8], lport[8];
    port_key(q->remote_port, rport);
    struct probe probes[7];
    size_t n_probes = 0;
    probe_add(p, 's', q->app_sha256, false, probes, &n_probes);
    probe_add(p, 'n', c.app_name, false, probes, &n_probes);
    if (c.app) {
        probe_add(p, 'p', c.app->product, true, probes, &n_probes);
        probe_add(p, 'v', c.app->vendor, true, probes, &n_probes);
        probe_add(p, 'c', c.app->category, false, probes, &n_probes);
    }
    if (q->has_remote) {
        probe_add(p, 'r', rport, false, probes, &n_probes);
    }
    if (c.service_port >= 0) {
        probe_add(p, 'a', c.inbound ? port_key(q->local_port, lport) : rport,
                  false, probes, &n_probes);
    }

    /* 2. Who: the VM, its group, the user, and the chain of scopes. */
    if (q->vm_uuid && *q->vm_uuid) {
        char lower[64];
        snprintf(lower, sizeof lower, "%s", q->vm_uuid);
        for (char *k = lower; *k; k++) {
            *k = tolower((unsigned char) *k);
        }
        c.vm = name_lookup(p, 'u', lower);
    }
    if (c.vm < 0 && q->vm_name && *q->vm_name) {
        c.vm = name_lookup(p, 'n', q->vm_name);
    }
    c.vm_group = c.vm >= 0 ? p->vms[c.vm].group : 0;
    c.user = q->user && *q->user ? name_lookup(p, 'U', q->user) : -1;
    stamp_chain(p, &c);

    const struct group *vg = &p->vm_groups[c.vm_group];
    memset(v, 0, sizeof *v);
    v->vm_group = vg->name;
    v->ttl = p->default_ttl;
    v->granularity = p->default_gran;
    v->log = vg->log;
    v->notify = false;

    /* Global protocols come before every rule, whatever its scope or
     * priority: the first that matches decides, and no rule is examined.
     * Else the rules decide, then the defaults; the site lists may then
     * turn an allow into a deny, except the undefined-protocol default's
     * (the founding design's order: the site rules come before it). */
    const struct service *gp = find_service(p->globals, p->n_globals, &c);
    if (gp) {
        v->allow = gp->allow;
        v->rule = gp->rule;
        v->reason = gp->reason;
        v->log = gp->log;
        v->notify = gp->notify;
    } else {
        enum decider by = decide_by_rules(p, &c, probes, n_probes, v);
        if (v->allow && by != BY_UNDEFINED && !c.inbound && q->has_remote
            && p->n_site_lists) {
            decide_by_sites(p, &c, by, v);
        }
    }
    return c.vm_group;
}

int
policy_service_port(const struct policy_request *q)
{
    struct req_ctx c = { .req = q, .vm = -1, .user = -1 };
    request_service(q, &c);
    return c.service_port;
}

const char *
policy_protocol_name(const struct policy *p, const struct policy_request *q)
{
    struct req_ctx c = { .req = q, .vm = -1, .user = -1 };
    request_service(q, &c);
    const struct service *s = find_service(p->protocols, p->n_protocols, &c);
    return s ? s->rule + strlen("protocol:") : NULL;
}
