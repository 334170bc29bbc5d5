#include "log.h"

#include <security/pam_ext.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* User names come from the client: cap them like OpenSSH does. */
#define USER_LOG_MAX 64

static void emit(const struct pp_log *log, int priority, const char *msg)
{
    char user[USER_LOG_MAX + 1];

    /* The name comes from the client: no control characters in the log. */
    if (log->user != NULL)
        pp_log_sanitize(log->user, strnlen(log->user, USER_LOG_MAX), user,
                        sizeof(user));

    if (log->pamh != NULL) {
        if (log->user != NULL)
            pam_syslog(log->pamh, priority, "user %s: %s", user, msg);
        else
            pam_syslog(log->pamh, priority, "%s", msg);
        return;
    }

    syslog(LOG_AUTHPRIV | priority, "%s", msg);
    if (log->program != NULL &&
        (priority <= LOG_WARNING || (log->debug && priority == LOG_DEBUG)))
        fprintf(stderr, "%s: %s\n", log->program, msg);
}

void pp_log(const struct pp_log *log, int priority, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (priority == LOG_DEBUG && !log->debug)
        return;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    emit(log, priority, msg);
}

void pp_log_sanitize(const char *text, size_t len, char *out, size_t out_size)
{
    size_t n = 0;

    if (out_size == 0)
        return;

    while (len > 0 && (unsigned char)text[0] <= ' ') {
        text++;
        len--;
    }
    while (len > 0 && (unsigned char)text[len - 1] <= ' ')
        len--;

    for (size_t i = 0; i < len && n + 1 < out_size; i++) {
        unsigned char c = (unsigned char)text[i];
        out[n++] = (c < ' ' || c == 0x7f) ? '?' : (char)c;
    }
    out[n] = '\0';
}
