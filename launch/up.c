/* SPDX-License-Identifier: MIT */
/* up and down: allocate, plumb, NAT, record; and the reverse (converge.c: a running one). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "../netd/netd.h"
#include "launch.h"
#include "state.h"
#include "up_int.h"

void ct_report_add(struct ct_report *rep, bool repair, const char *fmt, ...)
{
	va_list ap;
	if (!rep)
		return;
	if (rep->n == CT_REPORT_MAX) {
		rep->truncated = true;
		return;
	}
	rep->v[rep->n].repair = repair;
	va_start(ap, fmt);
	vsnprintf(rep->v[rep->n].what, sizeof(rep->v[0].what), fmt, ap);
	va_end(ap);
	rep->n++;
}

void ct_spec_normalize(struct ct_spec *s)
{
	if (s->netns_kind == CT_NETNS_CREATE)
		snprintf(s->netns_path, sizeof(s->netns_path), "%s/%s", netns_run_dir(), s->name);
	if (s->netns_kind != CT_NETNS_PATH && s->netns_kind != CT_NETNS_CREATE)
		s->netns_path[0] = '\0';
	if (s->netns_kind != CT_NETNS_PID && !s->shared)
		s->pid = 0;
	if (!strcmp(s->ifname, NETD_DEFAULT_IFNAME))
		s->ifname[0] = '\0';
}

static int open_netns(const struct ct_spec *s, struct ct_record *r, struct ctnet_err *err)
{
	int fd, rc;

	switch (s->netns_kind) {
	case CT_NETNS_FD:
		fd = fcntl(s->netns_fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return ctnet_err_sys(err, errno, "duplicate namespace fd");
		r->pid = s->owner_pid;
		snprintf(r->netns, sizeof(r->netns), "/proc/%ld/ns/net", (long)s->owner_pid);
		break;
	case CT_NETNS_PID:
		fd = netd_netns_open(NULL, s->pid, err);
		r->pid = s->pid;
		snprintf(r->netns, sizeof(r->netns), "/proc/%ld/ns/net", (long)s->pid);
		break;
	default:
		fd = netd_netns_open(s->netns_path, 0, err);
		snprintf(r->netns, sizeof(r->netns), "%s", s->netns_path);
		break;
	}
	if (fd < 0)
		return fd;
	rc = netns_identity(fd, &r->ns_dev, &r->ns_ino, err);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int open_record_netns(const struct ct_record *r, struct ctnet_err *err)
{
	return netd_netns_open(r->pid ? NULL : r->netns, r->pid, err);
}

static void lease_to_record(const struct ipam_lease *l, struct ct_record *r)
{
	if (!l->single)
		r->host = l->host;
	r->local = l->local;
	if (l->has_v6) {
		r->has_v6 = true;
		r->host6 = l->host6;
		r->local6 = l->local6;
	}
	r->lease = true;
}

/* Steps done so far, undone in reverse on failure. */
enum { DONE_NETNS = 1, DONE_LEASE = 2, DONE_LINK = 4, DONE_EXTRA = 8, DONE_NAT = 16, DONE_VETHS = 32 };

static void mv_name(const char *parent, char out[IFNAMSIZ])
{
	snprintf(out, IFNAMSIZ, "mv-%.12s", parent);
}

/* Gives moved interfaces back to the host namespace and deletes the macvlans; the first
 * n_if / n_mv of them. Best effort: a namespace already gone took them itself. */
static void release_extra(const struct ct_spec *s, int nsfd, size_t n_if, size_t n_mv)
{
	_cleanup_close_ int host = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	struct ctnet_err ignored;
	char mv[IFNAMSIZ];

	for (size_t i = n_mv; i-- > 0;) {
		mv_name(s->macvlans[i], mv);
		netd_release_in(nsfd, mv, -1, &ignored);
	}
	for (size_t i = n_if; i-- > 0;)
		if (host >= 0)
			netd_release_in(nsfd, s->interfaces[i], host, &ignored);
}

/* NixOS interfaces (moved in) and macvlans (made inside as mv-PARENT). On failure, what
 * this step did is undone before returning. */
static int add_extra(struct ctnet_kern *kern, const struct ct_spec *s, int nsfd, struct ctnet_err *err)
{
	char mv[IFNAMSIZ];
	size_t i, j;
	int rc = 0;

	for (i = 0; i < s->n_interfaces && rc == 0; i++)
		rc = netd_move(kern, s->interfaces[i], nsfd, NULL, err);
	if (rc < 0) {
		release_extra(s, nsfd, i - 1, 0);
		return rc;
	}
	for (j = 0; j < s->n_macvlans && rc == 0; j++) {
		mv_name(s->macvlans[j], mv);
		rc = netd_macvlan_add(kern, s->macvlans[j], mv, nsfd, NULL, err);
	}
	if (rc < 0)
		release_extra(s, nsfd, s->n_interfaces, j - 1);
	return rc;
}

static void undo(struct ctnet_kern *kern, const struct ct_record *r, int nsfd, unsigned done)
{
	struct ctnet_err ignored;
	int bad = 0;
	if (done & DONE_NAT)
		bad |= nat_del(kern, r->spec.name, &ignored);
	if (done & DONE_VETHS)
		bad |= netd_extra_veth_del_all(kern, r->spec.name, r->spec.extra_veths, r->spec.n_extra_veths, &ignored);
	if (done & DONE_EXTRA)
		release_extra(&r->spec, nsfd, r->spec.n_interfaces, r->spec.n_macvlans);
	if (done & DONE_LINK)
		bad |= netd_down(kern, r->spec.name, r->host_ifname, &r->host, &r->local, &ignored);
	if (done & DONE_LEASE)
		bad |= ipam_release(r->spec.name, &ignored);
	if (done & DONE_NETNS)
		bad |= netns_remove_named(r->spec.name, &ignored);
	ct_dns_forget(r->spec.name, &ignored); /* only files of ctnet's */
	/* The pending record goes last, and only when everything it names is gone: otherwise
	 * it stays for gc (or the next up/down) to finish the job. */
	if (!bad)
		record_remove(r->spec.name, &ignored);
}

struct netd_spec link_spec(const struct ct_spec *want, const struct ct_record *r, int nsfd)
{
	return (struct netd_spec){
		.name = want->name,
		.netns_fd = nsfd,
		.ifname = r->ifname[0] ? r->ifname : NETD_DEFAULT_IFNAME,
		.host_ifname = r->host_ifname[0] ? r->host_ifname : NULL,
		.host = r->host,
		.local = r->local,
		.has_v6 = r->has_v6,
		.host6 = r->host6,
		.local6 = r->local6,
		.bridge = want->bridge[0] ? want->bridge : NULL,
		/* On a bridge the MAC in use is the only one its port may send from: kept (a pair
		 * made again gets it back) and judged. A point-to-point link's is no one's business
		 * (a CNI chain's tuning plugin may change it). */
		.mac = want->mac[0] ? want->mac : want->bridge[0] && r->mac[0] ? r->mac : NULL,
		.mtu = want->mtu,
	};
}

void ct_nat_of(const struct ct_spec *want, const struct ct_record *r, struct nat_container *c)
{
	memset(c, 0, sizeof(*c));
	c->name = want->name;
	c->addr = r->local;
	c->addr.prefix = -1;
	c->has_addr6 = r->has_v6;
	c->addr6 = r->local6;
	c->addr6.prefix = -1;
	c->iface = r->host_ifname;
	/* Its MAC (a bridge port sends from it only), its bridge (nothing masqueraded out of
	 * it), or a point-to-point link's host-side addresses (--isolate keeps others off). */
	const char *mac = want->mac[0] ? want->mac : r->mac;
	c->has_mac = mac[0] && ctnet_mac_parse(mac, c->mac, NULL) == 0;
	c->bridge = want->bridge[0] ? want->bridge : NULL;
	if (!c->bridge) {
		c->host = r->host;
		if (r->has_v6)
			c->host6 = r->host6;
	}
	c->n_forwards = want->n_forwards;
	memcpy(c->forwards, want->forwards, sizeof(want->forwards[0]) * want->n_forwards);
}

/*
 * A host port held by another container: say who that is as the user knows it (the
 * runtime's id, its origin) and, when it is not running, how to free the port.
 */
void explain_port_clash(struct ctnet_kern *kern, const struct ct_spec *spec, struct ctnet_err *err)
{
	char owner[CTNET_NAME_MAX + 2], fw[64], who[CT_ORIGIN_MAX + CT_RUNTIME_ID_MAX + 16] = "";
	struct ct_record *o = malloc(sizeof(*o));
	struct ctnet_err e2;
	const char *why = NULL;

	for (size_t i = 0; o && i < spec->n_forwards; i++) {
		if (!nat_port_owner(&spec->forwards[i], owner, sizeof(owner)) || !strcmp(owner, spec->name))
			continue;
		bool has = record_read(owner, o, &e2) == 0;
		int alive = has && ct_state(kern, o, &why);
		if (has && (o->spec.runtime_id[0] || o->spec.origin[0]))
			snprintf(who, sizeof(who), " (%s%s%s)", o->spec.origin[0] ? o->spec.origin : "",
				 o->spec.runtime_id[0] ? " id " : "", o->spec.runtime_id);
		ctnet_errf(err, EADDRINUSE, "forward %s: host port taken by container \"%s\"%s%s%s%s",
			   nat_forward_str(&spec->forwards[i], fw, sizeof(fw)), owner, who,
			   alive ? "" : ", which is not running (",
			   alive ? "" : why ? why : "no record in this boot",
			   alive ? "" : "): ctnet gc or ctnet-nat del frees the port");
		break;
	}
	free(o);
}

/* Given addresses (flags, --config) already in use on the host: -EADDRINUSE naming where. */
static int addr_clash(struct ctnet_kern *kern, const struct ct_record *r, struct ctnet_err *err)
{
	const struct ctnet_addr *mine[] = { &r->host, &r->local, &r->host6, &r->local6 };
	struct ipam_host h = { kern };
	char why[256];
	int rc = 0;

	for (size_t i = 0; i < ARRAY_SIZE(mine) && rc == 0; i++) {
		/* a bridge port's address sits in the bridge's subnet: only addresses count */
		rc = ipam_host_clash(&h, mine[i], !r->spec.bridge[0], r->host_ifname, why, sizeof(why), err);
		if (rc == 1)
			rc = ctnet_errf(err, EADDRINUSE, "container \"%s\": %s", r->spec.name, why);
	}
	return rc < 0 ? rc : 0;
}

/* A private container's record before its first change: the given addresses and names. */
static void fresh_record(const struct ct_spec *spec, struct ct_record *r)
{
	r->host = spec->host;
	r->local = spec->local;
	r->host6 = spec->host6;
	r->local6 = spec->local6;
	r->has_v6 = spec->host6.family != 0;
	snprintf(r->ifname, sizeof(r->ifname), "%s", spec->ifname[0] ? spec->ifname : NETD_DEFAULT_IFNAME);
	if (spec->host_ifname[0])
		snprintf(r->host_ifname, sizeof(r->host_ifname), "%s", spec->host_ifname);
	else
		netd_host_ifname(spec->name, spec->bridge[0] != 0, r->host_ifname);
}

/* The addresses the spec leaves to allocate, leased from ipam. */
static int fresh_lease(struct ctnet_kern *kern, const struct ct_spec *spec, struct ct_record *r, unsigned *done,
		       struct ctnet_err *err)
{
	char pool[CTNET_ADDR_STRLEN];
	char host_pool[CTNET_ADDR_STRLEN];
	struct ipam_opts io = { .pool = spec->has_pool ? ctnet_addr_cidr_str(&spec->pool, pool) : NULL,
				.default_pool = spec->host_pool.family ? ctnet_addr_cidr_str(&spec->host_pool, host_pool)
								       : NULL,
				.prefix6 = spec->host_prefix6.family ? &spec->host_prefix6 : NULL,
				.single = spec->bridge[0] != 0,
				.ipv6 = spec->ipv6 };
	struct ipam_lease lease;
	/* Given addresses to reserve (a runtime's static IP) are claimed as the lease, so ipam
	 * hands them to no one else and the down releases them. */
	int rc = spec->reserve ? ipam_reserve(kern, spec->name, spec->bridge[0] ? NULL : &spec->host,
					      &spec->local, &io, &lease, err)
			       : ipam_alloc(kern, spec->name, &io, &lease, err);
	if (rc < 0)
		return rc;
	*done |= DONE_LEASE;
	if (!r->local.family) {
		lease_to_record(&lease, r);
	} else if (lease.has_v6) {
		r->has_v6 = true;
		r->host6 = lease.host6;
		r->local6 = lease.local6;
		r->lease = true;
	}
	return rc;
}

int ct_bridge_ensure(struct ctnet_kern *kern, const struct ct_spec *spec, struct ctnet_err *err)
{
	/* Shared by every container on it: made once, never removed by a down. */
	return spec->bridge[0] && spec->bridge_gw.family ? netd_bridge_add(kern, spec->bridge, &spec->bridge_gw, err) : 0;
}

/* The links: the pair (or bridge port), moved interfaces and macvlans, the impairment and
 * the extra veths; *done says which were made. */
static int fresh_links(struct ctnet_kern *kern, const struct ct_spec *spec, struct ct_record *r, int nsfd,
		       unsigned *done, struct ctnet_err *err)
{
	struct netd_spec ls = link_spec(spec, r, nsfd);
	struct netd_result res;
	int rc;

	ls.host_ifname = r->host_ifname;
	if ((rc = ct_bridge_ensure(kern, spec, err)) < 0)
		return rc;
	if (!ls.mtu) { /* a smaller uplink (VPN, PPPoE): the container's link too */
		unsigned up = netd_uplink_mtu(kern);
		ls.mtu = up >= NETD_MTU_MIN && up < 1500 ? up : 0;
	}
	rc = netd_up(kern, &ls, &res, err);
	if (rc < 0)
		return rc;
	*done |= DONE_LINK;
	snprintf(r->host_ifname, sizeof(r->host_ifname), "%s", res.host_ifname);
	snprintf(r->mac, sizeof(r->mac), "%s", res.mac);

	if (spec->n_interfaces || spec->n_macvlans) {
		rc = add_extra(kern, spec, nsfd, err);
		if (rc < 0)
			return rc;
		*done |= DONE_EXTRA;
	}
	/* An impairment goes with the link (deleting the link takes it along). */
	if (netd_impair_active(&spec->impair) &&
	    (rc = netd_impair_apply(kern, r->host_ifname, nsfd, r->ifname, &spec->impair, err)) < 0)
		return rc;
	for (size_t i = 0; i < spec->n_extra_veths; i++) {
		*done |= DONE_VETHS; /* del_all removes those made, absent ones are fine */
		if ((rc = netd_extra_veth_add(kern, spec->name, nsfd, &spec->extra_veths[i], err)) < 0)
			return rc;
	}
	return rc;
}

/* Its NAT elements (masquerade, forwards, anti-spoofing). */
static int fresh_nat(struct ctnet_kern *kern, const struct ct_spec *spec, const struct ct_record *r, unsigned *done,
		     struct ctnet_err *err)
{
	struct nat_container *c = malloc(sizeof(*c));
	int rc;

	if (!c)
		return ctnet_errf(err, ENOMEM, "out of memory");
	ct_nat_of(spec, r, c);
	rc = nat_add(kern, c, err);
	if (rc == -EADDRINUSE)
		explain_port_clash(kern, spec, err);
	free(c);
	if (rc < 0)
		return rc;
	*done |= DONE_NAT;
	return rc;
}

/* The first up of a container (or after a stale one was cleaned). */
static int fresh_up(struct ctnet_kern *kern, const struct ct_spec *spec, struct ct_record *out, struct ctnet_err *err)
{
	struct ct_record *r = calloc(1, sizeof(*r));
	unsigned done = 0;
	_cleanup_close_ int nsfd = -1;
	int rc;

	if (!r)
		return ctnet_errf(err, ENOMEM, "out of memory");
	/* Before the first change: a state dir that cannot be written changes nothing. */
	if ((rc = ct_state_writable(err)) < 0)
		goto out;
	r->spec = *spec;
	r->version = CT_RECORD_VERSION;
	snprintf(r->boot_id, sizeof(r->boot_id), "%s", ct_boot_id());
	if (spec->shared) {
		r->pid = spec->pid;
		/* With its start time: a PID reused later is not this process (record_alive). */
		if (r->pid && ct_pid_start(r->pid, &r->pid_start) < 0)
			r->pid_start = 0;
		rc = record_write(r, err);
		if (rc == 0)
			*out = *r;
		free(r);
		return rc;
	}
	fresh_record(spec, r);

	/* Write-ahead: a record naming what this up may create, so that a kill at any later
	 * instant leaves something gc can find (a netns or a link has no other trace). */
	r->pending = true;
	r->created_netns = spec->netns_kind == CT_NETNS_CREATE;
	r->lease = !r->local.family || spec->reserve || (spec->ipv6 && !r->has_v6);
	rc = record_write(r, err);
	if (rc < 0)
		goto out;
	r->created_netns = false;
	if (spec->netns_kind == CT_NETNS_CREATE) {
		rc = netns_create_named(spec->name, err);
		if (rc < 0)
			goto fail;
		r->created_netns = true;
		done |= DONE_NETNS;
	}
	nsfd = open_netns(spec, r, err);
	if (nsfd < 0) {
		rc = nsfd;
		goto fail;
	}

	if (r->lease && (rc = fresh_lease(kern, spec, r, &done, err)) < 0)
		goto fail;
	/* Given addresses (flags, --config) already in use on the host: an error naming where. */
	if (!(done & DONE_LEASE) && (rc = addr_clash(kern, r, err)) < 0)
		goto fail;
	if ((rc = fresh_links(kern, spec, r, nsfd, &done, err)) < 0)
		goto fail;
	if (!spec->no_nat && (rc = fresh_nat(kern, spec, r, &done, err)) < 0)
		goto fail;
	/* Its names and resolv.conf before the commit point: its first process may use them. */
	if ((rc = ct_dns_up(kern, r, err)) < 0)
		goto fail;

	r->pending = false;
	rc = record_write(r, err); /* the commit point */
	if (rc < 0)
		goto fail;
	*out = *r;
	goto out;
fail:
	undo(kern, r, nsfd, done);
out:
	free(r);
	return rc;
}

int ct_up(struct ctnet_kern *kern, const struct ct_spec *spec, struct ct_record *out, struct ct_report *rep,
	  struct ctnet_err *err)
{
	return ct_up_view(kern, spec, NULL, out, rep, err);
}

int ct_up_view(struct ctnet_kern *kern, const struct ct_spec *spec_in, const struct ct_view *view, struct ct_record *out,
	       struct ct_report *rep, struct ctnet_err *err)
{
	struct ct_spec *spec = malloc(sizeof(*spec));
	struct ct_record *old = malloc(sizeof(*old));
	_cleanup_close_ int lock = -1;
	int rc;

	if (!spec || !old) {
		rc = ctnet_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	*spec = *spec_in;
	ct_spec_normalize(spec);
	if ((rc = ct_spec_check(spec, err)) < 0)
		goto out;
	if ((lock = record_lock(spec->name, err)) < 0) {
		rc = lock;
		goto out;
	}
	rc = record_read(spec->name, old, err);
	if (rc == 0) {
		const char *why = NULL;
		/* Alive means a finished up whose namespace (or process) is still there: the
		 * container's, whatever of its network is missing (another tool deleted its host
		 * link: its processes are still in that namespace), so it is repaired in place.
		 * An up or down killed half-way (pending or stopping record) is cleaned and redone,
		 * and so is a container whose namespace is gone or from an earlier boot. */
		if (ct_state_record(old, &why)) {
			rc = ct_converge(kern, spec, old, view, out, rep, err);
			if (rc == 0 && (rc = ct_dns_up(kern, out, err)) > 0)
				ct_report_add(rep, true, "%s/%s/resolv.conf missing or not as ctnet dns serves it",
					      ct_dns_etc_dir(), spec->name);
			rc = rc < 0 ? rc : 0;
			goto out;
		}
		/* The addresses stay when this up allocates again (ipam returns the same pair):
		 * a container coming back, after a reboot too, keeps the addresses it had. */
		if ((rc = ct_down_locked(kern, spec->name, !spec->local.family || spec->reserve, NULL, err)) < 0)
			goto out;
	} else if (rc != -ENOENT) {
		goto out;
	}
	rc = fresh_up(kern, spec, out, err);
out:
	if (lock >= 0)
		record_unlock(spec->name, lock);
	lock = -1;
	free(spec);
	free(old);
	return rc;
}

int ct_down_locked(struct ctnet_kern *kern, const char *name, bool keep_lease, bool *was_up, struct ctnet_err *err)
{
	struct ct_record *r = malloc(sizeof(*r));
	int rc;

	if (!r)
		return ctnet_errf(err, ENOMEM, "out of memory");
	/* Before the first change (the STOPPING mark, then the links): a down that cannot
	 * write its state would take the links and stop half-way. */
	if ((rc = ct_state_writable(err)) < 0)
		goto out;
	rc = record_read(name, r, err);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	if (was_up)
		*was_up = rc == 0;
	if (rc == 0 && !r->pending) {
		/* Intent first: a down killed half-way is finished by gc or the next up/down,
		 * lease included, instead of looking like a container that merely died. */
		if (r->stopping != CT_STOP_RELEASE) {
			r->stopping = keep_lease ? CT_STOP_KEEP_LEASE : CT_STOP_RELEASE;
			if ((rc = record_write(r, err)) < 0)
				goto out;
		}
		keep_lease = r->stopping == CT_STOP_KEEP_LEASE;
	}
	if (rc == -ENOENT) {
		/* No record: still remove whatever carries the name (a crash between steps). */
		memset(r, 0, sizeof(*r));
		ct_spec_init(&r->spec, name);
		r->lease = true;
	}
	/* The link first: a down killed after it leaves a record whose link is missing, which
	 * status, gc and up all see as stale and finish. */
	rc = 0;
	if (r->spec.n_interfaces || r->spec.n_macvlans) {
		const char *why;
		int nsfd = record_alive(r, &why) ? open_record_netns(r, err) : -1;
		if (nsfd >= 0) {
			release_extra(&r->spec, nsfd, r->spec.n_interfaces, r->spec.n_macvlans);
			close(nsfd);
		}
	}
	if (r->spec.n_extra_veths)
		rc = netd_extra_veth_del_all(kern, name, r->spec.extra_veths, r->spec.n_extra_veths, err);
	if (rc == 0 && !r->spec.shared)
		rc = netd_down(kern, name, r->host_ifname[0] ? r->host_ifname : NULL, &r->host, &r->local, err);
	if (rc == 0)
		rc = nat_del(kern, name, err);
	if (rc == 0 && r->created_netns)
		rc = netns_remove_named(name, err);
	if (rc == 0 && !r->spec.shared)
		rc = ct_dns_forget(name, err);
	if (rc == 0 && r->lease && !keep_lease)
		rc = ipam_release(name, err);
	if (rc == 0)
		rc = record_remove(name, err);
out:
	free(r);
	return rc;
}

int ct_down_owned(struct ctnet_kern *kern, const char *name, const char *origin, bool keep_lease, bool *left,
		  struct ctnet_err *err)
{
	_cleanup_close_ int lock = -1;
	struct ct_record *r = NULL;
	char shown[CTNET_SHOW_MAX];
	int rc;

	*left = false;
	if ((rc = ctnet_name_check(name, err)) < 0)
		return rc;
	if ((lock = record_lock(name, err)) < 0)
		return lock;
	if (!(r = malloc(sizeof(*r))))
		return ctnet_errf(err, ENOMEM, "out of memory");
	/* The caller's plan read the record without the lock: this is the one that counts. */
	rc = record_read(name, r, err);
	if (rc == 0 && strcmp(r->spec.origin, origin)) {
		char mine[CTNET_SHOW_MAX];
		*left = true;
		if (r->spec.origin[0])
			ctnet_errf(err, EEXIST, "container \"%s\" is now \"%s\"'s, no longer \"%s\"'s", name,
				   ctnet_show(r->spec.origin, shown), ctnet_show(origin, mine));
		else
			ctnet_errf(err, EEXIST, "container \"%s\" is now one made by hand, no longer \"%s\"'s",
				   name, ctnet_show(origin, mine));
		rc = 0;
	} else if (rc == 0 || rc == -ENOENT) {
		rc = ct_down_locked(kern, name, keep_lease, NULL, err);
	}
	free(r);
	return rc;
}

int ct_down(struct ctnet_kern *kern, const char *name, bool keep_lease, bool *was_up, struct ctnet_err *err)
{
	_cleanup_close_ int lock = -1;
	int rc = ctnet_name_check(name, err);
	if (rc < 0)
		return rc;
	lock = record_lock(name, err);
	if (lock < 0)
		return lock;
	rc = ct_down_locked(kern, name, keep_lease, was_up, err);
	record_unlock(name, lock);
	lock = -1;
	return rc;
}
