/* SPDX-License-Identifier: MIT */
/* Internals of the `ctnet dns` engine: dnsrun.c (names, events) and dnsmasq.c (dnsmasq as
 * its child, the interfaces it listens on). Not part of its contract (dnsrun.h). */
#ifndef CTNET_LAUNCH_DNSRUN_INT_H
#define CTNET_LAUNCH_DNSRUN_INT_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "dnsrun.h"
#include "launch.h"

#define ARGV_MAX 64

struct dns_iface {
	char name[IFNAMSIZ];
	unsigned n; /* containers that ask on it */
};

/* A container ctnet dns knows (it has a hosts file): what its name's next event must take
 * back, whatever the file says now (up and down write those themselves). */
struct name_iface {
	char name[CTNET_NAME_MAX + 1];
	char iface[IFNAMSIZ]; /* it asks on its bridge (or host side of another name); "" */
	bool served, noted;   /* its names are served; why not was said */
};

struct dns_run {
	const struct ct_dns_opts *o;
	ct_dns_report_fn *report;
	void *data;
	struct ctnet_kern *kern;
	int recdfd, hostsdfd, ino, wd, sig;
	char hostsdir[4096];
	struct dns_iface *ifs;
	size_t n_ifs, cap_ifs;
	void *by_name; /* tsearch tree of struct name_iface: O(log n) per event */
	size_t known;
	char (*running)[IFNAMSIZ]; /* the interfaces the running dnsmasq was given */
	size_t n_running;
	bool ifs_dirty;
	pid_t child;
	struct ct_dns_state st; /* what $CTNET_RUN_DIR/dns/state says */
};

/* One event to the caller (the message formatted here, never printed). */
void dns_emit(struct dns_run *d, enum ct_dns_kind kind, const char *object, const char *fmt, ...) CTNET_PRINTF(4, 5);
/* dnsmasq.c: start dnsmasq with the interfaces wanted now (its pid into d and the state
 * file); stop it with sig and wait for it; stop a dnsmasq an earlier ctnet dns left; restart
 * it when the interfaces to listen on changed (d->ifs_dirty). 0 or -errno. */
int dns_spawn(struct dns_run *d, struct ctnet_err *err);
int dns_child_stop(struct dns_run *d, int sig, struct ctnet_err *err);
void dns_stop_leftover(struct dns_run *d);
int dns_maybe_restart(struct dns_run *d, struct ctnet_err *err);

#endif
