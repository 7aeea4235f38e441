/* The agent's local policy and fail modes.  See lpolicy.h. */
#include "lpolicy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "common/msg.h"
#include "common/schema.h"
#include "common/util.h"

#define LPOLICY_MAX_RULES 4096
#define LPOLICY_TTL_MAX 86400
#define LPOLICY_UID_MAX INT64_C(4294967294)

enum lpolicy_proto {
    LP_ANY,
    LP_TCP,
    LP_UDP,
    LP_ICMP
};

struct lpolicy_rule {
    char *id;
    bool allow;
    bool has_sha256;
    bool has_uid;
    bool has_remote;
    bool has_ports;             /* port_min or port_max given. */
    uint8_t sha256[32];
    char *name;                 /* NULL: any. */
    uint32_t uid;
    int event;                  /* enum vcache_event, or -1: any. */
    int direction;              /* VCACHE_OUTBOUND/INBOUND, or -1: any. */
    enum lpolicy_proto protocol;
    uint8_t family;             /* With 'has_remote': AF_INET or AF_INET6. */
    uint8_t plen;               /* Prefix length. */
    uint8_t addr[16];           /* Masked to 'plen' bits. */
    uint16_t port_min, port_max;
};

struct lpolicy {
    uint64_t version;
    bool default_allow;
    unsigned int ttl;
    size_t n_rules;
    struct lpolicy_rule *rules;
};

/* Parsing. */

static const char *
json_type_desc(const struct json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
        return "a number with a fraction";
    case json_type_int:
        return "an integer";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    }
    return "of an unknown type";
}

/* Returns a malloc'd copy of 's' fit for an error message: at most 64
 * bytes, with bytes outside printable ASCII and quotes replaced by '?'. */
static char *
sanitize(const char *s)
{
    size_t n = strnlen(s, 64);
    char *copy = xmalloc(n + 4);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        copy[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? c : '?';
    }
    strcpy(&copy[n], s[n] ? "..." : "");
    return copy;
}

/* Looks up member 'key' of 'obj', which must be 'type' ("an integer").
 * Returns NULL and stores the member (or NULL if absent and not 'required')
 * in '*valp', or an error.  A member that is null is not absent: it is of
 * the wrong type. */
static char *
get_member(const struct json_object *obj, const char *path, const char *key,
           const char *type, bool required, struct json_object **valp)
{
    if (!json_object_object_get_ex(obj, key, valp)) {
        *valp = NULL;
        return required ? xasprintf("%s.%s: missing", path, key) : NULL;
    }
    if (!*valp) {
        return xasprintf("%s.%s: must be %s, not null", path, key, type);
    }
    return NULL;
}

/* Gets integer member 'key' of 'obj' in 'min'..'max'.  Returns NULL and
 * sets '*present' (if nonnull; otherwise the member is required) and
 * '*valuep', or an error. */
static char *
get_int(const struct json_object *obj, const char *path, const char *key,
        int64_t min, int64_t max, bool *present, int64_t *valuep)
{
    struct json_object *v;
    char *error = get_member(obj, path, key, "an integer", !present, &v);
    if (present) {
        *present = v != NULL;
    }
    if (error || !v) {
        return error;
    }
    if (!json_object_is_type(v, json_type_int)) {
        return xasprintf("%s.%s: must be an integer, not %s", path, key,
                         json_type_desc(v));
    }
    int64_t value = json_object_get_int64(v);
    if (value == INT64_MAX && json_object_get_uint64(v) > INT64_MAX) {
        return xasprintf("%s.%s: %llu is out of range %lld..%lld", path,
                         key, (unsigned long long) json_object_get_uint64(v),
                         (long long) min, (long long) max);
    }
    if (value < min || value > max) {
        return xasprintf("%s.%s: %lld is out of range %lld..%lld", path, key,
                         (long long) value, (long long) min,
                         (long long) max);
    }
    *valuep = value;
    return NULL;
}

/* Gets string member 'key' of 'obj', 'min'..'max' bytes long without NUL
 * characters.  Returns NULL and stores the string (or NULL if absent and not
 * 'required') in '*sp', or an error. */
static char *
get_string(const struct json_object *obj, const char *path, const char *key,
           bool required, size_t min, size_t max, const char **sp)
{
    struct json_object *v;
    char *error = get_member(obj, path, key, "a string", required, &v);
    *sp = NULL;
    if (error || !v) {
        return error;
    }
    if (!json_object_is_type(v, json_type_string)) {
        return xasprintf("%s.%s: must be a string, not %s", path, key,
                         json_type_desc(v));
    }
    const char *s = json_object_get_string(v);
    size_t len = json_object_get_string_len(v);
    if (strlen(s) != len) {
        return xasprintf("%s.%s: contains a NUL character", path, key);
    }
    if (len < min || len > max) {
        return xasprintf("%s.%s: length %zu is out of range %zu..%zu", path,
                         key, len, min, max);
    }
    *sp = s;
    return NULL;
}

/* Gets string member 'key' of 'obj' that must be one of 'values' (a
 * NULL-terminated list).  Returns NULL and stores the index of the value
 * (or -1 if absent and not 'required') in '*indexp', or an error. */
static char *
get_enum(const struct json_object *obj, const char *path, const char *key,
         bool required, const char *const *values, int *indexp)
{
    const char *s;
    char *error = get_string(obj, path, key, required, 0, SIZE_MAX, &s);
    *indexp = -1;
    if (error || !s) {
        return error;
    }
    for (int i = 0; values[i]; i++) {
        if (!strcmp(s, values[i])) {
            *indexp = i;
            return NULL;
        }
    }

    char *list = xstrdup(values[0]);
    for (int i = 1; values[i]; i++) {
        char *longer = xasprintf("%s, %s", list, values[i]);
        free(list);
        list = longer;
    }
    char *clean = sanitize(s);
    error = xasprintf("%s.%s: \"%s\" is not one of %s", path, key, clean,
                      list);
    free(clean);
    free(list);
    return error;
}

static int
hex_value(char c)
{
    return (c >= '0' && c <= '9' ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : -1);
}

static char *
parse_sha256(const char *s, const char *path, uint8_t sha256[32])
{
    if (strlen(s) == 64) {
        int i;
        for (i = 0; i < 32; i++) {
            int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                break;
            }
            sha256[i] = hi << 4 | lo;
        }
        if (i == 32) {
            return NULL;
        }
    }
    return xasprintf("%s.sha256: must be 64 lowercase hex digits", path);
}

/* Parses CIDR 's' ("10.0.0.0/8", "fd00::/16", or an address alone: a host)
 * into 'r''s remote match. */
static char *
parse_cidr(const char *s, const char *path, struct lpolicy_rule *r)
{
    char *clean = sanitize(s);
    char *error = NULL;
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t) (slash - s) : strlen(s);

    if (alen >= sizeof addr) {
        error = xasprintf("%s.remote: \"%s\": not an IPv4 or IPv6 address",
                          path, clean);
        goto out;
    }
    memcpy(addr, s, alen);
    addr[alen] = '\0';

    int max;
    memset(r->addr, 0, sizeof r->addr);
    if (inet_pton(AF_INET, addr, r->addr) == 1) {
        r->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, r->addr) == 1) {
        r->family = AF_INET6;
        max = 128;
    } else {
        error = xasprintf("%s.remote: \"%s\": not an IPv4 or IPv6 address",
                          path, clean);
        goto out;
    }

    int plen = max;
    if (slash) {
        const char *p = slash + 1;
        size_t n = strlen(p);
        bool digits = n >= 1 && n <= 3;
        for (size_t i = 0; digits && i < n; i++) {
            digits = p[i] >= '0' && p[i] <= '9';
        }
        if (!digits) {
            error = xasprintf("%s.remote: \"%s\": the prefix length must be "
                              "a number", path, clean);
            goto out;
        }
        plen = atoi(p);
        if (plen > max) {
            error = xasprintf("%s.remote: \"%s\": prefix %d is out of range "
                              "0..%d", path, clean, plen, max);
            goto out;
        }
    }
    r->plen = plen;
    r->has_remote = true;

    /* Mask the host bits, so that "10.1.2.3/8" means 10.0.0.0/8. */
    for (int i = 0; i < 16; i++) {
        int bits = plen - 8 * i;
        if (bits <= 0) {
            r->addr[i] = 0;
        } else if (bits < 8) {
            r->addr[i] &= (uint8_t) (0xff << (8 - bits));
        }
    }

out:
    free(clean);
    return error;
}

static const char *const action_values[] = { "deny", "allow", NULL };
static const char *const protocol_values[] = {
    [LP_ANY] = "any", [LP_TCP] = "tcp", [LP_UDP] = "udp", [LP_ICMP] = "icmp",
    NULL
};
static const char *const direction_values[] = {
    [VCACHE_OUTBOUND] = "outbound", [VCACHE_INBOUND] = "inbound", NULL
};
static const char *const event_values[] = {
    [VC_CONNECT] = "connect", [VC_LISTEN] = "listen", [VC_ACCEPT] = "accept",
    [VC_SEND] = "send", [VC_CLOSE] = "close", NULL
};

static char *
parse_rule(const struct json_object *obj, const char *path,
           struct lpolicy_rule *r)
{
    const char *s;
    char *error;
    int index;
    int64_t value;
    bool present;

    if (!json_object_is_type(obj, json_type_object)) {
        return xasprintf("%s: must be an object, not %s", path,
                         json_type_desc(obj));
    }

    error = get_string(obj, path, "id", true, 1, 128, &s);
    if (error) {
        return error;
    }
    r->id = xstrdup(s);

    error = get_enum(obj, path, "action", true, action_values, &index);
    if (error) {
        return error;
    }
    r->allow = index == 1;

    error = get_string(obj, path, "sha256", false, 0, SIZE_MAX, &s);
    if (error || (s && (error = parse_sha256(s, path, r->sha256)))) {
        return error;
    }
    r->has_sha256 = s != NULL;

    error = get_string(obj, path, "name", false, 1, 255, &s);
    if (error) {
        return error;
    }
    r->name = s ? xstrdup(s) : NULL;

    error = get_int(obj, path, "uid", 0, LPOLICY_UID_MAX, &present, &value);
    if (error) {
        return error;
    }
    r->has_uid = present;
    r->uid = present ? value : 0;

    error = get_enum(obj, path, "event", false, event_values, &r->event);
    if (error) {
        return error;
    }

    error = get_enum(obj, path, "direction", false, direction_values,
                     &r->direction);
    if (error) {
        return error;
    }

    error = get_enum(obj, path, "protocol", false, protocol_values, &index);
    if (error) {
        return error;
    }
    r->protocol = index < 0 ? LP_ANY : index;

    error = get_string(obj, path, "remote", false, 0, SIZE_MAX, &s);
    if (error || (s && (error = parse_cidr(s, path, r)))) {
        return error;
    }

    error = get_int(obj, path, "port_min", 0, 65535, &present, &value);
    if (error) {
        return error;
    }
    r->port_min = present ? value : 0;
    r->has_ports = present;

    error = get_int(obj, path, "port_max", 0, 65535, &present, &value);
    if (error) {
        return error;
    }
    r->port_max = present ? value : 65535;
    r->has_ports |= present;

    if (r->port_min > r->port_max) {
        return xasprintf("%s.port_max: %u is below port_min %u", path,
                         (unsigned int) r->port_max,
                         (unsigned int) r->port_min);
    }
    return NULL;
}

struct lpolicy *
lpolicy_from_json(const struct json_object *obj, char **errorp)
{
    static const char path[] = "policy_push";
    struct lpolicy *p = xcalloc(1, sizeof *p);
    struct json_object *rules;
    int64_t value;
    bool present;
    int index;
    char *error;

    if (!json_object_is_type(obj, json_type_object)) {
        error = xasprintf("%s: must be an object, not %s", path,
                          json_type_desc(obj));
        goto error;
    }

    error = get_int(obj, path, "version", 0, MSG_INT_MAX, NULL, &value);
    if (error) {
        goto error;
    }
    p->version = value;

    error = get_enum(obj, path, "default", true, action_values, &index);
    if (error) {
        goto error;
    }
    p->default_allow = index == 1;

    error = get_int(obj, path, "ttl", 0, LPOLICY_TTL_MAX, &present, &value);
    if (error) {
        goto error;
    }
    p->ttl = present ? value : 0;

    error = get_member(obj, path, "rules", "an array", true, &rules);
    if (error) {
        goto error;
    }
    if (!json_object_is_type(rules, json_type_array)) {
        error = xasprintf("%s.rules: must be an array, not %s", path,
                          json_type_desc(rules));
        goto error;
    }
    size_t n = json_object_array_length(rules);
    if (n > LPOLICY_MAX_RULES) {
        error = xasprintf("%s.rules: %zu rules, more than %d", path, n,
                          LPOLICY_MAX_RULES);
        goto error;
    }

    p->rules = xcalloc(n ? n : 1, sizeof *p->rules);
    for (size_t i = 0; i < n; i++) {
        char *rpath = xasprintf("%s.rules[%zu]", path, i);
        /* Counted before parsing, so that lpolicy_destroy() frees what a
         * failed rule allocated. */
        p->n_rules++;
        error = parse_rule(json_object_array_get_idx(rules, i), rpath,
                           &p->rules[i]);
        free(rpath);
        if (error) {
            goto error;
        }
    }

    *errorp = NULL;
    return p;

error:
    lpolicy_destroy(p);
    *errorp = error;
    return NULL;
}

void
lpolicy_destroy(struct lpolicy *p)
{
    if (p) {
        for (size_t i = 0; i < p->n_rules; i++) {
            free(p->rules[i].id);
            free(p->rules[i].name);
        }
        free(p->rules);
        free(p);
    }
}

uint64_t
lpolicy_version(const struct lpolicy *p)
{
    return p->version;
}

bool
lpolicy_default_allow(const struct lpolicy *p)
{
    return p->default_allow;
}

unsigned int
lpolicy_ttl(const struct lpolicy *p)
{
    return p->ttl;
}

size_t
lpolicy_n_rules(const struct lpolicy *p)
{
    return p->n_rules;
}

/* Evaluation. */

static bool
protocol_matches(enum lpolicy_proto rule, uint8_t protocol)
{
    switch (rule) {
    case LP_ANY:
        return true;
    case LP_TCP:
        return protocol == IPPROTO_TCP;
    case LP_UDP:
        return protocol == IPPROTO_UDP;
    case LP_ICMP:
        return protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6;
    }
    return false;
}

static bool
remote_matches(const struct lpolicy_rule *r, const struct lpolicy_event *ev)
{
    if (ev->family != r->family) {
        return false;
    }
    int full = r->plen / 8, bits = r->plen % 8;
    if (memcmp(ev->addr, r->addr, full)) {
        return false;
    }
    if (bits) {
        uint8_t mask = 0xff << (8 - bits);
        return (ev->addr[full] & mask) == r->addr[full];
    }
    return true;
}

static bool
rule_matches(const struct lpolicy_rule *r, const struct lpolicy_event *ev)
{
    return ((r->event < 0 || r->event == (int) ev->event)
            && (r->direction < 0 || r->direction == ev->direction)
            && protocol_matches(r->protocol, ev->protocol)
            && (!r->has_ports
                || (ev->family
                    && ev->port >= r->port_min && ev->port <= r->port_max))
            && (!r->has_uid || r->uid == ev->uid)
            && (!r->has_remote || remote_matches(r, ev))
            && (!r->has_sha256
                || (ev->sha256 && !memcmp(r->sha256, ev->sha256, 32)))
            && (!r->name || (ev->name && !strcmp(r->name, ev->name))));
}

bool
lpolicy_eval(const struct lpolicy *p, const struct lpolicy_event *ev,
             const char **rule)
{
    for (size_t i = 0; i < p->n_rules; i++) {
        const struct lpolicy_rule *r = &p->rules[i];
        if (rule_matches(r, ev)) {
            if (rule) {
                *rule = r->id;
            }
            return r->allow;
        }
    }
    if (rule) {
        *rule = NULL;
    }
    return p->default_allow;
}

/* Persistence. */

char *
lpolicy_save(const struct json_object *push, const char *path)
{
    enum msg_type type;
    char *error = msg_validate(push, &type);
    if (error) {
        return error;
    }
    if (type != MSG_POLICY_PUSH) {
        return xasprintf("%s: not saved: a %s message, not policy_push",
                         path, msg_type_name(type));
    }
    struct lpolicy *p = lpolicy_from_json(push, &error);
    if (!p) {
        return error;
    }
    lpolicy_destroy(p);

    /* json-c's serializers take a non-const object: they keep the text in
     * it.  The message itself is not modified. */
    const char *text = json_object_to_json_string_ext(
        (struct json_object *) push, JSON_C_TO_STRING_PLAIN);
    if (!text) {
        return xasprintf("%s: cannot serialize the policy", path);
    }

    /* Mode 0600: the policy is the agent's business only. */
    char *line = xasprintf("%s\n", text);
    int err = file_replace_data(path, 0600, line, strlen(line));
    free(line);
    return err ? xasprintf("%s: cannot save the policy: %s", path,
                           strerror(err))
               : NULL;
}

/* Reads the regular file 'path' of at most LPOLICY_FILE_MAX bytes.  Returns
 * 0 and a malloc'd buffer in '*datap' and its length in '*lenp', or an
 * errno value (EFBIG if the file is too large, EINVAL if it is not a regular
 * file). */
static int
read_file(const char *path, char **datap, size_t *lenp)
{
    *datap = NULL;
    *lenp = 0;

    /* O_NONBLOCK: a FIFO planted at 'path' must not block the agent. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return errno;
    }

    int err = 0;
    struct stat st;
    if (fstat(fd, &st)) {
        err = errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        err = EINVAL;
        goto out;
    }
    if (st.st_size > LPOLICY_FILE_MAX) {
        err = EFBIG;
        goto out;
    }

    /* Read until end of file, whatever fstat() said: the file may change
     * under us.  One byte more than the limit tells a file that grew. */
    size_t cap = (size_t) st.st_size + 1, len = 0;
    char *data = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap > LPOLICY_FILE_MAX) {
                free(data);
                err = EFBIG;
                goto out;
            }
            cap = cap * 2 > LPOLICY_FILE_MAX + 1 ? LPOLICY_FILE_MAX + 1
                                                 : cap * 2;
            data = xrealloc(data, cap);
        }
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            err = errno;
            free(data);
            goto out;
        } else if (n == 0) {
            break;
        }
        len += n;
    }
    *datap = data;
    *lenp = len;

out:
    close(fd);
    return err;
}

struct lpolicy *
lpolicy_load(const char *path, struct json_object **json_out, char **errorp)
{
    struct json_object *obj = NULL;
    struct lpolicy *p = NULL;
    char *error = NULL;
    char *data;
    size_t len;

    int err = read_file(path, &data, &len);
    if (err == ENOENT) {
        goto out;
    } else if (err == EFBIG) {
        error = xasprintf("%s: larger than %d bytes", path, LPOLICY_FILE_MAX);
        goto out;
    } else if (err == EINVAL) {
        error = xasprintf("%s: not a regular file", path);
        goto out;
    } else if (err) {
        error = xasprintf("%s: %s", path, strerror(err));
        goto out;
    }

    error = schema_parse_json(data, len, MSG_MAX_DEPTH, path, &obj);
    free(data);
    if (error) {
        goto out;
    }

    enum msg_type type;
    char *reason = msg_validate(obj, &type);
    if (!reason && type != MSG_POLICY_PUSH) {
        reason = xasprintf("a %s message, not policy_push",
                           msg_type_name(type));
    }
    if (!reason) {
        p = lpolicy_from_json(obj, &reason);
    }
    if (reason) {
        error = xasprintf("%s: %s", path, reason);
        free(reason);
    }

out:
    if (!p) {
        json_object_put(obj);
        obj = NULL;
    }
    if (json_out) {
        *json_out = obj;
    } else {
        json_object_put(obj);
    }
    *errorp = error;
    return p;
}

/* Fail modes. */

static const char *const fail_mode_names[] = {
    [FAIL_CLOSED] = "closed",
    [FAIL_OPEN] = "open",
    [FAIL_CACHED] = "cached",
};

char *
fail_mode_parse(const char *s, enum fail_mode *mode)
{
    if (!s) {
        return xstrdup("missing fail mode (closed, open or cached)");
    }
    for (size_t i = 0; i < ARRAY_SIZE(fail_mode_names); i++) {
        if (!strcmp(s, fail_mode_names[i])) {
            *mode = i;
            return NULL;
        }
    }
    char *clean = sanitize(s);
    char *error = xasprintf("\"%s\" is not one of closed, open, cached",
                            clean);
    free(clean);
    return error;
}

const char *
fail_mode_name(enum fail_mode mode)
{
    return ((unsigned int) mode < ARRAY_SIZE(fail_mode_names)
            ? fail_mode_names[mode] : "unknown");
}

bool
fail_mode_decide(enum fail_mode mode, const struct lpolicy *p,
                 const struct lpolicy_event *ev, const char **rule)
{
    if (mode == FAIL_CACHED && p) {
        return lpolicy_eval(p, ev, rule);
    }
    if (rule) {
        *rule = NULL;
    }
    return mode == FAIL_OPEN;
}
