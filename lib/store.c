#include "store.h"

#include "identity.h"
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* A token line and a lease line. */
#define ENTRY_MAX (PP_TOKEN_MAX + 128)
#define LOCK_POLL_NS (50 * 1000 * 1000)

bool pp_user_name_is_safe(const char *name)
{
    size_t len = name != NULL ? strnlen(name, 256) : 0;

    if (len == 0 || len > 255 || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c < ' ' || c == 0x7f)
            return false;
    }
    return true;
}

static bool append(char **out, size_t *len, const char *text, size_t n)
{
    char *grown = realloc(*out, *len + n + 1);

    if (grown == NULL)
        return false;
    memcpy(grown + *len, text, n);
    *len += n;
    grown[*len] = '\0';
    *out = grown;
    return true;
}

bool pp_store_template_uses_home(const char *tmpl)
{
    for (const char *p = tmpl; *p; p++) {
        if (p[0] == '%' && p[1] == 'h')
            return true;
        if (p[0] == '%' && p[1] != '\0')
            p++;
    }
    return false;
}

static bool ends_with(const char *text, const char *suffix)
{
    size_t len = strlen(text), n = strlen(suffix);

    return len >= n && strcmp(text + len - n, suffix) == 0;
}

/* What %c stands for in a store template, or NULL when it is not allowed. */
static const char *expansion(char c, const struct passwd *pw)
{
    switch (c) {
    case 'u':
        return pw->pw_name;
    case 'h':
        return pw->pw_dir != NULL && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
    case '%':
        return "%";
    default:
        return NULL;
    }
}

enum pp_result pp_store_expand(const char *tmpl, const struct passwd *pw,
                               char **path)
{
    char *out = NULL;
    size_t len = 0;
    bool ok = true;

    *path = NULL;
    if (!pp_user_name_is_safe(pw->pw_name))
        return PP_ERR_USER;

    for (const char *p = tmpl; ok && *p; p++) {
        const char *text = p;
        size_t n = 1;

        if (*p == '%') {
            text = expansion(*++p, pw);
            if (text == NULL) {
                free(out);
                return PP_ERR_CONFIG;
            }
            n = strlen(text);
        }
        ok = append(&out, &len, text, n);
    }

    if (!ok || out == NULL || out[0] != '/' || out[len - 1] == '/' ||
        strstr(out, "/../") != NULL || strstr(out, "/./") != NULL ||
        ends_with(out, "/..") || ends_with(out, "/.")) {
        free(out);
        return ok ? PP_ERR_CONFIG : PP_ERR_NOMEM;
    }
    *path = out;
    return PP_OK;
}

/* Splits the path; the file name needs room for its lock and temp files. */
static enum pp_result split_path(struct pp_store *store)
{
    char *slash = strrchr(store->path, '/');

    store->dir = strndup(store->path, (size_t)(slash - store->path));
    store->name = strdup(slash + 1);
    if (store->dir == NULL || store->name == NULL)
        return PP_ERR_NOMEM;

    if (store->dir[0] == '\0') {
        pp_log(store->log, LOG_ERR, "option \"store\": %s has no directory",
               store->path);
        return PP_ERR_CONFIG;
    }
    if (strlen(store->name) > PP_STORE_NAME_MAX) {
        pp_log(store->log, LOG_ERR,
               "store file name longer than %d bytes: no store entry",
               PP_STORE_NAME_MAX);
        return PP_ERR_USER;
    }
    return PP_OK;
}

static enum pp_result resolve_home(struct pp_store *store,
                                   const struct passwd *pw)
{
    store->home = realpath(pw->pw_dir, NULL);
    if (store->home != NULL)
        return PP_OK;
    pp_log(store->log, LOG_ERR, "cannot resolve %s: %s", pw->pw_dir,
           strerror(errno));
    return PP_ERR_SYSTEM;
}

enum pp_result pp_store_init(struct pp_store *store, const char *tmpl,
                             const struct passwd *pw, long lock_wait,
                             const struct pp_log *log)
{
    enum pp_result result;

    memset(store, 0, sizeof(*store));
    store->dir_fd = -1;
    store->lock_fd = -1;
    store->uid = pw->pw_uid;
    store->gid = pw->pw_gid;
    store->in_home = pp_store_template_uses_home(tmpl);
    store->lock_wait = lock_wait;
    store->log = log;

    result = pp_store_expand(tmpl, pw, &store->path);
    if (result == PP_ERR_USER)
        pp_log(log, LOG_ERR, "user name unusable as a store file name");
    else if (result == PP_ERR_CONFIG)
        pp_log(log, LOG_ERR, "option \"store\": bad template \"%s\"", tmpl);

    if (result == PP_OK)
        result = split_path(store);
    if (result == PP_OK && store->in_home)
        result = resolve_home(store, pw);
    return result;
}

/* Root or, for a store in the user's home, the user. */
static bool owner_is_trusted(const struct pp_store *store, uid_t owner)
{
    return owner == 0 || (store->in_home && owner == store->uid);
}

static enum pp_result check_node(const struct pp_store *store, int fd,
                                 const char *what, mode_t forbidden,
                                 mode_t type)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        pp_log(store->log, LOG_ERR, "%s: %s", what, strerror(errno));
        return PP_ERR_SYSTEM;
    }
    /* A second name for a file could be anywhere, with other owners. */
    if ((st.st_mode & S_IFMT) != type || !owner_is_trusted(store, st.st_uid) ||
        (st.st_mode & forbidden) != 0 ||
        (type == S_IFREG && st.st_nlink > 1)) {
        pp_log(store->log, LOG_ERR,
               "%s: refused: wrong type, owner (uid %lu), mode %04o or "
               "links (%lu)",
               what, (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777),
               (unsigned long)st.st_nlink);
        return PP_ERR_UNSAFE;
    }
    return PP_OK;
}

static enum pp_result errno_result(const struct pp_store *store,
                                   const char *what, const char *path)
{
    int err = errno;

    pp_log(store->log, LOG_ERR, "%s %s: %s", what, path, strerror(err));
    if (err == ELOOP || err == ENOTDIR)
        return PP_ERR_UNSAFE;
    if (err == EACCES || err == EPERM)
        return PP_ERR_PERM;
    return PP_ERR_SYSTEM;
}

/*
 * As OpenSSH's StrictModes: every directory above a store in the user's
 * home, up to the home itself, belongs to root or the user, and nobody
 * else can write to it, or someone else could swap the store for theirs.
 */
static enum pp_result check_parents(const struct pp_store *store)
{
    char *path = realpath(store->dir, NULL);
    enum pp_result result = PP_OK;
    struct stat st;

    if (path == NULL)
        return errno_result(store, "cannot resolve", store->dir);

    /* The store's own directory is checked on its descriptor. */
    for (char *end = strrchr(path, '/');
         result == PP_OK && end != NULL && strcmp(path, store->home) != 0;
         end = strrchr(path, '/')) {
        *end = '\0';
        if (stat(path[0] ? path : "/", &st) != 0)
            result = errno_result(store, "cannot check", path);
        else if (!owner_is_trusted(store, st.st_uid) ||
                 (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
            pp_log(store->log, LOG_ERR,
                   "%s: refused: %s is writable by others or not owned by "
                   "root or the user",
                   store->path, path[0] ? path : "/");
            result = PP_ERR_UNSAFE;
        }
        if (path[0] == '\0' || strcmp(path, store->home) == 0)
            break;
    }
    free(path);
    return result;
}

static enum pp_result open_dir(struct pp_store *store)
{
    int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

    store->dir_fd = open(store->dir, flags);
    if (store->dir_fd < 0 && errno == ENOENT && store->in_home &&
        !store->create_dir)
        return PP_ERR_NO_TOKEN;
    if (store->dir_fd < 0 && errno == ENOENT && mkdir(store->dir, 0700) == 0)
        store->dir_fd = open(store->dir, flags);
    if (store->dir_fd < 0)
        return errno_result(store, "cannot open store directory", store->dir);

    if (store->in_home && check_parents(store) != PP_OK)
        return PP_ERR_UNSAFE;
    return check_node(store, store->dir_fd, store->dir, S_IWGRP | S_IWOTH,
                      S_IFDIR);
}

static enum pp_result become_user(const struct pp_store *store,
                                  struct pp_identity *saved)
{
    saved->switched = false;
    if (!store->in_home)
        return PP_OK;
    return pp_identity_become(saved, store->uid, store->gid, store->log);
}

static enum pp_result wait_for_lock(struct pp_store *store)
{
    const struct timespec poll = {0, LOCK_POLL_NS};
    long tries = store->lock_wait * (1000000000L / LOCK_POLL_NS);

    while (flock(store->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR)
            return errno_result(store, "cannot lock", store->path);
        if (tries-- <= 0) {
            pp_log(store->log, LOG_ERR,
                   "%s: still locked by another login after %lds", store->path,
                   store->lock_wait);
            return PP_ERR_BUSY;
        }
        nanosleep(&poll, NULL);
    }
    return PP_OK;
}

static enum pp_result lock_entry(struct pp_store *store)
{
    char lock_name[300];
    enum pp_result result = open_dir(store);

    snprintf(lock_name, sizeof(lock_name), ".%s.lock", store->name);
    if (result == PP_OK) {
        store->lock_fd =
            openat(store->dir_fd, lock_name,
                   O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (store->lock_fd < 0)
            result = errno_result(store, "cannot open lock for", store->path);
    }
    if (result == PP_OK)
        result = check_node(store, store->lock_fd, lock_name,
                            S_IWGRP | S_IWOTH, S_IFREG);
    if (result == PP_OK)
        result = wait_for_lock(store);
    return result;
}

enum pp_result pp_store_lock(struct pp_store *store)
{
    struct pp_identity saved;
    enum pp_result result = become_user(store, &saved);

    if (result == PP_OK)
        result = lock_entry(store);
    if (pp_identity_restore(&saved, store->log) != PP_OK)
        result = PP_ERR_SYSTEM;
    return result;
}

void pp_entry_clear(struct pp_entry *entry)
{
    pp_secret_free(entry->token);
    memset(entry, 0, sizeof(*entry));
}

bool pp_entry_is_leased(const struct pp_entry *entry, time_t now)
{
    /* A lease further away than a handoff lasts is no lease of ours. */
    return entry->lease[0] != '\0' && entry->lease_until > now &&
           entry->lease_until <= now + PP_LEASE_SECONDS;
}

/* "TOKEN\n" or "TOKEN\nlease ID UNTIL\n"; anything else is no lease. */
static enum pp_result parse_entry(char *text, struct pp_entry *out)
{
    char *newline = strchr(text, '\n');
    char id[PP_LEASE_ID_LEN + 1];
    long long until;

    if (newline != NULL)
        *newline = '\0';
    if (!pp_token_is_wellformed(text))
        return PP_ERR_BAD_TOKEN;

    out->token = strdup(text);
    if (out->token == NULL)
        return PP_ERR_NOMEM;

    if (newline != NULL &&
        sscanf(newline + 1, "lease %32[0-9a-f] %lld", id, &until) == 2 &&
        strlen(id) == PP_LEASE_ID_LEN) {
        memcpy(out->lease, id, sizeof(id));
        out->lease_until = (time_t)until;
    }
    return PP_OK;
}

static enum pp_result read_entry(struct pp_store *store, struct pp_entry *out)
{
    char buf[ENTRY_MAX + 1];
    enum pp_result result;
    ssize_t n = 0;
    int fd;

    fd = openat(store->dir_fd, store->name,
                O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return PP_OK;
    if (fd < 0)
        return errno_result(store, "cannot open", store->path);

    result = check_node(store, fd, store->path, S_IRWXG | S_IRWXO, S_IFREG);
    if (result == PP_OK) {
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
            result = errno_result(store, "cannot read", store->path);
    }
    close(fd);

    if (result == PP_OK) {
        buf[n] = '\0';
        result = parse_entry(buf, out);
        if (result == PP_ERR_BAD_TOKEN)
            pp_log(store->log, LOG_WARNING,
                   "%s: holds no usable token (empty, over %d bytes or not "
                   "printable)",
                   store->path, PP_TOKEN_MAX);
    }
    pp_wipe(buf, sizeof(buf));
    return result;
}

enum pp_result pp_store_read(struct pp_store *store, struct pp_entry *out)
{
    struct pp_identity saved;
    enum pp_result result = become_user(store, &saved);

    memset(out, 0, sizeof(*out));
    if (result == PP_OK)
        result = read_entry(store, out);
    if (pp_identity_restore(&saved, store->log) != PP_OK)
        result = PP_ERR_SYSTEM;
    if (result != PP_OK)
        pp_entry_clear(out);
    return result;
}

static enum pp_result sync_dir(struct pp_store *store)
{
    if (fsync(store->dir_fd) != 0)
        return errno_result(store, "cannot sync directory of", store->path);
    return PP_OK;
}

static enum pp_result write_all(int fd, const char *text)
{
    size_t len = strlen(text);

    while (len > 0) {
        ssize_t n = write(fd, text, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return PP_ERR_SYSTEM;
        text += n;
        len -= (size_t)n;
    }
    return PP_OK;
}

static enum pp_result make_temp(struct pp_store *store, char *name,
                                size_t size, int *fd)
{
    unsigned char random[8];

    if (getrandom(random, sizeof(random), 0) != sizeof(random))
        return errno_result(store, "no random bytes for", store->path);

    snprintf(name, size, ".%s.%02x%02x%02x%02x%02x%02x%02x%02x", store->name,
             random[0], random[1], random[2], random[3], random[4], random[5],
             random[6], random[7]);
    *fd = openat(store->dir_fd, name,
                 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (*fd < 0)
        return errno_result(store, "cannot create a file beside", store->path);
    return PP_OK;
}

static enum pp_result write_entry(struct pp_store *store, const char *text)
{
    char temp[320];
    enum pp_result result;
    int fd = -1;

    result = make_temp(store, temp, sizeof(temp), &fd);
    if (result != PP_OK)
        return result;

    if (write_all(fd, text) != PP_OK || fsync(fd) != 0)
        result = errno_result(store, "cannot write", store->path);
    if (close(fd) != 0 && result == PP_OK)
        result = errno_result(store, "cannot write", store->path);
    if (result == PP_OK &&
        renameat(store->dir_fd, temp, store->dir_fd, store->name) != 0)
        result = errno_result(store, "cannot replace", store->path);

    if (result != PP_OK)
        unlinkat(store->dir_fd, temp, 0);
    else
        result = sync_dir(store);
    return result;
}

enum pp_result pp_store_write(struct pp_store *store, const char *token,
                              const char *lease, time_t lease_until)
{
    struct pp_identity saved;
    enum pp_result result;
    char *text = NULL;
    int n;

    if (!pp_token_is_wellformed(token))
        return PP_ERR_BAD_TOKEN;
    if (lease != NULL)
        n = asprintf(&text, "%s\nlease %s %lld\n", token, lease,
                     (long long)lease_until);
    else
        n = asprintf(&text, "%s\n", token);
    if (n < 0)
        return PP_ERR_NOMEM;

    result = become_user(store, &saved);
    if (result == PP_OK)
        result = write_entry(store, text);
    if (pp_identity_restore(&saved, store->log) != PP_OK)
        result = PP_ERR_SYSTEM;

    pp_secret_free(text);
    return result;
}

enum pp_result pp_store_remove(struct pp_store *store)
{
    struct pp_identity saved;
    enum pp_result result = become_user(store, &saved);

    if (result == PP_OK && unlinkat(store->dir_fd, store->name, 0) != 0 &&
        errno != ENOENT)
        result = errno_result(store, "cannot remove", store->path);
    else if (result == PP_OK)
        result = sync_dir(store);
    if (pp_identity_restore(&saved, store->log) != PP_OK)
        result = PP_ERR_SYSTEM;
    return result;
}

enum pp_result pp_store_open(struct pp_store *store, const char *tmpl,
                             const struct passwd *pw, long lock_wait,
                             bool create_dir, const struct pp_log *log,
                             struct pp_entry *entry)
{
    enum pp_result result;

    memset(entry, 0, sizeof(*entry));
    result = pp_store_init(store, tmpl, pw, lock_wait, log);
    store->create_dir = create_dir;
    if (result == PP_OK)
        result = pp_store_lock(store);
    if (result == PP_OK)
        result = pp_store_read(store, entry);
    if (result == PP_OK || result == PP_ERR_NO_TOKEN)
        pp_log(log, LOG_DEBUG, "store entry %s: %s%s", store->path,
               entry->token != NULL ? "holds a token" : "empty",
               entry->lease[0] != '\0' ? ", with a lease" : "");
    return result == PP_ERR_NO_TOKEN ? PP_OK : result;
}

void pp_store_close(struct pp_store *store)
{
    if (store->lock_fd >= 0)
        close(store->lock_fd); /* releases the flock */
    if (store->dir_fd >= 0)
        close(store->dir_fd);
    free(store->path);
    free(store->dir);
    free(store->name);
    free(store->home);
    store->path = store->dir = store->name = store->home = NULL;
    store->lock_fd = store->dir_fd = -1;
}
