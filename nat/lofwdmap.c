/* SPDX-License-Identifier: MIT */
/*
 * Loopback forwards by socket: the map's elements from the desired state, and what
 * ctnet-nat calls (change, restore's sync, check, flush's unpin). lofwd.c loads the programs.
 */
#include "nat_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "lofwd_int.h"
#include "state.h"

#define STATE_FILE "lofwd"

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

/* A new zeroed element at the end of l, or NULL. */
static struct lofwd_kv *list_add(struct lofwd_list *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct lofwd_kv *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

static int push(struct lofwd_list *l, uint8_t fam, const struct nat_forward *f, unsigned i,
		const struct ctnet_addr *to)
{
	struct lofwd_kv *kv = list_add(l);
	if (!kv)
		return -ENOMEM;
	kv->k.family = fam;
	kv->k.proto = (uint8_t)f->proto;
	kv->k.port = htons((uint16_t)(f->host_lo + i));
	if (f->has_host_ip)
		memcpy(kv->k.addr, f->host_ip.bytes, fam == LOFWD_INET ? 4 : 16);
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
	lofwd_pin_path(w, LOFWD_MAP_PIN, p, sizeof(p));
	if ((fd = bpf_obj_get(p)) < 0)
		return ctnet_err_sys(err, errno, "open BPF map \"%s\"", p);
	return fd;
}

/* Puts add's elements in, then deletes del's that add does not hold. */
static int map_apply(int fd, struct lofwd_list *del, struct lofwd_list *add, struct ctnet_err *err)
{
	if (add->n) /* qsort's base must not be NULL, even for 0 elements */
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
			struct lofwd_kv *at = list_add(out);
			if (!at)
				return -ENOMEM;
			*at = kv;
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
	if ((r = lofwd_where(w, err)) < 0 || (r = lofwd_ensure(w, err)) < 0)
		return r;
	if (!on && state_set(s, w, true, err) < 0) {
		lofwd_unpin_all(w);
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
		if (!nat_lofwd_on() || lofwd_where(&w, err) < 0 || (fd = map_open(&w, err)) < 0) {
			ctnet_err_clear(err);
			goto out;
		}
		struct lofwd_key k;
		if ((r = map_apply(fd, &ol, &nl, err)) >= 0 && bpf_map_get_next_key(fd, NULL, &k) < 0) {
			lofwd_unpin_all(&w);
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
		lofwd_where(&w, err);
		ctnet_err_clear(err);
		lofwd_unpin_all(&w);
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
	lofwd_where(&w, &e);
	lofwd_unpin_all(&w);
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

/* " on ADDR" for a key pinned to an address, "" for one on every address. */
static const char *key_addr(const struct lofwd_key *k, char *buf)
{
	static const uint32_t zero[4];
	char a[INET6_ADDRSTRLEN];
	buf[0] = '\0';
	if (memcmp(k->addr, zero, sizeof(zero)) &&
	    inet_ntop(k->family == LOFWD_INET ? AF_INET : AF_INET6, k->addr, a, sizeof(a)))
		snprintf(buf, INET6_ADDRSTRLEN + 8, " on %s", a);
	return buf;
}

static int check_elems(const struct lofwd_list *want, const struct lofwd_list *have,
		       void (*cb)(const char *line, void *data), void *data)
{
	int n = 0;
	for (int pass = 0; pass < 2; pass++) {
		const struct lofwd_list *a = pass ? have : want, *b = pass ? want : have;
		for (size_t i = 0; i < a->n; i++) {
			const struct lofwd_kv *k = &a->v[i];
			char addr[INET6_ADDRSTRLEN + 8];
			struct lofwd_kv *o = b->n ? bsearch(k, b->v, b->n, sizeof(*k), kv_cmp) : NULL;
			if (o && !memcmp(&o->v, &k->v, sizeof(k->v)))
				continue;
			if (pass && o)
				continue; /* a different value: said once, in the first pass */
			n += check_line(cb, data, "%s BPF map element lofwd_map %s %s . %u%s", pass ? "extra" : "missing",
					k->k.family == LOFWD_INET ? "ipv4" : "ipv6", nat_proto_name(k->k.proto),
					ntohs(k->k.port), key_addr(&k->k, addr));
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
	if (lofwd_where(&w, err) < 0) {
		r = all.n && nat_lofwd_on() ? check_line(cb, data, "loopback forwards by BPF: %s", err->msg) : 0;
		ctnet_err_clear(err);
		goto out;
	}
	if (!all.n || !nat_lofwd_on()) {
		r = access(w.pin, F_OK) == 0 ? check_line(cb, data, "extra BPF pins in %s (no loopback "
							 "forward by BPF recorded)", w.pin) : 0;
		goto out;
	}
	if (!lofwd_pins_ok(&w)) {
		r = check_line(cb, data, "missing BPF programs for loopback forwards (pins in %s, "
			       "attached to cgroup %s)", w.pin, w.cgroup);
		goto out;
	}
	if ((fd = map_open(&w, err)) < 0 || map_keys(fd, &have) < 0) {
		r = fd < 0 ? fd : ctnet_err_sys(err, ENOMEM, "read BPF map lofwd_map");
		goto out;
	}
	qsort(all.v, all.n, sizeof(*all.v), kv_cmp); /* all.n > 0 here */
	if (have.n)
		qsort(have.v, have.n, sizeof(*have.v), kv_cmp);
	r = check_elems(&all, &have, cb, data);
out:
	if (fd >= 0)
		close(fd);
	list_free(&all);
	list_free(&have);
	return r;
}

int nat_lofwd_fault(char *why, size_t len)
{
	struct lofwd_where w;
	struct ctnet_err e = { 0 };
	if (!nat_lofwd_on())
		return 0;
	if (lofwd_where(&w, &e) < 0) {
		snprintf(why, len, "%s", e.msg);
		return 1;
	}
	if (lofwd_pins_ok(&w))
		return 0;
	snprintf(why, len, "the BPF programs for loopback forwards are missing from %s or detached from cgroup %s",
		 w.pin, w.cgroup);
	return 1;
}
