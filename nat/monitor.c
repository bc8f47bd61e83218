/* SPDX-License-Identifier: MIT */
/*
 * nftables events for `ctnet watch`: a socket in the NFNLGRP_NFTABLES group, and a reader
 * that counts what removed or emptied part of ctnet's tables (table, chain, rule, set or
 * element deletions of `inet ctnet` and `bridge ctnet`), what put a rule into one of their
 * chains, and what emptied Docker's DOCKER-USER. Other additions are ignored: only damage
 * needs a repair, and the watcher's own repairs must not wake it again and again.
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

/* The string attribute of type `type` of an nf_tables message, or NULL. */
static const char *attr_str_of(const struct nlmsghdr *nlh, uint16_t type)
{
	const struct nlattr *a;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == type)
			return mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 ? mnl_attr_get_str(a) : NULL;
	return NULL;
}

/*
 * Whether one message is damage: something of ctnet's tables (inet and bridge) deleted, a
 * rule added to one of ctnet's chains (ctnet adds rules only when it builds a chain: anyone
 * else's rule there is foreign; ctnet's own rebuilds cost one check that finds nothing), or
 * Docker's DOCKER-USER emptied or made again (it held ctnet's accepts, when asked for).
 */
static bool damage(const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *nfg;
	const char *table, *chain;
	int type = nlh->nlmsg_type & 0xff;

	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES ||
	    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*nfg)))
		return false;
	nfg = mnl_nlmsg_get_payload(nlh);
	/* Attribute 1 is the table's name in each of these messages (NFTA_TABLE_NAME,
	 * NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE); 2 is
	 * the chain's (NFTA_CHAIN_NAME, NFTA_RULE_CHAIN). */
	if (!(table = attr_str_of(nlh, 1)))
		return false;
	if ((nfg->nfgen_family == NFPROTO_IPV4 || nfg->nfgen_family == NFPROTO_IPV6) &&
	    !strcmp(table, "filter")) {
		chain = attr_str_of(nlh, 2);
		return type == NFT_MSG_DELTABLE ||
		       ((type == NFT_MSG_DELRULE || type == NFT_MSG_NEWCHAIN || type == NFT_MSG_DELCHAIN) &&
			chain && !strcmp(chain, "DOCKER-USER"));
	}
	if ((nfg->nfgen_family != NFPROTO_INET && nfg->nfgen_family != NFPROTO_BRIDGE) ||
	    strcmp(table, "ctnet"))
		return false;
	switch (type) {
	case NFT_MSG_DELTABLE: case NFT_MSG_DELCHAIN: case NFT_MSG_DELRULE:
	case NFT_MSG_DELSET: case NFT_MSG_DELSETELEM: case NFT_MSG_NEWRULE:
		return true;
	default:
		return false;
	}
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
			hits += damage(nlh);
	}
}
