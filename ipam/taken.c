/* SPDX-License-Identifier: MIT */
/* What makes an address unavailable besides claims: nixos configs, pool files and their
 * slot maps, other pools' bridges. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipam_int.h"
#include "nixosconf.h"
#include "state.h"

/* --- addresses named by nixos-container configs --- */

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

const char *taken_by(const struct conf_taken *t, const struct ctnet_addr *a)
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
int conf_load(const char *dir, const char *self, struct conf_taken *t,
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

int pool_read(const struct ctx *c, const struct ctnet_addr *net, struct pool_state *p,
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

int pool_write(const struct ctx *c, const struct pool_state *p, struct ctnet_err *err)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "SINGLE=%d\nHINT=%lu\n", p->single, p->hint);
	return ctnet_write_atomic(c->pool, p->file, buf, (size_t)n, err);
}

/* Reads the pool file, creating it for a new pool; refuses a pool used in the other mode. */
int pool_open(const struct ctx *c, const struct ipam_pool *pool, struct pool_state *p,
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
int map_open(const struct ctx *c, const struct pool_state *p, struct ctnet_err *err)
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

uint64_t map_word_cached(int fd, struct map_cache *m, uint32_t w)
{
	if (m->first < 0 || w < m->first || w >= m->first + (int64_t)ARRAY_SIZE(m->w)) {
		m->first = w;
		ssize_t n = pread(fd, m->w, sizeof(m->w), (off_t)w * 8);
		size_t got = n > 0 ? (size_t)n / 8 : 0;
		memset(m->w + got, 0, sizeof(m->w) - got * 8); /* past the end: maybe free */
	}
	return m->w[w - m->first];
}

int map_set(int fd, uint32_t slot, bool taken, const char *shown, struct ctnet_err *err)
{
	uint64_t v = map_word(fd, slot / 64), bit = 1ULL << (slot % 64);
	uint64_t nv = taken ? v | bit : v & ~bit;
	if (nv != v && pwrite(fd, &nv, sizeof(nv), (off_t)(slot / 64) * 8) != (ssize_t)sizeof(nv))
		return ctnet_err_sys(err, errno, "update slot map of pool %s", shown);
	return 0;
}

/* The other single-address pools: their subnets belong to their bridges. */
int bridges_load(const struct ctx *c, const struct ipam_pool *self, struct conf_taken *t,
		 struct ctnet_err *err)
{
	DIR *d = ctnet_dir_opendir(c->pool); /* its own offset, not a dup's shared one */
	if (!d)
		return ctnet_err_sys(err, errno, "list \"%s/pool\"", c->shown);
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
