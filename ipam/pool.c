/* SPDX-License-Identifier: MIT */
/* The slot <-> address mapping of a pool (see ORDER in ipam.h). */
#include <errno.h>
#include <string.h>

#include "ipam.h"

#define NIXOS_SLOTS 254u /* B.1.x .. B.254.x */
#define BLOCKS_PER_X 63u /* /30 blocks k = 1..63 of one third byte */

int ipam_pool_init(const char *cidr, bool single, struct ipam_pool *out, struct ctnet_err *err)
{
	char show[CTNET_SHOW_MAX];
	struct ctnet_addr net;
	int r = ctnet_cidr_parse(cidr, "pool", &net, err);
	if (r < 0)
		return r;
	if (net.family != AF_INET)
		return ctnet_errf(err, EINVAL,
				  "invalid pool \"%s\": not an IPv4 CIDR (IPv6 addresses come from "
				  "the ULA prefix with --ipv6)",
				  ctnet_show(cidr, show));
	if (net.prefix < 8 || net.prefix > 30)
		return ctnet_errf(err, EINVAL, "invalid pool \"%s\": prefix must be /8 to /30 (%s)",
				  ctnet_show(cidr, show),
				  net.prefix > 30 ? "too small" : "too large");
	memset(out, 0, sizeof(*out));
	out->net = net;
	out->single = single;
	uint32_t size = 1u << (32 - net.prefix);
	if (single) {
		out->slots = size - 3; /* network, bridge (.1), broadcast */
	} else if (net.prefix == 16) {
		out->nixos = true;
		out->slots = NIXOS_SLOTS + 256 * BLOCKS_PER_X;
	} else {
		out->slots = size / 4;
	}
	return 0;
}

void ipam_pool_slot(const struct ipam_pool *pool, uint32_t idx, struct ctnet_addr *host,
		    struct ctnet_addr *local)
{
	uint32_t base = ctnet_addr_v4_u32(&pool->net), h;

	if (pool->single) {
		memset(host, 0, sizeof(*host));
		ctnet_addr_set_v4(local, base + 2 + idx, pool->net.prefix);
		return;
	}
	if (!pool->nixos) {
		h = base + 4 * idx + 1;
	} else if (idx < NIXOS_SLOTS) {
		h = base + (idx + 1) * 256 + 1;
	} else {
		uint32_t j = idx - NIXOS_SLOTS;
		h = base + (j / BLOCKS_PER_X) * 256 + 4 * (j % BLOCKS_PER_X + 1) + 1;
	}
	ctnet_addr_set_v4(host, h, -1);
	ctnet_addr_set_v4(local, h + 1, -1);
}

int64_t ipam_pool_index(const struct ipam_pool *pool, const struct ctnet_addr *addr)
{
	if (addr->family != AF_INET || !ctnet_addr_in(addr, &pool->net))
		return -1;
	uint32_t off = ctnet_addr_v4_u32(addr) - ctnet_addr_v4_u32(&pool->net);
	if (pool->single)
		return off >= 2 && off - 2 < pool->slots ? (int64_t)(off - 2) : -1;
	uint32_t in = off % 4;
	if (in != 1 && in != 2)
		return -1;
	if (!pool->nixos)
		return off / 4 < pool->slots ? (int64_t)(off / 4) : -1;
	uint32_t x = off / 256, k = (off % 256) / 4;
	if (k == 0)
		return x >= 1 && x <= NIXOS_SLOTS ? (int64_t)(x - 1) : -1;
	return (int64_t)(NIXOS_SLOTS + x * BLOCKS_PER_X + (k - 1));
}

void ipam_v6_of(const struct ctnet_addr *ula48, const struct ctnet_addr *v4,
		struct ctnet_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = AF_INET6;
	out->prefix = -1;
	memcpy(out->bytes, ula48->bytes, 6);
	memcpy(out->bytes + 12, &v4->v4, 4);
}
