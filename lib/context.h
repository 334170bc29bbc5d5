/*
 * What every PAM entry point starts from: the options, the log, the user.
 */
#ifndef PP_CONTEXT_H
#define PP_CONTEXT_H

#include "config.h"
#include "log.h"
#include "result.h"

#include <pwd.h>
#include <security/pam_modules.h>

struct pp_ctx {
    pam_handle_t *pamh;
    int flags;
    struct pp_config cfg;
    struct pp_log log;
    const char *user;
    struct passwd *pw; /* owned by libpam */
    char *login;       /* "user@remote-host", names this login's handoff */
};

/*
 * Loads the configuration (PP_ERR_CONFIG names the offending word in the
 * log) and finds the user (PP_ERR_USER when unknown).
 */
enum pp_result pp_ctx_init(struct pp_ctx *ctx, pam_handle_t *pamh, int flags,
                           int argc, const char **argv);

void pp_ctx_free(struct pp_ctx *ctx);

#endif
