/* exepath: what the path of an executable, as the kernel reports it
 * (readlink of /proc/PID/exe: "/usr/bin/curl", "/tmp/x (deleted)",
 * "/memfd:name (deleted)"), says about who could have put it there.
 *
 * An executable under a directory anyone may write to, or one in a memfd
 * (in no file at all), may be anyone's, whatever its hash says: the
 * security VM's policy (security-vm/policy.c) and the agent's own fail
 * mode (guest-agent/agent.c) give it no more than an unknown application
 * gets.  Pure. */
#ifndef APPFW_EXEPATH_H
#define APPFW_EXEPATH_H 1

#include <stdbool.h>
#include <stddef.h>

/* The length of 'path' without the " (deleted)" the kernel appends to an
 * unlinked file's, if 'deleted' (the agent's app.deleted) says it is
 * one. */
size_t exepath_len(const char *path, bool deleted);

/* The directory anyone may write to that the first 'len' bytes of 'path'
 * lie under ("/tmp/", "/var/tmp/", "/dev/shm/"), or NULL. */
const char *exepath_temp_dir(const char *path, size_t len);

/* Whether 'path' names a memfd ("/memfd:..."). */
bool exepath_is_memfd(const char *path);

#endif /* exepath.h */
