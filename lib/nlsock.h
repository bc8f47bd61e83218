/* SPDX-License-Identifier: MIT */
/*
 * ctnet's one netlink transport (after iproute2's rtnl_handle and libnetlink): every
 * conversation with the kernel — rtnetlink, nf_tables, ctnetlink — goes through a handle.
 *
 * A handle is one socket with its own port id, its own sequence counter and its own receive
 * buffer; it belongs to the process that opened it (a forked child opens its own: parent and
 * child sharing one socket take each other's answers). Requests carry NLM_F_ACK, answers are
 * matched by port id and sequence, dumps that the kernel marks NLM_F_DUMP_INTR are read again,
 * a datagram larger than the buffer is an error, and no receive waits longer than the
 * handle's timeout: a late or missing answer is an error naming the request.
 *
 * Messages are built by the callers (libnl-route-3 in netd/, libmnl elsewhere); this file
 * only sends, receives and matches. It keeps nothing in static storage: no socket, buffer or
 * counter lives outside a handle (and that rule holds for the whole tree).
 */
#ifndef CTNET_NLSOCK_H
#define CTNET_NLSOCK_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* How long a conversation (one send, every answer) may take before it fails. */
#define CTNET_NL_TIMEOUT_MS 10000
/* Receive buffer: the kernel never sends a datagram larger than this to a reader that
 * offers it (dumps fill up to 32 KiB per datagram). */
#define CTNET_NL_RBUF (64 * 1024)
/* How often a dump is read again after the kernel said it changed meanwhile. */
#define CTNET_NL_DUMP_TRIES 8

struct ctnet_nl {
	int fd;
	int proto;          /* NETLINK_ROUTE, NETLINK_NETFILTER, ... */
	uint32_t portid;    /* the kernel's answers carry it */
	uint32_t seq;       /* the next request's sequence number */
	int timeout_ms;     /* per conversation; 0: CTNET_NL_TIMEOUT_MS */
	pid_t pid;          /* the process that opened it */
	unsigned char *rbuf; /* CTNET_NL_RBUF bytes, allocated on first receive */
	unsigned long foreign; /* answers dropped as not ours (another port id or sequence) */
};

/* A handle that is not open (fd -1). */
#define CTNET_NL_INIT { .fd = -1 }

/* Opens a socket of protocol proto in this thread's network namespace (SOCK_CLOEXEC),
 * with extended ACKs and capped acks where the kernel has them (strict dump checking is the
 * caller's choice: it changes what the kernel makes of a dump request's header). */
int ctnet_nl_open(struct ctnet_nl *h, int proto, struct ctnet_err *err);
/* The same, created while setns()'d into netns_fd (then back): the socket talks to that
 * namespace for its whole life. */
int ctnet_nl_open_in(struct ctnet_nl *h, int proto, int netns_fd, struct ctnet_err *err);
/* Adopts fd (a socket already bound, or a test's fake peer) with the given port id. */
void ctnet_nl_adopt(struct ctnet_nl *h, int fd, int proto, uint32_t portid);
/* Closes the socket and frees the buffer; the handle is then CTNET_NL_INIT. Idempotent. */
void ctnet_nl_close(struct ctnet_nl *h);
static inline bool ctnet_nl_is_open(const struct ctnet_nl *h) { return h->fd >= 0; }

/* Called for every answer to a request that is not its ack: 0 to go on, or -errno (the
 * request then fails with that error; the rest of the conversation is still read). */
typedef int (*ctnet_nl_cb)(const struct nlmsghdr *nlh, void *arg);

#define CTNET_NL_WHAT 128

/* One request of a conversation: what it is for the error text, what to do with its
 * answers, and which errno means "already done". */
struct ctnet_nl_req {
	char what[CTNET_NL_WHAT]; /* "create veth \"ve-web\"" */
	ctnet_nl_cb reply;
	void *arg;
	int ok_errno;   /* counts as success (EEXIST for a create, ENOENT for a delete...) */
	/* after the conversation: */
	int error;      /* 0 or the positive errno (the kernel's, or the callback's) */
	bool done;
	bool intr;      /* a dump the kernel marked NLM_F_DUMP_INTR */
	uint32_t seq;
};

/*
 * Sends the len bytes of netlink messages in buf with one send and reads until every
 * request has its answer. The messages that carry NLM_F_ACK or NLM_F_DUMP are the requests,
 * req[0..n) in order; others (nfnetlink's batch begin and end) get a sequence number only.
 * Sequence numbers and port ids are set here. Every req[i].error is set (the kernel goes on
 * after a failed request). Returns 0, or the first failure not covered by its ok_errno as
 * -errno with "WHAT: why (the kernel's extended ACK)" in err. A delete whose object vanished
 * meanwhile (ENODEV for ok_errno ENOENT, ESRCH or EADDRNOTAVAIL) is done.
 */
int ctnet_nl_talk(struct ctnet_nl *h, void *buf, size_t len, struct ctnet_nl_req *req, size_t n,
		  struct ctnet_err *err);

/*
 * One request (NLM_F_REQUEST | NLM_F_ACK added) in buf, its answers to cb: 0 or -errno.
 * fmt names the request for the error text.
 */
int ctnet_nl_request(struct ctnet_nl *h, struct nlmsghdr *nlh, ctnet_nl_cb cb, void *arg, int ok_errno,
		     struct ctnet_err *err, const char *fmt, ...) CTNET_PRINTF(7, 8);

/*
 * One dump (NLM_F_REQUEST | NLM_F_DUMP added): each answer to cb. When the kernel says the
 * table changed during the dump, restart(arg) (if given) forgets what cb collected and the
 * dump is read again, up to CTNET_NL_DUMP_TRIES times (then -EAGAIN). A dump of an object
 * that is not there fails with the kernel's error (ENOENT) and ok_errno is not applied.
 */
int ctnet_nl_dump(struct ctnet_nl *h, struct nlmsghdr *nlh, ctnet_nl_cb cb, void (*restart)(void *arg),
		  void *arg, struct ctnet_err *err, const char *fmt, ...) CTNET_PRINTF(7, 8);

/* The kernel's extended-ACK text of an NLMSG_ERROR (or NLMSG_DONE), or NULL. */
const char *ctnet_nl_extack(const struct nlmsghdr *nlh);

#endif
