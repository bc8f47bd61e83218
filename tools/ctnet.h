/* SPDX-License-Identifier: MIT */
/* The launcher: composes ipam, netd and nat in-process. One file per subcommand. */
#ifndef CTNET_TOOLS_H
#define CTNET_TOOLS_H

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "../ipam/ipam.h"
#include "../nat/nat.h"
#include "addr.h"
#include "err.h"
#include "name.h"

/* Host interfaces moved into a container, and macvlans made for it, at most. */
#define CT_MAX_EXTRA 8

/* What ctnet knows about one container: the record under $CTNET_RUN_DIR/containers/NAME. */
struct ct_record {
	char name[CTNET_NAME_MAX + 1];
	bool shared;       /* shared host namespace: nothing plumbed */
	char netns[PATH_MAX]; /* the namespace path used (/run/netns/X, /proc/PID/ns/net) */
	pid_t pid;         /* 0 unless given by --pid (or the child of `run`) */
	unsigned long long ns_dev, ns_ino; /* identity of the namespace, for liveness */
	bool created_netns; /* ctnet made /run/netns/NAME and removes it on down */
	char host_ifname[IFNAMSIZ];
	char ifname[IFNAMSIZ];
	char bridge[IFNAMSIZ];
	char mac[18];
	unsigned mtu;
	struct ctnet_addr host, local; /* family 0 when absent */
	bool has_v6;
	struct ctnet_addr host6, local6;
	bool lease;        /* addresses came from ipam: released on down */
	bool no_nat;       /* up with no NAT entry (CNI ipMasq:false) */
	size_t n_interfaces, n_macvlans; /* NixOS interfaces / macvlans */
	char interfaces[CT_MAX_EXTRA][IFNAMSIZ];
	char macvlans[CT_MAX_EXTRA][IFNAMSIZ]; /* parents; the macvlan inside is mv-PARENT */
	bool pending;      /* written by up before its first change and replaced by the final
			    * record at the end: left behind, it marks an interrupted up that
			    * gc, down or the next up clean from what it names */
	size_t n_forwards;
	struct nat_forward forwards[NAT_MAX_FORWARDS];
};

/* record.c */
int record_dir(bool create, struct ctnet_err *err);
int record_write(const struct ct_record *rec, struct ctnet_err *err);
/* -ENOENT when there is no record. */
int record_read(const char *name, struct ct_record *rec, struct ctnet_err *err);
/* The same in an already open record_dir() (listing thousands: one directory walk). */
int record_read_at(int dfd, const char *name, struct ct_record *rec, struct ctnet_err *err);
int record_remove(const char *name, struct ctnet_err *err);
int record_foreach(int (*cb)(const char *name, void *data), void *data, struct ctnet_err *err);
/* Per-container lock (held across up/down of one name). Returns fd or -errno. */
int record_lock(const char *name, struct ctnet_err *err);
/* Whether an up/down of name holds its lock right now (1) or not (0). */
int record_busy(const char *name);
json_t *record_json(const struct ct_record *rec);
/* nixos-container style KEY=VALUE lines (shell-sourceable). */
void record_print_env(FILE *f, const struct ct_record *rec);
/* 1 alive, 0 stale (namespace or pid gone); sets *why for stale ones. */
int record_alive(const struct ct_record *rec, const char **why);

/* netns.c */
/* Makes /run/netns/NAME (the `ip netns add` way); -EEXIST when it exists. */
int netns_create_named(const char *name, struct ctnet_err *err);
int netns_remove_named(const char *name, struct ctnet_err *err);
/* A fresh anonymous network namespace, returned as an fd; we stay where we are. */
int netns_new_anon(struct ctnet_err *err);
int netns_identity(int fd, unsigned long long *dev, unsigned long long *ino,
		   struct ctnet_err *err);
const char *netns_run_dir(void);

/* up.c: the steps shared by up, run and oci-hook. */
struct up_opts {
	const char *name;
	const char *netns_path;
	pid_t pid;
	int netns_fd; /* set by `run`: an anonymous namespace ... */
	pid_t owner_pid; /* ... entered by this process (recorded for liveness) */
	bool create_netns;
	bool shared;
	const char *host_address, *local_address, *host_address6, *local_address6;
	bool ipv6;
	bool no_nat; /* no NAT entry at all: no masquerade, forwards or anti-spoofing (CNI ipMasq:false) */
	const char *bridge;
	const char *pool;
	const char *ifname, *host_ifname, *mac;
	unsigned mtu;
	const char *config;
	size_t n_forwards;
	const char *forwards[NAT_MAX_FORWARDS];
	size_t n_interfaces, n_macvlans;
	const char *interfaces[CT_MAX_EXTRA], *macvlans[CT_MAX_EXTRA];
	bool json;
};
/* config.c: fills what the command line left unset from --config FILE. */
int up_apply_config(struct up_opts *o, struct ctnet_err *err);
int ct_up(const struct up_opts *o, struct ct_record *rec, struct ctnet_err *err);
int ct_down(const char *name, bool keep_lease, bool *was_up, struct ctnet_err *err);
/* ct_down for a caller that holds record_lock(name) (gc decides under the lock). */
int ct_down_locked(const char *name, bool keep_lease, bool *was_up, struct ctnet_err *err);
/* Parses the shared up options; returns 0, or an exit code (2) after printing usage. */
int up_parse_opt(int opt, const char *arg, struct up_opts *o);
/* Parses options and NAME (up to "--"); 0 to go on, -1 after --help, or an exit code. */
int up_parse_args(int argc, char **argv, struct up_opts *o, void (*usage)(void));
void up_usage(void);
extern const char up_short_opts[];
extern const struct option up_long_opts[];
void print_record(const struct ct_record *rec, bool json);

int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_oci_hook(int argc, char **argv);
int oci_parse_state(const char *text, size_t len, bool need_pid, struct up_opts *o, char *fwbuf,
		    size_t fwlen, json_t **keep, struct ctnet_err *err);

/* doctor.c */
struct ctnet_findings;
/* Every module's checks over the recorded containers (or name's); findings into out. */
int doctor_run(const char *name, bool inside, struct ctnet_findings *out, size_t *n_checked,
	       struct ctnet_err *err);
/* The cheap subset (ip_forward, foreign drop-policy forward chains): for up and status. */
int doctor_quick(const char *host_ifname, struct ctnet_findings *out, struct ctnet_err *err);
/* One warning line on stderr when doctor_quick finds a blocker. */
void doctor_warn(const char *host_ifname);
/* up with given addresses: -EADDRINUSE naming the interface when one is in use on the host. */
int up_addr_clash(const struct ct_record *r, struct ctnet_err *err);
int cmd_doctor(int argc, char **argv);
int cmd_trace(int argc, char **argv);

#endif
