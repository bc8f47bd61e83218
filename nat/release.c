/* SPDX-License-Identifier: MIT */
/*
 * Closing netfilter sockets without waiting for the kernel.
 *
 * nf_tables frees deleted objects (set elements, rules) after an RCU grace period, and the
 * release of any nfnetlink socket flushes that pending work first: after a transaction that
 * deleted something, the last close() of our socket — or the process exit that does it —
 * sleeps ~10-20 ms. The deletion itself was committed long before; only the freeing is
 * left. So nat_release(true) lets a short-lived child hold the last references: it keeps
 * only the netfilter sockets, waits until we are gone, and pays the wait off the caller's
 * path.
 *
 * The child must not simply close them either: the flush runs under the nf_tables commit
 * mutex, so every other process's transaction (the next `ctnet down` in a stop storm) would
 * queue behind our grace period — measured 14.6 ms for a down issued right after another,
 * 3.0 ms alone. The flush only happens while deletions wait on the destroy list, and the
 * kernel's destroy work takes them off that list as soon as it runs. So the child first
 * waits out one RCU grace period of its own, holding nothing (membarrier(GLOBAL) is
 * synchronize_rcu()); by then the destroy work has claimed our deletions and the close
 * finds nothing to flush: the next down takes 3.0 ms.
 */
#include "nat_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static bool is_netfilter_socket(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_NETLINK)
		return false;
	len = sizeof(v);
	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0 && v == NETLINK_NETFILTER;
}

static void holder(int wait_fd)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char c;

	if (!d)
		_exit(0);
	/* Nothing but the sockets: not the caller's stdout pipe, not its lock files. */
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd == dirfd(d) || fd == wait_fd)
			continue;
		if (!is_netfilter_socket(fd))
			close(fd);
	}
	closedir(d);
	while (read(wait_fd, &c, 1) < 0 && errno == EINTR)
		;
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) < 0) {
		/* nohz_full kernels refuse it: a sleep longer than a grace period will do. */
		struct timespec ts = {.tv_nsec = 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	_exit(0); /* closes the sockets: the kernel's wait happens here */
}

void nat_release(struct ctnet_kern *kern, bool async)
{
	int p[2];

	if (async && kern->nf_deleted && kern->pid == getpid() && pipe2(p, O_CLOEXEC) == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			close(p[1]);
			holder(p[0]);
		}
		close(p[0]);
		/* p[1] stays open until we exit: the child's cue. On fork failure we simply
		 * pay the wait ourselves. */
		if (pid < 0)
			close(p[1]);
	}
	ctnet_kern_close(kern);
}
