/* SPDX-License-Identifier: MIT */
/*
 * ctnet watch: a foreground daemon that puts back what others remove. It listens to
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
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../netd/netd.h"
#include "cli.h"
#include "ctnet.h"
#include "state.h"

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

struct fight {
	int64_t first_ms, last_ms, until_ms, backoff_ms;
	unsigned streak;
	bool on;
};

/* A container being watched: what maps events to it, and its own socket inside. */
struct wcont {
	char name[CTNET_NAME_MAX + 1];
	char host_ifname[IFNAMSIZ];
	int ifindex;
	pid_t pid;
	char *netns; /* path when pid is 0 */
	unsigned long long ns_dev, ns_ino;
	int mon;     /* rtnetlink socket in the container's namespace, or -1 */
	int localnet; /* its device's route_localnet, open, or -1 (none needed) */
	bool nat, v6, wants_localnet, dirty, seen;
	struct fight f;
};

static struct {
	bool json;
	int ep, sig, ino, host;
	int rec_wd; /* the inotify watch of the records; others are namespace directories */
	int fwd4, fwd6; /* ip_forward, conf/all/forwarding: open for pread, or -1 */
	struct nat_monitor *natmon;
	struct wcont *c;
	size_t n, cap, localnet_next;
	bool rescan, nat_dirty, all_dirty, sysctl_dirty, stop;
	struct fight nat_f, sysctl_f;
	unsigned wakeups;  /* schedule() calls since the pending pass was scheduled */
	pid_t reap;        /* a restore child not yet waited for, or 0 */
	int64_t due_ms, first_ms, last_pass_ms, next_sysctl_ms, next_sweep_ms;
} W = { .ep = -1, .sig = -1, .ino = -1, .host = -1, .fwd4 = -1, .fwd6 = -1 };

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line per event: "ctnet watch: EVENT OBJECT: MESSAGE", or a JSON object per line. */
static void logf_(const char *event, const char *object, const char *fmt, ...) CTNET_PRINTF(3, 4);
static void logf_(const char *event, const char *object, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (W.json) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		json_t *o = json_object();
		json_object_set_new(o, "time", json_real((double)ts.tv_sec + ts.tv_nsec / 1e9));
		json_object_set_new(o, "event", json_string(event));
		if (object)
			json_object_set_new(o, "object", json_string(object));
		json_object_set_new(o, "message", json_string(msg));
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		printf("ctnet watch: %s%s%s: %s\n", event, object ? " " : "", object ? object : "", msg);
	}
	fflush(stdout);
}

/* sd_notify(3)'s datagram protocol, without libsystemd: one message to $NOTIFY_SOCKET. */
static void notify(const char *msg)
{
	const char *p = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;
	int fd;

	if (!p || (p[0] != '/' && p[0] != '@') || (n = strlen(p)) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, p, n);
	if (p[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	close(fd);
}

/* ---- the pid file: held locked while the watcher runs, read by `ctnet status` ---- */

int watch_running(pid_t *pid)
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

static int pidfile_take(struct ctnet_err *err)
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
		if (e == EWOULDBLOCK && watch_running(&other) == 1)
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
static void fight_hit(struct fight *f, const char *what)
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
		logf_("fight", what,
		      "keeps being removed or changed by another tool (%u repairs in %.1f s); backing off "
		      "(%d s, doubling up to %d s); everything else is still served",
		      f->streak, (double)(now - f->first_ms) / 1000, BACKOFF_MIN_MS / 1000,
		      BACKOFF_MAX_MS / 1000);
	}
}

static bool fight_waiting(const struct fight *f, int64_t now)
{
	return f->on && now < f->until_ms;
}

/* A fight ends when its object stayed repaired for a while. */
static void fight_settle(struct fight *f, const char *what, int64_t now)
{
	int64_t quiet = f->backoff_ms * 2 > SETTLE_MS ? f->backoff_ms * 2 : SETTLE_MS;
	if (!f->on || now - f->last_ms < quiet)
		return;
	logf_("settled", what, "stable for %lld s; back-off ended", (long long)(now - f->last_ms) / 1000);
	*f = (struct fight){ 0 };
}

/* ---- containers: the records, and a socket in each namespace ---- */

static struct wcont *find_name(const char *name)
{
	for (size_t i = 0; i < W.n; i++)
		if (!strcmp(W.c[i].name, name))
			return &W.c[i];
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

static void mon_close(struct wcont *c)
{
	if (c->mon >= 0)
		close(c->mon); /* leaves the epoll set with it */
	c->mon = -1;
}

static void localnet_close(struct wcont *c)
{
	if (c->localnet >= 0)
		close(c->localnet);
	c->localnet = -1;
}

static void cont_free(struct wcont *c)
{
	mon_close(c);
	localnet_close(c);
	free(c->netns);
	c->netns = NULL;
}

/* Whether the container's namespace is the one recorded (a stat, no file read). */
static bool ns_alive(const struct wcont *c)
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

static void mon_open(struct wcont *c)
{
	struct ctnet_err e = { 0 };
	int nsfd = netd_netns_open(c->pid ? NULL : c->netns, c->pid, &e);
	if (nsfd < 0)
		return;
	c->mon = fd_high(netd_monitor_open(nsfd, &e));
	close(nsfd);
	if (c->mon < 0) {
		logf_("error", c->name, "cannot watch its namespace: %s", e.msg);
		c->mon = -1;
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = c->mon };
	if (epoll_ctl(W.ep, EPOLL_CTL_ADD, c->mon, &ev) < 0)
		mon_close(c);
}

/* The link's index and the descriptor of its device's route_localnet, from record r: after
 * a rescan and after each repair (a link made again has a new index, a new sysctl file). */
static void link_refresh(struct ctnet_kern *kern, struct wcont *c, const struct ct_record *r)
{
	struct nat_container *nc;
	struct ctnet_err e = { 0 };
	char path[128];

	localnet_close(c);
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

struct rescan_arg {
	struct ctnet_kern *kern;
	struct ct_record *r;
};

static int rescan_one(int dfd, const char *name, void *data)
{
	struct rescan_arg *ra = data;
	struct ctnet_kern *kern = ra->kern;
	struct ct_record *r = ra->r;
	struct ctnet_err e = { 0 };
	const char *why;
	struct wcont *c;

	if (record_read_at(dfd, name, r, &e) < 0)
		return 0; /* removed meanwhile, or unreadable: not ours to watch */
	if (!(c = find_name(name))) {
		if (W.n == W.cap) {
			size_t cap = W.cap ? W.cap * 2 : 16;
			struct wcont *v = realloc(W.c, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			W.c = v;
			W.cap = cap;
		}
		c = &W.c[W.n++];
		memset(c, 0, sizeof(*c));
		c->mon = c->localnet = -1;
		snprintf(c->name, sizeof(c->name), "%s", name);
	}
	c->seen = true;
	bool watch = !r->spec.shared && !r->pending && r->stopping == CT_STOP_NONE &&
		     record_alive(r, &why);
	bool same_ns = c->ns_dev == r->ns_dev && c->ns_ino == r->ns_ino && c->pid == r->pid;
	c->nat = watch && !r->spec.no_nat && r->local.family;
	c->v6 = r->has_v6;
	if (!watch || !same_ns)
		cont_free(c);
	if (watch)
		link_refresh(kern, c, r);
	else
		c->ifindex = 0, c->wants_localnet = false;
	c->pid = r->pid;
	c->ns_dev = r->ns_dev;
	c->ns_ino = r->ns_ino;
	if (watch && !c->netns && !c->pid && (c->netns = strdup(r->netns))) {
		/* `ip netns del` and ctnet's down unlink the namespace's file: an event. */
		char dir[PATH_MAX];
		const char *slash = strrchr(c->netns, '/');
		if (slash && slash > c->netns && (size_t)(slash - c->netns) < sizeof(dir)) {
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - c->netns), c->netns);
			inotify_add_watch(W.ino, dir, IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR);
		}
	}
	if (watch && c->mon < 0)
		mon_open(c);
	return 0;
}

static void rescan(struct ctnet_kern *kern)
{
	struct ct_record *r = malloc(sizeof(*r));
	struct rescan_arg ra = { kern, r };
	struct ctnet_err e = { 0 };
	size_t j = 0;

	W.rescan = false;
	if (!r)
		return;
	for (size_t i = 0; i < W.n; i++)
		W.c[i].seen = false;
	int dfd = record_dir(true, &e);
	if (dfd >= 0) {
		if (ctnet_dir_foreach(dfd, "records", rescan_one, &ra, &e) < 0)
			logf_("error", NULL, "read records: %s", e.msg);
		close(dfd);
	}
	free(r);
	/* Containers whose record is gone: forget them. */
	for (size_t i = 0; i < W.n; i++) {
		if (!W.c[i].seen) {
			cont_free(&W.c[i]);
			continue;
		}
		if (i != j)
			W.c[j] = W.c[i];
		j++;
	}
	W.n = j;
}

/* Closes the sockets of namespaces that went away (a socket keeps its namespace alive). */
static void sweep(void)
{
	for (size_t i = 0; i < W.n; i++)
		if (W.c[i].mon >= 0 && !ns_alive(&W.c[i]))
			cont_free(&W.c[i]);
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
static void reap(void)
{
	if (W.reap && waitpid(W.reap, NULL, WNOHANG) != 0)
		W.reap = 0;
}

static void repair_nat(struct ctnet_kern *kern)
{
	struct nat_result res = { 0 };
	int pfd[2];
	pid_t pid;
	ssize_t n = -1;

	W.nat_dirty = false;
	reap();
	if (W.reap) {
		waitpid(W.reap, NULL, 0); /* the last one has not exited yet: one at a time */
		W.reap = 0;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		logf_("error", "nft", "restore: pipe: %s", strerror(errno));
		return;
	}
	if ((pid = fork()) < 0) {
		logf_("error", "nft", "restore: fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return;
	}
	if (pid == 0) {
		/* Only the pipe, on fd 3: libnftables waits for the kernel with select(), which
		 * aborts on a descriptor above 1023 (the watcher holds two per container). */
		ctnet_kern_forked(kern); /* the parent's handles are not the child's: it opens its own */
		if (pfd[1] != 3 && dup2(pfd[1], 3) < 0)
			_exit(2);
		close_range(4, ~0U, 0);
		nat_repair_child(kern, &res);
		_exit(write(3, &res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 1);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], &res, sizeof(res))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	W.reap = pid;
	reap();
	if (n != (ssize_t)sizeof(res)) {
		logf_("error", "nft", "restore: the child (pid %ld) died without an answer", (long)pid);
		return;
	}
	switch (res.stage) {
	case 0:
		return;
	case 1:
		logf_("error", "nft", "check table inet ctnet: %s", res.e.msg);
		return;
	case 2:
		logf_("error", "nft", "restore table inet ctnet: %s", res.e.msg);
		break;
	default:
		logf_("repaired", "nft", "table inet ctnet restored (%s%s)", res.k.first,
		      res.k.missing > 1 ? ", ..." : "");
		/* The rebuild leaves route_localnet alone (a flush of the ruleset does too): read
		 * every container's now, and converge those found off in this pass. */
		for (size_t i = 0; i < W.n; i++) {
			struct wcont *c = &W.c[i];
			char v = 0;
			if (c->wants_localnet && c->mon >= 0 &&
			    !(c->localnet >= 0 && pread(c->localnet, &v, 1, 0) == 1 && v == '1'))
				c->dirty = true;
		}
	}
	fight_hit(&W.nat_f, "nft table inet ctnet");
}

static void converge_one(struct ctnet_kern *kern, struct wcont *c, const struct ct_view *view)
{
	struct ct_record *have = malloc(sizeof(*have)), *out = malloc(sizeof(*out));
	struct ct_report *rep = calloc(1, sizeof(*rep));
	struct ctnet_err e = { 0 };
	char obj[CTNET_NAME_MAX + 16];
	const char *why;
	int lock = -1, rc;

	c->dirty = false;
	snprintf(obj, sizeof(obj), "container %s", c->name);
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
		logf_("error", obj, "converge: %s", e.msg);
		fight_hit(&c->f, obj);
		goto out;
	}
	bool repaired = false;
	for (size_t i = 0; i < rep->n; i++)
		if (rep->v[i].repair) {
			logf_("repaired", obj, "%s", rep->v[i].what);
			repaired = true;
		}
	if (repaired)
		fight_hit(&c->f, obj);
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

static void repair_sysctls(struct ctnet_kern *kern)
{
	struct ctnet_err e = { 0 };
	char changed[200];
	bool any = false, v6 = false;
	int n;

	for (size_t i = 0; i < W.n; i++)
		if (W.c[i].nat) {
			any = true;
			v6 |= W.c[i].v6;
		}
	if (!any)
		return; /* no container needs them: not ours to touch */
	/* The common case, all on: one pread each, nothing else. */
	if (sysctl_on(&W.fwd4, IP_FORWARD) && (!v6 || sysctl_on(&W.fwd6, IP6_FORWARD)))
		return;
	if ((n = nat_sysctls_repair(kern, v6, NULL, changed, sizeof(changed), &e)) < 0) {
		logf_("error", "sysctl", "%s", e.msg);
		return;
	}
	if (n > 0) {
		logf_("repaired", "sysctl", "%s was off", changed);
		fight_hit(&W.sysctl_f, "sysctl");
	}
}

/* A thirtieth of the containers' route_localnet each second (one pread each): one found off
 * makes its container dirty, and the converge puts it back (and says so). */
static bool check_localnets(void)
{
	size_t want = (W.n + LOCALNET_ROUNDS - 1) / LOCALNET_ROUNDS;
	bool dirty = false;

	for (size_t k = 0; k < want && W.n; k++) {
		struct wcont *c = &W.c[W.localnet_next++ % W.n];
		char v = 0;
		if (!c->wants_localnet || c->mon < 0)
			continue;
		if (c->localnet >= 0 && pread(c->localnet, &v, 1, 0) == 1 && v == '1')
			continue;
		/* Off, or its descriptor is stale (the link was made again): the converge checks
		 * the device and reopens it. */
		c->dirty = dirty = true;
	}
	W.localnet_next %= W.n ? W.n : 1;
	return dirty;
}

/* The debounced pass: everything marked since the last one. */
static void run_pass(struct ctnet_kern *kern)
{
	int64_t now = now_ms();
	struct ct_view view = { 0 };
	struct ctnet_err e = { 0 };
	size_t due = 0;

	W.due_ms = 0;
	if (W.rescan)
		rescan(kern);
	if (W.nat_dirty && !fight_waiting(&W.nat_f, now))
		repair_nat(kern);
	if (W.sysctl_dirty && !fight_waiting(&W.sysctl_f, now))
		repair_sysctls(kern);
	W.sysctl_dirty = false;
	for (size_t i = 0; i < W.n; i++) {
		struct wcont *c = &W.c[i];
		if (W.all_dirty && c->mon >= 0)
			c->dirty = true;
		due += c->dirty && !fight_waiting(&c->f, now);
	}
	W.all_dirty = false;
	/* Each converge compares its container's NAT elements with a read of the whole table:
	 * more than one in this pass share one read (taken after the restore above, so it sees
	 * the table as rebuilt); a single one reads it itself. */
	if (due > 1 && nat_counters_read(kern, &view.nat, &e) < 0)
		view.nat = NULL; /* each converge reads it then */
	for (size_t i = 0; i < W.n && !W.stop; i++) {
		struct wcont *c = &W.c[i];
		if (c->dirty && !fight_waiting(&c->f, now))
			converge_one(kern, c, &view);
	}
	nat_counters_free(view.nat);
	/* A converge that found the table gone rebuilt it here (libnftables): free its context
	 * and sockets rather than keep them for the watcher's life. */
	if (due)
		nat_release(kern, false);
	W.last_pass_ms = now_ms();
}

/* ---- events ---- */

/*
 * A pass is due DEBOUNCE_FIRST_MS after the first event: a deleted route or address is one
 * message (a flush of the ruleset one read of many), and waiting longer only delays the
 * repair. While events keep coming (several wakeups before the pass, or events right after
 * the last pass: a firewall reloading in several transactions) the pass waits until the
 * burst has been quiet for DEBOUNCE_MS, at most DEBOUNCE_MAX_MS after its first event.
 */
static void schedule(void)
{
	int64_t now = now_ms();
	bool burst;

	if (!W.due_ms) {
		W.first_ms = now;
		W.wakeups = 0;
	}
	burst = ++W.wakeups >= BURST_EVENTS ||
		(W.last_pass_ms && W.first_ms - W.last_pass_ms < BURST_GAP_MS);
	if (!burst) {
		if (!W.due_ms)
			W.due_ms = now + DEBOUNCE_FIRST_MS;
		return;
	}
	W.due_ms = now + DEBOUNCE_MS;
	if (W.due_ms > W.first_ms + DEBOUNCE_MAX_MS)
		W.due_ms = W.first_ms + DEBOUNCE_MAX_MS;
}

static void host_event(const struct netd_event *ev, void *data)
{
	(void)data;
	if (ev->kind == NETD_EV_FORWARDING_OFF) {
		W.sysctl_dirty = true;
		schedule();
		return;
	}
	for (size_t i = 0; i < W.n; i++) {
		struct wcont *c = &W.c[i];
		if ((ev->ifindex && ev->ifindex == c->ifindex) ||
		    (ev->ifname[0] && !strcmp(ev->ifname, c->host_ifname))) {
			c->dirty = true;
			schedule();
		}
	}
}

static void on_host(void)
{
	struct ctnet_err e = { 0 };
	int n = netd_monitor_read(W.host, host_event, NULL, &e);
	if (n == -ENOBUFS) {
		W.all_dirty = true; /* events were lost: check everyone */
		schedule();
	} else if (n < 0) {
		logf_("error", NULL, "%s", e.msg);
	}
}

static void on_container(struct wcont *c)
{
	struct ctnet_err e = { 0 };
	int n = netd_monitor_read(c->mon, NULL, NULL, &e);
	if (n > 0 || n == -ENOBUFS) {
		c->dirty = true;
		schedule();
	} else if (n < 0) {
		mon_close(c); /* the namespace is going away */
	}
}

static void on_nft(void)
{
	struct ctnet_err e = { 0 };
	int n = nat_monitor_read(W.natmon, &e);
	if (n > 0 || n == -ENOBUFS) {
		W.nat_dirty = true;
		schedule();
	} else if (n < 0) {
		logf_("error", "nft", "%s", e.msg);
	}
}

static void on_inotify(void)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	ssize_t n;

	/* Which record does not matter (a rescan is one directory walk), but dot files are
	 * locks (each converge takes one) and temporary files: not a record changing. */
	while ((n = read(W.ino, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				any = true;
				sweep();
			} else if (ev->wd != W.rec_wd) {
				/* A namespace file went: close the socket of whoever used it. */
				for (size_t i = 0; ev->len && i < W.n; i++) {
					const char *b = W.c[i].netns ? strrchr(W.c[i].netns, '/') : NULL;
					if (b && !strcmp(b + 1, ev->name) && W.c[i].mon >= 0 &&
					    !ns_alive(&W.c[i]))
						cont_free(&W.c[i]);
				}
			} else if (!ev->len || ev->name[0] != '.') {
				any = true;
			}
		}
	if (any) {
		W.rescan = true;
		schedule();
	}
}

static void check_everything(void)
{
	W.rescan = W.nat_dirty = W.all_dirty = true;
	schedule();
}

static void on_signal(struct ctnet_kern *kern)
{
	struct signalfd_siginfo si;
	while (read(W.sig, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			notify("RELOADING=1");
			logf_("reload", NULL, "re-reading records, checking everything");
			rescan(kern);
			check_everything();
			notify("READY=1");
		} else {
			W.stop = true;
		}
	}
}

static bool backoff_due(int64_t now)
{
	if (W.nat_dirty && W.nat_f.on && !fight_waiting(&W.nat_f, now))
		return true;
	for (size_t i = 0; i < W.n; i++)
		if (W.c[i].dirty && W.c[i].f.on && !fight_waiting(&W.c[i].f, now))
			return true;
	return false;
}

static int timeout_ms(void)
{
	int64_t now = now_ms(), next = W.next_sysctl_ms;
	if (W.due_ms && W.due_ms < next)
		next = W.due_ms;
	/* Damage held back by a fight is repaired when its back-off ends. */
	if (W.nat_dirty && W.nat_f.on && W.nat_f.until_ms < next)
		next = W.nat_f.until_ms;
	for (size_t i = 0; i < W.n; i++)
		if (W.c[i].dirty && W.c[i].f.on && W.c[i].f.until_ms < next)
			next = W.c[i].f.until_ms;
	return next <= now ? 0 : (int)(next - now);
}

static void usage(void)
{
	printf("Usage: ctnet watch [--json]\n"
	       "Stays in the foreground and puts back what others remove: ctnet's nftables table\n"
	       "(after nft flush ruleset or a firewall reload), its chains, sets and elements,\n"
	       "containers' host links, addresses and routes (both sides), and the sysctls NAT\n"
	       "needs (forwarding on its event and each second, each container's route_localnet\n"
	       "every 30 s). One log line per repair on stdout; --json: JSON\n"
	       "lines. SIGHUP re-reads the records; SIGTERM/SIGINT exit 0. Readiness is sent to\n"
	       "systemd (Type=notify) when $NOTIFY_SOCKET is set.\n");
}

static int setup(struct ctnet_err *err)
{
	sigset_t set;
	struct rlimit rl;
	int rc;

	/* One socket per container namespace: allow as many as the hard limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (W.sig = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return ctnet_err_sys(err, errno, "signalfd");
	if ((W.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return ctnet_err_sys(err, errno, "epoll");
	if ((rc = nat_monitor_open(&W.natmon, err)) < 0)
		return rc;
	if ((W.host = netd_monitor_open(-1, err)) < 0)
		return W.host;
	/* Records are written by rename: a moved-in or removed name is an up or a down. */
	int dfd = record_dir(true, err);
	if (dfd < 0)
		return dfd;
	close(dfd);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/containers", ctnet_run_dir());
	if ((W.ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
	    (W.rec_wd = inotify_add_watch(W.ino, path, IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
							   IN_CLOSE_WRITE | IN_ONLYDIR)) < 0)
		return ctnet_err_sys(err, errno, "inotify %s", path);
	int fds[] = { W.sig, W.ino, W.host, nat_monitor_fd(W.natmon) };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
		if (epoll_ctl(W.ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			return ctnet_err_sys(err, errno, "epoll");
	}
	return 0;
}

int cmd_watch(struct ctnet_kern *kern, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctnet_err err = { 0 };
	int opt, pidfd;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return usage(), 0;
		if (opt != 'j')
			return ctnet_cli_usage("watch: bad option");
		W.json = true;
	}
	if (optind < argc)
		return ctnet_cli_usage("watch: unexpected argument \"%.40s\"", argv[optind]);
	if ((pidfd = pidfile_take(&err)) < 0 || setup(&err) < 0)
		return ctnet_cli_fail(&err);

	/* Subscribed: from here on nothing is missed. Ready, then heal what broke while no
	 * watcher ran (the first pass checks everything: with many containers that takes a
	 * while, and events that arrive meanwhile are served after it). */
	rescan(kern);
	W.next_sysctl_ms = now_ms();
	W.next_sweep_ms = now_ms() + SWEEP_PERIOD_MS;
	logf_("ready", NULL, "watching %zu container%s", W.n, W.n == 1 ? "" : "s");
	notify("READY=1");
	check_everything();

	while (!W.stop) {
		struct epoll_event evs[16];
		int n = epoll_wait(W.ep, evs, ARRAY_SIZE(evs), timeout_ms());
		if (n < 0 && errno != EINTR) {
			ctnet_err_sys(&err, errno, "epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == W.sig)
				on_signal(kern);
			else if (fd == W.ino)
				on_inotify();
			else if (fd == W.host)
				on_host();
			else if (fd == nat_monitor_fd(W.natmon))
				on_nft();
			else
				for (size_t j = 0; j < W.n; j++)
					if (W.c[j].mon == fd) {
						on_container(&W.c[j]);
						break;
					}
		}
		if (W.stop)
			break;
		int64_t now = now_ms();
		if (W.due_ms) {
			if (now >= W.due_ms)
				run_pass(kern);
		} else if (backoff_due(now)) {
			run_pass(kern); /* damage held back by a back-off, now due */
		}
		if (now >= W.next_sysctl_ms) {
			W.next_sysctl_ms = now + SYSCTL_PERIOD_MS;
			if (!fight_waiting(&W.sysctl_f, now))
				repair_sysctls(kern);
			if (check_localnets())
				schedule(); /* converged in a pass of its own */
			fight_settle(&W.nat_f, "nft table inet ctnet", now);
			fight_settle(&W.sysctl_f, "sysctl", now);
			for (size_t i = 0; i < W.n; i++) {
				char obj[CTNET_NAME_MAX + 16];
				if (!W.c[i].f.on)
					continue;
				snprintf(obj, sizeof(obj), "container %s", W.c[i].name);
				fight_settle(&W.c[i].f, obj, now);
			}
			reap();
		}
		if (now >= W.next_sweep_ms) {
			W.next_sweep_ms = now + SWEEP_PERIOD_MS;
			sweep();
		}
	}
	notify("STOPPING=1");
	for (size_t i = 0; i < W.n; i++)
		cont_free(&W.c[i]);
	free(W.c);
	nat_monitor_close(W.natmon);
	if (W.reap)
		waitpid(W.reap, NULL, 0);
	if (W.fwd4 >= 0)
		close(W.fwd4);
	if (W.fwd6 >= 0)
		close(W.fwd6);
	close(W.host);
	close(W.ino);
	close(W.ep);
	close(W.sig);
	close(pidfd);
	if (err.msg[0])
		return ctnet_cli_fail(&err);
	logf_("exit", NULL, "stopped");
	return 0;
}
