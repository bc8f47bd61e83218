/* SPDX-License-Identifier: MIT */
/* Leases on disk: claims, lease files, pool hints (see STATE in ipam.h). */
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

#include "ipam.h"
#include "nixosconf.h"
#include "state.h"

#define LEASE_FILE_MAX 2048

/* The open state: every fd below is an O_DIRECTORY fd checked by ctnet_*dir_open. */
struct ctx {
	int ipam, addr, lease, pool, lock;
	char shown[4096]; /* $STATE/ipam, for messages */
};

static void ctx_close(struct ctx *c)
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
static int ctx_open(struct ctx *c, bool create, bool lock, struct ctnet_err *err)
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
		c->lock = ctnet_lock(c->ipam, "lock", err);
		if (c->lock < 0) {
			r = c->lock;
			ctx_close(c);
			return r;
		}
	}
	return 0;
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
static int lease_read(const struct ctx *c, const char *name, struct ipam_lease *out,
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
static int lease_write(const struct ctx *c, const struct ipam_lease *l, struct ctnet_err *err)
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

enum claim { CLAIM_FREE, CLAIM_ORPHAN, CLAIM_TAKEN };

/* Who holds a; an owner without a lease naming a (a crash's leftover) is an orphan. */
static int claim_status(const struct ctx *c, const struct ctnet_addr *a, char *owner,
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

static int claim(const struct ctx *c, const struct ctnet_addr *a, const char *name,
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

static void unclaim(const struct ctx *c, const struct ctnet_addr *a, const char *name)
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

/* --- addresses named by nixos-container configs --- */

struct conf_addr {
	struct ctnet_addr addr;
	char file[NAME_MAX + 1];
};

/* What makes an address unavailable besides claims: configs, and other pools' bridges. */
struct conf_taken {
	struct conf_addr *v;
	size_t n, cap;
	struct ctnet_addr bridges[64]; /* single (bridge) pools other than the one in use */
	size_t nbridges;
};

static int taken_add(struct conf_taken *t, const struct ctnet_addr *a, const char *file)
{
	if (!a->family)
		return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct conf_addr *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n].addr = *a;
	snprintf(t->v[t->n].file, sizeof(t->v[t->n].file), "%s", file);
	t->n++;
	return 0;
}

static const char *taken_by(const struct conf_taken *t, const struct ctnet_addr *a)
{
	for (size_t i = 0; i < t->n; i++)
		if (ctnet_addr_equal(&t->v[i].addr, a))
			return t->v[i].file;
	return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && !strcmp(s + n - m, suffix);
}

/* Every address in dir/ *.conf except self's own NAME.conf. A missing dir is empty. */
static int conf_load(const char *dir, const char *self, struct conf_taken *t,
		     struct ctnet_err *err)
{
	char show[CTNET_SHOW_MAX], own[CTNET_NAME_MAX + 8];
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return ctnet_err_sys(err, errno, "nixos conf dir \"%s\"", ctnet_show(dir, show));
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return ctnet_err_sys(err, e, "nixos conf dir \"%s\"", ctnet_show(dir, show));
	}
	snprintf(own, sizeof(own), "%s.conf", self);
	int r = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.' || !ends_with(e->d_name, ".conf") || !strcmp(e->d_name, own))
			continue;
		char path[4096];
		_cleanup_free_ char *buf = NULL;
		size_t len;
		struct nixosconf conf;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		r = nixosconf_slurp(dirfd(d), e->d_name, &buf, &len, err);
		if (r < 0)
			break;
		r = nixosconf_parse(buf, len, ctnet_show(path, show), &conf, err);
		if (r < 0)
			break;
		if (taken_add(t, &conf.host_address, path) < 0 ||
		    taken_add(t, &conf.local_address, path) < 0 ||
		    taken_add(t, &conf.host_address6, path) < 0 ||
		    taken_add(t, &conf.local_address6, path) < 0) {
			r = ctnet_errf(err, ENOMEM, "nixos conf dir: out of memory");
			break;
		}
	}
	closedir(d);
	return r;
}

/* --- pool files: pool/<cidr> with SINGLE and HINT --- */

struct pool_state {
	char file[CTNET_ADDR_STRLEN];
	bool exists, single;
	unsigned long hint;
};

static int pool_cb(const char *key, const char *value, void *data, struct ctnet_err *err)
{
	struct pool_state *p = data;
	unsigned long v;
	if (!strcmp(key, "SINGLE")) {
		if (ctnet_uint_parse(value, 0, 1, key, &v, err) < 0)
			return -EINVAL;
		p->single = v;
	} else if (!strcmp(key, "HINT")) {
		if (ctnet_uint_parse(value, 0, UINT32_MAX, key, &p->hint, err) < 0)
			return -EINVAL;
	}
	return 0;
}

static int pool_read(const struct ctx *c, const struct ctnet_addr *net, struct pool_state *p,
		     struct ctnet_err *err)
{
	char buf[256], shown[4300];
	struct ctnet_err sub;

	memset(p, 0, sizeof(*p));
	ctnet_addr_cidr_str(net, p->file);
	*strchr(p->file, '/') = '_';
	ssize_t n = ctnet_read_file(c->pool, p->file, buf, sizeof(buf), &sub);
	if (n == -ENOENT)
		return 0;
	snprintf(shown, sizeof(shown), "pool file \"%s/pool/%s\"", c->shown, p->file);
	if (n < 0)
		return ctnet_errf(err, (int)-n, "%s: %s", shown, sub.msg);
	p->exists = true;
	return nixosconf_parse_kv(buf, (size_t)n, shown, pool_cb, p, err);
}

static int pool_write(const struct ctx *c, const struct pool_state *p, struct ctnet_err *err)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "SINGLE=%d\nHINT=%lu\n", p->single, p->hint);
	return ctnet_write_atomic(c->pool, p->file, buf, (size_t)n, err);
}

/* Reads the pool file, creating it for a new pool; refuses a pool used in the other mode. */
static int pool_open(const struct ctx *c, const struct ipam_pool *pool, struct pool_state *p,
		     struct ctnet_err *err)
{
	char cidr[CTNET_ADDR_STRLEN];
	int r = pool_read(c, &pool->net, p, err);
	if (r < 0)
		return r;
	ctnet_addr_cidr_str(&pool->net, cidr);
	if (!p->exists) {
		if (pool->single) { /* its .1 is the bridge's: no container may hold it */
			struct ctnet_addr br;
			char owner[CTNET_NAME_MAX + 1], ip[CTNET_ADDR_STRLEN];
			ctnet_addr_set_v4(&br, ctnet_addr_v4_u32(&pool->net) + 1, -1);
			r = claim_status(c, &br, owner, err);
			if (r < 0)
				return r;
			if (r == CLAIM_TAKEN)
				return ctnet_errf(err, EADDRINUSE,
						  "bridge pool %s: its bridge address %s is taken by \"%s\"",
						  cidr, ctnet_addr_str(&br, ip), owner);
		}
		p->single = pool->single;
		p->hint = 0;
		return pool_write(c, p, err);
	}
	if (p->single != pool->single)
		return ctnet_errf(err, EINVAL, "pool %s is a %s pool; %s", cidr,
				  p->single ? "single-address (bridge)" : "pair",
				  p->single ? "add --single" : "drop --single");
	return 0;
}

/*
 * pool/<cidr>.map: one bit per slot, set = taken. Only a cache that lets alloc skip runs of
 * taken slots without probing them: a clear bit is always checked against the claims, and
 * a missing or stale map is repaired as alloc goes (delete it and nothing is lost). Words
 * are updated in place with one 8-byte pwrite, which a kill cannot tear.
 */
static int map_open(const struct ctx *c, const struct pool_state *p, struct ctnet_err *err)
{
	char name[CTNET_ADDR_STRLEN + 8];
	snprintf(name, sizeof(name), "%s.map", p->file);
	int fd = openat(c->pool, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return ctnet_err_sys(err, errno, "open \"%s/pool/%s\"", c->shown, name);
	return fd;
}

static uint64_t map_word(int fd, uint32_t w)
{
	uint64_t v = 0;
	/* Past the end of the file (or on a short read) the slots count as maybe free. */
	if (pread(fd, &v, sizeof(v), (off_t)w * 8) != (ssize_t)sizeof(v))
		v = 0;
	return v;
}

/* Reads the map a 4 KiB block at a time while alloc walks it (one pread per 32768 slots). */
struct map_cache {
	uint64_t w[512];
	int64_t first; /* word index of w[0]; -1 = empty */
};

static uint64_t map_word_cached(int fd, struct map_cache *m, uint32_t w)
{
	if (m->first < 0 || w < m->first || w >= m->first + (int64_t)ARRAY_SIZE(m->w)) {
		m->first = w;
		ssize_t n = pread(fd, m->w, sizeof(m->w), (off_t)w * 8);
		size_t got = n > 0 ? (size_t)n / 8 : 0;
		memset(m->w + got, 0, sizeof(m->w) - got * 8); /* past the end: maybe free */
	}
	return m->w[w - m->first];
}

static int map_set(int fd, uint32_t slot, bool taken, const char *shown, struct ctnet_err *err)
{
	uint64_t v = map_word(fd, slot / 64), bit = 1ULL << (slot % 64);
	uint64_t nv = taken ? v | bit : v & ~bit;
	if (nv != v && pwrite(fd, &nv, sizeof(nv), (off_t)(slot / 64) * 8) != (ssize_t)sizeof(nv))
		return ctnet_err_sys(err, errno, "update slot map of pool %s", shown);
	return 0;
}

/* The other single-address pools: their subnets belong to their bridges. */
static int bridges_load(const struct ctx *c, const struct ipam_pool *self, struct conf_taken *t,
			struct ctnet_err *err)
{
	int fd = dup(c->pool);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return ctnet_err_sys(err, errno, "list \"%s/pool\"", c->shown);
	}
	int r = 0;
	for (struct dirent *e; (e = readdir(d));) {
		char cidr[CTNET_ADDR_STRLEN];
		struct ctnet_addr net;
		struct pool_state ps;
		struct ctnet_err sub;
		if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(cidr) ||
		    !strchr(e->d_name, '_'))
			continue;
		snprintf(cidr, sizeof(cidr), "%s", e->d_name);
		*strchr(cidr, '_') = '/';
		if (ctnet_cidr_parse(cidr, "pool", &net, &sub) < 0 || net.family != AF_INET ||
		    (ctnet_addr_equal(&net, &self->net) && net.prefix == self->net.prefix))
			continue;
		if ((r = pool_read(c, &net, &ps, err)) < 0)
			break;
		if (ps.single && t->nbridges < ARRAY_SIZE(t->bridges))
			t->bridges[t->nbridges++] = net;
	}
	closedir(d);
	return r;
}

/* --- the ULA /48 --- */

static int ula_get(const struct ctx *c, struct ctnet_addr *out, struct ctnet_err *err)
{
	char buf[128], shown[4300];
	struct ctnet_err sub;
	ssize_t n = ctnet_read_file(c->ipam, "ula6", buf, sizeof(buf), &sub);

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
static int lease_upgrade_v6(const struct ctx *c, const struct conf_taken *t,
			    struct ipam_lease *l, struct ctnet_err *err)
{
	struct ctnet_addr ula;
	char why[256];
	int r = ula_get(c, &ula, err);
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
	int r = ipam_pool_init(opts->pool ? opts->pool : IPAM_DEFAULT_POOL, opts->single, pool,
			       err);
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
	if (a->ipv6 && (r = ula_get(a->c, &a->ula, err)) < 0)
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
	struct alloc a = { .taken = &taken, .host = { kern }, .ipv6 = opts->ipv6, .mapfd = -1 };
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
			r = lease_upgrade_v6(&c, &taken, out, err);
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

	if ((r = ctnet_name_check(name, err)) < 0 || (r = opts_pool(opts, &pool, cidr, err)) < 0)
		return r;
	if (!local)
		return ctnet_errf(err, EINVAL, "reserve \"%s\": a local address is required", name);
	if (pool.single && host)
		return ctnet_errf(err, EINVAL,
				  "reserve \"%s\": a single-address pool takes no host address", name);
	if (!pool.single && !host)
		return ctnet_errf(err, EINVAL, "reserve \"%s\": a host address is required", name);
	if ((r = check_in_pool(&pool, local, "local address", cidr, err)) < 0 ||
	    (host && (r = check_in_pool(&pool, host, "host address", cidr, err)) < 0))
		return r;
	if (host && ctnet_addr_equal(host, local))
		return ctnet_errf(err, EINVAL, "reserve \"%s\": host and local address are the same",
				  name);
	memset(&want, 0, sizeof(want));
	snprintf(want.name, sizeof(want.name), "%s", name);
	snprintf(want.pool, sizeof(want.pool), "%s", cidr);
	want.single = pool.single;
	want.is_static = true;
	want.local = *local;
	want.local.prefix = pool.single ? pool.net.prefix : -1;
	if (host) {
		want.host = *host;
		want.host.prefix = -1;
	}

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
			r = lease_upgrade_v6(&c, &taken, out, err);
		goto out;
	}
	if (r != -ENOENT)
		goto out;
	if ((r = pool_open(&c, &pool, &ps, err)) < 0)
		goto out;
	if (opts->ipv6) {
		struct ctnet_addr ula;
		if ((r = ula_get(&c, &ula, err)) < 0)
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

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
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
	struct ctnet_err sub;
	struct ctx c;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = ctx_open(&c, false, false, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	int fd = dup(c.lease);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		r = ctnet_err_sys(err, errno, "list \"%s/lease\"", c.shown);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	for (struct dirent *e; (e = readdir(d));) {
		/* Dot files are ctnet_write_atomic's temporaries. */
		if (e->d_name[0] == '.' || ctnet_name_check(e->d_name, &sub) < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **v = realloc(names, cap * sizeof(*v));
			if (!v) {
				r = ctnet_errf(err, ENOMEM, "list leases: out of memory");
				break;
			}
			names = v;
		}
		if (!(names[n] = strdup(e->d_name))) {
			r = ctnet_errf(err, ENOMEM, "list leases: out of memory");
			break;
		}
		n++;
	}
	closedir(d);
	if (r == 0 && n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct ipam_lease l;
		r = lease_read(&c, names[i], &l, err);
		if (r == -ENOENT) { /* released since readdir */
			r = 0;
			continue;
		}
		if (r == 0)
			r = cb(&l, data);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	ctx_close(&c);
	return r;
}
