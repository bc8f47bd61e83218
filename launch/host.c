/* SPDX-License-Identifier: MIT */
/* The host config (lib/hostconf.h) handed to what a container's up uses: ipam's defaults in
 * the spec, NAT's host-wide lists in its desired state. Front-ends read the file once. */
#include "hostconf.h"
#include "spec.h"
#include "up.h"

void ct_spec_host(struct ct_spec *s, const struct ctnet_hostconf *hc)
{
	s->host_pool = hc->pool4;
	s->host_prefix6 = hc->pool6;
}

int ct_host_apply(struct ctnet_kern *kern, const struct ctnet_hostconf *hc, struct ctnet_err *err)
{
	const char *ext[CTNET_HOSTCONF_EXT_MAX];
	struct nat_host h;

	nat_host_of_conf(hc, &h, ext);
	if (!h.set_ext && !h.set_cluster)
		return 0;
	return nat_set_host(kern, &h, err);
}
