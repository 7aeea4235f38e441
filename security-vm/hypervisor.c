/* hypervisor: the hypervisors appfw-secd serves. */
#include "security-vm/hypervisor.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/digest.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/rpc.h"
#include "common/util.h"
#include "security-vm/store.h"

LOG_MODULE(hypervisor);

/* Hypervisors known at most while none is registered: their names come
 * from whoever may send on the decision endpoint. */
#define MAX_UNREGISTERED 4096

void
hv_table_init(struct hv_table *t, struct rpc_server *server,
              int poll_hold_ms)
{
    strmap_init(&t->by_name);
    t->n_registered = 0;
    t->n_polls_held = 0;
    t->poll_hold_ms = poll_hold_ms;
    t->server = server;
    t->revision = t->policy_version = 0;
}

static void
answer(struct hv_table *t, struct hypervisor *hv, const char *text)
{
    char ack[128];
    if (!text) {
        snprintf(ack, sizeof ack, "{\"type\":\"ack\",\"ok\":true,"
                 "\"revision\":%lld,\"policy_version\":%lld}",
                 (long long) t->revision, (long long) t->policy_version);
    }
    const char *s = text ? text : ack;
    rpc_request_reply(t->server, hv->poll, s, strlen(s));
    hv->poll = NULL;
    t->n_polls_held--;
}

static void
hv_free(struct hv_table *t, struct hypervisor *hv)
{
    if (hv->poll) {
        answer(t, hv, NULL);
    }
    for (size_t i = 0; i < hv->n; i++) {
        free(hv->outbox[(hv->head + i) % HV_OUTBOX_MAX]);
    }
    free(hv->software);
    free(hv->name);
    free(hv);
}

void
hv_table_destroy(struct hv_table *t)
{
    for (size_t i = 0; (i = strmap_next(&t->by_name, i)) != SIZE_MAX; i++) {
        hv_free(t, t->by_name.nodes[i].data);
        t->by_name.nodes[i].data = NULL;
    }
    strmap_destroy(&t->by_name, NULL);
}

static struct hypervisor *
hv_get(struct hv_table *t, const char *name)
{
    struct hypervisor *hv = strmap_find(&t->by_name, name);
    if (!hv) {
        hv = xcalloc(1, sizeof *hv);
        hv->name = xstrdup(name);
        strmap_add(&t->by_name, name, hv);
    }
    return hv;
}

static void
load_one(const char *name, const char *token_sha256, int64_t created,
         const char *created_by, void *t_)
{
    struct hv_table *t = t_;
    (void) created;
    (void) created_by;
    struct hypervisor *hv = hv_get(t, name);
    if (!digest_from_hex(token_sha256, hv->token_sha256, 32)) {
        LOG_ERR("hypervisor %s: unreadable token hash in the store", name);
        return;
    }
    if (!hv->registered) {
        hv->registered = true;
        t->n_registered++;
    }
}

int
hv_table_load(struct hv_table *t, struct store *store)
{
    return store_hypervisor_list(store, load_one, t);
}

/* Whether 'name' is 1..HV_NAME_MAX of [A-Za-z0-9._-]. */
static bool
name_ok(const char *name)
{
    size_t n = strlen(name);
    return (n && n <= HV_NAME_MAX
            && strspn(name, "abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n);
}

char *
hv_add(struct hv_table *t, struct store *store, const char *name,
       const char *by, char token[HV_TOKEN_HEX + 1])
{
    if (!name_ok(name)) {
        return xasprintf("hypervisor name \"%.64s\" is not 1 to %d letters, "
                         "digits, '.', '-' or '_'", name, HV_NAME_MAX);
    }
    uint8_t raw[HV_TOKEN_HEX / 2];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t) sizeof raw) {
        return xasprintf("no random token: %s", strerror(errno));
    }
    digest_to_hex(raw, sizeof raw, token);
    uint8_t sha[32];
    digest_sha256(token, HV_TOKEN_HEX, sha);
    char sha_hex[65];
    digest_to_hex(sha, sizeof sha, sha_hex);
    if (store_hypervisor_put(store, name, sha_hex, by)) {
        return xasprintf("%s", store_last_error(store));
    }
    struct hypervisor *hv = hv_get(t, name);
    memcpy(hv->token_sha256, sha, sizeof sha);
    if (!hv->registered) {
        hv->registered = true;
        t->n_registered++;
    }
    return NULL;
}

char *
hv_remove(struct hv_table *t, struct store *store, const char *name)
{
    int error = store_hypervisor_delete(store, name);
    if (error == ENOENT) {
        return xasprintf("no hypervisor \"%.64s\"", name);
    } else if (error) {
        return xasprintf("%s", store_last_error(store));
    }
    struct hypervisor *hv = strmap_delete(&t->by_name, name);
    if (hv) {
        t->n_registered -= hv->registered;
        hv_free(t, hv);
    }
    return NULL;
}

struct hypervisor *
hv_authenticate(struct hv_table *t, const char *name, const char *token,
                const char **why)
{
    *why = NULL;
    if (name && !name_ok(name)) {
        /* What a hypervisor says goes into logs and listings. */
        *why = "not a hypervisor name (1 to 64 letters, digits, '.', '-' "
               "or '_')";
        return NULL;
    }
    if (!t->n_registered) {
        /* The single-host default: names as stamped, bounded. */
        if (!name) {
            return NULL;
        }
        if (!strmap_find(&t->by_name, name)
            && strmap_count(&t->by_name) >= MAX_UNREGISTERED) {
            *why = "too many hypervisors";
            return NULL;
        }
        return hv_get(t, name);
    }
    struct hypervisor *hv = name ? strmap_find(&t->by_name, name) : NULL;
    if (!name) {
        *why = "hypervisors are registered: a message must name its "
               "hypervisor, with its token";
    } else if (!hv || !hv->registered) {
        *why = "unknown hypervisor";
    } else if (!token || strlen(token) != HV_TOKEN_HEX) {
        *why = "no valid hypervisor token";
    } else {
        uint8_t sha[32];
        digest_sha256(token, HV_TOKEN_HEX, sha);
        unsigned char diff = 0;
        for (size_t i = 0; i < sizeof sha; i++) {
            diff |= sha[i] ^ hv->token_sha256[i];
        }
        if (!diff) {
            return hv;
        }
        *why = "wrong hypervisor token";
    }
    if (hv) {
        hv->refused++;
    }
    return NULL;
}

void
hv_send(struct hv_table *t, struct hypervisor *hv, const char *text)
{
    hv->sent++;
    if (hv->poll) {
        answer(t, hv, text);
        return;
    }
    if (hv->n == HV_OUTBOX_MAX) {
        /* The oldest goes: the hypervisor has not polled in a long time. */
        free(hv->outbox[hv->head]);
        hv->head = (hv->head + 1) % HV_OUTBOX_MAX;
        hv->n--;
        hv->dropped++;
    }
    hv->outbox[(hv->head + hv->n++) % HV_OUTBOX_MAX] = xstrdup(text);
}

size_t
hv_broadcast(struct hv_table *t, const char *text)
{
    size_t n = 0;
    for (size_t i = 0; (i = strmap_next(&t->by_name, i)) != SIZE_MAX; i++) {
        struct hypervisor *hv = t->by_name.nodes[i].data;
        if (hv->polls) {
            hv_send(t, hv, text);
            n++;
        }
    }
    return n;
}

void
hv_set_revision(struct hv_table *t, int64_t revision, int64_t policy_version)
{
    t->revision = revision;
    t->policy_version = policy_version;
}

void
hv_poll(struct hv_table *t, struct hypervisor *hv, struct rpc_request *req,
        const struct json_object *msg)
{
    hv->polls++;
    hv->flows = msg_get_int(msg, "flows", hv->flows);
    const char *software = msg_get_string(msg, "software", NULL);
    if (software && (!hv->software || strcmp(hv->software, software))) {
        free(hv->software);
        hv->software = xstrdup(software);
    }
    if (hv->poll) {
        answer(t, hv, NULL);        /* Superseded. */
    }
    hv->poll = req;
    hv->poll_ms = time_mono_ms();
    t->n_polls_held++;
    if (hv->n) {
        char *text = hv->outbox[hv->head];
        hv->head = (hv->head + 1) % HV_OUTBOX_MAX;
        hv->n--;
        answer(t, hv, text);
        free(text);
    } else if (!t->poll_hold_ms) {
        answer(t, hv, NULL);
    }
}

void
hv_run(struct hv_table *t)
{
    if (!t->n_polls_held) {
        return;
    }
    int64_t now = time_mono_ms();
    for (size_t i = 0; (i = strmap_next(&t->by_name, i)) != SIZE_MAX; i++) {
        struct hypervisor *hv = t->by_name.nodes[i].data;
        if (hv->poll && now - hv->poll_ms >= t->poll_hold_ms) {
            answer(t, hv, NULL);
        }
    }
}

int64_t
hv_next_ms(const struct hv_table *t)
{
    return t->n_polls_held ? t->poll_hold_ms / 4 + 1 : INT64_MAX;
}
