/* SPDX-License-Identifier: MIT */
#ifndef CTNET_ADDR_H
#define CTNET_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* An IPv4 or IPv6 address with an optional prefix length. */
struct ctnet_addr {
	int family; /* AF_INET or AF_INET6; 0 = unset */
	int prefix; /* -1 when none was given */
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t bytes[16];
	};
};

/* INET6_ADDRSTRLEN + "/128" */
#define CTNET_ADDR_STRLEN 64

enum {
	CTNET_ADDR_NOPREFIX = 0,   /* "/N" is an error */
	CTNET_ADDR_PREFIX_OK = 1,  /* "/N" optional */
	CTNET_ADDR_PREFIX_REQ = 2, /* "/N" required (CIDR) */
};

/*
 * Strict parse: inet_pton only (no "10.1", no leading zeros, no spaces), prefix in
 * 0..32 / 0..128 with plain decimal digits. family 0 accepts either. `what` names the
 * value in the error ("host address").
 */
int ctnet_addr_parse(const char *s, int family, int prefix_mode, const char *what,
		     struct ctnet_addr *out, struct ctnet_err *err);
/* A CIDR whose host bits are all zero ("10.233.0.0/16"). */
int ctnet_cidr_parse(const char *s, const char *what, struct ctnet_addr *out,
		     struct ctnet_err *err);

/* Address only, no prefix. buf >= CTNET_ADDR_STRLEN. Returns buf. */
const char *ctnet_addr_str(const struct ctnet_addr *a, char *buf);
/* Address with "/prefix" when a prefix is set. */
const char *ctnet_addr_cidr_str(const struct ctnet_addr *a, char *buf);

bool ctnet_addr_equal(const struct ctnet_addr *a, const struct ctnet_addr *b); /* ignores prefix */
/* Whether a lies inside net/net->prefix. */
bool ctnet_addr_in(const struct ctnet_addr *a, const struct ctnet_addr *net);
int ctnet_addr_max_prefix(int family);

/* IPv4 helpers on host-order integers. */
uint32_t ctnet_addr_v4_u32(const struct ctnet_addr *a);
void ctnet_addr_set_v4(struct ctnet_addr *a, uint32_t host_order, int prefix);

/* "1".."65535", decimal digits only. */
/* "aa:bb:cc:dd:ee:ff" (either case): unicast, not all zero. */
int ctnet_mac_parse(const char *s, unsigned char mac[6], struct ctnet_err *err);
int ctnet_port_parse(const char *s, uint16_t *out, struct ctnet_err *err);
/* Unsigned decimal in [min, max], digits only. */
int ctnet_uint_parse(const char *s, unsigned long min, unsigned long max, const char *what,
		     unsigned long *out, struct ctnet_err *err);

#endif
