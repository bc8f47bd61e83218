/* SPDX-License-Identifier: MIT */
/*
 * doctor's cross-host checks, over what ct_doctor read once: the host config's cluster
 * CIDRs against what NAT recorded, the routes to other hosts' ranges (netd), and whether
 * anything masquerades containers' traffic to them (nat).
 */
#include <stdio.h>
#include <string.h>

#include "finding.h"
#include "hostconf.h"
#include "launch.h"

/* Whether every network of a is one of b or inside one of b. */
static bool covered(const struct ctnet_addr *a, size_t na, const struct ctnet_addr *b, size_t nb)
{
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;
		while (j < nb && !(b[j].family == a[i].family && ctnet_addr_in(&a[i], &b[j]) && a[i].prefix >= b[j].prefix))
			j++;
		if (j == nb)
			return false;
	}
	return true;
}

static void list_str(const struct ctnet_addr *v, size_t n, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++) {
		char s[CTNET_ADDR_STRLEN];
		int k = snprintf(buf + o, len - o, "%s%s", i ? "," : "", ctnet_addr_cidr_str(&v[i], s));
		o += k > 0 ? (size_t)k : 0;
	}
	if (!n)
		snprintf(buf, len, "none");
}

/* The host's pools: POOL (ipam's default without it) and POOL6 when set. */
static size_t host_pools(const struct ctnet_hostconf *hc, struct ctnet_addr pools[2])
{
	struct ctnet_err e;
	size_t n = 0;
	if (hc->pool4.family)
		pools[n++] = hc->pool4;
	else if (ctnet_cidr_parse(IPAM_DEFAULT_POOL, "pool", &pools[n], &e) == 0)
		n++;
	if (hc->pool6.family)
		pools[n++] = hc->pool6;
	return n;
}

int ct_doctor_cluster(const struct ctnet_hostconf *hc, const struct netd_host_view *host, const struct nat_counters *nat,
		      const struct nat_doctor_view *nv, const struct nat_doctor_ct *nt, size_t n_nat,
		      struct ctnet_findings *out, struct ctnet_err *err)
{
	struct ctnet_addr rec[CTNET_HOSTCONF_CLUSTER_MAX], pools[2];
	struct netd_cluster_dest dests[CTNET_HOSTCONF_CLUSTER_MAX];
	struct nat_cluster_probe probes[CTNET_HOSTCONF_CLUSTER_MAX];
	char a[400], b[400];
	int nr = nat_cluster_recorded(rec, ARRAY_SIZE(rec), err);

	if (nr < 0)
		return nr;
	if (hc->n_cluster && !(covered(hc->cluster, hc->n_cluster, rec, (size_t)nr) &&
			       covered(rec, (size_t)nr, hc->cluster, hc->n_cluster))) {
		list_str(hc->cluster, hc->n_cluster, a, sizeof(a));
		list_str(rec, (size_t)nr, b, sizeof(b));
		ctnet_finding_add(out, CTNET_SEV_DEGRADES, "cluster-config-differs", NULL, ctnet_hostconf_path(),
				  "ctnet-nat restore",
				  "CLUSTER_CIDR says %s, NAT recorded %s: the host config is applied by the next "
				  "ctnet up, apply or run, or by ctnet-nat restore", a, b);
	}
	/* What NAT uses when it recorded any, else what the file asks. */
	const struct ctnet_addr *list = nr > 0 ? rec : hc->cluster;
	size_t n = nr > 0 ? (size_t)nr : hc->n_cluster, n_pools = host_pools(hc, pools);
	if (!n)
		return 0;
	memset(dests, 0, sizeof(dests));
	if (host)
		netd_doctor_cluster(host, list, n, pools, n_pools, dests, out);
	for (size_t i = 0; i < n; i++) {
		probes[i] = (struct nat_cluster_probe){ .net = list[i], .dst = dests[i].dst, .oif = dests[i].oif };
		if (!dests[i].found) { /* no route there: the network's first address */
			probes[i].dst = list[i];
			probes[i].dst.prefix = -1;
			probes[i].dst.bytes[list[i].family == AF_INET6 ? 15 : 3] |= list[i].prefix < (list[i].family == AF_INET6 ? 128 : 32);
		}
	}
	nat_doctor_cluster(nv, nat, nt, n_nat, probes, n, out);
	return 0;
}
