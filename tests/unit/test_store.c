/*
 * Unit tests for lib/store.c: safe user names, template expansion, and the
 * entry files themselves in a private directory under /tmp.
 *
 * The tests run as root, so the store's owner checks see a trusted owner;
 * the files another owner would hold are made here with chown.
 */
#include "unit.h"

#include "../../lib/store.h"

#include <dirent.h>
#include <sys/fsuid.h>

#define LEASE_ID "0123456789abcdef0123456789abcdef"

/* Ids that are not root's: the owner of files the store must refuse. */
#define OTHER_UID 54321
#define OTHER_GID 54321

struct fixture {
    char *root;  /* the mkdtemp directory */
    char *dir;   /* root/store, the store directory, made 0700 */
    char *tmpl;  /* root/store/%u */
    char *entry; /* root/store/alice */
    struct passwd pw;
    struct pp_store store;
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->root = unit_temp_dir();
    f->dir = unit_path(f->root, "store");
    f->tmpl = unit_path(f->dir, "%u");
    f->entry = unit_path(f->dir, "alice");
    assert_int_equal(mkdir(f->dir, 0700), 0);

    f->pw.pw_name = (char *)"alice";
    f->pw.pw_dir = f->root;
    f->pw.pw_uid = 0;
    f->pw.pw_gid = 0;

    f->store = (struct pp_store)PP_STORE_INIT;
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;

    pp_store_close(&f->store);
    unit_remove_tree(f->root);
    free(f->root);
    free(f->dir);
    free(f->tmpl);
    free(f->entry);
    free(f);
    return 0;
}

/* pp_store_init and pp_store_lock of tmpl, without waiting for a lock. */
static enum pp_result open_store(struct fixture *f, const char *tmpl)
{
    enum pp_result result =
        pp_store_init(&f->store, tmpl, &f->pw, 0, unit_log());

    if (result == PP_OK)
        result = pp_store_lock(&f->store);
    return result;
}

/* Locks the fixture's store, which must work. */
static void lock(struct fixture *f)
{
    assert_int_equal(open_store(f, f->tmpl), PP_OK);
}

/* The token the store holds now, or NULL; the caller frees it. */
static char *read_token(struct fixture *f)
{
    struct pp_entry entry;
    char *token;

    assert_int_equal(pp_store_read(&f->store, &entry), PP_OK);
    token = entry.token != NULL ? strdup(entry.token) : NULL;
    pp_entry_clear(&entry);
    return token;
}

static void assert_no_file(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
}

/* ---- pp_user_name_is_safe ---- */

static void test_store_ordinary_user_names_are_safe(void **state)
{
    (void)state;
    assert_true(pp_user_name_is_safe("alice"));
    assert_true(pp_user_name_is_safe("a.b-c_d"));
    assert_true(pp_user_name_is_safe("alice@example.test"));
    assert_true(pp_user_name_is_safe("x"));
}

static void test_store_user_name_with_slash_unsafe(void **state)
{
    (void)state;
    assert_false(pp_user_name_is_safe("a/b"));
    assert_false(pp_user_name_is_safe("/"));
    assert_false(pp_user_name_is_safe("alice/"));
    assert_false(pp_user_name_is_safe("../../etc/passwd"));
}

/* "." and ".." are directories, and ".NAME.lock" files are the store's. */
static void test_store_user_name_with_leading_dot_unsafe(void **state)
{
    (void)state;
    assert_false(pp_user_name_is_safe("."));
    assert_false(pp_user_name_is_safe(".."));
    assert_false(pp_user_name_is_safe(".alice"));
    assert_false(pp_user_name_is_safe(".alice.lock"));
    /* Only a leading dot is refused. */
    assert_true(pp_user_name_is_safe("al.ice."));
}

static void test_store_user_name_with_control_chars_unsafe(void **state)
{
    (void)state;
    assert_false(pp_user_name_is_safe("al\nice"));
    assert_false(pp_user_name_is_safe("al\tice"));
    assert_false(pp_user_name_is_safe("\x1b[31malice"));
    assert_false(pp_user_name_is_safe("alice\r"));
    assert_false(pp_user_name_is_safe("alice\x7f"));
}

static void test_store_user_name_of_255_bytes_safe(void **state)
{
    char name[256];

    (void)state;
    memset(name, 'n', 255);
    name[255] = '\0';
    assert_true(pp_user_name_is_safe(name));
}

static void test_store_user_name_of_256_bytes_unsafe(void **state)
{
    char name[257];

    (void)state;
    memset(name, 'n', 256);
    name[256] = '\0';
    assert_false(pp_user_name_is_safe(name));
}

static void test_store_empty_user_name_unsafe(void **state)
{
    (void)state;
    assert_false(pp_user_name_is_safe(""));
    assert_false(pp_user_name_is_safe(NULL));
}

/* ---- pp_store_expand ---- */

static struct passwd user(const char *name, const char *home)
{
    struct passwd pw;

    memset(&pw, 0, sizeof(pw));
    pw.pw_name = (char *)name;
    pw.pw_dir = (char *)home;
    return pw;
}

static void assert_expands(const char *tmpl, const char *expected)
{
    struct passwd pw = user("alice", "/home/alice");
    char *path = NULL;

    assert_int_equal(pp_store_expand(tmpl, &pw, &path), PP_OK);
    assert_non_null(path);
    assert_string_equal(path, expected);
    free(path);
}

static void assert_expand_fails(const char *tmpl, const char *name,
                                const char *home, enum pp_result expected)
{
    struct passwd pw = user(name, home);
    char *path = (char *)"not set";

    assert_int_equal(pp_store_expand(tmpl, &pw, &path), expected);
    assert_null(path);
}

static void test_store_expand_user_name(void **state)
{
    (void)state;
    assert_expands("/var/lib/pam_passage/%u", "/var/lib/pam_passage/alice");
    assert_expands("/srv/%u/%u.token", "/srv/alice/alice.token");
}

static void test_store_expand_home(void **state)
{
    (void)state;
    assert_expands("%h/.passage-token", "/home/alice/.passage-token");
}

static void test_store_expand_percent_percent(void **state)
{
    (void)state;
    assert_expands("/srv/100%%/%u", "/srv/100%/alice");
}

static void test_store_expand_without_escapes_kept(void **state)
{
    (void)state;
    assert_expands("/srv/tokens/shared", "/srv/tokens/shared");
}

static void test_store_expand_unknown_escape_refused(void **state)
{
    (void)state;
    assert_expand_fails("/srv/%x/%u", "alice", "/home/alice", PP_ERR_CONFIG);
    assert_expand_fails("/srv/%U", "alice", "/home/alice", PP_ERR_CONFIG);
}

static void test_store_expand_lone_percent_at_end_refused(void **state)
{
    (void)state;
    assert_expand_fails("/srv/%u%", "alice", "/home/alice", PP_ERR_CONFIG);
}

static void test_store_expand_dot_components_refused(void **state)
{
    (void)state;
    assert_expand_fails("/srv/%u/..", "alice", "/home/alice", PP_ERR_CONFIG);
    assert_expand_fails("/srv/%u/.", "alice", "/home/alice", PP_ERR_CONFIG);
    assert_expand_fails("/srv/../%u", "alice", "/home/alice", PP_ERR_CONFIG);
}

static void test_store_expand_relative_result_refused(void **state)
{
    (void)state;
    assert_expand_fails("store/%u", "alice", "/home/alice", PP_ERR_CONFIG);
    assert_expand_fails("%u", "alice", "/home/alice", PP_ERR_CONFIG);
    assert_expand_fails("", "alice", "/home/alice", PP_ERR_CONFIG);
}

static void test_store_expand_relative_home_refused(void **state)
{
    (void)state;
    assert_expand_fails("%h/.passage-token", "alice", "home/alice",
                        PP_ERR_CONFIG);
}

static void test_store_expand_unsafe_user_name_refused(void **state)
{
    (void)state;
    assert_expand_fails("/srv/%u", "../root", "/home/alice", PP_ERR_USER);
    assert_expand_fails("/srv/%u", "", "/home/alice", PP_ERR_USER);
}

/* ---- write and read ---- */

static void test_store_read_without_entry_gives_no_token(void **state)
{
    struct fixture *f = *state;
    char *token;

    lock(f);
    token = read_token(f);
    assert_null(token);
}

static void test_store_write_then_read_back(void **state)
{
    struct fixture *f = *state;
    char *token;

    lock(f);
    assert_int_equal(pp_store_write(&f->store, "rt-first.Token_1~", NULL, 0),
                     PP_OK);
    token = read_token(f);
    assert_string_equal(token, "rt-first.Token_1~");
    free(token);
}

/* The entry is the token on its first line, readable without lib/. */
static void test_store_entry_file_holds_token_line(void **state)
{
    struct fixture *f = *state;
    char *content;

    lock(f);
    assert_int_equal(pp_store_write(&f->store, "rt-on-disk", NULL, 0), PP_OK);
    content = unit_read_file(f->entry);
    assert_string_equal(content, "rt-on-disk\n");
    free(content);
}

static void test_store_entry_written_by_hand_is_read(void **state)
{
    struct fixture *f = *state;
    char *token;

    unit_write_file(f->entry, "rt-by-hand\n", 0600);
    lock(f);
    token = read_token(f);
    assert_string_equal(token, "rt-by-hand");
    free(token);
}

static void test_store_rewrite_replaces_the_file(void **state)
{
    struct fixture *f = *state;
    struct stat before, after;
    char old_content[32] = "";
    int old_fd;
    char *token;

    lock(f);
    assert_int_equal(pp_store_write(&f->store, "rt-one", NULL, 0), PP_OK);
    assert_int_equal(stat(f->entry, &before), 0);
    old_fd = open(f->entry, O_RDONLY);
    assert_true(old_fd >= 0);

    assert_int_equal(pp_store_write(&f->store, "rt-two", NULL, 0), PP_OK);
    assert_int_equal(stat(f->entry, &after), 0);

    /* A new file took the name; the old one was never rewritten. */
    assert_int_not_equal(before.st_ino, after.st_ino);
    assert_true(read(old_fd, old_content, sizeof(old_content) - 1) > 0);
    assert_string_equal(old_content, "rt-one\n");
    close(old_fd);

    token = read_token(f);
    assert_string_equal(token, "rt-two");
    free(token);
}

static void test_store_rewrites_leave_no_temp_files(void **state)
{
    struct fixture *f = *state;
    struct dirent *d;
    DIR *dir;
    int seen = 0;

    lock(f);
    assert_int_equal(pp_store_write(&f->store, "rt-1", NULL, 0), PP_OK);
    assert_int_equal(pp_store_write(&f->store, "rt-2", LEASE_ID, 5), PP_OK);
    assert_int_equal(pp_store_write(&f->store, "rt-3", NULL, 0), PP_OK);

    /* Only the entry and its lock file may be there. */
    dir = opendir(f->dir);
    assert_non_null(dir);
    while ((d = readdir(dir)) != NULL) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        if (strcmp(d->d_name, "alice") != 0 &&
            strcmp(d->d_name, ".alice.lock") != 0)
            fail_msg("left over in the store: %s", d->d_name);
        seen++;
    }
    closedir(dir);
    assert_int_equal(seen, 2);
}

static void test_store_entry_has_mode_0600_and_root_owner(void **state)
{
    struct fixture *f = *state;
    struct stat st;

    mode_t old_umask;
    enum pp_result result;

    lock(f);
    /* A loose umask must not loosen the entry. */
    old_umask = umask(0);
    result = pp_store_write(&f->store, "rt-mode", NULL, 0);
    umask(old_umask);
    assert_int_equal(result, PP_OK);
    assert_int_equal(lstat(f->entry, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, 0);
}

static void test_store_lease_round_trips(void **state)
{
    struct fixture *f = *state;
    struct pp_entry entry;

    lock(f);
    assert_int_equal(
        pp_store_write(&f->store, "rt-leased", LEASE_ID, 1700000123), PP_OK);
    assert_int_equal(pp_store_read(&f->store, &entry), PP_OK);
    assert_string_equal(entry.token, "rt-leased");
    assert_string_equal(entry.lease, LEASE_ID);
    assert_int_equal(entry.lease_until, 1700000123);
    pp_entry_clear(&entry);
}

static void test_store_lease_line_on_disk(void **state)
{
    struct fixture *f = *state;
    char *content;

    lock(f);
    assert_int_equal(
        pp_store_write(&f->store, "rt-leased", LEASE_ID, 1700000123), PP_OK);
    content = unit_read_file(f->entry);
    assert_string_equal(content, "rt-leased\nlease " LEASE_ID " 1700000123\n");
    free(content);
}

static void test_store_write_without_lease_drops_old_lease(void **state)
{
    struct fixture *f = *state;
    struct pp_entry entry;

    lock(f);
    assert_int_equal(pp_store_write(&f->store, "rt-a", LEASE_ID, 1700000123),
                     PP_OK);
    assert_int_equal(pp_store_write(&f->store, "rt-b", NULL, 0), PP_OK);
    assert_int_equal(pp_store_read(&f->store, &entry), PP_OK);
    assert_string_equal(entry.token, "rt-b");
    assert_string_equal(entry.lease, "");
    assert_false(pp_entry_is_leased(&entry, 0));
    pp_entry_clear(&entry);
}

static void test_store_malformed_lease_line_means_no_lease(void **state)
{
    struct fixture *f = *state;
    struct pp_entry entry;

    unit_write_file(f->entry, "rt-x\nlease not-hex 1700000123\n", 0600);
    lock(f);
    assert_int_equal(pp_store_read(&f->store, &entry), PP_OK);
    assert_string_equal(entry.token, "rt-x");
    assert_string_equal(entry.lease, "");
    assert_false(pp_entry_is_leased(&entry, 0));
    pp_entry_clear(&entry);
}

static void test_store_entry_is_leased_until_its_time(void **state)
{
    struct pp_entry entry;

    (void)state;
    memset(&entry, 0, sizeof(entry));
    strcpy(entry.lease, LEASE_ID);
    entry.lease_until = 1700000000;
    assert_true(pp_entry_is_leased(&entry, 1700000000 - PP_LEASE_SECONDS));
    assert_true(pp_entry_is_leased(&entry, 1699999999));
    assert_false(pp_entry_is_leased(&entry, 1700000001));
    assert_false(pp_entry_is_leased(&entry, 1800000000));
}

static void test_store_lease_beyond_its_length_is_ignored(void **state)
{
    struct pp_entry entry;

    (void)state;
    memset(&entry, 0, sizeof(entry));
    strcpy(entry.lease, LEASE_ID);
    entry.lease_until = 1700000000;
    /* Written by hand or under a clock that has since gone back. */
    assert_false(
        pp_entry_is_leased(&entry, 1700000000 - PP_LEASE_SECONDS - 1));
    assert_false(pp_entry_is_leased(&entry, 1600000000));
}

static void test_store_entry_without_lease_is_not_leased(void **state)
{
    struct pp_entry entry;

    (void)state;
    memset(&entry, 0, sizeof(entry));
    entry.lease_until = 1700000000; /* a time alone is no lease */
    assert_false(pp_entry_is_leased(&entry, 0));
    assert_false(pp_entry_is_leased(&entry, 1600000000));
}

/* ---- what the store refuses to read or use ---- */

static void test_store_symlinked_entry_refused_on_read(void **state)
{
    struct fixture *f = *state;
    char *target = unit_path(f->root, "target");
    struct pp_entry entry;
    struct stat st;
    char *content;

    unit_write_file(target, "victim-token\n", 0600);
    assert_int_equal(symlink(target, f->entry), 0);
    lock(f);
    assert_int_equal(pp_store_read(&f->store, &entry), PP_ERR_UNSAFE);
    assert_null(entry.token);

    /* The target is as it was. */
    content = unit_read_file(target);
    assert_string_equal(content, "victim-token\n");
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    free(content);
    free(target);
}

/* Writing replaces the link itself: nothing is written through it. */
static void test_store_write_over_symlink_leaves_target(void **state)
{
    struct fixture *f = *state;
    char *target = unit_path(f->root, "target");
    struct stat st;
    char *content;

    unit_write_file(target, "victim-token\n", 0600);
    assert_int_equal(symlink(target, f->entry), 0);
    lock(f);
    pp_store_write(&f->store, "rt-new", NULL, 0);

    content = unit_read_file(target);
    assert_string_equal(content, "victim-token\n");
    free(content);
    assert_int_equal(lstat(f->entry, &st), 0);
    if (S_ISREG(st.st_mode)) {
        content = unit_read_file(f->entry);
        assert_string_equal(content, "rt-new\n");
        free(content);
    }
    free(target);
}

static void test_store_entry_with_mode_0644_refused(void **state)
{
    struct fixture *f = *state;
    struct pp_entry entry;

    unit_write_file(f->entry, "rt-readable\n", 0644);
    lock(f);
    assert_int_equal(pp_store_read(&f->store, &entry), PP_ERR_UNSAFE);
    assert_null(entry.token);
}

static void test_store_entry_of_other_owner_refused(void **state)
{
    struct fixture *f = *state;
    struct pp_entry entry;

    unit_write_file(f->entry, "rt-planted\n", 0600);
    assert_int_equal(chown(f->entry, OTHER_UID, OTHER_GID), 0);
    lock(f);
    assert_int_equal(pp_store_read(&f->store, &entry), PP_ERR_UNSAFE);
    assert_null(entry.token);
}

static void test_store_entry_that_is_not_a_token_refused(void **state)
{
    struct fixture *f = *state;
    struct pp_entry entry;

    unit_write_file(f->entry, "two words\n", 0600);
    lock(f);
    assert_int_equal(pp_store_read(&f->store, &entry), PP_ERR_BAD_TOKEN);
    assert_null(entry.token);
}

static void test_store_group_writable_dir_refused(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(chmod(f->dir, 0770), 0);
    assert_int_equal(open_store(f, f->tmpl), PP_ERR_UNSAFE);
}

static void test_store_world_writable_dir_refused(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(chmod(f->dir, 01777), 0);
    assert_int_equal(open_store(f, f->tmpl), PP_ERR_UNSAFE);
}

static void test_store_dir_of_other_owner_refused(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(chown(f->dir, OTHER_UID, OTHER_GID), 0);
    assert_int_equal(open_store(f, f->tmpl), PP_ERR_UNSAFE);
}

static void test_store_dir_that_is_a_symlink_refused(void **state)
{
    struct fixture *f = *state;
    char *real = unit_path(f->root, "real");
    char *lock_in_real = unit_path(real, ".alice.lock");

    assert_int_equal(rmdir(f->dir), 0);
    assert_int_equal(mkdir(real, 0700), 0);
    assert_int_equal(symlink(real, f->dir), 0);
    assert_int_equal(open_store(f, f->tmpl), PP_ERR_UNSAFE);
    /* Nothing was made through the link. */
    assert_no_file(lock_in_real);
    free(lock_in_real);
    free(real);
}

static void test_store_missing_root_dir_created_0700(void **state)
{
    struct fixture *f = *state;
    char *dir = unit_path(f->root, "new-store");
    char *tmpl = unit_path(dir, "%u");
    mode_t old_umask = umask(0);
    enum pp_result result = open_store(f, tmpl);
    struct stat st;

    umask(old_umask);
    assert_int_equal(result, PP_OK);
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(st.st_uid, 0);
    free(tmpl);
    free(dir);
}

/* Only the last component is made: a missing parent is an error. */
static void test_store_missing_parent_of_root_dir_not_made(void **state)
{
    struct fixture *f = *state;
    char *parent = unit_path(f->root, "absent");
    char *tmpl = unit_path(parent, "store/%u");

    assert_int_not_equal(open_store(f, tmpl), PP_OK);
    assert_no_file(parent);
    free(tmpl);
    free(parent);
}

/* A user who never deposited a token has no directory: no entry. */
static void test_store_missing_home_store_dir_is_no_token(void **state)
{
    struct fixture *f = *state;
    char *dir = unit_path(f->root, ".passage");

    assert_int_equal(open_store(f, "%h/.passage/%u"), PP_ERR_NO_TOKEN);
    assert_no_file(dir);
    free(dir);
}

static void test_store_missing_home_store_dir_made_on_request(void **state)
{
    struct fixture *f = *state;
    char *dir = unit_path(f->root, ".passage");
    struct stat st;

    assert_int_equal(
        pp_store_init(&f->store, "%h/.passage/%u", &f->pw, 0, unit_log()),
        PP_OK);
    f->store.create_dir = true;
    assert_int_equal(pp_store_lock(&f->store), PP_OK);
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    free(dir);
}

static void test_store_open_of_missing_home_dir_gives_no_entry(void **state)
{
    struct fixture *f = *state;
    char *dir = unit_path(f->root, ".passage");
    struct pp_entry entry;

    assert_int_equal(pp_store_open(&f->store, "%h/.passage/%u", &f->pw, 0,
                                   false, unit_log(), &entry),
                     PP_OK);
    assert_null(entry.token);
    assert_no_file(dir);
    free(dir);
}

/*
 * "%%h" is a percent sign and an h, not the home directory: the store is
 * root's, so its missing directory is made as for any root store.
 */
static void test_store_escaped_percent_h_is_a_root_store(void **state)
{
    struct fixture *f = *state;
    char *dir = unit_path(f->root, "100%h");
    char *tmpl = unit_path(f->root, "100%%h/%u");
    struct stat st;

    assert_int_equal(open_store(f, tmpl), PP_OK);
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    free(tmpl);
    free(dir);
}

static void test_store_remove_deletes_entry(void **state)
{
    struct fixture *f = *state;
    char *token;

    lock(f);
    assert_int_equal(pp_store_write(&f->store, "rt-gone", NULL, 0), PP_OK);
    assert_int_equal(pp_store_remove(&f->store), PP_OK);
    assert_no_file(f->entry);
    token = read_token(f);
    assert_null(token);
}

static void test_store_remove_without_entry_is_fine(void **state)
{
    struct fixture *f = *state;

    lock(f);
    assert_int_equal(pp_store_remove(&f->store), PP_OK);
    assert_no_file(f->entry);
}

/* ---- tokens pp_store_write refuses ---- */

/* Refused with BAD_TOKEN, and no entry appears. */
static void assert_write_refused(struct fixture *f, const char *token)
{
    pp_store_close(&f->store); /* some tests call this more than once */
    lock(f);
    assert_int_equal(pp_store_write(&f->store, token, NULL, 0),
                     PP_ERR_BAD_TOKEN);
    assert_no_file(f->entry);
}

static void test_store_write_empty_token_refused(void **state)
{
    assert_write_refused(*state, "");
}

static void test_store_write_4097_byte_token_refused(void **state)
{
    char *token = malloc(4098);

    assert_non_null(token);
    memset(token, 't', 4097);
    token[4097] = '\0';
    assert_write_refused(*state, token);
    free(token);
}

static void test_store_write_4096_byte_token_accepted(void **state)
{
    struct fixture *f = *state;
    char *token = malloc(4097);
    char *back;

    assert_non_null(token);
    memset(token, 't', 4096);
    token[4096] = '\0';
    lock(f);
    assert_int_equal(pp_store_write(&f->store, token, NULL, 0), PP_OK);
    back = read_token(f);
    assert_string_equal(back, token);
    free(back);
    free(token);
}

static void test_store_write_token_with_space_refused(void **state)
{
    assert_write_refused(*state, "rt with space");
}

/* A newline would let a token forge the lease line. */
static void test_store_write_token_with_newline_refused(void **state)
{
    assert_write_refused(*state, "rt\nlease " LEASE_ID " 9999999999");
}

static void test_store_write_token_with_control_byte_refused(void **state)
{
    assert_write_refused(*state, "rt\x01x");
    assert_write_refused(*state, "rt\x7fx");
    assert_write_refused(*state, "rt\tx");
}

static void test_store_write_non_ascii_token_refused(void **state)
{
    assert_write_refused(*state, "rt-caf\xc3\xa9");
}

static void test_store_refused_token_keeps_old_entry(void **state)
{
    struct fixture *f = *state;
    char *token;

    lock(f);
    assert_int_equal(pp_store_write(&f->store, "rt-good", NULL, 0), PP_OK);
    assert_int_equal(pp_store_write(&f->store, "rt bad", NULL, 0),
                     PP_ERR_BAD_TOKEN);
    token = read_token(f);
    assert_string_equal(token, "rt-good");
    free(token);
}

/* ---- locking, pp_store_open, stores in homes ---- */

/* With lock_wait 0 a second lock on the same entry gives up at once. */
static void test_store_second_lock_is_busy(void **state)
{
    struct fixture *f = *state;
    struct pp_store other = PP_STORE_INIT;

    lock(f);
    assert_int_equal(pp_store_init(&other, f->tmpl, &f->pw, 0, unit_log()),
                     PP_OK);
    assert_int_equal(pp_store_lock(&other), PP_ERR_BUSY);
    pp_store_close(&other);

    /* Once the first is closed, the lock is free again. */
    pp_store_close(&f->store);
    assert_int_equal(pp_store_init(&other, f->tmpl, &f->pw, 0, unit_log()),
                     PP_OK);
    assert_int_equal(pp_store_lock(&other), PP_OK);
    pp_store_close(&other);
}

static void test_store_open_reads_the_entry(void **state)
{
    struct fixture *f = *state;
    struct pp_store other = PP_STORE_INIT;
    struct pp_entry entry;

    lock(f);
    assert_int_equal(
        pp_store_write(&f->store, "rt-opened", LEASE_ID, 1700000123), PP_OK);
    pp_store_close(&f->store);

    assert_int_equal(
        pp_store_open(&other, f->tmpl, &f->pw, 0, false, unit_log(), &entry),
        PP_OK);
    assert_string_equal(entry.token, "rt-opened");
    assert_string_equal(entry.lease, LEASE_ID);
    pp_entry_clear(&entry);
    pp_store_close(&other);
}

static void test_store_in_home_below_writable_directory_refused(void **state)
{
    struct fixture *f = *state;
    char *middle = unit_path(f->root, "shared");
    char *store = unit_path(f->root, "shared/passage");

    /* Someone else could replace "passage" inside "shared". */
    assert_int_equal(mkdir(middle, 0777), 0);
    assert_int_equal(chmod(middle, 0777), 0);
    assert_int_equal(mkdir(store, 0700), 0);
    assert_int_equal(open_store(f, "%h/shared/passage/token"), PP_ERR_UNSAFE);
    free(store);
    free(middle);
}

static void test_store_in_home_of_root_round_trips(void **state)
{
    struct fixture *f = *state;
    char *entry = unit_path(f->root, ".passage-token");
    char *token;

    /* pw_dir is f->root and pw_uid 0: a %h store of root's own. */
    assert_int_equal(open_store(f, "%h/.passage-token"), PP_OK);
    assert_int_equal(pp_store_write(&f->store, "rt-home", NULL, 0), PP_OK);
    token = read_token(f);
    assert_string_equal(token, "rt-home");
    free(token);
    assert_int_equal(access(entry, F_OK), 0);
    free(entry);
}

/* In a home the files are the user's, and the process is root after. */
static void test_store_in_home_of_user_owned_by_user(void **state)
{
    struct fixture *f = *state;
    char *home = unit_path(f->root, "home");
    char *entry = unit_path(home, ".passage-token");
    struct stat st;
    char *token;

    /* The user must get through the mkdtemp directory to the home. */
    assert_int_equal(chmod(f->root, 0711), 0);
    assert_int_equal(mkdir(home, 0700), 0);
    assert_int_equal(chown(home, OTHER_UID, OTHER_GID), 0);
    f->pw.pw_dir = home;
    f->pw.pw_uid = OTHER_UID;
    f->pw.pw_gid = OTHER_GID;

    assert_int_equal(open_store(f, "%h/.passage-token"), PP_OK);
    assert_int_equal(pp_store_write(&f->store, "rt-user", NULL, 0), PP_OK);
    token = read_token(f);
    assert_string_equal(token, "rt-user");
    free(token);

    assert_int_equal(lstat(entry, &st), 0);
    assert_int_equal(st.st_uid, OTHER_UID);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* setfsuid(-1) changes nothing and returns the current fsuid. */
    assert_int_equal(setfsuid((uid_t)-1), 0);
    assert_int_equal(setfsgid((gid_t)-1), 0);
    free(entry);
    free(home);
}

#define STORE_TEST(name)                                                      \
    cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_ordinary_user_names_are_safe),
        cmocka_unit_test(test_store_user_name_with_slash_unsafe),
        cmocka_unit_test(test_store_user_name_with_leading_dot_unsafe),
        cmocka_unit_test(test_store_user_name_with_control_chars_unsafe),
        cmocka_unit_test(test_store_user_name_of_255_bytes_safe),
        cmocka_unit_test(test_store_user_name_of_256_bytes_unsafe),
        cmocka_unit_test(test_store_empty_user_name_unsafe),

        cmocka_unit_test(test_store_expand_user_name),
        cmocka_unit_test(test_store_expand_home),
        cmocka_unit_test(test_store_expand_percent_percent),
        cmocka_unit_test(test_store_expand_without_escapes_kept),
        cmocka_unit_test(test_store_expand_unknown_escape_refused),
        cmocka_unit_test(test_store_expand_lone_percent_at_end_refused),
        cmocka_unit_test(test_store_expand_dot_components_refused),
        cmocka_unit_test(test_store_expand_relative_result_refused),
        cmocka_unit_test(test_store_expand_relative_home_refused),
        cmocka_unit_test(test_store_expand_unsafe_user_name_refused),

        STORE_TEST(test_store_read_without_entry_gives_no_token),
        STORE_TEST(test_store_write_then_read_back),
        STORE_TEST(test_store_entry_file_holds_token_line),
        STORE_TEST(test_store_entry_written_by_hand_is_read),
        STORE_TEST(test_store_rewrite_replaces_the_file),
        STORE_TEST(test_store_rewrites_leave_no_temp_files),
        STORE_TEST(test_store_entry_has_mode_0600_and_root_owner),
        STORE_TEST(test_store_lease_round_trips),
        STORE_TEST(test_store_lease_line_on_disk),
        STORE_TEST(test_store_write_without_lease_drops_old_lease),
        STORE_TEST(test_store_malformed_lease_line_means_no_lease),
        cmocka_unit_test(test_store_lease_beyond_its_length_is_ignored),
        cmocka_unit_test(test_store_entry_is_leased_until_its_time),
        cmocka_unit_test(test_store_entry_without_lease_is_not_leased),

        STORE_TEST(test_store_symlinked_entry_refused_on_read),
        STORE_TEST(test_store_write_over_symlink_leaves_target),
        STORE_TEST(test_store_entry_with_mode_0644_refused),
        STORE_TEST(test_store_entry_of_other_owner_refused),
        STORE_TEST(test_store_entry_that_is_not_a_token_refused),
        STORE_TEST(test_store_group_writable_dir_refused),
        STORE_TEST(test_store_world_writable_dir_refused),
        STORE_TEST(test_store_dir_of_other_owner_refused),
        STORE_TEST(test_store_dir_that_is_a_symlink_refused),
        STORE_TEST(test_store_missing_root_dir_created_0700),
        STORE_TEST(test_store_missing_parent_of_root_dir_not_made),
        STORE_TEST(test_store_missing_home_store_dir_is_no_token),
        STORE_TEST(test_store_missing_home_store_dir_made_on_request),
        STORE_TEST(test_store_open_of_missing_home_dir_gives_no_entry),
        STORE_TEST(test_store_escaped_percent_h_is_a_root_store),
        STORE_TEST(test_store_remove_deletes_entry),
        STORE_TEST(test_store_remove_without_entry_is_fine),

        STORE_TEST(test_store_write_empty_token_refused),
        STORE_TEST(test_store_write_4097_byte_token_refused),
        STORE_TEST(test_store_write_4096_byte_token_accepted),
        STORE_TEST(test_store_write_token_with_space_refused),
        STORE_TEST(test_store_write_token_with_newline_refused),
        STORE_TEST(test_store_write_token_with_control_byte_refused),
        STORE_TEST(test_store_write_non_ascii_token_refused),
        STORE_TEST(test_store_refused_token_keeps_old_entry),

        STORE_TEST(test_store_second_lock_is_busy),
        STORE_TEST(test_store_open_reads_the_entry),
        STORE_TEST(test_store_in_home_below_writable_directory_refused),
        STORE_TEST(test_store_in_home_of_root_round_trips),
        STORE_TEST(test_store_in_home_of_user_owned_by_user),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
