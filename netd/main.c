/* SPDX-License-Identifier: MIT */
/* ctnet-netd: a container's links, addresses and routes, inside and outside. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caps.h"
#include "cli.h"
#include "out.h"
#include "netd_int.h"

static const char usage_text[] =
	"Usage: ctnet-netd COMMAND [OPTIONS]\n"
	"\n"
	"  up NAME (--netns PATH | --pid PID) --host-address A --local-address B\n"
	"     [--host-address6 A6 --local-address6 B6] [--ifname eth0] [--host-ifname IF]\n"
	"     [--mac MAC] [--mtu N] [--bridge BR] [IMPAIRMENT] [--extra-veth SPEC]... [--json]\n"
	"        veth pair ve-NAME <-> eth0 (created inside the namespace), addresses, routes,\n"
	"        default route via the host. With --bridge: vb-NAME enslaved to BR, B with its\n"
	"        prefix, default route via --host-address or BR's own address. Idempotent;\n"
	"        without IMPAIRMENT options an earlier impairment is removed.\n"
	"  down NAME [--host-ifname IF] [--extra-veth IFNAME]...\n"
	"                                     remove the pair and those extra veths (absent = success)\n"
	"  show [NAME] [--json]               ctnet's links, addresses, routes and impairment\n"
	"  impair NAME (--netns PATH | --pid PID) [--host-ifname IF] [--ifname eth0] [IMPAIRMENT]\n"
	"                                     change the pair's impairment in place (none = remove)\n"
	"  extra-veth add NAME SPEC (--netns PATH | --pid PID)\n"
	"  extra-veth del NAME IFNAME\n"
	"        a second pair IFNAME <-> IFNAME (NixOS extraVeths), SPEC:\n"
	"        IFNAME[,host-bridge=BR][,host-address=A][,local-address=B][,host-address6=A6]\n"
	"        [,local-address6=B6]; bridged, or point-to-point with routes (never a default)\n"
	"\n"
	"  IMPAIRMENT, each end's egress (both directions; tc syntax):\n"
	"     [--delay TIME] [--jitter TIME] [--loss PCT] [--rate RATE]   50ms 1% 10mbit\n"
	"  bridge add BR --address CIDR       create a bridge (idempotent)\n"
	"  bridge del BR                      delete a bridge made by `bridge add`\n"
	"  move IFACE (--netns PATH | --pid PID) [--ifname NEW]\n"
	"                                     move a host interface into the namespace\n"
	"  macvlan add PARENT NAME (--netns PATH | --pid PID) [--mode bridge|private|vepa|passthru]\n"
	"                                     a macvlan of PARENT created inside the namespace\n"
	"\n"
	"  -h, --help, -V, --version\n"
	"Exit status: 0 success, 1 failure, 2 usage.\n";

enum {
	O_NETNS = 256, O_PID, O_HOST, O_LOCAL, O_HOST6, O_LOCAL6, O_IFNAME, O_HOST_IFNAME,
	O_MAC, O_MTU, O_BRIDGE, O_JSON, O_ADDRESS, O_MODE, O_DELAY, O_JITTER, O_LOSS, O_RATE,
	O_EXTRA,
};

static const struct option long_opts[] = {
	{ "netns", required_argument, NULL, O_NETNS },
	{ "pid", required_argument, NULL, O_PID },
	{ "host-address", required_argument, NULL, O_HOST },
	{ "local-address", required_argument, NULL, O_LOCAL },
	{ "host-address6", required_argument, NULL, O_HOST6 },
	{ "local-address6", required_argument, NULL, O_LOCAL6 },
	{ "ifname", required_argument, NULL, O_IFNAME },
	{ "host-ifname", required_argument, NULL, O_HOST_IFNAME },
	{ "mac", required_argument, NULL, O_MAC },
	{ "mtu", required_argument, NULL, O_MTU },
	{ "bridge", required_argument, NULL, O_BRIDGE },
	{ "json", no_argument, NULL, O_JSON },
	{ "address", required_argument, NULL, O_ADDRESS },
	{ "mode", required_argument, NULL, O_MODE },
	{ "delay", required_argument, NULL, O_DELAY },
	{ "jitter", required_argument, NULL, O_JITTER },
	{ "loss", required_argument, NULL, O_LOSS },
	{ "rate", required_argument, NULL, O_RATE },
	{ "extra-veth", required_argument, NULL, O_EXTRA },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Every option any command takes; each command says which it accepts. */
struct opts {
	const char *netns, *pid, *host, *local, *host6, *local6, *ifname, *host_ifname, *mac,
		*mtu, *bridge, *address, *mode, *delay, *jitter, *loss, *rate;
	const char *extra[NETD_EXTRA_VETH_MAX]; /* --extra-veth, the one repeatable option */
	int nextra;
	int json;
	int npos;
	const char *pos[4];
	unsigned seen; /* bit per option, O_x - O_NETNS */
};

static int parse(int argc, char **argv, const char *cmd, unsigned allowed, int minpos,
		 int maxpos, struct opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hV", long_opts, NULL)) != -1) {
		const char **slot = NULL;
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			exit(CTNET_EXIT_OK);
		case 'V':
			exit(ctnet_cli_version());
		case ':':
			return ctnet_cli_usage("%s: option %s needs a value", cmd, argv[optind - 1]);
		case '?':
			return ctnet_cli_usage("%s: unknown option '%s'", cmd, argv[optind - 1]);
		case O_NETNS: slot = &o->netns; break;
		case O_PID: slot = &o->pid; break;
		case O_HOST: slot = &o->host; break;
		case O_LOCAL: slot = &o->local; break;
		case O_HOST6: slot = &o->host6; break;
		case O_LOCAL6: slot = &o->local6; break;
		case O_IFNAME: slot = &o->ifname; break;
		case O_HOST_IFNAME: slot = &o->host_ifname; break;
		case O_MAC: slot = &o->mac; break;
		case O_MTU: slot = &o->mtu; break;
		case O_BRIDGE: slot = &o->bridge; break;
		case O_ADDRESS: slot = &o->address; break;
		case O_MODE: slot = &o->mode; break;
		case O_DELAY: slot = &o->delay; break;
		case O_JITTER: slot = &o->jitter; break;
		case O_LOSS: slot = &o->loss; break;
		case O_RATE: slot = &o->rate; break;
		case O_EXTRA:
			if (o->nextra >= NETD_EXTRA_VETH_MAX)
				return ctnet_cli_usage("%s: more than %d --extra-veth", cmd,
						       NETD_EXTRA_VETH_MAX);
			o->extra[o->nextra++] = optarg;
			break;
		case O_JSON: o->json = 1; break;
		}
		if (c >= O_NETNS) {
			unsigned bit = 1u << (c - O_NETNS);
			if (!(allowed & bit))
				return ctnet_cli_usage("%s: option --%s does not apply", cmd,
						       long_opts[c - O_NETNS].name);
			if ((o->seen & bit) && c != O_EXTRA)
				return ctnet_cli_usage("%s: option --%s given twice", cmd,
						       long_opts[c - O_NETNS].name);
			o->seen |= bit;
		}
		if (slot)
			*slot = optarg;
	}
	for (int i = optind; i < argc; i++) {
		if (o->npos >= maxpos)
			return ctnet_cli_usage("%s: unexpected argument '%s'", cmd, argv[i]);
		o->pos[o->npos++] = argv[i];
	}
	if (o->npos < minpos)
		return ctnet_cli_usage("%s: missing argument", cmd);
	return 0;
}

#define BIT(o) (1u << ((o) - O_NETNS))

/* Capabilities first, so a missing one is a clear error before any kernel call. */
static int need_caps(unsigned caps)
{
	struct ctnet_err err = { 0 };
	if (ctnet_caps_require(caps, "ctnet-netd", &err) < 0)
		return ctnet_cli_fail(&err);
	return 0;
}

/* --netns / --pid: exactly one. Returns fd or exits with the right code via *rc. */
static int open_ns(const struct opts *o, const char *cmd, int *rc)
{
	struct ctnet_err err = { 0 };
	unsigned long pid = 0;
	int fd;

	if (!!o->netns == !!o->pid) {
		*rc = ctnet_cli_usage("%s: give exactly one of --netns PATH and --pid PID", cmd);
		return -1;
	}
	if (o->pid && ctnet_uint_parse(o->pid, 1, 4194304, "pid", &pid, &err) < 0) {
		*rc = ctnet_cli_fail(&err);
		return -1;
	}
	fd = netd_netns_open(o->netns, (pid_t)pid, &err);
	if (fd < 0)
		*rc = ctnet_cli_fail(&err);
	return fd;
}

#define IMPAIR_BITS (BIT(O_DELAY) | BIT(O_JITTER) | BIT(O_LOSS) | BIT(O_RATE))

/* --delay/--jitter/--loss/--rate: none given = no impairment (im->set false). */
static int parse_impair(const struct opts *o, struct netd_impair *im, struct ctnet_err *err)
{
	memset(im, 0, sizeof(*im));
	if (!(o->seen & IMPAIR_BITS))
		return 0;
	im->set = true;
	if ((o->delay && netd_impair_parse_time(o->delay, "delay", &im->delay_us, err) < 0) ||
	    (o->jitter && netd_impair_parse_time(o->jitter, "jitter", &im->jitter_us, err) < 0) ||
	    (o->loss && netd_impair_parse_loss(o->loss, &im->loss_ppm, err) < 0) ||
	    (o->rate && netd_impair_parse_rate(o->rate, &im->rate_bps, err) < 0))
		return -EINVAL;
	return netd_impair_check(im, err);
}

static int parse_addr(const char *s, int family, int mode, const char *what,
		      struct ctnet_addr *a, struct ctnet_err *err)
{
	if (!s)
		return 0;
	return ctnet_addr_parse(s, family, mode, what, a, err);
}

/* up's options into *spec, *im and extra[] (o->nextra of them), all checked before the
 * first kernel call (spec->netns_fd comes later); 0 or the exit code. */
static int up_spec(const struct opts *o, struct netd_spec *spec, struct netd_impair *im,
		   struct netd_extra_veth *extra)
{
	struct ctnet_err err = { 0 };
	unsigned long mtu = 0;

	if (!o->local)
		return ctnet_cli_usage("up: --local-address is required");
	if (!o->host && !o->bridge)
		return ctnet_cli_usage("up: --host-address is required (unless --bridge)");
	if (o->host6 && !o->local6)
		return ctnet_cli_usage("up: --host-address6 needs --local-address6");
	if (o->local6 && !o->host6 && !o->bridge)
		return ctnet_cli_usage("up: --local-address6 needs --host-address6 (unless --bridge)");
	if (!!o->netns == !!o->pid)
		return ctnet_cli_usage("up: give exactly one of --netns PATH and --pid PID");

	/* Everything is checked before the first kernel call. */
	spec->name = o->pos[0];
	spec->ifname = o->ifname;
	spec->host_ifname = o->host_ifname;
	spec->bridge = o->bridge;
	spec->mac = o->mac;
	spec->has_v6 = o->local6 != NULL;
	spec->netns_fd = 0; /* checked for real below */
	if (parse_addr(o->host, AF_INET, CTNET_ADDR_PREFIX_OK, "host address", &spec->host, &err) < 0 ||
	    parse_addr(o->local, AF_INET, CTNET_ADDR_PREFIX_OK, "local address", &spec->local, &err) < 0 ||
	    parse_addr(o->host6, AF_INET6, CTNET_ADDR_PREFIX_OK, "host IPv6 address", &spec->host6, &err) < 0 ||
	    parse_addr(o->local6, AF_INET6, CTNET_ADDR_PREFIX_OK, "local IPv6 address", &spec->local6, &err) < 0 ||
	    (o->mtu && ctnet_uint_parse(o->mtu, NETD_MTU_MIN, NETD_MTU_MAX, "MTU", &mtu, &err) < 0))
		return ctnet_cli_fail(&err);
	spec->mtu = (unsigned)mtu;
	if (netd_spec_check(spec, &err) < 0 || parse_impair(o, im, &err) < 0)
		return ctnet_cli_fail(&err);
	for (int i = 0; i < o->nextra; i++) {
		if (netd_extra_veth_parse(o->extra[i], &extra[i], &err) < 0)
			return ctnet_cli_fail(&err);
		for (int k = 0; k < i; k++)
			if (!strcmp(extra[k].ifname, extra[i].ifname))
				return ctnet_cli_usage("up: --extra-veth %s given twice", extra[i].ifname);
	}
	return 0;
}

static int up_print(const struct netd_spec *spec, const struct netd_result *res, bool json)
{
	struct out o;

	out_init(&o, stdout, json ? OUT_JSON : OUT_TEXT);
	out_open_object(&o, NULL);
	out_str(&o, PRINT_ANY, "name", "%s: ", spec->name);
	out_str(&o, PRINT_ANY, "host_ifname", "%s <-> ", res->host_ifname);
	out_int(&o, PRINT_JSON, "host_ifindex", NULL, res->host_ifindex);
	out_str(&o, PRINT_ANY, "ifname", "%s\n", res->ifname);
	out_close_object(&o);
	return ctnet_cli_out_end(&o, 0);
}

static int cmd_up(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	struct netd_spec spec = { 0 };
	struct netd_result res;
	struct netd_impair im;
	struct netd_extra_veth extra[NETD_EXTRA_VETH_MAX];
	struct opts o;
	int rc = 0, fd;

	if ((rc = parse(argc, argv, "up",
			BIT(O_NETNS) | BIT(O_PID) | BIT(O_HOST) | BIT(O_LOCAL) | BIT(O_HOST6) |
				BIT(O_LOCAL6) | BIT(O_IFNAME) | BIT(O_HOST_IFNAME) | BIT(O_MAC) |
				BIT(O_MTU) | BIT(O_BRIDGE) | BIT(O_JSON) | IMPAIR_BITS | BIT(O_EXTRA),
			1, 1, &o)))
		return rc;
	if ((rc = up_spec(&o, &spec, &im, extra)))
		return rc;
	if ((rc = need_caps(CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN)))
		return rc;
	if ((fd = open_ns(&o, "up", &rc)) < 0)
		return rc;
	spec.netns_fd = fd;
	/* The pair stays when a later step fails (run down); each step is idempotent. */
	if (netd_up(kern, &spec, &res, &err) < 0 ||
	    netd_impair_apply(kern, res.host_ifname, fd, res.ifname, &im, &err) < 0) {
		close(fd);
		return ctnet_cli_fail(&err);
	}
	for (int i = 0; i < o.nextra; i++) {
		if (netd_extra_veth_add(kern, spec.name, fd, &extra[i], &err) < 0) {
			close(fd);
			return ctnet_cli_fail(&err);
		}
	}
	close(fd);
	return up_print(&spec, &res, o.json);
}

static int cmd_down(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	struct opts o;
	int rc;

	struct netd_extra_veth extra[NETD_EXTRA_VETH_MAX];

	if ((rc = parse(argc, argv, "down", BIT(O_HOST_IFNAME) | BIT(O_EXTRA), 1, 1, &o)))
		return rc;
	if (ctnet_name_check(o.pos[0], &err) < 0 ||
	    (o.host_ifname && ctnet_ifname_check(o.host_ifname, &err) < 0))
		return ctnet_cli_fail(&err);
	memset(extra, 0, sizeof(extra));
	for (int i = 0; i < o.nextra; i++) {
		if (ctnet_ifname_check(o.extra[i], &err) < 0)
			return ctnet_cli_fail(&err);
		snprintf(extra[i].ifname, sizeof(extra[i].ifname), "%s", o.extra[i]);
	}
	if ((rc = need_caps(CTNET_CAP_NET_ADMIN)))
		return rc;
	if (netd_extra_veth_del_all(kern, o.pos[0], extra, (size_t)o.nextra, &err) < 0 ||
	    netd_down(kern, o.pos[0], o.host_ifname, NULL, NULL, &err) < 0)
		return ctnet_cli_fail(&err);
	return 0;
}

static int cmd_show(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	struct netd_link_info *v = NULL;
	size_t n = 0;
	struct opts o;
	int rc;

	if ((rc = parse(argc, argv, "show", BIT(O_JSON), 0, 1, &o)))
		return rc;
	if (netd_show(kern, o.npos ? o.pos[0] : NULL, &v, &n, &err) < 0)
		return ctnet_cli_fail(&err);
	rc = netd_show_print(kern, o.json, v, n, &err);
	free(v);
	return rc;
}

static int cmd_bridge(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	struct ctnet_addr a;
	struct opts o;
	int rc;

	if (argc < 2)
		return ctnet_cli_usage("bridge: expected 'add' or 'del'");
	if (!strcmp(argv[1], "add")) {
		if ((rc = parse(argc - 1, argv + 1, "bridge add", BIT(O_ADDRESS), 1, 1, &o)))
			return rc;
		if (!o.address)
			return ctnet_cli_usage("bridge add: --address CIDR is required");
		if (ctnet_ifname_check(o.pos[0], &err) < 0 ||
		    ctnet_addr_parse(o.address, 0, CTNET_ADDR_PREFIX_REQ, "bridge address", &a, &err) < 0)
			return ctnet_cli_fail(&err);
		if ((rc = need_caps(CTNET_CAP_NET_ADMIN)))
			return rc;
		return netd_bridge_add(kern, o.pos[0], &a, &err) < 0 ? ctnet_cli_fail(&err) : 0;
	}
	if (!strcmp(argv[1], "del")) {
		if ((rc = parse(argc - 1, argv + 1, "bridge del", 0, 1, 1, &o)))
			return rc;
		if (ctnet_ifname_check(o.pos[0], &err) < 0)
			return ctnet_cli_fail(&err);
		if ((rc = need_caps(CTNET_CAP_NET_ADMIN)))
			return rc;
		return netd_bridge_del(kern, o.pos[0], &err) < 0 ? ctnet_cli_fail(&err) : 0;
	}
	return ctnet_cli_usage("bridge: unknown command '%s' (add, del)", argv[1]);
}

static int cmd_move(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	struct opts o;
	int rc = 0, fd;

	if ((rc = parse(argc, argv, "move", BIT(O_NETNS) | BIT(O_PID) | BIT(O_IFNAME), 1, 1, &o)))
		return rc;
	if (!!o.netns == !!o.pid)
		return ctnet_cli_usage("move: give exactly one of --netns PATH and --pid PID");
	if (ctnet_ifname_check(o.pos[0], &err) < 0 ||
	    (o.ifname && ctnet_ifname_check(o.ifname, &err) < 0))
		return ctnet_cli_fail(&err);
	if ((rc = need_caps(CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN)))
		return rc;
	if ((fd = open_ns(&o, "move", &rc)) < 0)
		return rc;
	rc = netd_move(kern, o.pos[0], fd, o.ifname, &err) < 0 ? ctnet_cli_fail(&err) : 0;
	close(fd);
	return rc;
}

static int cmd_macvlan(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	struct opts o;
	int rc = 0, fd;

	if (argc < 2 || strcmp(argv[1], "add"))
		return ctnet_cli_usage("macvlan: expected 'add'");
	if ((rc = parse(argc - 1, argv + 1, "macvlan add", BIT(O_NETNS) | BIT(O_PID) | BIT(O_MODE),
			2, 2, &o)))
		return rc;
	if (!!o.netns == !!o.pid)
		return ctnet_cli_usage("macvlan add: give exactly one of --netns PATH and --pid PID");
	if (o.mode && strcmp(o.mode, "bridge") && strcmp(o.mode, "private") &&
	    strcmp(o.mode, "vepa") && strcmp(o.mode, "passthru"))
		return ctnet_cli_usage("macvlan add: --mode is bridge, private, vepa or passthru");
	if (ctnet_ifname_check(o.pos[0], &err) < 0 || ctnet_ifname_check(o.pos[1], &err) < 0)
		return ctnet_cli_fail(&err);
	if ((rc = need_caps(CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN)))
		return rc;
	if ((fd = open_ns(&o, "macvlan add", &rc)) < 0)
		return rc;
	rc = netd_macvlan_add(kern, o.pos[0], o.pos[1], fd, o.mode, &err) < 0 ? ctnet_cli_fail(&err) : 0;
	close(fd);
	return rc;
}

/* The pair's host side: --host-ifname, else whichever of ve-NAME / vb-NAME is name's. */
static int find_host_ifname(struct ctnet_kern *kern, const char *name, const char *given, char out[IFNAMSIZ],
			    struct ctnet_err *err)
{
	if (given) {
		snprintf(out, IFNAMSIZ, "%s", given);
		return 0;
	}
	for (int bridge = 0; bridge < 2; bridge++) {
		int r;
		netd_host_ifname(name, bridge, out);
		if ((r = netd_exists(kern, name, out, err)) < 0)
			return r;
		if (r == 1)
			return 0;
	}
	return ctnet_errf(err, ENODEV, "container \"%s\" has no pair on this host", name);
}

static int cmd_impair(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	struct netd_impair im;
	char hif[IFNAMSIZ];
	struct opts o;
	int rc = 0, fd;

	if ((rc = parse(argc, argv, "impair",
			BIT(O_NETNS) | BIT(O_PID) | BIT(O_HOST_IFNAME) | BIT(O_IFNAME) | IMPAIR_BITS,
			1, 1, &o)))
		return rc;
	if (!!o.netns == !!o.pid)
		return ctnet_cli_usage("impair: give exactly one of --netns PATH and --pid PID");
	if (ctnet_name_check(o.pos[0], &err) < 0 ||
	    (o.host_ifname && ctnet_ifname_check(o.host_ifname, &err) < 0) ||
	    (o.ifname && ctnet_ifname_check(o.ifname, &err) < 0) || parse_impair(&o, &im, &err) < 0)
		return ctnet_cli_fail(&err);
	if ((rc = need_caps(CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN)))
		return rc;
	if (find_host_ifname(kern, o.pos[0], o.host_ifname, hif, &err) < 0)
		return ctnet_cli_fail(&err);
	if ((fd = open_ns(&o, "impair", &rc)) < 0)
		return rc;
	rc = netd_impair_apply(kern, hif, fd, o.ifname ? o.ifname : NETD_DEFAULT_IFNAME, &im, &err) < 0
		     ? ctnet_cli_fail(&err)
		     : 0;
	close(fd);
	return rc;
}

static int cmd_extra_veth(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	struct netd_extra_veth v;
	struct opts o;
	int rc = 0, fd;

	if (argc < 2)
		return ctnet_cli_usage("extra-veth: expected 'add' or 'del'");
	if (!strcmp(argv[1], "add")) {
		if ((rc = parse(argc - 1, argv + 1, "extra-veth add", BIT(O_NETNS) | BIT(O_PID), 2, 2, &o)))
			return rc;
		if (!!o.netns == !!o.pid)
			return ctnet_cli_usage("extra-veth add: give exactly one of --netns PATH and --pid PID");
		if (ctnet_name_check(o.pos[0], &err) < 0 || netd_extra_veth_parse(o.pos[1], &v, &err) < 0)
			return ctnet_cli_fail(&err);
		if ((rc = need_caps(CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN)))
			return rc;
		if ((fd = open_ns(&o, "extra-veth add", &rc)) < 0)
			return rc;
		rc = netd_extra_veth_add(kern, o.pos[0], fd, &v, &err) < 0 ? ctnet_cli_fail(&err) : 0;
		close(fd);
		return rc;
	}
	if (!strcmp(argv[1], "del")) {
		if ((rc = parse(argc - 1, argv + 1, "extra-veth del", 0, 2, 2, &o)))
			return rc;
		if (ctnet_name_check(o.pos[0], &err) < 0 || ctnet_ifname_check(o.pos[1], &err) < 0)
			return ctnet_cli_fail(&err);
		if ((rc = need_caps(CTNET_CAP_NET_ADMIN)))
			return rc;
		return netd_extra_veth_del(kern, o.pos[0], o.pos[1], &err) < 0 ? ctnet_cli_fail(&err) : 0;
	}
	return ctnet_cli_usage("extra-veth: unknown command '%s' (add, del)", argv[1]);
}

static int netd_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct ctnet_kern *, int, char **);
	} cmds[] = {
		{ "up", cmd_up }, { "down", cmd_down }, { "show", cmd_show },
		{ "bridge", cmd_bridge }, { "move", cmd_move }, { "macvlan", cmd_macvlan },
		{ "impair", cmd_impair }, { "extra-veth", cmd_extra_veth },
	};
	struct ctnet_err err = { 0 };

	ctnet_prog = "ctnet-netd";
	if (argc < 2)
		return ctnet_cli_usage("missing command");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
		return ctnet_cli_version();
	/* Keep only what netd uses: links (NET_ADMIN), setns (SYS_ADMIN), other users'
	 * /proc/PID/ns/net (SYS_PTRACE). */
	if (ctnet_caps_limit(CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN | CTNET_CAP_SYS_PTRACE,
			     &err) < 0)
		return ctnet_cli_fail(&err);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			struct ctnet_kern kern;
			ctnet_kern_init(&kern);
			int rc = cmds[i].fn(&kern, argc - 1, argv + 1);
			ctnet_kern_close(&kern);
			return rc;
		}
	return ctnet_cli_usage("unknown command '%s'", argv[1]);
}

int main(int argc, char **argv)
{
	/* Output that did not reach its reader is a failure, whichever command wrote it. */
	return ctnet_cli_flush(netd_main(argc, argv));
}
