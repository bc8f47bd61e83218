/* lib/birdconf: ctnet bird-config's options, checks and text. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "birdconf.h"
#include "t.h"

static struct ctnet_hostconf hostconf(const char *text)
{
	struct ctnet_hostconf hc;
	struct ctnet_err err;
	if (ctnet_hostconf_parse(text, strlen(text), "t", &hc, &err) < 0)
		printf("FAIL hostconf: %s\n", err.msg), t_fail++;
	return hc;
}

/* Options (name, value pairs, NULL-ended) on a fresh config, then finish: 0 or -errno, err. */
static int build(struct ctnet_bird *b, const struct ctnet_hostconf *hc, struct ctnet_err *err, ...)
{
	va_list ap;
	const char *name;
	int r = 0;
	ctnet_bird_init(b);
	va_start(ap, err);
	while (!r && (name = va_arg(ap, const char *)))
		r = ctnet_bird_opt(b, name, va_arg(ap, const char *), err);
	va_end(ap);
	return r ? r : ctnet_bird_finish(b, hc, "t.conf", err);
}

static void test_text(void)
{
	struct ctnet_hostconf hc = hostconf("POOL=10.244.1.0/24\nCLUSTER_CIDR=10.244.0.0/16\n");
	struct ctnet_bird b;
	struct ctnet_err err;
	char *a = NULL, *a2 = NULL;

	T_OK("bird: defaults from the host config",
	     build(&b, &hc, &err, "source", "10.99.0.1", "neighbor", "10.99.0.2", (char *)NULL) == 0);
	T_OK("bird: renders", ctnet_bird_render(&b, &a, &err) == 0 && a);
	T_OK("bird: renders the same twice", ctnet_bird_render(&b, &a2, &err) == 0 && !strcmp(a, a2));
	T_OK("bird: router id from the source", strstr(a, "\nrouter id 10.99.0.1;\n") != NULL);
	T_OK("bird: POOL announced, unreachable", strstr(a, "\troute 10.244.1.0/24 unreachable;\n") != NULL);
	T_OK("bird: imports only the cluster", strstr(a, "define CTNET_CLUSTER4 = [ 10.244.0.0/16+ ];") != NULL);
	T_OK("bird: never its own range", strstr(a, "if net ~ CTNET_OWN4 then reject;") != NULL);
	T_OK("bird: kernel gets BGP routes and this host's ranges as unreachable",
	     strstr(a, "export where source = RTS_BGP || proto = \"ctnet_static4\";") != NULL);
	T_OK("bird: direct session, gateway direct, BFD",
	     strstr(a, "\tdirect;\n") && strstr(a, "gateway direct;") && strstr(a, "\tbfd on;\n"));
	T_OK("bird: iBGP neighbor", strstr(a, "protocol bgp ctnet_peer_10_99_0_2 from ctnet_peer {\n\tneighbor 10.99.0.2 as 64512;") != NULL);
	T_OK("bird: no IPv6 without an IPv6 pool or cluster", !strstr(a, "ipv6"));
	free(a);
	free(a2);
}

static void test_refused(void)
{
	struct ctnet_hostconf hc = hostconf("POOL=10.244.1.0/24\nCLUSTER_CIDR=10.244.0.0/16\n");
	struct ctnet_hostconf bare = hostconf("POOL=10.244.1.0/24\n");
	struct ctnet_bird b;
	struct ctnet_err err;
	const char *none = NULL;

	T_OK("bird: --source required", build(&b, &hc, &err, "neighbor", "10.99.0.2", none) == -EINVAL &&
	     strstr(err.msg, "--source is required"));
	T_OK("bird: --neighbor required", build(&b, &hc, &err, "source", "10.99.0.1", none) == -EINVAL);
	T_OK("bird: bad address named", build(&b, &hc, &err, "source", "10.99.0.256", none) == -EINVAL &&
	     strstr(err.msg, "10.99.0.256"));
	T_OK("bird: loopback source", build(&b, &hc, &err, "source", "127.0.0.1", none) == -EINVAL);
	T_OK("bird: asn 0", build(&b, &hc, &err, "asn", "0", none) < 0);
	T_OK("bird: asn 2^32", build(&b, &hc, &err, "asn", "4294967296", none) < 0);
	T_OK("bird: AS_TRANS", build(&b, &hc, &err, "peer-asn", "23456", none) == -EINVAL);
	T_OK("bird: host bits in --announce", build(&b, &hc, &err, "announce", "10.244.1.1/24", none) == -EINVAL);
	T_OK("bird: overlapping --announce", build(&b, &hc, &err, "announce", "10.244.1.0/24", "announce",
						   "10.244.1.128/25", none) == -EINVAL && strstr(err.msg, "overlaps"));
	T_OK("bird: announce outside the cluster",
	     build(&b, &hc, &err, "source", "10.99.0.1", "neighbor", "10.99.0.2", "announce", "10.245.0.0/24", none) == -EINVAL &&
	     strstr(err.msg, "outside every CLUSTER_CIDR"));
	T_OK("bird: no cluster and only-cluster import",
	     build(&b, &bare, &err, "source", "10.99.0.1", "neighbor", "10.99.0.2", none) == -EINVAL &&
	     strstr(err.msg, "no CLUSTER_CIDR"));
	T_OK("bird: neighbor of another family",
	     build(&b, &hc, &err, "source", "10.99.0.1", "neighbor", "fd99::2", none) == -EINVAL);
	T_OK("bird: IPv6 source needs a router id",
	     build(&b, &hc, &err, "source", "fd99::1", "neighbor", "fd99::2", none) == -EINVAL &&
	     strstr(err.msg, "--router-id"));
	T_OK("bird: source inside the pool",
	     build(&b, &hc, &err, "source", "10.244.1.9", "neighbor", "10.99.0.2", none) == -EINVAL);
}

int main(void)
{
	test_text();
	test_refused();
	return t_done();
}
