/* hooks: loads, attaches and drives appfw-agent's eBPF programs. */
#include "guest-agent/hooks.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "agent.skel.h"
#include "common/util.h"

#define BPF_FS_MAGIC_ 0xcafe4a11
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

struct hooks {
    struct appfw_agent_bpf *skel;
    struct bpf_link *links[9];
    struct ring_buffer *rb;
    void (*cb)(const struct afw_record *, void *aux);
    void *aux;
    struct afw_state state;
    int ncpus;
};

/* libbpf's messages go to stderr only when asked (APPFW_LIBBPF_DEBUG). */
static int
print_libbpf(enum libbpf_print_level level, const char *format, va_list args)
{
    (void) level;
    return getenv("APPFW_LIBBPF_DEBUG") ? vfprintf(stderr, format, args) : 0;
}

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int
mkdir_p(const char *path)
{
    char *p = xstrdup(path);
    int error = 0;
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0700) && errno != EEXIST) {
                error = errno;
                break;
            }
            *s = c;
            if (!c) {
                break;
            }
        }
    }
    free(p);
    return error;
}

static void
unlink_pins(const char *pin_dir, const char *const names[], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", pin_dir, names[i]);
        unlink(path);
        free(path);
    }
}

/* Removes the map pins, so that the next load creates fresh maps. */
static void
unpin_maps(const char *pin_dir)
{
    static const char *const names[] = {
        "afw_socks", "afw_verdicts", "afw_state", "afw_counters",
        "afw_flows", "afw_udp_stats", "afw_events", "afw_udp_flows",
        "afw_sk_netns",
    };
    unlink_pins(pin_dir, names, sizeof names / sizeof *names);
}

/* Removes the pins of maps that earlier versions used and this one does
 * not, so that they do not stay allocated until --uninstall. */
static void
unpin_retired_maps(const char *pin_dir)
{
    static const char *const names[] = { "afw_notify" };
    unlink_pins(pin_dir, names, sizeof names / sizeof *names);
}

static struct appfw_agent_bpf *
load(const char *pin_dir, int *errorp)
{
    LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
    struct appfw_agent_bpf *skel = appfw_agent_bpf__open_opts(&opts);
    if (!skel) {
        *errorp = errno ? errno : EINVAL;
        return NULL;
    }
    int error = appfw_agent_bpf__load(skel);
    if (error) {
        appfw_agent_bpf__destroy(skel);
        *errorp = -error;
        return NULL;
    }
    return skel;
}

/* The cgroup a pinned link is attached to, or 0. */
static uint64_t
link_cgroup(const struct bpf_link *link)
{
    struct bpf_link_info info;
    uint32_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len)
        || info.type != BPF_LINK_TYPE_CGROUP) {
        return 0;
    }
    return info.cgroup.cgroup_id;
}

/* Attaches 'prog' to the cgroup through the link pinned at 'path': the
 * pinned link's program is replaced in one step if it is attached to the
 * same cgroup, otherwise a new link is made and pinned. */
static struct bpf_link *
attach(struct bpf_program *prog, int cgroup_fd, uint64_t cgroup_id,
       const char *path, char **errorp)
{
    struct bpf_link *link = bpf_link__open(path);
    if (link) {
        if (link_cgroup(link) == cgroup_id
            && !bpf_link__update_program(link, prog)) {
            return link;
        }
        /* Stale (another cgroup, or one that is gone): replace it. */
        bpf_link__unpin(link);
        bpf_link__destroy(link);
        unlink(path);
    }
    link = bpf_program__attach_cgroup(prog, cgroup_fd);
    if (!link) {
        *errorp = xasprintf("attaching %s: %s", bpf_program__name(prog),
                            strerror(errno));
        return NULL;
    }
    int error = bpf_link__pin(link, path);
    if (error) {
        *errorp = xasprintf("pinning %s: %s", path, strerror(-error));
        bpf_link__destroy(link);
        return NULL;
    }
    return link;
}

/* The cookie of the calling process's network namespace, where the
 * agent installs its netfilter rules.  Returns 0 or an errno value. */
static int
own_netns_cookie(uint64_t *cookie)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof *cookie;
    int error = (fd < 0
                 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len)
                 ? errno : 0);
    if (fd >= 0) {
        close(fd);
    }
    return error;
}

/* Pins the UDP rules' socket filter as AFW_UDP_NEW_PIN, in place of an
 * earlier run's (whose rules keep that one until they are replaced). */
static char *
pin_udp_filter(struct hooks *h, const char *pin_dir)
{
    char *path = xasprintf("%s/%s", pin_dir, AFW_UDP_NEW_PIN);
    unlink(path);
    int error = bpf_program__pin(h->skel->progs.afw_udp_new, path);
    char *msg = error ? xasprintf("pinning %s: %s", path, strerror(-error))
                      : NULL;
    free(path);
    return msg;
}

static int
on_record(void *h_, void *data, size_t size)
{
    struct hooks *h = h_;
    if (size >= sizeof(struct afw_record) && h->cb) {
        h->cb(data, h->aux);
    }
    return 0;
}

struct hooks *
hooks_open(const char *cgroup, const char *pin_dir, char **errorp)
{
    *errorp = NULL;
    libbpf_set_print(print_libbpf);

    int error = mkdir_p(pin_dir);
    struct statfs sfs;
    if (error) {
        *errorp = xasprintf("%s: %s", pin_dir, strerror(error));
        return NULL;
    }
    if (statfs(pin_dir, &sfs) || sfs.f_type != BPF_FS_MAGIC_) {
        *errorp = xasprintf("%s is not on a bpf file system (mount -t bpf "
                            "bpf /sys/fs/bpf)", pin_dir);
        return NULL;
    }
    int cgroup_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (cgroup_fd < 0 || fstat(cgroup_fd, &st)) {
        *errorp = xasprintf("cgroup %s: %s", cgroup, strerror(errno));
        if (cgroup_fd >= 0) {
            close(cgroup_fd);
        }
        return NULL;
    }
    if (fstatfs(cgroup_fd, &sfs) || sfs.f_type != 0x63677270 /* cgroup2 */) {
        *errorp = xasprintf("%s is not a cgroup v2 directory", cgroup);
        close(cgroup_fd);
        return NULL;
    }

    struct hooks *h = xcalloc(1, sizeof *h);
    uint64_t netns_cookie;
    error = own_netns_cookie(&netns_cookie);
    if (error) {
        *errorp = xasprintf("network namespace cookie: %s (the kernel "
                            "needs SO_NETNS_COOKIE, Linux 5.14)",
                            strerror(error));
        goto error;
    }
    h->state.netns_cookie = netns_cookie;
    unpin_retired_maps(pin_dir);
    h->skel = load(pin_dir, &error);
    if (!h->skel) {
        /* Maps pinned by an incompatible earlier version: start afresh. */
        unpin_maps(pin_dir);
        h->skel = load(pin_dir, &error);
    }
    if (!h->skel) {
        *errorp = xasprintf("loading the eBPF programs: %s (the kernel "
                            "needs cgroup BPF, BTF and CAP_BPF+"
                            "CAP_PERFMON)", strerror(error));
        goto error;
    }

    struct bpf_program *progs[] = {
        h->skel->progs.afw_connect4, h->skel->progs.afw_connect6,
        h->skel->progs.afw_sendmsg4, h->skel->progs.afw_sendmsg6,
        h->skel->progs.afw_bind4, h->skel->progs.afw_bind6,
        h->skel->progs.afw_sockops,
        h->skel->progs.afw_skb_in, h->skel->progs.afw_skb_out,
    };
    for (size_t i = 0; i < sizeof progs / sizeof *progs; i++) {
        char *path = xasprintf("%s/link_%s", pin_dir,
                               bpf_program__name(progs[i]));
        h->links[i] = attach(progs[i], cgroup_fd, st.st_ino, path, errorp);
        free(path);
        if (!h->links[i]) {
            goto error;
        }
    }
    *errorp = pin_udp_filter(h, pin_dir);
    if (*errorp) {
        goto error;
    }
    h->rb = ring_buffer__new(bpf_map__fd(h->skel->maps.afw_events),
                             on_record, h, NULL);
    if (!h->rb) {
        *errorp = xasprintf("ring buffer: %s", strerror(errno));
        goto error;
    }
    h->ncpus = libbpf_num_possible_cpus();
    if (h->ncpus < 1) {
        h->ncpus = 1;
    }
    close(cgroup_fd);
    return h;

error:
    close(cgroup_fd);
    hooks_close(h);
    return NULL;
}

void
hooks_close(struct hooks *h)
{
    if (!h) {
        return;
    }
    ring_buffer__free(h->rb);
    for (size_t i = 0; i < sizeof h->links / sizeof *h->links; i++) {
        /* Only the handle: the pin keeps the link attached. */
        bpf_link__destroy(h->links[i]);
    }
    appfw_agent_bpf__destroy(h->skel);
    free(h);
}

int
hooks_remove(const char *pin_dir)
{
    DIR *dir = opendir(pin_dir);
    if (!dir) {
        return errno == ENOENT ? 0 : errno;
    }
    /* Names first: unlinking while reading a directory may skip some. */
    char **names = NULL;
    size_t n = 0, allocated = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!strncmp(de->d_name, "link_", 5)
            || !strncmp(de->d_name, "afw_", 4)) {
            if (n >= allocated) {
                allocated = allocated ? 2 * allocated : 16;
                names = xrealloc(names, allocated * sizeof *names);
            }
            names[n++] = xasprintf("%s/%s", pin_dir, de->d_name);
        }
    }
    closedir(dir);

    int error = 0;
    for (size_t i = 0; i < n; i++) {
        if (unlink(names[i]) && !error && errno != ENOENT) {
            error = errno;
        }
        free(names[i]);
    }
    free(names);
    if (rmdir(pin_dir) && !error && errno != ENOENT) {
        error = errno;
    }
    return error;
}

static int
write_state(struct hooks *h)
{
    uint32_t zero = 0;
    return bpf_map__update_elem(h->skel->maps.afw_state, &zero, sizeof zero,
                                &h->state, sizeof h->state, BPF_ANY)
           ? errno : 0;
}

int
hooks_configure(struct hooks *h, uint32_t agent_tgid, uint64_t dead_after_ms,
                uint32_t allow_mark)
{
    h->state.agent_tgid = agent_tgid;
    h->state.dead_after_ns = dead_after_ms * 1000000u;
    h->state.allow_mark = allow_mark;
    h->state.heartbeat_ns = now_ns();
    return write_state(h);
}

int
hooks_heartbeat(struct hooks *h)
{
    h->state.heartbeat_ns = now_ns();
    return write_state(h);
}

bool
hooks_find_owner(struct hooks *h, uint64_t cookie, struct afw_owner *o)
{
    return !bpf_map__lookup_elem(h->skel->maps.afw_socks, &cookie,
                                 sizeof cookie, o, sizeof *o, 0);
}

bool
hooks_find_flow(struct hooks *h, const struct afw_flow_key *k,
                struct afw_flow *f)
{
    return !bpf_map__lookup_elem(h->skel->maps.afw_flows, k, sizeof *k, f,
                                 sizeof *f, 0);
}

bool
hooks_udp_stats(struct hooks *h, uint64_t cookie, bool take,
                struct afw_sock_stats *st)
{
    const struct bpf_map *map = h->skel->maps.afw_udp_stats;
    if (bpf_map__lookup_elem(map, &cookie, sizeof cookie, st, sizeof *st,
                             0)) {
        return false;
    }
    if (take) {
        bpf_map__delete_elem(map, &cookie, sizeof cookie, 0);
    }
    return true;
}

int
hooks_note_udp_flow(struct hooks *h, int family, const uint8_t *local,
                    uint16_t local_port, const uint8_t *remote,
                    uint16_t remote_port, bool inbound)
{
    /* The same key afw.bpf.c's udp_flow() builds: the endpoint that sorts
     * first (address bytes, then the port as the BPF program compares it,
     * a network-order value) is 'a'. */
    struct afw_udp_key k = { .family = family };
    uint8_t la[16] = { 0 }, ra[16] = { 0 };
    size_t n = family == AF_INET ? 4 : 16;
    memcpy(la, local, n);
    memcpy(ra, remote, n);
    uint16_t lp = htons(local_port), rp = htons(remote_port);
    int c = memcmp(la, ra, 16);
    bool local_first = c < 0 || (c == 0 && lp < rp);
    memcpy(k.addr_a, local_first ? la : ra, 16);
    memcpy(k.addr_b, local_first ? ra : la, 16);
    k.port_a = local_first ? lp : rp;
    k.port_b = local_first ? rp : lp;
    /* Who sent it: the remote end for an inbound datagram. */
    bool a_sent = local_first != inbound;
    struct afw_udp_seen v = {
        .seen_ns = now_ns(),
        .dirs = a_sent ? AFW_UDP_A_TO_B : AFW_UDP_B_TO_A,
    };
    return bpf_map__update_elem(h->skel->maps.afw_udp_flows, &k, sizeof k,
                                &v, sizeof v, BPF_ANY) ? errno : 0;
}

int
hooks_put_verdict(struct hooks *h, const struct afw_verdict_key *k,
                  bool allow, uint64_t ttl_ms)
{
    struct afw_verdict v = {
        .expires_ns = now_ns() + ttl_ms * 1000000u,
        .verdict = allow ? AFW_VERDICT_ALLOW : AFW_VERDICT_DENY,
    };
    return bpf_map__update_elem(h->skel->maps.afw_verdicts, k, sizeof *k,
                                &v, sizeof v, BPF_ANY) ? errno : 0;
}

int
hooks_flush_verdicts(struct hooks *h)
{
    const struct bpf_map *map = h->skel->maps.afw_verdicts;
    struct afw_verdict_key key, next;
    /* Deleting while iterating restarts the walk; start over from the
     * first key each time instead. */
    while (!bpf_map__get_next_key(map, NULL, &next, sizeof next)) {
        key = next;
        if (bpf_map__delete_elem(map, &key, sizeof key, 0)) {
            return errno;
        }
    }
    return 0;
}

int
hooks_events_fd(const struct hooks *h)
{
    return ring_buffer__epoll_fd(h->rb);
}

int
hooks_consume(struct hooks *h,
              void (*cb)(const struct afw_record *, void *aux), void *aux)
{
    h->cb = cb;
    h->aux = aux;
    int n = ring_buffer__consume(h->rb);
    h->cb = NULL;
    return n < 0 ? -n : 0;
}

void
hooks_counters(struct hooks *h, uint64_t out[AFW_N_COUNTERS])
{
    uint64_t *values = xcalloc(h->ncpus, sizeof *values);
    for (uint32_t i = 0; i < AFW_N_COUNTERS; i++) {
        out[i] = 0;
        if (!bpf_map__lookup_elem(h->skel->maps.afw_counters, &i, sizeof i,
                                  values, h->ncpus * sizeof *values, 0)) {
            for (int c = 0; c < h->ncpus; c++) {
                out[i] += values[c];
            }
        }
    }
    free(values);
}
