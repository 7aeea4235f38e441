/* Golden-file tests of the flow generator (ovs-plugin/flowgen.c).
 *
 * Each tests/data/flowgen/NAME.in describes a context, VMs and approved
 * connections, one per line ('#' starts a comment):
 *
 *   ctx table_base=0 cookie_prefix=0xa9f0
 *   global
 *   vm uuid=UUID ofport=3 zone=1 [mac=52:54:00:00:00:01] mode=enforce
 *      [addresses=10.0.0.5,fd00::5] [learned=10.0.0.6,fe80::1]
 *   allow vm=UUID granularity=exact|service proto=6
 *         [local=10.0.0.1:40000] remote=[2001:db8::1]:80 app=77 [uid=1000]
 *
 * ('allow' is one line; it names a VM declared above it; mode is enforce,
 * monitor or noagent; the address lists are comma-separated here.)  Every flow generated is formatted with
 * flowgen_flow_format(), the lines are sorted with strcmp() and compared
 * exactly with NAME.out.  On a mismatch the test prints the lines missing
 * ("-") and the lines extra ("+").
 *
 * To rewrite the .out files after an intended change, run from the
 * repository root:
 *
 *   FLOWGEN_REGEN=1 build/ovs-plugin/tests/test-flowgen
 *
 * and then review every changed line with `git diff tests/data/flowgen`:
 * the files are only worth something if a human has checked them.
 *
 * Invalid connections are a table below: input in, message out. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "ovs-plugin/flowgen.h"

#define DATA_DIR "tests/data/flowgen"
#define MAX_VMS 16

/* A growable array of malloc'd lines. */
struct lines {
    char **s;
    size_t n, allocated;
};

static void
lines_add(struct lines *l, char *s)
{
    if (l->n >= l->allocated) {
        l->allocated = l->allocated ? 2 * l->allocated : 32;
        l->s = xrealloc(l->s, l->allocated * sizeof *l->s);
    }
    l->s[l->n++] = s;
}

static void
lines_destroy(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->s[i]);
    }
    free(l->s);
}

static int
compare_strings(const void *a_, const void *b_)
{
    const char *const *a = a_;
    const char *const *b = b_;
    return strcmp(*a, *b);
}

/* Reads 'path' into 'l', one element per line without its newline.
 * Returns false if the file cannot be opened. */
static bool
lines_read(const char *path, struct lines *l)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return false;
    }
    char *line = NULL;
    size_t size = 0;
    ssize_t len;
    while ((len = getline(&line, &size, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') {
            line[len - 1] = '\0';
        }
        lines_add(l, xstrdup(line));
    }
    free(line);
    fclose(f);
    return true;
}

/* The VMs a case file declared so far. */
struct vms {
    struct flowgen_vm vm[MAX_VMS];
    char *uuid[MAX_VMS];
    char *mac[MAX_VMS];
    char *addresses[MAX_VMS];
    char *learned[MAX_VMS];
    size_t n;
};

static const struct flowgen_vm *
vms_find(const struct vms *vms, const char *uuid)
{
    for (size_t i = 0; i < vms->n; i++) {
        if (!strcmp(vms->uuid[i], uuid)) {
            return &vms->vm[i];
        }
    }
    return NULL;
}

/* Splits "ADDR:PORT" or "[ADDR]:PORT" into a malloc'd 'addr' and 'port'. */
static void
parse_endpoint(const char *where, const char *s, char **addr, int *port)
{
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':') {
            fail_msg("%s: bad endpoint \"%s\"", where, s);
        }
        *addr = xasprintf("%.*s", (int) (end - s - 1), s + 1);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            fail_msg("%s: bad endpoint \"%s\"", where, s);
        }
        *addr = xasprintf("%.*s", (int) (colon - s), s);
    }
    *port = atoi(colon + 1);
}

/* Runs one input line (already split into words) of a case file. */
static void
run_line(const char *where, char **words, size_t n_words,
         struct flowgen_ctx *ctx, struct vms *vms,
         struct flowgen_flows *flows)
{
    const char *cmd = words[0];
    const char *uuid = NULL, *mode = NULL, *local = NULL, *remote = NULL;
    const char *granularity = "exact";
    char *mac = NULL, *addresses = NULL, *learned = NULL;
    long ofport = 0, zone = 0, proto = 0, app = 0, uid = -1;

    for (size_t i = 1; i < n_words; i++) {
        char *key = words[i];
        char *value = strchr(key, '=');
        if (!value) {
            fail_msg("%s: \"%s\" is not KEY=VALUE", where, key);
        }
        *value++ = '\0';
        if (!strcmp(key, "table_base")) {
            ctx->table_base = strtoul(value, NULL, 0);
        } else if (!strcmp(key, "cookie_prefix")) {
            ctx->cookie_prefix = strtoul(value, NULL, 0);
        } else if (!strcmp(key, "uuid") || !strcmp(key, "vm")) {
            uuid = value;
        } else if (!strcmp(key, "ofport")) {
            ofport = strtol(value, NULL, 0);
        } else if (!strcmp(key, "zone")) {
            zone = strtol(value, NULL, 0);
        } else if (!strcmp(key, "mac")) {
            mac = value;
        } else if (!strcmp(key, "addresses")) {
            addresses = value;
        } else if (!strcmp(key, "learned")) {
            learned = value;
        } else if (!strcmp(key, "mode")) {
            mode = value;
        } else if (!strcmp(key, "granularity")) {
            granularity = value;
        } else if (!strcmp(key, "proto")) {
            proto = strtol(value, NULL, 0);
        } else if (!strcmp(key, "local")) {
            local = value;
        } else if (!strcmp(key, "remote")) {
            remote = value;
        } else if (!strcmp(key, "app")) {
            app = strtol(value, NULL, 0);
        } else if (!strcmp(key, "uid")) {
            uid = strtol(value, NULL, 0);
        } else {
            fail_msg("%s: unknown key \"%s\"", where, key);
        }
    }

    if (!strcmp(cmd, "ctx")) {
        /* Done above. */
    } else if (!strcmp(cmd, "global")) {
        flowgen_global(ctx, flows);
    } else if (!strcmp(cmd, "vm")) {
        if (!uuid || !mode || vms->n >= MAX_VMS) {
            fail_msg("%s: vm needs uuid and mode (at most %d vms)", where,
                     MAX_VMS);
        }
        enum flowgen_mode m = FLOWGEN_ENFORCE;
        if (!strcmp(mode, "enforce")) {
            m = FLOWGEN_ENFORCE;
        } else if (!strcmp(mode, "monitor")) {
            m = FLOWGEN_MONITOR;
        } else if (!strcmp(mode, "noagent")) {
            m = FLOWGEN_NOAGENT;
        } else {
            fail_msg("%s: bad mode \"%s\"", where, mode);
        }
        struct flowgen_vm *vm = &vms->vm[vms->n];
        vms->uuid[vms->n] = xstrdup(uuid);
        vms->mac[vms->n] = mac ? xstrdup(mac) : NULL;
        vms->addresses[vms->n] = addresses ? xstrdup(addresses) : NULL;
        vms->learned[vms->n] = learned ? xstrdup(learned) : NULL;
        *vm = (struct flowgen_vm) {
            .uuid = vms->uuid[vms->n],
            .ofport = ofport,
            .zone = zone,
            .mac = vms->mac[vms->n],
            .mode = m,
            .addresses = vms->addresses[vms->n],
            .learned = vms->learned[vms->n],
        };
        vms->n++;
        flowgen_vm(ctx, vm, flows);
    } else if (!strcmp(cmd, "allow")) {
        const struct flowgen_vm *vm = uuid ? vms_find(vms, uuid) : NULL;
        if (!vm || !remote) {
            fail_msg("%s: allow needs a declared vm and remote", where);
        }
        struct flowgen_allow a = {
            .service = !strcmp(granularity, "service"),
            .proto = proto,
            .app_id = app,
            .has_uid = uid >= 0,
            .uid = uid >= 0 ? uid : 0,
        };
        char *local_addr = NULL, *remote_addr = NULL;
        if (local) {
            parse_endpoint(where, local, &local_addr, &a.local_port);
        }
        parse_endpoint(where, remote, &remote_addr, &a.remote_port);
        a.local_addr = local_addr;
        a.remote_addr = remote_addr;
        char *error = flowgen_allow(ctx, vm, &a, flows);
        if (error) {
            fail_msg("%s: allow rejected: %s", where, error);
        }
        free(local_addr);
        free(remote_addr);
    } else {
        fail_msg("%s: unknown command \"%s\"", where, cmd);
    }
}

/* Generates the flows that 'in_path' describes, formatted and sorted. */
static void
generate(const char *in_path, struct lines *out)
{
    struct lines input = { 0 };
    if (!lines_read(in_path, &input)) {
        fail_msg("%s: %s", in_path, strerror(errno));
    }

    struct flowgen_ctx ctx = { .table_base = 0, .cookie_prefix = 0xa9f0 };
    struct vms vms = { .n = 0 };
    struct flowgen_flows flows;
    flowgen_flows_init(&flows);

    for (size_t i = 0; i < input.n; i++) {
        char *words[32];
        size_t n = 0;
        char *save = NULL;
        char *hash = strchr(input.s[i], '#');
        if (hash) {
            *hash = '\0';
        }
        for (char *w = strtok_r(input.s[i], " \t", &save);
             w && n < ARRAY_SIZE(words); w = strtok_r(NULL, " \t", &save)) {
            words[n++] = w;
        }
        if (n) {
            char *where = xasprintf("%s:%zu", in_path, i + 1);
            run_line(where, words, n, &ctx, &vms, &flows);
            free(where);
        }
    }

    for (size_t i = 0; i < flows.n; i++) {
        lines_add(out, flowgen_flow_format(&flows.flows[i]));
    }
    qsort(out->s, out->n, sizeof *out->s, compare_strings);

    for (size_t i = 0; i < vms.n; i++) {
        free(vms.uuid[i]);
        free(vms.mac[i]);
        free(vms.addresses[i]);
        free(vms.learned[i]);
    }
    flowgen_flows_destroy(&flows);
    lines_destroy(&input);
}

/* Prints the difference of two sorted arrays of lines: "-" for expected
 * lines that are missing, "+" for lines that are extra. */
static void
print_diff(const char *out_path, const struct lines *want,
           const struct lines *got)
{
    printf("--- %s (expected)\n+++ generated\n", out_path);
    size_t i = 0, j = 0;
    while (i < want->n || j < got->n) {
        int cmp = (i >= want->n ? 1
                   : j >= got->n ? -1
                   : strcmp(want->s[i], got->s[j]));
        if (cmp < 0) {
            printf("-%s\n", want->s[i++]);
        } else if (cmp > 0) {
            printf("+%s\n", got->s[j++]);
        } else {
            i++;
            j++;
        }
    }
}

/* Checks (or, with FLOWGEN_REGEN=1, rewrites) the .out file of one .in
 * file.  Returns the number of failures: 0 or 1. */
static int
run_file(const char *in_path)
{
    char *out_path = xasprintf("%.*s.out", (int) (strlen(in_path) - 3),
                               in_path);
    struct lines got = { 0 }, want = { 0 };
    generate(in_path, &got);

    int failures = 0;
    const char *regen = getenv("FLOWGEN_REGEN");
    if (regen && !strcmp(regen, "1")) {
        FILE *f = fopen(out_path, "w");
        if (!f) {
            fail_msg("%s: %s", out_path, strerror(errno));
        }
        for (size_t i = 0; i < got.n; i++) {
            fprintf(f, "%s\n", got.s[i]);
        }
        if (fclose(f)) {
            fail_msg("%s: %s", out_path, strerror(errno));
        }
        printf("%s: rewritten (%zu flows)\n", out_path, got.n);
    } else if (!lines_read(out_path, &want)) {
        printf("%s: %s (FLOWGEN_REGEN=1 writes it)\n", out_path,
               strerror(errno));
        failures = 1;
    } else {
        bool same = want.n == got.n;
        for (size_t i = 0; same && i < got.n; i++) {
            same = !strcmp(want.s[i], got.s[i]);
        }
        for (size_t i = 1; i < want.n; i++) {
            if (strcmp(want.s[i - 1], want.s[i]) > 0) {
                printf("%s:%zu: not sorted (compare with LC_ALL=C sort)\n",
                       out_path, i + 1);
                break;
            }
        }
        if (!same) {
            print_diff(out_path, &want, &got);
            failures = 1;
        }
    }
    lines_destroy(&got);
    lines_destroy(&want);
    free(out_path);
    return failures;
}

static void
test_golden_files(void **state)
{
    (void) state;
    DIR *d = opendir(DATA_DIR);
    if (!d) {
        fail_msg("%s: %s (run from the repository root)", DATA_DIR,
                 strerror(errno));
    }
    int files = 0, failures = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len > 3 && !strcmp(de->d_name + len - 3, ".in")) {
            char *path = xasprintf("%s/%s", DATA_DIR, de->d_name);
            failures += run_file(path);
            free(path);
            files++;
        }
    }
    closedir(d);
    assert_true(files >= 9);
    assert_int_equal(failures, 0);
}

struct bad_allow {
    struct flowgen_allow allow;
    const char *error;
};

#define EXACT(PROTO, L, LP, R, RP) \
    { .proto = PROTO, .local_addr = L, .local_port = LP, \
      .remote_addr = R, .remote_port = RP, .app_id = 7 }
#define SERVICE(PROTO, R, RP) \
    { .service = true, .proto = PROTO, .remote_addr = R, \
      .remote_port = RP, .app_id = 7 }

static const struct bad_allow bad_allows[] = {
    { EXACT(6, "10.0.0.1", 40000, "300.1.1.1", 80),
      "remote.address: \"300.1.1.1\" is not an IPv4 or IPv6 address" },
    { EXACT(6, "10.0.0.1", 40000, "", 80),
      "remote.address: \"\" is not an IPv4 or IPv6 address" },
    { EXACT(6, "10.0.0.1", 40000, NULL, 80),
      "remote.address: \"\" is not an IPv4 or IPv6 address" },
    { EXACT(6, "10.0.0.1", 40000, "fe80::1%eth0", 80),
      "remote.address: \"fe80::1%eth0\" is not an IPv4 or IPv6 address" },
    { EXACT(6, "10.0.0.1", 40000, "10.0.0.0/8", 80),
      "remote.address: \"10.0.0.0/8\" is not an IPv4 or IPv6 address" },
    { EXACT(6, "10.0.0.1", 40000, " 10.0.0.2", 80),
      "remote.address: \" 10.0.0.2\" is not an IPv4 or IPv6 address" },
    { EXACT(6, "example.com", 40000, "10.0.0.2", 80),
      "local.address: \"example.com\" is not an IPv4 or IPv6 address" },
    { EXACT(6, NULL, 40000, "10.0.0.2", 80),
      "local.address: \"\" is not an IPv4 or IPv6 address" },
    { EXACT(6, "2001:db8::1", 40000, "10.0.0.2", 80),
      "local.address: IPv6 but remote.address is IPv4" },
    { EXACT(17, "10.0.0.1", 40000, "2001:db8::2", 53),
      "local.address: IPv4 but remote.address is IPv6" },
    { EXACT(1, "10.0.0.1", 0, "2001:db8::2", 0),
      "local.address: IPv4 but remote.address is IPv6" },
    { EXACT(1, "10.0.0.1", 0, "10.0.0.256", 0),
      "remote.address: \"10.0.0.256\" is not an IPv4 or IPv6 address" },
    { EXACT(0, "10.0.0.1", 40000, "10.0.0.2", 80),
      "protocol: 0 is not tcp (6), udp (17) or icmp (1)" },
    { EXACT(58, "2001:db8::1", 1, "2001:db8::2", 1),
      "protocol: 58 is not tcp (6), udp (17) or icmp (1)" },
    { EXACT(6, "10.0.0.1", 40000, "10.0.0.2", 0),
      "remote.port: 0 is out of range 1..65535" },
    { EXACT(6, "10.0.0.1", 40000, "10.0.0.2", 65536),
      "remote.port: 65536 is out of range 1..65535" },
    { EXACT(17, "10.0.0.1", 40000, "10.0.0.2", -1),
      "remote.port: -1 is out of range 1..65535" },
    { EXACT(6, "10.0.0.1", 0, "10.0.0.2", 80),
      "local.port: 0 is out of range 1..65535" },
    { EXACT(6, "10.0.0.1", 70000, "10.0.0.2", 80),
      "local.port: 70000 is out of range 1..65535" },
    { SERVICE(6, "10.0.0.256", 443),
      "remote.address: \"10.0.0.256\" is not an IPv4 or IPv6 address" },
    { SERVICE(17, "2001:db8::1", 0),
      "remote.port: 0 is out of range 1..65535" },
    { SERVICE(132, "10.0.0.2", 80),
      "protocol: 132 is not tcp (6), udp (17) or icmp (1)" },
};

static void
test_bad_allows(void **state)
{
    (void) state;
    static const struct flowgen_ctx ctx = { 0, 0xa9f0 };
    static const struct flowgen_vm vm = {
        "11111111-0000-4000-8000-000000000001", 3, 1, "52:54:00:00:00:01",
        FLOWGEN_ENFORCE, NULL, NULL,
    };
    struct flowgen_flows flows;
    flowgen_flows_init(&flows);
    flowgen_global(&ctx, &flows);
    size_t n = flows.n;

    for (size_t i = 0; i < ARRAY_SIZE(bad_allows); i++) {
        char *error = flowgen_allow(&ctx, &vm, &bad_allows[i].allow, &flows);
        if (!error || strcmp(error, bad_allows[i].error)) {
            fail_msg("bad allow %zu: got \"%s\", want \"%s\"", i,
                     error ? error : "(accepted)", bad_allows[i].error);
        }
        assert_int_equal(flows.n, n);
        free(error);
    }

    /* Service granularity ignores the local end entirely. */
    struct flowgen_allow svc = SERVICE(6, "10.0.0.2", 443);
    svc.local_addr = "nonsense";
    svc.local_port = -5;
    assert_null(flowgen_allow(&ctx, &vm, &svc, &flows));
    assert_int_equal(flows.n, n + 3);   /* Policy, counting out and in. */
    flowgen_flows_destroy(&flows);
}

/* Flows with the same table, priority and match have the same key,
 * whatever their cookie and actions; anything else tells them apart. */
static void
test_flow_key(void **state)
{
    (void) state;
    struct flowgen_flow a = { 30, 200, 0xa9f0030000000007ULL,
                              "reg6=1,tcp,tp_dst=80", "goto_table:40" };
    struct flowgen_flow b = { 30, 200, 0xa9f0030000000008ULL,
                              "reg6=1,tcp,tp_dst=80", "drop" };
    struct flowgen_flow c = { 30, 100, 0xa9f0030000000007ULL,
                              "reg6=1,tcp,tp_dst=80", "goto_table:40" };
    struct flowgen_flow d = { 30, 200, 0xa9f0030000000007ULL,
                              "reg6=2,tcp,tp_dst=80", "goto_table:40" };
    struct flowgen_flow e = { 0, 0, 0xa9f0010000000000ULL, "",
                              "goto_table:40" };

    char *ka = flowgen_flow_key(&a), *kb = flowgen_flow_key(&b);
    char *kc = flowgen_flow_key(&c), *kd = flowgen_flow_key(&d);
    char *ke = flowgen_flow_key(&e);
    assert_string_equal(ka, "table=30,priority=200,reg6=1,tcp,tp_dst=80");
    assert_string_equal(ka, kb);
    assert_string_not_equal(ka, kc);
    assert_string_not_equal(ka, kd);
    assert_string_equal(ke, "table=0,priority=0");
    free(ka);
    free(kb);
    free(kc);
    free(kd);
    free(ke);

    /* The same connection approved twice yields the same key. */
    static const struct flowgen_ctx ctx = { 0, 0xa9f0 };
    static const struct flowgen_vm vm = {
        "11111111-0000-4000-8000-000000000001", 3, 1, NULL, FLOWGEN_ENFORCE,
        NULL, NULL,
    };
    struct flowgen_allow x = EXACT(6, "10.0.0.1", 40000, "10.0.0.2", 80);
    struct flowgen_allow y = EXACT(6, "10.0.0.1", 40000, "10.0.0.2", 80);
    y.app_id = 9;
    struct flowgen_flows flows;
    flowgen_flows_init(&flows);
    assert_null(flowgen_allow(&ctx, &vm, &x, &flows));
    assert_null(flowgen_allow(&ctx, &vm, &y, &flows));
    assert_int_equal(flows.n, 6);
    ka = flowgen_flow_key(&flows.flows[0]);
    kb = flowgen_flow_key(&flows.flows[3]);
    assert_string_equal(ka, kb);
    assert_true(flows.flows[0].cookie != flows.flows[3].cookie);
    free(ka);
    free(kb);
    flowgen_flows_destroy(&flows);
}

static void
test_format(void **state)
{
    (void) state;
    struct flowgen_flow e = { 0, 0, 0xa9f0010000000000ULL, "",
                              "goto_table:40" };
    struct flowgen_flow m = { 110, 100, 0x1, "in_port=3,ip", "drop" };
    char *s = flowgen_flow_format(&e);
    assert_string_equal(s, "table=0, priority=0, cookie=0xa9f0010000000000 "
                        "actions=goto_table:40");
    free(s);
    s = flowgen_flow_format(&m);
    assert_string_equal(s, "table=110, priority=100, "
                        "cookie=0x0000000000000001, in_port=3,ip "
                        "actions=drop");
    free(s);
}

static void
test_cookie(void **state)
{
    (void) state;
    struct flowgen_ctx ctx = { 0, 0xa9f0 };
    assert_true(flowgen_cookie(&ctx, FLOWGEN_K_GLOBAL, 0)
                == 0xa9f0010000000000ULL);
    assert_true(flowgen_cookie(&ctx, FLOWGEN_K_VM, 65535)
                == 0xa9f002000000ffffULL);
    assert_true(flowgen_cookie(&ctx, FLOWGEN_K_POLICY, 0xffffffff)
                == 0xa9f00300ffffffffULL);
    ctx.cookie_prefix = 0xffff;
    assert_true(flowgen_cookie(&ctx, FLOWGEN_K_COUNT, 1)
                == 0xffff040000000001ULL);
}

/* Each direction has its counting flow: the same kind and id, told apart
 * by the cookie's FLOWGEN_COUNT_IN bit, which matches reg5 (0: from the
 * VM, 1: to it); the VM's own pair counts under app id 0. */
static void
test_counting_directions(void **state)
{
    (void) state;
    static const struct flowgen_ctx ctx = { 0, 0xa9f0 };
    static const struct flowgen_vm vm = {
        "11111111-0000-4000-8000-000000000001", 3, 1, "52:54:00:00:00:01",
        FLOWGEN_ENFORCE, NULL, NULL,
    };
    struct flowgen_allow a = EXACT(6, "10.0.0.1", 40000, "10.0.0.2", 80);
    a.has_uid = true;
    a.uid = 1000;
    struct flowgen_flows flows;
    flowgen_flows_init(&flows);
    flowgen_vm(&ctx, &vm, &flows);
    assert_null(flowgen_allow(&ctx, &vm, &a, &flows));

    int seen[2][2] = { { 0, 0 }, { 0, 0 } };   /* [app or VM][direction] */
    for (size_t i = 0; i < flows.n; i++) {
        const struct flowgen_flow *f = &flows.flows[i];
        if (((f->cookie >> 40) & 0xff) != FLOWGEN_K_COUNT) {
            continue;
        }
        bool in = (f->cookie & FLOWGEN_COUNT_IN) != 0;
        uint32_t id = f->cookie & 0xffffffff;
        assert_true(id == 0 || id == 7);
        assert_true(f->table == FLOWGEN_T_STATE);
        assert_non_null(strstr(f->match, in ? "reg5=1," : "reg5=0,"));
        if (id == 7) {
            assert_non_null(strstr(f->match, ",ct_label=0x1000003e8"));
        }
        seen[id == 7][in]++;
    }
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
            assert_int_equal(seen[i][j], 1);
        }
    }
    /* The policy flow puts the uid into the connection's label. */
    assert_non_null(strstr(flows.flows[flows.n - 3].actions,
                           "set_field:0x1000003e8->ct_label"));
    flowgen_flows_destroy(&flows);
}

/* Clearing frees the flows and keeps the array usable; destroying twice or
 * destroying NULL is harmless.  (ASan checks the frees.) */
static void
test_flows_lifecycle(void **state)
{
    (void) state;
    static const struct flowgen_ctx ctx = { 0, 0xa9f0 };
    struct flowgen_flows flows;
    flowgen_flows_init(&flows);
    assert_int_equal(flows.n, 0);
    for (int i = 0; i < 10; i++) {
        flowgen_global(&ctx, &flows);
    }
    assert_int_equal(flows.n, 290);
    flowgen_flows_clear(&flows);
    assert_int_equal(flows.n, 0);
    flowgen_global(&ctx, &flows);
    assert_int_equal(flows.n, 29);
    flowgen_flows_destroy(&flows);
    assert_null(flows.flows);
    assert_int_equal(flows.n, 0);
    flowgen_flows_destroy(&flows);
    flowgen_flows_destroy(NULL);
    flowgen_flows_clear(NULL);
}

/* Configured address lists: what is accepted, and the message naming
 * the first word that is not. */
static void
test_check_addresses(void **state)
{
    (void) state;
    assert_null(flowgen_check_addresses(NULL));
    assert_null(flowgen_check_addresses(""));
    assert_null(flowgen_check_addresses("10.0.0.5 fd00::5,10.1.0.0/16 "
                                        " fe80::1/64"));
    static const struct {
        const char *in, *error;
    } bad[] = {
        { "10.0.0.5 10.0.0.300",
          "\"10.0.0.300\" is not an IPv4 or IPv6 address or prefix" },
        { "10.0.0.0/33",
          "\"10.0.0.0/33\" is not an IPv4 or IPv6 address or prefix" },
        { "fd00::/129",
          "\"fd00::/129\" is not an IPv4 or IPv6 address or prefix" },
        { "10.0.0.1/", "\"10.0.0.1/\" is not an IPv4 or IPv6 address or "
          "prefix" },
        { "10.0.0.1/-1", "\"10.0.0.1/-1\" is not an IPv4 or IPv6 address "
          "or prefix" },
        { "host.example", "\"host.example\" is not an IPv4 or IPv6 "
          "address or prefix" },
        { "1.0.0.1 1.0.0.2 1.0.0.3 1.0.0.4 1.0.0.5 1.0.0.6 1.0.0.7 1.0.0.8 "
          "1.0.0.9 1.0.0.10 1.0.0.11 1.0.0.12 1.0.0.13 1.0.0.14 1.0.0.15 "
          "1.0.0.16 1.0.0.17", "\"1.0.0.17\": more than 16 addresses" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *error = flowgen_check_addresses(bad[i].in);
        if (!error || strcmp(error, bad[i].error)) {
            fail_msg("addresses %zu: got \"%s\", want \"%s\"", i,
                     error ? error : "(accepted)", bad[i].error);
        }
        free(error);
    }
}

/* Learning locks in one IPv4 address, one IPv6 link-local and one other
 * IPv6 address, and nothing a VM cannot own. */
static void
test_learn(void **state)
{
    (void) state;
    char *l;
    assert_int_equal(flowgen_learn(NULL, "10.0.0.5", &l), FLOWGEN_LEARN_NEW);
    assert_string_equal(l, "10.0.0.5");
    char *l2;
    assert_int_equal(flowgen_learn(l, "10.0.0.5", &l2), FLOWGEN_LEARN_KNOWN);
    assert_null(l2);
    assert_int_equal(flowgen_learn(l, "10.0.0.6", &l2),
                     FLOWGEN_LEARN_REFUSED);
    assert_int_equal(flowgen_learn(l, "FD00:0::5", &l2), FLOWGEN_LEARN_NEW);
    assert_string_equal(l2, "10.0.0.5 fd00::5");
    free(l);
    assert_int_equal(flowgen_learn(l2, "fe80::1234", &l), FLOWGEN_LEARN_NEW);
    assert_string_equal(l, "10.0.0.5 fd00::5 fe80::1234");
    free(l2);
    assert_int_equal(flowgen_learn(l, "fe80::1", &l2), FLOWGEN_LEARN_REFUSED);
    assert_int_equal(flowgen_learn(l, "2001:db8::1", &l2),
                     FLOWGEN_LEARN_REFUSED);
    assert_int_equal(flowgen_learn(l, "fd00::5", &l2), FLOWGEN_LEARN_KNOWN);
    free(l);

    static const char *const never[] = {
        "0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.0.1", "239.1.1.1",
        "240.0.0.1", "255.255.255.255", "::", "::1", "ff02::1",
        "::ffff:10.0.0.1", "10.0.0.0/24", "fd00::/64", "", "bogus",
    };
    for (size_t i = 0; i < ARRAY_SIZE(never); i++) {
        if (flowgen_learn("", never[i], &l) != FLOWGEN_LEARN_REFUSED) {
            fail_msg("learned \"%s\"", never[i]);
        }
        assert_null(l);
    }
    assert_int_equal(flowgen_learn("", NULL, &l), FLOWGEN_LEARN_REFUSED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_files),
        cmocka_unit_test(test_bad_allows),
        cmocka_unit_test(test_flow_key),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_counting_directions),
        cmocka_unit_test(test_flows_lifecycle),
        cmocka_unit_test(test_check_addresses),
        cmocka_unit_test(test_learn),
    };
    return cmocka_run_group_tests_name("flowgen", tests, NULL, NULL);
}
