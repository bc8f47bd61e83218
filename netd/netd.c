/* SPDX-License-Identifier: MIT */
/* netd_up / netd_down: a container's veth pair, addresses and routes on both sides. */
#include "netd.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/msg.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "netd_int.h"

void netd_host_ifname(const char *name, bool bridge, char out[IFNAMSIZ])
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	const char *pre = bridge ? NETD_PREFIX_BRIDGE : NETD_PREFIX_VETH;
	size_t n = strlen(name);

	if (n + 3 <= CTNET_IFNAME_MAX) {
		snprintf(out, IFNAMSIZ, "%s%s", pre, name);
		return;
	}
	/* 12 base32 characters = 60 bits of the hash: collisions are not a practical
	 * concern, and the alias check catches one anyway. */
	uint64_t h = ctnet_hash64(name, n);
	memcpy(out, pre, 3);
	for (int i = 0; i < 12; i++)
		out[3 + i] = b32[(h >> (59 - 5 * i)) & 31];
	out[15] = '\0';
}

void netd_alias(const char *name, char out[NETD_ALIAS_MAX])
{
	snprintf(out, NETD_ALIAS_MAX, "%s%s", NETD_ALIAS_PREFIX, name);
}

int netd_netns_open(const char *path, pid_t pid, struct ctnet_err *err)
{
	char buf[64], label[CTNET_SHOW_MAX + 16], shown[CTNET_SHOW_MAX];
	struct statfs sf;
	int fd, t;

	if (path) {
		snprintf(label, sizeof(label), "netns \"%s\"", ctnet_show(path, shown));
	} else {
		if (pid <= 0)
			return ctnet_errf(err, EINVAL, "pid %ld: not a process id", (long)pid);
		snprintf(label, sizeof(label), "pid %ld", (long)pid);
		snprintf(buf, sizeof(buf), "/proc/%ld/ns/net", (long)pid);
		path = buf;
	}
	/* O_NONBLOCK: a FIFO given as --netns must fail, not hang. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (path == buf && e == ENOENT)
			e = ESRCH;
		return ctnet_err_sys(err, e, "%s", label);
	}
	t = ioctl(fd, NS_GET_NSTYPE);
	if (t == CLONE_NEWNET)
		return fd;
	/* Kernels before 4.11 lack NS_GET_NSTYPE: an nsfs file is the best we can check. */
	if (t < 0 && errno != ENOTTY && fstatfs(fd, &sf) == 0 && sf.f_type == NSFS_MAGIC) {
		return fd;
	}
	close(fd);
	return ctnet_errf(err, EINVAL, "%s: not a network namespace", label);
}

int netd_mac_parse(const char *s, unsigned char mac[6], struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	static const char hex[] = "0123456789abcdef0123456789ABCDEF";

	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i, *h, *l;
		if (!p[0] || !p[1] || !(h = strchr(hex, p[0])) || !(l = strchr(hex, p[1])) ||
		    (i < 5 ? p[2] != ':' : p[2] != '\0'))
			return ctnet_errf(err, EINVAL, "invalid MAC address \"%s\": expected xx:xx:xx:xx:xx:xx",
					  ctnet_show(s, shown));
		mac[i] = (unsigned char)((((h - hex) & 15) << 4) | ((l - hex) & 15));
	}
	if (mac[0] & 1)
		return ctnet_errf(err, EINVAL, "invalid MAC address \"%s\": multicast", ctnet_show(s, shown));
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return ctnet_errf(err, EINVAL, "invalid MAC address \"%s\": all zero", ctnet_show(s, shown));
	return 0;
}

int check_addr(const struct ctnet_addr *a, int family, bool required, const char *what,
	       struct ctnet_err *err)
{
	char buf[CTNET_ADDR_STRLEN];

	if (a->family == 0) {
		if (required)
			return ctnet_errf(err, EINVAL, "%s missing", what);
		return 0;
	}
	if (a->family != family)
		return ctnet_errf(err, EINVAL, "%s \"%s\": not an %s address", what,
				  ctnet_addr_cidr_str(a, buf), family == AF_INET ? "IPv4" : "IPv6");
	if (a->prefix == 0 || a->prefix > ctnet_addr_max_prefix(family))
		return ctnet_errf(err, EINVAL, "%s \"%s\": bad prefix length", what,
				  ctnet_addr_cidr_str(a, buf));
	return 0;
}

int netd_spec_check(const struct netd_spec *s, struct ctnet_err *err)
{
	char buf[CTNET_ADDR_STRLEN];
	unsigned char mac[6];
	bool p2p = !s->bridge;
	int r;

	if ((r = ctnet_name_check(s->name, err)) < 0)
		return r;
	if (s->ifname && (r = ctnet_ifname_check(s->ifname, err)) < 0)
		return r;
	if (s->host_ifname && (r = ctnet_ifname_check(s->host_ifname, err)) < 0)
		return r;
	if (s->bridge && (r = ctnet_ifname_check(s->bridge, err)) < 0)
		return r;
	if (s->netns_fd < 0)
		return ctnet_errf(err, EBADF, "container network namespace missing");
	if ((r = check_addr(&s->local, AF_INET, true, "local address", err)) < 0 ||
	    (r = check_addr(&s->host, AF_INET, p2p, "host address", err)) < 0)
		return r;
	if (s->host.family && ctnet_addr_equal(&s->host, &s->local))
		return ctnet_errf(err, EINVAL, "host address and local address are both \"%s\"",
				  ctnet_addr_str(&s->local, buf));
	if (s->has_v6) {
		if ((r = check_addr(&s->local6, AF_INET6, true, "local IPv6 address", err)) < 0 ||
		    (r = check_addr(&s->host6, AF_INET6, p2p, "host IPv6 address", err)) < 0)
			return r;
		if (s->host6.family && ctnet_addr_equal(&s->host6, &s->local6))
			return ctnet_errf(err, EINVAL,
					  "host IPv6 address and local IPv6 address are both \"%s\"",
					  ctnet_addr_str(&s->local6, buf));
	}
	if (s->mac && (r = netd_mac_parse(s->mac, mac, err)) < 0)
		return r;
	if (s->mtu && (s->mtu < NETD_MTU_MIN || s->mtu > NETD_MTU_MAX))
		return ctnet_errf(err, EINVAL, "MTU %u out of range %d..%d", s->mtu, NETD_MTU_MIN,
				  NETD_MTU_MAX);
	return 0;
}

/* --- up / down --- */

int not_ours(const struct nd_link *l, const char *alias, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	size_t plen = strlen(NETD_ALIAS_PREFIX);

	(void)alias;
	if (!strncmp(l->alias, NETD_ALIAS_PREFIX, plen))
		return ctnet_errf(err, EEXIST, "interface %s exists and belongs to container \"%s\"",
				  l->ifname, ctnet_show(l->alias + plen, shown));
	return ctnet_errf(err, EEXIST, "interface %s exists and is not ctnet's", l->ifname);
}

/* Second and later `up`: the pair is ours and its peer is `cif` in this namespace. */
bool pair_matches(const struct nd_link *h, const struct nd_link *c, const char *alias)
{
	return h->found && c->found && !strcmp(h->kind, "veth") && h->iflink == c->ifindex &&
	       c->iflink == h->ifindex && !strcmp(c->alias, alias);
}

/* One netd_up: what its round trips learn and what the undo needs. */
struct up_ctx {
	const struct netd_spec *spec;
	char hif[IFNAMSIZ], alias[NETD_ALIAS_MAX];
	const char *cif;
	unsigned char macb[6], *mac;
	struct nd_link hl, bl, cl;
	struct gw_find gw4, gw6;
	struct ctnet_nl *hs, in;
	struct nd_batch *b;
	bool created, existing;
	int host_ix, peer_ix;
};

/* The bridge exists, is a bridge, and gateways default to its own addresses. */
static int up_bridge(struct up_ctx *u, struct ctnet_err *err)
{
	const struct netd_spec *spec = u->spec;
	struct nd_batch *b = u->b;
	int r;

	if (!u->bl.found)
		return ctnet_errf(err, ENODEV, "bridge \"%s\" does not exist", spec->bridge);
	if (strcmp(u->bl.kind, "bridge"))
		return ctnet_errf(err, EINVAL, "interface \"%s\" is not a bridge", spec->bridge);
	nd_batch_init(b);
	u->gw4.ifindex = u->gw6.ifindex = u->bl.ifindex;
	if ((!spec->host.family && (r = q_addr_dump(b, &u->gw4, spec->bridge, err)) < 0) ||
	    (spec->has_v6 && !spec->host6.family &&
	     (r = q_addr_dump(b, &u->gw6, spec->bridge, err)) < 0) ||
	    (r = nd_batch_run(u->hs, b, err)) < 0)
		return r;
	if (spec->host.family)
		u->gw4.addr = spec->host;
	else if (!u->gw4.addr.family)
		return ctnet_errf(err, EADDRNOTAVAIL,
				  "bridge \"%s\" has no IPv4 address to route through (give --host-address)",
				  spec->bridge);
	if (spec->has_v6 && spec->host6.family)
		u->gw6.addr = spec->host6;
	else if (spec->has_v6 && !u->gw6.addr.family)
		return ctnet_errf(err, EADDRNOTAVAIL,
				  "bridge \"%s\" has no global IPv6 address to route through (give --host-address6)",
				  spec->bridge);
	return 0;
}

/* Round trip 1: what is there already (host side, bridge). */
static int up_look(struct up_ctx *u, struct ctnet_err *err)
{
	const struct netd_spec *spec = u->spec;
	struct nd_batch *b = u->b;
	int r;

	nd_batch_init(b);
	if ((r = nd_batch_get_link(b, u->hif, &u->hl, err)) < 0 ||
	    (spec->bridge && (r = nd_batch_get_link(b, spec->bridge, &u->bl, err)) < 0) ||
	    (r = nd_batch_run(u->hs, b, err)) < 0)
		return r;
	if (u->hl.found && strcmp(u->hl.alias, u->alias))
		return not_ours(&u->hl, u->alias, err);
	return spec->bridge ? up_bridge(u, err) : 0;
}

/* Ours already: same pair into this namespace -> re-apply below; a pair left over from an
 * earlier namespace of the container -> replace it. */
static int up_existing(struct up_ctx *u, struct ctnet_err *err)
{
	struct nd_batch *b = u->b;
	int r;

	nd_batch_init(b);
	if ((r = nd_batch_get_link(b, u->cif, &u->cl, err)) < 0 ||
	    (r = nd_batch_run(&u->in, b, err)) < 0)
		return r;
	u->existing = pair_matches(&u->hl, &u->cl, u->alias);
	if (u->existing)
		return 0;
	nd_batch_init(b);
	if ((r = q_link_del(b, u->hl.ifindex, u->hif, err)) < 0 ||
	    (r = nd_batch_run(u->hs, b, err)) < 0)
		return r;
	return 0;
}

/* Round trip 2: the pair, and its indexes (the host side's IFLA_LINK is the peer's index in
 * the container). On failure, u->created says whether the undo has a pair to delete. */
static int up_create(struct up_ctx *u, struct ctnet_err *err)
{
	const struct netd_spec *spec = u->spec;
	struct nd_batch *b = u->b;
	char shown[CTNET_SHOW_MAX];
	int r;

	nd_batch_init(b);
	/* The alias goes in the same send as the creation: the kernel ignores an alias on
	 * create, and a process killed between two sends would leave a ve-NAME without it,
	 * which no later down or up could tell from a foreign link. */
	if ((r = q_veth(b, u->hif, u->cif, spec->netns_fd, spec->bridge ? u->bl.ifindex : 0,
			spec->mtu, u->mac, &u->hl, err)) < 0 ||
	    (r = q_link_alias(b, u->hif, u->alias, true, err)) < 0)
		return r;
	r = nd_batch_run(u->hs, b, err);
	if (b->req[0].done && b->req[0].error == 0)
		u->created = true;
	if (!u->created && b->req[1].done && b->req[1].error == 0) {
		/* Someone else's hif appeared since round trip 1: take our alias back. */
		struct ctnet_err ignored;
		nd_batch_init(b);
		if (q_link_alias(b, u->hif, "", false, &ignored) == 0)
			nd_batch_run(u->hs, b, &ignored);
	}
	if (r == -EEXIST && b->req[0].error == EEXIST) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n,
			 " (is \"%s\" taken in the container?)", ctnet_show(u->cif, shown));
	}
	if (r < 0)
		return r;
	if (!u->hl.found) {
		/* No echo (kernel < 6.3): ask. */
		nd_batch_init(b);
		if ((r = nd_batch_get_link(b, u->hif, &u->hl, err)) < 0 ||
		    (r = nd_batch_run(u->hs, b, err)) < 0)
			return r;
	}
	if (!u->hl.found)
		return ctnet_errf(err, ENODEV, "create veth \"%s\": gone right after creation", u->hif);
	return 0;
}

/* Round trip 3: host side, up (a new link is named and its sysctls set already). */
static int up_host_side(struct up_ctx *u, struct ctnet_err *err)
{
	const struct netd_spec *spec = u->spec;
	struct nd_batch *b = u->b;
	const char *hif = u->hif;
	int r, ix = u->host_ix;

	nd_batch_init(b);
	if ((r = q_host_link_set(b, ix, hif, u->alias, u->existing ? spec->mtu : 0,
				 u->existing && spec->bridge ? u->bl.ifindex : 0, err)) < 0)
		return r;
	if (!spec->bridge) {
		if ((r = q_addr(b, ix, hif, &spec->host, prefix_or(&spec->host, 32), false, err)) < 0 ||
		    (r = q_route(b, ix, hif, AF_INET, &spec->local, NULL, false, err)) < 0)
			return r;
		if (spec->has_v6 &&
		    ((r = q_addr(b, ix, hif, &spec->host6, prefix_or(&spec->host6, 128), false, err)) < 0 ||
		     (r = q_route(b, ix, hif, AF_INET6, &spec->local6, NULL, false, err)) < 0))
			return r;
	}
	return nd_batch_run(u->hs, b, err);
}

/* The container's address in one family and its routes: to the gateway, which must be
 * on-link (a host route unless the local prefix already covers it), and the default. */
static int q_container_family(struct up_ctx *u, int family, const struct ctnet_addr *local,
			      const struct ctnet_addr *gw, struct ctnet_err *err)
{
	int r, plen = prefix_or(local, family == AF_INET ? 32 : 128);
	struct ctnet_addr net = *local;

	net.prefix = plen;
	if ((r = q_addr(u->b, u->peer_ix, u->cif, local, plen, false, err)) < 0 ||
	    (!ctnet_addr_in(gw, &net) &&
	     (r = q_route(u->b, u->peer_ix, u->cif, family, gw, NULL, false, err)) < 0) ||
	    (r = q_route(u->b, u->peer_ix, u->cif, family, NULL, gw, false, err)) < 0)
		return r;
	return 0;
}

/* Round trip 4: container side. */
static int up_container_side(struct up_ctx *u, struct ctnet_err *err)
{
	const struct netd_spec *spec = u->spec;
	int r;

	nd_batch_init(u->b);
	if ((r = q_link_set(u->b, 0, "lo", NULL, 0, 0, NULL, err)) < 0 ||
	    (r = q_link_set(u->b, u->peer_ix, u->cif, u->alias, u->existing ? spec->mtu : 0, 0,
			    u->existing ? u->mac : NULL, err)) < 0 ||
	    (r = q_container_family(u, AF_INET, &spec->local,
				    spec->bridge ? &u->gw4.addr : &spec->host, err)) < 0 ||
	    (spec->has_v6 &&
	     (r = q_container_family(u, AF_INET6, &spec->local6,
				     spec->bridge ? &u->gw6.addr : &spec->host6, err)) < 0))
		return r;
	return nd_batch_run(&u->in, u->b, err);
}

/* Deleting the host side takes the peer, its addresses and routes with it. */
static void up_undo(struct up_ctx *u)
{
	struct ctnet_err ignored;
	struct nd_link tmp = u->hl;

	if (!u->created)
		return;
	if (!tmp.found) {
		nd_batch_init(u->b);
		if (nd_batch_get_link(u->b, u->hif, &tmp, &ignored) < 0 ||
		    nd_batch_run(u->hs, u->b, &ignored) < 0)
			tmp.found = false;
	}
	if (tmp.found && !strcmp(tmp.alias, u->alias)) {
		nd_batch_init(u->b);
		if (q_link_del(u->b, tmp.ifindex, u->hif, &ignored) == 0)
			nd_batch_run(u->hs, u->b, &ignored);
	}
}

int netd_up(struct ctnet_kern *kern, const struct netd_spec *spec, struct netd_result *res, struct ctnet_err *err)
{
	struct up_ctx u = { .spec = spec, .in = { .fd = -1 }, .gw4 = { .family = AF_INET },
			    .gw6 = { .family = AF_INET6 } };
	int r;

	if ((r = netd_spec_check(spec, err)) < 0)
		return r;
	u.cif = spec->ifname ? spec->ifname : NETD_DEFAULT_IFNAME;
	if (spec->host_ifname)
		snprintf(u.hif, sizeof(u.hif), "%s", spec->host_ifname);
	else
		netd_host_ifname(spec->name, spec->bridge != NULL, u.hif);
	netd_alias(spec->name, u.alias);
	if (spec->mac && netd_mac_parse(spec->mac, u.macb, err) == 0)
		u.mac = u.macb;
	if ((r = ctnet_kern_rt(kern, &u.hs, err)) < 0)
		return r;
	if (!(u.b = malloc(sizeof(*u.b))))
		return ctnet_errf(err, ENOMEM, "out of memory");

	if ((r = up_look(&u, err)) < 0 || (r = nd_sock_open_in(spec->netns_fd, &u.in, err)) < 0 ||
	    (u.hl.found && (r = up_existing(&u, err)) < 0))
		goto out;
	if (!u.existing && (r = up_create(&u, err)) < 0)
		goto undo;
	u.host_ix = u.hl.ifindex;
	u.peer_ix = u.hl.iflink;
	/* Before the link is up: the host never learns from the container (hostsec.c). */
	if ((r = nd_harden6(u.hif, spec->has_v6, err)) < 0 ||
	    (r = up_host_side(&u, err)) < 0 || (r = up_container_side(&u, err)) < 0)
		goto undo;

	if (res) {
		memset(res, 0, sizeof(*res));
		snprintf(res->host_ifname, sizeof(res->host_ifname), "%s", u.hif);
		res->host_ifindex = u.host_ix;
		snprintf(res->ifname, sizeof(res->ifname), "%s", u.cif);
	}
	r = 0;
	goto out;
undo:
	up_undo(&u);
out:
	ctnet_nl_close(&u.in);
	free(u.b);
	return r;
}

/* Host-side links that may be `name`'s: the given one, or ve-/vb- derived names. */
static int lookup(struct ctnet_kern *kern, const char *name, const char *host_ifname, struct nd_link links[2], size_t *n,
		  struct ctnet_err *err)
{
	char cand[2][IFNAMSIZ];
	struct nd_batch *b;
	struct ctnet_nl *hs;
	int r;

	if ((r = ctnet_name_check(name, err)) < 0)
		return r;
	if (host_ifname && (r = ctnet_ifname_check(host_ifname, err)) < 0)
		return r;
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0)
		return r;
	if (host_ifname) {
		snprintf(cand[0], IFNAMSIZ, "%s", host_ifname);
		*n = 1;
	} else {
		netd_host_ifname(name, false, cand[0]);
		netd_host_ifname(name, true, cand[1]);
		*n = 2;
	}
	b = malloc(sizeof(*b));
	if (!b)
		return ctnet_errf(err, ENOMEM, "out of memory");
	nd_batch_init(b);
	for (size_t i = 0; i < *n && r >= 0; i++)
		r = nd_batch_get_link(b, cand[i], &links[i], err);
	if (r >= 0)
		r = nd_batch_run(hs, b, err);
	free(b);
	return r < 0 ? r : 0;
}

int netd_exists(struct ctnet_kern *kern, const char *name, const char *host_ifname, struct ctnet_err *err)
{
	char alias[NETD_ALIAS_MAX];
	struct nd_link links[2];
	size_t n = 0;
	int r = lookup(kern, name, host_ifname, links, &n, err);

	if (r < 0)
		return r;
	netd_alias(name, alias);
	for (size_t i = 0; i < n; i++)
		if (links[i].found && !strcmp(links[i].alias, alias))
			return 1;
	return 0;
}

/*
 * A link's NETDEV_DOWN walks the namespace's whole IPv4 FIB (fib_flush) when any route still
 * goes through the link: with 5,000 containers ~5 ms of every delete. The host side's route
 * to the container and its address (whose removal drops its local route) go first, each a
 * lookup in the trie; then nothing goes through the link and the flush is skipped. Not for
 * IPv6: its link down walks the IPv6 FIB either way.
 */
static int q_unroute(struct nd_batch *b, const struct nd_link *l, const struct ctnet_addr *host,
		     const struct ctnet_addr *local, struct ctnet_err *err)
{
	int r = 0;
	if (local && local->family == AF_INET)
		r = q_route(b, l->ifindex, l->ifname, AF_INET, local, NULL, true, err);
	if (r >= 0 && host && host->family == AF_INET)
		r = q_addr(b, l->ifindex, l->ifname, host, prefix_or(host, 32), true, err);
	return r;
}

int netd_down(struct ctnet_kern *kern, const char *name, const char *host_ifname, const struct ctnet_addr *host,
	      const struct ctnet_addr *local, struct ctnet_err *err)
{
	char alias[NETD_ALIAS_MAX];
	struct nd_link links[2];
	const struct nd_link *foreign = NULL;
	struct nd_batch *b;
	struct ctnet_nl *hs;
	size_t n = 0;
	int r = lookup(kern, name, host_ifname, links, &n, err);

	if (r < 0)
		return r;
	netd_alias(name, alias);
	if ((r = ctnet_kern_rt(kern, &hs, err)) < 0)
		return r;
	b = malloc(sizeof(*b));
	if (!b)
		return ctnet_errf(err, ENOMEM, "out of memory");
	nd_batch_init(b);
	int ifindex[2];
	size_t n_del = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (!links[i].found)
			continue;
		if (strcmp(links[i].alias, alias)) {
			foreign = &links[i];
		} else {
			if (strcmp(links[i].kind, "veth") == 0 && !links[i].master)
				r = q_unroute(b, &links[i], host, local, err);
			if (r >= 0)
				r = q_link_del(b, links[i].ifindex, links[i].ifname, err);
			ifindex[n_del++] = links[i].ifindex;
		}
	}
	if (r >= 0 && b->n == 0 && foreign)
		r = not_ours(foreign, alias, err); /* refuse to delete someone else's link */
	else if (r >= 0)
		r = nd_batch_run_detached(kern, b, ifindex, n_del, err);
	free(b);
	return r < 0 ? r : 0;
}
