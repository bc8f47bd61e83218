/* SPDX-License-Identifier: MIT */
/*
 * Which device carries a container link's IP traffic: a veth routes by itself, a bridge
 * port by its bridge. route_localnet must be on that device (see sysctl.c). One
 * RTM_GETLINK over libmnl; nat/ does not use libnl (only netd/ does).
 */
#include "nat_int.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <time.h>

struct link_info {
	unsigned master;
	bool bridge_port;
};

static int linkinfo_cb(const struct nlattr *a, void *data)
{
	struct link_info *li = data;
	if (mnl_attr_get_type(a) == IFLA_INFO_SLAVE_KIND &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 && !strcmp(mnl_attr_get_str(a), "bridge"))
		li->bridge_port = true;
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct link_info *li = data;
	switch (mnl_attr_get_type(a)) {
	case IFLA_MASTER:
		if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			li->master = mnl_attr_get_u32(a);
		break;
	case IFLA_LINKINFO:
		mnl_attr_parse_nested(a, linkinfo_cb, li);
		break;
	}
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	return mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_attr_cb, data);
}

int nat_link_l3dev(struct ctnet_kern *kern, const char *iface, char out[16], bool *bridge, struct ctnet_err *err)
{
	char buf[512] __attribute__((aligned(4))) = { 0 }; /* attribute padding goes to the kernel too */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	struct link_info li = { 0 };
	struct ctnet_nl *nl;
	int r;

	*bridge = false;
	if (strlen(iface) >= IFNAMSIZ)
		return ctnet_errf(err, EINVAL, "interface \"%s\": name too long", iface);
	nlh->nlmsg_type = RTM_GETLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, iface);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	if ((r = ctnet_kern_rt(kern, &nl, err)) < 0 ||
	    (r = ctnet_nl_request(nl, nlh, link_cb, &li, 0, err, "rtnetlink: get link \"%s\"", iface)) < 0)
		return r;
	if (li.bridge_port && li.master && if_indextoname(li.master, out))
		*bridge = true;
	else
		memcpy(out, iface, strlen(iface) + 1);
	return 0;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type == RTM_NEWROUTE)
		*(int *)data = ((const struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_type == RTN_LOCAL;
	return MNL_CB_OK;
}

/* Whether the host has address a (its route is local): 1, 0, or -errno. One RTM_GETROUTE. */
static int addr_local(struct ctnet_kern *kern, const struct ctnet_addr *a, struct ctnet_err *err)
{
	char buf[256] __attribute__((aligned(4))) = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	struct ctnet_nl *nl;
	char shown[CTNET_ADDR_STRLEN];
	int local = 0, r;

	nlh->nlmsg_type = RTM_GETROUTE;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (unsigned char)a->family;
	rtm->rtm_dst_len = a->family == AF_INET ? 32 : 128;
	mnl_attr_put(nlh, RTA_DST, a->family == AF_INET ? 4 : 16, a->bytes);
	if ((r = ctnet_kern_rt(kern, &nl, err)) < 0)
		return r;
	r = ctnet_nl_request(nl, nlh, route_cb, &local, 0, err, "rtnetlink: route to %s", ctnet_addr_str(a, shown));
	if (r == -ENETUNREACH || r == -EHOSTUNREACH)
		return 0; /* no route at all: not the host's either */
	return r < 0 ? r : local;
}

int nat_host_ip_gone(struct ctnet_kern *kern, const struct nat_container *c, struct ctnet_addr *gone)
{
	struct ctnet_err e;
	for (size_t i = 0; i < c->n_forwards; i++) {
		const struct nat_forward *f = &c->forwards[i];
		int r;
		if (!f->has_host_ip || (f->host_ip.family != AF_INET && f->host_ip.family != AF_INET6))
			continue;
		if ((r = addr_local(kern, &f->host_ip, &e)) < 0)
			return r;
		if (!r) {
			*gone = f->host_ip;
			return 1;
		}
	}
	return 0;
}
