/* SPDX-License-Identifier: MIT */
#include "nl.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

static int sock_setup(struct nd_sock *s, struct ctnet_err *err)
{
	int one = 1, r;

	s->sk = nl_socket_alloc();
	if (!s->sk)
		return ctnet_errf(err, ENOMEM, "netlink socket: out of memory");
	r = nl_connect(s->sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(s->sk);
		s->sk = NULL;
		return ctnet_errf(err, EIO, "netlink socket: %s", nl_geterror(r));
	}
	s->fd = nl_socket_get_fd(s->sk);
	/* The kernel's own explanation of a refusal; acks without the echoed request;
	 * dumps filtered in the kernel (bridge addresses by ifindex). Old kernels lack
	 * some of these, which only costs detail. */
	(void)setsockopt(s->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(s->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	(void)setsockopt(s->fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
	s->seq = (uint32_t)time(NULL);
	return 0;
}

int nd_sock_open(struct nd_sock *s, struct ctnet_err *err)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	return sock_setup(s, err);
}

int nd_host_sock(struct nd_sock **out, struct ctnet_err *err)
{
	static _Thread_local struct nd_sock host = { .fd = -1 }; /* apply checks in threads */

	if (!host.sk) {
		int r = sock_setup(&host, err);
		if (r < 0)
			return r;
	}
	*out = &host;
	return 0;
}

int nd_sock_open_in(int netns_fd, struct nd_sock *s, struct ctnet_err *err)
{
	/* Our own namespace, to come back to. Per thread: setns() is per thread. */
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int r;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (self < 0)
		return ctnet_err_sys(err, errno, "open own netns");
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return ctnet_err_sys(err, errno, "enter container netns");
	r = sock_setup(s, err);
	if (setns(self, CLONE_NEWNET) < 0) {
		/* Staying in the container's namespace would misdirect every later call. */
		int e = errno;
		nd_sock_close(s);
		return ctnet_err_sys(err, e, "return to own netns");
	}
	return r;
}

void nd_sock_close(struct nd_sock *s)
{
	if (s->sk)
		nl_socket_free(s->sk);
	s->sk = NULL;
	s->fd = -1;
}

void nd_batch_init(struct nd_batch *b)
{
	b->len = 0;
	b->n = 0;
}

int nd_batch_add(struct nd_batch *b, struct nl_msg *msg, nd_reply_fn reply, void *arg,
		 int ok_errno, struct ctnet_err *err, const char *fmt, ...)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	size_t len = NLMSG_ALIGN(nlh->nlmsg_len);
	struct nd_req *q;
	va_list ap;

	if (b->n >= ND_BATCH_MAX || b->len + len > sizeof(b->buf)) {
		nlmsg_free(msg);
		return ctnet_errf(err, ENOBUFS, "netlink batch full");
	}
	memcpy(b->buf + b->len, nlh, nlh->nlmsg_len);
	memset(b->buf + b->len + nlh->nlmsg_len, 0, len - nlh->nlmsg_len);
	((struct nlmsghdr *)(void *)(b->buf + b->len))->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	b->len += len;
	nlmsg_free(msg);
	q = &b->req[b->n];
	memset(q, 0, sizeof(*q));
	q->reply = reply;
	q->arg = arg;
	q->ok_errno = ok_errno;
	va_start(ap, fmt);
	vsnprintf(q->what, sizeof(q->what), fmt, ap);
	va_end(ap);
	return (int)b->n++;
}

static int extack_attr(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		*(const char **)data = mnl_attr_get_str(a);
	return MNL_CB_OK;
}

/* The kernel's extended-ACK message of an NLMSG_ERROR, or NULL. */
static const char *extack_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const char *msg = NULL;
	size_t off = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (NLMSG_HDRLEN + off >= nlh->nlmsg_len)
		return NULL;
	mnl_attr_parse(nlh, (unsigned)off, extack_attr, &msg);
	return msg;
}

int nd_batch_run(struct nd_sock *s, struct nd_batch *b, struct ctnet_err *err)
{
	static _Thread_local unsigned char rbuf[32768];
	uint32_t first = s->seq;
	size_t pending = b->n, off = 0;
	int failed = -1;

	for (size_t i = 0; i < b->n; i++) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)(void *)(b->buf + off);
		nlh->nlmsg_seq = s->seq++;
		nlh->nlmsg_pid = 0;
		off += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	if (b->n == 0)
		return 0;
	if (send(s->fd, b->buf, b->len, 0) < 0)
		return ctnet_err_sys(err, errno, "%s: netlink send", b->req[0].what);

	while (pending > 0) {
		ssize_t n = recv(s->fd, rbuf, sizeof(rbuf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ctnet_err_sys(err, errno, "%s: netlink receive", b->req[0].what);
		}
		int left = (int)n;
		for (const struct nlmsghdr *nlh = (void *)rbuf; mnl_nlmsg_ok(nlh, left);
		     nlh = mnl_nlmsg_next(nlh, &left)) {
			uint32_t i = nlh->nlmsg_seq - first;
			struct nd_req *q;

			if (i >= b->n || b->req[i].done)
				continue; /* not ours: a late answer to an earlier batch */
			q = &b->req[i];
			if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE) {
				int e = 0;
				if (nlh->nlmsg_type == NLMSG_ERROR &&
				    nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)))
					e = -((const struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->error;
				q->done = true;
				pending--;
				/* A delete whose device vanished meanwhile (a namespace dying
				 * took it) is done as well as one that found nothing. */
				bool gone = e == ENODEV && (q->ok_errno == EADDRNOTAVAIL ||
							    q->ok_errno == ESRCH || q->ok_errno == ENOENT);
				if (e == 0 || e == q->ok_errno || gone) {
					q->error = e;
					continue;
				}
				q->error = e;
				if (failed < 0) {
					const char *ext = extack_msg(nlh);
					failed = (int)i;
					if (ext && *ext)
						ctnet_errf(err, e, "%s: %s (%s)", q->what, strerror(e), ext);
					else
						ctnet_errf(err, e, "%s: %s", q->what, strerror(e));
				}
			} else if (q->reply) {
				q->reply(nlh, q->arg);
			}
		}
	}
	return failed < 0 ? 0 : -b->req[failed].error;
}

static int linkinfo_attr(const struct nlattr *a, void *data)
{
	struct nd_link *l = data;
	if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		snprintf(l->kind, sizeof(l->kind), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

static int link_attr(const struct nlattr *a, void *data)
{
	struct nd_link *l = data;

	switch (mnl_attr_get_type(a)) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(l->ifname, sizeof(l->ifname), "%s", mnl_attr_get_str(a));
		break;
	case IFLA_IFALIAS:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(l->alias, sizeof(l->alias), "%s", mnl_attr_get_str(a));
		break;
	case IFLA_LINK:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			l->iflink = (int)mnl_attr_get_u32(a);
		break;
	case IFLA_MASTER:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			l->master = (int)mnl_attr_get_u32(a);
		break;
	case IFLA_MTU:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			l->mtu = mnl_attr_get_u32(a);
		break;
	case IFLA_ADDRESS:
		if (mnl_attr_get_payload_len(a) == 6) {
			const unsigned char *m = mnl_attr_get_payload(a);
			snprintf(l->mac, sizeof(l->mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
				 m[2], m[3], m[4], m[5]);
		}
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			mnl_attr_parse_nested(a, linkinfo_attr, l);
		break;
	}
	return MNL_CB_OK;
}

void nd_link_reply(const struct nlmsghdr *nlh, void *arg)
{
	struct nd_link *l = arg;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return;
	memset(l, 0, sizeof(*l));
	l->found = true;
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	mnl_attr_parse(nlh, sizeof(*ifi), link_attr, l);
}

int nd_batch_get_link(struct nd_batch *b, const char *ifname, struct nd_link *out,
		      struct ctnet_err *err)
{
	struct nl_msg *msg = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	r = rtnl_link_build_get_request(0, ifname, &msg);
	if (r < 0)
		return ctnet_errf(err, ENOMEM, "get link \"%s\": %s", ifname, nl_geterror(r));
	return nd_batch_add(b, msg, nd_link_reply, out, ENODEV, err, "get link \"%s\"", ifname);
}
