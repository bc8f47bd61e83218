/* SPDX-License-Identifier: MIT */
/*
 * ctnet trace NAME: each of the container's packets through every table, chain and rule
 * it passed, with the verdicts, so "dropped by policy of ip filter FORWARD" is one line.
 * nat/ sets nftrace with a temporary chain in ctnet's table and hands us the kernel's trace
 * events; this file only groups them per packet and prints them (table or --json).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctnet.h"
#include "out.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

struct packet {
	uint32_t id;
	char src[46], dst[46], first_dst[46];
	uint8_t proto;
	uint16_t sport, dport, first_dport;
	bool dropped, dnat;
	struct nat_trace_event drop; /* where */
	char dnat_to[64];
	size_t n, cap;
	struct nat_trace_event *ev;
};

struct trace_ctx {
	struct packet *p;
	size_t n, cap;
	size_t max;
	struct out o; /* text: each event as it comes; JSON: the packets at the end */
	bool full; /* more packets than --count: later ones ignored */
	struct timespec last_new;
};

static const char *fam(int f)
{
	switch (f) {
	case NFPROTO_INET: return "inet";
	case NFPROTO_IPV4: return "ip";
	case NFPROTO_IPV6: return "ip6";
	case NFPROTO_BRIDGE: return "bridge";
	case NFPROTO_NETDEV: return "netdev";
	case NFPROTO_ARP: return "arp";
	default: return "?";
	}
}

static const char *hook_name(int h)
{
	static const char *const n[] = { "prerouting", "input", "forward", "output", "postrouting" };
	return h >= 0 && h < 5 ? n[h] : NULL;
}

static const char *verdict_name(int v)
{
	switch (v) {
	case NF_DROP: return "drop";
	case NF_ACCEPT: return "accept";
	case NFT_JUMP: return "jump";
	case NFT_GOTO: return "goto";
	case NFT_RETURN: return "return";
	case NFT_BREAK: return "break";
	default: return "continue";
	}
}

static const char *proto_name(uint8_t p)
{
	return p == 6 ? "tcp" : p == 17 ? "udp" : p == 1 ? "icmp" : p == 58 ? "icmpv6" : "ip";
}

static void endpoint(char *buf, size_t len, const char *a, uint16_t port)
{
	bool v6 = strchr(a, ':') != NULL;
	if (port)
		snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", a, v6 ? "]" : "", port);
	else
		snprintf(buf, len, "%s", a);
}

/* "ip filter FORWARD (forward)" */
static void where(char *buf, size_t len, const struct nat_trace_event *e)
{
	const char *h = hook_name(e->hook);
	if (h)
		snprintf(buf, len, "%s %s %s (hook %s, priority %d)", fam(e->family), e->table, e->chain, h, e->prio);
	else
		snprintf(buf, len, "%s %s %s", fam(e->family), e->table, e->chain);
}

/* An event of a packet: a line as it comes ("  #ID  WHERE rule N (COMMENT): VERDICT"), an
 * object of the packet's "events" in JSON; note: what the line adds ("" in JSON). */
static void event_out(struct out *o, const struct packet *p, const struct nat_trace_event *e, const char *note)
{
	bool rule = e->type == NFT_TRACETYPE_RULE, ret = e->type == NFT_TRACETYPE_RETURN;
	bool jump = e->verdict == NFT_JUMP || e->verdict == NFT_GOTO;
	char w[256];

	where(w, sizeof(w), e);
	out_open_object(o, NULL);
	out_text(o, "  #%08x  %-60s ", p->id, w);
	out_str(o, PRINT_JSON, "family", NULL, fam(e->family));
	out_str(o, PRINT_JSON, "table", NULL, e->table);
	out_str(o, PRINT_JSON, "chain", NULL, e->chain);
	if (hook_name(e->hook)) {
		out_str(o, PRINT_JSON, "hook", NULL, hook_name(e->hook));
		out_int(o, PRINT_JSON, "priority", NULL, e->prio);
	}
	out_str(o, PRINT_ANY, "type", "%s", e->type == NFT_TRACETYPE_POLICY ? "policy" : ret ? "return" : "rule");
	if (ret)
		out_text(o, " (end of chain)");
	if (rule)
		out_uint(o, PRINT_ANY, "handle", " %llu", e->handle);
	if (e->comment[0])
		out_str(o, rule ? PRINT_ANY : PRINT_JSON, "comment", " (%s)", e->comment);
	out_str(o, ret ? PRINT_JSON : PRINT_ANY, "verdict", rule ? ": %s" : " %s", verdict_name(e->verdict));
	if (jump && !ret && !e->jump[0])
		out_text(o, " ");
	if (e->jump[0])
		out_str(o, jump && !ret ? PRINT_ANY : PRINT_JSON, "target", " %s", e->jump);
	if (e->has_packet) {
		char s[64], d[64];
		endpoint(s, sizeof(s), e->src, e->sport);
		endpoint(d, sizeof(d), e->dst, e->dport);
		out_str(o, PRINT_JSON, "src", NULL, s);
		out_str(o, PRINT_JSON, "dst", NULL, d);
	}
	if (e->iif[0])
		out_str(o, PRINT_JSON, "iif", NULL, e->iif);
	if (e->oif[0])
		out_str(o, PRINT_JSON, "oif", NULL, e->oif);
	out_text(o, "%s\n", note);
	out_close_object(o);
}

static struct packet *packet_get(struct trace_ctx *c, uint32_t id)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->p[i].id == id)
			return &c->p[i];
	if (c->n >= c->max) {
		c->full = true;
		return NULL;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct packet *v = realloc(c->p, cap * sizeof(*v));
		if (!v)
			return NULL;
		c->p = v;
		c->cap = cap;
	}
	struct packet *p = &c->p[c->n++];
	memset(p, 0, sizeof(*p));
	p->id = id;
	clock_gettime(CLOCK_MONOTONIC, &c->last_new);
	return p;
}

static void on_event(const struct nat_trace_event *e, void *data)
{
	struct trace_ctx *c = data;
	struct packet *p = packet_get(c, e->id);
	char note[160] = "";

	if (!p)
		return;
	bool first = !p->first_dst[0] && e->has_packet;
	if (e->has_packet) {
		if (!p->first_dst[0]) {
			snprintf(p->first_dst, sizeof(p->first_dst), "%s", e->dst);
			p->first_dport = e->dport;
		} else if (!p->dnat && (strcmp(p->first_dst, e->dst) || p->first_dport != e->dport)) {
			p->dnat = true;
			endpoint(p->dnat_to, sizeof(p->dnat_to), e->dst, e->dport);
			snprintf(note, sizeof(note), "   [destination now %s: DNAT]", p->dnat_to);
		}
		snprintf(p->src, sizeof(p->src), "%s", e->src);
		snprintf(p->dst, sizeof(p->dst), "%s", e->dst);
		p->proto = e->proto;
		p->sport = e->sport;
		p->dport = e->dport;
	}
	if (first) {
		char s[64], d[64];
		endpoint(s, sizeof(s), e->src, e->sport);
		endpoint(d, sizeof(d), e->dst, e->dport);
		out_text(&c->o, "packet #%08x: %s %s -> %s%s%s%s%s\n", p->id, proto_name(e->proto), s, d,
			 e->iif[0] ? " iif " : "", e->iif, e->oif[0] ? " oif " : "", e->oif);
	}
	if (e->header_only) {
		if (note[0])
			out_text(&c->o, "  #%08x  %s\n", p->id, note + 3);
		return;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct nat_trace_event *v = realloc(p->ev, cap * sizeof(*v));
		if (!v)
			return;
		p->ev = v;
		p->cap = cap;
	}
	p->ev[p->n++] = *e;
	if (!strncmp(e->comment, "ctnet:fwd", 9) && e->verdict == NF_ACCEPT)
		snprintf(note + strlen(note), sizeof(note) - strlen(note), "   [ctnet's port forward DNAT]");
	if (e->verdict == NF_DROP && !p->dropped) {
		p->dropped = true;
		p->drop = *e;
	}
	if (out_is_json(&c->o))
		return; /* the packets are described at the end */
	event_out(&c->o, p, e, note);
	if (e->verdict == NF_DROP) {
		if (e->type == NFT_TRACETYPE_POLICY)
			out_text(&c->o, "packet #%08x: dropped by policy of table %s %s chain %s\n", p->id,
				 fam(e->family), e->table, e->chain);
		else
			out_text(&c->o, "packet #%08x: dropped by rule %llu%s%s%s of table %s %s chain %s\n", p->id,
				 (unsigned long long)e->handle, e->comment[0] ? " (" : "", e->comment,
				 e->comment[0] ? ")" : "", fam(e->family), e->table, e->chain);
	}
	out_flush(&c->o);
}

/* A packet, whole (JSON only: the text said it event by event). */
static void packet_out(struct out *o, const struct packet *p)
{
	char s[64], d[64], id[16];

	snprintf(id, sizeof(id), "%08x", p->id);
	endpoint(s, sizeof(s), p->src, p->sport);
	endpoint(d, sizeof(d), p->first_dst, p->first_dport);
	out_open_object(o, NULL);
	out_str(o, PRINT_JSON, "id", NULL, id);
	out_str(o, PRINT_JSON, "proto", NULL, proto_name(p->proto));
	out_str(o, PRINT_JSON, "src", NULL, s);
	out_str(o, PRINT_JSON, "dst", NULL, d);
	out_str(o, PRINT_JSON, "verdict", NULL, p->dropped ? "drop" : "accept");
	if (p->dropped) {
		out_open_object(o, "dropped_by");
		out_str(o, PRINT_JSON, "family", NULL, fam(p->drop.family));
		out_str(o, PRINT_JSON, "table", NULL, p->drop.table);
		out_str(o, PRINT_JSON, "chain", NULL, p->drop.chain);
		out_bool(o, PRINT_JSON, "policy", p->drop.type == NFT_TRACETYPE_POLICY);
		if (p->drop.type != NFT_TRACETYPE_POLICY)
			out_uint(o, PRINT_JSON, "handle", NULL, p->drop.handle);
		out_close_object(o);
	}
	if (p->dnat)
		out_str(o, PRINT_JSON, "dnat_to", NULL, p->dnat_to);
	out_open_array(o, "events");
	for (size_t k = 0; k < p->n; k++)
		event_out(o, p, &p->ev[k], "");
	out_close_array(o);
	out_close_object(o);
}

/* The end: the packets (JSON), or how many were traced and dropped (text). */
static void print_summary(struct trace_ctx *c, const char *name)
{
	struct out *o = &c->o;
	size_t dropped = 0;

	out_open_object(o, NULL);
	out_str(o, PRINT_JSON, "container", NULL, name);
	out_open_array(o, "packets");
	for (size_t i = 0; out_is_json(o) && i < c->n; i++)
		packet_out(o, &c->p[i]);
	out_close_array(o);
	out_close_object(o);
	for (size_t i = 0; i < c->n; i++)
		dropped += c->p[i].dropped;
	out_text(o, "%zu packet%s traced: %zu dropped, %zu passed every chain%s\n", c->n, c->n == 1 ? "" : "s",
		 dropped, c->n - dropped, c->full ? " (more matched; --count raises the limit)" : "");
}

static double since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* --probe: one TCP connection from the host itself to the container's port. */
static int probe(const struct ct_record *r, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = r->local.v4 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd; /* closed at exit: the handshake runs while we listen */
}

/* ctnet trace's flags. */
struct trace_cli {
	unsigned long count, timeout;
	uint16_t port;
	bool json, probe;
};

/* The flags into o: -1 to go on, else the exit code (0 after --help). */
static int trace_opts(int argc, char **argv, struct trace_cli *o)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "probe", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctnet_err err;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			printf("Usage: ctnet trace NAME [--port PORT] [--count N] [--timeout SEC] [--json] [--probe]\n"
			       "Trace the container's packets (from it, to it, to its forwarded host ports;\n"
			       "only PORT with --port) through every table, chain and rule of the host, with\n"
			       "the verdicts: who dropped a packet, and where ctnet DNATed it. Make the\n"
			       "traffic yourself, or --probe opens one TCP connection from the host to the\n"
			       "container. Stops after N packets (10) or SEC seconds (10). A temporary chain\n"
			       "trace-PID-* in table inet ctnet sets nftrace; it is removed on exit, on\n"
			       "SIGINT/SIGTERM, and by ctnet gc when the tracer was killed.\n"
			       "Exit 0 when a packet was traced, 1 when none matched.\n");
			return 0;
		case 'p':
			if (ctnet_port_parse(optarg, &o->port, &err) < 0)
				return ctnet_cli_usage("trace: --port: %s", err.msg);
			break;
		case 'c':
			if (ctnet_uint_parse(optarg, 1, 10000, "--count", &o->count, &err) < 0)
				return ctnet_cli_usage("trace: %s", err.msg);
			break;
		case 't':
			if (ctnet_uint_parse(optarg, 1, 86400, "--timeout", &o->timeout, &err) < 0)
				return ctnet_cli_usage("trace: %s", err.msg);
			break;
		case 'j':
			o->json = true;
			break;
		case 'P':
			o->probe = true;
			break;
		default:
			return ctnet_cli_usage("trace: bad option");
		}
	}
	return -1;
}

/* The trace's events, printed as they come, until count packets, the timeout or a signal:
 * 0, or 1 after a read failed (said). */
static int trace_wait(struct nat_trace *t, struct trace_ctx *c, const struct timespec *start,
		      unsigned long timeout)
{
	struct ctnet_err e;
	int rc = 0;

	struct pollfd pfd = { .fd = nat_trace_fd(t), .events = POLLIN };
	while (!stop_signal && since(start) < (double)timeout) {
		/* Once N packets are in, a short wait for the rest of their path. */
		if (c->n >= c->max && since(&c->last_new) > 0.3)
			break;
		if (poll(&pfd, 1, 100) > 0) {
			int r;
			while ((r = nat_trace_read(t, on_event, c, &e)) > 0)
				;
			if (r < 0) {
				fprintf(stderr, "ctnet: %s\n", e.msg);
				rc = 1;
				break;
			}
		}
	}
	return rc;
}

int cmd_trace(struct ctnet_kern *kern, int argc, char **argv)
{
	struct trace_cli o = { .count = 10, .timeout = 10 };
	struct trace_ctx c = { .max = 10 };
	struct ctnet_err err;
	struct ct_record rec;
	struct nat_trace *t = NULL;
	unsigned long count, timeout;
	uint16_t port;
	int probe_fd = -1, rc;

	if ((rc = trace_opts(argc, argv, &o)) >= 0)
		return rc;
	out_init(&c.o, stdout, o.json ? OUT_JSON : OUT_TEXT);
	count = o.count;
	timeout = o.timeout;
	port = o.port;
	if (optind + 1 != argc)
		return ctnet_cli_usage("trace: expected one container NAME");
	const char *name = argv[optind];
	if (ctnet_name_check(name, &err) < 0 || record_read(name, &rec, &err) < 0)
		return ctnet_cli_fail(&err);
	if (rec.spec.shared || !rec.local.family) {
		ctnet_errf(&err, EINVAL, "trace \"%s\": a shared-namespace container has no traffic of its own", name);
		return ctnet_cli_fail(&err);
	}
	c.max = count;
	struct nat_trace_match m = { .addr = rec.local, .has_addr6 = rec.has_v6 && rec.local6.family,
				     .addr6 = rec.local6, .port = port, .n_forwards = rec.spec.n_forwards,
				     .forwards = rec.spec.forwards };
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (nat_trace_start(kern, &m, &t, &err) < 0)
		return ctnet_cli_fail(&err);
	if (!o.json)
		fprintf(stderr, "ctnet: tracing %s's packets for %lus (at most %lu); Ctrl-C stops\n", name,
			timeout, count);
	if (o.probe) {
		uint16_t pp = port ? port : rec.spec.n_forwards ? rec.spec.forwards[0].container_lo : 80;
		probe_fd = probe(&rec, pp);
	}
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	rc = trace_wait(t, &c, &start, timeout);
	if (probe_fd >= 0)
		close(probe_fd);
	struct ctnet_err e2;
	if (nat_trace_stop(kern, t, &e2) < 0 && e2.code != ENOENT) {
		fprintf(stderr, "ctnet: remove the trace chains: %s (ctnet gc removes them)\n", e2.msg);
		rc = 1;
	}
	print_summary(&c, name);
	if (!c.n && !rc) {
		fprintf(stderr, "ctnet: no packet of %s matched in %lus\n", name, timeout);
		rc = 1;
	}
	for (size_t i = 0; i < c.n; i++)
		free(c.p[i].ev);
	free(c.p);
	return ctnet_cli_out_end(&c.o, stop_signal && !c.n ? 1 : rc);
}
