#include "passage.h"

#include "reply.h"

#include <curl/curl.h>
#include <sys/auxv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USER_AGENT "pam_passage/" PP_VERSION

struct reply {
    char *body;
    size_t len;
    bool too_large;
};

struct request {
    const char *method; /* "POST" or "DELETE" */
    char *url;          /* may hold a token: wiped */
    char *body;         /* may hold a token: wiped; NULL for none */
};

char *pp_percent_encode(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(text) * 3 + 1);
    size_t n = 0;

    if (out == NULL)
        return NULL;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 0x0f];
        }
    }
    out[n] = '\0';
    return out;
}

char *pp_tokens_url(const char *api_url, const char *app_id,
                    const char *refresh_token)
{
    size_t api_len = strlen(api_url);
    char *app = pp_percent_encode(app_id);
    char *token = refresh_token ? pp_percent_encode(refresh_token) : NULL;
    char *url = NULL;
    int n;

    while (api_len > 0 && api_url[api_len - 1] == '/')
        api_len--;

    if (app != NULL && (refresh_token == NULL || token != NULL)) {
        if (token != NULL)
            n = asprintf(&url, "%.*s/apps/%s/tokens?refresh_token=%s",
                         (int)api_len, api_url, app, token);
        else
            n = asprintf(&url, "%.*s/apps/%s/tokens", (int)api_len, api_url,
                         app);
        if (n < 0)
            url = NULL;
    }

    free(app);
    pp_secret_free(token);
    return url;
}

/* Tokens are printable ASCII, so quotes and backslashes are all to escape. */
static char *refresh_body(const char *refresh_token)
{
    const char *prefix = "{\"refresh_token\":\"", *suffix = "\"}";
    char *body = malloc(strlen(prefix) + strlen(refresh_token) * 2 +
                        strlen(suffix) + 1);
    char *p = body;

    if (body == NULL)
        return NULL;

    p = stpcpy(p, prefix);
    for (const char *t = refresh_token; *t; t++) {
        if (*t == '"' || *t == '\\')
            *p++ = '\\';
        *p++ = *t;
    }
    stpcpy(p, suffix);
    return body;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct reply *reply = userdata;
    size_t len = size * nmemb;
    char *grown;

    if (reply->len + len > PP_REPLY_MAX) {
        reply->too_large = true;
        return 0;
    }

    grown = malloc(reply->len + len + 1);
    if (grown == NULL)
        return 0;

    if (reply->body != NULL)
        memcpy(grown, reply->body, reply->len);
    memcpy(grown + reply->len, data, len);
    grown[reply->len + len] = '\0';

    pp_wipe(reply->body, reply->len);
    free(reply->body);
    reply->body = grown;
    reply->len += len;
    return len;
}

static void reply_clear(struct reply *reply)
{
    pp_wipe(reply->body, reply->len);
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

static struct curl_slist *request_headers(bool has_body)
{
    struct curl_slist *headers, *more;

    headers = curl_slist_append(NULL, "Accept: application/json");
    if (headers == NULL || !has_body)
        return headers;

    more = curl_slist_append(headers, "Content-Type: application/json");
    if (more == NULL)
        curl_slist_free_all(headers);
    return more;
}

static bool setup(CURL *curl, const struct pp_config *cfg,
                  const struct request *req, struct reply *reply,
                  struct curl_slist *headers, char *errbuf)
{
    bool plain = strncmp(req->url, "http://", 7) == 0;
    CURLcode rc = CURLE_OK;

#define SET(option, value)                                                    \
    do {                                                                      \
        if (rc == CURLE_OK)                                                   \
            rc = curl_easy_setopt(curl, option, value);                       \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, plain ? "http" : "https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_CONNECTTIMEOUT, cfg->connect_timeout);
    /* Only proxy= counts: "" turns off the environment's proxy and its
     * no_proxy exceptions alike. */
    SET(CURLOPT_PROXY, cfg->proxy != NULL ? cfg->proxy : "");
    SET(CURLOPT_NOPROXY, "");
    SET(CURLOPT_USERAGENT, USER_AGENT);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_CUSTOMREQUEST, req->method);
    SET(CURLOPT_WRITEFUNCTION, collect);
    SET(CURLOPT_WRITEDATA, reply);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    if (cfg->ca_file != NULL)
        SET(CURLOPT_CAINFO, cfg->ca_file);
    if (req->body != NULL) {
        SET(CURLOPT_POSTFIELDS, req->body);
        SET(CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
    }
#undef SET
    return rc == CURLE_OK;
}

/* Failures before a connection existed: the server cannot have seen it. */
static bool never_connected(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_RESOLVE_PROXY;
}

static CURLcode transfer(CURL *curl, const struct pp_config *cfg,
                         struct reply *reply)
{
    time_t deadline = time(NULL) + cfg->timeout;
    CURLcode rc = CURLE_OK;

    for (int attempt = 0; attempt < 2; attempt++) {
        long left = (long)(deadline - time(NULL));

        if (attempt > 0 && (!never_connected(rc) || left < 1))
            break;

        reply_clear(reply);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, left < 1 ? 1L : left);
        rc = curl_easy_perform(curl);
        if (rc == CURLE_OK)
            break;
    }
    return rc;
}

/*
 * libcurl's first use reads SSLKEYLOGFILE from the environment and writes
 * TLS secrets there: in a setuid program (su, sudo) the invoking user would
 * choose a file that root writes.
 */
static bool environment_is_safe(const struct pp_log *log)
{
    if (getauxval(AT_SECURE) == 0 || getenv("SSLKEYLOGFILE") == NULL)
        return true;
    pp_log(log, LOG_ERR,
           "SSLKEYLOGFILE is set in a setuid program: no "
           "request made");
    return false;
}

static enum pp_result perform(const struct pp_config *cfg,
                              const struct pp_log *log,
                              const struct request *req, long *status,
                              struct reply *reply)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers;
    enum pp_result result = PP_OK;
    CURLcode rc;
    CURL *curl;

    *status = 0;
    if (!environment_is_safe(log))
        return PP_ERR_UNAVAILABLE;

    headers = request_headers(req->body != NULL);
    curl = curl_easy_init();
    if (curl == NULL || headers == NULL ||
        !setup(curl, cfg, req, reply, headers, errbuf)) {
        pp_log(log, LOG_ERR, "cannot set up the HTTPS client");
        result = PP_ERR_NOMEM;
    }

    if (result == PP_OK) {
        rc = transfer(curl, cfg, reply);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
            pp_log(log, LOG_DEBUG, "%s %s/apps/%s/tokens: HTTP %ld",
                   req->method, pp_config_api_url(cfg), cfg->app_id, *status);
        } else if (reply->too_large) {
            pp_log(log, LOG_ERR, "%s: reply larger than %d bytes refused",
                   req->method, PP_REPLY_MAX);
            result = PP_ERR_BAD_REPLY;
        } else {
            pp_log(log, LOG_ERR, "%s request failed: %s", req->method,
                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
            result = PP_ERR_UNAVAILABLE;
        }
    }

    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    return result;
}

static enum pp_result status_result(long status)
{
    if (status >= 200 && status < 300)
        return PP_OK;
    if (status == 400 || status == 401)
        return PP_ERR_REJECTED;
    if (status == 403 || status == 404)
        return PP_ERR_DENIED;
    return PP_ERR_UNAVAILABLE;
}

static enum pp_result check_status(const struct pp_log *log, const char *what,
                                   long status, const struct reply *reply)
{
    enum pp_result result = status_result(status);
    char code[64], message[160];

    if (result == PP_OK)
        return PP_OK;

    pp_reply_parse_error(reply->body ? reply->body : "", reply->len, code,
                         sizeof(code), message, sizeof(message));
    pp_log(log, result == PP_ERR_UNAVAILABLE ? LOG_ERR : LOG_WARNING,
           "%s refused: HTTP %ld%s%s%s%s", what, status, code[0] ? " " : "",
           code, message[0] ? ": " : "", message);
    return result;
}

static enum pp_result read_tokens(const struct pp_log *log,
                                  const struct reply *reply,
                                  const char *refresh_token,
                                  struct pp_tokens *out)
{
    const char *why = NULL;
    enum pp_result result;

    result = pp_reply_parse_tokens(reply->body ? reply->body : "", reply->len,
                                   time(NULL), out, &why);
    if (result == PP_ERR_BAD_REPLY)
        pp_log(log, LOG_ERR, "refresh reply unusable: %s", why);
    if (result != PP_OK || out->refresh_token != NULL)
        return result;

    /* No rotation: the token sent stays the session's refresh token. */
    out->refresh_token = pp_secret_dup(refresh_token);
    return out->refresh_token != NULL ? PP_OK : PP_ERR_NOMEM;
}

enum pp_result pp_passage_refresh(const struct pp_config *cfg,
                                  const struct pp_log *log,
                                  const char *refresh_token,
                                  struct pp_tokens *out)
{
    struct request req = {"POST", NULL, NULL};
    struct reply reply = {0};
    char old_fp[9], new_fp[9];
    enum pp_result result;
    long status;

    memset(out, 0, sizeof(*out));
    req.url = pp_tokens_url(pp_config_api_url(cfg), cfg->app_id, NULL);
    req.body = refresh_body(refresh_token);
    if (req.url == NULL || req.body == NULL)
        result = PP_ERR_NOMEM;
    else
        result = perform(cfg, log, &req, &status, &reply);

    if (result == PP_OK)
        result = check_status(log, "refresh", status, &reply);
    if (result == PP_OK)
        result = read_tokens(log, &reply, refresh_token, out);

    if (result == PP_OK) {
        pp_token_fingerprint(refresh_token, old_fp);
        pp_token_fingerprint(out->refresh_token, new_fp);
        pp_log(log, LOG_INFO,
               "refresh token %s exchanged; new refresh token %s, auth "
               "token valid for %lds",
               old_fp, new_fp, (long)(out->auth_expires - time(NULL)));
    }

    reply_clear(&reply);
    free(req.url);
    pp_secret_free(req.body);
    return result;
}

enum pp_result pp_passage_revoke(const struct pp_config *cfg,
                                 const struct pp_log *log,
                                 const char *refresh_token)
{
    struct request req = {"DELETE", NULL, NULL};
    struct reply reply = {0};
    enum pp_result result;
    char fp[9];
    long status;

    req.url =
        pp_tokens_url(pp_config_api_url(cfg), cfg->app_id, refresh_token);
    if (req.url == NULL)
        result = PP_ERR_NOMEM;
    else
        result = perform(cfg, log, &req, &status, &reply);

    if (result == PP_OK)
        result = check_status(log, "revoke", status, &reply);

    pp_token_fingerprint(refresh_token, fp);
    if (result == PP_OK)
        pp_log(log, LOG_INFO, "refresh token %s revoked", fp);

    /* 400 or 401: the token was dead already, which is what we wanted. */
    if (result == PP_ERR_REJECTED) {
        pp_log(log, LOG_INFO, "refresh token %s was already invalid", fp);
        result = PP_OK;
    }

    reply_clear(&reply);
    pp_secret_free(req.url);
    return result;
}
