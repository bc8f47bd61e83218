/* SPDX-License-Identifier: MIT */
/*
 * The sysctls ctnet-nat changes, all in the network namespace it runs in (listed, with why,
 * in ctnet-nat(8) "SYSCTLS"):
 *
 *   net.ipv4.ip_forward = 1, net.ipv6.conf.all.forwarding = 1 (with IPv6 containers):
 *     the host routes the containers' traffic. Left on by flush: other things may need it.
 *     IPv6 forwarding is switched by ipv6fwd.c, which keeps the host's own router
 *     advertisements coming (accept_ra=2 on the links that take them) and switches back
 *     what it switched when the last container with IPv6 goes.
 *   net.ipv4.conf.DEV.route_localnet = 1, where DEV carries a container's IP traffic (its
 *     ve-NAME, or the bridge of its vb-NAME) and the container has an IPv4 forward the host
 *     can reach at 127.0.0.1. The kernel needs it on that device twice: the DNATed packet
 *     leaves with source 127.0.0.1 (__mkroute_output refuses a loopback source out of a
 *     device without it), and the reply is un-NATed to 127.0.0.1 before routing
 *     (ip_route_input_slow calls that a martian destination without it). Never on `all`
 *     nor on uplinks; ctnet's rule "ctnet:localnet" drops what arrives for 127.0.0.0/8 from
 *     any non-loopback device anyway.
 *
 * Older ctnet set net.ipv4.conf.all.route_localnet=1 and recorded nothing. A state dir
 * written by such a version (its config lacks ROUTE_LOCALNET=interfaces) is migrated once:
 * all.route_localnet goes back to 0 when it is 1 (ctnet cannot tell whether it set it, so
 * it fails closed), each recorded container gets it on its own device, and the marker is
 * written. Bridges on which ctnet switched it on are listed in $CTNET_STATE_DIR/nat/
 * route_localnet, so that flush turns off only what ctnet turned on.
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

#define CONF "/proc/sys/net/ipv4/conf/"
#define BRIDGES "route_localnet" /* in the state dir: bridges ctnet switched on */

int nat_sysctl_get_at(int dfd, const char *path)
{
	char c = 0;
	int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC), e;
	if (fd < 0)
		return -errno;
	e = read(fd, &c, 1) == 1 ? c : -EIO;
	close(fd);
	return e;
}

int nat_sysctl_set_at(int dfd, const char *path, char v, struct ctnet_err *err)
{
	char line[2] = { v, '\n' };
	int fd, cur = nat_sysctl_get_at(dfd, path);

	if (cur == -ENOENT)
		return -ENOENT;
	if (cur == v)
		return 0;
	fd = openat(dfd, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : ctnet_err_sys(err, errno, "sysctl \"%s\"", path);
	if (write(fd, line, 2) != 2) {
		int e = errno;
		close(fd);
		return ctnet_err_sys(err, e, "sysctl \"%s\"", path);
	}
	close(fd);
	return 0;
}

static int sysctl_get(const char *path)
{
	return nat_sysctl_get_at(AT_FDCWD, path);
}

static int sysctl_set(const char *path, char v, struct ctnet_err *err)
{
	return nat_sysctl_set_at(AT_FDCWD, path, v, err);
}

static int localnet_path(const char *dev, char *buf, size_t len)
{
	int n = snprintf(buf, len, CONF "%s/route_localnet", dev);
	return n > 0 && (size_t)n < len && dev[0] != '.' && !strchr(dev, '/') ? 0 : -EINVAL;
}

int nat_sysctls(struct nat_store *s, bool ipv6, struct ctnet_err *err)
{
	int r = sysctl_set("/proc/sys/net/ipv4/ip_forward", '1', err);
	if (r == -ENOENT)
		r = 0;
	/* Links that take router advertisements keep taking them (ipv6fwd.c). */
	if (r >= 0 && ipv6)
		r = nat_ipv6_forwarding_on(s, err);
	return r < 0 ? r : 0;
}

/* Whether the host can reach one of c's forwards at 127.0.0.1. */
static bool wants_localnet(const struct nat_container *c)
{
	for (size_t i = 0; c && i < c->n_forwards; i++) {
		const struct nat_forward *f = &c->forwards[i];
		if (!f->has_host_ip || (f->host_ip.family == AF_INET && f->host_ip.bytes[0] == 127))
			return true;
	}
	return false;
}

/* Sets path to 1 when it is not (only reads it unless fix); 1 when it was off, 0 when on
 * (or absent), or -errno. */
static int repair_one(const char *path, const char *name, bool fix, char *changed, size_t len,
		      size_t *o, struct ctnet_err *err)
{
	int cur = sysctl_get(path), r;
	if (cur == -ENOENT || cur == '1')
		return 0;
	if (fix && (r = sysctl_set(path, '1', err)) < 0)
		return r == -ENOENT ? 0 : r;
	if (changed && *o < len) {
		int w = snprintf(changed + *o, len - *o, "%s%s", *o ? ", " : "", name);
		*o = w < 0 ? len : *o + (size_t)w;
	}
	return 1;
}

static int sysctls_walk(struct ctnet_kern *kern, bool ipv6, const struct nat_container *c, const char *l3dev, bool globals,
			bool fix, char *changed, size_t len, struct ctnet_err *err)
{
	char path[128], name[96], dev[16];
	bool bridge = false;
	size_t o = 0;
	int n = 0, r;

	if (changed && len)
		changed[0] = '\0';
	if (globals && (r = repair_one("/proc/sys/net/ipv4/ip_forward", "net.ipv4.ip_forward", fix,
				       changed, len, &o, err)) < 0)
		return r;
	n += globals ? r : 0;
	if (globals && ipv6) {
		/* Read here, switched on by ipv6fwd.c (accept_ra=2 first where it is needed). */
		if ((r = repair_one("/proc/sys/net/ipv6/conf/all/forwarding",
				    "net.ipv6.conf.all.forwarding", false, changed, len, &o, err)) < 0)
			return r;
		n += r;
		if (r > 0 && fix && (r = nat_ipv6_forwarding_on(NULL, err)) < 0)
			return r;
	}
	/* route_localnet on the device of a container the host reaches at 127.0.0.1, unless
	 * loopback forwards go by the BPF socket hooks (lofwd.c). */
	if (c && wants_localnet(c) && !nat_lofwd_on()) {
		if (l3dev)
			snprintf(dev, sizeof(dev), "%s", l3dev);
		if ((l3dev || nat_link_l3dev(kern, c->iface, dev, &bridge, err) == 0) &&
		    localnet_path(dev, path, sizeof(path)) == 0) {
			snprintf(name, sizeof(name), "net.ipv4.conf.%s.route_localnet", dev);
			if ((r = repair_one(path, name, fix, changed, len, &o, err)) < 0)
				return r;
			n += r;
		}
	}
	ctnet_err_clear(err);
	return n;
}

int nat_sysctls_repair(struct ctnet_kern *kern, bool ipv6, const struct nat_container *c, char *changed, size_t len,
		       struct ctnet_err *err)
{
	return sysctls_walk(kern, ipv6, c, NULL, true, true, changed, len, err);
}

int nat_sysctls_off(struct ctnet_kern *kern, bool ipv6, const struct nat_container *c, const char *l3dev, bool globals)
{
	struct ctnet_err e;
	return sysctls_walk(kern, ipv6, c, l3dev, globals, false, NULL, 0, &e);
}

int nat_sysctls_which(struct ctnet_kern *kern, bool ipv6, const struct nat_container *c, const char *l3dev, bool globals,
		      char *names, size_t len)
{
	struct ctnet_err e;
	return sysctls_walk(kern, ipv6, c, l3dev, globals, false, names, len, &e);
}

int nat_localnet_path(struct ctnet_kern *kern, const struct nat_container *c, char *path, size_t len, struct ctnet_err *err)
{
	char dev[16];
	bool bridge;
	int r;

	if (!wants_localnet(c) || nat_lofwd_on())
		return 0;
	if ((r = nat_link_l3dev(kern, c->iface, dev, &bridge, err)) == -ENODEV)
		return 0;
	if (r < 0)
		return r;
	if (localnet_path(dev, path, len) < 0)
		return ctnet_errf(err, EINVAL, "interface \"%s\": bad name", dev);
	return 1;
}

/* The bridges recorded in BRIDGES, one per line, into buf (NUL-separated lines). */
static ssize_t bridges_read(struct nat_store *s, char *buf, size_t len)
{
	struct ctnet_err e = { 0 };
	ssize_t n = ctnet_read_file(s->dir, BRIDGES, buf, len, &e);
	if (n < 0)
		return n;
	return n;
}

static bool bridges_has(const char *buf, const char *dev)
{
	size_t l = strlen(dev);
	for (const char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, dev, l) && (p[l] == '\n' || p[l] == '\0'))
			return true;
	return false;
}

static int bridge_on(struct nat_store *s, const char *dev, struct ctnet_err *err)
{
	char path[128], buf[4096] = "";
	int cur, r;
	ssize_t n;

	if (localnet_path(dev, path, sizeof(path)) < 0)
		return ctnet_errf(err, EINVAL, "bridge \"%s\": bad name", dev);
	cur = sysctl_get(path);
	if (cur == '1' || cur == -ENOENT)
		return 0; /* on already (ours or the admin's: theirs stays unrecorded) */
	n = bridges_read(s, buf, sizeof(buf) - 64);
	if (n < 0 && n != -ENOENT)
		return ctnet_err_sys(err, (int)-n, "read \"%s/nat/" BRIDGES "\"", ctnet_state_dir());
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	if (!bridges_has(buf, dev)) {
		snprintf(buf + n, sizeof(buf) - (size_t)n, "%s\n", dev);
		/* Recorded before the change: a crash in between leaves a record, never an
		 * unrecorded change. */
		if ((r = ctnet_write_atomic(s->dir, BRIDGES, buf, strlen(buf), err)) < 0)
			return r;
	}
	r = sysctl_set(path, '1', err);
	return r == -ENOENT ? 0 : r;
}

int nat_localnet_apply(struct ctnet_kern *kern, struct nat_store *s, const struct nat_container *old,
		       const struct nat_container *new, struct ctnet_err *err)
{
	bool bpf = nat_lofwd_on(); /* lofwd.c turned every one off when it took over */
	bool on = !bpf && wants_localnet(new), was = !bpf && wants_localnet(old);
	char dev[16], path[128];
	bool bridge;
	int r;

	if (was && (!on || strcmp(old->iface, new->iface)) &&
	    localnet_path(old->iface, path, sizeof(path)) == 0) {
		struct ctnet_err e = { 0 };
		sysctl_set(path, '0', &e); /* best effort: the link may be gone */
	}
	if (!on)
		return 0;
	r = nat_link_l3dev(kern, new->iface, dev, &bridge, err);
	if (r == -ENODEV)
		return 0; /* not plumbed yet: the next add or restore sets it */
	if (r < 0)
		return r;
	if (bridge)
		return bridge_on(s, dev, err);
	if (localnet_path(dev, path, sizeof(path)) < 0)
		return ctnet_errf(err, EINVAL, "interface \"%s\": bad name", dev);
	r = sysctl_set(path, '1', err);
	return r == -ENOENT ? 0 : r;
}

struct each {
	struct ctnet_kern *kern;
	struct nat_store *s;
	struct ctnet_err *err;
	bool off;
};

static int each_one(struct nat_entry *en, void *data)
{
	struct each *x = data;
	char path[128];
	if (!x->off)
		return nat_localnet_apply(x->kern, x->s, NULL, &en->c, x->err);
	if (localnet_path(en->c.iface, path, sizeof(path)) == 0) {
		struct ctnet_err e = { 0 };
		sysctl_set(path, '0', &e);
	}
	return 0;
}

int nat_localnet_restore(struct ctnet_kern *kern, struct nat_store *s, struct ctnet_err *err)
{
	struct each x = { kern, s, err, false };
	return nat_store_foreach(s, each_one, &x, err);
}

void nat_localnet_reset(struct ctnet_kern *kern, struct nat_store *s)
{
	struct ctnet_err e = { 0 };
	struct each x = { kern, s, &e, true };
	char buf[4096], path[128], *save = NULL;
	ssize_t n;

	nat_store_foreach(s, each_one, &x, &e);
	n = bridges_read(s, buf, sizeof(buf) - 1);
	if (n < 0)
		return;
	buf[n] = '\0';
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (ctnet_ifname_check(l, &e) == 0 && localnet_path(l, path, sizeof(path)) == 0)
			sysctl_set(path, '0', &e);
	ctnet_unlink(s->dir, BRIDGES, &e);
}

static bool any_container(struct nat_store *s)
{
	DIR *d = ctnet_dir_opendir(s->containers); /* its own offset, not a dup's shared one */
	struct dirent *de;
	bool any = false;

	if (!d)
		return false;
	while (!any && (de = readdir(d)))
		any = de->d_name[0] != '.';
	closedir(d);
	return any;
}

int nat_localnet_migrate(struct ctnet_kern *kern, struct nat_store *s, struct ctnet_err *err)
{
	struct nat_config cfg;
	int r;

	if ((r = nat_store_config_read(s, &cfg, err)) < 0)
		return r;
	if (cfg.localnet_scoped)
		return 0;
	if ((cfg.exists || any_container(s)) &&
	    sysctl_get(CONF "all/route_localnet") == '1' &&
	    (r = sysctl_set(CONF "all/route_localnet", '0', err)) < 0)
		return r;
	if ((r = nat_localnet_restore(kern, s, err)) < 0)
		return r;
	cfg.localnet_scoped = true;
	return nat_store_config_write(s, &cfg, err);
}

bool nat_wants_localnet(const struct nat_container *c)
{
	return wants_localnet(c);
}
