/* SPDX-License-Identifier: MIT */
/*
 * The `ctnet dns` engine (dnsrun.c): keeps the hosts files and the containers' resolv.conf
 * in step with the records (inotify on the records directory: each event syncs only the
 * name it names) and runs dnsmasq over them as its child, restarted when the interfaces it
 * must listen on change. It never prints: what happens is reported to the caller's
 * function (tools/dns.c renders the lines).
 *
 *	fd = ctnet_pidfile_take(CT_DNS_PIDFILE, "ctnet dns", &err);
 *	ct_dns_run(kern, &opts, sigfd, on_event, data, &err);   (until SIGTERM/SIGINT or dnsmasq dies)
 */
#ifndef CTNET_LAUNCH_DNSRUN_H
#define CTNET_LAUNCH_DNSRUN_H

#include <net/if.h>
#include <stddef.h>

#include "err.h"
#include "kern.h"

struct ct_dns_opts {
	const char *domain;      /* CT_DNS_DOMAIN_DEFAULT */
	const char *resolv_file; /* the upstream servers: CT_DNS_RESOLV_DEFAULT */
	const char *dnsmasq;     /* CT_DNS_DNSMASQ_DEFAULT */
};

enum ct_dns_kind {
	CT_DNS_READY,   /* the names synced and dnsmasq started: "serving N names ..." */
	CT_DNS_SERVED,  /* a container's names were written ("NAME, NAME.DOMAIN") */
	CT_DNS_GONE,    /* a container's names were removed */
	CT_DNS_NOTE,    /* a container without names, an interface not served (the uplink) */
	CT_DNS_RESTART, /* dnsmasq restarted: the interfaces it listens on changed */
	CT_DNS_ERROR,   /* a sync failed; the service goes on */
};

struct ct_dns_event {
	enum ct_dns_kind kind;
	const char *object; /* "container NAME", "interface IF", "dnsmasq" or NULL */
	const char *message;
};

typedef void ct_dns_report_fn(const struct ct_dns_event *ev, void *data);

/* dnsmasq's command line for o, the hosts directory and the interfaces ifaces[n] beyond
 * ve-*: at most max-1 entries and a NULL into argv, the strings in buf. The count, or
 * -ENOSPC. */
int ct_dns_argv(const struct ct_dns_opts *o, const char *hostsdir, const char (*ifaces)[IFNAMSIZ], size_t n,
		char **argv, size_t max, char *buf, size_t len);
/* Whether a default route (IPv4 or IPv6) leaves through ifname: an uplink, never served.
 * route and route6: /proc/net/route and /proc/net/ipv6_route (others in tests). */
bool ct_dns_is_uplink(const char *ifname, const char *route, const char *route6);

/* Serves until sig (a signalfd of SIGTERM, SIGINT, SIGHUP and SIGCHLD) says SIGTERM or
 * SIGINT (passed on to dnsmasq, whose exit ends it: 0), or dnsmasq exits by itself (-ECHILD
 * with its status). SIGHUP syncs every name again. The caller holds CT_DNS_PIDFILE. */
int ct_dns_run(struct ctnet_kern *kern, const struct ct_dns_opts *o, int sig, ct_dns_report_fn *report, void *data,
	       struct ctnet_err *err);

#endif
