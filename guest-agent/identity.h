/* identity: who is behind a socket event, inside a Linux guest.
 *
 * The agent's hooks report a process id (tgid) and the uid/gid the kernel
 * saw at the socket call.  This module fills in the rest of a "decide"
 * message's "app", "process" and "user" objects (docs/protocol.md) from
 * /proc/PID: the executable (its path as the kernel gives it and the
 * SHA-256 of its contents, read through /proc/PID/exe, so deleted and memfd
 * executables are hashed too), the parent, command line, cgroup, systemd
 * unit and login uid, and from /etc the user, group and login names and the
 * DNS domain.
 *
 * The agent is linked statically for busybox guests, so names come from
 * parsing etc_root/passwd and etc_root/group here, never from NSS.  Those
 * files and resolv.conf are cached and re-read only when their inode, size,
 * mtime or ctime changes.  Executable hashes are cached by (st_dev, st_ino,
 * st_size, st_mtim, st_ctim and the inode's generation where the file
 * system tells it), so each version of a binary is hashed once and a
 * replaced or rewritten one is hashed again: a write moves the change
 * time, which utimensat() cannot set back, and a new file that gets a
 * deleted one's inode number gets a new generation.  The cache keeps the
 * 'hash_cache_max' most recently used entries.
 *
 * Everything read from /proc is hostile (a process names itself and fills
 * its argv as it likes): every read is bounded and every string goes
 * through identity_to_json()'s UTF-8 and length checks before it reaches
 * the wire.  Not thread-safe: one context per thread.
 *
 * Neighbours: common/digest.h hashes, common/msg.h validates what
 * identity_to_json() builds, and the agent's event code calls
 * identity_resolve() for each event that misses vcache.h. */
#ifndef APPFW_IDENTITY_H
#define APPFW_IDENTITY_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define IDENTITY_CMDLINE_DEFAULT 1024
#define IDENTITY_CMDLINE_MAX 4096       /* process.cmdline's bound. */
#define IDENTITY_HASH_CACHE_DEFAULT 1024

struct identity_config {
    const char *proc_root;      /* NULL: "/proc". */
    const char *etc_root;       /* NULL: "/etc" (passwd, group,
                                 * resolv.conf). */
    const char *domain;         /* "": none.  NULL: the last "domain"
                                 * line of etc_root/resolv.conf, else the
                                 * first entry of its last "search" line,
                                 * else none. */
    size_t cmdline_max;         /* Bytes kept of a command line: 0 means
                                 * IDENTITY_CMDLINE_DEFAULT, more than
                                 * IDENTITY_CMDLINE_MAX means that. */
    size_t hash_cache_max;      /* Executable hashes cached; 0 means
                                 * IDENTITY_HASH_CACHE_DEFAULT. */
};

/* Copies what it needs from 'cfg' (NULL: all defaults).  Reads nothing
 * until the first identity_resolve(). */
struct identity_ctx *identity_ctx_create(const struct identity_config *cfg);
void identity_ctx_destroy(struct identity_ctx *);

/* One process, as identity_resolve() found it.  The caller owns the
 * strings (identity_destroy()).  They are as read, hostile bytes included,
 * except 'cmdline'; identity_to_json() cleans and bounds them all. */
struct identity {
    int pid;
    int ppid;                   /* -1: unknown. */
    char *comm;                 /* The kernel's task name (stat field 2, at
                                 * most 15 bytes, set by the process). */
    bool kernel_thread;         /* Then exe_path and cmdline are NULL. */

    /* The executable.  exe_path is readlink("/proc/PID/exe"), e.g.
     * "/usr/bin/curl", "/tmp/x (deleted)", "/memfd:name (deleted)"; NULL
     * only for kernel threads and when identity_resolve() fails.  exe_name
     * is its last component without " (deleted)", "memfd:name" for a
     * memfd.  A path the kernel marked " (deleted)" counts as deleted
     * unless a file with that very name (suffix included) is the
     * executable: a process cannot fake deletion by its file's name. */
    char *exe_path;
    char *exe_name;
    bool exe_deleted;
    bool exe_memfd;
    bool have_stat;             /* exe_size, exe_dev, exe_ino and the
                                 * change time are valid. */
    uint64_t exe_size;
    uint64_t exe_dev, exe_ino;  /* st_dev (user space's encoding), st_ino */
    int64_t exe_ctime_sec;      /* st_ctim */
    uint32_t exe_ctime_nsec;
    bool have_gen;              /* exe_gen is valid (FS_IOC_GETVERSION:
                                 * ext4, btrfs; not tmpfs). */
    uint32_t exe_gen;           /* The inode's generation. */
    bool exe_dev_other;         /* On a file system whose st_dev may not
                                 * be its superblock's: a btrfs
                                 * subvolume's, or an overlayfs layer's. */
    bool have_sha256;
    uint8_t sha256[32];

    char *cmdline;              /* argv joined with single spaces, bytes
                                 * that are not printable UTF-8 replaced by
                                 * '?', cut to cmdline_max bytes on a
                                 * character boundary; NULL if empty or
                                 * unreadable. */
    char *cgroup;               /* The cgroup v2 path ("0::PATH"), else the
                                 * name=systemd v1 hierarchy's; NULL if
                                 * neither. */
    char *unit;                 /* The last component of 'cgroup' that ends
                                 * in ".service" or ".scope", e.g.
                                 * "ssh.service", "session-3.scope"; NULL if
                                 * none. */

    uint32_t uid, gid;          /* As given to identity_resolve();
                                 * (gid_t) -1 is left out of the JSON. */
    char *user, *group;         /* NULL when not in passwd/group. */
    char *domain;               /* NULL if none. */

    /* The account of the process's login session (/proc/PID/loginuid, set
     * by pam_loginuid and inherited, e.g. alice for root running sudo in
     * alice's ssh session).  Traffic is filtered by the account on whose
     * behalf it is generated, so this matters as much as 'uid'. */
    bool have_login;
    uint32_t login_uid;
    char *login;                /* NULL when not in passwd. */
};

/* Fills 'id' for process 'pid' (a tgid in proc_root), which made a socket
 * call as 'uid'/'gid'.  Returns 0, or ESRCH if there is no such process or
 * it exited before its executable could be read, or another errno value if
 * /proc/PID/exe cannot be read (EACCES).  A process whose main thread has
 * exited while others run is read through one of its live threads.
 *
 * 'id' always needs identity_destroy() afterwards.  On failure it still
 * holds pid, uid, gid, user, group and domain (what is known without the
 * process), with exe_path NULL. */
int identity_resolve(struct identity_ctx *, int pid, uint32_t uid,
                     uint32_t gid, struct identity *id);

/* The process (a tgid in proc_root) that holds the socket with inode
 * 'inode' open, found by scanning every process's file descriptors: the
 * slow path for a socket whose owner the hooks did not record (opened
 * before they were attached, or a ping socket, which only /proc/net/icmp
 * names).  Returns 0 if no process that can be seen holds it. */
int identity_socket_owner(struct identity_ctx *, uint32_t inode);

/* Frees the members of 'id' (NULL is fine) and zeroes it. */
void identity_destroy(struct identity *id);

/* Adds (replacing) "app", "process" and "user" objects to 'decide' with
 * the protocol's field names:
 *   app: path, name, size, sha256, deleted, memfd (the booleans only when
 *        true); a kernel thread's path is "[comm]" as ps shows it; no "app"
 *        at all when the executable is unknown (identity_resolve() failed);
 *   process: pid, ppid, cmdline, cgroup, unit;
 *   user: uid, name, gid, group, domain, login, login_uid;
 * leaving out NULL and unknown members.  Strings are made valid UTF-8
 * (each invalid byte becomes '?') and cut on a character boundary to the
 * protocol's bounds (app.path 4096, app.name 255, process.cmdline and
 * cgroup 4096, unit, user.name, group and login 256, domain 253 bytes). */
void identity_to_json(const struct identity *, struct json_object *decide);

/* Executable hash cache statistics, for tests and the agent's status. */
struct identity_stats {
    unsigned long long hash_hits;
    unsigned long long hash_misses;
    unsigned long long hashed_bytes;
    size_t hash_entries;
};

void identity_get_stats(const struct identity_ctx *, struct identity_stats *);

#endif /* identity.h */
