/* file: replacing a file so that a crash or a power cut leaves either its
 * old contents or its new ones, complete, and the new ones for good once
 * the replacement has returned 0.
 *
 * The new contents go to a temporary file in the same directory
 * ("PATH.tmpXXXXXX"), which is fsync'd and renamed over PATH; then the
 * directory is fsync'd, so that the rename survives too.  On an error the
 * temporary file is removed and PATH keeps its old contents, except when
 * only the directory's fsync failed: the new file is then in place, but a
 * power cut may still bring the old one back.
 *
 * Used by every daemon and tool that rewrites a file (switchd's registry,
 * the agent's local policy, appid's export).  Functions return 0 or a
 * positive errno. */
#ifndef APPFW_FILE_H
#define APPFW_FILE_H 1

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct file_replace {
    char *path;
    char *tmp;                  /* The temporary file's name. */
    FILE *stream;               /* Write the new contents here. */
};

/* Starts replacing 'path' by a new file with permissions 'mode'.  On
 * success the caller writes to 'fr->stream', then calls
 * file_replace_commit() or file_replace_abort(). */
int file_replace_open(struct file_replace *fr, const char *path,
                      mode_t mode);

/* Flushes and fsyncs the new file, renames it over the old one and fsyncs
 * the directory.  Releases 'fr' in every case. */
int file_replace_commit(struct file_replace *fr);

/* Removes the temporary file and releases 'fr' (which may have been
 * released already). */
void file_replace_abort(struct file_replace *fr);

/* Replaces 'path' by a file of mode 'mode' holding the 'len' bytes at
 * 'data'. */
int file_replace_data(const char *path, mode_t mode, const void *data,
                      size_t len);

#endif /* file.h */
