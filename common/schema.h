/* schema: field-by-field validation of JSON documents (json-c objects)
 * against a static description, with errors that name the field's path:
 *     decide.remote.port: 70000 out of range 0..65535
 *     added[3].sha256: must be 64 lowercase hex digits
 *
 * Used by the wire protocol (common/msg.c, which ignores unknown members so
 * peers can grow) and by documents an administrator writes, such as
 * signature feeds and policies (strict: an unknown member is an error, so a
 * typo never silently drops a rule). */
#ifndef APPFW_SCHEMA_H
#define APPFW_SCHEMA_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

enum schema_kind {
    SK_STRING,      /* min..max: length in bytes; no NUL characters. */
    SK_INT,         /* min..max: the value. */
    SK_BOOL,
    SK_ENUM,        /* 'values': NULL-terminated list. */
    SK_IP,          /* IPv4 or IPv6 address. */
    SK_CIDR,        /* Address, optionally "/prefix". */
    SK_SHA256,      /* 64 lowercase hex digits. */
    SK_UUID,        /* 8-4-4-4-12 hex digits. */
    SK_MAC,         /* xx:xx:xx:xx:xx:xx. */
    SK_PORTS,       /* A port 0..65535, or a string "LO-HI" with LO <= HI. */
    SK_OBJECT,      /* 'sub': member list. */
    SK_ARRAY,       /* min..max: element count; 'sub': the element. */
};

struct schema_field {
    const char *name;           /* NULL ends a member list. */
    enum schema_kind kind;
    bool required;
    int64_t min, max;
    const char *const *values;
    const struct schema_field *sub;
};

#define SF_STR(NAME, REQ, MIN, MAX) { NAME, SK_STRING, REQ, MIN, MAX, 0, 0 }
#define SF_INT(NAME, REQ, MIN, MAX) { NAME, SK_INT, REQ, MIN, MAX, 0, 0 }
#define SF_BOOL(NAME, REQ) { NAME, SK_BOOL, REQ, 0, 0, 0, 0 }
#define SF_ENUM(NAME, REQ, VALUES) { NAME, SK_ENUM, REQ, 0, 0, VALUES, 0 }
#define SF_KIND(NAME, KIND, REQ) { NAME, KIND, REQ, 0, 0, 0, 0 }
#define SF_OBJ(NAME, REQ, SUB) { NAME, SK_OBJECT, REQ, 0, 0, 0, SUB }
#define SF_ARRAY(NAME, REQ, MIN, MAX, ELEM) \
    { NAME, SK_ARRAY, REQ, MIN, MAX, 0, ELEM }
#define SF_END { NULL, SK_BOOL, false, 0, 0, 0, 0 }

/* Validates 'obj' as an object with members 'fields'.  'path' names it in
 * messages.  With 'strict', members that 'fields' does not name are errors
 * (at every depth).  Returns NULL or a malloc'd message. */
char *schema_validate(const struct json_object *obj,
                      const struct schema_field *fields, const char *path,
                      bool strict);

/* Removes from 'obj' every member that 'fields' does not name, at every
 * depth the schema describes (members of objects, and of the objects in
 * arrays).  After this, code that reads 'obj' sees only what the schema
 * checked: a member that only some other schema defines, with whatever
 * JSON type a peer gave it, is gone.  A top-level member named 'keep'
 * (unless NULL) stays too.  Call it on an object that schema_validate()
 * accepted with the same 'fields'. */
void schema_prune(struct json_object *obj, const struct schema_field *fields,
                  const char *keep);

/* Parses 'len' bytes as one strict JSON document: no trailing data, no
 * comments or single quotes, valid UTF-8, at most 'max_depth' levels deep.
 * Returns NULL and stores the document in '*objp' (the caller owns it), or
 * a malloc'd message that starts with 'what' ("feed: truncated JSON"). */
char *schema_parse_json(const char *text, size_t len, int max_depth,
                        const char *what, struct json_object **objp);

/* The syntax checks on their own. */
bool schema_is_ip(const char *);
bool schema_is_cidr(const char *);

/* Parses an SK_PORTS value: a JSON integer or "LO-HI".  Returns false if
 * 'v' is neither. */
bool schema_parse_ports(const struct json_object *v, int *lo, int *hi);

#endif /* schema.h */
