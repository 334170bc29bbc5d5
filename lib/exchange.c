#include "exchange.h"

#include "passage.h"
#include "usermap.h"

/* The map is read first: one that cannot be read spends no token. */
static enum pp_result exchange_checked(struct pp_ctx *ctx, const char *token,
                                       struct pp_tokens *out, bool *spent)
{
    struct pp_user_map map;
    enum pp_result result = pp_user_map_load(&ctx->cfg, &map, &ctx->log);

    *spent = false;
    if (result == PP_OK)
        result = pp_passage_refresh(&ctx->cfg, &ctx->log, token, out);
    if (result == PP_OK) {
        result =
            pp_user_map_enforce(&map, &ctx->cfg, ctx->user, out, &ctx->log);
        *spent = result != PP_OK;
    }
    if (result != PP_OK)
        pp_tokens_clear(out);
    pp_user_map_free(&map);
    return result;
}

enum pp_result pp_exchange(struct pp_ctx *ctx, const char *token,
                           struct pp_tokens *out)
{
    bool spent;

    return exchange_checked(ctx, token, out, &spent);
}

static void remove_dead_entry(struct pp_ctx *ctx, struct pp_store *store)
{
    pp_log(&ctx->log, LOG_WARNING,
           "the stored refresh token can never work again: %s %s",
           pp_store_remove(store) == PP_OK ? "removed" : "could not remove",
           store->path);
}

enum pp_result pp_exchange_stored(struct pp_ctx *ctx, struct pp_store *store,
                                  const struct pp_entry *entry,
                                  struct pp_tokens *out)
{
    bool spent;
    enum pp_result result = exchange_checked(ctx, entry->token, out, &spent);

    /* Rejected, or rotated away with its successor revoked. */
    if (result == PP_ERR_REJECTED || spent)
        remove_dead_entry(ctx, store);
    return result;
}
