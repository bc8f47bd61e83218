/* SPDX-License-Identifier: MIT */
/*
 * IPv6 forwarding without costing the host its own IPv6. With net.ipv6.conf.all.forwarding=1
 * the kernel ignores router advertisements on every link whose accept_ra is 1, and the
 * switch itself deletes the default routes they gave (rt6_purge_dflt_routers spares only
 * links with accept_ra=2): a host that takes its IPv6 by SLAAC loses its default route at
 * once and its addresses when they expire.
 *
 * So before ctnet switches forwarding on, every link that takes router advertisements now
 * (accept_ra=1, its own forwarding 0, IPv6 on; not ctnet's links, which never take them:
 * netd/hostsec.c) gets accept_ra=2, the kernel's "even when forwarding". What changed is
 * recorded in $CTNET_STATE_DIR/nat/ipv6-forwarding with the boot it belongs to, written
 * before the change: a crash leaves a record, never an unrecorded change. When the last
 * container with IPv6 leaves NAT, each of those links that still has 2 gets 1 back, and
 * forwarding (and conf.default.forwarding, which the kernel moves with `all`) goes back to
 * what it was, if ctnet switched it in this boot. A record of another boot is void (the
 * kernel starts afresh at boot). Links made after the switch are left alone; doctor names
 * one that has 1 and dynamic addresses (it lost its router advertisements).
 */
#include "nat_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "finding.h"
#include "nixosconf.h"
#include "nlsock.h"
#include "state.h"

#define CONF6 "/proc/sys/net/ipv6/conf"
#define ALL_FWD CONF6 "/all/forwarding"
#define DEFAULT_FWD CONF6 "/default/forwarding"
#define RECORD "ipv6-forwarding" /* in the state dir's nat/ */
#define RA_MAX 64

struct fwd6_rec {
	char boot[40];
	bool ours;      /* FORWARDING=1: ctnet switched all.forwarding from 0 to 1 */
	char dflt;      /* conf.default.forwarding before ('0', '1'; 0: not known) */
	size_t n;       /* ACCEPT_RA: links ctnet moved from accept_ra 1 to 2 */
	char ifs[RA_MAX][IFNAMSIZ];
};

static void boot_id(char out[40])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, out, 39) : -1;
	if (fd >= 0)
		close(fd);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

static int rec_cb(const char *key, const char *value, void *data, struct ctnet_err *err)
{
	struct fwd6_rec *r = data;
	(void)err;
	if (!strcmp(key, "BOOT_ID"))
		snprintf(r->boot, sizeof(r->boot), "%s", value);
	else if (!strcmp(key, "FORWARDING"))
		r->ours = !strcmp(value, "1");
	else if (!strcmp(key, "DEFAULT_FORWARDING") && (value[0] == '0' || value[0] == '1'))
		r->dflt = value[0];
	else if (!strcmp(key, "ACCEPT_RA") && r->n < RA_MAX && ctnet_ifname_check(value, NULL) == 0)
		snprintf(r->ifs[r->n++], IFNAMSIZ, "%s", value);
	return 0;
}

/* The record of this boot: 1, 0 when there is none (or it is of another boot), -errno. */
static int rec_read(struct nat_store *s, struct fwd6_rec *r, struct ctnet_err *err)
{
	char buf[4096], now[40];
	ssize_t n;

	memset(r, 0, sizeof(*r));
	n = ctnet_read_file(s->dir, RECORD, buf, sizeof(buf), err);
	if (n == -ENOENT) {
		ctnet_err_clear(err);
		return 0;
	}
	if (n < 0)
		return (int)n;
	if (nixosconf_parse_kv(buf, (size_t)n, "nat/" RECORD, rec_cb, r, err) < 0)
		memset(r, 0, sizeof(*r)); /* unreadable: as good as none */
	boot_id(now);
	if (strcmp(r->boot, now)) {
		memset(r, 0, sizeof(*r));
		return 0;
	}
	return 1;
}

static int rec_write(struct nat_store *s, const struct fwd6_rec *r, struct ctnet_err *err)
{
	static const char head[] = "# what ctnet-nat changed to route IPv6 (ctnet-nat(8), SYSCTLS)\n";
	char buf[4096];
	struct ctnet_kv_out o = { .p = buf, .len = sizeof(head) - 1, .cap = sizeof(buf),
				  .what = "nat/" RECORD, .err = err };

	memcpy(buf, head, sizeof(head));
	ctnet_kv_put(&o, "BOOT_ID", r->boot);
	ctnet_kv_put(&o, "FORWARDING", r->ours ? "1" : "0");
	if (r->dflt)
		ctnet_kv_putf(&o, "DEFAULT_FORWARDING", "%c", r->dflt);
	for (size_t i = 0; i < r->n; i++)
		ctnet_kv_put(&o, "ACCEPT_RA", r->ifs[i]);
	return o.error ? o.error : ctnet_write_atomic(s->dir, RECORD, buf, o.len, err);
}

/* conf/IF/KNOB's value ('0', '1', '2'...) or -errno, below the open conf directory. */
static int knob(int dfd, const char *ifname, const char *name)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/%s", ifname, name);
	return nat_sysctl_get_at(dfd, path);
}

/* A link of ctnet's own (or a container's of nixos-container's): never an uplink. */
static bool ctnets(const char *ifname)
{
	char path[64], buf[8] = "";
	int fd;
	ssize_t n;

	if (!strncmp(ifname, "ve-", 3) || !strncmp(ifname, "vb-", 3))
		return true;
	snprintf(path, sizeof(path), "/sys/class/net/%s/ifalias", ifname);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n >= 5 && !strncmp(buf, "ctnet", 5);
}

/*
 * The links that have accept_ra=1, IPv6 on and their forwarding `fwd`, but for lo and
 * ctnet's, into names[] (at most max); how many. fwd '0': those that take router
 * advertisements now; '1': those that ignore them while forwarding.
 */
static size_t ra_links(char fwd, char (*names)[IFNAMSIZ], size_t max)
{
	DIR *d = opendir(CONF6);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while (n < max && (de = readdir(d))) {
		const char *name = de->d_name;
		if (name[0] == '.' || !strcmp(name, "all") || !strcmp(name, "default") ||
		    !strcmp(name, "lo") || strlen(name) >= IFNAMSIZ)
			continue;
		/* accept_ra first: on a host of containers, nearly every link stops there. */
		if (!strncmp(name, "ve-", 3) || !strncmp(name, "vb-", 3) ||
		    knob(dirfd(d), name, "accept_ra") != '1' || knob(dirfd(d), name, "forwarding") != fwd ||
		    knob(dirfd(d), name, "disable_ipv6") != '0' || ctnets(name))
			continue;
		snprintf(names[n++], IFNAMSIZ, "%s", name);
	}
	closedir(d);
	return n;
}

static bool rec_has(const struct fwd6_rec *r, const char *ifname)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->ifs[i], ifname))
			return true;
	return false;
}

/* Records, then makes, the change: accept_ra=2 where it is 1 and takes RAs, then forwarding. */
static int switch_on(struct nat_store *s, struct ctnet_err *err)
{
	struct fwd6_rec r, keep = { 0 };
	char now[RA_MAX][IFNAMSIZ], path[64];
	size_t n_now;
	int cdf, rc;

	if ((rc = rec_read(s, &r, err)) < 0)
		return rc;
	if (!rc)
		r.dflt = (char)nat_sysctl_get_at(AT_FDCWD, DEFAULT_FWD);
	if (r.dflt != '0' && r.dflt != '1')
		r.dflt = 0;
	keep = r;
	keep.n = 0;
	/* Someone switched forwarding off since: what ctnet set and is still 2 stays its. */
	for (size_t i = 0; i < r.n; i++) {
		snprintf(path, sizeof(path), CONF6 "/%s/accept_ra", r.ifs[i]);
		if (nat_sysctl_get_at(AT_FDCWD, path) == '2')
			snprintf(keep.ifs[keep.n++], IFNAMSIZ, "%s", r.ifs[i]);
	}
	n_now = ra_links('0', now, RA_MAX);
	for (size_t i = 0; i < n_now && keep.n < RA_MAX; i++)
		if (!rec_has(&keep, now[i]))
			snprintf(keep.ifs[keep.n++], IFNAMSIZ, "%s", now[i]);
	boot_id(keep.boot);
	keep.ours = true;
	if ((rc = rec_write(s, &keep, err)) < 0)
		return rc;
	cdf = open(CONF6, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; i < n_now && rc >= 0; i++) {
		snprintf(path, sizeof(path), "%s/accept_ra", now[i]);
		rc = nat_sysctl_set_at(cdf, path, '2', err);
		if (rc == -ENOENT) /* gone meanwhile */
			rc = 0;
	}
	if (cdf >= 0)
		close(cdf);
	return rc < 0 ? rc : nat_sysctl_set_at(AT_FDCWD, ALL_FWD, '1', err);
}

int nat_ipv6_forwarding_on(struct nat_store *s, struct ctnet_err *err)
{
	struct nat_store own;
	int cur = nat_sysctl_get_at(AT_FDCWD, ALL_FWD), r;

	if (cur == -ENOENT || cur == '1')
		return 0; /* no IPv6 in this kernel, or on already (ours or not: left as it is) */
	if (cur < 0)
		return ctnet_err_sys(err, -cur, "sysctl \"%s\"", ALL_FWD);
	if (!s && (r = nat_store_open(&own, true, true, err)) < 0)
		return r;
	r = switch_on(s ? s : &own, err);
	if (!s)
		nat_store_close(&own);
	return r < 0 ? r : 1;
}

static int stop_at_v6(struct nat_entry *e, void *data)
{
	(void)data;
	return e->c.has_addr6 ? 1 : 0;
}

void nat_ipv6_forwarding_release(struct nat_store *s)
{
	struct ctnet_err e = { 0 };
	struct fwd6_rec r;
	char path[64];
	int rc = rec_read(s, &r, &e);

	if (rc == 0)
		ctnet_unlink(s->dir, RECORD, &e); /* none, or of another boot */
	if (rc <= 0 || nat_store_foreach(s, stop_at_v6, NULL, &e) != 0)
		return; /* a container still routes IPv6 (or the store cannot tell: keep it) */
	if (r.ours && nat_sysctl_get_at(AT_FDCWD, ALL_FWD) == '1') {
		nat_sysctl_set_at(AT_FDCWD, ALL_FWD, '0', &e);
		/* The kernel moved default.forwarding with all (both ways). */
		if (r.dflt && nat_sysctl_get_at(AT_FDCWD, DEFAULT_FWD) != r.dflt)
			nat_sysctl_set_at(AT_FDCWD, DEFAULT_FWD, r.dflt, &e);
	}
	for (size_t i = 0; i < r.n; i++) {
		snprintf(path, sizeof(path), CONF6 "/%s/accept_ra", r.ifs[i]);
		if (nat_sysctl_get_at(AT_FDCWD, path) == '2') /* not changed since by someone else */
			nat_sysctl_set_at(AT_FDCWD, path, '1', &e);
	}
	ctnet_unlink(s->dir, RECORD, &e);
}

/* --- doctor --- */

struct dyn_addrs {
	int ifindex[RA_MAX];
	size_t n;
};

/* Global IPv6 addresses with a lifetime (not IFA_F_PERMANENT): given by router
 * advertisements (SLAAC), or by a DHCPv6 client, which relies on them for its route. */
static int dyn_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dyn_addrs *d = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	uint32_t flags;

	if (nlh->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != AF_INET6 ||
	    ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return MNL_CB_OK;
	flags = ifa->ifa_flags;
	mnl_attr_for_each(a, nlh, sizeof(*ifa))
		if (mnl_attr_get_type(a) == IFA_FLAGS && mnl_attr_get_payload_len(a) >= 4)
			flags = mnl_attr_get_u32(a);
	for (size_t i = 0; i < d->n; i++)
		if (d->ifindex[i] == (int)ifa->ifa_index)
			return MNL_CB_OK;
	if (!(flags & IFA_F_PERMANENT) && d->n < RA_MAX)
		d->ifindex[d->n++] = (int)ifa->ifa_index;
	return MNL_CB_OK;
}

static void dyn_restart(void *data)
{
	((struct dyn_addrs *)data)->n = 0;
}

void nat_doctor_ra(struct ctnet_kern *kern, int forwarding6, struct ctnet_findings *out)
{
	char names[RA_MAX][IFNAMSIZ], buf[256] __attribute__((aligned(4))) = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct dyn_addrs d = { .n = 0 };
	struct ctnet_nl *nl;
	struct ctnet_err e;
	size_t n;

	if (forwarding6 != 1 || !(n = ra_links('1', names, RA_MAX)))
		return;
	nlh->nlmsg_type = RTM_GETADDR;
	((struct ifaddrmsg *)mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifaddrmsg)))->ifa_family = AF_INET6;
	if (ctnet_kern_rt(kern, &nl, &e) < 0 ||
	    ctnet_nl_dump(nl, nlh, dyn_cb, dyn_restart, &d, &e, "read IPv6 addresses") < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int ix = (int)if_nametoindex(names[i]);
		bool dyn = false;
		char obj[64], fix[160];
		for (size_t j = 0; j < d.n; j++)
			dyn |= d.ifindex[j] == ix;
		if (!ix || !dyn)
			continue;
		snprintf(obj, sizeof(obj), "net.ipv6.conf.%s.accept_ra", names[i]);
		snprintf(fix, sizeof(fix), "sysctl -w net.ipv6.conf.%s.accept_ra=2", names[i]);
		ctnet_finding_add(out, CTNET_SEV_DEGRADES, "uplink-ignores-ra", NULL, obj, fix,
				  "IPv6 forwarding is on and %s has accept_ra=1: the kernel ignores its "
				  "router advertisements while forwarding, so its IPv6 default route and the "
				  "addresses it has from them expire (the host and its containers lose IPv6); "
				  "accept_ra=2 takes them while forwarding (ctnet sets it on the links that "
				  "took them when it switches forwarding on)", names[i]);
	}
}

void nat_doctor_ra_uplink(int forwarding6, const char *uplink, const struct ctnet_findings *named,
			  struct ctnet_findings *out)
{
	char obj[64], fix[160];
	int dfd;
	bool ignores;

	if (forwarding6 != 1 || !uplink || !*uplink || strchr(uplink, '/') || ctnets(uplink))
		return;
	snprintf(obj, sizeof(obj), "net.ipv6.conf.%s.accept_ra", uplink);
	for (size_t i = 0; i < named->n; i++)
		if (!strcmp(named->v[i].object, obj))
			return; /* said already, with its addresses as evidence */
	if ((dfd = open(CONF6, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	ignores = knob(dfd, uplink, "accept_ra") == '1' && knob(dfd, uplink, "forwarding") == '1' &&
		  knob(dfd, uplink, "disable_ipv6") == '0';
	close(dfd);
	if (!ignores)
		return;
	snprintf(fix, sizeof(fix), "sysctl -w net.ipv6.conf.%s.accept_ra=2 (if a router gives the host its IPv6)",
		 uplink);
	ctnet_finding_add(out, CTNET_SEV_NOTE, "uplink-ignores-ra", NULL, obj, fix,
			  "IPv6 forwarding is on and the uplink %s has accept_ra=1: it takes no router "
			  "advertisements while forwarding; a host that gets its IPv6 from its router "
			  "keeps it only with accept_ra=2", uplink);
}
