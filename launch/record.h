/* SPDX-License-Identifier: MIT */
/* Records: the spec plus what was allocated, under $CTNET_RUN_DIR/containers/NAME (record.c). */
#ifndef CTNET_LAUNCH_RECORD_H
#define CTNET_LAUNCH_RECORD_H

#include <jansson.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "err.h"
#include "spec.h"
#include "state.h"

/* The record format written by this version; older records (no VERSION) are version 1. */
#define CT_RECORD_VERSION 2

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
	char mac[18];         /* the container side's MAC in use ("" before ctnet knew it):
			       * a bridge port sends from it only */
	bool lease;           /* addresses came from ipam: released on down */
	bool pending;         /* written by up before its first change and replaced by the
			       * final record at the end: left behind, it marks an interrupted
			       * up that gc, down or the next up clean from what it names */
	char boot_id[40];     /* the kernel's boot id when it was written */
	enum { CT_STOP_NONE, CT_STOP_RELEASE, CT_STOP_KEEP_LEASE } stopping; /* a down began */
};

int record_dir(bool create, struct ctnet_err *err);
int record_write(const struct ct_record *rec, struct ctnet_err *err);
/* name's record; -ENOENT ("container NAME: not up") when there is none. */
int record_read(const char *name, struct ct_record *rec, struct ctnet_err *err);
/* The same in an already open record_dir(), keeping the text (in buf, NUL-terminated; its
 * length returned) and the file's stat (st may be NULL): apply's index. */
ssize_t record_read_text_at(int dfd, const char *name, struct ct_record *rec, char *buf, size_t max,
			    struct stat *st, struct ctnet_err *err);
#define CT_RECORD_MAX 16384
/*
 * The one loader of the records, for everyone who looks at all of them (status, doctor, gc,
 * apply, watch): one listing of the records' directory, in name order; each record is read
 * and parsed (record_parse) when its reader asks, in whichever thread, so thousands are
 * never all in memory at once.
 */
struct ct_records {
	int dfd;                   /* the records' directory, -1 when there is none yet */
	bool own_dfd;              /* opened by ct_records_load (closed by ct_records_free) */
	size_t n;
	struct ctnet_dir_entry *v; /* the names, sorted */
};
/* Lists the records of dfd (a record_dir(); -1: opened here, and no directory is no record).
 * 0 or -errno ("read records: why"). */
int ct_records_load(int dfd, struct ct_records *out, struct ctnet_err *err);
/* Record i of the listing, as record_read reads it (-ENOENT: taken down since the listing).
 * Safe from several threads at once. */
int ct_records_read(const struct ct_records *l, size_t i, struct ct_record *rec, struct ctnet_err *err);
void ct_records_free(struct ct_records *l);
/* The record codec: text (KEY=VALUE lines) to record and back. */
int record_parse(const char *text, size_t len, const char *name, struct ct_record *rec,
		 struct ctnet_err *err);
/* Into buf; the length, or -EOVERFLOW / -EINVAL (a value that cannot be written safely). */
int record_format(const struct ct_record *rec, char *buf, size_t len, struct ctnet_err *err);
int record_remove(const char *name, struct ctnet_err *err);
/* Sweeps the records' directory: temp files of killed writers, lock files of gone names
 * (gc, after it removed the records of gone containers). 0 or -errno. */
int record_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err);
/*
 * Whether every state dir a change of a container writes can be written: the records'
 * ($CTNET_RUN_DIR/containers), ipam's and nat's ($CTNET_STATE_DIR/ipam, /nat), each by a
 * probe file (ctnet_dir_probe). Asked under the container's lock before the first kernel
 * change (ct_up, ct_down, ct_converge, gc, apply, CNI ADD): a read-only or full state dir
 * changes nothing and says which path and why. 0 or -errno.
 */
int ct_state_writable(struct ctnet_err *err);
/* Per-container lock (held across up/down of one name). Returns fd or -errno. */
int record_lock(const char *name, struct ctnet_err *err);
/* Whether an up/down of name holds its lock right now (1) or not (0). */
/* Lets go of record_lock's fd, removing the lock file when name has no record (the last
 * command of a gone container leaves no file). */
void record_unlock(const char *name, int lock);
int record_busy(const char *name);
struct out;
/* The record's fields into the object open in o (record_out.c): nixos-container style
 * KEY=VALUE lines for a shell, its JSON, and the cells of status' table (name, mode,
 * host_ifname, host_address, local_address). */
void record_out(struct out *o, const struct ct_record *rec);
/* A process's start time (/proc/PID/stat field 22, clock ticks after boot): tells a PID
 * reused by another process from the one recorded. 0 or -errno (-ENOENT: no such process). */
int ct_pid_start(pid_t pid, unsigned long long *start);
/* 1 alive, 0 stale (namespace or pid gone, host rebooted); sets *why for stale ones. */
int record_alive(const struct ct_record *rec, const char **why);
/* This boot's id (/proc/sys/kernel/random/boot_id), "" when unreadable. */
const char *ct_boot_id(void);

#endif
