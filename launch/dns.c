/* SPDX-License-Identifier: MIT */
/*
 * DNS names of containers: what `ctnet dns` serves, in files it owns under
 * $CTNET_RUN_DIR/dns/ — `state` (the domain and the upstream resolv file of the running
 * service) and `hosts/NAME`, one hosts file per container that dnsmasq reads through
 * --hostsdir (inotify: a file renamed in or removed is seen at once). A file is written as
 * a whole (temp file and rename in the same directory: dnsmasq never reads half of one) and
 * only when its text changes; dnsmasq adds the domain itself (--expand-hosts), so a file
 * holds each address once, under the bare name. Its comment lines say whose it is and on
 * which interface the container asks (a bridge, or a host side not named ve-*): what the
 * service needs to know of a container once its record is gone.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch.h"
#include "nixosconf.h"
#include "out.h"
#include "pidfile.h"
#include "state.h"

#define HOSTS_MAX 1024
#define IFACE_LINE "# iface "

/* ---- the service's state ---- */

int ct_dns_state_write(const struct ct_dns_state *st, struct ctnet_err *err)
{
	char buf[2 * NIXOSCONF_VALUE_MAX + 128];
	struct ctnet_kv_out o = { .p = buf, .cap = sizeof(buf), .what = "dns state", .err = err };
	_cleanup_close_ int dfd = ctnet_dir_open(ctnet_run_dir(), CT_DNS_DIR, 1, err);

	if (dfd < 0)
		return dfd;
	ctnet_kv_put(&o, "DOMAIN", st->domain);
	ctnet_kv_put(&o, "RESOLV_FILE", st->resolv_file);
	if (st->dnsmasq_pid > 0) {
		ctnet_kv_putf(&o, "DNSMASQ_PID", "%ld", (long)st->dnsmasq_pid);
		ctnet_kv_putf(&o, "DNSMASQ_START", "%llu", st->dnsmasq_start);
	}
	if (o.error)
		return o.error;
	return ctnet_write_atomic(dfd, "state", buf, o.len, err);
}

static int state_kv(const char *key, const char *value, void *data, struct ctnet_err *err)
{
	struct ct_dns_state *st = data;
	(void)err;
	if (!strcmp(key, "DOMAIN"))
		snprintf(st->domain, sizeof(st->domain), "%s", value);
	else if (!strcmp(key, "RESOLV_FILE"))
		snprintf(st->resolv_file, sizeof(st->resolv_file), "%s", value);
	else if (!strcmp(key, "DNSMASQ_PID"))
		st->dnsmasq_pid = (pid_t)strtol(value, NULL, 10);
	else if (!strcmp(key, "DNSMASQ_START"))
		st->dnsmasq_start = strtoull(value, NULL, 10);
	return 0;
}

int ct_dns_state_read_file(struct ct_dns_state *st)
{
	char buf[2 * NIXOSCONF_VALUE_MAX + 128];
	struct ctnet_err e;
	ssize_t n;

	_cleanup_close_ int dfd = ctnet_dir_open(ctnet_run_dir(), CT_DNS_DIR, 0, &e);
	if (dfd < 0)
		return dfd;
	if ((n = ctnet_read_file(dfd, "state", buf, sizeof(buf), &e)) < 0)
		return (int)n;
	return nixosconf_parse_kv(buf, (size_t)n, "dns state", state_kv, st, &e);
}

int ct_dns_state_read(struct ct_dns_state *st)
{
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = ctnet_pidfile_held(CT_DNS_PIDFILE, &st->pid)) <= 0)
		return r;
	/* Absent: starting (the state comes right after the lock). */
	if ((r = ct_dns_state_read_file(st)) < 0)
		return r == -ENOENT ? 0 : r;
	st->active = st->domain[0] != '\0';
	return 0;
}

/* ---- names ---- */

int ct_dns_label_check(const char *name, struct ctnet_err *err)
{
	size_t n = strlen(name);
	char shown[CTNET_SHOW_MAX];

	if (n == 0 || n > CT_DNS_LABEL_MAX)
		return ctnet_errf(err, EINVAL, "\"%s\" is not a DNS label: %zu characters, at most %d", ctnet_show(name, shown),
				  n, CT_DNS_LABEL_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (isascii(c) && (isalnum(c) || c == '-'))
			continue;
		return ctnet_errf(err, EINVAL, "\"%s\" is not a DNS label: it has %s", ctnet_show(name, shown),
				  c == '.' ? "a dot" : c == '_' ? "an underscore" : "a character other than a-z, 0-9 and -");
	}
	if (name[0] == '-' || name[n - 1] == '-')
		return ctnet_errf(err, EINVAL, "\"%s\" is not a DNS label: it %s with '-'", ctnet_show(name, shown),
				  name[0] == '-' ? "starts" : "ends");
	return 0;
}

int ct_dns_domain_check(const char *domain, struct ctnet_err *err)
{
	char label[CT_DNS_LABEL_MAX + 2], shown[CTNET_SHOW_MAX];
	const char *p = domain;
	size_t n = strlen(domain);

	if (n == 0 || n > CT_DNS_DOMAIN_MAX)
		return ctnet_errf(err, EINVAL, "domain \"%s\": 1 to %d characters", ctnet_show(domain, shown),
				  CT_DNS_DOMAIN_MAX);
	for (;;) {
		size_t l = strcspn(p, ".");
		if (l == 0 || l > CT_DNS_LABEL_MAX)
			return ctnet_errf(err, EINVAL, "domain \"%s\": an empty or over-long label",
					  ctnet_show(domain, shown));
		memcpy(label, p, l);
		label[l] = '\0';
		if (ct_dns_label_check(label, err) < 0)
			return ctnet_errf(err, EINVAL, "domain \"%s\": label \"%s\" is not a DNS label",
					  ctnet_show(domain, shown), label);
		if (!p[l])
			return 0;
		p += l + 1;
	}
}

/* A container with addresses of its own that up finished (or, final, is finishing) and down
 * has not begun. */
static bool has_addresses_as(const struct ct_record *r, bool final)
{
	return !r->spec.shared && (final || !r->pending) && r->stopping == CT_STOP_NONE &&
	       (r->local.family || (r->has_v6 && r->local6.family));
}

static bool has_addresses(const struct ct_record *r)
{
	return has_addresses_as(r, false);
}

size_t ct_dns_names(const struct ct_record *r, const char *domain, char out[2][CTNET_NAME_MAX + CT_DNS_DOMAIN_MAX + 2])
{
	struct ctnet_err e;
	if (!has_addresses(r) || ct_dns_label_check(r->spec.name, &e) < 0)
		return 0;
	snprintf(out[0], sizeof(out[0]), "%s", r->spec.name);
	if (!domain || !domain[0])
		return 1;
	snprintf(out[1], sizeof(out[1]), "%s.%s", r->spec.name, domain);
	return 2;
}

void ct_dns_out(struct out *o, const struct ct_record *r, const struct ct_dns_state *st)
{
	char names[2][CTNET_NAME_MAX + CT_DNS_DOMAIN_MAX + 2];
	struct ctnet_err e;

	if (!st->active || !has_addresses(r))
		return;
	size_t n = ct_dns_names(r, st->domain, names);
	out_open_array(o, "dns_names");
	for (size_t i = 0; i < n; i++)
		out_str(o, PRINT_JSON, NULL, NULL, names[i]);
	out_close_array(o);
	if (!n && ct_dns_label_check(r->spec.name, &e) < 0)
		out_str(o, PRINT_JSON, "dns_note", NULL, e.msg);
}

json_t *ct_dns_cni_json(const struct ctnet_addr *gw, const struct ct_record *r)
{
	json_t *o = json_object(), *ns = json_array(), *search = json_array();
	char a[CTNET_ADDR_STRLEN];
	struct ct_dns_state st;

	if (ct_dns_state_read(&st) == 0 && st.active && o && ns && search) {
		if (gw->family)
			json_array_append_new(ns, json_string(ctnet_addr_str(gw, a)));
		if (!r->spec.bridge[0] && r->has_v6 && r->host6.family)
			json_array_append_new(ns, json_string(ctnet_addr_str(&r->host6, a)));
		json_array_append_new(search, json_string(st.domain));
		json_object_set(o, "nameservers", ns);
		json_object_set(o, "search", search);
	}
	json_decref(ns);
	json_decref(search);
	return o;
}

/* ---- hosts files ---- */

int ct_dns_hosts_open(bool create, struct ctnet_err *err)
{
	return ctnet_dir_open(ctnet_run_dir(), CT_DNS_HOSTS_DIR, create, err);
}

/* The interface dnsmasq must listen on for r beyond ve-*: its bridge, or a host side of
 * another name; "" for none. */
static void listen_iface(const struct ct_record *r, char out[IFNAMSIZ])
{
	const char *i = r->spec.bridge[0] ? r->spec.bridge : r->host_ifname;
	snprintf(out, IFNAMSIZ, "%s", !r->spec.bridge[0] && !strncmp(i, "ve-", 3) ? "" : i);
}

/* r's hosts file into buf (its length; 0 when r has no file: gone, shared, not up). final:
 * r is the record up is about to commit (pending still). */
static size_t hosts_text(const struct ct_record *r, bool final, char *buf, size_t len, struct ct_dns_sync *out)
{
	char a[CTNET_ADDR_STRLEN];
	struct ctnet_err e;
	const char *why;
	size_t n;

	if (!has_addresses_as(r, final) || (!final && !record_alive(r, &why)))
		return 0;
	listen_iface(r, out->iface);
	n = (size_t)snprintf(buf, len, "%s container %s\n", CT_DNS_MARKER, r->spec.name);
	if (out->iface[0])
		n += (size_t)snprintf(buf + n, len - n, IFACE_LINE "%s\n", out->iface);
	if (ct_dns_label_check(r->spec.name, &e) < 0) {
		snprintf(out->note, sizeof(out->note), "%.140s: no DNS name", e.msg);
		n += (size_t)snprintf(buf + n, len - n, "# %s\n", out->note);
		return n;
	}
	if (r->local.family)
		n += (size_t)snprintf(buf + n, len - n, "%s %s\n", ctnet_addr_str(&r->local, a), r->spec.name);
	if (r->has_v6 && r->local6.family)
		n += (size_t)snprintf(buf + n, len - n, "%s %s\n", ctnet_addr_str(&r->local6, a), r->spec.name);
	out->served = true;
	return n;
}

/* name's hosts file in hostsdfd made to hold text[len] (len 0: removed), written only when it
 * differs. */
static int hosts_put(int hostsdfd, const char *name, const char *text, size_t len, struct ct_dns_sync *out,
		     struct ctnet_err *err)
{
	char old[HOSTS_MAX];
	ssize_t olen = ctnet_read_file(hostsdfd, name, old, sizeof(old), err);
	int rc = 0;

	if (olen < 0 && olen != -ENOENT)
		return (int)olen;
	if (!len && olen >= 0)
		out->changed = out->removed = (rc = ctnet_unlink(hostsdfd, name, err)) == 0;
	else if (len && (olen != (ssize_t)len || memcmp(old, text, len)))
		out->changed = (rc = ctnet_write_atomic(hostsdfd, name, text, len, err)) == 0;
	return rc;
}

/* The resolv.conf of r's container as the hosts file: written for a live one, removed when
 * the record is gone. */
static int sync_resolv(struct ctnet_kern *kern, int rc, const struct ct_record *r, const char *name,
		       const char *domain, struct ctnet_err *err)
{
	const char *why;
	if (rc == -ENOENT)
		return ct_dns_resolv_remove(name, err);
	if (has_addresses(r) && ct_dns_wants_resolv(r) && record_alive(r, &why))
		return ct_dns_resolv_write(kern, r, domain, err);
	return 0;
}

/* name's record in the open records directory dfd (-ENOENT: none). */
static int record_at(int dfd, const char *name, struct ct_record *r, struct ctnet_err *err)
{
	char *buf = malloc(CT_RECORD_MAX);
	ssize_t n;

	if (!buf)
		return ctnet_errf(err, ENOMEM, "out of memory");
	n = record_read_text_at(dfd, name, r, buf, CT_RECORD_MAX, NULL, err);
	free(buf);
	return n < 0 ? (int)n : 0;
}

int ct_dns_sync_name(struct ctnet_kern *kern, int recdfd, int hostsdfd, const char *name, const char *domain,
		     struct ct_dns_sync *out, struct ctnet_err *err)
{
	char text[HOSTS_MAX];
	struct ct_record *r = malloc(sizeof(*r));
	int lock = -1;
	size_t len = 0;
	int rec, rc;

	memset(out, 0, sizeof(*out));
	if (!r)
		return ctnet_errf(err, ENOMEM, "out of memory");
	/* Under the name's lock: an up or down of it in progress finishes first (and wrote
	 * what it serves itself). */
	if ((lock = ctnet_entry_lock(recdfd, name, err)) < 0) {
		rc = lock;
		goto out;
	}
	if ((rec = rc = record_at(recdfd, name, r, err)) < 0 && rec != -ENOENT)
		goto out;
	if (rec == 0)
		len = hosts_text(r, false, text, sizeof(text), out);
	rc = hosts_put(hostsdfd, name, text, len, out, err);
	out->listed = len > 0;
	if (rc == 0 && domain)
		rc = sync_resolv(kern, rec, r, name, domain, err);
out:
	if (lock >= 0)
		ctnet_entry_unlock(recdfd, name, lock); /* no file left of a gone name's lock */
	free(r);
	return rc < 0 ? rc : 0;
}

/* ---- up and down ---- */

int ct_dns_up(struct ctnet_kern *kern, const struct ct_record *r, struct ctnet_err *err)
{
	char text[HOSTS_MAX];
	struct ct_dns_state st;
	struct ct_dns_sync s = { 0 };
	int rc, wrote = 0;

	if (r->spec.shared)
		return 0;
	if ((rc = ct_dns_state_read(&st)) < 0)
		return ctnet_err_sys(err, -rc, "read the state of ctnet dns");
	if (!st.active)
		return 0;
	if (ct_dns_wants_resolv(r) && (wrote = ct_dns_resolv_write(kern, r, st.domain, err)) < 0)
		return wrote;
	_cleanup_close_ int dfd = ct_dns_hosts_open(true, err);
	if (dfd < 0)
		return dfd;
	if ((rc = hosts_put(dfd, r->spec.name, text, hosts_text(r, true, text, sizeof(text), &s), &s, err)) < 0)
		return rc;
	/* dnsmasq binds a new host side's address a moment after it appears: the container's
	 * first query must not meet a closed port. (A bridge's is bound already, or waits for the
	 * restart ctnet dns makes for a new bridge.) */
	if (!r->spec.bridge[0] && r->host.family && !strncmp(r->host_ifname, "ve-", 3))
		ct_dns_wait_serving(&r->host, st.domain, CT_DNS_WAIT_MS);
	return wrote;
}

int ct_dns_forget(const char *name, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = ct_dns_hosts_open(false, err);
	int rc = dfd == -ENOENT ? 0 : dfd < 0 ? dfd : ctnet_unlink(dfd, name, err);
	return rc < 0 ? rc : ct_dns_resolv_remove(name, err);
}

struct foreach_ctx {
	int (*cb)(const char *name, void *data);
	void *data;
};

static int foreach_one(int dfd, const char *name, void *data)
{
	struct foreach_ctx *f = data;
	(void)dfd;
	return f->cb(name, f->data);
}

int ct_dns_hosts_foreach(int hostsdfd, int (*cb)(const char *name, void *data), void *data, struct ctnet_err *err)
{
	struct foreach_ctx f = { cb, data };
	return ctnet_dir_foreach_file(hostsdfd, "dns hosts", foreach_one, &f, err);
}

struct sweep_ctx {
	int hostsdfd, recdfd, n;
};

static int sweep_one(const char *name, void *data)
{
	struct sweep_ctx *sw = data;
	struct ct_dns_sync s;
	struct ctnet_err e;
	/* With no record the sync removes the file; with one it is what `ctnet dns` wrote. */
	if (ct_dns_sync_name(NULL, sw->recdfd, sw->hostsdfd, name, NULL, &s, &e) == 0 && s.removed)
		sw->n++;
	return 0;
}

int ct_dns_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err)
{
	struct sweep_ctx sw = { .hostsdfd = ct_dns_hosts_open(false, err), .recdfd = -1 };
	struct ct_dns_state st;
	int r = 0, n = 0;

	if (sw.hostsdfd >= 0) {
		if ((r = ctnet_tmp_sweep(sw.hostsdfd, err)) >= 0)
			ctnet_swept_report(cb, data, CTNET_DEBRIS_TEMP, CT_DNS_HOSTS_DIR, r);
		/* A running `ctnet dns` keeps its files itself (and may be writing one now). */
		if (r >= 0 && ct_dns_state_read(&st) == 0 && !st.pid && (sw.recdfd = record_dir(false, err)) >= 0)
			r = ct_dns_hosts_foreach(sw.hostsdfd, sweep_one, &sw, err);
		ctnet_swept_report(cb, data, CTNET_DEBRIS_DNS, CT_DNS_HOSTS_DIR, sw.n);
		if (sw.recdfd >= 0)
			close(sw.recdfd);
		close(sw.hostsdfd);
	}
	if (r >= 0 || r == -ENOENT)
		r = ct_dns_resolv_sweep(&n, err);
	ctnet_swept_report(cb, data, CTNET_DEBRIS_DNS, ct_dns_etc_dir(), n);
	return r == -ENOENT ? 0 : r;
}
