/* SPDX-License-Identifier: MIT */
/* ctnet up / down: allocate, plumb, NAT, record — and the exact reverse. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../netd/netd.h"
#include "cli.h"
#include "ctnet.h"
#include "json.h"
#include "state.h"

enum {
	OPT_NETNS = 1000, OPT_PID, OPT_CREATE_NETNS, OPT_SHARED, OPT_HOST_ADDRESS,
	OPT_LOCAL_ADDRESS, OPT_HOST_ADDRESS6, OPT_LOCAL_ADDRESS6, OPT_IPV6, OPT_BRIDGE,
	OPT_POOL, OPT_IFNAME, OPT_HOST_IFNAME, OPT_MAC, OPT_MTU, OPT_FORWARD, OPT_CONFIG,
	OPT_JSON, OPT_INTERFACE, OPT_MACVLAN,
};

const char up_short_opts[] = "+h";
const struct option up_long_opts[] = {
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "create-netns", no_argument, NULL, OPT_CREATE_NETNS },
	{ "shared", no_argument, NULL, OPT_SHARED },
	{ "host-address", required_argument, NULL, OPT_HOST_ADDRESS },
	{ "local-address", required_argument, NULL, OPT_LOCAL_ADDRESS },
	{ "host-address6", required_argument, NULL, OPT_HOST_ADDRESS6 },
	{ "local-address6", required_argument, NULL, OPT_LOCAL_ADDRESS6 },
	{ "ipv6", no_argument, NULL, OPT_IPV6 },
	{ "bridge", required_argument, NULL, OPT_BRIDGE },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "ifname", required_argument, NULL, OPT_IFNAME },
	{ "host-ifname", required_argument, NULL, OPT_HOST_IFNAME },
	{ "mac", required_argument, NULL, OPT_MAC },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ "forward", required_argument, NULL, OPT_FORWARD },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "interface", required_argument, NULL, OPT_INTERFACE },
	{ "macvlan", required_argument, NULL, OPT_MACVLAN },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int up_parse_opt(int opt, const char *arg, struct up_opts *o)
{
	struct ctnet_err err;
	unsigned long v;

	switch (opt) {
	case OPT_NETNS: o->netns_path = arg; break;
	case OPT_PID:
		if (ctnet_uint_parse(arg, 1, 4194304, "pid", &v, &err) < 0)
			return ctnet_cli_usage("%s", err.msg);
		o->pid = (pid_t)v;
		break;
	case OPT_CREATE_NETNS: o->create_netns = true; break;
	case OPT_SHARED: o->shared = true; break;
	case OPT_HOST_ADDRESS: o->host_address = arg; break;
	case OPT_LOCAL_ADDRESS: o->local_address = arg; break;
	case OPT_HOST_ADDRESS6: o->host_address6 = arg; break;
	case OPT_LOCAL_ADDRESS6: o->local_address6 = arg; break;
	case OPT_IPV6: o->ipv6 = true; break;
	case OPT_BRIDGE: o->bridge = arg; break;
	case OPT_POOL: o->pool = arg; break;
	case OPT_IFNAME: o->ifname = arg; break;
	case OPT_HOST_IFNAME: o->host_ifname = arg; break;
	case OPT_MAC: o->mac = arg; break;
	case OPT_MTU:
		if (ctnet_uint_parse(arg, 68, 65535, "MTU", &v, &err) < 0)
			return ctnet_cli_usage("%s", err.msg);
		o->mtu = (unsigned)v;
		break;
	case OPT_FORWARD:
		if (o->n_forwards >= NAT_MAX_FORWARDS)
			return ctnet_cli_usage("at most %d --forward options", NAT_MAX_FORWARDS);
		o->forwards[o->n_forwards++] = arg;
		break;
	case OPT_INTERFACE:
	case OPT_MACVLAN: {
		size_t *n = opt == OPT_INTERFACE ? &o->n_interfaces : &o->n_macvlans;
		if (*n >= CT_MAX_EXTRA)
			return ctnet_cli_usage("at most %d --interface / --macvlan options", CT_MAX_EXTRA);
		(opt == OPT_INTERFACE ? o->interfaces : o->macvlans)[(*n)++] = arg;
		break;
	}
	case OPT_CONFIG: o->config = arg; break;
	case OPT_JSON: o->json = true; break;
	default: return ctnet_cli_usage("unknown option");
	}
	return 0;
}

void print_record(const struct ct_record *rec, bool json)
{
	if (json)
		ctnet_json_print(stdout, record_json(rec));
	else
		record_print_env(stdout, rec);
}

/* Everything about the request, checked before the first change. */
static int validate(const struct up_opts *o, struct ct_record *r, struct ctnet_err *err)
{
	int n_ns = !!o->netns_path + !!o->pid + !!o->create_netns + (o->netns_fd >= 0);
	int rc;

	memset(r, 0, sizeof(*r));
	rc = ctnet_name_check(o->name, err);
	if (rc < 0)
		return rc;
	snprintf(r->name, sizeof(r->name), "%s", o->name);
	r->shared = o->shared;
	for (size_t i = 0; i < o->n_forwards; i++) {
		rc = nat_forward_parse(o->forwards[i], &r->forwards[i], err);
		if (rc < 0)
			return rc;
	}
	r->n_forwards = o->n_forwards;
	r->no_nat = o->no_nat;
	if (o->no_nat && o->n_forwards)
		return ctnet_errf(err, EINVAL, "container \"%s\": port forwards need NAT", o->name);
	if (o->shared) {
		if (o->n_forwards)
			return ctnet_errf(err, EINVAL,
					  "container \"%s\": port forwards need a private network "
					  "(a shared-namespace container has nothing to forward to)",
					  o->name);
		if (n_ns || o->host_address || o->local_address || o->bridge || o->ipv6 ||
		    o->host_address6 || o->local_address6 || o->n_interfaces || o->n_macvlans)
			return ctnet_errf(err, EINVAL,
					  "container \"%s\": --shared takes no namespace, address, bridge or interface options",
					  o->name);
		if (o->pid)
			r->pid = o->pid;
		return 0;
	}
	if (n_ns != 1)
		return ctnet_errf(err, EINVAL,
				  "container \"%s\": needs exactly one of --netns PATH, --pid PID, --create-netns",
				  o->name);
	if (!!o->host_address != !!o->local_address && !o->bridge)
		return ctnet_errf(err, EINVAL, "container \"%s\": give both --host-address and --local-address, or neither",
				  o->name);
	if (o->host_address) {
		rc = ctnet_addr_parse(o->host_address, AF_INET, CTNET_ADDR_PREFIX_OK, "host address", &r->host, err);
		if (rc < 0)
			return rc;
	}
	if (o->local_address) {
		rc = ctnet_addr_parse(o->local_address, AF_INET, CTNET_ADDR_PREFIX_OK, "local address", &r->local, err);
		if (rc < 0)
			return rc;
	}
	if (r->host.family && r->local.family && ctnet_addr_equal(&r->host, &r->local))
		return ctnet_errf(err, EINVAL, "host address and local address are both %s", o->host_address);
	if (!!o->host_address6 != !!o->local_address6)
		return ctnet_errf(err, EINVAL, "container \"%s\": give both --host-address6 and --local-address6, or neither",
				  o->name);
	if (o->host_address6) {
		rc = ctnet_addr_parse(o->host_address6, AF_INET6, CTNET_ADDR_PREFIX_OK, "host address6", &r->host6, err);
		if (rc == 0)
			rc = ctnet_addr_parse(o->local_address6, AF_INET6, CTNET_ADDR_PREFIX_OK, "local address6", &r->local6, err);
		if (rc < 0)
			return rc;
		if (ctnet_addr_equal(&r->host6, &r->local6))
			return ctnet_errf(err, EINVAL, "host address6 and local address6 are both %s", o->host_address6);
		r->has_v6 = true;
	}
	if (o->bridge) {
		rc = ctnet_ifname_check(o->bridge, err);
		if (rc < 0)
			return rc;
		snprintf(r->bridge, sizeof(r->bridge), "%s", o->bridge);
		if (!o->local_address && !o->pool)
			return ctnet_errf(err, EINVAL,
					  "container \"%s\": bridge mode needs --local-address A/PREFIX or --pool CIDR",
					  o->name);
		if (o->local_address && r->local.prefix < 0)
			return ctnet_errf(err, EINVAL,
					  "local address \"%s\": bridge mode needs a prefix (e.g. %s/24)",
					  o->local_address, o->local_address);
	}
	if (o->pool) {
		struct ctnet_addr pool;
		rc = ctnet_cidr_parse(o->pool, "pool", &pool, err);
		if (rc < 0)
			return rc;
	}
	if (o->ifname && (rc = ctnet_ifname_check(o->ifname, err)) < 0)
		return rc;
	if (o->host_ifname && (rc = ctnet_ifname_check(o->host_ifname, err)) < 0)
		return rc;
	if (o->mac) {
		unsigned char mac[6];
		/* "" must not silently mean "random". */
		if ((rc = netd_mac_parse(o->mac, mac, err)) < 0)
			return rc;
		if (strlen(o->mac) >= sizeof(r->mac))
			return ctnet_errf(err, EINVAL, "invalid MAC address \"%.32s\"", o->mac);
		snprintf(r->mac, sizeof(r->mac), "%s", o->mac);
	}
	for (size_t i = 0; i < o->n_interfaces; i++) {
		if ((rc = ctnet_ifname_check(o->interfaces[i], err)) < 0)
			return rc;
		snprintf(r->interfaces[i], IFNAMSIZ, "%s", o->interfaces[i]);
	}
	r->n_interfaces = o->n_interfaces;
	for (size_t i = 0; i < o->n_macvlans; i++) {
		if ((rc = ctnet_ifname_check(o->macvlans[i], err)) < 0)
			return rc;
		if (strlen(o->macvlans[i]) > CTNET_IFNAME_MAX - 3)
			return ctnet_errf(err, EINVAL, "macvlan parent \"%s\": longer than %d bytes (the macvlan is mv-PARENT)",
					  o->macvlans[i], CTNET_IFNAME_MAX - 3);
		snprintf(r->macvlans[i], IFNAMSIZ, "%s", o->macvlans[i]);
	}
	r->n_macvlans = o->n_macvlans;
	r->mtu = o->mtu;
	if (!r->mtu && !o->shared) { /* a smaller uplink (VPN, PPPoE): the container's too */
		unsigned up = netd_uplink_mtu();
		r->mtu = up >= NETD_MTU_MIN && up < 1500 ? up : 0;
	}
	snprintf(r->ifname, sizeof(r->ifname), "%s", o->ifname ? o->ifname : "eth0");
	if (o->host_ifname)
		snprintf(r->host_ifname, sizeof(r->host_ifname), "%s", o->host_ifname);
	else
		netd_host_ifname(o->name, o->bridge != NULL, r->host_ifname);
	return 0;
}

static int open_netns(const struct up_opts *o, struct ct_record *r, struct ctnet_err *err)
{
	int fd, rc;

	if (o->netns_fd >= 0) {
		fd = fcntl(o->netns_fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return ctnet_err_sys(err, errno, "duplicate namespace fd");
		r->pid = o->owner_pid;
		snprintf(r->netns, sizeof(r->netns), "/proc/%ld/ns/net", (long)o->owner_pid);
	} else if (o->pid) {
		fd = netd_netns_open(NULL, o->pid, err);
		r->pid = o->pid;
		snprintf(r->netns, sizeof(r->netns), "/proc/%ld/ns/net", (long)o->pid);
	} else {
		const char *path = o->netns_path;
		char buf[PATH_MAX];
		if (o->create_netns) {
			snprintf(buf, sizeof(buf), "%s/%s", netns_run_dir(), o->name);
			path = buf;
		}
		if (strlen(path) >= sizeof(r->netns))
			return ctnet_errf(err, ENAMETOOLONG, "netns path too long");
		fd = netd_netns_open(path, 0, err);
		snprintf(r->netns, sizeof(r->netns), "%s", path);
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
enum { DONE_NETNS = 1, DONE_LEASE = 2, DONE_LINK = 4, DONE_EXTRA = 8, DONE_NAT = 16 };

static void mv_name(const char *parent, char out[IFNAMSIZ])
{
	snprintf(out, IFNAMSIZ, "mv-%.12s", parent);
}

/* Gives moved interfaces back to the host namespace and deletes the macvlans; the first
 * n_if / n_mv of them. Best effort: a namespace already gone took them itself. */
static void release_extra(const struct ct_record *r, int nsfd, size_t n_if, size_t n_mv)
{
	_cleanup_close_ int host = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	struct ctnet_err ignored;
	char mv[IFNAMSIZ];

	for (size_t i = n_mv; i-- > 0;) {
		mv_name(r->macvlans[i], mv);
		netd_release_in(nsfd, mv, -1, &ignored);
	}
	for (size_t i = n_if; i-- > 0;)
		if (host >= 0)
			netd_release_in(nsfd, r->interfaces[i], host, &ignored);
}

/* NixOS interfaces (moved in) and macvlans (made inside as mv-PARENT). On failure, what
 * this step did is undone before returning. */
static int add_extra(const struct ct_record *r, int nsfd, struct ctnet_err *err)
{
	char mv[IFNAMSIZ];
	size_t i, j;
	int rc = 0;

	for (i = 0; i < r->n_interfaces && rc == 0; i++)
		rc = netd_move(r->interfaces[i], nsfd, NULL, err);
	if (rc < 0) {
		release_extra(r, nsfd, i - 1, 0);
		return rc;
	}
	for (j = 0; j < r->n_macvlans && rc == 0; j++) {
		mv_name(r->macvlans[j], mv);
		rc = netd_macvlan_add(r->macvlans[j], mv, nsfd, NULL, err);
	}
	if (rc < 0)
		release_extra(r, nsfd, r->n_interfaces, j - 1);
	return rc;
}

static void undo(const struct ct_record *r, int nsfd, unsigned done)
{
	struct ctnet_err ignored;
	int bad = 0;
	if (done & DONE_NAT)
		bad |= nat_del(r->name, &ignored);
	if (done & DONE_EXTRA)
		release_extra(r, nsfd, r->n_interfaces, r->n_macvlans);
	if (done & DONE_LINK)
		bad |= netd_down(r->name, r->host_ifname, &r->host, &r->local, &ignored);
	if (done & DONE_LEASE)
		bad |= ipam_release(r->name, &ignored);
	if (done & DONE_NETNS)
		bad |= netns_remove_named(r->name, &ignored);
	/* The pending record goes last, and only when everything it names is gone: otherwise
	 * it stays for gc (or the next up/down) to finish the job. */
	if (!bad)
		record_remove(r->name, &ignored);
}

static int same_request(const struct ct_record *want, const struct ct_record *have)
{
	if (want->shared != have->shared || want->n_forwards != have->n_forwards)
		return 0;
	for (size_t i = 0; i < want->n_forwards; i++)
		if (memcmp(&want->forwards[i], &have->forwards[i], sizeof(want->forwards[i])))
			return 0;
	if (want->host.family && !ctnet_addr_equal(&want->host, &have->host))
		return 0;
	if (want->local.family && !ctnet_addr_equal(&want->local, &have->local))
		return 0;
	return 1;
}


int ct_up(const struct up_opts *o, struct ct_record *out, struct ctnet_err *err)
{
	struct ct_record r, old;
	unsigned done = 0;
	_cleanup_close_ int lock = -1, nsfd = -1;
	int rc;

	rc = validate(o, &r, err);
	if (rc < 0)
		return rc;
	lock = record_lock(o->name, err);
	if (lock < 0)
		return lock;

	rc = record_read(o->name, &old, err);
	if (rc == 0) {
		const char *why = NULL;
		struct ctnet_err e2;
		/* Alive means a finished up whose link is still there: an up or down killed
		 * half-way (pending record, or link already deleted) is cleaned and redone. */
		if (!old.pending && record_alive(&old, &why) &&
		    (old.shared || netd_exists(old.name, old.host_ifname, &e2) != 0)) {
			if (!same_request(&r, &old))
				return ctnet_errf(err, EEXIST,
						  "container \"%s\": already up with other settings (ctnet down %s first)",
						  o->name, o->name);
			*out = old; /* up twice: same state */
			return 0;
		}
		/* A stale record (container gone without down): clean it first. */
		rc = ct_down_locked(o->name, false, NULL, err);
		if (rc < 0)
			return rc;
	} else if (rc != -ENOENT) {
		return rc;
	}

	if (r.shared) {
		rc = record_write(&r, err);
		if (rc == 0)
			*out = r;
		return rc;
	}

	/* Write-ahead: a record naming what this up may create, so that a kill at any later
	 * instant leaves something gc can find (a netns or a link has no other trace). */
	r.pending = true;
	r.created_netns = o->create_netns;
	r.lease = !r.local.family || (o->ipv6 && !r.has_v6);
	rc = record_write(&r, err);
	if (rc < 0)
		return rc;
	r.created_netns = false;
	if (o->create_netns) {
		rc = netns_create_named(o->name, err);
		if (rc < 0) {
			undo(&r, nsfd, done);
			return rc;
		}
		r.created_netns = true;
		done |= DONE_NETNS;
	}
	nsfd = open_netns(o, &r, err);
	if (nsfd < 0) {
		rc = nsfd;
		goto fail;
	}

	if (!r.local.family || (o->ipv6 && !r.has_v6)) {
		struct ipam_opts io = { .pool = o->pool, .single = o->bridge != NULL, .ipv6 = o->ipv6 };
		struct ipam_lease lease;
		rc = ipam_alloc(o->name, &io, &lease, err);
		if (rc < 0)
			goto fail;
		done |= DONE_LEASE;
		if (!r.local.family) {
			lease_to_record(&lease, &r);
		} else if (lease.has_v6) {
			r.has_v6 = true;
			r.host6 = lease.host6;
			r.local6 = lease.local6;
			r.lease = true;
		}
	}

	/* Given addresses (flags, --config) already in use on the host: an error naming where. */
	if (!(done & DONE_LEASE) && (rc = up_addr_clash(&r, err)) < 0)
		goto fail;
	struct netd_spec spec = {
		.name = r.name,
		.netns_fd = nsfd,
		.ifname = r.ifname,
		.host_ifname = r.host_ifname,
		.host = r.host,
		.local = r.local,
		.has_v6 = r.has_v6,
		.host6 = r.host6,
		.local6 = r.local6,
		.bridge = r.bridge[0] ? r.bridge : NULL,
		.mac = r.mac[0] ? r.mac : NULL,
		.mtu = r.mtu,
	};
	struct netd_result res;
	rc = netd_up(&spec, &res, err);
	if (rc < 0)
		goto fail;
	done |= DONE_LINK;
	snprintf(r.host_ifname, sizeof(r.host_ifname), "%s", res.host_ifname);

	if (r.n_interfaces || r.n_macvlans) {
		rc = add_extra(&r, nsfd, err);
		if (rc < 0)
			goto fail;
		done |= DONE_EXTRA;
	}

	struct nat_container c = {
		.name = r.name,
		.addr = r.local,
		.has_addr6 = r.has_v6,
		.addr6 = r.local6,
		.iface = r.host_ifname,
		.n_forwards = r.n_forwards,
	};
	c.addr.prefix = -1;
	c.addr6.prefix = -1;
	memcpy(c.forwards, r.forwards, sizeof(r.forwards[0]) * r.n_forwards);
	if (!o->no_nat) {
		rc = nat_add(&c, err);
		if (rc < 0)
			goto fail;
		done |= DONE_NAT;
	}

	r.pending = false;
	rc = record_write(&r, err); /* the commit point */
	if (rc < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	undo(&r, nsfd, done);
	return rc;
}

int ct_down_locked(const char *name, bool keep_lease, bool *was_up, struct ctnet_err *err)
{
	struct ct_record r;
	int rc = record_read(name, &r, err);

	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (was_up)
		*was_up = rc == 0;
	if (rc == -ENOENT) {
		/* No record: still remove whatever carries the name (a crash between steps). */
		memset(&r, 0, sizeof(r));
		snprintf(r.name, sizeof(r.name), "%s", name);
		r.lease = true;
	}
	/* The link first: a down killed after it leaves a record whose link is missing, which
	 * status, gc and up all see as stale and finish. */
	rc = 0;
	if (r.n_interfaces || r.n_macvlans) {
		const char *why;
		int nsfd = record_alive(&r, &why) ? netd_netns_open(r.pid ? NULL : r.netns, r.pid, err) : -1;
		if (nsfd >= 0) {
			release_extra(&r, nsfd, r.n_interfaces, r.n_macvlans);
			close(nsfd);
		}
	}
	if (!r.shared)
		rc = netd_down(name, r.host_ifname[0] ? r.host_ifname : NULL, &r.host, &r.local, err);
	if (rc == 0)
		rc = nat_del(name, err);
	if (rc == 0 && r.created_netns)
		rc = netns_remove_named(name, err);
	if (rc == 0 && r.lease && !keep_lease)
		rc = ipam_release(name, err);
	if (rc == 0)
		rc = record_remove(name, err);
	return rc;
}

int ct_down(const char *name, bool keep_lease, bool *was_up, struct ctnet_err *err)
{
	_cleanup_close_ int lock = -1;
	int rc = ctnet_name_check(name, err);
	if (rc < 0)
		return rc;
	lock = record_lock(name, err);
	if (lock < 0)
		return lock;
	return ct_down_locked(name, keep_lease, was_up, err);
}

void up_usage(void)
{
	printf("Usage: ctnet up NAME (--netns PATH | --pid PID | --create-netns | --shared) [options]\n"
	       "Give container NAME its network: addresses (allocated unless given), a veth pair\n"
	       "into its namespace, routes, masquerade and port forwards. Any failure undoes\n"
	       "every earlier step. Prints nixos-container style KEY=VALUE lines (or --json).\n\n"
	       "  --netns PATH             the container's network namespace (/run/netns/X, /proc/PID/ns/net)\n"
	       "  --pid PID                the namespace of process PID\n"
	       "  --create-netns           make /run/netns/NAME (usable by ip netns exec, systemd-nspawn)\n"
	       "  --shared                 the container shares the host namespace: record only\n"
	       "  --host-address A         host side IPv4 (with --local-address: no allocation)\n"
	       "  --local-address B        container side IPv4 (A/PREFIX in bridge mode)\n"
	       "  --host-address6 A6 --local-address6 B6   IPv6 pair\n"
	       "  --ipv6                   also allocate an IPv6 pair from the host's ULA /48\n"
	       "  --bridge BR              host side vb-NAME enslaved to bridge BR\n"
	       "  --pool CIDR              allocate from this pool (bridge mode: one address each)\n"
	       "  --ifname IF              container side name (default eth0)\n"
	       "  --host-ifname IF         host side name (default ve-NAME, hashed when too long)\n"
	       "  --mac MAC --mtu N        container side MAC address and MTU\n"
	       "  --forward PROTO:HOSTPORT[:PORT]   port forward (repeatable), e.g. tcp:8080:80\n"
	       "  --interface IF           move host interface IF into the container (repeatable)\n"
	       "  --macvlan IF             a macvlan mv-IF on host interface IF inside (repeatable)\n"
	       "  --config FILE            read a nixos-container config (/etc/nixos-containers/NAME.conf)\n"
	       "  --json                   print JSON\n");
}

int up_parse_args(int argc, char **argv, struct up_opts *o, void (*usage)(void))
{
	int opt, rc;

	/* "+": options may come before and after NAME; "--" ends them (ctnet run). */
	for (;;) {
		while ((opt = getopt_long(argc, argv, up_short_opts, up_long_opts, NULL)) != -1) {
			if (opt == 'h') {
				usage();
				return -1;
			}
			if (opt == '?')
				return CTNET_EXIT_USAGE;
			rc = up_parse_opt(opt, optarg, o);
			if (rc)
				return rc;
		}
		if (optind > 1 && !strcmp(argv[optind - 1], "--"))
			return 0;
		if (optind < argc && !o->name) {
			o->name = argv[optind++];
			continue;
		}
		return 0;
	}
}

int cmd_up(int argc, char **argv)
{
	struct up_opts o = { .netns_fd = -1 };
	struct ct_record rec;
	struct ctnet_err err;
	int rc = up_parse_args(argc, argv, &o, up_usage);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (!o.name || optind != argc)
		return ctnet_cli_usage("up: expected one container NAME");
	if (o.config && up_apply_config(&o, &err) < 0)
		return ctnet_cli_fail(&err);
	if (ct_up(&o, &rec, &err) < 0)
		return ctnet_cli_fail(&err);
	print_record(&rec, o.json);
	if (!rec.shared && !rec.no_nat)
		doctor_warn(rec.bridge[0] ? rec.bridge : rec.host_ifname);
	return 0;
}

int cmd_down(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep-lease", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool keep = false, was_up;
	struct ctnet_err err;
	int opt;

	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (opt == 'h') {
			printf("Usage: ctnet down NAME [--keep-lease]\n"
			       "Remove container NAME's network: NAT entries, links, its netns if ctnet made\n"
			       "it, the lease (unless --keep-lease) and the record. Idempotent; works after\n"
			       "the container's namespace is gone.\n");
			return 0;
		}
		if (opt == 'k')
			keep = true;
		else
			return ctnet_cli_usage("down: bad option");
	}
	if (optind + 1 != argc)
		return ctnet_cli_usage("down: expected one container NAME");
	if (ct_down(argv[optind], keep, &was_up, &err) < 0)
		return ctnet_cli_fail(&err);
	return 0;
}
