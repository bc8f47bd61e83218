/* SPDX-License-Identifier: MIT */
#include "nl.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <netinet/in.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
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

#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

int nd_sock_open_in(int netns_fd, struct ctnet_nl *s, struct ctnet_err *err)
{
	int one = 1, r = ctnet_nl_open_in(s, NETLINK_ROUTE, netns_fd, err);
	/* Dumps filtered in the kernel (a container's addresses by ifindex). */
	if (r == 0)
		(void)setsockopt(s->fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
	return r;
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
	struct ctnet_nl_req *q;
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

int nd_batch_run(struct ctnet_nl *s, struct nd_batch *b, struct ctnet_err *err)
{
	return ctnet_nl_talk(s, b->buf, b->len, b->req, b->n, err);
}

static int linkinfo_attr(const struct nlattr *a, void *data)
{
	struct nd_link *l = data;
	if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		snprintf(l->kind, sizeof(l->kind), "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

/* One value of a devconf array (IFLA_INET_CONF: u32 at index IPV4_DEVCONF_X - 1;
 * IFLA_INET6_CONF: s32 at index DEVCONF_X), or -1 when the kernel's array is shorter. */
static int conf_at(const struct nlattr *a, unsigned i)
{
	int32_t v;
	if (mnl_attr_get_payload_len(a) < (i + 1) * sizeof(v))
		return -1;
	memcpy(&v, (const char *)mnl_attr_get_payload(a) + i * sizeof(v), sizeof(v));
	return v;
}

/* IFLA_AF_SPEC: the sysctls of enum nd_conf. */
static void af_spec(const struct nlattr *spec, struct nd_link *l)
{
	const struct nlattr *af, *a;

	mnl_attr_for_each_nested(af, spec) {
		int fam = mnl_attr_get_type(af);
		if (fam != AF_INET && fam != AF_INET6)
			continue;
		mnl_attr_for_each_nested(a, af) {
			if (fam == AF_INET && mnl_attr_get_type(a) == IFLA_INET_CONF) {
				l->has_conf4 = true;
				l->conf[ND_CONF_ACCEPT_REDIRECTS4] = conf_at(a, IPV4_DEVCONF_ACCEPT_REDIRECTS - 1);
				l->conf[ND_CONF_ACCEPT_SOURCE_ROUTE4] = conf_at(a, IPV4_DEVCONF_ACCEPT_SOURCE_ROUTE - 1);
			} else if (fam == AF_INET6 && mnl_attr_get_type(a) == IFLA_INET6_CONF) {
				l->has_conf6 = true;
				l->conf[ND_CONF_DISABLE_IPV6] = conf_at(a, DEVCONF_DISABLE_IPV6);
				l->conf[ND_CONF_ACCEPT_RA] = conf_at(a, DEVCONF_ACCEPT_RA);
				l->conf[ND_CONF_ACCEPT_REDIRECTS6] = conf_at(a, DEVCONF_ACCEPT_REDIRECTS);
				l->conf[ND_CONF_AUTOCONF] = conf_at(a, DEVCONF_AUTOCONF);
				l->conf[ND_CONF_ACCEPT_DAD] = conf_at(a, DEVCONF_ACCEPT_DAD);
			}
		}
	}
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
	case IFLA_AF_SPEC:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
			af_spec(a, l);
		break;
	}
	return MNL_CB_OK;
}

int nd_link_reply(const struct nlmsghdr *nlh, void *arg)
{
	struct nd_link *l = arg;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	memset(l, 0, sizeof(*l));
	l->found = true;
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	mnl_attr_parse(nlh, sizeof(*ifi), link_attr, l);
	return 0;
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
