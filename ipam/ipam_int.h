/* SPDX-License-Identifier: MIT */
/* Internals of ipam/: the state directory and what makes an address unavailable, shared
 * between its .c files, not part of the contract. */
#ifndef CTNET_IPAM_INT_H
#define CTNET_IPAM_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipam.h"

/* The open state: every fd below is an O_DIRECTORY fd checked by ctnet_*dir_open. */
struct ctx {
	int ipam, addr, lease, pool, lock;
	char shown[4096]; /* $STATE/ipam, for messages */
};

enum claim { CLAIM_FREE, CLAIM_ORPHAN, CLAIM_TAKEN };

struct conf_addr {
	struct ctnet_addr addr;
	char file[NAME_MAX + 1];
};

/* What makes an address unavailable besides claims: configs, and other pools' bridges. */
struct conf_taken {
	struct conf_addr *v;
	size_t n, cap;
	struct ctnet_addr bridges[64]; /* single (bridge) pools other than the one in use */
	size_t nbridges;
};

struct pool_state {
	char file[CTNET_ADDR_STRLEN];
	bool exists, single;
	unsigned long hint;
};

/* Reads the map a 4 KiB block at a time while alloc walks it (one pread per 32768 slots). */
struct map_cache {
	uint64_t w[512];
	int64_t first; /* word index of w[0]; -1 = empty */
};

/* store.c */
void ctx_close(struct ctx *c);
int ctx_open(struct ctx *c, bool create, bool lock, struct ctnet_err *err);
int lease_read(const struct ctx *c, const char *name, struct ipam_lease *out,
	       struct ctnet_err *err);
int lease_write(const struct ctx *c, const struct ipam_lease *l, struct ctnet_err *err);
int claim_status(const struct ctx *c, const struct ctnet_addr *a, char *owner,
		 struct ctnet_err *err);
int claim(const struct ctx *c, const struct ctnet_addr *a, const char *name,
	  struct ctnet_err *err);
void unclaim(const struct ctx *c, const struct ctnet_addr *a, const char *name);
/* The /48 of new IPv6 leases: want (POOL6) when given, else ipam/ula6 (drawn once). */
int ula_get(const struct ctx *c, const struct ctnet_addr *want, struct ctnet_addr *out, struct ctnet_err *err);
/* taken.c */
const char *taken_by(const struct conf_taken *t, const struct ctnet_addr *a);
int conf_load(const char *dir, const char *self, struct conf_taken *t,
	      struct ctnet_err *err);
int pool_read(const struct ctx *c, const struct ctnet_addr *net, struct pool_state *p,
	      struct ctnet_err *err);
int pool_write(const struct ctx *c, const struct pool_state *p, struct ctnet_err *err);
int pool_open(const struct ctx *c, const struct ipam_pool *pool, struct pool_state *p,
	      struct ctnet_err *err);
int map_open(const struct ctx *c, const struct pool_state *p, struct ctnet_err *err);
uint64_t map_word_cached(int fd, struct map_cache *m, uint32_t w);
int map_set(int fd, uint32_t slot, bool taken, const char *shown, struct ctnet_err *err);
int bridges_load(const struct ctx *c, const struct ipam_pool *self, struct conf_taken *t,
		 struct ctnet_err *err);

#endif
