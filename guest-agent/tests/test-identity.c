/* Unit tests for guest-agent/identity.c on real processes (children that
 * run copies of /bin/sleep: from a file, a replaced or rewritten file, a
 * deleted file and a memfd) and on fake /proc and /etc trees in a
 * temporary directory (hostile stat, cmdline and cgroup contents, login
 * uids, kernel threads, passwd/group/resolv.conf parsing and reloading).
 * Every test's children and files go in its teardown, even when it
 * fails. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <cmocka.h>

#include "common/digest.h"
#include "common/msg.h"
#include "common/util.h"
#include "guest-agent/identity.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define MAX_KIDS 8

struct fixture {
    char dir[64];               /* Temporary directory, real path. */
    pid_t kids[MAX_KIDS];
    int n_kids;
    int memfd;
    struct identity_ctx *ctx;
    struct identity id;
};

static struct fixture *
fix(void **state)
{
    return *state;
}

static int
setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);
    char tmpl[] = "/tmp/test-identity-XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, f->dir)) {
        free(f);
        return -1;
    }
    f->memfd = -1;
    *state = f;
    return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void
reap(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        continue;
    }
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < f->n_kids; i++) {
        reap(f->kids[i]);
    }
    if (f->memfd >= 0) {
        close(f->memfd);
    }
    identity_destroy(&f->id);
    identity_ctx_destroy(f->ctx);
    int error = nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return error;
}

/* Kills and reaps every child so far. */
static void
reap_kids(struct fixture *f)
{
    for (int i = 0; i < f->n_kids; i++) {
        reap(f->kids[i]);
    }
    f->n_kids = 0;
}

static char *
path_in(const struct fixture *f, const char *rel)
{
    return xasprintf("%s/%s", f->dir, rel);
}

static void
mkdir_in(const struct fixture *f, const char *rel)
{
    char *path = path_in(f, rel);
    assert_int_equal(mkdir(path, 0755), 0);
    free(path);
}

static void
write_path(const char *path, const void *data, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t) n);
    assert_int_equal(close(fd), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void
write_in(const struct fixture *f, const char *rel, const void *data,
         size_t n)
{
    char *path = path_in(f, rel);
    write_path(path, data, n, 0644);
    free(path);
}

static void
put_in(const struct fixture *f, const char *rel, const char *text)
{
    write_in(f, rel, text, strlen(text));
}

/* Writes 'text' to 'rel' through a new file renamed over it. */
static void
replace_in(const struct fixture *f, const char *rel, const char *text)
{
    char *tmp = xasprintf("%s/%s.new", f->dir, rel);
    char *path = path_in(f, rel);
    write_path(tmp, text, strlen(text), 0644);
    assert_int_equal(rename(tmp, path), 0);
    free(tmp);
    free(path);
}

/* Returns /bin/sleep's contents (malloc'd), with its size in '*n'. */
static char *
read_sleep(size_t *n)
{
    int fd = open("/bin/sleep", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char *data = xmalloc(st.st_size);
    assert_int_equal(read(fd, data, st.st_size), st.st_size);
    close(fd);
    *n = st.st_size;
    return data;
}

/* Writes /bin/sleep's contents, then 'tail' (if nonnull), to 'path', an
 * executable file. */
static void
write_sleep(const char *path, const char *tail)
{
    size_t n;
    char *data = read_sleep(&n);
    if (tail) {
        data = xrealloc(data, n + strlen(tail));
        memcpy(data + n, tail, strlen(tail));
        n += strlen(tail);
    }
    write_path(path, data, n, 0755);
    free(data);
}

static void
sha_of_file(const char *path, uint8_t sha[SHA256_LEN])
{
    assert_int_equal(digest_file(path, false, sha, NULL, NULL), 0);
}

/* Starts a child that runs 'path' (or, if 'path' is NULL, the executable
 * open as 'exec_fd') with 'argv', first setting its login uid to
 * 'loginuid' unless that is -1.  Returns its pid once the exec has
 * succeeded, or -errno if writing the login uid failed. */
static pid_t
spawn(struct fixture *f, const char *path, int exec_fd,
      char *const argv[], long long loginuid)
{
    static char *const envp[] = { NULL };
    int fds[2];

    assert_true(f->n_kids < MAX_KIDS);
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        int report[2] = { 0, 0 };
        close(fds[0]);
        if (loginuid >= 0) {
            char buf[32];
            int n = snprintf(buf, sizeof buf, "%lld", loginuid);
            int fd = open("/proc/self/loginuid", O_WRONLY);
            if (fd < 0 || write(fd, buf, n) != n) {
                report[0] = 1;
                report[1] = errno;
                (void) !write(fds[1], report, sizeof report);
                _exit(126);
            }
            close(fd);
        }
        if (path) {
            execve(path, argv, envp);
        } else {
            fexecve(exec_fd, argv, envp);
        }
        report[0] = 2;
        report[1] = errno;
        (void) !write(fds[1], report, sizeof report);
        _exit(127);
    }

    /* The pipe closes on a successful exec. */
    close(fds[1]);
    int report[2];
    ssize_t n;
    do {
        n = read(fds[0], report, sizeof report);
    } while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == 0) {
        f->kids[f->n_kids++] = pid;
        return pid;
    }
    reap(pid);
    assert_int_equal(n, sizeof report);
    if (report[0] == 1) {
        return -report[1];
    }
    fail_msg("exec failed: %s", strerror(report[1]));
    return -1;
}

static pid_t
spawn_sleep(struct fixture *f, const char *path)
{
    static char *const argv[] = { "sleep", "30", NULL };
    return spawn(f, path, -1, argv, -1);
}

static void
resolve_ok(struct fixture *f, int pid, uint32_t uid, uint32_t gid)
{
    identity_destroy(&f->id);
    assert_int_equal(identity_resolve(f->ctx, pid, uid, gid, &f->id), 0);
}

static struct identity_stats
stats(const struct fixture *f)
{
    struct identity_stats s;
    identity_get_stats(f->ctx, &s);
    return s;
}

/* Strict UTF-8 check through glibc's decoder, independent of ours. */
static bool
valid_utf8(const char *s, size_t n)
{
    mbstate_t mbs;
    memset(&mbs, 0, sizeof mbs);
    while (n > 0) {
        wchar_t wc;
        size_t len = mbrtowc(&wc, s, n, &mbs);
        if (len == (size_t) -1 || len == (size_t) -2 || len == 0) {
            return false;
        }
        s += len;
        n -= len;
    }
    return true;
}

static void
test_child_sleep(void **state)
{
    struct fixture *f = fix(state);
    char real[PATH_MAX];
    uint8_t sha[SHA256_LEN];
    struct stat st;

    assert_non_null(realpath("/bin/sleep", real));
    sha_of_file(real, sha);
    assert_int_equal(stat(real, &st), 0);

    f->ctx = identity_ctx_create(NULL);
    pid_t pid = spawn_sleep(f, "/bin/sleep");
    resolve_ok(f, pid, 0, 0);

    struct identity *id = &f->id;
    assert_int_equal(id->pid, pid);
    assert_int_equal(id->ppid, getpid());
    assert_string_equal(id->comm, "sleep");
    assert_false(id->kernel_thread);
    assert_string_equal(id->exe_path, real);
    assert_string_equal(id->exe_name, "sleep");
    assert_false(id->exe_deleted);
    assert_false(id->exe_memfd);
    assert_true(id->have_stat);
    assert_int_equal(id->exe_size, st.st_size);
    assert_int_equal(id->exe_dev, st.st_dev);
    assert_int_equal(id->exe_ino, st.st_ino);
    assert_int_equal(id->exe_ctime_sec, st.st_ctim.tv_sec);
    assert_int_equal(id->exe_ctime_nsec, st.st_ctim.tv_nsec);
    assert_true(id->have_sha256);
    assert_memory_equal(id->sha256, sha, SHA256_LEN);
    assert_string_equal(id->cmdline, "sleep 30");
    assert_int_equal(id->uid, 0);
    assert_int_equal(id->gid, 0);
    assert_string_equal(id->user, "root");
    assert_string_equal(id->group, "root");
    /* Whatever this machine's cgroup is, it is a path. */
    if (id->cgroup) {
        assert_true(id->cgroup[0] == '/');
    }
}

static void
test_hash_cache(void **state)
{
    struct fixture *f = fix(state);
    struct stat st;
    assert_int_equal(stat("/bin/sleep", &st), 0);

    f->ctx = identity_ctx_create(NULL);
    pid_t a = spawn_sleep(f, "/bin/sleep");
    pid_t b = spawn_sleep(f, "/bin/sleep");
    resolve_ok(f, a, 0, 0);
    uint8_t sha[SHA256_LEN];
    memcpy(sha, f->id.sha256, SHA256_LEN);
    resolve_ok(f, b, 0, 0);
    assert_memory_equal(f->id.sha256, sha, SHA256_LEN);
    resolve_ok(f, a, 0, 0);
    assert_memory_equal(f->id.sha256, sha, SHA256_LEN);

    struct identity_stats s = stats(f);
    assert_int_equal(s.hash_misses, 1);
    assert_int_equal(s.hash_hits, 2);
    assert_int_equal(s.hash_entries, 1);
    assert_int_equal(s.hashed_bytes, st.st_size);

    /* A one-entry cache: each other executable evicts the last. */
    identity_ctx_destroy(f->ctx);
    f->ctx = identity_ctx_create(&(struct identity_config) {
                                     .hash_cache_max = 1 });
    resolve_ok(f, a, 0, 0);
    resolve_ok(f, getpid(), 0, 0);
    resolve_ok(f, b, 0, 0);
    assert_memory_equal(f->id.sha256, sha, SHA256_LEN);
    resolve_ok(f, a, 0, 0);
    s = stats(f);
    assert_int_equal(s.hash_misses, 3);
    assert_int_equal(s.hash_hits, 1);
    assert_int_equal(s.hash_entries, 1);
}

static void
test_replaced_binary(void **state)
{
    struct fixture *f = fix(state);
    char *prog = path_in(f, "prog");
    char *prog_new = path_in(f, "prog.new");
    uint8_t sha1[SHA256_LEN], sha2[SHA256_LEN], sha3[SHA256_LEN];

    f->ctx = identity_ctx_create(NULL);
    write_sleep(prog, NULL);
    sha_of_file(prog, sha1);
    pid_t first = spawn_sleep(f, prog);
    resolve_ok(f, first, 0, 0);
    assert_string_equal(f->id.exe_path, prog);
    assert_string_equal(f->id.exe_name, "prog");
    assert_memory_equal(f->id.sha256, sha1, SHA256_LEN);
    assert_int_equal(stats(f).hash_misses, 1);

    /* A new version renamed into place: a new inode. */
    write_sleep(prog_new, "version 2 trailer");
    assert_int_equal(rename(prog_new, prog), 0);
    sha_of_file(prog, sha2);
    assert_memory_not_equal(sha1, sha2, SHA256_LEN);
    pid_t second = spawn_sleep(f, prog);
    resolve_ok(f, second, 0, 0);
    assert_false(f->id.exe_deleted);
    assert_memory_equal(f->id.sha256, sha2, SHA256_LEN);
    assert_int_equal(stats(f).hash_misses, 2);
    uint64_t ino = f->id.exe_ino;

    /* The first child still runs the old version, now unlinked, which
     * changed its ctime: hashed again, once. */
    resolve_ok(f, first, 0, 0);
    assert_true(f->id.exe_deleted);
    char *deleted = xasprintf("%s (deleted)", prog);
    assert_string_equal(f->id.exe_path, deleted);
    assert_string_equal(f->id.exe_name, "prog");
    assert_memory_equal(f->id.sha256, sha1, SHA256_LEN);
    assert_int_equal(stats(f).hash_misses, 3);
    resolve_ok(f, first, 0, 0);
    assert_memory_equal(f->id.sha256, sha1, SHA256_LEN);
    assert_int_equal(stats(f).hash_misses, 3);
    assert_int_equal(stats(f).hash_hits, 1);

    /* Rewritten in place, same inode and size, then touched. */
    reap_kids(f);               /* Else writing fails with ETXTBSY. */
    size_t n;
    char *data = read_sleep(&n);
    data = xrealloc(data, n + 17);
    memcpy(data + n, "version 3 trailer", 17);
    int fd = open(prog, O_WRONLY | O_TRUNC | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n + 17), (ssize_t) n + 17);
    assert_int_equal(close(fd), 0);
    struct timespec times[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, prog, times, 0), 0);
    sha_of_file(prog, sha3);
    assert_memory_not_equal(sha2, sha3, SHA256_LEN);

    pid_t third = spawn_sleep(f, prog);
    resolve_ok(f, third, 0, 0);
    assert_int_equal(f->id.exe_ino, ino);
    assert_memory_equal(f->id.sha256, sha3, SHA256_LEN);
    assert_int_equal(stats(f).hash_misses, 4);

    free(data);
    free(deleted);
    free(prog);
    free(prog_new);
}

static void
test_deleted(void **state)
{
    struct fixture *f = fix(state);
    char *del = path_in(f, "del");
    char *lit = path_in(f, "lit (deleted)");
    char *want = xasprintf("%s (deleted)", del);
    uint8_t sha[SHA256_LEN];

    sha_of_file("/bin/sleep", sha);
    f->ctx = identity_ctx_create(NULL);
    write_sleep(del, NULL);
    pid_t pid = spawn_sleep(f, del);
    assert_int_equal(unlink(del), 0);
    resolve_ok(f, pid, 0, 0);
    assert_true(f->id.exe_deleted);
    assert_false(f->id.exe_memfd);
    assert_string_equal(f->id.exe_path, want);
    assert_string_equal(f->id.exe_name, "del");
    assert_true(f->id.have_sha256);
    assert_memory_equal(f->id.sha256, sha, SHA256_LEN);

    /* A file named so is not deleted. */
    write_sleep(lit, NULL);
    pid = spawn_sleep(f, lit);
    resolve_ok(f, pid, 0, 0);
    assert_string_equal(f->id.exe_path, lit);
    assert_false(f->id.exe_deleted);
    assert_string_equal(f->id.exe_name, "lit (deleted)");
    assert_memory_equal(f->id.sha256, sha, SHA256_LEN);

    /* ... until it is. */
    assert_int_equal(unlink(lit), 0);
    resolve_ok(f, pid, 0, 0);
    assert_true(f->id.exe_deleted);
    assert_string_equal(f->id.exe_name, "lit (deleted)");

    free(del);
    free(lit);
    free(want);
}

static void
test_memfd(void **state)
{
    struct fixture *f = fix(state);
    static char *const argv[] = { "afwtest", "30", NULL };
    uint8_t sha[SHA256_LEN];

    sha_of_file("/bin/sleep", sha);
    f->ctx = identity_ctx_create(NULL);
    f->memfd = memfd_create("afwtest", MFD_CLOEXEC | MFD_EXEC);
    if (f->memfd < 0 && errno == EINVAL) {
        f->memfd = memfd_create("afwtest", MFD_CLOEXEC);
    }
    assert_true(f->memfd >= 0);
    size_t n;
    char *data = read_sleep(&n);
    assert_int_equal(write(f->memfd, data, n), (ssize_t) n);
    free(data);

    pid_t pid = spawn(f, NULL, f->memfd, argv, -1);
    resolve_ok(f, pid, 0, 0);
    assert_string_equal(f->id.exe_path, "/memfd:afwtest (deleted)");
    assert_string_equal(f->id.exe_name, "memfd:afwtest");
    assert_true(f->id.exe_memfd);
    assert_true(f->id.exe_deleted);
    assert_true(f->id.have_sha256);
    assert_memory_equal(f->id.sha256, sha, SHA256_LEN);
    assert_int_equal(f->id.exe_size, n);
    assert_string_equal(f->id.cmdline, "afwtest 30");
}

static char *
resolve_user(struct fixture *f, uint32_t uid)
{
    resolve_ok(f, getpid(), uid, 0);
    return f->id.user;
}

static char *
resolve_group(struct fixture *f, uint32_t gid)
{
    resolve_ok(f, getpid(), 0, gid);
    return f->id.group;
}

static void
test_etc_files(void **state)
{
    struct fixture *f = fix(state);
    mkdir_in(f, "etc");
    char *etc = path_in(f, "etc");

    /* A 100 KiB name is skipped; a 100 KiB GECOS is fine. */
    size_t big = 100 * 1024;
    char *long_name = xmalloc(big + 1);
    memset(long_name, 'n', big);
    long_name[big] = '\0';
    char *passwd = xasprintf(
        "root:x:0:0:root:/root:/bin/sh\n"
        "# alice:x:1001:1001::/:/bin/sh\n"
        "\n"
        "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
        "no colons at all\n"
        "bob:x:notanumber:100::/:/bin/sh\n"
        ":x:1002:100::/:/bin/sh\n"
        "carol:x:1003\n"
        "dave:x:4294967296:100::/:/bin/sh\n"
        "erin:x:-1004:100::/:/bin/sh\n"
        "+nis::1005:100::/:/bin/sh\n"
        "ctl\x01name:x:1006:100::/:/bin/sh\n"
        "%s:x:1007:100::/:/bin/sh\n"
        "frank:x:1008:100:%s:/:/bin/sh\n"
        "impostor:x:1000:1000::/:/bin/sh\n"
        "grace:x:1009:100::/:/bin/sh",      /* No final newline. */
        long_name, long_name);
    put_in(f, "etc/passwd", passwd);
    put_in(f, "etc/group",
           "root:x:0:\n"
           "users:x:100:alice,bob\n"
           "staff:x:50\n"
           "broken\n"
           "odd:x:5x:\n"
           "wheel:x:10:alice\n");

    f->ctx = identity_ctx_create(&(struct identity_config) {
                                     .etc_root = etc });
    assert_string_equal(resolve_user(f, 0), "root");
    assert_string_equal(resolve_user(f, 1000), "alice");
    assert_null(resolve_user(f, 1001));
    assert_null(resolve_user(f, 1002));
    assert_null(resolve_user(f, 1003));
    assert_null(resolve_user(f, 1004));
    assert_null(resolve_user(f, 1005));
    assert_null(resolve_user(f, 1006));
    assert_null(resolve_user(f, 1007));
    assert_string_equal(resolve_user(f, 1008), "frank");
    assert_string_equal(resolve_user(f, 1009), "grace");
    assert_null(resolve_user(f, 4242));
    assert_null(resolve_user(f, UINT32_MAX));
    assert_string_equal(resolve_group(f, 0), "root");
    assert_string_equal(resolve_group(f, 100), "users");
    assert_string_equal(resolve_group(f, 50), "staff");
    assert_string_equal(resolve_group(f, 10), "wheel");
    assert_null(resolve_group(f, 5));
    assert_null(resolve_group(f, 7));
    assert_null(f->id.domain);

    /* Replaced (new inode), then rewritten in place (new size). */
    replace_in(f, "etc/passwd", "root:x:0:0::/:/bin/sh\n"
                                "alicia:x:1000:1000::/:/bin/sh\n");
    assert_string_equal(resolve_user(f, 1000), "alicia");
    assert_null(resolve_user(f, 1008));
    put_in(f, "etc/passwd", "root:x:0:0::/:/bin/sh\n"
                            "alexandra:x:1000:1000::/:/bin/sh\n");
    assert_string_equal(resolve_user(f, 1000), "alexandra");

    /* Removed, then back. */
    char *path = path_in(f, "etc/passwd");
    assert_int_equal(unlink(path), 0);
    assert_null(resolve_user(f, 0));
    put_in(f, "etc/passwd", "toor:x:0:0::/:/bin/sh\n");
    assert_string_equal(resolve_user(f, 0), "toor");
    free(path);

    /* The domain: "domain" wins over "search", whatever the order. */
    put_in(f, "etc/resolv.conf",
           "# generated\n"
           "search x.example y.example\n"
           "nameserver 10.0.0.1\n"
           "domain corp.example.\n"
           "options ndots:2\n");
    resolve_ok(f, getpid(), 0, 0);
    assert_string_equal(f->id.domain, "corp.example");
    replace_in(f, "etc/resolv.conf",
               "nameserver 10.0.0.1\n"
               "search\ta.example b.example\n");
    resolve_ok(f, getpid(), 0, 0);
    assert_string_equal(f->id.domain, "a.example");
    replace_in(f, "etc/resolv.conf", "domain bad/domain\nsearch .\n");
    resolve_ok(f, getpid(), 0, 0);
    assert_null(f->id.domain);

    /* A configured domain is never read from resolv.conf. */
    identity_ctx_destroy(f->ctx);
    f->ctx = identity_ctx_create(&(struct identity_config) {
                                     .etc_root = etc,
                                     .domain = "fixed.example" });
    resolve_ok(f, getpid(), 0, 0);
    assert_string_equal(f->id.domain, "fixed.example");
    assert_string_equal(f->id.user, "toor");

    free(passwd);
    free(long_name);
    free(etc);
}

/* Makes a fake proc_root/PID with the given files (NULL: absent); 'exe' is
 * where its "exe" symlink points. */
static void
fake_proc(const struct fixture *f, int pid, const char *stat,
          const void *cmdline, size_t cmdline_len, const char *cgroup,
          const char *loginuid, const char *exe)
{
    char *rel = xasprintf("proc/%d", pid);
    mkdir_in(f, rel);
    struct {
        const char *name;
        const void *data;
        size_t len;
    } files[] = {
        { "stat", stat, stat ? strlen(stat) : 0 },
        { "cmdline", cmdline, cmdline_len },
        { "cgroup", cgroup, cgroup ? strlen(cgroup) : 0 },
        { "loginuid", loginuid, loginuid ? strlen(loginuid) : 0 },
    };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        if (files[i].data) {
            char *file = xasprintf("%s/%s", rel, files[i].name);
            write_in(f, file, files[i].data, files[i].len);
            free(file);
        }
    }
    if (exe) {
        char *link = xasprintf("%s/%s/exe", f->dir, rel);
        assert_int_equal(symlink(exe, link), 0);
        free(link);
    }
    free(rel);
}

#define STAT_TAIL(FLAGS) " 4242 4242 0 -1 " #FLAGS " 0 0 0 0 0 0 0 0 20 0 1"

static void
test_fake_proc(void **state)
{
    struct fixture *f = fix(state);
    static const char app[] = "fake app\n";
    uint8_t sha[SHA256_LEN];

    mkdir_in(f, "proc");
    mkdir_in(f, "etc");
    mkdir_in(f, "bin");
    put_in(f, "bin/fakeapp", app);
    digest_sha256(app, strlen(app), sha);
    char *exe = path_in(f, "bin/fakeapp");
    put_in(f, "etc/passwd", "root:x:0:0::/root:/bin/sh\n"
                            "alice:x:1000:1000::/home/alice:/bin/sh\n");
    put_in(f, "etc/group", "root:x:0:\nalice:x:1000:\n");

    /* root via sudo in alice's session; a comm with ") " inside. */
    static const char cmd1[] = "sudo\0-i\0";
    fake_proc(f, 4242, "4242 (we) S 1 (rd) R 777" STAT_TAIL(4194560) "\n",
              cmd1, sizeof cmd1 - 1,
              "1:name=systemd:/user.slice/user-1000.slice/session-9.scope\n"
              "0::/user.slice/user-1000.slice/session-3.scope\n",
              "1000", exe);

    /* A service, cgroup v1 only, no login session, a hostile argv. */
    static const char cmd2[] = "a\xff\xfe\0b\x1b[0m\0\xc2\x85\xc3\xa9\t\x7f"
                               "\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82\0";
    fake_proc(f, 4243, "4243 (sshd) S 1" STAT_TAIL(4194560) "\n",
              cmd2, sizeof cmd2 - 1,
              "12:cpu,cpuacct:/x.service\n"
              "1:name=systemd:/system.slice/ssh.service\n",
              "4294967295", exe);

    /* 1023 bytes, then a character across the bound of 1024. */
    char cmd3[2000];
    memset(cmd3, 'a', 1023);
    memcpy(cmd3 + 1023, "\xc3\xa9zz", 4);
    fake_proc(f, 4244, "4244 (a) S 1" STAT_TAIL(0) "\n", cmd3, 1027,
              "0::/system.slice/foo.service/payload\n", NULL, exe);

    /* A 3-byte character cut by the read itself (1025 bytes). */
    char cmd4[2000];
    memset(cmd4, 'b', 1022);
    memcpy(cmd4 + 1022, "\xe2\x82\xac" "cc", 5);
    fake_proc(f, 4245, "4245 (b) S 1" STAT_TAIL(0) "\n", cmd4, 1027,
              "0::/\n", NULL, exe);

    /* A kernel thread (PF_KTHREAD): no exe, no cmdline. */
    fake_proc(f, 2, "2 (kthreadd) S 0" STAT_TAIL(2129984) "\n", "", 0,
              "0::/\n", "4294967295", NULL);

    /* A process without exe that is no kernel thread: gone. */
    fake_proc(f, 4246, "4246 (gone) Z 1" STAT_TAIL(4227084) "\n", "", 0,
              NULL, NULL, NULL);

    /* A stat file with no ')' at all. */
    fake_proc(f, 4247, "4247 (broken", NULL, 0, NULL, NULL, exe);

    char *proc = path_in(f, "proc");
    char *etc = path_in(f, "etc");
    f->ctx = identity_ctx_create(&(struct identity_config) {
                                     .proc_root = proc,
                                     .etc_root = etc });

    resolve_ok(f, 4242, 0, 0);
    struct identity *id = &f->id;
    assert_int_equal(id->ppid, 777);
    assert_string_equal(id->comm, "we) S 1 (rd");
    assert_string_equal(id->exe_path, exe);
    assert_string_equal(id->exe_name, "fakeapp");
    assert_true(id->have_sha256);
    assert_memory_equal(id->sha256, sha, SHA256_LEN);
    assert_int_equal(id->exe_size, strlen(app));
    assert_string_equal(id->cmdline, "sudo -i");
    assert_string_equal(id->cgroup,
                        "/user.slice/user-1000.slice/session-3.scope");
    assert_string_equal(id->unit, "session-3.scope");
    assert_string_equal(id->user, "root");
    assert_string_equal(id->group, "root");
    assert_true(id->have_login);
    assert_int_equal(id->login_uid, 1000);
    assert_string_equal(id->login, "alice");

    resolve_ok(f, 4243, 1000, 1000);
    assert_int_equal(id->ppid, 1);
    assert_string_equal(id->cmdline,
                        "a?? b?[0m ?\xc3\xa9" "??" "???" "????" "??");
    assert_string_equal(id->cgroup, "/system.slice/ssh.service");
    assert_string_equal(id->unit, "ssh.service");
    assert_false(id->have_login);
    assert_null(id->login);
    assert_string_equal(id->user, "alice");
    assert_string_equal(id->group, "alice");

    resolve_ok(f, 4244, 0, 0);
    assert_int_equal(strlen(id->cmdline), 1023);
    assert_string_equal(id->unit, "foo.service");
    assert_false(id->have_login);

    resolve_ok(f, 4245, 0, 0);
    assert_int_equal(strlen(id->cmdline), 1022);
    assert_true(valid_utf8(id->cmdline, 1022));
    assert_string_equal(id->cgroup, "/");
    assert_null(id->unit);

    /* A larger bound keeps more, never beyond 4096. */
    identity_ctx_destroy(f->ctx);
    f->ctx = identity_ctx_create(&(struct identity_config) {
                                     .proc_root = proc,
                                     .etc_root = etc,
                                     .cmdline_max = 100000 });
    resolve_ok(f, 4244, 0, 0);
    assert_int_equal(strlen(id->cmdline), 1027);
    resolve_ok(f, 4245, 0, 0);
    assert_string_equal(id->cmdline + 1022, "\xe2\x82\xac" "cc");

    resolve_ok(f, 2, 0, 0);
    assert_true(id->kernel_thread);
    assert_string_equal(id->comm, "kthreadd");
    assert_int_equal(id->ppid, 0);
    assert_null(id->exe_path);
    assert_null(id->cmdline);
    assert_false(id->have_sha256);
    assert_string_equal(id->cgroup, "/");

    struct json_object *obj = json_object_new_object();
    identity_to_json(id, obj);
    assert_string_equal(msg_get_string(obj, "app.path", ""), "[kthreadd]");
    assert_string_equal(msg_get_string(obj, "app.name", ""), "kthreadd");
    assert_null(msg_get(obj, "app.sha256"));
    assert_int_equal(msg_get_int(obj, "process.ppid", -1), 0);
    json_object_put(obj);

    identity_destroy(id);
    assert_int_equal(identity_resolve(f->ctx, 4246, 1000, 1000, id), ESRCH);
    assert_null(id->exe_path);
    assert_null(id->comm);
    assert_int_equal(id->pid, 4246);
    assert_string_equal(id->user, "alice");

    resolve_ok(f, 4247, 0, 0);
    assert_int_equal(id->ppid, -1);
    assert_null(id->comm);
    assert_string_equal(id->exe_name, "fakeapp");
    assert_null(id->cmdline);
    assert_null(id->cgroup);

    free(proc);
    free(etc);
    free(exe);
}

/* A login uid set for real in a child, where the kernel allows it. */
static void
test_loginuid(void **state)
{
    struct fixture *f = fix(state);
    static char *const argv[] = { "sleep", "30", NULL };

    mkdir_in(f, "etc");
    put_in(f, "etc/passwd", "root:x:0:0::/root:/bin/sh\n"
                            "alice:x:1000:1000::/home/alice:/bin/sh\n");
    char *etc = path_in(f, "etc");
    f->ctx = identity_ctx_create(&(struct identity_config) {
                                     .etc_root = etc });
    free(etc);

    pid_t pid = spawn(f, "/bin/sleep", -1, argv, 1000);
    if (pid < 0) {
        print_message("cannot set a login uid here (%s): covered by "
                      "test_fake_proc only\n", strerror(-pid));
        skip();
    }
    resolve_ok(f, pid, 0, 0);
    assert_true(f->id.have_login);
    assert_int_equal(f->id.login_uid, 1000);
    assert_string_equal(f->id.login, "alice");
    assert_string_equal(f->id.user, "root");
}

/* A link 'rel' in the fixture's tree, pointing at 'target'. */
static void
link_in(const struct fixture *f, const char *rel, const char *target)
{
    char *path = path_in(f, rel);
    assert_int_equal(symlink(target, path), 0);
    free(path);
}

/* The process that holds a socket, by its inode: in a fake /proc, then
 * this process's own socket in the real one. */
static void
test_socket_owner(void **state)
{
    struct fixture *f = fix(state);

    mkdir_in(f, "proc");
    static const char *const dirs[] = {
        "proc/4242", "proc/4242/fd", "proc/77", "proc/77/fd",
        "proc/self", "proc/self/fd", "proc/0123", "proc/0123/fd",
        "proc/99999999999", "proc/99999999999/fd", "proc/31",
    };
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        mkdir_in(f, dirs[i]);
    }
    link_in(f, "proc/77/fd/0", "/dev/null");
    link_in(f, "proc/77/fd/1", "pipe:[777]");
    link_in(f, "proc/77/fd/2", "socket:[7770]");
    link_in(f, "proc/4242/fd/3", "socket:[777]");
    /* Not processes: a name, a leading zero, beyond any pid. */
    link_in(f, "proc/self/fd/3", "socket:[555]");
    link_in(f, "proc/0123/fd/3", "socket:[555]");
    link_in(f, "proc/99999999999/fd/3", "socket:[555]");
    char *proc = path_in(f, "proc");
    f->ctx = identity_ctx_create(&(struct identity_config) {
                                     .proc_root = proc });
    free(proc);

    assert_int_equal(identity_socket_owner(f->ctx, 777), 4242);
    assert_int_equal(identity_socket_owner(f->ctx, 7770), 77);
    assert_int_equal(identity_socket_owner(f->ctx, 555), 0);
    assert_int_equal(identity_socket_owner(f->ctx, 77), 0);
    identity_ctx_destroy(f->ctx);

    f->ctx = identity_ctx_create(NULL);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(identity_socket_owner(f->ctx, st.st_ino), getpid());
    close(fd);
}

static void *
idle_thread(void *arg)
{
    (void) arg;
    sleep(30);
    _exit(0);
}

/* The main thread gone, another thread makes the socket calls. */
static void
test_leader_exited(void **state)
{
    struct fixture *f = fix(state);
    uint8_t sha[SHA256_LEN];
    char self[PATH_MAX];

    assert_non_null(realpath("/proc/self/exe", self));
    sha_of_file(self, sha);
    f->ctx = identity_ctx_create(NULL);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, idle_thread, NULL)) {
            _exit(1);
        }
        pthread_exit(NULL);
    }
    f->kids[f->n_kids++] = pid;

    /* Wait for the leader to show as a zombie. */
    char *stat = xasprintf("/proc/%d/stat", (int) pid);
    int64_t deadline = time_mono_ms() + 2000;
    for (;;) {
        char buf[512] = "";
        int fd = open(stat, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        char *paren = n > 0 ? strrchr(buf, ')') : NULL;
        if (paren && paren[1] == ' ' && paren[2] == 'Z') {
            break;
        }
        assert_true(time_mono_ms() < deadline);
        usleep(1000);
    }
    free(stat);

    char link[PATH_MAX];
    char *exe = xasprintf("/proc/%d/exe", (int) pid);
    assert_true(readlink(exe, link, sizeof link) < 0);
    free(exe);

    resolve_ok(f, pid, 0, 0);
    assert_string_equal(f->id.exe_path, self);
    assert_memory_equal(f->id.sha256, sha, SHA256_LEN);
    assert_non_null(f->id.cmdline);
}

static void
test_no_such_process(void **state)
{
    struct fixture *f = fix(state);
    f->ctx = identity_ctx_create(NULL);
    struct identity *id = &f->id;

    static const int pids[] = { INT_MAX, 0, -5 };
    for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
        identity_destroy(id);
        assert_int_equal(identity_resolve(f->ctx, pids[i], 0, 0, id), ESRCH);
        assert_int_equal(id->pid, pids[i]);
        assert_null(id->exe_path);
        assert_string_equal(id->user, "root");
    }

    /* Exited but not reaped: a zombie has no executable. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        _exit(0);
    }
    f->kids[f->n_kids++] = pid;
    siginfo_t info;
    assert_int_equal(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), 0);
    identity_destroy(id);
    assert_int_equal(identity_resolve(f->ctx, pid, 0, 0, id), ESRCH);

    /* Reaped. */
    reap_kids(f);
    identity_destroy(id);
    assert_int_equal(identity_resolve(f->ctx, pid, 0, 0, id), ESRCH);

    /* What is known goes out without "app". */
    struct json_object *obj = json_object_new_object();
    identity_to_json(id, obj);
    assert_null(msg_get(obj, "app"));
    assert_int_equal(msg_get_int(obj, "process.pid", 0), pid);
    assert_null(msg_get(obj, "process.ppid"));
    assert_int_equal(msg_get_int(obj, "user.uid", -1), 0);
    assert_string_equal(msg_get_string(obj, "user.name", ""), "root");
    json_object_put(obj);

    identity_destroy(NULL);
    identity_ctx_destroy(NULL);
}

/* A valid decide without its identity. */
static struct json_object *
decide_base(void)
{
    struct json_object *d = msg_create(MSG_DECIDE);
    msg_put_int(d, "id", 1);
    msg_put_string(d, "event", "connect");
    msg_put_string(d, "protocol", "tcp");
    msg_put_string(d, "direction", "outbound");
    msg_put_endpoint(d, "local", "10.0.0.1", 40000);
    msg_put_endpoint(d, "remote", "10.0.0.2", 80);
    return d;
}

static void
assert_valid_decide(struct json_object *d)
{
    char *error = msg_validate(d, NULL);
    if (error) {
        fail_msg("%s", error);
    }
}

/* Asserts that 'path' in 'obj' is a valid UTF-8 string of 'len' bytes
 * and returns it. */
static const char *
check_string(struct json_object *obj, const char *path, size_t len)
{
    struct json_object *s = msg_get(obj, path);
    assert_non_null(s);
    assert_true(json_object_is_type(s, json_type_string));
    assert_int_equal(json_object_get_string_len(s), len);
    const char *text = json_object_get_string(s);
    assert_int_equal(strlen(text), len);
    assert_true(valid_utf8(text, len));
    return text;
}

/* Returns 'head' followed by 'times' copies of the 'ul' bytes at 'unit'
 * and a NUL. */
static char *
repeat_n(const char *head, const char *unit, size_t ul, size_t times)
{
    size_t hl = strlen(head);
    char *s = xmalloc(hl + ul * times + 1);
    memcpy(s, head, hl);
    for (size_t i = 0; i < times; i++) {
        memcpy(s + hl + i * ul, unit, ul);
    }
    s[hl + ul * times] = '\0';
    return s;
}

static char *
repeat(const char *head, const char *unit, size_t times)
{
    return repeat_n(head, unit, strlen(unit), times);
}

static void
test_to_json(void **state)
{
    struct fixture *f = fix(state);
    char real[PATH_MAX];
    uint8_t sha[SHA256_LEN];
    char hex[SHA256_HEX_LEN + 1];

    assert_non_null(realpath("/bin/sleep", real));
    sha_of_file(real, sha);
    digest_to_hex(sha, SHA256_LEN, hex);
    f->ctx = identity_ctx_create(&(struct identity_config) {
                                     .domain = "corp.example" });
    pid_t pid = spawn_sleep(f, "/bin/sleep");
    resolve_ok(f, pid, 0, 0);

    struct json_object *d = decide_base();
    identity_to_json(&f->id, d);
    assert_valid_decide(d);
    assert_string_equal(msg_get_string(d, "app.path", ""), real);
    assert_string_equal(msg_get_string(d, "app.name", ""), "sleep");
    assert_string_equal(msg_get_string(d, "app.sha256", ""), hex);
    assert_int_equal(msg_get_int(d, "app.size", -1), f->id.exe_size);
    assert_null(msg_get(d, "app.deleted"));
    assert_null(msg_get(d, "app.memfd"));
    assert_int_equal(msg_get_int(d, "process.pid", -1), pid);
    assert_int_equal(msg_get_int(d, "process.ppid", -1), getpid());
    assert_string_equal(msg_get_string(d, "process.cmdline", ""),
                        "sleep 30");
    assert_int_equal(msg_get_int(d, "user.uid", -1), 0);
    assert_string_equal(msg_get_string(d, "user.name", ""), "root");
    assert_int_equal(msg_get_int(d, "user.gid", -1), 0);
    assert_string_equal(msg_get_string(d, "user.group", ""), "root");
    assert_string_equal(msg_get_string(d, "user.domain", ""),
                        "corp.example");
    assert_null(msg_get(d, "user.login"));
    assert_null(msg_get(d, "user.login_uid"));
    json_object_put(d);

    /* Oversize and invalid strings, as a caller might fill them. */
    struct identity id = {
        .pid = 4242, .ppid = 1, .uid = 1000, .gid = 1000,
        .have_login = true, .login_uid = 1001,
        .exe_deleted = true, .exe_memfd = true,
        .exe_path = repeat("/\xff", "\xc3\xa9", 3000),
        .exe_name = repeat("n", "\xe2\x82\xac", 100),
        .cmdline = repeat("x\x80", "y", 10000),
        .cgroup = repeat("/", "\xf0\x9f\x98\x80", 2000),
        .unit = repeat("u", "\xc3\xa9", 200),
        .user = repeat("", "\xc3\xa9", 200),
        .group = repeat("\xc3", "g", 300),
        .domain = repeat("", "d.", 200),
        .login = repeat("l", "\xe2\x82\xac", 100),
    };
    d = decide_base();
    identity_to_json(&id, d);
    assert_valid_decide(d);
    const char *s = check_string(d, "app.path", 4096);
    assert_memory_equal(s, "/?\xc3\xa9", 4);
    check_string(d, "app.name", 1 + 3 * 84);
    s = check_string(d, "process.cmdline", 4096);
    assert_memory_equal(s, "x?yy", 4);
    check_string(d, "process.cgroup", 1 + 4 * 1023);
    check_string(d, "process.unit", 1 + 2 * 127);
    check_string(d, "user.name", 256);
    s = check_string(d, "user.group", 256);
    assert_memory_equal(s, "?g", 2);
    check_string(d, "user.domain", 253);
    check_string(d, "user.login", 1 + 3 * 85);
    assert_true(msg_get_bool(d, "app.deleted", false));
    assert_true(msg_get_bool(d, "app.memfd", false));
    assert_int_equal(msg_get_int(d, "user.login_uid", -1), 1001);
    assert_null(msg_get(d, "app.sha256"));
    assert_null(msg_get(d, "app.size"));
    json_object_put(d);

    /* With a hostile cmdline of 10 KiB resolved at the largest bound. */
    identity_destroy(&id);
    mkdir_in(f, "proc");
    char *cmdline = repeat_n("\xff", "ab\xc3\xa9", 5, 2000);
    size_t len = 1 + 5 * 2000;
    char *exe = path_in(f, "exe");
    put_in(f, "exe", "x");
    fake_proc(f, 77, "77 (x) S 1" STAT_TAIL(0) "\n", cmdline, len, NULL,
              NULL, exe);
    char *proc = path_in(f, "proc");
    identity_ctx_destroy(f->ctx);
    f->ctx = identity_ctx_create(&(struct identity_config) {
                                     .proc_root = proc,
                                     .cmdline_max = 4096 });
    resolve_ok(f, 77, 0, 0);
    d = decide_base();
    identity_to_json(&f->id, d);
    assert_valid_decide(d);
    s = check_string(d, "process.cmdline", 4095);
    assert_memory_equal(s, "?ab\xc3\xa9 ab", 8);
    json_object_put(d);

    free(cmdline);
    free(exe);
    free(proc);
}

int
main(void)
{
    if (!setlocale(LC_CTYPE, "C.UTF-8")) {
        fprintf(stderr, "test-identity: no C.UTF-8 locale\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_child_sleep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_binary, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memfd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_etc_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_proc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loginuid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_socket_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leader_exited, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_such_process, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_to_json, setup, teardown),
    };
    return cmocka_run_group_tests_name("identity", tests, NULL, NULL);
}
