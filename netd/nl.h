/* SPDX-License-Identifier: MIT */
/*
 * netd's netlink transport: requests built with libnl-route-3, sent in batches (one
 * sendmsg for several requests), every one with NLM_F_ACK, acks and replies read back
 * with the kernel's extended-ACK text kept for the error message. Internal to netd/.
 */
#ifndef CTNET_NETD_NL_H
#define CTNET_NETD_NL_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "kern.h"
#include "nlsock.h"

struct nl_msg;

/* netd's sockets are lib/nlsock.h handles: the host's comes from the caller's struct ctnet_kern
 * (ctnet_kern_rt), a container's is opened inside its namespace for one operation. */
/* A socket created while setns()'d into netns_fd (then back); close with ctnet_nl_close. */
int nd_sock_open_in(int netns_fd, struct ctnet_nl *s, struct ctnet_err *err);

typedef ctnet_nl_cb nd_reply_fn;

#define ND_BATCH_MAX 16
#define ND_WHAT_MAX CTNET_NL_WHAT

/* Requests (lib/nlsock.h's struct ctnet_nl_req: the error text and the "already done" errno of
 * each) built with libnl-route-3 and sent together. */
struct nd_batch {
	size_t len, n;
	struct ctnet_nl_req req[ND_BATCH_MAX];
	unsigned char buf[8192];
};

void nd_batch_init(struct nd_batch *b);
/*
 * Appends msg (freed here, whatever happens) as the next request. Returns the request's
 * index or -errno.
 */
int nd_batch_add(struct nd_batch *b, struct nl_msg *msg, nd_reply_fn reply, void *arg,
		 int ok_errno, struct ctnet_err *err, const char *fmt, ...) CTNET_PRINTF(7, 8);
/*
 * Sends every request in one sendmsg and waits for all acks. The kernel carries on after a
 * failed request, so every req[i].error is set. Returns 0, or the first failure (not
 * covered by ok_errno) as -errno with "WHAT: why (kernel: extack)" in err.
 */
int nd_batch_run(struct ctnet_nl *s, struct nd_batch *b, struct ctnet_err *err);

/* The per-link sysctls netd keeps on a host side it makes (netd/hostsec.c), as the kernel
 * reports them in IFLA_AF_SPEC. */
enum nd_conf {
	ND_CONF_ACCEPT_REDIRECTS4,    /* net.ipv4.conf.IF.accept_redirects */
	ND_CONF_ACCEPT_SOURCE_ROUTE4, /* net.ipv4.conf.IF.accept_source_route */
	ND_CONF_DISABLE_IPV6,         /* net.ipv6.conf.IF.disable_ipv6 */
	ND_CONF_ACCEPT_RA,            /* net.ipv6.conf.IF.accept_ra */
	ND_CONF_ACCEPT_REDIRECTS6,    /* net.ipv6.conf.IF.accept_redirects */
	ND_CONF_AUTOCONF,             /* net.ipv6.conf.IF.autoconf */
	ND_CONF_ACCEPT_DAD,           /* net.ipv6.conf.IF.accept_dad */
	ND_CONF_COUNT
};

/* A link as netd needs to know it (from an RTM_NEWLINK reply). */
struct nd_link {
	bool found;
	int ifindex;
	int iflink;       /* veth: the peer's ifindex (in the peer's namespace) */
	int master;
	unsigned flags;
	unsigned mtu;
	char ifname[16];
	char kind[16];
	char alias[128];
	char mac[18];     /* "aa:bb:cc:dd:ee:ff" when the link has one */
	bool has_conf4, has_conf6; /* conf[] below was reported for IPv4, IPv6 */
	int conf[ND_CONF_COUNT];
};
/* Reply handler filling a struct nd_link. */
int nd_link_reply(const struct nlmsghdr *nlh, void *arg);
/* Queues RTM_GETLINK by name (absent = found false, not an error). */
int nd_batch_get_link(struct nd_batch *b, const char *ifname, struct nd_link *out,
		      struct ctnet_err *err);

/*
 * Runs a batch of RTM_DELLINK requests for the links ifindex[0..n) in a detached process
 * and returns once the kernel has announced every deletion (see netd/del.c).
 */
int nd_batch_run_detached(struct ctnet_kern *kern, struct nd_batch *b, const int *ifindex, size_t n, struct ctnet_err *err);

#endif
