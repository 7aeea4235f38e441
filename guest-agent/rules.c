/* rules: appfw-agent's netfilter chains. */
#include "guest-agent/rules.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "guest-agent/bpf/agent-bpf.h"

static void
append(struct buf *b, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void
append(struct buf *b, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char *s = xvasprintf(format, args);
    va_end(args);
    buf_put(b, s, strlen(s));
    free(s);
}

/* The ICMP and ICMPv6 messages that pass: the kernel's own (errors,
 * neighbour discovery, multicast listener reports) and echo replies,
 * which belong to an echo asked about when it went the other way (or
 * answered by the kernel).  The guest runs no conntrack (its cost, see
 * docs/agent.md), so these go by type; OVS, outside the guest, passes
 * only the errors and replies its conntrack relates to a connection.
 * Echo requests come in for the kernel to answer, so they pass inbound. */
static const int icmp4_pass[] = { 0, 3, 4, 11, 12 };
static const int icmp6_pass[] = { 1, 2, 3, 4, 129, 130, 131, 132, 133, 134,
                                  135, 136, 137, 143 };

/* The rules for every protocol but TCP and UDP (which the rules before
 * them decided), in chain 'ch': the ICMP messages above pass, everything
 * else is queued, every packet of it (docs/agent.md, "Other
 * protocols"). */
static void
append_other(struct buf *b, const char *ch, bool out, bool v6,
             unsigned int queue)
{
    append(b, "-A %s -p udp -j RETURN\n", ch);
    const char *p = v6 ? "ipv6-icmp --icmpv6-type" : "icmp --icmp-type";
    const int *types = v6 ? icmp6_pass : icmp4_pass;
    size_t n = v6 ? ARRAY_SIZE(icmp6_pass) : ARRAY_SIZE(icmp4_pass);
    for (size_t i = 0; i < n; i++) {
        append(b, "-A %s -p %s %d -j RETURN\n", ch, p, types[i]);
    }
    if (!v6) {
        /* The kernel's multicast group reports, as MLD's for IPv6.  By
         * number: iptables knows "igmp" only from /etc/protocols, which a
         * minimal guest may not have. */
        append(b, "-A %s -p 2 -j RETURN\n", ch);
    }
    if (!out) {
        append(b, "-A %s -p %s %d -j RETURN\n", ch, p, v6 ? 128 : 8);
    }
    append(b, "-A %s -j NFQUEUE --queue-num %u\n", ch, queue);
}

char *
rules_script(const struct rules_config *c, int family)
{
    bool v6 = family == AF_INET6;
    const char *unreach = v6 ? "icmp6-port-unreachable"
                             : "icmp-port-unreachable";
    struct buf b;
    buf_init(&b);
    append(&b, "*filter\n:APPFW-OUT - [0:0]\n:APPFW-IN - [0:0]\n");
    static const char *const chains[] = { "APPFW-OUT", "APPFW-IN" };
    for (int i = 0; i < 2; i++) {
        const char *ch = chains[i];
        bool out = i == 0;
        append(&b, "-A %s %s lo -j RETURN\n", ch, out ? "-o" : "-i");
        /* Most packets: TCP past its SYN, which nothing here queues or
         * rejects (only SYNs and UDP are queued, so only they come back
         * with the reject mark); they leave after two rules. */
        append(&b, "-A %s -p tcp ! --syn -j RETURN\n", ch);
        /* A SYN decided from the kernel cache leaves next: its socket's
         * allow mark never comes with the reject mark, which only a
         * queued packet gets (and a marked SYN is not queued). */
        if (out && c->allow_mark) {
            append(&b, "-A %s -m mark --mark 0x%"PRIx32"/0x%"PRIx32
                   " -j RETURN\n", ch, c->allow_mark, c->allow_mark);
        }
        append(&b, "-A %s -p tcp -m mark --mark 0x%"PRIx32"/0x%"PRIx32
               " -j REJECT --reject-with tcp-reset\n", ch, c->reject_mark,
               c->reject_mark);
        append(&b, "-A %s -m mark --mark 0x%"PRIx32"/0x%"PRIx32
               " -j REJECT --reject-with %s\n", ch, c->reject_mark,
               c->reject_mark, unreach);
        append(&b, "-A %s -p tcp --syn -j NFQUEUE --queue-num %u\n", ch,
               c->queue);
        append(&b, "-A %s -p udp -m bpf --object-pinned \"%s/%s\""
               " -j NFQUEUE --queue-num %u\n", ch, c->pin_dir,
               AFW_UDP_NEW_PIN, c->queue);
        append_other(&b, ch, out, v6, c->queue);
    }
    append(&b, "COMMIT\n");
    buf_put(&b, "", 1);
    char *s = xstrdup((const char *) buf_head(&b));
    buf_destroy(&b);
    return s;
}

static bool
in_path(const char *name)
{
    const char *path = getenv("PATH");
    char *copy = xstrdup(path && *path ? path
                         : "/usr/sbin:/usr/bin:/sbin:/bin");
    bool found = false;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/%s", dir, name);
        found = !access(p, X_OK);
        free(p);
    }
    free(copy);
    return found;
}

void
rules_default_tools(struct rules_config *c)
{
    bool legacy = in_path("iptables-legacy");
    c->iptables = legacy ? "iptables-legacy" : "iptables";
    c->ip6tables = legacy ? "ip6tables-legacy" : "ip6tables";
}

/* Runs argv[0] (searched in PATH) with 'input' on its standard input.
 * Returns NULL, or a malloc'd error with what it printed. */
static char *
run(char *const argv[], const char *input)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC)) {
        return xasprintf("pipe: %s", strerror(errno));
    }
    if (pipe2(out, O_CLOEXEC)) {
        close(in[0]);
        close(in[1]);
        return xasprintf("pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        int error = errno;
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        return xasprintf("fork: %s", strerror(error));
    }
    if (!pid) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        execvp(argv[0], argv);
        dprintf(2, "%s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (input) {
        size_t len = strlen(input);
        const char *p = input;
        while (len) {
            ssize_t n = write(in[1], p, len);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                break;
            }
            p += n;
            len -= n;
        }
    }
    close(in[1]);
    char msg[1024];
    size_t used = 0;
    for (;;) {
        ssize_t n = read(out[0], msg + used, sizeof msg - 1 - used);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        used += n;
        if (used == sizeof msg - 1) {
            /* Keep draining so that the child does not block. */
            char sink[256];
            while (read(out[0], sink, sizeof sink) > 0) {
                continue;
            }
            break;
        }
    }
    msg[used] = '\0';
    close(out[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        continue;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return NULL;
    }
    while (used && (msg[used - 1] == '\n' || msg[used - 1] == ' ')) {
        msg[--used] = '\0';
    }
    return xasprintf("%s failed: %s", argv[0], used ? msg : "no output");
}

static char *
install_family(const char *tool, int family, const struct rules_config *c)
{
    char *restore = xasprintf("%s-restore", tool);
    char *script = rules_script(c, family);
    char *argv_restore[] = { restore, "--noflush", NULL };
    char *error = run(argv_restore, script);
    free(script);
    free(restore);
    if (error) {
        return error;
    }
    static const char *const jumps[][2] = {
        { "OUTPUT", "APPFW-OUT" },
        { "INPUT", "APPFW-IN" },
    };
    for (int i = 0; i < 2 && !error; i++) {
        char *check[] = { (char *) tool, "-w", "-C", (char *) jumps[i][0],
                          "-j", (char *) jumps[i][1], NULL };
        char *e = run(check, NULL);
        if (e) {
            free(e);
            char *insert[] = { (char *) tool, "-w", "-I",
                               (char *) jumps[i][0], "1", "-j",
                               (char *) jumps[i][1], NULL };
            error = run(insert, NULL);
        }
    }
    return error;
}

char *
rules_install(const struct rules_config *c)
{
    char *error = install_family(c->iptables, AF_INET, c);
    if (!error) {
        error = install_family(c->ip6tables, AF_INET6, c);
    }
    return error;
}

static char *
remove_family(const char *tool)
{
    static const char *const jumps[][2] = {
        { "OUTPUT", "APPFW-OUT" },
        { "INPUT", "APPFW-IN" },
    };
    char *first = NULL;
    for (int i = 0; i < 2; i++) {
        /* Every copy of the jump, in case several were inserted. */
        for (int n = 0; n < 16; n++) {
            char *del[] = { (char *) tool, "-w", "-D", (char *) jumps[i][0],
                            "-j", (char *) jumps[i][1], NULL };
            char *e = run(del, NULL);
            if (e) {
                free(e);
                break;
            }
        }
        char *flush[] = { (char *) tool, "-w", "-F", (char *) jumps[i][1],
                          NULL };
        free(run(flush, NULL));
        char *x[] = { (char *) tool, "-w", "-X", (char *) jumps[i][1],
                      NULL };
        char *e = run(x, NULL);
        if (e && !first && !strstr(e, "No chain")
            && !strstr(e, "does not exist")) {
            first = e;
        } else {
            free(e);
        }
    }
    return first;
}

char *
rules_remove(const struct rules_config *c)
{
    char *e4 = remove_family(c->iptables);
    char *e6 = remove_family(c->ip6tables);
    if (e4) {
        free(e6);
        return e4;
    }
    return e6;
}
