/* rpc-mem: common/rpc.h's servers in memory, for fuzz targets that run a
 * daemon in process (see rpc-mem.c).  A target links rpc-mem.c instead of
 * common/rpc.c. */
#ifndef RPC_MEM_H
#define RPC_MEM_H 1

#include <stddef.h>
#include <stdint.h>

/* Queues a request for the server listening on 'url', as if sent by a
 * peer with uid 'peer_uid'.  Returns 0 or ECONNREFUSED (no such server). */
int rpc_mem_request(const char *url, const void *data, size_t len,
                    uint64_t peer_uid);

/* The oldest reply any server sent, NUL-terminated (the caller frees it),
 * its length in '*lenp'; NULL if none waits. */
char *rpc_mem_reply(size_t *lenp);

#endif /* rpc-mem.h */
