/* SPDX-License-Identifier: MIT */
/*
 * ctnet doctor, NAT and firewall part: what the host's other tables, sysctls, conntrack and
 * listening sockets do to the containers' traffic. The ruleset is read once (one dump of
 * chains, one of rules); each container's packets (outbound, replies, forwarded in, to the
 * host) are run through every base chain on their hooks; findings are grouped by culprit so
 * 5,000 containers behind one drop policy make one finding, not 5,000.
 */
#include "nat_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netconf.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "finding.h"
#include "fw.h"
#include "nlsock.h"

#include <libmnl/libmnl.h>

/* ctnet's own chains: prerouting at dstnat (-100), output at -100. */
#define CTNET_DNAT_PRIO (-100)

size_t nat_localnet_ifaces(const char *iface, const char **out, size_t max)
{
	/* Where nat/sysctl.c switches route_localnet on: the device that carries the
	 * container's IP traffic (its ve-NAME, or the bridge of its vb-NAME), never "all". */
	if (!max || !iface || !iface[0])
		return 0;
	out[0] = iface;
	return 1;
}

/* 1, 0, or -1 when the file is not there. */
static int sysctl_read_at(int dfd, const char *path)
{
	char c = 0;
	int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, &c, 1);
	close(fd);
	return n == 1 ? c != '0' : -1;
}

static int sysctl_read(const char *path)
{
	return sysctl_read_at(AT_FDCWD, path);
}

static int ip_forward(struct ctnet_kern *kern);

static long long read_ll(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

/* ---- packets of one container ---- */

enum pclass { P_OUT, P_REPLY, P_FWD, P_HOST, P_LOCALFWD, P_COUNT };
static const char *const pclass_what[P_COUNT] = {
	"outgoing connections", "replies", "port forwards", "connections to the host",
	"port forwards from the host itself",
};

struct ct_view {
	const struct nat_container *c;
	const char *l3; /* the interface its routed traffic uses */
	const char *uplink;
};

/* The packet of class pc at hook (and for a chain of priority prio) of container v. */
static bool packet_of(const struct ct_view *v, enum pclass pc, bool v6, int hook, int prio,
		      struct fw_packet *p)
{
	const struct nat_container *c = v->c;
	const struct ctnet_addr *a = v6 ? &c->addr6 : &c->addr;
	size_t alen = v6 ? 16 : 4;
	const struct nat_forward *f = c->n_forwards ? &c->forwards[0] : NULL;

	memset(p, 0, sizeof(*p));
	p->v6 = v6;
	p->hook = hook;
	p->ct_status_known = true;
	switch (pc) {
	case P_OUT:
		if (hook != NF_INET_FORWARD && hook != NF_INET_PRE_ROUTING && hook != NF_INET_POST_ROUTING)
			return false;
		if (hook != NF_INET_POST_ROUTING)
			p->iif = v->l3;
		if (hook != NF_INET_PRE_ROUTING)
			p->oif = v->uplink;
		p->has_saddr = true;
		memcpy(p->saddr, a->bytes, alen);
		p->ct_state = 1u << (IP_CT_NEW + 1);
		p->daddr_local_known = true;
		return true;
	case P_REPLY:
		if (hook != NF_INET_FORWARD)
			return false;
		p->iif = v->uplink;
		p->oif = v->l3;
		p->has_daddr = true;
		memcpy(p->daddr, a->bytes, alen);
		p->ct_state = 1u << (IP_CT_ESTABLISHED + 1);
		p->ct_status = IPS_SRC_NAT | IPS_SRC_NAT_DONE | IPS_CONFIRMED | IPS_SEEN_REPLY;
		return true;
	case P_FWD:
	case P_LOCALFWD:
		if (!f)
			return false;
		if (pc == P_FWD && hook != NF_INET_FORWARD && hook != NF_INET_PRE_ROUTING &&
		    hook != NF_INET_POST_ROUTING)
			return false;
		if (pc == P_LOCALFWD && hook != NF_INET_LOCAL_OUT)
			return false;
		if (f->has_host_ip && (f->host_ip.family == AF_INET6) != v6)
			return false;
		p->l4proto = f->proto == NAT_UDP ? 17 : 6;
		p->ct_state = 1u << (IP_CT_NEW + 1);
		if ((hook == NF_INET_PRE_ROUTING || hook == NF_INET_LOCAL_OUT) && prio <= CTNET_DNAT_PRIO) {
			/* before ctnet's DNAT: to the host's port */
			p->dport = f->host_lo;
			p->daddr_local_known = true;
			p->daddr_local = true;
			if (f->has_host_ip) {
				p->has_daddr = true;
				memcpy(p->daddr, f->host_ip.bytes, alen);
			}
		} else {
			p->dport = f->container_lo;
			p->has_daddr = true;
			memcpy(p->daddr, a->bytes, alen);
			p->ct_status = IPS_DST_NAT | IPS_DST_NAT_DONE;
			p->daddr_local_known = true;
		}
		if (pc == P_FWD) {
			if (hook != NF_INET_POST_ROUTING)
				p->iif = v->uplink;
			if (hook != NF_INET_PRE_ROUTING)
				p->oif = v->l3;
		} else if (prio > CTNET_DNAT_PRIO) {
			p->oif = v->l3;
		}
		return true;
	case P_HOST:
		if (hook != NF_INET_LOCAL_IN && hook != NF_INET_PRE_ROUTING)
			return false;
		p->iif = v->l3;
		p->has_saddr = true;
		memcpy(p->saddr, a->bytes, alen);
		p->ct_state = 1u << (IP_CT_NEW + 1);
		p->daddr_local_known = true;
		p->daddr_local = true;
		return hook == NF_INET_LOCAL_IN;
	default:
		return false;
	}
}

/* ---- grouping: one finding per culprit ---- */

struct group {
	enum ctnet_severity sev;
	const char *code;
	size_t chain;
	bool policy;
	uint64_t handle;
	const char *comment, *why;
	enum pclass pc;     /* the first class seen */
	unsigned classes;   /* 1 << pclass */
	size_t count;
	char first[CTNET_NAME_MAX + 1], last[CTNET_NAME_MAX + 1], l3[IFNAMSIZ];
	char names[160];
};

struct groups {
	struct group *v;
	size_t n, cap;
};

static struct group *group_get(struct groups *g, const char *code, size_t chain, const struct fw_where *w,
			       enum pclass pc, enum ctnet_severity sev)
{
	for (size_t i = 0; i < g->n; i++) {
		struct group *x = &g->v[i];
		if (x->code == code && x->chain == chain && x->policy == w->policy &&
		    x->handle == w->handle) {
			x->classes |= 1u << pc;
			if (sev > x->sev)
				x->sev = sev;
			return x;
		}
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct group *v = realloc(g->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		g->v = v;
		g->cap = cap;
	}
	struct group *x = &g->v[g->n++];
	memset(x, 0, sizeof(*x));
	x->sev = sev;
	x->code = code;
	x->chain = chain;
	x->policy = w->policy;
	x->handle = w->handle;
	x->comment = w->comment;
	x->pc = pc;
	x->classes = 1u << pc;
	return x;
}

static void group_add(struct group *x, const struct ct_view *v, enum ctnet_severity sev, const char *why)
{
	if (!x)
		return;
	if (sev > x->sev)
		x->sev = sev;
	if (why && !x->why)
		x->why = why;
	if (x->count && !strcmp(x->last, v->c->name))
		return;
	snprintf(x->last, sizeof(x->last), "%s", v->c->name);
	if (!x->count++) {
		snprintf(x->first, sizeof(x->first), "%s", v->c->name);
		snprintf(x->l3, sizeof(x->l3), "%s", v->l3);
	}
	size_t len = strlen(x->names);
	if (x->count <= 4)
		snprintf(x->names + len, sizeof(x->names) - len, "%s%s", len ? ", " : "", v->c->name);
}

static bool is_iptables_table(const struct fw_chain *c)
{
	static const char *const t[] = { "filter", "nat", "mangle", "raw", "security" };
	if (c->family != NFPROTO_IPV4 && c->family != NFPROTO_IPV6)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (!strcmp(c->table, t[i]))
			return true;
	return false;
}

/* "ve-+" (iptables) / "ve-*" (nft) for ctnet's veths, else the interface itself. */
static void iface_pattern(const char *l3, bool ipt, char *out, size_t len)
{
	if (!strncmp(l3, "ve-", 3))
		snprintf(out, len, "ve-%s", ipt ? "+" : "*");
	else
		snprintf(out, len, "%s", l3);
}

static void drop_fix(const struct fw_ruleset *rs, const struct group *x, char *fix, size_t len)
{
	const struct fw_chain *ch = &rs->chains[x->chain];
	char pat[IFNAMSIZ + 2];
	bool ipt = is_iptables_table(ch);
	const char *ipt_cmd = ch->family == NFPROTO_IPV6 ? "ip6tables" : "iptables";

	iface_pattern(x->l3, ipt, pat, sizeof(pat));
	fix[0] = '\0';
	if (x->pc == P_LOCALFWD || x->pc == P_HOST)
		return;
	if (ipt && !strcmp(ch->table, "filter") &&
	    fw_chain_find(rs, ch->family, "filter", "DOCKER-USER") >= 0 && ch->hook == NF_INET_FORWARD) {
		snprintf(fix, len, "%s -I DOCKER-USER -i %s -j ACCEPT && %s -I DOCKER-USER -o %s -j ACCEPT",
			 ipt_cmd, pat, ipt_cmd, pat);
		return;
	}
	if (ch->family == NFPROTO_INET && !strcmp(ch->table, "firewalld")) {
		snprintf(fix, len,
			 "firewall-cmd --zone=trusted --add-interface=%s && "
			 "firewall-cmd --permanent --zone=trusted --add-interface=%s",
			 x->l3, x->l3);
		return;
	}
	if (ipt) {
		snprintf(fix, len, "%s -t %s -I %s %s %s -j ACCEPT", ipt_cmd, ch->table, ch->name,
			 x->pc == P_OUT ? "-i" : "-o", pat);
		if (ch->hook == NF_INET_FORWARD)
			snprintf(fix, len, "%s -t %s -I %s -i %s -j ACCEPT && %s -t %s -I %s -o %s -j ACCEPT",
				 ipt_cmd, ch->table, ch->name, pat, ipt_cmd, ch->table, ch->name, pat);
		return;
	}
	const char *fam = fw_family_name(ch->family);
	if (ch->hook == NF_INET_FORWARD)
		snprintf(fix, len,
			 "nft 'insert rule %s %s %s iifname \"%s\" accept' && "
			 "nft 'insert rule %s %s %s oifname \"%s\" ct state established,related accept' && "
			 "nft 'insert rule %s %s %s ct status dnat accept'",
			 fam, ch->table, ch->name, pat, fam, ch->table, ch->name, pat, fam, ch->table,
			 ch->name);
	else if (x->pc == P_OUT && ch->hook == NF_INET_PRE_ROUTING)
		snprintf(fix, len, "nft 'insert rule %s %s %s iifname \"%s\" accept'", fam, ch->table,
			 ch->name, pat);
	else
		snprintf(fix, len, "nft 'insert rule %s %s %s ct status dnat accept'", fam, ch->table,
			 ch->name);
}

static void where_str(const struct fw_ruleset *rs, const struct group *x, char *buf, size_t len)
{
	const struct fw_chain *ch = &rs->chains[x->chain];
	if (x->policy)
		snprintf(buf, len, "policy drop of %s %s %s (hook %s, priority %d)",
			 fw_family_name(ch->family), ch->table, ch->name, fw_hook_name(ch->hook), ch->prio);
	else
		snprintf(buf, len, "rule handle %llu%s%s%s of %s %s %s", (unsigned long long)x->handle,
			 x->comment && *x->comment ? " (comment \"" : "", x->comment ? x->comment : "",
			 x->comment && *x->comment ? "\")" : "", fw_family_name(ch->family), ch->table,
			 ch->name);
}

static void groups_emit(const struct fw_ruleset *rs, const struct groups *g, struct ctnet_findings *out)
{
	for (size_t i = 0; i < g->n; i++) {
		const struct group *x = &g->v[i];
		const struct fw_chain *ch = &rs->chains[x->chain];
		char obj[160], where[400], fix[1024], who[200];
		snprintf(obj, sizeof(obj), "%s %s %s", fw_family_name(ch->family), ch->table, ch->name);
		where_str(rs, x, where, sizeof(where));
		if (x->count == 1)
			snprintf(who, sizeof(who), "container %s", x->first);
		else
			snprintf(who, sizeof(who), "%zu containers (%s%s)", x->count, x->names,
				 x->count > 4 ? ", ..." : "");
		if (!strcmp(x->code, "foreign-dnat")) {
			ctnet_finding_add(out, x->sev, x->code, x->count == 1 ? x->first : NULL, obj,
					  "remove or narrow that DNAT rule, or forward another host port",
					  "%s %s: %s DNATs %s at priority %d, before ctnet's DNAT (priority %d)%s%s",
					  x->sev == CTNET_SEV_BLOCKS ? "" : "may take", who, where,
					  pclass_what[x->pc], ch->prio, CTNET_DNAT_PRIO,
					  x->why ? "; undecided: " : "", x->why ? x->why : "");
			continue;
		}
		char what[200] = "";
		for (int pc = 0, k = 0; pc < P_COUNT; pc++) {
			if (!(x->classes & (1u << pc)))
				continue;
			size_t l = strlen(what);
			snprintf(what + l, sizeof(what) - l, "%s%s", k++ ? ", " : "", pclass_what[pc]);
		}
		drop_fix(rs, x, fix, sizeof(fix));
		ctnet_finding_add(out, x->sev, x->code, x->count == 1 ? x->first : NULL, obj, fix,
				  "%s %s the %s of %s%s%s", where,
				  x->sev == CTNET_SEV_BLOCKS ? "drops" :
				  !strcmp(x->code, "may-drop") ? "may drop" : "drops (unless an undecided rule accepts)",
				  what, who, x->why ? "; doctor could not decide " : "", x->why ? x->why : "");
	}
}

static bool is_ctnet(const struct fw_chain *c)
{
	return c->family == NFPROTO_INET && !strcmp(c->table, "ctnet");
}

static const char *drop_code(int hook)
{
	switch (hook) {
	case NF_INET_FORWARD: return "forward-drop";
	case NF_INET_PRE_ROUTING: return "prerouting-drop";
	case NF_INET_POST_ROUTING: return "postrouting-drop";
	case NF_INET_LOCAL_IN: return "input-drop";
	default: return "output-drop";
	}
}

/* Every base chain on every hook that a packet of v passes; drops and foreign DNATs into g.
 * bases: the other tables' base chains (found once: a host may have 10,000 chains). */
static void check_container(const struct fw_ruleset *rs, const size_t *bases, size_t n_bases,
			    const struct ct_view *v, struct groups *g)
{
	static const int hooks[] = { NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD,
				     NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING };
	for (int fam = 0; fam < 2; fam++) {
		bool v6 = fam == 1;
		if (v6 && !v->c->has_addr6)
			continue;
		for (int pc = 0; pc < P_COUNT; pc++) {
			for (size_t h = 0; h < ARRAY_SIZE(hooks); h++) {
				for (size_t bi = 0; bi < n_bases; bi++) {
					size_t ci = bases[bi];
					const struct fw_chain *ch = &rs->chains[ci];
					struct fw_packet p;
					struct fw_result res;
					if (!ch->base || ch->hook != hooks[h] || is_ctnet(ch))
						continue;
					if (!packet_of(v, (enum pclass)pc, v6, hooks[h], ch->prio, &p) ||
					    !fw_chain_applies(ch, &p))
						continue;
					bool nat = !strcmp(ch->type, "nat");
					if (nat && pc != P_FWD && pc != P_LOCALFWD)
						continue;
					if (nat && ch->prio > CTNET_DNAT_PRIO)
						continue;
					fw_eval_chain(rs, ci, &p, &res);
					if (nat) {
						if (res.v == FW_V_DNAT)
							group_add(group_get(g, "foreign-dnat", res.who.chain, &res.who,
									    (enum pclass)pc, CTNET_SEV_BLOCKS),
								  v, CTNET_SEV_BLOCKS, NULL);
						else if (res.maybe_dnat)
							group_add(group_get(g, "foreign-dnat", res.maybe_who.chain,
									    &res.maybe_who, (enum pclass)pc,
									    CTNET_SEV_DEGRADES),
								  v, CTNET_SEV_DEGRADES, res.maybe_why);
						continue;
					}
					/* Connections to the host and localhost forwards matter less than
					 * the container's own traffic. */
					enum ctnet_severity hard = pc == P_HOST ? CTNET_SEV_NOTE :
								   pc == P_LOCALFWD ? CTNET_SEV_DEGRADES :
								   CTNET_SEV_BLOCKS;
					if (res.v == FW_V_DROP) {
						enum ctnet_severity sev = res.maybe_accept && hard == CTNET_SEV_BLOCKS ?
							CTNET_SEV_DEGRADES : hard;
						group_add(group_get(g, drop_code(ch->hook), res.who.chain, &res.who,
								    (enum pclass)pc, sev),
							  v, sev, res.maybe_accept ? "a rule before it that may accept" : NULL);
					} else if (res.maybe_drop) {
						group_add(group_get(g, "may-drop", res.maybe_who.chain, &res.maybe_who,
								    (enum pclass)pc, CTNET_SEV_NOTE),
							  v, CTNET_SEV_NOTE, res.maybe_why);
					}
				}
			}
		}
	}
}

/* ---- listening sockets on forwarded ports ---- */

struct listener {
	uint8_t proto;
	uint16_t port;
	bool v6;
	uint8_t addr[16];
	unsigned long inode;
};

struct listeners {
	struct listener *v;
	size_t n, cap;
};

static void listeners_read(struct listeners *l, const char *path, uint8_t proto, bool v6)
{
	FILE *f = fopen(path, "re");
	char line[512];
	if (!f)
		return;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char local[64], remote[64];
		unsigned st;
		unsigned long inode;
		if (sscanf(line, "%*s %63s %63s %x %*s %*s %*s %*s %*s %lu", local, remote, &st, &inode) != 4)
			continue;
		/* TCP_LISTEN (10); UDP: unconnected (TCP_CLOSE, 7, remote port 0). */
		if (proto == 6 ? st != 10 : st != 7)
			continue;
		char *colon = strchr(local, ':');
		if (!colon)
			continue;
		*colon = '\0';
		struct listener x = { .proto = proto, .v6 = v6, .inode = inode };
		x.port = (uint16_t)strtoul(colon + 1, NULL, 16);
		size_t hl = strlen(local);
		for (size_t i = 0; i + 8 <= hl && i / 2 < 16; i += 8) {
			/* /proc prints each 32-bit word in host order */
			uint32_t w = (uint32_t)strtoul((char[9]){ local[i], local[i + 1], local[i + 2],
							 local[i + 3], local[i + 4], local[i + 5],
							 local[i + 6], local[i + 7], 0 }, NULL, 16);
			memcpy(x.addr + i / 2, &w, 4);
		}
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			struct listener *v = realloc(l->v, cap * sizeof(*v));
			if (!v)
				break;
			l->v = v;
			l->cap = cap;
		}
		l->v[l->n++] = x;
	}
	fclose(f);
}

/* The process owning socket inode: "PID (COMM)" into buf, or "an unknown process". */
static void socket_owner(unsigned long inode, char *buf, size_t len)
{
	char want[48];
	DIR *d = opendir("/proc");
	struct dirent *de;

	snprintf(buf, len, "an unknown process");
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		char path[300], link[64];
		snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
		DIR *fd = opendir(path);
		struct dirent *fe;
		if (!fd)
			continue;
		bool found = false;
		while (!found && (fe = readdir(fd))) {
			char p2[600];
			snprintf(p2, sizeof(p2), "%s/%s", path, fe->d_name);
			ssize_t n = readlink(p2, link, sizeof(link) - 1);
			if (n > 0) {
				link[n] = '\0';
				found = !strcmp(link, want);
			}
		}
		closedir(fd);
		if (found) {
			char comm[64] = "?";
			snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
			FILE *f = fopen(path, "re");
			if (f) {
				if (fgets(comm, sizeof(comm), f))
					comm[strcspn(comm, "\n")] = '\0';
				fclose(f);
			}
			snprintf(buf, len, "pid %.16s (%.32s)", de->d_name, comm);
			break;
		}
	}
	closedir(d);
}

static void check_listeners(const struct listeners *l, const struct ct_view *vs, size_t n,
			    struct ctnet_findings *out)
{
	for (size_t k = 0; k < l->n; k++) {
		const struct listener *x = &l->v[k];
		for (size_t i = 0; i < n; i++) {
			const struct nat_container *c = vs[i].c;
			for (size_t j = 0; j < c->n_forwards; j++) {
				const struct nat_forward *f = &c->forwards[j];
				if ((f->proto == NAT_UDP ? 17 : 6) != x->proto || x->port < f->host_lo ||
				    x->port > f->host_hi)
					continue;
				if (f->has_host_ip) {
					static const uint8_t zero[16];
					bool f6 = f->host_ip.family == AF_INET6;
					size_t al = x->v6 ? 16 : 4;
					if (f6 != x->v6 || (memcmp(x->addr, zero, al) &&
							    memcmp(x->addr, f->host_ip.bytes, al)))
						continue;
				}
				char owner[128], spec[64], addr[INET6_ADDRSTRLEN], obj[160];
				socket_owner(x->inode, owner, sizeof(owner));
				inet_ntop(x->v6 ? AF_INET6 : AF_INET, x->addr, addr, sizeof(addr));
				snprintf(obj, sizeof(obj), "%s port %u", x->proto == 6 ? "tcp" : "udp", x->port);
				ctnet_finding_add(out, CTNET_SEV_BLOCKS, "port-listener", c->name, obj,
						  "stop that process or move it to another port, or forward "
						  "another host port to the container",
						  "%s listens on %s%s%s:%u, a host port ctnet forwards to %s (%s): "
						  "connections to the host's addresses go to the container, the "
						  "host process never sees them",
						  owner, x->v6 ? "[" : "", addr, x->v6 ? "]" : "", x->port, c->name,
						  nat_forward_str(f, spec, sizeof(spec)));
				goto next;
			}
		}
next:;
	}
}

/* ---- host-wide checks ---- */

/*
 * What doctor reads of the host without the containers (one thread, while the caller reads
 * its records), and what nat_doctor_localnet_start reads per container in another.
 */
struct nat_doctor_view {
	struct fw_ruleset rs;
	int ip_forward, forwarding6, localnet_all; /* sysctl_read's 1, 0 or -1 */
	struct listeners listeners;
	/* Findings that need no container, made while reading, appended in their place. */
	struct ctnet_findings ext, conntrack, legacy;
	/* route_localnet of each forwarding container's device */
	const struct nat_doctor_ct *lcts;
	size_t ln;
	size_t localnet_next; /* the next container to read (atomic) */
	size_t localnet_off;  /* the first container whose device has it off; SIZE_MAX: none */
	int localnet_dfd;
	pthread_t tid;
	bool started, threaded, done;
};

/* Whether container i's device is read: it forwards, and the forwarding container before it
 * (a bridge's containers share one device) does not use the same. */
static const char *localnet_dev(const struct nat_doctor_ct *cts, size_t i)
{
	const char *names[4];
	if (!cts[i].c->n_forwards || !nat_localnet_ifaces(cts[i].l3iface, names, ARRAY_SIZE(names)) ||
	    names[0][0] == '.' || strchr(names[0], '/'))
		return NULL; /* not a device name: nothing below net/ipv4/conf to read */
	for (size_t j = i; j-- > 0;) {
		const char *prev[4];
		if (!cts[j].c->n_forwards || !nat_localnet_ifaces(cts[j].l3iface, prev, ARRAY_SIZE(prev)))
			continue;
		return strcmp(prev[0], names[0]) ? names[0] : NULL;
	}
	return names[0];
}

/*
 * The first forwarding container (in cts order) whose device has route_localnet off, in
 * v->localnet_off. One file per device, opened below net/ipv4/conf (from /proc each open
 * walks /proc/sys/net's entries of every namespace: 5,000 "ipv4" of the same name). The
 * containers are taken one at a time by whoever runs this: the thread of
 * nat_doctor_localnet_start, and nat_doctor_check once its own work is done.
 */
static void *localnet_run(void *arg)
{
	struct nat_doctor_view *v = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&v->localnet_next, 1, __ATOMIC_RELAXED)) < v->ln &&
	       i < __atomic_load_n(&v->localnet_off, __ATOMIC_RELAXED)) {
		const char *dev = localnet_dev(v->lcts, i);
		char path[128];
		if (!dev)
			continue;
		if (v->localnet_dfd >= 0)
			snprintf(path, sizeof(path), "%s/route_localnet", dev);
		else
			snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", dev);
		if (sysctl_read_at(v->localnet_dfd >= 0 ? v->localnet_dfd : AT_FDCWD, path) != 0)
			continue;
		size_t cur = __atomic_load_n(&v->localnet_off, __ATOMIC_RELAXED);
		while (i < cur && !__atomic_compare_exchange_n(&v->localnet_off, &cur, i, false,
							       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
	}
	return NULL;
}

static void localnet_wait(struct nat_doctor_view *v)
{
	if (!v->started)
		return;
	localnet_run(v); /* what is left, in this thread too */
	if (v->threaded)
		pthread_join(v->tid, NULL);
	v->threaded = false;
	if (v->localnet_dfd >= 0)
		close(v->localnet_dfd);
	v->localnet_dfd = -1;
	v->started = false;
	v->done = true;
}

void nat_doctor_localnet_start(struct nat_doctor_view *v, const struct nat_doctor_ct *cts, size_t n)
{
	localnet_wait(v);
	v->lcts = cts;
	v->ln = n;
	v->localnet_next = 0;
	v->localnet_off = SIZE_MAX;
	v->done = false;
	if (v->localnet_all == 1) { /* an interface's value is conf/all OR conf/IF */
		v->done = true;
		return;
	}
	v->localnet_dfd = open("/proc/sys/net/ipv4/conf", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	v->started = true;
	v->threaded = pthread_create(&v->tid, NULL, localnet_run, v) == 0;
}

static void check_sysctls(const struct nat_doctor_view *v, const struct ct_view *vs, size_t n,
			  struct ctnet_findings *out)
{
	bool v6 = false, fwds = false;
	for (size_t i = 0; i < n; i++) {
		v6 |= vs[i].c->has_addr6;
		fwds |= vs[i].c->n_forwards > 0;
	}
	if (v->ip_forward == 0)
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "ip-forward-off", NULL, "net.ipv4.ip_forward",
				  "sysctl -w net.ipv4.ip_forward=1",
				  "net.ipv4.ip_forward is 0: the host routes nothing to or from its %zu "
				  "container%s (another tool switched it off)", n, n == 1 ? "" : "s");
	if (v6 && v->forwarding6 == 0)
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "ipv6-forwarding-off", NULL,
				  "net.ipv6.conf.all.forwarding", "sysctl -w net.ipv6.conf.all.forwarding=1",
				  "net.ipv6.conf.all.forwarding is 0: IPv6 to and from containers is not routed");
	/* route_localnet: forwards from 127.0.0.1 need it where ctnet switches it on; one
	 * finding is enough ("all" is shared). */
	if (!fwds || v->localnet_off >= n)
		return;
	const char *dev = localnet_dev(v->lcts, v->localnet_off);
	char obj[96], fix[160];
	snprintf(obj, sizeof(obj), "net.ipv4.conf.%s.route_localnet", dev);
	snprintf(fix, sizeof(fix), "sysctl -w net.ipv4.conf.%s.route_localnet=1", dev);
	ctnet_finding_add(out, CTNET_SEV_BLOCKS, "route-localnet-off", NULL, obj, fix,
			  "%s is 0: forwards from 127.0.0.1 to containers (%s first) are not routed", obj,
			  vs[v->localnet_off].c->name);
}

static void check_conntrack(struct ctnet_findings *out)
{
	long long count = read_ll("/proc/sys/net/netfilter/nf_conntrack_count");
	long long max = read_ll("/proc/sys/net/netfilter/nf_conntrack_max");
	if (count < 0 || max <= 0)
		return;
	long long pct = count * 100 / max;
	if (pct < 80)
		return;
	ctnet_finding_add(out, pct >= 100 ? CTNET_SEV_BLOCKS : CTNET_SEV_DEGRADES, "conntrack-full", NULL,
			  "net.netfilter.nf_conntrack_max", "sysctl -w net.netfilter.nf_conntrack_max=N "
			  "(a larger N), or find who opens that many flows (conntrack -L)",
			  "the conntrack table holds %lld of %lld entries (%lld%%): %s", count, max, pct,
			  pct >= 100 ? "new connections are dropped" : "new connections will be dropped when it fills");
}

static void check_ext(struct ctnet_findings *out)
{
	struct nat_store s;
	struct nat_config cfg = { 0 };
	struct ctnet_err e;
	if (nat_store_open(&s, false, false, &e) < 0)
		return;
	if (nat_store_config_read(&s, &cfg, &e) < 0)
		cfg.n_ext = 0;
	nat_store_close(&s);
	for (size_t i = 0; i < cfg.n_ext; i++) {
		if (if_nametoindex(cfg.ext[i]))
			continue;
		char obj[64];
		snprintf(obj, sizeof(obj), "interface %s", cfg.ext[i]);
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "external-interface-missing", NULL, obj,
				  "ctnet-nat init",
				  "ctnet masquerades only out of its pinned external interface%s, and %s does "
				  "not exist: containers' outgoing traffic leaves unmasqueraded (the fix "
				  "masquerades out of every interface; ctnet-nat init --external-interface IF "
				  "pins the uplink that exists now)",
				  cfg.n_ext > 1 ? "s" : "", cfg.ext[i]);
	}
}

static void check_legacy(struct ctnet_findings *out)
{
	char buf[256];
	int fd = open("/proc/net/ip_tables_names", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = *(p + 1) ? ' ' : '\0';
	ctnet_finding_add(out, CTNET_SEV_NOTE, "legacy-iptables", NULL, "iptables-legacy",
			  "iptables-legacy-save (and move those rules to nftables or iptables-nft)",
			  "legacy iptables tables are loaded (%s): doctor reads nf_tables only and cannot "
			  "see what they drop", buf);
}

static void check_table(const struct fw_ruleset *rs, size_t n, struct ctnet_findings *out)
{
	if (!n || fw_chain_find(rs, NFPROTO_INET, "ctnet", "prerouting") >= 0)
		return;
	ctnet_finding_add(out, CTNET_SEV_BLOCKS, "ctnet-table-missing", NULL, "inet ctnet", "ctnet-nat restore",
			  "ctnet's table inet ctnet is gone (nft flush ruleset, a firewall reload?): no "
			  "masquerade or forwards for %zu container%s", n, n == 1 ? "" : "s");
}

int nat_doctor_read(struct ctnet_kern *kern, struct nat_doctor_view **out, struct ctnet_err *err)
{
	struct nat_doctor_view *v = calloc(1, sizeof(*v));
	int r;

	*out = NULL;
	if (!v)
		return ctnet_errf(err, ENOMEM, "doctor: out of memory");
	v->localnet_off = SIZE_MAX;
	v->localnet_dfd = -1;
	if ((r = fw_read(kern, &v->rs, false, err)) < 0) {
		free(v);
		return r;
	}
	v->ip_forward = ip_forward(kern);
	v->forwarding6 = sysctl_read("/proc/sys/net/ipv6/conf/all/forwarding");
	v->localnet_all = sysctl_read("/proc/sys/net/ipv4/conf/all/route_localnet");
	listeners_read(&v->listeners, "/proc/net/tcp", 6, false);
	listeners_read(&v->listeners, "/proc/net/tcp6", 6, true);
	listeners_read(&v->listeners, "/proc/net/udp", 17, false);
	listeners_read(&v->listeners, "/proc/net/udp6", 17, true);
	check_ext(&v->ext);
	check_conntrack(&v->conntrack);
	check_legacy(&v->legacy);
	*out = v;
	return 0;
}

void nat_doctor_view_free(struct nat_doctor_view *v)
{
	if (!v)
		return;
	__atomic_store_n(&v->localnet_next, v->ln, __ATOMIC_RELAXED); /* unread is unwanted now */
	localnet_wait(v);
	fw_free(&v->rs);
	free(v->listeners.v);
	ctnet_findings_free(&v->ext);
	ctnet_findings_free(&v->conntrack);
	ctnet_findings_free(&v->legacy);
	free(v);
}

int nat_doctor_check(struct nat_doctor_view *nv, const struct nat_doctor_ct *cts, size_t n, const char *uplink,
		     struct ctnet_findings *out, struct ctnet_err *err)
{
	const struct fw_ruleset *rs = &nv->rs;
	struct groups g = { 0 };
	struct ct_view *vs = calloc(n ? n : 1, sizeof(*vs));
	size_t *bases = malloc((rs->n_chains ? rs->n_chains : 1) * sizeof(*bases)), n_bases = 0;
	bool any_fwd = false;

	if ((!nv->started && !nv->done) || nv->lcts != cts)
		nat_doctor_localnet_start(nv, cts, n);
	if (!vs || !bases) {
		localnet_wait(nv);
		free(vs);
		free(bases);
		return ctnet_errf(err, ENOMEM, "doctor: out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		vs[i] = (struct ct_view){ .c = cts[i].c, .l3 = cts[i].l3iface, .uplink = uplink };
		any_fwd |= cts[i].c->n_forwards > 0;
	}
	for (size_t i = 0; i < rs->n_chains; i++)
		if (rs->chains[i].base && !is_ctnet(&rs->chains[i]))
			bases[n_bases++] = i;
	/* The packets first (the route_localnet reads go on meanwhile), the findings after, in
	 * the order they always had. */
	for (size_t i = 0; i < n; i++)
		check_container(rs, bases, n_bases, &vs[i], &g);
	free(bases);
	localnet_wait(nv);
	check_sysctls(nv, vs, n, out);
	check_table(rs, n, out);
	ctnet_findings_append(out, &nv->ext);
	groups_emit(rs, &g, out);
	if (any_fwd)
		check_listeners(&nv->listeners, vs, n, out);
	ctnet_findings_append(out, &nv->conntrack);
	ctnet_findings_append(out, &nv->legacy);
	free(g.v);
	free(vs);
	return out->oom ? ctnet_errf(err, ENOMEM, "doctor: out of memory") : 0;
}

int nat_doctor(struct ctnet_kern *kern, const struct nat_doctor_ct *cts, size_t n, const char *uplink,
	       struct ctnet_findings *out, struct ctnet_err *err)
{
	struct nat_doctor_view *v;
	int r = nat_doctor_read(kern, &v, err);
	if (r < 0)
		return r;
	r = nat_doctor_check(v, cts, n, uplink, out, err);
	nat_doctor_view_free(v);
	return r;
}

/* A base chain on forward with policy drop in another table that sees IPv4. */
static bool drop_forward(const struct fw_chain *ch)
{
	return ch->base && ch->hook == NF_INET_FORWARD && ch->policy == NF_DROP && !is_ctnet(ch) &&
	       (ch->family == NFPROTO_IPV4 || ch->family == NFPROTO_INET);
}

static int netconf_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;
	if (nlh->nlmsg_type != RTM_NEWNETCONF)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(struct netconfmsg))
		if (mnl_attr_get_type(a) == NETCONFA_FORWARDING && mnl_attr_get_payload_len(a) >= 4)
			*(int *)data = mnl_attr_get_u32(a) != 0;
	return MNL_CB_OK;
}

/* net.ipv4.ip_forward (conf/all's forwarding) as 1, 0 or -1, asked of rtnetlink: at 5,000
 * containers opening /proc/sys/net/ipv4/ip_forward walks the /proc/sys/net entries of every
 * namespace (~70 us); the question is one round trip. */
static int ip_forward(struct ctnet_kern *kern)
{
	char buf[256] __attribute__((aligned(4))) = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct netconfmsg *ncm;
	struct ctnet_nl *nl;
	struct ctnet_err e;
	int on = -1;

	nlh->nlmsg_type = RTM_GETNETCONF; /* the answer, then the ack */
	ncm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ncm));
	ncm->ncm_family = AF_INET;
	mnl_attr_put_u32(nlh, NETCONFA_IFINDEX, (uint32_t)NETCONFA_IFINDEX_ALL);
	if (ctnet_kern_rt(kern, &nl, &e) < 0 || ctnet_nl_request(nl, nlh, netconf_cb, &on, 0, &e, "read ip_forward") < 0)
		on = -1;
	return on >= 0 ? on : sysctl_read("/proc/sys/net/ipv4/ip_forward");
}

int nat_doctor_quick(struct ctnet_kern *kern, const char *l3iface, struct ctnet_findings *out, struct ctnet_err *err)
{
	struct fw_ruleset rs;
	int r;

	if (ip_forward(kern) == 0)
		ctnet_finding_add(out, CTNET_SEV_BLOCKS, "ip-forward-off", NULL, "net.ipv4.ip_forward",
				  "sysctl -w net.ipv4.ip_forward=1", "net.ipv4.ip_forward is 0");
	/* Rules are read only for the tables that have a drop-policy forward chain. */
	r = fw_read_rules_of(kern, &rs, drop_forward, err);
	if (r >= 0) {
		struct nat_container c = { .name = "?", .iface = l3iface };
		struct ct_view v = { .c = &c, .l3 = l3iface ? l3iface : "ve-ctnet", .uplink = NULL };
		struct groups g = { 0 };
		c.addr.family = AF_INET;
		for (size_t i = 0; i < rs.n_chains; i++) {
			const struct fw_chain *ch = &rs.chains[i];
			struct fw_packet p;
			struct fw_result res;
			if (!ch->base || ch->hook != NF_INET_FORWARD || ch->policy != NF_DROP || is_ctnet(ch) ||
			    !packet_of(&v, P_OUT, false, NF_INET_FORWARD, ch->prio, &p) ||
			    !fw_chain_applies(ch, &p))
				continue;
			p.has_saddr = false; /* no address: rules on it stay undecided */
			fw_eval_chain(&rs, i, &p, &res);
			if (res.v == FW_V_DROP && !res.maybe_accept)
				group_add(group_get(&g, "forward-drop", res.who.chain, &res.who, P_OUT,
						    CTNET_SEV_BLOCKS), &v, CTNET_SEV_BLOCKS, NULL);
		}
		for (size_t i = 0; i < g.n; i++) {
			const struct fw_chain *ch = &rs.chains[g.v[i].chain];
			char obj[160];
			snprintf(obj, sizeof(obj), "%s %s %s", fw_family_name(ch->family), ch->table, ch->name);
			ctnet_finding_add(out, CTNET_SEV_BLOCKS, "forward-drop", NULL, obj, "ctnet doctor",
					  "%s %s drops forwarded container traffic",
					  g.v[i].policy ? "the drop policy of" : "a rule of", obj);
		}
		free(g.v);
	}
	fw_free(&rs);
	return r < 0 ? r : 0;
}
