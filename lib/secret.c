#include "secret.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* explicit_bzero is not removed by the optimiser, unlike memset. */
void pp_wipe(void *buf, size_t len)
{
    if (buf != NULL)
        explicit_bzero(buf, len);
}

void pp_secret_free(char *secret)
{
    if (secret == NULL)
        return;
    pp_wipe(secret, strlen(secret));
    free(secret);
}

char *pp_secret_dup(const char *secret)
{
    return secret == NULL ? NULL : strdup(secret);
}

void pp_tokens_clear(struct pp_tokens *tokens)
{
    pp_secret_free(tokens->auth_token);
    pp_secret_free(tokens->refresh_token);
    memset(tokens, 0, sizeof(*tokens));
}

bool pp_token_is_wellformed(const char *token)
{
    size_t len;

    if (token == NULL)
        return false;

    len = strnlen(token, PP_TOKEN_MAX + 1);
    if (len == 0 || len > PP_TOKEN_MAX)
        return false;

    for (size_t i = 0; i < len; i++) {
        if (token[i] <= ' ' || token[i] > '~')
            return false;
    }
    return true;
}

void pp_token_fingerprint(const char *token, char out[9])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)token, strlen(token), digest);
    snprintf(out, 9, "%02x%02x%02x%02x", digest[0], digest[1], digest[2],
             digest[3]);
    pp_wipe(digest, sizeof(digest));
}
