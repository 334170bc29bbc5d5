/*
 * pam_passage: the PAM entry points.
 *
 * Each reads the options, finds the user, calls one lib/ step and turns
 * its result into a PAM code.  The token lifecycle itself lives in
 * lib/authenticate.c and lib/session.c.
 */
#include "lib/context.h"
#include "lib/lifecycle.h"

#include <security/pam_modules.h>

/*
 * fallback is the entry point's own code for local failures (system,
 * keyring, unsafe files).  Only PP_OK becomes PAM_SUCCESS.
 */
static int pam_code(const struct pp_ctx *ctx, enum pp_result result,
                    int fallback)
{
    switch (result) {
    case PP_OK:
        return PAM_SUCCESS;
    case PP_ERR_NO_TOKEN:
        return ctx->cfg.nouserok ? PAM_IGNORE : PAM_AUTHINFO_UNAVAIL;
    case PP_ERR_REJECTED:
    case PP_ERR_BAD_TOKEN:
        return PAM_AUTH_ERR;
    case PP_ERR_DENIED:
        return PAM_PERM_DENIED;
    case PP_ERR_UNAVAILABLE:
    case PP_ERR_BAD_REPLY:
    case PP_ERR_BUSY:
        return PAM_AUTHINFO_UNAVAIL;
    case PP_ERR_USER:
        return PAM_USER_UNKNOWN;
    case PP_ERR_CONFIG:
        return PAM_SERVICE_ERR;
    case PP_ERR_NOMEM:
        return PAM_BUF_ERR;
    default:
        return fallback;
    }
}

/* Renewal for setcred: the codes that pam_setcred(3) documents. */
static int cred_code(const struct pp_ctx *ctx, enum pp_result result)
{
    switch (result) {
    case PP_ERR_UNAVAILABLE:
    case PP_ERR_BAD_REPLY:
        return PAM_CRED_UNAVAIL;
    case PP_ERR_REJECTED:
    case PP_ERR_DENIED:
        return PAM_CRED_EXPIRED;
    case PP_OK:
    case PP_ERR_CONFIG:
    case PP_ERR_USER:
    case PP_ERR_NOMEM:
        return pam_code(ctx, result, PAM_CRED_ERR);
    default:
        return PAM_CRED_ERR;
    }
}

/* Closing never reports an authentication failure: it is not one. */
static int close_code(const struct pp_ctx *ctx, enum pp_result result)
{
    switch (result) {
    case PP_OK:
    case PP_ERR_CONFIG:
    case PP_ERR_USER:
    case PP_ERR_NOMEM:
        return pam_code(ctx, result, PAM_SESSION_ERR);
    default:
        return PAM_SESSION_ERR;
    }
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
                                   const char **argv)
{
    struct pp_ctx ctx;
    enum pp_result result = pp_ctx_init(&ctx, pamh, flags, argc, argv);
    int rc;

    if (result == PP_OK)
        result = pp_authenticate(&ctx);

    rc = pam_code(&ctx, result, PAM_SYSTEM_ERR);
    pp_ctx_free(&ctx);
    return rc;
}

/* ESTABLISH has nothing to do: the keys arrive at session open. */
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
                              const char **argv)
{
    struct pp_ctx ctx;
    enum pp_result result;
    int rc;

    if ((flags &
         (PAM_DELETE_CRED | PAM_REINITIALIZE_CRED | PAM_REFRESH_CRED)) == 0)
        return PAM_SUCCESS;

    result = pp_ctx_init(&ctx, pamh, flags, argc, argv);
    if (result == PP_OK && (flags & PAM_DELETE_CRED))
        result = pp_session_delete_keys(&ctx);
    else if (result == PP_OK)
        result = pp_session_refresh(&ctx);

    rc = cred_code(&ctx, result);
    pp_ctx_free(&ctx);
    return rc;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
                                const char **argv)
{
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
                                   const char **argv)
{
    struct pp_ctx ctx;
    enum pp_result result = pp_ctx_init(&ctx, pamh, flags, argc, argv);
    int rc;

    /* Authentication did not run in this login: nothing to install. */
    if (result == PP_OK && !pp_session_has_handoff(&ctx) &&
        !ctx.cfg.session_exchange) {
        pp_ctx_free(&ctx);
        return PAM_IGNORE;
    }

    if (result == PP_OK)
        result = pp_session_open(&ctx);

    rc = pam_code(&ctx, result, PAM_SESSION_ERR);
    pp_ctx_free(&ctx);
    return rc;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
                                    const char **argv)
{
    struct pp_ctx ctx;
    enum pp_result result = pp_ctx_init(&ctx, pamh, flags, argc, argv);
    int rc;

    /* Only the transaction whose session received tokens closes them. */
    if (result == PP_OK && !pp_session_is_ours(&ctx)) {
        pp_ctx_free(&ctx);
        return PAM_IGNORE;
    }

    if (result == PP_OK)
        result = pp_session_close(&ctx);

    rc = close_code(&ctx, result);
    pp_ctx_free(&ctx);
    return rc;
}
