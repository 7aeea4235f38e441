/* buf: a growable byte buffer with a consumable front.
 *
 * Used by the frame encoder (common/frame.h) to build output and by framed
 * connections (common/chan.h) as their output queue.  The buffer owns its
 * storage; callers own the struct (buf_init / buf_destroy). */
#ifndef APPFW_BUF_H
#define APPFW_BUF_H 1

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;      /* Storage, 'cap' bytes, or NULL. */
    size_t ofs;         /* First unconsumed byte. */
    size_t len;         /* Bytes after 'ofs' that hold data. */
    size_t cap;
};

void buf_init(struct buf *);
void buf_destroy(struct buf *);
void buf_clear(struct buf *);

/* Appends 'n' bytes.  Returns 0 or ENOMEM (the buffer is unchanged). */
int buf_put(struct buf *, const void *, size_t n);

/* Drops 'n' (at most buf_size()) bytes from the front. */
void buf_consume(struct buf *, size_t n);

static inline const uint8_t *
buf_head(const struct buf *b)
{
    return b->data ? b->data + b->ofs : NULL;
}

static inline size_t
buf_size(const struct buf *b)
{
    return b->len;
}

#endif /* buf.h */
