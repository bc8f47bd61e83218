/* SPDX-License-Identifier: MIT */
/* Internals of the watch engine (watch.c, watchcont.c, watchrepair.c): not part of its
 * contract (watch.h). */
#ifndef CTNET_LAUNCH_WATCH_INT_H
#define CTNET_LAUNCH_WATCH_INT_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kern.h"
#include "launch.h"
#include "watch.h"

#define WATCH_PIDFILE "watch.pid"
#define DEBOUNCE_FIRST_MS 2   /* a single event (or one read's worth): acted on at once */
#define DEBOUNCE_MS 25        /* while a burst continues: after its last event... */
#define DEBOUNCE_MAX_MS 200   /* ...but no later than this after its first */
#define BURST_EVENTS 4        /* this many wakeups before a pass, or ... */
#define BURST_GAP_MS 50       /* ... an event this soon after the last pass: a burst */
#define SYSCTL_PERIOD_MS 1000 /* sysctls have no events */
#define LOCALNET_ROUNDS 30    /* each container's route_localnet: every 30 s */
#define SWEEP_PERIOD_MS 60000 /* closes sockets of namespaces that are gone (a fallback: a
				 * deleted /run/netns/NAME is an inotify event) */
/* A fight: FIGHT_STREAK repairs of one object, each within FIGHT_GAP_MS of the last. */
#define FIGHT_STREAK 5
#define FIGHT_GAP_MS 1000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define SETTLE_MS 10000 /* no repair for this long (or twice the back-off): fight over */
#define NAT_OBJECT "nft table inet ctnet"

/* A container being watched: what maps events to it, and its own socket inside. */
struct ct_watch_cont {
	char name[CTNET_NAME_MAX + 1];
	char host_ifname[IFNAMSIZ];
	int ifindex;
	pid_t pid;
	char *netns; /* path when pid is 0 */
	unsigned long long ns_dev, ns_ino;
	int mon;     /* rtnetlink socket in the container's namespace, or -1 */
	int localnet; /* its device's route_localnet, open, or -1 (none needed) */
	bool nat, v6, wants_localnet, dirty, seen;
	struct ct_watch_fight f;
};

/* watch.c */
int64_t watch_now_ms(void);
/* One event to the caller: the message is formatted here (at most 511 bytes), never printed. */
void watch_emit(struct ct_watch *w, enum ct_watch_kind kind, const char *object, const char *fmt, ...)
	CTNET_PRINTF(4, 5);
/* "container NAME": how a container is named in events. */
void watch_cont_object(const struct ct_watch_cont *c, char *buf, size_t size);

/* watchcont.c */
void watch_fd_close(int *fd);
void watch_cont_free(struct ct_watch_cont *c);
bool watch_ns_alive(const struct ct_watch_cont *c);
void watch_link_refresh(struct ctnet_kern *kern, struct ct_watch_cont *c, const struct ct_record *r);
void watch_rescan(struct ctnet_kern *kern, struct ct_watch *w);
void watch_sweep(struct ct_watch *w);

/* watchrepair.c */
bool watch_fight_waiting(const struct ct_watch_fight *f, int64_t now);
void watch_fights_settle(struct ct_watch *w, int64_t now);
void watch_reap(struct ct_watch *w);
void watch_repair_sysctls(struct ctnet_kern *kern, struct ct_watch *w);
bool watch_check_localnets(struct ct_watch *w);
void watch_run_pass(struct ctnet_kern *kern, struct ct_watch *w);

#endif
