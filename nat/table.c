/* SPDX-License-Identifier: MIT */
/*
 * ctnet-nat's table-wide operations: init (the tables created or refreshed in place),
 * isolation on or off, restore (the tables rebuilt from the desired state, the DOCKER-USER
 * accepts put back) and flush.
 */
#include "nat_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

/* Whether k (the kernel's table) already has our chains, rules, sets and cfg's elements
 * (external interfaces, cluster CIDRs). */
static bool table_current(const struct nat_kernel *k, const struct nat_config *cfg)
{
	struct nat_elems e = { 0 };
	struct ctnet_err err = { 0 };
	size_t want[NAT_S_COUNT] = { 0 };
	char comments[512];
	bool ok = k->table && nat_elems_config(&e, cfg, &err) >= 0;

	for (int c = 0; ok && c < NAT_CHAINS; c++) {
		nat_chain_comments(c, cfg, comments, sizeof(comments));
		ok = k->chain[c] && !strcmp(k->comments[c], comments);
	}
	for (int st = 0; ok && st < NAT_S_COUNT; st++)
		ok = k->set[st];
	for (size_t i = 0; ok && i < e.n; i++) {
		want[e.v[i].set]++;
		ok = nat_kernel_find(k, &e.v[i]) != NULL;
	}
	for (int st = 0; ok && st < NAT_S_COUNT; st++)
		ok = (st != NAT_S_EXT && !nat_set_is_interval(st)) || k->n[st] == want[st];
	nat_elems_free(&e);
	return ok;
}

/* The kernel's table made to hold cfg's chains and config elements, the containers'
 * elements kept; no table at all: the whole desired state built with cfg. One
 * transaction either way. */
static int config_apply(struct ctnet_kern *kern, struct nat_store *s, const struct nat_config *cfg,
			struct ctnet_err *err)
{
	struct nat_kernel k;
	struct nat_elems e = { 0 };
	struct nat_buf b = { 0 };
	bool table;
	int r;

	if (nat_kernel_read(kern, &k, err) < 0) {
		ctnet_err_clear(err);
		k = (struct nat_kernel){ 0 };
	}
	table = k.tables[NAT_T_INET] || k.tables[NAT_T_BRIDGE];
	if (table_current(&k, cfg)) { /* init twice changes nothing, not even rule handles */
		nat_kernel_free(&k);
		return 0;
	}
	nat_kernel_free(&k);
	if (!table)
		return nat_rebuild(kern, s, cfg, NULL, NULL, err);
	/* In place: keeps the elements (and their counters) of an existing table. */
	nat_buf_init(&b, cfg);
	if ((r = nat_elems_config(&e, cfg, err)) < 0)
		goto out;
	nat_buf_elems(&b, "add", &e);
	r = b.oom ? ctnet_err_sys(err, ENOMEM, "build nftables table") : nat_nft_run(kern, b.p, err);
	if (r < 0) {
		/* An old or damaged table (a set of another type, say): start over. */
		struct ctnet_err e2 = { 0 };
		if (nat_rebuild(kern, s, cfg, NULL, NULL, &e2) >= 0) {
			ctnet_err_clear(err);
			r = 0;
		}
	}
out:
	nat_buf_free(&b);
	nat_elems_free(&e);
	return r;
}

/* cfg with what h replaces; validated first. */
static int host_merge(struct nat_config *cfg, const struct nat_host *h, struct ctnet_err *err)
{
	int r;
	if (h->set_ext) {
		if (h->n_ext > NAT_MAX_EXT)
			return ctnet_errf(err, EINVAL, "more than %d external interfaces", NAT_MAX_EXT);
		for (size_t i = 0; i < h->n_ext; i++)
			if ((r = ctnet_ifname_check(h->ext[i], err)) < 0)
				return r;
		cfg->n_ext = 0;
		for (size_t i = 0; i < h->n_ext; i++)
			snprintf(cfg->ext[cfg->n_ext++], sizeof(cfg->ext[0]), "%s", h->ext[i]);
	}
	if (h->set_cluster) {
		if ((r = nat_cluster_check(h->cluster, h->n_cluster, err)) < 0)
			return r;
		memcpy(cfg->cluster, h->cluster, h->n_cluster * sizeof(*h->cluster));
		cfg->n_cluster = nat_cluster_normalize(cfg->cluster, h->n_cluster);
	}
	return 0;
}

static bool config_same(const struct nat_config *a, const struct nat_config *b)
{
	if (a->n_ext != b->n_ext || a->n_cluster != b->n_cluster || a->isolate != b->isolate ||
	    a->docker_user != b->docker_user || a->localnet_scoped != b->localnet_scoped)
		return false;
	for (size_t i = 0; i < a->n_ext; i++)
		if (strcmp(a->ext[i], b->ext[i]))
			return false;
	for (size_t i = 0; i < a->n_cluster; i++)
		if (a->cluster[i].family != b->cluster[i].family || a->cluster[i].prefix != b->cluster[i].prefix ||
		    !ctnet_addr_equal(&a->cluster[i], &b->cluster[i]))
			return false;
	return true;
}

int nat_init(struct ctnet_kern *kern, const char *const *external_ifaces, size_t n, struct ctnet_err *err)
{
	return nat_init_isolate(kern, external_ifaces, n, -1, err);
}

int nat_init_isolate(struct ctnet_kern *kern, const char *const *external_ifaces, size_t n, int isolate,
		     struct ctnet_err *err)
{
	struct nat_host h = { .set_ext = true, .n_ext = n, .ext = external_ifaces };
	return nat_init_host(kern, &h, isolate, err);
}

int nat_init_host(struct ctnet_kern *kern, const struct nat_host *h, int isolate, struct ctnet_err *err)
{
	struct nat_config cfg;
	struct nat_store s;
	int r;

	if ((r = nat_store_open(&s, true, true, err)) < 0)
		return r;
	if ((r = nat_store_config_read(&s, &cfg, err)) < 0 || (r = host_merge(&cfg, h, err)) < 0 ||
	    (r = nat_sysctls(&s, false, err)) < 0 || (r = nat_localnet_migrate(kern, &s, err)) < 0)
		goto out;
	if (isolate >= 0)
		cfg.isolate = isolate > 0;
	cfg.localnet_scoped = true;
	if ((r = config_apply(kern, &s, &cfg, err)) >= 0)
		r = nat_store_config_write(&s, &cfg, err);
out:
	nat_store_close(&s);
	return r;
}

int nat_set_host(struct ctnet_kern *kern, const struct nat_host *h, struct ctnet_err *err)
{
	struct nat_config old = { 0 }, cfg;
	struct nat_store s;
	int r;

	/* Nothing recorded and nothing asked: no state dir made (it would make check expect
	 * a table). */
	r = nat_store_open(&s, false, true, err);
	if (r == -ENOENT) {
		ctnet_err_clear(err);
		cfg = old;
		if ((r = host_merge(&cfg, h, err)) < 0 || config_same(&old, &cfg))
			return r;
		r = nat_store_open(&s, true, true, err);
	}
	if (r < 0)
		return r;
	if ((r = nat_store_config_read(&s, &old, err)) < 0)
		goto out;
	cfg = old;
	if ((r = host_merge(&cfg, h, err)) < 0 || config_same(&old, &cfg))
		goto out;
	if ((r = config_apply(kern, &s, &cfg, err)) >= 0)
		r = nat_store_config_write(&s, &cfg, err);
out:
	nat_store_close(&s);
	return r;
}

int nat_set_cluster(struct ctnet_kern *kern, const struct ctnet_addr *cidrs, size_t n, struct ctnet_err *err)
{
	struct nat_host h = { .set_cluster = true, .n_cluster = n, .cluster = cidrs };
	return nat_set_host(kern, &h, err);
}

int nat_isolate(struct ctnet_kern *kern, bool on, struct ctnet_err *err)
{
	struct nat_config cfg;
	struct nat_store s;
	const char *ext[NAT_MAX_EXT];
	int r;

	if ((r = nat_store_open(&s, true, true, err)) < 0)
		return r;
	r = nat_store_config_read(&s, &cfg, err);
	nat_store_close(&s); /* nat_init_isolate takes the lock again */
	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg.n_ext; i++)
		ext[i] = cfg.ext[i];
	return nat_init_isolate(kern, ext, cfg.n_ext, on, err);
}

static int has_v6(struct nat_entry *e, void *data)
{
	*(bool *)data |= e->c.has_addr6;
	return 0;
}

static int restore(struct ctnet_kern *kern, bool localnet, struct ctnet_err *err)
{
	struct nat_config cfg;
	struct nat_store s;
	bool v6 = false;
	unsigned n;
	int r = nat_store_open(&s, true, true, err);
	if (r < 0)
		return r;
	/* IPv6 forwarding only when a container has IPv6, as add does. The DOCKER-USER
	 * accepts are desired state too (Docker flushes that chain when it restarts). */
	if ((r = nat_store_foreach(&s, has_v6, &v6, err)) >= 0 &&
	    (r = nat_sysctls(&s, v6, err)) >= 0 && (r = nat_localnet_migrate(kern, &s, err)) >= 0 &&
	    (r = nat_rebuild(kern, &s, NULL, NULL, NULL, err)) >= 0 &&
	    (r = nat_store_config_read(&s, &cfg, err)) >= 0 &&
	    (!cfg.docker_user || (r = nat_docker_fix(kern, &s, true, &n, err)) >= 0)) {
		/* Loopback forwards by BPF, or (where it cannot load) route_localnet: the table
		 * is back either way; a forward pinned to ::1 that cannot work is the error. */
		int lo = nat_lofwd_sync(kern, &s, err);
		struct ctnet_err e2 = { 0 };
		if (localnet)
			r = nat_localnet_restore(kern, &s, lo < 0 ? &e2 : err);
		if (lo < 0)
			r = lo;
	}
	nat_store_close(&s);
	return r;
}

int nat_restore(struct ctnet_kern *kern, struct ctnet_err *err)
{
	return restore(kern, true, err);
}

int nat_restore_table(struct ctnet_kern *kern, struct ctnet_err *err)
{
	return restore(kern, false, err);
}

int nat_flush(struct ctnet_kern *kern, struct ctnet_err *err)
{
	struct nat_store s = { -1, -1, -1, -1 };
	int r = nat_writable(err); /* flush keeps the state: it must be writable all the same */
	/* init --accept-in-docker-user's rules go too (still wanted: restore puts them back). */
	if (r < 0 || (r = nat_docker_clear(kern, &s, err)) < 0)
		return r;
	r = nat_nft_run(kern, "add table " NAT_TABLE "\ndelete table " NAT_TABLE "\n"
			    "add table " NAT_BTABLE "\ndelete table " NAT_BTABLE "\n", err);
	if (r < 0)
		return r;
	/* Without the table's "ctnet:localnet" rule, route_localnet on a container's link
	 * would let that container reach the host's 127.0.0.1: off until restore. */
	if (nat_store_open(&s, false, true, err) < 0) {
		ctnet_err_clear(err);
		return 0;
	}
	nat_localnet_reset(kern, &s);
	nat_store_close(&s);
	nat_lofwd_unpin(); /* loopback forwards by BPF too (recorded: restore loads them again) */
	return 0;
}
