#include "usermap.h"

#include "jwt.h"
#include "passage.h"

#include <stdlib.h>
#include <string.h>

static bool line_maps(char *line, const char *user, const char *sub)
{
    char *save = NULL;
    char *local = strtok_r(line, " \t\r", &save);
    char *passage = local != NULL ? strtok_r(NULL, " \t\r", &save) : NULL;

    if (local == NULL || local[0] == '#' || passage == NULL)
        return false;
    return strcmp(local, user) == 0 && strcmp(passage, sub) == 0;
}

static bool map_lists(char *text, const char *user, const char *sub)
{
    char *save = NULL;

    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line_maps(line, user, sub))
            return true;
    }
    return false;
}

enum pp_result pp_user_map_check(const struct pp_config *cfg, const char *user,
                                 const char *sub, const struct pp_log *log)
{
    char *text = NULL;
    enum pp_result result;
    char shown[80];

    if (cfg->user_map == NULL)
        return PP_OK;

    result = pp_config_read_file(cfg->user_map, &text, true, log);
    if (result != PP_OK)
        return result == PP_ERR_NOMEM ? result : PP_ERR_CONFIG;

    if (sub[0] == '\0' || !map_lists(text, user, sub)) {
        pp_log_sanitize(sub, strlen(sub), shown, sizeof(shown));
        pp_log(log, LOG_WARNING,
               "Passage user \"%s\" is not listed for this account in %s",
               shown, cfg->user_map);
        result = PP_ERR_DENIED;
    }
    free(text);
    return result;
}

enum pp_result pp_user_map_enforce(const struct pp_config *cfg,
                                   const char *user,
                                   const struct pp_tokens *tokens,
                                   const struct pp_log *log)
{
    struct pp_jwt_claims claims;
    enum pp_result result;

    if (cfg->user_map == NULL)
        return PP_OK;

    if (pp_jwt_claims(tokens->auth_token, &claims) != PP_OK)
        claims.sub[0] = '\0';
    /* Unchecked is refused: the new chain must not outlive the login. */
    result = pp_user_map_check(cfg, user, claims.sub, log);
    if (result != PP_OK)
        pp_passage_revoke(cfg, log, tokens->refresh_token);
    return result;
}
