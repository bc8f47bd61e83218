/* SPDX-License-Identifier: MIT */
/* ctnet-nat's use of the host config (ctnet.conf(5)): what init's options and the file ask
 * together, and restore's recording of the file's keys (part of the program, not the
 * library: see the Makefile). */
#include <stdio.h>
#include <string.h>

#include "main_int.h"

/* Whether two lists hold the same names, in any order. */
static bool same_names(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;
		while (j < nb && strcmp(a[i], b[j]))
			j++;
		if (j == nb)
			return false;
	}
	return true;
}

/* What init's options and the host config ask together: an option and the file's key that
 * say different things are refused (neither silently overrides the other); an option
 * alone or the file alone is taken; neither: no external interface (as before the host
 * config) and the recorded cluster CIDRs. */
int init_host(const struct ctnet_hostconf *hc, struct nat_host *h, const char **hc_ext, bool has_cluster,
		     bool no_cluster, struct ctnet_err *err)
{
	const char *file = ctnet_hostconf_path();
	if (h->n_ext && hc->n_ext && !same_names(h->ext, h->n_ext, hc_ext, hc->n_ext))
		return ctnet_errf(err, EINVAL,
				  "--external-interface differs from EXTERNAL_INTERFACE in \"%s\": change "
				  "the file or leave the option out", file);
	if ((has_cluster || no_cluster) && hc->n_cluster &&
	    !nat_cluster_same(h->cluster, h->n_cluster, hc->cluster, hc->n_cluster))
		return ctnet_errf(err, EINVAL,
				  "--%scluster-cidr differs from CLUSTER_CIDR in \"%s\": change the file or "
				  "leave the option out", no_cluster ? "no-" : "", file);
	if (!h->n_ext && hc->n_ext) {
		h->ext = hc_ext;
		h->n_ext = hc->n_ext;
	}
	h->set_ext = true;
	if (!has_cluster && !no_cluster && hc->n_cluster) {
		h->cluster = hc->cluster;
		h->n_cluster = hc->n_cluster;
	}
	h->set_cluster = has_cluster || no_cluster || hc->n_cluster;
	return 0;
}

/* The host config's keys first (recorded: the desired state), then the table rebuilt. */
int host_restore(struct ctnet_kern *kern, struct ctnet_err *err)
{
	struct ctnet_hostconf hc;
	const char *ext[CTNET_HOSTCONF_EXT_MAX];
	struct nat_host h;
	int r;
	if ((r = ctnet_hostconf_load(&hc, err)) < 0)
		return r;
	nat_host_of_conf(&hc, &h, ext);
	if ((h.set_ext || h.set_cluster) && (r = nat_set_host(kern, &h, err)) < 0)
		return r;
	return nat_restore(kern, err);
}
