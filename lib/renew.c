#include "renew.h"

#include "identity.h"
#include "jwt.h"
#include "passage.h"
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_POLL_NS (50 * 1000 * 1000)

/* A directory that only uid can write, or -1. */
static int open_owned_dir(const char *path, uid_t uid, mode_t forbidden)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || st.st_uid != uid ||
        (st.st_mode & forbidden) != 0) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

/*
 * The first directory that only the user can write: the one the module
 * makes at session open (in /run, where nobody else can squat its name,
 * and there for the whole session), systemd's, or one in /tmp for
 * sessions the module did not open.
 */
static int open_lock_dir(uid_t uid)
{
    char path[64];
    int fd;

    snprintf(path, sizeof(path), PP_RUN_DIR "/%lu", (unsigned long)uid);
    fd = open_owned_dir(path, uid, S_IRWXG | S_IRWXO);
    if (fd >= 0)
        return fd;

    snprintf(path, sizeof(path), "/run/user/%lu", (unsigned long)uid);
    fd = open_owned_dir(path, uid, S_IWGRP | S_IWOTH);
    if (fd >= 0)
        return fd;

    snprintf(path, sizeof(path), "/tmp/passage-token-%lu", (unsigned long)uid);
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    return open_owned_dir(path, uid, S_IRWXG | S_IRWXO);
}

enum pp_result pp_renew_make_lock_dir(uid_t uid, gid_t gid,
                                      const struct pp_log *log)
{
    char path[64];
    int fd;

    snprintf(path, sizeof(path), PP_RUN_DIR "/%lu", (unsigned long)uid);
    if ((mkdir(PP_RUN_DIR, 0755) != 0 && errno != EEXIST) ||
        (mkdir(path, 0700) != 0 && errno != EEXIST)) {
        pp_log(log, LOG_WARNING, "cannot make %s: %s", path, strerror(errno));
        return PP_ERR_SYSTEM;
    }

    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchown(fd, uid, gid) != 0 || fchmod(fd, 0700) != 0) {
        pp_log(log, LOG_WARNING, "cannot give %s to uid %lu: %s", path,
               (unsigned long)uid, strerror(errno));
        if (fd >= 0)
            close(fd);
        return PP_ERR_SYSTEM;
    }
    close(fd);
    return PP_OK;
}

static int open_lock(uid_t uid, const struct pp_log *log)
{
    int dir = open_lock_dir(uid);
    int fd = -1;

    if (dir >= 0) {
        fd = openat(dir, "passage-token.lock",
                    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        close(dir);
    }
    if (fd < 0)
        pp_log(log, LOG_ERR, "cannot open the renewal lock: %s",
               strerror(errno));
    return fd;
}

int pp_renew_lock(uid_t uid, gid_t gid, long wait, const struct pp_log *log)
{
    const struct timespec poll = {0, LOCK_POLL_NS};
    struct pp_identity saved;
    int fd = -1;

    if (pp_identity_become(&saved, uid, gid, log) == PP_OK)
        fd = open_lock(uid, log);
    if (pp_identity_restore(&saved, log) != PP_OK && fd >= 0) {
        close(fd);
        return -1;
    }

    for (int tries = 0; fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0;
         tries++) {
        if ((errno != EWOULDBLOCK && errno != EINTR) ||
            tries >= wait * (1000000000L / LOCK_POLL_NS)) {
            pp_log(log, LOG_ERR, "cannot take the renewal lock: %s",
                   strerror(errno));
            close(fd);
            return -1;
        }
        nanosleep(&poll, NULL);
    }
    return fd;
}

enum pp_result pp_keyring_settings(const struct pp_session_keys *keys,
                                   struct pp_config *cfg,
                                   const struct pp_log *log)
{
    char *text = NULL;
    enum pp_result result = PP_ERR_NO_TOKEN;

    if (keys->settings > 0)
        result = pp_keyring_read(keys->settings, &text);
    if (result != PP_OK) {
        pp_log(log, LOG_ERR, "the session keyring has no %s key",
               PP_KEY_SETTINGS);
        return result;
    }

    result = pp_config_parse_text(cfg, text, PP_KEY_SETTINGS, log);
    free(text);
    return result;
}

enum pp_result pp_renew_settings(const struct pp_session_keys *keys,
                                 struct pp_config *cfg,
                                 const struct pp_log *log)
{
    enum pp_result result = pp_keyring_settings(keys, cfg, log);

    if (result == PP_OK)
        result = pp_config_validate(cfg, log);
    return result;
}

/* The auth token in the keyring, when it stays valid long enough. */
static char *current_auth(const struct pp_session_keys *keys, long min_valid)
{
    struct pp_jwt_claims claims;
    char *auth = NULL;

    if (keys->auth <= 0 || pp_keyring_read(keys->auth, &auth) != PP_OK)
        return NULL;

    if (pp_jwt_claims(auth, &claims) == PP_OK &&
        claims.exp - time(NULL) > min_valid)
        return auth;

    pp_secret_free(auth);
    return NULL;
}

static enum pp_result store_renewed(struct pp_session_keys *keys,
                                    const struct pp_tokens *tokens, uid_t uid,
                                    gid_t gid, const struct pp_log *log)
{
    struct pp_identity saved;
    enum pp_result result = pp_identity_become(&saved, uid, gid, log);

    if (result == PP_OK)
        result = pp_keyring_update(keys, tokens, log);
    if (pp_identity_restore(&saved, log) != PP_OK)
        result = PP_ERR_SYSTEM;
    return result;
}

static enum pp_result renew_now(const struct pp_config *cfg,
                                struct pp_session_keys *keys, uid_t uid,
                                gid_t gid, const struct pp_log *log,
                                char **auth)
{
    struct pp_tokens tokens = {0};
    char *refresh = NULL;
    enum pp_result result;

    result = pp_keyring_read(keys->refresh, &refresh);
    if (result == PP_OK)
        result = pp_passage_refresh(cfg, log, refresh, &tokens);
    if (result == PP_ERR_REJECTED) {
        pp_log(log, LOG_NOTICE,
               "the session's refresh token was "
               "rejected: removing the session's keys");
        pp_keyring_destroy(uid);
    }
    if (result == PP_OK) {
        result = store_renewed(keys, &tokens, uid, gid, log);
        /* The keyring could not take the new chain: nobody holds it. */
        if (result != PP_OK)
            pp_passage_revoke(cfg, log, tokens.refresh_token);
    }
    if (result == PP_OK) {
        *auth = tokens.auth_token;
        tokens.auth_token = NULL;
    }

    pp_tokens_clear(&tokens);
    pp_secret_free(refresh);
    return result;
}

void pp_renew_unlock(int lock)
{
    if (lock >= 0)
        close(lock);
}

static enum pp_result renew_locked(const struct pp_config *cfg,
                                   const struct pp_log *log, uid_t uid,
                                   gid_t gid, long min_valid, char **auth)
{
    struct pp_session_keys keys;
    enum pp_result result = PP_OK;
    int lock = pp_renew_lock(uid, gid, pp_config_lock_wait(cfg), log);

    if (lock < 0)
        return PP_ERR_SYSTEM;

    /* Read again under the lock: another renewal may have just finished. */
    pp_keyring_find(&keys);
    if (keys.refresh <= 0)
        result = PP_ERR_NO_TOKEN;
    if (result == PP_OK)
        *auth = current_auth(&keys, min_valid);
    if (result == PP_OK && *auth == NULL)
        result = renew_now(cfg, &keys, uid, gid, log, auth);

    pp_renew_unlock(lock);
    return result;
}

enum pp_result pp_renew(const struct pp_config *cfg, const struct pp_log *log,
                        uid_t uid, gid_t gid, long min_valid, char **auth)
{
    struct pp_session_keys keys;
    struct pp_config settings;
    enum pp_result result;

    /* A valid token needs no lock: nothing changes. */
    pp_keyring_find(&keys);
    *auth = current_auth(&keys, min_valid);
    if (*auth != NULL)
        return PP_OK;
    if (keys.refresh <= 0)
        return PP_ERR_NO_TOKEN;
    if (cfg != NULL)
        return renew_locked(cfg, log, uid, gid, min_valid, auth);

    pp_config_init(&settings);
    result = pp_renew_settings(&keys, &settings, log);
    if (result == PP_OK)
        result = renew_locked(&settings, log, uid, gid, min_valid, auth);
    pp_config_free(&settings);
    return result;
}
