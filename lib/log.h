/*
 * The logging layer: one place decides where a line goes.
 *
 * Inside the module every line goes to pam_syslog (LOG_AUTHPRIV) with the
 * user's name; in passage-token lines go to syslog and failures also to
 * standard error.  LOG_DEBUG lines appear only when debug is on.
 */
#ifndef PP_LOG_H
#define PP_LOG_H

#include <security/pam_modules.h>
#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

struct pp_log {
    pam_handle_t *pamh;  /* NULL outside the module */
    const char *user;    /* who the line is about; may be NULL */
    const char *program; /* prefix for standard error; NULL: no stderr */
    bool debug;
};

void pp_log(const struct pp_log *log, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Copies server-supplied text into out for logging: control characters
 * become '?', leading and trailing space goes, and long text is cut.
 */
void pp_log_sanitize(const char *text, size_t len, char *out, size_t out_size);

#endif
