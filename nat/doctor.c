/* SPDX-License-Identifier: MIT */
/*
 * ctnet doctor, NAT and firewall part: what the host's other tables, sysctls, conntrack and
 * listening sockets do to the containers' traffic. The ruleset is read once (one dump of
 * chains, one of rules); each container's packets (outbound, replies, forwarded in, to the
 * host) are run through every base chain on their hooks; findings are grouped by culprit so
 * 5,000 containers behind one drop policy make one finding, not 5,000.
 */
#include "doctor_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <linux/netconf.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "finding.h"
#include "fw.h"
#include "nlsock.h"

#include <libmnl/libmnl.h>

size_t nat_localnet_ifaces(const char *iface, const char **out, size_t max)
{
	/* Where nat/sysctl.c switches route_localnet on: the device that carries the
	 * container's IP traffic (its ve-NAME, or the bridge of its vb-NAME), never "all". */
	if (!max || !iface || !iface[0])
		return 0;
	out[0] = iface;
	return 1;
}

/* 1, 0, or -1 when the file is not there. */
static int sysctl_read_at(int dfd, const char *path)
{
	char c = 0;
	int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, &c, 1);
	close(fd);
	return n == 1 ? c != '0' : -1;
}

static int sysctl_read(const char *path)
{
	return sysctl_read_at(AT_FDCWD, path);
}

static int ip_forward(struct ctnet_kern *kern);

static long long read_ll(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

/* ---- host-wide checks ---- */

/*
 * What doctor reads of the host without the containers (one thread, while the caller reads
 * its records), and what nat_doctor_localnet_start reads per container in another.
 */
struct nat_doctor_view {
	struct fw_ruleset rs;
	int ip_forward, forwarding6, localnet_all; /* sysctl_read's 1, 0 or -1 */
	struct listeners listeners;
	/* Findings that need no container, made while reading, appended in their place. */
	struct ctnet_findings ext, conntrack, legacy, ra, docker;
	bool brnf; /* br_netfilter shows bridged frames to the IP hooks */
	/* route_localnet of each forwarding container's device */
	const struct nat_doctor_ct *lcts;
	size_t ln;
	size_t localnet_next; /* the next container to read (atomic) */
	size_t localnet_off;  /* the first container whose device has it off; SIZE_MAX: none */
	int localnet_dfd;
	pthread_t tid;
	bool started, threaded, done;
};

/* Whether container i's device is read: it forwards, and the forwarding container before it
 * (a bridge's containers share one device) does not use the same. */
static const char *localnet_dev(const struct nat_doctor_ct *cts, size_t i)
{
	const char *names[4];
	if (!nat_wants_localnet(cts[i].c) || !nat_localnet_ifaces(cts[i].l3iface, names, ARRAY_SIZE(names)) ||
	    names[0][0] == '.' || strchr(names[0], '/'))
		return NULL; /* not a device name: nothing below net/ipv4/conf to read */
	for (size_t j = i; j-- > 0;) {
		const char *prev[4];
		if (!nat_wants_localnet(cts[j].c) || !nat_localnet_ifaces(cts[j].l3iface, prev, ARRAY_SIZE(prev)))
			continue;
		return strcmp(prev[0], names[0]) ? names[0] : NULL;
	}
	return names[0];
}

/*
 * The first forwarding container (in cts order) whose device has route_localnet off, in
 * v->localnet_off. One file per device, opened below net/ipv4/conf (from /proc each open
 * walks /proc/sys/net's entries of every namespace: 5,000 "ipv4" of the same name). The
 * containers are taken one at a time by whoever runs this: the thread of
 * nat_doctor_localnet_start, and nat_doctor_check once its own work is done.
 */
static void *localnet_run(void *arg)
{
	struct nat_doctor_view *v = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&v->localnet_next, 1, __ATOMIC_RELAXED)) < v->ln &&
	       i < __atomic_load_n(&v->localnet_off, __ATOMIC_RELAXED)) {
		const char *dev = localnet_dev(v->lcts, i);
		char path[128];
		if (!dev)
			continue;
		if (v->localnet_dfd >= 0)
			snprintf(path, sizeof(path), "%s/route_localnet", dev);
		else
			snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", dev);
		if (sysctl_read_at(v->localnet_dfd >= 0 ? v->localnet_dfd : AT_FDCWD, path) != 0)
			continue;
		size_t cur = __atomic_load_n(&v->localnet_off, __ATOMIC_RELAXED);
		while (i < cur && !__atomic_compare_exchange_n(&v->localnet_off, &cur, i, false,
							       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
	}
	return NULL;
}

static void localnet_wait(struct nat_doctor_view *v)
{
	if (!v->started)
		return;
	localnet_run(v); /* what is left, in this thread too */
	if (v->threaded)
		pthread_join(v->tid, NULL);
	v->threaded = false;
	if (v->localnet_dfd >= 0)
		close(v->localnet_dfd);
	v->localnet_dfd = -1;
	v->started = false;
	v->done = true;
}

void nat_doctor_localnet_start(struct nat_doctor_view *v, const struct nat_doctor_ct *cts, size_t n)
{
	localnet_wait(v);
	v->lcts = cts;
	v->ln = n;
	v->localnet_next = 0;
	v->localnet_off = SIZE_MAX;
	v->done = false;
	/* an interface's value is conf/all OR conf/IF; with loopback forwards by BPF none
	 * needs it */
	if (v->localnet_all == 1 || nat_lofwd_on()) {
		v->done = true;
		return;
	}
	v->localnet_dfd = open("/proc/sys/net/ipv4/conf", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	v->started = true;
	v->threaded = pthread_create(&v->tid, NULL, localnet_run, v) == 0;
}

static void check_sysctls(const struct nat_doctor_view *v, const struct ct_view *vs, size_t n,
			  struct ctnet_findings *out)
{
	bool v6 = false, fwds = false;
	for (size_t i = 0; i < n; i++) {
		v6 |= vs[i].c->has_addr6;
		fwds |= vs[i].c->n_forwards > 0;
	}
	if (v->ip_forward == 0)
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "ip-forward-off", NULL, "net.ipv4.ip_forward",
				  "sysctl -w net.ipv4.ip_forward=1",
				  "net.ipv4.ip_forward is 0: the host routes nothing to or from its %zu "
				  "container%s (another tool switched it off)", n, n == 1 ? "" : "s");
	if (v6 && v->forwarding6 == 0)
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "ipv6-forwarding-off", NULL,
				  "net.ipv6.conf.all.forwarding", "ctnet-nat restore",
				  "net.ipv6.conf.all.forwarding is 0: IPv6 to and from containers is not routed "
				  "(restore switches it on after accept_ra=2 on the links that take router "
				  "advertisements; a bare sysctl -w would cost them their IPv6 default route)");
	char why[PATH_MAX * 2 + 128];
	if (fwds && nat_lofwd_fault(why, sizeof(why)))
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "lofwd-missing", NULL, "loopback forwards", "ctnet-nat restore",
				  "%s: the host's connections to its forwards on 127.0.0.1 and [::1] do not reach the "
				  "containers", why);
	/* route_localnet: forwards from 127.0.0.1 need it where ctnet switches it on; one
	 * finding is enough ("all" is shared). */
	if (!fwds || v->localnet_off >= n)
		return;
	const char *dev = localnet_dev(v->lcts, v->localnet_off);
	char obj[96], fix[160];
	snprintf(obj, sizeof(obj), "net.ipv4.conf.%s.route_localnet", dev);
	snprintf(fix, sizeof(fix), "sysctl -w net.ipv4.conf.%s.route_localnet=1", dev);
	ctnet_finding_add(out, CTNET_SEV_BLOCKS, "route-localnet-off", NULL, obj, fix,
			  "%s is 0: forwards from 127.0.0.1 to containers (%s first) are not routed", obj,
			  vs[v->localnet_off].c->name);
}

static void check_conntrack(struct ctnet_findings *out)
{
	long long count = read_ll("/proc/sys/net/netfilter/nf_conntrack_count");
	long long max = read_ll("/proc/sys/net/netfilter/nf_conntrack_max");
	if (count < 0 || max <= 0)
		return;
	long long pct = count * 100 / max;
	if (pct < 80)
		return;
	ctnet_finding_add(out, pct >= 100 ? CTNET_SEV_BLOCKS : CTNET_SEV_DEGRADES, "conntrack-full", NULL,
			  "net.netfilter.nf_conntrack_max", "sysctl -w net.netfilter.nf_conntrack_max=N "
			  "(a larger N), or find who opens that many flows (conntrack -L)",
			  "the conntrack table holds %lld of %lld entries (%lld%%): %s", count, max, pct,
			  pct >= 100 ? "new connections are dropped" : "new connections will be dropped when it fills");
}

static void check_ext(struct ctnet_findings *out)
{
	struct nat_store s;
	struct nat_config cfg = { 0 };
	struct ctnet_err e;
	if (nat_store_open(&s, false, false, &e) < 0)
		return;
	if (nat_store_config_read(&s, &cfg, &e) < 0)
		cfg.n_ext = 0;
	nat_store_close(&s);
	for (size_t i = 0; i < cfg.n_ext; i++) {
		if (if_nametoindex(cfg.ext[i]))
			continue;
		char obj[64];
		snprintf(obj, sizeof(obj), "interface %s", cfg.ext[i]);
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "external-interface-missing", NULL, obj,
				  "ctnet-nat init",
				  "ctnet masquerades only out of its pinned external interface%s, and %s does "
				  "not exist: containers' outgoing traffic leaves unmasqueraded (the fix "
				  "masquerades out of every interface; ctnet-nat init --external-interface IF "
				  "pins the uplink that exists now)",
				  cfg.n_ext > 1 ? "s" : "", cfg.ext[i]);
	}
}

static void check_legacy(struct ctnet_findings *out)
{
	char buf[256];
	int fd = open("/proc/net/ip_tables_names", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = *(p + 1) ? ' ' : '\0';
	ctnet_finding_add(out, CTNET_SEV_NOTE, "legacy-iptables", NULL, "iptables-legacy",
			  "iptables-legacy-save (and move those rules to nftables or iptables-nft)",
			  "legacy iptables tables are loaded (%s): doctor reads nf_tables only and cannot "
			  "see what they drop", buf);
}

/* ctnet's chains hold only ctnet's rules: a drop there breaks containers, an accept skips
 * ctnet's checks. One finding per chain with another's rule (check and restore agree). */
static void check_own_chains(const struct fw_ruleset *rs, struct ctnet_findings *out)
{
	for (int c = 0; c < NAT_CHAINS; c++) {
		int ci = fw_chain_find(rs, nat_table_family[nat_chain_table(c)], "ctnet", nat_chain_names[c]);
		char ours[512] = "", obj[96];
		const struct fw_rule *first = NULL;
		size_t foreign = 0;
		if (ci < 0)
			continue;
		const struct fw_chain *ch = &rs->chains[ci];
		for (size_t k = 0; k < ch->n_rules; k++) {
			const struct fw_rule *r = &rs->rules[rs->order[ch->first_rule + k]];
			char with[sizeof(ours)];
			snprintf(with, sizeof(with), "%s%s%s", ours, ours[0] ? "," : "", r->comment[0] ? r->comment : "?");
			if (nat_chain_rules_ours(c, with)) {
				memcpy(ours, with, sizeof(ours));
			} else if (!foreign++) {
				first = r;
			}
		}
		if (!foreign)
			continue;
		snprintf(obj, sizeof(obj), "%s %s", nat_table_names[nat_chain_table(c)], nat_chain_names[c]);
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "ctnet-chain-foreign-rule", NULL, obj, "ctnet-nat restore",
				  "%zu rule%s in ctnet's own chain %s %s not ctnet's (the first: handle %llu%s%s%s): "
				  "a drop there blocks containers, an accept skips ctnet's checks",
				  foreign, foreign == 1 ? "" : "s", obj, foreign == 1 ? "is" : "are",
				  (unsigned long long)first->handle, first->comment[0] ? ", comment \"" : "",
				  first->comment, first->comment[0] ? "\"" : "");
	}
}

struct docker_lines {
	unsigned n;
	char first[160];
};

static void docker_line(const char *line, void *data)
{
	struct docker_lines *d = data;
	if (!strncmp(line, "missing", 7) && !d->n++)
		snprintf(d->first, sizeof(d->first), "%s", line);
}

/* init --accept-in-docker-user's accepts, wanted and not there (Docker flushed them). */
static void check_docker(struct ctnet_kern *kern, struct ctnet_findings *out)
{
	struct nat_config cfg;
	struct nat_store s;
	struct docker_lines d = { 0 };
	struct ctnet_err e;

	if (nat_store_open(&s, false, false, &e) < 0)
		return;
	if (nat_store_config_read(&s, &cfg, &e) >= 0 && cfg.docker_user &&
	    nat_docker_check(kern, &s, true, docker_line, &d, &e) >= 0 && d.n)
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "docker-user-missing", NULL, "DOCKER-USER", "ctnet-nat restore",
				  "%u of the accepts ctnet keeps in Docker's DOCKER-USER (init "
				  "--accept-in-docker-user) %s gone (%s): Docker's FORWARD policy drops "
				  "container traffic (a Docker restart flushes that chain)",
				  d.n, d.n == 1 ? "is" : "are", d.first);
	nat_store_close(&s);
}

static void check_table(const struct fw_ruleset *rs, size_t n, struct ctnet_findings *out)
{
	if (!n || fw_chain_find(rs, NFPROTO_INET, "ctnet", "prerouting") >= 0)
		return;
	ctnet_finding_add(out, CTNET_SEV_BLOCKS, "ctnet-table-missing", NULL, "inet ctnet", "ctnet-nat restore",
			  "ctnet's table inet ctnet is gone (nft flush ruleset, a firewall reload?): no "
			  "masquerade or forwards for %zu container%s", n, n == 1 ? "" : "s");
}

int nat_doctor_read(struct ctnet_kern *kern, struct nat_doctor_view **out, struct ctnet_err *err)
{
	struct nat_doctor_view *v = calloc(1, sizeof(*v));
	int r;

	*out = NULL;
	if (!v)
		return ctnet_errf(err, ENOMEM, "doctor: out of memory");
	v->localnet_off = SIZE_MAX;
	v->localnet_dfd = -1;
	if ((r = fw_read(kern, &v->rs, false, err)) < 0) {
		free(v);
		return r;
	}
	v->ip_forward = ip_forward(kern);
	v->forwarding6 = sysctl_read("/proc/sys/net/ipv6/conf/all/forwarding");
	v->localnet_all = sysctl_read("/proc/sys/net/ipv4/conf/all/route_localnet");
	listeners_read(&v->listeners, "/proc/net/tcp", 6, false);
	listeners_read(&v->listeners, "/proc/net/tcp6", 6, true);
	listeners_read(&v->listeners, "/proc/net/udp", 17, false);
	listeners_read(&v->listeners, "/proc/net/udp6", 17, true);
	check_ext(&v->ext);
	nat_doctor_ra(kern, v->forwarding6, &v->ra);
	check_conntrack(&v->conntrack);
	check_legacy(&v->legacy);
	check_docker(kern, &v->docker);
	v->brnf = sysctl_read("/proc/sys/net/bridge/bridge-nf-call-iptables") == 1;
	*out = v;
	return 0;
}

void nat_doctor_view_free(struct nat_doctor_view *v)
{
	if (!v)
		return;
	__atomic_store_n(&v->localnet_next, v->ln, __ATOMIC_RELAXED); /* unread is unwanted now */
	localnet_wait(v);
	fw_free(&v->rs);
	free(v->listeners.v);
	ctnet_findings_free(&v->ext);
	ctnet_findings_free(&v->conntrack);
	ctnet_findings_free(&v->legacy);
	ctnet_findings_free(&v->ra);
	ctnet_findings_free(&v->docker);
	free(v);
}

const struct fw_ruleset *nat_doctor_ruleset(const struct nat_doctor_view *v)
{
	return &v->rs;
}

const struct listeners *nat_doctor_listeners(const struct nat_doctor_view *v)
{
	return &v->listeners;
}

int nat_doctor_check(struct nat_doctor_view *nv, const struct nat_doctor_ct *cts, size_t n, const char *uplink,
		     struct ctnet_findings *out, struct ctnet_err *err)
{
	const struct fw_ruleset *rs = &nv->rs;
	struct groups g = { 0 };
	struct ct_view *vs = calloc(n ? n : 1, sizeof(*vs));
	size_t *bases = malloc((rs->n_chains ? rs->n_chains : 1) * sizeof(*bases)), n_bases = 0;
	bool any_fwd = false;

	if ((!nv->started && !nv->done) || nv->lcts != cts)
		nat_doctor_localnet_start(nv, cts, n);
	if (!vs || !bases) {
		localnet_wait(nv);
		free(vs);
		free(bases);
		return ctnet_errf(err, ENOMEM, "doctor: out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		vs[i] = (struct ct_view){ .c = cts[i].c, .l3 = cts[i].l3iface, .uplink = uplink,
					  .bridged = nv->brnf && cts[i].c->bridge && cts[i].c->bridge[0] };
		any_fwd |= cts[i].c->n_forwards > 0;
	}
	for (size_t i = 0; i < rs->n_chains; i++)
		if (rs->chains[i].base && !is_ctnet(&rs->chains[i]))
			bases[n_bases++] = i;
	/* The packets first (the route_localnet reads go on meanwhile), the findings after, in
	 * the order they always had. */
	for (size_t i = 0; i < n; i++)
		check_container(rs, bases, n_bases, &vs[i], &g);
	free(bases);
	localnet_wait(nv);
	check_sysctls(nv, vs, n, out);
	ctnet_findings_append(out, &nv->ra);
	nat_doctor_ra_uplink(nv->forwarding6, uplink, &nv->ra, out);
	check_table(rs, n, out);
	check_own_chains(rs, out);
	ctnet_findings_append(out, &nv->docker);
	ctnet_findings_append(out, &nv->ext);
	groups_emit(rs, &g, out);
	if (any_fwd)
		check_listeners(&nv->listeners, vs, n,
				fw_chain_find(rs, NFPROTO_INET, "ctnet", "prerouting") >= 0 &&
					fw_chain_find(rs, NFPROTO_INET, "ctnet", "output") >= 0,
				out);
	ctnet_findings_append(out, &nv->conntrack);
	ctnet_findings_append(out, &nv->legacy);
	free(g.v);
	free(vs);
	return out->oom ? ctnet_errf(err, ENOMEM, "doctor: out of memory") : 0;
}

int nat_doctor(struct ctnet_kern *kern, const struct nat_doctor_ct *cts, size_t n, const char *uplink,
	       struct ctnet_findings *out, struct ctnet_err *err)
{
	struct nat_doctor_view *v;
	int r = nat_doctor_read(kern, &v, err);
	if (r < 0)
		return r;
	r = nat_doctor_check(v, cts, n, uplink, out, err);
	nat_doctor_view_free(v);
	return r;
}

/* A base chain on forward with policy drop in another table that sees IPv4. */
static bool drop_forward(const struct fw_chain *ch)
{
	return ch->base && ch->hook == NF_INET_FORWARD && ch->policy == NF_DROP && !is_ctnet(ch) &&
	       (ch->family == NFPROTO_IPV4 || ch->family == NFPROTO_INET);
}

static int netconf_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;
	if (nlh->nlmsg_type != RTM_NEWNETCONF)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(struct netconfmsg))
		if (mnl_attr_get_type(a) == NETCONFA_FORWARDING && mnl_attr_get_payload_len(a) >= 4)
			*(int *)data = mnl_attr_get_u32(a) != 0;
	return MNL_CB_OK;
}

/* net.ipv4.ip_forward (conf/all's forwarding) as 1, 0 or -1, asked of rtnetlink: at 5,000
 * containers opening /proc/sys/net/ipv4/ip_forward walks the /proc/sys/net entries of every
 * namespace (~70 us); the question is one round trip. */
static int ip_forward(struct ctnet_kern *kern)
{
	char buf[256] __attribute__((aligned(4))) = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct netconfmsg *ncm;
	struct ctnet_nl *nl;
	struct ctnet_err e;
	int on = -1;

	nlh->nlmsg_type = RTM_GETNETCONF; /* the answer, then the ack */
	ncm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ncm));
	ncm->ncm_family = AF_INET;
	mnl_attr_put_u32(nlh, NETCONFA_IFINDEX, (uint32_t)NETCONFA_IFINDEX_ALL);
	if (ctnet_kern_rt(kern, &nl, &e) < 0 || ctnet_nl_request(nl, nlh, netconf_cb, &on, 0, &e, "read ip_forward") < 0)
		on = -1;
	return on >= 0 ? on : sysctl_read("/proc/sys/net/ipv4/ip_forward");
}

int nat_doctor_quick(struct ctnet_kern *kern, const char *l3iface, struct ctnet_findings *out, struct ctnet_err *err)
{
	struct fw_ruleset rs;
	int r;

	if (ip_forward(kern) == 0)
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "ip-forward-off", NULL, "net.ipv4.ip_forward",
				  "sysctl -w net.ipv4.ip_forward=1", "net.ipv4.ip_forward is 0");
	/* Rules are read only for the tables that have a drop-policy forward chain. */
	r = fw_read_rules_of(kern, &rs, drop_forward, err);
	if (r >= 0) {
		struct nat_container c = { .name = "?", .iface = l3iface };
		struct ct_view v = { .c = &c, .l3 = l3iface ? l3iface : "ve-ctnet", .uplink = NULL };
		struct groups g = { 0 };
		c.addr.family = AF_INET;
		for (size_t i = 0; i < rs.n_chains; i++) {
			const struct fw_chain *ch = &rs.chains[i];
			struct fw_packet p;
			struct fw_result res;
			if (!ch->base || ch->hook != NF_INET_FORWARD || ch->policy != NF_DROP || is_ctnet(ch) ||
			    !packet_of(&v, P_OUT, false, NF_INET_FORWARD, ch->prio, &p) ||
			    !fw_chain_applies(ch, &p))
				continue;
			p.has_saddr = false; /* no address: rules on it stay undecided */
			fw_eval_chain(&rs, i, &p, &res);
			if (res.v == FW_V_DROP && !res.maybe_accept)
				group_add(group_get(&g, "forward-drop", res.who.chain, &res.who, P_OUT,
						    CTNET_SEV_BLOCKS), &v, CTNET_SEV_BLOCKS, NULL);
		}
		for (size_t i = 0; i < g.n; i++) {
			const struct fw_chain *ch = &rs.chains[g.v[i].chain];
			char obj[160];
			snprintf(obj, sizeof(obj), "%s %s %s", fw_family_name(ch->family), ch->table, ch->name);
			ctnet_finding_add(out, CTNET_SEV_BLOCKS, "forward-drop", NULL, obj, "ctnet doctor",
					  "%s %s drops forwarded container traffic",
					  g.v[i].policy ? "the drop policy of" : "a rule of", obj);
		}
		free(g.v);
	}
	fw_free(&rs);
	return r < 0 ? r : 0;
}
