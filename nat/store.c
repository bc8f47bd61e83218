/* SPDX-License-Identifier: MIT */
/*
 * Desired state under $CTNET_STATE_DIR/nat/: `config` (external interfaces, cluster CIDRs, isolation),
 * `containers/NAME` (KEY=VALUE lines), `ports/tcp-8080[-HOSTIP]` -> owner (a symlink, so
 * "who holds this port" is one readlink), and `lock`. Readable with ls and cat.
 */
#include "nat_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nixosconf.h"
#include "state.h"

int nat_store_open(struct nat_store *s, bool create, bool lock, struct ctnet_err *err)
{
	char shown[4096];
	int r;

	*s = (struct nat_store){ -1, -1, -1, -1 };
	if (!create) {
		/* Read-only callers see a missing state dir as "nothing recorded". */
		char path[4096];
		snprintf(path, sizeof(path), "%s/nat", ctnet_state_dir());
		if (access(path, F_OK) < 0 && errno == ENOENT)
			return -ENOENT;
	}
	r = s->dir = ctnet_dir_open(ctnet_state_dir(), "nat", create, err);
	if (r < 0)
		goto fail;
	/* A writer: the lock, then proof that what it writes can be written. */
	snprintf(shown, sizeof(shown), "%s/nat", ctnet_state_dir());
	if (lock && ((r = s->lock = ctnet_lock(s->dir, "lock", err)) < 0 || (r = ctnet_dir_probe(s->dir, shown, err)) < 0))
		goto fail;
	snprintf(shown, sizeof(shown), "%s/nat/containers", ctnet_state_dir());
	if ((r = s->containers = ctnet_subdir_open(s->dir, "containers", true, shown, err)) < 0)
		goto fail;
	snprintf(shown, sizeof(shown), "%s/nat/ports", ctnet_state_dir());
	if ((r = s->ports = ctnet_subdir_open(s->dir, "ports", true, shown, err)) < 0)
		goto fail;
	return 0;
fail:
	nat_store_close(s);
	return r;
}

int nat_writable(struct ctnet_err *err)
{
	return ctnet_state_probe(ctnet_state_dir(), "nat", err);
}

static int claims_sweep(struct nat_store *s);

int nat_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err)
{
	/* config and route_localnet (the bridges switched on) in nat/ and containers/NAME are
	 * written atomically; port claims are symlinks, swept all the same. */
	static const char *const dirs[] = { "nat", "nat/containers", "nat/ports" };
	struct nat_store st;
	int r = ctnet_tmp_sweep_dirs(ctnet_state_dir(), dirs, ARRAY_SIZE(dirs), cb, data, err);

	/* Claims of ports their owner no longer forwards: a forward change killed between the
	 * new entry and the release of the old claims (down frees only the ports listed). */
	if (r == 0 && nat_store_open(&st, false, true, err) == 0) {
		ctnet_swept_report(cb, data, CTNET_DEBRIS_CLAIM, "nat/ports", claims_sweep(&st));
		ctnet_swept_report(cb, data, CTNET_DEBRIS_CLAIM, "nat/shared", nat_store_shared_sweep(&st));
		nat_store_close(&st);
	}
	return r;
}

void nat_store_close(struct nat_store *s)
{
	if (s->lock >= 0)
		ctnet_unlock(s->lock);
	if (s->ports >= 0)
		close(s->ports);
	if (s->containers >= 0)
		close(s->containers);
	if (s->dir >= 0)
		close(s->dir);
	*s = (struct nat_store){ -1, -1, -1, -1 };
}

/*
 * The files are lib's KEY=VALUE format (lib/nixosconf.h), read and written by its one
 * reader and writer. The old strtok reader's files (bare values, '#' comments) are a subset.
 * Upper bounds: 64 forwards of ~90 bytes, 16 interfaces of ~35.
 */
#define NAT_FILE_MAX 16384

static int config_cb(const char *key, const char *value, void *data, struct ctnet_err *err)
{
	struct nat_config *cfg = data;
	char show[CTNET_SHOW_MAX];

	if (!strcmp(key, "EXTERNAL_INTERFACE")) {
		if (cfg->n_ext == NAT_MAX_EXT)
			return ctnet_errf(err, EINVAL, "more than %d EXTERNAL_INTERFACE lines",
					  NAT_MAX_EXT);
		if (ctnet_ifname_check(value, err) < 0)
			return -EINVAL;
		snprintf(cfg->ext[cfg->n_ext++], sizeof(cfg->ext[0]), "%s", value);
	} else if (!strcmp(key, "CLUSTER_CIDR")) {
		if (cfg->n_cluster == NAT_MAX_CLUSTER)
			return ctnet_errf(err, EINVAL, "more than %d CLUSTER_CIDR lines", NAT_MAX_CLUSTER);
		if (ctnet_cidr_parse(value, "CLUSTER_CIDR", &cfg->cluster[cfg->n_cluster], err) < 0)
			return -EINVAL;
		cfg->n_cluster = nat_cluster_normalize(cfg->cluster, cfg->n_cluster + 1);
	} else if (!strcmp(key, "ISOLATE")) {
		if (strcmp(value, "0") && strcmp(value, "1"))
			return ctnet_errf(err, EINVAL, "ISOLATE \"%s\": expected 0 or 1",
					  ctnet_show(value, show));
		cfg->isolate = value[0] == '1';
	} else if (!strcmp(key, "DOCKER_USER")) {
		if (strcmp(value, "0") && strcmp(value, "1"))
			return ctnet_errf(err, EINVAL, "DOCKER_USER \"%s\": expected 0 or 1",
					  ctnet_show(value, show));
		cfg->docker_user = value[0] == '1';
	} else if (!strcmp(key, "ROUTE_LOCALNET")) {
		/* Fail closed on a value of a newer version rather than guess what it means. */
		if (strcmp(value, "interfaces"))
			return ctnet_errf(err, EINVAL, "ROUTE_LOCALNET \"%s\": expected \"interfaces\"",
					  ctnet_show(value, show));
		cfg->localnet_scoped = true;
	}
	return 0; /* unknown keys: written by a newer version, ignored */
}

static void config_file(char *buf, size_t len)
{
	snprintf(buf, len, "NAT config \"%s/nat/config\"", ctnet_state_dir());
}

int nat_store_config_read(struct nat_store *s, struct nat_config *cfg, struct ctnet_err *err)
{
	char buf[NAT_FILE_MAX], file[4200];
	struct ctnet_err sub = { 0 };
	ssize_t n;

	*cfg = (struct nat_config){ 0 };
	n = ctnet_read_file(s->dir, "config", buf, sizeof(buf), &sub);
	if (n == -ENOENT) {
		ctnet_err_clear(err); /* no file: the defaults, and no message */
		return 0;
	}
	config_file(file, sizeof(file));
	if (n < 0)
		return ctnet_errf(err, (int)-n, "%s: %s", file, sub.msg);
	cfg->exists = true;
	return nixosconf_parse_kv(buf, (size_t)n, file, config_cb, cfg, err);
}

int nat_store_config_write(struct nat_store *s, const struct nat_config *cfg,
			   struct ctnet_err *err)
{
	static const char head[] = "# ctnet-nat configuration\n";
	char buf[NAT_FILE_MAX], file[4200];
	struct ctnet_kv_out o = { .p = buf, .len = sizeof(head) - 1, .cap = sizeof(buf),
				  .what = file, .err = err };

	config_file(file, sizeof(file));
	memcpy(buf, head, sizeof(head));
	for (size_t i = 0; i < cfg->n_ext; i++)
		ctnet_kv_put(&o, "EXTERNAL_INTERFACE", cfg->ext[i]);
	for (size_t i = 0; i < cfg->n_cluster; i++) {
		char net[CTNET_ADDR_STRLEN];
		ctnet_kv_put(&o, "CLUSTER_CIDR", ctnet_addr_cidr_str(&cfg->cluster[i], net));
	}
	if (cfg->isolate)
		ctnet_kv_put(&o, "ISOLATE", "1");
	if (cfg->docker_user)
		ctnet_kv_put(&o, "DOCKER_USER", "1");
	/* This version sets route_localnet per interface, never on `all` (nat/sysctl.c). */
	if (cfg->localnet_scoped)
		ctnet_kv_put(&o, "ROUTE_LOCALNET", "interfaces");
	if (o.error)
		return o.error;
	return ctnet_write_atomic(s->dir, "config", buf, o.len, err);
}

static int container_cb(const char *key, const char *value, void *data, struct ctnet_err *err)
{
	struct nat_entry *e = data;
	struct nat_container *c = &e->c;

	if (!strcmp(key, "ADDRESS"))
		return ctnet_addr_parse(value, AF_INET, CTNET_ADDR_NOPREFIX, "ADDRESS", &c->addr, err);
	if (!strcmp(key, "ADDRESS6")) {
		c->has_addr6 = true;
		return ctnet_addr_parse(value, AF_INET6, CTNET_ADDR_NOPREFIX, "ADDRESS6", &c->addr6,
					err);
	}
	if (!strcmp(key, "IFACE") || !strcmp(key, "BRIDGE")) {
		if (ctnet_ifname_check(value, err) < 0)
			return -EINVAL;
		snprintf(key[0] == 'I' ? e->iface : e->bridge, sizeof(e->iface), "%s", value);
		return 0;
	}
	if (!strcmp(key, "MAC")) {
		c->has_mac = true;
		return ctnet_mac_parse(value, c->mac, err);
	}
	if (!strcmp(key, "HOST_ADDRESS"))
		return ctnet_addr_parse(value, AF_INET, CTNET_ADDR_NOPREFIX, "HOST_ADDRESS", &c->host, err);
	if (!strcmp(key, "HOST_ADDRESS6"))
		return ctnet_addr_parse(value, AF_INET6, CTNET_ADDR_NOPREFIX, "HOST_ADDRESS6", &c->host6, err);
	if (!strcmp(key, "FORWARD")) {
		char spec[NIXOSCONF_VALUE_MAX + 1];
		struct nat_forward f;
		char *at;
		int r;
		if (c->n_forwards == NAT_MAX_FORWARDS)
			return ctnet_errf(err, EINVAL, "more than %d FORWARD lines", NAT_MAX_FORWARDS);
		snprintf(spec, sizeof(spec), "%s", value);
		if ((at = strchr(spec, '@')))
			*at++ = '\0';
		if ((r = nat_forward_parse(spec, &f, err)) < 0)
			return r;
		if (at) {
			f.has_host_ip = true;
			if ((r = ctnet_addr_parse(at, 0, CTNET_ADDR_NOPREFIX, "FORWARD host ip",
						  &f.host_ip, err)) < 0)
				return r;
		}
		c->forwards[c->n_forwards++] = f;
		return 0;
	}
	return 0; /* unknown keys: written by a newer version, ignored */
}

static void container_file(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "NAT state \"%s/nat/containers/%s\"", ctnet_state_dir(), name);
}

int nat_store_read(struct nat_store *s, const char *name, struct nat_entry *e,
		   struct ctnet_err *err)
{
	char buf[NAT_FILE_MAX], file[4400];
	struct ctnet_err sub = { 0 };
	ssize_t n;
	int r;

	memset(e, 0, sizeof(*e));
	if (ctnet_name_check(name, err) < 0)
		return -EINVAL;
	n = ctnet_read_file(s->containers, name, buf, sizeof(buf), &sub);
	if (n == -ENOENT)
		return -ENOENT;
	container_file(name, file, sizeof(file));
	if (n < 0)
		return ctnet_errf(err, (int)-n, "%s: %s", file, sub.msg);
	strcpy(e->name, name);
	e->c.name = e->name;
	e->c.iface = e->iface;
	e->c.bridge = e->bridge;
	if ((r = nixosconf_parse_kv(buf, (size_t)n, file, container_cb, e, err)) < 0)
		return r;
	if (!e->iface[0] || e->c.addr.family != AF_INET)
		return ctnet_errf(err, EINVAL, "%s: incomplete (no IFACE or ADDRESS)", file);
	return 0;
}

int nat_store_write(struct nat_store *s, const struct nat_container *c, struct ctnet_err *err)
{
	char buf[NAT_FILE_MAX], file[4400], a[CTNET_ADDR_STRLEN], spec[64];
	struct ctnet_kv_out o = { .p = buf, .cap = sizeof(buf), .what = file, .err = err };

	container_file(c->name, file, sizeof(file));
	ctnet_kv_put(&o, "ADDRESS", ctnet_addr_str(&c->addr, a));
	if (c->has_addr6)
		ctnet_kv_put(&o, "ADDRESS6", ctnet_addr_str(&c->addr6, a));
	ctnet_kv_put(&o, "IFACE", c->iface);
	if (c->bridge && c->bridge[0])
		ctnet_kv_put(&o, "BRIDGE", c->bridge);
	if (c->has_mac)
		ctnet_kv_putf(&o, "MAC", "%02x:%02x:%02x:%02x:%02x:%02x", c->mac[0], c->mac[1], c->mac[2],
			      c->mac[3], c->mac[4], c->mac[5]);
	if (c->host.family == AF_INET)
		ctnet_kv_put(&o, "HOST_ADDRESS", ctnet_addr_str(&c->host, a));
	if (c->host6.family == AF_INET6)
		ctnet_kv_put(&o, "HOST_ADDRESS6", ctnet_addr_str(&c->host6, a));
	for (size_t i = 0; i < c->n_forwards; i++) {
		const struct nat_forward *f = &c->forwards[i];
		nat_forward_str(f, spec, sizeof(spec));
		if (f->has_host_ip)
			ctnet_kv_putf(&o, "FORWARD", "%s@%s", spec, ctnet_addr_str(&f->host_ip, a));
		else
			ctnet_kv_put(&o, "FORWARD", spec);
	}
	if (o.error)
		return o.error;
	return ctnet_write_atomic(s->containers, c->name, buf, o.len, err);
}

int nat_store_remove(struct nat_store *s, const char *name, struct ctnet_err *err)
{
	return ctnet_unlink(s->containers, name, err);
}

/*
 * Entries are ~3 KB (room for every forward): with thousands of containers, holding and
 * sorting them all cost more than reading them. Only the names are listed and sorted (on a
 * listing of its own: a dup of s->containers would share its offset with every other walk);
 * each entry is read into one buffer when its turn comes.
 */
int nat_store_foreach(struct nat_store *s, int (*cb)(struct nat_entry *e, void *data), void *data,
		      struct ctnet_err *err)
{
	char what[4200];
	struct ctnet_dir_entry *names;
	struct nat_entry *e = NULL;
	size_t cnt;
	int r;

	snprintf(what, sizeof(what), "\"%s/nat/containers\"", ctnet_state_dir());
	if ((r = ctnet_dir_list(s->containers, what, &names, &cnt, err)) < 0)
		return r;
	if (cnt && !(e = malloc(sizeof(*e))))
		r = ctnet_err_sys(err, ENOMEM, "read containers");
	for (size_t i = 0; r >= 0 && i < cnt; i++) {
		r = nat_store_read(s, names[i].name, e, err);
		if (r == -ENOENT) { /* removed meanwhile */
			r = 0;
			continue;
		}
		if (r >= 0)
			r = cb(e, data);
	}
	free(names);
	free(e);
	return r;
}

static void port_key(const struct nat_forward *f, unsigned port, char *buf, size_t len)
{
	char ip[CTNET_ADDR_STRLEN];
	if (f->has_host_ip)
		snprintf(buf, len, "%s-%u-%s", nat_proto_name(f->proto), port,
			 ctnet_addr_str(&f->host_ip, ip));
	else
		snprintf(buf, len, "%s-%u", nat_proto_name(f->proto), port);
}

static bool forwards_port(const struct nat_container *c, const struct nat_forward *f,
			  unsigned port)
{
	for (size_t i = 0; c && i < c->n_forwards; i++) {
		const struct nat_forward *g = &c->forwards[i];
		struct nat_forward one = *f;
		one.host_lo = one.host_hi = (uint16_t)port;
		if (nat_forward_overlaps(g, &one))
			return true;
	}
	return false;
}

/* The owner of a port, when it is still a recorded container (stale links are free). */
static bool port_owner(struct nat_store *s, const char *key, char *owner, size_t len)
{
	ssize_t n = readlinkat(s->ports, key, owner, len - 1);
	if (n <= 0)
		return false;
	owner[n] = '\0';
	return faccessat(s->containers, owner, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int nat_store_ports_claim(struct nat_store *s, const struct nat_container *c,
			  struct ctnet_err *err)
{
	char key[96], owner[CTNET_NAME_MAX + 2], spec[64];

	/* First look, then write: a conflict must leave nothing behind. */
	for (size_t i = 0; i < c->n_forwards; i++) {
		const struct nat_forward *f = &c->forwards[i];
		for (unsigned p = f->host_lo; p <= f->host_hi; p++) {
			port_key(f, p, key, sizeof(key));
			if (port_owner(s, key, owner, sizeof(owner)) && strcmp(owner, c->name))
				return ctnet_errf(err, EADDRINUSE,
						  "forward %s: host port %u/%s already forwarded to container \"%s\"",
						  nat_forward_str(f, spec, sizeof(spec)), p,
						  nat_proto_name(f->proto), owner);
		}
	}
	for (size_t i = 0; i < c->n_forwards; i++) {
		const struct nat_forward *f = &c->forwards[i];
		for (unsigned p = f->host_lo; p <= f->host_hi; p++) {
			port_key(f, p, key, sizeof(key));
			if (port_owner(s, key, owner, sizeof(owner)))
				continue; /* ours already */
			unlinkat(s->ports, key, 0);
			if (symlinkat(c->name, s->ports, key) < 0)
				return ctnet_err_sys(err, errno, "record port \"%s\"", key);
		}
	}
	return 0;
}

void nat_store_ports_release(struct nat_store *s, const struct nat_container *old,
			     const struct nat_container *keep)
{
	char key[96];
	for (size_t i = 0; old && i < old->n_forwards; i++) {
		const struct nat_forward *f = &old->forwards[i];
		for (unsigned p = f->host_lo; p <= f->host_hi; p++)
			if (!forwards_port(keep, f, p)) {
				char owner[CTNET_NAME_MAX + 2];
				ssize_t n;
				port_key(f, p, key, sizeof(key));
				/* only our own link: never free a port someone else holds */
				n = readlinkat(s->ports, key, owner, sizeof(owner) - 1);
				if (n > 0 && (owner[n] = '\0', !strcmp(owner, old->name)))
					unlinkat(s->ports, key, 0);
			}
	}
}

/* Whether claim `key` is one of c's forwarded host ports. */
static bool claims_key(const struct nat_container *c, const char *key)
{
	char k[96];
	for (size_t i = 0; i < c->n_forwards; i++)
		for (unsigned p = c->forwards[i].host_lo; p <= c->forwards[i].host_hi; p++) {
			port_key(&c->forwards[i], p, k, sizeof(k));
			if (!strcmp(k, key))
				return true;
		}
	return false;
}

/* Calls cb(s, key, owner, data) for every port claim (key: its name, owner: the container it
 * names), on a listing of its own (a dup of s->ports would share its offset). */
static void ports_foreach(struct nat_store *s, void (*cb)(struct nat_store *s, const char *key, const char *owner,
							  void *data),
			  void *data)
{
	DIR *d = ctnet_dir_opendir(s->ports);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char owner[CTNET_NAME_MAX + 2];
		ssize_t n;
		if (de->d_name[0] == '.')
			continue;
		n = readlinkat(s->ports, de->d_name, owner, sizeof(owner) - 1);
		if (n <= 0)
			continue;
		owner[n] = '\0';
		cb(s, de->d_name, owner, data);
	}
	closedir(d);
}

struct stray {
	struct nat_entry e;
	char last[CTNET_NAME_MAX + 2]; /* the owner e was read for */
	bool have;
	int n;
};

static void stray_one(struct nat_store *s, const char *key, const char *owner, void *data)
{
	struct stray *st = data;
	struct ctnet_err ignored;

	if (strcmp(owner, st->last)) {
		snprintf(st->last, sizeof(st->last), "%s", owner);
		st->have = nat_store_read(s, owner, &st->e, &ignored) == 0;
	}
	if (st->have && !claims_key(&st->e.c, key) && unlinkat(s->ports, key, 0) == 0)
		st->n++;
}

/* Under the store's lock: removes the claims whose owner is recorded and does not forward
 * that port (an unrecorded owner's claim is free already, see port_owner). How many. */
static int claims_sweep(struct nat_store *s)
{
	struct stray *st = calloc(1, sizeof(*st));
	int n;

	if (!st)
		return 0;
	ports_foreach(s, stray_one, st);
	n = st->n;
	free(st);
	return n;
}

static void owned_one(struct nat_store *s, const char *key, const char *owner, void *name)
{
	if (!strcmp(owner, name))
		unlinkat(s->ports, key, 0);
}

void nat_store_ports_release_owner(struct nat_store *s, const char *name)
{
	ports_foreach(s, owned_one, (void *)name);
}

int nat_port_owner(const struct nat_forward *f, char *owner, size_t len)
{
	struct nat_store s;
	struct ctnet_err e;
	char key[96];
	int found = 0;

	if (len < 2 || nat_store_open(&s, false, false, &e) < 0)
		return 0;
	for (unsigned p = f->host_lo; p <= f->host_hi && !found; p++) {
		port_key(f, p, key, sizeof(key));
		found = port_owner(&s, key, owner, len);
	}
	nat_store_close(&s);
	return found;
}
