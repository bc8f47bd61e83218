/* SPDX-License-Identifier: MIT */
/*
 * The host's whole nf_tables ruleset as data, for doctor and trace: one dump of every chain
 * and one of every rule, all families (iptables-nft's tables are nf_tables tables too).
 * fweval.c runs a described packet through the chains read here.
 */
#include "fw.h"
#include "nat_int.h"
#include "nlsock.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- reading ---- */

struct rd {
	struct fw_ruleset *rs;
	bool oom;
	bool chains;  /* the dump being read is of chains (else rules) */
	size_t mark;  /* rules before it */
};

const char *attr_str(const struct nlattr *a)
{
	return a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 ? mnl_attr_get_str(a) : NULL;
}

uint32_t attr_be32(const struct nlattr *a)
{
	return a && mnl_attr_get_payload_len(a) >= 4 ? ntohl(mnl_attr_get_u32(a)) : 0;
}

/* Top-level attributes of an nf_tables message, by type (at most max). */
static void msg_attrs(const struct nlmsghdr *nlh, const struct nlattr **tb, int max)
{
	const struct nlattr *a;
	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		int t = mnl_attr_get_type(a);
		if (t <= max)
			tb[t] = a;
	}
}

void nest_attrs(const struct nlattr *nest, const struct nlattr **tb, int max)
{
	const struct nlattr *a;
	memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
	if (!nest)
		return;
	mnl_attr_for_each_nested(a, nest) {
		int t = mnl_attr_get_type(a);
		if (t <= max)
			tb[t] = a;
	}
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rd *d = data;
	struct fw_ruleset *rs = d->rs;
	const struct nlattr *tb[NFTA_CHAIN_MAX + 1], *hk[NFTA_HOOK_MAX + 1];
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	const char *table, *name, *type;

	msg_attrs(nlh, tb, NFTA_CHAIN_MAX);
	table = attr_str(tb[NFTA_CHAIN_TABLE]);
	name = attr_str(tb[NFTA_CHAIN_NAME]);
	if (!table || !name)
		return MNL_CB_OK;
	if (CTNET_GROW(rs->chains, rs->n_chains, rs->cap_chains, 64) < 0) {
		d->oom = true;
		return -ENOMEM;
	}
	struct fw_chain *c = &rs->chains[rs->n_chains++];
	memset(c, 0, sizeof(*c));
	c->family = nfg->nfgen_family;
	snprintf(c->table, sizeof(c->table), "%s", table);
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (tb[NFTA_CHAIN_HOOK]) {
		nest_attrs(tb[NFTA_CHAIN_HOOK], hk, NFTA_HOOK_MAX);
		if (hk[NFTA_HOOK_HOOKNUM]) {
			c->base = true;
			c->hook = (int)attr_be32(hk[NFTA_HOOK_HOOKNUM]);
			c->prio = (int32_t)attr_be32(hk[NFTA_HOOK_PRIORITY]);
			c->policy = tb[NFTA_CHAIN_POLICY] ? (int)attr_be32(tb[NFTA_CHAIN_POLICY]) : NF_ACCEPT;
		}
	}
	type = attr_str(tb[NFTA_CHAIN_TYPE]);
	snprintf(c->type, sizeof(c->type), "%s", type ? type : "filter");
	return MNL_CB_OK;
}

static int chain_cmp(const void *a, const void *b)
{
	const struct fw_chain *x = a, *y = b;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	int r = strcmp(x->table, y->table);
	return r ? r : strcmp(x->name, y->name);
}

int fw_chain_find(const struct fw_ruleset *rs, int family, const char *table, const char *name)
{
	struct fw_chain key;
	key.family = (uint8_t)family;
	snprintf(key.table, sizeof(key.table), "%s", table);
	snprintf(key.name, sizeof(key.name), "%s", name);
	const struct fw_chain *c = rs->n_chains ?
		bsearch(&key, rs->chains, rs->n_chains, sizeof(key), chain_cmp) : NULL;
	return c ? (int)(c - rs->chains) : -1;
}

/* The rule's comment: libnftnl's userdata TLV (type 0 = comment, NUL-terminated). */
static void rule_comment(const struct nlattr *a, char *out, size_t len)
{
	out[0] = '\0';
	if (!a)
		return;
	const uint8_t *p = mnl_attr_get_payload(a);
	size_t n = mnl_attr_get_payload_len(a), off = 0;
	while (off + 2 <= n && off + 2 + p[off + 1] <= n) {
		if (p[off] == 0 && p[off + 1] > 0) {
			snprintf(out, len, "%.*s", (int)strnlen((const char *)p + off + 2, p[off + 1]),
				 p + off + 2);
			return;
		}
		off += 2 + p[off + 1];
	}
}

static int expr_kind(const char *name)
{
	static const struct {
		const char *name;
		int kind;
	} k[] = {
		{ "meta", FW_EX_META }, { "payload", FW_EX_PAYLOAD }, { "ct", FW_EX_CT },
		{ "fib", FW_EX_FIB }, { "bitwise", FW_EX_BITWISE }, { "cmp", FW_EX_CMP },
		{ "immediate", FW_EX_IMMEDIATE }, { "reject", FW_EX_REJECT }, { "nat", FW_EX_NAT },
		{ "masq", FW_EX_MASQ }, { "redir", FW_EX_REDIR }, { "match", FW_EX_MATCH },
		{ "target", FW_EX_TARGET }, { "lookup", FW_EX_LOOKUP }, { "last", FW_EX_LAST },
		{ "range", FW_EX_STATE }, { "limit", FW_EX_STATE }, { "quota", FW_EX_STATE },
		{ "socket", FW_EX_STATE }, { "exthdr", FW_EX_STATE }, { "connlimit", FW_EX_STATE },
		{ "osf", FW_EX_STATE }, { "hash", FW_EX_STATE }, { "numgen", FW_EX_STATE },
		{ "rt", FW_EX_STATE }, { "xfrm", FW_EX_STATE }, { "tunnel", FW_EX_STATE },
		{ "inner", FW_EX_STATE },
	};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (!strcmp(name, k[i].name))
			return k[i].kind;
	return FW_EX_OTHER;
}

/* r->exprs taken apart into r->ex (pointers into r->exprs). */
int fw_rule_decode(struct fw_rule *r)
{
	const struct nlattr *el, *exprs = r->exprs;
	size_t n = 0;

	mnl_attr_for_each_nested(el, exprs)
		n++;
	if (!n)
		return 0;
	if (!(r->ex = calloc(n, sizeof(*r->ex))))
		return -ENOMEM;
	mnl_attr_for_each_nested(el, exprs) {
		const struct nlattr *e[NFTA_EXPR_MAX + 1];
		nest_attrs(el, e, NFTA_EXPR_MAX);
		const char *name = attr_str(e[NFTA_EXPR_NAME]);
		if (!name)
			continue;
		struct fw_expr *x = &r->ex[r->n_ex++];
		x->name = name;
		x->kind = expr_kind(name);
		nest_attrs(e[NFTA_EXPR_DATA], x->t, 16);
	}
	return 0;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rd *d = data;
	struct fw_ruleset *rs = d->rs;
	const struct nlattr *tb[NFTA_RULE_MAX + 1];
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	const char *table, *chain;

	msg_attrs(nlh, tb, NFTA_RULE_MAX);
	table = attr_str(tb[NFTA_RULE_TABLE]);
	chain = attr_str(tb[NFTA_RULE_CHAIN]);
	if (!table || !chain)
		return MNL_CB_OK;
	int ci = fw_chain_find(rs, nfg->nfgen_family, table, chain);
	if (ci < 0) /* a chain added between the two dumps */
		return MNL_CB_OK;
	if (CTNET_GROW(rs->rules, rs->n_rules, rs->cap_rules, 256) < 0) {
		d->oom = true;
		return -ENOMEM;
	}
	struct fw_rule *r = &rs->rules[rs->n_rules];
	memset(r, 0, sizeof(*r));
	r->chain = (size_t)ci;
	if (tb[NFTA_RULE_HANDLE] && mnl_attr_get_payload_len(tb[NFTA_RULE_HANDLE]) == 8)
		r->handle = be64toh(mnl_attr_get_u64(tb[NFTA_RULE_HANDLE]));
	rule_comment(tb[NFTA_RULE_USERDATA], r->comment, sizeof(r->comment));
	if (tb[NFTA_RULE_EXPRESSIONS]) {
		size_t len = mnl_attr_get_len(tb[NFTA_RULE_EXPRESSIONS]);
		if (!(r->exprs = malloc(len))) {
			d->oom = true;
			return -ENOMEM;
		}
		memcpy(r->exprs, tb[NFTA_RULE_EXPRESSIONS], len);
		if (fw_rule_decode(r) < 0) {
			free(r->exprs);
			d->oom = true;
			return -ENOMEM;
		}
	}
	rs->n_rules++;
	return MNL_CB_OK;
}

/* A re-read (the ruleset changed during the dump) starts again where this dump began. */
static void rd_restart(void *data)
{
	struct rd *d = data;
	struct fw_ruleset *rs = d->rs;
	if (d->chains) {
		rs->n_chains = 0;
		return;
	}
	while (rs->n_rules > d->mark) {
		struct fw_rule *r = &rs->rules[--rs->n_rules];
		free(r->exprs);
		free(r->ex);
	}
}

/* One nf_tables dump of every object of a kind, all families (or those of table). */
static int dump(struct ctnet_nl *nl, int type, const char *table, int family, ctnet_nl_cb cb, struct rd *d,
		struct ctnet_err *err)
{
	char buf[512] __attribute__((aligned(4))) = { 0 }; /* attribute padding is sent too */
	struct nlmsghdr *nlh = nat_nfmsg(buf, NFNL_SUBSYS_NFTABLES, type, family);

	if (table)
		mnl_attr_put_strz(nlh, type == NFT_MSG_GETRULE ? NFTA_RULE_TABLE : NFTA_CHAIN_TABLE, table);
	d->chains = type == NFT_MSG_GETCHAIN;
	d->mark = d->rs->n_rules;
	return ctnet_nl_dump(nl, nlh, cb, rd_restart, d, err, "nftables: read %s%s%s",
			     type == NFT_MSG_GETRULE ? "rules" : "chains", table ? " of table " : "",
			     table ? table : "");
}

void fw_index_rules(struct fw_ruleset *rs)
{
	/* Rules arrive chain by chain, in order; a stable bucket sort keeps that order. */
	for (size_t i = 0; i < rs->n_chains; i++)
		rs->chains[i].n_rules = 0;
	for (size_t i = 0; i < rs->n_rules; i++)
		rs->chains[rs->rules[i].chain].n_rules++;
	size_t off = 0;
	for (size_t i = 0; i < rs->n_chains; i++) {
		rs->chains[i].first_rule = off;
		off += rs->chains[i].n_rules;
		rs->chains[i].n_rules = 0;
	}
	rs->order = malloc((rs->n_rules ? rs->n_rules : 1) * sizeof(*rs->order));
	if (!rs->order)
		return;
	for (size_t i = 0; i < rs->n_rules; i++) {
		struct fw_chain *c = &rs->chains[rs->rules[i].chain];
		rs->order[c->first_rule + c->n_rules++] = i;
	}
}

static int read_rules(struct ctnet_nl *nl, struct fw_ruleset *rs, int family, const char *table,
		      struct ctnet_err *err)
{
	struct rd d = { .rs = rs };
	int r = dump(nl, NFT_MSG_GETRULE, table, family, rule_cb, &d, err);
	if (r < 0)
		return r;
	free(rs->order);
	fw_index_rules(rs);
	if (!rs->order)
		return ctnet_errf(err, ENOMEM, "nftables: read rules: out of memory");
	return 0;
}

/* Every table's chains into rs (sorted), on kern's nfnetlink handle (*nl); 0 or -errno. */
static int chains_read(struct ctnet_kern *kern, struct ctnet_nl **nl, struct fw_ruleset *rs,
		       struct ctnet_err *err)
{
	struct rd d = { .rs = rs };
	int r;

	memset(rs, 0, sizeof(*rs));
	if ((r = ctnet_kern_nf(kern, nl, err)) < 0 ||
	    (r = dump(*nl, NFT_MSG_GETCHAIN, NULL, NFPROTO_UNSPEC, chain_cb, &d, err)) < 0)
		return r;
	if (rs->n_chains)
		qsort(rs->chains, rs->n_chains, sizeof(*rs->chains), chain_cmp);
	return 0;
}

int fw_read(struct ctnet_kern *kern, struct fw_ruleset *rs, bool chains_only, struct ctnet_err *err)
{
	struct ctnet_nl *nl = NULL;
	int r;

	if ((r = chains_read(kern, &nl, rs, err)) < 0)
		goto out;
	if (chains_only) {
		fw_index_rules(rs);
		r = rs->order ? 0 : ctnet_errf(err, ENOMEM, "nftables: out of memory");
	} else {
		r = read_rules(nl, rs, NFPROTO_UNSPEC, NULL, err);
	}
out:
	if (r < 0)
		fw_free(rs);
	return r < 0 ? r : 0;
}

int fw_read_rules_of(struct ctnet_kern *kern, struct fw_ruleset *rs, bool (*want)(const struct fw_chain *c),
		     struct ctnet_err *err)
{
	struct ctnet_nl *nl = NULL;
	int r;

	if ((r = chains_read(kern, &nl, rs, err)) < 0)
		goto out;
	fw_index_rules(rs);
	r = rs->order ? 0 : ctnet_errf(err, ENOMEM, "nftables: out of memory");
	/* Sorted by family and table: a table's chains are neighbours. */
	for (size_t i = 0; i < rs->n_chains && r == 0; i++) {
		const struct fw_chain *c = &rs->chains[i];
		if (!want(c))
			continue;
		char table[sizeof(c->table)];
		int family = c->family;
		snprintf(table, sizeof(table), "%s", c->table);
		r = read_rules(nl, rs, family, table, err);
		while (i + 1 < rs->n_chains && rs->chains[i + 1].family == family &&
		       !strcmp(rs->chains[i + 1].table, table))
			i++;
	}
out:
	if (r < 0)
		fw_free(rs);
	return r < 0 ? r : 0;
}

void fw_free(struct fw_ruleset *rs)
{
	for (size_t i = 0; i < rs->n_rules; i++) {
		free(rs->rules[i].exprs);
		free(rs->rules[i].ex);
	}
	free(rs->rules);
	free(rs->chains);
	free(rs->order);
	memset(rs, 0, sizeof(*rs));
}

const char *fw_family_name(int family)
{
	switch (family) {
	case NFPROTO_INET: return "inet";
	case NFPROTO_IPV4: return "ip";
	case NFPROTO_IPV6: return "ip6";
	case NFPROTO_ARP: return "arp";
	case NFPROTO_BRIDGE: return "bridge";
	case NFPROTO_NETDEV: return "netdev";
	default: return "?";
	}
}

const char *fw_hook_name(int hook)
{
	static const char *const n[] = { "prerouting", "input", "forward", "output", "postrouting" };
	return hook >= 0 && hook < 5 ? n[hook] : "?";
}
