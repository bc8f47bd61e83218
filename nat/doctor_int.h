/* SPDX-License-Identifier: MIT */
/* Internals of nat's doctor, shared by doctor.c (the view and the host-wide checks),
 * doctor_fw.c (packets through the ruleset) and doctor_listen.c (listening sockets). */
#ifndef CTNET_NAT_DOCTOR_INT_H
#define CTNET_NAT_DOCTOR_INT_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "finding.h"
#include "fw.h"
#include "nat_int.h"

/* The packets doctor judges for each container. */
enum pclass { P_OUT, P_REPLY, P_FWD, P_HOST, P_LOCALFWD, P_BRIDGED, P_COUNT };

/* One container as doctor sees it. */
struct ct_view {
	const struct nat_container *c;
	const char *l3; /* the interface its routed traffic uses */
	const char *uplink;
	bool bridged;   /* a bridge port with br_netfilter on: its bridged frames pass FORWARD */
};

/* A listening socket, from /proc/net/{tcp,udp}{,6}. */
struct listener {
	uint8_t proto;
	uint16_t port;
	bool v6;
	uint8_t addr[16];
	unsigned long inode;
};

struct listeners {
	struct listener *v;
	size_t n, cap;
};

/* One finding per culprit (a rule or a policy): the containers whose packets it stops. */
struct group {
	enum ctnet_severity sev;
	const char *code;
	size_t chain;
	bool policy;
	uint64_t handle;
	const char *comment, *why;
	enum pclass pc;     /* the first class seen */
	unsigned classes;   /* 1 << pclass */
	size_t count;
	char first[CTNET_NAME_MAX + 1], last[CTNET_NAME_MAX + 1];
	/* The containers' devices the fix must cover: the first veth (for all of them: ve-*),
	 * each bridge (or other device). */
	char l3[4][IFNAMSIZ];
	size_t n_l3;
	char names[160];
};

struct groups {
	struct group *v;
	size_t n, cap;
};

/* doctor_fw.c */
bool packet_of(const struct ct_view *v, enum pclass pc, bool v6, int hook, int prio,
	       struct fw_packet *p);
struct group *group_get(struct groups *g, const char *code, size_t chain, const struct fw_where *w,
			enum pclass pc, enum ctnet_severity sev);
void group_add(struct group *x, const struct ct_view *v, enum ctnet_severity sev, const char *why);
void groups_emit(const struct fw_ruleset *rs, const struct groups *g, struct ctnet_findings *out);
bool is_ctnet(const struct fw_chain *c);
void check_container(const struct fw_ruleset *rs, const size_t *bases, size_t n_bases,
		     const struct ct_view *v, struct groups *g);
/* doctor.c: what nat_doctor_read read, for doctor_dns.c */
struct nat_doctor_view;
const struct fw_ruleset *nat_doctor_ruleset(const struct nat_doctor_view *v);
const struct listeners *nat_doctor_listeners(const struct nat_doctor_view *v);
/* doctor_listen.c */
void listeners_read(struct listeners *l, const char *path, uint8_t proto, bool v6);
/* A host socket on a forwarded port: a note when ctnet's DNAT takes its connections first
 * (dnat: ctnet's prerouting and output chains are there), blocking when it gets some. */
void check_listeners(const struct listeners *l, const struct ct_view *vs, size_t n, bool dnat,
		     struct ctnet_findings *out);

#endif
