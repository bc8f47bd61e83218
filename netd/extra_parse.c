/* SPDX-License-Identifier: MIT */
/* --extra-veth IFNAME[,key=value]...: parsed strictly, no kernel. */
#include "netd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { K_BRIDGE, K_HOST, K_LOCAL, K_HOST6, K_LOCAL6, K_N };
static const char *const keys[K_N] = { "host-bridge", "host-address", "local-address",
				       "host-address6", "local-address6" };

/* One KEY=VALUE into *v. */
static int key_set(struct netd_extra_veth *v, int k, const char *val, struct ctnet_err *err)
{
	int r;

	switch (k) {
	case K_BRIDGE:
		r = ctnet_ifname_check(val, err);
		if (r == 0)
			memcpy(v->host_bridge, val, strlen(val) + 1);
		break;
	case K_HOST:
		r = ctnet_addr_parse(val, AF_INET, CTNET_ADDR_PREFIX_OK, "extra veth host address",
				     &v->host_addr, err);
		v->has_host_addr = true;
		break;
	case K_LOCAL:
		r = ctnet_addr_parse(val, AF_INET, CTNET_ADDR_PREFIX_OK, "extra veth local address",
				     &v->local_addr, err);
		v->has_local_addr = true;
		break;
	case K_HOST6:
		r = ctnet_addr_parse(val, AF_INET6, CTNET_ADDR_PREFIX_OK,
				     "extra veth host IPv6 address", &v->host_addr6, err);
		v->has_host_addr6 = true;
		break;
	default:
		r = ctnet_addr_parse(val, AF_INET6, CTNET_ADDR_PREFIX_OK,
				     "extra veth local IPv6 address", &v->local_addr6, err);
		v->has_local_addr6 = true;
		break;
	}
	return r;
}

/* What only the whole spec shows: the same address twice, a /0. */
static int check_whole(const char *spec, const struct netd_extra_veth *v, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];

	if ((v->has_host_addr && v->has_local_addr && ctnet_addr_equal(&v->host_addr, &v->local_addr)) ||
	    (v->has_host_addr6 && v->has_local_addr6 && ctnet_addr_equal(&v->host_addr6, &v->local_addr6)))
		return ctnet_errf(err, EINVAL,
				  "invalid extra veth \"%s\": host and local address are the same",
				  ctnet_show(spec, shown));
	if ((v->has_host_addr && v->host_addr.prefix == 0) || (v->has_local_addr && v->local_addr.prefix == 0) ||
	    (v->has_host_addr6 && v->host_addr6.prefix == 0) ||
	    (v->has_local_addr6 && v->local_addr6.prefix == 0))
		return ctnet_errf(err, EINVAL, "invalid extra veth \"%s\": prefix length 0",
				  ctnet_show(spec, shown));
	return 0;
}

int netd_extra_veth_parse(const char *spec, struct netd_extra_veth *out, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX], shown2[CTNET_SHOW_MAX], buf[512], *save = NULL, *tok;
	struct netd_extra_veth v = { 0 };
	unsigned seen = 0;
	int r;

	if (strlen(spec) >= sizeof(buf))
		return ctnet_errf(err, EINVAL, "invalid extra veth \"%s\": too long", ctnet_show(spec, shown));
	snprintf(buf, sizeof(buf), "%s", spec);
	/* strtok would skip empty fields; ",," and a trailing "," are errors here. */
	tok = buf;
	char *comma = strchr(tok, ',');
	if (comma)
		*comma = '\0';
	save = comma ? comma + 1 : NULL;
	if ((r = ctnet_ifname_check(tok, err)) < 0) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, " (in extra veth \"%s\")", ctnet_show(spec, shown));
		return r;
	}
	if (!strncmp(tok, NETD_PREFIX_VETH, 3) || !strncmp(tok, NETD_PREFIX_BRIDGE, 3))
		return ctnet_errf(err, EINVAL,
				  "invalid extra veth \"%s\": names starting with ve- or vb- are ctnet's own pairs",
				  ctnet_show(spec, shown));
	memcpy(v.ifname, tok, strlen(tok) + 1); /* checked: at most 15 bytes */
	while (save) {
		char *eq;
		int k;
		tok = save;
		comma = strchr(tok, ',');
		if (comma)
			*comma = '\0';
		save = comma ? comma + 1 : NULL;
		eq = strchr(tok, '=');
		if (!eq || eq == tok || !eq[1])
			return ctnet_errf(err, EINVAL, "invalid extra veth \"%s\": expected KEY=VALUE, saw \"%s\"",
					  ctnet_show(spec, shown), ctnet_show(tok, shown2));
		*eq = '\0';
		for (k = 0; k < K_N && strcmp(tok, keys[k]); k++)
			;
		if (k == K_N)
			return ctnet_errf(err, EINVAL,
					  "invalid extra veth \"%s\": unknown key \"%s\" (host-bridge, host-address, local-address, host-address6, local-address6)",
					  ctnet_show(spec, shown), ctnet_show(tok, shown2));
		if (seen & (1u << k))
			return ctnet_errf(err, EINVAL, "invalid extra veth \"%s\": %s given twice",
					  ctnet_show(spec, shown), keys[k]);
		seen |= 1u << k;
		const char *val = eq + 1;
		r = key_set(&v, k, val, err);
		if (r < 0)
			return r;
	}
	if ((r = check_whole(spec, &v, err)) < 0)
		return r;
	*out = v;
	return 0;
}

static bool addr_same(bool ha, const struct ctnet_addr *a, bool hb, const struct ctnet_addr *b)
{
	if (ha != hb)
		return false;
	return !ha || (ctnet_addr_equal(a, b) && a->prefix == b->prefix);
}

bool netd_extra_veth_equal(const struct netd_extra_veth *a, const struct netd_extra_veth *b)
{
	return !strcmp(a->ifname, b->ifname) && !strcmp(a->host_bridge, b->host_bridge) &&
	       addr_same(a->has_host_addr, &a->host_addr, b->has_host_addr, &b->host_addr) &&
	       addr_same(a->has_local_addr, &a->local_addr, b->has_local_addr, &b->local_addr) &&
	       addr_same(a->has_host_addr6, &a->host_addr6, b->has_host_addr6, &b->host_addr6) &&
	       addr_same(a->has_local_addr6, &a->local_addr6, b->has_local_addr6, &b->local_addr6);
}

int netd_extra_veth_format(const struct netd_extra_veth *v, char *buf, size_t len)
{
	char a[CTNET_ADDR_STRLEN];
	size_t n;
	int w = snprintf(buf, len, "%s", v->ifname);

#define APPEND(...)                                                                        \
	do {                                                                               \
		n = (size_t)w;                                                             \
		if (n >= len)                                                              \
			return -ENOSPC;                                                    \
		w += snprintf(buf + n, len - n, __VA_ARGS__);                              \
	} while (0)
	if (v->host_bridge[0])
		APPEND(",host-bridge=%s", v->host_bridge);
	if (v->has_host_addr)
		APPEND(",host-address=%s", ctnet_addr_cidr_str(&v->host_addr, a));
	if (v->has_local_addr)
		APPEND(",local-address=%s", ctnet_addr_cidr_str(&v->local_addr, a));
	if (v->has_host_addr6)
		APPEND(",host-address6=%s", ctnet_addr_cidr_str(&v->host_addr6, a));
	if (v->has_local_addr6)
		APPEND(",local-address6=%s", ctnet_addr_cidr_str(&v->local_addr6, a));
#undef APPEND
	return (size_t)w < len ? 0 : -ENOSPC;
}
