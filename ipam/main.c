/* SPDX-License-Identifier: MIT */
/* ctnet-ipam: the command line over ipam.h. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "caps.h"
#include "cli.h"
#include "ipam.h"
#include "json.h"

static const char usage[] =
	"Usage: ctnet-ipam COMMAND [OPTIONS]\n"
	"Hand out address pairs for containers (default pool " IPAM_DEFAULT_POOL ").\n"
	"\n"
	"  alloc NAME [--pool CIDR] [--single] [--ipv6] [--nixos-conf-dir DIR] [--json]\n"
	"        the lease of NAME, allocated if it has none\n"
	"  reserve NAME --local-address B [--host-address A] [--pool CIDR] [--single]\n"
	"        [--ipv6] [--nixos-conf-dir DIR] [--json]\n"
	"        a static lease with these addresses\n"
	"  release NAME          drop NAME's lease (none is fine)\n"
	"  show NAME [--json]    NAME's lease; exit 1 when it has none\n"
	"  list [--json]         every lease\n"
	"\n"
	"Output is shell-sourceable: HOST_ADDRESS=, LOCAL_ADDRESS= (and HOST_ADDRESS6=,\n"
	"LOCAL_ADDRESS6= with --ipv6), nixos-container's keys. --single: a bridge pool, one\n"
	"address per container with the pool's prefix, the pool's .1 kept for the bridge.\n"
	"Addresses in $CTNET_NIXOS_CONF_DIR/*.conf (default /etc/nixos-containers) are taken.\n"
	"State: $CTNET_STATE_DIR/ipam (default /var/lib/ctnet/ipam).\n"
	"\n"
	"  -h, --help     this text\n"
	"  -V, --version  the version\n"
	"Exit status: 0 ok, 1 failure, 2 usage.\n";

enum { O_POOL = 1, O_SINGLE, O_IPV6, O_JSON, O_CONFDIR, O_HOST, O_LOCAL, O_HELP, O_VERSION };

/* Which options each command takes, as a bit set over the enum above. */
#define BIT(o) (1u << (o))
static const struct command {
	const char *name;
	bool takes_name;
	unsigned opts;
} commands[] = {
	{ "alloc", true, BIT(O_POOL) | BIT(O_SINGLE) | BIT(O_IPV6) | BIT(O_JSON) | BIT(O_CONFDIR) },
	{ "reserve", true,
	  BIT(O_POOL) | BIT(O_SINGLE) | BIT(O_IPV6) | BIT(O_JSON) | BIT(O_CONFDIR) | BIT(O_HOST) |
		  BIT(O_LOCAL) },
	{ "release", true, 0 },
	{ "show", true, BIT(O_JSON) },
	{ "list", false, BIT(O_JSON) },
};

static json_t *addr_json(const struct ctnet_addr *a)
{
	char buf[CTNET_ADDR_STRLEN];
	return a->family ? json_string(ctnet_addr_cidr_str(a, buf)) : json_null();
}

static json_t *lease_json(const struct ipam_lease *l)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	ctnet_json_set_str(o, "name", l->name);
	ctnet_json_set_str(o, "pool", l->pool);
	json_object_set_new(o, "single", json_boolean(l->single));
	json_object_set_new(o, "static", json_boolean(l->is_static));
	json_object_set_new(o, "host_address", addr_json(&l->host));
	json_object_set_new(o, "local_address", addr_json(&l->local));
	json_object_set_new(o, "host_address6", addr_json(&l->host6));
	json_object_set_new(o, "local_address6", addr_json(&l->local6));
	return o;
}

/* Shell-sourceable: every value is a parsed address, so nothing needs quoting. */
static void lease_print(const struct ipam_lease *l)
{
	char buf[CTNET_ADDR_STRLEN];
	if (l->host.family)
		printf("HOST_ADDRESS=%s\n", ctnet_addr_cidr_str(&l->host, buf));
	printf("LOCAL_ADDRESS=%s\n", ctnet_addr_cidr_str(&l->local, buf));
	if (l->host6.family)
		printf("HOST_ADDRESS6=%s\n", ctnet_addr_cidr_str(&l->host6, buf));
	if (l->local6.family)
		printf("LOCAL_ADDRESS6=%s\n", ctnet_addr_cidr_str(&l->local6, buf));
}

static int output(const struct ipam_lease *l, bool json)
{
	struct ctnet_err err;
	if (!json) {
		lease_print(l);
		return CTNET_EXIT_OK;
	}
	if (ctnet_json_print(stdout, lease_json(l)) < 0) {
		ctnet_errf(&err, EIO, "print JSON");
		return ctnet_cli_fail(&err);
	}
	return CTNET_EXIT_OK;
}

static int list_json_cb(const struct ipam_lease *l, void *data)
{
	json_t *o = lease_json(l);
	return o && json_array_append_new(data, o) == 0 ? 0 : -ENOMEM;
}

static int list_table_cb(const struct ipam_lease *l, void *data)
{
	char h[CTNET_ADDR_STRLEN], lo[CTNET_ADDR_STRLEN], h6[CTNET_ADDR_STRLEN],
		l6[CTNET_ADDR_STRLEN];
	(void)data;
	printf("%-20s %-18s %-15s %-18s %-6s %s %s\n", l->name, l->pool,
	       l->host.family ? ctnet_addr_str(&l->host, h) : "-",
	       ctnet_addr_cidr_str(&l->local, lo), l->is_static ? "static" : "auto",
	       l->host6.family ? ctnet_addr_str(&l->host6, h6) : "-",
	       l->local6.family ? ctnet_addr_str(&l->local6, l6) : "-");
	return 0;
}

static int cmd_list(bool json)
{
	struct ctnet_err err = { 0 };
	int r;
	if (json) {
		json_t *arr = json_array();
		r = arr ? ipam_list(list_json_cb, arr, &err) : -ENOMEM;
		if (r < 0) {
			json_decref(arr);
			if (!err.msg[0])
				ctnet_errf(&err, r, "list leases: out of memory");
			return ctnet_cli_fail(&err);
		}
		if (ctnet_json_print(stdout, arr) < 0) {
			ctnet_errf(&err, EIO, "print JSON");
			return ctnet_cli_fail(&err);
		}
		return CTNET_EXIT_OK;
	}
	printf("%-20s %-18s %-15s %-18s %-6s %s %s\n", "NAME", "POOL", "HOST", "LOCAL", "KIND",
	       "HOST6", "LOCAL6");
	r = ipam_list(list_table_cb, NULL, &err);
	return r < 0 ? ctnet_cli_fail(&err) : CTNET_EXIT_OK;
}

/* The command named by argv[1] in *cmd and -1, or an exit code: help, version, or a
 * usage error. */
static int command_of(int argc, char **argv, const struct command **cmd)
{
	struct ctnet_err err = { 0 };
	char show[CTNET_SHOW_MAX];

	if (argc < 2)
		return ctnet_cli_usage("missing command");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage, stdout);
		return CTNET_EXIT_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))
		return ctnet_cli_version();
	/* Leases are files in a root-owned dir: no capability needed, so none kept. */
	if (ctnet_caps_limit(0, &err) < 0)
		return ctnet_cli_fail(&err);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			*cmd = &commands[i];
	if (!*cmd)
		return ctnet_cli_usage("unknown command \"%s\"", ctnet_show(argv[1], show));
	return -1;
}

/* Runs a parsed command line; the exit code. */
static int run(const struct command *cmd, const char *name, const struct ipam_opts *opts,
	       const char *host_s, const char *local_s, bool json)
{
	struct ctnet_err err = { 0 };
	struct ipam_lease lease;
	int r;

	if (!strcmp(cmd->name, "alloc")) {
		struct ctnet_kern kern;
		ctnet_kern_init(&kern);
		r = ipam_alloc(&kern, name, opts, &lease, &err);
		ctnet_kern_close(&kern);
	} else if (!strcmp(cmd->name, "reserve")) {
		struct ctnet_addr host, local;
		if (!local_s)
			return ctnet_cli_usage("reserve: --local-address is required");
		if (!host_s && !opts->single)
			return ctnet_cli_usage("reserve: --host-address is required (or --single)");
		if (ctnet_addr_parse(local_s, AF_INET, CTNET_ADDR_PREFIX_OK, "local address", &local,
				     &err) < 0 ||
		    (host_s && ctnet_addr_parse(host_s, AF_INET, CTNET_ADDR_PREFIX_OK, "host address",
						&host, &err) < 0))
			return ctnet_cli_fail(&err);
		struct ctnet_kern kern;
		ctnet_kern_init(&kern);
		r = ipam_reserve(&kern, name, host_s ? &host : NULL, &local, opts, &lease, &err);
		ctnet_kern_close(&kern);
	} else if (!strcmp(cmd->name, "release")) {
		r = ipam_release(name, &err);
		return r < 0 ? ctnet_cli_fail(&err) : CTNET_EXIT_OK;
	} else if (!strcmp(cmd->name, "show")) {
		r = ipam_show(name, &lease, &err);
	} else {
		return cmd_list(json);
	}
	if (r < 0)
		return ctnet_cli_fail(&err);
	return output(&lease, json);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pool", required_argument, NULL, O_POOL },
		{ "single", no_argument, NULL, O_SINGLE },
		{ "ipv6", no_argument, NULL, O_IPV6 },
		{ "json", no_argument, NULL, O_JSON },
		{ "nixos-conf-dir", required_argument, NULL, O_CONFDIR },
		{ "host-address", required_argument, NULL, O_HOST },
		{ "local-address", required_argument, NULL, O_LOCAL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct ipam_opts opts = { 0 };
	const struct command *cmd = NULL;
	const char *host_s = NULL, *local_s = NULL;
	bool json = false;
	char show[CTNET_SHOW_MAX];
	int c, r;

	ctnet_prog = "ctnet-ipam";
	if ((r = command_of(argc, argv, &cmd)) >= 0)
		return r;

	opterr = 0;
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return CTNET_EXIT_OK;
		}
		if (c == 'V')
			return ctnet_cli_version();
		if (c == '?' || c == ':')
			return ctnet_cli_usage("%s: bad option \"%s\"", cmd->name,
					       ctnet_show(argv[optind - 1], show));
		if (!(cmd->opts & BIT(c)))
			return ctnet_cli_usage("%s: option \"%s\" does not apply", cmd->name,
					       ctnet_show(argv[optind - 1], show));
		switch (c) {
		case O_POOL: opts.pool = optarg; break;
		case O_SINGLE: opts.single = true; break;
		case O_IPV6: opts.ipv6 = true; break;
		case O_JSON: json = true; break;
		case O_CONFDIR: opts.nixos_conf_dir = optarg; break;
		case O_HOST: host_s = optarg; break;
		case O_LOCAL: local_s = optarg; break;
		}
	}
	const char *name = NULL;
	if (cmd->takes_name) {
		if (optind >= argc)
			return ctnet_cli_usage("%s: missing container NAME", cmd->name);
		name = argv[optind++];
	}
	if (optind < argc)
		return ctnet_cli_usage("%s: unexpected argument \"%s\"", cmd->name,
				       ctnet_show(argv[optind], show));

	return run(cmd, name, &opts, host_s, local_s, json);
}
