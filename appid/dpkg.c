/* The dpkg importer: every executable file of every installed package of a
 * Debian root becomes a signature.
 *
 *   product     = the package, with its short description
 *   vendor      = Origin, else the Maintainer's name
 *   version     = the package version
 *   category    = curated: Section mapped by sections.tsv, refined per
 *                 package by packages.tsv (appid/data/)
 *   trust       = trusted if the file's MD5 matches info/PKG.md5sums,
 *                 untrusted (with the reason) if it differs, known if the
 *                 package ships no checksum for it. */
#include "appid/import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/util.h"
#include "curated.h"

#ifndef APPID_DATA_DIR
#define APPID_DATA_DIR "/usr/share/appfw/appid"
#endif

const char *
appid_default_data_dir(void)
{
    return APPID_DATA_DIR;
}

struct pkg {
    char *name;
    char *arch;
    char *version;
    char *section;
    char *vendor;
    char *description;
    bool installed;
};

struct md5_entry {
    char *path;                 /* Absolute, as in the .list file. */
    uint8_t md5[MD5_LEN];
};

struct candidate {
    size_t pkg;
    char *path;                 /* Absolute, inside the root. */
    bool has_md5;
    uint8_t md5[MD5_LEN];
};

struct dpkg_import {
    const char *root;           /* "" for "/", else without trailing '/'. */
    struct pkg *pkgs;
    size_t n_pkgs, allocated_pkgs;
    struct candidate *cands;
    size_t n_cands, allocated_cands;
    struct appid_import_report *report;
};

static void
note_unreadable(struct dpkg_import *im, const char *path, int error)
{
    if (!im->report->unreadable++) {
        snprintf(im->report->first_unreadable,
                 sizeof im->report->first_unreadable, "%s: %s", path,
                 strerror(error));
    }
}

/* Reads a whole file; returns 0 or an errno value. */
static int
slurp(const char *path, char **textp, size_t *lenp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *textp = NULL;
    if (fd < 0) {
        return errno;
    }
    size_t len = 0, allocated = 65536;
    char *text = xmalloc(allocated);
    for (;;) {
        if (allocated - len < 2) {
            allocated *= 2;
            text = xrealloc(text, allocated);
        }
        ssize_t n = read(fd, text + len, allocated - len - 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int error = errno;
            close(fd);
            free(text);
            return error;
        }
        if (n == 0) {
            break;
        }
        len += n;
    }
    close(fd);
    text[len] = '\0';
    *textp = text;
    if (lenp) {
        *lenp = len;
    }
    return 0;
}

static char *
root_path(const struct dpkg_import *im, const char *path)
{
    return xasprintf("%s%s", im->root, path);
}

/* The status file. */

static char *
maintainer_name(const char *maintainer)
{
    size_t n = strcspn(maintainer, "<");
    while (n && maintainer[n - 1] == ' ') {
        n--;
    }
    char *s = xmalloc(n + 1);
    memcpy(s, maintainer, n);
    s[n] = '\0';
    return s;
}

static void
pkg_destroy(struct pkg *p)
{
    free(p->name);
    free(p->arch);
    free(p->version);
    free(p->section);
    free(p->vendor);
    free(p->description);
}

/* Stores the finished stanza 'cur' if it is an installed package, and
 * resets it. */
static void
finish_stanza(struct dpkg_import *im, struct pkg *cur, char **maintainer,
              char **origin)
{
    if (cur->name && cur->installed) {
        cur->vendor = *origin ? xstrdup(*origin)
                              : maintainer_name(*maintainer ? *maintainer
                                                            : "");
        char **fields[] = {
            &cur->version, &cur->section, &cur->arch, &cur->description
        };
        for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
            if (!*fields[i]) {
                *fields[i] = xstrdup("");
            }
        }
        if (im->n_pkgs >= im->allocated_pkgs) {
            im->allocated_pkgs = im->allocated_pkgs
                                 ? 2 * im->allocated_pkgs : 256;
            im->pkgs = xrealloc(im->pkgs,
                                im->allocated_pkgs * sizeof *im->pkgs);
        }
        im->pkgs[im->n_pkgs++] = *cur;
    } else {
        pkg_destroy(cur);
    }
    memset(cur, 0, sizeof *cur);
    free(*maintainer);
    free(*origin);
    *maintainer = *origin = NULL;
}

static void
set_field(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

/* Parses the stanzas of the status file, keeping installed packages. */
static void
parse_status(struct dpkg_import *im, char *text)
{
    struct pkg cur = { 0 };
    char *maintainer = NULL, *origin = NULL;
    char *line = text;

    for (;;) {
        char *next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }

        char *colon = strchr(line, ':');
        if (*line && *line != ' ' && *line != '\t' && colon) {
            *colon = '\0';
            const char *value = colon + 1 + strspn(colon + 1, " \t");
            if (!strcmp(line, "Package")) {
                set_field(&cur.name, value);
            } else if (!strcmp(line, "Status")) {
                const char *last = strrchr(value, ' ');
                cur.installed = !strcmp(last ? last + 1 : value,
                                        "installed");
            } else if (!strcmp(line, "Architecture")) {
                set_field(&cur.arch, value);
            } else if (!strcmp(line, "Version")) {
                set_field(&cur.version, value);
            } else if (!strcmp(line, "Section")) {
                set_field(&cur.section, value);
            } else if (!strcmp(line, "Description")) {
                set_field(&cur.description, value);
            } else if (!strcmp(line, "Maintainer")) {
                set_field(&maintainer, value);
            } else if (!strcmp(line, "Origin")) {
                set_field(&origin, value);
            }
        }

        if (!*line || !next) {
            finish_stanza(im, &cur, &maintainer, &origin);
        }
        if (!next) {
            break;
        }
        line = next;
    }
}

/* Per-package files. */

/* Reads info/PKG.SUFFIX, or info/PKG:ARCH.SUFFIX for multi-arch packages.
 * Returns 0, ENOENT, or another errno. */
static int
read_info(struct dpkg_import *im, const struct pkg *p, const char *suffix,
          char **textp)
{
    char *path = xasprintf("%s/var/lib/dpkg/info/%s.%s", im->root, p->name,
                           suffix);
    int error = slurp(path, textp, NULL);
    free(path);
    if (error == ENOENT && *p->arch) {
        path = xasprintf("%s/var/lib/dpkg/info/%s:%s.%s", im->root, p->name,
                         p->arch, suffix);
        error = slurp(path, textp, NULL);
        free(path);
    }
    return error;
}

static int
compare_md5_entries(const void *a_, const void *b_)
{
    const struct md5_entry *a = a_, *b = b_;
    return strcmp(a->path, b->path);
}

/* Parses "HEX  relative/path" lines, sorted by path. */
static struct md5_entry *
parse_md5sums(char *text, size_t *np)
{
    struct md5_entry *entries = NULL;
    size_t n = 0, allocated = 0;
    char *save = NULL;

    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strlen(line) < 2 * MD5_LEN + 3 || line[2 * MD5_LEN] != ' ') {
            continue;
        }
        line[2 * MD5_LEN] = '\0';
        uint8_t md5[MD5_LEN];
        if (!digest_from_hex(line, md5, MD5_LEN)) {
            continue;
        }
        const char *rel = line + 2 * MD5_LEN + 1;
        rel += strspn(rel, " *");
        if (n >= allocated) {
            allocated = allocated ? 2 * allocated : 64;
            entries = xrealloc(entries, allocated * sizeof *entries);
        }
        entries[n].path = xasprintf("/%s", rel);
        memcpy(entries[n].md5, md5, MD5_LEN);
        n++;
    }
    if (n) {
        qsort(entries, n, sizeof *entries, compare_md5_entries);
    }
    *np = n;
    return entries;
}

static bool
in_exec_dir(const char *path)
{
    return strstr(path, "/bin/") || strstr(path, "/sbin/")
           || strstr(path, "/libexec/");
}

/* Whether 'full' starts like an ELF file or a script.  Sets '*error' if it
 * cannot be read. */
static bool
has_exec_magic(const char *full, int *error)
{
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    *error = 0;
    if (fd < 0) {
        *error = errno;
        return false;
    }
    char magic[4];
    ssize_t n = read(fd, magic, sizeof magic);
    if (n < 0) {
        *error = errno;
    }
    close(fd);
    return (n >= 4 && !memcmp(magic, "\177ELF", 4))
           || (n >= 2 && magic[0] == '#' && magic[1] == '!');
}

static void
add_candidate(struct dpkg_import *im, size_t pkg, const char *path,
              const struct md5_entry *md5s, size_t n_md5s)
{
    if (im->n_cands >= im->allocated_cands) {
        im->allocated_cands = im->allocated_cands
                              ? 2 * im->allocated_cands : 1024;
        im->cands = xrealloc(im->cands,
                             im->allocated_cands * sizeof *im->cands);
    }
    struct candidate *c = &im->cands[im->n_cands++];
    memset(c, 0, sizeof *c);
    c->pkg = pkg;
    c->path = xstrdup(path);

    struct md5_entry key = { .path = (char *) path };
    const struct md5_entry *e = n_md5s
        ? bsearch(&key, md5s, n_md5s, sizeof *md5s, compare_md5_entries)
        : NULL;
    if (e) {
        c->has_md5 = true;
        memcpy(c->md5, e->md5, MD5_LEN);
    }
}

/* Finds the executables that package 'i' installed. */
static void
scan_package(struct dpkg_import *im, size_t i)
{
    const struct pkg *p = &im->pkgs[i];
    char *list;
    if (read_info(im, p, "list", &list)) {
        return;                 /* No files (e.g. a metapackage). */
    }

    char *sums = NULL;
    size_t n_md5s = 0;
    struct md5_entry *md5s = NULL;
    if (!read_info(im, p, "md5sums", &sums)) {
        md5s = parse_md5sums(sums, &n_md5s);
    }

    char *save = NULL;
    for (char *path = strtok_r(list, "\n", &save); path;
         path = strtok_r(NULL, "\n", &save)) {
        if (path[0] != '/') {
            continue;
        }
        char *full = root_path(im, path);
        struct stat s;
        int error = 0;
        if (!lstat(full, &s) && S_ISREG(s.st_mode)
            && ((s.st_mode & 0111) || in_exec_dir(path))) {
            if (has_exec_magic(full, &error)) {
                add_candidate(im, i, path, md5s, n_md5s);
            } else if (error) {
                note_unreadable(im, full, error);
            }
        }
        free(full);
    }

    for (size_t j = 0; j < n_md5s; j++) {
        free(md5s[j].path);
    }
    free(md5s);
    free(sums);
    free(list);
}

static char *
import_candidates(struct appid *a, struct dpkg_import *im,
                  const struct appid_dpkg_options *opt, const char *source,
                  const struct curated *cur)
{
    struct appid_import_report *r = im->report;

    for (size_t i = 0; i < im->n_cands; i++) {
        const struct candidate *c = &im->cands[i];
        const struct pkg *p = &im->pkgs[c->pkg];
        char *full = root_path(im, c->path);
        uint8_t sha256[SHA256_LEN], md5[MD5_LEN];
        uint64_t size;
        int error = digest_file(full, true, sha256, md5, &size);
        if (error) {
            note_unreadable(im, full, error);
            free(full);
            continue;
        }
        free(full);
        r->bytes += size;

        struct appid_signature s = {
            .name = strrchr(c->path, '/') + 1,
            .path = c->path,
            .size = (int64_t) size,
            .product = p->name,
            .description = p->description,
            .vendor = p->vendor,
            .version = p->version,
            .source = source,
        };
        memcpy(s.sha256, sha256, SHA256_LEN);
        curated_classify(cur, p->section, p->name, &s.category, &s.threat);

        char reason[256] = "";
        if (!c->has_md5) {
            s.trust = APPID_TRUST_KNOWN;
            snprintf(reason, sizeof reason, "package %s ships no checksum "
                     "for this file", p->name);
            r->unverified++;
        } else if (memcmp(md5, c->md5, MD5_LEN)) {
            char want[2 * MD5_LEN + 1], got[2 * MD5_LEN + 1];
            digest_to_hex(c->md5, MD5_LEN, want);
            digest_to_hex(md5, MD5_LEN, got);
            s.trust = APPID_TRUST_UNTRUSTED;
            snprintf(reason, sizeof reason, "modified: content differs from "
                     "package %s's checksum (md5 %.12s..., found %.12s...)",
                     p->name, want, got);
            r->untrusted++;
        } else {
            s.trust = APPID_TRUST_TRUSTED;
            r->trusted++;
        }
        s.reason = reason;

        error = appid_add(a, &s);
        if (error) {
            return xasprintf("%s: %s", c->path, appid_last_error(a));
        }
        r->added++;
        if (opt->progress && (i % 64 == 0 || i + 1 == im->n_cands)) {
            opt->progress(i + 1, im->n_cands, r->bytes, opt->aux);
        }
    }
    return NULL;
}

char *
appid_import_dpkg(struct appid *a, const struct appid_dpkg_options *opt,
                  struct appid_import_report *report)
{
    int64_t start = time_mono_ms();
    memset(report, 0, sizeof *report);

    const char *root = opt->root && *opt->root ? opt->root : "/";
    char *root_copy = xstrdup(root);
    size_t rlen = strlen(root_copy);
    while (rlen && root_copy[rlen - 1] == '/') {
        root_copy[--rlen] = '\0';
    }
    struct dpkg_import im = { .root = root_copy, .report = report };
    char *error = NULL;

    struct curated *cur = curated_create();
    error = curated_load(cur, opt->data_dir ? opt->data_dir
                                            : appid_default_data_dir());
    if (error) {
        goto out;
    }

    char *status_path = xasprintf("%s/var/lib/dpkg/status", root_copy);
    char *status;
    int e = slurp(status_path, &status, NULL);
    if (e) {
        error = xasprintf("%s: no dpkg database (%s: %s)", root,
                          status_path, strerror(e));
        free(status_path);
        goto out;
    }
    free(status_path);
    parse_status(&im, status);
    free(status);
    report->packages = im.n_pkgs;
    if (!im.n_pkgs) {
        error = xasprintf("%s: the dpkg database lists no installed "
                          "packages", root);
        goto out;
    }

    for (size_t i = 0; i < im.n_pkgs; i++) {
        scan_package(&im, i);
    }
    report->files = im.n_cands;

    if (appid_begin(a)) {
        error = xstrdup(appid_last_error(a));
        goto out;
    }
    char *source = !strcmp(root, "/") ? xstrdup("dpkg")
                                      : xasprintf("dpkg:%s", root);
    error = import_candidates(a, &im, opt, source, cur);
    free(source);
    for (size_t i = 0; !error && i < curated_n_patterns(cur); i++) {
        if (appid_add_pattern(a, curated_pattern(cur, i))) {
            error = xstrdup(appid_last_error(a));
        }
        report->patterns++;
    }
    if (!error && appid_meta_set_int(a, "dpkg_import_time",
                                     time_wall_ms() / 1000)) {
        error = xstrdup(appid_last_error(a));
    }
    if (!error && appid_commit(a)) {
        error = xstrdup(appid_last_error(a));
    }
    if (error) {
        appid_abort(a);
    }

out:
    report->seconds = (time_mono_ms() - start) / 1000.0;
    curated_destroy(cur);
    for (size_t i = 0; i < im.n_pkgs; i++) {
        pkg_destroy(&im.pkgs[i]);
    }
    free(im.pkgs);
    for (size_t i = 0; i < im.n_cands; i++) {
        free(im.cands[i].path);
    }
    free(im.cands);
    free(root_copy);
    return error;
}
