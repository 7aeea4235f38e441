/* admin: who is asking on appfw-secd's console, and what they may change.
 *
 * Console accounts (store.h) have a level: system-admin (everything),
 * admin (not the system defaults, the protocol catalogue, the global
 * protocols or schedules), manager (also not users, VMs or groups, and
 * only rules attached to groups it owns or their descendants), or none
 * (refused).  A local console client is known by its peer credentials:
 * root is the built-in system administrator "root", any other user needs
 * an account with that unix user.  A remote one (tcp://, tls+tcp://)
 * sends an account's token with each request; the nng of Debian 12
 * cannot name a TLS peer's certificate, so the certificate only admits
 * the connection.  The bootstrap token (secd's bootstrap-token-sha256)
 * stands for the system administrator "bootstrap".
 *
 * The administration commands (account.*, system.set, protocol.*,
 * global.*, changes.list) edit the active policy document or the
 * accounts; every change is written to the change log with its account,
 * and a policy edit becomes a new policy version by that account. */
#ifndef SECVM_ADMIN_H
#define SECVM_ADMIN_H 1

#include <stdbool.h>

struct json_object;
struct rpc_request;
struct secd;

enum admin_level { ADMIN_NONE, ADMIN_MANAGER, ADMIN_ADMIN, ADMIN_SYSTEM };

struct admin_who {
    char *name;
    enum admin_level level;
    struct json_object *groups;     /* Manager: owned "vm:X"/"user:X". */
};

/* Finds out who sent 'rq' (a parsed console request) on 'req'.  Returns
 * NULL and fills 'who', or a malloc'd reason for refusing the request. */
char *admin_authenticate(struct secd *, const struct rpc_request *req,
                         const struct json_object *rq, struct admin_who *);
void admin_who_clear(struct admin_who *);

const char *admin_level_name(enum admin_level);

/* NULL if 'who' may run console command 'cmd' at all, else a malloc'd
 * reason.  (policy.apply and policy.rollback are checked further by
 * admin_check_policy_change().) */
char *admin_may(const struct admin_who *, const char *cmd);

/* NULL if 'who' may replace the policy document 'old_text' (NULL: none
 * yet) by 'new_text', else a malloc'd reason naming what it may not
 * change. */
char *admin_check_policy_change(const struct admin_who *,
                                const char *old_text, const char *new_text);

/* Runs administration command 'cmd' for 'who'; NULL if 'cmd' is not one. */
struct json_object *admin_handle(struct secd *, const struct admin_who *,
                                 const char *cmd,
                                 const struct json_object *rq);

#endif /* admin.h */
