/* Unit tests of common/file.c.  The test is linked with --wrap=fsync (see
 * common/build.mk): every fsync() file.c makes comes here first, which
 * records what it was called on (the new file before its rename, the
 * directory after it) and can make it fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "common/util.h"

int __real_fsync(int fd);
int __wrap_fsync(int fd);

struct fsync_call {
    bool dir;
    ino_t ino;
    bool renamed;               /* 'watched' already was this file. */
};

static struct fsync_call calls[8];
static size_t n_calls;
static const char *watched;     /* The path being replaced. */
static enum { FAIL_NONE, FAIL_FILE, FAIL_DIR } fail;

int
__wrap_fsync(int fd)
{
    struct stat st, now;
    assert_int_equal(fstat(fd, &st), 0);
    bool dir = S_ISDIR(st.st_mode);
    if (n_calls < ARRAY_SIZE(calls)) {
        calls[n_calls++] = (struct fsync_call) {
            .dir = dir,
            .ino = st.st_ino,
            .renamed = (watched && !stat(watched, &now)
                        && now.st_ino == st.st_ino),
        };
    }
    if ((fail == FAIL_FILE && !dir) || (fail == FAIL_DIR && dir)) {
        errno = EIO;
        return -1;
    }
    return __real_fsync(fd);
}

static char dir[64];

static int
setup(void **state)
{
    (void) state;
    strcpy(dir, "/tmp/test-file-XXXXXX");
    assert_non_null(mkdtemp(dir));
    n_calls = 0;
    fail = FAIL_NONE;
    watched = NULL;
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            char *p = xasprintf("%s/%s", dir, e->d_name);
            unlink(p);
            free(p);
        }
    }
    if (d) {
        closedir(d);
    }
    rmdir(dir);
    return 0;
}

/* The names in the test directory, sorted, space-separated. */
static char *
listing(void)
{
    char *names[16];
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) && n < ARRAY_SIZE(names)) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            names[n++] = xstrdup(e->d_name);
        }
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0;
             j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    }
    char *s = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *t = xasprintf("%s%s%s", s, i ? " " : "", names[i]);
        free(s);
        free(names[i]);
        s = t;
    }
    return s;
}

static void
assert_listing(const char *expected)
{
    char *s = listing();
    assert_string_equal(s, expected);
    free(s);
}

static char *
contents(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return xstrdup(buf);
}

static void
assert_contents(const char *path, const char *expected)
{
    char *s = contents(path);
    assert_string_equal(s, expected);
    free(s);
}

/* The new file was fsync'd before the rename, then its directory after. */
static void
assert_synced(const char *path)
{
    struct stat file, d;
    assert_int_equal(stat(path, &file), 0);
    assert_int_equal(stat(dir, &d), 0);
    assert_int_equal(n_calls, 2);
    assert_false(calls[0].dir);
    assert_int_equal(calls[0].ino, file.st_ino);
    assert_false(calls[0].renamed);
    assert_true(calls[1].dir);
    assert_int_equal(calls[1].ino, d.st_ino);
}

static void
test_new_and_replaced(void **state)
{
    (void) state;
    char *path = xasprintf("%s/reg", dir);
    watched = path;
    assert_int_equal(file_replace_data(path, 0640, "one\n", 4), 0);
    assert_contents(path, "one\n");
    assert_listing("reg");
    assert_synced(path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);

    n_calls = 0;
    assert_int_equal(file_replace_data(path, 0600, "two, longer\n", 12), 0);
    assert_contents(path, "two, longer\n");
    assert_listing("reg");
    assert_synced(path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    n_calls = 0;
    assert_int_equal(file_replace_data(path, 0600, "", 0), 0);
    assert_contents(path, "");
    assert_synced(path);
    free(path);
}

static void
test_stream(void **state)
{
    (void) state;
    char *path = xasprintf("%s/export", dir);
    watched = path;
    struct file_replace fr;
    assert_int_equal(file_replace_open(&fr, path, 0644), 0);
    for (int i = 0; i < 3; i++) {
        fprintf(fr.stream, "line %d\n", i);
    }
    /* Nothing at 'path' until the commit. */
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(file_replace_commit(&fr), 0);
    assert_null(fr.tmp);
    assert_contents(path, "line 0\nline 1\nline 2\n");
    assert_listing("export");
    assert_synced(path);

    /* An abort leaves the old file alone and no temporary file. */
    assert_int_equal(file_replace_open(&fr, path, 0644), 0);
    fputs("half", fr.stream);
    file_replace_abort(&fr);
    file_replace_abort(&fr);        /* Twice is harmless. */
    assert_contents(path, "line 0\nline 1\nline 2\n");
    assert_listing("export");
    free(path);
}

/* Replaces "old\n" by "new\n" with the fsync of 'what' failing: EIO, no
 * temporary file left, and 'expected' in the file. */
static void
replace_failing(int what, const char *expected, size_t expected_calls)
{
    char *path = xasprintf("%s/reg", dir);
    assert_int_equal(file_replace_data(path, 0644, "old\n", 4), 0);
    fail = what;
    n_calls = 0;
    assert_int_equal(file_replace_data(path, 0644, "new\n", 4), EIO);
    assert_contents(path, expected);
    assert_listing("reg");
    assert_int_equal(n_calls, expected_calls);
    free(path);
}

static void
test_file_fsync_fails(void **state)
{
    (void) state;
    /* Not renamed: the old contents stay. */
    replace_failing(FAIL_FILE, "old\n", 1);
}

static void
test_dir_fsync_fails(void **state)
{
    (void) state;
    /* Renamed already (file.h says so), and reported. */
    replace_failing(FAIL_DIR, "new\n", 2);
}

static void
test_no_directory(void **state)
{
    (void) state;
    char *path = xasprintf("%s/no/such/reg", dir);
    assert_int_equal(file_replace_data(path, 0644, "x", 1), ENOENT);
    assert_int_equal(n_calls, 0);
    assert_listing("");
    free(path);
}

static void
test_relative_path(void **state)
{
    (void) state;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    watched = "rel";
    assert_int_equal(file_replace_data("rel", 0644, "r\n", 2), 0);
    assert_int_equal(chdir(cwd), 0);
    char *path = xasprintf("%s/rel", dir);
    assert_contents(path, "r\n");
    assert_listing("rel");
    assert_synced(path);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_and_replaced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_fsync_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dir_fsync_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_path, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
