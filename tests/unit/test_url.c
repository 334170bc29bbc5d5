/*
 * Unit tests for the URLs of lib/passage.c: pp_percent_encode and
 * pp_tokens_url.  No request is made.
 */
#include "unit.h"

#include "../../lib/passage.h"

#define API "https://127.0.0.1:8443/v1"

/* Checks pp_tokens_url(API, app_id, token) against the expected URL. */
static void assert_url(const char *app_id, const char *token,
                       const char *expected)
{
    char *url = pp_tokens_url(API, app_id, token);

    assert_non_null(url);
    assert_string_equal(url, expected);
    free(url);
}

static void assert_encoded(const char *text, const char *expected)
{
    char *encoded = pp_percent_encode(text);

    assert_non_null(encoded);
    assert_string_equal(encoded, expected);
    free(encoded);
}

/* ---- pp_tokens_url ---- */

static void test_url_plain_app_id_without_token(void **state)
{
    (void)state;
    assert_url("test-app", NULL, API "/apps/test-app/tokens");
}

static void test_url_app_id_space_encoded(void **state)
{
    (void)state;
    assert_url("my app", NULL, API "/apps/my%20app/tokens");
}

/* A slash must not add a path segment: "../" could leave /apps. */
static void test_url_app_id_slash_encoded(void **state)
{
    (void)state;
    assert_url("a/b", NULL, API "/apps/a%2Fb/tokens");
    assert_url("../admin", NULL, API "/apps/..%2Fadmin/tokens");
}

static void test_url_app_id_percent_encoded(void **state)
{
    (void)state;
    assert_url("100%", NULL, API "/apps/100%25/tokens");
    assert_url("%2F", NULL, API "/apps/%252F/tokens");
}

static void test_url_app_id_unicode_bytes_encoded(void **state)
{
    (void)state;
    /* "é" and "€" in UTF-8: each byte on its own, upper-case hex. */
    assert_url("caf\xc3\xa9", NULL, API "/apps/caf%C3%A9/tokens");
    assert_url("\xe2\x82\xac", NULL, API "/apps/%E2%82%AC/tokens");
}

/* None of these may end the path or start a query or fragment. */
static void test_url_app_id_query_characters_encoded(void **state)
{
    (void)state;
    assert_url("a?b#c&d=e", NULL, API "/apps/a%3Fb%23c%26d%3De/tokens");
}

static void test_url_token_goes_in_query(void **state)
{
    (void)state;
    assert_url("test-app", "rt-123",
               API "/apps/test-app/tokens?refresh_token=rt-123");
}

static void test_url_token_in_query_encoded(void **state)
{
    (void)state;
    assert_url("test-app", "a+b/c=d&e#f?g%h",
               API "/apps/test-app/tokens"
                   "?refresh_token=a%2Bb%2Fc%3Dd%26e%23f%3Fg%25h");
}

static void test_url_trailing_slash_not_doubled(void **state)
{
    char *url = pp_tokens_url(API "/", "test-app", NULL);

    (void)state;
    assert_non_null(url);
    assert_string_equal(url, API "/apps/test-app/tokens");
    free(url);
}

static void test_url_api_without_path_used_as_is(void **state)
{
    char *url = pp_tokens_url("https://127.0.0.1:8443", "app", "t");

    (void)state;
    assert_non_null(url);
    assert_string_equal(url, "https://127.0.0.1:8443/apps/app/tokens"
                             "?refresh_token=t");
    free(url);
}

/* ---- pp_percent_encode ---- */

/* RFC 3986, section 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
static void test_url_unreserved_characters_kept(void **state)
{
    static const char unreserved[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "abcdefghijklmnopqrstuvwxyz"
                                     "0123456789-._~";

    (void)state;
    assert_encoded(unreserved, unreserved);
}

static void test_url_reserved_characters_encoded(void **state)
{
    (void)state;
    assert_encoded(":/?#[]@!$&'()*+,;=",
                   "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D");
}

static void test_url_control_and_high_bytes_encoded(void **state)
{
    (void)state;
    assert_encoded("\x01\t\n\x7f\x80\xff", "%01%09%0A%7F%80%FF");
}

static void test_url_other_printable_characters_encoded(void **state)
{
    (void)state;
    assert_encoded(" \"%<>\\^`{|}", "%20%22%25%3C%3E%5C%5E%60%7B%7C%7D");
}

static void test_url_empty_text_encodes_to_empty(void **state)
{
    (void)state;
    assert_encoded("", "");
}

/* Every byte value: unreserved ones kept, the rest as %XX of the byte. */
static void test_url_every_byte_encoded_as_rfc_3986_says(void **state)
{
    (void)state;
    for (int c = 1; c < 256; c++) {
        char text[2] = {(char)c, '\0'};
        char expected[4];
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                    c == '_' || c == '~';

        if (keep)
            snprintf(expected, sizeof(expected), "%c", c);
        else
            snprintf(expected, sizeof(expected), "%%%02X", (unsigned)c);
        assert_encoded(text, expected);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_plain_app_id_without_token),
        cmocka_unit_test(test_url_app_id_space_encoded),
        cmocka_unit_test(test_url_app_id_slash_encoded),
        cmocka_unit_test(test_url_app_id_percent_encoded),
        cmocka_unit_test(test_url_app_id_unicode_bytes_encoded),
        cmocka_unit_test(test_url_app_id_query_characters_encoded),
        cmocka_unit_test(test_url_token_goes_in_query),
        cmocka_unit_test(test_url_token_in_query_encoded),
        cmocka_unit_test(test_url_trailing_slash_not_doubled),
        cmocka_unit_test(test_url_api_without_path_used_as_is),
        cmocka_unit_test(test_url_unreserved_characters_kept),
        cmocka_unit_test(test_url_reserved_characters_encoded),
        cmocka_unit_test(test_url_control_and_high_bytes_encoded),
        cmocka_unit_test(test_url_other_printable_characters_encoded),
        cmocka_unit_test(test_url_empty_text_encodes_to_empty),
        cmocka_unit_test(test_url_every_byte_encoded_as_rfc_3986_says),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
