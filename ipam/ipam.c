/* SPDX-License-Identifier: MIT */
/* Leases: alloc, reserve, release, show, list over the state in store.c and taken.c (see
 * STATE in ipam.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipam_int.h"
#include "nixosconf.h"
#include "state.h"

static void lease_add_v6(struct ipam_lease *l, const struct ctnet_addr *ula)
{
	l->has_v6 = true;
	if (l->host.family)
		ipam_v6_of(ula, &l->host, &l->host6);
	ipam_v6_of(ula, &l->local, &l->local6);
}

/*
 * Whether every address of l is free for l->name: 1 free; 0 claimed by a live lease or
 * inside another pool's bridge subnet (lasting); 2 named in a nixos config (may go away
 * any time). On a conflict, *why says who has it.
 */
static int lease_addrs_free(const struct ctx *c, const struct conf_taken *t,
			    const struct ipam_lease *l, char *why, size_t whysize,
			    struct ctnet_err *err)
{
	const struct ctnet_addr *mine[] = { &l->host, &l->local, &l->host6, &l->local6 };
	char owner[CTNET_NAME_MAX + 1], ip[CTNET_ADDR_STRLEN], show[CTNET_SHOW_MAX];
	for (size_t i = 0; i < ARRAY_SIZE(mine); i++) {
		if (!mine[i]->family)
			continue;
		const char *file = taken_by(t, mine[i]);
		if (file) {
			snprintf(why, whysize, "address %s is named in nixos conf \"%s\"",
				 ctnet_addr_str(mine[i], ip), ctnet_show(file, show));
			return 2;
		}
		for (size_t b = 0; b < t->nbridges; b++) {
			if (ctnet_addr_in(mine[i], &t->bridges[b])) {
				char net[CTNET_ADDR_STRLEN];
				snprintf(why, whysize, "address %s is inside bridge pool %s",
					 ctnet_addr_str(mine[i], ip),
					 ctnet_addr_cidr_str(&t->bridges[b], net));
				return 0;
			}
		}
		int s = claim_status(c, mine[i], owner, err);
		if (s < 0)
			return s;
		if (s == CLAIM_TAKEN && strcmp(owner, l->name)) {
			snprintf(why, whysize, "address %s is taken by \"%s\"",
				 ctnet_addr_str(mine[i], ip), owner);
			return 0;
		}
	}
	return 1;
}

static void lease_unclaim_all(const struct ctx *c, const struct ipam_lease *l)
{
	const struct ctnet_addr *mine[] = { &l->host, &l->local, &l->host6, &l->local6 };
	for (size_t i = 0; i < ARRAY_SIZE(mine); i++)
		unclaim(c, mine[i], l->name);
}

static int lease_claim_all(const struct ctx *c, const struct ipam_lease *l,
			   struct ctnet_err *err)
{
	const struct ctnet_addr *mine[] = { &l->host, &l->local, &l->host6, &l->local6 };
	for (size_t i = 0; i < ARRAY_SIZE(mine); i++) {
		if (!mine[i]->family)
			continue;
		int r = claim(c, mine[i], l->name, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Gives an existing lease IPv6 addresses (alloc --ipv6 after an alloc without). */
static int lease_upgrade_v6(const struct ctx *c, const struct conf_taken *t, const struct ipam_opts *opts,
			    struct ipam_lease *l, struct ctnet_err *err)
{
	struct ctnet_addr ula;
	char why[256];
	int r = ula_get(c, opts->prefix6, &ula, err);
	if (r < 0)
		return r;
	lease_add_v6(l, &ula);
	r = lease_addrs_free(c, t, l, why, sizeof(why), err);
	if (r < 0)
		return r;
	if (r != 1)
		return ctnet_errf(err, EADDRINUSE, "add IPv6 to lease \"%s\": %s", l->name, why);
	if ((r = lease_claim_all(c, l, err)) < 0 || (r = lease_write(c, l, err)) < 0) {
		unclaim(c, &l->host6, l->name); /* the IPv4 claims stay: the lease still has them */
		unclaim(c, &l->local6, l->name);
	}
	return r;
}

static int opts_pool(const struct ipam_opts *opts, struct ipam_pool *pool, char *cidr,
		     struct ctnet_err *err)
{
	const char *def = opts->default_pool ? opts->default_pool : IPAM_DEFAULT_POOL;
	int r = ipam_pool_init(opts->pool ? opts->pool : def, opts->single, pool, err);
	if (r < 0)
		return r;
	ctnet_addr_cidr_str(&pool->net, cidr);
	return 0;
}

/* An existing lease satisfies a request unless the request names another pool or mode. */
static int lease_compatible(const struct ipam_lease *l, const struct ipam_opts *opts,
			    const char *cidr, struct ctnet_err *err)
{
	if ((opts->pool && strcmp(l->pool, cidr)) || l->single != opts->single)
		return ctnet_errf(err, EEXIST,
				  "container \"%s\" already has a lease in pool %s%s; release it first",
				  l->name, l->pool, l->single ? " (single)" : "");
	return 0;
}

/* 1 when no address of l is in use on the host (an interface's address, or for pairs
 * inside a route via another interface), else 2 (it may change: not marked in the map). */
static int host_free(struct ipam_host *h, const struct ipam_lease *l, char *why, size_t whysize,
		     struct ctnet_err *err)
{
	const struct ctnet_addr *mine[] = { &l->host, &l->local, &l->host6, &l->local6 };
	for (size_t i = 0; i < ARRAY_SIZE(mine); i++) {
		int r = ipam_host_clash(h, mine[i], !l->single, NULL, why, whysize, err);
		if (r)
			return r < 0 ? r : 2;
	}
	return 1;
}

/* The addresses the nixos configs (but name's own) hold, and the state, locked. */
static int open_locked(const char *name, const struct ipam_opts *opts, struct conf_taken *taken,
		       struct ctx *c, struct ctnet_err *err)
{
	int r = conf_load(opts->nixos_conf_dir ? opts->nixos_conf_dir : ctnet_nixos_conf_dir(),
			  name, taken, err);
	return r < 0 ? r : ctx_open(c, true, true, err);
}

/* One ipam_alloc: what the search for a new lease and its commit share. */
struct alloc {
	const struct ctx *c;
	struct conf_taken *taken;
	struct ipam_host host;
	struct ipam_pool pool;
	struct pool_state ps;
	struct ctnet_addr ula; /* when ipv6 */
	bool ipv6;
	const struct ctnet_addr *prefix6; /* POOL6, or NULL: ipam/ula6 */
	char cidr[CTNET_ADDR_STRLEN];
	int mapfd;
	uint32_t found, first_conf;
};

/* Slot i as *out's addresses: 1 free; 0 taken for good (the map may say so); 2 named by a
 * config or in use on the host (may change: not for the map). */
static int alloc_slot_free(struct alloc *a, uint32_t i, struct ipam_lease *out,
			   struct ctnet_err *err)
{
	char why[256];
	int r;

	ipam_pool_slot(&a->pool, i, &out->host, &out->local);
	out->host6.family = out->local6.family = 0;
	if (a->ipv6)
		lease_add_v6(out, &a->ula);
	r = lease_addrs_free(a->c, a->taken, out, why, sizeof(why), err);
	if (r == 1)
		r = host_free(&a->host, out, why, sizeof(why), err);
	return r;
}

/*
 * From the hint up, skipping slots the map says are taken; then, only when that finds
 * nothing, every slot again from 0 with the map ignored (and repaired). Sets a->found and
 * a->first_conf (the first slot only a config or the host holds).
 */
static int alloc_search(struct alloc *a, struct ipam_lease *out, struct ctnet_err *err)
{
	const struct ipam_pool *pool = &a->pool;
	uint32_t hint = a->ps.hint < pool->slots ? (uint32_t)a->ps.hint : pool->slots;
	int r;

	a->found = a->first_conf = UINT32_MAX;
	for (int pass = 0; pass < 2 && a->found == UINT32_MAX; pass++) {
		uint64_t word = 0;
		struct map_cache cache = { .first = -1 };
		for (uint32_t i = pass ? 0 : hint; i < pool->slots; i++) {
			if (!pass) {
				if (i == hint || i % 64 == 0)
					word = map_word_cached(a->mapfd, &cache, i / 64);
				if (word == UINT64_MAX) {
					i |= 63; /* the whole word is taken */
					continue;
				}
				if (word & (1ULL << (i % 64)))
					continue;
			}
			if ((r = alloc_slot_free(a, i, out, err)) < 0)
				return r;
			if (r == 1) {
				a->found = i;
				break;
			}
			if (r == 2) { /* a config's or the host's: not in the map, the hint stays below */
				if (a->first_conf == UINT32_MAX)
					a->first_conf = i;
				continue;
			}
			if ((r = map_set(a->mapfd, i, true, a->cidr, err)) < 0)
				return r;
		}
	}
	if (a->found == UINT32_MAX)
		return ctnet_errf(err, ENOSPC, "pool %s exhausted: all %" PRIu32 " %s taken", a->cidr,
				  pool->slots, pool->single ? "addresses" : "pairs");
	return 0;
}

/* Claims, then the lease (the commit point), then the hint. */
static int alloc_commit(struct alloc *a, const struct ipam_lease *out, struct ctnet_err *err)
{
	struct ctnet_err ignored;
	int r;

	if ((r = lease_claim_all(a->c, out, err)) < 0 || (r = lease_write(a->c, out, err)) < 0) {
		lease_unclaim_all(a->c, out); /* a failed alloc (e.g. disk full) leaves nothing */
		return r;
	}
	/* Committed. The map and the hint only speed up the next search, which checks claims
	 * and repairs them, so failing to update them (a full disk) must not fail the alloc:
	 * the caller would not release a lease it was told does not exist. */
	if (map_set(a->mapfd, a->found, true, a->cidr, &ignored) == 0) {
		a->ps.hint = a->first_conf < a->found ? a->first_conf : a->found + 1;
		pool_write(a->c, &a->ps, &ignored);
	}
	return 0;
}

/* A container without a lease: the pool's first free slot. a->mapfd is the caller's to close. */
static int alloc_new(struct alloc *a, const char *name, struct ipam_lease *out,
		     struct ctnet_err *err)
{
	int r;

	if ((r = pool_open(a->c, &a->pool, &a->ps, err)) < 0)
		return r;
	if (a->ipv6 && (r = ula_get(a->c, a->prefix6, &a->ula, err)) < 0)
		return r;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->pool, sizeof(out->pool), "%s", a->cidr);
	out->single = a->pool.single;
	if ((a->mapfd = map_open(a->c, &a->ps, err)) < 0)
		return a->mapfd;
	if ((r = bridges_load(a->c, &a->pool, a->taken, err)) < 0 ||
	    (r = alloc_search(a, out, err)) < 0)
		return r;
	return alloc_commit(a, out, err);
}

int ipam_alloc(struct ctnet_kern *kern, const char *name, const struct ipam_opts *opts, struct ipam_lease *out,
	       struct ctnet_err *err)
{
	struct conf_taken taken = { 0 };
	struct alloc a = { .taken = &taken, .host = { kern }, .ipv6 = opts->ipv6, .prefix6 = opts->prefix6,
			  .mapfd = -1 };
	struct ctx c;
	int r;

	if ((r = ctnet_name_check(name, err)) < 0 || (r = opts_pool(opts, &a.pool, a.cidr, err)) < 0)
		return r;
	if ((r = open_locked(name, opts, &taken, &c, err)) < 0)
		goto out_taken;
	a.c = &c;

	r = lease_read(&c, name, out, err);
	if (r == 0) {
		r = lease_compatible(out, opts, a.cidr, err);
		if (r == 0 && opts->ipv6 && !out->has_v6)
			r = lease_upgrade_v6(&c, &taken, opts, out, err);
	} else if (r == -ENOENT) {
		r = alloc_new(&a, name, out, err);
	}
	if (a.mapfd >= 0)
		close(a.mapfd);
	ctx_close(&c);
out_taken:
	free(taken.v);
	return r;
}

/* The pool's network and broadcast addresses, and a bridge pool's .1, are not for leases. */
static int check_in_pool(const struct ipam_pool *pool, const struct ctnet_addr *a,
			 const char *what, const char *cidr, struct ctnet_err *err)
{
	char ip[CTNET_ADDR_STRLEN];
	if (a->family != AF_INET || !ctnet_addr_in(a, &pool->net))
		return ctnet_errf(err, EINVAL, "%s %s is outside pool %s", what,
				  ctnet_addr_cidr_str(a, ip), cidr);
	uint32_t off = ctnet_addr_v4_u32(a) - ctnet_addr_v4_u32(&pool->net);
	uint32_t last = (1u << (32 - pool->net.prefix)) - 1;
	if (off == 0 || off == last)
		return ctnet_errf(err, EINVAL, "%s %s is the network or broadcast address of pool %s",
				  what, ctnet_addr_str(a, ip), cidr);
	if (pool->single && off == 1)
		return ctnet_errf(err, EINVAL, "%s %s is kept for the bridge of pool %s", what,
				  ctnet_addr_str(a, ip), cidr);
	if (a->prefix >= 0 && a->prefix != (pool->single ? pool->net.prefix : 32))
		return ctnet_errf(err, EINVAL, "%s %s: prefix must be /%d or none", what,
				  ctnet_addr_cidr_str(a, ip), pool->single ? pool->net.prefix : 32);
	return 0;
}

static bool same_addrs(const struct ipam_lease *a, const struct ipam_lease *b)
{
	return ctnet_addr_equal(&a->local, &b->local) &&
	       (a->host.family == b->host.family &&
		(!a->host.family || ctnet_addr_equal(&a->host, &b->host)));
}

/* The lease that reserve asks for, checked against the pool (no state read yet). */
static int reserve_want(const char *name, const struct ctnet_addr *host,
			const struct ctnet_addr *local, const struct ipam_pool *pool,
			const char *cidr, struct ipam_lease *want, struct ctnet_err *err)
{
	int r;

	if (!local)
		return ctnet_errf(err, EINVAL, "reserve \"%s\": a local address is required", name);
	if (pool->single && host)
		return ctnet_errf(err, EINVAL,
				  "reserve \"%s\": a single-address pool takes no host address", name);
	if (!pool->single && !host)
		return ctnet_errf(err, EINVAL, "reserve \"%s\": a host address is required", name);
	if ((r = check_in_pool(pool, local, "local address", cidr, err)) < 0 ||
	    (host && (r = check_in_pool(pool, host, "host address", cidr, err)) < 0))
		return r;
	if (host && ctnet_addr_equal(host, local))
		return ctnet_errf(err, EINVAL, "reserve \"%s\": host and local address are the same",
				  name);
	memset(want, 0, sizeof(*want));
	snprintf(want->name, sizeof(want->name), "%s", name);
	snprintf(want->pool, sizeof(want->pool), "%s", cidr);
	want->single = pool->single;
	want->is_static = true;
	want->local = *local;
	want->local.prefix = pool->single ? pool->net.prefix : -1;
	if (host) {
		want->host = *host;
		want->host.prefix = -1;
	}
	return 0;
}

int ipam_reserve(struct ctnet_kern *kern, const char *name, const struct ctnet_addr *host, const struct ctnet_addr *local,
		 const struct ipam_opts *opts, struct ipam_lease *out, struct ctnet_err *err)
{
	struct conf_taken taken = { 0 };
	struct ipam_pool pool;
	struct ipam_lease want, cur;
	struct pool_state ps;
	struct ctx c;
	char cidr[CTNET_ADDR_STRLEN], why[256];
	int r;

	if ((r = ctnet_name_check(name, err)) < 0 || (r = opts_pool(opts, &pool, cidr, err)) < 0 ||
	    (r = reserve_want(name, host, local, &pool, cidr, &want, err)) < 0)
		return r;
	if ((r = open_locked(name, opts, &taken, &c, err)) < 0)
		goto out_taken;
	r = lease_read(&c, name, &cur, err);
	if (r == 0) {
		if (strcmp(cur.pool, cidr) || cur.single != want.single || !same_addrs(&cur, &want)) {
			r = ctnet_errf(err, EEXIST,
				       "container \"%s\" already has other addresses (pool %s); "
				       "release it first",
				       name, cur.pool);
			goto out;
		}
		*out = cur;
		if (opts->ipv6 && !cur.has_v6)
			r = lease_upgrade_v6(&c, &taken, opts, out, err);
		goto out;
	}
	if (r != -ENOENT)
		goto out;
	if ((r = pool_open(&c, &pool, &ps, err)) < 0)
		goto out;
	if (opts->ipv6) {
		struct ctnet_addr ula;
		if ((r = ula_get(&c, opts->prefix6, &ula, err)) < 0)
			goto out;
		lease_add_v6(&want, &ula);
	}
	if ((r = bridges_load(&c, &pool, &taken, err)) < 0)
		goto out;
	r = lease_addrs_free(&c, &taken, &want, why, sizeof(why), err);
	if (r == 1) {
		struct ipam_host hs = { kern };
		r = host_free(&hs, &want, why, sizeof(why), err);
	}
	if (r < 0)
		goto out;
	if (r != 1) {
		r = ctnet_errf(err, EADDRINUSE, "reserve \"%s\": %s", name, why);
		goto out;
	}
	if ((r = lease_claim_all(&c, &want, err)) < 0 || (r = lease_write(&c, &want, err)) < 0)
		goto out;
	*out = want;
out:
	ctx_close(&c);
out_taken:
	free(taken.v);
	return r;
}

int ipam_release(const char *name, struct ctnet_err *err)
{
	struct ipam_lease l;
	struct ctx c;
	int r;

	if ((r = ctnet_name_check(name, err)) < 0)
		return r;
	r = ctx_open(&c, false, true, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = lease_read(&c, name, &l, err);
	if (r == -ENOENT) {
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	/* Lower the hint first: a crash after it costs one extra probe, never a lost slot. */
	struct ipam_pool pool;
	struct pool_state ps;
	struct ctnet_err sub;
	if (ipam_pool_init(l.pool, l.single, &pool, &sub) == 0 &&
	    pool_read(&c, &pool.net, &ps, &sub) == 0 && ps.exists) {
		int64_t idx = ipam_pool_index(&pool, &l.local);
		if (idx >= 0 && (unsigned long)idx < ps.hint) {
			ps.hint = (unsigned long)idx;
			if ((r = pool_write(&c, &ps, err)) < 0)
				goto out;
		}
		if (idx >= 0) {
			int mapfd = map_open(&c, &ps, err);
			r = mapfd < 0 ? mapfd : map_set(mapfd, (uint32_t)idx, false, l.pool, err);
			if (mapfd >= 0)
				close(mapfd);
			if (r < 0)
				goto out;
		}
	}
	if ((r = ctnet_unlink(c.lease, name, err)) < 0)
		goto out;
	unclaim(&c, &l.host, name);
	unclaim(&c, &l.local, name);
	unclaim(&c, &l.host6, name);
	unclaim(&c, &l.local6, name);
out:
	ctx_close(&c);
	return r;
}

int ipam_show(const char *name, struct ipam_lease *out, struct ctnet_err *err)
{
	struct ctx c;
	int r;

	if ((r = ctnet_name_check(name, err)) < 0)
		return r;
	r = ctx_open(&c, false, false, err);
	if (r == -ENOENT)
		return ctnet_errf(err, ENOENT, "no lease for \"%s\"", name);
	if (r < 0)
		return r;
	r = lease_read(&c, name, out, err);
	if (r == -ENOENT)
		r = ctnet_errf(err, ENOENT, "no lease for \"%s\"", name);
	ctx_close(&c);
	return r;
}

int ipam_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err)
{
	/* Written atomically: ula6 in ipam/, leases and pool hints; claims are symlinkat()s,
	 * swept all the same in case a writer ever writes one through a temp file. */
	static const char *const dirs[] = { "ipam", "ipam/addr", "ipam/lease", "ipam/pool" };
	return ctnet_tmp_sweep_dirs(ctnet_state_dir(), dirs, ARRAY_SIZE(dirs), cb, data, err);
}

int ipam_list(int (*cb)(const struct ipam_lease *lease, void *data), void *data,
	      struct ctnet_err *err)
{
	struct ctnet_dir_entry *names = NULL;
	struct ctx c;
	char what[4200];
	size_t n = 0;
	int r = ctx_open(&c, false, false, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	/* Dot files (ctnet_write_atomic's temporaries) are no leases. */
	snprintf(what, sizeof(what), "\"%s/lease\"", c.shown);
	if ((r = ctnet_dir_list(c.lease, what, &names, &n, err)) < 0)
		goto out;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct ipam_lease l;
		r = lease_read(&c, names[i].name, &l, err);
		if (r == -ENOENT) { /* released since readdir */
			r = 0;
			continue;
		}
		if (r == 0)
			r = cb(&l, data);
	}
out:
	free(names);
	ctx_close(&c);
	return r;
}
