/* pingsock: ICMP echo sockets (see pingsock.h). */
#include "guest-agent/pingsock.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Parses the hex address 'hex' as the kernel prints it ("%08X" of each
 * 32-bit word as stored, 1 word for IPv4 and 4 for IPv6) into 'addr'. */
static bool
parse_addr(const char *hex, int family, uint8_t addr[16])
{
    size_t words = family == AF_INET ? 1 : 4;
    if (strlen(hex) != words * 8) {
        return false;
    }
    for (size_t i = 0; i < words; i++) {
        uint32_t w;
        char part[9];
        memcpy(part, hex + 8 * i, 8);
        part[8] = '\0';
        if (sscanf(part, "%8"SCNx32, &w) != 1) {
            return false;
        }
        memcpy(addr + 4 * i, &w, 4);
    }
    return true;
}

bool
pingsock_find(const char *path, int family, const uint8_t *local,
              uint16_t ident, uint32_t *inode, uint32_t *uid)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        return false;
    }
    size_t alen = family == AF_INET ? 4 : 16;
    static const uint8_t any[16];
    char line[512];
    bool found = false, exact = false;
    /* The first line is the header.  A socket bound to 'local' goes
     * before one bound to the wildcard address. */
    bool header = true;
    while (!exact && fgets(line, sizeof line, f)) {
        if (header) {
            header = false;
            continue;
        }
        char laddr[33], raddr[33];
        unsigned int lport, rport, st;
        uint32_t u, ino;
        if (sscanf(line, " %*u: %32[0-9A-Fa-f]:%x %32[0-9A-Fa-f]:%x %x "
                   "%*x:%*x %*x:%*x %*x %"SCNu32" %*d %"SCNu32,
                   laddr, &lport, raddr, &rport, &st, &u, &ino) != 7) {
            continue;
        }
        uint8_t a[16];
        if (lport == ident && parse_addr(laddr, family, a)
            && (!memcmp(a, local, alen) || !memcmp(a, any, alen))) {
            *inode = ino;
            *uid = u;
            found = true;
            exact = !memcmp(a, local, alen);
        }
    }
    fclose(f);
    return found;
}
