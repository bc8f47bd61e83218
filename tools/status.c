/* SPDX-License-Identifier: MIT */
/* ctnet status. */
#include <errno.h>
#include <pthread.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../launch/watch.h"
#include "../netd/netd.h"
#include "cli.h"
#include "caps.h"
#include "ctnet.h"
#include "out.h"
#include "state.h"

/* The table: what --json prints of each container, shown under these columns. */
static const struct out_col status_cols[] = {
	{ .key = "name", .title = "NAME", .width = -20, .shorten = true }, /* OCI ids: 64 hex digits */
	{ .key = "mode", .title = "MODE", .width = -8 },
	{ .key = "state", .title = "STATE", .width = -8 },
	{ .key = "host_ifname", .title = "HOST_IF", .width = -15 },
	{ .key = "host_address", .title = "HOST_ADDRESS", .width = -18 },
	{ .key = "local_address", .title = "LOCAL_ADDRESS", .width = -18 },
	{ .key = "runtime", .title = "RUNTIME", .width = -12 },
	{ .key = "forwards", .title = "FORWARDS" },
	{ .key = "reason", .fmt = " (%s)" },
};

/* The table's FORWARDS: the specs, comma-separated, as many as fit. */
static const char *forwards_text(const struct ct_record *r, char fw[256])
{
	size_t off = 0;

	fw[0] = '\0';
	for (size_t j = 0; j < r->spec.n_forwards; j++) {
		char spec[64];
		int n = snprintf(fw + off, 256 - off, "%s%s", j ? "," : "",
				 nat_forward_str(&r->spec.forwards[j], spec, sizeof(spec)));
		if (n < 0 || (size_t)n >= 256 - off) {
			fw[off] = '\0';
			break;
		}
		off += (size_t)n;
	}
	return fw;
}

/* The container's faults: [{"kind", "object", "text"}] (the table shows the first). */
static void faults_out(struct out *o, const struct ct_health *h)
{
	static const char *const kinds[] = {
		[CT_FAULT_STALE] = "stale",           [CT_FAULT_LINK] = "link",
		[CT_FAULT_EXTRA_VETH] = "extra-veth", [CT_FAULT_FORWARDING] = "forwarding",
		[CT_FAULT_LOCALNET] = "route-localnet", [CT_FAULT_NAT_TABLE] = "nat-table",
		[CT_FAULT_NAT] = "nat",               [CT_FAULT_HOST_IP] = "host-ip",
		[CT_FAULT_UNJUDGED] = "not-judged",
	};
	out_open_array(o, "faults");
	for (size_t i = 0; i < h->n; i++) {
		out_open_object(o, NULL);
		out_str(o, PRINT_JSON, "kind", NULL, kinds[h->v[i].kind]);
		out_str(o, PRINT_JSON, "object", NULL, h->v[i].object);
		out_str(o, PRINT_JSON, "text", NULL, h->v[i].text);
		out_close_object(o);
	}
	out_close_array(o);
}

/* One container: its record, how it was judged (why: the first fault, or NULL). */
static void status_row(struct out *o, const struct ct_record *r, const char *state, const char *why,
		       const struct ct_health *h, const struct ct_dns_state *dns)
{
	char runtime[16], fw[256];

	/* The runtime's name or id for it (CNI, OCI), shortened. */
	snprintf(runtime, sizeof(runtime), "%.12s", r->spec.runtime_name[0] ? r->spec.runtime_name : r->spec.runtime_id);
	out_row_open(o);
	record_out(o, r);
	out_str(o, PRINT_FP, "runtime", NULL, runtime);
	out_str(o, PRINT_FP, "forwards", NULL, forwards_text(r, fw));
	out_str(o, PRINT_ANY, "state", NULL, state);
	if (why)
		out_str(o, PRINT_ANY, "reason", NULL, why);
	faults_out(o, h);
	ct_dns_out(o, r, dns); /* JSON: its names while ctnet dns runs */
	out_row_close(o);
}

/*
 * One container's row (record i of l, or without l the record of name), judged by ct_judge
 * against view (NULL: asked of the kernel) and, with inside, inside its namespace, made in
 * mode into *out (status' workers make rows in parallel; they are printed in order). *bad is
 * set when it is not up. -errno on error.
 */
static int status_one(struct ctnet_kern *kern, const struct ct_records *l, size_t i, const char *name,
		      const struct ct_view *view, bool inside, enum out_mode mode, const struct ct_dns_state *dns,
		      struct out_piece *out, bool *bad, struct ctnet_err *err)
{
	struct ct_record r;
	struct ct_health *h = malloc(sizeof(*h));
	struct out o;
	const char *state;
	int rc;

	*bad = false;
	if (!h)
		return ctnet_errf(err, ENOMEM, "status: out of memory");
	if ((rc = l ? ct_records_read(l, i, &r, err) : record_read(name, &r, err)) < 0 ||
	    (rc = ct_judge(kern, &r, view, inside, h, err)) < 0) {
		free(h);
		return rc;
	}
	state = ct_health_state(h);
	if (r.pending && record_busy(name))
		state = "busy";
	*bad = h->n > 0;
	out_capture(&o, mode);
	out_table_cols(&o, status_cols, ARRAY_SIZE(status_cols));
	status_row(&o, &r, state, !strcmp(state, "busy") ? "up in progress" : h->n ? h->v[0].text : NULL, h, dns);
	free(h);
	if (out_capture_end(&o, out) < 0) {
		out_piece_free(out);
		return ctnet_errf(err, ENOMEM, "status: out of memory");
	}
	return 0;
}

struct status_ctx {
	int stale;
	int failed;
	struct ctnet_err err;
	enum out_mode mode;
	bool host_only;
	struct ct_view view; /* the host as read once for every container */
	struct ct_dns_state dns; /* what ctnet dns serves (--json: each container's names) */
	/* status of all: records taken by two workers from a shared index */
	pthread_mutex_t lock;
	struct ct_records recs;
	size_t n, next;
	struct out_piece *ents;
};

struct worker {
	struct status_ctx *s;
	int stale, failed;
	struct ctnet_err err;
};

/* A worker thread, with a kernel connection of its own. */
static void *status_worker(void *arg)
{
	struct ctnet_kern kernel, *kern = &kernel;
	struct worker *w = arg;
	struct status_ctx *s = w->s;

	ctnet_kern_init(kern);
	for (;;) {
		bool bad = false;
		size_t i;

		pthread_mutex_lock(&s->lock);
		i = s->next < s->n ? s->next++ : s->n;
		pthread_mutex_unlock(&s->lock);
		if (i == s->n)
			break;
		if (status_one(kern, &s->recs, i, s->recs.v[i].name, &s->view, !s->host_only, s->mode, &s->dns, &s->ents[i],
			       &bad, &w->err) < 0) {
			w->failed = 1;
			continue;
		}
		w->stale += bad;
	}
	ctnet_kern_close(kern);
	return NULL;
}

/* The host as status judges every container against it: ctnet's NAT table, the host's
 * addresses and routes, the forwarding sysctls (read in a thread while the records are
 * listed). */
static void *view_read(void *arg)
{
	struct ctnet_kern kern;

	ctnet_kern_init(&kern);
	ct_view_read_nat(&kern, arg);
	struct ctnet_err e; /* an unreadable host: each container is asked instead */
	ct_view_read_host(&kern, arg, &e);
	ctnet_kern_close(&kern);
	return NULL;
}

/*
 * Every record, in name order, into s->ents: the host is read (view_read) while the records
 * are listed, then two workers judge the records against it.
 */
static int status_all(struct status_ctx *s)
{
	struct worker kw = { .s = s }, me = { .s = s };
	pthread_t t;
	bool threaded;
	int rc;

	/* Made before two threads want it: jansson's hash seed. */
	json_decref(json_object());
	threaded = pthread_create(&t, NULL, view_read, &s->view) == 0;
	if (!threaded)
		view_read(&s->view);
	rc = ct_records_load(-1, &s->recs, &s->err);
	if (rc == 0 && !(s->ents = calloc(s->recs.n ? s->recs.n : 1, sizeof(*s->ents))))
		rc = ctnet_errf(&s->err, ENOMEM, "status: out of memory");
	if (threaded)
		pthread_join(t, NULL);
	s->n = rc == 0 ? s->recs.n : 0;
	threaded = s->n > 1 && pthread_create(&t, NULL, status_worker, &kw) == 0;
	status_worker(&me);
	if (threaded)
		pthread_join(t, NULL);
	s->stale = kw.stale + me.stale;
	if (rc == 0 && (kw.failed || me.failed)) {
		s->failed = 1;
		s->err = me.failed ? me.err : kw.err;
	}
	ct_records_free(&s->recs);
	return rc < 0 ? rc : 0;
}

/* The flags into s: -1 to go on, else the exit code (0 after --help). */
static int status_opts(int argc, char **argv, struct status_ctx *s)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "host-only", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			printf("Usage: ctnet status [NAME] [--json] [--host-only]\n"
			       "Containers ctnet brought up: mode, addresses, interfaces, forwards, and\n"
			       "whether each is up, degraded (there, but a link, address, route, sysctl or\n"
			       "NAT element of its is missing: `ctnet up` repairs it in place; the first\n"
			       "fault is shown) or stale (namespace or process gone, an earlier boot, an\n"
			       "interrupted up or down: `ctnet gc` removes it). Each is checked from the host\n"
			       "and inside its namespace; --host-only judges a container's inside by its\n"
			       "link's carrier, without entering it (faster with thousands).\n"
			       "Without NAME and --json, a last line when a `ctnet watch` runs.\n"
			       "Exit 1 when NAME (or, without NAME, any container) is not up.\n");
			return 0;
		}
		if (opt == 'j')
			s->mode = OUT_JSON;
		else if (opt == 'H')
			s->host_only = true;
		else
			return ctnet_cli_usage("status: bad option");
	}
	if (argc - optind > 1)
		return ctnet_cli_usage("status: at most one NAME");
	return -1;
}

/* The rows as a table (with the watcher's line when all) or JSON: -1, or the exit code of
 * a failure. */
static int status_print(struct status_ctx *s, bool all)
{
	struct out o;
	pid_t wpid;

	out_init(&o, stdout, s->mode);
	out_table_open(&o, NULL, status_cols, ARRAY_SIZE(status_cols), 0);
	for (size_t i = 0; i < s->n; i++)
		out_put(&o, &s->ents[i]);
	out_table_close(&o);
	/* Whether someone puts back what others remove (ctnet watch); said only when one runs,
	 * so the listing of a host without one is the table alone. */
	if (all && !out_is_json(&o) && ct_watch_running(&wpid) == 1)
		out_text(&o, "watcher: running (pid %ld)\n", (long)wpid);
	return ctnet_cli_out_end(&o, -1);
}

int cmd_status(struct ctnet_kern *kern, int argc, char **argv)
{
	/* Not freed on the way out: with thousands of entries that is milliseconds of work
	 * the exit does anyway. Static, so leak checkers see it reachable. */
	static struct status_ctx s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	static struct out_piece one;
	int rc;

	if ((rc = status_opts(argc, argv, &s)) >= 0)
		return rc;
	if (s.mode == OUT_JSON && ct_dns_state_read(&s.dns) < 0)
		s.dns.active = false;
	/* Entering a namespace needs CAP_SYS_ADMIN: without it (an admin's unprivileged status)
	 * the inside is judged from the host. */
	struct ctnet_err no_admin;
	if (ctnet_caps_require(CTNET_CAP_SYS_ADMIN, "status", &no_admin) < 0)
		s.host_only = true;
	if (optind < argc) {
		bool bad = false;

		if (ctnet_name_check(argv[optind], &s.err) < 0)
			return ctnet_cli_fail(&s.err);
		view_read(&s.view);
		rc = status_one(kern, NULL, 0, argv[optind], &s.view, !s.host_only, s.mode, &s.dns, &one, &bad, &s.err);
		nat_counters_free(s.view.nat);
		netd_host_view_close(s.view.host);
		if (rc < 0)
			return ctnet_cli_fail(&s.err);
		s.stale = bad;
		s.ents = &one;
		s.n = 1;
	} else {
		rc = status_all(&s);
		nat_counters_free(s.view.nat);
		netd_host_view_close(s.view.host);
		if (rc < 0)
			return ctnet_cli_fail(&s.err);
	}
	if ((rc = status_print(&s, optind == argc)) >= 0)
		return rc;
	if (s.n)
		doctor_warn(kern, NULL);
	if (s.failed)
		return ctnet_cli_fail(&s.err);
	return s.stale ? 1 : 0;
}
