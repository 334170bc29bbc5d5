/*
 * Acting as the user for file and keyring work.
 *
 * Only the file-system identity changes (setfsuid, setfsgid): it governs
 * both file access and key ownership, it is per thread, and it leaves the
 * real and effective ids alone, so signals and the host's state are not
 * touched.  Each switch lasts for the smallest span that needs it.
 */
#ifndef PP_IDENTITY_H
#define PP_IDENTITY_H

#include "log.h"
#include "result.h"

#include <stdbool.h>
#include <sys/types.h>

struct pp_identity {
    uid_t uid;
    gid_t gid;
    bool switched;
};

/* Switches to uid/gid and records how to return.  */
enum pp_result pp_identity_become(struct pp_identity *saved, uid_t uid,
                                  gid_t gid, const struct pp_log *log);

/* Returns to the recorded identity; logs loudly if the kernel refuses. */
enum pp_result pp_identity_restore(struct pp_identity *saved,
                                   const struct pp_log *log);

#endif
