/* Unit tests for common/log.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/log.h"

LOG_MODULE(testmod);

static int64_t fake_now = 1795325072123;    /* 2026-11-22T05:24:32.123Z */

static int64_t
fake_clock(void)
{
    return fake_now;
}

static char *out_buf;
static size_t out_len;
static FILE *out;

static int
setup(void **state)
{
    (void) state;
    out = open_memstream(&out_buf, &out_len);
    log_set_stream(out);
    log_set_clock(fake_clock);
    char *error = log_set_levels("info,testmod:info,other:info");
    assert_null(error);
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    log_set_stream(NULL);
    log_set_clock(NULL);
    fclose(out);
    free(out_buf);
    out_buf = NULL;
    return 0;
}

/* Returns the output so far and starts over. */
static char *
take_output(void)
{
    fflush(out);
    char *s = strdup(out_buf ? out_buf : "");
    fseek(out, 0, SEEK_SET);
    if (out_buf) {
        out_buf[0] = '\0';
    }
    return s;
}

static void
test_format(void **state)
{
    (void) state;
    LOG_WARN("channel closed vm=%s reason=%s", "vm1", "eof");
    char *s = take_output();
    assert_string_equal(s, "ts=2026-11-22T05:24:32.123Z level=warn "
                        "module=testmod msg=\"channel closed vm=vm1 "
                        "reason=eof\"\n");
    free(s);
}

static void
test_escaping(void **state)
{
    (void) state;
    /* A hostile path cannot forge a second line or break the quoting. */
    LOG_INFO("exe=%s", "/tmp/x\nts=forged level=err \"q\" \\ \x01\x7f");
    char *s = take_output();
    assert_string_equal(s, "ts=2026-11-22T05:24:32.123Z level=info "
                        "module=testmod msg=\"exe=/tmp/x\\nts=forged "
                        "level=err \\\"q\\\" \\\\ \\x01\\x7f\"\n");
    assert_int_equal(strchr(s, '\n') - s, (long) strlen(s) - 1);
    free(s);
}

static void
test_levels(void **state)
{
    (void) state;
    LOG_DBG("hidden");
    char *s = take_output();
    assert_string_equal(s, "");
    free(s);

    assert_null(log_set_levels("testmod:dbg"));
    assert_true(log_is_enabled(LOGL_DBG, "testmod"));
    assert_false(log_is_enabled(LOGL_DBG, "other"));
    LOG_DBG("shown");
    s = take_output();
    assert_non_null(strstr(s, "level=dbg module=testmod msg=\"shown\""));
    free(s);

    assert_null(log_set_levels("err,testmod:off"));
    LOG_ERR("off for this module");
    s = take_output();
    assert_string_equal(s, "");
    free(s);
    assert_true(log_is_enabled(LOGL_ERR, "unlisted"));
    assert_false(log_is_enabled(LOGL_WARN, "unlisted"));

    /* A bad spec changes nothing. */
    char *error = log_set_levels("info,testmod:loud");
    assert_string_equal(error, "log level \"info,testmod:loud\": unknown "
                        "level \"loud\" (off, err, warn, info, dbg)");
    free(error);
    assert_false(log_is_enabled(LOGL_WARN, "unlisted"));
    error = log_set_levels(":info");
    assert_non_null(error);
    free(error);

    enum log_level level;
    assert_true(log_level_from_name("warning", &level));
    assert_int_equal(level, LOGL_WARN);
    assert_true(log_level_from_name("debug", &level));
    assert_int_equal(level, LOGL_DBG);
    assert_false(log_level_from_name("verbose", &level));
    assert_string_equal(log_level_name(LOGL_INFO), "info");
    assert_null(log_set_levels("info,testmod:info"));
}

static void
test_rate_limit(void **state)
{
    (void) state;
    struct log_rl rl = LOG_RL_INIT(60, 3);     /* 1/s, bursts of 3. */

    for (int i = 0; i < 10; i++) {
        LOG_WARN_RL(&rl, "flood %d", i);
    }
    char *s = take_output();
    int lines = 0;
    for (char *p = s; (p = strchr(p, '\n')); p++) {
        lines++;
    }
    assert_int_equal(lines, 3);
    assert_null(strstr(s, "flood 3"));
    free(s);

    /* Two seconds later: two tokens; the first line reports the 7 that
     * were suppressed. */
    fake_now += 2000;
    for (int i = 10; i < 14; i++) {
        LOG_WARN_RL(&rl, "flood %d", i);
    }
    s = take_output();
    assert_non_null(strstr(s, "msg=\"flood 10\" suppressed=7\n"));
    assert_non_null(strstr(s, "msg=\"flood 11\"\n"));
    assert_null(strstr(s, "flood 12"));
    free(s);

    /* A long quiet period refills to the burst, not beyond. */
    fake_now += 3600 * 1000;
    unsigned int suppressed = 0;
    int allowed = 0;
    for (int i = 0; i < 10; i++) {
        allowed += log_rl_allow(&rl, fake_now, &suppressed);
    }
    assert_int_equal(allowed, 3);
}

static void
test_log_file(void **state)
{
    (void) state;
    char path[] = "/tmp/appfw-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    assert_int_equal(log_open_file(path), 0);
    LOG_INFO("to the file");
    unlink(path);                   /* As logrotate would move it away. */
    assert_int_equal(log_reopen(), 0);
    LOG_INFO("after reopen");

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "msg=\"after reopen\""));
    fclose(f);
    unlink(path);

    assert_int_not_equal(log_open_file("/nonexistent/dir/log"), 0);
    log_set_stream(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_file, setup, teardown),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
