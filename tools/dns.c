/* SPDX-License-Identifier: MIT */
/*
 * ctnet dns: the front-end of the DNS engine (launch/dnsrun.c, which says what it serves
 * and where it listens). Here: the flags, the pid file, signals as a descriptor, and the
 * engine's events as log lines (or JSON lines) on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../launch/dnsrun.h"
#include "cli.h"
#include "ctnet.h"
#include "out.h"
#include "pidfile.h"

static const char *const event_names[] = {
	[CT_DNS_READY] = "ready",     [CT_DNS_SERVED] = "served", [CT_DNS_GONE] = "gone",
	[CT_DNS_NOTE] = "note",       [CT_DNS_RESTART] = "restart", [CT_DNS_ERROR] = "error",
};

static void on_event(const struct ct_dns_event *ev, void *data)
{
	daemon_log_line(data, "ctnet dns", event_names[ev->kind], ev->object, ev->message);
}

static void usage(void)
{
	printf("Usage: ctnet dns [--domain D] [--resolv-file F] [--dnsmasq PATH] [--json]\n"
	       "Stays in the foreground and answers containers' DNS queries through dnsmasq (its\n"
	       "child): each container's name and NAME.D (default D: " CT_DNS_DOMAIN_DEFAULT ") resolve to its\n"
	       "addresses (A and AAAA), other names are forwarded to the servers of F (default\n"
	       CT_DNS_RESOLV_DEFAULT ", a local stub such as 127.0.0.53 included). dnsmasq listens only on\n"
	       "ctnet's host sides (ve-*) and the bridges its containers use, never on an interface\n"
	       "a default route leaves through. Containers in namespaces ctnet makes get\n"
	       "$CTNET_NETNS_ETC_DIR/NAME/resolv.conf (/etc/netns/NAME) naming their host address.\n"
	       "SIGHUP syncs every name again; SIGTERM/SIGINT stop dnsmasq and exit 0; exit 1 when\n"
	       "dnsmasq exits by itself. --dnsmasq: the binary (default " CT_DNS_DNSMASQ_DEFAULT ").\n"
	       "One log line per change on stdout (dnsmasq's own on stderr); --json: JSON lines.\n");
}

/* The flags into o; 0 to go on, -1 after --help, or an exit code. */
static int parse(int argc, char **argv, struct ct_dns_opts *o, bool *json)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },  { "resolv-file", required_argument, NULL, 'r' },
		{ "dnsmasq", required_argument, NULL, 'm' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },	     { NULL, 0, NULL, 0 },
	};
	struct ctnet_err err;
	int opt;

	*o = (struct ct_dns_opts){ CT_DNS_DOMAIN_DEFAULT, CT_DNS_RESOLV_DEFAULT, CT_DNS_DNSMASQ_DEFAULT };
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h': usage(); return -1;
		case 'd': o->domain = optarg; break;
		case 'r': o->resolv_file = optarg; break;
		case 'm': o->dnsmasq = optarg; break;
		case 'j': *json = true; break;
		default: return ctnet_cli_usage("dns: bad option");
		}
	}
	if (optind < argc)
		return ctnet_cli_usage("dns: unexpected argument \"%.40s\"", argv[optind]);
	if (ct_dns_domain_check(o->domain, &err) < 0)
		return ctnet_cli_usage("dns: --domain: %s", err.msg);
	if (o->resolv_file[0] != '/' || access(o->resolv_file, R_OK) < 0)
		return ctnet_cli_usage("dns: --resolv-file \"%.200s\": not a readable absolute path", o->resolv_file);
	if (o->dnsmasq[0] != '/' || access(o->dnsmasq, X_OK) < 0) {
		ctnet_err_sys(&err, errno, "dns: dnsmasq \"%.200s\" (install Debian's dnsmasq-base, or give --dnsmasq PATH)",
			      o->dnsmasq);
		return ctnet_cli_fail(&err);
	}
	return 0;
}

int cmd_dns(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ct_dns_opts o;
	struct ctnet_err err = { 0 };
	struct out out;
	bool json = false;
	int rc, pidfd, sig;

	if ((rc = parse(argc, argv, &o, &json)))
		return rc < 0 ? 0 : rc;
	out_init(&out, stdout, json ? OUT_JSON_LINES : OUT_TEXT);
	/* dnsmasq inherits the descriptor limit (it holds two sockets per container address);
	 * SIGCHLD says it exited. */
	if ((sig = daemon_process_setup(SIGCHLD, &err)) < 0)
		return ctnet_cli_fail(&err);
	if ((pidfd = ctnet_pidfile_take(CT_DNS_PIDFILE, "ctnet dns", &err)) < 0) {
		close(sig);
		return ctnet_cli_fail(&err);
	}
	rc = ct_dns_run(kern, &o, sig, on_event, &out, &err);
	close(sig);
	close(pidfd);
	if (rc < 0)
		return ctnet_cli_fail(&err);
	daemon_log_line(&out, "ctnet dns", "exit", NULL, "stopped");
	return ctnet_cli_out_end(&out, 0);
}
