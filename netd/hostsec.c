/* SPDX-License-Identifier: MIT */
/*
 * The host never learns from its containers. Every host-side link ctnet makes (ve-NAME,
 * vb-NAME, an extra veth's host end, a bridge made by `ctnet-netd bridge add`) gets these
 * per-link sysctls while it is still down, so no frame from a container ever meets the
 * values it inherited from net.*.conf.default (`all` is never touched):
 *
 *   net.ipv6.conf.IF.accept_ra = 0         a container's router advertisement would become
 *                                          the host's IPv6 default route (hosts that take
 *                                          their own IPv6 by SLAAC while routing have
 *                                          default.accept_ra=2, and new links inherit it)
 *   net.ipv6.conf.IF.accept_redirects = 0  nor do its ICMPv6 redirects move host routes
 *   net.ipv6.conf.IF.autoconf = 0          nor do its prefixes give the host addresses
 *   net.ipv6.conf.IF.accept_dad = 0        the link-local address is usable at once: while
 *                                          it is tentative the kernel sends no neighbour
 *                                          solicitation for a packet it forwards (its source
 *                                          is not the host's), so the first datagram through
 *                                          a forward waited ~2 s, or was lost
 *   net.ipv6.conf.IF.disable_ipv6 = 1      without IPv6 (0 with): no IPv6 on the link at all,
 *                                          and no per-link IPv6 routes to walk
 *   net.ipv4.conf.IF.accept_redirects = 0, accept_source_route = 0 (in a netlink message:
 *                                          IFLA_INET_CONF)
 *
 * netd_up writes them on every run (repair); netd_verify reads them back from the link's
 * IFLA_AF_SPEC. doctor reports a host route learned from a container's link anyway (from
 * an older ctnet, or a value changed by hand).
 */
#include "netd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ip.h>
#include <linux/rtnetlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "finding.h"
#include "hostview.h"
#include "netd_int.h"

struct knob {
	enum nd_conf conf;
	const char *name;
	int want;
};

/* In write order: disable_ipv6 (for a link without IPv6) comes last. */
static const struct knob knobs6[] = {
	{ ND_CONF_ACCEPT_RA, "accept_ra", 0 },
	{ ND_CONF_ACCEPT_REDIRECTS6, "accept_redirects", 0 },
	{ ND_CONF_AUTOCONF, "autoconf", 0 },
	{ ND_CONF_ACCEPT_DAD, "accept_dad", 0 },
};

int nd_harden4(struct rtnl_link *l)
{
	int r = rtnl_link_inet_set_conf(l, IPV4_DEVCONF_ACCEPT_REDIRECTS, 0);
	return r < 0 ? r : rtnl_link_inet_set_conf(l, IPV4_DEVCONF_ACCEPT_SOURCE_ROUTE, 0);
}

static int knob_write(int dfd, const char *ifname, const char *knob, int v, struct ctnet_err *err)
{
	char line[4];
	int fd = openat(dfd, knob, O_WRONLY | O_CLOEXEC), n = snprintf(line, sizeof(line), "%d\n", v);

	if (fd < 0)
		return ctnet_err_sys(err, errno, "sysctl net.ipv6.conf.%s.%s", ifname, knob);
	if (write(fd, line, (size_t)n) != n) {
		int e = errno;
		close(fd);
		return ctnet_err_sys(err, e, "sysctl net.ipv6.conf.%s.%s=%d", ifname, knob, v);
	}
	close(fd);
	return 0;
}

int nd_harden6(const char *ifname, bool v6, struct ctnet_err *err)
{
	char path[64];
	int dfd, r = 0;

	if (!*ifname || strchr(ifname, '/') || ifname[0] == '.')
		return ctnet_errf(err, EINVAL, "interface \"%s\": bad name", ifname);
	/* One walk to the link's directory (from /proc each costs a scan of every namespace's
	 * entries), then a short open per value. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s", ifname);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT && access("/proc/sys/net/ipv6", F_OK) < 0)
		return 0; /* a kernel without IPv6: nothing can learn */
	if (dfd < 0)
		return ctnet_err_sys(err, errno, "sysctls of \"%s\" (%s)", ifname, path);
	for (size_t i = 0; i < ARRAY_SIZE(knobs6) && r >= 0; i++)
		r = knob_write(dfd, ifname, knobs6[i].name, knobs6[i].want, err);
	if (r >= 0)
		r = knob_write(dfd, ifname, "disable_ipv6", !v6, err);
	close(dfd);
	return r;
}

/* The first value of l that differs from what nd_harden4/6 set, as text; false when none
 * does (or the kernel did not report them). */
bool nd_conf_drift(const struct nd_link *l, bool v6, char *what, size_t len)
{
	static const struct knob knobs4[] = {
		{ ND_CONF_ACCEPT_REDIRECTS4, "accept_redirects", 0 },
		{ ND_CONF_ACCEPT_SOURCE_ROUTE4, "accept_source_route", 0 },
	};
	for (size_t i = 0; l->has_conf4 && i < ARRAY_SIZE(knobs4); i++)
		if (l->conf[knobs4[i].conf] != knobs4[i].want) {
			snprintf(what, len, "net.ipv4.conf.%s.%s is %d, not %d", l->ifname, knobs4[i].name,
				 l->conf[knobs4[i].conf], knobs4[i].want);
			return true;
		}
	if (!l->has_conf6)
		return false;
	if (l->conf[ND_CONF_DISABLE_IPV6] != !v6) {
		snprintf(what, len, "net.ipv6.conf.%s.disable_ipv6 is %d, not %d", l->ifname,
			 l->conf[ND_CONF_DISABLE_IPV6], !v6);
		return true;
	}
	for (size_t i = 0; v6 && i < ARRAY_SIZE(knobs6); i++)
		if (l->conf[knobs6[i].conf] != knobs6[i].want) {
			snprintf(what, len, "net.ipv6.conf.%s.%s is %d, not %d", l->ifname, knobs6[i].name,
				 l->conf[knobs6[i].conf], knobs6[i].want);
			return true;
		}
	return false;
}

/* Whether bridge br was made by ctnet (its alias; /sys is one read, no netlink link dump). */
static bool bridge_ours(const char *br)
{
	char path[64], buf[32] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/ifalias", br);
	if (strchr(br, '/') || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return !strcmp(buf, NETD_BRIDGE_ALIAS);
}

/* The container whose host link (or ctnet-made bridge) is ifname, or NULL. */
static const struct netd_doctor_ct *owner(const struct netd_doctor_ct *cts, size_t n, const char *ifname)
{
	for (size_t i = 0; i < n; i++)
		if (cts[i].host_ifname && !strcmp(cts[i].host_ifname, ifname))
			return &cts[i];
	for (size_t i = 0; i < n; i++)
		if (cts[i].bridge && !strcmp(cts[i].bridge, ifname) && bridge_ours(ifname))
			return &cts[i];
	return NULL;
}

void netd_doctor_learned(const struct netd_host_view *v, const struct netd_doctor_ct *cts, size_t n,
			 struct ctnet_findings *out)
{
	for (size_t i = 0; i < v->n_routes; i++) {
		const struct hroute *h = &v->routes[i];
		const struct netd_doctor_ct *c;
		char ifn[IFNAMSIZ], d[INET6_ADDRSTRLEN], g[INET6_ADDRSTRLEN] = "", tbl[24] = "", rs[200], fix[512];
		const char *how = h->proto == RTPROT_RA ? "a router advertisement" : "an ICMP redirect";
		const char *six = h->family == AF_INET6 ? "6" : "";

		if ((h->proto != RTPROT_RA && h->proto != RTPROT_REDIRECT) || !h->oif ||
		    !if_indextoname((unsigned)h->oif, ifn) || !(c = owner(cts, n, ifn)))
			continue;
		inet_ntop(h->family, h->dst, d, sizeof(d));
		if (h->has_gw)
			inet_ntop(h->family, h->gw, g, sizeof(g));
		if (h->table != RT_TABLE_MAIN)
			snprintf(tbl, sizeof(tbl), " table %u", h->table);
		if (h->plen)
			snprintf(rs, sizeof(rs), "%s/%u%s%s dev %s%s", d, h->plen, *g ? " via " : "", g, ifn, tbl);
		else
			snprintf(rs, sizeof(rs), "default%s%s dev %s%s", *g ? " via " : "", g, ifn, tbl);
		snprintf(fix, sizeof(fix), "ip -%s route del %s; ctnet repair %s (puts back accept_ra=0, "
			 "accept_redirects=0 and the other sysctls ctnet keeps on %s)",
			 *six ? "6" : "4", rs, c->name, ifn);
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "route-from-container", c->name, rs, fix,
				  "the host took route %s (proto %s) from %s that came in on %s, container "
				  "%s's link: the host's%s traffic to %s goes to that container",
				  rs, h->proto == RTPROT_RA ? "ra" : "redirect", how, ifn, c->name,
				  h->plen ? "" : " and every other container's", h->plen ? d : "anywhere");
	}
}
