/* Unit tests for common/escape.c: what appfwctl prints of guests'
 * strings (docs/operations.md, "appfwctl"), and appfw-agent of the host's
 * and the guest's in its notices. */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/escape.h"

static void
expect_text(const char *in, bool keep_lines, const char *want)
{
    char *got = escape_text(in, keep_lines);
    assert_string_equal(got, want);
    free(got);
}

static void
test_text(void **state)
{
    (void) state;
    expect_text("/usr/bin/curl", false, "/usr/bin/curl");
    expect_text("caf\xc3\xa9 \xe6\x97\xa5", false, "caf\xc3\xa9 \xe6\x97\xa5");
    expect_text("\x1b]0;pwned\x07", false, "\\x1b]0;pwned\\x07");
    expect_text("\x1b[2J\x7f", false, "\\x1b[2J\\x7f");
    expect_text("a\tb\nc\rd", false, "a\\tb\\nc\\rd");
    expect_text("a\tb\nc\rd", true, "a\tb\nc\\rd");
    expect_text("back\\slash", false, "back\\\\slash");
    /* C1 controls in UTF-8 (CSI is U+009B), and raw 8-bit CSI. */
    expect_text("\xc2\x9b" "31m\xc2\x80\xc2\x9f\xc2\xa0", false,
                "\\u{009b}31m\\u{0080}\\u{009f}\xc2\xa0");
    expect_text("\x9b" "31m", false, "\\x9b31m");
    /* Bidirectional controls and separators. */
    expect_text("\xe2\x80\xae" "exe.txt", false, "\\u{202e}exe.txt");
    expect_text("\xe2\x81\xa6\xe2\x81\xa9\xe2\x80\x8f\xd8\x9c\xe2\x80\xa8",
                false, "\\u{2066}\\u{2069}\\u{200f}\\u{061c}\\u{2028}");
    /* Not UTF-8: overlong, surrogate, truncated. */
    expect_text("\xc0\xaf", false, "\\xc0\\xaf");
    expect_text("\xed\xa0\x80", false, "\\xed\\xa0\\x80");
    expect_text("ab\xe2\x80", false, "ab\\xe2\\x80");
}

static void
test_tree(void **state)
{
    (void) state;
    struct json_object *o = json_tokener_parse(
        "{\"a\": [\"x\\u001by\", 3, true, null], \"k\\u0007\": {\"n\": 1.5}}");
    struct json_object *e = escape_json_tree(o);
    assert_string_equal(json_object_to_json_string_ext(
                            e, JSON_C_TO_STRING_PLAIN),
                        "{\"a\":[\"x\\\\x1by\",3,true,null],"
                        "\"k\\\\x07\":{\"n\":1.5}}");
    json_object_put(o);
    json_object_put(e);
    assert_null(escape_json_tree(NULL));
}

static void
test_json_text(void **state)
{
    (void) state;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "p", json_object_new_string(
                               "\x1b\x7f\xc2\x9b\xe2\x80\xae\xc3\xa9\xff"));
    char *got = escape_json_text(json_object_to_json_string_ext(
                                     o, JSON_C_TO_STRING_PLAIN));
    assert_string_equal(got, "{\"p\":\"\\u001b\\u007f\\u009b\\u202e"
                             "\xc3\xa9\\ufffd\"}");
    struct json_object *back = json_tokener_parse(got);
    assert_non_null(back);
    assert_string_equal(json_object_get_string(
                            json_object_object_get(back, "p")),
                        "\x1b\x7f\xc2\x9b\xe2\x80\xae\xc3\xa9\xef\xbf\xbd");
    json_object_put(back);
    json_object_put(o);
    free(got);
}

static void
expect_csv(const char *in, const char *want)
{
    char *got = escape_csv_cell(in);
    assert_string_equal(got, want);
    free(got);
}

static void
test_csv(void **state)
{
    (void) state;
    expect_csv("plain", "\"plain\"");
    expect_csv("", "\"\"");
    expect_csv("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"");
    expect_csv("+1", "\"'+1\"");
    expect_csv("-1", "\"'-1\"");
    expect_csv("@SUM(A1)", "\"'@SUM(A1)\"");
    expect_csv("\tx", "\"'\tx\"");
    expect_csv("a=b", "\"a=b\"");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_json_text),
        cmocka_unit_test(test_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
