/* resolver: name lookups on a worker thread (see resolver.h). */
#include "resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/strmap.h"
#include "common/util.h"

struct job {
    struct job *next;
    char key[300];              /* "f NAME" or "r ADDRESS": dedup key. */
    struct resolver_answer a;
};

/* One kind of lookup: its queue and its thread. */
struct lane {
    struct resolver *r;
    bool reverse;
    size_t max;                 /* Queued or running at most. */
    size_t n;                   /* Queued or running. */
    struct job *todo, **todo_tail;
    pthread_t thread;
    bool started;
};

struct resolver {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    struct lane lanes[2];       /* Forward, reverse. */
    struct job *done, **done_tail;
    struct strmap queued;       /* Keys of queued or running jobs. */
    bool stop;
    int pipe[2];                /* Written once per finished job. */
};

const char *
resolver_addr_text(const struct policy_addr *a, char *buf)
{
    static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
    if (!memcmp(a->b, mapped, sizeof mapped)) {
        inet_ntop(AF_INET, a->b + 12, buf, INET6_ADDRSTRLEN);
    } else {
        inet_ntop(AF_INET6, a->b, buf, INET6_ADDRSTRLEN);
    }
    return buf;
}

static void
lookup_forward(struct resolver_answer *a)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(a->name, NULL, &hints, &res);
    if (rc) {
        a->error = xstrdup(rc == EAI_SYSTEM ? strerror(errno)
                                            : gai_strerror(rc));
        return;
    }
    a->addrs = xcalloc(RESOLVER_MAX_ADDRS, sizeof *a->addrs);
    for (struct addrinfo *ai = res; ai && a->n_addrs < RESOLVER_MAX_ADDRS;
         ai = ai->ai_next) {
        struct policy_addr pa = { .b = { 0 } };
        if (ai->ai_family == AF_INET) {
            const struct sockaddr_in *sin = (void *) ai->ai_addr;
            pa.b[10] = pa.b[11] = 0xff;
            memcpy(pa.b + 12, &sin->sin_addr, 4);
        } else if (ai->ai_family == AF_INET6) {
            const struct sockaddr_in6 *sin6 = (void *) ai->ai_addr;
            memcpy(pa.b, &sin6->sin6_addr, 16);
        } else {
            continue;
        }
        bool dup = false;
        for (size_t i = 0; i < a->n_addrs && !dup; i++) {
            dup = !memcmp(&a->addrs[i], &pa, sizeof pa);
        }
        if (!dup) {
            a->addrs[a->n_addrs++] = pa;
        }
    }
    freeaddrinfo(res);
    if (!a->n_addrs) {
        a->error = xstrdup("no IPv4 or IPv6 address");
    }
}

static void
lookup_reverse(struct resolver_answer *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
    if (!memcmp(a->addr.b, mapped, sizeof mapped)) {
        struct sockaddr_in *sin = (void *) &ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, a->addr.b + 12, 4);
        len = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (void *) &ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, a->addr.b, 16);
        len = sizeof *sin6;
    }
    char host[NI_MAXHOST];
    int rc = getnameinfo((struct sockaddr *) &ss, len, host, sizeof host,
                         NULL, 0, NI_NAMEREQD);
    if (rc) {
        a->name = xstrdup("");
        a->error = xstrdup(rc == EAI_SYSTEM ? strerror(errno)
                                            : gai_strerror(rc));
    } else {
        a->name = xstrdup(host);
    }
}

static void *
worker(void *lane_)
{
    struct lane *l = lane_;
    struct resolver *r = l->r;
    pthread_mutex_lock(&r->mutex);
    for (;;) {
        while (!l->todo && !r->stop) {
            pthread_cond_wait(&r->cond, &r->mutex);
        }
        if (r->stop) {
            break;
        }
        struct job *j = l->todo;
        l->todo = j->next;
        if (!l->todo) {
            l->todo_tail = &l->todo;
        }
        pthread_mutex_unlock(&r->mutex);

        if (l->reverse) {
            lookup_reverse(&j->a);
        } else {
            lookup_forward(&j->a);
        }

        pthread_mutex_lock(&r->mutex);
        j->next = NULL;
        *r->done_tail = j;
        r->done_tail = &j->next;
        ssize_t n = write(r->pipe[1], "", 1);
        (void) n;               /* Full: the reader is awake anyway. */
    }
    pthread_mutex_unlock(&r->mutex);
    return NULL;
}

static void
free_jobs(struct job *j)
{
    while (j) {
        struct job *next = j->next;
        resolver_answer_clear(&j->a);
        free(j);
        j = next;
    }
}

/* Stops the threads.  A lookup in progress is waited for up to a second:
 * the system resolver may be stuck for tens of seconds on an unanswering
 * name server, and appfw-secd must stop promptly.  Such a thread is left
 * to finish (or die with the process) on its own, with the resolver. */
static bool
stop_threads(struct resolver *r)
{
    pthread_mutex_lock(&r->mutex);
    r->stop = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mutex);
    bool all = true;
    for (int i = 0; i < 2; i++) {
        struct lane *l = &r->lanes[i];
        if (!l->started) {
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        if (pthread_timedjoin_np(l->thread, NULL, &ts)) {
            pthread_detach(l->thread);
            all = false;
        }
    }
    return all;
}

static void
free_resolver(struct resolver *r)
{
    for (int i = 0; i < 2; i++) {
        free_jobs(r->lanes[i].todo);
    }
    free_jobs(r->done);
    strmap_destroy(&r->queued, NULL);
    pthread_mutex_destroy(&r->mutex);
    pthread_cond_destroy(&r->cond);
    close(r->pipe[0]);
    close(r->pipe[1]);
    free(r);
}

char *
resolver_create(struct resolver **rp)
{
    struct resolver *r = xcalloc(1, sizeof *r);
    r->done_tail = &r->done;
    strmap_init(&r->queued);
    if (pipe2(r->pipe, O_NONBLOCK | O_CLOEXEC)) {
        char *error = xasprintf("resolver: pipe: %s", strerror(errno));
        strmap_destroy(&r->queued, NULL);
        free(r);
        return error;
    }
    pthread_mutex_init(&r->mutex, NULL);
    pthread_cond_init(&r->cond, NULL);
    for (int i = 0; i < 2; i++) {
        struct lane *l = &r->lanes[i];
        l->r = r;
        l->reverse = i == 1;
        l->max = l->reverse ? RESOLVER_MAX_REVERSE : RESOLVER_MAX_FORWARD;
        l->todo_tail = &l->todo;
        int error = pthread_create(&l->thread, NULL, worker, l);
        if (error) {
            stop_threads(r);
            free_resolver(r);
            return xasprintf("resolver: thread: %s", strerror(error));
        }
        l->started = true;
    }
    *rp = r;
    return NULL;
}

void
resolver_destroy(struct resolver *r)
{
    if (r && stop_threads(r)) {
        free_resolver(r);
    }
}

static enum resolver_queued
enqueue(struct resolver *r, struct job *j)
{
    struct lane *l = &r->lanes[j->a.reverse];
    pthread_mutex_lock(&r->mutex);
    enum resolver_queued q = (strmap_find(&r->queued, j->key)
                              ? RESOLVER_ALREADY
                              : l->n >= l->max ? RESOLVER_FULL
                              : RESOLVER_QUEUED);
    if (q == RESOLVER_QUEUED) {
        strmap_add(&r->queued, j->key, j);
        l->n++;
        *l->todo_tail = j;
        l->todo_tail = &j->next;
        pthread_cond_broadcast(&r->cond);
    }
    pthread_mutex_unlock(&r->mutex);
    if (q != RESOLVER_QUEUED) {
        resolver_answer_clear(&j->a);
        free(j);
    }
    return q;
}

enum resolver_queued
resolver_forward(struct resolver *r, const char *name)
{
    struct job *j = xcalloc(1, sizeof *j);
    snprintf(j->key, sizeof j->key, "f %s", name);
    j->a.name = xstrdup(name);
    return enqueue(r, j);
}

enum resolver_queued
resolver_reverse(struct resolver *r, const struct policy_addr *addr)
{
    struct job *j = xcalloc(1, sizeof *j);
    char text[INET6_ADDRSTRLEN];
    snprintf(j->key, sizeof j->key, "r %s", resolver_addr_text(addr, text));
    j->a.reverse = true;
    j->a.addr = *addr;
    return enqueue(r, j);
}

bool
resolver_next(struct resolver *r, struct resolver_answer *a)
{
    pthread_mutex_lock(&r->mutex);
    struct job *j = r->done;
    if (j) {
        r->done = j->next;
        if (!r->done) {
            r->done_tail = &r->done;
        }
        strmap_delete(&r->queued, j->key);
        r->lanes[j->a.reverse].n--;
    } else {
        char drain[256];
        while (read(r->pipe[0], drain, sizeof drain) > 0) {
            continue;
        }
    }
    pthread_mutex_unlock(&r->mutex);
    if (!j) {
        return false;
    }
    *a = j->a;
    free(j);
    return true;
}

void
resolver_answer_clear(struct resolver_answer *a)
{
    free(a->name);
    free(a->error);
    free(a->addrs);
    memset(a, 0, sizeof *a);
}

int
resolver_fd(const struct resolver *r)
{
    return r->pipe[0];
}
