/* SPDX-License-Identifier: MIT */
#include "birdconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "name.h"

void ctnet_bird_init(struct ctnet_bird *b)
{
	*b = (struct ctnet_bird){ .asn = CTNET_BIRD_ASN_DEFAULT, .bfd = true, .only_cluster = true };
}

static bool same_net(const struct ctnet_addr *a, const struct ctnet_addr *b)
{
	return a->family == b->family && a->prefix == b->prefix && ctnet_addr_equal(a, b);
}

/* Whether the networks a and b share an address. */
static bool nets_overlap(const struct ctnet_addr *a, const struct ctnet_addr *b)
{
	return ctnet_addr_in(a, b) || ctnet_addr_in(b, a);
}

/* A fabric address: unicast, not loopback, unspecified or link-local (a direct session
 * needs an address BIRD can reach without naming an interface). */
static int fabric_addr(const char *opt, const char *s, struct ctnet_addr *out, struct ctnet_err *err)
{
	static const struct {
		const char *net, *why;
	} bad[] = {
		{ "0.0.0.0/8", "unspecified" },	 { "127.0.0.0/8", "loopback" },
		{ "224.0.0.0/3", "multicast or reserved" }, { "::/127", "unspecified or loopback" },
		{ "fe80::/10", "link-local" },	 { "ff00::/8", "multicast" },
	};
	char shown[CTNET_SHOW_MAX], what[40];
	struct ctnet_addr net;

	snprintf(what, sizeof(what), "--%s address", opt);
	if (ctnet_addr_parse(s, 0, CTNET_ADDR_NOPREFIX, what, out, err) < 0)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (ctnet_cidr_parse(bad[i].net, "net", &net, err) < 0)
			return -EINVAL;
		if (ctnet_addr_in(out, &net))
			return ctnet_errf(err, EINVAL, "--%s \"%s\": a %s address; give this host's address on the fabric",
					  opt, ctnet_show(s, shown), bad[i].why);
	}
	return 0;
}

static int add_neighbor(struct ctnet_bird *b, const char *s, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	struct ctnet_addr a;

	if (fabric_addr("neighbor", s, &a, err) < 0)
		return -EINVAL;
	for (size_t i = 0; i < b->n_neighbor; i++)
		if (same_net(&b->neighbor[i], &a))
			return ctnet_errf(err, EINVAL, "--neighbor \"%s\" given twice", ctnet_show(s, shown));
	if (b->n_neighbor == CTNET_BIRD_NEIGHBOR_MAX)
		return ctnet_errf(err, EINVAL, "more than %d --neighbor values (use a route reflector)",
				  CTNET_BIRD_NEIGHBOR_MAX);
	b->neighbor[b->n_neighbor++] = a;
	return 0;
}

static int add_announce(struct ctnet_bird *b, const struct ctnet_addr *net, const char *shown,
			struct ctnet_err *err)
{
	char other[CTNET_ADDR_STRLEN];
	for (size_t i = 0; i < b->n_announce; i++)
		if (nets_overlap(&b->announce[i], net))
			return ctnet_errf(err, EINVAL, "--announce \"%s\" overlaps %s, announced already",
					  shown, ctnet_addr_cidr_str(&b->announce[i], other));
	if (b->n_announce == CTNET_BIRD_ANNOUNCE_MAX)
		return ctnet_errf(err, EINVAL, "more than %d --announce values", CTNET_BIRD_ANNOUNCE_MAX);
	b->announce[b->n_announce++] = *net;
	return 0;
}

int ctnet_bird_opt(struct ctnet_bird *b, const char *name, const char *value,
		   struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	struct ctnet_addr a;

	if (!strcmp(name, "neighbor"))
		return add_neighbor(b, value, err);
	if (!strcmp(name, "source")) {
		if (b->source.family)
			return ctnet_errf(err, EINVAL, "--source given twice");
		return fabric_addr("source", value, &b->source, err);
	}
	if (!strcmp(name, "router-id")) {
		if (ctnet_addr_parse(value, AF_INET, CTNET_ADDR_NOPREFIX, "--router-id (an IPv4 address)", &a, err) < 0)
			return -EINVAL;
		if (!a.v4.s_addr)
			return ctnet_errf(err, EINVAL, "--router-id \"0.0.0.0\": must not be zero");
		b->router_id = a;
		return 0;
	}
	if (!strcmp(name, "asn") || !strcmp(name, "peer-asn")) {
		unsigned long *asn = name[0] == 'a' ? &b->asn : &b->peer_asn;
		char what[16];
		snprintf(what, sizeof(what), "--%s", name);
		if (ctnet_uint_parse(value, 1, 4294967294UL, what, asn, err) < 0)
			return -EINVAL;
		if (*asn == 23456)
			return ctnet_errf(err, EINVAL, "%s 23456: AS_TRANS is reserved (RFC 6793)", what);
		return 0;
	}
	if (!strcmp(name, "announce")) {
		if (ctnet_cidr_parse(value, "--announce CIDR", &a, err) < 0)
			return -EINVAL;
		return add_announce(b, &a, ctnet_show(value, shown), err);
	}
	return ctnet_errf(err, EINVAL, "unknown option \"%s\"", ctnet_show(name, shown));
}

/* Each announced range inside a cluster CIDR: the peers import nothing else. */
static int check_cluster(const struct ctnet_bird *b, struct ctnet_err *err)
{
	char s[CTNET_ADDR_STRLEN];
	if (!b->n_cluster)
		return ctnet_errf(err, EINVAL, "no CLUSTER_CIDR in %s: nothing would be imported (add the "
				  "cluster's ranges there, or give --no-import-only-cluster)", b->conf_path);
	for (size_t i = 0; i < b->n_announce; i++) {
		size_t j = 0;
		while (j < b->n_cluster && !(ctnet_addr_in(&b->announce[i], &b->cluster[j]) &&
					     b->announce[i].prefix >= b->cluster[j].prefix))
			j++;
		if (j == b->n_cluster)
			return ctnet_errf(err, EINVAL, "announced range %s lies outside every CLUSTER_CIDR of %s: "
					  "the other hosts would refuse it", ctnet_addr_cidr_str(&b->announce[i], s),
					  b->conf_path);
	}
	return 0;
}

/* The fabric addresses: one family, the source not a neighbor, none inside an announced range. */
static int check_fabric(const struct ctnet_bird *b, struct ctnet_err *err)
{
	char s[CTNET_ADDR_STRLEN], n[CTNET_ADDR_STRLEN];
	for (size_t i = 0; i < b->n_neighbor; i++) {
		const struct ctnet_addr *a = &b->neighbor[i];
		ctnet_addr_str(a, s);
		if (a->family != b->source.family)
			return ctnet_errf(err, EINVAL, "--neighbor %s and --source %s: not the same family "
					  "(a direct session is on one link)", s, ctnet_addr_str(&b->source, n));
		if (ctnet_addr_equal(a, &b->source))
			return ctnet_errf(err, EINVAL, "--neighbor %s is this host's --source", s);
	}
	for (size_t i = 0; i < b->n_announce; i++) {
		ctnet_addr_cidr_str(&b->announce[i], n);
		if (ctnet_addr_in(&b->source, &b->announce[i]))
			return ctnet_errf(err, EINVAL, "--source %s lies inside the announced range %s",
					  ctnet_addr_str(&b->source, s), n);
		for (size_t j = 0; j < b->n_neighbor; j++)
			if (ctnet_addr_in(&b->neighbor[j], &b->announce[i]))
				return ctnet_errf(err, EINVAL, "--neighbor %s lies inside the announced range %s",
						  ctnet_addr_str(&b->neighbor[j], s), n);
	}
	return 0;
}

int ctnet_bird_finish(struct ctnet_bird *b, const struct ctnet_hostconf *hc,
		      const char *conf_path, struct ctnet_err *err)
{
	char shown[CTNET_ADDR_STRLEN];

	ctnet_show(conf_path, b->conf_path);
	if (!b->peer_asn)
		b->peer_asn = b->asn;
	if (!b->source.family)
		return ctnet_errf(err, EINVAL, "--source is required: this host's address on the fabric");
	if (!b->n_neighbor)
		return ctnet_errf(err, EINVAL, "--neighbor is required: the other hosts, or a route reflector");
	if (!b->router_id.family) {
		if (b->source.family != AF_INET)
			return ctnet_errf(err, EINVAL, "--router-id is required with an IPv6 --source");
		b->router_id = b->source;
	}
	if (!b->n_announce) {
		const struct ctnet_addr *pools[] = { &hc->pool4, &hc->pool6 };
		b->announce_pools = true;
		for (size_t i = 0; i < ARRAY_SIZE(pools); i++)
			if (pools[i]->family &&
			    add_announce(b, pools[i], ctnet_addr_cidr_str(pools[i], shown), err) < 0)
				return -EINVAL;
		if (!b->n_announce)
			return ctnet_errf(err, EINVAL, "nothing to announce: no POOL or POOL6 in %s and no --announce",
					  b->conf_path);
	}
	b->n_cluster = hc->n_cluster;
	memcpy(b->cluster, hc->cluster, sizeof(b->cluster));
	if (check_fabric(b, err) < 0)
		return -EINVAL;
	return b->only_cluster ? check_cluster(b, err) : 0;
}

static bool has_family(const struct ctnet_addr *v, size_t n, int family)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].family == family)
			return true;
	return false;
}

/* "define NAME = [ a+, b+ ];" of v's networks of family (the "+": and every subnet). */
static void put_set(FILE *f, const char *name, const struct ctnet_addr *v, size_t n, int family)
{
	char s[CTNET_ADDR_STRLEN];
	const char *sep = " ";
	fprintf(f, "define %s = [", name);
	for (size_t i = 0; i < n; i++)
		if (v[i].family == family) {
			fprintf(f, "%s%s+", sep, ctnet_addr_cidr_str(&v[i], s));
			sep = ", ";
		}
	fprintf(f, " ];\n");
}

/* The command that makes this text again (the options that differ from the defaults). */
static void put_command(FILE *f, const struct ctnet_bird *b)
{
	char s[CTNET_ADDR_STRLEN];
	fprintf(f, "#   ctnet bird-config --source %s", ctnet_addr_str(&b->source, s));
	if (!ctnet_addr_equal(&b->router_id, &b->source))
		fprintf(f, " --router-id %s", ctnet_addr_str(&b->router_id, s));
	if (b->asn != CTNET_BIRD_ASN_DEFAULT)
		fprintf(f, " --asn %lu", b->asn);
	if (b->peer_asn != b->asn)
		fprintf(f, " --peer-asn %lu", b->peer_asn);
	for (size_t i = 0; i < b->n_neighbor; i++)
		fprintf(f, " \\\n#     --neighbor %s", ctnet_addr_str(&b->neighbor[i], s));
	for (size_t i = 0; !b->announce_pools && i < b->n_announce; i++)
		fprintf(f, " \\\n#     --announce %s", ctnet_addr_cidr_str(&b->announce[i], s));
	fprintf(f, "%s%s\n", b->bfd ? "" : " --no-bfd", b->only_cluster ? "" : " --no-import-only-cluster");
}

static void put_head(FILE *f, const struct ctnet_bird *b)
{
	char rid[CTNET_ADDR_STRLEN], src[CTNET_ADDR_STRLEN];
	/* conf_path is escaped: a newline in $CTNET_CONF cannot end the comment. */
	fprintf(f, "# BIRD 2 configuration of this ctnet host, made from the host configuration\n"
		   "# (%s) by\n", b->conf_path);
	put_command(f, b);
	fprintf(f, "# Make it again rather than edit it: the same input gives the same text.\n"
		   "# This host (%s, AS %lu) announces its container ranges to its neighbors over %s\n"
		   "# and installs theirs in the kernel (proto bird); %s.\n\n",
		ctnet_addr_str(&b->source, src), b->asn, b->peer_asn == b->asn ? "iBGP" : "eBGP",
		b->bfd ? "BFD (100 ms x 3) says when a neighbor is gone"
		       : "no BFD: a neighbor is gone after the BGP hold time (3 s)");
	fprintf(f, "router id %s;\n\n", ctnet_addr_str(&b->router_id, rid));
	fprintf(f, "protocol device ctnet_device {\n\tscan time 10;\n}\n");
	if (b->bfd)
		fprintf(f, "\nprotocol bfd ctnet_bfd {\n\tinterface \"*\" {\n\t\tmin rx interval 100 ms;\n"
			   "\t\tmin tx interval 100 ms;\n\t\tmultiplier 3;\n\t};\n}\n");
}

/* One family's sets, import filter, announce routes and kernel protocol (v: "4" or "6"). */
static void put_family(FILE *f, const struct ctnet_bird *b, int family, const char *v)
{
	char s[CTNET_ADDR_STRLEN], name[32];
	bool own = has_family(b->announce, b->n_announce, family);

	fprintf(f, "\n# IPv%s\n", v);
	if (own) {
		snprintf(name, sizeof(name), "CTNET_OWN%s", v);
		put_set(f, name, b->announce, b->n_announce, family);
	}
	if (b->only_cluster) {
		snprintf(name, sizeof(name), "CTNET_CLUSTER%s", v);
		put_set(f, name, b->cluster, b->n_cluster, family);
	}
	fprintf(f, "\n# From the neighbors: never a route into this host's own ranges; %s.\n"
		   "filter ctnet_import%s {\n", b->only_cluster ? "only the cluster's" : "anything else", v);
	if (own)
		fprintf(f, "\tif net ~ CTNET_OWN%s then reject;\n", v);
	if (b->only_cluster)
		fprintf(f, "\tif net ~ CTNET_CLUSTER%s then accept;\n\treject;\n}\n", v);
	else
		fprintf(f, "\taccept;\n}\n");
	if (own) {
		fprintf(f, "\n# The announced ranges, exported to the neighbors and to this kernel as\n"
			   "# unreachable: the containers' own routes are more specific, and a packet for\n"
			   "# an unused address of the range is refused here instead of following the\n"
			   "# default route out unmasqueraded.\n"
			   "protocol static ctnet_static%s {\n\tipv%s;\n", v, v);
		for (size_t i = 0; i < b->n_announce; i++)
			if (b->announce[i].family == family)
				fprintf(f, "\troute %s unreachable;\n", ctnet_addr_cidr_str(&b->announce[i], s));
		fprintf(f, "}\n");
	}
	fprintf(f, "\n# Into the kernel: what BGP learned%s; nothing read back from it.\n"
		   "protocol kernel ctnet_kernel%s {\n\tipv%s {\n\t\timport none;\n",
		   own ? " and this host's ranges as unreachable" : ", nothing else", v, v);
	if (own)
		fprintf(f, "\t\texport where source = RTS_BGP || proto = \"ctnet_static%s\";\n\t};\n}\n", v);
	else
		fprintf(f, "\t\texport where source = RTS_BGP;\n\t};\n}\n");
}

/* The session template: direct (the neighbors share a link), one channel per family. */
static void put_template(FILE *f, const struct ctnet_bird *b, const bool fam[2])
{
	static const char *const v[2] = { "4", "6" };
	char src[CTNET_ADDR_STRLEN];

	fprintf(f, "\ntemplate bgp ctnet_peer {\n\tlocal %s as %lu;\n\tdirect;\n",
		ctnet_addr_str(&b->source, src), b->asn);
	/* A neighbor back after a failure is tried again within seconds, not BIRD's minutes. */
	fprintf(f, "\tconnect delay time 1;\n\tconnect retry time 5;\n\terror wait time 1, 30;\n");
	if (b->bfd)
		fprintf(f, "\tbfd on;\n");
	else
		fprintf(f, "\thold time 3;\n\tkeepalive time 1;\n");
	for (int i = 0; i < 2; i++) {
		if (!fam[i])
			continue;
		fprintf(f, "\tipv%s {\n\t\tgateway direct;\n\t\tnext hop self;\n", v[i]);
		/* IPv4 routes over an IPv6 session: an IPv6 next hop (RFC 8950). */
		if (i == 0 && b->source.family == AF_INET6)
			fprintf(f, "\t\textended next hop on;\n");
		fprintf(f, "\t\timport filter ctnet_import%s;\n", v[i]);
		if (has_family(b->announce, b->n_announce, i ? AF_INET6 : AF_INET))
			fprintf(f, "\t\texport where proto = \"ctnet_static%s\";\n\t};\n", v[i]);
		else
			fprintf(f, "\t\texport none;\n\t};\n");
	}
	fprintf(f, "}\n\n");
}

int ctnet_bird_render(const struct ctnet_bird *b, char **text, struct ctnet_err *err)
{
	char s[CTNET_ADDR_STRLEN];
	size_t len;
	FILE *f = open_memstream(text, &len);
	if (!f)
		return ctnet_err_sys(err, errno, "bird-config: the text");
	/* A family is routed when this host announces it or the cluster has it. */
	bool fam[2] = { has_family(b->announce, b->n_announce, AF_INET) ||
				has_family(b->cluster, b->n_cluster, AF_INET),
			has_family(b->announce, b->n_announce, AF_INET6) ||
				has_family(b->cluster, b->n_cluster, AF_INET6) };
	put_head(f, b);
	if (fam[0])
		put_family(f, b, AF_INET, "4");
	if (fam[1])
		put_family(f, b, AF_INET6, "6");
	put_template(f, b, fam);
	for (size_t i = 0; i < b->n_neighbor; i++) {
		ctnet_addr_str(&b->neighbor[i], s);
		fprintf(f, "protocol bgp ctnet_peer_");
		for (const char *p = s; *p; p++)
			fputc(*p == '.' || *p == ':' ? '_' : *p, f);
		fprintf(f, " from ctnet_peer {\n\tneighbor %s as %lu;\n}\n", s, b->peer_asn);
	}
	if (fclose(f) != 0) {
		free(*text);
		*text = NULL;
		return ctnet_errf(err, ENOMEM, "bird-config: the text: out of memory");
	}
	return 0;
}
