#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#define DIGEST_CHUNK (256 * 1024)

int
digest_fd(int fd, uint8_t sha256[SHA256_LEN], uint8_t md5[MD5_LEN],
          uint64_t *sizep)
{
    static _Thread_local uint8_t chunk[DIGEST_CHUNK];
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    EVP_MD_CTX *m5 = md5 ? EVP_MD_CTX_new() : NULL;
    uint64_t size = 0;
    int error = 0;

    if (!sha || (md5 && !m5)
        || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)
        || (m5 && !EVP_DigestInit_ex(m5, EVP_md5(), NULL))) {
        error = EIO;
        goto out;
    }

    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error = errno;
            goto out;
        } else if (n == 0) {
            break;
        }
        size += n;
        if (!EVP_DigestUpdate(sha, chunk, n)
            || (m5 && !EVP_DigestUpdate(m5, chunk, n))) {
            error = EIO;
            goto out;
        }
    }

    if (!EVP_DigestFinal_ex(sha, sha256, NULL)
        || (m5 && !EVP_DigestFinal_ex(m5, md5, NULL))) {
        error = EIO;
        goto out;
    }
    if (sizep) {
        *sizep = size;
    }

out:
    EVP_MD_CTX_free(sha);
    EVP_MD_CTX_free(m5);
    return error;
}

int
digest_file(const char *path, bool nofollow, uint8_t sha256[SHA256_LEN],
            uint8_t md5[MD5_LEN], uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY
                        | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0) {
        return errno;
    }
    int error = digest_fd(fd, sha256, md5, size);
    close(fd);
    return error;
}

void
digest_sha256(const void *data, size_t n, uint8_t sha256[SHA256_LEN])
{
    EVP_Digest(data, n, sha256, NULL, EVP_sha256(), NULL);
}

void
digest_to_hex(const uint8_t *bin, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[bin[i] >> 4];
        out[2 * i + 1] = hex[bin[i] & 15];
    }
    out[2 * n] = '\0';
}

static int
hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : -1;
}

bool
digest_from_hex(const char *hex, uint8_t *bin, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(hex[2 * i]);
        int lo = hi < 0 ? -1 : hex_value(hex[2 * i + 1]);
        if (lo < 0) {
            return false;
        }
        bin[i] = (uint8_t) (hi << 4 | lo);
    }
    return hex[2 * n] == '\0';
}
