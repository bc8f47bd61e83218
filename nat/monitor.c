/* SPDX-License-Identifier: MIT */
/*
 * nftables events for `ctnet watch`: a socket in the NFNLGRP_NFTABLES group, and a reader
 * that counts what removed or emptied part of ctnet's table (table, chain, rule, set or
 * element deletions of `inet ctnet`). Additions are ignored: only damage needs a repair,
 * and the watcher's own repairs must not wake it again and again.
 */
#include "nat_int.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct nat_monitor {
	struct mnl_socket *nl;
};

int nat_monitor_open(struct nat_monitor **out, struct ctnet_err *err)
{
	struct nat_monitor *m = calloc(1, sizeof(*m));
	int grp = NFNLGRP_NFTABLES, rcvbuf = 8 << 20;

	if (!m)
		return ctnet_err_sys(err, ENOMEM, "nftables monitor");
	if (!(m->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC)) ||
	    mnl_socket_bind(m->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(m->nl, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0) {
		int e = errno;
		nat_monitor_close(m);
		return ctnet_err_sys(err, e, "nftables monitor: subscribe to NFNLGRP_NFTABLES");
	}
	/* A reload is thousands of messages: room for them (RCVBUFFORCE needs CAP_NET_ADMIN;
	 * an overrun is reported as -ENOBUFS and the caller checks everything). */
	if (setsockopt(mnl_socket_get_fd(m->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		setsockopt(mnl_socket_get_fd(m->nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	*out = m;
	return 0;
}

int nat_monitor_fd(const struct nat_monitor *m)
{
	return mnl_socket_get_fd(m->nl);
}

void nat_monitor_close(struct nat_monitor *m)
{
	if (!m)
		return;
	if (m->nl)
		mnl_socket_close(m->nl);
	free(m);
}

/* Whether one message deleted something of table inet ctnet. */
static bool ours_deleted(const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *nfg;
	const struct nlattr *a;

	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*nfg)))
		return false;
	switch (nlh->nlmsg_type & 0xff) {
	case NFT_MSG_DELTABLE: case NFT_MSG_DELCHAIN: case NFT_MSG_DELRULE:
	case NFT_MSG_DELSET: case NFT_MSG_DELSETELEM:
		break;
	default:
		return false;
	}
	nfg = mnl_nlmsg_get_payload(nlh);
	if (nfg->nfgen_family != NFPROTO_INET)
		return false;
	/* Attribute 1 is the table's name in each of these messages (NFTA_TABLE_NAME,
	 * NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE). */
	mnl_attr_for_each(a, nlh, sizeof(*nfg))
		if (mnl_attr_get_type(a) == 1)
			return mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 &&
			       !strcmp(mnl_attr_get_str(a), "ctnet");
	return false;
}

int nat_monitor_read(struct nat_monitor *m, struct ctnet_err *err)
{
	char buf[1 << 16] __attribute__((aligned(4)));
	int hits = 0;

	for (;;) {
		ssize_t n = recv(mnl_socket_get_fd(m->nl), buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return hits;
			if (errno == ENOBUFS)
				return -ENOBUFS; /* events were lost: anything may have changed */
			return ctnet_err_sys(err, errno, "nftables monitor: read");
		}
		int len = (int)n;
		for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			hits += ours_deleted(nlh);
	}
}
