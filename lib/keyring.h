/*
 * The session keyring: where a login's tokens live while it lasts.
 *
 * Four "user" keys in the session keyring, owned by the user, with every
 * right for possessors and the owner and none for anyone else:
 *   passage:auth_token     the JWT; the kernel drops it at the JWT's exp
 *   passage:refresh_token  the chain's current refresh token
 *   passage:info           the user (the JWT's sub) and both expiry times,
 *                          for passage-token status; no secret
 *   passage:settings       app id, API URL, CA file and timeouts for renewal
 *
 * The module also links them into an anchor keyring in its own process
 * keyring, which the user's shell does not inherit and which pam_keyinit's
 * revoke does not reach, so close_session still finds the current refresh
 * token.
 */
#ifndef PP_KEYRING_H
#define PP_KEYRING_H

#include "log.h"
#include "result.h"
#include "secret.h"

#include <keyutils.h>
#include <sys/types.h>
#include <time.h>

#define PP_KEY_AUTH "passage:auth_token"
#define PP_KEY_REFRESH "passage:refresh_token"
#define PP_KEY_INFO "passage:info"
#define PP_KEY_SETTINGS "passage:settings"

struct pp_session_keys {
    key_serial_t auth;     /* 0 when absent or expired */
    key_serial_t refresh;  /* 0 when absent */
    key_serial_t settings; /* 0 when absent */
    key_serial_t info;     /* 0 when absent */
};

/* What passage:info says about the session's tokens. */
struct pp_session_info {
    char sub[256];          /* empty when unknown */
    time_t auth_expires;    /* 0 when unknown */
    time_t refresh_expires; /* 0 when unknown */
};

/* PP_ERR_KEYRING unless the session keyring belongs to uid. */
enum pp_result pp_keyring_check_owner(uid_t uid, const struct pp_log *log);

/*
 * Adds the keys to the session keyring as uid/gid, and links them into a
 * new anchor keyring in the process keyring; *anchor names it.  Refuses a
 * session keyring of another user, or one that holds another login's keys.
 */
enum pp_result pp_keyring_install(const struct pp_tokens *tokens,
                                  const char *settings, uid_t uid, gid_t gid,
                                  const struct pp_log *log,
                                  key_serial_t *anchor);

/* The refresh token the anchor holds now; the caller frees it. */
enum pp_result pp_keyring_anchor_refresh(key_serial_t anchor,
                                         char **refresh_token);

/* Invalidates the anchored keys and the anchor itself. */
void pp_keyring_anchor_drop(key_serial_t anchor);

/* Finds the keys in the caller's session keyring. */
void pp_keyring_find(struct pp_session_keys *keys);

/* Reads passage:info; fields stay empty or 0 when it is missing. */
void pp_keyring_info(const struct pp_session_keys *keys,
                     struct pp_session_info *out);

/* Reads a key's payload as a string; the caller frees it with care. */
enum pp_result pp_keyring_read(key_serial_t key, char **out);

/*
 * Stores renewed tokens: the refresh key is updated in place, so every
 * holder of it (the module's anchor too) sees the new token.  Fails only
 * when the refresh token could not be stored; the others are logged.
 */
enum pp_result pp_keyring_update(struct pp_session_keys *keys,
                                 const struct pp_tokens *tokens,
                                 const struct pp_log *log);

/*
 * Unlinks the keys that uid owns from the session keyring.  The module's
 * anchor keeps them, so close still revokes or keeps the refresh token.
 */
void pp_keyring_unlink(uid_t uid);

/* Destroys the keys that uid owns, wherever they are linked. */
void pp_keyring_destroy(uid_t uid);

#endif
