#include "flowgen.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
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
    add_flow(out, ctx, FLOWGEN_T_ND, 0, c, xstrdup(""),
             xasprintf("goto_table:%u", table_no(ctx, FLOWGEN_T_CT)));

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

/* Port security: a set of addresses or prefixes. */
struct pfx {
    int family;                 /* AF_INET or AF_INET6. */
    unsigned char bin[16];      /* Host bits cleared. */
    int plen;                   /* 32 or 128: one address. */
};

struct addr_set {
    struct pfx a[FLOWGEN_MAX_ADDRS];
    size_t n;
};

/* Parses one word, "ADDR" or "ADDR/LEN", into 'p'. */
static bool
parse_pfx(const char *word, struct pfx *p)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (strlen(word) >= sizeof buf) {
        return false;
    }
    strcpy(buf, word);
    char *slash = strchr(buf, '/');
    int plen = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        long l = strtol(slash + 1, &end, 10);
        if (!isdigit((unsigned char) slash[1]) || *end || l > 128) {
            return false;
        }
        plen = l;
    }
    memset(p, 0, sizeof *p);
    if (inet_pton(AF_INET, buf, p->bin) == 1) {
        p->family = AF_INET;
        if (plen > 32) {
            return false;
        }
        p->plen = plen < 0 ? 32 : plen;
    } else if (inet_pton(AF_INET6, buf, p->bin) == 1) {
        p->family = AF_INET6;
        p->plen = plen < 0 ? 128 : plen;
    } else {
        return false;
    }
    for (int i = p->plen; i < (p->family == AF_INET ? 32 : 128); i++) {
        p->bin[i / 8] &= ~(0x80 >> (i % 8));
    }
    return true;
}

/* "10.0.0.5", "10.1.0.0/16", "fd00::/64" (malloc'd). */
static char *
pfx_format(const struct pfx *p)
{
    char text[INET6_ADDRSTRLEN];
    inet_ntop(p->family, p->bin, text, sizeof text);
    bool host = p->plen == (p->family == AF_INET ? 32 : 128);
    return host ? xstrdup(text) : xasprintf("%s/%d", text, p->plen);
}

/* Adds the words of 's' that parse to 'set' (up to FLOWGEN_MAX_ADDRS).
 * Returns NULL, or a malloc'd message about the first word left out. */
static char *
addr_set_add(struct addr_set *set, const char *s)
{
    char *error = NULL;
    char *copy = xstrdup(s ? s : "");
    char *save = NULL;
    for (char *w = strtok_r(copy, " ,", &save); w;
         w = strtok_r(NULL, " ,", &save)) {
        if (set->n >= FLOWGEN_MAX_ADDRS) {
            if (!error) {
                error = xasprintf("\"%s\": more than %d addresses", w,
                                  FLOWGEN_MAX_ADDRS);
            }
        } else if (parse_pfx(w, &set->a[set->n])) {
            set->n++;
        } else if (!error) {
            error = xasprintf("\"%s\" is not an IPv4 or IPv6 address or "
                              "prefix", w);
        }
    }
    free(copy);
    return error;
}

char *
flowgen_check_addresses(const char *addresses)
{
    struct addr_set set = { .n = 0 };
    return addr_set_add(&set, addresses);
}

static bool
is_link_local(const struct pfx *p)
{
    return p->family == AF_INET6 && p->bin[0] == 0xfe
           && (p->bin[1] & 0xc0) == 0x80;
}

/* Whether a VM may own 'p' (a single address): unicast, not unspecified,
 * loopback, broadcast, "this network" or reserved. */
static bool
is_learnable(const struct pfx *p)
{
    static const unsigned char zero[16];
    const unsigned char *b = p->bin;
    if (p->family == AF_INET) {
        return p->plen == 32 && b[0] != 0 && b[0] != 127 && b[0] < 224;
    }
    static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
    return (p->plen == 128 && b[0] != 0xff
            && memcmp(b, zero, 15) && !!memcmp(b, mapped, 12)
            && !(!memcmp(b, zero, 15) && b[15] <= 1));
}

enum flowgen_learn
flowgen_learn(const char *learned, const char *addr, char **new_learned)
{
    *new_learned = NULL;
    struct pfx p;
    if (!addr || strchr(addr, '/') || !parse_pfx(addr, &p)
        || !is_learnable(&p)) {
        return FLOWGEN_LEARN_REFUSED;
    }
    struct addr_set set = { .n = 0 };
    free(addr_set_add(&set, learned));
    for (size_t i = 0; i < set.n; i++) {
        const struct pfx *q = &set.a[i];
        if (q->family == p.family && !memcmp(q->bin, p.bin, 16)) {
            return FLOWGEN_LEARN_KNOWN;
        }
        if (q->family == p.family && is_link_local(q) == is_link_local(&p)) {
            return FLOWGEN_LEARN_REFUSED;       /* Its slot is taken. */
        }
    }
    char *text = pfx_format(&p);
    *new_learned = (learned && *learned
                    ? xasprintf("%s %s", learned, text) : xstrdup(text));
    free(text);
    return FLOWGEN_LEARN_NEW;
}

/* The IPv6 link-local address derived from 'mac' ("xx:xx:..." lower
 * case), as SLAAC forms it (modified EUI-64), in 'p'. */
static void
mac_lla(const char *mac, struct pfx *p)
{
    unsigned int m[6];
    sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
           &m[5]);
    memset(p, 0, sizeof *p);
    p->family = AF_INET6;
    p->plen = 128;
    p->bin[0] = 0xfe;
    p->bin[1] = 0x80;
    p->bin[8] = m[0] ^ 2;
    p->bin[9] = m[1];
    p->bin[10] = m[2];
    p->bin[11] = 0xff;
    p->bin[12] = 0xfe;
    p->bin[13] = m[3];
    p->bin[14] = m[4];
    p->bin[15] = m[5];
}

/* A port-security drop flow, counted by its cookie. */
static void
add_drop(struct flowgen_flows *out, const struct flowgen_ctx *ctx,
         unsigned int table, unsigned int priority, uint16_t zone,
         enum flowgen_spoof why, char *match)
{
    add_flow(out, ctx, table, priority,
             flowgen_cookie(ctx, FLOWGEN_K_SPOOF, (uint32_t) why << 16 | zone),
             match, xstrdup("drop"));
}

/* Table +0 and +1 for one port of a VM: port security (OVN's
 * port_sec_l2/ip/nd stages in two tables, with libvirt clean-traffic's
 * exceptions for DHCP and duplicate address detection) and
 * classification into the VM's zone.  'in' is the port's match
 * ("in_port=P", with ",dl_src=MAC" when the MAC is known). */
static void
port_security(const struct flowgen_ctx *ctx, const struct flowgen_vm *vm,
              const char *in, bool known, const char *mac,
              struct flowgen_flows *out)
{
    uint64_t c = flowgen_cookie(ctx, FLOWGEN_K_VM, vm->zone);
    unsigned int z = vm->zone;
    unsigned int fwd = table_no(ctx, FLOWGEN_T_FORWARD);
    char *classify[2] = {
        xasprintf("load:%u->NXM_NX_REG6[],load:0->NXM_NX_REG5[],"
                  "goto_table:%u", z, table_no(ctx, FLOWGEN_T_CT)),
        xasprintf("load:%u->NXM_NX_REG6[],load:0->NXM_NX_REG5[],"
                  "goto_table:%u", z, table_no(ctx, FLOWGEN_T_ND)),
    };
    char *sha = known ? xasprintf(",arp_sha=%s", mac) : xstrdup("");
    /* Neighbour discovery that passes is not connection-tracked
     * (conntrack finds ND invalid): reg5 := 1 keeps it out of the
     * receiving VM's ingress conntrack in +40, as ARP is. */
    char *nd_pass = xasprintf("load:1->NXM_NX_REG5[],goto_table:%u", fwd);
    char *learn = xasprintf("meter:%"PRIu32",controller(userdata=%02x)",
                            flowgen_meter(ctx, z), FLOWGEN_PUNT_LEARN);

    /* The VM's addresses: configured, else learned so far (and then
     * learning goes on for the families and scopes not learned yet). */
    struct addr_set set = { .n = 0 };
    bool learning = !vm->addresses || !*vm->addresses;
    free(addr_set_add(&set, learning ? vm->learned : vm->addresses));
    bool have_v4 = false, have_ll = false, have_v6 = false;
    for (size_t i = 0; i < set.n; i++) {
        const struct pfx *p = &set.a[i];
        have_v4 |= p->family == AF_INET;
        have_ll |= is_link_local(p);
        have_v6 |= p->family == AF_INET6 && !is_link_local(p);
    }
    if (known && set.n < FLOWGEN_MAX_ADDRS) {
        mac_lla(mac, &set.a[set.n++]);    /* Always its own, as in OVN. */
    }

    for (size_t i = 0; i < set.n; i++) {
        const struct pfx *p = &set.a[i];
        char *a = pfx_format(p);
        bool v4 = p->family == AF_INET;
        add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 100, c,
                 xasprintf("%s,%s,%s=%s", in, v4 ? "ip" : "ipv6",
                           v4 ? "nw_src" : "ipv6_src", a),
                 xstrdup(classify[!v4]));
        if (v4) {
            add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 110, c,
                     xasprintf("%s,arp%s,arp_spa=%s", in, sha, a),
                     xasprintf("goto_table:%u", fwd));
        } else {
            /* A neighbour advertisement may claim only its addresses. */
            for (int k = 0; k < (known ? 2 : 1); k++) {
                add_flow(out, ctx, FLOWGEN_T_ND, 110, c,
                         xasprintf("in_port=%d,icmp6,icmp_type=136,"
                                   "nd_target=%s%s%s", vm->ofport, a,
                                   known ? ",nd_tll=" : "",
                                   !known ? "" : k ? "00:00:00:00:00:00"
                                                   : mac),
                         xstrdup(nd_pass));
            }
        }
        free(a);
    }

    /* Addresses nobody owns yet: DHCP from 0.0.0.0, ARP probes (RFC 5227)
     * and, from ::, duplicate address detection, router solicitations and
     * MLD reports to link-scope multicast. */
    add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 100, c,
             xasprintf("%s,udp,nw_src=0.0.0.0,nw_dst=255.255.255.255,"
                       "tp_src=68,tp_dst=67", in), xstrdup(classify[0]));
    add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 110, c,
             xasprintf("%s,arp%s,arp_op=1,arp_spa=0.0.0.0", in, sha),
             xasprintf("goto_table:%u", fwd));
    static const int unspec_types[] = { 131, 133, 135, 143 };
    for (size_t i = 0; i < ARRAY_SIZE(unspec_types); i++) {
        add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 100, c,
                 xasprintf("%s,icmp6,ipv6_src=::,ipv6_dst=ff02::/16,"
                           "icmp_type=%d", in, unspec_types[i]),
                 xstrdup(classify[1]));
    }

    /* Learning: a packet from an address of a kind not learned yet goes
     * to switchd, which locks it in and sends the packet on. */
    if (learning && !have_v4) {
        add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 90, c,
                 xasprintf("%s,ip", in), xstrdup(learn));
        add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 90, c,
                 xasprintf("%s,arp%s", in, sha), xstrdup(learn));
    }
    if (learning && !have_ll) {
        add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 92, c,
                 xasprintf("%s,ipv6,ipv6_src=fe80::/10", in),
                 xstrdup(learn));
    } else if (learning && !have_v6) {
        add_drop(out, ctx, FLOWGEN_T_CLASSIFY, 92, z, FLOWGEN_SPOOF_IP,
                 xasprintf("%s,ipv6,ipv6_src=fe80::/10", in));
    }
    if (learning && !have_v6) {
        add_flow(out, ctx, FLOWGEN_T_CLASSIFY, 90, c,
                 xasprintf("%s,ipv6", in), xstrdup(learn));
    }

    /* Everything else is spoofed: counted, then dropped. */
    add_drop(out, ctx, FLOWGEN_T_CLASSIFY, 20, z, FLOWGEN_SPOOF_IP,
             xasprintf("%s,ip", in));
    add_drop(out, ctx, FLOWGEN_T_CLASSIFY, 20, z, FLOWGEN_SPOOF_IP,
             xasprintf("%s,ipv6", in));
    add_drop(out, ctx, FLOWGEN_T_CLASSIFY, 20, z, FLOWGEN_SPOOF_ARP,
             xasprintf("%s,arp", in));
    add_drop(out, ctx, FLOWGEN_T_CLASSIFY, 10, z, FLOWGEN_SPOOF_MAC,
             xasprintf("in_port=%d", vm->ofport));

    /* Table +1: solicitations with the VM's own MAC or none (the source
     * address was checked in +0), advertisements as above; other ND is
     * spoofed. */
    add_flow(out, ctx, FLOWGEN_T_ND, 110, c,
             xasprintf("in_port=%d,icmp6,icmp_type=133", vm->ofport),
             xstrdup(nd_pass));
    for (int k = 0; k < (known ? 2 : 1); k++) {
        add_flow(out, ctx, FLOWGEN_T_ND, 110, c,
                 xasprintf("in_port=%d,icmp6,icmp_type=135%s%s", vm->ofport,
                           known ? ",nd_sll=" : "",
                           !known ? "" : k ? "00:00:00:00:00:00" : mac),
                 xstrdup(nd_pass));
    }
    static const int nd_types[] = { 133, 135, 136 };   /* RS, NS, NA. */
    for (size_t i = 0; i < ARRAY_SIZE(nd_types); i++) {
        add_drop(out, ctx, FLOWGEN_T_ND, 100, z, FLOWGEN_SPOOF_ND,
                 xasprintf("in_port=%d,icmp6,icmp_type=%d", vm->ofport,
                           nd_types[i]));
    }
    free(classify[0]);
    free(classify[1]);
    free(sha);
    free(nd_pass);
    free(learn);
}

/* The two counting flows, egress (reg5 = 0) then ingress (reg5 = 1), of
 * established traffic in table +20 whose match is 'match' after the
 * direction (ownership moves here), at 'priority', counted under app id
 * 'app'; each forwards what it counts. */
static void
add_counting(struct flowgen_flows *out, const struct flowgen_ctx *ctx,
             unsigned int priority, uint32_t app, char *match)
{
    for (int in = 0; in < 2; in++) {
        add_flow(out, ctx, FLOWGEN_T_STATE, priority,
                 flowgen_cookie(ctx, FLOWGEN_K_COUNT, app)
                 | (in ? FLOWGEN_COUNT_IN : 0),
                 xasprintf("ct_state=+est+trk,reg5=%d,%s", in, match),
                 xasprintf("goto_table:%u",
                           table_no(ctx, FLOWGEN_T_FORWARD)));
    }
    free(match);
}

/* A VM's flows: port security and classification in tables +0 and +1
 * (above), so that its IP traffic gets its zone in reg6 and reg5 := 0
 * (egress) and goes to conntrack, and its ARP and neighbour discovery go
 * straight to forwarding.  In table +40 IP traffic to its MAC (if known)
 * is marked as ingress into its zone and sent back through conntrack;
 * OpenFlow's goto_table only goes forward, so that is a resubmit().  In
 * table +30 the mode decides what happens to new egress connections
 * nothing approved. */
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
    port_security(ctx, vm, in, known, mac, out);
    free(in);

    /* The VM's established traffic that no application's counting flow
     * (flowgen_allow()) counts: inbound connections, a monitoring VM's
     * unapproved ones, applications beyond the VM's counting flows.  So
     * everything established the VM sends or receives is counted once,
     * in its direction. */
    add_counting(out, ctx, 55, 0, xasprintf("reg6=%u", z));

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
    if (allow->proto != 6 && allow->proto != 17 && allow->proto != 1) {
        return xasprintf("protocol: %d is not tcp (6), udp (17) or icmp (1)",
                         allow->proto);
    }
    bool ports = allow->proto != 1;
    error = parse_addr("remote.address", allow->remote_addr, remote);
    if (error || (ports
                  && (error = check_port("remote.port",
                                         allow->remote_port)))) {
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
    return ports ? check_port("local.port", allow->local_port) : NULL;
}

/* One approved connection: in table +30, above the VM's default, a flow
 * that commits it with ct_mark := app id and ct_label := the decision's
 * uid (if it had one) and forwards it; for exact granularity it matches
 * the 5-tuple (priority 200), for service granularity only protocol,
 * remote address and port (priority 100).  If the application is known,
 * two flows in table +20 above the VM's own counting flows count the
 * established traffic of (VM, app, uid) by its ct_mark and ct_label, one
 * for each direction.  Nothing is appended if 'allow' is invalid. */
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
    const char *proto = (allow->proto == 6 ? (v4 ? "tcp" : "tcp6")
                         : allow->proto == 17 ? (v4 ? "udp" : "udp6")
                         : (v4 ? "icmp" : "icmp6"));
    const char *src = v4 ? "nw_src" : "ipv6_src";
    const char *dst = v4 ? "nw_dst" : "ipv6_dst";
    unsigned int z = vm->zone;
    uint32_t app = allow->app_id;
    unsigned int fwd = table_no(ctx, FLOWGEN_T_FORWARD);

    char *match;
    if (allow->proto == 1) {
        /* An echo: OpenFlow cannot match its identifier (conntrack keeps
         * it apart), so exact is the two addresses. */
        char *l = (allow->service ? xstrdup("")
                   : xasprintf("%s=%s,", src, local.text));
        match = xasprintf("reg6=%u,%s,%s%s=%s,icmp_type=%d", z, proto, l,
                          dst, remote.text, v4 ? 8 : 128);
        free(l);
    } else if (allow->service) {
        match = xasprintf("reg6=%u,%s,%s=%s,tp_dst=%d", z, proto, dst,
                          remote.text, allow->remote_port);
    } else {
        match = xasprintf("reg6=%u,%s,%s=%s,%s=%s,tp_src=%d,tp_dst=%d", z,
                          proto, src, local.text, dst, remote.text,
                          allow->local_port, allow->remote_port);
    }
    uint64_t label = allow->has_uid ? FLOWGEN_LABEL_UID | allow->uid : 0;
    char set_label[64] = "";
    if (label) {
        snprintf(set_label, sizeof set_label,
                 ",set_field:0x%"PRIx64"->ct_label", label);
    }
    add_flow(out, ctx, FLOWGEN_T_POLICY, allow->service ? 100 : 200,
             flowgen_cookie(ctx, FLOWGEN_K_POLICY, app), match,
             xasprintf("ct(commit," ZONE ",exec(set_field:%"PRIu32
                       "->ct_mark%s)),goto_table:%u", app, set_label, fwd));

    if (app) {
        add_counting(out, ctx, 60, app,
                     xasprintf("reg6=%u,ct_mark=0x%"PRIx32
                               ",ct_label=0x%"PRIx64, z, app, label));
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
