/* SPDX-License-Identifier: MIT */
/* The host's nf_tables ruleset (every table, every family) as data, and a packet's path
 * through it (fwread.c): what doctor and trace read of tables that are not ctnet's. */
#ifndef CTNET_NAT_FW_H
#define CTNET_NAT_FW_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "kern.h"

struct fw_chain {
	uint8_t family; /* NFPROTO_* */
	char table[64], name[64];
	bool base;
	int hook, prio, policy; /* base chains: NF_INET_* hook, priority, NF_ACCEPT/NF_DROP */
	char type[16];          /* "filter", "nat", "route" */
	size_t first_rule, n_rules; /* into fw_ruleset.order */
};

struct nlattr;
/* One expression of a rule, taken apart once when read (a rule is evaluated for every
 * packet of every container): its kind and its data attributes, into the rule's exprs. */
struct fw_expr {
	int kind; /* FW_EX_* (fwread.c) */
	const char *name;
	const struct nlattr *t[17];
};

struct fw_rule {
	size_t chain;
	uint64_t handle;
	char comment[128];
	void *exprs; /* a copy of the NFTA_RULE_EXPRESSIONS attribute */
	struct fw_expr *ex;
	size_t n_ex;
};

struct fw_ruleset {
	struct fw_chain *chains; /* sorted by family, table, name */
	size_t n_chains, cap_chains;
	struct fw_rule *rules;
	size_t n_rules, cap_rules;
	size_t *order; /* rule indexes, chain by chain in rule order */
};

/* One dump of every chain and (unless chains_only) one of every rule. */
int fw_read(struct ctnet_kern *kern, struct fw_ruleset *rs, bool chains_only, struct ctnet_err *err);
/* Every chain, and the rules of only the tables that have a chain want() accepts: one
 * socket, one chain dump, one rule dump per such table (cheap enough for every `up`). */
int fw_read_rules_of(struct ctnet_kern *kern, struct fw_ruleset *rs, bool (*want)(const struct fw_chain *c), struct ctnet_err *err);
void fw_free(struct fw_ruleset *rs);
/* What fw_read does with each rule and then the whole set, for a ruleset built as data (the
 * unit tests): r->exprs (a copy of NFTA_RULE_EXPRESSIONS) taken apart into r->ex (0 or
 * -ENOMEM); rs->order and each chain's rules indexed (rs->order NULL: out of memory). */
int fw_rule_decode(struct fw_rule *r);
void fw_index_rules(struct fw_ruleset *rs);
int fw_chain_find(const struct fw_ruleset *rs, int family, const char *table, const char *name);
const char *fw_family_name(int family);
const char *fw_hook_name(int hook);

/* A packet as doctor describes it; what is not known stays 0/NULL. */
struct fw_packet {
	bool v6;
	int hook;
	const char *iif, *oif;
	int iif_index, oif_index;
	bool has_saddr, has_daddr;
	uint8_t saddr[16], daddr[16];
	uint8_t l4proto;
	uint16_t dport;          /* host order */
	uint32_t ct_state;       /* NF_CT_STATE_* bit, 0 = unknown */
	bool ct_status_known;
	uint32_t ct_status;
	bool daddr_local_known, daddr_local; /* fib daddr type local / xt addrtype */
};

enum { FW_V_NONE, FW_V_ACCEPT, FW_V_DROP, FW_V_DNAT, FW_V_JUMP, FW_V_GOTO, FW_V_RETURN, FW_V_MAYBE };

struct fw_where {
	size_t chain;
	bool policy;
	uint64_t handle;
	const char *comment; /* into the ruleset, may be NULL */
};

struct fw_result {
	int v; /* FW_V_ACCEPT, FW_V_DROP or FW_V_DNAT */
	struct fw_where who;
	/* A rule doctor could not decide would have dropped/accepted/DNATed it. */
	bool maybe_drop, maybe_accept, maybe_dnat;
	struct fw_where maybe_who;
	const char *maybe_why;
};

/* Whether base chain c sees p (its hook and family). */
bool fw_chain_applies(const struct fw_chain *c, const struct fw_packet *p);
/* p through base chain ci, its jumps and its policy. */
void fw_eval_chain(const struct fw_ruleset *rs, size_t ci, const struct fw_packet *p,
		   struct fw_result *res);

#endif
