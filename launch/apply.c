/* SPDX-License-Identifier: MIT */
/*
 * ctnet apply: a directory of nixos-container .conf files is the desired set of containers.
 * The whole directory is read and checked first (every file, then clashes between files and
 * with containers apply does not own); only then does anything change, one container at a
 * time through ct_up (which converges) and ct_down.
 */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "apply_int.h"
#include "launch.h"
#include "state.h"

static int item_add(struct ct_apply_plan *p, const char *name, struct ctnet_err *err)
{
	if (CTNET_GROW(p->v, p->n, p->cap, 64) < 0)
		return ctnet_errf(err, ENOMEM, "apply: out of memory");
	memset(&p->v[p->n], 0, sizeof(p->v[0]));
	snprintf(p->v[p->n].name, sizeof(p->v[0].name), "%s", name);
	return (int)p->n++;
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ct_apply_item *)a)->name, ((const struct ct_apply_item *)b)->name);
}

static struct ct_apply_item *find(struct ct_apply_plan *p, const char *name)
{
	struct ct_apply_item key;
	snprintf(key.name, sizeof(key.name), "%s", name);
	/* The files only: removals found by the scan are appended after them, unsorted. */
	return p->n_files ? bsearch(&key, p->v, p->n_files, sizeof(*p->v), item_cmp) : NULL;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files' names: NAME.conf -> an item each, in name order (read and checked by
 * apply_read_files). The names are sorted, not the items (which are large). */
static int read_dir(struct ct_apply_plan *p, struct ctnet_err *err)
{
	DIR *d = opendir(p->dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d)
		return ctnet_err_sys(err, errno, "apply: directory \"%s\"", p->dir);
	while ((e = readdir(d)) && rc >= 0) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len <= 5 || strcmp(e->d_name + len - 5, ".conf"))
			continue;
		if (len - 5 > CTNET_NAME_MAX) {
			rc = ctnet_errf(err, EINVAL, "apply: \"%s/%s\": container name too long", p->dir, e->d_name);
			break;
		}
		if (CTNET_GROW(names, n, cap, 256) < 0 || !(names[n] = strndup(e->d_name, len - 5))) {
			rc = ctnet_errf(err, ENOMEM, "apply: out of memory");
			break;
		}
		if ((rc = ctnet_name_check(names[n++], err)) < 0) {
			char inner[sizeof(err->msg)];
			snprintf(inner, sizeof(inner), "%s", err->msg);
			rc = ctnet_errf(err, EINVAL, "apply: \"%s/%s\": %s", p->dir, e->d_name, inner);
		}
	}
	closedir(d);
	if (rc >= 0 && n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	/* One allocation for the files' items (removals found later grow it). */
	if (rc >= 0 && n && !(p->v = calloc(n, sizeof(*p->v))))
		rc = ctnet_errf(err, ENOMEM, "apply: out of memory");
	p->cap = p->v ? n : 0;
	for (size_t i = 0; i < n; i++) {
		if (rc >= 0 && (rc = item_add(p, names[i], err)) > 0)
			rc = 0;
		free(names[i]);
	}
	free(names);
	return rc < 0 ? rc : 0;
}

static int addr_key_cmp(const struct ctnet_addr *a, const struct ctnet_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, a->family == AF_INET6 ? 16 : 4);
}

static int claim_addr_cmp(const void *x, const void *y)
{
	const struct claim *a = x, *b = y;
	int c = addr_key_cmp(a->a, b->a);
	return c ? c : (a->item < b->item ? -1 : a->item > b->item);
}

static int fwd_group_cmp(const struct nat_forward *a, const struct nat_forward *b)
{
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->has_host_ip != b->has_host_ip)
		return a->has_host_ip ? 1 : -1;
	return a->has_host_ip ? addr_key_cmp(&a->host_ip, &b->host_ip) : 0;
}

static int claim_fwd_cmp(const void *x, const void *y)
{
	const struct claim *a = x, *b = y;
	int c = fwd_group_cmp(a->f, b->f);
	if (c)
		return c;
	if (a->f->host_lo != b->f->host_lo)
		return a->f->host_lo < b->f->host_lo ? -1 : 1;
	return a->item < b->item ? -1 : a->item > b->item;
}

/* Both claim one address: a container's own address anywhere else, or two host-side
 * addresses of point-to-point links (a bridge's gateway address is shared). */
static bool addrs_clash(const struct claim *a, const struct claim *b)
{
	return a->item != b->item && (!a->host || !b->host || (a->p2p && b->p2p));
}

static void what_of(const struct ct_apply_plan *p, size_t item, char *buf, size_t len)
{
	snprintf(buf, len, "\"%s.conf\"", p->v[item].name);
}

void apply_claims_free(struct claims *c)
{
	free(c->addr);
	free(c->fwd);
	free(c->fwd_max);
}

/* Between files: one address and one host port each (sorted, so n log n for 5,000). */
int apply_claims_build(const struct ct_apply_plan *p, struct claims *c, struct ctnet_err *err)
{
	size_t na = 0, nf = 0;
	char a[CTNET_NAME_MAX + 16], b[CTNET_NAME_MAX + 16], s[CTNET_ADDR_STRLEN], fw[64];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < p->n_files; i++) {
		na += 2;
		nf += p->v[i].n_forwards;
	}
	c->addr = malloc((na ? na : 1) * sizeof(*c->addr));
	c->fwd = malloc((nf ? nf : 1) * sizeof(*c->fwd));
	c->fwd_max = malloc((nf ? nf : 1) * sizeof(*c->fwd_max));
	if (!c->addr || !c->fwd || !c->fwd_max)
		return ctnet_errf(err, ENOMEM, "apply: out of memory");
	for (size_t i = 0; i < p->n_files; i++) {
		const struct ct_apply_item *it = &p->v[i];
		if (it->local.family)
			c->addr[c->n_addr++] = (struct claim){ &it->local, NULL, i, false, it->p2p };
		if (it->host.family)
			c->addr[c->n_addr++] = (struct claim){ &it->host, NULL, i, true, it->p2p };
		for (size_t j = 0; j < it->n_forwards; j++)
			c->fwd[c->n_fwd++] = (struct claim){ NULL, &it->forwards[j], i, false, false };
	}
	if (c->n_addr > 1)
		qsort(c->addr, c->n_addr, sizeof(*c->addr), claim_addr_cmp);
	if (c->n_fwd > 1)
		qsort(c->fwd, c->n_fwd, sizeof(*c->fwd), claim_fwd_cmp);
	for (size_t i = 0; i < c->n_addr; i++)
		for (size_t j = i + 1; j < c->n_addr && !addr_key_cmp(c->addr[i].a, c->addr[j].a); j++)
			if (addrs_clash(&c->addr[i], &c->addr[j])) {
				what_of(p, c->addr[i].item, a, sizeof(a));
				what_of(p, c->addr[j].item, b, sizeof(b));
				return ctnet_errf(err, EADDRINUSE, "apply: %s and %s both claim address %s", a, b,
						  ctnet_addr_str(c->addr[i].a, s));
			}
	/* Sorted by group and start: a range overlaps an earlier one of its group iff it starts
	 * at or below the largest end seen so far. */
	for (size_t i = 0; i < c->n_fwd; i++) {
		bool first = !i || fwd_group_cmp(c->fwd[i - 1].f, c->fwd[i].f);
		c->fwd_max[i] = first ? c->fwd[i].f->host_hi
				      : (c->fwd[i].f->host_hi > c->fwd_max[i - 1] ? c->fwd[i].f->host_hi : c->fwd_max[i - 1]);
		if (first || c->fwd[i].f->host_lo > c->fwd_max[i - 1])
			continue;
		size_t j = i; /* the earlier one it overlaps */
		while (j-- > 0 && !(nat_forward_overlaps(c->fwd[j].f, c->fwd[i].f) && c->fwd[j].item != c->fwd[i].item))
			;
		if (j == (size_t)-1)
			continue; /* only its own container's (checked by the spec) */
		what_of(p, c->fwd[j].item, a, sizeof(a));
		what_of(p, c->fwd[i].item, b, sizeof(b));
		return ctnet_errf(err, EADDRINUSE, "apply: %s and %s both forward host port %s", a, b,
				  nat_forward_str(c->fwd[i].f, fw, sizeof(fw)));
	}
	return 0;
}

/* A running container apply does not own against the files' claims (bsearches). */
int apply_claims_check(const struct ct_apply_plan *p, const struct claims *c, const struct ct_record *r,
		       struct ctnet_err *err)
{
	char what[CTNET_NAME_MAX + 64], fwhat[CTNET_NAME_MAX + 16], s[CTNET_ADDR_STRLEN], fw[64];
	const struct ctnet_addr *mine[2] = { &r->local, &r->host };

	snprintf(what, sizeof(what), "running container \"%s\"", r->spec.name);
	for (int k = 0; k < 2; k++) {
		struct claim key = { mine[k], NULL, 0, k == 1, !r->spec.bridge[0] };
		if (!mine[k]->family || !c->n_addr)
			continue;
		size_t lo = 0, hi = c->n_addr;
		while (lo < hi) { /* the first claim of that address */
			size_t mid = (lo + hi) / 2;
			if (addr_key_cmp(c->addr[mid].a, mine[k]) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t i = lo; i < c->n_addr && !addr_key_cmp(c->addr[i].a, mine[k]); i++) {
			key.item = c->addr[i].item + 1; /* never equal */
			if (addrs_clash(&c->addr[i], &key)) {
				what_of(p, c->addr[i].item, fwhat, sizeof(fwhat));
				return ctnet_errf(err, EADDRINUSE, "apply: %s and %s both claim address %s", fwhat,
						  what, ctnet_addr_str(mine[k], s));
			}
		}
	}
	for (size_t k = 0; k < r->spec.n_forwards; k++) {
		const struct nat_forward *f = &r->spec.forwards[k];
		/* The last claim of f's group starting at or below f's end. */
		size_t lo = 0, hi = c->n_fwd;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int g = fwd_group_cmp(c->fwd[mid].f, f);
			if (g < 0 || (g == 0 && c->fwd[mid].f->host_lo <= f->host_hi))
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!lo || fwd_group_cmp(c->fwd[lo - 1].f, f) || c->fwd_max[lo - 1] < f->host_lo)
			continue;
		for (size_t i = lo; i-- > 0 && !fwd_group_cmp(c->fwd[i].f, f);)
			if (nat_forward_overlaps(c->fwd[i].f, f)) {
				what_of(p, c->fwd[i].item, fwhat, sizeof(fwhat));
				return ctnet_errf(err, EADDRINUSE, "apply: %s and %s both forward host port %s", fwhat,
						  what, nat_forward_str(c->fwd[i].f, fw, sizeof(fw)));
			}
	}
	return 0;
}

struct scan {
	struct ct_apply_plan *p;
	const struct claims *claims;
	struct ct_record *r;
	struct ctnet_err *err;
};

/* Each running container without a file (record i of l): ours (to remove) or someone
 * else's (a clash?). */
static int scan_record(struct scan *sc, const struct ct_records *l, size_t i)
{
	struct ct_apply_plan *p = sc->p;
	const char *name = l->v[i].name;
	struct ctnet_err e2;
	int rc;

	if (ct_records_read(l, i, sc->r, &e2) < 0)
		return 0; /* taken down meanwhile, or unreadable: not ours */
	if (!strcmp(sc->r->spec.origin, p->origin)) { /* its file is gone: remove it */
		if ((rc = item_add(p, name, sc->err)) < 0)
			return rc;
		p->v[rc].op = CT_APPLY_REMOVE;
		return 0;
	}
	/* Someone else's container: the files must not claim what it holds. */
	return apply_claims_check(p, sc->claims, sc->r, sc->err);
}

/* The records listed, and those without a file (read with their file otherwise) kept. */
static int list_others(struct view_reads *vr)
{
	int rc = ct_records_load(vr->records, &vr->recs, &vr->list_err);

	if (rc < 0)
		return rc;
	if (vr->recs.n && !(vr->others = malloc(vr->recs.n * sizeof(*vr->others))))
		return ctnet_errf(&vr->list_err, ENOMEM, "apply: out of memory");
	for (size_t i = 0; i < vr->recs.n; i++)
		if (!find(vr->p, vr->recs.v[i].name))
			vr->others[vr->n_others++] = i;
	return 0;
}

/* The kernel, read once for every unchanged container's check (see ct_check_view): the
 * NAT table in one thread, the host's addresses, routes and sysctls in another, while the
 * plan reads the directory (struct view_reads). */
static void *nat_read(void *arg)
{
	struct ct_apply_plan *p = arg;
	struct view_reads *vr = p->reads;
	struct ctnet_kern kern;

	ctnet_kern_init(&kern);
	ct_view_read_nat(&kern, &p->view);
	ctnet_kern_close(&kern);
	pthread_mutex_lock(&vr->lock);
	__atomic_store_n(&vr->nat_ready, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vr->cond);
	while (!vr->dir_done)
		pthread_cond_wait(&vr->cond, &vr->lock);
	pthread_mutex_unlock(&vr->lock);
	if (vr->dir_ok && vr->records >= 0)
		vr->list_rc = list_others(vr);
	return NULL;
}

/* The files' names are all known (or the plan failed): the records can be listed. */
static void view_dir_done(struct view_reads *vr, bool ok)
{
	pthread_mutex_lock(&vr->lock);
	vr->dir_done = true;
	vr->dir_ok = ok;
	pthread_cond_broadcast(&vr->cond);
	pthread_mutex_unlock(&vr->lock);
}

static void *host_read(void *arg)
{
	struct ctnet_kern kern;

	ctnet_kern_init(&kern);
	struct ctnet_err e; /* an unreadable host: each container is asked instead */
	ct_view_read_host(&kern, arg, &e);
	ctnet_kern_close(&kern);
	return NULL;
}

static void view_start(struct ct_apply_plan *p, struct view_reads *vr, int records)
{
	memset(vr, 0, sizeof(*vr));
	pthread_mutex_init(&vr->lock, NULL);
	pthread_cond_init(&vr->cond, NULL);
	vr->p = p;
	vr->records = records;
	p->reads = vr;
	if (!(vr->nat_threaded = pthread_create(&vr->nat_tid, NULL, nat_read, p) == 0)) {
		vr->dir_done = true; /* read here, now: the records are listed after the files */
		nat_read(p);
		vr->dir_done = false;
	}
	if (!(vr->host_threaded = pthread_create(&vr->host_tid, NULL, host_read, &p->view) == 0))
		host_read(&p->view);
}

static void view_host_wait(struct view_reads *vr)
{
	if (vr->host_threaded)
		pthread_join(vr->host_tid, NULL);
	vr->host_threaded = false;
}

/* Both reads ended (also on an early return of the plan). */
static void view_end(struct ct_apply_plan *p, struct view_reads *vr)
{
	view_host_wait(vr);
	if (!vr->dir_done)
		view_dir_done(vr, false);
	if (vr->nat_threaded)
		pthread_join(vr->nat_tid, NULL);
	else if (vr->dir_ok && vr->records >= 0) /* no thread: listed here */
		vr->list_rc = list_others(vr);
	vr->nat_threaded = false;
	pthread_mutex_destroy(&vr->lock);
	pthread_cond_destroy(&vr->cond);
	p->reads = NULL;
}

/* What is the host's to repair once, not each container's (see ct_check_view). */
static void host_check(struct ct_apply_plan *p)
{
	bool nat = false, v6 = false;
	size_t o = 0;
	/* Running containers of ours expect the table (a new one's up makes it anyway). */
	for (size_t i = 0; i < p->n_files; i++) {
		bool running = p->v[i].op == CT_APPLY_VERIFY || p->v[i].op == CT_APPLY_UPDATE;
		nat |= p->v[i].nat && running;
		v6 |= p->v[i].nat && running && p->v[i].v6;
	}
	if (!nat)
		return;
#define ADD(...)                                                                             \
	do {                                                                                 \
		int n_ = snprintf(p->host_what + o, sizeof(p->host_what) - o, __VA_ARGS__);  \
		if (n_ > 0 && (size_t)n_ < sizeof(p->host_what) - o)                         \
			o += (size_t)n_;                                                     \
	} while (0)
	if (!p->view.nat_whole)
		ADD("%s", nat_counters_whole(p->view.nat) ? "ctnet's cluster sets differ from the recorded cluster CIDRs"
							  : "nft table of ctnet or one of its chains missing");
	if (!p->view.sysctls_read)
		ADD("%ssysctl net.ipv4.ip_forward off", o ? ", " : "");
	else if (v6 && !p->view.sysctls6_read)
		ADD("%ssysctl net.ipv6.conf.all.forwarding off", o ? ", " : "");
#undef ADD
}

void ct_apply_origin(const char *dir, char out[CT_ORIGIN_MAX])
{
	static const char tag[] = "apply:";
	size_t len = strlen(dir);
	/* "apply:" + the path's first bytes + "//" + 16 hex digits */
	const int keep = (int)(CT_ORIGIN_MAX - 1 - (sizeof(tag) - 1) - 2 - 16);

	if (len <= CT_ORIGIN_MAX - 1 - (sizeof(tag) - 1)) {
		snprintf(out, CT_ORIGIN_MAX, "%s%s", tag, dir);
		return;
	}
	/* Too long to keep whole. Merely cut, two long paths sharing their first bytes would be
	 * one origin (each apply would remove the other's containers): a hash of the whole path
	 * tells them apart, and "//", which no real path has, keeps it from equalling a short
	 * origin. */
	snprintf(out, CT_ORIGIN_MAX, "%s%.*s//%016" PRIx64, tag, keep, dir, ctnet_hash64(dir, len));
}

int ct_apply_plan(const char *dir, bool deep, struct ct_apply_plan *p, struct ctnet_err *err)
{
	char real[PATH_MAX];
	struct claims claims = { 0 };
	struct scan sc = { .p = p, .claims = &claims, .err = err };
	struct view_reads vr;
	int rc, dfd = -1;

	memset(p, 0, sizeof(*p));
	if (!realpath(dir, real))
		return ctnet_err_sys(err, errno, "apply: directory \"%s\"", dir);
	snprintf(p->dir, sizeof(p->dir), "%s", real);
	ct_apply_origin(real, p->origin);
	clock_gettime(CLOCK_REALTIME, &p->started);
	p->view.deep = deep;
	/* The records directory, once: the files' records, then the others. */
	dfd = record_dir(false, err);
	if (dfd < 0 && dfd != -ENOENT)
		return dfd;
	view_start(p, &vr, dfd);
	ct_index_load(p->dir, &p->index);
	rc = read_dir(p, err);
	p->n_files = p->n;
	view_dir_done(&vr, rc >= 0);
	view_host_wait(&vr);
	if (rc < 0)
		goto out;
	if ((rc = apply_read_files(p, &vr, err)) < 0)
		goto out;
	if ((rc = apply_claims_build(p, &claims, err)) < 0)
		goto out;
	view_end(p, &vr);
	host_check(p);
	if (vr.list_rc < 0) {
		rc = ctnet_errf(err, -vr.list_rc, "%s", vr.list_err.msg);
		goto out;
	}
	if (vr.n_others && !(sc.r = malloc(sizeof(*sc.r)))) {
		rc = ctnet_errf(err, ENOMEM, "apply: out of memory");
		goto out;
	}
	/* Each running container without a file: ours (to remove) or someone else's. */
	for (size_t i = 0; i < vr.n_others && rc >= 0; i++)
		rc = scan_record(&sc, &vr.recs, vr.others[i]);
	free(sc.r);
	if (rc < 0)
		goto out;
	if (p->n > p->n_files) /* removals were appended */
		qsort(p->v, p->n, sizeof(*p->v), item_cmp);
	rc = 0;
out:
	if (p->reads)
		view_end(p, &vr);
	free(vr.others);
	ct_records_free(&vr.recs);
	if (dfd >= 0)
		close(dfd);
	apply_claims_free(&claims);
	return rc;
}

void ct_apply_free(struct ct_apply_plan *p)
{
	ct_index_free(&p->index);
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].spec);
		free(p->v[i].forwards);
		free(p->v[i].error);
		free(p->v[i].fresh);
		free(p->v[i].what);
	}
	free(p->v);
	nat_counters_free(p->view.nat);
	netd_host_view_close(p->view.host);
	memset(p, 0, sizeof(*p));
}
