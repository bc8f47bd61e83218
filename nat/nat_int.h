/* SPDX-License-Identifier: MIT */
/* Internals of nat/: shared between its .c files, not part of the contract. */
#ifndef CTNET_NAT_INT_H
#define CTNET_NAT_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "nat.h"

/* One forward expands to one map element per port; keep a bad spec from exploding. */
#define NAT_MAX_RANGE 1024
#define NAT_MAX_PORTS 4096 /* per container, all forwards together */
#define NAT_MAX_EXT 16
#define NAT_MAX_CLUSTER 32 /* CTNET_HOSTCONF_CLUSTER_MAX */
#define NAT_TABLE "inet ctnet"
/* Bridge ports (vb-NAME): only the bridge family sees the port a frame came in by. */
#define NAT_BTABLE "bridge ctnet"
enum nat_table { NAT_T_INET, NAT_T_BRIDGE, NAT_TABLES };
extern const char *const nat_table_names[NAT_TABLES]; /* "inet ctnet", "bridge ctnet" */
extern const int nat_table_family[NAT_TABLES];        /* NFPROTO_INET, NFPROTO_BRIDGE */

/* A container read from the desired state, owning its strings. */
struct nat_entry {
	char name[CTNET_NAME_MAX + 1];
	char iface[CTNET_IFNAME_MAX + 1];
	char bridge[CTNET_IFNAME_MAX + 1];
	struct nat_container c;
};

struct nat_config {
	size_t n_ext;
	char ext[NAT_MAX_EXT][CTNET_IFNAME_MAX + 1];
	bool isolate;         /* containers reach each other only through forwards */
	bool localnet_scoped; /* written by a ctnet that sets route_localnet per interface */
	bool docker_user;     /* init --accept-in-docker-user: accepts in DOCKER-USER wanted */
	size_t n_cluster;     /* cluster CIDRs (never masqueraded), nat_cluster_normalize'd */
	struct ctnet_addr cluster[NAT_MAX_CLUSTER];
	bool exists;          /* read from a file (not defaults) */
};

const char *nat_proto_name(enum nat_proto p);
bool nat_forward_same_host(const struct nat_forward *a, const struct nat_forward *b);
int nat_container_check(const struct nat_container *c, struct ctnet_err *err);
void nat_entry_copy(struct nat_entry *dst, const struct nat_container *src);

/* --- growable text buffer (allocation failure is sticky and reported once) --- */
struct nat_buf {
	char *p;
	size_t len, cap;
	bool oom;
};
void nat_buf_printf(struct nat_buf *b, const char *fmt, ...) CTNET_PRINTF(2, 3);
void nat_buf_free(struct nat_buf *b);

/* --- sets and their elements (ruleset.c) --- */
enum nat_set {
	NAT_S_IFACES,
	NAT_S_EXT,
	NAT_S_MASQ4,
	NAT_S_MASQ6,
	NAT_S_SPOOF4,
	NAT_S_SPOOF6,
	NAT_S_FWD4,
	NAT_S_FWD4IP,
	NAT_S_FWD6,
	NAT_S_FWD6IP,
	NAT_S_BRIDGES,  /* bridges with container ports (shared) */
	NAT_S_OWNHOST4, /* iface . its host-side address */
	NAT_S_OWNHOST6,
	NAT_S_HOST4,    /* every container's host-side address (shared) */
	NAT_S_HOST6,
	NAT_S_CLUSTER4, /* cluster CIDRs (interval sets; elements are address/prefix) */
	NAT_S_CLUSTER6,
	/* table bridge ctnet */
	NAT_S_PORTS,
	NAT_S_PSPOOF4,
	NAT_S_PSPOOF6,
	NAT_S_MACPORTS, /* ports whose MAC is known */
	NAT_S_PMAC,     /* port . its container's MAC */
	NAT_S_COUNT
};
extern const char *const nat_set_names[NAT_S_COUNT];
int nat_set_index(int table, const char *name);
int nat_set_table(int set);
bool nat_set_is_map(int set);
/* Sets whose elements several containers may hold at once (a bridge, a shared host
 * address): an element goes only with its last holder (store.c's shared claims). */
bool nat_set_is_shared(int set);
/* Interval sets (cluster4, cluster6): the kernel holds ranges, read back as CIDRs. */
bool nat_set_is_interval(int set);

/* An element of one of ctnet's sets: its key bytes, then its data bytes (maps), laid out as
 * nf_tables stores them (kelems.c knows each set's layout). */
struct nat_elem {
	unsigned char set, klen, dlen;
	uint8_t kd[48];
};
/* One argument per field of the set's key, then of its data: an interface name (const char
 * *), an address (const struct ctnet_addr *), a protocol number or a port (unsigned).
 * -EINVAL when they do not fit the layout. */
int nat_elem_make(struct nat_elem *el, int set, ...);
int nat_elem_vmake(struct nat_elem *el, int set, va_list ap);
int nat_elem_cmp(const struct nat_elem *a, const struct nat_elem *b);
/* "k1 . k2 [: d1 . d2]" in nft's syntax (interface names quoted) when nft, else
 * "SET k1 . k2 [: d1 . d2]" as check shows it. */
void nat_buf_elem(struct nat_buf *b, const struct nat_elem *el, bool nft);
struct nat_elems {
	size_t n, cap;
	struct nat_elem *v;
};
/* el at the end of e. */
int nat_elems_push(struct nat_elems *e, const struct nat_elem *el, struct ctnet_err *err);
int nat_elems_container(struct nat_elems *e, const struct nat_container *c, struct ctnet_err *err);
int nat_elems_config(struct nat_elems *e, const struct nat_config *cfg, struct ctnet_err *err);
void nat_elems_free(struct nat_elems *e);
void nat_elems_sort(struct nat_elems *e);
/* In a sorted list. */
bool nat_elems_has(const struct nat_elems *sorted, const struct nat_elem *el);

/* "VERB element inet ctnet SET { a, b }" lines, one per set. */
void nat_buf_elems(struct nat_buf *b, const char *verb, const struct nat_elems *e);
/* The whole table from scratch (replacing any old one) without elements. */
void nat_buf_table(struct nat_buf *b, const struct nat_config *cfg);
/* Table, sets and chains created or refreshed in place, elements kept. */
void nat_buf_init(struct nat_buf *b, const struct nat_config *cfg);

/* The chains and the comments of their rules, for `check`. */
enum {
	NAT_C_ANTISPOOF,
	NAT_C_PREROUTING,
	NAT_C_OUTPUT,
	NAT_C_POSTROUTING,
	NAT_C_FORWARD,
	NAT_C_INPUT,
	NAT_C_PORT_ANTISPOOF, /* table bridge ctnet */
	NAT_C_PORT_FORWARD,
	NAT_CHAINS
};
extern const char *const nat_chain_names[NAT_CHAINS];
int nat_chain_table(int chain);
/* Expected rule comments of a chain, joined by ','. */
void nat_chain_comments(int chain, const struct nat_config *cfg, char *buf, size_t len);
/* Whether comments (as nat_kernel reads a chain: joined by ',', "?" for a rule without
 * one) are rules of ctnet's in that chain, each at most once, whatever the configuration:
 * false when another tool put a rule of its own there. */
bool nat_chain_rules_ours(int chain, const char *comments);

/* --- libnftables (nft.c) --- */
/* Runs one buffer as one transaction (creating or rebuilding the table). */
int nat_nft_run(struct ctnet_kern *kern, const char *cmds, struct ctnet_err *err);

struct nat_kelem {
	struct nat_elem el;
	uint64_t packets, bytes;
	bool seen; /* by check */
	bool end;  /* an interval set's end element (before nat_interval_fold) */
};
struct nat_kernel {
	bool table; /* both tables */
	bool tables[NAT_TABLES];
	bool chain[NAT_CHAINS];
	char *comments[NAT_CHAINS];
	bool set[NAT_S_COUNT];
	size_t n[NAT_S_COUNT];
	struct nat_kelem *elems[NAT_S_COUNT]; /* sorted (kelem_cmp) */
};
/* The kernel's view of ctnet's table, through netlink dumps (kelems.c). */
/* An nfnetlink message of subsystem subsys in buf (zeroed by the caller): the header and its
 * nfgenmsg for family; attributes follow (libmnl). */
struct nlmsghdr;
struct nlmsghdr *nat_nfmsg(char *buf, int subsys, int type, int family);
int nat_kernel_read(struct ctnet_kern *kern, struct nat_kernel *k, struct ctnet_err *err);
/* Deletes del's and adds add's elements in one nf_tables transaction (kelems.c). -ENOENT
 * when the table, a set or a deleted element is missing; -E2BIG when it does not fit one
 * batch (use libnftables then). */
int nat_kernel_write(struct ctnet_kern *kern, const struct nat_elems *del, const struct nat_elems *add, struct ctnet_err *err);
void nat_kernel_free(struct nat_kernel *k);
/* The kernel's element equal (key and data) to a desired one, or NULL. */
const struct nat_kelem *nat_kernel_find(const struct nat_kernel *k, const struct nat_elem *el);

/* --- desired state (store.c) --- */
struct nat_store {
	int dir, containers, ports, lock;
};
/* -ENOENT when the state dir does not exist and !create. */
int nat_store_open(struct nat_store *s, bool create, bool lock, struct ctnet_err *err);
void nat_store_close(struct nat_store *s);
int nat_store_config_read(struct nat_store *s, struct nat_config *cfg, struct ctnet_err *err);
int nat_store_config_write(struct nat_store *s, const struct nat_config *cfg,
			   struct ctnet_err *err);
/* -ENOENT when absent (no message). */
int nat_store_read(struct nat_store *s, const char *name, struct nat_entry *out,
		   struct ctnet_err *err);
int nat_store_write(struct nat_store *s, const struct nat_container *c, struct ctnet_err *err);
int nat_store_remove(struct nat_store *s, const char *name, struct ctnet_err *err);
/* Entries in name order; *out is malloc'd. */
/* Each recorded container, in name order; a non-zero return from cb stops and is returned.
 * The entry is only valid during the call. */
int nat_store_foreach(struct nat_store *s, int (*cb)(struct nat_entry *e, void *data), void *data,
		      struct ctnet_err *err);
/*
 * Claims the host ports of `c` in the port index (ports/tcp-8080 -> owner). Fails with
 * -EADDRINUSE naming the owner, creating nothing, when another container holds one.
 */
int nat_store_ports_claim(struct nat_store *s, const struct nat_container *c,
			  struct ctnet_err *err);
/* Releases the ports of `old` that `keep` (may be NULL) does not forward. */
void nat_store_ports_release(struct nat_store *s, const struct nat_container *old,
			     const struct nat_container *keep);
/* Every port link that names `name`: what an add killed between claiming its ports and
 * writing its container file left behind. A scan of the port index: not for hot paths. */
void nat_store_ports_release_owner(struct nat_store *s, const char *name);
/* Shared elements (nat_set_is_shared; shared.c): owner holds the shared ones of e (how
 * many bridges nobody held before, or -errno); whether a recorded container other than
 * owner holds el; owner leaves those of gone (how many bridges nobody holds now); the
 * claims nobody recorded holds any more, removed (how many). */
int nat_store_shared_claim(struct nat_store *s, const char *owner, const struct nat_elems *e,
			   struct ctnet_err *err);
bool nat_store_shared_others(struct nat_store *s, const char *owner, const struct nat_elem *el);
int nat_store_shared_release(struct nat_store *s, const char *owner, const struct nat_elems *gone);
int nat_store_shared_sweep(struct nat_store *s);
/* cb for the value of each shared element of set someone holds ("br0" of bridges). */
void nat_store_shared_list(struct nat_store *s, int set, void (*cb)(const char *value, void *data), void *data);

/* --- DOCKER-USER (docker.c): the accepts of init --accept-in-docker-user, wanted when on --- */
/* Makes each family's DOCKER-USER hold exactly the rules wanted; *changed: rules written. */
int nat_docker_fix(struct ctnet_kern *kern, struct nat_store *s, bool on, unsigned *changed, struct ctnet_err *err);
/* Differences (a line each to cb, may be NULL), their number, or -errno. */
int nat_docker_check(struct ctnet_kern *kern, struct nat_store *s, bool on,
		     void (*cb)(const char *line, void *data), void *data, struct ctnet_err *err);
/* Removes ours whatever the config says (flush; the config keeps them wanted). */
int nat_docker_clear(struct ctnet_kern *kern, struct nat_store *s, struct ctnet_err *err);

/* --- conntrack (conntrack.c) --- */
struct nat_ct_match {
	struct ctnet_addr addr; /* reply source (DNATed flows) or original source */
	bool orig_src_too;      /* also flows the container started */
	bool by_port;           /* only flows to these original destination ports */
	uint8_t proto;
	uint16_t lo, hi;
};
/* Deletes matching entries; *deleted counts them. */
int nat_conntrack_delete(struct ctnet_kern *kern, const struct nat_ct_match *m, unsigned *deleted, struct ctnet_err *err);

/* --- sysctls of the current network namespace --- */
/* ip_forward, and IPv6 forwarding with ipv6 (nat_ipv6_forwarding_on with s). */
int nat_sysctls(struct nat_store *s, bool ipv6, struct ctnet_err *err);
/* A sysctl's first byte ('0', '1', ...) below dfd (AT_FDCWD: an absolute path), or -errno. */
int nat_sysctl_get_at(int dfd, const char *path);
/* Writes v unless it is there already. -ENOENT (no such link, no IPv6) without a message. */
int nat_sysctl_set_at(int dfd, const char *path, char v, struct ctnet_err *err);
/* ipv6fwd.c: net.ipv6.conf.all.forwarding on, with accept_ra=2 first on the links that take
 * router advertisements, recorded in the state dir. s: the caller's locked store (NULL: one
 * is opened). 1 when it switched, 0 when it was on (or there is no IPv6), or -errno. */
int nat_ipv6_forwarding_on(struct nat_store *s, struct ctnet_err *err);
/* After a container left s (locked): when none with IPv6 is left, undoes what
 * nat_ipv6_forwarding_on changed in this boot (values someone changed since stay). */
void nat_ipv6_forwarding_release(struct nat_store *s);
/* doctor: a finding per link that ignores router advertisements while forwarding (accept_ra=1)
 * though it has addresses with lifetimes (it lives on them). forwarding6: all.forwarding. */
struct ctnet_findings;
void nat_doctor_ra(struct ctnet_kern *kern, int forwarding6, struct ctnet_findings *out);
/* The same as a note for the uplink (the IPv4 default route's link) without such addresses,
 * unless named already says it. */
void nat_doctor_ra_uplink(int forwarding6, const char *uplink, const struct ctnet_findings *named,
			  struct ctnet_findings *out);

/* route_localnet where the host's 127.0.0.1 forwards to `new` need it, off where only
 * `old` (either may be NULL) needed it (sysctl.c explains which device). */
int nat_localnet_apply(struct ctnet_kern *kern, struct nat_store *s, const struct nat_container *old,
		       const struct nat_container *new, struct ctnet_err *err);
/* Whether the host reaches one of c's forwards at 127.0.0.1 (route_localnet needed). */
bool nat_wants_localnet(const struct nat_container *c);
/* For every recorded container (restore). */
int nat_localnet_restore(struct ctnet_kern *kern, struct nat_store *s, struct ctnet_err *err);
/* Off on every recorded container's device and on the bridges ctnet switched on (flush). */
void nat_localnet_reset(struct ctnet_kern *kern, struct nat_store *s);
/* Once per state dir written by a ctnet that set all.route_localnet (see sysctl.c). */
int nat_localnet_migrate(struct ctnet_kern *kern, struct nat_store *s, struct ctnet_err *err);

/* --- loopback forwards by socket (lofwd.c, issue 33) --- */
/* Whether loopback forwards go by the BPF socket hooks (recorded): no route_localnet then. */
bool nat_lofwd_on(void);
/* The BPF map from old's loopback forwards to new's (either NULL), loading, attaching and
 * pinning the programs when missing. Where they cannot be loaded: 0 (IPv4 keeps the
 * output-hook path) unless new has a forward pinned to ::1 (-EOPNOTSUPP naming why). The
 * last forward gone unpins everything. */
int nat_lofwd_change(struct ctnet_kern *kern, struct nat_store *s, const struct nat_container *old,
		     const struct nat_container *new, struct ctnet_err *err);
/* The programs and the whole map from the desired state (restore). */
int nat_lofwd_sync(struct ctnet_kern *kern, struct nat_store *s, struct ctnet_err *err);
/* Detaches and unpins everything (flush); the desired state is kept. */
void nat_lofwd_unpin(void);
/* Differences (cb per line) between the desired loopback forwards and bpffs: their count. */
int nat_lofwd_check(struct nat_store *s, void (*cb)(const char *line, void *data), void *data,
		    struct ctnet_err *err);

/* --- links (links.c) --- */
/* The device that carries iface's IP traffic: its bridge when iface is a bridge port (then
 * *bridge), else iface itself. -ENODEV when there is no such link. */
int nat_link_l3dev(struct ctnet_kern *kern, const char *iface, char out[16], bool *bridge, struct ctnet_err *err);

/* --- the ruleset reader (fwread.c) and its evaluator (fweval.c) --- */
/* What an expression of a struct fw_rule is (its ex[].kind), by the evaluator's needs. */
enum {
	FW_EX_OTHER, /* counter, log, notrack, dynset, objref, queue...: no effect on the match */
	FW_EX_META, FW_EX_PAYLOAD, FW_EX_CT, FW_EX_FIB, FW_EX_BITWISE, FW_EX_CMP, FW_EX_IMMEDIATE,
	FW_EX_REJECT, FW_EX_NAT, FW_EX_MASQ, FW_EX_REDIR, FW_EX_MATCH, FW_EX_TARGET,
	FW_EX_LOOKUP, FW_EX_LAST,
	FW_EX_STATE, /* the result depends on state doctor does not model */
};

/* Attribute helpers of fwread.c, for fweval.c's expressions. */
const char *attr_str(const struct nlattr *a);
uint32_t attr_be32(const struct nlattr *a);
void nest_attrs(const struct nlattr *nest, const struct nlattr **tb, int max);

/* --- set elements (kelems.c reads, kwrite.c writes) --- */
enum field { F_END, F_IFNAME, F_V4, F_V6, F_PROTO, F_PORT, F_MAC, F_NET4, F_NET6 };
/* Key and data layouts of each set, as declared in ruleset.c. */
extern const enum field nat_set_layout[NAT_S_COUNT][2][4];

/* --- cluster CIDRs (cluster.c) --- */
/* Sorts v (IPv4 first, by address) and drops what another entry covers (nft refuses
 * overlapping intervals); returns the new count. */
size_t nat_cluster_normalize(struct ctnet_addr *v, size_t n);
/* Each an IPv4 or IPv6 network with its host bits zero, at most NAT_MAX_CLUSTER. */
int nat_cluster_check(const struct ctnet_addr *v, size_t n, struct ctnet_err *err);
/* An interval set's elements as the kernel dumps them (start elements and `end` ones,
 * nft's leading 0.0.0.0 end marker included, a range up to the top without an end) into
 * CIDR elements (F_NET4/F_NET6), a range that is no CIDR split into the CIDRs covering it.
 * *n is updated; -ENOMEM. */
int nat_interval_fold(struct nat_kelem **v, size_t *n, int set);

/* --- the desired state's elements (nat.c, for check.c too) --- */
/* What collect_one gathers: every recorded container's elements, but skip1 and skip2. */
struct collect {
	struct nat_elems *e;
	const char *skip1, *skip2;
	struct ctnet_err *err;
};
int collect_one(struct nat_entry *en, void *data);
/* The whole table from the desired state, in one transaction (nat.c). `change` replaces
 * the recorded container of that name (or adds it); `drop` leaves one out; cfg_override
 * (may be NULL) instead of the recorded config. */
int nat_rebuild(struct ctnet_kern *kern, struct nat_store *s, const struct nat_config *cfg_override,
		const struct nat_container *change, const char *drop, struct ctnet_err *err);

#endif
