/* Unit tests of common/strmap.c, deletion above all: a model (an array of
 * keys and their presence) checks every operation of a long random mix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "common/strmap.h"

#define N_KEYS 2000

static void
test_basic(void **state)
{
    (void) state;
    struct strmap m;
    strmap_init(&m);
    assert_null(strmap_find(&m, "a"));
    assert_null(strmap_delete(&m, "a"));
    int x = 1, y = 2;
    strmap_add(&m, "a", &x);
    strmap_add(&m, "b", &y);
    assert_int_equal(strmap_count(&m), 2);
    assert_ptr_equal(strmap_find(&m, "a"), &x);
    assert_ptr_equal(strmap_delete(&m, "a"), &x);
    assert_null(strmap_find(&m, "a"));
    assert_ptr_equal(strmap_find(&m, "b"), &y);
    assert_int_equal(strmap_count(&m), 1);
    strmap_destroy(&m, NULL);
}

static void
test_random_against_model(void **state)
{
    (void) state;
    static char keys[N_KEYS][16];
    static bool present[N_KEYS];
    struct strmap m;
    strmap_init(&m);
    srand(42);
    size_t n = 0;
    for (int i = 0; i < N_KEYS; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
    }
    for (int step = 0; step < 200000; step++) {
        int k = rand() % N_KEYS;
        if (present[k] && rand() % 2) {
            assert_ptr_equal(strmap_delete(&m, keys[k]), keys[k]);
            present[k] = false;
            n--;
        } else if (!present[k]) {
            strmap_add(&m, keys[k], keys[k]);
            present[k] = true;
            n++;
        }
        assert_int_equal(strmap_count(&m), n);
        if (step % 10000 == 0) {
            for (int i = 0; i < N_KEYS; i++) {
                assert_ptr_equal(strmap_find(&m, keys[i]),
                                 present[i] ? keys[i] : NULL);
            }
            size_t seen = 0;
            for (size_t i = 0; (i = strmap_next(&m, i)) != SIZE_MAX; i++) {
                seen++;
            }
            assert_int_equal(seen, n);
        }
    }
    strmap_destroy(&m, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
