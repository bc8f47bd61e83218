/* SPDX-License-Identifier: MIT */
/*
 * The kernel connection of one operation: the netlink handles (lib/nlsock.h) and nat's
 * libnftables context, opened on first use, owned by whoever runs the operation (a command's
 * main(), an apply worker, a watch loop, the CNI plugin) and passed down to every library call
 * that talks to the kernel. Nothing below keeps a handle of its own.
 *
 * A forked child must make its own (ctnet_kern_init): a handle shared with the parent takes
 * the parent's answers. As a safety net, a handle asked for by a process other than its
 * opener is dropped (the child's copy of the descriptor closed) and opened again.
 */
#ifndef CTNET_KERN_H
#define CTNET_KERN_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"
#include "nlsock.h"

struct ctnet_kern {
	pid_t pid;             /* the process these handles belong to */
	struct ctnet_nl rt;    /* rtnetlink, in the namespace the context was made in */
	struct ctnet_nl nf;    /* nfnetlink: nf_tables reads and element writes */
	struct ctnet_nl ct;    /* ctnetlink: conntrack deletes */
	int ioctl_fd;          /* an AF_INET datagram socket for link ioctls (-1: not yet) */
	void *nft;             /* nat/'s libnftables context */
	void (*nft_free)(void *nft);
	bool nf_deleted;       /* a transaction deleted something (see nat/release.c) */
	bool bulk;             /* many operations in a row (apply's workers): link deletions
	                        * finish in threads of this process, not forked ones */
};

void ctnet_kern_init(struct ctnet_kern *k);
/* The handle of protocol NETLINK_ROUTE, _NETFILTER (nf_tables) or the conntrack one, opened
 * on first use: 0 or -errno. */
int ctnet_kern_rt(struct ctnet_kern *k, struct ctnet_nl **out, struct ctnet_err *err);
int ctnet_kern_nf(struct ctnet_kern *k, struct ctnet_nl **out, struct ctnet_err *err);
int ctnet_kern_ct(struct ctnet_kern *k, struct ctnet_nl **out, struct ctnet_err *err);
/* kern's socket for interface ioctls (SIOCGIFINDEX...), opened on first use: fd or -errno. */
int ctnet_kern_ioctl_fd(struct ctnet_kern *k);
/* Closes every handle (and the libnftables context); k is then as after init. */
void ctnet_kern_close(struct ctnet_kern *k);
/* In a child that inherited k: drops the parent's handles (closing this process's copies of
 * the descriptors and its copy of the libnftables context) so that the next use opens its
 * own. */
void ctnet_kern_forked(struct ctnet_kern *k);

#endif
