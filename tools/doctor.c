/* SPDX-License-Identifier: MIT */
/*
 * ctnet doctor: why a container's traffic is dead. The engine (launch/doctor.c: ct_judge's
 * faults of each container, then the modules' host checks) fills the findings; this prints
 * them with one printer (table or --json).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctnet.h"
#include "hostconf.h"
#include "finding.h"
#include "out.h"
#include "state.h"

int doctor_quick(struct ctnet_kern *kern, const char *host_ifname, struct ctnet_findings *out, struct ctnet_err *err)
{
	return nat_doctor_quick(kern, host_ifname, out, err);
}

void doctor_warn(struct ctnet_kern *kern, const char *host_ifname)
{
	struct ctnet_findings f = { 0 };
	struct ctnet_err e;
	const char *off = getenv("CTNET_NO_WARN");
	if (off && *off && strcmp(off, "0"))
		return; /* asked for quiet (and how bench/doctor.sh measures what the check costs) */
	if (doctor_quick(kern, host_ifname, &f, &e) == 0) {
		for (size_t i = 0; i < f.n; i++)
			if (f.v[i].sev == CTNET_SEV_BLOCKS) {
				fprintf(stderr, "ctnet: warning: %s; run `ctnet doctor` for the fix\n",
					f.v[i].evidence);
				break;
			}
	}
	ctnet_findings_free(&f);
}

/* A finding: three lines for people, an object in JSON. */
static void finding_out(struct out *o, const struct ctnet_finding *x)
{
	out_open_object(o, NULL);
	out_str(o, PRINT_ANY, "severity", "%-8s  ", ctnet_severity_name(x->sev));
	out_str(o, PRINT_ANY, "code", "%s  ", x->code);
	out_json_slot(o, "container"); /* JSON: before the object; text: after it */
	out_str(o, PRINT_ANY, "object", "%s", x->object);
	if (x->container[0])
		out_str(o, PRINT_ANY, "container", "  container %s", x->container);
	out_text(o, "\n");
	out_str(o, PRINT_ANY, "evidence", "          %s\n", x->evidence);
	if (x->fix[0])
		out_str(o, PRINT_ANY, "fix", "          fix: %s\n", x->fix);
	out_close_object(o);
}

/* The one printer of findings: each, then the counts (JSON: the counts first). The exit
 * code of a failure to print, or rc. */
static int print_findings(const struct ctnet_findings *f, size_t n_checked, bool json, int rc)
{
	size_t count[3] = { 0 };
	struct out o;

	for (size_t i = 0; i < f->n; i++)
		count[f->v[i].sev]++;
	out_init(&o, stdout, json ? OUT_JSON : OUT_TEXT);
	out_open_object(&o, NULL);
	out_json_slot(&o, "containers");
	out_json_slot(&o, "blocks");
	out_json_slot(&o, "degrades");
	out_json_slot(&o, "notes");
	out_open_array(&o, "findings");
	for (size_t i = 0; i < f->n; i++)
		finding_out(&o, &f->v[i]);
	out_close_array(&o);
	out_uint(&o, PRINT_ANY, "containers", "%llu container", n_checked);
	out_text(&o, "%s checked: ", n_checked == 1 ? "" : "s");
	out_uint(&o, PRINT_ANY, "blocks", "%llu blocking, ", count[CTNET_SEV_BLOCKS]);
	out_uint(&o, PRINT_ANY, "degrades", "%llu degrading, ", count[CTNET_SEV_DEGRADES]);
	out_uint(&o, PRINT_ANY, "notes", "%llu note", count[CTNET_SEV_NOTE]);
	out_text(&o, "%s\n", count[CTNET_SEV_NOTE] == 1 ? "" : "s");
	out_close_object(&o);
	return ctnet_cli_out_end(&o, rc);
}

int cmd_doctor(struct ctnet_kern *kern, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "inside", no_argument, NULL, 'i' },
		{ "host-only", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctnet_findings f = { 0 };
	struct ctnet_err err;
	bool json = false, inside = true;
	size_t n = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			printf("Usage: ctnet doctor [NAME] [--json] [--host-only]\n"
			       "Check the host path of every container (or NAME): other tables' drop\n"
			       "policies and rules, foreign DNAT of forwarded ports, sysctls, host links,\n"
			       "addresses and routes, clashing addresses and routes, external interfaces,\n"
			       "MTU, conntrack fill, host processes on forwarded ports, ctnet's NAT elements,\n"
			       "the cluster CIDRs across hosts (routes to other hosts' ranges and their\n"
			       "protocol, overlapping pools, what masquerades traffic to them),\n"
			       "and inside each container its link, address and routes (--host-only: the\n"
			       "inside judged by the host link's carrier, without entering). Each finding has\n"
			       "a severity (blocks, degrades, note), the object, the evidence and the fix.\n"
			       "Exit 0 when nothing blocks, 1 when something does (or on error).\n");
			return 0;
		}
		if (opt == 'j')
			json = true;
		else if (opt == 'i')
			inside = true; /* the default; kept for scripts */
		else if (opt == 'H')
			inside = false;
		else
			return ctnet_cli_usage("doctor: bad option");
	}
	if (argc - optind > 1)
		return ctnet_cli_usage("doctor: at most one NAME");
	const char *name = optind < argc ? argv[optind] : NULL;
	if (name && ctnet_name_check(name, &err) < 0)
		return ctnet_cli_fail(&err);
	/* The host config, read once: a bad one is a finding (and the checks go on without it). */
	struct ctnet_hostconf hc;
	if (ctnet_hostconf_load(&hc, &err) < 0) {
		ctnet_finding_add(&f, CTNET_SEV_BLOCKS, "host-config-invalid", NULL, ctnet_hostconf_path(),
				  "correct the file (ctnet.conf(5)); ctnet up, apply, run and ctnet-nat init refuse it",
				  "%s", err.msg);
		hc = (struct ctnet_hostconf){ 0 };
		ctnet_err_clear(&err);
	}
	if (ct_doctor(kern, name, inside || name, &hc, &f, &n, &err) < 0) {
		ctnet_findings_free(&f);
		return ctnet_cli_fail(&err);
	}
	if (ctnet_findings_sort(&f) < 0) {
		ctnet_findings_free(&f);
		ctnet_errf(&err, ENOMEM, "doctor: out of memory");
		return ctnet_cli_fail(&err);
	}
	int rc = print_findings(&f, n, json, ctnet_findings_blocking(&f) ? CTNET_EXIT_FAIL : CTNET_EXIT_OK);
	ctnet_findings_free(&f);
	return rc;
}
