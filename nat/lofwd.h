/* SPDX-License-Identifier: MIT */
/* The loopback-forward map's key and value, shared by nat/lofwd.bpf.c and nat/lofwd.c. */
#ifndef CTNET_LOFWD_H
#define CTNET_LOFWD_H

#include <linux/types.h>

#define LOFWD_INET 4
#define LOFWD_INET6 6
/* Every host port, both protocols and families (allocated per element, not up front). */
#define LOFWD_MAX 262144

struct lofwd_key {
	__u8 family; /* LOFWD_INET or LOFWD_INET6 */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u16 port;  /* host port, network order */
};

struct lofwd_val {
	__u32 addr[4]; /* container address, network order (IPv4: addr[0]) */
	__u16 port;    /* container port, network order */
	__u16 pad;
};

#endif
