/* SPDX-License-Identifier: MIT */
/*
 * The evaluator over the ruleset fwread.c reads: runs a described packet (hook, interfaces,
 * addresses, port, conntrack state) through a chain. What it cannot decide (a set lookup, an
 * xt match it does not know) makes a rule "maybe", so findings say "may" and not "does".
 */
#include "fw.h"
#include "nat_int.h"

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

/* An expression that loads a register: meta, payload, ct, fib, bitwise. */
static void ex_load(const struct fw_packet *p, int kind, const struct nlattr *const *t,
		    struct regs *rg)
{
	if (kind == FW_EX_META) {
		if (t[NFTA_META_DREG])
			meta_load(p, attr_be32(t[NFTA_META_KEY]), rg, attr_be32(t[NFTA_META_DREG]));
	} else if (kind == FW_EX_PAYLOAD) {
		if (t[NFTA_PAYLOAD_DREG])
			payload_load(p, attr_be32(t[NFTA_PAYLOAD_BASE]), attr_be32(t[NFTA_PAYLOAD_OFFSET]),
				     attr_be32(t[NFTA_PAYLOAD_LEN]), rg, attr_be32(t[NFTA_PAYLOAD_DREG]));
	} else if (kind == FW_EX_CT) {
		if (!t[NFTA_CT_DREG])
			return;
		uint32_t key = attr_be32(t[NFTA_CT_KEY]), dreg = attr_be32(t[NFTA_CT_DREG]);
		if (key == NFT_CT_STATE && p->ct_state)
			reg_set(rg, dreg, &p->ct_state, 4);
		else if (key == NFT_CT_STATUS && p->ct_status_known)
			reg_set(rg, dreg, &p->ct_status, 4);
		else
			reg_set(rg, dreg, NULL, 16);
	} else if (kind == FW_EX_FIB) {
		uint32_t res = attr_be32(t[NFTA_FIB_RESULT]), fl = attr_be32(t[NFTA_FIB_FLAGS]);
		uint32_t dreg = attr_be32(t[NFTA_FIB_DREG]);
		if (res == NFT_FIB_RESULT_ADDRTYPE && (fl & NFTA_FIB_F_DADDR) &&
		    p->daddr_local_known) {
			uint32_t type = p->daddr_local ? RTN_LOCAL : RTN_UNICAST;
			reg_set(rg, dreg, &type, 4);
		} else {
			reg_set(rg, dreg, NULL, 16);
		}
	} else if (kind == FW_EX_BITWISE) {
		uint32_t sreg = attr_be32(t[NFTA_BITWISE_SREG]), dreg = attr_be32(t[NFTA_BITWISE_DREG]);
		uint32_t len = attr_be32(t[NFTA_BITWISE_LEN]), ml = 0, xl = 0;
		const uint8_t *src = reg_get(rg, sreg, len);
		const uint8_t *mask = t[NFTA_BITWISE_MASK] ? data_value(t[NFTA_BITWISE_MASK], &ml) : NULL;
		const uint8_t *xr = t[NFTA_BITWISE_XOR] ? data_value(t[NFTA_BITWISE_XOR], &xl) : NULL;
		uint8_t out[16];
		if (!src || !mask || !xr || len > 16 || ml < len || xl < len ||
		    (t[NFTA_BITWISE_OP] && attr_be32(t[NFTA_BITWISE_OP]) != NFT_BITWISE_BOOL)) {
			reg_set(rg, dreg, NULL, len > 16 ? 16 : len);
			return;
		}
		for (uint32_t i = 0; i < len; i++)
			out[i] = (uint8_t)((src[i] & mask[i]) ^ xr[i]);
		reg_set(rg, dreg, out, len);
	}
}

/* An expression that sets the rule's verdict (immediate's data goes to a register). */
static void ex_verdict(int kind, const struct nlattr *const *t, struct regs *rg,
		       struct rule_out *o)
{
	if (kind == FW_EX_IMMEDIATE) {
		uint32_t dreg = attr_be32(t[NFTA_IMMEDIATE_DREG]), len = 0;
		if (dreg == NFT_REG_VERDICT) {
			int code;
			const char *chain = NULL;
			if (!data_verdict(t[NFTA_IMMEDIATE_DATA], &code, &chain))
				return;
			o->verdict = code == NF_ACCEPT ? FW_V_ACCEPT : code == NF_DROP ? FW_V_DROP :
				     code == NFT_JUMP ? FW_V_JUMP : code == NFT_GOTO ? FW_V_GOTO :
				     code == NFT_RETURN ? FW_V_RETURN : FW_V_NONE;
			o->jump = chain;
		} else {
			const void *v = data_value(t[NFTA_IMMEDIATE_DATA], &len);
			reg_set(rg, dreg, v, len);
		}
	} else if (kind == FW_EX_REJECT) {
		o->verdict = FW_V_DROP;
	} else if (kind == FW_EX_NAT) {
		o->verdict = attr_be32(t[NFTA_NAT_TYPE]) == NFT_NAT_DNAT ? FW_V_DNAT : FW_V_ACCEPT;
	} else if (kind == FW_EX_MASQ) {
		o->verdict = FW_V_ACCEPT;
	} else if (kind == FW_EX_REDIR) {
		o->verdict = FW_V_DNAT;
	} else if (kind == FW_EX_TARGET) {
		const char *tg = attr_str(t[NFTA_TARGET_NAME]);
		if (!tg)
			return;
		if (!strcmp(tg, "REJECT"))
			o->verdict = FW_V_DROP;
		else if (!strcmp(tg, "DNAT") || !strcmp(tg, "REDIRECT"))
			o->verdict = FW_V_DNAT;
		else if (!strcmp(tg, "SNAT") || !strcmp(tg, "MASQUERADE"))
			o->verdict = FW_V_ACCEPT;
		/* LOG, MARK, CT, ...: do not end the chain */
	}
}

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
		if (kind == FW_EX_META || kind == FW_EX_PAYLOAD || kind == FW_EX_CT ||
		    kind == FW_EX_FIB || kind == FW_EX_BITWISE) {
			ex_load(p, kind, t, &rg);
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
		} else if (kind == FW_EX_IMMEDIATE || kind == FW_EX_REJECT || kind == FW_EX_NAT ||
			   kind == FW_EX_MASQ || kind == FW_EX_REDIR || kind == FW_EX_TARGET) {
			ex_verdict(kind, t, &rg, o);
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

static void chain_eval(const struct fw_ruleset *rs, size_t ci, const struct fw_packet *p, int depth,
		       struct fw_result *res);

/* A rule that jumps or goes to another chain (o->match not M_NO): runs it and merges its
 * outcome into *res; true when that ends chain c. */
static bool chain_jump(const struct fw_ruleset *rs, const struct fw_chain *c, const struct fw_packet *p,
		       int depth, const struct rule_out *o, struct fw_result *res)
{
	int ti = o->jump ? fw_chain_find(rs, c->family, c->table, o->jump) : -1;
	if (ti < 0)
		return false;
	struct fw_result sub = { 0 };
	sub.v = FW_V_NONE;
	chain_eval(rs, (size_t)ti, p, depth + 1, &sub);
	if (o->match == M_MAYBE) {
		if (sub.v == FW_V_DROP || sub.maybe_drop) {
			if (!res->maybe_drop) {
				res->maybe_drop = true;
				res->maybe_who = sub.v == FW_V_DROP ? sub.who : sub.maybe_who;
				res->maybe_why = o->unknown;
			}
		}
		if (sub.v == FW_V_ACCEPT || sub.maybe_accept)
			res->maybe_accept = true;
		if (sub.v == FW_V_DNAT || sub.maybe_dnat) {
			res->maybe_dnat = true;
			if (!res->maybe_why)
				res->maybe_who = sub.v == FW_V_DNAT ? sub.who : sub.maybe_who;
		}
		return false;
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
		return true;
	}
	if (o->verdict == FW_V_GOTO) {
		res->v = FW_V_RETURN;
		return true;
	}
	return false;
}

/* A rule that may or may not decide (a match or verdict doctor cannot evaluate). */
static void note_maybe(size_t ci, const struct fw_rule *r, const struct rule_out *o,
		       struct fw_result *res)
{
	if ((o->verdict == FW_V_DROP || o->verdict == FW_V_MAYBE) && !res->maybe_drop) {
		res->maybe_drop = true;
		res->maybe_who.chain = ci;
		res->maybe_who.handle = r->handle;
		res->maybe_who.comment = r->comment;
		res->maybe_why = o->unknown ? o->unknown : "a verdict map";
	}
	if (o->verdict == FW_V_ACCEPT || o->verdict == FW_V_MAYBE)
		res->maybe_accept = true;
	if (o->verdict == FW_V_DNAT && !res->maybe_dnat) {
		res->maybe_dnat = true;
		res->maybe_who.chain = ci;
		res->maybe_who.handle = r->handle;
		res->maybe_who.comment = r->comment;
		res->maybe_why = o->unknown;
	}
}

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
			if (chain_jump(rs, c, p, depth, &o, res))
				return;
			continue;
		}
		if (o.verdict == FW_V_RETURN) {
			if (o.match == M_YES) {
				res->v = FW_V_RETURN;
				return;
			}
			continue;
		}
		if (o.match == M_MAYBE || o.verdict == FW_V_MAYBE) {
			note_maybe(ci, r, &o, res);
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
