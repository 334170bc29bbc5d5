/*
 * Helpers shared by the cmocka unit tests of lib/.
 *
 * Everything here is static inline so that a test file that uses only part
 * of it still builds under -Werror.
 */
#ifndef PP_UNIT_H
#define PP_UNIT_H

/* cmocka needs these before its own header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../lib/log.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A log with no PAM handle and no program name: nothing reaches stderr. */
static inline const struct pp_log *unit_log(void)
{
    static const struct pp_log quiet = {NULL, NULL, NULL, false};

    return &quiet;
}

/*
 * Base64url without padding, written here rather than taken from lib/ so
 * that the tests do not check the decoder against itself.
 */
static inline char *unit_b64url(const void *data, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_";
    const unsigned char *in = data;
    char *out = malloc(len / 3 * 4 + 5);
    size_t n = 0, i = 0;

    assert_non_null(out);
    for (; i + 3 <= len; i += 3) {
        unsigned long v = ((unsigned long)in[i] << 16) |
                          ((unsigned long)in[i + 1] << 8) | in[i + 2];
        out[n++] = alphabet[(v >> 18) & 63];
        out[n++] = alphabet[(v >> 12) & 63];
        out[n++] = alphabet[(v >> 6) & 63];
        out[n++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned long v = (unsigned long)in[i] << 16;
        out[n++] = alphabet[(v >> 18) & 63];
        out[n++] = alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        unsigned long v =
            ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8);
        out[n++] = alphabet[(v >> 18) & 63];
        out[n++] = alphabet[(v >> 12) & 63];
        out[n++] = alphabet[(v >> 6) & 63];
    }
    out[n] = '\0';
    return out;
}

/* The third part of every JWT built here: filler, never checked. */
#define UNIT_JWT_SIGNATURE "c2lnbmF0dXJl"

/* A JWT whose payload is the given JSON text. */
static inline char *unit_jwt(const char *payload_json)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *h = unit_b64url(header, strlen(header));
    char *p = unit_b64url(payload_json, strlen(payload_json));
    char *jwt = NULL;

    assert_true(asprintf(&jwt, "%s.%s." UNIT_JWT_SIGNATURE, h, p) > 0);
    free(h);
    free(p);
    return jwt;
}

/* A fresh private directory under /tmp; the caller removes it. */
static inline char *unit_temp_dir(void)
{
    char *dir = strdup("/tmp/pp-unit-XXXXXX");

    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static inline int unit_remove_one(const char *path, const struct stat *st,
                                  int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* rm -r, without following symlinks out of the tree. */
static inline void unit_remove_tree(const char *dir)
{
    if (dir != NULL)
        nftw(dir, unit_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes text to path with exactly the given mode, whatever the umask. */
static inline void unit_write_file(const char *path, const char *text,
                                   mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode);
    size_t len = strlen(text);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

/* The whole content of a small file, as a string the caller frees. */
static inline char *unit_read_file(const char *path)
{
    char *buf = calloc(1, 16384);
    int fd = open(path, O_RDONLY | O_NOFOLLOW);
    ssize_t n;

    assert_non_null(buf);
    assert_true(fd >= 0);
    n = read(fd, buf, 16383);
    assert_true(n >= 0);
    close(fd);
    return buf;
}

/* dir/name, as a string the caller frees. */
static inline char *unit_path(const char *dir, const char *name)
{
    char *path = NULL;

    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    return path;
}

#endif
