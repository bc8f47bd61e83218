/* SPDX-License-Identifier: MIT */
/*
 * Deleting links without waiting for the kernel's tail.
 *
 * RTM_DELLINK of a veth returns only after netdev_run_todo(): an rcu_barrier() and the wait
 * for the last references, ~20 ms (more on a busy host), after RTNL is already released. The
 * link is gone well before: unlisted, its addresses and routes flushed, its name free, and
 * RTM_DELLINK announced to RTNLGRP_LINK listeners. So a detached grandchild sends the
 * request and pays the tail; we listen for the announcement and return when every link is
 * gone — or with the grandchild's error if the kernel refused.
 *
 * A bulk caller (apply's workers: kern->bulk) removes hundreds in a row, and a fork of a
 * large process per container costs more than the tail (the page tables copied, then a
 * copy-on-write fault and a TLB shootdown for every page the parent writes next): there a
 * detached thread of the same process sends the request and pays the tail instead; the
 * process's exit waits only for the last ones.
 */
#include "netd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nl.h"

#define DETACHED_TIMEOUT_MS 30000

static int monitor_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* The grandchild: nothing of the caller's but the result pipe (no lock, no stdout). */
static void deleter(struct nd_batch *b, int wfd)
{
	struct ctnet_err e = { 0 };
	struct ctnet_nl s;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (d) {
		while ((de = readdir(d))) {
			int fd = atoi(de->d_name);
			if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && fd != dirfd(d) && fd != wfd)
				close(fd);
		}
		closedir(d);
	}
	if (ctnet_nl_open(&s, NETLINK_ROUTE, &e) == 0) {
		nd_batch_run(&s, b, &e);
		ctnet_nl_close(&s);
	}
	if (write(wfd, &e, sizeof(e)) != (ssize_t)sizeof(e))
		_exit(1);
	_exit(0);
}

struct del_job {
	struct nd_batch b;
	int wfd;
};

static void *deleter_thread(void *arg)
{
	struct del_job *j = arg;
	struct ctnet_err e = { 0 };
	struct ctnet_nl s;
	sigset_t pipe_sig;

	/* The caller stops reading once the links are announced gone: a verdict written after
	 * that must not kill the process (SIGPIPE goes to the writing thread; blocked, it is
	 * dropped with the thread). */
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
	if (ctnet_nl_open(&s, NETLINK_ROUTE, &e) == 0) {
		nd_batch_run(&s, &j->b, &e);
		ctnet_nl_close(&s);
	}
	if (write(j->wfd, &e, sizeof(e)) != (ssize_t)sizeof(e))
		e.code = 0; /* the caller sees the pipe close: "the deleting process died" */
	close(j->wfd);
	free(j);
	return NULL;
}

/* Starts the deleter for b writing its verdict to wfd (closed here on failure): 0 or -errno. */
static int deleter_start(struct ctnet_kern *kern, struct nd_batch *b, int wfd)
{
	if (kern->bulk) {
		struct del_job *j = malloc(sizeof(*j));
		pthread_attr_t attr;
		pthread_t t;
		int r = j ? pthread_attr_init(&attr) : ENOMEM;
		if (r == 0) {
			j->b = *b;
			j->wfd = wfd;
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			r = pthread_create(&t, &attr, deleter_thread, j);
			pthread_attr_destroy(&attr);
		}
		if (r == 0)
			return 0;
		free(j);
		close(wfd);
		return -r;
	}
	pid_t pid = fork();
	if (pid == 0) {
		/* Double fork: the grandchild outlives us without becoming our zombie. */
		if (fork() == 0)
			deleter(b, wfd);
		_exit(0);
	}
	close(wfd);
	if (pid < 0)
		return -errno;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* Marks announced deletions; false when the monitor lost messages (ENOBUFS). */
static bool read_announcements(int mon, const int *ifindex, bool *gone, size_t n)
{
	unsigned char buf[16384] __attribute__((aligned(4)));
	for (;;) {
		ssize_t len = recv(mon, buf, sizeof(buf), 0);
		if (len < 0)
			return errno == EAGAIN || errno == EINTR;
		for (struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf; NLMSG_OK(h, (size_t)len);
		     h = NLMSG_NEXT(h, len)) {
			const struct ifinfomsg *ifi = NLMSG_DATA(h);
			if (h->nlmsg_type != RTM_DELLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
				continue;
			for (size_t i = 0; i < n; i++)
				if (ifi->ifi_index == ifindex[i])
					gone[i] = true;
		}
	}
}

int nd_batch_run_detached(struct ctnet_kern *kern, struct nd_batch *b, const int *ifindex, size_t n, struct ctnet_err *err)
{
	bool gone[ND_BATCH_MAX] = { false }, watching = true;
	struct pollfd pfd[2];
	int p[2], mon, r = 0;

	if (n == 0)
		return 0;
	if (n > ND_BATCH_MAX || (mon = monitor_open()) < 0) {
		struct ctnet_nl *hs;
		/* Cannot listen: delete and wait like everyone else. */
		if ((r = ctnet_kern_rt(kern, &hs, err)) < 0)
			return r;
		return nd_batch_run(hs, b, err);
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(mon);
		return ctnet_err_sys(err, errno, "%s: pipe", b->req[0].what);
	}
	if ((r = deleter_start(kern, b, p[1])) < 0) {
		close(p[0]);
		close(mon);
		return ctnet_err_sys(err, -r, "%s: start the deleter", b->req[0].what);
	}
	pfd[0] = (struct pollfd){ .fd = mon, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = p[0], .events = POLLIN };
	for (;;) {
		int ready = poll(watching ? pfd : pfd + 1, watching ? 2 : 1, DETACHED_TIMEOUT_MS);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0) {
			r = ctnet_errf(err, ETIMEDOUT, "%s: no answer from the kernel", b->req[0].what);
			break;
		}
		if (watching && pfd[0].revents) {
			watching = read_announcements(mon, ifindex, gone, n);
			size_t i = 0;
			while (i < n && gone[i])
				i++;
			if (i == n)
				break; /* all announced: done, the grandchild finishes the tail */
		}
		if (pfd[1].revents) {
			/* The grandchild finished first, or failed: its verdict. */
			struct ctnet_err e;
			ssize_t got = read(p[0], &e, sizeof(e));
			if (got == (ssize_t)sizeof(e)) {
				if (e.code) {
					*err = e;
					r = -e.code;
				}
			} else {
				r = ctnet_errf(err, ECHILD, "%s: the deleting process died", b->req[0].what);
			}
			break;
		}
	}
	close(p[0]);
	close(mon);
	return r;
}
