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

struct nl_msg;
struct nl_sock;

/* One rtnetlink socket, bound to the namespace it was created in. */
struct nd_sock {
	struct nl_sock *sk;
	int fd;
	uint32_t seq;
};

/* A new socket in our own namespace; close with nd_sock_close. */
int nd_sock_open(struct nd_sock *s, struct ctnet_err *err);
/* Socket in our own namespace, created once per process. */
int nd_host_sock(struct nd_sock **out, struct ctnet_err *err);
/* Socket created while setns()'d into netns_fd (then back); close with nd_sock_close. */
int nd_sock_open_in(int netns_fd, struct nd_sock *s, struct ctnet_err *err);
void nd_sock_close(struct nd_sock *s);

typedef void (*nd_reply_fn)(const struct nlmsghdr *nlh, void *arg);

#define ND_BATCH_MAX 16
#define ND_WHAT_MAX 128

struct nd_req {
	char what[ND_WHAT_MAX]; /* "create veth \"ve-web\"" for the error message */
	nd_reply_fn reply;      /* called for each reply message (gets, dumps) */
	void *arg;
	int ok_errno;           /* an errno that counts as success (EEXIST, ENODEV...) */
	int error;              /* after run: 0 or the kernel's positive errno */
	bool done;
};

struct nd_batch {
	size_t len, n;
	struct nd_req req[ND_BATCH_MAX];
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
int nd_batch_run(struct nd_sock *s, struct nd_batch *b, struct ctnet_err *err);

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
};
/* Reply handler filling a struct nd_link. */
void nd_link_reply(const struct nlmsghdr *nlh, void *arg);
/* Queues RTM_GETLINK by name (absent = found false, not an error). */
int nd_batch_get_link(struct nd_batch *b, const char *ifname, struct nd_link *out,
		      struct ctnet_err *err);

/*
 * Runs a batch of RTM_DELLINK requests for the links ifindex[0..n) in a detached process
 * and returns once the kernel has announced every deletion (see netd/del.c).
 */
int nd_batch_run_detached(struct nd_batch *b, const int *ifindex, size_t n, struct ctnet_err *err);

#endif
