/* SPDX-License-Identifier: MIT */
/*
 * Reading ctnet's table straight from nf_tables (libmnl), for list, check and status.
 *
 * libnftables fetches and renders every element of every set for any listing that touches
 * sets, which at 5,000 containers (20,000+ elements with counters) took 200-400 ms. A few
 * dumps (table, chains, rules, sets, elements per set) and a small decoder of our own fixed
 * key layouts take a few ms. An element, desired or read, is its key and data bytes in the
 * set's layout (nat_elem_make() builds them from values): lookups compare bytes, and text is
 * rendered only for nft scripts and check's messages. A chain's rules read as their comments.
 */
#include "nat_int.h"
#include "nlsock.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Key and data layouts of each set, as declared in ruleset.c. */
const enum field nat_set_layout[NAT_S_COUNT][2][4] = {
	[NAT_S_IFACES] = { { F_IFNAME } },
	[NAT_S_EXT] = { { F_IFNAME } },
	[NAT_S_MASQ4] = { { F_V4 } },
	[NAT_S_MASQ6] = { { F_V6 } },
	[NAT_S_SPOOF4] = { { F_IFNAME, F_V4 } },
	[NAT_S_SPOOF6] = { { F_IFNAME, F_V6 } },
	[NAT_S_FWD4] = { { F_PROTO, F_PORT }, { F_V4, F_PORT } },
	[NAT_S_FWD4IP] = { { F_V4, F_PROTO, F_PORT }, { F_V4, F_PORT } },
	[NAT_S_FWD6] = { { F_PROTO, F_PORT }, { F_V6, F_PORT } },
	[NAT_S_FWD6IP] = { { F_V6, F_PROTO, F_PORT }, { F_V6, F_PORT } },
	[NAT_S_BRIDGES] = { { F_IFNAME } },
	[NAT_S_OWNHOST4] = { { F_IFNAME, F_V4 } },
	[NAT_S_OWNHOST6] = { { F_IFNAME, F_V6 } },
	[NAT_S_HOST4] = { { F_V4 } },
	[NAT_S_HOST6] = { { F_V6 } },
	[NAT_S_CLUSTER4] = { { F_NET4 } },
	[NAT_S_CLUSTER6] = { { F_NET6 } },
	[NAT_S_PORTS] = { { F_IFNAME } },
	[NAT_S_PSPOOF4] = { { F_IFNAME, F_V4 } },
	[NAT_S_PSPOOF6] = { { F_IFNAME, F_V6 } },
	[NAT_S_MACPORTS] = { { F_IFNAME } },
	[NAT_S_PMAC] = { { F_IFNAME, F_MAC } },
};

static size_t field_len(enum field f)
{
	switch (f) {
	case F_IFNAME: return IFNAMSIZ;
	case F_V4: return 4;
	case F_V6: return 16;
	case F_PROTO: return 1;
	case F_PORT: return 2;
	case F_MAC: return 6;
	case F_NET4: return 5; /* address, prefix length (not the kernel's layout: see fold) */
	case F_NET6: return 17;
	default: return 0;
	}
}

/* Number of fields of a layout part. */
static size_t n_fields(const enum field *fl)
{
	size_t n = 0;
	while (n < 4 && fl[n] != F_END)
		n++;
	return n;
}

/* Renders one nft_data value (interface names quoted for nft's syntax when quote); false
 * when its length does not fit the layout. */
static bool render(struct nat_buf *b, const enum field *fl, const uint8_t *p, size_t len, bool quote)
{
	size_t n = n_fields(fl), off = 0;
	for (size_t i = 0; i < n; i++) {
		size_t fl_len = field_len(fl[i]);
		/* In a concatenation every field takes a multiple of 4 bytes. */
		size_t step = n > 1 ? (fl_len + 3) & ~(size_t)3 : fl_len;
		char a[INET6_ADDRSTRLEN];
		if (off + fl_len > len)
			return false;
		if (i)
			nat_buf_printf(b, " . ");
		switch (fl[i]) {
		case F_IFNAME:
			nat_buf_printf(b, quote ? "\"%.*s\"" : "%.*s",
				       (int)strnlen((const char *)p + off, IFNAMSIZ), p + off);
			break;
		case F_V4:
			nat_buf_printf(b, "%s", inet_ntop(AF_INET, p + off, a, sizeof(a)));
			break;
		case F_V6:
			nat_buf_printf(b, "%s", inet_ntop(AF_INET6, p + off, a, sizeof(a)));
			break;
		case F_PROTO:
			if (p[off] == 6 || p[off] == 17)
				nat_buf_printf(b, "%s", p[off] == 6 ? "tcp" : "udp");
			else
				nat_buf_printf(b, "%u", p[off]);
			break;
		case F_PORT:
			nat_buf_printf(b, "%u", (unsigned)((p[off] << 8) | p[off + 1]));
			break;
		case F_MAC:
			nat_buf_printf(b, "%02x:%02x:%02x:%02x:%02x:%02x", p[off], p[off + 1], p[off + 2],
				       p[off + 3], p[off + 4], p[off + 5]);
			break;
		case F_NET4:
		case F_NET6:
			nat_buf_printf(b, "%s/%u", inet_ntop(fl[i] == F_NET4 ? AF_INET : AF_INET6, p + off, a, sizeof(a)),
				       p[off + fl_len - 1]);
			break;
		default:
			return false;
		}
		off += step;
	}
	return true;
}

/* Inverse of render(): the values of one part (key or data), one argument per field. */
static bool encode(const enum field *fl, va_list *ap, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = n_fields(fl), off = 0;

	for (size_t i = 0; i < n; i++) {
		size_t fl_len = field_len(fl[i]), step = n > 1 ? (fl_len + 3) & ~(size_t)3 : fl_len;
		const struct ctnet_addr *a;
		const char *name;
		unsigned v;

		if (off + step > cap)
			return false;
		memset(out + off, 0, step);
		switch (fl[i]) {
		case F_IFNAME:
			name = va_arg(*ap, const char *);
			if (strlen(name) >= IFNAMSIZ)
				return false;
			memcpy(out + off, name, strlen(name));
			break;
		case F_V4:
		case F_V6:
			a = va_arg(*ap, const struct ctnet_addr *);
			if (a->family != (fl[i] == F_V4 ? AF_INET : AF_INET6))
				return false;
			memcpy(out + off, a->bytes, fl_len);
			break;
		case F_PROTO:
			out[off] = (uint8_t)va_arg(*ap, unsigned);
			break;
		case F_PORT:
			v = va_arg(*ap, unsigned);
			out[off] = (uint8_t)(v >> 8);
			out[off + 1] = (uint8_t)v;
			break;
		case F_MAC:
			memcpy(out + off, va_arg(*ap, const uint8_t *), fl_len);
			break;
		case F_NET4:
		case F_NET6:
			a = va_arg(*ap, const struct ctnet_addr *);
			if (a->family != (fl[i] == F_NET4 ? AF_INET : AF_INET6) || a->prefix < 0 ||
			    a->prefix > (int)(fl_len - 1) * 8)
				return false;
			memcpy(out + off, a->bytes, fl_len - 1);
			out[off + fl_len - 1] = (uint8_t)a->prefix;
			break;
		default:
			return false;
		}
		off += step;
	}
	*len = off;
	return true;
}

int nat_elem_vmake(struct nat_elem *el, int set, va_list args)
{
	size_t klen = 0, dlen = 0;
	va_list ap;
	bool ok;

	*el = (struct nat_elem){ .set = (unsigned char)set };
	va_copy(ap, args);
	ok = set >= 0 && set < NAT_S_COUNT &&
	     encode(nat_set_layout[set][0], &ap, el->kd, sizeof(el->kd), &klen) &&
	     encode(nat_set_layout[set][1], &ap, el->kd + klen, sizeof(el->kd) - klen, &dlen);
	va_end(ap);
	el->klen = (uint8_t)klen;
	el->dlen = (uint8_t)dlen;
	return ok ? 0 : -EINVAL;
}

int nat_elem_make(struct nat_elem *el, int set, ...)
{
	va_list ap;
	int r;
	va_start(ap, set);
	r = nat_elem_vmake(el, set, ap);
	va_end(ap);
	return r;
}

int nat_elem_cmp(const struct nat_elem *x, const struct nat_elem *y)
{
	if (x->set != y->set)
		return x->set - y->set;
	if (x->klen != y->klen)
		return x->klen - y->klen;
	if (x->dlen != y->dlen)
		return x->dlen - y->dlen;
	return memcmp(x->kd, y->kd, x->klen + x->dlen);
}

void nat_buf_elem(struct nat_buf *b, const struct nat_elem *el, bool nft)
{
	int set = el->set < NAT_S_COUNT ? el->set : 0;
	if (!nft)
		nat_buf_printf(b, "%s ", nat_set_names[set]);
	if (!render(b, nat_set_layout[set][0], el->kd, el->klen, nft))
		nat_buf_printf(b, "?");
	if (nat_set_layout[set][1][0] != F_END) {
		nat_buf_printf(b, " : ");
		if (!el->dlen || !render(b, nat_set_layout[set][1], el->kd + el->klen, el->dlen, nft))
			nat_buf_printf(b, "?");
	}
}

struct dump {
	struct nat_kernel *k;
	int set;
	size_t cap;
	bool failed;
};

static bool grow(struct dump *d)
{
	size_t cap = d->cap ? d->cap * 2 : 64;
	/* +1: readers of the JSON path expected a terminator slot; keep the same shape. */
	struct nat_kelem *v = realloc(d->k->elems[d->set], (cap + 1) * sizeof(*v));
	if (!v)
		return false;
	d->k->elems[d->set] = v;
	d->cap = cap;
	return true;
}

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);
	if (t <= NFTA_SET_ELEM_MAX)
		tb[t] = a;
	return MNL_CB_OK;
}

static const struct nlattr *nested_value(const struct nlattr *nest)
{
	const struct nlattr *a;
	if (!nest)
		return NULL;
	mnl_attr_for_each_nested(a, nest)
		if (mnl_attr_get_type(a) == NFTA_DATA_VALUE)
			return a;
	return NULL;
}

/* A "counter" expression: NFTA_EXPR_NAME + NFTA_EXPR_DATA { BYTES, PACKETS }. */
static void read_counter(const struct nlattr *expr, struct nat_kelem *ke)
{
	const struct nlattr *a, *data = NULL;
	const char *name = NULL;
	mnl_attr_for_each_nested(a, expr) {
		if (mnl_attr_get_type(a) == NFTA_EXPR_NAME)
			name = mnl_attr_get_str(a);
		else if (mnl_attr_get_type(a) == NFTA_EXPR_DATA)
			data = a;
	}
	if (!name || strcmp(name, "counter") || !data)
		return;
	mnl_attr_for_each_nested(a, data) {
		if (mnl_attr_get_payload_len(a) != 8)
			continue;
		uint64_t v = be64toh(mnl_attr_get_u64(a));
		if (mnl_attr_get_type(a) == NFTA_COUNTER_BYTES)
			ke->bytes = v;
		else if (mnl_attr_get_type(a) == NFTA_COUNTER_PACKETS)
			ke->packets = v;
	}
}

static void one_elem(struct dump *d, const struct nlattr *elem)
{
	const struct nlattr *tb[NFTA_SET_ELEM_MAX + 1] = { 0 }, *key, *val = NULL;
	struct nat_kernel *k = d->k;
	struct nat_kelem ke = { 0 };
	size_t klen, dlen = 0;

	mnl_attr_parse_nested(elem, attr_cb, tb);
	key = nested_value(tb[NFTA_SET_ELEM_KEY]);
	if (!key)
		return;
	if (nat_set_layout[d->set][1][0] != F_END)
		val = nested_value(tb[NFTA_SET_ELEM_DATA]);
	klen = mnl_attr_get_payload_len(key);
	dlen = val ? mnl_attr_get_payload_len(val) : 0;
	/* Longer than any of our layouts: kept as unmatchable, shown as "?". */
	ke.el.set = (unsigned char)d->set;
	if (klen + dlen > sizeof(ke.el.kd)) {
		klen = dlen = 0;
	} else {
		memcpy(ke.el.kd, mnl_attr_get_payload(key), klen);
		if (dlen)
			memcpy(ke.el.kd + klen, mnl_attr_get_payload(val), dlen);
	}
	ke.el.klen = (uint8_t)klen;
	ke.el.dlen = (uint8_t)dlen;
	if (tb[NFTA_SET_ELEM_FLAGS] && mnl_attr_get_payload_len(tb[NFTA_SET_ELEM_FLAGS]) == 4)
		ke.end = ntohl(mnl_attr_get_u32(tb[NFTA_SET_ELEM_FLAGS])) & NFT_SET_ELEM_INTERVAL_END;
	if (tb[NFTA_SET_ELEM_EXPR])
		read_counter(tb[NFTA_SET_ELEM_EXPR], &ke);
	if (tb[NFTA_SET_ELEM_EXPRESSIONS]) {
		const struct nlattr *a;
		mnl_attr_for_each_nested(a, tb[NFTA_SET_ELEM_EXPRESSIONS])
			read_counter(a, &ke);
	}
	if (k->n[d->set] == d->cap && !grow(d)) {
		d->failed = true;
		return;
	}
	k->elems[d->set][k->n[d->set]++] = ke;
}

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	const struct nlattr *a, *list = NULL;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS)
			list = a;
	if (!list)
		return MNL_CB_OK;
	mnl_attr_for_each_nested(a, list)
		if (mnl_attr_get_type(a) == NFTA_LIST_ELEM && !d->failed)
			one_elem(d, a);
	return d->failed ? -ENOMEM : MNL_CB_OK;
}

static int kelem_cmp(const void *a, const void *b)
{
	return nat_elem_cmp(&((const struct nat_kelem *)a)->el, &((const struct nat_kelem *)b)->el);
}

void nat_kernel_free(struct nat_kernel *k)
{
	for (int s = 0; s < NAT_S_COUNT; s++)
		free(k->elems[s]);
	for (int c = 0; c < NAT_CHAINS; c++)
		free(k->comments[c]);
	*k = (struct nat_kernel){ 0 };
}

const struct nat_kelem *nat_kernel_find(const struct nat_kernel *k, const struct nat_elem *el)
{
	struct nat_kelem key = { .el = *el };
	if (el->set >= NAT_S_COUNT || !k->n[el->set])
		return NULL;
	return bsearch(&key, k->elems[el->set], k->n[el->set], sizeof(key), kelem_cmp);
}

struct nlmsghdr *nat_nfmsg(char *buf, int subsys, int type, int family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (uint16_t)((subsys << 8) | type);
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

/* One nf_tables request (a dump unless get) with a string attribute or two, its
 * answers to cb (restart: forget them, the dump is read again). -ENOENT when the kernel
 * says the object is not there. */
static int nft_request(struct ctnet_nl *nl, int family, int type, bool get, int a1, const char *v1, int a2,
		       const char *v2, ctnet_nl_cb cb, void (*restart)(void *), void *data, struct ctnet_err *err)
{
	char buf[1024] __attribute__((aligned(4))) = { 0 }; /* attribute padding is sent too */
	struct nlmsghdr *nlh = nat_nfmsg(buf, NFNL_SUBSYS_NFTABLES, type, family);

	mnl_attr_put_strz(nlh, (uint16_t)a1, v1);
	if (v2)
		mnl_attr_put_strz(nlh, (uint16_t)a2, v2);
	if (get)
		return ctnet_nl_request(nl, nlh, cb, data, 0, err, "nftables: read %s%s%s", v1, v2 ? " " : "",
					v2 ? v2 : "");
	return ctnet_nl_dump(nl, nlh, cb, restart, data, err, "nftables: read %s%s%s", v1, v2 ? " " : "",
			     v2 ? v2 : "");
}

static void elems_restart(void *data)
{
	struct dump *d = data;
	d->k->n[d->set] = 0;
}

static int elems_read(struct ctnet_nl *nl, struct nat_kernel *k, int set, struct ctnet_err *err)
{
	struct dump d = { .k = k, .set = set };
	int r = nft_request(nl, nat_table_family[nat_set_table(set)], NFT_MSG_GETSETELEM, false,
			    NFTA_SET_ELEM_LIST_TABLE, "ctnet", NFTA_SET_ELEM_LIST_SET, nat_set_names[set], msg_cb,
			    elems_restart, &d, err);
	if (r < 0)
		return r;
	if (nat_set_is_interval(set) && nat_interval_fold(&k->elems[set], &k->n[set], set) < 0)
		return ctnet_err_sys(err, ENOMEM, "nftables: read set %s", nat_set_names[set]);
	if (k->n[set])
		qsort(k->elems[set], k->n[set], sizeof(struct nat_kelem), kelem_cmp);
	return 0;
}

/* The string attribute `type` of an nf_tables object message. */
static const char *msg_str(const struct nlmsghdr *nlh, int type)
{
	const struct nlattr *a;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == type && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			return mnl_attr_get_str(a);
	return NULL;
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	*(bool *)data = true;
	return MNL_CB_OK;
}

/* What a dump of one of our tables fills in. */
struct table_dump {
	struct nat_kernel *k;
	int table;
};

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct table_dump *td = data;
	const char *name = msg_str(nlh, NFTA_CHAIN_NAME);
	for (int c = 0; name && c < NAT_CHAINS; c++)
		if (nat_chain_table(c) == td->table && !strcmp(name, nat_chain_names[c]))
			td->k->chain[c] = true;
	return MNL_CB_OK;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct table_dump *td = data;
	const char *name = msg_str(nlh, NFTA_SET_NAME);
	int s = name ? nat_set_index(td->table, name) : -1;
	if (s >= 0)
		td->k->set[s] = true;
	return MNL_CB_OK;
}

/* The rule's comment: libnftnl's userdata TLV (type 0 = comment, NUL-terminated). */
static const char *rule_comment(const struct nlmsghdr *nlh, char *out, size_t len)
{
	const struct nlattr *a;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_RULE_USERDATA)
			continue;
		const uint8_t *p = mnl_attr_get_payload(a);
		size_t n = mnl_attr_get_payload_len(a), off = 0;
		while (off + 2 <= n && off + 2 + p[off + 1] <= n) {
			if (p[off] == 0 && p[off + 1] > 0) {
				snprintf(out, len, "%.*s", (int)strnlen((const char *)p + off + 2, p[off + 1]),
					 p + off + 2);
				return out;
			}
			off += 2 + p[off + 1];
		}
	}
	return NULL;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct table_dump *td = data;
	struct nat_kernel *k = td->k;
	const char *chain = msg_str(nlh, NFTA_RULE_CHAIN);
	char buf[256];
	const char *comment = rule_comment(nlh, buf, sizeof(buf));

	for (int c = 0; chain && c < NAT_CHAINS; c++) {
		if (nat_chain_table(c) != td->table || strcmp(chain, nat_chain_names[c]))
			continue;
		struct nat_buf b = { 0 };
		nat_buf_printf(&b, "%s%s%s", k->comments[c] ? k->comments[c] : "",
			       k->comments[c] && *k->comments[c] ? "," : "", comment ? comment : "?");
		if (b.oom)
			return -ENOMEM;
		free(k->comments[c]);
		k->comments[c] = b.p;
	}
	return MNL_CB_OK;
}

static void rules_restart(void *data)
{
	struct table_dump *td = data;
	for (int c = 0; c < NAT_CHAINS; c++)
		if (nat_chain_table(c) == td->table && td->k->comments[c])
			td->k->comments[c][0] = '\0';
}

/* One of our tables: its chains, their rules' comments, its sets and their elements. */
static int table_read(struct ctnet_nl *nl, struct nat_kernel *k, int t, struct ctnet_err *err)
{
	struct table_dump td = { k, t };
	int fam = nat_table_family[t], r;
	bool found = false;

	r = nft_request(nl, fam, NFT_MSG_GETTABLE, true, NFTA_TABLE_NAME, "ctnet", 0, NULL, table_cb, NULL,
			&found, err);
	if (r == -ENOENT || r == -EAFNOSUPPORT)
		return 0; /* no table: k->tables[t] stays false */
	if (r < 0)
		return r;
	k->tables[t] = true;
	/* Chains and sets only set flags: read again, they set the same ones. */
	if ((r = nft_request(nl, fam, NFT_MSG_GETCHAIN, false, NFTA_CHAIN_TABLE, "ctnet", 0, NULL, chain_cb,
			     NULL, &td, err)) < 0 ||
	    (r = nft_request(nl, fam, NFT_MSG_GETRULE, false, NFTA_RULE_TABLE, "ctnet", 0, NULL, rule_cb,
			     rules_restart, &td, err)) < 0 ||
	    (r = nft_request(nl, fam, NFT_MSG_GETSET, false, NFTA_SET_TABLE, "ctnet", 0, NULL, set_cb, NULL,
			     &td, err)) < 0)
		return r;
	for (int s = 0; s < NAT_S_COUNT && r >= 0; s++)
		if (nat_set_table(s) == t && k->set[s])
			r = elems_read(nl, k, s, err);
	return r;
}

int nat_kernel_read(struct ctnet_kern *kern, struct nat_kernel *k, struct ctnet_err *err)
{
	struct ctnet_nl *nl;
	int r = 0;

	*k = (struct nat_kernel){ 0 };
	if ((r = ctnet_kern_nf(kern, &nl, err)) < 0)
		return r;
	for (int c = 0; c < NAT_CHAINS; c++)
		if (!(k->comments[c] = strdup(""))) {
			r = ctnet_err_sys(err, ENOMEM, "nftables: read table %s", NAT_TABLE);
			goto out;
		}
	for (int t = 0; t < NAT_TABLES && r >= 0; t++)
		r = table_read(nl, k, t, err);
	k->table = k->tables[NAT_T_INET] && k->tables[NAT_T_BRIDGE];
out:
	if (r < 0)
		nat_kernel_free(k);
	return r < 0 ? r : 0;
}
