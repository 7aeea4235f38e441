/* reset: the TCP reset appfw-switchd sends back to a VM whose connection
 * attempt its policy refused (enforce mode), so the client fails at once
 * instead of retrying SYNs until it times out.
 *
 * Pure: packet bytes in, packet bytes out.  The input is a packet from a
 * guest, and hostile: anything but a well-formed Ethernet + IPv4/IPv6 + TCP
 * packet without the RST flag (no VLAN tag, no IPv6 extension headers) gets
 * no answer. */
#ifndef RESET_H
#define RESET_H 1

#include <stddef.h>
#include <stdint.h>

#define RESET_MAX_LEN (14 + 40 + 20)

/* Writes into 'out' (RESET_MAX_LEN bytes) the RST that answers 'packet'
 * ('len' bytes, possibly truncated after the TCP header), as if from the
 * peer it was sent to.  Returns its length, or 0 if 'packet' gets none. */
size_t reset_compose(const void *packet, size_t len, uint8_t *out);

#endif /* reset.h */
