/* SPDX-License-Identifier: MIT */
/*
 * Loopback forwards by socket (issue 33): the BPF programs of nat/lofwd.bpf.c, loaded from
 * their libbpf skeleton, attached to a cgroup v2 directory (bpf links) and pinned with their
 * maps under bpffs (default /sys/fs/bpf/ctnet), so they outlive ctnet-nat. Each forward
 * change is element updates and deletes of the map lofwd_map, as the nft maps are.
 *
 * "$CTNET_STATE_DIR/nat/lofwd" records that loopback forwards go by BPF (its text: the
 * cgroup): then no route_localnet is set (nat_lofwd_on). Where the programs cannot be loaded
 * (no cgroup v2, no bpffs, no BPF, a missing capability) nothing is recorded: IPv4 keeps the
 * output-hook DNAT with route_localnet, and a forward pinned to ::1 is refused naming why.
 */
#include "nat_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lofwd.h"
#include "lofwd.skel.h"
#include "state.h"

#define CGROUP2_MAGIC 0x63677270
#define BPFFS_MAGIC 0xcafe4a11
#define BPFFS_DEFAULT "/sys/fs/bpf"
#define STATE_FILE "lofwd"
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static const char *const map_pins[] = { "lofwd_map", "lofwd_cfg", "lofwd_sks" };
static const char *const link_pins[] = { "connect4", "connect6", "sendmsg4", "sendmsg6",
					 "recvmsg4", "recvmsg6", "getpeername4", "getpeername6" };
#define N_LINKS (sizeof(link_pins) / sizeof(link_pins[0]))

struct lofwd_where {
	char cgroup[PATH_MAX], pin[PATH_MAX];
};

static bool fs_is(const char *path, long magic)
{
	struct statfs st;
	return statfs(path, &st) == 0 && (long)st.f_type == magic;
}

/* The cgroup: $CTNET_CGROUP (ctnet-nat --cgroup sets it) or the root of the cgroup v2
 * hierarchy; the pins: $CTNET_BPF_DIR or /sys/fs/bpf/ctnet. */
static int where(struct lofwd_where *w, struct ctnet_err *err)
{
	const char *cg = getenv("CTNET_CGROUP"), *pin = getenv("CTNET_BPF_DIR");
	if (!cg || !*cg)
		cg = fs_is("/sys/fs/cgroup", CGROUP2_MAGIC) ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
	snprintf(w->pin, sizeof(w->pin), "%s", pin && *pin ? pin : BPFFS_DEFAULT "/ctnet");
	if (snprintf(w->cgroup, sizeof(w->cgroup), "%s", cg) >= (int)sizeof(w->cgroup) || cg[0] != '/')
		return ctnet_errf(err, EINVAL, "cgroup \"%s\": not an absolute path", cg);
	if (!fs_is(cg, CGROUP2_MAGIC))
		return ctnet_errf(err, EOPNOTSUPP, "\"%s\" is not a cgroup v2 directory (no cgroup2 there)", cg);
	return 0;
}

static uint64_t netns_cookie(void)
{
	uint64_t c = 0;
	socklen_t l = sizeof(c);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &c, &l) < 0)
		c = 0;
	close(fd);
	return c;
}

static void pin_path(const struct lofwd_where *w, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", w->pin, name);
}

/* Whether every pin is there, the host's cookie written, and each link attached to w's
 * cgroup. */
static bool pins_ok(const struct lofwd_where *w)
{
	char p[PATH_MAX + 32];
	struct stat cg;
	bool ok = stat(w->cgroup, &cg) == 0;
	for (size_t i = 0; ok && i < N_LINKS; i++) {
		struct bpf_link_info info;
		uint32_t len = sizeof(info);
		int fd;
		pin_path(w, link_pins[i], p, sizeof(p));
		memset(&info, 0, sizeof(info));
		if ((fd = bpf_obj_get(p)) < 0)
			return false;
		ok = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_CGROUP &&
		     info.cgroup.cgroup_id == (uint64_t)cg.st_ino;
		close(fd);
	}
	for (size_t i = 0; ok && i < ARRAY_SIZE(map_pins); i++) {
		uint32_t zero = 0;
		uint64_t cookie = 0;
		int fd;
		pin_path(w, map_pins[i], p, sizeof(p));
		if ((fd = bpf_obj_get(p)) < 0)
			return false;
		if (i == 1)
			ok = bpf_map_lookup_elem(fd, &zero, &cookie) == 0 && cookie && cookie == netns_cookie();
		close(fd);
	}
	return ok;
}

/* Unpinning a link detaches it (nothing else holds it); the maps go with the programs. */
static void unpin_all(const struct lofwd_where *w)
{
	char p[PATH_MAX + 32];
	for (size_t i = 0; i < N_LINKS; i++) {
		pin_path(w, link_pins[i], p, sizeof(p));
		unlink(p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(map_pins); i++) {
		pin_path(w, map_pins[i], p, sizeof(p));
		unlink(p);
	}
	rmdir(w->pin);
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

/* bpffs where the pins go: /sys/fs/bpf is mounted again when it is not (an unmount is
 * repaired like a flush); another pin dir must be on bpffs already. */
static int bpffs(const struct lofwd_where *w, struct ctnet_err *err)
{
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", w->pin);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (fs_is(parent, BPFFS_MAGIC))
		return 0;
	if (strcmp(parent, BPFFS_DEFAULT) ||
	    mount("bpf", BPFFS_DEFAULT, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
		return ctnet_errf(err, errno ? errno : ENOTSUP, "no bpf filesystem at \"%s\"%s%s", parent,
				  strcmp(parent, BPFFS_DEFAULT) ? "" : ": mount: ",
				  strcmp(parent, BPFFS_DEFAULT) ? "" : strerror(errno));
	return 0;
}

static int attach_all(struct lofwd *sk, const struct lofwd_where *w, struct ctnet_err *err)
{
	struct bpf_program *progs[N_LINKS] = {
		sk->progs.ctnet_connect4, sk->progs.ctnet_connect6, sk->progs.ctnet_sendmsg4,
		sk->progs.ctnet_sendmsg6, sk->progs.ctnet_recvmsg4, sk->progs.ctnet_recvmsg6,
		sk->progs.ctnet_getpeername4, sk->progs.ctnet_getpeername6,
	};
	struct bpf_map *maps[] = { sk->maps.lofwd_map, sk->maps.lofwd_cfg, sk->maps.lofwd_sks };
	char p[PATH_MAX + 32];
	int cg = open(w->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (cg < 0)
		return ctnet_err_sys(err, errno, "open cgroup \"%s\"", w->cgroup);
	if (mkdir(w->pin, 0700) < 0 && errno != EEXIST) {
		r = ctnet_err_sys(err, errno, "mkdir \"%s\"", w->pin);
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		pin_path(w, map_pins[i], p, sizeof(p));
		if (bpf_map__pin(maps[i], p) < 0) {
			r = ctnet_err_sys(err, errno, "pin BPF map \"%s\"", p);
			goto out;
		}
	}
	for (size_t i = 0; i < N_LINKS; i++) {
		struct bpf_link *l = bpf_program__attach_cgroup(progs[i], cg);
		if (!l) {
			r = ctnet_err_sys(err, errno, "attach BPF program %s to cgroup \"%s\"", link_pins[i],
					  w->cgroup);
			goto out;
		}
		pin_path(w, link_pins[i], p, sizeof(p));
		if (bpf_link__pin(l, p) < 0)
			r = ctnet_err_sys(err, errno, "pin BPF link \"%s\"", p);
		bpf_link__destroy(l); /* pinned: stays attached */
		if (r < 0)
			goto out;
	}
out:
	close(cg);
	return r;
}

/* Loads, attaches and pins the programs unless all is in place: 1 when loaded afresh (the
 * map is empty), 0 when already there, or -errno naming what is missing. */
static int ensure(const struct lofwd_where *w, struct ctnet_err *err)
{
	struct lofwd *sk;
	uint32_t zero = 0;
	uint64_t cookie;
	int r;

	if ((r = bpffs(w, err)) < 0)
		return r;
	if (pins_ok(w))
		return 0;
	unpin_all(w);
	if (!(cookie = netns_cookie()))
		return ctnet_errf(err, EOPNOTSUPP, "this kernel tells no netns cookie (SO_NETNS_COOKIE)");
	libbpf_set_print(quiet);
	if (!(sk = lofwd__open()))
		return ctnet_err_sys(err, errno, "open the loopback-forward BPF object");
	if (lofwd__load(sk) < 0) {
		r = ctnet_err_sys(err, errno, "load the loopback-forward BPF programs (they need CAP_BPF and "
				  "CAP_NET_ADMIN, or CAP_SYS_ADMIN)");
	} else if (bpf_map__update_elem(sk->maps.lofwd_cfg, &zero, sizeof(zero), &cookie, sizeof(cookie), 0) < 0) {
		r = ctnet_err_sys(err, errno, "write the BPF config map");
	} else if ((r = attach_all(sk, w, err)) >= 0) {
		r = 1;
	}
	if (r < 0)
		unpin_all(w);
	lofwd__destroy(sk);
	return r;
}

/* --- the map's elements --- */

struct lofwd_kv {
	struct lofwd_key k;
	struct lofwd_val v;
};

struct lofwd_list {
	struct lofwd_kv *v;
	size_t n, cap;
};

static bool is_lo6(const struct ctnet_addr *a)
{
	static const uint8_t lo[16] = { [15] = 1 };
	return a->family == AF_INET6 && !memcmp(a->bytes, lo, 16);
}

/* Whether the host's own loopback reaches f (IPv4, IPv6). */
static void reach(const struct nat_container *c, const struct nat_forward *f, bool *v4, bool *v6)
{
	*v4 = !f->has_host_ip || (f->host_ip.family == AF_INET && f->host_ip.bytes[0] == 127);
	*v6 = c->has_addr6 && (!f->has_host_ip || is_lo6(&f->host_ip));
}

static int push(struct lofwd_list *l, uint8_t fam, const struct nat_forward *f, unsigned i,
		const struct ctnet_addr *to)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct lofwd_kv *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	struct lofwd_kv *kv = &l->v[l->n++];
	memset(kv, 0, sizeof(*kv));
	kv->k.family = fam;
	kv->k.proto = (uint8_t)f->proto;
	kv->k.port = htons((uint16_t)(f->host_lo + i));
	memcpy(kv->v.addr, to->bytes, fam == LOFWD_INET ? 4 : 16);
	kv->v.port = htons((uint16_t)(f->container_lo + i));
	return 0;
}

static int keys_of(const struct nat_container *c, struct lofwd_list *l)
{
	for (size_t i = 0; c && i < c->n_forwards; i++) {
		const struct nat_forward *f = &c->forwards[i];
		bool v4, v6;
		reach(c, f, &v4, &v6);
		for (unsigned p = 0; p <= (unsigned)(f->host_hi - f->host_lo); p++)
			if ((v4 && push(l, LOFWD_INET, f, p, &c->addr) < 0) ||
			    (v6 && push(l, LOFWD_INET6, f, p, &c->addr6) < 0))
				return -ENOMEM;
	}
	return 0;
}

static int kv_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct lofwd_kv *)a)->k, &((const struct lofwd_kv *)b)->k, sizeof(struct lofwd_key));
}

static bool list_has(const struct lofwd_list *sorted, const struct lofwd_key *k)
{
	struct lofwd_kv x = { .k = *k };
	return sorted->n && bsearch(&x, sorted->v, sorted->n, sizeof(x), kv_cmp);
}

static int map_open(const struct lofwd_where *w, struct ctnet_err *err)
{
	char p[PATH_MAX + 32];
	int fd;
	pin_path(w, map_pins[0], p, sizeof(p));
	if ((fd = bpf_obj_get(p)) < 0)
		return ctnet_err_sys(err, errno, "open BPF map \"%s\"", p);
	return fd;
}

/* Puts add's elements in, then deletes del's that add does not hold. */
static int map_apply(int fd, struct lofwd_list *del, struct lofwd_list *add, struct ctnet_err *err)
{
	qsort(add->v, add->n, sizeof(*add->v), kv_cmp);
	for (size_t i = 0; i < add->n; i++)
		if (bpf_map_update_elem(fd, &add->v[i].k, &add->v[i].v, BPF_ANY) < 0)
			return ctnet_err_sys(err, errno, "update BPF map lofwd_map");
	for (size_t i = 0; del && i < del->n; i++)
		if (!list_has(add, &del->v[i].k) && bpf_map_delete_elem(fd, &del->v[i].k) < 0 && errno != ENOENT)
			return ctnet_err_sys(err, errno, "delete from BPF map lofwd_map");
	return 0;
}

/* Every key of the map, for a full sync or a check. */
static int map_keys(int fd, struct lofwd_list *out)
{
	struct lofwd_key k, next;
	void *prev = NULL;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct lofwd_kv kv = { .k = next };
		if (bpf_map_lookup_elem(fd, &next, &kv.v) == 0) {
			if (out->n == out->cap) {
				size_t cap = out->cap ? out->cap * 2 : 64;
				struct lofwd_kv *v = realloc(out->v, cap * sizeof(*v));
				if (!v)
					return -ENOMEM;
				out->v = v;
				out->cap = cap;
			}
			out->v[out->n++] = kv;
		}
		k = next;
		prev = &k;
	}
	return 0;
}

/* --- what ctnet-nat calls --- */

static void list_free(struct lofwd_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

bool nat_lofwd_on(void)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/nat/" STATE_FILE, ctnet_state_dir());
	return access(p, F_OK) == 0;
}

static int state_set(struct nat_store *s, const struct lofwd_where *w, bool on, struct ctnet_err *err)
{
	char text[PATH_MAX + 16];
	if (!on)
		return unlinkat(s->dir, STATE_FILE, 0) < 0 && errno != ENOENT
			       ? ctnet_err_sys(err, errno, "remove \"%s/nat/" STATE_FILE "\"", ctnet_state_dir())
			       : 0;
	snprintf(text, sizeof(text), "CGROUP=%s\n", w->cgroup);
	return ctnet_write_atomic(s->dir, STATE_FILE, text, strlen(text), err);
}

/* The first forward of c pinned to ::1 (NULL: none): what cannot work without BPF. */
static const struct nat_forward *lo6_forward(const struct nat_container *c)
{
	for (size_t i = 0; c && i < c->n_forwards; i++)
		if (c->forwards[i].has_host_ip && is_lo6(&c->forwards[i].host_ip))
			return &c->forwards[i];
	return NULL;
}

struct fill {
	struct lofwd_list *l;
	const char *skip;
	const struct nat_forward *lo6;
};

static int fill_one(struct nat_entry *en, void *data)
{
	struct fill *f = data;
	if (f->skip && !strcmp(en->name, f->skip))
		return 0;
	if (!f->lo6)
		f->lo6 = lo6_forward(&en->c);
	return keys_of(&en->c, f->l);
}

/* No BPF here: IPv4 keeps the output-hook path; a forward pinned to ::1 is refused. */
static int unavailable(const struct nat_forward *lo6, struct ctnet_err *err)
{
	char spec[64], cause[sizeof(err->msg)];
	if (!lo6) {
		ctnet_err_clear(err);
		return 0;
	}
	snprintf(cause, sizeof(cause), "%s", err->msg);
	return ctnet_errf(err, EOPNOTSUPP, "forward %s on ::1: loopback forwards over IPv6 need the BPF "
			  "socket hooks, which cannot be used here: %s", nat_forward_str(lo6, spec, sizeof(spec)), cause);
}

/* Loads what is missing and records BPF as the way; 1: loaded afresh, 0: there, -errno. */
static int take_bpf(struct ctnet_kern *kern, struct nat_store *s, struct lofwd_where *w, struct ctnet_err *err)
{
	bool on = nat_lofwd_on();
	int r;
	if ((r = where(w, err)) < 0 || (r = ensure(w, err)) < 0)
		return r;
	if (!on && state_set(s, w, true, err) < 0) {
		unpin_all(w);
		return -EIO;
	}
	if (!on)
		nat_localnet_reset(kern, s); /* route_localnet of the old way: off, not needed */
	return r;
}

int nat_lofwd_change(struct ctnet_kern *kern, struct nat_store *s, const struct nat_container *old,
		     const struct nat_container *new, struct ctnet_err *err)
{
	struct lofwd_list ol = { 0 }, nl = { 0 };
	struct lofwd_where w;
	int r, fd = -1;

	if (keys_of(old, &ol) < 0 || keys_of(new, &nl) < 0) {
		r = ctnet_err_sys(err, ENOMEM, "loopback forwards");
		goto out;
	}
	if (!nl.n) { /* nothing to load for: delete old's, unpin when none is left */
		r = 0;
		if (!nat_lofwd_on() || where(&w, err) < 0 || (fd = map_open(&w, err)) < 0) {
			ctnet_err_clear(err);
			goto out;
		}
		struct lofwd_key k;
		if ((r = map_apply(fd, &ol, &nl, err)) >= 0 && bpf_map_get_next_key(fd, NULL, &k) < 0) {
			unpin_all(&w);
			r = state_set(s, &w, false, err);
		}
		goto out;
	}
	r = take_bpf(kern, s, &w, err);
	if (r < 0) {
		r = nat_lofwd_on() ? r : unavailable(lo6_forward(new), err);
		goto out;
	}
	if (r == 1) { /* an empty map: everyone's forwards, not only this change's */
		struct fill f = { .l = &nl, .skip = new->name };
		if ((r = nat_store_foreach(s, fill_one, &f, err)) < 0)
			goto out;
	}
	if ((fd = map_open(&w, err)) >= 0)
		r = map_apply(fd, &ol, &nl, err);
	else
		r = fd;
out:
	if (fd >= 0)
		close(fd);
	list_free(&ol);
	list_free(&nl);
	return r;
}

int nat_lofwd_sync(struct ctnet_kern *kern, struct nat_store *s, struct ctnet_err *err)
{
	struct lofwd_list all = { 0 }, have = { 0 };
	struct fill f = { .l = &all };
	struct lofwd_where w;
	int r, fd = -1;

	if ((r = nat_store_foreach(s, fill_one, &f, err)) < 0)
		goto out;
	if (!all.n) {
		where(&w, err);
		ctnet_err_clear(err);
		unpin_all(&w);
		r = state_set(s, &w, false, err);
		goto out;
	}
	if ((r = take_bpf(kern, s, &w, err)) < 0) {
		struct ctnet_err e = { 0 };
		state_set(s, &w, false, &e); /* IPv4 the old way (restore sets route_localnet) */
		r = unavailable(f.lo6, err);
		goto out;
	}
	if ((fd = map_open(&w, err)) < 0 || (r = map_keys(fd, &have)) < 0)
		r = fd < 0 ? fd : ctnet_err_sys(err, ENOMEM, "read BPF map lofwd_map");
	else
		r = map_apply(fd, &have, &all, err);
out:
	if (fd >= 0)
		close(fd);
	list_free(&all);
	list_free(&have);
	return r;
}

void nat_lofwd_unpin(void)
{
	struct lofwd_where w;
	struct ctnet_err e = { 0 };
	where(&w, &e);
	unpin_all(&w);
}

static int check_line(void (*cb)(const char *line, void *data), void *data, const char *fmt, ...)
	CTNET_PRINTF(3, 4);
static int check_line(void (*cb)(const char *line, void *data), void *data, const char *fmt, ...)
{
	char line[PATH_MAX + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (cb)
		cb(line, data);
	return 1;
}

static int check_elems(const struct lofwd_list *want, const struct lofwd_list *have,
		       void (*cb)(const char *line, void *data), void *data)
{
	int n = 0;
	for (int pass = 0; pass < 2; pass++) {
		const struct lofwd_list *a = pass ? have : want, *b = pass ? want : have;
		for (size_t i = 0; i < a->n; i++) {
			const struct lofwd_kv *k = &a->v[i];
			struct lofwd_kv *o = b->n ? bsearch(k, b->v, b->n, sizeof(*k), kv_cmp) : NULL;
			if (o && !memcmp(&o->v, &k->v, sizeof(k->v)))
				continue;
			if (pass && o)
				continue; /* a different value: said once, in the first pass */
			n += check_line(cb, data, "%s BPF map element lofwd_map %s %s . %u", pass ? "extra" : "missing",
					k->k.family == LOFWD_INET ? "ipv4" : "ipv6", nat_proto_name(k->k.proto),
					ntohs(k->k.port));
		}
	}
	return n;
}

int nat_lofwd_check(struct nat_store *s, void (*cb)(const char *line, void *data), void *data,
		    struct ctnet_err *err)
{
	struct lofwd_list all = { 0 }, have = { 0 };
	struct fill f = { .l = &all };
	struct lofwd_where w;
	int r, fd = -1;

	if ((r = nat_store_foreach(s, fill_one, &f, err)) < 0)
		goto out;
	if (where(&w, err) < 0) {
		r = all.n && nat_lofwd_on() ? check_line(cb, data, "loopback forwards by BPF: %s", err->msg) : 0;
		ctnet_err_clear(err);
		goto out;
	}
	if (!all.n || !nat_lofwd_on()) {
		r = access(w.pin, F_OK) == 0 ? check_line(cb, data, "extra BPF pins in %s (no loopback "
							 "forward by BPF recorded)", w.pin) : 0;
		goto out;
	}
	if (!pins_ok(&w)) {
		r = check_line(cb, data, "missing BPF programs for loopback forwards (pins in %s, "
			       "attached to cgroup %s)", w.pin, w.cgroup);
		goto out;
	}
	if ((fd = map_open(&w, err)) < 0 || map_keys(fd, &have) < 0) {
		r = fd < 0 ? fd : ctnet_err_sys(err, ENOMEM, "read BPF map lofwd_map");
		goto out;
	}
	qsort(all.v, all.n, sizeof(*all.v), kv_cmp);
	qsort(have.v, have.n, sizeof(*have.v), kv_cmp);
	r = check_elems(&all, &have, cb, data);
out:
	if (fd >= 0)
		close(fd);
	list_free(&all);
	list_free(&have);
	return r;
}
