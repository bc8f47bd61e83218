/* SPDX-License-Identifier: MIT */
/*
 * The `ctnet dns` engine (dnsrun.h). At start it syncs every record's hosts file and
 * resolv.conf (and removes the files of names without a record), then starts dnsmasq:
 *
 *   dnsmasq --keep-in-foreground --no-hosts --conf-file=/dev/null --hostsdir=DIR
 *           --interface=ve-* [--interface=BRIDGE]... --bind-dynamic --except-interface=lo
 *           --resolv-file=F --domain=D --expand-hosts --local=/D/ --domain-needed
 *
 * It listens only on the addresses of ctnet's host sides (ve-*, followed as they come and
 * go: --bind-dynamic) and of the bridges (and host sides of other names) its containers use,
 * never on an interface a default route leaves through; with --bind-dynamic dnsmasq also
 * ignores a query for one of those addresses that arrives on another interface (the uplink),
 * so it is not an open resolver. Names under D it does not know are NXDOMAIN (--local), bare
 * names are never forwarded (--domain-needed), everything else goes to the servers of F.
 *
 * Then it waits: an inotify event on the records directory syncs the one name it names (a
 * removed container's hosts file goes at once, and dnsmasq's own inotify on DIR forgets it);
 * a change of the interfaces to listen on restarts dnsmasq. Per event the cost is one record
 * read and at most one file written, whatever the number of containers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <search.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dnsrun.h"
#include "launch.h"
#include "state.h"

#define REC_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_ONLYDIR)
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

static void emit(struct dns_run *d, enum ct_dns_kind kind, const char *object, const char *fmt, ...)
	CTNET_PRINTF(4, 5);
static void emit(struct dns_run *d, enum ct_dns_kind kind, const char *object, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->report(&(struct ct_dns_event){ .kind = kind, .object = object, .message = msg }, d->data);
}

/* ---- dnsmasq's command line ---- */

int ct_dns_argv(const struct ct_dns_opts *o, const char *hostsdir, const char (*ifaces)[IFNAMSIZ], size_t n,
		char **argv, size_t max, char *buf, size_t len)
{
	static const char *const fixed[] = {
		"--keep-in-foreground", "--no-hosts", "--conf-file=/dev/null", "--pid-file=", "--log-facility=-",
		"--interface=ve-*", "--bind-dynamic", "--except-interface=lo", "--expand-hosts", "--domain-needed",
	};
	size_t k = 0, used = 0;
	int w;

#define ARG(...)                                                                  \
	do {                                                                      \
		if (k + 1 >= max || used >= len)                                  \
			return -ENOSPC;                                           \
		w = snprintf(buf + used, len - used, __VA_ARGS__);                \
		if (w < 0 || (size_t)w >= len - used)                             \
			return -ENOSPC;                                           \
		argv[k++] = buf + used;                                           \
		used += (size_t)w + 1;                                            \
	} while (0)
	ARG("%s", o->dnsmasq);
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		ARG("%s", fixed[i]);
	ARG("--hostsdir=%s", hostsdir);
	for (size_t i = 0; i < n; i++)
		ARG("--interface=%s", ifaces[i]);
	ARG("--resolv-file=%s", o->resolv_file);
	ARG("--domain=%s", o->domain);
	ARG("--local=/%s/", o->domain);
#undef ARG
	argv[k] = NULL;
	return (int)k;
}

/* ---- the interfaces to listen on ---- */

static bool route_file_has(const char *path, const char *ifname, bool v6)
{
	FILE *f = fopen(path, "re");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char dev[64], dst[64], mask[64];
		if (v6) {
			/* dst plen src slen nexthop metric refcnt use flags dev */
			if (sscanf(line, "%63s %63s %*s %*s %*s %*s %*s %*s %*s %63s", dst, mask, dev) == 3)
				found = !strcmp(dev, ifname) && !strcmp(mask, "00") &&
					strspn(dst, "0") == strlen(dst);
		} else if (sscanf(line, "%63s %63s %*s %*s %*s %*s %*s %63s", dev, dst, mask) == 3) {
			found = !strcmp(dev, ifname) && !strcmp(dst, "00000000") && !strcmp(mask, "00000000");
		}
	}
	fclose(f);
	return found;
}

bool ct_dns_is_uplink(const char *ifname, const char *route, const char *route6)
{
	return route_file_has(route, ifname, false) || route_file_has(route6, ifname, true);
}

/* A port of bridge br that is not ctnet's (its ports are vb-*): the first one's name into
 * out; false for none, or when br is not a bridge this process can see in /sys. */
static bool foreign_port(const char *br, char out[IFNAMSIZ])
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/class/net/%s/brif", br);
	if (!(d = opendir(path)))
		return false;
	out[0] = '\0';
	while ((de = readdir(d)) && !out[0])
		if (de->d_name[0] != '.' && strncmp(de->d_name, "vb-", 3))
			snprintf(out, IFNAMSIZ, "%.15s", de->d_name);
	closedir(d);
	return out[0] != '\0';
}

static struct dns_iface *iface_get(struct dns_run *d, const char *name, bool add)
{
	for (size_t i = 0; i < d->n_ifs; i++)
		if (!strcmp(d->ifs[i].name, name))
			return &d->ifs[i];
	if (!add || CTNET_GROW(d->ifs, d->n_ifs, d->cap_ifs, 4) < 0)
		return NULL;
	struct dns_iface *x = &d->ifs[d->n_ifs++];
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->n = 0;
	return x;
}

/* A container now asks on `now` instead of `was` ("" for neither). */
static void iface_move(struct dns_run *d, const char *was, const char *now)
{
	struct dns_iface *x;
	if (!strcmp(was, now))
		return;
	if (was[0] && (x = iface_get(d, was, false)) && x->n && !--x->n)
		d->ifs_dirty = true;
	if (now[0] && (x = iface_get(d, now, true)) && !x->n++)
		d->ifs_dirty = true;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_iface *)a)->name, ((const struct name_iface *)b)->name);
}

/* What ctnet dns knew of name, or NULL. */
static struct name_iface *known_get(struct dns_run *d, const char *name)
{
	struct name_iface key;
	void *found;
	snprintf(key.name, sizeof(key.name), "%s", name);
	found = tfind(&key, &d->by_name, name_cmp);
	return found ? *(struct name_iface **)found : NULL;
}

/* name known as s says now: its interface counted, added or forgotten. */
static void known_set(struct dns_run *d, const char *name, const struct ct_dns_sync *s)
{
	struct name_iface *x = known_get(d, name);

	iface_move(d, x ? x->iface : "", s->listed ? s->iface : "");
	if (x && !s->listed) {
		tdelete(x, &d->by_name, name_cmp);
		free(x);
		d->known--;
		return;
	}
	if (!x && s->listed) {
		if (!(x = calloc(1, sizeof(*x))))
			return;
		snprintf(x->name, sizeof(x->name), "%s", name);
		if (!tsearch(x, &d->by_name, name_cmp)) {
			free(x);
			return;
		}
		d->known++;
	}
	if (x) {
		snprintf(x->iface, sizeof(x->iface), "%s", s->iface);
		x->served = s->served;
		x->noted = s->note[0] != '\0';
	}
}

/* The interfaces dnsmasq must be given now. Left out, and said: an uplink, and a bridge with
 * ports that are not ctnet's (a LAN bridge): dnsmasq would answer that network. */
static size_t iface_wanted(struct dns_run *d, char (*out)[IFNAMSIZ], size_t max)
{
	char obj[IFNAMSIZ + 16], port[IFNAMSIZ];
	size_t n = 0;

	for (size_t i = 0; i < d->n_ifs && n < max; i++) {
		const char *name = d->ifs[i].name;
		if (!d->ifs[i].n)
			continue;
		snprintf(obj, sizeof(obj), "interface %s", name);
		if (ct_dns_is_uplink(name, "/proc/net/route", "/proc/net/ipv6_route"))
			emit(d, CT_DNS_NOTE, obj,
			     "a default route leaves through it (an uplink): not served, its containers get no answers");
		else if (foreign_port(name, port))
			emit(d, CT_DNS_NOTE, obj,
			     "a bridge with a port that is not ctnet's (%s): not served (it would answer that network), "
			     "its containers get no answers", port);
		else
			snprintf(out[n++], IFNAMSIZ, "%s", name);
	}
	return n;
}

/* ---- dnsmasq, our child ---- */

static int spawn(struct dns_run *d, struct ctnet_err *err)
{
	char (*ifs)[IFNAMSIZ] = calloc(d->n_ifs ? d->n_ifs : 1, IFNAMSIZ);
	char *argv[ARGV_MAX + 8], buf[16384];
	size_t n;
	int argc;

	if (!ifs)
		return ctnet_errf(err, ENOMEM, "out of memory");
	n = iface_wanted(d, ifs, ARGV_MAX);
	if ((argc = ct_dns_argv(d->o, d->hostsdir, (const char (*)[IFNAMSIZ])ifs, n, argv, ARRAY_SIZE(argv), buf,
				sizeof(buf))) < 0) {
		free(ifs);
		return ctnet_errf(err, E2BIG, "dnsmasq: command line too long (%zu interfaces)", n);
	}
	free(d->running);
	d->running = ifs;
	d->n_running = n;
	d->ifs_dirty = false;
	pid_t parent = getpid(), pid = fork();
	if (pid < 0)
		return ctnet_err_sys(err, errno, "fork for dnsmasq");
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* dnsmasq goes when we go, however we go (systemd restarts us, and it). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		execv(argv[0], argv);
		fprintf(stderr, "ctnet dns: execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	d->child = pid;
	d->st.dnsmasq_pid = pid;
	if (ct_pid_start(pid, &d->st.dnsmasq_start) < 0)
		d->st.dnsmasq_start = 0;
	return ct_dns_state_write(&d->st, err);
}

/* Stops dnsmasq with sig and waits for it: 0, or -errno when it cannot be signalled (it runs
 * as its own user: without CAP_KILL, root may not signal it). */
static int child_stop(struct dns_run *d, int sig, struct ctnet_err *err)
{
	int st = 0;
	pid_t pid = d->child;

	if (pid <= 0)
		return 0;
	d->child = 0;
	if (kill(pid, sig) < 0 && errno != ESRCH)
		return ctnet_err_sys(err, errno, "stop dnsmasq (pid %ld; ctnet dns needs CAP_KILL)", (long)pid);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* /proc/PID/stat: whether pid is a live (not zombie) dnsmasq started at start. */
static bool dnsmasq_alive(pid_t pid, unsigned long long start)
{
	char path[64], buf[512];
	unsigned long long now;
	const char *open, *close_;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (ct_pid_start(pid, &now) < 0 || now != start || !(f = fopen(path, "re")))
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	open = strchr(buf, '(');
	close_ = strrchr(buf, ')');
	return open && close_ && close_ - open == 8 && !strncmp(open + 1, "dnsmasq", 7) && close_[1] == ' ' &&
	       close_[2] != 'Z' && close_[2] != 'X';
}

/* A dnsmasq an earlier ctnet dns left running holds port 53 on our addresses (a SIGKILL of
 * ctnet dns outside systemd: dnsmasq's parent-death signal is gone once it changed its
 * user). Stopped first, when it is that very process still. */
static void stop_leftover(struct dns_run *d)
{
	struct ct_dns_state old = { 0 };

	if (ct_dns_state_read_file(&old) < 0 || old.dnsmasq_pid <= 0 ||
	    !dnsmasq_alive(old.dnsmasq_pid, old.dnsmasq_start))
		return;
	kill(old.dnsmasq_pid, SIGTERM);
	for (int i = 0; i < 250 && dnsmasq_alive(old.dnsmasq_pid, old.dnsmasq_start); i++)
		usleep(20000); /* 5 s at most: it exits at once on SIGTERM */
	emit(d, CT_DNS_NOTE, "dnsmasq", "stopped pid %ld, left running by an earlier ctnet dns", (long)old.dnsmasq_pid);
}

static bool same_ifaces(const struct dns_run *d, char (*want)[IFNAMSIZ], size_t n)
{
	if (n != d->n_running)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(want[i], d->running[i]))
			return false;
	return true;
}

/* After a batch of syncs: dnsmasq restarted when the interfaces to listen on changed. */
static int maybe_restart(struct dns_run *d, struct ctnet_err *err)
{
	char want[ARGV_MAX][IFNAMSIZ], list[ARGV_MAX * (IFNAMSIZ + 1) + 8] = "ve-*";
	size_t n;

	if (!d->ifs_dirty)
		return 0;
	d->ifs_dirty = false;
	n = iface_wanted(d, want, ARGV_MAX);
	if (same_ifaces(d, want, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), " %s", want[i]);
	int r = child_stop(d, SIGTERM, err);
	if (r == 0)
		r = spawn(d, err);
	if (r == 0)
		emit(d, CT_DNS_RESTART, "dnsmasq", "listening on %s now (pid %ld)", list, (long)d->child);
	return r;
}

/* ---- syncing names ---- */

static void sync_one(struct dns_run *d, const char *name)
{
	char obj[CTNET_NAME_MAX + 16];
	struct ct_dns_sync s;
	struct ctnet_err e;

	snprintf(obj, sizeof(obj), "container %s", name);
	if (ct_dns_sync_name(d->kern, d->recdfd, d->hostsdfd, name, d->o->domain, &s, &e) < 0) {
		emit(d, CT_DNS_ERROR, obj, "%s", e.msg);
		return;
	}
	/* Said once per change of what is served (up may have written the file itself). */
	const struct name_iface *x = known_get(d, name);
	bool was_served = x && x->served, was_noted = x && x->noted;
	known_set(d, name, &s);
	if (s.served && !was_served)
		emit(d, CT_DNS_SERVED, obj, "%s, %s.%s", name, name, d->o->domain);
	else if (s.note[0] && !was_noted)
		emit(d, CT_DNS_NOTE, obj, "%s", s.note);
	else if (!s.served && was_served)
		emit(d, CT_DNS_GONE, obj, "names removed");
}

static int sync_record(int dfd, const char *name, void *data)
{
	(void)dfd;
	sync_one(data, name);
	return 0;
}

static int sync_orphan(const char *name, void *data)
{
	struct dns_run *d = data;
	if (faccessat(d->recdfd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		sync_one(d, name); /* its record went while we were not looking */
	return 0;
}

/* Every name: the interface counts from scratch, the records, then files without one. */
static int sync_all(struct dns_run *d, struct ctnet_err *err)
{
	int r;
	tdestroy(d->by_name, free);
	d->by_name = NULL;
	d->known = 0;
	for (size_t i = 0; i < d->n_ifs; i++)
		d->ifs[i].n = 0;
	d->ifs_dirty = true;
	if ((r = ctnet_dir_foreach_file(d->recdfd, "records", sync_record, d, err)) < 0)
		return r;
	return ct_dns_hosts_foreach(d->hostsdfd, sync_orphan, d, err);
}

/* ---- the directories and their events ---- */

/* dnsmasq reads the hosts files as its own user: every directory down to them must let
 * others through (a 0700 one gives "bad dynamic directory: Permission denied" and no names). */
static int check_reachable(const char *dir, struct ctnet_err *err)
{
	char path[4096];
	struct stat st;
	size_t n = strlen(dir);

	snprintf(path, sizeof(path), "%s", dir);
	for (;;) {
		mode_t need = n == strlen(dir) ? (S_IXOTH | S_IROTH) : S_IXOTH;
		if (stat(path, &st) < 0)
			return ctnet_err_sys(err, errno, "stat \"%s\"", path);
		if ((st.st_mode & need) != need)
			return ctnet_errf(err, EACCES,
					  "dnsmasq reads %s as its own user, but \"%s\" is mode %04o (chmod o+%s \"%s\")",
					  dir, path, (unsigned)(st.st_mode & 07777), need & S_IROTH ? "rx" : "x", path);
		while (n > 1 && path[n - 1] != '/')
			n--;
		if (n <= 1)
			return 0;
		path[--n] = '\0';
	}
}

/* The records directory, opened and watched (again, after someone removed it). */
static int watch_records(struct dns_run *d, struct ctnet_err *err)
{
	char path[4096];

	if (d->recdfd >= 0)
		close(d->recdfd);
	if ((d->recdfd = record_dir(true, err)) < 0)
		return d->recdfd;
	snprintf(path, sizeof(path), "%s/containers", ctnet_run_dir());
	if ((d->wd = inotify_add_watch(d->ino, path, REC_EVENTS)) < 0)
		return ctnet_err_sys(err, errno, "watch \"%s\"", path);
	return 0;
}

static int open_all(struct dns_run *d, struct ctnet_err *err)
{
	int r;
	snprintf(d->hostsdir, sizeof(d->hostsdir), "%s/%s", ctnet_run_dir(), CT_DNS_HOSTS_DIR);
	snprintf(d->st.domain, sizeof(d->st.domain), "%s", d->o->domain);
	snprintf(d->st.resolv_file, sizeof(d->st.resolv_file), "%s", d->o->resolv_file);
	stop_leftover(d);
	if ((r = ct_dns_state_write(&d->st, err)) < 0 ||
	    (d->hostsdfd = ct_dns_hosts_open(true, err)) < 0)
		return r < 0 ? r : d->hostsdfd;
	if ((r = check_reachable(d->hostsdir, err)) < 0)
		return r;
	if ((d->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		return ctnet_err_sys(err, errno, "inotify");
	return watch_records(d, err);
}

/* A read's worth of record events: each name synced once per read. */
static int on_records(struct dns_run *d, struct ctnet_err *err)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool again = false;
	ssize_t n;

	while ((n = read(d->ino, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF))
				again = true; /* lost events, or the directory went: everything again */
			else if (ev->len && ev->name[0] != '.' && ctnet_name_check(ev->name, NULL) == 0)
				sync_one(d, ev->name);
		}
	if (n < 0 && errno != EAGAIN)
		return ctnet_err_sys(err, errno, "read inotify events");
	if (again) {
		int r = watch_records(d, err);
		if (r < 0 || (r = sync_all(d, err)) < 0)
			return r;
	}
	return maybe_restart(d, err);
}

/* 1: go on; 0: stopped by a signal; -errno: dnsmasq died, or a read failed. */
static int on_signal(struct dns_run *d, struct ctnet_err *err)
{
	struct signalfd_siginfo si;
	int st, r;

	while (read(d->sig, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			pid_t p;
			while ((p = waitpid(-1, &st, WNOHANG)) > 0)
				if (p == d->child) {
					d->child = 0;
					return ctnet_errf(err, ECHILD, "dnsmasq exited (%s %d): its messages are above",
							  WIFEXITED(st) ? "status" : "signal",
							  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
				}
		} else if (si.ssi_signo == SIGHUP) {
			if ((r = sync_all(d, err)) < 0 || (r = maybe_restart(d, err)) < 0)
				return r;
			if (d->child > 0)
				kill(d->child, SIGHUP); /* dnsmasq: reread the resolv file, clear the cache */
		} else {
			return child_stop(d, (int)si.ssi_signo, err);
		}
	}
	return 1;
}

int ct_dns_run(struct ctnet_kern *kern, const struct ct_dns_opts *o, int sig, ct_dns_report_fn *report, void *data,
	       struct ctnet_err *err)
{
	struct dns_run d = { .o = o, .report = report, .data = data, .kern = kern, .recdfd = -1, .hostsdfd = -1,
			     .ino = -1, .sig = sig };
	int r;

	if ((r = open_all(&d, err)) < 0 || (r = sync_all(&d, err)) < 0 || (r = spawn(&d, err)) < 0)
		goto out;
	emit(&d, CT_DNS_READY, NULL, "serving %zu container%s as NAME and NAME.%s through dnsmasq (pid %ld)",
	     d.known, d.known == 1 ? "" : "s", o->domain, (long)d.child);
	for (r = 1; r > 0;) {
		struct pollfd p[2] = { { .fd = sig, .events = POLLIN }, { .fd = d.ino, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = ctnet_err_sys(err, errno, "poll");
			break;
		}
		if (p[1].revents && (r = on_records(&d, err)) < 0)
			break;
		r = p[0].revents ? on_signal(&d, err) : 1;
	}
out:
	child_stop(&d, SIGTERM, &(struct ctnet_err){ 0 });
	if (d.ino >= 0)
		close(d.ino);
	if (d.recdfd >= 0)
		close(d.recdfd);
	if (d.hostsdfd >= 0)
		close(d.hostsdfd);
	tdestroy(d.by_name, free);
	free(d.ifs);
	free(d.running);
	return r < 0 ? r : 0;
}
