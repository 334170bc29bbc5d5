/*
 * The claims pam_passage reads from an auth token: when it expires and whom
 * it names.  The signature is not checked: the token came straight from the
 * server over verified TLS, and the module never trusts it for anything but
 * its own bookkeeping (key timeouts, renewal, status output).
 */
#ifndef PP_JWT_H
#define PP_JWT_H

#include "result.h"

#include <stddef.h>
#include <time.h>

struct pp_jwt_claims {
    time_t exp;
    char sub[256]; /* empty when the token names nobody */
};

/* PP_ERR_BAD_TOKEN unless the token is a JWT whose payload has an exp. */
enum pp_result pp_jwt_claims(const char *jwt, struct pp_jwt_claims *out);

/*
 * Decodes base64url without padding; returns the length written or -1.
 * out must hold at least in_len * 3 / 4 + 1 bytes.
 */
long pp_base64url_decode(const char *in, size_t in_len, unsigned char *out);

#endif
