/* SPDX-License-Identifier: MIT */
/*
 * ctnet doctor: why a container's traffic is dead. Composes the modules' checks (netd:
 * links, addresses, routes, MTU; nat: other tables, sysctls, conntrack, listeners) over the
 * recorded containers and prints their findings with one printer (table or --json).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../netd/netd.h"
#include "cli.h"
#include "ctnet.h"
#include "finding.h"
#include "out.h"
#include "state.h"

/* What doctor keeps of one record (a ct_record is ~6 KB; thousands are read). */
struct item {
	char name[CTNET_NAME_MAX + 1];
	char host_ifname[IFNAMSIZ], bridge[IFNAMSIZ], ifname[IFNAMSIZ];
	const char *netns;
	pid_t pid;
	unsigned mtu;
	struct ctnet_addr host, local, host6, local6;
	bool has_v6, no_nat;
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
	snprintf(it->name, sizeof(it->name), "%s", r->spec.name);
	snprintf(it->host_ifname, sizeof(it->host_ifname), "%s", r->host_ifname);
	snprintf(it->bridge, sizeof(it->bridge), "%s", r->spec.bridge);
	snprintf(it->ifname, sizeof(it->ifname), "%s", r->ifname);
	memcpy(ns, r->netns, nl);
	it->netns = ns;
	it->pid = r->pid;
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
	*out = it;
	return 0;
}

/*
 * The records: the names from one listing, then each record read by whoever takes it next
 * (this thread, and the host reader once its dumps are done), into its slot, so the
 * containers keep the listing's order whoever read them.
 */
struct records {
	int dfd;
	char (*names)[CTNET_NAME_MAX + 1];
	struct item **slot;
	size_t n, cap;
	size_t next;  /* the next name to take (atomic) */
	bool listed;  /* names and slots are complete (atomic): others may take */
	bool oom;     /* (atomic) */
	struct arena a, helper; /* this thread's items, the helper's */
	struct item **v;        /* the items, in order */
	size_t n_items;
};

static int list_one(int dfd, const char *name, void *data)
{
	struct records *w = data;
	(void)dfd;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		char(*names)[CTNET_NAME_MAX + 1] = realloc(w->names, cap * sizeof(*names));
		if (!names)
			return -ENOMEM;
		w->names = names;
		w->cap = cap;
	}
	snprintf(w->names[w->n++], sizeof(w->names[0]), "%s", name);
	return 0;
}

static void records_take(struct records *w, struct arena *a)
{
	struct ct_record *r = malloc(sizeof(*r));
	size_t i;

	if (!r) {
		__atomic_store_n(&w->oom, true, __ATOMIC_RELAXED);
		return;
	}
	while ((i = __atomic_fetch_add(&w->next, 1, __ATOMIC_RELAXED)) < w->n) {
		struct ctnet_err e;
		if (record_read_listed(w->dfd, w->names[i], r, &e) < 0)
			continue; /* removed meanwhile, or unreadable: status reports those */
		if (item_make(a, r, &w->slot[i]) < 0)
			__atomic_store_n(&w->oom, true, __ATOMIC_RELAXED);
	}
	free(r);
}

/* The host reader's share, once its own reads are done. */
static void records_help(struct records *w)
{
	if (w && __atomic_load_n(&w->listed, __ATOMIC_ACQUIRE))
		records_take(w, &w->helper);
}

/* NAME's record, or the names of them all (records_take reads them). */
static int records_list(const char *name, struct records *w, struct ctnet_err *err)
{
	int r;
	if (name) {
		struct ct_record *rec = malloc(sizeof(*rec));
		if (!rec || !(w->v = calloc(1, sizeof(*w->v)))) {
			free(rec);
			return ctnet_errf(err, ENOMEM, "doctor: out of memory");
		}
		if ((r = record_read(name, rec, err)) == 0 && (r = item_make(&w->a, rec, &w->v[0])) < 0)
			r = ctnet_errf(err, ENOMEM, "doctor: out of memory");
		w->n_items = w->v[0] ? 1 : 0;
		free(rec);
		return r;
	}
	w->dfd = record_dir(false, err);
	if (w->dfd == -ENOENT) {
		ctnet_err_clear(err);
		return 0;
	}
	if (w->dfd < 0)
		return w->dfd;
	r = ctnet_dir_foreach_file(w->dfd, "records", list_one, w, err);
	if (r < 0)
		return r == -ENOMEM ? ctnet_errf(err, ENOMEM, "doctor: out of memory") : r;
	if (!(w->slot = calloc(w->n ? w->n : 1, sizeof(*w->slot))) ||
	    !(w->v = calloc(w->n ? w->n : 1, sizeof(*w->v))))
		return ctnet_errf(err, ENOMEM, "doctor: out of memory");
	ctnet_err_clear(err);
	return 0;
}

static void records_free(struct records *w)
{
	if (w->dfd >= 0)
		close(w->dfd);
	free(w->names);
	free(w->slot);
	free(w->v);
	arena_free(&w->a);
	arena_free(&w->helper);
}

/* What needs no record (the host's addresses and routes, its ruleset, sysctls, sockets),
 * read in a thread of its own while the records are listed and read. */
struct host_read {
	struct netd_host_view *hv;
	struct nat_doctor_view *nv;
	struct nat_counters *cn; /* ctnet's own table, to look each container's elements up */
	int hr, nr;
	struct ctnet_err he, ne;
	struct records *w; /* helped with once the reads are done */
};

static void *host_read_run(void *arg)
{
	struct host_read *h = arg;
	struct ctnet_kern kern; /* this thread's own */

	ctnet_kern_init(&kern);
	/* IPv6 only when a record asks for it (then read again): IPv4-only hosts are the rule. */
	h->hr = netd_host_view_open(&kern, &h->hv, false, &h->he);
	h->nr = nat_doctor_read(&kern, &h->nv, &h->ne);
	if (nat_counters_read(&kern, &h->cn, &h->ne) < 0)
		h->cn = NULL;
	ctnet_kern_close(&kern);
	records_help(h->w);
	return NULL;
}

/* The containers as netd's and nat's doctors take them (nt: the NAT'd ones, *n_nat of
 * them); whether any has IPv6. */
static bool doctor_items(const struct records *w, bool inside, struct netd_doctor_ct *nd, struct nat_doctor_ct *nt,
			 size_t *n_nat)
{
	bool v6 = false;

	for (size_t i = 0; i < w->n_items; i++) {
		struct item *it = w->v[i];
		nd[i] = (struct netd_doctor_ct){
			.name = it->name, .host_ifname = it->host_ifname, .bridge = it->bridge, .mtu = it->mtu,
			.host = it->host, .local = it->local, .has_v6 = it->has_v6,
			.host6 = it->host6, .local6 = it->local6, .inside = inside,
			/* ctnet's table clamps TCP MSS for its interfaces (forward chain) */
			.mss_clamped = !it->no_nat,
			.netns = it->netns, .ifname = it->ifname, .pid = it->pid,
		};
		v6 |= it->has_v6;
		if (!it->no_nat)
			nt[(*n_nat)++] = (struct nat_doctor_ct){ .c = &it->nc,
								 .l3iface = it->bridge[0] ? it->bridge : it->host_ifname };
	}
	return v6;
}

/* Each container's elements in ctnet's (whole) table, judged as status and up judge them. */
static void elements_missing(const struct nat_counters *cn, const struct nat_doctor_ct *nt, size_t n_nat,
			     struct ctnet_findings *out)
{
	for (size_t i = 0; i < n_nat; i++) {
		int missing = nat_counters_missing(cn, nt[i].c);
		if (missing > 0)
			ctnet_finding_add(out, CTNET_SEV_BLOCKS, "nat-elements-missing", nt[i].c->name, "inet ctnet",
					  "ctnet up NAME (with its settings), or ctnet-nat restore",
					  "%d of its elements (masquerade, anti-spoofing, forwards) are missing from "
					  "ctnet's table: its outbound traffic or forwards fail", missing);
	}
}

int doctor_run(struct ctnet_kern *kern, const char *name, bool inside, struct ctnet_findings *out, size_t *n_checked,
	       struct ctnet_err *err)
{
	struct records w = { .dfd = -1 };
	struct host_read h = { .hr = -EAGAIN, .nr = -EAGAIN, .w = name ? NULL : &w };
	struct netd_uplink up;
	struct netd_doctor_ct *nd = NULL;
	struct nat_doctor_ct *nt = NULL;
	size_t n_nat = 0;
	bool v6 = false;
	pthread_t tid;
	bool threaded = pthread_create(&tid, NULL, host_read_run, &h) == 0;
	int r = records_list(name, &w, err);

	if (r >= 0 && !name) {
		__atomic_store_n(&w.listed, true, __ATOMIC_RELEASE);
		records_take(&w, &w.a);
	}
	if (threaded)
		pthread_join(tid, NULL);
	else
		host_read_run(&h);
	if (r < 0)
		goto out;
	if (w.oom) {
		r = ctnet_errf(err, ENOMEM, "doctor: out of memory");
		goto out;
	}
	for (size_t i = 0; !name && i < w.n; i++)
		if (w.slot[i])
			w.v[w.n_items++] = w.slot[i];
	nd = calloc(w.n_items ? w.n_items : 1, sizeof(*nd));
	nt = calloc(w.n_items ? w.n_items : 1, sizeof(*nt));
	if (!nd || !nt) {
		r = ctnet_errf(err, ENOMEM, "doctor: out of memory");
		goto out;
	}
	v6 = doctor_items(&w, inside, nd, nt, &n_nat);
	if (h.hr >= 0 && v6) {
		netd_host_view_close(h.hv);
		h.hv = NULL;
		h.hr = netd_host_view_open(kern, &h.hv, true, &h.he);
	}
	if (h.hr < 0) {
		*err = h.he;
		r = h.hr;
		goto out;
	}
	if (h.nr < 0) {
		*err = h.ne;
		r = h.nr;
		goto out;
	}
	/* Each container's route_localnet (a file each) while the links and packets are checked. */
	nat_doctor_localnet_start(h.nv, nt, n_nat);
	if ((r = netd_doctor_view(h.hv, nd, w.n_items, &up, out, err)) < 0)
		goto out;
	r = nat_doctor_check(h.nv, nt, n_nat, up.found ? up.ifname : NULL, out, err);
	/* Its elements in ctnet's table, judged as status and up judge them (a missing table
	 * or chain is nat_doctor_check's finding). */
	if (r >= 0 && h.cn && nat_counters_whole(h.cn))
		elements_missing(h.cn, nt, n_nat, out);
	*n_checked = w.n_items;
out:
	nat_counters_free(h.cn);
	nat_doctor_view_free(h.nv); /* waits for the route_localnet reads */
	netd_host_view_close(h.hv);
	free(nd);
	free(nt);
	records_free(&w);
	return r;
}

int doctor_quick(struct ctnet_kern *kern, const char *host_ifname, struct ctnet_findings *out, struct ctnet_err *err)
{
	return nat_doctor_quick(kern, host_ifname, out, err);
}

void doctor_warn(struct ctnet_kern *kern, const char *host_ifname)
{
	struct ctnet_findings f = { 0 };
	struct ctnet_err e;
	const char *off = getenv("CTNET_NO_WARN");
	if (off && *off && strcmp(off, "0"))
		return; /* asked for quiet (and how bench/doctor.sh measures what the check costs) */
	if (doctor_quick(kern, host_ifname, &f, &e) == 0) {
		for (size_t i = 0; i < f.n; i++)
			if (f.v[i].sev == CTNET_SEV_BLOCKS) {
				fprintf(stderr, "ctnet: warning: %s; run `ctnet doctor` for the fix\n",
					f.v[i].evidence);
				break;
			}
	}
	ctnet_findings_free(&f);
}

/* A finding: three lines for people, an object in JSON. */
static void finding_out(struct out *o, const struct ctnet_finding *x)
{
	out_open_object(o, NULL);
	out_str(o, PRINT_ANY, "severity", "%-8s  ", ctnet_severity_name(x->sev));
	out_str(o, PRINT_ANY, "code", "%s  ", x->code);
	out_json_slot(o, "container"); /* JSON: before the object; text: after it */
	out_str(o, PRINT_ANY, "object", "%s", x->object);
	if (x->container[0])
		out_str(o, PRINT_ANY, "container", "  container %s", x->container);
	out_text(o, "\n");
	out_str(o, PRINT_ANY, "evidence", "          %s\n", x->evidence);
	if (x->fix[0])
		out_str(o, PRINT_ANY, "fix", "          fix: %s\n", x->fix);
	out_close_object(o);
}

/* The one printer of findings: each, then the counts (JSON: the counts first). The exit
 * code of a failure to print, or rc. */
static int print_findings(const struct ctnet_findings *f, size_t n_checked, bool json, int rc)
{
	size_t count[3] = { 0 };
	struct out o;

	for (size_t i = 0; i < f->n; i++)
		count[f->v[i].sev]++;
	out_init(&o, stdout, json ? OUT_JSON : OUT_TEXT);
	out_open_object(&o, NULL);
	out_json_slot(&o, "containers");
	out_json_slot(&o, "blocks");
	out_json_slot(&o, "degrades");
	out_json_slot(&o, "notes");
	out_open_array(&o, "findings");
	for (size_t i = 0; i < f->n; i++)
		finding_out(&o, &f->v[i]);
	out_close_array(&o);
	out_uint(&o, PRINT_ANY, "containers", "%llu container", n_checked);
	out_text(&o, "%s checked: ", n_checked == 1 ? "" : "s");
	out_uint(&o, PRINT_ANY, "blocks", "%llu blocking, ", count[CTNET_SEV_BLOCKS]);
	out_uint(&o, PRINT_ANY, "degrades", "%llu degrading, ", count[CTNET_SEV_DEGRADES]);
	out_uint(&o, PRINT_ANY, "notes", "%llu note", count[CTNET_SEV_NOTE]);
	out_text(&o, "%s\n", count[CTNET_SEV_NOTE] == 1 ? "" : "s");
	out_close_object(&o);
	return ctnet_cli_out_end(&o, rc);
}

int cmd_doctor(struct ctnet_kern *kern, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "inside", no_argument, NULL, 'i' },
		{ "host-only", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctnet_findings f = { 0 };
	struct ctnet_err err;
	bool json = false, inside = true;
	size_t n = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			printf("Usage: ctnet doctor [NAME] [--json] [--host-only]\n"
			       "Check the host path of every container (or NAME): other tables' drop\n"
			       "policies and rules, foreign DNAT of forwarded ports, sysctls, host links,\n"
			       "addresses and routes, clashing addresses and routes, external interfaces,\n"
			       "MTU, conntrack fill, host processes on forwarded ports, ctnet's NAT elements,\n"
			       "and inside each container its link, address and routes (--host-only: the\n"
			       "inside judged by the host link's carrier, without entering). Each finding has\n"
			       "a severity (blocks, degrades, note), the object, the evidence and the fix.\n"
			       "Exit 0 when nothing blocks, 1 when something does (or on error).\n");
			return 0;
		}
		if (opt == 'j')
			json = true;
		else if (opt == 'i')
			inside = true; /* the default; kept for scripts */
		else if (opt == 'H')
			inside = false;
		else
			return ctnet_cli_usage("doctor: bad option");
	}
	if (argc - optind > 1)
		return ctnet_cli_usage("doctor: at most one NAME");
	const char *name = optind < argc ? argv[optind] : NULL;
	if (name && ctnet_name_check(name, &err) < 0)
		return ctnet_cli_fail(&err);
	if (doctor_run(kern, name, inside || name, &f, &n, &err) < 0) {
		ctnet_findings_free(&f);
		return ctnet_cli_fail(&err);
	}
	if (ctnet_findings_sort(&f) < 0) {
		ctnet_findings_free(&f);
		ctnet_errf(&err, ENOMEM, "doctor: out of memory");
		return ctnet_cli_fail(&err);
	}
	int rc = print_findings(&f, n, json, ctnet_findings_blocking(&f) ? CTNET_EXIT_FAIL : CTNET_EXIT_OK);
	ctnet_findings_free(&f);
	return rc;
}
