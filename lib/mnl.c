/* SPDX-License-Identifier: MIT */
#include "mnl.h"

#include <errno.h>

int ctnet_mnl_request(struct mnl_socket *nl, void *buf, size_t size, mnl_cb_t cb, void *data)
{
	const struct nlmsghdr *nlh = buf;
	uint32_t seq = nlh->nlmsg_seq, portid = mnl_socket_get_portid(nl);
	ssize_t n;
	int r = MNL_CB_OK;

	if (mnl_socket_sendto(nl, buf, nlh->nlmsg_len) < 0)
		return -errno;
	while ((n = mnl_socket_recvfrom(nl, buf, size)) > 0) {
		r = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
		if (r <= MNL_CB_STOP)
			break;
	}
	if (n < 0)
		return -errno;
	return r < 0 ? -errno : 0;
}
