/*
 * Unit tests for lib/jwt.c: the exp and sub claims of an auth token and
 * the base64url decoder under them.
 */
#include "unit.h"

#include "../../lib/jwt.h"

/* Claims filled with junk, so that a failure is seen to clear them. */
static struct pp_jwt_claims junk_claims(void)
{
    struct pp_jwt_claims claims;

    memset(&claims, 'x', sizeof(claims));
    return claims;
}

static enum pp_result claims_of_payload(const char *payload_json,
                                        struct pp_jwt_claims *claims)
{
    char *jwt = unit_jwt(payload_json);
    enum pp_result result;

    *claims = junk_claims();
    result = pp_jwt_claims(jwt, claims);
    free(jwt);
    return result;
}

/* A refused token leaves no claim behind for a careless caller. */
static void assert_refused(enum pp_result result,
                           const struct pp_jwt_claims *claims)
{
    assert_int_equal(result, PP_ERR_BAD_TOKEN);
    assert_int_equal(claims->exp, 0);
    assert_string_equal(claims->sub, "");
}

/* ---- pp_jwt_claims ---- */

static void test_jwt_with_exp_and_sub_gives_both(void **state)
{
    struct pp_jwt_claims claims;

    (void)state;
    assert_int_equal(claims_of_payload("{\"iss\":\"passage-test\","
                                       "\"sub\":\"user-42\","
                                       "\"exp\":1999999999,"
                                       "\"iat\":1700000000}",
                                       &claims),
                     PP_OK);
    assert_int_equal(claims.exp, 1999999999L);
    assert_string_equal(claims.sub, "user-42");
}

static void test_jwt_without_sub_gives_empty_sub(void **state)
{
    struct pp_jwt_claims claims;

    (void)state;
    assert_int_equal(claims_of_payload("{\"exp\":1999999999}", &claims),
                     PP_OK);
    assert_int_equal(claims.exp, 1999999999L);
    assert_string_equal(claims.sub, "");
}

static void test_jwt_sub_not_a_string_gives_empty_sub(void **state)
{
    struct pp_jwt_claims claims;

    (void)state;
    assert_int_equal(
        claims_of_payload("{\"exp\":1999999999,\"sub\":12}", &claims), PP_OK);
    assert_string_equal(claims.sub, "");
}

/* sub is a fixed buffer: a longer one must be cut, not overflow it. */
static void test_jwt_long_sub_cut_to_buffer(void **state)
{
    struct pp_jwt_claims claims;
    char payload[400];
    char sub[301];

    (void)state;
    memset(sub, 'u', 300);
    sub[300] = '\0';
    snprintf(payload, sizeof(payload), "{\"exp\":1999999999,\"sub\":\"%s\"}",
             sub);
    assert_int_equal(claims_of_payload(payload, &claims), PP_OK);
    assert_int_equal(strlen(claims.sub), sizeof(claims.sub) - 1);
    assert_memory_equal(claims.sub, sub, sizeof(claims.sub) - 1);
}

static void test_jwt_without_exp_refused(void **state)
{
    struct pp_jwt_claims claims;

    (void)state;
    assert_refused(claims_of_payload("{\"sub\":\"user-42\"}", &claims),
                   &claims);
}

static void test_jwt_payload_with_trailing_garbage_refused(void **state)
{
    struct pp_jwt_claims claims;

    (void)state;
    assert_refused(claims_of_payload("{\"exp\":4102444800}xyz", &claims),
                   &claims);
}

static void test_jwt_exp_as_string_refused(void **state)
{
    struct pp_jwt_claims claims;

    (void)state;
    assert_refused(
        claims_of_payload("{\"sub\":\"u\",\"exp\":\"1999999999\"}", &claims),
        &claims);
}

static void test_jwt_exp_null_refused(void **state)
{
    struct pp_jwt_claims claims;

    (void)state;
    assert_refused(claims_of_payload("{\"exp\":null}", &claims), &claims);
}

static void test_jwt_with_two_parts_refused(void **state)
{
    char *jwt = unit_jwt("{\"exp\":1999999999}");
    size_t two_parts = strlen(jwt) - strlen("." UNIT_JWT_SIGNATURE);
    struct pp_jwt_claims claims = junk_claims();

    (void)state;
    /* Cut off ".signature": header.payload is all that is left. */
    jwt[two_parts] = '\0';
    assert_non_null(strchr(jwt, '.'));
    assert_refused(pp_jwt_claims(jwt, &claims), &claims);
    free(jwt);
}

static void test_jwt_with_four_parts_refused(void **state)
{
    char *jwt = unit_jwt("{\"exp\":1999999999}");
    char *longer = NULL;
    struct pp_jwt_claims claims = junk_claims();

    (void)state;
    assert_true(asprintf(&longer, "%s.ZXh0cmE", jwt) > 0);
    assert_refused(pp_jwt_claims(longer, &claims), &claims);
    free(longer);
    free(jwt);
}

static void test_jwt_with_one_part_refused(void **state)
{
    struct pp_jwt_claims claims = junk_claims();

    (void)state;
    assert_refused(pp_jwt_claims("eyJleHAiOjE5OTk5OTk5OTl9", &claims),
                   &claims);
}

static void test_jwt_payload_bad_base64_refused(void **state)
{
    struct pp_jwt_claims claims = junk_claims();

    (void)state;
    /* '+' and '/' are plain base64, not base64url; '!' is neither. */
    assert_refused(pp_jwt_claims("eyJhbGciOiJub25lIn0.eyJ+ZXhw.c2ln", &claims),
                   &claims);
    assert_refused(pp_jwt_claims("eyJhbGciOiJub25lIn0.eyJ/ZXhw.c2ln", &claims),
                   &claims);
    assert_refused(pp_jwt_claims("eyJhbGciOiJub25lIn0.eyJ!ZXhw.c2ln", &claims),
                   &claims);
}

static void test_jwt_payload_not_json_refused(void **state)
{
    struct pp_jwt_claims claims;

    (void)state;
    assert_refused(claims_of_payload("exp=1999999999", &claims), &claims);
}

static void test_jwt_payload_not_an_object_refused(void **state)
{
    struct pp_jwt_claims claims;

    (void)state;
    assert_refused(claims_of_payload("[{\"exp\":1999999999}]", &claims),
                   &claims);
    assert_refused(claims_of_payload("1999999999", &claims), &claims);
}

static void test_jwt_empty_payload_refused(void **state)
{
    struct pp_jwt_claims claims = junk_claims();

    (void)state;
    assert_refused(pp_jwt_claims("eyJhbGciOiJub25lIn0..c2ln", &claims),
                   &claims);
}

static void test_jwt_empty_or_null_refused(void **state)
{
    struct pp_jwt_claims claims = junk_claims();

    (void)state;
    assert_refused(pp_jwt_claims("", &claims), &claims);
    claims = junk_claims();
    assert_refused(pp_jwt_claims("..", &claims), &claims);
    claims = junk_claims();
    assert_refused(pp_jwt_claims(NULL, &claims), &claims);
}

/* ---- pp_base64url_decode ---- */

/* Decodes text into a buffer filled with 'x', of the documented size. */
static long decode(const char *text, unsigned char *out)
{
    memset(out, 'x', strlen(text) * 3 / 4 + 1);
    return pp_base64url_decode(text, strlen(text), out);
}

static void test_base64url_empty_gives_nothing(void **state)
{
    unsigned char out[4];

    (void)state;
    assert_int_equal(decode("", out), 0);
    assert_int_equal(out[0], '\0');
}

static void test_base64url_two_chars_give_one_byte(void **state)
{
    unsigned char out[8];

    (void)state;
    assert_int_equal(decode("QQ", out), 1);
    assert_memory_equal(out, "A", 2);
}

static void test_base64url_three_chars_give_two_bytes(void **state)
{
    unsigned char out[8];

    (void)state;
    assert_int_equal(decode("QUI", out), 2);
    assert_memory_equal(out, "AB", 3);
}

static void test_base64url_four_chars_give_three_bytes(void **state)
{
    unsigned char out[8];

    (void)state;
    assert_int_equal(decode("QUJD", out), 3);
    assert_memory_equal(out, "ABC", 4);
}

/* One character left over carries only 6 bits: no whole byte. */
static void test_base64url_one_char_remainder_refused(void **state)
{
    unsigned char out[8];

    (void)state;
    assert_int_equal(decode("Q", out), -1);
    assert_int_equal(decode("QUJDR", out), -1);
}

/* In base64url, '-' is 62 and '_' is 63 (RFC 4648, section 5). */
static void test_base64url_dash_and_underscore_decoded(void **state)
{
    static const unsigned char expected[] = {0xfb, 0xff, 0xbf};
    unsigned char out[8];

    (void)state;
    assert_int_equal(decode("-_-_", out), 3);
    assert_memory_equal(out, expected, 3);
}

static void test_base64url_plus_and_slash_refused(void **state)
{
    unsigned char out[8];

    (void)state;
    assert_int_equal(decode("+/+/", out), -1);
    assert_int_equal(decode("QU+D", out), -1);
    assert_int_equal(decode("QU/D", out), -1);
}

static void test_base64url_space_and_newline_refused(void **state)
{
    unsigned char out[8];

    (void)state;
    assert_int_equal(decode("QU D", out), -1);
    assert_int_equal(decode("QUJ\n", out), -1);
}

static void test_base64url_only_in_len_bytes_read(void **state)
{
    unsigned char out[8];

    (void)state;
    /* "QUJD" followed by bytes that would be refused if they were read. */
    assert_int_equal(pp_base64url_decode("QUJD!!", 4, out), 3);
    assert_memory_equal(out, "ABC", 4);
}

/* Every byte value, at every length mod 3, through the tests' encoder. */
static void test_base64url_round_trips_all_byte_values(void **state)
{
    unsigned char data[258];
    unsigned char out[sizeof(data) + 4];

    (void)state;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 256; len <= sizeof(data); len++) {
        char *text = unit_b64url(data, len);

        assert_int_equal(pp_base64url_decode(text, strlen(text), out),
                         (long)len);
        assert_memory_equal(out, data, len);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_with_exp_and_sub_gives_both),
        cmocka_unit_test(test_jwt_without_sub_gives_empty_sub),
        cmocka_unit_test(test_jwt_sub_not_a_string_gives_empty_sub),
        cmocka_unit_test(test_jwt_long_sub_cut_to_buffer),
        cmocka_unit_test(test_jwt_without_exp_refused),
        cmocka_unit_test(test_jwt_payload_with_trailing_garbage_refused),
        cmocka_unit_test(test_jwt_exp_as_string_refused),
        cmocka_unit_test(test_jwt_exp_null_refused),
        cmocka_unit_test(test_jwt_with_two_parts_refused),
        cmocka_unit_test(test_jwt_with_four_parts_refused),
        cmocka_unit_test(test_jwt_with_one_part_refused),
        cmocka_unit_test(test_jwt_payload_bad_base64_refused),
        cmocka_unit_test(test_jwt_payload_not_json_refused),
        cmocka_unit_test(test_jwt_payload_not_an_object_refused),
        cmocka_unit_test(test_jwt_empty_payload_refused),
        cmocka_unit_test(test_jwt_empty_or_null_refused),

        cmocka_unit_test(test_base64url_empty_gives_nothing),
        cmocka_unit_test(test_base64url_two_chars_give_one_byte),
        cmocka_unit_test(test_base64url_three_chars_give_two_bytes),
        cmocka_unit_test(test_base64url_four_chars_give_three_bytes),
        cmocka_unit_test(test_base64url_one_char_remainder_refused),
        cmocka_unit_test(test_base64url_dash_and_underscore_decoded),
        cmocka_unit_test(test_base64url_plus_and_slash_refused),
        cmocka_unit_test(test_base64url_space_and_newline_refused),
        cmocka_unit_test(test_base64url_only_in_len_bytes_read),
        cmocka_unit_test(test_base64url_round_trips_all_byte_values),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
