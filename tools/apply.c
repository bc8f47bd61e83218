/* SPDX-License-Identifier: MIT */
/* ctnet apply [DIR]: make the host's containers exactly those DIR's .conf files describe. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctnet.h"
#include "hostconf.h"
#include "out.h"
#include "state.h"

static const char *const op_sign[] = { "+", "~", "~", "-", "=", " " };
static const char *const op_name[] = { "up", "update", "recreate", "remove", "unchanged", "skip" };

struct apply_out {
	struct out o;
	bool dry;
	const struct ct_apply_plan *plan;
	unsigned up, updated, removed, unchanged, skipped, failed;
};

/* An item of the plan, or its outcome (done): a line for people (none for an unchanged
 * one: counted in the "=" line), an object in JSON. */
static void item_out(struct out *o, const struct ct_apply_item *it, const struct ct_report *rep, bool done)
{
	bool quiet = !it->left_alone && it->op == CT_APPLY_VERIFY && !it->what;
	bool aside = it->left_alone || it->op == CT_APPLY_SKIP; /* "  NAME (why)" */

	out_open_object(o, NULL);
	if (aside)
		out_text(o, "  ");
	else if (!quiet)
		out_text(o, "%s ", op_sign[it->op]);
	out_str(o, quiet ? PRINT_JSON : PRINT_ANY, "name", "%s", it->name);
	out_str(o, PRINT_JSON, "op", NULL, op_name[it->op]);
	if (it->what)
		out_str(o, quiet || aside ? PRINT_JSON : PRINT_ANY, "what", ": %s", it->what);
	if (done) {
		out_str(o, PRINT_JSON, "result", NULL, it->rc < 0 ? "failed" : it->left_alone ? "left alone" : "ok");
		if (it->rc < 0 || it->left_alone)
			out_str(o, PRINT_JSON, "error", NULL, it->error ? it->error : "");
		report_out(o, NULL, rep);
	}
	if (it->left_alone)
		out_text(o, " (left alone: %s)", it->error ? it->error : "no longer apply's");
	else if (it->op == CT_APPLY_SKIP)
		out_text(o, " (AUTO_START=0: not started)");
	if (!quiet)
		out_text(o, "\n");
	out_close_object(o);
}

static void count(struct apply_out *o, const struct ct_apply_item *it)
{
	if (it->rc < 0)
		o->failed++;
	else if (it->left_alone)
		o->skipped++;
	else if (it->op == CT_APPLY_ADD)
		o->up++;
	else if (it->op == CT_APPLY_UPDATE || it->op == CT_APPLY_RECREATE)
		o->updated++;
	else if (it->op == CT_APPLY_REMOVE)
		o->removed++;
	else if (it->op == CT_APPLY_VERIFY)
		o->unchanged++;
	else
		o->skipped++;
}

/* The host's repair: a line of the plan (a run says it on stderr), "host" in the JSON. */
static void host_out(struct out *o, const struct ct_apply_plan *p, bool dry)
{
	out_open_object(o, "host");
	if (p->host_what[0]) {
		out_open_object(o, "repair");
		out_str(o, dry ? PRINT_ANY : PRINT_JSON, "what", "~ host: %s (apply restores ctnet's table)\n",
			p->host_what);
		if (!dry) {
			out_str(o, PRINT_JSON, "result", NULL, p->host_rc < 0 ? "failed" : "ok");
			if (p->host_rc < 0)
				out_str(o, PRINT_JSON, "error", NULL, p->host_error);
		}
		out_close_object(o);
	}
	out_close_object(o);
}

static void done_one(const struct ct_apply_item *it, const struct ct_report *rep, void *data)
{
	struct apply_out *o = data;
	if (!it) {
		/* The host's repair (its JSON is written at the end, from the plan). */
		if (o->plan->host_rc < 0)
			fprintf(stderr, "%s: apply: host: %s\n", ctnet_prog, o->plan->host_error);
		for (size_t i = 0; rep && i < rep->n; i++)
			fprintf(stderr, "%s: host: repaired %s\n", ctnet_prog, rep->v[i].what);
		return;
	}
	count(o, it);
	if (it->rc < 0)
		fprintf(stderr, "%s: apply: %s: %s\n", ctnet_prog, it->name, it->error ? it->error : "failed");
	for (size_t i = 0; rep && i < rep->n; i++)
		fprintf(stderr, "%s: %s: %s %s\n", ctnet_prog, it->name,
			rep->v[i].repair ? "repaired" : "changed", rep->v[i].what);
	item_out(&o->o, it, rep, true);
}

static void usage(void)
{
	printf("Usage: ctnet apply [DIR] [--dry-run] [--deep] [--json]\n"
	       "Make the host's containers exactly the nixos-container NAME.conf files in DIR\n"
	       "(default /etc/nixos-containers): a new file's container comes up (a private one\n"
	       "in /run/netns/NAME unless NETWORK_NAMESPACE_PATH is set), a changed one converges\n"
	       "in place (forwards, MTU, MAC) or is recreated, a removed file's container goes, an\n"
	       "unchanged one is checked and repaired. AUTO_START=0 files are validated and, if\n"
	       "running, updated, but not started. Only containers apply brought up from DIR are\n"
	       "touched. Every file is read and checked before the first change: one bad file\n"
	       "changes nothing. Exit 1 if anything failed.\n\n"
	       "  --dry-run   print the plan (+ new, ~ changed, - removed, = unchanged), change nothing\n"
	       "  --deep      check unchanged containers inside their namespaces too (their\n"
	       "              addresses and routes; by default apply checks what the host holds:\n"
	       "              links and their carrier, addresses, routes, sysctls, NAT elements)\n"
	       "  --json      the plan and the results as JSON\n");
}

/* A dry run: the plan, item by item. */
static void print_plan(struct apply_out *o)
{
	for (size_t i = 0; i < o->plan->n; i++) {
		count(o, &o->plan->v[i]);
		item_out(&o->o, &o->plan->v[i], NULL, false);
	}
}

/* The counts ("=" counts the unchanged containers the plan does not list). */
static void summary_out(struct apply_out *a)
{
	struct out *o = &a->o;

	out_open_object(o, "summary");
	if (a->unchanged)
		out_text(o, "= %u unchanged\n", a->unchanged);
	out_uint(o, PRINT_ANY, "up", "%llu up, ", a->up);
	out_uint(o, PRINT_ANY, "updated", "%llu updated, ", a->updated);
	out_uint(o, PRINT_ANY, "removed", "%llu removed, ", a->removed);
	out_uint(o, PRINT_ANY, "unchanged", "%llu unchanged, ", a->unchanged);
	out_uint(o, PRINT_JSON, "skipped", NULL, a->skipped);
	out_uint(o, PRINT_ANY, "failed", "%llu failed", a->failed);
	out_text(o, "%s\n", a->dry ? " (dry run: nothing changed)" : "");
	out_close_object(o);
}

int cmd_apply(struct ctnet_kern *kern, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "deep", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct ct_apply_plan plan;
	struct apply_out o = { 0 };
	struct ctnet_err err;
	const char *dir;
	int opt, failed = 0;
	bool deep = false, json = false;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return usage(), 0;
		if (opt == 'n')
			o.dry = true;
		else if (opt == 'd')
			deep = true;
		else if (opt == 'j')
			json = true;
		else
			return ctnet_cli_usage("apply: bad option");
	}
	if (argc - optind > 1)
		return ctnet_cli_usage("apply: at most one DIR");
	dir = optind < argc ? argv[optind] : ctnet_nixos_conf_dir();
	/* The host config first: a bad one stops apply before its plan, naming its line. */
	struct ctnet_hostconf hc;
	if (ctnet_hostconf_load(&hc, &err) < 0 || ct_apply_plan(dir, deep, &plan, &err) < 0)
		return ctnet_cli_fail(&err);
	for (size_t i = 0; i < plan.n; i++)
		if (plan.v[i].spec)
			ct_spec_host(plan.v[i].spec, &hc);
	if (!o.dry && ct_host_apply(kern, &hc, &err) < 0) {
		ct_apply_free(&plan);
		return ctnet_cli_fail(&err);
	}
	/* Before the first change: a state dir that cannot be written changes nothing (once). */
	if (!o.dry && ct_state_writable(&err) < 0) {
		ct_apply_free(&plan);
		return ctnet_cli_fail(&err);
	}
	o.plan = &plan;
	out_init(&o.o, stdout, json ? OUT_JSON : OUT_TEXT);
	out_open_object(&o.o, NULL);
	out_str(&o.o, PRINT_JSON, "dir", NULL, plan.dir);
	out_str(&o.o, PRINT_JSON, "mode", NULL, o.dry ? "dry-run" : "applied");
	out_json_slot(&o.o, "plan");
	if (o.dry)
		host_out(&o.o, &plan, true); /* its line first */
	out_open_array(&o.o, "plan");
	if (o.dry) {
		print_plan(&o);
	} else {
		failed = ct_apply_run(kern, &plan, done_one, &o);
		if (failed < 0) {
			out_end(&o.o);
			ctnet_errf(&err, -failed, "apply: out of memory");
			return ctnet_cli_fail(&err);
		}
		/* The next plan's shortcut; without it every file is read, nothing else changes. */
		if (ct_apply_index_save(&plan, &err) < 0)
			fprintf(stderr, "ctnet: warning: %s\n", err.msg);
	}
	out_close_array(&o.o);
	if (!o.dry)
		host_out(&o.o, &plan, false);
	summary_out(&o);
	out_close_object(&o.o);
	int rc = ctnet_cli_out_end(&o.o, failed ? 1 : 0);
	ct_apply_free(&plan);
	return rc;
}
