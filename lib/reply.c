#include "reply.h"

#include "jwt.h"
#include "log.h"

#include <json-c/json.h>
#include <string.h>

#define UNIX_TIME_THRESHOLD 1000000000L

json_object *pp_json_parse_whole(const char *body, size_t len)
{
    json_tokener *tok = json_tokener_new();
    json_object *obj;

    if (tok == NULL || len > (size_t)INT32_MAX) {
        json_tokener_free(tok);
        return NULL;
    }

    obj = json_tokener_parse_ex(tok, body, (int)len);
    if (obj != NULL && json_tokener_get_parse_end(tok) != len) {
        json_object_put(obj);
        obj = NULL;
    }
    json_tokener_free(tok);
    return obj;
}

static const char *get_string(json_object *obj, const char *key)
{
    json_object *value;

    if (!json_object_object_get_ex(obj, key, &value) ||
        !json_object_is_type(value, json_type_string))
        return NULL;
    return json_object_get_string(value);
}

static enum pp_result read_expiration(json_object *result, time_t now,
                                      time_t *out, const char **why)
{
    json_object *value;
    int64_t n;

    *out = 0;
    if (!json_object_object_get_ex(result, "refresh_token_expiration",
                                   &value) ||
        json_object_is_type(value, json_type_null))
        return PP_OK;

    if (!json_object_is_type(value, json_type_int)) {
        *why = "refresh_token_expiration is not an integer";
        return PP_ERR_BAD_REPLY;
    }

    n = json_object_get_int64(value);
    if (n <= 0)
        *out = 0;
    else
        *out = n > UNIX_TIME_THRESHOLD ? (time_t)n : now + (time_t)n;
    return PP_OK;
}

static enum pp_result read_tokens(json_object *root, time_t now,
                                  struct pp_tokens *out, const char **why)
{
    json_object *result, *refresh;
    struct pp_jwt_claims claims;
    const char *auth;

    if (!json_object_object_get_ex(root, "auth_result", &result) ||
        !json_object_is_type(result, json_type_object)) {
        *why = "no auth_result object";
        return PP_ERR_BAD_REPLY;
    }

    auth = get_string(result, "auth_token");
    if (!pp_token_is_wellformed(auth) ||
        pp_jwt_claims(auth, &claims) != PP_OK) {
        *why = "auth_token missing or not a JWT with an exp claim";
        return PP_ERR_BAD_REPLY;
    }

    if (json_object_object_get_ex(result, "refresh_token", &refresh) &&
        !json_object_is_type(refresh, json_type_null) &&
        !pp_token_is_wellformed(get_string(result, "refresh_token"))) {
        *why = "refresh_token is not a well-formed token";
        return PP_ERR_BAD_REPLY;
    }

    if (read_expiration(result, now, &out->refresh_expires, why) != PP_OK)
        return PP_ERR_BAD_REPLY;

    out->auth_token = strdup(auth);
    out->auth_expires = claims.exp;
    if (get_string(result, "refresh_token") != NULL)
        out->refresh_token = strdup(get_string(result, "refresh_token"));
    if (out->auth_token == NULL ||
        (get_string(result, "refresh_token") && !out->refresh_token))
        return PP_ERR_NOMEM;
    return PP_OK;
}

/* json-c holds its own copies of the tokens: wipe them before the free. */
static void wipe_token_copies(json_object *root)
{
    static const char *const keys[] = {"auth_token", "refresh_token"};
    json_object *result, *value;

    if (!json_object_object_get_ex(root, "auth_result", &result) ||
        !json_object_is_type(result, json_type_object))
        return;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (json_object_object_get_ex(result, keys[i], &value) &&
            json_object_is_type(value, json_type_string))
            pp_wipe((char *)json_object_get_string(value),
                    (size_t)json_object_get_string_len(value));
    }
}

enum pp_result pp_reply_parse_tokens(const char *body, size_t len, time_t now,
                                     struct pp_tokens *out, const char **why)
{
    json_object *root = pp_json_parse_whole(body, len);
    enum pp_result result;

    memset(out, 0, sizeof(*out));
    *why = NULL;
    if (root == NULL) {
        *why = "not JSON";
        return PP_ERR_BAD_REPLY;
    }

    result = read_tokens(root, now, out, why);
    if (result != PP_OK)
        pp_tokens_clear(out);

    wipe_token_copies(root);
    json_object_put(root);
    return result;
}

void pp_reply_parse_error(const char *body, size_t len, char *code,
                          size_t code_size, char *message, size_t message_size)
{
    json_object *root = pp_json_parse_whole(body, len);
    const char *text;

    code[0] = '\0';
    message[0] = '\0';
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return;
    }

    text = get_string(root, "code");
    if (text != NULL)
        pp_log_sanitize(text, strlen(text), code, code_size);
    text = get_string(root, "error");
    if (text != NULL)
        pp_log_sanitize(text, strlen(text), message, message_size);
    json_object_put(root);
}
