/* SPDX-License-Identifier: MIT */
/*
 * The table inet ctnet: fixed chains over named sets and maps, and the elements one
 * container contributes. Every text here is built from validated values: interface names
 * checked by ctnet_ifname_check, addresses printed by inet_ntop, ports as integers.
 */
#include "nat_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const nat_table_names[NAT_TABLES] = { NAT_TABLE, NAT_BTABLE };
const int nat_table_family[NAT_TABLES] = { 1 /* NFPROTO_INET */, 7 /* NFPROTO_BRIDGE */ };

const char *const nat_set_names[NAT_S_COUNT] = {
	"ifaces", "ext_ifaces", "masq4", "masq6", "spoof4",
	"spoof6", "fwd4", "fwd4ip", "fwd6", "fwd6ip",
	"bridges", "own_host4", "own_host6", "host4", "host6",
	"cluster4", "cluster6", "port_ifaces", "port_spoof4", "port_spoof6", "port_macs", "port_mac",
};

/* spoof* and fwd* carry per-element counters: packets sent by a container, and new
 * connections per forwarded port (NAT chains see the first packet of a flow only). */
static const char *const set_decl[NAT_S_COUNT] = {
	"type ifname;",
	"type ifname;",
	"type ipv4_addr;",
	"type ipv6_addr;",
	"type ifname . ipv4_addr; counter;",
	"type ifname . ipv6_addr; counter;",
	"type inet_proto . inet_service : ipv4_addr . inet_service; counter;",
	"type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; counter;",
	"type inet_proto . inet_service : ipv6_addr . inet_service; counter;",
	"type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; counter;",
	"type ifname;",
	"type ifname . ipv4_addr;",
	"type ifname . ipv6_addr;",
	"type ipv4_addr;",
	"type ipv6_addr;",
	"type ipv4_addr; flags interval;",
	"type ipv6_addr; flags interval;",
	"type ifname;",
	"type ifname . ipv4_addr; counter;",
	"type ifname . ipv6_addr; counter;",
	"type ifname;",
	"type ifname . ether_addr;",
};

bool nat_set_is_map(int set)
{
	return set >= NAT_S_FWD4 && set <= NAT_S_FWD6IP;
}

bool nat_set_is_shared(int set)
{
	return set == NAT_S_BRIDGES || set == NAT_S_HOST4 || set == NAT_S_HOST6;
}

bool nat_set_is_interval(int set)
{
	return set == NAT_S_CLUSTER4 || set == NAT_S_CLUSTER6;
}

int nat_set_table(int set)
{
	return set >= NAT_S_PORTS ? NAT_T_BRIDGE : NAT_T_INET;
}

static const char *set_kind(int s)
{
	return nat_set_is_map(s) ? "map" : "set";
}

const char *const nat_chain_names[NAT_CHAINS] = { "antispoof", "prerouting", "output",
						   "postrouting", "forward", "input",
						   "port_antispoof", "port_forward" };
static const char *const chain_decl[NAT_CHAINS] = {
	/* raw: before conntrack, so spoofed packets never create state, and before the
	 * dstnat chain, which would send a packet to 127.0.0.1:PORT on to a container */
	"type filter hook prerouting priority raw; policy accept;",
	"type nat hook prerouting priority dstnat; policy accept;",
	"type nat hook output priority -100; policy accept;",
	"type nat hook postrouting priority srcnat; policy accept;",
	"type filter hook forward priority filter; policy accept;",
	"type filter hook input priority filter; policy accept;",
	/* bridge family: -300 is its earliest (before the bridge decides where a frame goes) */
	"type filter hook prerouting priority -300; policy accept;",
	"type filter hook forward priority filter; policy accept;",
};

int nat_chain_table(int chain)
{
	return chain >= NAT_C_PORT_ANTISPOOF ? NAT_T_BRIDGE : NAT_T_INET;
}

enum { ANY, EXT_ONLY, NO_EXT, ISOLATE };
static const struct {
	int chain, when;
	const char *comment, *rule;
} rules[] = {
	/* CVE-2020-8558: nothing from outside reaches 127.0.0.0/8, neither a host socket
	 * (route_localnet is on for container-facing links) nor a forward via the dstnat
	 * chain. The host's own DNATed loopback flows never match: they leave by the output
	 * hook, and their replies arrive addressed to the masquerade address (127.0.0.1 is
	 * put back by conntrack after this chain, at dstnat). IPv6: the kernel itself drops
	 * ::1 from non-loopback devices (ip6_rcv_core). */
	{ NAT_C_ANTISPOOF, ANY, "localnet", "iif != \"lo\" ip daddr 127.0.0.0/8 counter drop" },
	/* Anti-spoofing: from a container interface only its own (iface, address) pairs,
	 * plus the unspecified and link-local IPv6 sources NDP needs. */
	{ NAT_C_ANTISPOOF, ANY, "outside", "iifname != @ifaces accept" },
	{ NAT_C_ANTISPOOF, ANY, "own4", "iifname . ip saddr @spoof4 accept" },
	{ NAT_C_ANTISPOOF, ANY, "own6", "iifname . ip6 saddr @spoof6 accept" },
	{ NAT_C_ANTISPOOF, ANY, "ndp", "ip6 saddr { ::, fe80::/10 } accept" },
	{ NAT_C_ANTISPOOF, ANY, "spoofed", "meta nfproto { ipv4, ipv6 } drop" },
	/* Forwards: to any local address; --host-ip entries first, they are more specific. */
#define FWD_RULES(C)                                                                           \
	{ C, ANY, "fwd4ip", "fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @fwd4ip" }, \
	{ C, ANY, "fwd4", "fib daddr type local meta nfproto ipv4 dnat ip to meta l4proto . th dport map @fwd4" }, \
	{ C, ANY, "fwd6ip", "fib daddr type local dnat ip6 to ip6 daddr . meta l4proto . th dport map @fwd6ip" }, \
	{ C, ANY, "fwd6", "fib daddr type local meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @fwd6" }
	FWD_RULES(NAT_C_PREROUTING),
	/* The host's own connections, to its addresses and to 127.0.0.1 (route_localnet on
	 * the container-facing link). */
	FWD_RULES(NAT_C_OUTPUT),
	/* 127.0.0.1 cannot leave the host: give DNATed loopback flows a real source. */
	{ NAT_C_POSTROUTING, ANY, "localhost", "ct status dnat ip saddr 127.0.0.0/8 masquerade" },
	/* Never out of a bridge with container ports: with br_netfilter (bridge-nf-call-
	 * iptables=1, loaded by Docker and Kubernetes) a frame bridged between two ports passes
	 * these hooks with the bridge as input and output device, and would leave with the
	 * bridge's address. Traffic routed out of such a bridge goes to a container or a
	 * neighbour on that link: it needs no NAT either. */
	/* Never to a cluster CIDR (other hosts' containers, pod and service ranges): those
	 * flows leave with the container's own address and their replies are routed back. */
	{ NAT_C_POSTROUTING, NO_EXT, "masq4", "ip saddr @masq4 oifname != @ifaces oifname != @bridges ip daddr != @cluster4 masquerade" },
	{ NAT_C_POSTROUTING, NO_EXT, "masq6", "ip6 saddr @masq6 oifname != @ifaces oifname != @bridges ip6 daddr != @cluster6 masquerade" },
	{ NAT_C_POSTROUTING, EXT_ONLY, "masq4-ext", "ip saddr @masq4 oifname @ext_ifaces oifname != @bridges ip daddr != @cluster4 masquerade" },
	{ NAT_C_POSTROUTING, EXT_ONLY, "masq6-ext", "ip6 saddr @masq6 oifname @ext_ifaces oifname != @bridges ip6 daddr != @cluster6 masquerade" },
	/* Hairpin: container B -> host:port -> container A must answer through the host. It
	 * comes after the masquerades, but they never match it (A is on this host: its link is
	 * in @ifaces or @bridges), so a pool inside a cluster CIDR changes nothing here. */
	{ NAT_C_POSTROUTING, ANY, "hairpin4", "ct status dnat ip saddr @masq4 ip daddr @masq4 masquerade" },
	{ NAT_C_POSTROUTING, ANY, "hairpin6", "ct status dnat ip6 saddr @masq6 ip6 daddr @masq6 masquerade" },
	/* A smaller MTU upstream (VPN, PPPoE) behind a router that filters ICMP: TCP to and
	 * from containers never needs path MTU discovery. */
	{ NAT_C_FORWARD, ANY, "mss-in", "oifname @ifaces tcp flags syn tcp option maxseg size set rt mtu" },
	{ NAT_C_FORWARD, ANY, "mss-out", "iifname @ifaces tcp flags syn tcp option maxseg size set rt mtu" },
	/* Isolation (init --isolate): container to container only through a forward (the
	 * flow was DNATed). Sources are trustworthy: anti-spoofing ran first. */
	{ NAT_C_FORWARD, ISOLATE, "isolate4", "ct status & dnat == 0 ip saddr @masq4 ip daddr @masq4 drop" },
	{ NAT_C_FORWARD, ISOLATE, "isolate6", "ct status & dnat == 0 ip6 saddr @masq6 ip6 daddr @masq6 drop" },
	/* ... and to the host only at its own host-side address or the host's others: no host
	 * service bound to another container's host-side address (a container on a bridge
	 * arrives by the bridge, which is no container's own). */
	{ NAT_C_INPUT, ISOLATE, "isolate-host4", "ip saddr @masq4 ip daddr @host4 iifname . ip daddr != @own_host4 drop" },
	{ NAT_C_INPUT, ISOLATE, "isolate-host6", "ip6 saddr @masq6 ip6 daddr @host6 iifname . ip6 daddr != @own_host6 drop" },
	/* Bridge ports: the inet chains see the bridge, not the port, so the same checks
	 * run here per port, ARP included. A port sends nothing else: no VLAN-tagged frames
	 * (they would carry an unchecked address), no other ethertypes, no router
	 * advertisements or redirects (a container is no router for its neighbours). */
	{ NAT_C_PORT_ANTISPOOF, ANY, "outside", "iifname != @port_ifaces accept" },
	/* A port sends only from its container's MAC, and ARP only with it as the sender's
	 * hardware address: no taking another's MAC (the bridge would learn it on this port
	 * and send it the victim's frames). Dropped here, before the bridge learns. */
	{ NAT_C_PORT_ANTISPOOF, ANY, "mac", "iifname @port_macs iifname . ether saddr != @port_mac drop" },
	{ NAT_C_PORT_ANTISPOOF, ANY, "arp-mac", "iifname @port_macs iifname . arp saddr ether != @port_mac drop" },
	{ NAT_C_PORT_ANTISPOOF, ANY, "own4", "iifname . ip saddr @port_spoof4 accept" },
	{ NAT_C_PORT_ANTISPOOF, ANY, "arp4", "iifname . arp saddr ip @port_spoof4 accept" },
	{ NAT_C_PORT_ANTISPOOF, ANY, "arp-probe", "arp saddr ip 0.0.0.0 accept" },
	{ NAT_C_PORT_ANTISPOOF, ANY, "no-ra", "icmpv6 type { nd-router-advert, nd-redirect } drop" },
	{ NAT_C_PORT_ANTISPOOF, ANY, "own6", "iifname . ip6 saddr @port_spoof6 accept" },
	{ NAT_C_PORT_ANTISPOOF, ANY, "ndp", "ip6 saddr { ::, fe80::/10 } accept" },
	{ NAT_C_PORT_ANTISPOOF, ANY, "spoofed", "drop" },
	/* Isolation between two ports of one bridge (frames the host never routes). Only
	 * br_netfilter bridges a flow DNATed to a container on the same bridge (a forward
	 * reached at the bridge's address) from port to port, and the frame keeps the type it
	 * arrived with, addressed to the bridge itself: nothing else bridged has it. */
	{ NAT_C_PORT_FORWARD, ISOLATE, "isolate-dnat", "meta pkttype host accept" },
	{ NAT_C_PORT_FORWARD, ISOLATE, "isolate", "iifname @port_ifaces oifname @port_ifaces drop" },
};

static bool rule_applies(size_t i, const struct nat_config *cfg)
{
	switch (rules[i].when) {
	case EXT_ONLY:
		return cfg->n_ext > 0;
	case NO_EXT:
		return cfg->n_ext == 0;
	case ISOLATE:
		return cfg->isolate;
	default:
		return true;
	}
}

int nat_set_index(int table, const char *name)
{
	for (int i = 0; i < NAT_S_COUNT; i++)
		if (nat_set_table(i) == table && !strcmp(name, nat_set_names[i]))
			return i;
	return -1;
}

void nat_buf_printf(struct nat_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void nat_buf_free(struct nat_buf *b)
{
	free(b->p);
	*b = (struct nat_buf){ 0 };
}

int nat_elems_push(struct nat_elems *e, const struct nat_elem *el, struct ctnet_err *err)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct nat_elem *v = realloc(e->v, cap * sizeof(*v));
		if (!v)
			return ctnet_err_sys(err, ENOMEM, "build nft elements");
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = *el;
	return 0;
}

/* One element at the end of e; the values as nat_elem_make() takes them. */
static int elem_add(struct nat_elems *e, struct ctnet_err *err, int set, ...)
{
	struct nat_elem el;
	va_list ap;
	int r;

	va_start(ap, set);
	r = nat_elem_vmake(&el, set, ap);
	va_end(ap);
	if (r < 0)
		return ctnet_errf(err, EINVAL, "nft element of set %s: bad value", nat_set_names[set]);
	return nat_elems_push(e, &el, err);
}

int nat_elems_container(struct nat_elems *e, const struct nat_container *c, struct ctnet_err *err)
{
	int r;

	/* The anti-spoofing pairs go to both tables: the inet ones hold for a veth, the
	 * bridge ones for a bridge port (each is inert for the other kind), so NAT needs
	 * no knowledge of the link and a port keeps its checks when it changes kind. */
	if ((r = elem_add(e, err, NAT_S_IFACES, c->iface)) < 0 ||
	    (r = elem_add(e, err, NAT_S_MASQ4, &c->addr)) < 0 ||
	    (r = elem_add(e, err, NAT_S_SPOOF4, c->iface, &c->addr)) < 0 ||
	    (r = elem_add(e, err, NAT_S_PORTS, c->iface)) < 0 ||
	    (r = elem_add(e, err, NAT_S_PSPOOF4, c->iface, &c->addr)) < 0)
		return r;
	if (c->has_addr6 && ((r = elem_add(e, err, NAT_S_MASQ6, &c->addr6)) < 0 ||
			     (r = elem_add(e, err, NAT_S_SPOOF6, c->iface, &c->addr6)) < 0 ||
			     (r = elem_add(e, err, NAT_S_PSPOOF6, c->iface, &c->addr6)) < 0))
		return r;
	if (c->has_mac && ((r = elem_add(e, err, NAT_S_MACPORTS, c->iface)) < 0 ||
			   (r = elem_add(e, err, NAT_S_PMAC, c->iface, c->mac)) < 0))
		return r;
	if (c->bridge && c->bridge[0] && (r = elem_add(e, err, NAT_S_BRIDGES, c->bridge)) < 0)
		return r;
	if (c->host.family == AF_INET && ((r = elem_add(e, err, NAT_S_OWNHOST4, c->iface, &c->host)) < 0 ||
					  (r = elem_add(e, err, NAT_S_HOST4, &c->host)) < 0))
		return r;
	if (c->host6.family == AF_INET6 && ((r = elem_add(e, err, NAT_S_OWNHOST6, c->iface, &c->host6)) < 0 ||
					    (r = elem_add(e, err, NAT_S_HOST6, &c->host6)) < 0))
		return r;
	for (size_t i = 0; i < c->n_forwards; i++) {
		const struct nat_forward *f = &c->forwards[i];
		unsigned p = f->proto == NAT_UDP ? IPPROTO_UDP : IPPROTO_TCP;
		for (unsigned k = 0; k <= (unsigned)(f->host_hi - f->host_lo); k++) {
			unsigned hp = f->host_lo + k, cp = f->container_lo + k;
			if (f->has_host_ip) {
				bool v6 = f->host_ip.family == AF_INET6;
				r = elem_add(e, err, v6 ? NAT_S_FWD6IP : NAT_S_FWD4IP, &f->host_ip, p, hp,
					     v6 ? &c->addr6 : &c->addr, cp);
			} else {
				r = elem_add(e, err, NAT_S_FWD4, p, hp, &c->addr, cp);
				if (r >= 0 && c->has_addr6)
					r = elem_add(e, err, NAT_S_FWD6, p, hp, &c->addr6, cp);
			}
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int nat_elems_config(struct nat_elems *e, const struct nat_config *cfg, struct ctnet_err *err)
{
	for (size_t i = 0; i < cfg->n_ext; i++) {
		int r = elem_add(e, err, NAT_S_EXT, cfg->ext[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < cfg->n_cluster; i++) {
		const struct ctnet_addr *a = &cfg->cluster[i];
		int r = elem_add(e, err, a->family == AF_INET6 ? NAT_S_CLUSTER6 : NAT_S_CLUSTER4, a);
		if (r < 0)
			return r;
	}
	return 0;
}

void nat_elems_free(struct nat_elems *e)
{
	free(e->v);
	*e = (struct nat_elems){ 0 };
}

static int elem_cmp(const void *a, const void *b)
{
	return nat_elem_cmp(a, b);
}

void nat_elems_sort(struct nat_elems *e)
{
	if (e->n)
		qsort(e->v, e->n, sizeof(*e->v), elem_cmp);
}

bool nat_elems_has(const struct nat_elems *sorted, const struct nat_elem *el)
{
	return sorted->n && bsearch(el, sorted->v, sorted->n, sizeof(*el), elem_cmp);
}

void nat_buf_elems(struct nat_buf *b, const char *verb, const struct nat_elems *e)
{
	for (int s = 0; s < NAT_S_COUNT; s++) {
		bool open = false;
		for (size_t i = 0; i < e->n; i++) {
			if (e->v[i].set != s)
				continue;
			if (open)
				nat_buf_printf(b, ",\n\t");
			else
				nat_buf_printf(b, "%s element %s %s { ", verb,
					       nat_table_names[nat_set_table(s)], nat_set_names[s]);
			nat_buf_elem(b, &e->v[i], true);
			open = true;
		}
		if (open)
			nat_buf_printf(b, " }\n");
	}
}

static void buf_rule(struct nat_buf *b, size_t i)
{
	nat_buf_printf(b, "%s comment \"ctnet:%s\"", rules[i].rule, rules[i].comment);
}

/* Sets and chains (with their rules) of table t, in a "table X { ... }" block. */
static void buf_table_body(struct nat_buf *b, int t, const struct nat_config *cfg)
{
	nat_buf_printf(b, "table %s {\n", nat_table_names[t]);
	for (int s = 0; s < NAT_S_COUNT; s++)
		if (nat_set_table(s) == t)
			nat_buf_printf(b, "\t%s %s { %s }\n", set_kind(s), nat_set_names[s], set_decl[s]);
	for (int c = 0; c < NAT_CHAINS; c++) {
		if (nat_chain_table(c) != t)
			continue;
		nat_buf_printf(b, "\tchain %s {\n\t\t%s\n", nat_chain_names[c], chain_decl[c]);
		for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
			if (rules[i].chain != c || !rule_applies(i, cfg))
				continue;
			nat_buf_printf(b, "\t\t");
			buf_rule(b, i);
			nat_buf_printf(b, "\n");
		}
		nat_buf_printf(b, "\t}\n");
	}
	nat_buf_printf(b, "}\n");
}

void nat_buf_table(struct nat_buf *b, const struct nat_config *cfg)
{
	/* "add" then "delete": replaces an old table without failing when there is none. */
	for (int t = 0; t < NAT_TABLES; t++)
		nat_buf_printf(b, "add table %s\ndelete table %s\n", nat_table_names[t],
			       nat_table_names[t]);
	for (int t = 0; t < NAT_TABLES; t++)
		buf_table_body(b, t, cfg);
}

void nat_buf_init(struct nat_buf *b, const struct nat_config *cfg)
{
	for (int t = 0; t < NAT_TABLES; t++)
		nat_buf_printf(b, "add table %s\n", nat_table_names[t]);
	for (int s = 0; s < NAT_S_COUNT; s++)
		nat_buf_printf(b, "add %s %s %s { %s }\n", set_kind(s),
			       nat_table_names[nat_set_table(s)], nat_set_names[s], set_decl[s]);
	nat_buf_printf(b, "flush set " NAT_TABLE " ext_ifaces\nflush set " NAT_TABLE " cluster4\n"
		       "flush set " NAT_TABLE " cluster6\n");
	for (int c = 0; c < NAT_CHAINS; c++) {
		const char *t = nat_table_names[nat_chain_table(c)];
		nat_buf_printf(b, "add chain %s %s { %s }\nflush chain %s %s\n", t,
			       nat_chain_names[c], chain_decl[c], t, nat_chain_names[c]);
		for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
			if (rules[i].chain != c || !rule_applies(i, cfg))
				continue;
			nat_buf_printf(b, "add rule %s %s ", t, nat_chain_names[c]);
			buf_rule(b, i);
			nat_buf_printf(b, "\n");
		}
	}
}

void nat_chain_comments(int chain, const struct nat_config *cfg, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		if (rules[i].chain != chain || !rule_applies(i, cfg))
			continue;
		int n = snprintf(buf + o, len - o, "%sctnet:%s", o ? "," : "", rules[i].comment);
		if (n < 0 || (size_t)n >= len - o)
			return;
		o += (size_t)n;
	}
}

bool nat_chain_rules_ours(int chain, const char *comments)
{
	bool seen[ARRAY_SIZE(rules)] = { false };
	const char *p = comments;

	while (p && *p) {
		const char *end = strchr(p, ','), *c = p;
		size_t len = end ? (size_t)(end - p) : strlen(p), i;
		p = end ? end + 1 : NULL;
		if (len < 6 || strncmp(c, "ctnet:", 6))
			return false;
		for (i = 0; i < ARRAY_SIZE(rules); i++)
			if (rules[i].chain == chain && strlen(rules[i].comment) == len - 6 &&
			    !strncmp(rules[i].comment, c + 6, len - 6))
				break;
		if (i == ARRAY_SIZE(rules) || seen[i])
			return false;
		seen[i] = true;
	}
	return true;
}
