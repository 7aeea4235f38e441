/* Benchmark: receiving a decide message (frame decode + JSON parse + schema
 * validation) against the baseline of json-c parsing the same text alone,
 * so the ratio is the cost the protocol layer adds on top of JSON. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "common/buf.h"
#include "common/frame.h"
#include "common/msg.h"

static const char decide[] =
    "{\"type\":\"decide\",\"id\":17,\"event\":\"connect\","
    "\"protocol\":\"tcp\",\"direction\":\"outbound\","
    "\"local\":{\"address\":\"10.77.0.1\",\"port\":40312},"
    "\"remote\":{\"address\":\"10.77.0.2\",\"port\":80},"
    "\"app\":{\"path\":\"/usr/bin/curl\",\"name\":\"curl\",\"size\":260328,"
    "\"sha256\":\"5f0b1a0d8e3e0b6c3b1f8f5d9a1b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"
    "7a8b\"},\"process\":{\"pid\":4242,\"ppid\":4100,"
    "\"cmdline\":\"curl http://10.77.0.2/\","
    "\"cgroup\":\"/user.slice/user-1000.slice/session-3.scope\"},"
    "\"user\":{\"uid\":1000,\"name\":\"alice\",\"gid\":1000,"
    "\"group\":\"alice\",\"domain\":\"corp.example\"},\"cookie\":8193}";

#define ROUNDS 200000
#define BATCH 10        /* Operations per timed sample. */

int
main(void)
{
    struct buf stream;
    buf_init(&stream);
    frame_encode(&stream, decide, strlen(decide));

    struct bench_samples base, full;
    bench_samples_init(&base);
    bench_samples_init(&full);

    /* Interleave the two so that machine noise hits both alike. */
    for (int r = 0; r < ROUNDS / BATCH; r++) {
        int64_t t0 = bench_now_ns();
        for (int i = 0; i < BATCH; i++) {
            struct json_object *obj = json_tokener_parse(decide);
            if (!obj) {
                abort();
            }
            json_object_put(obj);
        }
        int64_t t1 = bench_now_ns();
        for (int i = 0; i < BATCH; i++) {
            struct frame_decoder d;
            frame_decoder_init(&d, 0);
            struct frame f;
            size_t used;
            if (frame_decoder_feed(&d, buf_head(&stream), buf_size(&stream),
                                   &used, &f) || !f.data) {
                abort();
            }
            struct json_object *obj;
            char *error = msg_parse(f.data, f.len, &obj, NULL);
            if (error) {
                fprintf(stderr, "%s\n", error);
                abort();
            }
            json_object_put(obj);
            free(f.data);
            frame_decoder_destroy(&d);
        }
        int64_t t2 = bench_now_ns();
        bench_samples_add(&base, (double) (t1 - t0) / BATCH);
        bench_samples_add(&full, (double) (t2 - t1) / BATCH);
    }

    printf("== protocol: receive one decide message (%zu bytes)\n",
           strlen(decide));
    bench_report("baseline: json-c parse only", &base);
    bench_report("frame decode + parse + schema validation", &full);
    bench_ratio("protocol layer vs bare JSON parse", &full, &base, NULL);

    bench_samples_destroy(&base);
    bench_samples_destroy(&full);
    buf_destroy(&stream);
    return 0;
}
