/* SPDX-License-Identifier: MIT */
/* converge: a running container brought to its spec: repairs, and changes in place. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../netd/netd.h"
#include "launch.h"
#include "state.h"
#include "up_int.h"

/* Fields by name, for messages: "mtu, forwards". */
static void field_names(unsigned bits, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < CT_F_COUNT; i++) {
		if (!(bits & (1u << i)))
			continue;
		int n = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", ct_field_name(1u << i));
		if (n < 0 || (size_t)n >= len - o)
			return;
		o += (size_t)n;
	}
}

static void forwards_changes(const struct ct_spec *want, const struct ct_spec *have,
			     struct ct_report *rep)
{
	char fw[64];
	for (int pass = 0; pass < 2; pass++) {
		const struct ct_spec *a = pass ? have : want, *b = pass ? want : have;
		for (size_t i = 0; i < a->n_forwards; i++) {
			bool found = false;
			for (size_t j = 0; j < b->n_forwards && !found; j++)
				found = !memcmp(&a->forwards[i], &b->forwards[j], sizeof(a->forwards[i]));
			if (!found)
				ct_report_add(rep, false, "forward %s%s", pass ? "-" : "+",
					      nat_forward_str(&a->forwards[i], fw, sizeof(fw)));
		}
	}
}

/* Links, addresses and routes: netd_up re-applies them all (and MTU and MAC). */
static int converge_links(struct ctnet_kern *kern, const struct ct_spec *want, const struct ct_record *have,
			  unsigned diff, int nsfd, struct ct_record *r, struct netd_faults *faults,
			  struct ct_report *rep, struct ctnet_err *err)
{
	struct netd_spec ls = link_spec(want, have, nsfd);
	int rc;

	if ((rc = netd_verify(kern, &ls, have->host_ifname, NULL, true, faults, err)) < 0)
		return rc;
	if (diff & CT_F_MTU)
		ct_report_add(rep, false, "mtu %u -> %u", have->spec.mtu, want->mtu);
	if (diff & CT_F_MAC)
		ct_report_add(rep, false, "mac %s -> %s", have->spec.mac[0] ? have->spec.mac : "random",
			      want->mac[0] ? want->mac : "random");
	for (size_t i = 0; i < faults->n; i++) {
		enum netd_fault_kind k = faults->v[i].kind;
		/* An MTU or MAC that differs because the spec changes it is a change, not a repair. */
		if (!((diff & CT_F_MTU) && (k == NETD_F_HOST_LINK_MTU || k == NETD_F_LINK_MTU)) &&
		    !((diff & CT_F_MAC) && k == NETD_F_LINK_MAC))
			ct_report_add(rep, true, "%s", faults->v[i].text);
	}
	if (faults->n || (diff & (CT_F_MTU | CT_F_MAC))) {
		struct netd_result res;
		ls.host_ifname = have->host_ifname;
		if ((rc = ct_bridge_ensure(kern, want, err)) < 0 || (rc = netd_up(kern, &ls, &res, err)) < 0)
			return rc;
		if (strcmp(res.host_ifname, have->host_ifname))
			snprintf(r->host_ifname, sizeof(r->host_ifname), "%s", res.host_ifname);
		snprintf(r->mac, sizeof(r->mac), "%s", res.mac);
		if ((diff & CT_F_MAC) &&
		    (rc = netd_neigh_forget(kern, r->host_ifname, &r->local, r->has_v6 ? &r->local6 : NULL, err)) < 0)
			return rc;
	}
	return rc;
}

/* Impairment: changed in place, or put back when someone changed the qdiscs. */
static int converge_impair(struct ctnet_kern *kern, const struct ct_spec *want, unsigned diff, int nsfd,
			   const struct ct_record *r, struct ct_report *rep, struct ctnet_err *err)
{
	struct netd_impair now = { 0 };
	struct ctnet_err e2;
	bool foreign = false;
	bool drift = !(diff & CT_F_IMPAIR) &&
		     (netd_impair_read(kern, -1, r->host_ifname, &now, &foreign, &e2) < 0 || foreign ||
		      !netd_impair_equal(&now, &want->impair));
	if (diff & CT_F_IMPAIR)
		ct_report_add(rep, false, "impairment %s", netd_impair_active(&want->impair) ? "set" : "removed");
	else if (drift)
		ct_report_add(rep, true, "impairment of %s differed", r->host_ifname);
	if ((diff & CT_F_IMPAIR) || drift)
		return netd_impair_apply(kern, r->host_ifname, nsfd, r->ifname, &want->impair, err);
	return 0;
}

/* Sysctls, then the NAT elements: repaired when missing, forwards changed in place. */
static int converge_nat(struct ctnet_kern *kern, const struct ct_spec *want, const struct ct_record *have,
			const struct ct_view *view, unsigned diff, const struct ct_record *r,
			struct nat_container *c, struct ct_report *rep, struct ctnet_err *err)
{
	struct nat_counters *cn = NULL;
	struct ctnet_err e2;
	char changed[160] = "";
	int n, rc = 0;

	/* Sysctls first: nat_add would set them silently. */
	ct_nat_of(want, r, c);
	if ((n = nat_sysctls_repair(kern, r->has_v6, c, changed, sizeof(changed), err)) < 0)
		return n;
	/* route_localnet switched on for a container's first forward is a change, not damage. */
	bool first_fw = (diff & CT_F_FORWARDS) && !have->spec.n_forwards && want->n_forwards &&
			strstr(changed, "route_localnet") && !strchr(changed, ',');
	if (n > 0)
		ct_report_add(rep, !first_fw, "sysctl %s %s", changed, first_fw ? "on for its first forward" : "was off");
	ct_nat_of(&have->spec, have, c);
	if (view && view->nat)
		n = nat_counters_missing(view->nat, c);
	else
		n = nat_counters_read(kern, &cn, &e2) == 0 ? nat_counters_missing(cn, c) : -1;
	if (n > 0)
		ct_report_add(rep, true, "%d NAT element%s missing in nft", n, n == 1 ? "" : "s");
	if (diff & CT_F_FORWARDS)
		forwards_changes(want, &have->spec, rep);
	/* Idempotent: re-adds every element (repairs), applies a forwards change. Skipped
	 * only when the kernel was read and holds every element already. */
	if (n != 0 || (diff & CT_F_FORWARDS) || strcmp(r->host_ifname, have->host_ifname)) {
		ct_nat_of(want, r, c);
		if ((rc = nat_add(kern, c, err)) == -EADDRINUSE)
			explain_port_clash(kern, want, err);
	}
	nat_counters_free(cn);
	return rc;
}

static int converge(struct ctnet_kern *kern, const struct ct_spec *want, const struct ct_record *have,
		    const struct ct_view *view, struct ct_record *out, struct ct_report *rep,
		    struct ctnet_err *err)
{
	unsigned diff = ct_spec_diff(want, &have->spec), fixed = diff & ~CT_F_IN_PLACE;
	struct ct_record *r = NULL;
	struct nat_container *c = NULL;
	struct netd_faults *faults = NULL;
	char names[256];
	_cleanup_close_ int nsfd = -1;
	int rc = 0;

	if (fixed) {
		field_names(fixed, names, sizeof(names));
		return ctnet_errf(err, EEXIST,
				  "container \"%s\": already up; %s cannot change on a running container "
				  "(ctnet down %s first)",
				  want->name, names, want->name);
	}
	if (!(r = malloc(sizeof(*r))) || !(c = malloc(sizeof(*c))) ||
	    !(faults = malloc(sizeof(*faults)))) {
		rc = ctnet_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	*r = *have;
	r->spec = *want;
	r->spec.netns_fd = -1;
	if (want->shared)
		goto commit;

	if ((nsfd = open_record_netns(have, err)) < 0) {
		rc = nsfd;
		goto out;
	}
	if ((rc = converge_links(kern, want, have, diff, nsfd, r, faults, rep, err)) < 0)
		goto out;
	if (((diff & CT_F_IMPAIR) || netd_impair_active(&want->impair)) &&
	    (rc = converge_impair(kern, want, diff, nsfd, r, rep, err)) < 0)
		goto out;
	/* Extra veths: re-applied when one is missing (netd_extra_veth_add is idempotent). */
	for (size_t i = 0; i < want->n_extra_veths; i++) {
		if (ct_link_present(kern, want->extra_veths[i].ifname))
			continue;
		ct_report_add(rep, true, "extra veth %s missing", want->extra_veths[i].ifname);
		if ((rc = netd_extra_veth_add(kern, want->name, nsfd, &want->extra_veths[i], err)) < 0)
			goto out;
	}
	if (!want->no_nat && (rc = converge_nat(kern, want, have, view, diff, r, c, rep, err)) < 0)
		goto out;
commit:
	/* An unchanged request leaves the record as it is (no write per verified container). */
	if ((diff || strcmp(r->host_ifname, have->host_ifname)) && (rc = record_write(r, err)) < 0)
		goto out;
	*out = *r;
out:
	free(faults);
	free(c);
	free(r);
	return rc;
}

int ct_converge(struct ctnet_kern *kern, const struct ct_spec *want, const struct ct_record *have, const struct ct_view *view,
		struct ct_record *out, struct ct_report *rep, struct ctnet_err *err)
{
	/* A repair or change whose record or NAT state could not be written would leave the
	 * kernel and the state apart: proven first, nothing changed when it fails. */
	int rc = ct_state_writable(err);
	return rc < 0 ? rc : converge(kern, want, have, view, out, rep, err);
}

int ct_repair(struct ctnet_kern *kern, const char *name, struct ct_record *out, struct ct_report *rep,
	      struct ctnet_err *err)
{
	struct ct_record *have = malloc(sizeof(*have));
	int lock = -1;
	const char *why = NULL;
	int rc;

	if (!have)
		return ctnet_errf(err, ENOMEM, "out of memory");
	if ((lock = record_lock(name, err)) < 0) {
		rc = lock;
		goto out;
	}
	if ((rc = record_read(name, have, err)) < 0)
		goto out;
	if (have->pending || have->stopping != CT_STOP_NONE)
		rc = ctnet_errf(err, EBUSY, "%s: an up or down of it was interrupted: ctnet gc cleans it, or ctnet up %s "
			       "brings it up again", name, name);
	else if (have->spec.shared)
		rc = ctnet_errf(err, EINVAL, "%s shares the host's network: nothing of its own to repair", name);
	else if (!ct_state_record(have, &why))
		rc = ctnet_errf(err, ESRCH, "%s is gone (%s): ctnet gc forgets it, ctnet up %s brings it up again",
				name, why, name);
	else
		rc = ct_converge(kern, &have->spec, have, NULL, out, rep, err);
out:
	if (lock >= 0)
		record_unlock(name, lock); /* `repair nosuch` leaves no lock file */
	free(have);
	return rc;
}
