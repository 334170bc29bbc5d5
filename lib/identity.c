#include "identity.h"

#include <sys/fsuid.h>

/* setfsuid returns the previous id; calling it with -1 reads the current. */
static uid_t current_fsuid(void)
{
    return (uid_t)setfsuid((uid_t)-1);
}

static gid_t current_fsgid(void)
{
    return (gid_t)setfsgid((gid_t)-1);
}

static bool switch_to(uid_t uid, gid_t gid)
{
    setfsgid(gid);
    setfsuid(uid);
    return current_fsuid() == uid && current_fsgid() == gid;
}

enum pp_result pp_identity_become(struct pp_identity *saved, uid_t uid,
                                  gid_t gid, const struct pp_log *log)
{
    saved->uid = current_fsuid();
    saved->gid = current_fsgid();
    saved->switched = false;

    if (saved->uid == uid && saved->gid == gid)
        return PP_OK;

    if (!switch_to(uid, gid)) {
        switch_to(saved->uid, saved->gid);
        pp_log(log, LOG_ERR, "cannot act as uid %lu gid %lu",
               (unsigned long)uid, (unsigned long)gid);
        return PP_ERR_PERM;
    }
    saved->switched = true;
    return PP_OK;
}

enum pp_result pp_identity_restore(struct pp_identity *saved,
                                   const struct pp_log *log)
{
    if (!saved->switched)
        return PP_OK;

    setfsuid(saved->uid);
    setfsgid(saved->gid);
    saved->switched = false;
    if (current_fsuid() != saved->uid || current_fsgid() != saved->gid) {
        pp_log(log, LOG_CRIT, "cannot return to uid %lu gid %lu",
               (unsigned long)saved->uid, (unsigned long)saved->gid);
        return PP_ERR_SYSTEM;
    }
    return PP_OK;
}
