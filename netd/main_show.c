/* SPDX-License-Identifier: MIT */
/* ctnet-netd show's output (part of the program, not the library: see the Makefile): the same
 * links (and their impairment) for people and as JSON, each described once (lib/out.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "netd_int.h"
#include "out.h"

/* An impairment: JSON null when none, {"foreign": true} for a qdisc not ctnet's; for people
 * an indented line under its link (nothing when none). */
static void impair_out(struct out *o, const struct netd_impair *im, bool foreign)
{
	char a[NETD_IMPAIR_STRLEN];

	if (foreign) {
		out_open_object(o, "impairment");
		out_bool(o, PRINT_JSON, "foreign", true);
		out_text(o, "    impairment: a root qdisc that is not ctnet's\n");
		out_close_object(o);
		return;
	}
	if (!netd_impair_active(im)) {
		out_null(o, "impairment");
		return;
	}
	out_open_object(o, "impairment");
	out_uint(o, PRINT_JSON, "delay_us", NULL, im->delay_us);
	out_uint(o, PRINT_JSON, "jitter_us", NULL, im->jitter_us);
	out_uint(o, PRINT_JSON, "loss_ppm", NULL, im->loss_ppm);
	out_uint(o, PRINT_JSON, "rate_bps", NULL, im->rate_bps);
	out_text(o, "    impairment");
	out_str(o, im->delay_us ? PRINT_ANY : PRINT_JSON, "delay", " delay %s", netd_impair_format_time(im->delay_us, a));
	out_str(o, im->jitter_us ? PRINT_ANY : PRINT_JSON, "jitter", " jitter %s",
		netd_impair_format_time(im->jitter_us, a));
	out_str(o, im->loss_ppm ? PRINT_ANY : PRINT_JSON, "loss", " loss %s", netd_impair_format_loss(im->loss_ppm, a));
	if (im->rate_bps)
		out_str(o, PRINT_ANY, "rate", " rate %s", netd_impair_format_rate(im->rate_bps, a));
	else
		out_null(o, "rate");
	out_text(o, "\n");
	out_close_object(o);
}

/* A link's line (no header); its addresses, routes and impairment on lines under it. */
static const struct out_col link_cols[] = {
	{ .key = "ifname", .title = "IFNAME", .width = -15 },
	{ .key = "container", .title = "CONTAINER", .width = -12 },
	{ .key = "kind", .title = "KIND", .width = -7 },
	{ .key = "state", .title = "STATE", .width = -4 },
	{ .key = "mtu", .title = "MTU", .fmt = "mtu %s" },
	{ .key = "master", .fmt = " master %s" },
};

static int link_out(struct ctnet_kern *kern, struct out *o, const struct netd_link_info *l, struct ctnet_err *err)
{
	out_row_open(o);
	out_str(o, PRINT_ANY, "ifname", NULL, l->ifname);
	out_int(o, PRINT_JSON, "ifindex", NULL, l->ifindex);
	out_str(o, PRINT_ANY, "container", NULL, l->container);
	out_str(o, PRINT_ANY, "kind", NULL, l->kind);
	out_str(o, PRINT_ANY, "master", NULL, l->master);
	out_bool(o, PRINT_JSON, "up", l->up);
	out_str(o, PRINT_FP, "state", NULL, l->up ? "up" : "down");
	out_uint(o, PRINT_ANY, "mtu", NULL, l->mtu);
	out_row_flush(o);
	out_open_array(o, "addresses");
	for (size_t k = 0; k < l->naddrs; k++)
		out_str(o, PRINT_ANY, NULL, "    address %s\n", l->addrs[k]);
	out_close_array(o);
	out_open_array(o, "routes");
	for (size_t k = 0; k < l->nroutes; k++)
		out_str(o, PRINT_ANY, NULL, "    route %s\n", l->routes[k]);
	out_close_array(o);
	if (!strcmp(l->kind, "veth")) {
		struct netd_impair im;
		bool foreign = false;
		if (netd_impair_read(kern, -1, l->ifname, &im, &foreign, err) < 0)
			return -1;
		impair_out(o, &im, foreign);
	}
	out_row_close(o);
	return 0;
}

int netd_show_print(struct ctnet_kern *kern, bool json, const struct netd_link_info *v, size_t n,
		    struct ctnet_err *err)
{
	struct out o;

	out_init(&o, stdout, json ? OUT_JSON : OUT_TEXT);
	out_table_open(&o, NULL, link_cols, ARRAY_SIZE(link_cols), OUT_NO_HEADER);
	for (size_t i = 0; i < n; i++) {
		if (link_out(kern, &o, &v[i], err) < 0) {
			out_end(&o);
			return ctnet_cli_fail(err);
		}
	}
	out_table_close(&o);
	return ctnet_cli_out_end(&o, 0);
}
