/* SPDX-License-Identifier: MIT */
/*
 * ctnet-nat's operations. Each change is: validate, lock the desired state, turn the
 * old and new container into element lists, apply the difference as one nft transaction,
 * then record. If the table vanished behind our back (nft flush ruleset, reboot), the
 * transaction fails with ENOENT and we rebuild the whole table from the desired state with
 * the change included, once, like systemd's firewall-util-nft.c.
 */
#include "nat_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"

void nat_entry_copy(struct nat_entry *dst, const struct nat_container *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->c = *src;
	snprintf(dst->name, sizeof(dst->name), "%s", src->name);
	snprintf(dst->iface, sizeof(dst->iface), "%s", src->iface);
	snprintf(dst->bridge, sizeof(dst->bridge), "%s", src->bridge ? src->bridge : "");
	dst->c.name = dst->name;
	dst->c.iface = dst->iface;
	dst->c.bridge = dst->bridge;
}

static int forward_check(const struct nat_container *c, const struct nat_forward *f,
			 struct ctnet_err *err)
{
	char spec[64], ip[CTNET_ADDR_STRLEN];
	if ((f->proto != NAT_TCP && f->proto != NAT_UDP) || !f->host_lo || !f->container_lo ||
	    f->host_hi < f->host_lo || f->container_hi < f->container_lo ||
	    f->host_hi - f->host_lo != f->container_hi - f->container_lo ||
	    f->host_hi - f->host_lo >= NAT_MAX_RANGE)
		return ctnet_errf(err, EINVAL, "forward %s: invalid", nat_forward_str(f, spec, sizeof(spec)));
	if (f->has_host_ip) {
		if (f->host_ip.family != AF_INET && f->host_ip.family != AF_INET6)
			return ctnet_errf(err, EINVAL, "forward %s: invalid host ip",
					  nat_forward_str(f, spec, sizeof(spec)));
		if (f->host_ip.family == AF_INET6 && !c->has_addr6)
			return ctnet_errf(err, EINVAL,
					  "forward %s: host ip %s is IPv6 but container \"%s\" has no IPv6 address",
					  nat_forward_str(f, spec, sizeof(spec)),
					  ctnet_addr_str(&f->host_ip, ip), c->name);
	}
	return 0;
}

int nat_container_check(const struct nat_container *c, struct ctnet_err *err)
{
	char spec[64];
	size_t ports = 0;
	int r;

	if ((r = ctnet_name_check(c->name, err)) < 0 || (r = ctnet_ifname_check(c->iface, err)) < 0)
		return r;
	if (c->addr.family != AF_INET)
		return ctnet_errf(err, EINVAL, "container \"%s\": address must be IPv4", c->name);
	if (c->has_addr6 && c->addr6.family != AF_INET6)
		return ctnet_errf(err, EINVAL, "container \"%s\": address6 must be IPv6", c->name);
	if (c->n_forwards > NAT_MAX_FORWARDS)
		return ctnet_errf(err, EINVAL, "container \"%s\": more than %d forwards", c->name,
				  NAT_MAX_FORWARDS);
	for (size_t i = 0; i < c->n_forwards; i++) {
		if ((r = forward_check(c, &c->forwards[i], err)) < 0)
			return r;
		ports += (size_t)(c->forwards[i].host_hi - c->forwards[i].host_lo) + 1;
		for (size_t j = 0; j < i; j++)
			if (nat_forward_overlaps(&c->forwards[i], &c->forwards[j]))
				return ctnet_errf(err, EADDRINUSE,
						  "forward %s: host port already forwarded to container \"%s\"",
						  nat_forward_str(&c->forwards[i], spec, sizeof(spec)),
						  c->name);
	}
	if (ports > NAT_MAX_PORTS)
		return ctnet_errf(err, EINVAL, "container \"%s\": more than %d forwarded ports",
				  c->name, NAT_MAX_PORTS);
	return 0;
}

/* Every recorded container's elements into c->e but the one or two skipped. */
int collect_one(struct nat_entry *en, void *data)
{
	struct collect *c = data;
	if ((c->skip1 && !strcmp(en->name, c->skip1)) || (c->skip2 && !strcmp(en->name, c->skip2)))
		return 0;
	return nat_elems_container(c->e, &en->c, c->err);
}

/*
 * The whole table from the desired state, in one transaction. `change` replaces the
 * recorded container of that name (or adds it); `drop` leaves one out.
 */
int nat_rebuild(struct ctnet_kern *kern, struct nat_store *s, const struct nat_config *cfg_override,
		const struct nat_container *change, const char *drop, struct ctnet_err *err)
{
	struct nat_config cfg;
	struct nat_elems e = { 0 };
	struct nat_buf b = { 0 };
	struct collect c = { .e = &e, .skip1 = drop, .skip2 = change ? change->name : NULL,
			     .err = err };
	int r;

	if (cfg_override)
		cfg = *cfg_override;
	else if ((r = nat_store_config_read(s, &cfg, err)) < 0)
		return r;
	r = nat_elems_config(&e, &cfg, err);
	if (r >= 0)
		r = nat_store_foreach(s, collect_one, &c, err);
	if (r >= 0 && change)
		r = nat_elems_container(&e, change, err);
	if (r >= 0) {
		nat_buf_table(&b, &cfg);
		nat_buf_elems(&b, "add", &e);
		r = b.oom ? ctnet_err_sys(err, ENOMEM, "build nftables table")
			  : nat_nft_run(kern, b.p, err);
	}
	nat_buf_free(&b);
	nat_elems_free(&e);
	return r;
}

/* Kernel from `old` to `new` (either NULL): delete what goes, add what stays or comes. */
static int apply(struct ctnet_kern *kern, struct nat_store *s, const struct nat_container *old,
		 const struct nat_container *new, struct ctnet_err *err)
{
	struct nat_elems oe = { 0 }, ne = { 0 }, gone = { 0 };
	struct nat_buf b = { 0 };
	int r = 0;

	if (old)
		r = nat_elems_container(&oe, old, err);
	if (r >= 0 && new)
		r = nat_elems_container(&ne, new, err);
	if (r < 0)
		goto out;
	/* What goes: old minus new, de-duplicated. One sort of each list, then a merge-like
	 * pass (n log n): sorting `gone` on every insert made a down of a container with
	 * 8,192 elements quadratic (~1.5 s of user CPU). */
	nat_elems_sort(&ne);
	nat_elems_sort(&oe);
	if (oe.n && !(gone.v = malloc(oe.n * sizeof(*gone.v)))) {
		r = ctnet_err_sys(err, ENOMEM, "build nft elements");
		goto out;
	}
	gone.cap = oe.n;
	/* A shared element another container holds too stays (a bridge, a host address). */
	for (size_t i = 0; i < oe.n; i++)
		if ((!gone.n || nat_elem_cmp(&gone.v[gone.n - 1], &oe.v[i])) &&
		    !nat_elems_has(&ne, &oe.v[i]) && !nat_store_shared_others(s, old->name, &oe.v[i]))
			gone.v[gone.n++] = oe.v[i];
	r = nat_kernel_write(kern, &gone, &ne, err);
	if (r == -E2BIG) {
		/* Too many elements for one batch of ours: libnftables splits it. */
		nat_buf_elems(&b, "delete", &gone);
		nat_buf_elems(&b, "add", &ne);
		if (b.oom) {
			r = ctnet_err_sys(err, ENOMEM, "build nft elements");
			goto out;
		}
		r = b.len ? nat_nft_run(kern, b.p, err) : 0;
	}
	if (r == -ENOENT || r == -EEXIST) {
		/* The table, a set or an element we expected is gone or differs: the kernel
		 * drifted from the desired state. Rebuild it with this change, once. */
		struct ctnet_err e2 = { 0 };
		if (nat_rebuild(kern, s, NULL, new, old ? old->name : NULL, &e2) >= 0) {
			ctnet_err_clear(err);
			r = 0;
		}
	}
out:
	nat_buf_free(&b);
	nat_elems_free(&oe);
	nat_elems_free(&ne);
	nat_elems_free(&gone);
	return r;
}

static void flush_forward(struct ctnet_kern *kern, const struct nat_container *c, const struct nat_forward *f)
{
	struct nat_ct_match m = { .by_port = true, .proto = (uint8_t)f->proto,
				  .lo = f->host_lo, .hi = f->host_hi };
	struct ctnet_err e = { 0 };
	unsigned n;
	/* Best effort: the forward is gone either way; flows also die when they time out. */
	if (!f->has_host_ip || f->host_ip.family == AF_INET) {
		m.addr = c->addr;
		nat_conntrack_delete(kern, &m, &n, &e);
	}
	if (c->has_addr6 && (!f->has_host_ip || f->host_ip.family == AF_INET6)) {
		m.addr = c->addr6;
		nat_conntrack_delete(kern, &m, &n, &e);
	}
}

static void flush_container(struct ctnet_kern *kern, const struct nat_container *c)
{
	struct nat_ct_match m = { .addr = c->addr, .orig_src_too = true };
	struct ctnet_err e = { 0 };
	unsigned n;
	nat_conntrack_delete(kern, &m, &n, &e);
	if (c->has_addr6) {
		m.addr = c->addr6;
		nat_conntrack_delete(kern, &m, &n, &e);
	}
}

static bool has_forward(const struct nat_container *c, const struct nat_forward *f)
{
	for (size_t i = 0; i < c->n_forwards; i++)
		if (!memcmp(&c->forwards[i], f, sizeof(*f)))
			return true;
	return false;
}

/* Claims of c's shared elements (claim), or the release of those of c that keep (may be
 * NULL) does not hold: how many bridges came or went (nat_store_shared_claim/release). */
static int shared_update(struct nat_store *s, const struct nat_container *c, const struct nat_container *keep,
			 bool claim, struct ctnet_err *err)
{
	struct nat_elems ce = { 0 }, ke = { 0 }, gone = { 0 };
	int r = c ? nat_elems_container(&ce, c, err) : 0;

	if (r >= 0 && claim)
		r = nat_store_shared_claim(s, c->name, &ce, err);
	else if (r >= 0 && c && (!keep || (r = nat_elems_container(&ke, keep, err)) >= 0)) {
		nat_elems_sort(&ke);
		for (size_t i = 0; i < ce.n; i++)
			if (nat_set_is_shared(ce.v[i].set) && !nat_elems_has(&ke, &ce.v[i]) &&
			    (r = nat_elems_push(&gone, &ce.v[i], err)) < 0)
				break;
		if (r >= 0)
			r = nat_store_shared_release(s, c->name, &gone);
	}
	nat_elems_free(&ce);
	nat_elems_free(&ke);
	nat_elems_free(&gone);
	return r;
}

/* A bridge came or went: the DOCKER-USER accepts, when wanted, follow (best effort: check
 * reports what is missing, restore and watch put it back). */
static void docker_follow(struct ctnet_kern *kern, struct nat_store *s, int bridges)
{
	struct nat_config cfg;
	struct ctnet_err e = { 0 };
	unsigned n;

	if (bridges > 0 && nat_store_config_read(s, &cfg, &e) >= 0 && cfg.docker_user)
		nat_docker_fix(kern, s, true, &n, &e);
}

/* Records `new` in place of `old` (NULL: none) and makes the kernel match. */
static int replace(struct ctnet_kern *kern, struct nat_store *s, const struct nat_container *old,
		   const struct nat_container *new, struct ctnet_err *err)
{
	int r, bridges;

	if ((r = nat_sysctls(s, new->has_addr6, err)) < 0 ||
	    (r = nat_localnet_migrate(kern, s, err)) < 0)
		return r;
	if ((r = nat_store_ports_claim(s, new, err)) < 0)
		return r;
	/* Loopback forwards by BPF first: its choice decides whether route_localnet is needed. */
	if ((r = nat_lofwd_change(kern, s, old, new, err)) < 0) {
		nat_store_ports_release(s, new, old);
		return r;
	}
	if ((r = nat_localnet_apply(kern, s, old, new, err)) < 0 ||
	    (r = bridges = shared_update(s, new, NULL, true, err)) < 0 || (r = apply(kern, s, old, new, err)) < 0) {
		struct ctnet_err e2 = { 0 };
		shared_update(s, new, old, false, &e2);
		nat_lofwd_change(kern, s, new, old, &e2);
		nat_store_ports_release(s, new, old);
		return r;
	}
	if ((r = nat_store_write(s, new, err)) < 0) {
		struct ctnet_err e2 = { 0 };
		apply(kern, s, new, old, &e2);
		shared_update(s, new, old, false, &e2);
		nat_lofwd_change(kern, s, new, old, &e2);
		nat_store_ports_release(s, new, old);
		return r;
	}
	struct ctnet_err e3 = { 0 };
	bridges += shared_update(s, old, new, false, &e3); /* best effort: gc sweeps what stays */
	docker_follow(kern, s, bridges);
	nat_store_ports_release(s, old, new);
	if (old) {
		if (!ctnet_addr_equal(&old->addr, &new->addr) || old->has_addr6 != new->has_addr6 ||
		    (old->has_addr6 && !ctnet_addr_equal(&old->addr6, &new->addr6)))
			flush_container(kern, old);
		else
			for (size_t i = 0; i < old->n_forwards; i++)
				if (!has_forward(new, &old->forwards[i]))
					flush_forward(kern, old, &old->forwards[i]);
	}
	return 0;
}

int nat_add(struct ctnet_kern *kern, const struct nat_container *c, struct ctnet_err *err)
{
	struct nat_entry *old = NULL;
	struct nat_store s;
	int r;

	if ((r = nat_container_check(c, err)) < 0)
		return r;
	if ((r = nat_store_open(&s, true, true, err)) < 0)
		return r;
	old = malloc(sizeof(*old));
	if (!old) {
		r = ctnet_err_sys(err, ENOMEM, "add container \"%s\"", c->name);
		goto out;
	}
	r = nat_store_read(&s, c->name, old, err);
	if (r < 0 && r != -ENOENT)
		goto out;
	r = replace(kern, &s, r == -ENOENT ? NULL : &old->c, c, err);
out:
	free(old);
	nat_store_close(&s);
	return r;
}

int nat_del(struct ctnet_kern *kern, const char *name, struct ctnet_err *err)
{
	struct nat_entry *old;
	struct nat_store s;
	int r;

	if ((r = ctnet_name_check(name, err)) < 0)
		return r;
	r = nat_store_open(&s, false, true, err);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	old = malloc(sizeof(*old));
	if (!old) {
		r = ctnet_err_sys(err, ENOMEM, "delete container \"%s\"", name);
		goto out;
	}
	r = nat_store_read(&s, name, old, err);
	if (r == -ENOENT) {
		/* Not recorded: still free ports an interrupted add of this name claimed. */
		nat_store_ports_release_owner(&s, name);
		r = 0;
		goto out;
	}
	if (r < 0 || (r = apply(kern, &s, &old->c, NULL, err)) < 0)
		goto out;
	if ((r = nat_store_remove(&s, name, err)) < 0)
		goto out;
	struct ctnet_err e2 = { 0 };
	nat_lofwd_change(kern, &s, &old->c, NULL, &e2); /* best effort: check and restore see what stays */
	docker_follow(kern, &s, shared_update(&s, &old->c, NULL, false, &e2));
	nat_store_ports_release(&s, &old->c, NULL);
	nat_localnet_apply(kern, &s, &old->c, NULL, err); /* off on a ve-NAME that stays; no error */
	if (old->c.has_addr6)
		nat_ipv6_forwarding_release(&s); /* the last one with IPv6: as ctnet found the host */
	flush_container(kern, &old->c);
out:
	free(old);
	nat_store_close(&s);
	return r;
}

/* Reads container `name` for a forward change; unknown is an error here. */
static int forward_prepare(struct nat_store *s, const char *name, struct nat_entry *old,
			   struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	int r;

	if (ctnet_name_check(name, err) < 0)
		return -EINVAL;
	r = nat_store_open(s, false, true, err);
	if (r == -ENOENT)
		return ctnet_errf(err, ENOENT, "container \"%s\": not added to nat",
				  ctnet_show(name, shown));
	if (r < 0)
		return r;
	r = nat_store_read(s, name, old, err);
	if (r == -ENOENT)
		r = ctnet_errf(err, ENOENT, "container \"%s\": not added to nat",
			       ctnet_show(name, shown));
	if (r < 0)
		nat_store_close(s);
	return r;
}

/* Reads name's entry, lets edit() change a copy, and puts the copy in place (kernel and
 * desired state, one transaction). */
static int forward_change(struct ctnet_kern *kern, const char *name, const struct nat_forward *f, const char *what,
			  int (*edit)(struct nat_container *c, const struct nat_forward *f,
				      struct ctnet_err *err),
			  struct ctnet_err *err)
{
	struct nat_entry *old = malloc(sizeof(*old)), *new = malloc(sizeof(*new));
	struct nat_store s;
	int r;

	if (!old || !new) {
		r = ctnet_err_sys(err, ENOMEM, "%s", what);
		goto out_free;
	}
	if ((r = forward_prepare(&s, name, old, err)) < 0)
		goto out_free;
	*new = *old;
	new->c.name = new->name;
	new->c.iface = new->iface;
	new->c.bridge = new->bridge;
	if ((r = edit(&new->c, f, err)) >= 0)
		r = replace(kern, &s, &old->c, &new->c, err);
	nat_store_close(&s);
out_free:
	free(old);
	free(new);
	return r;
}

static int add_edit(struct nat_container *c, const struct nat_forward *f, struct ctnet_err *err)
{
	char spec[64];
	if (has_forward(c, f))
		return 0; /* idempotent; the replace repairs the kernel too */
	if (c->n_forwards == NAT_MAX_FORWARDS)
		return ctnet_errf(err, ENOSPC, "forward %s: container \"%s\" has %d forwards already",
				  nat_forward_str(f, spec, sizeof(spec)), c->name, NAT_MAX_FORWARDS);
	c->forwards[c->n_forwards++] = *f;
	return nat_container_check(c, err);
}

static int del_edit(struct nat_container *c, const struct nat_forward *f, struct ctnet_err *err)
{
	char spec[64];
	size_t i;
	for (i = 0; i < c->n_forwards; i++)
		if (nat_forward_same_host(&c->forwards[i], f))
			break;
	if (i == c->n_forwards)
		return ctnet_errf(err, ENOENT, "forward %s: container \"%s\" has no such forward",
				  nat_forward_str(f, spec, sizeof(spec)), c->name);
	memmove(&c->forwards[i], &c->forwards[i + 1], (c->n_forwards - i - 1) * sizeof(c->forwards[0]));
	c->n_forwards--;
	return 0;
}

int nat_forward_add(struct ctnet_kern *kern, const char *name, const struct nat_forward *f, struct ctnet_err *err)
{
	return forward_change(kern, name, f, "add forward", add_edit, err);
}

int nat_forward_del(struct ctnet_kern *kern, const char *name, const struct nat_forward *f, struct ctnet_err *err)
{
	return forward_change(kern, name, f, "delete forward", del_edit, err);
}

struct list_cb {
	int (*cb)(const struct nat_container *c, void *data);
	void *data;
};

static int list_one(struct nat_entry *e, void *data)
{
	struct list_cb *l = data;
	return l->cb(&e->c, l->data);
}

int nat_list_containers(int (*cb)(const struct nat_container *c, void *data), void *data,
			struct ctnet_err *err)
{
	struct list_cb l = { cb, data };
	struct nat_store s;
	int r = nat_store_open(&s, false, false, err);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = nat_store_foreach(&s, list_one, &l, err);
	nat_store_close(&s);
	return r;
}
