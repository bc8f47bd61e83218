/* SPDX-License-Identifier: MIT */
/* ctnet status and ctnet gc. */
#include <errno.h>
#include <pthread.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../netd/netd.h"
#include "cli.h"
#include "ctnet.h"
#include "json.h"
#include "state.h"

/* SIOCGIFINDEX on one socket for all (if_nametoindex opens one per call). */
static bool link_present(const char *ifname)
{
	static int sock = -1;
	struct ifreq ifr;

	if (sock < 0 && (sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return if_nametoindex(ifname) != 0;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	return ioctl(sock, SIOCGIFINDEX, &ifr) == 0 || errno != ENODEV;
}

/* Alive, and for private containers also the host link present. */
static const char *container_state(const struct ct_record *r, const char **why)
{
	if (r->pending) {
		*why = "up interrupted (gc removes it)";
		return "stale";
	}
	if (!record_alive(r, why))
		return "stale";
	/* By name in this namespace (SIOCGIFINDEX): a netlink GETLINK of a veth makes the
	 * kernel look up its peer's namespace id, a scan of all ids, so thousands of those
	 * grew quadratically. */
	if (!r->shared && r->host_ifname[0] && !link_present(r->host_ifname)) {
		*why = "host link missing";
		return "stale";
	}
	*why = NULL;
	return "up";
}

/* NAT drift (nft flushed, elements deleted behind our back): the container's elements
 * checked against one read of the kernel's table. */
static bool nat_missing(const struct nat_counters *cn, const struct ct_record *r)
{
	struct nat_container *c;
	int missing;

	if (!cn || r->shared || r->no_nat || r->pending || !r->local.family)
		return false;
	if (!(c = calloc(1, sizeof(*c))))
		return false;
	c->name = r->name;
	c->addr = r->local;
	c->addr.prefix = -1;
	c->has_addr6 = r->has_v6 && r->local6.family;
	c->addr6 = r->local6;
	c->addr6.prefix = -1;
	c->iface = r->host_ifname;
	c->n_forwards = r->n_forwards;
	memcpy(c->forwards, r->forwards, r->n_forwards * sizeof(r->forwards[0]));
	missing = nat_counters_missing(cn, c);
	free(c);
	return missing > 0;
}

struct status_ctx {
	json_t *list;
	int stale;
	int failed;
	struct nat_counters *cn; /* NULL when the kernel could not be read */
	int dfd; /* record_dir(), open once */
	struct ctnet_err err;
};

static int status_one(const char *name, void *data)
{
	struct status_ctx *s = data;
	struct ct_record r;
	const char *why = NULL, *state;
	json_t *o;

	if ((s->dfd >= 0 ? record_read_at(s->dfd, name, &r, &s->err) : record_read(name, &r, &s->err)) < 0) {
		s->failed = 1;
		return 0;
	}
	state = container_state(&r, &why);
	if (!why && nat_missing(s->cn, &r)) {
		state = "stale";
		why = "NAT rules missing in nft (ctnet gc or ctnet-nat restore repairs)";
	}
	if (r.pending && record_busy(name)) {
		state = "busy";
		why = "up in progress";
	}
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

struct names {
	char (*v)[CTNET_NAME_MAX + 1];
	size_t n, cap;
};

static int collect_name(int dfd, const char *name, void *data)
{
	struct names *l = data;
	(void)dfd;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		void *p = realloc(l->v, cap * sizeof(*l->v));
		if (!p)
			return -ENOMEM;
		l->v = p;
		l->cap = cap;
	}
	snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", name);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

struct half {
	struct status_ctx ctx;
	const struct names *names;
	size_t from, to;
};

static void *status_range(void *arg)
{
	struct half *h = arg;
	for (size_t i = h->from; i < h->to; i++)
		status_one(h->names->v[i], &h->ctx);
	return NULL;
}

/*
 * Every record, in name order. Reading records, checking liveness and NAT elements is
 * per-container work of a few syscalls each; with thousands of containers it is split over
 * two threads (each with its own result list), the kernel's table having been read once.
 */
static int status_all(struct status_ctx *s)
{
	struct names l = { 0 };
	struct half second = { 0 };
	pthread_t t;
	bool threaded = false;
	int rc = ctnet_dir_foreach(s->dfd, "records", collect_name, &l, &s->err);

	if (rc < 0) {
		free(l.v);
		return rc == -ENOMEM ? ctnet_errf(&s->err, ENOMEM, "status: out of memory") : rc;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), name_cmp);
	if (l.n >= 256) {
		second = (struct half){ .ctx = *s, .names = &l, .from = l.n / 2, .to = l.n };
		second.ctx.list = json_array();
		second.ctx.stale = 0;
		second.ctx.failed = 0;
		/* Made before two threads want them: the ioctl socket, jansson's hash seed. */
		link_present("lo");
		json_decref(json_object());
		threaded = second.ctx.list && pthread_create(&t, NULL, status_range, &second) == 0;
		if (!threaded)
			json_decref(second.ctx.list);
	}
	struct half first = { .names = &l, .from = 0, .to = threaded ? l.n / 2 : l.n };
	first.ctx = *s;
	status_range(&first);
	s->stale = first.ctx.stale;
	s->failed = first.ctx.failed;
	if (first.ctx.failed)
		s->err = first.ctx.err;
	if (threaded) {
		pthread_join(t, NULL);
		json_array_extend(s->list, second.ctx.list);
		json_decref(second.ctx.list);
		s->stale += second.ctx.stale;
		if (second.ctx.failed && !s->failed) {
			s->failed = 1;
			s->err = second.ctx.err;
		}
	}
	free(l.v);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct status_ctx s = { .list = json_array(), .dfd = -1 };
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
	struct ctnet_err e2;
	if (nat_counters_read(&s.cn, &e2) < 0)
		s.cn = NULL; /* no nft access: report what the records say */
	if (optind < argc) {
		struct ct_record r;
		if (ctnet_name_check(argv[optind], &s.err) < 0 ||
		    record_read(argv[optind], &r, &s.err) < 0) {
			json_decref(s.list);
			nat_counters_free(s.cn);
			return ctnet_cli_fail(&s.err);
		}
		status_one(argv[optind], &s);
	} else {
		s.dfd = record_dir(false, &s.err);
		rc = s.dfd == -ENOENT ? 0 : s.dfd < 0 ? s.dfd : status_all(&s);
		if (s.dfd >= 0)
			close(s.dfd);
		if (rc < 0) {
			json_decref(s.list);
			nat_counters_free(s.cn);
			return ctnet_cli_fail(&s.err);
		}
	}
	nat_counters_free(s.cn);
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
	struct ctnet_err err, e2;
	char msg[sizeof(err.msg)];
	/* Decide under the container's lock: an up in progress is waited for, not undone. */
	_cleanup_close_ int lock = record_lock(name, &err);
	int rc;

	if (lock < 0) {
		fprintf(stderr, "%s: gc: %s\n", ctnet_prog, err.msg);
		g->failed = 1;
		return 0;
	}
	rc = record_read(name, &r, &err);
	if (rc == -ENOENT)
		return 0; /* taken down meanwhile */
	if (rc < 0) {
		/* An unreadable record is debris too: what carries the name goes. */
		snprintf(msg, sizeof(msg), "%s", err.msg);
		why = msg;
		record_remove(name, &e2);
	} else if (!strcmp(container_state(&r, &why), "up")) {
		return 0;
	}
	if (ct_down_locked(name, false, NULL, &err) < 0) {
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
	_cleanup_close_ int lock = record_lock(name, &err);
	if (lock < 0 || record_read(name, &r, &err) != -ENOENT) {
		/* It has a record now (an up finished meanwhile), or we cannot tell. */
		return 0;
	}
	if (ct_down_locked(name, false, NULL, &err) < 0) {
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

static int gc_nat_entry(const struct nat_container *c, void *data)
{
	return gc_collect(c->name, data);
}

/* Temp files of killed writers in every directory ctnet writes atomically. */
static void gc_sweep(struct gc_ctx *g)
{
	static const struct {
		int state; /* 1: below $CTNET_STATE_DIR, 0: below $CTNET_RUN_DIR */
		const char *sub;
	} dirs[] = { { 0, "containers" }, { 1, "ipam" }, { 1, "ipam/lease" }, { 1, "ipam/pool" },
		     { 1, "nat" }, { 1, "nat/containers" } };
	struct ctnet_err err;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		int fd = ctnet_dir_open(dirs[i].state ? ctnet_state_dir() : ctnet_run_dir(),
					dirs[i].sub, false, &err);
		if (fd < 0)
			continue;
		int n = ctnet_tmp_sweep(fd, &err);
		close(fd);
		if (n > 0) {
			printf("removed %d temp file%s of killed writers in %s\n", n, n == 1 ? "" : "s",
			       dirs[i].sub);
			g->removed += n;
		}
	}
}

/* nft flushed or elements deleted behind our back: rebuild from the desired state. */
static void gc_nat(struct gc_ctx *g)
{
	struct ctnet_err err;
	int n = nat_check(NULL, NULL, &err);
	if (n <= 0)
		return;
	if (nat_restore(&err) < 0) {
		fprintf(stderr, "%s: gc: %s\n", ctnet_prog, err.msg);
		g->failed = 1;
		return;
	}
	printf("restored the NAT table (%d difference%s)\n", n, n == 1 ? "" : "s");
	g->removed++;
}

static int gc_links(struct gc_ctx *g)
{
	struct netd_link_info *links = NULL;
	size_t n = 0;
	int r = netd_show(NULL, &links, &n, &g->err);
	for (size_t i = 0; r >= 0 && i < n; i++)
		if (links[i].container[0] && ctnet_name_check(links[i].container, NULL) == 0)
			r = gc_collect(links[i].container, g);
	free(links);
	return r;
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
	size_t n_leases, n_nat;
	gc_sweep(&g);
	if (record_foreach(gc_record, &g, &g.err) < 0 || ipam_list(gc_lease, &g, &g.err) < 0) {
		free(g.names);
		return ctnet_cli_fail(&g.err);
	}
	n_leases = g.n;
	if (nat_list_containers(gc_nat_entry, &g, &g.err) < 0) {
		free(g.names);
		return ctnet_cli_fail(&g.err);
	}
	n_nat = g.n;
	if (gc_links(&g) < 0) {
		free(g.names);
		return ctnet_cli_fail(&g.err);
	}
	for (size_t i = 0; i < g.n; i++)
		gc_orphan(g.names[i], i < n_leases ? "lease" : i < n_nat ? "NAT entries" : "link", &g);
	free(g.names);
	gc_nat(&g);
	printf("gc: removed %d\n", g.removed);
	return g.failed ? 1 : 0;
}
