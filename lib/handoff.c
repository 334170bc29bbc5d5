#include "handoff.h"

#include <errno.h>
#include <keyutils.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/*
 * The owner (root) alone: no rights even for possessors, who may be the
 * user that started a setuid program such as su.
 */
#define HANDOFF_PERM 0x003f0000

/* A handoff serves only the login it names: user and remote host. */
static void key_name(const char *id, const char *login, char *out, size_t size)
{
    snprintf(out, size, "pam_passage:handoff:%s:%s", id, login);
}

/*
 * The user keyring is root's only when the real uid is root.  In a setuid
 * host (su, sudo) it is the invoking user's, who could plant keys there;
 * such hosts authenticate and open the session in one process, so the
 * process keyring serves them.
 */
static bool user_keyring_is_roots(void)
{
    return getuid() == 0;
}

/*
 * Made in the process keyring, which this process possesses, so that the
 * timeout and permission can be set whatever keyrings the host was given
 * (systemd gives each service a private session keyring that does not
 * link root's user keyring).  Then linked into root's user keyring, where
 * a later process (sshd's monitor) finds it.
 */
static key_serial_t make_key(const char *name, const char *payload, size_t len,
                             const struct pp_log *log)
{
    key_serial_t key =
        add_key("user", name, payload, len, KEY_SPEC_PROCESS_KEYRING);

    if (key < 0)
        return -1;
    if (keyctl_set_timeout(key, PP_HANDOFF_TTL) < 0 ||
        keyctl_setperm(key, HANDOFF_PERM) < 0) {
        keyctl_invalidate(key);
        return -1;
    }
    if (user_keyring_is_roots() && keyctl_link(key, KEY_SPEC_USER_KEYRING) < 0)
        pp_log(log, LOG_WARNING,
               "the tokens wait in this process only, not in root's user "
               "keyring: %s",
               strerror(errno));
    return key;
}

/* Only a key this module made: root's, with exactly its permission. */
static bool is_genuine(key_serial_t key)
{
    char *desc = NULL;
    unsigned long uid = 1, perm = 0;
    bool ok;

    if (keyctl_describe_alloc(key, &desc) < 0)
        return false;
    ok = sscanf(desc, "user;%lu;%*[^;];%lx;", &uid, &perm) == 2 && uid == 0 &&
         perm == HANDOFF_PERM;
    free(desc);
    return ok;
}

static key_serial_t find_key(const char *name)
{
    long key = keyctl_search(KEY_SPEC_PROCESS_KEYRING, "user", name, 0);

    if (key < 0 && user_keyring_is_roots())
        key = keyctl_search(KEY_SPEC_USER_KEYRING, "user", name, 0);
    return key > 0 && is_genuine((key_serial_t)key) ? (key_serial_t)key : -1;
}

enum pp_result pp_handoff_new_id(char id[PP_HANDOFF_ID_LEN + 1])
{
    unsigned char random[PP_HANDOFF_ID_LEN / 2];

    if (getrandom(random, sizeof(random), 0) != sizeof(random))
        return PP_ERR_SYSTEM;
    for (size_t i = 0; i < sizeof(random); i++)
        snprintf(id + 2 * i, 3, "%02x", random[i]);
    return PP_OK;
}

bool pp_handoff_id_is_valid(const char *text)
{
    if (text == NULL || strlen(text) != PP_HANDOFF_ID_LEN)
        return false;
    return strspn(text, "0123456789abcdef") == PP_HANDOFF_ID_LEN;
}

enum pp_result pp_handoff_put(const char *id, const char *login,
                              const struct pp_tokens *tokens, bool from_store,
                              const struct pp_log *log)
{
    char name[PP_HANDOFF_ID_LEN + 600], *payload = NULL;
    key_serial_t key = -1;
    int len;

    key_name(id, login, name, sizeof(name));
    len = asprintf(&payload, "%s\n%s\n%lld %lld %d\n", tokens->auth_token,
                   tokens->refresh_token, (long long)tokens->auth_expires,
                   (long long)tokens->refresh_expires, from_store ? 1 : 0);
    if (len < 0)
        return PP_ERR_NOMEM;

    key = make_key(name, payload, (size_t)len, log);
    if (key < 0)
        pp_log(log, LOG_ERR, "cannot keep the tokens for the session: %s",
               strerror(errno));
    else
        pp_log(log, LOG_DEBUG,
               "tokens wait for the session in key %d for "
               "%ds",
               key, PP_HANDOFF_TTL);

    pp_secret_free(payload);
    return key < 0 ? PP_ERR_KEYRING : PP_OK;
}

/* "AUTH\nREFRESH\nAUTH_EXPIRES REFRESH_EXPIRES FROM_STORE\n" */
static enum pp_result parse_payload(char *payload, struct pp_tokens *out,
                                    bool *from_store)
{
    char *auth = payload, *refresh, *times;
    long long auth_expires, refresh_expires;
    int store_flag;

    refresh = strchr(auth, '\n');
    times = refresh != NULL ? strchr(refresh + 1, '\n') : NULL;
    if (times == NULL)
        return PP_ERR_BAD_TOKEN;
    *refresh++ = '\0';
    *times++ = '\0';

    if (!pp_token_is_wellformed(auth) || !pp_token_is_wellformed(refresh) ||
        sscanf(times, "%lld %lld %d", &auth_expires, &refresh_expires,
               &store_flag) != 3)
        return PP_ERR_BAD_TOKEN;

    *from_store = store_flag == 1;
    out->auth_token = strdup(auth);
    out->refresh_token = strdup(refresh);
    out->auth_expires = (time_t)auth_expires;
    out->refresh_expires = (time_t)refresh_expires;
    return out->auth_token && out->refresh_token ? PP_OK : PP_ERR_NOMEM;
}

enum pp_result pp_handoff_claim(const char *id, const char *login,
                                struct pp_tokens *out, bool *from_store,
                                const struct pp_log *log)
{
    char name[PP_HANDOFF_ID_LEN + 600], *payload = NULL;
    enum pp_result result;
    long key;
    int len;

    memset(out, 0, sizeof(*out));
    key_name(id, login, name, sizeof(name));
    key = find_key(name);
    if (key < 0)
        return PP_ERR_NO_TOKEN;

    len = keyctl_read_alloc((key_serial_t)key, (void **)&payload);
    keyctl_invalidate((key_serial_t)key);
    if (len < 0)
        return PP_ERR_NO_TOKEN;

    result = parse_payload(payload, out, from_store);
    if (result != PP_OK) {
        pp_log(log, LOG_ERR, "the handoff key holds no usable tokens");
        pp_tokens_clear(out);
    }
    pp_wipe(payload, (size_t)len);
    free(payload);
    return result;
}

void pp_handoff_discard(const char *id, const char *login)
{
    char name[PP_HANDOFF_ID_LEN + 600];
    long key;

    key_name(id, login, name, sizeof(name));
    key = find_key(name);
    if (key > 0)
        keyctl_invalidate((key_serial_t)key);
}
