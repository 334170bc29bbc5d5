/*
 * passage-token: the session's Passage auth token for a user's programs,
 * and the store for administrators.  See passage-token(1).
 */
#include "lib/config.h"
#include "lib/jwt.h"
#include "lib/keyring.h"
#include "lib/passage.h"
#include "lib/renew.h"
#include "lib/secret.h"
#include "lib/store.h"

#include <errno.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PROGRAM "passage-token"

/* Exit statuses: documented in passage-token(1). */
enum exit_status {
    EXIT_OK = 0,
    EXIT_FAILURE_OTHER = 1,
    EXIT_USAGE = 2,
    EXIT_NO_TOKENS = 3,
    EXIT_UNREACHABLE = 4,
    EXIT_REJECTED = 5,
    EXIT_PERMISSION = 6,
    EXIT_EXPIRED = 7,
    EXIT_EXISTS = 8,
};

struct options {
    const char *config;
    const char *command;
    const char *user;
    bool force;
    bool revoke;
    bool debug;
};

static const char usage_text[] =
    "usage: " PROGRAM " [--config FILE] [print]\n"
    "       " PROGRAM " [--config FILE] status\n"
    "       " PROGRAM " [--config FILE] store [--force] USER < token\n"
    "       " PROGRAM " [--config FILE] remove [--revoke] USER\n"
    "       " PROGRAM " [--config FILE] revoke\n"
    "       " PROGRAM " --help | --version\n";

static int exit_status(enum pp_result result)
{
    switch (result) {
    case PP_OK:
        return EXIT_OK;
    case PP_ERR_USAGE:
    case PP_ERR_CONFIG:
        return EXIT_USAGE;
    case PP_ERR_NO_TOKEN:
        return EXIT_NO_TOKENS;
    case PP_ERR_UNAVAILABLE:
        return EXIT_UNREACHABLE;
    case PP_ERR_REJECTED:
    case PP_ERR_DENIED:
        return EXIT_REJECTED;
    case PP_ERR_PERM:
    case PP_ERR_UNSAFE:
        return EXIT_PERMISSION;
    case PP_ERR_EXISTS:
        return EXIT_EXISTS;
    default:
        return EXIT_FAILURE_OTHER;
    }
}

static void complain(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* For failures that lib/ did not already report. */
static void complain(const char *fmt, ...)
{
    va_list ap;

    fputs(PROGRAM ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The configuration file; app_id is needed only to talk to the server. */
static enum pp_result load_config(const struct options *opts,
                                  struct pp_config *cfg, bool for_server,
                                  const struct pp_log *log)
{
    const char *argv[1];
    char *arg = NULL;
    enum pp_result result;

    if (opts->config != NULL && asprintf(&arg, "config=%s", opts->config) < 0)
        return PP_ERR_NOMEM;
    argv[0] = arg;

    result = pp_config_load(cfg, arg != NULL ? 1 : 0, argv, log);
    if (result == PP_OK && for_server)
        result = pp_config_validate(cfg, log);
    free(arg);
    return result;
}

static int cmd_print(const struct options *opts, const struct pp_log *log)
{
    struct pp_config cfg;
    char *auth = NULL;
    enum pp_result result = PP_OK;

    pp_config_init(&cfg);
    if (opts->config != NULL)
        result = load_config(opts, &cfg, true, log);
    if (result == PP_OK)
        result = pp_renew(opts->config != NULL ? &cfg : NULL, log, getuid(),
                          getgid(), PP_RENEW_MARGIN, &auth);
    if (result == PP_ERR_NO_TOKEN)
        complain("no Passage tokens in this session's keyring");
    if (result == PP_OK && (printf("%s\n", auth) < 0 || fflush(stdout) != 0)) {
        complain("cannot write the token: %s", strerror(errno));
        result = PP_ERR_SYSTEM;
    }

    pp_secret_free(auth);
    pp_config_free(&cfg);
    return exit_status(result);
}

/* "in 4m 10s", "3h 2m ago" */
static void describe_time(time_t when, char *out, size_t size)
{
    long left = (long)(when - time(NULL));
    long span = left < 0 ? -left : left;
    char local[64], amount[48];
    struct tm tm;

    if (localtime_r(&when, &tm) == NULL ||
        strftime(local, sizeof(local), "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
        snprintf(local, sizeof(local), "%lld seconds after 1970",
                 (long long)when);
    if (span >= 86400)
        snprintf(amount, sizeof(amount), "%ldd %ldh", span / 86400,
                 span % 86400 / 3600);
    else if (span >= 3600)
        snprintf(amount, sizeof(amount), "%ldh %ldm", span / 3600,
                 span % 3600 / 60);
    else if (span >= 60)
        snprintf(amount, sizeof(amount), "%ldm %lds", span / 60, span % 60);
    else
        snprintf(amount, sizeof(amount), "%lds", span);

    snprintf(out, size, "%s (%s%s%s)", local, left < 0 ? "" : "in ", amount,
             left < 0 ? " ago" : "");
}

/* The auth key itself says whether it is still valid: the kernel drops it
 * at exp. */
static bool auth_key_is_valid(const struct pp_session_keys *keys)
{
    struct pp_jwt_claims claims;
    char *auth = NULL;
    bool valid =
        keys->auth > 0 && pp_keyring_read(keys->auth, &auth) == PP_OK &&
        pp_jwt_claims(auth, &claims) == PP_OK && claims.exp > time(NULL);

    pp_secret_free(auth);
    return valid;
}

static void print_expiry(const char *label, time_t when, bool valid)
{
    char text[128];

    if (when == 0) {
        printf("%s%s, expiry unknown\n", label, valid ? "valid" : "expired");
        return;
    }
    describe_time(when, text, sizeof(text));
    printf("%s%s %s\n", label, valid ? "valid until" : "expired", text);
}

static int cmd_status(const struct options *opts, const struct pp_log *log)
{
    struct pp_session_keys keys;
    struct pp_session_info info;
    struct pp_config cfg;
    char shown[256];
    bool valid;

    (void)opts;
    pp_keyring_find(&keys);
    if (keys.refresh <= 0) {
        complain("no Passage tokens in this session's keyring");
        return EXIT_NO_TOKENS;
    }

    pp_config_init(&cfg);
    /* No request follows: the settings are shown, not checked. */
    pp_keyring_settings(&keys, &cfg, log);
    pp_keyring_info(&keys, &info);
    valid = auth_key_is_valid(&keys);

    pp_log_sanitize(info.sub, strlen(info.sub), shown, sizeof(shown));
    printf("Passage user:   %s\n", shown[0] ? shown : "(unknown)");
    printf("App:            %s\n", cfg.app_id ? cfg.app_id : "(unknown)");
    printf("API:            %s\n", pp_config_api_url(&cfg));
    print_expiry("Auth token:     ", info.auth_expires, valid);
    if (!valid)
        printf("                renewable: passage-token renews it\n");
    print_expiry("Refresh token:  ", info.refresh_expires, true);

    pp_config_free(&cfg);
    return valid ? EXIT_OK : EXIT_EXPIRED;
}

/* Echo off while a person types the token at a terminal. */
static bool echo_off(struct termios *saved)
{
    struct termios quiet;

    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, saved) != 0)
        return false;
    quiet = *saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    fputs("Refresh token: ", stderr);
    return tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
}

static enum pp_result read_token(char **token)
{
    /* Room for a token, "\r\n", and one byte more to notice excess. */
    char buf[PP_TOKEN_MAX + 4];
    struct termios saved;
    bool quiet = echo_off(&saved);
    bool too_long;
    size_t len;

    /* A terminal ends the token at Return; a pipe or file at its end. */
    *token = NULL;
    if (quiet)
        len = fgets(buf, sizeof(buf), stdin) != NULL ? strlen(buf) : 0;
    else
        len = fread(buf, 1, sizeof(buf) - 1, stdin);
    if (quiet) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    buf[len] = '\0';
    too_long = len > PP_TOKEN_MAX + 2;

    /* One trailing newline is how echo and files end a line. */
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    if (len > 0 && buf[len - 1] == '\r')
        buf[--len] = '\0';

    if (!too_long && strlen(buf) == len && pp_token_is_wellformed(buf))
        *token = pp_secret_dup(buf);
    pp_wipe(buf, sizeof(buf));
    return *token != NULL ? PP_OK : PP_ERR_BAD_TOKEN;
}

static enum pp_result find_user(const char *name, struct passwd **pw)
{
    *pw = getpwnam(name);
    if (*pw == NULL) {
        complain("no such user: %s", name);
        return PP_ERR_USAGE;
    }
    if (getuid() != 0 && (*pw)->pw_uid != getuid()) {
        complain("only root may change the store entry of another user");
        return PP_ERR_PERM;
    }
    return PP_OK;
}

static enum pp_result deposit(const struct options *opts,
                              const struct passwd *pw, const char *token,
                              const struct pp_config *cfg,
                              const struct pp_log *log)
{
    struct pp_store store = PP_STORE_INIT;
    struct pp_entry entry = {0};
    enum pp_result result;

    result = pp_store_open(&store, pp_config_store(cfg), pw,
                           pp_config_lock_wait(cfg), true, log, &entry);
    /* A malformed entry is what an administrator replaces: no --force. */
    if (result == PP_ERR_BAD_TOKEN)
        result = PP_OK;
    if (result == PP_OK && entry.token != NULL && !opts->force) {
        complain("%s already holds a token (use --force to replace it)",
                 store.path);
        result = PP_ERR_EXISTS;
    }
    if (result == PP_OK)
        result = pp_store_write(&store, token, NULL, 0);
    if (result == PP_OK)
        pp_log(log, LOG_INFO, "refresh token deposited in %s", store.path);

    pp_entry_clear(&entry);
    pp_store_close(&store);
    return result;
}

static int cmd_store(const struct options *opts, const struct pp_log *log)
{
    struct pp_config cfg;
    struct passwd *pw = NULL;
    char *token = NULL;
    enum pp_result result;

    pp_config_init(&cfg);
    result = find_user(opts->user, &pw);
    if (result == PP_OK)
        result = load_config(opts, &cfg, false, log);
    if (result == PP_OK) {
        result = read_token(&token);
        if (result == PP_ERR_BAD_TOKEN)
            complain("the token on standard input is empty, over %d bytes "
                     "or not printable",
                     PP_TOKEN_MAX);
    }
    if (result == PP_OK)
        result = deposit(opts, pw, token, &cfg, log);

    pp_secret_free(token);
    pp_config_free(&cfg);
    return result == PP_ERR_BAD_TOKEN ? EXIT_USAGE : exit_status(result);
}

static enum pp_result remove_malformed(struct pp_store *store)
{
    enum pp_result result = pp_store_remove(store);

    pp_store_close(store);
    return result;
}

static enum pp_result remove_entry(const struct options *opts,
                                   const struct passwd *pw,
                                   const struct pp_config *cfg,
                                   const struct pp_log *log)
{
    struct pp_store store = PP_STORE_INIT;
    struct pp_entry entry = {0};
    enum pp_result result;

    result = pp_store_open(&store, pp_config_store(cfg), pw,
                           pp_config_lock_wait(cfg), false, log, &entry);
    if (result == PP_ERR_BAD_TOKEN && !opts->revoke)
        return remove_malformed(&store);
    if (result == PP_OK && entry.token == NULL) {
        complain("%s holds no token", store.path);
        result = PP_ERR_NO_TOKEN;
    }
    if (result == PP_OK && opts->revoke)
        result = pp_passage_revoke(cfg, log, entry.token);
    if (result == PP_OK)
        result = pp_store_remove(&store);
    if (result == PP_OK)
        pp_log(log, LOG_INFO, "removed %s", store.path);

    pp_entry_clear(&entry);
    pp_store_close(&store);
    return result;
}

static int cmd_remove(const struct options *opts, const struct pp_log *log)
{
    struct pp_config cfg;
    struct passwd *pw = NULL;
    enum pp_result result;

    pp_config_init(&cfg);
    result = find_user(opts->user, &pw);
    if (result == PP_OK)
        result = load_config(opts, &cfg, opts->revoke, log);
    if (result == PP_OK)
        result = remove_entry(opts, pw, &cfg, log);

    pp_config_free(&cfg);
    return exit_status(result);
}

static enum pp_result session_settings(const struct options *opts,
                                       const struct pp_session_keys *keys,
                                       struct pp_config *cfg,
                                       const struct pp_log *log)
{
    if (opts->config != NULL)
        return load_config(opts, cfg, true, log);
    return pp_renew_settings(keys, cfg, log);
}

static int cmd_revoke(const struct options *opts, const struct pp_log *log)
{
    struct pp_session_keys keys;
    struct pp_config cfg;
    char *refresh = NULL;
    enum pp_result result;
    int lock = -1;

    pp_config_init(&cfg);
    pp_keyring_find(&keys);
    result = keys.refresh > 0 ? PP_OK : PP_ERR_NO_TOKEN;
    if (result == PP_ERR_NO_TOKEN)
        complain("no Passage tokens in this session's keyring");

    if (result == PP_OK)
        result = session_settings(opts, &keys, &cfg, log);
    if (result == PP_OK)
        lock =
            pp_renew_lock(getuid(), getgid(), pp_config_lock_wait(&cfg), log);

    /* Read under the lock: a renewal may just have rotated the token. */
    if (result == PP_OK && lock >= 0)
        result = pp_keyring_read(keys.refresh, &refresh);
    if (result == PP_OK && lock >= 0)
        result = pp_passage_revoke(&cfg, log, refresh);
    if (result == PP_OK && lock < 0)
        result = PP_ERR_SYSTEM;

    if (result == PP_OK)
        pp_keyring_destroy(getuid());
    pp_renew_unlock(lock);

    pp_secret_free(refresh);
    pp_config_free(&cfg);
    return exit_status(result);
}

static bool takes_user(const char *command)
{
    return strcmp(command, "store") == 0 || strcmp(command, "remove") == 0;
}

/* Complains in one line and returns false when the words do not fit. */
static bool parse_command_args(struct options *opts, int argc, char **argv)
{
    int words = 0;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0 &&
            strcmp(opts->command, "store") == 0) {
            opts->force = true;
        } else if (strcmp(argv[i], "--revoke") == 0 &&
                   strcmp(opts->command, "remove") == 0) {
            opts->revoke = true;
        } else if (argv[i][0] == '-') {
            complain("%s: unknown option %s (see --help)", opts->command,
                     argv[i]);
            return false;
        } else if (words++ == 0) {
            opts->user = argv[i];
        }
    }

    if (words > 1 && strcmp(opts->command, "store") == 0)
        complain("store: the token is read from standard input, never "
                 "from the command line");
    else if (takes_user(opts->command) && words != 1)
        complain("%s: give exactly one USER (see --help)", opts->command);
    else if (!takes_user(opts->command) && words != 0)
        complain("%s: takes no argument (see --help)", opts->command);
    else
        return true;
    return false;
}

/* Returns -1 to go on, or the exit status. */
static int parse_args(struct options *opts, int argc, char **argv)
{
    int i = 1;

    memset(opts, 0, sizeof(*opts));
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            opts->config = argv[++i];
        } else if (strcmp(argv[i], "--debug") == 0) {
            opts->debug = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            puts(PROGRAM " " PP_VERSION);
            return EXIT_OK;
        } else {
            complain("unknown option %s (see --help)", argv[i]);
            return EXIT_USAGE;
        }
    }

    opts->command = i < argc ? argv[i++] : "print";
    if (!parse_command_args(opts, argc - i, argv + i))
        return EXIT_USAGE;
    return -1;
}

int main(int argc, char **argv)
{
    struct pp_log log = {NULL, NULL, PROGRAM, false};
    struct options opts;
    int status = parse_args(&opts, argc, argv);

    if (status >= 0)
        return status;

    /* A core dump of this process could hold a token. */
    prctl(PR_SET_DUMPABLE, 0);
    openlog(PROGRAM, LOG_PID, LOG_AUTHPRIV);
    log.debug = opts.debug;

    if (strcmp(opts.command, "print") == 0)
        status = cmd_print(&opts, &log);
    else if (strcmp(opts.command, "status") == 0)
        status = cmd_status(&opts, &log);
    else if (strcmp(opts.command, "store") == 0)
        status = cmd_store(&opts, &log);
    else if (strcmp(opts.command, "remove") == 0)
        status = cmd_remove(&opts, &log);
    else if (strcmp(opts.command, "revoke") == 0)
        status = cmd_revoke(&opts, &log);
    else {
        complain("unknown command %s (see --help)", opts.command);
        status = EXIT_USAGE;
    }

    closelog();
    return status;
}
