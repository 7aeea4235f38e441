/* Unit tests for common/schema.c beyond what test-msg covers: strict mode
 * (unknown members are errors) and the syntax helpers. */
#include <json-c/json.h>
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict_unknown_members),
        cmocka_unit_test(test_syntax_helpers),
    };
    return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
