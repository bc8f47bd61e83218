/* SPDX-License-Identifier: MIT */
#ifndef CTNET_MNL_H
#define CTNET_MNL_H

#include <libmnl/libmnl.h>
#include <stddef.h>

/*
 * Sends the netlink request that starts buf (its nlmsg_seq set) on nl and runs cb on every
 * answer, read back into buf (size bytes), until NLMSG_DONE, the ack or an error:
 * 0 or -errno (the kernel's error for the request). One request at a time per socket.
 */
int ctnet_mnl_request(struct mnl_socket *nl, void *buf, size_t size, mnl_cb_t cb, void *data);

#endif
