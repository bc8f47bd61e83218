/* SPDX-License-Identifier: MIT */
/*
 * DNS for containers. `ctnet dns` (the engine: dnsrun.c) runs dnsmasq over a directory of
 * hosts files, one per container, that it keeps in step with the records (dns.c, which owns
 * $CTNET_RUN_DIR/dns/); each container with a namespace ctnet made gets a resolv.conf
 * pointing at its host-side address in $CTNET_NETNS_ETC_DIR/NAME (/etc/netns/NAME, what
 * `ip netns exec` binds over /etc: dnsresolv.c), written by up when `ctnet dns` runs and
 * removed by down. doctor's checks of that path are dnsdoctor.c. Nothing here prints.
 */
#ifndef CTNET_LAUNCH_DNS_H
#define CTNET_LAUNCH_DNS_H

#include <jansson.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "err.h"
#include "kern.h"
#include "nixosconf.h"
#include "state.h"

struct ct_record;
struct ctnet_findings;
struct out;
struct nat_doctor_view;

#define CT_DNS_DOMAIN_DEFAULT "containers" /* NixOS's /etc/hosts names them NAME.containers */
#define CT_DNS_DOMAIN_MAX 200
#define CT_DNS_LABEL_MAX 63
#define CT_DNS_PIDFILE "dns.pid"             /* in $CTNET_RUN_DIR, held by `ctnet dns` */
#define CT_DNS_DIR "dns"                     /* $CTNET_RUN_DIR/dns: state, hosts/ */
#define CT_DNS_HOSTS_DIR "dns/hosts"
#define CT_DNS_ETC_DEFAULT "/etc/netns"      /* $CTNET_NETNS_ETC_DIR overrides it */
#define CT_DNS_RESOLV_DEFAULT "/etc/resolv.conf"
#define CT_DNS_DNSMASQ_DEFAULT "/usr/sbin/dnsmasq"
#define CT_DNS_MARKER "# ctnet dns:"         /* first line of every file ctnet writes */

/* What a running `ctnet dns` serves: $CTNET_RUN_DIR/dns/state, and its pid file held. */
struct ct_dns_state {
	bool active;  /* `ctnet dns` holds its pid file */
	pid_t pid;
	char domain[CT_DNS_DOMAIN_MAX + 1];
	char resolv_file[NIXOSCONF_VALUE_MAX + 1];
	pid_t dnsmasq_pid; /* its dnsmasq, with its start time (/proc/PID/stat) */
	unsigned long long dnsmasq_start;
};
/* Reads it (st->active false, and the rest empty, when `ctnet dns` does not run). 0 or -errno. */
int ct_dns_state_read(struct ct_dns_state *st);
/* The file alone, whoever holds the pid file (-ENOENT when there is none). */
int ct_dns_state_read_file(struct ct_dns_state *st);
/* Writes it (by `ctnet dns`: the domain and resolv file at start, then its dnsmasq). */
int ct_dns_state_write(const struct ct_dns_state *st, struct ctnet_err *err);

/* Whether name is a DNS label (1-63 of [A-Za-z0-9-], no '-' first or last): 0, or -EINVAL
 * saying why ("has a dot", "is 64 characters, more than 63"). */
int ct_dns_label_check(const char *name, struct ctnet_err *err);
/* A domain: dot-separated labels, at most CT_DNS_DOMAIN_MAX bytes. */
int ct_dns_domain_check(const char *domain, struct ctnet_err *err);
/* The names a container answers to (NAME, NAME.DOMAIN) into out; how many (0: none, a
 * shared container, one without addresses or whose name is not a label). */
size_t ct_dns_names(const struct ct_record *r, const char *domain, char out[2][CTNET_NAME_MAX + CT_DNS_DOMAIN_MAX + 2]);
/* status --json: "dns_names" (and "dns_note" for a name that is not a label), JSON only,
 * when `ctnet dns` runs (st->active). */
void ct_dns_out(struct out *o, const struct ct_record *r, const struct ct_dns_state *st);

/* The CNI result's "dns" for a container whose gateway is gw: {} when `ctnet dns` does not
 * run, else nameservers (gw, and r's IPv6 host address when it has one) and search (the
 * domain). A new reference. */
json_t *ct_dns_cni_json(const struct ctnet_addr *gw, const struct ct_record *r);

/* ---- hosts files: $CTNET_RUN_DIR/dns/hosts/NAME (dns.c) ---- */

/* The hosts directory (0755, and its parents readable: dnsmasq reads it as its own user). */
int ct_dns_hosts_open(bool create, struct ctnet_err *err);
/* What one sync of a name did. */
struct ct_dns_sync {
	char iface[IFNAMSIZ]; /* where it asks, beyond ve-*: its bridge (or host side); "" */
	bool listed;   /* it has a hosts file now (a live container) */
	bool served;   /* ... with its names in it */
	bool changed;  /* the file was written or removed */
	bool removed;  /* ... removed */
	char note[160]; /* why a live container has no names ("" when it has) */
};
/* Brings name's hosts file in line with its record in recdfd (record_dir()), under the
 * name's lock: the container's addresses under its name when it is up and its name a label,
 * else nothing (a note says why for a live one). Atomic (temp file and rename in hostsdfd).
 * With a domain, its resolv.conf too (written for a live one, removed when the record is
 * gone; kern: for a bridge's address). */
int ct_dns_sync_name(struct ctnet_kern *kern, int recdfd, int hostsdfd, const char *name, const char *domain,
		     struct ct_dns_sync *out, struct ctnet_err *err);
/* The names hostsdfd has files for: cb for each (a non-zero return stops). */
int ct_dns_hosts_foreach(int hostsdfd, int (*cb)(const char *name, void *data), void *data, struct ctnet_err *err);
/* gc: temp files in the hosts dir, hosts files (when `ctnet dns` does not run: it keeps
 * them itself) and resolv.conf files of ctnet's (under the name's lock) whose record is gone. */
int ct_dns_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err);

/* up's part, under the container's lock, with r as it is committed: when `ctnet dns` runs,
 * r's hosts file and (when it wants one) resolv.conf, then a wait (CT_DNS_WAIT_MS at most)
 * until dnsmasq answers on a new host side's address, so the container's first query finds
 * it. 1 when the resolv.conf was written, 0 when nothing was to do, -errno. */
#define CT_DNS_WAIT_MS 2000
int ct_dns_up(struct ctnet_kern *kern, const struct ct_record *r, struct ctnet_err *err);
/* down's part (and undo's), under the lock: name's hosts file and resolv.conf of ctnet's. */
int ct_dns_forget(const char *name, struct ctnet_err *err);

/* ---- one query (dnsquery.c) ---- */

/* A query (SOA of qname) to server (numeric, port 53) over a connected UDP socket: the
 * socket (non-blocking), or -errno. */
int ct_dns_query_send(const char *server, const char *qname, uint16_t id);
/* Whether an answer with id arrived: 1, 0 not yet, -errno (-ECONNREFUSED: the port is closed). */
int ct_dns_query_answered(int fd, uint16_t id);
/* Until server answers a query for qname (1), or timeout_ms passed (0), or -errno. */
int ct_dns_wait_serving(const struct ctnet_addr *server, const char *qname, int timeout_ms);

/* ---- resolv.conf for the container (dnsresolv.c) ---- */

/* $CTNET_NETNS_ETC_DIR, or /etc/netns. */
const char *ct_dns_etc_dir(void);
/* Whether ctnet writes r's resolv.conf: a private container in a namespace ctnet made
 * (--create-netns, `ctnet run`'s). */
bool ct_dns_wants_resolv(const struct ct_record *r);
/* The addresses a container asks: its host side (point-to-point: host, host6 when given)
 * or its bridge's (IPv4). v4/v6 family 0 when there is none. */
int ct_dns_server(struct ctnet_kern *kern, const char *bridge, const struct ctnet_addr *host,
		  const struct ctnet_addr *host6, struct ctnet_addr *v4, struct ctnet_addr *v6);
/* ETC/NAME/resolv.conf naming r's server and domain: 1 written, 0 already so (or another
 * tool's file there, left alone), -errno. */
int ct_dns_resolv_write(struct ctnet_kern *kern, const struct ct_record *r, const char *domain, struct ctnet_err *err);
/* Removes ETC/NAME/resolv.conf if ctnet wrote it (and ETC/NAME when that leaves it empty). */
int ct_dns_resolv_remove(const char *name, struct ctnet_err *err);
/* exec and run, in the process about to become the command (as `ip netns exec`): when
 * ETC/NAME holds files, a private mount namespace with each bound over /etc/FILE.
 * 0 (also when there is nothing to bind), or -errno for the first that failed. */
int ct_dns_etc_bind(const char *name, struct ctnet_err *err);
/* The part of ct_dns_sweep for ETC: resolv.conf files of ctnet's without a record. */
int ct_dns_resolv_sweep(int *n, struct ctnet_err *err);

/* ---- doctor (dnsdoctor.c) ---- */

struct netd_doctor_ct;
/* When `ctnet dns` runs: a socket of the host on each live container's server address, no
 * other table dropping its queries (nat_doctor_dns on nv), the upstream servers answering;
 * when it does not: whether containers of cts have a resolv.conf of ctnet's (they then get
 * no answers). Findings into out. */
int ct_dns_doctor(struct ctnet_kern *kern, struct nat_doctor_view *nv, const struct netd_doctor_ct *cts, size_t n,
		  struct ctnet_findings *out, struct ctnet_err *err);

#endif
