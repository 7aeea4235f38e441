/* decide: the agent's "decide" message, written without building json-c
 * objects.  See decide.h. */
#include "guest-agent/decide.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "common/buf.h"
#include "guest-agent/identity.h"
#include "common/util.h"

char *
decide_identity_text(const struct identity *id, size_t *lenp)
{
    struct json_object *o = json_object_new_object();
    identity_to_json(id, o);
    size_t len;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    /* "{...}": keep what is between the braces. */
    len -= 2;
    char *text = xmalloc(len + 1);
    memcpy(text, s + 1, len);
    text[len] = '\0';
    json_object_put(o);
    *lenp = len;
    return text;
}

/* Appends to a buf, remembering the first error. */
struct writer {
    struct buf *out;
    int error;
};

static void
put(struct writer *w, const char *s, size_t n)
{
    if (!w->error) {
        w->error = buf_put(w->out, s, n);
    }
}

#define PUT_LITERAL(W, S) put(W, S, sizeof S - 1)

static void
put_string(struct writer *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    PUT_LITERAL(w, "\"");
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = *s;
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        put(w, run, s - run);
        char esc[6] = { '\\', (char) c };
        size_t n = 2;
        if (c < 0x20) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        put(w, esc, n);
        run = s + 1;
    }
    put(w, run, s - run);
    PUT_LITERAL(w, "\"");
}

static void
put_int(struct writer *w, int64_t v)
{
    char text[24];
    char *p = text + sizeof text;
    uint64_t u = v < 0 ? -(uint64_t) v : (uint64_t) v;
    do {
        *--p = '0' + u % 10;
        u /= 10;
    } while (u);
    if (v < 0) {
        *--p = '-';
    }
    put(w, p, text + sizeof text - p);
}

static void
put_endpoint(struct writer *w, const char *addr, uint16_t port)
{
    PUT_LITERAL(w, "{\"address\":");
    put_string(w, addr);
    PUT_LITERAL(w, ",\"port\":");
    put_int(w, port);
    PUT_LITERAL(w, "}");
}

int
decide_encode(struct buf *out, int64_t id, const struct decide_fields *f,
              const char *identity, size_t identity_len)
{
    struct writer w = { .out = out };
    PUT_LITERAL(&w, "{\"type\":\"decide\",\"id\":");
    put_int(&w, id);
    PUT_LITERAL(&w, ",\"event\":");
    put_string(&w, f->event);
    PUT_LITERAL(&w, ",\"protocol\":");
    put_string(&w, f->protocol);
    if (f->inbound) {
        PUT_LITERAL(&w, ",\"direction\":\"inbound\",\"local\":");
    } else {
        PUT_LITERAL(&w, ",\"direction\":\"outbound\",\"local\":");
    }
    put_endpoint(&w, f->local_addr, f->local_port);
    if (f->remote_addr) {
        PUT_LITERAL(&w, ",\"remote\":");
        put_endpoint(&w, f->remote_addr, f->remote_port);
    }
    if (f->cookie >= 0) {
        PUT_LITERAL(&w, ",\"cookie\":");
        put_int(&w, f->cookie);
    }
    if (identity_len) {
        PUT_LITERAL(&w, ",");
        put(&w, identity, identity_len);
    }
    PUT_LITERAL(&w, "}");
    return w.error;
}
