#include "result.h"

const char *pp_strerror(enum pp_result result)
{
    switch (result) {
    case PP_OK:
        return "success";
    case PP_ERR_NOMEM:
        return "out of memory";
    case PP_ERR_SYSTEM:
        return "system error";
    case PP_ERR_CONFIG:
        return "bad configuration";
    case PP_ERR_USAGE:
        return "bad usage";
    case PP_ERR_USER:
        return "unknown or unusable user";
    case PP_ERR_NO_TOKEN:
        return "no token";
    case PP_ERR_BAD_TOKEN:
        return "malformed token";
    case PP_ERR_EXISTS:
        return "a token is already stored";
    case PP_ERR_UNSAFE:
        return "unsafe file ownership or mode";
    case PP_ERR_BUSY:
        return "token in use by another login";
    case PP_ERR_REJECTED:
        return "token rejected by the server";
    case PP_ERR_DENIED:
        return "access denied by the server";
    case PP_ERR_UNAVAILABLE:
        return "server unavailable";
    case PP_ERR_BAD_REPLY:
        return "unreadable server reply";
    case PP_ERR_KEYRING:
        return "session keyring unusable";
    case PP_ERR_PERM:
        return "permission denied";
    }
    return "unknown error";
}
