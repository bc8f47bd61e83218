/* SPDX-License-Identifier: MIT */
/*
 * The watch engine (`ctnet watch`): puts back what others remove. It listens to
 * nftables events (ctnet's table, chains, rules, sets, elements deleted), rtnetlink events of
 * the host and of each container's namespace (links deleted or down, addresses and routes
 * deleted) and to the records directory; a burst of events is debounced into one pass that
 * restores the NAT table once (nat_check, then nat_restore) and converges each affected
 * container with the function `up` uses (ct_converge, under the container's lock).
 * A single removal (a route, an address, a link of one container) is acted on 2 ms after it
 * arrives and converges only that container; only while events keep coming is the pass held
 * back until the burst is quiet (25 ms, at most 200 ms). Many containers in one pass share
 * one read of the kernel's NAT table.
 * Loopback forwards by BPF (nat/lofwd.c) have no events either: a change of the mount table
 * (/proc/self/mountinfo polls EPOLLPRI) is checked with nat_lofwd_fault, and a bpffs unmount
 * that took their pins is NAT damage like a flushed table.
 * Most sysctls have no events: ip_forward (and IPv6 forwarding) switched off are announced
 * (RTM_NEWNETCONF) and repaired at once, and read once a second besides through
 * descriptors kept open (one pread each); the route_localnet of each container's device is
 * read from its own open descriptor, a thirtieth of the containers each second, and again
 * after every repair of that container and every rebuild of the table. Nothing polls in
 * between.
 * The nftables table is checked and rebuilt by a short-lived child: rebuilding needs
 * libnftables (with libnftnl, libgmp, libxtables), which would triple the watcher's memory
 * for the rest of its life.
 *
 * It never fights ctnet itself: a container whose lock is held is left to the command
 * holding it, and one whose record is gone, stopping, pending or stale is never touched.
 * It fights others only so far: an object repaired again and again in quick succession is
 * backed off exponentially (1 s doubling to 30 s), said once, and the rest is still served.
 *
 * Nothing here is static or printed: the state is the caller's struct ct_watch, and every
 * event goes to its report function (tools/watch.c turns them into log or JSON lines).
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
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "pidfile.h"
#include "state.h"
#include "watch.h"
#include "watch_int.h"

int64_t watch_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One event to the caller: the message is formatted here (at most 511 bytes), never printed. */
void watch_emit(struct ct_watch *w, enum ct_watch_kind kind, const char *object, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->report(&(struct ct_watch_event){ .kind = kind, .object = object, .message = msg }, w->data);
}

/* "container NAME": how a container is named in events. */
void watch_cont_object(const struct ct_watch_cont *c, char *buf, size_t size)
{
	snprintf(buf, size, "container %s", c->name);
}

/* ---- the pid file: held locked while the watcher runs, read by `ctnet status` ---- */

int ct_watch_running(pid_t *pid)
{
	return ctnet_pidfile_held(WATCH_PIDFILE, pid);
}

int ct_watch_pidfile_take(struct ctnet_err *err)
{
	return ctnet_pidfile_take(WATCH_PIDFILE, "ctnet watch", err);
}

/* ---- events ---- */

/*
 * A pass is due DEBOUNCE_FIRST_MS after the first event: a deleted route or address is one
 * message (a flush of the ruleset one read of many), and waiting longer only delays the
 * repair. While events keep coming (several wakeups before the pass, or events right after
 * the last pass: a firewall reloading in several transactions) the pass waits until the
 * burst has been quiet for DEBOUNCE_MS, at most DEBOUNCE_MAX_MS after its first event.
 */
static void schedule(struct ct_watch *w)
{
	int64_t now = watch_now_ms();
	bool burst;

	if (!w->due_ms) {
		w->first_ms = now;
		w->wakeups = 0;
	}
	burst = ++w->wakeups >= BURST_EVENTS ||
		(w->last_pass_ms && w->first_ms - w->last_pass_ms < BURST_GAP_MS);
	if (!burst) {
		if (!w->due_ms)
			w->due_ms = now + DEBOUNCE_FIRST_MS;
		return;
	}
	w->due_ms = now + DEBOUNCE_MS;
	if (w->due_ms > w->first_ms + DEBOUNCE_MAX_MS)
		w->due_ms = w->first_ms + DEBOUNCE_MAX_MS;
}

static void host_event(const struct netd_event *ev, void *data)
{
	struct ct_watch *w = data;

	if (ev->kind == NETD_EV_FORWARDING_OFF) {
		w->sysctl_dirty = true;
		schedule(w);
		return;
	}
	for (size_t i = 0; i < w->n; i++) {
		struct ct_watch_cont *c = &w->c[i];
		if ((ev->ifindex && ev->ifindex == c->ifindex) ||
		    (ev->ifname[0] && !strcmp(ev->ifname, c->host_ifname))) {
			c->dirty = true;
			schedule(w);
		}
	}
}

static void on_host(struct ct_watch *w)
{
	struct ctnet_err e = { 0 };
	int n = netd_monitor_read(w->host, host_event, w, &e);
	if (n == -ENOBUFS) {
		w->all_dirty = true; /* events were lost: check everyone */
		schedule(w);
	} else if (n < 0) {
		watch_emit(w, CT_WATCH_ERROR, NULL, "%s", e.msg);
	}
}

static void on_container(struct ct_watch *w, struct ct_watch_cont *c)
{
	struct ctnet_err e = { 0 };
	int n = netd_monitor_read(c->mon, NULL, NULL, &e);
	if (n > 0 || n == -ENOBUFS) {
		c->dirty = true;
		schedule(w);
	} else if (n < 0) {
		watch_fd_close(&c->mon); /* the namespace is going away */
	}
}

static void on_nft(struct ct_watch *w)
{
	struct ctnet_err e = { 0 };
	int n = nat_monitor_read(w->natmon, &e);
	if (n > 0 || n == -ENOBUFS) {
		w->nat_dirty = true;
		schedule(w);
	} else if (n < 0) {
		watch_emit(w, CT_WATCH_ERROR, "nft", "%s", e.msg);
	}
}

/* The mount table changed: a bpffs unmount takes the loopback forwards' BPF programs with
 * it (no nftables event says so). Only that is NAT damage; other mounts are not. */
static void on_mounts(struct ct_watch *w)
{
	char why[512];
	if (nat_lofwd_fault(why, sizeof(why))) {
		w->nat_dirty = true;
		schedule(w);
	}
}

/* A namespace file named name went: closes the socket of whoever used it. */
static void netns_gone(struct ct_watch *w, const char *name)
{
	for (size_t i = 0; i < w->n; i++) {
		const char *b = w->c[i].netns ? strrchr(w->c[i].netns, '/') : NULL;
		if (b && !strcmp(b + 1, name) && w->c[i].mon >= 0 && !watch_ns_alive(&w->c[i]))
			watch_cont_free(&w->c[i]);
	}
}

static void on_inotify(struct ct_watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	ssize_t n;

	/* Which record does not matter (a rescan is one directory walk), but dot files are
	 * locks (each converge takes one) and temporary files: not a record changing. */
	while ((n = read(w->ino, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				any = true;
				watch_sweep(w);
			} else if (ev->wd != w->rec_wd) {
				if (ev->len)
					netns_gone(w, ev->name);
			} else if (!ev->len || ev->name[0] != '.') {
				any = true;
			}
		}
	if (any) {
		w->rescan = true;
		schedule(w);
	}
}

static void check_everything(struct ct_watch *w)
{
	w->rescan = w->nat_dirty = w->all_dirty = true;
	schedule(w);
}

static void on_signal(struct ctnet_kern *kern, struct ct_watch *w)
{
	struct signalfd_siginfo si;
	while (read(w->sig, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			watch_emit(w, CT_WATCH_RELOAD, NULL, "re-reading records, checking everything");
			watch_rescan(kern, w);
			check_everything(w);
			w->report(&(struct ct_watch_event){ .kind = CT_WATCH_RELOADED, .message = "" },
				  w->data);
		} else {
			w->stop = true;
		}
	}
}

/* One descriptor epoll says is readable. */
static void on_ready(struct ctnet_kern *kern, struct ct_watch *w, int fd)
{
	if (fd == w->sig)
		on_signal(kern, w);
	else if (fd == w->ino)
		on_inotify(w);
	else if (fd == w->host)
		on_host(w);
	else if (fd == nat_monitor_fd(w->natmon))
		on_nft(w);
	else if (fd == w->mounts)
		on_mounts(w);
	else
		for (size_t j = 0; j < w->n; j++)
			if (w->c[j].mon == fd) {
				on_container(w, &w->c[j]);
				break;
			}
}

static bool backoff_due(const struct ct_watch *w, int64_t now)
{
	if (w->nat_dirty && w->nat_f.on && !watch_fight_waiting(&w->nat_f, now))
		return true;
	for (size_t i = 0; i < w->n; i++)
		if (w->c[i].dirty && w->c[i].f.on && !watch_fight_waiting(&w->c[i].f, now))
			return true;
	return false;
}

static int timeout_ms(const struct ct_watch *w)
{
	int64_t now = watch_now_ms(), next = w->next_sysctl_ms;
	if (w->due_ms && w->due_ms < next)
		next = w->due_ms;
	/* Damage held back by a fight is repaired when its back-off ends. */
	if (w->nat_dirty && w->nat_f.on && w->nat_f.until_ms < next)
		next = w->nat_f.until_ms;
	for (size_t i = 0; i < w->n; i++)
		if (w->c[i].dirty && w->c[i].f.on && w->c[i].f.until_ms < next)
			next = w->c[i].f.until_ms;
	return next <= now ? 0 : (int)(next - now);
}

/* What has no events: the sysctls, a share of the route_localnets, fights that ended, the
 * restore child's exit. Once a second. */
static void each_second(struct ctnet_kern *kern, struct ct_watch *w, int64_t now)
{
	w->next_sysctl_ms = now + SYSCTL_PERIOD_MS;
	if (!watch_fight_waiting(&w->sysctl_f, now))
		watch_repair_sysctls(kern, w);
	if (watch_check_localnets(w))
		schedule(w); /* converged in a pass of its own */
	watch_fights_settle(w, now);
	watch_reap(w);
}

/* ---- the engine's life ---- */

/* The event sources: nftables, the host's rtnetlink, and the records directory (records are
 * written by rename: a moved-in or removed name is an up or a down). */
static int subscribe(struct ct_watch *w, struct ctnet_err *err)
{
	char path[PATH_MAX];
	int rc, dfd;

	if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return ctnet_err_sys(err, errno, "epoll");
	if ((rc = nat_monitor_open(&w->natmon, err)) < 0)
		return rc;
	if ((rc = netd_monitor_open(-1, err)) < 0)
		return rc;
	w->host = rc;
	if ((dfd = record_dir(true, err)) < 0)
		return dfd;
	close(dfd);
	snprintf(path, sizeof(path), "%s/containers", ctnet_run_dir());
	if ((w->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
	    (w->rec_wd = inotify_add_watch(w->ino, path, IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
							    IN_CLOSE_WRITE | IN_ONLYDIR)) < 0)
		return ctnet_err_sys(err, errno, "inotify %s", path);
	int fds[] = { w->sig, w->ino, w->host, nat_monitor_fd(w->natmon) };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			return ctnet_err_sys(err, errno, "epoll");
	}
	/* Best effort: without it a bpffs unmount is seen at the next NAT pass. */
	struct epoll_event ev = { .events = EPOLLPRI, .data.fd = -1 };
	if ((w->mounts = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)) >= 0 &&
	    (ev.data.fd = w->mounts, epoll_ctl(w->ep, EPOLL_CTL_ADD, w->mounts, &ev) < 0))
		watch_fd_close(&w->mounts);
	return 0;
}

int ct_watch_open(struct ct_watch *w, int sig, ct_watch_report_fn *report, void *data,
		  struct ctnet_err *err)
{
	int rc;

	*w = (struct ct_watch){ .report = report, .data = data, .sig = sig, .ep = -1, .ino = -1,
				.host = -1, .rec_wd = -1, .fwd4 = -1, .fwd6 = -1, .mounts = -1 };
	if ((rc = subscribe(w, err)) < 0)
		ct_watch_close(w);
	return rc;
}

int ct_watch_run(struct ctnet_kern *kern, struct ct_watch *w, struct ctnet_err *err)
{
	/* Subscribed: from here on nothing is missed. Ready, then heal what broke while no
	 * watcher ran (the first pass checks everything: with many containers that takes a
	 * while, and events that arrive meanwhile are served after it). */
	watch_rescan(kern, w);
	w->next_sysctl_ms = watch_now_ms();
	w->next_sweep_ms = watch_now_ms() + SWEEP_PERIOD_MS;
	watch_emit(w, CT_WATCH_READY, NULL, "watching %zu container%s", w->n, w->n == 1 ? "" : "s");
	check_everything(w);

	while (!w->stop) {
		struct epoll_event evs[16];
		int n = epoll_wait(w->ep, evs, ARRAY_SIZE(evs), timeout_ms(w));
		if (n < 0 && errno != EINTR)
			return ctnet_err_sys(err, errno, "epoll_wait");
		for (int i = 0; i < n; i++)
			on_ready(kern, w, evs[i].data.fd);
		if (w->stop)
			break;
		int64_t now = watch_now_ms();
		if (w->due_ms) {
			if (now >= w->due_ms)
				watch_run_pass(kern, w);
		} else if (backoff_due(w, now)) {
			watch_run_pass(kern, w); /* damage held back by a back-off, now due */
		}
		if (now >= w->next_sysctl_ms)
			each_second(kern, w, now);
		if (now >= w->next_sweep_ms) {
			w->next_sweep_ms = now + SWEEP_PERIOD_MS;
			watch_sweep(w);
		}
	}
	return 0;
}

void ct_watch_close(struct ct_watch *w)
{
	for (size_t i = 0; i < w->n; i++)
		watch_cont_free(&w->c[i]);
	free(w->c);
	w->c = NULL;
	w->n = w->cap = 0;
	nat_monitor_close(w->natmon);
	w->natmon = NULL;
	if (w->reap)
		waitpid(w->reap, NULL, 0);
	w->reap = 0;
	watch_fd_close(&w->fwd4);
	watch_fd_close(&w->fwd6);
	watch_fd_close(&w->host);
	watch_fd_close(&w->mounts);
	watch_fd_close(&w->ino);
	watch_fd_close(&w->ep);
}
