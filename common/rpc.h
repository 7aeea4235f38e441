/* rpc: the nng adapter, the only file of appfw that talks nng (appfw-secd,
 * appfwctl and appfw-switchd all go through it).
 *
 * nng completes I/O on its own threads; the daemons run on one thread.
 * The bridge: every completion (a request received, a reply to one of our
 * requests) is queued under a mutex and signalled on an eventfd, which the
 * main loop polls (common/loop.h).  The main loop then takes completions
 * one by one and answers them, in any order: a REP server keeps many
 * contexts receiving at once, so many requests can be in flight while, for
 * example, one waits for appfw-switchd to install a flow.
 *
 * URLs: ipc:///path (local; the socket file gets the permissions given),
 * tcp://host:port, tls+tcp://host:port (Debian's nng has TLS). */
#ifndef APPFW_RPC_H
#define APPFW_RPC_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TLS for tls+tcp:// URLs: the process's identity ('cert_key': a PEM file
 * holding the certificate and its key) and the CA that vouches for peers.
 * Servers require a client certificate signed by that CA; clients verify
 * the server's certificate against it, and its name: 'server_name', or if
 * that is NULL or "" the URL's host.  (Debian's nng uses mbedtls 2.28,
 * which matches names only against a certificate's DNS names, not IP
 * addresses: dialing by IP needs 'server_name'.)  'ca' may be NULL or ""
 * if every TLS endpoint gets its own from rpc_tls_endpoint_ca(); a TLS
 * endpoint without a CA fails when it is created.  Call before creating
 * endpoints.  Returns NULL or a malloc'd message (an unreadable file, a
 * key that does not match, a CA without a certificate). */
char *rpc_tls_configure(const char *cert_key, const char *ca,
                        const char *server_name);

/* The peers of the endpoint 'url' (exactly as it will be given to
 * rpc_server_create() or rpc_client_create()) are vouched for by the
 * certificates in PEM file 'ca' instead of rpc_tls_configure()'s CA: CA
 * certificates, or the peers' own self-signed certificates (pinned).
 * nng 1.5 cannot tell which certificate a peer presented, so this is how
 * a process trusts different peers on different endpoints.  Call after
 * rpc_tls_configure().  Returns NULL or a malloc'd message. */
char *rpc_tls_endpoint_ca(const char *url, const char *ca);

/* Whether 'url' carries messages in the clear off this host: a tcp://
 * (tcp4://, tcp6://) or ws:// URL whose host is not a loopback address
 * (127.0.0.0/8, ::1, localhost).  An empty host or "*" (every address)
 * is not loopback. */
bool rpc_url_is_plaintext_remote(const char *url);

/* A daemon's start-up rule for its URL options: urls[i][0] names an
 * option, urls[i][1] is its value ("" for none).  If one is plaintext off
 * this host, returns a malloc'd message refusing it, unless 'allowed'
 * (the daemon's allow-plaintext-tcp): then 'warn' is called with a
 * warning for each, and NULL returned. */
char *rpc_urls_check_plaintext(const char *const urls[][2], size_t n,
                               bool allowed, void (*warn)(const char *));

/* The help of the daemons' allow-plaintext-tcp option. */
#define RPC_ALLOW_PLAINTEXT_HELP \
    "1: accept tcp:// URLs off this host (unauthenticated, unencrypted; " \
    "logged as a warning); 0: refuse to start with one"

/* A request received by a server. */
struct rpc_request {
    const char *data;           /* NUL-terminated copy of the payload. */
    size_t len;
    uint64_t peer_uid;          /* For ipc://: the peer's uid; else -1. */
    int64_t received_ms;        /* time_mono_ms() at arrival. */
    void *ctx_;                 /* Private. */
};

struct rpc_server;

/* Listens on 'url' with 'n_contexts' requests in flight at most.  For an
 * ipc:// URL, 'ipc_mode' (e.g. 0660) is the socket file's mode. */
char *rpc_server_create(const char *url, int n_contexts, int ipc_mode,
                        struct rpc_server **);
void rpc_server_destroy(struct rpc_server *);

/* The eventfd to poll for POLLIN; rpc_server_next() returns queued requests
 * (NULL when none) after draining it. */
int rpc_server_fd(const struct rpc_server *);
struct rpc_request *rpc_server_next(struct rpc_server *);

/* Answers 'req' with 'len' bytes and frees it; the context then receives
 * again.  Returns 0 or an errno value (the request is freed either way). */
int rpc_request_reply(struct rpc_server *, struct rpc_request *req,
                      const void *data, size_t len);

/* A client for requests to a peer (secd -> switchd flow requests). */
struct rpc_client;

struct rpc_reply {
    uint64_t cookie;            /* As given to rpc_client_send(). */
    int error;                  /* 0, ETIMEDOUT, ECONNREFUSED, ... */
    char *data;                 /* NUL-terminated, or NULL on error. */
    size_t len;
    void *op_;                  /* Private. */
};

char *rpc_client_create(const char *url, int timeout_ms,
                        struct rpc_client **);
void rpc_client_destroy(struct rpc_client *);
int rpc_client_fd(const struct rpc_client *);

/* Sends a request; its reply comes back from rpc_client_next() with
 * 'cookie'.  Returns 0 or an errno value. */
int rpc_client_send(struct rpc_client *, const void *data, size_t len,
                    uint64_t cookie);

/* Returns the next completed reply (the caller frees it with
 * rpc_reply_free()), or NULL. */
struct rpc_reply *rpc_client_next(struct rpc_client *);
void rpc_reply_free(struct rpc_reply *);

#endif /* rpc.h */
