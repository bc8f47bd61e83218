/* SPDX-License-Identifier: MIT */
/*
 * Deleting conntrack entries through ctnetlink (libmnl): dump the table for one family,
 * collect the original tuples of matching flows, then delete each by tuple. Without this,
 * an established flow keeps its NAT binding after its forward or container is gone.
 */
#include "nat_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
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
	size_t alen = m->addr.family == AF_INET ? 4 : 16;
	struct tuple orig, reply;
	bool hit;

	mnl_attr_parse(nlh, sizeof(*nfg), top_cb, tb);
	if (!tb[CTA_TUPLE_ORIG] || !tb[CTA_TUPLE_REPLY])
		return MNL_CB_OK;
	parse_tuple(tb[CTA_TUPLE_ORIG], m->addr.family, &orig);
	parse_tuple(tb[CTA_TUPLE_REPLY], m->addr.family, &reply);
	hit = reply.has_src && !memcmp(reply.src, m->addr.bytes, alen);
	if (m->orig_src_too && orig.has_src && !memcmp(orig.src, m->addr.bytes, alen))
		hit = true;
	if (hit && m->by_port)
		hit = orig.proto == m->proto && orig.dport >= m->lo && orig.dport <= m->hi;
	if (!hit)
		return MNL_CB_OK;
	if (mnl_attr_get_len(tb[CTA_TUPLE_ORIG]) > sizeof(d->v[0].attr))
		return MNL_CB_OK;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct victim *v = realloc(d->v, cap * sizeof(*v));
		if (!v) {
			d->oom = true;
			return MNL_CB_ERROR;
		}
		d->v = v;
		d->cap = cap;
	}
	struct victim *v = &d->v[d->n++];
	v->len = mnl_attr_get_len(tb[CTA_TUPLE_ORIG]);
	memcpy(v->attr, tb[CTA_TUPLE_ORIG], v->len);
	v->has_zone = tb[CTA_ZONE] != NULL;
	v->zone = v->has_zone ? mnl_attr_get_u16(tb[CTA_ZONE]) : 0;
	return MNL_CB_OK;
}

static struct nlmsghdr *ct_msg(char *buf, int type, int flags, int family, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

/* Kept open for the process, like the nft context (see nat_release()). */
static struct mnl_socket *ct_sock;

static struct mnl_socket *ct_socket(struct ctnet_err *err)
{
	if (ct_sock)
		return ct_sock;
	ct_sock = mnl_socket_open(NETLINK_NETFILTER);
	if (!ct_sock || mnl_socket_bind(ct_sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		ctnet_err_sys(err, e, "conntrack: open ctnetlink");
		if (ct_sock)
			mnl_socket_close(ct_sock);
		ct_sock = NULL;
		errno = e;
	}
	return ct_sock;
}

/* /proc/sys/net/netfilter/nf_conntrack_count is this namespace's count; absent when
 * conntrack is not loaded, which also means no flows. */
static bool ct_count_zero(void)
{
	char buf[32];
	ssize_t n;
	int fd = open("/proc/sys/net/netfilter/nf_conntrack_count", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n == 2 && buf[0] == '0' && buf[1] == '\n';
}

int nat_conntrack_delete(const struct nat_ct_match *m, unsigned *deleted, struct ctnet_err *err)
{
	char buf[32768]; /* large enough for the biggest dump batch */
	struct dump d = { .m = m };
	struct mnl_socket *nl;
	uint32_t seq = (uint32_t)time(NULL), portid;
	char a[CTNET_ADDR_STRLEN];
	int r = 0;
	ssize_t n;

	*deleted = 0;
	/* A dump walks every bucket of the (host-wide) hash table, ~10 ms with 262,144
	 * buckets: skip it when this namespace tracks no flow at all. */
	if (ct_count_zero())
		return 0;
	nl = ct_socket(err);
	if (!nl)
		return -errno;
	portid = mnl_socket_get_portid(nl);
	struct nlmsghdr *nlh = ct_msg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, m->addr.family, seq);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = ctnet_err_sys(err, errno, "conntrack: dump");
		goto out;
	}
	while ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		r = mnl_cb_run(buf, (size_t)n, seq, portid, dump_cb, &d);
		if (r <= MNL_CB_STOP)
			break;
	}
	if (d.oom || r < 0 || n < 0) {
		r = ctnet_err_sys(err, d.oom ? ENOMEM : errno, "conntrack: dump entries of %s",
				  ctnet_addr_str(&m->addr, a));
		goto out;
	}
	r = 0;
	for (size_t i = 0; i < d.n; i++) {
		nlh = ct_msg(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, m->addr.family, ++seq);
		memcpy(mnl_nlmsg_get_payload_tail(nlh), d.v[i].attr, d.v[i].len);
		nlh->nlmsg_len += MNL_ALIGN(d.v[i].len);
		if (d.v[i].has_zone)
			mnl_attr_put_u16(nlh, CTA_ZONE, d.v[i].zone);
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0 ||
		    (n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) < 0) {
			r = ctnet_err_sys(err, errno, "conntrack: delete entry of %s",
					  ctnet_addr_str(&m->addr, a));
			goto out;
		}
		int rr = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
		if (rr < 0 && errno != ENOENT) { /* ENOENT: it expired meanwhile */
			r = ctnet_err_sys(err, errno, "conntrack: delete entry of %s",
					  ctnet_addr_str(&m->addr, a));
			goto out;
		}
		if (rr >= 0)
			(*deleted)++;
	}
out:
	free(d.v);
	return r;
}

void nat_conntrack_close(void)
{
	if (ct_sock)
		mnl_socket_close(ct_sock);
	ct_sock = NULL;
}
