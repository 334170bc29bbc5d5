#include "usermap.h"

#include "jwt.h"
#include "passage.h"

#include <stdlib.h>
#include <string.h>

enum pp_result pp_user_map_load(const struct pp_config *cfg,
                                struct pp_user_map *map,
                                const struct pp_log *log)
{
    enum pp_result result;

    map->text = NULL;
    if (cfg->user_map == NULL)
        return PP_OK;

    result = pp_config_read_file(cfg->user_map, &map->text, true, log);
    if (result != PP_OK)
        return result == PP_ERR_NOMEM ? result : PP_ERR_CONFIG;
    return PP_OK;
}

void pp_user_map_free(struct pp_user_map *map)
{
    free(map->text);
    map->text = NULL;
}

static bool line_maps(char *line, const char *user, const char *sub)
{
    char *save = NULL;
    char *local = strtok_r(line, " \t\r", &save);
    char *passage = local != NULL ? strtok_r(NULL, " \t\r", &save) : NULL;

    if (local == NULL || local[0] == '#' || passage == NULL)
        return false;
    return strcmp(local, user) == 0 && strcmp(passage, sub) == 0;
}

bool pp_user_map_lists(const char *text, const char *user, const char *sub)
{
    char *copy = strdup(text);
    char *save = NULL;
    bool found = false;

    if (copy == NULL || sub[0] == '\0') {
        free(copy);
        return false;
    }
    for (char *line = strtok_r(copy, "\n", &save); line && !found;
         line = strtok_r(NULL, "\n", &save))
        found = line_maps(line, user, sub);
    free(copy);
    return found;
}

enum pp_result pp_user_map_enforce(const struct pp_user_map *map,
                                   const struct pp_config *cfg,
                                   const char *user,
                                   const struct pp_tokens *tokens,
                                   const struct pp_log *log)
{
    struct pp_jwt_claims claims;
    char shown[80];

    if (map->text == NULL)
        return PP_OK;

    if (pp_jwt_claims(tokens->auth_token, &claims) != PP_OK)
        claims.sub[0] = '\0';
    if (pp_user_map_lists(map->text, user, claims.sub))
        return PP_OK;

    pp_log_sanitize(claims.sub, strlen(claims.sub), shown, sizeof(shown));
    pp_log(log, LOG_WARNING,
           "Passage user \"%s\" is not listed for this account in %s: "
           "revoking the new session",
           shown, cfg->user_map);
    pp_passage_revoke(cfg, log, tokens->refresh_token);
    return PP_ERR_DENIED;
}
