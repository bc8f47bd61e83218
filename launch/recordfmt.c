/* SPDX-License-Identifier: MIT */
/* The record codec: a struct ct_record to KEY=VALUE lines and back (record.c reads and
 * writes the files). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "launch.h"
#include "nixosconf.h"
#include "state.h"

static const char *const netns_kinds[] = { "none", "path", "pid", "create", "fd" };

static void put_addr(struct ctnet_kv_out *o, const char *key, const struct ctnet_addr *a)
{
	char buf[CTNET_ADDR_STRLEN];
	if (a->family)
		ctnet_kv_put(o, key, ctnet_addr_cidr_str(a, buf));
}

/* What was asked for ... */
static void format_request(struct ctnet_kv_out *o, const struct ct_spec *s)
{
	if (s->netns_kind != CT_NETNS_NONE)
		ctnet_kv_put(o, "REQ_NETNS", netns_kinds[s->netns_kind]);
	put_addr(o, "REQ_HOST_ADDRESS", &s->host);
	put_addr(o, "REQ_LOCAL_ADDRESS", &s->local);
	put_addr(o, "REQ_HOST_ADDRESS6", &s->host6);
	put_addr(o, "REQ_LOCAL_ADDRESS6", &s->local6);
	if (s->ipv6)
		ctnet_kv_put(o, "IPV6", "1");
	if (s->has_pool)
		put_addr(o, "POOL", &s->pool);
	if (s->ifname[0])
		ctnet_kv_put(o, "REQ_IFNAME", s->ifname);
	if (s->host_ifname[0])
		ctnet_kv_put(o, "REQ_HOST_IFNAME", s->host_ifname);
	if (s->bridge[0])
		ctnet_kv_put(o, "BRIDGE", s->bridge);
	put_addr(o, "BRIDGE_GATEWAY", &s->bridge_gw);
	if (s->mac[0])
		ctnet_kv_put(o, "MAC", s->mac);
	if (s->mtu)
		ctnet_kv_putf(o, "MTU", "%u", s->mtu);
	if (s->no_nat)
		ctnet_kv_put(o, "NO_NAT", "1");
	for (size_t i = 0; i < s->n_interfaces; i++)
		ctnet_kv_put(o, "INTERFACE", s->interfaces[i]);
	for (size_t i = 0; i < s->n_macvlans; i++)
		ctnet_kv_put(o, "MACVLAN", s->macvlans[i]);
	for (size_t i = 0; i < s->n_forwards; i++) {
		char fw[64], ip[CTNET_ADDR_STRLEN];
		nat_forward_str(&s->forwards[i], fw, sizeof(fw));
		if (s->forwards[i].has_host_ip)
			ctnet_kv_putf(o, "FORWARD", "%s@%s", fw, ctnet_addr_str(&s->forwards[i].host_ip, ip));
		else
			ctnet_kv_put(o, "FORWARD", fw);
	}
}

/* ... its impairment, extra veths and who manages it ... */
static void format_extras(struct ctnet_kv_out *o, const struct ct_spec *s)
{
	if (netd_impair_active(&s->impair)) {
		char t[NETD_IMPAIR_STRLEN];
		if (s->impair.delay_us)
			ctnet_kv_put(o, "IMPAIR_DELAY", netd_impair_format_time(s->impair.delay_us, t));
		if (s->impair.jitter_us)
			ctnet_kv_put(o, "IMPAIR_JITTER", netd_impair_format_time(s->impair.jitter_us, t));
		if (s->impair.loss_ppm)
			ctnet_kv_put(o, "IMPAIR_LOSS", netd_impair_format_loss(s->impair.loss_ppm, t));
		if (s->impair.rate_bps)
			ctnet_kv_put(o, "IMPAIR_RATE", netd_impair_format_rate(s->impair.rate_bps, t));
	}
	for (size_t i = 0; i < s->n_extra_veths; i++) {
		char v[NETD_EXTRA_VETH_STRLEN];
		if (netd_extra_veth_format(&s->extra_veths[i], v, sizeof(v)) < 0 && !o->error)
			o->error = ctnet_errf(o->err, EINVAL, "%s: extra veth too long", o->what);
		ctnet_kv_put(o, "EXTRA_VETH", v);
	}
	if (s->origin[0])
		ctnet_kv_put(o, "ORIGIN", s->origin);
	if (s->runtime_id[0])
		ctnet_kv_put(o, "RUNTIME_ID", s->runtime_id);
	if (s->runtime_name[0])
		ctnet_kv_put(o, "RUNTIME_NAME", s->runtime_name);
}

/* ... and what is in use. */
static void format_in_use(struct ctnet_kv_out *o, const struct ct_record *r)
{
	if (r->netns[0])
		ctnet_kv_put(o, "NETNS", r->netns);
	if (r->pid)
		ctnet_kv_putf(o, "PID", "%ld", (long)r->pid);
	if (r->pid && r->pid_start)
		ctnet_kv_putf(o, "PID_START", "%llu", r->pid_start);
	if (r->ns_ino)
		ctnet_kv_putf(o, "NETNS_ID", "%llu:%llu", r->ns_dev, r->ns_ino);
	if (r->created_netns)
		ctnet_kv_put(o, "CREATED_NETNS", "1");
	if (r->host_ifname[0])
		ctnet_kv_put(o, "HOST_IFNAME", r->host_ifname);
	if (r->ifname[0])
		ctnet_kv_put(o, "IFNAME", r->ifname);
	put_addr(o, "HOST_ADDRESS", &r->host);
	put_addr(o, "LOCAL_ADDRESS", &r->local);
	put_addr(o, "HOST_ADDRESS6", &r->host6);
	put_addr(o, "LOCAL_ADDRESS6", &r->local6);
	if (r->mac[0])
		ctnet_kv_put(o, "LOCAL_MAC", r->mac);
	if (r->lease)
		ctnet_kv_put(o, "LEASE", "1");
	if (r->pending)
		ctnet_kv_put(o, "PENDING", "1");
	if (r->stopping)
		ctnet_kv_put(o, "STOPPING", r->stopping == CT_STOP_KEEP_LEASE ? "keep-lease" : "release");
}

int record_format(const struct ct_record *r, char *buf, size_t len, struct ctnet_err *err)
{
	const struct ct_spec *s = &r->spec;
	char what[CTNET_NAME_MAX + 16];
	struct ctnet_kv_out o = { .p = buf, .cap = len, .what = what, .err = err };

	snprintf(what, sizeof(what), "record \"%s\"", s->name);
	ctnet_kv_putf(&o, "VERSION", "%u", CT_RECORD_VERSION);
	ctnet_kv_put(&o, "NAME", s->name);
	ctnet_kv_put(&o, "MODE", s->shared ? "shared" : "private");
	if (r->boot_id[0])
		ctnet_kv_put(&o, "BOOT_ID", r->boot_id);
	format_request(&o, s);
	format_extras(&o, s);
	format_in_use(&o, r);
	return o.error ? o.error : (int)o.len;
}


static int set_ifname(char *dst, const char *val, struct ctnet_err *err)
{
	int rc = ctnet_ifname_check(val, err);
	if (rc == 0)
		snprintf(dst, IFNAMSIZ, "%s", val);
	return rc;
}

static int set_text(char *dst, size_t size, const char *key, const char *val, struct ctnet_err *err)
{
	if (strlen(val) >= size)
		return ctnet_errf(err, EINVAL, "%s too long", key);
	memcpy(dst, val, strlen(val) + 1);
	return 0;
}

struct parse_ctx {
	struct ct_record *r;
	bool has_req; /* a version 2 record: REQ_* lines say what was asked */
};

static bool handled(int *rcp, int rc)
{
	*rcp = rc;
	return true;
}

/* The spec's keys (what was asked for): false when key is not one, else true with *rcp. */
static bool parse_spec_key(struct parse_ctx *px, const char *key, const char *val, int *rcp,
			   struct ctnet_err *err)
{
	struct ct_record *r = px->r;
	struct ct_spec *s = &r->spec;
	unsigned long v;
	int rc = 0;

	if (!strcmp(key, "VERSION")) {
		rc = ctnet_uint_parse(val, 1, 1000, "VERSION", &v, err);
		r->version = (unsigned)v;
		px->has_req = v >= 2;
	} else if (!strcmp(key, "NAME")) {
		if (strcmp(val, s->name))
			return handled(rcp, ctnet_errf(err, EINVAL, "NAME is \"%s\"", val));
	} else if (!strcmp(key, "MODE")) {
		if (strcmp(val, "shared") && strcmp(val, "private"))
			return handled(rcp, ctnet_errf(err, EINVAL, "bad MODE"));
		s->shared = !strcmp(val, "shared");
	} else if (!strcmp(key, "BOOT_ID")) {
		rc = set_text(r->boot_id, sizeof(r->boot_id), key, val, err);
	} else if (!strcmp(key, "REQ_NETNS")) {
		size_t i;
		for (i = 1; i < ARRAY_SIZE(netns_kinds) && strcmp(val, netns_kinds[i]); i++)
			;
		if (i == ARRAY_SIZE(netns_kinds))
			return handled(rcp, ctnet_errf(err, EINVAL, "bad REQ_NETNS"));
		s->netns_kind = (enum ct_netns_kind)i;
	} else if (!strncmp(key, "REQ_", 4) && strstr(key, "ADDRESS")) {
		bool six = key[strlen(key) - 1] == '6', host = key[4] == 'H';
		struct ctnet_addr *a = six ? (host ? &s->host6 : &s->local6) : (host ? &s->host : &s->local);
		rc = ctnet_addr_parse(val, six ? AF_INET6 : AF_INET, CTNET_ADDR_PREFIX_OK, key, a, err);
	} else if (!strcmp(key, "IPV6")) {
		s->ipv6 = !strcmp(val, "1");
	} else if (!strcmp(key, "POOL")) {
		rc = ctnet_cidr_parse(val, "POOL", &s->pool, err);
		s->has_pool = rc == 0;
	} else if (!strcmp(key, "REQ_IFNAME")) {
		rc = set_ifname(s->ifname, val, err);
	} else if (!strcmp(key, "REQ_HOST_IFNAME")) {
		rc = set_ifname(s->host_ifname, val, err);
	} else if (!strcmp(key, "BRIDGE")) {
		rc = set_ifname(s->bridge, val, err);
	} else if (!strcmp(key, "BRIDGE_GATEWAY")) {
		rc = ctnet_addr_parse(val, AF_INET, CTNET_ADDR_PREFIX_OK, key, &s->bridge_gw, err);
	} else if (!strcmp(key, "MAC")) {
		rc = set_text(s->mac, sizeof(s->mac), key, val, err);
	} else if (!strcmp(key, "MTU")) {
		rc = ctnet_uint_parse(val, 68, 65535, "MTU", &v, err);
		s->mtu = (unsigned)v;
	} else if (!strcmp(key, "NO_NAT")) {
		s->no_nat = !strcmp(val, "1");
	} else if (!strcmp(key, "INTERFACE") || !strcmp(key, "MACVLAN")) {
		rc = ct_spec_add_interface(s, key[0] == 'M', val, err);
	} else if (!strcmp(key, "FORWARD")) {
		rc = ct_spec_add_forward(s, val, err);
	} else if (!strncmp(key, "IMPAIR_", 7)) {
		char lower[16];
		size_t i;
		for (i = 0; key[7 + i] && i < sizeof(lower) - 1; i++)
			lower[i] = (char)(key[7 + i] - 'A' + 'a');
		lower[i] = '\0';
		rc = ct_spec_set_impair(s, lower, val, err);
	} else if (!strcmp(key, "EXTRA_VETH")) {
		rc = ct_spec_add_extra_veth(s, val, err);
	} else if (!strcmp(key, "ORIGIN")) {
		rc = set_text(s->origin, sizeof(s->origin), key, val, err);
	} else if (!strcmp(key, "RUNTIME_ID")) {
		rc = set_text(s->runtime_id, sizeof(s->runtime_id), key, val, err);
	} else if (!strcmp(key, "RUNTIME_NAME")) {
		rc = set_text(s->runtime_name, sizeof(s->runtime_name), key, val, err);
	} else {
		return false;
	}
	return handled(rcp, rc);
}

/* What is in use (unknown keys: ignored, so newer records stay readable). */
static int parse_use_key(struct ct_record *r, const char *key, const char *val, struct ctnet_err *err)
{
	unsigned long v;
	int rc = 0;

	if (!strcmp(key, "NETNS")) {
		if (val[0] != '/')
			return ctnet_errf(err, EINVAL, "bad NETNS");
		rc = set_text(r->netns, sizeof(r->netns), key, val, err);
	} else if (!strcmp(key, "PID")) {
		rc = ctnet_uint_parse(val, 1, INT_MAX, "PID", &v, err);
		r->pid = (pid_t)v;
	} else if (!strcmp(key, "PID_START")) {
		char *end;
		errno = 0;
		r->pid_start = strtoull(val, &end, 10);
		if (errno || end == val || *end || val[0] < '0' || val[0] > '9')
			return ctnet_errf(err, EINVAL, "bad PID_START");
	} else if (!strcmp(key, "NETNS_ID")) {
		if (sscanf(val, "%llu:%llu", &r->ns_dev, &r->ns_ino) != 2)
			return ctnet_errf(err, EINVAL, "bad NETNS_ID");
	} else if (!strcmp(key, "CREATED_NETNS")) {
		r->created_netns = !strcmp(val, "1");
	} else if (!strcmp(key, "HOST_IFNAME")) {
		rc = set_ifname(r->host_ifname, val, err);
	} else if (!strcmp(key, "IFNAME")) {
		rc = set_ifname(r->ifname, val, err);
	} else if (strstr(key, "_ADDRESS")) {
		bool six = key[strlen(key) - 1] == '6', host = key[0] == 'H';
		struct ctnet_addr *a = six ? (host ? &r->host6 : &r->local6) : (host ? &r->host : &r->local);
		if (strcmp(key, "HOST_ADDRESS") && strcmp(key, "LOCAL_ADDRESS") &&
		    strcmp(key, "HOST_ADDRESS6") && strcmp(key, "LOCAL_ADDRESS6"))
			return 0;
		rc = ctnet_addr_parse(val, six ? AF_INET6 : AF_INET, CTNET_ADDR_PREFIX_OK, key, a, err);
		if (six)
			r->has_v6 = true;
	} else if (!strcmp(key, "LOCAL_MAC")) {
		unsigned char mac[6];
		if ((rc = ctnet_mac_parse(val, mac, err)) == 0)
			snprintf(r->mac, sizeof(r->mac), "%s", val);
	} else if (!strcmp(key, "LEASE")) {
		r->lease = !strcmp(val, "1");
	} else if (!strcmp(key, "PENDING")) {
		r->pending = !strcmp(val, "1");
	} else if (!strcmp(key, "STOPPING")) {
		r->stopping = !strcmp(val, "keep-lease") ? CT_STOP_KEEP_LEASE : CT_STOP_RELEASE;
	}
	return rc;
}

static int parse_cb(const char *key, const char *val, void *data, struct ctnet_err *err)
{
	struct parse_ctx *px = data;
	int rc = 0;

	if (parse_spec_key(px, key, val, &rc, err))
		return rc;
	return parse_use_key(px->r, key, val, err);
}

/* A version 1 record (no REQ_* lines): what was asked follows from what is in use. */
static void spec_from_v1(struct ct_record *r)
{
	struct ct_spec *s = &r->spec;
	if (s->shared)
		return;
	s->netns_kind = r->created_netns ? CT_NETNS_CREATE : r->pid ? CT_NETNS_PID : CT_NETNS_PATH;
	if (!r->lease) {
		s->host = r->host;
		s->local = r->local;
		s->host6 = r->host6;
		s->local6 = r->local6;
	} else if (r->has_v6) {
		s->ipv6 = true;
	}
	if (strcmp(r->ifname, "eth0"))
		snprintf(s->ifname, sizeof(s->ifname), "%s", r->ifname);
}

int record_parse(const char *text, size_t len, const char *name, struct ct_record *r,
		 struct ctnet_err *err)
{
	char shown[CTNET_NAME_MAX + 16];
	struct parse_ctx px = { .r = r };
	int rc;

	memset(r, 0, sizeof(*r));
	ct_spec_init(&r->spec, name);
	r->version = 1;
	snprintf(shown, sizeof(shown), "record \"%s\"", name);
	rc = nixosconf_parse_kv(text, len, shown, parse_cb, &px, err);
	if (rc < 0)
		return rc;
	if (!px.has_req)
		spec_from_v1(r);
	if (r->spec.netns_kind == CT_NETNS_PATH || r->spec.netns_kind == CT_NETNS_CREATE)
		snprintf(r->spec.netns_path, sizeof(r->spec.netns_path), "%s", r->netns);
	if (r->spec.netns_kind == CT_NETNS_PID || (r->spec.shared && r->pid))
		r->spec.pid = r->pid;
	if (r->spec.netns_kind == CT_NETNS_FD)
		r->spec.owner_pid = r->pid;
	return 0;
}
