/* digest: SHA-256 (and MD5, for checking dpkg's shipped checksums) of files
 * and buffers, through OpenSSL's libcrypto, plus strict hex conversion.
 *
 * Used by appid/ (signature import and lookup --file) and, in guests, by
 * guest-agent/ to identify executables. */
#ifndef APPFW_DIGEST_H
#define APPFW_DIGEST_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64
#define MD5_LEN 16

/* Hashes everything readable from 'fd' (from its current offset) into
 * 'sha256' and, if nonnull, 'md5'; stores the byte count in '*size' if
 * nonnull.  Returns 0 or an errno value (from read(), or EIO if libcrypto
 * fails). */
int digest_fd(int fd, uint8_t sha256[SHA256_LEN], uint8_t md5[MD5_LEN],
              uint64_t *size);

/* Same for the file at 'path' (opened read-only, not following a final
 * symlink only if 'nofollow'). */
int digest_file(const char *path, bool nofollow, uint8_t sha256[SHA256_LEN],
                uint8_t md5[MD5_LEN], uint64_t *size);

void digest_sha256(const void *, size_t, uint8_t sha256[SHA256_LEN]);

/* Writes 2*n lowercase hex digits and a NUL to 'out'. */
void digest_to_hex(const uint8_t *bin, size_t n, char *out);

/* Parses exactly 2*n hex digits (either case) from 'hex', which must end
 * there.  Returns false on any other input. */
bool digest_from_hex(const char *hex, uint8_t *bin, size_t n);

#endif /* digest.h */
