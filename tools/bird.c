/* SPDX-License-Identifier: MIT */
/*
 * ctnet bird-config: prints this host's BIRD 2 configuration (lib/birdconf.h) from the host
 * configuration ($CTNET_CONF) and the flags. Changes nothing; needs no privilege.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birdconf.h"
#include "cli.h"
#include "ctnet.h"
#include "hostconf.h"

static void usage(void)
{
	printf("Usage: ctnet bird-config --source ADDR --neighbor ADDR [--neighbor ADDR]...\n"
	       "         [--router-id IPV4] [--asn N] [--peer-asn N] [--announce CIDR]... [--no-bfd]\n"
	       "         [--no-import-only-cluster]\n"
	       "Prints this host's BIRD 2 configuration (bird.conf) on stdout: BGP sessions to each\n"
	       "--neighbor (the other hosts, or a route reflector) on the fabric link of --source,\n"
	       "marked `direct` with `gateway direct`; this host's ranges announced (default: POOL and\n"
	       "POOL6 of $CTNET_CONF, " CTNET_CONF_DEFAULT "; a CNI node gives its pod CIDR); the\n"
	       "neighbors' routes installed in the kernel (proto bird), only those inside a\n"
	       "CLUSTER_CIDR unless --no-import-only-cluster, never one into this host's own ranges.\n"
	       "  --router-id IPV4  BGP router id (default: --source, which must then be IPv4)\n"
	       "  --asn N           the cluster's AS number, 1-4294967294 (default %lu)\n"
	       "  --peer-asn N      the neighbors' AS when it is not --asn: eBGP (a ToR router)\n"
	       "  --bfd, --no-bfd   BFD at 100 ms x 3 (default), or BGP hold time 3 s instead\n"
	       "Every value is checked; the same input gives the same text. BIRD runs as its own\n"
	       "service: `bird -c FILE`; ctnet never speaks BGP. See ctnet-bird-config(8).\n",
	       CTNET_BIRD_ASN_DEFAULT);
}

/* The flags into b; 0 to go on, -1 after --help, or an exit code. */
static int parse(int argc, char **argv, struct ctnet_bird *b)
{
	static const struct option opts[] = {
		{ "router-id", required_argument, NULL, 'r' },
		{ "source", required_argument, NULL, 's' },
		{ "neighbor", required_argument, NULL, 'n' },
		{ "asn", required_argument, NULL, 'a' },
		{ "peer-asn", required_argument, NULL, 'p' },
		{ "announce", required_argument, NULL, 'A' },
		{ "bfd", no_argument, NULL, 'b' },
		{ "no-bfd", no_argument, NULL, 'B' },
		{ "import-only-cluster", no_argument, NULL, 'c' },
		{ "no-import-only-cluster", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctnet_err err;
	int opt, idx;

	while ((opt = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		switch (opt) {
		case 'h': usage(); return -1;
		case 'b': b->bfd = true; break;
		case 'B': b->bfd = false; break;
		case 'c': b->only_cluster = true; break;
		case 'C': b->only_cluster = false; break;
		case 'r': case 's': case 'n': case 'a': case 'p': case 'A':
			if (ctnet_bird_opt(b, opts[idx].name, optarg, &err) < 0)
				return ctnet_cli_usage("bird-config: %s", err.msg);
			break;
		default: return ctnet_cli_usage("bird-config: bad option");
		}
	}
	if (optind < argc)
		return ctnet_cli_usage("bird-config: unexpected argument \"%.40s\"", argv[optind]);
	return 0;
}

int cmd_bird_config(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_hostconf hc;
	struct ctnet_bird b;
	struct ctnet_err err;
	_cleanup_free_ char *text = NULL;

	(void)kern;
	ctnet_bird_init(&b);
	int rc = parse(argc, argv, &b);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (ctnet_hostconf_load(&hc, &err) < 0)
		return ctnet_cli_fail(&err);
	if (ctnet_bird_finish(&b, &hc, ctnet_hostconf_path(), &err) < 0)
		return ctnet_cli_usage("bird-config: %s", err.msg);
	if (ctnet_bird_render(&b, &text, &err) < 0)
		return ctnet_cli_fail(&err);
	fputs(text, stdout);
	return 0;
}
