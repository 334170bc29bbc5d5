/*
 * The token lifecycle, one step per PAM entry point: authenticate
 * exchanges the stored (or typed) token and reserves the new one for this
 * login's session, the session holds the chain, close revokes it or puts
 * it back.
 */
#ifndef PP_LIFECYCLE_H
#define PP_LIFECYCLE_H

#include "context.h"

/*
 * Exchanges the user's stored (or typed) refresh token and hands the new
 * tokens to this login's session.  PP_OK only after a real exchange, in
 * this attempt or in an earlier one of the same login that it carries on.
 */
enum pp_result pp_authenticate(struct pp_ctx *ctx);

/* True when authentication in this login left tokens for the session. */
bool pp_session_has_handoff(struct pp_ctx *ctx);

/*
 * Installs the handed-off tokens in the session keyring, or with
 * session_exchange and no handoff, exchanges the stored token first.
 */
enum pp_result pp_session_open(struct pp_ctx *ctx);

/* True when this transaction's open_session installed tokens. */
bool pp_session_is_ours(struct pp_ctx *ctx);

/* Revokes or keeps the session's current refresh token; drops the keys. */
enum pp_result pp_session_close(struct pp_ctx *ctx);

/*
 * PAM_DELETE_CRED: unlinks from the session keyring the keys that this
 * transaction installed, and no others.  The anchor keeps them, so close
 * still revokes or keeps the refresh token.
 */
enum pp_result pp_session_delete_keys(struct pp_ctx *ctx);

/*
 * PAM_REFRESH_CRED, PAM_REINITIALIZE_CRED: renews the auth token of an
 * open session when it expires within PP_RENEW_MARGIN seconds, and only
 * in the user's own session keyring.
 */
enum pp_result pp_session_refresh(struct pp_ctx *ctx);

#endif
