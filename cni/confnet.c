/* SPDX-License-Identifier: MIT */
/* ctnet-cni's network config: where addresses come from (the subnet in any of its forms, the
 * host config's POOL by default) and the cluster CIDRs never masqueraded. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cni.h"
#include "../ipam/ipam.h"

/* A range's "gateway" is accepted when it is what ctnet makes it: the subnet's first address. */
static bool range_gateway_ok(const char *subnet, json_t *gw)
{
	struct ctnet_addr net, a;
	struct ctnet_err e = { 0 };
	if (!json_is_string(gw) || ctnet_cidr_parse(subnet, "subnet", &net, &e) < 0 || net.family != AF_INET ||
	    ctnet_addr_parse(json_string_value(gw), AF_INET, CTNET_ADDR_NOPREFIX, "gateway", &a, &e) < 0)
		return false;
	return ctnet_addr_v4_u32(&a) == ctnet_addr_v4_u32(&net) + 1;
}

/*
 * A host-local style "ranges": [[{"subnet": "CIDR"}]], as containerd's conf_template fills
 * it per node ({{.PodCIDR}}). ctnet allocates from one IPv4 subnet: more ranges, an IPv6
 * range (IPv6 is the host's /48, "ipv6": true) or rangeStart/rangeEnd/gateway are refused
 * rather than half-honoured. *out is the subnet's string, borrowed from the JSON.
 */
static int conf_ranges(json_t *ranges, const char *where, const char **out, struct cni_err *ce)
{
	json_t *set, *r, *v;
	const char *key;
	size_t i, j;

	if (!json_is_array(ranges) || json_array_size(ranges) == 0)
		return cni_errf(ce, CNI_ERR_CONFIG, "network config: %s must be a non-empty array of arrays", where);
	json_array_foreach(ranges, i, set) {
		if (!json_is_array(set) || json_array_size(set) == 0)
			return cni_errf(ce, CNI_ERR_CONFIG, "network config: %s[%zu] must be a non-empty array", where, i);
		json_array_foreach(set, j, r) {
			if (!json_is_object(r) || !json_is_string(json_object_get(r, "subnet")))
				return cni_errf(ce, CNI_ERR_CONFIG, "network config: %s[%zu][%zu] needs a \"subnet\" string", where, i, j);
			const char *s = json_string_value(json_object_get(r, "subnet"));
			json_object_foreach(r, key, v)
				if (strcmp(key, "subnet") && (strcmp(key, "gateway") || !range_gateway_ok(s, v)))
					return cni_errf(ce, CNI_ERR_CONFIG,
							"network config: %s[%zu][%zu].\"%.40s\" is not supported (ctnet-cni allocates from the whole subnet; its first address is the bridge's gateway)",
							where, i, j, key);
			if (strchr(s, ':'))
				return cni_errf(ce, CNI_ERR_CONFIG,
						"network config: %s: IPv6 subnet \"%.60s\" is not supported (IPv6 addresses come from the host's POOL6 /48 with \"ipv6\": true)",
						where, s);
			if (*out)
				return cni_errf(ce, CNI_ERR_CONFIG,
						"network config: %s: more than one IPv4 subnet (\"%.60s\"); ctnet-cni allocates from one",
						where, s);
			*out = s;
		}
	}
	return 0;
}

/*
 * ctnet allocates itself (a delegated IPAM plugin would fight ipam/): of an "ipam" object
 * only the host-local form is read, for its subnet; any other type is refused.
 */
static int conf_ipam(json_t *root, const char **subnet, struct cni_err *ce)
{
	json_t *ipam = json_object_get(root, "ipam"), *v;
	const char *key;

	if (!ipam || json_is_null(ipam))
		return 0;
	if (!json_is_object(ipam))
		return cni_errf(ce, CNI_ERR_CONFIG, "network config: \"ipam\" must be an object");
	json_object_foreach(ipam, key, v) {
		if (!strcmp(key, "type")) {
			if (!json_is_string(v) || (strcmp(json_string_value(v), "host-local") &&
						   strcmp(json_string_value(v), "ctnet")))
				return cni_errf(ce, CNI_ERR_FIELD,
						"network config: ipam type %s%.40s%s is not supported (ctnet-cni allocates itself; only a host-local \"ranges\" or \"subnet\" is read)",
						json_is_string(v) ? "\"" : "", json_is_string(v) ? json_string_value(v) : "(not a string)",
						json_is_string(v) ? "\"" : "");
		} else if (!strcmp(key, "ranges")) {
			if (conf_ranges(v, "ipam.ranges", subnet, ce) < 0)
				return -EINVAL;
		} else if (!strcmp(key, "subnet")) {
			if (!json_is_string(v))
				return cni_errf(ce, CNI_ERR_CONFIG, "network config: ipam.subnet must be a string");
			if (*subnet)
				return cni_errf(ce, CNI_ERR_CONFIG, "network config: more than one subnet given");
			*subnet = json_string_value(v);
		} else if (strcmp(key, "routes")) { /* routes: ctnet sets the default route itself */
			return cni_errf(ce, CNI_ERR_CONFIG, "network config: ipam.\"%.40s\" is not supported", key);
		}
	}
	if (!*subnet)
		return cni_errf(ce, CNI_ERR_CONFIG, "network config: \"ipam\" names no \"ranges\" or \"subnet\"");
	return 0;
}

/* The subnet (the host config's POOL, else ipam's default pool, when none) and the bridge. */
int cni_conf_subnet(json_t *root, const struct ctnet_hostconf *hc, struct cni_conf *c,
		    struct cni_err *ce)
{
	char pool4[CTNET_ADDR_STRLEN];
	const char *s = NULL;
	json_t *v;
	int rc;

	if ((rc = conf_ipam(root, &s, ce)) < 0)
		return rc;
	if ((v = json_object_get(root, "ranges")) && !json_is_null(v) &&
	    (rc = conf_ranges(v, "ranges", &s, ce)) < 0)
		return rc;
	if ((v = json_object_get(root, "subnet")) && !json_is_null(v)) {
		if (s)
			return cni_errf(ce, CNI_ERR_CONFIG, "network config: more than one subnet given (\"subnet\" and \"ranges\")");
		if (!json_is_string(v))
			return cni_errf(ce, CNI_ERR_CONFIG, "network config: \"subnet\" must be a string");
		s = json_string_value(v);
	}
	if (!s)
		s = hc && hc->pool4.family ? ctnet_addr_cidr_str(&hc->pool4, pool4) : IPAM_DEFAULT_POOL;
	if ((v = json_object_get(root, "bridge")) && !json_is_null(v)) {
		if (!json_is_string(v))
			return cni_errf(ce, CNI_ERR_CONFIG, "network config: \"bridge\" must be a string");
		if (ctnet_ifname_check(json_string_value(v), &ce->e) < 0)
			return cni_code(ce, CNI_ERR_CONFIG, -EINVAL);
		snprintf(c->bridge, sizeof(c->bridge), "%s", json_string_value(v));
	}
	struct ipam_pool pool;
	if (ipam_pool_init(s, c->bridge[0] != '\0', &pool, &ce->e) < 0)
		return cni_code(ce, CNI_ERR_CONFIG, -EINVAL);
	c->subnet = pool.net;
	ctnet_addr_cidr_str(&c->subnet, c->subnet_str);
	return 0;
}

static bool cidr_listed(const struct ctnet_addr *list, size_t n, const struct ctnet_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].prefix == a->prefix && ctnet_addr_equal(&list[i], a))
			return true;
	return false;
}

/*
 * "clusterCIDRs": destinations never masqueraded (pod and service ranges of the cluster).
 * The set is the host's: when the host config names CLUSTER_CIDR, the list must be the same.
 */
int cni_conf_cluster(json_t *root, const struct ctnet_hostconf *hc, struct cni_conf *c,
		     struct cni_err *ce)
{
	json_t *v = json_object_get(root, "clusterCIDRs"), *e;
	size_t i;

	if (!v || json_is_null(v)) {
		for (i = 0; hc && i < hc->n_cluster; i++)
			c->cluster[c->n_cluster++] = hc->cluster[i];
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) > CTNET_HOSTCONF_CLUSTER_MAX)
		return cni_errf(ce, CNI_ERR_CONFIG, "network config: \"clusterCIDRs\" must be an array of at most %d CIDR strings",
				CTNET_HOSTCONF_CLUSTER_MAX);
	json_array_foreach(v, i, e) {
		struct ctnet_addr a;
		if (!json_is_string(e) || ctnet_cidr_parse(json_string_value(e), "clusterCIDRs entry", &a, &ce->e) < 0)
			return json_is_string(e) ? cni_code(ce, CNI_ERR_CONFIG, -EINVAL)
						 : cni_errf(ce, CNI_ERR_CONFIG, "network config: clusterCIDRs[%zu] must be a string", i);
		if (cidr_listed(c->cluster, c->n_cluster, &a))
			return cni_errf(ce, CNI_ERR_CONFIG, "network config: clusterCIDRs: \"%.60s\" given twice", json_string_value(e));
		c->cluster[c->n_cluster++] = a;
	}
	if (hc && hc->n_cluster) {
		bool same = hc->n_cluster == c->n_cluster;
		for (i = 0; same && i < c->n_cluster; i++)
			same = cidr_listed(hc->cluster, hc->n_cluster, &c->cluster[i]);
		if (!same)
			return cni_errf(ce, CNI_ERR_CONFIG,
					"network config: \"clusterCIDRs\" differ from CLUSTER_CIDR in %s (the host has one cluster set)",
					ctnet_hostconf_path());
	}
	return 0;
}

