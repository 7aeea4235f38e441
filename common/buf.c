#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b)
{
    memset(b, 0, sizeof *b);
}

void
buf_destroy(struct buf *b)
{
    if (b) {
        free(b->data);
        buf_init(b);
    }
}

void
buf_clear(struct buf *b)
{
    b->ofs = 0;
    b->len = 0;
}

int
buf_put(struct buf *b, const void *p, size_t n)
{
    if (n == 0) {
        return 0;
    }
    if (b->cap - b->ofs - b->len < n) {
        /* Reclaim the consumed front first; grow only if still short. */
        if (b->ofs && b->len) {
            memmove(b->data, b->data + b->ofs, b->len);
        }
        b->ofs = 0;
        if (b->cap - b->len < n) {
            if (n > SIZE_MAX / 2 - b->len) {
                return ENOMEM;
            }
            size_t cap = b->cap ? b->cap : 256;
            while (cap < b->len + n) {
                cap *= 2;
            }
            uint8_t *data = realloc(b->data, cap);
            if (!data) {
                return ENOMEM;
            }
            b->data = data;
            b->cap = cap;
        }
    }
    memcpy(b->data + b->ofs + b->len, p, n);
    b->len += n;
    return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->ofs = 0;
        b->len = 0;
    } else {
        b->ofs += n;
        b->len -= n;
    }
}
