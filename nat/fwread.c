/* SPDX-License-Identifier: MIT */
/*
 * The host's whole nf_tables ruleset as data, for doctor and trace: one dump of every chain
 * and one of every rule, all families (iptables-nft's tables are nf_tables tables too), and a
 * small evaluator that runs a described packet (hook, interfaces, addresses, port, conntrack
 * state) through the base chains of a hook. What the evaluator cannot decide (a set lookup,
 * an xt match it does not know) makes a rule "maybe", so findings say "may" and not "does".
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

static const char *attr_str(const struct nlattr *a)
{
	return a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 ? mnl_attr_get_str(a) : NULL;
}

static uint32_t attr_be32(const struct nlattr *a)
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

static void nest_attrs(const struct nlattr *nest, const struct nlattr **tb, int max)
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

enum {
	FW_EX_OTHER, /* counter, log, notrack, dynset, objref, queue...: no effect on the match */
	FW_EX_META, FW_EX_PAYLOAD, FW_EX_CT, FW_EX_FIB, FW_EX_BITWISE, FW_EX_CMP, FW_EX_IMMEDIATE,
	FW_EX_REJECT, FW_EX_NAT, FW_EX_MASQ, FW_EX_REDIR, FW_EX_MATCH, FW_EX_TARGET,
	FW_EX_LOOKUP, FW_EX_LAST,
	FW_EX_STATE, /* the result depends on state doctor does not model */
};

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

/* ---- evaluating ---- */

/* nf_tables' register file: verdict, then 16 32-bit data registers (NFT_REG_1 is 32-bit
 * registers 0-3). Each byte is known or not. */
#define REG_BYTES 64
struct regs {
	uint8_t v[REG_BYTES];
	bool known[REG_BYTES];
};

static int reg_off(uint32_t reg, uint32_t len)
{
	int off;
	if (reg >= NFT_REG_1 && reg <= NFT_REG_4)
		off = (int)(reg - NFT_REG_1) * 16;
	else if (reg >= NFT_REG32_00 && reg <= NFT_REG32_15)
		off = (int)(reg - NFT_REG32_00) * 4;
	else
		return -1;
	return off + (int)len <= REG_BYTES ? off : -1;
}

static void reg_set(struct regs *rg, uint32_t reg, const void *p, uint32_t len)
{
	int off = reg_off(reg, p ? len : 0);
	if (off < 0)
		return;
	/* An unknown value of a size not known here (16) in one of the last 32-bit registers:
	 * what fits is unknown (skipping it would leave an earlier value there, known). */
	if (!p && off + (int)len > REG_BYTES)
		len = (uint32_t)(REG_BYTES - off);
	for (uint32_t i = 0; i < len; i++) {
		rg->known[off + (int)i] = p != NULL;
		rg->v[off + (int)i] = p ? ((const uint8_t *)p)[i] : 0;
	}
	/* The kernel zero-pads a value to the next 32-bit register. */
	for (uint32_t i = len; i % 4 && off + (int)i < REG_BYTES; i++) {
		rg->known[off + (int)i] = p != NULL;
		rg->v[off + (int)i] = 0;
	}
}

static const uint8_t *reg_get(const struct regs *rg, uint32_t reg, uint32_t len)
{
	int off = reg_off(reg, len);
	if (off < 0)
		return NULL;
	for (uint32_t i = 0; i < len; i++)
		if (!rg->known[off + (int)i])
			return NULL;
	return rg->v + off;
}

enum { M_NO, M_YES, M_MAYBE };

/* An nft_data value (NFTA_DATA_VALUE) or verdict. */
static const void *data_value(const struct nlattr *a, uint32_t *len)
{
	const struct nlattr *tb[NFTA_DATA_MAX + 1];
	nest_attrs(a, tb, NFTA_DATA_MAX);
	if (!tb[NFTA_DATA_VALUE])
		return NULL;
	*len = mnl_attr_get_payload_len(tb[NFTA_DATA_VALUE]);
	return mnl_attr_get_payload(tb[NFTA_DATA_VALUE]);
}

static bool data_verdict(const struct nlattr *a, int *code, const char **chain)
{
	const struct nlattr *tb[NFTA_DATA_MAX + 1], *vt[NFTA_VERDICT_MAX + 1];
	nest_attrs(a, tb, NFTA_DATA_MAX);
	if (!tb[NFTA_DATA_VERDICT])
		return false;
	nest_attrs(tb[NFTA_DATA_VERDICT], vt, NFTA_VERDICT_MAX);
	*code = (int)attr_be32(vt[NFTA_VERDICT_CODE]);
	*chain = attr_str(vt[NFTA_VERDICT_CHAIN]);
	return true;
}

static void meta_load(const struct fw_packet *p, uint32_t key, struct regs *rg, uint32_t dreg)
{
	char name[IFNAMSIZ];
	uint32_t u;
	uint16_t s;
	uint8_t b;

	switch (key) {
	case NFT_META_IIFNAME:
	case NFT_META_OIFNAME: {
		const char *n = key == NFT_META_IIFNAME ? p->iif : p->oif;
		if (!n)
			break;
		memset(name, 0, sizeof(name));
		snprintf(name, sizeof(name), "%s", n);
		reg_set(rg, dreg, name, IFNAMSIZ);
		return;
	}
	case NFT_META_IIF:
	case NFT_META_OIF:
		u = (uint32_t)(key == NFT_META_IIF ? p->iif_index : p->oif_index);
		if (!u)
			break;
		reg_set(rg, dreg, &u, 4);
		return;
	case NFT_META_NFPROTO:
		b = p->v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
		reg_set(rg, dreg, &b, 1);
		return;
	case NFT_META_PROTOCOL:
		s = htons(p->v6 ? 0x86dd : 0x0800);
		reg_set(rg, dreg, &s, 2);
		return;
	case NFT_META_L4PROTO:
		if (!p->l4proto)
			break;
		reg_set(rg, dreg, &p->l4proto, 1);
		return;
	}
	reg_set(rg, dreg, NULL, 16);
}

static void payload_load(const struct fw_packet *p, uint32_t base, uint32_t off, uint32_t len,
			 struct regs *rg, uint32_t dreg)
{
	size_t alen = p->v6 ? 16 : 4;
	uint32_t soff = p->v6 ? 8 : 12, doff = p->v6 ? 24 : 16;
	if (base == NFT_PAYLOAD_NETWORK_HEADER && len <= alen) {
		if (p->has_saddr && off >= soff && off + len <= soff + alen) {
			reg_set(rg, dreg, p->saddr + (off - soff), len);
			return;
		}
		if (p->has_daddr && off >= doff && off + len <= doff + alen) {
			reg_set(rg, dreg, p->daddr + (off - doff), len);
			return;
		}
		if (!p->v6 && off == 9 && len == 1 && p->l4proto) {
			reg_set(rg, dreg, &p->l4proto, 1);
			return;
		}
	}
	if (base == NFT_PAYLOAD_TRANSPORT_HEADER && off == 2 && len == 2 && p->dport) {
		uint16_t port = htons(p->dport);
		reg_set(rg, dreg, &port, 2);
		return;
	}
	reg_set(rg, dreg, NULL, len);
}

/* XT_ADDRTYPE_LOCAL = 1 << RTN_LOCAL; struct xt_addrtype_info_v1 { u16 source, dest; u32 flags; } */
static int xt_addrtype(const struct fw_packet *p, const struct nlattr *info, uint32_t rev)
{
	if (rev != 1 || !info || mnl_attr_get_payload_len(info) < 8 || !p->daddr_local_known)
		return M_MAYBE;
	const uint8_t *b = mnl_attr_get_payload(info);
	uint16_t src, dst;
	uint32_t flags;
	memcpy(&src, b, 2);
	memcpy(&dst, b + 2, 2);
	memcpy(&flags, b + 4, 4);
	if (src || (flags & ~0x2u)) /* a source type, or flags other than invert-dest */
		return M_MAYBE;
	if (!dst)
		return M_YES;
	bool local = p->daddr_local, want = dst & (1u << RTN_LOCAL);
	if (dst & ~(1u << RTN_LOCAL))
		return M_MAYBE;
	bool m = local == want;
	if (flags & 0x2u) /* XT_ADDRTYPE_INVERT_DEST */
		m = !m;
	return m ? M_YES : M_NO;
}

struct rule_out {
	int match;   /* M_* */
	int verdict; /* FW_V_* */
	const char *jump;
	const char *unknown; /* the first expression that made the rule "maybe" */
};

static void rule_eval(const struct fw_packet *p, const struct fw_rule *r, struct rule_out *o)
{
	struct regs rg;

	memset(&rg, 0, sizeof(rg));
	o->match = M_YES;
	o->verdict = FW_V_NONE;
	o->jump = NULL;
	o->unknown = NULL;
#define MAYBE(what)                                                                            \
	do {                                                                                   \
		if (o->match == M_YES)                                                         \
			o->unknown = (what);                                                   \
		o->match = M_MAYBE;                                                            \
	} while (0)
	for (size_t k = 0; k < r->n_ex; k++) {
		const int kind = r->ex[k].kind;
		const char *name = r->ex[k].name;
		const struct nlattr *const *t = r->ex[k].t;
		if (kind == FW_EX_META) {
			if (t[NFTA_META_DREG])
				meta_load(p, attr_be32(t[NFTA_META_KEY]), &rg, attr_be32(t[NFTA_META_DREG]));
		} else if (kind == FW_EX_PAYLOAD) {
			if (t[NFTA_PAYLOAD_DREG])
				payload_load(p, attr_be32(t[NFTA_PAYLOAD_BASE]), attr_be32(t[NFTA_PAYLOAD_OFFSET]),
					     attr_be32(t[NFTA_PAYLOAD_LEN]), &rg, attr_be32(t[NFTA_PAYLOAD_DREG]));
		} else if (kind == FW_EX_CT) {
			if (!t[NFTA_CT_DREG])
				continue;
			uint32_t key = attr_be32(t[NFTA_CT_KEY]), dreg = attr_be32(t[NFTA_CT_DREG]);
			if (key == NFT_CT_STATE && p->ct_state)
				reg_set(&rg, dreg, &p->ct_state, 4);
			else if (key == NFT_CT_STATUS && p->ct_status_known)
				reg_set(&rg, dreg, &p->ct_status, 4);
			else
				reg_set(&rg, dreg, NULL, 16);
		} else if (kind == FW_EX_FIB) {
			uint32_t res = attr_be32(t[NFTA_FIB_RESULT]), fl = attr_be32(t[NFTA_FIB_FLAGS]);
			uint32_t dreg = attr_be32(t[NFTA_FIB_DREG]);
			if (res == NFT_FIB_RESULT_ADDRTYPE && (fl & NFTA_FIB_F_DADDR) &&
			    p->daddr_local_known) {
				uint32_t type = p->daddr_local ? RTN_LOCAL : RTN_UNICAST;
				reg_set(&rg, dreg, &type, 4);
			} else {
				reg_set(&rg, dreg, NULL, 16);
			}
		} else if (kind == FW_EX_BITWISE) {
			uint32_t sreg = attr_be32(t[NFTA_BITWISE_SREG]), dreg = attr_be32(t[NFTA_BITWISE_DREG]);
			uint32_t len = attr_be32(t[NFTA_BITWISE_LEN]), ml = 0, xl = 0;
			const uint8_t *src = reg_get(&rg, sreg, len);
			const uint8_t *mask = t[NFTA_BITWISE_MASK] ? data_value(t[NFTA_BITWISE_MASK], &ml) : NULL;
			const uint8_t *xr = t[NFTA_BITWISE_XOR] ? data_value(t[NFTA_BITWISE_XOR], &xl) : NULL;
			uint8_t out[16];
			if (!src || !mask || !xr || len > 16 || ml < len || xl < len ||
			    (t[NFTA_BITWISE_OP] && attr_be32(t[NFTA_BITWISE_OP]) != NFT_BITWISE_BOOL)) {
				reg_set(&rg, dreg, NULL, len > 16 ? 16 : len);
				continue;
			}
			for (uint32_t i = 0; i < len; i++)
				out[i] = (uint8_t)((src[i] & mask[i]) ^ xr[i]);
			reg_set(&rg, dreg, out, len);
		} else if (kind == FW_EX_CMP) {
			uint32_t len = 0, op = attr_be32(t[NFTA_CMP_OP]);
			const uint8_t *want = data_value(t[NFTA_CMP_DATA], &len);
			const uint8_t *have = want ? reg_get(&rg, attr_be32(t[NFTA_CMP_SREG]), len) : NULL;
			if (!have) {
				MAYBE("a match doctor cannot evaluate");
				continue;
			}
			int c = memcmp(have, want, len);
			bool m = op == NFT_CMP_EQ ? c == 0 : op == NFT_CMP_NEQ ? c != 0 : op == NFT_CMP_LT ? c < 0 :
				 op == NFT_CMP_LTE ? c <= 0 : op == NFT_CMP_GT ? c > 0 : c >= 0;
			if (!m) {
				o->match = M_NO;
				return;
			}
		} else if (kind == FW_EX_IMMEDIATE) {
			uint32_t dreg = attr_be32(t[NFTA_IMMEDIATE_DREG]), len = 0;
			if (dreg == NFT_REG_VERDICT) {
				int code;
				const char *chain = NULL;
				if (!data_verdict(t[NFTA_IMMEDIATE_DATA], &code, &chain))
					continue;
				o->verdict = code == NF_ACCEPT ? FW_V_ACCEPT : code == NF_DROP ? FW_V_DROP :
					     code == NFT_JUMP ? FW_V_JUMP : code == NFT_GOTO ? FW_V_GOTO :
					     code == NFT_RETURN ? FW_V_RETURN : FW_V_NONE;
				o->jump = chain;
			} else {
				const void *v = data_value(t[NFTA_IMMEDIATE_DATA], &len);
				reg_set(&rg, dreg, v, len);
			}
		} else if (kind == FW_EX_REJECT) {
			o->verdict = FW_V_DROP;
		} else if (kind == FW_EX_NAT) {
			o->verdict = attr_be32(t[NFTA_NAT_TYPE]) == NFT_NAT_DNAT ? FW_V_DNAT : FW_V_ACCEPT;
		} else if (kind == FW_EX_MASQ) {
			o->verdict = FW_V_ACCEPT;
		} else if (kind == FW_EX_REDIR) {
			o->verdict = FW_V_DNAT;
		} else if (kind == FW_EX_MATCH) {
			const char *m = attr_str(t[NFTA_MATCH_NAME]);
			if (m && !strcmp(m, "comment")) /* matches everything */
				continue;
			int mr = m && !strcmp(m, "addrtype") ?
				xt_addrtype(p, t[NFTA_MATCH_INFO], attr_be32(t[NFTA_MATCH_REV])) : M_MAYBE;
			if (mr == M_NO) {
				o->match = M_NO;
				return;
			}
			if (mr == M_MAYBE)
				MAYBE(m && !strcmp(m, "conntrack") ? "an xt conntrack match" : "an xt match");
		} else if (kind == FW_EX_TARGET) {
			const char *tg = attr_str(t[NFTA_TARGET_NAME]);
			if (!tg)
				continue;
			if (!strcmp(tg, "REJECT"))
				o->verdict = FW_V_DROP;
			else if (!strcmp(tg, "DNAT") || !strcmp(tg, "REDIRECT"))
				o->verdict = FW_V_DNAT;
			else if (!strcmp(tg, "SNAT") || !strcmp(tg, "MASQUERADE"))
				o->verdict = FW_V_ACCEPT;
			/* LOG, MARK, CT, ...: do not end the chain */
		} else if (kind == FW_EX_LOOKUP || kind == FW_EX_STATE || kind == FW_EX_LAST) {
			/* The result depends on state doctor does not model. */
			if (kind == FW_EX_LOOKUP && t[NFTA_LOOKUP_DREG]) {
				reg_set(&rg, attr_be32(t[NFTA_LOOKUP_DREG]), NULL, 16);
				if (attr_be32(t[NFTA_LOOKUP_DREG]) == NFT_REG_VERDICT)
					o->verdict = FW_V_MAYBE; /* a verdict map */
			}
			if (kind != FW_EX_LAST)
				MAYBE(kind == FW_EX_LOOKUP ? "a set lookup" : name);
		}
		/* counter, log, notrack, dynset, objref, queue...: no effect on the match */
	}
#undef MAYBE
}

#define MAX_DEPTH 16

/* Runs p through chain ci. res->v is the chain's outcome (FW_V_NONE: fell through). */
static void chain_eval(const struct fw_ruleset *rs, size_t ci, const struct fw_packet *p, int depth,
		       struct fw_result *res)
{
	const struct fw_chain *c = &rs->chains[ci];
	struct rule_out o;

	if (depth > MAX_DEPTH)
		return;
	for (size_t k = 0; k < c->n_rules; k++) {
		const struct fw_rule *r = &rs->rules[rs->order[c->first_rule + k]];
		rule_eval(p, r, &o);
		if (o.match == M_NO || o.verdict == FW_V_NONE)
			continue;
		if (o.verdict == FW_V_JUMP || o.verdict == FW_V_GOTO) {
			int ti = o.jump ? fw_chain_find(rs, c->family, c->table, o.jump) : -1;
			if (ti < 0)
				continue;
			struct fw_result sub = { 0 };
			sub.v = FW_V_NONE;
			chain_eval(rs, (size_t)ti, p, depth + 1, &sub);
			if (o.match == M_MAYBE) {
				if (sub.v == FW_V_DROP || sub.maybe_drop) {
					if (!res->maybe_drop) {
						res->maybe_drop = true;
						res->maybe_who = sub.v == FW_V_DROP ? sub.who : sub.maybe_who;
						res->maybe_why = o.unknown;
					}
				}
				if (sub.v == FW_V_ACCEPT || sub.maybe_accept)
					res->maybe_accept = true;
				if (sub.v == FW_V_DNAT || sub.maybe_dnat) {
					res->maybe_dnat = true;
					if (!res->maybe_why)
						res->maybe_who = sub.v == FW_V_DNAT ? sub.who : sub.maybe_who;
				}
				continue;
			}
			res->maybe_drop |= sub.maybe_drop;
			res->maybe_accept |= sub.maybe_accept;
			res->maybe_dnat |= sub.maybe_dnat;
			if (sub.maybe_drop && !res->maybe_why) {
				res->maybe_who = sub.maybe_who;
				res->maybe_why = sub.maybe_why;
			}
			if (sub.v == FW_V_ACCEPT || sub.v == FW_V_DROP || sub.v == FW_V_DNAT) {
				res->v = sub.v;
				res->who = sub.who;
				return;
			}
			if (o.verdict == FW_V_GOTO) {
				res->v = FW_V_RETURN;
				return;
			}
			continue;
		}
		if (o.verdict == FW_V_RETURN) {
			if (o.match == M_YES) {
				res->v = FW_V_RETURN;
				return;
			}
			continue;
		}
		bool maybe = o.match == M_MAYBE || o.verdict == FW_V_MAYBE;
		if (maybe) {
			if ((o.verdict == FW_V_DROP || o.verdict == FW_V_MAYBE) && !res->maybe_drop) {
				res->maybe_drop = true;
				res->maybe_who.chain = ci;
				res->maybe_who.handle = r->handle;
				res->maybe_who.comment = r->comment;
				res->maybe_why = o.unknown ? o.unknown : "a verdict map";
			}
			if (o.verdict == FW_V_ACCEPT || o.verdict == FW_V_MAYBE)
				res->maybe_accept = true;
			if (o.verdict == FW_V_DNAT && !res->maybe_dnat) {
				res->maybe_dnat = true;
				res->maybe_who.chain = ci;
				res->maybe_who.handle = r->handle;
				res->maybe_who.comment = r->comment;
				res->maybe_why = o.unknown;
			}
			continue;
		}
		res->v = o.verdict;
		res->who.chain = ci;
		res->who.handle = r->handle;
		res->who.comment = r->comment;
		res->who.policy = false;
		return;
	}
	res->v = FW_V_NONE;
}

void fw_eval_chain(const struct fw_ruleset *rs, size_t ci, const struct fw_packet *p,
		   struct fw_result *res)
{
	const struct fw_chain *c = &rs->chains[ci];
	memset(res, 0, sizeof(*res));
	chain_eval(rs, ci, p, 0, res);
	if (res->v == FW_V_NONE || res->v == FW_V_RETURN) {
		res->v = c->policy == NF_DROP ? FW_V_DROP : FW_V_ACCEPT;
		res->who.chain = ci;
		res->who.policy = true;
		res->who.handle = 0;
		res->who.comment = NULL;
	}
}

bool fw_chain_applies(const struct fw_chain *c, const struct fw_packet *p)
{
	if (!c->base || c->hook != p->hook)
		return false;
	if (c->family == NFPROTO_INET)
		return true;
	return c->family == (p->v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
}
