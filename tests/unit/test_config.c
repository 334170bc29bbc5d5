/*
 * Unit tests for lib/config.c: option words, the "key = value" file, loading
 * with arguments over the file, validation and the session settings text.
 */
#include "unit.h"

#include "../../lib/config.h"

#include <stdbool.h>

/* Every flag option, to run the same check over all of them. */
struct flag {
    const char *name;
    size_t offset;
};

static const struct flag flags[] = {
    {"prompt", offsetof(struct pp_config, prompt)},
    {"use_first_pass", offsetof(struct pp_config, use_first_pass)},
    {"try_first_pass", offsetof(struct pp_config, try_first_pass)},
    {"nouserok", offsetof(struct pp_config, nouserok)},
    {"session_exchange", offsetof(struct pp_config, session_exchange)},
    {"debug", offsetof(struct pp_config, debug)},
};

#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

static bool flag_value(const struct pp_config *cfg, const struct flag *f)
{
    return *(const bool *)((const char *)cfg + f->offset);
}

static enum pp_result set(struct pp_config *cfg, const char *word)
{
    return pp_config_set(cfg, word, "argument", unit_log());
}

/* Applies one word to a fresh configuration and returns the result. */
static enum pp_result set_fresh(const char *word)
{
    struct pp_config cfg;
    enum pp_result result;

    pp_config_init(&cfg);
    result = set(&cfg, word);
    pp_config_free(&cfg);
    return result;
}

/* ---- defaults ---- */

/* The defaults pam_passage(8) documents. */
static void test_config_defaults_match_the_manual(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_null(cfg.app_id);
    assert_int_equal(cfg.on_close, PP_ON_CLOSE_REVOKE);
    assert_int_equal(cfg.connect_timeout, 5);
    assert_int_equal(cfg.timeout, 10);
    for (size_t i = 0; i < N_FLAGS; i++)
        assert_false(flag_value(&cfg, &flags[i]));
    pp_config_free(&cfg);
}

/* ---- every key with a good value ---- */

static void test_config_app_id_is_set(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "app_id=abc123"), PP_OK);
    assert_string_equal(cfg.app_id, "abc123");
    pp_config_free(&cfg);
}

static void test_config_api_url_is_set(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "api_url=https://127.0.0.1:8443/v1"), PP_OK);
    assert_string_equal(cfg.api_url, "https://127.0.0.1:8443/v1");
    assert_string_equal(pp_config_api_url(&cfg), "https://127.0.0.1:8443/v1");
    pp_config_free(&cfg);
}

static void test_config_unset_url_and_store_give_defaults(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_string_equal(pp_config_api_url(&cfg), "https://auth.passage.id/v1");
    assert_string_equal(pp_config_store(&cfg), "/var/lib/pam_passage/%u");
    pp_config_free(&cfg);
}

static void test_config_store_is_set(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "store=%h/.passage-token"), PP_OK);
    assert_string_equal(cfg.store, "%h/.passage-token");
    assert_string_equal(pp_config_store(&cfg), "%h/.passage-token");
    pp_config_free(&cfg);
}

static void test_config_on_close_keep_is_set(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "on_close=keep"), PP_OK);
    assert_int_equal(cfg.on_close, PP_ON_CLOSE_KEEP);
    pp_config_free(&cfg);
}

static void test_config_on_close_revoke_is_set(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "on_close=keep"), PP_OK);
    assert_int_equal(set(&cfg, "on_close=revoke"), PP_OK);
    assert_int_equal(cfg.on_close, PP_ON_CLOSE_REVOKE);
    pp_config_free(&cfg);
}

static void test_config_ca_file_is_set(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "ca_file=/etc/ssl/test-ca.pem"), PP_OK);
    assert_string_equal(cfg.ca_file, "/etc/ssl/test-ca.pem");
    pp_config_free(&cfg);
}

static void test_config_connect_timeout_is_set(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "connect_timeout=17"), PP_OK);
    assert_int_equal(cfg.connect_timeout, 17);
    pp_config_free(&cfg);
}

static void test_config_timeout_is_set(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "timeout=42"), PP_OK);
    assert_int_equal(cfg.timeout, 42);
    pp_config_free(&cfg);
}

/* 1 and 300 are the ends of the allowed range and must both pass. */
static void test_config_timeouts_accept_1_and_300(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "timeout=1"), PP_OK);
    assert_int_equal(cfg.timeout, 1);
    assert_int_equal(set(&cfg, "timeout=300"), PP_OK);
    assert_int_equal(cfg.timeout, 300);
    assert_int_equal(set(&cfg, "connect_timeout=1"), PP_OK);
    assert_int_equal(cfg.connect_timeout, 1);
    assert_int_equal(set(&cfg, "connect_timeout=300"), PP_OK);
    assert_int_equal(cfg.connect_timeout, 300);
    pp_config_free(&cfg);
}

static void test_config_proxy_is_set(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "proxy=http://127.0.0.1:3128"), PP_OK);
    assert_string_equal(cfg.proxy, "http://127.0.0.1:3128");
    pp_config_free(&cfg);
}

static void test_config_config_is_set(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "config=/etc/security/other.conf"), PP_OK);
    assert_string_equal(cfg.config, "/etc/security/other.conf");
    pp_config_free(&cfg);
}

static void test_config_bare_flag_turns_it_on(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_FLAGS; i++) {
        struct pp_config cfg;

        pp_config_init(&cfg);
        assert_false(flag_value(&cfg, &flags[i]));
        assert_int_equal(set(&cfg, flags[i].name), PP_OK);
        assert_true(flag_value(&cfg, &flags[i]));
        pp_config_free(&cfg);
    }
}

static void test_config_flag_accepts_yes_true_on_1(void **state)
{
    static const char *const values[] = {"yes", "true", "on", "1"};

    (void)state;
    for (size_t i = 0; i < N_FLAGS; i++) {
        for (size_t v = 0; v < 4; v++) {
            struct pp_config cfg;
            char word[64];

            snprintf(word, sizeof(word), "%s=%s", flags[i].name, values[v]);
            pp_config_init(&cfg);
            assert_int_equal(set(&cfg, word), PP_OK);
            assert_true(flag_value(&cfg, &flags[i]));
            pp_config_free(&cfg);
        }
    }
}

static void test_config_flag_accepts_no_false_off_0(void **state)
{
    static const char *const values[] = {"no", "false", "off", "0"};

    (void)state;
    for (size_t i = 0; i < N_FLAGS; i++) {
        for (size_t v = 0; v < 4; v++) {
            struct pp_config cfg;
            char word[64];

            snprintf(word, sizeof(word), "%s=%s", flags[i].name, values[v]);
            pp_config_init(&cfg);
            /* Turn it on first so that "off" is seen to act. */
            assert_int_equal(set(&cfg, flags[i].name), PP_OK);
            assert_int_equal(set(&cfg, word), PP_OK);
            assert_false(flag_value(&cfg, &flags[i]));
            pp_config_free(&cfg);
        }
    }
}

static void test_config_later_value_replaces_earlier(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "app_id=first"), PP_OK);
    assert_int_equal(set(&cfg, "app_id=second"), PP_OK);
    assert_string_equal(cfg.app_id, "second");
    pp_config_free(&cfg);
}

/* ---- bad values ---- */

/* Runs the same bad value through both timeout options. */
static void assert_timeouts_refuse(const char *value)
{
    static const char *const keys[] = {"timeout", "connect_timeout"};

    for (size_t i = 0; i < 2; i++) {
        char word[64];

        snprintf(word, sizeof(word), "%s=%s", keys[i], value);
        assert_int_equal(set_fresh(word), PP_ERR_CONFIG);
    }
}

static void test_config_timeout_zero_refused(void **state)
{
    (void)state;
    assert_timeouts_refuse("0");
}

static void test_config_timeout_negative_refused(void **state)
{
    (void)state;
    assert_timeouts_refuse("-1");
}

static void test_config_timeout_301_refused(void **state)
{
    (void)state;
    assert_timeouts_refuse("301");
}

static void test_config_timeout_letters_refused(void **state)
{
    (void)state;
    assert_timeouts_refuse("abc");
}

static void test_config_timeout_with_unit_refused(void **state)
{
    (void)state;
    assert_timeouts_refuse("5s");
}

static void test_config_timeout_empty_refused(void **state)
{
    (void)state;
    assert_timeouts_refuse("");
}

static void test_config_timeout_without_value_refused(void **state)
{
    (void)state;
    assert_int_equal(set_fresh("timeout"), PP_ERR_CONFIG);
    assert_int_equal(set_fresh("connect_timeout"), PP_ERR_CONFIG);
}

static void test_config_on_close_maybe_refused(void **state)
{
    (void)state;
    assert_int_equal(set_fresh("on_close=maybe"), PP_ERR_CONFIG);
}

static void test_config_on_close_empty_refused(void **state)
{
    (void)state;
    assert_int_equal(set_fresh("on_close="), PP_ERR_CONFIG);
    assert_int_equal(set_fresh("on_close"), PP_ERR_CONFIG);
}

static void test_config_flag_bad_value_refused(void **state)
{
    static const char *const values[] = {"maybe", "2", "YESS", "enable"};

    (void)state;
    for (size_t i = 0; i < N_FLAGS; i++) {
        for (size_t v = 0; v < 4; v++) {
            char word[64];

            snprintf(word, sizeof(word), "%s=%s", flags[i].name, values[v]);
            assert_int_equal(set_fresh(word), PP_ERR_CONFIG);
        }
    }
}

static void test_config_flag_empty_value_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_FLAGS; i++) {
        char word[64];

        snprintf(word, sizeof(word), "%s=", flags[i].name);
        assert_int_equal(set_fresh(word), PP_ERR_CONFIG);
    }
}

static void test_config_empty_string_values_refused(void **state)
{
    static const char *const words[] = {
        "app_id=", "api_url=", "store=", "ca_file=", "proxy=", "config=",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        assert_int_equal(set_fresh(words[i]), PP_ERR_CONFIG);
}

static void test_config_string_option_without_value_refused(void **state)
{
    static const char *const words[] = {
        "app_id", "api_url", "store", "ca_file", "proxy", "config",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        assert_int_equal(set_fresh(words[i]), PP_ERR_CONFIG);
}

/* ---- unknown keys ---- */

static void test_config_unknown_key_refused(void **state)
{
    (void)state;
    assert_int_equal(set_fresh("bogus=1"), PP_ERR_CONFIG);
}

static void test_config_unknown_bare_word_refused(void **state)
{
    (void)state;
    assert_int_equal(set_fresh("bogus"), PP_ERR_CONFIG);
}

/* A prefix or an extension of a known key is still unknown. */
static void test_config_near_miss_key_refused(void **state)
{
    (void)state;
    assert_int_equal(set_fresh("app=x"), PP_ERR_CONFIG);
    assert_int_equal(set_fresh("app_idx=x"), PP_ERR_CONFIG);
    assert_int_equal(set_fresh("time=5"), PP_ERR_CONFIG);
    assert_int_equal(set_fresh("debugging"), PP_ERR_CONFIG);
}

static void test_config_empty_key_refused(void **state)
{
    (void)state;
    assert_int_equal(set_fresh("=value"), PP_ERR_CONFIG);
}

/* ---- the "key = value" text ---- */

static void test_config_text_reads_key_space_equals_space_value(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(pp_config_parse_text(&cfg,
                                          "app_id = text-app\n"
                                          "timeout\t=\t33\n"
                                          "  on_close =keep  \n",
                                          "test", unit_log()),
                     PP_OK);
    assert_string_equal(cfg.app_id, "text-app");
    assert_int_equal(cfg.timeout, 33);
    assert_int_equal(cfg.on_close, PP_ON_CLOSE_KEEP);
    pp_config_free(&cfg);
}

static void test_config_text_skips_comments_and_blank_lines(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(pp_config_parse_text(&cfg,
                                          "# a comment\n"
                                          "\n"
                                          "   \n"
                                          "\t# indented = comment\n"
                                          "#bogus = 1\n"
                                          "app_id = after-comments\n"
                                          "\n",
                                          "test", unit_log()),
                     PP_OK);
    assert_string_equal(cfg.app_id, "after-comments");
    pp_config_free(&cfg);
}

static void test_config_text_bare_flag_line_turns_it_on(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(pp_config_parse_text(&cfg, "  debug  \nnouserok\n",
                                          "test", unit_log()),
                     PP_OK);
    assert_true(cfg.debug);
    assert_true(cfg.nouserok);
    pp_config_free(&cfg);
}

static void test_config_text_value_keeps_inner_spaces(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(
        pp_config_parse_text(&cfg, "app_id =  my  app \n", "test", unit_log()),
        PP_OK);
    assert_string_equal(cfg.app_id, "my  app");
    pp_config_free(&cfg);
}

/* Only the first '=' separates: a URL may carry more. */
static void test_config_text_value_may_contain_equals(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(
        pp_config_parse_text(&cfg, "proxy = http://127.0.0.1:3128/?a=b\n",
                             "test", unit_log()),
        PP_OK);
    assert_string_equal(cfg.proxy, "http://127.0.0.1:3128/?a=b");
    pp_config_free(&cfg);
}

/* pam_passage.conf(5): a # after a value is part of the value. */
static void test_config_text_hash_after_value_is_part_of_it(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(pp_config_parse_text(&cfg, "app_id = abc # not a note\n",
                                          "test", unit_log()),
                     PP_OK);
    assert_string_equal(cfg.app_id, "abc # not a note");
    pp_config_free(&cfg);
}

static void test_config_text_last_line_without_newline_read(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(
        pp_config_parse_text(&cfg, "timeout = 9", "test", unit_log()), PP_OK);
    assert_int_equal(cfg.timeout, 9);
    pp_config_free(&cfg);
}

static void test_config_text_unknown_key_refused(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(pp_config_parse_text(&cfg,
                                          "app_id = x\n"
                                          "colour = blue\n"
                                          "timeout = 9\n",
                                          "test", unit_log()),
                     PP_ERR_CONFIG);
    pp_config_free(&cfg);
}

static void test_config_text_bad_value_refused(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(
        pp_config_parse_text(&cfg, "timeout = 5s\n", "test", unit_log()),
        PP_ERR_CONFIG);
    pp_config_free(&cfg);
}

static void test_config_text_empty_value_refused(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(
        pp_config_parse_text(&cfg, "app_id =   \n", "test", unit_log()),
        PP_ERR_CONFIG);
    pp_config_free(&cfg);
}

/* ---- pp_config_load: the file, then the arguments ---- */

struct files {
    char *dir;
    char *conf; /* dir/pam_passage.conf, not yet written */
    char *arg;  /* "config=" followed by conf */
};

static int files_setup(void **state)
{
    struct files *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = unit_temp_dir();
    f->conf = unit_path(f->dir, "pam_passage.conf");
    assert_true(asprintf(&f->arg, "config=%s", f->conf) > 0);
    *state = f;
    return 0;
}

static int files_teardown(void **state)
{
    struct files *f = *state;

    unit_remove_tree(f->dir);
    free(f->dir);
    free(f->conf);
    free(f->arg);
    free(f);
    return 0;
}

static enum pp_result load(struct pp_config *cfg, int argc, const char **argv)
{
    pp_config_init(cfg);
    return pp_config_load(cfg, argc, argv, unit_log());
}

static void test_config_load_reads_file_named_by_config(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg};
    struct pp_config cfg;

    unit_write_file(f->conf,
                    "# pam_passage settings\n"
                    "\n"
                    "app_id = file-app\n"
                    "api_url = https://127.0.0.1:9/v1\n"
                    "timeout = 7\n"
                    "debug\n",
                    0644);
    assert_int_equal(load(&cfg, 1, argv), PP_OK);
    assert_string_equal(cfg.app_id, "file-app");
    assert_string_equal(cfg.api_url, "https://127.0.0.1:9/v1");
    assert_int_equal(cfg.timeout, 7);
    assert_true(cfg.debug);
    pp_config_free(&cfg);
}

static void test_config_load_arguments_win_over_file(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg, "app_id=arg-app", "timeout=20", "debug=no"};
    struct pp_config cfg;

    unit_write_file(f->conf,
                    "app_id = file-app\n"
                    "timeout = 7\n"
                    "connect_timeout = 3\n"
                    "debug = yes\n",
                    0644);
    assert_int_equal(load(&cfg, 4, argv), PP_OK);
    assert_string_equal(cfg.app_id, "arg-app");
    assert_int_equal(cfg.timeout, 20);
    assert_false(cfg.debug);
    /* What the arguments leave alone still comes from the file. */
    assert_int_equal(cfg.connect_timeout, 3);
    pp_config_free(&cfg);
}

/* config= may come after other arguments and still be read first. */
static void test_config_load_config_argument_anywhere(void **state)
{
    struct files *f = *state;
    const char *argv[] = {"timeout=20", f->arg};
    struct pp_config cfg;

    unit_write_file(f->conf, "timeout = 7\napp_id = file-app\n", 0644);
    assert_int_equal(load(&cfg, 2, argv), PP_OK);
    assert_int_equal(cfg.timeout, 20);
    assert_string_equal(cfg.app_id, "file-app");
    pp_config_free(&cfg);
}

static void test_config_load_missing_explicit_file_refused(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg, "app_id=x"};
    struct pp_config cfg;

    /* f->conf is never written. */
    assert_int_equal(load(&cfg, 2, argv), PP_ERR_CONFIG);
    pp_config_free(&cfg);
}

static void test_config_load_missing_default_file_is_fine(void **state)
{
    const char *argv[] = {"app_id=x"};
    struct pp_config cfg;

    (void)state;
    /* The default file cannot be removed here: test only when absent. */
    if (access(PP_CONFIG_FILE, F_OK) == 0)
        skip();
    assert_int_equal(load(&cfg, 1, argv), PP_OK);
    assert_string_equal(cfg.app_id, "x");
    pp_config_free(&cfg);
}

static void test_config_load_group_writable_file_refused(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg};
    struct pp_config cfg;

    unit_write_file(f->conf, "app_id = file-app\n", 0664);
    assert_int_equal(load(&cfg, 1, argv), PP_ERR_UNSAFE);
    pp_config_free(&cfg);
}

static void test_config_load_world_writable_file_refused(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg};
    struct pp_config cfg;

    unit_write_file(f->conf, "app_id = file-app\n", 0646);
    assert_int_equal(load(&cfg, 1, argv), PP_ERR_UNSAFE);
    pp_config_free(&cfg);
}

static void test_config_load_file_of_other_owner_refused(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg};
    struct pp_config cfg;

    /* Neither root nor the caller (the tests run as root). */
    unit_write_file(f->conf, "app_id = file-app\n", 0644);
    assert_int_equal(chown(f->conf, 54321, 54321), 0);
    assert_int_equal(load(&cfg, 1, argv), PP_ERR_UNSAFE);
    pp_config_free(&cfg);
}

static void test_config_load_symlinked_file_refused(void **state)
{
    struct files *f = *state;
    char *real = unit_path(f->dir, "real.conf");
    const char *argv[] = {f->arg};
    struct pp_config cfg;

    unit_write_file(real, "app_id = file-app\n", 0644);
    assert_int_equal(symlink(real, f->conf), 0);
    assert_int_equal(load(&cfg, 1, argv), PP_ERR_UNSAFE);
    pp_config_free(&cfg);
    free(real);
}

/* Writes a file of exactly size bytes: comment lines, then app_id. */
static void write_file_of_size(const char *path, size_t size)
{
    static const char last[] = "app_id = big\n";
    char *text = malloc(size + 1);

    assert_non_null(text);
    assert_true(size > sizeof(last));
    memset(text, '#', size - sizeof(last) + 1);
    /* A newline every 64 bytes keeps the comment lines short. */
    for (size_t i = 63; i < size - sizeof(last) + 1; i += 64)
        text[i] = '\n';
    text[size - sizeof(last)] = '\n';
    memcpy(text + size - sizeof(last) + 1, last, sizeof(last));
    assert_int_equal(strlen(text), size);
    unit_write_file(path, text, 0644);
    free(text);
}

static void test_config_load_file_of_64_kib_accepted(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg};
    struct pp_config cfg;

    write_file_of_size(f->conf, 64 * 1024);
    assert_int_equal(load(&cfg, 1, argv), PP_OK);
    /* The last line was read too. */
    assert_string_equal(cfg.app_id, "big");
    pp_config_free(&cfg);
}

static void test_config_load_file_over_64_kib_refused(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg};
    struct pp_config cfg;

    write_file_of_size(f->conf, 64 * 1024 + 1);
    assert_int_not_equal(load(&cfg, 1, argv), PP_OK);
    pp_config_free(&cfg);
}

static void test_config_load_directory_as_file_refused(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg};
    struct pp_config cfg;

    assert_int_equal(mkdir(f->conf, 0755), 0);
    assert_int_not_equal(load(&cfg, 1, argv), PP_OK);
    pp_config_free(&cfg);
}

static void test_config_load_unknown_key_in_file_refused(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg};
    struct pp_config cfg;

    unit_write_file(f->conf, "app_id = a\nfrobnicate = 1\n", 0644);
    assert_int_equal(load(&cfg, 1, argv), PP_ERR_CONFIG);
    pp_config_free(&cfg);
}

static void test_config_load_config_key_in_file_refused(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg};
    struct pp_config cfg;

    unit_write_file(f->conf, "app_id = a\nconfig = /etc/other.conf\n", 0644);
    assert_int_equal(load(&cfg, 1, argv), PP_ERR_CONFIG);
    pp_config_free(&cfg);
}

static void test_config_load_file_with_nul_byte_refused(void **state)
{
    static const char text[] = "app_id = a\n\0frobnicate = 1\n";
    struct files *f = *state;
    const char *argv[] = {f->arg};
    struct pp_config cfg;
    FILE *out = fopen(f->conf, "w");

    assert_non_null(out);
    assert_int_equal(fwrite(text, 1, sizeof(text) - 1, out), sizeof(text) - 1);
    fclose(out);
    chmod(f->conf, 0644);
    assert_int_equal(load(&cfg, 1, argv), PP_ERR_CONFIG);
    pp_config_free(&cfg);
}

static void test_config_load_unknown_argument_refused(void **state)
{
    struct files *f = *state;
    const char *argv[] = {f->arg, "frobnicate"};
    struct pp_config cfg;

    unit_write_file(f->conf, "app_id = a\n", 0644);
    assert_int_equal(load(&cfg, 2, argv), PP_ERR_CONFIG);
    pp_config_free(&cfg);
}

/* ---- pp_config_validate ---- */

static enum pp_result validate(const char *app_id, const char *api_url)
{
    struct pp_config cfg;
    enum pp_result result = PP_OK;
    char word[256];

    pp_config_init(&cfg);
    if (app_id != NULL) {
        snprintf(word, sizeof(word), "app_id=%s", app_id);
        result = set(&cfg, word);
    }
    if (result == PP_OK && api_url != NULL) {
        snprintf(word, sizeof(word), "api_url=%s", api_url);
        result = set(&cfg, word);
    }
    assert_int_equal(result, PP_OK);
    result = pp_config_validate(&cfg, unit_log());
    pp_config_free(&cfg);
    return result;
}

static void test_config_validate_missing_app_id_refused(void **state)
{
    (void)state;
    assert_int_equal(validate(NULL, "https://127.0.0.1/v1"), PP_ERR_CONFIG);
}

static void test_config_validate_default_url_accepted(void **state)
{
    (void)state;
    assert_int_equal(validate("app", NULL), PP_OK);
}

static void test_config_validate_https_accepted(void **state)
{
    (void)state;
    assert_int_equal(validate("app", "https://auth.example.test/v1"), PP_OK);
}

static void test_config_validate_http_to_127_0_0_1_accepted(void **state)
{
    (void)state;
    assert_int_equal(validate("app", "http://127.0.0.1:8080/v1"), PP_OK);
}

static void test_config_validate_http_to_localhost_accepted(void **state)
{
    (void)state;
    assert_int_equal(validate("app", "http://localhost:8080/v1"), PP_OK);
}

static void test_config_validate_http_to_ipv6_loopback_accepted(void **state)
{
    (void)state;
    assert_int_equal(validate("app", "http://[::1]:8080/v1"), PP_OK);
}

static void test_config_validate_typed_tokens_need_user_map(void **state)
{
    static const char *const options[] = {"prompt", "use_first_pass",
                                          "try_first_pass"};

    (void)state;
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        struct pp_config cfg;

        pp_config_init(&cfg);
        assert_int_equal(set(&cfg, "app_id=app"), PP_OK);
        assert_int_equal(set(&cfg, options[i]), PP_OK);
        assert_int_equal(pp_config_validate(&cfg, unit_log()), PP_ERR_CONFIG);
        pp_config_free(&cfg);
    }
}

static void test_config_validate_url_with_extras_refused(void **state)
{
    (void)state;
    assert_int_equal(validate("app", "https://user:pw@auth.example/v1"),
                     PP_ERR_CONFIG);
    assert_int_equal(validate("app", "https://auth.example/v1?x=1"),
                     PP_ERR_CONFIG);
    assert_int_equal(validate("app", "https://auth.example/v1#frag"),
                     PP_ERR_CONFIG);
    assert_int_equal(validate("app", "HTTPS://auth.example/v1"),
                     PP_ERR_CONFIG);
    assert_int_equal(validate("app", "http:/127.0.0.1/v1"), PP_ERR_CONFIG);
}

static void test_config_validate_proxy_rules(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "app_id=app"), PP_OK);
    assert_int_equal(set(&cfg, "proxy=http://proxy.example:3128"), PP_OK);
    assert_int_equal(pp_config_validate(&cfg, unit_log()), PP_OK);
    assert_int_equal(set(&cfg, "proxy=http://me:secret@proxy.example:3128"),
                     PP_OK);
    assert_int_equal(pp_config_validate(&cfg, unit_log()), PP_ERR_CONFIG);
    assert_int_equal(set(&cfg, "proxy=http://proxy.example:3128"), PP_OK);
    assert_int_equal(set(&cfg, "api_url=http://127.0.0.1:8080/v1"), PP_OK);
    assert_int_equal(pp_config_validate(&cfg, unit_log()), PP_ERR_CONFIG);
    pp_config_free(&cfg);
}

static void test_config_validate_http_to_remote_host_refused(void **state)
{
    (void)state;
    assert_int_equal(validate("app", "http://auth.example.test/v1"),
                     PP_ERR_CONFIG);
    assert_int_equal(validate("app", "http://192.0.2.1/v1"), PP_ERR_CONFIG);
}

/*
 * A host name that merely starts with "127." is an ordinary DNS name that
 * can point anywhere: plain http to it would send the token in clear.
 */
static void test_config_validate_http_to_127_named_host_refused(void **state)
{
    (void)state;
    assert_int_equal(validate("app", "http://127.attacker.test/v1"),
                     PP_ERR_CONFIG);
    assert_int_equal(validate("app", "http://127.0.0.1.attacker.test/v1"),
                     PP_ERR_CONFIG);
}

/* The loopback address in the user-info part does not make it loopback. */
static void
test_config_validate_http_with_loopback_userinfo_refused(void **state)
{
    (void)state;
    assert_int_equal(validate("app", "http://127.0.0.1@auth.example.test/"),
                     PP_ERR_CONFIG);
}

static void test_config_validate_garbage_url_refused(void **state)
{
    (void)state;
    assert_int_equal(validate("app", "not a url"), PP_ERR_CONFIG);
    assert_int_equal(validate("app", "https://"), PP_ERR_CONFIG);
}

static void test_config_validate_other_scheme_refused(void **state)
{
    (void)state;
    assert_int_equal(validate("app", "ftp://127.0.0.1/v1"), PP_ERR_CONFIG);
    assert_int_equal(validate("app", "file:///etc/passwd"), PP_ERR_CONFIG);
}

static void test_config_validate_both_first_pass_options_refused(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "app_id=app"), PP_OK);
    assert_int_equal(set(&cfg, "use_first_pass"), PP_OK);
    assert_int_equal(set(&cfg, "try_first_pass"), PP_OK);
    assert_int_equal(pp_config_validate(&cfg, unit_log()), PP_ERR_CONFIG);
    pp_config_free(&cfg);
}

static void test_config_validate_one_first_pass_option_accepted(void **state)
{
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "app_id=app"), PP_OK);
    assert_int_equal(set(&cfg, "user_map=/etc/passwd"), PP_OK);
    assert_int_equal(set(&cfg, "use_first_pass"), PP_OK);
    assert_int_equal(pp_config_validate(&cfg, unit_log()), PP_OK);
    assert_int_equal(set(&cfg, "use_first_pass=no"), PP_OK);
    assert_int_equal(set(&cfg, "try_first_pass"), PP_OK);
    assert_int_equal(pp_config_validate(&cfg, unit_log()), PP_OK);
    pp_config_free(&cfg);
}

/* ---- pp_config_session_text ---- */

static void test_config_session_text_round_trips(void **state)
{
    struct pp_config cfg, back;
    char *text;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "app_id=round trip app"), PP_OK);
    assert_int_equal(set(&cfg, "api_url=https://127.0.0.1:8443/v1/"), PP_OK);
    assert_int_equal(set(&cfg, "ca_file=/tmp/ca dir/ca.pem"), PP_OK);
    assert_int_equal(set(&cfg, "proxy=http://127.0.0.1:3128"), PP_OK);
    assert_int_equal(set(&cfg, "connect_timeout=3"), PP_OK);
    assert_int_equal(set(&cfg, "timeout=250"), PP_OK);

    text = pp_config_session_text(&cfg);
    assert_non_null(text);
    pp_config_init(&back);
    assert_int_equal(pp_config_parse_text(&back, text, "session", unit_log()),
                     PP_OK);

    assert_string_equal(back.app_id, "round trip app");
    assert_string_equal(back.api_url, "https://127.0.0.1:8443/v1/");
    assert_string_equal(back.ca_file, "/tmp/ca dir/ca.pem");
    assert_string_equal(back.proxy, "http://127.0.0.1:3128");
    assert_int_equal(back.connect_timeout, 3);
    assert_int_equal(back.timeout, 250);

    free(text);
    pp_config_free(&cfg);
    pp_config_free(&back);
}

/* Settings never given stay unset after the round trip, not empty. */
static void test_config_session_text_leaves_unset_settings_unset(void **state)
{
    struct pp_config cfg, back;
    char *text;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(set(&cfg, "app_id=minimal"), PP_OK);

    text = pp_config_session_text(&cfg);
    assert_non_null(text);
    pp_config_init(&back);
    assert_int_equal(pp_config_parse_text(&back, text, "session", unit_log()),
                     PP_OK);

    assert_string_equal(back.app_id, "minimal");
    assert_null(back.api_url);
    assert_null(back.ca_file);
    assert_null(back.proxy);
    assert_string_equal(pp_config_api_url(&back),
                        "https://auth.passage.id/v1");

    free(text);
    pp_config_free(&cfg);
    pp_config_free(&back);
}

#define FILE_TEST(name)                                                       \
    cmocka_unit_test_setup_teardown(name, files_setup, files_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_match_the_manual),
        cmocka_unit_test(test_config_app_id_is_set),
        cmocka_unit_test(test_config_api_url_is_set),
        cmocka_unit_test(test_config_unset_url_and_store_give_defaults),
        cmocka_unit_test(test_config_store_is_set),
        cmocka_unit_test(test_config_on_close_keep_is_set),
        cmocka_unit_test(test_config_on_close_revoke_is_set),
        cmocka_unit_test(test_config_ca_file_is_set),
        cmocka_unit_test(test_config_connect_timeout_is_set),
        cmocka_unit_test(test_config_timeout_is_set),
        cmocka_unit_test(test_config_timeouts_accept_1_and_300),
        cmocka_unit_test(test_config_proxy_is_set),
        cmocka_unit_test(test_config_config_is_set),
        cmocka_unit_test(test_config_bare_flag_turns_it_on),
        cmocka_unit_test(test_config_flag_accepts_yes_true_on_1),
        cmocka_unit_test(test_config_flag_accepts_no_false_off_0),
        cmocka_unit_test(test_config_later_value_replaces_earlier),

        cmocka_unit_test(test_config_timeout_zero_refused),
        cmocka_unit_test(test_config_timeout_negative_refused),
        cmocka_unit_test(test_config_timeout_301_refused),
        cmocka_unit_test(test_config_timeout_letters_refused),
        cmocka_unit_test(test_config_timeout_with_unit_refused),
        cmocka_unit_test(test_config_timeout_empty_refused),
        cmocka_unit_test(test_config_timeout_without_value_refused),
        cmocka_unit_test(test_config_on_close_maybe_refused),
        cmocka_unit_test(test_config_on_close_empty_refused),
        cmocka_unit_test(test_config_flag_bad_value_refused),
        cmocka_unit_test(test_config_flag_empty_value_refused),
        cmocka_unit_test(test_config_empty_string_values_refused),
        cmocka_unit_test(test_config_string_option_without_value_refused),

        cmocka_unit_test(test_config_unknown_key_refused),
        cmocka_unit_test(test_config_unknown_bare_word_refused),
        cmocka_unit_test(test_config_near_miss_key_refused),
        cmocka_unit_test(test_config_empty_key_refused),

        cmocka_unit_test(test_config_text_reads_key_space_equals_space_value),
        cmocka_unit_test(test_config_text_skips_comments_and_blank_lines),
        cmocka_unit_test(test_config_text_bare_flag_line_turns_it_on),
        cmocka_unit_test(test_config_text_value_keeps_inner_spaces),
        cmocka_unit_test(test_config_text_value_may_contain_equals),
        cmocka_unit_test(test_config_text_hash_after_value_is_part_of_it),
        cmocka_unit_test(test_config_text_last_line_without_newline_read),
        cmocka_unit_test(test_config_text_unknown_key_refused),
        cmocka_unit_test(test_config_text_bad_value_refused),
        cmocka_unit_test(test_config_text_empty_value_refused),

        FILE_TEST(test_config_load_reads_file_named_by_config),
        FILE_TEST(test_config_load_arguments_win_over_file),
        FILE_TEST(test_config_load_config_argument_anywhere),
        FILE_TEST(test_config_load_missing_explicit_file_refused),
        cmocka_unit_test(test_config_load_missing_default_file_is_fine),
        FILE_TEST(test_config_load_group_writable_file_refused),
        FILE_TEST(test_config_load_world_writable_file_refused),
        FILE_TEST(test_config_load_file_of_other_owner_refused),
        FILE_TEST(test_config_load_symlinked_file_refused),
        FILE_TEST(test_config_load_file_of_64_kib_accepted),
        FILE_TEST(test_config_load_file_over_64_kib_refused),
        FILE_TEST(test_config_load_directory_as_file_refused),
        FILE_TEST(test_config_load_unknown_key_in_file_refused),
        FILE_TEST(test_config_load_config_key_in_file_refused),
        FILE_TEST(test_config_load_file_with_nul_byte_refused),
        FILE_TEST(test_config_load_unknown_argument_refused),

        cmocka_unit_test(test_config_validate_missing_app_id_refused),
        cmocka_unit_test(test_config_validate_default_url_accepted),
        cmocka_unit_test(test_config_validate_https_accepted),
        cmocka_unit_test(test_config_validate_http_to_127_0_0_1_accepted),
        cmocka_unit_test(test_config_validate_http_to_localhost_accepted),
        cmocka_unit_test(test_config_validate_http_to_ipv6_loopback_accepted),
        cmocka_unit_test(test_config_validate_typed_tokens_need_user_map),
        cmocka_unit_test(test_config_validate_url_with_extras_refused),
        cmocka_unit_test(test_config_validate_proxy_rules),
        cmocka_unit_test(test_config_validate_http_to_remote_host_refused),
        cmocka_unit_test(test_config_validate_http_to_127_named_host_refused),
        cmocka_unit_test(
            test_config_validate_http_with_loopback_userinfo_refused),
        cmocka_unit_test(test_config_validate_garbage_url_refused),
        cmocka_unit_test(test_config_validate_other_scheme_refused),
        cmocka_unit_test(test_config_validate_both_first_pass_options_refused),
        cmocka_unit_test(test_config_validate_one_first_pass_option_accepted),

        cmocka_unit_test(test_config_session_text_round_trips),
        cmocka_unit_test(test_config_session_text_leaves_unset_settings_unset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
