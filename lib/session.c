#include "lifecycle.h"

#include "exchange.h"
#include "handoff.h"
#include "keyring.h"
#include "passage.h"
#include "renew.h"
#include "secret.h"
#include "store.h"

#include <security/pam_ext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* pam_set_data name of the anchor keyring of this transaction's session. */
#define ANCHOR_DATA "pam_passage_anchor"

/* Cleanup only frees: sshd's forked children end their handles too. */
static void free_anchor(pam_handle_t *pamh, void *data, int status)
{
    (void)pamh;
    (void)status;
    free(data);
}

static enum pp_result remember_anchor(struct pp_ctx *ctx, key_serial_t key)
{
    key_serial_t *data = malloc(sizeof(*data));

    if (data == NULL)
        return PP_ERR_NOMEM;
    *data = key;
    if (pam_set_data(ctx->pamh, ANCHOR_DATA, data, free_anchor) !=
        PAM_SUCCESS) {
        pp_log(&ctx->log, LOG_ERR, "cannot remember the session's keys");
        free(data);
        return PP_ERR_SYSTEM;
    }
    return PP_OK;
}

static key_serial_t anchor_of(struct pp_ctx *ctx)
{
    const void *data = NULL;

    if (pam_get_data(ctx->pamh, ANCHOR_DATA, &data) != PAM_SUCCESS ||
        data == NULL)
        return 0;
    return *(const key_serial_t *)data;
}

bool pp_session_has_handoff(struct pp_ctx *ctx)
{
    return pam_getenv(ctx->pamh, PP_HANDOFF_ENV) != NULL;
}

bool pp_session_is_ours(struct pp_ctx *ctx)
{
    return anchor_of(ctx) > 0;
}

static enum pp_result install(struct pp_ctx *ctx,
                              const struct pp_tokens *tokens)
{
    char *settings = pp_config_session_text(&ctx->cfg);
    key_serial_t anchor = 0;
    enum pp_result result;

    if (settings == NULL)
        return PP_ERR_NOMEM;

    result = pp_keyring_install(tokens, settings, ctx->pw->pw_uid,
                                ctx->pw->pw_gid, &ctx->log, &anchor);
    free(settings);
    if (result == PP_OK)
        result = remember_anchor(ctx, anchor);
    if (result != PP_OK && anchor > 0)
        pp_keyring_anchor_drop(anchor);
    if (result != PP_OK)
        return result;

    /* Renewals in the session lock there: a place nobody else can take. */
    pp_renew_make_lock_dir(ctx->pw->pw_uid, ctx->pw->pw_gid, &ctx->log);
    pp_log(&ctx->log, LOG_DEBUG, "keys anchored in keyring %d", anchor);
    pp_log(&ctx->log, LOG_INFO,
           "tokens installed in the session keyring; auth token valid "
           "for %lds",
           (long)(tokens->auth_expires - time(NULL)));
    return result;
}

static enum pp_result open_store(struct pp_ctx *ctx, struct pp_store *store,
                                 bool create_dir, struct pp_entry *entry)
{
    return pp_store_open(store, pp_config_store(&ctx->cfg), ctx->pw,
                         pp_config_lock_wait(&ctx->cfg), create_dir, &ctx->log,
                         entry);
}

/* The store's lease must still be ours, and its token the one handed off. */
static enum pp_result check_lease(struct pp_ctx *ctx,
                                  const struct pp_entry *entry, const char *id,
                                  const struct pp_tokens *tokens)
{
    if (entry->token != NULL && strcmp(entry->lease, id) == 0 &&
        strcmp(entry->token, tokens->refresh_token) == 0)
        return PP_OK;

    pp_log(&ctx->log, LOG_ERR,
           "the store no longer holds this login's "
           "token: its lease ran out and another login "
           "took it");
    return PP_ERR_BUSY;
}

/* Moves the chain from the store's lease to the session keyring. */
static enum pp_result install_leased(struct pp_ctx *ctx, const char *id,
                                     const struct pp_tokens *tokens)
{
    struct pp_store store = PP_STORE_INIT;
    struct pp_entry entry = {0};
    enum pp_result result = open_store(ctx, &store, false, &entry);

    if (result == PP_OK)
        result = check_lease(ctx, &entry, id, tokens);
    if (result == PP_OK) {
        result = install(ctx, tokens);
        if (result == PP_OK)
            result = pp_store_remove(&store);
        else if (pp_store_write(&store, tokens->refresh_token, NULL, 0) ==
                 PP_OK)
            pp_log(&ctx->log, LOG_NOTICE, "refresh token left in %s",
                   store.path);
    }

    pp_entry_clear(&entry);
    pp_store_close(&store);
    return result;
}

/* A typed token's chain has no other holder: end it, never leave it. */
/*
 * A stored token's failure leaves it in the store, without its lease.  A
 * typed token's chain has no other holder: end it, never leave it.
 */
static enum pp_result install_claimed(struct pp_ctx *ctx, const char *id,
                                      const struct pp_tokens *tokens,
                                      bool from_store)
{
    enum pp_result result;

    if (from_store)
        return install_leased(ctx, id, tokens);

    result = install(ctx, tokens);
    if (result != PP_OK)
        pp_passage_revoke(&ctx->cfg, &ctx->log, tokens->refresh_token);
    return result;
}

static enum pp_result open_from_handoff(struct pp_ctx *ctx)
{
    const char *value = pam_getenv(ctx->pamh, PP_HANDOFF_ENV);
    char id[PP_HANDOFF_ID_LEN + 1] = "";
    struct pp_tokens tokens = {0};
    bool from_store = false;
    enum pp_result result = PP_OK;

    if (!pp_handoff_id_is_valid(value)) {
        pp_log(&ctx->log, LOG_ERR, "%s is not a handoff id", PP_HANDOFF_ENV);
        result = PP_ERR_NO_TOKEN;
    } else {
        memcpy(id, value, sizeof(id));
    }

    /* The PAM environment becomes the user's: the reference goes now. */
    pam_putenv(ctx->pamh, PP_HANDOFF_ENV);

    if (result == PP_OK) {
        result =
            pp_handoff_claim(id, ctx->login, &tokens, &from_store, &ctx->log);
        if (result == PP_ERR_NO_TOKEN)
            pp_log(&ctx->log, LOG_ERR,
                   "the tokens from authentication are gone (expired after "
                   "%ds, or taken over by a later attempt)",
                   PP_HANDOFF_TTL);
    }
    if (result == PP_OK)
        result = install_claimed(ctx, id, &tokens, from_store);

    pp_tokens_clear(&tokens);
    return result;
}

/* The stored token is exchanged here because authentication did not run. */
static enum pp_result exchange_into_session(struct pp_ctx *ctx,
                                            struct pp_store *store,
                                            const struct pp_entry *entry)
{
    struct pp_tokens tokens = {0};
    enum pp_result result;

    result = pp_exchange_stored(ctx, store, entry, &tokens);
    if (result != PP_OK)
        return result;

    result = install(ctx, &tokens);
    if (result == PP_OK)
        result = pp_store_remove(store);
    else if (pp_store_write(store, tokens.refresh_token, NULL, 0) == PP_OK)
        pp_log(&ctx->log, LOG_NOTICE, "refresh token left in %s", store->path);

    pp_tokens_clear(&tokens);
    return result;
}

static enum pp_result open_with_exchange(struct pp_ctx *ctx)
{
    struct pp_store store = PP_STORE_INIT;
    struct pp_entry entry = {0};
    enum pp_result result;

    /* No request at all when the keys could not be installed anyway. */
    result = pp_keyring_check_owner(ctx->pw->pw_uid, &ctx->log);
    if (result == PP_OK)
        result = open_store(ctx, &store, false, &entry);
    if (result == PP_OK && pp_entry_is_leased(&entry, time(NULL))) {
        pp_log(&ctx->log, LOG_WARNING,
               "another login is taking this "
               "user's token");
        result = PP_ERR_BUSY;
    }
    if (result == PP_OK && entry.token == NULL) {
        pp_log(&ctx->log, LOG_NOTICE, "no refresh token stored");
        result = PP_ERR_NO_TOKEN;
    }
    if (result == PP_OK)
        result = exchange_into_session(ctx, &store, &entry);

    pp_entry_clear(&entry);
    pp_store_close(&store);
    return result;
}

enum pp_result pp_session_open(struct pp_ctx *ctx)
{
    if (pp_session_has_handoff(ctx))
        return open_from_handoff(ctx);
    return open_with_exchange(ctx);
}

static enum pp_result keep_in_store(struct pp_ctx *ctx, const char *token)
{
    struct pp_store store = PP_STORE_INIT;
    struct pp_entry entry = {0};
    enum pp_result result = open_store(ctx, &store, true, &entry);

    /* A token deposited during the session is newer: never replace it. */
    if (result == PP_OK && entry.token != NULL) {
        pp_log(&ctx->log, LOG_NOTICE,
               "%s received a token during the session: revoking the "
               "session's token instead of keeping it",
               store.path);
        result = PP_ERR_EXISTS;
    }
    if (result == PP_OK)
        result = pp_store_write(&store, token, NULL, 0);
    if (result == PP_OK)
        pp_log(&ctx->log, LOG_INFO, "session's refresh token kept in %s",
               store.path);

    pp_entry_clear(&entry);
    pp_store_close(&store);
    return result;
}

/* The chain ends with the session, or waits in the store for the next. */
static enum pp_result end_chain(struct pp_ctx *ctx, const char *token)
{
    if (ctx->cfg.on_close == PP_ON_CLOSE_KEEP &&
        keep_in_store(ctx, token) == PP_OK)
        return PP_OK;

    /* A token nobody holds must not stay valid: revoke what is not kept. */
    return pp_passage_revoke(&ctx->cfg, &ctx->log, token);
}

/* Reads the anchored refresh token and ends its chain. */
static enum pp_result close_chain(struct pp_ctx *ctx, key_serial_t anchor)
{
    char *token = NULL;
    char fp[9];
    enum pp_result result = pp_keyring_anchor_refresh(anchor, &token);

    /* Only "passage-token revoke" or a rejected renewal destroy the keys. */
    if (result == PP_ERR_NO_TOKEN) {
        pp_log(&ctx->log, LOG_INFO,
               "the session's Passage session already "
               "ended: nothing to revoke");
        return PP_OK;
    }
    if (result != PP_OK) {
        pp_log(&ctx->log, LOG_ERR,
               "cannot read the session's refresh token: "
               "%s",
               pp_strerror(result));
        return result;
    }

    result = end_chain(ctx, token);
    if (result != PP_OK) {
        pp_token_fingerprint(token, fp);
        pp_log(&ctx->log, LOG_ERR,
               "refresh token %s was not revoked: it "
               "stays valid until it expires",
               fp);
    }
    pp_secret_free(token);
    return result;
}

enum pp_result pp_session_close(struct pp_ctx *ctx)
{
    key_serial_t anchor = anchor_of(ctx);
    enum pp_result result;
    int lock;

    /* A renewal in the session must not rotate the token we end. */
    lock = pp_renew_lock(ctx->pw->pw_uid, ctx->pw->pw_gid,
                         pp_config_lock_wait(&ctx->cfg), &ctx->log);
    result = close_chain(ctx, anchor);

    pp_keyring_anchor_drop(anchor);
    pp_renew_unlock(lock);
    pam_set_data(ctx->pamh, ANCHOR_DATA, NULL, NULL);
    return result;
}

/* Only this transaction's keys: another session's are not ours to take. */
enum pp_result pp_session_delete_keys(struct pp_ctx *ctx)
{
    if (pp_session_is_ours(ctx))
        pp_keyring_unlink(ctx->pw->pw_uid);
    return PP_OK;
}

enum pp_result pp_session_refresh(struct pp_ctx *ctx)
{
    char *auth = NULL;
    enum pp_result result;

    /* sudo -u alice run by bob still has bob's keyring: not alice's keys. */
    if (pp_keyring_check_owner(ctx->pw->pw_uid, &ctx->log) != PP_OK)
        return PP_OK;

    result = pp_renew(&ctx->cfg, &ctx->log, ctx->pw->pw_uid, ctx->pw->pw_gid,
                      PP_RENEW_MARGIN, &auth);
    pp_secret_free(auth);
    return result == PP_ERR_NO_TOKEN ? PP_OK : result;
}
