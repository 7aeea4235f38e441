/* lpolicy: the rules the agent evaluates itself when the security VM cannot
 * be reached, and the fail-mode decision that uses them.
 *
 * The security VM sends the agent a "policy_push" (docs/protocol.md): a
 * version, a default action, a TTL and up to 4096 rules.  With fail mode
 * "cached", an event for which no verdict can be had is decided by these
 * rules: the first rule whose every present field matches the event wins,
 * and the default applies when none does.  A rule field that is absent
 * matches anything:
 *
 *   sha256     the executable's hash; never matches an unknown hash
 *   name       the executable's name, exactly; never matches an unknown one
 *   uid, event, direction
 *   protocol   tcp, udp, icmp (IPPROTO_ICMP or IPPROTO_ICMPV6), any
 *   remote     a CIDR; matches only remote addresses of its own family
 *              ("10.0.0.0/8" never matches an IPv6 address, not even an
 *              IPv4-mapped one), and no event without a remote address
 *   port_min, port_max   an inclusive range for the remote port (one
 *              alone leaves the other end open); like "remote", never
 *              matches an event without a remote address (listen), as in
 *              the security VM's own policy (docs/policy.md)
 *
 * The policy is also saved to disk (lpolicy_save(), lpolicy_load()) so the
 * agent enforces it from its first event after a restart, before the
 * security VM is reachable again.
 *
 * Pure apart from lpolicy_save()/lpolicy_load(), which only touch the file
 * they are given.  Neighbours: vcache.h (the verdict cache, flushed when
 * the policy version changes; its enum vcache_event is shared),
 * common/msg.h (the protocol schema). */
#ifndef APPFW_LPOLICY_H
#define APPFW_LPOLICY_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest-agent/vcache.h"

struct json_object;

/* The largest policy file lpolicy_load() reads. */
#define LPOLICY_FILE_MAX (1024 * 1024)

/* Builds a policy from a "policy_push" message (the "type" member, if any,
 * is not looked at; unknown members are ignored, as the protocol says).
 * Does not rely on prior validation: anything it cannot use is an error.
 * Returns the policy, or NULL and a malloc'd message in '*error' that names
 * the field, for example
 *     policy_push.rules[3].remote: "10.0.0.0/33": prefix 33 is out of
 *     range 0..32 */
struct lpolicy *lpolicy_from_json(const struct json_object *policy_push,
                                  char **error);
void lpolicy_destroy(struct lpolicy *);

uint64_t lpolicy_version(const struct lpolicy *);
bool lpolicy_default_allow(const struct lpolicy *);
unsigned int lpolicy_ttl(const struct lpolicy *);    /* 0 if not given. */
size_t lpolicy_n_rules(const struct lpolicy *);

/* An event to decide.  Fill it with memset 0 first (or a designated
 * initializer) so that fields the caller does not know are 0/NULL. */
struct lpolicy_event {
    const uint8_t *sha256;      /* 32 bytes; NULL if unknown. */
    const char *name;           /* Executable name; NULL if unknown. */
    uint32_t uid;
    enum vcache_event event;
    uint8_t protocol;           /* IPPROTO_*. */
    uint8_t direction;          /* VCACHE_OUTBOUND or VCACHE_INBOUND. */
    uint8_t family;             /* AF_INET, AF_INET6, or 0: no remote. */
    uint8_t addr[16];           /* Remote address, network order; IPv4 in
                                 * the first 4 bytes. */
    uint16_t port;              /* Remote port, host order; ignored
                                 * when 'family' is 0. */
};

/* Decides 'ev' by policy 'p'.  Returns true for allow.  Sets '*rule' (if
 * 'rule' is nonnull) to the matching rule's id, which lives as long as 'p',
 * or to NULL when the default decided. */
bool lpolicy_eval(const struct lpolicy *p, const struct lpolicy_event *ev,
                  const char **rule);

/* Persistence.
 *
 * lpolicy_save() checks 'policy_push' (a complete message, "type"
 * included, that lpolicy_load() will accept) and writes it to 'path'
 * atomically: a temporary file beside it, mode 0600, fsync, rename, fsync
 * of the directory.  Returns NULL, or a malloc'd message; on error 'path'
 * is left as it was.
 *
 * lpolicy_load() reads such a file.  The file is not trusted: it is read
 * up to LPOLICY_FILE_MAX bytes, parsed strictly and validated as a
 * policy_push message before use.  Returns the policy and, if 'json_out' is
 * nonnull, stores the message in '*json_out' (the caller owns it:
 * json_object_put()).  If the file does not exist, returns NULL with
 * '*error' NULL.  On any other failure returns NULL with a malloc'd message
 * in '*error' that starts with 'path'.  '*json_out' is NULL whenever NULL
 * is returned. */
char *lpolicy_save(const struct json_object *policy_push, const char *path);
struct lpolicy *lpolicy_load(const char *path, struct json_object **json_out,
                             char **error);

/* What the agent does with an event when no verdict can be had from the
 * security VM. */
enum fail_mode {
    FAIL_CLOSED,                /* Deny. */
    FAIL_OPEN,                  /* Allow (the caller logs it). */
    FAIL_CACHED                 /* Decide by the last policy_push; deny if
                                 * none was ever received. */
};

/* Parses "closed", "open" or "cached".  Returns NULL and sets '*mode', or a
 * malloc'd message (the caller prefixes the option's name). */
char *fail_mode_parse(const char *, enum fail_mode *mode);
const char *fail_mode_name(enum fail_mode);

/* Decides 'ev' under 'mode' with 'p' the last policy received (NULL if
 * none): closed denies, open allows, cached is lpolicy_eval(p, ...) or a
 * denial when 'p' is NULL.  Returns true for allow.  Sets '*rule' (if
 * 'rule' is nonnull) like lpolicy_eval(), and to NULL whenever no rule
 * decided (closed, open, cached without a policy). */
bool fail_mode_decide(enum fail_mode mode, const struct lpolicy *p,
                      const struct lpolicy_event *ev, const char **rule);

#endif /* lpolicy.h */
