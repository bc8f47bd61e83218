/* SPDX-License-Identifier: MIT */
/*
 * Cluster CIDRs (destinations never masqueraded): the desired list kept in a form nft
 * accepts (no entry inside another), and the kernel's interval sets read back as CIDRs.
 */
#include "nat_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef unsigned __int128 u128;

static int net_cmp(const void *pa, const void *pb)
{
	const struct ctnet_addr *a = pa, *b = pb;
	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	int c = memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16);
	return c ? c : a->prefix - b->prefix;
}

size_t nat_cluster_normalize(struct ctnet_addr *v, size_t n)
{
	size_t kept = 0;
	if (n)
		qsort(v, n, sizeof(*v), net_cmp);
	/* Sorted by address, a covering network comes before what it covers, and kept ones
	 * are disjoint: the last kept one of the family is the only candidate. */
	for (size_t i = 0; i < n; i++) {
		const struct ctnet_addr *last = kept ? &v[kept - 1] : NULL;
		if (last && last->family == v[i].family && ctnet_addr_in(&v[i], last) &&
		    v[i].prefix >= last->prefix)
			continue;
		v[kept++] = v[i];
	}
	return kept;
}

static u128 get_u(const uint8_t *p, size_t len)
{
	u128 v = 0;
	for (size_t i = 0; i < len; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_u(u128 v, uint8_t *p, size_t len)
{
	for (size_t i = len; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

static u128 low_mask(unsigned bits)
{
	return bits >= 128 ? ~(u128)0 : ((u128)1 << bits) - 1;
}

struct fold {
	struct nat_kelem *out;
	size_t n, cap;
	int set;
	size_t len; /* address bytes */
};

static int emit(struct fold *f, u128 start, unsigned prefix)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct nat_kelem *v = realloc(f->out, (cap + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->out = v;
		f->cap = cap;
	}
	struct nat_kelem *ke = &f->out[f->n++];
	*ke = (struct nat_kelem){ .el = { .set = (unsigned char)f->set, .klen = (unsigned char)(f->len + 1) } };
	put_u(start, ke->el.kd, f->len);
	ke->el.kd[f->len] = (uint8_t)prefix;
	return 0;
}

/* [start, last] as the fewest CIDRs. */
static int emit_range(struct fold *f, u128 start, u128 last)
{
	unsigned width = (unsigned)f->len * 8;
	for (;;) {
		unsigned host = 0;
		while (host < width && !(start & low_mask(host + 1)) && last - start >= low_mask(host + 1))
			host++;
		if (emit(f, start, width - host) < 0)
			return -ENOMEM;
		if (last - start == low_mask(host))
			return 0;
		start += low_mask(host) + 1;
	}
}

struct raw {
	u128 key;
	bool end;
};

static int raw_cmp(const void *pa, const void *pb)
{
	const struct raw *a = pa, *b = pb;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return (int)b->end - (int)a->end; /* an end before a start at the same address */
}

int nat_interval_fold(struct nat_kelem **v, size_t *n, int set)
{
	struct fold f = { .set = set, .len = set == NAT_S_CLUSTER6 ? 16 : 4 };
	struct raw *raw = *n ? calloc(*n, sizeof(*raw)) : NULL;
	size_t nraw = 0;
	int r = 0;

	if (*n && !raw)
		return -ENOMEM;
	for (size_t i = 0; i < *n && r >= 0; i++) {
		const struct nat_kelem *ke = &(*v)[i];
		if (ke->el.klen == f.len) {
			raw[nraw++] = (struct raw){ get_u(ke->el.kd, f.len), ke->end };
		} else if ((r = emit(&f, 0, 0)) >= 0) {
			f.out[f.n - 1] = *ke; /* not our layout: kept, matches nothing desired */
		}
	}
	if (nraw)
		qsort(raw, nraw, sizeof(*raw), raw_cmp);
	bool open = false;
	u128 start = 0, top = low_mask((unsigned)f.len * 8);
	for (size_t i = 0; i < nraw && r >= 0; i++) {
		/* An end without a start is nft's marker at the bottom of the space. */
		if (open && raw[i].key > start)
			r = emit_range(&f, start, raw[i].key - 1);
		if (raw[i].end)
			open = false;
		else
			open = true, start = raw[i].key;
	}
	if (r >= 0 && open)
		r = emit_range(&f, start, top);
	free(raw);
	if (r < 0) {
		free(f.out);
		return r;
	}
	free(*v);
	*v = f.out;
	*n = f.n;
	return 0;
}

int nat_cluster_check(const struct ctnet_addr *v, size_t n, struct ctnet_err *err)
{
	char s[CTNET_ADDR_STRLEN];
	if (n > NAT_MAX_CLUSTER)
		return ctnet_errf(err, EINVAL, "more than %d cluster CIDRs", NAT_MAX_CLUSTER);
	for (size_t i = 0; i < n; i++) {
		const struct ctnet_addr *a = &v[i];
		size_t len = a->family == AF_INET ? 4 : 16;
		if ((a->family != AF_INET && a->family != AF_INET6) || a->prefix < 0 ||
		    a->prefix > (int)len * 8)
			return ctnet_errf(err, EINVAL, "cluster CIDR %zu: not an IPv4 or IPv6 network", i + 1);
		if (get_u(a->bytes, len) & low_mask((unsigned)(len * 8 - (size_t)a->prefix)))
			return ctnet_errf(err, EINVAL, "cluster CIDR \"%s\": host bits set",
					  ctnet_addr_cidr_str(a, s));
	}
	return 0;
}

void nat_host_of_conf(const struct ctnet_hostconf *hc, struct nat_host *h,
		      const char *ext[CTNET_HOSTCONF_EXT_MAX])
{
	*h = (struct nat_host){ .set_ext = hc->n_ext > 0, .n_ext = hc->n_ext, .ext = ext,
				.set_cluster = hc->n_cluster > 0, .n_cluster = hc->n_cluster,
				.cluster = hc->cluster };
	for (size_t i = 0; i < hc->n_ext; i++)
		ext[i] = hc->ext[i];
}

bool nat_cluster_same(const struct ctnet_addr *a, size_t na, const struct ctnet_addr *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;
		while (j < nb && !(a[i].family == b[j].family && a[i].prefix == b[j].prefix && ctnet_addr_equal(&a[i], &b[j])))
			j++;
		if (j == nb)
			return false;
	}
	return true;
}
