/* SPDX-License-Identifier: MIT */
/*
 * The watch engine's repairs (see watch.c): ctnet's table checked and restored in a child,
 * each container converged under its lock, the forwarding sysctls and each container's
 * route_localnet; the debounced pass that runs them; and the fights (an object repaired
 * again and again, backed off).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "state.h"
#include "watch.h"
#include "watch_int.h"

/* ---- fights ---- */

/* A repair of f's object, begun at start, ended now: counts the streak, starts or lengthens a
 * back-off. The streak counts damage found soon after the last repair ended, so a repair that
 * itself takes longer than the gap (a big table, a slow machine) still makes a fight. */
static void fight_hit(struct ct_watch *w, struct ct_watch_fight *f, const char *what, int64_t start)
{
	int64_t now = watch_now_ms(), gap = f->backoff_ms * 2 > FIGHT_GAP_MS ? f->backoff_ms * 2 : FIGHT_GAP_MS;

	if (f->last_ms && start - f->last_ms <= gap) {
		f->streak++;
	} else {
		f->streak = 1;
		f->first_ms = now;
	}
	f->last_ms = now;
	if (f->streak < FIGHT_STREAK)
		return;
	f->backoff_ms = f->backoff_ms ? f->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (f->backoff_ms > BACKOFF_MAX_MS)
		f->backoff_ms = BACKOFF_MAX_MS;
	f->until_ms = now + f->backoff_ms;
	if (!f->on) {
		f->on = true;
		watch_emit(w, CT_WATCH_FIGHT, what,
		     "keeps being removed or changed by another tool (%u repairs in %.1f s); backing off "
		     "(%d s, doubling up to %d s); everything else is still served",
		     f->streak, (double)(now - f->first_ms) / 1000, BACKOFF_MIN_MS / 1000,
		     BACKOFF_MAX_MS / 1000);
	}
}

bool watch_fight_waiting(const struct ct_watch_fight *f, int64_t now)
{
	return f->on && now < f->until_ms;
}

/* A fight ends when its object stayed repaired for a while. */
static void fight_settle(struct ct_watch *w, struct ct_watch_fight *f, const char *what, int64_t now)
{
	int64_t quiet = f->backoff_ms * 2 > SETTLE_MS ? f->backoff_ms * 2 : SETTLE_MS;
	if (!f->on || now - f->last_ms < quiet)
		return;
	watch_emit(w, CT_WATCH_SETTLED, what, "stable for %lld s; back-off ended",
	     (long long)(now - f->last_ms) / 1000);
	*f = (struct ct_watch_fight){ 0 };
}

void watch_fights_settle(struct ct_watch *w, int64_t now)
{
	fight_settle(w, &w->nat_f, NAT_OBJECT, now);
	fight_settle(w, &w->sysctl_f, "sysctl", now);
	for (size_t i = 0; i < w->n; i++) {
		char obj[CTNET_NAME_MAX + 16];
		if (!w->c[i].f.on)
			continue;
		watch_cont_object(&w->c[i], obj, sizeof(obj));
		fight_settle(w, &w->c[i].f, obj, now);
	}
}

/* ---- repairs ---- */

struct check_ctx {
	unsigned missing;
	char first[200];
};

static void check_line(const char *line, void *data)
{
	struct check_ctx *k = data;
	/* Only what was removed or changed is damage; extra elements are not ours to judge. */
	if (strncmp(line, "missing", 7) && strncmp(line, "chain", 5))
		return;
	if (!k->missing++)
		snprintf(k->first, sizeof(k->first), "%s", line);
}

/* What the restore child did, sent back through a pipe. */
struct nat_result {
	int stage; /* 0: in sync, 1: check failed, 2: restore failed, 3: restored */
	struct check_ctx k;
	struct ctnet_err e;
};

/* In the child: check, and restore when something is missing. */
static void nat_repair_child(struct ctnet_kern *kern, struct nat_result *res)
{
	if (nat_check(kern, check_line, &res->k, &res->e) < 0)
		res->stage = 1;
	else if (!res->k.missing)
		res->stage = 0;
	else
		res->stage = nat_restore_table(kern, &res->e) < 0 ? 2 : 3;
}

/* Waits for the child without paying for its exit (closing the nftables socket of a process
 * that deleted objects waits for an RCU grace period): it is reaped later if still exiting. */
void watch_reap(struct ct_watch *w)
{
	if (w->reap && waitpid(w->reap, NULL, WNOHANG) != 0)
		w->reap = 0;
}

/* Runs nat_repair_child in a child of its own and reads its answer into res: 0, or -1
 * after saying why there is none. The child is left to watch_reap(). */
static int nat_child_run(struct ctnet_kern *kern, struct ct_watch *w, struct nat_result *res)
{
	int pfd[2];
	pid_t pid;
	ssize_t n = -1;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		watch_emit(w, CT_WATCH_ERROR, "nft", "restore: pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		watch_emit(w, CT_WATCH_ERROR, "nft", "restore: fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		/* Only the pipe, on fd 3: libnftables waits for the kernel with select(), which
		 * aborts on a descriptor above 1023 (the watcher holds two per container). */
		ctnet_kern_forked(kern); /* the parent's handles are not the child's: it opens its own */
		if (pfd[1] != 3 && dup2(pfd[1], 3) < 0)
			_exit(2);
		close_range(4, ~0U, 0);
		nat_repair_child(kern, res);
		_exit(write(3, res, sizeof(*res)) == (ssize_t)sizeof(*res) ? 0 : 1);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], res, sizeof(*res))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	w->reap = pid;
	watch_reap(w);
	if (n != (ssize_t)sizeof(*res)) {
		watch_emit(w, CT_WATCH_ERROR, "nft", "restore: the child (pid %ld) died without an answer", (long)pid);
		return -1;
	}
	return 0;
}

/* The rebuild leaves route_localnet alone (a flush of the ruleset does too): read every
 * container's now, and converge those found off in this pass. */
static void localnets_recheck(struct ct_watch *w)
{
	for (size_t i = 0; i < w->n; i++) {
		struct ct_watch_cont *c = &w->c[i];
		char v = 0;
		if (c->wants_localnet && c->mon >= 0 &&
		    !(c->localnet >= 0 && pread(c->localnet, &v, 1, 0) == 1 && v == '1'))
			c->dirty = true;
	}
}

/* Checks ctnet's table in a child and rebuilds it when something is missing; a restore,
 * done or failed, counts towards a fight. */
static void repair_nat(struct ctnet_kern *kern, struct ct_watch *w)
{
	struct nat_result res = { 0 };
	int64_t start = watch_now_ms();

	w->nat_dirty = false;
	watch_reap(w);
	if (w->reap) {
		waitpid(w->reap, NULL, 0); /* the last one has not exited yet: one at a time */
		w->reap = 0;
	}
	if (nat_child_run(kern, w, &res) < 0)
		return;
	switch (res.stage) {
	case 0:
		return;
	case 1:
		watch_emit(w, CT_WATCH_ERROR, "nft", "check table inet ctnet: %s", res.e.msg);
		return;
	case 2:
		watch_emit(w, CT_WATCH_ERROR, "nft", "restore table inet ctnet: %s", res.e.msg);
		break;
	default:
		watch_emit(w, CT_WATCH_REPAIRED, "nft", "table inet ctnet restored (%s%s)", res.k.first,
		     res.k.missing > 1 ? ", ..." : "");
		localnets_recheck(w);
	}
	fight_hit(w, &w->nat_f, NAT_OBJECT, start);
}

/* Each repair in rep, said; a container repaired counts towards its fight. */
static void converge_said(struct ct_watch *w, struct ct_watch_cont *c, const char *obj,
			  const struct ct_report *rep, int64_t start)
{
	bool repaired = false;

	for (size_t i = 0; i < rep->n; i++)
		if (rep->v[i].repair) {
			watch_emit(w, CT_WATCH_REPAIRED, obj, "%s", rep->v[i].what);
			repaired = true;
		}
	if (repaired)
		fight_hit(w, &c->f, obj, start);
}

static void converge_one(struct ctnet_kern *kern, struct ct_watch *w, struct ct_watch_cont *c,
			 const struct ct_view *view)
{
	struct ct_record *have = malloc(sizeof(*have)), *out = malloc(sizeof(*out));
	struct ct_report *rep = calloc(1, sizeof(*rep));
	struct ctnet_err e = { 0 };
	char obj[CTNET_NAME_MAX + 16];
	const char *why;
	int lock = -1, rc;
	int64_t start = watch_now_ms();

	c->dirty = false;
	watch_cont_object(c, obj, sizeof(obj));
	if (!have || !out || !rep)
		goto out;
	/* An up, down or gc of it is running: its own changes are not damage, and what it
	 * leaves is its business. */
	if (record_busy(c->name))
		goto out;
	if ((lock = record_lock(c->name, &e)) < 0)
		goto out;
	/* Under the lock: a container being taken down (STOPPING) or gone is never brought
	 * back, and a stale one (namespace gone) is gc's. */
	if (record_read(c->name, have, &e) < 0 || have->pending || have->stopping != CT_STOP_NONE ||
	    have->spec.shared || !record_alive(have, &why))
		goto out;
	rc = ct_converge(kern, &have->spec, have, view, out, rep, &e);
	record_unlock(c->name, lock);
	lock = -1;
	watch_link_refresh(kern, c, rc < 0 ? have : out);
	if (rc < 0) {
		watch_emit(w, CT_WATCH_ERROR, obj, "converge: %s", e.msg);
		fight_hit(w, &c->f, obj, start);
		goto out;
	}
	converge_said(w, c, obj, rep, start);
out:
	if (lock >= 0)
		record_unlock(c->name, lock);
	free(have);
	free(out);
	free(rep);
}

/* '1' when the sysctl behind fd (opened at start, kept) is on; reopens path when the
 * descriptor went stale (-1 or a read error). */
static bool sysctl_on(int *fd, const char *path)
{
	char v = 0;
	if (*fd < 0 && (*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return true; /* absent (no IPv6): nothing to switch on */
	if (pread(*fd, &v, 1, 0) != 1) {
		close(*fd);
		*fd = -1;
		return true; /* read again next time */
	}
	return v == '1';
}

#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"
#define IP6_FORWARD "/proc/sys/net/ipv6/conf/all/forwarding"

void watch_repair_sysctls(struct ctnet_kern *kern, struct ct_watch *w)
{
	struct ctnet_err e = { 0 };
	char changed[200];
	bool any = false, v6 = false;
	int64_t start = watch_now_ms();
	int n;

	for (size_t i = 0; i < w->n; i++)
		if (w->c[i].nat) {
			any = true;
			v6 |= w->c[i].v6;
		}
	if (!any)
		return; /* no container needs them: not ours to touch */
	/* The common case, all on: one pread each, nothing else. */
	if (sysctl_on(&w->fwd4, IP_FORWARD) && (!v6 || sysctl_on(&w->fwd6, IP6_FORWARD)))
		return;
	if ((n = nat_sysctls_repair(kern, v6, NULL, changed, sizeof(changed), &e)) < 0) {
		watch_emit(w, CT_WATCH_ERROR, "sysctl", "%s", e.msg);
		return;
	}
	if (n > 0) {
		watch_emit(w, CT_WATCH_REPAIRED, "sysctl", "%s was off", changed);
		fight_hit(w, &w->sysctl_f, "sysctl", start);
	}
}

/* A thirtieth of the containers' route_localnet each second (one pread each): one found off
 * makes its container dirty, and the converge puts it back (and says so). */
bool watch_check_localnets(struct ct_watch *w)
{
	size_t want = (w->n + LOCALNET_ROUNDS - 1) / LOCALNET_ROUNDS;
	bool dirty = false;

	for (size_t k = 0; k < want && w->n; k++) {
		struct ct_watch_cont *c = &w->c[w->localnet_next++ % w->n];
		char v = 0;
		if (!c->wants_localnet || c->mon < 0)
			continue;
		if (c->localnet >= 0 && pread(c->localnet, &v, 1, 0) == 1 && v == '1')
			continue;
		/* Off, or its descriptor is stale (the link was made again): the converge checks
		 * the device and reopens it. */
		c->dirty = dirty = true;
	}
	w->localnet_next %= w->n ? w->n : 1;
	return dirty;
}

/* The debounced pass: everything marked since the last one. */
void watch_run_pass(struct ctnet_kern *kern, struct ct_watch *w)
{
	int64_t now = watch_now_ms();
	struct ct_view view = { 0 };
	struct ctnet_err e = { 0 };
	size_t due = 0;

	w->due_ms = 0;
	if (w->rescan)
		watch_rescan(kern, w);
	if (w->nat_dirty && !watch_fight_waiting(&w->nat_f, now))
		repair_nat(kern, w);
	if (w->sysctl_dirty && !watch_fight_waiting(&w->sysctl_f, now))
		watch_repair_sysctls(kern, w);
	w->sysctl_dirty = false;
	for (size_t i = 0; i < w->n; i++) {
		struct ct_watch_cont *c = &w->c[i];
		if (w->all_dirty && c->mon >= 0)
			c->dirty = true;
		due += c->dirty && !watch_fight_waiting(&c->f, now);
	}
	w->all_dirty = false;
	/* Each converge compares its container's NAT elements with a read of the whole table:
	 * more than one in this pass share one read (taken after the restore above, so it sees
	 * the table as rebuilt); a single one reads it itself. */
	if (due > 1 && nat_counters_read(kern, &view.nat, &e) < 0)
		view.nat = NULL; /* each converge reads it then */
	for (size_t i = 0; i < w->n && !w->stop; i++) {
		struct ct_watch_cont *c = &w->c[i];
		if (c->dirty && !watch_fight_waiting(&c->f, now))
			converge_one(kern, w, c, &view);
	}
	nat_counters_free(view.nat);
	/* A converge that found the table gone rebuilt it here (libnftables): free its context
	 * and sockets rather than keep them for the watcher's life. */
	if (due)
		nat_release(kern, false);
	w->last_pass_ms = watch_now_ms();
}
