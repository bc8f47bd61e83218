/* SPDX-License-Identifier: MIT */
/* The CNI front-end: CNI_* environment and network config into one spec; a static IP or
 * MAC a runtime asks for; what an ADD for an attachment that is up keeps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../ipam/ipam.h"
#include "../netd/netd.h"
#include "cni.h"

void cni_bridge_gateway(const struct cni_conf *conf, struct ctnet_addr *gw)
{
	*gw = conf->subnet;
	ctnet_addr_set_v4(gw, ctnet_addr_v4_u32(&conf->subnet) + 1, conf->subnet.prefix);
}

/* IP= (CNI_ARGS) or runtimeConfig.ips: the address asked for, and the code for its errors. */
static int wanted_addr(const struct cni_env *env, const struct cni_conf *conf, struct ctnet_addr *a,
		       unsigned *code, struct cni_err *ce)
{
	char x[CTNET_ADDR_STRLEN], y[CTNET_ADDR_STRLEN];

	*code = env->ip[0] ? CNI_ERR_ENV : CNI_ERR_CONFIG;
	if (!env->ip[0]) {
		*a = conf->ip;
		return conf->has_ip ? 1 : 0;
	}
	if (ctnet_addr_parse(env->ip, 0, CTNET_ADDR_NOPREFIX, "CNI_ARGS IP", a, &ce->e) < 0)
		return cni_code(ce, CNI_ERR_ENV, -EINVAL);
	if (conf->has_ip && !ctnet_addr_equal(a, &conf->ip))
		return cni_errf(ce, CNI_ERR_ENV, "CNI_ARGS IP=%s and runtimeConfig.ips %s: two addresses",
				ctnet_addr_str(a, x), ctnet_addr_str(&conf->ip, y));
	return 1;
}

/* A requested address, as given addresses to reserve: the container side of a pair of the
 * subnet (with the pair's host side), or with a bridge one address of the subnet. */
static int static_addr(const struct cni_env *env, const struct cni_conf *conf, struct ct_spec *o,
		       struct cni_err *ce)
{
	char a[CTNET_ADDR_STRLEN], l[CTNET_ADDR_STRLEN];
	struct ctnet_addr want, host, local;
	struct ipam_pool pool;
	unsigned code;
	int64_t slot;
	int rc = wanted_addr(env, conf, &want, &code, ce);

	if (rc <= 0)
		return rc;
	ctnet_addr_str(&want, a);
	if (want.family != AF_INET)
		return cni_errf(ce, code, "IP %s: ctnet-cni takes an IPv4 address (the IPv6 one, with "
				"\"ipv6\": true, is the host's ULA prefix and the IPv4 address)", a);
	if (ipam_pool_init(conf->subnet_str, conf->bridge[0] != '\0', &pool, &ce->e) < 0)
		return cni_code(ce, CNI_ERR_CONFIG, -EINVAL);
	slot = ipam_pool_index(&pool, &want);
	if (slot < 0)
		return cni_errf(ce, code, "IP %s: not a container address of subnet %s%s", a, conf->subnet_str,
				conf->bridge[0] ? " (the network, broadcast and bridge addresses are not)"
						: " (pairs: 10.233.N.2 for N 1-254 in a /16, then the .4k+2 of each /30)");
	ipam_pool_slot(&pool, (uint32_t)slot, &host, &local);
	if (!ctnet_addr_equal(&local, &want))
		return cni_errf(ce, code, "IP %s: the host side of pair %s/%s; ask for %s", a, a,
				ctnet_addr_str(&local, l), l);
	o->local = local;
	if (conf->bridge[0])
		o->local.prefix = conf->subnet.prefix;
	else
		o->host = host;
	o->reserve = true;
	return 0;
}

/* MAC= (CNI_ARGS) or runtimeConfig.mac: the container side's MAC. */
static int static_mac(const struct cni_env *env, const struct cni_conf *conf, struct ct_spec *o,
		      struct cni_err *ce)
{
	const char *mac = env->mac[0] ? env->mac : conf->mac;
	unsigned char b[6];

	if (!mac[0])
		return 0;
	if (netd_mac_parse(mac, b, &ce->e) < 0)
		return cni_code(ce, env->mac[0] ? CNI_ERR_ENV : CNI_ERR_CONFIG, -EINVAL);
	if (env->mac[0] && conf->mac[0] && strcasecmp(env->mac, conf->mac))
		return cni_errf(ce, CNI_ERR_ENV, "CNI_ARGS MAC=%s and runtimeConfig.mac %s: two MACs",
				env->mac, conf->mac);
	snprintf(o->mac, sizeof(o->mac), "%.17s", mac); /* netd_mac_parse checked the length */
	return 0;
}

int cni_spec(const struct cni_env *env, const struct cni_conf *conf, struct ct_spec *o,
	     struct cni_err *ce)
{
	char name[CTNET_NAME_MAX + 1];
	int rc;

	cni_attachment_name(env->container_id, env->ifname, name);
	ct_spec_init(o, name);
	o->netns_kind = CT_NETNS_PATH;
	if (strlen(env->netns) >= sizeof(o->netns_path))
		return cni_errf(ce, CNI_ERR_ENV, "CNI_NETNS: path too long");
	snprintf(o->netns_path, sizeof(o->netns_path), "%s", env->netns);
	snprintf(o->ifname, sizeof(o->ifname), "%s", env->ifname);
	if (conf->hc)
		ct_spec_host(o, conf->hc); /* POOL6: the IPv6 /48 */
	o->has_pool = true;
	o->pool = conf->subnet;
	o->ipv6 = conf->ipv6;
	o->mtu = conf->mtu;
	o->no_nat = !conf->ip_masq;
	snprintf(o->bridge, sizeof(o->bridge), "%s", conf->bridge);
	if (conf->bridge[0])
		cni_bridge_gateway(conf, &o->bridge_gw); /* ct_up makes the bridge */
	snprintf(o->origin, sizeof(o->origin), "cni:%s", conf->name);
	snprintf(o->runtime_id, sizeof(o->runtime_id), "%s", env->container_id);
	if (env->pod_name[0] && env->pod_namespace[0])
		snprintf(o->runtime_name, sizeof(o->runtime_name), "%.32s/%.31s", env->pod_namespace, env->pod_name);
	else
		snprintf(o->runtime_name, sizeof(o->runtime_name), "%s", env->pod_name);
	for (size_t i = 0; i < conf->n_ports && o->n_forwards < NAT_MAX_FORWARDS; i++)
		o->forwards[o->n_forwards++] = conf->ports[i].fwd;
	if ((rc = static_addr(env, conf, o, ce)) < 0 || (rc = static_mac(env, conf, o, ce)) < 0)
		return rc;
	return 0;
}

/* The attachment's address against a requested one; the record's own request kept. */
static int keep_addr(struct ct_spec *o, const struct ct_record *rec, struct cni_err *ce)
{
	char have[CTNET_ADDR_STRLEN], want[CTNET_ADDR_STRLEN];

	if (o->reserve && !ctnet_addr_equal(&o->local, &rec->local))
		return cni_errf(ce, CNI_ERR_ENV,
				"ADD for attachment \"%s\", which is up with %s: IP %s cannot be given to it "
				"in place (DEL it first)",
				o->name, ctnet_addr_str(&rec->local, have), ctnet_addr_str(&o->local, want));
	/* Asked again for the address it has (podman's reload), or not asked: what its first
	 * ADD requested stays the request, so nothing differs. */
	o->host = rec->spec.host;
	o->local = rec->spec.local;
	o->reserve = false;
	return 0;
}

int cni_spec_keep(struct ct_spec *o, const struct cni_conf *conf, const struct cni_env *env,
		  struct cni_err *ce)
{
	struct ct_record *rec = malloc(sizeof(*rec));
	struct ctnet_err ignored;
	const char *why;
	int rc = 0;

	if (!rec)
		return cni_errf(ce, CNI_ERR_INTERNAL, "ADD: out of memory");
	if (record_read(o->name, rec, &ignored) < 0 || !ct_state_record(rec, &why))
		goto out;
	if ((rc = keep_addr(o, rec, ce)) < 0)
		goto out;
	if (!conf->ports_stated) {
		/* podman replaces the list's capabilities with {"ips": true} when it asks for a
		 * static address and the list declares no "ips": its port mappings then never
		 * reach the plugin. Saying nothing is not asking for none. */
		o->n_forwards = rec->spec.n_forwards;
		memcpy(o->forwards, rec->spec.forwards, sizeof(o->forwards));
	}
	if (!env->mac[0] && !conf->mac[0])
		snprintf(o->mac, sizeof(o->mac), "%s", rec->spec.mac);
out:
	free(rec);
	return rc;
}
