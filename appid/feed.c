/* Signature feeds: versioned, incremental JSON documents (docs/appid.md).
 * The only file of appid/ that uses json-c. */
#include "appid/import.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/msg.h"
#include "common/schema.h"
#include "common/util.h"

#define FEED_FORMAT "appfw-appid-feed"
#define FEED_MAX_ENTRIES 10000000

static const char *const format_values[] = { FEED_FORMAT, NULL };
static const char *const trust_values[] = {
    "trusted", "known", "unknown", "untrusted", NULL
};
static const char *const threat_values[] = {
    "none", "low", "medium", "high", "critical", NULL
};
static const char *const kind_values[] = { "name", "path", NULL };

static const struct schema_field sig_fields[] = {
    SF_KIND("sha256", SK_SHA256, true),
    SF_STR("name", true, 1, 255),
    SF_STR("path", false, 0, 4096),
    SF_INT("size", false, -1, MSG_INT_MAX),
    SF_STR("product", true, 1, 256),
    SF_STR("description", false, 0, 1024),
    SF_STR("vendor", false, 0, 256),
    SF_STR("version", false, 0, 128),
    SF_STR("category", false, 0, 64),
    SF_ENUM("trust", true, trust_values),
    SF_ENUM("threat", true, threat_values),
    SF_STR("reason", false, 0, 255),
    SF_STR("source", false, 0, 128),
    SF_INT("first_seen", false, 0, MSG_INT_MAX),
    SF_INT("last_seen", false, 0, MSG_INT_MAX),
    SF_END
};

static const struct schema_field pattern_fields[] = {
    SF_ENUM("kind", true, kind_values),
    SF_STR("glob", true, 1, 1024),
    SF_STR("product", false, 0, 256),
    SF_STR("vendor", false, 0, 256),
    SF_STR("category", false, 0, 64),
    SF_ENUM("trust", true, trust_values),
    SF_ENUM("threat", true, threat_values),
    SF_INT("confidence", true, 1, 99),
    SF_STR("source", false, 0, 128),
    SF_END
};

static const struct schema_field pattern_key_fields[] = {
    SF_ENUM("kind", true, kind_values),
    SF_STR("glob", true, 1, 1024),
    SF_END
};

static const struct schema_field feed_fields[] = {
    SF_ENUM("format", true, format_values),
    SF_INT("version", true, 1, MSG_INT_MAX),
    SF_STR("source", true, 1, 128),
    SF_ARRAY("added", false, 0, FEED_MAX_ENTRIES,
             (&(const struct schema_field) SF_OBJ("entry", true,
                                                  sig_fields))),
    SF_ARRAY("changed", false, 0, FEED_MAX_ENTRIES,
             (&(const struct schema_field) SF_OBJ("entry", true,
                                                  sig_fields))),
    SF_ARRAY("removed", false, 0, FEED_MAX_ENTRIES,
             (&(const struct schema_field) SF_KIND("sha256", SK_SHA256,
                                                   true))),
    SF_ARRAY("patterns_added", false, 0, 100000,
             (&(const struct schema_field) SF_OBJ("pattern", true,
                                                  pattern_fields))),
    SF_ARRAY("patterns_removed", false, 0, 100000,
             (&(const struct schema_field) SF_OBJ("pattern", true,
                                                  pattern_key_fields))),
    SF_END
};

static const char *
str_or(const struct json_object *obj, const char *key, const char *dflt)
{
    return msg_get_string(obj, key, dflt);
}

static void
entry_to_signature(const struct json_object *e, const char *feed_source,
                   struct appid_signature *s)
{
    memset(s, 0, sizeof *s);
    digest_from_hex(str_or(e, "sha256", ""), s->sha256, SHA256_LEN);
    s->name = str_or(e, "name", "");
    s->path = str_or(e, "path", "");
    s->size = msg_get_int(e, "size", -1);
    s->product = str_or(e, "product", "");
    s->description = str_or(e, "description", "");
    s->vendor = str_or(e, "vendor", "");
    s->version = str_or(e, "version", "");
    s->category = str_or(e, "category", "");
    appid_trust_from_name(str_or(e, "trust", ""), &s->trust);
    appid_threat_from_name(str_or(e, "threat", ""), &s->threat);
    s->reason = str_or(e, "reason", "");
    s->source = str_or(e, "source", feed_source);
    s->first_seen = msg_get_int(e, "first_seen", 0);
    s->last_seen = msg_get_int(e, "last_seen", 0);
}

/* Applies the validated feed 'feed' inside an open batch. */
static char *
apply_feed(struct appid *a, const struct json_object *feed,
           struct appid_import_report *r)
{
    const char *source = str_or(feed, "source", "");
    struct json_object *list;
    size_t n;

    list = msg_get(feed, "removed");
    n = list ? json_object_array_length(list) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *hex = json_object_get_string(
            json_object_array_get_idx(list, i));
        uint8_t sha256[SHA256_LEN];
        digest_from_hex(hex, sha256, SHA256_LEN);
        if (appid_remove(a, sha256)) {
            return xasprintf("removed[%zu]: %s", i, appid_last_error(a));
        }
        r->removed++;
    }

    static const char *const lists[] = { "added", "changed" };
    for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
        list = msg_get(feed, lists[l]);
        n = list ? json_object_array_length(list) : 0;
        for (size_t i = 0; i < n; i++) {
            struct appid_signature s;
            entry_to_signature(json_object_array_get_idx(list, i), source,
                               &s);
            if (l == 1) {
                int exists = appid_exists(a, s.sha256);
                if (exists <= 0) {
                    return exists < 0
                           ? xasprintf("changed[%zu]: %s", i,
                                       appid_last_error(a))
                           : xasprintf("changed[%zu].sha256: %s is not in "
                                       "the database",
                                       i, str_or(json_object_array_get_idx(
                                                     list, i), "sha256", ""));
                }
                r->changed++;
            }
            if (appid_add(a, &s)) {
                return xasprintf("%s[%zu]: %s", lists[l], i,
                                 appid_last_error(a));
            }
            r->added++;
        }
    }

    list = msg_get(feed, "patterns_removed");
    n = list ? json_object_array_length(list) : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *p = json_object_array_get_idx(list, i);
        enum appid_pattern_kind kind = !strcmp(str_or(p, "kind", ""), "path")
                                       ? APPID_PATTERN_PATH
                                       : APPID_PATTERN_NAME;
        if (appid_remove_pattern(a, kind, str_or(p, "glob", ""))) {
            return xasprintf("patterns_removed[%zu]: %s", i,
                             appid_last_error(a));
        }
        r->patterns++;
    }

    list = msg_get(feed, "patterns_added");
    n = list ? json_object_array_length(list) : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(list, i);
        struct appid_pattern p = {
            .kind = !strcmp(str_or(e, "kind", ""), "path")
                    ? APPID_PATTERN_PATH : APPID_PATTERN_NAME,
            .glob = str_or(e, "glob", ""),
            .product = str_or(e, "product", ""),
            .vendor = str_or(e, "vendor", ""),
            .category = str_or(e, "category", ""),
            .confidence = msg_get_int(e, "confidence", 1),
            .source = str_or(e, "source", source),
        };
        appid_trust_from_name(str_or(e, "trust", ""), &p.trust);
        appid_threat_from_name(str_or(e, "threat", ""), &p.threat);
        if (appid_add_pattern(a, &p)) {
            return xasprintf("patterns_added[%zu]: %s", i,
                             appid_last_error(a));
        }
        r->patterns++;
    }
    return NULL;
}

/* Parses and validates a feed document.  Returns NULL and the object, or a
 * malloc'd message. */
static char *
parse_feed(const char *text, size_t len, struct json_object **feedp)
{
    struct json_object *obj;
    char *perr = schema_parse_json(text, len, MSG_MAX_DEPTH, "feed", &obj);
    *feedp = NULL;
    if (perr) {
        return perr;
    }

    char *error = schema_validate(obj, feed_fields, "feed", true);
    if (error) {
        json_object_put(obj);
        return error;
    }
    *feedp = obj;
    return NULL;
}

char *
appid_import_feed(struct appid *a, const char *text, size_t len,
                  struct appid_import_report *r)
{
    int64_t start = time_mono_ms();
    memset(r, 0, sizeof *r);

    struct json_object *feed;
    char *error = parse_feed(text, len, &feed);
    if (error) {
        return error;
    }

    int64_t version = msg_get_int(feed, "version", 0);
    int64_t current;
    if (appid_meta_get_int(a, "feed_version", &current)) {
        error = xstrdup(appid_last_error(a));
        goto out;
    }
    if (version <= current) {
        error = xasprintf("feed.version: %lld is not newer than the "
                          "database's feed version %lld; refusing an old "
                          "feed", (long long) version, (long long) current);
        goto out;
    }

    if (appid_begin(a)) {
        error = xstrdup(appid_last_error(a));
        goto out;
    }
    error = apply_feed(a, feed, r);
    if (!error && appid_meta_set_int(a, "feed_version", version)) {
        error = xstrdup(appid_last_error(a));
    }
    if (!error && appid_commit(a)) {
        error = xstrdup(appid_last_error(a));
    }
    if (error) {
        appid_abort(a);
    } else {
        r->feed_version = version;
    }

out:
    json_object_put(feed);
    r->seconds = (time_mono_ms() - start) / 1000.0;
    return error;
}

/* Export. */

struct export_ctx {
    FILE *out;
    size_t n_sigs, n_patterns;
};

static void
add_str(struct json_object *obj, const char *key, const char *value)
{
    json_object_object_add(obj, key, json_object_new_string(value));
}

static int
export_signature(const struct appid_signature *s, void *ctx_)
{
    struct export_ctx *ctx = ctx_;
    char hex[SHA256_HEX_LEN + 1];
    digest_to_hex(s->sha256, SHA256_LEN, hex);

    struct json_object *e = json_object_new_object();
    add_str(e, "sha256", hex);
    add_str(e, "name", s->name);
    add_str(e, "path", s->path);
    json_object_object_add(e, "size", json_object_new_int64(s->size));
    add_str(e, "product", s->product);
    add_str(e, "description", s->description);
    add_str(e, "vendor", s->vendor);
    add_str(e, "version", s->version);
    add_str(e, "category", s->category);
    add_str(e, "trust", appid_trust_name(s->trust));
    add_str(e, "threat", appid_threat_name(s->threat));
    add_str(e, "reason", s->reason);
    add_str(e, "source", s->source);
    json_object_object_add(e, "first_seen",
                           json_object_new_int64(s->first_seen));
    json_object_object_add(e, "last_seen",
                           json_object_new_int64(s->last_seen));
    fprintf(ctx->out, "%s\n  %s", ctx->n_sigs ? "," : "",
            json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN
                                           | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(e);
    ctx->n_sigs++;
    return ferror(ctx->out) ? EIO : 0;
}

static int
export_pattern(const struct appid_pattern *p, void *ctx_)
{
    struct export_ctx *ctx = ctx_;
    if (!ctx->n_patterns) {
        fputs("],\n \"patterns_added\": [", ctx->out);
    }
    struct json_object *e = json_object_new_object();
    add_str(e, "kind", p->kind == APPID_PATTERN_PATH ? "path" : "name");
    add_str(e, "glob", p->glob);
    add_str(e, "product", p->product);
    add_str(e, "vendor", p->vendor);
    add_str(e, "category", p->category);
    add_str(e, "trust", appid_trust_name(p->trust));
    add_str(e, "threat", appid_threat_name(p->threat));
    json_object_object_add(e, "confidence",
                           json_object_new_int(p->confidence));
    add_str(e, "source", p->source);
    fprintf(ctx->out, "%s\n  %s", ctx->n_patterns ? "," : "",
            json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN
                                           | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(e);
    ctx->n_patterns++;
    return ferror(ctx->out) ? EIO : 0;
}

char *
appid_export_feed(struct appid *a, FILE *out, size_t *count)
{
    int64_t version;
    if (appid_meta_get_int(a, "feed_version", &version)) {
        return xstrdup(appid_last_error(a));
    }
    fprintf(out, "{\"format\": \"%s\", \"version\": %lld, "
            "\"source\": \"export\",\n \"added\": [", FEED_FORMAT,
            (long long) (version > 0 ? version : 1));

    struct export_ctx ctx = { .out = out };
    int error = appid_iterate(a, export_signature, export_pattern, &ctx);
    if (error) {
        return error == EIO && ferror(out)
               ? xstrdup("export: write error")
               : xstrdup(appid_last_error(a));
    }
    fputs(ctx.n_patterns ? "]}\n" : "],\n \"patterns_added\": []}\n", out);
    if (fflush(out) || ferror(out)) {
        return xasprintf("export: write error: %s", strerror(errno));
    }
    if (count) {
        *count = ctx.n_sigs;
    }
    return NULL;
}
