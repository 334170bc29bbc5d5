#include "prompt.h"

#include "secret.h"

#include <security/pam_ext.h>
#include <stdlib.h>
#include <string.h>

#define PROMPT "Passage refresh token: "

static enum pp_result earlier_token(struct pp_ctx *ctx, char **token)
{
    const void *item = NULL;

    if (pam_get_item(ctx->pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS ||
        item == NULL)
        return PP_ERR_NO_TOKEN;

    *token = pp_secret_dup(item);
    return *token != NULL ? PP_OK : PP_ERR_NOMEM;
}

/* A password must never travel to Passage as a refresh token. */
static bool is_the_password(struct pp_ctx *ctx, const char *answer)
{
    const void *password = NULL;

    return pam_get_item(ctx->pamh, PAM_AUTHTOK, &password) == PAM_SUCCESS &&
           password != NULL && strcmp(password, answer) == 0;
}

static enum pp_result ask(struct pp_ctx *ctx, char **token)
{
    const void *conv = NULL;
    char *answer = NULL;
    int rc;

    if (ctx->flags & PAM_SILENT) {
        pp_log(&ctx->log, LOG_NOTICE, "cannot ask for a token: PAM_SILENT");
        return PP_ERR_NO_TOKEN;
    }
    if (pam_get_item(ctx->pamh, PAM_CONV, &conv) != PAM_SUCCESS ||
        conv == NULL || ((const struct pam_conv *)conv)->conv == NULL) {
        pp_log(&ctx->log, LOG_ERR,
               "cannot ask for a token: no conversation function");
        return PP_ERR_NO_TOKEN;
    }

    rc = pam_prompt(ctx->pamh, PAM_PROMPT_ECHO_OFF, &answer, "%s", PROMPT);
    if (rc != PAM_SUCCESS || answer == NULL) {
        pp_log(&ctx->log, LOG_NOTICE, "no token given: %s",
               pam_strerror(ctx->pamh, rc));
        pp_secret_free(answer);
        return PP_ERR_NO_TOKEN;
    }
    if (is_the_password(ctx, answer)) {
        pp_log(&ctx->log, LOG_WARNING,
               "the answer to the token prompt is the password (sshd's "
               "password method answers every prompt with it): not sent; "
               "use keyboard-interactive");
        pp_secret_free(answer);
        return PP_ERR_BAD_TOKEN;
    }
    *token = answer;
    return PP_OK;
}

enum pp_result pp_prompt_token(struct pp_ctx *ctx, char **token)
{
    enum pp_result result = PP_ERR_NO_TOKEN;

    *token = NULL;
    if (ctx->cfg.use_first_pass || ctx->cfg.try_first_pass) {
        result = earlier_token(ctx, token);
        if (result == PP_ERR_NO_TOKEN && ctx->cfg.use_first_pass)
            pp_log(&ctx->log, LOG_NOTICE,
                   "use_first_pass: no earlier module set a token");
    }
    if (result == PP_ERR_NO_TOKEN && ctx->cfg.prompt &&
        !ctx->cfg.use_first_pass)
        result = ask(ctx, token);
    return result;
}
