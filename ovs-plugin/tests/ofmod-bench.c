/* ofmod-bench: the baseline for appfw-switchd's flow-request latency in
 * `make bench`: COUNT round trips of one flow-mod (a distinct flow each
 * time) followed by a barrier, over a plain OpenFlow connection, as the
 * smallest possible client would do it.
 *
 *   ofmod-bench unix:RUNDIR/BRIDGE.mgmt TABLE COUNT
 *       prints "p50_us=.. p99_us=.." and deletes the flows it added */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-protocol.h"
#include "openvswitch/ofp-util.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/vconn.h"
#include "util.h"

#include "tests/bench/bench.h"

static void
send_flow(struct vconn *vconn, const char *text, int command)
{
    struct ofputil_flow_mod fm;
    enum ofputil_protocol usable;
    char *error = parse_ofp_flow_mod_str(&fm, text, NULL, NULL, command,
                                         &usable);
    if (error) {
        ovs_fatal(0, "%s: %s", text, error);
    }
    struct ofpbuf *msg = ofputil_encode_flow_mod(&fm, OFPUTIL_P_OF15_OXM);
    minimatch_destroy(&fm.match);
    free(fm.ofpacts);
    /* Sends 'msg', then a barrier, and waits for the barrier's reply. */
    struct ofpbuf *reply;
    int retval = vconn_transact_noreply(vconn, msg, &reply);
    if (retval || reply) {
        ovs_fatal(retval, "%s: flow-mod failed", text);
    }
}

int
main(int argc, char **argv)
{
    set_program_name(argv[0]);
    if (argc != 4) {
        fprintf(stderr, "usage: ofmod-bench TARGET TABLE COUNT\n");
        return 2;
    }
    struct vconn *vconn;
    int retval = vconn_open_block(argv[1], 1u << OFP15_VERSION, 0, -1,
                                  &vconn);
    if (retval) {
        ovs_fatal(retval, "%s", argv[1]);
    }
    int table = atoi(argv[2]), count = atoi(argv[3]);
    struct bench_samples s;
    bench_samples_init(&s);
    for (int i = 0; i < count; i++) {
        char *text = xasprintf("table=%d,priority=200,cookie=0x1,tcp,"
                               "nw_src=10.99.%d.%d,tp_dst=80 actions=drop",
                               table, (i >> 8) & 255, i & 255);
        int64_t t0 = bench_now_ns();
        send_flow(vconn, text, OFPFC_ADD);
        bench_samples_add(&s, (double) (bench_now_ns() - t0));
        free(text);
    }
    char *del = xasprintf("table=%d,cookie=0x1/-1", table);
    send_flow(vconn, del, OFPFC_DELETE);
    free(del);
    printf("p50_us=%.0f p99_us=%.0f\n", bench_percentile(&s, 50) / 1e3,
           bench_percentile(&s, 99) / 1e3);
    bench_samples_destroy(&s);
    vconn_close(vconn);
    return 0;
}
