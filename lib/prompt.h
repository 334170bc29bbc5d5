/*
 * A refresh token from the person logging in, when the store has none:
 * from an earlier module's PAM_AUTHTOK (use_first_pass, try_first_pass) or
 * asked for through the conversation with echo off (prompt).
 */
#ifndef PP_PROMPT_H
#define PP_PROMPT_H

#include "context.h"

/* PP_ERR_NO_TOKEN when no option allows a token or none was given. */
enum pp_result pp_prompt_token(struct pp_ctx *ctx, char **token);

#endif
