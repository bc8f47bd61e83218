/* SPDX-License-Identifier: MIT */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "name.h"

int ctnet_addr_max_prefix(int family)
{
	return family == AF_INET ? 32 : 128;
}

int ctnet_uint_parse(const char *s, unsigned long min, unsigned long max, const char *what,
		     unsigned long *out, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	unsigned long v = 0;
	size_t i;

	if (!s || !*s)
		return ctnet_errf(err, EINVAL, "invalid %s \"\": empty", what);
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 10)
			return ctnet_errf(err, EINVAL, "invalid %s \"%s\": not a number in %lu-%lu",
					  what, ctnet_show(s, shown), min, max);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < min || v > max)
		return ctnet_errf(err, ERANGE, "invalid %s \"%s\": out of range %lu-%lu", what,
				  ctnet_show(s, shown), min, max);
	*out = v;
	return 0;
}

int ctnet_port_parse(const char *s, uint16_t *out, struct ctnet_err *err)
{
	unsigned long v;
	int r = ctnet_uint_parse(s, 1, 65535, "port", &v, err);
	if (r < 0)
		return r;
	*out = (uint16_t)v;
	return 0;
}

int ctnet_addr_parse(const char *s, int family, int prefix_mode, const char *what,
		     struct ctnet_addr *out, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	char buf[CTNET_ADDR_STRLEN];
	struct ctnet_addr a;
	const char *slash;
	size_t len;

	memset(&a, 0, sizeof(a));
	a.prefix = -1;
	if (!s || !*s)
		return ctnet_errf(err, EINVAL, "invalid %s \"\": empty", what);
	len = strlen(s);
	if (len >= sizeof(buf))
		return ctnet_errf(err, EINVAL, "invalid %s \"%s\": too long", what, ctnet_show(s, shown));
	memcpy(buf, s, len + 1);
	slash = strchr(buf, '/');
	if (slash) {
		buf[slash - buf] = '\0';
		slash++;
	}
	if (inet_pton(AF_INET, buf, &a.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &a.v6) == 1)
		a.family = AF_INET6;
	else
		return ctnet_errf(err, EINVAL, "invalid %s \"%s\": not an IP address", what,
				  ctnet_show(s, shown));
	if (family && a.family != family)
		return ctnet_errf(err, EAFNOSUPPORT, "invalid %s \"%s\": not an %s address", what,
				  ctnet_show(s, shown), family == AF_INET ? "IPv4" : "IPv6");
	if (slash) {
		unsigned long p;
		struct ctnet_err sub;
		if (prefix_mode == CTNET_ADDR_NOPREFIX)
			return ctnet_errf(err, EINVAL, "invalid %s \"%s\": no prefix allowed", what,
					  ctnet_show(s, shown));
		if (ctnet_uint_parse(slash, 0, (unsigned long)ctnet_addr_max_prefix(a.family),
				     "prefix", &p, &sub) < 0)
			return ctnet_errf(err, EINVAL, "invalid %s \"%s\": prefix must be 0-%d", what,
					  ctnet_show(s, shown), ctnet_addr_max_prefix(a.family));
		a.prefix = (int)p;
	} else if (prefix_mode == CTNET_ADDR_PREFIX_REQ) {
		return ctnet_errf(err, EINVAL, "invalid %s \"%s\": expected ADDRESS/PREFIX", what,
				  ctnet_show(s, shown));
	}
	*out = a;
	return 0;
}

static void mask_bytes(struct ctnet_addr *a, int prefix)
{
	int n = ctnet_addr_max_prefix(a->family) / 8;
	for (int i = 0; i < n; i++) {
		int bits = prefix - i * 8;
		uint8_t m = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
		a->bytes[i] &= m;
	}
}

int ctnet_cidr_parse(const char *s, const char *what, struct ctnet_addr *out,
		     struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	struct ctnet_addr a, net;
	int r = ctnet_addr_parse(s, 0, CTNET_ADDR_PREFIX_REQ, what, &a, err);
	if (r < 0)
		return r;
	net = a;
	mask_bytes(&net, a.prefix);
	if (!ctnet_addr_equal(&a, &net))
		return ctnet_errf(err, EINVAL, "invalid %s \"%s\": host bits set", what,
				  ctnet_show(s, shown));
	*out = a;
	return 0;
}

const char *ctnet_addr_str(const struct ctnet_addr *a, char *buf)
{
	if (!a->family || !inet_ntop(a->family, a->bytes, buf, CTNET_ADDR_STRLEN))
		snprintf(buf, CTNET_ADDR_STRLEN, "?");
	return buf;
}

const char *ctnet_addr_cidr_str(const struct ctnet_addr *a, char *buf)
{
	ctnet_addr_str(a, buf);
	if (a->prefix >= 0) {
		size_t n = strlen(buf);
		snprintf(buf + n, CTNET_ADDR_STRLEN - n, "/%d", a->prefix);
	}
	return buf;
}

bool ctnet_addr_equal(const struct ctnet_addr *a, const struct ctnet_addr *b)
{
	if (a->family != b->family)
		return false;
	return memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16) == 0;
}

bool ctnet_addr_in(const struct ctnet_addr *a, const struct ctnet_addr *net)
{
	struct ctnet_addr x = *a, n = *net;
	if (a->family != net->family || net->prefix < 0)
		return false;
	mask_bytes(&x, net->prefix);
	mask_bytes(&n, net->prefix);
	return ctnet_addr_equal(&x, &n);
}

uint32_t ctnet_addr_v4_u32(const struct ctnet_addr *a)
{
	return ntohl(a->v4.s_addr);
}

void ctnet_addr_set_v4(struct ctnet_addr *a, uint32_t host_order, int prefix)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->prefix = prefix;
	a->v4.s_addr = htonl(host_order);
}

int ctnet_mac_parse(const char *s, unsigned char mac[6], struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	static const char hex[] = "0123456789abcdef0123456789ABCDEF";

	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i, *h, *l;
		if (!p[0] || !p[1] || !(h = strchr(hex, p[0])) || !(l = strchr(hex, p[1])) ||
		    (i < 5 ? p[2] != ':' : p[2] != '\0'))
			return ctnet_errf(err, EINVAL, "invalid MAC address \"%s\": expected xx:xx:xx:xx:xx:xx",
					  ctnet_show(s, shown));
		mac[i] = (unsigned char)((((h - hex) & 15) << 4) | ((l - hex) & 15));
	}
	if (mac[0] & 1)
		return ctnet_errf(err, EINVAL, "invalid MAC address \"%s\": multicast", ctnet_show(s, shown));
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return ctnet_errf(err, EINVAL, "invalid MAC address \"%s\": all zero", ctnet_show(s, shown));
	return 0;
}
