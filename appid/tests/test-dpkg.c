/* Unit tests for the dpkg importer (appid/dpkg.c) on a small Debian root
 * made in a temporary directory, and for the curated tables
 * (appid/curated.c). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "appid/appid.h"
#include "appid/import.h"
#include "appid/curated.h"
#include "common/digest.h"
#include "common/util.h"

static char root[64];

static void
put_file(const char *rel, const char *content, mode_t mode)
{
    char *path = xasprintf("%s%s", root, rel);
    char *cmd = xasprintf("mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_int_equal(write(fd, content, n), (ssize_t) n);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
    free(path);
}

static char *
md5_line(const char *content, const char *rel)
{
    uint8_t sha[32], md5[16];
    char *path = xasprintf("%s/tmp-md5", root);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_int_equal(write(fd, content, strlen(content)),
                     (ssize_t) strlen(content));
    lseek(fd, 0, SEEK_SET);
    assert_int_equal(digest_fd(fd, sha, md5, NULL), 0);
    close(fd);
    unlink(path);
    free(path);
    char hex[33];
    digest_to_hex(md5, 16, hex);
    return xasprintf("%s  %s\n", hex, rel + 1);
}

#define ELF(X) "\177ELF-binary-" X

static void
build_root(void)
{
    strcpy(root, "/tmp/appid-root-XXXXXX");
    assert_non_null(mkdtemp(root));
    assert_int_equal(chmod(root, 0755), 0);

    put_file("/var/lib/dpkg/status",
             "Package: curl\n"
             "Status: install ok installed\n"
             "Section: web\n"
             "Maintainer: Alessandro Ghedini <ghedo@debian.org>\n"
             "Architecture: amd64\n"
             "Version: 7.88.1-10\n"
             "Description: command line tool for transferring data\n"
             " curl is a command line tool...\n"
             " .\n"
             "\n"
             "Package: transmission-cli\n"
             "Status: install ok installed\n"
             "Section: net\n"
             "Maintainer: Debian Transmission <t@example.org>\n"
             "Origin: Transmission Project\n"
             "Version: 3.00-2.1\n"
             "Description: lightweight BitTorrent client (command line)\n"
             "\n"
             "Package: tamper\n"
             "Status: install ok installed\n"
             "Section: contrib/utils\n"
             "Maintainer: Someone <s@example.org>\n"
             "Version: 1.0\n"
             "Description: files that change\n"
             "\n"
             "Package: gone\n"
             "Status: deinstall ok config-files\n"
             "Section: utils\n"
             "Version: 2.0\n"
             "\n"
             "Package: libfoo\n"
             "Status: install ok installed\n"
             "Multi-Arch: same\n"
             "Architecture: amd64\n"
             "Section: libs\n"
             "Maintainer: Foo <f@example.org>\n"
             "Version: 0.1\n"
             "Description: a library with a helper", 0644);

    const char *curl = ELF("curl"), *tx = "#!/bin/sh\necho transmission\n";
    const char *tamper = ELF("tamper-as-installed-by-an-attacker");
    const char *nosum = ELF("nosum"), *helper = ELF("helper");
    put_file("/usr/bin/curl", curl, 0755);
    put_file("/usr/bin/transmission-cli", tx, 0755);
    put_file("/usr/bin/tamper", tamper, 0755);
    put_file("/usr/sbin/nosum", nosum, 0755);
    put_file("/usr/share/doc/tamper/README", "not executable\n", 0644);
    put_file("/usr/lib/tamper/data.bin", "no magic here", 0755);
    put_file("/usr/libexec/foo/helper", helper, 0644);
    put_file("/usr/bin/gone", ELF("gone"), 0755);

    put_file("/var/lib/dpkg/info/curl.list",
             "/.\n/usr\n/usr/bin\n/usr/bin/curl\n/usr/share/doc/curl\n",
             0644);
    char *m = md5_line(curl, "/usr/bin/curl");
    put_file("/var/lib/dpkg/info/curl.md5sums", m, 0644);
    free(m);
    put_file("/var/lib/dpkg/info/transmission-cli.list",
             "/usr/bin/transmission-cli\n", 0644);
    m = md5_line(tx, "/usr/bin/transmission-cli");
    put_file("/var/lib/dpkg/info/transmission-cli.md5sums", m, 0644);
    free(m);
    put_file("/var/lib/dpkg/info/tamper.list",
             "/usr/bin/tamper\n/usr/sbin/nosum\n"
             "/usr/share/doc/tamper/README\n/usr/lib/tamper/data.bin\n"
             "/usr/bin/missing-file\n", 0644);
    m = md5_line(ELF("tamper-as-shipped"), "/usr/bin/tamper");
    put_file("/var/lib/dpkg/info/tamper.md5sums", m, 0644);
    free(m);
    put_file("/var/lib/dpkg/info/gone.list", "/usr/bin/gone\n", 0644);
    put_file("/var/lib/dpkg/info/libfoo:amd64.list",
             "/usr/libexec/foo/helper\n", 0644);
}

static int
setup(void **state)
{
    (void) state;
    build_root();
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    char *cmd = xasprintf("rm -rf '%s'", root);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

static struct appid_result
lookup_file(struct appid *a, const char *rel)
{
    char *path = xasprintf("%s%s", root, rel);
    uint8_t sha[32];
    assert_int_equal(digest_file(path, true, sha, NULL, NULL), 0);
    free(path);
    struct appid_result r;
    assert_int_equal(appid_lookup(a, sha, rel, 0, &r), 0);
    return r;
}

static void
test_import(void **state)
{
    (void) state;
    struct appid *a;
    assert_null(appid_open(":memory:", 0, &a));
    struct appid_dpkg_options opt = { .root = root };
    struct appid_import_report r;
    char *error = appid_import_dpkg(a, &opt, &r);
    assert_null(error);

    assert_int_equal(r.packages, 4);        /* "gone" is not installed. */
    assert_int_equal(r.files, 5);
    assert_int_equal(r.added, 5);
    assert_int_equal(r.trusted, 2);
    assert_int_equal(r.untrusted, 1);
    assert_int_equal(r.unverified, 2);
    assert_true(r.patterns > 0);
    assert_int_equal(r.unreadable, 0);

    struct appid_result res = lookup_file(a, "/usr/bin/curl");
    assert_int_equal(res.match, APPID_MATCH_EXACT);
    assert_int_equal(res.trust, APPID_TRUST_TRUSTED);
    assert_string_equal(res.product, "curl");
    assert_string_equal(res.description,
                        "command line tool for transferring data");
    assert_string_equal(res.vendor, "Alessandro Ghedini");
    assert_string_equal(res.version, "7.88.1-10");
    assert_string_equal(res.category, "downloader");   /* packages.tsv */
    assert_int_equal(res.threat, APPID_THREAT_LOW);

    res = lookup_file(a, "/usr/bin/transmission-cli");
    assert_int_equal(res.trust, APPID_TRUST_TRUSTED);
    assert_string_equal(res.vendor, "Transmission Project");  /* Origin */
    assert_string_equal(res.category, "p2p");
    assert_int_equal(res.threat, APPID_THREAT_HIGH);

    res = lookup_file(a, "/usr/bin/tamper");
    assert_int_equal(res.match, APPID_MATCH_EXACT);
    assert_int_equal(res.trust, APPID_TRUST_UNTRUSTED);
    assert_non_null(strstr(res.reason, "modified: content differs from "
                           "package tamper's checksum"));
    assert_string_equal(res.category, "utility");   /* contrib/utils */

    res = lookup_file(a, "/usr/sbin/nosum");
    assert_int_equal(res.trust, APPID_TRUST_KNOWN);
    assert_non_null(strstr(res.reason, "ships no checksum"));

    res = lookup_file(a, "/usr/libexec/foo/helper");    /* Multi-arch. */
    assert_string_equal(res.product, "libfoo");
    assert_string_equal(res.category, "library");

    /* Not imported: not executable, no magic, not installed. */
    uint8_t sha[32];
    char *p = xasprintf("%s/usr/bin/gone", root);
    assert_int_equal(digest_file(p, true, sha, NULL, NULL), 0);
    free(p);
    assert_int_equal(appid_exists(a, sha), 0);

    /* A second import of the same root is idempotent. */
    assert_null(appid_import_dpkg(a, &opt, &r));
    struct appid_stats s;
    assert_int_equal(appid_stats(a, &s), 0);
    assert_int_equal(s.signatures, 5);
    appid_close(a);
}

static void
test_unreadable_files(void **state)
{
    (void) state;
    put_file("/usr/bin/curl", ELF("curl"), 0000);

    /* As root everything is readable: check as nobody, in a child. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        if (!getuid() && (setgid(65534) || setuid(65534))) {
            _exit(2);
        }
        struct appid *a;
        if (appid_open(":memory:", 0, &a)) {
            _exit(3);
        }
        struct appid_dpkg_options opt = { .root = root };
        struct appid_import_report r;
        char *error = appid_import_dpkg(a, &opt, &r);
        if (error) {
            fprintf(stderr, "%s\n", error);
            _exit(4);
        }
        if (r.unreadable != 1 || !strstr(r.first_unreadable, "/usr/bin/curl")
            || !strstr(r.first_unreadable, "Permission denied")
            || r.added != 4) {
            fprintf(stderr, "unreadable=%zu added=%zu first=%s\n",
                    r.unreadable, r.added, r.first_unreadable);
            _exit(5);
        }
        appid_close(a);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    put_file("/usr/bin/curl", ELF("curl"), 0755);
}

static void
test_bad_roots(void **state)
{
    (void) state;
    struct appid *a;
    assert_null(appid_open(":memory:", 0, &a));
    struct appid_dpkg_options opt = { .root = "/nonexistent-root" };
    struct appid_import_report r;
    char *error = appid_import_dpkg(a, &opt, &r);
    assert_non_null(error);
    assert_non_null(strstr(error, "no dpkg database"));
    free(error);

    /* Broken curated data: an error naming file and line, and nothing
     * written. */
    char data[96];
    snprintf(data, sizeof data, "%s/data", root);
    char *cmd = xasprintf("mkdir -p %s && cp %s/*.tsv %s/ && printf "
                          "'net\\tnetwork\\tsevere\\n' >> %s/sections.tsv",
                          data, appid_default_data_dir(), data, data);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    opt.root = root;
    opt.data_dir = data;
    error = appid_import_dpkg(a, &opt, &r);
    assert_non_null(error);
    assert_non_null(strstr(error, "sections.tsv:"));
    assert_non_null(strstr(error, "unknown threat level \"severe\""));
    free(error);
    struct appid_stats s;
    assert_int_equal(appid_stats(a, &s), 0);
    assert_int_equal(s.signatures, 0);
    appid_close(a);
}

static void
test_curated_tables(void **state)
{
    (void) state;
    struct curated *c = curated_create();
    assert_null(curated_load(c, appid_default_data_dir()));

    static const struct {
        const char *section, *package, *category;
        enum appid_threat threat;
    } cases[] = {
        { "net", "transmission-daemon", "p2p", APPID_THREAT_HIGH },
        { "net", "qbittorrent-nox", "p2p", APPID_THREAT_HIGH },
        { "net", "deluged", "p2p", APPID_THREAT_HIGH },
        { "net", "aria2", "p2p", APPID_THREAT_MEDIUM },
        { "net", "openssh-client", "remote-access", APPID_THREAT_LOW },
        { "net", "telnet", "remote-access", APPID_THREAT_MEDIUM },
        { "net", "nmap", "network-scanner", APPID_THREAT_HIGH },
        { "net", "masscan", "network-scanner", APPID_THREAT_HIGH },
        { "net", "netcat-openbsd", "network-tool", APPID_THREAT_HIGH },
        { "net", "ncat", "network-tool", APPID_THREAT_HIGH },
        { "net", "socat", "network-tool", APPID_THREAT_MEDIUM },
        { "web", "curl", "downloader", APPID_THREAT_LOW },
        { "web", "wget", "downloader", APPID_THREAT_LOW },
        { "web", "chromium", "browser", APPID_THREAT_LOW },
        { "mail", "mutt", "mail", APPID_THREAT_LOW },
        { "python", "python3.11-minimal", "interpreter",
          APPID_THREAT_MEDIUM },
        { "perl", "perl", "interpreter", APPID_THREAT_MEDIUM },
        { "shells", "bash", "interpreter", APPID_THREAT_MEDIUM },
        { "utils", "busybox-static", "interpreter", APPID_THREAT_MEDIUM },
        /* Not in packages.tsv: the section decides. */
        { "net", "iputils-tracepath-x", "network-tool", APPID_THREAT_NONE },
        { "non-free/net", "somedaemon", "network", APPID_THREAT_LOW },
        { "editors", "vim", "editor", APPID_THREAT_NONE },
        { "", "mystery", "unknown", APPID_THREAT_NONE },
        { "no-such-section", "mystery", "unknown", APPID_THREAT_NONE },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const char *category;
        enum appid_threat threat;
        curated_classify(c, cases[i].section, cases[i].package, &category,
                         &threat);
        if (strcmp(category, cases[i].category)
            || threat != cases[i].threat) {
            fail_msg("%s/%s: got %s/%s, want %s/%s", cases[i].section,
                     cases[i].package, category, appid_threat_name(threat),
                     cases[i].category, appid_threat_name(cases[i].threat));
        }
    }
    assert_true(curated_n_patterns(c) >= 10);
    assert_null(curated_pattern(c, 100000));
    curated_destroy(c);

    /* Parse errors name the file and line. */
    static const struct {
        int kind;
        const char *text, *error;
    } bad[] = {
        { 0, "# c\nnet\tnetwork\n", "t.tsv:2: 2 tab-separated fields, "
          "expected 3" },
        { 0, "net\tnetwork\tsevere\n", "t.tsv:1: unknown threat level "
          "\"severe\" (none, low, medium, high, critical)" },
        { 1, "\tp2p\thigh\n", "t.tsv:1: empty key or category" },
        { 2, "name\tx*\t\t\tp2p\tunknown\thigh\t0\n",
          "t.tsv:1: confidence \"0\" is not 1..99" },
        { 2, "path\trel/x\t\t\tp2p\tunknown\thigh\t5\n",
          "t.tsv:1: path pattern \"rel/x\" must start with /" },
        { 2, "file\tx\t\t\tp2p\tunknown\thigh\t5\n",
          "t.tsv:1: kind \"file\" is not name or path" },
        { 2, "name\tx*\t\t\tp2p\tmaybe\thigh\t5\n",
          "t.tsv:1: unknown trust level \"maybe\"" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        c = curated_create();
        char *error = bad[i].kind == 0
                      ? curated_parse_sections(c, "t.tsv", bad[i].text)
                      : bad[i].kind == 1
                      ? curated_parse_packages(c, "t.tsv", bad[i].text)
                      : curated_parse_patterns(c, "t.tsv", bad[i].text);
        if (!error || strcmp(error, bad[i].error)) {
            fail_msg("bad table %zu: got \"%s\", want \"%s\"", i,
                     error ? error : "(accepted)", bad[i].error);
        }
        free(error);
        curated_destroy(c);
    }

    c = curated_create();
    char *error = curated_load(c, "/nonexistent-data");
    assert_non_null(strstr(error, "/nonexistent-data/sections.tsv"));
    free(error);
    curated_destroy(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_roots, setup, teardown),
        cmocka_unit_test(test_curated_tables),
    };
    return cmocka_run_group_tests_name("dpkg", tests, NULL, NULL);
}
