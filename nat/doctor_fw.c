/* SPDX-License-Identifier: MIT */
/* doctor's firewall judgement: each packet of a container run through the host's ruleset,
 * one finding per culprit rule or policy. */
#include "doctor_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "finding.h"
#include "fw.h"

/* ctnet's own chains: prerouting at dstnat (-100), output at -100. */
#define CTNET_DNAT_PRIO (-100)

/* ---- packets of one container ---- */

static const char *const pclass_what[P_COUNT] = {
	"outgoing connections", "replies", "port forwards", "connections to the host",
	"port forwards from the host itself", "frames bridged to its neighbours (br_netfilter)",
};

/* A forwarded port's first packet (P_FWD from outside, P_LOCALFWD from the host itself), as
 * it looks at hook before or after ctnet's DNAT; false when there is none there. */
static bool forward_packet(const struct ct_view *v, enum pclass pc, bool v6, int hook, int prio,
			   struct fw_packet *p)
{
	const struct nat_container *c = v->c;
	const struct ctnet_addr *a = v6 ? &c->addr6 : &c->addr;
	size_t alen = v6 ? 16 : 4;
	const struct nat_forward *f = c->n_forwards ? &c->forwards[0] : NULL;

	if (!f)
		return false;
	if (pc == P_FWD && hook != NF_INET_FORWARD && hook != NF_INET_PRE_ROUTING &&
	    hook != NF_INET_POST_ROUTING)
		return false;
	if (pc == P_LOCALFWD && hook != NF_INET_LOCAL_OUT)
		return false;
	if (f->has_host_ip && (f->host_ip.family == AF_INET6) != v6)
		return false;
	p->l4proto = f->proto == NAT_UDP ? 17 : 6;
	p->ct_state = 1u << (IP_CT_NEW + 1);
	if ((hook == NF_INET_PRE_ROUTING || hook == NF_INET_LOCAL_OUT) && prio <= CTNET_DNAT_PRIO) {
		/* before ctnet's DNAT: to the host's port */
		p->dport = f->host_lo;
		p->daddr_local_known = true;
		p->daddr_local = true;
		if (f->has_host_ip) {
			p->has_daddr = true;
			memcpy(p->daddr, f->host_ip.bytes, alen);
		}
	} else {
		p->dport = f->container_lo;
		p->has_daddr = true;
		memcpy(p->daddr, a->bytes, alen);
		p->ct_status = IPS_DST_NAT | IPS_DST_NAT_DONE;
		p->daddr_local_known = true;
	}
	if (pc == P_FWD) {
		if (hook != NF_INET_POST_ROUTING)
			p->iif = v->uplink;
		if (hook != NF_INET_PRE_ROUTING)
			p->oif = v->l3;
	} else if (prio > CTNET_DNAT_PRIO) {
		p->oif = v->l3;
	}
	return true;
}

/* The packet of class pc at hook (and for a chain of priority prio) of container v. */
bool packet_of(const struct ct_view *v, enum pclass pc, bool v6, int hook, int prio,
	       struct fw_packet *p)
{
	const struct nat_container *c = v->c;
	const struct ctnet_addr *a = v6 ? &c->addr6 : &c->addr;
	size_t alen = v6 ? 16 : 4;

	memset(p, 0, sizeof(*p));
	p->v6 = v6;
	p->hook = hook;
	p->ct_status_known = true;
	switch (pc) {
	case P_OUT:
	case P_BRIDGED:
		/* P_BRIDGED: br_netfilter shows a frame to a neighbour on its bridge to the IP hooks,
		 * with the bridge as input and output device */
		if ((pc == P_BRIDGED && !v->bridged) ||
		    (hook != NF_INET_FORWARD && hook != NF_INET_PRE_ROUTING && hook != NF_INET_POST_ROUTING))
			return false;
		if (hook != NF_INET_POST_ROUTING)
			p->iif = v->l3;
		if (hook != NF_INET_PRE_ROUTING)
			p->oif = pc == P_OUT ? v->uplink : v->l3;
		p->has_saddr = true;
		memcpy(p->saddr, a->bytes, alen);
		p->ct_state = 1u << (IP_CT_NEW + 1);
		p->daddr_local_known = true;
		return true;
	case P_REPLY:
		if (hook != NF_INET_FORWARD)
			return false;
		p->iif = v->uplink;
		p->oif = v->l3;
		p->has_daddr = true;
		memcpy(p->daddr, a->bytes, alen);
		p->ct_state = 1u << (IP_CT_ESTABLISHED + 1);
		p->ct_status = IPS_SRC_NAT | IPS_SRC_NAT_DONE | IPS_CONFIRMED | IPS_SEEN_REPLY;
		return true;
	case P_FWD:
	case P_LOCALFWD:
		return forward_packet(v, pc, v6, hook, prio, p);
	case P_HOST:
		if (hook != NF_INET_LOCAL_IN && hook != NF_INET_PRE_ROUTING)
			return false;
		p->iif = v->l3;
		p->has_saddr = true;
		memcpy(p->saddr, a->bytes, alen);
		p->ct_state = 1u << (IP_CT_NEW + 1);
		p->daddr_local_known = true;
		p->daddr_local = true;
		return hook == NF_INET_LOCAL_IN;
	default:
		return false;
	}
}

/* ---- grouping: one finding per culprit ---- */

struct group *group_get(struct groups *g, const char *code, size_t chain, const struct fw_where *w,
			enum pclass pc, enum ctnet_severity sev)
{
	for (size_t i = 0; i < g->n; i++) {
		struct group *x = &g->v[i];
		if (x->code == code && x->chain == chain && x->policy == w->policy &&
		    x->handle == w->handle) {
			x->classes |= 1u << pc;
			if (sev > x->sev)
				x->sev = sev;
			return x;
		}
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct group *v = realloc(g->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		g->v = v;
		g->cap = cap;
	}
	struct group *x = &g->v[g->n++];
	memset(x, 0, sizeof(*x));
	x->sev = sev;
	x->code = code;
	x->chain = chain;
	x->policy = w->policy;
	x->handle = w->handle;
	x->comment = w->comment;
	x->pc = pc;
	x->classes = 1u << pc;
	return x;
}

void group_add(struct group *x, const struct ct_view *v, enum ctnet_severity sev, const char *why)
{
	if (!x)
		return;
	if (sev > x->sev)
		x->sev = sev;
	if (why && !x->why)
		x->why = why;
	if (x->count && !strcmp(x->last, v->c->name))
		return;
	snprintf(x->last, sizeof(x->last), "%s", v->c->name);
	if (!x->count++)
		snprintf(x->first, sizeof(x->first), "%s", v->c->name);
	/* Every kind of device among them (all veths are one pattern): the first of each */
	bool veth = !strncmp(v->l3, "ve-", 3);
	size_t k = 0;
	while (k < x->n_l3 && (veth ? strncmp(x->l3[k], "ve-", 3) : strcmp(x->l3[k], v->l3)))
		k++;
	if (k == x->n_l3 && k < ARRAY_SIZE(x->l3))
		snprintf(x->l3[x->n_l3++], sizeof(x->l3[0]), "%s", v->l3);
	size_t len = strlen(x->names);
	if (x->count <= 4)
		snprintf(x->names + len, sizeof(x->names) - len, "%s%s", len ? ", " : "", v->c->name);
}

static bool is_iptables_table(const struct fw_chain *c)
{
	static const char *const t[] = { "filter", "nat", "mangle", "raw", "security" };
	if (c->family != NFPROTO_IPV4 && c->family != NFPROTO_IPV6)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (!strcmp(c->table, t[i]))
			return true;
	return false;
}

/* "ve-+" (iptables) / "ve-*" (nft) for ctnet's veths, else the interface itself. */
static void iface_pattern(const char *l3, bool ipt, char *out, size_t len)
{
	if (!strncmp(l3, "ve-", 3))
		snprintf(out, len, "ve-%s", ipt ? "+" : "*");
	else
		snprintf(out, len, "%s", l3);
}

/* Appends to fix (of size len at *o) one command, " && " between them. */
static void fix_add(char *fix, size_t len, size_t *o, const char *fmt, ...) CTNET_PRINTF(4, 5);
static void fix_add(char *fix, size_t len, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (*o && *o + 4 < len) {
		memcpy(fix + *o, " && ", 5);
		*o += 4;
	}
	if (*o >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(fix + *o, len - *o, fmt, ap);
	va_end(ap);
	*o = n < 0 ? len : *o + (size_t)n;
}

/* The accepts for every device among the group's containers (veths as one pattern, each
 * bridge by name: with br_netfilter its bridged frames pass FORWARD by the bridge too). */
static void drop_fix(const struct fw_ruleset *rs, const struct group *x, char *fix, size_t len)
{
	const struct fw_chain *ch = &rs->chains[x->chain];
	bool ipt = is_iptables_table(ch), docker = ipt && !strcmp(ch->table, "filter") &&
		   fw_chain_find(rs, ch->family, "filter", "DOCKER-USER") >= 0 && ch->hook == NF_INET_FORWARD;
	const char *ipt_cmd = ch->family == NFPROTO_IPV6 ? "ip6tables" : "iptables";
	const char *fam = fw_family_name(ch->family);
	bool fwd = ch->hook == NF_INET_FORWARD;
	size_t o = 0;

	fix[0] = '\0';
	if (x->pc == P_LOCALFWD || x->pc == P_HOST)
		return;
	for (size_t k = 0; k < x->n_l3; k++) {
		char pat[IFNAMSIZ + 2];
		iface_pattern(x->l3[k], ipt, pat, sizeof(pat));
		if (docker)
			fix_add(fix, len, &o, "%s -I DOCKER-USER -i %s -j ACCEPT && %s -I DOCKER-USER -o %s -j ACCEPT",
				ipt_cmd, pat, ipt_cmd, pat);
		else if (ch->family == NFPROTO_INET && !strcmp(ch->table, "firewalld"))
			fix_add(fix, len, &o,
				"firewall-cmd --zone=trusted --add-interface=%s && "
				"firewall-cmd --permanent --zone=trusted --add-interface=%s", x->l3[k], x->l3[k]);
		else if (ipt && fwd)
			fix_add(fix, len, &o, "%s -t %s -I %s -i %s -j ACCEPT && %s -t %s -I %s -o %s -j ACCEPT",
				ipt_cmd, ch->table, ch->name, pat, ipt_cmd, ch->table, ch->name, pat);
		else if (ipt)
			fix_add(fix, len, &o, "%s -t %s -I %s %s %s -j ACCEPT", ipt_cmd, ch->table, ch->name,
				x->pc == P_OUT || x->pc == P_BRIDGED ? "-i" : "-o", pat);
		else if (fwd)
			fix_add(fix, len, &o,
				"nft 'insert rule %s %s %s iifname \"%s\" accept' && "
				"nft 'insert rule %s %s %s oifname \"%s\" ct state established,related accept'",
				fam, ch->table, ch->name, pat, fam, ch->table, ch->name, pat);
		else if ((x->pc == P_OUT || x->pc == P_BRIDGED) && ch->hook == NF_INET_PRE_ROUTING)
			fix_add(fix, len, &o, "nft 'insert rule %s %s %s iifname \"%s\" accept'", fam, ch->table,
				ch->name, pat);
	}
	if (!ipt && (fwd || !(x->pc == P_OUT || x->pc == P_BRIDGED) || ch->hook != NF_INET_PRE_ROUTING))
		fix_add(fix, len, &o, "nft 'insert rule %s %s %s ct status dnat accept'", fam, ch->table, ch->name);
}

static void where_str(const struct fw_ruleset *rs, const struct group *x, char *buf, size_t len)
{
	const struct fw_chain *ch = &rs->chains[x->chain];
	if (x->policy)
		snprintf(buf, len, "policy drop of %s %s %s (hook %s, priority %d)",
			 fw_family_name(ch->family), ch->table, ch->name, fw_hook_name(ch->hook), ch->prio);
	else
		snprintf(buf, len, "rule handle %llu%s%s%s of %s %s %s", (unsigned long long)x->handle,
			 x->comment && *x->comment ? " (comment \"" : "", x->comment ? x->comment : "",
			 x->comment && *x->comment ? "\")" : "", fw_family_name(ch->family), ch->table,
			 ch->name);
}

void groups_emit(const struct fw_ruleset *rs, const struct groups *g, struct ctnet_findings *out)
{
	for (size_t i = 0; i < g->n; i++) {
		const struct group *x = &g->v[i];
		const struct fw_chain *ch = &rs->chains[x->chain];
		char obj[160], where[400], fix[1024], who[200];
		snprintf(obj, sizeof(obj), "%s %s %s", fw_family_name(ch->family), ch->table, ch->name);
		where_str(rs, x, where, sizeof(where));
		if (x->count == 1)
			snprintf(who, sizeof(who), "container %s", x->first);
		else
			snprintf(who, sizeof(who), "%zu containers (%s%s)", x->count, x->names,
				 x->count > 4 ? ", ..." : "");
		if (!strcmp(x->code, "foreign-dnat")) {
			ctnet_finding_add(out, x->sev, x->code, x->count == 1 ? x->first : NULL, obj,
					  "remove or narrow that DNAT rule, or forward another host port",
					  "%s %s: %s DNATs %s at priority %d, before ctnet's DNAT (priority %d)%s%s",
					  x->sev == CTNET_SEV_BLOCKS ? "" : "may take", who, where,
					  pclass_what[x->pc], ch->prio, CTNET_DNAT_PRIO,
					  x->why ? "; undecided: " : "", x->why ? x->why : "");
			continue;
		}
		char what[200] = "";
		for (int pc = 0, k = 0; pc < P_COUNT; pc++) {
			if (!(x->classes & (1u << pc)))
				continue;
			size_t l = strlen(what);
			snprintf(what + l, sizeof(what) - l, "%s%s", k++ ? ", " : "", pclass_what[pc]);
		}
		drop_fix(rs, x, fix, sizeof(fix));
		ctnet_finding_add(out, x->sev, x->code, x->count == 1 ? x->first : NULL, obj, fix,
				  "%s %s the %s of %s%s%s", where,
				  x->sev == CTNET_SEV_BLOCKS ? "drops" :
				  !strcmp(x->code, "may-drop") ? "may drop" : "drops (unless an undecided rule accepts)",
				  what, who, x->why ? "; doctor could not decide " : "", x->why ? x->why : "");
	}
}

bool is_ctnet(const struct fw_chain *c)
{
	return c->family == NFPROTO_INET && !strcmp(c->table, "ctnet");
}

static const char *drop_code(int hook)
{
	switch (hook) {
	case NF_INET_FORWARD: return "forward-drop";
	case NF_INET_PRE_ROUTING: return "prerouting-drop";
	case NF_INET_POST_ROUTING: return "postrouting-drop";
	case NF_INET_LOCAL_IN: return "input-drop";
	default: return "output-drop";
	}
}

/* Every base chain on every hook that a packet of v passes; drops and foreign DNATs into g.
 * bases: the other tables' base chains (found once: a host may have 10,000 chains). */
void check_container(const struct fw_ruleset *rs, const size_t *bases, size_t n_bases,
		     const struct ct_view *v, struct groups *g)
{
	static const int hooks[] = { NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD,
				     NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING };
	for (int fam = 0; fam < 2; fam++) {
		bool v6 = fam == 1;
		if (v6 && !v->c->has_addr6)
			continue;
		for (int pc = 0; pc < P_COUNT; pc++) {
			for (size_t h = 0; h < ARRAY_SIZE(hooks); h++) {
				for (size_t bi = 0; bi < n_bases; bi++) {
					size_t ci = bases[bi];
					const struct fw_chain *ch = &rs->chains[ci];
					struct fw_packet p;
					struct fw_result res;
					if (!ch->base || ch->hook != hooks[h] || is_ctnet(ch))
						continue;
					if (!packet_of(v, (enum pclass)pc, v6, hooks[h], ch->prio, &p) ||
					    !fw_chain_applies(ch, &p))
						continue;
					bool nat = !strcmp(ch->type, "nat");
					if (nat && pc != P_FWD && pc != P_LOCALFWD)
						continue;
					if (nat && ch->prio > CTNET_DNAT_PRIO)
						continue;
					fw_eval_chain(rs, ci, &p, &res);
					if (nat) {
						if (res.v == FW_V_DNAT)
							group_add(group_get(g, "foreign-dnat", res.who.chain, &res.who,
									    (enum pclass)pc, CTNET_SEV_BLOCKS),
								  v, CTNET_SEV_BLOCKS, NULL);
						else if (res.maybe_dnat)
							group_add(group_get(g, "foreign-dnat", res.maybe_who.chain,
									    &res.maybe_who, (enum pclass)pc,
									    CTNET_SEV_DEGRADES),
								  v, CTNET_SEV_DEGRADES, res.maybe_why);
						continue;
					}
					/* Connections to the host and localhost forwards matter less than
					 * the container's own traffic. */
					enum ctnet_severity hard = pc == P_HOST ? CTNET_SEV_NOTE :
								   pc == P_LOCALFWD ? CTNET_SEV_DEGRADES :
								   CTNET_SEV_BLOCKS;
					if (res.v == FW_V_DROP) {
						enum ctnet_severity sev = res.maybe_accept && hard == CTNET_SEV_BLOCKS ?
							CTNET_SEV_DEGRADES : hard;
						group_add(group_get(g, drop_code(ch->hook), res.who.chain, &res.who,
								    (enum pclass)pc, sev),
							  v, sev, res.maybe_accept ? "a rule before it that may accept" : NULL);
					} else if (res.maybe_drop) {
						group_add(group_get(g, "may-drop", res.maybe_who.chain, &res.maybe_who,
								    (enum pclass)pc, CTNET_SEV_NOTE),
							  v, CTNET_SEV_NOTE, res.maybe_why);
					}
				}
			}
		}
	}
}
