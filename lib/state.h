/* SPDX-License-Identifier: MIT */
#ifndef CTNET_STATE_H
#define CTNET_STATE_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "name.h"

#define CTNET_STATE_DIR_DEFAULT "/var/lib/ctnet"
#define CTNET_RUN_DIR_DEFAULT "/run/ctnet"
#define CTNET_NIXOS_CONF_DIR_DEFAULT "/etc/nixos-containers"

/* $CTNET_STATE_DIR, $CTNET_RUN_DIR, $CTNET_NIXOS_CONF_DIR or the defaults above. */
const char *ctnet_state_dir(void);
const char *ctnet_run_dir(void);
const char *ctnet_nixos_conf_dir(void);

/*
 * Opens (creating with mode 0755 when `create`) the directory `sub` below `base`
 * ("" or NULL for base itself), every component with O_NOFOLLOW. Each directory must be
 * owned by root or by us and not writable by group or others; anything else is refused
 * with a message naming the path. Returns an O_DIRECTORY|O_CLOEXEC fd or -errno.
 */
int ctnet_dir_open(const char *base, const char *sub, int create, struct ctnet_err *err);
/* The same for a directory below an already-open, already-checked one. */
int ctnet_subdir_open(int dirfd, const char *name, int create, const char *shown_path,
		      struct ctnet_err *err);

/*
 * Writes a whole file atomically: temp file in the same directory, then renameat().
 * Readers see the old content or the new one, never a part. Mode 0644.
 */
int ctnet_write_atomic(int dirfd, const char *name, const void *data, size_t len,
		       struct ctnet_err *err);
/* The same with flags. CTNET_WRITE_DURABLE: the file is fsync'ed before the rename and the
 * directory after it, so that a power loss leaves the old content or the new, never an
 * empty file or a lost name (leases; records and caches need not pay for it). */
#define CTNET_WRITE_DURABLE 1u
int ctnet_write_atomic_flags(int dirfd, const char *name, const void *data, size_t len,
			     unsigned flags, struct ctnet_err *err);
/*
 * Proves that a file can be written in the directory dfd (shown in errors) before a caller
 * changes anything: ".probe.TID.tmp" is created, CTNET_PROBE_BYTES are written to it (the
 * file system reserves the space then, or fails) and it is closed and removed. A read-only
 * or full file system, or a quota reached, fails here with -errno and err saying
 * `cannot write in state dir "PATH": why`, instead of at a write after the kernel changed.
 * A probe left by a killed process is a temp file for ctnet_tmp_sweep.
 */
#define CTNET_PROBE_BYTES 16384 /* the largest file ctnet writes at once (a record) */
int ctnet_dir_probe(int dfd, const char *shown, struct ctnet_err *err);
/* ctnet_dir_open(base, sub, create) and ctnet_dir_probe of it. */
int ctnet_state_probe(const char *base, const char *sub, struct ctnet_err *err);
/* fsync of a directory (shown in errors): the names made or removed in it reach the disk. */
int ctnet_dir_sync(int dirfd, const char *shown, struct ctnet_err *err);
/*
 * Reads a regular file (O_NOFOLLOW) of at most max-1 bytes into buf, NUL-terminated.
 * Returns the length or -errno (-ENOENT when absent, -EFBIG when too large).
 */
ssize_t ctnet_read_file(int dirfd, const char *name, char *buf, size_t max,
			struct ctnet_err *err);
/* The same, with the file's stat as read (st may be NULL). */
struct stat;
ssize_t ctnet_read_file_stat(int dirfd, const char *name, char *buf, size_t max, struct stat *st,
			     struct ctnet_err *err);
/* The same for a name that ctnet_dir_foreach_file listed as a regular file: no fstat (a
 * read shorter than asked is the end), one system call less per file of a big listing. */
ssize_t ctnet_read_listed(int dirfd, const char *name, char *buf, size_t max, struct ctnet_err *err);
/*
 * Removes the temp files ".NAME.PID.tmp" that ctnet_write_atomic leaves when its writer is
 * killed, once that PID is gone (readers skip dot files, so they only cost space). Returns
 * the number removed or -errno.
 */
int ctnet_tmp_sweep(int dirfd, struct ctnet_err *err);
/*
 * What a module's sweep removed from one of its directories: data, for ctnet gc to show.
 * Each module sweeps the directories it owns (ipam_sweep, nat_sweep, launch's ct_sweep).
 */
enum ctnet_debris {
	CTNET_DEBRIS_TEMP,       /* ".NAME.PID.tmp" of killed writers (ctnet_tmp_sweep) */
	CTNET_DEBRIS_LOCK,       /* ".NAME.lock" of gone entries (ctnet_lock_sweep) */
	CTNET_DEBRIS_ATTACHMENT, /* CNI attachment files of gone containers, with their locks */
	CTNET_DEBRIS_CLAIM,      /* host-port claims their recorded owner no longer forwards */
	CTNET_DEBRIS_DNS,        /* DNS hosts files and resolv.conf files of gone containers */
};
struct ctnet_swept {
	enum ctnet_debris kind;
	const char *dir; /* below $CTNET_STATE_DIR or $CTNET_RUN_DIR: "ipam/lease", "cni" */
	int n;           /* how many, > 0 */
};
typedef void ctnet_swept_fn(const struct ctnet_swept *s, void *data);
/* Calls cb (when not NULL) with what was removed, when n > 0. */
void ctnet_swept_report(ctnet_swept_fn *cb, void *data, enum ctnet_debris kind, const char *dir, int n);
/*
 * ctnet_tmp_sweep of each of the n directories dirs[] below base, each removal reported to
 * cb; an absent directory has nothing to sweep. 0, or the first -errno (with err set) after
 * sweeping the others.
 */
int ctnet_tmp_sweep_dirs(const char *base, const char *const *dirs, size_t n, ctnet_swept_fn *cb, void *data,
			 struct ctnet_err *err);
/* unlinkat that treats ENOENT as success. */
int ctnet_unlink(int dirfd, const char *name, struct ctnet_err *err);

/*
 * Calls cb for each entry of the directory dfd whose name is a valid ctnet name (so not
 * temp files, locks or strays); a non-zero return from cb stops and is returned. `what`
 * names the directory in errors.
 */
int ctnet_dir_foreach(int dfd, const char *what, int (*cb)(int dfd, const char *name, void *data),
		      void *data, struct ctnet_err *err);
/* The same for the regular files only, as the listing's d_type says (the file system is
 * asked only when the listing does not say): the callback may use ctnet_read_listed. */
int ctnet_dir_foreach_file(int dfd, const char *what, int (*cb)(int dfd, const char *name, void *data),
			   void *data, struct ctnet_err *err);

/* One entry of a directory as ctnet_dir_list lists it. */
struct ctnet_dir_entry {
	char name[CTNET_NAME_MAX + 1];
	bool regular; /* the listing says a regular file: ctnet_read_listed may read it */
};
/*
 * The entries ctnet_dir_foreach would list (valid ctnet names: no temp files, locks or
 * strays), sorted by name, into *v (malloc'd, the caller frees it; NULL when none) and *n.
 * 0 or -errno; `what` names the directory in errors ("read WHAT: why").
 */
int ctnet_dir_list(int dfd, const char *what, struct ctnet_dir_entry **v, size_t *n, struct ctnet_err *err);
/* A listing (opendir) of dfd on an open file description of its own: a dup() would share
 * dfd's offset with every other listing of it (one left at the end by an earlier walk
 * lists nothing; two threads race on it). closedir() it. NULL with errno set. */
DIR *ctnet_dir_opendir(int dfd);

/* An exclusive flock on dirfd/name (created 0600). Returns the fd to close, or -errno. */
int ctnet_lock(int dirfd, const char *name, struct ctnet_err *err);
void ctnet_unlock(int fd);
/* The per-entry lock of `name` in dfd: ".NAME.lock" (a dot name, so listings skip it). */
int ctnet_entry_lock(int dfd, const char *name, struct ctnet_err *err);
/* Removes the entry locks ".NAME.lock" of dfd whose NAME is gone and that nobody holds
 * (taken before the unlink; ctnet_lock retries when its file was removed). Returns how many
 * or -errno. */
int ctnet_lock_sweep(int dfd, struct ctnet_err *err);
/* Whether someone holds name's entry lock right now (1) or not (0); never blocks. */
int ctnet_entry_busy(int dfd, const char *name);
/* Lets go of name's entry lock fd (from ctnet_entry_lock on dfd), removing its file first
 * when NAME is gone: an entry's last command leaves nothing. A waiter that opened the old
 * file re-checks after locking and takes a new one (ctnet_lock). fd -1 is a no-op. */
void ctnet_entry_unlock(int dfd, const char *name, int fd);

#endif
