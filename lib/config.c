#include "config.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (64 * 1024)
#define TIMEOUT_MAX 300

enum option_type { OPT_STRING, OPT_FLAG, OPT_SECONDS, OPT_ON_CLOSE };

struct option {
    const char *name;
    enum option_type type;
    size_t offset;
};

#define OPTION(name, type)                                                    \
    {                                                                         \
#name, type, offsetof(struct pp_config, name)                         \
    }

/* Sorted by name. */
static const struct option options[] = {
    OPTION(api_url, OPT_STRING),
    OPTION(app_id, OPT_STRING),
    OPTION(ca_file, OPT_STRING),
    OPTION(config, OPT_STRING),
    OPTION(connect_timeout, OPT_SECONDS),
    OPTION(debug, OPT_FLAG),
    OPTION(nouserok, OPT_FLAG),
    OPTION(on_close, OPT_ON_CLOSE),
    OPTION(prompt, OPT_FLAG),
    OPTION(proxy, OPT_STRING),
    OPTION(session_exchange, OPT_FLAG),
    OPTION(store, OPT_STRING),
    OPTION(timeout, OPT_SECONDS),
    OPTION(try_first_pass, OPT_FLAG),
    OPTION(use_first_pass, OPT_FLAG),
    OPTION(user_map, OPT_STRING),
};

void pp_config_init(struct pp_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->on_close = PP_ON_CLOSE_REVOKE;
    cfg->connect_timeout = 5;
    cfg->timeout = 10;
}

void pp_config_free(struct pp_config *cfg)
{
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        if (options[i].type == OPT_STRING)
            free(*(char **)((char *)cfg + options[i].offset));
    }
    pp_config_init(cfg);
}

static const struct option *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        if (strlen(options[i].name) == len &&
            strncmp(options[i].name, name, len) == 0)
            return &options[i];
    }
    return NULL;
}

static bool parse_flag(const char *value, bool *out)
{
    if (value == NULL || strcmp(value, "yes") == 0 ||
        strcmp(value, "true") == 0 || strcmp(value, "on") == 0 ||
        strcmp(value, "1") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
        strcmp(value, "off") == 0 || strcmp(value, "0") == 0) {
        *out = false;
        return true;
    }
    return false;
}

static bool parse_seconds(const char *value, long *out)
{
    char *end;
    long n;

    if (value == NULL || *value < '0' || *value > '9')
        return false;

    errno = 0;
    n = strtol(value, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > TIMEOUT_MAX)
        return false;

    *out = n;
    return true;
}

static bool parse_on_close(const char *value, enum pp_on_close *out)
{
    if (value != NULL && strcmp(value, "revoke") == 0)
        *out = PP_ON_CLOSE_REVOKE;
    else if (value != NULL && strcmp(value, "keep") == 0)
        *out = PP_ON_CLOSE_KEEP;
    else
        return false;
    return true;
}

static enum pp_result set_string(char **field, const char *value)
{
    char *copy;

    if (value == NULL || *value == '\0')
        return PP_ERR_CONFIG;

    copy = strdup(value);
    if (copy == NULL)
        return PP_ERR_NOMEM;

    free(*field);
    *field = copy;
    return PP_OK;
}

static enum pp_result apply(struct pp_config *cfg, const struct option *opt,
                            const char *value)
{
    void *field = (char *)cfg + opt->offset;

    switch (opt->type) {
    case OPT_STRING:
        return set_string(field, value);
    case OPT_FLAG:
        return parse_flag(value, field) ? PP_OK : PP_ERR_CONFIG;
    case OPT_SECONDS:
        return parse_seconds(value, field) ? PP_OK : PP_ERR_CONFIG;
    case OPT_ON_CLOSE:
        return parse_on_close(value, field) ? PP_OK : PP_ERR_CONFIG;
    }
    return PP_ERR_CONFIG;
}

enum pp_result pp_config_set(struct pp_config *cfg, const char *word,
                             const char *origin, const struct pp_log *log)
{
    const char *eq = strchr(word, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - word) : strlen(word);
    const char *value = eq != NULL ? eq + 1 : NULL;
    const struct option *opt = find_option(word, name_len);
    enum pp_result result;

    if (opt == NULL) {
        pp_log(log, LOG_ERR, "%s: unknown option \"%.*s\"", origin,
               (int)(name_len > 64 ? 64 : name_len), word);
        return PP_ERR_CONFIG;
    }

    result = apply(cfg, opt, value);
    if (result == PP_ERR_CONFIG)
        pp_log(log, LOG_ERR, "%s: bad value for option \"%s\"", origin,
               opt->name);
    return result;
}

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *end = '\0';
    return s;
}

/* Turns "key = value" into "key=value" in place, for pp_config_set. */
static char *line_to_word(char *line)
{
    char *eq = strchr(line, '=');
    char *key, *value;
    size_t key_len;

    if (eq == NULL)
        return trim(line);

    *eq = '\0';
    key = trim(line);
    value = trim(eq + 1);
    key_len = strlen(key);
    memmove(line, key, key_len);
    line[key_len] = '=';
    memmove(line + key_len + 1, value, strlen(value) + 1);
    return line;
}

enum pp_result pp_config_parse_text(struct pp_config *cfg, const char *text,
                                    const char *origin,
                                    const struct pp_log *log)
{
    char *copy = strdup(text);
    char *line, *save = NULL;
    char where[512];
    int number = 0;
    enum pp_result result = copy != NULL ? PP_OK : PP_ERR_NOMEM;

    for (line = copy; result == PP_OK && line != NULL; line = save) {
        char *word;

        save = strchr(line, '\n');
        if (save != NULL)
            *save++ = '\0';
        number++;

        word = line_to_word(line);
        if (*word == '\0' || *word == '#')
            continue;

        snprintf(where, sizeof(where), "%s:%d", origin, number);
        if (strncmp(word, "config=", 7) == 0 || strcmp(word, "config") == 0) {
            pp_log(log, LOG_ERR,
                   "%s: option \"config\" is only valid as a "
                   "module argument",
                   where);
            result = PP_ERR_CONFIG;
        } else {
            result = pp_config_set(cfg, word, where, log);
        }
    }

    free(copy);
    return result;
}

/* passage-token may read a file of its user; a setuid host only root's. */
static bool owned_by_caller(uid_t owner)
{
    return getauxval(AT_SECURE) == 0 && owner == getuid();
}

static enum pp_result check_config_file(int fd, const char *path,
                                        const struct pp_log *log)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        pp_log(log, LOG_ERR, "%s: %s", path, strerror(errno));
        return PP_ERR_SYSTEM;
    }
    if (!S_ISREG(st.st_mode)) {
        pp_log(log, LOG_ERR, "%s: not a regular file", path);
        return PP_ERR_CONFIG;
    }
    if ((st.st_uid != 0 && !owned_by_caller(st.st_uid)) ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        pp_log(log, LOG_ERR, "%s: writable by others or wrong owner", path);
        return PP_ERR_UNSAFE;
    }
    if (st.st_size > CONFIG_FILE_MAX) {
        pp_log(log, LOG_ERR, "%s: larger than %d bytes", path,
               CONFIG_FILE_MAX);
        return PP_ERR_CONFIG;
    }
    return PP_OK;
}

enum pp_result pp_config_read_file(const char *path, char **text,
                                   bool must_exist, const struct pp_log *log)
{
    char *buf = NULL;
    ssize_t n = 0;
    enum pp_result result;
    int fd =
        open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    *text = NULL;
    if (fd < 0) {
        if (errno == ENOENT && !must_exist)
            return PP_OK;
        pp_log(log, LOG_ERR, "cannot open %s: %s", path, strerror(errno));
        return errno == ELOOP ? PP_ERR_UNSAFE : PP_ERR_CONFIG;
    }

    result = check_config_file(fd, path, log);
    if (result == PP_OK) {
        buf = malloc(CONFIG_FILE_MAX + 1);
        result = buf != NULL ? PP_OK : PP_ERR_NOMEM;
    }
    if (result == PP_OK) {
        n = read(fd, buf, CONFIG_FILE_MAX);
        if (n < 0) {
            pp_log(log, LOG_ERR, "cannot read %s: %s", path, strerror(errno));
            result = PP_ERR_SYSTEM;
        }
    }

    close(fd);
    if (result == PP_OK && memchr(buf, '\0', (size_t)n) != NULL) {
        pp_log(log, LOG_ERR, "%s: not a text file (holds a NUL byte)", path);
        result = PP_ERR_CONFIG;
    }
    if (result != PP_OK) {
        free(buf);
        return result;
    }
    buf[n] = '\0';
    *text = buf;
    return PP_OK;
}

/* The config= argument must be known before the file is read. */
static enum pp_result find_config_path(struct pp_config *cfg, int argc,
                                       const char **argv,
                                       const struct pp_log *log)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "config=", 7) == 0) {
            enum pp_result result =
                pp_config_set(cfg, argv[i], "argument", log);
            if (result != PP_OK)
                return result;
        }
    }
    return PP_OK;
}

enum pp_result pp_config_load(struct pp_config *cfg, int argc,
                              const char **argv, const struct pp_log *log)
{
    const char *path;
    char *text = NULL;
    enum pp_result result = find_config_path(cfg, argc, argv, log);

    path = cfg->config != NULL ? cfg->config : PP_CONFIG_FILE;
    if (result == PP_OK)
        result = pp_config_read_file(path, &text, cfg->config != NULL, log);
    if (result == PP_OK && text != NULL)
        result = pp_config_parse_text(cfg, text, path, log);
    free(text);

    for (int i = 0; result == PP_OK && i < argc; i++)
        result = pp_config_set(cfg, argv[i], "argument", log);
    return result;
}

const char *pp_config_api_url(const struct pp_config *cfg)
{
    return cfg->api_url != NULL ? cfg->api_url : PP_DEFAULT_API_URL;
}

long pp_config_lock_wait(const struct pp_config *cfg)
{
    return cfg->connect_timeout + cfg->timeout + 5;
}

const char *pp_config_store(const struct pp_config *cfg)
{
    return cfg->store != NULL ? cfg->store : PP_DEFAULT_STORE;
}

/* Addresses only: a name like 127.example.com can point anywhere. */
static bool is_loopback_host(const char *host)
{
    struct in_addr addr;

    if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
        return true;
    return inet_pton(AF_INET, host, &addr) == 1 &&
           (ntohl(addr.s_addr) >> 24) == 127;
}

/* A URL part that must be absent: credentials, a query, a fragment. */
static bool has_part(CURLU *parsed, CURLUPart part)
{
    char *value = NULL;
    bool present = curl_url_get(parsed, part, &value, 0) == CURLUE_OK;

    curl_free(value);
    return present;
}

/*
 * https:// anywhere; plain http:// only to loopback, for tests.  Written
 * exactly so, lower case, as the HTTPS client tells them apart.
 */
static bool url_is_acceptable(const char *url, bool *plain)
{
    CURLU *parsed = curl_url();
    char *host = NULL;
    bool ok = false;

    *plain = strncmp(url, "http://", 7) == 0;
    if (parsed == NULL || (!*plain && strncmp(url, "https://", 8) != 0)) {
        curl_url_cleanup(parsed);
        return false;
    }

    if (curl_url_set(parsed, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        ok = !has_part(parsed, CURLUPART_USER) &&
             !has_part(parsed, CURLUPART_QUERY) &&
             !has_part(parsed, CURLUPART_FRAGMENT) &&
             (!*plain || is_loopback_host(host));

    curl_free(host);
    curl_url_cleanup(parsed);
    return ok;
}

static bool proxy_has_credentials(const char *proxy)
{
    CURLU *parsed = curl_url();
    bool found = false;

    if (parsed != NULL && curl_url_set(parsed, CURLUPART_URL, proxy,
                                       CURLU_GUESS_SCHEME) == CURLUE_OK)
        found = has_part(parsed, CURLUPART_USER);
    curl_url_cleanup(parsed);
    return found;
}

static enum pp_result check_api_url(const struct pp_config *cfg,
                                    const struct pp_log *log)
{
    bool plain = false;

    if (!url_is_acceptable(pp_config_api_url(cfg), &plain)) {
        pp_log(log, LOG_ERR,
               "option \"api_url\": not an https:// URL without "
               "credentials, query or fragment (plain http:// is allowed "
               "only for loopback addresses)");
        return PP_ERR_CONFIG;
    }
    if (cfg->proxy != NULL && proxy_has_credentials(cfg->proxy)) {
        pp_log(log, LOG_ERR,
               "option \"proxy\": credentials in the URL are "
               "not supported (every session's keyring would "
               "hold a copy)");
        return PP_ERR_CONFIG;
    }
    if (plain && cfg->proxy != NULL) {
        pp_log(log, LOG_ERR,
               "option \"proxy\": not with a plain http:// "
               "api_url, which would send tokens to the proxy "
               "in the clear");
        return PP_ERR_CONFIG;
    }
    return PP_OK;
}

/* errno says why when it is false for want of a file at all. */
static bool is_regular_file(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return false;
    errno = S_ISREG(st.st_mode) ? 0 : EINVAL;
    return S_ISREG(st.st_mode);
}

/* curl would block on a FIFO and read anything else as a bundle. */
static enum pp_result check_ca_file(const struct pp_config *cfg,
                                    const struct pp_log *log)
{
    if (cfg->ca_file == NULL)
        return PP_OK;
    if (!is_regular_file(cfg->ca_file)) {
        pp_log(log, LOG_ERR, "option \"ca_file\": %s: %s", cfg->ca_file,
               errno == EINVAL ? "not a regular file" : strerror(errno));
        return PP_ERR_CONFIG;
    }
    return PP_OK;
}

/* A typed token could belong to any Passage user: user_map says whose. */
static enum pp_result check_token_sources(const struct pp_config *cfg,
                                          const struct pp_log *log)
{
    bool typed = cfg->prompt || cfg->use_first_pass || cfg->try_first_pass;

    if (cfg->use_first_pass && cfg->try_first_pass) {
        pp_log(log, LOG_ERR,
               "options \"use_first_pass\" and "
               "\"try_first_pass\" exclude each other");
        return PP_ERR_CONFIG;
    }
    if (typed && cfg->user_map == NULL) {
        pp_log(log, LOG_ERR,
               "options \"prompt\", \"use_first_pass\" and "
               "\"try_first_pass\" need \"user_map\": without it any "
               "Passage user's token would open any local account");
        return PP_ERR_CONFIG;
    }
    return PP_OK;
}

enum pp_result pp_config_validate(const struct pp_config *cfg,
                                  const struct pp_log *log)
{
    enum pp_result result = PP_OK;

    if (cfg->app_id == NULL) {
        pp_log(log, LOG_ERR, "option \"app_id\" is required");
        result = PP_ERR_CONFIG;
    }
    if (result == PP_OK)
        result = check_api_url(cfg, log);
    if (result == PP_OK)
        result = check_ca_file(cfg, log);
    if (result == PP_OK)
        result = check_token_sources(cfg, log);
    return result;
}

static bool append(char **text, const char *key, const char *value)
{
    char *grown;

    if (value == NULL)
        return true;
    if (asprintf(&grown, "%s%s=%s\n", *text, key, value) < 0)
        return false;
    free(*text);
    *text = grown;
    return true;
}

char *pp_config_session_text(const struct pp_config *cfg)
{
    char connect_timeout[24], timeout[24];
    char *text = strdup("");
    bool ok;

    snprintf(connect_timeout, sizeof(connect_timeout), "%ld",
             cfg->connect_timeout);
    snprintf(timeout, sizeof(timeout), "%ld", cfg->timeout);

    ok = text != NULL && append(&text, "app_id", cfg->app_id) &&
         append(&text, "api_url", cfg->api_url) &&
         append(&text, "ca_file", cfg->ca_file) &&
         append(&text, "proxy", cfg->proxy) &&
         append(&text, "connect_timeout", connect_timeout) &&
         append(&text, "timeout", timeout);
    if (!ok) {
        free(text);
        return NULL;
    }
    return text;
}
