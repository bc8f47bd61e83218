/* SPDX-License-Identifier: MIT */
/* ctnet-netd show's output (part of the program, not the library: see the Makefile): the same
 * links (and their impairment) for people and as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "netd_int.h"

/* An impairment as JSON: null when none, {"foreign": true} for a qdisc not ctnet's. */
json_t *netd_impair_json(const struct netd_impair *im, bool foreign)
{
	char buf[NETD_IMPAIR_STRLEN];
	json_t *j;

	if (foreign) {
		j = json_object();
		json_object_set_new(j, "foreign", json_true());
		return j;
	}
	if (!netd_impair_active(im))
		return json_null();
	j = json_object();
	ctnet_json_set_int(j, "delay_us", im->delay_us);
	ctnet_json_set_int(j, "jitter_us", im->jitter_us);
	ctnet_json_set_int(j, "loss_ppm", im->loss_ppm);
	json_object_set_new(j, "rate_bps", json_integer((json_int_t)im->rate_bps));
	ctnet_json_set_str(j, "delay", netd_impair_format_time(im->delay_us, buf));
	ctnet_json_set_str(j, "jitter", netd_impair_format_time(im->jitter_us, buf));
	ctnet_json_set_str(j, "loss", netd_impair_format_loss(im->loss_ppm, buf));
	if (im->rate_bps)
		ctnet_json_set_str(j, "rate", netd_impair_format_rate(im->rate_bps, buf));
	else
		json_object_set_new(j, "rate", json_null());
	return j;
}

/* An impairment as an indented line under its link; nothing when none. */
void netd_impair_text(const struct netd_impair *im, bool foreign)
{
	char a[NETD_IMPAIR_STRLEN];

	if (foreign) {
		printf("    impairment: a root qdisc that is not ctnet's\n");
		return;
	}
	if (!netd_impair_active(im))
		return;
	printf("    impairment");
	if (im->delay_us)
		printf(" delay %s", netd_impair_format_time(im->delay_us, a));
	if (im->jitter_us)
		printf(" jitter %s", netd_impair_format_time(im->jitter_us, a));
	if (im->loss_ppm)
		printf(" loss %s", netd_impair_format_loss(im->loss_ppm, a));
	if (im->rate_bps)
		printf(" rate %s", netd_impair_format_rate(im->rate_bps, a));
	printf("\n");
}

/* Prints the links as one JSON array; the exit code (a failure printed). */
int netd_show_json(struct ctnet_kern *kern, struct netd_link_info *v, size_t n,
		   struct ctnet_err *err)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_object(), *a = json_array(), *r = json_array();
		ctnet_json_set_str(j, "ifname", v[i].ifname);
		ctnet_json_set_int(j, "ifindex", v[i].ifindex);
		ctnet_json_set_str(j, "container", v[i].container);
		ctnet_json_set_str(j, "kind", v[i].kind);
		ctnet_json_set_str(j, "master", v[i].master);
		json_object_set_new(j, "up", json_boolean(v[i].up));
		ctnet_json_set_int(j, "mtu", v[i].mtu);
		for (size_t k = 0; k < v[i].naddrs; k++)
			json_array_append_new(a, json_string(v[i].addrs[k]));
		for (size_t k = 0; k < v[i].nroutes; k++)
			json_array_append_new(r, json_string(v[i].routes[k]));
		json_object_set_new(j, "addresses", a);
		json_object_set_new(j, "routes", r);
		if (!strcmp(v[i].kind, "veth")) {
			struct netd_impair im;
			bool foreign = false;
			if (netd_impair_read(kern, -1, v[i].ifname, &im, &foreign, err) < 0) {
				json_decref(j);
				json_decref(arr);
				return ctnet_cli_fail(err);
			}
			json_object_set_new(j, "impairment", netd_impair_json(&im, foreign));
		}
		json_array_append_new(arr, j);
	}
	return ctnet_json_print(stdout, arr) < 0 ? CTNET_EXIT_FAIL : 0;
}

/* Prints the links for people; the exit code (a failure printed). */
int netd_show_text(struct ctnet_kern *kern, struct netd_link_info *v, size_t n,
		   struct ctnet_err *err)
{
	for (size_t i = 0; i < n; i++) {
		printf("%-15s %-12s %-7s %-4s mtu %u%s%s\n", v[i].ifname,
		       v[i].container[0] ? v[i].container : "-", v[i].kind,
		       v[i].up ? "up" : "down", v[i].mtu, v[i].master[0] ? " master " : "",
		       v[i].master);
		for (size_t k = 0; k < v[i].naddrs; k++)
			printf("    address %s\n", v[i].addrs[k]);
		for (size_t k = 0; k < v[i].nroutes; k++)
			printf("    route %s\n", v[i].routes[k]);
		if (!strcmp(v[i].kind, "veth")) {
			struct netd_impair im;
			bool foreign = false;
			if (netd_impair_read(kern, -1, v[i].ifname, &im, &foreign, err) < 0) {
				return ctnet_cli_fail(err);
			}
			netd_impair_text(&im, foreign);
		}
	}
	return 0;
}
