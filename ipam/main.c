/* SPDX-License-Identifier: MIT */
/* ctnet-ipam: the command line over ipam.h. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "caps.h"
#include "cli.h"
#include "hostconf.h"
#include "ipam.h"
#include "out.h"

static const char usage[] =
	"Usage: ctnet-ipam COMMAND [OPTIONS]\n"
	"Hand out address pairs for containers (default pool: POOL of the host config\n"
	"$CTNET_CONF, /etc/ctnet/ctnet.conf, else " IPAM_DEFAULT_POOL "; IPv6 from its\n"
	"POOL6, else a random ULA /48).\n"
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

/* A lease: KEY=VALUE lines for a shell (every value a parsed address: nothing to quote), a
 * JSON object, or a row of the list (the addresses without their prefix but the local one). */
static void lease_out(struct out *o, const struct ipam_lease *l)
{
	char h[CTNET_ADDR_STRLEN], lo[CTNET_ADDR_STRLEN], h6[CTNET_ADDR_STRLEN], l6[CTNET_ADDR_STRLEN];
	char cidr[CTNET_ADDR_STRLEN];

	out_str(o, PRINT_ANY, "name", NULL, l->name);
	out_str(o, PRINT_ANY, "pool", NULL, l->pool);
	out_bool(o, PRINT_JSON, "single", l->single);
	out_bool(o, PRINT_JSON, "static", l->is_static);
	out_str(o, PRINT_FP, "kind", NULL, l->is_static ? "static" : "auto");
	out_str(o, PRINT_ANY, "host_address", "HOST_ADDRESS=%s\n",
		l->host.family ? ctnet_addr_cidr_str(&l->host, cidr) : NULL);
	out_str(o, PRINT_FP, "host", NULL, l->host.family ? ctnet_addr_str(&l->host, h) : "");
	out_str(o, PRINT_ANY, "local_address", "LOCAL_ADDRESS=%s\n",
		l->local.family ? ctnet_addr_cidr_str(&l->local, lo) : NULL);
	out_str(o, PRINT_ANY, "host_address6", "HOST_ADDRESS6=%s\n",
		l->host6.family ? ctnet_addr_cidr_str(&l->host6, cidr) : NULL);
	out_str(o, PRINT_FP, "host6", NULL, l->host6.family ? ctnet_addr_str(&l->host6, h6) : "");
	out_str(o, PRINT_ANY, "local_address6", "LOCAL_ADDRESS6=%s\n",
		l->local6.family ? ctnet_addr_cidr_str(&l->local6, cidr) : NULL);
	out_str(o, PRINT_FP, "local6", NULL, l->local6.family ? ctnet_addr_str(&l->local6, l6) : "");
}

static int output(const struct ipam_lease *l, bool json)
{
	struct out o;

	out_init(&o, stdout, json ? OUT_JSON : OUT_SHELL);
	out_open_object(&o, NULL);
	lease_out(&o, l);
	out_close_object(&o);
	return ctnet_cli_out_end(&o, CTNET_EXIT_OK);
}

static const struct out_col lease_cols[] = {
	{ .key = "name", .title = "NAME", .width = -20 },
	{ .key = "pool", .title = "POOL", .width = -18 },
	{ .key = "host", .title = "HOST", .width = -15 },
	{ .key = "local_address", .title = "LOCAL", .width = -18 },
	{ .key = "kind", .title = "KIND", .width = -6 },
	{ .key = "host6", .title = "HOST6" },
	{ .key = "local6", .title = "LOCAL6" },
};

static int list_one(const struct ipam_lease *l, void *data)
{
	out_row_open(data);
	lease_out(data, l);
	out_row_close(data);
	return 0;
}

static int cmd_list(bool json)
{
	struct ctnet_err err = { 0 };
	struct out o;
	int r;

	out_init(&o, stdout, json ? OUT_JSON : OUT_TEXT);
	out_table_open(&o, NULL, lease_cols, ARRAY_SIZE(lease_cols), 0);
	r = ipam_list(list_one, &o, &err);
	if (r < 0) {
		out_end(&o);
		if (!err.msg[0])
			ctnet_errf(&err, r, "list leases: out of memory");
		return ctnet_cli_fail(&err);
	}
	out_table_close(&o);
	return ctnet_cli_out_end(&o, CTNET_EXIT_OK);
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

static int ipam_main(int argc, char **argv)
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

	/* The host config's POOL and POOL6 (ctnet.conf(5)), read here once, for the commands
	 * that allocate: a bad file stops them, naming its line. */
	struct ctnet_hostconf hc;
	char pool[CTNET_ADDR_STRLEN];
	if (!strcmp(cmd->name, "alloc") || !strcmp(cmd->name, "reserve")) {
		struct ctnet_err err = { 0 };
		if (ctnet_hostconf_load(&hc, &err) < 0)
			return ctnet_cli_fail(&err);
		if (hc.pool4.family)
			opts.default_pool = ctnet_addr_cidr_str(&hc.pool4, pool);
		if (hc.pool6.family)
			opts.prefix6 = &hc.pool6;
	}
	return run(cmd, name, &opts, host_s, local_s, json);
}

int main(int argc, char **argv)
{
	/* Output that did not reach its reader is a failure, whichever command wrote it. */
	return ctnet_cli_flush(ipam_main(argc, argv));
}
