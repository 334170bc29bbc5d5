/*
 * Unit tests of lib/usermap.c: which Passage users may open which local
 * accounts.
 */
#include "unit.h"

#include "../../lib/config.h"
#include "../../lib/usermap.h"

static const char map_text[] = "# local user, Passage user\n"
                               "alice user-alice\n"
                               "alice   user-alice-laptop\n"
                               "\tbob\tuser-bob\r\n"
                               "carol\n";

static void test_user_map_lists_the_pairs_it_holds(void **state)
{
    (void)state;
    assert_true(pp_user_map_lists(map_text, "alice", "user-alice"));
    assert_true(pp_user_map_lists(map_text, "alice", "user-alice-laptop"));
    assert_true(pp_user_map_lists(map_text, "bob", "user-bob"));
}

static void test_user_map_refuses_other_pairs(void **state)
{
    (void)state;
    assert_false(pp_user_map_lists(map_text, "alice", "user-bob"));
    assert_false(pp_user_map_lists(map_text, "bob", "user-alice"));
    assert_false(pp_user_map_lists(map_text, "root", "user-alice"));
    assert_false(pp_user_map_lists(map_text, "alice", "user-alic"));
}

static void test_user_map_refuses_empty_sub_and_bare_names(void **state)
{
    (void)state;
    assert_false(pp_user_map_lists(map_text, "alice", ""));
    assert_false(pp_user_map_lists(map_text, "carol", ""));
    assert_false(pp_user_map_lists(map_text, "#", "local"));
}

static void test_user_map_missing_file_is_config_error(void **state)
{
    struct pp_user_map map;
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    cfg.user_map = strdup("/nonexistent/passage-users");
    assert_int_equal(pp_user_map_load(&cfg, &map, unit_log()), PP_ERR_CONFIG);
    assert_null(map.text);
    pp_config_free(&cfg);
}

static void test_user_map_group_writable_file_is_config_error(void **state)
{
    char *dir = unit_temp_dir();
    char *path = unit_path(dir, "users");
    struct pp_user_map map;
    struct pp_config cfg;

    (void)state;
    unit_write_file(path, "alice user-alice\n", 0664);
    pp_config_init(&cfg);
    cfg.user_map = strdup(path);
    assert_int_equal(pp_user_map_load(&cfg, &map, unit_log()), PP_ERR_CONFIG);
    assert_null(map.text);

    chmod(path, 0644);
    assert_int_equal(pp_user_map_load(&cfg, &map, unit_log()), PP_OK);
    assert_true(pp_user_map_lists(map.text, "alice", "user-alice"));
    pp_user_map_free(&map);
    pp_config_free(&cfg);
    unit_remove_tree(dir);
    free(path);
    free(dir);
}

static void test_user_map_unset_loads_nothing(void **state)
{
    struct pp_user_map map = {(char *)"stale"};
    struct pp_config cfg;

    (void)state;
    pp_config_init(&cfg);
    assert_int_equal(pp_user_map_load(&cfg, &map, unit_log()), PP_OK);
    assert_null(map.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_map_lists_the_pairs_it_holds),
        cmocka_unit_test(test_user_map_refuses_other_pairs),
        cmocka_unit_test(test_user_map_refuses_empty_sub_and_bare_names),
        cmocka_unit_test(test_user_map_missing_file_is_config_error),
        cmocka_unit_test(test_user_map_group_writable_file_is_config_error),
        cmocka_unit_test(test_user_map_unset_loads_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
