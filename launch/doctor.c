/* SPDX-License-Identifier: MIT */
/*
 * ctnet doctor's engine: why a container's traffic is dead. Each recorded container is
 * judged by ct_judge (the judge of up, apply, status and CNI CHECK) and its faults become
 * findings; then the modules' host checks run over the live ones (netd: clashing addresses
 * and routes, MTU; nat: other tables, sysctls, conntrack, listeners).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "finding.h"
#include "launch.h"
#include "state.h"

/* What doctor keeps of one record (a ct_record is ~7 KB; thousands are read). */
struct item {
	char name[CTNET_NAME_MAX + 1];
	char host_ifname[IFNAMSIZ], bridge[IFNAMSIZ], ifname[IFNAMSIZ];
	const char *netns;
	unsigned mtu;
	struct ctnet_addr host, local, host6, local6;
	bool has_v6, no_nat, stale;
	struct ct_fault *faults; /* what ct_judge found (in the arena) */
	size_t n_faults;
	struct nat_container nc;
};

/* Items come from big blocks: thousands of 5 KB mallocs cost more than the checks. */
struct arena {
	char **blocks;
	size_t n_blocks, used;
};

#define BLOCK_SIZE (1 << 20)

static void *arena_alloc(struct arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (size > BLOCK_SIZE)
		return NULL;
	if (!a->n_blocks || a->used + size > BLOCK_SIZE) {
		char **b = realloc(a->blocks, (a->n_blocks + 1) * sizeof(*b));
		if (!b)
			return NULL;
		a->blocks = b;
		/* Populated at once: one system call instead of a page fault per 4 KB. */
		void *m = mmap(NULL, BLOCK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
			       -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		b[a->n_blocks] = m;
		a->n_blocks++;
		a->used = 0;
	}
	void *p = a->blocks[a->n_blocks - 1] + a->used;
	a->used += size;
	return p;
}

static void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n_blocks; i++)
		munmap(a->blocks[i], BLOCK_SIZE);
	free(a->blocks);
}

/* The item of record r in *out (NULL for one doctor does not check: shared, pending), or
 * -ENOMEM. */
static int item_make(struct arena *a, const struct ct_record *r, struct item **out)
{
	*out = NULL;
	if (r->spec.shared || r->pending || !r->host_ifname[0])
		return 0;
	struct item *it = arena_alloc(a, sizeof(*it) - sizeof(it->nc.forwards) +
				      r->spec.n_forwards * sizeof(it->nc.forwards[0]));
	size_t nl = strlen(r->netns) + 1;
	char *ns = arena_alloc(a, nl);
	if (!it || !ns)
		return -ENOMEM;
	memset(it, 0, sizeof(*it) - sizeof(it->nc.forwards));
	snprintf(it->name, sizeof(it->name), "%s", r->spec.name);
	snprintf(it->host_ifname, sizeof(it->host_ifname), "%s", r->host_ifname);
	snprintf(it->bridge, sizeof(it->bridge), "%s", r->spec.bridge);
	snprintf(it->ifname, sizeof(it->ifname), "%s", r->ifname);
	memcpy(ns, r->netns, nl);
	it->netns = ns;
	it->mtu = r->spec.mtu;
	it->host = r->host;
	it->local = r->local;
	it->host6 = r->host6;
	it->local6 = r->local6;
	it->has_v6 = r->has_v6 && r->local6.family;
	it->no_nat = r->spec.no_nat || !r->local.family;
	it->nc.name = it->name;
	it->nc.iface = it->host_ifname;
	it->nc.addr = r->local;
	it->nc.has_addr6 = it->has_v6;
	it->nc.addr6 = r->local6;
	it->nc.n_forwards = r->spec.n_forwards;
	memcpy(it->nc.forwards, r->spec.forwards, r->spec.n_forwards * sizeof(r->spec.forwards[0]));
	{ /* the rest as the judge and up see it (its MAC, its bridge or host-side addresses) */
		struct nat_container full;
		ct_nat_of(&r->spec, r, &full);
		it->nc.has_mac = full.has_mac;
		memcpy(it->nc.mac, full.mac, sizeof(it->nc.mac));
		it->nc.bridge = it->bridge[0] ? it->bridge : NULL;
		it->nc.host = full.host;
		it->nc.host6 = full.host6;
	}
	*out = it;
	return 0;
}

/*
 * The records and the host as read once: the names from one listing (ct_records_load), the
 * host (its addresses and routes, ctnet's table, what nat's doctor reads) in a thread of its
 * own meanwhile; then each record is read and judged against that view by whoever takes it
 * next (this thread, and the host reader once its reads are done), into its slot, so the
 * containers keep the listing's (name) order whoever judged them.
 */
struct records {
	struct ct_records l;
	bool inside;
	struct item **slot;
	size_t next;  /* the next name to take (atomic) */
	bool listed;  /* names and slots are complete (atomic): others may take */
	bool oom;     /* (atomic) */
	struct arena a, helper; /* this thread's items, the helper's */
	struct item **v;        /* the items, in order */
	size_t n_items;
	struct ct_record *one;  /* doctor NAME: its record */
	/* the host, read by host_read_run */
	struct ct_view view;
	struct nat_doctor_view *nv;
	int hr, nr;
	struct ctnet_err he, ne;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ready; /* the host was read (under lock) */
};

/* r judged into it (a judgement that could not ask the kernel is one fault saying so). */
static void item_judge(struct ctnet_kern *kern, const struct records *w, const struct ct_record *r, struct item *it,
		       struct ct_health *h, struct arena *a)
{
	struct ctnet_err e;
	if (ct_judge(kern, r, &w->view, w->inside, h, &e) < 0) {
		h->n = 1;
		h->v[0] = (struct ct_fault){ .kind = CT_FAULT_UNJUDGED };
		snprintf(h->v[0].object, sizeof(h->v[0].object), "%.63s", r->spec.name);
		snprintf(h->v[0].text, sizeof(h->v[0].text), "not judged: %.140s", e.msg);
	}
	it->stale = h->n && h->v[0].kind == CT_FAULT_STALE;
	if (h->n && (it->faults = arena_alloc(a, h->n * sizeof(*it->faults)))) {
		memcpy(it->faults, h->v, h->n * sizeof(*it->faults));
		it->n_faults = h->n;
	}
}

static void records_take(struct records *w, struct arena *a, struct ctnet_kern *kern)
{
	struct ct_record *r = malloc(sizeof(*r));
	struct ct_health *h = malloc(sizeof(*h));
	size_t i;

	if (!r || !h) {
		__atomic_store_n(&w->oom, true, __ATOMIC_RELAXED);
		free(r);
		free(h);
		return;
	}
	while ((i = __atomic_fetch_add(&w->next, 1, __ATOMIC_RELAXED)) < w->l.n) {
		struct ctnet_err e;
		if (ct_records_read(&w->l, i, r, &e) < 0)
			continue; /* removed meanwhile, or unreadable: status reports those */
		if (item_make(a, r, &w->slot[i]) < 0)
			__atomic_store_n(&w->oom, true, __ATOMIC_RELAXED);
		else if (w->slot[i])
			item_judge(kern, w, r, w->slot[i], h, a);
	}
	free(h);
	free(r);
}

/* NAME's record, or the names of them all (records_take reads them). */
static int records_list(const char *name, struct records *w, struct ctnet_err *err)
{
	int r;
	if (name) {
		if (!(w->one = malloc(sizeof(*w->one))) || !(w->v = calloc(1, sizeof(*w->v))))
			return ctnet_errf(err, ENOMEM, "doctor: out of memory");
		if ((r = record_read(name, w->one, err)) == 0 && (r = item_make(&w->a, w->one, &w->v[0])) < 0)
			r = ctnet_errf(err, ENOMEM, "doctor: out of memory");
		w->n_items = w->v[0] ? 1 : 0;
		return r;
	}
	if ((r = ct_records_load(-1, &w->l, err)) < 0)
		return r;
	if (!(w->slot = calloc(w->l.n ? w->l.n : 1, sizeof(*w->slot))) ||
	    !(w->v = calloc(w->l.n ? w->l.n : 1, sizeof(*w->v))))
		return ctnet_errf(err, ENOMEM, "doctor: out of memory");
	ctnet_err_clear(err);
	return 0;
}

static void records_free(struct records *w)
{
	ct_records_free(&w->l);
	free(w->slot);
	free(w->v);
	free(w->one);
	nat_doctor_view_free(w->nv); /* waits for the route_localnet reads (of items) */
	arena_free(&w->a);
	arena_free(&w->helper);
	nat_counters_free(w->view.nat);
	netd_host_view_close(w->view.host);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
}

/* The host (what needs no record), read in a thread of its own while the records are
 * listed; then its share of the records, judged against it. */
static void *host_read_run(void *arg)
{
	struct records *w = arg;
	struct ctnet_kern kern; /* this thread's own */

	ctnet_kern_init(&kern);
	w->hr = ct_view_read_host(&kern, &w->view, &w->he);
	ct_view_read_nat(&kern, &w->view);
	w->nr = nat_doctor_read(&kern, &w->nv, &w->ne);
	pthread_mutex_lock(&w->lock);
	w->ready = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (__atomic_load_n(&w->listed, __ATOMIC_ACQUIRE))
		records_take(w, &w->helper, &kern);
	ctnet_kern_close(&kern);
	return NULL;
}

/* Lists and judges the records while the host is read (see struct records). */
static int records_read(struct ctnet_kern *kern, const char *name, struct records *w, struct ctnet_err *err)
{
	pthread_t tid;
	bool threaded = pthread_create(&tid, NULL, host_read_run, w) == 0;
	int r = records_list(name, w, err);

	if (r >= 0 && !name)
		__atomic_store_n(&w->listed, true, __ATOMIC_RELEASE);
	if (threaded) {
		pthread_mutex_lock(&w->lock);
		while (!w->ready)
			pthread_cond_wait(&w->cond, &w->lock);
		pthread_mutex_unlock(&w->lock);
		if (r >= 0 && !name)
			records_take(w, &w->a, kern);
		pthread_join(tid, NULL);
	} else {
		host_read_run(w);
	}
	if (r >= 0 && w->one && w->n_items) {
		struct ct_health *h = malloc(sizeof(*h));
		if (h)
			item_judge(kern, w, w->one, w->v[0], h, &w->a);
		free(h);
		w->oom |= !h;
	}
	for (size_t i = 0; r >= 0 && !name && i < w->l.n; i++)
		if (w->slot[i])
			w->v[w->n_items++] = w->slot[i];
	if (r >= 0 && w->oom)
		r = ctnet_errf(err, ENOMEM, "doctor: out of memory");
	if (r >= 0 && w->hr < 0) {
		*err = w->he;
		r = w->hr;
	}
	if (r >= 0 && w->nr < 0) {
		*err = w->ne;
		r = w->nr;
	}
	return r;
}

/* The live containers as netd's and nat's host checks take them (nt: the NAT'd ones). */
static size_t doctor_items(const struct records *w, struct netd_doctor_ct *nd, struct nat_doctor_ct *nt,
			   size_t *n_nat)
{
	size_t n = 0;
	for (size_t i = 0; i < w->n_items; i++) {
		struct item *it = w->v[i];
		if (it->stale)
			continue;
		nd[n++] = (struct netd_doctor_ct){
			.name = it->name, .host_ifname = it->host_ifname, .bridge = it->bridge, .mtu = it->mtu,
			.host = it->host, .local = it->local, .has_v6 = it->has_v6,
			.host6 = it->host6, .local6 = it->local6,
			/* ctnet's table clamps TCP MSS for its interfaces (forward chain) */
			.mss_clamped = !it->no_nat,
		};
		if (!it->no_nat)
			nt[(*n_nat)++] = (struct nat_doctor_ct){ .c = &it->nc,
								 .l3iface = it->bridge[0] ? it->bridge : it->host_ifname };
	}
	return n;
}

int ct_doctor(struct ctnet_kern *kern, const char *name, bool inside, const struct ctnet_hostconf *hc,
	      struct ctnet_findings *out, size_t *n_checked, struct ctnet_err *err)
{
	struct records w = { .l = { .dfd = -1 }, .inside = inside, .hr = -EAGAIN, .nr = -EAGAIN };
	struct netd_uplink up;
	struct netd_doctor_ct *nd = NULL;
	struct nat_doctor_ct *nt = NULL;
	size_t n_nat = 0, n_live;
	int r;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	if ((r = records_read(kern, name, &w, err)) < 0)
		goto out;
	nd = calloc(w.n_items ? w.n_items : 1, sizeof(*nd));
	nt = calloc(w.n_items ? w.n_items : 1, sizeof(*nt));
	if (!nd || !nt) {
		r = ctnet_errf(err, ENOMEM, "doctor: out of memory");
		goto out;
	}
	/* Each container's faults as ct_judge found them, in the listing's order. */
	for (size_t i = 0; i < w.n_items; i++)
		for (size_t j = 0; j < w.v[i]->n_faults; j++)
			ct_fault_finding(w.v[i]->name, w.v[i]->host_ifname, w.v[i]->netns,
					 &w.v[i]->faults[j], out);
	n_live = doctor_items(&w, nd, nt, &n_nat);
	/* Each container's route_localnet (a file each) while the addresses are checked. */
	nat_doctor_localnet_start(w.nv, nt, n_nat);
	if ((r = netd_doctor_view(w.view.host, nd, n_live, &up, out, err)) < 0)
		goto out;
	r = nat_doctor_check(w.nv, nt, n_nat, up.found ? up.ifname : NULL, out, err);
	if (r >= 0)
		r = ct_dns_doctor(kern, w.nv, nd, n_live, out, err);
	if (r >= 0)
		r = ct_doctor_cluster(hc, w.view.host, w.view.nat, w.nv, nt, n_nat, out, err);
	*n_checked = w.n_items;
	if (r >= 0 && out->oom)
		r = ctnet_errf(err, ENOMEM, "doctor: out of memory");
out:
	records_free(&w); /* first: the route_localnet reads use nt */
	free(nd);
	free(nt);
	return r;
}
