/* SPDX-License-Identifier: MIT */
/*
 * ctnet trace: a temporary chain of ctnet's own table sets nftrace on the container's
 * packets (and on those to its forwarded host ports), and the kernel's trace events
 * (NFNLGRP_NFTRACE) tell each table, chain and rule the packet passed with its verdict.
 *
 * The chains are named trace-PID-START (the tracer's pid and start time), so a tracer
 * killed with -9 leaves chains that nat_trace_sweep() (ctnet gc) can tell are orphaned.
 */
#include "nat_int.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fw.h"

#define TRACE_PREFIX "trace-"

struct nat_trace {
	struct mnl_socket *nl;
	char chain[2][48]; /* prerouting and output */
	bool added;
	struct fw_ruleset rs; /* for rule comments and chain hooks */
	bool have_rs;
};

/* Field 22 of /proc/PID/stat: the start time in clock ticks since boot. */
static unsigned long long proc_start(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* comm may contain spaces */
	if (!p)
		return 0;
	unsigned long long v = 0;
	int field = 2;
	for (char *save = NULL, *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (++field == 22) {
			v = strtoull(tok, NULL, 10);
			break;
		}
	}
	return v;
}

static void match_rules(struct nat_buf *b, const char *chain, const struct nat_trace_match *m)
{
	char a[CTNET_ADDR_STRLEN];
	const char *pf = m->port ? " th dport " : "", *ps = m->port ? " th sport " : "";
	char port[8] = "";
	if (m->port)
		snprintf(port, sizeof(port), "%u", m->port);
	/* from and to the container */
	ctnet_addr_str(&m->addr, a);
	nat_buf_printf(b, "add rule " NAT_TABLE " %s ip saddr %s%s%s meta nftrace set 1\n", chain, a, ps, port);
	nat_buf_printf(b, "add rule " NAT_TABLE " %s ip daddr %s%s%s meta nftrace set 1\n", chain, a, pf, port);
	if (m->has_addr6) {
		ctnet_addr_str(&m->addr6, a);
		nat_buf_printf(b, "add rule " NAT_TABLE " %s ip6 saddr %s%s%s meta nftrace set 1\n", chain, a, ps, port);
		nat_buf_printf(b, "add rule " NAT_TABLE " %s ip6 daddr %s%s%s meta nftrace set 1\n", chain, a, pf, port);
	}
	/* to its forwarded host ports (before ctnet's DNAT: the host's address) */
	for (size_t i = 0; i < m->n_forwards; i++) {
		const struct nat_forward *f = &m->forwards[i];
		if (m->port && (m->port < f->host_lo || m->port > f->host_hi))
			continue;
		if (m->port)
			nat_buf_printf(b, "add rule " NAT_TABLE " %s fib daddr type local meta l4proto %s "
				       "th dport %u meta nftrace set 1\n", chain, nat_proto_name(f->proto), m->port);
		else
			nat_buf_printf(b, "add rule " NAT_TABLE " %s fib daddr type local meta l4proto %s "
				       "th dport %u-%u meta nftrace set 1\n", chain, nat_proto_name(f->proto),
				       f->host_lo, f->host_hi);
	}
}

int nat_trace_start(struct ctnet_kern *kern, const struct nat_trace_match *m, struct nat_trace **out, struct ctnet_err *err)
{
	struct nat_trace *t = calloc(1, sizeof(*t));
	struct nat_buf b = { 0 };
	unsigned grp = NFNLGRP_NFTRACE;
	int r;

	if (!t)
		return ctnet_errf(err, ENOMEM, "trace: out of memory");
	pid_t pid = getpid();
	unsigned long long st = proc_start(pid);
	snprintf(t->chain[0], sizeof(t->chain[0]), TRACE_PREFIX "%d-%llu", (int)pid, st);
	snprintf(t->chain[1], sizeof(t->chain[1]), TRACE_PREFIX "%d-%llu-out", (int)pid, st);
	/* Listen before the rules exist: no event is missed. */
	t->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!t->nl || mnl_socket_bind(t->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    setsockopt(mnl_socket_get_fd(t->nl), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0) {
		r = ctnet_err_sys(err, errno, "trace: listen to nftables trace events");
		goto fail;
	}
	/* A bigger buffer: a burst of traced packets is many events. */
	int sz = 1 << 22;
	setsockopt(mnl_socket_get_fd(t->nl), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	/* Before everything else, raw included (ctnet's antispoof chain is at raw). */
	nat_buf_printf(&b, "add table " NAT_TABLE "\n");
	nat_buf_printf(&b, "add chain " NAT_TABLE " %s { type filter hook prerouting priority -301; policy accept; }\n",
		       t->chain[0]);
	nat_buf_printf(&b, "add chain " NAT_TABLE " %s { type filter hook output priority -301; policy accept; }\n",
		       t->chain[1]);
	match_rules(&b, t->chain[0], m);
	match_rules(&b, t->chain[1], m);
	if (b.oom) {
		r = ctnet_errf(err, ENOMEM, "trace: out of memory");
		goto fail;
	}
	if ((r = nat_nft_run(kern, b.p, err)) < 0)
		goto fail;
	t->added = true;
	struct ctnet_err e2;
	t->have_rs = fw_read(kern, &t->rs, false, &e2) == 0;
	nat_buf_free(&b);
	*out = t;
	return 0;
fail:
	nat_buf_free(&b);
	if (t->nl)
		mnl_socket_close(t->nl);
	free(t);
	return r;
}

int nat_trace_fd(const struct nat_trace *t)
{
	return mnl_socket_get_fd(t->nl);
}

static void verdict_of(const struct nlattr *nest, struct nat_trace_event *ev)
{
	const struct nlattr *a;
	mnl_attr_for_each_nested(a, nest) {
		if (mnl_attr_get_type(a) == NFTA_VERDICT_CODE)
			ev->verdict = (int)ntohl(mnl_attr_get_u32(a));
		else if (mnl_attr_get_type(a) == NFTA_VERDICT_CHAIN &&
			 mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(ev->jump, sizeof(ev->jump), "%s", mnl_attr_get_str(a));
	}
}

static void packet_of(const uint8_t *p, size_t len, const uint8_t *th, size_t thlen,
		      struct nat_trace_event *ev)
{
	if (len < 20)
		return;
	unsigned v = p[0] >> 4;
	if (v == 4) {
		inet_ntop(AF_INET, p + 12, ev->src, sizeof(ev->src));
		inet_ntop(AF_INET, p + 16, ev->dst, sizeof(ev->dst));
		ev->proto = p[9];
	} else if (v == 6 && len >= 40) {
		inet_ntop(AF_INET6, p + 8, ev->src, sizeof(ev->src));
		inet_ntop(AF_INET6, p + 24, ev->dst, sizeof(ev->dst));
		ev->proto = p[6];
	} else {
		return;
	}
	ev->has_packet = true;
	if (th && thlen >= 4 && (ev->proto == 6 || ev->proto == 17)) {
		ev->sport = (uint16_t)(th[0] << 8 | th[1]);
		ev->dport = (uint16_t)(th[2] << 8 | th[3]);
		if (ev->proto == 6 && thlen >= 14)
			ev->tcp_flags = th[13];
	}
}

struct read_ctx {
	struct nat_trace *t;
	void (*cb)(const struct nat_trace_event *ev, void *data);
	void *data;
};

/* One attribute of a trace message into *ev; the packet's headers are kept for later. */
static void event_attr(const struct nlattr *a, struct nat_trace_event *ev, const struct nlattr **nh,
		       const struct nlattr **th)
{
	switch (mnl_attr_get_type(a)) {
	case NFTA_TRACE_TABLE:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(ev->table, sizeof(ev->table), "%s", mnl_attr_get_str(a));
		break;
	case NFTA_TRACE_CHAIN:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			snprintf(ev->chain, sizeof(ev->chain), "%s", mnl_attr_get_str(a));
		break;
	case NFTA_TRACE_RULE_HANDLE:
		if (mnl_attr_get_payload_len(a) == 8)
			ev->handle = be64toh(mnl_attr_get_u64(a));
		break;
	case NFTA_TRACE_TYPE:
		ev->type = (int)ntohl(mnl_attr_get_u32(a));
		break;
	case NFTA_TRACE_VERDICT:
		verdict_of(a, ev);
		break;
	case NFTA_TRACE_POLICY:
		ev->verdict = (int)ntohl(mnl_attr_get_u32(a));
		break;
	case NFTA_TRACE_ID:
		ev->id = ntohl(mnl_attr_get_u32(a));
		break;
	case NFTA_TRACE_NETWORK_HEADER:
		*nh = a;
		break;
	case NFTA_TRACE_TRANSPORT_HEADER:
		*th = a;
		break;
	case NFTA_TRACE_IIF:
		if_indextoname(ntohl(mnl_attr_get_u32(a)), ev->iif);
		break;
	case NFTA_TRACE_OIF:
		if_indextoname(ntohl(mnl_attr_get_u32(a)), ev->oif);
		break;
	}
}

/* The event's chain in the ruleset read at start: its hook, priority, the rule's comment. */
static void event_chain(const struct fw_ruleset *rs, struct nat_trace_event *ev)
{
	int ci = fw_chain_find(rs, ev->family, ev->table, ev->chain);
	if (ci >= 0) {
		const struct fw_chain *ch = &rs->chains[ci];
		ev->hook = ch->base ? ch->hook : -1;
		ev->prio = ch->prio;
		for (size_t k = 0; ev->handle && k < ch->n_rules; k++) {
			const struct fw_rule *r = &rs->rules[rs->order[ch->first_rule + k]];
			if (r->handle == ev->handle) {
				snprintf(ev->comment, sizeof(ev->comment), "%s", r->comment);
				break;
			}
		}
	}
}

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct read_ctx *c = data;
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	struct nat_trace_event ev;
	const struct nlattr *a, *nh = NULL, *th = NULL;

	if ((nlh->nlmsg_type & 0xff) != NFT_MSG_TRACE || (nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES)
		return MNL_CB_OK;
	memset(&ev, 0, sizeof(ev));
	ev.family = nfg->nfgen_family;
	ev.verdict = NFT_CONTINUE;
	ev.hook = -1;
	mnl_attr_for_each(a, nlh, sizeof(*nfg))
		event_attr(a, &ev, &nh, &th);
	if (nh)
		packet_of(mnl_attr_get_payload(nh), mnl_attr_get_payload_len(nh),
			  th ? mnl_attr_get_payload(th) : NULL, th ? mnl_attr_get_payload_len(th) : 0, &ev);
	/* The end of a chain's rules (no rule handle, verdict continue): the policy or the
	 * return event that follows says what happened. */
	ev.header_only = ev.type == NFT_TRACETYPE_RULE && !ev.handle && ev.verdict == NFT_CONTINUE;
	/* Our own chain only sets the mark: not part of the packet's path (but the kernel
	 * dumps the packet's headers with the first event of each hook: often this one). */
	ev.header_only |= ev.family == NFPROTO_INET && !strcmp(ev.table, "ctnet") &&
			  !strncmp(ev.chain, TRACE_PREFIX, 6);
	if (c->t->have_rs)
		event_chain(&c->t->rs, &ev);
	c->cb(&ev, c->data);
	return MNL_CB_OK;
}

int nat_trace_read(struct nat_trace *t, void (*cb)(const struct nat_trace_event *ev, void *data), void *data,
		   struct ctnet_err *err)
{
	char buf[1 << 16] __attribute__((aligned(4)));
	struct read_ctx c = { t, cb, data };
	ssize_t n = recv(mnl_socket_get_fd(t->nl), buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		if (errno == ENOBUFS)
			return ctnet_err_sys(err, ENOBUFS, "trace: events lost (too many packets)");
		return ctnet_err_sys(err, errno, "trace: read events");
	}
	mnl_cb_run(buf, (size_t)n, 0, 0, event_cb, &c);
	return 1;
}

static int delete_chains(struct ctnet_kern *kern, const char *const *names, size_t n, struct ctnet_err *err)
{
	struct nat_buf b = { 0 };
	int r;
	for (size_t i = 0; i < n; i++)
		nat_buf_printf(&b, "delete chain " NAT_TABLE " %s\n", names[i]);
	if (b.oom)
		return ctnet_errf(err, ENOMEM, "trace: out of memory");
	r = n ? nat_nft_run(kern, b.p, err) : 0;
	nat_buf_free(&b);
	return r;
}

int nat_trace_stop(struct ctnet_kern *kern, struct nat_trace *t, struct ctnet_err *err)
{
	int r = 0;
	if (!t)
		return 0;
	if (t->added) {
		const char *names[2] = { t->chain[0], t->chain[1] };
		r = delete_chains(kern, names, 2, err);
	}
	if (t->nl)
		mnl_socket_close(t->nl);
	if (t->have_rs)
		fw_free(&t->rs);
	free(t);
	return r;
}

int nat_trace_sweep(struct ctnet_kern *kern, unsigned *removed, struct ctnet_err *err)
{
	struct fw_ruleset rs;
	const char **names = NULL;
	size_t n = 0;
	int r;

	*removed = 0;
	if ((r = fw_read(kern, &rs, true, err)) < 0)
		return r;
	names = calloc(rs.n_chains ? rs.n_chains : 1, sizeof(*names));
	if (!names) {
		fw_free(&rs);
		return ctnet_errf(err, ENOMEM, "trace: out of memory");
	}
	for (size_t i = 0; i < rs.n_chains; i++) {
		const struct fw_chain *c = &rs.chains[i];
		int pid;
		unsigned long long st;
		if (c->family != NFPROTO_INET || strcmp(c->table, "ctnet") ||
		    sscanf(c->name, TRACE_PREFIX "%d-%llu", &pid, &st) != 2)
			continue;
		/* Alive means the same process: same pid and same start time. */
		if (pid > 0 && proc_start(pid) == st)
			continue;
		names[n++] = c->name;
	}
	r = delete_chains(kern, names, n, err);
	if (r >= 0)
		*removed = (unsigned)n;
	free(names);
	fw_free(&rs);
	return r;
}
