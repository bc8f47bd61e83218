/* SPDX-License-Identifier: MIT */
/* ctnet up / down: the command line front-end of the launcher library. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../netd/netd.h"
#include "cli.h"
#include "ctnet.h"
#include "hostconf.h"
#include "out.h"

enum {
	OPT_NETNS = 1000, OPT_PID, OPT_CREATE_NETNS, OPT_SHARED, OPT_HOST_ADDRESS,
	OPT_LOCAL_ADDRESS, OPT_HOST_ADDRESS6, OPT_LOCAL_ADDRESS6, OPT_IPV6, OPT_BRIDGE,
	OPT_POOL, OPT_IFNAME, OPT_HOST_IFNAME, OPT_MAC, OPT_MTU, OPT_FORWARD, OPT_CONFIG,
	OPT_JSON, OPT_INTERFACE, OPT_MACVLAN, OPT_DELAY, OPT_JITTER, OPT_LOSS, OPT_RATE,
	OPT_EXTRA_VETH,
};

const char up_short_opts[] = "+h";
const struct option up_long_opts[] = {
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "create-netns", no_argument, NULL, OPT_CREATE_NETNS },
	{ "shared", no_argument, NULL, OPT_SHARED },
	{ "host-address", required_argument, NULL, OPT_HOST_ADDRESS },
	{ "local-address", required_argument, NULL, OPT_LOCAL_ADDRESS },
	{ "host-address6", required_argument, NULL, OPT_HOST_ADDRESS6 },
	{ "local-address6", required_argument, NULL, OPT_LOCAL_ADDRESS6 },
	{ "ipv6", no_argument, NULL, OPT_IPV6 },
	{ "bridge", required_argument, NULL, OPT_BRIDGE },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "ifname", required_argument, NULL, OPT_IFNAME },
	{ "host-ifname", required_argument, NULL, OPT_HOST_IFNAME },
	{ "mac", required_argument, NULL, OPT_MAC },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ "forward", required_argument, NULL, OPT_FORWARD },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "interface", required_argument, NULL, OPT_INTERFACE },
	{ "macvlan", required_argument, NULL, OPT_MACVLAN },
	{ "delay", required_argument, NULL, OPT_DELAY },
	{ "jitter", required_argument, NULL, OPT_JITTER },
	{ "loss", required_argument, NULL, OPT_LOSS },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "extra-veth", required_argument, NULL, OPT_EXTRA_VETH },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int set_netns(struct ct_spec *s, enum ct_netns_kind kind)
{
	if (s->netns_kind != CT_NETNS_NONE && s->netns_kind != kind) {
		struct ctnet_err err;
		ctnet_errf(&err, EINVAL, "container: needs exactly one of --netns PATH, --pid PID, --create-netns");
		return ctnet_cli_fail(&err);
	}
	s->netns_kind = kind;
	return 0;
}

static int set_ifname(char *dst, const char *arg)
{
	struct ctnet_err err;
	if (ctnet_ifname_check(arg, &err) < 0)
		return ctnet_cli_fail(&err);
	snprintf(dst, IFNAMSIZ, "%s", arg);
	return 0;
}

/* What up_parse_opt does not know (up_parse_opt's own codes are 0 or positive). */
#define OPT_NOT_MINE (-1)

/* The link's options: addresses, pool, names, MAC, MTU. */
static int opt_link(int opt, const char *arg, struct ct_spec *s)
{
	struct ctnet_err err;
	unsigned long v;

	switch (opt) {
	case OPT_HOST_ADDRESS:
	case OPT_LOCAL_ADDRESS:
	case OPT_HOST_ADDRESS6:
	case OPT_LOCAL_ADDRESS6: {
		bool six = opt == OPT_HOST_ADDRESS6 || opt == OPT_LOCAL_ADDRESS6;
		bool host = opt == OPT_HOST_ADDRESS || opt == OPT_HOST_ADDRESS6;
		struct ctnet_addr *a = six ? (host ? &s->host6 : &s->local6) : (host ? &s->host : &s->local);
		const char *what = six ? (host ? "host address6" : "local address6")
				       : (host ? "host address" : "local address");
		if (ctnet_addr_parse(arg, six ? AF_INET6 : AF_INET, CTNET_ADDR_PREFIX_OK, what, a, &err) < 0)
			return ctnet_cli_fail(&err);
		break;
	}
	case OPT_IPV6: s->ipv6 = true; break;
	case OPT_BRIDGE: return set_ifname(s->bridge, arg);
	case OPT_POOL:
		if (ctnet_cidr_parse(arg, "pool", &s->pool, &err) < 0)
			return ctnet_cli_fail(&err);
		s->has_pool = true;
		break;
	case OPT_IFNAME: return set_ifname(s->ifname, arg);
	case OPT_HOST_IFNAME: return set_ifname(s->host_ifname, arg);
	case OPT_MAC: {
		unsigned char mac[6];
		/* "" must not silently mean "random". */
		if (netd_mac_parse(arg, mac, &err) < 0 || strlen(arg) >= sizeof(s->mac))
			return ctnet_cli_fail(&err);
		snprintf(s->mac, sizeof(s->mac), "%s", arg);
		break;
	}
	case OPT_MTU:
		if (ctnet_uint_parse(arg, 68, 65535, "MTU", &v, &err) < 0)
			return ctnet_cli_usage("%s", err.msg);
		s->mtu = (unsigned)v;
		break;
	default: return OPT_NOT_MINE;
	}
	return 0;
}

/* Forwards, moved interfaces, macvlans, impairment and extra veths. */
static int opt_extra(int opt, const char *arg, struct ct_spec *s)
{
	struct ctnet_err err;

	switch (opt) {
	case OPT_FORWARD:
		if (s->n_forwards >= NAT_MAX_FORWARDS)
			return ctnet_cli_usage("at most %d --forward options", NAT_MAX_FORWARDS);
		if (ct_spec_add_forward(s, arg, &err) < 0)
			return ctnet_cli_fail(&err);
		break;
	case OPT_INTERFACE:
	case OPT_MACVLAN:
		if (ct_spec_add_interface(s, opt == OPT_MACVLAN, arg, &err) < 0)
			return ctnet_cli_fail(&err);
		break;
	case OPT_DELAY:
	case OPT_JITTER:
	case OPT_LOSS:
	case OPT_RATE: {
		static const char *const keys[] = { "delay", "jitter", "loss", "rate" };
		if (ct_spec_set_impair(s, keys[opt - OPT_DELAY], arg, &err) < 0)
			return ctnet_cli_fail(&err);
		break;
	}
	case OPT_EXTRA_VETH:
		if (ct_spec_add_extra_veth(s, arg, &err) < 0)
			return ctnet_cli_fail(&err);
		break;
	default: return OPT_NOT_MINE;
	}
	return 0;
}

int up_parse_opt(int opt, const char *arg, struct up_cli *o)
{
	struct ct_spec *s = &o->spec;
	struct ctnet_err err;
	unsigned long v;
	int rc = 0;

	switch (opt) {
	case OPT_NETNS:
		if ((rc = set_netns(s, CT_NETNS_PATH)))
			return rc;
		if (strlen(arg) >= sizeof(s->netns_path))
			return ctnet_cli_usage("--netns: path too long");
		snprintf(s->netns_path, sizeof(s->netns_path), "%s", arg);
		break;
	case OPT_PID:
		if ((rc = set_netns(s, CT_NETNS_PID)))
			return rc;
		if (ctnet_uint_parse(arg, 1, 4194304, "pid", &v, &err) < 0)
			return ctnet_cli_usage("%s", err.msg);
		s->pid = (pid_t)v;
		break;
	case OPT_CREATE_NETNS: return set_netns(s, CT_NETNS_CREATE);
	case OPT_SHARED: s->shared = true; break;
	case OPT_CONFIG: o->config = arg; break;
	case OPT_JSON: o->json = true; break;
	default:
		if ((rc = opt_link(opt, arg, s)) != OPT_NOT_MINE || (rc = opt_extra(opt, arg, s)) != OPT_NOT_MINE)
			return rc;
		return ctnet_cli_usage("unknown option");
	}
	return 0;
}

int up_finish(struct up_cli *o, const char *name, struct ctnet_err *err)
{
	int rc = ctnet_name_check(name, err);
	if (rc < 0)
		return rc;
	if (name != o->spec.name)
		snprintf(o->spec.name, sizeof(o->spec.name), "%s", name);
	if (o->config)
		return ct_spec_from_conf(&o->spec, o->config, NULL, err);
	return 0;
}

int up_host(struct ctnet_kern *kern, struct ct_spec *spec, struct ctnet_err *err)
{
	struct ctnet_hostconf hc;
	int rc = ctnet_hostconf_load(&hc, err);
	if (rc < 0)
		return rc;
	ct_spec_host(spec, &hc);
	return ct_host_apply(kern, &hc, err);
}

void report_out(struct out *o, const char *name, const struct ct_report *rep)
{
	out_open_array(o, "changes");
	for (size_t i = 0; rep && i < rep->n; i++) {
		out_open_object(o, NULL);
		if (name)
			out_text(o, "%s: ", name);
		out_str(o, name ? PRINT_ANY : PRINT_JSON, "kind", "%s ", rep->v[i].repair ? "repaired" : "changed");
		out_str(o, name ? PRINT_ANY : PRINT_JSON, "what", "%s\n", rep->v[i].what);
		out_close_object(o);
	}
	out_close_array(o);
}

int print_record(const struct ct_record *rec, const struct ct_report *rep, bool json)
{
	struct out o;

	for (size_t i = 0; rep && i < rep->n; i++)
		fprintf(stderr, "%s: %s: %s %s\n", ctnet_prog, rec->spec.name,
			rep->v[i].repair ? "repaired" : "changed", rep->v[i].what);
	out_init(&o, stdout, json ? OUT_JSON : OUT_SHELL);
	out_open_object(&o, NULL);
	record_out(&o, rec);
	if (rep)
		report_out(&o, NULL, rep);
	out_close_object(&o);
	return ctnet_cli_out_end(&o, 0);
}

void up_usage(void)
{
	printf("Usage: ctnet up NAME (--netns PATH | --pid PID | --create-netns | --shared) [options]\n"
	       "Give container NAME its network: addresses (allocated unless given), a veth pair\n"
	       "into its namespace, routes, masquerade and port forwards. Any failure undoes\n"
	       "every earlier step. Prints nixos-container style KEY=VALUE lines (or --json).\n"
	       "On a container that is up already, every piece is checked and repaired (printed\n"
	       "on stderr); forwards, --mtu and --mac change in place; any other change is\n"
	       "refused (ctnet down first).\n\n"
	       "  --netns PATH             the container's network namespace (/run/netns/X, /proc/PID/ns/net)\n"
	       "  --pid PID                the namespace of process PID\n"
	       "  --create-netns           make /run/netns/NAME (usable by ip netns exec, systemd-nspawn)\n"
	       "  --shared                 the container shares the host namespace: record only\n"
	       "  --host-address A         host side IPv4 (with --local-address: no allocation)\n"
	       "  --local-address B        container side IPv4 (A/PREFIX in bridge mode)\n"
	       "  --host-address6 A6 --local-address6 B6   IPv6 pair\n"
	       "  --ipv6                   also allocate an IPv6 pair from the host's ULA /48\n"
	       "  --bridge BR              host side vb-NAME enslaved to bridge BR\n"
	       "  --pool CIDR              allocate from this pool (bridge mode: one address each)\n"
	       "  --ifname IF              container side name (default eth0)\n"
	       "  --host-ifname IF         host side name (default ve-NAME, hashed when too long)\n"
	       "  --mac MAC --mtu N        container side MAC address and MTU\n"
	       "  --forward PROTO:HOSTPORT[:PORT]   port forward (repeatable), e.g. tcp:8080:80\n"
	       "  --interface IF           move host interface IF into the container (repeatable)\n"
	       "  --macvlan IF             a macvlan mv-IF on host interface IF inside (repeatable)\n"
	       "  --delay T --jitter T     netem delay/jitter on both ends of the link (tc syntax: 50ms)\n"
	       "  --loss P --rate R        netem loss (1%%), tbf rate (10mbit); a repeated up without them removes them\n"
	       "  --extra-veth IF[,host-bridge=BR][,host-address=A][,local-address=B][,host-address6=A6][,local-address6=B6]\n"
	       "                           another veth pair IF (NixOS extraVeths; repeatable)\n"
	       "  --config FILE            read a nixos-container config (/etc/nixos-containers/NAME.conf)\n"
	       "  --json                   print JSON\n");
}

int up_parse_args(int argc, char **argv, struct up_cli *o, void (*usage)(void))
{
	const char *name = NULL;
	int opt, rc;

	/* "+": options may come before and after NAME; "--" ends them (ctnet run). */
	for (;;) {
		while ((opt = getopt_long(argc, argv, up_short_opts, up_long_opts, NULL)) != -1) {
			if (opt == 'h') {
				usage();
				return -1;
			}
			if (opt == '?')
				return CTNET_EXIT_USAGE;
			rc = up_parse_opt(opt, optarg, o);
			if (rc)
				return rc;
		}
		if (optind > 1 && !strcmp(argv[optind - 1], "--"))
			break;
		if (optind < argc && !name) {
			name = argv[optind++];
			continue;
		}
		break;
	}
	if (name) {
		struct ctnet_err err;
		if (ctnet_name_check(name, &err) < 0)
			return ctnet_cli_fail(&err);
		snprintf(o->spec.name, sizeof(o->spec.name), "%s", name);
	}
	return 0;
}

int cmd_up(struct ctnet_kern *kern, int argc, char **argv)
{
	struct up_cli *o = malloc(sizeof(*o));
	struct ct_record *rec = malloc(sizeof(*rec));
	struct ct_report *rep = calloc(1, sizeof(*rep));
	struct ctnet_err err;
	int rc;

	if (!o || !rec || !rep) {
		ctnet_errf(&err, ENOMEM, "out of memory");
		rc = ctnet_cli_fail(&err);
		goto out;
	}
	memset(o, 0, sizeof(*o));
	ct_spec_init(&o->spec, NULL);
	rc = up_parse_args(argc, argv, o, up_usage);
	if (rc) {
		rc = rc < 0 ? 0 : rc;
		goto out;
	}
	if (!o->spec.name[0] || optind != argc) {
		rc = ctnet_cli_usage("up: expected one container NAME");
		goto out;
	}
	if (up_finish(o, o->spec.name, &err) < 0 || up_host(kern, &o->spec, &err) < 0 ||
	    ct_up(kern, &o->spec, rec, rep, &err) < 0) {
		rc = ctnet_cli_fail(&err);
		goto out;
	}
	rc = print_record(rec, rep, o->json);
	if (!rec->spec.shared && !rec->spec.no_nat)
		doctor_warn(kern, rec->spec.bridge[0] ? rec->spec.bridge : rec->host_ifname);
out:
	free(o);
	free(rec);
	free(rep);
	return rc;
}

int cmd_down(struct ctnet_kern *kern, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep-lease", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool keep = false, was_up;
	struct ctnet_err err;
	int opt;

	/* Options before or after NAME (the usage line puts it after, ctnet@.service before). */
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			printf("Usage: ctnet down NAME [--keep-lease]\n"
			       "Remove container NAME's network: NAT entries, links, its netns if ctnet made\n"
			       "it, the lease (unless --keep-lease) and the record. Idempotent; works after\n"
			       "the container's namespace is gone.\n");
			return 0;
		}
		if (opt == 'k')
			keep = true;
		else
			return ctnet_cli_usage("down: bad option");
	}
	if (optind + 1 != argc)
		return ctnet_cli_usage("down: expected one container NAME");
	if (ct_down(kern, argv[optind], keep, &was_up, &err) < 0)
		return ctnet_cli_fail(&err);
	return 0;
}

int cmd_repair(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ct_record *rec = malloc(sizeof(*rec));
	struct ct_report *rep = malloc(sizeof(*rep));
	struct ctnet_err err;
	bool json = false;
	struct out o;
	int rc = 0, names = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("Usage: ctnet repair NAME... [--json]\n"
			       "Converge each running container to its own record, as an identical `ctnet up`\n"
			       "would: what drifted (links, addresses and routes on both sides, NAT elements,\n"
			       "sysctls) is put back in place, in the namespace its processes hold. One line per\n"
			       "repair, or NAME: nothing to repair (--json: [{\"name\", \"changes\"}]). Exit 1\n"
			       "when a container could not be repaired (gone: ctnet gc forgets it).\n");
			goto out;
		}
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-')
			names = -1;
		else if (names >= 0)
			names++;
	}
	if (names <= 0) {
		rc = ctnet_cli_usage("repair: expected container NAMEs");
		goto out;
	}
	if (!rec || !rep) {
		ctnet_errf(&err, ENOMEM, "out of memory");
		rc = ctnet_cli_fail(&err);
		goto out;
	}
	out_init(&o, stdout, json ? OUT_JSON : OUT_TEXT);
	out_open_array(&o, NULL);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			continue;
		memset(rep, 0, sizeof(*rep));
		if (ctnet_name_check(argv[i], &err) < 0 || ct_repair(kern, argv[i], rec, rep, &err) < 0) {
			rc = ctnet_cli_fail(&err);
			continue;
		}
		out_open_object(&o, NULL);
		out_str(&o, PRINT_JSON, "name", NULL, argv[i]);
		report_out(&o, argv[i], rep);
		if (!rep->n)
			out_text(&o, "%s: nothing to repair\n", argv[i]);
		out_close_object(&o);
	}
	out_close_array(&o);
	rc = ctnet_cli_out_end(&o, rc);
out:
	free(rec);
	free(rep);
	return rc;
}
