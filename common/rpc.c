/* appfw-secd's nng adapter.  See rpc.h. */
#include "rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/util.h"

/* A queue of completions handed from nng's threads to the main thread. */
struct cqueue {
    pthread_mutex_t mutex;
    void **items;
    size_t head, n, allocated;
    int efd;
};

static int
cqueue_init(struct cqueue *q)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mutex, NULL);
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return q->efd < 0 ? errno : 0;
}

static void
cqueue_destroy(struct cqueue *q)
{
    pthread_mutex_destroy(&q->mutex);
    if (q->efd >= 0) {
        close(q->efd);
    }
    free(q->items);
}

static void
cqueue_push(struct cqueue *q, void *item)
{
    pthread_mutex_lock(&q->mutex);
    if (q->n >= q->allocated) {
        size_t allocated = q->allocated ? 2 * q->allocated : 64;
        void **items = xmalloc(allocated * sizeof *items);
        for (size_t i = 0; i < q->n; i++) {
            items[i] = q->items[(q->head + i) % q->allocated];
        }
        free(q->items);
        q->items = items;
        q->head = 0;
        q->allocated = allocated;
    }
    q->items[(q->head + q->n) % q->allocated] = item;
    q->n++;
    pthread_mutex_unlock(&q->mutex);
    uint64_t one = 1;
    ssize_t n = write(q->efd, &one, sizeof one);
    (void) n;                   /* A full counter still wakes the reader. */
}

static void *
cqueue_pop(struct cqueue *q)
{
    uint64_t count;
    ssize_t n = read(q->efd, &count, sizeof count);
    (void) n;
    pthread_mutex_lock(&q->mutex);
    void *item = NULL;
    if (q->n) {
        item = q->items[q->head];
        q->head = (q->head + 1) % q->allocated;
        q->n--;
    }
    bool more = q->n > 0;
    pthread_mutex_unlock(&q->mutex);
    if (more) {
        /* Keep the eventfd readable while items remain. */
        uint64_t one = 1;
        n = write(q->efd, &one, sizeof one);
    }
    return item;
}

static int
nng_to_errno(int rv)
{
    switch (rv) {
    case 0: return 0;
    case NNG_ETIMEDOUT: return ETIMEDOUT;
    case NNG_ECONNREFUSED: return ECONNREFUSED;
    case NNG_ECLOSED: return EPIPE;
    case NNG_ENOMEM: return ENOMEM;
    case NNG_EADDRINUSE: return EADDRINUSE;
    case NNG_EINVAL: return EINVAL;
    case NNG_ENOTSUP: return ENOTSUP;
    default: return EIO;
    }
}

/* TLS. */

static char *tls_cert_key;
static char *tls_ca;
static char *tls_server_name;

/* Endpoints whose peers another CA vouches for (rpc_tls_endpoint_ca()). */
#define TLS_MAX_ENDPOINTS 8
static struct {
    char *url;
    char *ca;
} tls_endpoints[TLS_MAX_ENDPOINTS];
static size_t n_tls_endpoints;

/* The CA for the peers of 'url' (NULL if none). */
static const char *
tls_ca_for(const char *url)
{
    for (size_t i = 0; url && i < n_tls_endpoints; i++) {
        if (!strcmp(url, tls_endpoints[i].url)) {
            return tls_endpoints[i].ca;
        }
    }
    return tls_ca;
}

static char *
tls_config(nng_tls_mode mode, const char *server_name, const char *ca,
           nng_tls_config **cfgp)
{
    nng_tls_config *cfg;
    *cfgp = NULL;
    int rv = nng_tls_config_alloc(&cfg, mode);
    if (!rv) {
        rv = nng_tls_config_ca_file(cfg, ca);
    }
    if (rv) {
        nng_tls_config_free(cfg);
        return xasprintf("%s: cannot use as TLS CA: %s", ca,
                         nng_strerror(rv));
    }
    rv = nng_tls_config_cert_key_file(cfg, tls_cert_key, NULL);
    if (rv) {
        nng_tls_config_free(cfg);
        return xasprintf("%s: cannot use as TLS certificate and key: %s",
                         tls_cert_key, nng_strerror(rv));
    }
    rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
    if (!rv && server_name) {
        rv = nng_tls_config_server_name(cfg, server_name);
    }
    if (rv) {
        nng_tls_config_free(cfg);
        return xasprintf("TLS: %s", nng_strerror(rv));
    }
    *cfgp = cfg;
    return NULL;
}

char *
rpc_tls_configure(const char *cert_key, const char *ca,
                  const char *server_name)
{
    free(tls_cert_key);
    free(tls_ca);
    free(tls_server_name);
    tls_server_name = server_name && *server_name ? xstrdup(server_name)
                                                  : NULL;
    tls_cert_key = cert_key && *cert_key ? xstrdup(cert_key) : NULL;
    tls_ca = ca && *ca ? xstrdup(ca) : NULL;
    if (tls_ca && !tls_cert_key) {
        return xstrdup("TLS needs both a certificate (with its key) and a "
                       "CA");
    }
    if (!tls_cert_key || !tls_ca) {
        return NULL;
    }
    nng_tls_config *cfg;
    char *error = tls_config(NNG_TLS_MODE_SERVER, NULL, tls_ca, &cfg);
    nng_tls_config_free(cfg);
    return error;
}

char *
rpc_tls_endpoint_ca(const char *url, const char *ca)
{
    if (!tls_cert_key) {
        return xasprintf("%s: a CA for this endpoint needs a certificate "
                         "(with its key) too", ca);
    }
    if (n_tls_endpoints >= TLS_MAX_ENDPOINTS) {
        return xasprintf("%s: too many endpoints with their own CA", url);
    }
    nng_tls_config *cfg;
    char *error = tls_config(NNG_TLS_MODE_SERVER, NULL, ca, &cfg);
    nng_tls_config_free(cfg);
    if (!error) {
        tls_endpoints[n_tls_endpoints].url = xstrdup(url);
        tls_endpoints[n_tls_endpoints].ca = xstrdup(ca);
        n_tls_endpoints++;
    }
    return error;
}

static bool
is_tls(const char *url)
{
    return !strncmp(url, "tls+tcp", 7);
}

bool
rpc_url_is_plaintext_remote(const char *url)
{
    static const char *const plain[] = {
        "tcp", "tcp4", "tcp6", "ws", "ws4", "ws6",
    };
    const char *sep = strstr(url, "://");
    bool is_plain = false;
    for (size_t i = 0; sep && i < ARRAY_SIZE(plain); i++) {
        if (strlen(plain[i]) == (size_t) (sep - url)
            && !strncmp(url, plain[i], sep - url)) {
            is_plain = true;
        }
    }
    if (!is_plain) {
        return false;
    }
    const char *host = sep + 3;
    size_t len = *host == '[' ? strcspn(host + 1, "]") : strcspn(host, ":/");
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int) len,
             *host == '[' ? host + 1 : host);
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, name, &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) != 127;
    }
    if (inet_pton(AF_INET6, name, &a6) == 1) {
        return !IN6_IS_ADDR_LOOPBACK(&a6)
               && !(IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    }
    return strcasecmp(name, "localhost") && strcasecmp(name, "localhost.");
}

char *
rpc_urls_check_plaintext(const char *const urls[][2], size_t n,
                         bool allowed, void (*warn)(const char *))
{
    for (size_t i = 0; i < n; i++) {
        const char *option = urls[i][0], *url = urls[i][1];
        if (!rpc_url_is_plaintext_remote(url)) {
            continue;
        }
        if (!allowed) {
            return xasprintf("%s=%s: a plain tcp:// URL off this host "
                             "carries messages unauthenticated and "
                             "unencrypted; use tls+tcp://, or "
                             "allow-plaintext-tcp=1 to accept that",
                             option, url);
        }
        char *msg = xasprintf("%s=%s: plaintext off this host "
                              "(allow-plaintext-tcp): peers are not "
                              "authenticated and anyone on the path reads "
                              "and forges messages; use tls+tcp://",
                              option, url);
        warn(msg);
        free(msg);
    }
    return NULL;
}

/* Applies the TLS settings to a listener for 'url', if it is tls+tcp. */
static char *
tls_listener(nng_listener l, const char *url)
{
    if (!is_tls(url)) {
        return NULL;
    }
    const char *ca = tls_ca_for(url);
    if (!tls_cert_key || !ca) {
        return xasprintf("%s: a TLS URL needs a certificate and a CA", url);
    }
    nng_tls_config *cfg;
    char *error = tls_config(NNG_TLS_MODE_SERVER, NULL, ca, &cfg);
    if (!error) {
        int rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
        nng_tls_config_free(cfg);   /* The listener holds its own. */
        if (rv) {
            error = xasprintf("%s: %s", url, nng_strerror(rv));
        }
    }
    return error;
}

/* Dials 'url' from 'sock' (with TLS if it is tls+tcp), not waiting for
 * the peer: nng keeps retrying in the background. */
static char *
dial(nng_socket sock, const char *url, int flags)
{
    nng_dialer dialer;
    int rv = nng_dialer_create(&dialer, sock, url);
    if (rv) {
        return xasprintf("%s: cannot dial: %s", url, nng_strerror(rv));
    }
    if (is_tls(url)) {
        const char *ca = tls_ca_for(url);
        if (!tls_cert_key || !ca) {
            return xasprintf("%s: a TLS URL needs a certificate and a CA",
                             url);
        }
        /* The name to verify: the URL's host, unless one is given.  The
         * TLS library (mbedtls 2.28 in Debian 12) matches DNS names only,
         * never an IP address: a URL by address needs a name. */
        const char *host = strstr(url, "://") + 3;
        char name[256];
        snprintf(name, sizeof name, "%.*s",
                 (int) (*host == '[' ? strcspn(host, "]") + 1
                                     : strcspn(host, ":/")), host);
        struct in6_addr a6;
        struct in_addr a4;
        if (!tls_server_name
            && (*name == '[' || inet_pton(AF_INET, name, &a4) == 1
                || inet_pton(AF_INET6, name, &a6) == 1)) {
            return xasprintf("%s: TLS checks the peer's certificate by DNS "
                             "name, not by address: give the name in its "
                             "certificate (tls-server-name)", url);
        }
        nng_tls_config *cfg;
        char *error = tls_config(NNG_TLS_MODE_CLIENT,
                                 tls_server_name ? tls_server_name : name,
                                 ca, &cfg);
        if (error) {
            return error;
        }
        rv = nng_dialer_set_ptr(dialer, NNG_OPT_TLS_CONFIG, cfg);
        nng_tls_config_free(cfg);
        if (rv) {
            return xasprintf("%s: %s", url, nng_strerror(rv));
        }
    }
    rv = nng_dialer_start(dialer, flags);
    return rv ? xasprintf("%s: cannot dial: %s", url, nng_strerror(rv))
              : NULL;
}

/* Listens on 'url' from 'sock': an ipc:// socket file gets 'ipc_mode' (if
 * nonzero), a tls+tcp:// listener the TLS settings.  Returns NULL or a
 * malloc'd message. */
static char *
listen_on(nng_socket sock, const char *url, int ipc_mode)
{
    nng_listener l;
    int rv = nng_listener_create(&l, sock, url);
    if (!rv && !strncmp(url, "ipc://", 6) && ipc_mode) {
        rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, ipc_mode);
    }
    char *error = rv ? NULL : tls_listener(l, url);
    if (!rv && !error) {
        rv = nng_listener_start(l, 0);
    }
    return error ? error
           : rv ? xasprintf("%s: cannot listen: %s", url, nng_strerror(rv))
           : NULL;
}

/* Servers. */

enum ctx_state { CTX_RECV, CTX_WAIT, CTX_SEND, CTX_CLOSED };

struct server_ctx {
    struct rpc_server *server;
    nng_ctx ctx;
    nng_aio *aio;
    enum ctx_state state;
    struct rpc_request req;
    nng_msg *msg;               /* The request being answered. */
};

struct rpc_server {
    nng_socket sock;
    struct server_ctx *ctxs;
    int n_ctxs;
    struct cqueue queue;
};

static void
server_cb(void *arg)
{
    struct server_ctx *c = arg;
    int rv = nng_aio_result(c->aio);

    if (c->state == CTX_SEND) {
        if (rv) {
            nng_msg_free(nng_aio_get_msg(c->aio));
        }
    } else if (c->state == CTX_RECV && !rv) {
        nng_msg *msg = nng_aio_get_msg(c->aio);
        size_t len = nng_msg_len(msg);
        char *copy = xmalloc(len + 1);
        memcpy(copy, nng_msg_body(msg), len);
        copy[len] = '\0';
        uint64_t uid = UINT64_MAX;
        nng_pipe_get_uint64(nng_msg_get_pipe(msg), NNG_OPT_IPC_PEER_UID,
                            &uid);
        nng_msg_free(msg);
        c->req = (struct rpc_request) {
            .data = copy, .len = len, .peer_uid = uid,
            .received_ms = time_mono_ms(), .ctx_ = c,
        };
        c->state = CTX_WAIT;
        cqueue_push(&c->server->queue, &c->req);
        return;
    } else if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
        c->state = CTX_CLOSED;
        return;
    }
    c->state = CTX_RECV;
    nng_ctx_recv(c->ctx, c->aio);
}

char *
rpc_server_create(const char *url, int n_contexts, int ipc_mode,
                  struct rpc_server **sp)
{
    *sp = NULL;
    struct rpc_server *s = xcalloc(1, sizeof *s);
    if (cqueue_init(&s->queue)) {
        free(s);
        return xasprintf("%s: eventfd: %s", url, strerror(errno));
    }
    int rv = nng_rep0_open(&s->sock);
    char *error = rv ? xasprintf("%s: %s", url, nng_strerror(rv))
                     : listen_on(s->sock, url, ipc_mode);
    if (error) {
        nng_close(s->sock);
        cqueue_destroy(&s->queue);
        free(s);
        return error;
    }

    s->n_ctxs = n_contexts > 0 ? n_contexts : 1;
    s->ctxs = xcalloc(s->n_ctxs, sizeof *s->ctxs);
    for (int i = 0; i < s->n_ctxs; i++) {
        struct server_ctx *c = &s->ctxs[i];
        c->server = s;
        if (nng_ctx_open(&c->ctx, s->sock)
            || nng_aio_alloc(&c->aio, server_cb, c)) {
            abort();            /* Only ENOMEM. */
        }
        c->state = CTX_RECV;
        nng_ctx_recv(c->ctx, c->aio);
    }
    *sp = s;
    return NULL;
}

void
rpc_server_destroy(struct rpc_server *s)
{
    if (!s) {
        return;
    }
    for (int i = 0; i < s->n_ctxs; i++) {
        nng_aio_stop(s->ctxs[i].aio);
    }
    for (int i = 0; i < s->n_ctxs; i++) {
        if (s->ctxs[i].state == CTX_WAIT) {
            free((char *) s->ctxs[i].req.data);
        }
        nng_ctx_close(s->ctxs[i].ctx);
        nng_aio_free(s->ctxs[i].aio);
    }
    nng_close(s->sock);
    free(s->ctxs);
    cqueue_destroy(&s->queue);
    free(s);
}

int
rpc_server_fd(const struct rpc_server *s)
{
    return s->queue.efd;
}

struct rpc_request *
rpc_server_next(struct rpc_server *s)
{
    return cqueue_pop(&s->queue);
}

int
rpc_request_reply(struct rpc_server *s, struct rpc_request *req,
                  const void *data, size_t len)
{
    struct server_ctx *c = req->ctx_;
    (void) s;
    free((char *) req->data);
    req->data = NULL;

    nng_msg *msg;
    int rv = nng_msg_alloc(&msg, 0);
    if (!rv) {
        rv = nng_msg_append(msg, data, len);
    }
    if (rv) {
        nng_msg_free(msg);
        c->state = CTX_RECV;
        nng_ctx_recv(c->ctx, c->aio);
        return nng_to_errno(rv);
    }
    c->state = CTX_SEND;
    nng_aio_set_msg(c->aio, msg);
    nng_ctx_send(c->ctx, c->aio);
    return 0;
}

/* Client. */

struct client_op {
    struct rpc_client *client;
    nng_ctx ctx;
    nng_aio *aio;
    bool sending;
    uint64_t cookie;
    struct client_op *prev, *next;  /* In client->ops. */
};

struct rpc_client {
    nng_socket sock;
    int timeout_ms;
    struct cqueue queue;
    size_t in_flight;           /* Sent, reply not yet taken. */
    pthread_mutex_t ops_mutex;
    struct client_op *ops;      /* Not yet freed: for rpc_client_destroy(). */
};

/* Runs on an nng thread: it only queues.  The context and aio are released
 * by rpc_reply_free() on the caller's thread, since closing a context from
 * a callback deadlocks against nng_close(). */
static void
client_done(struct client_op *op, int rv, nng_msg *msg)
{
    struct rpc_reply *r = xcalloc(1, sizeof *r);
    r->op_ = op;
    r->cookie = op->cookie;
    r->error = nng_to_errno(rv);
    if (msg) {
        r->len = nng_msg_len(msg);
        r->data = xmalloc(r->len + 1);
        memcpy(r->data, nng_msg_body(msg), r->len);
        r->data[r->len] = '\0';
        nng_msg_free(msg);
    }
    cqueue_push(&op->client->queue, r);
}

static void
client_cb(void *arg)
{
    struct client_op *op = arg;
    int rv = nng_aio_result(op->aio);
    if (op->sending) {
        if (rv) {
            nng_msg_free(nng_aio_get_msg(op->aio));
            client_done(op, rv, NULL);
            return;
        }
        op->sending = false;
        nng_ctx_recv(op->ctx, op->aio);
        return;
    }
    client_done(op, rv, rv ? NULL : nng_aio_get_msg(op->aio));
}

char *
rpc_client_create(const char *url, int timeout_ms, struct rpc_client **cp)
{
    struct rpc_client *c = xcalloc(1, sizeof *c);
    c->timeout_ms = timeout_ms;
    pthread_mutex_init(&c->ops_mutex, NULL);
    if (cqueue_init(&c->queue)) {
        free(c);
        return xasprintf("%s: eventfd: %s", url, strerror(errno));
    }
    int rv = nng_req0_open(&c->sock);
    /* Non-blocking dial: the peer may come up later. */
    char *error = rv ? xasprintf("%s: %s", url, nng_strerror(rv))
                     : dial(c->sock, url, NNG_FLAG_NONBLOCK);
    if (error) {
        nng_close(c->sock);
        cqueue_destroy(&c->queue);
        free(c);
        *cp = NULL;
        return error;
    }
    *cp = c;
    return NULL;
}

void
rpc_client_destroy(struct rpc_client *c)
{
    if (c) {
        /* nng_close() waits until every context is closed, and ours are
         * closed as their replies are freed: so first cancel whatever is
         * in flight (again, in case a send completed into a receive),
         * take every reply, and only then close the socket. */
        while (c->in_flight) {
            pthread_mutex_lock(&c->ops_mutex);
            for (struct client_op *op = c->ops; op; op = op->next) {
                nng_aio_cancel(op->aio);
            }
            pthread_mutex_unlock(&c->ops_mutex);
            struct rpc_reply *r;
            while ((r = cqueue_pop(&c->queue))) {
                c->in_flight--;
                rpc_reply_free(r);
            }
            if (c->in_flight) {
                struct pollfd pfd = { .fd = c->queue.efd, .events = POLLIN };
                poll(&pfd, 1, 50);
            }
        }
        nng_close(c->sock);
        pthread_mutex_destroy(&c->ops_mutex);
        cqueue_destroy(&c->queue);
        free(c);
    }
}

int
rpc_client_fd(const struct rpc_client *c)
{
    return c->queue.efd;
}

int
rpc_client_send(struct rpc_client *c, const void *data, size_t len,
                uint64_t cookie)
{
    struct client_op *op = xcalloc(1, sizeof *op);
    op->client = c;
    op->cookie = cookie;
    op->sending = true;
    nng_msg *msg = NULL;
    int rv = nng_ctx_open(&op->ctx, c->sock);
    if (!rv) {
        rv = nng_aio_alloc(&op->aio, client_cb, op);
        if (rv) {
            nng_ctx_close(op->ctx);
        }
    }
    if (!rv) {
        rv = nng_msg_alloc(&msg, 0);
        if (!rv) {
            rv = nng_msg_append(msg, data, len);
        }
        if (rv) {
            nng_msg_free(msg);
            nng_ctx_close(op->ctx);
            nng_aio_free(op->aio);
        }
    }
    if (rv) {
        free(op);
        return nng_to_errno(rv);
    }
    nng_aio_set_timeout(op->aio, c->timeout_ms);
    nng_aio_set_msg(op->aio, msg);
    c->in_flight++;
    pthread_mutex_lock(&c->ops_mutex);
    op->next = c->ops;
    if (c->ops) {
        c->ops->prev = op;
    }
    c->ops = op;
    pthread_mutex_unlock(&c->ops_mutex);
    nng_ctx_send(op->ctx, op->aio);
    return 0;
}

struct rpc_reply *
rpc_client_next(struct rpc_client *c)
{
    struct rpc_reply *r = cqueue_pop(&c->queue);
    if (r) {
        c->in_flight--;
    }
    return r;
}

void
rpc_reply_free(struct rpc_reply *r)
{
    if (r) {
        struct client_op *op = r->op_;
        if (op) {
            struct rpc_client *c = op->client;
            pthread_mutex_lock(&c->ops_mutex);
            if (op->prev) {
                op->prev->next = op->next;
            } else {
                c->ops = op->next;
            }
            if (op->next) {
                op->next->prev = op->prev;
            }
            pthread_mutex_unlock(&c->ops_mutex);
            nng_aio_free(op->aio);      /* Waits for its callback. */
            nng_ctx_close(op->ctx);
            free(op);
        }
        free(r->data);
        free(r);
    }
}
