/* SPDX-License-Identifier: MIT */
/* ctnet status and ctnet gc. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "../netd/netd.h"
#include "cli.h"
#include "ctnet.h"
#include "json.h"

/* Alive, and for private containers also the host link present. */
static const char *container_state(const struct ct_record *r, const char **why)
{
	struct ctnet_err err;
	if (!record_alive(r, why))
		return "stale";
	if (!r->shared && netd_exists(r->name, r->host_ifname, &err) == 0) {
		*why = "host link missing";
		return "stale";
	}
	*why = NULL;
	return "up";
}

struct status_ctx {
	json_t *list;
	int stale;
	int failed;
	struct ctnet_err err;
};

static int status_one(const char *name, void *data)
{
	struct status_ctx *s = data;
	struct ct_record r;
	const char *why = NULL, *state;
	json_t *o;

	if (record_read(name, &r, &s->err) < 0) {
		s->failed = 1;
		return 0;
	}
	state = container_state(&r, &why);
	if (why)
		s->stale++;
	o = record_json(&r);
	ctnet_json_set_str(o, "state", state);
	if (why)
		ctnet_json_set_str(o, "reason", why);
	json_array_append_new(s->list, o);
	return 0;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "-";
}

/* The human table, from the same JSON the --json output prints. */
static void print_table(json_t *list)
{
	size_t i;
	json_t *o;
	printf("%-20s %-8s %-6s %-15s %-18s %-18s %s\n", "NAME", "MODE", "STATE", "HOST_IF",
	       "HOST_ADDRESS", "LOCAL_ADDRESS", "FORWARDS");
	json_array_foreach(list, i, o) {
		char fw[256] = "-";
		size_t off = 0, j;
		json_t *f;
		json_array_foreach(json_object_get(o, "forwards"), j, f) {
			int n = snprintf(fw + off, sizeof(fw) - off, "%s%s", j ? "," : "", jstr(f, "spec"));
			if (n < 0 || (size_t)n >= sizeof(fw) - off)
				break;
			off += (size_t)n;
		}
		printf("%-20s %-8s %-6s %-15s %-18s %-18s %s", jstr(o, "name"), jstr(o, "mode"),
		       jstr(o, "state"), jstr(o, "host_ifname"), jstr(o, "host_address"),
		       jstr(o, "local_address"), fw);
		if (json_object_get(o, "reason"))
			printf(" (%s)", jstr(o, "reason"));
		putchar('\n');
	}
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct status_ctx s = { .list = json_array() };
	bool json = false;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			printf("Usage: ctnet status [NAME] [--json]\n"
			       "Containers ctnet brought up: mode, addresses, interfaces, forwards, and\n"
			       "whether each is up or stale (namespace or process gone, link deleted).\n"
			       "Exit 1 when NAME is not up or is stale.\n");
			json_decref(s.list);
			return 0;
		}
		if (opt == 'j')
			json = true;
		else {
			json_decref(s.list);
			return ctnet_cli_usage("status: bad option");
		}
	}
	if (argc - optind > 1) {
		json_decref(s.list);
		return ctnet_cli_usage("status: at most one NAME");
	}
	if (optind < argc) {
		struct ct_record r;
		if (ctnet_name_check(argv[optind], &s.err) < 0 ||
		    record_read(argv[optind], &r, &s.err) < 0) {
			json_decref(s.list);
			return ctnet_cli_fail(&s.err);
		}
		status_one(argv[optind], &s);
	} else {
		rc = record_foreach(status_one, &s, &s.err);
		if (rc < 0) {
			json_decref(s.list);
			return ctnet_cli_fail(&s.err);
		}
	}
	if (json)
		ctnet_json_print(stdout, s.list);
	else {
		print_table(s.list);
		json_decref(s.list);
	}
	if (s.failed)
		return ctnet_cli_fail(&s.err);
	return optind < argc && s.stale ? 1 : 0;
}

/* gc: containers that are gone, then leases and NAT entries without a record. */
struct gc_ctx {
	char (*names)[CTNET_NAME_MAX + 1]; /* owners seen in leases and NAT state */
	size_t n, cap;
	int removed;
	int failed;
	struct ctnet_err err;
};

static int gc_record(const char *name, void *data)
{
	struct gc_ctx *g = data;
	struct ct_record r;
	const char *why = NULL;
	struct ctnet_err err;

	if (record_read(name, &r, &err) < 0) {
		/* An unreadable record is itself debris of a crash. */
		why = err.msg;
	} else if (!strcmp(container_state(&r, &why), "up")) {
		return 0;
	}
	if (ct_down(name, false, NULL, &err) < 0) {
		fprintf(stderr, "%s: gc: %s\n", ctnet_prog, err.msg);
		g->failed = 1;
		return 0;
	}
	printf("removed container %s (%s)\n", name, why ? why : "stale");
	g->removed++;
	return 0;
}

static int gc_orphan(const char *name, const char *what, struct gc_ctx *g)
{
	struct ct_record r;
	struct ctnet_err err;
	if (record_read(name, &r, &err) == 0)
		return 0;
	if (ct_down(name, false, NULL, &err) < 0) {
		fprintf(stderr, "%s: gc: %s\n", ctnet_prog, err.msg);
		g->failed = 1;
		return 0;
	}
	printf("removed %s of %s (no container record)\n", what, name);
	g->removed++;
	return 0;
}

/* Collected first, removed after: the listings may hold their module's lock. */
static int gc_collect(const char *name, struct gc_ctx *g)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		void *p = realloc(g->names, cap * sizeof(*g->names));
		if (!p)
			return ctnet_errf(&g->err, ENOMEM, "gc: out of memory");
		g->names = p;
		g->cap = cap;
	}
	snprintf(g->names[g->n++], sizeof(g->names[0]), "%s", name);
	return 0;
}

static int gc_lease(const struct ipam_lease *l, void *data)
{
	return gc_collect(l->name, data);
}

static int gc_nat(const struct nat_container *c, void *data)
{
	return gc_collect(c->name, data);
}

int cmd_gc(int argc, char **argv)
{
	struct gc_ctx g = { 0 };

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: ctnet gc\n"
		       "Remove what belongs to containers that are gone (dead PID, vanished namespace,\n"
		       "deleted link) and leases or NAT entries without a container record, saying\n"
		       "what was removed.\n");
		return 0;
	}
	if (argc > 1)
		return ctnet_cli_usage("gc: takes no arguments");
	size_t n_leases;
	if (record_foreach(gc_record, &g, &g.err) < 0 || ipam_list(gc_lease, &g, &g.err) < 0) {
		free(g.names);
		return ctnet_cli_fail(&g.err);
	}
	n_leases = g.n;
	if (nat_list_containers(gc_nat, &g, &g.err) < 0) {
		free(g.names);
		return ctnet_cli_fail(&g.err);
	}
	for (size_t i = 0; i < g.n; i++)
		gc_orphan(g.names[i], i < n_leases ? "lease" : "NAT entries", &g);
	free(g.names);
	printf("gc: removed %d\n", g.removed);
	return g.failed ? 1 : 0;
}
