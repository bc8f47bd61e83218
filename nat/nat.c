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
	dst->c.name = dst->name;
	dst->c.iface = dst->iface;
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
static int rebuild(struct ctnet_kern *kern, struct nat_store *s, const struct nat_config *cfg_override,
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
	for (size_t i = 0; i < oe.n; i++)
		if ((!gone.n || nat_elem_cmp(&gone.v[gone.n - 1], &oe.v[i])) &&
		    !nat_elems_has(&ne, &oe.v[i]))
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
		if (rebuild(kern, s, NULL, new, old ? old->name : NULL, &e2) >= 0) {
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

/* Records `new` in place of `old` (NULL: none) and makes the kernel match. */
static int replace(struct ctnet_kern *kern, struct nat_store *s, const struct nat_container *old,
		   const struct nat_container *new, struct ctnet_err *err)
{
	int r;

	if ((r = nat_sysctls(s, new->has_addr6, err)) < 0 ||
	    (r = nat_localnet_migrate(kern, s, err)) < 0 ||
	    (r = nat_localnet_apply(kern, s, old, new, err)) < 0)
		return r;
	if ((r = nat_store_ports_claim(s, new, err)) < 0)
		return r;
	if ((r = apply(kern, s, old, new, err)) < 0) {
		nat_store_ports_release(s, new, old);
		return r;
	}
	if ((r = nat_store_write(s, new, err)) < 0) {
		struct ctnet_err e2 = { 0 };
		if (old)
			apply(kern, s, new, old, &e2);
		else
			apply(kern, s, new, NULL, &e2);
		nat_store_ports_release(s, new, old);
		return r;
	}
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

/* Whether the kernel's table already has our chains, rules, sets and these ext_ifaces. */
static bool table_current(struct ctnet_kern *kern, const struct nat_config *cfg)
{
	struct nat_kernel k;
	struct ctnet_err e = { 0 };
	char want[512];
	bool ok;

	if (nat_kernel_read(kern, &k, &e) < 0)
		return false;
	ok = k.table && k.n[NAT_S_EXT] == cfg->n_ext;
	for (int c = 0; ok && c < NAT_CHAINS; c++) {
		nat_chain_comments(c, cfg, want, sizeof(want));
		ok = k.chain[c] && !strcmp(k.comments[c], want);
	}
	for (int st = 0; ok && st < NAT_S_COUNT; st++)
		ok = k.set[st];
	for (size_t i = 0; ok && i < cfg->n_ext; i++) {
		struct nat_elem el;
		ok = nat_elem_make(&el, NAT_S_EXT, cfg->ext[i]) == 0 && nat_kernel_find(&k, &el);
	}
	nat_kernel_free(&k);
	return ok;
}

int nat_init(struct ctnet_kern *kern, const char *const *external_ifaces, size_t n, struct ctnet_err *err)
{
	return nat_init_isolate(kern, external_ifaces, n, -1, err);
}

int nat_init_isolate(struct ctnet_kern *kern, const char *const *external_ifaces, size_t n, int isolate,
		     struct ctnet_err *err)
{
	struct nat_config cfg = { 0 }, old;
	struct nat_store s;
	struct nat_elems e = { 0 };
	struct nat_buf b = { 0 };
	int r;

	if (n > NAT_MAX_EXT)
		return ctnet_errf(err, EINVAL, "more than %d external interfaces", NAT_MAX_EXT);
	for (size_t i = 0; i < n; i++) {
		if ((r = ctnet_ifname_check(external_ifaces[i], err)) < 0)
			return r;
		strcpy(cfg.ext[cfg.n_ext++], external_ifaces[i]);
	}
	if ((r = nat_store_open(&s, true, true, err)) < 0)
		return r;
	if ((r = nat_sysctls(&s, false, err)) < 0 || (r = nat_localnet_migrate(kern, &s, err)) < 0 ||
	    (r = nat_store_config_read(&s, &old, err)) < 0)
		goto out;
	cfg.isolate = isolate < 0 ? old.isolate : isolate > 0;
	cfg.localnet_scoped = true;
	if (table_current(kern, &cfg)) { /* init twice changes nothing, not even rule handles */
		r = nat_store_config_write(&s, &cfg, err);
		goto out;
	}
	/* In place: keeps the elements (and their counters) of an existing table. */
	nat_buf_init(&b, &cfg);
	if ((r = nat_elems_config(&e, &cfg, err)) < 0)
		goto out;
	nat_buf_elems(&b, "add", &e);
	if (b.oom) {
		r = ctnet_err_sys(err, ENOMEM, "build nftables table");
		goto out;
	}
	r = nat_nft_run(kern, b.p, err);
	if (r < 0) {
		/* An old or damaged table (a set of another type, say): start over. */
		struct ctnet_err e2 = { 0 };
		if (rebuild(kern, &s, &cfg, NULL, NULL, &e2) >= 0) {
			ctnet_err_clear(err);
			r = 0;
		}
	}
	if (r >= 0)
		r = nat_store_config_write(&s, &cfg, err);
out:
	nat_buf_free(&b);
	nat_elems_free(&e);
	nat_store_close(&s);
	return r;
}

int nat_isolate(struct ctnet_kern *kern, bool on, struct ctnet_err *err)
{
	struct nat_config cfg;
	struct nat_store s;
	const char *ext[NAT_MAX_EXT];
	int r;

	if ((r = nat_store_open(&s, true, true, err)) < 0)
		return r;
	r = nat_store_config_read(&s, &cfg, err);
	nat_store_close(&s); /* nat_init_isolate takes the lock again */
	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg.n_ext; i++)
		ext[i] = cfg.ext[i];
	return nat_init_isolate(kern, ext, cfg.n_ext, on, err);
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

static int has_v6(struct nat_entry *e, void *data)
{
	*(bool *)data |= e->c.has_addr6;
	return 0;
}

static int restore(struct ctnet_kern *kern, bool localnet, struct ctnet_err *err)
{
	struct nat_store s;
	bool v6 = false;
	int r = nat_store_open(&s, true, true, err);
	if (r < 0)
		return r;
	/* IPv6 forwarding only when a container has IPv6, as add does. */
	if ((r = nat_store_foreach(&s, has_v6, &v6, err)) >= 0 &&
	    (r = nat_sysctls(&s, v6, err)) >= 0 && (r = nat_localnet_migrate(kern, &s, err)) >= 0 &&
	    (r = rebuild(kern, &s, NULL, NULL, NULL, err)) >= 0 && localnet)
		r = nat_localnet_restore(kern, &s, err);
	nat_store_close(&s);
	return r;
}

int nat_restore(struct ctnet_kern *kern, struct ctnet_err *err)
{
	return restore(kern, true, err);
}

int nat_restore_table(struct ctnet_kern *kern, struct ctnet_err *err)
{
	return restore(kern, false, err);
}

int nat_flush(struct ctnet_kern *kern, struct ctnet_err *err)
{
	struct nat_store s;
	unsigned n;
	int r = nat_writable(err); /* flush keeps the state: it must be writable all the same */
	if (r < 0 || (r = nat_docker_remove(kern, &n, err)) < 0) /* init --accept-in-docker-user's rules */
		return r;
	r = nat_nft_run(kern, "add table " NAT_TABLE "\ndelete table " NAT_TABLE "\n"
			    "add table " NAT_BTABLE "\ndelete table " NAT_BTABLE "\n", err);
	if (r < 0)
		return r;
	/* Without the table's "ctnet:localnet" rule, route_localnet on a container's link
	 * would let that container reach the host's 127.0.0.1: off until restore. */
	if (nat_store_open(&s, false, true, err) < 0) {
		ctnet_err_clear(err);
		return 0;
	}
	nat_localnet_reset(kern, &s);
	nat_store_close(&s);
	return 0;
}
