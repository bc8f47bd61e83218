/* SPDX-License-Identifier: MIT */
#ifndef CTNET_IPAM_H
#define CTNET_IPAM_H

/*
 * Address leases for containers.
 *
 * ORDER. A pool of pairs is cut into slots, slot i = one (host, local) pair:
 *  - a /16 pool (the default 10.233.0.0/16) starts with nixos-container's own pairs:
 *    slot i = 0..253 is host B.(i+1).1, local B.(i+1).2 (B = the pool's first two bytes);
 *    then come the /30-aligned pairs .4k+1/.4k+2 with k = 1..63, in address order,
 *    third byte X = 0..255: slot 254 + 63*X + (k-1). The k = 0 pairs (X.1/X.2) are never
 *    in the second run: those of X = 1..254 are the nixos slots, and X.1/X.2 of X = 0 and
 *    255 are left alone so that an address ending in .1/.2 always means a nixos-style pair.
 *    254 + 256*63 = 16,382 slots.
 *  - any other pool (/8../30): /30-aligned pairs only, slot i = .4i+1/.4i+2.
 *  - a single-address (bridge) pool keeps its first host address for the bridge:
 *    slot i = network + 2 + i, up to the last address before the broadcast.
 * Allocation takes the lowest free slot at or above a per-pool hint (see STATE).
 *
 * IPv6 (--ipv6): the host config's POOL6 (ctnet.conf(5)), else a ULA /48 drawn once per
 * state dir (RFC 4193: fd + 40 random bits) and kept in ipam/ula6 (left alone, and unused,
 * while POOL6 is set: leases made from it keep their addresses until released). A lease's IPv6 addresses are PREFIX::<its IPv4 address> (the IPv4
 * address in the low 32 bits, subnet id 0), so they are tied to the IPv4 pair and unique
 * across pools because the IPv4 addresses are.
 *
 * TAKEN. An address is taken when it has a claim (below) whose owner's lease names it, or
 * when a nixos-container config ($CTNET_NIXOS_CONF_DIR/ *.conf) names it, except the
 * config of the container being allocated itself (NAME.conf), which is its own.
 *
 * STATE under $CTNET_STATE_DIR/ipam/, one namespace for all pools (pools may overlap,
 * e.g. a bridge /24 inside the default /16, so claims are global):
 *   lock            flock held for the whole of alloc / reserve / release
 *   addr/<ip>       symlink -> owner name: the claim of one address (symlinkat is atomic)
 *   lease/<name>    KEY=VALUE file (same format as nixos conf), written by rename: the
 *                   commit point. `cat` shows it; readers (show, list) need no lock.
 *   pool/<cidr>     "SINGLE=0|1", "HINT=N" (N = lowest slot that may be free; raised on
 *                   alloc, lowered on release) with '/' written as '_'
 *   ula6            "fdxx:xxxx:xxxx::/48"
 * Alloc claims every address first, then writes the lease, then raises the hint; release
 * lowers the hint, removes the lease, then the claims. A process killed at any point
 * leaves a whole lease or none; a claim without a lease naming it is an orphan that the
 * next alloc/reserve reclaims. Cost per call: one probe from the hint (not a scan of all
 * leases); only when nothing is found above the hint is the pool scanned again from 0
 * (which also recovers slots freed behind the hint, e.g. a removed nixos config).
 */

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "err.h"
#include "kern.h"
#include "name.h"
#include "state.h"

#define IPAM_DEFAULT_POOL "10.233.0.0/16"

/* One container's addresses. */
struct ipam_lease {
	char name[CTNET_NAME_MAX + 1];
	char pool[CTNET_ADDR_STRLEN];  /* CIDR of the pool it came from */
	bool single;                   /* bridge pool: only `local` is set */
	bool is_static;                /* from `reserve` */
	struct ctnet_addr host, local; /* IPv4; prefix -1 for pairs, the pool's for single */
	bool has_v6;
	struct ctnet_addr host6, local6; /* prefix -1; host6 unset (family 0) when single */
};

struct ipam_opts {
	const char *pool;           /* CIDR; NULL = default_pool */
	const char *default_pool;   /* the host config's POOL; NULL = IPAM_DEFAULT_POOL. Unlike
				     * pool, an existing lease in another pool still satisfies */
	const struct ctnet_addr *prefix6; /* the host config's POOL6 (a /48); NULL = ipam/ula6 */
	bool single;                /* one address per container (bridge pools) */
	bool ipv6;                  /* also a pair from the host's ULA /48 */
	const char *nixos_conf_dir; /* NULL = ctnet_nixos_conf_dir() */
};

/*
 * Allocates (or returns the existing lease of) `name`. Idempotent by name: an existing
 * lease is returned as is (with IPv6 added when opts->ipv6 asks and it has none), unless
 * opts names another pool or mode (-EEXIST). A full pool is -ENOSPC.
 */
int ipam_alloc(struct ctnet_kern *kern, const char *name, const struct ipam_opts *opts, struct ipam_lease *out,
	       struct ctnet_err *err);
/*
 * A static lease with the given addresses (host may be NULL with opts->single). Fails with
 * -EADDRINUSE naming the owner when taken, -EINVAL when outside the pool; the same
 * addresses for the same name again succeed.
 */
int ipam_reserve(struct ctnet_kern *kern, const char *name, const struct ctnet_addr *host, const struct ctnet_addr *local,
		 const struct ipam_opts *opts, struct ipam_lease *out, struct ctnet_err *err);
/* Releases name's lease (in every pool); absent is success. */
int ipam_release(const char *name, struct ctnet_err *err);
/* -ENOENT when name has no lease. */
int ipam_show(const char *name, struct ipam_lease *out, struct ctnet_err *err);
/* Calls cb for each lease, in name order; a non-zero return from cb stops and is returned. */
int ipam_list(int (*cb)(const struct ipam_lease *lease, void *data), void *data,
	      struct ctnet_err *err);

/* Sweeps ipam's own directories (ipam/, addr/, lease/, pool/) of the temp files of killed
 * writers, each removal reported to cb (ctnet gc). 0 or the first -errno. */
int ipam_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err);
/* Whether ipam's state dir can be written (ctnet_dir_probe of $CTNET_STATE_DIR/ipam, made
 * when missing): a caller about to change the kernel for a container asks first. Every
 * writer of ipam (alloc, reserve, release) proves it under the lock itself. */
int ipam_writable(struct ctnet_err *err);

/* --- The slot <-> address mapping (pure functions; see ORDER above). --- */

struct ipam_pool {
	struct ctnet_addr net; /* the CIDR, IPv4 */
	bool single;
	bool nixos;     /* a /16 pair pool: nixos slots first */
	uint32_t slots; /* number of slots */
};

/*
 * Parses and checks a pool CIDR: IPv4 (IPv6 pairs come from the ULA, see --ipv6), host
 * bits zero, prefix /8../30 (a /30 holds one pair or one single address).
 */
int ipam_pool_init(const char *cidr, bool single, struct ipam_pool *out, struct ctnet_err *err);
/* The addresses of slot idx < pool->slots; host is unset (family 0) in a single pool. */
void ipam_pool_slot(const struct ipam_pool *pool, uint32_t idx, struct ctnet_addr *host,
		    struct ctnet_addr *local);
/* The slot holding addr (host or local of a pair), or -1 when addr is in no slot. */
int64_t ipam_pool_index(const struct ipam_pool *pool, const struct ctnet_addr *addr);
/* PREFIX::<v4> for a ULA /48 prefix and an IPv4 address. */
void ipam_v6_of(const struct ctnet_addr *ula48, const struct ctnet_addr *v4,
		struct ctnet_addr *out);

/* --- the host's own use of an address (host.c) --- */
/* The host's routing table, asked through kern's rtnetlink handle. */
struct ipam_host {
	struct ctnet_kern *kern;
};
/*
 * 1 when a is an address of a host interface, or (routes) inside a route with a prefix via
 * an interface (a VPN's subnet), why naming the interface; 0 when not; -errno. A match on
 * own_ifname (the container's own host side, when up runs again) does not count.
 */
int ipam_host_clash(struct ipam_host *h, const struct ctnet_addr *a, bool routes, const char *own_ifname,
		    char *why, size_t whysize, struct ctnet_err *err);

#endif
