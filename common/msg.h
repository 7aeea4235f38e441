/* msg: the message layer of the appfw wire protocol.
 *
 * Every frame (common/frame.h) holds one JSON object with a "type".  This
 * module parses a payload with json-c and validates it, field by field,
 * against the schema of its type: JSON types, integer ranges, string
 * lengths, address, prefix, MAC, UUID and hash syntax, enumerations, array
 * sizes and nesting depth.  Fields the schema does not name are ignored (so
 * peers can add fields); an unknown "type" is refused.  A rejection is a
 * malloc'd message that names the field, for example
 *     decide.remote.port: 70000 out of range 0..65535
 * docs/protocol.md documents every message; keep the two in step.
 *
 * Everything that arrives from a guest is hostile: callers validate before
 * they look at a message, and may then rely on every required field being
 * present with the documented type and range.  msg_parse() also removes
 * every member the message's type does not define, so no code ever reads
 * a member that another type defines (with whatever JSON type the sender
 * chose), and what a daemon forwards carries only checked members.
 * Read members only through the typed accessors below: each checks the
 * JSON type where it reads, and json-c aborts on a wrong one.
 *
 * Neighbours: common/frame.h below, common/chan.h beside, and every
 * component above. */
#ifndef APPFW_MSG_H
#define APPFW_MSG_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct json_object;

/* Protocol versions this build speaks (negotiated in hello). */
#define MSG_VERSION_MIN 1
#define MSG_VERSION_MAX 1

/* Deepest nesting of objects and arrays a message may have. */
#define MSG_MAX_DEPTH 8

/* Largest integer a message may carry: 2^53 - 1, exact in every JSON
 * implementation. */
#define MSG_INT_MAX INT64_C(9007199254740991)

/* Flows in one flow_install batch, at most. */
#define MSG_MAX_INSTALL_FLOWS 4096

/* Decides in one recheck, at most. */
#define MSG_MAX_RECHECK 1024

/* appfw's release, as the daemons tell their peers ("software"). */
#define APPFW_VERSION "0.1"

enum msg_type {
    MSG_HELLO,
    MSG_DECIDE,
    MSG_VERDICT,
    MSG_FLOW_OPEN,
    MSG_FLOW_CLOSE,
    MSG_STATS,
    MSG_POLICY_PUSH,
    MSG_HEARTBEAT,
    MSG_ERROR,
    MSG_FLOW_INSTALL,
    MSG_ACK,
    MSG_NAMING,
    MSG_NOTICE,
    MSG_POLL,
    MSG_VM_RELEASE,
    MSG_POLICY_CHANGE,
    MSG_RECHECK,
    MSG_N_TYPES
};

const char *msg_type_name(enum msg_type);
bool msg_type_from_name(const char *name, enum msg_type *);

/* Parses the 'len' bytes at 'data' as one JSON object and validates it.
 * On success returns NULL, stores the object, stripped of the members its
 * type does not define, in '*objp' (the caller owns it: json_object_put())
 * and its type in '*typep' (if nonnull).  On failure
 * returns a malloc'd message and stores NULL in '*objp'. */
char *msg_parse(const void *data, size_t len, struct json_object **objp,
                enum msg_type *typep);

/* Validates an already parsed object (for example one built locally, or
 * received over nng).  Returns NULL or a malloc'd message.  Does not check
 * nesting depth beyond what the schema descends into; msg_parse() does. */
char *msg_validate(const struct json_object *obj, enum msg_type *typep);

/* Returns a new object holding only "type": 'type'. */
struct json_object *msg_create(enum msg_type type);

/* Returns a new error message with the given code (one of the codes in
 * docs/protocol.md: "bad_frame", "bad_message", ...), the id of the request
 * it answers (0: none) and a printf-style text. */
struct json_object *msg_error_create(const char *code, int64_t id,
                                     const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Serializes 'obj' compactly and appends it to 'out' as one frame.
 * Returns 0, EMSGSIZE if the text exceeds FRAME_MAX_LEN, or ENOMEM. */
int msg_encode(const struct json_object *obj, struct buf *out);

/* Our hello: the versions this build speaks, 'role' ("agent", "switchd",
 * "secd") and, unless NULL, 'software'.  The caller owns the result. */
struct json_object *msg_hello_create(const char *role, const char *software);

/* A heartbeat with sequence number 'seq' (a reply echoes the peer's) and
 * the wall clock now.  The caller owns the result. */
struct json_object *msg_heartbeat_create(int64_t seq);

/* Given a validated hello from the peer, picks the highest version both
 * sides speak, with ours being 'min'..'max'.  Returns NULL and sets
 * '*version', or a malloc'd message if the ranges do not overlap. */
char *msg_hello_negotiate(const struct json_object *hello, int min, int max,
                          int *version);

/* Setters: add 'key' to 'obj' (replacing any); a NULL string is "". */
void msg_put_int(struct json_object *obj, const char *key, int64_t value);
void msg_put_string(struct json_object *obj, const char *key,
                    const char *value);
/* Adds an endpoint, {"address": 'address', "port": 'port'}, as 'key'. */
void msg_put_endpoint(struct json_object *obj, const char *key,
                      const char *address, int port);

/* Accessors for validated messages.  'path' is a dot-separated member path
 * ("remote.port").  They return the given default when a member is absent
 * or has another type. */
const char *msg_get_string(const struct json_object *, const char *path,
                           const char *dflt);
int64_t msg_get_int(const struct json_object *, const char *path,
                    int64_t dflt);
bool msg_get_bool(const struct json_object *, const char *path, bool dflt);
/* The member at 'path' if it is an array (an object), else NULL. */
struct json_object *msg_get_array(const struct json_object *,
                                  const char *path);
struct json_object *msg_get_object(const struct json_object *,
                                   const char *path);
/* The number of elements of 'array', or 0 if it is not an array (or
 * NULL). */
size_t msg_array_length(const struct json_object *array);
/* The member at 'path' whatever its type (NULL if absent): for presence
 * tests and for passing a member on whole, never for reading it. */
struct json_object *msg_get(const struct json_object *, const char *path);

#endif /* msg.h */
