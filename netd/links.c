/* SPDX-License-Identifier: MIT */
/* Bridges, moved interfaces and macvlans (NixOS hostBridge, interfaces, macvlans). */
#include "netd.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/msg.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/macvlan.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netd_int.h"

/* Queues RTM_NEWLINK for l (consumed) with flags; what names it in errors. */
static int q_link(struct nd_batch *b, struct rtnl_link *l, int flags, int ok_errno,
		  const char *what, struct ctnet_err *err)
{
	struct nl_msg *msg = NULL;
	int r = rtnl_link_build_add_request(l, flags, &msg);

	rtnl_link_put(l);
	if (r < 0)
		return ctnet_errf(err, ENOMEM, "%s: %s", what, nl_geterror(r));
	r = nd_batch_add(b, msg, NULL, NULL, ok_errno, err, "%s", what);
	return r < 0 ? r : 0;
}

/* Runs a batch on a fresh struct (the batch is big: heap, not stack). */
static struct nd_batch *batch_new(struct ctnet_err *err)
{
	struct nd_batch *b = malloc(sizeof(*b));
	if (!b)
		ctnet_errf(err, ENOMEM, "out of memory");
	else
		nd_batch_init(b);
	return b;
}

static int get_one(struct ctnet_nl *s, const char *ifname, struct nd_link *l, struct ctnet_err *err)
{
	struct nd_batch *b = batch_new(err);
	int r;

	if (!b)
		return -ENOMEM;
	r = nd_batch_get_link(b, ifname, l, err);
	if (r >= 0)
		r = nd_batch_run(s, b, err);
	free(b);
	return r < 0 ? r : 0;
}

/* Creates bridge br, down (its sysctls are set before it is up), and reads it back into *l. */
static int bridge_create(struct ctnet_nl *hs, struct nd_batch *b, const char *br, struct nd_link *l,
			 struct ctnet_err *err)
{
	struct rtnl_link *nl = rtnl_link_alloc();
	char what[ND_WHAT_MAX];
	int r;

	if (!nl)
		return ctnet_errf(err, ENOMEM, "out of memory");
	rtnl_link_set_type(nl, "bridge");
	rtnl_link_set_name(nl, br);
	snprintf(what, sizeof(what), "create bridge \"%s\"", br);
	if ((r = q_link(b, nl, NLM_F_CREATE | NLM_F_EXCL, 0, what, err)) < 0 ||
	    (r = nd_batch_get_link(b, br, l, err)) < 0 || (r = nd_batch_run(hs, b, err)) < 0)
		return r;
	if (!l->found)
		return ctnet_errf(err, ENODEV, "create bridge \"%s\": gone right after creation", br);
	return 0;
}

/* Queues addr (replacing) on the bridge br at ifindex. */
static int q_bridge_addr(struct nd_batch *b, int ifindex, const char *br,
			 const struct ctnet_addr *addr, struct ctnet_err *err)
{
	struct nl_msg *msg = NULL;
	struct rtnl_addr *ra = rtnl_addr_alloc();
	struct nl_addr *na = nl_addr_build(addr->family, addr->bytes, addr->family == AF_INET ? 4 : 16);
	char buf[CTNET_ADDR_STRLEN];
	int r;

	if (!ra || !na) {
		r = ctnet_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	nl_addr_set_prefixlen(na, addr->prefix);
	rtnl_addr_set_ifindex(ra, ifindex);
	rtnl_addr_set_local(ra, na);
	rtnl_addr_set_prefixlen(ra, addr->prefix);
	if (addr->family == AF_INET6)
		rtnl_addr_set_flags(ra, IFA_F_NODAD);
	if (rtnl_addr_build_add_request(ra, NLM_F_CREATE | NLM_F_REPLACE, &msg) < 0) {
		r = ctnet_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	r = nd_batch_add(b, msg, NULL, NULL, 0, err, "add address %s to \"%s\"",
			 ctnet_addr_cidr_str(addr, buf), br);
out:
	if (na)
		nl_addr_put(na);
	if (ra)
		rtnl_addr_put(ra);
	return r;
}

/* Queues "set bridge up"; only a bridge we made gets our alias (the kernel ignores it on
 * creation) and the IPv4 sysctls of a host side (hostsec.c). */
static int q_bridge_up(struct nd_batch *b, int ifindex, bool created, bool ours, struct ctnet_err *err)
{
	struct rtnl_link *up = rtnl_link_alloc();

	if (!up)
		return ctnet_errf(err, ENOMEM, "out of memory");
	rtnl_link_set_ifindex(up, ifindex);
	rtnl_link_set_flags(up, IFF_UP);
	if (created)
		rtnl_link_set_ifalias(up, NETD_BRIDGE_ALIAS);
	if (ours && nd_harden4(up) < 0) {
		rtnl_link_put(up);
		return ctnet_errf(err, ENOMEM, "out of memory");
	}
	return q_link(b, up, 0, 0, "set bridge up", err);
}

int netd_bridge_add(struct ctnet_kern *kern, const char *br, const struct ctnet_addr *addr, struct ctnet_err *err)
{
	struct ctnet_nl *hs;
	struct nd_batch *b = NULL;
	struct nd_link l;
	bool created = false, ours;
	int r;

	if ((r = ctnet_ifname_check(br, err)) < 0)
		return r;
	if (!addr || !addr->family || addr->prefix <= 0)
		return ctnet_errf(err, EINVAL, "bridge \"%s\": address needs a prefix (10.233.100.1/24)", br);
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0 || (r = get_one(hs, br, &l, err)) < 0)
		return r;
	if (l.found && strcmp(l.kind, "bridge"))
		return ctnet_errf(err, EEXIST, "interface \"%s\" exists and is not a bridge", br);
	if (!(b = batch_new(err)))
		return -ENOMEM;
	if (!l.found) {
		created = true;
		if ((r = bridge_create(hs, b, br, &l, err)) < 0)
			goto out;
	}
	/* A bridge of ours keeps IPv6 (containers may route through it), never learns. */
	ours = created || !strcmp(l.alias, NETD_BRIDGE_ALIAS);
	if (ours && (r = nd_harden6(br, true, err)) < 0)
		goto out;
	nd_batch_init(b);
	if ((r = q_bridge_addr(b, l.ifindex, br, addr, err)) < 0 ||
	    (r = q_bridge_up(b, l.ifindex, created, ours, err)) < 0)
		goto out;
	r = nd_batch_run(hs, b, err);
out:
	free(b);
	return r < 0 ? r : 0;
}

int netd_bridge_del(struct ctnet_kern *kern, const char *br, struct ctnet_err *err)
{
	struct ctnet_nl *hs;
	struct nd_batch *b;
	struct nd_link l;
	struct rtnl_link *dl;
	struct nl_msg *msg = NULL;
	int r;

	if ((r = ctnet_ifname_check(br, err)) < 0)
		return r;
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0 || (r = get_one(hs, br, &l, err)) < 0)
		return r;
	if (!l.found)
		return 0;
	if (strcmp(l.alias, NETD_BRIDGE_ALIAS))
		return ctnet_errf(err, EPERM, "bridge \"%s\" was not made by ctnet; not deleting it", br);
	if (!(dl = rtnl_link_alloc()))
		return ctnet_errf(err, ENOMEM, "out of memory");
	rtnl_link_set_ifindex(dl, l.ifindex);
	r = rtnl_link_build_delete_request(dl, &msg);
	rtnl_link_put(dl);
	if (r < 0)
		return ctnet_errf(err, ENOMEM, "out of memory");
	if (!(b = batch_new(err))) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	r = nd_batch_add(b, msg, NULL, NULL, ENODEV, err, "delete bridge \"%s\"", br);
	if (r >= 0)
		r = nd_batch_run(hs, b, err);
	free(b);
	return r < 0 ? r : 0;
}

int netd_move(struct ctnet_kern *kern, const char *iface, int netns_fd, const char *newname, struct ctnet_err *err)
{
	struct ctnet_nl *hs;
	struct nd_batch *b;
	struct nd_link l;
	struct rtnl_link *ml;
	char what[ND_WHAT_MAX];
	int r;

	if ((r = ctnet_ifname_check(iface, err)) < 0 ||
	    (newname && (r = ctnet_ifname_check(newname, err)) < 0))
		return r;
	if (netns_fd < 0)
		return ctnet_errf(err, EBADF, "container network namespace missing");
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0 || (r = get_one(hs, iface, &l, err)) < 0)
		return r;
	if (!l.found)
		return ctnet_errf(err, ENODEV, "interface \"%s\" does not exist", iface);
	if (!(ml = rtnl_link_alloc()))
		return ctnet_errf(err, ENOMEM, "out of memory");
	rtnl_link_set_ifindex(ml, l.ifindex);
	rtnl_link_set_ns_fd(ml, netns_fd);
	/* The kernel renames while moving: the new name is checked in the target. */
	if (newname)
		rtnl_link_set_name(ml, newname);
	if (!(b = batch_new(err))) {
		rtnl_link_put(ml);
		return -ENOMEM;
	}
	snprintf(what, sizeof(what), "move interface \"%s\"", iface);
	r = q_link(b, ml, 0, 0, what, err);
	if (r >= 0)
		r = nd_batch_run(hs, b, err);
	free(b);
	return r < 0 ? r : 0;
}

int netd_macvlan_add(struct ctnet_kern *kern, const char *parent, const char *ifname, int netns_fd, const char *mode,
		     struct ctnet_err *err)
{
	struct ctnet_nl *hs;
	struct nd_batch *b;
	struct nd_link l;
	struct rtnl_link *ml;
	char what[ND_WHAT_MAX];
	int m, r;

	if ((r = ctnet_ifname_check(parent, err)) < 0 || (r = ctnet_ifname_check(ifname, err)) < 0)
		return r;
	if (!mode)
		mode = "bridge";
	if (strcmp(mode, "bridge") && strcmp(mode, "private") && strcmp(mode, "vepa") &&
	    strcmp(mode, "passthru"))
		return ctnet_errf(err, EINVAL, "invalid macvlan mode \"%s\": bridge, private, vepa or passthru",
				  ctnet_show(mode, (char[CTNET_SHOW_MAX]){ 0 }));
	m = rtnl_link_macvlan_str2mode(mode);
	if (m < 0)
		return ctnet_errf(err, EINVAL, "invalid macvlan mode \"%s\"", mode);
	if (netns_fd < 0)
		return ctnet_errf(err, EBADF, "container network namespace missing");
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0 || (r = get_one(hs, parent, &l, err)) < 0)
		return r;
	if (!l.found)
		return ctnet_errf(err, ENODEV, "parent interface \"%s\" does not exist", parent);
	if (!(ml = rtnl_link_macvlan_alloc()))
		return ctnet_errf(err, ENOMEM, "out of memory");
	rtnl_link_set_link(ml, l.ifindex);
	rtnl_link_set_name(ml, ifname);
	rtnl_link_set_flags(ml, IFF_UP);
	/* Born in the namespace, like the veth peer: no host-side step. */
	rtnl_link_set_ns_fd(ml, netns_fd);
	rtnl_link_macvlan_set_mode(ml, (uint32_t)m);
	if (!(b = batch_new(err))) {
		rtnl_link_put(ml);
		return -ENOMEM;
	}
	snprintf(what, sizeof(what), "create macvlan \"%s\" on \"%s\"", ifname, parent);
	r = q_link(b, ml, NLM_F_CREATE | NLM_F_EXCL, 0, what, err);
	if (r >= 0)
		r = nd_batch_run(hs, b, err);
	free(b);
	return r < 0 ? r : 0;
}

int netd_release_in(int netns_fd, const char *ifname, int to_fd, struct ctnet_err *err)
{
	struct ctnet_nl cs;
	struct nd_batch *b = NULL;
	struct nd_link l;
	struct rtnl_link *ml = NULL;
	struct nl_msg *msg = NULL;
	char what[ND_WHAT_MAX];
	int r;

	if ((r = ctnet_ifname_check(ifname, err)) < 0)
		return r;
	if ((r = nd_sock_open_in(netns_fd, &cs, err)) < 0)
		return r;
	if ((r = get_one(&cs, ifname, &l, err)) < 0 || !l.found)
		goto out;
	if (!(ml = rtnl_link_alloc()) || !(b = batch_new(err))) {
		r = ctnet_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	rtnl_link_set_ifindex(ml, l.ifindex);
	if (to_fd >= 0) {
		rtnl_link_set_ns_fd(ml, to_fd);
		snprintf(what, sizeof(what), "move interface \"%s\" back", ifname);
		r = q_link(b, ml, 0, ENODEV, what, err);
		ml = NULL; /* consumed */
	} else {
		snprintf(what, sizeof(what), "delete interface \"%s\"", ifname);
		r = rtnl_link_build_delete_request(ml, &msg);
		r = r < 0 ? ctnet_errf(err, ENOMEM, "%s: %s", what, nl_geterror(r))
			  : nd_batch_add(b, msg, NULL, NULL, ENODEV, err, "%s", what);
	}
	if (r >= 0)
		r = nd_batch_run(&cs, b, err);
out:
	if (ml)
		rtnl_link_put(ml);
	free(b);
	ctnet_nl_close(&cs);
	return r < 0 ? r : 0;
}
