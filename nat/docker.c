/* SPDX-License-Identifier: MIT */
/*
 * Opt-in (ctnet-nat init --accept-in-docker-user): accept rules for ctnet's interfaces in
 * Docker's DOCKER-USER chain (ip and ip6 filter, when they exist), which Docker evaluates
 * before its FORWARD policy drop. The only place ctnet touches another table, and only when
 * asked; the rules carry the comment "ctnet:docker" and ctnet-nat flush removes them.
 */
#include "nat_int.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <string.h>

#include "fw.h"

#define DOCKER_COMMENT "ctnet:docker"

/* Rules of ours in family's filter DOCKER-USER: handles into h (at most 8); -1: no chain. */
static int ours(const struct fw_ruleset *rs, int family, uint64_t *h, size_t *n)
{
	int ci = fw_chain_find(rs, family, "filter", "DOCKER-USER");
	*n = 0;
	if (ci < 0)
		return -1;
	const struct fw_chain *c = &rs->chains[ci];
	for (size_t k = 0; k < c->n_rules && *n < 8; k++) {
		const struct fw_rule *r = &rs->rules[rs->order[c->first_rule + k]];
		if (!strcmp(r->comment, DOCKER_COMMENT))
			h[(*n)++] = r->handle;
	}
	return 0;
}

static int docker_rules(struct ctnet_kern *kern, bool add, unsigned *changed, struct ctnet_err *err)
{
	static const int fams[] = { NFPROTO_IPV4, NFPROTO_IPV6 };
	struct fw_ruleset rs;
	struct nat_buf b = { 0 };
	int r;

	*changed = 0;
	if ((r = fw_read(kern, &rs, false, err)) < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(fams); i++) {
		const char *fam = fams[i] == NFPROTO_IPV4 ? "ip" : "ip6";
		uint64_t h[8];
		size_t n;
		if (ours(&rs, fams[i], h, &n) < 0)
			continue;
		if (add && !n) { /* at the top: before Docker's RETURN */
			nat_buf_printf(&b, "insert rule %s filter DOCKER-USER oifname \"ve-*\" accept comment \"" DOCKER_COMMENT "\"\n", fam);
			nat_buf_printf(&b, "insert rule %s filter DOCKER-USER iifname \"ve-*\" accept comment \"" DOCKER_COMMENT "\"\n", fam);
			*changed += 2;
		}
		for (size_t k = 0; !add && k < n; k++) {
			nat_buf_printf(&b, "delete rule %s filter DOCKER-USER handle %llu\n", fam, (unsigned long long)h[k]);
			(*changed)++;
		}
	}
	fw_free(&rs);
	if (b.oom)
		r = ctnet_errf(err, ENOMEM, "DOCKER-USER: out of memory");
	else if (b.p)
		r = nat_nft_run(kern, b.p, err); /* one transaction for both families */
	nat_buf_free(&b);
	return r < 0 ? r : 0;
}

int nat_docker_accept(struct ctnet_kern *kern, unsigned *added, struct ctnet_err *err)
{
	return docker_rules(kern, true, added, err);
}

int nat_docker_remove(struct ctnet_kern *kern, unsigned *removed, struct ctnet_err *err)
{
	return docker_rules(kern, false, removed, err);
}
