/* SPDX-License-Identifier: MIT */
/* The one judge of a container (ct_judge), apply's read-only check (ct_check_view) and the
 * liveness of a record (ct_state). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "../netd/netd.h"
#include "launch.h"
#include "state.h"
#include "up_int.h"

static void health_add(struct ct_health *h, enum ct_fault_kind kind, int link, const char *object, const char *fmt,
		       ...) CTNET_PRINTF(5, 6);
static void health_add(struct ct_health *h, enum ct_fault_kind kind, int link, const char *object, const char *fmt,
		       ...)
{
	struct ct_fault *f;
	va_list ap;
	if (h->n == CT_FAULTS_MAX) {
		h->truncated = true;
		return;
	}
	f = &h->v[h->n++];
	f->kind = kind;
	f->link = link;
	snprintf(f->object, sizeof(f->object), "%s", object);
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
}

void ct_view_read_nat(struct ctnet_kern *kern, struct ct_view *v)
{
	struct ctnet_err e;
	if (nat_counters_read(kern, &v->nat, &e) < 0)
		v->nat = NULL;
	v->nat_whole = nat_counters_whole(v->nat) && !nat_counters_cluster_drift(v->nat);
}

int ct_view_read_host(struct ctnet_kern *kern, struct ct_view *v, struct ctnet_err *err)
{
	int r = netd_host_view_open(kern, &v->host, true, err);
	if (r < 0)
		v->host = NULL;
	v->sysctls_read = nat_sysctls_off(kern, false, NULL, NULL, true) == 0;
	v->sysctls6_read = v->sysctls_read && nat_sysctls_off(kern, true, NULL, NULL, true) == 0;
	return r;
}

const char *ct_health_state(const struct ct_health *h)
{
	return !h->n ? "up" : h->v[0].kind == CT_FAULT_STALE ? "stale" : "degraded";
}

/* The sysctls NAT needs for c that are off, each a fault. */
static void judge_sysctls(struct ctnet_kern *kern, const struct ct_record *r, const struct nat_container *c,
			  const struct ct_view *view, struct ct_health *h)
{
	char names[256], *save = NULL;
	/* The host-wide ones from the view when it read them; c's route_localnet always. */
	bool globals = !view || !view->sysctls_read || (r->has_v6 && !view->sysctls6_read);
	const char *dev = r->spec.bridge[0] ? r->spec.bridge : r->host_ifname;

	if (nat_sysctls_which(kern, r->has_v6, c, dev, globals, names, sizeof(names)) <= 0)
		return;
	for (char *n = strtok_r(names, ", ", &save); n; n = strtok_r(NULL, ", ", &save))
		health_add(h, strstr(n, "route_localnet") ? CT_FAULT_LOCALNET : CT_FAULT_FORWARDING, 0, n,
			   "sysctl %s off", n);
}

int ct_judge(struct ctnet_kern *kern, const struct ct_record *r, const struct ct_view *view, bool inside,
	     struct ct_health *h, struct ctnet_err *err)
{
	struct netd_faults *faults = NULL;
	struct nat_container *c = NULL;
	struct nat_counters *own = NULL;
	_cleanup_close_ int nsfd = -1;
	const char *why;
	int rc = 0;

	memset(h, 0, sizeof(*h));
	if (!ct_state_record(r, &why)) {
		health_add(h, CT_FAULT_STALE, 0, r->spec.name, "%s", why);
		return 0;
	}
	if (r->spec.shared)
		return 0;
	if (!(faults = malloc(sizeof(*faults))) || !(c = malloc(sizeof(*c)))) {
		rc = ctnet_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	/* Inside the namespace when asked, or when the view cannot judge (a bridge port). */
	inside = inside || r->spec.bridge[0] || !view || !view->host;
	if (inside && (nsfd = open_record_netns(r, err)) < 0) {
		if (nsfd != -EPERM && nsfd != -EACCES) {
			health_add(h, CT_FAULT_STALE, 0, r->spec.name, "namespace unreadable");
			rc = 0;
			goto out;
		}
		inside = false; /* not ours to open (an unprivileged reader): judged from the host */
	}
	struct netd_spec ls = link_spec(&r->spec, r, nsfd);
	rc = netd_verify(kern, &ls, r->host_ifname, view ? view->host : NULL, inside, faults, err);
	if (rc == -EPERM) {
		/* A reader without CAP_SYS_ADMIN cannot enter (a bridge port is judged inside): the
		 * links go unjudged rather than the whole judgement failing. */
		faults->n = 0;
		rc = 0;
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < faults->n; i++)
		health_add(h, CT_FAULT_LINK, (int)faults->v[i].kind, faults->v[i].object, "%s", faults->v[i].text);
	for (size_t i = 0; i < r->spec.n_extra_veths; i++)
		if (!ct_link_present(kern, r->spec.extra_veths[i].ifname))
			health_add(h, CT_FAULT_EXTRA_VETH, 0, r->spec.extra_veths[i].ifname, "extra veth %s missing",
				   r->spec.extra_veths[i].ifname);
	if (r->spec.no_nat)
		goto out;
	ct_nat_of(&r->spec, r, c);
	judge_sysctls(kern, r, c, view, h);
	struct ctnet_addr gone;
	char ip[CTNET_ADDR_STRLEN];
	if (nat_host_ip_gone(kern, c, &gone) == 1 && ctnet_addr_str(&gone, ip))
		health_add(h, CT_FAULT_HOST_IP, 0, ip, "a forward is pinned to %s, an address this host does not have", ip);
	if (view && view->nat_later && !view->nat)
		goto out; /* the caller looks the elements up once the table is read */
	/* A view's table is read once for every container: not again when it was unreadable. */
	const struct nat_counters *cn = view ? view->nat : NULL;
	if (!view && nat_counters_read(kern, &own, err) == 0)
		cn = own;
	int missing = cn && nat_counters_whole(cn) ? nat_counters_missing(cn, c) : 0;
	char chain[64];
	if (cn && nat_counters_foreign(cn, chain, sizeof(chain)))
		health_add(h, CT_FAULT_NAT_TABLE, 0, chain, "a rule that is not ctnet's in its chain %s", chain);
	else if (!cn || !nat_counters_whole(cn))
		health_add(h, CT_FAULT_NAT_TABLE, 0, "inet ctnet",
			   cn ? "nft table inet ctnet or one of its chains missing" : "nft table inet ctnet unreadable");
	else if (nat_counters_cluster_drift(cn))
		health_add(h, CT_FAULT_NAT_TABLE, 0, "inet ctnet",
			   "ctnet's cluster sets differ from the recorded cluster CIDRs");
	else if (missing > 0)
		health_add(h, CT_FAULT_NAT, 0, r->spec.name, "%d of its NAT elements missing", missing);
out:
	nat_counters_free(own);
	free(c);
	free(faults);
	return rc;
}

/*
 * A running container's check without a change: 1 when converge would repair or change
 * something, 0 when the kernel holds everything (read-only, no lock needed), or -errno.
 * What apply runs for each unchanged file before it takes a lock.
 */
int ct_check_view(struct ctnet_kern *kern, const struct ct_spec *want, const struct ct_record *have, const struct ct_view *view,
		  struct ctnet_err *err)
{
	struct ct_health *h;
	int rc;

	if (ct_spec_diff(want, &have->spec) || !view || (!view->nat && !view->nat_later) || !view->host)
		return 1;
	if (want->shared)
		return 0;
	if (netd_impair_active(&want->impair))
		return 1;
	if (!(h = malloc(sizeof(*h))))
		return ctnet_errf(err, ENOMEM, "out of memory");
	rc = ct_judge(kern, have, view, view->deep, h, err);
	for (size_t i = 0; rc == 0 && i < h->n; i++)
		/* The host-wide ones are the caller's to check (and repair) once. */
		if (h->v[i].kind != CT_FAULT_FORWARDING && h->v[i].kind != CT_FAULT_NAT_TABLE &&
		    h->v[i].kind != CT_FAULT_HOST_IP) /* not ctnet's to repair */
			rc = 1;
	free(h);
	return rc;
}

bool ct_link_present(struct ctnet_kern *kern, const char *ifname)
{
	int sock = ctnet_kern_ioctl_fd(kern);
	struct ifreq ifr;

	if (sock < 0)
		return if_nametoindex(ifname) != 0;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	return ioctl(sock, SIOCGIFINDEX, &ifr) == 0 || errno != ENODEV;
}

int ct_state(struct ctnet_kern *kern, const struct ct_record *r, const char **why)
{
	if (!ct_state_record(r, why))
		return 0;
	/* By name in this namespace (SIOCGIFINDEX): a netlink GETLINK of a veth makes the
	 * kernel look up its peer's namespace id, a scan of all ids, so thousands of those
	 * grew quadratically. */
	if (!r->spec.shared && r->host_ifname[0] && !ct_link_present(kern, r->host_ifname)) {
		*why = "host link missing";
		return 0;
	}
	return 1;
}

int ct_state_record(const struct ct_record *r, const char **why)
{
	if (r->pending) {
		*why = "up interrupted (gc removes it)";
		return 0;
	}
	if (r->stopping) {
		*why = "down interrupted (gc finishes it)";
		return 0;
	}
	if (!record_alive(r, why))
		return 0;
	*why = NULL;
	return 1;
}
