/* appid: the command-line tool for the application signature database. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appid/appid.h"
#include "appid/import.h"
#include "common/digest.h"
#include "common/file.h"
#include "common/msg.h"
#include "common/util.h"

/* Exit codes (also in --help and docs/appid.md). */
enum {
    EXIT_OK = 0,
    EXIT_NOT_FOUND = 1,         /* lookup: unknown; show: no such hash. */
    EXIT_USAGE = 2,
    EXIT_BAD_INPUT = 3,         /* Bad hash, feed, file or dpkg root. */
    EXIT_DB = 4,                /* The database failed or is unusable. */
};

#define DEFAULT_DB "/var/lib/appfw/appid.db"

struct options {
    const char *db;
    bool json;
    bool quiet;
};

static void
usage(FILE *out)
{
    fprintf(out,
"Usage: appid [OPTIONS] COMMAND [ARGS]\n"
"The appfw application signature database.\n"
"\n"
"Commands:\n"
"  import-dpkg [--root DIR] [--data DIR]\n"
"                     hash every executable of every installed package of\n"
"                     the Debian root DIR (default /) and record it\n"
"  import-feed FILE   apply a JSON signature feed ('-' reads stdin)\n"
"  export [--output FILE]\n"
"                     write every signature and pattern as a feed\n"
"  lookup --file PATH [--path CLAIMED]\n"
"                     hash PATH and identify it (as CLAIMED, if given)\n"
"  lookup --sha256 HEX [--path PATH]\n"
"                     identify a hash (and install path)\n"
"  show HEX           one signature in full\n"
"  stats              counts by trust, threat and category\n"
"\n"
"Options:\n"
"  --db PATH          the database (default: $APPID_DB, else %s)\n"
"  --json             machine-readable output\n"
"  -q, --quiet        no progress bar\n"
"  -h, --help         this help\n"
"\n"
"Exit codes: 0 success; 1 lookup found nothing, or show found no such\n"
"signature; 2 usage error; 3 bad input (hash, feed, file, root); 4\n"
"database error.\n", DEFAULT_DB);
}

static int
fail(int code, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(int code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("appid: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    return code;
}

static void
print_json(struct json_object *j)
{
    puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN
                                        | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(j);
}

static int
open_db(const struct options *o, int flags, struct appid **a)
{
    char *error = appid_open(o->db, flags, a);
    if (error) {
        int code = strstr(error, "no such database") ? EXIT_BAD_INPUT
                                                     : EXIT_DB;
        fail(code, "%s", error);
        free(error);
        return code;
    }
    return 0;
}

/* Progress bar. */

struct progress {
    bool enabled;
    int64_t start_ms, last_ms;
};

static void
progress_cb(size_t done, size_t total, uint64_t bytes, void *aux)
{
    struct progress *p = aux;
    int64_t now = time_mono_ms();
    if (!p->enabled || (now - p->last_ms < 100 && done < total)) {
        return;
    }
    p->last_ms = now;
    double secs = (now - p->start_ms) / 1000.0;
    double rate = secs > 0 ? done / secs : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int width = 30;
    int filled = total ? (int) ((double) done / total * width) : width;
    char bar[64];
    for (int i = 0; i < width; i++) {
        bar[i] = i < filled ? '#' : '.';
    }
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %zu/%zu files  %.0f files/s  %.1f MB/s  "
            "ETA %.0fs ", bar, done, total, rate,
            secs > 0 ? bytes / secs / 1e6 : 0, eta);
    if (done >= total) {
        fputc('\n', stderr);
    }
}

static void
print_report(const struct options *o, const char *what,
             const struct appid_import_report *r)
{
    double fps = r->seconds > 0 ? r->files / r->seconds : 0;
    if (o->json) {
        struct json_object *j = json_object_new_object();
        msg_put_string(j, "import", what);
        msg_put_int(j, "packages", r->packages);
        msg_put_int(j, "files", r->files);
        msg_put_int(j, "added", r->added);
        msg_put_int(j, "changed", r->changed);
        msg_put_int(j, "removed", r->removed);
        msg_put_int(j, "patterns", r->patterns);
        msg_put_int(j, "trusted", r->trusted);
        msg_put_int(j, "unverified", r->unverified);
        msg_put_int(j, "untrusted", r->untrusted);
        msg_put_int(j, "unreadable", r->unreadable);
        msg_put_int(j, "bytes", r->bytes);
        json_object_object_add(j, "seconds",
                               json_object_new_double(r->seconds));
        json_object_object_add(j, "files_per_second",
                               json_object_new_double(fps));
        msg_put_int(j, "feed_version", r->feed_version);
        print_json(j);
        return;
    }
    if (!strcmp(what, "dpkg")) {
        printf("imported %zu signatures from %zu packages in %.1fs "
               "(%.0f files/s, %.1f MB/s)\n", r->added, r->packages,
               r->seconds, fps,
               r->seconds > 0 ? r->bytes / r->seconds / 1e6 : 0);
        printf("  %zu trusted (checksum verified), %zu known (no checksum "
               "shipped), %zu untrusted (modified)\n", r->trusted,
               r->unverified, r->untrusted);
        printf("  %zu curated patterns\n", r->patterns);
    } else {
        printf("applied feed version %lld in %.1fs: %zu added or changed "
               "(%zu changed), %zu removed, %zu pattern changes\n",
               (long long) r->feed_version, r->seconds, r->added, r->changed,
               r->removed, r->patterns);
    }
    if (r->unreadable) {
        printf("  skipped %zu unreadable files (first: %s)\n", r->unreadable,
               r->first_unreadable);
    }
}

/* Commands. */

static int
cmd_import_dpkg(const struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "root", required_argument, NULL, 'r' },
        { "data", required_argument, NULL, 'd' },
        { NULL, 0, NULL, 0 },
    };
    struct appid_dpkg_options opt = { 0 };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'r') {
            opt.root = optarg;
        } else if (c == 'd') {
            opt.data_dir = optarg;
        } else {
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        return fail(EXIT_USAGE, "import-dpkg: unexpected argument \"%s\"",
                    argv[optind]);
    }

    struct appid *a;
    int code = open_db(o, APPID_OPEN_CREATE, &a);
    if (code) {
        return code;
    }
    struct progress p = {
        .enabled = !o->quiet && !o->json && isatty(STDERR_FILENO),
        .start_ms = time_mono_ms(),
    };
    opt.progress = progress_cb;
    opt.aux = &p;
    struct appid_import_report r;
    char *error = appid_import_dpkg(a, &opt, &r);
    appid_close(a);
    if (error) {
        code = strstr(error, "no dpkg database")
               || strstr(error, "lists no installed") || strstr(error, ".tsv")
               ? EXIT_BAD_INPUT : EXIT_DB;
        fail(code, "import-dpkg: %s (nothing was written)", error);
        free(error);
        return code;
    }
    print_report(o, "dpkg", &r);
    return EXIT_OK;
}

static char *
read_all(FILE *f, size_t *lenp)
{
    size_t len = 0, allocated = 65536;
    char *text = xmalloc(allocated);
    size_t n;
    while ((n = fread(text + len, 1, allocated - len, f)) > 0) {
        len += n;
        if (len == allocated) {
            allocated *= 2;
            text = xrealloc(text, allocated);
        }
    }
    if (ferror(f)) {
        free(text);
        return NULL;
    }
    *lenp = len;
    return text;
}

static int
cmd_import_feed(const struct options *o, int argc, char **argv)
{
    if (argc != 2) {
        return fail(EXIT_USAGE, "import-feed: expects one FILE (or -)");
    }
    const char *file = argv[1];
    FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (!f) {
        return fail(EXIT_BAD_INPUT, "import-feed: %s: %s", file,
                    strerror(errno));
    }
    size_t len;
    char *text = read_all(f, &len);
    int read_errno = errno;
    if (f != stdin) {
        fclose(f);
    }
    if (!text) {
        return fail(EXIT_BAD_INPUT, "import-feed: %s: %s", file,
                    strerror(read_errno));
    }

    struct appid *a;
    int code = open_db(o, APPID_OPEN_CREATE, &a);
    if (code) {
        free(text);
        return code;
    }
    struct appid_import_report r;
    char *error = appid_import_feed(a, text, len, &r);
    appid_close(a);
    free(text);
    if (error) {
        code = strncmp(error, "feed", 4) && !strstr(error, "[")
               ? EXIT_DB : EXIT_BAD_INPUT;
        fail(code, "import-feed: %s: %s (nothing was written)", file,
             error);
        free(error);
        return code;
    }
    print_report(o, "feed", &r);
    return EXIT_OK;
}

static int
cmd_export(const struct options *o, int argc, char **argv)
{
    const char *output = NULL;
    if (argc == 3 && !strcmp(argv[1], "--output")) {
        output = argv[2];
    } else if (argc != 1) {
        return fail(EXIT_USAGE, "export: usage: export [--output FILE]");
    }

    struct appid *a;
    int code = open_db(o, APPID_OPEN_READONLY, &a);
    if (code) {
        return code;
    }

    /* Through a temporary file, fsync'd and renamed (file.h), so a failed
     * export or a crash never leaves a half-written feed behind. */
    struct file_replace fr = { .stream = stdout };
    int err = output ? file_replace_open(&fr, output, 0644) : 0;
    if (err) {
        code = fail(EXIT_BAD_INPUT, "export: %s: %s", output, strerror(err));
        goto out;
    }
    size_t count;
    char *error = appid_export_feed(a, fr.stream, &count);
    if (error) {
        code = fail(EXIT_DB, "export: %s", error);
        free(error);
        if (output) {
            file_replace_abort(&fr);
        }
        goto out;
    }
    err = output ? file_replace_commit(&fr) : 0;
    if (err) {
        code = fail(EXIT_BAD_INPUT, "export: %s: %s", output, strerror(err));
        goto out;
    }
    if (output && !o->quiet) {
        fprintf(stderr, "exported %zu signatures to %s\n", count, output);
    }

out:
    appid_close(a);
    return code;
}

static void
print_result(const struct options *o, const struct appid_result *r,
             const char *hex, const char *path)
{
    if (o->json) {
        struct json_object *j = json_object_new_object();
        msg_put_string(j, "match", appid_match_name(r->match));
        json_object_object_add(j, "confidence",
                               json_object_new_int(r->confidence));
        msg_put_string(j, "product", r->product);
        msg_put_string(j, "description", r->description);
        msg_put_string(j, "vendor", r->vendor);
        msg_put_string(j, "version", r->version);
        msg_put_string(j, "category", r->category);
        msg_put_string(j, "trust", appid_trust_name(r->trust));
        msg_put_string(j, "threat", appid_threat_name(r->threat));
        msg_put_string(j, "reason", r->reason);
        if (hex) {
            msg_put_string(j, "sha256", hex);
        }
        if (path) {
            msg_put_string(j, "path", path);
        }
        print_json(j);
        return;
    }
    printf("%-12s %s (confidence %d)\n", "match", appid_match_name(r->match),
           r->confidence);
    printf("%-12s %s%s%s\n", "product", *r->product ? r->product : "-",
           *r->version ? " " : "", r->version);
    if (*r->description) {
        printf("%-12s %s\n", "description", r->description);
    }
    printf("%-12s %s\n", "vendor", *r->vendor ? r->vendor : "-");
    printf("%-12s %s\n", "category", r->category);
    printf("%-12s %s\n", "trust", appid_trust_name(r->trust));
    printf("%-12s %s\n", "threat", appid_threat_name(r->threat));
    printf("%-12s %s\n", "reason", r->reason);
    if (hex) {
        printf("%-12s %s\n", "sha256", hex);
    }
    if (path) {
        printf("%-12s %s\n", "path", path);
    }
}

static int
parse_hash(const char *hex, uint8_t sha256[SHA256_LEN])
{
    if (strlen(hex) != SHA256_HEX_LEN
        || !digest_from_hex(hex, sha256, SHA256_LEN)) {
        return fail(EXIT_BAD_INPUT, "\"%.80s\" is not a SHA-256 hash (64 "
                    "hex digits, got %zu characters)", hex, strlen(hex));
    }
    return 0;
}

static int
cmd_lookup(const struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "file", required_argument, NULL, 'f' },
        { "sha256", required_argument, NULL, 's' },
        { "path", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 },
    };
    const char *file = NULL, *hex = NULL, *path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'f') {
            file = optarg;
        } else if (c == 's') {
            hex = optarg;
        } else if (c == 'p') {
            path = optarg;
        } else {
            return EXIT_USAGE;
        }
    }
    if (optind != argc || !file == !hex) {
        return fail(EXIT_USAGE, "lookup: give exactly one of --file PATH "
                    "and --sha256 HEX");
    }

    uint8_t sha256[SHA256_LEN];
    uint64_t size = 0;
    char real[PATH_MAX];
    if (file) {
        int error = digest_file(file, false, sha256, NULL, &size);
        if (error) {
            return fail(EXIT_BAD_INPUT, "lookup: %s: %s", file,
                        strerror(error));
        }
        if (!path) {
            path = realpath(file, real) ? real : file;
        }
    } else {
        int code = parse_hash(hex, sha256);
        if (code) {
            return code;
        }
    }

    struct appid *a;
    int code = open_db(o, APPID_OPEN_READONLY, &a);
    if (code) {
        return code;
    }
    struct appid_result r;
    if (appid_lookup(a, sha256, path, size, &r)) {
        code = fail(EXIT_DB, "lookup: %s", appid_last_error(a));
    } else {
        char hexbuf[SHA256_HEX_LEN + 1];
        digest_to_hex(sha256, SHA256_LEN, hexbuf);
        print_result(o, &r, hexbuf, path);
        code = r.match == APPID_MATCH_UNKNOWN ? EXIT_NOT_FOUND : EXIT_OK;
    }
    appid_close(a);
    return code;
}

static int
cmd_show(const struct options *o, int argc, char **argv)
{
    if (argc != 2) {
        return fail(EXIT_USAGE, "show: expects one SHA-256 hash");
    }
    uint8_t sha256[SHA256_LEN];
    int code = parse_hash(argv[1], sha256);
    if (code) {
        return code;
    }
    struct appid *a;
    code = open_db(o, APPID_OPEN_READONLY, &a);
    if (code) {
        return code;
    }
    struct appid_signature s;
    int error = appid_get(a, sha256, &s);
    if (error) {
        code = fail(error == ENOENT ? EXIT_NOT_FOUND : EXIT_DB, "show: %s",
                    appid_last_error(a));
        appid_close(a);
        return code;
    }

    char hex[SHA256_HEX_LEN + 1];
    digest_to_hex(s.sha256, SHA256_LEN, hex);
    if (o->json) {
        struct json_object *j = json_object_new_object();
        const char *keys[] = { "sha256", "name", "path", "product",
                               "description", "vendor", "version",
                               "category", "trust", "threat", "reason",
                               "source" };
        const char *values[] = { hex, s.name, s.path, s.product,
                                 s.description, s.vendor, s.version,
                                 s.category, appid_trust_name(s.trust),
                                 appid_threat_name(s.threat), s.reason,
                                 s.source };
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
            msg_put_string(j, keys[i], values[i]);
        }
        msg_put_int(j, "size", s.size);
        msg_put_int(j, "first_seen", s.first_seen);
        msg_put_int(j, "last_seen", s.last_seen);
        print_json(j);
    } else {
        printf("%-12s %s\n%-12s %s\n%-12s %s\n%-12s %lld\n", "sha256", hex,
               "name", s.name, "path", s.path, "size", (long long) s.size);
        printf("%-12s %s %s\n%-12s %s\n%-12s %s\n%-12s %s\n", "product",
               s.product, s.version, "description", s.description, "vendor",
               s.vendor, "category", s.category);
        printf("%-12s %s\n%-12s %s\n%-12s %s\n%-12s %s\n", "trust",
               appid_trust_name(s.trust), "threat",
               appid_threat_name(s.threat), "reason",
               *s.reason ? s.reason : "-", "source", s.source);
        printf("%-12s %lld\n%-12s %lld\n", "first_seen",
               (long long) s.first_seen, "last_seen",
               (long long) s.last_seen);
    }
    appid_close(a);
    return EXIT_OK;
}

struct category_print {
    bool json;
    struct json_object *obj;
};

static void
print_category(const char *category, int64_t count, void *aux)
{
    struct category_print *cp = aux;
    if (cp->json) {
        json_object_object_add(cp->obj, category,
                               json_object_new_int64(count));
    } else {
        printf("  %-20s %lld\n", category, (long long) count);
    }
}

static int
cmd_stats(const struct options *o, int argc, char **argv)
{
    (void) argv;
    if (argc != 1) {
        return fail(EXIT_USAGE, "stats: takes no arguments");
    }
    struct appid *a;
    int code = open_db(o, APPID_OPEN_READONLY, &a);
    if (code) {
        return code;
    }
    struct appid_stats s;
    if (appid_stats(a, &s)) {
        code = fail(EXIT_DB, "stats: %s", appid_last_error(a));
        appid_close(a);
        return code;
    }

    struct category_print cp = { .json = o->json };
    if (o->json) {
        struct json_object *j = json_object_new_object();
        msg_put_int(j, "signatures", s.signatures);
        msg_put_int(j, "products", s.products);
        msg_put_int(j, "patterns", s.patterns);
        msg_put_int(j, "feed_version", s.feed_version);
        json_object_object_add(j, "schema_version",
                               json_object_new_int(s.schema_version));
        struct json_object *t = json_object_new_object();
        for (int i = 0; i < 4; i++) {
            json_object_object_add(t, appid_trust_name(i),
                                   json_object_new_int64(s.by_trust[i]));
        }
        json_object_object_add(j, "trust", t);
        t = json_object_new_object();
        for (int i = 0; i < 5; i++) {
            json_object_object_add(t, appid_threat_name(i),
                                   json_object_new_int64(s.by_threat[i]));
        }
        json_object_object_add(j, "threat", t);
        cp.obj = json_object_new_object();
        appid_category_counts(a, print_category, &cp);
        json_object_object_add(j, "categories", cp.obj);
        print_json(j);
    } else {
        printf("signatures   %lld\nproducts     %lld\npatterns     %lld\n"
               "feed version %lld\nschema       %d\n",
               (long long) s.signatures, (long long) s.products,
               (long long) s.patterns, (long long) s.feed_version,
               s.schema_version);
        printf("trust\n");
        for (int i = 0; i < 4; i++) {
            printf("  %-20s %lld\n", appid_trust_name(i),
                   (long long) s.by_trust[i]);
        }
        printf("threat\n");
        for (int i = 0; i < 5; i++) {
            printf("  %-20s %lld\n", appid_threat_name(i),
                   (long long) s.by_threat[i]);
        }
        printf("categories\n");
        appid_category_counts(a, print_category, &cp);
    }
    appid_close(a);
    return EXIT_OK;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'D' },
        { "json", no_argument, NULL, 'j' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct options o = { .db = getenv("APPID_DB") };
    if (!o.db || !*o.db) {
        o.db = DEFAULT_DB;
    }

    /* Options before the command only; '+' stops at the first non-option
     * so each command parses its own. */
    int c;
    while ((c = getopt_long(argc, argv, "+qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'D':
            o.db = optarg;
            break;
        case 'j':
            o.json = true;
            break;
        case 'q':
            o.quiet = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }

    static const struct {
        const char *name;
        int (*run)(const struct options *, int, char **);
    } commands[] = {
        { "import-dpkg", cmd_import_dpkg },
        { "import-feed", cmd_import_feed },
        { "export", cmd_export },
        { "lookup", cmd_lookup },
        { "show", cmd_show },
        { "stats", cmd_stats },
    };
    const char *name = argv[optind];
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (!strcmp(name, commands[i].name)) {
            return commands[i].run(&o, argc - optind, argv + optind);
        }
    }
    return fail(EXIT_USAGE, "unknown command \"%s\" (try --help)", name);
}
