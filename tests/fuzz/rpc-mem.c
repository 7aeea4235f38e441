/* rpc-mem: common/rpc.h's servers in memory, for fuzz targets that run a
 * daemon in process.
 *
 * nng hands every request and reply between threads, which caps a target
 * at about a thousand executions a second; here a request is queued by the
 * target (rpc_mem_request()) and the daemon's reply is queued for it
 * (rpc_mem_reply()), all on one thread.  The daemon's code is unchanged:
 * it sees the rpc.h it always sees.  A client's requests (switchd's to
 * secd) wait for the target to take them (rpc_mem_client_take()) and to
 * answer each, in any order, as the peer would (rpc_mem_client_reply()). */
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
#define MAX_CLIENTS 8

struct mem_request {
    struct rpc_request req;
    uint64_t num;               /* rpc_mem_request()'s count. */
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
    uint64_t num;               /* The request's number. */
    struct mem_reply *next;
};
static struct mem_reply *replies, **replies_tail = &replies;
static uint64_t n_requests;

/* A message between a client and the target: a request it sent (not yet
 * taken, or taken and not yet answered), or the answer to one. */
struct mem_msg {
    uint64_t cookie;
    int error;
    char *data;
    size_t len;
    struct mem_msg *next;
};

struct mem_queue {
    struct mem_msg *head, **tail;
};

struct rpc_client {
    char *url;
    int fd;                     /* An eventfd that is always readable. */
    int send_error;             /* rpc_mem_client_set_error(). */
    struct mem_queue sent;      /* Not yet taken by the target. */
    struct mem_queue replies;   /* For rpc_client_next(). */
};

static struct rpc_client *clients[MAX_CLIENTS];

static void
queue_init(struct mem_queue *q)
{
    q->head = NULL;
    q->tail = &q->head;
}

static void
queue_push(struct mem_queue *q, uint64_t cookie, int error,
           const void *data, size_t len)
{
    struct mem_msg *m = xcalloc(1, sizeof *m);
    m->cookie = cookie;
    m->error = error;
    if (data) {
        m->data = xmalloc(len + 1);
        memcpy(m->data, data, len);
        m->data[len] = '\0';
        m->len = len;
    }
    *q->tail = m;
    q->tail = &m->next;
}

static struct mem_msg *
queue_pop(struct mem_queue *q)
{
    struct mem_msg *m = q->head;
    if (m) {
        q->head = m->next;
        if (!q->head) {
            q->tail = &q->head;
        }
    }
    return m;
}

static void
queue_clear(struct mem_queue *q)
{
    struct mem_msg *m;
    while ((m = queue_pop(q))) {
        free(m->data);
        free(m);
    }
}

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
    rep->num = ((struct mem_request *) req->ctx_)->num;
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
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        if (!clients[i]) {
            struct rpc_client *c = xcalloc(1, sizeof *c);
            c->url = xstrdup(url);
            c->fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
            queue_init(&c->sent);
            queue_init(&c->replies);
            clients[i] = c;
            *cp = c;
            return NULL;
        }
    }
    *cp = NULL;
    return xasprintf("%s: rpc-mem has room for %d clients", url,
                     MAX_CLIENTS);
}

void
rpc_client_destroy(struct rpc_client *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i] == c) {
            clients[i] = NULL;
        }
    }
    queue_clear(&c->sent);
    queue_clear(&c->replies);
    close(c->fd);
    free(c->url);
    free(c);
}

int
rpc_client_fd(const struct rpc_client *c)
{
    return c->fd;
}

int
rpc_client_send(struct rpc_client *c, const void *data, size_t len,
                uint64_t cookie)
{
    if (c->send_error) {
        return c->send_error;
    }
    queue_push(&c->sent, cookie, 0, data, len);
    return 0;
}

struct rpc_reply *
rpc_client_next(struct rpc_client *c)
{
    struct mem_msg *m = queue_pop(&c->replies);
    if (!m) {
        return NULL;
    }
    struct rpc_reply *r = xcalloc(1, sizeof *r);
    r->cookie = m->cookie;
    r->error = m->error;
    r->data = m->data;
    r->len = m->len;
    free(m);
    return r;
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
    r->num = ++n_requests;
    *s->tail = r;
    s->tail = &r->next;
    return 0;
}

uint64_t
rpc_mem_n_requests(void)
{
    return n_requests;
}

char *
rpc_mem_reply(size_t *lenp)
{
    return rpc_mem_reply_to(lenp, NULL);
}

char *
rpc_mem_reply_to(size_t *lenp, uint64_t *nump)
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
    if (nump) {
        *nump = rep->num;
    }
    free(rep);
    return data;
}

static struct rpc_client *
client_find(const char *url)
{
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i] && !strcmp(clients[i]->url, url)) {
            return clients[i];
        }
    }
    return NULL;
}

char *
rpc_mem_client_take(const char *url, uint64_t *cookiep, size_t *lenp)
{
    struct rpc_client *c = client_find(url);
    struct mem_msg *m = c ? queue_pop(&c->sent) : NULL;
    if (!m) {
        return NULL;
    }
    char *data = m->data;
    *cookiep = m->cookie;
    *lenp = m->len;
    free(m);
    return data;
}

int
rpc_mem_client_reply(const char *url, uint64_t cookie, int error,
                     const void *data, size_t len)
{
    struct rpc_client *c = client_find(url);
    if (!c) {
        return ENOENT;
    }
    queue_push(&c->replies, cookie, error, error ? NULL : data, len);
    return 0;
}

void
rpc_mem_client_set_error(const char *url, int error)
{
    struct rpc_client *c = client_find(url);
    if (c) {
        c->send_error = error;
    }
}
