/* SPDX-License-Identifier: MIT */
/* A judged fault (ct_judge) as doctor's finding: its severity, code, evidence and fix. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "finding.h"
#include "launch.h"

/* What a link fault (enum netd_fault_kind) means to a user. fix: 'u' ctnet repair (a link
 * set down or an address removed takes routes with it: one command puts all back), 'l' lo
 * up inside, 'r' the host route to the container (the object), alone. */
static const struct {
	enum ctnet_severity sev;
	const char *code, *why;
	char fix;
} link_faults[] = {
	[NETD_F_HOST_LINK_MISSING] = { CTNET_SEV_BLOCKS, "link-missing", "the container is cut off", 'u' },
	[NETD_F_HOST_LINK_DOWN] = { CTNET_SEV_BLOCKS, "link-down", "nothing reaches the container", 'u' },
	[NETD_F_HOST_LINK_MTU] = { CTNET_SEV_DEGRADES, "link-mtu", "large packets are dropped or fragmented", 'u' },
	[NETD_F_BRIDGE_PORT] = { CTNET_SEV_BLOCKS, "bridge-port-missing", "the container is cut off", 'u' },
	[NETD_F_HOST_ADDR_MISSING] = { CTNET_SEV_BLOCKS, "host-address-missing",
				       "the container's default gateway is gone", 'u' },
	[NETD_F_HOST_ROUTE_MISSING] = { CTNET_SEV_BLOCKS, "host-route-missing", "nothing reaches the container", 'r' },
	[NETD_F_HOST_SYSCTL] = { CTNET_SEV_DEGRADES, "link-sysctl",
				 "the host may take routes, redirects or addresses from the container", 'u' },
	[NETD_F_NO_CARRIER] = { CTNET_SEV_BLOCKS, "container-link-down",
				"the container's end is down: no carrier on the host side", 'u' },
	[NETD_F_LINK_MISSING] = { CTNET_SEV_BLOCKS, "container-link-missing", "the container is cut off", 'u' },
	[NETD_F_LINK_DOWN] = { CTNET_SEV_BLOCKS, "container-link-down", "the container is cut off", 'u' },
	[NETD_F_LO_DOWN] = { CTNET_SEV_DEGRADES, "container-lo-down", "the container's own 127.0.0.1 fails", 'l' },
	[NETD_F_LINK_MTU] = { CTNET_SEV_DEGRADES, "container-link-mtu", "large packets are dropped or fragmented", 'u' },
	[NETD_F_LINK_MAC] = { CTNET_SEV_DEGRADES, "container-link-mac", "the MAC it was given is not the one in use", 'u' },
	[NETD_F_ADDR_MISSING] = { CTNET_SEV_BLOCKS, "container-address-missing", "the container is cut off", 'u' },
	[NETD_F_DEFAULT_ROUTE_MISSING] = { CTNET_SEV_BLOCKS, "container-default-route-missing",
					   "the container reaches nothing beyond the host", 'u' },
};

/* "ip -n NAME" for /run/netns/NAME, else "nsenter --net=PATH ip". */
static void ip_in(const char *netns, char *buf, size_t len)
{
	const char *base = strrchr(netns, '/');
	if (!strncmp(netns, "/run/netns/", 11) && base && !strchr(netns + 11, '/'))
		snprintf(buf, len, "ip -n %s", base + 1);
	else
		snprintf(buf, len, "nsenter --net=%s ip", netns);
}

static void link_finding(const char *name, const char *host_ifname, const char *netns,
			 const struct ct_fault *f, struct ctnet_findings *out)
{
	const size_t n = sizeof(link_faults) / sizeof(link_faults[0]);
	char ip[CT_PATH_MAX + 32], fix[sizeof(ip) + 160], obj[160];
	bool v6 = strchr(f->object, ':');
	if (f->link < 0 || (size_t)f->link >= n || !link_faults[f->link].code)
		return;
	ip_in(netns, ip, sizeof(ip));
	snprintf(obj, sizeof(obj), "%s", f->object);
	switch (link_faults[f->link].fix) {
	case 'r':
		snprintf(obj, sizeof(obj), "route %s/%d dev %s", f->object, v6 ? 128 : 32, host_ifname);
		snprintf(fix, sizeof(fix), "ip %sroute add %s", v6 ? "-6 " : "", obj + 6);
		break;
	case 'l':
		snprintf(fix, sizeof(fix), "%s link set lo up", ip);
		break;
	default:
		snprintf(fix, sizeof(fix), "ctnet repair %s", name);
	}
	ctnet_finding_add(out, link_faults[f->link].sev, link_faults[f->link].code, name, obj, fix, "%s: %s",
			  f->text, link_faults[f->link].why);
}

void ct_fault_finding(const char *name, const char *host_ifname, const char *netns,
		      const struct ct_fault *f, struct ctnet_findings *out)
{
	char fix[128];
	switch (f->kind) {
	case CT_FAULT_STALE:
		snprintf(fix, sizeof(fix), "ctnet gc (or ctnet down %s)", name);
		ctnet_finding_add(out, CTNET_SEV_NOTE, "container-stale", name, netns, fix,
				  "%s: the record outlives its container (`ctnet status` says stale)", f->text);
		break;
	case CT_FAULT_UNJUDGED:
		/* Not a verdict either way: doctor cannot vouch for what it could not read. */
		ctnet_finding_add(out, CTNET_SEV_DEGRADES, "container-not-judged", name, netns,
				  "run ctnet doctor as root (CAP_NET_ADMIN, CAP_SYS_ADMIN)",
				  "%s: its links, addresses and NAT were not checked", f->text);
		break;
	case CT_FAULT_LINK:
		link_finding(name, host_ifname, netns, f, out);
		break;
	case CT_FAULT_EXTRA_VETH:
		snprintf(fix, sizeof(fix), "ctnet repair %s", name);
		ctnet_finding_add(out, CTNET_SEV_DEGRADES, "extra-veth-missing", name, f->object, fix,
				  "%s: what the container reaches through it is cut off", f->text);
		break;
	case CT_FAULT_NAT:
		snprintf(fix, sizeof(fix), "ctnet repair %s", name);
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "nat-elements-missing", name, "inet ctnet", fix,
				  "%s from ctnet's table (masquerade, anti-spoofing, forwards): its outbound "
				  "traffic or forwards fail", f->text);
		break;
	case CT_FAULT_HOST_IP:
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "host-ip-missing", name, f->object,
				  "add the address back (ip addr add ...), or forward without --host-ip",
				  "%s (--host-ip): nothing arrives there", f->text);
		break;
	case CT_FAULT_FORWARDING:
	case CT_FAULT_LOCALNET:
	case CT_FAULT_NAT_TABLE:
		/* The host's, not the container's: nat's doctor reports them once, with their fix. */
		break;
	}
}
