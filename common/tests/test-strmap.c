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

/* Byte-string keys: zero bytes inside, keys that are prefixes of others,
 * the empty key, and string keys next to them in one map. */
static void
test_mem_keys(void **state)
{
    (void) state;
    struct strmap m;
    strmap_init(&m);
    static const uint8_t k1[] = { 0, 1, 0, 2 };
    static const uint8_t k2[] = { 0, 1, 0, 3 };
    int a = 1, b = 2, c = 3, d = 4, e = 5;
    strmap_add_mem(&m, k1, sizeof k1, &a);
    strmap_add_mem(&m, k2, sizeof k2, &b);
    strmap_add_mem(&m, k1, 3, &c);          /* A prefix of both. */
    strmap_add_mem(&m, "", 0, &d);          /* The empty key. */
    strmap_add(&m, "x", &e);                /* Bytes "x\0". */
    assert_int_equal(strmap_count(&m), 5);
    assert_ptr_equal(strmap_find_mem(&m, k1, sizeof k1), &a);
    assert_ptr_equal(strmap_find_mem(&m, k2, sizeof k2), &b);
    assert_ptr_equal(strmap_find_mem(&m, k1, 3), &c);
    assert_ptr_equal(strmap_find_mem(&m, k1, 0), &d);
    assert_null(strmap_find_mem(&m, k1, 2));
    assert_ptr_equal(strmap_find_mem(&m, "x", 2), &e);
    assert_null(strmap_find_mem(&m, "x", 1));
    assert_ptr_equal(strmap_delete_mem(&m, k1, 3), &c);
    assert_null(strmap_find_mem(&m, k1, 3));
    assert_ptr_equal(strmap_find_mem(&m, k1, sizeof k1), &a);
    assert_ptr_equal(strmap_delete(&m, "x"), &e);
    assert_int_equal(strmap_count(&m), 3);
    strmap_destroy(&m, NULL);
}

/* Fixed-size binary keys (as the agent uses: ids, cookies, tuples)
 * against a model, with deletions: many share their first bytes. */
static void
test_mem_random_against_model(void **state)
{
    (void) state;
    enum { N = 3000 };
    static uint64_t keys[N];
    static bool present[N];
    struct strmap m;
    strmap_init(&m);
    srand(7);
    for (int i = 0; i < N; i++) {
        keys[i] = (uint64_t) i << 40;       /* Low bytes all zero. */
    }
    size_t n = 0;
    for (int step = 0; step < 100000; step++) {
        int k = rand() % N;
        if (present[k]) {
            assert_ptr_equal(strmap_find_mem(&m, &keys[k], 8), &keys[k]);
            assert_ptr_equal(strmap_delete_mem(&m, &keys[k], 8), &keys[k]);
            present[k] = false;
            n--;
        } else {
            assert_null(strmap_find_mem(&m, &keys[k], 8));
            strmap_add_mem(&m, &keys[k], 8, &keys[k]);
            present[k] = true;
            n++;
        }
        assert_int_equal(strmap_count(&m), n);
    }
    for (int i = 0; i < N; i++) {
        assert_ptr_equal(strmap_find_mem(&m, &keys[i], 8),
                         present[i] ? &keys[i] : NULL);
    }
    strmap_destroy(&m, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_mem_keys),
        cmocka_unit_test(test_mem_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
