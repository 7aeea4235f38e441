#include "msg.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "frame.h"
#include "schema.h"
#include "util.h"

/* The schema of each message type (docs/protocol.md). */

#define PID_MAX 4194304         /* Linux's PID_MAX_LIMIT. */
#define ID_MAX 4294967294LL     /* uid_t/gid_t without (uid_t) -1. */
#define OFPORT_MAX 65279        /* OFPP_MAX. */
#define TTL_MAX 86400

static const char *const event_values[] = {
    "connect", "listen", "accept", "send", "close", NULL
};
static const char *const proto_values[] = { "tcp", "udp", "icmp", NULL };
static const char *const rule_proto_values[] = {
    "tcp", "udp", "icmp", "any", NULL
};
static const char *const direction_values[] = {
    "outbound", "inbound", NULL
};
static const char *const verdict_values[] = { "allow", "deny", NULL };
static const char *const granularity_values[] = {
    "exact", "service", NULL
};
static const char *const role_values[] = {
    "agent", "switchd", "secd", "console", NULL
};
static const char *const trust_values[] = {
    "trusted", "known", "unknown", "untrusted", NULL
};
static const char *const threat_values[] = {
    "none", "low", "medium", "high", "critical", NULL
};
static const char *const match_values[] = {
    "exact", "pattern", "name", "unknown", NULL
};
static const char *const error_code_values[] = {
    "bad_frame", "bad_message", "version", "rate_limited", "overloaded",
    "unknown_vm", "unavailable", "timeout", "internal", "forbidden", NULL
};

static const struct schema_field endpoint_fields[] = {
    SF_KIND("address", SK_IP, true),
    SF_INT("port", true, 0, 65535),
    SF_END
};

/* The VM a message belongs to.  Only appfw-switchd writes it: whatever a
 * guest puts here is replaced before the message goes on. */
static const struct schema_field vm_fields[] = {
    SF_KIND("uuid", SK_UUID, true),
    SF_STR("name", false, 0, 256),
    SF_INT("ofport", false, 1, OFPORT_MAX),
    SF_KIND("mac", SK_MAC, false),
    /* The hypervisor that hosts it (appfw-switchd's hypervisor-name),
     * and that hypervisor's token (appfwctl hypervisor add). */
    SF_STR("hypervisor", false, 1, 64),
    SF_STR("token", false, 64, 64),
    SF_END
};

static const struct schema_field app_fields[] = {
    SF_STR("path", true, 1, 4096),
    SF_KIND("sha256", SK_SHA256, false),
    SF_STR("name", false, 0, 255),
    SF_INT("size", false, 0, MSG_INT_MAX),
    SF_BOOL("deleted", false),
    SF_BOOL("memfd", false),
    SF_END
};

static const struct schema_field process_fields[] = {
    SF_INT("pid", true, 1, PID_MAX),
    SF_INT("ppid", false, 0, PID_MAX),
    SF_STR("cmdline", false, 0, 4096),
    SF_STR("cgroup", false, 0, 4096),
    SF_STR("unit", false, 0, 256),
    SF_END
};

static const struct schema_field user_fields[] = {
    SF_INT("uid", true, 0, ID_MAX),
    SF_STR("name", false, 0, 256),
    SF_INT("gid", false, 0, ID_MAX),
    SF_STR("group", false, 0, 256),
    SF_STR("domain", false, 0, 253),
    SF_STR("login", false, 0, 256),
    SF_INT("login_uid", false, 0, ID_MAX),
    SF_END
};

static const struct schema_field appinfo_fields[] = {
    SF_STR("product", false, 0, 256),
    SF_STR("vendor", false, 0, 256),
    SF_STR("version", false, 0, 128),
    SF_STR("category", false, 0, 64),
    SF_ENUM("trust", false, trust_values),
    SF_ENUM("threat", false, threat_values),
    SF_ENUM("match", false, match_values),
    SF_INT("confidence", false, 0, 100),
    SF_END
};

static const struct schema_field hello_fields[] = {
    SF_INT("version_min", true, 1, 65535),
    SF_INT("version_max", true, 1, 65535),
    SF_ENUM("role", true, role_values),
    SF_STR("software", false, 0, 256),
    SF_ARRAY("capabilities", false, 0, 32,
            (&(const struct schema_field) SF_STR("capability", true, 1, 32))),
    SF_END
};

static const struct schema_field decide_fields[] = {
    SF_INT("id", true, 1, MSG_INT_MAX),
    SF_ENUM("event", true, event_values),
    SF_ENUM("protocol", true, proto_values),
    SF_ENUM("direction", true, direction_values),
    SF_OBJ("local", true, endpoint_fields),
    SF_OBJ("remote", false, endpoint_fields),
    SF_OBJ("app", false, app_fields),
    SF_OBJ("process", false, process_fields),
    SF_OBJ("user", false, user_fields),
    SF_OBJ("vm", false, vm_fields),
    SF_INT("cookie", false, 0, MSG_INT_MAX),
    SF_BOOL("agent", false),
    /* Set by appfw-switchd only: the switch refused the flow of this
     * decide's allow, and why. */
    SF_STR("flow_refused", false, 1, 256),
    SF_END
};

/* One approved connection (or service): in a flow_install, and in an
 * allow verdict from appfw-secd, the flow that appfw-switchd installs
 * before it passes the verdict on. */
static const struct schema_field install_flow_fields[] = {
    SF_ENUM("granularity", true, granularity_values),
    SF_ENUM("protocol", true, proto_values),
    SF_OBJ("local", true, endpoint_fields),
    SF_OBJ("remote", true, endpoint_fields),
    SF_INT("app_id", true, 0, 4294967295LL),
    SF_INT("uid", false, 0, ID_MAX),
    SF_STR("rule", false, 0, 128),
    SF_INT("ttl", false, 0, TTL_MAX),
    SF_END
};

static const struct schema_field verdict_fields[] = {
    SF_INT("id", true, 1, MSG_INT_MAX),
    SF_ENUM("verdict", true, verdict_values),
    SF_STR("rule", false, 0, 128),
    SF_STR("reason", false, 0, 512),
    SF_INT("ttl", false, 0, TTL_MAX),
    SF_ENUM("granularity", false, granularity_values),
    SF_BOOL("log", false),
    SF_BOOL("notify", false),
    SF_INT("policy_version", false, 0, MSG_INT_MAX),
    /* secd's revision of its decisions when it decided (policy_change). */
    SF_INT("revision", false, 0, MSG_INT_MAX),
    SF_OBJ("app", false, appinfo_fields),
    SF_OBJ("flow", false, install_flow_fields),
    SF_END
};

static const struct schema_field flow_open_fields[] = {
    SF_ENUM("event", false, event_values),
    SF_ENUM("protocol", true, proto_values),
    SF_ENUM("direction", true, direction_values),
    SF_OBJ("local", true, endpoint_fields),
    SF_OBJ("remote", true, endpoint_fields),
    SF_KIND("sha256", SK_SHA256, false),
    SF_INT("uid", false, 0, ID_MAX),
    SF_STR("rule", false, 0, 128),
    SF_INT("cookie", false, 0, MSG_INT_MAX),
    SF_OBJ("vm", false, vm_fields),
    SF_END
};

static const struct schema_field counters_fields[] = {
    SF_ENUM("protocol", true, proto_values),
    SF_ENUM("direction", false, direction_values),
    SF_OBJ("local", true, endpoint_fields),
    SF_OBJ("remote", true, endpoint_fields),
    SF_KIND("sha256", SK_SHA256, false),
    SF_INT("uid", false, 0, ID_MAX),
    SF_INT("cookie", false, 0, MSG_INT_MAX),
    SF_INT("bytes_in", false, 0, MSG_INT_MAX),
    SF_INT("bytes_out", false, 0, MSG_INT_MAX),
    SF_INT("packets_in", false, 0, MSG_INT_MAX),
    SF_INT("packets_out", false, 0, MSG_INT_MAX),
    SF_INT("duration_ms", false, 0, MSG_INT_MAX),
    SF_OBJ("vm", false, vm_fields),
    SF_END
};

/* Datapath counters per application and user (appfw-switchd -> secd),
 * each direction apart, since the last report; app_id 0 is the VM's
 * traffic that no application's counters count. */
static const struct schema_field app_counters_fields[] = {
    SF_INT("app_id", true, 0, 4294967295LL),
    SF_INT("uid", false, 0, ID_MAX),
    SF_INT("bytes_in", true, 0, MSG_INT_MAX),
    SF_INT("bytes_out", true, 0, MSG_INT_MAX),
    SF_INT("packets_in", true, 0, MSG_INT_MAX),
    SF_INT("packets_out", true, 0, MSG_INT_MAX),
    SF_END
};

static const struct schema_field stats_fields[] = {
    SF_INT("interval", true, 1, TTL_MAX),
    SF_ARRAY("flows", true, 0, 1024,
             (&(const struct schema_field)
                  SF_OBJ("flow", true, counters_fields))),
    SF_ARRAY("apps", false, 0, 4096,
             (&(const struct schema_field)
                  SF_OBJ("app", true, app_counters_fields))),
    SF_OBJ("vm", false, vm_fields),
    SF_END
};

static const struct schema_field push_rule_fields[] = {
    SF_STR("id", true, 1, 128),
    SF_ENUM("action", true, verdict_values),
    SF_KIND("sha256", SK_SHA256, false),
    SF_STR("name", false, 1, 255),
    SF_INT("uid", false, 0, ID_MAX),
    SF_ENUM("event", false, event_values),
    SF_ENUM("protocol", false, rule_proto_values),
    SF_ENUM("direction", false, direction_values),
    SF_KIND("remote", SK_CIDR, false),
    SF_INT("port_min", false, 0, 65535),
    SF_INT("port_max", false, 0, 65535),
    SF_END
};

static const struct schema_field policy_push_fields[] = {
    SF_INT("version", true, 0, MSG_INT_MAX),
    SF_ENUM("default", true, verdict_values),
    SF_INT("ttl", false, 0, TTL_MAX),
    SF_ARRAY("rules", true, 0, 4096,
             (&(const struct schema_field)
                  SF_OBJ("rule", true, push_rule_fields))),
    SF_END
};

static const struct schema_field heartbeat_fields[] = {
    SF_INT("seq", true, 0, MSG_INT_MAX),
    SF_INT("time_ms", false, 0, MSG_INT_MAX),
    SF_END
};

/* Either one flow's fields at the top level, or "flows" (a batch); see
 * flow_install_check(). */
static const struct schema_field flow_install_fields[] = {
    SF_INT("id", true, 1, MSG_INT_MAX),
    SF_OBJ("vm", true, vm_fields),
    SF_ENUM("granularity", false, granularity_values),
    SF_ENUM("protocol", false, proto_values),
    SF_OBJ("local", false, endpoint_fields),
    SF_OBJ("remote", false, endpoint_fields),
    SF_INT("app_id", false, 0, 4294967295LL),
    SF_INT("uid", false, 0, ID_MAX),
    SF_STR("rule", false, 0, 128),
    SF_INT("ttl", false, 0, TTL_MAX),
    SF_ARRAY("flows", false, 1, MSG_MAX_INSTALL_FLOWS,
             (&(const struct schema_field)
                  SF_OBJ("flow", true, install_flow_fields))),
    SF_END
};

static const struct schema_field ack_fields[] = {
    SF_INT("id", false, 0, MSG_INT_MAX),
    SF_BOOL("ok", true),
    SF_STR("message", false, 0, 1024),
    /* In secd's answer to a poll: its decisions' revision (see
     * policy_change). */
    SF_INT("revision", false, 0, MSG_INT_MAX),
    SF_INT("policy_version", false, 0, MSG_INT_MAX),
    /* In secd's answer to a recheck: the indexes of the decides it no
     * longer allows. */
    SF_ARRAY("revoked", false, 0, MSG_MAX_RECHECK,
             (&(const struct schema_field)
                  SF_INT("index", true, 0, MSG_MAX_RECHECK - 1))),
    SF_END
};

static const struct schema_field error_fields[] = {
    SF_ENUM("code", true, error_code_values),
    SF_STR("message", true, 0, 1024),
    SF_INT("id", false, 0, MSG_INT_MAX),
    SF_STR("field", false, 0, 256),
    SF_END
};

/* A guest's addresses and login sessions (agent -> host). */
static const struct schema_field session_fields[] = {
    SF_STR("user", true, 1, 256),
    SF_STR("tty", false, 0, 64),
    SF_STR("from", false, 0, 256),
    SF_INT("since", false, 0, MSG_INT_MAX),
    SF_INT("pid", false, 0, ID_MAX),
    SF_END
};

static const struct schema_field naming_fields[] = {
    SF_ARRAY("addresses", true, 0, 64,
             (&(const struct schema_field)
                  SF_KIND("address", SK_IP, true))),
    SF_ARRAY("sessions", true, 0, 256,
             (&(const struct schema_field)
                  SF_OBJ("session", true, session_fields))),
    SF_OBJ("vm", false, vm_fields),
    /* Set by appfw-switchd: the order it forwarded reports in. */
    SF_INT("epoch", false, 0, MSG_INT_MAX),
    SF_INT("seq", false, 0, MSG_INT_MAX),
    SF_END
};

/* Something to tell a guest's user (host -> agent). */
static const struct schema_field notice_fields[] = {
    SF_STR("user", true, 0, 256),
    SF_STR("text", true, 1, 1024),
    SF_STR("kind", false, 0, 64),
    SF_OBJ("vm", false, vm_fields),
    SF_END
};

/* A hypervisor asking appfw-secd for what it has to send it (switchd ->
 * secd): answered with one such message, or an ack if none comes soon. */
static const struct schema_field poll_fields[] = {
    SF_INT("id", true, 1, MSG_INT_MAX),
    SF_STR("hypervisor", true, 1, 64),
    SF_STR("token", false, 64, 64),
    /* How the hypervisor is doing, for appfwctl hypervisor list. */
    SF_INT("flows", false, 0, MSG_INT_MAX),
    SF_STR("software", false, 0, 64),
    SF_END
};

/* A VM leaves its hypervisor (switchd -> secd): another may host it. */
static const struct schema_field vm_release_fields[] = {
    SF_OBJ("vm", true, vm_fields),
    SF_END
};

/* What appfw-secd decides changed (secd -> switchd, as a poll's answer;
 * switchd -> agent): cached verdicts are stale. */
static const struct schema_field policy_change_fields[] = {
    SF_INT("revision", true, 0, MSG_INT_MAX),
    SF_INT("policy_version", true, 0, MSG_INT_MAX),
    SF_STR("reason", false, 0, 256),
    SF_END
};

/* The decides of approved flows, asked again after a policy_change
 * (switchd -> secd): answered with an ack naming those revoked. */
static const struct schema_field recheck_fields[] = {
    SF_INT("id", true, 1, MSG_INT_MAX),
    SF_STR("hypervisor", true, 1, 64),
    SF_STR("token", false, 64, 64),
    SF_INT("revision", true, 0, MSG_INT_MAX),
    SF_ARRAY("decides", true, 1, MSG_MAX_RECHECK,
             (&(const struct schema_field)
                  SF_OBJ("decide", true, decide_fields))),
    SF_END
};

typedef char *msg_check_func(const struct json_object *);

static char *decide_check(const struct json_object *);
static char *hello_check(const struct json_object *);
static char *policy_push_check(const struct json_object *);
static char *flow_install_check(const struct json_object *);
static char *recheck_check(const struct json_object *);

static const struct msg_schema {
    const char *name;
    const struct schema_field *fields;
    msg_check_func *check;
} schemas[MSG_N_TYPES] = {
    [MSG_HELLO] = { "hello", hello_fields, hello_check },
    [MSG_DECIDE] = { "decide", decide_fields, decide_check },
    [MSG_VERDICT] = { "verdict", verdict_fields, NULL },
    [MSG_FLOW_OPEN] = { "flow_open", flow_open_fields, NULL },
    [MSG_FLOW_CLOSE] = { "flow_close", counters_fields, NULL },
    [MSG_STATS] = { "stats", stats_fields, NULL },
    [MSG_POLICY_PUSH] = { "policy_push", policy_push_fields,
                          policy_push_check },
    [MSG_HEARTBEAT] = { "heartbeat", heartbeat_fields, NULL },
    [MSG_ERROR] = { "error", error_fields, NULL },
    [MSG_FLOW_INSTALL] = { "flow_install", flow_install_fields,
                           flow_install_check },
    [MSG_ACK] = { "ack", ack_fields, NULL },
    [MSG_NAMING] = { "naming", naming_fields, NULL },
    [MSG_NOTICE] = { "notice", notice_fields, NULL },
    [MSG_POLL] = { "poll", poll_fields, NULL },
    [MSG_VM_RELEASE] = { "vm_release", vm_release_fields, NULL },
    [MSG_POLICY_CHANGE] = { "policy_change", policy_change_fields, NULL },
    [MSG_RECHECK] = { "recheck", recheck_fields, recheck_check },
};

const char *
msg_type_name(enum msg_type type)
{
    return type < MSG_N_TYPES ? schemas[type].name : "unknown";
}

bool
msg_type_from_name(const char *name, enum msg_type *type)
{
    for (size_t i = 0; i < MSG_N_TYPES; i++) {
        if (!strcmp(name, schemas[i].name)) {
            *type = i;
            return true;
        }
    }
    return false;
}

/* Rules that span fields. */

static char *
decide_check(const struct json_object *obj)
{
    const char *event = msg_get_string(obj, "event", "");
    if (strcmp(event, "listen") && !msg_get(obj, "remote")) {
        return xstrdup("decide.remote: missing (required unless event is "
                       "listen)");
    }
    /* Only appfw-switchd asks about a VM without an agent, from a packet:
     * it knows no process or user.  An agent always knows those, and
     * leaves "app" out for an unknown application (an executable it never
     * saw, docs/agent.md). */
    static const char *const identity[] = { "process", "user" };
    for (size_t i = 0; i < ARRAY_SIZE(identity); i++) {
        if (msg_get_bool(obj, "agent", true) && !msg_get(obj, identity[i])) {
            return xasprintf("decide.%s: missing (required unless agent is "
                             "false)", identity[i]);
        }
    }
    return NULL;
}

/* Each decide of a recheck as a decide alone, and stamped with its VM
 * (appfw-switchd asks only about its own VMs' approved flows). */
static char *
recheck_check(const struct json_object *obj)
{
    const struct json_object *decides = msg_get_array(obj, "decides");
    for (size_t i = 0; i < msg_array_length(decides); i++) {
        const struct json_object *d = json_object_array_get_idx(decides, i);
        char *error = decide_check(d);
        if (!error && !msg_get(d, "vm")) {
            error = xstrdup("decide.vm: missing");
        }
        if (error) {
            char *m = xasprintf("recheck.decides[%zu]: %s", i, error);
            free(error);
            return m;
        }
    }
    return NULL;
}

static char *
flow_install_check(const struct json_object *obj)
{
    static const char *const single[] = {
        "granularity", "protocol", "local", "remote", "app_id",
    };
    bool batch = msg_get(obj, "flows") != NULL;
    for (size_t i = 0; i < ARRAY_SIZE(single); i++) {
        bool has = msg_get(obj, single[i]) != NULL;
        if (batch && has) {
            return xasprintf("flow_install.%s: not allowed with flows",
                             single[i]);
        } else if (!batch && !has) {
            return xasprintf("flow_install.%s: missing (or give flows)",
                             single[i]);
        }
    }
    return NULL;
}

static char *
hello_check(const struct json_object *obj)
{
    int64_t min = msg_get_int(obj, "version_min", 0);
    int64_t max = msg_get_int(obj, "version_max", 0);
    if (min > max) {
        return xasprintf("hello.version_max: %lld is below version_min "
                         "%lld", (long long) max, (long long) min);
    }
    return NULL;
}

static char *
policy_push_check(const struct json_object *obj)
{
    struct json_object *rules = msg_get(obj, "rules");
    size_t n = json_object_array_length(rules);
    for (size_t i = 0; i < n; i++) {
        struct json_object *r = json_object_array_get_idx(rules, i);
        int64_t min = msg_get_int(r, "port_min", 0);
        int64_t max = msg_get_int(r, "port_max", 65535);
        if (min > max) {
            return xasprintf("policy_push.rules[%zu].port_max: %lld is below "
                             "port_min %lld", i, (long long) max,
                             (long long) min);
        }
    }
    return NULL;
}

char *
msg_validate(const struct json_object *obj, enum msg_type *typep)
{
    if (!json_object_is_type(obj, json_type_object)) {
        return schema_validate(obj, NULL, "message", false);
    }

    struct json_object *tv;
    if (!json_object_object_get_ex(obj, "type", &tv)) {
        return xstrdup("message.type: missing");
    }
    if (!json_object_is_type(tv, json_type_string)) {
        static const struct schema_field type_field[] = {
            SF_STR("type", true, 1, 64), SF_END
        };
        return schema_validate(obj, type_field, "message", false);
    }

    const char *name = json_object_get_string(tv);
    enum msg_type type;
    if (strlen(name) != (size_t) json_object_get_string_len(tv)
        || !msg_type_from_name(name, &type)) {
        return xasprintf("message.type: unknown type \"%.64s\"", name);
    }

    const struct msg_schema *schema = &schemas[type];
    char *error = schema_validate(obj, schema->fields, schema->name, false);
    if (!error && schema->check) {
        error = schema->check(obj);
    }
    if (!error && typep) {
        *typep = type;
    }
    return error;
}

char *
msg_parse(const void *data, size_t len, struct json_object **objp,
          enum msg_type *typep)
{
    *objp = NULL;
    if (len == 0) {
        return xstrdup("message: empty");
    }
    if (len > FRAME_MAX_LEN) {
        return xasprintf("message: %zu bytes exceeds the maximum of %d",
                         len, FRAME_MAX_LEN);
    }

    struct json_object *obj;
    char *perr = schema_parse_json(data, len, MSG_MAX_DEPTH, "message", &obj);
    if (perr) {
        return perr;
    }

    enum msg_type type;
    char *error = msg_validate(obj, &type);
    if (error) {
        json_object_put(obj);
        return error;
    }
    schema_prune(obj, schemas[type].fields, "type");
    if (typep) {
        *typep = type;
    }
    *objp = obj;
    return NULL;
}

struct json_object *
msg_create(enum msg_type type)
{
    struct json_object *obj = json_object_new_object();
    json_object_object_add(obj, "type",
                           json_object_new_string(msg_type_name(type)));
    return obj;
}

struct json_object *
msg_error_create(const char *code, int64_t id, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char *text = xvasprintf(format, args);
    va_end(args);

    /* Keep within the schema's limit even for long texts. */
    if (strlen(text) > 1024) {
        text[1024] = '\0';
    }

    struct json_object *obj = msg_create(MSG_ERROR);
    json_object_object_add(obj, "code", json_object_new_string(code));
    json_object_object_add(obj, "message", json_object_new_string(text));
    if (id > 0) {
        json_object_object_add(obj, "id", json_object_new_int64(id));
    }
    free(text);
    return obj;
}

int
msg_encode(const struct json_object *obj, struct buf *out)
{
    size_t len;
    const char *s = json_object_to_json_string_length(
        (struct json_object *) obj,
        JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (!s) {
        return ENOMEM;
    }
    return frame_encode(out, s, len);
}

struct json_object *
msg_heartbeat_create(int64_t seq)
{
    struct json_object *hb = msg_create(MSG_HEARTBEAT);
    msg_put_int(hb, "seq", seq);
    msg_put_int(hb, "time_ms", time_wall_ms());
    return hb;
}

struct json_object *
msg_hello_create(const char *role, const char *software)
{
    struct json_object *hello = msg_create(MSG_HELLO);
    msg_put_int(hello, "version_min", MSG_VERSION_MIN);
    msg_put_int(hello, "version_max", MSG_VERSION_MAX);
    msg_put_string(hello, "role", role);
    if (software) {
        msg_put_string(hello, "software", software);
    }
    return hello;
}

char *
msg_hello_negotiate(const struct json_object *hello, int min, int max,
                    int *version)
{
    int64_t peer_min = msg_get_int(hello, "version_min", 0);
    int64_t peer_max = msg_get_int(hello, "version_max", 0);
    int64_t hi = peer_max < max ? peer_max : max;
    int64_t lo = peer_min > min ? peer_min : min;
    if (hi < lo) {
        return xasprintf("hello: peer speaks versions %lld..%lld, "
                         "we speak %d..%d", (long long) peer_min,
                         (long long) peer_max, min, max);
    }
    *version = (int) hi;
    return NULL;
}

/* Accessors. */

struct json_object *
msg_get(const struct json_object *obj, const char *path)
{
    struct json_object *cur = (struct json_object *) obj;
    const char *p = path;

    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t) (dot - p) : strlen(p);
        char key[64];
        if (n >= sizeof key || !json_object_is_type(cur, json_type_object)) {
            return NULL;
        }
        memcpy(key, p, n);
        key[n] = '\0';
        if (!json_object_object_get_ex(cur, key, &cur)) {
            return NULL;
        }
        p += n + (dot != NULL);
    }
    return cur;
}

const char *
msg_get_string(const struct json_object *obj, const char *path,
               const char *dflt)
{
    struct json_object *v = msg_get(obj, path);
    return json_object_is_type(v, json_type_string)
           ? json_object_get_string(v) : dflt;
}

int64_t
msg_get_int(const struct json_object *obj, const char *path, int64_t dflt)
{
    struct json_object *v = msg_get(obj, path);
    return json_object_is_type(v, json_type_int)
           ? json_object_get_int64(v) : dflt;
}

struct json_object *
msg_get_array(const struct json_object *obj, const char *path)
{
    struct json_object *v = msg_get(obj, path);
    return json_object_is_type(v, json_type_array) ? v : NULL;
}

struct json_object *
msg_get_object(const struct json_object *obj, const char *path)
{
    struct json_object *v = msg_get(obj, path);
    return json_object_is_type(v, json_type_object) ? v : NULL;
}

size_t
msg_array_length(const struct json_object *array)
{
    return json_object_is_type(array, json_type_array)
           ? json_object_array_length(array) : 0;
}

bool
msg_get_bool(const struct json_object *obj, const char *path, bool dflt)
{
    struct json_object *v = msg_get(obj, path);
    return json_object_is_type(v, json_type_boolean)
           ? json_object_get_boolean(v) : dflt;
}

void
msg_put_int(struct json_object *obj, const char *key, int64_t value)
{
    json_object_object_add(obj, key, json_object_new_int64(value));
}

void
msg_put_string(struct json_object *obj, const char *key, const char *value)
{
    json_object_object_add(obj, key, json_object_new_string(value ? value
                                                                  : ""));
}

void
msg_put_endpoint(struct json_object *obj, const char *key,
                 const char *address, int port)
{
    struct json_object *ep = json_object_new_object();
    msg_put_string(ep, "address", address);
    msg_put_int(ep, "port", port);
    json_object_object_add(obj, key, ep);
}
