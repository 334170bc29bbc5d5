/*
 * Which Passage users may open which local accounts.
 *
 * user_map=FILE names a root-owned file of "LOCAL_USER PASSAGE_USER" lines
 * (the Passage user being the auth token's sub), with # comments.  When it
 * is set, every exchange must name a Passage user listed for the account
 * being opened; it must be set when the token may come from the person
 * logging in, since such a token could belong to anyone.  The map is read
 * before the exchange, so that a map that cannot be read spends nothing.
 */
#ifndef PP_USERMAP_H
#define PP_USERMAP_H

#include "config.h"
#include "log.h"
#include "result.h"
#include "secret.h"

#include <stdbool.h>

struct pp_user_map {
    char *text; /* NULL when no map is configured */
};

/* Reads the configured map; PP_ERR_CONFIG when it fails the checks. */
enum pp_result pp_user_map_load(const struct pp_config *cfg,
                                struct pp_user_map *map,
                                const struct pp_log *log);

void pp_user_map_free(struct pp_user_map *map);

/* True when a line of the map's text lets sub open user's account. */
bool pp_user_map_lists(const char *text, const char *user, const char *sub);

/*
 * Checks the Passage user of freshly exchanged tokens against a loaded
 * map (PP_OK without one).  On a mismatch the new refresh token is revoked
 * at once: nobody may keep a session the login was not for.
 */
enum pp_result pp_user_map_enforce(const struct pp_user_map *map,
                                   const struct pp_config *cfg,
                                   const char *user,
                                   const struct pp_tokens *tokens,
                                   const struct pp_log *log);

#endif
