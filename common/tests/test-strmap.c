/* Unit tests of common/strmap.c, deletion above all: a model (an array of
 * keys and their presence) checks every operation of a long random mix. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/strmap.h"
#include "common/util.h"

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

/* SipHash-2-4 of the paper's example (key 00..0f, message 00..0e), and
 * the first two of its reference implementation's vectors (messages of
 * 0 and 1 bytes under the same key); strmap uses the same code with 1
 * and 3 rounds. */
static void
test_siphash_vectors(void **state)
{
    (void) state;
    uint8_t kb[16], msg[15];
    for (int i = 0; i < 16; i++) {
        kb[i] = i;
    }
    for (int i = 0; i < 15; i++) {
        msg[i] = i;
    }
    uint64_t k[2] = { 0, 0 };
    for (int i = 7; i >= 0; i--) {
        k[0] = k[0] << 8 | kb[i];
        k[1] = k[1] << 8 | kb[8 + i];
    }
    assert_true(strmap_siphash(k, msg, 15, 2, 4)
                == UINT64_C(0xa129ca6149be45e5));
    assert_true(strmap_siphash(k, msg, 0, 2, 4)
                == UINT64_C(0x726fdb47dd0e0e31));
    assert_true(strmap_siphash(k, msg, 1, 2, 4)
                == UINT64_C(0x74f839c593dc67fd));
}

/* The hash an unkeyed map would use (FNV-1a, what strmap used before):
 * what an attacker who knows the function can collide. */
static uint32_t
fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h = (h ^ (unsigned char) *s) * 16777619u;
    }
    return h;
}

/* A guest that knows the hash function picks 2,000 keys whose low 14 bits
 * of FNV-1a agree, so under it they all start in one slot of a 4,096-slot
 * table.  Under the keyed hash they spread: the total displacement of the
 * entries from their home slots stays near the number of entries, not
 * near its square. */
static void
test_chosen_keys_do_not_collide(void **state)
{
    (void) state;
    enum { N = 2000 };
    char (*keys)[24] = xcalloc(N, sizeof *keys);
    size_t n = 0;
    for (uint32_t i = 0; n < N; i++) {
        char k[24];
        snprintf(k, sizeof k, "/tmp/x%"PRIu32, i);
        if ((fnv1a(k) & 0x3fff) == 0x1234) {
            memcpy(keys[n++], k, sizeof k);
        }
    }
    struct strmap m;
    strmap_init(&m);
    for (size_t i = 0; i < N; i++) {
        strmap_add(&m, keys[i], keys[i]);
    }
    size_t displacement = 0;
    for (size_t i = 0; (i = strmap_next(&m, i)) != SIZE_MAX; i++) {
        size_t home = m.nodes[i].hash & m.mask;
        displacement += (i - home) & m.mask;
    }
    assert_true(displacement < 10 * N);
    for (size_t i = 0; i < N; i++) {
        assert_ptr_equal(strmap_find(&m, keys[i]), keys[i]);
    }
    strmap_destroy(&m, NULL);
    free(keys);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_mem_keys),
        cmocka_unit_test(test_mem_random_against_model),
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_chosen_keys_do_not_collide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
