/* SPDX-License-Identifier: MIT */
/* ctnet apply [DIR]: make the host's containers exactly those DIR's .conf files describe. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctnet.h"
#include "json.h"
#include "state.h"

static const char *const op_sign[] = { "+", "~", "~", "-", "=", " " };
static const char *const op_name[] = { "up", "update", "recreate", "remove", "unchanged", "skip" };

struct apply_out {
	bool json, dry;
	json_t *list, *host;
	const struct ct_apply_plan *plan;
	unsigned up, updated, removed, unchanged, skipped, failed;
};

static json_t *item_json(const struct ct_apply_item *it, const struct ct_report *rep, bool done)
{
	json_t *o = json_object();
	ctnet_json_set_str(o, "name", it->name);
	ctnet_json_set_str(o, "op", op_name[it->op]);
	if (it->what)
		ctnet_json_set_str(o, "what", it->what);
	if (done) {
		ctnet_json_set_str(o, "result", it->rc < 0 ? "failed" : it->left_alone ? "left alone" : "ok");
		if (it->rc < 0 || it->left_alone)
			ctnet_json_set_str(o, "error", it->error ? it->error : "");
		json_t *a = json_array();
		for (size_t i = 0; rep && i < rep->n; i++) {
			json_t *c = json_object();
			ctnet_json_set_str(c, "kind", rep->v[i].repair ? "repaired" : "changed");
			ctnet_json_set_str(c, "what", rep->v[i].what);
			json_array_append_new(a, c);
		}
		json_object_set_new(o, "changes", a);
	}
	return o;
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

static void print_plan_item(const struct ct_apply_item *it)
{
	if (it->left_alone)
		printf("  %s (left alone: %s)\n", it->name, it->error ? it->error : "no longer apply's");
	else if (it->op == CT_APPLY_VERIFY && !it->what)
		return; /* counted in the "=" line */
	else if (it->op == CT_APPLY_SKIP)
		printf("  %s (AUTO_START=0: not started)\n", it->name);
	else if (it->what)
		printf("%s %s: %s\n", op_sign[it->op], it->name, it->what);
	else
		printf("%s %s\n", op_sign[it->op], it->name);
}

/* The host's repair (it NULL): one line, and "host" in the JSON. */
static void done_host(struct apply_out *o, const struct ct_apply_plan *p, const struct ct_report *rep)
{
	if (p->host_rc < 0)
		fprintf(stderr, "%s: apply: host: %s\n", ctnet_prog, p->host_error);
	for (size_t i = 0; rep && i < rep->n; i++)
		fprintf(stderr, "%s: host: repaired %s\n", ctnet_prog, rep->v[i].what);
	if (o->json) {
		json_t *h = json_object();
		ctnet_json_set_str(h, "what", p->host_what);
		ctnet_json_set_str(h, "result", p->host_rc < 0 ? "failed" : "ok");
		if (p->host_rc < 0)
			ctnet_json_set_str(h, "error", p->host_error);
		json_object_set_new(o->host, "repair", h);
	}
}

static void done_one(const struct ct_apply_item *it, const struct ct_report *rep, void *data)
{
	struct apply_out *o = data;
	if (!it) {
		done_host(o, o->plan, rep);
		return;
	}
	count(o, it);
	if (it->rc < 0)
		fprintf(stderr, "%s: apply: %s: %s\n", ctnet_prog, it->name, it->error ? it->error : "failed");
	for (size_t i = 0; rep && i < rep->n; i++)
		fprintf(stderr, "%s: %s: %s %s\n", ctnet_prog, it->name,
			rep->v[i].repair ? "repaired" : "changed", rep->v[i].what);
	if (o->json)
		json_array_append_new(o->list, item_json(it, rep, true));
	else
		print_plan_item(it);
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

/* A dry run: the plan, item by item (the host's repair first). */
static void print_plan(struct apply_out *o)
{
	const struct ct_apply_plan *plan = o->plan;

	if (plan->host_what[0] && !o->json)
		printf("~ host: %s (apply restores ctnet's table)\n", plan->host_what);
	if (plan->host_what[0] && o->json) {
		json_t *h = json_object();
		ctnet_json_set_str(h, "what", plan->host_what);
		json_object_set_new(o->host, "repair", h);
	}
	for (size_t i = 0; i < plan->n; i++) {
		count(o, &plan->v[i]);
		if (o->json)
			json_array_append_new(o->list, item_json(&plan->v[i], NULL, false));
		else
			print_plan_item(&plan->v[i]);
	}
}

/* The counts (and, as JSON, the whole report). */
static void print_summary(const struct apply_out *o)
{
	if (o->json) {
		json_t *root = json_object(), *sum = json_object();
		ctnet_json_set_str(root, "dir", o->plan->dir);
		ctnet_json_set_str(root, "mode", o->dry ? "dry-run" : "applied");
		json_object_set_new(root, "plan", o->list);
		json_object_set_new(root, "host", o->host);
		ctnet_json_set_int(sum, "up", o->up);
		ctnet_json_set_int(sum, "updated", o->updated);
		ctnet_json_set_int(sum, "removed", o->removed);
		ctnet_json_set_int(sum, "unchanged", o->unchanged);
		ctnet_json_set_int(sum, "skipped", o->skipped);
		ctnet_json_set_int(sum, "failed", o->failed);
		json_object_set_new(root, "summary", sum);
		ctnet_json_print(stdout, root);
	} else {
		if (o->unchanged)
			printf("= %u unchanged\n", o->unchanged);
		printf("%u up, %u updated, %u removed, %u unchanged, %u failed%s\n", o->up, o->updated,
		       o->removed, o->unchanged, o->failed, o->dry ? " (dry run: nothing changed)" : "");
	}
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
	bool deep = false;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return usage(), 0;
		if (opt == 'n')
			o.dry = true;
		else if (opt == 'd')
			deep = true;
		else if (opt == 'j')
			o.json = true;
		else
			return ctnet_cli_usage("apply: bad option");
	}
	if (argc - optind > 1)
		return ctnet_cli_usage("apply: at most one DIR");
	dir = optind < argc ? argv[optind] : ctnet_nixos_conf_dir();
	if (ct_apply_plan(dir, deep, &plan, &err) < 0)
		return ctnet_cli_fail(&err);
	o.plan = &plan;
	if (o.json) {
		o.list = json_array();
		o.host = json_object();
	}
	if (o.dry) {
		print_plan(&o);
	} else {
		failed = ct_apply_run(kern, &plan, done_one, &o);
		if (failed < 0) {
			ctnet_errf(&err, -failed, "apply: out of memory");
			return ctnet_cli_fail(&err);
		}
		/* The next plan's shortcut; without it every file is read, nothing else changes. */
		if (ct_apply_index_save(&plan, &err) < 0)
			fprintf(stderr, "ctnet: warning: %s\n", err.msg);
	}
	print_summary(&o);
	ct_apply_free(&plan);
	return failed ? 1 : 0;
}
