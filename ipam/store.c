/* SPDX-License-Identifier: MIT */
/* The ipam state directory: opening it, lease files, address claims, the ULA prefix. */
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

#define LEASE_FILE_MAX 2048

void ctx_close(struct ctx *c)
{
	ctnet_unlock(c->lock);
	int fds[] = { c->addr, c->lease, c->pool, c->ipam };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int sub_open(struct ctx *c, const char *name, bool create, struct ctnet_err *err)
{
	char shown[4200];
	snprintf(shown, sizeof(shown), "%s/%s", c->shown, name);
	return ctnet_subdir_open(c->ipam, name, create, shown, err);
}

/* Opens $STATE/ipam and its folders; with `lock`, takes the lock. -ENOENT when absent. */
int ctx_open(struct ctx *c, bool create, bool lock, struct ctnet_err *err)
{
	const char *base = ctnet_state_dir();
	int state, r;

	memset(c, 0, sizeof(*c));
	c->ipam = c->addr = c->lease = c->pool = c->lock = -1;
	state = ctnet_dir_open(base, NULL, create, err);
	if (state < 0)
		return state;
	snprintf(c->shown, sizeof(c->shown), "%s/ipam", base);
	c->ipam = ctnet_subdir_open(state, "ipam", create, c->shown, err);
	close(state);
	if (c->ipam < 0)
		return c->ipam;
	if ((c->addr = sub_open(c, "addr", create, err)) < 0 ||
	    (c->lease = sub_open(c, "lease", create, err)) < 0 ||
	    (c->pool = sub_open(c, "pool", create, err)) < 0) {
		r = c->addr < 0 ? c->addr : c->lease < 0 ? c->lease : c->pool;
		ctx_close(c);
		return r;
	}
	if (lock) {
		/* A writer: the lock, then proof that what it writes can be written. */
		if ((r = c->lock = ctnet_lock(c->ipam, "lock", err)) < 0 ||
		    (r = ctnet_dir_probe(c->ipam, c->shown, err)) < 0) {
			ctx_close(c);
			return r;
		}
	}
	return 0;
}

int ipam_writable(struct ctnet_err *err)
{
	return ctnet_state_probe(ctnet_state_dir(), "ipam", err);
}

/* --- lease files --- */

static void put_addr(struct ctnet_kv_out *o, const char *key, const struct ctnet_addr *a)
{
	char s[CTNET_ADDR_STRLEN];
	if (a->family)
		ctnet_kv_put(o, key, ctnet_addr_cidr_str(a, s));
}

/* The lease file's text: lib's KEY=VALUE writer (what lease_cb reads back). */
static int lease_format(const struct ipam_lease *l, char *buf, size_t size, struct ctnet_err *err)
{
	char what[CTNET_NAME_MAX + 16];
	struct ctnet_kv_out o = { .p = buf, .cap = size, .what = what, .err = err };

	snprintf(what, sizeof(what), "lease \"%s\"", l->name);
	ctnet_kv_put(&o, "NAME", l->name);
	ctnet_kv_put(&o, "POOL", l->pool);
	ctnet_kv_put(&o, "SINGLE", l->single ? "1" : "0");
	ctnet_kv_put(&o, "STATIC", l->is_static ? "1" : "0");
	put_addr(&o, "HOST_ADDRESS", &l->host);
	put_addr(&o, "LOCAL_ADDRESS", &l->local);
	put_addr(&o, "HOST_ADDRESS6", &l->host6);
	put_addr(&o, "LOCAL_ADDRESS6", &l->local6);
	return o.error ? o.error : (int)o.len;
}

static int lease_cb(const char *key, const char *value, void *data, struct ctnet_err *err)
{
	struct ipam_lease *l = data;
	char show[CTNET_SHOW_MAX];

	if (!strcmp(key, "NAME")) {
		if (ctnet_name_check(value, err) < 0)
			return -EINVAL;
		snprintf(l->name, sizeof(l->name), "%s", value);
	} else if (!strcmp(key, "POOL")) {
		struct ctnet_addr net;
		if (ctnet_cidr_parse(value, "POOL", &net, err) < 0)
			return -EINVAL;
		ctnet_addr_cidr_str(&net, l->pool);
	} else if (!strcmp(key, "SINGLE") || !strcmp(key, "STATIC")) {
		if (strcmp(value, "0") && strcmp(value, "1"))
			return ctnet_errf(err, EINVAL, "%s \"%s\": expected 0 or 1", key,
					  ctnet_show(value, show));
		*(key[1] == 'I' ? &l->single : &l->is_static) = value[0] == '1';
	} else if (!strcmp(key, "HOST_ADDRESS")) {
		return ctnet_addr_parse(value, AF_INET, CTNET_ADDR_PREFIX_OK, key, &l->host, err);
	} else if (!strcmp(key, "LOCAL_ADDRESS")) {
		return ctnet_addr_parse(value, AF_INET, CTNET_ADDR_PREFIX_OK, key, &l->local, err);
	} else if (!strcmp(key, "HOST_ADDRESS6")) {
		return ctnet_addr_parse(value, AF_INET6, CTNET_ADDR_NOPREFIX, key, &l->host6, err);
	} else if (!strcmp(key, "LOCAL_ADDRESS6")) {
		return ctnet_addr_parse(value, AF_INET6, CTNET_ADDR_NOPREFIX, key, &l->local6, err);
	}
	return 0;
}

/* Reads lease/<name>. -ENOENT when there is none; a damaged file is an error naming it. */
int lease_read(const struct ctx *c, const char *name, struct ipam_lease *out,
	       struct ctnet_err *err)
{
	char buf[LEASE_FILE_MAX], shown[4300];
	struct ctnet_err sub;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	n = ctnet_read_file(c->lease, name, buf, sizeof(buf), &sub);
	if (n == -ENOENT)
		return -ENOENT;
	snprintf(shown, sizeof(shown), "lease \"%s/lease/%s\"", c->shown, name);
	if (n < 0)
		return ctnet_errf(err, (int)-n, "%s: %s", shown, sub.msg);
	int r = nixosconf_parse_kv(buf, (size_t)n, shown, lease_cb, out, err);
	if (r < 0)
		return r;
	bool pair_ok = out->host.family && !out->host6.family == !out->local6.family;
	bool single_ok = !out->host.family && !out->host6.family;
	if (strcmp(out->name, name) || !out->pool[0] || !out->local.family ||
	    !(out->single ? single_ok : pair_ok))
		return ctnet_errf(err, EINVAL, "%s: incomplete or inconsistent", shown);
	out->has_v6 = out->local6.family != 0;
	return 0;
}

/*
 * The commit point of an allocation, after its claims (addr/): a lease survives a power
 * loss whole or not at all. The claims are synced first, so that a lease on disk never
 * names addresses another allocation would find unclaimed; then the file before its rename
 * and the directory after (ctnet_write_atomic_flags).
 */
int lease_write(const struct ctx *c, const struct ipam_lease *l, struct ctnet_err *err)
{
	char buf[LEASE_FILE_MAX];
	char shown[4200];
	int n = lease_format(l, buf, sizeof(buf), err), r;
	if (n < 0)
		return n;
	snprintf(shown, sizeof(shown), "%s/addr", c->shown);
	if ((r = ctnet_dir_sync(c->addr, shown, err)) < 0)
		return r;
	return ctnet_write_atomic_flags(c->lease, l->name, buf, (size_t)n, CTNET_WRITE_DURABLE, err);
}

static bool lease_has(const struct ipam_lease *l, const struct ctnet_addr *a)
{
	const struct ctnet_addr *mine[] = { &l->host, &l->local, &l->host6, &l->local6 };
	for (size_t i = 0; i < ARRAY_SIZE(mine); i++)
		if (mine[i]->family && ctnet_addr_equal(mine[i], a))
			return true;
	return false;
}

/* --- claims: addr/<ip> -> owner --- */

/* Who holds a; an owner without a lease naming a (a crash's leftover) is an orphan. */
int claim_status(const struct ctx *c, const struct ctnet_addr *a, char *owner,
		 struct ctnet_err *err)
{
	char ip[CTNET_ADDR_STRLEN];
	struct ipam_lease l;
	struct ctnet_err sub;

	ctnet_addr_str(a, ip);
	ssize_t n = readlinkat(c->addr, ip, owner, CTNET_NAME_MAX + 1);
	if (n < 0) {
		if (errno == ENOENT)
			return CLAIM_FREE;
		return ctnet_err_sys(err, errno, "read claim \"%s/addr/%s\"", c->shown, ip);
	}
	if (n > CTNET_NAME_MAX)
		n = CTNET_NAME_MAX; /* junk; fails the name check below */
	owner[n] = '\0';
	if (ctnet_name_check(owner, &sub) < 0)
		return CLAIM_ORPHAN;
	int r = lease_read(c, owner, &l, err);
	if (r == -ENOENT)
		return CLAIM_ORPHAN;
	if (r < 0)
		return r;
	return lease_has(&l, a) ? CLAIM_TAKEN : CLAIM_ORPHAN;
}

int claim(const struct ctx *c, const struct ctnet_addr *a, const char *name,
	  struct ctnet_err *err)
{
	char ip[CTNET_ADDR_STRLEN];
	ctnet_addr_str(a, ip);
	/* Callers hold the lock and checked the claim is free or an orphan. */
	if (unlinkat(c->addr, ip, 0) < 0 && errno != ENOENT)
		return ctnet_err_sys(err, errno, "remove stale claim \"%s/addr/%s\"", c->shown, ip);
	if (symlinkat(name, c->addr, ip) < 0)
		return ctnet_err_sys(err, errno, "claim \"%s/addr/%s\"", c->shown, ip);
	return 0;
}

void unclaim(const struct ctx *c, const struct ctnet_addr *a, const char *name)
{
	char ip[CTNET_ADDR_STRLEN], owner[CTNET_NAME_MAX + 2];
	if (!a->family)
		return;
	ctnet_addr_str(a, ip);
	ssize_t n = readlinkat(c->addr, ip, owner, sizeof(owner) - 1);
	if (n < 0)
		return;
	owner[n] = '\0';
	if (!strcmp(owner, name))
		unlinkat(c->addr, ip, 0);
}

/* --- the ULA /48 --- */

int ula_get(const struct ctx *c, const struct ctnet_addr *want, struct ctnet_addr *out, struct ctnet_err *err)
{
	char buf[128], shown[4300];
	struct ctnet_err sub;
	ssize_t n;

	/* The host config's POOL6 (checked a /48 by lib/hostconf.c): ula6 is neither read
	 * nor written, so a host that drops POOL6 again goes back to its own ULA. */
	if (want) {
		if (want->family != AF_INET6 || want->prefix != 48)
			return ctnet_errf(err, EINVAL, "POOL6: expected an IPv6 /48");
		*out = *want;
		return 0;
	}
	n = ctnet_read_file(c->ipam, "ula6", buf, sizeof(buf), &sub);

	snprintf(shown, sizeof(shown), "%s/ula6", c->shown);
	if (n == -ENOENT) {
		uint8_t rnd[5];
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return ctnet_err_sys(err, errno, "getrandom for the ULA prefix");
		memset(out, 0, sizeof(*out));
		out->family = AF_INET6;
		out->prefix = 48;
		out->bytes[0] = 0xfd;
		memcpy(out->bytes + 1, rnd, sizeof(rnd));
		char s[CTNET_ADDR_STRLEN + 2];
		ctnet_addr_cidr_str(out, s);
		strcat(s, "\n");
		/* Once per host, and every IPv6 lease is made from it: durable too. */
		return ctnet_write_atomic_flags(c->ipam, "ula6", s, strlen(s), CTNET_WRITE_DURABLE, err);
	}
	if (n < 0)
		return ctnet_errf(err, (int)-n, "ULA prefix \"%s\": %s", shown, sub.msg);
	buf[strcspn(buf, "\n")] = '\0';
	if (ctnet_cidr_parse(buf, "ULA prefix", out, &sub) < 0 || out->family != AF_INET6 ||
	    out->prefix != 48 || out->bytes[0] != 0xfd)
		return ctnet_errf(err, EINVAL, "ULA prefix \"%s\": expected fdxx:xxxx:xxxx::/48",
				  shown);
	return 0;
}
