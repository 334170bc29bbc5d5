/*
 * Unit tests for lib/reply.c: the tokens reply and the error reply of the
 * Passage API.  The JWTs are built here with the tests' own encoder.
 */
#include "unit.h"

#include "../../lib/reply.h"

#include <time.h>

/* A fixed "now", so that relative expirations have one right answer. */
#define NOW ((time_t)1700000000)

/* exp of the auth tokens built below. */
#define AUTH_EXP 2000000000L

struct parsed {
    enum pp_result result;
    struct pp_tokens tokens;
    const char *why;
};

/* body_template with every "$JWT" replaced by jwt; the caller frees. */
static char *fill(const char *body_template, const char *jwt)
{
    char *body = calloc(1, strlen(body_template) * (strlen(jwt) + 1) + 1);
    const char *p = body_template, *mark;

    assert_non_null(body);
    while ((mark = strstr(p, "$JWT")) != NULL) {
        strncat(body, p, (size_t)(mark - p));
        strcat(body, jwt);
        p = mark + 4;
    }
    strcat(body, p);
    return body;
}

/* Parses body_template with "$JWT" standing for a JWT with AUTH_EXP. */
static struct parsed parse(const char *body_template)
{
    char *jwt = unit_jwt("{\"sub\":\"user-1\",\"exp\":2000000000}");
    char *body = fill(body_template, jwt);
    struct parsed p;

    p.result =
        pp_reply_parse_tokens(body, strlen(body), NOW, &p.tokens, &p.why);
    free(body);
    free(jwt);
    return p;
}

/* Checks a refusal: BAD_REPLY, a reason for the log, nothing left over. */
static void assert_refused(struct parsed *p)
{
    assert_int_equal(p->result, PP_ERR_BAD_REPLY);
    assert_non_null(p->why);
    assert_null(p->tokens.auth_token);
    assert_null(p->tokens.refresh_token);
    pp_tokens_clear(&p->tokens);
}

/* ---- pp_reply_parse_tokens ---- */

static void test_reply_with_all_fields_fills_every_field(void **state)
{
    struct parsed p;
    char *jwt = unit_jwt("{\"sub\":\"user-1\",\"exp\":2000000000}");

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\","
              "\"refresh_token\":\"rt-AbC.123_~\","
              "\"refresh_token_expiration\":1900000000}}");
    assert_int_equal(p.result, PP_OK);
    assert_string_equal(p.tokens.auth_token, jwt);
    assert_string_equal(p.tokens.refresh_token, "rt-AbC.123_~");
    assert_int_equal(p.tokens.auth_expires, AUTH_EXP);
    assert_int_equal(p.tokens.refresh_expires, 1900000000L);
    pp_tokens_clear(&p.tokens);
    free(jwt);
}

static void test_reply_without_refresh_token_leaves_it_null(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\"}}");
    assert_int_equal(p.result, PP_OK);
    assert_non_null(p.tokens.auth_token);
    assert_null(p.tokens.refresh_token);
    pp_tokens_clear(&p.tokens);
}

static void test_reply_with_null_refresh_token_leaves_it_null(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\","
              "\"refresh_token\":null}}");
    assert_int_equal(p.result, PP_OK);
    assert_null(p.tokens.refresh_token);
    pp_tokens_clear(&p.tokens);
}

static void test_reply_without_expiration_gives_zero(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\","
              "\"refresh_token\":\"rt\"}}");
    assert_int_equal(p.result, PP_OK);
    assert_int_equal(p.tokens.refresh_expires, 0);
    pp_tokens_clear(&p.tokens);
}

static void test_reply_expiration_above_1e9_is_unix_time(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\","
              "\"refresh_token\":\"rt\","
              "\"refresh_token_expiration\":1000000001}}");
    assert_int_equal(p.result, PP_OK);
    assert_int_equal(p.tokens.refresh_expires, 1000000001L);
    pp_tokens_clear(&p.tokens);
}

static void test_reply_small_expiration_is_seconds_from_now(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\","
              "\"refresh_token\":\"rt\","
              "\"refresh_token_expiration\":86400}}");
    assert_int_equal(p.result, PP_OK);
    assert_int_equal(p.tokens.refresh_expires, 1700086400L);
    pp_tokens_clear(&p.tokens);
}

static void test_reply_auth_token_number_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":12345,"
              "\"refresh_token\":\"rt\"}}");
    assert_refused(&p);
}

static void test_reply_refresh_token_number_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\","
              "\"refresh_token\":12345}}");
    assert_refused(&p);
}

static void test_reply_expiration_string_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\","
              "\"refresh_token\":\"rt\","
              "\"refresh_token_expiration\":\"1900000000\"}}");
    assert_refused(&p);
}

static void test_reply_auth_result_not_an_object_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":\"$JWT\"}");
    assert_refused(&p);
    p = parse("{\"auth_result\":[\"$JWT\"]}");
    assert_refused(&p);
    p = parse("{\"auth_result\":null}");
    assert_refused(&p);
}

static void test_reply_without_auth_result_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_token\":\"$JWT\",\"refresh_token\":\"rt\"}");
    assert_refused(&p);
}

static void test_reply_without_auth_token_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"refresh_token\":\"rt\"}}");
    assert_refused(&p);
}

static void test_reply_top_level_not_an_object_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("[\"$JWT\"]");
    assert_refused(&p);
}

static void test_reply_unknown_fields_ignored(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"user\":{\"id\":\"u\"},\"extra\":[1,2,3],"
              "\"auth_result\":{\"auth_token\":\"$JWT\","
              "\"refresh_token\":\"rt\",\"redirect_url\":\"/\","
              "\"auth_token_expiration\":3600,\"nested\":{\"a\":null}}}");
    assert_int_equal(p.result, PP_OK);
    assert_string_equal(p.tokens.refresh_token, "rt");
    assert_int_equal(p.tokens.auth_expires, AUTH_EXP);
    pp_tokens_clear(&p.tokens);
}

static void test_reply_not_json_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("not json{");
    assert_refused(&p);
}

static void test_reply_trailing_garbage_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\"}}garbage");
    assert_refused(&p);
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\"}}{}");
    assert_refused(&p);
}

static void test_reply_truncated_json_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\"");
    assert_refused(&p);
}

static void test_reply_empty_body_refused(void **state)
{
    struct pp_tokens tokens;
    const char *why = NULL;

    (void)state;
    assert_int_equal(pp_reply_parse_tokens("", 0, NOW, &tokens, &why),
                     PP_ERR_BAD_REPLY);
    assert_non_null(why);
    assert_null(tokens.auth_token);
}

/* Only len bytes count: what follows them in memory is not the reply. */
static void test_reply_reads_only_len_bytes(void **state)
{
    char *jwt = unit_jwt("{\"exp\":2000000000}");
    char *body =
        fill("{\"auth_result\":{\"auth_token\":\"$JWT\"}}GARBAGE", jwt);
    size_t len = strlen(body) - strlen("GARBAGE");
    struct pp_tokens tokens;
    const char *why;

    (void)state;
    assert_int_equal(pp_reply_parse_tokens(body, len, NOW, &tokens, &why),
                     PP_OK);
    assert_string_equal(tokens.auth_token, jwt);
    pp_tokens_clear(&tokens);
    free(body);
    free(jwt);
}

static void test_reply_auth_token_not_a_jwt_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"opaque-token-123\","
              "\"refresh_token\":\"rt\"}}");
    assert_refused(&p);
}

static void test_reply_auth_token_without_exp_refused(void **state)
{
    char *jwt = unit_jwt("{\"sub\":\"user-1\"}");
    char *body = fill("{\"auth_result\":{\"auth_token\":\"$JWT\"}}", jwt);
    struct pp_tokens tokens;
    const char *why;

    (void)state;
    assert_int_equal(
        pp_reply_parse_tokens(body, strlen(body), NOW, &tokens, &why),
        PP_ERR_BAD_REPLY);
    assert_non_null(why);
    assert_null(tokens.auth_token);
    free(body);
    free(jwt);
}

static void test_reply_empty_auth_token_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"\"}}");
    assert_refused(&p);
}

/* A refresh token is sent back later: one with a space is unusable. */
static void test_reply_refresh_token_with_space_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\","
              "\"refresh_token\":\"two words\"}}");
    assert_refused(&p);
}

static void test_reply_empty_refresh_token_refused(void **state)
{
    struct parsed p;

    (void)state;
    p = parse("{\"auth_result\":{\"auth_token\":\"$JWT\","
              "\"refresh_token\":\"\"}}");
    assert_refused(&p);
}

/* ---- pp_reply_parse_error ---- */

struct error_text {
    char code[64];
    char message[128];
};

static struct error_text parse_error(const char *body)
{
    struct error_text e;

    /* Filled with junk so that "empty" is seen to be written. */
    memset(&e, 'x', sizeof(e));
    pp_reply_parse_error(body, strlen(body), e.code, sizeof(e.code), e.message,
                         sizeof(e.message));
    return e;
}

static void test_reply_error_reads_code_and_message(void **state)
{
    struct error_text e;

    (void)state;
    e = parse_error("{\"code\":\"invalid_refresh_token\","
                    "\"error\":\"The refresh token is invalid.\"}");
    assert_string_equal(e.code, "invalid_refresh_token");
    assert_string_equal(e.message, "The refresh token is invalid.");
}

static void test_reply_error_without_fields_gives_empty(void **state)
{
    struct error_text e;

    (void)state;
    e = parse_error("{\"status\":401}");
    assert_string_equal(e.code, "");
    assert_string_equal(e.message, "");
}

static void test_reply_error_with_only_code_gives_empty_message(void **state)
{
    struct error_text e;

    (void)state;
    e = parse_error("{\"code\":\"app_not_found\"}");
    assert_string_equal(e.code, "app_not_found");
    assert_string_equal(e.message, "");
}

static void test_reply_error_not_json_gives_empty(void **state)
{
    struct error_text e;

    (void)state;
    e = parse_error("<html>502 Bad Gateway</html>");
    assert_string_equal(e.code, "");
    assert_string_equal(e.message, "");
    e = parse_error("");
    assert_string_equal(e.code, "");
    assert_string_equal(e.message, "");
}

static void test_reply_error_non_string_fields_ignored(void **state)
{
    struct error_text e;

    (void)state;
    e = parse_error("{\"code\":401,\"error\":{\"text\":\"no\"}}");
    assert_string_equal(e.code, "");
    assert_string_equal(e.message, "");
}

/* Server text goes to syslog: no newline may forge a second log line. */
static void test_reply_error_control_characters_replaced(void **state)
{
    struct error_text e;

    (void)state;
    e = parse_error("{\"code\":\"bad\\ncode\","
                    "\"error\":\"red \\u001b[31m\\r\\ttext\\u007f!\"}");
    assert_string_equal(e.code, "bad?code");
    assert_string_equal(e.message, "red ?[31m??text?!");
}

static void test_reply_error_outer_space_trimmed(void **state)
{
    struct error_text e;

    (void)state;
    e = parse_error("{\"code\":\"  spaced \",\"error\":\"\\n\\tmsg\\n\"}");
    assert_string_equal(e.code, "spaced");
    assert_string_equal(e.message, "msg");
}

static void test_reply_error_long_text_cut_to_buffer(void **state)
{
    char code[8];
    char message[4];
    const char *body = "{\"code\":\"abcdefghijkl\",\"error\":\"123456\"}";

    (void)state;
    pp_reply_parse_error(body, strlen(body), code, sizeof(code), message,
                         sizeof(message));
    assert_string_equal(code, "abcdefg");
    assert_string_equal(message, "123");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_with_all_fields_fills_every_field),
        cmocka_unit_test(test_reply_without_refresh_token_leaves_it_null),
        cmocka_unit_test(test_reply_with_null_refresh_token_leaves_it_null),
        cmocka_unit_test(test_reply_without_expiration_gives_zero),
        cmocka_unit_test(test_reply_expiration_above_1e9_is_unix_time),
        cmocka_unit_test(test_reply_small_expiration_is_seconds_from_now),
        cmocka_unit_test(test_reply_auth_token_number_refused),
        cmocka_unit_test(test_reply_refresh_token_number_refused),
        cmocka_unit_test(test_reply_expiration_string_refused),
        cmocka_unit_test(test_reply_auth_result_not_an_object_refused),
        cmocka_unit_test(test_reply_without_auth_result_refused),
        cmocka_unit_test(test_reply_without_auth_token_refused),
        cmocka_unit_test(test_reply_top_level_not_an_object_refused),
        cmocka_unit_test(test_reply_unknown_fields_ignored),
        cmocka_unit_test(test_reply_not_json_refused),
        cmocka_unit_test(test_reply_trailing_garbage_refused),
        cmocka_unit_test(test_reply_truncated_json_refused),
        cmocka_unit_test(test_reply_empty_body_refused),
        cmocka_unit_test(test_reply_reads_only_len_bytes),
        cmocka_unit_test(test_reply_auth_token_not_a_jwt_refused),
        cmocka_unit_test(test_reply_auth_token_without_exp_refused),
        cmocka_unit_test(test_reply_empty_auth_token_refused),
        cmocka_unit_test(test_reply_refresh_token_with_space_refused),
        cmocka_unit_test(test_reply_empty_refresh_token_refused),

        cmocka_unit_test(test_reply_error_reads_code_and_message),
        cmocka_unit_test(test_reply_error_without_fields_gives_empty),
        cmocka_unit_test(test_reply_error_with_only_code_gives_empty_message),
        cmocka_unit_test(test_reply_error_not_json_gives_empty),
        cmocka_unit_test(test_reply_error_non_string_fields_ignored),
        cmocka_unit_test(test_reply_error_control_characters_replaced),
        cmocka_unit_test(test_reply_error_outer_space_trimmed),
        cmocka_unit_test(test_reply_error_long_text_cut_to_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
