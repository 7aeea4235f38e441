/* escape: strings made safe to show (see escape.h). */
#include "escape.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Decodes the UTF-8 sequence at 's'.  Returns its length and sets '*cp',
 * or returns 0 if it is not valid UTF-8 (overlong forms, surrogates and
 * code points above U+10FFFF are not). */
static size_t
utf8_decode(const unsigned char *s, uint32_t *cp)
{
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!n) {
        return 0;
    }
    uint32_t c = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (c < least[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }
    *cp = c;
    return n;
}

/* Whether code point 'c' (at or above U+0080) must not reach a terminal
 * as it is: C1 controls, bidirectional controls, line separators. */
static bool
is_hostile(uint32_t c)
{
    return c <= 0x9f || c == 0x061c || c == 0x200e || c == 0x200f
           || (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

char *
escape_text(const char *s_, bool keep_lines)
{
    const unsigned char *s = (const unsigned char *) s_;
    size_t len = strlen(s_);
    char *out = xmalloc(4 * len + 1), *p = out;
    while (*s) {
        uint32_t c;
        size_t n = utf8_decode(s, &c);
        if (!n) {
            p += sprintf(p, "\\x%02x", *s);
            s++;
            continue;
        }
        if (c == '\\') {
            p += sprintf(p, "\\\\");
        } else if (keep_lines && (c == '\n' || c == '\t')) {
            *p++ = (char) c;
        } else if (c == '\n' || c == '\t' || c == '\r') {
            p += sprintf(p, "\\%c", c == '\n' ? 'n' : c == '\t' ? 't' : 'r');
        } else if (c < 0x20 || c == 0x7f) {
            p += sprintf(p, "\\x%02x", (unsigned) c);
        } else if (c >= 0x80 && is_hostile(c)) {
            /* At most 8 characters for 2 or 3 bytes. */
            p += sprintf(p, "\\u{%04x}", (unsigned) c);
        } else {
            memcpy(p, s, n);
            p += n;
        }
        s += n;
    }
    *p = '\0';
    return out;
}

struct json_object *
escape_json_tree(struct json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_string: {
        char *text = escape_text(json_object_get_string(o), false);
        struct json_object *copy = json_object_new_string(text);
        free(text);
        return copy;
    }
    case json_type_array: {
        size_t n = json_object_array_length(o);
        struct json_object *copy = json_object_new_array_ext((int) n);
        for (size_t i = 0; i < n; i++) {
            json_object_array_add(copy, escape_json_tree(
                                      json_object_array_get_idx(o, i)));
        }
        return copy;
    }
    case json_type_object: {
        struct json_object *copy = json_object_new_object();
        json_object_object_foreach(o, key, val) {
            char *k = escape_text(key, false);
            json_object_object_add(copy, k, escape_json_tree(val));
            free(k);
        }
        return copy;
    }
    case json_type_null:
        return NULL;
    case json_type_boolean:
    case json_type_double:
    case json_type_int:
    default:
        return json_object_get(o);
    }
}

char *
escape_json_text(const char *json)
{
    const unsigned char *s = (const unsigned char *) json;
    char *out = xmalloc(6 * strlen(json) + 1), *p = out;
    while (*s) {
        uint32_t c;
        size_t n = utf8_decode(s, &c);
        if (!n) {
            /* Only inside a string: json-c writes its syntax in ASCII. */
            p += sprintf(p, "\\ufffd");
            s++;
        } else if (c == 0x7f || (c >= 0x80 && is_hostile(c))) {
            p += sprintf(p, "\\u%04x", (unsigned) c);
            s += n;
        } else {
            memcpy(p, s, n);
            p += n;
            s += n;
        }
    }
    *p = '\0';
    return out;
}

char *
escape_csv_cell(const char *s)
{
    size_t len = strlen(s);
    char *out = xmalloc(2 * len + 4), *p = out;
    *p++ = '"';
    if (*s && strchr("=+-@\t\r", *s)) {
        *p++ = '\'';
    }
    for (; *s; s++) {
        if (*s == '"') {
            *p++ = '"';
        }
        *p++ = *s;
    }
    *p++ = '"';
    *p = '\0';
    return out;
}
