/* SPDX-License-Identifier: MIT */
/* A record described once (lib/out.h): up's KEY=VALUE lines, its JSON, status' cells. */
#include "launch.h"
#include "out.h"

/* A JSON array of interface names; for a shell, nixos-container's space-separated list (of
 * checked names: nothing a shell reads differently inside "..."), when there are any. */
static void names_out(struct out *o, const char *key, const char *shell_key, const char (*v)[IFNAMSIZ], size_t n)
{
	out_open_array(o, key);
	if (n)
		out_text(o, "%s=\"", shell_key);
	for (size_t i = 0; i < n; i++)
		out_str(o, PRINT_ANY, NULL, i ? " %s" : "%s", v[i]);
	if (n)
		out_text(o, "\"\n");
	out_close_array(o);
}

/* JSON: [{"spec", "host_ip"}]; for a shell HOST_PORT=SPEC,SPEC (specs are [a-z0-9:-]). */
static void forwards_out(struct out *o, const struct ct_spec *s)
{
	out_open_array(o, "forwards");
	if (s->n_forwards)
		out_text(o, "HOST_PORT=");
	for (size_t i = 0; i < s->n_forwards; i++) {
		char buf[64], ip[CTNET_ADDR_STRLEN];
		out_open_object(o, NULL);
		out_str(o, PRINT_ANY, "spec", i ? ",%s" : "%s", nat_forward_str(&s->forwards[i], buf, sizeof(buf)));
		if (s->forwards[i].has_host_ip)
			out_str(o, PRINT_JSON, "host_ip", NULL, ctnet_addr_str(&s->forwards[i].host_ip, ip));
		out_close_object(o);
	}
	if (s->n_forwards)
		out_text(o, "\n");
	out_close_array(o);
}

/* What only the JSON says: the link's settings, who manages it, impairment, extra veths. */
static void extras_out(struct out *o, const struct ct_record *r)
{
	const struct netd_impair *im = &r->spec.impair;
	char t[NETD_IMPAIR_STRLEN];

	if (r->spec.mac[0])
		out_str(o, PRINT_JSON, "mac", NULL, r->spec.mac);
	if (r->spec.mtu)
		out_int(o, PRINT_JSON, "mtu", NULL, r->spec.mtu);
	if (r->spec.origin[0])
		out_str(o, PRINT_JSON, "origin", NULL, r->spec.origin);
	if (r->spec.runtime_id[0])
		out_str(o, PRINT_JSON, "runtime_id", NULL, r->spec.runtime_id);
	if (r->spec.runtime_name[0])
		out_str(o, PRINT_JSON, "runtime_name", NULL, r->spec.runtime_name);
	if (netd_impair_active(im)) {
		out_open_object(o, "impairment");
		if (im->delay_us)
			out_str(o, PRINT_JSON, "delay", NULL, netd_impair_format_time(im->delay_us, t));
		if (im->jitter_us)
			out_str(o, PRINT_JSON, "jitter", NULL, netd_impair_format_time(im->jitter_us, t));
		if (im->loss_ppm)
			out_str(o, PRINT_JSON, "loss", NULL, netd_impair_format_loss(im->loss_ppm, t));
		if (im->rate_bps)
			out_str(o, PRINT_JSON, "rate", NULL, netd_impair_format_rate(im->rate_bps, t));
		out_close_object(o);
	}
	if (r->spec.n_extra_veths) {
		out_open_array(o, "extra_veths");
		for (size_t i = 0; i < r->spec.n_extra_veths; i++) {
			char v[NETD_EXTRA_VETH_STRLEN];
			if (netd_extra_veth_format(&r->spec.extra_veths[i], v, sizeof(v)) >= 0)
				out_str(o, PRINT_JSON, NULL, NULL, v);
		}
		out_close_array(o);
	}
}

void record_out(struct out *o, const struct ct_record *r)
{
	char a[CTNET_ADDR_STRLEN];

	out_str(o, PRINT_ANY, "name", "NAME=%s\n", r->spec.name);
	out_str(o, PRINT_ANY, "mode", "MODE=%s\n", r->spec.shared ? "shared" : "private");
	if (r->netns[0])
		out_str(o, PRINT_ANY, "netns", "NETNS=%s\n", r->netns);
	if (r->pid)
		out_int(o, PRINT_JSON, "pid", NULL, r->pid);
	if (r->host_ifname[0])
		out_str(o, PRINT_ANY, "host_ifname", "HOST_IFNAME=%s\n", r->host_ifname);
	if (r->ifname[0])
		out_str(o, PRINT_ANY, "ifname", "IFNAME=%s\n", r->ifname);
	if (r->spec.bridge[0])
		out_str(o, PRINT_ANY, "bridge", "HOST_BRIDGE=%s\n", r->spec.bridge);
	extras_out(o, r);
	if (r->host.family)
		out_str(o, PRINT_ANY, "host_address", "HOST_ADDRESS=%s\n", ctnet_addr_cidr_str(&r->host, a));
	if (r->local.family)
		out_str(o, PRINT_ANY, "local_address", "LOCAL_ADDRESS=%s\n", ctnet_addr_cidr_str(&r->local, a));
	if (r->host6.family)
		out_str(o, PRINT_ANY, "host_address6", "HOST_ADDRESS6=%s\n", ctnet_addr_cidr_str(&r->host6, a));
	if (r->local6.family)
		out_str(o, PRINT_ANY, "local_address6", "LOCAL_ADDRESS6=%s\n", ctnet_addr_cidr_str(&r->local6, a));
	/* The JSON lists the forwards here, a shell's HOST_PORT comes last (nixos-container's order). */
	out_json_slot(o, "forwards");
	if (r->spec.n_interfaces || r->spec.n_macvlans) {
		names_out(o, "interfaces", "INTERFACES", r->spec.interfaces, r->spec.n_interfaces);
		names_out(o, "macvlans", "MACVLANS", r->spec.macvlans, r->spec.n_macvlans);
	}
	forwards_out(o, &r->spec);
}
