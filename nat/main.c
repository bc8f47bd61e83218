/* SPDX-License-Identifier: MIT */
/* ctnet-nat: the command line over nat/ (host NAT, port forwards, anti-spoofing). */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "cli.h"
#include "out.h"
#include "main_int.h"
#include "nat.h"

static const char usage_text[] =
	"Usage: ctnet-nat COMMAND [ARGS]\n"
	"Host NAT for containers: masquerade, port forwards, anti-spoofing, in nftables\n"
	"tables inet ctnet and bridge ctnet (no other table is touched).\n"
	"\n"
	"  init [--external-interface IF]... [--cluster-cidr CIDR]... [--no-cluster-cidr]\n"
	"       [--isolate | --no-isolate] [--accept-in-docker-user | --no-accept-in-docker-user]\n"
	"                                       create the tables (idempotent); with external\n"
	"                                       interfaces, masquerade only out of those; never\n"
	"                                       masquerade to a cluster CIDR (without either\n"
	"                                       option: the host config's CLUSTER_CIDR, else the\n"
	"                                       recorded ones); the host config (ctnet.conf(5))\n"
	"                                       gives both when no option does; an option that\n"
	"                                       differs from it is refused;\n"
	"                                       --isolate: containers reach each other only\n"
	"                                       through forwards (default: open; neither\n"
	"                                       option keeps the recorded setting);\n"
	"                                       --accept-in-docker-user: also accept ve-* and\n"
	"                                       the containers' bridges in Docker's DOCKER-USER\n"
	"                                       chain (opt-in: the only other table ctnet\n"
	"                                       touches; kept like the tables, recorded)\n"
	"  add NAME --address A [--address6 A6] --iface IF [--mac MAC] [--bridge BR]\n"
	"      [--host-address H] [--host-address6 H6] [--forward SPEC]...\n"
	"                                       NAT a container (idempotent; replaces); MAC:\n"
	"                                       the only source a bridge port may send from;\n"
	"                                       BR: the bridge IF is a port of; H, H6: the\n"
	"                                       host side's addresses on IF (--isolate keeps\n"
	"                                       other containers from them)\n"
	"  del NAME                             remove a container, its forwards and flows\n"
	"  forward add NAME SPEC [--host-ip IP] forward a host port (only to IP with --host-ip)\n"
	"  forward del NAME SPEC [--host-ip IP] remove it and its conntrack entries\n"
	"  list [--json]                        containers, forwards, counters\n"
	"  check                                exit 1 and print the differences when the\n"
	"                                       kernel differs from the recorded state\n"
	"  restore                              rebuild the table from the recorded state\n"
	"                                       (with the host config's keys recorded first)\n"
	"                                       (after nft flush ruleset or a reboot)\n"
	"  flush                                delete ctnet's tables and turn route_localnet\n"
	"                                       off where ctnet set it; the recorded state is\n"
	"                                       kept, so `restore` brings it back\n"
	"\n"
	"SPEC is PROTO:HOSTPORT[:CONTAINERPORT] as in nixos-container: tcp:8080:80, udp:53,\n"
	"tcp:8000-8010:80-90 (same length, at most 1024 ports).\n"
	"\n"
	"--cgroup PATH (or $CTNET_CGROUP), with any command: the cgroup v2 directory the\n"
	"loopback forwards' BPF programs attach to (default: the root of the cgroup v2\n"
	"hierarchy); they and their map are pinned in $CTNET_BPF_DIR (default /sys/fs/bpf/ctnet).\n"
	"State: $CTNET_STATE_DIR/nat (default /var/lib/ctnet/nat). Needs CAP_NET_ADMIN, and\n"
	"CAP_BPF (CAP_SYS_ADMIN before Linux 5.8) for loopback forwards by BPF.\n"
	"Exit: 0 ok, 1 failure (or drift for check), 2 usage.\n";

static int usage(void)
{
	fputs(usage_text, stdout);
	return CTNET_EXIT_OK;
}

/* "--opt VALUE" or "--opt=VALUE" at argv[*i]; advances *i. NULL when not this option. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *bad)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n))
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*bad = 1;
		return NULL;
	}
	return argv[++*i];
}

static int cmd_init(struct ctnet_kern *kern, int argc, char **argv)
{
	const char *ext[16] = { NULL }, *hc_ext[CTNET_HOSTCONF_EXT_MAX];
	struct ctnet_addr cluster[CTNET_HOSTCONF_CLUSTER_MAX];
	struct ctnet_hostconf hc;
	struct nat_host h;
	size_t n = 0, nc = 0;
	int isolate = -1;
	int docker = -1;
	bool no_cluster = false;
	struct ctnet_err err = { 0 };
	for (int i = 0; i < argc; i++) {
		int bad = 0;
		if (!strcmp(argv[i], "--accept-in-docker-user") || !strcmp(argv[i], "--no-accept-in-docker-user")) {
			int want = argv[i][2] == 'a';
			if (docker >= 0 && docker != want)
				return ctnet_cli_usage("init: --accept-in-docker-user and --no-accept-in-docker-user together");
			docker = want;
			continue;
		}
		if (!strcmp(argv[i], "--isolate") || !strcmp(argv[i], "--no-isolate")) {
			int want = !strcmp(argv[i], "--isolate");
			if (isolate >= 0 && isolate != want)
				return ctnet_cli_usage("init: --isolate and --no-isolate together");
			isolate = want;
			continue;
		}
		if (!strcmp(argv[i], "--no-cluster-cidr")) {
			no_cluster = true;
			continue;
		}
		const char *v = opt_value(argc, argv, &i, "--cluster-cidr", &bad);
		if (!bad && v) {
			if (nc == ARRAY_SIZE(cluster))
				return ctnet_cli_usage("init: at most %zu cluster CIDRs", ARRAY_SIZE(cluster));
			if (ctnet_cidr_parse(v, "--cluster-cidr", &cluster[nc++], &err) < 0)
				return ctnet_cli_fail(&err);
			continue;
		}
		if (!bad)
			v = opt_value(argc, argv, &i, "--external-interface", &bad);
		if (bad)
			return ctnet_cli_usage("init: %s needs a value", argv[i]);
		if (!v)
			return ctnet_cli_usage("init: unexpected argument \"%s\"", argv[i]);
		if (n == ARRAY_SIZE(ext))
			return ctnet_cli_usage("init: at most %zu external interfaces", ARRAY_SIZE(ext));
		ext[n++] = v;
	}
	if (no_cluster && nc)
		return ctnet_cli_usage("init: --cluster-cidr and --no-cluster-cidr together");
	h = (struct nat_host){ .n_ext = n, .ext = ext, .n_cluster = nc, .cluster = cluster };
	if (ctnet_hostconf_load(&hc, &err) < 0)
		return ctnet_cli_fail(&err);
	for (size_t i = 0; i < hc.n_ext; i++)
		hc_ext[i] = hc.ext[i];
	if (init_host(&hc, &h, hc_ext, nc > 0, no_cluster, &err) < 0 || nat_init_host(kern, &h, isolate, &err) < 0)
		return ctnet_cli_fail(&err);
	unsigned changed = 0;
	if (docker >= 0 && (docker ? nat_docker_accept(kern, &changed, &err) : nat_docker_remove(kern, &changed, &err)) < 0)
		return ctnet_cli_fail(&err);
	if (changed)
		printf("%s accept rules for ctnet's containers in DOCKER-USER (%u rules written)\n",
		       docker ? "put" : "removed", changed);
	return CTNET_EXIT_OK;
}

static int cmd_add(struct ctnet_kern *kern, int argc, char **argv)
{
	struct nat_container *c = calloc(1, sizeof(*c));
	struct ctnet_err err = { 0 };
	const char *address = NULL;
	int rc = CTNET_EXIT_FAIL;

	if (!c)
		return CTNET_EXIT_FAIL;
	for (int i = 0; i < argc; i++) {
		int bad = 0;
		const char *v;
		if ((v = opt_value(argc, argv, &i, "--address", &bad))) {
			address = v;
			if (ctnet_addr_parse(v, AF_INET, CTNET_ADDR_NOPREFIX, "--address", &c->addr, &err) < 0)
				goto fail;
		} else if (!bad && (v = opt_value(argc, argv, &i, "--address6", &bad))) {
			c->has_addr6 = true;
			if (ctnet_addr_parse(v, AF_INET6, CTNET_ADDR_NOPREFIX, "--address6", &c->addr6, &err) < 0)
				goto fail;
		} else if (!bad && (v = opt_value(argc, argv, &i, "--iface", &bad))) {
			if (ctnet_ifname_check(v, &err) < 0)
				goto fail;
			c->iface = v;
		} else if (!bad && (v = opt_value(argc, argv, &i, "--bridge", &bad))) {
			if (ctnet_ifname_check(v, &err) < 0)
				goto fail;
			c->bridge = v;
		} else if (!bad && (v = opt_value(argc, argv, &i, "--mac", &bad))) {
			c->has_mac = true;
			if (ctnet_mac_parse(v, c->mac, &err) < 0)
				goto fail;
		} else if (!bad && (v = opt_value(argc, argv, &i, "--host-address", &bad))) {
			if (ctnet_addr_parse(v, AF_INET, CTNET_ADDR_NOPREFIX, "--host-address", &c->host, &err) < 0)
				goto fail;
		} else if (!bad && (v = opt_value(argc, argv, &i, "--host-address6", &bad))) {
			if (ctnet_addr_parse(v, AF_INET6, CTNET_ADDR_NOPREFIX, "--host-address6", &c->host6, &err) < 0)
				goto fail;
		} else if (!bad && (v = opt_value(argc, argv, &i, "--forward", &bad))) {
			if (c->n_forwards == NAT_MAX_FORWARDS) {
				ctnet_errf(&err, EINVAL, "more than %d forwards", NAT_MAX_FORWARDS);
				goto fail;
			}
			if (nat_forward_parse(v, &c->forwards[c->n_forwards++], &err) < 0)
				goto fail;
		} else if (bad) {
			rc = ctnet_cli_usage("add: %s needs a value", argv[i]);
			goto out;
		} else if (argv[i][0] == '-' || c->name) {
			rc = ctnet_cli_usage("add: unexpected argument \"%s\"", argv[i]);
			goto out;
		} else {
			c->name = argv[i];
		}
	}
	if (!c->name || !address || !c->iface) {
		rc = ctnet_cli_usage("add: needs NAME, --address and --iface");
		goto out;
	}
	if (nat_add(kern, c, &err) < 0)
		goto fail;
	rc = CTNET_EXIT_OK;
	goto out;
fail:
	rc = ctnet_cli_fail(&err);
out:
	free(c);
	return rc;
}

static int cmd_del(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	if (argc != 1)
		return ctnet_cli_usage("del: needs exactly one NAME");
	if (nat_del(kern, argv[0], &err) < 0)
		return ctnet_cli_fail(&err);
	return CTNET_EXIT_OK;
}

static int cmd_forward(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	struct nat_forward f;
	const char *name = NULL, *spec = NULL, *host_ip = NULL;
	bool add;

	if (argc < 1 || (strcmp(argv[0], "add") && strcmp(argv[0], "del")))
		return ctnet_cli_usage("forward: expected \"add\" or \"del\"");
	add = !strcmp(argv[0], "add");
	for (int i = 1; i < argc; i++) {
		int bad = 0;
		const char *v = opt_value(argc, argv, &i, "--host-ip", &bad);
		if (bad)
			return ctnet_cli_usage("forward: --host-ip needs a value");
		if (v)
			host_ip = v;
		else if (argv[i][0] == '-' || (name && spec))
			return ctnet_cli_usage("forward: unexpected argument \"%s\"", argv[i]);
		else if (!name)
			name = argv[i];
		else
			spec = argv[i];
	}
	if (!name || !spec)
		return ctnet_cli_usage("forward %s: needs NAME and SPEC", argv[0]);
	if (nat_forward_parse(spec, &f, &err) < 0)
		return ctnet_cli_fail(&err);
	if (host_ip) {
		f.has_host_ip = true;
		if (ctnet_addr_parse(host_ip, 0, CTNET_ADDR_NOPREFIX, "--host-ip", &f.host_ip, &err) < 0)
			return ctnet_cli_fail(&err);
	}
	if ((add ? nat_forward_add(kern, name, &f, &err) : nat_forward_del(kern, name, &f, &err)) < 0)
		return ctnet_cli_fail(&err);
	return CTNET_EXIT_OK;
}

struct list_ctx {
	struct out *o;
	struct nat_counters *cn;
	int rows;
};

static const char *forward_to(const struct nat_container *c, const struct nat_forward *f,
			      char *buf, size_t len)
{
	char a[CTNET_ADDR_STRLEN], ports[16];
	bool v6 = f->has_host_ip && f->host_ip.family == AF_INET6;
	if (f->container_lo == f->container_hi)
		snprintf(ports, sizeof(ports), "%u", f->container_lo);
	else
		snprintf(ports, sizeof(ports), "%u-%u", f->container_lo, f->container_hi);
	snprintf(buf, len, v6 ? "[%s]:%s" : "%s:%s", ctnet_addr_str(v6 ? &c->addr6 : &c->addr, a),
		 ports);
	return buf;
}

/* A forward: a line under its container, an object in its "forwards". */
static void forward_out(struct out *o, const struct nat_container *c, const struct nat_forward *f,
			const struct nat_stat *st)
{
	char spec[64], to[96], hip[CTNET_ADDR_STRLEN];

	out_open_object(o, NULL);
	out_str(o, PRINT_ANY, "spec", "  forward %-22s", nat_forward_str(f, spec, sizeof(spec)));
	out_str(o, PRINT_JSON, "proto", NULL, f->proto == NAT_UDP ? "udp" : "tcp");
	out_uint(o, PRINT_JSON, "host_port", NULL, f->host_lo);
	out_uint(o, PRINT_JSON, "host_port_last", NULL, f->host_hi);
	out_uint(o, PRINT_JSON, "container_port", NULL, f->container_lo);
	out_uint(o, PRINT_JSON, "container_port_last", NULL, f->container_hi);
	if (f->has_host_ip)
		out_str(o, PRINT_ANY, "host_ip", " on %-16s", ctnet_addr_str(&f->host_ip, hip));
	else
		out_text(o, "%-16s", "");
	out_text(o, " -> %-28s", forward_to(c, f, to, sizeof(to)));
	out_bool(o, PRINT_JSON, "in_kernel", st->present);
	out_uint(o, PRINT_ANY, "connections", " %llu connections", st->packets);
	out_text(o, "%s\n", st->present ? "" : "  (not in kernel)");
	out_close_object(o);
}

/* The table's columns (the header comes with the first container). */
static const struct out_col list_cols[] = {
	{ .key = "name", .title = "CONTAINER", .width = -20 },
	{ .key = "iface", .title = "IFACE", .width = -15 },
	{ .key = "address", .title = "ADDRESS", .width = -15 },
	{ .key = "address6", .title = "ADDRESS6", .width = -24 },
	{ .key = "packets", .title = "SENT-PKTS", .width = 12 },
	{ .key = "bytes", .title = "SENT-BYTES", .width = 14 },
	{ .key = "absent" },
};

static int list_one(const struct nat_container *c, void *data)
{
	struct list_ctx *l = data;
	struct out *o = l->o;
	char a4[CTNET_ADDR_STRLEN], a6[CTNET_ADDR_STRLEN];
	struct nat_stat st;

	nat_counters_container(l->cn, c, &st);
	l->rows++;
	out_row_open(o);
	out_str(o, PRINT_ANY, "name", NULL, c->name);
	out_str(o, PRINT_ANY, "iface", NULL, c->iface);
	out_str(o, PRINT_ANY, "address", NULL, ctnet_addr_str(&c->addr, a4));
	if (c->has_addr6)
		out_str(o, PRINT_ANY, "address6", NULL, ctnet_addr_str(&c->addr6, a6));
	out_bool(o, PRINT_JSON, "in_kernel", st.present);
	out_str(o, PRINT_FP, "absent", NULL, st.present ? "" : "  (not in kernel)");
	out_open_object(o, "sent");
	out_uint(o, PRINT_ANY, "packets", NULL, st.packets);
	out_uint(o, PRINT_ANY, "bytes", NULL, st.bytes);
	out_close_object(o);
	out_row_flush(o);
	out_open_array(o, "forwards");
	for (size_t i = 0; i < c->n_forwards; i++) {
		nat_counters_forward(l->cn, c, &c->forwards[i], &st);
		forward_out(o, c, &c->forwards[i], &st);
	}
	out_close_array(o);
	out_row_close(o);
	return 0;
}

/* A container as read from the store, kept until the kernel's counters are in. */
struct listed {
	char name[CTNET_NAME_MAX + 1], iface[CTNET_IFNAME_MAX + 1], bridge[CTNET_IFNAME_MAX + 1];
	struct nat_container c; /* forwards beyond n_forwards are not copied */
};

struct listing {
	struct listed **v;
	size_t n, cap;
};

static int keep_one(const struct nat_container *c, void *data)
{
	struct listing *ls = data;
	size_t size = offsetof(struct listed, c.forwards) + c->n_forwards * sizeof(c->forwards[0]);
	struct listed *e;
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 256;
		struct listed **v = realloc(ls->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ls->v = v;
		ls->cap = cap;
	}
	if (!(e = malloc(size)))
		return -ENOMEM;
	memcpy(&e->c, c, size - offsetof(struct listed, c));
	snprintf(e->name, sizeof(e->name), "%s", c->name);
	snprintf(e->iface, sizeof(e->iface), "%s", c->iface);
	snprintf(e->bridge, sizeof(e->bridge), "%s", c->bridge ? c->bridge : "");
	e->c.name = e->name;
	e->c.iface = e->iface;
	e->c.bridge = e->bridge; /* every pointer into the store's entry, which is reused */
	ls->v[ls->n++] = e;
	return 0;
}

struct counters_job {
	struct nat_counters *cn;
	struct ctnet_err err;
	int r;
};

static void *counters_thread(void *arg)
{
	struct counters_job *j = arg;
	struct ctnet_kern kern; /* this thread's own */
	ctnet_kern_init(&kern);
	j->r = nat_counters_read(&kern, &j->cn, &j->err);
	ctnet_kern_close(&kern);
	return NULL;
}

/*
 * The recorded containers (a file each) and the kernel's counters (set dumps) are read at
 * the same time, the kernel in a second thread: at 5,000 containers each takes tens of ms.
 */
static int cmd_list(struct ctnet_kern *kern, int argc, char **argv)
{
	(void)kern; /* the counters are read by a thread with its own */
	struct ctnet_err err = { 0 };
	struct list_ctx l = { 0 };
	struct out o;
	bool json = false;
	struct counters_job job = { 0 };
	struct listing ls = { 0 };
	struct nat_container *c = NULL;
	pthread_t t;
	bool threaded;
	int r;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return ctnet_cli_usage("list: unexpected argument \"%s\"", argv[i]);
	}
	threaded = pthread_create(&t, NULL, counters_thread, &job) == 0;
	if (!threaded)
		counters_thread(&job);
	r = nat_list_containers(keep_one, &ls, &err);
	if (r == -ENOMEM && !err.msg[0])
		ctnet_errf(&err, ENOMEM, "list: out of memory");
	if (threaded)
		pthread_join(t, NULL);
	if (job.r < 0 && r >= 0) {
		err = job.err;
		r = job.r;
	}
	if (r >= 0 && ls.n && !(c = malloc(sizeof(*c))))
		r = ctnet_errf(&err, ENOMEM, "list: out of memory");
	l.cn = job.cn;
	l.o = &o;
	out_init(&o, stdout, json ? OUT_JSON : OUT_TEXT);
	out_open_object(&o, NULL);
	out_table_open(&o, "containers", list_cols, ARRAY_SIZE(list_cols), OUT_HEADER_LATER);
	for (size_t i = 0; r >= 0 && i < ls.n; i++) {
		/* A whole struct again: the counters code may look at every field. */
		memcpy(c, &ls.v[i]->c, offsetof(struct nat_container, forwards) +
					       ls.v[i]->c.n_forwards * sizeof(c->forwards[0]));
		list_one(c, &l);
	}
	for (size_t i = 0; i < ls.n; i++)
		free(ls.v[i]);
	free(ls.v);
	free(c);
	nat_counters_free(l.cn);
	if (r < 0) {
		out_end(&o);
		return ctnet_cli_fail(&err);
	}
	out_table_close(&o);
	if (!l.rows)
		out_text(&o, "no containers\n");
	out_close_object(&o);
	return ctnet_cli_out_end(&o, CTNET_EXIT_OK);
}

static void print_line(const char *line, void *data)
{
	(void)data;
	printf("%s\n", line);
}

static int cmd_check(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	int r;
	(void)argv;
	if (argc)
		return ctnet_cli_usage("check: takes no arguments");
	r = nat_check(kern, print_line, NULL, &err);
	if (r < 0)
		return ctnet_cli_fail(&err);
	if (r > 0) {
		printf("%d difference%s between the kernel and the recorded state; "
		       "`ctnet-nat restore` fixes them\n", r, r == 1 ? "" : "s");
		return CTNET_EXIT_FAIL;
	}
	printf("in sync\n");
	return CTNET_EXIT_OK;
}

static int cmd_simple(struct ctnet_kern *kern, int argc, int (*fn)(struct ctnet_kern *, struct ctnet_err *),
		      const char *name)
{
	struct ctnet_err err = { 0 };
	if (argc)
		return ctnet_cli_usage("%s: takes no arguments", name);
	if (fn(kern, &err) < 0)
		return ctnet_cli_fail(&err);
	return CTNET_EXIT_OK;
}

/* --cgroup PATH, before or after the command: where loopback forwards' BPF programs attach
 * ($CTNET_CGROUP for the library). Removed from argv; an exit code on bad use, else -1. */
static int take_cgroup(int *argc, char **argv)
{
	for (int i = 1; i < *argc; i++) {
		int bad = 0;
		const char *v = opt_value(*argc, argv, &i, "--cgroup", &bad);
		if (bad)
			return ctnet_cli_usage("--cgroup needs a value");
		if (!v)
			continue;
		if (v[0] != '/')
			return ctnet_cli_usage("--cgroup \"%s\": not an absolute path", v);
		setenv("CTNET_CGROUP", v, 1);
		int at = v == argv[i] ? i - 1 : i; /* "--cgroup PATH" or "--cgroup=PATH" */
		memmove(&argv[at], &argv[i + 1], (size_t)(*argc - i - 1) * sizeof(*argv));
		*argc -= i + 1 - at;
		i = at - 1;
	}
	return -1;
}

static int nat_main(int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	const char *cmd;

	ctnet_prog = "ctnet-nat";
	int rc0 = take_cgroup(&argc, argv);
	if (rc0 >= 0)
		return rc0;
	if (argc < 2)
		return ctnet_cli_usage("missing command");
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
		return usage();
	if (!strcmp(cmd, "--version"))
		return ctnet_cli_version();
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--help"))
			return usage();
	/* CAP_BPF (CAP_SYS_ADMIN before Linux 5.8) loads and reads the loopback forwards'
	 * programs and map; CAP_SYS_ADMIN also mounts /sys/fs/bpf again when it is gone. list
	 * reads neither. */
	unsigned keep = CTNET_CAP_NET_ADMIN | (strcmp(cmd, "list") ? CTNET_CAP_BPF | CTNET_CAP_SYS_ADMIN : 0);
	if (ctnet_caps_limit(keep, &err) < 0 ||
	    ctnet_caps_require(CTNET_CAP_NET_ADMIN, cmd, &err) < 0)
		return ctnet_cli_fail(&err);
	argc -= 2;
	argv += 2;
	static const struct {
		const char *name;
		int (*fn)(struct ctnet_kern *kern, int argc, char **argv);
	} cmds[] = {
		{ "init", cmd_init }, { "add", cmd_add }, { "del", cmd_del },
		{ "forward", cmd_forward }, { "list", cmd_list }, { "check", cmd_check },
	};
	struct ctnet_kern kern;
	int rc = -1;
	ctnet_kern_init(&kern);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmd, cmds[i].name))
			rc = cmds[i].fn(&kern, argc, argv);
	if (!strcmp(cmd, "restore"))
		rc = cmd_simple(&kern, argc, host_restore, "restore");
	if (!strcmp(cmd, "flush"))
		rc = cmd_simple(&kern, argc, nat_flush, "flush");
	nat_release(&kern, true);
	if (rc >= 0)
		return rc;
	return ctnet_cli_usage("unknown command \"%s\"", cmd);
}

int main(int argc, char **argv)
{
	/* Output that did not reach its reader is a failure, whichever command wrote it. */
	return ctnet_cli_flush(nat_main(argc, argv));
}
