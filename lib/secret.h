/*
 * Memory that held a token is wiped before it is freed, on every path.
 */
#ifndef PP_SECRET_H
#define PP_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Tokens longer than this are refused before they are sent anywhere. */
#define PP_TOKEN_MAX 4096

/* The token pair of one login, with what we know of their lifetimes. */
struct pp_tokens {
    char *auth_token;
    char *refresh_token;
    time_t auth_expires;    /* the JWT's exp */
    time_t refresh_expires; /* 0 when the server did not say */
};

void pp_wipe(void *buf, size_t len);
void pp_secret_free(char *secret);
char *pp_secret_dup(const char *secret);
void pp_tokens_clear(struct pp_tokens *tokens);

/* True for 1..PP_TOKEN_MAX printable ASCII characters without spaces. */
bool pp_token_is_wellformed(const char *token);

/* The first 8 hex digits of the token's SHA-256, for log lines. */
void pp_token_fingerprint(const char *token, char out[9]);

#endif
