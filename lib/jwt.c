#include "jwt.h"

#include "reply.h"
#include "secret.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int base64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long pp_base64url_decode(const char *in, size_t in_len, unsigned char *out)
{
    unsigned long bits = 0;
    int nbits = 0;
    long n = 0;

    if (in_len % 4 == 1)
        return -1;

    for (size_t i = 0; i < in_len; i++) {
        int v = base64url_value(in[i]);

        if (v < 0)
            return -1;
        bits = (bits << 6) | (unsigned long)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[n++] = (unsigned char)(bits >> nbits);
            bits &= (1UL << nbits) - 1;
        }
    }
    out[n] = '\0';
    return n;
}

static enum pp_result read_claims(json_object *payload,
                                  struct pp_jwt_claims *out)
{
    json_object *exp, *sub;

    if (!json_object_is_type(payload, json_type_object) ||
        !json_object_object_get_ex(payload, "exp", &exp) ||
        !json_object_is_type(exp, json_type_int))
        return PP_ERR_BAD_TOKEN;

    out->exp = (time_t)json_object_get_int64(exp);
    if (out->exp <= 0)
        return PP_ERR_BAD_TOKEN;

    if (json_object_object_get_ex(payload, "sub", &sub) &&
        json_object_is_type(sub, json_type_string))
        snprintf(out->sub, sizeof(out->sub), "%s",
                 json_object_get_string(sub));
    return PP_OK;
}

enum pp_result pp_jwt_claims(const char *jwt, struct pp_jwt_claims *out)
{
    const char *start, *end;
    unsigned char *decoded;
    json_object *payload;
    enum pp_result result;
    long len;

    memset(out, 0, sizeof(*out));
    start = jwt != NULL ? strchr(jwt, '.') : NULL;
    end = start != NULL ? strchr(start + 1, '.') : NULL;
    if (end == NULL || strchr(end + 1, '.') != NULL)
        return PP_ERR_BAD_TOKEN;
    start++;

    decoded = malloc((size_t)(end - start) * 3 / 4 + 1);
    if (decoded == NULL)
        return PP_ERR_NOMEM;

    len = pp_base64url_decode(start, (size_t)(end - start), decoded);
    payload = len > 0 ? pp_json_parse_whole((const char *)decoded, (size_t)len)
                      : NULL;
    result = payload != NULL ? read_claims(payload, out) : PP_ERR_BAD_TOKEN;

    json_object_put(payload);
    pp_wipe(decoded, len > 0 ? (size_t)len : 0);
    free(decoded);
    return result;
}
