/* file: durable replacement of a file (see file.h). */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static void
file_replace_release(struct file_replace *fr)
{
    free(fr->path);
    free(fr->tmp);
    fr->path = fr->tmp = NULL;
    fr->stream = NULL;
}

int
file_replace_open(struct file_replace *fr, const char *path, mode_t mode)
{
    fr->path = xstrdup(path);
    fr->tmp = xasprintf("%s.tmpXXXXXX", path);
    fr->stream = NULL;
    int fd = mkostemp(fr->tmp, O_CLOEXEC);
    if (fd < 0) {
        int error = errno;
        file_replace_release(fr);
        return error;
    }
    int error = fchmod(fd, mode) ? errno : 0;
    if (!error) {
        fr->stream = fdopen(fd, "w");
        error = fr->stream ? 0 : errno;
    }
    if (error) {
        close(fd);
        unlink(fr->tmp);
        file_replace_release(fr);
    }
    return error;
}

/* Makes the last rename in the directory of 'path' durable.  A file system
 * that cannot sync a directory (EINVAL) has nothing to make durable. */
static int
fsync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = (!slash ? xstrdup(".")
                 : slash == path ? xstrdup("/")
                 : xasprintf("%.*s", (int) (slash - path), path));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int error = fd < 0 ? errno : fsync(fd) ? errno : 0;
    if (fd >= 0) {
        close(fd);
    }
    free(dir);
    return error == EINVAL ? 0 : error;
}

int
file_replace_commit(struct file_replace *fr)
{
    int error = 0;
    if (fflush(fr->stream) || ferror(fr->stream)) {
        error = errno ? errno : EIO;
    }
    if (!error && fsync(fileno(fr->stream))) {
        error = errno;
    }
    if (fclose(fr->stream) && !error) {
        error = errno;
    }
    fr->stream = NULL;
    if (!error && rename(fr->tmp, fr->path)) {
        error = errno;
    }
    if (error) {
        unlink(fr->tmp);
    } else {
        error = fsync_dir_of(fr->path);
    }
    file_replace_release(fr);
    return error;
}

void
file_replace_abort(struct file_replace *fr)
{
    if (fr->stream) {
        fclose(fr->stream);
    }
    if (fr->tmp) {
        unlink(fr->tmp);
    }
    file_replace_release(fr);
}

int
file_replace_data(const char *path, mode_t mode, const void *data,
                  size_t len)
{
    struct file_replace fr;
    int error = file_replace_open(&fr, path, mode);
    if (error) {
        return error;
    }
    if (len && fwrite(data, 1, len, fr.stream) != len) {
        error = errno ? errno : EIO;
        file_replace_abort(&fr);
        return error;
    }
    return file_replace_commit(&fr);
}
