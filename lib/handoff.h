/*
 * Carrying the tokens from authentication to the session.
 *
 * sshd authenticates in a forked child, so pam_set_data never reaches
 * open_session; only the PAM environment does.  The tokens therefore wait
 * in a key that only root can use, in root's user keyring, which the
 * kernel destroys after PP_HANDOFF_TTL seconds if nobody claims it.  The
 * PAM environment carries only its id.  A handoff is made for one login,
 * named "user@remote-host" (ctx->login), and serves no other.
 */
#ifndef PP_HANDOFF_H
#define PP_HANDOFF_H

#include "log.h"
#include "result.h"
#include "secret.h"
#include "store.h"

#define PP_HANDOFF_ENV "PAM_PASSAGE_HANDOFF"
#define PP_HANDOFF_TTL PP_LEASE_SECONDS
#define PP_HANDOFF_ID_LEN 32

/* Makes a new random id: PP_HANDOFF_ID_LEN hex digits. */
enum pp_result pp_handoff_new_id(char id[PP_HANDOFF_ID_LEN + 1]);

/* True when text looks like an id pp_handoff_new_id made. */
bool pp_handoff_id_is_valid(const char *text);

/* from_store: the chain's refresh token also waits, leased, in the store. */
enum pp_result pp_handoff_put(const char *id, const char *login,
                              const struct pp_tokens *tokens, bool from_store,
                              const struct pp_log *log);

/*
 * Reads the tokens and destroys the key: a handoff is claimed once.
 * PP_ERR_NO_TOKEN, unlogged, when it is gone (claimed or expired).
 */
enum pp_result pp_handoff_claim(const char *id, const char *login,
                                struct pp_tokens *out, bool *from_store,
                                const struct pp_log *log);

/* Destroys a handoff nobody will claim; quiet when it is already gone. */
void pp_handoff_discard(const char *id, const char *login);

#endif
