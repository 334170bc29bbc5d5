/*
 * The store: one file per user holding that user's refresh token.
 *
 * An entry is the token on its first line.  While a login carries the
 * token from authentication to its session, a second line
 * "lease ID UNTIL" reserves it: other logins leave it alone until UNTIL, and
 * if the session never opens, the token is simply there again afterwards.
 *
 * Every operation runs under the entry's lock (a ".NAME.lock" file beside
 * it); files are opened with O_NOFOLLOW relative to the directory, checked
 * for owner and mode on the descriptor, and replaced atomically.
 */
#ifndef PP_STORE_H
#define PP_STORE_H

#include "log.h"
#include "result.h"

#include <pwd.h>
#include <stdbool.h>
#include <time.h>

#define PP_LEASE_ID_LEN 32
/* Room for ".NAME.lock" and ".NAME.XXXXXXXXXXXXXXXX" beside it. */
#define PP_STORE_NAME_MAX 230
/* A lease lasts as long as the handoff it stands for, and never longer. */
#define PP_LEASE_SECONDS 120

struct pp_store {
    char *path;  /* the entry, for log lines */
    char *dir;   /* its directory */
    char *name;  /* its file name */
    char *home;  /* the user's home, for a store in it */
    int dir_fd;  /* -1 until locked */
    int lock_fd; /* -1 until locked */
    uid_t uid;   /* the user's */
    gid_t gid;
    bool in_home;    /* the template uses %h: act as the user */
    bool create_dir; /* a missing directory is made, not "no entry" */
    long lock_wait;  /* seconds to wait for the lock */
    const struct pp_log *log;
};

/* A store that pp_store_close may be called on before anything else. */
#define PP_STORE_INIT                                                         \
    {                                                                         \
        .dir_fd = -1, .lock_fd = -1                                           \
    }

struct pp_entry {
    char *token;                     /* NULL: no entry */
    char lease[PP_LEASE_ID_LEN + 1]; /* "" without a lease */
    time_t lease_until;
};

/* Refuses names with '/', a leading '.', control bytes, or over 255 bytes. */
bool pp_user_name_is_safe(const char *name);

/* True when the template has a %h (not an escaped %%h). */
bool pp_store_template_uses_home(const char *tmpl);

/* Expands %u, %h and %% in the template; the result must be absolute. */
enum pp_result pp_store_expand(const char *tmpl, const struct passwd *pw,
                               char **path);

/* Prepares the entry of pw; nothing is opened yet. */
enum pp_result pp_store_init(struct pp_store *store, const char *tmpl,
                             const struct passwd *pw, long lock_wait,
                             const struct pp_log *log);

/*
 * Opens the directory and locks the entry.  A missing directory is made
 * (its last component, 0700) for a root store or with create_dir; a
 * missing directory in the user's home is PP_ERR_NO_TOKEN, quietly.
 */
enum pp_result pp_store_lock(struct pp_store *store);

/* Reads the entry; out->token is NULL when there is none. */
enum pp_result pp_store_read(struct pp_store *store, struct pp_entry *out);

/* Replaces the entry atomically; lease may be NULL. */
enum pp_result pp_store_write(struct pp_store *store, const char *token,
                              const char *lease, time_t lease_until);

enum pp_result pp_store_remove(struct pp_store *store);

/* Unlocks and frees; safe to call more than once. */
void pp_store_close(struct pp_store *store);

/*
 * pp_store_init, pp_store_lock and pp_store_read in one; create_dir as in
 * pp_store_lock.  A missing home directory reads as PP_OK with no entry.
 */
enum pp_result pp_store_open(struct pp_store *store, const char *tmpl,
                             const struct passwd *pw, long lock_wait,
                             bool create_dir, const struct pp_log *log,
                             struct pp_entry *entry);

void pp_entry_clear(struct pp_entry *entry);

/* True when the entry has a lease that has not run out. */
bool pp_entry_is_leased(const struct pp_entry *entry, time_t now);

#endif
