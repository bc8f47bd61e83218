/* SPDX-License-Identifier: MIT */
#ifndef CTNET_IPAM_H
#define CTNET_IPAM_H

#include <stdbool.h>

#include "addr.h"
#include "err.h"
#include "name.h"

#define IPAM_DEFAULT_POOL "10.233.0.0/16"

/* One container's addresses. */
struct ipam_lease {
	char name[CTNET_NAME_MAX + 1];
	char pool[CTNET_ADDR_STRLEN];  /* CIDR of the pool it came from */
	bool single;                   /* bridge pool: only `local` is set */
	bool is_static;                /* from `reserve` */
	struct ctnet_addr host, local; /* IPv4; prefix -1 for pairs, the pool's for single */
	bool has_v6;
	struct ctnet_addr host6, local6;
};

struct ipam_opts {
	const char *pool;           /* CIDR; NULL = IPAM_DEFAULT_POOL */
	bool single;                /* one address per container (bridge pools) */
	bool ipv6;                  /* also a pair from the host's ULA /48 */
	const char *nixos_conf_dir; /* NULL = ctnet_nixos_conf_dir() */
};

/* Allocates (or returns the existing lease of) `name`. Idempotent by name. */
int ipam_alloc(const char *name, const struct ipam_opts *opts, struct ipam_lease *out,
	       struct ctnet_err *err);
/*
 * A static lease with the given addresses (host may be NULL with opts->single). Fails with
 * -EADDRINUSE naming the owner when taken, -EINVAL when outside the pool; the same
 * addresses for the same name again succeed.
 */
int ipam_reserve(const char *name, const struct ctnet_addr *host, const struct ctnet_addr *local,
		 const struct ipam_opts *opts, struct ipam_lease *out, struct ctnet_err *err);
/* Releases name's lease (in every pool); absent is success. */
int ipam_release(const char *name, struct ctnet_err *err);
/* -ENOENT when name has no lease. */
int ipam_show(const char *name, struct ipam_lease *out, struct ctnet_err *err);
/* Calls cb for each lease; a non-zero return from cb stops and is returned. */
int ipam_list(int (*cb)(const struct ipam_lease *lease, void *data), void *data,
	      struct ctnet_err *err);

#endif
