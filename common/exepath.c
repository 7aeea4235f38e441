/* exepath: see exepath.h. */
#include "common/exepath.h"

#include <string.h>

#include "common/util.h"

#define DELETED_SUFFIX " (deleted)"

size_t
exepath_len(const char *path, bool deleted)
{
    size_t len = strlen(path);
    size_t n = sizeof DELETED_SUFFIX - 1;
    return (deleted && len >= n && !strcmp(path + len - n, DELETED_SUFFIX)
            ? len - n : len);
}

const char *
exepath_temp_dir(const char *path, size_t len)
{
    static const char *const dirs[] = { "/tmp/", "/var/tmp/", "/dev/shm/" };
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        size_t n = strlen(dirs[i]);
        if (len > n && !memcmp(path, dirs[i], n)) {
            return dirs[i];
        }
    }
    return NULL;
}

bool
exepath_is_memfd(const char *path)
{
    return !strncmp(path, "/memfd:", 7);
}
