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

/* Whether the kernel's table already has our chains, rules, sets and these ext_ifaces. */
static bool table_current(struct ctnet_kern *kern, const struct nat_config *cfg)
{
	struct nat_kernel k;
	struct ctnet_err e = { 0 };
	char want[512];
	bool ok;

	if (nat_kernel_read(kern, &k, &e) < 0)
		return false;
	ok = k.table && k.n[NAT_S_EXT] == cfg->n_ext;
	for (int c = 0; ok && c < NAT_CHAINS; c++) {
		nat_chain_comments(c, cfg, want, sizeof(want));
		ok = k.chain[c] && !strcmp(k.comments[c], want);
	}
	for (int st = 0; ok && st < NAT_S_COUNT; st++)
		ok = k.set[st];
	for (size_t i = 0; ok && i < cfg->n_ext; i++) {
		struct nat_elem el;
		ok = nat_elem_make(&el, NAT_S_EXT, cfg->ext[i]) == 0 && nat_kernel_find(&k, &el);
	}
	nat_kernel_free(&k);
	return ok;
}

int nat_init(struct ctnet_kern *kern, const char *const *external_ifaces, size_t n, struct ctnet_err *err)
{
	return nat_init_isolate(kern, external_ifaces, n, -1, err);
}

int nat_init_isolate(struct ctnet_kern *kern, const char *const *external_ifaces, size_t n, int isolate,
		     struct ctnet_err *err)
{
	struct nat_config cfg = { 0 }, old;
	struct nat_store s;
	struct nat_elems e = { 0 };
	struct nat_buf b = { 0 };
	int r;

	if (n > NAT_MAX_EXT)
		return ctnet_errf(err, EINVAL, "more than %d external interfaces", NAT_MAX_EXT);
	for (size_t i = 0; i < n; i++) {
		if ((r = ctnet_ifname_check(external_ifaces[i], err)) < 0)
			return r;
		strcpy(cfg.ext[cfg.n_ext++], external_ifaces[i]);
	}
	if ((r = nat_store_open(&s, true, true, err)) < 0)
		return r;
	if ((r = nat_sysctls(&s, false, err)) < 0 || (r = nat_localnet_migrate(kern, &s, err)) < 0 ||
	    (r = nat_store_config_read(&s, &old, err)) < 0)
		goto out;
	cfg.isolate = isolate < 0 ? old.isolate : isolate > 0;
	cfg.docker_user = old.docker_user; /* changed by docker.c only */
	cfg.localnet_scoped = true;
	if (table_current(kern, &cfg)) { /* init twice changes nothing, not even rule handles */
		r = nat_store_config_write(&s, &cfg, err);
		goto out;
	}
	/* In place: keeps the elements (and their counters) of an existing table. */
	nat_buf_init(&b, &cfg);
	if ((r = nat_elems_config(&e, &cfg, err)) < 0)
		goto out;
	nat_buf_elems(&b, "add", &e);
	if (b.oom) {
		r = ctnet_err_sys(err, ENOMEM, "build nftables table");
		goto out;
	}
	r = nat_nft_run(kern, b.p, err);
	if (r < 0) {
		/* An old or damaged table (a set of another type, say): start over. */
		struct ctnet_err e2 = { 0 };
		if (nat_rebuild(kern, &s, &cfg, NULL, NULL, &e2) >= 0) {
			ctnet_err_clear(err);
			r = 0;
		}
	}
	if (r >= 0)
		r = nat_store_config_write(&s, &cfg, err);
out:
	nat_buf_free(&b);
	nat_elems_free(&e);
	nat_store_close(&s);
	return r;
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
