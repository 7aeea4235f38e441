/* appfw-libvirt-hook: libvirt's QEMU hook for appfw.  Installed as
 * /etc/libvirt/hooks/qemu (or under qemu.d/), libvirt runs it as
 *
 *     qemu DOMAIN OPERATION SUB-OPERATION EXTRA
 *
 * with the domain's XML on standard input.  For a domain that has the
 * appfw channel (a unix channel whose target is org.appfw.agent.0), it
 * registers the VM with appfw-switchd when the domain starts (and when
 * libvirtd reconnects to a running one), and unregisters it when the
 * domain stops; the VM's flows go with it.  The domain's name is passed
 * along: secd's logs and policies see it.  Other domains are left alone.
 *
 * It never calls back into libvirt (that deadlocks libvirtd) and only
 * runs ovs-appctl against appfw-switchd's control socket.  Failures go to
 * standard error.  A failed registration aborts the domain's start
 * unless fail-open is set ("start" is one of the operations whose
 * failure libvirt honours). */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/options.h"
#include "common/util.h"

#define CHANNEL_NAME "org.appfw.agent.0"
#define METADATA_NS "urn:x-appfw:libvirt:1"   /* appfw-vmctl's metadata */
#define MAX_ADDRS 16            /* Interfaces with addresses, at most. */
#define MAX_XML (16 * 1024 * 1024)

struct settings {
    char *switchd_ctl, *appctl;
    int fail_open;
};

#define S(FIELD) offsetof(struct settings, FIELD)
static const struct option_def defs[] = {
    { "switchd-ctl", OPT_STRING, "/run/appfw/appfw-switchd.ctl", 0, 0,
      S(switchd_ctl), "appfw-switchd's control socket" },
    { "appctl", OPT_STRING, "ovs-appctl", 0, 0, S(appctl),
      "the ovs-appctl command" },
    { "fail-open", OPT_INT, "0", 0, 1, S(fail_open),
      "1: a domain starts even if appfw-switchd cannot register it" },
};

static void
usage(void)
{
    printf("Usage: appfw-libvirt-hook DOMAIN OPERATION SUB-OPERATION EXTRA"
           " < DOMAIN-XML\n"
           "libvirt's QEMU hook for appfw: registers domains that have the "
           "%s\nchannel with appfw-switchd when they start, and "
           "unregisters them when they\nstop.  Reads %s\nfirst "
           "(\"name = value\" lines; APPFW_HOOK_CONFIG overrides the "
           "path).\n\nOptions:\n", CHANNEL_NAME,
           "/etc/appfw/libvirt-hook.conf");
    options_print_help(defs, ARRAY_SIZE(defs), stdout);
}

/* What the hook needs from the domain XML. */
struct domain {
    char *uuid, *name, *channel;
    /* appfw-vmctl --address: each interface's MAC and addresses. */
    char *mac[MAX_ADDRS], *addresses[MAX_ADDRS];
    size_t n_addrs;
};

/* The <appfw:interface mac=... addresses=.../> elements appfw-vmctl put in
 * the domain's <metadata>. */
static void
parse_addresses(xmlXPathContextPtr ctx, struct domain *d)
{
    xmlXPathRegisterNs(ctx, (const xmlChar *) "appfw",
                       (const xmlChar *) METADATA_NS);
    xmlXPathObjectPtr obj = xmlXPathEvalExpression(
        (const xmlChar *) "/domain/metadata/appfw:vm/appfw:interface", ctx);
    for (int i = 0; obj && obj->nodesetval
                    && i < obj->nodesetval->nodeNr
                    && d->n_addrs < MAX_ADDRS; i++) {
        xmlNodePtr n = obj->nodesetval->nodeTab[i];
        xmlChar *mac = xmlGetProp(n, (const xmlChar *) "mac");
        xmlChar *addrs = xmlGetProp(n, (const xmlChar *) "addresses");
        if (mac && addrs) {
            d->mac[d->n_addrs] = xstrdup((const char *) mac);
            d->addresses[d->n_addrs++] = xstrdup((const char *) addrs);
        }
        xmlFree(mac);
        xmlFree(addrs);
    }
    xmlXPathFreeObject(obj);
}

static char *
xpath_string(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr obj = xmlXPathEvalExpression((const xmlChar *) expr,
                                                   ctx);
    char *result = NULL;
    if (obj && obj->type == XPATH_NODESET && obj->nodesetval
        && obj->nodesetval->nodeNr > 0) {
        xmlChar *s = xmlNodeGetContent(obj->nodesetval->nodeTab[0]);
        if (s && *s) {
            result = xstrdup((const char *) s);
        }
        xmlFree(s);
    }
    xmlXPathFreeObject(obj);
    return result;
}

/* Parses the domain XML in 'xml'.  Returns NULL or a malloc'd error. */
static char *
parse_domain(const char *xml, size_t len, struct domain *d)
{
    memset(d, 0, sizeof *d);
    xmlDocPtr doc = xmlReadMemory(xml, len, "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR
                                  | XML_PARSE_NOWARNING);
    if (!doc) {
        return xstrdup("the domain XML does not parse");
    }
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    d->uuid = xpath_string(ctx, "/domain/uuid");
    d->name = xpath_string(ctx, "/domain/name");
    d->channel = xpath_string(
        ctx, "/domain/devices/channel[@type='unix']"
        "[target/@type='virtio'][target/@name='" CHANNEL_NAME "']"
        "/source/@path");
    parse_addresses(ctx, d);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    if (!d->uuid) {
        return xstrdup("the domain XML has no /domain/uuid");
    }
    return NULL;
}

static void
domain_destroy(struct domain *d)
{
    free(d->uuid);
    free(d->name);
    free(d->channel);
    for (size_t i = 0; i < d->n_addrs; i++) {
        free(d->mac[i]);
        free(d->addresses[i]);
    }
}

/* Runs appctl on appfw-switchd's socket with 'cmd' and its arguments
 * (those after a NULL are not passed).  Returns NULL or a malloc'd
 * error. */
static char *
appctl(const struct settings *s, const char *cmd, const char *arg1,
       const char *arg2, const char *arg3)
{
    pid_t pid = fork();
    if (pid < 0) {
        return xasprintf("fork: %s", strerror(errno));
    }
    if (!pid) {
        /* Its output is for the log: standard error. */
        dup2(2, 1);
        execlp(s->appctl, s->appctl, "-t", s->switchd_ctl, cmd, arg1, arg2,
               arg2 ? arg3 : NULL, (char *) NULL);
        fprintf(stderr, "%s: %s\n", s->appctl, strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return xasprintf("waitpid: %s", strerror(errno));
        }
    }
    if (WIFEXITED(status) && !WEXITSTATUS(status)) {
        return NULL;
    }
    return xasprintf("%s -t %s %s failed (%s %d)", s->appctl,
                     s->switchd_ctl, cmd,
                     WIFEXITED(status) ? "status" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status)
                                       : WTERMSIG(status));
}

static char *
read_stdin(size_t *lenp)
{
    size_t len = 0, allocated = 65536;
    char *buf = xmalloc(allocated + 1);
    for (;;) {
        if (len == allocated) {
            if (allocated >= MAX_XML) {
                free(buf);
                return NULL;
            }
            allocated *= 2;
            buf = xrealloc(buf, allocated + 1);
        }
        ssize_t n = read(0, buf + len, allocated - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += n;
    }
    buf[len] = '\0';
    *lenp = len;
    return buf;
}

int
main(int argc, char **argv)
{
    static struct settings s;
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage();
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "appfw-libvirt-hook: expected DOMAIN OPERATION "
                "SUB-OPERATION (see --help)\n");
        return 2;
    }
    options_defaults(defs, ARRAY_SIZE(defs), &s);
    const char *conf = getenv("APPFW_HOOK_CONFIG");
    if (!conf) {
        conf = "/etc/appfw/libvirt-hook.conf";
    }
    if (!access(conf, F_OK)) {
        char *error = options_read_file(defs, ARRAY_SIZE(defs), &s, conf);
        if (error) {
            fprintf(stderr, "appfw-libvirt-hook: %s\n", error);
            free(error);
            options_free(defs, ARRAY_SIZE(defs), &s);
            return 1;
        }
    }

    const char *domain = argv[1], *op = argv[2];
    bool add = !strcmp(op, "start") || !strcmp(op, "reconnect");
    bool del = !strcmp(op, "stopped") || !strcmp(op, "release");
    int status = 0;
    if (add || del) {
        size_t len;
        char *xml = read_stdin(&len);
        struct domain d = { .uuid = NULL };
        char *error = xml ? parse_domain(xml, len, &d)
                          : xstrdup("the domain XML is too large");
        free(xml);
        if (!error && !d.channel) {
            /* Not an appfw VM. */
        } else if (!error && add) {
            if (d.channel[0] != '/') {
                error = xasprintf("channel path %s is not absolute",
                                  d.channel);
            } else {
                /* The domain's name names the VM in secd's logs and
                 * policies. */
                error = appctl(&s, "appfw/vm-register", d.uuid, d.channel,
                               d.name);
            }
            /* Port security: the addresses appfw-vmctl --address gave. */
            for (size_t i = 0; !error && i < d.n_addrs; i++) {
                error = appctl(&s, "appfw/vm-addresses", d.uuid, d.mac[i],
                               d.addresses[i]);
            }
        } else if (!error) {
            /* Once stopped, then released: the second finds nothing. */
            char *e = appctl(&s, "appfw/vm-unregister", d.uuid, NULL,
                             NULL);
            if (e && !strcmp(op, "stopped")) {
                fprintf(stderr, "appfw-libvirt-hook: domain %s: %s\n",
                        domain, e);
            }
            free(e);
        }
        if (error) {
            fprintf(stderr, "appfw-libvirt-hook: domain %s %s: %s%s\n",
                    domain, op, error,
                    add && !s.fail_open ? " (start refused: fail-open = 0)"
                                        : "");
            status = add && !s.fail_open ? 1 : 0;
            free(error);
        }
        domain_destroy(&d);
    }
    options_free(defs, ARRAY_SIZE(defs), &s);
    xmlCleanupParser();
    return status;
}
