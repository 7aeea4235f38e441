#include "schema.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <json-c/json.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Validation context: the path of the member being checked. */
struct vctx {
    char s[256];
    size_t len;
    bool strict;
};

/* Paths.  Each checked member is pushed and popped, also for valid
 * messages, so this avoids printf: it is on every message's path. */

/* Appends 'n' bytes of 's', as much as fits. */
static void
vctx_put(struct vctx *p, const char *s, size_t n)
{
    size_t room = sizeof p->s - 1 - p->len;
    if (n > room) {
        n = room;
    }
    memcpy(p->s + p->len, s, n);
    p->len += n;
    p->s[p->len] = '\0';
}

/* Appends ".name" (or "name" at the start) to the path; returns the old
 * length for vctx_pop(). */
static size_t
vctx_push(struct vctx *p, const char *name)
{
    size_t old = p->len;
    if (old) {
        vctx_put(p, ".", 1);
    }
    vctx_put(p, name, strlen(name));
    return old;
}

/* Appends "[index]". */
static size_t
vctx_push_index(struct vctx *p, size_t index)
{
    size_t old = p->len;
    char digits[24];
    char *d = digits + sizeof digits;
    *--d = ']';
    do {
        *--d = (char) ('0' + index % 10);
        index /= 10;
    } while (index);
    *--d = '[';
    vctx_put(p, d, (size_t) (digits + sizeof digits - d));
    return old;
}

static void
vctx_pop(struct vctx *p, size_t old)
{
    p->len = old;
    p->s[old] = '\0';
}

static char *
vctx_error(const struct vctx *p, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static char *
vctx_error(const struct vctx *p, const char *format, ...)
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

bool
schema_is_ip(const char *s)
{
    uint8_t addr[16];
    return inet_pton(AF_INET, s, addr) == 1
           || inet_pton(AF_INET6, s, addr) == 1;
}

bool
schema_is_cidr(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash) {
        return schema_is_ip(s);
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
                             const struct schema_field *fields, struct vctx *);

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
type_error(const struct vctx *p, const char *want,
           const struct json_object *v)
{
    return vctx_error(p, "must be %s, not %s", want,
                       json_type_noun(json_object_get_type(v)));
}

static char *
validate_int(const struct json_object *v, const struct schema_field *f,
             struct vctx *p)
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
            return vctx_error(p, "too large, out of range %lld..%lld",
                               (long long) f->min, (long long) f->max);
        }
        if (u > (uint64_t) f->max) {
            return vctx_error(p, "%llu out of range %lld..%lld",
                               (unsigned long long) u, (long long) f->min,
                               (long long) f->max);
        }
    }
    if (x < f->min || x > f->max) {
        return vctx_error(p, "%lld out of range %lld..%lld", (long long) x,
                           (long long) f->min, (long long) f->max);
    }
    return NULL;
}

static char *
validate_string(const struct json_object *v, const struct schema_field *f,
                struct vctx *p)
{
    if (!json_object_is_type(v, json_type_string)) {
        return type_error(p, "a string", v);
    }
    const char *s = json_object_get_string((struct json_object *) v);
    size_t n = (size_t) json_object_get_string_len(v);
    if (strlen(s) != n) {
        return vctx_error(p, "contains a NUL character");
    }

    switch (f->kind) {
    case SK_STRING:
        if ((int64_t) n < f->min || (int64_t) n > f->max) {
            return f->min == 0
                   ? vctx_error(p, "longer than %lld bytes",
                                 (long long) f->max)
                   : vctx_error(p, "length %zu out of range %lld..%lld", n,
                                 (long long) f->min, (long long) f->max);
        }
        return NULL;

    case SK_ENUM:
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
            return vctx_error(p, "\"%.64s\" is not one of %s", s, allowed);
        }

    case SK_IP:
        return n <= 45 && schema_is_ip(s)
               ? NULL
               : vctx_error(p, "\"%.64s\" is not an IPv4 or IPv6 address",
                             s);

    case SK_CIDR:
        return n <= 49 && schema_is_cidr(s)
               ? NULL
               : vctx_error(p, "\"%.64s\" is not an address or "
                             "address/prefix", s);

    case SK_SHA256:
        return n == 64 && is_hex_run(s, n, true)
               ? NULL
               : vctx_error(p, "must be 64 lowercase hex digits");

    case SK_UUID:
        return is_uuid(s, n)
               ? NULL
               : vctx_error(p, "\"%.64s\" is not a UUID", s);

    case SK_MAC:
        return is_mac(s, n)
               ? NULL
               : vctx_error(p, "\"%.64s\" is not a MAC address", s);

    case SK_INT:
    case SK_BOOL:
    case SK_OBJECT:
    case SK_ARRAY:
    default:
        abort();
    }
}

bool
schema_parse_ports(const struct json_object *v, int *lo, int *hi)
{
    if (json_object_is_type(v, json_type_int)) {
        int64_t x = json_object_get_int64(v);
        if (x < 0 || x > 65535) {
            return false;
        }
        *lo = *hi = (int) x;
        return true;
    }
    if (!json_object_is_type(v, json_type_string)) {
        return false;
    }
    const char *s = json_object_get_string((struct json_object *) v);
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || *end != '-' || !isdigit((unsigned char) end[1])) {
        return false;
    }
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (*end || a < 0 || b > 65535 || a > b || !isdigit((unsigned char) *s)) {
        return false;
    }
    *lo = (int) a;
    *hi = (int) b;
    return true;
}

static char *
validate_value(const struct json_object *v, const struct schema_field *f,
               struct vctx *p)
{
    switch (f->kind) {
    case SK_INT:
        return validate_int(v, f, p);

    case SK_PORTS: {
        int lo, hi;
        if (schema_parse_ports(v, &lo, &hi)) {
            return NULL;
        }
        return json_object_is_type(v, json_type_int)
               ? vctx_error(p, "%lld out of range 0..65535",
                            (long long) json_object_get_int64(v))
               : json_object_is_type(v, json_type_string)
               ? vctx_error(p, "\"%.32s\" is not a port range LO-HI with "
                            "0 <= LO <= HI <= 65535",
                            json_object_get_string((struct json_object *) v))
               : type_error(p, "a port or a \"LO-HI\" string", v);
    }

    case SK_BOOL:
        return json_object_is_type(v, json_type_boolean)
               ? NULL : type_error(p, "true or false", v);

    case SK_OBJECT:
        return json_object_is_type(v, json_type_object)
               ? validate_object(v, f->sub, p)
               : type_error(p, "an object", v);

    case SK_ARRAY: {
        if (!json_object_is_type(v, json_type_array)) {
            return type_error(p, "an array", v);
        }
        size_t n = json_object_array_length(v);
        if ((int64_t) n < f->min || (int64_t) n > f->max) {
            return vctx_error(p, "has %zu elements, not %lld..%lld", n,
                               (long long) f->min, (long long) f->max);
        }
        for (size_t i = 0; i < n; i++) {
            size_t mark = vctx_push_index(p, i);
            char *error = validate_value(json_object_array_get_idx(v, i),
                                         f->sub, p);
            if (error) {
                return error;
            }
            vctx_pop(p, mark);
        }
        return NULL;
    }

    case SK_STRING:
    case SK_ENUM:
    case SK_IP:
    case SK_CIDR:
    case SK_SHA256:
    case SK_UUID:
    case SK_MAC:
    default:
        return validate_string(v, f, p);
    }
}

/* The member of 'fields' called 'name', or NULL. */
static const struct schema_field *
find_field(const struct schema_field *fields, const char *name)
{
    for (const struct schema_field *f = fields; f->name; f++) {
        if (!strcmp(f->name, name)) {
            return f;
        }
    }
    return NULL;
}

static char *
validate_object(const struct json_object *obj,
                const struct schema_field *fields, struct vctx *p)
{
    for (const struct schema_field *f = fields; f->name; f++) {
        struct json_object *v;
        size_t mark = vctx_push(p, f->name);
        if (!json_object_object_get_ex(obj, f->name, &v)) {
            if (f->required) {
                return vctx_error(p, "missing");
            }
        } else {
            char *error = validate_value(v, f, p);
            if (error) {
                return error;
            }
        }
        vctx_pop(p, mark);
    }

    if (p->strict) {
        json_object_object_foreach((struct json_object *) obj, key, val) {
            (void) val;
            if (!find_field(fields, key)) {
                vctx_push(p, key);
                return vctx_error(p, "unknown field");
            }
        }
    }
    return NULL;
}

static void prune_object(struct json_object *,
                         const struct schema_field *fields,
                         const char *keep);

static void
prune_value(struct json_object *v, const struct schema_field *f)
{
    if (f->kind == SK_OBJECT && json_object_is_type(v, json_type_object)) {
        prune_object(v, f->sub, NULL);
    } else if (f->kind == SK_ARRAY && json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
            prune_value(json_object_array_get_idx(v, i), f->sub);
        }
    }
}

static void
prune_object(struct json_object *obj, const struct schema_field *fields,
             const char *keep)
{
    /* json_object_object_foreach() keeps the next entry before the body
     * runs, so the current one may be deleted. */
    json_object_object_foreach(obj, key, val) {
        const struct schema_field *f = find_field(fields, key);
        if (f) {
            prune_value(val, f);
        } else if (!keep || strcmp(key, keep)) {
            json_object_object_del(obj, key);
        }
    }
}

void
schema_prune(struct json_object *obj, const struct schema_field *fields,
             const char *keep)
{
    if (json_object_is_type(obj, json_type_object)) {
        prune_object(obj, fields, keep);
    }
}


char *
schema_validate(const struct json_object *obj,
                const struct schema_field *fields, const char *path,
                bool strict)
{
    struct vctx p = { .strict = strict };
    vctx_put(&p, path, strlen(path));
    if (!json_object_is_type(obj, json_type_object)) {
        return type_error(&p, "an object", obj);
    }
    return validate_object(obj, fields, &p);
}

/* Each thread keeps the tokener of its last parse for the next one with
 * the same depth: making one allocates its stack and buffer, a visible
 * part of a small message's parse. */
struct kept_tokener {
    struct json_tokener *tok;
    int max_depth;
};

static pthread_key_t kept_key;
static bool kept_ok;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;

/* The "C" locale object, which parses run in.  json-c makes each parse
 * copy the thread's locale and make a new one from it, so that numbers
 * read the same in every locale; from this object glibc does both
 * without allocating (and the parse is locale-independent anyway). */
static locale_t c_locale;

static void
kept_free(void *k_)
{
    struct kept_tokener *k = k_;
    if (k->tok) {
        json_tokener_free(k->tok);
    }
    free(k);
}

static void
kept_init(void)
{
    kept_ok = !pthread_key_create(&kept_key, kept_free);
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
}

static struct json_tokener *
take_tokener(int max_depth)
{
    pthread_once(&kept_once, kept_init);
    struct kept_tokener *k = kept_ok ? pthread_getspecific(kept_key) : NULL;
    if (k && k->tok && k->max_depth == max_depth) {
        struct json_tokener *tok = k->tok;
        k->tok = NULL;
        json_tokener_reset(tok);
        return tok;
    }
    return json_tokener_new_ex(max_depth);
}

static void
give_tokener(struct json_tokener *tok, int max_depth)
{
    if (!kept_ok) {
        json_tokener_free(tok);
        return;
    }
    struct kept_tokener *k = pthread_getspecific(kept_key);
    if (!k) {
        k = xcalloc(1, sizeof *k);
        if (pthread_setspecific(kept_key, k)) {
            free(k);
            json_tokener_free(tok);
            return;
        }
    }
    if (k->tok) {
        json_tokener_free(k->tok);
    }
    k->tok = tok;
    k->max_depth = max_depth;
}

char *
schema_parse_json(const char *text, size_t len, int max_depth,
                  const char *what, struct json_object **objp)
{
    *objp = NULL;
    if (len > INT32_MAX) {
        return xasprintf("%s: larger than 2 GiB", what);
    }
    struct json_tokener *tok = take_tokener(max_depth);
    if (!tok) {
        return xasprintf("%s: out of memory", what);
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT
                                | JSON_TOKENER_VALIDATE_UTF8);
    locale_t caller_locale = c_locale ? uselocale(c_locale) : (locale_t) 0;
    struct json_object *obj = json_tokener_parse_ex(tok, text, (int) len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue) {
        /* All of it was consumed and the text is complete: a NUL tells the
         * tokener so, which ends a bare top-level number and leaves
         * anything unfinished unfinished. */
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }
    if (c_locale) {
        uselocale(caller_locale);
    }
    give_tokener(tok, max_depth);

    if (jerr == json_tokener_success) {
        *objp = obj;
        return NULL;
    }
    json_object_put(obj);
    if (jerr == json_tokener_continue
        || jerr == json_tokener_error_parse_eof) {
        return xasprintf("%s: truncated JSON", what);
    }
    if (jerr == json_tokener_error_depth) {
        return xasprintf("%s: nesting deeper than %d levels", what,
                         max_depth);
    }
    return xasprintf("%s: invalid JSON at byte %zu: %s", what, end,
                     json_tokener_error_desc(jerr));
}
