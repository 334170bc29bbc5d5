#include "lifecycle.h"

#include "exchange.h"
#include "handoff.h"
#include "passage.h"
#include "prompt.h"
#include "secret.h"
#include "store.h"

#include <security/pam_ext.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * An earlier attempt in this transaction may have set the reference.  A
 * stored token's handoff is found again through the store's lease; the id
 * is kept for a typed token's, which only it names.
 */
static void forget_earlier_handoff(struct pp_ctx *ctx, char *earlier)
{
    const char *id = pam_getenv(ctx->pamh, PP_HANDOFF_ENV);

    earlier[0] = '\0';
    if (pp_handoff_id_is_valid(id))
        memcpy(earlier, id, PP_HANDOFF_ID_LEN + 1);
    if (id != NULL)
        pam_putenv(ctx->pamh, PP_HANDOFF_ENV);
}

static enum pp_result open_store(struct pp_ctx *ctx, struct pp_store *store,
                                 struct pp_entry *entry)
{
    return pp_store_open(store, pp_config_store(&ctx->cfg), ctx->pw,
                         pp_config_lock_wait(&ctx->cfg), false, &ctx->log,
                         entry);
}

static enum pp_result publish_handoff(struct pp_ctx *ctx, const char *id)
{
    char assignment[sizeof(PP_HANDOFF_ENV) + PP_HANDOFF_ID_LEN + 1];
    int rc;

    snprintf(assignment, sizeof(assignment), "%s=%s", PP_HANDOFF_ENV, id);
    rc = pam_putenv(ctx->pamh, assignment);
    if (rc != PAM_SUCCESS) {
        pp_log(&ctx->log, LOG_ERR, "cannot set %s: %s", PP_HANDOFF_ENV,
               pam_strerror(ctx->pamh, rc));
        return PP_ERR_SYSTEM;
    }
    return PP_OK;
}

/*
 * With a store, the new refresh token also waits there under a lease, so
 * that it is not lost if the session never opens.  When the lease cannot
 * be written (a full disk), the spent token must not stay either: the
 * entry goes and the handoff alone carries the chain.
 */
static enum pp_result lease_in_store(struct pp_ctx *ctx,
                                     struct pp_store *store, const char *id,
                                     const char *token, bool *leased)
{
    time_t until = time(NULL) + PP_HANDOFF_TTL;

    *leased = false;
    if (store == NULL)
        return PP_OK;
    if (pp_store_write(store, token, id, until) == PP_OK) {
        *leased = true;
        return PP_OK;
    }

    /* A spent token left in the store would be sent again. */
    if (pp_store_remove(store) != PP_OK) {
        pp_log(&ctx->log, LOG_ERR,
               "%s holds a spent token that cannot be "
               "replaced or removed",
               store->path);
        return PP_ERR_SYSTEM;
    }
    pp_log(&ctx->log, LOG_WARNING,
           "the new refresh token waits for the session only, not in %s",
           store->path);
    return PP_OK;
}

/* Nothing holds the new chain: end it rather than leave it valid. */
static void end_unheld_chain(struct pp_ctx *ctx, struct pp_store *store,
                             bool leased, const char *token)
{
    if (leased && pp_store_write(store, token, NULL, 0) == PP_OK)
        return;
    pp_passage_revoke(&ctx->cfg, &ctx->log, token);
}

/* The new tokens wait for the session in a handoff. */
static enum pp_result hand_off(struct pp_ctx *ctx, struct pp_store *store,
                               const struct pp_tokens *tokens)
{
    char id[PP_HANDOFF_ID_LEN + 1] = "";
    bool leased = false;
    enum pp_result result = pp_handoff_new_id(id);

    if (result != PP_OK)
        pp_log(&ctx->log, LOG_ERR, "no random bytes for a handoff id");

    if (result == PP_OK)
        result =
            lease_in_store(ctx, store, id, tokens->refresh_token, &leased);
    if (result == PP_OK)
        result = pp_handoff_put(id, ctx->login, tokens, leased, &ctx->log);
    if (result == PP_OK)
        result = publish_handoff(ctx, id);

    if (result != PP_OK) {
        pp_handoff_discard(id, ctx->login);
        end_unheld_chain(ctx, store, leased, tokens->refresh_token);
    }
    return result;
}

static enum pp_result exchange_stored(struct pp_ctx *ctx,
                                      struct pp_store *store,
                                      const struct pp_entry *entry)
{
    struct pp_tokens tokens = {0};
    enum pp_result result;

    result = pp_exchange_stored(ctx, store, entry, &tokens);
    if (result == PP_OK)
        result = hand_off(ctx, store, &tokens);

    pp_tokens_clear(&tokens);
    return result;
}

/*
 * The lease names a handoff that no session has claimed yet: an earlier
 * attempt of this user that failed later in the stack (sshd retries in a
 * new child that never sees the first one's PAM environment).  Its tokens
 * carry on in this attempt, without a second exchange.  A claimed or
 * expired handoff means a session is taking the token: this login waits.
 */
static enum pp_result take_over(struct pp_ctx *ctx, struct pp_store *store,
                                const struct pp_entry *entry)
{
    struct pp_tokens tokens = {0};
    bool from_store = false;
    enum pp_result result;

    result = pp_handoff_claim(entry->lease, ctx->login, &tokens, &from_store,
                              &ctx->log);
    if (result == PP_OK &&
        (!from_store || strcmp(tokens.refresh_token, entry->token) != 0))
        result = PP_ERR_NO_TOKEN;

    if (result == PP_OK) {
        pp_log(&ctx->log, LOG_NOTICE,
               "continuing an earlier authentication that did not reach "
               "its session: no new exchange");
        result = hand_off(ctx, store, &tokens);
    } else if (result == PP_ERR_NO_TOKEN) {
        pp_log(&ctx->log, LOG_WARNING,
               "another login is taking this user's token (for up to %lds "
               "more)",
               (long)(entry->lease_until - time(NULL)));
        result = PP_ERR_BUSY;
    }

    pp_tokens_clear(&tokens);
    return result;
}

/* The earlier attempt's typed token was exchanged: carry on with it. */
static enum pp_result continue_typed(struct pp_ctx *ctx, const char *earlier)
{
    struct pp_tokens tokens = {0};
    bool from_store = false;
    enum pp_result result = PP_ERR_NO_TOKEN;

    if (earlier[0] != '\0')
        result = pp_handoff_claim(earlier, ctx->login, &tokens, &from_store,
                                  &ctx->log);
    if (result == PP_OK)
        result = hand_off(ctx, NULL, &tokens);

    pp_tokens_clear(&tokens);
    return result;
}

static enum pp_result exchange_typed(struct pp_ctx *ctx)
{
    struct pp_tokens tokens = {0};
    char *token = NULL;
    enum pp_result result = pp_prompt_token(ctx, &token);

    if (result == PP_OK && !pp_token_is_wellformed(token)) {
        pp_log(&ctx->log, LOG_NOTICE,
               "the token given is empty, over %d bytes or not printable: "
               "not sent",
               PP_TOKEN_MAX);
        result = PP_ERR_BAD_TOKEN;
    }
    if (result == PP_OK)
        result = pp_exchange(ctx, token, &tokens);
    if (result == PP_OK)
        result = hand_off(ctx, NULL, &tokens);

    pp_tokens_clear(&tokens);
    pp_secret_free(token);
    return result;
}

/* The store has none: the person logging in may give one. */
static enum pp_result token_from_user(struct pp_ctx *ctx, const char *earlier)
{
    enum pp_result result = continue_typed(ctx, earlier);

    if (result == PP_OK)
        return result;

    result = exchange_typed(ctx);
    if (result == PP_ERR_NO_TOKEN)
        pp_log(&ctx->log, LOG_NOTICE, "no refresh token stored%s",
               ctx->cfg.prompt ? " and none given" : "");
    return result;
}

enum pp_result pp_authenticate(struct pp_ctx *ctx)
{
    struct pp_store store = PP_STORE_INIT;
    char earlier[PP_HANDOFF_ID_LEN + 1];
    struct pp_entry entry = {0};
    enum pp_result result;

    forget_earlier_handoff(ctx, earlier);

    result = open_store(ctx, &store, &entry);
    if (result == PP_OK && pp_entry_is_leased(&entry, time(NULL)))
        result = take_over(ctx, &store, &entry);
    else if (result == PP_OK && entry.token != NULL)
        result = exchange_stored(ctx, &store, &entry);
    pp_store_close(&store);

    if (result == PP_OK && entry.token == NULL)
        result = token_from_user(ctx, earlier);

    pp_entry_clear(&entry);
    return result;
}
