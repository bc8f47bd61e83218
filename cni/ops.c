/* SPDX-License-Identifier: MIT */
/* ADD, DEL, CHECK, GC, STATUS: a CNI attachment is a ctnet container named after it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../netd/netd.h"
#include "caps.h"
#include "cni.h"
#include "json.h"
#include "state.h"

/* The CNI code for a failure of ctnet's own machinery. */
static int fail_code(struct cni_err *ce, int rc)
{
	unsigned code = CNI_ERR_INTERNAL;
	switch (-rc) {
	case EAGAIN: case EBUSY: case EINTR: code = CNI_ERR_TRY_LATER; break;
	case EIO: code = CNI_ERR_IO; break;
	case EINVAL: code = CNI_ERR_CONFIG; break;
	}
	return cni_code(ce, code, rc);
}

static json_t *iface_json(const char *name, int nsfd, const char *sandbox)
{
	char mac[18];
	struct ctnet_err ignored;
	json_t *o = json_object();
	ctnet_json_set_str(o, "name", name);
	if (cni_link_mac(nsfd, name, mac, &ignored) == 0)
		ctnet_json_set_str(o, "mac", mac);
	if (sandbox)
		ctnet_json_set_str(o, "sandbox", sandbox);
	return o;
}

static void add_ip(json_t *ips, json_t *routes, const struct cni_conf *conf,
		   const struct ctnet_addr *local, const struct ctnet_addr *gw, size_t iface)
{
	char a[CTNET_ADDR_STRLEN], g[CTNET_ADDR_STRLEN];
	struct ctnet_addr l = *local;
	json_t *ip = json_object(), *rt = json_object();

	if (l.prefix < 0)
		l.prefix = ctnet_addr_max_prefix(l.family);
	if (conf->version_num < 10000) /* 0.3.x/0.4.0 results name the family */
		ctnet_json_set_str(ip, "version", l.family == AF_INET ? "4" : "6");
	ctnet_json_set_str(ip, "address", ctnet_addr_cidr_str(&l, a));
	ctnet_json_set_str(ip, "gateway", ctnet_addr_str(gw, g));
	ctnet_json_set_int(ip, "interface", (long long)iface);
	json_array_append_new(ips, ip);
	ctnet_json_set_str(rt, "dst", l.family == AF_INET ? "0.0.0.0/0" : "::/0");
	ctnet_json_set_str(rt, "gw", g);
	json_array_append_new(routes, rt);
}

/* The spec's ADD result: interfaces (host side, container side with "sandbox"), ips pointing
 * at the container side by index, default routes, dns from the config. */
static json_t *result_json(const struct cni_env *env, const struct cni_conf *conf,
			   const struct ct_record *rec, int nsfd)
{
	json_t *o = json_object(), *ifs = json_array(), *ips = json_array(), *routes = json_array();
	struct ctnet_addr gw;

	ctnet_json_set_str(o, "cniVersion", conf->version);
	if (conf->bridge[0])
		json_array_append_new(ifs, iface_json(conf->bridge, -1, NULL));
	json_array_append_new(ifs, iface_json(rec->host_ifname, -1, NULL));
	json_array_append_new(ifs, iface_json(env->ifname, nsfd, env->netns));
	size_t idx = json_array_size(ifs) - 1;
	if (conf->bridge[0])
		cni_bridge_gateway(conf, &gw);
	else
		gw = rec->host;
	add_ip(ips, routes, conf, &rec->local, &gw, idx);
	if (rec->has_v6 && rec->host6.family)
		add_ip(ips, routes, conf, &rec->local6, &rec->host6, idx);
	json_object_set_new(o, "interfaces", ifs);
	json_object_set_new(o, "ips", ips);
	json_object_set_new(o, "routes", routes);
	/* The network's own dns, else ctnet dns's (when it runs): the address the pod reaches the host by. */
	json_object_set_new(o, "dns", conf->dns ? json_deep_copy(conf->dns) : ct_dns_cni_json(&gw, rec));
	return o;
}

static int open_lock(const char *name, struct cni_err *ce)
{
	int lock = cni_attachment_lock(name, &ce->e);
	return lock < 0 ? fail_code(ce, lock) : lock;
}

/* ct_host_apply with this config's cluster CIDRs: the host config's own list when the config
 * names none, the same list when both do (cni_conf_parse checked). */
static int cni_host_apply(struct ctnet_kern *kern, const struct cni_conf *conf, struct ctnet_err *err)
{
	struct ctnet_hostconf hc = conf->hc ? *conf->hc : (struct ctnet_hostconf){ 0 };
	hc.n_cluster = conf->n_cluster;
	memcpy(hc.cluster, conf->cluster, conf->n_cluster * sizeof(hc.cluster[0]));
	return ct_host_apply(kern, &hc, err);
}

/* ADD under the attachment's lock; a = the attachment as this ADD describes it. */
static int add_locked(struct ctnet_kern *kern, const struct cni_env *env, const struct cni_conf *conf,
		      const struct cni_attachment *a, int nsfd, json_t **result, struct cni_err *ce)
{
	static struct ct_spec o;
	static struct ct_record rec;
	struct cni_attachment old;
	struct ctnet_err ignored;
	bool existed;
	int rc;

	if ((rc = cni_spec(env, conf, &o, ce)) < 0)
		return rc;
	/* Before the attachment file and ct_up: a state dir that cannot be written, nothing. */
	if ((rc = ct_state_writable(&ce->e)) < 0)
		return fail_code(ce, rc);
	rc = cni_attachment_read(a->name, &old, &ce->e);
	if (rc < 0 && rc != -ENOENT)
		return fail_code(ce, rc);
	existed = rc == 0;
	if (existed && (strcmp(old.container_id, a->container_id) || strcmp(old.ifname, a->ifname)))
		return cni_errf(ce, CNI_ERR_INTERNAL,
				"attachment \"%s\": name already used by container \"%s\" ifname \"%s\"",
				a->name, old.container_id, old.ifname);
	/* An attachment that is up keeps what this ADD leaves unsaid (see ctnet-cni(8)). */
	if (existed && (rc = cni_spec_keep(&o, conf, env, ce)) < 0)
		return rc;
	/* The host's lists (the cluster CIDRs from this config or the host config, its external
	 * interfaces) in NAT's desired state first: a no-op when they are recorded already. */
	if (conf->ip_masq && (rc = cni_host_apply(kern, conf, &ce->e)) < 0)
		return fail_code(ce, rc);
	/* Written first so DEL and GC find a half-made attachment after a crash. */
	if ((rc = cni_attachment_write(a, &ce->e)) < 0)
		return fail_code(ce, rc);
	if ((rc = ct_up(kern, &o, &rec, NULL, &ce->e)) < 0) {
		if (!existed)
			cni_attachment_remove(a->name, &ignored);
		if (rc == -EADDRINUSE && o.reserve) {
			char ip[CTNET_ADDR_STRLEN], why[sizeof(ce->e.msg)];
			snprintf(why, sizeof(why), "%s", ce->e.msg);
			ctnet_errf(&ce->e, EADDRINUSE, "IP %s: %.400s", ctnet_addr_str(&o.local, ip), why);
		}
		return fail_code(ce, rc);
	}
	*result = result_json(env, conf, &rec, nsfd);
	return 0;
}

int cni_add(struct ctnet_kern *kern, const struct cni_env *env, const struct cni_conf *conf, json_t **result,
	    struct cni_err *ce)
{
	struct cni_attachment a = { 0 };
	_cleanup_close_ int nsfd = -1;
	int lock, rc;

	/* Everything is checked before the first change. */
	nsfd = netd_netns_open(env->netns, 0, &ce->e);
	if (nsfd < 0)
		return cni_code(ce, CNI_ERR_ENV, nsfd); /* the message names CNI_NETNS's path */
	cni_attachment_name(env->container_id, env->ifname, a.name);
	snprintf(a.container_id, sizeof(a.container_id), "%s", env->container_id);
	snprintf(a.ifname, sizeof(a.ifname), "%s", env->ifname);
	snprintf(a.network, sizeof(a.network), "%s", conf->name);
	snprintf(a.netns, sizeof(a.netns), "%s", env->netns);
	snprintf(a.pod_name, sizeof(a.pod_name), "%s", env->pod_name);
	snprintf(a.pod_namespace, sizeof(a.pod_namespace), "%s", env->pod_namespace);

	if ((lock = open_lock(a.name, ce)) < 0)
		return lock;
	rc = add_locked(kern, env, conf, &a, nsfd, result, ce);
	cni_attachment_unlock(a.name, lock);
	return rc;
}

/* Takes the attachment down; absent or with its namespace gone is success. A DEL means the
 * attachment is gone for good (CNI has no stop apart from removal): the lease goes too. */
static int del_locked(struct ctnet_kern *kern, const char *name, struct cni_err *ce)
{
	int rc = ct_down(kern, name, false, NULL, &ce->e);
	if (rc == 0)
		rc = cni_attachment_remove(name, &ce->e);
	return rc < 0 ? fail_code(ce, rc) : 0;
}

int cni_del(struct ctnet_kern *kern, const struct cni_env *env, const struct cni_conf *conf, struct cni_err *ce)
{
	char name[CTNET_NAME_MAX + 1];
	int lock, rc;
	(void)conf;

	cni_attachment_name(env->container_id, env->ifname, name);
	if ((lock = open_lock(name, ce)) < 0)
		return lock;
	rc = del_locked(kern, name, ce);
	cni_attachment_unlock(name, lock);
	return rc;
}

/* --- CHECK --- */

/* prevResult must still show what ADD returned: our address on CNI_IFNAME in CNI_NETNS. */
static int check_prev(const struct cni_env *env, const struct cni_conf *conf,
		      const struct ct_record *rec, struct cni_err *ce)
{
	json_t *ifs = json_object_get(conf->prev_result, "interfaces");
	json_t *ips = json_object_get(conf->prev_result, "ips"), *v;
	char want[CTNET_ADDR_STRLEN];
	bool has_if = false, has_ip = false;
	size_t i;

	ctnet_addr_str(&rec->local, want);
	json_array_foreach(ifs, i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));
		const char *sb = json_string_value(json_object_get(v, "sandbox"));
		has_if |= n && sb && !strcmp(n, env->ifname) && !strcmp(sb, env->netns);
	}
	json_array_foreach(ips, i, v) {
		const char *addr = json_string_value(json_object_get(v, "address"));
		size_t n = strlen(want);
		has_ip |= addr && !strncmp(addr, want, n) && addr[n] == '/';
	}
	if (!has_if || !has_ip)
		return cni_errf(ce, CNI_ERR_DRIFT,
				"CHECK \"%s\": prevResult lacks %s", rec->spec.name,
				!has_if ? "the container interface (name and sandbox)" : want);
	return 0;
}

static int check_locked(struct ctnet_kern *kern, const struct cni_env *env, const struct cni_conf *conf,
			const char *name, struct cni_err *ce)
{
	struct cni_attachment a;
	struct ct_record rec;
	const char *why = NULL;
	_cleanup_close_ int nsfd = -1;
	unsigned long long dev, ino;
	int rc;

	rc = cni_attachment_read(name, &a, &ce->e);
	if (rc == 0 && strcmp(a.network, conf->name))
		rc = ctnet_errf(&ce->e, ENOENT, "attachment \"%s\": belongs to network \"%s\"", name,
				a.network);
	if (rc == 0)
		rc = record_read(name, &rec, &ce->e);
	if (rc == -ENOENT)
		return cni_errf(ce, CNI_ERR_CONTAINER, "CHECK: container \"%s\" ifname \"%s\" is not attached to network \"%s\"",
				env->container_id, env->ifname, conf->name);
	if (rc < 0)
		return fail_code(ce, rc);
	if (!record_alive(&rec, &why))
		return cni_errf(ce, CNI_ERR_DRIFT, "CHECK \"%s\": %s", name, why);
	nsfd = netd_netns_open(env->netns, 0, &ce->e);
	if (nsfd < 0)
		return cni_code(ce, CNI_ERR_ENV, nsfd);
	if ((rc = netns_identity(nsfd, &dev, &ino, &ce->e)) < 0)
		return fail_code(ce, rc);
	if (rec.ns_ino && (dev != rec.ns_dev || ino != rec.ns_ino))
		return cni_errf(ce, CNI_ERR_DRIFT, "CHECK \"%s\": CNI_NETNS is not the namespace ADD used",
				name);
	/* The one judge status, up and doctor use: links, addresses and routes on both sides
	 * (inside CNI_NETNS), sysctls, NAT elements. The first fault is the drift. */
	struct ct_health *h = malloc(sizeof(*h));
	if (!h)
		return cni_errf(ce, CNI_ERR_INTERNAL, "CHECK: out of memory");
	if ((rc = ct_judge(kern, &rec, NULL, true, h, &ce->e)) < 0) {
		free(h);
		return fail_code(ce, rc);
	}
	if (h->n) {
		rc = cni_errf(ce, CNI_ERR_DRIFT, "CHECK \"%s\": %s%s", name, h->v[0].text,
			      h->n > 1 ? " (and more: ctnet status NAME lists them)" : "");
		free(h);
		return rc;
	}
	free(h);
	if (conf->prev_result)
		return check_prev(env, conf, &rec, ce);
	return 0;
}

int cni_check(struct ctnet_kern *kern, const struct cni_env *env, const struct cni_conf *conf, struct cni_err *ce)
{
	char name[CTNET_NAME_MAX + 1];
	int lock, rc;

	cni_attachment_name(env->container_id, env->ifname, name);
	if ((lock = open_lock(name, ce)) < 0)
		return lock;
	rc = check_locked(kern, env, conf, name, ce);
	cni_attachment_unlock(name, lock);
	return rc;
}

/* --- GC --- */

struct gc_ctx {
	const struct cni_conf *conf;
	size_t n, cap;
	char (*names)[CTNET_NAME_MAX + 1];
};

static bool gc_valid(const struct cni_conf *conf, const struct cni_attachment *a)
{
	size_t i;
	json_t *v;
	json_array_foreach(conf->valid, i, v) {
		if (!strcmp(json_string_value(json_object_get(v, "containerID")), a->container_id) &&
		    !strcmp(json_string_value(json_object_get(v, "ifname")), a->ifname))
			return true;
	}
	return false;
}

static int gc_collect(const struct cni_attachment *a, void *data)
{
	struct gc_ctx *g = data;
	if (strcmp(a->network, g->conf->name) || gc_valid(g->conf, a))
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		void *p = realloc(g->names, cap * sizeof(*g->names));
		if (!p)
			return -ENOMEM;
		g->names = p;
		g->cap = cap;
	}
	snprintf(g->names[g->n++], sizeof(g->names[0]), "%s", a->name);
	return 0;
}

int cni_gc(struct ctnet_kern *kern, const struct cni_conf *conf, unsigned *removed, struct cni_err *ce)
{
	struct gc_ctx g = { .conf = conf };
	int rc;

	*removed = 0;
	rc = cni_attachment_foreach(gc_collect, &g, &ce->e);
	if (rc == -ENOMEM)
		rc = ctnet_errf(&ce->e, ENOMEM, "GC: out of memory");
	for (size_t i = 0; rc == 0 && i < g.n; i++) {
		struct cni_attachment a;
		_cleanup_close_ int lock = open_lock(g.names[i], ce);
		if (lock < 0) {
			rc = lock;
			break;
		}
		/* Re-read under the lock: an ADD may have made it valid meanwhile. */
		if (cni_attachment_read(g.names[i], &a, &ce->e) < 0 || strcmp(a.network, conf->name) ||
		    gc_valid(conf, &a))
			continue;
		if ((rc = del_locked(kern, g.names[i], ce)) == 0)
			(*removed)++;
		cni_attachment_unlock(g.names[i], lock);
		lock = -1;
	}
	free(g.names);
	return rc < 0 ? fail_code(ce, rc) : 0;
}

/* --- STATUS --- */

int cni_status(struct ctnet_kern *kern, const struct cni_conf *conf, struct cni_err *ce)
{
	int fd, rc;

	fd = ctnet_dir_open(ctnet_state_dir(), NULL, true, &ce->e);
	if (fd >= 0) {
		close(fd);
		fd = ctnet_dir_open(ctnet_run_dir(), "cni", true, &ce->e);
	}
	if (fd < 0)
		return cni_code(ce, CNI_ERR_NOT_AVAILABLE, fd);
	close(fd);
	if ((rc = ctnet_caps_require(CTNET_CAP_NET_ADMIN, "ctnet-cni", &ce->e)) < 0)
		return cni_code(ce, CNI_ERR_NOT_AVAILABLE, rc);
	/* Reading ctnet's table proves nftables answers; a missing table is made by ADD. */
	if (conf->ip_masq && (rc = nat_check(kern, NULL, NULL, &ce->e)) < 0)
		return cni_code(ce, CNI_ERR_NOT_AVAILABLE, rc);
	return 0;
}
