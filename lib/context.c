#include "context.h"

#include <security/pam_ext.h>
#include <security/pam_modutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum pp_result find_user(struct pp_ctx *ctx)
{
    const char *user = NULL;
    int rc = pam_get_user(ctx->pamh, &user, NULL);

    if (rc != PAM_SUCCESS || user == NULL || *user == '\0') {
        pp_log(&ctx->log, LOG_ERR, "cannot determine the user: %s",
               rc != PAM_SUCCESS ? pam_strerror(ctx->pamh, rc) : "empty name");
        return PP_ERR_USER;
    }
    ctx->user = user;
    ctx->log.user = user;

    ctx->pw = pam_modutil_getpwnam(ctx->pamh, user);
    if (ctx->pw == NULL) {
        pp_log(&ctx->log, LOG_NOTICE, "no such local user");
        return PP_ERR_USER;
    }
    return PP_OK;
}

/* A failed attempt's tokens may serve a retry from the same host only. */
static enum pp_result name_login(struct pp_ctx *ctx)
{
    const void *rhost = NULL;

    if (pam_get_item(ctx->pamh, PAM_RHOST, &rhost) != PAM_SUCCESS ||
        rhost == NULL)
        rhost = "";
    if (asprintf(&ctx->login, "%s@%s", ctx->user, (const char *)rhost) < 0) {
        ctx->login = NULL;
        return PP_ERR_NOMEM;
    }
    return PP_OK;
}

enum pp_result pp_ctx_init(struct pp_ctx *ctx, pam_handle_t *pamh, int flags,
                           int argc, const char **argv)
{
    enum pp_result result;

    memset(ctx, 0, sizeof(*ctx));
    ctx->pamh = pamh;
    ctx->flags = flags;
    ctx->log.pamh = pamh;
    pp_config_init(&ctx->cfg);

    result = pp_config_load(&ctx->cfg, argc, argv, &ctx->log);
    ctx->log.debug = ctx->cfg.debug;
    if (result == PP_OK)
        result = pp_config_validate(&ctx->cfg, &ctx->log);
    if (result == PP_OK)
        pp_log(&ctx->log, LOG_DEBUG,
               "app_id=%s api_url=%s store=%s on_close=%s timeouts=%ld/%lds",
               ctx->cfg.app_id, pp_config_api_url(&ctx->cfg),
               pp_config_store(&ctx->cfg),
               ctx->cfg.on_close == PP_ON_CLOSE_KEEP ? "keep" : "revoke",
               ctx->cfg.connect_timeout, ctx->cfg.timeout);
    if (result != PP_OK)
        return result == PP_ERR_NOMEM ? result : PP_ERR_CONFIG;

    result = find_user(ctx);
    if (result == PP_OK)
        result = name_login(ctx);
    return result;
}

void pp_ctx_free(struct pp_ctx *ctx)
{
    free(ctx->login);
    ctx->login = NULL;
    pp_config_free(&ctx->cfg);
}
