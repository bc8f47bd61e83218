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
#include "json.h"

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
	bool json;
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

static void print_event(const struct packet *p, const struct nat_trace_event *e, const char *note)
{
	char w[256], v[96];
	where(w, sizeof(w), e);
	if (e->verdict == NFT_JUMP || e->verdict == NFT_GOTO)
		snprintf(v, sizeof(v), "%s %s", verdict_name(e->verdict), e->jump);
	else
		snprintf(v, sizeof(v), "%s", verdict_name(e->verdict));
	if (e->type == NFT_TRACETYPE_POLICY)
		printf("  #%08x  %-60s policy %s%s\n", p->id, w, v, note);
	else if (e->type == NFT_TRACETYPE_RETURN)
		printf("  #%08x  %-60s return (end of chain)%s\n", p->id, w, note);
	else
		printf("  #%08x  %-60s rule %llu%s%s%s: %s%s\n", p->id, w, (unsigned long long)e->handle,
		       e->comment[0] ? " (" : "", e->comment, e->comment[0] ? ")" : "", v, note);
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
	if (first && !c->json) {
		char s[64], d[64];
		endpoint(s, sizeof(s), e->src, e->sport);
		endpoint(d, sizeof(d), e->dst, e->dport);
		printf("packet #%08x: %s %s -> %s%s%s%s%s\n", p->id, proto_name(e->proto), s, d,
		       e->iif[0] ? " iif " : "", e->iif, e->oif[0] ? " oif " : "", e->oif);
	}
	if (e->header_only) {
		if (note[0] && !c->json)
			printf("  #%08x  %s\n", p->id, note + 3);
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
	if (c->json)
		return;
	print_event(p, e, note);
	if (e->verdict == NF_DROP) {
		char w[256];
		where(w, sizeof(w), e);
		if (e->type == NFT_TRACETYPE_POLICY)
			printf("packet #%08x: dropped by policy of table %s %s chain %s\n", p->id, fam(e->family),
			       e->table, e->chain);
		else
			printf("packet #%08x: dropped by rule %llu%s%s%s of table %s %s chain %s\n", p->id,
			       (unsigned long long)e->handle, e->comment[0] ? " (" : "", e->comment,
			       e->comment[0] ? ")" : "", fam(e->family), e->table, e->chain);
	}
	fflush(stdout);
}

static json_t *event_json(const struct nat_trace_event *e)
{
	json_t *o = json_object();
	ctnet_json_set_str(o, "family", fam(e->family));
	ctnet_json_set_str(o, "table", e->table);
	ctnet_json_set_str(o, "chain", e->chain);
	if (hook_name(e->hook)) {
		ctnet_json_set_str(o, "hook", hook_name(e->hook));
		ctnet_json_set_int(o, "priority", e->prio);
	}
	ctnet_json_set_str(o, "type", e->type == NFT_TRACETYPE_POLICY ? "policy" :
				      e->type == NFT_TRACETYPE_RETURN ? "return" : "rule");
	if (e->type == NFT_TRACETYPE_RULE)
		ctnet_json_set_int(o, "handle", (long long)e->handle);
	if (e->comment[0])
		ctnet_json_set_str(o, "comment", e->comment);
	ctnet_json_set_str(o, "verdict", verdict_name(e->verdict));
	if (e->jump[0])
		ctnet_json_set_str(o, "target", e->jump);
	if (e->has_packet) {
		char s[64], d[64];
		endpoint(s, sizeof(s), e->src, e->sport);
		endpoint(d, sizeof(d), e->dst, e->dport);
		ctnet_json_set_str(o, "src", s);
		ctnet_json_set_str(o, "dst", d);
	}
	if (e->iif[0])
		ctnet_json_set_str(o, "iif", e->iif);
	if (e->oif[0])
		ctnet_json_set_str(o, "oif", e->oif);
	return o;
}

static void print_summary(const struct trace_ctx *c, const char *name)
{
	if (c->json) {
		json_t *o = json_object(), *list = json_array();
		ctnet_json_set_str(o, "container", name);
		for (size_t i = 0; i < c->n; i++) {
			const struct packet *p = &c->p[i];
			json_t *j = json_object(), *ev = json_array();
			char s[64], d[64], id[16];
			snprintf(id, sizeof(id), "%08x", p->id);
			ctnet_json_set_str(j, "id", id);
			ctnet_json_set_str(j, "proto", proto_name(p->proto));
			endpoint(s, sizeof(s), p->src, p->sport);
			endpoint(d, sizeof(d), p->first_dst, p->first_dport);
			ctnet_json_set_str(j, "src", s);
			ctnet_json_set_str(j, "dst", d);
			ctnet_json_set_str(j, "verdict", p->dropped ? "drop" : "accept");
			if (p->dropped) {
				json_t *by = json_object();
				ctnet_json_set_str(by, "family", fam(p->drop.family));
				ctnet_json_set_str(by, "table", p->drop.table);
				ctnet_json_set_str(by, "chain", p->drop.chain);
				json_object_set_new(by, "policy", json_boolean(p->drop.type == NFT_TRACETYPE_POLICY));
				if (p->drop.type != NFT_TRACETYPE_POLICY)
					ctnet_json_set_int(by, "handle", (long long)p->drop.handle);
				json_object_set_new(j, "dropped_by", by);
			}
			if (p->dnat)
				ctnet_json_set_str(j, "dnat_to", p->dnat_to);
			for (size_t k = 0; k < p->n; k++)
				json_array_append_new(ev, event_json(&p->ev[k]));
			json_object_set_new(j, "events", ev);
			json_array_append_new(list, j);
		}
		json_object_set_new(o, "packets", list);
		ctnet_json_print(stdout, o);
		return;
	}
	size_t dropped = 0;
	for (size_t i = 0; i < c->n; i++)
		dropped += c->p[i].dropped;
	printf("%zu packet%s traced: %zu dropped, %zu passed every chain%s\n", c->n, c->n == 1 ? "" : "s",
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
	c.json = o.json;
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
	if (!c.json)
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
	return stop_signal && !c.n ? 1 : rc;
}
