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

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One event to the caller: the message is formatted here (at most 511 bytes), never printed. */
static void emit(struct ct_watch *w, enum ct_watch_kind kind, const char *object, const char *fmt, ...)
	CTNET_PRINTF(4, 5);
static void emit(struct ct_watch *w, enum ct_watch_kind kind, const char *object, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->report(&(struct ct_watch_event){ .kind = kind, .object = object, .message = msg }, w->data);
}

/* "container NAME": how a container is named in events. */
static void cont_object(const struct ct_watch_cont *c, char *buf, size_t size)
{
	snprintf(buf, size, "container %s", c->name);
}

/* ---- the pid file: held locked while the watcher runs, read by `ctnet status` ---- */

int ct_watch_running(pid_t *pid)
{
	char buf[32] = "";
	_cleanup_close_ int dfd = ctnet_dir_open(ctnet_run_dir(), "", 0, NULL);
	_cleanup_close_ int fd = -1;

	*pid = 0;
	if (dfd < 0)
		return dfd == -ENOENT ? 0 : dfd;
	if ((fd = openat(dfd, WATCH_PIDFILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		return 0; /* nobody holds it: a watcher that exited */
	if (errno != EWOULDBLOCK)
		return -errno;
	if (pread(fd, buf, sizeof(buf) - 1, 0) > 0)
		*pid = (pid_t)strtol(buf, NULL, 10);
	return 1;
}

int ct_watch_pidfile_take(struct ctnet_err *err)
{
	char buf[32];
	pid_t other;
	_cleanup_close_ int dfd = ctnet_dir_open(ctnet_run_dir(), "", 1, err);
	int fd;

	if (dfd < 0)
		return dfd;
	if ((fd = openat(dfd, WATCH_PIDFILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0)
		return ctnet_err_sys(err, errno, "open %s/%s", ctnet_run_dir(), WATCH_PIDFILE);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK && ct_watch_running(&other) == 1)
			return ctnet_errf(err, EBUSY, "another ctnet watch is running (pid %ld)", (long)other);
		return ctnet_err_sys(err, e, "lock %s/%s", ctnet_run_dir(), WATCH_PIDFILE);
	}
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		int e = errno;
		close(fd);
		return ctnet_err_sys(err, e, "write %s/%s", ctnet_run_dir(), WATCH_PIDFILE);
	}
	return fd; /* kept open (and locked) until exit */
}

/* ---- fights ---- */

/* A repair of f's object happened now: counts the streak, starts or lengthens a back-off. */
static void fight_hit(struct ct_watch *w, struct ct_watch_fight *f, const char *what)
{
	int64_t now = now_ms(), gap = f->backoff_ms * 2 > FIGHT_GAP_MS ? f->backoff_ms * 2 : FIGHT_GAP_MS;

	if (f->last_ms && now - f->last_ms <= gap) {
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
		emit(w, CT_WATCH_FIGHT, what,
		     "keeps being removed or changed by another tool (%u repairs in %.1f s); backing off "
		     "(%d s, doubling up to %d s); everything else is still served",
		     f->streak, (double)(now - f->first_ms) / 1000, BACKOFF_MIN_MS / 1000,
		     BACKOFF_MAX_MS / 1000);
	}
}

static bool fight_waiting(const struct ct_watch_fight *f, int64_t now)
{
	return f->on && now < f->until_ms;
}

/* A fight ends when its object stayed repaired for a while. */
static void fight_settle(struct ct_watch *w, struct ct_watch_fight *f, const char *what, int64_t now)
{
	int64_t quiet = f->backoff_ms * 2 > SETTLE_MS ? f->backoff_ms * 2 : SETTLE_MS;
	if (!f->on || now - f->last_ms < quiet)
		return;
	emit(w, CT_WATCH_SETTLED, what, "stable for %lld s; back-off ended",
	     (long long)(now - f->last_ms) / 1000);
	*f = (struct ct_watch_fight){ 0 };
}

static void fights_settle(struct ct_watch *w, int64_t now)
{
	fight_settle(w, &w->nat_f, NAT_OBJECT, now);
	fight_settle(w, &w->sysctl_f, "sysctl", now);
	for (size_t i = 0; i < w->n; i++) {
		char obj[CTNET_NAME_MAX + 16];
		if (!w->c[i].f.on)
			continue;
		cont_object(&w->c[i], obj, sizeof(obj));
		fight_settle(w, &w->c[i].f, obj, now);
	}
}

/* ---- containers: the records, and a socket in each namespace ---- */

static struct ct_watch_cont *find_name(struct ct_watch *w, const char *name)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->c[i].name, name))
			return &w->c[i];
	return NULL;
}

/* Descriptors held for the watcher's life go above 1023: libraries that select() (libnftables
 * does) abort on a descriptor there, and theirs are the lowest free ones. */
static int fd_high(int fd)
{
	int h = fd >= 0 && fd < 1024 ? fcntl(fd, F_DUPFD_CLOEXEC, 1024) : -1;
	if (h < 0)
		return fd;
	close(fd);
	return h;
}

static void fd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd); /* a socket leaves the epoll set with it */
	*fd = -1;
}

static void cont_free(struct ct_watch_cont *c)
{
	fd_close(&c->mon);
	fd_close(&c->localnet);
	free(c->netns);
	c->netns = NULL;
}

/* Whether the container's namespace is the one recorded (a stat, no file read). */
static bool ns_alive(const struct ct_watch_cont *c)
{
	char path[64];
	struct stat st;
	const char *p = c->netns;

	if (c->pid) {
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)c->pid);
		p = path;
	}
	if (!p || stat(p, &st) < 0)
		return false;
	return !c->ns_ino ||
	       ((unsigned long long)st.st_dev == c->ns_dev && (unsigned long long)st.st_ino == c->ns_ino);
}

static void mon_open(struct ct_watch *w, struct ct_watch_cont *c)
{
	struct ctnet_err e = { 0 };
	int nsfd = netd_netns_open(c->pid ? NULL : c->netns, c->pid, &e);
	if (nsfd < 0)
		return;
	c->mon = fd_high(netd_monitor_open(nsfd, &e));
	close(nsfd);
	if (c->mon < 0) {
		emit(w, CT_WATCH_ERROR, c->name, "cannot watch its namespace: %s", e.msg);
		c->mon = -1;
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = c->mon };
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->mon, &ev) < 0)
		fd_close(&c->mon);
}

/* The link's index and the descriptor of its device's route_localnet, from record r: after
 * a rescan and after each repair (a link made again has a new index, a new sysctl file). */
static void link_refresh(struct ctnet_kern *kern, struct ct_watch_cont *c, const struct ct_record *r)
{
	struct nat_container *nc;
	struct ctnet_err e = { 0 };
	char path[128];

	fd_close(&c->localnet);
	snprintf(c->host_ifname, sizeof(c->host_ifname), "%s", r->host_ifname);
	c->ifindex = r->host_ifname[0] ? (int)if_nametoindex(r->host_ifname) : 0;
	if (!c->nat || !(nc = calloc(1, sizeof(*nc))))
		return;
	nc->name = c->name;
	nc->iface = r->host_ifname;
	nc->n_forwards = r->spec.n_forwards;
	memcpy(nc->forwards, r->spec.forwards, sizeof(nc->forwards[0]) * r->spec.n_forwards);
	c->wants_localnet = nat_localnet_path(kern, nc, path, sizeof(path), &e) == 1;
	if (c->wants_localnet)
		c->localnet = fd_high(open(path, O_RDONLY | O_CLOEXEC));
	free(nc);
}

/* The entry of name, a new closed one when there is none; NULL when out of memory. */
static struct ct_watch_cont *cont_get(struct ct_watch *w, const char *name)
{
	struct ct_watch_cont *c = find_name(w, name);

	if (c)
		return c;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct ct_watch_cont *v = realloc(w->c, cap * sizeof(*v));
		if (!v)
			return NULL;
		w->c = v;
		w->cap = cap;
	}
	c = &w->c[w->n++];
	memset(c, 0, sizeof(*c));
	c->mon = c->localnet = -1;
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

/* `ip netns del` and ctnet's down unlink the namespace's file: an event. */
static void netns_dir_watch(struct ct_watch *w, const char *netns)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(netns, '/');

	if (slash && slash > netns && (size_t)(slash - netns) < sizeof(dir)) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - netns), netns);
		inotify_add_watch(w->ino, dir, IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR);
	}
}

struct rescan_arg {
	struct ctnet_kern *kern;
	struct ct_watch *w;
	struct ct_record *r;
};

static int rescan_one(int dfd, const char *name, void *data)
{
	struct rescan_arg *ra = data;
	struct ct_record *r = ra->r;
	struct ctnet_err e = { 0 };
	const char *why;
	struct ct_watch_cont *c;

	if (record_read_at(dfd, name, r, &e) < 0)
		return 0; /* removed meanwhile, or unreadable: not ours to watch */
	if (!(c = cont_get(ra->w, name)))
		return -ENOMEM;
	c->seen = true;
	bool watch = !r->spec.shared && !r->pending && r->stopping == CT_STOP_NONE &&
		     record_alive(r, &why);
	bool same_ns = c->ns_dev == r->ns_dev && c->ns_ino == r->ns_ino && c->pid == r->pid;
	c->nat = watch && !r->spec.no_nat && r->local.family;
	c->v6 = r->has_v6;
	if (!watch || !same_ns)
		cont_free(c);
	if (watch)
		link_refresh(ra->kern, c, r);
	else
		c->ifindex = 0, c->wants_localnet = false;
	c->pid = r->pid;
	c->ns_dev = r->ns_dev;
	c->ns_ino = r->ns_ino;
	if (watch && !c->netns && !c->pid && (c->netns = strdup(r->netns)))
		netns_dir_watch(ra->w, c->netns);
	if (watch && c->mon < 0)
		mon_open(ra->w, c);
	return 0;
}

/* Containers whose record is gone (not seen by the last rescan): forgotten. */
static void forget_unseen(struct ct_watch *w)
{
	size_t j = 0;

	for (size_t i = 0; i < w->n; i++) {
		if (!w->c[i].seen) {
			cont_free(&w->c[i]);
			continue;
		}
		if (i != j)
			w->c[j] = w->c[i];
		j++;
	}
	w->n = j;
}

static void rescan(struct ctnet_kern *kern, struct ct_watch *w)
{
	struct ct_record *r = malloc(sizeof(*r));
	struct rescan_arg ra = { kern, w, r };
	struct ctnet_err e = { 0 };

	w->rescan = false;
	if (!r)
		return;
	for (size_t i = 0; i < w->n; i++)
		w->c[i].seen = false;
	int dfd = record_dir(true, &e);
	if (dfd >= 0) {
		if (ctnet_dir_foreach(dfd, "records", rescan_one, &ra, &e) < 0)
			emit(w, CT_WATCH_ERROR, NULL, "read records: %s", e.msg);
		close(dfd);
	}
	free(r);
	forget_unseen(w);
}

/* Closes the sockets of namespaces that went away (a socket keeps its namespace alive). */
static void sweep(struct ct_watch *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->c[i].mon >= 0 && !ns_alive(&w->c[i]))
			cont_free(&w->c[i]);
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
static void reap(struct ct_watch *w)
{
	if (w->reap && waitpid(w->reap, NULL, WNOHANG) != 0)
		w->reap = 0;
}

/* Runs nat_repair_child in a child of its own and reads its answer into res: 0, or -1
 * after saying why there is none. The child is left to reap(). */
static int nat_child_run(struct ctnet_kern *kern, struct ct_watch *w, struct nat_result *res)
{
	int pfd[2];
	pid_t pid;
	ssize_t n = -1;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		emit(w, CT_WATCH_ERROR, "nft", "restore: pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		emit(w, CT_WATCH_ERROR, "nft", "restore: fork: %s", strerror(errno));
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
	reap(w);
	if (n != (ssize_t)sizeof(*res)) {
		emit(w, CT_WATCH_ERROR, "nft", "restore: the child (pid %ld) died without an answer", (long)pid);
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

	w->nat_dirty = false;
	reap(w);
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
		emit(w, CT_WATCH_ERROR, "nft", "check table inet ctnet: %s", res.e.msg);
		return;
	case 2:
		emit(w, CT_WATCH_ERROR, "nft", "restore table inet ctnet: %s", res.e.msg);
		break;
	default:
		emit(w, CT_WATCH_REPAIRED, "nft", "table inet ctnet restored (%s%s)", res.k.first,
		     res.k.missing > 1 ? ", ..." : "");
		localnets_recheck(w);
	}
	fight_hit(w, &w->nat_f, NAT_OBJECT);
}

/* Each repair in rep, said; a container repaired counts towards its fight. */
static void converge_said(struct ct_watch *w, struct ct_watch_cont *c, const char *obj,
			  const struct ct_report *rep)
{
	bool repaired = false;

	for (size_t i = 0; i < rep->n; i++)
		if (rep->v[i].repair) {
			emit(w, CT_WATCH_REPAIRED, obj, "%s", rep->v[i].what);
			repaired = true;
		}
	if (repaired)
		fight_hit(w, &c->f, obj);
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

	c->dirty = false;
	cont_object(c, obj, sizeof(obj));
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
	close(lock);
	lock = -1;
	link_refresh(kern, c, rc < 0 ? have : out);
	if (rc < 0) {
		emit(w, CT_WATCH_ERROR, obj, "converge: %s", e.msg);
		fight_hit(w, &c->f, obj);
		goto out;
	}
	converge_said(w, c, obj, rep);
out:
	if (lock >= 0)
		close(lock);
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

static void repair_sysctls(struct ctnet_kern *kern, struct ct_watch *w)
{
	struct ctnet_err e = { 0 };
	char changed[200];
	bool any = false, v6 = false;
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
		emit(w, CT_WATCH_ERROR, "sysctl", "%s", e.msg);
		return;
	}
	if (n > 0) {
		emit(w, CT_WATCH_REPAIRED, "sysctl", "%s was off", changed);
		fight_hit(w, &w->sysctl_f, "sysctl");
	}
}

/* A thirtieth of the containers' route_localnet each second (one pread each): one found off
 * makes its container dirty, and the converge puts it back (and says so). */
static bool check_localnets(struct ct_watch *w)
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
static void run_pass(struct ctnet_kern *kern, struct ct_watch *w)
{
	int64_t now = now_ms();
	struct ct_view view = { 0 };
	struct ctnet_err e = { 0 };
	size_t due = 0;

	w->due_ms = 0;
	if (w->rescan)
		rescan(kern, w);
	if (w->nat_dirty && !fight_waiting(&w->nat_f, now))
		repair_nat(kern, w);
	if (w->sysctl_dirty && !fight_waiting(&w->sysctl_f, now))
		repair_sysctls(kern, w);
	w->sysctl_dirty = false;
	for (size_t i = 0; i < w->n; i++) {
		struct ct_watch_cont *c = &w->c[i];
		if (w->all_dirty && c->mon >= 0)
			c->dirty = true;
		due += c->dirty && !fight_waiting(&c->f, now);
	}
	w->all_dirty = false;
	/* Each converge compares its container's NAT elements with a read of the whole table:
	 * more than one in this pass share one read (taken after the restore above, so it sees
	 * the table as rebuilt); a single one reads it itself. */
	if (due > 1 && nat_counters_read(kern, &view.nat, &e) < 0)
		view.nat = NULL; /* each converge reads it then */
	for (size_t i = 0; i < w->n && !w->stop; i++) {
		struct ct_watch_cont *c = &w->c[i];
		if (c->dirty && !fight_waiting(&c->f, now))
			converge_one(kern, w, c, &view);
	}
	nat_counters_free(view.nat);
	/* A converge that found the table gone rebuilt it here (libnftables): free its context
	 * and sockets rather than keep them for the watcher's life. */
	if (due)
		nat_release(kern, false);
	w->last_pass_ms = now_ms();
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
	int64_t now = now_ms();
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
		emit(w, CT_WATCH_ERROR, NULL, "%s", e.msg);
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
		fd_close(&c->mon); /* the namespace is going away */
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
		emit(w, CT_WATCH_ERROR, "nft", "%s", e.msg);
	}
}

/* A namespace file named name went: closes the socket of whoever used it. */
static void netns_gone(struct ct_watch *w, const char *name)
{
	for (size_t i = 0; i < w->n; i++) {
		const char *b = w->c[i].netns ? strrchr(w->c[i].netns, '/') : NULL;
		if (b && !strcmp(b + 1, name) && w->c[i].mon >= 0 && !ns_alive(&w->c[i]))
			cont_free(&w->c[i]);
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
				sweep(w);
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
			emit(w, CT_WATCH_RELOAD, NULL, "re-reading records, checking everything");
			rescan(kern, w);
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
	else
		for (size_t j = 0; j < w->n; j++)
			if (w->c[j].mon == fd) {
				on_container(w, &w->c[j]);
				break;
			}
}

static bool backoff_due(const struct ct_watch *w, int64_t now)
{
	if (w->nat_dirty && w->nat_f.on && !fight_waiting(&w->nat_f, now))
		return true;
	for (size_t i = 0; i < w->n; i++)
		if (w->c[i].dirty && w->c[i].f.on && !fight_waiting(&w->c[i].f, now))
			return true;
	return false;
}

static int timeout_ms(const struct ct_watch *w)
{
	int64_t now = now_ms(), next = w->next_sysctl_ms;
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
	if (!fight_waiting(&w->sysctl_f, now))
		repair_sysctls(kern, w);
	if (check_localnets(w))
		schedule(w); /* converged in a pass of its own */
	fights_settle(w, now);
	reap(w);
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
	return 0;
}

int ct_watch_open(struct ct_watch *w, int sig, ct_watch_report_fn *report, void *data,
		  struct ctnet_err *err)
{
	int rc;

	*w = (struct ct_watch){ .report = report, .data = data, .sig = sig, .ep = -1, .ino = -1,
				.host = -1, .rec_wd = -1, .fwd4 = -1, .fwd6 = -1 };
	if ((rc = subscribe(w, err)) < 0)
		ct_watch_close(w);
	return rc;
}

int ct_watch_run(struct ctnet_kern *kern, struct ct_watch *w, struct ctnet_err *err)
{
	/* Subscribed: from here on nothing is missed. Ready, then heal what broke while no
	 * watcher ran (the first pass checks everything: with many containers that takes a
	 * while, and events that arrive meanwhile are served after it). */
	rescan(kern, w);
	w->next_sysctl_ms = now_ms();
	w->next_sweep_ms = now_ms() + SWEEP_PERIOD_MS;
	emit(w, CT_WATCH_READY, NULL, "watching %zu container%s", w->n, w->n == 1 ? "" : "s");
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
		int64_t now = now_ms();
		if (w->due_ms) {
			if (now >= w->due_ms)
				run_pass(kern, w);
		} else if (backoff_due(w, now)) {
			run_pass(kern, w); /* damage held back by a back-off, now due */
		}
		if (now >= w->next_sysctl_ms)
			each_second(kern, w, now);
		if (now >= w->next_sweep_ms) {
			w->next_sweep_ms = now + SWEEP_PERIOD_MS;
			sweep(w);
		}
	}
	return 0;
}

void ct_watch_close(struct ct_watch *w)
{
	for (size_t i = 0; i < w->n; i++)
		cont_free(&w->c[i]);
	free(w->c);
	w->c = NULL;
	w->n = w->cap = 0;
	nat_monitor_close(w->natmon);
	w->natmon = NULL;
	if (w->reap)
		waitpid(w->reap, NULL, 0);
	w->reap = 0;
	fd_close(&w->fwd4);
	fd_close(&w->fwd6);
	fd_close(&w->host);
	fd_close(&w->ino);
	fd_close(&w->ep);
}
