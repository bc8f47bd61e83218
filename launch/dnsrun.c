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
 * a change of the interfaces to listen on restarts dnsmasq (dnsmasq.c). Per event the cost is
 * one record read, at most one file written and a lookup in the tree of known names,
 * whatever the number of containers.
 */
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
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dnsrun_int.h"
#include "state.h"

#define REC_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_ONLYDIR)

void dns_emit(struct dns_run *d, enum ct_dns_kind kind, const char *object, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->report(&(struct ct_dns_event){ .kind = kind, .object = object, .message = msg }, d->data);
}

/* ---- what ctnet dns knows of each name ---- */

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

/* ---- syncing names ---- */

static void sync_one(struct dns_run *d, const char *name)
{
	char obj[CTNET_NAME_MAX + 16];
	struct ct_dns_sync s;
	struct ctnet_err e;

	snprintf(obj, sizeof(obj), "container %s", name);
	if (ct_dns_sync_name(d->kern, d->recdfd, d->hostsdfd, name, d->o->domain, &s, &e) < 0) {
		dns_emit(d, CT_DNS_ERROR, obj, "%s", e.msg);
		return;
	}
	/* Said once per change of what is served (up may have written the file itself). */
	const struct name_iface *x = known_get(d, name);
	bool was_served = x && x->served, was_noted = x && x->noted;
	known_set(d, name, &s);
	if (s.served && !was_served)
		dns_emit(d, CT_DNS_SERVED, obj, "%s, %s.%s", name, name, d->o->domain);
	else if (s.note[0] && !was_noted)
		dns_emit(d, CT_DNS_NOTE, obj, "%s", s.note);
	else if (!s.served && was_served)
		dns_emit(d, CT_DNS_GONE, obj, "names removed");
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
	struct ct_records l;
	if ((r = ct_records_load(d->recdfd, &l, err)) < 0)
		return r;
	for (size_t i = 0; i < l.n; i++)
		sync_one(d, l.v[i].name);
	ct_records_free(&l);
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
	dns_stop_leftover(d);
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
	return dns_maybe_restart(d, err);
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
			if ((r = sync_all(d, err)) < 0 || (r = dns_maybe_restart(d, err)) < 0)
				return r;
			if (d->child > 0)
				kill(d->child, SIGHUP); /* dnsmasq: reread the resolv file, clear the cache */
		} else {
			return dns_child_stop(d, (int)si.ssi_signo, err);
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

	if ((r = open_all(&d, err)) < 0 || (r = sync_all(&d, err)) < 0 || (r = dns_spawn(&d, err)) < 0)
		goto out;
	dns_emit(&d, CT_DNS_READY, NULL, "serving %zu container%s as NAME and NAME.%s through dnsmasq (pid %ld)",
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
	dns_child_stop(&d, SIGTERM, &(struct ctnet_err){ 0 });
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
