/* SPDX-License-Identifier: MIT */
/*
 * Desired state under $CTNET_STATE_DIR/nat/: `config` (external interfaces, isolation),
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
	if (lock && (r = s->lock = ctnet_lock(s->dir, "lock", err)) < 0)
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

int nat_store_config_read(struct nat_store *s, struct nat_config *cfg, struct ctnet_err *err)
{
	char buf[4096], *save = NULL;
	ssize_t n;

	*cfg = (struct nat_config){ 0 };
	n = ctnet_read_file(s->dir, "config", buf, sizeof(buf), err);
	if (n == -ENOENT) {
		ctnet_err_clear(err);
		return 0;
	}
	if (n < 0)
		return (int)n;
	cfg->exists = true;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(l, "ISOLATE=1"))
			cfg->isolate = true;
		if (!strcmp(l, "ROUTE_LOCALNET=interfaces"))
			cfg->localnet_scoped = true;
		if (strncmp(l, "EXTERNAL_INTERFACE=", 19))
			continue;
		if (cfg->n_ext == NAT_MAX_EXT || ctnet_ifname_check(l + 19, err) < 0)
			return ctnet_errf(err, EINVAL, "state file \"%s/nat/config\": bad line",
					  ctnet_state_dir());
		strcpy(cfg->ext[cfg->n_ext++], l + 19);
	}
	return 0;
}

int nat_store_config_write(struct nat_store *s, const struct nat_config *cfg,
			   struct ctnet_err *err)
{
	struct nat_buf b = { 0 };
	int r;
	nat_buf_printf(&b, "# ctnet-nat configuration\n");
	for (size_t i = 0; i < cfg->n_ext; i++)
		nat_buf_printf(&b, "EXTERNAL_INTERFACE=%s\n", cfg->ext[i]);
	if (cfg->isolate)
		nat_buf_printf(&b, "ISOLATE=1\n");
	/* This version sets route_localnet per interface, never on `all` (nat/sysctl.c). */
	if (cfg->localnet_scoped)
		nat_buf_printf(&b, "ROUTE_LOCALNET=interfaces\n");
	if (b.oom)
		return ctnet_err_sys(err, ENOMEM, "write config");
	r = ctnet_write_atomic(s->dir, "config", b.p, b.len, err);
	nat_buf_free(&b);
	return r;
}

static const char *forward_line(const struct nat_forward *f, char *buf, size_t len)
{
	char spec[64], ip[CTNET_ADDR_STRLEN];
	nat_forward_str(f, spec, sizeof(spec));
	if (f->has_host_ip)
		snprintf(buf, len, "%s@%s", spec, ctnet_addr_str(&f->host_ip, ip));
	else
		snprintf(buf, len, "%s", spec);
	return buf;
}

static int parse_line(struct nat_entry *e, char *l, struct ctnet_err *err)
{
	struct nat_container *c = &e->c;
	char *v = strchr(l, '=');
	if (!v)
		return -EINVAL;
	*v++ = '\0';
	if (!strcmp(l, "ADDRESS"))
		return ctnet_addr_parse(v, AF_INET, CTNET_ADDR_NOPREFIX, "address", &c->addr, err);
	if (!strcmp(l, "ADDRESS6")) {
		c->has_addr6 = true;
		return ctnet_addr_parse(v, AF_INET6, CTNET_ADDR_NOPREFIX, "address6", &c->addr6, err);
	}
	if (!strcmp(l, "IFACE")) {
		if (ctnet_ifname_check(v, err) < 0)
			return -EINVAL;
		strcpy(e->iface, v);
		return 0;
	}
	if (!strcmp(l, "FORWARD")) {
		struct nat_forward f;
		char *at = strchr(v, '@');
		int r;
		if (c->n_forwards == NAT_MAX_FORWARDS)
			return -EINVAL;
		if (at)
			*at++ = '\0';
		if ((r = nat_forward_parse(v, &f, err)) < 0)
			return r;
		if (at) {
			f.has_host_ip = true;
			if ((r = ctnet_addr_parse(at, 0, CTNET_ADDR_NOPREFIX, "host ip", &f.host_ip,
						  err)) < 0)
				return r;
		}
		c->forwards[c->n_forwards++] = f;
		return 0;
	}
	return 0; /* unknown keys: written by a newer version, ignored */
}

int nat_store_read(struct nat_store *s, const char *name, struct nat_entry *e,
		   struct ctnet_err *err)
{
	char buf[16384], *save = NULL;
	struct ctnet_err e2 = { 0 };
	ssize_t n;

	memset(e, 0, sizeof(*e));
	if (ctnet_name_check(name, err) < 0)
		return -EINVAL;
	n = ctnet_read_file(s->containers, name, buf, sizeof(buf), &e2);
	if (n == -ENOENT)
		return -ENOENT;
	if (n < 0) {
		*err = e2;
		return (int)n;
	}
	strcpy(e->name, name);
	e->c.name = e->name;
	e->c.iface = e->iface;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] == '#')
			continue;
		if (parse_line(e, l, &e2) < 0)
			return ctnet_errf(err, EINVAL, "state file \"%s/nat/containers/%s\": bad line: %s",
					  ctnet_state_dir(), name, e2.msg[0] ? e2.msg : "?");
	}
	if (!e->iface[0] || e->c.addr.family != AF_INET)
		return ctnet_errf(err, EINVAL, "state file \"%s/nat/containers/%s\": incomplete",
				  ctnet_state_dir(), name);
	return 0;
}

int nat_store_write(struct nat_store *s, const struct nat_container *c, struct ctnet_err *err)
{
	char a[CTNET_ADDR_STRLEN], fl[160];
	struct nat_buf b = { 0 };
	int r;

	nat_buf_printf(&b, "ADDRESS=%s\n", ctnet_addr_str(&c->addr, a));
	if (c->has_addr6)
		nat_buf_printf(&b, "ADDRESS6=%s\n", ctnet_addr_str(&c->addr6, a));
	nat_buf_printf(&b, "IFACE=%s\n", c->iface);
	for (size_t i = 0; i < c->n_forwards; i++)
		nat_buf_printf(&b, "FORWARD=%s\n", forward_line(&c->forwards[i], fl, sizeof(fl)));
	if (b.oom)
		return ctnet_err_sys(err, ENOMEM, "write container \"%s\"", c->name);
	r = ctnet_write_atomic(s->containers, c->name, b.p, b.len, err);
	nat_buf_free(&b);
	return r;
}

int nat_store_remove(struct nat_store *s, const char *name, struct ctnet_err *err)
{
	return ctnet_unlink(s->containers, name, err);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Entries are ~3 KB (room for every forward): with thousands of containers, holding and
 * sorting them all cost more than reading them. Only the names are collected and sorted;
 * each entry is read into one buffer when its turn comes.
 */
int nat_store_foreach(struct nat_store *s, int (*cb)(struct nat_entry *e, void *data), void *data,
		      struct ctnet_err *err)
{
	char **names = NULL;
	size_t cnt = 0, cap = 0;
	struct nat_entry *e = NULL;
	struct dirent *de;
	int fd = dup(s->containers), r = 0;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return ctnet_err_sys(err, errno, "read \"%s/nat/containers\"", ctnet_state_dir());
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		struct ctnet_err e2 = { 0 };
		if (de->d_name[0] == '.' || ctnet_name_check(de->d_name, &e2) < 0)
			continue; /* temp files of ctnet_write_atomic, strays */
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(names, cap * sizeof(*nv));
			if (!nv) {
				r = ctnet_err_sys(err, ENOMEM, "read containers");
				break;
			}
			names = nv;
		}
		if (!(names[cnt] = strdup(de->d_name))) {
			r = ctnet_err_sys(err, ENOMEM, "read containers");
			break;
		}
		cnt++;
	}
	closedir(d);
	if (r == 0 && cnt)
		qsort(names, cnt, sizeof(*names), str_cmp);
	if (r == 0 && cnt && !(e = malloc(sizeof(*e))))
		r = ctnet_err_sys(err, ENOMEM, "read containers");
	for (size_t i = 0; r >= 0 && i < cnt; i++) {
		r = nat_store_read(s, names[i], e, err);
		if (r == -ENOENT) { /* removed meanwhile */
			r = 0;
			continue;
		}
		if (r >= 0)
			r = cb(e, data);
	}
	for (size_t i = 0; i < cnt; i++)
		free(names[i]);
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

void nat_store_ports_release_owner(struct nat_store *s, const char *name)
{
	int fd = dup(s->ports);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		char owner[CTNET_NAME_MAX + 2];
		ssize_t n;
		if (de->d_name[0] == '.')
			continue;
		n = readlinkat(s->ports, de->d_name, owner, sizeof(owner) - 1);
		if (n > 0 && (owner[n] = '\0', !strcmp(owner, name)))
			unlinkat(s->ports, de->d_name, 0);
	}
	closedir(d);
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
