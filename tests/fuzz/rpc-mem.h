/* rpc-mem: common/rpc.h's servers and clients in memory, for fuzz targets
 * that run a daemon in process (see rpc-mem.c).  A target links rpc-mem.c
 * instead of common/rpc.c, and plays the daemon's peers with these. */
#ifndef RPC_MEM_H
#define RPC_MEM_H 1

#include <stddef.h>
#include <stdint.h>

/* Queues a request for the server listening on 'url', as if sent by a
 * peer with uid 'peer_uid'.  Returns 0 or ECONNREFUSED (no such server).
 * Requests are numbered from 1 in the order queued (every server's). */
int rpc_mem_request(const char *url, const void *data, size_t len,
                    uint64_t peer_uid);

/* The number of the last request queued (0 before the first). */
uint64_t rpc_mem_n_requests(void);

/* The oldest reply any server sent, NUL-terminated (the caller frees it),
 * its length in '*lenp'; NULL if none waits. */
char *rpc_mem_reply(size_t *lenp);

/* The same, and in '*nump' (if not NULL) the number of the request it
 * answers. */
char *rpc_mem_reply_to(size_t *lenp, uint64_t *nump);

/* The oldest request the client of 'url' sent that the target has not
 * taken yet: NUL-terminated (the caller frees it), its length in '*lenp'
 * and the cookie the client gave it in '*cookiep'; NULL if none waits.
 * Each taken request needs an rpc_mem_client_reply() for the client to
 * see an answer, as nng's would time out. */
char *rpc_mem_client_take(const char *url, uint64_t *cookiep, size_t *lenp);

/* Answers the request 'cookie' of the client of 'url': 'error' 0 and the
 * reply 'data', or an errno value (ETIMEDOUT, ECONNREFUSED...).  Returns 0
 * or ENOENT (no such client). */
int rpc_mem_client_reply(const char *url, uint64_t cookie, int error,
                         const void *data, size_t len);

/* Makes the client of 'url' fail every rpc_client_send() with 'error' (a
 * peer that cannot be reached), or succeed again (0). */
void rpc_mem_client_set_error(const char *url, int error);

#endif /* rpc-mem.h */
