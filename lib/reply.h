/*
 * Reading the Passage API's JSON replies.
 */
#ifndef PP_REPLY_H
#define PP_REPLY_H

#include "result.h"
#include "secret.h"

#include <json-c/json.h>
#include <stddef.h>
#include <time.h>

/*
 * Reads {"auth_result": {"auth_token", "refresh_token"?,
 * "refresh_token_expiration"?}} into out.  The auth token must be a JWT
 * with an exp.  Without refresh_token, out->refresh_token stays NULL.  An
 * expiration above 10^9 is a Unix time, a smaller one seconds from now.
 * On failure *why says what was wrong, for the log.
 */
enum pp_result pp_reply_parse_tokens(const char *body, size_t len, time_t now,
                                     struct pp_tokens *out, const char **why);

/*
 * Reads {"code": "…", "error": "…"} from an error reply into code and
 * message, sanitised for logging; both are empty when absent.
 */
void pp_reply_parse_error(const char *body, size_t len, char *code,
                          size_t code_size, char *message,
                          size_t message_size);

/* Parses text that must be one JSON value and nothing after it. */
json_object *pp_json_parse_whole(const char *text, size_t len);

#endif
