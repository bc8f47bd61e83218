/* SPDX-License-Identifier: MIT */
/* The watch engine's containers: the records, and a socket in each namespace (see watch.c). */
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

void watch_fd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd); /* a socket leaves the epoll set with it */
	*fd = -1;
}

void watch_cont_free(struct ct_watch_cont *c)
{
	watch_fd_close(&c->mon);
	watch_fd_close(&c->localnet);
	free(c->netns);
	c->netns = NULL;
}

/* Whether the container's namespace is the one recorded (a stat, no file read). */
bool watch_ns_alive(const struct ct_watch_cont *c)
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
		watch_emit(w, CT_WATCH_ERROR, c->name, "cannot watch its namespace: %s", e.msg);
		c->mon = -1;
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = c->mon };
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->mon, &ev) < 0)
		watch_fd_close(&c->mon);
}

/* The link's index and the descriptor of its device's route_localnet, from record r: after
 * a rescan and after each repair (a link made again has a new index, a new sysctl file). */
void watch_link_refresh(struct ctnet_kern *kern, struct ct_watch_cont *c, const struct ct_record *r)
{
	struct nat_container *nc;
	struct ctnet_err e = { 0 };
	char path[128];

	watch_fd_close(&c->localnet);
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

/* Record i of l. */
static int rescan_one(struct rescan_arg *ra, const struct ct_records *l, size_t i)
{
	const char *name = l->v[i].name;
	struct ct_record *r = ra->r;
	struct ctnet_err e = { 0 };
	const char *why;
	struct ct_watch_cont *c;

	if (ct_records_read(l, i, r, &e) < 0)
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
		watch_cont_free(c);
	if (watch)
		watch_link_refresh(ra->kern, c, r);
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
			watch_cont_free(&w->c[i]);
			continue;
		}
		if (i != j)
			w->c[j] = w->c[i];
		j++;
	}
	w->n = j;
}

void watch_rescan(struct ctnet_kern *kern, struct ct_watch *w)
{
	struct ct_record *r = malloc(sizeof(*r));
	struct rescan_arg ra = { kern, w, r };
	struct ctnet_err e = { 0 };

	w->rescan = false;
	if (!r)
		return;
	for (size_t i = 0; i < w->n; i++)
		w->c[i].seen = false;
	int dfd = record_dir(true, &e), rc = 0;
	struct ct_records l;
	if (dfd >= 0 && (rc = ct_records_load(dfd, &l, &e)) == 0) {
		for (size_t i = 0; i < l.n && rc == 0; i++)
			rc = rescan_one(&ra, &l, i);
		ct_records_free(&l);
	}
	if (rc < 0)
		watch_emit(w, CT_WATCH_ERROR, NULL, "read records: %s", e.msg);
	if (dfd >= 0)
		close(dfd);
	free(r);
	forget_unseen(w);
}

/* Closes the sockets of namespaces that went away (a socket keeps its namespace alive). */
void watch_sweep(struct ct_watch *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->c[i].mon >= 0 && !watch_ns_alive(&w->c[i]))
			watch_cont_free(&w->c[i]);
}
