/*
 * Which Passage users may open which local accounts.
 *
 * user_map=FILE names a root-owned file of "LOCAL_USER PASSAGE_USER" lines
 * (the Passage user being the auth token's sub), with # comments.  When it
 * is set, every exchange must name a Passage user listed for the account
 * being opened; it must be set when the token may come from the person
 * logging in, since such a token could belong to anyone.
 */
#ifndef PP_USERMAP_H
#define PP_USERMAP_H

#include "config.h"
#include "log.h"
#include "result.h"
#include "secret.h"

/* PP_OK without user_map, or when the map lists sub for user. */
enum pp_result pp_user_map_check(const struct pp_config *cfg, const char *user,
                                 const char *sub, const struct pp_log *log);

/*
 * Checks the Passage user of freshly exchanged tokens.  On a mismatch
 * (PP_ERR_DENIED), or when the map cannot be read, the new refresh token
 * is revoked at once: nobody may keep a session the login was not for.
 */
enum pp_result pp_user_map_enforce(const struct pp_config *cfg,
                                   const char *user,
                                   const struct pp_tokens *tokens,
                                   const struct pp_log *log);

#endif
