/* SPDX-License-Identifier: MIT */
/* The loopback-forward map's key and value, shared by nat/lofwd.bpf.c and nat/lofwd.c. */
#ifndef CTNET_LOFWD_H
#define CTNET_LOFWD_H

#include <linux/types.h>

#define LOFWD_INET 4
#define LOFWD_INET6 6
/* Every host port, both protocols and families (allocated per element, not up front). */
#define LOFWD_MAX 262144

/* A forward pinned to a loopback address (--host-ip 127.0.0.2, ::1) has that address in
 * addr; one on every address has addr 0. The programs look the exact address up first,
 * as the nft chains try fwd4ip/fwd6ip before fwd4/fwd6. */
struct lofwd_key {
	__u8 family; /* LOFWD_INET or LOFWD_INET6 */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u16 port;  /* host port, network order */
	__u32 addr[4]; /* the loopback address asked for, network order (IPv4: addr[0]), or 0 */
};

struct lofwd_val {
	__u32 addr[4]; /* container address, network order (IPv4: addr[0]) */
	__u16 port;    /* container port, network order */
	__u16 pad;
};

#endif
