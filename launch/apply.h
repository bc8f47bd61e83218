/* SPDX-License-Identifier: MIT */
/* apply: a directory of .conf files as the desired set; its plan, run and index. */
#ifndef CTNET_LAUNCH_APPLY_H
#define CTNET_LAUNCH_APPLY_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "../nat/nat.h"
#include "addr.h"
#include "err.h"
#include "kern.h"
#include "name.h"
#include "spec.h"
#include "state.h"
#include "up.h"

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
	bool nat_pending, nat_has6, nat_has_mac;
	struct ctnet_addr nat_addr, nat_addr6, nat_host, nat_host6;
	char nat_iface[IFNAMSIZ], nat_bridge[IFNAMSIZ];
	uint8_t nat_mac[6];
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

#endif
