/* Unit tests for common/schema.c beyond what test-msg covers: strict mode
 * (unknown members are errors), the syntax helpers, and the caller's
 * locale across a parse. */
#include <json-c/json.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/schema.h"

static const struct schema_field rule_fields[] = {
    SF_STR("id", true, 1, 8),
    SF_KIND("remote", SK_CIDR, false),
    SF_END
};

static const struct schema_field doc_fields[] = {
    SF_INT("version", true, 1, 10),
    SF_ARRAY("rules", true, 0, 4,
             (&(const struct schema_field) SF_OBJ("rule", true,
                                                  rule_fields))),
    SF_END
};

static char *
check(const char *text, bool strict)
{
    struct json_object *obj = json_tokener_parse(text);
    assert_non_null(obj);
    char *error = schema_validate(obj, doc_fields, "policy", strict);
    json_object_put(obj);
    return error;
}

static void
test_strict_unknown_members(void **state)
{
    (void) state;
    const char *ok = "{\"version\":1,\"rules\":[{\"id\":\"a\"}]}";
    assert_null(check(ok, true));

    const char *top = "{\"version\":1,\"rules\":[],\"vresion\":2}";
    assert_null(check(top, false));
    char *error = check(top, true);
    assert_string_equal(error, "policy.vresion: unknown field");
    free(error);

    const char *deep = "{\"version\":1,\"rules\":[{\"id\":\"a\"},"
                       "{\"id\":\"b\",\"remtoe\":\"10.0.0.0/8\"}]}";
    assert_null(check(deep, false));
    error = check(deep, true);
    assert_string_equal(error, "policy.rules[1].remtoe: unknown field");
    free(error);

    error = check("[]", true);
    assert_string_equal(error, "policy: must be an object, not an array");
    free(error);
}

static void
test_syntax_helpers(void **state)
{
    (void) state;
    assert_true(schema_is_ip("192.0.2.1"));
    assert_true(schema_is_ip("2001:db8::1"));
    assert_false(schema_is_ip("192.0.2"));
    assert_false(schema_is_ip(""));
    assert_true(schema_is_cidr("192.0.2.0/24"));
    assert_true(schema_is_cidr("0.0.0.0/0"));
    assert_true(schema_is_cidr("::/0"));
    assert_true(schema_is_cidr("2001:db8::/128"));
    assert_false(schema_is_cidr("192.0.2.0/-1"));
    assert_false(schema_is_cidr("192.0.2.0/1000"));
    assert_false(schema_is_cidr("192.0.2.0/24/8"));
}

/* schema_parse_json() parses in the "C" locale object and gives the
 * thread its own locale back, whatever it was and however the parse
 * ends. */
static void
parse_in(locale_t loc)
{
    static const char *const texts[] = {
        "{\"a\":1.5,\"b\":[-2e3,true,null,\"\\u00e9\"]}",
        "{\"a\":1.5",
        "[1,,2]",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        struct json_object *obj;
        char *error = schema_parse_json(texts[i], strlen(texts[i]), 8,
                                        "doc", &obj);
        assert_true(uselocale((locale_t) 0) == loc);
        if (i == 0) {
            assert_null(error);
            struct json_object *a = json_object_object_get(obj, "a");
            assert_true(json_object_get_double(a) == 1.5);
            json_object_put(obj);
        } else {
            assert_non_null(error);
            assert_null(obj);
            free(error);
        }
    }
}

static void
test_parse_keeps_locale(void **state)
{
    (void) state;
    assert_true(uselocale((locale_t) 0) == LC_GLOBAL_LOCALE);
    parse_in(LC_GLOBAL_LOCALE);

    locale_t utf8 = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t) 0);
    assert_non_null(utf8);
    uselocale(utf8);
    parse_in(utf8);
    uselocale(LC_GLOBAL_LOCALE);
    freelocale(utf8);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict_unknown_members),
        cmocka_unit_test(test_syntax_helpers),
        cmocka_unit_test(test_parse_keeps_locale),
    };
    return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
