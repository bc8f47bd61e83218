/* SPDX-License-Identifier: MIT */
/*
 * The launcher library: one typed spec per container, the record that stores it, and
 * up / down / converge over the ipam, netd and nat libraries. Front-ends (the ctnet CLI's
 * flags, a nixos-container .conf, OCI annotations, a CNI network config) parse their input
 * once into a struct ct_spec and call ct_up(); nothing here prints.
 */
#ifndef CTNET_LAUNCH_H
#define CTNET_LAUNCH_H

#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "../ipam/ipam.h"
#include "../nat/nat.h"
#include "../netd/netd.h"
#include "addr.h"
#include "err.h"
#include "name.h"

/* Host interfaces moved into a container, and macvlans made for it, at most. */
#define CT_MAX_EXTRA 8
/* The record format written by this version; older records (no VERSION) are version 1. */
#define CT_RECORD_VERSION 2
#define CT_ORIGIN_MAX 256
#define CT_RUNTIME_ID_MAX 256
/* Namespace paths (the records' KV format holds at most 1,024 bytes a value). */
#define CT_PATH_MAX 1025 /* NIXOSCONF_VALUE_MAX and the NUL */

/* Where the container's network namespace comes from. */
enum ct_netns_kind {
	CT_NETNS_NONE,   /* shared mode */
	CT_NETNS_PATH,   /* --netns PATH (a bind mount, /proc/PID/ns/net, ...) */
	CT_NETNS_PID,    /* --pid PID */
	CT_NETNS_CREATE, /* --create-netns: /run/netns/NAME, made and removed by ctnet */
	CT_NETNS_FD,     /* ctnet run: an anonymous namespace held by owner_pid */
};

/*
 * What a container's network should be: every field a front-end can set, already parsed
 * and validated (ct_spec_check). Family 0 addresses mean "allocate". Fixed-size, no
 * pointers: it is copied, compared field by field (ct_spec_diff) and stored in the record.
 */
struct ct_spec {
	char name[CTNET_NAME_MAX + 1];
	bool shared;               /* NixOS's default: the host namespace, nothing plumbed */
	enum ct_netns_kind netns_kind;
	char netns_path[CT_PATH_MAX]; /* CT_NETNS_PATH; /run/netns/NAME for CT_NETNS_CREATE */
	pid_t pid;                 /* CT_NETNS_PID; shared mode: an optional owner process */
	int netns_fd;              /* CT_NETNS_FD only (not stored): -1 otherwise */
	pid_t owner_pid;           /* CT_NETNS_FD: the process inside (recorded for liveness) */
	struct ctnet_addr host, local;   /* requested IPv4 pair; local may carry a prefix */
	struct ctnet_addr host6, local6; /* requested IPv6 pair */
	bool ipv6;                 /* allocate an IPv6 pair when none is given */
	bool has_pool;
	struct ctnet_addr pool;    /* allocate from this CIDR */
	char bridge[IFNAMSIZ];     /* "" = point-to-point */
	char ifname[IFNAMSIZ];     /* container side; "" = eth0 */
	char host_ifname[IFNAMSIZ]; /* host side; "" = derived (ve-NAME / vb-NAME / hashed) */
	char mac[18];              /* container side; "" = random */
	unsigned mtu;              /* 0 = kernel default */
	bool no_nat;               /* no masquerade, forwards or anti-spoofing (CNI ipMasq:false) */
	size_t n_forwards;
	struct nat_forward forwards[NAT_MAX_FORWARDS];
	size_t n_interfaces, n_macvlans;
	char interfaces[CT_MAX_EXTRA][IFNAMSIZ]; /* NixOS interfaces: moved in */
	char macvlans[CT_MAX_EXTRA][IFNAMSIZ];   /* parents; the macvlan inside is mv-PARENT */
	struct netd_impair impair; /* delay, jitter, loss, rate on both ends of the link */
	size_t n_extra_veths;      /* NixOS extraVeths: more pairs, bridged or point-to-point */
	struct netd_extra_veth extra_veths[NETD_EXTRA_VETH_MAX];
	/* Who manages it: "" by hand, "cni", "oci", "apply:DIR". apply touches only its own. */
	char origin[CT_ORIGIN_MAX];
	/* The runtime's id for it (CNI container id, OCI id) and a display name (pod). */
	char runtime_id[CT_RUNTIME_ID_MAX];
	char runtime_name[CTNET_NAME_MAX + 1];
};

/* An empty spec (netns_fd -1) named name (not checked here). */
void ct_spec_init(struct ct_spec *s, const char *name);
/* Defaults made explicit where the request depends on them (the netns path of
 * --create-netns, ifname eth0): what ct_up stores and compares. */
void ct_spec_normalize(struct ct_spec *s);
/* Everything about the request, checked before any change: -EINVAL naming the value. */
int ct_spec_check(const struct ct_spec *s, struct ctnet_err *err);
/* Parses one forward ("tcp:8080:80", with "@HOSTIP" allowed) and appends it. */
int ct_spec_add_forward(struct ct_spec *s, const char *text, struct ctnet_err *err);
/* Appends an extra veth (IFNAME[,host-bridge=BR][,host-address=A]...). */
int ct_spec_add_extra_veth(struct ct_spec *s, const char *text, struct ctnet_err *err);
/* One impairment value: key "delay", "jitter", "loss" or "rate" (tc syntax). */
int ct_spec_set_impair(struct ct_spec *s, const char *key, const char *value, struct ctnet_err *err);
/* Appends an interface to move in (macvlan: a parent). */
int ct_spec_add_interface(struct ct_spec *s, bool macvlan, const char *ifname,
			  struct ctnet_err *err);
/*
 * Fills what s does not set yet from a nixos-container config file (root-owned, not
 * writable by others, read as data). Without PRIVATE_NETWORK=1 the container is shared.
 * NETWORK_NAMESPACE_PATH joins that namespace. Values already in s win (command line).
 * *auto_start (may be NULL): AUTO_START, true when absent.
 */
int ct_spec_from_conf(struct ct_spec *s, const char *path, bool *auto_start, struct ctnet_err *err);
/* The same, with the file's stat as read (st may be NULL). */
int ct_spec_from_conf_stat(struct ct_spec *s, const char *path, bool *auto_start, struct stat *st,
			   struct ctnet_err *err);

/* The fields ct_spec_diff compares, one bit each. */
enum ct_field {
	CT_F_MODE = 1u << 0, CT_F_NETNS = 1u << 1, CT_F_ADDRESS = 1u << 2,
	CT_F_ADDRESS6 = 1u << 3, CT_F_POOL = 1u << 4, CT_F_BRIDGE = 1u << 5,
	CT_F_IFNAME = 1u << 6, CT_F_HOST_IFNAME = 1u << 7, CT_F_MAC = 1u << 8,
	CT_F_MTU = 1u << 9, CT_F_NAT = 1u << 10, CT_F_FORWARDS = 1u << 11,
	CT_F_INTERFACES = 1u << 12, CT_F_ORIGIN = 1u << 13, CT_F_RUNTIME = 1u << 14,
	CT_F_IMPAIR = 1u << 15, CT_F_EXTRA_VETHS = 1u << 16,
};
/* Fields ct_up changes on a running container without recreating its link. */
#define CT_F_IN_PLACE (CT_F_MAC | CT_F_MTU | CT_F_FORWARDS | CT_F_RUNTIME | CT_F_IMPAIR)
#define CT_F_COUNT 17
/* The CT_F_* bits in which a and b differ (0: the same request). */
unsigned ct_spec_diff(const struct ct_spec *a, const struct ct_spec *b);
/* "mtu", "forwards", ... for one bit. */
const char *ct_field_name(unsigned bit);

/* What ctnet knows about one container: the record under $CTNET_RUN_DIR/containers/NAME. */
struct ct_record {
	struct ct_spec spec;  /* as requested (the record is the spec) */
	unsigned version;
	char netns[CT_PATH_MAX]; /* the namespace path used (/run/netns/X, /proc/PID/ns/net) */
	pid_t pid;            /* 0 unless given by --pid (or the child of `run`) */
	unsigned long long pid_start; /* shared mode: pid's start time when recorded (0: not
				       * recorded, an older record: liveness is kill(pid, 0)) */
	unsigned long long ns_dev, ns_ino; /* identity of the namespace, for liveness */
	bool created_netns;   /* ctnet made /run/netns/NAME and removes it on down */
	char host_ifname[IFNAMSIZ]; /* the host side's name in use */
	char ifname[IFNAMSIZ];      /* the container side's name in use */
	struct ctnet_addr host, local; /* in use (allocated or given); family 0 when absent */
	bool has_v6;
	struct ctnet_addr host6, local6;
	bool lease;           /* addresses came from ipam: released on down */
	bool pending;         /* written by up before its first change and replaced by the
			       * final record at the end: left behind, it marks an interrupted
			       * up that gc, down or the next up clean from what it names */
	char boot_id[40];     /* the kernel's boot id when it was written */
	enum { CT_STOP_NONE, CT_STOP_RELEASE, CT_STOP_KEEP_LEASE } stopping; /* a down began */
};

/* record.c */
int record_dir(bool create, struct ctnet_err *err);
int record_write(const struct ct_record *rec, struct ctnet_err *err);
/* -ENOENT when there is no record. */
int record_read(const char *name, struct ct_record *rec, struct ctnet_err *err);
/* The same in an already open record_dir() (listing thousands: one directory walk). */
int record_read_at(int dfd, const char *name, struct ct_record *rec, struct ctnet_err *err);
/* The same, keeping the text (in buf, NUL-terminated; its length returned) and the file's
 * stat (st may be NULL). */
ssize_t record_read_text_at(int dfd, const char *name, struct ct_record *rec, char *buf, size_t max,
			    struct stat *st, struct ctnet_err *err);
#define CT_RECORD_MAX 16384
/* The same for a name ctnet_dir_foreach_file listed (a regular file: no fstat). */
int record_read_listed(int dfd, const char *name, struct ct_record *rec, struct ctnet_err *err);
/* The record codec: text (KEY=VALUE lines) to record and back. */
int record_parse(const char *text, size_t len, const char *name, struct ct_record *rec,
		 struct ctnet_err *err);
/* Into buf; the length, or -EOVERFLOW / -EINVAL (a value that cannot be written safely). */
int record_format(const struct ct_record *rec, char *buf, size_t len, struct ctnet_err *err);
int record_remove(const char *name, struct ctnet_err *err);
int record_foreach(int (*cb)(const char *name, void *data), void *data, struct ctnet_err *err);
/* Sweeps the records' directory: temp files of killed writers, lock files of gone names
 * (gc, after it removed the records of gone containers). 0 or -errno. */
int record_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err);
/* Per-container lock (held across up/down of one name). Returns fd or -errno. */
int record_lock(const char *name, struct ctnet_err *err);
/* Whether an up/down of name holds its lock right now (1) or not (0). */
int record_busy(const char *name);
json_t *record_json(const struct ct_record *rec);
/* nixos-container style KEY=VALUE lines (shell-sourceable). */
void record_print_env(FILE *f, const struct ct_record *rec);
/* A process's start time (/proc/PID/stat field 22, clock ticks after boot): tells a PID
 * reused by another process from the one recorded. 0 or -errno (-ENOENT: no such process). */
int ct_pid_start(pid_t pid, unsigned long long *start);
/* 1 alive, 0 stale (namespace or pid gone, host rebooted); sets *why for stale ones. */
int record_alive(const struct ct_record *rec, const char **why);
/* This boot's id (/proc/sys/kernel/random/boot_id), "" when unreadable. */
const char *ct_boot_id(void);

/* netns.c */
/* Makes /run/netns/NAME (the `ip netns add` way); -EEXIST when it exists. */
int netns_create_named(const char *name, struct ctnet_err *err);
int netns_remove_named(const char *name, struct ctnet_err *err);
/* A fresh anonymous network namespace, returned as an fd; we stay where we are. */
int netns_new_anon(struct ctnet_err *err);
int netns_identity(int fd, unsigned long long *dev, unsigned long long *ino,
		   struct ctnet_err *err);
const char *netns_run_dir(void);

/* What an up changed on an existing container: repairs and in-place changes. */
#define CT_REPORT_MAX 48
struct ct_report {
	size_t n;
	bool truncated;
	struct ct_change {
		bool repair; /* something had drifted (else: the spec changed) */
		char what[200];
	} v[CT_REPORT_MAX];
};
void ct_report_add(struct ct_report *rep, bool repair, const char *fmt, ...) CTNET_PRINTF(3, 4);

/*
 * Brings spec up, or converges an existing container to it:
 * - not there (or stale): allocate, plumb, NAT, record; any failure undoes every step;
 * - there with the same spec: every piece is checked against the kernel (host and container
 *   links, addresses, routes, default route, NAT elements, sysctls) and repaired;
 * - there with another spec: the difference is applied in place (forwards, MTU, MAC) or,
 *   for fields that cannot change in place, refused with -EEXIST naming the field and
 *   nothing changed.
 * rep (may be NULL) lists what was repaired or changed. *out is the record afterwards.
 */
int ct_up(struct ctnet_kern *kern, const struct ct_spec *spec, struct ct_record *out, struct ct_report *rep,
	  struct ctnet_err *err);
/* Reads shared by many converges in a row (apply, watch): the kernel's NAT table once. */
struct netd_host_view;
struct ct_view {
	struct nat_counters *nat;      /* NULL: each converge reads it */
	struct netd_host_view *host;   /* the host's addresses and routes; NULL: asked per container */
	bool nat_whole;                /* ctnet's tables and chains were all there */
	bool sysctls_read;             /* ip_forward was on when the view was made */
	bool sysctls6_read;            /* and IPv6 forwarding */
	bool deep;                     /* ct_check_view looks inside each namespace too */
	bool nat_later;                /* nat is still being read: ct_check_view leaves the NAT
	                                * elements to its caller (ct_nat_of, nat_counters_missing) */
};
/* The converge step alone, for a caller holding record_lock(name) with the record read;
 * view may be NULL. */
int ct_converge(struct ctnet_kern *kern, const struct ct_spec *spec, const struct ct_record *have, const struct ct_view *view,
		struct ct_record *out, struct ct_report *rep, struct ctnet_err *err);
/*
 * Read-only, without the lock: 0 when the running container `have` matches spec and the
 * kernel holds all of it (links, addresses and routes on both sides, its route_localnet,
 * NAT elements, impairment none), 1 when a converge would change or repair something, or
 * -errno. Needs a view with nat and host; 1 without. What is the host's, not one
 * container's, is the caller's to check once: the global sysctls (view->sysctls_read) and
 * ctnet's table and chains (view->nat_whole: without them no element is judged). Apply's
 * check of unchanged files.
 * Without view->deep a point-to-point container's inside is judged from the host (its
 * link's carrier): one dump per kind, no namespace entered, for 5,000 containers.
 * With view->nat_later (and nat NULL) all but the NAT elements are judged.
 */
int ct_check_view(struct ctnet_kern *kern, const struct ct_spec *spec, const struct ct_record *have, const struct ct_view *view,
		  struct ctnet_err *err);

/*
 * What is wrong with a container, as the kernel shows it now: the one judge behind up's
 * converge decision, apply's check, status, CNI CHECK and watch. A fault is typed (kind,
 * and for links netd's kind), names its object and has a line for people.
 */
enum ct_fault_kind {
	CT_FAULT_STALE,       /* gone (namespace or process, an earlier boot, interrupted): first and only */
	CT_FAULT_LINK,        /* a link, address or route on either side (.link: enum netd_fault_kind) */
	CT_FAULT_EXTRA_VETH,  /* an extra veth missing */
	CT_FAULT_FORWARDING,  /* net.ipv4.ip_forward or IPv6 forwarding off (the host's) */
	CT_FAULT_LOCALNET,    /* route_localnet of its device off (its 127.0.0.1 forwards) */
	CT_FAULT_NAT_TABLE,   /* ctnet's nft table or a chain missing (the host's) */
	CT_FAULT_NAT,         /* some of its NAT elements missing */
};
#define CT_FAULTS_MAX 20
struct ct_fault {
	enum ct_fault_kind kind;
	int link;             /* CT_FAULT_LINK: enum netd_fault_kind */
	char object[64];
	char text[160];
};
struct ct_health {
	size_t n;
	bool truncated;
	struct ct_fault v[CT_FAULTS_MAX];
};
/*
 * Judges the container r against the kernel: its liveness, then (private ones) its links,
 * addresses and routes on both sides (inside: entering its namespace; otherwise a
 * point-to-point container's inside is judged by the host link's carrier), extra veths, the
 * sysctls NAT needs and its NAT elements. view (may be NULL: everything is asked) supplies
 * the host's addresses and routes, the NAT table and whether the forwarding sysctls were on.
 * 0 with h filled (h->n == 0: whole), or -errno when the kernel could not be asked.
 */
int ct_judge(struct ctnet_kern *kern, const struct ct_record *r, const struct ct_view *view, bool inside,
	     struct ct_health *h, struct ctnet_err *err);
/* "up" (no fault), "stale" (gone) or "degraded" (there, something missing: up repairs it). */
const char *ct_health_state(const struct ct_health *h);
/* The NAT elements a running container holds (what ct_check_view looks up). */
void ct_nat_of(const struct ct_spec *want, const struct ct_record *have, struct nat_container *c);
int ct_up_view(struct ctnet_kern *kern, const struct ct_spec *spec, const struct ct_view *view, struct ct_record *out,
	       struct ct_report *rep, struct ctnet_err *err);
int ct_down(struct ctnet_kern *kern, const char *name, bool keep_lease, bool *was_up, struct ctnet_err *err);
/* ct_down of a container managed by origin (apply's "apply:DIR"): under the lock, a
 * record whose origin is no longer origin (re-made by hand, or by someone else, since the
 * caller looked) is left as it is: 0 with *left set and err saying whose it is now. */
int ct_down_owned(struct ctnet_kern *kern, const char *name, const char *origin, bool keep_lease, bool *left,
		  struct ctnet_err *err);
/* ct_down for a caller that holds record_lock(name) (gc decides under the lock). */
int ct_down_locked(struct ctnet_kern *kern, const char *name, bool keep_lease, bool *was_up, struct ctnet_err *err);
/* Whether interface ifname exists in this namespace (SIOCGIFINDEX: no netlink GETLINK,
 * whose peer-namespace lookup grows with the number of namespaces). */
bool ct_link_present(struct ctnet_kern *kern, const char *ifname);
/* Whether the container is up (1: alive and, for private ones, the host link present) or
 * stale (0, *why says why). No NAT check (see status). */
int ct_state(struct ctnet_kern *kern, const struct ct_record *r, const char **why);
/* ct_state without the link: what the record alone says (a caller with a host view
 * checks the link itself). */
int ct_state_record(const struct ct_record *r, const char **why);

/*
 * apply.c: a directory of nixos-container NAME.conf files as the desired set. The plan
 * reads and checks everything (each file as --config does; addresses and host ports between
 * files and against running containers apply does not own; names taken by those) and
 * changes nothing; run then removes, recreates, updates, adds and verifies.
 */
enum ct_apply_op {
	CT_APPLY_ADD,      /* "+": new file (or its container is not running) */
	CT_APPLY_UPDATE,   /* "~": changed in place (forwards, MTU, MAC) */
	CT_APPLY_RECREATE, /* "~": a field that cannot change in place: down, then up */
	CT_APPLY_REMOVE,   /* "-": its file is gone */
	CT_APPLY_VERIFY,   /* "=": unchanged: checked against the kernel and repaired */
	CT_APPLY_SKIP,     /* AUTO_START=0 and not running: validated, left alone */
};
/* applyindex.c: the files a plan found unchanged, so that the next need not read them. */
struct ct_conf_id {
	unsigned long long dev, ino, size;
	long long mtime_s, ctime_s;
	long mtime_ns, ctime_ns;
	unsigned uid, mode;
	bool set;
};
struct ct_index_entry { /* one entry, as parsed from its line */
	struct ct_conf_id id;     /* the .conf file */
	struct ct_conf_id rec_id; /* its container's record file */
	const char *rec_text;     /* that record's text (in the mapping) */
	size_t rec_len;
	size_t span;              /* the entry's bytes from its line's start */
};
struct ct_apply_index {
	const char *map;          /* the file, mapped read-only (no copy, no parse until asked) */
	size_t len;
	const char **line;        /* each entry's line, in name order */
	size_t n, cap;
};
/* A file read in full and found unchanged, for the next index (malloc'd with its text). */
struct ct_index_fresh {
	struct ct_conf_id id, rec_id;
	size_t len;
	char text[];
};
/* One entry of the next index: a whole entry of the loaded one, or a fresh one. */
struct ct_index_out {
	const char *name;
	const char *kept;         /* a line of the loaded index */
	const struct ct_index_fresh *fresh;
};
void ct_conf_id_of(const struct stat *st, struct ct_conf_id *id);
bool ct_conf_id_eq(const struct ct_conf_id *a, const struct ct_conf_id *b);
/* Changed too recently to be trusted by identity (coarse timestamps). */
bool ct_index_racy(const struct ct_conf_id *id, const struct timespec *started);
void ct_index_load(const char *dir, struct ct_apply_index *ix);
/* The entries' lines of ix->map (ix->len bytes, dir's index): false, with no lines, when
 * it is not an index this version wrote for dir (the map stays the caller's). */
bool ct_index_parse(const char *dir, struct ct_apply_index *ix);
/* Sweeps the index's directory of the temp files of killed writers. 0 or -errno. */
int ct_index_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err);
/* name's entry (its line), or NULL. */
const char *ct_index_find(const struct ct_apply_index *ix, const char *name);
/* An entry's line parsed; false when malformed. */
bool ct_index_entry(const struct ct_apply_index *ix, const char *line, struct ct_index_entry *e);
/* Writes out (by name) as dir's index; removes it when n is 0. */
int ct_index_save(const char *dir, const struct ct_apply_index *ix, const struct ct_index_out *out, size_t n,
		  struct ctnet_err *err);
void ct_index_free(struct ct_apply_index *ix);

struct ct_apply_item {
	char name[CTNET_NAME_MAX + 1];
	struct ct_spec *spec; /* from the file; NULL for REMOVE, and for a checked VERIFY */
	bool has_file, auto_start;
	enum ct_apply_op op;
	bool checked;         /* VERIFY: the kernel held all of it when the plan looked */
	unsigned diff;        /* CT_F_* between the file and the record */
	char *what;           /* the difference, for the plan (NULL: none) */
	int rc;               /* after run: 0, or -1 with error */
	bool left_alone;      /* after run: no longer apply's when its turn came (error says
			       * whose): not touched, not failed */
	char *error;          /* NULL, or why it failed (or was left alone) */
	/* What the clash checks compare, kept when spec is dropped. */
	struct ctnet_addr host, local;
	bool p2p, nat, v6;            /* NAT'd (private, not no_nat); has or asks for IPv6 */
	size_t n_forwards;
	struct nat_forward *forwards;
	/* A VERIFY checked while the NAT table was still being read: its elements are looked
	 * up once it is (the container as ct_nat_of makes it, forwards above). */
	bool nat_pending, nat_has6;
	struct ctnet_addr nat_addr, nat_addr6;
	char nat_iface[IFNAMSIZ];
	const char *ix;            /* the index's entry (its line) that vouched for file and record */
	struct ct_index_fresh *fresh; /* or the file read in full, for the next index */
	bool index_missed;         /* read in full although the index named it */
};
struct ct_apply_plan {
	char dir[PATH_MAX];
	struct timespec started;    /* when the plan began (files changed since are not indexed) */
	struct ct_apply_index index; /* as loaded (applyindex.c) */
	char origin[CT_ORIGIN_MAX]; /* "apply:DIR" */
	size_t n, cap, n_files;
	struct ct_apply_item *v;    /* by name */
	struct ct_view view;        /* the kernel as the plan read it (run uses it too) */
	struct view_reads *reads;   /* while the plan reads it (apply.c) */
	/* The host's own repair, before any container's: ctnet's table rebuilt (nat_restore,
	 * which also switches the forwarding sysctls on). host_what says why ("" = none). */
	char host_what[256];
	int host_rc;                /* after run: 0, or -1 with host_error */
	char host_error[512];
};
/* The origin apply gives the containers of dir (a real path): "apply:DIR", or for a path
 * longer than that holds, "apply:" + its first bytes + "//" + a hash of all of it. */
void ct_apply_origin(const char *dir, char out[CT_ORIGIN_MAX]);
/* deep: check unchanged containers inside their namespaces too (addresses, routes). */
int ct_apply_plan(const char *dir, bool deep, struct ct_apply_plan *plan, struct ctnet_err *err);
/* Carries the plan out; per-container failures are undone by ct_up and recorded in the item;
 * done (may be NULL) is called once per item with what ct_up repaired or changed.
 * Returns how many failed. */
int ct_apply_run(struct ctnet_kern *kern, struct ct_apply_plan *plan,
		 void (*done)(const struct ct_apply_item *it, const struct ct_report *rep, void *data),
		 void *data);
void ct_apply_free(struct ct_apply_plan *plan);
/* After a run (never after a dry run): the files found unchanged and whole, for the next
 * plan's index. 0 or -errno (the index only saves reads: a failure costs nothing else). */
int ct_apply_index_save(const struct ct_apply_plan *plan, struct ctnet_err *err);

/*
 * attach.c: CNI attachments, (CNI_CONTAINERID, CNI_IFNAME) of a network -> the ctnet
 * container serving it, in $CTNET_RUN_DIR/cni/NAME (KEY=VALUE). Written by ctnet-cni before
 * its first change and removed after its last; gc sweeps those whose container is gone.
 */
#define CNI_ID_MAX 256 /* CNI_CONTAINERID */
struct cni_attachment {
	char name[CTNET_NAME_MAX + 1]; /* the ctnet container name */
	char container_id[CNI_ID_MAX + 1];
	char ifname[IFNAMSIZ];
	char network[CTNET_NAME_MAX + 1];
	char netns[CT_PATH_MAX];
	char pod_name[CTNET_NAME_MAX + 1];      /* K8S_POD_NAME from CNI_ARGS ("" = none) */
	char pod_namespace[CTNET_NAME_MAX + 1]; /* K8S_POD_NAMESPACE */
};
/* "cni-" + 16 hex of ctnet_hash64(id "/" ifname); out >= CTNET_NAME_MAX + 1. */
void cni_attachment_name(const char *container_id, const char *ifname, char *out);
/* Per-attachment lock; returns the fd to close or -errno. */
int cni_attachment_lock(const char *name, struct ctnet_err *err);
int cni_attachment_write(const struct cni_attachment *a, struct ctnet_err *err);
/* -ENOENT when there is none. */
int cni_attachment_read(const char *name, struct cni_attachment *a, struct ctnet_err *err);
int cni_attachment_remove(const char *name, struct ctnet_err *err);
/* Calls cb for each attachment file; a non-zero return stops and is returned. */
int cni_attachment_foreach(int (*cb)(const struct cni_attachment *a, void *data), void *data,
			   struct ctnet_err *err);

/* Sweeps the attachments' directory: temp files of killed writers, then attachment files
 * (and their locks) whose container has no record and that no command holds, each removal
 * reported to cb. 0 or -errno. */
int cni_attachment_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err);

#endif
