/*
 * The Passage tokens API over libcurl: refresh and revoke.
 *
 * Every request is HTTPS with verification on, bounded by the configured
 * timeouts, never redirected, never proxied unless proxy= says so, and
 * never retried once it may have reached the server.
 */
#ifndef PP_PASSAGE_H
#define PP_PASSAGE_H

#include "config.h"
#include "log.h"
#include "result.h"
#include "secret.h"

/* Replies larger than this are refused. */
#define PP_REPLY_MAX (64 * 1024)

/*
 * Exchanges refresh_token for new tokens.  When the reply carries no new
 * refresh token, out->refresh_token is a copy of the one sent.
 */
enum pp_result pp_passage_refresh(const struct pp_config *cfg,
                                  const struct pp_log *log,
                                  const char *refresh_token,
                                  struct pp_tokens *out);

/* Revokes refresh_token, ending its Passage session. */
enum pp_result pp_passage_revoke(const struct pp_config *cfg,
                                 const struct pp_log *log,
                                 const char *refresh_token);

/* RFC 3986 percent-encoding of everything but unreserved characters. */
char *pp_percent_encode(const char *text);

/* {api}/apps/{app_id}/tokens; with a token, ?refresh_token={token}. */
char *pp_tokens_url(const char *api_url, const char *app_id,
                    const char *refresh_token);

#endif
