/*
 * One exchange of a refresh token, with everything that follows from the
 * answer: shared by authentication and by session_exchange.
 */
#ifndef PP_EXCHANGE_H
#define PP_EXCHANGE_H

#include "context.h"
#include "secret.h"
#include "store.h"

/*
 * Exchanges token and checks that the Passage user may open this account
 * (user_map).  out is filled only on PP_OK.
 */
enum pp_result pp_exchange(struct pp_ctx *ctx, const char *token,
                           struct pp_tokens *out);

/*
 * pp_exchange of the store entry's token.  When the answer means the
 * entry can never work again (400, 401, or a Passage user the map refuses,
 * whose new token is revoked) the entry is removed.
 */
enum pp_result pp_exchange_stored(struct pp_ctx *ctx, struct pp_store *store,
                                  const struct pp_entry *entry,
                                  struct pp_tokens *out);

#endif
