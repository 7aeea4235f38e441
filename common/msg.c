#include "msg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "frame.h"
#include "util.h"

/* The schema.
 *
 * Each message type is a list of fields; a field has a kind, whether it is
 * required, and bounds whose meaning depends on the kind:
 *   MF_INT: the value's range;
 *   MF_STRING: the length range in bytes;
 *   MF_ARRAY: the element count range ('elem' describes each element);
 * Strings never contain NUL bytes and are valid UTF-8 (the tokener checks).
 * A type may also have a check function for rules that span fields. */

enum mf_kind {
    MF_STRING,
    MF_INT,
    MF_BOOL,
    MF_ENUM,
    MF_IP,          /* IPv4 or IPv6 address. */
    MF_CIDR,        /* Address, optionally "/prefix". */
    MF_SHA256,      /* 64 lowercase hex digits. */
    MF_UUID,        /* 8-4-4-4-12 hex digits. */
    MF_MAC,         /* xx:xx:xx:xx:xx:xx. */
    MF_OBJECT,
    MF_ARRAY,
};

struct mf {
    const char *name;           /* NULL ends a list. */
    enum mf_kind kind;
    bool required;
    int64_t min, max;
    const char *const *values;  /* MF_ENUM: NULL-terminated. */
    const struct mf *sub;       /* MF_OBJECT: members; MF_ARRAY: element. */
};

#define F_STR(NAME, REQ, MIN, MAX) { NAME, MF_STRING, REQ, MIN, MAX, 0, 0 }
#define F_INT(NAME, REQ, MIN, MAX) { NAME, MF_INT, REQ, MIN, MAX, 0, 0 }
#define F_BOOL(NAME, REQ) { NAME, MF_BOOL, REQ, 0, 0, 0, 0 }
#define F_ENUM(NAME, REQ, VALUES) { NAME, MF_ENUM, REQ, 0, 0, VALUES, 0 }
#define F_KIND(NAME, KIND, REQ) { NAME, KIND, REQ, 0, 0, 0, 0 }
#define F_OBJ(NAME, REQ, SUB) { NAME, MF_OBJECT, REQ, 0, 0, 0, SUB }
#define F_ARRAY(NAME, REQ, MIN, MAX, ELEM) \
    { NAME, MF_ARRAY, REQ, MIN, MAX, 0, ELEM }
#define F_END { NULL, MF_BOOL, false, 0, 0, 0, 0 }

#define PID_MAX 4194304         /* Linux's PID_MAX_LIMIT. */
#define ID_MAX 4294967294LL     /* uid_t/gid_t without (uid_t) -1. */
#define OFPORT_MAX 65279        /* OFPP_MAX. */
#define TTL_MAX 86400

static const char *const event_values[] = {
    "connect", "listen", "accept", "send", "close", NULL
};
static const char *const proto_values[] = { "tcp", "udp", "icmp", NULL };
static const char *const rule_proto_values[] = {
    "tcp", "udp", "icmp", "any", NULL
};
static const char *const direction_values[] = {
    "outbound", "inbound", NULL
};
static const char *const verdict_values[] = { "allow", "deny", NULL };
static const char *const granularity_values[] = {
    "exact", "service", NULL
};
static const char *const role_values[] = {
    "agent", "switchd", "secd", "console", NULL
};
static const char *const trust_values[] = {
    "trusted", "known", "unknown", "untrusted", NULL
};
static const char *const threat_values[] = {
    "none", "low", "medium", "high", "critical", NULL
};
static const char *const match_values[] = {
    "exact", "pattern", "name", "unknown", NULL
};
static const char *const error_code_values[] = {
    "bad_frame", "bad_message", "version", "rate_limited", "overloaded",
    "unknown_vm", "unavailable", "timeout", "internal", NULL
};

static const struct mf endpoint_fields[] = {
    F_KIND("address", MF_IP, true),
    F_INT("port", true, 0, 65535),
    F_END
};

/* The VM a message belongs to.  Only appfw-switchd writes it: whatever a
 * guest puts here is replaced before the message goes on. */
static const struct mf vm_fields[] = {
    F_KIND("uuid", MF_UUID, true),
    F_STR("name", false, 0, 256),
    F_INT("ofport", false, 1, OFPORT_MAX),
    F_KIND("mac", MF_MAC, false),
    F_END
};

static const struct mf app_fields[] = {
    F_STR("path", true, 1, 4096),
    F_KIND("sha256", MF_SHA256, false),
    F_STR("name", false, 0, 255),
    F_INT("size", false, 0, MSG_INT_MAX),
    F_BOOL("deleted", false),
    F_BOOL("memfd", false),
    F_END
};

static const struct mf process_fields[] = {
    F_INT("pid", true, 1, PID_MAX),
    F_INT("ppid", false, 0, PID_MAX),
    F_STR("cmdline", false, 0, 4096),
    F_STR("cgroup", false, 0, 4096),
    F_STR("unit", false, 0, 256),
    F_END
};

static const struct mf user_fields[] = {
    F_INT("uid", true, 0, ID_MAX),
    F_STR("name", false, 0, 256),
    F_INT("gid", false, 0, ID_MAX),
    F_STR("group", false, 0, 256),
    F_STR("domain", false, 0, 253),
    F_STR("login", false, 0, 256),
    F_INT("login_uid", false, 0, ID_MAX),
    F_END
};

static const struct mf appinfo_fields[] = {
    F_STR("product", false, 0, 256),
    F_STR("vendor", false, 0, 256),
    F_STR("version", false, 0, 128),
    F_STR("category", false, 0, 64),
    F_ENUM("trust", false, trust_values),
    F_ENUM("threat", false, threat_values),
    F_ENUM("match", false, match_values),
    F_INT("confidence", false, 0, 100),
    F_END
};

static const struct mf hello_fields[] = {
    F_INT("version_min", true, 1, 65535),
    F_INT("version_max", true, 1, 65535),
    F_ENUM("role", true, role_values),
    F_STR("software", false, 0, 256),
    F_ARRAY("capabilities", false, 0, 32,
            (&(const struct mf) F_STR("capability", true, 1, 32))),
    F_END
};

static const struct mf decide_fields[] = {
    F_INT("id", true, 1, MSG_INT_MAX),
    F_ENUM("event", true, event_values),
    F_ENUM("protocol", true, proto_values),
    F_ENUM("direction", true, direction_values),
    F_OBJ("local", true, endpoint_fields),
    F_OBJ("remote", false, endpoint_fields),
    F_OBJ("app", true, app_fields),
    F_OBJ("process", true, process_fields),
    F_OBJ("user", true, user_fields),
    F_OBJ("vm", false, vm_fields),
    F_INT("cookie", false, 0, MSG_INT_MAX),
    F_END
};

static const struct mf verdict_fields[] = {
    F_INT("id", true, 1, MSG_INT_MAX),
    F_ENUM("verdict", true, verdict_values),
    F_STR("rule", false, 0, 128),
    F_STR("reason", false, 0, 512),
    F_INT("ttl", false, 0, TTL_MAX),
    F_ENUM("granularity", false, granularity_values),
    F_BOOL("log", false),
    F_BOOL("notify", false),
    F_INT("policy_version", false, 0, MSG_INT_MAX),
    F_OBJ("app", false, appinfo_fields),
    F_END
};

static const struct mf flow_open_fields[] = {
    F_ENUM("event", false, event_values),
    F_ENUM("protocol", true, proto_values),
    F_ENUM("direction", true, direction_values),
    F_OBJ("local", true, endpoint_fields),
    F_OBJ("remote", true, endpoint_fields),
    F_KIND("sha256", MF_SHA256, false),
    F_INT("uid", false, 0, ID_MAX),
    F_STR("rule", false, 0, 128),
    F_INT("cookie", false, 0, MSG_INT_MAX),
    F_OBJ("vm", false, vm_fields),
    F_END
};

static const struct mf counters_fields[] = {
    F_ENUM("protocol", true, proto_values),
    F_ENUM("direction", false, direction_values),
    F_OBJ("local", true, endpoint_fields),
    F_OBJ("remote", true, endpoint_fields),
    F_KIND("sha256", MF_SHA256, false),
    F_INT("uid", false, 0, ID_MAX),
    F_INT("cookie", false, 0, MSG_INT_MAX),
    F_INT("bytes_in", false, 0, MSG_INT_MAX),
    F_INT("bytes_out", false, 0, MSG_INT_MAX),
    F_INT("packets_in", false, 0, MSG_INT_MAX),
    F_INT("packets_out", false, 0, MSG_INT_MAX),
    F_INT("duration_ms", false, 0, MSG_INT_MAX),
    F_OBJ("vm", false, vm_fields),
    F_END
};

static const struct mf stats_fields[] = {
    F_INT("interval", true, 1, TTL_MAX),
    F_ARRAY("flows", true, 0, 1024,
            (&(const struct mf) F_OBJ("flow", true, counters_fields))),
    F_OBJ("vm", false, vm_fields),
    F_END
};

static const struct mf push_rule_fields[] = {
    F_STR("id", true, 1, 128),
    F_ENUM("action", true, verdict_values),
    F_KIND("sha256", MF_SHA256, false),
    F_STR("name", false, 1, 255),
    F_INT("uid", false, 0, ID_MAX),
    F_ENUM("event", false, event_values),
    F_ENUM("protocol", false, rule_proto_values),
    F_ENUM("direction", false, direction_values),
    F_KIND("remote", MF_CIDR, false),
    F_INT("port_min", false, 0, 65535),
    F_INT("port_max", false, 0, 65535),
    F_END
};

static const struct mf policy_push_fields[] = {
    F_INT("version", true, 0, MSG_INT_MAX),
    F_ENUM("default", true, verdict_values),
    F_INT("ttl", false, 0, TTL_MAX),
    F_ARRAY("rules", true, 0, 4096,
            (&(const struct mf) F_OBJ("rule", true, push_rule_fields))),
    F_END
};

static const struct mf heartbeat_fields[] = {
    F_INT("seq", true, 0, MSG_INT_MAX),
    F_INT("time_ms", false, 0, MSG_INT_MAX),
    F_END
};

static const struct mf error_fields[] = {
    F_ENUM("code", true, error_code_values),
    F_STR("message", true, 0, 1024),
    F_INT("id", false, 0, MSG_INT_MAX),
    F_STR("field", false, 0, 256),
    F_END
};

/* Path of the field being validated, for error messages. */
struct mpath {
    char s[256];
    size_t len;
};

typedef char *msg_check_func(const struct json_object *, struct mpath *);

static char *decide_check(const struct json_object *, struct mpath *);
static char *hello_check(const struct json_object *, struct mpath *);
static char *policy_push_check(const struct json_object *, struct mpath *);

static const struct msg_schema {
    const char *name;
    const struct mf *fields;
    msg_check_func *check;
} schemas[MSG_N_TYPES] = {
    [MSG_HELLO] = { "hello", hello_fields, hello_check },
    [MSG_DECIDE] = { "decide", decide_fields, decide_check },
    [MSG_VERDICT] = { "verdict", verdict_fields, NULL },
    [MSG_FLOW_OPEN] = { "flow_open", flow_open_fields, NULL },
    [MSG_FLOW_CLOSE] = { "flow_close", counters_fields, NULL },
    [MSG_STATS] = { "stats", stats_fields, NULL },
    [MSG_POLICY_PUSH] = { "policy_push", policy_push_fields,
                          policy_push_check },
    [MSG_HEARTBEAT] = { "heartbeat", heartbeat_fields, NULL },
    [MSG_ERROR] = { "error", error_fields, NULL },
};

const char *
msg_type_name(enum msg_type type)
{
    return type < MSG_N_TYPES ? schemas[type].name : "unknown";
}

bool
msg_type_from_name(const char *name, enum msg_type *type)
{
    for (size_t i = 0; i < MSG_N_TYPES; i++) {
        if (!strcmp(name, schemas[i].name)) {
            *type = i;
            return true;
        }
    }
    return false;
}

/* Paths. */

static size_t
mpath_push(struct mpath *p, const char *name, int index)
{
    size_t old = p->len;
    size_t room = sizeof p->s - p->len;
    int n = index < 0
            ? snprintf(p->s + p->len, room, "%s%s", p->len ? "." : "", name)
            : snprintf(p->s + p->len, room, "[%d]", index);
    if (n > 0) {
        p->len = (size_t) n < room ? p->len + n : sizeof p->s - 1;
    }
    return old;
}

static void
mpath_pop(struct mpath *p, size_t old)
{
    p->len = old;
    p->s[old] = '\0';
}

static char *
mpath_error(const struct mpath *p, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static char *
mpath_error(const struct mpath *p, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char *detail = xvasprintf(format, args);
    va_end(args);
    char *msg = xasprintf("%s: %s", p->s, detail);
    free(detail);
    return msg;
}

/* Syntax checks for string kinds. */

static bool
is_hex_run(const char *s, size_t n, bool lower_only)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (!(isdigit(c) || (c >= 'a' && c <= 'f')
              || (!lower_only && c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

static bool
is_ip(const char *s)
{
    uint8_t addr[16];
    return inet_pton(AF_INET, s, addr) == 1
           || inet_pton(AF_INET6, s, addr) == 1;
}

static bool
is_cidr(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash) {
        return is_ip(s);
    }

    char addr[INET6_ADDRSTRLEN];
    size_t alen = slash - s;
    if (alen == 0 || alen >= sizeof addr) {
        return false;
    }
    memcpy(addr, s, alen);
    addr[alen] = '\0';

    uint8_t bin[16];
    int max;
    if (inet_pton(AF_INET, addr, bin) == 1) {
        max = 32;
    } else if (inet_pton(AF_INET6, addr, bin) == 1) {
        max = 128;
    } else {
        return false;
    }

    const char *p = slash + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen > 3) {
        return false;
    }
    int prefix = 0;
    for (; *p; p++) {
        if (!isdigit((unsigned char) *p)) {
            return false;
        }
        prefix = prefix * 10 + (*p - '0');
    }
    return prefix <= max;
}

static bool
is_uuid(const char *s, size_t n)
{
    static const size_t dash[] = { 8, 13, 18, 23 };
    if (n != 36) {
        return false;
    }
    for (size_t i = 0, d = 0; i < n; i++) {
        if (d < ARRAY_SIZE(dash) && i == dash[d]) {
            if (s[i] != '-') {
                return false;
            }
            d++;
        } else if (!is_hex_run(s + i, 1, false)) {
            return false;
        }
    }
    return true;
}

static bool
is_mac(const char *s, size_t n)
{
    if (n != 17) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (i % 3 == 2 ? s[i] != ':' : !is_hex_run(s + i, 1, false)) {
            return false;
        }
    }
    return true;
}

/* Validation. */

static char *validate_object(const struct json_object *,
                             const struct mf *fields, struct mpath *);

static const char *
json_type_noun(enum json_type t)
{
    switch (t) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double: return "a number with a fraction";
    case json_type_int: return "an integer";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "a value of unknown type";
}

static char *
type_error(const struct mpath *p, const char *want,
           const struct json_object *v)
{
    return mpath_error(p, "must be %s, not %s", want,
                       json_type_noun(json_object_get_type(v)));
}

static char *
validate_int(const struct json_object *v, const struct mf *f,
             struct mpath *p)
{
    if (!json_object_is_type(v, json_type_int)) {
        return type_error(p, "an integer", v);
    }
    int64_t x = json_object_get_int64(v);
    if (x == INT64_MAX) {
        /* json-c saturates values above INT64_MAX; show the real one. */
        uint64_t u = json_object_get_uint64(v);
        if (u == UINT64_MAX) {
            /* Saturated again: the text held an even larger number. */
            return mpath_error(p, "too large, out of range %lld..%lld",
                               (long long) f->min, (long long) f->max);
        }
        if (u > (uint64_t) f->max) {
            return mpath_error(p, "%llu out of range %lld..%lld",
                               (unsigned long long) u, (long long) f->min,
                               (long long) f->max);
        }
    }
    if (x < f->min || x > f->max) {
        return mpath_error(p, "%lld out of range %lld..%lld", (long long) x,
                           (long long) f->min, (long long) f->max);
    }
    return NULL;
}

static char *
validate_string(const struct json_object *v, const struct mf *f,
                struct mpath *p)
{
    if (!json_object_is_type(v, json_type_string)) {
        return type_error(p, "a string", v);
    }
    const char *s = json_object_get_string((struct json_object *) v);
    size_t n = (size_t) json_object_get_string_len(v);
    if (strlen(s) != n) {
        return mpath_error(p, "contains a NUL character");
    }

    switch (f->kind) {
    case MF_STRING:
        if ((int64_t) n < f->min || (int64_t) n > f->max) {
            return f->min == 0
                   ? mpath_error(p, "longer than %lld bytes",
                                 (long long) f->max)
                   : mpath_error(p, "length %zu out of range %lld..%lld", n,
                                 (long long) f->min, (long long) f->max);
        }
        return NULL;

    case MF_ENUM:
        for (const char *const *e = f->values; *e; e++) {
            if (!strcmp(s, *e)) {
                return NULL;
            }
        }
        {
            char allowed[256] = "";
            size_t len = 0;
            for (const char *const *e = f->values; *e; e++) {
                int k = snprintf(allowed + len, sizeof allowed - len, "%s%s",
                                 len ? ", " : "", *e);
                if (k < 0 || (size_t) k >= sizeof allowed - len) {
                    break;
                }
                len += k;
            }
            return mpath_error(p, "\"%.64s\" is not one of %s", s, allowed);
        }

    case MF_IP:
        return n <= 45 && is_ip(s)
               ? NULL
               : mpath_error(p, "\"%.64s\" is not an IPv4 or IPv6 address",
                             s);

    case MF_CIDR:
        return n <= 49 && is_cidr(s)
               ? NULL
               : mpath_error(p, "\"%.64s\" is not an address or "
                             "address/prefix", s);

    case MF_SHA256:
        return n == 64 && is_hex_run(s, n, true)
               ? NULL
               : mpath_error(p, "must be 64 lowercase hex digits");

    case MF_UUID:
        return is_uuid(s, n)
               ? NULL
               : mpath_error(p, "\"%.64s\" is not a UUID", s);

    case MF_MAC:
        return is_mac(s, n)
               ? NULL
               : mpath_error(p, "\"%.64s\" is not a MAC address", s);

    case MF_INT:
    case MF_BOOL:
    case MF_OBJECT:
    case MF_ARRAY:
    default:
        abort();
    }
}

static char *
validate_value(const struct json_object *v, const struct mf *f,
               struct mpath *p)
{
    switch (f->kind) {
    case MF_INT:
        return validate_int(v, f, p);

    case MF_BOOL:
        return json_object_is_type(v, json_type_boolean)
               ? NULL : type_error(p, "true or false", v);

    case MF_OBJECT:
        return json_object_is_type(v, json_type_object)
               ? validate_object(v, f->sub, p)
               : type_error(p, "an object", v);

    case MF_ARRAY: {
        if (!json_object_is_type(v, json_type_array)) {
            return type_error(p, "an array", v);
        }
        size_t n = json_object_array_length(v);
        if ((int64_t) n < f->min || (int64_t) n > f->max) {
            return mpath_error(p, "has %zu elements, not %lld..%lld", n,
                               (long long) f->min, (long long) f->max);
        }
        for (size_t i = 0; i < n; i++) {
            size_t mark = mpath_push(p, NULL, (int) i);
            char *error = validate_value(json_object_array_get_idx(v, i),
                                         f->sub, p);
            if (error) {
                return error;
            }
            mpath_pop(p, mark);
        }
        return NULL;
    }

    case MF_STRING:
    case MF_ENUM:
    case MF_IP:
    case MF_CIDR:
    case MF_SHA256:
    case MF_UUID:
    case MF_MAC:
    default:
        return validate_string(v, f, p);
    }
}

static char *
validate_object(const struct json_object *obj, const struct mf *fields,
                struct mpath *p)
{
    for (const struct mf *f = fields; f->name; f++) {
        struct json_object *v;
        size_t mark = mpath_push(p, f->name, -1);
        if (!json_object_object_get_ex(obj, f->name, &v)) {
            if (f->required) {
                return mpath_error(p, "missing");
            }
        } else {
            char *error = validate_value(v, f, p);
            if (error) {
                return error;
            }
        }
        mpath_pop(p, mark);
    }
    return NULL;
}

/* Rules that span fields. */

static char *
decide_check(const struct json_object *obj, struct mpath *p)
{
    const char *event = msg_get_string(obj, "event", "");
    if (strcmp(event, "listen") && !msg_get(obj, "remote")) {
        mpath_push(p, "remote", -1);
        return mpath_error(p, "missing (required unless event is listen)");
    }
    return NULL;
}

static char *
hello_check(const struct json_object *obj, struct mpath *p)
{
    int64_t min = msg_get_int(obj, "version_min", 0);
    int64_t max = msg_get_int(obj, "version_max", 0);
    if (min > max) {
        mpath_push(p, "version_max", -1);
        return mpath_error(p, "%lld is below version_min %lld",
                           (long long) max, (long long) min);
    }
    return NULL;
}

static char *
policy_push_check(const struct json_object *obj, struct mpath *p)
{
    struct json_object *rules = msg_get(obj, "rules");
    size_t n = json_object_array_length(rules);
    for (size_t i = 0; i < n; i++) {
        struct json_object *r = json_object_array_get_idx(rules, i);
        int64_t min = msg_get_int(r, "port_min", 0);
        int64_t max = msg_get_int(r, "port_max", 65535);
        if (min > max) {
            mpath_push(p, "rules", -1);
            mpath_push(p, NULL, (int) i);
            mpath_push(p, "port_max", -1);
            return mpath_error(p, "%lld is below port_min %lld",
                               (long long) max, (long long) min);
        }
    }
    return NULL;
}

char *
msg_validate(const struct json_object *obj, enum msg_type *typep)
{
    struct mpath p = { .s = "message", .len = strlen("message") };

    if (!json_object_is_type(obj, json_type_object)) {
        return type_error(&p, "an object", obj);
    }

    struct json_object *tv;
    if (!json_object_object_get_ex(obj, "type", &tv)) {
        return xstrdup("message.type: missing");
    }
    if (!json_object_is_type(tv, json_type_string)) {
        mpath_push(&p, "type", -1);
        return type_error(&p, "a string", tv);
    }

    const char *name = json_object_get_string(tv);
    enum msg_type type;
    if (strlen(name) != (size_t) json_object_get_string_len(tv)
        || !msg_type_from_name(name, &type)) {
        return xasprintf("message.type: unknown type \"%.64s\"", name);
    }

    const struct msg_schema *schema = &schemas[type];
    snprintf(p.s, sizeof p.s, "%s", schema->name);
    p.len = strlen(p.s);

    char *error = validate_object(obj, schema->fields, &p);
    if (!error && schema->check) {
        error = schema->check(obj, &p);
    }
    if (!error && typep) {
        *typep = type;
    }
    return error;
}

char *
msg_parse(const void *data, size_t len, struct json_object **objp,
          enum msg_type *typep)
{
    *objp = NULL;
    if (len == 0) {
        return xstrdup("message: empty");
    }
    if (len > FRAME_MAX_LEN) {
        return xasprintf("message: %zu bytes exceeds the maximum of %d",
                         len, FRAME_MAX_LEN);
    }

    struct json_tokener *tok = json_tokener_new_ex(MSG_MAX_DEPTH);
    if (!tok) {
        return xstrdup("message: out of memory");
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT
                                | JSON_TOKENER_VALIDATE_UTF8);

    struct json_object *obj = json_tokener_parse_ex(tok, data, (int) len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue) {
        /* All 'len' bytes were consumed, and the payload is complete: a NUL
         * tells the tokener so, which ends a bare top-level number and
         * leaves anything unfinished unfinished. */
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }
    json_tokener_free(tok);

    if (jerr == json_tokener_continue || jerr == json_tokener_error_parse_eof) {
        json_object_put(obj);
        return xstrdup("message: truncated JSON");
    }
    if (jerr != json_tokener_success) {
        json_object_put(obj);
        if (jerr == json_tokener_error_depth) {
            return xasprintf("message: nesting deeper than %d levels",
                             MSG_MAX_DEPTH);
        }
        return xasprintf("message: invalid JSON at byte %zu: %s", end,
                         json_tokener_error_desc(jerr));
    }
    if (end < len) {
        json_object_put(obj);
        return xasprintf("message: unexpected data after the JSON object "
                         "at byte %zu", end);
    }

    char *error = msg_validate(obj, typep);
    if (error) {
        json_object_put(obj);
        return error;
    }
    *objp = obj;
    return NULL;
}

struct json_object *
msg_create(enum msg_type type)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "type",
                           json_object_new_string(msg_type_name(type)));
    return obj;
}

struct json_object *
msg_error_create(const char *code, int64_t id, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char *text = xvasprintf(format, args);
    va_end(args);

    /* Keep within the schema's limit even for long texts. */
    if (strlen(text) > 1024) {
        text[1024] = '\0';
    }

    struct json_object *obj = msg_create(MSG_ERROR);
    json_object_object_add(obj, "code", json_object_new_string(code));
    json_object_object_add(obj, "message", json_object_new_string(text));
    if (id > 0) {
        json_object_object_add(obj, "id", json_object_new_int64(id));
    }
    free(text);
    return obj;
}

int
msg_encode(const struct json_object *obj, struct buf *out)
{
    size_t len;
    const char *s = json_object_to_json_string_length(
        (struct json_object *) obj,
        JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (!s) {
        return ENOMEM;
    }
    return frame_encode(out, s, len);
}

char *
msg_hello_negotiate(const struct json_object *hello, int min, int max,
                    int *version)
{
    int64_t peer_min = msg_get_int(hello, "version_min", 0);
    int64_t peer_max = msg_get_int(hello, "version_max", 0);
    int64_t hi = peer_max < max ? peer_max : max;
    int64_t lo = peer_min > min ? peer_min : min;
    if (hi < lo) {
        return xasprintf("hello: peer speaks versions %lld..%lld, "
                         "we speak %d..%d", (long long) peer_min,
                         (long long) peer_max, min, max);
    }
    *version = (int) hi;
    return NULL;
}

/* Accessors. */

struct json_object *
msg_get(const struct json_object *obj, const char *path)
{
    struct json_object *cur = (struct json_object *) obj;
    const char *p = path;

    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t) (dot - p) : strlen(p);
        char key[64];
        if (n >= sizeof key || !json_object_is_type(cur, json_type_object)) {
            return NULL;
        }
        memcpy(key, p, n);
        key[n] = '\0';
        if (!json_object_object_get_ex(cur, key, &cur)) {
            return NULL;
        }
        p += n + (dot != NULL);
    }
    return cur;
}

const char *
msg_get_string(const struct json_object *obj, const char *path,
               const char *dflt)
{
    struct json_object *v = msg_get(obj, path);
    return json_object_is_type(v, json_type_string)
           ? json_object_get_string(v) : dflt;
}

int64_t
msg_get_int(const struct json_object *obj, const char *path, int64_t dflt)
{
    struct json_object *v = msg_get(obj, path);
    return json_object_is_type(v, json_type_int)
           ? json_object_get_int64(v) : dflt;
}

bool
msg_get_bool(const struct json_object *obj, const char *path, bool dflt)
{
    struct json_object *v = msg_get(obj, path);
    return json_object_is_type(v, json_type_boolean)
           ? json_object_get_boolean(v) : dflt;
}
