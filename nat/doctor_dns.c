/* SPDX-License-Identifier: MIT */
/* doctor's DNS path (the host's side of `ctnet dns`): a socket of the host on each
 * container's server address, port 53, and no other table dropping the queries to it. */
#include "doctor_int.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finding.h"
#include "fw.h"

static const char CODE_DROP[] = "dns-input-drop", CODE_MAYBE[] = "dns-may-drop";

/* A socket of proto on a's port 53 (or on the family's wildcard). */
static bool listening(const struct listeners *l, uint8_t proto, const struct ctnet_addr *a)
{
	static const uint8_t zero[16];
	bool v6 = a->family == AF_INET6;
	size_t al = v6 ? 16 : 4;

	for (size_t i = 0; i < l->n; i++) {
		const struct listener *x = &l->v[i];
		if (x->proto == proto && x->port == 53 && x->v6 == v6 &&
		    (!memcmp(x->addr, a->bytes, al) || !memcmp(x->addr, zero, al)))
			return true;
	}
	return false;
}

/* "web, db, ... (N)" of the paths whose bit is set. */
static void names_of(const struct nat_dns_path *p, const bool *bad, size_t n, char *buf, size_t len, size_t *count,
		     size_t *first)
{
	size_t k = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!bad[i] || (k && !strcmp(p[i].name, p[*first].name)))
			continue;
		if (!k++)
			*first = i;
		size_t l = strlen(buf);
		if (k <= 4)
			snprintf(buf + l, len - l, "%s%s", l ? ", " : "", p[i].name);
		else if (k == 5)
			snprintf(buf + l, len - l, ", ...");
	}
	*count = k;
}

static void check_listen(const struct listeners *l, const struct nat_dns_path *p, size_t n, struct ctnet_findings *out)
{
	bool *bad = calloc(n ? n : 1, sizeof(*bad));
	char names[200], addr[INET6_ADDRSTRLEN], obj[160];
	size_t count = 0, first = 0;

	if (!bad) {
		out->oom = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		bad[i] = !listening(l, 17, &p[i].server) || !listening(l, 6, &p[i].server);
	names_of(p, bad, n, names, sizeof(names), &count, &first);
	if (count) {
		inet_ntop(p[first].server.family, p[first].server.bytes, addr, sizeof(addr));
		snprintf(obj, sizeof(obj), "port 53 on %s (%s)", addr, p[first].l3iface);
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "dns-not-listening", count == 1 ? p[first].name : NULL, obj,
				  "systemctl restart ctnet-dns (or restart `ctnet dns`); a bridge a default route "
				  "leaves through is never served",
				  "ctnet dns runs, but no socket of the host listens on udp and tcp %s%s%s:53, where "
				  "%zu container%s (%s) ask%s for names",
				  p[first].server.family == AF_INET6 ? "[" : "", addr,
				  p[first].server.family == AF_INET6 ? "]" : "", count, count == 1 ? "" : "s", names,
				  count == 1 ? "s" : "");
	}
	free(bad);
}

/* The query of path p (udp or tcp) as chains at hook see it. */
static bool query_packet(const struct nat_dns_path *p, uint8_t proto, int hook, struct fw_packet *pk)
{
	size_t al = p->addr.family == AF_INET6 ? 16 : 4;
	if (hook != NF_INET_PRE_ROUTING && hook != NF_INET_LOCAL_IN)
		return false;
	memset(pk, 0, sizeof(*pk));
	pk->v6 = p->addr.family == AF_INET6;
	pk->hook = hook;
	pk->iif = p->l3iface;
	pk->has_saddr = pk->has_daddr = true;
	memcpy(pk->saddr, p->addr.bytes, al);
	memcpy(pk->daddr, p->server.bytes, al);
	pk->l4proto = proto;
	pk->dport = 53;
	pk->ct_state = 1u << (IP_CT_NEW + 1);
	pk->ct_status_known = true;
	pk->daddr_local_known = pk->daddr_local = true;
	return true;
}

/* Each path's queries through the other tables' filter chains: drops into g. */
static void check_path(const struct fw_ruleset *rs, const struct nat_dns_path *p, struct groups *g)
{
	static const int hooks[] = { NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN };
	static const uint8_t protos[] = { 17, 6 };
	struct nat_container c = { .name = p->name, .iface = p->l3iface };
	struct ct_view v = { .c = &c, .l3 = p->l3iface };

	for (size_t k = 0; k < ARRAY_SIZE(protos); k++)
		for (size_t h = 0; h < ARRAY_SIZE(hooks); h++)
			for (size_t ci = 0; ci < rs->n_chains; ci++) {
				const struct fw_chain *ch = &rs->chains[ci];
				struct fw_packet pk;
				struct fw_result res;
				if (!ch->base || ch->hook != hooks[h] || is_ctnet(ch) || strcmp(ch->type, "filter") ||
				    !query_packet(p, protos[k], hooks[h], &pk) || !fw_chain_applies(ch, &pk))
					continue;
				fw_eval_chain(rs, ci, &pk, &res);
				if (res.v == FW_V_DROP) {
					enum ctnet_severity sev = res.maybe_accept ? CTNET_SEV_DEGRADES : CTNET_SEV_BLOCKS;
					group_add(group_get(g, CODE_DROP, res.who.chain, &res.who, P_HOST, sev), &v, sev,
						  res.maybe_accept ? "a rule before it that may accept" : NULL);
				} else if (res.maybe_drop) {
					group_add(group_get(g, CODE_MAYBE, res.maybe_who.chain, &res.maybe_who, P_HOST,
							    CTNET_SEV_NOTE),
						  &v, CTNET_SEV_NOTE, res.maybe_why);
				}
			}
}

static void drop_fix1(const struct fw_chain *ch, const char *l3, char *fix, size_t len)
{
	bool ve = !strncmp(l3, "ve-", 3);
	bool ipt = (ch->family == NFPROTO_IPV4 || ch->family == NFPROTO_IPV6) && !strcmp(ch->table, "filter");
	if (ipt) {
		const char *cmd = ch->family == NFPROTO_IPV6 ? "ip6tables" : "iptables";
		snprintf(fix, len, "%s -I %s -i %s -p udp --dport 53 -j ACCEPT && %s -I %s -i %s -p tcp --dport 53 -j ACCEPT",
			 cmd, ch->name, ve ? "ve-+" : l3, cmd, ch->name, ve ? "ve-+" : l3);
		return;
	}
	snprintf(fix, len, "nft 'insert rule %s %s %s iifname \"%s\" meta l4proto { udp, tcp } th dport 53 accept'",
		 fw_family_name(ch->family), ch->table, ch->name, ve ? "ve-*" : l3);
}

/* The accepts for every device the group's containers use (ve-* for all veths, each bridge). */
static void drop_fix(const struct fw_chain *ch, const struct group *x, char *fix, size_t len)
{
	size_t used = 0;
	fix[0] = 0;
	for (size_t k = 0; k < x->n_l3 && used < len; k++) {
		char one[512];
		drop_fix1(ch, x->l3[k], one, sizeof(one));
		int n = snprintf(fix + used, len - used, "%s%s", k ? " && " : "", one);
		used += n > 0 ? (size_t)n : 0;
	}
}

static void emit_drops(const struct fw_ruleset *rs, const struct groups *g, struct ctnet_findings *out)
{
	for (size_t i = 0; i < g->n; i++) {
		const struct group *x = &g->v[i];
		const struct fw_chain *ch = &rs->chains[x->chain];
		char obj[160], fix[1024], who[220], where[200];
		snprintf(obj, sizeof(obj), "%s %s %s", fw_family_name(ch->family), ch->table, ch->name);
		if (x->policy)
			snprintf(where, sizeof(where), "the policy drop of %s (hook %s, priority %d)", obj,
				 fw_hook_name(ch->hook), ch->prio);
		else
			snprintf(where, sizeof(where), "rule handle %llu of %s", (unsigned long long)x->handle, obj);
		if (x->count == 1)
			snprintf(who, sizeof(who), "container %s", x->first);
		else
			snprintf(who, sizeof(who), "%zu containers (%s%s)", x->count, x->names, x->count > 4 ? ", ..." : "");
		drop_fix(ch, x, fix, sizeof(fix));
		ctnet_finding_add(out, x->sev, x->code, x->count == 1 ? x->first : NULL, obj, fix,
				  "%s %s the DNS queries (udp/tcp 53 to the host) of %s%s%s", where,
				  x->code == CODE_MAYBE ? "may drop" : "drops", who, x->why ? "; undecided: " : "",
				  x->why ? x->why : "");
	}
}

void nat_doctor_dns(const struct nat_doctor_view *v, const struct nat_dns_path *p, size_t n, bool listen,
		    struct ctnet_findings *out)
{
	const struct fw_ruleset *rs = nat_doctor_ruleset(v);
	struct groups g = { 0 };

	if (listen)
		check_listen(nat_doctor_listeners(v), p, n, out);
	for (size_t i = 0; i < n; i++)
		check_path(rs, &p[i], &g);
	emit_drops(rs, &g, out);
	free(g.v);
}
