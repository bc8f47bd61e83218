/* SPDX-License-Identifier: MIT */
/*
 * Deleting conntrack entries through ctnetlink (libmnl): find the matching flows, then
 * delete each by its original tuple. Without this, an established flow keeps its NAT
 * binding after its forward or container is gone.
 *
 * Finding them: a ctnetlink dump takes the lock of every bucket of the host-wide hash table
 * (262,144 buckets on a 24 GB machine: ~10 ms even when the table holds a handful of
 * flows). /proc/net/nf_conntrack lists the same entries of this namespace walking the
 * buckets under RCU: ~0.2 ms. So while the namespace tracks a modest number of flows the
 * listing is read and each matching line rebuilt as a tuple; the dump remains for larger
 * tables (where formatting every entry as text would cost more), for kernels without
 * CONFIG_NF_CONNTRACK_PROCFS, for callers that may not read the file (it is root-only) and
 * for a protocol whose tuple we do not rebuild.
 */
#include "nat_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tuple {
	bool has_src, has_dst;
	uint8_t src[16], dst[16];
	uint8_t proto;
	uint16_t dport; /* host order */
};

struct victim {
	size_t len;
	uint16_t zone; /* network order, 0 when absent */
	bool has_zone;
	unsigned char attr[256]; /* the CTA_TUPLE_ORIG attribute as the kernel sent it */
};

struct dump {
	const struct nat_ct_match *m;
	struct victim *v;
	size_t n, cap;
	bool oom;
};

static bool add_victim(struct dump *d, const struct nlattr *orig, bool has_zone, uint16_t zone)
{
	if (CTNET_GROW(d->v, d->n, d->cap, 16) < 0) {
		d->oom = true;
		return false;
	}
	struct victim *v = &d->v[d->n++];
	v->len = mnl_attr_get_len(orig);
	memcpy(v->attr, orig, v->len);
	v->has_zone = has_zone;
	v->zone = zone;
	return true;
}

/* Whether a flow is one of m's, from its original and reply sources (NULL: unknown), its
 * protocol and its original destination port (NULL: none). Both ways of finding flows ask
 * this. */
static bool ct_hit(const struct nat_ct_match *m, const uint8_t *orig_src, const uint8_t *reply_src,
		   int proto, const uint16_t *dport)
{
	size_t alen = m->addr.family == AF_INET ? 4 : 16;
	bool hit = reply_src && !memcmp(reply_src, m->addr.bytes, alen);

	if (m->orig_src_too && orig_src && !memcmp(orig_src, m->addr.bytes, alen))
		hit = true;
	if (hit && m->by_port)
		hit = proto == m->proto && dport && *dport >= m->lo && *dport <= m->hi;
	return hit;
}

static int nested_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);
	if (type <= 8) /* every nest we read has fewer than 9 attribute types we care about */
		tb[type] = a;
	return MNL_CB_OK;
}

static void parse_tuple(const struct nlattr *nest, int family, struct tuple *t)
{
	const struct nlattr *tb[9] = { 0 }, *ip[9] = { 0 }, *pr[9] = { 0 };
	size_t alen = family == AF_INET ? 4 : 16;
	int src = family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC;
	int dst = family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST;

	memset(t, 0, sizeof(*t));
	mnl_attr_parse_nested(nest, nested_cb, tb);
	if (tb[CTA_TUPLE_IP]) {
		mnl_attr_parse_nested(tb[CTA_TUPLE_IP], nested_cb, ip);
		if (ip[src] && mnl_attr_get_payload_len(ip[src]) == alen) {
			memcpy(t->src, mnl_attr_get_payload(ip[src]), alen);
			t->has_src = true;
		}
		if (ip[dst] && mnl_attr_get_payload_len(ip[dst]) == alen) {
			memcpy(t->dst, mnl_attr_get_payload(ip[dst]), alen);
			t->has_dst = true;
		}
	}
	if (tb[CTA_TUPLE_PROTO]) {
		mnl_attr_parse_nested(tb[CTA_TUPLE_PROTO], nested_cb, pr);
		if (pr[CTA_PROTO_NUM])
			t->proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
		if (pr[CTA_PROTO_DST_PORT])
			t->dport = ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT]));
	}
}

static int top_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);
	if (type <= CTA_ZONE)
		tb[type] = a;
	return MNL_CB_OK;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	const struct nat_ct_match *m = d->m;
	const struct nlattr *tb[CTA_ZONE + 1] = { 0 };
	struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	struct tuple orig, reply;

	mnl_attr_parse(nlh, sizeof(*nfg), top_cb, tb);
	if (!tb[CTA_TUPLE_ORIG] || !tb[CTA_TUPLE_REPLY])
		return MNL_CB_OK;
	parse_tuple(tb[CTA_TUPLE_ORIG], m->addr.family, &orig);
	parse_tuple(tb[CTA_TUPLE_REPLY], m->addr.family, &reply);
	if (!ct_hit(m, orig.has_src ? orig.src : NULL, reply.has_src ? reply.src : NULL, orig.proto,
		    &orig.dport))
		return MNL_CB_OK;
	if (mnl_attr_get_len(tb[CTA_TUPLE_ORIG]) > sizeof(d->v[0].attr))
		return MNL_CB_OK;
	return add_victim(d, tb[CTA_TUPLE_ORIG], tb[CTA_ZONE] != NULL,
			  tb[CTA_ZONE] ? mnl_attr_get_u16(tb[CTA_ZONE]) : 0)
		       ? MNL_CB_OK
		       : -ENOMEM;
}

static struct nlmsghdr *ct_msg(char *buf, int type, int flags, int family)
{
	struct nlmsghdr *nlh = nat_nfmsg(buf, NFNL_SUBSYS_CTNETLINK, type, family);
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

/* /proc/sys/net/netfilter/nf_conntrack_count is this namespace's count; absent when
 * conntrack is not loaded, which also means no flows. -1 when unknown. */
static long ct_count(void)
{
	char buf[32], *end;
	ssize_t n;
	long v;
	int fd = open("/proc/sys/net/netfilter/nf_conntrack_count", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	v = strtol(buf, &end, 10);
	return end != buf && (*end == '\n' || !*end) && v >= 0 ? v : -1;
}

/* Up to this many tracked flows the text listing is cheaper than the locked dump. */
#define CT_PROC_MAX 16384

/* One /proc/net/nf_conntrack line, the parts we use. */
struct ct_line {
	int l3, l4;
	int n_src, n_dst, n_sport, n_dport, n_icmp;
	uint8_t src[2][16], dst[2][16];
	uint16_t sport, dport, icmp_id; /* original direction, host order */
	uint8_t icmp_type, icmp_code;
	bool has_zone, odd_zone;
	uint16_t zone;
};

static bool num(const char *v, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	*out = strtoul(v, &end, 10);
	return !errno && end != v && !*end && *out <= max;
}

/* "ipv4 2 tcp 6 431999 ESTABLISHED src=A dst=B sport=P dport=Q src=B dst=A ... zone=0 use=2":
 * the first src/dst/ports are the original direction, the second src/dst the reply. */
static bool parse_line(char *line, struct ct_line *c)
{
	char *save = NULL, *tok;
	unsigned long v;
	int i = 0;

	memset(c, 0, sizeof(*c));
	for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save), i++) {
		char *val = strchr(tok, '=');
		if (i == 1 || i == 3) {
			if (!num(tok, 255, &v))
				return false;
			*(i == 1 ? &c->l3 : &c->l4) = (int)v;
			continue;
		}
		if (!val)
			continue;
		*val++ = '\0';
		int af = c->l3 == 2 ? AF_INET : AF_INET6;
		if (!strcmp(tok, "src") || !strcmp(tok, "dst")) {
			int *n = tok[0] == 's' ? &c->n_src : &c->n_dst;
			uint8_t (*a)[16] = tok[0] == 's' ? c->src : c->dst;
			if (*n < 2 && inet_pton(af, val, a[*n]) != 1)
				return false;
			(*n)++;
		} else if (!strcmp(tok, "sport") || !strcmp(tok, "dport")) {
			int *n = tok[0] == 's' ? &c->n_sport : &c->n_dport;
			if (!num(val, 65535, &v))
				return false;
			if ((*n)++ == 0)
				*(tok[0] == 's' ? &c->sport : &c->dport) = (uint16_t)v;
		} else if (!strcmp(tok, "type") || !strcmp(tok, "code") || !strcmp(tok, "id")) {
			if (!num(val, tok[0] == 'i' ? 65535 : 255, &v))
				return false;
			if (c->n_src > 1)
				continue; /* the reply direction's */
			c->n_icmp++;
			if (tok[0] == 't')
				c->icmp_type = (uint8_t)v;
			else if (tok[0] == 'c')
				c->icmp_code = (uint8_t)v;
			else
				c->icmp_id = (uint16_t)v;
		} else if (!strcmp(tok, "zone")) {
			if (!num(val, 65535, &v))
				return false;
			c->has_zone = v != 0;
			c->zone = (uint16_t)v;
		} else if (!strncmp(tok, "zone-", 5)) {
			c->odd_zone = true;
		}
	}
	return c->n_src == 2 && c->n_dst == 2;
}

/* The original tuple as CTA_TUPLE_ORIG; false for a protocol we do not rebuild. */
static bool put_orig(struct nlmsghdr *h, const struct ct_line *c)
{
	bool v4 = c->l3 == 2;
	size_t alen = v4 ? 4 : 16;
	struct nlattr *t = mnl_attr_nest_start(h, CTA_TUPLE_ORIG);
	struct nlattr *ip = mnl_attr_nest_start(h, CTA_TUPLE_IP);

	mnl_attr_put(h, v4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, alen, c->src[0]);
	mnl_attr_put(h, v4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, alen, c->dst[0]);
	mnl_attr_nest_end(h, ip);
	struct nlattr *pr = mnl_attr_nest_start(h, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(h, CTA_PROTO_NUM, (uint8_t)c->l4);
	switch (c->l4) {
	case IPPROTO_TCP: case IPPROTO_UDP: case IPPROTO_UDPLITE: case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		if (!c->n_sport || !c->n_dport)
			return false;
		mnl_attr_put_u16(h, CTA_PROTO_SRC_PORT, htons(c->sport));
		mnl_attr_put_u16(h, CTA_PROTO_DST_PORT, htons(c->dport));
		break;
	case IPPROTO_ICMP: case IPPROTO_ICMPV6: {
		bool i4 = c->l4 == IPPROTO_ICMP;
		if (c->n_icmp != 3)
			return false;
		mnl_attr_put_u16(h, i4 ? CTA_PROTO_ICMP_ID : CTA_PROTO_ICMPV6_ID, htons(c->icmp_id));
		mnl_attr_put_u8(h, i4 ? CTA_PROTO_ICMP_TYPE : CTA_PROTO_ICMPV6_TYPE, c->icmp_type);
		mnl_attr_put_u8(h, i4 ? CTA_PROTO_ICMP_CODE : CTA_PROTO_ICMPV6_CODE, c->icmp_code);
		break;
	}
	default:
		return false;
	}
	mnl_attr_nest_end(h, pr);
	mnl_attr_nest_end(h, t);
	return true;
}

/* Victims from /proc/net/nf_conntrack; -ENOENT: use the dump instead. */
static int proc_collect(const struct nat_ct_match *m, struct dump *d)
{
	int l3 = m->addr.family == AF_INET ? 2 : 10;
	FILE *f = fopen("/proc/net/nf_conntrack", "re");
	char *line = NULL;
	size_t cap = 0;
	int r = 0;

	if (!f)
		return -ENOENT;
	while (getline(&line, &cap, f) > 0) {
		union {
			struct nlmsghdr h;
			char buf[512];
		} u;
		struct ct_line c;

		if (!parse_line(line, &c)) {
			r = -ENOENT;
			break;
		}
		if (c.l3 != l3)
			continue;
		if (!ct_hit(m, c.src[0], c.src[1], c.l4, c.n_dport ? &c.dport : NULL))
			continue;
		mnl_nlmsg_put_header(u.buf);
		if (c.odd_zone || !put_orig(&u.h, &c)) {
			r = -ENOENT;
			break;
		}
		if (!add_victim(d, mnl_nlmsg_get_payload(&u.h), c.has_zone, htons(c.zone))) {
			r = -ENOMEM;
			break;
		}
	}
	free(line);
	fclose(f);
	if (r == -ENOENT)
		d->n = 0;
	return r;
}

static void ct_restart(void *data)
{
	((struct dump *)data)->n = 0;
}

/* Deletes at most this many entries per conversation (one send, one ack each). */
#define CT_DEL_BATCH 32

static int delete_victims(struct ctnet_nl *nl, const struct nat_ct_match *m, const struct dump *d,
			  unsigned *deleted, struct ctnet_err *err)
{
	char buf[CT_DEL_BATCH * 512] __attribute__((aligned(4))) = { 0 }; /* padding is sent too */
	struct ctnet_nl_req req[CT_DEL_BATCH];
	char a[CTNET_ADDR_STRLEN];

	ctnet_addr_str(&m->addr, a);
	for (size_t i = 0; i < d->n;) {
		size_t len = 0, n = 0;
		for (; i < d->n && n < CT_DEL_BATCH; i++, n++) {
			struct nlmsghdr *nlh = ct_msg(buf + len, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, m->addr.family);
			memcpy(mnl_nlmsg_get_payload_tail(nlh), d->v[i].attr, d->v[i].len);
			nlh->nlmsg_len += MNL_ALIGN(d->v[i].len);
			if (d->v[i].has_zone)
				mnl_attr_put_u16(nlh, CTA_ZONE, d->v[i].zone);
			len += NLMSG_ALIGN(nlh->nlmsg_len);
			memset(&req[n], 0, sizeof(req[n]));
			snprintf(req[n].what, sizeof(req[n].what), "conntrack: delete entry of %s", a);
			req[n].ok_errno = ENOENT; /* it expired meanwhile */
		}
		int r = ctnet_nl_talk(nl, buf, len, req, n, err);
		if (r < 0)
			return r;
		for (size_t j = 0; j < n; j++)
			if (req[j].error == 0)
				(*deleted)++;
	}
	return 0;
}

int nat_conntrack_delete(struct ctnet_kern *kern, const struct nat_ct_match *m, unsigned *deleted,
			 struct ctnet_err *err)
{
	char buf[512] __attribute__((aligned(4))) = { 0 };
	struct dump d = { .m = m };
	struct ctnet_nl *nl;
	char a[CTNET_ADDR_STRLEN];
	int r = 0;

	*deleted = 0;
	long count = ct_count();
	if (count == 0)
		return 0; /* this namespace tracks no flow at all */
	bool listed = false; /* victims found in the text listing: no dump */
	/* CTNET_CT_DUMP=1 forces the dump (the tests check both ways find the same flows). */
	if (count > 0 && count <= CT_PROC_MAX && !getenv("CTNET_CT_DUMP")) {
		r = proc_collect(m, &d);
		if (r == -ENOMEM) {
			r = ctnet_errf(err, ENOMEM, "conntrack: out of memory");
			goto out;
		}
		listed = r == 0;
		r = 0;
		if (listed && d.n == 0)
			goto out;
	}
	if ((r = ctnet_kern_ct(kern, &nl, err)) < 0)
		goto out;
	if (!listed &&
	    (r = ctnet_nl_dump(nl, ct_msg(buf, IPCTNL_MSG_CT_GET, 0, m->addr.family), dump_cb, ct_restart, &d,
			       err, "conntrack: dump entries of %s", ctnet_addr_str(&m->addr, a))) < 0)
		goto out;
	r = delete_victims(nl, m, &d, deleted, err);
out:
	free(d.v);
	return r;
}
