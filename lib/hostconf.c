/* SPDX-License-Identifier: MIT */
#include "hostconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nixosconf.h"

const char *ctnet_hostconf_path(void)
{
	const char *v = getenv("CTNET_CONF");
	return v && *v ? v : CTNET_CONF_DEFAULT;
}

static int add_cluster(struct ctnet_hostconf *hc, const char *s, struct ctnet_err *err)
{
	struct ctnet_addr net;
	char shown[CTNET_SHOW_MAX];
	if (ctnet_cidr_parse(s, "CLUSTER_CIDR", &net, err) < 0)
		return -EINVAL;
	/* Never masqueraded: a default route's worth would send containers' private addresses
	 * to the internet. A cluster is a private range: /8 at the widest. */
	if (net.prefix < 8)
		return ctnet_errf(err, EINVAL,
				  "CLUSTER_CIDR \"%s\": wider than /8 (its traffic would leave "
				  "unmasqueraded beyond the cluster)",
				  ctnet_show(s, shown));
	for (size_t i = 0; i < hc->n_cluster; i++)
		if (hc->cluster[i].family == net.family && hc->cluster[i].prefix == net.prefix &&
		    ctnet_addr_equal(&hc->cluster[i], &net))
			return ctnet_errf(err, EINVAL, "CLUSTER_CIDR \"%s\" given twice",
					  ctnet_show(s, shown));
	if (hc->n_cluster == CTNET_HOSTCONF_CLUSTER_MAX)
		return ctnet_errf(err, EINVAL, "more than %d CLUSTER_CIDR values",
				  CTNET_HOSTCONF_CLUSTER_MAX);
	hc->cluster[hc->n_cluster++] = net;
	return 0;
}

static int add_ext(struct ctnet_hostconf *hc, const char *s, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	if (ctnet_ifname_check(s, err) < 0)
		return -EINVAL;
	for (size_t i = 0; i < hc->n_ext; i++)
		if (!strcmp(hc->ext[i], s))
			return ctnet_errf(err, EINVAL, "EXTERNAL_INTERFACE \"%s\" given twice",
					  ctnet_show(s, shown));
	if (hc->n_ext == CTNET_HOSTCONF_EXT_MAX)
		return ctnet_errf(err, EINVAL, "more than %d EXTERNAL_INTERFACE values",
				  CTNET_HOSTCONF_EXT_MAX);
	snprintf(hc->ext[hc->n_ext++], sizeof(hc->ext[0]), "%s", s);
	return 0;
}

/* Each comma-separated item of value through add(); an empty item is an error. */
static int each_item(struct ctnet_hostconf *hc, const char *key, const char *value,
		     int (*add)(struct ctnet_hostconf *, const char *, struct ctnet_err *),
		     struct ctnet_err *err)
{
	char buf[NIXOSCONF_VALUE_MAX + 1];
	snprintf(buf, sizeof(buf), "%s", value);
	for (char *p = buf, *end;; p = end + 1) {
		end = strchr(p, ',');
		if (end)
			*end = '\0';
		if (!*p)
			return ctnet_errf(err, EINVAL, "%s: empty item in the list", key);
		int r = add(hc, p, err);
		if (r < 0 || !end)
			return r;
	}
}

static int pool_key(struct ctnet_addr *out, const char *key, const char *value, int family,
		    struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	if (out->family)
		return ctnet_errf(err, EINVAL, "%s given twice", key);
	if (ctnet_cidr_parse(value, key, out, err) < 0)
		return -EINVAL;
	if (out->family != family)
		return ctnet_errf(err, EINVAL, "%s \"%s\": expected an %s network", key,
				  ctnet_show(value, shown), family == AF_INET ? "IPv4" : "IPv6");
	if (family == AF_INET && out->prefix > 30)
		return ctnet_errf(err, EINVAL, "POOL \"%s\": a pool needs a prefix of /30 or shorter",
				  ctnet_show(value, shown));
	if (family == AF_INET6 && out->prefix != 48)
		return ctnet_errf(err, EINVAL,
				  "POOL6 \"%s\": expected a /48 (each container's IPv6 address is "
				  "the /48 followed by its IPv4 address)",
				  ctnet_show(value, shown));
	return 0;
}

static int hostconf_cb(const char *key, const char *value, void *data, struct ctnet_err *err)
{
	struct ctnet_hostconf *hc = data;
	char shown[CTNET_SHOW_MAX];

	if (!strcmp(key, "POOL"))
		return pool_key(&hc->pool4, key, value, AF_INET, err);
	if (!strcmp(key, "POOL6"))
		return pool_key(&hc->pool6, key, value, AF_INET6, err);
	if (!strcmp(key, "CLUSTER_CIDR"))
		return each_item(hc, key, value, add_cluster, err);
	if (!strcmp(key, "EXTERNAL_INTERFACE"))
		return each_item(hc, key, value, add_ext, err);
	return ctnet_errf(err, EINVAL,
			  "unknown key \"%s\" (expected POOL, POOL6, CLUSTER_CIDR or "
			  "EXTERNAL_INTERFACE)",
			  ctnet_show(key, shown));
}

int ctnet_hostconf_parse(const char *text, size_t len, const char *shown,
			 struct ctnet_hostconf *hc, struct ctnet_err *err)
{
	char what[CTNET_SHOW_MAX + 32], sh[CTNET_SHOW_MAX];
	*hc = (struct ctnet_hostconf){ .present = true };
	snprintf(what, sizeof(what), "host config \"%s\"", ctnet_show(shown, sh));
	int r = nixosconf_parse_kv(text, len, what, hostconf_cb, hc, err);
	if (r < 0)
		*hc = (struct ctnet_hostconf){ 0 };
	return r;
}

int ctnet_hostconf_load(struct ctnet_hostconf *hc, struct ctnet_err *err)
{
	const char *path = ctnet_hostconf_path();
	char *text = NULL;
	size_t len = 0;
	*hc = (struct ctnet_hostconf){ 0 };
	int r = nixosconf_slurp(AT_FDCWD, path, &text, &len, err);
	if (r == -ENOENT) {
		ctnet_err_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	r = ctnet_hostconf_parse(text, len, path, hc, err);
	free(text);
	return r;
}

bool ctnet_hostconf_in_cluster(const struct ctnet_hostconf *hc, const struct ctnet_addr *a)
{
	for (size_t i = 0; i < hc->n_cluster; i++)
		if (hc->cluster[i].family == a->family && ctnet_addr_in(a, &hc->cluster[i]) &&
		    (a->prefix < 0 || a->prefix >= hc->cluster[i].prefix))
			return true;
	return false;
}
