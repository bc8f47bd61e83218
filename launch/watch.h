/* SPDX-License-Identifier: MIT */
/*
 * The watch engine: puts back what others remove from ctnet's table, its containers' links,
 * addresses and routes and the sysctls NAT needs (launch/watch.c says how). It never prints:
 * what it does is reported to the caller's function as events (ready, repaired, fight,
 * settled, error, reload), and the caller (tools/watch.c) renders them.
 *
 *	struct ct_watch w;
 *	fd = ct_watch_pidfile_take(&err);
 *	ct_watch_open(&w, sigfd, on_event, data, &err);
 *	ct_watch_run(kern, &w, &err);   (until a signal other than SIGHUP)
 *	ct_watch_close(&w);
 */
#ifndef CTNET_LAUNCH_WATCH_H
#define CTNET_LAUNCH_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct ctnet_kern;
struct nat_monitor;
struct ct_watch_cont; /* a watched container: private to launch/watch.c */

enum ct_watch_kind {
	CT_WATCH_READY,    /* subscribed and the records read: "watching N containers" */
	CT_WATCH_RELOAD,   /* SIGHUP: the records are read again, everything checked */
	CT_WATCH_RELOADED, /* that reload's records are read (no message): ready again */
	CT_WATCH_REPAIRED, /* object was put back; the message says what was missing */
	CT_WATCH_FIGHT,    /* object keeps being undone by another tool: backing off (said once) */
	CT_WATCH_SETTLED,  /* a fight's object stayed repaired: the back-off ended */
	CT_WATCH_ERROR,    /* a read or a repair failed; the watcher goes on */
};

/* One event. Both strings live only for the call. */
struct ct_watch_event {
	enum ct_watch_kind kind;
	/* "container NAME", "nft", "nft table inet ctnet", "sysctl", or NULL (the watcher) */
	const char *object;
	const char *message; /* "" for CT_WATCH_RELOADED */
};

typedef void ct_watch_report_fn(const struct ct_watch_event *ev, void *data);

/* Repairs of one object in quick succession: a fight, backed off exponentially. */
struct ct_watch_fight {
	int64_t first_ms, last_ms, until_ms, backoff_ms;
	unsigned streak;
	bool on;
};

/* The engine's state. The caller owns the memory; ct_watch_open fills every field. */
struct ct_watch {
	ct_watch_report_fn *report;
	void *data;
	int sig; /* the caller's signalfd, not closed here */
	int ep, ino, host;
	int mounts;     /* /proc/self/mountinfo: EPOLLPRI on a mount change (bpffs gone), or -1 */
	int rec_wd;     /* the inotify watch of the records; others are namespace directories */
	int fwd4, fwd6; /* ip_forward, conf/all/forwarding: open for pread, or -1 */
	struct nat_monitor *natmon;
	struct ct_watch_cont *c;
	size_t n, cap, localnet_next;
	bool rescan, nat_dirty, all_dirty, sysctl_dirty, stop;
	struct ct_watch_fight nat_f, sysctl_f;
	unsigned wakeups; /* events since the pending pass was scheduled */
	pid_t reap;       /* a restore child not yet waited for, or 0 */
	int64_t due_ms, first_ms, last_pass_ms, next_sysctl_ms, next_sweep_ms;
};

/*
 * Subscribes to the events (nftables, the host's rtnetlink, the records directory) and
 * watches sig, a signalfd the caller made (SIGHUP: reload; any other signal: stop). report
 * gets every event, with data. 0, or -errno with everything opened closed again.
 */
int ct_watch_open(struct ct_watch *w, int sig, ct_watch_report_fn *report, void *data,
		  struct ctnet_err *err);
/* Reads the records, says ready, checks everything once, then serves events until a stop
 * signal: 0; or -errno when waiting for events failed. */
int ct_watch_run(struct ctnet_kern *kern, struct ct_watch *w, struct ctnet_err *err);
/* Closes what ct_watch_open and ct_watch_run opened, waits for a restore child. */
void ct_watch_close(struct ct_watch *w);

/* The pid file in $CTNET_RUN_DIR, locked for as long as the returned descriptor is open;
 * -EBUSY when another watcher holds it. */
int ct_watch_pidfile_take(struct ctnet_err *err);
/* Whether a watcher holds its pid file (1, *pid set), not (0), or -errno. */
int ct_watch_running(pid_t *pid);

#endif
