/* rpc-mem: common/rpc.h's servers in memory, for fuzz targets that run a
 * daemon in process.
 *
 * nng hands every request and reply between threads, which caps a target
 * at about a thousand executions a second; here a request is queued by the
 * target (rpc_mem_request()) and the daemon's reply is queued for it
 * (rpc_mem_reply()), all on one thread.  The daemon's code is unchanged:
 * it sees the rpc.h it always sees.  Clients (secd's flow requests to a
 * switchd) are not offered: rpc_client_create() fails. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/rpc.h"
#include "common/util.h"
#include "tests/fuzz/rpc-mem.h"

#define MAX_SERVERS 8

struct mem_request {
    struct rpc_request req;
    struct mem_request *next;
};

struct rpc_server {
    char *url;
    int fd;                     /* An eventfd that is always readable. */
    struct mem_request *head, **tail;
};

static struct rpc_server *servers[MAX_SERVERS];

struct mem_reply {
    char *data;
    size_t len;
    struct mem_reply *next;
};
static struct mem_reply *replies, **replies_tail = &replies;

char *
rpc_server_create(const char *url, int n_contexts, int ipc_mode,
                  struct rpc_server **sp)
{
    (void) n_contexts;
    (void) ipc_mode;
    for (size_t i = 0; i < MAX_SERVERS; i++) {
        if (!servers[i]) {
            struct rpc_server *s = xcalloc(1, sizeof *s);
            s->url = xstrdup(url);
            s->fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
            s->tail = &s->head;
            servers[i] = s;
            *sp = s;
            return NULL;
        }
    }
    return xasprintf("%s: rpc-mem has room for %d servers", url,
                     MAX_SERVERS);
}

static void
request_free(struct mem_request *r)
{
    free((char *) r->req.data);
    free(r);
}

void
rpc_server_destroy(struct rpc_server *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < MAX_SERVERS; i++) {
        if (servers[i] == s) {
            servers[i] = NULL;
        }
    }
    while (s->head) {
        struct mem_request *next = s->head->next;
        request_free(s->head);
        s->head = next;
    }
    close(s->fd);
    free(s->url);
    free(s);
}

int
rpc_server_fd(const struct rpc_server *s)
{
    return s->fd;
}

struct rpc_request *
rpc_server_next(struct rpc_server *s)
{
    struct mem_request *r = s->head;
    if (!r) {
        return NULL;
    }
    s->head = r->next;
    if (!s->head) {
        s->tail = &s->head;
    }
    r->next = NULL;
    return &r->req;
}

int
rpc_request_reply(struct rpc_server *s, struct rpc_request *req,
                  const void *data, size_t len)
{
    (void) s;
    struct mem_reply *rep = xmalloc(sizeof *rep);
    rep->data = xmalloc(len + 1);
    memcpy(rep->data, data, len);
    rep->data[len] = '\0';
    rep->len = len;
    rep->next = NULL;
    *replies_tail = rep;
    replies_tail = &rep->next;
    request_free((struct mem_request *) req->ctx_);
    return 0;
}

char *
rpc_client_create(const char *url, int timeout_ms, struct rpc_client **cp)
{
    (void) timeout_ms;
    *cp = NULL;
    return xasprintf("%s: rpc-mem offers no clients", url);
}

void
rpc_client_destroy(struct rpc_client *c)
{
    (void) c;
}

int
rpc_client_fd(const struct rpc_client *c)
{
    (void) c;
    return -1;
}

int
rpc_client_send(struct rpc_client *c, const void *data, size_t len,
                uint64_t cookie)
{
    (void) c;
    (void) data;
    (void) len;
    (void) cookie;
    return ENOTCONN;
}

struct rpc_reply *
rpc_client_next(struct rpc_client *c)
{
    (void) c;
    return NULL;
}

void
rpc_reply_free(struct rpc_reply *r)
{
    if (r) {
        free(r->data);
        free(r);
    }
}

int
rpc_mem_request(const char *url, const void *data, size_t len,
                uint64_t peer_uid)
{
    struct rpc_server *s = NULL;
    for (size_t i = 0; i < MAX_SERVERS && !s; i++) {
        if (servers[i] && !strcmp(servers[i]->url, url)) {
            s = servers[i];
        }
    }
    if (!s) {
        return ECONNREFUSED;
    }
    struct mem_request *r = xcalloc(1, sizeof *r);
    char *copy = xmalloc(len + 1);
    memcpy(copy, data, len);
    copy[len] = '\0';
    r->req = (struct rpc_request) {
        .data = copy, .len = len, .peer_uid = peer_uid,
        .received_ms = time_mono_ms(), .ctx_ = r,
    };
    *s->tail = r;
    s->tail = &r->next;
    return 0;
}

char *
rpc_mem_reply(size_t *lenp)
{
    struct mem_reply *rep = replies;
    if (!rep) {
        return NULL;
    }
    replies = rep->next;
    if (!replies) {
        replies_tail = &replies;
    }
    char *data = rep->data;
    *lenp = rep->len;
    free(rep);
    return data;
}
