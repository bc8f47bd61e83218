/* SPDX-License-Identifier: MIT */
/* The host's addresses and routes, read once for many containers (see hostview.h). */
#include "hostview.h"
#include "nlsock.h"

#include <libmnl/libmnl.h>

#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "netd.h"

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct netd_host_view *v = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *local = NULL, *address = NULL;

	if (nlh->nlmsg_type != RTM_NEWADDR)
		return MNL_CB_OK;
	const struct nlattr *label = NULL;
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_type(a) == IFA_LOCAL)
			local = a;
		else if (mnl_attr_get_type(a) == IFA_ADDRESS)
			address = a;
		else if (mnl_attr_get_type(a) == IFA_LABEL)
			label = a;
	}
	a = local ? local : address;
	size_t alen = ifa->ifa_family == AF_INET6 ? 16 : 4;
	if (!a || mnl_attr_get_payload_len(a) < alen)
		return MNL_CB_OK;
	if (CTNET_GROW(v->addrs, v->n_addrs, v->cap_addrs, 256) < 0) {
		v->oom = true;
		return -ENOMEM;
	}
	struct haddr *h = &v->addrs[v->n_addrs++];
	memset(h, 0, sizeof(*h));
	h->family = ifa->ifa_family;
	memcpy(h->a, mnl_attr_get_payload(a), alen);
	h->plen = ifa->ifa_prefixlen;
	h->ifindex = (int)ifa->ifa_index;
	if (label && mnl_attr_get_payload_len(label) <= sizeof(h->label))
		memcpy(h->label, mnl_attr_get_payload(label), mnl_attr_get_payload_len(label));
	h->label[sizeof(h->label) - 1] = '\0';
	return MNL_CB_OK;
}

int hv_route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct netd_host_view *v = data;
	const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWROUTE || rt->rtm_table == RT_TABLE_LOCAL)
		return MNL_CB_OK;
	if (CTNET_GROW(v->routes, v->n_routes, v->cap_routes, 256) < 0) {
		v->oom = true;
		return -ENOMEM;
	}
	struct hroute *h = &v->routes[v->n_routes];
	memset(h, 0, sizeof(*h));
	h->family = rt->rtm_family;
	h->plen = rt->rtm_dst_len;
	h->type = rt->rtm_type;
	h->proto = rt->rtm_protocol;
	h->table = rt->rtm_table;
	h->flags = rt->rtm_flags;
	size_t alen = rt->rtm_family == AF_INET6 ? 16 : 4;
	mnl_attr_for_each(a, nlh, sizeof(*rt)) {
		switch (mnl_attr_get_type(a)) {
		case RTA_DST:
			if (mnl_attr_get_payload_len(a) >= alen)
				memcpy(h->dst, mnl_attr_get_payload(a), alen);
			break;
		case RTA_GATEWAY:
			if (mnl_attr_get_payload_len(a) >= alen) {
				memcpy(h->gw, mnl_attr_get_payload(a), alen);
				h->has_gw = true;
			}
			break;
		case RTA_OIF:
			h->oif = (int)mnl_attr_get_u32(a);
			break;
		case RTA_TABLE:
			h->table = mnl_attr_get_u32(a);
			break;
		case RTA_PRIORITY:
			h->metric = mnl_attr_get_u32(a);
			break;
		case RTA_METRICS: {
			const struct nlattr *m;
			mnl_attr_for_each_nested(m, a)
				if (mnl_attr_get_type(m) == RTAX_MTU)
					h->mtu = mnl_attr_get_u32(m);
			break;
		}
		}
	}
	if (h->table == RT_TABLE_LOCAL)
		return MNL_CB_OK;
	/* Kernel-made IPv6 multicast and link-local routes are not anyone's pair. */
	if (h->family == AF_INET6 && (h->dst[0] == 0xff || (h->dst[0] == 0xfe && (h->dst[1] & 0xc0) == 0x80)))
		return MNL_CB_OK;
	v->n_routes++;
	return MNL_CB_OK;
}

static void hv_restart(void *data)
{
	struct netd_host_view *v = data;
	v->n_addrs = v->mark_addrs;
	v->n_routes = v->mark_routes;
}

static int rt_dump(struct ctnet_nl *nl, int type, int family, ctnet_nl_cb cb, struct netd_host_view *v,
		   struct ctnet_err *err)
{
	union {
		struct nlmsghdr h;
		unsigned char b[NLMSG_SPACE(sizeof(struct rtmsg))];
	} req = { .h.nlmsg_type = (uint16_t)type };
	struct nlmsghdr *nlh = &req.h;

	nlh->nlmsg_len = NLMSG_LENGTH(type == RTM_GETADDR ? sizeof(struct ifaddrmsg) : sizeof(struct rtmsg));
	if (type == RTM_GETADDR)
		((struct ifaddrmsg *)NLMSG_DATA(nlh))->ifa_family = (uint8_t)family;
	else
		((struct rtmsg *)NLMSG_DATA(nlh))->rtm_family = (uint8_t)family;
	v->mark_addrs = v->n_addrs;
	v->mark_routes = v->n_routes;
	return ctnet_nl_dump(nl, nlh, cb, hv_restart, v, err, "rtnetlink: read %s",
			     type == RTM_GETADDR ? "addresses" : family == AF_INET6 ? "IPv6 routes" : "routes");
}

static bool is_host_route(const struct hroute *h)
{
	return h->plen == (h->family == AF_INET6 ? 128 : 32);
}

int hv_route_cmp(const void *x, const void *y)
{
	const struct hroute *a = x, *b = y;
	bool ha = is_host_route(a), hb = is_host_route(b);
	if (ha != hb)
		return ha ? -1 : 1;
	if (!ha)
		return 0;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->dst, b->dst, 16);
}

static int haddr_cmp(const void *x, const void *y)
{
	const struct haddr *a = x, *b = y;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->a, b->a, 16);
}

int hv_read(struct ctnet_nl *nl, struct netd_host_view *v, bool v6, struct ctnet_err *err)
{
	int r;
	if ((r = rt_dump(nl, RTM_GETADDR, v6 ? AF_UNSPEC : AF_INET, addr_cb, v, err)) < 0 ||
	    (r = rt_dump(nl, RTM_GETROUTE, AF_INET, hv_route_cb, v, err)) < 0 ||
	    (v6 && (r = rt_dump(nl, RTM_GETROUTE, AF_INET6, hv_route_cb, v, err)) < 0))
		return r;
	if (v->n_addrs)
		qsort(v->addrs, v->n_addrs, sizeof(*v->addrs), haddr_cmp);
	if (v->n_routes)
		qsort(v->routes, v->n_routes, sizeof(*v->routes), hv_route_cmp);
	v->n_host = 0;
	while (v->n_host < v->n_routes && is_host_route(&v->routes[v->n_host]))
		v->n_host++;
	return 0;
}

void hv_free(struct netd_host_view *v)
{
	free(v->addrs);
	free(v->routes);
	memset(v, 0, sizeof(*v));
}

const struct haddr *hv_addr_first(const struct netd_host_view *v, const struct ctnet_addr *a)
{
	struct haddr key = { .family = (uint8_t)a->family };
	memcpy(key.a, a->bytes, a->family == AF_INET6 ? 16 : 4);
	const struct haddr *h = v->n_addrs ? bsearch(&key, v->addrs, v->n_addrs, sizeof(key), haddr_cmp) : NULL;
	while (h && h > v->addrs && haddr_cmp(h - 1, &key) == 0)
		h--;
	return h;
}

bool hv_addr_is(const struct haddr *h, const struct ctnet_addr *a)
{
	return h->family == a->family && !memcmp(h->a, a->bytes, a->family == AF_INET6 ? 16 : 4);
}

bool hv_addr_on(const struct netd_host_view *v, const struct ctnet_addr *a, int ifindex)
{
	for (const struct haddr *h = hv_addr_first(v, a); h && h < v->addrs + v->n_addrs && hv_addr_is(h, a); h++)
		if (h->ifindex == ifindex)
			return true;
	return false;
}

const struct hroute *hv_host_route_first(const struct netd_host_view *v, const struct ctnet_addr *a)
{
	size_t alen = a->family == AF_INET6 ? 16 : 4;
	struct hroute key = { .family = (uint8_t)a->family, .plen = (uint8_t)(alen * 8) };
	memcpy(key.dst, a->bytes, alen);
	const struct hroute *hr = v->n_host ? bsearch(&key, v->routes, v->n_host, sizeof(key), hv_route_cmp) : NULL;
	while (hr && hr > v->routes && hv_route_cmp(hr - 1, &key) == 0)
		hr--;
	return hr;
}

const struct hroute *hv_host_route_via(const struct netd_host_view *v, const struct ctnet_addr *a, int oif)
{
	size_t alen = a->family == AF_INET6 ? 16 : 4;
	for (const struct hroute *r = hv_host_route_first(v, a);
	     r && r < v->routes + v->n_host && r->family == a->family && !memcmp(r->dst, a->bytes, alen); r++)
		if (r->oif == oif && r->type == RTN_UNICAST && r->table == RT_TABLE_MAIN)
			return r;
	return NULL;
}

int hv_addr_ifindex(const struct netd_host_view *v, const struct ctnet_addr *a, const char *ifname)
{
	for (const struct haddr *h = hv_addr_first(v, a); h && h < v->addrs + v->n_addrs && hv_addr_is(h, a); h++)
		if (!strcmp(h->label, ifname))
			return h->ifindex;
	return 0;
}

bool hv_prefix_covers(const uint8_t *net, unsigned plen, const uint8_t *a)
{
	unsigned full = plen / 8, rest = plen % 8;
	if (memcmp(net, a, full))
		return false;
	if (!rest)
		return true;
	uint8_t m = (uint8_t)(0xff << (8 - rest));
	return (net[full] & m) == (a[full] & m);
}

bool hv_link_get(int sock, const char *name, struct linkinfo *li, bool mtu)
{
	struct ifreq ifr;
	memset(li, 0, sizeof(*li));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(sock, SIOCGIFINDEX, &ifr) < 0)
		return false;
	li->ifindex = ifr.ifr_ifindex;
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
		li->up = ifr.ifr_flags & IFF_UP;
		li->running = ifr.ifr_flags & IFF_RUNNING;
	}
	if (mtu && ioctl(sock, SIOCGIFMTU, &ifr) == 0)
		li->mtu = (unsigned)ifr.ifr_mtu;
	return true;
}

int netd_host_view_open(struct ctnet_kern *kern, struct netd_host_view **out, bool v6, struct ctnet_err *err)
{
	struct netd_host_view *v = calloc(1, sizeof(*v));
	struct ctnet_nl *nl;
	int r;

	*out = NULL;
	if (!v) {
		r = ctnet_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	v->sock = -1;
	if ((r = ctnet_kern_rt(kern, &nl, err)) < 0 || (r = hv_read(nl, v, v6, err)) < 0)
		goto out;
	if ((v->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		r = ctnet_err_sys(err, errno, "socket");
		goto out;
	}
	*out = v;
	v = NULL;
	r = 0;
out:
	netd_host_view_close(v);
	return r;
}

void netd_host_view_close(struct netd_host_view *v)
{
	if (!v)
		return;
	if (v->sock >= 0)
		close(v->sock);
	hv_free(v);
	free(v);
}
