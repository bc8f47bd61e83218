/* SPDX-License-Identifier: MIT */
/* Port-forward specs: nixos-container's HOST_PORT syntax, parsed strictly. */
#include "nat.h"
#include "nat_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* "8080" or "8000-8010" into lo/hi. */
static int range_parse(const char *s, const char *spec, uint16_t *lo, uint16_t *hi,
		       struct ctnet_err *err)
{
	char buf[32], shown[CTNET_SHOW_MAX];
	const char *dash = strchr(s, '-');
	struct ctnet_err e2 = { 0 };

	if (strlen(s) >= sizeof(buf))
		return ctnet_errf(err, EINVAL, "forward \"%s\": bad port \"%s\"",
				  ctnet_show(spec, shown), s);
	strcpy(buf, s);
	if (dash)
		buf[dash - s] = '\0';
	if (ctnet_port_parse(buf, lo, &e2) < 0 || (dash && ctnet_port_parse(dash + 1, hi, &e2) < 0))
		return ctnet_errf(err, EINVAL, "forward \"%s\": port must be 1-65535",
				  ctnet_show(spec, shown));
	if (!dash)
		*hi = *lo;
	if (*hi < *lo)
		return ctnet_errf(err, EINVAL, "forward \"%s\": reversed port range %u-%u",
				  ctnet_show(spec, shown), *lo, *hi);
	return 0;
}

int nat_forward_parse(const char *spec, struct nat_forward *out, struct ctnet_err *err)
{
	char buf[64], shown[CTNET_SHOW_MAX];
	char *proto, *host, *cont;
	struct nat_forward f = { 0 };
	int r;

	if (!spec || strlen(spec) >= sizeof(buf))
		return ctnet_errf(err, EINVAL, "forward \"%s\": too long",
				  ctnet_show(spec ? spec : "", shown));
	strcpy(buf, spec);
	proto = buf;
	host = strchr(proto, ':');
	if (!host)
		return ctnet_errf(err, EINVAL,
				  "forward \"%s\": expected PROTO:HOSTPORT[:CONTAINERPORT]",
				  ctnet_show(spec, shown));
	*host++ = '\0';
	cont = strchr(host, ':');
	if (cont)
		*cont++ = '\0';
	if (!strcmp(proto, "tcp"))
		f.proto = NAT_TCP;
	else if (!strcmp(proto, "udp"))
		f.proto = NAT_UDP;
	else
		return ctnet_errf(err, EINVAL, "forward \"%s\": protocol must be tcp or udp",
				  ctnet_show(spec, shown));
	r = range_parse(host, spec, &f.host_lo, &f.host_hi, err);
	if (r < 0)
		return r;
	if (cont) {
		r = range_parse(cont, spec, &f.container_lo, &f.container_hi, err);
		if (r < 0)
			return r;
	} else {
		f.container_lo = f.host_lo;
		f.container_hi = f.host_hi;
	}
	if (f.host_hi - f.host_lo != f.container_hi - f.container_lo)
		return ctnet_errf(err, EINVAL,
				  "forward \"%s\": host and container ranges differ in length",
				  ctnet_show(spec, shown));
	if ((unsigned)(f.host_hi - f.host_lo) + 1 > NAT_MAX_RANGE)
		return ctnet_errf(err, EINVAL, "forward \"%s\": range longer than %d ports",
				  ctnet_show(spec, shown), NAT_MAX_RANGE);
	*out = f;
	return 0;
}

static int range_str(char *buf, size_t len, uint16_t lo, uint16_t hi)
{
	return lo == hi ? snprintf(buf, len, "%u", lo) : snprintf(buf, len, "%u-%u", lo, hi);
}

const char *nat_forward_str(const struct nat_forward *f, char *buf, size_t len)
{
	char h[16], c[16];
	range_str(h, sizeof(h), f->host_lo, f->host_hi);
	range_str(c, sizeof(c), f->container_lo, f->container_hi);
	snprintf(buf, len, "%s:%s:%s", nat_proto_name(f->proto), h, c);
	return buf;
}

const char *nat_proto_name(enum nat_proto p)
{
	return p == NAT_UDP ? "udp" : "tcp";
}

bool nat_forward_same_host(const struct nat_forward *a, const struct nat_forward *b)
{
	return a->proto == b->proto && a->host_lo == b->host_lo && a->host_hi == b->host_hi &&
	       a->has_host_ip == b->has_host_ip &&
	       (!a->has_host_ip || ctnet_addr_equal(&a->host_ip, &b->host_ip));
}

bool nat_forward_overlaps(const struct nat_forward *a, const struct nat_forward *b)
{
	if (a->proto != b->proto || a->has_host_ip != b->has_host_ip)
		return false;
	if (a->has_host_ip && !ctnet_addr_equal(&a->host_ip, &b->host_ip))
		return false;
	return a->host_lo <= b->host_hi && b->host_lo <= a->host_hi;
}
