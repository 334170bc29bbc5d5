/*
 * pam-driver: runs one PAM transaction through real libpam, step by step,
 * for the integration tests and the demo.
 *
 *   pam-driver [--confdir DIR] [--silent] [--no-conv] SERVICE USER STEP...
 *
 * Steps: auth, auth-fork (authenticate in a forked child and copy the PAM
 * environment back, as sshd does), acct, setcred, setcred-delete,
 * setcred-refresh, open, close, env, and run:COMMAND (runs COMMAND as the
 * user inside the open session, with the PAM environment).  Each step prints
 * "STEP RESULT" on standard output, RESULT being the PAM code's name.
 * Prompts are answered with lines read from standard input.
 */
#include <grp.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *code_name(int rc)
{
    static const struct {
        int rc;
        const char *name;
    } names[] = {
        {PAM_SUCCESS, "PAM_SUCCESS"},
        {PAM_IGNORE, "PAM_IGNORE"},
        {PAM_AUTH_ERR, "PAM_AUTH_ERR"},
        {PAM_AUTHINFO_UNAVAIL, "PAM_AUTHINFO_UNAVAIL"},
        {PAM_USER_UNKNOWN, "PAM_USER_UNKNOWN"},
        {PAM_SERVICE_ERR, "PAM_SERVICE_ERR"},
        {PAM_SYSTEM_ERR, "PAM_SYSTEM_ERR"},
        {PAM_BUF_ERR, "PAM_BUF_ERR"},
        {PAM_PERM_DENIED, "PAM_PERM_DENIED"},
        {PAM_SESSION_ERR, "PAM_SESSION_ERR"},
        {PAM_CRED_ERR, "PAM_CRED_ERR"},
        {PAM_CRED_UNAVAIL, "PAM_CRED_UNAVAIL"},
        {PAM_CRED_EXPIRED, "PAM_CRED_EXPIRED"},
        {PAM_CONV_ERR, "PAM_CONV_ERR"},
        {PAM_ABORT, "PAM_ABORT"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].rc == rc)
            return names[i].name;
    }
    return "PAM_OTHER";
}

static char *read_answer(void)
{
    char line[8192];
    size_t len;

    if (fgets(line, sizeof(line), stdin) == NULL)
        return NULL;
    len = strcspn(line, "\n");
    line[len] = '\0';
    return strdup(line);
}

static int converse(int n, const struct pam_message **msg,
                    struct pam_response **resp, void *data)
{
    struct pam_response *out = calloc((size_t)n, sizeof(*out));

    (void)data;
    if (out == NULL)
        return PAM_BUF_ERR;

    for (int i = 0; i < n; i++) {
        int style = msg[i]->msg_style;

        fprintf(stderr, "conv: %s\n", msg[i]->msg);
        if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON)
            out[i].resp = read_answer();
    }
    *resp = out;
    return PAM_SUCCESS;
}

static int run_as_user(pam_handle_t *pamh, const char *user,
                       const char *command)
{
    struct passwd *pw = getpwnam(user);
    int status;
    pid_t pid;

    if (pw == NULL)
        return -1;

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char **env = pam_getenvlist(pamh);

        if (initgroups(user, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
            setuid(pw->pw_uid) != 0 || chdir("/") != 0)
            _exit(126);
        execle("/bin/sh", "sh", "-c", command, (char *)NULL, env);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* sshd authenticates in a child; only the PAM environment comes back. */
static int auth_in_child(pam_handle_t *pamh, int flags)
{
    int pipefd[2], status;
    char line[4096];
    FILE *in;
    pid_t pid;

    if (pipe(pipefd) != 0)
        return PAM_SYSTEM_ERR;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int rc = pam_authenticate(pamh, flags);
        char **env = pam_getenvlist(pamh);
        FILE *out = fdopen(pipefd[1], "w");

        for (int i = 0; env != NULL && env[i] != NULL; i++) {
            fprintf(out, "%s\n", env[i]);
            free(env[i]);
        }
        free(env);
        fclose(out);
        pam_end(pamh, rc | PAM_DATA_SILENT);
        _exit(rc);
    }

    close(pipefd[1]);
    in = fdopen(pipefd[0], "r");
    while (in != NULL && fgets(line, sizeof(line), in) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        pam_putenv(pamh, line);
    }
    if (in != NULL)
        fclose(in);
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return PAM_SYSTEM_ERR;
    return WEXITSTATUS(status);
}

static void print_env(pam_handle_t *pamh)
{
    char **env = pam_getenvlist(pamh);

    for (int i = 0; env != NULL && env[i] != NULL; i++) {
        printf("env: %s\n", env[i]);
        free(env[i]);
    }
    free(env);
}

static int step(pam_handle_t *pamh, const char *user, const char *name,
                int flags)
{
    if (strcmp(name, "auth") == 0)
        return pam_authenticate(pamh, flags);
    if (strcmp(name, "auth-fork") == 0)
        return auth_in_child(pamh, flags);
    if (strcmp(name, "acct") == 0)
        return pam_acct_mgmt(pamh, flags);
    if (strcmp(name, "setcred") == 0)
        return pam_setcred(pamh, flags | PAM_ESTABLISH_CRED);
    if (strcmp(name, "setcred-delete") == 0)
        return pam_setcred(pamh, flags | PAM_DELETE_CRED);
    if (strcmp(name, "setcred-refresh") == 0)
        return pam_setcred(pamh, flags | PAM_REFRESH_CRED);
    if (strcmp(name, "open") == 0)
        return pam_open_session(pamh, flags);
    if (strcmp(name, "close") == 0)
        return pam_close_session(pamh, flags);
    if (strcmp(name, "env") == 0) {
        print_env(pamh);
        return PAM_SUCCESS;
    }
    if (strncmp(name, "run:", 4) == 0)
        return run_as_user(pamh, user, name + 4);
    fprintf(stderr, "pam-driver: unknown step %s\n", name);
    return -1;
}

int main(int argc, char **argv)
{
    struct pam_conv conv = {converse, NULL}, no_conv = {NULL, NULL};
    const char *confdir = NULL;
    pam_handle_t *pamh = NULL;
    int flags = 0, i = 1, rc = PAM_SUCCESS;
    bool use_conv = true;

    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--confdir") == 0 && i + 1 < argc)
            confdir = argv[++i];
        else if (strcmp(argv[i], "--silent") == 0)
            flags |= PAM_SILENT;
        else if (strcmp(argv[i], "--no-conv") == 0)
            use_conv = false;
    }
    if (argc - i < 2) {
        fprintf(stderr, "usage: pam-driver [--confdir DIR] [--silent] "
                        "[--no-conv] SERVICE USER STEP...\n");
        return 2;
    }

    rc = pam_start_confdir(argv[i], argv[i + 1], use_conv ? &conv : &no_conv,
                           confdir, &pamh);
    if (rc != PAM_SUCCESS) {
        printf("start %s\n", code_name(rc));
        return 1;
    }

    for (int s = i + 2; s < argc; s++) {
        int result = step(pamh, argv[i + 1], argv[s], flags);

        if (strncmp(argv[s], "run:", 4) == 0)
            printf("run %d\n", result);
        else if (strcmp(argv[s], "env") != 0)
            printf("%s %s\n", argv[s], code_name(result));
        fflush(stdout);
    }

    pam_end(pamh, rc);
    return 0;
}
