/* SPDX-License-Identifier: MIT */
/* `ctnet up --config FILE`: nixos-container's NAME.conf, read strictly as data. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctnet.h"
#include "nixosconf.h"

/* up_opts points into this; one config per process. */
static struct {
	struct nixosconf conf;
	char host[CTNET_ADDR_STRLEN], local[CTNET_ADDR_STRLEN];
	char host6[CTNET_ADDR_STRLEN], local6[CTNET_ADDR_STRLEN];
	char ports[NIXOSCONF_VALUE_MAX + 1];
	char interfaces[NIXOSCONF_VALUE_MAX + 1], macvlans[NIXOSCONF_VALUE_MAX + 1];
} cfg;

/* "eth1 eth2" into list (pointing into buf). */
static int split_words(char *buf, const char *key, const char *path, const char **list, size_t *n,
		       struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	for (char *save = NULL, *p = strtok_r(buf, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
		if (*n >= CT_MAX_EXTRA)
			return ctnet_errf(err, E2BIG, "config \"%s\": more than %d %s entries",
					  ctnet_show(path, shown), CT_MAX_EXTRA, key);
		list[(*n)++] = p;
	}
	return 0;
}

int up_apply_config(struct up_opts *o, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	struct nixosconf *c = &cfg.conf;
	struct stat st;
	int rc;

	/* Root-owned and not writable by others, as for everything ctnet trusts. */
	if (stat(o->config, &st) < 0)
		return ctnet_err_sys(err, errno, "config \"%s\"", ctnet_show(o->config, shown));
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return ctnet_errf(err, EPERM, "config \"%s\": owned by uid %u, not root",
				  ctnet_show(o->config, shown), (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ctnet_errf(err, EPERM, "config \"%s\": writable by group or others",
				  ctnet_show(o->config, shown));
	rc = nixosconf_read(AT_FDCWD, o->config, c, err);
	if (rc < 0)
		return rc;

	/* Command-line options win over the file. */
	if (!c->private_network) {
		o->shared = true;
		return 0;
	}
	if (!o->host_address && c->host_address.family)
		o->host_address = ctnet_addr_cidr_str(&c->host_address, cfg.host);
	if (!o->local_address && c->local_address.family)
		o->local_address = ctnet_addr_cidr_str(&c->local_address, cfg.local);
	if (!o->host_address6 && c->host_address6.family)
		o->host_address6 = ctnet_addr_cidr_str(&c->host_address6, cfg.host6);
	if (!o->local_address6 && c->local_address6.family)
		o->local_address6 = ctnet_addr_cidr_str(&c->local_address6, cfg.local6);
	if (!o->bridge && c->host_bridge[0])
		o->bridge = c->host_bridge;
	if (!o->mac && c->local_mac_address[0])
		o->mac = c->local_mac_address;
	if (!o->n_interfaces && c->interfaces[0]) {
		snprintf(cfg.interfaces, sizeof(cfg.interfaces), "%s", c->interfaces);
		if ((rc = split_words(cfg.interfaces, "INTERFACES", o->config, o->interfaces,
				      &o->n_interfaces, err)) < 0)
			return rc;
	}
	if (!o->n_macvlans && c->macvlans[0]) {
		snprintf(cfg.macvlans, sizeof(cfg.macvlans), "%s", c->macvlans);
		if ((rc = split_words(cfg.macvlans, "MACVLANS", o->config, o->macvlans,
				      &o->n_macvlans, err)) < 0)
			return rc;
	}
	if (!o->n_forwards && c->host_port[0]) {
		snprintf(cfg.ports, sizeof(cfg.ports), "%s", c->host_port);
		for (char *save = NULL, *p = strtok_r(cfg.ports, ",", &save); p;
		     p = strtok_r(NULL, ",", &save)) {
			if (o->n_forwards >= NAT_MAX_FORWARDS)
				return ctnet_errf(err, E2BIG, "config \"%s\": more than %d HOST_PORT entries",
						  ctnet_show(o->config, shown), NAT_MAX_FORWARDS);
			o->forwards[o->n_forwards++] = p;
		}
	}
	return 0;
}
