/*
 * Renewing a session's auth token from its refresh token, in the session
 * keyring, by passage-token and by pam_setcred(PAM_REFRESH_CRED).
 *
 * Everything that reads or rotates the session's refresh token (renewal,
 * close_session, passage-token revoke) holds one lock per user, a file in
 * a directory only the user can write: the one the module makes at session
 * open, PP_RUN_DIR/UID, else /run/user/UID, else /tmp/passage-token-UID.
 * A renewal reads the auth token again under the lock, so two programs
 * that find it expired at once make one request and print the same token.
 */
#ifndef PP_RENEW_H
#define PP_RENEW_H

#include "config.h"
#include "keyring.h"
#include "log.h"
#include "result.h"

#include <sys/types.h>

#define PP_RUN_DIR "/run/pam_passage"

/* Renew when the auth token expires within this many seconds. */
#define PP_RENEW_MARGIN 30

/*
 * Puts a valid auth token in *auth: the current one when it stays valid for
 * more than min_valid seconds, else a renewed one.  Keys are written as
 * uid/gid.  PP_ERR_NO_TOKEN when the session keyring has no refresh token.
 * cfg may be NULL: then the settings come from the session keyring, which
 * the user can change, so the module always passes its own.
 */
enum pp_result pp_renew(const struct pp_config *cfg, const struct pp_log *log,
                        uid_t uid, gid_t gid, long min_valid, char **auth);

/*
 * Takes the user's lock as uid/gid, waiting at most wait seconds: a
 * descriptor, or -1 (logged).
 */
int pp_renew_lock(uid_t uid, gid_t gid, long wait, const struct pp_log *log);

void pp_renew_unlock(int lock);

/* Makes PP_RUN_DIR/UID for the user's lock; root only, at session open. */
enum pp_result pp_renew_make_lock_dir(uid_t uid, gid_t gid,
                                      const struct pp_log *log);

/* The settings the module left in the session keyring, as they are. */
enum pp_result pp_keyring_settings(const struct pp_session_keys *keys,
                                   struct pp_config *cfg,
                                   const struct pp_log *log);

/* The same, checked for use in a request. */
enum pp_result pp_renew_settings(const struct pp_session_keys *keys,
                                 struct pp_config *cfg,
                                 const struct pp_log *log);

#endif
