/* SPDX-License-Identifier: MIT */
/*
 * ctnet watch: the front-end of the watch engine (launch/watch.c, which says what it watches
 * and repairs). Here: the flags, the process it runs in (the pid file, the descriptor limit,
 * signals as a descriptor), its events as log lines or JSON lines on stdout, and systemd's
 * readiness protocol.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../launch/watch.h"
#include "cli.h"
#include "ctnet.h"
#include "out.h"

void daemon_log_line(struct out *o, const char *prog, const char *event, const char *object, const char *msg)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	out_open_object(o, NULL);
	out_real(o, PRINT_JSON, "time", (double)ts.tv_sec + ts.tv_nsec / 1e9);
	out_text(o, "%s: ", prog);
	out_str(o, PRINT_ANY, "event", "%s", event);
	if (object)
		out_str(o, PRINT_ANY, "object", " %s", object);
	out_str(o, PRINT_ANY, "message", ": %s\n", msg);
	out_close_object(o);
	out_flush(o);
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

static const char *const event_names[] = {
	[CT_WATCH_READY] = "ready",	  [CT_WATCH_RELOAD] = "reload",	  [CT_WATCH_RELOADED] = "ready",
	[CT_WATCH_REPAIRED] = "repaired", [CT_WATCH_FIGHT] = "fight",	  [CT_WATCH_SETTLED] = "settled",
	[CT_WATCH_ERROR] = "error",
};

/* The engine's events: a line each, and systemd told of readiness and reloads. */
static void on_event(const struct ct_watch_event *ev, void *data)
{
	if (ev->kind == CT_WATCH_RELOADED) {
		notify("READY=1"); /* no line: the reload was said */
		return;
	}
	if (ev->kind == CT_WATCH_RELOAD)
		notify("RELOADING=1");
	daemon_log_line(data, "ctnet watch", event_names[ev->kind], ev->object, ev->message);
	if (ev->kind == CT_WATCH_READY)
		notify("READY=1");
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

int daemon_process_setup(int extra_signal, struct ctnet_err *err)
{
	sigset_t set;
	struct rlimit rl;
	int fd;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (extra_signal)
		sigaddset(&set, extra_signal);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return ctnet_err_sys(err, errno, "signalfd");
	return fd;
}

int cmd_watch(struct ctnet_kern *kern, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctnet_err err = { 0 };
	struct ct_watch w;
	struct out o;
	bool json = false;
	int opt, pidfd, sig, rc;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return usage(), 0;
		if (opt != 'j')
			return ctnet_cli_usage("watch: bad option");
		json = true;
	}
	if (optind < argc)
		return ctnet_cli_usage("watch: unexpected argument \"%.40s\"", argv[optind]);
	out_init(&o, stdout, json ? OUT_JSON_LINES : OUT_TEXT);
	if ((pidfd = ct_watch_pidfile_take(&err)) < 0 || (sig = daemon_process_setup(0, &err)) < 0 ||
	    ct_watch_open(&w, sig, on_event, &o, &err) < 0)
		return ctnet_cli_fail(&err);

	rc = ct_watch_run(kern, &w, &err);
	notify("STOPPING=1");
	ct_watch_close(&w);
	close(sig);
	close(pidfd);
	if (rc < 0)
		return ctnet_cli_fail(&err);
	daemon_log_line(&o, "ctnet watch", "exit", NULL, "stopped");
	return ctnet_cli_out_end(&o, 0);
}
