#include "keyring.h"

#include "identity.h"
#include "jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Everything for possessors and the owner, nothing for group and others. */
#define KEY_PERM 0x3f3f0000

static unsigned key_timeout(time_t expires)
{
    time_t left = expires - time(NULL);

    if (left < 1)
        return 1;
    return left > (time_t)UINT32_MAX ? UINT32_MAX : (unsigned)left;
}

/* "type;uid;gid;perm;description": the owner is the second field. */
static bool key_owner(key_serial_t key, uid_t *uid)
{
    char *desc = NULL;
    unsigned long owner;
    bool ok;

    if (keyctl_describe_alloc(key, &desc) < 0)
        return false;
    ok = sscanf(desc, "%*[^;];%lu;", &owner) == 1;
    free(desc);
    if (ok)
        *uid = (uid_t)owner;
    return ok;
}

enum pp_result pp_keyring_check_owner(uid_t uid, const struct pp_log *log)
{
    uid_t owner;

    if (!key_owner(KEY_SPEC_SESSION_KEYRING, &owner)) {
        pp_log(log, LOG_ERR, "cannot describe the session keyring: %s",
               strerror(errno));
        return PP_ERR_KEYRING;
    }
    if (owner != uid) {
        pp_log(log, LOG_ERR,
               "the session keyring belongs to uid %lu, not to uid %lu: "
               "refusing to install keys there (put \"session optional "
               "pam_keyinit.so force revoke\" before pam_passage)",
               (unsigned long)owner, (unsigned long)uid);
        return PP_ERR_KEYRING;
    }
    return PP_OK;
}

static key_serial_t add_user_key(const char *name, const char *payload,
                                 time_t expires)
{
    key_serial_t key = add_key("user", name, payload, strlen(payload),
                               KEY_SPEC_SESSION_KEYRING);

    if (key < 0)
        return -1;
    if (keyctl_setperm(key, KEY_PERM) < 0 ||
        (expires != 0 && keyctl_set_timeout(key, key_timeout(expires)) < 0)) {
        keyctl_invalidate(key);
        return -1;
    }
    return key;
}

/* Written at install and renewal, so status can tell even after exp. */
static key_serial_t set_info_key(const struct pp_tokens *tokens)
{
    struct pp_jwt_claims claims;
    char text[400];

    if (pp_jwt_claims(tokens->auth_token, &claims) != PP_OK)
        claims.sub[0] = '\0';
    snprintf(text, sizeof(text),
             "sub=%s\nauth_expires=%lld\n"
             "refresh_expires=%lld\n",
             claims.sub, (long long)tokens->auth_expires,
             (long long)tokens->refresh_expires);
    return add_user_key(PP_KEY_INFO, text, 0);
}

static void invalidate_keys(const struct pp_session_keys *keys)
{
    const key_serial_t all[] = {keys->auth, keys->refresh, keys->settings,
                                keys->info};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i] > 0)
            keyctl_invalidate(all[i]);
    }
}

static enum pp_result add_session_keys(const struct pp_tokens *tokens,
                                       const char *settings,
                                       struct pp_session_keys *keys,
                                       const struct pp_log *log)
{
    memset(keys, 0, sizeof(*keys));
    keys->auth =
        add_user_key(PP_KEY_AUTH, tokens->auth_token, tokens->auth_expires);
    if (keys->auth > 0)
        keys->refresh = add_user_key(PP_KEY_REFRESH, tokens->refresh_token,
                                     tokens->refresh_expires);
    if (keys->refresh > 0)
        keys->settings = add_user_key(PP_KEY_SETTINGS, settings, 0);
    if (keys->settings > 0)
        keys->info = set_info_key(tokens);
    if (keys->info > 0)
        return PP_OK;

    pp_log(log, LOG_ERR, "cannot add keys to the session keyring: %s",
           strerror(errno));
    invalidate_keys(keys);
    return PP_ERR_KEYRING;
}

static key_serial_t make_anchor(const struct pp_session_keys *keys)
{
    unsigned char random[4];
    char name[64];
    key_serial_t anchor;

    if (getrandom(random, sizeof(random), 0) != sizeof(random))
        return -1;
    snprintf(name, sizeof(name), "pam_passage:anchor:%02x%02x%02x%02x",
             random[0], random[1], random[2], random[3]);

    anchor = add_key("keyring", name, NULL, 0, KEY_SPEC_PROCESS_KEYRING);
    if (anchor < 0)
        return -1;
    if (keyctl_link(keys->auth, anchor) < 0 ||
        keyctl_link(keys->refresh, anchor) < 0 ||
        keyctl_link(keys->settings, anchor) < 0 ||
        keyctl_link(keys->info, anchor) < 0) {
        keyctl_invalidate(anchor);
        return -1;
    }
    return anchor;
}

/* Another user's keyring, or another login's keys: never ours to write. */
static enum pp_result check_keyring_is_free(uid_t uid,
                                            const struct pp_log *log)
{
    struct pp_session_keys keys;

    if (pp_keyring_check_owner(uid, log) != PP_OK)
        return PP_ERR_KEYRING;

    pp_keyring_find(&keys);
    if (keys.auth > 0 || keys.refresh > 0) {
        pp_log(log, LOG_ERR,
               "the session keyring already holds Passage "
               "tokens of another login: not replacing them");
        return PP_ERR_KEYRING;
    }
    return PP_OK;
}

enum pp_result pp_keyring_install(const struct pp_tokens *tokens,
                                  const char *settings, uid_t uid, gid_t gid,
                                  const struct pp_log *log,
                                  key_serial_t *anchor)
{
    struct pp_session_keys keys = {0};
    struct pp_identity saved;
    enum pp_result result;

    *anchor = 0;
    result = check_keyring_is_free(uid, log);
    if (result != PP_OK)
        return result;

    result = pp_identity_become(&saved, uid, gid, log);
    if (result == PP_OK)
        result = add_session_keys(tokens, settings, &keys, log);
    if (pp_identity_restore(&saved, log) != PP_OK)
        result = PP_ERR_SYSTEM;

    if (result == PP_OK) {
        *anchor = make_anchor(&keys);
        if (*anchor < 0) {
            pp_log(log, LOG_ERR, "cannot anchor the session's keys: %s",
                   strerror(errno));
            result = PP_ERR_KEYRING;
        }
    }

    if (result != PP_OK) {
        invalidate_keys(&keys);
        *anchor = 0;
    }
    return result;
}

enum pp_result pp_keyring_read(key_serial_t key, char **out)
{
    void *payload = NULL;
    int len = keyctl_read_alloc(key, &payload);

    *out = NULL;
    if (len < 0)
        return errno == ENOMEM ? PP_ERR_NOMEM : PP_ERR_NO_TOKEN;

    /* keyctl_read_alloc adds a NUL after the payload; refuse inner ones. */
    if (strlen(payload) != (size_t)len) {
        pp_wipe(payload, (size_t)len);
        free(payload);
        return PP_ERR_BAD_TOKEN;
    }
    *out = payload;
    return PP_OK;
}

enum pp_result pp_keyring_anchor_refresh(key_serial_t anchor,
                                         char **refresh_token)
{
    long key = keyctl_search(anchor, "user", PP_KEY_REFRESH, 0);
    enum pp_result result;

    *refresh_token = NULL;
    if (key < 0)
        return PP_ERR_NO_TOKEN;

    result = pp_keyring_read((key_serial_t)key, refresh_token);
    if (result == PP_OK && !pp_token_is_wellformed(*refresh_token)) {
        pp_secret_free(*refresh_token);
        *refresh_token = NULL;
        result = PP_ERR_BAD_TOKEN;
    }
    return result;
}

/* Every key the anchor links, expired ones too, then the anchor. */
void pp_keyring_anchor_drop(key_serial_t anchor)
{
    key_serial_t *linked = NULL;
    int len = keyctl_read_alloc(anchor, (void **)&linked);

    for (int i = 0; i < len / (int)sizeof(key_serial_t); i++)
        keyctl_invalidate(linked[i]);
    free(linked);
    keyctl_invalidate(anchor);
}

static key_serial_t find_key(const char *name)
{
    long key = keyctl_search(KEY_SPEC_SESSION_KEYRING, "user", name, 0);

    return key > 0 ? (key_serial_t)key : 0;
}

void pp_keyring_find(struct pp_session_keys *keys)
{
    keys->auth = find_key(PP_KEY_AUTH);
    keys->refresh = find_key(PP_KEY_REFRESH);
    keys->settings = find_key(PP_KEY_SETTINGS);
    keys->info = find_key(PP_KEY_INFO);
}

void pp_keyring_info(const struct pp_session_keys *keys,
                     struct pp_session_info *out)
{
    char *text = NULL;
    long long auth = 0, refresh = 0;

    memset(out, 0, sizeof(*out));
    if (keys->info <= 0 || pp_keyring_read(keys->info, &text) != PP_OK)
        return;

    if (sscanf(text, "sub=%255[^\n]\nauth_expires=%lld\nrefresh_expires=%lld",
               out->sub, &auth, &refresh) != 3 &&
        sscanf(text, "sub=\nauth_expires=%lld\nrefresh_expires=%lld", &auth,
               &refresh) != 2)
        auth = refresh = 0;
    out->auth_expires = (time_t)auth;
    out->refresh_expires = (time_t)refresh;
    free(text);
}

static enum pp_result update_refresh(key_serial_t key,
                                     const struct pp_tokens *tokens)
{
    const char *token = tokens->refresh_token;

    if (keyctl_update(key, token, strlen(token)) < 0)
        return PP_ERR_KEYRING;

    /* An update clears the timeout: set the new one, if any. */
    if (tokens->refresh_expires != 0 &&
        keyctl_set_timeout(key, key_timeout(tokens->refresh_expires)) < 0)
        return PP_ERR_KEYRING;
    return PP_OK;
}

enum pp_result pp_keyring_update(struct pp_session_keys *keys,
                                 const struct pp_tokens *tokens,
                                 const struct pp_log *log)
{
    key_serial_t auth;

    /* The refresh token first: it is the one that must never be lost. */
    if (update_refresh(keys->refresh, tokens) != PP_OK) {
        pp_log(log, LOG_ERR,
               "cannot store the new refresh token in the "
               "session keyring: %s",
               strerror(errno));
        return PP_ERR_KEYRING;
    }

    /*
     * The session holds the chain now; the auth token and the info only
     * save the next renewal or status some work (add_key updates an
     * existing key in place, expired or not).
     */
    auth = add_user_key(PP_KEY_AUTH, tokens->auth_token, tokens->auth_expires);
    if (auth > 0)
        keys->auth = auth;
    else
        pp_log(log, LOG_WARNING, "cannot store the new auth token: %s",
               strerror(errno));

    keys->info = set_info_key(tokens);
    if (keys->info < 0)
        pp_log(log, LOG_WARNING, "cannot store %s: %s", PP_KEY_INFO,
               strerror(errno));
    return PP_OK;
}

static void remove_keys(uid_t uid, bool destroy)
{
    static const char *const names[] = {PP_KEY_AUTH, PP_KEY_REFRESH,
                                        PP_KEY_SETTINGS, PP_KEY_INFO};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        key_serial_t key = find_key(names[i]);
        uid_t owner;

        if (key <= 0 || !key_owner(key, &owner) || owner != uid)
            continue;
        if (destroy)
            keyctl_invalidate(key);
        else
            keyctl_unlink(key, KEY_SPEC_SESSION_KEYRING);
    }
}

void pp_keyring_unlink(uid_t uid)
{
    remove_keys(uid, false);
}

void pp_keyring_destroy(uid_t uid)
{
    remove_keys(uid, true);
}
