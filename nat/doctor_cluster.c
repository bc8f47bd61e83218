/* SPDX-License-Identifier: MIT */
/*
 * ctnet doctor, the cross-host part of NAT: are containers' packets to a cluster CIDR left
 * unmasqueraded? The recorded cluster CIDRs against the kernel's sets, and every other
 * tool's nat chain on the postrouting hook that would masquerade such a packet (ctnet's
 * chain lets it pass unbound, so a later chain still may).
 */
#include "doctor_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <stdio.h>
#include <string.h>

int nat_cluster_recorded(struct ctnet_addr *out, size_t max, struct ctnet_err *err)
{
	struct nat_store s;
	struct nat_config cfg;
	int r = nat_store_open(&s, false, false, err);
	if (r == -ENOENT) {
		ctnet_err_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	r = nat_store_config_read(&s, &cfg, err);
	nat_store_close(&s);
	if (r < 0)
		return r;
	size_t n = cfg.n_cluster < max ? cfg.n_cluster : max;
	memcpy(out, cfg.cluster, n * sizeof(*out));
	return (int)n;
}

static bool net_in(const struct ctnet_addr *a, const struct ctnet_addr *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].family == a->family && v[i].prefix == a->prefix && ctnet_addr_equal(&v[i], a))
			return true;
	return false;
}

/* A cluster CIDR in the recorded list but not the kernel's sets (missing), or the reverse. */
static void set_finding(struct ctnet_findings *out, const struct ctnet_addr *net, bool missing)
{
	char s[CTNET_ADDR_STRLEN], obj[64];
	snprintf(obj, sizeof(obj), "set inet ctnet %s", net->family == AF_INET6 ? "cluster6" : "cluster4");
	ctnet_addr_cidr_str(net, s);
	if (missing)
		ctnet_finding_add(out, CTNET_SEV_DEGRADES, "cluster-masqueraded", NULL, obj, "ctnet-nat restore",
				  "cluster CIDR %s is recorded but not in the kernel's set: containers' traffic "
				  "to it is masqueraded (other hosts see this host's address)", s);
	else
		ctnet_finding_add(out, CTNET_SEV_DEGRADES, "cluster-unrecorded", NULL, obj, "ctnet-nat restore",
				  "the kernel's set holds %s, which is not a recorded cluster CIDR: containers' "
				  "traffic to it leaves unmasqueraded", s);
}

/* The recorded CIDRs against the kernel's sets (drift: restore puts them back). */
static void check_sets(const struct nat_counters *cn, const struct ctnet_addr *want, size_t n_want,
		       struct ctnet_findings *out)
{
	struct ctnet_addr have[2 * NAT_MAX_CLUSTER];
	int n_have = nat_counters_cluster(cn, have, ARRAY_SIZE(have));
	if (n_have < 0)
		return; /* no table: check_table says so */
	for (size_t i = 0; i < n_want; i++)
		if (!net_in(&want[i], have, (size_t)n_have))
			set_finding(out, &want[i], true);
	for (int i = 0; i < n_have; i++)
		if (!net_in(&have[i], want, n_want))
			set_finding(out, &have[i], false);
}

/* Whether rule (chain ci, handle) masquerades or source-NATs what it matches. */
static bool rule_snats(const struct fw_ruleset *rs, size_t ci, uint64_t handle)
{
	const struct fw_chain *c = &rs->chains[ci];
	for (size_t k = 0; k < c->n_rules; k++) {
		const struct fw_rule *r = &rs->rules[rs->order[c->first_rule + k]];
		if (r->handle != handle)
			continue;
		for (size_t e = 0; e < r->n_ex; e++) {
			const struct fw_expr *x = &r->ex[e];
			const char *tg = x->kind == FW_EX_TARGET ? attr_str(x->t[NFTA_TARGET_NAME]) : NULL;
			if (x->kind == FW_EX_MASQ ||
			    (x->kind == FW_EX_NAT && x->t[NFTA_NAT_TYPE] && attr_be32(x->t[NFTA_NAT_TYPE]) == NFT_NAT_SNAT) ||
			    (tg && (!strcmp(tg, "MASQUERADE") || !strcmp(tg, "SNAT"))))
				return true;
		}
	}
	return false;
}

/* A packet of container c to dst (in cluster CIDR net) through every other tool's nat
 * chain on postrouting: a finding per chain whose rule masquerades it. */
static void check_foreign(const struct fw_ruleset *rs, const struct nat_container *c, const char *l3,
			  const struct ctnet_addr *net, const struct ctnet_addr *dst, const char *oif,
			  struct ctnet_findings *out)
{
	bool v6 = net->family == AF_INET6;
	struct fw_packet p = { .v6 = v6, .hook = NF_INET_POST_ROUTING, .iif = l3, .oif = oif && *oif ? oif : NULL,
			       .has_saddr = true, .has_daddr = true, .l4proto = 6, .dport = 80,
			       .ct_state = NF_CT_STATE_BIT(IP_CT_NEW), .ct_status_known = true,
			       .daddr_local_known = true };
	char src[CTNET_ADDR_STRLEN], d[CTNET_ADDR_STRLEN], cidr[CTNET_ADDR_STRLEN], obj[160], fix[400];
	memcpy(p.saddr, (v6 ? &c->addr6 : &c->addr)->bytes, v6 ? 16 : 4);
	memcpy(p.daddr, dst->bytes, v6 ? 16 : 4);
	for (size_t i = 0; i < rs->n_chains; i++) {
		const struct fw_chain *ch = &rs->chains[i];
		struct fw_result res;
		if (!ch->base || is_ctnet(ch) || strcmp(ch->type, "nat") || !fw_chain_applies(ch, &p))
			continue;
		fw_eval_chain(rs, i, &p, &res);
		if (res.v != FW_V_ACCEPT || res.who.policy || !rule_snats(rs, res.who.chain, res.who.handle))
			continue;
		const struct fw_chain *at = &rs->chains[res.who.chain];
		snprintf(obj, sizeof(obj), "%s %s %s rule %llu", fw_family_name(at->family), at->table, at->name,
			 (unsigned long long)res.who.handle);
		ctnet_addr_cidr_str(net, cidr);
		if (at->family == NFPROTO_IPV4 || at->family == NFPROTO_IPV6)
			snprintf(fix, sizeof(fix), "%s -t nat -I %s -d %s -j RETURN (before the masquerade; or "
				 "exclude the cluster CIDRs in the tool that wrote it)", v6 ? "ip6tables" : "iptables",
				 ch->name, cidr);
		else
			snprintf(fix, sizeof(fix), "nft insert rule %s %s %s %s daddr %s return (or exclude the "
				 "cluster CIDRs in the tool that wrote it)", fw_family_name(ch->family), ch->table,
				 ch->name, v6 ? "ip6" : "ip", cidr);
		ctnet_finding_add(out, CTNET_SEV_DEGRADES, "cluster-masq-foreign", c->name, obj, fix,
				  "another tool's rule masquerades container %s's packets to %s (cluster CIDR %s): "
				  "the other host sees this host's address, not %s",
				  c->name, ctnet_addr_str(dst, d), cidr, ctnet_addr_str(v6 ? &c->addr6 : &c->addr, src));
	}
}

void nat_doctor_cluster(const struct nat_doctor_view *v, const struct nat_counters *cn, const struct nat_doctor_ct *cts,
			size_t n, const struct nat_cluster_probe *probes, size_t n_probes, struct ctnet_findings *out)
{
	struct ctnet_addr want[NAT_MAX_CLUSTER];
	for (size_t i = 0; i < n_probes && i < NAT_MAX_CLUSTER; i++)
		want[i] = probes[i].net;
	if (cn)
		check_sets(cn, want, n_probes < NAT_MAX_CLUSTER ? n_probes : NAT_MAX_CLUSTER, out);
	/* One container of each family stands for all: their packets differ only in source. */
	for (size_t i = 0; v && i < n_probes; i++) {
		bool v6 = probes[i].net.family == AF_INET6;
		for (size_t k = 0; k < n; k++) {
			if (v6 && !cts[k].c->has_addr6)
				continue;
			check_foreign(nat_doctor_ruleset(v), cts[k].c, cts[k].l3iface, &probes[i].net, &probes[i].dst,
				      probes[i].oif, out);
			break;
		}
	}
}
