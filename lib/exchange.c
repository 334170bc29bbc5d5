#include "exchange.h"

#include "passage.h"
#include "usermap.h"

enum pp_result pp_exchange(struct pp_ctx *ctx, const char *token,
                           struct pp_tokens *out)
{
    enum pp_result result;

    result = pp_passage_refresh(&ctx->cfg, &ctx->log, token, out);
    if (result == PP_OK)
        result = pp_user_map_enforce(&ctx->cfg, ctx->user, out, &ctx->log);
    if (result != PP_OK)
        pp_tokens_clear(out);
    return result;
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
    enum pp_result result;

    result = pp_passage_refresh(&ctx->cfg, &ctx->log, entry->token, out);
    if (result == PP_ERR_REJECTED)
        remove_dead_entry(ctx, store);
    if (result != PP_OK)
        return result;

    /* The entry's token was rotated away and its successor revoked. */
    result = pp_user_map_enforce(&ctx->cfg, ctx->user, out, &ctx->log);
    if (result != PP_OK)
        remove_dead_entry(ctx, store);
    if (result != PP_OK)
        pp_tokens_clear(out);
    return result;
}
