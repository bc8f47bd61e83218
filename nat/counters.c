/* SPDX-License-Identifier: MIT */
/* Per-container and per-forward counters, read once from the sets' elements. */
#include "nat_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"

struct nat_counters {
	struct nat_kernel k;
	bool cluster_drift; /* the kernel's cluster sets are not the recorded cluster CIDRs */
};

int nat_counters_read(struct ctnet_kern *kern, struct nat_counters **out, struct ctnet_err *err)
{
	struct nat_counters *c = calloc(1, sizeof(*c));
	int r;
	if (!c)
		return ctnet_err_sys(err, ENOMEM, "read counters");
	if ((r = nat_kernel_read(kern, &c->k, err)) < 0) {
		free(c);
		return r;
	}
	/* The recorded list is one small file: read with the kernel's, so every judge of the
	 * table (status, apply, watch) sees a cluster set that differs as drift. */
	struct ctnet_addr want[NAT_MAX_CLUSTER], have[2 * NAT_MAX_CLUSTER];
	struct ctnet_err e = { 0 };
	int nw = nat_cluster_recorded(want, ARRAY_SIZE(want), &e);
	int nh = nat_counters_cluster(c, have, ARRAY_SIZE(have));
	c->cluster_drift = nw >= 0 && nh >= 0 && !nat_cluster_same(want, (size_t)nw, have, (size_t)nh);
	*out = c;
	return 0;
}

void nat_counters_free(struct nat_counters *c)
{
	if (!c)
		return;
	nat_kernel_free(&c->k);
	free(c);
}

/* Sums the counters of the elements of `c` in the sets selected by `mask`. */
static void sum(const struct nat_counters *cn, const struct nat_container *c, unsigned mask,
		struct nat_stat *out)
{
	struct nat_elems e = { 0 };
	struct ctnet_err err = { 0 };

	*out = (struct nat_stat){ 0 };
	if (nat_elems_container(&e, c, &err) < 0)
		goto out;
	for (size_t i = 0; i < e.n; i++) {
		if (!(mask & (1u << e.v[i].set)))
			continue;
		const struct nat_kelem *ke = nat_kernel_find(&cn->k, &e.v[i]);
		if (!ke)
			continue;
		out->present = true;
		out->packets += ke->packets;
		out->bytes += ke->bytes;
	}
out:
	nat_elems_free(&e);
}

void nat_counters_container(const struct nat_counters *cn, const struct nat_container *c,
			    struct nat_stat *out)
{
	struct nat_container *tmp = malloc(sizeof(*tmp));
	*out = (struct nat_stat){ 0 };
	if (!tmp)
		return;
	*tmp = *c;
	tmp->n_forwards = 0;
	/* A veth's packets count in the inet sets, a bridge port's in the bridge ones. */
	sum(cn, tmp, 1u << NAT_S_SPOOF4 | 1u << NAT_S_SPOOF6 | 1u << NAT_S_PSPOOF4 | 1u << NAT_S_PSPOOF6,
	    out);
	free(tmp);
}

/* The first of ctnet's chains holding a rule that is not ctnet's, or -1. */
static int foreign_chain(const struct nat_counters *cn)
{
	for (int ch = 0; ch < NAT_CHAINS; ch++)
		if (cn->k.chain[ch] && !nat_chain_rules_ours(ch, cn->k.comments[ch]))
			return ch;
	return -1;
}

bool nat_counters_whole(const struct nat_counters *cn)
{
	if (!cn || !cn->k.table)
		return false;
	for (int ch = 0; ch < NAT_CHAINS; ch++)
		if (!cn->k.chain[ch])
			return false;
	return foreign_chain(cn) < 0;
}

bool nat_counters_foreign(const struct nat_counters *cn, char *chain, size_t len)
{
	int ch = cn ? foreign_chain(cn) : -1;
	if (ch >= 0)
		snprintf(chain, len, "%s %s", nat_table_names[nat_chain_table(ch)], nat_chain_names[ch]);
	return ch >= 0;
}

int nat_counters_missing(const struct nat_counters *cn, const struct nat_container *c)
{
	struct nat_elems e = { 0 };
	struct ctnet_err err = { 0 };
	int missing = 0;

	if (!cn->k.table)
		return 1;
	for (int ch = 0; ch < NAT_CHAINS; ch++)
		missing += !cn->k.chain[ch];
	if (missing || nat_elems_container(&e, c, &err) < 0) {
		nat_elems_free(&e);
		return missing ? missing : 1;
	}
	for (size_t i = 0; i < e.n; i++) {
		missing += !cn->k.set[e.v[i].set] || !nat_kernel_find(&cn->k, &e.v[i]);
	}
	nat_elems_free(&e);
	return missing;
}

void nat_counters_forward(const struct nat_counters *cn, const struct nat_container *c,
			  const struct nat_forward *f, struct nat_stat *out)
{
	struct nat_container *tmp = malloc(sizeof(*tmp));
	*out = (struct nat_stat){ 0 };
	if (!tmp)
		return;
	*tmp = *c;
	tmp->n_forwards = 1;
	tmp->forwards[0] = *f;
	sum(cn, tmp, 1u << NAT_S_FWD4 | 1u << NAT_S_FWD4IP | 1u << NAT_S_FWD6 | 1u << NAT_S_FWD6IP,
	    out);
	free(tmp);
}

int nat_counters_cluster(const struct nat_counters *cn, struct ctnet_addr *out, size_t max)
{
	static const int sets[] = { NAT_S_CLUSTER4, NAT_S_CLUSTER6 };
	size_t n = 0;
	if (!cn || !cn->k.tables[NAT_T_INET] || !cn->k.set[NAT_S_CLUSTER4] || !cn->k.set[NAT_S_CLUSTER6])
		return -1;
	for (size_t s = 0; s < ARRAY_SIZE(sets); s++) {
		size_t len = sets[s] == NAT_S_CLUSTER6 ? 16 : 4;
		for (size_t i = 0; i < cn->k.n[sets[s]] && n < max; i++) {
			const struct nat_elem *el = &cn->k.elems[sets[s]][i].el;
			if (el->klen != len + 1)
				continue; /* not a CIDR of ours: cannot equal a recorded one */
			out[n] = (struct ctnet_addr){ .family = len == 16 ? AF_INET6 : AF_INET, .prefix = el->kd[len] };
			memcpy(out[n].bytes, el->kd, len);
			n++;
		}
	}
	return (int)n;
}

bool nat_counters_cluster_drift(const struct nat_counters *cn)
{
	return cn && cn->cluster_drift;
}
