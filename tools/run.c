/* SPDX-License-Identifier: MIT */
/* ctnet run: a fresh namespace with the network up, CMD inside, all torn down after. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ctnet.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

/* A signal during set-up: CMD never starts (closing go makes the child exit), what was set
 * up is undone, and the exit status says which signal it was. */
static int interrupted(struct ctnet_kern *kern, const char *name, bool up, int go_w, pid_t pid)
{
	struct ctnet_err err;
	int sig = got_signal, status;

	close(go_w);
	reap(pid, &status);
	if (up && ct_down(kern, name, false, NULL, &err) < 0)
		ctnet_cli_fail(&err);
	fprintf(stderr, "%s: run: set-up interrupted (%s): the command was not started%s\n", ctnet_prog,
		strsignal(sig), up ? ", its network was taken down" : "");
	return 128 + sig;
}

/* The child: enter the namespace, say so, wait for the network, exec CMD. */
static void child(int nsfd, int ready_w, int go_r, const char *name, char **cmd)
{
	struct ctnet_err err;
	char c;
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "%s: run: enter network namespace: %s\n", ctnet_prog, strerror(errno));
		_exit(127);
	}
	close(nsfd);
	if (write(ready_w, "r", 1) != 1)
		_exit(127);
	close(ready_w);
	if (read(go_r, &c, 1) != 1)
		_exit(127); /* the parent failed to bring the network up */
	close(go_r);
	/* As `ip netns exec`: the resolv.conf up wrote when ctnet dns runs. */
	if (ct_dns_etc_bind(name, &err) < 0)
		fprintf(stderr, "%s: run: warning: %s\n", ctnet_prog, err.msg);
	execvp(cmd[0], cmd);
	fprintf(stderr, "%s: run: execute \"%s\": %s\n", ctnet_prog, cmd[0], strerror(errno));
	_exit(127);
}

static void run_usage(void)
{
	printf("Usage: ctnet run [NAME] [up options] -- CMD [ARG]...\n"
	       "Run CMD in a fresh network namespace whose network ctnet brings up first\n"
	       "(as `ctnet up`) and tears down when CMD exits, also on SIGINT/SIGTERM.\n"
	       "Exits with CMD's status. NAME defaults to run-PID. See ctnet up --help.\n");
}

/* The spec from the flags (a namespace of its own, made here): -1 to go on, else the exit
 * code. */
static int run_prepare(int argc, char **argv, struct up_cli *o)
{
	struct ctnet_err err;
	int rc;

	ct_spec_init(&o->spec, NULL);
	rc = up_parse_args(argc, argv, o, run_usage);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind >= argc || strcmp(argv[optind - 1], "--"))
		return ctnet_cli_usage("run: expected [NAME] [options] -- CMD");
	if (o->spec.netns_kind != CT_NETNS_NONE || o->spec.shared)
		return ctnet_cli_usage("run: makes its own namespace (no --netns, --pid, --create-netns, --shared)");
	if (!o->spec.name[0])
		snprintf(o->spec.name, sizeof(o->spec.name), "run-%ld", (long)getpid());
	if (up_finish(o, o->spec.name, &err) < 0)
		return ctnet_cli_fail(&err);
	if (o->spec.shared || o->spec.netns_kind != CT_NETNS_NONE)
		return ctnet_cli_usage("run: makes its own namespace (a --config without PRIVATE_NETWORK=1 or with NETWORK_NAMESPACE_PATH cannot be run)");
	o->spec.netns_kind = CT_NETNS_FD;
	o->spec.netns_fd = netns_new_anon(&err);
	if (o->spec.netns_fd < 0)
		return ctnet_cli_fail(&err);
	return -1;
}

/* The child that enters the namespace and, once told, runs cmd; its pid, or -1. */
static pid_t spawn(int nsfd, const int ready[2], const int go[2], const char *name, char **cmd,
		   struct ctnet_err *err)
{
	pid_t pid = fork();

	if (pid < 0) {
		ctnet_err_sys(err, errno, "run: fork");
		return -1;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		close(ready[0]);
		close(go[1]);
		child(nsfd, ready[1], go[0], name, cmd);
	}
	return pid;
}

/* Waits for CMD, passing on the signals we get (Ctrl-C is CMD's once it runs). */
static void wait_forwarding(pid_t pid, int *status)
{
	int forwarded = 0;
	for (;;) {
		if (got_signal && got_signal != forwarded) {
			kill(pid, got_signal);
			forwarded = got_signal;
		}
		pid_t w = waitpid(pid, status, 0);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			break;
	}
}

int cmd_run(struct ctnet_kern *kern, int argc, char **argv)
{
	static struct up_cli o;
	static struct ct_record rec;
	struct ctnet_err err;
	int rc, ready[2], go[2], status = 0;
	pid_t pid;

	if ((rc = run_prepare(argc, argv, &o)) >= 0)
		return rc;
	if (up_host(kern, &o.spec, &err) < 0)
		return ctnet_cli_fail(&err);
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) {
		ctnet_err_sys(&err, errno, "run: pipe");
		return ctnet_cli_fail(&err);
	}
	/* A signal during set-up aborts it (interrupted()); once CMD runs, it is CMD's. No
	 * SA_RESTART: the waits below return on it. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if ((pid = spawn(o.spec.netns_fd, ready, go, o.spec.name, argv + optind, &err)) < 0)
		return ctnet_cli_fail(&err);
	close(ready[1]);
	close(go[0]);
	/* A child killed by the same Ctrl-C closes go's other end: an error, not our death. */
	signal(SIGPIPE, SIG_IGN);
	char c;
	ssize_t n;
	while ((n = read(ready[0], &c, 1)) < 0 && errno == EINTR && !got_signal)
		;
	close(ready[0]);
	if (got_signal)
		return interrupted(kern, o.spec.name, false, go[1], pid);
	if (n != 1) {
		close(go[1]); /* the child waits for it: it exits once go is closed */
		reap(pid, &status);
		ctnet_errf(&err, ECHILD, "run: child failed to enter the namespace");
		return ctnet_cli_fail(&err);
	}
	o.spec.owner_pid = pid;
	rc = ct_up(kern, &o.spec, &rec, NULL, &err);
	close(o.spec.netns_fd);
	if (got_signal)
		return interrupted(kern, o.spec.name, rc == 0, go[1], pid);
	if (rc < 0) {
		close(go[1]); /* child exits without running CMD */
		reap(pid, &status);
		return ctnet_cli_fail(&err);
	}
	if (write(go[1], "g", 1) != 1) {
		ctnet_err_sys(&err, errno, "run: start command");
		kill(pid, SIGKILL);
	}
	close(go[1]);

	wait_forwarding(pid, &status);
	if (ct_down(kern, o.spec.name, false, NULL, &err) < 0)
		ctnet_cli_fail(&err);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}
