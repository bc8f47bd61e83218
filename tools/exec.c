/* SPDX-License-Identifier: MIT */
/*
 * ctnet exec NAME -- CMD [ARG]...: CMD in the container's network namespace, as recorded
 * by up. ctnet enters the namespace and becomes CMD (execvp, no fork): CMD gets every
 * signal sent to it and its exit status is ctnet's, exactly as with `ip netns exec`.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../netd/netd.h"
#include "cli.h"
#include "ctnet.h"

int cmd_exec(struct ctnet_kern *kern, int argc, char **argv);

static void exec_usage(void)
{
	printf("Usage: ctnet exec NAME -- CMD [ARG]...\n"
	       "Run CMD in the network namespace of container NAME (its record: /run/netns/NAME,\n"
	       "a process's namespace, or a path). ctnet becomes CMD: signals reach CMD and the\n"
	       "exit status is CMD's (127: CMD not found, 126: not executable). The network\n"
	       "namespace changes, and as with `ip netns exec` the files of /etc/netns/NAME (its\n"
	       "resolv.conf from ctnet dns) are bound over /etc in a mount namespace of CMD's own;\n"
	       "not users or the working directory; root only.\n"
	       "A --shared container has no namespace of its own and is refused.\n");
}

/* The recorded namespace, opened and checked to be the very one up plumbed. */
static int open_container_ns(const struct ct_record *rec, struct ctnet_err *err)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (rec->pid)
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)rec->pid);
	else if (rec->netns[0])
		snprintf(path, sizeof(path), "%s", rec->netns);
	else
		return ctnet_errf(err, ENOENT, "container \"%s\": its record names no namespace", rec->spec.name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return ctnet_err_sys(err, errno == ENOENT ? ESRCH : errno,
				     "container \"%s\": namespace %s (gone? see ctnet status, ctnet gc)",
				     rec->spec.name, path);
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return ctnet_err_sys(err, e, "stat %s", path);
	}
	/* A recycled pid or a re-made /run/netns/NAME is another namespace: never enter it. */
	if (rec->ns_ino && ((unsigned long long)st.st_dev != rec->ns_dev ||
			    (unsigned long long)st.st_ino != rec->ns_ino)) {
		close(fd);
		return ctnet_errf(err, ESTALE,
				  "container \"%s\": %s is not the namespace up plumbed (replaced; see ctnet gc)",
				  rec->spec.name, path);
	}
	return fd;
}

/* NAME's namespace, opened: its record read and checked (not --shared, not pending, the
 * namespace up plumbed with its host link still there). fd, or -errno with err filled. */
static int exec_open_ns(struct ctnet_kern *kern, const char *name, struct ctnet_err *err)
{
	struct ct_record *rec = calloc(1, sizeof(*rec)); /* big: forwards */
	int fd, r;

	if (!rec)
		return ctnet_errf(err, ENOMEM, "out of memory");
	r = record_read(name, rec, err);
	if (r == -ENOENT)
		fd = ctnet_errf(err, ENOENT, "exec: no container \"%s\" (see ctnet status)", name);
	else if (r < 0)
		fd = r;
	else if (rec->spec.shared)
		fd = ctnet_errf(err, EINVAL,
				"exec: container \"%s\" shares the host's network namespace (--shared): run CMD directly",
				name);
	else if (rec->pending)
		fd = ctnet_errf(err, EAGAIN, "exec: container \"%s\" is being brought up (or its up was interrupted)",
				name);
	else
		fd = open_container_ns(rec, err);
	/* The kernel reuses a dead namespace's inode number at once, so the identity check
	 * alone passes for a namespace made again at the same path. The pair lives only as
	 * long as the namespace up plumbed: its host side must still be there. */
	if (fd >= 0 && rec->host_ifname[0]) {
		r = netd_exists(kern, name, rec->host_ifname, err);
		if (r == 0)
			ctnet_errf(err, ESTALE,
				   "exec: container \"%s\": its link %s is gone: not the namespace up plumbed (see ctnet gc)",
				   name, rec->host_ifname);
		if (r <= 0) {
			close(fd);
			fd = r < 0 ? r : -ESTALE;
		}
	}
	free(rec);
	return fd;
}

int cmd_exec(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ctnet_err err = { 0 };
	const char *name;
	char **cmd;
	int fd, r;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		exec_usage();
		return 0;
	}
	if (argc < 4 || strcmp(argv[2], "--"))
		return ctnet_cli_usage("exec: expected NAME -- CMD [ARG]...");
	name = argv[1];
	cmd = argv + 3;
	if (ctnet_name_check(name, &err) < 0)
		return ctnet_cli_fail(&err);
	/* Entering a container must not be what a setcap'd ctnet gives any user. */
	if (getuid() != 0) {
		ctnet_errf(&err, EPERM, "exec: only root may run commands in a container's namespace");
		return ctnet_cli_fail(&err);
	}
	if ((fd = exec_open_ns(kern, name, &err)) < 0)
		return ctnet_cli_fail(&err);
	if (setns(fd, CLONE_NEWNET) < 0) {
		ctnet_err_sys(&err, errno, "exec: enter the namespace of \"%s\"", name);
		close(fd);
		return ctnet_cli_fail(&err);
	}
	close(fd);
	/* As `ip netns exec`: the container's resolv.conf (and any file of /etc/netns/NAME). */
	if (ct_dns_etc_bind(name, &err) < 0)
		fprintf(stderr, "%s: exec: warning: %s\n", ctnet_prog, err.msg);
	execvp(cmd[0], cmd);
	r = errno;
	fprintf(stderr, "%s: exec: execute \"%s\": %s\n", ctnet_prog, cmd[0], strerror(r));
	return r == ENOENT ? 127 : 126;
}
