/* SPDX-License-Identifier: MIT */
/* The typed container spec: checks, the nixos-container .conf front-end, the diff. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../netd/netd.h"
#include "launch.h"
#include "nixosconf.h"

void ct_spec_init(struct ct_spec *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->netns_fd = -1;
	if (name)
		snprintf(s->name, sizeof(s->name), "%s", name);
}

int ct_spec_add_forward(struct ct_spec *s, const char *text, struct ctnet_err *err)
{
	char spec[128];
	const char *at = strchr(text, '@');
	size_t n = at ? (size_t)(at - text) : strlen(text);
	struct nat_forward f;
	int rc;

	if (s->n_forwards >= NAT_MAX_FORWARDS)
		return ctnet_errf(err, E2BIG, "container \"%s\": more than %d forwards", s->name,
				  NAT_MAX_FORWARDS);
	if (n >= sizeof(spec))
		return ctnet_errf(err, EINVAL, "forward \"%.40s...\": too long", text);
	memcpy(spec, text, n);
	spec[n] = '\0';
	if ((rc = nat_forward_parse(spec, &f, err)) < 0)
		return rc;
	if (at) {
		if ((rc = ctnet_addr_parse(at + 1, 0, CTNET_ADDR_NOPREFIX, "forward host IP",
					   &f.host_ip, err)) < 0)
			return rc;
		f.has_host_ip = true;
	}
	s->forwards[s->n_forwards++] = f;
	return 0;
}

int ct_spec_add_interface(struct ct_spec *s, bool macvlan, const char *ifname,
			  struct ctnet_err *err)
{
	size_t *n = macvlan ? &s->n_macvlans : &s->n_interfaces;
	int rc;

	if (*n >= CT_MAX_EXTRA)
		return ctnet_errf(err, E2BIG, "container \"%s\": more than %d %s", s->name,
				  CT_MAX_EXTRA, macvlan ? "macvlans" : "interfaces");
	if ((rc = ctnet_ifname_check(ifname, err)) < 0)
		return rc;
	if (macvlan && strlen(ifname) > CTNET_IFNAME_MAX - 3)
		return ctnet_errf(err, EINVAL,
				  "macvlan parent \"%s\": longer than %d bytes (the macvlan is mv-PARENT)",
				  ifname, CTNET_IFNAME_MAX - 3);
	snprintf(macvlan ? s->macvlans[*n] : s->interfaces[*n], IFNAMSIZ, "%s", ifname);
	(*n)++;
	return 0;
}

int ct_spec_add_extra_veth(struct ct_spec *s, const char *text, struct ctnet_err *err)
{
	int rc;
	if (s->n_extra_veths >= NETD_EXTRA_VETH_MAX)
		return ctnet_errf(err, E2BIG, "container \"%s\": more than %d extra veths", s->name,
				  NETD_EXTRA_VETH_MAX);
	if ((rc = netd_extra_veth_parse(text, &s->extra_veths[s->n_extra_veths], err)) < 0)
		return rc;
	for (size_t i = 0; i < s->n_extra_veths; i++)
		if (!strcmp(s->extra_veths[i].ifname, s->extra_veths[s->n_extra_veths].ifname))
			return ctnet_errf(err, EINVAL, "extra veth \"%s\" given twice",
					  s->extra_veths[i].ifname);
	s->n_extra_veths++;
	return 0;
}

int ct_spec_set_impair(struct ct_spec *s, const char *key, const char *value, struct ctnet_err *err)
{
	struct netd_impair *im = &s->impair;
	int rc;

	if (!strcmp(key, "delay"))
		rc = netd_impair_parse_time(value, "delay", &im->delay_us, err);
	else if (!strcmp(key, "jitter"))
		rc = netd_impair_parse_time(value, "jitter", &im->jitter_us, err);
	else if (!strcmp(key, "loss"))
		rc = netd_impair_parse_loss(value, &im->loss_ppm, err);
	else if (!strcmp(key, "rate"))
		rc = netd_impair_parse_rate(value, &im->rate_bps, err);
	else
		return ctnet_errf(err, EINVAL, "unknown impairment \"%s\"", key);
	if (rc == 0)
		im->set = true;
	return rc;
}

static bool addr_set(const struct ctnet_addr *a)
{
	return a->family != 0;
}

/* A shared-namespace container: nothing to plumb, so no option that plumbs. */
static int check_shared(const struct ct_spec *s, struct ctnet_err *err)
{
	const char *n = s->name;

	if (s->n_forwards)
		return ctnet_errf(err, EINVAL,
				  "container \"%s\": port forwards need a private network "
				  "(a shared-namespace container has nothing to forward to)",
				  n);
	if (s->netns_kind != CT_NETNS_NONE || addr_set(&s->host) || addr_set(&s->local) ||
	    s->bridge[0] || s->ipv6 || addr_set(&s->host6) || addr_set(&s->local6) ||
	    s->n_interfaces || s->n_macvlans || s->has_pool || s->n_extra_veths ||
	    netd_impair_active(&s->impair))
		return ctnet_errf(err, EINVAL,
				  "container \"%s\": --shared takes no namespace, address, bridge or interface options",
				  n);
	return 0;
}

/* The addresses given (both ends or neither, the family, distinct) and a bridge's needs. */
static int check_addresses(const struct ct_spec *s, struct ctnet_err *err)
{
	const char *n = s->name;
	int rc;

	if (addr_set(&s->host) != addr_set(&s->local) && !s->bridge[0])
		return ctnet_errf(err, EINVAL,
				  "container \"%s\": give both --host-address and --local-address, or neither",
				  n);
	if ((addr_set(&s->host) && s->host.family != AF_INET) ||
	    (addr_set(&s->local) && s->local.family != AF_INET))
		return ctnet_errf(err, EINVAL, "container \"%s\": IPv4 addresses expected", n);
	if (addr_set(&s->host) && addr_set(&s->local) && ctnet_addr_equal(&s->host, &s->local)) {
		char a[CTNET_ADDR_STRLEN];
		return ctnet_errf(err, EINVAL, "host address and local address are both %s",
				  ctnet_addr_str(&s->host, a));
	}
	if (addr_set(&s->host6) != addr_set(&s->local6))
		return ctnet_errf(err, EINVAL,
				  "container \"%s\": give both --host-address6 and --local-address6, or neither",
				  n);
	if (addr_set(&s->host6)) {
		char a[CTNET_ADDR_STRLEN];
		if (s->host6.family != AF_INET6 || s->local6.family != AF_INET6)
			return ctnet_errf(err, EINVAL, "container \"%s\": IPv6 addresses expected", n);
		if (ctnet_addr_equal(&s->host6, &s->local6))
			return ctnet_errf(err, EINVAL, "host address6 and local address6 are both %s",
					  ctnet_addr_str(&s->host6, a));
	}
	if (s->reserve && !addr_set(&s->local))
		return ctnet_errf(err, EINVAL, "container \"%s\": an address to reserve is needed", n);
	if (s->bridge[0]) {
		char a[CTNET_ADDR_STRLEN];
		if ((rc = ctnet_ifname_check(s->bridge, err)) < 0)
			return rc;
		if (!addr_set(&s->local) && !s->has_pool)
			return ctnet_errf(err, EINVAL,
					  "container \"%s\": bridge mode needs --local-address A/PREFIX or --pool CIDR",
					  n);
		if (addr_set(&s->local) && s->local.prefix < 0)
			return ctnet_errf(err, EINVAL,
					  "local address \"%s\": bridge mode needs a prefix (e.g. %s/24)",
					  ctnet_addr_str(&s->local, a), a);
	}
	if (s->bridge_gw.family && (!s->bridge[0] || s->bridge_gw.family != AF_INET || s->bridge_gw.prefix <= 0))
		return ctnet_errf(err, EINVAL, "container \"%s\": a bridge gateway needs a bridge and an IPv4 "
				  "address with a prefix", n);
	return 0;
}

int ct_spec_check(const struct ct_spec *s, struct ctnet_err *err)
{
	const char *n = s->name;
	int rc;

	if ((rc = ctnet_name_check(n, err)) < 0)
		return rc;
	if (s->no_nat && s->n_forwards)
		return ctnet_errf(err, EINVAL, "container \"%s\": port forwards need NAT", n);
	if (s->shared)
		return check_shared(s, err);
	if (s->netns_kind == CT_NETNS_NONE)
		return ctnet_errf(err, EINVAL,
				  "container \"%s\": needs exactly one of --netns PATH, --pid PID, --create-netns",
				  n);
	if (s->netns_kind == CT_NETNS_PATH && s->netns_path[0] != '/')
		return ctnet_errf(err, EINVAL, "container \"%s\": netns path must be absolute", n);
	if (s->netns_kind == CT_NETNS_FD && s->netns_fd < 0)
		return ctnet_errf(err, EINVAL, "container \"%s\": no namespace fd", n);
	if ((rc = check_addresses(s, err)) < 0)
		return rc;
	if (s->ifname[0] && (rc = ctnet_ifname_check(s->ifname, err)) < 0)
		return rc;
	if (s->host_ifname[0] && (rc = ctnet_ifname_check(s->host_ifname, err)) < 0)
		return rc;
	if (s->mac[0]) {
		unsigned char mac[6];
		if ((rc = netd_mac_parse(s->mac, mac, err)) < 0)
			return rc;
	}
	if ((rc = netd_impair_check(&s->impair, err)) < 0)
		return rc;
	for (size_t i = 0; i < s->n_extra_veths; i++) {
		const char *v = s->extra_veths[i].ifname;
		if (!strcmp(v, s->host_ifname[0] ? s->host_ifname : "") ||
		    !strcmp(v, s->ifname[0] ? s->ifname : NETD_DEFAULT_IFNAME))
			return ctnet_errf(err, EINVAL, "extra veth \"%s\": the name of the main link", v);
	}
	if (s->mtu && (s->mtu < NETD_MTU_MIN || s->mtu > NETD_MTU_MAX))
		return ctnet_errf(err, EINVAL, "MTU %u: not in %d-%d", s->mtu, NETD_MTU_MIN,
				  NETD_MTU_MAX);
	return 0;
}

/* "eth1 eth2" of a config key into the spec. */
static int conf_list(struct ct_spec *s, bool macvlan, const char *value, struct ctnet_err *err)
{
	char buf[NIXOSCONF_VALUE_MAX + 1];
	int rc;

	snprintf(buf, sizeof(buf), "%s", value);
	for (char *save = NULL, *p = strtok_r(buf, " \t", &save); p; p = strtok_r(NULL, " \t", &save))
		if ((rc = ct_spec_add_interface(s, macvlan, p, err)) < 0)
			return rc;
	return 0;
}

int ct_spec_from_conf(struct ct_spec *s, const char *path, bool *auto_start, struct ctnet_err *err)
{
	return ct_spec_from_conf_stat(s, path, auto_start, NULL, err);
}

/* The file read and parsed into c: root-owned and not writable by others, as for
 * everything ctnet trusts (the file as opened: read as data, used only after these
 * checks). *st_out (may be NULL): its stat. */
static int conf_read(const char *path, const char *shown, struct stat *st_out, struct nixosconf *c,
		     struct ctnet_err *err)
{
	_cleanup_free_ char *text = NULL;
	struct stat st;
	size_t len;
	int rc;

	if ((rc = nixosconf_slurp_stat(AT_FDCWD, path, &text, &len, &st, err)) < 0)
		return rc;
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return ctnet_errf(err, EPERM, "config \"%s\": owned by uid %u, not root", shown,
				  (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ctnet_errf(err, EPERM, "config \"%s\": writable by group or others", shown);
	if (st_out)
		*st_out = st;
	return nixosconf_parse(text, len, shown, c, err);
}

/* The file's lists (interfaces, macvlans, extra veths, forwards) and impairment, where s
 * has none yet. */
static int conf_lists(struct ct_spec *s, const struct nixosconf *c, const char *shown, struct ctnet_err *err)
{
	int rc;

	if (!s->n_interfaces && (rc = conf_list(s, false, c->interfaces, err)) < 0)
		return rc;
	if (!s->n_macvlans && (rc = conf_list(s, true, c->macvlans, err)) < 0)
		return rc;
	static const char *const impair_keys[4] = { "delay", "jitter", "loss", "rate" };
	const char *impair_vals[4] = { c->impair_delay, c->impair_jitter, c->impair_loss, c->impair_rate };
	if (!s->impair.set)
		for (int i = 0; i < 4; i++)
			if (impair_vals[i][0] && (rc = ct_spec_set_impair(s, impair_keys[i], impair_vals[i], err)) < 0)
				return rc;
	if (!s->n_extra_veths && c->extra_veths[0]) {
		char buf[NIXOSCONF_VALUE_MAX + 1];
		snprintf(buf, sizeof(buf), "%s", c->extra_veths);
		for (char *save = NULL, *p = strtok_r(buf, " \t", &save); p; p = strtok_r(NULL, " \t", &save))
			if ((rc = ct_spec_add_extra_veth(s, p, err)) < 0)
				return rc;
	}
	if (!s->n_forwards && c->host_port[0]) {
		char buf[NIXOSCONF_VALUE_MAX + 1];
		snprintf(buf, sizeof(buf), "%s", c->host_port);
		for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
			if ((rc = ct_spec_add_forward(s, p, err)) < 0) {
				size_t l = strlen(err->msg);
				snprintf(err->msg + l, sizeof(err->msg) - l, " (HOST_PORT of %s)", shown);
				return rc;
			}
		}
	}
	return 0;
}

int ct_spec_from_conf_stat(struct ct_spec *s, const char *path, bool *auto_start, struct stat *st_out,
			   struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	struct nixosconf c;
	int rc;

	ctnet_show(path, shown);
	if ((rc = conf_read(path, shown, st_out, &c, err)) < 0)
		return rc;
	if (auto_start) /* nixos-container's default: start it */
		*auto_start = !c.has_auto_start || c.auto_start;

	/* Command-line options win over the file. */
	if (!c.private_network) {
		if (s->netns_kind == CT_NETNS_NONE)
			s->shared = true;
		return 0;
	}
	if (c.network_namespace_path[0] && s->netns_kind == CT_NETNS_NONE) {
		s->netns_kind = CT_NETNS_PATH;
		snprintf(s->netns_path, sizeof(s->netns_path), "%s", c.network_namespace_path);
	}
	if (!s->host.family)
		s->host = c.host_address;
	if (!s->local.family)
		s->local = c.local_address;
	if (!s->host6.family)
		s->host6 = c.host_address6;
	if (!s->local6.family)
		s->local6 = c.local_address6;
	if (!s->bridge[0])
		snprintf(s->bridge, sizeof(s->bridge), "%s", c.host_bridge);
	if (!s->mac[0] && c.local_mac_address[0]) {
		unsigned char mac[6];
		if ((rc = netd_mac_parse(c.local_mac_address, mac, err)) < 0)
			return rc;
		if (strlen(c.local_mac_address) >= sizeof(s->mac))
			return ctnet_errf(err, EINVAL, "invalid MAC address \"%.32s\"", c.local_mac_address);
		memcpy(s->mac, c.local_mac_address, strlen(c.local_mac_address) + 1);
	}
	return conf_lists(s, &c, shown, err);
}

/* --- the diff --- */

static bool addr_same(const struct ctnet_addr *a, const struct ctnet_addr *b)
{
	if (a->family != b->family)
		return false;
	return !a->family || (ctnet_addr_equal(a, b) && a->prefix == b->prefix);
}

static bool forward_same(const struct nat_forward *a, const struct nat_forward *b)
{
	return a->proto == b->proto && a->host_lo == b->host_lo && a->host_hi == b->host_hi &&
	       a->container_lo == b->container_lo && a->container_hi == b->container_hi &&
	       a->has_host_ip == b->has_host_ip &&
	       (!a->has_host_ip || ctnet_addr_equal(&a->host_ip, &b->host_ip));
}

/* Forwards as a set: the order they were given in does not matter. */
static bool forwards_same(const struct ct_spec *a, const struct ct_spec *b)
{
	if (a->n_forwards != b->n_forwards)
		return false;
	for (size_t i = 0; i < a->n_forwards; i++) {
		bool found = false;
		for (size_t j = 0; j < b->n_forwards && !found; j++)
			found = forward_same(&a->forwards[i], &b->forwards[j]);
		if (!found)
			return false;
	}
	return true;
}

static bool lists_same(const char (*a)[IFNAMSIZ], size_t na, const char (*b)[IFNAMSIZ], size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

static const char *ifname_or(const char *s, const char *dflt)
{
	return s[0] ? s : dflt;
}

unsigned ct_spec_diff(const struct ct_spec *a, const struct ct_spec *b)
{
	unsigned d = 0;

	if (a->shared != b->shared)
		d |= CT_F_MODE;
	if (a->netns_kind != b->netns_kind || strcmp(a->netns_path, b->netns_path) ||
	    (a->netns_kind == CT_NETNS_PID && a->pid != b->pid) || a->netns_kind == CT_NETNS_FD)
		d |= CT_F_NETNS;
	if (!addr_same(&a->host, &b->host) || !addr_same(&a->local, &b->local))
		d |= CT_F_ADDRESS;
	if (!addr_same(&a->host6, &b->host6) || !addr_same(&a->local6, &b->local6) ||
	    a->ipv6 != b->ipv6)
		d |= CT_F_ADDRESS6;
	if (a->has_pool != b->has_pool || (a->has_pool && !addr_same(&a->pool, &b->pool)))
		d |= CT_F_POOL;
	/* A record from before bridge gateways were recorded has none: not a change. */
	if (strcmp(a->bridge, b->bridge) ||
	    (a->bridge_gw.family && b->bridge_gw.family && !addr_same(&a->bridge_gw, &b->bridge_gw)))
		d |= CT_F_BRIDGE;
	if (strcmp(ifname_or(a->ifname, NETD_DEFAULT_IFNAME), ifname_or(b->ifname, NETD_DEFAULT_IFNAME)))
		d |= CT_F_IFNAME;
	if (strcmp(a->host_ifname, b->host_ifname))
		d |= CT_F_HOST_IFNAME;
	if (strcasecmp(a->mac, b->mac))
		d |= CT_F_MAC;
	if (a->mtu != b->mtu)
		d |= CT_F_MTU;
	if (a->no_nat != b->no_nat)
		d |= CT_F_NAT;
	if (!forwards_same(a, b))
		d |= CT_F_FORWARDS;
	if (!lists_same(a->interfaces, a->n_interfaces, b->interfaces, b->n_interfaces) ||
	    !lists_same(a->macvlans, a->n_macvlans, b->macvlans, b->n_macvlans))
		d |= CT_F_INTERFACES;
	if (strcmp(a->origin, b->origin))
		d |= CT_F_ORIGIN;
	if (strcmp(a->runtime_id, b->runtime_id) || strcmp(a->runtime_name, b->runtime_name))
		d |= CT_F_RUNTIME;
	if (!netd_impair_equal(&a->impair, &b->impair))
		d |= CT_F_IMPAIR;
	if (a->n_extra_veths != b->n_extra_veths)
		d |= CT_F_EXTRA_VETHS;
	for (size_t i = 0; !(d & CT_F_EXTRA_VETHS) && i < a->n_extra_veths; i++)
		if (!netd_extra_veth_equal(&a->extra_veths[i], &b->extra_veths[i]))
			d |= CT_F_EXTRA_VETHS;
	return d;
}

const char *ct_field_name(unsigned bit)
{
	static const char *const names[CT_F_COUNT] = {
		"mode (--shared)", "network namespace", "IPv4 addresses", "IPv6 addresses",
		"pool", "bridge", "ifname", "host ifname", "mac", "mtu", "NAT (ipMasq)",
		"forwards", "interfaces/macvlans", "origin", "runtime id", "impairment",
		"extra veths",
	};
	for (unsigned i = 0; i < CT_F_COUNT; i++)
		if (bit == 1u << i)
			return names[i];
	return "?";
}
