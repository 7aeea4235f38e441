/* secd-load: drives appfw-secd over real nng sockets, for the integration
 * test and the benchmark.
 *
 *   secd-load decide URL VM-UUID COUNT CONCURRENCY PATH SHA256|- PORT
 *       sends COUNT decides (CONCURRENCY in flight) for one application;
 *       prints "allow=N deny=N error=N p50_us=.. p99_us=.. rate=..
 *       flows=N" (allows that carry a flow) and the first reply.  With
 *       $SECD_LOAD_FLOW_REFUSED, each decide says so, as appfw-switchd's
 *       does when the switch refused an allow's flow
 *   secd-load flood URL SECONDS
 *       measures a victim VM's decision latency alone, then while another
 *       VM floods with 64 requests in flight; prints both
 *   secd-load raw URL TEXT...
 *       sends each TEXT as it is, all at once, and prints each reply as it
 *       arrives
 *   secd-load hv-poll URL HYPERVISOR SECONDS
 *       polls appfw-secd as hypervisor HYPERVISOR does for SECONDS and
 *       prints each notice it gets
 *   secd-load lock-db PATH SECONDS
 *       holds an exclusive lock on an SQLite database
 *   secd-load unix-echo PATH COUNT
 *       the benchmark's baseline: COUNT request/responses of a decide-sized
 *       message over a bare UNIX socket (a thread echoes them)
 *   secd-load flow-install URL VM COUNT CONCURRENCY [BATCH]
 *       plays appfw-secd against appfw-switchd: COUNT flow_install
 *       requests (of BATCH flows each, default 1) for distinct exact TCP
 *       connections of VM, CONCURRENCY in flight; prints "ok=N failed=N
 *       p50_us=.. p99_us=.. rate=.." (requests per second)
 *   secd-load nng-echo URL COUNT
 *       the transport's floor: COUNT request/responses of the same message
 *       over nng through rpc.c, to a child process that echoes them */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/msg.h"
#include "common/util.h"
#include "common/rpc.h"
#include "tests/bench/bench.h"

static int timeout_ms = 10000;

static const char *
make_decide(char *buf, size_t size, uint64_t id, const char *vm,
            const char *path, const char *sha, int port)
{
    char shafield[100] = "";
    if (sha && strcmp(sha, "-")) {
        snprintf(shafield, sizeof shafield, ",\"sha256\":\"%s\"", sha);
    }
    const char *refused = getenv("SECD_LOAD_FLOW_REFUSED");
    char refusedfield[300] = "";
    if (refused) {
        snprintf(refusedfield, sizeof refusedfield,
                 ",\"flow_refused\":\"%.200s\"", refused);
    }
    snprintf(buf, size,
             "{\"type\":\"decide\",\"id\":%llu,\"event\":\"connect\","
             "\"protocol\":\"tcp\",\"direction\":\"outbound\","
             "\"local\":{\"address\":\"10.77.0.1\",\"port\":40000},"
             "\"remote\":{\"address\":\"10.77.0.2\",\"port\":%d},"
             "\"app\":{\"path\":\"%s\"%s},\"process\":{\"pid\":4242},"
             "\"user\":{\"uid\":1000,\"name\":\"alice\"},"
             "\"vm\":{\"uuid\":\"%s\",\"name\":\"vm-%.8s\",\"ofport\":3}%s}",
             (unsigned long long) id, port, path, shafield, vm, vm,
             refusedfield);
    return buf;
}

/* Connects a client to 'url' or exits: every command needs one. */
static struct rpc_client *
client_open(const char *url, int timeout)
{
    struct rpc_client *c;
    char *error = rpc_client_create(url, timeout, &c);
    if (error) {
        fprintf(stderr, "%s\n", error);
        exit(1);
    }
    return c;
}

struct run {
    struct bench_samples lat;
    int allow, deny, error;
    int flows;                  /* Allows that carry their flow. */
    int transport_errors;       /* Timeouts, refused connections. */
    char first[1024];
    char errors[512];
};

/* Keeps 'conc' of 'count' requests in flight on 'c': request i (1-based)
 * is what make(i, aux) returns (malloc'd; freed once sent), and each reply
 * goes to handle(reply, aux), its latency into 'lat'.  Returns the seconds
 * from the first send to the last reply. */
static double
pipeline(struct rpc_client *c, int count, int conc,
         char *(*make)(int id, void *aux),
         void (*handle)(const struct rpc_reply *, void *aux), void *aux,
         struct bench_samples *lat)
{
    int64_t *sent = xcalloc(count + 1, sizeof *sent);
    int next = 0, done = 0;
    int64_t t0 = bench_now_ns();
    while (done < count) {
        while (next < count && next - done < conc) {
            int id = next + 1;
            char *text = make(id, aux);
            sent[id] = bench_now_ns();
            if (rpc_client_send(c, text, strlen(text), id)) {
                fprintf(stderr, "send failed\n");
                exit(1);
            }
            free(text);
            next++;
        }
        struct rpc_reply *rep = rpc_client_next(c);
        if (!rep) {
            struct pollfd pfd = { .fd = rpc_client_fd(c), .events = POLLIN };
            poll(&pfd, 1, 1000);
            continue;
        }
        bench_samples_add(lat, (double) (bench_now_ns() - sent[rep->cookie]));
        handle(rep, aux);
        rpc_reply_free(rep);
        done++;
    }
    free(sent);
    return (bench_now_ns() - t0) / 1e9;
}

struct decides {
    const char *vm, *path, *sha;
    int port;
    struct run *r;
};

static char *
make_decide_text(int id, void *d_)
{
    const struct decides *d = d_;
    char buf[2048];
    return xstrdup(make_decide(buf, sizeof buf, id, d->vm, d->path, d->sha,
                               d->port));
}

static void
count_verdict(const struct rpc_reply *rep, void *d_)
{
    struct run *r = ((struct decides *) d_)->r;
    if (rep->error) {
        r->error++;
        r->transport_errors++;
        return;
    }
    if (!r->first[0]) {
        snprintf(r->first, sizeof r->first, "%s", rep->data);
    }
    struct json_object *o = json_tokener_parse(rep->data);
    const char *v = msg_get_string(o, "verdict", NULL);
    if (v && !strcmp(v, "allow")) {
        r->allow++;
        r->flows += msg_get(o, "flow") != NULL;
    } else if (v) {
        r->deny++;
    } else {
        r->error++;
        const char *code = msg_get_string(o, "code", "?");
        if (!strstr(r->errors, code)
            && strlen(r->errors) + strlen(code) + 2 < sizeof r->errors) {
            strcat(r->errors, code);
            strcat(r->errors, " ");
        }
    }
    json_object_put(o);
}

/* Sends 'count' decides with 'conc' in flight; fills 'r'. */
static double
run_decides(struct rpc_client *c, const char *vm, int count, int conc,
            const char *path, const char *sha, int port, struct run *r)
{
    struct decides d = { vm, path, sha, port, r };
    return pipeline(c, count, conc, make_decide_text, count_verdict, &d,
                    &r->lat);
}

static int
cmd_decide(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: decide URL VM COUNT CONC PATH SHA PORT\n");
        return 2;
    }
    struct rpc_client *c = client_open(argv[2], timeout_ms);
    struct run r = { .allow = 0 };
    bench_samples_init(&r.lat);
    int count = atoi(argv[4]);
    double secs = run_decides(c, argv[3], count, atoi(argv[5]), argv[6],
                              argv[7], atoi(argv[8]), &r);
    printf("allow=%d deny=%d error=%d errors=%s p50_us=%.0f p99_us=%.0f "
           "rate=%.0f flows=%d\n", r.allow, r.deny, r.error,
           r.errors[0] ? r.errors : "-",
           bench_percentile(&r.lat, 50) / 1e3,
           bench_percentile(&r.lat, 99) / 1e3, count / secs, r.flows);
    printf("first: %s\n", r.first);
    rpc_client_destroy(c);
    bench_samples_destroy(&r.lat);
    return 0;
}

struct flood_arg {
    const char *url;
    volatile bool stop;
    long sent;
};

static void *
flood_thread(void *arg_)
{
    struct flood_arg *arg = arg_;
    struct rpc_client *c = client_open(arg->url, timeout_ms);
    char buf[2048];
    make_decide(buf, sizeof buf, 1, "ffffffff-0000-4000-8000-00000000f10d",
                "/usr/bin/flooder", "-", 80);
    int inflight = 0;
    while (!arg->stop) {
        while (inflight < 64) {
            rpc_client_send(c, buf, strlen(buf), 1);
            inflight++;
            arg->sent++;
        }
        struct rpc_reply *r = rpc_client_next(c);
        if (r) {
            rpc_reply_free(r);
            inflight--;
        } else {
            struct pollfd pfd = { .fd = rpc_client_fd(c), .events = POLLIN };
            poll(&pfd, 1, 100);
        }
    }
    /* The socket is left open: closing a busy REQ socket can deadlock in
     * nng 1.5.2 (nanomsg/nng#1813), and the process exits next. */
    return NULL;
}

static int
cmd_flood(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: flood URL SECONDS\n");
        return 2;
    }
    const char *url = argv[2];
    int seconds = atoi(argv[3]);
    const char *victim = "11111111-0000-4000-8000-0000000000b1";
    struct rpc_client *c = client_open(url, timeout_ms);

    /* The victim sends one decision at a time, paced, for SECONDS. */
    struct run alone = { .allow = 0 }, flooded = { .allow = 0 };
    bench_samples_init(&alone.lat);
    bench_samples_init(&flooded.lat);
    int per_phase = seconds * 200;
    for (int i = 0; i < per_phase; i++) {
        run_decides(c, victim, 1, 1, "/usr/bin/curl", "-", 80, &alone);
        usleep(5000);
    }

    struct flood_arg arg = { .url = url };
    pthread_t t;
    pthread_create(&t, NULL, flood_thread, &arg);
    usleep(200000);
    for (int i = 0; i < per_phase; i++) {
        run_decides(c, victim, 1, 1, "/usr/bin/curl", "-", 80, &flooded);
        usleep(5000);
    }
    arg.stop = true;
    pthread_join(t, NULL);

    printf("victim alone:    n=%zu p50_us=%.0f p99_us=%.0f errors=%d\n",
           alone.lat.n, bench_percentile(&alone.lat, 50) / 1e3,
           bench_percentile(&alone.lat, 99) / 1e3, alone.error);
    printf("victim flooded:  n=%zu p50_us=%.0f p99_us=%.0f errors=%d "
           "(flooder sent %ld requests, %.0f/s)\n", flooded.lat.n,
           bench_percentile(&flooded.lat, 50) / 1e3,
           bench_percentile(&flooded.lat, 99) / 1e3, flooded.error,
           arg.sent, arg.sent / (per_phase * 0.0055));
    printf("ratio flooded/alone: p50 %.2fx p99 %.2fx\n",
           bench_percentile(&flooded.lat, 50)
           / bench_percentile(&alone.lat, 50),
           bench_percentile(&flooded.lat, 99)
           / bench_percentile(&alone.lat, 99));
    int code = flooded.error || alone.error ? 1 : 0;
    bench_samples_destroy(&alone.lat);
    bench_samples_destroy(&flooded.lat);
    rpc_client_destroy(c);
    return code;
}

static char *
make_raw(int id, void *texts)
{
    return xstrdup(((char **) texts)[id - 1]);
}

static void
print_reply(const struct rpc_reply *r, void *aux)
{
    (void) aux;
    printf("%s\n", r->error ? strerror(r->error) : r->data);
}

static int
cmd_raw(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: raw URL TEXT...\n");
        return 2;
    }
    struct rpc_client *c = client_open(argv[2], 5000);
    struct bench_samples lat;
    bench_samples_init(&lat);
    pipeline(c, argc - 3, argc - 3, make_raw, print_reply, &argv[3], &lat);
    bench_samples_destroy(&lat);
    rpc_client_destroy(c);
    return 0;
}

/* Plays a hypervisor's poll loop (as appfw-switchd's send_poll()) for
 * SECONDS, printing each notice that comes back. */
static int
cmd_hv_poll(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: hv-poll URL HYPERVISOR SECONDS\n");
        return 2;
    }
    struct rpc_client *c = client_open(argv[2], timeout_ms);
    int64_t end = time_mono_ms() + atoi(argv[4]) * 1000;
    uint64_t id = 0;
    long polls = 0, notices = 0;
    while (time_mono_ms() < end) {
        char text[256];
        snprintf(text, sizeof text, "{\"type\":\"poll\",\"id\":%llu,"
                 "\"hypervisor\":\"%s\"}", (unsigned long long) ++id,
                 argv[3]);
        if (rpc_client_send(c, text, strlen(text), id)) {
            fprintf(stderr, "hv-poll: send failed\n");
            return 1;
        }
        polls++;
        struct rpc_reply *rep;
        while (!(rep = rpc_client_next(c))) {
            struct pollfd pfd = { .fd = rpc_client_fd(c), .events = POLLIN };
            poll(&pfd, 1, 100);
        }
        struct json_object *msg = NULL;
        enum msg_type type;
        char *perr = rep->error ? NULL
                     : msg_parse(rep->data, rep->len, &msg, &type);
        if (rep->error || perr) {
            fprintf(stderr, "hv-poll: %s\n",
                    perr ? perr : strerror(rep->error));
            return 1;
        }
        if (type == MSG_NOTICE) {
            printf("notice vm=%s user=%s text=%s\n",
                   msg_get_string(msg, "vm.uuid", ""),
                   msg_get_string(msg, "user", ""),
                   msg_get_string(msg, "text", ""));
            fflush(stdout);
            notices++;
        } else if (type != MSG_ACK) {
            fprintf(stderr, "hv-poll: unexpected %s\n", msg_type_name(type));
            return 1;
        }
        json_object_put(msg);
        rpc_reply_free(rep);
    }
    printf("hv-poll: %ld polls, %ld notices\n", polls, notices);
    rpc_client_destroy(c);
    return 0;
}

static void *
echo_thread(void *arg)
{
    int fd = *(int *) arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0 || write(fd, buf, n) != n) {
            break;
        }
    }
    return NULL;
}

/* Holds an exclusive lock on the SQLite database PATH for SECONDS, as
 * another process (a backup, an administrator's sqlite3 shell) might. */
static int
cmd_lock_db(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: lock-db PATH SECONDS\n");
        return 2;
    }
    sqlite3 *db;
    if (sqlite3_open(argv[2], &db) != SQLITE_OK
        || sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL)
           != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", argv[2], sqlite3_errmsg(db));
        return 1;
    }
    printf("locked\n");
    fflush(stdout);
    sleep(atoi(argv[3]));
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return 0;
}

static int
cmd_unix_echo(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: unix-echo PATH COUNT\n");
        return 2;
    }
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", argv[2]);
    unlink(argv[2]);
    if (bind(lfd, (struct sockaddr *) &sun, sizeof sun) || listen(lfd, 1)) {
        perror(argv[2]);
        return 1;
    }
    int cfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(cfd, (struct sockaddr *) &sun, sizeof sun)) {
        perror("connect");
        return 1;
    }
    int sfd = accept(lfd, NULL, NULL);
    pthread_t t;
    pthread_create(&t, NULL, echo_thread, &sfd);

    char msg[2048];
    make_decide(msg, sizeof msg, 1, "11111111-0000-4000-8000-0000000000b1",
                "/usr/bin/curl", "-", 80);
    size_t len = strlen(msg);
    struct bench_samples s;
    bench_samples_init(&s);
    int count = atoi(argv[3]);
    char buf[4096];
    for (int i = 0; i < count; i++) {
        int64_t t0 = bench_now_ns();
        if (write(cfd, msg, len) != (ssize_t) len) {
            return 1;
        }
        size_t got = 0;
        while (got < len) {
            ssize_t n = read(cfd, buf, sizeof buf);
            if (n <= 0) {
                return 1;
            }
            got += n;
        }
        bench_samples_add(&s, (double) (bench_now_ns() - t0));
    }
    printf("unix p50_us=%.1f p99_us=%.1f\n", bench_percentile(&s, 50) / 1e3,
           bench_percentile(&s, 99) / 1e3);
    close(cfd);
    pthread_join(t, NULL);
    unlink(argv[2]);
    return 0;
}

static int
cmd_nng_echo(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: nng-echo URL COUNT\n");
        return 2;
    }
    /* nng's threads do not survive fork(): the child creates its own. */
    pid_t child = fork();
    if (child == 0) {
        struct rpc_server *s;
        char *error = rpc_server_create(argv[2], 4, 0600, &s);
        if (error) {
            fprintf(stderr, "%s\n", error);
            _exit(1);
        }
        for (;;) {
            struct pollfd pfd = { .fd = rpc_server_fd(s), .events = POLLIN };
            poll(&pfd, 1, 1000);
            struct rpc_request *req;
            while ((req = rpc_server_next(s))) {
                rpc_request_reply(s, req, req->data, req->len);
            }
            if (getppid() == 1) {
                _exit(0);
            }
        }
    }
    usleep(200000);
    struct rpc_client *c = client_open(argv[2], timeout_ms);
    struct run r = { .allow = 0 };
    bench_samples_init(&r.lat);
    run_decides(c, "11111111-0000-4000-8000-0000000000b1", 200, 1,
                "/usr/bin/curl", "-", 80, &r);          /* Warm up. */
    bench_samples_destroy(&r.lat);
    bench_samples_init(&r.lat);
    run_decides(c, "11111111-0000-4000-8000-0000000000b1", atoi(argv[3]), 1,
                "/usr/bin/curl", "-", 80, &r);
    printf("nng p50_us=%.1f p99_us=%.1f errors=%d\n",
           bench_percentile(&r.lat, 50) / 1e3,
           bench_percentile(&r.lat, 99) / 1e3, r.transport_errors);
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    /* Sockets are left to exit(): see flood_thread() on nng#1813. */
    bench_samples_destroy(&r.lat);
    return r.transport_errors ? 1 : 0;
}

/* Appends one exact TCP connection (number 'i') to 'flows'. */
static void
add_install_flow(struct json_object *flows, int i)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"granularity\":\"exact\",\"protocol\":\"tcp\","
             "\"local\":{\"address\":\"10.77.0.1\",\"port\":%d},"
             "\"remote\":{\"address\":\"10.%d.%d.%d\",\"port\":443},"
             "\"app_id\":%d,\"ttl\":3600}",
             1024 + i % 60000, 100 + (i >> 16) % 100, (i >> 8) & 255,
             i & 255, 1 + i % 16);
    json_object_array_add(flows, json_tokener_parse(text));
}

/* A flow_install request number 'id' of 'batch' flows, as text. */
static char *
make_install(const char *vm_uuid, int id, int batch)
{
    struct json_object *req = msg_create(MSG_FLOW_INSTALL);
    msg_put_int(req, "id", id);
    struct json_object *vm = json_object_new_object();
    msg_put_string(vm, "uuid", vm_uuid);
    json_object_object_add(req, "vm", vm);
    struct json_object *flows = json_object_new_array();
    for (int k = 0; k < batch; k++) {
        add_install_flow(flows, (id - 1) * batch + k + 1);
    }
    if (batch == 1) {
        /* The single-flow form. */
        struct json_object *f = json_object_array_get_idx(flows, 0);
        json_object_object_foreach(f, key, val) {
            json_object_object_add(req, key, json_object_get(val));
        }
        json_object_put(flows);
    } else {
        json_object_object_add(req, "flows", flows);
    }
    char *text = xstrdup(json_object_to_json_string_ext(
                             req, JSON_C_TO_STRING_PLAIN));
    json_object_put(req);
    return text;
}

struct installs {
    char **texts;               /* Made before the clock starts. */
    int ok;
    char first_error[512];
};

static char *
take_install(int id, void *in_)
{
    struct installs *in = in_;
    char *text = in->texts[id - 1];
    in->texts[id - 1] = NULL;
    return text;
}

static void
count_ack(const struct rpc_reply *rep, void *in_)
{
    struct installs *in = in_;
    struct json_object *o = rep->error ? NULL : json_tokener_parse(rep->data);
    if (o && msg_get_bool(o, "ok", false)) {
        in->ok++;
    } else if (!in->first_error[0]) {
        snprintf(in->first_error, sizeof in->first_error, "%s",
                 rep->error ? strerror(rep->error) : rep->data);
    }
    json_object_put(o);
}

static int
cmd_flow_install(int argc, char **argv)
{
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: flow-install URL VM COUNT CONC [BATCH]\n");
        return 2;
    }
    struct rpc_client *c = client_open(argv[2], timeout_ms);
    int count = atoi(argv[4]), conc = atoi(argv[5]);
    int batch = argc == 7 ? atoi(argv[6]) : 1;
    /* The requests are made before the clock starts: this measures
     * appfw-switchd, not the making of JSON. */
    struct installs in = { .texts = xmalloc(count * sizeof *in.texts) };
    for (int i = 0; i < count; i++) {
        in.texts[i] = make_install(argv[3], i + 1, batch);
    }
    struct bench_samples lat;
    bench_samples_init(&lat);
    double secs = pipeline(c, count, conc, take_install, count_ack, &in,
                           &lat);
    printf("ok=%d failed=%d p50_us=%.0f p99_us=%.0f rate=%.0f%s%s\n", in.ok,
           count - in.ok, bench_percentile(&lat, 50) / 1e3,
           bench_percentile(&lat, 99) / 1e3, count / secs,
           in.first_error[0] ? " first_error=" : "", in.first_error);
    fflush(stdout);
    bench_samples_destroy(&lat);
    free(in.texts);
    rpc_client_destroy(c);
    return in.ok == count ? 0 : 1;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: secd-load decide|flood|raw|hv-poll|"
                "unix-echo ...\n");
        return 2;
    }
    /* TLS identity and timeout for tls+tcp:// URLs, from the environment. */
    char *error = rpc_tls_configure(getenv("APPFW_TLS_CERT"),
                                    getenv("APPFW_TLS_CA"),
                                    getenv("APPFW_TLS_SERVER_NAME"));
    if (error) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    if (getenv("SECD_LOAD_TIMEOUT_MS")) {
        timeout_ms = atoi(getenv("SECD_LOAD_TIMEOUT_MS"));
    }
    if (!strcmp(argv[1], "decide")) {
        return cmd_decide(argc, argv);
    } else if (!strcmp(argv[1], "flood")) {
        return cmd_flood(argc, argv);
    } else if (!strcmp(argv[1], "raw")) {
        return cmd_raw(argc, argv);
    } else if (!strcmp(argv[1], "hv-poll")) {
        return cmd_hv_poll(argc, argv);
    } else if (!strcmp(argv[1], "unix-echo")) {
        return cmd_unix_echo(argc, argv);
    } else if (!strcmp(argv[1], "flow-install")) {
        return cmd_flow_install(argc, argv);
    } else if (!strcmp(argv[1], "nng-echo")) {
        return cmd_nng_echo(argc, argv);
    } else if (!strcmp(argv[1], "lock-db")) {
        return cmd_lock_db(argc, argv);
    }
    fprintf(stderr, "unknown command %s\n", argv[1]);
    return 2;
}
