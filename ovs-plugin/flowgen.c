#include "flowgen.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* The VM's conntrack zone lives in reg6, the direction in reg5. */
#define ZONE "zone=NXM_NX_REG6[0..15]"

/* OVS rejects ct() in a flow whose match does not say ip or ipv6, so flows
 * that commit come in one of each. */
static const char *const l3[] = { "ip", "ipv6" };

void
flowgen_flows_init(struct flowgen_flows *flows)
{
    memset(flows, 0, sizeof *flows);
}

void
flowgen_flows_clear(struct flowgen_flows *flows)
{
    if (!flows) {
        return;
    }
    for (size_t i = 0; i < flows->n; i++) {
        free(flows->flows[i].match);
        free(flows->flows[i].actions);
    }
    flows->n = 0;
}

void
flowgen_flows_destroy(struct flowgen_flows *flows)
{
    if (flows) {
        flowgen_flows_clear(flows);
        free(flows->flows);
        flowgen_flows_init(flows);
    }
}

uint32_t
flowgen_meter(const struct flowgen_ctx *ctx, uint16_t zone)
{
    return (uint32_t) ctx->cookie_prefix << 16 | zone;
}

uint64_t
flowgen_cookie(const struct flowgen_ctx *ctx, enum flowgen_kind kind,
               uint32_t id)
{
    return ((uint64_t) ctx->cookie_prefix << 48)
           | ((uint64_t) (kind & 0xff) << 40) | id;
}

/* Appends a flow to 'out' in table 'ctx->table_base + table', taking
 * ownership of 'match' and 'actions' (both malloc'd). */
static void
add_flow(struct flowgen_flows *out, const struct flowgen_ctx *ctx,
         unsigned int table, unsigned int priority, uint64_t cookie,
         char *match, char *actions)
{
    if (out->n >= out->allocated) {
        out->allocated = out->allocated ? 2 * out->allocated : 16;
        out->flows = xrealloc(out->flows,
                              out->allocated * sizeof *out->flows);
    }
    struct flowgen_flow *f = &out->flows[out->n++];
    f->table = ctx->table_base + table;
    f->priority = priority;
    f->cookie = cookie;
    f->match = match;
    f->actions = actions;
}

/* Returns the absolute number of table 'offset' under 'ctx'. */
static unsigned int
table_no(const struct flowgen_ctx *ctx, unsigned int offset)
{
    return ctx->table_base + offset;
}

/* The pipeline skeleton: the defaults of every table (traffic from ports
 * appfw does not manage goes straight to forwarding), the conntrack
 * recirculation, and the connection-state verdicts that do not depend on
 * any VM or application: invalid is dropped, established and related are
 * forwarded, new egress goes to the policy table and new ingress is
 * committed and forwarded. */
void
flowgen_global(const struct flowgen_ctx *ctx, struct flowgen_flows *out)
{
    uint64_t c = flowgen_cookie(ctx, FLOWGEN_K_GLOBAL, 0);
    unsigned int fwd = table_no(ctx, FLOWGEN_T_FORWARD);

    add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 0, c, xstrdup(""),
             xasprintf("goto_table:%u", fwd));

    for (size_t i = 0; i < ARRAY_SIZE(l3); i++) {
        add_flow(out, ctx, FLOWGEN_T_CT, 100, c, xstrdup(l3[i]),
                 xasprintf("ct(" ZONE ",table=%u)",
                           table_no(ctx, FLOWGEN_T_STATE)));
    }
    add_flow(out, ctx, FLOWGEN_T_CT, 0, c, xstrdup(""), xstrdup("drop"));

    add_flow(out, ctx, FLOWGEN_T_STATE, 100, c,
             xstrdup("ct_state=+inv+trk"), xstrdup("drop"));
    add_flow(out, ctx, FLOWGEN_T_STATE, 51, c,
             xstrdup("ct_state=+est+trk"), xasprintf("goto_table:%u", fwd));
    add_flow(out, ctx, FLOWGEN_T_STATE, 50, c,
             xstrdup("ct_state=+rel+trk"), xasprintf("goto_table:%u", fwd));
    add_flow(out, ctx, FLOWGEN_T_STATE, 40, c,
             xstrdup("ct_state=+new+trk,reg5=0"),
             xasprintf("goto_table:%u", table_no(ctx, FLOWGEN_T_POLICY)));
    for (size_t i = 0; i < ARRAY_SIZE(l3); i++) {
        add_flow(out, ctx, FLOWGEN_T_STATE, 40, c,
                 xasprintf("ct_state=+new+trk,reg5=1,%s", l3[i]),
                 xasprintf("ct(commit," ZONE "),goto_table:%u", fwd));
    }
    /* New ingress the guest agent decides: TCP, UDP and ICMP echo (the
     * guest's kernel answers it), above an enforcing VM's refusal of the
     * rest (flowgen_vm()); neighbour discovery and multicast listener
     * messages pass as they are. */
    static const char *const decided[] = {
        "tcp", "udp", "icmp,icmp_type=8",
        "tcp6", "udp6", "icmp6,icmp_type=128",
    };
    for (size_t i = 0; i < ARRAY_SIZE(decided); i++) {
        add_flow(out, ctx, FLOWGEN_T_STATE, 46, c,
                 xasprintf("ct_state=+new+trk,reg5=1,%s", decided[i]),
                 xasprintf("ct(commit," ZONE "),goto_table:%u", fwd));
    }
    static const int nd_mld[] = { 130, 131, 132, 133, 134, 135, 136, 137,
                                  143 };
    for (size_t i = 0; i < ARRAY_SIZE(nd_mld); i++) {
        add_flow(out, ctx, FLOWGEN_T_STATE, 46, c,
                 xasprintf("ct_state=+new+trk,reg5=1,icmp6,icmp_type=%d",
                           nd_mld[i]),
                 xasprintf("goto_table:%u", fwd));
    }
    add_flow(out, ctx, FLOWGEN_T_STATE, 0, c, xstrdup(""), xstrdup("drop"));

    add_flow(out, ctx, FLOWGEN_T_POLICY, 0, c, xstrdup(""), xstrdup("drop"));
    add_flow(out, ctx, FLOWGEN_T_FORWARD, 0, c, xstrdup(""),
             xstrdup("NORMAL"));
}

/* Copies 'mac' into 'out' in lower case and returns true if it is
 * "xx:xx:xx:xx:xx:xx" with hex digits; else returns false (the MAC is
 * treated as unknown). */
static bool
normalize_mac(const char *mac, char out[18])
{
    if (!mac || strlen(mac) != 17) {
        return false;
    }
    for (size_t i = 0; i < 17; i++) {
        unsigned char ch = mac[i];
        if (i % 3 == 2 ? ch != ':' : !isxdigit(ch)) {
            return false;
        }
        out[i] = tolower(ch);
    }
    out[17] = '\0';
    return true;
}

/* A VM's flows: in table +0 its IP traffic gets its zone in reg6 and
 * reg5 := 0 (egress) and goes to conntrack, its ARP and neighbour
 * discovery (RS, NS, NA) go straight to forwarding (both pinned to its MAC
 * when the MAC is known), and anything else from its port is dropped.  In
 * table +40 IP traffic to its MAC (if known) is marked as ingress into its
 * zone and sent back through conntrack; OpenFlow's goto_table only goes
 * forward, so that is a resubmit().  In table +30 the mode decides what
 * happens to new egress connections nothing approved. */
void
flowgen_vm(const struct flowgen_ctx *ctx, const struct flowgen_vm *vm,
           struct flowgen_flows *out)
{
    if (vm->ofport <= 0) {
        return;
    }

    uint64_t c = flowgen_cookie(ctx, FLOWGEN_K_VM, vm->zone);
    unsigned int z = vm->zone;
    unsigned int fwd = table_no(ctx, FLOWGEN_T_FORWARD);
    unsigned int ct = table_no(ctx, FLOWGEN_T_CT);
    char mac[18];
    bool known = normalize_mac(vm->mac, mac);
    char *in = xasprintf("in_port=%d%s%s", vm->ofport,
                         known ? ",dl_src=" : "", known ? mac : "");

    for (size_t i = 0; i < ARRAY_SIZE(l3); i++) {
        add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 100, c,
                 xasprintf("%s,%s", in, l3[i]),
                 xasprintf("load:%u->NXM_NX_REG6[],load:0->NXM_NX_REG5[],"
                           "goto_table:%u", z, ct));
    }
    add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 110, c,
             xasprintf("%s,arp%s%s", in, known ? ",arp_sha=" : "",
                       known ? mac : ""),
             xasprintf("goto_table:%u", fwd));
    static const int nd_types[] = { 133, 135, 136 };   /* RS, NS, NA. */
    for (size_t i = 0; i < ARRAY_SIZE(nd_types); i++) {
        add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 110, c,
                 xasprintf("%s,icmp6,icmp_type=%d", in, nd_types[i]),
                 xasprintf("goto_table:%u", fwd));
    }
    add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 10, c,
             xasprintf("in_port=%d", vm->ofport), xstrdup("drop"));
    free(in);

    for (size_t i = 0; known && i < ARRAY_SIZE(l3); i++) {
        add_flow(out, ctx, FLOWGEN_T_FORWARD, 100, c,
                 xasprintf("reg5=0,dl_dst=%s,%s", mac, l3[i]),
                 xasprintf("load:%u->NXM_NX_REG6[],load:1->NXM_NX_REG5[],"
                           "resubmit(,%u)", z, ct));
    }

    switch (vm->mode) {
    case FLOWGEN_ENFORCE:
        /* Refused TCP gets a reset from switchd (IPv4 and IPv6). */
        for (size_t i = 0; i < 2; i++) {
            add_flow(out, ctx, FLOWGEN_T_POLICY, 2, c,
                     xasprintf("reg6=%u,%s", z, i ? "tcp6" : "tcp"),
                     xasprintf("meter:%"PRIu32",controller(userdata=%02x)",
                               flowgen_meter(ctx, z), FLOWGEN_PUNT_RESET));
        }
        add_flow(out, ctx, FLOWGEN_T_POLICY, 1, c, xasprintf("reg6=%u", z),
                 xstrdup("drop"));
        /* New ingress of a protocol the agent cannot decide (SCTP, DCCP,
         * UDP-Lite, raw IP...): refused, under the global flows that pass
         * what it decides. */
        add_flow(out, ctx, FLOWGEN_T_STATE, 45, c,
                 xasprintf("ct_state=+new+trk,reg5=1,reg6=%u", z),
                 xstrdup("drop"));
        break;
    case FLOWGEN_MONITOR:
        for (size_t i = 0; i < ARRAY_SIZE(l3); i++) {
            add_flow(out, ctx, FLOWGEN_T_POLICY, 1, c,
                     xasprintf("reg6=%u,%s", z, l3[i]),
                     xasprintf("ct(commit," ZONE "),goto_table:%u", fwd));
        }
        break;
    case FLOWGEN_NOAGENT:
        add_flow(out, ctx, FLOWGEN_T_POLICY, 1, c, xasprintf("reg6=%u", z),
                 xasprintf("meter:%"PRIu32",controller(userdata=%02x)",
                           flowgen_meter(ctx, z), FLOWGEN_PUNT_ASK));
        break;
    }
}

/* A parsed address: its family and its canonical (inet_ntop) text. */
struct addr {
    int family;
    char text[INET6_ADDRSTRLEN];
};

/* Parses 's' as an IPv4 or IPv6 address into 'a'.  On failure returns a
 * malloc'd message naming 'field'. */
static char *
parse_addr(const char *field, const char *s, struct addr *a)
{
    unsigned char bin[16];
    if (s && inet_pton(AF_INET, s, bin) == 1) {
        a->family = AF_INET;
    } else if (s && inet_pton(AF_INET6, s, bin) == 1) {
        a->family = AF_INET6;
    } else {
        return xasprintf("%s: \"%s\" is not an IPv4 or IPv6 address",
                         field, s ? s : "");
    }
    inet_ntop(a->family, bin, a->text, sizeof a->text);
    return NULL;
}

/* Returns a malloc'd message if 'port' is not 1..65535. */
static char *
check_port(const char *field, int port)
{
    return (port < 1 || port > 65535
            ? xasprintf("%s: %d is out of range 1..65535", field, port)
            : NULL);
}

/* Checks 'allow' and fills in 'local' (exact only) and 'remote'.  The
 * local end is ignored for service granularity. */
static char *
validate_allow(const struct flowgen_allow *allow, struct addr *local,
               struct addr *remote)
{
    char *error;
    if (allow->proto != 6 && allow->proto != 17) {
        return xasprintf("protocol: %d is not tcp (6) or udp (17)",
                         allow->proto);
    }
    error = parse_addr("remote.address", allow->remote_addr, remote);
    if (error || (error = check_port("remote.port", allow->remote_port))) {
        return error;
    }
    if (allow->service) {
        return NULL;
    }
    error = parse_addr("local.address", allow->local_addr, local);
    if (error) {
        return error;
    }
    if (local->family != remote->family) {
        return xasprintf("local.address: %s but remote.address is %s",
                         local->family == AF_INET ? "IPv4" : "IPv6",
                         remote->family == AF_INET ? "IPv4" : "IPv6");
    }
    return check_port("local.port", allow->local_port);
}

/* One approved connection: in table +30, above the VM's default, a flow
 * that commits it with ct_mark := app id and forwards it; for exact
 * granularity it matches the 5-tuple (priority 200), for service
 * granularity only protocol, remote address and port (priority 100).  If
 * the application is known, a flow in table +20 above the plain +est one
 * counts the established traffic of (VM, app) by its ct_mark.  Nothing is
 * appended if 'allow' is invalid. */
char *
flowgen_allow(const struct flowgen_ctx *ctx, const struct flowgen_vm *vm,
              const struct flowgen_allow *allow, struct flowgen_flows *out)
{
    struct addr local, remote;
    char *error = validate_allow(allow, &local, &remote);
    if (error) {
        return error;
    }

    bool v4 = remote.family == AF_INET;
    const char *proto = (allow->proto == 6
                         ? (v4 ? "tcp" : "tcp6")
                         : (v4 ? "udp" : "udp6"));
    const char *src = v4 ? "nw_src" : "ipv6_src";
    const char *dst = v4 ? "nw_dst" : "ipv6_dst";
    unsigned int z = vm->zone;
    uint32_t app = allow->app_id;
    unsigned int fwd = table_no(ctx, FLOWGEN_T_FORWARD);

    char *match;
    if (allow->service) {
        match = xasprintf("reg6=%u,%s,%s=%s,tp_dst=%d", z, proto, dst,
                          remote.text, allow->remote_port);
    } else {
        match = xasprintf("reg6=%u,%s,%s=%s,%s=%s,tp_src=%d,tp_dst=%d", z,
                          proto, src, local.text, dst, remote.text,
                          allow->local_port, allow->remote_port);
    }
    add_flow(out, ctx, FLOWGEN_T_POLICY, allow->service ? 100 : 200,
             flowgen_cookie(ctx, FLOWGEN_K_POLICY, app), match,
             xasprintf("ct(commit," ZONE ",exec(set_field:%"PRIu32
                       "->ct_mark)),goto_table:%u", app, fwd));

    if (app) {
        add_flow(out, ctx, FLOWGEN_T_STATE, 60,
                 flowgen_cookie(ctx, FLOWGEN_K_COUNT, app),
                 xasprintf("ct_state=+est+trk,reg6=%u,ct_mark=0x%"PRIx32,
                           z, app),
                 xasprintf("goto_table:%u", fwd));
    }
    return NULL;
}

char *
flowgen_flow_format(const struct flowgen_flow *f)
{
    return xasprintf("table=%u, priority=%u, cookie=0x%016"PRIx64"%s%s "
                     "actions=%s", f->table, f->priority, f->cookie,
                     *f->match ? ", " : "", f->match, f->actions);
}

char *
flowgen_flow_key(const struct flowgen_flow *f)
{
    return xasprintf("table=%u,priority=%u%s%s", f->table, f->priority,
                     *f->match ? "," : "", f->match);
}
