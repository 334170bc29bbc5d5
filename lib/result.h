/*
 * Result codes shared by everything under lib/.
 *
 * lib/ reports what happened in these terms; only pam_passage.c turns them
 * into PAM codes and only passage-token.c into exit statuses, so each caller
 * can map the same cause to what its own users expect.
 */
#ifndef PP_RESULT_H
#define PP_RESULT_H

enum pp_result {
    PP_OK = 0,
    PP_ERR_NOMEM,       /* out of memory */
    PP_ERR_SYSTEM,      /* a system call failed; errno was logged */
    PP_ERR_CONFIG,      /* the configuration is unusable */
    PP_ERR_USAGE,       /* a caller asked for something impossible */
    PP_ERR_USER,        /* the user does not exist or has an unusable name */
    PP_ERR_NO_TOKEN,    /* no stored token, no session keys */
    PP_ERR_BAD_TOKEN,   /* empty, oversized or not printable */
    PP_ERR_EXISTS,      /* a store entry is already there */
    PP_ERR_UNSAFE,      /* a file or directory failed the ownership checks */
    PP_ERR_BUSY,        /* another login holds the user's token right now */
    PP_ERR_REJECTED,    /* the server says the token is dead (400, 401) */
    PP_ERR_DENIED,      /* the server refuses the user or app (403, 404) */
    PP_ERR_UNAVAILABLE, /* no usable answer: network, TLS, 429, 5xx */
    PP_ERR_BAD_REPLY,   /* an answer we cannot read */
    PP_ERR_KEYRING,     /* the session keyring cannot hold the tokens */
    PP_ERR_PERM,        /* the caller lacks the right to do this */
};

const char *pp_strerror(enum pp_result result);

#endif
