/*
 * Configuration: module arguments and /etc/security/pam_passage.conf.
 *
 * Both go through one parser and one option table; the file is read first
 * and the arguments win.  An unknown key is an error that names the key.
 */
#ifndef PP_CONFIG_H
#define PP_CONFIG_H

#include "log.h"
#include "result.h"

#include <stdbool.h>

#define PP_CONFIG_FILE "/etc/security/pam_passage.conf"
#define PP_DEFAULT_API_URL "https://auth.passage.id/v1"
#define PP_DEFAULT_STORE "/var/lib/pam_passage/%u"

enum pp_on_close { PP_ON_CLOSE_REVOKE, PP_ON_CLOSE_KEEP };

struct pp_config {
    char *app_id;
    char *api_url;
    char *store;
    char *ca_file;
    char *proxy;
    char *config;
    char *user_map;
    enum pp_on_close on_close;
    long connect_timeout; /* seconds */
    long timeout;         /* seconds */
    bool prompt;
    bool use_first_pass;
    bool try_first_pass;
    bool nouserok;
    bool session_exchange;
    bool debug;
};

/* Sets the defaults; pp_config_free undoes it. */
void pp_config_init(struct pp_config *cfg);
void pp_config_free(struct pp_config *cfg);

/*
 * Applies one "key=value" (or a bare flag) word.  origin names where it came
 * from in error messages ("argument", "/etc/…:12").
 */
enum pp_result pp_config_set(struct pp_config *cfg, const char *word,
                             const char *origin, const struct pp_log *log);

/* Applies every line of a "key = value" text with # comments. */
enum pp_result pp_config_parse_text(struct pp_config *cfg, const char *text,
                                    const char *origin,
                                    const struct pp_log *log);

/*
 * Reads the file named by a config= argument (or the default file, which may
 * be missing), then applies the arguments.  pp_config_validate is separate:
 * not every use of passage-token needs an app_id.
 */
enum pp_result pp_config_load(struct pp_config *cfg, int argc,
                              const char **argv, const struct pp_log *log);

/* The API base and store template, with their defaults applied. */
const char *pp_config_api_url(const struct pp_config *cfg);
const char *pp_config_store(const struct pp_config *cfg);

/*
 * Reads a root-owned (or the caller's) regular text file of at most 64 KiB
 * that nobody else can write; a missing file is fine unless must_exist.
 * *text is NULL for a missing file; the caller frees it.
 */
enum pp_result pp_config_read_file(const char *path, char **text,
                                   bool must_exist, const struct pp_log *log);

/*
 * Seconds to wait for another holder of a lock (the store's, the
 * renewal's): its one request must end first, and may take this long.
 */
long pp_config_lock_wait(const struct pp_config *cfg);

/* Checks what must hold before any request: app_id set, URL usable. */
enum pp_result pp_config_validate(const struct pp_config *cfg,
                                  const struct pp_log *log);

/*
 * The settings a session needs to renew its token, as config text, for
 * passage-token to read back from the keyring.  Caller frees.
 */
char *pp_config_session_text(const struct pp_config *cfg);

#endif
